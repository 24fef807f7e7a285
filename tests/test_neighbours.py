"""Cross-border access: the halo of neighbouring provinces' facilities (gis.inputs.neighbours)
and what run_access does with it, on hand cases."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
import shapely
from pyproj import CRS

from gis.analyses import access as A
from gis.inputs.config import load_config
from gis.inputs.neighbours import candidate_neighbours, halo_facilities, reach_m
from gis.pipeline import cross_border_enabled


def test_reach():
    # 60 min at 30 km/h is 30 km of road, 20 km straight with a detour factor of 1.5
    assert reach_m(cutoff_min=60, speed_kmh=30, detour_factor=1.5) == pytest.approx(20_000)


def _fac(ids, xy, *, province, tier="station", status="active", crs=32648):
    return gpd.GeoDataFrame({"facility_id": ids, "name": [f"{i} name" for i in ids],
                             "tier": tier, "status": status, "province_code": province},
                            geometry=shapely.points(np.asarray(xy, float)), crs=crs)


def test_halo_keeps_what_is_within_reach_of_the_outline():
    outline = shapely.box(0, 0, 10_000, 10_000)
    north = _fac(["N1", "N2", "N3", "X"], [(5_000, 30_000), (5_000, 30_001), (20_000, 5_000),
                                            (5_000, 12_000)], province="01")
    north.loc[3, "status"] = "ended"
    # a neighbour in another CRS (lon/lat), 5 km east of the box
    east = _fac(["E1"], [(15_000, 5_000)], province="02").to_crs(4326)
    halo = halo_facilities(outline, [north, east, None], crs=CRS.from_epsg(32648),
                           radius_m=20_000, own_ids=["N3"])
    # N1 exactly 20 km away is kept (inclusive), N2 1 m farther is not, the ended X is not;
    # N3 clashes with an own id and is renamed
    assert halo["facility_id"].tolist() == ["N1", "01:N3", "E1"]
    assert halo["province_code"].tolist() == ["01", "01", "02"]
    assert halo.crs == CRS.from_epsg(32648)
    assert np.allclose(halo.geometry.x, [5_000, 20_000, 15_000], atol=1e-6)
    empty = halo_facilities(outline, [], crs=CRS.from_epsg(32648), radius_m=1_000)
    assert len(empty) == 0 and "facility_id" in empty


def test_candidate_neighbours_from_the_registry():
    near = candidate_neighbours("42", 64_286)            # Ha Tinh, 180 min at 30 km/h / 1.4
    assert {"40", "44"} <= set(near)                    # Nghe An, Quang Tri share its borders
    assert "42" not in near and "79" not in near and "01" not in near


def test_cross_border_auto_means_national_runs_only():
    cfg = load_config(None)
    assert cross_border_enabled(cfg, national=True) is True
    assert cross_border_enabled(cfg, national=False) is False


def test_run_access_with_a_halo_by_hand():
    """One 10 x 10 km commune of 100 people (1 km cells, 1 person each), its own station at
    the south-west corner, a neighbour's station 1 km east of the north-east corner: the
    cells nearer to the neighbour's are served across the border."""
    com = gpd.GeoDataFrame({"commune_code": ["A"], "commune_name": ["A"],
                            "population": [100.0]},
                           geometry=[shapely.box(0, 0, 10_000, 10_000)], crs=32648)
    own = _fac(["S1"], [(0, 0)], province="42")
    own["doctors"] = np.nan
    own["beds"] = np.nan
    halo = _fac(["T1"], [(11_000, 10_000)], province="40")
    kw = {"cell_size_m": 1000, "speed_kmh": 30, "detour_factor": 1.0, "cutoff_min": 60,
          "thresholds_min": {"station": (10, 20)}, "underserved_min": {"station": 20}}
    with_halo = A.run_access(com, own, halo=halo, **kw)
    alone = A.run_access(com, own, **kw)
    # by hand: cell centres (500 + 1000 i, 500 + 1000 j); 500 m per minute
    c = np.arange(500, 10_000, 1000.0)
    x, y = np.meshgrid(c, c)
    t_own = np.hypot(x, y) / 500
    t_halo = np.hypot(x - 11_000, y - 10_000) / 500
    across = t_halo < t_own
    cross = with_halo.summary["cross_border"]
    assert cross["best_served_across"]["station"] == {"population": pytest.approx(across.sum()),
                                                      "units": int(across.sum())}
    for thr in (10, 20):
        gain = (np.minimum(t_own, t_halo) <= thr).sum() - (t_own <= thr).sum()
        assert cross["coverage_gain"]["station"][f"{thr}"] == pytest.approx(gain)
        assert cross["coverage_own_facilities"]["station"][f"{thr}"] == \
            alone.summary["coverage"]["station"][f"{thr}"]
    d = with_halo.demand
    assert d["station_across_border"].sum() == across.sum()
    assert set(d.loc[d["station_across_border"], "station_id"]) == {"T1"}
    assert with_halo.summary["underserved"]["population"] <= alone.summary["underserved"][
        "population"]
    # the plans' table and the catchments keep the province's own facilities only
    assert list(with_halo.costs.dest_ids) == ["S1"]
    assert "cross_border" not in alone.summary


