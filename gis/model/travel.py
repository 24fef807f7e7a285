"""The travel model as a whole: costs from demand to sites by the straight-line or the road
model, with the same cut-off, for the sites a table does not hold yet (new plan sites)."""

from __future__ import annotations

import logging
from collections.abc import Mapping

import geopandas as gpd
import numpy as np
import pandas as pd

from gis.model.costs import CostTable, StraightLineModel, straight_line_costs
from gis.model.roads import road_costs

log = logging.getLogger(__name__)


def extend_costs(costs: CostTable | StraightLineModel, demand: pd.DataFrame,
                 sites: gpd.GeoDataFrame, *, speed_kmh: float, detour_factor: float,
                 roads: gpd.GeoDataFrame | None = None,
                 road_speeds_kmh: Mapping[str, float] | None = None,
                 walking_speed_kmh: float = 4.5) -> CostTable | StraightLineModel:
    """``costs`` plus demand -> ``sites`` pairs by the same travel model and cut-off (for the
    new sites of a plan). A :class:`~gis.model.costs.StraightLineModel` gets the sites as
    more destinations of its own model (its speed and detour factor)."""
    sites = sites[~sites["facility_id"].isin(set(map(str, costs.dest_ids)))]
    if sites.empty:
        return costs
    if isinstance(costs, StraightLineModel):
        return costs.with_dests(sites.geometry.get_coordinates().to_numpy(),
                                sites["facility_id"].astype(str).to_numpy())
    xy = demand[["x", "y"]].to_numpy(float)
    sxy = sites.geometry.get_coordinates().to_numpy()
    ids = sites["facility_id"].astype(str).to_numpy()
    if roads is not None:
        extra, _ = road_costs(xy, sxy, roads, speeds_kmh=dict(road_speeds_kmh or {}),
                              walking_speed_kmh=walking_speed_kmh, cutoff_min=costs.cutoff_min,
                              origin_ids=costs.origin_ids, dest_ids=ids)
    else:
        extra = straight_line_costs(xy, sxy, speed_kmh=speed_kmh, detour_factor=detour_factor,
                                    cutoff_min=costs.cutoff_min, origin_ids=costs.origin_ids,
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
