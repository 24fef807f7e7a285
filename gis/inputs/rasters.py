"""Rasters as the model uses them: the populated pixels of a population raster (e.g. WorldPop
GeoTIFF) as points in the working CRS (read by :func:`gis.inputs.readers.read_population_raster`),
and land-cover classes for the friction model (:func:`gis.inputs.readers.read_landcover`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class RasterPoints:
    """Populated pixels of a raster: centres ``x``, ``y`` (working CRS, metres) and ``value``
    (persons per pixel, > 0); ``name`` is the file name shown in messages."""

    x: np.ndarray
    y: np.ndarray
    value: np.ndarray
    name: str


@dataclass(frozen=True)
class LandCover:
    """Land-cover classes of a raster window: ``values`` (int64, -1 = no data), its affine
    ``transform`` and ``crs`` (WKT), and the file ``name`` shown in messages."""

    values: np.ndarray
    transform: Any
    crs: str
    name: str
