"""GeoPackage files: every layer of a run (or the province's input layers) in one file, written
atomically."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio

from gis.errors import OutputError
from gis.outputs import files

log = logging.getLogger(__name__)

# Layers of more rows than this go through GDAL's Arrow interface: a third faster for the
# demand cells at 100 m (600,000 rows, text columns), the same fields, types and values (every
# layer of the 500 m run compared); smaller layers keep the row by row path, where a column
# of True/False/None is written as text, not as a boolean.
ARROW_ROWS = 100_000


def gpkg_ready(gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """A copy GDAL can write: lists joined with '; ', other objects as text, bools as ints."""
    out = gdf.copy()
    for col in out.columns:
        if col == out.geometry.name:
            continue
        s = out[col]
        if s.dtype == object:
            if s.map(lambda v: isinstance(v, list | tuple | set | np.ndarray)).any():
                out[col] = s.map(lambda v: "; ".join(map(str, v))
                                 if isinstance(v, list | tuple | set | np.ndarray) else v)
            elif not s.map(lambda v: v is None or isinstance(v, str | int | float)).all():
                out[col] = s.map(lambda v: None if v is None else str(v))
        elif pd.api.types.is_bool_dtype(s):
            out[col] = s.astype("int8")
    return out


def write_geopackage(layers: Mapping[str, gpd.GeoDataFrame | None], path: str | Path, *,
                     overwrite: bool = False) -> dict[str, int]:
    """Write every given layer into one GeoPackage, atomically.

    Parameters
    ----------
    layers : mapping of str to GeoDataFrame or None
        Layer name -> layer (any CRS that is declared; written as is). None or empty layers
        are skipped with a log message.
    path : path-like
        Output ``.gpkg``.
    overwrite : bool, default False
        Replace an existing file; otherwise raise :class:`~gis.errors.OutputError`.

    Returns
    -------
    dict of str to int
        Written layer -> number of features.
    """
    written: dict[str, int] = {}
    todo = {k: v for k, v in layers.items() if v is not None and len(v)}
    for k in set(layers) - set(todo):
        log.info("GeoPackage: layer %r is empty or absent; not written", k)
    if not todo:
        msg = f"no layer to write into {path}: every layer given is empty or absent"
        raise OutputError(msg)
    for name, gdf in todo.items():
        if gdf.crs is None:
            msg = (f"GeoPackage {path}: layer {name!r} has no CRS; declare it "
                   f"(GeoDataFrame.set_crs), normally the working CRS such as EPSG:32648")
            raise OutputError(msg)
    with files.atomic_path(path, overwrite=overwrite) as tmp:
        for i, (name, gdf) in enumerate(todo.items()):
            pyogrio.write_dataframe(
                gpkg_ready(gdf), tmp, layer=name, driver="GPKG",
                # GeoPackage 1.2: read without warnings by the GDAL of QGIS 3.22 LTR
                dataset_options={"VERSION": "1.2"} if i == 0 else None,
                use_arrow=len(gdf) > ARROW_ROWS)
            written[name] = len(gdf)
    return written
