"""Facility trees cached on disk: hit, miss, stale, damaged, shared by processes, repaired privately."""

from __future__ import annotations

import hashlib
import json
import multiprocessing as mp
import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pytest

from geodata.dataset import bundled_dataset_path, load_dataset
from geodata.roadgraph import RoadGraph
from routing.conditions import RoadCondition
from routing.engine import RoutingEngine
from routing.sparse_trees import SparseTrees, from_rows, sparse_row
from routing.tree_cache import load_or_compute, tree_files, tree_key
from routing.trees import NO_NODE

if TYPE_CHECKING:
    from geodata.dataset import Dataset


def receiving(ds: Dataset) -> dict[str, tuple[float, float]]:
    return {f.id: (f.location.lon, f.location.lat) for f in ds.facilities if f.receiving}


def origins(ds: Dataset) -> dict[str, tuple[float, float]]:
    return {f.id: (f.location.lon, f.location.lat) for f in ds.facilities if not f.receiving}


def same_answers(a: RoutingEngine, b: RoutingEngine, ds: Dataset) -> None:
    ma, mb = a.matrix(origins(ds)), b.matrix(origins(ds))
    assert np.array_equal(ma.time_s, mb.time_s)
    assert np.array_equal(ma.distance_m, mb.distance_m)
    assert a.travel_times(109.2, 1.45) == b.travel_times(109.2, 1.45)
    fid = a.facility_ids[0]
    assert a.route(109.2, 1.45, fid) == b.route(109.2, 1.45, fid)


def mapped_from_file(a: np.ndarray) -> bool:
    """Whether the array's memory is a mapping of a file (np.memmap somewhere down its bases)."""
    while a is not None:
        if isinstance(a, np.memmap):
            return True
        a = a.base  # type: ignore[assignment]
    return False


def digest(paths: tuple[Path, ...]) -> str:
    h = hashlib.sha256()
    for p in paths:
        h.update(p.read_bytes())
    return h.hexdigest()


def test_miss_then_hit_read_only_mapped_and_same_answers(tmp_path: Path, sambas: Dataset) -> None:
    first = RoutingEngine(sambas.roads, receiving(sambas), cache_dir=tmp_path)
    assert first.trees_computed
    assert len(list(tmp_path.glob("trees-*.json"))) == 1
    second = RoutingEngine(sambas.roads, receiving(sambas), cache_dir=tmp_path)
    assert not second.trees_computed
    for e in (first, second):
        for arr in (e._base.base.keys, e._base.base.dist, e._base.base.pred):
            assert mapped_from_file(arr)
            assert not arr.flags.writeable
            with pytest.raises(ValueError, match="read-only"):
                arr[0] = 1
    same_answers(second, RoutingEngine(sambas.roads, receiving(sambas)), sambas)
    same_answers(first, second, sambas)


def slower(graph: RoadGraph, factor: float) -> RoadGraph:
    return RoadGraph(
        node_id=graph.node_id,
        lon=graph.lon,
        lat=graph.lat,
        edge_u=graph.edge_u,
        edge_v=graph.edge_v,
        length_m=graph.length_m,
        travel_time_s=graph.travel_time_s * factor,
        edge_class=graph.edge_class,
        class_names=graph.class_names,
        modelled=graph.modelled,
        source=graph.source,
    )


def test_a_changed_graph_or_facility_set_is_computed_anew(tmp_path: Path, sambas: Dataset) -> None:
    RoutingEngine(sambas.roads, receiving(sambas), cache_dir=tmp_path)
    changed = slower(sambas.roads, 1.5)
    e = RoutingEngine(changed, receiving(sambas), cache_dir=tmp_path)
    assert e.trees_computed
    same_answers(e, RoutingEngine(changed, receiving(sambas)), sambas)
    fewer = dict(list(receiving(sambas).items())[:-1])
    assert RoutingEngine(sambas.roads, fewer, cache_dir=tmp_path).trees_computed
    assert len(list(tmp_path.glob("trees-*.json"))) == 3
    again = RoutingEngine(changed, receiving(sambas), cache_dir=tmp_path)
    assert not again.trees_computed
    same_answers(again, e, sambas)


def key_of(e: RoutingEngine) -> str:
    return tree_key(e.graph.version, e._tree_nodes, e.graph.n_nodes, e.bound)


def truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:-100])


def wrong_source_entry(path: Path) -> None:
    a = np.load(path, mmap_mode="r+")
    a[:] = 7.0  # row 0's own node is among them: its time would not be 0
    a.flush()
    del a


def other_shape(path: Path) -> None:
    meta = json.loads(path.read_text())
    meta["n"] += 1
    path.write_text(json.dumps(meta))


