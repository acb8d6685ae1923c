"""The sent and received lists: the patient on each row for those who see it, search over sealed
data, filters by state and local day, paging through the whole history, bad parameters named.

Each test works on its own local day (the clock moved there), so the rows it expects are exactly
the ones it made: the expectation comes from what the test did, never from the service's answer.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest

from service.referrals import lists
from tests.service.conftest import T0, Api, create, letter_body

PEMANGKAT, SAMBAS = "6101033", "6101022"
WIB = dt.timezone(dt.timedelta(hours=7))


def _on_day(api: Api, day: int) -> str:
    """Move the clock to 09:00 WIB of T0's day + ``day`` (forward only); that local date."""
    at = dt.datetime.combine(T0.date() + dt.timedelta(days=day), dt.time(9), tzinfo=WIB)
    assert at >= api.clock.now, "the tests' days go forward"
    api.clock.now = at.astimezone(dt.UTC)
    return at.date().isoformat()


def _make(api: Api, *, name: str, nik: str, mrn: str = "RM-1", icd: str = "O72.1", dx: str = "Perdarahan",
          send: bool = True, tick: bool = True) -> str:  # fmt: skip
    """A referral from Puskesmas Segarau to RSUD Pemangkat (sent unless not ``send``); then the
    clock moves a minute on (unless not ``tick``: the next one is made at the very same time)."""
    base = letter_body(now=api.clock.now)
    body = {**base, "patient": {**base["patient"], "name": name, "nik": nik, "medical_record_number": mrn},
            "medical": {**base["medical"], "icd10": [icd], "diagnosis_text": dx}}  # fmt: skip
    r = create(api, body=body)
    assert r.status_code == 201, r.text
    rid = str(r.json()["id"])
    if send:
        assert api.post(f"/api/referrals/{rid}/send", "segarau").status_code == 200
    if tick:
        api.clock.advance(minutes=1)
    return rid


def _ids(api: Api, user: str, query: str) -> list[str]:
    r = api.get(f"/api/referrals?{query}", user)
    assert r.status_code == 200, r.text
    return [j["id"] for j in r.json()]


def _walk(api: Api, user: str, query: str) -> list[list[dict[str, Any]]]:
    """Every page, following ``Link: <...>; rel="next"`` to the end."""
    url: str | None = f"/api/referrals?{query}"
    pages = []
    while url is not None:
        r = api.get(url, user)
        assert r.status_code == 200, r.text
        pages.append(r.json())
        link = re.fullmatch(r'<([^>]+)>; rel="next"', r.headers.get("link", ""))
        url = link.group(1) if link else None
        assert len(pages) < 50, "paging does not end"
    return pages


def test_rows_carry_the_patient_only_for_those_who_see_it(api: Api) -> None:
    day = _on_day(api, 1)
    rid = _make(api, name="Rina Lestari", nik="6101014107980011")
    day_q = f"since={day}&until={day}"
    for user, box in (("segarau", "outbox"), ("pemangkat", "inbox")):
        [row] = [j for j in api.get(f"/api/referrals?box={box}&{day_q}", user).json() if j["id"] == rid]
        assert row["patient"]["name"] == "Rina Lestari"
        assert row["patient"]["sex"] == "female"
        assert row["patient"]["age_years"] == 28  # born 1 July 1998
        assert row["medical"]["diagnosis_text"] == "Perdarahan"
    # declined and sent elsewhere: the first hospital keeps a trace without the patient
    assert (
        api.post(f"/api/referrals/{rid}/decline", "pemangkat", json={"reason": "ICU penuh"}).status_code
        == 200
    )
    redirect = api.post(f"/api/referrals/{rid}/redirect", "segarau", json={"destination_id": SAMBAS})
    assert redirect.status_code == 200, redirect.text
    [trace] = [j for j in api.get(f"/api/referrals?box=inbox&{day_q}", "pemangkat").json() if j["id"] == rid]
    assert "patient" not in trace
    assert trace["destination_id"] == SAMBAS
    [now_there] = [j for j in api.get(f"/api/referrals?box=inbox&{day_q}", "sambas").json() if j["id"] == rid]
    assert now_there["patient"]["name"] == "Rina Lestari"
    # nobody else lists it
    assert rid not in _ids(api, "tebas", f"box=outbox&{day_q}")
    assert rid not in _ids(api, "tebas", f"box=inbox&{day_q}")
    assert rid not in _ids(api, "telukkeramat", f"box=inbox&{day_q}")


