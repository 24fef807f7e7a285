"""Roads from OpenStreetMap: read an ``.osm.pbf`` extract (with pyrosm), or download one.

The reader keeps what the road model needs from OSM's tags:

- ``highway`` -> ``road_class`` (every way of pyrosm's ``"all"`` street network: areas and
  ``highway`` values that are no road yet or any more, such as ``construction``, are left out);
- ``maxspeed`` -> ``maxspeed_kmh`` (numbers, ``mph``/``knots`` units, Vietnam's zone codes,
  the lowest of several values; unknown values NaN, see :func:`parse_maxspeed_kmh`);
- ``oneway`` (``yes``/``1``/``true``, ``-1``/``reverse``, ``no``; implied on roundabouts and
  motorways) -> ``oneway`` (bool: travel only along the stored geometry; ``-1`` ways are
  stored reversed, ``oneway_osm`` keeps OSM's direction: 1, -1 or 0);
- ``route=ferry`` ways -> ``is_ferry`` lines, with ``duration`` -> ``ferry_duration_min``;
- ``name``, and the way's ``osm_id``.

Distances are in the working CRS (metres). A province is read with a margin around it (a
road outside the province may be the fastest way between two places inside it).
"""

from __future__ import annotations

import json
import logging
import math
import re
import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS
from scipy import sparse
from scipy.sparse import csgraph

from gis.errors import GisError, LayerError

log = logging.getLogger(__name__)

GEOFABRIK_VIETNAM_URL = "https://download.geofabrik.de/asia/vietnam-latest.osm.pbf"

# Vietnam's default limits by zone (``maxspeed=VN:urban`` etc.), km/h: Circular
# 31/2019/TT-BGTVT, Articles 6-8 (kept by Circular 38/2024/TT-BGTVT): in populated areas
# 60 on divided or one-way roads of two lanes or more, 50 on undivided two-way roads;
# outside populated areas 90 / 80 for cars (motorbikes 70 / 60); expressways up to 120.
# The zone code does not say which carriageway, so the lower (undivided) value is used.
VN_ZONE_SPEED_KMH = {"vn:urban": 50.0, "vn:rural": 80.0, "vn:motorway": 120.0}
_MPH_KMH = 1.609344
_KNOT_KMH = 1.852
_MAXSPEED_RE = re.compile(r"^(\d+(?:\.\d+)?)\s*(km/h|kmh|kph|mph|knots?)?$")
_ISO_DURATION_RE = re.compile(r"^p(?:(\d+(?:\.\d+)?)d)?t?(?:(\d+(?:\.\d+)?)h)?"
                              r"(?:(\d+(?:\.\d+)?)m)?(?:(\d+(?:\.\d+)?)s)?$")
_ONEWAY_FORWARD = {"yes", "true", "1"}
_ONEWAY_BACKWARD = {"-1", "reverse"}
_ONEWAY_NO = {"no", "false", "0"}
_IMPLIED_ONEWAY_JUNCTIONS = {"roundabout", "circular"}
_IMPLIED_ONEWAY_CLASSES = {"motorway"}


# --- tag values -----------------------------------------------------------------------------

def _missing(value: object) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) \
        or str(value).strip() == ""


def parse_maxspeed_kmh(value: object) -> float:
    """An OSM ``maxspeed`` value in km/h, NaN when unknown.

    ``"50"``, ``"50 km/h"`` -> 50; ``"30 mph"`` -> 48.28; ``"10 knots"`` -> 18.52;
    ``"VN:urban"`` / ``"VN:rural"`` / ``"VN:motorway"`` -> 50 / 80 / 120 (Vietnam's zone
    defaults, :data:`VN_ZONE_SPEED_KMH`); several values (``"60;50"``, per lane or
    direction) -> the lowest. ``"none"``, ``"signals"``, ``"walk"``, other countries' zone
    codes, 0 and values above 200 -> NaN (unknown: the class speed is used).
    """
    if _missing(value):
        return math.nan
    found = [v for part in str(value).split(";") if not math.isnan(v := _one_maxspeed(part))]
    return min(found) if found else math.nan


def _one_maxspeed(text: str) -> float:
    s = text.strip().lower()
    if s in VN_ZONE_SPEED_KMH:
        return VN_ZONE_SPEED_KMH[s]
    m = _MAXSPEED_RE.match(s)
    if not m:
        return math.nan
    v = float(m.group(1))
    unit = m.group(2) or "km/h"
    v *= _MPH_KMH if unit == "mph" else _KNOT_KMH if unit.startswith("knot") else 1.0
    return v if 0 < v <= 200 else math.nan


