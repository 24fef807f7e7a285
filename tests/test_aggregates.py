"""The aggregates users read (scenario tables, people losing access, per-commune figures,
coverage, under-served areas, referral chains, hubs, loss impact), each derived again by
another route on a small instance: hand cases, brute force over dense arrays
(``tests/_brute.py``), networkx or PySAL spopt. No real data: these run in the mutation runs.
"""

from __future__ import annotations

import itertools

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import pytest
import shapely

from gis.analyses import access as A
from gis.analyses import network as N
from gis.analyses import plans as P
from gis.errors import GisError
from gis.inputs import layers as L
from gis.inputs.plans import Plan
from gis.inputs.registry import load_registry
from gis.model.costs import straight_line_costs
from gis.model.demand import population_surface
from gis.model.travel import straight_model
from tests._brute import contiguous_areas, lower_quantile, nearest, straight_minutes, sums_by
from tests._tables import table
from tests.conftest import mutation_scope

SPEED, DETOUR, CUTOFF = 30.0, 1.4, 60.0
THRESHOLDS = (15.0, 30.0, 60.0)


# --- plans on the registry's Ha Tinh (no real data: registry-only layers, 4 km cells) ---------

@pytest.fixture(scope=mutation_scope)
def province():
    reg = load_registry("42")
    lay = L.build_layers(reg, crs=L.working_crs(reg), population_total=1_623_061)
    demand = population_surface(lay.communes, cell_size_m=4000.0)
    fac = lay.facilities[lay.facilities["status"] == "active"].reset_index(drop=True)
    xy = demand[["x", "y"]].to_numpy()
    costs = straight_line_costs(xy, fac.geometry.get_coordinates().to_numpy(),
                                speed_kmh=SPEED, detour_factor=DETOUR, cutoff_min=CUTOFF,
                                origin_ids=demand["unit_id"].to_numpy(),
                                dest_ids=fac["facility_id"].to_numpy())
    # a given plan named like a built-in scenario: the official main stations and 20 branch
    # points (the first former stations by id)
    official = P.official_plan(lay.facilities, lay.communes, reg)
    a = official.actions.copy()
    spare = sorted(a.loc[a["action"] == "branch", "facility_id"])[:20]
    a["action"] = np.where(a["action"] == "keep", "keep",
                           np.where(a["facility_id"].isin(spare), "branch", "close"))
    given = Plan(name="69 only", actions=a, note="a given plan")
    res = P.run_plans(lay.facilities, lay.communes, reg, demand=demand, costs=costs,
                      thresholds_min=THRESHOLDS, doctors_per_station=4, cover_min=30.0,
                      curve_ks=(0, 1, 2, 140), extra_plans=[given])
    st = fac[fac["tier"] == "station"].reset_index(drop=True)
    D = straight_minutes(xy, st.geometry.get_coordinates().to_numpy(), speed_kmh=SPEED,
                         detour_factor=DETOUR)
    return {"reg": reg, "lay": lay, "demand": demand, "res": res, "stations": st, "D": D,
            "pop": demand["population"].to_numpy(), "codes": demand["commune_code"].to_numpy()}


def _times(province, open_ids) -> np.ndarray:
    cols = np.flatnonzero(province["stations"]["facility_id"].isin(open_ids).to_numpy())
    return nearest(province["D"], cols, cutoff_min=CUTOFF)[0]


def _scenario(province, name):
    return next(r for r in province["res"].summary["scenarios"] if r["scenario"] == name)


def _check_scenario_figures(province, name, t, t_today, plan: Plan):
    """Every figure of a scenario's row and of its per-commune rows, from the times ``t``."""
    pop, codes = province["pop"], province["codes"]
    row = _scenario(province, name)
    reach = np.isfinite(t)
    for thr in THRESHOLDS:
        assert row[f"covered_{thr:g}min"] == pytest.approx(pop[t <= thr].sum(), abs=1e-6)
        assert row[f"covered_{thr:g}min_share"] == pytest.approx(pop[t <= thr].sum() / pop.sum())
        if t_today is not None:
            lose = (t_today <= thr) & ~(t <= thr)
            assert row[f"losing_{thr:g}min"] == pytest.approx(pop[lose].sum(), abs=1e-6)
    assert row["mean_time_min"] == pytest.approx((pop[reach] * t[reach]).sum()
                                                 / pop[reach].sum(), rel=1e-12)
    assert row["p90_time_min"] == lower_quantile(t[reach], pop[reach], 0.9)
    assert row["max_time_min"] == t[reach & (pop > 0)].max()
    assert row["population_beyond_cutoff"] == pytest.approx(pop[~reach].sum(), abs=1e-6)
    mains = plan.main_ids()
    assert row["main_stations"] == len(mains)
    assert row["population_per_main_station"] == pytest.approx(pop.sum() / len(mains))
    assert row["doctors_needed"] == 4 * len(mains)
    # per commune: population, coverage, losing, mean over the people who reach a station
    pc = province["res"].layers["plan_communes"]
    pc = pc[pc["scenario"] == name].set_index("commune_code")
    assert sorted(pc.index) == sorted(set(codes))
    a = plan.actions
    for code in pc.index:
        here = codes == code
        r = pc.loc[code]
        assert r["population"] == pytest.approx(pop[here].sum())
        assert r["covered_30min"] == pytest.approx(pop[here & (t <= 30)].sum(), abs=1e-6)
        if t_today is not None:
            assert r["losing_30min"] == pytest.approx(
                pop[here & (t_today <= 30) & ~(t <= 30)].sum(), abs=1e-6)
        ok = here & reach
        mean = (pop[ok] * t[ok]).sum() / pop[ok].sum() if pop[ok].sum() > 0 else np.nan
        assert r["mean_time_min"] == pytest.approx(mean, rel=1e-12, nan_ok=True)
        n_main = int(a["facility_id"].isin(mains).to_numpy()[
            (a["target_commune_code"] == code).to_numpy()].sum())
        assert r["main_stations"] == n_main
        assert r["doctors_needed"] == 4 * n_main
        n_points = int(a["facility_id"].isin(plan.open_ids()).to_numpy()[
            (a["target_commune_code"] == code).to_numpy()].sum())
        assert r["service_points"] == n_points


def _check_today_and_the_official_plans(province):
    res = province["res"]
    st = province["stations"]
    t_today = _times(province, st["facility_id"])
    _check_scenario_figures(province, "209 today", t_today, None, res.plans["209 today"])
    official = res.plans["69 + branch points"]
    assert sorted(official.open_ids()) == sorted(st["facility_id"])
    _check_scenario_figures(province, "69 + branch points", t_today, t_today, official)
    only = res.plans["69 only"]
    _check_scenario_figures(province, "69 only", _times(province, only.main_ids()), t_today,
                            only)


def _check_losing_access_recounted_from_the_cells(province):
    """People within 30 min of a station today and beyond it under "69 only", cell by cell,
    per commune and in total: the layer, the summary and the scenario table agree with it."""
    res, pop, codes = province["res"], province["pop"], province["codes"]
    t_today = _times(province, province["stations"]["facility_id"])
    t_only = _times(province, res.plans["69 only"].main_ids())
    lose = (t_today <= 30.0) & ~(t_only <= 30.0)
    assert lose.any() and (~lose).any()
    layer = res.layers["losing_access"]
    assert sorted(layer["unit_id"]) == sorted(province["demand"]["unit_id"].to_numpy()[lose])
    assert layer["population"].sum() == pytest.approx(pop[lose].sum(), rel=1e-12)
    got = layer.set_index("unit_id")
    ids = province["demand"]["unit_id"].to_numpy()
    assert got.loc[ids[lose], "time_before_min"].to_numpy() == pytest.approx(t_today[lose])
    after = got.loc[ids[lose], "time_after_min"].to_numpy()
    assert np.array_equal(np.isnan(after), np.isinf(t_only[lose]))
    assert after[~np.isnan(after)] == pytest.approx(t_only[lose][np.isfinite(t_only[lose])])
    per_commune = sums_by(codes[lose], pop[lose])
    assert sums_by(layer["commune_code"], layer["population"]) == pytest.approx(per_commune)
    s = res.summary["losing_access"]
    assert s == {"scenario": "69 only", "threshold_min": 30.0,
                 "population": pytest.approx(pop[lose].sum()),
                 "communes": len(per_commune)}
    assert _scenario(province, "69 only")["losing_30min"] == pytest.approx(pop[lose].sum())
    # the layer is not the branch-point plan's (which loses nobody)
    assert _scenario(province, "69 + branch points")["losing_30min"] == 0


def _check_best_main_stations_by_enumeration(province):
    """Per commune, the former station minimising its people's summed travel time (people it
    does not reach within the cut-off charged the cut-off), by enumeration."""
    res, st, D, pop, codes = (province[k] for k in ("res", "stations", "D", "pop", "codes"))
    charged = np.where(D <= CUTOFF, D, CUTOFF)
    best = {}
    for code in sorted(set(st["commune_code"])):
        cols = np.flatnonzero((st["commune_code"] == code).to_numpy())
        here = codes == code
        cost = (pop[here][:, None] * charged[here][:, cols]).sum(axis=0)
        best[code] = st["facility_id"].iloc[cols[np.argmin(cost)]]
    plan = res.plans["69 with best main stations"]
    assert sorted(plan.main_ids()) == sorted(best.values())
    t = _times(province, plan.main_ids())
    t_today = _times(province, st["facility_id"])
    _check_scenario_figures(province, "69 with best main stations", t, t_today, plan)


def _check_fewest_branch_points_and_curve_against_spopt(province):
    """The set cover (fewest branch points with the 69 main stations open) and two points of
    the coverage curve, solved again by PySAL spopt (CBC) on the cells the mains leave."""
    pulp = pytest.importorskip("pulp")
    locate = pytest.importorskip("spopt.locate")
    res, st, D, pop = (province[k] for k in ("res", "stations", "D", "pop"))
    mains = res.plans["69 only"].main_ids()
    is_main = st["facility_id"].isin(mains).to_numpy()
    covered_by_mains = (D[:, is_main] <= 30).any(axis=1)
    coverable = (D <= 30).any(axis=1) & (pop > 0)
    rows = coverable & ~covered_by_mains
    cand = np.flatnonzero(~is_main)
    sub = D[rows][:, cand]
    cbc = pulp.PULP_CBC_CMD(msg=False)
    name = "69 + fewest branch points for T = 30 min"
    plan = res.plans[name]
    branches = [i for i in plan.open_ids() if i not in mains]
    lscp = locate.LSCP.from_cost_matrix(sub, 30.0).solve(cbc)
    assert len(branches) == pulp.value(lscp.problem.objective)
    assert res.summary["notes"][name]["branch_points"] == len(branches)
    t = _times(province, plan.open_ids())
    assert pop[t <= 30].sum() == pytest.approx(pop[coverable].sum())
    _check_scenario_figures(province, name, t, _times(province, st["facility_id"]), plan)
    curve = {p["branch_points"]: p["covered_population"]
             for p in res.summary["coverage_curve"]["points"]}
    assert curve[0] == pytest.approx(pop[covered_by_mains].sum())
    assert max(curve.values()) == pytest.approx(pop[coverable].sum())
    assert len(branches) > 2  # so that the points at 1 and 2 leave people uncovered
    for k in (1, 2):
        mclp = locate.MCLP.from_cost_matrix(sub, pop[rows], 30.0, k).solve(cbc)
        assert curve[k] == pytest.approx(pop[covered_by_mains].sum()
                                         + pulp.value(mclp.problem.objective), rel=1e-9)


