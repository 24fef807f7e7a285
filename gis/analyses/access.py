"""Access metrics on the sparse cost table: nearest facility per tier, coverage, (E)2SFCA,
indicators against targets, and under-served areas.

All functions are pure: arrays and GeoDataFrames in, new objects out. Times are minutes,
distances metres, populations persons; thresholds are inclusive (a person exactly at the
threshold is covered).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from gis.errors import GisError
from gis.model.costs import (
    CostModel,
    CostTable,
    StraightLineModel,
    nearest,
    straight_line_costs,
    straight_line_nearest,
    subset_dests,
)
from gis.model.demand import population_surface
from gis.model.travel import TravelModel

log = logging.getLogger(__name__)

ACCESS_TIERS = ("station", "regional", "provincial", "central")
DECAYS = ("step", "gaussian", "none")
# Luo & Qi (2009) step weights of the enhanced 2SFCA over three equal sub-zones.
STEP_WEIGHTS = (1.0, 0.68, 0.22)


# --- nearest facility -----------------------------------------------------------------------


def nearest_by_tier(costs: CostTable, tiers: np.ndarray, *,
                    tier_names: Sequence[str] = ACCESS_TIERS) -> pd.DataFrame:
    """Nearest facility of each tier per origin: ``<tier>_id``, ``<tier>_time_min``,
    ``<tier>_dist_m`` (id "" and NaN when none is within the cut-off)."""
    cols: dict[str, Any] = {}
    tiers = np.asarray(tiers)
    for tier in tier_names:
        mask = tiers == tier
        if not mask.any():
            continue
        near = nearest(costs, mask)
        ids = np.where(near["dest"] >= 0, costs.dest_ids[np.maximum(near["dest"], 0)], "")
        cols[f"{tier}_id"] = ids
        cols[f"{tier}_time_min"] = near["time_min"].to_numpy()
        cols[f"{tier}_dist_m"] = near["dist_m"].to_numpy()
    return pd.DataFrame(cols)


# --- coverage -------------------------------------------------------------------------------

def coverage_table(population: np.ndarray, times: pd.DataFrame,
                   thresholds_min: Mapping[str, Sequence[float]],
                   groups: np.ndarray | None = None) -> pd.DataFrame:
    """Population within each threshold per tier (inclusive), per group or in total.

    Columns ``population``, ``<tier>_<T>min`` (persons covered) and ``<tier>_<T>min_share``.
    """
    population = np.asarray(population, float)
    key = np.asarray(groups) if groups is not None else np.zeros(len(population), int)
    df = pd.DataFrame({"g": key, "population": population})
    for tier, ths in thresholds_min.items():
        col = f"{tier}_time_min"
        if col not in times:
            continue
        t = times[col].to_numpy()
        for thr in ths:
            df[f"{tier}_{thr:g}min"] = np.where(t <= thr, population, 0.0)
    out = df.groupby("g").sum()
    for c in [c for c in out.columns if c != "population"]:
        with np.errstate(invalid="ignore", divide="ignore"):
            out[f"{c}_share"] = out[c] / out["population"]
    out.index.name = "group"
    return out


# --- floating catchment ---------------------------------------------------------------------

def decay_weights(time_min: np.ndarray, *, catchment_min: float, decay: str) -> np.ndarray:
    """Distance-decay weight of each pair within the catchment (0 beyond).

    ``none``: 1 (plain 2SFCA). ``step``: 1, 0.68, 0.22 over the three thirds of the catchment
    (Luo & Qi 2009). ``gaussian``: exp(-t^2 / (2 sigma^2)) with sigma = catchment / 2, the form
    of PySAL access's ``weights.gaussian``.
    """
    t = np.asarray(time_min, float)
    inside = t <= catchment_min
    if decay == "none":
        w = np.ones_like(t)
    elif decay == "step":
        edges = np.array([1, 2, 3]) * catchment_min / 3.0
        w = np.select([t <= edges[0], t <= edges[1], t <= edges[2]], list(STEP_WEIGHTS), 0.0)
    elif decay == "gaussian":
        sigma = catchment_min / 2.0
        w = np.exp(-t * t / (2 * sigma**2))
    else:
        msg = f"decay: expected one of {', '.join(DECAYS)}, found {decay!r}"
        raise GisError(msg)
    return np.where(inside, w, 0.0)


def fca(costs: CostTable, demand: np.ndarray, supply: np.ndarray, *, catchment_min: float,
        decay: str = "none", per: float = 10_000.0) -> np.ndarray:
    """Two-step floating catchment area accessibility, per origin.

    Step 1: R_j = S_j / sum_i P_i W(t_ij); step 2: A_i = sum_j R_j W(t_ij), over pairs with
    t_ij <= catchment (W = 1 for 2SFCA, a decay for E2SFCA). Returned as supply per ``per``
    people (e.g. beds per 10,000).

    Parameters
    ----------
    demand : ndarray, shape (n_origins,)
        Persons per origin.
    supply : ndarray, shape (n_dests,)
        Supply per destination (doctors, beds); NaN is not allowed here (see
        :func:`fca_known`).
    """
    supply = np.asarray(supply, float)
    if decay not in DECAYS:
        decay_weights(np.zeros(0), catchment_min=catchment_min, decay=decay)  # raises
    if np.isnan(supply).any():
        msg = "fca: supply has unknown (NaN) values; use fca_known to drop them explicitly"
        raise GisError(msg)
    return _fca_many(costs, demand, [supply], catchment_min=catchment_min, decay=decay,
                     per=per)[0]


# Pairs per block of the floating catchment: bounds its temporary arrays (a few float64 per
# pair) whatever the size of the table.
_FCA_BLOCK = 1_000_000


def _fca_many(costs: CostTable, demand: np.ndarray, supplies: Sequence[np.ndarray], *,
              catchment_min: float, decay: str, per: float) -> list[np.ndarray]:
    """:func:`fca` for several supplies on one table: step 1's weighted demand does not depend
    on the supply, so it is summed once. Pairs are taken in blocks cut at origin boundaries
    (step 2 sums each origin's pairs in table order, as one ``bincount`` would)."""
    demand = np.asarray(demand, float)
    n_o, n_d = costs.n_origins, costs.n_dests
    o_all, d_all, t_all = costs.origin, costs.dest, costs.time_min
    cuts = np.searchsorted(o_all, o_all[np.arange(_FCA_BLOCK, len(o_all), _FCA_BLOCK)])
    bounds = [0, *np.unique(cuts).tolist(), len(o_all)]
    blocks = [(a, b) for a, b in zip(bounds[:-1], bounds[1:], strict=True) if b > a]
    weighted_demand = np.zeros(n_d)
    for a, b in blocks:
        w = decay_weights(t_all[a:b], catchment_min=catchment_min, decay=decay)
        weighted_demand += np.bincount(d_all[a:b], weights=demand[o_all[a:b]] * w,
                                       minlength=n_d)
    ratios = []
    for supply in supplies:
        with np.errstate(invalid="ignore", divide="ignore"):
            ratios.append(np.where(weighted_demand > 0,
                                   np.asarray(supply, float) / weighted_demand, 0.0))
    out = [np.zeros(n_o) for _ in supplies]
    for a, b in blocks:
        w = decay_weights(t_all[a:b], catchment_min=catchment_min, decay=decay)
        o, d = o_all[a:b], d_all[a:b]
        first, last = int(o[0]), int(o[-1])
        local = o - first
        for acc, ratio in zip(out, ratios, strict=True):
            acc[first:last + 1] += np.bincount(local, weights=ratio[d] * w,
                                               minlength=last - first + 1)
    return [acc * per for acc in out]


@dataclass(frozen=True)
class SupplyKnowledge:
    """How much of a supply figure is known."""

    known: int
    total: int

    @property
    def complete(self) -> bool:
        return self.known == self.total and self.total > 0

    def text(self, what: str) -> str:
        if self.total == 0:
            return f"no facilities for {what}"
        if self.known == 0:
            return f"{what} unknown for all {self.total} facilities"
        if self.complete:
            return f"{what} known for all {self.total} facilities"
        return f"{what} known for {self.known} of {self.total} facilities: a lower bound"


def fca_known(costs: CostTable, demand: np.ndarray, supply: np.ndarray, **kw: Any
              ) -> tuple[np.ndarray | None, SupplyKnowledge]:
    """:func:`fca` over the facilities whose supply is known; None when none is known."""
    supply = np.asarray(supply, float)
    known = ~np.isnan(supply)
    info = SupplyKnowledge(known=int(known.sum()), total=len(supply))
    if not known.any():
        return None, info
    return fca(costs, demand, np.where(known, supply, 0.0), **kw), info


# --- indicators -----------------------------------------------------------------------------

def _estimated(frame: pd.DataFrame, what: str) -> np.ndarray:
    """Rows whose ``what`` figure is known and labelled an estimate (``<what>_source`` starts
    with "estimate")."""
    col = f"{what}_source"
    if col not in frame:
        return np.zeros(len(frame), bool)
    return (frame[what].notna() & frame[col].fillna("").astype(str).str.lower()
            .str.startswith("estimate")).to_numpy()


def _estimate_note(frame: pd.DataFrame, what: str) -> str:
    n = int(_estimated(frame, what).sum())
    if not n:
        return ""
    labels = sorted(set(frame.loc[_estimated(frame, what), f"{what}_source"].astype(str)))
    return f"; {n} of them estimated ({'; '.join(labels)})"


def indicators(facilities: gpd.GeoDataFrame, population_total: float, *,
               doctors_per_10k: float, beds_per_10k: float,
               doctors_per_station: float) -> list[dict[str, Any]]:
    """Province indicators against targets; unknown inputs give ``value: None``, never 0.

    A figure is an estimate (``is_estimate``) when some of the values it adds up are: those
    whose ``<field>_source`` starts with "estimate" (e.g. a province total spread over the
    facilities, see :mod:`gis.inputs.staffing`).

    Returns
    -------
    list of dict
        ``name``, ``value``, ``target``, ``unit``, ``higher_is_better``, ``is_estimate``,
        ``lower_bound`` (value computed from partial data), ``gap`` (and ``gap_unit``),
        ``gap_people`` (people beyond what the supply covers at the target ratio), ``note``.
        The last one, doctors per commune health unit, counts each post-2025 commune's
        stations together (the unit of the 2025 reform: one station per commune).
    """
    act = facilities[facilities["status"] == "active"]
    hospitals = act[act["tier"].isin(["central", "provincial", "regional"])]
    stations = act[act["tier"] == "station"]
    out = []

    def per_10k(frame: pd.DataFrame, target: float, what: str, unit: str) -> dict[str, Any]:
        values = frame[what]
        k = SupplyKnowledge(known=int(values.notna().sum()), total=len(values))
        item: dict[str, Any] = {"name": f"{what} per 10,000 people", "target": target,
                                "unit": unit, "higher_is_better": True,
                                "is_estimate": bool(_estimated(frame, what).any()),
                                "note": k.text(what) + _estimate_note(frame, what)}
        if k.known == 0 or population_total <= 0:
            item.update(value=None, lower_bound=False, gap=None, gap_people=None)
            return item
        total = float(values.sum())
        value = total / population_total * 10_000
        needed = target * population_total / 10_000
        item.update(value=value, lower_bound=not k.complete,
                    gap=None if not k.complete else max(needed - total, 0.0),
                    gap_unit=what, gap_people=None if not k.complete else
                    max(population_total - total * 10_000 / target, 0.0),
                    needed=needed)
        if not k.complete:
            item["gap_upper_bound"] = max(needed - total, 0.0)
        return item

    out.append(per_10k(act, doctors_per_10k, "doctors", "doctors / 10,000"))
    out.append(per_10k(hospitals, beds_per_10k, "beds", "beds / 10,000"))
    k = SupplyKnowledge(known=int(stations["doctors"].notna().sum()), total=len(stations))
    est = bool(_estimated(stations, "doctors").any())
    note = _estimate_note(stations, "doctors")
    st: dict[str, Any] = {"name": "doctors per commune station", "target": doctors_per_station,
                          "unit": "doctors / station", "higher_is_better": True,
                          "is_estimate": est, "note": k.text("station doctors") + note,
                          "needed": doctors_per_station * len(stations)}
    if k.complete:
        have = float(stations["doctors"].sum())
        st.update(value=have / len(stations), lower_bound=False,
                  gap=float(np.maximum(doctors_per_station - stations["doctors"], 0).sum()),
                  gap_unit="doctors")
    else:
        st.update(value=None, lower_bound=False, gap=None)
    out.append(st)
    codes = (stations["commune_code"] if "commune_code" in stations
             else pd.Series("", index=stations.index)).fillna("").astype(str)
    units = codes[codes != ""].nunique()
    unit: dict[str, Any] = {
        "name": "doctors per commune health unit (post-2025 commune)",
        "target": doctors_per_station, "unit": "doctors / unit", "higher_is_better": True,
        "is_estimate": est, "needed": doctors_per_station * units,
        "note": (f"the stations of each of the {units} post-2025 communes counted together "
                 f"(one commune health station per commune after the 2025 reform); "
                 + k.text("station doctors") + note)}
    if k.complete and units:
        per_unit = stations["doctors"].groupby(codes).sum()
        per_unit = per_unit[per_unit.index != ""]
        unit.update(value=float(per_unit.sum()) / units, lower_bound=False,
                    gap=float(np.maximum(doctors_per_station - per_unit, 0).sum()),
                    gap_unit="doctors")
    else:
        unit.update(value=None, lower_bound=False, gap=None)
    out.append(unit)
    return out


# --- under-served areas ---------------------------------------------------------------------

def underserved_areas(demand: gpd.GeoDataFrame, times: pd.DataFrame, *,
                      rules_min: Mapping[str, float],
                      facility_names: Mapping[str, str] | None = None,
                      extra_reasons: Mapping[str, np.ndarray] | None = None,
                      commune_names: Mapping[str, str] | None = None
                      ) -> gpd.GeoDataFrame:
    """Contiguous areas of demand units failing a rule, ranked by population.

    Parameters
    ----------
    demand : GeoDataFrame
        Demand units (``population``, geometry) aligned with ``times``.
    times : DataFrame
        From :func:`nearest_by_tier`.
    rules_min : mapping
        Tier -> minutes: a unit fails when its nearest facility of the tier is farther (or none
        is within the cut-off), e.g. ``{"station": 30, "regional": 60}``.
    extra_reasons : mapping, optional
        Reason text -> boolean array of failing units (e.g. below a supply target).
    commune_names : mapping, optional
        Post-2025 commune code -> name, for ``commune_names``.

    Returns
    -------
    GeoDataFrame
        ``rank``, ``population``, ``units``, ``area_km2``, ``reasons``, ``commune_codes``,
        ``nearest_id``, ``nearest_name``, ``nearest_time_min`` (for the first reason's tier:
        the facility nearest the most people of the area), ``commune_names`` (";"-joined,
        the communes with the most people of the area first), ``beyond_<tier>`` (people of
        the area failing the rule of each tier, e.g. ``beyond_station``), geometry (Polygon).
    """
    cnames = dict(commune_names or {})
    names = dict(facility_names or {})
    fails: dict[str, np.ndarray] = {}
    tier_of: dict[str, str] = {}
    for tier, limit in rules_min.items():
        col = f"{tier}_time_min"
        if col not in times:
            continue
        t = times[col].to_numpy()
        reason = f"more than {limit:g} min from a {tier}" + (
            " hospital" if tier in ("regional", "provincial", "central") else "")
        fails[reason] = ~(t <= limit)
        tier_of[reason] = tier
    for reason, mask in (extra_reasons or {}).items():
        fails[reason] = np.asarray(mask, bool)
    cols = ["rank", "population", "units", "area_km2", "reasons", "commune_codes", "nearest_id",
            "nearest_name", "nearest_time_min", "commune_names",
            *[f"beyond_{tier}" for tier in tier_of.values()]]
    if not fails:
        return gpd.GeoDataFrame(columns=[*cols, "geometry"], geometry="geometry", crs=demand.crs)
    reasons = list(fails)
    matrix = np.column_stack([fails[r] for r in reasons])
    any_fail = matrix.any(axis=1)
    if not any_fail.any():
        return gpd.GeoDataFrame(columns=[*cols, "geometry"], geometry="geometry", crs=demand.crs)
    idx = np.flatnonzero(any_fail)
    geoms = demand.geometry.to_numpy()[idx]
    # Contiguous parts: union of the failing units (grown by 1 cm so that units meeting up to
    # rounding merge; mitred, so that a cell stays a rectangle of 5 points and the union stays
    # cheap), split into parts; units join the part their representative point lies in.
    merged = _dissolve(geoms, grow_m=0.01)
    pts = shapely.points(demand["x"].to_numpy()[idx], demand["y"].to_numpy()[idx])
    # Query the points with each part (a part is prepared once), not the parts with each point.
    part, pi = shapely.STRtree(pts).query(merged, predicate="contains")
    part_of = np.full(len(idx), -1)
    part_of[pi] = part
    if (part_of < 0).any():  # points on a part's edge: nearest part
        miss = np.flatnonzero(part_of < 0)
        part_of[miss] = shapely.STRtree(merged).nearest(pts[miss])
    by_part = np.argsort(part_of, kind="stable")
    bounds = np.searchsorted(part_of[by_part], np.arange(len(merged) + 1))
    rows = []
    for p in range(len(merged)):
        members = idx[by_part[bounds[p]:bounds[p + 1]]]
        if len(members) == 0:
            continue
        mpop = demand["population"].to_numpy()[members]
        sub = matrix[members]
        share = (sub * mpop[:, None]).sum(axis=0)
        present = [reasons[k] for k in range(len(reasons)) if sub[:, k].any()]
        first = next((r for r in present if r in tier_of), None)
        near_id, near_name, near_t = "", "", np.nan
        if first is not None:
            tier = tier_of[first]
            ids = times[f"{tier}_id"].to_numpy()[members]
            tt = times[f"{tier}_time_min"].to_numpy()[members]
            has = ids != ""
            if has.any():
                by = pd.Series(mpop[has]).groupby(ids[has]).sum()
                near_id = str(by.idxmax())
                near_name = names.get(near_id, "")
                pick = ids == near_id
                near_t = float(np.average(tt[pick], weights=np.maximum(mpop[pick], 1e-9)))
        by_commune = pd.Series(mpop).groupby(demand["commune_code"].to_numpy()[members]).sum()
        by_commune = by_commune.sort_values(ascending=False, kind="stable")
        beyond = {f"beyond_{tier_of[r]}": float(share[reasons.index(r)]) for r in tier_of}
        rows.append({
            **beyond,
            "commune_names": ";".join(cnames.get(c, c) for c in by_commune.index),
            "population": float(mpop.sum()), "units": int(len(members)),
            "area_km2": float(shapely.area(merged[p]) / 1e6),
            "reasons": "; ".join(f"{r} ({share[reasons.index(r)]:,.0f} people)"
                                 for r in present),
            "commune_codes": ";".join(sorted(set(demand["commune_code"].to_numpy()[members]))),
            "nearest_id": near_id, "nearest_name": near_name, "nearest_time_min": near_t,
            "geometry": merged[p],
        })
    out = gpd.GeoDataFrame(rows, geometry="geometry", crs=demand.crs)
    out = out.sort_values("population", ascending=False, ignore_index=True)
    out.insert(0, "rank", np.arange(1, len(out) + 1))
    return out


def _dissolve(geoms: np.ndarray, *, grow_m: float) -> np.ndarray:
    """Parts of the union of the geometries, each grown by ``grow_m`` (mitred).

    Whole grid cells (squares on one grid: most demand units) are merged first as a raster
    and polygonized, which is exact for them and far cheaper than a union of squares; the
    union then takes those polygons and the other geometries.
    """
    geoms = np.asarray(geoms, dtype=object)
    b = shapely.bounds(geoms)
    w, h = b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]
    square = (shapely.get_num_coordinates(geoms) == 5) & (w > 0) & np.isclose(w, h, rtol=1e-12)
    square &= np.isclose(shapely.area(geoms), w * h, rtol=1e-12)
    rest = geoms
    if square.sum() >= 1000:
        cs = float(np.median(w[square]))
        gx, gy = b[:, 0] / cs, b[:, 1] / cs
        on_grid = square & np.isclose(w, cs, rtol=1e-9) & (np.abs(gx - np.round(gx)) < 1e-6) \
            & (np.abs(gy - np.round(gy)) < 1e-6)
        ix = np.round(gx[on_grid]).astype(np.int64)
        iy = np.round(gy[on_grid]).astype(np.int64)
        n_cols, n_rows = ix.max() - ix.min() + 1, iy.max() - iy.min() + 1
        if on_grid.sum() >= 1000 and n_cols * n_rows <= 400_000_000:
            from rasterio.features import shapes
            from rasterio.transform import from_origin

            mask = np.zeros((n_rows, n_cols), np.uint8)
            mask[iy.max() - iy, ix - ix.min()] = 1
            transform = from_origin(ix.min() * cs, (iy.max() + 1) * cs, cs, cs)
            cells = [shapely.geometry.shape(g) for g, _ in
                     shapes(mask, mask=mask.astype(bool), transform=transform)]
            rest = np.concatenate([np.array(cells, dtype=object), geoms[~on_grid]])
    return shapely.get_parts(shapely.union_all(shapely.buffer(rest, grow_m, join_style="mitre")))


