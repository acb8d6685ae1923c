"""Monthly referral reports (Pasal 23 and the regulation's annex), as JSON, CSV and XLSX.

Puskesmas get tables A.1-A.4, hospitals B.1-B.2, both the five indicators of Pasal 23(2).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import statistics
from collections import Counter
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from sqlalchemy import or_, select, union

from geodata.models import SERVICE_LABELS, CompetencyLevel, Service
from rules import icd
from service.database import Referral, ReferralEvent, ServiceVolume
from service.referrals.lifecycle import Status
from service.referrals.queries import ever_sent_to

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from geodata.dataset import Dataset
    from rules.pack import RulePack

#: Row order of tables A.1 and B.1 (the annex).
ANNEX_SPECIALTIES = (
    Service.ALIH_RAWAT,
    Service.ANAK,
    Service.BEDAH,
    Service.BEDAH_DIGESTIF,
    Service.BEDAH_MULUT,
    Service.BEDAH_SARAF,
    Service.GIGI,
    Service.GIGI_ENDODONTIS,
    Service.HEMODIALISA,
    Service.IGD,
    Service.REHABILITASI_MEDIK,
    Service.JANTUNG,
    Service.JIWA,
    Service.KULIT_KELAMIN,
    Service.MATA,
    Service.OBGYN,
    Service.ONKOLOGI,
    Service.ORTHOPEDI,
    Service.PARU,
    Service.PATOLOGI,
    Service.PENYAKIT_DALAM,
    Service.RADIOLOGI,
    Service.SARAF,
    Service.THT_KL,
    Service.UROLOGI,
)
PAYERS = (("jkn_pbi", "JKN PBI"), ("jkn_non_pbi", "JKN non-PBI"), ("umum", "Umum"))
CLASSES = (CompetencyLevel.DASAR, CompetencyLevel.MADYA, CompetencyLevel.UTAMA, CompetencyLevel.PARIPURNA)
UNSENT = (Status.CREATED.value, Status.CANCELLED.value)
SERVED = (
    Status.ACCEPTED.value,
    Status.DISPATCHED.value,
    Status.IN_TRANSIT.value,
    Status.ARRIVED.value,
    Status.COMPLETED.value,
)


def month_bounds(month: str, timezone: str) -> tuple[dt.datetime, dt.datetime]:
    """The first instant of the month and of the next one, in the jurisdiction's time zone (UTC)."""
    zone = ZoneInfo(timezone)
    y, m = (int(x) for x in month.split("-"))
    start = dt.datetime(y, m, 1, tzinfo=zone)
    end = dt.datetime(y + (m == 12), m % 12 + 1, 1, tzinfo=zone)
    return start.astimezone(dt.UTC), end.astimezone(dt.UTC)


def _share(num: int, den: int | None) -> float | None:
    return round(num / den, 4) if den else None


def _times(rows: list[Referral]) -> dict[str, Any]:
    xs = [r.response_time_s for r in rows if r.response_time_s is not None and not r.offline]
    if not xs:
        return {"n": 0, "median_s": None, "p90_s": None, "max_s": None}
    xs.sort()
    return {
        "n": len(xs),
        "median_s": round(statistics.median(xs), 1),
        "p90_s": round(xs[min(len(xs) - 1, int(0.9 * len(xs)))], 1),
        "max_s": round(xs[-1], 1),
    }


def _top(rows: list[Referral], n: int = 10) -> list[dict[str, Any]]:
    c = Counter(code for r in rows for code in r.icd10[:1])  # the working (first) diagnosis
    out = []
    for code, count in sorted(c.items(), key=lambda kv: (-kv[1], kv[0]))[:n]:
        try:
            name = icd.description(code)
        except ValueError:
            name = ""
        out.append({"icd10": code, "diagnosis": name, "count": count})
    return out


def _month_rows(
    s: Session, facility_id: str, month: str, timezone: str
) -> tuple[list[Referral], list[Referral]]:
    """The referrals a facility sent and received in a month of local time (sent ones and paper entries)."""
    start, end = month_bounds(month, timezone)
    in_month = (Referral.created_at >= start, Referral.created_at < end)
    sent = [
        r
        for r in s.scalars(select(Referral).where(Referral.origin_id == facility_id, *in_month))
        if r.status not in UNSENT or r.offline
    ]
    # received: sent here (now, or a paper referral), or sent here once and moved on since
    # (a union, not an OR: each half read from the facility's index entries, docs/scale.md)
    here = select(Referral.id).where(
        Referral.destination_id == facility_id,
        *in_month,
        or_(Referral.status.notin_(UNSENT), Referral.offline),
    )
    ids = union(here, ever_sent_to(facility_id))
    received = list(s.scalars(select(Referral).where(*in_month, Referral.id.in_(ids))))
    return sent, received


