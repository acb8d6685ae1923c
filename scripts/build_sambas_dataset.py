"""Derive the bundled Sambas settlements, boundaries and modelled road network.

Run from the repository root (needs the reference data, see ../shared/data/README.md):

    python scripts/build_sambas_dataset.py [--shared ../shared/data]

It *derives* facts from the reference files (desa names, Kemendagri codes, centroids, areas,
population = density x area, boundaries dissolved and simplified) and writes them in the
project's own formats; the reference files themselves are never copied. The facility registry
(``facilities.csv``) is written by hand; see ``PROVENANCE.md``. The modelled network is rebuilt
from settlements, facilities and ``network_model.json``.
"""

from __future__ import annotations

import argparse
import csv
import difflib
import json
import os
import re
import statistics
import sys
from pathlib import Path

import geopandas as gpd
import shapely
from pyproj import Geod

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from typing import TYPE_CHECKING

from geodata.loaders import load_facilities, load_settlements
from geodata.modelled import build_modelled_network, load_network_model

if TYPE_CHECKING:
    from shapely.geometry.base import BaseGeometry

OUT = ROOT / "geodata" / "data" / "sambas"
SIMPLIFY_DEG = 0.0005  # about 55 m
SQL_ROW = re.compile(
    r"^\((\d+), '([^']*)', (\d+), '([^']*)', '([^']*)', '([^']*)', ([\d.]+), ([\d.]+), ([\d.]+)", re.MULTILINE
)


def norm(name: str) -> str:
    return re.sub(r"[^A-Z]", "", name.upper().replace("SEI ", "SUNGAI "))


def tidy(geom: BaseGeometry) -> BaseGeometry:
    """Simplify, snap to a 1e-6 degree grid (~0.1 m, keeps the file small) and keep it valid."""
    out = shapely.set_precision(geom.simplify(SIMPLIFY_DEG, preserve_topology=True), grid_size=1e-6)
    return out if out.is_valid else shapely.make_valid(out)


def build_settlements_and_regions(shared: Path) -> None:
    desa = gpd.read_file(shared / "sambas" / "desa.geojson").to_crs("EPSG:4326")
    sql = SQL_ROW.findall((shared / "sambas" / "desas.sql").read_text(encoding="utf-8"))
    # (name, code, kecamatan, area, density) from the register dump
    reg = [(r[1], r[2], r[3].upper(), float(r[6]), float(r[8])) for r in sql]
    used: set[str] = set()

    def match(name: str, kec: str, *, same_kec: bool) -> tuple[str, str, str, float, float] | None:
        pool = [r for r in reg if r[1] not in used and (r[2] == kec or not same_kec)]
        hit = difflib.get_close_matches(norm(name), [norm(r[0]) for r in pool], 1, 0.75)
        if not hit:
            return None
        cands = [r for r in pool if norm(r[0]) == hit[0]]
        return cands[0] if len(cands) == 1 else None

    geod = Geod(ellps="WGS84")
    rows = []
    pending = []
    for _, f in desa.sort_values(["wiadkc", "namobj"]).iterrows():
        name, kec, geom = str(f["namobj"]), str(f["wiadkc"]).upper(), f.geometry
        r = match(name, kec, same_kec=True) or match(name, kec, same_kec=False)
        c = geom.centroid if geom.contains(geom.centroid) else geom.representative_point()
        area = abs(geod.geometry_area_perimeter(geom)[0]) / 1e6
        rec = {
            "name": name,
            "kecamatan": kec.title(),
            "lon": round(c.x, 6),
            "lat": round(c.y, 6),
            "area_km2": round(area, 3),
        }
        if r is not None and r[4] > 0:
            used.add(r[1])
            rec |= {"id": r[1], "density_per_km2": r[4], "basis": "register density x boundary area"}
        elif r is not None:  # the register gives density 0 (desa formed after the census)
            used.add(r[1])
            rec |= {"id": r[1], "density_per_km2": None, "basis": "register density 0"}
            pending.append(rec)
        else:
            rec |= {"id": "", "kode_approx": round(float(f["kode_desa"])), "density_per_km2": None}
            pending.append(rec)
        rows.append(rec)
    taken = {r["id"] for r in rows if r["id"]}
    for rec in pending:
        kec_dens = [
            r["density_per_km2"] for r in rows if r["kecamatan"] == rec["kecamatan"] and r["density_per_km2"]
        ]
        rec["density_per_km2"] = statistics.median(kec_dens)
        why = rec["basis"] if rec["id"] else "not in register"
        rec["basis"] = f"{why}: kecamatan median density x boundary area"
        if rec["id"]:
            continue
        code = str(rec.pop("kode_approx"))
        while code in taken:  # the boundary layer's codes are rounded floats; keep ids unique
            code = str(int(code) + 1)
        rec["id"] = code
        taken.add(code)
    with (OUT / "settlements.csv").open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(
            [
                "id",
                "name",
                "kecamatan",
                "regency",
                "lon",
                "lat",
                "area_km2",
                "density_per_km2",
                "population",
                "population_basis",
            ]
        )
        for r in sorted(rows, key=lambda r: r["id"]):
            pop = round(r["density_per_km2"] * r["area_km2"])
            w.writerow(
                [
                    r["id"],
                    r["name"],
                    r["kecamatan"],
                    "Sambas",
                    r["lon"],
                    r["lat"],
                    r["area_km2"],
                    r["density_per_km2"],
                    pop,
                    r["basis"],
                ]
            )

    desa["kec"] = desa["wiadkc"].str.upper()
    # a kecamatan's code: the one most of its desa carry (a few rows of the layer are miscoded)
    kec_code = desa.groupby("kec")["kode_kec_"].agg(lambda s: int(s.mode().iloc[0]))
    kec = desa.dissolve(by="kec").reset_index()
    features = []
    regency = tidy(desa.geometry.union_all())
    features.append(
        {
            "type": "Feature",
            "properties": {"id": "6101", "name": "Sambas", "level": "regency", "parent": ""},
            "geometry": regency.__geo_interface__,
        }
    )
    for _, k in kec.sort_values("kec").iterrows():
        code = str(kec_code[k["kec"]])
        geom = tidy(k.geometry)
        features.append(
            {
                "type": "Feature",
                "properties": {
                    "id": code,
                    "name": str(k["kec"]).title(),
                    "level": "kecamatan",
                    "parent": "6101",
                },
                "geometry": geom.__geo_interface__,
            }
        )
    doc = {
        "type": "FeatureCollection",
        "crs": {"type": "name", "properties": {"name": "urn:ogc:def:crs:OGC:1.3:CRS84"}},
        "features": features,
    }
    text = json.dumps(doc, separators=(",", ":"))
    (OUT / "regions.geojson").write_text(text + "\n", encoding="utf-8")


def build_roads() -> None:
    settlements = load_settlements(OUT / "settlements.csv")
    facilities = load_facilities(OUT / "facilities.csv")
    model = load_network_model(OUT / "network_model.json")
    graph = build_modelled_network(settlements, facilities, model, source="modelled:sambas")
    graph.save(OUT / "roads.npz")
    print(f"roads.npz: {graph.n_nodes} nodes, {graph.n_edges} directed edges, version {graph.version}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--shared",
        type=Path,
        default=Path(os.environ.get("RUJUK_SHARED_DATA", ROOT.parent / "shared" / "data")),
    )
    ap.add_argument("--roads-only", action="store_true", help="only rebuild roads.npz")
    args = ap.parse_args()
    if not args.roads_only:
        build_settlements_and_regions(args.shared)
    build_roads()


if __name__ == "__main__":
    main()
