"""Every figure of the default run (``gis run --offline``: Hà Tĩnh on the base data, with the user
plan of ``tests/conftest.py``), derived again by another route: from the raw files of
../shared/data, and from the GeoPackage's demand cells (coordinates, population) and facilities
(coordinates, tier) with the README's straight-line formula over dense arrays
(``tests/_brute.py``), networkx components, and PySAL spopt (CBC) for the location models. The
README's figures are kept as literals where they document it; what makes each test is the figure
computed here, which the run must equal.

The GeoPackage stores the coordinates the run used (float64), so a time recomputed here
with the same formula is the run's time to the last bit; sums over cells in another order
agree to 1e-9.
"""

from __future__ import annotations

import itertools
import json

import numpy as np
import pandas as pd
import pyogrio
import pytest

from gis.inputs.config import load_config
from tests._brute import contiguous_areas, lower_quantile, nearest, straight_minutes, sums_by
from tests.conftest import CENSUS_2019, COMMUNES_2025, ROOT, USER_PLAN

CONFIG = ROOT / "config.toml"
HOSPITALS = ("regional", "provincial", "central")


def close(x, rel=1e-9, abs=1e-6):
    return pytest.approx(x, rel=rel, abs=abs)


@pytest.fixture(scope="module")
def run(default_run):
    """The run's summary and layers, the config's travel model, and the dense times."""
    out, s = default_run.out, default_run.s
    gpkg = out / "hatinh.gpkg"

    def layer(name):
        return pyogrio.read_dataframe(gpkg, layer=name)

    cfg = load_config(CONFIG)
    t = cfg.travel
    cells = layer("demand_cells")
    fac = layer("facilities")
    active = fac[fac["status"] == "active"].reset_index(drop=True)
    xy = cells[["x", "y"]].to_numpy()
    fxy = active.geometry.get_coordinates().to_numpy()
    access = {"speed_kmh": t.speed_kmh[t.mode], "detour_factor": t.detour_factor}
    transfer = {"speed_kmh": t.speed_kmh[cfg.network.transfer_mode],
                "detour_factor": t.detour_factor}
    D = straight_minutes(xy, fxy, **access)
    near = {}
    for tier in ("station", *HOSPITALS):
        cols = np.flatnonzero((active["tier"] == tier).to_numpy())
        tt, j = nearest(D, cols, cutoff_min=t.cutoff_min)
        near[tier] = (tt, j)
    return {"out": out, "s": s, "layer": layer, "cfg": cfg, "cells": cells, "fac": fac,
            "active": active, "D": D, "near": near, "access": access, "transfer": transfer,
            "pop": cells["population"].to_numpy(), "codes": cells["commune_code"].to_numpy(),
            "F": straight_minutes(fxy, fxy, **transfer),
            "ids": active["facility_id"].to_numpy()}


# --- population and counts: from the raw files ------------------------------------------------

def test_population_and_counts_from_the_raw_files(run):
    s, cells, fac = run["s"], run["cells"], run["fac"]
    raw = json.loads(COMMUNES_2025.read_text(encoding="utf-8"))
    pop_2025 = {}
    for f in raw["features"]:
        p = f["properties"]
        if str(p["province_code"]).zfill(2) == "42":
            pop_2025[str(p["commune_code"]).zfill(5)] = float(p["population_2025"])
    census = pd.read_csv(CENSUS_2019, dtype={"province_code": str, "commune_code": str})
    census = census[census["province_code"].str.zfill(2) == "42"]
    assert s["population"]["total"] == sum(pop_2025.values()) == 1_623_061
    assert s["population"]["legacy_total"] == census["population_2019"].sum() == 1_288_866
    assert s["counts"]["new_communes"] == len(pop_2025) == 69
    assert s["counts"]["legacy_communes"] == len(census) == 209
    assert sums_by(cells["commune_code"], cells["population"]) == pytest.approx(pop_2025)
    assert s["access"]["demand"] == {"units": len(cells), "cell_size_m": 500.0,
                                     "population": close(sum(pop_2025.values()))}
    act = fac[fac["status"] == "active"]
    assert s["counts"]["stations"] == int((act["tier"] == "station").sum())
    assert s["counts"]["hospitals_by_tier"] == {
        t: int((act["tier"] == t).sum()) for t in ("central", "provincial", "regional")}
    assert s["counts"]["facilities_ended"] == int((fac["status"] == "ended").sum())


# --- access ------------------------------------------------------------------------------------

def test_nearest_facility_times_by_brute_force(run):
    cells, near, ids = run["cells"], run["near"], run["ids"]
    for tier in ("station", "regional", "provincial"):
        t, j = near[tier]
        assert np.array_equal(cells[f"{tier}_time_min"].to_numpy(),
                              np.where(np.isfinite(t), t, np.nan), equal_nan=True)
        assert cells[f"{tier}_id"].fillna("").tolist() == np.where(
            j >= 0, ids[np.maximum(j, 0)], "").tolist()


