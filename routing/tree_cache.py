"""Facility trees on disk: computed once per graph version, memory-mapped by every process.

A set of trees is named by a *key*: a hash of the road graph's version (a hash of all its
arrays), the tree nodes (the facility set), and ``TREES_FORMAT`` (the tree algorithm's version).
It is kept as two ``.npy`` files (``dist``, ``pred``) and a manifest written last, so a set
without its manifest is unfinished. Every file is written under a temporary name and renamed
into place; an exclusive file lock per key makes processes that start together wait for the
one that computes instead of computing too. The arrays are opened with
``numpy.load(mmap_mode="r")``: read-only, their pages in the OS page cache are shared by every
process of the host. A set that does not open, has the wrong shape or dtype, or whose trees do
not start at their own nodes is computed and written again.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, Literal

import numpy as np
from filelock import FileLock

from routing.trees import NO_NODE

if TYPE_CHECKING:
    from collections.abc import Callable

    import numpy.typing as npt

    from routing.compiled import FloatArray, IntArray

    Trees = tuple[FloatArray, npt.NDArray[np.int32]]

log = logging.getLogger(__name__)

#: Bump when ``compute_trees`` changes what it writes: every cached set is then computed anew.
TREES_FORMAT = 1


def tree_key(graph_version: str, tree_nodes: IntArray, n_nodes: int) -> str:
    """The name of a set of trees: graph version, tree nodes and the algorithm's version."""
    h = hashlib.sha256(f"rujuk-trees\x1f{TREES_FORMAT}\x1f{graph_version}\x1f{n_nodes}\x1f".encode())
    h.update(np.asarray(tree_nodes, dtype="<i8").tobytes())
    return h.hexdigest()[:24]


def tree_files(cache_dir: Path, key: str) -> tuple[Path, Path, Path]:
    """The ``dist`` and ``pred`` arrays and the manifest of a set."""
    base = Path(cache_dir) / f"trees-{key}"
    return base.with_suffix(".dist.npy"), base.with_suffix(".pred.npy"), base.with_suffix(".json")


def open_trees(
    cache_dir: Path, key: str, tree_nodes: IntArray, n_nodes: int, *, mode: Literal["r", "c"] = "r"
) -> Trees | None:
    """The cached set as memory-mapped arrays (``mode`` "r", or "c": writes stay in this process),
    or None when it is missing, unfinished or does not check out."""  # noqa: D205, D209
    dist_path, pred_path, manifest = tree_files(cache_dir, key)
    if not manifest.is_file():
        return None
    shape = (len(tree_nodes), n_nodes)
    try:
        meta = json.loads(manifest.read_text())
        if (
            meta.get("key") != key
            or meta.get("format") != TREES_FORMAT
            or tuple(meta.get("shape", ())) != shape
        ):
            msg = f"manifest {meta!r} is not for this set {shape}"
            raise ValueError(msg)  # noqa: TRY301  one path for every kind of damage
        dist = np.load(dist_path, mmap_mode=mode, allow_pickle=False)
        pred = np.load(pred_path, mmap_mode=mode, allow_pickle=False)
        if dist.shape != shape or pred.shape != shape or dist.dtype != np.float64 or pred.dtype != np.int32:
            msg = f"arrays {dist.shape} {dist.dtype} / {pred.shape} {pred.dtype}, expected {shape}"
            raise ValueError(msg)  # noqa: TRY301
        rows = np.arange(len(tree_nodes))
        if np.any(dist[rows, tree_nodes] != 0.0) or np.any(pred[rows, tree_nodes] != NO_NODE):
            msg = "a tree does not start at its own node"
            raise ValueError(msg)  # noqa: TRY301
    except (OSError, ValueError, EOFError) as exc:
        log.warning("facility trees %s in %s are damaged (%s): computing them again", key, cache_dir, exc)
        return None
    return dist, pred


def _write_atomically(path: Path, write: Callable[[BinaryIO], object]) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        Path(tmp).replace(path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save_trees(cache_dir: Path, key: str, dist: FloatArray, pred: npt.NDArray[np.int32]) -> None:
    """Write a set: each array under a temporary name then renamed, the manifest last."""
    dist_path, pred_path, manifest = tree_files(cache_dir, key)
    manifest.unlink(missing_ok=True)  # the set is unfinished until the new manifest is in place
    _write_atomically(dist_path, lambda f: np.save(f, np.ascontiguousarray(dist, dtype=np.float64)))
    _write_atomically(pred_path, lambda f: np.save(f, np.ascontiguousarray(pred, dtype=np.int32)))
    meta = {"key": key, "format": TREES_FORMAT, "shape": list(dist.shape)}
    _write_atomically(manifest, lambda f: f.write(json.dumps(meta).encode()))


def load_or_compute(
    cache_dir: Path, key: str, tree_nodes: IntArray, n_nodes: int, compute: Callable[[], Trees]
) -> tuple[Trees, bool]:
    """The set from the cache, else computed (by one process at a time), written and opened.

    Returns the read-only memory-mapped arrays and whether this call computed them.
    """
    hit = open_trees(cache_dir, key, tree_nodes, n_nodes)
    if hit is not None:
        return hit, False
    cache_dir = Path(cache_dir)
    cache_dir.mkdir(parents=True, exist_ok=True)
    with FileLock(str(tree_files(cache_dir, key)[2].with_suffix(".lock"))):
        hit = open_trees(cache_dir, key, tree_nodes, n_nodes)  # written while this process waited
        if hit is not None:
            return hit, False
        dist, pred = compute()
        try:
            save_trees(cache_dir, key, dist, pred)
        except OSError as exc:  # a full or read-only disk: serve from memory rather than not at all
            log.warning("facility trees %s not written to %s (%s)", key, cache_dir, exc)
            return (dist, pred), True
    del dist, pred
    opened = open_trees(cache_dir, key, tree_nodes, n_nodes)
    if opened is None:
        msg = f"facility trees {key} written to {cache_dir} do not read back"
        raise OSError(msg)
    return opened, True
