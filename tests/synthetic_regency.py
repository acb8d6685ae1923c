"""A SYNTHETIC second regency joined to Sambas, for the multi-jurisdiction tests.

"Kabupaten Contoh Sintetis" (code 6198, not a Kemendagri code in use) does not exist: a box east
of Sambas's boundary (it overlaps the real Kabupaten Bengkayang), two Puskesmas and one RSUD with
made-up ids (``SYN-...``), and a made-up road (``synthetic`` in the graph's meta) from Sambas's
easternmost road node, so that a referral can cross the border. Built into a temporary directory
from the bundled Sambas dataset (nothing of it is shipped): ``tests/data/jurisdictions/README.md``.
"""

from __future__ import annotations

import csv
import json
import math
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np

from geodata.dataset import bundled_dataset_path
from geodata.roadgraph import load_road_graph

CODE = "6198"
NAME = "Contoh Sintetis"
KECAMATAN = "Contoh Hulu"
HOSPITAL = "SYN-RSUD-CONTOH"
PUSKESMAS = ("SYN-PKM-HULU", "SYN-PKM-HILIR")
BOX = (109.81, 1.10, 110.10, 1.45)  # lon0, lat0, lon1, lat1
MANIFEST = Path(__file__).parent / "data" / "jurisdictions" / "deployment.yaml"

# (id, name, kind, level, class, competency, lon, lat, receiving, services, equipment, beds)
_FACILITIES = (
    ("SYN-PKM-HULU", "Puskesmas Hulu (SINTETIS)", "puskesmas", "fktp", "", "", 109.86, 1.41, "false",
     "umum;gigi;persalinan", "laboratory", ""),
    ("SYN-PKM-HILIR", "Puskesmas Hilir (SINTETIS)", "puskesmas", "fktp", "", "", 110.02, 1.25, "false",
     "umum;gigi;persalinan", "laboratory", ""),
    (HOSPITAL, "RSUD Contoh (SINTETIS)", "rumah_sakit_umum", "fktl", "D", "dasar", 109.95, 1.30, "true",
     "igd;umum;persalinan;rawat_inap_dasar;penyakit_dalam;anak;obgyn;bedah",
     "xray;ultrasound;ecg;laboratory;operating_theatre", "general=30;maternity=8;nicu=2;icu=2"),
)  # fmt: skip
# the synthetic road: Sambas's easternmost node -> HULU -> RSUD -> HILIR (by index in _FACILITIES)
_CHAIN = (0, 2, 1)


def _km(a: tuple[float, float], b: tuple[float, float]) -> float:
    la1, la2 = math.radians(a[1]), math.radians(b[1])
    h = (
        math.sin((la2 - la1) / 2) ** 2
        + math.cos(la1) * math.cos(la2) * math.sin(math.radians(b[0] - a[0]) / 2) ** 2
    )
    return 2 * 6371.0088 * math.asin(math.sqrt(h))


def _roads(src: Path, dest: Path) -> None:
    g = load_road_graph(src)
    start = int(np.argmax(g.lon))  # Sambas's easternmost node (towards Aruk)
    pts = [(float(g.lon[start]), float(g.lat[start]))] + [
        (f[6], f[7]) for f in (_FACILITIES[i] for i in _CHAIN)
    ]
    idx = [start] + [g.n_nodes + k for k in range(len(_CHAIN))]
    cls = g.class_names.index("regency")
    us, vs, lens, times = [], [], [], []
    for a, b, pa, pb in zip(idx, idx[1:], pts, pts[1:], strict=False):
        m = _km(pa, pb) * 1.25 * 1000  # the modelled network's regency-road detour and speed
        for u, v in ((a, b), (b, a)):
            us.append(u), vs.append(v), lens.append(m), times.append(m / (35 / 3.6))  # type: ignore[func-returns-value]
    out = replace(
        g,
        node_id=np.concatenate([g.node_id, g.node_id.max() + 1 + np.arange(len(_CHAIN))]),
        lon=np.concatenate([g.lon, [p[0] for p in pts[1:]]]),
        lat=np.concatenate([g.lat, [p[1] for p in pts[1:]]]),
        edge_u=np.concatenate([g.edge_u, us]).astype(g.edge_u.dtype),
        edge_v=np.concatenate([g.edge_v, vs]).astype(g.edge_v.dtype),
        length_m=np.concatenate([g.length_m, lens]),
        travel_time_s=np.concatenate([g.travel_time_s, times]),
        edge_class=np.concatenate([g.edge_class, [cls] * len(us)]).astype(g.edge_class.dtype),
        meta={**g.meta, "synthetic": f"3 nodes and a road of {NAME} ({CODE}) added for tests"},
    )
    out.save(dest)


def _box(x0: float, y0: float, x1: float, y1: float) -> dict[str, object]:
    return {"type": "Polygon", "coordinates": [[[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]]}


def build(dest: Path) -> Path:
    """Write the Sambas dataset plus the synthetic regency into ``dest``; its path."""
    src = bundled_dataset_path()
    dest.mkdir(parents=True, exist_ok=True)
    for name in ("dataset.json", "settlements.csv", "network_model.json"):
        shutil.copy(src / name, dest / name)
    regions = json.loads((src / "regions.geojson").read_text(encoding="utf-8"))
    regions["features"] += [
        {"type": "Feature", "properties": {"id": CODE, "name": NAME, "level": "regency", "parent": ""},
         "geometry": _box(*BOX)},
        {"type": "Feature", "properties": {"id": CODE + "01", "name": KECAMATAN, "level": "kecamatan",
         "parent": CODE}, "geometry": _box(*BOX)},
    ]  # fmt: skip
    (dest / "regions.geojson").write_text(json.dumps(regions), encoding="utf-8")
    with (src / "facilities.csv").open(encoding="utf-8", newline="") as fh:
        rows = list(csv.reader(fh))
    head = rows[0]
    for f in _FACILITIES:
        row = dict.fromkeys(head, "")
        row.update(zip(("id", "name", "kind", "level", "hospital_class", "competency"), f[:6], strict=True))
        row.update(
            kecamatan=KECAMATAN, regency=NAME, lon=str(f[6]), lat=str(f[7]), coordinate_quality="surveyed"
        )
        row.update(receiving=f[8], services=f[9], equipment=f[10], beds=f[11], phone="unknown")
        row.update(source="SYNTHETIC test fixture (tests/synthetic_regency.py)")
        rows.append([row[h] for h in head])
    with (dest / "facilities.csv").open("w", encoding="utf-8", newline="") as fh:
        csv.writer(fh).writerows(rows)
    _roads(src / "roads.npz", dest / "roads.npz")
    return dest
