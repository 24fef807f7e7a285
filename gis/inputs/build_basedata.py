"""Build the package's national base data from ``../shared/data`` (a developer's script).

Run from the project folder, not at install (the built files are committed)::

    python -m gis.inputs.build_basedata [--shared ../shared/data] [--out gis/data/base]

It reads the four raw sources (commune polygons, 2019 census, WorldPop 1 km, OSM hospitals),
writes a compact bundle (GeoParquet, Parquet, a deflate GeoTIFF), ``SOURCES.md`` with each
source's licence and attribution, and ``manifest.json`` with checksums, the simplification
tolerance and the measured errors. The same input gives the same files (the manifest differs
only in its build date).

Commune polygons are simplified with GEOS coverage simplification (shared edges stay shared)
at the largest tolerance of :data:`TOLERANCES_DEG` for which no figure moves more than
:data:`MAX_ERROR` (0.1 %): each commune's area; each province's area; each commune's share of
its province's area; each commune's share of its province's WorldPop population (cells split
by area at 1/10 of a cell); each province's WorldPop population. Also, every registry centre
(pre- and post-2025 communes) must lie in the same communes before and after.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import sys
import warnings
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow
import pyogrio
import rasterio
import shapely
from affine import Affine
from rasterio import features

from gis import __version__
from gis.errors import GisError, RegistryError
from gis.inputs import basedata as B
from gis.inputs.registry import find_province, legacy_communes, new_communes, provinces
from gis.inputs.validate import polygonal_part

log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_SHARED = ROOT.parent / "shared" / "data"
DEFAULT_OUT = ROOT / "gis" / "data" / "base"

MAX_ERROR = 0.001  # 0.1 %: the largest change simplification may make to any figure
TOLERANCES_DEG = (5e-4, 3e-4, 2e-4, 1e-4, 5e-5, 0.0)  # tried largest first
SUPERSAMPLE = 10  # WorldPop cells split 10 x 10 to share a cell between communes by area
EQUAL_AREA_CRS = "EPSG:6933"  # WGS 84 / NSIDC EASE-Grid 2.0 Global (equal area)
METRIC_CRS = "EPSG:3405"  # VN-2000 / UTM zone 48N: distances of hospitals to communes
NEAREST_COMMUNE_M = 5_000.0  # hospitals outside every polygon: nearest commune within this
PARQUET = {"compression": "zstd", "compression_level": 19, "index": False}

COMMUNE_FIELDS = ["commune_code", "commune_name", "commune_type", "province_code",
                  "province_name", "population_2025", "admin_center", "merged_from", "area_km2"]
OSM_FIELDS = ["name", "ownership", "lon", "lat", "address", "ward_2025", "province_2025",
              "district_pre2025", "province_pre2025"]
CENSUS_FIELDS = ["province_code", "province_name", "district_name", "commune_name",
                 "commune_code", "population_2019", "urban_2019", "census_units"]

MIT_NOTICE = """MIT License

Copyright (c) 2025 Lam Ngoc Khuong

Permission is hereby granted, free of charge, to any person obtaining a copy
of this software and associated documentation files (the "Software"), to deal
in the Software without restriction, including without limitation the rights
to use, copy, modify, merge, publish, distribute, sublicense, and/or sell
copies of the Software, and to permit persons to whom the Software is
furnished to do so, subject to the following conditions:

