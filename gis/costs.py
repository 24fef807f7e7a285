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


def subset_dests(costs: CostTable, dest_mask: np.ndarray) -> CostTable:
    """The table restricted to some destinations (renumbered 0..k-1, order kept)."""
    dest_mask = np.asarray(dest_mask, bool)
    new_pos = np.cumsum(dest_mask) - 1
    keep = dest_mask[costs.dest]
    return CostTable(origin=costs.origin[keep], dest=new_pos[costs.dest[keep]],
                     dist_m=costs.dist_m[keep], time_min=costs.time_min[keep],
                     origin_ids=costs.origin_ids, dest_ids=costs.dest_ids[dest_mask],
                     cutoff_min=costs.cutoff_min, mode=costs.mode)


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
    chunk_size: int = 200_000,
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
    tree_d = cKDTree(dests_xy)
    parts = []
    # Chunks of origins bound the temporary memory of the tree query; the table itself grows
    # with the pairs within the cut-off only.
    for start in range(0, len(origins_xy), chunk_size):
        block = origins_xy[start:start + chunk_size]
        pairs = cKDTree(block).sparse_distance_matrix(tree_d, radius_m * (1 + 1e-12),
                                                      output_type="ndarray")
        parts.append((pairs["i"].astype(np.int64) + start, pairs["j"].astype(np.int64),
                      pairs["v"]))
    o = np.concatenate([p[0] for p in parts])
    d = np.concatenate([p[1] for p in parts])
    dist_m = np.concatenate([p[2] for p in parts]) * detour_factor
    time_min = dist_m / speed_m_per_min
    keep = time_min <= cutoff_min * (1 + 1e-12)
    return _sorted_table(o[keep], d[keep], dist_m[keep], time_min[keep], origin_ids=origin_ids,
                         dest_ids=dest_ids, cutoff_min=cutoff_min, mode=mode)


# --- road model ---------------------------------------------------------------------------

@dataclass(frozen=True)
class RoadReport:
    """What the road model could and could not reach.

    Attributes
    ----------
    nodes, edges : int
        Size of the road graph (vertices of the lines; directed edges).
    components : int
        Weakly connected parts of the road graph.
    largest_component_share : float
        Share of nodes in the largest part.
    unreachable_origins : ndarray of int
        Positions of origins that reach no destination within the cut-off.
    unreachable_dests : ndarray of int
        Positions of destinations no origin reaches within the cut-off.
    max_snap_m : float
        Longest off-road leg (origin or destination to its nearest road node), metres.
    """

    nodes: int
    edges: int
    components: int
    largest_component_share: float
    unreachable_origins: np.ndarray
    unreachable_dests: np.ndarray
    max_snap_m: float

    def as_dict(self) -> dict[str, object]:
        return {"nodes": self.nodes, "edges": self.edges, "components": self.components,
                "largest_component_share": self.largest_component_share,
                "unreachable_origins": int(len(self.unreachable_origins)),
                "unreachable_dests": int(len(self.unreachable_dests)),
                "max_snap_m": self.max_snap_m}


def road_graph(roads, *, speeds_kmh: dict[str, float]):
    """Directed road graph as a sparse matrix of travel minutes.

    Parameters
    ----------
    roads : GeoDataFrame
        LineStrings in a projected CRS (metres) with ``road_class``, ``speed_kmh`` (NaN = from
        the class) and ``oneway`` (see :func:`gis.layers.read_roads`).
    speeds_kmh : dict
        Speed per road class; ``"default"`` for classes not listed.

    Returns
    -------
    time_csr, length_csr : scipy.sparse.csr_array
        Node x node minutes and metres (the faster edge kept where lines repeat).
    node_xy : ndarray, shape (n, 2)
    """
    import shapely
    from scipy import sparse

    geoms = roads.geometry.to_numpy()
    coords, line_idx = shapely.get_coordinates(geoms, return_index=True)
    if len(coords) == 0:
        msg = "roads layer has no lines: give a line layer or leave layers.roads empty"
        from gis.errors import GisError

        raise GisError(msg)
    node_xy, node_of = np.unique(np.round(coords, 2), axis=0, return_inverse=True)
    node_of = node_of.ravel()
    same_line = line_idx[1:] == line_idx[:-1]
    a = node_of[:-1][same_line]
    b = node_of[1:][same_line]
    seg_line = line_idx[:-1][same_line]
    length_m = np.hypot(*(coords[1:][same_line] - coords[:-1][same_line]).T)
    default = float(speeds_kmh.get("default", 25.0))
    cls = roads["road_class"].astype(str).to_numpy() if "road_class" in roads else None
    own = roads["speed_kmh"].to_numpy(float) if "speed_kmh" in roads else None
    line_speed = np.array([speeds_kmh.get(c, default) for c in cls]) if cls is not None \
        else np.full(len(roads), default)
    if own is not None:
        line_speed = np.where(np.isfinite(own) & (own > 0), own, line_speed)
    speed = line_speed[seg_line]
    minutes = length_m / (speed * 1000.0 / 60.0)
    oneway = roads["oneway"].to_numpy(bool)[seg_line] if "oneway" in roads else \
        np.zeros(len(a), bool)
    keep = a != b
    a, b, minutes, length_m, oneway = a[keep], b[keep], minutes[keep], length_m[keep], oneway[keep]
    rows = np.concatenate([a, b[~oneway]])
    cols = np.concatenate([b, a[~oneway]])
    tmin = np.concatenate([minutes, minutes[~oneway]])
    lm = np.concatenate([length_m, length_m[~oneway]])
    # Keep the fastest of repeated edges: sort by time, drop later duplicates.
    order = np.lexsort((tmin, cols, rows))
    rows, cols, tmin, lm = rows[order], cols[order], tmin[order], lm[order]
    first = np.r_[True, (rows[1:] != rows[:-1]) | (cols[1:] != cols[:-1])]
    n = len(node_xy)
    time_csr = sparse.csr_array((tmin[first], (rows[first], cols[first])), shape=(n, n))
    length_csr = sparse.csr_array((lm[first], (rows[first], cols[first])), shape=(n, n))
    return time_csr, length_csr, node_xy


