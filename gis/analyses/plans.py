"""Consolidation plans: the official plan built from the registry, scenarios evaluated on a
demand surface and a sparse cost table (see :mod:`gis.model.costs`): population within each
threshold, travel-time statistics, people who lose access, population per station and doctors
needed for the per-station norm. Plans themselves are read and validated by
:mod:`gis.inputs.plans`.
"""

from __future__ import annotations

import logging
import unicodedata
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from gis.analyses import siting
from gis.errors import PlanError
from gis.inputs.plans import Plan, validate_plan
from gis.inputs.registry import ProvinceRegistry, normalise
from gis.model.costs import (
    CostModel,
    CostTable,
    nearest_open_time,
    subset_dests,
    within_table,
)

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
        given = (new["name"].fillna("").astype(str) if "name" in new
                 else pd.Series("", index=new.index))
        add = gpd.GeoDataFrame({
            "facility_id": new.index.to_numpy(),
            "name": [g or f"New site {i}" for g, i in zip(given, new.index, strict=True)],
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
             costs: CostTable | CostModel, thresholds_min: tuple[float, ...],
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
    costs : CostTable or CostModel
        Demand cells -> stations (destinations must include the plan's new sites). A model
        answers from each cell's nearest stations, with an exact second query for the cells
        whose nearest are all closed (:func:`gis.model.costs.nearest_open_time`): the same
        times as the full table.
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
    counts = plan.counts()
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
    prov["person_min"] = float(np.sum(population[reach] * t[reach]))
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
    for action in ("keep", "branch", "close", "new"):
        prov[f"actions_{action}"] = counts[action]
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


#: Kinds of the built-in scenarios (``scenario_kind`` of each row of the scenario table):
#: ``today`` (every station open), ``official`` (the reform's plan: main stations plus every
#: other former station as a branch point), ``official_only`` (the main stations alone),
#: ``best_main`` (the best main station per commune), ``fewest_branches`` (the main stations
#: plus the fewest branch points that keep today's access within the cover time),
#: ``p_median`` (the best sites ignoring commune borders: a benchmark), ``user`` (a plan file).
SCENARIO_KINDS = ("today", "official", "official_only", "best_main", "fewest_branches",
                  "p_median", "user")


def plan_slug(kind: str, name: str, taken: set[str] | None = None) -> str:
    """A short name for a plan's layers (``plan_<slug>_stations``...): the kind for the
    built-in scenarios, ``user_<name>`` (ASCII letters, digits and ``_``) for plan files."""
    if kind != "user":
        base = kind
    else:
        text = unicodedata.normalize("NFKD", name.replace("đ", "d").replace("Đ", "D"))
        text = "".join(ch if ch.isalnum() and ch.isascii() else "_"
                       for ch in text.lower() if not unicodedata.combining(ch))
        base = "user_" + ("_".join(p for p in text.split("_") if p)[:40] or "plan")
    slug, k = base, 2
    while taken is not None and slug in taken:
        slug, k = f"{base}_{k}", k + 1
    if taken is not None:
        taken.add(slug)
    return slug


@dataclass
class PlansResult:
    """Scenarios evaluated for a province.

    Attributes
    ----------
    plans : dict
        Scenario name -> :class:`Plan`.
    evaluations : list of Evaluation
    table : DataFrame
        :func:`comparison_table` of the scenarios (also written as CSV and JSON), with
        ``scenario_kind`` and ``slug``.
    layers : dict
        ``plan_stations`` (the official "69 only" plan: main stations and closed sites),
        ``plan_stations_branches`` (the "69 + branch points" plan), ``losing_access`` (demand
        units that lose access within the station threshold under "69 only"),
        ``plan_communes`` (per post-2025 commune figures of each scenario); and for every
        scenario but today, ``plan_<slug>_stations`` (stations with their action: kept,
        branch point, closed, new), ``plan_<slug>_losing_access`` (demand units that lose
        access within the threshold) and ``plan_<slug>_communes`` (per commune, before and
        after).
    summary : dict
        The ``plans`` section of summary.json.
    official : Plan
        The official plan with branch points (the reform's plan).
    kinds : dict
        Scenario name -> (kind, slug).
    """

    plans: dict[str, Plan]
    evaluations: list[Evaluation]
    table: pd.DataFrame
    layers: dict[str, gpd.GeoDataFrame]
    summary: dict
    official: Plan | None = None
    kinds: dict[str, tuple[str, str]] = field(default_factory=dict)


def _no_step(label: str) -> AbstractContextManager:
    return nullcontext()


def _losing_cells(demand: gpd.GeoDataFrame, before: np.ndarray, after: np.ndarray,
                  thr: float, scenario: str) -> gpd.GeoDataFrame:
    """Demand units within ``thr`` of a station before and beyond it after."""
    lose = (before <= thr) & ~(after <= thr)
    out = demand.loc[lose, ["unit_id", "commune_code", "legacy_commune_code", "population",
                            "geometry"]].copy()
    out["time_before_min"] = before[lose]
    out["time_after_min"] = np.where(np.isfinite(after[lose]), after[lose], np.nan)
    out["threshold_min"] = thr
    out["scenario"] = scenario
    return gpd.GeoDataFrame(out, geometry="geometry", crs=demand.crs)


def _communes_before_after(base: Evaluation, ev: Evaluation, communes: gpd.GeoDataFrame,
                           thr: float) -> gpd.GeoDataFrame:
    """Per post-2025 commune: people within ``thr`` and mean time, today and under the plan,
    people losing access, service points before and after."""
    b = base.communes.set_index("commune_code")
    a = ev.communes.set_index("commune_code")
    k = f"{thr:g}min"
    df = pd.DataFrame({
        "scenario": ev.scenario,
        "population": a["population"],
        f"covered_{k}_before": b[f"covered_{k}"].reindex(a.index),
        f"covered_{k}_after": a[f"covered_{k}"],
        f"losing_{k}": a.get(f"losing_{k}", pd.Series(0.0, index=a.index)),
        "mean_time_before_min": b["mean_time_min"].reindex(a.index),
        "mean_time_after_min": a["mean_time_min"],
        "service_points_before": b["service_points"].reindex(a.index),
        "service_points_after": a["service_points"],
        "main_stations_after": a["main_stations"],
    }).reset_index()
    out = communes[["commune_code", "commune_name", "geometry"]].merge(df, on="commune_code",
                                                                        how="inner")
    return gpd.GeoDataFrame(out, geometry="geometry", crs=communes.crs)


def _named_communes(per_commune: pd.Series, names: pd.Series, top: int = 5) -> list[dict]:
    """The communes with the most people in ``per_commune`` (> 0), named."""
    s = per_commune[per_commune > 0].sort_values(ascending=False).head(top)
    return [{"commune_code": str(c), "commune_name": str(names.get(c, "")),
             "population": float(v)} for c, v in s.items()]


def _tables_used(queries: dict) -> dict:
    """What the model built for the plans: each table's kind, depth and pairs, and how many
    cells each scenario's score asked the second query for."""
    return {"distinct_points": queries["distinct_points"], "origins": queries["origins"],
            "tables": [dict(t) for t in queries["tables"]],
            "second_queries": [dict(q) for q in queries.get("second_queries", [])]}


def run_plans(facilities: gpd.GeoDataFrame, communes: gpd.GeoDataFrame,
              reg: ProvinceRegistry, *, demand: gpd.GeoDataFrame,
              costs: CostTable | CostModel,
              thresholds_min: tuple[float, ...], doctors_per_station: float,
              cover_min: float = 30.0, extra_plans: list[Plan] | None = None,
              optimise: bool = True, curve_ks: tuple[int, ...] | None = None,
              step: Callable[[str], AbstractContextManager] | None = None,
              time_limit_s: float | None = None) -> PlansResult:
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
    costs : CostTable or CostModel
        Demand units -> facilities (destinations may include hospitals: only stations count).
        A model gives each analysis the table it needs (see Notes); a table is used whole.
    thresholds_min : tuple of float
        Station thresholds, minutes (inclusive).
    cover_min : float
        T of the set-cover scenario, minutes.
    step : callable, optional
        ``step(label)`` returns a context manager around each model and each evaluation (the
        command line shows them as progress).
    time_limit_s : float, optional
        Time limit of each location model (set cover, p-median, each point of the coverage
        curve), wall seconds (default: 60 s, the p-median 120 s). A model stopped by it
        reports its gap; results then depend on the machine's speed and load.

    Notes
    -----
    Tables per analysis, with a :class:`~gis.model.costs.CostModel`: scenario scores
    and the p-median read each unit's nearest stations (deepened only where needed); the best
    main station the pairs inside each commune; the set cover and the coverage curve the pairs
    within ``cover_min``, merged once into covering rows (units with the same stations within
    ``cover_min``, population summed) that both models share. ``summary["cost_tables"]`` lists
    the tables built. The figures are those of the full table.
    """
    step = step or _no_step
    st = facilities[(facilities["tier"] == "station") & (facilities["status"] == "active")]
    names = communes.set_index("commune_code")["commune_name"]
    fac_names = facilities.set_index("facility_id")["name"]
    pop = demand["population"].to_numpy(float)
    codes = demand["commune_code"].to_numpy()
    official = official_plan(facilities, communes, reg, branches=True)
    only = official_plan(facilities, communes, reg, branches=False)
    n = len(official.main_ids())
    today = baseline_plan(facilities, name=f"{len(st)} today")
    plans: dict[str, Plan] = {today.name: today, official.name: official, only.name: only}
    kinds: dict[str, str] = {today.name: "today", official.name: "official",
                             only.name: "official_only"}
    station_mask = np.isin(costs.dest_ids, st["facility_id"].to_numpy())
    sc = subset_dests(costs, station_mask)
    notes: dict[str, dict] = {}
    extra_summary: dict = {}
    # People no station reaches within the cut-off (far islands) are beyond every plan: the
    # location models leave them out; the evaluations count them as beyond every threshold.
    reached = np.isfinite(nearest_open_time(sc, np.ones(sc.n_dests, bool))[0])
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
        with step("best main station per commune (exact enumeration)"):
            best = siting.best_in_groups(sc, opt_pop, codes, site_commune.to_numpy())
        main = pd.DataFrame({"commune_code": best["group"].to_numpy(),
                             "facility_id": best["dest_id"].to_numpy(),
                             "rule": "minimum population-weighted travel time inside the "
                                     "commune"})
        best_plan = official_plan(facilities, communes, reg, branches=False, main=main,
                                  name=f"{n} with best main stations")
        plans[best_plan.name] = best_plan
        kinds[best_plan.name] = "best_main"
        notes[best_plan.name] = {"rule": "per commune, the former station minimising the "
                                         "population-weighted travel time of its people",
                                 "exact": True, "gap": 0.0}
        off_main = official.actions[official.actions["action"] == "keep"].set_index(
            "target_commune_code")["facility_id"]
        changes = main.set_index("commune_code")["facility_id"]
        differ = [c for c in changes.index if off_main.get(c) != changes[c]]
        extra_summary["main_station_changes"] = [
            {"commune_code": str(c), "commune_name": str(names.get(c, "")),
             "official_id": str(off_main.get(c, "")),
             "official_name": str(fac_names.get(off_main.get(c, ""), "")),
             "best_id": str(changes[c]), "best_name": str(fac_names.get(changes[c], ""))}
            for c in differ]
        # the covering models' demand, merged once (units with the same stations within
        # cover_min) and shared by the set cover and the coverage curve
        cover_table = within_table(sc, cover_min)
        rows = siting.cover_rows(cover_table, opt_pop, cover_min, fixed_open=official.main_ids())
        with step(f"fewest branch points keeping today's {cover_min:g}-min access "
                  "(set cover)"):
            cover = siting.set_cover(cover_table, opt_pop, cover_min,
                                     fixed_open=official.main_ids(), rows=rows,
                                     time_limit_s=time_limit_s or 60.0)
        branches = sorted(set(cover.open_ids) - set(official.main_ids()))
        a = official.actions.copy()
        a["action"] = np.where(a["facility_id"].isin(official.main_ids()), "keep",
                               np.where(a["facility_id"].isin(branches), "branch", "close"))
        name = f"{n} + fewest branch points for T = {cover_min:g} min"
        plans[name] = Plan(name=name, actions=a, note="set cover with the main stations open")
        kinds[name] = "fewest_branches"
        notes[name] = {"branch_points": len(branches), "gap": cover.gap,
                       "status": cover.status,
                       "uncoverable_population": cover.uncovered_population}
        extra_summary["fewest_branch_points"] = {
            "time_min": cover_min, "gap": cover.gap, "status": cover.status,
            "uncoverable_population": cover.uncovered_population,
            "stations": [{"facility_id": str(f), "name": str(fac_names.get(f, "")),
                          "commune_code": str(st.set_index("facility_id")["commune_code"]
                                              .get(f, "")),
                          "commune_name": str(names.get(st.set_index("facility_id")
                                                        ["commune_code"].get(f, ""), ""))}
                         for f in branches]}
        with step(f"best {n} sites ignoring commune borders (p-median)"):
            # Ha Tinh: proven optimal in about 20 s on an idle machine, 60-90 s on a busy one
            pm = siting.p_median(sc, opt_pop, n, time_limit_s=time_limit_s or 120.0)
        free = pd.DataFrame({"facility_id": st["facility_id"].to_numpy(),
                             "action": np.where(st["facility_id"].isin(pm.open_ids), "keep",
                                                "close"),
                             "target_commune_code": st["commune_code"].to_numpy(),
                             "role": "", "rule": "p-median", "x": np.nan, "y": np.nan})
        name = f"{n} best sites ignoring commune borders (p-median)"
        plans[name] = Plan(name=name, actions=free, note="unconstrained p-median: a benchmark, "
                           "not a valid plan (some communes get two stations, some none)")
        kinds[name] = "p_median"
        notes[name] = {"gap": pm.gap, "status": pm.status,
                       "communes_without_station": int(len(set(communes["commune_code"]) - set(
                           st.loc[st["facility_id"].isin(pm.open_ids), "commune_code"])))}
        ks = curve_ks or tuple(sorted({0, 5, 10, 20, 40, 70, len(st) - n}))
        ks = tuple(k for k in ks if 0 <= k <= len(st) - n)
        with step(f"coverage curve: people within {cover_min:g} min for {len(ks)} numbers of "
                  "branch points (maximal covering)"):
            curve = siting.coverage_curve(cover_table, opt_pop, cover_min,
                                          fixed_open=official.main_ids(), rows=rows,
                                          ks=list(ks), time_limit_s=time_limit_s or 60.0)
        del cover_table, rows
        notes["coverage_curve"] = {"time_min": cover_min, "points": [
            {"branch_points": c["k"], "covered_population": c["covered_population"],
             "gap": c.get("gap")} for c in curve]}
    given: list[Plan] = []
    for p in extra_plans or []:
        if p.name in plans:  # a given plan named like a built-in scenario keeps both
            p = Plan(name=f"{p.name} (given plan)", actions=p.actions, note=p.note)
        plans[p.name] = p
        kinds[p.name] = "user"
        given.append(p)
    # Scores need the stations and the plans' new sites only (a plan opens nothing else): the
    # same times as on `costs`.
    new_site = ~np.isin(costs.dest_ids, facilities["facility_id"].to_numpy())
    score = sc if not new_site.any() else subset_dests(costs, station_mask | new_site)
    with step(f"evaluating scenario 1 of {len(plans)}: {today.name}"):
        base = evaluate(today, population=pop, commune_codes=codes, costs=score,
                        thresholds_min=thresholds_min, doctors_per_station=doctors_per_station)
    evals = [base]
    for i, (name, p) in enumerate((k, v) for k, v in plans.items() if k != today.name):
        with step(f"evaluating scenario {i + 2} of {len(plans)}: {name}"):
            evals.append(evaluate(p, population=pop, commune_codes=codes, costs=score,
                                  thresholds_min=thresholds_min,
                                  doctors_per_station=doctors_per_station,
                                  baseline_time_min=base.time_min))
    taken: set[str] = set()
    slugs = {name: plan_slug(kinds[name], name, taken) for name in plans}
    for e in evals:
        extra = notes.get(e.scenario, {})
        e.province.update({k: v for k, v in extra.items() if k in ("gap", "branch_points")})
        e.province["scenario_kind"] = kinds[e.scenario]
        e.province["slug"] = slugs[e.scenario]
    table = comparison_table(evals)
    # Layers
    thr = cover_min if cover_min in thresholds_min else thresholds_min[len(thresholds_min) // 2]
    ev_only = next(e for e in evals if e.scenario == only.name)
    losing = _losing_cells(demand, base.time_min, ev_only.time_min, thr, only.name)
    per_commune = []
    for e in evals:
        df = e.communes.copy()
        df.insert(0, "scenario", e.scenario)
        per_commune.append(df)
    pc = pd.concat(per_commune, ignore_index=True)
    layers = {
        "plan_stations": plan_facilities(only, facilities),
        "plan_stations_branches": plan_facilities(official, facilities),
        "losing_access": losing.drop(columns="scenario"),
        "plan_communes": gpd.GeoDataFrame(
            pc.merge(communes[["commune_code", "commune_name", "geometry"]], on="commune_code",
                     how="left"), geometry="geometry", crs=communes.crs),
    }
    per_plan = []
    for e in evals[1:]:
        slug = slugs[e.scenario]
        plan = plans[e.scenario]
        stations = plan_facilities(plan, facilities)
        stations.insert(0, "scenario", e.scenario)
        lose = _losing_cells(demand, base.time_min, e.time_min, thr, e.scenario)
        com = _communes_before_after(base, e, communes, thr)
        layers[f"plan_{slug}_stations"] = stations
        layers[f"plan_{slug}_losing_access"] = lose
        layers[f"plan_{slug}_communes"] = com
        per_commune_lose = lose.groupby("commune_code")["population"].sum()
        per_plan.append({
            "scenario": e.scenario, "kind": kinds[e.scenario], "slug": slug,
            "actions": plan.counts(), "threshold_min": thr,
            "losing_population": float(lose["population"].sum()),
            "losing_units": int(len(lose)),
            "losing_communes": int(per_commune_lose.gt(0).sum()),
            "losing_top": _named_communes(per_commune_lose, names),
            "layers": {"stations": f"plan_{slug}_stations",
                       "losing_access": f"plan_{slug}_losing_access",
                       "communes": f"plan_{slug}_communes"},
        })
    if given:  # the plans given, each layer holding them all (field scenario), as before
        layers["plan_stations_given"] = gpd.GeoDataFrame(pd.concat(
            [layers[f"plan_{slugs[p.name]}_stations"] for p in given], ignore_index=True),
            geometry="geometry", crs=facilities.crs)
        layers["losing_access_given"] = gpd.GeoDataFrame(pd.concat(
            [layers[f"plan_{slugs[p.name]}_losing_access"] for p in given], ignore_index=True),
            geometry="geometry", crs=demand.crs)
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
        "official": {"scenario": official.name, "official_only": only.name,
                     "main_stations": n, "stations_today": int(len(st))},
        "plans": per_plan,
        **extra_summary,
    }
    if isinstance(costs, CostModel):
        summary["cost_tables"] = _tables_used(costs.queries)
    return PlansResult(plans=plans, evaluations=evals, table=table, layers=layers,
                       summary=summary, official=official,
                       kinds={k: (kinds[k], slugs[k]) for k in plans})


# --- the optimiser's plans ------------------------------------------------------------------

#: Location models of :func:`optimise_plan`.
OPTIMISE_MODELS = ("best-main", "set-cover", "mclp", "p-median", "p-center")

#: What each model's objective measures (its unit).
OBJECTIVE_UNITS = {"best-main": "person-minutes to the commune's own main station",
                   "set-cover": "service points", "mclp": "people within {t} min",
                   "p-median": "person-minutes to the nearest service point",
                   "p-center": "minutes, the longest trip to the nearest service point"}


@dataclass
class OptimisedPlan:
    """A plan chosen by a location model.

    Attributes
    ----------
    model : str
        One of :data:`OPTIMISE_MODELS`.
    plan : Plan
        A valid plan (one main station per post-2025 commune): ``keep`` for the main
        stations, ``branch`` for the other open stations, ``close`` for the rest; ``gis plan
        evaluate`` reads it back.
    info : dict
        The model's figures: ``objective`` (in ``objective_unit``), ``bound``, ``gap``,
        ``status``, ``solve_time_s``, ``uncovered_population``, ``stats`` (for the
        p-center: ``sites_at_radius``, ``filled``, ``fill_rule``).
    objective_unit : str
    time_min : float
        Coverage time of set cover and MCLP, minutes.
    p : int
        Service points asked for (MCLP, p-median, p-center), or opened (set cover).
    fixed_open : int
        Stations forced open (``--fixed-open`` and the official main stations when kept).
    """

    model: str
    plan: Plan
    info: dict
    objective_unit: str
    time_min: float
    p: int
    fixed_open: int


def optimise_plan(facilities: gpd.GeoDataFrame, communes: gpd.GeoDataFrame,
                  reg: ProvinceRegistry, *, demand: gpd.GeoDataFrame, costs: CostTable,
                  model: str, time_min: float, p: int | None = None,
                  keep_official_mains: bool = False, fixed_open=(), fixed_closed=(),
                  time_limit_s: float = 120.0) -> OptimisedPlan:
    """A location model on the active stations whose answer is a plan.

    ``best-main`` picks each commune's main station (the former station with the least
    population-weighted travel for the commune's people) and closes the others. The other
    models choose which stations stay open as service points with at least one per
    post-2025 commune (the plan's rule: every commune has a main station), or, with
    ``keep_official_mains``, with the official main stations fixed open (the model then
    chooses the branch points). Open stations become the plan's ``keep`` (main station) and
    ``branch`` (branch points); the main station of a commune is its official main station
    when open, else its open station with the least population-weighted travel for the
    commune's people. Evaluating the plan (:func:`evaluate`, branch points counted) gives the
    model's objective: service points (set cover), people within ``time_min`` (MCLP),
    person-minutes (p-median), the longest trip (p-center).

    Parameters
    ----------
    demand : GeoDataFrame
        Demand units (``population``, ``commune_code``), the origins of ``costs``.
    costs : CostTable
        Demand units -> facilities (only the active stations are candidates).
    model : str
        One of :data:`OPTIMISE_MODELS`.
    time_min : float
        Coverage time of set cover and MCLP, minutes.
    p : int, optional
        Service points in all (MCLP, p-median, p-center); default the number of communes with
        stations. Fewer than that cannot give every commune a main station.
    keep_official_mains : bool
        Fix the official main stations open.
    fixed_open, fixed_closed : sequence of str
        Station ids forced open / closed.

    Raises
    ------
    GisError
        An unknown model; ``p`` below the number of communes.
    """
    if model not in OPTIMISE_MODELS:
        msg = f"unknown model {model!r}; use one of {', '.join(OPTIMISE_MODELS)}"
        raise PlanError("gis plan optimise", [msg])
    st = facilities[(facilities["tier"] == "station") & (facilities["status"] == "active")]
    sc = subset_dests(costs, np.isin(costs.dest_ids, st["facility_id"].to_numpy()))
    pop = demand["population"].to_numpy(float)
    codes = demand["commune_code"].to_numpy()
    commune_of = st.set_index("facility_id")["commune_code"]
    site_commune = commune_of.reindex(sc.dest_ids).to_numpy()
    mains = official_plan(facilities, communes, reg, branches=False).main_ids()
    n = len(mains)
    unit = OBJECTIVE_UNITS[model].format(t=f"{time_min:g}")
    name = f"optimised {model}"
    if model == "best-main":
        best = siting.best_in_groups(sc, pop, codes, site_commune)
        main = pd.DataFrame({"commune_code": best["group"].to_numpy(),
                             "facility_id": best["dest_id"].to_numpy(),
                             "rule": "minimum population-weighted travel time inside the "
                                     "commune"})
        plan = official_plan(facilities, communes, reg, branches=False, main=main, name=name)
        info = {"model": "best main station per commune", "objective":
                float(best["objective"].sum()), "bound": float(best["objective"].sum()),
                "gap": 0.0, "status": "optimal", "uncovered_population":
                float(best["unreachable_population"].sum())}
        return OptimisedPlan(model=model, plan=plan, info=info, objective_unit=unit,
                             time_min=float(time_min), p=n, fixed_open=0)
    fixed = list(dict.fromkeys(list(fixed_open) + (mains if keep_official_mains else [])))
    p = n if p is None else int(p)
    if model != "set-cover" and p < n:
        msg = (f"--p {p} is fewer than the {n} post-2025 communes: a plan needs a main station "
               f"in every commune; give --p {n} or more")
        raise PlanError("gis plan optimise", [msg])
    kw = {"fixed_open": fixed, "fixed_closed": list(fixed_closed),
          "site_groups": site_commune}
    if model == "set-cover":
        res = siting.set_cover(sc, pop, time_min, time_limit_s=time_limit_s, **kw)
    elif model == "mclp":
        res = siting.mclp(sc, pop, time_min, p, time_limit_s=time_limit_s, **kw)
    elif model == "p-median":
        res = siting.p_median(sc, pop, p, time_limit_s=time_limit_s, **kw)
    else:
        res = siting.p_center(sc, pop, p, time_limit_s=time_limit_s, **kw)
    open_ids = set(res.open_ids)
    is_open = st["facility_id"].isin(open_ids).to_numpy()
    # main station per commune: the official one when open, else the best open one
    main_of: dict[str, str] = {}
    official_main = {commune_of[f]: f for f in mains}
    for code, fid in official_main.items():
        if fid in open_ids:
            main_of[code] = fid
    need = sorted(set(st.loc[is_open, "commune_code"]) - set(main_of))
    if need:
        open_mask = np.isin(sc.dest_ids, list(open_ids))
        best = siting.best_in_groups(sc, pop, codes,
                                     np.where(open_mask, site_commune, None))
        best = best[best["group"].isin(need)]
        main_of.update(dict(zip(best["group"], best["dest_id"], strict=True)))
    main_ids = set(main_of.values())
    label = {"set-cover": "set cover", "mclp": "maximal covering", "p-median": "p-median",
             "p-center": "p-center"}[model]
    action = np.where(st["facility_id"].isin(main_ids), "keep",
                      np.where(is_open, "branch", "close"))
    rule = np.where(
        action == "keep",
        np.where(st["facility_id"].isin(mains), "main station: the official main station, "
                 f"kept open by the {label}",
                 f"main station: the station the {label} keeps open with the least travel "
                 "for the commune's people"),
        np.where(action == "branch", f"branch point: kept open by the {label}",
                 f"closed: not chosen by the {label}"))
    df = pd.DataFrame({"facility_id": st["facility_id"].to_numpy(), "action": action,
                       "target_commune_code": st["commune_code"].to_numpy(), "rule": rule})
    checked = validate_plan(df, facilities, reg, source=f"plan '{name}'", name=name)
    plan = Plan(name=name, actions=checked.actions,
                note=f"gis plan optimise --model {model}: {unit} = {res.objective:,.6g}")
    info = res.as_dict()
    info.pop("open_ids", None)
    info.pop("added_ids", None)
    return OptimisedPlan(model=model, plan=plan, info=info, objective_unit=unit,
                         time_min=float(time_min),
                         p=int(res.n_open) if model == "set-cover" else p,
                         fixed_open=len(fixed))
