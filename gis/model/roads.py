"""The road travel model: a directed road graph (scipy.sparse.csgraph) with off-road legs on
foot, giving the same :class:`~gis.model.costs.CostTable` as the straight-line model."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import shapely
from scipy import sparse
from scipy.sparse import csgraph
from scipy.spatial import cKDTree

from gis.errors import GisError
from gis.model.costs import CostTable, sorted_table

log = logging.getLogger(__name__)


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
        the class) and ``oneway`` (see :func:`gis.inputs.readers.read_roads`).
    speeds_kmh : dict
        Speed per road class; ``"default"`` for classes not listed.

    Returns
    -------
    time_csr, length_csr : scipy.sparse.csr_array
        Node x node minutes and metres (the faster edge kept where lines repeat).
    node_xy : ndarray, shape (n, 2)
    """
    geoms = roads.geometry.to_numpy()
    coords, line_idx = shapely.get_coordinates(geoms, return_index=True)
    if len(coords) == 0:
        msg = "roads layer has no lines: give a line layer or leave layers.roads empty"
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
    table = sorted_table(o, d, np.concatenate(m_all) if m_all else np.empty(0),
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


def road_problems(roads, sites_xy: np.ndarray, site_ids: np.ndarray, *,
                  max_snap_m: float = 2_000.0) -> tuple[list[str], list[str]]:
    """Whether a road layer can carry trips between the sites, checked before any routing.

    The road model walks from a place to its nearest road vertex, drives, and walks to the
    facility; lines join only where they share a vertex (to the centimetre). A layer whose lines
    do not meet, or that lies elsewhere, would make most trips impossible, which the analyses
    would otherwise report as people beyond the cut-off.

    Parameters
    ----------
    roads : GeoDataFrame
        Road lines in a projected CRS (metres), as :func:`gis.inputs.readers.read_roads` gives.
    sites_xy : ndarray, shape (n, 2)
        The facilities in the same CRS.
    site_ids : ndarray of str
        Their ids, for the messages.
    max_snap_m : float
        A site farther than this from every road vertex is "far from the roads".

    Returns
    -------
    problems, notes : list of str
        Problems (more than half of the sites far from every road, or the largest connected
        piece of the roads joining fewer than half of them) and notes naming the few sites off
        the largest piece.
    """
    sites_xy = np.asarray(sites_xy, float).reshape(-1, 2)
    if len(sites_xy) == 0:
        return [], []
    _, length_csr, node_xy = road_graph(roads, speeds_kmh={"default": 25.0})
    n_comp, labels = csgraph.connected_components(length_csr, directed=True, connection="weak")
    snap, node = cKDTree(node_xy).query(sites_xy)
    problems, notes = [], []
    far = snap > max_snap_m
    if far.sum() * 2 > len(sites_xy):
        problems.append(f"{int(far.sum())} of {len(sites_xy)} facilities are more than "
                        f"{max_snap_m / 1000:g} km from every road (median "
                        f"{np.median(snap) / 1000:.1f} km): is this the road layer of the "
                        f"province, with its CRS declared correctly?")
    piece = labels[node]
    counts = np.bincount(piece, minlength=n_comp)
    main = int(counts.argmax())
    off = piece != main
    ids = [str(i) for i in np.asarray(site_ids)[off]]
    listed = ", ".join(ids[:10]) + (f" and {len(ids) - 10} more" if len(ids) > 10 else "")
    fix = ("lines must share their end points where roads meet: snap them (e.g. QGIS "
           "'Snap geometries to layer', GRASS v.clean) and add the missing links, or leave "
           "layers.roads empty to use the straight-line model")
    if n_comp > 1 and counts[main] * 2 < len(sites_xy):
        problems.append(f"the roads fall into {n_comp} pieces that do not connect: the largest "
                        f"joins only {int(counts[main])} of {len(sites_xy)} facilities, so most "
                        f"trips are impossible by road (the facilities elsewhere: {listed}); "
                        f"{fix}")
    elif off.any():
        notes.append(f"{len(ids)} of {len(sites_xy)} facilities lie on road pieces not joined to "
                     f"the rest ({listed}): trips to them stay on their own piece; if they "
                     f"should connect, {fix}")
    return problems, notes