# --- the front function ---------------------------------------------------------------------

class AccessResult:
    """Everything :func:`run_access` computed.

    Attributes
    ----------
    demand : GeoDataFrame
        Demand units with the nearest facility per tier and the (E)2SFCA values.
    costs : CostTable
        Demand units -> active facilities within the cut-off (``dest_ids`` = facility_id).
        With the straight-line model it is built on first use: the access metrics themselves
        need only the nearest facility per tier and the pairs within the catchment, and the
        plans, the network and the capacity stage take ``cost_model``, so a run that never
        asks for it never holds it.
    cost_model : CostModel
        The same costs answered by query, each analysis getting the table it needs (see
        :class:`gis.model.costs.CostModel`): a :class:`~gis.model.costs.StraightLineModel`
        with the straight line, a :class:`~gis.model.costs.TableModel` cutting the searched
        table with the road and friction models.
    layers : dict
        For the GeoPackage: ``demand_cells``, ``coverage_communes``, ``coverage_legacy``,
        ``underserved``.
    summary : dict
        JSON-serialisable ``access`` section of summary.json.
    road_report : dict or None
        What the road or friction model could not reach (``TravelModel.costs``); None with
        the straight-line model.
    """

    def __init__(self, demand: gpd.GeoDataFrame,
                 costs: CostTable | Callable[[], CostTable],
                 layers: dict[str, gpd.GeoDataFrame], summary: dict[str, Any],
                 road_report: Any = None,
                 cost_model: CostModel | CostTable | None = None) -> None:
        self.demand = demand
        self.cost_model = cost_model if cost_model is not None else costs
        self.layers = layers
        self.summary = summary
        self.road_report = road_report
        self._costs = costs if isinstance(costs, CostTable) else None
        self._build_costs = None if isinstance(costs, CostTable) else costs

    @property
    def costs(self) -> CostTable:
        if self._costs is None:
            assert self._build_costs is not None
            log.info("building the cost table of every pair within the cut-off")
            self._costs = self._build_costs()
            self._build_costs = None
        return self._costs

    def __repr__(self) -> str:
        built = "built" if self._costs is not None else "built on first use"
        return (f"AccessResult(demand={len(self.demand)} units, costs {built}, "
                f"layers={sorted(self.layers)})")