def road_costs(
    origins_xy: np.ndarray,
    dests_xy: np.ndarray,
    roads,
    *,
    speeds_kmh: dict[str, float],
    walking_speed_kmh: float,
    cutoff_min: float,
    origin_ids: np.ndarray | None = None,
    dest_ids: np.ndarray | None = None,
    max_block: int = 20_000_000,
) -> tuple[CostTable, RoadReport]:
    """Road travel model: walk to the nearest road node, drive the fastest path, walk to the
    facility. Multi-source Dijkstra (scipy.sparse.csgraph) from the destinations on the reversed
    graph, limited to the cut-off.

    ``dist_m`` is the off-road legs plus the road length of the fastest path's node sequence
    as given by a second, length-weighted search, i.e. the shortest road distance between the
    two snapped nodes (it may differ from the fastest path's length).

    Returns
    -------
    CostTable, RoadReport
    """
    from scipy.sparse import csgraph

    origins_xy = np.asarray(origins_xy, dtype=np.float64).reshape(-1, 2)
    dests_xy = np.asarray(dests_xy, dtype=np.float64).reshape(-1, 2)
    origin_ids = np.arange(len(origins_xy)) if origin_ids is None else np.asarray(origin_ids)
    dest_ids = np.arange(len(dests_xy)) if dest_ids is None else np.asarray(dest_ids)
    time_csr, length_csr, node_xy = road_graph(roads, speeds_kmh=speeds_kmh)
    n_comp, labels = csgraph.connected_components(time_csr, directed=True, connection="weak")
    largest = np.bincount(labels).max() / len(labels)
    if n_comp > 1:
        log.warning("road graph has %d disconnected parts; the largest holds %.1f%% of nodes",
                    n_comp, 100 * largest)
    tree = cKDTree(node_xy)
    snap_o, node_o = tree.query(origins_xy)
    snap_d, node_d = tree.query(dests_xy)
    walk = walking_speed_kmh * 1000.0 / 60.0
    leg_o = snap_o / walk
    leg_d = snap_d / walk
    reverse_t = time_csr.T.tocsr()
    reverse_l = length_csr.T.tocsr()
    o_all, d_all, t_all, m_all = [], [], [], []
    per = max(1, int(max_block // max(len(origins_xy), 1)))
    for start in range(0, len(dests_xy), per):
        js = np.arange(start, min(start + per, len(dests_xy)))
        t_nodes = csgraph.dijkstra(reverse_t, directed=True, indices=node_d[js],
                                   limit=cutoff_min)
        l_nodes = csgraph.dijkstra(reverse_l, directed=True, indices=node_d[js])
        t = t_nodes[:, node_o] + leg_o[None, :] + leg_d[js][:, None]
        ok = t <= cutoff_min * (1 + 1e-12)
        jj, oo = np.nonzero(ok)
        o_all.append(oo)
        d_all.append(js[jj])
        t_all.append(t[jj, oo])
        m_all.append(l_nodes[jj, node_o[oo]] + snap_o[oo] + snap_d[js[jj]])
    o = np.concatenate(o_all) if o_all else np.empty(0, np.int64)
    d = np.concatenate(d_all) if d_all else np.empty(0, np.int64)
    table = _sorted_table(o, d, np.concatenate(m_all) if m_all else np.empty(0),
                          np.concatenate(t_all) if t_all else np.empty(0),
                          origin_ids=origin_ids, dest_ids=dest_ids, cutoff_min=cutoff_min,
                          mode="road")
    reached_o = np.zeros(len(origins_xy), bool)
    reached_o[o] = True
    reached_d = np.zeros(len(dests_xy), bool)
    reached_d[d] = True
    report = RoadReport(nodes=len(node_xy), edges=int(time_csr.nnz), components=int(n_comp),
                        largest_component_share=float(largest),
                        unreachable_origins=np.flatnonzero(~reached_o),
                        unreachable_dests=np.flatnonzero(~reached_d),
                        max_snap_m=float(max(snap_o.max(initial=0), snap_d.max(initial=0))))
    if len(report.unreachable_origins):
        log.warning("road model: %d of %d origins reach no destination within %g min",
                    len(report.unreachable_origins), len(origins_xy), cutoff_min)
    return table, report
