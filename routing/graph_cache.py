"""The compiled road graph and its snapping index on disk, per graph version: a fast start.

Compiling a province graph (1M nodes) takes seconds and indexing its segments for snapping
longer still; both depend on the graph alone. They are kept in a directory per graph version
and ``GRAPH_FORMAT`` (and sample spacing): one ``.npy`` file per array, the KD-trees' states
as arrays too (no pickle), and a manifest written last. The directory is written under a
temporary name and renamed into place, under a file lock, so processes starting together
compute it once. The arrays are opened memory-mapped read-only (shared by the processes of a
host); a KD-tree's node buffer is copied into each process when it is restored. A set that
does not open or does not fit the graph is built and written again.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from filelock import FileLock

from routing.compiled import ARRAYS, CompiledGraph
from routing.snapping import SAMPLE_SPACING_M, SnapIndex, Snapper

if TYPE_CHECKING:
    import numpy.typing as npt
    from scipy.spatial import cKDTree

    from geodata.roadgraph import RoadGraph

log = logging.getLogger(__name__)

#: Bump when what is written changes.
GRAPH_FORMAT = 1
#: Positions of a cKDTree state (``__getstate__``): arrays, then the scalars kept in the manifest.
_KD_ARRAYS = {"buffer": 0, "data": 1, "maxes": 5, "mins": 6, "indices": 7}
_KD_SCALARS = {"n": 2, "m": 3, "leafsize": 4}


def graph_key(graph_version: str, sample_spacing_m: float = SAMPLE_SPACING_M) -> str:
    """The name of a graph's cached compilation."""
    h = hashlib.sha256(f"rujuk-graph\x1f{GRAPH_FORMAT}\x1f{graph_version}\x1f{sample_spacing_m!r}".encode())
    return h.hexdigest()[:24]


def graph_dir(cache_dir: Path, key: str) -> Path:
    """The directory a graph's compilation is kept in."""
    return Path(cache_dir) / f"graph-{key}"


def _kd_save(tree: cKDTree, name: str, out: Path) -> dict[str, int]:
    state = tree.__getstate__()
    if state[8] is not None:  # periodic box: not used by the snapper
        msg = "a periodic KD-tree is not cached"
        raise ValueError(msg)
    for part, i in _KD_ARRAYS.items():
        np.save(out / f"{name}.{part}.npy", np.asarray(state[i]), allow_pickle=False)
    return {part: int(state[i]) for part, i in _KD_SCALARS.items()}


def _kd_arrays(
    name: str, src: Path, scalars: dict[str, int], rows: int
) -> dict[str, npt.NDArray[np.generic]]:
    """A KD-tree's arrays, memory-mapped, checked against its scalars and the rows it indexes."""
    a = {part: np.load(src / f"{name}.{part}.npy", mmap_mode="r", allow_pickle=False) for part in _KD_ARRAYS}
    if scalars["n"] != rows or a["data"].shape != (rows, scalars["m"]) or a["indices"].shape != (rows,):
        msg = f"KD-tree {name} does not fit"
        raise ValueError(msg)
    return a


def _kd_load(a: dict[str, npt.NDArray[np.generic]], scalars: dict[str, int]) -> cKDTree:
    from scipy.spatial import cKDTree  # noqa: PLC0415  0.5 s to import: when the index is first used

    state = (
        np.asarray(a["buffer"]),
        a["data"],
        scalars["n"],
        scalars["m"],
        scalars["leafsize"],
        np.asarray(a["maxes"]),
        np.asarray(a["mins"]),
        a["indices"],
        None,
        None,
    )
    tree = cKDTree.__new__(cKDTree)
    tree.__setstate__(state)
    return tree