def _share_dict(table: pd.DataFrame, thresholds_min: Mapping[str, Sequence[float]]
                ) -> dict[str, dict[str, dict[str, float]]]:
    row = table.iloc[0]
    out: dict[str, dict[str, dict[str, float]]] = {}
    for tier, ths in thresholds_min.items():
        if f"{tier}_{ths[0]:g}min" not in table:
            continue
        out[tier] = {f"{thr:g}": {"population": float(row[f"{tier}_{thr:g}min"]),
                                  "share": float(row[f"{tier}_{thr:g}min_share"]),
                                  "beyond": float(row["population"] - row[f"{tier}_{thr:g}min"])}
                     for thr in ths}
    return out


def run_access(
    communes: gpd.GeoDataFrame,
    facilities: gpd.GeoDataFrame,
    *,
    legacy: gpd.GeoDataFrame | None = None,
    cell_size_m: float = 500.0,
    speed_kmh: float = 30.0,
    detour_factor: float = 1.4,
    cutoff_min: float = 180.0,
    thresholds_min: Mapping[str, Sequence[float]] | None = None,
    underserved_min: Mapping[str, float] | None = None,
    catchment_min: float = 60.0,
    decay: str = "gaussian",
    doctors_per_10k: float = 14.6,
    beds_per_10k: float = 45.0,
    doctors_per_station: float = 4.0,
    travel: TravelModel | None = None,
    raster: Any = None,
    halo: gpd.GeoDataFrame | None = None,
) -> AccessResult:
    """Population surface, travel costs and every access metric for a province.

    Parameters
    ----------
    communes, facilities, legacy : GeoDataFrame
        Layers of :mod:`gis.inputs.layers` in the working CRS (metres).
    cell_size_m : float
        Demand grid cell side, metres.
    speed_kmh, detour_factor : float
        Straight-line model (used when ``travel`` is None).
    cutoff_min : float
        Beyond this time a facility counts as out of reach (its time is NaN).

    Notes
    -----
    Each metric gets a table only as deep as it needs (straight-line model): the nearest
    facility of each tier (one pair per unit and tier, up to ``cutoff_min``) serves nearest
    times, coverage and under-served areas; the pairs within ``min(catchment_min,
    cutoff_min)`` of the facilities with a known supply serve the floating catchments. The
    table of every pair within ``cutoff_min`` (``AccessResult.costs``) is built only if asked
    for. The road and friction models search from each facility up to ``cutoff_min`` and
    keep one table. ``summary["cost_tables"]`` gives each table's pairs and depth.
    thresholds_min : mapping
        Tier -> inclusive thresholds in minutes for coverage.
    underserved_min : mapping
        Tier -> minutes for the under-served rule (default: station 30, regional 60).
    catchment_min, decay : float, str
        E2SFCA catchment and decay (``step`` or ``gaussian``); plain 2SFCA is computed too.
    doctors_per_10k, beds_per_10k, doctors_per_station : float
        Targets.
    travel : TravelModel, optional
        The travel model (:mod:`gis.model.travel`); its straight-line speed and detour factor
        replace ``speed_kmh`` and ``detour_factor``. Cells the road or friction model cannot
        reach are counted (cells, persons) in ``summary["travel_model"]``.
    halo : GeoDataFrame, optional
        Active facilities of neighbouring provinces within reach of the border (see
        :func:`gis.inputs.neighbours.halo_facilities`): ``facility_id``, ``name``, ``tier``,
        ``province_code``, Point in the working CRS. They count for the nearest facility per
        tier, coverage and under-served areas (a border unit is served by the nearest facility
        whichever province it is in; ties go to the province's own). They do not enter the
        floating catchments (a neighbour's supply is shared with its own province's demand,
        which this run does not hold), the indicators against targets, or ``costs`` (the
        plans and the network concern the province's own facilities). The demand units get
        ``<tier>_across_border`` (the nearest of the tier is across the border) and the
        summary a ``cross_border`` section: people best served across the border per tier,
        coverage with the province's own facilities only, and the gain.
    """
    thresholds_min = dict(thresholds_min or {"station": (15, 30, 60), "regional": (30, 60, 90),
                                             "provincial": (60, 120)})
    underserved_min = dict(underserved_min or {"station": 30.0, "regional": 60.0})
    demand = population_surface(communes, cell_size_m=cell_size_m, legacy=legacy, raster=raster)
    fac = facilities[facilities["status"] == "active"].reset_index(drop=True)
    xy = np.column_stack([demand["x"].to_numpy(), demand["y"].to_numpy()])
    fxy = fac.geometry.get_coordinates().to_numpy()
    tiers = fac["tier"].to_numpy()
    unit_ids = demand["unit_id"].to_numpy()
    fac_ids = fac["facility_id"].to_numpy()
    pop = demand["population"].to_numpy()
    # Supply of the floating catchments: doctors of every facility, beds of hospitals; unknown
    # values count as 0 (the figures are then lower bounds, said in the summary).
    supplies: dict[str, np.ndarray] = {}
    knowledge: dict[str, SupplyKnowledge] = {}
    for what, supply_tiers in (("doctors", None), ("beds", ("central", "provincial",
                                                           "regional"))):
        supply = fac[what].to_numpy(float)
        relevant = (np.isin(tiers, supply_tiers) if supply_tiers is not None
                    else np.ones(len(fac), bool))
        known = relevant & ~np.isnan(supply)
        knowledge[what] = SupplyKnowledge(known=int(known.sum()), total=int(relevant.sum()))
        supplies[what] = np.where(known, supply, 0.0)
    with_fca = [what for what in supplies if knowledge[what].known]
    # Facilities with no supply add nothing to either step: the catchment table leaves them out.
    supplying = np.zeros(len(fac), bool)
    for what in with_fca:
        supplying |= supplies[what] != 0
    catchment_depth_min = min(catchment_min, cutoff_min)
    road_report = None
    # Cross-border: the halo's facilities after the province's own (ties go to the own).
    hal = (halo[halo["status"] == "active"].reset_index(drop=True)
           if halo is not None and "status" in halo else halo)
    has_halo = hal is not None
    if has_halo:
        all_xy = np.vstack([fxy, hal.geometry.get_coordinates().to_numpy()])
        all_tiers = np.concatenate([tiers, hal["tier"].to_numpy()])
        all_ids = np.concatenate([fac_ids, hal["facility_id"].to_numpy()])
    else:
        all_xy, all_tiers, all_ids = fxy, tiers, fac_ids
    near_own = None
    if travel is not None:
        speed_kmh, detour_factor = travel.speed_kmh, travel.detour_factor
    if travel is not None and travel.kind != "straight":
        costs, road_report = travel.costs(xy, all_xy, cutoff_min=cutoff_min,
                                          origin_ids=unit_ids, dest_ids=all_ids,
                                          origin_population=pop)
        model = {**travel.describe(), "cutoff_min": cutoff_min, **road_report,
                 "cells_without_time": {"cells": road_report["unreached_origins"],
                                        "population": road_report["unreached_population"],
                                        "why": road_report["unreached_why"]}}
        near = costs
        if has_halo:
            own = np.arange(len(all_ids)) < len(fac)
            costs = near_own = subset_dests(costs, own)
        # One search per facility reaches the cut-off anyway: one table serves all.
        catch, supply_pos = costs, np.arange(len(fac))
        tables = {"all_pairs": {"pairs": int(len(costs)), "cutoff_min": cutoff_min}}
        costs_or_builder: CostTable | Callable[[], CostTable] = costs
        # the analyses' sized tables are cuts of the searched table (same figures)
        cost_model: CostModel = travel.cost_model(xy, fxy, cutoff_min=cutoff_min,
                                                  origin_ids=unit_ids, dest_ids=fac_ids,
                                                  table=costs)
    else:
        line = {"speed_kmh": speed_kmh, "detour_factor": detour_factor, "mode": "straight_line"}
        # Nearest per tier and coverage need one pair per unit and tier, whatever the cut-off;
        # the catchments need the pairs within the catchment of the facilities with supply.
        near = straight_line_nearest(xy, all_xy, cutoff_min=cutoff_min, groups=all_tiers,
                                     origin_ids=unit_ids, dest_ids=all_ids, **line)
        if has_halo:
            near_own = straight_line_nearest(xy, fxy, cutoff_min=cutoff_min, groups=tiers,
                                             origin_ids=unit_ids, dest_ids=fac_ids, **line)
        supply_pos = np.flatnonzero(supplying)
        catch = straight_line_costs(xy, fxy[supply_pos], cutoff_min=catchment_depth_min,
                                    origin_ids=unit_ids, dest_ids=fac_ids[supply_pos], **line)
        model = {"model": "straight line x detour factor / speed", "kind": "straight",
                 "mode": travel.mode if travel is not None else "",
                 "label": (travel.label() if travel is not None else
                           f"straight line x {detour_factor:g} at {speed_kmh:g} km/h: an "
                           f"estimate"),
                 "speed_kmh": speed_kmh, "detour_factor": detour_factor,
                 "cutoff_min": cutoff_min, "is_estimate": True}
        tables = {"nearest_per_tier": {"pairs": int(len(near)), "cutoff_min": cutoff_min},
                  "catchment": {"pairs": int(len(catch)), "cutoff_min": catchment_depth_min,
                                "facilities": int(len(supply_pos))}}

        cost_model = StraightLineModel(xy, fxy, cutoff_min=cutoff_min, origin_ids=unit_ids,
                                       dest_ids=fac_ids, **line)
        costs_or_builder = cost_model.table
    times = nearest_by_tier(near, all_tiers)
    out = demand.copy()
    for c in times.columns:
        out[c] = times[c].to_numpy()
    cross: dict[str, Any] | None = None
    if has_halo:
        assert near_own is not None
        times_own = nearest_by_tier(near_own, tiers)
        halo_ids = set(hal["facility_id"])
        cross = {"best_served_across": {}}
        for tier in ACCESS_TIERS:
            if f"{tier}_id" not in times:
                continue
            across = np.isin(times[f"{tier}_id"].to_numpy(), list(halo_ids))
            out[f"{tier}_across_border"] = across
            cross["best_served_across"][tier] = {"population": float(pop[across].sum()),
                                                 "units": int(across.sum())}
    # Floating catchment of doctors and beds (hospitals for beds, all facilities for doctors).
    fca_summary: dict[str, Any] = {"catchment_min": catchment_min, "decay": decay}
    values: dict[str, Any] = {}
    for label, dec in (("2sfca", "none"), ("e2sfca", decay)):
        per_supply = _fca_many(catch, pop, [supplies[what][supply_pos] for what in with_fca],
                               catchment_min=catchment_min, decay=dec, per=10_000.0)
        for what, v in zip(with_fca, per_supply, strict=True):
            values[f"{label}_{what}_per_10k"] = v
    for what in supplies:
        for label in ("2sfca", "e2sfca"):
            out[f"{label}_{what}_per_10k"] = values.get(f"{label}_{what}_per_10k", np.nan)
    for what, sub_known in knowledge.items():
        fca_summary[what] = {"knowledge": sub_known.text(what),
                             "lower_bound": not sub_known.complete and sub_known.known > 0,
                             "known": sub_known.known, "total": sub_known.total}
    # Coverage tables
    prov = coverage_table(pop, times, thresholds_min)
    per_new = coverage_table(pop, times, thresholds_min, demand["commune_code"].to_numpy())
    com = communes[["commune_code", "commune_name", "geometry"]].merge(
        per_new, left_on="commune_code", right_index=True, how="left")
    codes, code_of = np.unique(demand["commune_code"].to_numpy(), return_inverse=True)
    for what in ("doctors", "beds"):
        col = f"e2sfca_{what}_per_10k"
        com[col] = com["commune_code"].map(pd.Series(
            _weighted_mean_by(code_of, out[col].to_numpy(float), pop, len(codes)), index=codes))
    for tier in ("station", "regional", "provincial"):
        col = f"{tier}_time_min"
        if col in out:
            reach = out[col].notna()
            pt = (out[col].fillna(0) * out["population"]).groupby(out["commune_code"]).sum()
            pr = out["population"].where(reach, 0).groupby(out["commune_code"]).sum()
            with np.errstate(invalid="ignore", divide="ignore"):
                com[f"{tier}_mean_time_min"] = com["commune_code"].map(pt / pr)
    com = gpd.GeoDataFrame(com, geometry="geometry", crs=communes.crs)
    layers: dict[str, gpd.GeoDataFrame] = {"demand_cells": out, "coverage_communes": com}
    if legacy is not None:
        per_old = coverage_table(pop, times, thresholds_min,
                                 demand["legacy_commune_code"].to_numpy())
        lg = legacy[["commune_code", "commune_name", "new_commune_code", "geometry"]].merge(
            per_old, left_on="commune_code", right_index=True, how="left")
        layers["coverage_legacy"] = gpd.GeoDataFrame(lg, geometry="geometry", crs=legacy.crs)
    extra: dict[str, np.ndarray] = {}
    for what, target in (("beds", beds_per_10k), ("doctors", doctors_per_10k)):
        if fca_summary[what]["known"] == fca_summary[what]["total"] > 0:
            extra[f"{what} per 10,000 below the target of {target:g} (E2SFCA)"] = (
                out[f"e2sfca_{what}_per_10k"].to_numpy() < target)
    names = dict(zip(fac["facility_id"], fac["name"], strict=True))
    if has_halo:
        names.update(zip(hal["facility_id"], hal["name"], strict=True))
    under = underserved_areas(out, times, rules_min=underserved_min, facility_names=names,
                              extra_reasons=extra,
                              commune_names=dict(zip(communes["commune_code"],
                                                     communes["commune_name"], strict=True)))
    layers["underserved"] = under
    total = float(pop.sum())
    summary = {
        "travel_model": model,
        "demand": {"units": int(len(demand)), "cell_size_m": cell_size_m,
                   "population": total},
        "cost_tables": tables,
        "coverage": _share_dict(prov, thresholds_min),
        "covered_share": {tier: {f"covered_{thr}min_share": v["share"]
                                 for thr, v in d.items()}
                          for tier, d in _share_dict(prov, thresholds_min).items()},
        "population_unreached_within_cutoff": {
            tier: float(pop[np.isnan(times[f"{tier}_time_min"].to_numpy())].sum())
            for tier in ("station", "regional", "provincial") if f"{tier}_time_min" in times},
        "fca": fca_summary,
        "indicators": indicators(facilities, total, doctors_per_10k=doctors_per_10k,
                                 beds_per_10k=beds_per_10k,
                                 doctors_per_station=doctors_per_station),
        "far_communes": far_communes(com, underserved_min),
        "underserved": {
            "rules_min": underserved_min,
            "areas": int(len(under)),
            "population": float(under["population"].sum()) if len(under) else 0.0,
            "top": [{k: (None if isinstance(v, float) and np.isnan(v) else v)
                     for k, v in r.items() if k != "geometry"}
                    for r in under.head(10).to_dict("records")],
        },
    }
    if cross is not None:
        own_table = coverage_table(pop, times_own, thresholds_min)
        own_cov = _share_dict(own_table, thresholds_min)
        cross["coverage_own_facilities"] = own_cov
        cross["coverage_gain"] = {
            tier: {thr: v["population"] - own_cov.get(tier, {}).get(thr, {}).get(
                "population", 0.0) for thr, v in d.items()}
            for tier, d in summary["coverage"].items()}
        cross["note"] = ("facilities of neighbouring provinces within reach count for the "
                         "nearest facility, coverage and under-served areas; not for the "
                         "floating catchments, the indicators, the plans or the network")
        summary["cross_border"] = cross
    return AccessResult(demand=out, costs=costs_or_builder, layers=layers, summary=summary,
                        road_report=road_report, cost_model=cost_model)


