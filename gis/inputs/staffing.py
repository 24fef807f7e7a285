"""Staff and beds of the facilities: figures per facility (the facilities layer, a staffing
table) and province totals spread over the facilities whose figure is unknown, by a stated rule.

Every figure keeps where it comes from in a ``<field>_source`` column of the facilities layer
(``doctors_source``, ``nurses_source``, ``beds_source``): the facility's source when the
facilities layer gives it, the staffing table's source, ``"unknown"``, or, for a spread figure,
a text starting with ``"estimate:"`` that states the total, the rule and the cap, so the maps,
the report and summary.json label it as an estimate wherever it shows.

The spread rule (``[capacity.totals]`` of the config)
-----------------------------------------------------
A total ``<tier>_<field>`` (e.g. ``station_doctors = 168``) covers the active facilities of the
tier. What the facilities already give is subtracted; the rest is spread over the active
facilities of the tier whose figure is unknown:

- ``spread = "population"``: in proportion to the people each facility serves. A commune
  station serves its pre-2025 commune (``legacy_commune_code``): the weight is that commune's
  population. A hospital serves the communes nearest to it among the active hospitals of its
  tier (straight line from each commune's representative point; the pre-2025 communes when
  their population is known, else the post-2025 communes); hospitals at the same site share
  their communes' population equally. With no population known, the rule falls back to
  ``equal``.
- ``spread = "equal"``: the same to each.

``max_per_commune`` caps the figure of one post-2025 commune (all its facilities of the tier,
given and spread together): the spread is then water-filled, ``min(cap_c, lambda x weight_c)``
per commune with ``lambda`` chosen so that the spread adds up to the rest of the total exactly,
and each commune's share goes to its facilities in proportion to their weights. Spread figures
are not rounded: they add up to the total (to floating-point rounding), which is what a
capacity analysis needs; they are estimates of a distribution, not head counts.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
from scipy.spatial import cKDTree

from gis.errors import LayerError
from gis.inputs import validate as V

log = logging.getLogger(__name__)

FIELDS = ("doctors", "nurses", "beds")
RULES = ("population", "equal")
# Tiers whose facilities serve a pre-2025 commune of their own (its population is the weight).
OWN_COMMUNE_TIERS = ("station", "branch")
TIER_PLURAL = {"station": "stations", "regional": "regional hospitals",
               "provincial": "provincial hospitals", "central": "central hospitals",
               "branch": "branch points"}


def with_sources(facilities: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """A copy with ``doctors_source``, ``nurses_source``, ``beds_source``: the facility's
    ``source`` where the figure is known, ``"unknown"`` where it is not (columns already
    present are kept)."""
    out = facilities.copy()
    src = (out["source"].fillna("").astype(str) if "source" in out
           else pd.Series("", index=out.index))
    for f in FIELDS:
        col = f"{f}_source"
        if col in out:
            continue
        known = out[f].notna()
        out[col] = np.where(known, np.where(src != "", src, "facilities layer"), "unknown")
    return out


def apply_staffing(facilities: gpd.GeoDataFrame, table: pd.DataFrame, *,
                   source: str) -> gpd.GeoDataFrame:
    """The staffing table's figures over the facilities layer's.

    Parameters
    ----------
    facilities : GeoDataFrame
        The facilities layer (:mod:`gis.inputs.layers`).
    table : DataFrame
        From :func:`gis.inputs.readers.read_staffing`: ``facility_id``, ``doctors``,
        ``nurses``, ``beds`` (NaN = not given), ``source``.
    source : str
        The table's file, for messages.

    Returns
    -------
    GeoDataFrame
        A copy; where the table gives a figure it replaces the layer's, and
        ``<field>_source`` says it came from the table.

    Raises
    ------
    LayerError
        Ids of the table that are not in the facilities layer (all listed).
    """
    out = with_sources(facilities)
    ids = out["facility_id"].astype(str)
    unknown = ~table["facility_id"].isin(set(ids))
    if unknown.any():
        examples = ", ".join(sorted(ids[ids.str.startswith("TYT-")])[:2]) or "none"
        raise LayerError(source, [
            f"field 'facility_id', {V.rows_text(table, unknown.to_numpy(), id_field='facility_id')}"
            f": not a facility of the facilities layer; use its ids (commune stations are "
            f"TYT-<pre-2025 commune code>, e.g. {examples})"])
    pos = pd.Series(np.arange(len(out)), index=ids.to_numpy())
    rows = pos.loc[table["facility_id"]].to_numpy()
    for f in FIELDS:
        given = table[f].to_numpy(float)
        have = ~np.isnan(given)
        if not have.any():
            continue
        old = out[f].to_numpy(float)[rows[have]]
        changed = int((~np.isnan(old) & (old != given[have])).sum())
        if changed:
            log.info("%s: %d %s figures replace those of the facilities layer", source,
                     changed, f)
        col = out.columns.get_loc(f)
        scol = out.columns.get_loc(f"{f}_source")
        out.iloc[rows[have], col] = given[have]
        out.iloc[rows[have], scol] = table["source"].to_numpy(object)[have]
    return out


@dataclass(frozen=True)
class Spread:
    """What :func:`spread_totals` did with one total (JSON-ready by :meth:`as_dict`)."""

    key: str
    tier: str
    field: str
    total: float
    given: float
    given_facilities: int
    spread: float
    facilities: int
    rule: str
    cap_per_commune: float | None
    label: str
    note: str = ""

    def as_dict(self) -> dict:
        return {"key": self.key, "tier": self.tier, "field": self.field, "total": self.total,
                "given": self.given, "given_facilities": self.given_facilities,
                "spread": self.spread, "facilities": self.facilities, "rule": self.rule,
                "cap_per_commune": self.cap_per_commune, "is_estimate": self.facilities > 0,
                "label": self.label, "note": self.note}


def nearest_population(facilities: gpd.GeoDataFrame, communes: gpd.GeoDataFrame) -> np.ndarray:
    """Population of the communes nearest each facility (straight line from each commune's
    representative point), among the given facilities; facilities at the same site share
    their communes' population equally. Communes with unknown population count as 0.

    Returns
    -------
    ndarray, shape (len(facilities),)
        Persons per facility (they add up to the communes' known population).
    """
    n = len(facilities)
    if n == 0:
        return np.zeros(0)
    fxy = facilities.geometry.get_coordinates().to_numpy()
    sites, site_of = np.unique(np.round(fxy, 3), axis=0, return_inverse=True)
    site_of = site_of.ravel()
    pts = communes.geometry.representative_point().get_coordinates().to_numpy()
    pop = communes["population"].fillna(0.0).to_numpy(float)
    _, nearest = cKDTree(sites).query(pts)
    per_site = np.bincount(nearest, weights=pop, minlength=len(sites))
    members = np.bincount(site_of, minlength=len(sites))
    return per_site[site_of] / members[site_of]


def _water_fill(need: float, weight: np.ndarray, cap: np.ndarray) -> np.ndarray:
    """``x_c = min(cap_c, lam * weight_c)`` with ``sum x = need`` (need <= sum of the caps of
    groups with weight > 0)."""
    x = np.zeros(len(weight))
    live = weight > 0
    ratio = np.where(live, cap / np.where(live, weight, 1.0), np.inf)
    order = np.flatnonzero(live)[np.argsort(ratio[live], kind="stable")]
    rest, wsum = need, float(weight[live].sum())
    k = 0
    while k < len(order):
        c = order[k]
        if rest / wsum * weight[c] <= cap[c]:
            break
        x[c] = cap[c]
        rest -= cap[c]
        wsum -= weight[c]
        k += 1
    if k < len(order):
        lam = rest / wsum
        x[order[k:]] = lam * weight[order[k:]]
    return x


def spread_totals(facilities: gpd.GeoDataFrame, *, totals: Mapping[str, float],
                  rule: str = "population", max_per_commune: Mapping[str, float] | None = None,
                  communes_legacy: gpd.GeoDataFrame | None = None,
                  communes: gpd.GeoDataFrame | None = None,
                  config_key: str = "capacity.totals", source: str = "[capacity.totals]"
                  ) -> tuple[gpd.GeoDataFrame, list[Spread]]:
    """Spread province totals over the facilities whose figure is unknown (module docstring).

    Parameters
    ----------
    facilities : GeoDataFrame
        The facilities layer (working CRS, metres) with ``tier``, ``status``,
        ``commune_code`` (post-2025) and the figures (NaN = unknown).
    totals : mapping
        ``"<tier>_<field>"`` -> province total, e.g. ``{"station_doctors": 168}``.
    rule : {"population", "equal"}
    max_per_commune : mapping, optional
        ``"<tier>_<field>"`` -> cap per post-2025 commune.
    communes_legacy, communes : GeoDataFrame, optional
        Commune polygons with ``population`` for the ``population`` rule.
    config_key, source : str
        The config key named in the labels, and where an error is (the config file).

    Returns
    -------
    (GeoDataFrame, list of Spread)
        A copy of the facilities with the spread figures and their ``<field>_source``
        labels, and what was done per total.

    Raises
    ------
    LayerError
        A total smaller than what the facilities already give, or larger than the caps
        allow.
    """
    if rule not in RULES:
        msg = f"spread rule: expected one of {', '.join(RULES)}, found {rule!r}"
        raise LayerError(source, [msg])
    caps = dict(max_per_commune or {})
    out = with_sources(facilities)
    done: list[Spread] = []
    problems: list[str] = []
    pop_layer = None
    for layer in (communes_legacy, communes):
        if layer is not None and len(layer) and layer["population"].notna().all():
            pop_layer = layer
            break
    for key, total in totals.items():
        tier, field = key.rsplit("_", 1)
        if field not in FIELDS:
            problems.append(f"{key}: unknown field {field!r}; use one of {', '.join(FIELDS)}")
            continue
        mask = ((out["tier"] == tier) & (out["status"] == "active")).to_numpy()
        idx = np.flatnonzero(mask)
        values = out[field].to_numpy(float)
        known = idx[~np.isnan(values[idx])]
        unknown = idx[np.isnan(values[idx])]
        given = math.fsum(values[known])
        plural = TIER_PLURAL.get(tier, tier)
        if given > total * (1 + 1e-9) + 1e-9:
            problems.append(f"{key} = {total:g}: the facilities already give {given:g} "
                            f"{field} for {len(known)} active {plural}; the total must be at "
                            f"least that: correct {config_key}.{key} or the figures")
            continue
        rest = max(total - given, 0.0)
        cap = caps.get(key)
        note = ""
        if not len(unknown):
            if rest > 1e-9:
                note = (f"the {len(known)} active {plural} give {given:g} {field}, "
                        f"{rest:g} less than the total, and none is unknown: nothing spread")
            done.append(Spread(key, tier, field, float(total), given, len(known), 0.0, 0,
                               rule, cap, "", note))
            continue
        used_rule = rule
        weights = np.ones(len(unknown))
        if rule == "population":
            if tier in OWN_COMMUNE_TIERS and communes_legacy is not None \
                    and communes_legacy["population"].notna().any():
                own = communes_legacy.set_index("commune_code")["population"]
                weights = (out["legacy_commune_code"].iloc[unknown].map(own).fillna(0.0)
                           .to_numpy(float))
                how = "in proportion to the population of each one's pre-2025 commune"
            elif pop_layer is not None:
                w_all = nearest_population(out.iloc[idx], pop_layer)
                weights = w_all[np.isin(idx, unknown)]
                how = ("in proportion to the population of the communes nearest each (straight "
                       "line)")
            if not weights.sum() > 0:
                weights = np.ones(len(unknown))
                used_rule = "equal"
                note = "no population known for these facilities: spread equally"
        if used_rule == "equal":
            how = "equally"
        codes = out["commune_code"].fillna("").astype(str).to_numpy()
        if cap is not None:
            ucodes, grp = np.unique(codes[unknown], return_inverse=True)
            grp = grp.ravel()
            w_c = np.bincount(grp, weights=weights, minlength=len(ucodes))
            known_c = pd.Series(values[known]).groupby(codes[known]).sum()
            room = np.maximum(cap - known_c.reindex(ucodes).fillna(0.0).to_numpy(), 0.0)
            most = float(room[w_c > 0].sum())
            if rest > most * (1 + 1e-9) + 1e-9:
                problems.append(f"{key} = {total:g}: with at most {cap:g} per post-2025 "
                                f"commune ({config_key}.max_per_commune.{key}) the {plural} "
                                f"can hold {given + most:g}; raise the cap or lower the total")
                continue
            x_c = _water_fill(rest, w_c, room)
            share = np.where(w_c[grp] > 0, weights / np.where(w_c[grp] > 0, w_c[grp], 1.0),
                             0.0)
            x = x_c[grp] * share
        else:
            x = rest * weights / weights.sum()
        if cap is not None:
            how = f"{how}, at most {cap:g} per post-2025 commune"
        n = len(unknown)
        if len(known):
            label = (f"estimate: {config_key}.{key} = {total:g} minus {given:g} given, "
                     f"spread over {n} {plural} ({how})")
        else:
            label = f"estimate: {config_key}.{key} = {total:g}, spread over {n} {plural} ({how})"
        col = out.columns.get_loc(field)
        scol = out.columns.get_loc(f"{field}_source")
        out.iloc[unknown, col] = x
        out.iloc[unknown, scol] = label
        done.append(Spread(key, tier, field, float(total), given, len(known), float(rest),
                           len(unknown), used_rule, cap, label, note))
    if problems:
        raise LayerError(source, problems)
    return out, done