def test_search_by_name_record_number_nik_and_diagnosis(api: Api) -> None:
    day = _on_day(api, 2)
    siti = _make(
        api, name="Siti Nur'aini", nik="6101014107980021", mrn="RM-0042", icd="O72.1", dx="HPP atonia"
    )
    dewi = _make(
        api, name="Dewi Sartika", nik="6101014107980022", mrn="RM-0077", icd="O14.1", dx="Preeklampsia berat"
    )
    budi = _make(api, name="Budi Santoso", nik="6101014107980023", mrn="RM-0099", icd="J18.9", dx="Pneumonia")
    day_q = f"since={day}&until={day}"
    cases = {
        "siti": [siti], "SITI nur": [siti], "aini": [siti], "Nur'aini": [siti], "sa": [dewi, budi],
        "rm-0077": [dewi], "0099": [budi], "6101014107980022": [dewi], "O72": [siti], "o14.1": [dewi],
        "HPP": [siti], "PEB": [dewi], "pneumonia": [budi], "preeklampsia": [dewi], "dewi o14": [dewi],
        "dewi pneumonia": [], "zaenal": [], "6101014107980029": [],
    }  # fmt: skip
    for q, want in cases.items():
        for user, box in (("segarau", "outbox"), ("pemangkat", "inbox")):
            got = _ids(api, user, f"box={box}&{day_q}&q={q}")
            assert got == want[::-1], (q, user)  # newest first
    # another facility finds none of them, by name or by diagnosis
    for q in ("siti", "O72", "6101014107980021"):
        assert _ids(api, "tebas", f"box=outbox&{day_q}&q={q}") == []
        assert _ids(api, "sambas", f"box=inbox&{day_q}&q={q}") == []


def test_a_trace_is_found_by_its_diagnosis_never_by_its_patient(api: Api) -> None:
    day = _on_day(api, 3)
    rid = _make(api, name="Wati Kurnia", nik="6101014107980031", mrn="RM-3131", icd="O14.1", dx="PEB")
    api.post(f"/api/referrals/{rid}/decline", "pemangkat", json={"reason": "Dokter Obgyn tidak ada"})
    api.post(f"/api/referrals/{rid}/redirect", "segarau", json={"destination_id": SAMBAS})
    day_q = f"box=inbox&since={day}&until={day}"
    assert _ids(api, "pemangkat", f"{day_q}&q=PEB") == [rid]  # the clinical part stays theirs
    for q in ("wati", "RM-3131", "6101014107980031", "wati PEB"):
        assert _ids(api, "pemangkat", f"{day_q}&q={q}") == [], q  # the patient is not
        assert _ids(api, "sambas", f"{day_q}&q={q}") == [rid], q
    assert _ids(api, "pemangkat", f"{day_q}&nik=6101014107980031") == []


def test_filters_by_state_and_local_day(api: Api) -> None:
    first = _on_day(api, 5)
    sent = _make(api, name="Ani", nik="6101014107980041")
    draft = _make(api, name="Ina", nik="6101014107980042", send=False)
    # 23:30 WIB on the next day is still that day locally (16:30 UTC)
    late_at = dt.datetime.combine(T0.date() + dt.timedelta(days=6), dt.time(23, 30), tzinfo=WIB)
    api.clock.now = late_at.astimezone(dt.UTC)  # the service's clock is UTC
    late = _make(api, name="Uni", nik="6101014107980043")
    api.post(f"/api/referrals/{late}/accept", "pemangkat")
    second = (T0.date() + dt.timedelta(days=6)).isoformat()
    both = f"since={first}&until={second}"
    assert _ids(api, "segarau", both) == [late, draft, sent]
    assert _ids(api, "segarau", f"since={second}&until={second}") == [late]
    assert _ids(api, "segarau", f"since={first}&until={first}") == [draft, sent]
    assert _ids(api, "segarau", f"since={second}") == [late]
    assert set(_ids(api, "segarau", f"until={first}&limit=200")) >= {draft, sent}
    assert late not in _ids(api, "segarau", f"until={first}&limit=200")
    assert _ids(api, "segarau", f"{both}&status=created") == [draft]
    assert _ids(api, "segarau", f"{both}&status=accepted") == [late]
    assert _ids(api, "segarau", f"{both}&status=sent") == [sent]
    assert _ids(api, "pemangkat", f"box=inbox&{both}") == [late, sent]  # never the draft
    assert _ids(api, "pemangkat", f"box=inbox&{both}&status=sent&q=ani") == [sent]


