"""Capacity-limited coverage, its order-independent optimum, and scaling up.

Pure functions on the sparse :class:`~gis.model.costs.CostTable` (demand cells -> facilities,
minutes) with a population per cell (persons) and a capacity per facility (persons a facility
can serve). Every result splits each cell's population exactly into *served*, *not served for
lack of capacity* (within ``max_time_min`` of some facility, but unserved) and *beyond the time
limit* (no facility within ``max_time_min``): ``served + not_served_capacity + beyond_time ==
population`` holds per cell in floating point, exactly (served and not served are split so that
their float sum is the population: served moves by at most half a unit in the last place, see
``_split``). Times are inclusive: a cell exactly ``max_time_min`` away is within.

AccessMod's capacity-limited coverage (what :func:`capacity_coverage` reproduces)
-------------------------------------------------------------------------------------
Read from AccessMod 5's source (github.com/unige-geohealth/accessmod):

- ``tools/R/amAnalysisCapacity.R`` (``amCapacityAnalysis``): the facilities are processed one
  at a time in a stated order: ``hfOrder = "tableOrder"`` sorts them by a field of the facility
  table (``hfOrderSorting`` descending, the default, or ascending; R's ``order`` is stable, so
  ties keep the table order); ``"travelTime"`` first runs a pre-analysis that takes, for every
  facility, the *original* population within ``maxTravelTimeOrder`` (nothing removed) and sorts
  by it; ``"circBuffer"`` does the same within a radius. For each facility a travel-time map is
  computed up to ``maxTravelTime`` and handed to ``amCatchmentAnalyst``.
- ``tools/R/amAnalysisTravelTime.R`` (``amCleanTravelTime``): a cell is kept when its cost is
  ``<= maxTravelTime`` (inclusive) and its time becomes whole minutes, rounded up
  (``roundingMethod = "ceil"``, the default).
- ``tools/R/amGrassUtils.R`` (``amGetRasterStatZonal``): the *residual* population (what earlier
  facilities left) is summed per travel-time zone (``r.univar`` with the time map as zones:
  zones ascending, zones whose cells hold no population value dropped, zones summing to 0 kept)
  and cumulated (``cumSum``).
- ``tools/R/amAnalysisCatchment.R`` (``amCatchmentAnalyst``): with C the capacity,
  ``popInner`` the cumulated population of the last zone with ``cumSum <= C`` (0 if none) and
  the "outer" zone the first with ``cumSum > C``, one of four cases applies, tested in this
  order: **D** ``C == popInner``: every zone up to the inner one is taken, residual capacity 0,
  catchment time = the inner zone; **C** ``C > `` the population within the time limit: every
  zone is taken, residual capacity = C minus that population, catchment time = the last zone;
  **B** ``C <`` the first non-zero cumulated population, and **A** otherwise: the zones up to
  the inner one are taken whole (``amInnerRing``: residual set to 0) and *every cell of the
  outer zone* loses the same share ``(C - popInner) / popOuterBand`` of its residual
  (``amOuterRing``: ``residual - residual * share``), residual capacity 0, catchment time = the
  outer zone. So capacity runs out inside a band of equal travel time, and the band is shared
  proportionally: no single cell is split. The population taken is removed from the residual
  before the next facility (``removeCapted``, the "remove covered population" option;
  always on in the scaling up). The facility's table row gives ``amPopTravelTimeMax`` (residual
  population within the time limit when processed), ``amTravelTimeCatchment``,
  ``amPopCatchmentTotal`` (residual population within the catchment time, the whole outer band
  included), ``amCapacityRealised`` (C minus the residual capacity) and ``amCapacityResidual``;
  the catchment polygon is every cell with a time from 0 to the catchment time.

Here the bands are the cost table's exact times (``bands="exact"``: pairs of one facility with
the same time form one band) or AccessMod's whole minutes (``bands="minute"``: ``ceil`` of the
time). Two deliberate differences, both documented in :func:`capacity_coverage`: a facility of
capacity 0 takes nobody (AccessMod's case D with no inner zone empties the first zone while
reporting 0 realised), and the taken population is always removed (without it the catchments
overlap and no cell can be split into served and not served).

AccessMod's scaling up (what :func:`scale_up` runs as its greedy comparison)
--------------------------------------------------------------------------------
``tools/R/amAnalysisScalingUp.R`` (``amAnalysisScalingUp``) starts from the residual population
of a capacity analysis (``inputPopResidual``) and adds one facility per iteration: it keeps the
candidate cells that no exclusion removes, ranks them by a weighted suitability map (the
caller's factors: population density, travel time, distance ...) and takes the cells of maximal
suitability; ``amScalingUp_evalCoverage`` computes for each the residual population within
``maxTravelTime`` and chooses the capacity class whose ``[min, max]`` population range holds it
(when none or several match, the class of the smallest or the largest capacity, whichever
capacity is nearer to that population); ``amScalingUp_extractBest`` keeps the candidate with the
most population (``which.max(amPopTimeMax)``: the first on ties); ``amCatchmentAnalyst`` then
takes its catchment (as above) from the residual. It stops at a number of facilities, a
coverage percentage, a processing time, or when no candidate is left; a best candidate with
less than one person is excluded and the next iteration goes on. :func:`scale_up` uses the
population within the time limit as the whole suitability (the criterion AccessMod ranks the
best cells by), so the greedy picks the candidate with the most residual population in reach.

Better than AccessMod
---------------------
:func:`capacity_optimum` assigns people to facilities within the time limit to serve the most
people, then (exactly, lexicographically) to travel the fewest person-minutes: a linear
transportation problem solved by HiGHS with column generation on the sparse pairs, so its
result does not depend on any processing order and never serves fewer people than the greedy.
:func:`scale_up` chooses new sites and capacity classes with a MILP (HiGHS), with its proven gap.
"""

from __future__ import annotations

import logging
import math
import os
import sys
import time
import warnings
from collections.abc import Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import sparse
from scipy.optimize import Bounds, LinearConstraint, linprog, milp

from gis.errors import GisError, SolveError
from gis.model.costs import CostTable
from gis.model.demand import demand_grid, grid_cells_polygon

log = logging.getLogger(__name__)

BANDS = ("exact", "minute")
ORDERS = ("capacity", "population")


# --- results --------------------------------------------------------------------------------

@dataclass(frozen=True)
class CapacityResult:
    """People served by capacity-limited facilities, per facility and per cell.

    Attributes
    ----------
    method : str
        ``"accessmod"`` (:func:`capacity_coverage`) or ``"optimum"`` (:func:`capacity_optimum`).
    max_time_min : float
        Time limit, minutes (inclusive).
    facilities : DataFrame
        One row per destination of the cost table, in its order: ``facility_id``,
        ``capacity`` (persons), ``population_within_max_time`` (persons within the time limit:
        for the greedy the *residual* population when the facility's turn came, AccessMod's
        ``amPopTravelTimeMax``; for the optimum the whole population), ``served_population``
        (persons this facility serves), ``capacity_realised`` (AccessMod's figure for the
        greedy; the people served for the optimum), ``capacity_residual`` (capacity left),
        ``catchment_time_min`` (the time at which the catchment stopped: the greedy's catchment
        band; for the optimum the longest time of a person it serves; NaN when it serves
        nobody), ``catchment_cells`` (cells within the catchment time), ``served_cells`` (cells
        it serves at least in part). The greedy adds ``order`` (1 = processed first),
        ``catchment_population`` (AccessMod's ``amPopCatchmentTotal``) and ``accessmod_case``
        (``"A"``-``"D"``, ``""`` when nothing is in reach or the capacity is 0).
    cells : DataFrame
        One row per origin, in its order: ``origin_id``, ``population``,
        ``served_population``, ``not_served_capacity``, ``beyond_time`` (persons; the three add
        up to ``population`` exactly), ``served_by`` (position of the facility serving the
        most of the cell's people, -1 if none; ties: the first in processing order for the
        greedy, the lowest position for the optimum), ``served_by_id`` (its id, None if none),
        ``time_min`` (the time to it, NaN if none).
    assignments : DataFrame
        One row per served pair: ``origin`` and ``dest`` (positions), ``population`` (persons
        the facility serves from the cell, > 0), ``time_min``.
    served_population, not_served_capacity, beyond_time, total_population : float
        Totals, persons (sums of the cell columns).
    person_minutes : float
        Sum of served persons x travel time.
    status : str
        ``"done"`` for the greedy; ``"optimal"`` for the optimum.
    stats : dict
        Sizes, rounds and timings (JSON-serialisable).
    """

    method: str
    max_time_min: float
    facilities: pd.DataFrame = field(repr=False)
    cells: pd.DataFrame = field(repr=False)
    assignments: pd.DataFrame = field(repr=False)
    served_population: float
    not_served_capacity: float
    beyond_time: float
    total_population: float
    person_minutes: float
    status: str
    stats: dict = field(default_factory=dict)

    @property
    def served_share(self) -> float:
        return self.served_population / self.total_population if self.total_population else 0.0

    def as_dict(self) -> dict:
        """JSON-serialisable totals (no per-cell arrays)."""
        return {"method": self.method, "max_time_min": self.max_time_min,
                "total_population": self.total_population,
                "served_population": self.served_population,
                "not_served_capacity": self.not_served_capacity,
                "beyond_time": self.beyond_time, "served_share": self.served_share,
                "person_minutes": self.person_minutes, "status": self.status,
                "stats": {k: _py(v) for k, v in self.stats.items()}}


def _py(v):
    return v.item() if isinstance(v, np.generic) else v


@contextmanager
def _quiet_stdout():
    """Silence file descriptor 1 while HiGHS's Python wrapper prints its banner (it prints on
    the first model of a process, whatever its options); the library never prints."""
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 1)
        yield
    finally:
        os.dup2(saved, 1)
        os.close(saved)


# --- inputs ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Pairs:
    """Pairs within the time limit, sorted by origin then dest, with validated inputs."""

    o: np.ndarray        # int64 origin positions
    d: np.ndarray        # int64 dest positions
    t: np.ndarray        # float64 minutes (<= max_time_min)
    pop: np.ndarray      # float64 persons per origin
    T: float
    costs: CostTable


def _fail(what: str, problems: list[str]) -> None:
    if not problems:
        return
    if len(problems) == 1:
        msg = f"{what}: {problems[0]}"
    else:
        msg = f"{what}: {len(problems)} problems\n" + "\n".join(f"  - {p}" for p in problems)
    raise GisError(msg)


def _check_population(costs: CostTable, population, problems: list[str]) -> np.ndarray:
    n = costs.n_origins
    try:
        pop = np.asarray(population, dtype=np.float64).ravel()
    except (TypeError, ValueError):
        problems.append("population is not numeric: give persons per origin as numbers")
        return np.zeros(n)
    if pop.shape != (n,):
        problems.append(f"population has {pop.size} values but the cost table has {n} origins: "
                        "give one value per origin, in the order of costs.origin_ids")
        return np.zeros(n)
    bad = ~np.isfinite(pop) | (pop < 0)
    if bad.any():
        problems.append(f"population must be finite and >= 0; {int(bad.sum())} origin(s) are "
                        f"not (first: {_head(np.asarray(costs.origin_ids)[bad])})")
    return pop


def _check_capacity(costs: CostTable, capacity, problems: list[str]) -> np.ndarray:
    m = costs.n_dests
    try:
        cap = np.asarray(capacity, dtype=np.float64).ravel()
    except (TypeError, ValueError):
        problems.append("capacity is not numeric: give persons per facility as numbers")
        return np.zeros(m)
    if cap.shape != (m,):
        problems.append(f"capacity has {cap.size} values but the cost table has {m} "
                        "destinations: give one value per facility, in the order of "
                        "costs.dest_ids")
        return np.zeros(m)
    bad = np.isnan(cap) | (cap < 0)
    if bad.any():
        problems.append(f"capacity must be >= 0 (inf = unlimited; unknown is not allowed: "
                        f"decide a value or leave the facility out); {int(bad.sum())} "
                        f"facility(ies) are not (first: "
                        f"{_head(np.asarray(costs.dest_ids)[bad])})")
    return cap


def _check_time(costs: CostTable, max_time_min, problems: list[str], *,
                name: str = "max_time_min") -> float:
    try:
        T = float(max_time_min)
    except (TypeError, ValueError):
        problems.append(f"{name} must be a number of minutes, got {max_time_min!r}")
        return 0.0
    if not np.isfinite(T) or T < 0:
        problems.append(f"{name} must be a finite number of minutes >= 0, got {T!r}")
    elif T > float(costs.cutoff_min) * (1 + 1e-12):
        problems.append(f"{name} = {T:g} exceeds the cost table's cut-off of "
                        f"{costs.cutoff_min:g} min: pairs between the two were not stored; "
                        f"rebuild the table with cutoff_min >= {T:g}")
    return T


