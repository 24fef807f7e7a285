"""Loss impact: the people who fall beyond the thresholds when a hospital is lost (and what the
closure of an ended one did)."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd

from gis.analyses.network.chains import (
    chains_of,
    first_contact,
    level_column,
    node_chains,
    primary_thresholds,
    thresholds_by_level,
)
from gis.analyses.network.graph import (
    FIRST_CONTACT_TIERS,
    HOSPITAL_TIERS,
    LEVELS,
    build_graph,
    is_general,
)
from gis.errors import GisError
from gis.model.costs import CostTable

log = logging.getLogger(__name__)


class _ByFirstContact:
    """Demand units grouped by their first contact: a unit's chain is its first contact's
    chain, so the chains of a network need one row per distinct first contact, read per unit
    by its group (an exact aggregation: the same values as :func:`chains_of`)."""

    def __init__(self, first_contact_id: np.ndarray, first_contact_time_min: np.ndarray):
        codes, uniq = pd.factorize(np.asarray(first_contact_id, dtype=object))
        self.codes = codes
        self.uniq = pd.Index(uniq)
        self.t0 = np.asarray(first_contact_time_min, float)

    def view(self, G: nx.DiGraph) -> _ChainView:
        return _ChainView(G, self)


class _ChainView:
    """The chain columns of :func:`chains_of` for one network, computed per unit on demand
    from one row per first contact."""

    def __init__(self, G: nx.DiGraph, by: _ByFirstContact):
        nc = node_chains(G).reindex(by.uniq)
        self.by = by
        self.ids = {c: nc[c].fillna("").to_numpy(object)
                    for c in (*[f"{lv}_id" for lv in LEVELS], "top_id")}
        self.times = {f"{lv}_chain_time_min": nc[f"{lv}_time_min"].to_numpy(float)
                      for lv in LEVELS}
        self.times["chain_time_min"] = nc["top_time_min"].to_numpy(float)

    def __contains__(self, col: str) -> bool:
        return col in ("first_contact_id", "first_contact_time_min") or col in self.ids \
            or col in self.times

    def __getitem__(self, col: str) -> np.ndarray:
        if col == "first_contact_time_min":
            return self.by.t0
        return self.by.t0 + self.times[col][self.by.codes]

    def changed(self, other: _ChainView) -> np.ndarray:
        """Units whose chain ids differ (first contact, every level, top)."""
        diff = np.zeros(len(self.by.uniq), bool)
        for c, v in self.ids.items():
            diff |= v != other.ids[c]
        return diff[self.by.codes]


def _compare_chains(before: pd.DataFrame | _ChainView, after: pd.DataFrame | _ChainView,
                    pop: np.ndarray, *, primary: Mapping[str, float],
                    level: str) -> dict[str, Any]:
    """What changes for people between two chain tables (same demand units)."""
    if isinstance(before, _ChainView) and isinstance(after, _ChainView):
        changed = before.changed(after)
    else:
        ids = [c for c in ("first_contact_id", *[f"{lv}_id" for lv in LEVELS], "top_id")
               if c in before]
        changed = np.zeros(len(pop), bool)
        for c in ids:
            changed |= before[c].to_numpy() != after[c].to_numpy()
    rec: dict[str, Any] = {"population_rerouted": float(pop[changed].sum())}
    moved_any = np.zeros(len(pop), bool)
    for lv, thr in primary.items():
        col = level_column(lv)
        if col not in before:
            continue
        tb, ta = np.asarray(before[col], float), np.asarray(after[col], float)
        moved = (tb <= thr) & ~(ta <= thr)
        moved_any |= moved
        rec[f"moved_beyond_{lv}_{thr:g}min"] = float(pop[moved].sum())
    rec["population_moved_beyond"] = float(pop[moved_any].sum())
    col = level_column(level)
    tb, ta = np.asarray(before[col], float), np.asarray(after[col], float)
    both = np.isfinite(tb) & np.isfinite(ta)
    added = float((pop[both] * (ta[both] - tb[both])).sum())
    rec["added_person_min"] = added
    rer = both & changed
    rec["mean_added_min"] = (float(np.average(ta[rer] - tb[rer], weights=pop[rer]))
                             if pop[rer].sum() > 0 else 0.0)
    rec["population_losing_level"] = float(pop[np.isfinite(tb) & ~np.isfinite(ta)].sum())
    rec["level"] = level
    return rec


def _first_contacts(G: nx.DiGraph) -> list[str]:
    return sorted(n for n, d in G.nodes(data=True) if d.get("tier") in FIRST_CONTACT_TIERS)


def loss_impact(facilities: gpd.GeoDataFrame, *, facility_costs: CostTable, cutoff_min: float,
                demand: pd.DataFrame, costs: CostTable,
                thresholds_min: Mapping[str, float | Sequence[float]],
                candidates: Iterable[str] | None = None,
                referrals: pd.DataFrame | None = None,
                satellite_links: pd.DataFrame | None = None, plan: Any = None,
                base: tuple[nx.DiGraph, pd.DataFrame] | None = None,
                refer_beyond_cutoff: bool = False) -> pd.DataFrame:
    """Critical facilities: what the loss of each moves, ranked.

    For an active candidate the network is rebuilt without it (its children re-referred by the
    rule to the next nearest facility of its tier) and people's chains compared with today's.
    For an ended candidate (e.g. a closed medical centre) the network is rebuilt with it active
    and compared with today's: what its closure did.

    Parameters
    ----------
    facilities, facility_costs, cutoff_min, referrals, satellite_links, plan
        As for :func:`build_graph`.
    demand, costs
        As for :func:`referral_chains` (``demand`` needs ``population``).
    thresholds_min : mapping
        Levels -> minutes; a loss is judged at the middle threshold of each level.
    candidates : ids, optional
        Default: every hospital (regional, provincial, central) that is active, and every
        ended one.
    base : (graph, chains), optional
        Today's graph and chains when already computed.
    refer_beyond_cutoff : bool
        As for :func:`gis.analyses.network.graph.build_graph`.

    Returns
    -------
    DataFrame
        ``rank``, ``facility_id``, ``name``, ``tier``, ``status``, ``scenario`` ("loss" or
        "closure (compared with it active)"), ``note`` (another active facility of the tier on
        the same site, which takes over unchanged), ``stations_reassigned``,
        ``population_rerouted``,
        ``population_moved_beyond`` (newly beyond the threshold of any level),
        ``moved_beyond_<level>_<T>min``, ``added_person_min`` and ``mean_added_min`` (at the
        level of the facility's tier, among the people rerouted), ``population_losing_level``;
        ranked by people moved beyond, then person-minutes added.
    """
    pop = demand["population"].to_numpy(float)
    primary = primary_thresholds(thresholds_by_level(thresholds_min))
    kw = dict(facility_costs=facility_costs, cutoff_min=cutoff_min, referrals=referrals,
              satellite_links=satellite_links, plan=plan, strict=False,
              refer_beyond_cutoff=refer_beyond_cutoff)
    cache: dict = {}
    if base is None:
        g0 = build_graph(facilities, **kw)
        base = (g0, chains_of(g0, demand.index, first_contact(g0, costs, cache)))
    g0, c0 = base
    if candidates is None:
        hosp = facilities["tier"].isin(HOSPITAL_TIERS)
        candidates = facilities.loc[hosp & facilities["status"].isin(["active", "ended"]),
                                    "facility_id"].tolist()
    fac = facilities.set_index("facility_id")
    sc0 = node_chains(g0)
    # A network with the same first contacts as today's gives every unit the same first
    # contact: its chains are read per first contact (no table per unit, no second query).
    first0 = _first_contacts(g0)
    by = _ByFirstContact(c0["first_contact_id"].to_numpy(object),
                         c0["first_contact_time_min"].to_numpy(float))
    v0 = by.view(g0)
    rows = []
    for fid in candidates:
        if fid not in fac.index:
            msg = f"loss impact: unknown facility {fid}"
            raise GisError(msg)
        status = fac.at[fid, "status"]
        tier = fac.at[fid, "tier"]
        if status == "active":
            g = build_graph(facilities, exclude=[fid], **kw)
            after = (by.view(g) if _first_contacts(g) == first0 else
                     chains_of(g, demand.index, first_contact(g, costs, cache)))
            before, scenario = (v0 if isinstance(after, _ChainView) else c0), "loss"
            nb, na = sc0, node_chains(g)
        else:
            g = build_graph(facilities, include=[fid], **kw)
            before = (by.view(g) if _first_contacts(g) == first0 else
                      chains_of(g, demand.index, first_contact(g, costs, cache)))
            after = v0 if isinstance(before, _ChainView) else c0
            scenario = "closure (compared with it active)"
            nb, na = node_chains(g), sc0
        level = "station" if tier in FIRST_CONTACT_TIERS else tier
        same = fac[(fac["tier"] == tier) & (fac["status"] == "active") & (fac.index != fid)]
        if tier == "provincial":  # only a general hospital takes over a general one's role
            gen = is_general(fac.at[fid, "specialty"]) if "specialty" in fac else False
            same = same[same["specialty"].map(is_general) == gen] if "specialty" in fac \
                else same
        here = same.index[same.geometry.distance(fac.at[fid, "geometry"]) < 1.0].tolist()
        rec = {"facility_id": fid, "name": fac.at[fid, "name"], "tier": tier, "status": status,
               "scenario": scenario,
               "note": f"same site as {', '.join(here)} (same tier)" if here else ""}
        firsts = {n for H in (g0, g) for n, d in H.nodes(data=True)
                  if d.get("tier") in FIRST_CONTACT_TIERS}
        common = [n for n in nb.index.intersection(na.index) if n in firsts]
        moved = (nb.loc[common, ["regional_id", "provincial_id"]].to_numpy()
                 != na.loc[common, ["regional_id", "provincial_id"]].to_numpy()).any(axis=1)
        rec["stations_reassigned"] = int(moved.sum())
        rec.update(_compare_chains(before, after, pop, primary=primary, level=level))
        rows.append(rec)
    df = pd.DataFrame(rows)
    if df.empty:
        return df
    df = df.sort_values(["population_moved_beyond", "added_person_min", "facility_id"],
                        ascending=[False, False, True]).reset_index(drop=True)
    df.insert(0, "rank", np.arange(1, len(df) + 1))
    return df
