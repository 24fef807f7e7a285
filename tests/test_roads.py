"""The road model (gis.model.roads) against networkx on random road layers, and the road
checks (``road_problems``), the road graph's speeds and the report by hand."""

from __future__ import annotations

import logging

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import pytest
import shapely
from scipy.spatial import cKDTree

from gis.errors import GisError
from gis.model.roads import RoadReport, road_costs, road_graph, road_problems

SPEEDS = {"primary": 60.0, "secondary": 40.0, "track": 15.0, "default": 20.0}


def _random_roads(seed: int) -> gpd.GeoDataFrame:
    """A jittered 6 x 6 grid of junctions joined by lines of 2 or 3 vertices (a repeated
    vertex in some), mixed classes, own speeds (some 0 or negative: ignored), one-way lines,
    lines drawn twice at another speed, and a detached piece."""
    rng = np.random.default_rng(seed)
    jx = {(i, j): (i * 1000 + rng.uniform(-200, 200), j * 1000 + rng.uniform(-200, 200))
          for i in range(6) for j in range(6)}
    rows = []
    for (i, j), p in jx.items():
        for q in ((i + 1, j), (i, j + 1)):
            if q not in jx or rng.random() < 0.15:
                continue
            a, b = np.array(p), np.array(jx[q])
            pts = [tuple(a)]
            if rng.random() < 0.5:    # a middle vertex
                pts.append(tuple((a + b) / 2 + rng.uniform(-80, 80, 2)))
            if rng.random() < 0.1:    # a repeated vertex (a zero-length segment)
                pts.append(pts[-1])
            pts.append(tuple(b))
            if rng.random() < 0.5:
                pts = pts[::-1]
            own = rng.choice([np.nan, np.nan, np.nan, 35.0, 0.0, -5.0])
            rows.append({"road_class": rng.choice(["primary", "secondary", "track", "path"]),
                         "speed_kmh": own, "oneway": bool(rng.random() < 0.2),
                         "geometry": shapely.LineString(pts)})
            if rng.random() < 0.15:   # the same line again, at another speed
                rows.append({**rows[-1], "speed_kmh": rng.choice([10.0, 80.0])})
    rows.append({"road_class": "primary", "speed_kmh": np.nan, "oneway": False,
                 "geometry": shapely.LineString([(20_000, 20_000), (21_000, 20_000)])})
    return gpd.GeoDataFrame(pd.DataFrame(rows), geometry="geometry", crs=32648)


