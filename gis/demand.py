"""Demand: a population surface of grid cells.

People are spread over each commune's territory by areal weighting (not stacked on its centre):
a square grid is laid over the communes, every (cell x commune) piece is a demand unit, and a
commune's population is split among its pieces in proportion to their area. Totals are preserved
exactly per commune. With a population raster (e.g. WorldPop GeoTIFF) the split follows the
raster instead of area.
"""

from __future__ import annotations

import logging
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from gis.errors import GisError, LayerError

log = logging.getLogger(__name__)


def _grid_pairs(bounds: np.ndarray, cell_size_m: float) -> tuple[np.ndarray, np.ndarray,
                                                                  np.ndarray]:
    """All (polygon, ix, iy) grid cells overlapping each polygon's bounding box (vectorised)."""
    ix0 = np.floor(bounds[:, 0] / cell_size_m).astype(np.int64)
    iy0 = np.floor(bounds[:, 1] / cell_size_m).astype(np.int64)
    ix1 = np.floor(bounds[:, 2] / cell_size_m).astype(np.int64)
    iy1 = np.floor(bounds[:, 3] / cell_size_m).astype(np.int64)
    nx = ix1 - ix0 + 1
    ny = iy1 - iy0 + 1
    counts = nx * ny
    poly = np.repeat(np.arange(len(bounds)), counts)
    offset = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
    ix = ix0[poly] + offset % nx[poly]
    iy = iy0[poly] + offset // nx[poly]
    return poly, ix, iy


def population_surface(
    communes: gpd.GeoDataFrame,
    *,
    cell_size_m: float = 500.0,
    legacy: gpd.GeoDataFrame | None = None,
    raster: str | Path | None = None,
) -> gpd.GeoDataFrame:
    """Population surface of demand units (grid cell x commune pieces).

    Parameters
    ----------
    communes : GeoDataFrame
        Post-2025 communes in a projected CRS (metres): ``commune_code``, ``population``
        (persons; 0 allowed, NaN not: give populations or an estimate first).
    cell_size_m : float
        Side of the square grid cells, metres (grid aligned on multiples of it).
    legacy : GeoDataFrame, optional
        Pre-2025 communes (``commune_code``, ``new_commune_code``) tiling the post-2025 ones.
        Pieces are then cell x pre-2025 commune, and each carries both codes. The population
        spread is still the post-2025 commune's, distributed by area (or raster) over its pieces.
    raster : path, optional
        Population raster (GeoTIFF). Pixel centres are summed per piece and the result rescaled
        to each commune's population, so totals stay those of the communes; a commune the raster
        leaves empty falls back to areal weighting.

    Returns
    -------
    GeoDataFrame
        ``unit_id`` (0..n-1), ``cell_id`` ("ix_iy"), ``population`` (persons),
        ``commune_code``, ``legacy_commune_code`` ("" without ``legacy``), ``area_m2``,
        ``x``, ``y`` (a point inside the piece, working CRS metres); geometry = the piece.
    """
    if cell_size_m <= 0:
        msg = f"cell_size_m: expected a positive number of metres, found {cell_size_m!r}"
        raise GisError(msg)
    if communes.crs is None or not communes.crs.is_projected:
        msg = "population_surface: communes need a projected CRS in metres (the working CRS)"
        raise GisError(msg)
    pop = communes["population"].to_numpy(float)
    if np.isnan(pop).any():
        missing = communes.loc[np.isnan(pop), "commune_code"].tolist()
        msg = (f"population unknown for {len(missing)} communes ({', '.join(missing[:5])}"
               f"{' …' if len(missing) > 5 else ''}): give a communes layer with population, or "
               f"province.population_total for an estimate")
        raise GisError(msg)
    if legacy is not None:
        src = legacy.to_crs(communes.crs)
        # A split legacy commune has pieces in several new communes: split it by them.
        src = gpd.overlay(src[["commune_code", "geometry"]].rename(
            columns={"commune_code": "legacy_commune_code"}),
            communes[["commune_code", "geometry"]], how="intersection", keep_geom_type=True)
        src = src[src.geometry.area > 1e-6]
        poly_new = src["commune_code"].to_numpy()
        poly_legacy = src["legacy_commune_code"].to_numpy()
        geoms = src.geometry.to_numpy()
    else:
        poly_new = communes["commune_code"].to_numpy()
        poly_legacy = np.full(len(communes), "", dtype=object)
        geoms = communes.geometry.to_numpy()
    bounds = shapely.bounds(geoms)
    poly, ix, iy = _grid_pairs(bounds, cell_size_m)
    boxes = shapely.box(ix * cell_size_m, iy * cell_size_m, (ix + 1) * cell_size_m,
                        (iy + 1) * cell_size_m)
    shapely.prepare(geoms)
    hit = shapely.intersects(geoms[poly], boxes)
    poly, ix, iy, boxes = poly[hit], ix[hit], iy[hit], boxes[hit]
    inside = shapely.contains_properly(geoms[poly], boxes)
    pieces = boxes.copy()
    cut = ~inside
    pieces[cut] = shapely.intersection(geoms[poly[cut]], boxes[cut])
    area = shapely.area(pieces)
    keep = area > 0
    poly, ix, iy, pieces, area = poly[keep], ix[keep], iy[keep], pieces[keep], area[keep]
    new_code = poly_new[poly]
    # Communes with no piece of positive area (degenerate polygons): one unit at their point.
    lost = sorted(set(communes["commune_code"]) - set(new_code))
    if lost:
        log.warning("%d communes have no area on the grid; placed at a point: %s", len(lost),
                    ", ".join(lost[:5]))
        idx = communes.set_index("commune_code")
        extra = idx.loc[lost]
        pieces = np.concatenate([pieces, extra.geometry.representative_point().to_numpy()])
        new_code = np.concatenate([new_code, np.array(lost, dtype=object)])
        poly_legacy_extra = np.full(len(lost), "", dtype=object)
        legacy_code = np.concatenate([poly_legacy[poly], poly_legacy_extra])
        area = np.concatenate([area, np.ones(len(lost))])
        ix = np.concatenate([ix, np.zeros(len(lost), np.int64)])
        iy = np.concatenate([iy, np.zeros(len(lost), np.int64)])
    else:
        legacy_code = poly_legacy[poly]
    weight = area.astype(float)
    if raster is not None:
        weight = _raster_weights(raster, pieces, communes.crs, fallback=weight,
                                 groups=new_code)
    units = pd.DataFrame({"commune_code": new_code, "w": weight})
    total_w = units.groupby("commune_code")["w"].transform("sum").to_numpy()
    com_pop = pd.Series(pop, index=communes["commune_code"].to_numpy())
    population = np.where(total_w > 0, weight / np.where(total_w > 0, total_w, 1), 0.0) * \
        com_pop.reindex(new_code).to_numpy()
    pts = shapely.point_on_surface(pieces)
    out = gpd.GeoDataFrame({
        "unit_id": np.arange(len(pieces)),
        "cell_id": [f"{a}_{b}" for a, b in zip(ix, iy, strict=True)],
        "population": population,
        "commune_code": new_code,
        "legacy_commune_code": legacy_code,
        "area_m2": shapely.area(pieces),
        "x": shapely.get_x(pts),
        "y": shapely.get_y(pts),
    }, geometry=pieces, crs=communes.crs)
    return out


