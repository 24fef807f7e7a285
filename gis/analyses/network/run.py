"""The front function: every network analysis of a province, its layers and its summary
section, before and after a plan."""


from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import shapely

from gis.analyses.network.chains import (
    chain_statistics,
    commune_chains,
    hub_load,
    node_chains,
    primary_thresholds,
    referral_chains,
    thresholds_by_level,
)
from gis.analyses.network.graph import (
    HOSPITAL_TIERS,
    REFERRAL,
    ROLE_BRANCH,
    ROLE_MAIN,
    SATELLITE,
    TIER_RANK,
    build_graph,
    facility_costs,
    offering,
    parent_map,
    plan_sites,
    referral_graph,
    specialties,
)
from gis.analyses.network.impact import loss_impact
from gis.analyses.network.layers import edge_layer, hubs_layer
from gis.analyses.network.satellites import SatelliteChoice, SatelliteRequest, satellite_planning
from gis.errors import GisError
from gis.inputs.network_tables import check_referral_table, check_satellite_links
from gis.jsonable import to_jsonable
from gis.model.costs import CostModel, CostTable, within_table
from gis.model.travel import TravelModel, extend_costs, straight_model

log = logging.getLogger(__name__)

#: The referral rule, as the summary states it.
RULE = ("branch point -> main station of its commune; station -> nearest regional hospital "
        "within the cut-off; regional -> provincial general hospital; provincial -> its central "
        "satellite core, else the nearest central hospital (when any); a referral table "
        "overrides the rule")
#: The rule when stations with no regional hospital within the cut-off refer to the nearest.
RULE_BEYOND_CUTOFF = (
    "branch point -> main station of its commune; station -> nearest regional hospital within "
    "the cut-off (beyond it when none is within); regional -> provincial general hospital; "
    "provincial -> its central satellite core, else the nearest central hospital (when any); a "
    "referral table overrides the rule")

@dataclass
class NetworkResult:
    """Everything :func:`run_network` computed.

    Attributes
    ----------
    graph : networkx.DiGraph
        Today's network (:func:`build_graph`).
    layers : dict
        For the GeoPackage: ``referral_edges``, ``satellite_edges`` (when links are given),
        ``hubs``, ``referral_chains`` (per commune, polygons); with a plan also
        ``referral_edges_plan``, ``hubs_plan``, ``referral_chains_plan``; with satellite
        requests ``satellite_proposals``.
    summary : dict
        JSON-serialisable ``network`` section of summary.json.
    chains : DataFrame
        Per demand unit (:func:`referral_chains`).
    hubs, loss : DataFrame
        :func:`hub_load` and :func:`loss_impact`.
    graph_plan, chains_plan : optional
        The network and chains after the plan.
    facility_costs : CostTable
    """

    graph: nx.DiGraph
    layers: dict[str, gpd.GeoDataFrame]
    summary: dict[str, Any]
    chains: pd.DataFrame
    hubs: pd.DataFrame
    loss: pd.DataFrame
    facility_costs: CostTable
    graph_plan: nx.DiGraph | None = None
    chains_plan: pd.DataFrame | None = None
    satellite_choices: list[SatelliteChoice] = field(default_factory=list)


def _records(df: pd.DataFrame, cols: Sequence[str]) -> list[dict[str, Any]]:
    return to_jsonable(df[[c for c in cols if c in df]].to_dict("records"))


def _regional_table(G: nx.DiGraph, hubs: pd.DataFrame) -> list[dict[str, Any]]:
    R = referral_graph(G)
    rows = []
    for r in hubs[hubs["tier"] == "regional"].itertuples():
        children = list(R.predecessors(r.facility_id))
        rows.append({"facility_id": r.facility_id, "name": r.name,
                     "stations": sum(G.nodes[c]["tier"] == "station" for c in children),
                     "branches": int(r.branches), "population": float(r.load)})
    return sorted(rows, key=lambda x: x["facility_id"])


def _network_figures(G: nx.DiGraph, chains: pd.DataFrame, hubs: pd.DataFrame,
                     pop: np.ndarray, thresholds_min: Mapping[str, Any]) -> dict[str, Any]:
    tiers = pd.Series([d.get("tier") for _, d in G.nodes(data=True)])
    kinds = pd.Series([d.get("kind") for _, _, d in G.edges(data=True)], dtype=object)
    nc = node_chains(G)
    return {
        "nodes": {"total": G.number_of_nodes(),
                  "by_tier": {t: int((tiers == t).sum()) for t in TIER_RANK if (tiers == t).any()}},
        "edges": {"referral": int((kinds == REFERRAL).sum()),
                  "satellite": int((kinds == SATELLITE).sum())},
        "top": sorted(set(nc.loc[nc["parent_id"] == "", :].index)
                      & {n for n, d in G.nodes(data=True) if d["tier"] in HOSPITAL_TIERS}),
        "stations_per_regional": _regional_table(G, hubs),
        "chains": chain_statistics(chains, pop, thresholds_min=thresholds_min),
    }


