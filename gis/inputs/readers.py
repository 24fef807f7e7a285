"""Readers of input files: any GDAL format or CSV with lon/lat, validated, reprojected.

This is the only module that reads the user's input files. Every reader validates the whole
layer and raises one :class:`gis.errors.LayerError` listing all problems (file, layer, field,
rows, fix).

Layers read (GeoDataFrames in the working CRS, metres):

- ``communes`` (post-2025, or pre-2025 with ``legacy=True``): commune_code, commune_name,
  commune_type, population, population_source, geometry_source, admin_center; MultiPolygon.
- ``facilities``: facility_id, name, tier, specialty, commune_code (post-2025),
  legacy_commune_code, beds, doctors, nurses (NaN = unknown), status, location_source, source,
  note; Point.
- ``roads``: road_class, speed_kmh, oneway (maxspeed_kmh, is_ferry, ferry_duration_min when
  given, e.g. by ``gis roads extract``); LineString; or an OpenStreetMap ``.osm.pbf`` extract
  (:func:`gis.inputs.osm.read_osm_roads`).
- ``landcover``: a land-cover raster (integer classes) for the friction model.
- tables: pre-2025 population, staffing (doctors, nurses, beds per facility), referral table,
  satellite links.
"""

from __future__ import annotations

import csv
import io
import logging
import math
import re
import tomllib
import warnings
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import rasterio
import rasterio.windows
import shapely
from pyproj import CRS
from rasterio import windows as rio_windows
from rasterio.warp import transform_bounds

from gis.errors import LayerError, PlanError
from gis.inputs import filecheck
from gis.inputs import validate as V
from gis.inputs.config import TIERS
from gis.inputs.network_tables import check_referral_table, check_satellite_links
from gis.inputs.osm import read_osm_roads
from gis.inputs.plans import Plan, validate_plan
from gis.inputs.rasters import LandCover, PopulationGrid
from gis.inputs.registry import ProvinceRegistry, all_commune_codes, normalise
from gis.inputs.validate import normalise_code

log = logging.getLogger(__name__)

LON_NAMES = ("lon", "lng", "long", "longitude", "x")
LAT_NAMES = ("lat", "latitude", "y")
STATUSES = ("active", "ended", "planned")
CSV_SUFFIXES = (".csv", ".txt", ".tsv")


# --- reading --------------------------------------------------------------------------------

def _label(path: Path, layer: str | None) -> str:
    return f"{path} (layer {layer})" if layer else str(path)


def read_any(path: Path | str, *, layer: str | None = None, points: bool = True,
             allow_empty: bool = False) -> gpd.GeoDataFrame:
    """Read a layer from any GDAL format, or a CSV (with lon/lat columns for points).

    Every column is kept as read; a ``_row`` column holds the row label shown in messages
    (1-based feature number; for CSV, the line number in the file). A CSV without lon/lat
    columns gives a GeoDataFrame without geometry (a table).

    Parameters
    ----------
    points : bool, default True
        Make points of a CSV's lon/lat columns; False keeps them as text columns (plans, whose
        lon/lat are filled only on some rows and are checked by the plan's validation).
    allow_empty : bool, default False
        Accept a layer with no rows (otherwise an error: a file with only its header is a
        mistake, not an empty register).

    Raises
    ------
    LayerError
        The file is missing, a folder, unreadable, empty, not UTF-8 (CSV: the encoding it looks
        like and how to save it as UTF-8), separated by ';' or tabs, truncated (GeoJSON),
        missing Shapefile parts, or GDAL cannot read it; every problem with its fix.
    """
    path = Path(path)
    source = _label(path, layer)
    problems = filecheck.file_problems(path, what="layer file", allow_folder=True)
    if problems:
        raise LayerError(str(path), problems)
    if path.suffix.lower() in CSV_SUFFIXES:
        gdf = _read_csv(path, points=points)
    else:
        gdf = _read_gdal(path, layer)
    if len(gdf) == 0 and not allow_empty:
        cols = ", ".join(c for c in gdf.columns if c not in ("geometry", V.ROW)) or "none"
        raise LayerError(source, [f"no rows: the file has only its header (fields: {cols}); add "
                                  f"the rows, or leave its setting empty in config.toml if "
                                  f"there are none"])
    return gdf


def _read_gdal(path: Path, layer: str | None) -> gpd.GeoDataFrame:
    source = _label(path, layer)
    known = filecheck.shapefile_problem(path)
    if known:
        raise LayerError(source, [known])
    try:
        if layer:
            names = [n for n, _ in pyogrio.list_layers(path)]
            if layer not in names:
                raise LayerError(str(path), [f"layer '{layer}' not found; the file has "
                                             f"{', '.join(names)}"])
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            gdf = gpd.read_file(path, layer=layer or None, on_invalid="fix")
        counts: dict[str, int] = {}
        for w in caught:
            counts[str(w.message)] = counts.get(str(w.message), 0) + 1
        for message, n in counts.items():
            if message.startswith("Non closed ring detected"):
                # GDAL's words; in plain words: the polygons are fine once closed
                log.warning("%s: %d polygon outline(s) did not end where they began; they "
                            "were closed on reading, nothing to do", source, n)
                continue
            log.warning("%s: %s%s (mended on reading)", source, message,
                        f" ({n} times)" if n > 1 else "")
    except LayerError:
        raise
    except Exception as exc:  # pyogrio / GDAL errors: say what is wrong with the file
        why = None
        if path.suffix.lower() in (".json", ".geojson"):
            why = filecheck.json_problem(path)
        if why is None and path.is_file():
            why = filecheck.binary_kind(filecheck.read_head(path))
            why = f"the file is {why}" if why else None
        raise LayerError(source, [why or f"cannot be read: {exc}. Is it a GDAL-readable file "
                                         f"(GeoPackage, GeoJSON, Shapefile, FlatGeobuf) or a "
                                         f"CSV?"]) from None
    gdf[V.ROW] = np.arange(1, len(gdf) + 1)
    return gdf


_FIELD_COUNT = re.compile(r"Expected (\d+) fields in line (\d+), saw (\d+)")