@pytest.mark.parametrize(
    ("which", "damage"),
    [
        (0, truncate),
        (1, truncate),
        (2, truncate),
        (1, wrong_source_entry),
        (3, other_shape),
        (3, lambda p: p.unlink()),
    ],
    ids=[
        "keys truncated",
        "dist truncated",
        "pred truncated",
        "dist overwritten",
        "manifest of another shape",
        "no manifest",
    ],
)
def test_a_damaged_or_unfinished_set_is_computed_again(
    tmp_path: Path, sambas: Dataset, which: int, damage: object
) -> None:
    first = RoutingEngine(sambas.roads, receiving(sambas), cache_dir=tmp_path)
    files = tree_files(tmp_path, key_of(first))
    del first
    damage(files[which])  # type: ignore[operator]
    e = RoutingEngine(sambas.roads, receiving(sambas), cache_dir=tmp_path)
    assert e.trees_computed
    same_answers(e, RoutingEngine(sambas.roads, receiving(sambas)), sambas)
    assert not RoutingEngine(sambas.roads, receiving(sambas), cache_dir=tmp_path).trees_computed


def _slow_compute_in_process(cache_dir: str, log: str, start_at: float) -> bool:
    """A process that computes a small set slowly, counting its computations in ``log``."""
    nodes = np.array([0, 2], dtype=np.int64)

    def compute() -> SparseTrees:
        with Path(log).open("a") as f:
            f.write("computed\n")
        time.sleep(1.0)  # long enough for the other process to find nothing cached yet
        dist = np.ones((2, 5))
        pred = np.zeros((2, 5), dtype=np.int32)
        dist[[0, 1], nodes] = 0.0
        pred[[0, 1], nodes] = NO_NODE
        return from_rows(2, 5, np.inf, [0, 1], [sparse_row(dist[r], pred[r], np.inf) for r in range(2)])

    time.sleep(max(0.0, start_at - time.time()))
    trees, computed = load_or_compute(Path(cache_dir), "k", nodes, 5, compute)
    assert float(trees.get(np.array([0]), np.array([1]))[0][0]) == 1.0
    return computed


def test_two_processes_starting_together_compute_once(tmp_path: Path) -> None:
    log = tmp_path / "log"
    start_at = time.time() + 2.0  # both processes are up by then (spawned: a fresh interpreter)
    ctx = mp.get_context("spawn")
    with ctx.Pool(2) as pool:
        results = [
            pool.apply_async(_slow_compute_in_process, (str(tmp_path / "cache"), str(log), start_at))
            for _ in range(2)
        ]
        computed = sorted(r.get(timeout=60) for r in results)
    assert computed == [False, True]
    assert log.read_text().splitlines() == ["computed"]


def test_engines_in_two_processes_compute_once(tmp_path: Path) -> None:
    ctx = mp.get_context("spawn")
    start_at = time.time() + 3.0
    with ctx.Pool(2) as pool:
        results = [pool.apply_async(_engine_in_process, (str(tmp_path), start_at)) for _ in range(2)]
        got = [r.get(timeout=120) for r in results]
    assert sorted(computed for computed, _ in got) == [False, True]
    assert got[0][1] == got[1][1]  # the same times in both


def _engine_in_process(cache_dir: str, start_at: float) -> tuple[bool, list[float | None]]:
    ds = load_dataset(bundled_dataset_path("sambas"))
    time.sleep(max(0.0, start_at - time.time()))
    e = RoutingEngine(ds.roads, receiving(ds), cache_dir=Path(cache_dir))
    return e.trees_computed, [t.time_s for t in e.travel_times(109.2, 1.45).times]


def closures(e: RoutingEngine) -> RoadCondition:
    """Closures of the roads into the first tree's facility node on its paths (so times change)."""
    target = int(e._tree_nodes[0])
    users = np.flatnonzero(e.tree_arrays()[1][0] == target)
    edges: list[int] = []
    for u in users.tolist():
        edges.extend(e.edges_between(int(e.graph.node_id[u]), int(e.graph.node_id[target]), both_ways=False))
    assert edges
    return RoadCondition.closure("flood", edges=tuple(edges))


def test_a_repair_with_cached_trees_gives_the_same_times_and_leaves_the_file(
    tmp_path: Path, sambas: Dataset
) -> None:
    RoutingEngine(sambas.roads, receiving(sambas), cache_dir=tmp_path)
    cached = RoutingEngine(sambas.roads, receiving(sambas), cache_dir=tmp_path)
    plain = RoutingEngine(sambas.roads, receiving(sambas))
    files = tree_files(tmp_path, key_of(cached))
    before = digest(files)
    base = cached.matrix(origins(sambas)).time_s
    cond = closures(cached)
    cached.apply_condition(cond)
    plain.apply_condition(cond)
    assert cached.last_update_trees > 0
    same_answers(cached, plain, sambas)
    assert not np.array_equal(cached.matrix(origins(sambas)).time_s, base)  # the closure mattered
    assert cached._trees.replaced.any()  # repaired rows of this process's own
    assert not cached._trees.base.dist.flags.writeable  # the mapped file is only read
    assert digest(files) == before
    # another process (engine) opening the cache now sees the trees without the closure
    other = RoutingEngine(sambas.roads, receiving(sambas), cache_dir=tmp_path)
    assert np.array_equal(other.matrix(origins(sambas)).time_s, base)
    cached.remove_condition("flood")
    plain.remove_condition("flood")
    same_answers(cached, plain, sambas)
    assert np.array_equal(cached.matrix(origins(sambas)).time_s, base)
    assert digest(files) == before
