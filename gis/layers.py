"""Input layers: read any GDAL format or CSV with lon/lat, validate, reproject; build defaults.

This is the only module that reads input files. Every reader validates the whole layer and
raises one :class:`gis.errors.LayerError` listing all problems (file, layer, field, rows, fix).

Layers produced (GeoDataFrames in the working CRS, metres):

- ``communes`` (post-2025): commune_code, commune_name, commune_type, province_code, area_km2,
  population, population_source, geometry_source, admin_center (seat of the commune
  government where the layer gives it, else ""); MultiPolygon.
- ``communes_legacy`` (pre-2025): commune_code, commune_name, commune_type, district_name,
  new_commune_code (the new commune it maps to; for a commune split among several, the
  registry's default), new_commune_codes (all, ``;``-separated), split, population,
  population_source, geometry_source; MultiPolygon.
- ``facilities``: facility_id, name, tier, specialty, commune_code (post-2025), legacy_commune_code,
  beds, doctors, nurses (NaN = unknown), status, location_source, source, note; Point.
"""

from __future__ import annotations

import logging
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely
from pyproj import CRS

from gis import _validate as V
from gis.config import TIERS
from gis.errors import LayerError
from gis.registry import ProvinceRegistry

log = logging.getLogger(__name__)

LON_NAMES = ("lon", "lng", "long", "longitude", "x")
LAT_NAMES = ("lat", "latitude", "y")
STATUSES = ("active", "ended", "planned")
CSV_SUFFIXES = (".csv", ".txt", ".tsv")

# Population estimate (used only when no population is given): a province total split among
# communes in proportion to  area_km2 ** AREA_EXPONENT * TYPE_WEIGHT[commune_type].
# Fitted by least squares of log(population) on log(area) and the commune type over the 3,320
# inhabited post-2025 communes of Vietnam with their 2025 population (sapnhap.bando.com.vn, as
# republished in ../shared/data/vn2025); tests/test_layers.py refits it and checks these values.
# Larger communes are the rural and mountain ones, hence fewer people per commune, not more.
AREA_EXPONENT = -0.301
TYPE_WEIGHT = {"Xã": 1.0, "Phường": 1.588, "Đặc khu": 0.268, "Thị trấn": 1.588,
               "Huyện đảo": 0.268}
ESTIMATE_NOTE = ("estimate: province total split by commune type and area "
                 "(weights area^-0.301 x type; see gis/layers.py)")


# --- reading --------------------------------------------------------------------------------

def _label(path: Path, layer: str | None) -> str:
    return f"{path} (layer {layer})" if layer else str(path)


