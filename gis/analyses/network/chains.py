"""Referral chains of demand units and communes (cumulative travel time up the chain), their
statistics, and the load behind every hub."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd

from gis.analyses.network.graph import (
    FIRST_CONTACT_TIERS,
    HOSPITAL_TIERS,
    LEVELS,
    THRESHOLD_KEYS,
    parent_map,
    referral_graph,
)
from gis.errors import GisError, NetworkError
from gis.inputs import validate as V
from gis.model.costs import CostTable, nearest

log = logging.getLogger(__name__)


def node_chains(G: nx.DiGraph) -> pd.DataFrame:
    """The referral chain of every node, with cumulative travel time along it.

    Returns
    -------
    DataFrame
        Indexed by facility_id: ``parent_id`` ("" at the top), ``path`` (ids joined by
        " -> "), ``top_id``, ``top_time_min``, and per level of :data:`LEVELS` ``<level>_id``
        (the first facility of that tier on the chain, the node itself included; "" when the
        chain has none) and ``<level>_time_min`` (minutes from the node to it, NaN when none).
    """
    parent = parent_map(G)
    rows = []
    for n in G.nodes:
        rec: dict[str, Any] = {"facility_id": n, "parent_id": parent.get(n, "")}
        for lv in LEVELS:
            rec[f"{lv}_id"], rec[f"{lv}_time_min"] = "", np.nan
        cur, t, path, seen = n, 0.0, [n], set()
        while True:
            lv = G.nodes[cur].get("tier")
            if lv in LEVELS and rec[f"{lv}_id"] == "":
                rec[f"{lv}_id"], rec[f"{lv}_time_min"] = cur, t
            seen.add(cur)
            nxt = parent.get(cur)
            if nxt is None or nxt in seen:
                break
            t += G.edges[cur, nxt]["time_min"]
            cur = nxt
            path.append(cur)
        rec.update(top_id=cur, top_time_min=t, path=" -> ".join(path))
        rows.append(rec)
    cols = ["facility_id", "parent_id", "path", "top_id", "top_time_min",
            *[f"{lv}_{s}" for lv in LEVELS for s in ("id", "time_min")]]
    return pd.DataFrame(rows, columns=cols).set_index("facility_id")


def level_column(level: str) -> str:
    return {"station": "first_contact_time_min", "chain": "chain_time_min"}.get(
        level, f"{level}_chain_time_min")


def referral_chains(G: nx.DiGraph, *, demand: pd.DataFrame, costs: CostTable) -> pd.DataFrame:
    """The referral chain of every demand unit: first contact, then up the referral edges.

    A person goes to the nearest service point (station or branch point of ``G``), then along
    the referral edges. Cumulative times add the first leg and the edges.

    Parameters
    ----------
    G : networkx.DiGraph
        From :func:`build_graph`.
    demand : DataFrame
        Demand units (the origins of ``costs``), indexed like the result.
    costs : CostTable
        Demand units -> facilities; its destinations must include every station and branch
        point of ``G``.

    Returns
    -------
    DataFrame
        Indexed like ``demand``: ``first_contact_id``, ``first_contact_time_min``, per level
        ``<level>_id`` and ``<level>_chain_time_min`` (station, regional, provincial, central),
        ``top_id`` and ``chain_time_min`` (to the top of the chain). NaN / "" when the unit
        reaches no service point within the table's cut-off or the chain lacks the level.
    """
    return chains_of(G, demand.index, first_contact(G, costs))


def first_contact(G: nx.DiGraph, costs: CostTable,
                   cache: dict | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Nearest service point of ``G`` (id, "" when none) and its time per demand unit."""

    first = sorted(n for n, d in G.nodes(data=True) if d.get("tier") in FIRST_CONTACT_TIERS)
    key = (id(costs), tuple(first))
    if cache is not None and key in cache:
        return cache[key]
    dest_ids = np.asarray(costs.dest_ids).astype(str)
    missing = sorted(set(first) - set(dest_ids))
    if missing:
        raise NetworkError("cost table", [f"service points missing from the demand -> facility "
                                          f"cost table: {', '.join(missing[:V.MAX_LISTED])}; "
                                          f"compute the costs to every station and branch"])
    near = nearest(costs, np.isin(dest_ids, first))
    dpos = near["dest"].to_numpy()
    fc = np.where(dpos >= 0, dest_ids[np.maximum(dpos, 0)], "")
    out = (fc, near["time_min"].to_numpy(float))
    if cache is not None:
        cache[key] = out
    return out