def test_access_coverage_by_brute_force(run):
    """The README's "99.84 % of people within 30 min of a commune station (2,621 beyond)...":
    coverage per tier and threshold recounted from the cells' brute-force times."""
    s, near, pop = run["s"], run["near"], run["pop"]
    cov = s["access"]["coverage"]
    for tier, ths in run["cfg"].access.thresholds_min.items():
        if tier not in near:
            continue
        t = near[tier][0]
        for thr in ths:
            within = pop[t <= thr].sum()
            rec = cov[tier][f"{thr:g}"]
            assert rec["population"] == close(within)
            assert rec["beyond"] == close(pop.sum() - within)
            assert rec["share"] == close(within / pop.sum())
            assert s["access"]["covered_share"][tier][f"covered_{thr:g}min_share"] == \
                close(within / pop.sum())
        assert s["access"]["population_unreached_within_cutoff"][tier] == close(
            pop[~np.isfinite(t)].sum())
    # the README's worked example, as printed
    assert round(100 * cov["station"]["30"]["share"], 2) == 99.84
    assert round(cov["station"]["30"]["beyond"]) == 2_621
    assert round(100 * cov["station"]["15"]["share"], 1) == 98.2
    assert round(100 * cov["regional"]["60"]["share"], 2) == 98.96
    assert round(cov["regional"]["60"]["beyond"]) == 16_911
    assert round(100 * cov["provincial"]["60"]["share"], 1) == 41.1
    assert round(100 * cov["provincial"]["120"]["share"], 1) == 80.2


def test_access_per_commune_by_brute_force(run):
    """Per post-2025 and pre-2025 commune: people within each threshold and the mean time to
    the nearest station (its denominator: the people who reach one)."""
    near, pop, codes, cells = run["near"], run["pop"], run["codes"], run["cells"]
    com = run["layer"]("coverage_communes").set_index("commune_code")
    t = near["station"][0]
    reg = near["regional"][0]
    assert len(com) == 69
    for code, r in com.iterrows():
        here = codes == code
        assert r["population"] == close(pop[here].sum())
        assert r["station_30min"] == close(pop[here & (t <= 30)].sum())
        assert r["regional_60min"] == close(pop[here & (reg <= 60)].sum())
        ok = here & np.isfinite(t)
        assert r["station_mean_time_min"] == close((pop[ok] * t[ok]).sum() / pop[ok].sum())
    lg = run["layer"]("coverage_legacy").set_index("commune_code")
    old = cells["legacy_commune_code"].to_numpy()
    assert len(lg) == 209
    for code, r in lg.iterrows():
        here = old == code
        assert r["population"] == close(pop[here].sum())
        assert r["station_15min"] == close(pop[here & (t <= 15)].sum())


def test_beds_by_formula(run):
    """Beds: one hospital (the Provincial General Hospital, 1,300 planned beds) has a bed
    count, so the E2SFCA is that hospital's beds over its gaussian-weighted catchment, and
    beds per 10,000 people is 1,300 / 1,623,061 x 10,000 = 8.01 (a lower bound)."""
    s, cells, active, D, pop = run["s"], run["cells"], run["active"], run["D"], run["pop"]
    beds = active["beds"].to_numpy(float)
    hosp = active["tier"].isin(HOSPITALS).to_numpy()
    known = hosp & np.isfinite(beds)
    assert known.sum() == 1
    catch = run["cfg"].access.e2sfca.catchment_min
    j = int(np.flatnonzero(known)[0])
    w = np.where(D[:, j] <= catch, np.exp(-D[:, j] ** 2 / (2 * (catch / 2) ** 2)), 0.0)
    want = beds[j] * w / (pop * w).sum() * 10_000
    assert np.allclose(cells["e2sfca_beds_per_10k"], want, rtol=1e-9, atol=1e-15)
    ind = next(i for i in s["access"]["indicators"] if i["name"].startswith("beds"))
    assert ind["value"] == close(beds[known].sum() / pop.sum() * 10_000)
    assert ind["lower_bound"] is True and round(ind["value"], 1) == 8.0
    assert s["access"]["fca"]["beds"]["known"] == 1
    assert s["access"]["fca"]["beds"]["total"] == int(hosp.sum())
    # doctors: config.toml's 168 station doctors spread over the stations (an estimate), no
    # hospital's known
    known_doctors = np.isfinite(active["doctors"].to_numpy(float))
    assert s["access"]["fca"]["doctors"]["known"] == int(known_doctors.sum())
    assert set(active.loc[known_doctors, "tier"]) == {"station"}
    assert active.loc[known_doctors, "doctors"].sum() == close(168)


