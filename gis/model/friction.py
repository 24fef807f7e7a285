"""Friction-surface travel model (AccessMod's): travel times by cost-distance on a grid.

For places where the road network is missing or incomplete: a raster of speeds (km/h) is built
from a default off-road speed (or a land-cover raster and a class -> speed table), with the
roads burned in by class (the fastest class wins where lines share a pixel); travel times from
every facility are then least-cost distances on the grid.

Grid conventions (those of scikit-image's ``MCP_Geometric``, which can be used as the engine):

- a pixel's cost is the minutes to cross it, ``cell_size_m / speed``; a pixel of speed 0
  (water, say) cannot be entered;
- moves go to the 8 neighbours; a move starts and ends at pixel centres, half of it in each
  pixel, so it costs ``(cost_a + cost_b) / 2 x length`` with length 1 along a row or column
  and sqrt(2) along a diagonal;
- a facility and a demand point stand at the centre of the pixel they fall in: a demand point
  in the facility's pixel has time 0 (the half-pixel to the true position is not counted, at
  most ``cell_size_m / sqrt(2)`` off-road, about 1.1 min at 4.5 km/h on 100 m pixels).

Ferries are burned in at their speed (their wait is not counted: a grid has no boarding
point); one-way streets do not bind (a grid has no direction). ``dist_m`` of the cost table
is the length of the fastest path on the grid, centre to centre.

Two engines give the same times: ``"dijkstra"`` (default), :func:`gis.model.search.grid_times`
(a bucket-queue Dijkstra compiled with numba that stops at the cut-off), and ``"mcp"``, one
``skimage.graph.MCP_Geometric.find_costs`` per facility over the whole grid (the reference;
scikit-image must be installed). See bench/RESULTS.md for their speeds.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
from affine import Affine
from pyproj import CRS

from gis.errors import GisError
from gis.model.costs import CostTable
from gis.model.roads import class_speeds, line_speeds_kmh
from gis.model.search import grid_times

log = logging.getLogger(__name__)

ENGINES = ("dijkstra", "mcp")


@dataclass(frozen=True)
class FrictionSurface:
    """A raster of travel speeds.

    Attributes
    ----------
    speed_kmh : ndarray, shape (rows, cols)
        Speed in each pixel (0 = impassable).
    transform : affine.Affine
        Pixel -> working-CRS coordinates (north-up, square pixels).
    crs : pyproj.CRS
    cell_size_m : float
    """

    speed_kmh: np.ndarray
    transform: Affine
    crs: CRS
    cell_size_m: float

    @property
    def shape(self) -> tuple[int, int]:
        return self.speed_kmh.shape

    def minutes_per_cell(self) -> np.ndarray:
        """Minutes to cross each pixel along a row (inf where impassable)."""
        with np.errstate(divide="ignore"):
            return np.where(self.speed_kmh > 0,
                            self.cell_size_m / (self.speed_kmh * 1000.0 / 60.0), np.inf)

    def pixel_of(self, xy: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Row, column of each point and whether it falls inside the grid."""
        xy = np.asarray(xy, float).reshape(-1, 2)
        inv = ~self.transform
        col = np.floor(inv.a * xy[:, 0] + inv.b * xy[:, 1] + inv.c).astype(np.int64)
        row = np.floor(inv.d * xy[:, 0] + inv.e * xy[:, 1] + inv.f).astype(np.int64)
        inside = (row >= 0) & (row < self.shape[0]) & (col >= 0) & (col < self.shape[1])
        return row, col, inside


