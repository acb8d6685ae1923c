"""Reverse shortest-path trees: for each receiving facility, the travel time from every node.

Row i of ``dist`` holds the time (s) from each node to facility node ``i``; row i of ``pred``
holds the next node on that fastest path (-9999 at the facility and where unreachable). Trees are
computed with SciPy's Dijkstra on the reverse graph, in worker processes when asked (SciPy holds
the GIL), writing straight into shared memory.
"""

from __future__ import annotations

import itertools
import multiprocessing as mp
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import shared_memory
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import dijkstra

if TYPE_CHECKING:
    from collections.abc import Sequence

NO_NODE = -9999
#: Below this many trees the start-up of worker processes costs more than it saves.
MIN_TREES_PER_WORKER = 4


def _trees_into(  # noqa: PLR0917  internal, called positionally
    data: npt.NDArray[np.float64],
    indices: npt.NDArray[np.int64],
    indptr: npt.NDArray[np.int64],
    sources: Sequence[int],
    dist_out: npt.NDArray[np.float64],
    pred_out: npt.NDArray[np.int32],
) -> None:
    n = len(indptr) - 1
    m = csr_matrix((data, indices, indptr), shape=(n, n))
    for row, s in enumerate(sources):
        d, p = dijkstra(m, directed=True, indices=int(s), return_predecessors=True)
        dist_out[row] = d
        pred_out[row] = p


def _worker(  # noqa: PLR0917  submitted to a process pool positionally
    data: npt.NDArray[np.float64],
    indices: npt.NDArray[np.int64],
    indptr: npt.NDArray[np.int64],
    sources: list[int],
    first_row: int,
    dist_name: str,
    pred_name: str,
    shape: tuple[int, int],
) -> None:
    dist_shm = shared_memory.SharedMemory(name=dist_name)
    pred_shm = shared_memory.SharedMemory(name=pred_name)
    try:
        dist = np.ndarray(shape, dtype=np.float64, buffer=dist_shm.buf)
        pred = np.ndarray(shape, dtype=np.int32, buffer=pred_shm.buf)
        rows = slice(first_row, first_row + len(sources))
        _trees_into(data, indices, indptr, sources, dist[rows], pred[rows])
    finally:
        dist_shm.close()
        pred_shm.close()


def compute_trees(
    reverse: csr_matrix, sources: Sequence[int], *, workers: int = 1
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.int32]]:
    """Dijkstra from each source on the reverse graph: ``(dist, pred)``, one row per source."""
    k, n = len(sources), reverse.shape[0]
    data = np.asarray(reverse.data, dtype=np.float64)
    indices = np.asarray(reverse.indices, dtype=np.int64)
    indptr = np.asarray(reverse.indptr, dtype=np.int64)
    n_workers = max(1, min(workers, k // MIN_TREES_PER_WORKER))
    if n_workers == 1:
        dist = np.empty((k, n), dtype=np.float64)
        pred = np.empty((k, n), dtype=np.int32)
        _trees_into(data, indices, indptr, sources, dist, pred)
        return dist, pred
    dist_shm = shared_memory.SharedMemory(create=True, size=max(1, k * n * 8))
    pred_shm = shared_memory.SharedMemory(create=True, size=max(1, k * n * 4))
    try:
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
                    dist_shm.name,
                    pred_shm.name,
                    (k, n),
                )
                for a, b in itertools.pairwise(bounds)
                if b > a
            ]
            for f in futures:
                f.result()
        dist = np.ndarray((k, n), dtype=np.float64, buffer=dist_shm.buf).copy()
        pred = np.ndarray((k, n), dtype=np.int32, buffer=pred_shm.buf).copy()
    finally:
        dist_shm.close()
        dist_shm.unlink()
        pred_shm.close()
        pred_shm.unlink()
    return dist, pred