def _write(cache_dir: Path, key: str, compiled: CompiledGraph, index: SnapIndex) -> None:
    tmp = Path(tempfile.mkdtemp(dir=cache_dir, prefix=f".graph-{key}."))
    try:
        arrays: dict[str, npt.NDArray[np.generic]] = dict(compiled.to_arrays())
        arrays |= {"seg_a": index.seg_a, "seg_b": index.seg_b, "sample_seg": index.sample_seg}
        for name, a in arrays.items():
            np.save(tmp / f"{name}.npy", np.ascontiguousarray(a), allow_pickle=False)
        meta = {
            "key": key,
            "format": GRAPH_FORMAT,
            "n_nodes": compiled.n_nodes,
            "n_edges": compiled.graph.n_edges,
            "trees": {
                "tree": _kd_save(index.tree, "tree", tmp),
                "node_tree": _kd_save(index.node_tree, "node_tree", tmp),
            },
        }
        (tmp / "manifest.json").write_text(json.dumps(meta))
        for f in tmp.iterdir():
            with f.open("rb") as fh:
                os.fsync(fh.fileno())
        target = graph_dir(cache_dir, key)
        shutil.rmtree(target, ignore_errors=True)  # a damaged one
        tmp.rename(target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _open(
    cache_dir: Path, key: str, graph: RoadGraph
) -> tuple[dict[str, npt.NDArray[np.generic]], SnapIndex] | None:
    src = graph_dir(cache_dir, key)
    manifest = src / "manifest.json"
    if not manifest.is_file():
        return None
    try:
        meta = json.loads(manifest.read_text())
        if (
            meta.get("key") != key
            or meta.get("format") != GRAPH_FORMAT
            or meta.get("n_nodes") != graph.n_nodes
            or meta.get("n_edges") != graph.n_edges
        ):
            msg = f"manifest {meta!r} is not for this graph"
            raise ValueError(msg)  # noqa: TRY301  one path for every kind of damage
        names = [*ARRAYS, "seg_a", "seg_b", "sample_seg"]
        arrays = {name: np.load(src / f"{name}.npy", mmap_mode="r", allow_pickle=False) for name in names}
        rows = {"tree": len(arrays["sample_seg"]), "node_tree": graph.n_nodes}
        kd = {
            name: (_kd_arrays(name, src, meta["trees"][name], rows[name]), meta["trees"][name])
            for name in rows
        }
        index = SnapIndex(
            arrays.pop("seg_a"),
            arrays.pop("seg_b"),
            arrays.pop("sample_seg"),
            lambda: _kd_load(*kd["tree"]),
            lambda: _kd_load(*kd["node_tree"]),
        )
    except (OSError, ValueError, EOFError, KeyError, TypeError) as exc:
        log.warning("compiled graph %s in %s is damaged (%s): building it again", key, cache_dir, exc)
        return None
    return arrays, index


def load_or_build(
    cache_dir: Path,
    graph: RoadGraph,
    *,
    max_snap_m: float,
    offroad_speed_kmh: float,
    graph_version: str | None = None,
) -> tuple[CompiledGraph, Snapper, bool]:
    """The compiled graph and its snapper, from the cache or built (and written): and whether built."""
    key = graph_key(graph_version or graph.version)
    cache_dir = Path(cache_dir)
    hit = _open(cache_dir, key, graph)
    built = False
    if hit is None:
        cache_dir.mkdir(parents=True, exist_ok=True)
        with FileLock(str(cache_dir / f"graph-{key}.lock")):
            hit = _open(cache_dir, key, graph)  # written while this process waited
            if hit is None:
                compiled = CompiledGraph(graph)
                snapper = Snapper(compiled, max_snap_m=max_snap_m, offroad_speed_kmh=offroad_speed_kmh)
                try:
                    _write(cache_dir, key, compiled, snapper.index)
                except OSError as exc:  # a full or read-only disk: go on without it
                    log.warning("compiled graph %s not written to %s (%s)", key, cache_dir, exc)
                return compiled, snapper, True
    arrays, index = hit
    compiled = CompiledGraph(graph, arrays)
    snapper = Snapper(compiled, max_snap_m=max_snap_m, offroad_speed_kmh=offroad_speed_kmh, index=index)
    return compiled, snapper, built
