"""Layers of the network for the GeoPackage and the maps: edges as lines, hubs as points."""

from __future__ import annotations

import logging
from typing import Any

import geopandas as gpd
import networkx as nx
import pandas as pd
import shapely

from gis.analyses.network.graph import SATELLITE

log = logging.getLogger(__name__)


def _line(G: nx.DiGraph, u: str, v: str) -> shapely.LineString:
    a, b = G.nodes[u], G.nodes[v]
    return shapely.LineString([(a["x"], a["y"]), (b["x"], b["y"])])


def edge_layer(G: nx.DiGraph, kind: str) -> gpd.GeoDataFrame:
    """Edges of one kind as LineStrings (from -> to) in the graph's CRS.

    Columns ``from_id``, ``to_id``, ``from_name``, ``to_name``, ``from_tier``, ``to_tier``,
    ``time_min``, ``dist_m``, ``kind``, ``source``; satellite edges also ``core_id``,
    ``satellite_id``, ``specialty``, ``since`` (from = core, to = satellite).
    """
    rows, geoms = [], []
    for u, v, d in G.edges(data=True):
        if d.get("kind") != kind:
            continue
        rec = {"from_id": u, "to_id": v, "from_name": G.nodes[u].get("name", ""),
               "to_name": G.nodes[v].get("name", ""), "from_tier": G.nodes[u].get("tier", ""),
               "to_tier": G.nodes[v].get("tier", ""), "time_min": d["time_min"],
               "dist_m": d["dist_m"], "kind": kind, "source": d.get("source", "")}
        if kind == SATELLITE:
            rec.update(core_id=u, satellite_id=v, specialty=d.get("specialty", ""),
                       since=d.get("since", ""))
        rows.append(rec)
        geoms.append(_line(G, u, v))
    cols = ["from_id", "to_id", "from_name", "to_name", "from_tier", "to_tier", "time_min",
            "dist_m", "kind", "source"]
    if kind == SATELLITE:
        cols += ["core_id", "satellite_id", "specialty", "since"]
    return gpd.GeoDataFrame(pd.DataFrame(rows, columns=cols), geometry=geoms,
                            crs=G.graph.get("crs"))


def hubs_layer(hubs: pd.DataFrame, crs: Any) -> gpd.GeoDataFrame:
    """:func:`hub_load` as Points (``load`` = persons behind the hub)."""
    return gpd.GeoDataFrame(hubs.drop(columns=["x", "y"]),
                            geometry=shapely.points(hubs["x"].to_numpy(float),
                                                    hubs["y"].to_numpy(float)), crs=crs)
