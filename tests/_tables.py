"""Cost tables written by hand for the tests: exact minutes, no travel model in between."""

from __future__ import annotations

import numpy as np

from gis.model.costs import CostTable


def table(D, *, cutoff: float | None = None, dest_ids=None, origin_ids=None,
          mode: str = "test") -> CostTable:
    """Cost table from a dense minutes matrix: ``inf`` (or a time above ``cutoff``) is a pair
    not stored. Distances are minutes x 500 m (30 km/h)."""
    D = np.asarray(D, dtype=float)
    n, m = D.shape
    finite = np.isfinite(D)
    cutoff = float(D[finite].max()) if cutoff is None else float(cutoff)
    o, d = np.nonzero(finite & (D <= cutoff))  # row-major: sorted by origin, then dest
    ids = np.array([f"S{j}" for j in range(m)]) if dest_ids is None else np.asarray(dest_ids)
    oids = np.arange(n) if origin_ids is None else np.asarray(origin_ids)
    return CostTable(origin=o.astype(np.int32), dest=d.astype(np.int32),
                     dist_m=(D[o, d] * 500.0).astype(np.float32), time_min=D[o, d],
                     origin_ids=oids, dest_ids=ids, cutoff_min=cutoff, mode=mode)


def dense(costs: CostTable) -> np.ndarray:
    """The table as a dense minutes matrix (``inf`` where no pair is stored)."""
    D = np.full((costs.n_origins, costs.n_dests), np.inf)
    D[costs.origin, costs.dest] = costs.time_min
    return D


def above(x: float) -> float:
    """The next float above ``x``: the smallest time that is beyond a threshold ``x``."""
    return float(np.nextafter(x, np.inf))