def test_underserved_areas_by_graph_components(run):
    """The README's "Twelve under-served areas hold 17,753 people": the cells beyond 30 min of a
    station or 60 min of a regional hospital, grouped by touching geometry (networkx
    components of the cells' parts: a cell cut by a commune border into disjoint bits joins
    the area of the bit holding its point)."""
    s, cells, near, pop, codes, ids = (run[k] for k in ("s", "cells", "near", "pop", "codes",
                                                        "ids"))
    st_t, st_j = near["station"]
    rg_t, rg_j = near["regional"]
    fail_st, fail_rg = ~(st_t <= 30), ~(rg_t <= 60)
    bad = np.flatnonzero(fail_st | fail_rg)
    found = contiguous_areas(cells.geometry.to_numpy()[bad], cells["x"].to_numpy()[bad],
                             cells["y"].to_numpy()[bad])
    # areas of equal population (a few people each) in any order: both sides sorted alike
    def key(people, units, communes):
        return (-round(people, 6), -units, communes)

    areas = sorted((bad[m] for m, _ in found),
                   key=lambda m: key(pop[m].sum(), len(m), ";".join(sorted(set(codes[m])))))
    under = run["layer"]("underserved")
    assert list(under["population"]) == sorted(under["population"], reverse=True)
    under = under.iloc[sorted(range(len(under)), key=lambda i: key(
        under["population"].iloc[i], under["units"].iloc[i], under["commune_codes"].iloc[i]))]
    assert len(under) == len(areas) == s["access"]["underserved"]["areas"] == 12
    assert s["access"]["underserved"]["population"] == close(
        sum(pop[m].sum() for m in areas))
    for (_, got), m in zip(under.iterrows(), areas, strict=True):
        assert got["population"] == close(pop[m].sum())
        assert got["units"] == len(m)
        assert got["commune_codes"] == ";".join(sorted(set(codes[m])))
        parts = []
        if fail_st[m].any():
            parts.append(f"more than 30 min from a station ({pop[m][fail_st[m]].sum():,.0f} "
                         f"people)")
        if fail_rg[m].any():
            parts.append(f"more than 60 min from a regional hospital "
                         f"({pop[m][fail_rg[m]].sum():,.0f} people)")
        assert got["reasons"] == "; ".join(parts)
        t, j = (st_t, st_j) if fail_st[m].any() else (rg_t, rg_j)
        people = sums_by(ids[j[m]], pop[m])
        top = max(people, key=people.get)
        assert got["nearest_id"] == top
        pick = ids[j[m]] == top
        assert got["nearest_time_min"] == close(np.average(t[m][pick], weights=np.maximum(
            pop[m][pick], 1e-9)))
    # the README's worked example, as printed
    assert round(s["access"]["underserved"]["population"]) == 17_753
    assert [round(pop[m].sum()) for m in areas[:4]] == [9_532, 5_381, 2_786, 22]


# --- plans -------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def plans(run):
    """Station times under each scenario whose sites the outputs name, brute force."""
    active, D = run["active"], run["D"]
    st = active[active["tier"] == "station"].reset_index(drop=True)
    cols = np.flatnonzero((active["tier"] == "station").to_numpy())
    Ds = D[:, cols]
    only = run["layer"]("plan_stations")
    official = run["layer"]("plan_stations_branches")
    mains = only.loc[only["plan_role"] == "main station", "facility_id"].tolist()
    cutoff = run["cfg"].travel.cutoff_min

    def times(open_ids):
        return nearest(Ds, np.flatnonzero(st["facility_id"].isin(open_ids).to_numpy()),
                       cutoff_min=cutoff)[0]

    return {"st": st, "Ds": Ds, "mains": mains, "official": official, "times": times,
            "today": times(st["facility_id"]), "cutoff": cutoff}


def _rows(run):
    return {r["scenario"]: r for r in run["s"]["plans"]["scenarios"]}


def _check_row(run, row, t, t_today, mains):
    pop = run["pop"]
    reach = np.isfinite(t)
    for thr in (15.0, 30.0, 60.0):
        assert row[f"covered_{thr:g}min"] == close(pop[t <= thr].sum())
        if t_today is not None:
            assert row[f"losing_{thr:g}min"] == close(pop[(t_today <= thr) & ~(t <= thr)].sum())
    assert row["mean_time_min"] == close((pop[reach] * t[reach]).sum() / pop[reach].sum())
    assert row["p90_time_min"] == lower_quantile(t[reach], pop[reach], 0.9)
    assert row["max_time_min"] == t[reach & (pop > 0)].max()
    assert row["population_beyond_cutoff"] == close(pop[~reach].sum())
    assert row["main_stations"] == len(mains)
    assert row["doctors_needed"] == 4 * len(mains)