# --- evaluation by hand: the denominators ----------------------------------------------------

def _plan(actions: dict[str, tuple[str, str]], name: str = "test") -> Plan:
    df = pd.DataFrame([{"facility_id": k, "action": a, "target_commune_code": c, "role": "",
                        "rule": "", "x": np.nan, "y": np.nan} for k, (a, c) in actions.items()])
    return Plan(name=name, actions=df)


def test_evaluation_means_count_only_the_people_who_reach_a_station():
    """Commune X: 100 people at 10 min, 300 beyond the cut-off, 5 (no, 0) people at 50 min;
    commune Y: 1 at 2 min and 3 at 4 min. Means are over the people who reach a station:
    X 10, Y 3.5, province (1,000 + 2 + 12) / 104; the 0-person cell never sets the maximum."""
    costs = table([[10.0, np.inf], [np.inf, np.inf], [50.0, np.inf], [np.inf, 2.0],
                   [np.inf, 4.0]], cutoff=60.0, dest_ids=["A", "B"])
    pop = np.array([100.0, 300.0, 0.0, 1.0, 3.0])
    codes = np.array(["X", "X", "X", "Y", "Y"])
    plan = _plan({"A": ("keep", "X"), "B": ("keep", "Y")})
    ev = P.evaluate(plan, population=pop, commune_codes=codes, costs=costs,
                    thresholds_min=(5.0, 30.0), doctors_per_station=4)
    per = ev.communes.set_index("commune_code")
    assert per.loc["X", "mean_time_min"] == 10.0
    assert per.loc["Y", "mean_time_min"] == 3.5
    assert per.loc["X", "population"] == 400.0 and per.loc["Y", "population"] == 4.0
    assert per.loc["X", "covered_30min"] == 100.0 and per.loc["Y", "covered_5min"] == 4.0
    assert per.loc["X", "population_per_station"] == 400.0
    p = ev.province
    assert p["mean_time_min"] == pytest.approx((1000 + 2 + 12) / 104)
    assert p["max_time_min"] == 10.0
    assert p["population_beyond_cutoff"] == 300.0
    assert p["covered_30min_share"] == pytest.approx(104 / 404)
    assert p["population_per_service_point"] == 202.0
    # p90 of the reached people: 1 at 2, 3 at 4, 100 at 10 (weights 1, 4, 104) -> 10
    assert p["p90_time_min"] == 10.0
    assert P.evaluate(plan, population=pop, commune_codes=codes, costs=costs,
                      thresholds_min=(30.0,), doctors_per_station=4).province[
        "p90_time_min"] == lower_quantile(np.array([10.0, 2.0, 4.0]),
                                          np.array([100.0, 1.0, 3.0]), 0.9)


def test_p90_is_the_weighted_lower_quantile():
    rng = np.random.default_rng(5)
    t = rng.integers(1, 40, (60, 1)).astype(float)
    pop = rng.integers(0, 30, 60).astype(float)
    costs = table(t, cutoff=60.0, dest_ids=["A"])
    ev = P.evaluate(_plan({"A": ("keep", "X")}), population=pop, commune_codes=np.full(60, "X"),
                    costs=costs, thresholds_min=(30.0,), doctors_per_station=4)
    assert ev.province["p90_time_min"] == lower_quantile(t[:, 0], pop, 0.9)
    assert ev.province["max_time_min"] == t[pop > 0, 0].max()


# --- access on a synthetic province ---------------------------------------------------------

ACCESS_KW = dict(cell_size_m=700.0, speed_kmh=20.0, detour_factor=1.4, cutoff_min=25.0,
                 catchment_min=15.0, decay="step",
                 thresholds_min={"station": (5.0, 10.0, 20.0), "regional": (10.0, 20.0),
                                 "provincial": (15.0, 25.0)},
                 underserved_min={"station": 10.0, "regional": 20.0}, beds_per_10k=45.0)


@pytest.fixture(scope=mutation_scope)
def synthetic_access():
    """Four communes (B uninhabited; D 30 km away, beyond the 25 min cut-off of everything),
    five pre-2025 communes, 12 facilities (one closed), beds known for every hospital,
    doctors for some facilities only."""
    rng = np.random.default_rng(2)
    communes = gpd.GeoDataFrame(
        {"commune_code": ["A", "B", "C", "D"], "commune_name": ["A", "B", "C", "D"],
         "population": [5000.0, 0.0, 12000.0, 3000.0]},
        geometry=[shapely.box(0, 0, 8000, 6000), shapely.box(8000, 0, 15000, 6000),
                  shapely.Polygon([(0, 6000), (15000, 6000), (7000, 14000)]),
                  shapely.box(45_000, 0, 50_000, 4000)], crs=32648)
    legacy = gpd.GeoDataFrame(
        {"commune_code": ["a1", "a2", "b1", "c1", "d1"],
         "commune_name": ["a1", "a2", "b1", "c1", "d1"],
         "new_commune_code": ["A", "A", "B", "C", "D"]},
        geometry=[shapely.box(0, 0, 4000, 6000), shapely.box(4000, 0, 8000, 6000),
                  shapely.box(8000, 0, 15000, 6000),
                  shapely.Polygon([(0, 6000), (15000, 6000), (7000, 14000)]),
                  shapely.box(45_000, 0, 50_000, 4000)], crs=32648)
    n = 12
    doctors = rng.integers(1, 30, n).astype(float)
    doctors[[1, 4]] = np.nan
    fac = gpd.GeoDataFrame({
        "facility_id": [f"F{i}" for i in range(n)], "name": [f"Facility <{i}>" for i in range(n)],
        "tier": ["station"] * 8 + ["regional"] * 2 + ["provincial", "regional"],
        "doctors": doctors, "beds": [np.nan] * 8 + [80.0, 120.0, 400.0, 60.0],
        "status": ["active"] * 11 + ["closed"]},
        geometry=shapely.points(rng.uniform(0, 15_000, (n, 2))), crs=32648)
    res = A.run_access(communes, fac, legacy=legacy, **ACCESS_KW)
    active = fac[fac["status"] == "active"].reset_index(drop=True)
    d = res.demand
    D = straight_minutes(d[["x", "y"]].to_numpy(), active.geometry.get_coordinates().to_numpy(),
                         speed_kmh=20.0, detour_factor=1.4)
    times = {}
    for tier in ("station", "regional", "provincial"):
        cols = np.flatnonzero((active["tier"] == tier).to_numpy())
        t, j = nearest(D, cols, cutoff_min=25.0)
        times[tier] = (np.where(np.isfinite(t), t, np.nan),
                       np.where(j >= 0, active["facility_id"].to_numpy()[np.maximum(j, 0)], ""))
    return {"res": res, "communes": communes, "fac": active, "D": D, "times": times,
            "pop": d["population"].to_numpy(), "codes": d["commune_code"].to_numpy()}


def _check_access_times_and_coverage(synthetic_access):
    res, times, pop = (synthetic_access[k] for k in ("res", "times", "pop"))
    d = res.demand
    for tier, (t, ids) in times.items():
        assert np.allclose(d[f"{tier}_time_min"], t, rtol=1e-12, atol=0, equal_nan=True)
        assert d[f"{tier}_id"].tolist() == ids.tolist()
    s = res.summary
    assert s["demand"]["units"] == len(d)
    assert s["demand"]["population"] == pytest.approx(20_000.0)
    for tier, ths in ACCESS_KW["thresholds_min"].items():
        t = times[tier][0]
        for thr in ths:
            within = pop[t <= thr].sum()
            rec = s["coverage"][tier][f"{thr:g}"]
            assert rec["population"] == pytest.approx(within, abs=1e-9)
            assert rec["share"] == pytest.approx(within / pop.sum(), rel=1e-12)
            assert rec["beyond"] == pytest.approx(pop.sum() - within, abs=1e-9)
            assert s["covered_share"][tier][f"covered_{thr:g}min_share"] == rec["share"]
        assert s["population_unreached_within_cutoff"][tier] == pytest.approx(
            pop[np.isnan(t)].sum())
    assert s["population_unreached_within_cutoff"]["station"] == pytest.approx(3000.0)


def _check_access_per_commune(synthetic_access):
    """Per post-2025 and pre-2025 commune: coverage, shares, and the mean time over the people
    who reach a facility (commune D reaches none: its mean is unknown, not 0)."""
    res, times, pop, codes = (synthetic_access[k] for k in ("res", "times", "pop", "codes"))
    com = res.layers["coverage_communes"].set_index("commune_code")
    assert sorted(com.index) == ["A", "B", "C", "D"]
    for code in com.index:
        here = codes == code
        assert com.loc[code, "population"] == pytest.approx(pop[here].sum())
        for tier, ths in ACCESS_KW["thresholds_min"].items():
            t = times[tier][0]
            for thr in ths:
                within = pop[here & (t <= thr)].sum()
                assert com.loc[code, f"{tier}_{thr:g}min"] == pytest.approx(within, abs=1e-9)
                share = within / pop[here].sum() if pop[here].sum() > 0 else np.nan
                assert com.loc[code, f"{tier}_{thr:g}min_share"] == pytest.approx(
                    share, nan_ok=True)
            ok = here & ~np.isnan(t)
            mean = (pop[ok] * t[ok]).sum() / pop[ok].sum() if pop[ok].sum() > 0 else np.nan
            assert com.loc[code, f"{tier}_mean_time_min"] == pytest.approx(mean, rel=1e-12,
                                                                         nan_ok=True)
        for what in ("doctors", "beds"):
            v = res.demand[f"e2sfca_{what}_per_10k"].to_numpy()
            mean = (v[here] * pop[here]).sum() / pop[here].sum() if pop[here].sum() else np.nan
            assert com.loc[code, f"e2sfca_{what}_per_10k"] == pytest.approx(mean, rel=1e-12,
                                                                          nan_ok=True)
    assert np.isnan(com.loc["D", "station_mean_time_min"])
    assert np.isnan(com.loc["B", "station_mean_time_min"])  # nobody lives there
    assert res.layers["coverage_legacy"].crs == res.layers["coverage_communes"].crs == 32648
    lg = res.layers["coverage_legacy"].set_index("commune_code")
    old = res.demand["legacy_commune_code"].to_numpy()
    t = times["station"][0]
    for code in lg.index:
        here = old == code
        assert lg.loc[code, "population"] == pytest.approx(pop[here].sum())
        assert lg.loc[code, "station_10min"] == pytest.approx(pop[here & (t <= 10)].sum(),
                                                              abs=1e-9)
    assert lg.loc[["a1", "a2"], "population"].sum() == pytest.approx(5000.0)


