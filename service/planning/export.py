"""The planner's tables as files that open right in a spreadsheet set to Indonesian.

XLSX (openpyxl) by default: numbers stay numbers, shares are percentages by cell format (the
spreadsheet shows "23,2%" in Indonesian, "23.2%" in English), one sheet per table, headers in
words. CSV for whoever needs one: what Excel in Indonesian reads without the import wizard,
``;`` between fields, a decimal comma, a UTF-8 byte-order mark; shares as percentages with
"(%)" in the header. Headers come from ``COLUMNS`` (the page's ``col.*`` texts in
``service/web/static/i18n.js`` say the same; a test holds them together); ids stay in their own
column next to the names.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass
from typing import Literal

Lang = Literal["id", "en"]
Kind = Literal["text", "int", "min", "share", "bool", "num"]


@dataclass(frozen=True, slots=True)
class Column:
    """A column's header in each language and how its values read."""

    id: str
    en: str
    kind: Kind


# fmt: off
COLUMNS: dict[str, Column] = {
    "kecamatan": Column("Kecamatan", "Kecamatan", "text"),
    "origin_id": Column("Kode Puskesmas", "Puskesmas code", "text"),
    "hospital_id": Column("Kode rumah sakit", "Hospital code", "text"),
    "name": Column("Nama", "Name", "text"),
    "demand": Column("Kebutuhan rujukan", "Demand", "int"),
    "referred": Column("Dirujuk", "Referred", "int"),
    "treat_locally": Column("Ditangani setempat", "Treated locally", "int"),
    "no_capable_facility": Column("Tanpa fasilitas mampu", "No capable facility", "int"),
    "mean_min": Column("Rata-rata waktu tempuh (menit)", "Mean travel time (min)", "min"),
    "p50_min": Column("Median waktu tempuh (menit)", "Median travel time (min)", "min"),
    "p90_min": Column("Persentil 90 waktu tempuh (menit)", "90th percentile travel time (min)", "min"),
    "share_over_60_min": Column("Porsi > 60 menit", "Share > 60 min", "share"),
    "share_over_120_min": Column("Porsi > 120 menit", "Share > 120 min", "share"),
    "regionalisation_waived": Column("Regionalisasi dikecualikan", "Regionalisation waived", "int"),
    "leaving_regency": Column("Keluar kabupaten", "Leaving the regency", "int"),
    "overflow": Column("Pindah karena penuh", "Overflow", "int"),
    "no_bed": Column("Tanpa tempat tidur", "No bed", "int"),
    "referrals": Column("Rujukan", "Referrals", "int"),
    "emergencies": Column("Gawat darurat", "Emergencies", "int"),
    "beds": Column("Tempat tidur", "Beds", "int"),
    "yearly_capacity": Column("Kapasitas per tahun", "Yearly capacity", "int"),
    "load_vs_capacity": Column("Beban terhadap kapasitas", "Load against capacity", "share"),
    "today_id": Column("Kode RS rujukan sekarang", "Hospital code today", "text"),
    "today_name": Column("RS rujukan sekarang", "Hospital today", "text"),
    "today_min": Column("Waktu tempuh sekarang (menit)", "Travel time today (min)", "min"),
    "optimised_id": Column("Kode RS hasil optimasi", "Optimised hospital code", "text"),
    "optimised_name": Column("RS hasil optimasi", "Optimised hospital", "text"),
    "optimised_min": Column("Waktu tempuh hasil optimasi (menit)", "Optimised travel time (min)", "min"),
    "moved": Column("Berpindah", "Moves", "bool"),
    "today_load": Column("Rujukan sekarang", "Referrals today", "int"),
    "load": Column("Rujukan hasil optimasi", "Optimised referrals", "int"),
    "capacity": Column("Kapasitas", "Capacity", "int"),
    "today_over_capacity": Column("Sekarang melebihi kapasitas", "Over capacity today", "bool"),
    "origin_name": Column("Puskesmas", "Puskesmas", "text"),
    "from_id": Column("Kode tujuan sekarang", "Destination code today", "text"),
    "from_name": Column("Tujuan sekarang", "Destination today", "text"),
    "to_id": Column("Kode tujuan skenario", "Destination code in the scenario", "text"),
    "to_name": Column("Tujuan skenario", "Destination in the scenario", "text"),
}
SIDES: dict[str, tuple[str, str]] = {
    "base": ("sekarang", "today"), "scenario": ("skenario", "scenario"), "diff": ("selisih", "difference"),
}
TABLES: dict[str, tuple[str, str]] = {
    "overall": ("Keseluruhan", "Overall"),
    "by_kecamatan": ("Per kecamatan", "By kecamatan"),
    "by_puskesmas": ("Per Puskesmas", "By Puskesmas"),
    "by_hospital": ("Per rumah sakit", "By hospital"),
    "assignment": ("Wilayah per Puskesmas", "Region per Puskesmas"),
    "load": ("Beban rumah sakit", "Hospital load"),
    "changes": ("Perubahan tujuan", "Changes of destination"),
}
YES_NO = {"id": ("ya", "tidak"), "en": ("yes", "no")}
# fmt: on


