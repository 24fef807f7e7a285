"""The plan editor: one self-contained, offline HTML file to try station plans by clicking.

A planner clicks a commune health station to cycle it keep -> branch point -> closed, clicks the
map to add a new station (snapped to the nearest demand unit), and sees at once the figures of
:func:`gis.analyses.plans.evaluate` (people within each station threshold, mean and 90th-percentile
travel time, people losing access per commune, stations per commune, doctors needed) against
today and the official plans, with the demand cells that lose access drawn on the map. The plan
is exported as the CSV that ``gis plan evaluate`` reads, and such a CSV can be imported.

The browser computes the figures from data precomputed here (:func:`build_editor_data`):

- for every demand unit, its ``k`` nearest current stations within the cut-off, nearest first
  (ties: the cost table's order), and whether more stations are within the cut-off. The
  figures are **exact while no unit loses all of its k nearest stations**: the nearest open
  station is then among them. ``k`` is by default the smallest that makes every plan keeping at
  least one current station open in each post-2025 commune exact (for each unit: the adversary
  keeps, in each commune, the station farthest from it; the nearest of those bounds the nearest
  open one, and ``k`` counts the stations up to it). When a plan goes past the limit the page
  says how many units and people are affected, and uses the k-th nearest station's time as
  their time: a lower bound of the true time.
- travel times are not stored when the cost table follows the straight-line model: the page
  recomputes ``sqrt(dx*dx + dy*dy) * detour_factor / speed_m_per_min`` in the same float64
  operations as :func:`gis.model.costs.straight_line_costs` (IEEE-754: bit for bit the same times;
  checked here against the table, and in the tests in Chromium). New sites use the same
  formula over every demand unit. Tables of another model (roads) are embedded as float64
  times, and new sites are then disabled (the browser cannot route on roads).
- a new site is placed on a demand unit: its longitude/latitude are rounded to 1e-7 degree
  (about 1 cm), and its working-CRS point is the projection of those rounded degrees, computed
  here the way :func:`gis.inputs.plans.validate_plan` computes it, so the exported CSV
  evaluates to the same figures in ``gis plan evaluate``.

Arrays travel as base64 of little-endian typed arrays: station positions as uint8 (uint16 past
254 stations), commune positions as uint8/uint16, degrees as int32 in 1e-7 degree, flags as
uint8; coordinates and populations stay float64 (sums must match to the person).

Every text of the page is a message of the project's gettext catalog (:data:`MESSAGES`, marked
for extraction, translated in ``gis/outputs/locale/vi/LC_MESSAGES/gis.po``). The page holds the
strings of both languages, taken from the catalog when it is written (:func:`page_strings`), and
the separators of numbers of each language (Babel's CLDR data, as :meth:`Lang.num
<gis.outputs.i18n.Lang.num>`: 1.623.061 in Vietnamese, 1,623,061 in English), so that it switches
language with no server. The texts the analyses write into the data (sources, estimate notes)
are translated for each language by :meth:`Lang.text <gis.outputs.i18n.Lang.text>`; names, ids
and files are data, shown as they are and marked ``translate="no"``.
"""

from __future__ import annotations

import base64
import html
import logging
import re
from collections.abc import Mapping, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from gis.analyses.plans import baseline_plan, evaluate
from gis.errors import GisError
from gis.inputs.plans import SERVICE_TIERS, Plan
from gis.jsonable import to_jsonable
from gis.model.costs import CostModel, CostTable
from gis.outputs import files
from gis.outputs.i18n import LANGUAGES, N_, Lang, get_lang
from gis.outputs.maps import LEAFLET_CDN, leaflet_inline, script_json

log = logging.getLogger(__name__)

__all__ = ["FORMAT", "K_MAX", "MESSAGES", "build_editor_data", "decode_array", "degrees_text",
           "page_strings", "plan_editor_html", "write_plan_editor"]

FORMAT = "gis-plan-editor/1"
K_MAX = 48
_HOSPITAL_TIERS = ("central", "provincial", "regional")

# The labels of the official plans ("69 + branch points", "69 only"): catalog messages that the
# page fills with the number of main stations.
_WITH_BRANCHES = N_("{n} + branch points")
_ONLY = N_("{n} only")

