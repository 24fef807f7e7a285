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

Every user-visible text of the page is in :data:`STRINGS` (one dict per language, keys in
English), ready to move to gettext catalogs.
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
from gis.model.costs import CostTable
from gis.outputs import files
from gis.outputs.maps import LEAFLET_CDN, leaflet_inline, script_json

log = logging.getLogger(__name__)

__all__ = ["FORMAT", "K_MAX", "STRINGS", "build_editor_data", "decode_array", "degrees_text",
           "plan_editor_html", "write_plan_editor"]

FORMAT = "gis-plan-editor/1"
K_MAX = 48
LANGUAGES = ("vi", "en")
_HOSPITAL_TIERS = ("central", "provincial", "regional")

# Every user-visible text of the editor, per language; keys in English. Placeholders in braces
# are filled by the page ({n}, {min}, ...).
STRINGS: dict[str, dict[str, str]] = {
    "en": {
        "Plan editor": "Plan editor",
        "{province}: plan editor of commune health stations":
            "{province}: plan editor of commune health stations",
        "No basemap: this file works offline, so the commune boundaries are drawn as the base.":
            "No basemap: this file works offline, so the commune boundaries are drawn as the "
            "base.",
        "How to edit": "How to edit",
        "help":
            "Click a station to cycle it: main station → branch point → closed → main station. "
            "Click elsewhere on the map to add a new station at the nearest demand cell (its "
            "commune is the one it falls in); click a new station to make it a branch point, "
            "and again to remove it.",
        "Undo": "Undo",
        "Nothing to undo.": "Nothing to undo.",
        "Start from:": "Start from:",
        "Export plan (CSV)": "Export plan (CSV)",
        "Import plan (CSV)": "Import plan (CSV)",
        "Language": "Language",
        "This plan": "This plan",
        "today": "today",
        "{n} + branch points": "{n} + branch points",
        "{n} only": "{n} only",
        "Figure": "Figure",
        "Service points (stations and branch points)":
            "Service points (stations and branch points)",
        "Main stations": "Main stations",
        "People within {min} min of a station": "People within {min} min of a station",
        "Mean travel time to the nearest station (min)":
            "Mean travel time to the nearest station (min)",
        "90th percentile of travel time (min)": "90th percentile of travel time (min)",
        "People losing {min}-min access (vs today)": "People losing {min}-min access (vs today)",
        "People beyond the {min}-min cut-off": "People beyond the {min}-min cut-off",
        "Doctors needed ({n} per main station)": "Doctors needed ({n} per main station)",
        "Per commune": "Per commune",
        "Commune": "Commune",
        "Main stations: plan / today": "Main stations: plan / today",
        "Service points: plan / today": "Service points: plan / today",
        "Losing {min}-min access: plan / {ref}": "Losing {min}-min access: plan / {ref}",
        "Main station": "Main station",
        "Branch point": "Branch point",
        "Closed": "Closed",
        "New station": "New station",
        "New branch point": "New branch point",
        "Hospital": "Hospital",
        "Cells losing {min}-min access": "Demand cells losing {min}-min access",
        "Commune boundaries (post-2025)": "Commune boundaries (post-2025)",
        "Legend": "Legend",
        "A valid plan: one main station in every commune.":
            "A valid plan: one main station in every commune.",
        "Not a valid plan yet (gis plan evaluate will refuse it):":
            "Not a valid plan yet (gis plan evaluate will refuse it):",
        "{n} communes have no main station: {list}": "{n} communes have no main station: {list}",
        "{n} communes have several main stations: {list}":
            "{n} communes have several main stations: {list}",
        "{n} branch points serve a commune without a main station: {list}":
            "{n} branch points serve a commune without a main station: {list}",
        "exact":
            "Exact: every demand cell's nearest open station is among the {k} nearest stored "
            "for it (k = {k}: exact for every plan that keeps at least one current station "
            "open in each commune).",
        "inexact":
            "Not exact for {cells} demand cells ({people} people): all of their {k} nearest "
            "stations are closed and no new station is nearer. Their travel time is taken as "
            "the {k}-th nearest station's time, a lower bound (the true time is at least "
            "this); figures that depend on them are marked ≈.",
        "not guaranteed":
            "k = {k} is below the {needed} needed to guarantee exactness for every plan with "
            "a main station in each commune ({cells} cells could be affected); the page warns "
            "when a plan reaches them.",
        "checked": "Checked: the figures computed in this page for today and the official "
                   "plans equal those of gis (plans.evaluate).",
        "check failed": "Check failed: the figures computed in this page differ from those of "
                        "gis for: {list}",
        "New station {id} in {commune}": "New station {id} in {commune}",
        "Outside the demand surface: click inside the province.":
            "Outside the demand surface: click inside the province.",
        "New stations are disabled: the travel times come from a road network, which this "
        "page cannot route on.":
            "New stations are disabled: the travel times come from a road network, which this "
            "page cannot route on.",
        "Exported {file}.": "Exported {file}.",
        "Imported {file}: {stations} stations, {sites} new stations.":
            "Imported {file}: {stations} stations, {sites} new stations.",
        "Import refused, {n} problems in {file}:": "Import refused, {n} problems in {file}:",
        "missing column {col}": "missing column {col}",
        "row {row}: unknown facility id {id}: not a station of this province":
            "row {row}: unknown facility id {id}: not a station of this province",
        "row {row}: unknown action {action}: use keep, branch, close or new":
            "row {row}: unknown action {action}: use keep, branch, close or new",
        "row {row}: unknown commune code {code}": "row {row}: unknown commune code {code}",
        "row {row}: new station {id} needs lon and lat (degrees)":
            "row {row}: new station {id} needs lon and lat (degrees)",
        "row {row}: new station {id} is outside the demand surface":
            "row {row}: new station {id} is outside the demand surface",
        "row {row}: new station id {id} is the id of an existing facility":
            "row {row}: new station id {id} is the id of an existing facility",
        "row {row}: facility id {id} is listed twice":
            "row {row}: facility id {id} is listed twice",
        "{n} stations have no action: {list}": "{n} stations have no action: {list}",
        "the file is empty": "the file is empty",
        "new station {id} moved {m} m to the nearest demand cell":
            "new station {id} moved {m} m to the nearest demand cell",
        "Data sources and estimates": "Data sources and estimates",
        "travel model":
            "Travel times: straight line × {detour} at {speed} km/h, up to {cutoff} min (an "
            "estimate).",
        "travel model (table)": "Travel times: {model} cost table, up to {cutoff} min.",
        "Station sites: {n} of {total} are estimates ({source}).":
            "Station sites: {n} of {total} are estimates ({source}).",
        "min": "min",
        "people": "people",
        "station": "station",
        "reference": "reference",
        "action": "action",
        "ready": "ready",
    },
    "vi": {
        "Plan editor": "Soạn phương án",
        "{province}: plan editor of commune health stations":
            "{province}: soạn phương án trạm y tế xã",
        "No basemap: this file works offline, so the commune boundaries are drawn as the base.":
            "Không có bản đồ nền: tệp này dùng không cần mạng, nên ranh giới các xã được vẽ "
            "làm nền.",
        "How to edit": "Cách dùng",
        "help":
            "Bấm vào một trạm để đổi: trạm chính → điểm trạm → đóng → trạm chính. Bấm vào chỗ "
            "khác trên bản đồ để thêm một trạm mới tại ô dân cư gần nhất (thuộc xã chứa ô đó); "
            "bấm vào trạm mới để chuyển thành điểm trạm, bấm lần nữa để xoá.",
        "Undo": "Hoàn tác",
        "Nothing to undo.": "Không còn thao tác nào để hoàn tác.",
        "Start from:": "Bắt đầu từ:",
        "Export plan (CSV)": "Xuất phương án (CSV)",
        "Import plan (CSV)": "Nhập phương án (CSV)",
        "Language": "Ngôn ngữ",
        "This plan": "Phương án này",
        "today": "hiện nay",
        "{n} + branch points": "{n} trạm + điểm trạm",
        "{n} only": "chỉ {n} trạm",
        "Figure": "Chỉ số",
        "Service points (stations and branch points)": "Điểm phục vụ (trạm và điểm trạm)",
        "Main stations": "Trạm chính",
        "People within {min} min of a station": "Số dân đến trạm trong {min} phút",
        "Mean travel time to the nearest station (min)":
            "Thời gian trung bình đến trạm gần nhất (phút)",
        "90th percentile of travel time (min)": "Thời gian đi, phân vị 90 (phút)",
        "People losing {min}-min access (vs today)":
            "Số dân mất tiếp cận trong {min} phút (so với hiện nay)",
        "People beyond the {min}-min cut-off": "Số dân ngoài ngưỡng {min} phút",
        "Doctors needed ({n} per main station)": "Số bác sĩ cần ({n} bác sĩ mỗi trạm chính)",
        "Per commune": "Theo xã",
        "Commune": "Xã, phường",
        "Main stations: plan / today": "Trạm chính: phương án / hiện nay",
        "Service points: plan / today": "Điểm phục vụ: phương án / hiện nay",
        "Losing {min}-min access: plan / {ref}": "Mất tiếp cận {min} phút: phương án / {ref}",
        "Main station": "Trạm chính",
        "Branch point": "Điểm trạm",
        "Closed": "Đóng",
        "New station": "Trạm mới",
        "New branch point": "Điểm trạm mới",
        "Hospital": "Bệnh viện",
        "Cells losing {min}-min access": "Ô dân cư mất tiếp cận trong {min} phút",
        "Commune boundaries (post-2025)": "Ranh giới xã (sau 2025)",
        "Legend": "Chú giải",
        "A valid plan: one main station in every commune.":
            "Phương án hợp lệ: mỗi xã có đúng một trạm chính.",
        "Not a valid plan yet (gis plan evaluate will refuse it):":
            "Phương án chưa hợp lệ (gis plan evaluate sẽ từ chối):",
        "{n} communes have no main station: {list}": "{n} xã chưa có trạm chính: {list}",
        "{n} communes have several main stations: {list}":
            "{n} xã có nhiều hơn một trạm chính: {list}",
        "{n} branch points serve a commune without a main station: {list}":
            "{n} điểm trạm thuộc xã chưa có trạm chính: {list}",
        "exact":
            "Chính xác: trạm mở gần nhất của mỗi ô dân cư nằm trong {k} trạm gần nhất được lưu "
            "cho ô đó (k = {k}: chính xác với mọi phương án giữ ít nhất một trạm hiện có ở mỗi "
            "xã).",
        "inexact":
            "Không chính xác cho {cells} ô dân cư ({people} người): cả {k} trạm gần nhất của "
            "các ô này đều đóng và không có trạm mới nào gần hơn. Thời gian đi của các ô này "
            "được lấy bằng thời gian đến trạm gần thứ {k}, là cận dưới (thời gian thật ít nhất "
            "bằng vậy); các chỉ số phụ thuộc được đánh dấu ≈.",
        "not guaranteed":
            "k = {k} nhỏ hơn {needed} cần để bảo đảm chính xác với mọi phương án có trạm chính "
            "ở mỗi xã ({cells} ô có thể bị ảnh hưởng); trang sẽ cảnh báo khi một phương án "
            "chạm đến các ô đó.",
        "checked": "Đã kiểm tra: các chỉ số tính trong trang này cho hiện nay và các phương án "
                   "chính thức trùng với kết quả của gis (plans.evaluate).",
        "check failed": "Kiểm tra không đạt: chỉ số tính trong trang khác với gis ở: {list}",
        "New station {id} in {commune}": "Trạm mới {id} tại {commune}",
        "Outside the demand surface: click inside the province.":
            "Ngoài vùng dân cư: hãy bấm vào bên trong tỉnh.",
        "New stations are disabled: the travel times come from a road network, which this "
        "page cannot route on.":
            "Không thêm được trạm mới: thời gian đi tính theo mạng đường, trang này không tính "
            "đường đi được.",
        "Exported {file}.": "Đã xuất {file}.",
        "Imported {file}: {stations} stations, {sites} new stations.":
            "Đã nhập {file}: {stations} trạm, {sites} trạm mới.",
        "Import refused, {n} problems in {file}:": "Không nhập được, {file} có {n} lỗi:",
        "missing column {col}": "thiếu cột {col}",
        "row {row}: unknown facility id {id}: not a station of this province":
            "dòng {row}: mã cơ sở {id} không phải là trạm của tỉnh này",
        "row {row}: unknown action {action}: use keep, branch, close or new":
            "dòng {row}: thao tác {action} không hợp lệ: dùng keep, branch, close hoặc new",
        "row {row}: unknown commune code {code}": "dòng {row}: mã xã {code} không có",
        "row {row}: new station {id} needs lon and lat (degrees)":
            "dòng {row}: trạm mới {id} cần lon và lat (độ)",
        "row {row}: new station {id} is outside the demand surface":
            "dòng {row}: trạm mới {id} nằm ngoài vùng dân cư",
        "row {row}: new station id {id} is the id of an existing facility":
            "dòng {row}: mã trạm mới {id} trùng mã một cơ sở hiện có",
        "row {row}: facility id {id} is listed twice": "dòng {row}: mã cơ sở {id} bị lặp",
        "{n} stations have no action: {list}": "{n} trạm chưa có thao tác: {list}",
        "the file is empty": "tệp rỗng",
        "new station {id} moved {m} m to the nearest demand cell":
            "trạm mới {id} được dời {m} m đến ô dân cư gần nhất",
        "Data sources and estimates": "Nguồn dữ liệu và ước tính",
        "travel model":
            "Thời gian đi: đường thẳng × {detour} với tốc độ {speed} km/h, tối đa {cutoff} phút "
            "(ước tính).",
        "travel model (table)": "Thời gian đi: bảng chi phí {model}, tối đa {cutoff} phút.",
        "Station sites: {n} of {total} are estimates ({source}).":
            "Vị trí trạm: {n} trên {total} là ước tính ({source}).",
        "min": "phút",
        "people": "người",
        "station": "trạm",
        "reference": "tham chiếu",
        "action": "thao tác",
        "ready": "sẵn sàng",
    },
}


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


