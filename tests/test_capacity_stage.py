"""The capacity stage: capacities from staff x a norm, facilities left out, the per-cell split,
candidate sites, scaling up on candidates, the layers, the map (Chromium, no JS error, names as
text) and the report section; all on instances small enough to check by hand."""

from __future__ import annotations

import math
import tomllib
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import shapely

from gis.analyses.capacity import (
    STATUSES,
    ScaleUpRequest,
    TierCapacity,
    candidate_grid,
    capacity_norm,
    merge_demand,
    run_capacity,
    with_scale_up,
)
from gis.errors import ConfigError, GisError
from gis.inputs.config import parse_config
from gis.model.costs import straight_line_costs
from gis.outputs import capacity as out
from gis.outputs.report import render_report

CRS = "EPSG:32648"
X0, Y0 = 590_000.0, 2_020_000.0
EVIL = "<script>alert(1)</script>"


def _line():
    """Four 1 km cells on a line (100 people each, centres 1 km apart) in commune A (the first
    two) and B; station S1 (1 doctor) at the first, S2 (doctors unknown) at the last, a
    regional hospital H1 (10 beds) at the second. 60 km/h, detour 1: 1 min per km."""
    xs = X0 + 1000.0 * np.arange(4)
    demand = gpd.GeoDataFrame({
        "unit_id": np.arange(4), "population": np.full(4, 100.0),
        "commune_code": ["A", "A", "B", "B"], "x": xs, "y": np.full(4, Y0)},
        geometry=[shapely.box(x - 500, Y0 - 500, x + 500, Y0 + 500) for x in xs], crs=CRS)
    fac = gpd.GeoDataFrame({
        "facility_id": ["S1", "S2", "H1"], "name": [EVIL, "Trạm S2", "Hospital H1"],
        "tier": ["station", "station", "regional"], "status": "active",
        "commune_code": ["A", "B", "A"], "doctors": [1.0, np.nan, np.nan],
        "beds": [np.nan, np.nan, 10.0],
        "doctors_source": ["estimate: a spread total", "unknown", "unknown"],
        "beds_source": ["unknown", "unknown", "register"]},
        geometry=shapely.points([xs[0], xs[3], xs[1]], [Y0] * 3), crs=CRS)
    communes = gpd.GeoDataFrame({"commune_code": ["A", "B"], "commune_name": ["Xã A", "Xã B"]},
                                geometry=[shapely.box(X0 - 500, Y0 - 500, X0 + 1500, Y0 + 500),
                                          shapely.box(X0 + 1500, Y0 - 500, X0 + 3500,
                                                      Y0 + 500)], crs=CRS)
    return demand, fac, communes


def _costs(demand, points_xy, ids, cutoff):
    return straight_line_costs(demand[["x", "y"]].to_numpy(), points_xy, speed_kmh=60.0,
                               detour_factor=1.0, cutoff_min=cutoff,
                               origin_ids=demand["unit_id"].to_numpy(), dest_ids=ids)


@pytest.fixture(scope="module")
def line_run():
    demand, fac, communes = _line()
    costs = _costs(demand, fac.geometry.get_coordinates().to_numpy(),
                   fac["facility_id"].to_numpy(), 10.0)
    tiers = [TierCapacity("station", 1.5, "doctors", 150.0, "test norm"),
             TierCapacity("regional", 10.0, "beds", 30.0, "test norm")]
    # candidates at the third cell (C1: cells 1-3 within 1.5 min) and the fourth (C2: 2-3)
    cxy = np.array([[X0 + 2000.0, Y0], [X0 + 3000.0, Y0]])
    cand = gpd.GeoDataFrame({"site_id": ["C1", "C2"], "name": ["site one", "site two"],
                             "commune_code": ["B", "B"], "population": np.nan},
                            geometry=shapely.points(cxy), crs=CRS)
    req = ScaleUpRequest(tier="station", candidates=cand,
                         candidate_costs=_costs(demand, cxy, np.array(["C1", "C2"]), 1.5),
                         max_time_min=1.5,
                         classes=[{"name": "new station", "capacity": 1000.0, "cost": 1.0}],
                         budget=1.0, curve_budgets=(1.0,),
                         candidates_info={"kind": "list", "sites": 2})
    run = run_capacity(demand, fac, costs, communes=communes, tiers=tiers, scale=req)
    return demand, run


