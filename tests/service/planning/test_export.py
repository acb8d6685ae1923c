"""The planner's files (XLSX, CSV for Excel in Indonesian) read back; errors by field and code;
answers kept per worker and the page's first map computed at start-up."""

from __future__ import annotations

import csv
import io
import re
import time
from pathlib import Path
from typing import Any

import pytest
import yaml as pyyaml
from hypothesis import given, settings
from hypothesis import strategies as st
from openpyxl import load_workbook
from shapely.geometry import Polygon

from routing.conditions import RoadCondition
from service.planning.cache import answer_key
from service.planning.export import COLUMNS, SIDES, TABLES, column, header, table_csv, tables_xlsx
from service.planning.schemas import MapIn, SimulateIn

I18N = Path(__file__).parents[3] / "service" / "web" / "static" / "i18n.js"
SNAKE = re.compile(r"^[a-z0-9]+(_[a-z0-9]+)+$")
SEGARAU = {"name": "Segarau", "changes": [{"move_origin": {"origin": "PKM-SEGARAU", "region": "regional-2"}}]}

Client = tuple[Any, dict[str, str], dict[str, str]]


@pytest.fixture(scope="module")
def compared(api_client: Client) -> dict[str, Any]:
    client, planner, _ = api_client
    r = client.post(
        "/api/plan/compare", json={"referrals": 1500, "seed": 2, "scenario": SEGARAU}, headers=planner
    )
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def optimised(api_client: Client) -> dict[str, Any]:
    client, planner, _ = api_client
    r = client.post("/api/plan/optimise", json={"referrals": 2000, "time_limit_s": 5}, headers=planner)
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


def _export(client: Any, headers: dict[str, str], **body: Any) -> Any:
    return client.post("/api/plan/export", json=body, headers=headers)


def test_every_column_the_planner_api_gives_has_words(
    compared: dict[str, Any], optimised: dict[str, Any]
) -> None:
    tables = {**compared["tables"], "changes": compared["changes"]["by_puskesmas"], **optimised["tables"]}
    for name, rows in tables.items():
        assert name in TABLES
        assert rows, name
        for key in rows[0]:
            assert column(key) is not None, f"{name}.{key} has no header in words"
            for lang in ("id", "en"):
                assert not SNAKE.match(header(key, lang)), header(key, lang)


def test_xlsx_reads_back_with_words_numbers_and_percentages(
    api_client: Client, compared: dict[str, Any], optimised: dict[str, Any]
) -> None:
    client, planner, _ = api_client
    tables = {
        **compared["tables"],
        "changes": compared["changes"]["by_puskesmas"],
        "assignment": optimised["tables"]["assignment"],
    }
    r = _export(client, planner, tables=tables, format="xlsx", lang="id")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/vnd.openxmlformats-officedocument.spreadsheetml")
    assert 'filename="rujuk-perencanaan.xlsx"' in r.headers["content-disposition"]
    wb = load_workbook(io.BytesIO(r.content))
    assert wb.sheetnames == [TABLES[n][0] for n in tables]
    hosp = wb["Per rumah sakit"]
    head = [c.value for c in hosp[1]]
    assert head[:2] == ["Kode rumah sakit", "Nama"]  # the id kept, the name next to it
    assert "Rujukan (selisih)" in head and "Beban terhadap kapasitas (sekarang)" in head
    rows = compared["tables"]["by_hospital"]
    assert hosp.max_row == len(rows) + 1
    load_col = head.index("Beban terhadap kapasitas (sekarang)") + 1
    diff_col = head.index("Rujukan (selisih)") + 1
    for i, row in enumerate(rows, start=2):
        assert hosp.cell(i, 1).value == row["hospital_id"]
        assert hosp.cell(i, 2).value == row["name"]
        assert hosp.cell(i, diff_col).value == row["referrals_diff"]
        share = hosp.cell(i, load_col)
        assert share.value == pytest.approx(row["load_vs_capacity_base"])  # a number, shown as a percentage
        assert share.number_format == "0.00%"
    overall = wb["Keseluruhan"]
    head = [c.value for c in overall[1]]
    mean = overall.cell(2, head.index("Rata-rata waktu tempuh (menit) (selisih)") + 1)
    assert mean.value == compared["tables"]["overall"][0]["mean_min_diff"] and mean.number_format == "0.00"
    moved = wb["Wilayah per Puskesmas"]
    head = [c.value for c in moved[1]]
    assert {"Kode Puskesmas", "Nama", "RS rujukan sekarang", "RS hasil optimasi", "Berpindah"} <= set(head)
    assert {moved.cell(i, head.index("Berpindah") + 1).value for i in range(2, moved.max_row + 1)} <= {
        "ya",
        "tidak",
    }
    for ws in wb.worksheets:
        assert not [c.value for c in ws[1] if SNAKE.match(str(c.value))], ws.title
    # in English: the same numbers, English words
    r = _export(client, planner, tables={"by_hospital": rows}, format="xlsx", lang="en")
    ws = load_workbook(io.BytesIO(r.content))["By hospital"]
    assert [c.value for c in ws[1]][:2] == ["Hospital code", "Name"]