def column(key: str) -> tuple[Column, str | None] | None:
    """The column a key names (``mean_min_diff`` -> mean_min, side ``diff``); None if unknown."""
    if key in COLUMNS:
        return COLUMNS[key], None
    base, _, side = key.rpartition("_")
    if side in SIDES and base in COLUMNS:
        return COLUMNS[base], side
    return None


def header(key: str, lang: Lang, *, csv_percent: bool = False) -> str:
    """A column's header in words (KeyError for an unknown key)."""
    found = column(key)
    if found is None:
        raise KeyError(key)
    col, side = found
    text = col.id if lang == "id" else col.en
    if csv_percent and col.kind == "share":
        text += " (%)"
    if side is not None:
        text += f" ({SIDES[side][0 if lang == 'id' else 1]})"
    return text


Cell = str | int | float | bool | None


#: what a spreadsheet reads as the start of a formula in a text cell (a facility's name from an
#: uploaded scenario could be "=HYPERLINK(...)")
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _inert(text: str) -> str:
    """Text a spreadsheet shows as written: a leading apostrophe where it would start a formula."""
    return f"'{text}" if text.startswith(FORMULA_START) else text


def _csv_value(value: Cell, kind: Kind, lang: Lang) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return ""
    if isinstance(value, bool):
        return YES_NO[lang][0 if value else 1]
    if isinstance(value, str) or kind == "text":
        return _inert(str(value))
    number = 100 * value if kind == "share" else value
    if kind in ("share", "min"):
        text = f"{number:.2f}"
    elif float(number).is_integer():
        text = str(int(number))
    else:
        text = f"{number:.4f}".rstrip("0").rstrip(".")
    return text.replace(".", ",") if lang == "id" else text


def table_csv(rows: list[dict[str, Cell]], lang: Lang = "id") -> bytes:
    """One table as CSV: in Indonesian ``;``, decimal comma and a BOM (Excel's Indonesian
    setting); in English ``,`` and a decimal point (also with a BOM, for the accents)."""  # noqa: D205, D209
    cols = list(rows[0]) if rows else []
    buf = io.StringIO()
    w = csv.writer(buf, delimiter=";" if lang == "id" else ",", lineterminator="\r\n")
    w.writerow([header(c, lang, csv_percent=True) for c in cols])
    kinds = {c: (column(c) or (COLUMNS["name"], None))[0].kind for c in cols}
    for r in rows:
        w.writerow([_csv_value(r.get(c), kinds[c], lang) for c in cols])
    return ("\ufeff" + buf.getvalue()).encode("utf-8")


_FORMATS: dict[Kind, str] = {
    "int": "#,##0",
    "min": "0.00",
    "share": "0.00%",
    "num": "0.####",
    "text": "@",
    "bool": "@",
}


def tables_xlsx(tables: dict[str, list[dict[str, Cell]]], lang: Lang = "id") -> bytes:
    """Every table on a sheet of its own: headers in words, numbers as numbers with their format
    (the spreadsheet shows them in its own language: decimal comma in Indonesian)."""  # noqa: D205, D209
    from openpyxl import Workbook  # noqa: PLC0415
    from openpyxl.styles import Font  # noqa: PLC0415

    wb = Workbook()
    wb.remove(wb.active)
    for name, rows in tables.items():
        title = TABLES.get(name, (name, name))[0 if lang == "id" else 1]
        ws = wb.create_sheet(title[:31])
        cols = list(rows[0]) if rows else []
        ws.append([header(c, lang) for c in cols])
        for cell in ws[1]:
            cell.font = Font(bold=True)
        kinds = [(column(c) or (COLUMNS["name"], None))[0].kind for c in cols]
        for r in rows:
            values: list[Cell] = []
            for c, kind in zip(cols, kinds, strict=True):
                v = r.get(c)
                if isinstance(v, float) and not math.isfinite(v):
                    v = None
                if isinstance(v, bool):
                    v = YES_NO[lang][0] if v else YES_NO[lang][1]
                values.append(v if kind != "text" or v is None else str(v))
            ws.append(values)
            for cell in ws[ws.max_row]:
                if cell.data_type == "f":  # text is never a formula: kept as the string it is
                    cell.data_type = "s"
        for j, kind in enumerate(kinds, start=1):
            for (cell,) in ws.iter_rows(min_row=2, min_col=j, max_col=j):
                cell.number_format = _FORMATS[kind]
            letter = ws.cell(row=1, column=j).column_letter
            ws.column_dimensions[letter].width = min(
                max(12, len(str(ws.cell(row=1, column=j).value)) + 2), 40
            )
        ws.freeze_panes = "A2"
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()
