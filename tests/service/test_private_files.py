"""The zero-setup data directory holds patient data and the signing key: nobody else may read it."""

from __future__ import annotations

import stat
from pathlib import Path

from fastapi.testclient import TestClient

from geodata.dataset import Dataset
from service.app import create_app
from service.settings import Settings


def _mode(p: Path) -> int:
    return stat.S_IMODE(p.stat().st_mode)


def test_the_data_directory_and_its_files_are_private(sambas: Dataset, tmp_path: Path) -> None:
    var = tmp_path / "var"
    var.mkdir(mode=0o755)  # an existing, too open directory is closed too
    (var / "rujuk.sqlite3").touch(mode=0o644)
    with TestClient(create_app(Settings(data_dir=var), dataset=sambas)) as c:
        assert c.get("/health").status_code == 200
    assert _mode(var) == 0o700
    for name in ("rujuk.sqlite3", "secret.key"):
        assert _mode(var / name) == 0o600, name
    for extra in var.glob("rujuk.sqlite3-*"):  # the WAL and its index, when present
        assert _mode(extra) & 0o077 == 0, extra
