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
is NaN: the grid model gives times, not path lengths.

Two engines give the same times (to rounding, 1e-9 min): ``"mcp"`` (default), one
``skimage.graph.MCP_Geometric.find_costs`` per facility on one MCP object, and ``"sweep"``,
an exact relaxation of the 8-neighbour grid by row and column sweeps vectorised over a block
of facilities: about 7x faster than MCP where shortest paths rarely change direction (open
land, sparse straight roads), but several times slower on a dense network of winding roads,
where each change of direction costs a sweep (see bench/RESULTS.md).
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

from gis.costs import CostTable
from gis.errors import GisError
from gis.model.roads import class_speeds, line_speeds_kmh

log = logging.getLogger(__name__)

_SQRT2 = math.sqrt(2.0)


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
    """
    from skimage.graph import MCP_Geometric  # heavy optional dependency: only this engine

    out = np.full((len(sources), len(at_rows)), np.inf)
    if not len(sources):
        return out
    mcp = MCP_Geometric(cost, fully_connected=True)
    for k, s in enumerate(sources):
        cum, _ = mcp.find_costs([s])
        out[k] = cum[at_rows, at_cols]
    return out


class _RowSweeper:
    """Row sweeps of one orientation of the grid: ``T`` has shape (rows, k, cols)."""

    def __init__(self, cost: np.ndarray, k: int):
        self.n_rows, self.n_cols = cost.shape
        with np.errstate(invalid="ignore"):
            self.vert = (cost[:-1] + cost[1:]) / 2                      # (i,j)-(i+1,j)
            self.diag_r = _SQRT2 * (cost[:-1, :-1] + cost[1:, 1:]) / 2   # (i,j)-(i+1,j+1)
            self.diag_l = _SQRT2 * (cost[:-1, 1:] + cost[1:, :-1]) / 2   # (i,j+1)-(i+1,j)
            step = (cost[:, :-1] + cost[:, 1:]) / 2                     # (i,j)-(i,j+1)
        passable = np.isfinite(cost)
        self.runs = []   # per row: (start, stop, cumulative cost from start) of passable runs
        for i in range(self.n_rows):
            row_runs = []
            edges = np.flatnonzero(np.diff(np.r_[0, passable[i].astype(np.int8), 0]))
            for a, b in zip(edges[::2], edges[1::2], strict=True):
                cum = np.zeros(b - a)
                np.cumsum(step[i, a:b - 1], out=cum[1:])
                row_runs.append((a, b, cum))
            self.runs.append(row_runs)
        self.buf = np.empty((k, self.n_cols))
        self.old = np.empty((k, self.n_cols))

    def along_row(self, T: np.ndarray, i: int) -> None:
        row = T[i]
        for a, b, cum in self.runs[i]:
            seg = row[:, a:b]
            part = self.buf[:, :b - a]
            # left to right: T[j] = S[j] + min over k <= j of (T[k] - S[k])
            np.subtract(seg, cum, out=part)
            np.minimum.accumulate(part, axis=1, out=part)
            part += cum
            np.minimum(seg, part, out=seg)
            # right to left: T[j] = -S[j] + min over k >= j of (T[k] + S[k])
            np.add(seg, cum, out=part)
            rev = part[:, ::-1]
            np.minimum.accumulate(rev, axis=1, out=rev)
            part -= cum
            np.minimum(seg, part, out=seg)

    def from_row(self, T: np.ndarray, i: int, p: int) -> None:
        e = min(i, p)
        row, prev, buf = T[i], T[p], self.buf
        down = p < i
        d_in = self.diag_r[e] if down else self.diag_l[e]      # prev[j] -> row[j+1]
        d_out = self.diag_l[e] if down else self.diag_r[e]     # prev[j+1] -> row[j]
        np.add(prev, self.vert[e], out=buf)
        np.minimum(row, buf, out=row)
        np.add(prev[:, :-1], d_in, out=buf[:, 1:])
        np.minimum(row[:, 1:], buf[:, 1:], out=row[:, 1:])
        np.add(prev[:, 1:], d_out, out=buf[:, :-1])
        np.minimum(row[:, :-1], buf[:, :-1], out=row[:, :-1])

    def phase(self, T: np.ndarray, *, tol_min: float, max_sweeps: int) -> tuple[int, bool]:
        """Down and up sweeps until one makes no change; returns (sweeps, anything
        changed). Rows whose neighbour did not change since they last used it are
        skipped."""
        n = self.n_rows
        version = np.zeros(n, np.int64)
        reached = np.array([np.isfinite(T[i]).any() for i in range(n)])
        seen = {True: np.full(n, -1, np.int64), False: np.full(n, -1, np.int64)}
        any_change = False
        sweeps = 0
        while sweeps < max_sweeps:
            down = sweeps % 2 == 0
            sweeps += 1
            changed = False
            last = seen[down]
            for i in (range(1, n) if down else range(n - 2, -1, -1)):
                p = i - 1 if down else i + 1
                if not reached[p] or last[i] == version[p]:
                    continue
                last[i] = version[p]
                self.old[...] = T[i]
                self.from_row(T, i, p)
                self.along_row(T, i)
                with np.errstate(invalid="ignore"):
                    if (self.old - T[i] > tol_min).any():
                        version[i] += 1
                        reached[i] = True
                        changed = True
            any_change |= changed
            if not changed and sweeps >= 2:
                break
        return sweeps, any_change


def grid_times_sweep(cost: np.ndarray, sources: list[tuple[int, int]], *,
                     tol_min: float = 1e-9, max_sweeps: int = 10_000,
                     phase_sweeps: int = 2) -> np.ndarray:
    """Minutes from each source pixel to every pixel of the grid, shape (sources, rows, cols).

    The same graph as ``MCP_Geometric`` (8 neighbours, a move costs the mean of its two
    pixels' costs x its length), solved by relaxation. A row sweep goes down the rows, then
    up: a row takes the best of its neighbours in the row before (straight and diagonal
    moves), then the best along its own row in both directions at once (a prefix-minimum of
    ``time - cumulative cost``, exact for every run of passable pixels); it settles every
    path whose row changes in one direction. Column sweeps do the same on the transposed
    grid. Row and column phases of ``phase_sweeps`` sweeps alternate until a row phase and
    a column phase in a row lower no time by more than ``tol_min``: then no move can shorten
    any time, and the times are the shortest paths. (Alternating orientations matters on
    real roads: a road that wiggles up and down while running east needs one column sweep,
    but a row sweep per wiggle.) All sources of the call are swept together (vectorised);
    rows whose inputs did not change are skipped.
    """
    cost = np.asarray(cost, float)
    n_rows, n_cols = cost.shape
    k = len(sources)
    T = np.full((n_rows, k, n_cols), np.inf)
    for q, (r, c) in enumerate(sources):
        if np.isfinite(cost[r, c]):
            T[r, q, c] = 0.0
    if not k:
        return np.moveaxis(T, 1, 0)
    rows = _RowSweeper(cost, k)
    for i in range(n_rows):
        rows.along_row(T, i)
    cols = _RowSweeper(np.ascontiguousarray(cost.T), k)
    total, phases, quiet = 0, 0, 0
    by_rows = True
    # short phases (a sweep down and one up), orientations alternating, until a row phase
    # and a column phase in a row change nothing
    while total < max_sweeps and quiet < 2:
        if by_rows:
            done, changed = rows.phase(T, tol_min=tol_min, max_sweeps=phase_sweeps)
        else:
            Tc = np.ascontiguousarray(T.transpose(2, 1, 0))       # (cols, k, rows)
            del T
            for j in range(n_cols):
                cols.along_row(Tc, j)
            done, changed = cols.phase(Tc, tol_min=tol_min, max_sweeps=phase_sweeps)
            T = np.ascontiguousarray(Tc.transpose(2, 1, 0))
            del Tc
        total += done
        phases += 1
        quiet = 0 if changed else quiet + 1
        by_rows = not by_rows
    log.debug("grid sweep: %d sources, %d sweeps in %d phases", k, total, phases)
    return np.moveaxis(T, 1, 0)


def friction_costs(
    origins_xy: np.ndarray,
    dests_xy: np.ndarray,
    surface: FrictionSurface,
    *,
    cutoff_min: float,
    origin_ids: np.ndarray | None = None,
    dest_ids: np.ndarray | None = None,
    engine: str = "mcp",
    block_mb: float = 128.0,
) -> tuple[CostTable, FrictionReport]:
    """Travel times from demand points to facilities on a friction surface.

    Parameters
    ----------
    origins_xy, dests_xy : ndarray, shape (n, 2)
        Working-CRS coordinates (metres); each stands at the centre of its pixel.
    surface : FrictionSurface
    cutoff_min : float
        Pairs slower than this are not stored (inclusive).
    engine : {"sweep", "mcp"}
        See the module docstring; the same times.
    block_mb : float
        Memory of the facilities swept together (``"sweep"``: 8 bytes x pixels each).

    Returns
    -------
    CostTable, FrictionReport
        ``dist_m`` NaN (the grid gives no path length); ``mode`` ``"friction"``.
    """
    if engine not in ("sweep", "mcp"):
        msg = f"friction engine {engine!r}: use 'sweep' or 'mcp'"
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
    per = max(1, int(block_mb * 2**20 // (8 * cost.size)))
    limit = cutoff_min * (1 + 1e-12)
    o_all, d_all, t_all = [], [], []
    for start in range(0, len(dest_list), per):
        js = dest_list[start:start + per]
        src = [(int(rd[j]), int(cd[j])) for j in js]
        if engine == "mcp":
            times = grid_times_mcp(cost, src, ro[at], co[at])
        else:
            times = grid_times_sweep(cost, src)[:, ro[at], co[at]]
        jj, oo = np.nonzero(np.isfinite(times) & (times <= limit))
        o_all.append(at[oo])
        d_all.append(js[jj])
        t_all.append(times[jj, oo])
    o = np.concatenate(o_all) if o_all else np.zeros(0, np.int64)
    d = np.concatenate(d_all) if d_all else np.zeros(0, np.int64)
    t = np.concatenate(t_all) if t_all else np.zeros(0)
    order = np.lexsort((d, o))
    table = CostTable(origin=o[order].astype(np.int32), dest=d[order].astype(np.int32),
                      dist_m=np.full(len(o), np.nan, np.float32),
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
