"""A small hospital registry file in the 2021 Kemenkes table's format (``geodata.registry``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path

HEADER = '"nama","kode_rs","tempat_tidur","telepon","lokasi.lat","lokasi.lon","alamat","tipe","wilayah"\n'


def write_registry(directory: Path, rows: list[str]) -> Path:
    """``rows`` (CSV lines without the header) written as ``directory/rs.csv``."""
    p = directory / "rs.csv"
    p.write_text(HEADER + "".join(r + "\n" for r in rows), encoding="utf-8")
    return p
