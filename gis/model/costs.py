"""Travel-cost tables: sparse origin-destination tables between demand points and facilities,
the straight-line model that builds them, and the queries on them (nearest open site).

The :class:`CostTable` is the seam between the travel model and every analysis: analyses and
location models take a cost table, never GeoDataFrames. Only pairs within a cut-off are stored,
so memory grows with the pairs within reach, never with origins x destinations.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.spatial import cKDTree

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


def subset_dests(costs: CostTable, dest_mask: np.ndarray) -> CostTable:
    """The table restricted to some destinations (renumbered 0..k-1, order kept)."""
    dest_mask = np.asarray(dest_mask, bool)
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

def nearest(costs: CostTable, dest_mask: np.ndarray) -> pd.DataFrame:
    """Nearest destination among ``dest_mask`` for every origin.

    Returns
    -------
    DataFrame
        Indexed by origin position: ``dest`` (position, -1 if none within the cut-off),
        ``time_min`` and ``dist_m`` (NaN if none).
    """
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


def nearest_open_time(costs: CostTable, open_mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Time (min) to, and position of, the nearest open destination for every origin.

    Parameters
    ----------
    costs : CostTable
    open_mask : ndarray of bool, shape (n_dests,)

    Returns
    -------
    time_min : ndarray, shape (n_origins,)
        ``inf`` where no open destination is within the table's cut-off.
    dest : ndarray of int, shape (n_origins,)
        Position of the nearest open destination, -1 where none.
    """
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