def _read_csv(path: Path, *, points: bool = True) -> gpd.GeoDataFrame:
    text, problems = filecheck.read_text(path, what="layer file")
    if problems:
        raise LayerError(str(path), problems)
    assert text is not None
    sep = "\t" if path.suffix.lower() == ".tsv" else ","
    why = filecheck.separator_problem(text, expected=sep)
    if why:
        raise LayerError(str(path), [why])
    try:
        df = pd.read_csv(io.StringIO(text), dtype=str, sep=sep, keep_default_na=False)
    except pd.errors.ParserError as exc:
        m = _FIELD_COUNT.search(str(exc))
        if m:
            want, line, saw = m.groups()
            raise LayerError(str(path), [f"line {line} has {saw} fields where the header has "
                                         f"{want}: a value holding a comma must be quoted "
                                         f"(\"Hà Tĩnh, Việt Nam\"), or remove the extra "
                                         f"comma"]) from None
        raise LayerError(str(path), [f"cannot be read as CSV: {exc}"]) from None
    except Exception as exc:  # noqa: BLE001 - any parser failure: report the file
        raise LayerError(str(path), [f"cannot be read as CSV: {exc}"]) from None
    header = next(csv.reader(io.StringIO(text.lstrip("\r\n")), delimiter=sep))
    names = [h.strip() for h in header]
    twice = sorted({n for n in names if names.count(n) > 1 and n})
    if twice:
        raise LayerError(str(path), [f"field '{n}' appears {names.count(n)} times in the header;"
                                     f" keep one column of that name" for n in twice])
    df.columns = [str(c).strip() for c in df.columns]
    df = df.replace({"": None})
    df[V.ROW] = np.arange(2, len(df) + 2)  # line numbers: the header is line 1
    lower = {c.lower().strip(): c for c in df.columns}
    lon_col = next((lower[n] for n in LON_NAMES if n in lower), None)
    lat_col = next((lower[n] for n in LAT_NAMES if n in lower), None)
    if not points or lon_col is None or lat_col is None:
        return gpd.GeoDataFrame(df)
    problems = []
    coords = {}
    for col in (lon_col, lat_col):
        num, probs = V.numeric_field(df, col, id_field=None, allow_missing=True, what="coordinate")
        coords[col] = num
        problems += [p.replace("negative coordinate", "negative coordinate (west/south)")
                     for p in probs if "negative" not in p]
    if problems:
        raise LayerError(str(path), problems)
    x, y = coords[lon_col].to_numpy(), coords[lat_col].to_numpy()
    have = np.isfinite(x) & np.isfinite(y)
    geom = np.full(len(df), None, dtype=object)
    geom[have] = shapely.points(x[have], y[have])
    gdf = gpd.GeoDataFrame(df.drop(columns=[lon_col, lat_col]), geometry=geom, crs="EPSG:4326")
    return gdf


def _has_geometry(gdf: pd.DataFrame) -> bool:
    return isinstance(gdf, gpd.GeoDataFrame) and gdf._geometry_column_name in gdf


def _check_crs(gdf: gpd.GeoDataFrame) -> list[str]:
    if gdf.crs is None:
        return ["no CRS declared: declare it in the file (e.g. a .prj beside a Shapefile, or use "
                "GeoPackage/GeoJSON), or reproject it to EPSG:4326"]
    return []


def _lonlat_points(geom: gpd.GeoSeries) -> np.ndarray:
    """Representative points of valid geometries in EPSG:4326 (NaN where none)."""
    out = np.full((len(geom), 2), np.nan)
    ok = (~geom.isna() & ~geom.is_empty).to_numpy()
    if ok.any() and geom.crs is not None:
        pts = geom[ok].representative_point().to_crs(4326)
        out[ok, 0] = pts.x.to_numpy()
        out[ok, 1] = pts.y.to_numpy()
    return out


def _codes(gdf: pd.DataFrame, fieldname: str) -> pd.Series:
    if fieldname not in gdf:
        return pd.Series("", index=gdf.index)
    return gdf[fieldname].map(normalise_code)


def _filter_province(gdf: gpd.GeoDataFrame, reg: ProvinceRegistry, *, known: set[str],
                     code_field: str, source: str,
                     use_province_code: bool = True) -> gpd.GeoDataFrame:
    """Keep the rows of the province: by a ``province_code`` field when present (and
    ``use_province_code``), else by the commune codes the registry knows for the province.

    Tables of pre-2025 communes are filtered by commune code only: their ``province_code`` is
    usually the pre-2025 province's (a province merged in 2025 has several), and pre- and
    post-2025 province codes overlap.
    """
    if use_province_code and "province_code" in gdf:
        keep = gdf["province_code"].map(lambda v: normalise_code(v, 2)) == reg.province.code
        if keep.sum() < len(gdf):
            log.info("%s: kept %d of %d rows (province_code %s)", source, keep.sum(), len(gdf),
                     reg.province.code)
        return gdf[keep.to_numpy()]
    codes = _codes(gdf, code_field)
    other = ~codes.isin(known) & codes.isin(all_commune_codes())
    if "province_code" in gdf:
        # rows without a code: their province_code (pre- or post-2025) says where they belong
        mine = {reg.province.code, *reg.province.legacy_codes}
        prov = gdf["province_code"].map(lambda v: normalise_code(v, 2))
        other |= (codes == "") & (prov != "") & ~prov.isin(mine)
    if other.any():
        log.info("%s: dropped %d rows of other provinces", source, int(other.sum()))
    return gdf[~other.to_numpy()]


def _population_problems(gdf: pd.DataFrame, population: pd.Series, field: str, *,
                         names: pd.Series | None, allow_missing: bool) -> list[str]:
    """Populations that cannot be used: empty (unless allowed) or 0 in every row."""
    problems = []
    empty = population.isna()
    if empty.any() and not allow_missing:
        labels = gdf["commune_code"].astype(str)
        if names is not None:
            labels = labels + " " + names.fillna("").astype(str)
        listed = ", ".join(labels[empty].tolist()[:V.MAX_LISTED])
        more = f" and {int(empty.sum()) - V.MAX_LISTED} more" if empty.sum() > V.MAX_LISTED else ""
        problems.append(f"field '{field}', {V.rows_text(gdf, empty, id_field=None)} (communes "
                        f"{listed}{more}): empty population; fill it in (0 for an uninhabited "
                        f"commune), or set province.population_total in config.toml to estimate "
                        f"the missing ones (labelled as estimates)")
    elif population.notna().any() and (population.fillna(0) == 0).all():
        problems.append(f"field '{field}': every row has population 0 ({len(gdf)} rows); is "
                        f"'{field}' the field that holds the people? Name the right one (config: "
                        f"layers.communes_population_field / layers.legacy_population_field)")
    return problems


