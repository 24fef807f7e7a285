"""Shortest-path searches compiled with numba: on a raster grid (the friction model's engine,
:func:`grid_times`) and on a sparse graph (the road model's, :func:`graph_times`). Both stop
at a time limit (the cut-off) and give path lengths beside the times.

Grid. The graph is scikit-image's ``MCP_Geometric`` one (``fully_connected=True``): every pixel is
a node joined to its 8 neighbours; a pixel's cost is the minutes to cross it; a move from
pixel ``a`` to pixel ``b`` costs ``length x 0.5 x (cost_a + cost_b)`` with length 1 along a
row or column and sqrt(2) along a diagonal; a pixel of infinite cost cannot be entered; the
source pixel has time 0. :func:`grid_times` gives the same times as one
``MCP_Geometric(cost).find_costs([source])`` per source (the same floating-point formula in
the same order: equal to the last bit on the tests and the benchmark inputs).

The search is Dijkstra's with a bucket queue instead of a heap (Dinitz's variant of Dial's
algorithm): every move costs at least ``delta``, the smallest finite pixel cost, so all the
pixels whose time lies in ``[k delta, (k + 1) delta)`` are final once the buckets before
have been settled, and can be settled in any order; each pixel is pushed and popped in O(1).
Buckets are kept on a ring of ``max move / delta + 2`` slots. The search of a source stops
at ``limit_min`` (times above it are not needed), so a cut-off bounds the work by the
pixels within reach.

Graph. :func:`graph_times` runs ``scipy.sparse.csgraph.dijkstra`` with ``limit`` and sums
the metres of each fastest path along the search tree, read at the nodes asked for only.

numba is imported on first use (a heavy dependency only these models need); the compiled
code is cached beside this module.
"""

from __future__ import annotations

import functools
import logging
import math

import numpy as np
from scipy.sparse import csgraph

from gis.errors import GisError

log = logging.getLogger(__name__)

SQRT2 = math.sqrt(2.0)
MAX_BUCKETS = 1 << 26


def _bucket_search(cost, n_rows, n_cols, sources, limit, delta, n_buckets, targets, out,
                   out_steps, e_node, e_next):
    """Dinitz's bucket Dijkstra on the 8-neighbour grid from each source (numba-compiled).

    ``cost`` is the flat pixel costs (inf = impassable), ``sources`` and ``targets`` flat
    pixel indices; ``out[s, j]`` gets the time from source ``s`` to ``targets[j]`` (inf when
    above ``limit`` or unreached), ``out_steps[s, j]`` the length of that path in pixel
    sides (NaN where no time). ``e_node``, ``e_next`` hold the queue's entries. Returns
    the number of sources done: fewer than given when the entries ran out (the caller
    gives more room and goes on from there).
    """
    # pragma: no mutate block (numba compiles this function: mutmut's trampoline would not)
    n = n_rows * n_cols
    dist = np.empty(n)
    steps = np.empty(n)
    done = np.empty(n, np.bool_)
    head = np.empty(n_buckets, np.int64)
    cap = e_node.shape[0]
    d_row = (-1, -1, -1, 0, 0, 1, 1, 1)
    d_col = (-1, 0, 1, -1, 1, -1, 0, 1)
    diag = math.sqrt(2.0)
    for s in range(sources.shape[0]):
        dist[:] = np.inf
        done[:] = False
        head[:] = -1
        dist[sources[s]] = 0.0
        steps[sources[s]] = 0.0
        e_node[0] = sources[s]
        e_next[0] = -1
        head[0] = 0
        used = 1
        free = -1
        pending = 1
        k = 0
        while pending > 0 and k * delta <= limit:
            slot = k % n_buckets
            while head[slot] != -1:    # pushes into bucket k itself (rounding) are redone
                e = head[slot]
                head[slot] = -1
                while e != -1:
                    u = e_node[e]
                    nxt = e_next[e]
                    e_next[e] = free   # the entry goes back to the free list
                    free = e
                    pending -= 1
                    e = nxt
                    if done[u]:
                        continue       # a stale entry: u was settled from an earlier one
                    done[u] = True
                    d = dist[u]
                    r = u // n_cols
                    c = u - r * n_cols
                    cu = cost[u]
                    for q in range(8):
                        rr = r + d_row[q]
                        cc = c + d_col[q]
                        if rr < 0 or rr >= n_rows or cc < 0 or cc >= n_cols:
                            continue
                        v = rr * n_cols + cc
                        cv = cost[v]
                        if done[v] or not cv < np.inf:
                            continue
                        length = diag if (d_row[q] != 0 and d_col[q] != 0) else 1.0
                        nd = d + length * 0.5 * (cu + cv)
                        if nd < dist[v]:
                            dist[v] = nd
                            steps[v] = steps[u] + length
                            b = int(nd / delta)
                            if b < k:
                                b = k
                            if free != -1:
                                f = free
                                free = e_next[f]
                            elif used == cap:
                                return s
                            else:
                                f = used
                                used += 1
                            slot_b = b % n_buckets
                            e_node[f] = v
                            e_next[f] = head[slot_b]
                            head[slot_b] = f
                            pending += 1
            k += 1
        for j in range(targets.shape[0]):
            t = dist[targets[j]]
            if t <= limit:
                out[s, j] = t
                out_steps[s, j] = steps[targets[j]]
            else:
                out[s, j] = np.inf
                out_steps[s, j] = np.nan
    return sources.shape[0]