The above copyright notice and this permission notice shall be included in all
copies or substantial portions of the Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER
LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,
OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE
SOFTWARE."""

# Each source: the raw file (relative to --shared), the bundle file made from it, and what the
# user must be told. ``attribution`` is the one line shown in every output's data sources.
SOURCES: list[dict[str, str]] = [
    {
        "key": "communes",
        "path": "vn2025/communes_2025.geojson",
        "file": B.COMMUNES_FILE,
        "what": "The 3,321 commune-level units (xã, phường, đặc khu) of Vietnam's 34 provinces "
                "after the reorganisation of 1 July 2025: polygons (EPSG:4326), 2025 "
                "population, area, seat of the commune government, units merged into it.",
        "version": "ward data of lamngockhuong/vietnam-3d-map (2025); polygons simplified from "
                   "gis.vn, area and population from the national reorganisation portal "
                   "sapnhap.bando.com.vn",
        "licence": "MIT License, Copyright (c) 2025 Lam Ngoc Khuong",
        "url": "https://github.com/lamngockhuong/vietnam-3d-map",
        "attribution": "Commune boundaries and 2025 population: lamngockhuong/vietnam-3d-map "
                       "(MIT License, Copyright (c) 2025 Lam Ngoc Khuong), from gis.vn and "
                       "sapnhap.bando.com.vn",
    },
    {
        "key": "census",
        "path": "census2019/population_2019_by_legacy_commune.csv",
        "file": B.CENSUS_FILE,
        "what": "The 2019 Population and Housing Census count (total and urban persons) per "
                "pre-2025 commune, for the 10,040 units in force just before 1 July 2025, "
                "with the post-2025 province of each (vietnamadminunits 1.0.4 tables).",
        "version": "2019 Population and Housing Census (reference date 1 April 2019), as "
                   "republished by hgscarlette/vn-demographic, joined to the 2025 units "
                   "through the GSO record of commune changes 1-1-2019 to 10-11-2024",
        "licence": "Official statistics of the General Statistics Office of Viet Nam (GSO), "
                   "published for public use; attribution to the GSO",
        "url": "https://www.gso.gov.vn (census); https://github.com/hgscarlette/vn-demographic",
        "attribution": "2019 census by commune: General Statistics Office of Viet Nam (GSO), "
                       "2019 Population and Housing Census",
    },
    {
        "key": "worldpop",
        "path": "worldpop/vnm_ppp_2020_1km_Aggregated_UNadj.tif",
        "file": B.WORLDPOP_FILE,
        "what": "WorldPop 2020 population counts for Vietnam, 30 arc-second grid (about 1 km), "
                "UN-adjusted, persons per cell (re-encoded losslessly: float32, deflate).",
        "version": "vnm_ppp_2020_1km_Aggregated_UNadj (2020), obtained from "
                   "kraemer-lab/geoglue (data/VNM/worldpop/)",
        "licence": "Creative Commons Attribution 4.0 International (CC BY 4.0)",
        "url": "https://www.worldpop.org; https://doi.org/10.5258/SOTON/WP00671",
        "attribution": "Population grid: WorldPop (www.worldpop.org), 2020: Global High "
                       "Resolution Population Denominators Project, doi:10.5258/SOTON/WP00671 "
                       "(CC BY 4.0)",
    },
    {
        "key": "osm",
        "path": "osm/hospitals_vn_osm_2026-02.csv",
        "file": B.OSM_FILE,
        "what": "Features tagged amenity=hospital in OpenStreetMap for Vietnam (nodes, and "
                "ways and relations at their centre), with the publisher's reverse-geocoded "
                "ward and province and the post-2025 province and commune derived here from "
                "the commune polygons.",
        "version": "queried February 2026, as republished by Benkaz3/hospital-search "
                   "(data/hospitals.json)",
        "licence": "Open Database License (ODbL 1.0); this derived table is ODbL too",
        "url": "https://www.openstreetmap.org/copyright",
        "attribution": "Hospitals: © OpenStreetMap contributors (ODbL 1.0)",
    },
]


# --- helpers --------------------------------------------------------------------------------

def sha256(path: Path) -> str:
    """Hex sha256 of a file."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _multi(g: shapely.Geometry) -> shapely.Geometry:
    g = polygonal_part(g)
    return g if g.geom_type == "MultiPolygon" else shapely.MultiPolygon([g])


def _round(x: float, digits: int = 6) -> float:
    """Figures in the manifest, to 6 significant digits (stable from run to run)."""
    return float(f"{x:.{digits}g}")


