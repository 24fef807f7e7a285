"""The package's built-in national base data: the only code that opens the bundle.

The bundle lives in ``gis/data/base`` and is built by a developer from ``../shared/data`` with
``python -m gis.inputs.build_basedata`` (see that module and ``gis/data/base/SOURCES.md``):

- ``communes_2025.parquet`` (GeoParquet, EPSG:4326): the 3,321 post-2025 communes with their
  2025 population (lamngockhuong/vietnam-3d-map, MIT);
- ``census_2019.parquet``: the 2019 census per pre-2025 commune (10,040 units, GSO), with both
  its pre-2025 province and the post-2025 province it belongs to now;
- ``worldpop_2020_1km.tif``: WorldPop 2020 persons per 30 arc-second cell (CC BY 4.0);
- ``osm_hospitals.parquet``: hospitals from OpenStreetMap (ODbL 1.0) with the post-2025
  province and commune each one lies in;
- ``manifest.json`` (files, checksums, sources, simplification error) and ``SOURCES.md``.

Every reader returns a new object (a copy of a cached table), so callers may change what they
get without touching anyone else's.
"""

from __future__ import annotations

import copy
import json
import logging
from collections.abc import Callable
from functools import lru_cache
from importlib.resources import files
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import rasterio
import rasterio.transform
import rasterio.windows
import shapely
from affine import Affine

from gis.errors import GisError, RegistryError
from gis.inputs.rasters import PopulationGrid

log = logging.getLogger(__name__)

COMMUNES_FILE = "communes_2025.parquet"
CENSUS_FILE = "census_2019.parquet"
WORLDPOP_FILE = "worldpop_2020_1km.tif"
OSM_FILE = "osm_hospitals.parquet"
MANIFEST_FILE = "manifest.json"
SOURCES_FILE = "SOURCES.md"
DATA_FILES = (COMMUNES_FILE, CENSUS_FILE, WORLDPOP_FILE, OSM_FILE, SOURCES_FILE)
BUILD_COMMAND = "python -m gis.inputs.build_basedata"

__all__ = [
    "SOURCE_KEYS",
    "attribution",
    "attribution_of",
    "bundle_dir",
    "census_2019",
    "communes",
    "manifest",
    "osm_hospitals",
    "province_bounds",
    "province_codes",
    "worldpop_grid",
    "worldpop_path",
    "worldpop_window",
]
SOURCE_KEYS = ("communes", "census", "worldpop", "osm")


def bundle_dir() -> Path:
    """Folder of the bundle inside the installed package (``gis/data/base``)."""
    return Path(str(files("gis").joinpath("data", "base")))


def _path(name: str) -> Path:
    path = bundle_dir() / name
    if not path.is_file():
        msg = (f"base data file missing: {path}. The national base data is built by a developer "
               f"from ../shared/data: run `{BUILD_COMMAND}` in the project folder (or reinstall "
               f"the package, which ships the built files)")
        raise GisError(msg)
    return path


def _unreadable(path: Path, exc: Exception) -> GisError:
    return GisError(f"base data file {path} cannot be read ({exc}); rebuild it with "
                    f"`{BUILD_COMMAND}` in the project folder")


def _read(name: str, reader: Callable[[Path], Any]) -> Any:
    """A file of the bundle read by ``reader``; a file that cannot be read says how to rebuild."""
    path = _path(name)
    try:
        return reader(path)
    except Exception as exc:
        raise _unreadable(path, exc) from None


@lru_cache(maxsize=1)
def _communes_all() -> gpd.GeoDataFrame:
    return _read(COMMUNES_FILE, gpd.read_parquet).set_crs("EPSG:4326", allow_override=True)


@lru_cache(maxsize=1)
def _census_all() -> pd.DataFrame:
    return _read(CENSUS_FILE, pd.read_parquet)


