"""Access metrics: hand-checkable grid, PySAL access as the independent reference, real data."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from gis.analyses import access as A
from gis.errors import GisError
from gis.model.costs import nearest, straight_line_costs


def _line():
    """Origins at x = 0, 1, 2, 3 km (100, 200, 300, 400 people); facilities S1 at 0 km
    (station, 2 doctors), S2 at 3 km (station, 1 doctor), R at 1 km (regional, 50 beds).
    60 km/h straight: 1 min per km; cut-off 2.5 min."""
    o = np.array([[0.0, 0], [1000, 0], [2000, 0], [3000, 0]])
    d = np.array([[0.0, 0], [3000, 0], [1000, 0]])
    costs = straight_line_costs(o, d, speed_kmh=60, detour_factor=1.0, cutoff_min=2.5,
                                dest_ids=np.array(["S1", "S2", "R"]))
    pop = np.array([100.0, 200.0, 300.0, 400.0])
    tiers = np.array(["station", "station", "regional"])
    return costs, pop, tiers


def test_nearest_by_tier_by_hand():
    costs, _, tiers = _line()
    t = A.nearest_by_tier(costs, tiers)
    assert t["station_id"].tolist() == ["S1", "S1", "S2", "S2"]   # x=1: S1 at 1 min; x=2: S2 at 1
    assert t["station_time_min"].tolist() == [0.0, 1.0, 1.0, 0.0]
    # regional R at 1 km: x=3 is 2 min away (within the 2.5 min cut-off)
    assert t["regional_time_min"].tolist() == [1.0, 0.0, 1.0, 2.0]
    assert t["regional_dist_m"].tolist() == [1000.0, 0.0, 1000.0, 2000.0]
    # ties go to the first facility: x=1.5 km is 1.5 min from S1 and from S2
    c2 = straight_line_costs(np.array([[1500.0, 0]]), np.array([[0.0, 0], [3000, 0]]),
                             speed_kmh=60, detour_factor=1.0, cutoff_min=2.5,
                             dest_ids=np.array(["S1", "S2"]))
    n = nearest(c2, np.array([True, True]))
    assert n["dest"].tolist() == [0] and n["time_min"].tolist() == [1.5]
    # nothing within the cut-off: id "" and NaN
    far = nearest(c2, np.array([False, False]))
    assert far["dest"].tolist() == [-1] and np.isnan(far["time_min"]).all()


def test_coverage_inclusive_per_group():
    costs, pop, tiers = _line()
    t = A.nearest_by_tier(costs, tiers)
    cov = A.coverage_table(pop, t, {"station": (0.0, 1.0), "regional": (1.0,)},
                           np.array(["X", "X", "Y", "Y"]))
    assert cov.loc["X", "station_0min"] == 100 and cov.loc["Y", "station_0min"] == 400
    assert cov.loc["X", "station_1min"] == 300   # exactly 1 min counts as covered
    assert cov.loc["Y", "regional_1min"] == 300 and cov.loc["Y", "regional_1min_share"] == 3 / 7
    total = A.coverage_table(pop, t, {"regional": (1.0,)})
    assert total["regional_1min"].iloc[0] == 600


def test_two_step_by_hand():
    costs, pop, _ = _line()
    # catchment 1 min, plain 2SFCA, doctors S1 = 2, S2 = 1, R = 0.
    # Step 1: S1 serves x=0,1 (100 + 200 = 300) -> 2/300; S2 serves x=2,3 (700) -> 1/700;
    #         R serves x=0,1,2 (600) -> 0.
    # Step 2: x=0: 2/300; x=1: 2/300; x=2: 1/700; x=3: 1/700; per 10,000.
    a = A.fca(costs, pop, np.array([2.0, 1.0, 0.0]), catchment_min=1.0, decay="none")
    assert np.allclose(a, np.array([2 / 300, 2 / 300, 1 / 700, 1 / 700]) * 10_000)
    # supply conserved: sum_i A_i P_i / 10,000 = total supply whose catchment has demand
    assert (a * pop).sum() / 10_000 == pytest.approx(3.0)
    # step decay over thirds of a 3 min catchment: weights 1 (<= 1), 0.68 (<= 2), 0.22 (<= 3)
    w = A.decay_weights(np.array([0.0, 1.0, 1.5, 2.0, 2.5, 3.0, 3.1]), catchment_min=3,
                        decay="step")
    assert w.tolist() == [1.0, 1.0, 0.68, 0.68, 0.22, 0.22, 0.0]
    with pytest.raises(GisError, match="unknown \\(NaN\\)"):
        A.fca(costs, pop, np.array([2.0, np.nan, 0.0]), catchment_min=1.0)
    with pytest.raises(GisError, match="decay: expected one of"):
        A.decay_weights(np.array([1.0]), catchment_min=3, decay="linear")


@pytest.mark.parametrize("decay", ["none", "step", "gaussian"])
def test_fca_equals_pysal_access(decay):
    from access import Access, weights

    rng = np.random.default_rng(11)
    o = rng.uniform(0, 30_000, (300, 2))
    d = rng.uniform(0, 30_000, (25, 2))
    catchment = 30.0
    costs = straight_line_costs(o, d, speed_kmh=30, detour_factor=1.3, cutoff_min=catchment)
    pop = rng.integers(0, 2000, 300).astype(float)
    supply = rng.integers(0, 20, 25).astype(float)
    ours = A.fca(costs, pop, supply, catchment_min=catchment, decay=decay, per=1.0)
    fn = {"none": None,
          "step": weights.step_fn({catchment / 3: 1.0, 2 * catchment / 3: 0.68,
                                   catchment: 0.22}),
          "gaussian": weights.gaussian(catchment / 2)}[decay]
    frame = costs.to_frame().rename(columns={"origin_id": "origin", "dest_id": "dest",
                                             "time_min": "cost"})
    demand = pd.DataFrame({"geoid": np.arange(300), "pop": pop})
    sup = pd.DataFrame({"geoid": np.arange(25), "doc": supply})
    acc = Access(demand_df=demand, demand_index="geoid", demand_value="pop", supply_df=sup,
                 supply_index="geoid", supply_value="doc", cost_df=frame, cost_origin="origin",
                 cost_dest="dest", cost_name="cost")
    if decay == "none":
        ref = acc.two_stage_fca(name="f", max_cost=catchment)["f_doc"]
    else:
        ref = acc.enhanced_two_stage_fca(name="f", max_cost=catchment, weight_fn=fn)["f_doc"]
    ref = ref.reindex(np.arange(300)).fillna(0.0).to_numpy()
    assert np.allclose(ours, ref, rtol=0, atol=1e-9)
    assert ours.max() > 0


def test_indicators_unknown_is_unknown_not_zero():
    fac = gpd.GeoDataFrame({
        "facility_id": ["S1", "S2", "H1", "H2"], "tier": ["station", "station", "regional",
                                                         "provincial"],
        "beds": [np.nan, np.nan, 100.0, np.nan], "doctors": [np.nan, np.nan, np.nan, np.nan],
        "status": "active"}, geometry=shapely.points([(0, 0)] * 4), crs=32648)
    ind = {i["name"]: i for i in A.indicators(fac, 100_000, doctors_per_10k=14.6,
                                                beds_per_10k=45, doctors_per_station=4)}
    assert ind["doctors per 10,000 people"]["value"] is None
    beds = ind["beds per 10,000 people"]
    assert beds["value"] == pytest.approx(10.0) and beds["lower_bound"] is True
    assert beds["gap"] is None and beds["gap_upper_bound"] == pytest.approx(350.0)
    assert "beds known for 1 of 2 facilities: a lower bound" in beds["note"]
    assert ind["doctors per commune station"]["needed"] == 8
    fac["beds"] = [np.nan, np.nan, 100.0, 200.0]
    fac["doctors"] = [1.0, 5.0, 50.0, 90.0]
    ind = {i["name"]: i for i in A.indicators(fac, 100_000, doctors_per_10k=14.6,
                                                beds_per_10k=45, doctors_per_station=4)}
    beds = ind["beds per 10,000 people"]
    assert beds["value"] == pytest.approx(30.0) and beds["lower_bound"] is False
    assert beds["gap"] == pytest.approx(150.0)           # 450 needed - 300
    assert beds["gap_people"] == pytest.approx(100_000 - 300 * 10_000 / 45)
    doc = ind["doctors per 10,000 people"]
    assert doc["value"] == pytest.approx(14.6) and doc["gap"] == pytest.approx(0.0)
    st = ind["doctors per commune station"]
    assert st["value"] == 3.0 and st["gap"] == 3.0      # S1 lacks 3, S2 has 5


def test_indicators_of_commune_units_and_estimates():
    """Doctors per commune health unit: unknown (value None, not missing) while a station's
    doctors are unknown; with all known, each post-2025 commune's stations counted together
    (A: 1 + 2, B: 5 -> 4 per unit, A lacks 1); figures built on values whose source says
    "estimate" are labelled estimates, per figure (doctors, not beds)."""
    fac = gpd.GeoDataFrame({
        "facility_id": ["S1", "S2", "S3", "H1"], "tier": ["station"] * 3 + ["regional"],
        "commune_code": ["A", "A", "B", ""], "beds": [np.nan] * 3 + [100.0],
        "doctors": [1.0, np.nan, 5.0, 20.0], "status": "active",
        "doctors_source": ["estimate: spread", "estimate: spread", "estimate: spread", "x"],
        "beds_source": ["", "", "", "register"]},
        geometry=shapely.points([(0, 0)] * 4), crs=32648)
    kw = {"doctors_per_10k": 14.6, "beds_per_10k": 45, "doctors_per_station": 4}
    ind = {i["name"]: i for i in A.indicators(fac, 10_000, **kw)}
    unit = ind["doctors per commune health unit (post-2025 commune)"]
    assert "value" in unit and unit["value"] is None and unit["gap"] is None
    assert ind["doctors per 10,000 people"]["is_estimate"] is True
    assert ind["beds per 10,000 people"]["is_estimate"] is False
    fac.loc[1, "doctors"] = 2.0
    ind = {i["name"]: i for i in A.indicators(fac, 10_000, **kw)}
    unit = ind["doctors per commune health unit (post-2025 commune)"]
    assert unit["value"] == 4.0 and unit["gap"] == 1.0 and unit["is_estimate"] is True


def _grid():
    """A 4 x 1 row of 1 km cells, 100 people each, and one station in the west cell.
    60 km/h: cells 0..3 are 0, 1, 2, 3 min from it."""
    geoms = [shapely.box(i * 1000, 0, (i + 1) * 1000, 1000) for i in range(4)]
    demand = gpd.GeoDataFrame({"unit_id": range(4), "population": [100.0] * 4,
                               "commune_code": ["X", "X", "Y", "Y"],
                               "x": [500.0, 1500, 2500, 3500], "y": [500.0] * 4},
                              geometry=geoms, crs=32648)
    costs = straight_line_costs(demand[["x", "y"]].to_numpy(), np.array([[500.0, 500]]),
                                speed_kmh=60, detour_factor=1.0, cutoff_min=2.5,
                                dest_ids=np.array(["S"]))
    return demand, costs


def test_underserved_areas_merge_contiguous_cells():
    demand, costs = _grid()
    times = A.nearest_by_tier(costs, np.array(["station"]))
    # cell 2 is 2 min away (fails > 1.5 min), cell 3 is beyond the cut-off: one area of 2 cells
    under = A.underserved_areas(demand, times, rules_min={"station": 1.5},
                                facility_names={"S": "Station <S>"})
    assert len(under) == 1
    row = under.iloc[0]
    assert row["rank"] == 1 and row["population"] == 200 and row["units"] == 2
    assert row["area_km2"] == pytest.approx(2.0, rel=1e-3)
    assert row["nearest_id"] == "S" and row["nearest_name"] == "Station <S>"
    assert row["nearest_time_min"] == pytest.approx(2.0)
    assert "more than 1.5 min from a station (200 people)" in row["reasons"]
    assert row["commune_codes"] == "Y"
    # a generous rule still flags cell 3: no station within the 2.5 min cut-off at all
    beyond = A.underserved_areas(demand, times, rules_min={"station": 10})
    assert beyond["population"].tolist() == [100.0]
    times_all = A.nearest_by_tier(
        straight_line_costs(demand[["x", "y"]].to_numpy(), np.array([[500.0, 500]]),
                            speed_kmh=60, detour_factor=1.0, cutoff_min=10,
                            dest_ids=np.array(["S"])), np.array(["station"]))
    assert len(A.underserved_areas(demand, times_all, rules_min={"station": 10})) == 0


@pytest.fixture(scope="module")
def ha_tinh(communes_2025_path):
    """Hà Tĩnh from the user's layers (the raw polygons of ../shared/data and the register),
    areal weighting: the access stage on real data without the base data."""
    from pathlib import Path

    from gis.inputs import layers as L
    from gis.inputs import readers as R
    from gis.inputs.registry import load_registry

    reg = load_registry("42")
    crs = L.working_crs(reg)
    com = R.read_communes(communes_2025_path, reg, crs=crs, population_field="population_2025")
    fac = R.read_facilities(Path(__file__).parents[1] / "layers" / "hatinh_hospitals.csv", reg,
                            crs=crs)
    lay = L.build_layers(reg, crs=crs, communes=com, facilities=fac)
    return lay, A.run_access(lay.communes, lay.facilities, legacy=lay.communes_legacy)


def test_real_ha_tinh_access(ha_tinh):
    """Straight line x 1.4 at 30 km/h, 500 m cells: coverage per tier, the under-served areas
    and the beds indicator, each derived again from the demand cells and the facilities'
    coordinates by brute force (tests/_brute.py: dense distances, networkx components)."""
    from tests import _brute as BF
    from tests._brute import contiguous_areas, nearest, straight_minutes

    lay, res = ha_tinh
    s = res.summary
    cov = s["coverage"]
    d = res.demand
    pop = d["population"].to_numpy(float)
    assert s["demand"]["population"] == pytest.approx(pop.sum()) == pytest.approx(1_623_061)
    fac = lay.facilities[lay.facilities["status"] == "active"].reset_index(drop=True)
    units = d[["x", "y"]].to_numpy()
    for tier, limits in (("station", (15, 30, 60)), ("regional", (30, 60, 90)),
                         ("provincial", (60, 120))):
        _, t = BF.nearest_site(units, BF.xy(fac[fac["tier"] == tier]), speed_kmh=30, detour=1.4)
        for lim in limits:
            assert cov[tier][str(lim)]["population"] == pytest.approx(BF.covered(t, pop, lim),
                                                                      rel=1e-9)
    D = straight_minutes(units, fac.geometry.get_coordinates().to_numpy(),
                         speed_kmh=30.0, detour_factor=1.4)
    t = {tier: nearest(D, np.flatnonzero((fac["tier"] == tier).to_numpy()),
                       cutoff_min=180.0)[0] for tier in ("station", "regional")}
    for tier, thr in (("station", 30), ("regional", 60)):
        within = pop[t[tier] <= thr].sum()
        assert cov[tier][f"{thr}"]["share"] == pytest.approx(within / pop.sum(), rel=1e-12)
        assert cov[tier][f"{thr}"]["beyond"] == pytest.approx(pop.sum() - within, abs=1e-6)
    assert 0.99 < cov["station"]["30"]["share"] < 1
    bad = np.flatnonzero(~(t["station"] <= 30) | ~(t["regional"] <= 60))
    areas = sorted(pop[bad[m]].sum() for m, _ in contiguous_areas(
        d.geometry.to_numpy()[bad], d["x"].to_numpy()[bad], d["y"].to_numpy()[bad]))[::-1]
    u = s["underserved"]
    assert u["areas"] == len(areas) >= 1
    assert u["population"] == pytest.approx(sum(areas))
    assert sum(areas) > 0
    assert [r["population"] for r in u["top"]] == pytest.approx(areas[:len(u["top"])])
    beds = next(i for i in s["indicators"] if i["name"].startswith("beds"))
    known = fac["tier"].isin(["regional", "provincial", "central"]) & fac["beds"].notna()
    assert beds["value"] == pytest.approx(fac.loc[known, "beds"].sum() / pop.sum() * 1e4)
    assert beds["lower_bound"] is True
    assert beds["value"] == pytest.approx(1300 / 1_623_061 * 1e4)   # the only bed count known
    doctors = next(i for i in s["indicators"] if i["name"].startswith("doctors per 10"))
    assert doctors["value"] is None
    # layers for the GeoPackage, with per-commune coverage
    cells = res.layers["demand_cells"]
    assert {"station_time_min", "regional_time_min", "e2sfca_beds_per_10k"} <= set(cells)
    com = res.layers["coverage_communes"]
    assert len(com) == 69 and com["population"].sum() == pytest.approx(1_623_061)
    assert len(res.layers["coverage_legacy"]) == 209


def test_run_access_tables_agree_with_the_full_table():
    """run_access computes nearest facilities and catchments on their own small tables; the
    figures equal those computed on the table of every pair within the cut-off."""
    rng = np.random.default_rng(2)
    communes = gpd.GeoDataFrame(
        {"commune_code": ["A", "B", "C"], "commune_name": ["A", "B", "C"],
         "population": [5000.0, 0.0, 12000.0]},
        geometry=[shapely.box(0, 0, 8000, 6000), shapely.box(8000, 0, 15000, 6000),
                  shapely.Polygon([(0, 6000), (15000, 6000), (7000, 14000)])], crs=32648)
    n = 12
    fac = gpd.GeoDataFrame({
        "facility_id": [f"F{i}" for i in range(n)], "name": [f"Facility {i}" for i in range(n)],
        "tier": ["station"] * 8 + ["regional"] * 3 + ["provincial"],
        "doctors": rng.integers(1, 30, n).astype(float), "beds": [np.nan] * 8 + [80, 120, 60, 400],
        "status": ["active"] * 11 + ["closed"]},
        geometry=shapely.points(rng.uniform(0, 15_000, (n, 2))), crs=32648)
    fac.loc[0, "doctors"] = 0.0   # a station with no supply: left out of the catchment table
    res = A.run_access(communes, fac, cell_size_m=700, speed_kmh=20, cutoff_min=25,
                       catchment_min=15, decay="step")
    assert res._costs is None                      # the full table is built on first use
    full = res.costs
    assert full.cutoff_min == 25 and len(full) > res.summary["cost_tables"]["catchment"]["pairs"]
    active = fac[fac["status"] == "active"].reset_index(drop=True)
    ref = A.nearest_by_tier(full, active["tier"].to_numpy())
    pd.testing.assert_frame_equal(res.demand[list(ref.columns)], ref)
    # the tables' summary: one pair per unit and tier reached; the catchment's facilities
    # are the 10 active ones with doctors or beds, its pairs those within 15 min of them
    reached = sum(int(ref[f"{t}_time_min"].notna().sum()) for t in set(active["tier"]))
    supplying = (active["doctors"].fillna(0) > 0) | (active["beds"].fillna(0) > 0)
    assert res.summary["cost_tables"] == {
        "nearest_per_tier": {"pairs": reached, "cutoff_min": 25},
        "catchment": {"pairs": int((full.time_min[supplying.to_numpy()[full.dest]] <= 15).sum()),
                      "cutoff_min": 15, "facilities": 10}}
    pop = res.demand["population"].to_numpy()
    doctors = A.fca(full, pop, active["doctors"].to_numpy(), catchment_min=15, decay="step")
    assert np.allclose(res.demand["e2sfca_doctors_per_10k"], doctors, rtol=1e-12, atol=0)
    beds = np.where(active["tier"] == "station", 0.0, active["beds"].fillna(0))
    plain = A.fca(full, pop, beds, catchment_min=15, decay="none")
    assert np.allclose(res.demand["2sfca_beds_per_10k"], plain, rtol=1e-12, atol=0)
    assert res.summary["cost_tables"]["catchment"]["cutoff_min"] == 15


def test_dissolve_of_grid_cells_equals_the_union():
    """Under-served areas merge whole grid cells as a raster: the same parts as a union."""
    rng = np.random.default_rng(4)
    cs = 500.0
    keep = rng.random((60, 60)) < 0.55
    iy, ix = np.nonzero(keep)
    cells = shapely.box(ix * cs, iy * cs, (ix + 1) * cs, (iy + 1) * cs)
    # pieces of cells cut by a border, and one piece off the grid
    cut = shapely.intersection(shapely.box(ix[:40] * cs, iy[:40] * cs, (ix[:40] + 1) * cs,
                                           (iy[:40] + 1) * cs),
                               shapely.Polygon([(0, 0), (30_000, 0), (0, 25_000)]))
    geoms = np.concatenate([cells[40:], cut[~shapely.is_empty(cut)],
                            [shapely.box(-900, -900, -10, -10)]])
    got = A._dissolve(geoms, grow_m=0.01)
    ref = shapely.get_parts(shapely.union_all(shapely.buffer(geoms, 0.01, join_style="mitre")))
    assert len(got) == len(ref) > 1
    assert shapely.area(shapely.symmetric_difference(shapely.union_all(got),
                                                     shapely.union_all(ref))) < 1e-3


def test_far_communes_by_hand():
    """Per tier, the people beyond its rule time (clipped at 0; a rounding residue below a
    millionth of the commune is nobody; unknown coverage, a commune without demand units, is
    nobody), the communes with someone beyond, the top ones by
    people (ties in table order); tiers without their column left out."""
    cov = pd.DataFrame({"commune_code": ["A", "B", "C", "D", "E"],
                        "commune_name": ["a", "b", "c", "d", "e"],
                        "population": [100.0, 50.0, 80.0, 10.0, 1e7],
                        "station_30min": [60.0, 50.0, 85.0, 0.0, 1e7 - 5.0],
                        "regional_60min": [100.0, 20.0, 50.0, np.nan, 1e7]})
    got = A.far_communes(cov, {"station": 30, "regional": 60.0, "provincial": 120}, top=2)
    assert got == {
        "station": {"time_min": 30.0, "population": 40.0 + 10.0, "communes": 2,
                    "top": [{"commune_code": "A", "commune_name": "a", "population": 40.0},
                            {"commune_code": "D", "commune_name": "d", "population": 10.0}]},
        "regional": {"time_min": 60.0, "population": 60.0, "communes": 2,
                     "top": [{"commune_code": "B", "commune_name": "b", "population": 30.0},
                             {"commune_code": "C", "commune_name": "c", "population": 30.0}]}}
    assert A.far_communes(cov.assign(station_30min=cov["population"]), {"station": 30}) == {
        "station": {"time_min": 30.0, "population": 0.0, "communes": 0, "top": []}}


def test_run_access_passes_the_raster_to_the_surface(tmp_path):
    """A population raster given to run_access shapes its demand units as it shapes the
    surface's: all of A's people in the pixels of its south-west cell."""
    import rasterio
    from rasterio.transform import from_origin

    from gis.inputs.readers import read_population_raster
    from gis.model.demand import population_surface

    com = gpd.GeoDataFrame({"commune_code": ["A"], "commune_name": ["A"],
                            "population": [400.0]},
                           geometry=[shapely.box(0, 0, 1000, 1000)], crs=32648)
    data = np.zeros((10, 10), dtype="float32")
    data[5:, :5] = 7.0
    path = tmp_path / "pop.tif"
    with rasterio.open(path, "w", driver="GTiff", height=10, width=10, count=1,
                       dtype="float32", crs="EPSG:32648",
                       transform=from_origin(0, 1000, 100, 100)) as dst:
        dst.write(data, 1)
    raster = read_population_raster(path)
    fac = gpd.GeoDataFrame({"facility_id": ["S"], "name": ["s"], "tier": ["station"],
                            "doctors": [1.0], "beds": [np.nan], "status": ["active"]},
                           geometry=shapely.points([[500.0, 500.0]]), crs=32648)
    res = A.run_access(com, fac, cell_size_m=500, raster=raster)
    want = population_surface(com, cell_size_m=500, raster=raster)
    assert res.demand["population"].tolist() == want["population"].tolist()
    assert res.demand.set_index("cell_id")["population"]["0_0"] == pytest.approx(400)