def _check_floating_catchments(synthetic_access):
    """2SFCA and E2SFCA (step weights 1, 0.68, 0.22 over thirds of 15 min) by their formula
    on the dense times: R_j = S_j / sum_i P_i W_ij, A_i = sum_j R_j W_ij, per 10,000."""
    res, fac, D, pop = (synthetic_access[k] for k in ("res", "fac", "D", "pop"))
    step = np.select([D <= 5.0, D <= 10.0, D <= 15.0], [1.0, 0.68, 0.22], 0.0)
    flat = (D <= 15.0).astype(float)
    hospital = fac["tier"].isin(["regional", "provincial", "central"]).to_numpy()
    supplies = {"doctors": np.nan_to_num(fac["doctors"].to_numpy(float)),
                "beds": np.where(hospital, np.nan_to_num(fac["beds"].to_numpy(float)), 0.0)}
    for what, supply in supplies.items():
        for label, W in (("2sfca", flat), ("e2sfca", step)):
            demand_j = (pop[:, None] * W).sum(axis=0)
            ratio = np.divide(supply, demand_j, out=np.zeros_like(supply),
                              where=demand_j > 0)
            want = (W * ratio[None, :]).sum(axis=1) * 10_000
            assert np.allclose(res.demand[f"{label}_{what}_per_10k"], want, rtol=1e-9,
                               atol=1e-12), (label, what)
    f = res.summary["fca"]
    assert (f["doctors"]["known"], f["doctors"]["total"]) == (9, 11)
    assert f["doctors"]["lower_bound"] is True
    assert (f["beds"]["known"], f["beds"]["total"]) == (3, 3)
    assert f["beds"]["lower_bound"] is False


def _check_underserved_areas(synthetic_access):
    """Units failing a rule (beyond 10 min of a station, 20 min of a regional hospital, or
    below 45 beds per 10,000 by E2SFCA), grouped by touching geometry with networkx: the same
    areas, people, units, communes, reasons and nearest facility."""
    res, times, pop, codes, fac = (synthetic_access[k] for k in
                                   ("res", "times", "pop", "codes", "fac"))
    d = res.demand
    names = dict(zip(synthetic_access["communes"]["commune_code"],
                     synthetic_access["communes"]["commune_name"], strict=True))
    st_t, st_id = times["station"]
    fails = {"more than 10 min from a station": ~(st_t <= 10.0),
             "more than 20 min from a regional hospital": ~(times["regional"][0] <= 20.0),
             "beds per 10,000 below the target of 45 (E2SFCA)":
                 d["e2sfca_beds_per_10k"].to_numpy() < 45.0}
    bad = np.flatnonzero(np.any(list(fails.values()), axis=0))
    found = contiguous_areas(d.geometry.to_numpy()[bad], d["x"].to_numpy()[bad],
                             d["y"].to_numpy()[bad])
    want = []
    for g, area_m2 in found:
        members = bad[g]
        rec = {"population": pop[members].sum(), "units": len(members),
               "commune_codes": ";".join(sorted(set(codes[members])))}
        present = [r for r, m in fails.items() if m[members].any()]
        rec["reasons"] = "; ".join(f"{r} ({pop[members][fails[r][members]].sum():,.0f} people)"
                                   for r in present)
        rec["area_km2"] = area_m2 / 1e6
        rec["beyond_station"] = pop[members][fails["more than 10 min from a station"][
            members]].sum()
        rec["beyond_regional"] = pop[members][fails[
            "more than 20 min from a regional hospital"][members]].sum()
        people_in = sums_by(codes[members], pop[members])
        rec["commune_names"] = ";".join(names[c] for c in sorted(
            sorted(people_in), key=lambda c: -people_in[c]))
        if present[0].endswith("station"):
            ids, t = st_id[members], st_t[members]
        else:
            ids, t = times["regional"][1][members], times["regional"][0][members]
        people = sums_by(ids[ids != ""], pop[members][ids != ""])
        top = max(people, key=people.get) if people else ""
        pick = ids == top
        rec["nearest_id"] = top
        rec["nearest_time_min"] = (float(np.average(t[pick], weights=np.maximum(
            pop[members][pick], 1e-9))) if top else np.nan)
        want.append(rec)
    want.sort(key=lambda r: -r["population"])
    under = res.layers["underserved"]
    assert len(under) == len(want) >= 2
    assert under["rank"].tolist() == list(range(1, len(want) + 1))
    for (_, got), w in zip(under.iterrows(), want, strict=True):
        assert got["population"] == pytest.approx(w["population"])
        assert got["units"] == w["units"]
        assert got["commune_codes"] == w["commune_codes"]
        assert got["reasons"] == w["reasons"]
        assert got["area_km2"] == pytest.approx(w["area_km2"], rel=1e-9)
        assert got["nearest_id"] == w["nearest_id"]
        assert got["commune_names"] == w["commune_names"]
        assert got["beyond_station"] == pytest.approx(w["beyond_station"])
        assert got["beyond_regional"] == pytest.approx(w["beyond_regional"])
        assert got["nearest_time_min"] == pytest.approx(w["nearest_time_min"], nan_ok=True)
        if w["nearest_id"]:
            assert got["nearest_name"] == f"Facility <{w['nearest_id'][1:]}>"
    s = res.summary["underserved"]
    assert s["areas"] == len(want)
    assert s["population"] == pytest.approx(sum(w["population"] for w in want))
    assert [r["population"] for r in s["top"]] == pytest.approx(
        [w["population"] for w in want][:10])


# --- the referral network on a synthetic province --------------------------------------------

NET = {"speed_kmh": 40.0, "detour_factor": 1.4}
NET_THRESHOLDS = {"station": [10.0, 20.0, 30.0], "regional": [30.0, 45.0, 60.0],
                  "provincial": [60.0, 90.0]}


@pytest.fixture(scope=mutation_scope)
def synthetic_network():
    """14 stations in 3 communes, 3 regional hospitals and an ended one on a regional's site,
    the provincial general hospital and an eye hospital; 240 demand units, 20 of them beyond
    the demand table's 25 min cut-off of every station."""
    rng = np.random.default_rng(8)
    n_st = 14
    st_xy = rng.uniform(0, 40_000, (n_st, 2))
    reg_xy = np.array([[5_000.0, 5_000], [35_000, 8_000], [20_000, 35_000]])
    rows = [(f"S{i:02d}", "station", "primary care", "ABC"[i % 3], np.nan, "active", *st_xy[i])
            for i in range(n_st)]
    rows += [(f"R{i}", "regional", "general", "A", [120.0, np.nan, 80.0][i], "active", *xy)
             for i, xy in enumerate(reg_xy)]
    rows += [("RX", "regional", "general", "B", np.nan, "ended", *reg_xy[1]),
             ("P", "provincial", "general", "A", 900.0, "active", 21_000.0, 19_000.0),
             ("PE", "provincial", "eye", "A", 50.0, "active", 21_500.0, 19_000.0)]
    df = pd.DataFrame(rows, columns=["facility_id", "tier", "specialty", "commune_code", "beds",
                                     "status", "x", "y"])
    fac = gpd.GeoDataFrame({**{c: df[c] for c in df.columns[:6]},
                            "name": "Facility " + df["facility_id"], "legacy_commune_code": "",
                            "doctors": np.nan, "nurses": np.nan},
                           geometry=shapely.points(df[["x", "y"]].to_numpy()), crs=32648)
    uxy = np.vstack([rng.uniform(0, 40_000, (220, 2)), rng.uniform(80_000, 90_000, (20, 2))])
    demand = pd.DataFrame({"unit_id": np.arange(len(uxy)),
                           "population": rng.integers(0, 500, len(uxy)).astype(float),
                           "commune_code": np.where(uxy[:, 0] < 13_000, "A",
                                                    np.where(uxy[:, 0] < 26_000, "B", "C")),
                           "x": uxy[:, 0], "y": uxy[:, 1]})
    active = fac[fac["status"] == "active"]
    costs = straight_line_costs(uxy, active.geometry.get_coordinates().to_numpy(),
                                speed_kmh=30.0, detour_factor=1.4, cutoff_min=25.0,
                                origin_ids=demand["unit_id"].to_numpy(),
                                dest_ids=active["facility_id"].to_numpy())
    communes = gpd.GeoDataFrame({"commune_code": ["A", "B", "C"],
                                 "commune_name": ["A", "B", "C"]},
                                geometry=[shapely.box(0, 0, 13_000, 90_000),
                                          shapely.box(13_000, 0, 26_000, 90_000),
                                          shapely.box(26_000, 0, 90_000, 90_000)], crs=32648)
    F = straight_minutes(df[["x", "y"]].to_numpy(), df[["x", "y"]].to_numpy(), **NET)
    U = straight_minutes(uxy, df[["x", "y"]].to_numpy(), speed_kmh=30.0, detour_factor=1.4)
    return {"fac": fac, "df": df, "demand": demand, "costs": costs, "F": F, "U": U,
            "pop": demand["population"].to_numpy(), "communes": communes}