def read_communes(path: Path | str, reg: ProvinceRegistry, *, crs: CRS | str | int,
                  layer: str | None = None, population_field: str = "population",
                  legacy: bool = False,
                  allow_missing_population: bool = False) -> gpd.GeoDataFrame:
    """Read and validate commune polygons (post-2025, or pre-2025 with ``legacy=True``).

    Parameters
    ----------
    path : path
        Any GDAL-readable polygon layer. Required fields: ``commune_code``, ``commune_name``
        and the population field (persons; empty = unknown). Rows of other provinces are
        dropped when the layer has ``province_code`` (post-2025 layers) or their codes belong
        elsewhere.
    reg : ProvinceRegistry
        The province's registry: codes are checked against it.
    crs : CRS
        Working CRS to reproject to.
    allow_missing_population : bool, default False
        Accept empty populations (then estimated from ``province.population_total``); otherwise
        every empty population is an error naming the commune.

    Returns
    -------
    GeoDataFrame
        The layer schema (module docstring) in ``crs``, sorted by commune_code.

    Raises
    ------
    LayerError
        Every problem of the layer at once: missing fields, unknown or missing communes,
        populations that are not plain numbers (thousands separators refused), negative, empty
        (unless allowed) or 0 in every commune, geometries, places outside the province.
    """
    path = Path(path)
    gdf = read_any(path, layer=layer)
    return communes_from_frame(gdf, reg, crs=crs, source=_label(path, layer),
                               population_field=population_field, legacy=legacy,
                               population_label=f"layer: {path.name}, field {population_field}",
                               geometry_label=f"layer: {path.name}",
                               allow_missing_population=allow_missing_population)


def communes_from_frame(gdf: gpd.GeoDataFrame, reg: ProvinceRegistry, *, crs: CRS | str | int,
                        source: str, population_field: str = "population",
                        legacy: bool = False, population_label: str | None = None,
                        geometry_label: str | None = None,
                        allow_missing_population: bool = False) -> gpd.GeoDataFrame:
    """Validate commune polygons already in memory (e.g. the built-in base data,
    :func:`gis.inputs.basedata.communes`) as :func:`read_communes` validates a file.

    ``source`` names the layer in messages; ``population_label`` and ``geometry_label`` fill
    ``population_source`` (where the population is known) and ``geometry_source``;
    ``allow_missing_population`` as in :func:`read_communes`.
    """
    gdf = gdf.copy()
    if V.ROW not in gdf:
        gdf[V.ROW] = np.arange(1, len(gdf) + 1)
    population_label = population_label or f"{source}, field {population_field}"
    geometry_label = geometry_label or source
    problems = V.missing_fields(gdf, ["commune_code", "commune_name", population_field])
    problems += _check_crs(gdf)
    if problems:
        raise LayerError(source, problems)
    table = reg.legacy if legacy else reg.new
    known = set(table["commune_code"])
    gdf = _filter_province(gdf, reg, known=known, code_field="commune_code", source=source,
                           use_province_code=not legacy)
    gdf = gdf.copy()
    gdf["commune_code"] = _codes(gdf, "commune_code")
    what = "pre-2025" if legacy else "post-2025"
    problems += V.duplicate_ids(gdf, "commune_code")
    unknown = ~gdf["commune_code"].isin(known) & (gdf["commune_code"] != "")
    if unknown.any():
        rows = V.rows_text(gdf, unknown, id_field="commune_code")
        problems.append(f"field 'commune_code', {rows}: codes unknown to the registry as "
                        f"{what} communes of "
                        f"{reg.province.short}; use the 5-digit national codes "
                        f"(`gis registry {reg.province.code}` lists them)")
    missing = sorted(known - set(gdf["commune_code"]))
    if missing:
        names = table.set_index("commune_code")["commune_name"]
        listed = ", ".join(f"{c} {names[c]}" for c in missing[:V.MAX_LISTED])
        more = f" and {len(missing) - V.MAX_LISTED} more" if len(missing) > V.MAX_LISTED else ""
        problems.append(f"field 'commune_code': {len(missing)} {what} communes of "
                        f"{reg.province.short} missing from the layer: {listed}{more}; "
                        f"add them (population totals would be wrong without them)")
    population, probs = V.numeric_field(gdf, population_field, id_field="commune_code",
                                        allow_missing=True, what="population", whole=True)
    problems += probs
    if not probs:
        problems += _population_problems(gdf, population, population_field,
                                         names=gdf["commune_name"],
                                         allow_missing=allow_missing_population)
    geom, probs = V.geometry_problems(gdf, allowed=("Polygon", "MultiPolygon"),
                                      id_field="commune_code", source=source)
    problems += probs
    gdf = gdf.set_geometry(geom)
    problems += V.location_problems(_lonlat_points(gdf.geometry), gdf,
                                    bounds=reg.bounds(), province=reg.province.short,
                                    id_field="commune_code")
    if problems:
        raise LayerError(source, problems)
    info = table.set_index("commune_code")
    out = gpd.GeoDataFrame({
        "commune_code": gdf["commune_code"].to_numpy(),
        "commune_name": gdf["commune_name"].astype(str).to_numpy(),
        "commune_type": (gdf["commune_type"] if "commune_type" in gdf
                         else gdf["commune_code"].map(info["commune_type"])).to_numpy(),
        "population": population.to_numpy(),
        "population_source": np.where(population.isna(), "unknown", population_label),
        "geometry_source": geometry_label,
        "admin_center": (gdf["admin_center"].fillna("").astype(str).to_numpy()
                         if "admin_center" in gdf else ""),
    }, geometry=shapely.force_2d(gdf.geometry.to_numpy()), crs=gdf.crs).to_crs(crs)
    out["geometry"] = _valid_after_reprojection(out.geometry.to_numpy(), out["commune_code"],
                                                source=source)
    out["geometry"] = [g if g.geom_type == "MultiPolygon" else shapely.MultiPolygon([g])
                       for g in out.geometry]
    return out.sort_values("commune_code", ignore_index=True)