def _two_tier_case():
    """The 10 x 10 km commune with its own station and regional hospital, and a halo of a
    station and a regional hospital across the border (and an ended station, ignored)."""
    com = gpd.GeoDataFrame({"commune_code": ["A"], "commune_name": ["A"],
                            "population": [100.0]},
                           geometry=[shapely.box(0, 0, 10_000, 10_000)], crs=32648)
    own = _fac(["S1", "R1"], [(0, 0), (10_000, 0)], province="42")
    own["tier"] = ["station", "regional"]
    own["doctors"] = [2.0, 10.0]
    own["beds"] = [np.nan, 50.0]
    halo = _fac(["T1", "T2", "T3"], [(11_000, 10_000), (-1_000, 9_000), (5_000, 10_500)],
                province="40")
    halo["tier"] = ["station", "regional", "station"]
    halo["status"] = ["active", "active", "ended"]
    return com, own, halo


def _roads_grid():
    lines = [shapely.LineString([(-2000, y), (12_000, y)]) for y in range(-1000, 12_001, 1000)]
    lines += [shapely.LineString([(x, -1000), (x, 12_000)]) for x in range(-2000, 12_001, 1000)]
    lines = [shapely.segmentize(g, 1000) for g in lines]
    return gpd.GeoDataFrame({"road_class": ["primary"] * len(lines)}, geometry=lines,
                            crs=32648)


@pytest.mark.parametrize("by_road", [False, True])
def test_run_access_with_a_halo_of_two_tiers(by_road):
    """Each tier's nearest facility among the own and the halo's active ones of that tier (by
    straight line, or by road from the road model's own table), served across the border
    per tier, coverage and its gain per tier; the plans' table and the catchments keep the
    province's own facilities."""
    from gis.model.roads import road_costs
    from gis.model.travel import road_model

    com, own, halo = _two_tier_case()
    kw = {"cell_size_m": 1000, "speed_kmh": 30, "detour_factor": 1.0, "cutoff_min": 60,
          "thresholds_min": {"station": (10, 20), "regional": (15, 30)},
          "underserved_min": {"station": 20}}
    if by_road:
        kw["travel"] = road_model(_roads_grid(), mode="motorbike", speed_kmh=30.0,
                                  detour_factor=1.0, class_speeds_kmh={"primary": 30.0})
    res = A.run_access(com, own, halo=halo, **kw)
    d = res.demand
    xy = d[["x", "y"]].to_numpy()
    fxy = np.array([(0, 0), (10_000, 0), (11_000, 10_000), (-1_000, 9_000)], float)
    if by_road:
        table, _ = road_costs(xy, fxy, _roads_grid(), class_speeds_kmh={"primary": 30.0},
                              offroad_speed_kmh=4.5, cutoff_min=60)
        T = np.full((len(xy), 4), np.inf)
        T[table.origin, table.dest] = table.time_min
    else:
        T = np.hypot(xy[:, None, 0] - fxy[None, :, 0], xy[:, None, 1] - fxy[None, :, 1]) / 500
    ids = np.array(["S1", "R1", "T1", "T2"])
    cross = res.summary["cross_border"]
    assert cross["note"] == ("facilities of neighbouring provinces within reach count for the "
                             "nearest facility, coverage and under-served areas; not for the "
                             "floating catchments, the indicators, the plans or the network")
    for tier, cols, thresholds in (("station", [0, 2], (10, 20)),
                                   ("regional", [1, 3], (15, 30))):
        sub = T[:, cols]
        best = sub.min(axis=1)
        pick = ids[cols][np.argmin(sub, axis=1)]   # ties: the own (first) one
        assert d[f"{tier}_time_min"].to_numpy() == pytest.approx(best, rel=1e-12)
        assert list(d[f"{tier}_id"]) == list(pick)
        across = pick == ids[cols[1]]
        assert 0 < across.sum() < len(d)
        assert list(d[f"{tier}_across_border"]) == list(across)
        assert cross["best_served_across"][tier] == {"population": pytest.approx(across.sum()),
                                                     "units": int(across.sum())}
        for thr in thresholds:
            mine = (sub[:, 0] <= thr).sum()
            assert cross["coverage_own_facilities"][tier][f"{thr}"]["population"] == \
                pytest.approx(mine)
            assert cross["coverage_gain"][tier][f"{thr}"] == pytest.approx(
                (best <= thr).sum() - mine)
    assert list(res.costs.dest_ids) == ["S1", "R1"]
    assert res.costs.n_origins == len(d)
    full = res.costs.to_frame()
    assert set(full["dest_id"]) <= {"S1", "R1"}
    # the catchments: the own facilities only (E2SFCA of doctors as without the halo)
    alone = A.run_access(com, own, **kw)
    assert d["e2sfca_doctors_per_10k"].to_numpy() == pytest.approx(
        alone.demand["e2sfca_doctors_per_10k"].to_numpy())