def friction_surface(
    bounds: tuple[float, float, float, float],
    *,
    cell_size_m: float,
    crs: CRS | str | int,
    roads: gpd.GeoDataFrame | None = None,
    mode: str = "motorbike",
    class_speeds_kmh: Mapping[str, float] | None = None,
    offroad_speed_kmh: float = 4.5,
    ferry_speed_kmh: float = 10.0,
    landcover: np.ndarray | None = None,
    landcover_transform: Affine | None = None,
    landcover_crs: CRS | str | int | None = None,
    landcover_speeds_kmh: Mapping[int, float] | None = None,
) -> FrictionSurface:
    """A speed raster over ``bounds``: off-road (or land-cover) speeds, roads burned in.

    Parameters
    ----------
    bounds : (minx, miny, maxx, maxy)
        Area in the working CRS (metres); widened to whole pixels.
    cell_size_m : float
        Pixel side in metres.
    crs : CRS
        Working CRS.
    roads : GeoDataFrame, optional
        Road lines (see :func:`gis.model.roads.build_road_graph`); each line is burned at its
        speed for ``mode`` (:func:`gis.model.roads.line_speeds_kmh`; classes closed to the mode
        are not burned), ferries at their ``ferry_duration_min`` (else ``ferry_speed_kmh``).
        Where lines share a pixel, the fastest wins.
    class_speeds_kmh : mapping, optional
        Speeds of the mode per road class; the defaults of :mod:`gis.model.roads` when None.
    offroad_speed_kmh : float
        Speed of every pixel without a road when no land cover is given.
    landcover, landcover_transform, landcover_crs : optional
        A land-cover raster (integer classes) with its transform and CRS; resampled to the
        grid (nearest class).
    landcover_speeds_kmh : mapping, optional
        Speed per land-cover class (0 = impassable, e.g. open water); ``"default"`` (or
        ``offroad_speed_kmh``) for unlisted classes.

    Raises
    ------
    GisError
        A bad cell size or bounds, or a land cover without its transform, CRS or table.
    """
    from rasterio.features import rasterize  # heavy optional dependency: only for friction

    if not cell_size_m > 0:
        msg = f"friction cell size: expected metres above 0, found {cell_size_m!r}"
        raise GisError(msg)
    minx, miny, maxx, maxy = (float(b) for b in bounds)
    if not (maxx > minx and maxy > miny):
        msg = f"friction surface: empty bounds {bounds!r}; give (minx, miny, maxx, maxy)"
        raise GisError(msg)
    cols = max(1, math.ceil((maxx - minx) / cell_size_m))
    rows = max(1, math.ceil((maxy - miny) / cell_size_m))
    transform = Affine(cell_size_m, 0.0, minx, 0.0, -cell_size_m, miny + rows * cell_size_m)
    crs = CRS.from_user_input(crs)
    if landcover is None:
        speed = np.full((rows, cols), float(offroad_speed_kmh))
    else:
        speed = _landcover_speeds(landcover, landcover_transform, landcover_crs,
                                  landcover_speeds_kmh, shape=(rows, cols),
                                  transform=transform, crs=crs,
                                  default_kmh=offroad_speed_kmh)
    if roads is not None and len(roads):
        table = dict(class_speeds_kmh) if class_speeds_kmh is not None else class_speeds(mode)
        v = line_speeds_kmh(roads, mode=mode, class_speeds_kmh=table)
        if "is_ferry" in roads:
            ferry = roads["is_ferry"].to_numpy(bool)
            dur = roads["ferry_duration_min"].to_numpy(float) if "ferry_duration_min" in roads \
                else np.full(len(roads), np.nan)
            length_km = roads.geometry.length.to_numpy() / 1000.0
            with np.errstate(divide="ignore", invalid="ignore"):
                fv = np.where(np.isfinite(dur) & (dur > 0), length_km / (dur / 60.0),
                              ferry_speed_kmh)
            v = np.where(ferry, fv, v)
        geoms = roads.geometry.to_numpy()
        order = np.argsort(v, kind="stable")          # slowest first: the fastest burns last
        order = order[v[order] > 0]
        if len(order):
            burned = rasterize(zip(geoms[order], v[order], strict=True), out_shape=(rows, cols),
                               transform=transform, fill=0.0, dtype="float64")
            speed = np.where(burned > 0, burned, speed)
    return FrictionSurface(speed_kmh=speed, transform=transform, crs=crs,
                           cell_size_m=float(cell_size_m))