def _rows_without_code(df: pd.DataFrame, reg: ProvinceRegistry, *, population_field: str,
                       source: str) -> pd.DataFrame:
    """Rows of a pre-2025 population table with no commune code, read for what they are.

    A census lists an island district without communes (Bạch Long Vĩ, Lý Sơn, Cồn Cỏ, Hoàng
    Sa, Côn Đảo) as a row with its district name and no commune code: such a row is the
    registry's island district (``commune_type`` Huyện đảo, code ``D<district code>``), matched
    by ``district_name``. Any other row without a code and without a population is not a
    commune (a heading, a total left empty) and is skipped. Both are logged. A row without a
    code but with people is left to the checks (an error naming the row).
    """
    empty = (df["commune_code"] == "").to_numpy()
    if not empty.any():
        return df
    islands = reg.legacy[reg.legacy["commune_type"] == "Huyện đảo"]
    by_district = {normalise(str(d)): c for d, c in
                   zip(islands["district_name"], islands["commune_code"], strict=True)}
    districts = (df["district_name"].fillna("").astype(str) if "district_name" in df
                 else pd.Series("", index=df.index))
    pop_text = df[population_field].fillna("").astype(str).str.strip()
    keep = np.ones(len(df), bool)
    df = df.copy()
    for i in np.flatnonzero(empty):
        row = df[V.ROW].iat[i] if V.ROW in df else i + 2
        code = by_district.get(normalise(districts.iat[i]))
        if code is not None and code not in set(df["commune_code"]):
            df.iloc[i, df.columns.get_loc("commune_code")] = code
            log.info("%s: row %s (%s) has no commune code: the island district without "
                     "communes %s of the registry", source, row, districts.iat[i], code)
        elif pop_text.iat[i] == "":
            keep[i] = False
            log.info("%s: row %s%s has no commune code and no population: not a commune, "
                     "skipped", source, row, f" ({districts.iat[i]})" if districts.iat[i] else "")
    return df[keep]


def _valid_after_reprojection(geoms: np.ndarray, codes: pd.Series, *, source: str
                              ) -> np.ndarray:
    """Polygons valid in the working CRS. A polygon valid in lon/lat (or mended there) may
    self-intersect once reprojected, where two of its edges nearly touch (Thái Nguyên's Lam Vỹ
    and Phú Đình in the national file): such a polygon is mended again with ``make_valid``
    (its polygonal part; the area moves by a rounding error), logged."""
    geoms = np.asarray(geoms, dtype=object).copy()
    bad = ~shapely.is_valid(geoms)
    if bad.any():
        for i in np.flatnonzero(bad):
            geoms[i] = V.polygonal_part(shapely.make_valid(geoms[i]))
        log.info("%s: %d polygon(s) invalid after reprojection to the working CRS mended with "
                 "make_valid: commune_code %s", source, int(bad.sum()),
                 ", ".join(codes.to_numpy()[bad].astype(str)))
    return geoms


def read_population_table(path: Path | str, reg: ProvinceRegistry, *,
                          population_field: str = "population") -> pd.Series:
    """Read a population table of pre-2025 communes (CSV or any GDAL layer).

    Returns
    -------
    Series
        Persons (float, NaN = unknown) indexed by legacy commune_code, for the province's
        pre-2025 communes found in the table.
    """
    path = Path(path)
    source = str(path)
    read = df = read_any(path)
    problems = V.missing_fields(df, ["commune_code", population_field])
    if problems:
        raise LayerError(source, problems)
    known = set(reg.legacy["commune_code"])
    df = _filter_province(df, reg, known=known, code_field="commune_code", source=source,
                          use_province_code=False).copy()
    df["commune_code"] = _codes(df, "commune_code")
    df = _rows_without_code(df, reg, population_field=population_field, source=source)
    problems += V.duplicate_ids(df, "commune_code")
    unknown = ~df["commune_code"].isin(known)
    if unknown.any():
        problems.append(f"field 'commune_code', {V.rows_text(df, unknown, id_field='commune_code')}"
                        f": codes unknown to the registry as pre-2025 communes of "
                        f"{reg.province.short}; use the 5-digit national codes")
    if df.empty:
        problems.append(f"field 'commune_code': no row of {reg.province.short} (the table has "
                        f"{len(read)} rows of other provinces); give the pre-2025 communes of "
                        f"{reg.province.short} (`gis registry {reg.province.code} --mapping` "
                        f"lists their codes)")
    population, probs = V.numeric_field(df, population_field, id_field="commune_code",
                                        allow_missing=True, what="population", whole=True)
    problems += probs
    if not probs and not df.empty:
        problems += _population_problems(df, population, population_field, names=None,
                                         allow_missing=True)
    if problems:
        raise LayerError(source, problems)
    return pd.Series(population.to_numpy(), index=df["commune_code"].to_numpy(),
                     name="population")


def _facilities_of_province(gdf: gpd.GeoDataFrame, reg: ProvinceRegistry, *,
                            source: str) -> gpd.GeoDataFrame:
    """The rows of a facility register that belong to the province (see
    :func:`read_facilities`), as a copy."""
    tier = gdf["tier"].astype(str).str.strip().str.lower()
    central = (tier == "central").to_numpy()
    if "province_code" in gdf:
        code = gdf["province_code"].map(lambda v: normalise_code(v, 2))
        other = ((code != "") & (code != reg.province.code)).to_numpy()
    else:
        # Without province_code, a register whose host codes all belong to other provinces is
        # another province's; a mix is left to the checks (a wrong code is then an error).
        everywhere = all_commune_codes()
        elsewhere = np.zeros(len(gdf), bool)
        mine = np.zeros(len(gdf), bool)
        for fname, table in (("host_legacy_commune_code", reg.legacy),
                             ("host_commune_code", reg.new)):
            codes = _codes(gdf, fname)
            here = codes.isin(set(table["commune_code"])).to_numpy()
            mine |= here
            elsewhere |= (codes.isin(everywhere).to_numpy() & ~here)
        other = elsewhere if elsewhere[~central].any() and not mine.any() else \
            np.zeros(len(gdf), bool)
    other = np.asarray(other, bool) & ~central
    if other.any():
        log.info("%s: dropped %d of %d facilities of other provinces than %s", source,
                 int(other.sum()), len(gdf), reg.province.short)
    return gdf[~other].copy()


