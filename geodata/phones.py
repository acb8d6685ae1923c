"""Telephone numbers of facilities: Indonesian numbers checked, written for reading and for dialling.

The numbers are checked with ``phonenumbers`` (Google's libphonenumber metadata), after a check of
the characters a published number may hold, so that a typo in the dataset is a load error and not a
wrong number dialled at night.
"""

from __future__ import annotations

import re

import phonenumbers

#: what the dataset writes for a facility whose number is not known (never an empty cell)
UNKNOWN = "unknown"

_CHARS = re.compile(r"\+?[0-9 ()\-]+")


def parse_phone(text: str) -> tuple[str, str]:
    """``(display, dial)`` of an Indonesian number: ``("(0562) 391020", "+62562391020")``.

    Raises ValueError saying what is wrong: other characters than digits, spaces, dashes and
    parentheses (and a leading ``+``), no ``+62`` or ``0`` prefix, or not a valid Indonesian number.
    """
    raw = text.strip()
    if not _CHARS.fullmatch(raw):
        allowed = "digits, spaces, '-', '(', ')', a leading '+'"
        msg = f"{raw!r} holds characters a telephone number does not ({allowed})"
        raise ValueError(msg)
    digits = re.sub(r"\D", "", raw)
    if not (digits.startswith("62") if raw.startswith("+") else digits.startswith("0")):
        msg = f"{raw!r} is not an Indonesian number: it starts with +62 or 0"
        raise ValueError(msg)
    try:
        number = phonenumbers.parse(raw, "ID")
    except phonenumbers.NumberParseException as exc:
        msg = f"{raw!r} is not a telephone number ({exc})"
        raise ValueError(msg) from exc
    if not phonenumbers.is_valid_number(number) or phonenumbers.region_code_for_number(number) != "ID":
        msg = f"{raw!r} is not a valid Indonesian number (area code and length)"
        raise ValueError(msg)
    display = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL)
    dial = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    return display, dial