def far_communes(coverage: pd.DataFrame, rules_min: Mapping[str, float], *,
                 top: int = 5) -> dict[str, dict[str, Any]]:
    """Per tier, the post-2025 communes with the most people beyond the tier's time.

    Parameters
    ----------
    coverage : DataFrame
        Per commune (``coverage_communes``): ``commune_code``, ``commune_name``,
        ``population`` and ``<tier>_<T>min`` (people within T minutes).
    rules_min : mapping
        Tier -> minutes (the under-served rule, e.g. station 30, regional 60).
    top : int
        Communes listed per tier.

    Returns
    -------
    dict
        Tier -> ``{"time_min", "population" (people beyond, all communes), "communes"
        (number of communes with people beyond), "top": [{"commune_code", "commune_name",
        "population"}]}``; tiers whose column is absent are left out.
    """
    out: dict[str, dict[str, Any]] = {}
    for tier, limit in rules_min.items():
        col = f"{tier}_{float(limit):g}min"
        if col not in coverage:
            continue
        beyond = (coverage["population"] - coverage[col]).clip(lower=0.0).fillna(0.0)
        beyond = beyond.where(beyond > 1e-6 * coverage["population"].clip(lower=1.0), 0.0)
        order = beyond.sort_values(ascending=False, kind="stable")
        order = order[order > 0]
        out[tier] = {"time_min": float(limit), "population": float(beyond.sum()),
                     "communes": int(len(order)),
                     "top": [{"commune_code": str(coverage["commune_code"].loc[i]),
                              "commune_name": str(coverage["commune_name"].loc[i]),
                              "population": float(v)} for i, v in order.head(top).items()]}
    return out


def _weighted_mean_by(group: np.ndarray, values: np.ndarray, weights: np.ndarray,
                      n_groups: int) -> np.ndarray:
    """Weighted mean of ``values`` per group (codes 0..n-1); NaN where the weights sum to 0 or
    a value is NaN."""
    bad = np.bincount(group, weights=np.isnan(values), minlength=n_groups) > 0
    wsum = np.bincount(group, weights=weights, minlength=n_groups)
    num = np.bincount(group, weights=np.where(np.isnan(values), 0.0, values) * weights,
                      minlength=n_groups)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(bad | ~(wsum > 0), np.nan, num / wsum)
