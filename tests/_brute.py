"""Brute-force references for the tests: every figure recomputed from coordinates and
populations with dense numpy arrays, written without the package's code (no cost table, no
KD-tree, no sparse queries), so that a test comparing the two compares two routes."""

from __future__ import annotations

import numpy as np


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
    import shapely

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