def _brute_chains(net, *, without=(), with_=()):
    """Parents by the rule (station -> nearest regional, regional -> nearest general
    provincial) and every unit's chain, from the dense times: per unit the first contact,
    regional and provincial ids and cumulative minutes."""
    df, F, U = net["df"], net["F"], net["U"]
    live = ((df["status"] == "active") | df["facility_id"].isin(with_)) & \
        ~df["facility_id"].isin(without)
    ids = df["facility_id"].to_numpy()

    def cols(mask):
        return np.flatnonzero(live.to_numpy() & mask)

    stations = cols((df["tier"] == "station").to_numpy())
    regional = cols((df["tier"] == "regional").to_numpy())
    general = cols(((df["tier"] == "provincial") & (df["specialty"] == "general")).to_numpy())
    parent = {}
    for s in stations:
        parent[s] = regional[np.argmin(F[s, regional])]
    for r in regional:
        if len(general):
            parent[r] = general[np.argmin(F[r, general])]
    t0, first = nearest(U, stations, cutoff_min=25.0)
    out = {"first": np.where(first >= 0, ids[np.maximum(first, 0)], ""),
           "t_first": np.where(np.isfinite(t0), t0, np.nan)}
    reg = np.array([parent.get(f, -1) if f >= 0 else -1 for f in first])
    prov = np.array([parent.get(r, -1) if r >= 0 else -1 for r in reg])
    t_reg = np.array([t + F[f, r] if f >= 0 else np.nan for t, f, r in zip(t0, first, reg,
                                                                           strict=True)])
    t_prov = np.array([tr + F[r, p] if p >= 0 else np.nan for tr, r, p in zip(t_reg, reg, prov,
                                                                             strict=True)])
    out.update(regional=np.where(reg >= 0, ids[np.maximum(reg, 0)], ""), t_regional=t_reg,
               provincial=np.where(prov >= 0, ids[np.maximum(prov, 0)], ""),
               t_provincial=t_prov, parent={ids[c]: ids[p] for c, p in parent.items()})
    out["t_chain"] = np.where(np.isnan(t_prov), t_reg, t_prov)
    return out


def _check_referral_edges_and_chains(synthetic_network):
    net = synthetic_network
    res, pop = net["res"], net["pop"]
    b = _brute_chains(net)
    edges = res.layers["referral_edges"]
    assert dict(zip(edges["from_id"], edges["to_id"], strict=True)) == b["parent"]
    F, pos = net["F"], {f: i for i, f in enumerate(net["df"]["facility_id"])}
    assert edges["time_min"].to_numpy() == pytest.approx(
        [F[pos[u], pos[v]] for u, v in zip(edges["from_id"], edges["to_id"], strict=True)])
    ch = res.chains
    assert ch["first_contact_id"].tolist() == b["first"].tolist()
    assert ch["regional_id"].tolist() == b["regional"].tolist()
    assert ch["provincial_id"].tolist() == b["provincial"].tolist()
    for col, want in (("first_contact_time_min", b["t_first"]),
                      ("regional_chain_time_min", b["t_regional"]),
                      ("provincial_chain_time_min", b["t_provincial"]),
                      ("chain_time_min", b["t_chain"])):
        assert np.allclose(ch[col], want, rtol=1e-12, equal_nan=True), col
    s = res.summary["chains"]
    for level, t in (("station", b["t_first"]), ("regional", b["t_regional"]),
                     ("provincial", b["t_provincial"]), ("chain", b["t_chain"])):
        ok = ~np.isnan(t)
        rec = s[level]
        assert rec["mean_time_min"] == pytest.approx((pop[ok] * t[ok]).sum() / pop[ok].sum())
        # chain times are sums in another order: equal to the last bits
        some = ok & (pop > 0)
        assert rec["median_time_min"] == pytest.approx(lower_quantile(t[some], pop[some], 0.5),
                                                       rel=1e-12)
        assert rec["p90_time_min"] == pytest.approx(lower_quantile(t[some], pop[some], 0.9),
                                                    rel=1e-12)
        assert rec["max_time_min"] == pytest.approx(t[some].max(), rel=1e-12)
        assert rec["population_reached"] == pytest.approx(pop[ok].sum())
        assert rec["population_without"] == pytest.approx(pop[~ok].sum())
        for thr in NET_THRESHOLDS.get(level, []):
            assert rec["beyond"][f"{thr:g}"] == pytest.approx(pop[~(t <= thr)].sum())
    assert s["station"]["population_without"] > 0


def _check_hubs_and_catchments(synthetic_network):
    net = synthetic_network
    res, pop, df = net["res"], net["pop"], net["df"]
    b = _brute_chains(net)
    hubs = res.hubs.set_index("facility_id")
    tree = nx.Graph(list(b["parent"].items()))
    tree.add_nodes_from(df.loc[df["status"] == "active", "facility_id"])
    between = nx.betweenness_centrality(tree, normalized=True)
    for h, r in hubs.iterrows():
        load = pop[(b["regional"] == h) | (b["provincial"] == h)].sum()
        assert r["load"] == pytest.approx(load)
        children = [c for c, p in b["parent"].items() if p == h]
        behind = set(children) | {c for c, p in b["parent"].items() if p in children}
        assert r["stations"] == sum(x.startswith("S") for x in behind)
        assert r["direct_referrals"] == len(children)
        beds = df.set_index("facility_id").loc[h, "beds"]
        if np.isfinite(beds) and load > 0:
            assert r["beds_per_10k"] == pytest.approx(beds / load * 1e4)
            assert r["beds_needed"] == pytest.approx(max(0.0, 45.0 * load / 1e4 - beds))
            assert str(r["meets_beds_target"]) == str(bool(beds / load * 1e4 >= 45.0))
        else:
            assert np.isnan(r["beds_per_10k"]) and r["meets_beds_target"] is None
        assert r["betweenness"] == pytest.approx(between[h])
    per = {r["facility_id"]: r for r in res.summary["stations_per_regional"]}
    assert sorted(per) == ["R0", "R1", "R2"]
    for r, rec in per.items():
        assert rec["stations"] == sum(p == r for c, p in b["parent"].items() if c.startswith("S"))
        assert rec["population"] == pytest.approx(pop[b["regional"] == r].sum())


def _check_commune_chains(synthetic_network):
    """Per commune: the station serving most of its people and that station's chain; the mean
    times over the people who reach each level (NaN-free denominators); people beyond."""
    net = synthetic_network
    res, pop, codes = net["res"], net["pop"], net["demand"]["commune_code"].to_numpy()
    b = _brute_chains(net)
    layer = res.layers["referral_chains"].set_index("commune_code")
    assert sorted(layer.index) == ["A", "B", "C"]
    for code, r in layer.iterrows():
        here = codes == code
        people = sums_by(b["first"][here & (b["first"] != "")],
                         pop[here & (b["first"] != "")])
        top = min(people, key=lambda s: (-people[s], s))
        assert r["station_id"] == top
        assert r["regional_id"] == b["parent"][top]
        assert r["path"] == " -> ".join([top, b["parent"][top], b["parent"][b["parent"][top]]])
        assert r["population"] == pytest.approx(pop[here].sum())
        for col, t in (("mean_first_contact_time_min", b["t_first"]),
                       ("mean_regional_chain_time_min", b["t_regional"]),
                       ("mean_chain_time_min", b["t_chain"])):
            ok = here & ~np.isnan(t)
            assert r[col] == pytest.approx((pop[ok] * t[ok]).sum() / pop[ok].sum()), col
        for level, t in (("station", b["t_first"]), ("regional", b["t_regional"]),
                         ("provincial", b["t_provincial"])):
            for thr in NET_THRESHOLDS[level]:
                assert r[f"beyond_{level}_{thr:g}min"] == pytest.approx(
                    pop[here & ~(t <= thr)].sum())
    assert (layer["beyond_station_30min"] > 0).any()


def _brute_loss(net, fid, status):
    pop = net["pop"]
    if status == "active":
        before, after = _brute_chains(net), _brute_chains(net, without=[fid])
    else:
        before, after = _brute_chains(net, with_=[fid]), _brute_chains(net)
    rec = {}
    changed = np.zeros(len(pop), bool)
    for k in ("first", "regional", "provincial"):
        changed |= before[k] != after[k]
    moved_any = np.zeros(len(pop), bool)
    for level, key, thr in (("station", "t_first", 20.0), ("regional", "t_regional", 45.0),
                            ("provincial", "t_provincial", 90.0)):
        moved = (before[key] <= thr) & ~(after[key] <= thr)
        moved_any |= moved
        rec[f"moved_beyond_{level}_{thr:g}min"] = pop[moved].sum()
    rec["population_moved_beyond"] = pop[moved_any].sum()
    rec["population_rerouted"] = pop[changed].sum()
    tier = net["df"].set_index("facility_id").loc[fid, "tier"]
    tb, ta = before[f"t_{tier}"], after[f"t_{tier}"]
    both = ~np.isnan(tb) & ~np.isnan(ta)
    rec["added_person_min"] = (pop[both] * (ta[both] - tb[both])).sum()
    rer = both & changed
    rec["mean_added_min"] = ((pop[rer] * (ta[rer] - tb[rer])).sum() / pop[rer].sum()
                             if pop[rer].sum() > 0 else 0.0)
    rec["level"] = tier
    rec["population_losing_level"] = pop[~np.isnan(tb) & np.isnan(ta)].sum()
    stations = [s for s in before["parent"] if s.startswith("S")]
    rec["stations_reassigned"] = sum(
        before["parent"].get(s) != after["parent"].get(s)
        or before["parent"].get(before["parent"].get(s), "")
        != after["parent"].get(after["parent"].get(s), "") for s in stations)
    return rec


def _check_loss_impact(synthetic_network):
    """For every hospital: the network rebuilt without it (with it, for the ended one) by the
    rule, and people's chains compared at the middle threshold of each level."""
    net = synthetic_network
    loss = net["res"].loss
    df = net["df"].set_index("facility_id")
    assert sorted(loss["facility_id"]) == ["P", "PE", "R0", "R1", "R2", "RX"]
    want = {}
    for fid in loss["facility_id"]:
        want[fid] = _brute_loss(net, fid, df.loc[fid, "status"])
        got = loss.set_index("facility_id").loc[fid]
        for k, v in want[fid].items():
            assert got[k] == pytest.approx(v), (fid, k)
    order = sorted(want, key=lambda f: (-want[f]["population_moved_beyond"],
                                        -want[f]["added_person_min"], f))
    assert loss["facility_id"].tolist() == order
    assert loss["rank"].tolist() == list(range(1, 7))
    assert list(loss.columns) == [
        "rank", "facility_id", "name", "tier", "status", "scenario", "note",
        "stations_reassigned", "population_rerouted", "moved_beyond_station_20min",
        "moved_beyond_regional_45min", "moved_beyond_provincial_90min",
        "population_moved_beyond", "added_person_min", "mean_added_min",
        "population_losing_level", "level"]
    assert (loss["name"] == "Facility " + loss["facility_id"]).all()
    assert (loss["tier"] == loss["facility_id"].map(df["tier"])).all()
    assert (loss["status"] == loss["facility_id"].map(df["status"])).all()
    rx = loss.set_index("facility_id").loc["RX"]
    assert rx["scenario"] == "closure (compared with it active)"
    assert rx["note"] == "same site as R1 (same tier)"
    assert want["PE"]["population_moved_beyond"] == 0
    assert want["P"]["population_losing_level"] > 0