def test_paging_walks_the_whole_history_newest_first_without_repeats(api: Api) -> None:
    day = _on_day(api, 8)
    # three at the very same time (the order then goes by id), then a minute apart
    made = [
        _make(api, name=f"Pasien Halaman {i}", nik=f"61010141079801{i:02d}", tick=i >= 2) for i in range(7)
    ]
    at_once = sorted(made[:3])
    expected = [*made[3:][::-1], *at_once]  # newest first; equal times by id
    query = f"box=outbox&since={day}&until={day}&limit=3"
    pages = _walk(api, "segarau", query)
    assert [len(p) for p in pages] == [3, 3, 1]
    assert [j["id"] for p in pages for j in p] == expected
    assert all(j["patient"]["name"].startswith("Pasien Halaman") for p in pages for j in p)
    # a referral made while someone reads page one does not shift page two
    r = api.get(f"/api/referrals?{query}", "segarau")
    nxt = re.fullmatch(r'<([^>]+)>; rel="next"', r.headers["link"])
    assert nxt is not None
    assert "cursor=" in nxt.group(1) and "since=" in nxt.group(1)
    newer = _make(api, name="Pasien Baru", nik="6101014107980199")
    assert [j["id"] for j in api.get(nxt.group(1), "segarau").json()] == expected[3:6]
    assert _ids(api, "segarau", f"{query}")[0] == newer
    # the received side pages the same way; the last page has no next link
    inbox = _walk(api, "pemangkat", f"box=inbox&since={day}&until={day}&limit=4")
    assert [j["id"] for p in inbox for j in p] == [newer, *expected]
    # a search across pages: every match, once, in order
    found = _walk(api, "segarau", f"box=outbox&since={day}&until={day}&limit=2&q=halaman")
    assert [j["id"] for p in found for j in p] == expected


def test_a_search_examines_a_bounded_number_of_rows_and_goes_on_from_there(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    day = _on_day(api, 10)
    names = ["Cari Saya", "Lain A", "Cari Juga", "Lain B", "Lain C", "Lain D", "Lain E"]
    made = [_make(api, name=name, nik=f"61010141079802{i:02d}", send=False) for i, name in enumerate(names)]
    monkeypatch.setattr(lists, "SCAN_MAX", 3)
    query = f"/api/referrals?since={day}&until={day}&q=cari"
    r = api.get(query, "segarau")
    assert r.status_code == 200
    assert r.json() == []  # the three newest rows hold no match
    assert r.headers["rujuk-searched-until"].startswith(f"{day}T")
    pages = _walk(api, "segarau", f"since={day}&until={day}&q=cari")
    assert [j["id"] for p in pages for j in p] == [made[2], made[0]]
    assert len(pages) == 3  # 7 rows, 3 at a time


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("status=bogus", "query.status"),
        ("status=", "query.status"),
        ("since=2026-13-01", "query.since"),
        ("until=kemarin", "query.until"),
        ("since=2026-11-30&until=2026-11-01", "query.until"),
        ("cursor=bukan-kursor", "query.cursor"),
        ("cursor=" + "A" * 201, "query.cursor"),
        ("cursor=MjAyNi0xMS0yMlQwMjowMDowMHxhYmM", "query.cursor"),  # a time without its zone
        ("cursor=MDAwMS0wMS0wMVQwMDowMDowMCswNzowMHxhYmM", "query.cursor"),  # before the calendar's start
        ("limit=0", "query.limit"),
        ("limit=201", "query.limit"),
        ("q=" + "x" * 101, "query.q"),
        ("box=sideways", "query.box"),
        ("nik=123", "query.nik"),
    ],
)
def test_bad_parameters_are_named(api: Api, query: str, field: str) -> None:
    r = api.get(f"/api/referrals?{query}", "segarau")
    assert r.status_code == 422, (query, r.text)
    assert r.json()["errors"][0]["field"] == field