def _networkx(roads, speeds):
    """The road graph rebuilt with networkx from the lines: vertices joined to the centimetre,
    segment lengths from the lines' own vertices, each segment at its line's speed (own speed
    when positive, else its class's, else the default), both ways unless one-way, the faster
    of repeated edges; and its length twin."""
    G, L = nx.DiGraph(), nx.DiGraph()
    for r in roads.itertuples():
        own = r.speed_kmh
        kmh = own if np.isfinite(own) and own > 0 else speeds.get(r.road_class,
                                                                  speeds["default"])
        xy = np.asarray(r.geometry.coords)
        c = np.round(xy, 2)
        for k, (a, b) in enumerate(zip(map(tuple, c[:-1]), map(tuple, c[1:]), strict=True)):
            if a == b:
                G.add_node(a)
                L.add_node(a)
                continue
            m = float(np.hypot(*(xy[k + 1] - xy[k])))   # the line's own vertices
            t = m / (kmh * 1000 / 60)
            for u, v in ((a, b),) if r.oneway else ((a, b), (b, a)):
                if not G.has_edge(u, v) or G[u][v]["w"] > t:
                    G.add_edge(u, v, w=t)
                    L.add_edge(u, v, w=m)
    return G, L


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_road_costs_equal_networkx(seed):
    """Every pair within the cut-off with its time (walk to the nearest vertex at 4.5 km/h,
    fastest path, walk) and distance (walks plus the shortest road length between the two
    vertices), by networkx's Dijkstra; destinations in blocks of 3 give the same table."""
    roads = _random_roads(seed)
    rng = np.random.default_rng(seed + 10)
    origins = rng.uniform(-300, 5300, (40, 2))
    dests = np.vstack([rng.uniform(-300, 5300, (7, 2)), [[20_400.0, 20_050.0]]])
    cutoff = 25.0
    t, rep = road_costs(origins, dests, roads, speeds_kmh=SPEEDS, walking_speed_kmh=4.5,
                        cutoff_min=cutoff, dest_ids=np.array([f"F{j}" for j in range(8)]))
    blocks, _ = road_costs(origins, dests, roads, speeds_kmh=SPEEDS, walking_speed_kmh=4.5,
                           cutoff_min=cutoff, max_block=3 * len(origins),
                           dest_ids=np.array([f"F{j}" for j in range(8)]))
    pd.testing.assert_frame_equal(t.to_frame(), blocks.to_frame())
    G, L = _networkx(roads, SPEEDS)
    nodes = np.array(list(G.nodes))
    tree = cKDTree(nodes)
    so, no = tree.query(origins)
    sd, nd = tree.query(dests)
    walk = 4.5 * 1000 / 60
    want = {}
    for j in range(len(dests)):
        target = tuple(nodes[nd[j]])
        to_t = nx.single_source_dijkstra_path_length(G.reverse(copy=False), target, weight="w")
        to_m = nx.single_source_dijkstra_path_length(L.reverse(copy=False), target, weight="w")
        for i in range(len(origins)):
            src = tuple(nodes[no[i]])
            if src in to_t:
                time = so[i] / walk + to_t[src] + sd[j] / walk
                if time <= cutoff:
                    want[(i, f"F{j}")] = (time, so[i] + to_m[src] + sd[j])
    f = t.to_frame()
    got = {(r.origin_id, r.dest_id): (r.time_min, r.dist_m) for r in f.itertuples()}
    assert set(got) == set(want) and len(want) > 100
    for k, (time, dist) in want.items():
        assert got[k][0] == pytest.approx(time, rel=1e-12)
        assert got[k][1] == pytest.approx(dist, rel=1e-6)   # float32 metres
    assert (np.diff(t.origin) >= 0).all() and t.mode == "road" and t.cutoff_min == cutoff
    # the report: sizes, parts, the largest part's share, who reaches nothing
    und = G.to_undirected()
    parts = sorted((len(c) for c in nx.connected_components(und)), reverse=True)
    assert (rep.nodes, rep.edges, rep.components) == (G.number_of_nodes(),
                                                     G.number_of_edges(), len(parts))
    assert rep.largest_component_share == pytest.approx(parts[0] / G.number_of_nodes())
    reached_o = {i for i, _ in want}
    assert list(rep.unreachable_origins) == [i for i in range(40) if i not in reached_o]
    assert list(rep.unreachable_dests) == [j for j in range(8)
                                           if all(d != f"F{j}" for _, d in want)]
    assert 7 in rep.unreachable_dests   # the detached piece's facility
    assert rep.max_snap_m == pytest.approx(max(so.max(), sd.max()))


def _line_roads(**cols):
    """Two lines A(0,0)-B(1000,0)-C(2000,0)."""
    return gpd.GeoDataFrame(cols, geometry=[shapely.LineString([(0, 0), (1000, 0)]),
                                            shapely.LineString([(1000, 0), (2000, 0)])],
                            crs=32648)


def test_road_graph_speeds_by_hand():
    """Own speed where positive and finite (an object column with None too), else the
    class's, else ``default`` (25 km/h when not given); a layer without classes at the
    default; one-way lines one way."""
    t, m, xy = road_graph(_line_roads(road_class=["primary", "track"],
                                      speed_kmh=pd.Series([None, 0.0], dtype=object)),
                          speeds_kmh={"primary": 60.0, "track": 15.0})
    assert xy.tolist() == [[0.0, 0.0], [1000.0, 0.0], [2000.0, 0.0]]
    assert t.toarray().tolist() == [[0, 1.0, 0], [1.0, 0, 4.0], [0, 4.0, 0]]
    assert m.toarray().tolist() == [[0, 1000.0, 0], [1000.0, 0, 1000.0], [0, 1000.0, 0]]
    t, _, _ = road_graph(_line_roads(road_class=["lane", "track"],
                                     speed_kmh=[np.nan, -1.0], oneway=[True, False]),
                         speeds_kmh={"track": 15.0})
    assert t.toarray() == pytest.approx(np.array([[0, 60 / 25, 0], [0, 0, 4.0],
                                                  [0, 4.0, 0]]))
    t, _, _ = road_graph(_line_roads(), speeds_kmh={"default": 30.0})
    assert t.toarray() == pytest.approx(np.array([[0, 2.0, 0], [2.0, 0, 2.0], [0, 2.0, 0]]))
    t, _, _ = road_graph(_line_roads(speed_kmh=[12.0, 20.0]), speeds_kmh={})
    assert t.toarray() == pytest.approx(np.array([[0, 5.0, 0], [5.0, 0, 3.0], [0, 3.0, 0]]))
    with pytest.raises(GisError, match="roads layer has no lines"):
        road_graph(gpd.GeoDataFrame(geometry=[], crs=32648), speeds_kmh={})


