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
from tests.conftest import mutation_scope

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def reg():
    return load_registry("42")


@pytest.fixture(scope="module")
def lay(reg):
    return L.build_layers(reg, crs=L.working_crs(reg), population_total=1_623_061)


@pytest.fixture(scope=mutation_scope)
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


def test_no_seat_means_the_nearest_station_whatever_the_former_names(reg, lay):
    """Communes read without seats (no ``admin_center`` field): a commune with several
    stations gets the one nearest to its registry centre, even when a former commune has a
    one-letter name ("X"): an absent seat names no former commune."""
    import dataclasses

    import geopandas as gpd

    st = lay.facilities[(lay.facilities["tier"] == "station")
                        & (lay.facilities["status"] == "active")]
    sizes = st.groupby("commune_code").size()
    code = sizes.index[sizes >= 2][0]
    members = st[st["commune_code"] == code]
    legacy = reg.legacy.copy()
    legacy.loc[legacy["commune_code"] == members["legacy_commune_code"].iloc[0],
               "commune_name"] = "X"
    odd = dataclasses.replace(reg, legacy=legacy)
    communes = lay.communes.drop(columns="admin_center")
    main = P.choose_main_stations(lay.facilities, communes, odd).set_index("commune_code")
    new = reg.new.set_index("commune_code")
    centre = gpd.GeoSeries(gpd.points_from_xy([new.loc[code, "lon"]], [new.loc[code, "lat"]]),
                           crs=4326).to_crs(lay.facilities.crs).iloc[0]
    nearest = members.loc[members.geometry.distance(centre).idxmin(), "facility_id"]
    assert main.loc[code, "rule"] == P.RULE_NEAREST
    assert main.loc[code, "facility_id"] == nearest


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
    new_row = layer.set_index("facility_id").loc["NEW-1"]
    assert new_row["status"] == "planned" and new_row["location_source"] == "plan"
    assert new_row["source"] == "plan 'with a new site'" and new_row["tier"] == "station"
    assert new_row["name"] == "New site NEW-1" and new_row["action"] == "new"


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
    # the rule's steps counted again from the raw admin_center texts and the registry
    want = _rule_counts(communes_2025_path, reg, lay.facilities)
    assert rules == want
    assert want == {P.RULE_SEAT: 57, P.RULE_NEAREST: 6, P.RULE_DISTRICT_SEAT: 4,
                    P.RULE_SINGLE: 2}  # the README's counts
    # Thạch Hà: "UBND xã ..." seats resolve to the named pre-2025 commune's station
    row = main[main["rule"].str.contains("UBND xã Cẩm Bình")]
    assert row["facility_id"].tolist() == ["TYT-18685"]


def _key(text) -> str:
    """Accents, case, spaces and punctuation dropped (written here, not the registry's)."""
    import unicodedata

    text = unicodedata.normalize("NFKD", str(text or "").replace("đ", "d").replace("Đ", "D"))
    return "".join(c for c in text.lower() if c.isascii() and c.isalnum())


def _rule_counts(geojson: Path, reg, facilities) -> dict:
    """Which step of the main-station rule decides each post-2025 commune: one former station;
    a former commune named in the raw ``admin_center`` text; a seat naming a district or town
    with exactly one thị trấn among the former communes; else the nearest."""
    import json

    seat = {str(f["properties"]["commune_code"]).zfill(5): _key(f["properties"].get(
        "admin_center")) for f in json.loads(geojson.read_text(encoding="utf-8"))["features"]}
    legacy = reg.legacy.set_index("commune_code")
    st = facilities[(facilities["tier"] == "station") & (facilities["status"] == "active")]
    counts: dict = {}
    for code, members in st.groupby("commune_code"):
        names = [_key(legacy.loc[c, "commune_name"]) for c in members["legacy_commune_code"]]
        types = [legacy.loc[c, "commune_type"] for c in members["legacy_commune_code"]]
        where = seat.get(code, "")
        if len(members) == 1:
            step = P.RULE_SINGLE
        elif where and any(n and n in where for n in names):
            step = P.RULE_SEAT
        elif any(w in where for w in ("huyen", "thixa", "thiuy", "thanhpho")) and \
                types.count("Thị trấn") == 1:
            step = P.RULE_DISTRICT_SEAT
        else:
            step = P.RULE_NEAREST
        counts[step] = counts.get(step, 0) + 1
    return counts