def _landcover_speeds(landcover, lc_transform, lc_crs, table, *, shape, transform, crs,
                      default_kmh) -> np.ndarray:
    from rasterio.enums import Resampling
    from rasterio.warp import reproject

    missing = [name for name, v in (("landcover_transform", lc_transform),
                                    ("landcover_crs", lc_crs),
                                    ("landcover_speeds_kmh", table)) if v is None]
    if missing:
        msg = f"land cover given without {', '.join(missing)}: give the raster's transform, " \
              "CRS and a class -> speed table"
        raise GisError(msg)
    classes = np.full(shape, -1, np.int64)
    reproject(np.asarray(landcover).astype(np.int64), classes, src_transform=lc_transform,
              src_crs=CRS.from_user_input(lc_crs).to_wkt(), dst_transform=transform,
              dst_crs=crs.to_wkt(), resampling=Resampling.nearest, src_nodata=None,
              dst_nodata=-1)
    default = float(table.get("default", default_kmh))
    speed = np.full(shape, default)
    for cls, v in table.items():
        if cls == "default":
            continue
        speed[classes == int(cls)] = float(v)
    return speed


@dataclass(frozen=True)
class FrictionReport:
    """What the friction model could and could not reach.

    Attributes
    ----------
    shape : (rows, cols)
    cell_size_m : float
    engine : str
    outside_origins, outside_dests : ndarray of int
        Points outside the grid (no time).
    impassable_origins, impassable_dests : ndarray of int
        Points on a pixel of speed 0 (no time).
    unreachable_origins, unreachable_dests : ndarray of int
        Reaching no destination / reached by no origin within the cut-off.
    """

    shape: tuple[int, int]
    cell_size_m: float
    engine: str
    outside_origins: np.ndarray
    outside_dests: np.ndarray
    impassable_origins: np.ndarray
    impassable_dests: np.ndarray
    unreachable_origins: np.ndarray
    unreachable_dests: np.ndarray

    def as_dict(self) -> dict[str, object]:
        return {"shape": list(self.shape), "cell_size_m": self.cell_size_m,
                "engine": self.engine,
                "outside_origins": int(len(self.outside_origins)),
                "outside_dests": int(len(self.outside_dests)),
                "impassable_origins": int(len(self.impassable_origins)),
                "impassable_dests": int(len(self.impassable_dests)),
                "unreachable_origins": int(len(self.unreachable_origins)),
                "unreachable_dests": int(len(self.unreachable_dests))}


def grid_times_mcp(cost: np.ndarray, sources: list[tuple[int, int]], at_rows: np.ndarray,
                   at_cols: np.ndarray) -> np.ndarray:
    """Minutes from each source pixel to the pixels ``(at_rows, at_cols)``, one
    ``skimage.graph.MCP_Geometric.find_costs`` per source (inf where not reached).

    The array find_costs returns is reused by its next call: values are taken at once.
    (scikit-image 0.26 ignores ``max_cumulative_cost``: every search covers the grid.)
    """
    try:
        from skimage.graph import MCP_Geometric  # optional: the reference engine only
    except ImportError as e:
        msg = ("friction engine 'mcp' needs scikit-image (pip install scikit-image); the "
               "default engine 'dijkstra' does not")
        raise GisError(msg) from e

    out = np.full((len(sources), len(at_rows)), np.inf)
    if not len(sources):
        return out
    mcp = MCP_Geometric(cost, fully_connected=True)
    for k, s in enumerate(sources):
        cum, _ = mcp.find_costs([s])
        out[k] = cum[at_rows, at_cols]
    return out