@lru_cache(maxsize=1)
def _osm_all() -> gpd.GeoDataFrame:
    df = _read(OSM_FILE, pd.read_parquet)
    return gpd.GeoDataFrame(df, geometry=shapely.points(df["lon"], df["lat"]), crs="EPSG:4326")


@lru_cache(maxsize=1)
def _manifest() -> dict[str, Any]:
    return _read(MANIFEST_FILE, lambda p: json.loads(p.read_text(encoding="utf-8")))


def province_codes() -> list[str]:
    """The 34 post-2025 province codes present in the bundle (``"01"`` ... ``"96"``)."""
    return sorted(_communes_all()["province_code"].unique().tolist())


def _province(code: str | int) -> str:
    text = str(code).strip()
    key = f"{int(text):02d}" if text.isdigit() else text
    known = province_codes()
    if key not in known:
        msg = (f"province code {str(code)!r} is not in the base data; use a two-digit post-2025 "
               f"province code ({', '.join(known)}); `gis registry --list` names them")
        raise RegistryError(msg)
    return key


def communes(province_code: str | int) -> gpd.GeoDataFrame:
    """Post-2025 commune polygons of one province, with their 2025 population.

    Parameters
    ----------
    province_code : str or int
        Two-digit post-2025 province code (``"42"`` or ``42`` for Hà Tĩnh).

    Returns
    -------
    GeoDataFrame
        EPSG:4326 MultiPolygons (simplified within 0.1 % of each commune's area, see the
        manifest), sorted by ``commune_code``: ``commune_code``, ``commune_name``,
        ``commune_type`` (Xã, Phường, Đặc khu), ``province_code``, ``province_name``,
        ``population`` (persons, 2025; 0 for some uninhabited or special zones),
        ``admin_center`` and ``merged_from`` ("" where unknown), ``area_km2`` (as published).

    Raises
    ------
    RegistryError
        If the code is not one of the 34 provinces.
    """
    code = _province(province_code)
    df = _communes_all()
    out = df[df["province_code"] == code].rename(columns={"population_2025": "population"})
    return out.reset_index(drop=True).copy()


def census_2019(province_code: str | int) -> pd.DataFrame:
    """The 2019 census per pre-2025 commune of the territory of a post-2025 province.

    Rows are selected by the post-2025 province, so a province merged in 2025 (Vĩnh Long =
    Vĩnh Long + Bến Tre + Trà Vinh) gets the census of all its former provinces.

    Returns
    -------
    DataFrame
        Sorted by ``commune_code``: ``commune_code`` (5 digits; ``"D" + district code`` for
        the five island districts without communes), ``commune_name``, ``district_name``,
        ``legacy_province_code`` and ``legacy_province_name`` (pre-2025), ``province_code``
        (post-2025), ``population_2019`` and ``urban_2019`` (persons; NaN where the census
        has no match), ``census_units`` (census units summed into the commune).
    """
    code = _province(province_code)
    df = _census_all()
    return df[df["province_code"] == code].reset_index(drop=True).copy()


def osm_hospitals(province_code: str | int | None = None) -> gpd.GeoDataFrame:
    """Hospitals from OpenStreetMap, for one post-2025 province or (``None``) all of Vietnam.

    Returns
    -------
    GeoDataFrame
        EPSG:4326 points: the publisher's fields ``name``, ``ownership`` (public, private,
        unclassified: a keyword heuristic of the publisher), ``lon``, ``lat``, ``address``,
        ``ward_2025``, ``province_2025``, ``district_pre2025``, ``province_pre2025``; and the
        bundle's ``province_code`` (post-2025, from the commune polygons; the publisher's
        where the point is farther than 5 km from every commune), ``commune_code`` (post-2025
        commune containing the point, or the nearest one within 5 km; "" otherwise),
        ``commune_dist_m`` (0 inside), ``province_code_publisher`` (from ``province_2025``),
        ``source_row`` (line in the source CSV).
    """
    df = _osm_all()
    if province_code is not None:
        df = df[df["province_code"] == _province(province_code)]
    return df.reset_index(drop=True).copy()


