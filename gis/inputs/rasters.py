"""Rasters as the model uses them, handed over as arrays so the model never opens a file: a
population raster (e.g. WorldPop) as a window of persons per pixel with its grid, made by
:func:`gis.inputs.readers.read_population_raster` (a user's GeoTIFF) or from the built-in base
data (:func:`gis.inputs.basedata.worldpop_window`); land-cover classes for the friction model
(:func:`gis.inputs.readers.read_landcover`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from affine import Affine


@dataclass(frozen=True)
class PopulationGrid:
    """Persons per pixel on a north-up grid.

    Attributes
    ----------
    values : ndarray of float, rows x columns
        Persons per pixel; NaN, negative or 0 where nobody lives or the raster has no data.
    transform : Affine
        Pixel corners in ``crs`` units: ``(x, y) = transform * (column, row)``.
    crs : str
        CRS of the grid (e.g. ``"EPSG:4326"``), any string pyproj understands.
    name : str
        What the grid is (a file name, or the base data's WorldPop), shown in messages.
    """

    values: np.ndarray
    transform: Affine
    crs: str
    name: str

    def populated(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Rows, columns and persons of the pixels with more than 0 persons."""
        v = np.asarray(self.values, dtype=float)
        ok = np.isfinite(v) & (v > 0)
        rows, cols = np.nonzero(ok)
        return rows, cols, v[rows, cols]

    def total(self) -> float:
        """Persons in the window (NaN and negative pixels count as 0)."""
        return float(self.populated()[2].sum())

@dataclass(frozen=True)
class LandCover:
    """Land-cover classes of a raster window: ``values`` (int64, -1 = no data), its affine
    ``transform`` and ``crs`` (WKT), and the file ``name`` shown in messages."""

    values: np.ndarray
    transform: Any
    crs: str
    name: str