def test_scenarios_today_and_official_by_brute_force(run, plans):
    rows = _rows(run)
    today = plans["today"]
    _check_row(run, rows["209 today"], today, None, plans["st"]["facility_id"])
    branch = plans["official"]
    assert sorted(branch.loc[branch["plan_role"] != "closed", "facility_id"]) == sorted(
        plans["st"]["facility_id"])
    _check_row(run, rows["69 + branch points"], today, today, plans["mains"])
    only = plans["times"](plans["mains"])
    _check_row(run, rows["69 only"], only, today, plans["mains"])
    assert rows["69 only"]["service_points"] == len(plans["mains"]) == 69
    assert rows["69 + branch points"]["service_points"] == 209
    # the README's table, as printed
    assert [round(rows[n]["mean_time_min"], 1) for n in ("209 today", "69 only")] == [5.0, 8.8]
    assert round(rows["69 only"]["p90_time_min"], 1) == 15.6


def test_people_losing_access_recounted_cell_by_cell(run, plans):
    """The README's "8,784 people in 9 communes": the cells within 30 min of a station today
    and beyond it with the 69 main stations only, recounted per cell, per commune and in
    total; the layer, the summary, the scenario table and the per-commune rows all agree."""
    s, pop, codes, cells = run["s"], run["pop"], run["codes"], run["cells"]
    today, only = plans["today"], plans["times"](plans["mains"])
    lose = (today <= 30) & ~(only <= 30)
    layer = run["layer"]("losing_access")
    assert sorted(layer["unit_id"]) == sorted(cells["unit_id"].to_numpy()[lose])
    got = layer.set_index("unit_id").loc[cells["unit_id"].to_numpy()[lose]]
    assert got["time_before_min"].to_numpy() == pytest.approx(today[lose], rel=1e-15)
    assert got["time_after_min"].to_numpy() == pytest.approx(only[lose], rel=1e-15)
    per_commune = sums_by(codes[lose], pop[lose])
    assert sums_by(layer["commune_code"], layer["population"]) == pytest.approx(per_commune)
    la = s["plans"]["losing_access"]
    assert la["scenario"] == "69 only" and la["threshold_min"] == 30
    assert la["population"] == close(pop[lose].sum())
    assert la["communes"] == len(per_commune)
    pc = run["layer"]("plan_communes")
    pc = pc[pc["scenario"] == "69 only"].set_index("commune_code")
    for code in set(codes):
        assert pc.loc[code, "losing_30min"] == close(per_commune.get(code, 0.0))
        here = codes == code
        ok = here & np.isfinite(only)
        assert pc.loc[code, "mean_time_min"] == close((pop[ok] * only[ok]).sum()
                                                      / pop[ok].sum())
    # the README, as printed
    assert round(pop[lose].sum()) == 8_784 and len(per_commune) == 9


def test_user_plan_by_brute_force(run, plans):
    """The plan given with ``--plan`` (official + 5 branch points, tests/conftest.py): its
    scenario row from its stations layer's open sites, brute force; its losing-access layer
    recounted cell by cell."""
    s, pop, cells = run["s"], run["pop"], run["cells"]
    item = next(p for p in s["plans"]["plans"] if p["scenario"] == USER_PLAN)
    st = run["layer"](item["layers"]["stations"])
    mains = st.loc[st["action"] == "keep", "facility_id"].tolist()
    open_ids = st.loc[st["action"].isin(["keep", "branch"]), "facility_id"]
    after = plans["times"](open_ids)
    row = _rows(run)[USER_PLAN]
    _check_row(run, row, after, plans["today"], mains)
    assert (len(mains), row["service_points"]) == (69, 74)
    lose = (plans["today"] <= 30) & ~(after <= 30)
    layer = run["layer"](item["layers"]["losing_access"])
    assert sorted(layer["unit_id"]) == sorted(cells["unit_id"].to_numpy()[lose])
    assert item["losing_population"] == close(pop[lose].sum())
    assert item["losing_communes"] == len(set(run["codes"][lose]))


def test_best_main_stations_by_enumeration(run, plans):
    """"69 with best main stations": per commune the former station minimising its people's
    summed time, by enumeration; its figures (the README's 17,832 losing access) follow."""
    pop, codes = run["pop"], run["codes"]
    st, Ds, cutoff = plans["st"], plans["Ds"], plans["cutoff"]
    charged = np.where(Ds <= cutoff, Ds, cutoff)
    mains = []
    for code in sorted(set(st["commune_code"])):
        cols = np.flatnonzero((st["commune_code"] == code).to_numpy())
        here = codes == code
        mains.append(st["facility_id"].iloc[cols[np.argmin(
            (pop[here][:, None] * charged[here][:, cols]).sum(axis=0))]])
    row = _rows(run)["69 with best main stations"]
    _check_row(run, row, plans["times"](mains), plans["today"], mains)
    assert round(row["losing_30min"]) == 17_832


