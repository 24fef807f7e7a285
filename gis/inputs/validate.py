"""Validation of input layers: every check collects problems, one error lists them all.

Each problem names the field, the rows (1-based feature number in the file; for CSV the line
number) with their ids, what was found and how to fix it. Callers gather the problems of all
checks and raise one :class:`gis.errors.LayerError`.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Sequence

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

log = logging.getLogger(__name__)

ROW = "_row"  # column holding the row label shown to users (line number for CSV)
MAX_LISTED = 10


def rows_text(gdf: pd.DataFrame, mask: np.ndarray | pd.Series, *, id_field: str | None) -> str:
    """``"rows 3, 7 (commune_code 18073, 18077)"`` for the rows where ``mask`` is true."""
    sel = gdf[np.asarray(mask, dtype=bool)]
    rows = [str(r) for r in sel[ROW].tolist()] if ROW in sel else [str(i) for i in sel.index]
    more = f" and {len(rows) - MAX_LISTED} more" if len(rows) > MAX_LISTED else ""
    text = f"row{'s' if len(rows) > 1 else ''} {', '.join(rows[:MAX_LISTED])}{more}"
    if id_field and id_field in sel:
        ids = [str(v) for v in sel[id_field].tolist()[:MAX_LISTED]]
        text += f" ({id_field} {', '.join(ids)}{'…' if more else ''})"
    return text


def missing_fields(gdf: pd.DataFrame, required: Sequence[str]) -> list[str]:
    missing = [f for f in required if f not in gdf.columns]
    if not missing:
        return []
    have = ", ".join(c for c in gdf.columns if c not in ("geometry", ROW)) or "none"
    return [f"field '{f}': missing; the layer has {have}. Add the field or rename the column "
            f"that holds it" for f in missing]


def duplicate_ids(gdf: pd.DataFrame, field: str) -> list[str]:
    if field not in gdf:
        return []
    values = gdf[field]
    problems = []
    empty = values.isna() | (values.astype(str).str.strip() == "")
    if empty.any():
        problems.append(f"field '{field}', {rows_text(gdf, empty, id_field=None)}: empty id; "
                        f"every row needs a unique {field}")
    dup = values.duplicated(keep=False) & ~empty
    if dup.any():
        problems.append(f"field '{field}', {rows_text(gdf, dup, id_field=field)}: duplicate ids; "
                        f"each {field} must be unique: renumber or remove the repeated rows")
    return problems


#: A number written with thousands separators: "28.729", "28,729", "1.234.567", "28 729".
THOUSANDS = re.compile(r"^[1-9]\d{0,2}(?:([.,\u00a0\u202f ])\d{3})(?:\1\d{3})*$")
#: A number written with a decimal comma: "105,9", "-0,5".
DECIMAL_COMMA = re.compile(r"^-?\d+,\d+$")


def numeric_field(gdf: pd.DataFrame, field: str, *, id_field: str | None,
                  allow_missing: bool, what: str = "value",
                  whole: bool = False) -> tuple[pd.Series, list[str]]:
    """Parse a numeric field; report non-numeric, negative and (if not allowed) missing values.

    With ``whole=True`` (counts: persons, beds, doctors) a value written with thousands
    separators ("28.729", "28,729", "28 729") is refused rather than guessed: "28.729" is 28,729
    people with the Vietnamese separator but 28.729 with a decimal point, and reading it wrong
    makes every figure 1,000 times too small. Elsewhere a decimal comma ("105,9") is refused with
    the fix (write "105.9").
    """
    if field not in gdf:
        return pd.Series(np.nan, index=gdf.index), []
    raw = gdf[field]
    text = raw.map(lambda v: "" if v is None or (isinstance(v, float) and np.isnan(v))
                   else str(v).strip())
    blank = text == ""
    num = pd.to_numeric(text.where(~blank), errors="coerce")
    problems = []
    if whole:
        sep = text.str.match(THOUSANDS) & ~blank
        if sep.any():
            values = text[sep].tolist()
            found = ", ".join(repr(v) for v in values[:MAX_LISTED])
            digits = re.sub(r"\D", "", values[0])
            one = sep.sum() == 1
            problems.append(f"field '{field}', {rows_text(gdf, sep, id_field=id_field)}: {found} "
                            f"look{'s like a number' if one else ' like numbers'} written with "
                            f"thousands separators, which cannot be told from a decimal point "
                            f"('28.729' is 28729 in Vietnamese, 28.729 in English); write the "
                            f"{what} in plain digits, e.g. {digits}")
            num = num.where(~sep)
    else:
        sep = pd.Series(False, index=gdf.index)
    comma = text.str.match(DECIMAL_COMMA) & ~blank & ~sep & num.isna()
    if comma.any():
        found = ", ".join(repr(v) for v in text[comma].tolist()[:MAX_LISTED])
        problems.append(f"field '{field}', {rows_text(gdf, comma, id_field=id_field)}: {found} "
                        f"written with a decimal comma; write the {what} with a decimal point "
                        f"(e.g. 105.9)")
    bad = num.isna() & ~blank & ~sep & ~comma
    if bad.any():
        found = ", ".join(repr(v) for v in raw[bad].tolist()[:MAX_LISTED])
        problems.append(f"field '{field}', {rows_text(gdf, bad, id_field=id_field)}: not a number "
                        f"({found}); write the {what} as a plain number without separators")
    neg = num < 0
    if neg.any():
        found = ", ".join(f"{v:g}" for v in num[neg].tolist()[:MAX_LISTED])
        problems.append(f"field '{field}', {rows_text(gdf, neg, id_field=id_field)}: negative "
                        f"{what} ({found}); expected 0 or more: correct the values")
    if not allow_missing and blank.any():
        problems.append(f"field '{field}', {rows_text(gdf, blank, id_field=id_field)}: empty "
                        f"{what}; fill it in (0 is allowed for uninhabited units)")
    return num.astype(float), problems


def geometry_problems(gdf: gpd.GeoDataFrame, *, allowed: Iterable[str],
                      id_field: str | None, source: str) -> tuple[gpd.GeoSeries, list[str]]:
    """Check geometries; mend invalid polygons with ``make_valid`` (warning naming them).

    Returns the (possibly mended) geometry and the problems that cannot be mended.
    """
    allowed = tuple(allowed)
    geom = gdf.geometry.copy()
    problems = []
    null = geom.isna().to_numpy()
    if null.any():
        problems.append(f"geometry, {rows_text(gdf, null, id_field=id_field)}: no geometry; "
                        f"draw the feature or remove the row")
    arr = geom.to_numpy()
    empty = ~null & shapely.is_empty(arr)
    if empty.any():
        problems.append(f"geometry, {rows_text(gdf, empty, id_field=id_field)}: empty geometry; "
                        f"draw the feature or remove the row")
    ok = ~null & ~empty
    invalid = ok & ~shapely.is_valid(arr)
    if invalid.any():
        reasons = shapely.is_valid_reason(arr[invalid])
        mended = shapely.make_valid(arr[invalid])
        if any(a in ("Polygon", "MultiPolygon") for a in allowed):
            mended = np.array([polygonal_part(g) for g in mended], dtype=object)
        still = shapely.is_empty(mended) | ~shapely.is_valid(mended)
        arr = arr.copy()
        arr[invalid] = mended
        fixed_mask = invalid.copy()
        fixed_mask[invalid] = ~still
        if fixed_mask.any():
            log.warning("%s: mended %d invalid geometr%s with make_valid: %s; reasons: %s",
                        source, fixed_mask.sum(), "y" if fixed_mask.sum() == 1 else "ies",
                        rows_text(gdf, fixed_mask, id_field=id_field),
                        "; ".join(sorted(set(reasons[~still])))[:300])
        broken = invalid.copy()
        broken[invalid] = still
        if broken.any():
            problems.append(f"geometry, {rows_text(gdf, broken, id_field=id_field)}: invalid and "
                            f"cannot be mended; redraw these features")
        geom = gpd.GeoSeries(arr, index=gdf.index, crs=gdf.crs)
    types = np.asarray(shapely.get_type_id(geom.to_numpy()))
    names = np.array(["Point", "LineString", "LinearRing", "Polygon", "MultiPoint",
                      "MultiLineString", "MultiPolygon", "GeometryCollection"], dtype=object)
    type_names = np.where(types >= 0, names[np.clip(types, 0, 7)], None)
    wrong = ok & ~np.isin(type_names, allowed)
    if wrong.any():
        found = sorted({str(t) for t in type_names[wrong]})
        problems.append(f"geometry, {rows_text(gdf, wrong, id_field=id_field)}: "
                        f"{'/'.join(found)} where {' or '.join(allowed)} is expected; "
                        f"use a layer of the right geometry type")
    return geom, problems


def polygonal_part(g: shapely.Geometry) -> shapely.Geometry:
    """The polygonal part of a mended geometry (make_valid may add stray lines or points)."""
    if g is None or g.geom_type in ("Polygon", "MultiPolygon"):
        return g
    parts = [p for p in getattr(g, "geoms", [g]) if p.geom_type in ("Polygon", "MultiPolygon")]
    if not parts:
        return shapely.Polygon()
    return shapely.unary_union(parts)


def location_problems(points_lonlat: np.ndarray, gdf: pd.DataFrame, *,
                      bounds: tuple[float, float, float, float], province: str,
                      id_field: str | None, margin_deg: float = 0.05) -> list[str]:
    """Points (EPSG:4326 lon, lat) outside the province box, telling swapped lon/lat apart."""
    if len(points_lonlat) == 0:
        return []
    min_lon, min_lat, max_lon, max_lat = bounds
    lon, lat = points_lonlat[:, 0], points_lonlat[:, 1]
    finite = np.isfinite(lon) & np.isfinite(lat)

    def inside(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        return ((x >= min_lon - margin_deg) & (x <= max_lon + margin_deg)
                & (y >= min_lat - margin_deg) & (y <= max_lat + margin_deg))

    ok = inside(lon, lat)
    swapped = finite & ~ok & inside(lat, lon)
    outside = finite & ~ok & ~swapped
    problems = []
    box = f"lon {min_lon:.2f}..{max_lon:.2f}, lat {min_lat:.2f}..{max_lat:.2f}"
    if swapped.any():
        problems.append(f"geometry, {rows_text(gdf, swapped, id_field=id_field)}: longitude and "
                        f"latitude look swapped (x is a latitude, y a longitude for {province}); "
                        f"exchange the two columns")
    if outside.any():
        sample = ", ".join(f"({x:.4f}, {y:.4f})" for x, y in
                           points_lonlat[outside][:MAX_LISTED])
        problems.append(f"geometry, {rows_text(gdf, outside, id_field=id_field)}: outside "
                        f"{province} ({box}); found lon/lat {sample}. Check the coordinates and "
                        f"the declared CRS, or remove features of other provinces")
    return problems


def normalise_code(value: object, width: int = 5) -> str:
    """Administrative codes as zero-padded strings: ``18073``, ``"18073.0"`` -> ``"18073"``."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return ""
    text = str(value).strip()
    if text.endswith(".0") and text[:-2].isdigit():
        text = text[:-2]
    return text.zfill(width) if text.isdigit() else text