def test_capacity_from_staff_and_the_split_by_hand(line_run):
    demand, run = line_run
    st = run.tiers["station"]
    f = st.facilities.set_index("facility_id")
    # S1: 1 doctor x 150 people per doctor; S2 left out (doctors unknown), listed
    assert f.loc["S1", "capacity"] == 150.0 and bool(f.loc["S1", "capacity_is_estimate"])
    assert math.isnan(f.loc["S2", "capacity"]) and not f.loc["S2", "analysed"]
    assert "estimate: 1 doctors x 150.0 people per doctor" in f.loc["S1", "capacity_source"]
    s = st.summary
    assert s["left_out"] == {"count": 1, "ids": ["S2"], "reason": "doctors unknown"}
    # within 1.5 min of S1: cells 0 (0 min) and 1 (1 min), 200 people for 150 places: both
    # methods take cell 0 whole and half of cell 1 (AccessMod's case A: the band of cell 1
    # gives the same share, 50 of 100)
    for r in (st.greedy, st.optimum):
        assert r.cells["served_population"].tolist() == pytest.approx([100, 50, 0, 0])
        assert r.cells["not_served_capacity"].tolist() == pytest.approx([0, 50, 0, 0])
        assert r.cells["beyond_time"].tolist() == [0, 0, 100, 100]
        c = r.cells
        assert (c["served_population"] + c["not_served_capacity"] + c["beyond_time"]
                == c["population"]).all()
    assert st.greedy.facilities["accessmod_case"].tolist() == ["A"]
    # cells 2 and 3 are beyond every analysed station, but within 1.5 min of S2 (left out)
    assert s["beyond_time_near_left_out"] == 200.0
    assert s["optimum"]["served_population"] >= s["accessmod"]["served_population"]
    worst = s["communes_most_not_served"]
    assert worst == [{"commune_code": "A", "commune_name": "Xã A", "population": 200.0,
                      "served": 150.0, "not_served": 50.0, "beyond": 0.0}]
    cells = run.layers["capacity_cells"]
    assert cells["station_status"].tolist() == [STATUSES[0], STATUSES[1], STATUSES[3],
                                                STATUSES[3]]
    # the regional hospital: 10 beds x 30 = 300 places, everyone within 10 min (400 people)
    reg = run.tiers["regional"]
    assert reg.optimum.served_population == pytest.approx(300.0)
    assert not reg.summary["capacity_is_estimate"]


def test_a_tier_without_facilities_is_skipped():
    demand, fac, communes = _line()
    costs = _costs(demand, fac.geometry.get_coordinates().to_numpy(),
                   fac["facility_id"].to_numpy(), 10.0)
    run = run_capacity(demand, fac, costs, communes=communes,
                       tiers=[TierCapacity("provincial", 10.0, "beds", 30.0, "test norm")])
    assert run.tiers["provincial"].summary["skipped"] == "no active provincial hospitals"
    assert "capacity_cells" not in run.layers


def test_catchment_layers(line_run):
    _, run = line_run
    by_cap = run.layers["catchments_station_capacity"]
    by_time = run.layers["catchments_station_time"]
    # S1 serves cells 0 and 1 (the optimum's catchment time is 1 min: the same two cells)
    assert by_cap["facility_id"].tolist() == ["S1"] and by_cap["cells"].tolist() == [2]
    assert by_cap.geometry.iloc[0].area == pytest.approx(2e6)
    assert by_time["cells"].tolist() == [2] and by_cap["name"].tolist() == [EVIL]
    assert set(run.layers) >= {"capacity_cells", "capacity_facilities",
                               "catchments_regional_capacity", "scale_up_sites",
                               "scale_up_candidates"}


