"""Consolidation plans: the official plan built from the registry, scenarios evaluated on a
demand surface and a sparse cost table (see :mod:`gis.model.costs`): population within each
threshold, travel-time statistics, people who lose access, population per station and doctors
needed for the per-station norm. Plans themselves are read and validated by
:mod:`gis.inputs.plans`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from gis.analyses import siting
from gis.errors import PlanError
from gis.inputs.plans import Plan, validate_plan
from gis.inputs.registry import ProvinceRegistry, normalise
from gis.model.costs import CostTable, nearest_open_time, subset_dests

log = logging.getLogger(__name__)


RULE_SINGLE = "the only former station of the commune"


RULE_SEAT = "the former station at the seat of the commune government"


RULE_DISTRICT_SEAT = "the former station of the former district seat, a thị trấn"


RULE_NEAREST = "the former station nearest to the registry centre of the new commune"


MAIN_RULE_TEXT = (
    "Main station per post-2025 commune: the only former station if there is one; else the one "
    "of the pre-2025 commune named as the seat of the commune government (field admin_center); "
    "else, when the seat is a former district or town government, the station of the former "
    "district seat (the thị trấn); else the one nearest to the registry centre of the commune."
)


def choose_main_stations(facilities: gpd.GeoDataFrame, communes: gpd.GeoDataFrame,
                         reg: ProvinceRegistry) -> pd.DataFrame:
    """One main station per post-2025 commune among its former stations (see ``MAIN_RULE_TEXT``).

    Returns
    -------
    DataFrame
        ``commune_code``, ``facility_id``, ``rule`` (which step of the rule decided).
    """
    st = facilities[(facilities["tier"] == "station") & (facilities["status"] == "active")]
    lg = reg.legacy.set_index("commune_code")
    centres = gpd.GeoSeries(shapely.points(reg.new["lon"], reg.new["lat"]), crs=4326,
                            index=reg.new["commune_code"]).to_crs(facilities.crs)
    seats = (communes.set_index("commune_code")["admin_center"]
             if "admin_center" in communes else pd.Series(dtype=str))
    rows = []
    for code in reg.new["commune_code"]:
        members = st[st["commune_code"] == code]
        if members.empty:
            continue
        if len(members) == 1:
            rows.append((code, members["facility_id"].iloc[0], RULE_SINGLE))
            continue
        seat = normalise(seats.get(code, "") or "")
        names = members["legacy_commune_code"].map(lg["commune_name"]).fillna("").map(normalise)
        hits = [(len(n), fid) for n, fid in zip(names, members["facility_id"], strict=True)
                if n and n in seat]
        if seat and hits:
            rows.append((code, max(hits)[1], f"{RULE_SEAT} ({seats[code]})"))
            continue
        types = members["legacy_commune_code"].map(lg["commune_type"])
        district_seat = any(k in seat for k in ("huyen", "thixa", "thiuy", "thanhpho"))
        if district_seat and (types == "Thị trấn").sum() == 1:
            rows.append((code, members.loc[types == "Thị trấn", "facility_id"].iloc[0],
                         f"{RULE_DISTRICT_SEAT} ({seats[code]})"))
            continue
        d = members.geometry.distance(centres[code])
        rows.append((code, members.loc[d.idxmin(), "facility_id"], RULE_NEAREST))
    return pd.DataFrame(rows, columns=["commune_code", "facility_id", "rule"])


def official_plan(facilities: gpd.GeoDataFrame, communes: gpd.GeoDataFrame,
                  reg: ProvinceRegistry, *, branches: bool = True,
                  main: pd.DataFrame | None = None, name: str | None = None) -> Plan:
    """The reform's plan built from the registry: one main station per post-2025 commune and
    the other former stations as branch points (``branches=True``) or closed.

    Parameters
    ----------
    main : DataFrame, optional
        ``commune_code``, ``facility_id``, ``rule`` of the main stations (default:
        :func:`choose_main_stations`).
    """
    if main is None:
        main = choose_main_stations(facilities, communes, reg)
    st = facilities[(facilities["tier"] == "station") & (facilities["status"] == "active")]
    is_main = st["facility_id"].isin(main["facility_id"])
    rule = st["facility_id"].map(main.set_index("facility_id")["rule"]).fillna(
        "kept as a branch point of the new commune's station" if branches
        else "closed: not the main station of its new commune")
    df = pd.DataFrame({
        "facility_id": st["facility_id"].to_numpy(),
        "action": np.where(is_main, "keep", "branch" if branches else "close"),
        "target_commune_code": st["commune_code"].to_numpy(),
        "rule": rule.to_numpy(),
    })
    label = name or (f"{len(main)} + branch points" if branches else f"{len(main)} only")
    plan = validate_plan(df, facilities, reg, source=f"plan '{label}'", name=label)
    return Plan(name=plan.name, actions=plan.actions, note=MAIN_RULE_TEXT)


def baseline_plan(facilities: gpd.GeoDataFrame, *, name: str = "today") -> Plan:
    """Every active station open, as today."""
    st = facilities[(facilities["tier"] == "station") & (facilities["status"] == "active")]
    df = pd.DataFrame({"facility_id": st["facility_id"].to_numpy(), "action": "keep",
                       "target_commune_code": st["commune_code"].to_numpy(), "role": "",
                       "rule": "open today", "x": np.nan, "y": np.nan})
    return Plan(name=name, actions=df)


def plan_facilities(plan: Plan, facilities: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """The station layer under a plan: existing stations with their action and role, plus new
    sites as points. Columns of the facilities layer plus ``action``, ``plan_role``,
    ``target_commune_code``."""
    a = plan.actions.set_index("facility_id")
    st = facilities[facilities["facility_id"].isin(a.index)].copy()
    st["action"] = st["facility_id"].map(a["action"])
    st["target_commune_code"] = st["facility_id"].map(a["target_commune_code"])
    new = a[a["action"] == "new"]
    if len(new):
        add = gpd.GeoDataFrame({
            "facility_id": new.index.to_numpy(), "name": [f"New site {i}" for i in new.index],
            "tier": "station", "commune_code": new["target_commune_code"].to_numpy(),
            "status": "planned", "location_source": "plan", "source": f"plan '{plan.name}'",
            "action": "new", "target_commune_code": new["target_commune_code"].to_numpy(),
        }, geometry=shapely.points(new["x"].to_numpy(), new["y"].to_numpy()),
            crs=facilities.crs)
        st = gpd.GeoDataFrame(pd.concat([st, add], ignore_index=True), crs=facilities.crs)
    main = set(plan.main_ids())
    st["plan_role"] = np.where(st["facility_id"].isin(main), "main station",
                               np.where(st["action"] == "close", "closed", "branch point"))
    return st


@dataclass(frozen=True)
class Evaluation:
    """Scenario figures on a demand surface.

    Attributes
    ----------
    scenario : str
    province : dict
        Province figures (JSON-serialisable).
    communes : DataFrame
        Per post-2025 commune: population, covered per threshold, mean time, people losing
        access, stations, population per station, doctors needed.
    time_min : ndarray
        Time to the nearest open station per demand cell (inf beyond the cut-off).
    """

    scenario: str
    province: dict
    communes: pd.DataFrame
    time_min: np.ndarray = field(repr=False)


def _weighted_quantile(values: np.ndarray, weights: np.ndarray, q: float) -> float:
    order = np.argsort(values)
    v, w = values[order], weights[order]
    cum = np.cumsum(w)
    if cum[-1] <= 0:
        return float("nan")
    i = int(np.searchsorted(cum, q * cum[-1], side="left"))
    return float(v[min(i, len(v) - 1)])


def evaluate(plan: Plan, *, population: np.ndarray, commune_codes: np.ndarray,
             costs: CostTable, thresholds_min: tuple[float, ...],
             doctors_per_station: float, baseline_time_min: np.ndarray | None = None,
             with_branches: bool = True, station_doctors: pd.Series | None = None) -> Evaluation:
    """Evaluate one scenario: who is how far from the nearest open station.

    Parameters
    ----------
    plan : Plan
    population : ndarray
        Persons per demand cell (origin of ``costs``).
    commune_codes : ndarray
        Post-2025 commune of each demand cell.
    costs : CostTable
        Demand cells -> stations (destinations must include the plan's new sites).
    thresholds_min : tuple of float
        Inclusive thresholds in minutes.
    doctors_per_station : float
        Norm (Ha Tinh: 4 doctors per commune health unit by 2027).
    baseline_time_min : ndarray, optional
        Times of the baseline scenario; people within a threshold there but not here "lose
        access".
    with_branches : bool
        Whether branch points count as service points.
    station_doctors : Series, optional
        Doctors per station id, when known; otherwise the shortfall is reported as unknown.
    """
    population = np.asarray(population, dtype=float)
    open_ids = set(plan.open_ids(with_branches=with_branches))
    open_mask = np.array([i in open_ids for i in costs.dest_ids])
    missing = open_ids - set(costs.dest_ids)
    if missing:
        msg = f"plan '{plan.name}': open sites missing from the cost table: {sorted(missing)[:5]}"
        raise PlanError(f"plan '{plan.name}'", [msg])
    t, _ = nearest_open_time(costs, open_mask)
    reach = np.isfinite(t)
    pop_total = float(population.sum())
    prov: dict = {"scenario": plan.name, "service_points": int(open_mask.sum()),
                  "main_stations": int(len(plan.main_ids())), "population": pop_total}
    for thr in thresholds_min:
        cov = float(population[t <= thr].sum())
        prov[f"covered_{thr:g}min"] = cov
        prov[f"covered_{thr:g}min_share"] = cov / pop_total if pop_total else None
        if baseline_time_min is not None:
            lose = (baseline_time_min <= thr) & (t > thr)
            prov[f"losing_{thr:g}min"] = float(population[lose].sum())
    w = population[reach]
    prov["mean_time_min"] = float(np.average(t[reach], weights=w)) if w.sum() > 0 else None
    prov["p90_time_min"] = _weighted_quantile(t[reach], w, 0.9) if w.sum() > 0 else None
    prov["max_time_min"] = float(t[reach & (population > 0)].max()) if (reach & (population > 0)
                                                                         ).any() else None
    prov["population_beyond_cutoff"] = float(population[~reach].sum())
    prov["cutoff_min"] = costs.cutoff_min
    n_main = len(plan.main_ids())
    prov["population_per_main_station"] = pop_total / n_main if n_main else None
    prov["population_per_service_point"] = (pop_total / open_mask.sum() if open_mask.sum()
                                            else None)
    prov["doctors_needed"] = doctors_per_station * n_main
    if station_doctors is not None and station_doctors.notna().all():
        have = float(station_doctors.reindex(plan.main_ids()).fillna(0).sum())
        prov["doctors_shortfall"] = max(prov["doctors_needed"] - have, 0.0)
    else:
        prov["doctors_shortfall"] = None
        prov["doctors_shortfall_note"] = "unknown: doctors per station not given"
    # Per commune
    df = pd.DataFrame({"commune_code": commune_codes, "population": population, "time": t})
    df["pt"] = np.where(reach, t, 0) * population
    df["reach_pop"] = np.where(reach, population, 0)
    g = df.groupby("commune_code")
    out = pd.DataFrame({"population": g["population"].sum()})
    for thr in thresholds_min:
        out[f"covered_{thr:g}min"] = (df["population"] * (df["time"] <= thr)).groupby(
            df["commune_code"]).sum()
        if baseline_time_min is not None:
            lose = (baseline_time_min <= thr) & (t > thr)
            out[f"losing_{thr:g}min"] = (df["population"] * lose).groupby(df["commune_code"]).sum()
    with np.errstate(invalid="ignore", divide="ignore"):
        out["mean_time_min"] = g["pt"].sum() / g["reach_pop"].sum()
    a = plan.actions
    mains = a[a["facility_id"].isin(plan.main_ids())].groupby("target_commune_code").size()
    pts = a[a["facility_id"].isin(open_ids)].groupby("target_commune_code").size()
    out["main_stations"] = mains.reindex(out.index).fillna(0).astype(int)
    out["service_points"] = pts.reindex(out.index).fillna(0).astype(int)
    with np.errstate(invalid="ignore", divide="ignore"):
        out["population_per_station"] = out["population"] / out["main_stations"].replace(0, np.nan)
    out["doctors_needed"] = out["main_stations"] * doctors_per_station
    return Evaluation(scenario=plan.name, province=prov, communes=out.reset_index(),
                      time_min=t)


def comparison_table(evaluations: list[Evaluation]) -> pd.DataFrame:
    """One row per scenario with the province figures (for JSON, CSV and the report)."""
    return pd.DataFrame([e.province for e in evaluations])


@dataclass
class PlansResult:
    """Scenarios evaluated for a province.

    Attributes
    ----------
    plans : dict
        Scenario name -> :class:`Plan`.
    evaluations : list of Evaluation
    table : DataFrame
        :func:`comparison_table` of the scenarios (also written as CSV and JSON).
    layers : dict
        ``plan_stations`` (the official "69 only" plan: main stations and closed sites),
        ``plan_stations_branches`` (the "69 + branch points" plan), ``losing_access`` (demand
        units that lose access within the station threshold under "69 only"),
        ``plan_communes`` (per post-2025 commune figures of each scenario).
    summary : dict
        The ``plans`` section of summary.json.
    official : Plan
        The official plan with branch points (the reform's plan).
    """

    plans: dict[str, Plan]
    evaluations: list[Evaluation]
    table: pd.DataFrame
    layers: dict[str, gpd.GeoDataFrame]
    summary: dict
    official: Plan | None = None


def run_plans(facilities: gpd.GeoDataFrame, communes: gpd.GeoDataFrame,
              reg: ProvinceRegistry, *, demand: gpd.GeoDataFrame, costs: CostTable,
              thresholds_min: tuple[float, ...], doctors_per_station: float,
              cover_min: float = 30.0, extra_plans: list[Plan] | None = None,
              optimise: bool = True, curve_ks: tuple[int, ...] | None = None) -> PlansResult:
    """Evaluate the reform's scenarios and the best alternatives.

    Scenarios: every station open today; the official plan with the other former stations as
    branch points, and with them closed; the best main station per commune (minimum
    population-weighted travel inside the commune), branch points closed; the fewest branch
    points that keep everyone within ``cover_min`` of a station with the main stations fixed
    open (set cover); the unconstrained p-median over the same sites with p = number of
    communes (the price of the one-station-per-commune rule); plus ``extra_plans``.

    Parameters
    ----------
    demand : GeoDataFrame
        Demand units (``population``, ``commune_code``), the origins of ``costs``.
    costs : CostTable
        Demand units -> facilities (destinations may include hospitals: only stations count).
    thresholds_min : tuple of float
        Station thresholds, minutes (inclusive).
    cover_min : float
        T of the set-cover scenario, minutes.
    """
    st = facilities[(facilities["tier"] == "station") & (facilities["status"] == "active")]
    pop = demand["population"].to_numpy(float)
    codes = demand["commune_code"].to_numpy()
    official = official_plan(facilities, communes, reg, branches=True)
    only = official_plan(facilities, communes, reg, branches=False)
    n = len(official.main_ids())
    today = baseline_plan(facilities, name=f"{len(st)} today")
    plans: dict[str, Plan] = {today.name: today, official.name: official, only.name: only}
    station_mask = np.isin(costs.dest_ids, st["facility_id"].to_numpy())
    sc = subset_dests(costs, station_mask)
    notes: dict[str, dict] = {}
    # People no station reaches within the cut-off (far islands) are beyond every plan: the
    # location models leave them out; the evaluations count them as beyond every threshold.
    reached = np.zeros(sc.n_origins, bool)
    reached[sc.origin] = True
    unreached = float(pop[~reached].sum())
    opt_pop = np.where(reached, pop, 0.0)
    if optimise:
        if unreached > 0:
            notes["unreachable"] = {"population": unreached,
                                    "units": int((~reached & (pop > 0)).sum()),
                                    "note": f"no station within the cut-off of "
                                            f"{sc.cutoff_min:g} min: left out of the location "
                                            f"models"}
        site_commune = st.set_index("facility_id")["commune_code"].reindex(sc.dest_ids)
        best = siting.best_in_groups(sc, opt_pop, codes, site_commune.to_numpy())
        main = pd.DataFrame({"commune_code": best["group"].to_numpy(),
                             "facility_id": best["dest_id"].to_numpy(),
                             "rule": "minimum population-weighted travel time inside the "
                                     "commune"})
        best_plan = official_plan(facilities, communes, reg, branches=False, main=main,
                                  name=f"{n} with best main stations")
        plans[best_plan.name] = best_plan
        notes[best_plan.name] = {"rule": "per commune, the former station minimising the "
                                         "population-weighted travel time of its people",
                                 "exact": True, "gap": 0.0}
        cover = siting.set_cover(sc, opt_pop, cover_min, fixed_open=official.main_ids())
        branches = sorted(set(cover.open_ids) - set(official.main_ids()))
        a = official.actions.copy()
        a["action"] = np.where(a["facility_id"].isin(official.main_ids()), "keep",
                               np.where(a["facility_id"].isin(branches), "branch", "close"))
        name = f"{n} + fewest branch points for T = {cover_min:g} min"
        plans[name] = Plan(name=name, actions=a, note="set cover with the main stations open")
        notes[name] = {"branch_points": len(branches), "gap": cover.gap,
                       "status": cover.status,
                       "uncoverable_population": cover.uncovered_population}
        pm = siting.p_median(sc, opt_pop, n)
        free = pd.DataFrame({"facility_id": st["facility_id"].to_numpy(),
                             "action": np.where(st["facility_id"].isin(pm.open_ids), "keep",
                                                "close"),
                             "target_commune_code": st["commune_code"].to_numpy(),
                             "role": "", "rule": "p-median", "x": np.nan, "y": np.nan})
        name = f"{n} best sites ignoring commune borders (p-median)"
        plans[name] = Plan(name=name, actions=free, note="unconstrained p-median: a benchmark, "
                           "not a valid plan (some communes get two stations, some none)")
        notes[name] = {"gap": pm.gap, "status": pm.status,
                       "communes_without_station": int(len(set(communes["commune_code"]) - set(
                           st.loc[st["facility_id"].isin(pm.open_ids), "commune_code"])))}
        ks = curve_ks or tuple(sorted({0, 5, 10, 20, 40, 70, len(st) - n}))
        curve = siting.coverage_curve(sc, opt_pop, cover_min, fixed_open=official.main_ids(),
                                      ks=[k for k in ks if 0 <= k <= len(st) - n])
        notes["coverage_curve"] = {"time_min": cover_min, "points": [
            {"branch_points": c["k"], "covered_population": c["covered_population"],
             "gap": c.get("gap")} for c in curve]}
    for p in extra_plans or []:
        plans[p.name] = p
    base = evaluate(today, population=pop, commune_codes=codes, costs=costs,
                    thresholds_min=thresholds_min, doctors_per_station=doctors_per_station)
    evals = [base] + [evaluate(p, population=pop, commune_codes=codes, costs=costs,
                               thresholds_min=thresholds_min,
                               doctors_per_station=doctors_per_station,
                               baseline_time_min=base.time_min)
                      for name, p in plans.items() if name != today.name]
    for e in evals:
        extra = notes.get(e.scenario, {})
        e.province.update({k: v for k, v in extra.items() if k in ("gap", "branch_points")})
    table = comparison_table(evals)
    # Layers
    ev_only = next(e for e in evals if e.scenario == only.name)
    thr = cover_min if cover_min in thresholds_min else thresholds_min[len(thresholds_min) // 2]
    lose = (base.time_min <= thr) & (ev_only.time_min > thr)
    losing = demand.loc[lose, ["unit_id", "commune_code", "legacy_commune_code", "population",
                               "geometry"]].copy()
    losing["time_before_min"] = base.time_min[lose]
    losing["time_after_min"] = np.where(np.isfinite(ev_only.time_min[lose]),
                                        ev_only.time_min[lose], np.nan)
    losing["threshold_min"] = thr
    per_commune = []
    for e in evals:
        df = e.communes.copy()
        df.insert(0, "scenario", e.scenario)
        per_commune.append(df)
    pc = pd.concat(per_commune, ignore_index=True)
    layers = {
        "plan_stations": plan_facilities(only, facilities),
        "plan_stations_branches": plan_facilities(official, facilities),
        "losing_access": gpd.GeoDataFrame(losing, geometry="geometry", crs=demand.crs),
        "plan_communes": gpd.GeoDataFrame(
            pc.merge(communes[["commune_code", "commune_name", "geometry"]], on="commune_code",
                     how="left"), geometry="geometry", crs=communes.crs),
    }
    main_rules = official.actions.loc[official.actions["action"] == "keep", "rule"]
    summary = {
        "main_station_rule": MAIN_RULE_TEXT,
        "main_station_rule_counts": main_rules.str.replace(r" \(.*\)$", "", regex=True)
        .value_counts().to_dict(),
        "scenarios": table.to_dict("records"),
        "notes": {k: v for k, v in notes.items() if k != "coverage_curve"},
        "coverage_curve": notes.get("coverage_curve"),
        "losing_access": {"scenario": only.name, "threshold_min": thr,
                          "population": float(losing["population"].sum()),
                          "communes": int(losing["commune_code"].nunique())},
    }
    return PlansResult(plans=plans, evaluations=evals, table=table, layers=layers,
                       summary=summary, official=official)