def worldpop_path() -> Path:
    """Path of the WorldPop 2020 1 km GeoTIFF (float32 persons per cell, EPSG:4326, nodata
    -99999), for readers that open it themselves (e.g. a ``population_raster`` layer)."""
    return _path(WORLDPOP_FILE)


def worldpop_window(min_lon: float, min_lat: float, max_lon: float,
                    max_lat: float) -> tuple[np.ndarray, Affine, str]:
    """WorldPop 2020 persons per cell for a lon/lat box.

    Parameters
    ----------
    min_lon, min_lat, max_lon, max_lat : float
        Box in EPSG:4326 degrees; the window is widened to whole cells and clipped to the
        grid (a box wholly outside it is an error).

    Returns
    -------
    persons : ndarray of float32
        Rows x columns of the window, NaN where WorldPop has no data (sea, outside Vietnam).
    transform : Affine
        Of the window (cell corners in degrees).
    crs : str
        ``"EPSG:4326"``.
    """
    path = worldpop_path()
    with rasterio.open(path) as src:
        r0, c0 = rasterio.transform.rowcol(src.transform, min_lon, max_lat, op=np.floor)
        r1, c1 = rasterio.transform.rowcol(src.transform, max_lon, min_lat, op=np.ceil)
        c0, r0 = max(int(c0), 0), max(int(r0), 0)
        c1, r1 = min(int(c1), src.width), min(int(r1), src.height)
        if c1 <= c0 or r1 <= r0:
            msg = (f"box {min_lon}, {min_lat}, {max_lon}, {max_lat} (lon/lat) lies outside "
                   f"the WorldPop grid of Vietnam ({', '.join(f'{b:.3f}' for b in src.bounds)})")
            raise GisError(msg)
        win = rasterio.windows.Window(c0, r0, c1 - c0, r1 - r0)
        arr = src.read(1, window=win, masked=True)
        t = src.transform
        transform = Affine(t.a, t.b, t.c + c0 * t.a, t.d, t.e, t.f + r0 * t.e)
    return arr.astype(np.float32).filled(np.nan), transform, "EPSG:4326"


def manifest() -> dict[str, Any]:
    """The bundle's manifest: files and sha256, sources and their sha256, build date, the
    simplification tolerance and the measured errors (a copy: safe to change)."""
    return copy.deepcopy(_manifest())


def attribution() -> list[str]:
    """One line per source of the base data, for every output's "data sources"."""
    return [s["attribution"] for s in _manifest()["sources"]]


def attribution_of(key: str) -> str:
    """The attribution line of one source: ``"communes"``, ``"census"``, ``"worldpop"`` or
    ``"osm"`` (see :data:`SOURCE_KEYS`)."""
    for src in _manifest()["sources"]:
        if src["key"] == key:
            return str(src["attribution"])
    msg = f"no base data source {key!r}; sources: {', '.join(SOURCE_KEYS)}"
    raise GisError(msg)


def province_bounds(province_code: str | int) -> tuple[float, float, float, float]:
    """Box (min_lon, min_lat, max_lon, max_lat, EPSG:4326) of a province's commune polygons,
    islands included (Khánh Hòa reaches the Spratly Islands, 117.4° E)."""
    b = _communes_all()
    b = b[b["province_code"] == _province(province_code)]
    x0, y0, x1, y1 = b.total_bounds
    return (float(x0), float(y0), float(x1), float(y1))


def worldpop_grid(min_lon: float, min_lat: float, max_lon: float,
                  max_lat: float) -> PopulationGrid:
    """:func:`worldpop_window` as the :class:`~gis.inputs.rasters.PopulationGrid` the demand
    model takes."""
    values, transform, crs = worldpop_window(min_lon, min_lat, max_lon, max_lat)
    return PopulationGrid(values=values, transform=transform, crs=crs,
                          name="WorldPop 2020 1 km (base data)")
