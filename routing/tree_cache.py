"""Facility trees on disk: computed once per graph version and bound, memory-mapped by every process.

A set of trees is named by a *key*: a hash of the road graph's version (a hash of all its
arrays), the tree nodes (the facility set), the reach bound, and ``TREES_FORMAT`` (the tree
algorithm's and layout's version). It is kept as three ``.npy`` files (``keys``, ``dist``,
``pred``: the sparse entries of ``routing.sparse_trees``) and a manifest written last, so a set
without its manifest is unfinished. Every file is written under a temporary name and renamed
into place; an exclusive file lock per key makes processes that start together wait for the
one that computes instead of computing too. The arrays are opened with
``numpy.load(mmap_mode="r")``: read-only, their pages in the OS page cache are shared by every
process of the host. A set that does not open, has the wrong length or dtype, or whose trees do
not start at their own nodes is computed and written again.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import tempfile
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

import numpy as np
from filelock import FileLock

from routing.sparse_trees import SparseTrees
from routing.trees import NO_NODE

if TYPE_CHECKING:
    from collections.abc import Callable

    import numpy.typing as npt

    from routing.compiled import IntArray

log = logging.getLogger(__name__)

#: Bump when what is written changes: every cached set is then computed anew.
#: 2: sparse entries bounded by reach (1 was dense ``(k, n)`` arrays).
TREES_FORMAT = 2
_PARTS = ("keys", "dist", "pred")
_DTYPES = (np.int64, np.float64, np.int32)


def tree_key(graph_version: str, tree_nodes: IntArray, n_nodes: int, bound: float = math.inf) -> str:
    """The name of a set of trees: graph version, tree nodes, bound and the algorithm's version."""
    h = hashlib.sha256(
        f"rujuk-trees\x1f{TREES_FORMAT}\x1f{graph_version}\x1f{n_nodes}\x1f{float(bound)!r}\x1f".encode()
    )
    h.update(np.asarray(tree_nodes, dtype="<i8").tobytes())
    return h.hexdigest()[:24]


def tree_files(cache_dir: Path, key: str) -> tuple[Path, Path, Path, Path]:
    """The ``keys``, ``dist`` and ``pred`` arrays and the manifest of a set."""
    base = Path(cache_dir) / f"trees-{key}"
    return (
        base.with_suffix(".keys.npy"),
        base.with_suffix(".dist.npy"),
        base.with_suffix(".pred.npy"),
        base.with_suffix(".json"),
    )


def _check(trees: SparseTrees, tree_nodes: IntArray) -> None:
    rows = np.arange(len(tree_nodes))
    d, p = trees.get(rows, np.asarray(tree_nodes, dtype=np.int64))
    if np.any(d != 0.0) or np.any(p != NO_NODE):
        msg = "a tree does not start at its own node"
        raise ValueError(msg)
    ends = trees.keys[[0, -1]] if trees.n_entries else np.zeros(0, np.int64)
    if np.any(ends < 0) or np.any(ends >= trees.k * trees.n):
        msg = "keys out of range"
        raise ValueError(msg)


def open_trees(
    cache_dir: Path, key: str, tree_nodes: IntArray, n_nodes: int, bound: float = math.inf
) -> SparseTrees | None:
    """The cached set, memory-mapped read-only, or None when it is missing, unfinished or does
    not check out."""  # noqa: D205, D209
    *paths, manifest = tree_files(cache_dir, key)
    if not manifest.is_file():
        return None
    k = len(tree_nodes)
    try:
        meta = json.loads(manifest.read_text())
        if (
            meta.get("key") != key
            or meta.get("format") != TREES_FORMAT
            or meta.get("k") != k
            or meta.get("n") != n_nodes
            or meta.get("bound") != (float(bound) if math.isfinite(bound) else None)
        ):
            msg = f"manifest {meta!r} is not for this set ({k} trees, {n_nodes} nodes, bound {bound})"
            raise ValueError(msg)  # noqa: TRY301  one path for every kind of damage
        arrays = [np.load(p, mmap_mode="r", allow_pickle=False) for p in paths]
        entries = meta.get("entries")
        for a, dtype in zip(arrays, _DTYPES, strict=True):
            if a.shape != (entries,) or a.dtype != dtype:
                msg = f"array {a.shape} {a.dtype}, expected ({entries},) {np.dtype(dtype)}"
                raise ValueError(msg)  # noqa: TRY301
        trees = SparseTrees(k, n_nodes, float(bound), arrays[0], arrays[1], arrays[2])
        _check(trees, tree_nodes)
    except (OSError, ValueError, EOFError) as exc:
        log.warning("facility trees %s in %s are damaged (%s): computing them again", key, cache_dir, exc)
        return None
    return trees


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


def _save(a: npt.NDArray[np.generic], f: BinaryIO) -> None:
    np.save(f, np.ascontiguousarray(a))


def save_trees(cache_dir: Path, key: str, trees: SparseTrees) -> None:
    """Write a set: each array under a temporary name then renamed, the manifest last."""
    *paths, manifest = tree_files(cache_dir, key)
    manifest.unlink(missing_ok=True)  # the set is unfinished until the new manifest is in place
    arrays: tuple[npt.NDArray[np.generic], ...] = (trees.keys, trees.dist, trees.pred)
    for path, a in zip(paths, arrays, strict=True):
        _write_atomically(path, partial(_save, a))
    meta = {
        "key": key,
        "format": TREES_FORMAT,
        "k": trees.k,
        "n": trees.n,
        "bound": trees.bound if math.isfinite(trees.bound) else None,
        "entries": trees.n_entries,
    }
    _write_atomically(manifest, lambda f: f.write(json.dumps(meta).encode()))


def cache_bytes(cache_dir: Path, key: str) -> int:
    """Bytes a cached set takes up on disk."""
    return sum(p.stat().st_size for p in tree_files(cache_dir, key) if p.is_file())


def load_or_compute(
    cache_dir: Path,
    key: str,
    tree_nodes: IntArray,
    n_nodes: int,
    compute: Callable[[], SparseTrees],
    bound: float = math.inf,
) -> tuple[SparseTrees, bool]:
    """The set from the cache, else computed (by one process at a time), written and opened.

    Returns the read-only memory-mapped trees and whether this call computed them.
    """
    hit = open_trees(cache_dir, key, tree_nodes, n_nodes, bound)
    if hit is not None:
        return hit, False
    cache_dir = Path(cache_dir)
    cache_dir.mkdir(parents=True, exist_ok=True)
    with FileLock(str(tree_files(cache_dir, key)[-1].with_suffix(".lock"))):
        hit = open_trees(cache_dir, key, tree_nodes, n_nodes, bound)  # written while this process waited
        if hit is not None:
            return hit, False
        trees = compute()
        try:
            save_trees(cache_dir, key, trees)
        except OSError as exc:  # a full or read-only disk: serve from memory rather than not at all
            log.warning("facility trees %s not written to %s (%s)", key, cache_dir, exc)
            return trees, True
    del trees
    opened = open_trees(cache_dir, key, tree_nodes, n_nodes, bound)
    if opened is None:
        msg = f"facility trees {key} written to {cache_dir} do not read back"
        raise OSError(msg)
    return opened, True