def test_scale_up_on_candidates_by_hand(line_run):
    _, run = line_run
    # left unserved: 50 in cell 1, 100 in cells 2 and 3; C1 reaches all 250, C2 only 200:
    # one new station (budget 1) goes to C1 and serves everyone left
    up = run.scale_up_summary
    assert [s["site_id"] for s in up["sites"]] == ["C1"]
    assert up["new_served_population"] == pytest.approx(250.0)
    assert up["served_population"] == pytest.approx(400.0) and up["gap"] == 0.0
    assert up["greedy"]["sites"][0]["site_id"] == "C1"
    assert up["curve"][0]["served_population"] == pytest.approx(400.0)
    assert up["sites"][0]["commune_name"] == "Xã B"
    cells = run.layers["capacity_cells"]
    assert cells["scale_up_new_served"].tolist() == pytest.approx([0, 50, 100, 100])
    sites = run.layers["scale_up_sites"]
    assert sites["method"].tolist() == ["optimum (MILP)", "AccessMod greedy"]


def test_candidate_grid_excludes_empty_squares_and_outside_sites():
    # three 1 km squares: one with two units (weighted centre), one empty, one whose centre
    # would fall outside the only commune (moved to its most populated unit)
    xs = np.array([100.0, 700.0, 1500.0, 2100.0, 2900.0]) + X0
    pops = np.array([100.0, 300.0, 0.0, 10.0, 30.0])
    demand = gpd.GeoDataFrame({"unit_id": np.arange(5), "population": pops, "x": xs,
                               "y": np.full(5, Y0 + 500.0), "commune_code": "A"},
                              geometry=shapely.points(xs, np.full(5, Y0 + 500.0)), crs=CRS)
    commune = gpd.GeoDataFrame({"commune_code": ["A"], "commune_name": ["Xã A"]},
                               geometry=[shapely.box(X0, Y0, X0 + 2200, Y0 + 1000)], crs=CRS)
    sites, info = candidate_grid(demand, commune, grid_m=1000.0)
    assert info["squares_with_people"] == 2 and info["excluded_no_population"] == 1
    xy = sites.geometry.get_coordinates().to_numpy()
    # square 0: (100 x 100 + 700 x 300) / 400 = 550; square 2: centre 2700 is outside the
    # commune (x <= 2200), so the site is its most populated unit... 2900, also outside: gone
    assert xy[:, 0].tolist() == pytest.approx([X0 + 550.0])
    assert info["excluded_outside_province"] == 1 and info["sites"] == 1
    assert sites["name"].iloc[0].startswith("Xã A (")


def test_norms_derived_from_the_targets():
    v, how = capacity_norm("station", "doctors", configured=None, population=1_623_061,
                           communes=69, doctors_per_station=4, doctors_per_10k=14.6,
                           beds_per_10k=45)
    assert v == pytest.approx(1_623_061 / 276) and "4 doctors x 69" in how
    v, how = capacity_norm("regional", "beds", configured=None, population=1.0, communes=1,
                           doctors_per_station=4, doctors_per_10k=14.6, beds_per_10k=45)
    assert v == pytest.approx(10_000 / 45) and "45 beds per 10,000" in how
    assert capacity_norm("regional", "beds", configured=300.0, population=1.0, communes=1,
                         doctors_per_station=4, doctors_per_10k=14.6,
                         beds_per_10k=45) == (300.0, "config capacity.people_per_bed.regional")
    with pytest.raises(GisError, match="people_per_facility.station"):
        capacity_norm("station", "norm", configured=None, population=1.0, communes=1,
                      doctors_per_station=4, doctors_per_10k=14.6, beds_per_10k=45)