def build_editor_data(demand: pd.DataFrame, costs: CostTable, facilities: gpd.GeoDataFrame,
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
    costs : CostTable
        Demand units -> facilities within the cut-off (may include hospitals: only the
        active stations count).
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
    s_all = station_of_dest[costs.dest]
    keep = s_all >= 0
    o, s, t = costs.origin[keep].astype(np.int64), s_all[keep], costs.time_min[keep]
    order = np.lexsort((np.arange(len(o)), t, o))
    o, s, t = o[order], s[order], t[order]
    n_within = np.bincount(o, minlength=n)
    start = np.r_[0, np.cumsum(n_within)[:-1]]
    rank_in_unit = np.arange(len(o)) - start[o]
    needed = _k_needed(o, t, st_com[s], n, np.bincount(st_com, minlength=len(com_codes)))
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
            "label": ({"pattern": "{n} + branch points" if m.group(2) != "only" else "{n} only",
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


def _source_lines(sources: Sequence[str] | Mapping[str, str] | None) -> list[str]:
    if not sources:
        return []
    if isinstance(sources, Mapping):
        return [f"{k}: {v}" for k, v in sources.items()]
    return [str(s) for s in sources]


def plan_editor_html(data: Mapping[str, Any], *, lang: str = "vi", title: str | None = None,
                     province: str = "", sources: Sequence[str] | Mapping[str, str] | None = None,
                     estimate_notes: Sequence[str] = (), offline: bool = True) -> str:
    """The editor page as one HTML text (see :func:`write_plan_editor`)."""
    if lang not in LANGUAGES:
        msg = f"plan editor: language {lang!r} is not available; use one of {', '.join(LANGUAGES)}"
        raise GisError(msg)
    if data.get("format") != FORMAT:
        msg = f"plan editor: data of format {data.get('format')!r}; build it with build_editor_data"
        raise GisError(msg)
    s = STRINGS[lang]
    if title is None:
        title = (s["{province}: plan editor of commune health stations"].format(
            province=province) if province else s["Plan editor"])
    page = {"lang": lang, "title": title, "province": province,
            "sources": _source_lines(sources), "estimates": [str(x) for x in estimate_notes],
            "strings": STRINGS}
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
        f'<html lang="{lang}">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{html.escape(title)}</title>\n{head}\n<style>{editor_css}</style>\n"
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

