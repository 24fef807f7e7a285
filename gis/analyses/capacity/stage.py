"""The capacity stage: per tier, each facility's capacity from its staff or beds and a norm,
AccessMod's greedy and the order-independent optimum side by side, catchment layers; then
scaling up on candidate sites. Pure: tables in, results out (no file read or written).

Capacity of a facility (persons it can serve) = its figure x the tier's norm: doctors x people
per doctor, beds x people per bed, or one fixed number per facility (basis ``norm``). A facility
whose figure is unknown is left out of its tier's analysis and listed; its capacity is never
guessed here (a province total spread over the facilities beforehand, labelled an estimate, is
how a figure is estimated: :mod:`gis.inputs.staffing`). Every capacity built from an estimated
figure says so (``capacity_source``, ``capacity_is_estimate``).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from gis.analyses.capacity.core import (
    CapacityResult,
    ScaleUpResult,
    capacity_coverage,
    capacity_optimum,
    catchment_polygons,
    scale_up,
    scale_up_budgets,
)
from gis.errors import GisError
from gis.jsonable import to_jsonable
from gis.model.costs import CostModel, CostTable, nearest, within_table

log = logging.getLogger(__name__)

STATUS_SERVED = "served"
STATUS_PARTLY = "partly served"
STATUS_NOT_SERVED = "not served (capacity)"
STATUS_BEYOND = "beyond the time limit"
STATUSES = (STATUS_SERVED, STATUS_PARTLY, STATUS_NOT_SERVED, STATUS_BEYOND)
UNIT = {"doctors": "doctor", "beds": "bed", "norm": "facility"}


# --- norms ----------------------------------------------------------------------------------

def capacity_norm(tier: str, basis: str, *, configured: float | None, population: float,
                  communes: int, doctors_per_station: float, doctors_per_10k: float,
                  beds_per_10k: float) -> tuple[float, str]:
    """People one unit of ``basis`` serves (a doctor, a bed, a facility) and where that comes
    from: the configured value, else a derivation from the targets.

    - station doctors: ``population / (doctors_per_station x communes)``, the people one
      station doctor serves when every post-2025 commune's station has the target staff;
    - other doctors: ``10,000 / doctors_per_10k``;
    - beds: ``10,000 / beds_per_10k``.

    Raises
    ------
    GisError
        Basis ``norm`` without a configured value, or a derivation with nothing to derive from.
    """
    key = {"doctors": "people_per_doctor", "beds": "people_per_bed",
           "norm": "people_per_facility"}[basis]
    if configured is not None:
        return float(configured), f"config capacity.{key}.{tier}"
    if basis == "norm":
        msg = f"capacity.people_per_facility.{tier}: missing; basis 'norm' needs it"
        raise GisError(msg)
    if basis == "doctors" and tier == "station":
        if not (population > 0 and communes > 0 and doctors_per_station > 0):
            msg = ("capacity.people_per_doctor.station: cannot be derived (population, "
                   "post-2025 communes or targets.doctors_per_station unknown); give it")
            raise GisError(msg)
        value = population / (doctors_per_station * communes)
        return value, (f"derived: {population:,.0f} people / ({doctors_per_station:g} doctors "
                       f"x {communes} post-2025 communes), the people one station doctor "
                       f"serves when every commune's station has the target staff")
    per10k = doctors_per_10k if basis == "doctors" else beds_per_10k
    if not per10k > 0:
        msg = f"capacity.{key}.{tier}: cannot be derived from a target of 0; give it"
        raise GisError(msg)
    return 10_000.0 / per10k, (f"derived: 10,000 / {per10k:g} {basis} per 10,000 people "
                               f"(the target)")


@dataclass(frozen=True)
class TierCapacity:
    """How one tier's capacities are built and analysed."""

    tier: str
    max_time_min: float
    basis: str                 # "doctors", "beds" or "norm"
    people_per_unit: float     # persons per doctor / bed / facility
    norm_source: str           # where the norm comes from


