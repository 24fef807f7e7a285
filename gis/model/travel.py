"""The travel model of a run, built once and asked for cost tables by every stage.

Three models give the same :class:`~gis.model.costs.CostTable`:

- ``"straight"``: straight line x detour factor at one speed per mode
  (:func:`gis.model.costs.straight_line_costs`), an estimate (labelled so everywhere);
- ``"roads"``: the road network of one mode (:func:`gis.model.roads.road_costs`): speeds per
  class, ``maxspeed``, one-way streets, ferries, off-road legs to the nearest usable road;
- ``"friction"``: a friction surface (:mod:`gis.model.friction`, AccessMod's model): a
  raster of speeds from off-road speeds or land cover with the roads burned in, times by a
  least-cost search on the grid.

A :class:`TravelModel` holds the prepared network or grid, so that the access stage, the new
sites of a plan (:func:`extend_costs`) and the transfers between facilities are costed by
the same model with the same parameters.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from gis.errors import GisError
from gis.model.costs import CostTable, straight_line_costs
from gis.model.friction import FrictionSurface, friction_costs, friction_surface
from gis.model.roads import RoadGraph, build_road_graph, road_costs

log = logging.getLogger(__name__)

MODELS = ("straight", "roads", "friction")
STRAIGHT_LABEL = "straight line x detour factor / speed"


@dataclass(frozen=True)
class TravelModel:
    """One travel model, ready to cost trips.

    Attributes
    ----------
    kind : {"straight", "roads", "friction"}
    mode : str
        Travel mode (``"motorbike"``, ``"car"``, ``"walking"``).
    speed_kmh, detour_factor : float
        The straight-line model's speed and detour factor; with the other models, used only
        for trips the roads or the grid do not cover (to central hospitals outside the
        province, see :func:`gis.analyses.network.facility_costs`).
    graph : RoadGraph, optional
        The road model's graph.
    surface : FrictionSurface, optional
        The friction model's speed raster.
    offroad_speed_kmh, snap_max_m : float
        Off-road legs of the road model (speed, longest leg).
    engine : str
        The friction model's grid search (``"dijkstra"`` or ``"mcp"``).
    source : str
        Where the roads or land cover came from (a file), for the outputs.
    """

    kind: str
    mode: str
    speed_kmh: float
    detour_factor: float
    graph: RoadGraph | None = None
    surface: FrictionSurface | None = None
    offroad_speed_kmh: float = 4.5
    snap_max_m: float = 2000.0
    engine: str = "dijkstra"
    source: str = ""

    @property
    def is_estimate(self) -> bool:
        """Straight-line times are estimates; road and grid times are computed on data."""
        return self.kind == "straight"

    def label(self) -> str:
        """The model in a few words, for maps and reports."""
        if self.kind == "straight":
            return (f"straight line x {self.detour_factor:g} at {self.speed_kmh:g} km/h "
                    f"({self.mode}): an estimate")
        if self.kind == "roads":
            return (f"road network ({self.mode}; off-road legs at {self.offroad_speed_kmh:g} "
                    f"km/h, up to {self.snap_max_m:,.0f} m)")
        assert self.surface is not None
        return (f"friction surface ({self.surface.cell_size_m:g} m pixels, {self.mode} on "
                f"roads, off-road {self.offroad_speed_kmh:g} km/h)")

    def describe(self) -> dict[str, Any]:
        """The model and its parameters (JSON values), for summary.json."""
        out: dict[str, Any] = {
            "model": STRAIGHT_LABEL if self.kind == "straight" else self.label(),
            "kind": self.kind, "mode": self.mode, "label": self.label(),
            "is_estimate": self.is_estimate}
        if self.kind == "straight":
            out.update(speed_kmh=self.speed_kmh, detour_factor=self.detour_factor)
        elif self.kind == "roads":
            assert self.graph is not None
            out.update(offroad_speed_kmh=self.offroad_speed_kmh, snap_max_m=self.snap_max_m,
                       roads=self.source, nodes=self.graph.n_nodes, edges=self.graph.n_edges,
                       ferry_edges=self.graph.ferry_edges, components=self.graph.components,
                       largest_length_share=self.graph.largest_length_share)
        else:
            assert self.surface is not None
            out.update(cell_size_m=self.surface.cell_size_m, shape=list(self.surface.shape),
                       offroad_speed_kmh=self.offroad_speed_kmh, engine=self.engine,
                       source=self.source)
        return out

    def costs(self, origins_xy: np.ndarray, dests_xy: np.ndarray, *, cutoff_min: float,
              origin_ids: np.ndarray | None = None, dest_ids: np.ndarray | None = None,
              origin_population: np.ndarray | None = None
              ) -> tuple[CostTable, dict[str, Any]]:
        """Pairs origin -> destination within ``cutoff_min`` (inclusive) by this model.

        Returns
        -------
        CostTable, dict
            The table, and what the model could not reach: ``unreached_origins`` (cells with
            no road within ``snap_max_m``, or outside the grid or on impassable pixels; a
            count), ``unreached_population`` (their persons, NaN without
            ``origin_population``), ``unreached_why``, and the model's own report.
        """
        origins_xy = np.asarray(origins_xy, float).reshape(-1, 2)
        dests_xy = np.asarray(dests_xy, float).reshape(-1, 2)
        pop = None if origin_population is None else np.asarray(origin_population, float)
        if self.kind == "straight":
            table = straight_line_costs(origins_xy, dests_xy, speed_kmh=self.speed_kmh,
                                        detour_factor=self.detour_factor,
                                        cutoff_min=cutoff_min, origin_ids=origin_ids,
                                        dest_ids=dest_ids, mode="straight_line")
            return table, {"unreached_origins": 0, "unreached_population": 0.0,
                           "unreached_why": ""}
        if self.kind == "roads":
            assert self.graph is not None
            table, rep = road_costs(origins_xy, dests_xy, self.graph, cutoff_min=cutoff_min,
                                    offroad_speed_kmh=self.offroad_speed_kmh,
                                    snap_max_m=self.snap_max_m, origin_ids=origin_ids,
                                    dest_ids=dest_ids, origin_population=pop)
            unreached = rep.unsnapped_origins
            why = f"more than {self.snap_max_m:,.0f} m from a road open to {self.mode}"
            info = rep.as_dict()
        else:
            assert self.surface is not None
            table, frep = friction_costs(origins_xy, dests_xy, self.surface,
                                         cutoff_min=cutoff_min, origin_ids=origin_ids,
                                         dest_ids=dest_ids, engine=self.engine)
            unreached = np.union1d(frep.outside_origins, frep.impassable_origins)
            why = "outside the friction grid or on an impassable pixel"
            info = frep.as_dict()
        info["unreached_origins"] = int(len(unreached))
        info["unreached_population"] = (float(pop[unreached].sum()) if pop is not None
                                        else math.nan)
        info["unreached_why"] = why
        return table, info


def straight_model(*, mode: str, speed_kmh: float, detour_factor: float) -> TravelModel:
    """The straight-line model: distance x ``detour_factor`` at ``speed_kmh``."""
    return TravelModel(kind="straight", mode=mode, speed_kmh=float(speed_kmh),
                       detour_factor=float(detour_factor))


def road_model(roads: gpd.GeoDataFrame, *, mode: str, speed_kmh: float,
               detour_factor: float, class_speeds_kmh: Mapping[str, float] | None = None,
               ferry_speed_kmh: float = 10.0, ferry_wait_min: float = 15.0,
               offroad_speed_kmh: float = 4.5, snap_max_m: float = 2000.0,
               source: str = "") -> TravelModel:
    """The road model of one mode: its graph built once (see
    :func:`gis.model.roads.build_road_graph`). ``speed_kmh`` and ``detour_factor`` serve the
    trips the roads do not cover (see :class:`TravelModel`)."""
    graph = build_road_graph(roads, mode=mode, class_speeds_kmh=class_speeds_kmh,
                             ferry_speed_kmh=ferry_speed_kmh, ferry_wait_min=ferry_wait_min)
    return TravelModel(kind="roads", mode=mode, speed_kmh=float(speed_kmh),
                       detour_factor=float(detour_factor), graph=graph,
                       offroad_speed_kmh=float(offroad_speed_kmh),
                       snap_max_m=float(snap_max_m), source=source)


def friction_model(bounds: tuple[float, float, float, float], *, crs: Any, mode: str,
                   speed_kmh: float, detour_factor: float, cell_size_m: float,
                   roads: gpd.GeoDataFrame | None = None,
                   class_speeds_kmh: Mapping[str, float] | None = None,
                   offroad_speed_kmh: float = 4.5, ferry_speed_kmh: float = 10.0,
                   landcover: np.ndarray | None = None, landcover_transform: Any = None,
                   landcover_crs: Any = None,
                   landcover_speeds_kmh: Mapping[Any, float] | None = None,
                   engine: str = "dijkstra", source: str = "") -> TravelModel:
    """The friction model: a speed raster over ``bounds`` (working CRS, metres; see
    :func:`gis.model.friction.friction_surface`) searched by ``engine``."""
    surface = friction_surface(bounds, cell_size_m=cell_size_m, crs=crs, roads=roads, mode=mode,
                               class_speeds_kmh=class_speeds_kmh,
                               offroad_speed_kmh=offroad_speed_kmh,
                               ferry_speed_kmh=ferry_speed_kmh, landcover=landcover,
                               landcover_transform=landcover_transform,
                               landcover_crs=landcover_crs,
                               landcover_speeds_kmh=landcover_speeds_kmh)
    if engine not in ("dijkstra", "mcp"):
        msg = f"friction engine {engine!r}: use 'dijkstra' or 'mcp'"
        raise GisError(msg)
    return TravelModel(kind="friction", mode=mode, speed_kmh=float(speed_kmh),
                       detour_factor=float(detour_factor), surface=surface,
                       offroad_speed_kmh=float(offroad_speed_kmh), engine=engine,
                       source=source)


def extend_costs(costs: CostTable, demand: pd.DataFrame, sites: gpd.GeoDataFrame, *,
                 travel: TravelModel | None = None, speed_kmh: float | None = None,
                 detour_factor: float | None = None) -> CostTable:
    """``costs`` plus demand -> ``sites`` pairs by the same travel model and cut-off (for the
    new sites of a plan): ``travel`` must be the model that built ``costs`` (or, without it,
    the straight line at ``speed_kmh`` x ``detour_factor``)."""
    if travel is None:
        if speed_kmh is None or detour_factor is None:
            msg = "extend_costs: give travel=, or speed_kmh= and detour_factor="
            raise GisError(msg)
        travel = straight_model(mode="", speed_kmh=speed_kmh, detour_factor=detour_factor)
    sites = sites[~sites["facility_id"].isin(set(map(str, costs.dest_ids)))]
    if sites.empty:
        return costs
    xy = demand[["x", "y"]].to_numpy(float)
    sxy = sites.geometry.get_coordinates().to_numpy()
    ids = sites["facility_id"].astype(str).to_numpy()
    extra, _ = travel.costs(xy, sxy, cutoff_min=costs.cutoff_min, origin_ids=costs.origin_ids,
                            dest_ids=ids)
    o = np.concatenate([costs.origin, extra.origin])
    d = np.concatenate([costs.dest, extra.dest + costs.n_dests])
    order = np.lexsort((d, o))
    return CostTable(origin=o[order], dest=d[order],
                     dist_m=np.concatenate([costs.dist_m, extra.dist_m])[order],
                     time_min=np.concatenate([costs.time_min, extra.time_min])[order],
                     origin_ids=costs.origin_ids,
                     dest_ids=np.concatenate([np.asarray(costs.dest_ids).astype(object),
                                              ids.astype(object)]),
                     cutoff_min=costs.cutoff_min, mode=costs.mode)
