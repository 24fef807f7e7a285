"""Station sites kept inside their commune's land.

Commune health stations are placed at the registry centre of their pre-2025 commune (the only
site the registry knows). Some of those centres lie in the sea or in a neighbouring commune;
:func:`move_inside` moves such a point to the nearest place inside its own polygon, and
:func:`site_stations` does so for a short move but re-sites a point whose registry centre lies
far outside (a centre that is simply wrong, often shared by several communes) in the largest
part of the polygon left empty by the other sites. Pure: no file is read or written, the inputs
are not changed.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable, Sequence

import geopandas as gpd
import numpy as np
import shapely

from gis.errors import GisError

log = logging.getLogger(__name__)

__all__ = ["DEFAULT_INSET_M", "LONG_MOVE_M", "communes_without_station", "largest_empty_site",
           "move_inside", "site_stations"]

DEFAULT_INSET_M = 50.0
# A registry centre farther than this outside its commune is not a usable site (the radius of
# a commune of about 80 km²): :func:`site_stations` re-sites it instead of moving it to the border.
LONG_MOVE_M = 5_000.0
_CANDIDATES = 2_500


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


def _candidates(poly: shapely.Geometry, inset_m: float) -> np.ndarray:
    """Candidate sites inside ``poly`` (at least ``inset_m`` inside where the part allows): a
    grid over each part (about :data:`_CANDIDATES` in all, at least one per part) and each
    part's point on the surface."""
    parts = shapely.get_parts(poly)
    area = shapely.area(parts)
    total = float(area.sum()) or 1.0
    out = [shapely.point_on_surface(parts)]
    for part, a in zip(parts, area, strict=True):
        n = int(round(_CANDIDATES * a / total))
        if n < 4:
            continue
        x0, y0, x1, y1 = part.bounds
        step = np.sqrt(a / n)
        gx, gy = np.meshgrid(np.arange(x0 + step / 2, x1, step), np.arange(y0 + step / 2, y1,
                                                                             step))
        pts = shapely.points(gx.ravel(), gy.ravel())
        inner = shapely.buffer(part, -inset_m)
        keep = shapely.contains(inner if not inner.is_empty else part, pts)
        out.append(pts[keep])
    return np.concatenate(out)


def largest_empty_site(poly: shapely.Geometry, others: np.ndarray, *,
                       inset_m: float = DEFAULT_INSET_M) -> shapely.Point:
    """The centre of the largest circle inside ``poly`` holding none of the ``others`` points
    (among candidate sites on a grid): the middle of the largest part of the polygon away from
    the other sites; with no others, the polygon's most inland point (about)."""
    cand = _candidates(poly, inset_m)
    score = shapely.distance(shapely.boundary(poly), cand)
    if len(others):
        tree = shapely.STRtree(others)
        idx = tree.query_nearest(cand, all_matches=False, return_distance=True)
        near = np.full(len(cand), np.inf)
        near[idx[0][0]] = idx[1]
        # ties (the circle capped by the border) go to the candidate farthest from the others
        score = np.minimum(score, near) + 1e-3 * np.minimum(near, 1e9)
    return cand[int(np.argmax(score))]


def site_stations(points: gpd.GeoSeries, polygons: gpd.GeoSeries, *,
                  inset_m: float = DEFAULT_INSET_M,
                  long_move_m: float = LONG_MOVE_M) -> tuple[gpd.GeoSeries, np.ndarray,
                                                             np.ndarray]:
    """Station sites inside their polygon: kept, moved a short way, or re-sited.

    A point inside its polygon stays. A point outside it whose nearest site inside
    (:func:`move_inside`) is at most ``long_move_m`` away moves there. A point farther out is
    re-sited at :func:`largest_empty_site` of its polygon, away from the sites of the other
    points sharing that polygon (those kept or moved first, then the re-sited ones in order),
    so that several wrong centres do not pile up on one border point.

    Parameters
    ----------
    points, polygons : GeoSeries
        As for :func:`move_inside` (projected CRS, one polygon per point by position; points
        sharing a polygon are those whose polygons are equal objects or equal geometries).
    inset_m, long_move_m : float
        Metres.

    Returns
    -------
    points : GeoSeries
        New sites, same index and CRS.
    dist_m : ndarray of float
        How far each point moved (0 for those kept).
    how : ndarray of str
        ``"kept"``, ``"moved"`` or ``"re-sited"`` per point (``"kept"`` without a polygon).
    """
    moved, dist = move_inside(points, polygons, inset_m=inset_m)
    how = np.where(dist > 0, "moved", "kept").astype(object)
    far = np.flatnonzero(dist > long_move_m)
    if not len(far):
        return moved, dist, how
    pts = np.asarray(points.to_numpy(), dtype=object)
    new = np.asarray(moved.to_numpy(), dtype=object).copy()
    polys = np.asarray(polygons.to_numpy(), dtype=object)
    wkb = shapely.to_wkb(polys)
    placed = np.ones(len(new), bool)
    placed[far] = False
    for i in far:
        same = np.flatnonzero(np.array([w == wkb[i] for w in wkb]) & placed)
        site = largest_empty_site(polys[i], new[same], inset_m=inset_m)
        new[i] = site
        placed[i] = True
        dist[i] = float(shapely.distance(pts[i], site))
        how[i] = "re-sited"
    log.info("re-sited %d points whose centre lay more than %.0f m outside their polygon",
             len(far), long_move_m)
    return gpd.GeoSeries(new, index=points.index, crs=points.crs), dist, how


def communes_without_station(station_commune: Sequence[str], options: Sequence[Sequence[str]],
                             default: Sequence[str], communes: Iterable[str]
                             ) -> tuple[np.ndarray, list[str]]:
    """Give a post-2025 commune left without any station the station of a split pre-2025
    commune that lists it, when the station's present commune keeps another one.

    A pre-2025 commune split in 2025 among several post-2025 communes has one station, which
    belongs to one of them (the one its site falls in); another of them may then have no
    station at all (Hồ Chí Minh City's Bàu Bàng: the former thị trấn Lai Uyên, code 25822,
    was split between Bàu Bàng, also 25822, and Long Nguyên, and its registry centre lies in
    Long Nguyên). Such a commune gets one of the split stations that list it: the one whose
    registry default is that commune first, then the first by position; a station moves only
    when its present commune keeps at least one other station.

    Parameters
    ----------
    station_commune : sequence of str
        Post-2025 commune of each station.
    options : sequence of sequences of str
        Post-2025 communes each station may belong to (those of its split pre-2025 commune;
        empty for a commune that was not split).
    default : sequence of str
        The registry's post-2025 commune of each station's pre-2025 commune.
    communes : iterable of str
        Every post-2025 commune of the province.

    Returns
    -------
    station_commune : ndarray of str
        The commune of each station after the moves (a new array).
    still_without : list of str
        Communes that still have no station (no split station could be spared).
    """
    out = np.asarray(station_commune, dtype=object).copy()
    have = Counter(out.tolist())
    still = []
    for c in communes:
        if have[c]:
            continue
        cands = [i for i, opts in enumerate(options) if c in opts and have[out[i]] > 1]
        if not cands:
            still.append(c)
            continue
        i = min(cands, key=lambda k: (default[k] != c, k))
        log.info("post-2025 commune %s had no station: the station of split pre-2025 commune "
                 "position %d moves to it from %s", c, i, out[i])
        have[out[i]] -= 1
        out[i] = c
        have[c] += 1
    return out, still