def test_fewest_branch_points_and_curve_with_spopt(run, plans):
    """"69 + fewest branch points": 8 branch points, proven optimal by PySAL spopt's LSCP
    (CBC) on the cells the 69 main stations leave beyond 30 min; the branch-points curve at
    0, 5 and 10 by spopt's MCLP (the README's 1,611,656, 1,619,570, 1,620,440)."""
    pulp = pytest.importorskip("pulp")
    locate = pytest.importorskip("spopt.locate")
    s, pop = run["s"], run["pop"]
    st, Ds = plans["st"], plans["Ds"]
    is_main = st["facility_id"].isin(plans["mains"]).to_numpy()
    by_mains = (Ds[:, is_main] <= 30).any(axis=1)
    coverable = (Ds <= 30).any(axis=1)
    rows = coverable & ~by_mains & (pop > 0)
    sub = Ds[rows][:, ~is_main]
    cbc = pulp.PULP_CBC_CMD(msg=False)
    need = pulp.value(locate.LSCP.from_cost_matrix(sub, 30.0).solve(cbc).problem.objective)
    name = "69 + fewest branch points for T = 30 min"
    row = _rows(run)[name]
    assert s["plans"]["notes"][name]["branch_points"] == need == 8
    assert row["service_points"] == 69 + need
    assert row["covered_30min"] == close(pop[coverable].sum())
    assert row["losing_30min"] == 0
    assert s["plans"]["notes"][name]["uncoverable_population"] == close(pop[~coverable].sum())
    curve = {p["branch_points"]: p["covered_population"]
             for p in s["plans"]["coverage_curve"]["points"]}
    assert curve[0] == close(pop[by_mains].sum())
    for k in (5, 10):
        best = pulp.value(locate.MCLP.from_cost_matrix(sub, pop[rows], 30.0, k).solve(cbc)
                          .problem.objective)
        assert curve[k] == close(pop[by_mains].sum() + best)
    assert max(curve.values()) == close(pop[coverable].sum())
    assert [round(curve[k]) for k in (0, 5, 10)] == [1_611_656, 1_619_570, 1_620_440]


def test_scenario_rows_equal_their_per_commune_rows(run):
    """Every scenario (the p-median's sites included, which no output lists): the province
    figures are the sums of its per-commune rows; communes without a main station counted
    from those rows."""
    pc = run["layer"]("plan_communes")
    for name, row in _rows(run).items():
        per = pc[pc["scenario"] == name]
        assert len(per) == 69
        for col in ("population", "covered_15min", "covered_30min", "covered_60min",
                    "main_stations", "service_points", "doctors_needed"):
            assert per[col].sum() == close(row[col]), (name, col)
        if row["losing_30min"] is not None:
            assert per["losing_30min"].sum() == close(row["losing_30min"])
        assert (per["mean_time_min"] * per["population"]).sum() / per["population"].sum() == \
            close(row["mean_time_min"])
    name = "69 best sites ignoring commune borders (p-median)"
    assert run["s"]["plans"]["notes"][name]["communes_without_station"] == int(
        (pc.loc[pc["scenario"] == name, "main_stations"] == 0).sum()) == 14


def test_main_station_rule_counts(run):
    """The rule's first step (the only former station of the commune) from the registry's
    mapping; the counts add up to the 69 communes."""
    from gis.inputs.registry import load_registry

    reg = load_registry("42")
    per_commune = reg.legacy.groupby("new_commune_code").size()
    counts = run["s"]["plans"]["main_station_rule_counts"]
    single = "the only former station of the commune"
    only_one = run["layer"]("plan_stations").groupby("target_commune_code").size()
    assert counts[single] == int((only_one == 1).sum()) == 2
    assert sum(counts.values()) == 69 == len(per_commune)