def parse_duration_min(value: object) -> float:
    """An OSM ``duration`` (of a ferry crossing) in minutes, NaN when unknown.

    OSM's forms: ``"mm"``, ``"hh:mm"``, ``"hh:mm:ss"`` and ISO 8601 (``"PT1H30M"``).
    """
    if _missing(value):
        return math.nan
    s = str(value).strip().lower()
    parts = s.split(":")
    try:
        if len(parts) == 1 and not s.startswith("p"):
            v = float(s)
        elif len(parts) in (2, 3) and not s.startswith("p"):
            nums = [float(p) for p in parts]
            v = nums[0] * 60 + nums[1] + (nums[2] / 60 if len(nums) == 3 else 0.0)
        else:
            m = _ISO_DURATION_RE.match(s)
            if not m or not any(m.groups()):
                return math.nan
            d, h, mi, se = (float(g) if g else 0.0 for g in m.groups())
            v = d * 1440 + h * 60 + mi + se / 60
    except ValueError:
        return math.nan
    return v if v > 0 else math.nan


def oneway_direction(oneway: Iterable, junction: Iterable, highway: Iterable) -> np.ndarray:
    """Travel direction allowed by OSM's tags: 1 along the way, -1 against it, 0 both.

    ``oneway=yes|true|1`` -> 1, ``-1|reverse`` -> -1, ``no|false|0`` -> 0. Without an
    explicit value, roundabouts (``junction=roundabout|circular``) and motorways are one-way
    (OSM's implied values); ``reversible``/``alternating`` (direction changes in the day)
    count as both directions.
    """
    out = []
    for ow, jn, hw in zip(oneway, junction, highway, strict=True):
        s = "" if _missing(ow) else str(ow).strip().lower()
        if s in _ONEWAY_FORWARD:
            out.append(1)
        elif s in _ONEWAY_BACKWARD:
            out.append(-1)
        elif s in _ONEWAY_NO:
            out.append(0)
        elif (not _missing(jn) and str(jn).strip().lower() in _IMPLIED_ONEWAY_JUNCTIONS) \
                or (not _missing(hw) and str(hw).strip().lower() in _IMPLIED_ONEWAY_CLASSES):
            out.append(1)
        else:
            out.append(0)
    return np.asarray(out, dtype=np.int8)


def margin_for_cutoff_m(cutoff_min: float, fastest_kmh: float) -> float:
    """Metres around the province to read: the distance the fastest road covers within the
    travel cut-off. No trip within the cut-off from a place in the province can use a road
    farther out (a trip between two places inside the province needs only half of it)."""
    return float(cutoff_min) / 60.0 * float(fastest_kmh) * 1000.0


# --- reading --------------------------------------------------------------------------------

def _column(df: pd.DataFrame, name: str, tags: pd.Series | None) -> pd.Series:
    """A tag as a column: the column pyrosm made, else the value in its ``tags`` JSON."""
    if name in df:
        col = df[name].astype(object)
        if tags is None:
            return col
        return col.where(col.notna(), _from_tags(tags, name))
    if tags is None:
        return pd.Series([None] * len(df), index=df.index, dtype=object)
    return _from_tags(tags, name)


def _from_tags(tags: pd.Series, name: str) -> pd.Series:
    def get(t: object) -> object:
        if _missing(t):
            return None
        try:
            return json.loads(t).get(name) if isinstance(t, str) else dict(t).get(name)
        except (ValueError, TypeError, AttributeError):
            return None
    return tags.map(get)


def _bbox_4326(area_geom, crs: CRS, margin_m: float) -> tuple[shapely.Geometry, list[float]]:
    """The area buffered by the margin (in the working CRS) and its lon/lat bounding box."""
    grown = shapely.buffer(area_geom, margin_m) if margin_m > 0 else area_geom
    bounds = gpd.GeoSeries([grown], crs=crs).to_crs(4326).total_bounds
    return grown, [float(b) for b in bounds]