#: Every text the page's script shows: English messages of the catalog (``gis.po``), marked
#: for extraction. The script looks a text up by its English message (``t("Undo")``) in the
#: strings of the current language, which :func:`page_strings` takes from the catalog for
#: each language; placeholders in braces are filled by the script, with a number formatted
#: for the language or with data (a name, an id, a file) marked ``translate="no"``.
MESSAGES: tuple[str, ...] = (
    # the page and its tools
    N_("No basemap: this file works offline, so the commune boundaries are drawn as the base."),
    N_("How to edit"),
    N_("Click a station to cycle it: main station → branch point → closed → main station. "
       "Click elsewhere on the map to add a new station at the nearest demand cell (its "
       "commune is the one it falls in); click a new station to make it a branch point, and "
       "again to remove it."),
    N_("Undo"),
    N_("Nothing to undo."),
    N_("Start from:"),
    N_("Export plan (CSV)"),
    N_("Import plan (CSV)"),
    N_("Language"),
    N_("Zoom in"),
    N_("Zoom out"),
    N_("ready · {ms} ms"),
    # the figures
    N_("This plan"),
    N_("today"),
    _WITH_BRANCHES,
    _ONLY,
    N_("Figure"),
    N_("Service points (stations and branch points)"),
    N_("Main stations"),
    N_("People within {min} min of a station"),
    N_("Mean travel time to the nearest station (min)"),
    N_("90th percentile of travel time (min)"),
    N_("People losing {min}-min access (vs today)"),
    N_("People beyond the {min}-min cut-off"),
    N_("Doctors needed ({n} per main station)"),
    N_("Per commune"),
    N_("Commune"),
    N_("Main stations: plan / today"),
    N_("Service points: plan / today"),
    N_("Losing {min}-min access: plan / {ref}"),
    # the map and its legend
    N_("Main station"),
    N_("Branch point"),
    N_("Closed"),
    N_("New station"),
    N_("New branch point"),
    N_("Hospital"),
    N_("Demand cells losing {min}-min access"),
    N_("Commune boundaries (post-2025)"),
    N_("Legend"),
    # whether the plan is valid, and exact
    N_("A valid plan: one main station in every commune."),
    N_("Not a valid plan yet (gis plan evaluate will refuse it):"),
    N_("{n} communes have no main station: {list}"),
    N_("{n} communes have several main stations: {list}"),
    N_("{n} branch points serve a commune without a main station: {list}"),
    N_("Exact: every demand cell's nearest open station is among the {k} nearest stored for "
       "it (k = {k}: exact for every plan that keeps at least one current station open in "
       "each commune)."),
    N_("Not exact for {cells} demand cells ({people} people): all of their {k} nearest "
       "stations are closed and no new station is nearer. Their travel time is taken as the "
       "{k}-th nearest station's time, a lower bound (the true time is at least this); "
       "figures that depend on them are marked ≈."),
    N_("k = {k} is below the {needed} needed to guarantee exactness for every plan with a main "
       "station in each commune ({cells} cells could be affected); the page warns when a plan "
       "reaches them."),
    N_("Checked: the figures computed in this page for today and the official plans equal "
       "those of gis (plans.evaluate)."),
    N_("Check failed: the figures computed in this page differ from those of gis for: {list}"),
    # clicks on the map
    N_("New station {id} in {commune}"),
    N_("Outside the demand surface: click inside the province."),
    N_("New stations are disabled: the travel times come from a road network, which this page "
       "cannot route on."),
    # export and import
    N_("Exported {file}."),
    N_("Imported {file}: {stations} stations, {sites} new stations."),
    N_("Import refused, {n} problems in {file}:"),
    N_("missing column {col}"),
    N_("row {row}: unknown facility id {id}: not a station of this province"),
    N_("row {row}: unknown action {action}: use keep, branch, close or new"),
    N_("row {row}: unknown commune code {code}"),
    N_("row {row}: new station {id} needs lon and lat (degrees)"),
    N_("row {row}: new station {id} is outside the demand surface"),
    N_("row {row}: new station id {id} is the id of an existing facility"),
    N_("row {row}: facility id {id} is listed twice"),
    N_("{n} stations have no action: {list}"),
    N_("the file is empty"),
    N_("new station {id} moved {m} m to the nearest demand cell"),
    # data sources
    N_("Data sources and estimates"),
    N_("Travel times: straight line × {detour} at {speed} km/h, up to {cutoff} min (an "
       "estimate)."),
    N_("Travel times: {model} cost table, up to {cutoff} min."),
    N_("Station sites: {n} of {total} are estimates ({source})."),
)


# --- arrays -----------------------------------------------------------------------------------

def _array(values: np.ndarray, dtype: str) -> dict[str, Any]:
    a = np.ascontiguousarray(np.asarray(values).astype(np.dtype(dtype).newbyteorder("<")))
    return {"dtype": dtype, "shape": list(a.shape),
            "b64": base64.b64encode(a.tobytes()).decode("ascii")}


def decode_array(entry: Mapping[str, Any]) -> np.ndarray:
    """The array of one ``{"dtype", "shape", "b64"}`` entry of :func:`build_editor_data`."""
    dt = np.dtype(entry["dtype"]).newbyteorder("<")
    return np.frombuffer(base64.b64decode(entry["b64"]), dtype=dt).reshape(entry["shape"])