def friction_costs(
    origins_xy: np.ndarray,
    dests_xy: np.ndarray,
    surface: FrictionSurface,
    *,
    cutoff_min: float,
    origin_ids: np.ndarray | None = None,
    dest_ids: np.ndarray | None = None,
    engine: str = "dijkstra",
    block_mb: float = 128.0,
) -> tuple[CostTable, FrictionReport]:
    """Travel times from demand points to facilities on a friction surface.

    Parameters
    ----------
    origins_xy, dests_xy : ndarray, shape (n, 2)
        Working-CRS coordinates (metres); each stands at the centre of its pixel.
    surface : FrictionSurface
    cutoff_min : float
        Pairs slower than this are not stored (inclusive; ``inf``: every reachable pair).
    engine : {"dijkstra", "mcp"}
        See the module docstring; the same times.
    block_mb : float
        Memory of the times of the facilities searched together (16 bytes x origins each).

    Returns
    -------
    CostTable, FrictionReport
        ``dist_m`` the length of the fastest grid path (NaN with ``"mcp"``, which gives
        none); ``mode`` ``"friction"``.
    """
    if engine not in ENGINES:
        msg = f"friction engine {engine!r}: use one of {', '.join(map(repr, ENGINES))}"
        raise GisError(msg)
    origins_xy = np.asarray(origins_xy, float).reshape(-1, 2)
    dests_xy = np.asarray(dests_xy, float).reshape(-1, 2)
    n_o, n_d = len(origins_xy), len(dests_xy)
    origin_ids = np.arange(n_o) if origin_ids is None else np.asarray(origin_ids)
    dest_ids = np.arange(n_d) if dest_ids is None else np.asarray(dest_ids)
    cost = surface.minutes_per_cell()
    ro, co, in_o = surface.pixel_of(origins_xy)
    rd, cd, in_d = surface.pixel_of(dests_xy)
    ok_o = in_o.copy()
    ok_o[in_o] = np.isfinite(cost[ro[in_o], co[in_o]])
    ok_d = in_d.copy()
    ok_d[in_d] = np.isfinite(cost[rd[in_d], cd[in_d]])
    at = np.flatnonzero(ok_o)
    dest_list = np.flatnonzero(ok_d)
    per = max(1, int(block_mb * 2**20 // (16 * max(len(at), 1))))
    limit = cutoff_min * (1 + 1e-12)
    o_all, d_all, t_all, m_all = [], [], [], []
    for start in range(0, len(dest_list), per):
        js = dest_list[start:start + per]
        if engine == "mcp":
            times = grid_times_mcp(cost, [(int(rd[j]), int(cd[j])) for j in js], ro[at], co[at])
            steps = np.full(times.shape, np.nan)
        else:
            times, steps = grid_times(cost, np.column_stack([rd[js], cd[js]]),
                                      np.column_stack([ro[at], co[at]]), limit_min=limit)
        jj, oo = np.nonzero(np.isfinite(times) & (times <= limit))
        o_all.append(at[oo])
        d_all.append(js[jj])
        t_all.append(times[jj, oo])
        m_all.append(steps[jj, oo] * surface.cell_size_m)
        del times, steps
    o = np.concatenate(o_all) if o_all else np.zeros(0, np.int64)
    d = np.concatenate(d_all) if d_all else np.zeros(0, np.int64)
    t = np.concatenate(t_all) if t_all else np.zeros(0)
    m = np.concatenate(m_all) if m_all else np.zeros(0)
    order = np.lexsort((d, o))
    table = CostTable(origin=o[order].astype(np.int32), dest=d[order].astype(np.int32),
                      dist_m=m[order].astype(np.float32),
                      time_min=t[order].astype(np.float64), origin_ids=origin_ids,
                      dest_ids=dest_ids, cutoff_min=float(cutoff_min), mode="friction")
    reached_o = np.zeros(n_o, bool)
    reached_o[o] = True
    reached_d = np.zeros(n_d, bool)
    reached_d[d] = True
    report = FrictionReport(
        shape=surface.shape, cell_size_m=surface.cell_size_m, engine=engine,
        outside_origins=np.flatnonzero(~in_o), outside_dests=np.flatnonzero(~in_d),
        impassable_origins=np.flatnonzero(in_o & ~ok_o),
        impassable_dests=np.flatnonzero(in_d & ~ok_d),
        unreachable_origins=np.flatnonzero(~reached_o),
        unreachable_dests=np.flatnonzero(~reached_d))
    for what, arr in (("origins outside the grid", report.outside_origins),
                      ("origins on impassable pixels", report.impassable_origins),
                      ("facilities outside the grid", report.outside_dests),
                      ("facilities on impassable pixels", report.impassable_dests)):
        if len(arr):
            log.warning("friction model: %d %s (no times)", len(arr), what)
    return table, report