@dataclass(frozen=True)
class ScaleUpRequest:
    """What the pipeline asks of the scaling up (see :func:`run_capacity`).

    ``candidates``: points with ``site_id``, ``name``, ``commune_code`` (post-2025; "" when
    outside every commune), in the working CRS, in the order of ``candidate_costs.dest_ids``.
    ``classes``: records with ``name``, ``capacity`` (persons), ``cost`` and optional
    ``min_population``/``max_population``. Give ``budget`` or ``target_share``.
    ``curve_budgets``: budgets for the curve (the MILP per budget); empty: no curve.
    ``demand_groups``: when the scaling up works on merged demand units (:func:`merge_demand`),
    the merged unit of every demand unit, and ``candidate_costs`` runs from the merged units
    (in their order; a unit with nobody left to serve may have no pair, it takes no part) to
    the candidates; ``demand_merged`` says how (the summary's
    ``demand_merged``). None: from the demand units themselves.
    """

    tier: str
    candidates: gpd.GeoDataFrame
    candidate_costs: CostTable
    max_time_min: float
    classes: list[dict]
    budget: float | None = None
    target_share: float | None = None
    curve_budgets: tuple[float, ...] = ()
    time_limit_s: float = 60.0
    mip_rel_gap: float = 0.01
    candidates_info: dict = field(default_factory=dict)
    demand_groups: np.ndarray | None = None
    demand_merged: dict = field(default_factory=dict)


@dataclass
class TierRun:
    """One tier's results: ``greedy`` and ``optimum`` (None when skipped, with ``skipped``)."""

    spec: TierCapacity
    facilities: gpd.GeoDataFrame
    greedy: CapacityResult | None = None
    optimum: CapacityResult | None = None
    skipped: str = ""
    summary: dict = field(default_factory=dict)


@dataclass
class CapacityRun:
    """What :func:`run_capacity` computed.

    Attributes
    ----------
    tiers : dict
        Tier -> :class:`TierRun`.
    scale : ScaleUpResult or None
        The scaling up (MILP and greedy), None when not asked or skipped.
    curve : DataFrame or None
        People served against facilities added / money spent.
    layers : dict
        For the GeoPackage: ``capacity_facilities`` (points), ``capacity_cells`` (demand
        cells: per tier ``<tier>_served``, ``<tier>_not_served``, ``<tier>_beyond``,
        ``<tier>_status``, ``<tier>_served_by``, ``<tier>_greedy_served``; scaling up's
        ``scale_up_new_served``, ``scale_up_greedy_new_served``), ``catchments_<tier>_capacity``
        and ``catchments_<tier>_time`` (the optimum's per-facility catchments), and
        ``scale_up_sites``, ``scale_up_candidates``.
    summary, scale_up_summary : dict
        The ``capacity`` and ``scale_up`` sections of summary.json.
    """

    tiers: dict[str, TierRun]
    scale: ScaleUpResult | None
    curve: pd.DataFrame | None
    layers: dict[str, gpd.GeoDataFrame]
    summary: dict[str, Any]
    scale_up_summary: dict[str, Any]


# --- candidates -----------------------------------------------------------------------------

def _commune_of(points: gpd.GeoDataFrame, communes: gpd.GeoDataFrame) -> np.ndarray:
    """Post-2025 commune code of each point ("" outside every commune)."""
    if communes is None or not len(communes) or not len(points):
        return np.full(len(points), "", dtype=object)
    tree = shapely.STRtree(communes.geometry.to_numpy())
    pi, ci = tree.query(points.geometry.to_numpy(), predicate="within")
    out = np.full(len(points), "", dtype=object)
    codes = communes["commune_code"].to_numpy()
    first = np.r_[True, pi[1:] != pi[:-1]] if len(pi) else np.zeros(0, bool)
    out[pi[first]] = codes[ci[first]]
    return out