def test_map_opens_in_chromium_with_names_as_text(line_run, tmp_path):
    from tests._browser import ARTIFACTS, load_page

    _, run = line_run
    summary = {"capacity": run.summary, "scale_up": run.scale_up_summary}
    path = out.write_capacity_map(tmp_path, run.layers, summary, province="Test",
                                  sources=["test data"], offline=True)
    assert path == tmp_path / "capacity.html"
    text = path.read_text(encoding="utf-8")
    assert EVIL not in text
    page = load_page(path, screenshot=ARTIFACTS / "capacity_synthetic.png")
    assert page.errors == [] and page.alerts == [] and page.scripts_in_content == 0
    assert EVIL in page.content_text                      # the name, shown as text
    assert "estimate" in page.content_text                # S1's capacity is an estimate
    assert all(u.startswith("http://127.0.0.1:") for u in page.resources)
    # every overlay: station status (3 statuses), catchments (S1), stations, regional
    # status, catchment, hospital, and the two new-facility layers
    # the counts say what they count: 3 areas (one per status), the 4 cells' 400 people
    assert page.layers[0] == ("Commune health stations: served, not served, beyond 1.5 min "
                              "(3 areas, 400 people)")
    assert "Exact choice (MILP): new facilities (1 site)" in page.layers
    assert page.all["markers"] == 3                       # 2 stations + 1 hospital icons


def test_report_section_and_qgis_styles(line_run):
    _, run = line_run
    summary = {"capacity": run.summary, "scale_up": run.scale_up_summary}
    sections = out.report_sections(summary)
    assert [s[0] for s in sections] == ["capacity"]
    page = render_report(summary, sections=sections)
    assert "Capacity and scaling up" in page and "Other results" not in page
    assert EVIL not in page
    assert ('1 left out: doctors unknown (<span translate="no">S2</span>).' in page
            and "AccessMod&#x27;s greedy" in page)
    specs = out.qgis_styles("capacity_cells", run.layers["capacity_cells"])
    assert [s.title for s in specs][:2] == [
        "Capacity, commune health stations: served, not served, beyond the time limit",
        "Capacity, regional hospitals: served, not served, beyond the time limit"]
    assert {s.group for s in specs} == {"Capacity"}
    assert out.qgis_styles("facilities", run.layers["capacity_cells"]) is None


def test_capacity_and_scale_up_config_keys():
    data = tomllib.loads(
        '[capacity]\ntiers = ["station"]\nmax_time_min = {station = 20}\n'
        'basis = {station = "norm"}\npeople_per_facility = {station = 5000}\n'
        '[scale_up]\ncandidates = "stations"\nbudget = 0\ntarget_share = 0.9\n'
        '[[scale_up.classes]]\nname = "small"\ncapacity = 3000\ncost = 1\n'
        '[[scale_up.classes]]\nname = "large"\ndoctors = 4\ncost = 2.5\n')
    cfg = parse_config(data, base_dir=Path("."))
    assert cfg.capacity.basis["station"] == "norm" and cfg.capacity.basis["regional"] == "beds"
    assert cfg.scale_up.target_share == 0.9 and len(cfg.scale_up.classes) == 2
    assert cfg.scale_up.classes[1].doctors == 4 and cfg.scale_up.classes[1].capacity is None
    for bad, match in (
            ({"capacity": {"tiers": ["clinic"]}}, r"capacity.tiers: unknown tier 'clinic'"),
            ({"capacity": {"basis": {"station": "nurses"}}}, r"capacity.basis.station"),
            ({"capacity": {"order": "random"}}, r"capacity.order: expected one of"),
            ({"capacity": {"max_time_min": {"station": 200}}},
             r"capacity.max_time_min.station: 200 min is beyond travel.cutoff_min"),
            ({"capacity": {"basis": {"station": "norm"}}},
             r"capacity.people_per_facility.station: missing"),
            ({"capacity": {"speed": 1}}, r"unknown key in \[capacity\]: speed"),
            ({"scale_up": {"budget": 5, "target_share": 0.5}}, r"give one question"),
            ({"scale_up": {"target_share": 1.2, "budget": 0}}, r"scale_up.target_share"),
            ({"scale_up": {"grid_m": 10}}, r"scale_up.grid_m: expected 100 to 50000"),
            ({"scale_up": {"classes": [{"name": "x", "cost": 1}]}},
             r"give exactly one of capacity .* found none"),
            ({"scale_up": {"classes": [{"name": "x", "capacity": 1, "beds": 2}]}},
             r"found capacity, beds"),
            ({"scale_up": {"classes": [{"name": "x", "capacity": 1, "colour": "red"}]}},
             r"unknown key colour"),
            ({"scale_up": {"tier": "regional"}, "capacity": {"tiers": ["station"]}},
             r"scale_up.tier: 'regional' is not analysed"),
            ({"scale_up": {"candidates": ""}}, r"scale_up.candidates: expected grid")):
        with pytest.raises(ConfigError, match=match):
            parse_config(bad, base_dir=Path("."), source="c.toml")