def _raster_weights(path: str | Path, pieces: np.ndarray, crs, *, fallback: np.ndarray,
                    groups: np.ndarray) -> np.ndarray:
    """Raster population per piece (pixel centres summed), area weights where a whole commune
    has no raster population."""
    import rasterio
    from rasterio.warp import transform as warp_transform

    path = Path(path)
    try:
        src = rasterio.open(path)
    except Exception as exc:
        raise LayerError(str(path), [f"cannot be read as a raster: {exc}"]) from None
    with src:
        if src.crs is None:
            raise LayerError(str(path), ["no CRS declared: georeference the raster"])
        band = src.read(1, masked=True).astype(float)
        values = np.ma.filled(band, 0.0)
        values[~np.isfinite(values) | (values < 0)] = 0.0
        rows, cols = np.nonzero(values > 0)
        xs, ys = rasterio.transform.xy(src.transform, rows, cols, offset="center")
        xs, ys = np.asarray(xs, float), np.asarray(ys, float)
        if src.crs != crs:
            xs, ys = warp_transform(src.crs, crs, xs, ys)
            xs, ys = np.asarray(xs), np.asarray(ys)
        vals = values[rows, cols]
    tree = shapely.STRtree(pieces)
    pt_idx, piece_idx = tree.query(shapely.points(xs, ys), predicate="within")
    w = np.bincount(piece_idx, weights=vals[pt_idx], minlength=len(pieces))
    by_group = pd.Series(w).groupby(groups).transform("sum").to_numpy()
    empty = by_group <= 0
    if empty.any():
        log.warning("raster %s has no population in %d communes: areal weighting used there",
                    path.name, len(set(groups[empty])))
    return np.where(empty, fallback, w)