def _declined_by(s: Session, facility_id: str, received: list[Referral]) -> int:
    """How many of the referrals received this facility declined (each counted once)."""
    ids = [r.id for r in received]
    if not ids:
        return 0
    q = select(ReferralEvent.referral_id).where(
        ReferralEvent.destination_id == facility_id,
        ReferralEvent.kind == "decline",
        ReferralEvent.referral_id.in_(ids),
    )
    return len(set(s.scalars(q)))


def _indicators(
    facility_id: str, sent: list[Referral], received: list[Referral], served: int | None, declined: int
) -> dict[str, Any]:
    """The five indicators of Pasal 23(2).

    A referral received is served when this facility took the patient in (a paper referral
    too); one sent here that went elsewhere (declined, or redirected after an escalation)
    counts as received and not served.
    """
    served_received = [r for r in received if r.destination_id == facility_id and r.status in SERVED]
    paper = [r for r in received if r.offline]
    referred_up = [r for r in sent if r.back_referral_of is None]
    back = [r for r in sent if r.back_referral_of is not None]
    return {
        "a_referred_of_served": {
            "referred": len(referred_up),
            "patients_served": served,
            "share": _share(len(referred_up), served),
        },
        "b_served_of_received": {
            "received": len(received),
            "served": len(served_received),
            "share": _share(len(served_received), len(received)),
            "declined": declined,
            "paper": len(paper),
        },
        "c_back_referred_of_served": {
            "back_referred": len(back),
            "served_referrals": len(served_received),
            "share": _share(len(back), len(served_received)),
        },
        "d_top_diagnoses": {"referred": _top(referred_up), "back_referred": _top(back)},
        "e_response_time": {
            "as_sender": _times(referred_up),
            "as_receiver": _times([r for r in received if r.destination_id == facility_id]),
        },
    }


def _by_specialty(ds: Dataset, referred_up: list[Referral]) -> dict[str, Any]:
    """Table A.1 / B.1: referrals per specialty by payer, destination and destination class."""
    receivers = sorted((f for f in ds.facilities if f.receiving), key=lambda f: (f.regency, f.name))
    by_id = {f.id: f for f in ds.facilities}
    header = [
        "no",
        "jenis spesialis rujukan",
        *(lbl for _, lbl in PAYERS),
        *(f.name for f in receivers),
        *(c.value.capitalize() for c in CLASSES),
    ]
    rows: list[list[Any]] = []
    groups: list[tuple[str, Service | None]] = [(SERVICE_LABELS[sv].upper(), sv) for sv in ANNEX_SPECIALTIES]
    groups.append(("LAINNYA / TANPA SPESIALIS", None))
    annex = {x.value for x in ANNEX_SPECIALTIES}
    for i, (label, sv) in enumerate(groups, start=1):
        rs = [r for r in referred_up if (r.specialty == sv.value if sv else r.specialty not in annex)]
        payer = Counter(r.payer for r in rs)
        dest = Counter(r.destination_id for r in rs)
        cls = Counter(getattr(by_id.get(r.destination_id), "competency", None) for r in rs)
        rows.append(
            [
                i,
                label,
                *(payer[p] for p, _ in PAYERS),
                *(dest[f.id] for f in receivers),
                *(cls[c] for c in CLASSES),
            ]
        )
    total = ["", "JUMLAH", *(sum(int(r[k]) for r in rows) for k in range(2, len(header)))]
    return {"header": header, "rows": [*rows, total]}


def _puskesmas_tables(name: str, referred_up: list[Referral]) -> dict[str, Any]:
    """Tables A.2-A.4: specialist and non-specialist diagnoses, TACC."""
    specialist = [r for r in referred_up if not r.non_specialist]
    non_spec = [r for r in referred_up if r.non_specialist]
    with_tacc = [r for r in non_spec if r.tacc.strip()]
    n_ns, n_sp, n_tacc = len(non_spec) - len(with_tacc), len(specialist), len(with_tacc)
    e = n_ns + n_sp + n_tacc
    return {
        "A.2": {"title": "10 diagnosis spesialistik yang paling sering dirujuk", "rows": _top(specialist)},
        "A.3": {
            "title": "Pelaporan rujukan non spesialistik",
            "header": [
                "nama puskesmas",
                "rujukan non spesialistik (b)",
                "rujukan spesialistik (c)",
                "rujukan dengan TACC (d)",
                "kasus dirujuk ke FKTL (e=b+c+d)",
                "% non spesialistik (f=b/e)",
            ],
            "rows": [[name, n_ns, n_sp, n_tacc, e, round(100 * n_ns / e, 1) if e else None]],
        },
        "A.4": {"title": "10 diagnosis non spesialistik yang paling sering dirujuk", "rows": _top(non_spec)},
    }