# --- the scaling up on merged demand (demand cells finer than scale_up.demand_cell_m) ----------

def _grid_case():
    """12 x 4 cells of 100 m (grid-aligned) in one commune, 10 to 40 people each; a station
    S1 (1 doctor = 300 people) at the west end; candidates C1 (middle) and C2 (east end).
    60 km/h, detour 1: 1 min per km."""
    rng = np.random.default_rng(11)
    ix, iy = np.meshgrid(np.arange(12), np.arange(4))
    xs = X0 + 100.0 * ix.ravel() + 50.0
    ys = Y0 + 100.0 * iy.ravel() + 50.0
    n = len(xs)
    demand = gpd.GeoDataFrame({
        "unit_id": np.arange(n), "population": rng.integers(10, 41, n).astype(float),
        "commune_code": "A", "x": xs, "y": ys},
        geometry=[shapely.box(x - 50, y - 50, x + 50, y + 50) for x, y in zip(xs, ys,
                                                                               strict=True)],
        crs=CRS)
    fac = gpd.GeoDataFrame({
        "facility_id": ["S1"], "name": ["Trạm S1"], "tier": ["station"], "status": "active",
        "commune_code": ["A"], "doctors": [1.0], "beds": [np.nan],
        "doctors_source": ["register"], "beds_source": ["unknown"]},
        geometry=shapely.points([X0 + 50.0], [Y0 + 50.0]), crs=CRS)
    communes = gpd.GeoDataFrame({"commune_code": ["A"], "commune_name": ["Xã A"]},
                                geometry=[shapely.box(X0, Y0, X0 + 1200, Y0 + 400)], crs=CRS)
    cxy = np.array([[X0 + 650.0, Y0 + 200.0], [X0 + 1150.0, Y0 + 200.0]])
    cand = gpd.GeoDataFrame({"site_id": ["C1", "C2"], "name": ["site one", "site two"],
                             "commune_code": ["A", "A"], "population": np.nan},
                            geometry=shapely.points(cxy), crs=CRS)
    costs = _costs(demand, fac.geometry.get_coordinates().to_numpy(),
                   fac["facility_id"].to_numpy(), 10.0)
    run = run_capacity(demand, fac, costs, communes=communes,
                       tiers=[TierCapacity("station", 0.45, "doctors", 300.0, "test norm")])
    return demand, communes, cand, cxy, run


def _request(demand, cand, cxy, run, *, cell_m: float | None, capacity: float):
    kw = {}
    if cell_m is None:
        table = _costs(demand, cxy, np.array(["C1", "C2"]), 0.7)
    else:
        pop = demand["population"].to_numpy()
        left = pop - run.tiers["station"].optimum.cells["served_population"].to_numpy()
        groups, points, info = merge_demand(demand, left, cell_m=cell_m)
        table = straight_line_costs(points, cxy, speed_kmh=60.0, detour_factor=1.0,
                                    cutoff_min=0.7, origin_ids=np.arange(len(points)),
                                    dest_ids=np.array(["C1", "C2"]))
        kw = {"demand_groups": groups, "demand_merged": info}
    return ScaleUpRequest(tier="station", candidates=cand, candidate_costs=table,
                          max_time_min=0.7,
                          classes=[{"name": "new", "capacity": capacity, "cost": 1.0}],
                          budget=1.0, curve_budgets=(1.0, 2.0),
                          candidates_info={"kind": "list", "sites": 2}, **kw)


