"""Brute-force references for the tests: every figure recomputed from coordinates and
populations with dense numpy arrays, written without the package's code (no cost table, no
KD-tree, no sparse queries, no solver), so that a test comparing the two compares two routes."""

from __future__ import annotations

import itertools

import numpy as np
import shapely


def xy(gdf) -> np.ndarray:
    """Point coordinates (n x 2) of a GeoDataFrame of points."""
    return np.column_stack([shapely.get_x(gdf.geometry.to_numpy()),
                            shapely.get_y(gdf.geometry.to_numpy())])


def times(units: np.ndarray, sites: np.ndarray, *, speed_kmh: float, detour: float
          ) -> np.ndarray:
    """Minutes from every unit to every site: straight line x detour / speed (units x sites)."""
    out = np.empty((len(units), len(sites)))
    step = 4096
    for a in range(0, len(units), step):
        d = np.hypot(units[a:a + step, None, 0] - sites[None, :, 0],
                     units[a:a + step, None, 1] - sites[None, :, 1])
        out[a:a + step] = d * detour / (speed_kmh * 1000 / 60)
    return out


def nearest_site(units: np.ndarray, sites: np.ndarray, *, speed_kmh: float, detour: float
            ) -> tuple[np.ndarray, np.ndarray]:
    """Position of the nearest site and its time, per unit."""
    t = times(units, sites, speed_kmh=speed_kmh, detour=detour)
    j = t.argmin(axis=1)
    return j, t[np.arange(len(units)), j]


def covered(time_min: np.ndarray, pop: np.ndarray, limit: float,
            cutoff_min: float = np.inf) -> float:
    """Persons within ``limit`` minutes (inclusive; beyond the cut-off counts as not)."""
    return float(pop[(time_min <= limit) & (time_min <= cutoff_min)].sum())


def weighted_quantile(values: np.ndarray, weights: np.ndarray, q: float) -> float:
    """The smallest value with at least ``q`` of the weight at or below it."""
    order = np.argsort(values, kind="stable")
    cum = np.cumsum(weights[order])
    return float(values[order][np.searchsorted(cum, q * cum[-1])])


def best_branches(base_time: np.ndarray, cand_time: np.ndarray, pop: np.ndarray, limit: float,
                  k: int) -> tuple[float, tuple[int, ...]]:
    """Most persons within ``limit`` with ``k`` candidates added to the base sites, by trying
    every combination of the candidates that cover someone the base leaves out."""
    out = base_time > limit
    useful = [j for j in range(cand_time.shape[1])
              if ((cand_time[:, j] <= limit) & out & (pop > 0)).any()]
    base = float(pop[~out].sum())
    best, pick = base, ()
    for combo in itertools.combinations(useful, min(k, len(useful))):
        gain = float(pop[out & (cand_time[:, list(combo)] <= limit).any(axis=1)].sum())
        if base + gain > best + 1e-9:
            best, pick = base + gain, combo
    return best, pick


def straight_minutes(a_xy, b_xy, *, speed_kmh: float, detour_factor: float) -> np.ndarray:
    """Dense minutes between every row of ``a_xy`` and of ``b_xy`` by the straight-line model
    (distance x detour / speed), in the float operations the README states."""
    a = np.asarray(a_xy, float)
    b = np.asarray(b_xy, float)
    dx = a[:, None, 0] - b[None, :, 0]
    dy = a[:, None, 1] - b[None, :, 1]
    return np.sqrt(dx * dx + dy * dy) * detour_factor / (speed_kmh * 1000.0 / 60.0)


def nearest(D: np.ndarray, cols, *, cutoff_min: float = np.inf):
    """Time and column of the nearest of ``cols`` per row (first column on ties); ``inf``
    and -1 beyond ``cutoff_min``."""
    cols = np.asarray(cols, int)
    if len(cols) == 0:
        return np.full(len(D), np.inf), np.full(len(D), -1)
    sub = D[:, cols]
    j = np.argmin(sub, axis=1)
    t = sub[np.arange(len(D)), j]
    far = ~(t <= cutoff_min)
    return np.where(far, np.inf, t), np.where(far, -1, cols[j])


def lower_quantile(values, weights, q: float) -> float:
    """The smallest value v such that the weight of the values <= v reaches q of the total."""
    values = np.asarray(values, float)
    weights = np.asarray(weights, float)
    distinct, which = np.unique(values, return_inverse=True)
    weight_upto = np.cumsum(np.bincount(which.ravel(), weights=weights,
                                        minlength=len(distinct)))
    reached = np.flatnonzero(weight_upto >= q * weights.sum())
    return float(distinct[reached[0]] if len(reached) else distinct[-1])


def sums_by(keys, weights) -> dict:
    """Sum of ``weights`` per key, by a plain loop."""
    out: dict = {}
    for k, w in zip(keys, weights, strict=True):
        out[k] = out.get(k, 0.0) + float(w)
    return out


def contiguous_areas(geoms, x, y, grow_m: float = 0.01):
    """Contiguous areas of polygons by graph components (networkx): the polygons' parts (a
    demand unit may be several disjoint bits of one cell) are nodes, touching parts (grown by
    ``grow_m``) are joined; each polygon belongs to the area of the part holding its point
    (``x``, ``y``). Returns a list of (member positions, area in the geometry's units²)."""
    import networkx as nx

    parts, owner = shapely.get_parts(np.asarray(geoms, dtype=object), return_index=True)
    grown = shapely.buffer(parts, grow_m, join_style="mitre")
    a, b = shapely.STRtree(grown).query(grown, predicate="intersects")
    G = nx.Graph()
    G.add_nodes_from(range(len(parts)))
    G.add_edges_from(zip(a.tolist(), b.tolist(), strict=True))
    comp_of = np.empty(len(parts), int)
    comps = list(nx.connected_components(G))
    for k, c in enumerate(comps):
        comp_of[list(c)] = k
    pts = shapely.points(np.asarray(x, float), np.asarray(y, float))
    holder = np.full(len(pts), -1)
    for p in range(len(parts)):
        if holder[owner[p]] < 0 and shapely.covers(parts[p], pts[owner[p]]):
            holder[owner[p]] = p
    assert (holder >= 0).all(), "a unit's point lies outside its geometry"
    out = []
    for k, c in enumerate(comps):
        members = np.flatnonzero(comp_of[holder] == k)
        if len(members):
            out.append((members, shapely.union_all(grown[list(c)]).area))
    return out
