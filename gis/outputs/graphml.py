"""GraphML files of the referral and satellite-hospital network."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import networkx as nx
import numpy as np
import shapely

from gis.outputs import files

log = logging.getLogger(__name__)


def _scalar(value: Any) -> Any:
    """A GraphML-writable scalar, or None to drop the attribute."""
    if value is None:
        return None
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        return float(value) if np.isfinite(value) else None
    if isinstance(value, str):
        return value
    if isinstance(value, list | tuple | set):
        return "; ".join(str(v) for v in value)
    if hasattr(value, "to_string") and hasattr(value, "to_wkt"):  # pyproj CRS
        return value.to_string()
    if isinstance(value, shapely.Geometry):
        return value.wkt
    return str(value)


def graphml_ready(G: nx.DiGraph) -> nx.DiGraph:
    """A copy of ``G`` whose attributes GraphML can hold: NaN/None dropped (unknown stays
    unknown, never 0), lists joined with "; ", the CRS as text (``crs``) and WKT
    (``crs_wkt``), geometries as WKT."""
    H = nx.DiGraph()
    for k, v in G.graph.items():
        s = _scalar(v)
        if s is not None and s != "":
            H.graph[k] = s
    crs = G.graph.get("crs")
    if crs is not None and hasattr(crs, "to_wkt"):
        H.graph["crs_wkt"] = crs.to_wkt()
    for n, d in G.nodes(data=True):
        H.add_node(str(n), **{k: s for k, v in d.items() if (s := _scalar(v)) is not None})
    for u, v, d in G.edges(data=True):
        H.add_edge(str(u), str(v), **{k: s for k, v2 in d.items()
                                      if (s := _scalar(v2)) is not None})
    return H


def write_graphml(graph: nx.DiGraph, path: str | Path, *, overwrite: bool = False) -> Path:
    """Write the graph as GraphML atomically (temporary file, then rename).

    Raises
    ------
    OutputError
        ``path`` exists and ``overwrite`` is false, or the folder is not writable.
    """

    path = Path(path)
    with files.atomic_path(path, overwrite=overwrite) as tmp:
        nx.write_graphml(graphml_ready(graph), tmp, encoding="utf-8")
    return path
