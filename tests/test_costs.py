"""Cost tables: straight-line and road models on cases with known answers."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from gis.model.costs import straight_line_costs
from gis.model.roads import road_costs


def test_straight_line_by_hand():
    # 60 km/h = 1000 m/min; detour 1.5: 1000 m straight = 1500 m = 1.5 min
    o = np.array([[0.0, 0.0], [1000.0, 0.0], [0.0, 4000.0]])
    d = np.array([[0.0, 0.0], [2000.0, 0.0]])
    t = straight_line_costs(o, d, speed_kmh=60, detour_factor=1.5, cutoff_min=3.0,
                            dest_ids=np.array(["A", "B"]))
    f = t.to_frame()
    got = {(r.origin_id, r.dest_id): (r.dist_m, r.time_min) for r in f.itertuples()}
    assert got == {(0, "A"): (0.0, 0.0), (0, "B"): (3000.0, 3.0),   # exactly at the cut-off
                   (1, "A"): (1500.0, 1.5), (1, "B"): (1500.0, 1.5)}
    assert (np.diff(t.origin) >= 0).all()   # sorted by origin


def test_straight_line_matches_brute_force_in_chunks():
    rng = np.random.default_rng(3)
    o = rng.uniform(0, 50_000, (3000, 2))
    d = rng.uniform(0, 50_000, (40, 2))
    t = straight_line_costs(o, d, speed_kmh=30, detour_factor=1.4, cutoff_min=20,
                            chunk_size=700)
    full = np.hypot(*(o[:, None, :] - d[None, :, :]).transpose(2, 0, 1)) * 1.4 / 500.0
    oi, di = np.nonzero(full <= 20)
    assert len(t) == len(oi)
    assert np.allclose(t.time_min, full[t.origin, t.dest])


def _roads():
    """A(0,0) -B(1000,0): primary at 60 km/h (1 min); B-C(1000,1000): track at 15 km/h
    (4 min); C-D(0,1000): one-way C->D, own speed 30 km/h (2 min); a detached piece far away."""
    return gpd.GeoDataFrame(
        {"road_class": ["primary", "track", "residential", "primary"],
         "speed_kmh": [np.nan, np.nan, 30.0, np.nan], "oneway": [False, False, True, False]},
        geometry=[shapely.LineString([(0, 0), (1000, 0)]),
                  shapely.LineString([(1000, 0), (1000, 1000)]),
                  shapely.LineString([(1000, 1000), (0, 1000)]),
                  shapely.LineString([(9000, 9000), (9500, 9000)])], crs=32648)


SPEEDS = {"primary": 60.0, "track": 15.0, "residential": 25.0, "default": 25.0}
ROAD = {"mode": "motorbike", "class_speeds_kmh": SPEEDS, "offroad_speed_kmh": 4.5,
        "snap_max_m": 500.0}


def test_road_model_by_hand():
    origins = np.array([[0.0, 0.0], [0.0, 30.0], [9000.0, 9000.0], [0.0, 1000.0]])
    dests = np.array([[1000.0, 1000.0], [0.0, 1000.0]])
    t, rep = road_costs(origins, dests, _roads(), cutoff_min=60, **ROAD)
    got = {(r.origin_id, r.dest_id): round(r.time_min, 6) for r in t.to_frame().itertuples()}
    # origin 0 -> C: 1 + 4 = 5 min; -> D: 5 + 2 (one-way C->D allowed) = 7 min
    # origin 1 is 30 m off the road: + 30 m at 4.5 km/h = 0.4 min
    # origin 3 sits on D: D -> C is against the one-way, and C is 1000 m away, farther than
    # the longest off-road walk (500 m): no trip
    assert got == {(0, 0): 5.0, (0, 1): 7.0, (1, 0): 5.4, (1, 1): 7.4, (3, 1): 0.0}
    assert rep.components == 2
    assert list(rep.unreachable_origins) == [2]
    assert rep.max_snap_m == pytest.approx(30.0)
    d = t.to_frame().set_index(["origin_id", "dest_id"])["dist_m"]
    assert d[(0, 0)] == pytest.approx(2000.0) and d[(1, 0)] == pytest.approx(2030.0)


def test_road_model_cutoff_is_inclusive():
    t, _ = road_costs(np.array([[0.0, 0.0]]), np.array([[1000.0, 1000.0]]), _roads(),
                      cutoff_min=5.0, **ROAD)
    assert len(t) == 1 and t.time_min[0] == pytest.approx(5.0)
    t2, rep = road_costs(np.array([[0.0, 0.0]]), np.array([[1000.0, 1000.0]]), _roads(),
                         cutoff_min=4.99, **ROAD)
    assert len(t2) == 0 and list(rep.unreachable_dests) == [0]


def test_subset_dests_renumbers_and_keeps_pairs():
    from gis.model.costs import subset_dests

    o = np.array([[0.0, 0.0], [1000.0, 0.0]])
    d = np.array([[0.0, 0.0], [500.0, 0.0], [1000.0, 0.0]])
    t = straight_line_costs(o, d, speed_kmh=60, detour_factor=1.0, cutoff_min=5,
                            dest_ids=np.array(["a", "b", "c"]))
    s = subset_dests(t, np.array([True, False, True]))
    assert list(s.dest_ids) == ["a", "c"]
    f = s.to_frame()
    assert set(zip(f["origin_id"], f["dest_id"], f["time_min"], strict=True)) == {
        (0, "a", 0.0), (0, "c", 1.0), (1, "a", 1.0), (1, "c", 0.0)}


def test_nearest_only_table_agrees_with_the_full_table():
    """Same nearest facility, time and distance per group as the table of every pair, ties
    (equidistant sites, sites sharing a point) to the lowest position."""
    from gis.analyses.access import nearest_by_tier
    from gis.model.costs import straight_line_nearest

    rng = np.random.default_rng(5)
    o = rng.uniform(0, 40_000, (4000, 2))
    o[:400] = np.round(o[:400], -3)             # on a 1 km lattice ...
    d = rng.uniform(0, 40_000, (120, 2))
    d[:30] = np.round(d[:30], -3) + 500         # ... with sites between: exact ties
    d[40] = d[41] = d[42]                       # three sites on one point
    tiers = rng.choice(["station", "regional", "provincial"], len(d))
    ids = np.array([f"F{i}" for i in range(len(d))], dtype=object)
    for cutoff in (5.0, 30.0, np.inf):
        kw = {"speed_kmh": 30, "detour_factor": 1.4, "cutoff_min": cutoff, "dest_ids": ids}
        full = straight_line_costs(o, d, chunk_size=333, **kw)
        near = straight_line_nearest(o, d, groups=tiers, **kw)
        assert len(near) <= 3 * len(o)
        assert (np.diff(near.origin) >= 0).all()
        pd.testing.assert_frame_equal(nearest_by_tier(near, tiers), nearest_by_tier(full, tiers))
    # the tie at x = 1.5 km goes to the first of the two stations
    n = straight_line_nearest(np.array([[1500.0, 0]]), np.array([[3000.0, 0], [0.0, 0]]),
                              speed_kmh=60, detour_factor=1.0, cutoff_min=2.5)
    assert n.dest.tolist() == [0] and n.time_min.tolist() == [1.5]


def test_table_dtypes_and_infinite_cutoff():
    o = np.array([[0.0, 0.0], [1000.0, 0.0]])
    t = straight_line_costs(o, o, speed_kmh=60, detour_factor=1.0, cutoff_min=np.inf)
    assert len(t) == 4 and t.origin.dtype == np.int32 and t.dest.dtype == np.int32
    assert t.time_min.dtype == np.float64 and t.dist_m.dtype == np.float32
    empty = straight_line_costs(o, np.zeros((0, 2)), speed_kmh=60, detour_factor=1.0,
                                cutoff_min=5)
    assert len(empty) == 0 and empty.n_origins == 2 and empty.origin.dtype == np.int32


def test_columns_grow_when_the_first_chunk_underestimates():
    """The first chunk (100 origins far from every site) has no pair, so the columns start
    with room for 100,000 pairs; the 400 origins after it have 300 sites each within reach
    (120,000 pairs): the columns grow, and every pair is kept with its brute-force time."""
    rng = np.random.default_rng(11)
    far = np.column_stack([np.full(100, 1e6), np.arange(100.0)])
    near = rng.uniform(0, 1000, (400, 2))
    d = rng.uniform(0, 1000, (300, 2))
    o = np.vstack([far, near])
    t = straight_line_costs(o, d, speed_kmh=60, detour_factor=1.0, cutoff_min=10.0,
                            chunk_size=100)
    assert len(t) == 400 * 300
    assert t.origin.min() == 100 and (np.diff(t.origin) >= 0).all()
    want = np.hypot(o[t.origin, 0] - d[t.dest, 0], o[t.origin, 1] - d[t.dest, 1]) / 1000.0
    assert np.allclose(t.time_min, want, rtol=1e-12)
    assert np.array_equal(np.bincount(t.origin, minlength=500)[100:], np.full(400, 300))


def test_road_model_pairs_as_sorted_pairs_and_every_site_reached():
    """The hand case of test_road_model_by_hand gathered as pairs sorted at the end
    (dense_mb=0) instead of dense columns: the same table; both sites are reached."""
    origins = np.array([[0.0, 0.0], [0.0, 30.0], [9000.0, 9000.0], [0.0, 1000.0]])
    dests = np.array([[1000.0, 1000.0], [0.0, 1000.0]])
    t, rep = road_costs(origins, dests, _roads(), cutoff_min=60, dense_mb=0.0, **ROAD)
    assert list(zip(t.origin.tolist(), t.dest.tolist(), strict=True)) == [
        (0, 0), (0, 1), (1, 0), (1, 1), (3, 1)]
    assert t.time_min == pytest.approx([5.0, 7.0, 5.4, 7.4, 0.0])
    assert t.dist_m[:3] == pytest.approx([2000.0, 3000.0, 2030.0])
    assert t.origin.dtype == np.int32 and t.dest.dtype == np.int32
    assert t.dist_m.dtype == np.float32
    assert rep.unreachable_dests.tolist() == []
    assert rep.unreachable_origins.tolist() == [2]
    # only the site at D within 1 minute (origin 3 stands on it): C is unreached
    t1, rep1 = road_costs(origins, dests, _roads(), cutoff_min=1.0, **ROAD)
    assert t1.origin.tolist() == [3] and t1.dest.tolist() == [1]
    assert rep1.unreachable_dests.tolist() == [0]


def test_road_model_without_facilities():
    origins = np.array([[0.0, 0.0], [0.0, 30.0]])
    t, rep = road_costs(origins, np.zeros((0, 2)), _roads(), cutoff_min=60, **ROAD)
    assert len(t) == 0 and t.n_origins == 2 and t.n_dests == 0
    assert rep.unreachable_origins.tolist() == [0, 1]
    assert rep.unreachable_dests.tolist() == []