def compare_networks(before: dict[str, Any], after: dict[str, Any], *,
                     chains_before: pd.DataFrame, chains_after: pd.DataFrame,
                     population: np.ndarray, G_after: nx.DiGraph, plan: Any) -> dict[str, Any]:
    """The network before and after a plan: counts, stations and people per regional
    hospital, chain times, people whose regional hospital changes, and consistency checks
    (every main station under a regional hospital, every branch point under the main station
    of its commune)."""
    pop = np.asarray(population, float)
    reg_b = {r["facility_id"]: r for r in before["stations_per_regional"]}
    reg_a = {r["facility_id"]: r for r in after["stations_per_regional"]}
    per_regional = []
    for fid in sorted(set(reg_b) | set(reg_a)):
        b, a = reg_b.get(fid, {}), reg_a.get(fid, {})
        per_regional.append({"facility_id": fid, "name": a.get("name", b.get("name", "")),
                             "stations_before": b.get("stations", 0),
                             "main_stations_after": a.get("stations", 0),
                             "branches_after": a.get("branches", 0),
                             "population_before": b.get("population", 0.0),
                             "population_after": a.get("population", 0.0)})
    changed = chains_before["regional_id"].to_numpy() != chains_after["regional_id"].to_numpy()
    checks = []
    main_of = {}
    if plan is not None:
        a = plan.actions
        main_of = dict(zip(a.loc[a["facility_id"].isin(plan.main_ids()), "target_commune_code"],
                           a.loc[a["facility_id"].isin(plan.main_ids()), "facility_id"],
                           strict=True))
    parent = parent_map(G_after)
    for n, d in G_after.nodes(data=True):
        if d.get("role") == ROLE_MAIN and G_after.nodes.get(parent.get(n), {}).get(
                "tier") != "regional":
            checks.append(f"main station {n} does not refer to a regional hospital")
        if d.get("role") == ROLE_BRANCH and parent.get(n) != main_of.get(d.get("commune_code")):
            checks.append(f"branch point {n} does not refer to the main station of its commune")
    level_cmp = {}
    for lv, rec in after["chains"].items():
        brec = before["chains"].get(lv, {})
        level_cmp[lv] = {k: {"before": brec.get(k), "after": rec.get(k)}
                         for k in ("mean_time_min", "p90_time_min", "max_time_min")}
        if "beyond" in rec:
            level_cmp[lv]["beyond"] = {t: {"before": brec.get("beyond", {}).get(t),
                                           "after": v,
                                           "change": v - brec.get("beyond", {}).get(t, 0.0)}
                                       for t, v in rec["beyond"].items()}
    return {
        "plan": getattr(plan, "name", ""),
        "actions": plan.counts() if plan is not None else {},
        "nodes_by_tier": {"before": before["nodes"]["by_tier"],
                          "after": after["nodes"]["by_tier"]},
        "per_regional": per_regional,
        "chains": level_cmp,
        "population_changing_regional_hospital": float(pop[changed].sum()),
        "consistency_problems": checks,
    }