def test_edges_of_the_calendar_and_the_transport_list(api: Api) -> None:
    for query in (
        "since=0001-01-01",
        "until=9999-12-31",
        "since=0001-01-01&until=9999-12-31",
        "q=%20%20",
        "q=-%2F",
    ):
        assert api.get(f"/api/referrals?{query}", "segarau").status_code == 200, query
    for query, field in (
        ("box=transport&q=siti", "query.q"),
        ("box=transport&nik=6101014107980001", "query.nik"),
    ):
        r = api.get(f"/api/referrals?{query}", "dispatch")
        assert r.status_code == 422
        assert r.json()["errors"][0]["field"] == field
    assert api.get("/api/referrals?box=transport&status=accepted", "dispatch").status_code == 200


def test_who_may_list(api: Api) -> None:
    assert api.client.get("/api/referrals").status_code == 401
    assert api.client.get("/api/referrals", headers={"Authorization": "Bearer nope"}).status_code == 401
    assert api.get("/api/referrals?box=outbox", "planner").status_code == 403
    assert api.get("/api/referrals?box=outbox&q=siti", "dispatch").status_code == 403
    assert api.get("/api/referrals?box=inbox", "dispatch").status_code == 403
    assert api.get("/api/referrals?box=transport", "segarau").status_code == 403
    everything = _ids(api, "admin", "box=outbox&limit=200&q=halaman")
    assert len(everything) >= 7  # an admin searches every facility's patients


@pytest.mark.parametrize(
    ("patient", "today", "age"),
    [
        ({"date_of_birth": "1998-07-01"}, dt.date(2026, 6, 30), 27),
        ({"date_of_birth": "1998-07-01"}, dt.date(2026, 7, 1), 28),  # the birthday itself
        ({"date_of_birth": "2000-02-29"}, dt.date(2026, 2, 28), 25),
        (
            {"date_of_birth": "", "age_estimate_years": 40},
            dt.date(2026, 7, 1),
            40,
        ),  # a casualty, not known yet
        ({"date_of_birth": "bukan tanggal"}, dt.date(2026, 7, 1), None),
        ({}, dt.date(2026, 7, 1), None),
    ],
)
def test_age_on_a_row(patient: dict[str, Any], today: dt.date, age: int | None) -> None:
    assert lists.age_years(patient, today) == age


def test_a_cursor_is_a_position_and_back() -> None:
    at = lists.Position(dt.datetime(2026, 11, 22, 2, 0, 0, 123456, tzinfo=dt.UTC), "a1b2")
    assert lists.Position.decode(at.encode()) == at
    assert re.fullmatch(r"[A-Za-z0-9_-]+", at.encode())


@pytest.mark.parametrize(
    ("nik", "code"),
    [
        ("9901014107980001", "nik_unknown_province"),  # no province 99
        ("6101017307980001", "nik_birth_date"),  # day 33 (73 - 40) is no date
        ("6101014107980000", "nik_serial"),
    ],
)
def test_a_nik_no_ktp_carries_is_refused_by_the_search_naming_it(api: Api, nik: str, code: str) -> None:
    r = api.get(f"/api/referrals?box=outbox&nik={nik}", "segarau")
    assert r.status_code == 422, r.text
    [err] = r.json()["errors"]
    assert (err["field"], err["code"]) == ("query.nik", code)


def test_a_nik_from_before_a_regency_split_is_still_searched(api: Api) -> None:
    r = api.get("/api/referrals?box=outbox&nik=9101014107980001", "segarau")  # Merauke before 2022
    assert r.status_code == 200, r.text
