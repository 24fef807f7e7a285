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
the same model with the same parameters. :meth:`TravelModel.cost_model` gives the costs as a
:class:`~gis.model.costs.CostModel` (the sized tables of the plans, the location models and
the network): the straight line computes each table asked for, the road and friction models
cut it from their searched table.
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
from gis.model.costs import (
    CostModel,
    CostTable,
    StraightLineModel,
    TableModel,
    append_dests,
    straight_line_costs,
)
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
        """The model in a few words, for maps and reports (in English: the outputs translate
        it as one of :data:`gis.outputs.i18n.DATA_TEMPLATES`)."""
        if self.kind == "straight":
            return (f"straight line x {self.detour_factor:g} at {self.speed_kmh:g} km/h "
                    f"({self.mode}): an estimate")
        if self.kind == "roads":
            return (f"road network ({self.mode}; off-road legs at {self.offroad_speed_kmh:g} "
                    f"km/h, up to {self.snap_max_m:g} m)")
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
            why = f"more than {self.snap_max_m:g} m from a road open to {self.mode}"
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

    def cost_model(self, origins_xy: np.ndarray, dests_xy: np.ndarray, *, cutoff_min: float,
                   origin_ids: np.ndarray | None = None, dest_ids: np.ndarray | None = None,
                   table: CostTable | None = None) -> CostModel:
        """The costs origin -> destination as a :class:`~gis.model.costs.CostModel`, which
        answers each analysis with the table it needs.

        The straight line: a :class:`~gis.model.costs.StraightLineModel` (no table built
        until asked). The road and friction models: a :class:`~gis.model.costs.TableModel`
        on the table of :meth:`costs` (or ``table``, when the caller searched it already with
        these origins, destinations and cut-off), which costs a plan's new sites by this
        model (:meth:`~gis.model.costs.CostModel.with_dests`).
        """
        origins_xy = np.asarray(origins_xy, float).reshape(-1, 2)
        dests_xy = np.asarray(dests_xy, float).reshape(-1, 2)
        if self.kind == "straight":
            return StraightLineModel(origins_xy, dests_xy, speed_kmh=self.speed_kmh,
                                     detour_factor=self.detour_factor, cutoff_min=cutoff_min,
                                     origin_ids=origin_ids, dest_ids=dest_ids,
                                     mode="straight_line")
        if table is None:
            table, _ = self.costs(origins_xy, dests_xy, cutoff_min=cutoff_min,
                                  origin_ids=origin_ids, dest_ids=dest_ids)
        if table.n_origins != len(origins_xy) or table.n_dests != len(dests_xy):
            msg = (f"cost_model: the table has {table.n_origins} origins and {table.n_dests} "
                   f"destinations for {len(origins_xy)} and {len(dests_xy)} points given")
            raise GisError(msg)
        ids = table.origin_ids

        def extend(xy: np.ndarray, new_ids: np.ndarray) -> CostTable:
            return self.costs(origins_xy, xy, cutoff_min=table.cutoff_min, origin_ids=ids,
                              dest_ids=new_ids)[0]

        return TableModel(table, extend=extend)


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


def extend_costs(costs: CostTable | CostModel, demand: pd.DataFrame, sites: gpd.GeoDataFrame,
                 *, travel: TravelModel | None = None, speed_kmh: float | None = None,
                 detour_factor: float | None = None) -> CostTable | CostModel:
    """``costs`` plus demand -> ``sites`` pairs by the same travel model and cut-off (for the
    new sites of a plan).

    A :class:`~gis.model.costs.CostModel` gets the sites as more destinations of its own
    model (:meth:`~gis.model.costs.CostModel.with_dests`: the straight line at its speed and
    detour factor, the road or friction model by a search from each site). A table gets the
    pairs of ``travel``, which must be the model that built it (or, without it, the straight
    line at ``speed_kmh`` x ``detour_factor``).
    """
    sites = sites[~sites["facility_id"].isin(set(map(str, costs.dest_ids)))]
    if sites.empty:
        return costs
    sxy = sites.geometry.get_coordinates().to_numpy()
    ids = sites["facility_id"].astype(str).to_numpy()
    if isinstance(costs, CostModel):
        return costs.with_dests(sxy, ids)
    if travel is None:
        if speed_kmh is None or detour_factor is None:
            msg = "extend_costs: give travel=, or speed_kmh= and detour_factor="
            raise GisError(msg)
        travel = straight_model(mode="", speed_kmh=speed_kmh, detour_factor=detour_factor)
    xy = demand[["x", "y"]].to_numpy(float)
    extra, _ = travel.costs(xy, sxy, cutoff_min=costs.cutoff_min, origin_ids=costs.origin_ids,
                            dest_ids=ids)
    return append_dests(costs, extra)