def _index_dtype(n: int) -> tuple[str, int]:
    """Smallest unsigned type holding 0..n-1 plus a 'none' value (its maximum)."""
    return ("uint8", 255) if n < 255 else ("uint16", 65535) if n < 65535 else ("uint32",
                                                                              2**32 - 1)


def _degrees_e7(lon_lat: np.ndarray) -> np.ndarray:
    """Degrees as integers of 1e-7 degree (the text the page writes: 7 decimals)."""
    return np.round(np.asarray(lon_lat, np.float64) * 1e7).astype(np.int64)


def degrees_text(e7: int) -> str:
    """The decimal text of an integer count of 1e-7 degree (as the page writes it)."""
    sign = "-" if e7 < 0 else ""
    a = abs(int(e7))
    return f"{sign}{a // 10_000_000}.{a % 10_000_000:07d}"


# --- the k rule -------------------------------------------------------------------------------

def _k_needed(o: np.ndarray, t: np.ndarray, com: np.ndarray, n_origins: int,
              n_per_commune: np.ndarray) -> np.ndarray:
    """Per origin, how many nearest stations guarantee its nearest open station under any plan
    that keeps at least one station of each commune open.

    For an origin, the adversary keeps open in each commune the station farthest from it; the
    nearest open station is then no farther than ``W`` = the least, over the communes whose
    stations are all within the cut-off, of their farthest station (infinite when there is
    none: every station within the cut-off is needed). The count is the stations with time <=
    ``W``.
    """
    n_com = len(n_per_commune)
    key = o.astype(np.int64) * n_com + com
    g = pd.DataFrame({"key": key, "t": t}).groupby("key", sort=False)["t"].agg(["max", "size"])
    keys = g.index.to_numpy()
    full = g["size"].to_numpy() == n_per_commune[keys % n_com]
    bound = np.full(n_origins, np.inf)
    np.minimum.at(bound, keys[full] // n_com, g["max"].to_numpy()[full])
    return np.bincount(o, weights=(t <= bound[o]), minlength=n_origins).astype(np.int64)


# --- building the data ------------------------------------------------------------------------

# Stations per unit first read from a CostModel (read again K_MAX + 1 deep when a unit
# needs more).
_FIRST_DEPTH = 25


def _first_stations(costs: CostModel, station_of_dest: np.ndarray, depth: int
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(unit, station, minutes) of each unit's first ``depth`` stations in (time, position)
    order, as the table's station pairs sorted per unit would start
    (:meth:`gis.model.costs.CostModel.nearest_k`).

    Every figure of the page then equals the full table's: a unit's near stations and
    times are its first ``k`` (``depth`` > ``k``); "more within the cut-off than k" is "more
    held than k"; and :func:`_k_needed` on the held pairs is exact wherever it is below
    ``depth`` (the commune that bounds it has every station held), else it is ``depth``,
    beyond :data:`K_MAX` once read ``K_MAX + 1`` deep (k is then ``K_MAX`` either way, and
    ``k_needed`` reads "more than K_MAX").
    """
    is_station = station_of_dest >= 0
    nk = costs.nearest_k(depth) if is_station.all() else \
        costs.subset(is_station).nearest_k(depth)
    D, T = nk.dest[nk.row], nk.time_min[nk.row]
    held = D >= 0
    o = np.repeat(np.arange(len(nk.row), dtype=np.int64), held.sum(axis=1))
    s = station_of_dest[np.flatnonzero(is_station)[D[held]]]
    return o, s, T[held]

def _lonlat(xy: np.ndarray, crs: Any) -> np.ndarray:
    pts = gpd.GeoSeries(shapely.points(xy), crs=crs).to_crs(4326)
    return np.column_stack([pts.x.to_numpy(), pts.y.to_numpy()])


def _project_like_plans(lonlat: np.ndarray, crs: Any) -> np.ndarray:
    """EPSG:4326 degrees -> the working CRS, as :func:`gis.inputs.plans.validate_plan` does."""
    xy = gpd.GeoSeries(shapely.points(lonlat), crs=4326).to_crs(crs)
    return np.column_stack([xy.x.to_numpy(), xy.y.to_numpy()])


def _figures(ev: Any, codes: list[str], thresholds: Sequence[float], mid: float) -> dict:
    """The figures of one :class:`gis.analyses.plans.Evaluation` the page shows and checks."""
    p = ev.province
    out = {"service_points": p["service_points"], "main_stations": p["main_stations"],
           "mean_time_min": p["mean_time_min"], "p90_time_min": p["p90_time_min"],
           "max_time_min": p["max_time_min"],
           "population_beyond_cutoff": p["population_beyond_cutoff"],
           "doctors_needed": p["doctors_needed"], "population": p["population"]}
    for thr in thresholds:
        out[f"covered_{thr:g}min"] = p[f"covered_{thr:g}min"]
        if f"losing_{thr:g}min" in p:
            out[f"losing_{thr:g}min"] = p[f"losing_{thr:g}min"]
    c = ev.communes.set_index("commune_code").reindex(codes)
    out["communes"] = {
        "main_stations": c["main_stations"].fillna(0).astype(int).tolist(),
        "service_points": c["service_points"].fillna(0).astype(int).tolist(),
    }
    if f"losing_{mid:g}min" in c:
        out["communes"][f"losing_{mid:g}min"] = c[f"losing_{mid:g}min"].fillna(0.0).tolist()
    return to_jsonable(out)


def build_editor_data(demand: pd.DataFrame, costs: CostTable | CostModel,
                      facilities: gpd.GeoDataFrame,
                      communes: gpd.GeoDataFrame, *, thresholds_min: Sequence[float],
                      doctors_per_station: float, official_plans: Mapping[str, Plan],
                      speed_kmh: float | None = None, detour_factor: float | None = None,
                      k: int | None = None, cell_size_m: float = 500.0,
                      simplify_m: float = 60.0) -> dict[str, Any]:
    """Everything the plan editor page needs, as a JSON-ready dict (arrays as base64).

    Parameters
    ----------
    demand : DataFrame
        Demand units, the origins of ``costs`` in order: ``population`` (persons),
        ``commune_code`` (post-2025), ``x``, ``y`` (working CRS, metres; the points the cost
        table measured from). A GeoDataFrame's CRS is used; otherwise ``facilities.crs``.
    costs : CostTable or CostModel
        Demand units -> facilities within the cut-off (may include hospitals: only the
        active stations count). A model gives each unit's first stations only (25, or
        ``K_MAX + 1`` when a unit needs more) and scores the references exactly: the same
        data as the full table (``k_needed`` above ``K_MAX`` reads ``K_MAX + 1``).
    facilities : GeoDataFrame
        ``facility_id``, ``name``, ``tier``, ``status``, ``commune_code`` (points, working CRS).
        The editable stations are the active ones of tier ``station`` (as
        :func:`gis.analyses.plans.baseline_plan`).
    communes : GeoDataFrame
        Post-2025 communes: ``commune_code``, ``commune_name``, polygons.
    thresholds_min : sequence of float
        Station thresholds, minutes (inclusive); the middle one is the threshold of "losing
        access".
    doctors_per_station : float
        Doctors per main station (the norm).
    official_plans : mapping
        Name -> :class:`gis.inputs.plans.Plan` of existing stations only (e.g. "69 + branch points"
        and "69 only"): shown as references, evaluated here and recomputed by the page.
    speed_kmh, detour_factor : float, optional
        The straight-line model of ``costs``. When given and the table's station times equal
        the formula bit for bit, the page recomputes times (none stored) and may place new
        stations; otherwise times are embedded and new stations are disabled.
    k : int, optional
        Nearest stations stored per demand unit (default: the smallest that is exact for every
        plan keeping a current station open in each commune, at most :data:`K_MAX`).
    cell_size_m : float
        Side of the demand grid cells, metres (the squares drawn for cells losing access).
    simplify_m : float
        Tolerance for drawing the commune polygons, metres.

    Returns
    -------
    dict
        JSON-serialisable: ``k``, ``k_needed``, ``exact`` (every plan with a station open in
        each commune is exact), ``cells`` (arrays, see :func:`decode_array`), ``stations``,
        ``hospitals``, ``communes``, ``references`` (Python figures of today and of each
        official plan), ``travel``, ``thresholds_min``, ...

    Raises
    ------
    GisError
        When a station is missing from the cost table, a demand unit's commune is not among
        ``communes``, or a reference plan has new sites.
    """
    crs = getattr(demand, "crs", None) or facilities.crs
    thresholds = tuple(float(v) for v in thresholds_min)
    mid = thresholds[len(thresholds) // 2]
    st = facilities[(facilities["tier"] == "station") & (facilities["status"] == "active")]
    st = st.reset_index(drop=True)
    n_st = len(st)
    if n_st == 0:
        msg = "plan editor: the facilities layer has no active station (tier 'station')"
        raise GisError(msg)
    st_ids = st["facility_id"].astype(str).to_numpy()
    dest_ids = np.asarray(costs.dest_ids).astype(str)
    dest_pos = pd.Series(np.arange(len(dest_ids)), index=dest_ids)
    missing = [i for i in st_ids if i not in dest_pos.index]
    if missing:
        msg = (f"plan editor: {len(missing)} stations are not destinations of the cost table "
               f"({', '.join(missing[:5])}); build the table on the active facilities")
        raise GisError(msg)
    n = len(demand)
    if costs.n_origins != n:
        msg = (f"plan editor: the cost table has {costs.n_origins} origins but demand has {n} "
               f"units; give the demand the table was built on")
        raise GisError(msg)
    com_codes = communes["commune_code"].astype(str).tolist()
    com_pos = pd.Series(np.arange(len(com_codes)), index=com_codes)
    unit_code = demand["commune_code"].astype(str)
    unknown = sorted(set(unit_code) - set(com_codes))
    if unknown:
        msg = (f"plan editor: demand units in communes not in the communes layer: "
               f"{', '.join(unknown[:5])}")
        raise GisError(msg)
    unit_com = com_pos.reindex(unit_code).to_numpy()
    st_com_code = st["commune_code"].astype(str)
    st_com = com_pos.reindex(st_com_code).to_numpy()
    if np.isnan(st_com.astype(float)).any():
        bad = st_ids[np.isnan(st_com.astype(float))]
        msg = f"plan editor: stations in communes not in the communes layer: {', '.join(bad[:5])}"
        raise GisError(msg)
    st_com = st_com.astype(np.int64)

    # station pairs, nearest first per unit (ties: the table's order, as nearest_open_time)
    station_of_dest = np.full(len(dest_ids), -1, np.int64)
    station_of_dest[dest_pos[st_ids].to_numpy()] = np.arange(n_st)
    per_commune = np.bincount(st_com, minlength=len(com_codes))
    if isinstance(costs, CostModel):
        # each unit's first stations only (see _first_stations): as deep as the page needs;
        # the references are scored on the stations (a plan opens nothing else), from the
        # same first stations
        costs = costs.subset(station_of_dest >= 0)
        station_of_dest = station_of_dest[station_of_dest >= 0]
        depth = _FIRST_DEPTH if k is None else int(k) + 1
        while True:
            o, s, t = _first_stations(costs, station_of_dest, depth)
            needed = _k_needed(o, t, st_com[s], n, per_commune)
            if k is not None or needed.max(initial=0) < depth or depth > K_MAX:
                break
            depth = K_MAX + 1
    else:
        s_all = station_of_dest[costs.dest]
        keep = s_all >= 0
        o, s, t = costs.origin[keep].astype(np.int64), s_all[keep], costs.time_min[keep]
        order = np.lexsort((np.arange(len(o)), t, o))
        o, s, t = o[order], s[order], t[order]
        needed = _k_needed(o, t, st_com[s], n, per_commune)
    n_within = np.bincount(o, minlength=n)
    start = np.r_[0, np.cumsum(n_within)[:-1]]
    rank_in_unit = np.arange(len(o)) - start[o]
    k_needed = int(max(needed.max(initial=1), 1))
    if k is None:
        k = min(k_needed, K_MAX)
    k = int(k)
    if k < 1:
        msg = f"plan editor: k must be at least 1, found {k}"
        raise GisError(msg)
    not_guaranteed = int((needed > k).sum())
    idx_dtype, none = _index_dtype(n_st)
    near = np.full((n, k), none, np.int64)
    near_t = np.full((n, k), np.inf)
    sel = rank_in_unit < k
    near[o[sel], rank_in_unit[sel]] = s[sel]
    near_t[o[sel], rank_in_unit[sel]] = t[sel]
    more = (n_within > k).astype(np.uint8)

    # travel times: recomputed by the page when the table follows the straight-line formula
    xy = demand[["x", "y"]].to_numpy(np.float64)
    sxy = st.geometry.get_coordinates().to_numpy(np.float64)
    times_mode = "table"
    speed_m_per_min = None
    if speed_kmh is not None and detour_factor is not None:
        speed_m_per_min = float(speed_kmh) * 1000.0 / 60.0
        uo, us = o[sel], s[sel]
        dx = xy[uo, 0] - sxy[us, 0]
        dy = xy[uo, 1] - sxy[us, 1]
        formula = np.sqrt(dx * dx + dy * dy) * float(detour_factor) / speed_m_per_min
        if np.array_equal(formula, t[sel]):
            times_mode = "formula"
        else:
            log.info("plan editor: the cost table's times are not the straight-line formula's "
                     "(%s model): times embedded, new stations disabled", costs.mode)
    pop = demand["population"].to_numpy(np.float64)

    # new sites: degrees rounded to 1e-7 and their projection as validate_plan computes it
    lonlat = _lonlat(xy, crs)
    e7 = _degrees_e7(lonlat)
    snap = _project_like_plans(e7 / 1e7, crs)
    cells = {
        "n": n,
        "x": _array(xy[:, 0], "float64"), "y": _array(xy[:, 1], "float64"),
        "population": _array(pop, "float64"),
        "commune": _array(unit_com, _index_dtype(len(com_codes))[0]),
        "near": _array(near, idx_dtype), "none": none,
        "more": _array(more, "uint8"),
        "lon_e7": _array(e7[:, 0], "int32"), "lat_e7": _array(e7[:, 1], "int32"),
        "snap_x": _array(snap[:, 0], "float64"), "snap_y": _array(snap[:, 1], "float64"),
    }
    if times_mode == "table":
        cells["times"] = _array(near_t, "float64")

    # references: today and the official plans, evaluated by gis
    codes_arr = unit_code.to_numpy()
    common = {"population": pop, "commune_codes": codes_arr, "costs": costs,
              "thresholds_min": thresholds, "doctors_per_station": doctors_per_station}
    base = evaluate(baseline_plan(facilities), **common)
    refs = [{"key": "today", "name": "today", "figures": _figures(base, com_codes, thresholds,
                                                                   mid)}]
    st_index = pd.Series(np.arange(n_st), index=st_ids)
    for name, plan in official_plans.items():
        a = plan.actions.copy()
        a["facility_id"] = a["facility_id"].astype(str)
        if (a["action"] == "new").any():
            msg = f"plan editor: reference plan '{name}' has new sites; give existing stations"
            raise GisError(msg)
        a = a[a["facility_id"].isin(st_index.index)].set_index("facility_id").reindex(st_ids)
        ev = evaluate(plan, **common, baseline_time_min=base.time_min)
        m = re.fullmatch(r"(\d+) (\+ branch points|only)", str(name))
        refs.append({
            "key": f"ref{len(refs)}", "name": str(name),
            "label": ({"pattern": _WITH_BRANCHES if m.group(2) != "only" else _ONLY,
                       "n": int(m.group(1))} if m else None),
            "actions": a["action"].fillna("close").tolist(),
            "targets": a["target_commune_code"].fillna("").astype(str).tolist(),
            "figures": _figures(ev, com_codes, thresholds, mid)})

    # what the page draws
    st_ll = _lonlat(sxy, crs)
    stations = [{"id": fid, "name": str(nm), "commune": str(cc),
                 "legacy": str(lc) if pd.notna(lc) else "",
                 "x": float(x), "y": float(y), "lon": round(float(lo), 6),
                 "lat": round(float(la), 6),
                 "site": str(src) if pd.notna(src) else ""}
                for fid, nm, cc, lc, x, y, lo, la, src in zip(
                    st_ids, st["name"], st_com_code, st.get("legacy_commune_code", [None] * n_st),
                    sxy[:, 0], sxy[:, 1], st_ll[:, 0], st_ll[:, 1],
                    st.get("location_source", [None] * n_st), strict=True)]
    hosp = facilities[facilities["tier"].isin(_HOSPITAL_TIERS)
                      & (facilities["status"] == "active")]
    h_ll = _lonlat(hosp.geometry.get_coordinates().to_numpy(np.float64), crs) if len(hosp) \
        else np.zeros((0, 2))
    hospitals = [{"id": str(fid), "name": str(nm), "tier": str(tr), "lon": round(float(lo), 6),
                  "lat": round(float(la), 6)}
                 for fid, nm, tr, lo, la in zip(hosp["facility_id"], hosp["name"], hosp["tier"],
                                                h_ll[:, 0], h_ll[:, 1], strict=True)]
    others = facilities[facilities["tier"].isin(SERVICE_TIERS)
                        & ~facilities["facility_id"].astype(str).isin(st_index.index)]
    shape_of = _display_shapes(communes, crs=communes.crs or crs, simplify_m=simplify_m)
    com_pop = pd.Series(pop).groupby(unit_com).sum().reindex(range(len(com_codes))).fillna(0.0)
    communes_out = [{"code": code, "name": str(nm), "population": float(com_pop.iloc[i]),
                     "geometry": (shapely.geometry.mapping(shape_of[code])
                                  if code in shape_of else None)}
                    for i, (code, nm) in enumerate(zip(com_codes, communes["commune_name"],
                                                       strict=True))]
    lo, la = lonlat[:, 0], lonlat[:, 1]
    est = st["location_source"].astype(str).str.startswith("estimate").sum() \
        if "location_source" in st else 0
    return {
        "format": FORMAT,
        "thresholds_min": list(thresholds), "middle_threshold_min": mid,
        "doctors_per_station": float(doctors_per_station),
        "k": k, "k_needed": k_needed, "exact": not_guaranteed == 0,
        "cells_not_guaranteed": not_guaranteed,
        "k_rule": ("exact while no demand unit loses all of its k nearest stations; k = the "
                   "most stations any unit needs when each commune keeps at least one of its "
                   "current stations open"),
        "fallback": "the k-th nearest station's time, a lower bound",
        "travel": {"times": times_mode, "new_sites": times_mode == "formula",
                   "speed_kmh": None if speed_kmh is None else float(speed_kmh),
                   "speed_m_per_min": speed_m_per_min,
                   "detour_factor": None if detour_factor is None else float(detour_factor),
                   "cutoff_min": float(costs.cutoff_min),
                   "limit_min": float(costs.cutoff_min) * (1 + 1e-12), "model": costs.mode},
        "cells": cells, "cell_size_m": float(cell_size_m),
        "stations": stations,
        "stations_estimated": int(est),
        "station_site_source": (str(st["location_source"].iloc[0])
                                if "location_source" in st and n_st else ""),
        "fixed_rows": [{"id": str(fid), "action": "close", "target": str(cc)}
                       for fid, cc in zip(others["facility_id"], others["commune_code"],
                                          strict=True)],
        "facility_ids": sorted(facilities["facility_id"].astype(str)),
        "hospitals": hospitals,
        "communes": communes_out,
        "references": refs,
        "bounds": [[float(la.min()), float(lo.min())], [float(la.max()), float(lo.max())]],
    }


def _display_shapes(communes: gpd.GeoDataFrame, *, crs: Any,
                    simplify_m: float) -> dict[str, shapely.Geometry]:
    """Commune code -> polygon simplified in metres (shared boundaries kept shared when the
    polygons form a coverage), in EPSG:4326 degrees rounded to 5 decimals (about 1 m)."""
    g = communes[communes.geometry.notna() & ~communes.geometry.is_empty]
    geoms = g.geometry.to_numpy()
    if simplify_m > 0 and len(geoms):
        try:
            coverage = bool(shapely.coverage_is_valid(geoms))
        except Exception:  # noqa: BLE001 - GEOS without coverage support, or invalid input
            coverage = False
        geoms = (shapely.coverage_simplify(geoms, simplify_m) if coverage
                 else shapely.simplify(geoms, simplify_m, preserve_topology=True))
    deg = gpd.GeoSeries(geoms, crs=crs).to_crs(4326).to_numpy()
    deg = shapely.transform(deg, lambda c: np.round(c, 5))
    return dict(zip(g["commune_code"].astype(str), deg, strict=True))


# --- the page ---------------------------------------------------------------------------------

def _asset(name: str) -> str:
    return (resources.files("gis.outputs") / "assets" / name).read_text(encoding="utf-8")


_CSP = ("default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
        "img-src data: blob:; font-src data:; connect-src 'none'; form-action 'none'; "
        "base-uri 'none'")


# Labels of the data sources the pipeline records (``Prepared.sources``), as in the report.
_SOURCE_LABELS = {"registry": N_("Registry of communes"), "communes": N_("Commune polygons"),
                  "legacy_population": N_("Population of the former communes"),
                  "facilities": N_("Facility register"), "roads": N_("Roads"),
                  "referrals": N_("Referral table"), "satellite_links": N_("Satellite links"),
                  "population_raster": N_("Population raster"), "landcover": N_("Land cover"),
                  "travel_model": N_("Travel model")}

# Lang.text(html=True) wraps every piece of data in exactly this element (its documented form)
_DATA_SPAN = re.compile(r'<span translate="no">(.*?)</span>', re.S)
_FIELD = re.compile(r"\{(\w+)\}")

Parts = list[tuple[str, bool]]


def _text_parts(L: Lang, value: object) -> Parts:
    """A text written by the analyses, translated by :meth:`Lang.text`, as ``(text, is_data)``
    pieces: the page shows data pieces marked ``translate="no"``."""
    pieces = _DATA_SPAN.split(L.text(value, html=True))
    return [(html.unescape(p), i % 2 == 1) for i, p in enumerate(pieces) if p]


def _message_parts(template: str, **data: object) -> Parts:
    """A translated message whose ``{fields}`` are data, as ``(text, is_data)`` pieces."""
    pieces = _FIELD.split(template)
    return [(str(data.get(p, "{" + p + "}")) if i % 2 else p, i % 2 == 1)
            for i, p in enumerate(pieces) if p]


def _source_parts(L: Lang, sources: Sequence[str] | Mapping[str, str] | None) -> list[Parts]:
    """One line per source, translated; a mapping's known keys are labelled as in the report."""
    if not sources:
        return []
    if not isinstance(sources, Mapping):
        return [_text_parts(L, s) for s in sources]
    out = []
    for key, value in sources.items():
        head = ([(L._(_SOURCE_LABELS[key]), False)] if key in _SOURCE_LABELS
                else [(str(key), True)])
        out.append([*head, (": ", False), *_text_parts(L, value)])
    return out


def page_strings(lang: str) -> dict[str, str]:
    """The page's texts in ``lang``: each of :data:`MESSAGES` -> its translation in the catalog,
    with its ``{placeholders}`` left for the page to fill.

    Raises
    ------
    gis.errors.OutputError
        An unknown language.
    """
    L = get_lang(lang)
    return {m: L._(m) for m in MESSAGES}


def _page_texts(L: Lang, data: Mapping[str, Any], *, title: str | None, province: str,
                sources: Sequence[str] | Mapping[str, str] | None,
                estimate_notes: Sequence[str]) -> dict[str, Any]:
    """Everything the page shows in one language, from the catalog."""
    if title is not None:
        title_parts: Parts = [(title, True)]
    elif province:
        title_parts = _message_parts(L._("{province}: plan editor of commune health stations"),
                                     province=province)
    else:
        title_parts = [(L._("Plan editor"), False)]
    return {"strings": page_strings(L.code), "numbers": L.number_symbols(),
            "title": title_parts, "sources": _source_parts(L, sources),
            "estimates": [_text_parts(L, x) for x in estimate_notes],
            "site_source": _text_parts(L, data.get("station_site_source") or "")}


def plan_editor_html(data: Mapping[str, Any], *, lang: str = "vi", title: str | None = None,
                     province: str = "", sources: Sequence[str] | Mapping[str, str] | None = None,
                     estimate_notes: Sequence[str] = (), offline: bool = True) -> str:
    """The editor page as one HTML text (see :func:`write_plan_editor`)."""
    L = get_lang(lang)  # an unknown language: OutputError
    if data.get("format") != FORMAT:
        msg = f"plan editor: data of format {data.get('format')!r}; build it with build_editor_data"
        raise GisError(msg)
    texts = {code: _page_texts(get_lang(code), data, title=title, province=province,
                               sources=sources, estimate_notes=estimate_notes)
             for code in LANGUAGES}
    page = {"lang": L.code, "languages": list(LANGUAGES), "texts": texts}
    title_text = "".join(p for p, _ in texts[L.code]["title"])
    if offline:
        js, css = leaflet_inline()
        head = (f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">\n'
                f"<style>{css}</style>\n<script>{js}</script>")
    else:
        head = (f'<link rel="stylesheet" href="{LEAFLET_CDN}/leaflet.css">\n'
                f'<script src="{LEAFLET_CDN}/leaflet.js"></script>')
    editor_js = _asset("editor.js").replace("</script", "<\\/script")
    editor_css = _asset("editor.css").replace("</style", "<\\/style")
    return (
        "<!DOCTYPE html>\n"
        f'<html lang="{L.code}">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{html.escape(title_text)}</title>\n{head}\n<style>{editor_css}</style>\n"
        "</head>\n<body>\n"
        '<div id="gis-editor"></div>\n'
        f'<script id="gis-editor-page" type="application/json">{script_json(page)}</script>\n'
        f'<script id="gis-editor-data" type="application/json">{script_json(data)}</script>\n'
        f"<script>{editor_js}</script>\n"
        "</body>\n</html>\n"
    )


def write_plan_editor(path: str | Path, data: Mapping[str, Any], *, lang: str = "vi",
                      title: str | None = None, province: str = "",
                      sources: Sequence[str] | Mapping[str, str] | None = None,
                      estimate_notes: Sequence[str] = (), offline: bool = True,
                      overwrite: bool = False) -> Path:
    """Write the plan editor as one self-contained HTML file (atomically).

    Parameters
    ----------
    path : path-like
        Output file, e.g. ``plan_editor.html``.
    data : dict
        From :func:`build_editor_data`.
    lang : {"vi", "en"}
        Language the page opens in (it has a switch to the other).
    title : str, optional
        Page title (default: the province's plan editor, in ``lang``).
    province : str
        Province name for the default title.
    sources, estimate_notes : sequence of str
        Data sources and estimate labels shown on the page.
    offline : bool
        Inline the vendored Leaflet and forbid every network request (Content Security
        Policy); False links Leaflet from its CDN.
    overwrite : bool
        Replace an existing file (otherwise :class:`gis.errors.OutputError`).

    Returns
    -------
    pathlib.Path
    """
    text = plan_editor_html(data, lang=lang, title=title, province=province, sources=sources,
                            estimate_notes=estimate_notes, offline=offline)
    return files.write_text(path, text, overwrite=overwrite)