# --- network -----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def network(run, plans):
    """The referral rule by brute force: each station to its nearest regional hospital, each
    regional hospital to the provincial general hospital, at the transfer model's times."""
    active, F, ids = run["active"], run["F"], run["ids"]
    tiers = active["tier"].to_numpy()
    regional = np.flatnonzero(tiers == "regional")
    general = np.flatnonzero((tiers == "provincial") & (active["specialty"] == "general"))
    stations = np.flatnonzero(tiers == "station")

    def chains(regional_ok, general_ok, first_t, first_j, parent_of_first=None):
        reg = regional[regional_ok]
        gen = general[general_ok]
        st_parent = {s: reg[np.argmin(F[s, reg])] for s in stations}
        reg_parent = {r: gen[np.argmin(F[r, gen])] for r in reg} if len(gen) else {}
        hop = parent_of_first or {}
        t_reg, r_of, t_prov, p_of = [], [], [], []
        for t, j in zip(first_t, first_j, strict=True):
            extra, s = 0.0, j
            if j in hop:
                extra, s = F[j, hop[j]], hop[j]
            r = st_parent[s]
            tr = t + extra + F[s, r]
            t_reg.append(tr)
            r_of.append(r)
            p = reg_parent.get(r, -1)
            p_of.append(p)
            t_prov.append(tr + F[r, p] if p >= 0 else np.nan)
        return {"t_first": first_t, "t_regional": np.array(t_reg), "regional": np.array(r_of),
                "t_provincial": np.array(t_prov), "provincial": np.array(p_of),
                "st_parent": st_parent, "reg_parent": reg_parent}

    t0, j0 = run["near"]["station"]
    base = chains(np.ones(len(regional), bool), np.ones(len(general), bool), t0, j0)
    return {"chains": chains, "base": base, "regional": regional, "general": general,
            "stations": stations, "ids": ids, "t0": t0, "j0": j0}


def test_referral_edges_and_catchments(run, network):
    s, ids, pop = run["s"]["network"], network["ids"], run["pop"]
    b = network["base"]
    edges = run["layer"]("referral_edges")
    want = {ids[c]: ids[p] for c, p in {**b["st_parent"], **b["reg_parent"]}.items()}
    assert dict(zip(edges["from_id"], edges["to_id"], strict=True)) == want
    pos = {f: i for i, f in enumerate(ids)}
    assert edges["time_min"].to_numpy() == pytest.approx(
        [run["F"][pos[u], pos[v]] for u, v in zip(edges["from_id"], edges["to_id"],
                                                  strict=True)], rel=1e-15)
    assert s["edges"]["referral"] == len(want) == 209 + 13
    per = {r["facility_id"]: r for r in s["stations_per_regional"]}
    for r in network["regional"]:
        assert per[ids[r]]["stations"] == sum(p == r for p in b["st_parent"].values())
        assert per[ids[r]]["population"] == close(pop[b["regional"] == r].sum())
    # the README, as printed
    assert {f: r["stations"] for f, r in per.items()} == {
        "HT-RTS": 22, "HT-RCX": 22, "HT-RNH": 20, "HT-RDT": 18, "HT-RHK": 18, "HT-RHS": 18,
        "HT-RCL": 16, "HT-RLH": 15, "HT-RHL": 14, "HT-RNX": 13, "HT-RKA": 12, "HT-RVQ": 12,
        "HT-RTH": 9}
    largest = max(per.values(), key=lambda r: r["population"])
    smallest = min(per.values(), key=lambda r: r["population"])
    assert (largest["facility_id"], round(largest["population"])) == ("HT-RTS", 196_147)
    assert (smallest["facility_id"], round(smallest["population"])) == ("HT-RVQ", 44_688)
    hubs = run["layer"]("hubs").set_index("facility_id")
    assert hubs.loc["HT-PGH", "load"] == close(pop.sum())
    assert hubs.loc["HT-PGH", "beds_per_10k"] == close(1300 / pop.sum() * 1e4)
    for r in network["regional"]:
        assert hubs.loc[ids[r], "load"] == close(pop[b["regional"] == r].sum())


def test_chain_statistics_by_brute_force(run, network):
    """The README's "home -> station -> regional hospital takes 17.9 min on average; 11,725
    people are more than 60 min from their regional hospital along the chain"."""
    ch, pop = run["s"]["network"]["chains"], run["pop"]
    b = network["base"]
    for level, t in (("station", b["t_first"]), ("regional", b["t_regional"]),
                     ("provincial", b["t_provincial"])):
        rec = ch[level]
        assert rec["mean_time_min"] == close((pop * t).sum() / pop.sum())
        assert rec["p90_time_min"] == pytest.approx(lower_quantile(t, pop, 0.9), rel=1e-12)
        assert rec["median_time_min"] == pytest.approx(lower_quantile(t, pop, 0.5), rel=1e-12)
        assert rec["max_time_min"] == pytest.approx(t[pop > 0].max(), rel=1e-12)
        for thr, v in rec["beyond"].items():
            assert v == close(pop[~(t <= float(thr))].sum())
    r = ch["regional"]
    assert [round(r["mean_time_min"], 1), round(r["beyond"]["60"])] == [17.9, 11_725]