def normalise_code(value: object, width: int = 5) -> str:
    """Administrative codes as zero-padded strings: ``18073``, ``"18073.0"`` -> ``"18073"``."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return ""
    text = str(value).strip()
    if text.endswith(".0") and text[:-2].isdigit():
        text = text[:-2]
    return text.zfill(width) if text.isdigit() else text


def read_any(path: Path | str, *, layer: str | None = None) -> gpd.GeoDataFrame:
    """Read a layer from any GDAL format, or a CSV (with lon/lat columns for points).

    Every column is kept as read; a ``_row`` column holds the row label shown in messages
    (1-based feature number; for CSV, the line number in the file). A CSV without lon/lat
    columns gives a GeoDataFrame without geometry (a table).
    """
    path = Path(path)
    if not path.exists():
        raise LayerError(str(path), ["file not found: check the path (relative paths are "
                                     "resolved against the folder of config.toml)"])
    if path.suffix.lower() in CSV_SUFFIXES:
        return _read_csv(path)
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
            log.warning("%s: %s%s (mended on reading)", _label(path, layer), message,
                        f" ({n} times)" if n > 1 else "")
    except LayerError:
        raise
    except Exception as exc:  # pyogrio / GDAL errors
        raise LayerError(_label(path, layer), [f"cannot be read: {exc}. Is it a GDAL-readable "
                                               "file (GeoPackage, GeoJSON, Shapefile, "
                                               "FlatGeobuf) or a CSV?"]) from None
    gdf[V.ROW] = np.arange(1, len(gdf) + 1)
    return gdf


def _read_csv(path: Path) -> gpd.GeoDataFrame:
    sep = "\t" if path.suffix.lower() == ".tsv" else ","
    try:
        df = pd.read_csv(path, dtype=str, sep=sep, keep_default_na=False, encoding="utf-8-sig")
    except Exception as exc:
        raise LayerError(str(path), [f"cannot be read as CSV: {exc}"]) from None
    df = df.replace({"": None})
    df[V.ROW] = np.arange(2, len(df) + 2)  # line numbers: the header is line 1
    lower = {c.lower().strip(): c for c in df.columns}
    lon_col = next((lower[n] for n in LON_NAMES if n in lower), None)
    lat_col = next((lower[n] for n in LAT_NAMES if n in lower), None)
    if lon_col is None or lat_col is None:
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


def _province_bounds(reg: ProvinceRegistry) -> tuple[float, float, float, float]:
    lg = reg.legacy
    return (float(np.nanmin(lg["min_lon"].fillna(lg["lon"]))),
            float(np.nanmin(lg["min_lat"].fillna(lg["lat"]))),
            float(np.nanmax(lg["max_lon"].fillna(lg["lon"]))),
            float(np.nanmax(lg["max_lat"].fillna(lg["lat"]))))


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
                     code_field: str, source: str) -> gpd.GeoDataFrame:
    """Keep the rows of the province: by a ``province_code`` field when present, else by the
    commune codes the registry knows for the province."""
    if "province_code" in gdf:
        keep = gdf["province_code"].map(lambda v: normalise_code(v, 2)) == reg.province.code
        if keep.sum() < len(gdf):
            log.info("%s: kept %d of %d rows (province_code %s)", source, keep.sum(), len(gdf),
                     reg.province.code)
        return gdf[keep.to_numpy()]
    codes = _codes(gdf, code_field)
    from gis.registry import provinces  # noqa: F401 (documented dependency)
    other = ~codes.isin(known) & codes.isin(_all_codes())
    if other.any():
        log.info("%s: dropped %d rows of other provinces", source, int(other.sum()))
    return gdf[~other.to_numpy()]


def _all_codes() -> set[str]:
    from gis.registry import _tables

    legacy, new, _, _ = _tables()
    return set(legacy["wardCode"].astype(str)) | set(new["wardCode"].astype(str))


def read_communes(path: Path | str, reg: ProvinceRegistry, *, crs: CRS | str | int,
                  layer: str | None = None, population_field: str = "population",
                  legacy: bool = False) -> gpd.GeoDataFrame:
    """Read and validate commune polygons (post-2025, or pre-2025 with ``legacy=True``).

    Parameters
    ----------
    path : path
        Any GDAL-readable polygon layer. Required fields: ``commune_code``, ``commune_name``
        and the population field (persons; empty = unknown). Rows of other provinces are
        dropped when the layer has ``province_code`` or their codes belong elsewhere.
    reg : ProvinceRegistry
        The province's registry: codes are checked against it.
    crs : CRS
        Working CRS to reproject to.

    Returns
    -------
    GeoDataFrame
        The layer schema (module docstring) in ``crs``, sorted by commune_code.
    """
    path = Path(path)
    source = _label(path, layer)
    gdf = read_any(path, layer=layer)
    problems = V.missing_fields(gdf, ["commune_code", "commune_name", population_field])
    problems += _check_crs(gdf)
    if problems:
        raise LayerError(source, problems)
    table = reg.legacy if legacy else reg.new
    known = set(table["commune_code"])
    gdf = _filter_province(gdf, reg, known=known, code_field="commune_code", source=source)
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
                                        allow_missing=True, what="population")
    problems += probs
    geom, probs = V.geometry_problems(gdf, allowed=("Polygon", "MultiPolygon"),
                                      id_field="commune_code", source=source)
    problems += probs
    gdf = gdf.set_geometry(geom)
    problems += V.location_problems(_lonlat_points(gdf.geometry), gdf,
                                    bounds=_province_bounds(reg), province=reg.province.short,
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
        "population_source": np.where(population.isna(), "unknown",
                                      f"layer: {path.name}, field {population_field}"),
        "geometry_source": f"layer: {path.name}",
        "admin_center": (gdf["admin_center"].fillna("").astype(str).to_numpy()
                         if "admin_center" in gdf else ""),
    }, geometry=shapely.force_2d(gdf.geometry.to_numpy()), crs=gdf.crs).to_crs(crs)
    out["geometry"] = [g if g.geom_type == "MultiPolygon" else shapely.MultiPolygon([g])
                       for g in out.geometry]
    return out.sort_values("commune_code", ignore_index=True)


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
    df = read_any(path)
    problems = V.missing_fields(df, ["commune_code", population_field])
    if problems:
        raise LayerError(source, problems)
    known = set(reg.legacy["commune_code"])
    df = _filter_province(df, reg, known=known, code_field="commune_code", source=source).copy()
    df["commune_code"] = _codes(df, "commune_code")
    problems += V.duplicate_ids(df, "commune_code")
    unknown = ~df["commune_code"].isin(known)
    if unknown.any():
        problems.append(f"field 'commune_code', {V.rows_text(df, unknown, id_field='commune_code')}"
                        f": codes unknown to the registry as pre-2025 communes of "
                        f"{reg.province.short}; use the 5-digit national codes")
    population, probs = V.numeric_field(df, population_field, id_field="commune_code",
                                        allow_missing=True, what="population")
    problems += probs
    if problems:
        raise LayerError(source, problems)
    return pd.Series(population.to_numpy(), index=df["commune_code"].to_numpy(),
                     name="population")


def read_facilities(path: Path | str, reg: ProvinceRegistry, *, crs: CRS | str | int,
                    layer: str | None = None) -> gpd.GeoDataFrame:
    """Read and validate a facility register.

    Required fields: ``facility_id`` (unique), ``name``, ``tier`` (central, provincial,
    regional, station, branch). A site is either a point geometry (any GDAL point layer, or CSV
    with lon/lat columns) or, when the site is not known, ``host_legacy_commune_code`` /
    ``host_commune_code``: the facility is then placed at the registry centre of that commune
    and ``location_source`` says so. Optional: specialty, beds, doctors, nurses (empty =
    unknown), status (active, ended, planned), source, note. Central hospitals may lie outside
    the province; other tiers must lie inside.
    """
    path = Path(path)
    source = _label(path, layer)
    gdf = read_any(path, layer=layer)
    problems = V.missing_fields(gdf, ["facility_id", "name", "tier"])
    if problems:
        raise LayerError(source, problems)
    gdf = gdf.copy()
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
                                            what=f)
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
            loc_source[pos] = f"layer: {path.name}"
    for codes, idx, what in ((host_new, new_idx, "post-2025"),
                             (host_legacy, legacy_idx, "pre-2025")):
        use = np.isnan(lon) & (codes != "").to_numpy() & codes.isin(idx.index).to_numpy()
        if use.any():
            c = codes[use]
            lon[use] = idx.loc[c, "lon"].to_numpy()
            lat[use] = idx.loc[c, "lat"].to_numpy()
            names = idx.loc[c, "commune_name"].to_numpy()
            loc_source[use] = [f"estimate: registry centre of the {what} commune {n} ({k})"
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
                                        bounds=_province_bounds(reg), province=reg.province.short,
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


# --- building the default layers ------------------------------------------------------------

def approximate_outline(reg: ProvinceRegistry) -> shapely.Geometry:
    """Approximate province outline in EPSG:4326: the union of the registry's bounding boxes of
    the pre-2025 communes (an estimate; used only when no commune polygons are given)."""
    lg = reg.legacy.dropna(subset=["min_lon", "min_lat", "max_lon", "max_lat"])
    boxes = shapely.box(lg["min_lon"], lg["min_lat"], lg["max_lon"], lg["max_lat"])
    return shapely.unary_union(boxes)


def _voronoi_in(seeds: np.ndarray, region: shapely.Geometry) -> list[shapely.Geometry]:
    """Voronoi cells of ``seeds`` (n x 2) clipped to ``region``; seeds outside the region are
    first moved to its nearest point so that every seed gets a cell. Order follows seeds."""
    if len(seeds) == 1:
        return [region]
    pts = shapely.points(seeds)
    outside = ~shapely.contains(region, pts)
    if outside.any():
        inner = region.buffer(-1e-6 * max(1.0, np.sqrt(region.area)))
        target = inner if not inner.is_empty else region
        for i in np.flatnonzero(outside):
            near = shapely.ops.nearest_points(target, pts[i])[0]
            seeds[i] = (near.x, near.y)
        pts = shapely.points(seeds)
    # Identical seeds would share a cell: jitter them apart deterministically.
    _, inv, counts = np.unique(seeds.round(9), axis=0, return_inverse=True, return_counts=True)
    if (counts > 1).any():
        scale = 1e-6 * max(1.0, np.sqrt(region.area))
        for k in np.flatnonzero(counts > 1):
            members = np.flatnonzero(inv.ravel() == k)
            angles = np.linspace(0, 2 * np.pi, len(members), endpoint=False)
            seeds[members] += scale * np.column_stack([np.cos(angles), np.sin(angles)])
        pts = shapely.points(seeds)
    cells = shapely.voronoi_polygons(shapely.MultiPoint(pts), extend_to=region)
    cells = np.asarray(shapely.get_parts(cells))
    # voronoi_polygons does not keep input order: match each cell to the seed inside it.
    tree = shapely.STRtree(cells)
    seed_idx, cell_idx = tree.query(pts, predicate="intersects")
    order = np.full(len(seeds), -1)
    order[seed_idx] = cell_idx
    return [shapely.intersection(cells[j], region) if j >= 0 else shapely.Polygon()
            for j in order]


def _multi(g: shapely.Geometry) -> shapely.Geometry:
    g = V._polygonal(g)
    if g.is_empty:
        return shapely.MultiPolygon()
    return g if g.geom_type == "MultiPolygon" else shapely.MultiPolygon([g])


def estimate_weights(area_km2: np.ndarray, commune_type: np.ndarray) -> np.ndarray:
    """Relative population weights of communes from area and type (see ``AREA_EXPONENT``)."""
    area = np.maximum(np.asarray(area_km2, dtype=float), 0.01)
    mult = np.array([TYPE_WEIGHT.get(str(t), 1.0) for t in commune_type])
    return area**AREA_EXPONENT * mult


@dataclass
class Layers:
    """The layers of a province, in the working CRS, with notes on what is estimated."""

    communes: gpd.GeoDataFrame
    communes_legacy: gpd.GeoDataFrame
    facilities: gpd.GeoDataFrame
    crs: CRS
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, gpd.GeoDataFrame]:
        return {"communes_2025": self.communes, "communes_legacy": self.communes_legacy,
                "facilities": self.facilities}


def working_crs(reg: ProvinceRegistry, crs: str = "auto") -> CRS:
    """The working CRS: ``"auto"`` = UTM zone of the province centre (Ha Tinh: EPSG:32648)."""
    if crs in ("", "auto"):
        return CRS.from_epsg(reg.province.utm_epsg)
    try:
        out = CRS.from_user_input(crs)
    except Exception as exc:
        raise LayerError("config province.crs", [f"unknown CRS {crs!r}: {exc}"]) from None
    if not out.is_projected:
        raise LayerError("config province.crs", [f"{crs!r} is not a projected CRS; distances "
                                                 "need metres: use a UTM or VN-2000 zone"])
    return out


def build_layers(reg: ProvinceRegistry, *, crs: CRS, communes: gpd.GeoDataFrame | None = None,
                 legacy_population: pd.Series | None = None,
                 population_total: float | None = None,
                 facilities: gpd.GeoDataFrame | None = None,
                 legacy_population_label: str = "table") -> Layers:
    """Build the province's layers from the registry and whatever real layers are given.

    Parameters
    ----------
    reg : ProvinceRegistry
    crs : CRS
        Working CRS (projected, metres).
    communes : GeoDataFrame, optional
        Real post-2025 polygons from :func:`read_communes`. Without them, polygons are Voronoi
        cells of the registry centres clipped to :func:`approximate_outline` (an estimate).
    legacy_population : Series, optional
        Persons per pre-2025 commune (e.g. the 2019 census), from :func:`read_population_table`.
    population_total : float, optional
        Province population to split by commune type and area when commune populations are not
        given (an estimate, labelled).
    facilities : GeoDataFrame, optional
        Extra facilities (hospitals) from :func:`read_facilities`; the commune stations (one per
        pre-2025 commune) are always generated from the registry.
    """
    notes: list[str] = []
    new = reg.new.copy()
    if communes is None:
        outline = gpd.GeoSeries([approximate_outline(reg)], crs=4326).to_crs(crs).iloc[0]
        seeds = np.column_stack(gpd.GeoSeries(shapely.points(new["lon"], new["lat"]), crs=4326)
                                .to_crs(crs).get_coordinates().to_numpy().T)
        cells = _voronoi_in(seeds.copy(), outline)
        com = gpd.GeoDataFrame(new[["commune_code", "commune_name", "commune_type"]],
                               geometry=[_multi(c) for c in cells], crs=crs)
        com["population"] = np.nan
        com["population_source"] = "unknown"
        com["admin_center"] = ""
        com["geometry_source"] = ("estimate: Voronoi cell of the registry centre, clipped to the "
                                  "union of the registry's commune bounding boxes")
        notes.append("commune polygons are estimates (Voronoi cells of registry centres)")
    else:
        com = communes.copy()
    com["province_code"] = reg.province.code
    com["area_km2"] = com.geometry.area / 1e6
    reg_area = com["commune_code"].map(new.set_index("commune_code")["area_km2"])
    area_for_weights = reg_area.fillna(com["area_km2"]).to_numpy()
    unknown_pop = com["population"].isna().to_numpy()
    if unknown_pop.any() and population_total:
        w = estimate_weights(area_for_weights, com["commune_type"].to_numpy())
        known_total = float(com.loc[~unknown_pop, "population"].sum())
        rest = max(float(population_total) - known_total, 0.0)
        share = w[unknown_pop] / w[unknown_pop].sum()
        com.loc[unknown_pop, "population"] = rest * share
        com.loc[unknown_pop, "population_source"] = ESTIMATE_NOTE
        notes.append(f"population of {int(unknown_pop.sum())} post-2025 communes is an estimate "
                     f"(province total {population_total:,.0f} split by type and area)")
    legacy = _legacy_layer(reg, com, crs=crs, legacy_population=legacy_population,
                           label=legacy_population_label, notes=notes)
    fac = _facilities_layer(reg, com, legacy, crs=crs, extra=facilities)
    cols = ["commune_code", "commune_name", "commune_type", "province_code", "area_km2",
            "population", "population_source", "geometry_source", "admin_center", "geometry"]
    return Layers(communes=com[cols].reset_index(drop=True), communes_legacy=legacy,
                  facilities=fac, crs=crs, notes=notes)


def _legacy_layer(reg: ProvinceRegistry, com: gpd.GeoDataFrame, *, crs: CRS,
                  legacy_population: pd.Series | None, label: str,
                  notes: list[str]) -> gpd.GeoDataFrame:
    """Pre-2025 polygons: each new commune split among the legacy communes mapped to it
    (Voronoi of their registry centres inside the new polygon)."""
    lg = reg.legacy.copy()
    seeds_all = gpd.GeoSeries(shapely.points(lg["lon"], lg["lat"]), crs=4326).to_crs(crs)
    xy = seeds_all.get_coordinates().to_numpy()
    pos = {c: i for i, c in enumerate(lg["commune_code"])}
    by_new = reg.mapping.groupby("new_code")["legacy_code"].apply(list)
    pieces: dict[str, list[shapely.Geometry]] = {c: [] for c in lg["commune_code"]}
    piece_rows = []  # (legacy_code, new_code, piece area, type) for population splits
    com_idx = com.set_index("commune_code")
    for new_code, members in by_new.items():
        poly = com_idx.geometry.get(new_code)
        if poly is None or poly.is_empty:
            continue
        members = sorted(members)
        cells = _voronoi_in(xy[[pos[m] for m in members]].copy(), poly)
        for m, cell in zip(members, cells, strict=True):
            cell = V._polygonal(cell)
            if not cell.is_empty:
                pieces[m].append(cell)
            piece_rows.append((m, new_code, cell.area / 1e6))
    geom = [_multi(shapely.unary_union(pieces[c])) if pieces[c] else shapely.MultiPolygon()
            for c in lg["commune_code"]]
    out = gpd.GeoDataFrame({
        "commune_code": lg["commune_code"].to_numpy(),
        "commune_name": lg["commune_name"].to_numpy(),
        "commune_type": lg["commune_type"].to_numpy(),
        "district_name": lg["district_name"].to_numpy(),
        "new_commune_code": lg["new_commune_code"].to_numpy(),
        "new_commune_codes": lg["new_commune_codes"].to_numpy(),
        "split": lg["split"].to_numpy(bool),
    }, geometry=geom, crs=crs)
    out["area_km2"] = out.geometry.area / 1e6
    base = com_idx["geometry_source"].iloc[0] if len(com_idx) else "unknown"
    out["geometry_source"] = ("estimate: the post-2025 polygon split among its pre-2025 communes "
                              "(Voronoi of registry centres)" if not base.startswith("estimate")
                              else "estimate: Voronoi cell of the registry centre inside an "
                                   "estimated post-2025 polygon")
    notes.append("pre-2025 commune polygons are estimates (post-2025 polygons split by Voronoi "
                 "of registry centres)")
    # Population: the given table, else each new commune's population split among its pieces.
    pr = pd.DataFrame(piece_rows, columns=["legacy_code", "new_code", "area_km2"])
    pr["type"] = pr["legacy_code"].map(lg.set_index("commune_code")["commune_type"])
    pr["w"] = estimate_weights(pr["area_km2"].to_numpy(), pr["type"].to_numpy())
    pr["w"] = pr["w"] * (pr["area_km2"] > 0)
    pr["share"] = pr["w"] / pr.groupby("new_code")["w"].transform("sum")
    pr["pop"] = pr["share"] * pr["new_code"].map(com_idx["population"])
    split_pop = pr.groupby("legacy_code")["pop"].sum(min_count=1)
    parent_src = pr.groupby("legacy_code")["new_code"].first().map(com_idx["population_source"])
    est = out["commune_code"].map(split_pop)
    est_src = out["commune_code"].map(parent_src).fillna("unknown")
    est_label = np.where(est.isna(), "unknown",
                         np.where(est_src.str.startswith("estimate"), ESTIMATE_NOTE,
                                  "estimate: the post-2025 commune's population split by type and"
                                  " area among its pre-2025 communes"))
    if legacy_population is not None:
        given = out["commune_code"].map(legacy_population)
        out["population"] = given.to_numpy()
        out["population_source"] = np.where(given.isna(), "unknown", label)
        missing = int(given.isna().sum())
        if missing:
            notes.append(f"{missing} pre-2025 communes have no population in {label}")
    else:
        out["population"] = est.to_numpy()
        out["population_source"] = est_label
        notes.append("pre-2025 commune populations are estimates")
    return out


def _facilities_layer(reg: ProvinceRegistry, com: gpd.GeoDataFrame, legacy: gpd.GeoDataFrame,
                      *, crs: CRS, extra: gpd.GeoDataFrame | None) -> gpd.GeoDataFrame:
    """One commune health station per pre-2025 commune at its registry centre, plus extras."""
    lg = reg.legacy
    pts = gpd.GeoSeries(shapely.points(lg["lon"], lg["lat"]), crs=4326).to_crs(crs)
    kind = {"Phường": "Trạm Y tế phường", "Thị trấn": "Trạm Y tế thị trấn"}
    stations = gpd.GeoDataFrame({
        "facility_id": "TYT-" + lg["commune_code"].to_numpy(),
        "name": [f"{kind.get(t, 'Trạm Y tế xã')} {n}" for t, n in
                 zip(lg["commune_type"], lg["commune_name"], strict=True)],
        "tier": "station",
        "specialty": "primary care",
        "commune_code": lg["new_commune_code"].to_numpy(),
        "legacy_commune_code": lg["commune_code"].to_numpy(),
        "beds": np.nan, "doctors": np.nan, "nurses": np.nan,
        "status": "active",
        "location_source": "estimate: registry centre of the pre-2025 commune (site not published)",
        "source": "one commune health station per pre-2025 commune (registry: vietnamadminunits)",
        "note": "",
    }, geometry=pts.to_numpy(), crs=crs)
    # A split commune's station belongs to the new commune its site falls in, when one of them.
    splits = lg["split"].to_numpy(bool)
    if splits.any():
        joined = gpd.sjoin(stations[splits], com[["commune_code", "geometry"]],
                           predicate="within", how="left", rsuffix="poly")
        for idx, row in joined.iterrows():
            allowed = lg.loc[idx, "new_commune_codes"].split(";")
            inside = row.get("commune_code_poly")
            if isinstance(inside, str) and inside in allowed:
                stations.loc[idx, "commune_code"] = inside
    parts = [stations]
    if extra is not None and len(extra):
        ex = extra.to_crs(crs).copy()
        # Facilities placed by point: their post-2025 commune from the polygons.
        need = ex["commune_code"].fillna("") == ""
        if need.any():
            j = gpd.sjoin(ex[need][["geometry"]], com[["commune_code", "geometry"]],
                          predicate="within", how="left")
            j = j[~j.index.duplicated()]
            ex.loc[need, "commune_code"] = j["commune_code"].fillna("").to_numpy()
        clash = set(ex["facility_id"]) & set(stations["facility_id"])
        if clash:
            raise LayerError("facilities", [f"field 'facility_id': ids {', '.join(sorted(clash))} "
                                            "clash with the generated station ids (TYT-<code>);"
                                            " rename them"])
        parts.append(ex[stations.columns])
    return gpd.GeoDataFrame(pd.concat(parts, ignore_index=True), crs=crs)


def write_layers_gpkg(layers: dict[str, gpd.GeoDataFrame], path: Path | str, *,
                      overwrite: bool = False) -> Path:
    """Write layers to one GeoPackage atomically (temporary file, then rename)."""
    from gis.errors import OutputError

    path = Path(path)
    if path.exists() and not overwrite:
        msg = f"{path} exists; pass --overwrite to replace it"
        raise OutputError(msg)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp-{os.getpid()}{path.suffix}")
    try:
        for i, (name, gdf) in enumerate(layers.items()):
            pyogrio.write_dataframe(gdf, tmp, layer=name, driver="GPKG", append=i > 0)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def read_roads(path: Path | str, *, crs: CRS | str | int, layer: str | None = None,
               speed_field: str = "speed_kmh", class_field: str = "highway") -> gpd.GeoDataFrame:
    """Read and validate a road line layer for the road travel model.

    Any GDAL line layer (an OSM export, national road data). Optional fields: ``highway`` (the
    road class; another name via ``class_field``), ``speed_kmh`` (overrides the class speed),
    ``oneway`` (yes/true/1). Multi-part lines are split into parts.

    Returns
    -------
    GeoDataFrame
        ``road_class`` (str, "" when unknown), ``speed_kmh`` (float, NaN = from the class),
        ``oneway`` (bool); LineString in ``crs``.
    """
    path = Path(path)
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
    if problems:
        raise LayerError(source, problems)
    oneway = (gdf["oneway"].astype(str).str.strip().str.lower().isin(["yes", "true", "1"])
              if "oneway" in gdf else pd.Series(False, index=gdf.index))
    out = gpd.GeoDataFrame({
        "road_class": (gdf[class_field].fillna("").astype(str) if class_field in gdf
                       else pd.Series("", index=gdf.index)).to_numpy(),
        "speed_kmh": speed.to_numpy(),
        "oneway": oneway.to_numpy(bool),
    }, geometry=shapely.force_2d(geom.to_numpy()), crs=gdf.crs).to_crs(crs)
    return out.explode(index_parts=False).reset_index(drop=True)


def read_referrals(path: Path | str, *, layer: str | None = None) -> pd.DataFrame:
    """Read a referral table: which facility each facility refers patients to.

    Any GDAL table or CSV with fields ``from_id`` (the referring facility) and ``to_id`` (its
    referral parent); optional ``note``. Rows override the network's rule for their
    ``from_id`` (see :mod:`gis.network`); ids are checked against the facilities when the
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
    from gis.network import check_referral_table

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
    from gis.network import check_satellite_links

    path = Path(path)
    return check_satellite_links(pd.DataFrame(read_any(path, layer=layer)),
                                 source=_label(path, layer))