def chains_of(G: nx.DiGraph, index: pd.Index,
            first_contact: tuple[np.ndarray, np.ndarray]) -> pd.DataFrame:
    fc, t0 = first_contact
    nc = node_chains(G)
    out = pd.DataFrame({"first_contact_id": fc, "first_contact_time_min": t0}, index=index)
    looked = nc.reindex(pd.Index(fc))
    for lv in LEVELS:
        out[f"{lv}_id"] = looked[f"{lv}_id"].fillna("").to_numpy()
        out[f"{lv}_chain_time_min"] = t0 + looked[f"{lv}_time_min"].to_numpy(float)
    out["top_id"] = looked["top_id"].fillna("").to_numpy()
    out["chain_time_min"] = t0 + looked["top_time_min"].to_numpy(float)
    return out


def thresholds_by_level(thresholds_min: Mapping[str, float | Sequence[float]]) -> dict[str, tuple]:
    out: dict[str, tuple[float, ...]] = {}
    for key, v in thresholds_min.items():
        if key == "branch":  # a config tier without a level of its own: first contact is station
            continue
        if key not in THRESHOLD_KEYS:
            msg = (f"thresholds_min: unknown level {key!r}; use {', '.join(THRESHOLD_KEYS)} "
                   f"(station = first contact, chain = the whole chain)")
            raise GisError(msg)
        vals = (float(v),) if isinstance(v, int | float) else tuple(float(x) for x in v)
        if vals:
            out[key] = vals
    return out