def test_loss_impact_by_brute_force(run, network):
    """Each hospital's loss: the network rebuilt by the rule without it; people newly beyond
    30 min of a station, 60 of a regional or 120 of a provincial hospital (the README: the
    ranking is led by the Provincial General Hospital)."""
    pop, ids, fac = run["pop"], network["ids"], run["fac"]
    b, chains = network["base"], network["chains"]
    regional, general = network["regional"], network["general"]
    ranking = {r["facility_id"]: r for r in run["s"]["network"]["loss_impact"]["ranking"]}
    for k, f in enumerate(ids):
        if run["active"]["tier"].iloc[k] not in HOSPITALS:
            continue
        after = chains(regional != k, general != k, network["t0"], network["j0"])
        moved_reg = (b["t_regional"] <= 60) & ~(after["t_regional"] <= 60)
        moved_prov = (b["t_provincial"] <= 120) & ~(after["t_provincial"] <= 120)
        rec = ranking[f]
        assert rec["moved_beyond_regional_60min"] == close(pop[moved_reg].sum()), f
        assert rec["moved_beyond_provincial_120min"] == close(pop[moved_prov].sum()), f
        assert rec["population_moved_beyond"] == close(pop[moved_reg | moved_prov].sum()), f
        assert rec["moved_beyond_station_30min"] == 0
    mhs = ranking["HT-MHS"]
    assert fac.set_index("facility_id").loc["HT-MHS", "status"] == "ended"
    assert mhs["population_moved_beyond"] == 0
    top = sorted(ranking.values(), key=lambda r: r["rank"])
    moved = [r["population_moved_beyond"] for r in top]
    assert moved == sorted(moved, reverse=True) and top[0]["facility_id"] == "HT-PGH"


def _after_official(network, plans):
    """After the official plan: each branch point's position -> its commune's main station's
    (``hop``), and the brute-force chains with branch points referring to them."""
    ids, official = network["ids"], plans["official"]
    pos = {f: i for i, f in enumerate(ids)}
    main = official["plan_role"] == "main station"
    main_of = dict(zip(official.loc[main, "target_commune_code"],
                       official.loc[main, "facility_id"], strict=True))
    hop = {pos[f]: pos[main_of[c]] for f, c, r in zip(
        official["facility_id"], official["target_commune_code"], official["plan_role"],
        strict=True) if r == "branch point"}
    after = network["chains"](np.ones(len(network["regional"]), bool),
                              np.ones(len(network["general"]), bool), network["t0"],
                              network["j0"], parent_of_first=hop)
    return hop, after


def test_network_after_the_official_plan_by_brute_force(run, network, plans):
    """After the plan, branch points refer to their commune's main station: the README's
    24.0 min on average, 47,656 beyond 60 min, 194,164 people changing regional hospital."""
    pop, ids = run["pop"], network["ids"]
    hop, after = _after_official(network, plans)
    # main stations refer to their nearest regional hospital, as every station did
    plan = run["s"]["network"]["plan"]
    reg = plan["chains"]["regional"]
    t = after["t_regional"]
    assert reg["mean_time_min"]["after"] == close((pop * t).sum() / pop.sum())
    assert reg["beyond"]["60"]["after"] == close(pop[~(t <= 60)].sum())
    changed = network["base"]["regional"] != after["regional"]
    assert plan["population_changing_regional_hospital"] == close(pop[changed].sum())
    edges = run["layer"]("referral_edges_plan")
    parents = dict(zip(edges["from_id"], edges["to_id"], strict=True))
    assert all(parents[ids[b]] == ids[m] for b, m in hop.items())
    assert [round(reg["mean_time_min"]["after"], 1), round(reg["beyond"]["60"]["after"]),
            round(plan["population_changing_regional_hospital"])] == [24.0, 47_656, 194_164]


def test_satellite_planning_by_enumeration(run):
    """Each specialty's k = 3 new links, every 3-subset of the candidate hospitals enumerated
    on the cells' brute-force times (the README's eye links: 645,809 -> 1,420,116)."""
    cfg, active, D, pop = run["cfg"], run["active"], run["D"], run["pop"]
    within_min = cfg.network.satellite_time_min
    within = D <= within_min
    specs = active["specialty"].fillna("").str.lower()
    plans_ = {p["specialty"]: p for p in run["s"]["network"]["satellite_planning"]}
    for spec in cfg.network.satellite_specialties:
        offer = np.flatnonzero(specs.str.contains(spec, regex=False).to_numpy())
        cands = np.flatnonzero(active["tier"].isin(["regional", "provincial"]).to_numpy()
                               & ~np.isin(np.arange(len(active)), offer))
        before = within[:, offer].any(axis=1)
        value = {c: pop[before | within[:, list(c)].any(axis=1)].sum()
                 for c in itertools.combinations(cands, cfg.network.satellite_k)}
        best = max(value.values())
        p = plans_[spec]
        chosen = {x["satellite_id"] for x in p["links"]}
        assert value[tuple(sorted(np.flatnonzero(active["facility_id"].isin(chosen))))] == \
            close(best)
        assert p["covered_before"] == close(pop[before].sum())
        assert p["covered_after"] == close(best)
        assert p["exact"] is True
        assert p["combinations"] == len(list(itertools.combinations(cands,
                                                                    cfg.network.satellite_k)))
    eye = plans_["eye"]
    assert [round(eye["covered_before"]), round(eye["covered_after"])] == [645_809, 1_420_116]
    assert {x["core_id"] for x in eye["links"]} == {"HT-PEH"}
    assert sorted(x["satellite_id"] for x in eye["links"]) == ["HT-RDT", "HT-RHK", "HT-RKA"]