def test_scale_up_on_squares_of_one_unit_is_the_unit_route():
    # merged into 100 m squares, each square holds one unit at its own point: the merged
    # route (people per square, served per square, shares back to the units) must give
    # exactly the figures of the route on the units
    demand, communes, cand, cxy, run = _grid_case()
    for capacity in (150.0, 400.0, 5000.0):
        units = with_scale_up(run, _request(demand, cand, cxy, run, cell_m=None,
                                            capacity=capacity), demand, communes=communes)
        merged = with_scale_up(run, _request(demand, cand, cxy, run, cell_m=100.0,
                                             capacity=capacity), demand, communes=communes)
        a, b = units.scale_up_summary, merged.scale_up_summary
        assert b["demand_merged"] == {"cell_m": 100.0, "units": 48, "merged_units": 48}
        assert "demand_merged" not in a
        for k in ("served_population", "new_served_population", "existing_served",
                  "total_population", "cost", "gap", "sites", "greedy", "curve"):
            assert a[k] == b[k], k
        ca, cb = units.layers["capacity_cells"], merged.layers["capacity_cells"]
        for col in ("scale_up_new_served", "scale_up_greedy_new_served"):
            assert ca[col].tolist() == cb[col].tolist()


def test_scale_up_on_merged_squares_by_hand():
    # 400 m squares (3 squares of 4 x 4 units): the station (300 people within 0.45 min)
    # leaves people unserved; one new facility of capacity 5,000 (more than everyone) at C1
    # serves every square whose point is within 0.7 min of it, all their people left. Each
    # unit gets its square's new served in proportion to the people left in it: here its own
    # people left, exactly.
    demand, communes, cand, cxy, run = _grid_case()
    pop = demand["population"].to_numpy()
    left = pop - run.tiers["station"].optimum.cells["served_population"].to_numpy()
    groups, points, info = merge_demand(demand, left, cell_m=400.0)
    assert info == {"cell_m": 400.0, "units": 48, "merged_units": 3}
    assert sorted(np.bincount(groups).tolist()) == [16, 16, 16]
    # each square's point is one of its units, the nearest to its people left
    for g in range(3):
        members = np.flatnonzero(groups == g)
        xy = demand[["x", "y"]].to_numpy()[members]
        w = left[members] if left[members].sum() > 0 else pop[members]
        centre = (xy * w[:, None]).sum(0) / w.sum()
        best = xy[np.argmin(((xy - centre) ** 2).sum(1))]
        assert points[g].tolist() == best.tolist()
    out = with_scale_up(run, _request(demand, cand, cxy, run, cell_m=400.0, capacity=5000.0),
                        demand, communes=communes)
    up = out.scale_up_summary
    reach = np.sqrt(((points - cxy[0]) ** 2).sum(1)) / 1000.0 <= 0.7
    expect = float(np.bincount(groups, weights=left)[reach].sum())
    assert up["new_served_population"] == pytest.approx(expect)
    new_u = out.layers["capacity_cells"]["scale_up_new_served"].to_numpy()
    np.testing.assert_allclose(new_u, np.where(reach[groups], left, 0.0), rtol=1e-12,
                               atol=1e-9)
    assert math.fsum(new_u) == pytest.approx(up["new_served_population"])
    assert up["demand_merged"]["merged_units"] == 3


def test_capacity_map_statuses_drawn_on_the_grid(monkeypatch):
    # over MAX_UNION_UNITS cells the status areas are traced from the demand grid: the same
    # figures per status, an area of whole 100 m cells, and the legend says so
    from gis.outputs import maps

    demand, communes, cand, cxy, run = _grid_case()
    cells = run.layers["capacity_cells"]
    exact = out._dissolve_status(cells, "station")
    monkeypatch.setattr(maps, "MAX_UNION_UNITS", 10)
    grid = out._dissolve_status(cells, "station")
    assert "drawn_on_grid_m" not in exact.attrs
    assert grid.attrs["drawn_on_grid_m"] == pytest.approx(100.0)
    cols = ["status", "cells", "population", "served", "not_served", "beyond"]
    assert grid[cols].to_dict("records") == exact[cols].to_dict("records")
    for g, e in zip(grid.geometry, exact.geometry, strict=True):
        assert g.symmetric_difference(e).area == pytest.approx(0.0, abs=1e-6)
    page = out.capacity_map(run.layers, {"capacity": run.summary}, title="t", offline=True,
                            lang="en").get_root().render()
    assert "Drawn on the 100 m grid of demand cells: each grid cell whole, in the status" in page
