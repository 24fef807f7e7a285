"""Road travel model: speeds per road class and mode, one-way streets, ferries, off-road legs.

A trip from a demand point to a facility is: an off-road leg (straight line, at the off-road
speed, usually walking) to the nearest point of a road the mode may use, the fastest way along
the roads (Dijkstra, :func:`gis.model.search.graph_times`), and an off-road leg from the road
to the facility.
A point farther than ``snap_max_m`` from every usable road has no road trip: it is reported
(:attr:`RoadReport.unsnapped_origins`), never silently dropped, and it can still walk straight
to a facility within ``snap_max_m`` (the longest off-road leg allowed anywhere).

Direction: demand travels from the cell to the facility, so each facility is searched on the
reversed graph (one-way streets turned round), giving for every node the time of the fastest
way from that node to the facility. Points are snapped to the nearest point of a road segment,
not to its nearest vertex: a cell beside a long straight road enters it where it is closest,
then drives to either end of the segment the one-way rules allow.

Speeds (km/h) come from a table mode x road class (:data:`DEFAULT_CLASS_SPEEDS_KMH`, effective
travel speeds, not legal limits); a speed of 0 closes the class to the mode (motorbikes and
people on foot may not use Vietnam's expressways). For vehicles, a tagged ``maxspeed_kmh``
caps the class speed, and a ``speed_kmh`` given in the road layer replaces it. Ferries take
their tagged ``duration`` (else their length at ``ferry_speed_kmh``) plus ``ferry_wait_min``.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from scipy import sparse
from scipy.sparse import csgraph
from scipy.spatial import cKDTree

from gis.errors import GisError
from gis.model.costs import CostTable
from gis.model.search import graph_times

log = logging.getLogger(__name__)

MODES = ("car", "motorbike", "walking")

# Effective speeds (km/h) per mode and OSM highway class in Vietnam: averages over a trip
# (junctions, traffic, road state), below the legal limits. "default" applies to any class
# not listed; 0 closes a class to the mode. Motorbikes may not use expressways (highway=
# motorway, including their links; Law on Road Traffic Order and Safety 2024, art. 35), nor
# may pedestrians; cars may not use footways, paths, steps, cycleways.
DEFAULT_CLASS_SPEEDS_KMH: dict[str, dict[str, float]] = {
    "car": {
        "motorway": 90.0, "motorway_link": 50.0, "trunk": 60.0, "trunk_link": 40.0,
        "primary": 50.0, "primary_link": 35.0, "secondary": 40.0, "secondary_link": 30.0,
        "tertiary": 35.0, "tertiary_link": 25.0, "unclassified": 30.0, "residential": 20.0,
        "living_street": 10.0, "service": 15.0, "road": 25.0, "track": 10.0,
        "path": 0.0, "footway": 0.0, "pedestrian": 0.0, "steps": 0.0, "cycleway": 0.0,
        "bridleway": 0.0, "corridor": 0.0, "elevator": 0.0, "trail": 0.0, "busway": 0.0,
        "default": 20.0,
    },
    "motorbike": {
        "motorway": 0.0, "motorway_link": 0.0, "trunk": 50.0, "trunk_link": 35.0,
        "primary": 45.0, "primary_link": 30.0, "secondary": 40.0, "secondary_link": 30.0,
        "tertiary": 35.0, "tertiary_link": 25.0, "unclassified": 30.0, "residential": 25.0,
        "living_street": 15.0, "service": 15.0, "road": 25.0, "track": 15.0, "path": 10.0,
        "footway": 10.0, "pedestrian": 10.0, "cycleway": 15.0, "bridleway": 10.0,
        "trail": 10.0, "steps": 0.0, "corridor": 0.0, "elevator": 0.0, "busway": 0.0,
        "default": 20.0,
    },
    "walking": {
        "motorway": 0.0, "motorway_link": 0.0, "steps": 3.0, "default": 4.5,
    },
}
# Classes entered only at junctions: no off-road leg ends on them.
NO_SNAP_CLASSES = frozenset({"motorway", "motorway_link"})


def class_speeds(mode: str, speeds: Mapping[str, Mapping[str, float]] | None = None
                 ) -> dict[str, float]:
    """The speed table of one mode: the defaults, updated by ``speeds[mode]`` when given."""
    if mode not in MODES and (speeds is None or mode not in speeds):
        msg = f"travel mode {mode!r}: no road speeds; use one of {', '.join(MODES)}"
        raise GisError(msg)
    table = dict(DEFAULT_CLASS_SPEEDS_KMH.get(mode, {"default": 20.0}))
    if speeds is not None and mode in speeds:
        table.update({str(k): float(v) for k, v in speeds[mode].items()})
    return table


def line_speeds_kmh(roads: gpd.GeoDataFrame, *, mode: str,
                    class_speeds_kmh: Mapping[str, float]) -> np.ndarray:
    """Speed of each line for a mode (0 = closed to it); ferries are not priced here.

    The class speed (``class_speeds_kmh[road_class]``, else ``["default"]``); for vehicles a
    ``speed_kmh`` of the layer replaces it on classes open to the mode, and ``maxspeed_kmh``
    caps it: ``min(speed, maxspeed)``. On foot, the class speed only.
    """
    default = float(class_speeds_kmh.get("default", 0.0))
    cls = roads["road_class"].astype(str).to_numpy() if "road_class" in roads \
        else np.full(len(roads), "")
    speed = np.array([float(class_speeds_kmh.get(c, default)) for c in cls], dtype=float)
    if mode != "walking":
        if "speed_kmh" in roads:
            own = roads["speed_kmh"].to_numpy(float)
            speed = np.where((speed > 0) & np.isfinite(own) & (own > 0), own, speed)
        if "maxspeed_kmh" in roads:
            cap = roads["maxspeed_kmh"].to_numpy(float)
            speed = np.where(np.isfinite(cap) & (cap > 0), np.minimum(speed, cap), speed)
    return np.where(np.isfinite(speed) & (speed > 0), speed, 0.0)


@dataclass(frozen=True)
class RoadGraph:
    """The directed road graph of one mode, reversed for searches towards facilities.

    Attributes
    ----------
    mode : str
    node_xy : ndarray, shape (n, 2)
        Vertices of the lines (working CRS, metres; equal to 1 cm are one node).
    rev_time, rev_len : scipy.sparse.csr_array
        Reversed graph: ``rev_time[v, u]`` is the minutes of the edge u -> v (the fastest of
        repeated edges), ``rev_len`` its metres; same sparsity pattern.
    seg_a, seg_b : ndarray of int
        Road segments a point may snap to (no ferries, no :data:`NO_SNAP_CLASSES`).
    seg_ab_min, seg_ba_min : ndarray of float
        Minutes from a to b and from b to a along the segment (inf where one-way forbids).
    seg_len_m : ndarray of float
    ferry_edges : int
        Directed ferry edges.
    components : int
        Weakly connected parts of the graph.
    largest_node_share, largest_length_share : float
        Share of nodes, and of road length, in the largest part.
    """

    mode: str
    node_xy: np.ndarray
    rev_time: sparse.csr_array
    rev_len: sparse.csr_array
    seg_a: np.ndarray
    seg_b: np.ndarray
    seg_ab_min: np.ndarray
    seg_ba_min: np.ndarray
    seg_len_m: np.ndarray
    ferry_edges: int
    components: int
    largest_node_share: float
    largest_length_share: float

    @property
    def n_nodes(self) -> int:
        return len(self.node_xy)

    @property
    def n_edges(self) -> int:
        return int(self.rev_time.nnz)


def build_road_graph(
    roads: gpd.GeoDataFrame,
    *,
    mode: str = "motorbike",
    class_speeds_kmh: Mapping[str, float] | None = None,
    ferry_speed_kmh: float = 10.0,
    ferry_wait_min: float = 15.0,
) -> RoadGraph:
    """The road graph of one travel mode.

    Parameters
    ----------
    roads : GeoDataFrame
        LineStrings in the working CRS (metres): ``road_class``; optional ``speed_kmh``,
        ``maxspeed_kmh``, ``oneway`` (bool, along the geometry), ``is_ferry``,
        ``ferry_duration_min`` (see :func:`gis.inputs.osm.read_osm_roads`,
        :func:`gis.layers.read_roads`).
    mode : str
        ``"car"``, ``"motorbike"`` or ``"walking"``: the speed table, and whether one-way
        streets bind (they do not on foot).
    class_speeds_kmh : mapping, optional
        Speed per class for this mode (see :func:`class_speeds`); the defaults when None.
    ferry_speed_kmh, ferry_wait_min : float
        A ferry without a tagged ``duration`` takes its length at this speed; every ferry
        crossing adds the wait (half the time between departures, say).

    Raises
    ------
    GisError
        No line is usable by the mode.
    """
    table = dict(class_speeds_kmh) if class_speeds_kmh is not None else class_speeds(mode)
    n_lines = len(roads)
    ferry = roads["is_ferry"].to_numpy(bool) if "is_ferry" in roads else np.zeros(n_lines, bool)
    oneway = roads["oneway"].to_numpy(bool) if "oneway" in roads else np.zeros(n_lines, bool)
    speed = line_speeds_kmh(roads, mode=mode, class_speeds_kmh=table)
    cls = roads["road_class"].astype(str).to_numpy() if "road_class" in roads \
        else np.full(n_lines, "")
    geoms = roads.geometry.to_numpy()
    coords, line_idx = shapely.get_coordinates(geoms, return_index=True)
    if len(coords) == 0:
        msg = "roads layer has no lines: give a line layer or leave layers.roads empty"
        raise GisError(msg)
    node_xy, node_of = np.unique(np.round(coords, 2), axis=0, return_inverse=True)
    node_of = node_of.ravel()
    n = len(node_xy)

    # road segments: consecutive vertices of one line
    same = line_idx[1:] == line_idx[:-1]
    s_line = line_idx[:-1][same]
    s_a, s_b = node_of[:-1][same], node_of[1:][same]
    s_len = np.hypot(*(coords[1:][same] - coords[:-1][same]).T)
    use = (~ferry[s_line]) & (speed[s_line] > 0) & (s_a != s_b)
    s_line, s_a, s_b, s_len = s_line[use], s_a[use], s_b[use], s_len[use]
    s_min = s_len / (speed[s_line] * 1000.0 / 60.0)
    s_oneway = oneway[s_line] & (mode != "walking")

    # ferries: one edge from the first to the last vertex of each line
    f_lines = np.flatnonzero(ferry)
    if len(f_lines):
        first = np.searchsorted(line_idx, f_lines, side="left")
        last = np.searchsorted(line_idx, f_lines, side="right") - 1
        ok = last > first
        f_lines, first, last = f_lines[ok], first[ok], last[ok]
        f_a, f_b = node_of[first], node_of[last]
        f_len = roads.geometry.length.to_numpy()[f_lines]
        dur = roads["ferry_duration_min"].to_numpy(float)[f_lines] \
            if "ferry_duration_min" in roads else np.full(len(f_lines), np.nan)
        f_min = np.where(np.isfinite(dur) & (dur > 0), dur,
                         f_len / (ferry_speed_kmh * 1000.0 / 60.0)) + ferry_wait_min
        keep = f_a != f_b
        f_a, f_b, f_len, f_min = f_a[keep], f_b[keep], f_len[keep], f_min[keep]
        f_oneway = oneway[f_lines][keep]
    else:
        f_a = f_b = np.zeros(0, np.int64)
        f_len = f_min = np.zeros(0)
        f_oneway = np.zeros(0, bool)
    if len(s_a) + len(f_a) == 0:
        msg = (f"roads layer: no line is open to mode {mode!r} (every class has speed 0 for "
               f"it); check travel.road_speed_kmh.{mode} or the road classes")
        raise GisError(msg)

    a = np.concatenate([s_a, f_a])
    b = np.concatenate([s_b, f_b])
    t = np.concatenate([s_min, f_min])
    m = np.concatenate([s_len, f_len])
    ow = np.concatenate([s_oneway, f_oneway])
    # forward edges u -> v; reversed graph stores them as v -> u
    u = np.concatenate([a, b[~ow]])
    v = np.concatenate([b, a[~ow]])
    tt = np.concatenate([t, t[~ow]])
    mm = np.concatenate([m, m[~ow]])
    rev_time, rev_len = _csr_pair(v, u, tt, mm, n)

    n_comp, labels = csgraph.connected_components(rev_time, directed=True, connection="weak")
    node_share = np.bincount(labels).max() / n
    edge_len_by_comp = np.bincount(labels[a], weights=m, minlength=n_comp)
    length_share = float(edge_len_by_comp.max() / edge_len_by_comp.sum()) \
        if edge_len_by_comp.sum() > 0 else 0.0
    if n_comp > 1:
        log.info("road graph (%s): %d disconnected parts; the largest holds %.1f%% of the "
                 "length", mode, n_comp, 100 * length_share)

    snap = ~np.isin(cls[s_line], list(NO_SNAP_CLASSES))
    seg_ab = s_min[snap]
    seg_ba = np.where(s_oneway[snap], np.inf, s_min[snap])
    return RoadGraph(mode=mode, node_xy=node_xy, rev_time=rev_time, rev_len=rev_len,
                     seg_a=s_a[snap], seg_b=s_b[snap], seg_ab_min=seg_ab, seg_ba_min=seg_ba,
                     seg_len_m=s_len[snap], ferry_edges=int(len(f_a) + (~f_oneway).sum()),
                     components=int(n_comp), largest_node_share=float(node_share),
                     largest_length_share=length_share)


@dataclass(frozen=True)
class Snap:
    """Where points join the road graph: segment (-1 = none within reach), the fraction
    along it from ``seg_a`` to ``seg_b``, and the off-road distance in metres."""

    seg: np.ndarray
    frac: np.ndarray
    dist_m: np.ndarray


def snap_points(graph: RoadGraph, xy: np.ndarray, *, snap_max_m: float) -> Snap:
    """The nearest point of a snappable road segment to each point, within ``snap_max_m``."""
    xy = np.asarray(xy, float).reshape(-1, 2)
    seg = np.full(len(xy), -1, np.int64)
    frac = np.zeros(len(xy))
    dist = np.full(len(xy), np.inf)
    if not len(xy) or not len(graph.seg_a):
        return Snap(seg, frac, dist)
    pa, pb = graph.node_xy[graph.seg_a], graph.node_xy[graph.seg_b]
    tree = shapely.STRtree(shapely.linestrings(np.stack([pa, pb], axis=1)))
    (pi, si), _ = tree.query_nearest(shapely.points(xy), max_distance=snap_max_m,
                                     return_distance=True, all_matches=False)
    d = pb[si] - pa[si]
    f = np.einsum("ij,ij->i", xy[pi] - pa[si], d) / np.maximum(np.einsum("ij,ij->i", d, d),
                                                                1e-300)
    f = np.clip(f, 0.0, 1.0)
    near = pa[si] + f[:, None] * d
    seg[pi] = si
    frac[pi] = f
    dist[pi] = np.hypot(*(xy[pi] - near).T)
    return Snap(seg, frac, dist)


@dataclass(frozen=True)
class RoadReport:
    """What the road model could and could not reach.

    Attributes
    ----------
    mode : str
    nodes, edges, ferry_edges : int
        Size of the mode's road graph (directed edges).
    components : int
        Weakly connected parts of the road graph.
    largest_component_share, largest_length_share : float
        Share of nodes, and of road length, in the largest part.
    snap_max_m : float
        Longest off-road leg allowed.
    unsnapped_origins : ndarray of int
        Positions of origins with no usable road within ``snap_max_m``: they have no road
        trip (only a walk straight to a facility within ``snap_max_m``).
    unsnapped_origin_ids : ndarray
        Their labels.
    unsnapped_population : float
        Persons in them (NaN when no population was given).
    unsnapped_dests : ndarray of int
        Destinations with no usable road within ``snap_max_m``.
    unreachable_origins, unreachable_dests : ndarray of int
        Origins reaching no destination, destinations reached by no origin, within the
        cut-off.
    max_snap_m : float
        Longest off-road leg used (origins and destinations that snapped).
    """

    mode: str
    nodes: int
    edges: int
    ferry_edges: int
    components: int
    largest_component_share: float
    largest_length_share: float
    snap_max_m: float
    unsnapped_origins: np.ndarray
    unsnapped_origin_ids: np.ndarray
    unsnapped_population: float
    unsnapped_dests: np.ndarray
    unreachable_origins: np.ndarray
    unreachable_dests: np.ndarray
    max_snap_m: float

    def as_dict(self) -> dict[str, object]:
        return {"mode": self.mode, "nodes": self.nodes, "edges": self.edges,
                "ferry_edges": self.ferry_edges, "components": self.components,
                "largest_component_share": self.largest_component_share,
                "largest_length_share": self.largest_length_share,
                "snap_max_m": self.snap_max_m,
                "unsnapped_origins": int(len(self.unsnapped_origins)),
                "unsnapped_population": self.unsnapped_population,
                "unsnapped_dests": int(len(self.unsnapped_dests)),
                "unreachable_origins": int(len(self.unreachable_origins)),
                "unreachable_dests": int(len(self.unreachable_dests)),
                "max_snap_m": self.max_snap_m}


def _part(frac: np.ndarray, minutes: np.ndarray) -> np.ndarray:
    """``frac x minutes`` with 0 for a zero fraction (no move, even where the direction is
    forbidden and the minutes are inf)."""
    frac = np.asarray(frac, float)
    with np.errstate(invalid="ignore"):
        return np.where(frac == 0, 0.0, frac * minutes)


def _csr_pair(rows: np.ndarray, cols: np.ndarray, minutes: np.ndarray, metres: np.ndarray,
              n: int) -> tuple[sparse.csr_array, sparse.csr_array]:
    """Two CSR matrices of one sparsity pattern (rows sorted, columns sorted in each row):
    minutes and metres of each edge, the fastest kept where an edge repeats. Zero minutes
    are stored as 1e-12 so that no edge disappears."""
    order = np.lexsort((minutes, cols, rows))
    rows, cols, minutes, metres = rows[order], cols[order], minutes[order], metres[order]
    first = np.r_[True, (rows[1:] != rows[:-1]) | (cols[1:] != cols[:-1])]
    rows, cols = rows[first], cols[first]
    indptr = np.zeros(n + 1, np.int64)
    np.cumsum(np.bincount(rows, minlength=n), out=indptr[1:])
    indices = cols.astype(np.int32 if n < 2**31 else np.int64)
    t = sparse.csr_array((np.maximum(minutes[first], 1e-12), indices, indptr), shape=(n, n))
    m = sparse.csr_array((metres[first].astype(float), indices.copy(), indptr.copy()),
                         shape=(n, n))
    return t, m


def _augmented_reverse(graph: RoadGraph, snap_d: Snap) -> tuple[sparse.csr_array,
                                                                 sparse.csr_array]:
    """The reversed graph with one extra node per destination (n + j), joined to the two
    ends of its segment by the part of the segment between them. In the reversed graph the
    extra nodes have outgoing edges only, so no search passes through another's."""
    n = graph.n_nodes
    nd = len(snap_d.seg)
    j = np.flatnonzero(snap_d.seg >= 0)
    s = snap_d.seg[j]
    g = snap_d.frac[j]
    a, b = graph.seg_a[s], graph.seg_b[s]
    seg_len = graph.seg_len_m[s]
    # reach the facility from a (driving a -> b for the fraction g) or from b (b -> a, 1 - g)
    t_from_a = _part(g, graph.seg_ab_min[s])
    t_from_b = _part(1 - g, graph.seg_ba_min[s])
    rows = np.concatenate([n + j, n + j])
    cols = np.concatenate([a, b])
    tt = np.concatenate([t_from_a, t_from_b])
    mm = np.concatenate([g * seg_len, (1 - g) * seg_len])
    ok = np.isfinite(tt)
    base_rows = np.repeat(np.arange(n, dtype=np.int64), np.diff(graph.rev_time.indptr))
    return _csr_pair(np.concatenate([base_rows, rows[ok]]),
                     np.concatenate([graph.rev_time.indices.astype(np.int64), cols[ok]]),
                     np.concatenate([graph.rev_time.data, tt[ok]]),
                     np.concatenate([graph.rev_len.data, mm[ok]]), n + nd)