def test_network_layers_per_commune_by_brute_force(run, network, plans):
    """The per-commune chain layers (today and after the plan), the hubs after the plan and the
    proposed satellite links, each against the brute-force chains."""
    pop, codes, ids = run["pop"], run["codes"], network["ids"]
    b = network["base"]
    pos = {f: i for i, f in enumerate(ids)}
    hop, after = _after_official(network, plans)
    for name, ch, step in (("referral_chains", b, {}), ("referral_chains_plan", after, hop)):
        layer = run["layer"](name).set_index("commune_code")
        assert len(layer) == 69
        for code, r in layer.iterrows():
            here = codes == code
            w = pop[here]
            assert r["population"] == close(w.sum())
            assert r["mean_first_contact_time_min"] == close(
                (w * ch["t_first"][here]).sum() / w.sum())
            assert r["mean_regional_chain_time_min"] == close(
                (w * ch["t_regional"][here]).sum() / w.sum())
            assert r["beyond_regional_60min"] == close(w[~(ch["t_regional"][here] <= 60)].sum())
            # the station of each person's chain: the first contact, or the main station a
            # branch point refers to
            station = ids[[step.get(j, j) for j in network["j0"][here]]]
            people = sums_by(station, w)
            top = min(people, key=lambda s: (-people[s], s))
            assert r["station_id"] == top
    hubs = run["layer"]("hubs_plan").set_index("facility_id")
    for r in network["regional"]:
        assert hubs.loc[ids[r], "load"] == close(pop[after["regional"] == r].sum())
    prop = run["layer"]("satellite_proposals")
    links = [(x["core_id"], x["satellite_id"], x["specialty"])
             for p in run["s"]["network"]["satellite_planning"] for x in p["links"]]
    assert sorted(zip(prop["core_id"], prop["satellite_id"], prop["specialty"],
                      strict=True)) == sorted(links)
    F = run["F"]
    assert prop["time_min"].to_numpy() == pytest.approx(
        [F[pos[c], pos[s]] for c, s in zip(prop["core_id"], prop["satellite_id"], strict=True)])


def test_remaining_summary_keys(run, network, plans):
    """The summary's counts of tables, nodes and links, and the plan's per-regional rows,
    counted again from the cells, the facilities and the brute-force parents."""
    s, active, near, pop, D = run["s"], run["active"], run["near"], run["pop"], run["D"]
    tables = s["access"]["cost_tables"]
    cutoff = run["cfg"].travel.cutoff_min
    tiers = [t for t in ("station", *HOSPITALS) if (active["tier"] == t).any()]
    assert tables["nearest_per_tier"]["pairs"] == sum(
        int(np.isfinite(near[t][0]).sum()) for t in tiers)
    catch = run["cfg"].access.e2sfca.catchment_min
    supplied = np.flatnonzero((active["tier"].isin(HOSPITALS) & active["beds"].notna()
                               | active["doctors"].notna()).to_numpy())
    assert tables["catchment"]["facilities"] == len(supplied)
    assert tables["catchment"]["pairs"] == int((D[:, supplied] <= catch).sum())
    assert tables["nearest_per_tier"]["cutoff_min"] == cutoff
    n = s["network"]
    assert n["nodes"]["by_tier"] == {t: int((active["tier"] == t).sum()) for t in
                                     ("station", "regional", "provincial")}
    assert n["nodes"]["total"] == len(active)
    assert n["top"] == sorted(active.loc[active["tier"] == "provincial", "facility_id"])
    ids, b = network["ids"], network["base"]
    official = plans["official"]
    role = dict(zip(official["facility_id"], official["plan_role"], strict=True))
    for r in n["plan"]["per_regional"]:
        k = int(np.flatnonzero(ids == r["facility_id"])[0])
        children = [ids[c] for c, p in b["st_parent"].items() if p == k]
        assert r["stations_before"] == len(children)
        assert r["population_before"] == close(pop[b["regional"] == k].sum())
        # after: main stations refer to their nearest regional hospital as before
        assert r["main_stations_after"] == sum(role[c] == "main station" for c in children)
    assert sum(r["branches_after"] for r in n["plan"]["per_regional"]) == 140
    rows = _rows(run)
    for row in rows.values():
        assert row["population_per_service_point"] == close(pop.sum() / row["service_points"])
        assert row["covered_30min_share"] == close(row["covered_30min"] / pop.sum())
