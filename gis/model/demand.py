"""Demand: a population surface of grid cells.

People are spread over each commune's territory (not stacked on its centre): a square grid is
laid over the communes, every (cell x commune) piece is a demand unit, and a commune's population
is split among its pieces. With a population raster (e.g. WorldPop) the split is dasymetric: each
piece gets the commune's total x (raster persons in the piece) / (raster persons in the commune),
a piece's raster persons being the sum over the pixels it overlaps of the pixel's persons x the
share of the pixel's area inside the piece; where the raster has nobody in a commune, and without
a raster, the split is by area. Totals are preserved exactly per commune.
"""

from __future__ import annotations

import logging

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS, Transformer

from gis.errors import GisError
from gis.inputs.rasters import PopulationGrid

log = logging.getLogger(__name__)


def _segments(geoms: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Every edge of every ring of the polygons: (x0, y0, x1, y1) rows and the polygon index."""
    parts, part_of = shapely.get_parts(geoms, return_index=True)
    rings, ring_of = shapely.get_rings(parts, return_index=True)
    coords, coord_of = shapely.get_coordinates(rings, return_index=True)
    same = coord_of[1:] == coord_of[:-1]
    seg = np.column_stack([coords[:-1][same], coords[1:][same]])
    return seg, part_of[ring_of[coord_of[:-1][same]]]


def _ranges(starts: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For rows with ``counts[i]`` integers from ``starts[i]``: (row of each, the integer)."""
    counts = np.maximum(counts, 0)
    row = np.repeat(np.arange(len(counts)), counts)
    offset = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
    return row, starts[row] + offset


def _boundary_cells(seg: np.ndarray, seg_poly: np.ndarray, cs: float) -> tuple[np.ndarray, ...]:
    """(polygon, ix, iy) of every cell a ring edge passes through (a superset: cells it only
    touches may be listed too; they get no piece of positive area)."""
    x0, y0, x1, y1 = seg.T
    ts = [np.zeros(len(seg)), np.ones(len(seg))]
    rows = [np.arange(len(seg)), np.arange(len(seg))]
    extra_poly, extra_ix, extra_iy = [], [], []
    for a0, a1, b0, b1, vertical in ((x0, x1, y0, y1, True), (y0, y1, x0, x1, False)):
        lo, hi = np.minimum(a0, a1), np.maximum(a0, a1)
        k0 = np.ceil(lo / cs).astype(np.int64)
        k1 = np.floor(hi / cs).astype(np.int64)
        moving = a0 != a1
        r, k = _ranges(k0, np.where(moving, k1 - k0 + 1, 0))
        t = (k * cs - a0[r]) / (a1[r] - a0[r])
        ts.append(t)
        rows.append(r)
        # The cells on both sides of each crossing (robust against rounding near corners).
        b = np.floor((b0[r] + t * (b1[r] - b0[r])) / cs).astype(np.int64)
        for side in (k - 1, k):
            extra_poly.append(seg_poly[r])
            extra_ix.append(side if vertical else b)
            extra_iy.append(b if vertical else side)
    t = np.concatenate(ts)
    r = np.concatenate(rows)
    order = np.lexsort((t, r))
    t, r = t[order], r[order]
    same = r[1:] == r[:-1]
    tm = 0.5 * (t[1:] + t[:-1])[same]
    rm = r[1:][same]
    mx = x0[rm] + tm * (x1[rm] - x0[rm])
    my = y0[rm] + tm * (y1[rm] - y0[rm])
    poly = np.concatenate([seg_poly[rm], *extra_poly])
    ix = np.concatenate([np.floor(mx / cs).astype(np.int64), *extra_ix])
    iy = np.concatenate([np.floor(my / cs).astype(np.int64), *extra_iy])
    return poly, ix, iy


def _inside_cells(seg: np.ndarray, seg_poly: np.ndarray, cs: float) -> tuple[np.ndarray, ...]:
    """(polygon, ix, iy) of the cells whose centre is inside the polygon (scanline, even-odd
    rule over all rings, half-open in y)."""
    x0, y0, x1, y1 = seg.T
    lo, hi = np.minimum(y0, y1), np.maximum(y0, y1)
    m0 = np.ceil(lo / cs - 0.5).astype(np.int64)
    m1 = np.ceil(hi / cs - 0.5).astype(np.int64)      # exclusive
    r, m = _ranges(m0, m1 - m0)
    yc = (m + 0.5) * cs
    xc = x0[r] + (yc - y0[r]) * (x1[r] - x0[r]) / (y1[r] - y0[r])
    p = seg_poly[r]
    order = np.lexsort((xc, m, p))
    p, m, xc = p[order], m[order], xc[order]
    start = np.r_[True, (p[1:] != p[:-1]) | (m[1:] != m[:-1])]
    group = np.cumsum(start) - 1
    rank = np.arange(len(p)) - np.flatnonzero(start)[group]
    enter = np.flatnonzero(rank % 2 == 0)
    enter = enter[enter + 1 < len(p)]
    enter = enter[group[enter + 1] == group[enter]]
    xa, xb = xc[enter], xc[enter + 1]
    n0 = np.ceil(xa / cs - 0.5).astype(np.int64)
    n1 = np.floor(xb / cs - 0.5).astype(np.int64)
    row, n = _ranges(n0, n1 - n0 + 1)
    return p[enter][row], n, m[enter][row]


def _clip(geoms: np.ndarray, x0: np.ndarray, y0: np.ndarray, x1: np.ndarray,
          y1: np.ndarray) -> np.ndarray:
    """Each geometry clipped to its own rectangle (GEOS's fast rectangle clipping). shapely's
    public ``clip_by_rect`` takes one rectangle per call; the ufunc under it takes arrays.
    Where GEOS's rectangle clipping fails on a degenerate ring, the exact intersection."""
    args = [np.asarray(v, np.float64) for v in (x0, y0, x1, y1)]
    out = np.empty(len(geoms), dtype=object)
    step = 8192
    for a in range(0, len(geoms), step):
        part = slice(a, a + step)
        try:
            out[part] = shapely.lib.clip_by_rect(geoms[part], *(v[part] for v in args))
            continue
        except (AttributeError, TypeError, shapely.errors.GEOSException):
            pass
        for n in range(a, min(a + step, len(geoms))):
            rect = [float(v[n]) for v in args]
            try:
                out[n] = shapely.clip_by_rect(geoms[n], *rect)
            except shapely.errors.GEOSException:
                out[n] = shapely.intersection(geoms[n], shapely.box(*rect))
    return out


def _cell_pieces(geoms: np.ndarray, cs: float) -> tuple[np.ndarray, ...]:
    """Pieces (grid cell x polygon) of positive area, ordered by polygon, row, column.

    No geometry test per candidate cell: the cells a ring edge crosses are found from the
    edges' grid crossings, and the other cells of a polygon are whole cells inside it when
    their centre is (scanline over the rings). Only the crossed cells are clipped (GEOS
    rectangle clipping, each polygon first cut to the row's strip), so the work grows with the
    cells and the boundary length, not with the polygons' bounding boxes.

    Returns
    -------
    poly, ix, iy : ndarray of int
        Polygon index and cell column and row (cell = [ix, ix + 1) x [iy, iy + 1) * cs).
    pieces : ndarray of geometries
    area : ndarray of float
        Square metres.
    full : ndarray of bool
        The piece is the whole cell.
    """
    seg, seg_poly = _segments(geoms)
    bp, bx, by = _boundary_cells(seg, seg_poly, cs)
    ip, ixx, iyy = _inside_cells(seg, seg_poly, cs)
    allx = np.concatenate([bx, ixx])
    ally = np.concatenate([by, iyy])
    if len(allx) == 0:
        e = np.zeros(0, np.int64)
        return e, e, e, np.empty(0, object), np.zeros(0), np.zeros(0, bool)
    x_min, y_min = allx.min(), ally.min()
    nx = int(allx.max() - x_min + 1)
    ny = int(ally.max() - y_min + 1)

    def key(p, x, y):
        return (p * ny + (y - y_min)) * nx + (x - x_min)

    bkey = np.unique(key(bp, bx, by))
    ikey = key(ip, ixx, iyy)
    ikey = ikey[~np.isin(ikey, bkey)]
    # Cells the boundary crosses: clip the polygon to each, a row strip first (few vertices
    # left for the cell clips).
    b_poly = bkey // (nx * ny)
    b_iy = (bkey // nx) % ny + y_min
    b_ix = bkey % nx + x_min
    row_start = np.flatnonzero(np.r_[True, (b_poly[1:] != b_poly[:-1]) |
                                     (b_iy[1:] != b_iy[:-1])])
    row_end = np.r_[row_start[1:], len(bkey)]
    row_of = np.repeat(np.arange(len(row_start)), row_end - row_start)
    y_lo = b_iy[row_start] * cs
    strips = _clip(geoms[b_poly[row_start]], b_ix[row_start] * cs, y_lo,
                   (b_ix[row_end - 1] + 1) * cs, y_lo + cs)
    clipped = _clip(strips[row_of], b_ix * cs, b_iy * cs, (b_ix + 1) * cs, (b_iy + 1) * cs)
    bad = ~shapely.is_valid(clipped)
    if bad.any():
        clipped[bad] = shapely.make_valid(clipped[bad])
    b_area = shapely.area(clipped)
    pos = b_area > 0
    i_poly = ikey // (nx * ny)
    i_iy = (ikey // nx) % ny + y_min
    i_ix = ikey % nx + x_min
    poly = np.concatenate([b_poly[pos], i_poly])
    ix = np.concatenate([b_ix[pos], i_ix])
    iy = np.concatenate([b_iy[pos], i_iy])
    full = np.r_[np.zeros(pos.sum(), bool), np.ones(len(ikey), bool)]
    order = np.lexsort((ix, iy, poly))
    poly, ix, iy, full = poly[order], ix[order], iy[order], full[order]
    pieces = np.empty(len(poly), dtype=object)
    area = np.empty(len(poly))
    src = order[~full]          # index into the boundary-first concatenation
    pieces[~full] = clipped[pos][src]
    area[~full] = b_area[pos][src]
    pieces[full] = shapely.box(ix[full] * cs, iy[full] * cs, (ix[full] + 1) * cs,
                               (iy[full] + 1) * cs)
    area[full] = shapely.area(pieces[full])
    return poly, ix, iy, pieces, area, full


def population_surface(
    communes: gpd.GeoDataFrame,
    *,
    cell_size_m: float = 500.0,
    legacy: gpd.GeoDataFrame | None = None,
    raster: PopulationGrid | None = None,
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
    raster : PopulationGrid, optional
        Persons per pixel in any CRS (the base data's WorldPop window, or a user's raster read by
        :func:`gis.inputs.readers.read_population_raster`). Each piece's persons are summed over
        the pixels it overlaps, by the share of each pixel's area inside the piece (pixel
        corners reprojected to the working CRS; not by pixel centres, which most pieces smaller
        than a pixel would miss), and rescaled to its commune's population, so totals stay those
        of the communes; a commune the raster leaves empty falls back to areal weighting.

    Returns
    -------
    GeoDataFrame
        ``unit_id`` (0..n-1), ``cell_id`` ("ix_iy"), ``population`` (persons),
        ``commune_code``, ``legacy_commune_code`` ("" without ``legacy``), ``area_m2``,
        ``x``, ``y`` (a point inside the piece, working CRS metres), ``population_source``
        (categorical: how the commune's people were split, by the raster or by area: both
        modelled); geometry = the piece.
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
    poly, ix, iy, pieces, area, full = _cell_pieces(geoms, cell_size_m)
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
    by_area = "modelled: the commune's population split by area"
    source = np.zeros(len(weight), np.int8)      # 0: by area, 1: by the raster
    if raster is not None:
        weight, source = _raster_weights(raster, pieces, crs=communes.crs, fallback=weight,
                                         groups=new_code)
    units = pd.DataFrame({"commune_code": new_code, "w": weight})
    total_w = units.groupby("commune_code")["w"].transform("sum").to_numpy()
    com_pop = pd.Series(pop, index=communes["commune_code"].to_numpy())
    population = np.where(total_w > 0, weight / np.where(total_w > 0, total_w, 1), 0.0) * \
        com_pop.reindex(new_code).to_numpy()
    # A point inside each piece: the centre of a whole cell (what point_on_surface gives for a
    # rectangle), point_on_surface for the others.
    px = (ix * cell_size_m + (ix + 1) * cell_size_m) / 2
    py = (iy * cell_size_m + (iy + 1) * cell_size_m) / 2
    if lost:
        full = np.r_[full, np.zeros(len(lost), bool)]
    part = ~full
    pts = shapely.point_on_surface(pieces[part])
    px[part], py[part] = shapely.get_x(pts), shapely.get_y(pts)
    out = gpd.GeoDataFrame({
        "unit_id": np.arange(len(pieces)),
        "cell_id": [f"{a}_{b}" for a, b in zip(ix.tolist(), iy.tolist(), strict=True)],
        "population": population,
        "commune_code": new_code,
        "legacy_commune_code": legacy_code,
        "area_m2": np.r_[area[:len(area) - len(lost)], np.zeros(len(lost))],
        "x": px,
        "y": py,
        "population_source": pd.Categorical.from_codes(source, [by_area, (
            f"modelled: the commune's population split by {raster.name} (dasymetric)"
            if raster is not None else "modelled: by the raster")]),
    }, geometry=pieces, crs=communes.crs)
    return out


def pixel_polygons(grid: PopulationGrid, rows: np.ndarray, cols: np.ndarray,
                   crs: CRS | str | int) -> np.ndarray:
    """The pixels ``(rows, cols)`` of ``grid`` as quadrilaterals in ``crs`` (their four corners
    reprojected; at 1 km the edges stay straight to well under a metre)."""
    t = grid.transform
    c = np.column_stack([cols, cols + 1, cols + 1, cols]).astype(float)
    r = np.column_stack([rows, rows, rows + 1, rows + 1]).astype(float)
    x = t.a * c + t.b * r + t.c
    y = t.d * c + t.e * r + t.f
    to = Transformer.from_crs(CRS.from_user_input(grid.crs), CRS.from_user_input(crs),
                              always_xy=True)
    x, y = to.transform(x.ravel(), y.ravel())
    ring = np.stack([np.asarray(x).reshape(-1, 4), np.asarray(y).reshape(-1, 4)], axis=-1)
    return shapely.polygons(ring)


def raster_persons(grid: PopulationGrid, pieces: np.ndarray, *,
                   crs: CRS | str | int) -> np.ndarray:
    """Persons of ``grid`` in each piece (polygons in ``crs``): the sum over the pixels a piece
    overlaps of the pixel's persons x (area of the overlap / area of the pixel)."""
    rows, cols, value = grid.populated()
    out = np.zeros(len(pieces))
    if len(value) == 0 or len(pieces) == 0:
        return out
    pix = pixel_polygons(grid, rows, cols, crs)
    pix_area = shapely.area(pix)
    tree = shapely.STRtree(pieces)
    step = 200_000 // 16   # pixels per batch: about 200,000 pixel x piece pairs at a time
    for a in range(0, len(pix), step):
        part = slice(a, a + step)
        p_idx, q_idx = tree.query(pix[part], predicate="intersects")
        p_idx = p_idx + a
        overlap = shapely.area(shapely.intersection(pix[p_idx], pieces[q_idx]))
        out += np.bincount(q_idx, weights=value[p_idx] * overlap / pix_area[p_idx],
                           minlength=len(pieces))
    return out


def _raster_weights(raster: PopulationGrid, pieces: np.ndarray, *, crs: CRS,
                    fallback: np.ndarray, groups: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Raster persons per piece (:func:`raster_persons`), area weights where a whole commune
    has no raster population; and 1 where the raster was used, 0 where the area."""
    w = raster_persons(raster, pieces, crs=crs)
    by_group = pd.Series(w).groupby(groups).transform("sum").to_numpy()
    empty = by_group <= 0
    if empty.any():
        log.warning("raster %s has no population in %d communes: areal weighting used there",
                    raster.name, len(set(groups[empty])))
    return np.where(empty, fallback, w), (~empty).astype(np.int8)


# --- the demand grid, for drawing large surfaces ------------------------------------------------

def demand_grid(geoms: np.ndarray) -> tuple[np.ndarray, np.ndarray, float] | None:
    """The grid cell of every demand unit: column ``ix``, row ``iy`` (cell ``[ix cs, (ix + 1)
    cs) x [iy cs, (iy + 1) cs)``) and the side ``cs`` (metres), read from the geometries (the
    middle of each piece's box lies in its cell). None when the units are not the pieces of
    one square grid (whole cells as squares, every piece inside one cell), e.g. a surface
    built otherwise."""
    geoms = np.asarray(geoms, dtype=object)
    if not len(geoms):
        return None
    b = shapely.bounds(geoms)
    w, h = b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]
    area = shapely.area(geoms)
    square = (w > 0) & np.isclose(w, h, rtol=1e-9) & np.isclose(area, w * h, rtol=1e-9)
    if not square.any():
        return None
    cs = float(np.median(w[square]))
    ix = np.floor((b[:, 0] + b[:, 2]) / (2 * cs)).astype(np.int64)
    iy = np.floor((b[:, 1] + b[:, 3]) / (2 * cs)).astype(np.int64)
    tol = 1e-6 * cs
    if not (np.all(b[:, 0] >= ix * cs - tol) and np.all(b[:, 2] <= (ix + 1) * cs + tol)
            and np.all(b[:, 1] >= iy * cs - tol) and np.all(b[:, 3] <= (iy + 1) * cs + tol)):
        return None
    return ix, iy, cs


def grid_cells_polygon(ix: np.ndarray, iy: np.ndarray, cs: float) -> shapely.Geometry:
    """The union of the grid cells ``(ix, iy)`` (repeats allowed) of side ``cs``, traced from a
    raster of them: exact for whole cells, and far cheaper than a union of squares. A
    MultiPolygon (holes kept); empty when no cell is given."""
    if not len(ix):
        return shapely.MultiPolygon()
    # rasterio traces the polygons (heavy optional dependency, as in the access dissolve)
    from rasterio.features import shapes
    from rasterio.transform import Affine

    x0, y1 = int(ix.min()), int(iy.max())
    raster = np.zeros((int(y1 - iy.min() + 1), int(ix.max() - x0 + 1)), np.uint8)
    raster[y1 - iy, ix - x0] = 1
    polys = [shapely.geometry.shape(g) for g, _ in
             shapes(raster, mask=raster.astype(bool),
                    transform=Affine(cs, 0.0, x0 * cs, 0.0, -cs, (y1 + 1) * cs))]
    return shapely.multipolygons(polys)
