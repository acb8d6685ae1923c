"""The compiled graph and snapping index cached on disk: hit, miss, damaged; the same answers."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pytest

from routing.compiled import ARRAYS
from routing.engine import RoutingEngine
from routing.graph_cache import graph_dir, graph_key
from tests.routing.test_tree_cache import mapped_from_file, origins, receiving, same_answers, slower

if TYPE_CHECKING:
    from geodata.dataset import Dataset


def snaps_equal(a: RoutingEngine, b: RoutingEngine, ds: Dataset) -> None:
    rng = np.random.default_rng(5)
    lon = rng.uniform(ds.roads.lon.min(), ds.roads.lon.max(), 200)
    lat = rng.uniform(ds.roads.lat.min(), ds.roads.lat.max(), 200)
    pts = list(zip(lon.tolist(), lat.tolist(), strict=True))
    assert a.snapper.snap_many(pts) == b.snapper.snap_many(pts)
    assert [a.snapper.nearest_node(x, y) for x, y in pts[:50]] == [
        b.snapper.nearest_node(x, y) for x, y in pts[:50]
    ]


def test_miss_then_hit_mapped_and_same_answers(tmp_path: Path, sambas: Dataset) -> None:
    first = RoutingEngine(sambas.roads, receiving(sambas), cache_dir=tmp_path)
    assert first.graph_built
    assert (graph_dir(tmp_path, graph_key(sambas.roads.version)) / "manifest.json").is_file()
    second = RoutingEngine(sambas.roads, receiving(sambas), cache_dir=tmp_path)
    assert not second.graph_built and not second.trees_computed
    for name in ARRAYS:
        if not name.startswith("base_"):
            arr = getattr(second.compiled, name)
            assert mapped_from_file(arr) and not arr.flags.writeable, name
            assert np.array_equal(arr, getattr(first.compiled, name)), name
    assert mapped_from_file(second.snapper._sample_seg)
    plain = RoutingEngine(sambas.roads, receiving(sambas))
    same_answers(second, plain, sambas)
    snaps_equal(second, plain, sambas)
    np.testing.assert_array_equal(second.matrix(origins(sambas)).time_s, plain.matrix(origins(sambas)).time_s)


def test_another_graph_has_its_own(tmp_path: Path, sambas: Dataset) -> None:
    RoutingEngine(sambas.roads, receiving(sambas), cache_dir=tmp_path)
    changed = slower(sambas.roads, 1.5)
    e = RoutingEngine(changed, receiving(sambas), cache_dir=tmp_path)
    assert e.graph_built
    same_answers(e, RoutingEngine(changed, receiving(sambas)), sambas)
    assert len(list(tmp_path.glob("graph-*/manifest.json"))) == 2


@pytest.mark.parametrize("victim", ["pair_key.npy", "tree.buffer.npy", "manifest.json", "seg_a.npy"])
def test_a_damaged_one_is_built_again(tmp_path: Path, sambas: Dataset, victim: str) -> None:
    RoutingEngine(sambas.roads, receiving(sambas), cache_dir=tmp_path)
    path = graph_dir(tmp_path, graph_key(sambas.roads.version)) / victim
    path.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 2])
    e = RoutingEngine(sambas.roads, receiving(sambas), cache_dir=tmp_path)
    assert e.graph_built
    plain = RoutingEngine(sambas.roads, receiving(sambas))
    same_answers(e, plain, sambas)
    snaps_equal(e, plain, sambas)
    assert not RoutingEngine(sambas.roads, receiving(sambas), cache_dir=tmp_path).graph_built


def test_the_snapping_trees_are_made_when_first_needed(tmp_path: Path, sambas: Dataset) -> None:
    RoutingEngine(sambas.roads, receiving(sambas), cache_dir=tmp_path)
    cached = RoutingEngine(sambas.roads, receiving(sambas), cache_dir=tmp_path, warm=False)
    index = cached.snapper.index
    assert not cached.graph_built and not index.tree_made and not index.node_tree_made  # facilities attached
    f = sambas.facilities[0].location
    cached.snapper.snap(f.lon, f.lat)
    assert index.tree_made and not index.node_tree_made
    again = RoutingEngine(sambas.roads, receiving(sambas), cache_dir=tmp_path, warm=False)
    again.warm_up()  # the service's warm-up makes the samples' tree, the one snapping needs
    assert again.snapper.index.tree_made


def test_nearest_node_by_scan_and_by_kd_tree_agree(
    tmp_path: Path, sambas: Dataset, monkeypatch: pytest.MonkeyPatch
) -> None:
    RoutingEngine(sambas.roads, receiving(sambas), cache_dir=tmp_path, warm=False)  # writes the cache
    e = RoutingEngine(sambas.roads, receiving(sambas), cache_dir=tmp_path, warm=False)
    rng = np.random.default_rng(11)
    lon = rng.uniform(sambas.roads.lon.min(), sambas.roads.lon.max(), 300)
    lat = rng.uniform(sambas.roads.lat.min(), sambas.roads.lat.max(), 300)
    pts = [
        *zip(lon.tolist(), lat.tolist(), strict=True),
        *zip(sambas.roads.lon, sambas.roads.lat, strict=True),
    ]
    scanned = [e.snapper.nearest_node(float(x), float(y)) for x, y in pts]
    assert not e.snapper.index.node_tree_made
    monkeypatch.setattr("routing.snapping.NEAREST_SCAN_NODES", 0)
    assert [e.snapper.nearest_node(float(x), float(y)) for x, y in pts] == scanned
    assert e.snapper.index.node_tree_made and not e.snapper.index.tree_made
    # a node's own position gives the node, or the lowest-numbered node at the same place
    n = sambas.roads.n_nodes
    own = [node for node, _ in scanned[-n:]]
    xy = np.column_stack([sambas.roads.lon, sambas.roads.lat])
    for i, node in enumerate(own):
        assert node <= i and np.array_equal(xy[node], xy[i])


def test_a_kd_tree_that_does_not_fit_is_built_again(tmp_path: Path, sambas: Dataset) -> None:
    RoutingEngine(sambas.roads, receiving(sambas), cache_dir=tmp_path)
    src = graph_dir(tmp_path, graph_key(sambas.roads.version))
    data = np.load(src / "node_tree.data.npy")
    np.save(src / "node_tree.data.npy", data[:-1])  # a readable array of the wrong size
    e = RoutingEngine(sambas.roads, receiving(sambas), cache_dir=tmp_path)
    assert e.graph_built
    same_answers(e, RoutingEngine(sambas.roads, receiving(sambas)), sambas)
