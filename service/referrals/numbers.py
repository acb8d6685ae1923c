"""The letter's number for people: ``007/RJK/PKM-SEGARAU/XII/2026``.

A sequence per referring facility and calendar month (the month in the jurisdiction's zone),
given once when the letter is made, in the same transaction: concurrent letters of one facility
never share a number (a counter row, incremented with ``UPDATE ... RETURNING``), and a letter
that is rolled back gives its number back. The format follows the way Indonesian offices number
their letters (sequence / kind / office / month in Roman numerals / year); the regulation's annex
prescribes none.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError

from service.database import LetterCounter

if TYPE_CHECKING:
    import datetime as dt

    from sqlalchemy.orm import Session

    from service.database import Referral

ROMAN = ("I", "II", "III", "IV", "V", "VI", "VII", "VIII", "IX", "X", "XI", "XII")
#: the kind of letter in the number (rujukan)
KIND = "RJK"


def letter_number(seq: int, facility_id: str, year: int, month: int) -> str:
    """The number as printed: at least three digits, then kind, facility, month (Roman), year."""
    return f"{seq:03d}/{KIND}/{facility_id}/{ROMAN[month - 1]}/{year}"


def _next(s: Session, facility_id: str, period: str) -> int:
    """The facility's next sequence number in ``period`` (``YYYY-MM``), counted in the database."""
    for _ in range(3):
        seq = s.scalar(
            update(LetterCounter)
            .where(LetterCounter.facility_id == facility_id, LetterCounter.period == period)
            .values(last=LetterCounter.last + 1)
            .returning(LetterCounter.last)
        )
        if seq is not None:
            return int(seq)
        try:
            with s.begin_nested():
                s.add(LetterCounter(facility_id=facility_id, period=period, last=1))
        except IntegrityError:
            continue  # another letter of this facility made the month's row first: count on it
        else:
            return 1
    msg = f"cannot count letters of {facility_id} in {period}"
    raise RuntimeError(msg)


def assign_number(s: Session, r: Referral, *, timezone: str, now: dt.datetime) -> str:
    """Give a new letter its number (the month of ``now`` in ``timezone``)."""
    local = now.astimezone(ZoneInfo(timezone))
    seq = _next(s, r.origin_id, f"{local:%Y-%m}")
    r.number = letter_number(seq, r.origin_id, local.year, local.month)
    return r.number