def run_network(
    facilities: gpd.GeoDataFrame,
    communes: gpd.GeoDataFrame,
    *,
    demand: pd.DataFrame,
    costs: CostTable | CostModel,
    speed_kmh: float | None = None,
    detour_factor: float | None = None,
    cutoff_min: float,
    thresholds_min: Mapping[str, float | Sequence[float]],
    beds_per_10k: float,
    referrals: pd.DataFrame | None = None,
    satellite_links: pd.DataFrame | None = None,
    plan: Any = None,
    travel: TravelModel | None = None,
    demand_travel: TravelModel | None = None,
    loss_candidates: Iterable[str] | None = None,
    satellite_requests: Sequence[SatelliteRequest] = (),
    refer_beyond_cutoff: bool = False,
) -> NetworkResult:
    """Build the referral and satellite network and run every analysis on it.

    Parameters
    ----------
    facilities, communes : GeoDataFrame
        Layers of :mod:`gis.inputs.layers` in the working CRS.
    demand : DataFrame
        Demand units (``population``, ``commune_code``, ``x``, ``y``), e.g.
        ``AccessResult.demand``.
    costs : CostTable or CostModel
        Demand units -> active facilities (``AccessResult.cost_model``, or the full table
        ``AccessResult.costs``). A model answers the first contact by one nearest-site query
        per set of service points, and satellite planning with the pairs within its time to
        the hospitals only.
    speed_kmh, detour_factor : float, optional
        The straight-line model between facilities (when ``travel`` is None).
    cutoff_min : float
        The cut-off of the access stage.
    travel : TravelModel, optional
        The travel model between facilities (the transfer mode; see
        :func:`gis.analyses.network.facility_costs`).
    demand_travel : TravelModel, optional
        The model that built ``costs`` (the access stage's), for the plan's new sites when
        ``costs`` is a table (default ``travel``); a model costs them itself.
    thresholds_min : mapping
        Level -> minutes (station = first contact, regional, provincial, central, chain =
        the whole chain), e.g. the config's ``access.thresholds_min``.
    beds_per_10k : float
        Beds target per 10,000 people.
    referrals, satellite_links : DataFrame, optional
        :func:`gis.inputs.readers.read_referrals`, :func:`gis.inputs.readers.read_satellite_links`.
    plan : gis.inputs.plans.Plan, optional
        Also build the network after the plan and compare.
    loss_candidates : ids, optional
        Facilities for the loss-impact ranking (default every hospital, active or ended).
    satellite_requests : sequence of SatelliteRequest
        Satellite-planning questions.
    refer_beyond_cutoff : bool
        A station with no regional hospital within the cut-off refers to the nearest one
        anyway, with a warning (see :func:`build_graph`).

    Raises
    ------
    NetworkError
        Every problem of the tables or the graph, naming facility ids.
    """
    th = thresholds_by_level(thresholds_min)
    if referrals is not None:
        referrals = check_referral_table(referrals)
    if satellite_links is not None:
        satellite_links = check_satellite_links(satellite_links)
    sites = plan_sites(plan, facilities.crs)
    if travel is None:
        if speed_kmh is None or detour_factor is None:
            msg = "run_network: give travel=, or speed_kmh= and detour_factor="
            raise GisError(msg)
        travel = straight_model(mode="", speed_kmh=speed_kmh, detour_factor=detour_factor)
    fcosts = facility_costs(facilities, travel=travel, plan=plan)
    common = dict(facility_costs=fcosts, cutoff_min=cutoff_min, referrals=referrals,
                  satellite_links=satellite_links, refer_beyond_cutoff=refer_beyond_cutoff)
    G = build_graph(facilities, **common, name="referral network")
    pop = demand["population"].to_numpy(float)
    chains = referral_chains(G, demand=demand, costs=costs)
    hubs = hub_load(G, chains, pop, beds_per_10k=beds_per_10k)
    loss = loss_impact(facilities, **common, demand=demand, costs=costs, thresholds_min=th,
                       candidates=loss_candidates, base=(G, chains))
    crs = facilities.crs
    layers: dict[str, gpd.GeoDataFrame] = {"referral_edges": edge_layer(G, REFERRAL)}
    if satellite_links is not None:
        layers["satellite_edges"] = edge_layer(G, SATELLITE)
    hub_gdf = hubs_layer(hubs, crs)
    if not loss.empty:
        lk = loss.set_index("facility_id")
        hub_gdf["loss_rank"] = hub_gdf["facility_id"].map(lk["rank"])
        hub_gdf["loss_moved_beyond"] = hub_gdf["facility_id"].map(lk["population_moved_beyond"])
    layers["hubs"] = hub_gdf
    layers["referral_chains"] = commune_chains(chains, demand, communes, G, thresholds_min=th)
    figures = _network_figures(G, chains, hubs, pop, th)
    total = float(pop.sum())
    summary: dict[str, Any] = {
        "travel_model": {"between_facilities": fcosts.mode, **travel.describe(),
                         "cutoff_min": cutoff_min},
        "rule": RULE_BEYOND_CUTOFF if refer_beyond_cutoff else RULE,
        "referral_table": None if referrals is None else {"rows": int(len(referrals))},
        **figures,
        "population": total,
        "thresholds_min": {k: list(v) for k, v in th.items()},
        "hubs": _records(hubs, ["facility_id", "name", "tier", "load", "stations", "branches",
                                "direct_referrals", "beds", "beds_per_10k",
                                "beds_target_per_10k", "beds_needed", "meets_beds_target",
                                "doctors", "betweenness"]),
        "beds_note": ("beds per 10,000 of each hub's catchment against the target of "
                      f"{beds_per_10k:g}; unknown beds stay unknown (null), never 0"),
        "loss_impact": {
            "judged_at_min": primary_thresholds(th),
            "ranking": _records(loss, [c for c in loss.columns]),
        },
        "validation": {"problems": list(G.graph["problems"]),
                       "warnings": list(G.graph["warnings"])},
    }
    if satellite_links is not None:
        sat = [(u, v, d) for u, v, d in G.edges(data=True) if d.get("kind") == SATELLITE]
        cores: dict[str, int] = {}
        for u, _, _ in sat:
            cores[u] = cores.get(u, 0) + 1
        specs = sorted({s for *_, d in sat for s in specialties(d.get("specialty"))})
        summary["satellites"] = {"links": len(sat), "rows": int(len(satellite_links)),
                                 "satellites_per_core": dict(sorted(cores.items())),
                                 "specialties": specs}
    choices = []
    if satellite_requests:
        plans_out, prop = [], []
        # the pairs satellite planning reads: within its time, to the hospitals and the sites
        # offering a requested specialty
        sat_ids = {n for n, d in G.nodes(data=True) if d.get("tier") in HOSPITAL_TIERS}
        for req in satellite_requests:
            sat_ids |= set(offering(G, req.specialty)) | set(req.cores or ()) \
                | set(req.candidates or ())
        sat_costs = within_table(
            costs, max(r.within_min for r in satellite_requests),
            dest_mask=np.isin(np.asarray(costs.dest_ids).astype(str), sorted(sat_ids))
            if isinstance(costs, CostModel) else None)
        for req in satellite_requests:
            choice, links = satellite_planning(G, req, demand=demand, costs=sat_costs,
                                               facility_costs=fcosts)
            choices.append(choice)
            plans_out.append({"specialty": req.specialty, "k": req.k,
                              "within_min": req.within_min, "method": choice.method,
                              "exact": choice.exact, "combinations": choice.combinations,
                              "covered_before": choice.covered_before,
                              "covered_after": choice.covered_after,
                              "upper_bound": choice.upper_bound,
                              "links": _records(links, list(links.columns))})
            for r in links.itertuples():
                prop.append({"from_id": r.core_id, "to_id": r.satellite_id,
                             "core_id": r.core_id, "satellite_id": r.satellite_id,
                             "specialty": r.specialty, "time_min": r.time_min,
                             "dist_m": r.dist_m, "gain": r.gain,
                             "kind": "proposed satellite",
                             "geometry": shapely.LineString(
                                 [(G.nodes[r.core_id]["x"], G.nodes[r.core_id]["y"]),
                                  (G.nodes[r.satellite_id]["x"], G.nodes[r.satellite_id]["y"])])})
        summary["satellite_planning"] = plans_out
        if prop:
            layers["satellite_proposals"] = gpd.GeoDataFrame(pd.DataFrame(prop), crs=crs)
    G_plan = chains_plan = None
    if plan is not None:
        G_plan = build_graph(facilities, **common, plan=plan,
                             name=f"referral network (plan '{plan.name}')")
        costs_plan = extend_costs(costs, demand, sites, travel=demand_travel or travel)
        chains_plan = referral_chains(G_plan, demand=demand, costs=costs_plan)
        hubs_plan = hub_load(G_plan, chains_plan, pop, beds_per_10k=beds_per_10k)
        after = _network_figures(G_plan, chains_plan, hubs_plan, pop, th)
        summary["plan"] = {**compare_networks(figures, after, chains_before=chains,
                                              chains_after=chains_plan, population=pop,
                                              G_after=G_plan, plan=plan),
                           "after": after,
                           "warnings": list(G_plan.graph["warnings"])}
        layers["referral_edges_plan"] = edge_layer(G_plan, REFERRAL)
        layers["hubs_plan"] = hubs_layer(hubs_plan, crs)
        layers["referral_chains_plan"] = commune_chains(chains_plan, demand, communes, G_plan,
                                                        thresholds_min=th)
    return NetworkResult(graph=G, layers=layers, summary=to_jsonable(summary), chains=chains,
                         hubs=hubs, loss=loss, facility_costs=fcosts, graph_plan=G_plan,
                         chains_plan=chains_plan, satellite_choices=choices)
