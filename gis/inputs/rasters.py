"""Population rasters (e.g. WorldPop GeoTIFF) as the model uses them: the populated pixels as
points in the working CRS (read by :func:`gis.inputs.readers.read_population_raster`)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class RasterPoints:
    """Populated pixels of a raster: centres ``x``, ``y`` (working CRS, metres) and ``value``
    (persons per pixel, > 0); ``name`` is the file name shown in messages."""

    x: np.ndarray
    y: np.ndarray
    value: np.ndarray
    name: str
