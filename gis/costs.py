"""Travel costs: sparse origin-destination tables between demand points and facilities.

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
    origin, dest : ndarray of int64
        Positions (0..n-1) into ``origin_ids`` and ``dest_ids``; rows sorted by origin, then dest.
    dist_m : ndarray of float64
        Travel distance in metres (network or straight line x detour factor).
    time_min : ndarray of float64
        Travel time in minutes.
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


def _sorted_table(
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
        origin=np.asarray(origin, dtype=np.int64)[order],
        dest=np.asarray(dest, dtype=np.int64)[order],
        dist_m=np.asarray(dist_m, dtype=np.float64)[order],
        time_min=np.asarray(time_min, dtype=np.float64)[order],
        origin_ids=np.asarray(origin_ids),
        dest_ids=np.asarray(dest_ids),
        cutoff_min=float(cutoff_min),
        mode=mode,
    )


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
) -> CostTable:
    """Straight-line travel model: distance x detour factor / speed, pairs within a cut-off.

    Parameters
    ----------
    origins_xy, dests_xy : ndarray, shape (n, 2)
        Coordinates in metres in a projected CRS (the working CRS).
    speed_kmh : float
        Travel speed in km/h.
    detour_factor : float
        Ratio of travelled to straight-line distance (>= 1).
    cutoff_min : float
        Keep pairs whose time is at most this many minutes.
    """
    origins_xy = np.asarray(origins_xy, dtype=np.float64).reshape(-1, 2)
    dests_xy = np.asarray(dests_xy, dtype=np.float64).reshape(-1, 2)
    if origin_ids is None:
        origin_ids = np.arange(len(origins_xy))
    if dest_ids is None:
        dest_ids = np.arange(len(dests_xy))
    speed_m_per_min = speed_kmh * 1000.0 / 60.0
    radius_m = cutoff_min * speed_m_per_min / detour_factor
    if len(origins_xy) == 0 or len(dests_xy) == 0:
        empty = np.empty(0)
        return _sorted_table(empty, empty, empty, empty, origin_ids=origin_ids,
                             dest_ids=dest_ids, cutoff_min=cutoff_min, mode=mode)
    tree_o = cKDTree(origins_xy)
    tree_d = cKDTree(dests_xy)
    # A tiny slack keeps pairs at exactly the cut-off despite floating-point rounding.
    pairs = tree_o.sparse_distance_matrix(tree_d, radius_m * (1 + 1e-12), output_type="ndarray")
    o = pairs["i"].astype(np.int64)
    d = pairs["j"].astype(np.int64)
    # sparse_distance_matrix drops exact zero distances; recompute all distances explicitly.
    straight = np.hypot(*(origins_xy[o] - dests_xy[d]).T)
    dist_m = straight * detour_factor
    time_min = dist_m / speed_m_per_min
    keep = time_min <= cutoff_min * (1 + 1e-12)
    # Co-located pairs (distance 0) are not returned by the tree query: add them.
    zero_o, zero_d = _colocated_pairs(tree_o, tree_d)
    if len(zero_o):
        known = set(zip(o[keep].tolist(), d[keep].tolist(), strict=True))
        extra = [(a, b) for a, b in zip(zero_o, zero_d, strict=True) if (a, b) not in known]
        if extra:
            ea = np.array([e[0] for e in extra], dtype=np.int64)
            eb = np.array([e[1] for e in extra], dtype=np.int64)
            o = np.concatenate([o[keep], ea])
            d = np.concatenate([d[keep], eb])
            dist_m = np.concatenate([dist_m[keep], np.zeros(len(ea))])
            time_min = np.concatenate([time_min[keep], np.zeros(len(ea))])
            keep = np.ones(len(o), dtype=bool)
    return _sorted_table(o[keep], d[keep], dist_m[keep], time_min[keep], origin_ids=origin_ids,
                         dest_ids=dest_ids, cutoff_min=cutoff_min, mode=mode)


def _colocated_pairs(tree_o: cKDTree, tree_d: cKDTree) -> tuple[list[int], list[int]]:
    hits = tree_o.query_ball_tree(tree_d, r=0.0)
    zo: list[int] = []
    zd: list[int] = []
    for i, js in enumerate(hits):
        for j in js:
            zo.append(i)
            zd.append(j)
    return zo, zd
