"""Reverse shortest-path trees: for each receiving facility, the travel time from every node.

Row i of ``dist`` holds the time (s) from each node to facility node ``i``; row i of ``pred``
holds the next node on that fastest path (-9999 at the facility and where unreachable). Trees are
computed with SciPy's Dijkstra on the reverse graph, in worker processes when asked (SciPy holds
the GIL), writing straight into memory-mapped scratch files.
"""

from __future__ import annotations

import itertools
import multiprocessing as mp
import shutil
import tempfile
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    from collections.abc import Sequence

    from scipy.sparse import csr_matrix

NO_NODE = -9999
#: Below this many trees per worker, or this much work (trees x edges), starting worker
#: processes (about half a second) costs more than it saves.
MIN_TREES_PER_WORKER = 4
MIN_PARALLEL_WORK = 20_000_000


def _trees_into(
    data: npt.NDArray[np.float64],
    indices: npt.NDArray[np.int64],
    indptr: npt.NDArray[np.int64],
    sources: Sequence[int],
    dist_out: npt.NDArray[np.float64],
    pred_out: npt.NDArray[np.int32],
) -> None:
    from scipy.sparse import csr_matrix  # noqa: PLC0415  SciPy's import is 0.2-0.5 s: not on a cached start
    from scipy.sparse.csgraph import dijkstra  # noqa: PLC0415  SciPy's import is 0.2-0.5 s: not on a cached start

    n = len(indptr) - 1
    m = csr_matrix((data, indices, indptr), shape=(n, n))
    for row, s in enumerate(sources):
        d, p = dijkstra(m, directed=True, indices=int(s), return_predecessors=True)
        dist_out[row] = d
        pred_out[row] = p


def _worker(
    data: npt.NDArray[np.float64],
    indices: npt.NDArray[np.int64],
    indptr: npt.NDArray[np.int64],
    sources: list[int],
    first_row: int,
    dist_path: str,
    pred_path: str,
    shape: tuple[int, int],
) -> None:
    dist = np.memmap(dist_path, dtype=np.float64, mode="r+", shape=shape)
    pred = np.memmap(pred_path, dtype=np.int32, mode="r+", shape=shape)
    rows = slice(first_row, first_row + len(sources))
    _trees_into(data, indices, indptr, sources, dist[rows], pred[rows])
    dist.flush()
    pred.flush()
    del dist, pred


def _scratch_dir(nbytes: int) -> str | None:
    """RAM-backed /dev/shm when it has room, else the default temporary directory."""
    shm = Path("/dev/shm")  # noqa: S108  the RAM-backed directory, on purpose
    if shm.is_dir() and shutil.disk_usage(shm).free > 2 * nbytes:
        return str(shm)
    return None


def compute_trees(
    reverse: csr_matrix, sources: Sequence[int], *, workers: int = 1
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.int32]]:
    """Dijkstra from each source on the reverse graph: ``(dist, pred)``, one row per source.

    With several workers the rows are written by worker processes into memory-mapped scratch
    files that become the returned arrays (no copy; the files are unlinked at once).
    """
    k, n = len(sources), reverse.shape[0]
    data = np.asarray(reverse.data, dtype=np.float64)
    indices = np.asarray(reverse.indices, dtype=np.int64)
    indptr = np.asarray(reverse.indptr, dtype=np.int64)
    n_workers = max(1, min(workers, k // MIN_TREES_PER_WORKER))
    if k * len(data) < MIN_PARALLEL_WORK:
        n_workers = 1
    if n_workers == 1:
        dist = np.empty((k, n), dtype=np.float64)
        pred = np.empty((k, n), dtype=np.int32)
        _trees_into(data, indices, indptr, sources, dist, pred)
        return dist, pred
    with tempfile.TemporaryDirectory(prefix="rujuk-trees-", dir=_scratch_dir(k * n * 12)) as tmp:
        dist_path, pred_path = str(Path(tmp) / "dist"), str(Path(tmp) / "pred")
        dist = np.memmap(dist_path, dtype=np.float64, mode="w+", shape=(k, n))
        pred = np.memmap(pred_path, dtype=np.int32, mode="w+", shape=(k, n))
        bounds = np.linspace(0, k, n_workers + 1).astype(int)
        with ProcessPoolExecutor(n_workers, mp_context=mp.get_context("spawn")) as pool:
            futures = [
                pool.submit(
                    _worker,
                    data,
                    indices,
                    indptr,
                    [int(s) for s in sources[a:b]],
                    int(a),
                    dist_path,
                    pred_path,
                    (k, n),
                )
                for a, b in itertools.pairwise(bounds)
                if b > a
            ]
            for f in futures:
                f.result()
    # the directory is gone; the mappings stay valid until the arrays are released
    return dist, pred