def test_network_after_a_plan_by_brute_force(synthetic_network):
    """A plan: per commune its first station kept as main station, the others branch points,
    S13 closed, a new branch site. After it, branch points refer to their commune's main
    station; people's first contact is the nearest open service point."""
    net = synthetic_network
    df, pop = net["df"], net["pop"]
    st = df[df["tier"] == "station"]
    main_of = st.groupby("commune_code")["facility_id"].min().to_dict()
    action = {f: ("keep" if f == main_of[c] else "branch")
              for f, c in zip(st["facility_id"], st["commune_code"], strict=True)}
    action["S13"] = "close"
    rows = [{"facility_id": f, "action": a, "target_commune_code": c, "role": "", "rule": "",
             "x": np.nan, "y": np.nan}
            for (f, a), c in zip(action.items(), st["commune_code"], strict=True)]
    rows.append({"facility_id": "NEW", "action": "new", "target_commune_code": "C",
                 "role": "branch", "rule": "", "x": 39_000.0, "y": 39_000.0})
    plan = Plan(name="synthetic plan", actions=pd.DataFrame(rows))
    res = N.run_network(net["fac"], net["communes"], demand=net["demand"], costs=net["costs"],
                        cutoff_min=120.0, thresholds_min=NET_THRESHOLDS, beds_per_10k=45.0,
                        plan=plan, demand_travel=straight_model(
                            mode="motorbike", speed_kmh=30.0, detour_factor=1.4), **NET)
    # brute force after the plan
    ids = np.r_[df["facility_id"].to_numpy(), ["NEW"]]
    xy = np.r_[df[["x", "y"]].to_numpy(), [[39_000.0, 39_000.0]]]
    F2 = straight_minutes(xy, xy, **NET)
    U2 = straight_minutes(net["demand"][["x", "y"]].to_numpy(), xy, speed_kmh=30.0,
                          detour_factor=1.4)
    pos = {f: i for i, f in enumerate(ids)}
    regional = [pos[f] for f in ("R0", "R1", "R2")]
    parent = {}
    for f, a in action.items():
        if a == "keep":
            parent[f] = ids[regional[np.argmin(F2[pos[f], regional])]]
        elif a == "branch":
            parent[f] = main_of[st.set_index("facility_id").loc[f, "commune_code"]]
    parent["NEW"] = main_of["C"]
    for r in ("R0", "R1", "R2"):
        parent[r] = "P"
    points = [pos[f] for f, a in action.items() if a != "close"] + [pos["NEW"]]
    t0, first = nearest(U2, sorted(points, key=lambda p: ids[p]), cutoff_min=25.0)
    regional_after, t_reg = [], []
    for t, f in zip(t0, first, strict=True):
        if f < 0:
            regional_after.append("")
            t_reg.append(np.nan)
            continue
        cur, tt = ids[f], t
        while not cur.startswith("R"):
            tt += F2[pos[cur], pos[parent[cur]]]
            cur = parent[cur]
        regional_after.append(cur)
        t_reg.append(tt)
    t_reg = np.array(t_reg)
    after = res.chains_plan
    assert after["regional_id"].tolist() == regional_after
    assert np.allclose(after["regional_chain_time_min"], t_reg, rtol=1e-12, equal_nan=True)
    before = _brute_chains(net)
    cmp_ = res.summary["plan"]
    assert cmp_["population_changing_regional_hospital"] == pytest.approx(
        pop[before["regional"] != np.array(regional_after)].sum())
    assert cmp_["consistency_problems"] == []
    ok = ~np.isnan(t_reg)
    assert cmp_["chains"]["regional"]["mean_time_min"]["after"] == pytest.approx(
        (pop[ok] * t_reg[ok]).sum() / pop[ok].sum())
    for thr in NET_THRESHOLDS["regional"]:
        b = cmp_["chains"]["regional"]["beyond"][f"{thr:g}"]
        assert b["after"] == pytest.approx(pop[~(t_reg <= thr)].sum())
        assert b["change"] == pytest.approx(b["after"] - b["before"])
    per = {r["facility_id"]: r for r in cmp_["per_regional"]}
    for r in ("R0", "R1", "R2"):
        mains = [f for f, p in parent.items() if p == r and action.get(f) == "keep"]
        branches = [f for f, p in parent.items() if p in mains]
        assert per[r]["main_stations_after"] == len(mains)
        assert per[r]["branches_after"] == len(branches)
        assert per[r]["stations_before"] == sum(p == r for c, p in before["parent"].items()
                                                if c.startswith("S"))
        assert per[r]["population_after"] == pytest.approx(
            pop[np.array(regional_after) == r].sum())
        assert per[r]["population_before"] == pytest.approx(pop[before["regional"] == r].sum())


def test_satellite_planning_by_enumeration(synthetic_network):
    """Two new eye satellites (within 20 min, demand travel model): every pair of candidate
    hospitals enumerated; the links run from the nearest core."""
    net = synthetic_network
    df, F, U, pop = net["df"], net["F"], net["U"], net["pop"]
    res = N.run_network(net["fac"], net["communes"], demand=net["demand"], costs=net["costs"],
                        cutoff_min=120.0, thresholds_min=NET_THRESHOLDS, beds_per_10k=45.0,
                        satellite_requests=[N.SatelliteRequest("eye", k=2, within_min=20.0)],
                        **NET)
    pos = {f: i for i, f in enumerate(df["facility_id"])}
    within = U <= 20.0
    before = within[:, pos["PE"]]
    cands = ["P", "R0", "R1", "R2"]
    best = max(itertools.combinations(cands, 2),
               key=lambda c: pop[before | within[:, [pos[x] for x in c]].any(axis=1)].sum())
    best_value = pop[before | within[:, [pos[x] for x in best]].any(axis=1)].sum()
    plan = res.summary["satellite_planning"][0]
    assert plan["covered_before"] == pytest.approx(pop[before].sum())
    assert plan["covered_after"] == pytest.approx(best_value)
    assert plan["exact"] is True and plan["combinations"] == 6
    links = plan["links"]
    assert sorted(x["satellite_id"] for x in links) == sorted(best)
    for x in links:
        assert x["core_id"] == "PE"
        assert x["time_min"] == pytest.approx(F[pos["PE"], pos[x["satellite_id"]]])
        # float32 metres: the time x the transfer speed (40 km/h = 666.7 m/min)
        assert x["dist_m"] == pytest.approx(F[pos["PE"], pos[x["satellite_id"]]] * 40_000 / 60,
                                            rel=1e-6)
        assert x["specialty"] == "eye"
    assert sum(x["gain"] for x in links) == pytest.approx(best_value - pop[before].sum())
    first = links[0]["satellite_id"]
    assert links[0]["gain"] == pytest.approx(pop[~before & within[:, pos[first]]].sum())


def _check_pmedian_and_given_plans(province):
    """The p-median scenario (some communes without a station) and a given plan named like a
    built-in one: their rows, per-commune rows, and the given plan's own layers."""
    res, st = province["res"], province["stations"]
    t_today = _times(province, st["facility_id"])
    pm = "69 best sites ignoring commune borders (p-median)"
    plan = res.plans[pm]
    _check_scenario_figures(province, pm, _times(province, plan.open_ids()), t_today, plan)
    pc = res.layers["plan_communes"]
    per = pc[pc["scenario"] == pm]
    assert (per["service_points"] == 0).sum() == res.summary["notes"][pm][
        "communes_without_station"] > 0
    name = "69 only (given plan)"
    assert name in res.plans and res.plans[name].note == "a given plan"
    given = res.plans[name]
    t = _times(province, given.open_ids())
    _check_scenario_figures(province, name, t, t_today, given)
    pop, ids = province["pop"], province["demand"]["unit_id"].to_numpy()
    lose = (t_today <= 30) & ~(t <= 30)
    layer = res.layers["losing_access_given"]
    assert (layer["scenario"] == name).all()
    assert sorted(layer["unit_id"]) == sorted(ids[lose])
    assert layer["population"].sum() == pytest.approx(pop[lose].sum())
    assert layer.crs == province["demand"].crs and layer.geometry.name == "geometry"
    stations = res.layers["plan_stations_given"]
    assert (stations["scenario"] == name).all()
    assert stations["plan_role"].value_counts().to_dict() == {"main station": 69,
                                                              "branch point": 20, "closed": 120}
    # the built-in "69 only" keeps its name and its own layer
    assert res.summary["losing_access"]["scenario"] == "69 only"
    for layer_name, roles in (("plan_stations", {"main station": 69, "closed": 140}),
                              ("plan_stations_branches", {"main station": 69,
                                                          "branch point": 140})):
        assert res.layers[layer_name]["plan_role"].value_counts().to_dict() == roles
    pd.testing.assert_frame_equal(res.table, pd.DataFrame(res.summary["scenarios"]),
                                  check_dtype=False)
    assert [e.scenario for e in res.evaluations] == list(res.table["scenario"])