def _area_geometry(area, crs: CRS):
    """One geometry in the working CRS from a geometry, GeoSeries or GeoDataFrame."""
    if area is None:
        return None
    if isinstance(area, gpd.GeoDataFrame | gpd.GeoSeries):
        geo = area.geometry if isinstance(area, gpd.GeoDataFrame) else area
        if geo.crs is None:
            msg = "area: no CRS; give the province polygon with its CRS"
            raise GisError(msg)
        return shapely.union_all(geo.to_crs(crs).to_numpy())
    return area


def read_osm_roads(
    pbf: Path | str,
    *,
    crs: CRS | str | int,
    area=None,
    margin_m: float = 0.0,
    ferries: bool = True,
) -> gpd.GeoDataFrame:
    """Read the road network (and ferry routes) of an OSM ``.osm.pbf`` extract.

    Parameters
    ----------
    pbf : path
        An OpenStreetMap extract, e.g. Geofabrik's ``vietnam-latest.osm.pbf``.
    crs : CRS
        Working CRS (projected, metres) of the result.
    area : shapely geometry in ``crs``, GeoSeries or GeoDataFrame (any CRS), optional
        The province (polygons); None reads the whole file.
    margin_m : float
        Metres kept around ``area`` (see :func:`margin_for_cutoff_m`); lines are cut at the
        grown area's edge.
    ferries : bool
        Also read ``route=ferry`` ways.

    Returns
    -------
    GeoDataFrame
        LineStrings in ``crs``, one row per OSM way (or per part of a way cut by the area):
        ``osm_id``, ``road_class`` (the ``highway`` value, ``"ferry"`` for ferries),
        ``speed_kmh`` (NaN: the model's class speed applies), ``maxspeed_kmh`` (NaN when not
        tagged or not understood), ``oneway`` (bool, along the stored geometry),
        ``oneway_osm`` (1, -1 or 0 as tagged or implied; ``-1`` ways are stored reversed),
        ``is_ferry``, ``ferry_duration_min`` (NaN unless tagged), ``name``.

    Raises
    ------
    LayerError
        The file is missing or unreadable, or holds no roads in the area.
    """
    import pyrosm  # heavy optional reader: imported only when a PBF is read
    from pyrosm.exceptions import PBFException

    pbf = Path(pbf)
    crs = CRS.from_user_input(crs)
    source = str(pbf)
    if not pbf.is_file():
        raise LayerError(source, ["file not found; give the path of an .osm.pbf extract "
                                  f"(e.g. Geofabrik's Vietnam extract, {GEOFABRIK_VIETNAM_URL})"])
    geom = _area_geometry(area, crs)
    grown = bbox = None
    if geom is not None:
        grown, bbox = _bbox_4326(geom, crs, margin_m)
    try:
        with warnings.catch_warnings():   # "no data for given area": handled below
            warnings.filterwarnings("ignore", message="Could not find any")
            osm = pyrosm.OSM(str(pbf), bounding_box=bbox, keep_metadata=False, progress=False)
            net = osm.get_network(network_type="all", extra_attributes=["junction"])
            fer = osm.get_data_by_custom_criteria(
                custom_filter={"route": ["ferry"]}, filter_type="keep", keep_nodes=False,
                keep_ways=True, keep_relations=False,
                extra_attributes=["duration", "name", "oneway"]) if ferries else None
    except (PBFException, OSError, ValueError, RuntimeError) as e:
        raise LayerError(source, [f"not a readable OSM PBF file ({e}); download it again"]) \
            from e
    parts = []
    if net is not None and len(net):
        parts.append(_road_rows(net))
    if fer is not None and len(fer):
        parts.append(_ferry_rows(fer))
    if not parts:
        where = "in the area (with its margin)" if bbox is not None else "in the file"
        raise LayerError(source, [f"no roads (highway=*) {where}; check that the extract "
                                  "covers the province"])
    out = gpd.GeoDataFrame(pd.concat(parts, ignore_index=True), geometry="geometry",
                           crs=4326).to_crs(crs)
    if grown is not None:
        out = gpd.clip(out, grown)
    out = out.explode(index_parts=False)
    out = out[out.geometry.geom_type == "LineString"]
    out = out[out.geometry.length > 0].reset_index(drop=True)
    if not len(out):
        raise LayerError(source, ["no roads (highway=*) in the area (with its margin); check "
                                  "that the extract covers the province"])
    # -1 ways: stored reversed so that ``oneway`` always means "along the geometry".
    back = out["oneway_osm"].to_numpy() == -1
    if back.any():
        geoms = out.geometry.to_numpy().copy()
        geoms[back] = shapely.reverse(geoms[back])
        out = out.set_geometry(gpd.GeoSeries(geoms, index=out.index, crs=out.crs))
    log.info("%s: %d road lines, %d ferry lines", source, int((~out["is_ferry"]).sum()),
             int(out["is_ferry"].sum()))
    return out