def _tree_lengths(pred, indptr, indices, w_len, targets, out_m):
    """Metres along each search tree (``pred``: predecessors, one row per source, -9999 at
    the root and where unreached) from its root to each target (numba-compiled): a walk up
    from each target to a node already measured, then back down; every node is measured
    once per row. NaN where the target was not reached."""
    # pragma: no mutate block (numba compiles this function: mutmut's trampoline would not)
    k, n = pred.shape
    plen = np.empty(n)
    stack = np.empty(n, np.int64)
    for s in range(k):
        plen[:] = np.nan
        row = pred[s]
        for j in range(targets.shape[0]):
            v = targets[j]
            top = 0
            while np.isnan(plen[v]) and row[v] >= 0:
                stack[top] = v
                top += 1
                v = row[v]
            if np.isnan(plen[v]):
                # v has no predecessor: the root (length 0), or unreached (the caller
                # blanks targets without a time)
                plen[v] = 0.0
            while top > 0:
                top -= 1
                x = stack[top]
                p = row[x]
                w = np.nan
                for e in range(indptr[p], indptr[p + 1]):
                    if indices[e] == x:
                        w = w_len[e]
                        break
                plen[x] = plen[p] + w
            out_m[s, j] = plen[targets[j]]


@functools.cache
def _compiled():
    import numba  # heavy dependency (LLVM): imported when a model first searches

    return numba.njit(cache=True, nogil=True)(_bucket_search)


@functools.cache
def _compiled_tree():
    import numba  # heavy dependency (LLVM): imported when a model first searches

    return numba.njit(cache=True, nogil=True)(_tree_lengths)


def graph_times(graph_min, graph_m, sources: np.ndarray, targets: np.ndarray, *,
                limit_min: float = math.inf) -> tuple[np.ndarray, np.ndarray]:
    """Fastest paths on a directed graph from each source to each target node.

    The times are ``scipy.sparse.csgraph.dijkstra(graph_min, indices=sources,
    limit=limit_min)``; the metres of each fastest path are summed along the search tree
    (its predecessors) by a compiled walk.

    Parameters
    ----------
    graph_min, graph_m : scipy.sparse.csr_array
        Minutes and metres of each edge (row -> column), one sparsity pattern; minutes
        above 0 (csgraph drops explicit zeros).
    sources, targets : ndarray of int
        Node indices.
    limit_min : float
        Times above this are not needed (the search stops there; they come back ``inf``).

    Returns
    -------
    time_min, dist_m : ndarray, shape (n_sources, n_targets)
        Minutes (``inf`` above the limit or unreachable) and metres along that path (NaN
        where no time; among paths of equal time, the one the search kept).
    """
    if not (np.array_equal(graph_m.indptr, graph_min.indptr)
            and np.array_equal(graph_m.indices, graph_min.indices)):
        msg = "graph_times: the minutes and metres matrices must share one sparsity pattern"
        raise GisError(msg)
    sources = np.asarray(sources, np.int64).ravel()
    targets = np.asarray(targets, np.int64).ravel()
    out_t = np.full((len(sources), len(targets)), np.inf)
    out_m = np.full((len(sources), len(targets)), np.nan)
    if not len(sources) or not len(targets):
        return out_t, out_m
    dist, pred = csgraph.dijkstra(graph_min, directed=True, indices=sources, limit=limit_min,
                                  return_predecessors=True)
    out_t[:] = dist[:, targets]
    del dist
    _compiled_tree()(pred, np.asarray(graph_m.indptr, np.int64),
                     np.asarray(graph_m.indices, np.int64),
                     np.asarray(graph_m.data, np.float64), targets, out_m)
    out_m[~np.isfinite(out_t)] = np.nan
    return out_t, out_m