def road_costs(
    origins_xy: np.ndarray,
    dests_xy: np.ndarray,
    roads: gpd.GeoDataFrame | RoadGraph,
    *,
    cutoff_min: float,
    mode: str = "motorbike",
    class_speeds_kmh: Mapping[str, float] | None = None,
    offroad_speed_kmh: float = 4.5,
    snap_max_m: float = 2000.0,
    ferry_speed_kmh: float = 10.0,
    ferry_wait_min: float = 15.0,
    origin_ids: np.ndarray | None = None,
    dest_ids: np.ndarray | None = None,
    origin_population: np.ndarray | None = None,
    block_mb: float = 64.0,
    dense_mb: float = 256.0,
) -> tuple[CostTable, RoadReport]:
    """Travel times from demand points to facilities on the road network of one mode.

    Time of a trip = off-road leg at ``offroad_speed_kmh`` to the nearest usable road point
    + the fastest road path (one-way streets bind cars and motorbikes) + off-road leg to the
    facility; or, when shorter, a straight off-road walk of at most ``snap_max_m``.

    Parameters
    ----------
    origins_xy, dests_xy : ndarray, shape (n, 2)
        Demand points and facilities in the working CRS (metres).
    roads : GeoDataFrame or RoadGraph
        Road lines (see :func:`build_road_graph`), or a graph built already.
    cutoff_min : float
        Pairs slower than this are not stored (inclusive; ``inf``: every reachable pair).
    mode, class_speeds_kmh, ferry_speed_kmh, ferry_wait_min :
        See :func:`build_road_graph` (ignored when a RoadGraph is given).
    offroad_speed_kmh : float
        Speed of the off-road legs (walking 4.5; a motorbike on tracks, say 10).
    snap_max_m : float
        Longest off-road leg: points farther than this from every usable road are reported.
    origin_population : ndarray, optional
        Persons per origin, to report how many live beyond ``snap_max_m``.
    block_mb : float
        Memory of one block of searches (about 48 bytes x facilities x origins).
    dense_mb : float
        Up to this size (12 bytes x origins x facilities), times are gathered in dense
        columns and read out in table order; beyond it, as pairs sorted at the end.

    Returns
    -------
    CostTable, RoadReport
        ``time_min`` as above; ``dist_m`` the off-road legs plus the length of the fastest
        road path. ``mode`` is ``"road:<mode>"``.
    """
    origins_xy = np.asarray(origins_xy, dtype=np.float64).reshape(-1, 2)
    dests_xy = np.asarray(dests_xy, dtype=np.float64).reshape(-1, 2)
    n_o, n_d = len(origins_xy), len(dests_xy)
    origin_ids = np.arange(n_o) if origin_ids is None else np.asarray(origin_ids)
    dest_ids = np.arange(n_d) if dest_ids is None else np.asarray(dest_ids)
    graph = roads if isinstance(roads, RoadGraph) else build_road_graph(
        roads, mode=mode, class_speeds_kmh=class_speeds_kmh, ferry_speed_kmh=ferry_speed_kmh,
        ferry_wait_min=ferry_wait_min)
    n = graph.n_nodes
    off = offroad_speed_kmh * 1000.0 / 60.0   # metres per minute
    limit = cutoff_min * (1 + 1e-12)

    so = snap_points(graph, origins_xy, snap_max_m=snap_max_m)
    sd = snap_points(graph, dests_xy, snap_max_m=snap_max_m)
    rev_t, rev_m = _augmented_reverse(graph, sd)

    # origin entry: drive from the snap point to the segment's b (a -> b) or to its a
    has_o = so.seg >= 0
    s = np.where(has_o, so.seg, 0)
    ent_a, ent_b = graph.seg_a[s], graph.seg_b[s]
    exit_b_min = np.where(has_o, _part(1 - so.frac, graph.seg_ab_min[s]), np.inf)
    exit_a_min = np.where(has_o, _part(so.frac, graph.seg_ba_min[s]), np.inf)
    exit_b_m = (1 - so.frac) * graph.seg_len_m[s]
    exit_a_m = so.frac * graph.seg_len_m[s]
    leg_o_min = np.where(has_o, so.dist_m / off, np.inf)
    leg_d_min = np.where(sd.seg >= 0, sd.dist_m / off, np.inf)
    leg_d_m = np.where(sd.seg >= 0, sd.dist_m, np.nan)

    extra = _extra_pairs(origins_xy, dests_xy, so, sd, graph, off=off, snap_max_m=snap_max_m)

    # the searches are read at the segment ends where origins enter the roads
    at_nodes, at_pos = np.unique(np.concatenate([ent_a[has_o], ent_b[has_o]]),
                                 return_inverse=True)
    pos_a = np.zeros(n_o, np.int64)
    pos_b = np.zeros(n_o, np.int64)
    k_o = int(has_o.sum())
    pos_a[has_o], pos_b[has_o] = at_pos[:k_o], at_pos[k_o:]
    # a block holds, per search, times and metres at those nodes and per origin
    per = max(1, int(block_mb * 2**20 // (16 * (len(at_nodes) + 2 * n_o) + 1)))
    # origins x destinations as dense columns when small (then read in table order, no
    # sort), else pairs per block, sorted at the end
    dense = n_o * n_d * 12 <= dense_mb * 2**20
    if dense:
        all_t = np.full((n_o, n_d), np.inf)
        all_m = np.full((n_o, n_d), np.nan, np.float32)
    o_all, d_all, t_all, m_all = [], [], [], []
    for start in range(0, n_d, per):
        js = np.arange(start, min(start + per, n_d))
        src = js[sd.seg[js] >= 0]
        t_best = np.full((len(js), n_o), np.inf)
        m_best = np.full((len(js), n_o), np.nan)
        if len(src) and has_o.any():
            lim = cutoff_min - leg_d_min[src].min() if math.isfinite(cutoff_min) else np.inf
            tn, ln = graph_times(rev_t, rev_m, n + src, at_nodes, limit_min=max(lim, 0.0))
            rows = src - start
            via_b = tn[:, pos_b] + exit_b_min
            via_a = tn[:, pos_a] + exit_a_min
            use_a = via_a < via_b
            road_t = np.where(use_a, via_a, via_b)
            road_m = np.where(use_a, ln[:, pos_a] + exit_a_m, ln[:, pos_b] + exit_b_m)
            del tn, ln, via_a, via_b, use_a
            t_best[rows] = road_t + leg_o_min[None, :] + leg_d_min[src][:, None]
            m_best[rows] = road_m + so.dist_m[None, :] + leg_d_m[src][:, None]
            del road_t, road_m
        # same-segment trips and straight walks, where faster
        sel = (extra["dest"] >= js[0]) & (extra["dest"] <= js[-1])
        if sel.any():
            ex = extra[sel]
            r, c = ex["dest"].to_numpy() - start, ex["origin"].to_numpy()
            better = ex["time_min"].to_numpy() < t_best[r, c]
            t_best[r[better], c[better]] = ex["time_min"].to_numpy()[better]
            m_best[r[better], c[better]] = ex["dist_m"].to_numpy()[better]
        if dense:
            all_t[:, js] = t_best.T
            all_m[:, js] = m_best.T
        else:
            jj, oo = np.nonzero(np.isfinite(t_best) & (t_best <= limit))
            o_all.append(oo.astype(np.int32))
            d_all.append(js[jj].astype(np.int32))
            t_all.append(t_best[jj, oo])
            m_all.append(m_best[jj, oo].astype(np.float32))
        del t_best, m_best
    if dense:
        o, d, t, m = _dense_pairs(all_t, all_m, limit)
        del all_t, all_m
    else:
        o = np.concatenate(o_all) if o_all else np.zeros(0, np.int32)
        d = np.concatenate(d_all) if d_all else np.zeros(0, np.int32)
        t = np.concatenate(t_all) if t_all else np.zeros(0)
        m = np.concatenate(m_all) if m_all else np.zeros(0, np.float32)
        del o_all, d_all, t_all, m_all
        order = np.lexsort((d, o))
        o, d, t, m = o[order], d[order], t[order], m[order]
    table = CostTable(origin=o, dest=d, dist_m=m, time_min=t, origin_ids=origin_ids,
                      dest_ids=dest_ids, cutoff_min=float(cutoff_min), mode=f"road:{graph.mode}")

    reached_o = np.zeros(n_o, bool)
    reached_o[o] = True
    reached_d = np.zeros(n_d, bool)
    reached_d[d] = True
    unsnapped = np.flatnonzero(~has_o)
    pop = math.nan
    if origin_population is not None:
        pop = float(np.asarray(origin_population, float)[unsnapped].sum())
    snapped_dist = np.concatenate([so.dist_m[has_o], sd.dist_m[sd.seg >= 0]])
    report = RoadReport(
        mode=graph.mode, nodes=n, edges=graph.n_edges, ferry_edges=graph.ferry_edges,
        components=graph.components, largest_component_share=graph.largest_node_share,
        largest_length_share=graph.largest_length_share, snap_max_m=float(snap_max_m),
        unsnapped_origins=unsnapped, unsnapped_origin_ids=origin_ids[unsnapped],
        unsnapped_population=pop, unsnapped_dests=np.flatnonzero(sd.seg < 0),
        unreachable_origins=np.flatnonzero(~reached_o),
        unreachable_dests=np.flatnonzero(~reached_d),
        max_snap_m=float(snapped_dist.max(initial=0.0)))
    if len(unsnapped):
        log.warning("road model (%s): %d of %d origins are more than %g m from a usable road "
                    "(%s persons)", graph.mode, len(unsnapped), n_o, snap_max_m,
                    "unknown" if math.isnan(pop) else f"{pop:,.0f}")
    if len(report.unsnapped_dests):
        log.warning("road model (%s): %d facilities are more than %g m from a usable road",
                    graph.mode, len(report.unsnapped_dests), snap_max_m)
    return table, report


def _dense_pairs(all_t: np.ndarray, all_m: np.ndarray, limit: float, *, rows: int = 4096):
    """The pairs within ``limit`` of dense origin x destination columns, in table order
    (origin, then destination), read a few thousand origins at a time."""
    ok_count = 0
    for a in range(0, len(all_t), rows):
        blk = all_t[a:a + rows]
        ok_count += int((np.isfinite(blk) & (blk <= limit)).sum())
    o = np.empty(ok_count, np.int32)
    d = np.empty(ok_count, np.int32)
    t = np.empty(ok_count)
    m = np.empty(ok_count, np.float32)
    at = 0
    for a in range(0, len(all_t), rows):
        blk = all_t[a:a + rows]
        oo, dd = np.nonzero(np.isfinite(blk) & (blk <= limit))
        k = len(oo)
        o[at:at + k] = oo + a
        d[at:at + k] = dd
        t[at:at + k] = blk[oo, dd]
        m[at:at + k] = all_m[a + oo, dd]
        at += k
    return o, d, t, m


def _extra_pairs(origins_xy: np.ndarray, dests_xy: np.ndarray, so: Snap, sd: Snap,
                 graph: RoadGraph, *, off: float, snap_max_m: float) -> pd.DataFrame:
    """Trips that do not pass through a graph node: along the one segment both ends snapped
    to, and a straight off-road walk of at most ``snap_max_m``. Columns origin, dest,
    time_min, dist_m (the fastest per pair)."""
    parts = []
    if len(origins_xy) and len(dests_xy):
        pairs = cKDTree(origins_xy).sparse_distance_matrix(
            cKDTree(dests_xy), snap_max_m, output_type="ndarray")
        parts.append(pd.DataFrame({"origin": pairs["i"].astype(np.int64),
                                   "dest": pairs["j"].astype(np.int64),
                                   "time_min": pairs["v"] / off, "dist_m": pairs["v"]}))
    o_seg = pd.DataFrame({"origin": np.flatnonzero(so.seg >= 0)})
    o_seg["seg"] = so.seg[o_seg["origin"]]
    d_seg = pd.DataFrame({"dest": np.flatnonzero(sd.seg >= 0)})
    d_seg["seg"] = sd.seg[d_seg["dest"]]
    both = o_seg.merge(d_seg, on="seg")
    if len(both):
        s = both["seg"].to_numpy()
        f = so.frac[both["origin"].to_numpy()]
        g = sd.frac[both["dest"].to_numpy()]
        along = np.where(g >= f, _part(g - f, graph.seg_ab_min[s]),
                         _part(f - g, graph.seg_ba_min[s]))
        t = (so.dist_m[both["origin"].to_numpy()] + sd.dist_m[both["dest"].to_numpy()]) / off \
            + along
        m = so.dist_m[both["origin"].to_numpy()] + sd.dist_m[both["dest"].to_numpy()] \
            + np.abs(g - f) * graph.seg_len_m[s]
        ok = np.isfinite(t)
        parts.append(pd.DataFrame({"origin": both["origin"].to_numpy()[ok],
                                   "dest": both["dest"].to_numpy()[ok],
                                   "time_min": t[ok], "dist_m": m[ok]}))
    if not parts:
        return pd.DataFrame({"origin": np.zeros(0, np.int64), "dest": np.zeros(0, np.int64),
                             "time_min": np.zeros(0), "dist_m": np.zeros(0)})
    ex = pd.concat(parts, ignore_index=True).sort_values("time_min", kind="stable")
    return ex.drop_duplicates(["origin", "dest"], keep="first").sort_values(
        "dest", kind="stable").reset_index(drop=True)


def road_problems(roads, sites_xy: np.ndarray, site_ids: np.ndarray, *,
                  max_snap_m: float = 2_000.0) -> tuple[list[str], list[str]]:
    """Whether a road layer can carry trips between the sites, checked before any routing.

    The road model walks from a place to the nearest point of a road, drives, and walks to the
    facility; lines join only where they share a vertex (to the centimetre). A layer whose lines
    do not meet, or that lies elsewhere, would make most trips impossible, which the analyses
    would otherwise report as people beyond the cut-off. Every class counts as open here
    (connectivity, not a mode's speeds).

    Parameters
    ----------
    roads : GeoDataFrame
        Road lines in a projected CRS (metres), as :func:`gis.inputs.readers.read_roads` gives.
    sites_xy : ndarray, shape (n, 2)
        The facilities in the same CRS.
    site_ids : ndarray of str
        Their ids, for the messages.
    max_snap_m : float
        A site farther than this from every road is "far from the roads".

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
    graph = build_road_graph(roads, mode="car", class_speeds_kmh={"default": 25.0})
    n_comp, labels = csgraph.connected_components(graph.rev_time, directed=True,
                                                  connection="weak")
    near = snap_points(graph, sites_xy, snap_max_m=math.inf)
    snap = near.dist_m
    problems, notes = [], []
    far = snap > max_snap_m
    if far.sum() * 2 > len(sites_xy):
        problems.append(f"{int(far.sum())} of {len(sites_xy)} facilities are more than "
                        f"{max_snap_m / 1000:g} km from every road (median "
                        f"{np.median(snap) / 1000:.1f} km): is this the road layer of the "
                        f"province, with its CRS declared correctly?")
    piece = np.where(near.seg >= 0, labels[graph.seg_a[np.maximum(near.seg, 0)]], -1)
    counts = np.bincount(piece[piece >= 0], minlength=n_comp)
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