def _check_notes_and_generated_plans(province):
    """The notes of the generated scenarios in the summary, and the plans themselves: the
    best-main plan's actions, the set cover's branch points, the p-median's stations, each
    checked against its definition."""
    res, st, D, pop = (province[k] for k in ("res", "stations", "D", "pop"))
    notes = res.summary["notes"]
    best = "69 with best main stations"
    assert notes[best] == {"rule": "per commune, the former station minimising the "
                                   "population-weighted travel time of its people",
                           "exact": True, "gap": 0.0}
    assert _scenario(province, best)["gap"] == 0.0
    a = res.plans[best].actions.set_index("facility_id")
    mains = set(res.plans[best].main_ids())
    assert (a.loc[list(mains), "action"] == "keep").all()
    assert (a.drop(index=list(mains))["action"] == "close").all()
    assert sorted(a.index) == sorted(st["facility_id"])
    cover = "69 + fewest branch points for T = 30 min"
    only_mains = set(res.plans["69 only"].main_ids())
    c = res.plans[cover].actions.set_index("facility_id")
    branches = sorted(c.index[c["action"] == "branch"])
    assert set(c.index[c["action"] == "keep"]) == only_mains
    assert set(c.index[c["action"] == "close"]) == set(c.index) - only_mains - set(branches)
    coverable = (D <= 30).any(axis=1) & (pop > 0)
    assert notes[cover] == {"branch_points": len(branches), "gap": 0.0, "status": "optimal",
                            "uncoverable_population": pytest.approx(pop[~coverable].sum())}
    assert _scenario(province, cover)["branch_points"] == len(branches) > 0
    assert res.plans[cover].note == "set cover with the main stations open"
    pm = "69 best sites ignoring commune borders (p-median)"
    free = res.plans[pm].actions
    assert (free["action"].isin(["keep", "close"])).all() and (free["action"] == "keep").sum() == 69
    assert (free["rule"] == "p-median").all() and free["x"].isna().all() and free["y"].isna().all()
    open_communes = set(st.loc[st["facility_id"].isin(free.loc[free["action"] == "keep",
                                                               "facility_id"]), "commune_code"])
    assert notes[pm]["communes_without_station"] == len(set(st["commune_code"]) - open_communes)
    assert notes[pm]["gap"] <= 1e-4 and notes[pm]["status"] == "optimal"
    assert res.plans[pm].note.startswith("unconstrained p-median: a benchmark, not a valid plan")
    # the p-median's objective is the smallest summed travel time among the plans here
    def weighted(ids):
        return (pop * _times(province, ids)).sum()
    assert weighted(free.loc[free["action"] == "keep", "facility_id"]) <= min(
        weighted(res.plans[n].main_ids()) for n in ("69 only", best)) + 1e-6
    assert res.summary["main_station_rule"] == P.MAIN_RULE_TEXT
    counts = res.summary["main_station_rule_counts"]
    assert sum(counts.values()) == 69
    # the fewest branch points named with their communes
    fb = res.summary["fewest_branch_points"]
    where = st.set_index("facility_id")
    names = province["lay"].communes.set_index("commune_code")["commune_name"]
    assert [x["facility_id"] for x in fb["stations"]] == branches
    for x in fb["stations"]:
        code = where.loc[x["facility_id"], "commune_code"]
        assert (x["name"], x["commune_code"], x["commune_name"]) == (
            where.loc[x["facility_id"], "name"], code, names[code])
    # kinds and slugs of the scenarios; the official plans named; per-commune rows start
    # with their scenario; each plan's losing units; the given plans' layer indexed afresh
    given = "69 only (given plan)"
    kinds = {best: "best_main", cover: "fewest_branches", pm: "p_median", given: "user",
             "209 today": "today", "69 + branch points": "official",
             "69 only": "official_only"}
    rows = {r["scenario"]: r for r in res.summary["scenarios"]}
    assert {n: r["scenario_kind"] for n, r in rows.items()} == kinds
    assert {n: r["slug"] for n, r in rows.items()} == {
        **kinds, given: "user_69_only_given_plan"}
    assert res.summary["official"] == {"scenario": "69 + branch points",
                                       "official_only": "69 only", "main_stations": 69,
                                       "stations_today": 209}
    assert list(res.layers["plan_communes"].columns)[:2] == ["scenario", "commune_code"]
    for item in res.summary["plans"]:
        assert item["losing_units"] == len(res.layers[item["layers"]["losing_access"]])
    assert list(res.layers["plan_stations_given"].index) == list(
        range(len(res.layers["plan_stations_given"])))


# --- one test per instance: under mutmut each test builds its instance again (see
# --- tests/conftest.py::mutation_scope), so the checks of one instance share one test

def test_plans_of_the_registry_province(province):
    """Every figure of run_plans on the registry's Ha Tinh, derived again (see the checks)."""
    _check_today_and_the_official_plans(province)
    _check_losing_access_recounted_from_the_cells(province)
    _check_best_main_stations_by_enumeration(province)
    _check_fewest_branch_points_and_curve_against_spopt(province)
    _check_notes_and_generated_plans(province)
    _check_pmedian_and_given_plans(province)


def test_plans_default_coverage_curve():
    """Without ``curve_ks`` the branch-points curve is taken at 0, 5, 10, 20, 40, 70 and every
    former station (140 here); the losing-access threshold is ``cover_min`` when it is one of
    the thresholds, else the middle one."""
    reg = load_registry("42")
    lay = L.build_layers(reg, crs=L.working_crs(reg), population_total=1_623_061)
    demand = population_surface(lay.communes, cell_size_m=8000.0)
    fac = lay.facilities[lay.facilities["status"] == "active"].reset_index(drop=True)
    costs = straight_line_costs(demand[["x", "y"]].to_numpy(),
                                fac.geometry.get_coordinates().to_numpy(), speed_kmh=SPEED,
                                detour_factor=DETOUR, cutoff_min=CUTOFF,
                                origin_ids=demand["unit_id"].to_numpy(),
                                dest_ids=fac["facility_id"].to_numpy())
    res = P.run_plans(lay.facilities, lay.communes, reg, demand=demand, costs=costs,
                      thresholds_min=(10.0, 20.0, 45.0), doctors_per_station=4, cover_min=30.0)
    assert [p["branch_points"] for p in res.summary["coverage_curve"]["points"]] == [
        0, 5, 10, 20, 40, 70, 140]
    assert res.summary["losing_access"]["threshold_min"] == 20.0


def test_run_plans_given_plans_new_sites_and_limits(monkeypatch):
    """Two given plans whose names make the same slug get distinct ones; a plan with a new
    main station (the table holds its pairs) is scored with it, by brute force; the location
    models get the documented time limits (60 s, the p-median 120 s) when none is given."""
    from gis.analyses import siting
    from gis.model.travel import extend_costs

    reg = load_registry("42")
    lay = L.build_layers(reg, crs=L.working_crs(reg), population_total=1_623_061)
    demand = population_surface(lay.communes, cell_size_m=8000.0)
    fac = lay.facilities[lay.facilities["status"] == "active"].reset_index(drop=True)
    xy = demand[["x", "y"]].to_numpy()
    costs = straight_line_costs(xy, fac.geometry.get_coordinates().to_numpy(), speed_kmh=SPEED,
                                detour_factor=DETOUR, cutoff_min=CUTOFF,
                                origin_ids=demand["unit_id"].to_numpy(),
                                dest_ids=fac["facility_id"].to_numpy())
    only = P.official_plan(lay.facilities, lay.communes, reg, branches=False)
    a = only.actions.copy()
    code = a["target_commune_code"].iloc[0]
    old_main = a.loc[(a["target_commune_code"] == code) & (a["action"] == "keep"),
                     "facility_id"].item()
    a.loc[a["facility_id"] == old_main, "action"] = "close"
    site = demand.loc[demand["commune_code"] == code, ["x", "y"]].iloc[0]
    a = pd.concat([a, pd.DataFrame([{"facility_id": "NEW-1", "action": "new",
                                     "target_commune_code": code, "role": "main", "rule": "",
                                     "x": site["x"], "y": site["y"]}])], ignore_index=True)
    moved = Plan(name="Plan A", actions=a)
    twin = Plan(name="plan-a", actions=only.actions)
    sites = gpd.GeoDataFrame({"facility_id": ["NEW-1"]},
                             geometry=shapely.points([[site["x"], site["y"]]]), crs=fac.crs)
    extended = extend_costs(costs, demand, sites, speed_kmh=SPEED, detour_factor=DETOUR)
    limits = {}

    def spy(name):
        original = getattr(siting, name)

        def call(*args, **kw):
            limits[name] = kw.get("time_limit_s")
            return original(*args, **kw)
        return call

    for name in ("set_cover", "p_median", "coverage_curve"):
        monkeypatch.setattr(siting, name, spy(name))
    res = P.run_plans(lay.facilities, lay.communes, reg, demand=demand, costs=extended,
                      thresholds_min=THRESHOLDS, doctors_per_station=4, cover_min=30.0,
                      curve_ks=(0, 1), extra_plans=[moved, twin])
    assert limits == {"set_cover": 60.0, "p_median": 120.0, "coverage_curve": 60.0}
    rows = {r["scenario"]: r for r in res.summary["scenarios"]}
    assert (rows["Plan A"]["slug"], rows["plan-a"]["slug"]) == ("user_plan_a", "user_plan_a_2")
    given = res.layers["plan_stations_given"]
    assert list(given.index) == list(range(len(given)))
    assert given["scenario"].value_counts().to_dict() == {"Plan A": 209 + 1, "plan-a": 209}
    opened = fac[fac["facility_id"].isin(moved.open_ids())]
    pts = np.vstack([opened.geometry.get_coordinates().to_numpy(), [[site["x"], site["y"]]]])
    t, _ = nearest(straight_minutes(xy, pts, speed_kmh=SPEED, detour_factor=DETOUR),
                   np.arange(len(pts)), cutoff_min=CUTOFF)
    pop = demand["population"].to_numpy()
    for thr in THRESHOLDS:
        assert rows["Plan A"][f"covered_{thr:g}min"] == pytest.approx(pop[t <= thr].sum())
    reach = np.isfinite(t)
    assert rows["Plan A"]["mean_time_min"] == pytest.approx(
        (pop[reach] * t[reach]).sum() / pop[reach].sum())
    assert rows["Plan A"]["main_stations"] == 69


def test_access_of_a_synthetic_province(synthetic_access):
    """Every figure of run_access on the synthetic province, derived again."""
    _check_access_times_and_coverage(synthetic_access)
    _check_access_per_commune(synthetic_access)
    _check_floating_catchments(synthetic_access)
    _check_underserved_areas(synthetic_access)


def test_network_of_a_synthetic_province(synthetic_network):
    """Every figure of run_network on the synthetic province, derived again."""
    net = {**synthetic_network, "res": N.run_network(
        synthetic_network["fac"], synthetic_network["communes"],
        demand=synthetic_network["demand"], costs=synthetic_network["costs"], cutoff_min=120.0,
        thresholds_min=NET_THRESHOLDS, beds_per_10k=45.0, **NET)}
    _check_referral_edges_and_chains(net)
    _check_hubs_and_catchments(net)
    _check_commune_chains(net)
    _check_loss_impact(net)



