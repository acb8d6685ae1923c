"""Facility telephone numbers: checked when loaded (file, row and field named), unknown said explicitly,
and the bundled numbers are the Ministry of Health's published ones."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from geodata.dataset import Dataset, bundled_dataset_path
from geodata.errors import DatasetError
from geodata.loaders import load_facilities, parse_facilities
from geodata.models import PhoneKind
from geodata.phones import parse_phone
from tests.geodata.test_loaders import GOOD, HEADER, REGION, write_csv

PHONE_HEADER = [*HEADER, "phone", "phone_kind", "phone_note"]
NOTE = "nomor rumah sakit (RS Online 2021), belum diverifikasi sebagai nomor IGD"


def rows(*phones: tuple[str, str, str]) -> list[list[str]]:
    """The three good facilities, each with its (phone, phone_kind, phone_note)."""
    return [[*r, *p] for r, p in zip(GOOD, phones, strict=True)]


GOOD_PHONES = (("(0562) 391020", "main", NOTE), ("unknown", "", ""), ("+62 812-8589-6364", "igd", ""))


def test_numbers_load_for_reading_and_dialling_and_unknown_is_none(tmp_path: Path) -> None:
    facs = load_facilities(write_csv(tmp_path / "f.csv", rows(*GOOD_PHONES), PHONE_HEADER), region=REGION)
    rs, pkm, rs2 = facs
    assert rs.phone is not None
    assert (rs.phone.display, rs.phone.dial, rs.phone.kind, rs.phone.note) == (
        "(0562) 391020",
        "+62562391020",
        PhoneKind.MAIN,
        NOTE,
    )
    assert pkm.phone is None  # "unknown"
    assert rs2.phone is not None
    assert (rs2.phone.display, rs2.phone.dial, rs2.phone.kind) == (
        "0812-8589-6364",
        "+6281285896364",
        PhoneKind.IGD,
    )


def test_a_file_without_the_column_knows_no_number(tmp_path: Path) -> None:
    facs = load_facilities(write_csv(tmp_path / "f.csv", GOOD), region=REGION)
    assert [f.phone for f in facs] == [None, None, None]


@pytest.mark.parametrize(
    ("phone", "kind", "expected"),
    [
        ("", "", "f.csv: row 2: field 'phone': missing value (a number, or 'unknown')"),
        ("(0562) 39x020", "main", "f.csv: row 2: field 'phone': '(0562) 39x020' holds characters"),
        ("0562/391020", "main", "f.csv: row 2: field 'phone': '0562/391020' holds characters"),
        ("562391020", "main", "f.csv: row 2: field 'phone': '562391020' is not an Indonesian number"),
        ("+65 6123 4567", "main", "f.csv: row 2: field 'phone': '+65 6123 4567' is not an Indonesian number"),
        ("(0562) 1", "main", "f.csv: row 2: field 'phone': '(0562) 1' is not a valid Indonesian number"),
        ("(0562) 391020", "", "f.csv: row 2: field 'phone_kind': missing value: what the number reaches"),
        (
            "(0562) 391020",
            "fax",
            "f.csv: row 2: field 'phone_kind': unknown value 'fax' (allowed: igd, main)",
        ),
        ("unknown", "main", "f.csv: row 2: field 'phone_kind': a kind without a number (phone is 'unknown')"),
    ],
)
def test_each_bad_phone_is_named_and_the_file_rejected(
    tmp_path: Path, phone: str, kind: str, expected: str
) -> None:
    path = write_csv(tmp_path / "f.csv", rows((phone, kind, ""), *GOOD_PHONES[1:]), PHONE_HEADER)
    with pytest.raises(DatasetError) as exc:
        load_facilities(path, region=REGION)
    messages = [str(p) for p in exc.value.problems]
    assert any(m.startswith(expected) for m in messages), messages
    assert parse_facilities(path, region=REGION)[0] == []  # never half-loaded


@pytest.mark.parametrize(
    ("text", "display", "dial"),
    [
        ("(0562) 391020", "(0562) 391020", "+62562391020"),
        ("0562-391020", "(0562) 391020", "+62562391020"),
        ("+62 562 391020", "(0562) 391020", "+62562391020"),
        ("(0561) 737701", "(0561) 737701", "+62561737701"),
        ("(0562) 4644000", "(0562) 4644000", "+625624644000"),
        ("0812 8589 6364", "0812-8589-6364", "+6281285896364"),
    ],
)
def test_a_number_is_written_for_reading_and_for_dialling(text: str, display: str, dial: str) -> None:
    assert parse_phone(text) == (display, dial)


def test_the_bundled_numbers_are_hospitals_main_lines_and_puskesmas_unknown(sambas: Dataset) -> None:
    known = {f.id: f.phone for f in sambas.facilities if f.phone is not None}
    assert len(known) == 9
    assert all(f.is_hospital for f in sambas.facilities if f.id in known)
    assert all(p.kind is PhoneKind.MAIN and p.note == NOTE for p in known.values())  # not verified IGD lines
    assert all(f.phone is None for f in sambas.facilities if f.kind.value == "puskesmas")
    assert known["6101022"].dial == "+62562391020"  # RSUD Sambas
    # no number published for these three: unknown, never guessed
    assert {f.id for f in sambas.facilities if f.is_hospital and f.phone is None} == {
        "6101137",
        "6172011",
        "RS-SAADAH-SKW",
    }


def test_the_bundled_numbers_are_the_ones_the_ministry_published(sambas: Dataset, shared_data: Path) -> None:
    """Each number is the ``telepon`` of its ``kode_rs`` in the 2021 Kemenkes public hospital data."""
    path = shared_data / "hospitals" / "rumah_sakit_indonesia.csv"
    if not path.is_file():
        pytest.skip(f"{path} is absent")
    with path.open(encoding="utf-8") as fh:
        published = {r["kode_rs"]: r["telepon"].strip() for r in csv.DictReader(fh)}
    checked = 0
    for f in sambas.facilities:
        if not f.is_hospital or f.id not in published:
            continue
        if published[f.id]:
            assert f.phone is not None, f.id
            assert parse_phone(published[f.id]) == (f.phone.display, f.phone.dial), f.id
            checked += 1
        else:
            assert f.phone is None, f.id
    assert checked == 9


def test_provenance_cites_the_source_of_the_numbers() -> None:
    notes = " ".join((Path(bundled_dataset_path()) / "PROVENANCE.md").read_text(encoding="utf-8").split())
    for words in ("RS Online", "telepon", "belum diverifikasi sebagai nomor IGD", "unknown"):
        assert words in notes