def read_facilities(path: Path | str, reg: ProvinceRegistry, *, crs: CRS | str | int,
                    layer: str | None = None) -> gpd.GeoDataFrame:
    """Read and validate a facility register.

    Required fields: ``facility_id`` (unique), ``name``, ``tier`` (central, provincial,
    regional, station, branch). A site is either a point geometry (any GDAL point layer, or CSV
    with lon/lat columns) or, when the site is not known, ``host_legacy_commune_code`` /
    ``host_commune_code``: the facility is then placed at the registry centre of that commune
    and ``location_source`` says so. Optional: specialty, beds, doctors, nurses (empty =
    unknown), status (active, ended, planned), location_source (kept for rows with a site;
    default ``layer: <file name>``), source, note. Central hospitals may lie outside the
    province; other tiers must lie inside.

    A national (or another province's) register is filtered to the province: rows whose
    ``province_code`` (post-2025) is another province's are dropped; without that field, a
    register whose host commune codes all belong to other provinces is another province's and
    only its central hospitals are kept. The result may then be empty.
    """
    path = Path(path)
    source = _label(path, layer)
    gdf = read_any(path, layer=layer)
    problems = V.missing_fields(gdf, ["facility_id", "name", "tier"])
    if problems:
        raise LayerError(source, problems)
    gdf = _facilities_of_province(gdf, reg, source=source)
    gdf["facility_id"] = gdf["facility_id"].astype(str).str.strip()
    problems += V.duplicate_ids(gdf, "facility_id")
    tier = gdf["tier"].astype(str).str.strip().str.lower()
    bad = ~tier.isin(TIERS)
    if bad.any():
        found = ", ".join(sorted(set(gdf.loc[bad, "tier"].astype(str))))
        problems.append(f"field 'tier', {V.rows_text(gdf, bad, id_field='facility_id')}: unknown "
                        f"tier ({found}); use one of {', '.join(TIERS)}")
    status = (gdf["status"].fillna("active").astype(str).str.strip().str.lower()
              if "status" in gdf else pd.Series("active", index=gdf.index))
    bad = ~status.isin(STATUSES)
    if bad.any():
        problems.append(f"field 'status', {V.rows_text(gdf, bad, id_field='facility_id')}: "
                        f"unknown status; use one of {', '.join(STATUSES)}")
    numbers = {}
    for f in ("beds", "doctors", "nurses"):
        numbers[f], probs = V.numeric_field(gdf, f, id_field="facility_id", allow_missing=True,
                                            what=f, whole=True)
        problems += probs
    has_geom = _has_geometry(gdf) and bool(gdf.geometry.notna().any())
    legacy_idx = reg.legacy.set_index("commune_code")
    new_idx = reg.new.set_index("commune_code")
    host_legacy = _codes(gdf, "host_legacy_commune_code")
    host_new = _codes(gdf, "host_commune_code")
    for fname, codes, idx in (("host_legacy_commune_code", host_legacy, legacy_idx),
                              ("host_commune_code", host_new, new_idx)):
        bad = (codes != "") & ~codes.isin(idx.index)
        if bad.any():
            problems.append(f"field '{fname}', {V.rows_text(gdf, bad, id_field='facility_id')}: "
                            f"codes unknown to the registry for {reg.province.short}; use "
                            f"5-digit commune codes (`gis registry {reg.province.code}`)")
    lon = np.full(len(gdf), np.nan)
    lat = np.full(len(gdf), np.nan)
    loc_source = np.full(len(gdf), "", dtype=object)
    if has_geom:
        problems += _check_crs(gdf)
        geom, probs = V.geometry_problems(
            gdf[gdf.geometry.notna()], allowed=("Point",), id_field="facility_id", source=source)
        problems += probs
        if gdf.crs is not None and not probs:
            pts = geom.to_crs(4326)
            pos = np.flatnonzero(gdf.geometry.notna().to_numpy())
            lon[pos], lat[pos] = pts.x.to_numpy(), pts.y.to_numpy()
            given = (gdf["location_source"].fillna("").astype(str).str.strip().to_numpy()
                     if "location_source" in gdf else np.full(len(gdf), "", dtype=object))
            loc_source[pos] = np.where(given[pos] != "", given[pos], f"layer: {path.name}")
    for codes, idx, what in ((host_new, new_idx, "post-2025"),
                             (host_legacy, legacy_idx, "pre-2025")):
        use = np.isnan(lon) & (codes != "").to_numpy() & codes.isin(idx.index).to_numpy()
        if use.any():
            c = codes[use]
            lon[use] = idx.loc[c, "lon"].to_numpy()
            lat[use] = idx.loc[c, "lat"].to_numpy()
            names = idx.loc[c, "commune_name"].to_numpy()
            loc_source[use] = [f"estimate: registry centre of the host {what} commune; {n} ({k})"
                               for n, k in zip(names, c, strict=True)]
    nowhere = np.isnan(lon)
    if nowhere.any():
        problems.append(f"geometry, {V.rows_text(gdf, nowhere, id_field='facility_id')}: no site;"
                        f" give lon/lat (or a point geometry) or host_legacy_commune_code / "
                        f"host_commune_code when the site is not known")
    inside_tiers = ~tier.isin(["central"]).to_numpy() & ~nowhere
    if inside_tiers.any():
        sub = gdf[inside_tiers]
        problems += V.location_problems(np.column_stack([lon, lat])[inside_tiers], sub,
                                        bounds=reg.bounds(), province=reg.province.short,
                                        id_field="facility_id")
    if problems:
        raise LayerError(source, problems)
    host_code = np.where(host_legacy != "", host_legacy, "")
    new_code = np.where(host_new != "", host_new,
                        pd.Series(host_code).map(legacy_idx["new_commune_code"]).fillna(""))

    def text(col: str, default: str = "") -> np.ndarray:
        return (gdf[col].fillna(default).astype(str).to_numpy() if col in gdf
                else np.full(len(gdf), default, dtype=object))

    out = gpd.GeoDataFrame({
        "facility_id": gdf["facility_id"].to_numpy(),
        "name": gdf["name"].astype(str).to_numpy(),
        "tier": tier.to_numpy(),
        "specialty": text("specialty"),
        "commune_code": new_code,
        "legacy_commune_code": host_code,
        "beds": numbers["beds"].to_numpy(),
        "doctors": numbers["doctors"].to_numpy(),
        "nurses": numbers["nurses"].to_numpy(),
        "status": status.to_numpy(),
        "location_source": loc_source,
        "source": text("source", f"layer: {path.name}"),
        "note": text("note"),
    }, geometry=shapely.points(lon, lat), crs="EPSG:4326")
    return out.to_crs(crs)


def is_pbf(path: Path | str) -> bool:
    """An OpenStreetMap PBF extract (``.osm.pbf`` or ``.pbf``), read by
    :func:`gis.inputs.osm.read_osm_roads` rather than GDAL."""
    return str(path).lower().endswith(".pbf")