def _head(values, k: int = 5) -> str:
    values = [_py(v) for v in values]
    text = ", ".join(repr(v) for v in values[:k])
    return text + (f" and {len(values) - k} more" if len(values) > k else "")


def _pairs(costs: CostTable, pop: np.ndarray, T: float) -> _Pairs:
    o = np.asarray(costs.origin, dtype=np.int64)
    d = np.asarray(costs.dest, dtype=np.int64)
    t = np.asarray(costs.time_min, dtype=np.float64)
    keep = t <= T
    o, d, t = o[keep], d[keep], t[keep]
    if len(o) > 1 and not np.all((o[1:] > o[:-1]) | ((o[1:] == o[:-1]) & (d[1:] > d[:-1]))):
        order = np.lexsort((d, o))
        o, d, t = o[order], d[order], t[order]
    return _Pairs(o=o, d=d, t=t, pop=pop, T=T, costs=costs)


def _split(total: np.ndarray, part: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(part2, rest)`` with ``part2 + rest == total`` exactly in float64, for
    ``0 <= part <= total``; ``part2`` is ``part`` moved by at most half a unit in the last
    place of ``rest``.

    Where ``part >= total / 2``, ``rest = total - part`` is exact (Sterbenz's lemma). Elsewhere
    ``rest = fl(total - part)`` lies in ``[total / 2, total]``, so ``part2 = total - rest`` is
    exact, and so is the sum. (Adjusting ``rest`` alone cannot always work: when the exact
    difference falls half-way between two floats, both neighbours may round away from
    ``total``.)
    """
    part = np.minimum(np.maximum(part, 0.0), total)
    big = part >= 0.5 * total
    rest = np.where(big, total - part, 0.0)
    small_rest = total - part
    part2 = np.where(big, part, total - small_rest)
    rest = np.where(big, rest, small_rest)
    return part2, rest


def _complement(total: np.ndarray, part: np.ndarray) -> np.ndarray:
    """``total - part`` (>= 0) as split by :func:`_split`."""
    return _split(total, part)[1]


def _cells_frame(costs: CostTable, pop: np.ndarray, reach: np.ndarray, a_o: np.ndarray,
                 a_d: np.ndarray, a_people: np.ndarray, a_t: np.ndarray,
                 rank_of_dest: np.ndarray) -> pd.DataFrame:
    """Per-cell split into served / not served for capacity / beyond time (exact per cell)."""
    n = costs.n_origins
    served = np.minimum(np.bincount(a_o, weights=a_people, minlength=n), pop)
    beyond = np.where(reach, 0.0, pop)
    served, not_served = _split(pop, np.where(reach, served, 0.0))
    served = np.where(reach, served, 0.0)
    not_served = np.where(reach, not_served, 0.0)
    # the facility serving the most of each cell; ties to the lowest rank
    by = np.full(n, -1, np.int64)
    tm = np.full(n, np.nan)
    if len(a_o):
        order = np.lexsort((rank_of_dest[a_d], -a_people, a_o))
        first = order[np.r_[True, a_o[order][1:] != a_o[order][:-1]]]
        by[a_o[first]] = a_d[first]
        tm[a_o[first]] = a_t[first]
    ids = np.asarray(costs.dest_ids, dtype=object)
    return pd.DataFrame({
        "origin_id": np.asarray(costs.origin_ids), "population": pop,
        "served_population": served, "not_served_capacity": not_served,
        "beyond_time": beyond, "served_by": by,
        "served_by_id": np.where(by >= 0, ids[np.maximum(by, 0)], None), "time_min": tm})


def _totals(cells: pd.DataFrame) -> dict[str, float]:
    return {"served_population": math.fsum(cells["served_population"]),
            "not_served_capacity": math.fsum(cells["not_served_capacity"]),
            "beyond_time": math.fsum(cells["beyond_time"]),
            "total_population": math.fsum(cells["population"])}


def _processing_order(costs: CostTable, pairs: _Pairs, cap: np.ndarray, order, *,
                      descending: bool, order_time_min: float | None,
                      problems: list[str]) -> tuple[np.ndarray, np.ndarray, str]:
    """Facility positions in processing order, the values sorted on, and a label."""
    m = costs.n_dests
    if isinstance(order, str):
        if order == "capacity":
            key, label = cap, "capacity"
        elif order == "population":
            T2 = pairs.T if order_time_min is None else _check_time(
                costs, order_time_min, problems, name="order_time_min")
            sel = np.asarray(costs.time_min) <= T2
            key = np.bincount(np.asarray(costs.dest)[sel],
                              weights=pairs.pop[np.asarray(costs.origin)[sel]], minlength=m)
            label = f"population within {T2:g} min"
        else:
            problems.append(f"order must be one of {', '.join(ORDERS)} or one priority value "
                            f"per facility, got {order!r}")
            return np.arange(m), np.zeros(m), ""
    else:
        try:
            key = np.asarray(order, dtype=np.float64).ravel()
        except (TypeError, ValueError):
            problems.append("order: priority values must be numbers, one per facility")
            return np.arange(m), np.zeros(m), ""
        if key.shape != (m,) or np.isnan(key).any():
            problems.append(f"order: give one priority value (not NaN) per facility "
                            f"({m}), got {key.size}")
            return np.arange(m), np.zeros(m), ""
        label = "priority"
    # stable sort: ties keep the table order (R's order(), decreasing or not)
    pos = np.argsort(-key if descending else key, kind="stable")
    return pos, key, label


@dataclass(frozen=True)
class _Take:
    """What one facility's catchment took (AccessMod's ``amCatchmentAnalyst``)."""

    case: str            # "A".."D", "" when nothing is in reach or the capacity is 0
    within: float        # residual population within the time limit before (amPopTravelTimeMax)
    time_min: float      # catchment time (amTravelTimeCatchment), NaN when none
    population: float    # residual population within the catchment time (amPopCatchmentTotal)
    realised: float      # amCapacityRealised
    residual: float      # amCapacityResidual
    served: float        # persons taken (sum of ``people``)
    cells: int           # pairs within the catchment time
    idx: np.ndarray      # positions (in the sorted pairs) of the pairs it took from
    people: np.ndarray   # persons taken from each


def _take_sorted(o: np.ndarray, z: np.ndarray, C: float, residual: np.ndarray) -> _Take:
    """One facility of capacity ``C`` takes its catchment from ``residual`` (updated in
    place): ``o`` its pairs' origins and ``z`` their bands, sorted by band (ties: origin
    order). ``_Take.idx`` holds positions into ``o``."""
    empty = np.zeros(0, np.int64)
    if not len(o):
        return _Take("", 0.0, np.nan, np.nan, 0.0, C, 0.0, 0, empty, np.zeros(0))
    new_band = np.r_[True, z[1:] != z[:-1]]
    band_pos = np.flatnonzero(new_band)
    band_end = np.r_[band_pos[1:], len(o)]
    r = residual[o]
    bsum = np.add.reduceat(r, band_pos)
    cum = np.cumsum(bsum)
    total = float(cum[-1])
    if C <= 0:
        return _Take("", total, np.nan, np.nan, 0.0, 0.0, 0.0, 0, empty, np.zeros(0))
    k = int(np.searchsorted(cum, C, side="right"))     # bands with cum <= C
    inner = cum[k - 1] if k else 0.0
    if k and C == inner:                               # D: capacity met exactly
        kind, last, share, res_cap = "D", k - 1, None, 0.0
    elif C > total:                                    # C: everyone in reach taken
        kind, last, share, res_cap = "C", len(cum) - 1, None, C - total
    else:                                              # B (inner == 0) or A
        kind = "B" if inner == 0 else "A"
        last, share, res_cap = k, (C - inner) / bsum[k], 0.0
    end = int(band_end[last])
    n_in = end if share is None else int(band_pos[last])
    people = r[:end].copy()
    residual[o[:n_in]] = 0.0
    if share is not None:                              # the outer band: the same share
        r_out = r[n_in:end]                            # of every cell's residual
        got = r_out * share
        residual[o[n_in:end]] = r_out - got
        people[n_in:] = got
    pos = np.flatnonzero(people > 0)
    return _Take(kind, total, float(z[band_pos[last]]), float(cum[last]),
                 total if kind == "C" else C,          # C - residual, also for C = inf
                 res_cap, math.fsum(people), end, pos, people[pos])


def _stable_argsort(z: np.ndarray) -> np.ndarray:
    """``np.argsort(z, kind="stable")`` of floats, by numpy's faster unstable sort with each
    run of equal values put back in position order (equal times are few)."""
    srt = np.argsort(z)
    zs = z[srt]
    tie = np.flatnonzero(zs[1:] == zs[:-1])      # sorted position i equals i + 1
    if len(tie):
        new_run = np.r_[True, np.diff(tie) > 1]
        first = tie[new_run]
        last = np.r_[tie[np.flatnonzero(new_run)[1:] - 1], tie[-1]] + 1
        lengths = last - first + 1
        idx = np.arange(int(lengths.sum())) - np.repeat(np.cumsum(lengths) - lengths - first,
                                                        lengths)
        run = np.repeat(np.arange(len(first)), lengths)
        srt[idx] = srt[idx][np.lexsort((srt[idx], run))]
    return srt


class _Catchments:
    """The pairs within the time limit sorted by facility, then band (time), then origin,
    with each facility's range, so that each facility's catchment is a few vector operations.
    """

    def __init__(self, o: np.ndarray, d: np.ndarray, t: np.ndarray, m: int, *,
                 bands: str) -> None:
        z_all = t if bands == "exact" else np.ceil(t)
        # pairs already in origin order: a stable sort by facility (positions of up to 65,535
        # facilities as uint16: numpy's radix sort), then each facility's pairs by time,
        # stably (ties keep the origin order): the order of a stable sort by (facility, time)
        dk = d.astype(np.uint16) if m <= np.iinfo(np.uint16).max else d
        srt = np.argsort(dk, kind="stable")
        fstart = np.searchsorted(d[srt], np.arange(m + 1))
        z_f = z_all[srt]
        for j in range(m):
            s, e = fstart[j], fstart[j + 1]
            if e - s > 1:
                part = z_f[s:e]
                srt[s:e] = srt[s:e][_stable_argsort(part) if bands == "exact"
                                    else np.argsort(part, kind="stable")]
        self.o, self.d, self.t, self.z = o[srt], d[srt], t[srt], z_all[srt]
        self.fstart = fstart

    def within(self, residual: np.ndarray) -> np.ndarray:
        """Residual population within the time limit of every facility."""
        return np.bincount(self.d, weights=residual[self.o], minlength=len(self.fstart) - 1)

    def take(self, j: int, C: float, residual: np.ndarray) -> _Take:
        """Facility ``j`` of capacity ``C`` takes its catchment; ``residual`` is updated.
        ``_Take.idx`` holds positions into the sorted pairs (``self.o`` ...)."""
        s, e = self.fstart[j], self.fstart[j + 1]
        c = _take_sorted(self.o[s:e], self.z[s:e], C, residual)
        return c if s == 0 else _replace_idx(c, c.idx + s)


class _SiteCatchments:
    """:class:`_Catchments` for many candidate sites of which few will take a catchment: the
    pairs stay in origin order and a site's pairs are found and sorted when it is chosen (no
    sort of all pairs). ``_Take.idx`` holds positions into the pairs as given."""

    def __init__(self, o: np.ndarray, d: np.ndarray, t: np.ndarray, m: int, *,
                 bands: str) -> None:
        self.o, self.d, self.t = o, d, t
        self.z = t if bands == "exact" else np.ceil(t)
        self.m = m

    def within(self, residual: np.ndarray) -> np.ndarray:
        return np.bincount(self.d, weights=residual[self.o], minlength=self.m)

    def take(self, j: int, C: float, residual: np.ndarray) -> _Take:
        idx = np.flatnonzero(self.d == j)
        idx = idx[np.argsort(self.z[idx], kind="stable")]
        c = _take_sorted(self.o[idx], self.z[idx], C, residual)
        return _replace_idx(c, idx[c.idx])


def _replace_idx(c: _Take, idx: np.ndarray) -> _Take:
    return _Take(c.case, c.within, c.time_min, c.population, c.realised, c.residual, c.served,
                 c.cells, idx, c.people)


# --- AccessMod's greedy ---------------------------------------------------------------------

def capacity_coverage(costs: CostTable, population, capacity, *, max_time_min: float,
                      order="capacity", descending: bool = True,
                      order_time_min: float | None = None,
                      bands: str = "exact") -> CapacityResult:
    """AccessMod's capacity-limited coverage ("geographic coverage analysis" with capacity).

    The facilities are processed one at a time in the given order; each one's catchment grows
    by travel time over the population earlier facilities left (the residual), band by band,
    until its capacity is used up or ``max_time_min`` is reached; the band where the capacity
    runs out is shared: each of its cells gives the same share of its residual. The people
    taken are removed before the next facility. See the module docstring for AccessMod's
    algorithm and source files; this follows it case by case (A-D), with two deliberate
    differences: a facility of capacity 0 takes nobody (AccessMod's case D with no inner zone
    empties the first zone while reporting nobody served), and the taken population is always
    removed (AccessMod's "remove covered population" option on).

    Vectorised per facility: its pairs sorted by time once, the residual summed per band
    (``np.add.reduceat``), cumulated, and the capacity located with ``searchsorted``; the loop
    runs over facilities only (100,000 cells x 209 facilities in well under a second).

    Parameters
    ----------
    costs : CostTable
        Demand cells -> facilities; its cut-off must be >= ``max_time_min``.
    population : array-like, shape (n_origins,)
        Persons per cell (finite, >= 0).
    capacity : array-like, shape (n_dests,)
        Persons each facility can serve (>= 0; ``inf`` = unlimited).
    max_time_min : float
        Time limit, minutes (inclusive).
    order : {"capacity", "population"} or array-like, shape (n_dests,)
        Processing order: by capacity (AccessMod's "tableOrder" on the capacity field), by the
        whole population within ``order_time_min`` of each facility (AccessMod's
        "travelTime" order), or by the given priority values. Ties keep the table order.
    descending : bool
        Largest first (AccessMod's default "hfOrderDesc"); False: smallest first.
    order_time_min : float, optional
        Time for ``order="population"`` (AccessMod's ``maxTravelTimeOrder``); default
        ``max_time_min``.
    bands : {"exact", "minute"}
        Bands of equal travel time: the table's exact minutes, or whole minutes rounded up as
        AccessMod's rasters have them (a pair at 12.2 min is in band 13; the time limit still
        applies to the exact time).

    Returns
    -------
    CapacityResult
        ``method = "accessmod"``; ``facilities`` adds ``order``, ``catchment_population``,
        ``accessmod_case``.
    """
    t0 = time.perf_counter()
    problems: list[str] = []
    pop = _check_population(costs, population, problems)
    cap = _check_capacity(costs, capacity, problems)
    T = _check_time(costs, max_time_min, problems)
    if bands not in BANDS:
        problems.append(f"bands must be one of {', '.join(BANDS)}, got {bands!r}")
    _fail("capacity_coverage", problems)
    pairs = _pairs(costs, pop, T)
    seq, key, label = _processing_order(costs, pairs, cap, order, descending=descending,
                                        order_time_min=order_time_min, problems=problems)
    _fail("capacity_coverage", problems)
    n, m = costs.n_origins, costs.n_dests
    cat = _Catchments(pairs.o, pairs.d, pairs.t, m, bands=bands)
    residual = pop.copy()
    cols = {k: np.full(m, np.nan) for k in ("within", "ctime", "cpop", "realised",
                                            "residual", "served")}
    ccells = np.zeros(m, np.int64)
    scells = np.zeros(m, np.int64)
    case = np.full(m, "", dtype=object)
    take_idx, take_val = [], []
    for j in seq:
        c = cat.take(j, cap[j], residual)
        cols["within"][j], cols["ctime"][j], cols["cpop"][j] = c.within, c.time_min, c.population
        cols["realised"][j], cols["residual"][j] = c.realised, c.residual
        cols["served"][j] = c.served
        ccells[j], scells[j], case[j] = c.cells, len(c.idx), c.case
        take_idx.append(c.idx)
        take_val.append(c.people)
    ti = np.concatenate(take_idx) if take_idx else np.zeros(0, np.int64)
    tv = np.concatenate(take_val) if take_val else np.zeros(0)
    rank = np.empty(m, np.int64)
    rank[seq] = np.arange(m)
    reach = np.zeros(n, bool)
    reach[pairs.o] = True
    a_o, a_d, a_t = cat.o[ti], cat.d[ti], cat.t[ti]
    cells = _cells_frame(costs, pop, reach, a_o, a_d, tv, a_t, rank)
    facilities = pd.DataFrame({
        "facility_id": np.asarray(costs.dest_ids), "order": rank + 1, "capacity": cap,
        "order_value": key, "population_within_max_time": cols["within"],
        "served_population": cols["served"], "capacity_realised": cols["realised"],
        "capacity_residual": cols["residual"], "catchment_time_min": cols["ctime"],
        "catchment_population": cols["cpop"], "catchment_cells": ccells,
        "served_cells": scells, "accessmod_case": case})
    assignments = pd.DataFrame({"origin": a_o, "dest": a_d, "population": tv, "time_min": a_t})
    tot = _totals(cells)
    log.info("capacity_coverage T=%g: %d pairs, %d facilities, served %.0f of %.0f",
             T, len(cat.o), m, tot["served_population"], tot["total_population"])
    return CapacityResult(
        method="accessmod", max_time_min=T, facilities=facilities, cells=cells,
        assignments=assignments, person_minutes=math.fsum(tv * a_t), status="done",
        stats={"pairs": int(len(cat.o)), "bands": bands, "order": label,
               "descending": bool(descending), "seconds": time.perf_counter() - t0}, **tot)


# --- the order-independent optimum ----------------------------------------------------------

def _mix(x: np.ndarray, seed: int) -> np.ndarray:
    """A 64-bit mixing hash (splitmix64) of uint64 values."""
    with np.errstate(over="ignore"):
        z = x + np.uint64(0x9E3779B97F4A7C15) * np.uint64(seed + 1)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


def _identical_rows(o: np.ndarray, d: np.ndarray, t: np.ndarray,
                    n: int) -> tuple[np.ndarray, np.ndarray]:
    """Group the origins whose lists of (dest, time) pairs are identical, exactly.

    Pairs are sorted by origin then dest. Two hashes of each origin's list propose groups;
    every member is then compared pair by pair with its group's first origin, and a member
    that differs (a hash collision) keeps a group of its own, so the grouping is exact.

    Returns
    -------
    group : ndarray of int, shape (n,)
        Group of every origin (origins without pairs get groups of their own).
    rep : ndarray of int
        First origin of every group.
    """
    start = np.searchsorted(o, np.arange(n + 1))
    count = np.diff(start)
    if len(o) == 0:
        return np.arange(n), np.arange(n)
    key = d.astype(np.uint64) ^ (t.view(np.uint64) * np.uint64(0x100000001B3))
    h = np.zeros((n, 2), np.uint64)
    has = count > 0
    for k in range(2):
        with np.errstate(over="ignore"):
            h[has, k] = np.add.reduceat(_mix(key, k), start[:-1][has])
    keys = np.column_stack([count.astype(np.uint64), h])
    order = np.lexsort(keys.T[::-1])
    sk = keys[order]
    new = np.r_[True, np.any(sk[1:] != sk[:-1], axis=1)]
    gid = np.cumsum(new) - 1
    first_of = order[new][gid]           # proposed representative of every origin (sorted)
    rep_of = np.empty(n, np.int64)
    rep_of[order] = first_of
    # verify pair by pair
    same = np.ones(n, bool)
    members = np.flatnonzero((rep_of != np.arange(n)) & has)
    if len(members):
        lengths = count[members]
        seg = np.repeat(np.arange(len(members)), lengths)
        offs = np.arange(int(lengths.sum())) - np.repeat(np.cumsum(lengths) - lengths, lengths)
        a = start[members][seg] + offs
        b = start[rep_of[members]][seg] + offs
        bad = (d[a] != d[b]) | (t[a] != t[b])
        if bad.any():
            same[members[np.unique(seg[bad])]] = False
    rep_of = np.where(same, rep_of, np.arange(n))
    reps, group = np.unique(rep_of, return_inverse=True)
    return group.ravel(), reps


def _needed_pairs(go: np.ndarray, gd: np.ndarray, gt: np.ndarray, P: np.ndarray,
                  cap: np.ndarray) -> np.ndarray:
    """The pairs an optimum may use: all but the *private* pairs (a group's only pair) of a
    facility beyond the time at which its private groups alone fill its capacity.

    Exact: let t* be the time at which facility j's private groups, taken by increasing time,
    first hold at least its capacity. Were j to serve a private group at a time t2 > t*, some
    private group at t1 <= t* would be short of people served by j (j serves at most its
    capacity), and nobody else can serve it; moving persons served from the group at t2 to
    the one at t1 keeps the people served and lowers the person-minutes by (t2 - t1) each. So
    no optimum serves a private group beyond t* (groups at t* itself are kept, ties
    included), and dropping those pairs changes neither the optimum nor the set of optimal
    assignments.
    One facility's tier (the provincial hospital at 120 min) keeps only its catchment.

    ``go`` sorted (the pairs of each group together). Returns a mask over the pairs.
    """
    keep = np.ones(len(go), bool)
    if not len(go):
        return keep
    per = np.bincount(go, minlength=len(P))
    private = np.flatnonzero((per[go] == 1) & np.isfinite(cap[gd]))
    if not len(private):
        return keep
    # by facility, then time, then group
    private = private[np.lexsort((go[private], gt[private], gd[private]))]
    f = gd[private]
    first = np.r_[True, f[1:] != f[:-1]]
    start = np.flatnonzero(first)
    seg = np.cumsum(first) - 1
    cum = np.cumsum(P[go[private]])
    cum -= np.repeat(np.r_[0.0, cum[start[1:] - 1]], np.diff(np.r_[start, len(f)]))
    full = cum >= cap[f]
    # t* of each facility: the time of its first private group with cum >= capacity
    t_star = np.full(len(start), np.inf)
    hit = np.flatnonzero(full)
    if len(hit):
        at = hit[np.r_[True, seg[hit][1:] != seg[hit][:-1]]]
        t_star[seg[at]] = gt[private[at]]
    keep[private[gt[private] > t_star[seg]]] = False
    return keep


def _dual_prices(go: np.ndarray, gd: np.ndarray, gt: np.ndarray, P: np.ndarray,
                 cap: np.ndarray, M: float, *, deadline: float,
                 max_iter: int = 500) -> tuple[np.ndarray, dict]:
    """Facility prices near the optimal duals of the transportation problem (cutting planes).

    The dual of ``max sum (M - t) x`` is ``min_v Phi(v) = sum_j cap_j v_j + sum_g P_g max(0,
    M - min_j (t_gj + v_j))`` over ``v >= 0``: convex and piecewise linear in the facility
    prices only. Kelley's cutting planes with one cut per cluster of groups (the groups of the
    same nearest facility) per round: at the master's point each group picks its cheapest
    facility, which gives a supporting plane of every cluster's term; the master LP (HiGHS,
    warm restarts) gives a lower bound, ``Phi`` at its point an upper bound. Stops when they
    meet (1e-9 relative) or at ``max_iter`` rounds; the caller's column generation then proves
    the optimum exactly, whatever the prices' accuracy.
    """
    import highspy  # the HiGHS model object: warm restarts between rounds

    m = len(cap)
    starts = np.flatnonzero(np.r_[True, go[1:] != go[:-1]]) if len(go) else np.zeros(0, int)
    if not len(starts):
        return np.zeros(m), {"price_rounds": 0, "price_gap": 0.0}
    groups = go[starts]
    count = np.diff(np.r_[starts, len(go)])
    seg = np.repeat(np.arange(len(starts)), count)
    w_p = P[groups]

    def cheapest(w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        wmin = np.minimum.reduceat(w, starts)
        fi = np.flatnonzero(w == np.repeat(wmin, count))
        fi = fi[np.r_[True, seg[fi][1:] != seg[fi][:-1]]]
        return wmin, fi

    _, first = cheapest(gt)
    clus = gd[first]
    finite = np.isfinite(cap)
    inf = highspy.kHighsInf
    with _quiet_stdout():
        h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    h.setOptionValue("presolve", "off")
    h.addCols(m, np.where(finite, cap, 0.0), np.zeros(m), np.where(finite, M, 0.0), 0,
              np.zeros(m, np.int32), np.zeros(0, np.int32), np.zeros(0))
    h.addCols(m, np.ones(m), np.zeros(m), np.full(m, inf), 0, np.zeros(m, np.int32),
              np.zeros(0, np.int32), np.zeros(0))
    v = np.zeros(m)
    best_v, best_ub, lb = v.copy(), np.inf, -np.inf
    base = 0.0
    it = 0
    for it in range(1, max_iter + 1):  # noqa: B007 (rounds reported)
        wmin, fi = cheapest(gt + v.take(gd))
        served = wmin < M
        ub = base + float(np.dot(np.where(finite, cap, 0.0), v)) + \
            float(np.sum(w_p * np.maximum(0.0, M - wmin)))
        if ub < best_ub:
            best_ub, best_v = ub, v.copy()
        if best_ub - lb <= _PRICE_TOL * abs(best_ub) or time.perf_counter() > deadline:
            break
        k, j = clus[served], gd[fi[served]]
        kj = k * np.int64(m) + j
        if m * m <= _DENSE_KEYS:    # the same sums as np.unique's, without a sort
            load = np.bincount(kj, weights=w_p[served], minlength=m * m)
            ukey = np.flatnonzero(np.bincount(kj, minlength=m * m))
            load = load[ukey]
        else:
            ukey, inv = np.unique(kj, return_inverse=True)
            load = np.bincount(inv.ravel(), weights=w_p[served])
        rk, rj = ukey // m, ukey % m
        R = np.bincount(k, weights=w_p[served] * (M - gt[fi[served]]), minlength=m)
        # row r (cluster r): theta_r + sum_j load_rj v_j >= R_r
        per = np.bincount(rk, minlength=m)
        st = np.r_[0, np.cumsum(per + 1)[:-1]].astype(np.int32)
        idx = np.empty(int((per + 1).sum()), np.int32)
        val = np.empty(len(idx))
        idx[st] = m + np.arange(m)
        val[st] = 1.0
        slot = st[rk] + 1 + (np.arange(len(rk)) - np.searchsorted(rk, rk))
        idx[slot] = rj
        val[slot] = load
        h.addRows(m, R, np.full(m, inf), len(idx), st, idx, val)
        h.run()
        # an "Unknown" status (tolerances not all met) still gives usable prices: they only
        # choose the starting columns, the column generation proves the optimum
        if not h.getSolution().value_valid:
            break
        lb = float(h.getInfo().objective_function_value)
        v = np.clip(np.asarray(h.getSolution().col_value)[:m], 0.0, None)
    return best_v, {"price_rounds": it, "price_gap": float(best_ub - lb)}


# Starting columns of the column generation: each group's pairs within this many minutes of
# its cheapest under the near-optimal prices. Only speed depends on it (too small: more
# rounds; too large: a larger first LP); the optimum is proven over all pairs either way.
_START_SLACK_MIN = 0.05
# Facility pairs (k, j) counted in a dense array below this many (m x m) keys.
_DENSE_KEYS = 4_000_000
# Relative gap at which the price rounds stop. Looser prices cost far more column-generation
# rounds than they save (measured: 1e-6 took 6x the time of 1e-9 at 100,000 x 209).
_PRICE_TOL = 1e-9


def _column_generation(go: np.ndarray, gd: np.ndarray, cost: np.ndarray, P: np.ndarray,
                       cap: np.ndarray, start: np.ndarray, *, deadline: float,
                       time_limit_s: float, t0: float, tol: float = 1e-6):
    """min sum cost x over the pairs (group ``go``, facility ``gd``) subject to
    sum_j x_gj <= P_g and sum_g x_gj <= cap_j, x >= 0, by column generation on HiGHS.

    One HiGHS model is kept and changed between rounds, so each round starts from the
    previous optimal basis. A group with one column has its population as the column's upper
    bound; it gets a row when a second column comes in. Each round adds, for every group, its
    column of most negative reduced cost (under the duals of the current optimum) and drops
    the columns the optimum leaves at 0 whose reduced cost is positive. It stops when no pair
    has a reduced cost below ``-tol``: the restricted optimum is then optimal over all pairs.

    Returns
    -------
    x : ndarray
        Flow of each column of ``cols``.
    cols : ndarray of int
        Pair indices of the final columns.
    rounds : list of dict
    """
    import highspy  # the HiGHS model object: warm restarts between rounds

    m = len(cap)
    G = len(P)
    finite = np.isfinite(cap)
    F = int(finite.sum())
    fac_row = np.full(m, -1, np.int64)
    fac_row[finite] = np.arange(F)
    inf = highspy.kHighsInf
    with _quiet_stdout():
        h = highspy.Highs()
    t_created = time.perf_counter()
    h.setOptionValue("output_flag", False)
    h.setOptionValue("presolve", "off")
    h.addRows(F, np.full(F, -inf), cap[finite].astype(np.float64), 0,
              np.zeros(F, np.int32), np.zeros(0, np.int32), np.zeros(0))
    group_row = np.full(G, -1, np.int64)
    n_rows = F
    lp_cols = np.zeros(0, np.int64)        # pair index of every LP column, in LP order
    ncol = np.zeros(G, np.int64)
    rounds: list[dict] = []

    def add(pidx: np.ndarray) -> None:
        nonlocal lp_cols, n_rows
        pidx = np.unique(pidx)
        g_new = go[pidx]
        after = ncol + np.bincount(g_new, minlength=G)
        need = np.flatnonzero((after >= 2) & (group_row < 0))
        if len(need):
            # rows for the groups getting a second column, with their existing column
            col_pos = np.full(G, -1, np.int64)
            if len(lp_cols):
                col_pos[go[lp_cols]] = np.arange(len(lp_cols))
            had = col_pos[need]
            nnz_each = (had >= 0).astype(np.int64)
            starts = np.r_[0, np.cumsum(nnz_each)[:-1]].astype(np.int32)
            h.addRows(len(need), np.full(len(need), -inf), P[need].astype(np.float64),
                      int(nnz_each.sum()), starts, had[had >= 0].astype(np.int32),
                      np.ones(int(nnz_each.sum())))
            group_row[need] = n_rows + np.arange(len(need))
            n_rows += len(need)
            if (had >= 0).any():
                idx = had[had >= 0].astype(np.int32)
                h.changeColsBounds(len(idx), idx, np.zeros(len(idx)), np.full(len(idx), inf))
        fr = fac_row[gd[pidx]]
        gr = group_row[g_new]
        nnz_each = (fr >= 0).astype(np.int64) + (gr >= 0)
        starts = np.r_[0, np.cumsum(nnz_each)[:-1]].astype(np.int32)
        ind = np.stack([fr, gr], axis=1).ravel()
        ind = ind[ind >= 0].astype(np.int32)
        ub = np.where(gr >= 0, inf, P[g_new]).astype(np.float64)
        h.addCols(len(pidx), cost[pidx].astype(np.float64), np.zeros(len(pidx)), ub,
                  int(nnz_each.sum()), starts, ind, np.ones(len(ind)))
        lp_cols = np.r_[lp_cols, pidx]
        ncol[:] = after

    add(start)
    while True:
        left = deadline - time.perf_counter()
        if left <= 0:
            msg = (f"capacity_optimum: no proven optimum within {time_limit_s:g} s "
                   f"({len(rounds)} rounds); raise time_limit_s")
            raise SolveError(msg)
        # HiGHS's clock runs from the model's creation: the limit is the whole budget
        h.setOptionValue("time_limit", float(max(deadline - t_created, 0.05)))
        h.run()
        status = h.getModelStatus()
        if status != highspy.HighsModelStatus.kOptimal:
            msg = f"capacity_optimum: HiGHS stopped: {h.modelStatusToString(status)}"
            raise SolveError(msg)
        sol = h.getSolution()
        x = np.asarray(sol.col_value)
        y = -np.asarray(sol.row_dual)
        v = np.zeros(m)
        v[finite] = y[:F]
        u = np.zeros(G)
        has_row = group_row >= 0
        u[has_row] = y[group_row[has_row]]
        cg = go[lp_cols]
        single = ~has_row[cg]
        u[cg[single]] = np.maximum(-np.asarray(sol.col_dual)[single], 0.0)
        rc = cost + u[go] + v[gd]
        inmodel = np.zeros(len(go), bool)
        inmodel[lp_cols] = True
        cand = np.flatnonzero((rc < -tol) & ~inmodel)
        rounds.append({"columns": int(len(lp_cols)), "rows": int(n_rows),
                       "added": int(len(cand)), "seconds": round(time.perf_counter() - t0, 3),
                       "iterations": int(h.getInfo().simplex_iteration_count)})
        if not len(cand):
            return x, lp_cols, rounds
        drop = np.flatnonzero((x <= 0) & (rc[lp_cols] > tol))
        if len(drop):
            h.deleteCols(len(drop), drop.astype(np.int32))
            np.subtract.at(ncol, go[lp_cols[drop]], 1)
            keep = np.ones(len(lp_cols), bool)
            keep[drop] = False
            lp_cols = lp_cols[keep]
        srt = cand[np.lexsort((rc[cand], go[cand]))]
        add(srt[np.r_[True, go[srt][1:] != go[srt][:-1]]])


def capacity_optimum(costs: CostTable, population, capacity, *, max_time_min: float,
                     time_limit_s: float = 300.0) -> CapacityResult:
    """The order-independent optimum: most people served, then fewest person-minutes.

    Assigns people to facilities within ``max_time_min`` (inclusive), each facility serving at
    most its capacity and each cell at most its population, so as to (1) serve as many people
    as possible and, among all assignments that do, (2) minimise the total person-minutes:
    lexicographically and exactly. It never serves fewer people than
    :func:`capacity_coverage` in any order (the greedy's assignment is one feasible
    assignment).

    Method: a transportation problem, one objective ``sum (t_ij - M) x_ij`` with
    ``M = k x T_max + 1`` (k facilities with pairs in reach, T_max the longest time in reach).
    Any assignment serving fewer people than the maximum has an augmenting path that visits
    each facility at most once, which changes the travel by at most k x T_max per person and
    the penalty by M per person, so it cannot be optimal: the one objective is exactly the
    lexicographic one. Cells with identical lists of (facility, time) pairs are merged (exact),
    and a cell group whose only facility is j is left out when j's capacity is filled by such
    groups nearer to it (exact: no optimum serves it, see ``_needed_pairs``; the one hospital
    of a tier at 120 min keeps only its catchment).
    The LP is solved by HiGHS (dual simplex) with column generation: first each cell's
    fastest facility only, then the pairs whose reduced cost under the LP's duals is negative
    are added until none is left, which proves the optimum over all pairs.

    Parameters
    ----------
    costs : CostTable
        Demand cells -> facilities; its cut-off must be >= ``max_time_min``.
    population : array-like, shape (n_origins,)
        Persons per cell (finite, >= 0).
    capacity : array-like, shape (n_dests,)
        Persons each facility can serve (>= 0; ``inf`` = unlimited).
    max_time_min : float
        Time limit, minutes (inclusive).
    time_limit_s : float
        Time limit of the whole solve, seconds (SolveError when exceeded).

    Returns
    -------
    CapacityResult
        ``method = "optimum"``, ``status = "optimal"``; ``stats`` holds the served population
        and person-minutes of the LP, its sizes and rounds.
    """
    t0 = time.perf_counter()
    deadline = t0 + float(time_limit_s)
    problems: list[str] = []
    pop = _check_population(costs, population, problems)
    cap = _check_capacity(costs, capacity, problems)
    T = _check_time(costs, max_time_min, problems)
    _fail("capacity_optimum", problems)
    pairs = _pairs(costs, pop, T)
    n, m = costs.n_origins, costs.n_dests
    active = (pop[pairs.o] > 0) & (cap[pairs.d] > 0)
    o, d, t = pairs.o[active], pairs.d[active], pairs.t[active]
    group, reps = _identical_rows(o, d, t, n)
    G = len(reps)
    P = np.bincount(group, weights=pop, minlength=G)
    rep_pair = np.isin(o, reps)  # the pairs of each group's representative
    go, gd, gt = group[o[rep_pair]], d[rep_pair], t[rep_pair]
    k_fac = len(np.unique(gd))
    t_max = float(gt.max()) if len(gt) else 0.0
    M = k_fac * t_max + 1.0
    finite = np.isfinite(cap)
    fac_row = np.full(m, -1, np.int64)
    fac_row[finite] = np.arange(int(finite.sum()))
    # start: under near-optimal facility prices, each group's cheapest pairs (and those within
    # _START_SLACK_MIN); the column generation then proves the optimum over all pairs
    v, price_stats = _dual_prices(go, gd, gt, P, cap, M, deadline=t0 + 0.5 * time_limit_s)
    # the pairs no optimum uses are left out of the LP (the prices cost little on them)
    keep = _needed_pairs(go, gd, gt, P, cap)
    dropped = int(len(go) - keep.sum())
    if dropped:
        go, gd, gt = go[keep], gd[keep], gt[keep]
    w = gt + v[gd]
    gstart = np.flatnonzero(np.r_[True, go[1:] != go[:-1]]) if len(go) else np.zeros(0, int)
    start_cols = np.zeros(0, np.int64)
    if len(gstart):
        seg = np.repeat(np.arange(len(gstart)), np.diff(np.r_[gstart, len(go)]))
        wmin = np.minimum.reduceat(w, gstart)
        start_cols = np.flatnonzero(w <= wmin[seg] + _START_SLACK_MIN)
    if len(go):
        x_col, cols, rounds = _column_generation(
            go, gd, gt - M, P, cap, start_cols, deadline=deadline, time_limit_s=time_limit_s,
            t0=t0)
    else:                               # nobody to serve within the time limit
        x_col, cols = np.zeros(0), np.zeros(0, np.int64)
        rounds = [{"columns": 0, "rows": 0, "added": 0, "seconds": 0.0, "iterations": 0}]
    x_col = np.clip(x_col, 0.0, None)
    pos = x_col > 0
    cols, x_col = cols[pos], np.minimum(x_col[pos], P[go[cols[pos]]])
    # back to cells: each group's flow shared by its members in proportion to population
    # (the members of a group have the same pairs, times included)
    members = np.argsort(group, kind="stable")
    gptr = np.searchsorted(group[members], np.arange(G + 1))
    gcol = go[cols]
    col_of = np.repeat(np.arange(len(cols)), gptr[gcol + 1] - gptr[gcol])
    mo = members[_ranges_of(gptr, gcol)]
    md, mt = gd[cols][col_of], gt[cols][col_of]
    people = x_col[col_of] * (pop[mo] / P[gcol][col_of])
    srt = np.lexsort((md, mo))                     # by cell, then facility
    srt = srt[people[srt] > 0]
    a_o, a_d, a_t, a_p = mo[srt], md[srt], mt[srt], people[srt]
    reach = np.zeros(n, bool)
    reach[pairs.o] = True
    cells = _cells_frame(costs, pop, reach, a_o, a_d, a_p, a_t, np.arange(m))
    served_f = np.bincount(a_d, weights=a_p, minlength=m)
    ctime = np.full(m, np.nan)
    if len(a_d):
        np.fmax.at(ctime, a_d, a_t)
    all_d, all_t = pairs.d, pairs.t
    ccells = np.bincount(all_d[all_t <= np.nan_to_num(ctime, nan=-1.0)[all_d]], minlength=m)
    scells = np.bincount(a_d, minlength=m)
    within = np.bincount(pairs.d, weights=pop[pairs.o], minlength=m)
    facilities = pd.DataFrame({
        "facility_id": np.asarray(costs.dest_ids), "capacity": cap,
        "population_within_max_time": within, "served_population": served_f,
        "capacity_realised": served_f, "capacity_residual": cap - served_f,
        "catchment_time_min": ctime, "catchment_cells": ccells, "served_cells": scells})
    assignments = pd.DataFrame({"origin": a_o, "dest": a_d, "population": a_p,
                                "time_min": a_t})
    tot = _totals(cells)
    lp_served = math.fsum(x_col)
    lp_minutes = math.fsum(x_col * gt[cols])
    log.info("capacity_optimum T=%g: %d cells -> %d groups, %d rounds, served %.0f, "
             "%.0f person-minutes", T, n, G, len(rounds), lp_served, lp_minutes)
    return CapacityResult(
        method="optimum", max_time_min=T, facilities=facilities, cells=cells,
        assignments=assignments, person_minutes=math.fsum(a_p * a_t), status="optimal",
        stats={"pairs": int(len(o)), "groups": int(G), "private_pairs_dropped": dropped,
               "big_m": M, "rounds": len(rounds),
               "columns": rounds[-1]["columns"], "rows": rounds[-1]["rows"],
               "lp_served_population": lp_served, "lp_person_minutes": lp_minutes,
               "round_seconds": [r["seconds"] for r in rounds], **price_stats,
               "seconds": time.perf_counter() - t0}, **tot)


# --- scaling up -----------------------------------------------------------------------------

@dataclass(frozen=True)
class ScaleUpResult:
    """New facilities: the exact choice (MILP) and AccessMod's greedy, side by side.

    Attributes
    ----------
    mode : str
        ``"budget"`` (most people served within ``budget``) or ``"target"`` (cheapest way to
        serve ``target_share`` of the population).
    sites : DataFrame
        The MILP's new facilities: ``site_id``, ``class_name``, ``capacity``, ``cost``,
        ``served_population`` (persons it serves in the MILP's assignment).
    served_population : float
        Persons served in total: by the existing facilities (``existing``) plus the new ones.
    new_served_population : float
        Persons the new facilities serve.
    total_population, cost : float
        Persons in all cells; money spent on the new facilities (the classes' unit).
    objective, bound, gap : float
        MILP objective (budget: persons served by the new facilities; target: cost), the
        proven bound (upper for the budget, lower for the target) and the relative gap
        ``|objective - bound| / |objective|``.
    status : str
        ``"optimal"`` (gap within ``mip_rel_gap``) or ``"time_limit"``.
    greedy_sites : DataFrame
        AccessMod's greedy, one row per facility added in order: ``step``, ``site_id``,
        ``class_name``, ``capacity``, ``cost``, ``population_within_max_time`` (the residual
        population in reach when chosen), ``served_population`` (taken by its catchment),
        ``cumulative_cost``, ``cumulative_served`` (existing included); the curve of people
        served against facilities added or money spent.
    greedy_served_population, greedy_cost : float
    cells : DataFrame
        Per cell: ``origin_id``, ``population``, ``existing_served``, ``new_served`` (MILP),
        ``greedy_new_served``.
    stats : dict
    """

    mode: str
    sites: pd.DataFrame = field(repr=False)
    served_population: float
    new_served_population: float
    total_population: float
    cost: float
    objective: float
    bound: float
    gap: float
    status: str
    greedy_sites: pd.DataFrame = field(repr=False)
    greedy_served_population: float
    greedy_cost: float
    cells: pd.DataFrame = field(repr=False)
    stats: dict = field(default_factory=dict)

    @property
    def served_share(self) -> float:
        return self.served_population / self.total_population if self.total_population else 0.0

    def as_dict(self) -> dict:
        """JSON-serialisable summary (sites listed, no per-cell arrays)."""
        return {"mode": self.mode, "served_population": self.served_population,
                "new_served_population": self.new_served_population,
                "served_share": self.served_share, "total_population": self.total_population,
                "cost": self.cost, "objective": self.objective, "bound": self.bound,
                "gap": self.gap, "status": self.status,
                "sites": [{k: _py(v) for k, v in r.items()}
                          for r in self.sites.to_dict("records")],
                "greedy_served_population": self.greedy_served_population,
                "greedy_cost": self.greedy_cost,
                "greedy_sites": [{k: _py(v) for k, v in r.items()}
                                 for r in self.greedy_sites.to_dict("records")],
                "stats": {k: _py(v) for k, v in self.stats.items()}}


def _classes_frame(classes, problems: list[str]) -> pd.DataFrame:
    try:
        df = pd.DataFrame(classes).reset_index(drop=True)
    except (TypeError, ValueError):
        problems.append("classes: give a table (DataFrame or list of dicts) with name, "
                        "capacity, cost")
        return pd.DataFrame({"name": [], "capacity": [], "cost": []})
    missing = [c for c in ("name", "capacity", "cost") if c not in df]
    if missing:
        problems.append(f"classes: missing column(s) {', '.join(missing)}; each class needs "
                        "name, capacity (persons) and cost (optional: min_population, "
                        "max_population for AccessMod's class rule)")
        return pd.DataFrame({"name": [], "capacity": [], "cost": []})
    if df.empty:
        problems.append("classes: the table is empty; give at least one capacity class")
        return df
    for col in ("capacity", "cost"):
        vals = pd.to_numeric(df[col], errors="coerce").to_numpy(float)
        bad = ~np.isfinite(vals) | (vals <= 0 if col == "capacity" else vals < 0)
        if bad.any():
            problems.append(f"classes: {col} must be a finite number "
                            f"{'> 0' if col == 'capacity' else '>= 0'}; rows "
                            f"{_head(df['name'][bad])} are not")
        df[col] = vals
    if df["name"].duplicated().any():
        problems.append(f"classes: names must be unique; repeated: "
                        f"{_head(df['name'][df['name'].duplicated()].unique())}")
    has_range = "min_population" in df or "max_population" in df
    if has_range and not ("min_population" in df and "max_population" in df):
        problems.append("classes: give both min_population and max_population, or neither")
    return df


def _accessmod_class(pop_in_reach: float, cls: pd.DataFrame) -> int:
    """AccessMod's class rule (``amScalingUp_evalCoverage``): the class whose
    ``[round(min), round(max)]`` population range holds the population in reach; when none or
    several do, the class of the smallest or of the largest capacity, whichever capacity is
    nearer (ties: the smallest)."""
    lo = np.round(cls["min_population"].to_numpy(float))
    hi = np.round(cls["max_population"].to_numpy(float))
    hit = np.flatnonzero((pop_in_reach >= lo) & (pop_in_reach <= hi))
    if len(hit) == 1:
        return int(hit[0])
    capv = cls["capacity"].to_numpy(float)
    small, large = capv.min(), capv.max()
    take_min = abs(pop_in_reach - large) >= abs(pop_in_reach - small)
    return int(np.flatnonzero(capv == (small if take_min else large))[0])


def _default_ranges(cls: pd.DataFrame) -> pd.DataFrame:
    """Population ranges when the classes give none: by capacity, each class takes the
    populations above the next smaller capacity up to its own (the smallest from 0, the
    largest without an upper end), so the rule picks the smallest class that can take
    everyone in reach, or the largest."""
    out = cls.copy()
    capv = out["capacity"].to_numpy(float)
    order = np.argsort(capv, kind="stable")
    lo = np.zeros(len(out))
    hi = np.full(len(out), np.inf)
    for rank, i in enumerate(order):
        lo[i] = 0.0 if rank == 0 else np.nextafter(capv[order[rank - 1]], np.inf)
        hi[i] = capv[i] if rank < len(order) - 1 else np.inf
    out["min_population"], out["max_population"] = lo, hi
    return out


def scale_up(costs_candidates: CostTable, population, *, max_time_min: float, classes,
             budget: float | None = None, target_share: float | None = None,
             existing: CapacityResult | None = None, bands: str = "exact",
             time_limit_s: float = 60.0, mip_rel_gap: float = 0.01) -> ScaleUpResult:
    """Where to add new facilities, and of which capacity class: exactly (MILP), and
    AccessMod's greedy for comparison.

    The people the existing facilities serve in ``existing`` (the result of
    :func:`capacity_optimum` or :func:`capacity_coverage` on the same cells) stay served by
    them; the new facilities serve the rest. Their residual capacity needs no place in the
    model: in both results no unserved person is within ``max_time_min`` of an existing
    facility with capacity left (the optimum would have served them; the greedy's facility
    with capacity left took everyone in reach), so for the same ``max_time_min`` it could
    serve nobody more.

    The MILP (a capacitated maximal covering / facility location model): ``y_jc`` binary,
    candidate j opens with class c, at most one class per candidate; ``x_ij >= 0`` people of
    cell i served at j, only for pairs within ``max_time_min`` (inclusive);
    ``sum_i x_ij <= sum_c capacity_c y_jc``, ``sum_j x_ij <= unserved_i``. Budget mode
    (``budget``): maximise ``sum x`` subject to ``sum cost_c y_jc <= budget``. Target mode
    (``target_share``): minimise ``sum cost_c y_jc`` subject to the served population
    (existing + new) ``>= target_share x population``. Exact reductions: cells with the same
    set of candidates in reach are merged (times do not enter the model); candidates with
    nobody in reach are dropped; a class with less capacity and no lower cost than another is
    never chosen (dropped); at a candidate, classes larger than the cheapest one whose capacity
    holds everyone in its reach are dropped. A first bound comes from the classes alone (the
    most capacity the budget buys, at most everyone in reach; or the cheapest capacity that
    reaches the target: a knapsack over the number of facilities per class, solved exactly),
    and two starting solutions, AccessMod's greedy and the knapsack's facilities placed
    largest first where the most people are left, are evaluated by an exact max flow; when one
    meets the bound within ``mip_rel_gap`` no MILP is needed. Otherwise the MILP (HiGHS,
    :func:`scipy.optimize.milp`, row generation below) runs to ``mip_rel_gap`` or
    ``time_limit_s``, the proven bound and gap reported. Ties keep the earlier solution (the
    greedy's sites first), so when AccessMod's choice is optimal, it is the answer.

    AccessMod's greedy (see the module docstring): repeatedly the candidate with the most
    residual population within ``max_time_min`` (the first on ties) opens with the class of
    AccessMod's rule (the ``min_population``/``max_population`` ranges of ``classes``; without
    them, the smallest class whose capacity holds everyone in reach, else the largest), and its
    catchment takes people as in :func:`capacity_coverage`. It stops when the target is
    reached, when that facility's cost no longer fits the budget, or when the best candidate
    has less than one person in reach.

    Parameters
    ----------
    costs_candidates : CostTable
        Demand cells -> candidate sites (the caller's: a grid of populated land, former
        stations, a list; exclusions already applied); cut-off >= ``max_time_min``.
    population : array-like, shape (n_origins,)
        Persons per cell.
    max_time_min : float
        Time limit, minutes (inclusive).
    classes : DataFrame or list of dict
        ``name``, ``capacity`` (persons, > 0), ``cost`` (>= 0, any money unit); optional
        ``min_population``, ``max_population`` (AccessMod's class ranges, for the greedy).
    budget : float, optional
        Money for new facilities (budget mode).
    target_share : float, optional
        Share of the population to serve, existing facilities included (target mode).
        Give exactly one of ``budget`` and ``target_share``.
    existing : CapacityResult or array-like, optional
        The existing facilities' result on the same cells, or the persons they serve per
        cell; None = no existing facility.
    bands : {"exact", "minute"}
        Bands of the greedy's catchments (as in :func:`capacity_coverage`).
    time_limit_s, mip_rel_gap : float
        HiGHS limits.

    Returns
    -------
    ScaleUpResult
    """
    return _scale_up_runs(costs_candidates, population, max_time_min=max_time_min,
                          classes=classes, questions=[(budget, target_share)],
                          existing=existing, bands=bands, time_limit_s=time_limit_s,
                          mip_rel_gap=mip_rel_gap)[0]


def scale_up_budgets(costs_candidates: CostTable, population, *, max_time_min: float, classes,
                     budgets: Sequence[float], existing=None, bands: str = "exact",
                     time_limit_s: float = 60.0,
                     mip_rel_gap: float = 0.01) -> list[ScaleUpResult]:
    """:func:`scale_up` in budget mode for each of ``budgets`` (in that order), the inputs
    checked and the pairs and their groups prepared once: each result is the one
    :func:`scale_up` gives for that budget alone."""
    return _scale_up_runs(costs_candidates, population, max_time_min=max_time_min,
                          classes=classes, questions=[(float(b), None) for b in budgets],
                          existing=existing, bands=bands, time_limit_s=time_limit_s,
                          mip_rel_gap=mip_rel_gap)


def _existing_served(existing, n: int, problems: list[str]) -> np.ndarray | None:
    """Persons the existing facilities serve per cell (None: none), from a result or an
    array."""
    if existing is None:
        return None
    if isinstance(existing, CapacityResult):
        if len(existing.cells) != n:
            problems.append(f"existing has {len(existing.cells)} cells but the cost table has "
                            f"{n} origins: give the result on the same cells")
            return None
        return existing.cells["served_population"].to_numpy(float)
    try:
        served = np.asarray(existing, dtype=np.float64).ravel()
    except (TypeError, ValueError):
        problems.append("existing: give a capacity result or the persons served per cell")
        return None
    if served.shape != (n,) or not np.all(np.isfinite(served)):
        problems.append(f"existing has {served.size} values but the cost table has {n} "
                        f"origins: give the persons served per origin (finite), in its order")
        return None
    return served


def _scale_up_runs(costs: CostTable, population, *, max_time_min: float, classes,
                   questions: list[tuple[float | None, float | None]], existing, bands: str,
                   time_limit_s: float, mip_rel_gap: float) -> list[ScaleUpResult]:
    """:func:`scale_up` for each (budget, target_share) of ``questions`` on one preparation
    (inputs checked, cells with people left, their pairs and, for the MILP, their groups)."""
    t0 = time.perf_counter()
    problems: list[str] = []
    pop = _check_population(costs, population, problems)
    T = _check_time(costs, max_time_min, problems)
    cls = _classes_frame(classes, problems)
    for budget, target_share in questions:
        if (budget is None) == (target_share is None):
            problems.append("give exactly one of budget (most people within a budget) and "
                            "target_share (cheapest way to a share of the population)")
        if budget is not None and not (np.isfinite(budget) and budget >= 0):
            problems.append(f"budget must be a finite amount >= 0, got {budget!r}")
        if target_share is not None and not (0 <= target_share <= 1):
            problems.append(f"target_share must be between 0 and 1, got {target_share!r}")
    served_in = _existing_served(existing, costs.n_origins, problems)
    if bands not in BANDS:
        problems.append(f"bands must be one of {', '.join(BANDS)}, got {bands!r}")
    _fail("scale_up", problems)
    n, m = costs.n_origins, costs.n_dests
    served0 = np.zeros(n) if served_in is None else np.minimum(served_in, pop)
    demand = np.where(served0 > 0, _complement(pop, served0), pop)
    # what an LP leaves behind as rounding (under a millionth of a person) is nobody
    demand = np.where(demand > 1e-6, demand, 0.0)
    total = math.fsum(pop)
    served_existing = math.fsum(served0)
    pairs = _pairs(costs, pop, T)
    keep = demand[pairs.o] > 0          # only cells with people left to serve matter
    pairs = _Pairs(o=pairs.o[keep], d=pairs.d[keep], t=pairs.t[keep], pop=pop, T=T,
                   costs=costs)
    groups = _milp_groups(pairs, demand, m)
    ids = np.asarray(costs.dest_ids)
    prep_s = time.perf_counter() - t0
    out = []
    for budget, target_share in questions:
        t1 = time.perf_counter()
        need = None
        if target_share is not None:
            need = max(target_share * total - served_existing, 0.0)
        greedy = _scale_up_greedy(pairs, demand, cls, m, budget=budget, need=need,
                                  bands=bands, base=served_existing, ids=ids)
        milp_out = _scale_up_milp(groups, demand, cls, m, budget=budget, need=need,
                                  time_limit_s=time_limit_s, mip_rel_gap=mip_rel_gap,
                                  incumbent=(greedy["site_pos"], greedy["class_pos"]))
        sites = milp_out["sites"]
        sites.insert(0, "site_id", ids[sites.pop("site")] if len(sites) else [])
        new_served = milp_out["new_served_cells"]
        cells = pd.DataFrame({"origin_id": np.asarray(costs.origin_ids), "population": pop,
                              "existing_served": served0, "new_served": new_served,
                              "greedy_new_served": greedy["new_served_cells"]})
        new_total = math.fsum(new_served)
        log.info("scale_up %s: %d new sites, %.0f more people served (greedy: %d sites, "
                 "%.0f), gap %.4g", milp_out["mode"], len(sites), new_total,
                 len(greedy["sites"]), greedy["served"], milp_out["gap"])
        out.append(ScaleUpResult(
            mode=milp_out["mode"], sites=sites, served_population=served_existing + new_total,
            new_served_population=new_total, total_population=total,
            cost=math.fsum(sites["cost"]) if len(sites) else 0.0,
            objective=milp_out["objective"], bound=milp_out["bound"], gap=milp_out["gap"],
            status=milp_out["status"], greedy_sites=greedy["sites"],
            greedy_served_population=served_existing + greedy["served"],
            greedy_cost=greedy["cost"], cells=cells,
            stats={**milp_out["stats"], "seconds": prep_s + time.perf_counter() - t1}))
    return out


def _max_flow(go: np.ndarray, gd: np.ndarray, D: np.ndarray, site_cap: np.ndarray):
    """Most people the sites can serve: ``max sum x`` with ``sum_j x_gj <= D_g`` and
    ``sum_g x_gj <= site_cap_j`` over the pairs given (HiGHS LP). Returns (x, value)."""
    P = len(go)
    if P == 0:
        return np.zeros(0), 0.0
    G = len(D)
    npg = np.bincount(go, minlength=G)
    multi = npg[go] > 1
    gro = np.full(G, -1, np.int64)
    gro[npg > 1] = np.arange(int((npg > 1).sum()))
    sites, srow = np.unique(gd, return_inverse=True)
    nG = int((npg > 1).sum())
    rows = np.r_[gro[go[multi]], nG + srow.ravel()]
    cols = np.r_[np.flatnonzero(multi), np.arange(P)]
    A = sparse.csr_array((np.ones(len(rows)), (rows, cols)), shape=(nG + len(sites), P))
    b = np.r_[D[npg > 1], site_cap[sites]]
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=RuntimeWarning)
        res = linprog(-np.ones(P), A_ub=A, b_ub=b, bounds=np.column_stack([np.zeros(P),
                                                                           D[go]]),
                      method="highs")
    if res.status != 0:
        msg = f"scale_up: the flow check failed: {res.message}"
        raise SolveError(msg)
    x = np.clip(res.x, 0.0, None)
    return x, math.fsum(x)


def _milp_groups(pairs: _Pairs, demand: np.ndarray, m: int) -> dict:
    """What the MILP of :func:`scale_up` needs of the pairs, the same for every budget: the
    cells with the same candidates in reach merged (exact: times do not enter the model),
    their people ``D``, the pairs of the groups, each candidate's people in reach and its
    pairs."""
    n = len(demand)
    sel = demand[pairs.o] > 0
    o, d = pairs.o[sel], pairs.d[sel]
    group, reps = _identical_rows(o, d, np.zeros(len(o)), n)
    G = len(reps)
    D = np.bincount(group, weights=demand, minlength=G)
    rep = np.isin(o, reps)
    go, gd = group[o[rep]], d[rep]
    reach = np.bincount(gd, weights=D[go], minlength=m)
    by_site = np.argsort(gd, kind="stable")          # pairs by site, for N(S)
    site_ptr = np.searchsorted(gd[by_site], np.arange(m + 1))
    return {"group": group, "D": D, "go": go, "gd": gd, "reach": reach,
            "by_site": by_site, "site_ptr": site_ptr}


def _scale_up_milp(groups: dict, demand: np.ndarray, cls: pd.DataFrame, m: int, *,
                   budget: float | None, need: float | None, time_limit_s: float,
                   mip_rel_gap: float,
                   incumbent: tuple[np.ndarray, np.ndarray] | None = None) -> dict:
    """The MILP of :func:`scale_up`, solved by row generation on its flows.

    The flows ``x_gj`` are projected out: with ``s_j`` the people site j serves, an
    assignment exists iff every set S of sites satisfies Hall's condition (Gale's theorem, the
    max-flow min-cut theorem on the bipartite network) ``sum_{j in S} s_j <= D(N(S))``, N(S)
    the cells in reach of S. The master MILP (HiGHS) holds ``y``, ``s``,
    ``s_j <= sum_c min(capacity_c, D(N(j))) y_jc`` (the singletons) and the Hall rows found
    so far: a relaxation, so its proven bound holds for the full model. Its solution is
    checked with an exact max flow; ``incumbent`` (sites and classes, e.g. the greedy's)
    is evaluated the same way and kept when better. When ``s`` cannot be routed, the flow's
    minimum cut gives a violated set S (the opened sites not reachable from the source in
    the residual network) and its row is added. When ``s`` routes, the master's solution is
    feasible: its objective and the master's bound are the model's, the gap proven.
    """
    t0 = time.perf_counter()
    deadline = t0 + float(time_limit_s)
    mode = "budget" if budget is not None else "target"
    capv = cls["capacity"].to_numpy(float)
    costv = cls["cost"].to_numpy(float)
    names = cls["name"].to_numpy(object)
    dominated = np.array([any((capv[k] >= capv[c]) and (costv[k] <= costv[c]) and
                              ((capv[k] > capv[c]) or (costv[k] < costv[c]))
                              for k in range(len(capv))) for c in range(len(capv))])
    keep_cls = np.flatnonzero(~dominated)
    keep_cls = keep_cls[np.argsort(capv[keep_cls], kind="stable")]
    group, D, go, gd, reach = (groups[k] for k in ("group", "D", "go", "gd", "reach"))
    by_site, site_ptr = groups["by_site"], groups["site_ptr"]
    G = len(D)
    cand = np.flatnonzero(reach > 0)
    nc = len(cand)
    s_of = np.full(m, -1, np.int64)
    s_of[cand] = np.arange(nc)
    yj, yc = [], []
    for c_pos, c in enumerate(keep_cls):
        smaller_holds = reach <= capv[keep_cls[c_pos - 1]] if c_pos else np.zeros(m, bool)
        ok = cand[~smaller_holds[cand]]
        yj.append(ok)
        yc.append(np.full(len(ok), c))
    yj = np.concatenate(yj) if yj else np.zeros(0, np.int64)
    yc = np.concatenate(yc) if yc else np.zeros(0, np.int64)
    ny = len(yj)
    ncl = len(keep_cls)
    nv = ny + nc + ncl        # y, s, and n_c = number of sites of class c (general integers)
    # fixed rows: s_j - sum_c min(cap_c, reach_j) y_jc <= 0; one class per site; budget/target
    rows = [s_of[yj], s_of[cand]]
    cols = [np.arange(ny), ny + np.arange(nc)]
    vals = [-np.minimum(capv[yc], reach[yj]), np.ones(nc)]
    lo, hi = [np.full(nc, -np.inf)], [np.zeros(nc)]
    r = nc
    ncls = np.bincount(yj, minlength=m)
    multi_site = ncls[yj] > 1
    two = np.flatnonzero(ncls > 1)
    srow = np.full(m, -1, np.int64)
    srow[two] = r + np.arange(len(two))
    rows.append(srow[yj[multi_site]])
    cols.append(np.flatnonzero(multi_site))
    vals.append(np.ones(int(multi_site.sum())))
    lo.append(np.full(len(two), -np.inf))
    hi.append(np.ones(len(two)))
    r += len(two)
    # n_c = sum_j y_jc, and sum_j s_j <= sum_c capacity_c n_c: the budget's knapsack over a
    # few integers, which HiGHS branches on far better than over thousands of symmetric sites
    cls_col = ny + nc + np.searchsorted(keep_cls, yc)
    rows += [r + np.searchsorted(keep_cls, yc), r + np.arange(ncl)]
    cols += [np.arange(ny), ny + nc + np.arange(ncl)]
    vals += [np.ones(ny), -np.ones(ncl)]
    lo.append(np.zeros(ncl))
    hi.append(np.zeros(ncl))
    r += ncl
    rows += [np.full(nc, r), np.full(ncl, r)]
    cols += [ny + np.arange(nc), ny + nc + np.arange(ncl)]
    vals += [np.ones(nc), -capv[keep_cls]]
    lo.append(np.array([-np.inf]))
    hi.append(np.array([0.0]))
    r += 1
    if mode == "budget":
        rows.append(np.full(ncl, r))
        cols.append(ny + nc + np.arange(ncl))
        vals.append(costv[keep_cls])
        lo.append(np.array([-np.inf]))
        hi.append(np.array([float(budget)]))
        c_obj = np.r_[np.zeros(ny), -np.ones(nc), np.zeros(ncl)]
    else:
        rows.append(np.full(nc, r))
        cols.append(ny + np.arange(nc))
        vals.append(np.ones(nc))
        lo.append(np.array([float(need)]))
        hi.append(np.array([np.inf]))
        c_obj = np.r_[np.zeros(ny), np.zeros(nc), costv[keep_cls]]
    r += 1
    del cls_col
    base = (np.concatenate(rows), np.concatenate(cols), np.concatenate(vals),
            np.concatenate(lo), np.concatenate(hi), r)
    cuts: list[tuple[np.ndarray, float]] = []
    stats = {"cells_with_unserved": int((demand > 0).sum()), "groups": int(G),
             "candidates_in_reach": int(nc), "classes_kept": int(len(keep_cls)),
             "y_columns": int(ny), "pairs": int(len(go))}
    if mode == "target" and need > float(D.sum()) * (1 + 1e-12) + 1e-9:
        msg = (f"scale_up: the target needs {need:,.0f} more people served but only "
               f"{float(D.sum()):,.0f} unserved people are within the time limit of a "
               "candidate; lower target_share or add candidates")
        raise SolveError(msg)
    best = None          # (objective, y mask, x, pairs mask)
    bound = np.inf if mode == "budget" else -np.inf
    rounds = 0
    if ny == 0 or (mode == "target" and need <= 0):
        best = (0.0, np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0),
                np.zeros(len(go), bool))
        bound = 0.0
    def better(value: float) -> bool:
        """Strictly better than the best so far (ties keep the earlier: the greedy's sites,
        then the knapsack heuristic's, then the master's)."""
        if best is None:
            return True
        tol = 1e-9 * max(abs(value), abs(best[0]), 1.0)
        return value > best[0] + tol if mode == "budget" else value < best[0] - tol

    if best is None:
        # the classes alone: the most capacity the budget buys (at most everyone in reach),
        # or the cheapest capacity that reaches the target; a bound of the whole model
        avail = np.bincount(np.searchsorted(keep_cls, yc), minlength=len(keep_cls))
        counts, kbound = _class_knapsack(capv[keep_cls], costv[keep_cls], avail,
                                         budget=budget, need=need)
        if counts is None:
            msg = "scale_up: no choice of candidates and classes reaches the target"
            raise SolveError(msg)
        bound = min(kbound, float(D.sum())) if mode == "budget" else kbound
        stats["knapsack_bound"] = bound
        heur = _knapsack_sites(go, gd, D, counts, keep_cls, capv, yj, yc, m,
                               need=need, costv=costv)
        for label, cand_sc in (("greedy", incumbent), ("knapsack", heur)):
            if cand_sc is None or not len(cand_sc[0]):
                continue
            inc_site, inc_cls = (np.asarray(a, np.int64) for a in cand_sc)
            K = np.zeros(m)
            np.add.at(K, inc_site, capv[inc_cls])
            open_pair = K[gd] > 0
            x_k, flow_k = _max_flow(go[open_pair], gd[open_pair], D, K)
            if mode == "budget" or flow_k >= need * (1 - 1e-9) - 1e-9:
                value = flow_k if mode == "budget" else math.fsum(costv[inc_cls])
                if better(value):
                    best = (value, inc_site, inc_cls, x_k, open_pair)
                    stats["incumbent"] = label
    def master_rows():
        rr, cc, vv, ll, hh, nr = base
        if cuts:
            rr = np.r_[rr, np.concatenate([np.full(len(S), nr + k) for k, (S, _) in
                                           enumerate(cuts)])]
            cc = np.r_[cc, np.concatenate([ny + s_of[S] for S, _ in cuts])]
            vv = np.r_[vv, np.ones(sum(len(S) for S, _ in cuts))]
            ll = np.r_[ll, np.full(len(cuts), -np.inf)]
            hh = np.r_[hh, [rhs for _, rhs in cuts]]
            nr += len(cuts)
        return LinearConstraint(sparse.csr_array((vv, (rr, cc)), shape=(nr, nv)), ll, hh)

    var_bounds = Bounds(np.zeros(nv), np.r_[np.ones(ny), reach[cand], np.full(ncl, nc)])
    wanted_gap = mip_rel_gap * (1 + 1e-9) + 1e-12
    while best is None or _rel_gap(best[0], bound) > wanted_gap:
        left = deadline - time.perf_counter()
        if left <= 0:
            break
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", category=RuntimeWarning)
            res = milp(c_obj, integrality=np.r_[np.ones(ny), np.zeros(nc), np.ones(ncl)],
                       bounds=var_bounds, constraints=master_rows(),
                       options={"time_limit": float(max(left, 0.05)),
                                "mip_rel_gap": float(mip_rel_gap) * 0.5, "presolve": True,
                                # thousands of near-identical sites: HiGHS's symmetry
                                # detection costs far more than it saves here
                                "mip_detect_symmetry": False})
        rounds += 1
        if res.status == 2 and mode == "target":
            msg = "scale_up: no choice of candidates and classes reaches the target"
            raise SolveError(msg)
        if res.x is None:
            break
        dual = getattr(res, "mip_dual_bound", None)
        dual = float(res.fun) if dual is None or not np.isfinite(dual) else float(dual)
        bound = min(bound, -dual) if mode == "budget" else max(bound, dual)
        y = res.x[:ny] > 0.5
        s_val = np.clip(res.x[ny:ny + nc], 0.0, None)
        K = np.zeros(m)
        np.add.at(K, yj[y], capv[yc[y]])
        open_pair = K[gd] > 0
        # can the master's s be routed? max flow with the site capacities s
        x_s, flow_s = _max_flow(go[open_pair], gd[open_pair], D,
                                np.where(s_of >= 0, s_val[np.maximum(s_of, 0)], 0.0))
        want = math.fsum(s_val[s_of[np.flatnonzero(K > 0)]]) if (K > 0).any() else 0.0
        x_k, flow_k = _max_flow(go[open_pair], gd[open_pair], D, K)
        value = flow_k if mode == "budget" else math.fsum(costv[yc[y]])
        feasible = mode == "budget" or flow_k >= need * (1 - 1e-9) - 1e-9
        if feasible and better(value):
            best = (value, yj[y], yc[y], x_k, open_pair)
            stats["incumbent"] = "master"
        if flow_s >= want * (1 - 1e-9) - 1e-6:
            break                       # the master's solution routes: proven
        S = _hall_violation(go[open_pair], gd[open_pair], x_s, D, s_val, s_of, K)
        NS = np.unique(go[by_site[_ranges_of(site_ptr, S)]])
        cuts.append((S, float(D[NS].sum())))
    if best is None:
        msg = (f"scale_up: HiGHS found no solution within {time_limit_s:g} s; raise "
               "time_limit_s")
        raise SolveError(msg)
    objective, site_pos, class_pos, x, open_pair = best
    served_site = np.bincount(gd[open_pair], weights=x, minlength=m)
    served_g = np.minimum(np.bincount(go[open_pair], weights=x, minlength=G), D)
    frac = np.where(D > 0, served_g / np.where(D > 0, D, 1.0), 0.0)
    new_cells = np.minimum(demand * frac[group], demand)
    bound = max(bound, objective) if mode == "budget" else min(bound, objective)
    gap = _rel_gap(objective, bound)
    status = "optimal" if gap <= mip_rel_gap * (1 + 1e-9) + 1e-12 else "time_limit"
    order = np.argsort(site_pos, kind="stable")
    site_pos, class_pos = site_pos[order], class_pos[order]
    sites = pd.DataFrame({"site": site_pos, "class_name": names[class_pos],
                          "capacity": capv[class_pos], "cost": costv[class_pos],
                          "served_population": served_site[site_pos]})
    stats.update({"rounds": rounds, "hall_rows": len(cuts)})
    return {"mode": mode, "sites": sites, "objective": objective, "bound": bound, "gap": gap,
            "status": status, "new_served_cells": new_cells, "stats": stats}


def _class_knapsack(capv: np.ndarray, costv: np.ndarray, avail: np.ndarray, *,
                    budget: float | None, need: float | None):
    """Numbers of new facilities per class: the most capacity within ``budget``, or the
    cheapest capacity of at least ``need`` (at most ``avail[c]`` of class c). A small integer
    program (one integer per class), solved exactly by HiGHS. Returns (counts, value) or
    (None, inf) when the target cannot be reached."""
    k = len(capv)
    if k == 0:
        return (np.zeros(0, np.int64), 0.0) if budget is not None else (None, np.inf)
    if budget is not None:
        c_obj, A, lo, hi = -capv, costv[None, :], [-np.inf], [float(budget)]
    else:
        c_obj, A, lo, hi = costv, capv[None, :], [float(need)], [np.inf]
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=RuntimeWarning)
        res = milp(c_obj, integrality=np.ones(k),
                   bounds=Bounds(np.zeros(k), avail.astype(float)),
                   constraints=LinearConstraint(A, lo, hi),
                   options={"mip_rel_gap": 0.0, "time_limit": 10.0})
    if res.x is None:
        return None, np.inf
    counts = np.round(res.x).astype(np.int64)
    return counts, (float(capv @ counts) if budget is not None else float(costv @ counts))


def _knapsack_sites(go: np.ndarray, gd: np.ndarray, D: np.ndarray, counts: np.ndarray,
                    keep_cls: np.ndarray, capv: np.ndarray, yj: np.ndarray, yc: np.ndarray,
                    m: int, *, need: float | None, costv: np.ndarray):
    """A starting solution: the knapsack's facilities, largest class first, each at the free
    site with the most people left in its reach (each site then takes its capacity from its
    reach in proportion); for a target, while the people taken fall short, one more of the
    class of least cost per person. Returns (site positions, class positions)."""
    allowed = np.zeros((len(keep_cls), m), bool)
    allowed[np.searchsorted(keep_cls, yc), yj] = True
    left = D.astype(float).copy()
    used = np.zeros(m, bool)
    sites: list[int] = []
    classes: list[int] = []
    order = np.argsort(-capv[keep_cls], kind="stable")
    plan = [int(k) for k in order for _ in range(int(counts[k]))]
    taken = 0.0
    cheapest = int(np.argmin(costv[keep_cls] / capv[keep_cls]))
    while True:
        if not plan:
            if need is None or taken >= need * (1 - 1e-9) or used.all():
                break
            plan = [cheapest]
        k = plan.pop(0)
        within = np.bincount(gd, weights=left[go], minlength=m)
        within[used | ~allowed[k]] = -1.0
        j = int(np.argmax(within))
        if within[j] <= 0:              # nobody left in reach of a free site
            break
        cap = capv[keep_cls[k]]
        share = min(1.0, cap / within[j])
        in_reach = go[gd == j]
        taken += share * float(left[in_reach].sum())
        left[in_reach] *= 1.0 - share
        used[j] = True
        sites.append(j)
        classes.append(int(keep_cls[k]))
    return np.array(sites, np.int64), np.array(classes, np.int64)


def _ranges_of(ptr: np.ndarray, items: np.ndarray) -> np.ndarray:
    """Concatenated ``arange(ptr[i], ptr[i + 1])`` for every i in ``items``."""
    lengths = ptr[items + 1] - ptr[items]
    total = int(lengths.sum())
    if total == 0:
        return np.zeros(0, np.int64)
    offs = np.cumsum(lengths) - lengths
    return np.arange(total) - np.repeat(offs - ptr[items], lengths)


def _hall_violation(go: np.ndarray, gd: np.ndarray, x: np.ndarray, D: np.ndarray,
                    s_val: np.ndarray, s_of: np.ndarray, K: np.ndarray) -> np.ndarray:
    """Sites of a violated Hall row from a maximum flow ``x`` (capacities ``s``): the opened
    sites not reachable from the source in the residual network. Every cell in reach of
    them is unreachable too (its arcs to them are uncapacitated), so the flow saturates the
    source arcs of those cells and the sites ask for more than those cells hold."""
    from scipy.sparse.csgraph import breadth_first_order

    G, m = len(D), len(K)
    tol = 1e-9
    out = np.bincount(go, weights=x, minlength=G)
    src = np.flatnonzero(D - out > tol * np.maximum(D, 1.0))
    # nodes: 0 = source, 1..G groups, G+1..G+m sites
    back = x > tol
    rows = np.r_[np.zeros(len(src), np.int64), 1 + go, 1 + G + gd[back]]
    cols = np.r_[1 + src, 1 + G + gd, 1 + go[back]]
    N = 1 + G + m
    graph = sparse.csr_array((np.ones(len(rows)), (rows, cols)), shape=(N, N))
    reached = breadth_first_order(graph, 0, directed=True, return_predecessors=False)
    seen = np.zeros(N, bool)
    seen[reached] = True
    opened = np.flatnonzero(K > 0)
    return opened[~seen[1 + G + opened]]


def _rel_gap(objective: float, bound: float) -> float:
    if not (np.isfinite(objective) and np.isfinite(bound)):
        return float("inf")
    diff = abs(objective - bound)
    scale = max(abs(objective), abs(bound))
    if scale == 0 or diff <= 1e-9 * scale:
        return 0.0
    return float(diff / max(abs(objective), 1e-300))


def _scale_up_greedy(pairs: _Pairs, demand: np.ndarray, cls: pd.DataFrame, m: int, *,
                     budget: float | None, need: float | None, bands: str, base: float,
                     ids: np.ndarray) -> dict:
    """AccessMod's scaling up with the population in reach as the suitability."""
    ranges = cls if "min_population" in cls else _default_ranges(cls)
    cat = _SiteCatchments(pairs.o, pairs.d, pairs.t, m, bands=bands)
    residual = demand.copy()
    used = np.zeros(m, bool)
    rows = []
    site_pos: list[int] = []
    class_pos: list[int] = []
    spent = served = 0.0
    new_cells = np.zeros(len(demand))
    while not used.all():
        if need is not None and served >= need * (1 - 1e-12):
            break
        within = np.where(used, -np.inf, cat.within(residual))
        j = int(np.argmax(within))
        if within[j] < 1.0:          # AccessMod: a best candidate under one person is excluded
            break                    # (and every other one has fewer still)
        c = _accessmod_class(float(within[j]), ranges)
        cost = float(cls["cost"].iloc[c])
        if budget is not None and spent + cost > budget * (1 + 1e-12):
            break
        take = cat.take(j, float(cls["capacity"].iloc[c]), residual)
        used[j] = True
        spent += cost
        served += take.served
        np.add.at(new_cells, cat.o[take.idx], take.people)
        site_pos.append(j)
        class_pos.append(c)
        rows.append({"step": len(rows) + 1, "site_id": _py(ids[j]),
                     "class_name": cls["name"].iloc[c],
                     "capacity": float(cls["capacity"].iloc[c]), "cost": cost,
                     "population_within_max_time": float(within[j]),
                     "served_population": take.served, "cumulative_cost": spent,
                     "cumulative_served": base + served})
    cols = ["step", "site_id", "class_name", "capacity", "cost", "population_within_max_time",
            "served_population", "cumulative_cost", "cumulative_served"]
    return {"sites": pd.DataFrame(rows, columns=cols), "served": served, "cost": spent,
            "new_served_cells": np.minimum(new_cells, demand),
            "site_pos": np.array(site_pos, np.int64), "class_pos": np.array(class_pos, np.int64)}



def scale_up_curve(costs_candidates: CostTable, population, *, max_time_min: float, classes,
                   budgets: Sequence[float], existing: CapacityResult | None = None,
                   time_limit_s: float = 60.0, mip_rel_gap: float = 0.01) -> pd.DataFrame:
    """People served against money spent: :func:`scale_up` (budget mode) for each budget.

    Returns
    -------
    DataFrame
        One row per budget, in the order given: ``budget``, ``served_population`` (existing
        included), ``served_share``, ``cost`` (spent), ``sites``, ``bound``, ``gap``,
        ``status`` (the MILP's), ``greedy_served_population`` and ``greedy_cost``
        (AccessMod's greedy under the same budget), ``sites_ids``.
    """
    rows = []
    results = scale_up_budgets(costs_candidates, population, max_time_min=max_time_min,
                               classes=classes, budgets=budgets, existing=existing,
                               time_limit_s=time_limit_s, mip_rel_gap=mip_rel_gap)
    for b, r in zip(budgets, results, strict=True):
        base = r.served_population - r.new_served_population
        rows.append({"budget": float(b), "served_population": r.served_population,
                     "served_share": r.served_share, "cost": r.cost, "sites": len(r.sites),
                     "bound": base + r.bound, "gap": r.gap, "status": r.status,
                     "greedy_served_population": r.greedy_served_population,
                     "greedy_cost": r.greedy_cost,
                     "sites_ids": [_py(v) for v in r.sites["site_id"]]})
    return pd.DataFrame(rows)

# --- catchment layers -----------------------------------------------------------------------

CATCHMENT_KINDS = ("capacity", "time")
# Catchments over more demand units than this are drawn on the demand grid (each grid cell
# whole when any of its pieces is in the catchment), as the maps draw such surfaces: a union
# of the pieces of 600,000 units (100 m) takes minutes, the traced grid a second.
CATCHMENT_GRID_UNITS = 100_000


def catchment_polygons(result: CapacityResult, demand, *, by: str = "capacity",
                       costs: CostTable | None = None):
    """Per-facility catchment polygons from a capacity result and the demand cells' shapes.

    Parameters
    ----------
    result : CapacityResult
        From :func:`capacity_coverage` or :func:`capacity_optimum`.
    demand : GeoDataFrame
        One row per origin of the cost table, in its order (e.g. the demand surface), with
        the cells' geometries (any projected CRS; kept).
    by : {"capacity", "time"}
        ``"capacity"``: the cells the facility actually serves (in part or whole);
        ``"time"``: every cell within the facility's catchment time (AccessMod's catchment
        polygon: travel time from 0 to the catchment time, whoever serves the cells).
    costs : CostTable, optional
        The cost table of ``result`` (needed for ``by="time"``).

    Returns
    -------
    GeoDataFrame
        One row per facility with a catchment: ``facility_id``, ``catchment`` (``by``),
        ``cells``, ``population`` (persons in the cells), ``served_population`` (persons the
        facility serves), ``catchment_time_min``, geometry (the union of the cells). New
        object; the inputs are not changed. Over more than ``CATCHMENT_GRID_UNITS`` demand
        units (pieces of one square grid) the geometry is drawn on the grid: each grid cell
        whole when any of its pieces is in the catchment (``attrs["drawn_on_grid_m"]`` = the
        cell side); the figures are the units' own either way.
    """
    import geopandas as gpd

    problems: list[str] = []
    if by not in CATCHMENT_KINDS:
        problems.append(f"by must be one of {', '.join(CATCHMENT_KINDS)}, got {by!r}")
    if len(demand) != len(result.cells):
        problems.append(f"demand has {len(demand)} rows but the result has "
                        f"{len(result.cells)} cells: give the demand cells of the cost table, "
                        "in its order")
    if by == "time" and costs is None:
        problems.append("by='time' needs the cost table (costs=...) to find the cells within "
                        "each catchment time")
    if costs is not None and costs.n_origins != len(result.cells):
        problems.append(f"costs has {costs.n_origins} origins but the result has "
                        f"{len(result.cells)} cells")
    _fail("catchment_polygons", problems)
    fac = result.facilities
    if by == "capacity":
        a = result.assignments
        o, d = a["origin"].to_numpy(np.int64), a["dest"].to_numpy(np.int64)
    else:
        ct = fac["catchment_time_min"].to_numpy(float)
        cd = np.asarray(costs.dest, np.int64)
        t = np.asarray(costs.time_min, float)
        bands = result.stats.get("bands", "exact")
        z = np.ceil(t) if bands == "minute" else t
        lim = np.nan_to_num(ct, nan=-np.inf)[cd]
        sel = (z <= lim) & (t <= result.max_time_min)
        o, d = np.asarray(costs.origin, np.int64)[sel], cd[sel]
    pop = result.cells["population"].to_numpy(float)
    geoms = demand.geometry.to_numpy()
    if len(o) == 0:
        return gpd.GeoDataFrame({"facility_id": [], "catchment": [], "cells": [],
                                 "population": [], "served_population": [],
                                 "catchment_time_min": []}, geometry=[], crs=demand.crs)
    grid = demand_grid(geoms) if len(demand) > CATCHMENT_GRID_UNITS else None
    if grid is not None:
        return _grid_catchments(o, d, pop, fac, grid, by=by, crs=demand.crs)
    frame = gpd.GeoDataFrame({"dest": d, "population": pop[o]}, geometry=geoms[o],
                             crs=demand.crs)
    frame["cells"] = 1
    out = frame.dissolve(by="dest", aggfunc={"population": "sum", "cells": "sum"})
    pos = out.index.to_numpy(np.int64)
    out = gpd.GeoDataFrame({
        "facility_id": fac["facility_id"].to_numpy()[pos], "catchment": by,
        "cells": out["cells"].to_numpy(np.int64), "population": out["population"].to_numpy(),
        "served_population": fac["served_population"].to_numpy(float)[pos],
        "catchment_time_min": fac["catchment_time_min"].to_numpy(float)[pos]},
        geometry=out.geometry.to_numpy(), crs=demand.crs)
    return out.reset_index(drop=True)


def _grid_catchments(o: np.ndarray, d: np.ndarray, pop: np.ndarray, fac: pd.DataFrame,
                     grid: tuple[np.ndarray, np.ndarray, float], *, by: str, crs):
    """:func:`catchment_polygons` drawn on the demand grid: per facility, the grid cells
    holding a unit of its catchment, traced whole. The figures are the units' own."""
    import geopandas as gpd

    ix, iy, cs = grid
    m = len(fac)
    srt = np.argsort(d, kind="stable")
    start = np.searchsorted(d[srt], np.arange(m + 1))
    pos = np.flatnonzero(np.diff(start) > 0)
    geoms = [grid_cells_polygon(ix[o[srt[start[j]:start[j + 1]]]],
                                iy[o[srt[start[j]:start[j + 1]]]], cs) for j in pos]
    out = gpd.GeoDataFrame({
        "facility_id": fac["facility_id"].to_numpy()[pos], "catchment": by,
        "cells": np.diff(start)[pos].astype(np.int64),
        "population": np.bincount(d, weights=pop[o], minlength=m)[pos],
        "served_population": fac["served_population"].to_numpy(float)[pos],
        "catchment_time_min": fac["catchment_time_min"].to_numpy(float)[pos]},
        geometry=geoms, crs=crs)
    out.attrs["drawn_on_grid_m"] = cs
    return out
