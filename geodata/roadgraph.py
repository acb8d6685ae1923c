"""The project's road-graph format: directed edges in flat NumPy arrays, saved as ``.npz``.

A two-way road is two directed edges. Nodes carry lon/lat (EPSG:4326); edges carry length in
metres, travel time in seconds and a road class. ``modelled`` says whether the network is a
model (built from settlements and corridors) rather than a surveyed map, so that every travel
time shown from it can say so.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from geodata.errors import RoadGraphError

if TYPE_CHECKING:
    from collections.abc import Mapping

    import networkx as nx

FORMAT_VERSION = 1

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True)
class RoadGraph:
    """An immutable directed road graph in array form.

    ``edge_u``/``edge_v`` index into the node arrays; ``edge_class`` indexes ``class_names``.
    """

    node_id: IntArray
    lon: FloatArray
    lat: FloatArray
    edge_u: IntArray
    edge_v: IntArray
    length_m: FloatArray
    travel_time_s: FloatArray
    edge_class: IntArray
    class_names: tuple[str, ...]
    modelled: bool
    source: str
    meta: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        n, m = len(self.node_id), len(self.edge_u)
        for name in ("lon", "lat"):
            if len(getattr(self, name)) != n:
                msg = f"node array '{name}' has {len(getattr(self, name))} entries, expected {n}"
                raise RoadGraphError(msg)
        for name in ("edge_v", "length_m", "travel_time_s", "edge_class"):
            if len(getattr(self, name)) != m:
                msg = f"edge array '{name}' has {len(getattr(self, name))} entries, expected {m}"
                raise RoadGraphError(msg)
        if m and (
            min(self.edge_u.min(), self.edge_v.min()) < 0 or max(self.edge_u.max(), self.edge_v.max()) >= n
        ):
            msg = "edge endpoints index outside the node arrays"
            raise RoadGraphError(msg)
        if m and not (np.all(np.isfinite(self.travel_time_s)) and self.travel_time_s.min() > 0):
            msg = "travel_time_s must be finite and > 0 on every edge"
            raise RoadGraphError(msg)
        if m and not (np.all(np.isfinite(self.length_m)) and self.length_m.min() >= 0):
            msg = "length_m must be finite and >= 0 on every edge"
            raise RoadGraphError(msg)
        if m and self.edge_class.max() >= len(self.class_names):
            msg = "edge_class indexes outside class_names"
            raise RoadGraphError(msg)
        if len(np.unique(self.node_id)) != n:
            msg = "node ids are not unique"
            raise RoadGraphError(msg)

    @property
    def n_nodes(self) -> int:
        """Number of nodes."""
        return len(self.node_id)

    @property
    def n_edges(self) -> int:
        """Number of directed edges."""
        return len(self.edge_u)

    @property
    def version(self) -> str:
        """A content hash: equal graphs have equal versions, any edit changes it."""
        h = hashlib.sha256()
        for arr in (
            self.node_id,
            self.lon,
            self.lat,
            self.edge_u,
            self.edge_v,
            self.length_m,
            self.travel_time_s,
            self.edge_class,
        ):
            h.update(np.ascontiguousarray(arr).tobytes())
        h.update("\x1f".join(self.class_names).encode())
        return h.hexdigest()[:16]

    def to_networkx(self) -> nx.MultiDiGraph[int]:
        """A MultiDiGraph keyed by node id, edge attributes ``length``, ``travel_time``, ``highway``."""
        import networkx as nx  # noqa: PLC0415  heavy, and only for this

        g: nx.MultiDiGraph[int] = nx.MultiDiGraph(modelled=self.modelled, source=self.source)
        for i in range(self.n_nodes):
            g.add_node(int(self.node_id[i]), x=float(self.lon[i]), y=float(self.lat[i]))
        ids = self.node_id
        for k in range(self.n_edges):
            g.add_edge(
                int(ids[self.edge_u[k]]),
                int(ids[self.edge_v[k]]),
                length=float(self.length_m[k]),
                travel_time=float(self.travel_time_s[k]),
                highway=self.class_names[int(self.edge_class[k])],
            )
        return g

    def save(self, path: str | Path) -> None:
        """Write the graph as an uncompressed ``.npz`` (fast to load)."""
        header = {
            "format_version": FORMAT_VERSION,
            "class_names": list(self.class_names),
            "modelled": self.modelled,
            "source": self.source,
            "meta": dict(self.meta),
        }
        with Path(path).open("wb") as fh:
            np.savez(
                fh,
                header=np.array(json.dumps(header, sort_keys=True)),
                node_id=self.node_id,
                lon=self.lon,
                lat=self.lat,
                edge_u=self.edge_u,
                edge_v=self.edge_v,
                length_m=self.length_m,
                travel_time_s=self.travel_time_s,
                edge_class=self.edge_class,
            )


def load_road_graph(path: str | Path) -> RoadGraph:
    """Read a graph written by :meth:`RoadGraph.save`; a malformed file raises RoadGraphError."""
    p = Path(path)
    try:
        with np.load(p, allow_pickle=False) as z:
            header = json.loads(str(z["header"]))
            arrays = {
                k: z[k]
                for k in (
                    "node_id",
                    "lon",
                    "lat",
                    "edge_u",
                    "edge_v",
                    "length_m",
                    "travel_time_s",
                    "edge_class",
                )
            }
    except (OSError, KeyError, ValueError) as exc:
        msg = f"{p}: not a rujuk road-graph file ({exc})"
        raise RoadGraphError(msg) from exc
    if header.get("format_version") != FORMAT_VERSION:
        msg = f"{p}: road-graph format {header.get('format_version')!r}, expected {FORMAT_VERSION}"
        raise RoadGraphError(msg)
    return RoadGraph(
        node_id=arrays["node_id"].astype(np.int64, copy=False),
        lon=arrays["lon"].astype(np.float64, copy=False),
        lat=arrays["lat"].astype(np.float64, copy=False),
        edge_u=arrays["edge_u"].astype(np.int64, copy=False),
        edge_v=arrays["edge_v"].astype(np.int64, copy=False),
        length_m=arrays["length_m"].astype(np.float64, copy=False),
        travel_time_s=arrays["travel_time_s"].astype(np.float64, copy=False),
        edge_class=arrays["edge_class"].astype(np.int64, copy=False),
        class_names=tuple(header["class_names"]),
        modelled=bool(header["modelled"]),
        source=str(header["source"]),
        meta=header.get("meta", {}),
    )


def from_edge_list(
    *,
    node_id: npt.ArrayLike,
    lon: npt.ArrayLike,
    lat: npt.ArrayLike,
    edges: list[tuple[int, int, float, float, str]],
    modelled: bool,
    source: str,
    meta: Mapping[str, Any] | None = None,
) -> RoadGraph:
    """Build a RoadGraph from node arrays and ``(u_index, v_index, length_m, time_s, class)``."""
    classes = sorted({e[4] for e in edges})
    cidx = {c: i for i, c in enumerate(classes)}
    return RoadGraph(
        node_id=np.asarray(node_id, dtype=np.int64),
        lon=np.asarray(lon, dtype=np.float64),
        lat=np.asarray(lat, dtype=np.float64),
        edge_u=np.array([e[0] for e in edges], dtype=np.int64),
        edge_v=np.array([e[1] for e in edges], dtype=np.int64),
        length_m=np.array([e[2] for e in edges], dtype=np.float64),
        travel_time_s=np.array([e[3] for e in edges], dtype=np.float64),
        edge_class=np.array([cidx[e[4]] for e in edges], dtype=np.int64),
        class_names=tuple(classes),
        modelled=modelled,
        source=source,
        meta=dict(meta or {}),
    )