def _unique_rows(key: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``np.unique(key, axis=0, return_inverse=True)`` of integer pairs (the same rows in the
    same order, the inverse flat) through one integer per row: a row sort costs seconds at
    600,000 rows."""
    if not len(key):
        return key.reshape(0, 2), np.zeros(0, np.int64)
    lo = key.min(axis=0)
    span = key[:, 1].max() - lo[1] + 1
    flat = (key[:, 0] - lo[0]) * span + (key[:, 1] - lo[1])
    u, inv = np.unique(flat, return_inverse=True)
    rows = np.column_stack([u // span + lo[0], u % span + lo[1]])
    return rows, np.asarray(inv, np.int64).ravel()


def candidate_grid(demand: gpd.GeoDataFrame, communes: gpd.GeoDataFrame, *,
                   grid_m: float) -> tuple[gpd.GeoDataFrame, dict]:
    """Candidate sites on the province's populated land: one per square of a grid of side
    ``grid_m`` (aligned on multiples of it) that holds people.

    The site is the population-weighted centre of the square's demand units (their points
    ``x``, ``y``); when that falls outside every commune (a bay, a bend of the border), the
    point of the square's most populated unit is taken. Squares without people are excluded,
    and so is a site outside the province (no commune holds it).

    Returns
    -------
    (GeoDataFrame, dict)
        ``site_id`` ("G<ix>_<iy>"), ``name`` (its commune, latitude and longitude),
        ``commune_code``,
        ``population`` (persons in the square), Point geometry in the demand's CRS; and counts
        (squares with land, with people, sites kept, excluded).
    """
    xy = demand[["x", "y"]].to_numpy(float)
    pop = demand["population"].to_numpy(float)
    key = np.floor(xy / grid_m).astype(np.int64)
    uniq, inv = _unique_rows(key)
    bp = np.bincount(inv, weights=pop, minlength=len(uniq))
    cx = np.bincount(inv, weights=xy[:, 0] * pop, minlength=len(uniq))
    cy = np.bincount(inv, weights=xy[:, 1] * pop, minlength=len(uniq))
    keep = np.flatnonzero(bp > 0)
    pts = np.column_stack([cx[keep] / bp[keep], cy[keep] / bp[keep]])
    sites = gpd.GeoDataFrame({"site_id": [f"G{a}_{b}" for a, b in uniq[keep]],
                              "population": bp[keep]},
                             geometry=shapely.points(pts), crs=demand.crs)
    code = _commune_of(sites, communes)
    outside = code == ""
    if outside.any():  # the most populated unit of the square instead
        order = np.lexsort((-pop, inv))
        first = order[np.r_[True, inv[order][1:] != inv[order][:-1]]]
        best = np.full(len(uniq), -1, np.int64)
        best[inv[first]] = first
        alt = best[keep[outside]]
        sites.loc[outside, "geometry"] = shapely.points(xy[alt])
        code[outside] = _commune_of(sites[outside], communes)
    inside = code != ""
    sites["commune_code"] = code
    sites = sites[inside].reset_index(drop=True)
    names = communes.set_index("commune_code")["commune_name"] if communes is not None else {}
    lonlat = sites.geometry.to_crs(4326).get_coordinates().to_numpy() if len(sites) else \
        np.zeros((0, 2))
    sites["name"] = [f"{names.get(c, c)} ({lat:.4f} N, {lon:.4f} E)"
                     for c, (lon, lat) in zip(sites["commune_code"], lonlat, strict=True)]
    info = {"kind": "grid", "grid_m": grid_m, "squares_with_units": int(len(uniq)),
            "squares_with_people": int(len(keep)),
            "excluded_no_population": int(len(uniq) - len(keep)),
            "excluded_outside_province": int((~inside).sum()), "sites": int(len(sites))}
    return sites[["site_id", "name", "commune_code", "population", "geometry"]], info


def station_candidates(facilities: gpd.GeoDataFrame) -> tuple[gpd.GeoDataFrame, dict]:
    """The sites of the commune stations (active or ended) as candidates: new capacity at an
    existing building."""
    st = facilities[(facilities["tier"] == "station")
                    & facilities["status"].isin(["active", "ended"])]
    sites = gpd.GeoDataFrame({"site_id": st["facility_id"].to_numpy(),
                              "name": st["name"].to_numpy(),
                              "commune_code": st["commune_code"].fillna("").to_numpy(),
                              "population": np.nan},
                             geometry=st.geometry.to_numpy(), crs=facilities.crs)
    return sites.reset_index(drop=True), {"kind": "stations", "sites": int(len(sites))}


def listed_candidates(points: gpd.GeoDataFrame, communes: gpd.GeoDataFrame, *,
                      source: str) -> tuple[gpd.GeoDataFrame, dict]:
    """A user's list of candidate sites (``site_id``, ``name``, Point geometry in the working
    CRS); sites outside every commune of the province are excluded (counted)."""
    code = _commune_of(points, communes)
    inside = code != ""
    sites = points.copy()
    sites["commune_code"] = code
    sites["population"] = np.nan
    sites = sites[inside].reset_index(drop=True)
    if not len(sites):
        msg = (f"{source}: none of the {len(points)} candidate sites lies inside the "
               f"province's communes; check the coordinates (lon, lat in EPSG:4326)")
        raise GisError(msg)
    return sites[["site_id", "name", "commune_code", "population", "geometry"]], {
        "kind": "list", "source": source, "sites": int(len(sites)),
        "excluded_outside_province": int((~inside).sum())}


def merge_demand(demand: gpd.GeoDataFrame, left, *, cell_m: float
                 ) -> tuple[np.ndarray, np.ndarray, dict]:
    """Demand units merged into squares of side ``cell_m`` (aligned on multiples of it), for
    a scaling up at a resolution finer than it needs: each square's people left unserved
    (``left``, persons per unit) sit at one point, the unit nearest to their weighted centre
    (where nobody is left, the units' population weights it). Approximate by design: the
    scaling up then sees the merged units' times, not each unit's; the summary says so.

    Returns
    -------
    (ndarray, ndarray, dict)
        The merged unit of every demand unit (0..k-1), the k points (working CRS, metres),
        and counts (``cell_m``, ``units``, ``merged_units``).
    """
    xy = demand[["x", "y"]].to_numpy(float)
    left = np.asarray(left, float)
    pop = demand["population"].to_numpy(float)
    key = np.floor(xy / cell_m).astype(np.int64)
    _, inv = _unique_rows(key)
    k = int(inv.max()) + 1 if len(inv) else 0
    wl = np.bincount(inv, weights=left, minlength=k)
    w = np.where(wl[inv] > 0, left, np.where(np.bincount(inv, weights=pop, minlength=k)[inv] > 0,
                                              pop, 1.0))
    ws = np.bincount(inv, weights=w, minlength=k)
    cx = np.bincount(inv, weights=w * xy[:, 0], minlength=k) / ws
    cy = np.bincount(inv, weights=w * xy[:, 1], minlength=k) / ws
    d2 = (xy[:, 0] - cx[inv]) ** 2 + (xy[:, 1] - cy[inv]) ** 2
    order = np.lexsort((d2, inv))              # stable: ties to the first unit
    first = order[np.r_[True, inv[order][1:] != inv[order][:-1]]] if len(order) else order
    return inv, xy[first], {"cell_m": float(cell_m), "units": int(len(demand)),
                            "merged_units": k}


# --- the stage ------------------------------------------------------------------------------

def _status(cells: pd.DataFrame) -> np.ndarray:
    served = cells["served_population"].to_numpy(float)
    nots = cells["not_served_capacity"].to_numpy(float)
    beyond = cells["beyond_time"].to_numpy(float)
    pop = cells["population"].to_numpy(float)
    return np.select([beyond > 0, (served > 0) & (nots > 0), nots > 0, served > 0],
                     [STATUS_BEYOND, STATUS_PARTLY, STATUS_NOT_SERVED, STATUS_SERVED],
                     np.where(pop > 0, STATUS_SERVED, "no people"))


def _totals(r: CapacityResult) -> dict[str, Any]:
    d = r.as_dict()
    return {k: d[k] for k in ("total_population", "served_population", "not_served_capacity",
                              "beyond_time", "served_share", "person_minutes", "status")} | {
        "seconds": float(r.stats.get("seconds", 0.0))}


def _capacity_source(spec: TierCapacity, figure: float, source: str, *, estimate: bool,
                     known: bool) -> str:
    """How a facility's capacity is built, in words (a text the outputs translate)."""
    basis = spec.basis
    if not known:
        return f"left out: {basis} unknown"
    if basis == "norm":
        return f"{spec.people_per_unit:,.1f} people per facility ({spec.norm_source})"
    return (f"{'estimate: ' if estimate else ''}{figure:g} {basis} x "
            f"{spec.people_per_unit:,.1f} people per {UNIT[basis]} ({spec.norm_source}); "
            f"{basis}: {source}")


def _tier_run(spec: TierCapacity, demand: gpd.GeoDataFrame, fac: gpd.GeoDataFrame,
              costs: CostTable | CostModel, *, order: str, descending: bool,
              bands: str, time_limit_s: float, names: dict
              ) -> tuple[TierRun, CostTable | None]:
    """One tier's analyses, and its table (the pairs within its time limit to its analysed
    facilities; None when skipped), which its catchments take too."""
    tier, basis = spec.tier, spec.basis
    pop = demand["population"].to_numpy(float)
    ft = fac[(fac["tier"] == tier) & (fac["status"] == "active")].reset_index(drop=True)
    plural = {"station": "stations", "regional": "regional hospitals",
              "provincial": "provincial hospitals", "central": "central hospitals"}[tier]
    if basis == "norm":
        figure = np.ones(len(ft))
        src = np.full(len(ft), spec.norm_source, dtype=object)
    else:
        figure = ft[basis].to_numpy(float)
        src = (ft[f"{basis}_source"].fillna("unknown").astype(str).to_numpy(object)
               if f"{basis}_source" in ft else np.full(len(ft), "facilities layer", object))
    known = ~np.isnan(figure)
    capacity = figure * spec.people_per_unit
    est = np.array([str(s).lower().startswith("estimate") for s in src], dtype=bool)
    out = gpd.GeoDataFrame({
        "facility_id": ft["facility_id"].to_numpy(), "name": ft["name"].to_numpy(),
        "tier": tier, "commune_code": ft["commune_code"].fillna("").to_numpy(),
        "basis": basis, "figure": figure, "figure_source": src,
        "people_per_unit": spec.people_per_unit, "capacity": np.where(known, capacity, np.nan),
        "capacity_is_estimate": est & known,
        "capacity_source": [_capacity_source(spec, f, s, estimate=e, known=k)
                            for f, s, e, k in zip(figure, src, est, known, strict=True)],
        "analysed": known}, geometry=ft.geometry.to_numpy(), crs=fac.crs)
    run = TierRun(spec=spec, facilities=out)
    left = out.loc[~known, "facility_id"].tolist()
    base = {"tier": tier, "max_time_min": spec.max_time_min, "basis": basis,
            "people_per_unit": spec.people_per_unit, "norm_source": spec.norm_source,
            "facilities": int(len(out)), "analysed": int(known.sum()),
            "left_out": {"count": len(left), "ids": left[:20],
                         "reason": f"{basis} unknown" if left else ""},
            "capacity_total": float(np.nansum(np.where(known, capacity, 0.0))),
            "capacity_is_estimate": bool((est & known).any()),
            "capacity_estimated_facilities": int((est & known).sum())}
    if not known.any():
        run.skipped = (f"{basis} unknown for all {len(out)} active {plural}: give {basis} in "
                       f"the facilities layer or the staffing table (layers.staffing), or a "
                       f"province total [capacity.totals] {tier}_{basis}")
        if not len(out):
            run.skipped = f"no active {plural}"
        run.summary = base | {"skipped": run.skipped}
        return run, None
    ids = out.loc[known, "facility_id"].to_numpy()
    T = spec.max_time_min
    # the pairs within the tier's time limit (a sized model builds only those)
    ct = within_table(costs, T, dest_mask=np.isin(costs.dest_ids, ids))
    cap = pd.Series(capacity[known], index=ids).reindex(ct.dest_ids).to_numpy(float)
    greedy = capacity_coverage(ct, pop, cap, max_time_min=T, order=order,
                               descending=descending, bands=bands)
    optimum = capacity_optimum(ct, pop, cap, max_time_min=T, time_limit_s=time_limit_s)
    run.greedy, run.optimum = greedy, optimum
    g = greedy.facilities.set_index("facility_id")
    o = optimum.facilities.set_index("facility_id")
    fid = out["facility_id"]
    out["population_within_max_time"] = fid.map(o["population_within_max_time"])
    out["optimum_served"] = fid.map(o["served_population"])
    out["optimum_residual"] = fid.map(o["capacity_residual"])
    out["optimum_catchment_time_min"] = fid.map(o["catchment_time_min"])
    out["greedy_order"] = fid.map(g["order"])
    out["greedy_served"] = fid.map(g["served_population"])
    out["greedy_residual"] = fid.map(g["capacity_residual"])
    out["greedy_catchment_time_min"] = fid.map(g["catchment_time_min"])
    out["greedy_case"] = fid.map(g["accessmod_case"]).fillna("")
    with np.errstate(invalid="ignore", divide="ignore"):
        out["optimum_used_share"] = out["optimum_served"] / out["capacity"]
    # people beyond the limit of every analysed facility but within it of a left-out one
    near_left = 0.0
    if left:
        # the nearest left-out one of each cell (a sized query, not every pair within T)
        near = (nearest(costs, np.isin(costs.dest_ids, left))["time_min"].to_numpy() <= T)
        near_left = math.fsum(optimum.cells["beyond_time"].to_numpy()[near])
    gt, ot = _totals(greedy), _totals(optimum)
    oc = optimum.cells
    by = pd.DataFrame({"population": pop, "served": oc["served_population"].to_numpy(),
                       "not_served": oc["not_served_capacity"].to_numpy(),
                       "beyond": oc["beyond_time"].to_numpy()}).groupby(
        demand["commune_code"].fillna("").astype(str).to_numpy()).sum()
    worst = by[by["not_served"] > 0].nlargest(10, "not_served")
    run.summary = base | {
        "accessmod": gt | {"order": greedy.stats.get("order"), "descending": descending,
                           "bands": bands},
        "optimum": ot | {"rounds": optimum.stats.get("rounds"),
                         "price_rounds": optimum.stats.get("price_rounds")},
        "difference": {
            "served_population": ot["served_population"] - gt["served_population"],
            "served_share": ot["served_share"] - gt["served_share"],
            "person_minutes": ot["person_minutes"] - gt["person_minutes"]},
        "beyond_time_near_left_out": near_left,
        "capacity_used_up": int((out["optimum_residual"] <= 1e-6).sum()),
        "communes_most_not_served": [
            {"commune_code": code, "commune_name": names.get(code, ""),
             "population": r.population, "served": r.served, "not_served": r.not_served,
             "beyond": r.beyond}
            for code, r in zip(worst.index, worst.itertuples(), strict=True)],
    }
    return run, ct


def _catchments(run: TierRun, demand: gpd.GeoDataFrame, ct: CostTable,
                by: str) -> gpd.GeoDataFrame:
    """The optimum's catchments of the tier, ``ct`` its table (:func:`_tier_run`)."""
    cp = catchment_polygons(run.optimum, demand, by=by, costs=ct)
    info = run.facilities.set_index("facility_id")
    for col in ("name", "tier", "capacity", "capacity_is_estimate", "capacity_source"):
        cp[col] = cp["facility_id"].map(info[col]).to_numpy()
    cp["method"] = "optimum"
    return cp


def run_capacity(demand: gpd.GeoDataFrame, facilities: gpd.GeoDataFrame,
                 costs: CostTable | CostModel, *,
                 communes: gpd.GeoDataFrame | None, tiers: Sequence[TierCapacity],
                 order: str = "capacity", descending: bool = True, bands: str = "exact",
                 time_limit_s: float = 300.0,
                 scale: ScaleUpRequest | None = None) -> CapacityRun:
    """Capacity-limited coverage per tier and scaling up, with layers and summary sections.

    Parameters
    ----------
    demand : GeoDataFrame
        Demand units in the working CRS (:func:`gis.model.demand.population_surface`):
        ``unit_id``, ``population``, ``commune_code``, ``x``, ``y``; one per origin of
        ``costs``, in its order.
    facilities : GeoDataFrame
        The facilities layer with ``doctors``, ``beds`` (NaN = unknown) and their
        ``<field>_source`` labels.
    costs : CostTable or CostModel
        Demand units -> active facilities (``dest_ids`` = facility_id), cut-off at least the
        longest time limit: a table, or the sized model (:mod:`gis.model.costs`), which builds
        per tier only the pairs within its time limit to its analysed facilities (the same
        figures, exactly).
    communes : GeoDataFrame, optional
        Post-2025 communes (``commune_code``, ``commune_name``): names in the summary.
    tiers : sequence of TierCapacity
    order, descending, bands
        AccessMod's processing order and bands (:func:`capacity_coverage`).
    time_limit_s : float
        Limit of each optimum's solve.
    scale : ScaleUpRequest, optional
        Scaling up on candidate sites, added to the optimum of ``scale.tier``.

    Returns
    -------
    CapacityRun
    """
    if costs.n_origins != len(demand):
        msg = (f"run_capacity: the cost table has {costs.n_origins} origins but the demand "
               f"has {len(demand)} units; give the demand of the table")
        raise GisError(msg)
    names = (communes.set_index("commune_code")["commune_name"].to_dict()
             if communes is not None else {})
    runs: dict[str, TierRun] = {}
    cells = gpd.GeoDataFrame(demand[["unit_id", "commune_code", "population"]].copy(),
                             geometry=demand.geometry.to_numpy(), crs=demand.crs)
    layers: dict[str, gpd.GeoDataFrame] = {}
    fac_parts = []
    grid_m = None
    for spec in tiers:
        run, ct = _tier_run(spec, demand, facilities, costs, order=order,
                            descending=descending, bands=bands, time_limit_s=time_limit_s,
                            names=names)
        runs[spec.tier] = run
        fac_parts.append(run.facilities)
        if run.optimum is None:
            continue
        t = spec.tier
        oc, gc = run.optimum.cells, run.greedy.cells
        cells[f"{t}_served"] = oc["served_population"].to_numpy()
        cells[f"{t}_not_served"] = oc["not_served_capacity"].to_numpy()
        cells[f"{t}_beyond"] = oc["beyond_time"].to_numpy()
        cells[f"{t}_status"] = _status(oc)
        cells[f"{t}_served_by"] = oc["served_by_id"].fillna("").to_numpy()
        cells[f"{t}_greedy_served"] = gc["served_population"].to_numpy()
        cells[f"{t}_greedy_status"] = _status(gc)
        for by in ("capacity", "time"):
            cp = _catchments(run, demand, ct, by)
            layers[f"catchments_{t}_{by}"] = cp
            if "drawn_on_grid_m" in cp.attrs:
                grid_m = cp.attrs["drawn_on_grid_m"]
        del ct
    fac_layer = gpd.GeoDataFrame(pd.concat(fac_parts, ignore_index=True), crs=facilities.crs) \
        if fac_parts else None
    summary: dict[str, Any] = {"tiers": {t: r.summary for t, r in runs.items()},
                               "method": _METHOD_NOTE}
    if grid_m is not None:      # catchments of more than CATCHMENT_GRID_UNITS units
        summary["catchments_drawn_on_grid"] = {"cell_m": grid_m, "units": int(len(demand))}
    if fac_layer is not None and len(fac_layer):
        layers = {"capacity_facilities": fac_layer, **layers}
    if any(c.endswith("_status") for c in cells.columns):
        layers = {"capacity_cells": cells, **layers}
    run = CapacityRun(tiers=runs, scale=None, curve=None, layers=layers,
                      summary=to_jsonable(summary), scale_up_summary={})
    if scale is not None:
        run = with_scale_up(run, scale, demand, communes=communes, bands=bands)
    return run


def with_scale_up(run: CapacityRun, scale: ScaleUpRequest, demand: gpd.GeoDataFrame, *,
                  communes: gpd.GeoDataFrame | None, bands: str = "exact") -> CapacityRun:
    """``run`` with the scaling up added (a new :class:`CapacityRun`; ``run`` is unchanged):
    the new facilities serve the people the optimum of ``scale.tier`` leaves unserved.
    A tier that was skipped gives a ``scale_up`` summary saying why."""
    names = (communes.set_index("commune_code")["commune_name"].to_dict()
             if communes is not None else {})
    result, curve, summary, extra = _scale_up(scale, run.tiers, demand, names, bands=bands)
    layers = dict(run.layers)
    layers.update(extra.pop("layers"))
    if extra and "capacity_cells" in layers:
        cells = layers["capacity_cells"].copy()
        for k, v in extra.items():
            cells[k] = v
        layers["capacity_cells"] = cells
    return CapacityRun(tiers=run.tiers, scale=result, curve=curve, layers=layers,
                       summary=run.summary, scale_up_summary=to_jsonable(summary))


def skip_scale_up(tier: str, why: str) -> dict[str, Any]:
    """The ``scale_up`` summary of a scaling up not run."""
    return {"tier": tier, "skipped": why}


_METHOD_NOTE = (
    "Each facility serves at most its capacity in people within the tier's time limit "
    "(inclusive). AccessMod's greedy takes the facilities one at a time in the stated order, "
    "each catchment growing by travel time over the people earlier ones left; the optimum "
    "assigns people to facilities to serve the most people, then to travel the fewest "
    "person-minutes, whatever the order (HiGHS, exact). Per cell: served + not served for "
    "lack of capacity + beyond the time limit = its population, exactly.")


def scale_up_blocker(runs: dict[str, TierRun], tier: str) -> str:
    """Why the scaling up of ``tier`` cannot run on these tier results ("" when it can)."""
    run = runs.get(tier)
    if run is not None and run.optimum is not None:
        return ""
    why = run.skipped if run is not None else f"tier {tier} not analysed"
    return f"needs the {tier} capacity result: {why}"


def _scale_up(req: ScaleUpRequest, runs: dict[str, TierRun], demand: gpd.GeoDataFrame,
              names: dict, *, bands: str):
    run = runs.get(req.tier)
    base = {"tier": req.tier, "max_time_min": req.max_time_min,
            "candidates": req.candidates_info, "classes": req.classes,
            "question": ("budget" if req.budget is not None else "target_share"),
            "budget": req.budget, "target_share": req.target_share}
    if run is None or run.optimum is None:
        return None, None, base | {"skipped": scale_up_blocker(runs, req.tier)}, {"layers": {}}
    pop = demand["population"].to_numpy(float)
    existing = run.optimum
    groups = req.demand_groups
    if groups is not None:      # merged units: their people and the people served in them
        served_u = np.minimum(existing.cells["served_population"].to_numpy(float), pop)
        k = req.candidate_costs.n_origins
        pop_in = np.bincount(groups, weights=pop, minlength=k)
        existing_in = np.minimum(np.bincount(groups, weights=served_u, minlength=k), pop_in)
        base = base | {"demand_merged": req.demand_merged}
    else:
        pop_in, existing_in = pop, existing
    common = {"max_time_min": req.max_time_min, "classes": req.classes,
              "existing": existing_in, "bands": bands, "time_limit_s": req.time_limit_s,
              "mip_rel_gap": req.mip_rel_gap}
    curve_b = [float(b) for b in req.curve_budgets]
    if req.budget is not None:  # the asked budget and the curve's on one preparation
        asked = [float(req.budget)] + [b for b in curve_b if b != req.budget]
        got = scale_up_budgets(req.candidate_costs, pop_in, budgets=asked, **common)
        r, by_budget = got[0], dict(zip(asked, got, strict=True))
    else:
        r = scale_up(req.candidate_costs, pop_in, target_share=req.target_share, **common)
        by_budget = dict(zip(curve_b, scale_up_budgets(req.candidate_costs, pop_in,
                                                       budgets=curve_b, **common),
                             strict=True)) if curve_b else {}
    cand = req.candidates.set_index("site_id")
    rows = []
    for b in req.curve_budgets:
        rb = by_budget[float(b)]
        rows.append({"budget": float(b), "facilities": int(len(rb.sites)), "cost": rb.cost,
                     "served_population": rb.served_population,
                     "served_share": rb.served_share,
                     "bound": existing.served_population + rb.bound if rb.mode == "budget"
                     else None, "gap": rb.gap, "status": rb.status,
                     "greedy_served_population": rb.greedy_served_population,
                     "greedy_facilities": int(len(rb.greedy_sites)),
                     "greedy_cost": rb.greedy_cost})
    curve = pd.DataFrame(rows) if rows else None

    def describe(site_id: str) -> dict:
        c = cand.loc[site_id]
        code = str(c["commune_code"])
        return {"name": str(c["name"]), "commune_code": code,
                "commune_name": names.get(code, "")}

    sites = [{"site_id": s.site_id, **describe(s.site_id), "class_name": s.class_name,
              "capacity": s.capacity, "cost": s.cost, "served_population": s.served_population}
             for s in r.sites.sort_values("served_population", ascending=False).itertuples()]
    greedy = [{"step": int(s.step), "site_id": s.site_id, **describe(s.site_id),
               "class_name": s.class_name, "capacity": s.capacity, "cost": s.cost,
               "served_population": s.served_population,
               "cumulative_served": s.cumulative_served}
              for s in r.greedy_sites.itertuples()]
    summary = base | {
        "existing_served": existing.served_population,
        "total_population": r.total_population,
        "served_population": r.served_population, "served_share": r.served_share,
        "new_served_population": r.new_served_population, "cost": r.cost,
        "objective": r.objective, "bound": r.bound, "gap": r.gap, "status": r.status,
        "seconds": r.stats.get("seconds"), "sites": sites,
        "greedy": {"served_population": r.greedy_served_population, "cost": r.greedy_cost,
                   "sites": greedy},
        "difference": {"served_population": r.served_population - r.greedy_served_population},
        "curve": rows}
    layer_rows = ([{**s, "method": "optimum (MILP)", "step": None} for s in sites]
                  + [{**s, "method": "AccessMod greedy"} for s in greedy])
    if layer_rows:
        geo = [cand.geometry.loc[x["site_id"]] for x in layer_rows]
        site_layer = gpd.GeoDataFrame(pd.DataFrame(layer_rows), geometry=geo,
                                      crs=req.candidates.crs)
    else:
        site_layer = None
    cand_layer = req.candidates.copy()
    chosen = set(r.sites["site_id"])
    cand_layer["chosen"] = cand_layer["site_id"].isin(chosen)
    out_layers = {"scale_up_candidates": cand_layer}
    if site_layer is not None:
        out_layers["scale_up_sites"] = site_layer
    new_u = r.cells["new_served"].to_numpy()
    greedy_u = r.cells["greedy_new_served"].to_numpy()
    if groups is not None:      # back to the units, in proportion to the people left in each
        left_u = np.maximum(pop - served_u, 0.0)
        left_g = np.bincount(groups, weights=left_u, minlength=len(new_u))
        share = np.where(left_g[groups] > 0, left_u / np.where(left_g > 0, left_g, 1.0)[groups],
                         0.0)
        new_u, greedy_u = new_u[groups] * share, greedy_u[groups] * share
    extra = {"layers": out_layers, "scale_up_new_served": new_u,
             "scale_up_greedy_new_served": greedy_u}
    return r, curve, summary, extra