# --- the official plan's texts and roles; the district-seat step of the rule ------------------

def test_official_plan_rules_and_roles(lay, reg, official):
    only = P.official_plan(lay.facilities, lay.communes, reg, branches=False)
    for plan, other, role in ((official, "branch", "branch point"), (only, "close", "closed")):
        a = plan.actions
        mains = a[a["action"] == "keep"]
        assert mains["rule"].str.match(
            f"({P.RULE_SINGLE}|{P.RULE_SEAT}|{P.RULE_DISTRICT_SEAT}|{P.RULE_NEAREST})").all()
        rest = a.loc[a["action"] == other, "rule"]
        assert len(rest) == 140 and set(rest) == {
            "kept as a branch point of the new commune's station" if other == "branch"
            else "closed: not the main station of its new commune"}
        roles = P.plan_facilities(plan, lay.facilities)["plan_role"].value_counts().to_dict()
        assert roles == {"main station": 69, role: 140}


def test_official_plan_without_a_station_in_a_commune_names_the_plan(lay, reg):
    code = lay.facilities.loc[lay.facilities["tier"] == "station", "commune_code"].iloc[0]
    fac = lay.facilities[~((lay.facilities["tier"] == "station")
                           & (lay.facilities["commune_code"] == code))]
    with pytest.raises(PlanError, match=r"plan '68 \+ branch points'") as err:
        P.official_plan(fac, lay.communes, reg)
    assert code in str(err.value)


def _district_case(reg, lay, *, town_members: int):
    """A post-2025 commune whose former communes hold ``town_members`` thị trấn (and others)."""
    lg = reg.legacy
    st = lay.facilities[lay.facilities["tier"] == "station"]
    towns = lg.set_index("commune_code")["commune_type"]
    for code, members in st.groupby("commune_code"):
        kinds = members["legacy_commune_code"].map(towns)
        if len(members) >= 2 and (kinds == "Thị trấn").sum() == town_members:
            return code, members, kinds
    pytest.skip(f"no commune with {town_members} thị trấn")


@pytest.mark.parametrize("seat", ["UBND huyện (cũ)", "Trụ sở Thị xã cũ", "Thị ủy cũ",
                                  "Thành phố cũ"])
def test_main_station_at_the_former_district_seat(reg, lay, seat):
    """A seat naming a former district or town (huyện, thị xã, thị ủy, thành phố) and exactly
    one thị trấn among the commune's former communes: that thị trấn's station."""
    code, members, kinds = _district_case(reg, lay, town_members=1)
    communes = lay.communes.copy()
    communes["admin_center"] = ""
    communes.loc[communes["commune_code"] == code, "admin_center"] = seat
    main = P.choose_main_stations(lay.facilities, communes, reg).set_index("commune_code")
    town = members.loc[(kinds == "Thị trấn").to_numpy(), "facility_id"].iloc[0]
    assert main.loc[code, "facility_id"] == town
    assert main.loc[code, "rule"] == f"{P.RULE_DISTRICT_SEAT} ({seat})"
    # a seat naming no district keeps the nearest station to the commune's centre
    communes.loc[communes["commune_code"] == code, "admin_center"] = "Nhà văn hóa thôn 3"
    plain = P.choose_main_stations(lay.facilities, communes, reg).set_index("commune_code")
    assert plain.loc[code, "rule"] == P.RULE_NEAREST


