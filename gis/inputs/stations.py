"""Station sites kept inside their commune's land.

Commune health stations are placed at the registry centre of their pre-2025 commune (the only
site the registry knows). Some of those centres lie in the sea or in a neighbouring commune;
:func:`move_inside` moves such a point to the nearest place inside its own polygon. Pure: no
file is read or written, the inputs are not changed.
"""

from __future__ import annotations

import logging

import geopandas as gpd
import numpy as np
import shapely

from gis.errors import GisError

log = logging.getLogger(__name__)

__all__ = ["DEFAULT_INSET_M", "move_inside"]

DEFAULT_INSET_M = 50.0


def move_inside(points: gpd.GeoSeries, polygons: gpd.GeoSeries, *,
                inset_m: float = DEFAULT_INSET_M) -> tuple[gpd.GeoSeries, np.ndarray]:
    """Move each point that lies outside its polygon to the nearest point inside it.

    The target is the nearest point of the polygon shrunk by ``inset_m`` (so the new site is
    on land, not on the coastline or the border); where the shrunk polygon is empty (a polygon
    narrower than twice ``inset_m``), a point on the surface of the polygon itself
    (``point_on_surface``). Points inside their polygon, and points without a polygon (None or
    empty), stay where they are.

    Parameters
    ----------
    points : GeoSeries
        Points, in a projected CRS (metres).
    polygons : GeoSeries
        One (Multi)Polygon per point, aligned by position, in the same CRS.
    inset_m : float
        How far inside the border a moved point lands, in metres (default 50).

    Returns
    -------
    points : GeoSeries
        New points, same index and CRS as ``points``.
    dist_m : ndarray of float
        Distance each point moved, in metres (0 for points that stay).

    Raises
    ------
    GisError
        If the lengths or CRSs differ, or the CRS is not projected.
    """
    if len(points) != len(polygons):
        raise GisError(f"move_inside: {len(points)} points but {len(polygons)} polygons; give "
                       f"one polygon per point")
    if points.crs != polygons.crs:
        raise GisError(f"move_inside: points in {points.crs}, polygons in {polygons.crs}; "
                       f"reproject one with to_crs()")
    if points.crs is None or not points.crs.is_projected:
        raise GisError(f"move_inside: CRS {points.crs} is not projected; distances need metres "
                       f"(use the working CRS, e.g. a UTM zone)")
    pts = np.asarray(points.to_numpy(), dtype=object)
    polys = np.asarray(polygons.to_numpy(), dtype=object)
    have = ~(shapely.is_missing(polys) | shapely.is_empty(polys)) & ~shapely.is_missing(pts)
    outside = np.zeros(len(pts), bool)
    outside[have] = ~shapely.contains(polys[have], pts[have])
    new = pts.copy()
    dist = np.zeros(len(pts))
    idx = np.flatnonzero(outside)
    if len(idx):
        inner = shapely.buffer(polys[idx], -float(inset_m))
        tiny = shapely.is_empty(inner)
        target = np.empty(len(idx), dtype=object)
        if (~tiny).any():
            lines = shapely.shortest_line(inner[~tiny], pts[idx][~tiny])
            target[~tiny] = shapely.get_point(lines, 0)
        if tiny.any():
            target[tiny] = shapely.point_on_surface(polys[idx][tiny])
        new[idx] = target
        dist[idx] = shapely.distance(pts[idx], target)
        log.info("moved %d of %d points inside their polygon (largest move %.0f m)", len(idx),
                 len(pts), dist.max())
    return gpd.GeoSeries(new, index=points.index, crs=points.crs), dist
