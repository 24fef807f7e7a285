"""Plans: validation with rows, the official plan, evaluation on hand-checkable cases."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from gis.analyses import plans as P
from gis.errors import PlanError
from gis.inputs import layers as L
from gis.inputs import readers as R
from gis.inputs.plans import Plan
from gis.inputs.registry import load_registry
from gis.model.costs import nearest_open_time, straight_line_costs

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def reg():
    return load_registry("42")


@pytest.fixture(scope="module")
def lay(reg):
    return L.build_layers(reg, crs=L.working_crs(reg), population_total=1_623_061)


@pytest.fixture(scope="module")
def official(lay, reg):
    return P.official_plan(lay.facilities, lay.communes, reg)


def test_official_plan_has_one_main_station_per_new_commune(official, lay, reg):
    counts = official.counts()
    assert counts == {"keep": 69, "branch": 140, "close": 0, "new": 0}
    a = official.actions
    mains = a[a["action"] == "keep"]
    assert mains["target_commune_code"].is_unique
    assert set(mains["target_commune_code"]) == set(reg.new["commune_code"])
    assert official.note == P.MAIN_RULE_TEXT
    # every main station lies in the commune it serves
    fac = lay.facilities.set_index("facility_id")
    assert (fac.loc[mains["facility_id"], "commune_code"].to_numpy()
            == mains["target_commune_code"].to_numpy()).all()
    only = P.official_plan(lay.facilities, lay.communes, reg, branches=False)
    assert only.counts() == {"keep": 69, "branch": 0, "close": 140, "new": 0}
    assert only.name == "69 only" and official.name == "69 + branch points"


def test_main_station_rule_uses_the_seat(reg, lay):
    communes = lay.communes.copy()
    # Cẩm Bình's seat: "UBND xã Cẩm Bình" -> the station of pre-2025 Cẩm Bình (18685)
    code = reg.legacy.set_index("commune_code").loc["18685", "new_commune_code"]
    communes.loc[communes["commune_code"] == code, "admin_center"] = "UBND xã Cẩm Bình"
    main = P.choose_main_stations(lay.facilities, communes, reg).set_index("commune_code")
    assert main.loc[code, "facility_id"] == "TYT-18685"
    assert main.loc[code, "rule"].startswith(P.RULE_SEAT)
    # Without seats: the nearest to the registry centre, or the only one
    main0 = P.choose_main_stations(lay.facilities, lay.communes, reg)
    assert set(main0["rule"]) <= {P.RULE_NEAREST, P.RULE_SINGLE}


def test_plan_validation_lists_every_problem_with_rows(tmp_path, lay, reg, official):
    df = official.actions[["facility_id", "action", "target_commune_code"]].copy()
    # make a mess: unknown id, unknown action, two mains in one commune, a commune left
    # without a main station, a branch pointing there, a new site without coordinates
    first_main = df.index[df["action"] == "keep"][0]
    code_a = df.loc[first_main, "target_commune_code"]
    second_main = df.index[df["action"] == "keep"][1]
    code_b = df.loc[second_main, "target_commune_code"]
    df.loc[second_main, "target_commune_code"] = code_a      # two mains in code_a; none in code_b
    df.loc[5, "action"] = "demolish"
    df = pd.concat([df, pd.DataFrame([
        {"facility_id": "TYT-99999", "action": "keep", "target_commune_code": code_a},
        {"facility_id": "NEW-1", "action": "new", "target_commune_code": code_a},
    ])], ignore_index=True)
    path = tmp_path / "plan.csv"
    df.to_csv(path, index=False)
    with pytest.raises(PlanError) as err:
        R.read_plan(path, lay.facilities, reg)
    text = str(err.value)
    assert str(path) in text
    assert "field 'action', row 7 (facility_id" in text and "unknown action" in text
    assert "row 211 (facility_id TYT-99999): not a station" in text
    assert ("fields 'lon', 'lat', row 212 (facility_id NEW-1): a new site needs its "
            "coordinates") in text
    assert f"two main stations in commune {code_a}" in text
    assert f"post-2025 communes have no main station: {code_b}" in text
    assert "a branch points to a commune without a main station" in text


def test_plan_toml_with_new_site(tmp_path, lay, reg, official):
    a = official.actions
    lines = ['name = "with a new site"']
    for r in a.itertuples():
        lines += ["[[station]]", f'facility_id = "{r.facility_id}"', f'action = "{r.action}"',
                  f'target_commune_code = "{r.target_commune_code}"']
    code = a["target_commune_code"].iloc[0]
    lines += ["[[station]]", 'facility_id = "NEW-1"', 'action = "new"', 'role = "branch"',
              f'target_commune_code = "{code}"', "lon = 105.70", "lat = 18.30"]
    path = tmp_path / "plan.toml"
    path.write_text("\n".join(lines), encoding="utf-8")
    plan = R.read_plan(path, lay.facilities, reg)
    assert plan.name == "with a new site"
    assert plan.counts()["new"] == 1
    assert "NEW-1" in plan.open_ids() and "NEW-1" not in plan.main_ids()
    new = plan.actions.set_index("facility_id").loc["NEW-1"]
    assert np.isfinite(new["x"]) and np.isfinite(new["y"])
    layer = P.plan_facilities(plan, lay.facilities)
    assert layer.set_index("facility_id").loc["NEW-1", "plan_role"] == "branch point"


def _line_case():
    """Three cells on a line and three stations, 1 km apart; 60 km/h straight: 1 min per km.

    cells at x = 0, 1, 2 km with 100, 200, 300 people; stations A at 0, B at 1, C at 2 km.
    """
    cells = np.array([[0.0, 0.0], [1000.0, 0.0], [2000.0, 0.0]])
    stations = np.array([[0.0, 0.0], [1000.0, 0.0], [2000.0, 0.0]])
    costs = straight_line_costs(cells, stations, speed_kmh=60, detour_factor=1.0, cutoff_min=1.5,
                                dest_ids=np.array(["A", "B", "C"]))
    pop = np.array([100.0, 200.0, 300.0])
    codes = np.array(["X", "X", "Y"])
    return cells, costs, pop, codes


def _plan(actions: dict[str, tuple[str, str]]) -> Plan:
    df = pd.DataFrame([{"facility_id": k, "action": a, "target_commune_code": c, "role": "",
                        "rule": "", "x": np.nan, "y": np.nan} for k, (a, c) in actions.items()])
    return Plan(name="test", actions=df)


def test_evaluate_hand_checked():
    _, costs, pop, codes = _line_case()
    base = P.evaluate(_plan({"A": ("keep", "X"), "B": ("keep", "X"), "C": ("keep", "Y")}),
                      population=pop, commune_codes=codes, costs=costs, thresholds_min=(0.5, 1.0),
                      doctors_per_station=4)
    assert base.province["covered_0.5min"] == 600
    assert base.province["mean_time_min"] == 0
    # Close B: cell 1 is 1 min from A and from C (inclusive threshold): covered at 1 min, not 0.5
    plan = _plan({"A": ("keep", "X"), "B": ("close", "X"), "C": ("keep", "Y")})
    ev = P.evaluate(plan, population=pop, commune_codes=codes, costs=costs,
                    thresholds_min=(0.5, 1.0), doctors_per_station=4,
                    baseline_time_min=base.time_min)
    p = ev.province
    assert p["covered_0.5min"] == 400 and p["covered_1min"] == 600
    assert p["losing_0.5min"] == 200 and p["losing_1min"] == 0
    assert p["mean_time_min"] == pytest.approx(200 * 1.0 / 600)
    assert p["max_time_min"] == pytest.approx(1.0)
    assert p["doctors_needed"] == 8 and p["doctors_shortfall"] is None
    assert p["population_per_main_station"] == 300
    per = ev.communes.set_index("commune_code")
    assert per.loc["X", "losing_0.5min"] == 200 and per.loc["Y", "losing_0.5min"] == 0
    # Close A and B: cell 0 is 2 min from C, beyond the 1.5 min cut-off of the table
    ev2 = P.evaluate(_plan({"A": ("close", "X"), "B": ("close", "X"), "C": ("keep", "Y")}),
                     population=pop, commune_codes=codes, costs=costs, thresholds_min=(1.0,),
                     doctors_per_station=4, baseline_time_min=base.time_min)
    assert ev2.province["population_beyond_cutoff"] == 100
    assert ev2.province["losing_1min"] == 100


def test_doctor_shortfall_only_when_known():
    _, costs, pop, codes = _line_case()
    plan = _plan({"A": ("keep", "X"), "B": ("branch", "X"), "C": ("keep", "Y")})
    ev = P.evaluate(plan, population=pop, commune_codes=codes, costs=costs, thresholds_min=(1.0,),
                    doctors_per_station=4, station_doctors=pd.Series({"A": 3.0, "B": 1.0,
                                                                      "C": 2.0}))
    assert ev.province["doctors_needed"] == 8
    assert ev.province["doctors_shortfall"] == 3   # 8 - (3 + 2); branch doctors not counted
    part = P.evaluate(plan, population=pop, commune_codes=codes, costs=costs,
                      thresholds_min=(1.0,), doctors_per_station=4,
                      station_doctors=pd.Series({"A": 3.0, "B": np.nan, "C": 2.0}))
    assert part.province["doctors_shortfall"] is None


@pytest.mark.parametrize("seed", range(5))
def test_closing_never_shortens_and_adding_never_lengthens(seed):
    rng = np.random.default_rng(seed)
    cells = rng.uniform(0, 20_000, (200, 2))
    sites = rng.uniform(0, 20_000, (15, 2))
    costs = straight_line_costs(cells, sites, speed_kmh=30, detour_factor=1.3, cutoff_min=40)
    open_mask = rng.random(15) < 0.5
    t_before, _ = nearest_open_time(costs, open_mask)
    for j in range(15):
        changed = open_mask.copy()
        changed[j] = not changed[j]
        t_after, _ = nearest_open_time(costs, changed)
        if open_mask[j]:   # closing j
            assert (t_after >= t_before - 1e-12).all()
        else:              # opening j
            assert (t_after <= t_before + 1e-12).all()


def test_nearest_open_time_matches_brute_force():
    rng = np.random.default_rng(7)
    cells = rng.uniform(0, 10_000, (50, 2))
    sites = rng.uniform(0, 10_000, (8, 2))
    costs = straight_line_costs(cells, sites, speed_kmh=30, detour_factor=1.0, cutoff_min=15)
    mask = np.array([True, False, True, True, False, False, True, False])
    t, arg = nearest_open_time(costs, mask)
    d = np.hypot(*(cells[:, None, :] - sites[None, mask, :]).transpose(2, 0, 1)) / 500.0
    brute = d.min(axis=1)
    brute[brute > 15] = np.inf
    assert np.allclose(t, brute)
    open_pos = np.flatnonzero(mask)
    ok = np.isfinite(brute)
    assert (arg[ok] == open_pos[d.argmin(axis=1)][ok]).all()
    assert (arg[~ok] == -1).all()


def test_real_ha_tinh_official_plan_uses_real_seats(communes_2025_path, reg):
    crs = L.working_crs(reg)
    communes = R.read_communes(communes_2025_path, reg, crs=crs,
                               population_field="population_2025")
    lay = L.build_layers(reg, crs=crs, communes=communes)
    main = P.choose_main_stations(lay.facilities, lay.communes, reg)
    rules = main["rule"].str.replace(r" \(.*\)$", "", regex=True).value_counts().to_dict()
    assert len(main) == 69
    assert rules == {P.RULE_SEAT: 57, P.RULE_NEAREST: 6, P.RULE_DISTRICT_SEAT: 4, P.RULE_SINGLE: 2}
    # Thạch Hà: "UBND xã ..." seats resolve to the named pre-2025 commune's station
    row = main[main["rule"].str.contains("UBND xã Cẩm Bình")]
    assert row["facility_id"].tolist() == ["TYT-18685"]


# --- the optimiser's answers are plans that evaluate to its objective ----------------------

@pytest.fixture(scope="module")
def coarse(lay):
    """Ha Tinh from the registry on 2 km cells: quick to optimise, the same 209 stations."""
    from gis.analyses.access import run_access

    acc = run_access(lay.communes, lay.facilities, legacy=lay.communes_legacy,
                     cell_size_m=2000, cutoff_min=90)
    return acc.demand, acc.costs


@pytest.mark.parametrize(("model", "p"), [("set-cover", None), ("mclp", 75), ("p-median", 75),
                                          ("p-center", 75)])
def test_optimised_plan_round_trips_through_evaluate(tmp_path, lay, reg, coarse, model, p):
    """optimise -> plan CSV (what `gis plan optimise` writes) -> read and validated as
    `gis plan evaluate` reads it -> evaluated: the figure the model optimised, to 1e-9."""
    from gis.outputs.tables import plan_csv

    demand, costs = coarse
    res = P.optimise_plan(lay.facilities, lay.communes, reg, demand=demand, costs=costs,
                          model=model, time_min=30.0, p=p)
    path = tmp_path / "optimised.csv"
    path.write_text(plan_csv(res.plan, lay.facilities), encoding="utf-8")
    plan = R.read_plan(path, lay.facilities, reg)
    assert set(plan.actions["action"]) <= {"keep", "branch", "close"}
    assert plan.counts()["keep"] == 69  # a main station in every post-2025 commune
    pop = demand["population"].to_numpy(float)
    ev = P.evaluate(plan, population=pop, commune_codes=demand["commune_code"].to_numpy(),
                    costs=costs, thresholds_min=(15.0, 30.0, 60.0), doctors_per_station=4.0)
    got = {"set-cover": ev.province["service_points"], "mclp": ev.province["covered_30min"],
           "p-median": ev.province["person_min"], "p-center": ev.province["max_time_min"]}
    assert got[model] == pytest.approx(res.info["objective"], rel=1e-9)
    assert res.info["gap"] <= 1e-4
    if p is not None:
        assert ev.province["service_points"] == p
    if model == "p-center":
        stats = res.info["stats"]
        assert stats["sites_at_radius"] <= p and stats["fill_rule"].startswith("p-median")
        # the fill is the p-median within the radius: never more person-minutes than the
        # p-median's own plan that also keeps every trip within it
        pm = P.optimise_plan(lay.facilities, lay.communes, reg, demand=demand, costs=costs,
                             model="p-median", time_min=30.0, p=p)
        if pm.info["objective"] <= res.info["objective"] + 1e-9:
            assert ev.province["person_min"] <= pm.info["objective"] * (1 + 1e-9)


def test_optimiser_refuses_fewer_service_points_than_communes(lay, reg, coarse):
    demand, costs = coarse
    with pytest.raises(PlanError, match="--p 50 is fewer than the 69 post-2025 communes"):
        P.optimise_plan(lay.facilities, lay.communes, reg, demand=demand, costs=costs,
                        model="p-median", time_min=30.0, p=50)


def test_every_scenario_gets_its_layers(lay, reg, coarse, official):
    """run_plans: each scenario but today has its stations, the people losing access (whose
    population is the table's figure) and its communes before and after."""
    demand, costs = coarse
    edited = Plan(name="official + 5", actions=official.actions.assign(
        action=np.where(official.actions["action"] == "keep", "keep", "close")))
    closed = edited.actions.index[edited.actions["action"] == "close"][:5]
    a = edited.actions.copy()
    a.loc[closed, "action"] = "branch"
    edited = Plan(name="official + 5", actions=a)
    res = P.run_plans(lay.facilities, lay.communes, reg, demand=demand, costs=costs,
                      thresholds_min=(15.0, 30.0, 60.0), doctors_per_station=4.0,
                      optimise=False, extra_plans=[edited])
    rows = {r["scenario"]: r for r in res.summary["scenarios"]}
    assert rows["official + 5"]["scenario_kind"] == "user"
    assert rows["official + 5"]["slug"] == "user_official_5"
    for item in res.summary["plans"]:
        lose = res.layers[item["layers"]["losing_access"]]
        assert lose["population"].sum() == pytest.approx(rows[item["scenario"]]["losing_30min"])
        st = res.layers[item["layers"]["stations"]]
        assert st["action"].value_counts().to_dict() == {
            k: v for k, v in res.plans[item["scenario"]].counts().items() if v}
        com = res.layers[item["layers"]["communes"]]
        assert len(com) == 69
        assert com["losing_30min"].sum() == pytest.approx(lose["population"].sum())
    assert {p["slug"] for p in res.summary["plans"]} == {"official", "official_only",
                                                        "user_official_5"}
    assert res.summary["plans"][2]["actions"]["branch"] == 5