def test_loss_of_first_contact_points_and_same_site_notes(synthetic_network):
    """Losing a station (its people go to the next nearest one) and a branch point (its
    people's station may stay the same: they still count as rerouted); the note names another
    facility of the same tier on the same site, a provincial general hospital only for a
    general one; an unknown candidate is refused."""
    net = synthetic_network
    df, pop = net["df"], net["pop"]
    rows = df.copy()
    extra = pd.DataFrame([
        ("B9", "branch", "primary care", "A", np.nan, "active", rows.loc[0, "x"] + 300.0,
         rows.loc[0, "y"]),
        ("PG", "provincial", "general", "A", np.nan, "active", *rows.loc[18, ["x", "y"]]),
        ("PX", "provincial", "eye", "A", np.nan, "active", *rows.loc[18, ["x", "y"]])],
        columns=rows.columns)
    rows = pd.concat([rows, extra], ignore_index=True)
    fac = gpd.GeoDataFrame({**{c: rows[c] for c in rows.columns[:6]},
                            "name": "Facility " + rows["facility_id"],
                            "legacy_commune_code": "", "doctors": np.nan, "nurses": np.nan},
                           geometry=shapely.points(rows[["x", "y"]].to_numpy()), crs=32648)
    active = fac[fac["status"] == "active"]
    costs = straight_line_costs(net["demand"][["x", "y"]].to_numpy(),
                                active.geometry.get_coordinates().to_numpy(), speed_kmh=30.0,
                                detour_factor=1.4, cutoff_min=25.0,
                                dest_ids=active["facility_id"].to_numpy())
    fc = N.facility_costs(fac, **NET)
    loss = N.loss_impact(fac, facility_costs=fc, cutoff_min=120.0, demand=net["demand"],
                         costs=costs, thresholds_min=NET_THRESHOLDS,
                         candidates=["S00", "B9", "P", "PX"]).set_index("facility_id")
    # B9, 300 m from S00: without it, its people go to their next nearest point
    chains = N.referral_chains(N.build_graph(fac, facility_costs=fc, cutoff_min=120.0),
                               demand=net["demand"], costs=costs)
    at_b9 = (chains["first_contact_id"] == "B9").to_numpy()
    assert at_b9.any()
    assert loss.loc["B9", "population_rerouted"] == pytest.approx(pop[at_b9].sum())
    assert loss.loc["B9", "population_moved_beyond"] == 0 and loss.loc["B9", "level"] == "station"
    at_s00 = (chains["station_id"] == "S00").to_numpy()
    assert loss.loc["S00", "population_rerouted"] >= pop[at_s00].sum() > 0
    assert loss.loc["S00", "level"] == "station"
    assert loss.loc["P", "note"] == "same site as PG (same tier)"
    assert loss.loc["PX", "note"] == ""
    assert loss.loc["P", "population_losing_level"] == 0  # PG takes over
    with pytest.raises(GisError, match="loss impact: unknown facility NOPE"):
        N.loss_impact(fac, facility_costs=fc, cutoff_min=120.0, demand=net["demand"],
                      costs=costs, thresholds_min=NET_THRESHOLDS, candidates=["NOPE"])


def test_loss_impact_follows_the_referral_table(synthetic_network):
    """With a referral table sending every station to R2, losing R0 moves nobody."""
    net = synthetic_network
    fac = net["fac"]
    stations = fac.loc[fac["tier"] == "station", "facility_id"]
    table_ = pd.DataFrame({"from_id": stations, "to_id": "R2"})
    fc = N.facility_costs(fac, **NET)
    loss = N.loss_impact(fac, facility_costs=fc, cutoff_min=200.0, demand=net["demand"],
                         costs=net["costs"], thresholds_min=NET_THRESHOLDS,
                         candidates=["R0", "R2"], referrals=table_).set_index("facility_id")
    assert loss.loc["R0", "population_rerouted"] == 0
    assert loss.loc["R0", "stations_reassigned"] == 0
    assert loss.loc["R2", "stations_reassigned"] == len(stations)


# --- access: the road model, the defaults, the summary's texts and the edge cases -----------

def _roads_grid(width: float = 15_000.0, step: float = 1_000.0):
    """Roads every ``step`` metres across the synthetic province, meeting at shared vertices."""
    n = int(width / step)
    lines = [shapely.segmentize(shapely.LineString([(0, k * step), (width, k * step)]), step)
             for k in range(n + 1)]
    lines += [shapely.segmentize(shapely.LineString([(k * step, 0), (k * step, width)]), step)
              for k in range(n + 1)]
    return gpd.GeoDataFrame({"road_class": ["primary"] * (n + 1) + ["track"] * (n + 1),
                             "oneway": False}, geometry=lines, crs=32648)


def _small_province():
    rng = np.random.default_rng(12)
    communes = gpd.GeoDataFrame(
        {"commune_code": ["A", "B"], "commune_name": ["A", "B"], "population": [4000.0, 6000.0]},
        geometry=[shapely.box(0, 0, 7000, 15_000), shapely.box(7000, 0, 15_000, 15_000)],
        crs=32648)
    fac = gpd.GeoDataFrame({
        "facility_id": ["S1", "S2", "S3", "R1", "P1"], "name": ["s1", "s2", "s3", "r1", "p1"],
        "tier": ["station", "station", "station", "regional", "provincial"],
        "doctors": [2.0, 3.0, 1.0, 20.0, 50.0], "beds": [np.nan] * 3 + [100.0, 300.0],
        "status": "active"}, geometry=shapely.points(rng.uniform(500, 14_500, (5, 2))),
        crs=32648)
    return communes, fac


def test_access_by_road_equals_the_road_model_table():
    """With roads: one table of every pair (road model) serves nearest times and catchments;
    the figures equal those computed on gis.model.roads.road_costs' own table."""
    from gis.model.roads import road_costs
    from gis.model.travel import road_model

    communes, fac = _small_province()
    speeds = {"primary": 40.0, "track": 15.0, "default": 25.0}
    travel = road_model(_roads_grid(), mode="motorbike", speed_kmh=30.0, detour_factor=1.4,
                        class_speeds_kmh=speeds, offroad_speed_kmh=5.0)
    res = A.run_access(communes, fac, cell_size_m=1500.0, cutoff_min=60.0, catchment_min=30.0,
                       travel=travel, decay="none")
    d = res.demand
    table_, report = road_costs(d[["x", "y"]].to_numpy(),
                                fac.geometry.get_coordinates().to_numpy(), _roads_grid(),
                                class_speeds_kmh=speeds, offroad_speed_kmh=5.0,
                                cutoff_min=60.0, origin_ids=d["unit_id"].to_numpy(),
                                dest_ids=fac["facility_id"].to_numpy(),
                                origin_population=d["population"].to_numpy())
    assert res.costs.to_frame().equals(table_.to_frame())
    ref = A.nearest_by_tier(table_, fac["tier"].to_numpy())
    pd.testing.assert_frame_equal(d[list(ref.columns)].reset_index(drop=True), ref)
    pop = d["population"].to_numpy()
    beds = A.fca(table_, pop, np.where(fac["tier"] == "station", 0.0, fac["beds"].fillna(0)),
                 catchment_min=30.0, decay="none")
    assert np.allclose(d["e2sfca_beds_per_10k"], beds, rtol=1e-12)
    s = res.summary
    far = report.unsnapped_origins
    rep = {**report.as_dict(), "unreached_origins": len(far),
           "unreached_population": float(pop[far].sum()),
           "unreached_why": "more than 2000 m from a road open to motorbike"}
    assert s["travel_model"] == {
        **travel.describe(), "cutoff_min": 60.0, **rep,
        "cells_without_time": {"cells": len(far), "population": float(pop[far].sum()),
                               "why": rep["unreached_why"]}}
    assert s["travel_model"]["kind"] == "roads" and s["travel_model"]["is_estimate"] is False
    assert s["cost_tables"] == {"all_pairs": {"pairs": len(table_), "cutoff_min": 60.0}}
    assert res.road_report == rep


def test_access_defaults_and_summary_texts():
    """run_access's defaults (straight line x 1.4 at 30 km/h, cut-off 180 min, thresholds
    15/30/60, 30/60/90 and 60/120, under-served at 30 and 60 min, gaussian E2SFCA over
    60 min); the summary's model, catchment and indicator texts; the repr."""
    communes, fac = _small_province()
    fac["beds"] = [np.nan] * 3 + [1.0, 2.0]   # far below 45 per 10,000 everywhere
    res = A.run_access(communes, fac, cell_size_m=1500.0)
    assert "costs built on first use" in repr(res)
    s = res.summary
    assert s["travel_model"] == {"model": "straight line x detour factor / speed",
                                 "kind": "straight", "mode": "",
                                 "label": "straight line x 1.4 at 30 km/h: an estimate",
                                 "speed_kmh": 30.0, "detour_factor": 1.4, "cutoff_min": 180.0,
                                 "is_estimate": True}
    assert {t: sorted(v, key=float) for t, v in s["coverage"].items()} == {
        "station": ["15", "30", "60"], "regional": ["30", "60", "90"],
        "provincial": ["60", "120"]}
    assert s["underserved"]["rules_min"] == {"station": 30.0, "regional": 60.0}
    assert s["fca"]["catchment_min"] == 60.0 and s["fca"]["decay"] == "gaussian"
    assert s["fca"]["doctors"] == {"knowledge": "doctors known for all 5 facilities",
                                   "lower_bound": False, "known": 5, "total": 5}
    assert s["cost_tables"]["catchment"] == {
        "pairs": len(straight_line_costs(
            res.demand[["x", "y"]].to_numpy(), fac.geometry.get_coordinates().to_numpy(),
            speed_kmh=30.0, detour_factor=1.4, cutoff_min=60.0)),
        "cutoff_min": 60.0, "facilities": 5}
    full = res.costs
    assert "costs built," in repr(res)
    assert list(full.origin_ids) == list(res.demand["unit_id"])
    assert list(full.dest_ids) == list(fac["facility_id"])
    ind = {i["name"]: i for i in s["indicators"]}
    doc = ind["doctors per 10,000 people"]
    assert doc["unit"] == "doctors / 10,000" and doc["note"] == "doctors known for all 5 facilities"
    assert doc["gap_unit"] == "doctors" and doc["value"] == pytest.approx(76 / 10_000 * 1e4)
    beds = ind["beds per 10,000 people"]
    assert beds["unit"] == "beds / 10,000" and beds["gap_unit"] == "beds"
    st = ind["doctors per commune station"]
    assert st == {"name": "doctors per commune station", "target": 4.0,
                  "unit": "doctors / station", "higher_is_better": True, "is_estimate": False,
                  "note": "station doctors known for all 3 facilities", "needed": 12.0,
                  "value": 2.0, "lower_bound": False, "gap": 6.0, "gap_unit": "doctors"}
    # under-served: the beds and doctors reasons are added when the supply is fully known
    reasons = "; ".join(res.layers["underserved"]["reasons"])
    assert "below the target of 45 (E2SFCA)" in reasons
    for r in s["underserved"]["top"]:
        assert set(r) == {"rank", "population", "units", "area_km2", "reasons",
                          "commune_codes", "nearest_id", "nearest_name", "nearest_time_min",
                          "commune_names", "beyond_station", "beyond_regional"}


def test_fca_known_leaves_out_unknown_supply():
    costs = table([[1.0, 2.0], [3.0, np.inf]], cutoff=10.0)
    pop = np.array([100.0, 50.0])
    got, info = A.fca_known(costs, pop, np.array([4.0, np.nan]), catchment_min=10.0)
    assert np.allclose(got, A.fca(costs, pop, np.array([4.0, 0.0]), catchment_min=10.0))
    assert (info.known, info.total, info.complete) == (1, 2, False)
    assert info.text("beds") == "beds known for 1 of 2 facilities: a lower bound"
    none, info = A.fca_known(costs, pop, np.array([np.nan, np.nan]), catchment_min=10.0)
    assert none is None and info.text("beds") == "beds unknown for all 2 facilities"
    assert A.SupplyKnowledge(0, 0).text("beds") == "no facilities for beds"