def read_staffing(path: Path | str, *, layer: str | None = None) -> pd.DataFrame:
    """Read a staffing table: doctors, nurses and beds per facility.

    Any GDAL table or CSV with ``facility_id`` and at least one of ``doctors``, ``nurses``,
    ``beds`` (numbers >= 0; empty = unknown); optional ``source`` (where the figures come
    from). Ids are checked against the facilities layer when it is built
    (:func:`gis.inputs.staffing.apply_staffing`): the generated commune stations are
    ``TYT-<pre-2025 commune code>``.

    Returns
    -------
    DataFrame
        ``facility_id``, ``doctors``, ``nurses``, ``beds`` (float, NaN = unknown), ``source``
        (``"table: <file name>"`` where the row gives none), ``_row``.

    Raises
    ------
    LayerError
        Listing every problem with its rows (missing fields, repeated or empty ids, values
        that are not numbers or are negative).
    """
    path = Path(path)
    source = _label(path, layer)
    df = pd.DataFrame(read_any(path, layer=layer))
    problems = V.missing_fields(df, ["facility_id"])
    if not any(f in df for f in ("doctors", "nurses", "beds")):
        problems.append("no field doctors, nurses or beds: a staffing table gives at least one "
                        "of them per facility_id")
    if problems:
        raise LayerError(source, problems)
    df["facility_id"] = df["facility_id"].fillna("").astype(str).str.strip()
    empty = df["facility_id"] == ""
    if empty.any():
        problems.append(f"field 'facility_id', {V.rows_text(df, empty, id_field=None)}: empty "
                        "id; give the facility_id of the facilities layer (TYT-<code> for a "
                        "commune station)")
    problems += V.duplicate_ids(df[~empty], "facility_id")
    numbers = {}
    for f in ("doctors", "nurses", "beds"):
        numbers[f], probs = V.numeric_field(df, f, id_field="facility_id", allow_missing=True,
                                            what=f)
        problems += probs
    if problems:
        raise LayerError(source, problems)
    given = (df["source"].fillna("").astype(str).str.strip() if "source" in df
             else pd.Series("", index=df.index))
    return pd.DataFrame({
        "facility_id": df["facility_id"].to_numpy(),
        **{f: numbers[f].to_numpy() for f in ("doctors", "nurses", "beds")},
        "source": np.where(given != "", given, f"table: {path.name}"),
        V.ROW: df[V.ROW].to_numpy(),
    })


def read_candidates(path: Path | str, reg: ProvinceRegistry, *, crs: CRS | str | int,
                    layer: str | None = None) -> gpd.GeoDataFrame:
    """Read candidate sites for the scaling up: a point layer, or CSV with lon/lat.

    Optional fields: ``site_id`` (unique; default ``C<row>``), ``name`` (default the id).
    Sites outside the province's box are reported; sites inside the box but outside every
    commune are dropped later (counted in the summary).

    Returns
    -------
    GeoDataFrame
        ``site_id``, ``name``; Point geometry in ``crs``.
    """
    path = Path(path)
    source = _label(path, layer)
    gdf = read_any(path, layer=layer)
    if not _has_geometry(gdf) or not bool(gdf.geometry.notna().any()):
        raise LayerError(source, ["no sites: give a point layer, or a CSV with lon and lat "
                                  "columns"])
    problems = _check_crs(gdf)
    if problems:
        raise LayerError(source, problems)
    gdf = gdf.copy()
    ids = (gdf["site_id"].fillna("").astype(str).str.strip() if "site_id" in gdf
           else pd.Series("", index=gdf.index))
    ids = ids.where(ids != "", "C" + gdf[V.ROW].astype(str))
    gdf["site_id"] = ids
    problems += V.duplicate_ids(gdf, "site_id")
    nowhere = gdf.geometry.isna().to_numpy()
    if nowhere.any():
        problems.append(f"geometry, {V.rows_text(gdf, nowhere, id_field='site_id')}: no site; "
                        "give lon/lat")
    geom, probs = V.geometry_problems(gdf[~nowhere], allowed=("Point",), id_field="site_id",
                                      source=source)
    problems += probs
    if not problems:
        problems += V.location_problems(_lonlat_points(geom), gdf[~nowhere],
                                        bounds=reg.bounds(), province=reg.province.short,
                                        id_field="site_id")
    if problems:
        raise LayerError(source, problems)
    names = (gdf["name"].fillna("").astype(str) if "name" in gdf
             else pd.Series("", index=gdf.index))
    out = gpd.GeoDataFrame({"site_id": gdf["site_id"].to_numpy(),
                            "name": np.where(names != "", names, gdf["site_id"])},
                           geometry=shapely.force_2d(gdf.geometry.to_numpy()), crs=gdf.crs)
    return out[~nowhere].to_crs(crs).reset_index(drop=True)


def read_roads(path: Path | str, *, crs: CRS | str | int, layer: str | None = None,
               speed_field: str = "speed_kmh", class_field: str = "highway",
               area=None, margin_m: float = 0.0) -> gpd.GeoDataFrame:
    """Read and validate a road line layer for the road and friction models.

    Any GDAL line layer (an OSM export, national road data, the GeoPackage that
    ``gis roads extract`` writes). Optional fields: ``highway`` or ``road_class`` (the road
    class; another name via ``class_field``), ``speed_kmh`` (overrides the class speed),
    ``maxspeed_kmh`` (caps it), ``oneway`` (yes/true/1: along the line), ``is_ferry`` and
    ``ferry_duration_min`` (ferry routes). Multi-part lines are split into parts. An
    ``.osm.pbf`` file is read with :func:`gis.inputs.osm.read_osm_roads`, cut to ``area``
    (the province, any CRS) grown by ``margin_m``.

    Returns
    -------
    GeoDataFrame
        ``road_class`` (str, "" when unknown), ``speed_kmh`` (float, NaN = from the class),
        ``maxspeed_kmh`` (NaN = none), ``oneway`` (bool), ``is_ferry`` (bool),
        ``ferry_duration_min`` (NaN = none); LineString in ``crs``.
    """
    path = Path(path)
    if is_pbf(path):
        return read_osm_roads(path, crs=crs, area=area, margin_m=margin_m)
    source = _label(path, layer)
    gdf = read_any(path, layer=layer)
    if not _has_geometry(gdf):
        raise LayerError(source, ["no geometry: a roads layer needs line geometries"])
    problems = _check_crs(gdf)
    geom, probs = V.geometry_problems(gdf, allowed=("LineString", "MultiLineString"),
                                      id_field=None, source=source)
    problems += probs
    speed, probs = V.numeric_field(gdf, speed_field, id_field=None, allow_missing=True,
                                   what="speed")
    problems += probs
    zero = speed == 0
    if zero.any():
        problems.append(f"field '{speed_field}', {V.rows_text(gdf, zero, id_field=None)}: speed 0;"
                        f" leave it empty to use the class speed, or remove impassable roads")
    optional = {}
    for name, what in (("maxspeed_kmh", "speed"), ("ferry_duration_min", "duration")):
        if name in gdf:
            optional[name], probs = V.numeric_field(gdf, name, id_field=None,
                                                    allow_missing=True, what=what)
            problems += probs
    if problems:
        raise LayerError(source, problems)

    def yes(name: str) -> np.ndarray:
        if name not in gdf:
            return np.zeros(len(gdf), bool)
        return gdf[name].astype(str).str.strip().str.lower().isin(["yes", "true", "1"]) \
            .to_numpy(bool)

    if class_field not in gdf and "road_class" in gdf:
        class_field = "road_class"
    nan = np.full(len(gdf), np.nan)
    out = gpd.GeoDataFrame({
        "road_class": (gdf[class_field].fillna("").astype(str) if class_field in gdf
                       else pd.Series("", index=gdf.index)).to_numpy(),
        "speed_kmh": speed.to_numpy(),
        "maxspeed_kmh": optional["maxspeed_kmh"].to_numpy() if "maxspeed_kmh" in optional
        else nan,
        "oneway": yes("oneway"),
        "is_ferry": yes("is_ferry"),
        "ferry_duration_min": optional["ferry_duration_min"].to_numpy()
        if "ferry_duration_min" in optional else nan,
    }, geometry=shapely.force_2d(geom.to_numpy()), crs=gdf.crs).to_crs(crs)
    return out.explode(index_parts=False).reset_index(drop=True)