def _road_rows(net: pd.DataFrame) -> pd.DataFrame:
    tags = net["tags"] if "tags" in net else None
    highway = _column(net, "highway", tags)
    direction = oneway_direction(_column(net, "oneway", tags), _column(net, "junction", tags),
                                 highway)
    return pd.DataFrame({
        "osm_id": net["id"].astype("int64").to_numpy(),
        "road_class": highway.fillna("").astype(str).to_numpy(),
        "speed_kmh": np.nan,
        "maxspeed_kmh": [parse_maxspeed_kmh(v) for v in _column(net, "maxspeed", tags)],
        "oneway": direction != 0,
        "oneway_osm": direction,
        "is_ferry": False,
        "ferry_duration_min": np.nan,
        "name": _column(net, "name", tags).fillna("").astype(str).to_numpy(),
        "geometry": net.geometry.to_numpy(),
    })


def _ferry_rows(fer: pd.DataFrame) -> pd.DataFrame:
    tags = fer["tags"] if "tags" in fer else None
    n = len(fer)
    direction = oneway_direction(_column(fer, "oneway", tags), [None] * n, [None] * n)
    return pd.DataFrame({
        "osm_id": fer["id"].astype("int64").to_numpy(),
        "road_class": "ferry",
        "speed_kmh": np.nan,
        "maxspeed_kmh": np.nan,
        "oneway": direction != 0,
        "oneway_osm": direction,
        "is_ferry": True,
        "ferry_duration_min": [parse_duration_min(v) for v in _column(fer, "duration", tags)],
        "name": _column(fer, "name", tags).fillna("").astype(str).to_numpy(),
        "geometry": fer.geometry.to_numpy(),
    })


# --- summary --------------------------------------------------------------------------------

@dataclass(frozen=True)
class RoadsSummary:
    """What a road layer holds.

    Attributes
    ----------
    lines : int
        Lines (ferries included).
    km_total : float
    km_by_class : dict
        Kilometres per ``road_class``, longest first.
    ferries : int
        Ferry lines.
    maxspeed_share : float
        Share of the length with a known ``maxspeed_kmh``.
    oneway_km : float
    parts : int
        Weakly connected parts of the network (lines joined where they share a vertex).
    largest_part_share : float
        Share of the length in the largest part.
    """

    lines: int
    km_total: float
    km_by_class: dict[str, float] = field(default_factory=dict)
    ferries: int = 0
    maxspeed_share: float = 0.0
    oneway_km: float = 0.0
    parts: int = 0
    largest_part_share: float = 0.0

    def as_dict(self) -> dict[str, object]:
        return {"lines": self.lines, "km_total": self.km_total,
                "km_by_class": dict(self.km_by_class), "ferries": self.ferries,
                "maxspeed_share": self.maxspeed_share, "oneway_km": self.oneway_km,
                "parts": self.parts, "largest_part_share": self.largest_part_share}

    def text_lines(self) -> list[str]:
        """Lines for a person: totals, km by class, connected parts."""
        out = [f"{self.lines:,} lines, {self.km_total:,.1f} km ({self.ferries} ferry lines, "
               f"{self.oneway_km:,.1f} km one-way, maxspeed known on "
               f"{100 * self.maxspeed_share:.1f} % of the length)",
               f"connected parts: {self.parts:,}; the largest holds "
               f"{100 * self.largest_part_share:.1f} % of the length"]
        out += [f"  {cls or '(no class)'}: {km:,.1f} km" for cls, km in self.km_by_class.items()]
        return out


def line_parts(roads: gpd.GeoDataFrame, *, decimals: int = 2) -> np.ndarray:
    """Weakly connected part of each line: lines sharing a vertex (coordinates equal to
    ``decimals``) are joined, as in the road graph; a bridge crossing a road without a
    shared vertex is not."""
    coords, line_idx = shapely.get_coordinates(roads.geometry.to_numpy(), return_index=True)
    if not len(coords):
        return np.zeros(0, np.int64)
    _, node = np.unique(np.round(coords, decimals), axis=0, return_inverse=True)
    node = node.ravel()
    n_nodes = int(node.max()) + 1
    # each line also a node, joined to its vertices: lines of one vertex stay their own part
    rows = line_idx + n_nodes
    g = sparse.coo_array((np.ones(len(node), np.int8), (rows, node)),
                         shape=(n_nodes + len(roads), n_nodes + len(roads)))
    _, labels = csgraph.connected_components(g, directed=False)
    return labels[n_nodes:]