def test_fca_in_blocks_and_with_less_than_one_person(monkeypatch):
    """The catchment is summed in blocks of pairs cut at origin boundaries: tiny blocks give
    the same values; a facility whose weighted demand is below one person still counts."""
    rng = np.random.default_rng(3)
    xy = rng.uniform(0, 20_000, (300, 2))
    fxy = rng.uniform(0, 20_000, (12, 2))
    costs = straight_line_costs(xy, fxy, speed_kmh=30, detour_factor=1.4, cutoff_min=30)
    pop = rng.uniform(0, 50, 300)
    supply = rng.integers(1, 9, 12).astype(float)
    whole = A.fca(costs, pop, supply, catchment_min=30.0, decay="step")
    monkeypatch.setattr(A, "_FCA_BLOCK", 37)
    assert np.allclose(A.fca(costs, pop, supply, catchment_min=30.0, decay="step"), whole,
                       rtol=1e-12, atol=0)
    tiny = table([[1.0]], cutoff=5.0)
    assert A.fca(tiny, np.array([0.5]), np.array([2.0]), catchment_min=5.0,
                 per=1.0).tolist() == [4.0]


def test_underserved_edge_cases():
    """Nothing failing: an empty layer with the documented columns; a unit whose point lies
    off its geometry joins the nearest area; an area wrapped around another keeps its own
    units (bounding boxes overlap)."""
    cols = ["rank", "population", "units", "area_km2", "reasons", "commune_codes", "nearest_id",
            "nearest_name", "nearest_time_min", "commune_names"]
    grid = [(i, j) for i in range(5) for j in range(5)]
    geoms = [shapely.box(i * 1000, j * 1000, (i + 1) * 1000, (j + 1) * 1000) for i, j in grid]
    ring = np.array([i in (0, 4) or j in (0, 4) for i, j in grid])
    centre = np.array([(i, j) == (2, 2) for i, j in grid])
    demand = gpd.GeoDataFrame({"unit_id": range(25), "population": np.arange(1.0, 26.0),
                               "commune_code": "C", "x": [i * 1000 + 500.0 for i, _ in grid],
                               "y": [j * 1000 + 500.0 for _, j in grid]},
                              geometry=geoms, crs=32648)
    ok = pd.DataFrame({"station_id": ["S"] * 25, "station_time_min": [1.0] * 25})
    for rules in ({"station": 5.0}, {}):
        empty = A.underserved_areas(demand, ok, rules_min=rules)
        beyond = ["beyond_station"] if rules else []
        assert list(empty.columns) == [*cols, *beyond, "geometry"] and len(empty) == 0
        assert empty.geometry.name == "geometry" and empty.crs == demand.crs
    t = np.where(ring | centre, 9.0, 1.0)
    times = pd.DataFrame({"station_id": ["S"] * 25, "station_time_min": t})
    # the centre unit's point is moved 100 m off its cell, still nearest its own cell
    demand.loc[centre, "x"] = 2 * 1000 + 500.0
    demand.loc[centre, "y"] = 3 * 1000 - 100.0 + 200.0
    under = A.underserved_areas(demand, times, rules_min={"station": 5.0})
    assert sorted(under["units"]) == [1, 16]
    assert under.loc[under["units"] == 1, "population"].item() == demand.loc[centre,
                                                                             "population"].item()
    # the ring and the centre cell, each grown by 1 cm (mitred), in km²
    assert under["area_km2"].sum() == pytest.approx(
        (5000.02**2 - 2999.98**2 + 1000.02**2) / 1e6, rel=1e-9)
    # every failing unit fails the station rule: beyond_station is each area's population;
    # communes named from the mapping (by code where it has none), most people first
    assert under["beyond_station"].tolist() == under["population"].tolist()
    assert set(under["commune_names"]) == {"C"}
    demand.loc[ring & (demand["x"] == 500.0), "commune_code"] = "W"   # 5 units, 1+2+3+4+5
    named = A.underserved_areas(demand, times, rules_min={"station": 5.0},
                                commune_names={"C": "Xã Cê", "W": "Xã Wê"})
    assert named.set_index("units")["commune_names"].to_dict() == {16: "Xã Cê;Xã Wê",
                                                                   1: "Xã Cê"}
    # each tier's reason: stations by name, hospitals as hospitals (central too)
    far = pd.DataFrame({"station_id": ["S"] * 25, "station_time_min": [9.0] * 25,
                        "central_id": ["C"] * 25, "central_time_min": [200.0] * 25})
    why = A.underserved_areas(demand, far, rules_min={"station": 5.0, "central": 120.0})
    assert why["reasons"].tolist() == [
        f"more than 5 min from a station ({demand['population'].sum():,.0f} people); more than "
        f"120 min from a central hospital ({demand['population'].sum():,.0f} people)"]


def test_network_summary_sections(synthetic_network):
    """run_network's summary and layers beyond the figures: the travel model, the rule, the
    referral table, the thresholds and the loss thresholds (the middle one per level), every
    hub column, validation, the satellite links and their specialties, satellite planning
    (the stations' model answers as the full table, for default candidates and for
    candidates that are stations), the proposals, and the layers after the plan."""
    from gis.model.costs import StraightLineModel

    net = synthetic_network
    fac, df = net["fac"].copy(), net["df"]
    fac.loc[fac["facility_id"] == "S03", "specialty"] = "eye"   # a station offering eye care
    active = fac[fac["status"] == "active"]
    model = StraightLineModel(net["demand"][["x", "y"]].to_numpy(),
                              active.geometry.get_coordinates().to_numpy(), speed_kmh=30.0,
                              detour_factor=1.4, cutoff_min=25.0,
                              origin_ids=net["demand"]["unit_id"].to_numpy(),
                              dest_ids=active["facility_id"].to_numpy())
    st = df[df["tier"] == "station"]
    main_of = st.groupby("commune_code")["facility_id"].min().to_dict()
    plan = Plan(name="mains", actions=pd.DataFrame(
        [{"facility_id": f, "action": "keep" if f == main_of[c] else "branch",
          "target_commune_code": c, "role": "", "rule": "", "x": np.nan, "y": np.nan}
         for f, c in zip(st["facility_id"], st["commune_code"], strict=True)]))
    links = pd.DataFrame({"core_id": ["P", "PE"], "satellite_id": ["R0", "R2"],
                          "specialty": ["cardiology; eye", "eye"]})
    requests = [N.SatelliteRequest("eye", k=1, within_min=20.0),
                N.SatelliteRequest("eye", k=2, within_min=20.0,
                                   candidates=("S00", "S05", "S09"))]
    kw = dict(cutoff_min=120.0, thresholds_min=NET_THRESHOLDS, beds_per_10k=45.0,
              referrals=pd.DataFrame({"from_id": ["S00"], "to_id": ["R1"]}),
              satellite_links=links, satellite_requests=requests, plan=plan,
              demand_travel=straight_model(mode="motorbike", speed_kmh=30.0,
                                           detour_factor=1.4), **NET)
    res = N.run_network(fac, net["communes"], demand=net["demand"], costs=model, **kw)
    full = N.run_network(fac, net["communes"], demand=net["demand"], costs=net["costs"], **kw)
    s = res.summary
    assert s["satellite_planning"] == full.summary["satellite_planning"]
    for p, req in zip(s["satellite_planning"], requests, strict=True):
        assert (p["specialty"], p["k"], p["within_min"]) == ("eye", req.k, 20.0)
        assert p["exact"] is True and len(p["links"]) == req.k
    assert {x["satellite_id"] for x in s["satellite_planning"][1]["links"]} <= {
        "S00", "S05", "S09"}
    prop = res.layers["satellite_proposals"]
    assert list(prop["specialty"]) == ["eye"] * 3 and list(prop["kind"]) == [
        "proposed satellite"] * 3
    assert s["travel_model"] == {"between_facilities": res.facility_costs.mode,
                                 "model": "straight line x detour factor / speed",
                                 "kind": "straight", "mode": "",
                                 "label": "straight line x 1.4 at 40 km/h (): an estimate",
                                 "speed_kmh": 40.0, "detour_factor": 1.4, "cutoff_min": 120.0,
                                 "is_estimate": True}
    assert s["rule"] == (
        "branch point -> main station of its commune; station -> nearest regional hospital "
        "within the cut-off; regional -> provincial general hospital; provincial -> its "
        "central satellite core, else the nearest central hospital (when any); a referral "
        "table overrides the rule")
    assert s["referral_table"] == {"rows": 1}
    assert res.graph.edges["S00", "R1"]["kind"] == "referral"
    assert s["thresholds_min"] == {k: [float(x) for x in v] for k, v in NET_THRESHOLDS.items()}
    assert s["loss_impact"]["judged_at_min"] == {"station": 20.0, "regional": 45.0,
                                                 "provincial": 90.0}
    hub_cols = {"facility_id", "name", "tier", "load", "stations", "branches",
                "direct_referrals", "beds", "beds_per_10k", "beds_target_per_10k",
                "beds_needed", "meets_beds_target", "doctors", "betweenness"}
    assert len(s["hubs"]) == len(res.hubs) and all(set(h) == hub_cols for h in s["hubs"])
    assert [h["facility_id"] for h in s["hubs"]] == list(res.hubs["facility_id"])
    assert s["validation"] == {"problems": [], "warnings": list(res.graph.graph["warnings"])}
    assert s["satellites"] == {"links": 2, "rows": 2, "satellites_per_core": {"P": 1, "PE": 1},
                               "specialties": ["cardiology", "eye"]}
    # after the plan: the referral edges, hubs and chains of the plan's network
    pd.testing.assert_frame_equal(res.layers["referral_edges_plan"],
                                  N.edge_layer(res.graph_plan, "referral"))
    hubs_plan = N.hub_load(res.graph_plan, res.chains_plan, net["pop"], beds_per_10k=45.0)
    assert list(res.layers["hubs_plan"]["facility_id"]) == list(hubs_plan["facility_id"])
    assert res.layers["hubs_plan"]["load"].tolist() == pytest.approx(hubs_plan["load"].tolist())
    assert sorted(res.layers["referral_chains_plan"]["commune_code"]) == ["A", "B", "C"]
    assert s["plan"]["nodes_by_tier"] == {"before": s["nodes"]["by_tier"],
                                          "after": s["plan"]["after"]["nodes"]["by_tier"]}
    assert s["plan"]["consistency_problems"] == []