def read_landcover(path: Path | str, *, bounds: tuple[float, float, float, float] | None = None,
                   crs: CRS | str | int | None = None, margin_m: float = 0.0) -> LandCover:
    """Read a land-cover raster (integer classes, e.g. ESA WorldCover) for the friction model:
    the window covering ``bounds`` (in ``crs``, grown by ``margin_m``), or the whole raster.

    Raises
    ------
    LayerError
        The file cannot be read as a raster, declares no CRS, holds no integer classes, or
        does not cover the bounds.
    """
    path = Path(path)
    try:
        src = rasterio.open(path)
    except Exception as exc:
        raise LayerError(str(path), [f"cannot be read as a raster: {exc}"]) from None
    with src:
        if src.crs is None:
            raise LayerError(str(path), ["no CRS declared: georeference the raster"])
        if not np.issubdtype(np.dtype(src.dtypes[0]), np.integer):
            raise LayerError(str(path), [f"band 1 holds {src.dtypes[0]} values; a land-cover "
                                         "raster holds integer classes"])
        window = None
        if bounds is not None:
            minx, miny, maxx, maxy = bounds
            grown = (minx - margin_m, miny - margin_m, maxx + margin_m, maxy + margin_m)
            left, bottom, right, top = transform_bounds(crs, src.crs, *grown)
            w = rio_windows.from_bounds(left, bottom, right, top, src.transform)
            c0, r0 = math.floor(w.col_off), math.floor(w.row_off)
            c1 = min(math.ceil(w.col_off + w.width), src.width)
            r1 = min(math.ceil(w.row_off + w.height), src.height)
            c0, r0 = max(c0, 0), max(r0, 0)
            window = rio_windows.Window(c0, r0, c1 - c0, r1 - r0) if c1 > c0 and r1 > r0 \
                else None
            if window is None:
                raise LayerError(str(path), ["does not cover the province: give a raster "
                                             "of its area"])
        values = src.read(1, window=window)
        transform = src.window_transform(window) if window is not None else src.transform
        nodata = src.nodata
        crs_wkt = src.crs.to_wkt()
    if nodata is not None:
        values = np.where(values == nodata, -1, values)
    return LandCover(values=values.astype(np.int64), transform=transform, crs=crs_wkt,
                     name=path.name)


def read_referrals(path: Path | str, *, layer: str | None = None) -> pd.DataFrame:
    """Read a referral table: which facility each facility refers patients to.

    Any GDAL table or CSV with fields ``from_id`` (the referring facility) and ``to_id`` (its
    referral parent); optional ``note``. Rows override the network's rule for their
    ``from_id`` (see :mod:`gis.analyses.network`); ids are checked against the facilities when the
    network is built.

    Returns
    -------
    DataFrame
        ``from_id``, ``to_id``, ``note``, ``_row`` (line number in the file).

    Raises
    ------
    NetworkError
        Listing every problem with its rows (missing fields, empty ids, a facility referring
        to itself or given twice).
    """
    path = Path(path)
    return check_referral_table(pd.DataFrame(read_any(path, layer=layer)),
                                source=_label(path, layer))


def read_satellite_links(path: Path | str, *, layer: str | None = None) -> pd.DataFrame:
    """Read satellite-hospital links: a core (hub) hospital and its satellites.

    Any GDAL table or CSV with fields ``core_id`` and ``satellite_id``; optional ``specialty``
    (what the core transfers) and ``since`` (a year or YYYY-MM-DD). Ids must be facilities of
    the facilities layer (a central hospital outside the province is a row there with its
    lon/lat); they are checked when the network is built.

    Returns
    -------
    DataFrame
        ``core_id``, ``satellite_id``, ``specialty``, ``since``, ``_row``.

    Raises
    ------
    NetworkError
        Listing every problem with its rows (missing fields, empty ids, a hospital linked to
        itself, repeated links, a ``since`` that is not a year or date).
    """
    path = Path(path)
    return check_satellite_links(pd.DataFrame(read_any(path, layer=layer)),
                                 source=_label(path, layer))


def read_geopackage_layers(gpkg: Path | str, wanted: list[str] | None = None
                           ) -> dict[str, gpd.GeoDataFrame]:
    """The layers of a GeoPackage (all, or those named in ``wanted``), as written by `gis run`.

    Raises
    ------
    LayerError
        The file is missing or unreadable, or a wanted layer is not in it (the message lists the
        layers it has).
    """
    gpkg = Path(gpkg)
    if not gpkg.is_file():
        raise LayerError(str(gpkg), ["file not found: give the GeoPackage written by "
                                     "`gis run` (layers.gpkg in the output folder)"])
    try:
        names = [str(n) for n, _ in pyogrio.list_layers(gpkg)]
    except Exception as exc:  # noqa: BLE001 - GDAL errors: report the file
        raise LayerError(str(gpkg), [f"cannot read as a GeoPackage: {exc}"]) from exc
    if wanted:
        unknown = [w for w in wanted if w not in names]
        if unknown:
            raise LayerError(str(gpkg), [f"no layer {u!r}; layers: {', '.join(names)}"
                                         for u in unknown])
        names = [n for n in names if n in wanted]
    return {n: gpd.read_file(gpkg, layer=n) for n in names}