def primary_thresholds(thresholds: Mapping[str, tuple[float, ...]]) -> dict[str, float]:
    """The threshold a loss is judged by: the middle one of each level (as the access stage's
    under-served rule)."""
    return {k: v[len(v) // 2] for k, v in thresholds.items()}


def _wquantile(values: np.ndarray, weights: np.ndarray, q: float) -> float | None:
    ok = np.isfinite(values) & (weights > 0)
    if not ok.any():
        return None
    order = np.argsort(values[ok])
    v, w = values[ok][order], weights[ok][order]
    cum = np.cumsum(w)
    return float(v[min(int(np.searchsorted(cum, q * cum[-1])), len(v) - 1)])


def chain_statistics(chains: pd.DataFrame, population: np.ndarray, *,
                     thresholds_min: Mapping[str, float | Sequence[float]]) -> dict[str, Any]:
    """Population-weighted chain times and the population beyond each threshold.

    Parameters
    ----------
    chains : DataFrame
        From :func:`referral_chains`.
    population : ndarray
        Persons per demand unit.
    thresholds_min : mapping
        Level (station = first contact, regional, provincial, central, chain = the whole
        chain) -> minutes (one or several; inclusive: a person exactly at it is within).

    Returns
    -------
    dict
        Per level: ``mean_time_min``, ``median_time_min``, ``p90_time_min``, ``max_time_min``,
        ``population_reached``, ``population_without`` (no such level in reach) and
        ``beyond`` (threshold -> persons beyond it, those without included).
    """
    pop = np.asarray(population, float)
    th = thresholds_by_level(thresholds_min)
    out: dict[str, Any] = {}
    for lv in ("station", "regional", "provincial", "central", "chain"):
        col = level_column(lv)
        if col not in chains:
            continue
        t = chains[col].to_numpy(float)
        if lv == "central" and not np.isfinite(t).any() and lv not in th:
            continue
        reach = np.isfinite(t)
        w = pop[reach]
        rec: dict[str, Any] = {
            "measured": ("time to the nearest station or branch point" if lv == "station" else
                         "cumulative time along the referral chain" + (" to its top"
                                                                       if lv == "chain" else "")),
            "mean_time_min": float(np.average(t[reach], weights=w)) if w.sum() > 0 else None,
            "median_time_min": _wquantile(t, pop, 0.5),
            "p90_time_min": _wquantile(t, pop, 0.9),
            "max_time_min": float(t[reach & (pop > 0)].max()) if (reach & (pop > 0)).any()
            else None,
            "population_reached": float(w.sum()),
            "population_without": float(pop[~reach].sum()),
        }
        if lv in th:
            rec["beyond"] = {f"{thr:g}": float(pop[~(t <= thr)].sum()) for thr in th[lv]}
        out[lv] = rec
    return out


def hub_load(G: nx.DiGraph, chains: pd.DataFrame, population: np.ndarray, *,
             beds_per_10k: float) -> pd.DataFrame:
    """Population and facilities behind every hospital, and beds per 10,000 of that catchment.

    Parameters
    ----------
    G : networkx.DiGraph
    chains : DataFrame
        :func:`referral_chains` of the demand units.
    population : ndarray
        Persons per demand unit.
    beds_per_10k : float
        Target (Ha Tinh 2030: 45 beds per 10,000 people).

    Returns
    -------
    DataFrame
        One row per hospital (regional, provincial, central): ``facility_id``, ``name``,
        ``tier``, ``load`` (persons whose chain passes through it), ``stations`` and
        ``branches`` (in its referral subtree), ``direct_referrals`` (facilities referring to
        it), ``beds``, ``beds_per_10k``, ``beds_target_per_10k``, ``beds_needed`` (to reach
        the target; NaN when beds are unknown, never 0), ``meets_beds_target`` (None when
        unknown), ``doctors``, ``betweenness`` (of the undirected referral tree), ``x``, ``y``.
        Sorted by tier (regional first), then load, largest first.
    """
    pop = np.asarray(population, float)
    R = referral_graph(G)
    between = nx.betweenness_centrality(R.to_undirected(as_view=True), normalized=True)
    load: dict[str, float] = {}
    for lv in HOSPITAL_TIERS:
        col = f"{lv}_id"
        if col in chains:
            s = pd.Series(pop, index=chains.index).groupby(chains[col].to_numpy()).sum()
            for k, v in s.items():
                if k:
                    load[k] = load.get(k, 0.0) + float(v)
    rows = []
    for n, d in G.nodes(data=True):
        if d.get("tier") not in HOSPITAL_TIERS:
            continue
        behind = nx.ancestors(R, n)
        tiers = [G.nodes[m].get("tier") for m in behind]
        people = load.get(n, 0.0)
        beds = d.get("beds", np.nan)
        known = beds is not None and np.isfinite(beds)
        per = beds / people * 1e4 if known and people > 0 else np.nan
        need = max(0.0, beds_per_10k * people / 1e4 - beds) if known else np.nan
        rows.append({
            "facility_id": n, "name": d.get("name", ""), "tier": d["tier"], "load": people,
            "stations": tiers.count("station"), "branches": tiers.count("branch"),
            "direct_referrals": R.in_degree(n), "beds": beds, "beds_per_10k": per,
            "beds_target_per_10k": beds_per_10k, "beds_needed": need,
            "meets_beds_target": (bool(per >= beds_per_10k) if np.isfinite(per) else None),
            "doctors": d.get("doctors", np.nan), "betweenness": between.get(n, 0.0),
            "x": d["x"], "y": d["y"]})
    df = pd.DataFrame(rows, columns=["facility_id", "name", "tier", "load", "stations",
                                     "branches", "direct_referrals", "beds", "beds_per_10k",
                                     "beds_target_per_10k", "beds_needed", "meets_beds_target",
                                     "doctors", "betweenness", "x", "y"])
    df["_r"] = df["tier"].map({t: i for i, t in enumerate(HOSPITAL_TIERS)})
    return (df.sort_values(["_r", "load", "facility_id"], ascending=[True, False, True])
            .drop(columns="_r").reset_index(drop=True))


def commune_chains(chains: pd.DataFrame, demand: pd.DataFrame, communes: gpd.GeoDataFrame,
                   G: nx.DiGraph, *, thresholds_min: Mapping[str, float | Sequence[float]]
                   ) -> gpd.GeoDataFrame:
    """The referral chain of every commune, with polygon geometry.

    The chain shown is the one of the station serving most of the commune's people; the
    times are population-weighted means over its demand units (first leg included).

    Returns
    -------
    GeoDataFrame
        ``commune_code``, ``commune_name``, ``population``, ``station_id``, ``regional_id``,
        ``regional_name``, ``provincial_id``, ``top_id``, ``path`` (ids, " -> "),
        ``path_time_min`` (along the edges from that station to the top),
        ``mean_first_contact_time_min``, ``mean_<level>_chain_time_min``, ``mean_chain_time_min``
        and ``beyond_<level>_<T>min`` (persons); communes' polygons in their CRS.
    """
    th = thresholds_by_level(thresholds_min)
    pop = demand["population"].to_numpy(float)
    df = chains.copy()
    df["population"] = pop
    df["commune_code"] = demand["commune_code"].to_numpy()
    nc = node_chains(G)
    per = df[df["station_id"] != ""].groupby(["commune_code", "station_id"])["population"].sum()
    dom = (per.reset_index().sort_values(["commune_code", "population", "station_id"],
                                         ascending=[True, False, True])
           .drop_duplicates("commune_code").set_index("commune_code")["station_id"])
    out = pd.DataFrame({"commune_code": communes["commune_code"].to_numpy(),
                        "commune_name": communes["commune_name"].to_numpy()})
    out["population"] = out["commune_code"].map(df.groupby("commune_code")["population"].sum()
                                                ).fillna(0.0)
    out["station_id"] = out["commune_code"].map(dom).fillna("")
    look = nc.reindex(pd.Index(out["station_id"]))
    out["regional_id"] = look["regional_id"].fillna("").to_numpy()
    out["regional_name"] = [G.nodes[r]["name"] if r else "" for r in out["regional_id"]]
    out["provincial_id"] = look["provincial_id"].fillna("").to_numpy()
    out["top_id"] = look["top_id"].fillna("").to_numpy()
    out["path"] = look["path"].fillna("").to_numpy()
    out["path_time_min"] = look["top_time_min"].to_numpy(float)
    # per commune, its units in their order (the sums below add them as a groupby would)
    code = df["commune_code"].to_numpy()
    groups, gcode = np.unique(code, return_inverse=True)
    order = np.argsort(gcode, kind="stable")
    bounds = np.searchsorted(gcode[order], np.arange(len(groups) + 1))
    for lv in ("station", "regional", "provincial", "central", "chain"):
        col = level_column(lv)
        if lv == "central" and not np.isfinite(df[col]).any():
            continue
        num = (df[col].fillna(0) * df["population"]).groupby(df["commune_code"]).sum()
        den = df["population"].where(df[col].notna(), 0).groupby(df["commune_code"]).sum()
        with np.errstate(invalid="ignore", divide="ignore"):
            out[f"mean_{col}"] = out["commune_code"].map(num / den.replace(0, np.nan))
        for thr in th.get(lv, ()):
            far = ~(df[col].to_numpy(float) <= thr)
            beyond = pd.Series([float(pop[o][far[o]].sum()) for o in
                                (order[a:b] for a, b in zip(bounds[:-1], bounds[1:],
                                                            strict=True))], index=groups)
            out[f"beyond_{lv}_{thr:g}min"] = out["commune_code"].map(beyond).fillna(0.0)
    return gpd.GeoDataFrame(out, geometry=communes.geometry.to_numpy(), crs=communes.crs)