def roads_summary(roads: gpd.GeoDataFrame) -> RoadsSummary:
    """Kilometres by class, ferries, one-way length and connected parts of a road layer
    (as returned by :func:`read_osm_roads`, or :func:`gis.layers.read_roads`)."""
    length_km = roads.geometry.length.to_numpy() / 1000.0
    cls = roads["road_class"].astype(str).to_numpy() if "road_class" in roads \
        else np.full(len(roads), "")
    by = pd.Series(length_km).groupby(cls).sum().sort_values(ascending=False)
    total = float(length_km.sum())
    labels = line_parts(roads)
    part_km = np.bincount(labels, weights=length_km) if len(labels) else np.zeros(1)
    known = np.isfinite(roads["maxspeed_kmh"].to_numpy(float)) if "maxspeed_kmh" in roads \
        else np.zeros(len(roads), bool)
    oneway = roads["oneway"].to_numpy(bool) if "oneway" in roads else np.zeros(len(roads), bool)
    ferry = roads["is_ferry"].to_numpy(bool) if "is_ferry" in roads \
        else np.zeros(len(roads), bool)
    return RoadsSummary(
        lines=len(roads), km_total=total,
        km_by_class={str(k): float(v) for k, v in by.items()},
        ferries=int(ferry.sum()),
        maxspeed_share=float(length_km[known].sum() / total) if total else 0.0,
        oneway_km=float(length_km[oneway].sum()),
        parts=int(len(np.unique(labels))) if len(labels) else 0,
        largest_part_share=float(part_km.max() / total) if total else 0.0)


# --- download -------------------------------------------------------------------------------

def download_extract(
    directory: Path | str,
    *,
    dataset: str = "vietnam",
    province: str | None = None,
    timeout_s: float = 10.0,
    update: bool = False,
) -> Path:
    """Download an OSM extract from Geofabrik (through pyrosm) into ``directory``.

    Parameters
    ----------
    directory : path
        Folder to write the ``.osm.pbf`` into (created when missing).
    dataset : str
        pyrosm's name of the extract (``"vietnam"``: Geofabrik's
        ``asia/vietnam-latest.osm.pbf``, a few hundred MB).
    province : str, optional
        Only for the message: the province the next step extracts.
    timeout_s : float
        Seconds to wait for the server to connect and for each read (pyrosm tries 3 times).
    update : bool
        Download again when the file is there already.

    Returns
    -------
    Path
        The downloaded (or already present) file.

    Raises
    ------
    GisError
        The download failed (no internet, server down): the message says how to get the
        file by hand and what to run next.
    """
    import pyrosm  # heavy optional reader: imported only for a download
    from pyrosm.exceptions import DownloadError

    directory = Path(directory)
    try:
        path = pyrosm.get_data(dataset, directory=str(directory), timeout=timeout_s,
                               update=update, progress=False)
    except ValueError as e:   # pyrosm's DownloadError is a ValueError too: caught first
        if isinstance(e, DownloadError):
            raise GisError(_download_help(dataset, province, e)) from e
        msg = f"OSM extract {dataset!r}: {e}"
        raise GisError(msg) from e
    except OSError as e:
        raise GisError(_download_help(dataset, province, e)) from e
    return Path(path)


def _download_help(dataset: str, province: str | None, error: Exception) -> str:
    prov = f'"{province}"' if province else "P"
    url = GEOFABRIK_VIETNAM_URL if dataset == "vietnam" else f"Geofabrik's extract {dataset!r}"
    name = Path(GEOFABRIK_VIETNAM_URL).name if dataset == "vietnam" else "FILE.osm.pbf"
    return (f"could not download the OpenStreetMap extract {dataset!r} from Geofabrik "
            f"({error}). Without internet, get the file by hand on a machine that has it: "
            f"{url} (a few hundred MB), copy it to this machine, then run: "
            f"gis roads extract --pbf {name} --province {prov}")