def test_repeated_edges_keep_the_fastest_for_every_node():
    """A star drawn twice (slow, then fast) and a node with several neighbours: every edge
    keeps the faster copy, none is dropped."""
    centre = (0.0, 0.0)
    tips = [(1000.0, 0.0), (0.0, 1000.0), (-1000.0, 0.0), (0.0, -1000.0)]
    lines = [shapely.LineString([centre, p]) for p in tips]
    roads = gpd.GeoDataFrame({"speed_kmh": [6.0] * 4 + [60.0] * 4},
                             geometry=lines + [shapely.LineString([p, centre]) for p in tips],
                             crs=32648)
    t, _, xy = road_graph(roads, speeds_kmh={})
    c = int(np.flatnonzero((xy == centre).all(axis=1))[0])
    dense = t.toarray()
    for p in tips:
        k = int(np.flatnonzero((xy == p).all(axis=1))[0])
        assert dense[c, k] == dense[k, c] == pytest.approx(1.0)
    assert t.nnz == 8


def test_road_report_as_dict_and_the_log(caplog):
    rep = RoadReport(nodes=5, edges=8, components=2, largest_component_share=0.75,
                     unreachable_origins=np.array([3, 4]), unreachable_dests=np.array([1]),
                     max_snap_m=12.5)
    assert rep.as_dict() == {"nodes": 5, "edges": 8, "components": 2,
                             "largest_component_share": 0.75, "unreachable_origins": 2,
                             "unreachable_dests": 1, "max_snap_m": 12.5}
    # one piece: no warning; two pieces of 3 nodes each: a warning with the largest's share
    roads = _line_roads()
    with caplog.at_level(logging.WARNING, logger="gis.model.roads"):
        _, rep = road_costs(np.array([[0.0, 0.0]]), np.array([[2000.0, 0.0]]), roads,
                            speeds_kmh={"default": 60.0}, walking_speed_kmh=4.5,
                            cutoff_min=10.0)
    assert rep.components == 1 and rep.largest_component_share == 1.0 and not caplog.records
    apart = pd.concat([roads, gpd.GeoDataFrame(geometry=[shapely.LineString(
        [(9000, 0), (9500, 0), (9600, 0)])], crs=32648)], ignore_index=True)
    with caplog.at_level(logging.WARNING, logger="gis.model.roads"):
        _, rep = road_costs(np.array([[0.0, 0.0]]), np.array([[2000.0, 0.0]]), apart,
                            speeds_kmh={"default": 60.0}, walking_speed_kmh=4.5,
                            cutoff_min=10.0)
    assert rep.components == 2 and rep.largest_component_share == 0.5
    assert [r.getMessage() for r in caplog.records] == [
        "road graph has 2 disconnected parts; the largest holds 50.0% of nodes"]


def _sites(n, x0=0.0, y=0.0, step=10.0):
    return np.column_stack([x0 + step * np.arange(n), np.full(n, y)])