def read_raw_communes(path: Path) -> tuple[gpd.GeoDataFrame, dict[str, int]]:
    """The raw commune polygons, unclosed rings closed and invalid polygons mended
    (``make_valid``, polygonal part), as MultiPolygons sorted by commune_code."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        raw = gpd.read_file(path, on_invalid="fix")
    unclosed = sum("Non closed ring" in str(w.message) for w in caught)
    missing = [f for f in COMMUNE_FIELDS if f not in raw]
    if missing:
        raise GisError(f"{path}: fields {', '.join(missing)} missing; expected "
                       f"{', '.join(COMMUNE_FIELDS)} (see ../shared/data/README.md)")
    raw = raw[COMMUNE_FIELDS + ["geometry"]].sort_values("commune_code", ignore_index=True)
    geom = raw.geometry.to_numpy().copy()
    invalid = ~shapely.is_valid(geom)
    geom[invalid] = shapely.make_valid(geom[invalid])
    raw = raw.set_geometry([_multi(g) for g in geom], crs=raw.crs or "EPSG:4326")
    for col in ("admin_center", "merged_from"):
        raw[col] = raw[col].fillna("").astype(str)
    raw["population_2025"] = raw["population_2025"].astype("int64")
    return raw, {"unclosed_ring_warnings": unclosed, "mended_invalid": int(invalid.sum())}


def registry_centres() -> pd.DataFrame:
    """Registry centres (lon/lat) of the 10,040 pre-2025 and 3,321 post-2025 communes."""
    rows = []
    for p in provinces():
        for kind, df in (("pre-2025", legacy_communes(p)), ("post-2025", new_communes(p))):
            rows.append(pd.DataFrame({"kind": kind, "code": df["commune_code"],
                                      "lon": df["lon"], "lat": df["lat"]}))
    return pd.concat(rows, ignore_index=True).dropna(subset=["lon", "lat"])


def read_worldpop(path: Path) -> tuple[np.ndarray, Affine, dict[str, Any]]:
    with rasterio.open(path) as src:
        arr = src.read(1)
        return arr, src.transform, dict(src.profile)


def worldpop_by_polygon(geoms: np.ndarray, persons: np.ndarray, transform: Affine, *,
                        nodata: float, k: int = SUPERSAMPLE) -> np.ndarray:
    """WorldPop persons inside each polygon: each cell split into k x k sub-cells of equal
    persons, a sub-cell counted in the polygon that covers its centre (where polygons overlap,
    the later one)."""
    pop = np.where(persons == nodata, 0.0, persons.astype(np.float64))
    h, w = pop.shape
    idx = features.rasterize(((g, i + 1) for i, g in enumerate(geoms)), out_shape=(h * k, w * k),
                             transform=Affine(transform.a / k, transform.b / k, transform.c,
                                               transform.d / k, transform.e / k, transform.f),
                             fill=0, dtype="int16")
    out = np.zeros(len(geoms) + 1)
    for r in range(h):
        band = idx[r * k:(r + 1) * k].ravel()
        weights = np.tile(np.repeat(pop[r], k) / (k * k), k)
        out += np.bincount(band, weights=weights, minlength=len(geoms) + 1)
    return out[1:]


def centres_inside(geoms: np.ndarray, lon: np.ndarray, lat: np.ndarray) -> set[tuple[int, int]]:
    """(point index, polygon index) pairs with the point inside the polygon."""
    tree = shapely.STRtree(geoms)
    pi, gi = tree.query(shapely.points(lon, lat), predicate="within")
    return set(zip(pi.tolist(), gi.tolist(), strict=True))


def _share(values: np.ndarray, groups: np.ndarray) -> np.ndarray:
    total = pd.Series(values).groupby(groups).transform("sum").to_numpy()
    return np.divide(values, total, out=np.zeros_like(values), where=total > 0)


def _max_rel(new: np.ndarray, old: np.ndarray) -> tuple[float, int]:
    """Largest |new/old - 1| over old > 0, and its position."""
    ok = old > 0
    rel = np.zeros_like(old)
    rel[ok] = np.abs(new[ok] / old[ok] - 1)
    i = int(np.argmax(rel))
    return float(rel[i]), i


def simplification_errors(raw: gpd.GeoDataFrame, geoms: np.ndarray, *,
                          area0: np.ndarray, wp0: np.ndarray | None,
                          inside0: set[tuple[int, int]], centres: pd.DataFrame,
                          persons: np.ndarray, transform: Affine,
                          nodata: float) -> dict[str, Any]:
    """How far each figure moved between ``raw`` and the simplified ``geoms`` (same order)."""
    prov = raw["province_code"].to_numpy()
    codes = raw["commune_code"].to_numpy()
    area1 = gpd.GeoSeries(geoms, crs=raw.crs).to_crs(EQUAL_AREA_CRS).area.to_numpy()
    out: dict[str, Any] = {}
    e, i = _max_rel(area1, area0)
    out["commune_area"] = {"max": _round(e), "commune_code": str(codes[i])}
    pa0 = pd.Series(area0).groupby(prov).sum()
    pa1 = pd.Series(area1).groupby(prov).sum()
    e, i = _max_rel(pa1.to_numpy(), pa0.to_numpy())
    out["province_area"] = {"max": _round(e), "province_code": str(pa0.index[i])}
    e, i = _max_rel(_share(area1, prov), _share(area0, prov))
    out["commune_share_of_province_area"] = {"max": _round(e), "commune_code": str(codes[i])}
    inside1 = centres_inside(geoms, centres["lon"].to_numpy(), centres["lat"].to_numpy())
    changed = sorted({p for p, _ in inside0 ^ inside1})
    out["registry_centres"] = {
        "checked": int(len(centres)),
        "inside_some_commune": int(len({p for p, _ in inside0})),
        "changed": len(changed),
        "changed_codes": [f"{centres['kind'].iat[p]} {centres['code'].iat[p]}"
                          for p in changed[:20]],
    }
    passed = (max(out["commune_area"]["max"], out["province_area"]["max"],
                  out["commune_share_of_province_area"]["max"]) <= MAX_ERROR and not changed)
    if passed and wp0 is not None:  # the costly measure only for candidates still in the race
        wp1 = worldpop_by_polygon(geoms, persons, transform, nodata=nodata)
        e, i = _max_rel(_share(wp1, prov), _share(wp0, prov))
        out["commune_share_of_province_worldpop"] = {"max": _round(e),
                                                     "commune_code": str(codes[i])}
        pw0 = pd.Series(wp0).groupby(prov).sum()
        pw1 = pd.Series(wp1).groupby(prov).sum()
        e, i = _max_rel(pw1.to_numpy(), pw0.to_numpy())
        out["province_worldpop"] = {"max": _round(e), "province_code": str(pw0.index[i])}
        passed = max(out["commune_share_of_province_worldpop"]["max"],
                     out["province_worldpop"]["max"]) <= MAX_ERROR
    out["passed"] = bool(passed)
    return out


def simplify_communes(raw: gpd.GeoDataFrame, *, persons: np.ndarray, transform: Affine,
                      nodata: float) -> tuple[np.ndarray, dict[str, Any]]:
    """The simplified polygons at the largest tolerance that passes every check."""
    geoms0 = raw.geometry.to_numpy()
    area0 = raw.geometry.to_crs(EQUAL_AREA_CRS).area.to_numpy()
    centres = registry_centres()
    inside0 = centres_inside(geoms0, centres["lon"].to_numpy(), centres["lat"].to_numpy())
    wp0 = worldpop_by_polygon(geoms0, persons, transform, nodata=nodata)
    tried = []
    for tol in TOLERANCES_DEG:
        geoms = (geoms0 if tol == 0 else
                 np.array([_multi(g) for g in shapely.coverage_simplify(geoms0, tol)],
                          dtype=object))
        errs = simplification_errors(raw, geoms, area0=area0, wp0=wp0, inside0=inside0,
                                     centres=centres, persons=persons, transform=transform,
                                     nodata=nodata)
        errs["tolerance_deg"] = tol
        errs["vertices"] = int(shapely.get_num_coordinates(geoms).sum())
        errs["valid"] = bool(shapely.is_valid(geoms).all())
        errs["passed"] = errs["passed"] and errs["valid"]
        tried.append(errs)
        log.info("tolerance %g deg: %d vertices, commune area error %.2g, passed %s", tol,
                 errs["vertices"], errs["commune_area"]["max"], errs["passed"])
        if errs["passed"]:
            chosen = errs
            break
    else:  # tolerance 0 always passes; kept for safety
        raise GisError("simplification: no tolerance passed, not even 0")
    info = {
        "method": "shapely.coverage_simplify (GEOS coverage simplification: shared edges stay "
                  "shared) after make_valid of invalid source polygons",
        "tolerance_deg": chosen["tolerance_deg"],
        "max_error_allowed": MAX_ERROR,
        "vertices_source": int(shapely.get_num_coordinates(geoms0).sum()),
        "vertices_bundle": chosen["vertices"],
        "measured": {k: v for k, v in chosen.items()
                     if k not in ("tolerance_deg", "vertices", "passed", "valid")},
        "worldpop_total_in_communes": _round(float(wp0.sum()), 9),
        "candidates": [{"tolerance_deg": t["tolerance_deg"], "passed": t["passed"],
                        "vertices": t["vertices"],
                        "commune_area_max": t["commune_area"]["max"],
                        "registry_centres_changed": t["registry_centres"]["changed"],
                        **({"commune_share_of_province_worldpop_max":
                            t["commune_share_of_province_worldpop"]["max"]}
                           if "commune_share_of_province_worldpop" in t else {})}
                       for t in tried],
        "measures": "relative change |simplified / source - 1| of: each commune's area and "
                    "each province's area (equal-area EPSG:6933), each commune's share of its "
                    "province's area, each commune's share of its province's WorldPop persons "
                    f"(cells split {SUPERSAMPLE}x{SUPERSAMPLE} by area), each province's "
                    "WorldPop persons; and the registry centres (pre- and post-2025 communes, "
                    "vietnamadminunits) inside each commune, which must not change",
    }
    return geoms, info


# --- the four parts -------------------------------------------------------------------------

def build_communes(raw: gpd.GeoDataFrame, geoms: np.ndarray, out: Path) -> dict[str, Any]:
    gdf = gpd.GeoDataFrame(raw[COMMUNE_FIELDS].copy(), geometry=list(geoms), crs="EPSG:4326")
    gdf.to_parquet(out / B.COMMUNES_FILE, geometry_encoding="WKB", **PARQUET)
    return {"rows": len(gdf), "population_2025": int(gdf["population_2025"].sum())}


def build_census(path: Path, out: Path) -> dict[str, Any]:
    df = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    missing = [f for f in CENSUS_FIELDS if f not in df]
    if missing:
        raise GisError(f"{path}: fields {', '.join(missing)} missing")
    # The five island districts without communes: the registry's code "D" + district code.
    legacy_all = pd.concat([legacy_communes(p) for p in provinces()], ignore_index=True)
    islands = legacy_all[legacy_all["commune_code"].str.startswith("D")]
    island_code = {(r.legacy_province_code, r.district_name): r.commune_code
                   for r in islands.itertuples()}
    empty = df["commune_code"] == ""
    df.loc[empty, "commune_code"] = [island_code.get((p, d), "") for p, d in
                                     zip(df.loc[empty, "province_code"],
                                         df.loc[empty, "district_name"], strict=True)]
    df.loc[empty, "commune_name"] = df.loc[empty, "district_name"]
    # Post-2025 province: commune level (which new province the commune's territory went to)
    # and province level (which new province the old one merged into); they must agree.
    by_commune = {c: p.code for p in provinces() for c in legacy_communes(p)["commune_code"]}
    by_province = {lc: p.code for p in provinces() for lc in p.legacy_codes}
    df["new_by_commune"] = df["commune_code"].map(by_commune)
    df["new_by_province"] = df["province_code"].map(by_province)
    unmatched = df["new_by_commune"].isna()
    disagree = ~unmatched & (df["new_by_commune"] != df["new_by_province"])
    if unmatched.any() or disagree.any():
        raise GisError(f"{path}: {int(unmatched.sum())} communes unknown to the registry, "
                       f"{int(disagree.sum())} whose post-2025 province differs between the "
                       f"commune and province tables: "
                       f"{', '.join(df.loc[unmatched | disagree, 'commune_code'][:10])}")

    def num(col: str) -> pd.Series:
        return pd.to_numeric(df[col].replace("", np.nan)).astype("float64")

    out_df = pd.DataFrame({
        "commune_code": df["commune_code"],
        "commune_name": df["commune_name"],
        "district_name": df["district_name"],
        "legacy_province_code": df["province_code"],
        "legacy_province_name": df["province_name"],
        "province_code": df["new_by_commune"],
        "population_2019": num("population_2019"),
        "urban_2019": num("urban_2019"),
        "census_units": num("census_units"),
    }).sort_values("commune_code", ignore_index=True)
    dup = out_df["commune_code"].duplicated()
    if dup.any():
        raise GisError(f"{path}: duplicate commune codes "
                       f"{', '.join(out_df.loc[dup, 'commune_code'])}")
    out_df.to_parquet(out / B.CENSUS_FILE, **PARQUET)
    return {"rows": len(out_df), "with_population": int(out_df["population_2019"].notna().sum()),
            "population_2019": _round(float(out_df["population_2019"].sum()), 12),
            "province_tables_disagree": 0, "island_districts_coded": int(empty.sum())}


def build_worldpop(path: Path, out: Path) -> dict[str, Any]:
    arr, transform, profile = read_worldpop(path)
    prof = {
        "driver": "GTiff", "dtype": "float32", "count": 1, "width": profile["width"],
        "height": profile["height"], "crs": "EPSG:4326", "transform": transform,
        "nodata": profile["nodata"], "compress": "deflate", "predictor": 3, "zlevel": 9,
        "tiled": True, "blockxsize": 256, "blockysize": 256,
    }
    with rasterio.open(out / B.WORLDPOP_FILE, "w", **prof) as dst:
        dst.write(arr.astype(np.float32), 1)
        dst.update_tags(TIFFTAG_COPYRIGHT=SOURCES[2]["attribution"],
                        TIFFTAG_IMAGEDESCRIPTION="WorldPop 2020 persons per cell, UN-adjusted")
    valid = arr != profile["nodata"]
    return {"width": profile["width"], "height": profile["height"],
            "cells_with_data": int(valid.sum()),
            "persons": _round(float(arr[valid].astype(np.float64).sum()), 12)}


def _province_code_of(name: str) -> str:
    try:
        return find_province(name).code if name.strip() else ""
    except RegistryError:
        return ""


def build_osm(path: Path, communes: gpd.GeoDataFrame, out: Path) -> dict[str, Any]:
    df = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    missing = [f for f in OSM_FIELDS if f not in df]
    if missing:
        raise GisError(f"{path}: fields {', '.join(missing)} missing")
    df = df[OSM_FIELDS].copy()
    df["source_row"] = np.arange(2, len(df) + 2)
    df["lon"] = pd.to_numeric(df["lon"])
    df["lat"] = pd.to_numeric(df["lat"])
    pts = gpd.GeoSeries(shapely.points(df["lon"], df["lat"]), crs="EPSG:4326")
    # Inside a commune polygon (where neighbours overlap, the lowest commune code) ...
    tree = shapely.STRtree(communes.geometry.to_numpy())
    pi, gi = tree.query(pts.to_numpy(), predicate="within")
    hit = pd.DataFrame({"p": pi, "code": communes["commune_code"].to_numpy()[gi]})
    first = hit.sort_values(["p", "code"]).drop_duplicates("p").set_index("p")["code"]
    code = pd.Series("", index=df.index, dtype=object)
    code[first.index] = first.to_numpy()
    dist = pd.Series(0.0, index=df.index)
    # ... else the nearest commune within NEAREST_COMMUNE_M.
    outside = np.flatnonzero(code.to_numpy() == "")
    if len(outside):
        com_m = communes.to_crs(METRIC_CRS)
        p_m = pts.iloc[outside].to_crs(METRIC_CRS)
        j = gpd.sjoin_nearest(gpd.GeoDataFrame(geometry=p_m.to_numpy(), crs=METRIC_CRS),
                              com_m[["commune_code", "geometry"]], distance_col="d")
        j = j.sort_values(["d", "commune_code"]).groupby(level=0).first().sort_index()
        near = j["d"].to_numpy() <= NEAREST_COMMUNE_M
        dist.iloc[outside] = j["d"].round(1).to_numpy()
        code.iloc[outside[near]] = j["commune_code"].to_numpy()[near]
    df["commune_code"] = code.to_numpy()
    df["commune_dist_m"] = dist.to_numpy()
    prov_of = communes.set_index("commune_code")["province_code"]
    df["province_code_publisher"] = [_province_code_of(n) for n in df["province_2025"]]
    df["province_code"] = np.where(df["commune_code"] != "",
                                   df["commune_code"].map(prov_of).fillna(""),
                                   df["province_code_publisher"])
    df = df.sort_values(["province_code", "name", "lon", "lat", "source_row"],
                        ignore_index=True)
    df.to_parquet(out / B.OSM_FILE, **PARQUET)
    both = (df["commune_code"] != "") & (df["province_code_publisher"] != "")
    disagree = both & (df["province_code"] != df["province_code_publisher"])
    return {
        "rows": len(df),
        "inside_a_commune": int((df["commune_dist_m"] == 0).sum()),
        "nearest_commune_within_5km": int(((df["commune_dist_m"] > 0)
                                           & (df["commune_code"] != "")).sum()),
        "no_commune_within_5km": int((df["commune_code"] == "").sum()),
        "publisher_province_unknown": int((df["province_code_publisher"] == "").sum()),
        "province_disagreements": int(disagree.sum()),
        "province_disagreement_rows": [
            f"{r.name} (row {r.source_row}): polygon {r.province_code}, publisher "
            f"{r.province_code_publisher}" for r in df[disagree].itertuples()],
    }


def sources_markdown(sources: list[dict[str, Any]]) -> str:
    lines = ["# Sources of the built-in base data", "",
             "Built by `python -m gis.inputs.build_basedata` from the files in "
             "`../shared/data` (see `manifest.json` for checksums, sizes and the "
             "simplification error). Every output of the tool lists the attribution lines "
             "below under its data sources.", ""]
    for s in sources:
        lines += [f"## {s['file']}", "",
                  f"- What: {s['what']}",
                  f"- Source file: `{s['path']}` (sha256 `{s['sha256']}`)",
                  f"- Version / date: {s['version']}",
                  f"- Licence: {s['licence']}",
                  f"- Where: {s['url']}",
                  f"- Attribution (shown in every output): \"{s['attribution']}\"", ""]
        if s["key"] == "communes":
            lines += ["The polygons are simplified (GEOS coverage simplification, tolerance "
                      "in `manifest.json`) only as far as no commune's area, no province's "
                      "area and no commune's share of its province's area or WorldPop "
                      "population moves more than 0.1 %. The MIT licence of the source:", "",
                      "```", MIT_NOTICE, "```", ""]
        if s["key"] == "worldpop":
            lines += ["Cite as: WorldPop (www.worldpop.org - School of Geography and "
                      "Environmental Science, University of Southampton; Department of "
                      "Geography and Geosciences, University of Louisville; Departement de "
                      "Geographie, Universite de Namur) and Center for International Earth "
                      "Science Information Network (CIESIN), Columbia University (2018). "
                      "Global High Resolution Population Denominators Project - Funded by The "
                      "Bill and Melinda Gates Foundation (OPP1134076). "
                      "https://dx.doi.org/10.5258/SOTON/WP00671", ""]
        if s["key"] == "osm":
            lines += ["Map data © OpenStreetMap contributors, available under the Open "
                      "Database License (https://opendatacommons.org/licenses/odbl/1-0/). "
                      "`osm_hospitals.parquet` is a derived database and is offered under "
                      "the ODbL 1.0 as well.", ""]
        if s["key"] == "census":
            lines += ["The post-2025 province of each pre-2025 commune comes from the "
                      "tables of the `vietnamadminunits` package (admin_units_legacy and its "
                      "2025 conversion data); the commune-level and province-level tables "
                      "agree for all 10,040 units.", ""]
    return "\n".join(lines)


def build(shared: Path, out: Path) -> dict[str, Any]:
    """Build the bundle from ``shared`` into ``out``; returns the manifest written."""
    shared, out = Path(shared), Path(out)
    raw_paths = {s["key"]: shared / s["path"] for s in SOURCES}
    missing = [str(p) for p in raw_paths.values() if not p.is_file()]
    if missing:
        raise GisError(f"raw sources missing: {', '.join(missing)}; pass --shared with the "
                       f"folder that holds vn2025/, census2019/, worldpop/ and osm/")
    out.mkdir(parents=True, exist_ok=True)
    sources = [{**s, "sha256": sha256(raw_paths[s["key"]]),
                "bytes": raw_paths[s["key"]].stat().st_size} for s in SOURCES]
    log.info("reading %s", raw_paths["communes"])
    raw, read_info = read_raw_communes(raw_paths["communes"])
    persons, transform, wp_profile = read_worldpop(raw_paths["worldpop"])
    geoms, simp = simplify_communes(raw, persons=persons, transform=transform,
                                    nodata=wp_profile["nodata"])
    simp["source_reading"] = read_info
    contents = {"communes": build_communes(raw, geoms, out)}
    bundle_communes = gpd.GeoDataFrame(raw[["commune_code", "province_code"]].copy(),
                                       geometry=list(geoms), crs="EPSG:4326")
    contents["census"] = build_census(raw_paths["census"], out)
    contents["worldpop"] = build_worldpop(raw_paths["worldpop"], out)
    contents["osm"] = build_osm(raw_paths["osm"], bundle_communes, out)
    (out / B.SOURCES_FILE).write_text(sources_markdown(sources) + "\n", encoding="utf-8")
    files_info = []
    for name in B.DATA_FILES:
        files_info.append({"file": name, "sha256": sha256(out / name),
                           "bytes": (out / name).stat().st_size})
    manifest = {
        "bundle": "gis national base data",
        "build": {
            "date": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "command": B.BUILD_COMMAND,
            "gis_version": __version__,
            "software": {"geopandas": gpd.__version__, "shapely": shapely.__version__,
                         "geos": shapely.geos_version_string, "pyarrow": pyarrow.__version__,
                         "rasterio": rasterio.__version__, "gdal": rasterio.__gdal_version__,
                         "pyogrio": pyogrio.__version__},
        },
        "files": files_info,
        "total_bytes": sum(f["bytes"] for f in files_info),
        "sources": [{k: s[k] for k in ("key", "path", "sha256", "bytes", "file", "what",
                                       "version", "licence", "url", "attribution")}
                    for s in sources],
        "simplification": simp,
        "contents": contents,
    }
    (out / B.MANIFEST_FILE).write_text(json.dumps(manifest, ensure_ascii=False, indent=1) + "\n",
                                       encoding="utf-8")
    return manifest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gis.inputs.build_basedata",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--shared", type=Path, default=DEFAULT_SHARED,
                        help=f"folder of the raw sources (default {DEFAULT_SHARED})")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT,
                        help=f"bundle folder to write (default {DEFAULT_OUT})")
    parser.add_argument("-q", "--quiet", action="store_true", help="only errors")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING if args.quiet else logging.INFO,
                        format="%(message)s")
    try:
        m = build(args.shared, args.out)
    except GisError as exc:
        print(f"build_basedata: error: {exc}", file=sys.stderr)
        return 2
    s = m["simplification"]
    print(f"wrote {len(m['files'])} files, {m['total_bytes'] / 1e6:.2f} MB, to {args.out}")
    print(f"simplification: tolerance {s['tolerance_deg']} deg, vertices "
          f"{s['vertices_source']:,} -> {s['vertices_bundle']:,}; largest changes: " + ", ".join(
              f"{k} {v['max']:.2e}" for k, v in s["measured"].items() if "max" in v))
    o = m["contents"]["osm"]
    print(f"OSM hospitals: {o['rows']}, province by polygon differs from the publisher's for "
          f"{o['province_disagreements']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