def test_district_seat_needs_exactly_one_town(reg, lay):
    code, members, kinds = _district_case(reg, lay, town_members=0)
    communes = lay.communes.copy()
    communes.loc[communes["commune_code"] == code, "admin_center"] = "UBND huyện X"
    main = P.choose_main_stations(lay.facilities, communes, reg).set_index("commune_code")
    assert main.loc[code, "rule"] == P.RULE_NEAREST


def test_evaluation_texts_and_small_populations():
    """The shortfall note when doctors are unknown; a cell with less than one person still
    sets the longest time; per-commune service points are whole numbers, 0 where none."""
    costs = table_from([[1.0, np.inf], [9.0, np.inf], [np.inf, 2.0]], ["A", "B"])
    pop = np.array([10.0, 0.5, 4.0])
    plan = _plan({"A": ("keep", "X"), "B": ("close", "Y")})
    ev = P.evaluate(plan, population=pop, commune_codes=np.array(["X", "X", "Y"]), costs=costs,
                    thresholds_min=(5.0,), doctors_per_station=4)
    assert ev.province["doctors_shortfall_note"] == "unknown: doctors per station not given"
    assert ev.province["max_time_min"] == 9.0
    per = ev.communes.set_index("commune_code")
    assert per["service_points"].to_dict() == {"X": 1, "Y": 0}
    assert per["service_points"].dtype.kind == "i" and per["main_stations"].dtype.kind == "i"
    assert per.loc["Y", "main_stations"] == 0 and np.isnan(per.loc["Y", "population_per_station"])


def table_from(D, ids):
    from tests._tables import table

    return table(D, cutoff=60.0, dest_ids=np.array(ids))


# --- the optimiser's answers are plans that evaluate to its objective ----------------------

@pytest.fixture(scope="module")
def coarse(lay):
    """Ha Tinh from the registry on 2 km cells: quick to optimise, the same 209 stations."""
    from gis.analyses.access import run_access

    acc = run_access(lay.communes, lay.facilities, legacy=lay.communes_legacy,
                     cell_size_m=2000, cutoff_min=90)
    return acc.demand, acc.costs