def test_road_problems_by_hand():
    """Far sites (more than half beyond 2 km of every vertex), pieces that do not connect
    (the largest joining fewer than half of the sites: a problem; more: a note), the
    listing cut after 10 names."""
    road = gpd.GeoDataFrame(geometry=[shapely.LineString([(0, 0), (1000, 0)]),
                                      shapely.LineString([(1000, 0), (2000, 0)])], crs=32648)
    near = _sites(4)
    assert road_problems(road, near, np.array(list("abcd"))) == ([], [])
    assert road_problems(road, np.zeros((0, 2)), np.array([])) == ([], [])
    # 2 of 4 far (exactly half): no problem; 3 of 4: a problem with the median distance
    far2 = np.array([[0, 0], [0, 10], [0, 2500], [0, 3500]], float)
    assert road_problems(road, far2, np.array(list("abcd")))[0] == []
    far3 = np.array([[0, 0], [0, 2500], [0, 3500], [0, 2001]], float)
    problems, notes = road_problems(road, far3, np.array(list("abcd")))
    assert problems == ["3 of 4 facilities are more than 2 km from every road (median 2.3 km): "
                        "is this the road layer of the province, with its CRS declared "
                        "correctly?"]
    assert notes == []
    problems, _ = road_problems(road, far3, np.array(list("abcd")), max_snap_m=2600.0)
    assert problems == []
    # two pieces; sites split 2 on the first, 2 on the second: the largest (first, by
    # position on a tie) joins exactly half: a note naming the others
    two = pd.concat([road, gpd.GeoDataFrame(geometry=[shapely.LineString(
        [(50_000, 0), (51_000, 0)])], crs=32648)], ignore_index=True)
    sites = np.array([[0, 0], [2000, 0], [50_000, 0], [51_000, 0]], float)
    problems, notes = road_problems(two, sites, np.array(["s1", "s2", "s3", "s4"]))
    assert problems == []
    assert notes == ["2 of 4 facilities lie on road pieces not joined to the rest (s3, s4): "
                     "trips to them stay on their own piece; if they should connect, lines "
                     "must share their end points where roads meet: snap them (e.g. QGIS "
                     "'Snap geometries to layer', GRASS v.clean) and add the missing links, "
                     "or leave layers.roads empty to use the straight-line model"]
    # 13 pieces, one site on each of 12 and two on the first: the largest joins 2 of 14
    pieces = [shapely.LineString([(k * 10_000, 0), (k * 10_000 + 100, 0)]) for k in range(13)]
    many = gpd.GeoDataFrame(geometry=pieces, crs=32648)
    sites = np.vstack([[[0, 0], [100, 0]],
                       [[k * 10_000, 0] for k in range(1, 13)]]).astype(float)
    ids = np.array([f"F{k:02d}" for k in range(14)])
    problems, notes = road_problems(many, sites, ids)
    assert notes == []
    assert problems == [
        "the roads fall into 13 pieces that do not connect: the largest joins only 2 of 14 "
        "facilities, so most trips are impossible by road (the facilities elsewhere: F02, "
        "F03, F04, F05, F06, F07, F08, F09, F10, F11 and 2 more); lines must share their end "
        "points where roads meet: snap them (e.g. QGIS 'Snap geometries to layer', GRASS "
        "v.clean) and add the missing links, or leave layers.roads empty to use the "
        "straight-line model"]
    # eleven elsewhere: ten named and one more
    problems, _ = road_problems(many, sites[:13], ids[:13])
    assert "(the facilities elsewhere: F02, F03, F04, F05, F06, F07, F08, F09, F10, F11 and 1 " \
        "more)" in problems[0]
    # ten named, none more
    problems, _ = road_problems(many, sites[:12], ids[:12])
    assert problems[0].count(", F") == 9 and "more" not in problems[0].split(";")[0]


def test_road_costs_without_destinations():
    """No facility: an empty table, every origin unreachable, the longest off-road leg that
    of the origins (on the vertices: 0 m)."""
    t, rep = road_costs(np.array([[0.0, 0.0], [1000.0, 0.0]]), np.zeros((0, 2)), _line_roads(),
                        speeds_kmh={"default": 60.0}, walking_speed_kmh=4.5, cutoff_min=10.0)
    assert len(t) == 0 and t.n_origins == 2 and t.n_dests == 0
    assert t.time_min.dtype == np.float64 and len(t.dist_m) == 0
    assert list(rep.unreachable_origins) == [0, 1] and len(rep.unreachable_dests) == 0
    assert rep.max_snap_m == 0.0