def monthly_report(
    s: Session, ds: Dataset, facility_id: str, month: str, *, pack: RulePack | None = None
) -> dict[str, Any]:
    """Indicators and annex tables for one facility and month (the month in the dataset's time zone).

    ``pack``: the rule pack the facility reports under (its regency's, else the province's),
    named in the report.
    """
    fac = ds.facility(facility_id)
    sent, received = _month_rows(s, facility_id, month, ds.timezone)
    vol = s.get(ServiceVolume, (facility_id, month))
    referred_up = [r for r in sent if r.back_referral_of is None]
    annex = _by_specialty(ds, referred_up)
    tables: dict[str, Any] = {}
    if fac.is_hospital:
        tables["B.1"] = {"title": "Laporan rujukan rumah sakit", **annex}
        tables["B.2"] = {"title": "10 diagnosis yang paling sering dirujuk", "rows": _top(referred_up)}
    else:
        tables["A.1"] = {"title": "Laporan rujukan Puskesmas", **annex}
        tables.update(_puskesmas_tables(fac.name, referred_up))
    return {
        "facility": {"id": fac.id, "name": fac.name, "kind": fac.kind.value, "regency": fac.regency},
        "month": month,
        "timezone": ds.timezone,
        "indicators": _indicators(
            facility_id,
            sent,
            received,
            vol.patients_served if vol else None,
            _declined_by(s, facility_id, received),
        ),
        "tables": tables,
        "rule_pack": None
        if pack is None
        else {"id": pack.id, "version": pack.version, "title": pack.title, "regency": pack.regency},
    }


def _sheets(rep: dict[str, Any]) -> list[tuple[str, list[list[Any]]]]:
    ind = rep["indicators"]
    head = [
        ["fasilitas", rep["facility"]["name"]],
        ["kode", rep["facility"]["id"]],
        ["bulan", rep["month"]],
        ["zona waktu", rep["timezone"]],
    ]
    ind_rows = [
        ["indikator (Pasal 23 ayat 2)", "pembilang", "penyebut", "proporsi"],
        [
            "a. dirujuk / dilayani",
            ind["a_referred_of_served"]["referred"],
            ind["a_referred_of_served"]["patients_served"],
            ind["a_referred_of_served"]["share"],
        ],
        [
            "b. dilayani / rujukan diterima",
            ind["b_served_of_received"]["served"],
            ind["b_served_of_received"]["received"],
            ind["b_served_of_received"]["share"],
        ],
        ["   rujukan ditolak", ind["b_served_of_received"]["declined"], "", ""],
        ["   rujukan manual/luring (kertas, Pasal 20 ayat 3)", ind["b_served_of_received"]["paper"], "", ""],
        [
            "c. rujuk balik / rujukan dilayani",
            ind["c_back_referred_of_served"]["back_referred"],
            ind["c_back_referred_of_served"]["served_referrals"],
            ind["c_back_referred_of_served"]["share"],
        ],
    ]
    for side in ("as_sender", "as_receiver"):
        t = ind["e_response_time"][side]
        ind_rows.append([f"e. waktu tanggap ({side}) median / p90 detik", t["median_s"], t["p90_s"], t["n"]])
    sheets = [("Indikator", [*head, [], *ind_rows])]
    for name, t in rep["tables"].items():
        if "header" in t:
            rows = [t["header"], *t["rows"]]
        else:
            rows = [["no", "diagnosis", "kode ICD 10", "jumlah"]]
            rows += [[i, d["diagnosis"], d["icd10"], d["count"]] for i, d in enumerate(t["rows"], start=1)]
        sheets.append((name, [[f"{name} {t['title']}"], *rows]))
    return sheets


def report_csv(rep: dict[str, Any]) -> bytes:
    """All sheets one after another in one CSV (UTF-8 with BOM, for spreadsheet programs)."""
    buf = io.StringIO()
    w = csv.writer(buf)
    for name, rows in _sheets(rep):
        w.writerow([f"## {name}"])
        w.writerows(rows)
        w.writerow([])
    return ("\ufeff" + buf.getvalue()).encode("utf-8")


def report_xlsx(rep: dict[str, Any]) -> bytes:
    """One worksheet per table."""
    from openpyxl import Workbook  # noqa: PLC0415

    wb = Workbook()
    wb.remove(wb.active)
    for name, rows in _sheets(rep):
        ws = wb.create_sheet(name.replace("/", "-")[:31])
        for row in rows:
            ws.append(list(row))
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()