@pytest.mark.parametrize(("model", "p"), [("set-cover", 5), ("mclp", 75), ("p-median", 75),
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
    assert res.plan.name == f"optimised {model}"
    assert res.plan.note == (f"gis plan optimise --model {model}: {res.objective_unit} = "
                             f"{res.info['objective']:,.6g}")
    if model == "set-cover":   # p is not read: the model chooses how many (no error below 69)
        assert res.p == ev.province["service_points"] >= 69
    else:
        assert ev.province["service_points"] == p == res.p
    if model == "p-center":
        stats = res.info["stats"]
        assert stats["sites_at_radius"] <= p and stats["fill_rule"].startswith("p-median")
        # the fill is the p-median within the radius: never more person-minutes than the
        # p-median's own plan that also keeps every trip within it
        pm = P.optimise_plan(lay.facilities, lay.communes, reg, demand=demand, costs=costs,
                             model="p-median", time_min=30.0, p=p)
        if pm.info["objective"] <= res.info["objective"] + 1e-9:
            assert ev.province["person_min"] <= pm.info["objective"] * (1 + 1e-9)


def test_best_main_plan_by_enumeration(lay, reg, coarse):
    """``best-main``: per commune the former station with the least person-minutes for the
    commune's people (a unit a station does not reach within the 90-min cut-off charged 90
    min), by enumeration over the dense times; the plan keeps those and closes the rest."""
    demand, costs = coarse
    res = P.optimise_plan(lay.facilities, lay.communes, reg, demand=demand, costs=costs,
                          model="best-main", time_min=30.0)
    st = lay.facilities[(lay.facilities["tier"] == "station")
                        & (lay.facilities["status"] == "active")]
    D = np.full((costs.n_origins, costs.n_dests), 90.0)
    D[costs.origin, costs.dest] = costs.time_min
    pos = {f: j for j, f in enumerate(costs.dest_ids)}
    pop = demand["population"].to_numpy(float)
    codes = demand["commune_code"].to_numpy()
    mains, total = set(), 0.0
    for code, members in st.groupby("commune_code"):
        cols = sorted(pos[f] for f in members["facility_id"])
        here = codes == code
        cost = (pop[here][:, None] * D[here][:, cols]).sum(axis=0)
        mains.add(costs.dest_ids[cols[int(np.argmin(cost))]])
        total += cost.min()
    assert set(res.plan.main_ids()) == mains and len(mains) == 69
    assert res.info["objective"] == pytest.approx(total, rel=1e-12)
    assert (res.model, res.p, res.fixed_open, res.plan.name) == (
        "best-main", 69, 0, "optimised best-main")
    assert res.plan.counts() == {"keep": 69, "branch": 0, "close": 140, "new": 0}


def test_p90_is_the_last_time_when_it_holds_the_tail():
    """Two units at 1 and 5 min with 1 and 9 persons: 90 % of the people are within 5 min,
    not within 1."""
    costs = table_from([[1.0], [5.0]], ["A"])
    ev = P.evaluate(_plan({"A": ("keep", "X")}), population=np.array([1.0, 9.0]),
                    commune_codes=np.array(["X", "X"]), costs=costs, thresholds_min=(5.0,),
                    doctors_per_station=4)
    assert ev.province["p90_time_min"] == 5.0


def test_optimiser_refuses_fewer_service_points_than_communes(lay, reg, coarse):
    demand, costs = coarse
    with pytest.raises(PlanError, match="--p 50 is fewer than the 69 post-2025 communes"):
        P.optimise_plan(lay.facilities, lay.communes, reg, demand=demand, costs=costs,
                        model="p-median", time_min=30.0, p=50)


def test_every_scenario_gets_its_layers(lay, reg, coarse, official):
    """run_plans: each scenario but today has its stations, the people losing access (whose
    population is the table's figure) and its communes before and after."""
    demand, costs = coarse
    # one seat given (Cẩm Bình's, as in test_main_station_rule_uses_the_seat): the rule's
    # counts are then one seat, the communes with a single station, the rest nearest
    communes = lay.communes.copy()
    seat_code = reg.legacy.set_index("commune_code").loc["18685", "new_commune_code"]
    communes["admin_center"] = ""
    communes.loc[communes["commune_code"] == seat_code, "admin_center"] = "UBND xã Cẩm Bình"
    st_all = lay.facilities[(lay.facilities["tier"] == "station")
                            & (lay.facilities["status"] == "active")]
    singles = int((st_all.groupby("commune_code").size() == 1).sum())
    edited = Plan(name="official + 5", actions=official.actions.assign(
        action=np.where(official.actions["action"] == "keep", "keep", "close")))
    closed = edited.actions.index[edited.actions["action"] == "close"][:5]
    a = edited.actions.copy()
    a.loc[closed, "action"] = "branch"
    edited = Plan(name="official + 5", actions=a)
    res = P.run_plans(lay.facilities, communes, reg, demand=demand, costs=costs,
                      thresholds_min=(15.0, 30.0, 60.0), doctors_per_station=4.0,
                      optimise=False, extra_plans=[edited])
    assert res.summary["main_station_rule_counts"] == {
        P.RULE_SEAT: 1, P.RULE_SINGLE: singles, P.RULE_NEAREST: 69 - 1 - singles}
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
        # cover_min (30) is one of the thresholds: the summary's threshold and figure
        assert item["threshold_min"] == 30.0
        assert item["losing_population"] == pytest.approx(rows[item["scenario"]]["losing_30min"])
    assert {p["slug"] for p in res.summary["plans"]} == {"official", "official_only",
                                                        "user_official_5"}
    assert res.summary["plans"][2]["actions"]["branch"] == 5
    # the given plans' layers keep the coordinates of their sources
    assert res.layers["plan_stations_given"].crs == lay.facilities.crs
    assert res.layers["losing_access_given"].crs == demand.crs
    assert res.layers["plan_stations_given"]["scenario"].unique().tolist() == ["official + 5"]
