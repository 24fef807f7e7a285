"""Travel-cost tables: sparse origin-destination tables between demand points and facilities,
the straight-line model that builds them, and the queries on them (nearest open site).

The :class:`CostTable` is the seam between the travel model and every analysis: analyses and
location models take a cost table, never GeoDataFrames. Only pairs within a cut-off are stored,
so memory grows with the pairs within reach, never with origins x destinations.

:class:`StraightLineModel` is the same straight-line model queried for the table each analysis
needs, no deeper (issue 14): each origin's first ``k`` destinations (:class:`NearestK`, for the
nearest open site of a plan and the p-median's levels), the pairs within a time (covering
models, satellites), the pairs inside a group (best site per commune), the nearest of a set of
destinations; the table of every pair within the cut-off only when asked (:meth:`table`). Every
query gives bit for bit the times of :func:`straight_line_costs` (one formula), so an analysis
gives the same figures on a sized table as on the full one. :func:`subset_dests`,
:func:`nearest` and :func:`nearest_open_time` take either.

Both are cost models (:class:`CostModel`), the interface the plans, the location models,
the network and the plan editor query. The road and friction models search from every
facility to the cut-off anyway (one search reaches every cell within it), so their model is a
:class:`TableModel`: the same queries answered by cuts of that searched table, each the
answer the full table gives.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.spatial import cKDTree

from gis.errors import GisError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CostTable:
    """A sparse origin -> destination table of travel distance and time.

    Attributes
    ----------
    origin, dest : ndarray of int32
        Positions (0..n-1) into ``origin_ids`` and ``dest_ids``; rows sorted by origin, then dest.
        (int32 halves the table; widen to int64 before multiplying positions together.)
    dist_m : ndarray of float32
        Travel distance in metres (network or straight line x detour factor); float32 keeps
        metres to 7 significant digits, which is all a distance attribute needs.
    time_min : ndarray of float64
        Travel time in minutes (float64: thresholds and rankings compare it exactly).
    origin_ids, dest_ids : ndarray
        Labels of the origins (e.g. demand cell ids) and destinations (facility ids).
    cutoff_min : float
        Pairs slower than this were not stored (inclusive: time == cut-off is stored).
    mode : str
        Travel mode or model that produced the table (e.g. ``"motorbike"``, ``"road"``).
    """

    origin: np.ndarray
    dest: np.ndarray
    dist_m: np.ndarray
    time_min: np.ndarray
    origin_ids: np.ndarray
    dest_ids: np.ndarray
    cutoff_min: float
    mode: str

    @property
    def n_origins(self) -> int:
        return len(self.origin_ids)

    @property
    def n_dests(self) -> int:
        return len(self.dest_ids)

    def __len__(self) -> int:
        return len(self.origin)

    def to_frame(self) -> pd.DataFrame:
        """Long table with columns ``origin_id``, ``dest_id``, ``dist_m``, ``time_min``."""
        return pd.DataFrame(
            {
                "origin_id": self.origin_ids[self.origin],
                "dest_id": self.dest_ids[self.dest],
                "dist_m": self.dist_m,
                "time_min": self.time_min,
            }
        )


def subset_dests(costs: CostTable | CostModel, dest_mask: np.ndarray
                 ) -> CostTable | CostModel:
    """The table (or model) restricted to some destinations (renumbered 0..k-1, order kept)."""
    dest_mask = np.asarray(dest_mask, bool)
    if isinstance(costs, CostModel):
        return costs.subset(dest_mask)
    new_pos = np.cumsum(dest_mask) - 1
    keep = dest_mask[costs.dest]
    return CostTable(origin=costs.origin[keep], dest=new_pos[costs.dest[keep]],
                     dist_m=costs.dist_m[keep], time_min=costs.time_min[keep],
                     origin_ids=costs.origin_ids, dest_ids=costs.dest_ids[dest_mask],
                     cutoff_min=costs.cutoff_min, mode=costs.mode)


def sorted_table(
    origin: np.ndarray,
    dest: np.ndarray,
    dist_m: np.ndarray,
    time_min: np.ndarray,
    *,
    origin_ids: np.ndarray,
    dest_ids: np.ndarray,
    cutoff_min: float,
    mode: str,
) -> CostTable:
    order = np.lexsort((dest, origin))
    return CostTable(
        origin=np.asarray(origin, dtype=np.int32)[order],
        dest=np.asarray(dest, dtype=np.int32)[order],
        dist_m=np.asarray(dist_m, dtype=np.float32)[order],
        time_min=np.asarray(time_min, dtype=np.float64)[order],
        origin_ids=np.asarray(origin_ids),
        dest_ids=np.asarray(dest_ids),
        cutoff_min=float(cutoff_min),
        mode=mode,
    )


def _straight_m(a_xy: np.ndarray, b_xy: np.ndarray) -> np.ndarray:
    """Straight-line metres between matching rows (one formula for every table, so that a
    nearest-only table and a full table give bit-identical times)."""
    dx = a_xy[:, 0] - b_xy[:, 0]
    dy = a_xy[:, 1] - b_xy[:, 1]
    return np.sqrt(dx * dx + dy * dy)


def _straight_parts(origins_xy: np.ndarray, dests_xy: np.ndarray, radius_m: float, *,
                    chunk_size: int, chunk_pairs: int = 1_000_000):
    """Pairs within ``radius_m`` (a little more: the caller filters by time), one origin chunk
    at a time, each chunk sorted by origin then dest.

    Yields ``(origin, dest, straight_m)`` with int32 positions. Chunks hold at most
    ``chunk_size`` origins and, after the first, about ``chunk_pairs`` pairs (from the pairs
    per origin seen so far), so their temporary arrays stay small whatever the density.
    Sorting one integer key per chunk (uint32 when ``chunk x n_dests`` fits) replaces a
    lexsort of the whole table.
    """
    n_o, n_d = len(origins_xy), len(dests_xy)
    tree_d = cKDTree(dests_xy)
    most = max(1, min(chunk_size, (2**32 - 1) // max(n_d, 1)))
    step = min(most, 10_000)
    start, seen_origins, seen_pairs = 0, 0, 0
    while start < n_o:
        block = origins_xy[start:start + step]
        pairs = cKDTree(block).sparse_distance_matrix(tree_d, radius_m,
                                                      output_type="ndarray")
        seen_origins += len(block)
        seen_pairs += len(pairs)
        key_dtype = np.uint32 if len(block) * n_d < 2**32 else np.int64
        key = pairs["i"].astype(key_dtype)
        key *= key_dtype(n_d)
        key += pairs["j"].astype(key_dtype)
        del pairs
        key.sort()
        i = (key // key_dtype(n_d)).astype(np.int32)
        j = (key - i.astype(key_dtype) * key_dtype(n_d)).astype(np.int32)
        del key
        yield i + np.int32(start), j, _straight_m(block[i], dests_xy[j])
        start += len(block)
        per_origin = max(seen_pairs / seen_origins, 1e-9)
        step = int(min(most, max(1_000, chunk_pairs / per_origin)))


class _Columns:
    """Columns appended chunk by chunk into arrays allocated once with room to spare (pages
    never written take no memory), grown by half when the estimate was short. The table then
    costs its own bytes only, not those of a list of chunks as well."""

    def __init__(self, dtypes: tuple, capacity: int) -> None:
        self.arrays = [np.empty(max(capacity, 1), dt) for dt in dtypes]
        self.n = 0

    def append(self, *cols: np.ndarray) -> None:
        k = len(cols[0])
        if self.n + k > len(self.arrays[0]):
            size = max(int(len(self.arrays[0]) * 1.5), self.n + k)
            for i, a in enumerate(self.arrays):
                grown = np.empty(size, a.dtype)
                grown[:self.n] = a[:self.n]
                self.arrays[i] = grown
                del a
        for a, c in zip(self.arrays, cols, strict=True):
            a[self.n:self.n + k] = c
        self.n += k

    def result(self) -> list[np.ndarray]:
        return [a[:self.n] for a in self.arrays]


def straight_line_costs(
    origins_xy: np.ndarray,
    dests_xy: np.ndarray,
    *,
    speed_kmh: float,
    detour_factor: float,
    cutoff_min: float,
    origin_ids: np.ndarray | None = None,
    dest_ids: np.ndarray | None = None,
    mode: str = "straight_line",
    chunk_size: int = 200_000,
) -> CostTable:
    """Straight-line travel model: distance x detour factor / speed, pairs within a cut-off.

    Memory grows with the pairs within the cut-off (20 bytes each, plus the temporary arrays of
    one chunk of about a million pairs), never with origins x destinations.

    Parameters
    ----------
    origins_xy, dests_xy : ndarray, shape (n, 2)
        Coordinates in metres in a projected CRS (the working CRS).
    speed_kmh : float
        Travel speed in km/h.
    detour_factor : float
        Ratio of travelled to straight-line distance (>= 1).
    cutoff_min : float
        Keep pairs whose time is at most this many minutes (``inf``: every pair).
    chunk_size : int
        Origins per tree query; bounds the temporary memory of a chunk.
    """
    origins_xy = np.asarray(origins_xy, dtype=np.float64).reshape(-1, 2)
    dests_xy = np.asarray(dests_xy, dtype=np.float64).reshape(-1, 2)
    if origin_ids is None:
        origin_ids = np.arange(len(origins_xy))
    if dest_ids is None:
        dest_ids = np.arange(len(dests_xy))
    speed_m_per_min = speed_kmh * 1000.0 / 60.0
    radius_m = cutoff_min * speed_m_per_min / detour_factor
    limit_min = cutoff_min * (1 + 1e-12)
    dtypes = (np.int32, np.int32, np.float32, np.float64)
    table = _Columns(dtypes, 0)
    done = 0
    if len(origins_xy) and len(dests_xy):
        for o, d, straight in _straight_parts(origins_xy, dests_xy, radius_m * (1 + 1e-9),
                                              chunk_size=chunk_size):
            dist_m = straight * detour_factor
            time_min = dist_m / speed_m_per_min
            keep = time_min <= limit_min
            if done == 0:   # size the columns on the pairs per origin of the first chunk
                per_origin = keep.sum() / max(int(o[-1]) + 1 if len(o) else 1, 1)
                table = _Columns(dtypes, int(per_origin * len(origins_xy) * 1.25) + 100_000)
            done += 1
            table.append(o[keep], d[keep], dist_m[keep], time_min[keep])
    o, d, dist, time = table.result()
    return CostTable(origin=o, dest=d, dist_m=dist, time_min=time,
                     origin_ids=np.asarray(origin_ids), dest_ids=np.asarray(dest_ids),
                     cutoff_min=float(cutoff_min), mode=mode)


def straight_line_nearest(
    origins_xy: np.ndarray,
    dests_xy: np.ndarray,
    *,
    speed_kmh: float,
    detour_factor: float,
    cutoff_min: float,
    groups: np.ndarray | None = None,
    origin_ids: np.ndarray | None = None,
    dest_ids: np.ndarray | None = None,
    mode: str = "straight_line",
) -> CostTable:
    """Nearest-only table: for every origin, its nearest destination of each group.

    The straight-line model of :func:`straight_line_costs` (same formula, same times), but
    only the pair that :func:`gis.model.costs.nearest` would pick for each origin and group is
    stored: the fastest within the cut-off, ties to the lowest destination position. Memory
    grows with origins x groups, whatever the cut-off and the number of destinations, so
    nearest facility and coverage need no table of every pair within reach.

    Parameters
    ----------
    origins_xy, dests_xy : ndarray, shape (n, 2)
        Coordinates in metres in the working CRS.
    speed_kmh, detour_factor, cutoff_min : float
        As in :func:`straight_line_costs`.
    groups : ndarray, shape (n_dests,), optional
        Group of each destination (e.g. the facility tier); one group when None. Use the
        groups you will pass to :func:`gis.model.costs.nearest` as masks.

    Returns
    -------
    CostTable
        At most one pair per origin and group, sorted by origin, then dest. Only the nearest
        per group is stored: do not use it for catchments (see :func:`straight_line_costs`).
    """
    origins_xy = np.asarray(origins_xy, dtype=np.float64).reshape(-1, 2)
    dests_xy = np.asarray(dests_xy, dtype=np.float64).reshape(-1, 2)
    n_o, n_d = len(origins_xy), len(dests_xy)
    origin_ids = np.arange(n_o) if origin_ids is None else np.asarray(origin_ids)
    dest_ids = np.arange(n_d) if dest_ids is None else np.asarray(dest_ids)
    groups = np.zeros(n_d, np.int8) if groups is None else np.asarray(groups)
    speed_m_per_min = speed_kmh * 1000.0 / 60.0
    radius_m = cutoff_min * speed_m_per_min / detour_factor
    limit_min = cutoff_min * (1 + 1e-12)
    cols = []
    for g in pd.unique(groups):
        members = np.flatnonzero(groups == g)
        if n_o == 0 or len(members) == 0:
            continue
        best = _nearest_of(origins_xy, dests_xy, members, radius_m,
                           detour_factor=detour_factor, speed_m_per_min=speed_m_per_min)
        pos = np.full(n_o, -1, np.int64)
        found = best >= 0
        pos[found] = best[found]
        cols.append(pos)
    if not cols:
        return CostTable(origin=np.zeros(0, np.int32), dest=np.zeros(0, np.int32),
                         dist_m=np.zeros(0, np.float32), time_min=np.zeros(0),
                         origin_ids=origin_ids, dest_ids=dest_ids,
                         cutoff_min=float(cutoff_min), mode=mode)
    # One row per origin, one column per group: sorting each row orders the pairs by dest,
    # and reading row by row orders them by origin: no sort of the whole table.
    mat = np.column_stack(cols)
    mat = np.where(mat < 0, np.iinfo(np.int64).max, mat)
    mat.sort(axis=1)
    o = np.repeat(np.arange(n_o, dtype=np.int32), mat.shape[1])
    d = mat.ravel()
    ok = d != np.iinfo(np.int64).max
    o, d = o[ok], d[ok].astype(np.int32)
    dist_m = _straight_m(origins_xy[o], dests_xy[d]) * detour_factor
    time_min = dist_m / speed_m_per_min
    keep = time_min <= limit_min
    return CostTable(origin=o[keep], dest=d[keep], dist_m=dist_m[keep].astype(np.float32),
                     time_min=time_min[keep], origin_ids=origin_ids, dest_ids=dest_ids,
                     cutoff_min=float(cutoff_min), mode=mode)


def _nearest_of(origins_xy: np.ndarray, dests_xy: np.ndarray, members: np.ndarray,
                radius_m: float, *, detour_factor: float,
                speed_m_per_min: float) -> np.ndarray:
    """Position of the nearest of ``members`` for every origin (-1 beyond ``radius_m``): the
    least time by :func:`_straight_m`, the lowest position among equal times."""
    pts = dests_xy[members]
    # Destinations sharing a point: the tree keeps the first (lowest position) only.
    uniq, first = np.unique(pts, axis=0, return_index=True)
    uniq_pos = members[first]
    tree = cKDTree(uniq)
    bound = radius_m * (1 + 1e-9) + 1e-6 if np.isfinite(radius_m) else np.inf
    k = 2 if len(uniq) > 1 else 1
    dd, jj = tree.query(origins_xy, k=k, distance_upper_bound=bound, workers=-1)
    dd, jj = dd.reshape(len(origins_xy), k), jj.reshape(len(origins_xy), k)
    found = jj[:, 0] < len(uniq)
    best = np.full(len(origins_xy), -1, np.int64)
    best[found] = uniq_pos[jj[found, 0]]
    if k == 1:
        return best
    # Near-ties (the second within 1e-9 of the first; the tree's distances differ from the
    # formula by rounding only): settle them on the formula, lowest position first, as the
    # full table would.
    amb = np.flatnonzero(found & (dd[:, 1] <= dd[:, 0] * (1 + 1e-9) + 1e-9))
    if len(amb):
        reach = dd[amb, 0] * (1 + 1e-9) + 1e-6
        lists = tree.query_ball_point(origins_xy[amb], reach)
        for a, cand in zip(amb, lists, strict=True):
            cand = np.asarray(cand, np.int64)
            t = _straight_m(np.repeat(origins_xy[a:a + 1], len(cand), axis=0),
                            uniq[cand]) * detour_factor / speed_m_per_min
            best[a] = uniq_pos[cand[t == t.min()]].min()
    return best


# --- queries -------------------------------------------------------------------------------

def nearest(costs: CostTable | CostModel, dest_mask: np.ndarray) -> pd.DataFrame:
    """Nearest destination among ``dest_mask`` for every origin.

    The least time; among equal times the lowest destination position. A
    :class:`CostModel` answers by its own query (the straight line by one query over the
    masked destinations; same result).

    Returns
    -------
    DataFrame
        Indexed by origin position: ``dest`` (position, -1 if none within the cut-off),
        ``time_min`` and ``dist_m`` (NaN if none).
    """
    if isinstance(costs, CostModel):
        return costs.nearest(dest_mask)
    n = costs.n_origins
    sel = np.asarray(dest_mask, bool)[costs.dest]
    o, d, t, m = costs.origin[sel], costs.dest[sel], costs.time_min[sel], costs.dist_m[sel]
    best_t = np.full(n, np.inf)
    _segment_min(o, t, best_t)
    is_best = t <= best_t[o]
    # First stored pair reaching the minimum (ties: lowest destination position).
    first = np.zeros(n, bool)
    dest = np.full(n, -1, np.int64)
    dist = np.full(n, np.nan)
    idx = np.flatnonzero(is_best)
    oo = o[idx]
    keep = np.r_[True, oo[1:] != oo[:-1]] if len(oo) else np.zeros(0, bool)
    dest[oo[keep]] = d[idx[keep]]
    dist[oo[keep]] = m[idx[keep]]
    first[oo[keep]] = True
    time = np.where(first, best_t, np.nan)
    return pd.DataFrame({"dest": dest, "time_min": time, "dist_m": dist})


def _segment_min(o: np.ndarray, t: np.ndarray, out: np.ndarray) -> None:
    """Minimum of ``t`` per origin for ``o`` sorted ascending (the cost table's order)."""
    if len(o) == 0:
        return
    starts = np.flatnonzero(np.r_[True, o[1:] != o[:-1]])
    out[o[starts]] = np.minimum.reduceat(t, starts)


def nearest_open_time(costs: CostTable | CostModel, open_mask: np.ndarray
                      ) -> tuple[np.ndarray, np.ndarray]:
    """Time (min) to, and position of, the nearest open destination for every origin.

    The least time; among equal times the lowest destination position. A
    :class:`CostModel` answers from its first ``k`` destinations per origin, with an exact
    second query for the origins whose ``k`` are all closed (:meth:`CostModel.nearest_open`):
    the same result.

    Parameters
    ----------
    costs : CostTable or CostModel
    open_mask : ndarray of bool, shape (n_dests,)

    Returns
    -------
    time_min : ndarray, shape (n_origins,)
        ``inf`` where no open destination is within the table's cut-off.
    dest : ndarray of int, shape (n_origins,)
        Position of the nearest open destination, -1 where none.
    """
    if isinstance(costs, CostModel):
        return costs.nearest_open(open_mask)
    keep = open_mask[costs.dest]
    o, d, t = costs.origin[keep], costs.dest[keep], costs.time_min[keep]
    best = np.full(costs.n_origins, np.inf)
    arg = np.full(costs.n_origins, -1, dtype=np.int64)
    if len(o):
        order = np.lexsort((t, o))  # by origin, then time: the first of each origin is nearest
        o, d, t = o[order], d[order], t[order]
        first = np.r_[True, o[1:] != o[:-1]]
        best[o[first]] = t[first]
        arg[o[first]] = d[first]
    return best, arg


# --- sized queries: each analysis gets the table it needs, no deeper -----------------------

#: Destinations held per origin by :meth:`CostModel.nearest_open` when no deeper
#: :class:`NearestK` was asked for. Any k >= 1 gives exact answers (see :class:`NearestK`);
#: k only sets how often the second query runs.
NEAREST_K = 16


def within_table(costs: CostTable | CostModel, max_min: float, *,
                 dest_mask: np.ndarray | None = None) -> CostTable:
    """The pairs an analysis at ``max_min`` minutes needs (covering models, satellites).

    A :class:`CostModel` gives the pairs within ``min(max_min, cutoff)`` only (its
    ``cutoff_min`` is then that time); a :class:`CostTable` is returned whole (restricted to
    ``dest_mask``), as before sized tables existed. Either way every pair with time <=
    ``max_min`` is there, with the same time.
    """
    if isinstance(costs, CostModel):
        return costs.within(max_min, dest_mask=dest_mask)
    return costs if dest_mask is None else subset_dests(costs, dest_mask)


def group_table(costs: CostTable | CostModel, origin_group: np.ndarray,
                dest_group: np.ndarray) -> CostTable:
    """The pairs whose origin and destination are in the same group (best site per commune).

    A :class:`CostModel` gives those pairs only (within its cut-off); a :class:`CostTable`
    is returned whole.
    """
    if isinstance(costs, CostModel):
        return costs.group_pairs(origin_group, dest_group)
    return costs


@dataclass(frozen=True)
class NearestK:
    """The first ``k`` destinations of every origin, in (time, destination position) order.

    Why ``k`` is enough for a nearest open site (the proof the plan scoring relies on): order
    every destination within the cut-off by (time, position), the order in which
    :func:`nearest_open_time` picks (least time, then lowest position). The nearest open
    destination is the first open one in that order. If any of the first ``k`` is open, the
    first open one is among them, since every other destination comes after all ``k``. Only an
    origin whose first ``k`` are all closed can have its nearest open destination elsewhere,
    and only if more than ``k`` destinations are within the cut-off (``next_time_min`` finite):
    :meth:`CostModel.nearest_open` detects those origins per plan and answers them by
    an exact query over the open destinations alone.

    Attributes
    ----------
    dest : ndarray of int32, shape (n_rows, k)
        Destination positions, -1 where fewer than ``k`` are within the cut-off.
    time_min : ndarray of float64, shape (n_rows, k)
        Minutes (``inf`` in the padding).
    next_time_min : ndarray of float64, shape (n_rows,)
        Minutes to the destination after the ``k`` held ones in that order; ``inf`` when the
        row holds every destination within the cut-off. Every destination with a time below
        it is held (the row is complete up to it).
    row : ndarray of int64, shape (n_origins,)
        Row of each origin: origins at the same point have the same row of costs and share it.
    dest_ids : ndarray
    cutoff_min : float
    """

    dest: np.ndarray
    time_min: np.ndarray
    next_time_min: np.ndarray
    row: np.ndarray
    dest_ids: np.ndarray
    cutoff_min: float

    @property
    def k(self) -> int:
        return int(self.dest.shape[1])

    @property
    def n_origins(self) -> int:
        return len(self.row)

    def head(self, k: int) -> NearestK:
        """The first ``k`` of each row (``k`` <= the rows' depth)."""
        k = int(k)
        if k >= self.k:
            return self
        nxt = self.time_min[:, k].copy()
        return NearestK(dest=self.dest[:, :k], time_min=self.time_min[:, :k],
                        next_time_min=nxt, row=self.row, dest_ids=self.dest_ids,
                        cutoff_min=self.cutoff_min)


def _unique_points(xy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct points and the point of every row. Rows at one point have identical costs to
    every destination (the time is a function of the two points), so costs are computed once
    per point and shared: an exact merge of identical cost rows."""
    if len(xy) == 0:
        return xy.reshape(0, 2), np.zeros(0, np.int64)
    pts, inv = np.unique(xy, axis=0, return_inverse=True)
    return pts, np.asarray(inv, np.int64).ravel()


def _first_k(points: np.ndarray, dests_xy: np.ndarray, need: int, *, radius_m: float,
             limit_min: float, detour_factor: float, speed_m_per_min: float,
             block: int = 65_536) -> tuple[np.ndarray, np.ndarray]:
    """The first ``need`` destinations of every point in (time, position) order among those
    with time <= ``limit_min``: positions (-1 padding) and minutes (inf padding).

    A KD-tree gives candidates; times come from the table formula (so they equal
    :func:`straight_line_costs` bit for bit) and are sorted by (time, position). A row is
    accepted when the tree returned every destination within reach, or when the
    ``need``-th time is clearly below what any destination not returned could take (the
    tree's distance of the last one returned, with a relative margin of 1e-9 for the tree's
    rounding); other rows are asked again with twice as many candidates, until every
    destination is a candidate.
    """
    m, n_d = len(points), len(dests_xy)
    D = np.full((m, need), -1, np.int64)
    T = np.full((m, need), np.inf)
    if m == 0 or n_d == 0 or need == 0:
        return D, T
    tree = cKDTree(dests_xy)
    bound = radius_m * (1 + 1e-9) + 1e-6 if np.isfinite(radius_m) else np.inf
    todo = np.arange(m)
    q = min(need + 4, n_d)
    while len(todo):
        retry = []
        for a in range(0, len(todo), block):
            rows = todo[a:a + block]
            dd, jj = tree.query(points[rows], k=q, distance_upper_bound=bound, workers=-1)
            dd, jj = dd.reshape(len(rows), q), jj.reshape(len(rows), q)
            hit = jj < n_d
            js = np.where(hit, jj, 0)
            dx = points[rows, 0][:, None] - dests_xy[js, 0]
            dy = points[rows, 1][:, None] - dests_xy[js, 1]
            t = np.sqrt(dx * dx + dy * dy) * detour_factor / speed_m_per_min
            del dx, dy
            ok = hit & (t <= limit_min)
            t = np.where(ok, t, np.inf)
            pos = np.where(ok, jj, n_d)
            order = np.argsort(t, axis=1, kind="stable")
            ts = np.take_along_axis(t, order, 1)
            ps = np.take_along_axis(pos, order, 1)
            del order, t, pos
            # equal times (rare): order them by position, as the table's queries do
            tie = np.flatnonzero((np.isfinite(ts[:, 1:]) & (ts[:, 1:] == ts[:, :-1])).any(1))
            if len(tie):
                r = np.repeat(tie, q)
                o = np.lexsort((ps[tie].ravel(), ts[tie].ravel(), r))
                ts[tie] = ts[tie].ravel()[o].reshape(len(tie), q)
                ps[tie] = ps[tie].ravel()[o].reshape(len(tie), q)
            w = min(need, q)
            if q < n_d:
                more = hit[:, q - 1]  # the tree stopped at q: others may be within reach
                t_last = dd[:, q - 1] * detour_factor / speed_m_per_min
                t_need = ts[:, need - 1] if need <= q else np.full(len(rows), np.inf)
                safe = ~more | (t_need * (1 + 1e-9) + 1e-9 < t_last)
            else:
                safe = np.ones(len(rows), bool)
            good = rows[safe]
            D[good, :w] = np.where(ps[safe, :w] < n_d, ps[safe, :w], -1)
            T[good, :w] = ts[safe, :w]
            retry.append(rows[~safe])
        todo = np.concatenate(retry) if retry else np.zeros(0, np.int64)
        q = min(2 * q, n_d)
    return D, T


class CostModel:
    """A travel model answering each analysis with the table it needs: the interface the
    plans, the location models, the network and the plan editor query in place of a
    :class:`CostTable`.

    Every query answers exactly what the same question asked of the model's full table (every
    pair within the cut-off, :meth:`table`) answers: each origin's first ``k`` destinations
    (:meth:`nearest_k`), the nearest of some destinations (:meth:`nearest`), the nearest open
    one (:meth:`nearest_open`), the pairs within a time (:meth:`within`), the pairs inside a
    group (:meth:`group_pairs`). A model has the attributes of a table that describe it
    (``origin_ids``, ``dest_ids``, ``n_origins``, ``n_dests``, ``cutoff_min``, ``mode``) and
    a ``queries`` record of the tables it built. Implementations:
    :class:`StraightLineModel` (computes each answer), :class:`TableModel` (cuts each answer
    from a table searched in full: the road and friction models).
    """

    origin_ids: np.ndarray
    dest_ids: np.ndarray
    cutoff_min: float
    mode: str
    queries: dict
    _nk: NearestK | None = None

    @property
    def n_origins(self) -> int:
        raise NotImplementedError

    @property
    def n_dests(self) -> int:
        raise NotImplementedError

    def subset(self, dest_mask: np.ndarray) -> CostModel:
        """The model restricted to some destinations (renumbered, order kept)."""
        raise NotImplementedError

    def with_dests(self, dests_xy: np.ndarray, dest_ids: np.ndarray) -> CostModel:
        """The model with more destinations after the present ones (e.g. a plan's new sites),
        costed by the same travel model and cut-off."""
        raise NotImplementedError

    def nearest_k(self, k: int, *, origins: np.ndarray | None = None) -> NearestK:
        """The first ``k`` destinations of each origin (of ``origins``: positions, when given)
        in (time, position) order, and the time of the next one (see :class:`NearestK`)."""
        raise NotImplementedError

    def nearest(self, dest_mask: np.ndarray, *, origins: np.ndarray | None = None
                ) -> pd.DataFrame:
        """Nearest destination among ``dest_mask`` for every origin (of ``origins``), as
        :func:`nearest` on the full table: ``dest`` (-1 if none within the cut-off),
        ``time_min``, ``dist_m`` (NaN if none)."""
        raise NotImplementedError

    def within(self, max_min: float, *, dest_mask: np.ndarray | None = None) -> CostTable:
        """The pairs with time <= ``min(max_min, cutoff_min)`` (to ``dest_mask``), sorted by
        origin then destination; the table's ``cutoff_min`` is that time."""
        raise NotImplementedError

    def group_pairs(self, origin_group: np.ndarray, dest_group: np.ndarray) -> CostTable:
        """The pairs within the cut-off whose origin and destination are in the same group
        (missing values are in no group), sorted by origin then destination."""
        raise NotImplementedError

    def table(self) -> CostTable:
        """Every pair within the cut-off: only for an analysis that truly needs it."""
        raise NotImplementedError

    def _note(self, **rec) -> None:
        self.queries["tables"].append(rec)

    def _ranked_nearest_k(self, D: np.ndarray, T: np.ndarray, k: int, row: np.ndarray, *,
                          whole: bool) -> NearestK:
        """The :class:`NearestK` of ``k + 1`` ranked columns per row (destinations ``D``, -1 for
        none; times ``T``): the first ``k`` and the time of the next. Kept as the model's table
        (and noted) when it answers every origin (``whole``)."""
        nk = NearestK(dest=D[:, :k].astype(np.int32), time_min=T[:, :k].copy(),
                      next_time_min=T[:, k].copy(), row=row, dest_ids=self.dest_ids,
                      cutoff_min=self.cutoff_min)
        if whole:
            self._nk = nk
            self._note(table="nearest_k", k=k, rows=int(len(D)),
                       pairs=int((D[:, :k] >= 0).sum()), dests=self.n_dests)
        return nk

    def nearest_open(self, open_mask: np.ndarray, *, k: int | None = None
                     ) -> tuple[np.ndarray, np.ndarray]:
        """Time to, and position of, the nearest open destination of every origin: what
        :func:`nearest_open_time` gives on the full table (``inf`` / -1 where none).

        The first open one among each origin's first ``k`` (the table of :meth:`nearest_k`,
        the deepest already built, else ``NEAREST_K``); where all ``k`` are closed and more
        destinations are within the cut-off, one exact query over the open destinations alone
        (see :class:`NearestK` for why this is exact)."""
        open_mask = np.asarray(open_mask, bool)
        nk = self.nearest_k(k if k is not None else
                            (self._nk.k if self._nk is not None else NEAREST_K))
        held = nk.dest >= 0
        is_open = held & open_mask[np.maximum(nk.dest, 0)]
        has = is_open.any(axis=1)
        j = is_open.argmax(axis=1)
        r = np.arange(len(j))
        t_row = np.where(has, nk.time_min[r, j], np.inf)
        d_row = np.where(has, nk.dest[r, j], -1).astype(np.int64)
        second = np.flatnonzero(~has & np.isfinite(nk.next_time_min) & open_mask.any())
        if len(second):
            origin_of_row = np.zeros(len(nk.dest), np.int64)
            origin_of_row[nk.row] = np.arange(nk.n_origins)
            near = self.nearest(open_mask, origins=origin_of_row[second])
            t2 = near["time_min"].to_numpy()
            t_row[second] = np.where(np.isfinite(t2), t2, np.inf)
            d_row[second] = near["dest"].to_numpy()
        self.queries.setdefault("second_queries", []).append(
            {"open": int(open_mask.sum()), "k": nk.k, "rows": int(len(second))})
        return t_row[nk.row], d_row[nk.row]


class StraightLineModel(CostModel):
    """The straight-line model (distance x detour factor / speed, pairs within a cut-off),
    answering each analysis with the table it needs.

    Same formula and cut-off as :func:`straight_line_costs`, so every query returns the times
    of the full table bit for bit; but no query holds every pair within the cut-off unless
    :meth:`table` is called. Origins at the same point are queried once (their rows are
    identical) and share the answer. The model has the attributes of a :class:`CostTable`
    that describe it (``origin_ids``, ``dest_ids``, ``n_origins``, ``n_dests``,
    ``cutoff_min``, ``mode``), and :func:`subset_dests`, :func:`nearest`,
    :func:`nearest_open_time`, :func:`within_table` and :func:`group_table` take it in place of
    a table.

    Parameters
    ----------
    origins_xy, dests_xy : ndarray, shape (n, 2)
        Coordinates in metres in the working CRS.
    speed_kmh, detour_factor, cutoff_min : float
        As in :func:`straight_line_costs`.
    origin_ids, dest_ids : ndarray, optional
    mode : str
    queries : dict, optional
        Shared record of the tables built (pairs, depth, second queries), filled by every
        query of this model and of the models derived from it (``subset``, ``with_dests``).
    """

    def __init__(self, origins_xy: np.ndarray, dests_xy: np.ndarray, *, speed_kmh: float,
                 detour_factor: float, cutoff_min: float, origin_ids: np.ndarray | None = None,
                 dest_ids: np.ndarray | None = None, mode: str = "straight_line",
                 queries: dict | None = None, _points: tuple | None = None,
                 _last_within: dict | None = None) -> None:
        self.origins_xy = np.asarray(origins_xy, dtype=np.float64).reshape(-1, 2)
        self.dests_xy = np.asarray(dests_xy, dtype=np.float64).reshape(-1, 2)
        n_o, n_d = len(self.origins_xy), len(self.dests_xy)
        self.origin_ids = np.arange(n_o) if origin_ids is None else np.asarray(origin_ids)
        self.dest_ids = np.arange(n_d) if dest_ids is None else np.asarray(dest_ids)
        self.speed_kmh = float(speed_kmh)
        self.detour_factor = float(detour_factor)
        self.cutoff_min = float(cutoff_min)
        self.mode = mode
        self._speed = self.speed_kmh * 1000.0 / 60.0
        self._radius = self.cutoff_min * self._speed / self.detour_factor
        self._limit = self.cutoff_min * (1 + 1e-12)
        self._points, self._point_of = (_points if _points is not None
                                        else _unique_points(self.origins_xy))
        self._nk: NearestK | None = None
        self.queries: dict = queries if queries is not None else {
            "distinct_points": int(len(self._points)), "origins": n_o, "tables": []}
        # the last answer of within(), shared with the models derived from this one: the
        # capacity stage asks for the stations within 30 min as the plans stage did
        self._last_within: dict = _last_within if _last_within is not None else {}

    # attributes of a table
    @property
    def n_origins(self) -> int:
        return len(self.origins_xy)

    @property
    def n_dests(self) -> int:
        return len(self.dests_xy)

    def __repr__(self) -> str:
        return (f"StraightLineModel({self.n_origins} origins at {len(self._points)} points, "
                f"{self.n_dests} destinations, cut-off {self.cutoff_min:g} min)")

    def _line(self) -> dict:
        return {"speed_kmh": self.speed_kmh, "detour_factor": self.detour_factor,
                "mode": self.mode}

    def _derived(self, dests_xy: np.ndarray, dest_ids: np.ndarray) -> StraightLineModel:
        return StraightLineModel(self.origins_xy, dests_xy, cutoff_min=self.cutoff_min,
                                 origin_ids=self.origin_ids, dest_ids=dest_ids,
                                 queries=self.queries, _points=(self._points, self._point_of),
                                 _last_within=self._last_within, **self._line())

    def subset(self, dest_mask: np.ndarray) -> StraightLineModel:
        """The model restricted to some destinations (renumbered, order kept)."""
        mask = np.asarray(dest_mask, bool)
        return self._derived(self.dests_xy[mask], self.dest_ids[mask])

    def with_dests(self, dests_xy: np.ndarray, dest_ids: np.ndarray) -> StraightLineModel:
        """The model with more destinations after the present ones (e.g. a plan's new sites)."""
        xy = np.concatenate([self.dests_xy, np.asarray(dests_xy, float).reshape(-1, 2)])
        ids = np.concatenate([np.asarray(self.dest_ids).astype(object),
                              np.asarray(dest_ids).astype(object)])
        return self._derived(xy, ids)

    # --- queries
    def _origin_points(self, origins: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        """Distinct points of some origins (all when None) and each origin's point among them."""
        if origins is None:
            return self._points, self._point_of
        p = self._point_of[np.asarray(origins, np.int64)]
        up, inv = np.unique(p, return_inverse=True)
        return self._points[up], np.asarray(inv, np.int64).ravel()

    def nearest_k(self, k: int, *, origins: np.ndarray | None = None) -> NearestK:
        """The first ``k`` destinations of each origin (of ``origins``: positions, when given)
        in (time, position) order, and the time of the next one (see :class:`NearestK`).

        For all origins the deepest table asked for is kept and reused (a shallower one is its
        first columns)."""
        k = max(int(k), 1)
        if origins is None and self._nk is not None and self._nk.k >= k:
            return self._nk.head(k)
        pts, row = self._origin_points(origins)
        need = k + 1
        D, T = _first_k(pts, self.dests_xy, need, radius_m=self._radius,
                        limit_min=self._limit, detour_factor=self.detour_factor,
                        speed_m_per_min=self._speed)
        return self._ranked_nearest_k(D, T, k, row, whole=origins is None)

    def nearest(self, dest_mask: np.ndarray, *, origins: np.ndarray | None = None
                ) -> pd.DataFrame:
        """Nearest destination among ``dest_mask`` for every origin (of ``origins``), as
        :func:`nearest` on the full table: ``dest`` (-1 if none within the cut-off),
        ``time_min``, ``dist_m`` (NaN if none)."""
        members = np.flatnonzero(np.asarray(dest_mask, bool))
        pts, row = self._origin_points(origins)
        n = len(row)
        dest = np.full(n, -1, np.int64)
        time = np.full(n, np.nan)
        dist = np.full(n, np.nan)
        if len(pts) and len(members):
            best = _nearest_of(pts, self.dests_xy, members, self._radius,
                               detour_factor=self.detour_factor, speed_m_per_min=self._speed)
            found = np.flatnonzero(best >= 0)
            dist_m = _straight_m(pts[found], self.dests_xy[best[found]]) * self.detour_factor
            t = dist_m / self._speed
            keep = t <= self._limit
            p_dest = np.full(len(pts), -1, np.int64)
            p_time = np.full(len(pts), np.nan)
            p_dist = np.full(len(pts), np.nan)
            p_dest[found[keep]] = best[found[keep]]
            p_time[found[keep]] = t[keep]
            p_dist[found[keep]] = dist_m[keep].astype(np.float32)
            dest, time, dist = p_dest[row], p_time[row], p_dist[row]
        return pd.DataFrame({"dest": dest, "time_min": time, "dist_m": dist})

    def _expand(self, table: CostTable) -> CostTable:
        """A table over the distinct points as a table over the origins (each origin gets its
        point's pairs), sorted by origin then destination."""
        counts = np.bincount(table.origin, minlength=len(self._points))
        starts = np.r_[0, np.cumsum(counts)[:-1]]
        per = counts[self._point_of]
        idx = _ranges_of(starts[self._point_of], per)
        return CostTable(origin=np.repeat(np.arange(self.n_origins, dtype=np.int32), per),
                         dest=table.dest[idx], dist_m=table.dist_m[idx],
                         time_min=table.time_min[idx], origin_ids=self.origin_ids,
                         dest_ids=table.dest_ids, cutoff_min=table.cutoff_min, mode=table.mode)

    def within(self, max_min: float, *, dest_mask: np.ndarray | None = None) -> CostTable:
        """The pairs with time <= ``min(max_min, cutoff_min)`` (to ``dest_mask``), sorted by
        origin then destination; the table's ``cutoff_min`` is that time."""
        model = self if dest_mask is None else self.subset(dest_mask)
        depth = min(float(max_min), self.cutoff_min)
        key = (depth, model.dests_xy.tobytes(), tuple(np.asarray(model.dest_ids).tolist()),
               self.origins_xy.shape)
        last = self._last_within
        if last.get("key") == key:     # asked before: the same table (tables are not changed)
            out = last["table"]
            self._note(table="within", time_min=depth, pairs=int(len(out)),
                       dests=model.n_dests, reused=True)
            return out
        pts = straight_line_costs(self._points, model.dests_xy, cutoff_min=depth,
                                  dest_ids=model.dest_ids, **self._line())
        out = self._expand(pts)
        self._note(table="within", time_min=depth, pairs=int(len(out)), dests=model.n_dests)
        last.clear()
        last.update(key=key, table=out)
        return out

    def group_pairs(self, origin_group: np.ndarray, dest_group: np.ndarray) -> CostTable:
        """The pairs within the cut-off whose origin and destination are in the same group
        (missing values are in no group), sorted by origin then destination."""
        codes, _ = pd.factorize(pd.concat([pd.Series(np.asarray(origin_group, dtype=object)),
                                           pd.Series(np.asarray(dest_group, dtype=object))],
                                          ignore_index=True), use_na_sentinel=True)
        og, dg = codes[:self.n_origins], codes[self.n_origins:]
        dests = np.flatnonzero(dg >= 0)
        dests = dests[np.argsort(dg[dests], kind="stable")]
        first = np.searchsorted(dg[dests], np.arange(codes.max(initial=-1) + 2))
        size = np.diff(first)
        units = np.flatnonzero(og >= 0)
        per = size[og[units]]
        o = np.repeat(units, per)
        d = dests[_ranges_of(first[og[units]], per)]
        order = np.lexsort((d, o))
        o, d = o[order], d[order]
        dist_m = _straight_m(self.origins_xy[o], self.dests_xy[d]) * self.detour_factor
        time_min = dist_m / self._speed
        keep = time_min <= self._limit
        self._note(table="group_pairs", pairs=int(keep.sum()), dests=self.n_dests)
        return CostTable(origin=o[keep].astype(np.int32), dest=d[keep].astype(np.int32),
                         dist_m=dist_m[keep].astype(np.float32), time_min=time_min[keep],
                         origin_ids=self.origin_ids, dest_ids=self.dest_ids,
                         cutoff_min=self.cutoff_min, mode=self.mode)

    def table(self) -> CostTable:
        """Every pair within the cut-off (:func:`straight_line_costs`): only for an analysis
        that truly needs it."""
        out = straight_line_costs(self.origins_xy, self.dests_xy, cutoff_min=self.cutoff_min,
                                  origin_ids=self.origin_ids, dest_ids=self.dest_ids,
                                  **self._line())
        self._note(table="all_pairs", time_min=self.cutoff_min, pairs=int(len(out)),
                   dests=self.n_dests)
        return out


class TableModel(CostModel):
    """A model whose table was searched in full, answering every query by a cut of it.

    The road and friction models search from every destination (facility) up to the cut-off:
    one search reaches every origin within it, so the table of every pair costs no more than
    a shallower one and is built once (:meth:`gis.model.travel.TravelModel.costs`). The
    analyses still get the table each needs, no deeper (the p-median each unit's nearest
    sites, the covering models the pairs within their time, the best site per commune the
    pairs inside the commune), and every answer is, pair for pair, what the same question
    asked of the full table gives: they are cuts of it.

    Parameters
    ----------
    table : CostTable
        Every pair within the cut-off (sorted by origin, then destination).
    extend : callable, optional
        ``extend(dests_xy, dest_ids) -> CostTable``: the pairs from the table's origins to
        more destinations by the same travel model and cut-off (a plan's new sites);
        :meth:`with_dests` needs it.
    queries : dict, optional
        Shared record of the tables cut (as :class:`StraightLineModel`'s).
    """

    def __init__(self, table: CostTable, *,
                 extend: Callable[[np.ndarray, np.ndarray], CostTable] | None = None,
                 queries: dict | None = None) -> None:
        o = np.asarray(table.origin)
        if len(o) > 1 and not np.all(o[1:] >= o[:-1]):
            table = sorted_table(table.origin, table.dest, table.dist_m, table.time_min,
                                 origin_ids=table.origin_ids, dest_ids=table.dest_ids,
                                 cutoff_min=table.cutoff_min, mode=table.mode)
        self._table = table
        self._extend = extend
        self.origin_ids = np.asarray(table.origin_ids)
        self.dest_ids = np.asarray(table.dest_ids)
        self.cutoff_min = float(table.cutoff_min)
        self.mode = table.mode
        self._limit = self.cutoff_min * (1 + 1e-12)
        self._nk = None
        self._rank: tuple[np.ndarray, np.ndarray] | None = None
        self.queries: dict = queries if queries is not None else {
            "distinct_points": table.n_origins, "origins": table.n_origins, "tables": [],
            "searched": {"pairs": int(len(table)), "cutoff_min": self.cutoff_min}}

    @property
    def n_origins(self) -> int:
        return self._table.n_origins

    @property
    def n_dests(self) -> int:
        return self._table.n_dests

    def __repr__(self) -> str:
        return (f"TableModel({self.n_origins} origins, {self.n_dests} destinations, "
                f"{len(self._table)} pairs within {self.cutoff_min:g} min, {self.mode})")

    def subset(self, dest_mask: np.ndarray) -> TableModel:
        """The model restricted to some destinations (renumbered, order kept)."""
        return TableModel(subset_dests(self._table, np.asarray(dest_mask, bool)),
                          extend=self._extend, queries=self.queries)

    def with_dests(self, dests_xy: np.ndarray, dest_ids: np.ndarray) -> TableModel:
        """The model with more destinations after the present ones, searched by the model
        that built the table (``extend``)."""
        if self._extend is None:
            msg = (f"{self!r}: no travel model to cost new destinations with; build the "
                   f"model with extend= (gis.model.travel.TravelModel.cost_model)")
            raise GisError(msg)
        extra = self._extend(np.asarray(dests_xy, float).reshape(-1, 2), np.asarray(dest_ids))
        return TableModel(append_dests(self._table, extra), extend=self._extend,
                          queries=self.queries)

    def _ranked(self) -> tuple[np.ndarray, np.ndarray]:
        """Pair positions of the table in (origin, time, destination) order, and each one's
        rank within its origin (0 = nearest); built once."""
        if self._rank is None:
            t = self._table
            order = np.lexsort((t.dest, t.time_min, t.origin))
            o = t.origin[order]
            starts = np.searchsorted(o, np.arange(self.n_origins))
            rank = np.arange(len(o)) - starts[o]
            self._rank = (order, rank)
        return self._rank

    def nearest_k(self, k: int, *, origins: np.ndarray | None = None) -> NearestK:
        """The first ``k`` destinations of each origin (of ``origins``), in (time, position)
        order, and the time of the next one: the first ``k + 1`` pairs of each origin's
        pairs of the table sorted so. For all origins the deepest one asked for is kept."""
        k = max(int(k), 1)
        if origins is None and self._nk is not None and self._nk.k >= k:
            return self._nk.head(k)
        order, rank = self._ranked()
        t = self._table
        if origins is None:
            rows, row = np.arange(self.n_origins), np.arange(self.n_origins, dtype=np.int64)
        else:
            rows, row = np.unique(np.asarray(origins, np.int64), return_inverse=True)
            row = np.asarray(row, np.int64).ravel()
        row_of = np.full(self.n_origins, -1, np.int64)
        row_of[rows] = np.arange(len(rows))
        sel = rank <= k
        pos = order[sel]
        r = row_of[t.origin[pos]]
        held = r >= 0
        pos, r, c = pos[held], r[held], rank[sel][held]
        D = np.full((len(rows), k + 1), -1, np.int64)
        T = np.full((len(rows), k + 1), np.inf)
        D[r, c] = t.dest[pos]
        T[r, c] = t.time_min[pos]
        return self._ranked_nearest_k(D, T, k, row, whole=origins is None)

    def nearest(self, dest_mask: np.ndarray, *, origins: np.ndarray | None = None
                ) -> pd.DataFrame:
        """Nearest destination among ``dest_mask`` for every origin (of ``origins``):
        :func:`nearest` on the table (on those origins' rows only)."""
        t = self._table
        if origins is None:
            return nearest(t, dest_mask)
        uo, inv = np.unique(np.asarray(origins, np.int64), return_inverse=True)
        start = np.searchsorted(t.origin, uo)
        count = np.searchsorted(t.origin, uo, side="right") - start
        idx = _ranges_of(start, count)
        rows = CostTable(origin=np.repeat(np.arange(len(uo), dtype=np.int32), count),
                         dest=t.dest[idx], dist_m=t.dist_m[idx], time_min=t.time_min[idx],
                         origin_ids=np.asarray(t.origin_ids)[uo], dest_ids=t.dest_ids,
                         cutoff_min=t.cutoff_min, mode=t.mode)
        out = nearest(rows, dest_mask)
        return out.iloc[np.asarray(inv, np.int64).ravel()].reset_index(drop=True)

    def within(self, max_min: float, *, dest_mask: np.ndarray | None = None) -> CostTable:
        """The table's pairs with time <= ``min(max_min, cutoff_min)`` (inclusive as the
        model's own cut-off: 1e-12 relative), to ``dest_mask``; its ``cutoff_min`` is that
        time. At the cut-off it is the table itself."""
        t = self._table if dest_mask is None else subset_dests(self._table, dest_mask)
        depth = min(float(max_min), self.cutoff_min)
        if depth < self.cutoff_min:
            keep = t.time_min <= depth * (1 + 1e-12)
            t = CostTable(origin=t.origin[keep], dest=t.dest[keep], dist_m=t.dist_m[keep],
                          time_min=t.time_min[keep], origin_ids=t.origin_ids,
                          dest_ids=t.dest_ids, cutoff_min=depth, mode=t.mode)
        self._note(table="within", time_min=depth, pairs=int(len(t)), dests=t.n_dests)
        return t

    def group_pairs(self, origin_group: np.ndarray, dest_group: np.ndarray) -> CostTable:
        """The table's pairs whose origin and destination are in the same group (missing
        values are in no group)."""
        codes, _ = pd.factorize(pd.concat([pd.Series(np.asarray(origin_group, dtype=object)),
                                           pd.Series(np.asarray(dest_group, dtype=object))],
                                          ignore_index=True), use_na_sentinel=True)
        og, dg = codes[:self.n_origins], codes[self.n_origins:]
        t = self._table
        go = og[t.origin]
        keep = (go >= 0) & (go == dg[t.dest])
        self._note(table="group_pairs", pairs=int(keep.sum()), dests=self.n_dests)
        return CostTable(origin=t.origin[keep], dest=t.dest[keep], dist_m=t.dist_m[keep],
                         time_min=t.time_min[keep], origin_ids=t.origin_ids,
                         dest_ids=t.dest_ids, cutoff_min=t.cutoff_min, mode=t.mode)

    def table(self) -> CostTable:
        """Every pair within the cut-off: the searched table."""
        self._note(table="all_pairs", time_min=self.cutoff_min, pairs=int(len(self._table)),
                   dests=self.n_dests)
        return self._table


def append_dests(costs: CostTable, extra: CostTable) -> CostTable:
    """``costs`` with the destinations of ``extra`` (same origins, same cut-off) after its
    own, sorted by origin then destination."""
    if not np.array_equal(np.asarray(extra.origin_ids), np.asarray(costs.origin_ids)):
        msg = "append_dests: the extra table's origins differ from the table's"
        raise GisError(msg)
    o = np.concatenate([costs.origin, extra.origin])
    d = np.concatenate([costs.dest, extra.dest + costs.n_dests])
    order = np.lexsort((d, o))
    return CostTable(origin=o[order].astype(np.int32), dest=d[order].astype(np.int32),
                     dist_m=np.concatenate([costs.dist_m, extra.dist_m])[order],
                     time_min=np.concatenate([costs.time_min, extra.time_min])[order],
                     origin_ids=costs.origin_ids,
                     dest_ids=np.concatenate([np.asarray(costs.dest_ids).astype(object),
                                              np.asarray(extra.dest_ids).astype(object)]),
                     cutoff_min=costs.cutoff_min, mode=costs.mode)


def _ranges_of(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Concatenated ``arange(s, s + l)`` for every (start, length)."""
    lengths = np.asarray(lengths, np.int64)
    total = int(lengths.sum())
    if total == 0:
        return np.zeros(0, np.int64)
    offsets = np.cumsum(lengths) - lengths
    return np.arange(total, dtype=np.int64) - np.repeat(offsets - np.asarray(starts, np.int64),
                                                        lengths)