def bucket_width(cost: np.ndarray) -> tuple[float, int]:
    """``delta`` (the smallest finite pixel cost, a lower bound of every move) and the ring
    size for :func:`grid_times`."""
    finite = cost[np.isfinite(cost)]
    if not len(finite):
        return 1.0, 2
    lo, hi = float(finite.min()), float(finite.max())
    if not lo > 0:
        msg = (f"friction surface: a pixel costs {lo!r} minutes to cross; every passable "
               f"pixel needs a finite speed above 0")
        raise GisError(msg)
    n = int(SQRT2 * hi / lo) + 2
    if n > MAX_BUCKETS:
        msg = (f"friction surface: speeds range from {lo:g} to {hi:g} minutes per pixel, a "
               f"ratio above {MAX_BUCKETS / SQRT2:,.0f}; give the slowest land cover at least "
               f"a walking pace, or mark it impassable (speed 0)")
        raise GisError(msg)
    return lo, n


def grid_times(cost_min: np.ndarray, sources: np.ndarray, targets: np.ndarray, *,
               limit_min: float = math.inf, queue_entries: int | None = None
               ) -> tuple[np.ndarray, np.ndarray]:
    """Least-cost minutes from each source pixel to each target pixel, and the path lengths.

    Parameters
    ----------
    cost_min : ndarray, shape (rows, cols)
        Minutes to cross each pixel along a row (``inf``: impassable; finite costs > 0).
    sources, targets : ndarray of int, shape (n, 2)
        Row and column of each source and target pixel (inside the grid). A source on an
        impassable pixel reaches nothing.
    limit_min : float
        Times above this are not needed: the search stops there and gives ``inf``.
    queue_entries : int, optional
        Initial room of the bucket queue (entries); doubled whenever it runs short. Default
        a quarter of the pixels.

    Returns
    -------
    time_min : ndarray, shape (n_sources, n_targets)
        Minutes (``inf`` where above ``limit_min`` or not reachable); equal to
        ``skimage.graph.MCP_Geometric(cost_min).find_costs([source])`` read at the targets.
    steps : ndarray, shape (n_sources, n_targets)
        Length of that fastest path in pixel sides, centre to centre (1 per row or column
        move, sqrt(2) per diagonal one; NaN where no time). Among paths of equal time, the
        one the search found first.
    """
    cost = np.ascontiguousarray(cost_min, dtype=np.float64)
    n_rows, n_cols = cost.shape
    sources = np.asarray(sources, np.int64).reshape(-1, 2)
    targets = np.asarray(targets, np.int64).reshape(-1, 2)
    out = np.full((len(sources), len(targets)), np.inf)
    out_steps = np.full((len(sources), len(targets)), np.nan)
    if not len(sources) or not len(targets):
        return out, out_steps
    for what, rc in (("source", sources), ("target", targets)):
        bad = (rc[:, 0] < 0) | (rc[:, 0] >= n_rows) | (rc[:, 1] < 0) | (rc[:, 1] >= n_cols)
        if bad.any():
            msg = (f"grid_times: {int(bad.sum())} {what} pixels outside the {n_rows} x "
                   f"{n_cols} grid")
            raise GisError(msg)
    flat = cost.ravel()
    src = sources[:, 0] * n_cols + sources[:, 1]
    ok = np.isfinite(flat[src])
    if not ok.any():
        return out, out_steps
    delta, n_buckets = bucket_width(cost)
    tgt = targets[:, 0] * n_cols + targets[:, 1]
    src = src[ok]
    block = np.full((len(src), len(targets)), np.inf)
    block_steps = np.full((len(src), len(targets)), np.nan)
    search = _compiled()
    room = int(queue_entries) if queue_entries else max(4096, len(flat) // 4)
    done = 0
    while done < len(src):
        e_node = np.empty(max(room, 1), np.int64)
        e_next = np.empty(max(room, 1), np.int64)
        done += search(flat, n_rows, n_cols, src[done:], float(limit_min), delta, n_buckets,
                       tgt, block[done:], block_steps[done:], e_node, e_next)
        room *= 2   # used only when the queue's entries ran out
    out[ok] = block
    out_steps[ok] = block_steps
    return out, out_steps
