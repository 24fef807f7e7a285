"""Brute-force references for the real-data figures: every distance computed, no cost table, no
solver. The README's worked example is checked against these (tests/test_pipeline.py)."""

from __future__ import annotations

import itertools

import numpy as np
import shapely


def xy(gdf) -> np.ndarray:
    """Point coordinates (n x 2) of a GeoDataFrame of points."""
    return np.column_stack([shapely.get_x(gdf.geometry.to_numpy()),
                            shapely.get_y(gdf.geometry.to_numpy())])


def times(units: np.ndarray, sites: np.ndarray, *, speed_kmh: float, detour: float
          ) -> np.ndarray:
    """Minutes from every unit to every site: straight line x detour / speed (units x sites)."""
    out = np.empty((len(units), len(sites)))
    step = 4096
    for a in range(0, len(units), step):
        d = np.hypot(units[a:a + step, None, 0] - sites[None, :, 0],
                     units[a:a + step, None, 1] - sites[None, :, 1])
        out[a:a + step] = d * detour / (speed_kmh * 1000 / 60)
    return out


def nearest(units: np.ndarray, sites: np.ndarray, *, speed_kmh: float, detour: float
            ) -> tuple[np.ndarray, np.ndarray]:
    """Position of the nearest site and its time, per unit."""
    t = times(units, sites, speed_kmh=speed_kmh, detour=detour)
    j = t.argmin(axis=1)
    return j, t[np.arange(len(units)), j]


def covered(time_min: np.ndarray, pop: np.ndarray, limit: float,
            cutoff_min: float = np.inf) -> float:
    """Persons within ``limit`` minutes (inclusive; beyond the cut-off counts as not)."""
    return float(pop[(time_min <= limit) & (time_min <= cutoff_min)].sum())


def weighted_quantile(values: np.ndarray, weights: np.ndarray, q: float) -> float:
    """The smallest value with at least ``q`` of the weight at or below it."""
    order = np.argsort(values, kind="stable")
    cum = np.cumsum(weights[order])
    return float(values[order][np.searchsorted(cum, q * cum[-1])])


def best_branches(base_time: np.ndarray, cand_time: np.ndarray, pop: np.ndarray, limit: float,
                  k: int) -> tuple[float, tuple[int, ...]]:
    """Most persons within ``limit`` with ``k`` candidates added to the base sites, by trying
    every combination of the candidates that cover someone the base leaves out."""
    out = base_time > limit
    useful = [j for j in range(cand_time.shape[1])
              if ((cand_time[:, j] <= limit) & out & (pop > 0)).any()]
    base = float(pop[~out].sum())
    best, pick = base, ()
    for combo in itertools.combinations(useful, min(k, len(useful))):
        gain = float(pop[out & (cand_time[:, list(combo)] <= limit).any(axis=1)].sum())
        if base + gain > best + 1e-9:
            best, pick = base + gain, combo
    return best, pick