def test_csv_opens_in_excel_set_to_indonesian(api_client: Client, compared: dict[str, Any]) -> None:
    client, planner, _ = api_client
    rows = compared["tables"]["by_hospital"]
    r = _export(client, planner, tables={"by_hospital": rows}, format="csv", lang="id")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/csv")
    assert 'filename="rujuk-by_hospital.csv"' in r.headers["content-disposition"]
    assert r.content.startswith(b"\xef\xbb\xbf")  # a BOM: Excel reads UTF-8 ("Sa'adah", accents)
    text = r.content.decode("utf-8-sig")
    assert csv.Sniffer().sniff(text.splitlines()[0] + "\n" + text.splitlines()[1]).delimiter == ";"
    got = list(csv.DictReader(io.StringIO(text), delimiter=";"))
    assert len(got) == len(rows)
    load_h = "Beban terhadap kapasitas (%) (sekarang)"
    mean_h = "Rata-rata waktu tempuh (menit) (sekarang)"
    assert {"Kode rumah sakit", "Nama", load_h, mean_h, "Rujukan (selisih)"} <= set(got[0])
    for row, line in zip(rows, got, strict=True):
        assert line["Kode rumah sakit"] == row["hospital_id"] and line["Nama"] == row["name"]
        assert "." not in line[load_h] and "." not in line[mean_h]  # decimal comma, no point
        assert float(line[load_h].replace(",", ".")) == pytest.approx(
            100 * row["load_vs_capacity_base"], abs=0.006
        )
        if row["mean_min_base"] is None:
            assert line[mean_h] == ""
        else:
            assert float(line[mean_h].replace(",", ".")) == pytest.approx(row["mean_min_base"], abs=0.006)
        assert int(line["Rujukan (selisih)"]) == row["referrals_diff"]
    # English: comma-separated, decimal point
    r = _export(client, planner, tables={"by_hospital": rows}, format="csv", lang="en")
    got = list(csv.DictReader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert float(got[0]["Load against capacity (%) (today)"]) == pytest.approx(
        100 * rows[0]["load_vs_capacity_base"], abs=0.006
    )


def test_export_refuses_what_it_cannot_write(api_client: Client, compared: dict[str, Any]) -> None:
    client, planner, referrer = api_client
    rows = compared["tables"]["by_hospital"]
    cases = [
        ({"tables": {"nope": rows}}, "tables.nope", "unknown_table"),
        ({"tables": {"by_hospital": [{**rows[0], "secret_column": 1}]}}, "tables.by_hospital[0].secret_column", "unknown_column"),
        ({"tables": {"by_hospital": rows, "overall": compared["tables"]["overall"]}, "format": "csv"}, "tables", "one_table"),
    ]  # fmt: skip
    for body, field, code in cases:
        r = _export(client, planner, **body)
        assert r.status_code == 422, r.text
        assert r.json()["errors"][0] == {
            "field": field,
            "message": r.json()["errors"][0]["message"],
            "code": code,
        }
    assert _export(client, planner, tables={"by_hospital": rows}, format="pdf").status_code == 422
    assert _export(client, referrer, tables={"by_hospital": rows}).status_code == 403


def test_headers_of_the_page_and_of_the_files_say_the_same() -> None:
    """The page's col.* / table.* texts (i18n.js) and the files' (export.COLUMNS) agree."""
    js = I18N.read_text(encoding="utf-8")
    text = {k: (i, e) for k, i, e in re.findall(r'"([a-z_.0-9]+)": \{ id: "([^"]*)", en: "([^"]*)" \}', js)}
    for key, col in COLUMNS.items():
        assert text.get(f"col.{key}") == (col.id, col.en), key
    for side, words in SIDES.items():
        assert text.get(f"col.side.{side}") == words, side
    for name, words in TABLES.items():
        assert text.get(f"table.{name}") == words, name


@pytest.mark.parametrize(
    ("yaml", "problems"),
    [
        ("name: x\nchanges:\n  - close_facility: {facility: RS-X}\n  - move_origin: {origin: PKM-SEGARAU, region: regional-9}\n",
         [("yaml.changes[0].close_facility.facility", "unknown_facility"),
          ("yaml.changes[1].move_origin.region", "unknown_region")]),
        ("name: x\nchanges:\n  - teleport: {}\n", [("yaml.changes[0].teleport", "extra_forbidden")]),
        ("name: x\nchanges:\n  - add_services: {facility: '6101137', services: [astrology]}\n",
         [("yaml.changes[0].add_services.services[0]", "enum")]),
        ("name: x\nchanges:\n  - slow_road: {polygon: [[109, 1], [109.1, 1], [109.2, 1.1]], factor: 0.5}\n",
         [("yaml.changes[0].slow_road.factor", "slowdown_factor")]),
        ("changes: []\n", [("yaml.name", "missing")]),
        ("name: x\nchanges: [\n", [("yaml", "yaml_syntax")]),
    ],
)  # fmt: skip
def test_every_scenario_problem_by_field_and_code(
    api_client: Client, yaml: str, problems: list[tuple[str, str]]
) -> None:
    client, planner, _ = api_client
    r = client.post("/api/plan/scenario", json={"yaml": yaml}, headers=planner)
    assert r.status_code == 422, r.text
    assert [(e["field"], e["code"]) for e in r.json()["errors"]] == problems
    # the same scenario given as JSON to compare: the same codes, under "scenario"
    if problems[0][1] in ("unknown_facility", "slowdown_factor"):
        body = {"referrals": 100, "scenario": pyyaml.safe_load(yaml)}
        r = client.post("/api/plan/compare", json=body, headers=planner)
        assert r.status_code == 422
        assert [(e["field"], e["code"]) for e in r.json()["errors"]] == [
            (f.replace("yaml.", "scenario.", 1), c) for f, c in problems
        ]


def test_answers_are_kept_and_the_first_map_is_ready_at_start_up(api_client: Client) -> None:
    client, planner, _ = api_client
    rt = client.app.state.runtime
    first = answer_key(rt, "map", MapIn().model_dump(mode="json"))
    today = answer_key(rt, "simulate", SimulateIn(referrals=5000, seed=1).model_dump(mode="json"))
    deadline = time.monotonic() + 60
    while not {first, today} <= set(rt.plan_cache):  # computed in the background at start-up
        assert time.monotonic() < deadline, "the page's first view was not computed at start-up"
        time.sleep(0.2)
    kept = len(rt.plan_cache)
    r = client.post("/api/plan/map", json={"referrals": 5000, "seed": 1, "scenario": None}, headers=planner)
    assert r.status_code == 200 and r.json() == rt.plan_cache[first]
    r = client.post(
        "/api/plan/simulate", json={"referrals": 5000, "seed": 1, "scenario": None}, headers=planner
    )
    assert r.status_code == 200 and r.json() == rt.plan_cache[today]
    assert len(rt.plan_cache) == kept  # answered from memory
    body = {"referrals": 300, "seed": 5}
    a = client.post("/api/plan/simulate", json=body, headers=planner).json()
    assert len(rt.plan_cache) == kept + 1
    assert client.post("/api/plan/simulate", json=body, headers=planner).json() == a
    assert len(rt.plan_cache) == kept + 1
    # another question, another answer; the roads changing (the engine's version) too
    assert answer_key(rt, "simulate", {**body, "seed": 6}) != answer_key(rt, "simulate", body)
    before = answer_key(rt, "map", MapIn().model_dump(mode="json"))
    bridge = Polygon([(109.10, 1.20), (109.12, 1.20), (109.12, 1.22)])
    rt.matcher.engine.apply_condition(
        RoadCondition.closure("cache-test", polygon=bridge, reason="bridge out")
    )
    try:
        assert answer_key(rt, "map", MapIn().model_dump(mode="json")) != before
    finally:
        rt.matcher.engine.remove_condition("cache-test")
    assert answer_key(rt, "map", MapIn().model_dump(mode="json")) == before


_names = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")) | st.sampled_from(";\",\n'"),
                 min_size=1, max_size=30) | st.sampled_from(['=HYPERLINK("http://x")', "+1", "-2", "@SUM(A1)"])  # fmt: skip
