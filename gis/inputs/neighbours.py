"""Neighbouring provinces and the halo of their facilities (cross-border access).

People near a provincial border use the facilities across it. A province's analysis sees them
through its *halo*: the active facilities of other provinces within the travel model's reach of
the province's outline, ``reach_m = cutoff_min x speed / detour_factor`` (a facility farther
than that from the outline is farther than the cut-off from every demand unit inside it, so it
can never be the nearest within the cut-off: the halo loses nothing).

Candidate neighbours are found cheaply from the registry's boxes (:func:`candidate_neighbours`);
the halo itself is exact: each facility's distance to the outline (:func:`halo_facilities`).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Sequence
from functools import cache

import geopandas as gpd
import pandas as pd
import shapely
from pyproj import CRS

from gis.inputs.registry import load_registry, provinces

log = logging.getLogger(__name__)

#: Degrees added around the registry's box of a province when looking for neighbours: the
#: registry's boxes are those of the pre-2025 communes and real post-2025 polygons may reach a
#: little beyond them (coastal and border communes); 0.25 degrees is about 27 km.
BOX_MARGIN_DEG = 0.25

HALO_COLUMNS = ["facility_id", "name", "tier", "specialty", "status", "province_code",
                "location_source", "source"]


def reach_m(*, cutoff_min: float, speed_kmh: float, detour_factor: float) -> float:
    """Straight-line metres the travel model reaches within ``cutoff_min``."""
    return float(cutoff_min) * float(speed_kmh) * 1000.0 / 60.0 / float(detour_factor)


@cache
def _boxes() -> dict[str, tuple[float, float, float, float]]:
    return {p.code: load_registry(p.code).bounds() for p in provinces()}


def candidate_neighbours(code: str, radius_m: float) -> list[str]:
    """Provinces that may hold facilities within ``radius_m`` of province ``code``.

    The registry's box of each province (EPSG:4326) grown by ``radius_m`` (converted to
    degrees at the latitude farthest from the equator, so never too little) and by
    :data:`BOX_MARGIN_DEG`; a province is a candidate when its box meets the grown box of
    ``code``. Conservative: the exact test is :func:`halo_facilities`.

    Returns
    -------
    list of str
        Two-digit province codes, ``code`` itself left out, sorted.
    """
    boxes = _boxes()
    x0, y0, x1, y1 = boxes[code]
    lat = max(abs(y0), abs(y1)) + 1.0
    dy = radius_m / 110_574.0 + BOX_MARGIN_DEG
    dx = radius_m / (111_320.0 * math.cos(math.radians(min(lat, 89.0)))) + BOX_MARGIN_DEG
    out = []
    for other, (a0, b0, a1, b1) in boxes.items():
        if other == code:
            continue
        if a0 <= x1 + dx and a1 >= x0 - dx and b0 <= y1 + dy and b1 >= y0 - dy:
            out.append(other)
    return sorted(out)


def province_outline(communes: gpd.GeoDataFrame) -> shapely.Geometry:
    """The union of a province's commune polygons (in their CRS)."""
    return shapely.union_all(communes.geometry.to_numpy())


def halo_facilities(outline: shapely.Geometry, neighbours: Sequence[gpd.GeoDataFrame], *,
                    crs: CRS, radius_m: float, own_ids: Iterable[str] = ()
                    ) -> gpd.GeoDataFrame:
    """Active facilities of other provinces within ``radius_m`` of ``outline``.

    Parameters
    ----------
    outline : shapely geometry
        The province's outline in ``crs`` (see :func:`province_outline`).
    neighbours : sequence of GeoDataFrame
        Facilities of other provinces (any declared CRS): ``facility_id``, ``name``, ``tier``,
        ``status``, ``province_code``; optional ``specialty``, ``location_source``, ``source``.
    crs : CRS
        The province's working CRS (metres).
    radius_m : float
        Reach of the travel model (:func:`reach_m`); inclusive.
    own_ids : iterable of str
        The province's own facility ids: a neighbour's facility with the same id is renamed
        ``<province_code>:<id>`` (and logged), so ids stay unique in the cost tables.

    Returns
    -------
    GeoDataFrame
        :data:`HALO_COLUMNS` and Point geometry in ``crs``, ordered by province code then
        facility id (empty when none is within reach).
    """
    parts = []
    shapely.prepare(outline)
    for fac in neighbours:
        if fac is None or fac.empty:
            continue
        act = fac[fac["status"] == "active"]
        if act.empty:
            continue
        act = act.to_crs(crs)
        pts = act.geometry.to_numpy()
        keep = shapely.dwithin(outline, pts, radius_m * (1 + 1e-9))
        if keep.any():
            part = act[keep].copy()
            for col in HALO_COLUMNS:
                if col not in part:
                    part[col] = ""
            parts.append(part[[*HALO_COLUMNS, "geometry"]])
    if not parts:
        return gpd.GeoDataFrame({c: pd.Series(dtype=object) for c in HALO_COLUMNS},
                                geometry=gpd.GeoSeries([], crs=crs), crs=crs)
    out = gpd.GeoDataFrame(pd.concat(parts, ignore_index=True), geometry="geometry", crs=crs)
    out["facility_id"] = out["facility_id"].astype(str)
    out = out.sort_values(["province_code", "facility_id"], kind="stable", ignore_index=True)
    taken = set(map(str, own_ids))
    clash = out["facility_id"].isin(taken).to_numpy() | out["facility_id"].duplicated().to_numpy()
    if clash.any():
        log.info("halo: %d facility ids of neighbouring provinces clash with others; renamed "
                 "<province_code>:<id>", int(clash.sum()))
        out.loc[clash, "facility_id"] = (out.loc[clash, "province_code"].astype(str) + ":"
                                         + out.loc[clash, "facility_id"])
    return out


def halo_summary(halo: gpd.GeoDataFrame, *, radius_m: float) -> dict[str, object]:
    """Counts of a halo: facilities by tier and by province, and its radius."""
    return {"radius_m": float(radius_m), "facilities": int(len(halo)),
            "by_tier": {str(k): int(v) for k, v in halo["tier"].value_counts().sort_index()
                        .items()},
            "by_province": {str(k): int(v) for k, v in
                            halo["province_code"].value_counts().sort_index().items()}}
