"""Capacity-limited coverage, its order-independent optimum, and scaling up (see
:mod:`gis.analyses.capacity.core` for the methods and AccessMod's algorithm as read from its
source), and the capacity stage (:mod:`gis.analyses.capacity.stage`). May import what
:mod:`gis.analyses` may."""

from gis.analyses.capacity.core import (
    BANDS,
    CATCHMENT_KINDS,
    ORDERS,
    CapacityResult,
    ScaleUpResult,
    capacity_coverage,
    capacity_optimum,
    catchment_polygons,
    scale_up,
    scale_up_budgets,
    scale_up_curve,
)
from gis.analyses.capacity.stage import (
    STATUSES,
    CapacityRun,
    ScaleUpRequest,
    TierCapacity,
    TierRun,
    candidate_grid,
    capacity_norm,
    listed_candidates,
    merge_demand,
    run_capacity,
    scale_up_blocker,
    skip_scale_up,
    station_candidates,
    with_scale_up,
)

__all__ = [
    "BANDS",
    "CATCHMENT_KINDS",
    "ORDERS",
    "STATUSES",
    "CapacityResult",
    "CapacityRun",
    "ScaleUpRequest",
    "ScaleUpResult",
    "TierCapacity",
    "TierRun",
    "candidate_grid",
    "capacity_coverage",
    "capacity_norm",
    "capacity_optimum",
    "catchment_polygons",
    "listed_candidates",
    "merge_demand",
    "run_capacity",
    "scale_up",
    "scale_up_blocker",
    "scale_up_budgets",
    "scale_up_curve",
    "skip_scale_up",
    "station_candidates",
    "with_scale_up",
]