_ORDER = ("hospital_id", "name", "referrals_diff", "mean_min_base", "load_vs_capacity_base", "moved")
_rows = st.lists(
    st.fixed_dictionaries({
        "hospital_id": st.from_regex(r"[A-Z0-9][A-Z0-9._-]{0,11}", fullmatch=True),  # as NewFacility.id
        "name": _names,
        "referrals_diff": st.integers(-10**6, 10**6),
        "mean_min_base": st.none() | st.floats(-1e4, 1e4, allow_nan=False),
        "load_vs_capacity_base": st.none() | st.floats(0, 50, allow_nan=False),
        "moved": st.booleans(),
    }),
    min_size=1, max_size=20,
).map(lambda rows: [{k: r[k] for k in _ORDER} for r in rows])  # a table's rows share their columns' order  # fmt: skip


@settings(max_examples=60, deadline=None)
@given(rows=_rows)
def test_any_table_reads_back_from_the_indonesian_csv_and_the_xlsx(rows: list[dict[str, Any]]) -> None:
    got = list(csv.DictReader(io.StringIO(table_csv(rows, "id").decode("utf-8-sig")), delimiter=";"))
    assert len(got) == len(rows)

    def number(text: str) -> float | None:
        return None if text == "" else float(text.replace(",", "."))

    for row, line in zip(rows, got, strict=True):
        assert line["Kode rumah sakit"] == row["hospital_id"]
        name = row["name"].replace("\r\n", "\n")
        assert line["Nama"] == (
            f"'{name}" if name.startswith(("=", "+", "-", "@")) else name
        )  # never a formula
        assert int(line["Rujukan (selisih)"]) == row["referrals_diff"]
        mean, load = (
            number(line["Rata-rata waktu tempuh (menit) (sekarang)"]),
            number(line["Beban terhadap kapasitas (%) (sekarang)"]),
        )
        assert (mean is None) == (row["mean_min_base"] is None)
        assert mean is None or mean == pytest.approx(row["mean_min_base"], abs=0.0051)
        assert (load is None) == (row["load_vs_capacity_base"] is None)
        assert load is None or load == pytest.approx(100 * row["load_vs_capacity_base"], abs=0.0051)
        assert line["Berpindah"] == ("ya" if row["moved"] else "tidak")
    ws = load_workbook(io.BytesIO(tables_xlsx({"by_hospital": rows}, "id")))["Per rumah sakit"]
    for i, row in enumerate(rows, start=2):
        values = [c.value for c in ws[i]]
        assert values[:3] == [row["hospital_id"], row["name"], row["referrals_diff"]]
        assert ws.cell(i, 2).data_type == "s"  # a name is text, even "=HYPERLINK(...)"
        for got, want in zip(values[3:5], (row["mean_min_base"], row["load_vs_capacity_base"]), strict=True):
            assert got == (None if want is None else pytest.approx(want, rel=1e-12))  # 15 digits kept
        assert values[5] == ("ya" if row["moved"] else "tidak")