def read_plan(path: Path | str, facilities: gpd.GeoDataFrame, reg: ProvinceRegistry, *,
              name: str | None = None) -> Plan:
    """Read a plan from CSV (facility_id, action, target_commune_code[, lon, lat, name, role])
    or TOML (``[[station]]`` tables with the same keys) and validate it.

    Raises
    ------
    PlanError
        Listing every problem with its row (CSV line or TOML entry number).
    """
    path = Path(path)
    if path.suffix.lower() == ".toml":
        df, toml_name = _plan_toml(path)
        name = name or toml_name
    else:
        problems = filecheck.file_problems(path, what="plan file", suffixes=(".csv", ".toml"))
        if problems:
            raise PlanError(str(path), problems)
        df = pd.DataFrame(read_any(path, points=False))
        if "geometry" in df:
            geom = gpd.GeoSeries(df["geometry"], crs=getattr(df["geometry"], "crs", None))
            has = geom.notna().to_numpy() & ~geom.is_empty.to_numpy()
            lon = np.full(len(df), np.nan)
            lat = np.full(len(df), np.nan)
            if has.any():
                pts = geom[has].to_crs(4326) if geom.crs is not None else geom[has]
                lon[has], lat[has] = pts.x.to_numpy(), pts.y.to_numpy()
            df = df.drop(columns="geometry")
            df["lon"], df["lat"] = lon, lat
    return validate_plan(df, facilities, reg, source=str(path), name=name or path.stem)


PLAN_KEYS = ("facility_id", "action", "target_commune_code", "role", "lon", "lat", "name",
             "rule", "note", "legacy_commune_code")


def _plan_toml(path: Path) -> tuple[pd.DataFrame, str | None]:
    """The ``[[station]]`` tables of a TOML plan as a table (``_row``: entry number)."""
    text, problems = filecheck.read_text(path, what="plan file", suffixes=(".csv", ".toml"))
    if problems:
        raise PlanError(str(path), problems)
    assert text is not None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PlanError(str(path), [f"not valid TOML: {exc}; see the README's plan example "
                                    f"([[station]] tables)"]) from None
    unknown = sorted(set(data) - {"name", "station"})
    if unknown:
        raise PlanError(str(path), [f"unknown key(s) {', '.join(unknown)}: a plan TOML has "
                                    "`name` and [[station]] tables"])
    name = data.get("name")
    if name is not None and not isinstance(name, str):
        raise PlanError(str(path), [f"key 'name': expected a text in quotes, found {name!r}"])
    stations = data.get("station", [])
    if isinstance(stations, dict):
        raise PlanError(str(path), ["[station] is a single table: write [[station]] (double "
                                    "brackets) before each station, one table per station"])
    if not isinstance(stations, list) or not all(isinstance(t, dict) for t in stations):
        raise PlanError(str(path), ["key 'station': expected [[station]] tables (double "
                                    "brackets), one per station"])
    if not stations:
        raise PlanError(str(path), ["no [[station]] tables: give one per station (facility_id, "
                                    "action, target_commune_code)"])
    problems = []
    for i, t in enumerate(stations):
        bad = sorted(set(t) - set(PLAN_KEYS))
        if bad:
            problems.append(f"[[station]] #{i + 1}: unknown key(s) {', '.join(bad)}; use "
                            f"{', '.join(PLAN_KEYS[:6])}")
        nested = sorted(k for k, v in t.items() if isinstance(v, dict | list))
        if nested:
            problems.append(f"[[station]] #{i + 1}: key(s) {', '.join(nested)} hold a table or "
                            f"a list; give a single value")
    if problems:
        raise PlanError(str(path), problems)
    df = pd.DataFrame(stations, dtype=object)
    df[V.ROW] = [f"[[station]] #{i + 1}" for i in range(len(df))]
    return df, name


def read_population_raster(path: str | Path, *,
                           bounds_lonlat: tuple[float, float, float, float] | None = None,
                           province: str = "the province") -> PopulationGrid:
    """Read a population raster (persons per pixel, e.g. a WorldPop GeoTIFF), whole or only the
    window covering ``bounds_lonlat`` (min_lon, min_lat, max_lon, max_lat; widened to whole
    pixels). Masked, negative and non-finite values count as nobody (NaN in the grid).

    Parameters
    ----------
    bounds_lonlat : (min_lon, min_lat, max_lon, max_lat), optional
        The province's box (EPSG:4326): only that window is read, and a raster with no
        populated pixel inside it is an error.
    province : str
        The province's name, in that error.

    Raises
    ------
    LayerError
        The file cannot be read as a raster, declares no CRS, or holds no people in the
        province's box.
    """
    path = Path(path)
    problems = filecheck.file_problems(path, what="raster file")
    if problems:
        raise LayerError(str(path), problems)
    try:
        src = rasterio.open(path)
    except Exception as exc:
        kind = filecheck.binary_kind(filecheck.read_head(path))
        raise LayerError(str(path), [f"cannot be read as a raster (GeoTIFF): "
                                     f"{('the file is ' + kind) if kind else exc}"]) from None
    with src:
        if src.crs is None:
            raise LayerError(str(path), ["no CRS declared: georeference the raster"])
        window = None
        if bounds_lonlat is not None:
            left, bottom, right, top = transform_bounds("EPSG:4326", src.crs, *bounds_lonlat)
            w = rasterio.windows.from_bounds(left, bottom, right, top, src.transform)
            c0 = max(int(np.floor(w.col_off + 1e-9)), 0)
            r0 = max(int(np.floor(w.row_off + 1e-9)), 0)
            c1 = min(int(np.ceil(w.col_off + w.width - 1e-9)), src.width)
            r1 = min(int(np.ceil(w.row_off + w.height - 1e-9)), src.height)
            if c1 > c0 and r1 > r0:
                window = rasterio.windows.Window(c0, r0, c1 - c0, r1 - r0)
        band = (src.read(1, window=window, masked=True).astype(float)
                if bounds_lonlat is None or window is not None else None)
        transform = src.window_transform(window) if window is not None else src.transform
        crs = src.crs.to_wkt()
        b = src.bounds
        covers = (f"{b.left:.2f}..{b.right:.2f} x {b.bottom:.2f}..{b.top:.2f} in "
                  f"{src.crs.to_string()}")
    values = np.ma.filled(band, np.nan) if band is not None else np.zeros((0, 0))
    values[~np.isfinite(values) | (values < 0)] = np.nan
    grid = PopulationGrid(values=values, transform=transform, crs=crs, name=path.name)
    if bounds_lonlat is not None and grid.total() <= 0:
        min_lon, min_lat, max_lon, max_lat = bounds_lonlat
        raise LayerError(str(path), [
            f"no populated pixel inside {province} (lon {min_lon:.2f}..{max_lon:.2f}, "
            f"lat {min_lat:.2f}..{max_lat:.2f}); the raster covers {covers}: give a "
            f"population raster of the province (e.g. WorldPop's country file) with its "
            f"CRS declared"])
    return grid
