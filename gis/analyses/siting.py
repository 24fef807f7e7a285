"""Location models on the sparse cost table, solved with HiGHS (:func:`scipy.optimize.milp`).

Models
------
- :func:`best_in_groups`: per group (post-2025 commune), the best of the group's own sites for
  the group's own people (an exact enumeration).
- :func:`set_cover`: fewest sites so that everyone is within a time of an open site (LSCP).
- :func:`mclp`: most people within a time of ``p`` open sites (maximal covering).
- :func:`coverage_curve`: the MCLP for ``fixed_open`` plus ``k`` more sites, for several ``k``.
- :func:`p_median`: ``p`` sites minimising population-weighted travel time.
- :func:`p_center`: ``p`` sites minimising the longest travel time.
- :func:`score_sites` and :func:`rescore_swap`: the figures of a set of open sites, and the
  same after closing and opening a few, updated incrementally (well under a second at
  100,000 demand units).

Conventions
-----------
Demand units are the origins of a :class:`~gis.model.costs.CostTable`, weighted by ``population``
(persons, one value per origin, in the order of ``costs.origin_ids``); candidate sites are its
destinations, named by their ids in ``costs.dest_ids``. Times are minutes. A pair missing from
the table is beyond the table's cut-off: it never covers and is never an allowed assignment.
Covering is inclusive (a unit exactly ``max_time_min`` away is covered). Units with population
0 never constrain a model. ``fixed_open`` sites are open in every model and ``fixed_closed``
sites never open; an unknown id, or an id in both, raises :class:`~gis.errors.SolveError`.

Every result reports the solver's proven ``bound`` and the relative ``gap`` between objective
and bound (``|objective - bound| / |objective|``; 0.0 when proven optimal). Status
``"optimal"`` means the gap is within the requested ``mip_rel_gap``; ``"time_limit"`` means
the time ran out first (the solution and its gap are still reported).

Reductions (all exact)
----------------------
Covering models: units covered by a ``fixed_open`` site drop out; units no allowed site covers
are excluded from the constraints and reported as ``uncovered_population``; units with the
same set of covering sites are merged (bit-set rows compared exactly), summing their
population. The merged rows can be built once (:func:`cover_rows`) and shared by every
covering model at the same time (``rows=``). The p-median uses the radius formulation of
Elloumi (2010) and García, Labbé and Marín (2011) on the sorted distinct travel times of each
unit, with the nested "balls" (sets of sites within a unit's k-th distinct time) shared
between units, so the model grows with the number of distinct balls, not with the number of
pairs. Each unit's list of levels is truncated (at first to its nearest few sites): the
truncated model is a relaxation whose optimum is a proven lower bound; its solution is
evaluated exactly (an upper bound) and the levels of the units it under-prices are extended
until the gap closes. The p-center searches
the sorted distinct times with exact set-cover feasibility.

Tables sized per model
----------------------
Every model takes a :class:`~gis.model.costs.CostTable` or a
:class:`~gis.model.costs.CostModel`; with the model, each asks for the table it needs
and no deeper: the covering models the pairs within their time, :func:`best_in_groups` the
pairs inside each group, the p-median each unit's nearest sites (read deeper for the units a
step needs more of), the p-center the pairs within a time doubled until feasible. The results
are those of the full table (same numbers, bit for bit): see each function.

References
----------
Elloumi, S. (2010). A tighter formulation of the p-median problem. J. Comb. Optim. 19, 69-83.
García, S., Labbé, M., Marín, A. (2011). Solving large p-median problems with a radius
formulation. INFORMS J. Comput. 23(4), 546-556.
"""

from __future__ import annotations

import logging
import time
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd
from scipy import sparse
from scipy.optimize import Bounds, LinearConstraint, milp

from gis.errors import SolveError
from gis.model.costs import (
    CostModel,
    CostTable,
    group_table,
    nearest_open_time,
    sorted_table,
    within_table,
)

log = logging.getLogger(__name__)

# Relative tolerance under which objective and bound count as equal (gap reported as 0.0).
_EXACT = 1e-9


# --- results --------------------------------------------------------------------------------

@dataclass(frozen=True)
class SitingResult:
    """The solution of a location model.

    Attributes
    ----------
    model : str
        ``"set_cover"``, ``"mclp"``, ``"p_median"`` or ``"p_center"``.
    open_ids : list
        Ids of every open site (``fixed_open`` included), in the order of ``costs.dest_ids``.
    objective : float
        Set cover: number of open sites (fixed included). MCLP: population within
        ``max_time_min`` of an open site (persons). p-median: population-weighted travel time
        (person-minutes). p-center: longest travel time of a unit with population > 0 (min).
    bound : float
        Proven bound on the optimum (lower for minimisation, upper for the MCLP), same units.
    gap : float
        ``|objective - bound| / |objective|`` (0.0 when proven optimal).
    status : str
        ``"optimal"`` (gap within the requested ``mip_rel_gap``) or ``"time_limit"``.
    solve_time_s : float
        Wall time of the whole call (model building included), seconds.
    uncovered_population : float
        Covering models: persons with population > 0 that no open site covers within
        ``max_time_min`` (for the set cover: that no allowed site can cover). 0.0 otherwise.
    added_ids : list
        Open sites that are not in ``fixed_open``.
    covered_population : float or None
        Covering models: persons within ``max_time_min`` of an open site.
    max_time_min : float or None
        Covering time of the covering models, minutes.
    p : int or None
        Number of open sites asked for (MCLP, p-median, p-center).
    stats : dict
        Model sizes and reductions (JSON-serialisable), e.g. rows before and after merging.
    assignment : ndarray of int, shape (n_origins,)
        Position in ``costs.dest_ids`` of each unit's nearest open site, -1 where none is
        within the cut-off.
    time_min : ndarray of float, shape (n_origins,)
        Travel time to that site, minutes (``inf`` where none).
    """

    model: str
    open_ids: list
    objective: float
    bound: float
    gap: float
    status: str
    solve_time_s: float
    uncovered_population: float = 0.0
    added_ids: list = field(default_factory=list)
    covered_population: float | None = None
    max_time_min: float | None = None
    p: int | None = None
    stats: dict = field(default_factory=dict)
    assignment: np.ndarray | None = field(default=None, repr=False)
    time_min: np.ndarray | None = field(default=None, repr=False)

    @property
    def n_open(self) -> int:
        return len(self.open_ids)

    @property
    def n_added(self) -> int:
        return len(self.added_ids)

    def as_dict(self) -> dict:
        """JSON-serialisable summary (no per-unit arrays)."""
        return {
            "model": self.model, "open_ids": [_py(v) for v in self.open_ids],
            "added_ids": [_py(v) for v in self.added_ids], "n_open": self.n_open,
            "n_added": self.n_added, "objective": float(self.objective),
            "bound": float(self.bound), "gap": float(self.gap), "status": self.status,
            "solve_time_s": float(self.solve_time_s),
            "uncovered_population": float(self.uncovered_population),
            "covered_population": None if self.covered_population is None
            else float(self.covered_population),
            "max_time_min": None if self.max_time_min is None else float(self.max_time_min),
            "p": self.p, "stats": {k: _py(v) for k, v in self.stats.items()},
        }


def _py(v):
    """numpy scalars -> Python scalars (for JSON)."""
    return v.item() if isinstance(v, np.generic) else v


def _gap(objective: float, bound: float) -> float:
    """Relative gap ``|objective - bound| / |objective|``; 0.0 within ``_EXACT``."""
    diff = abs(objective - bound)
    scale = max(abs(objective), abs(bound))
    if scale == 0 or diff <= _EXACT * scale:
        return 0.0
    return float(diff / max(abs(objective), 1e-300))


# --- inputs ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Data:
    o: np.ndarray | None  # int64 origin positions, sorted by origin then dest (None: a model)
    d: np.ndarray | None  # int64 destination positions
    t: np.ndarray | None  # float64 minutes
    pop: np.ndarray      # float64 persons per origin
    fixed: np.ndarray    # bool per dest: fixed open
    allowed: np.ndarray  # bool per dest: not fixed closed
    costs: CostTable | CostModel

    @property
    def n(self) -> int:
        return self.costs.n_origins

    @property
    def m(self) -> int:
        return self.costs.n_dests


def _head(values, k: int = 5) -> str:
    values = [_py(v) for v in values]
    text = ", ".join(repr(v) for v in values[:k])
    return text + (f" and {len(values) - k} more" if len(values) > k else "")


def _as_id_list(ids) -> list:
    if ids is None:
        return []
    if isinstance(ids, (str, bytes)) or np.isscalar(ids):
        return [ids]
    return list(ids)


def _prepare(costs: CostTable | CostModel, population, fixed_open, fixed_closed, *,
             model: str) -> _Data:
    """Validate the inputs (all problems in one error) and cast the table's arrays (none for
    a :class:`~gis.model.costs.CostModel`, which answers queries instead)."""
    n, m = costs.n_origins, costs.n_dests
    problems = []
    try:
        pop = np.asarray(population, dtype=np.float64).ravel()
    except (TypeError, ValueError):
        pop = np.full(0, np.nan)
        problems.append("population is not numeric: give persons per origin as numbers")
    if pop.shape != (n,):
        if not problems:
            problems.append(f"population has {pop.size} values but the cost table has {n} "
                            "origins: give one value per origin, in the order of "
                            "costs.origin_ids")
    else:
        bad = ~np.isfinite(pop) | (pop < 0)
        if bad.any():
            problems.append(f"population must be finite and >= 0; {int(bad.sum())} origin(s) "
                            f"are not (first: {_head(np.asarray(costs.origin_ids)[bad])})")
    pos = {v: i for i, v in enumerate(np.asarray(costs.dest_ids).tolist())}
    found = {}
    for name, ids in (("fixed_open", fixed_open), ("fixed_closed", fixed_closed)):
        ids = _as_id_list(ids)
        unknown = [v for v in ids if _py(v) not in pos]
        if unknown:
            problems.append(f"{name} names {len(unknown)} site(s) that are not destinations of "
                            f"the cost table: {_head(unknown)} (check the ids against "
                            "costs.dest_ids)")
        found[name] = sorted({pos[_py(v)] for v in ids if _py(v) in pos})
    both = sorted(set(found["fixed_open"]) & set(found["fixed_closed"]))
    if both:
        problems.append(f"{len(both)} site(s) are both fixed_open and fixed_closed: "
                        f"{_head(np.asarray(costs.dest_ids)[both])}; keep each in one list")
    if problems:
        if len(problems) == 1:
            msg = f"{model}: {problems[0]}"
        else:
            msg = f"{model}: {len(problems)} problems\n" + "\n".join(f"  - {p}"
                                                                     for p in problems)
        raise SolveError(msg)
    o = d = t = None
    if isinstance(costs, CostTable):
        o = np.asarray(costs.origin, dtype=np.int64)
        d = np.asarray(costs.dest, dtype=np.int64)
        t = np.asarray(costs.time_min, dtype=np.float64)
        if len(o) > 1 and not (np.all(o[1:] >= o[:-1])):
            order = np.lexsort((d, o))
            o, d, t = o[order], d[order], t[order]
    fixed = np.zeros(m, bool)
    fixed[found["fixed_open"]] = True
    allowed = np.ones(m, bool)
    allowed[found["fixed_closed"]] = False
    return _Data(o=o, d=d, t=t, pop=pop, fixed=fixed, allowed=allowed, costs=costs)


def _group_codes(costs: CostTable, site_groups, fixed_closed, *, model: str
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Group code of every destination (-1: in no group) and the group labels; every group
    must have a site that may open."""
    sg = pd.Series(np.asarray(site_groups, dtype=object))
    if len(sg) != costs.n_dests:
        msg = (f"{model}: site_groups has {len(sg)} values for {costs.n_dests} destinations: "
               "give one group label per site, in the order of costs.dest_ids")
        raise SolveError(msg)
    sg = sg.where(sg.notna() & (sg.astype(str) != ""))
    codes, labels = pd.factorize(sg, use_na_sentinel=True)
    closed = set(_py(v) for v in _as_id_list(fixed_closed))
    may_open = np.array([_py(v) not in closed for v in np.asarray(costs.dest_ids)])
    has = np.bincount(codes[(codes >= 0) & may_open], minlength=len(labels)) > 0
    if not has.all():
        msg = (f"{model}: {int((~has).sum())} group(s) have no site that may open: "
               f"{_head(labels[~has])}; a group needs at least one site not fixed_closed")
        raise SolveError(msg)
    return codes, np.asarray(labels)


def _with_group_units(costs: CostTable, population, codes: np.ndarray, n_groups: int,
                      weight: float) -> tuple[CostTable, np.ndarray]:
    """The table with one extra demand unit per group, ``weight`` persons at 0 min from each
    site of the group and beyond the cut-off of every other site: a model that must serve
    every unit then opens at least one site per group, at no cost in time."""
    sites = np.flatnonzero(codes >= 0)
    n = costs.n_origins
    origin = np.r_[costs.origin.astype(np.int64), n + codes[sites]]
    dest = np.r_[costs.dest.astype(np.int64), sites]
    pop = np.r_[np.asarray(population, dtype=np.float64).ravel(), np.full(n_groups, weight)]
    ids = np.r_[np.asarray(costs.origin_ids, dtype=object),
                np.array([f"(group {g})" for g in range(n_groups)], dtype=object)]
    table = sorted_table(origin, dest, np.r_[costs.dist_m, np.zeros(len(sites))],
                         np.r_[costs.time_min, np.zeros(len(sites))], origin_ids=ids,
                         dest_ids=costs.dest_ids, cutoff_min=costs.cutoff_min, mode=costs.mode)
    return table, pop


def _solve_with_groups(model: str, solve, costs: CostTable, population, site_groups, *,
                       fixed_open, fixed_closed, max_time_min: float | None = None,
                       **kw) -> SitingResult:
    """Solve ``model`` with at least one open site per group of ``site_groups``; the result's
    figures are recomputed on the original table (the group units left out). A
    :class:`~gis.model.costs.CostModel` gives the pairs within ``max_time_min`` to the
    covering models, and every pair within its cut-off to the p-median and the p-center (the
    group units are added to a table)."""
    t0 = time.perf_counter()
    if isinstance(costs, CostModel):
        costs = (within_table(costs, max_time_min) if max_time_min is not None
                 else costs.table())
    codes, labels = _group_codes(costs, site_groups, fixed_closed, model=model)
    pop = np.asarray(population, dtype=np.float64).ravel()
    weight = max(float(np.nansum(pop)), 1.0) + 1.0
    table, pop2 = _with_group_units(costs, pop, codes, len(labels), weight)
    args = (max_time_min,) if max_time_min is not None else ()
    res = solve(table, pop2, *args, fixed_open=fixed_open, fixed_closed=fixed_closed, **kw)
    ids = np.asarray(costs.dest_ids)
    open_mask = np.isin(ids, np.asarray(res.open_ids, dtype=ids.dtype))
    t_near, arg = nearest_open_time(costs, open_mask)
    people = pop > 0
    total = float(pop[people].sum())
    fig: dict = {}
    if model == "set_cover":
        objective, bound = float(open_mask.sum()), res.bound
        fig["uncovered_population"] = res.uncovered_population
        fig["covered_population"] = total - res.uncovered_population
    elif model == "mclp":
        objective = float(pop[people & (t_near <= max_time_min)].sum())
        bound = max(res.bound - len(labels) * weight, objective)
        fig["covered_population"] = objective
        fig["uncovered_population"] = total - objective
    elif model == "p_median":
        ok = np.isfinite(t_near) & people
        objective = float(np.sum(pop[ok] * t_near[ok]))
        bound = min(res.bound, objective)
    else:  # p_center
        objective = float(t_near[people].max()) if people.any() else 0.0
        bound = min(res.bound, objective)
    gap = _gap(objective, bound)
    if gap == 0.0:
        bound = objective
    stats = {**res.stats, "groups": int(len(labels)),
             "group_rule": "at least one open site per group"}
    return replace(res, objective=objective, bound=float(bound), gap=gap, stats=stats,
                    assignment=arg, time_min=t_near,
                    solve_time_s=time.perf_counter() - t0, **fig)


def _check_p(data: _Data, p, *, model: str) -> int:
    n_fixed = int(data.fixed.sum())
    n_allowed = int(data.allowed.sum())
    if int(p) != p or p < 0:
        msg = f"{model}: p must be a whole number >= 0, got {p!r}"
        raise SolveError(msg)
    p = int(p)
    if p < n_fixed:
        msg = (f"{model}: p = {p} is smaller than the {n_fixed} fixed_open sites; p counts "
               "the fixed sites, so give p >= len(fixed_open)")
        raise SolveError(msg)
    if p > n_allowed:
        msg = (f"{model}: p = {p} but only {n_allowed} sites may open ({data.m} in the cost "
               f"table, {data.m - n_allowed} fixed_closed); lower p")
        raise SolveError(msg)
    return p


def _ranges(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Concatenated ``arange(s, s + l)`` for every (start, length), vectorised."""
    lengths = np.asarray(lengths, dtype=np.int64)
    total = int(lengths.sum())
    if total == 0:
        return np.zeros(0, np.int64)
    offsets = np.cumsum(lengths) - lengths
    return np.arange(total, dtype=np.int64) - np.repeat(offsets - starts, lengths)


def _bits(col: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Word index and bit (uint64) of each column in a 64-bit-word bit set."""
    return col >> 6, np.left_shift(np.uint64(1), (col & 63).astype(np.uint64))


def _unique_rows(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Groups of identical rows of a 2-D key array.

    Rows are grouped by a 64-bit fold of their words (one sort of one key), the grouping is
    checked word by word (a collision falls back to sorting every word), and the groups are
    then ordered by their rows, lexicographically: the groups, their order and their first
    rows are those of a lexicographic sort of the rows, without sorting them all.

    Returns
    -------
    first : ndarray of int
        Index of the first row of each group (groups ordered by key).
    inverse : ndarray of int
        Group of every row.
    """
    if len(keys) == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    with np.errstate(over="ignore"):
        h = keys[:, 0].copy()
        for k in range(1, keys.shape[1]):
            h *= np.uint64(0x9E3779B97F4A7C15)
            h ^= keys[:, k] + np.uint64(0x632BE59BD9B4E019) + (h >> np.uint64(29))
    _, first, inv = np.unique(h, return_index=True, return_inverse=True)
    inv = np.asarray(inv, np.int64).ravel()
    if not (keys[first[inv]] == keys).all():  # two rows share a fold: sort every word
        order = np.lexsort(keys.T[::-1])  # stable: equal rows keep their order
        sk = keys[order]
        new = np.r_[True, np.any(sk[1:] != sk[:-1], axis=1)]
        inverse = np.empty(len(keys), np.int64)
        inverse[order] = np.cumsum(new) - 1
        return order[new], inverse
    rank = np.lexsort(keys[first].T[::-1])  # groups in the order of their rows
    pos = np.empty(len(rank), np.int64)
    pos[rank] = np.arange(len(rank))
    return first[rank], pos[inv]


def _highs(c, A, lb, ub, lo, hi, integrality, *, time_limit_s: float,
           mip_rel_gap: float = 0.0, objective_bound: float | None = None):
    """Run HiGHS through :func:`scipy.optimize.milp` and return its result as is.

    ``objective_bound`` is HiGHS's own option of that name (passed through verbatim, as
    scipy documents for options it does not know): a cut-off that prunes every node whose
    bound is not below it; with it, "infeasible" means no solution below the cut-off.
    """
    options = {"time_limit": max(float(time_limit_s), 0.05), "mip_rel_gap": float(mip_rel_gap),
               "presolve": True}
    if objective_bound is not None:
        options["objective_bound"] = float(objective_bound)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Unrecognized options",
                                category=RuntimeWarning)
        return milp(c, integrality=integrality, bounds=Bounds(lo, hi),
                    constraints=LinearConstraint(A, lb, ub), options=options)


def _milp(c, A, lb, ub, lo, hi, integrality, *, time_limit_s: float, mip_rel_gap: float,
          what: str):
    """Run HiGHS; raise SolveError when infeasible or without any solution."""
    res = _highs(c, A, lb, ub, lo, hi, integrality, time_limit_s=time_limit_s,
                 mip_rel_gap=mip_rel_gap)
    if res.status == 2:
        msg = f"{what}: infeasible ({res.message})"
        raise SolveError(msg)
    if res.x is None:
        msg = (f"{what}: HiGHS found no solution within {time_limit_s:g} s ({res.message}); "
               "raise time_limit_s")
        raise SolveError(msg)
    return res


def _dual_bound(res) -> float:
    b = getattr(res, "mip_dual_bound", None)
    if b is None or not np.isfinite(b):
        return float(res.fun)
    return float(b)


def _finish(model: str, data: _Data, open_mask: np.ndarray, *, objective: float, bound: float,
            mip_rel_gap: float, t0: float, assign: bool = True, **extra) -> SitingResult:
    """Build the result: ids, nearest open site per unit (unless not ``assign``), gap, status."""
    ids = np.asarray(data.costs.dest_ids)
    t_near, arg = nearest_open_time(data.costs, open_mask) if assign else (None, None)
    gap = _gap(objective, bound)
    if gap == 0.0:
        bound = objective
    status = "optimal" if gap <= mip_rel_gap * (1 + 1e-9) else "time_limit"
    return SitingResult(
        model=model, open_ids=[_py(v) for v in ids[open_mask]], objective=float(objective),
        bound=float(bound), gap=gap, status=status,
        solve_time_s=time.perf_counter() - t0,
        added_ids=[_py(v) for v in ids[open_mask & ~data.fixed]], assignment=arg,
        time_min=t_near, **extra)


# --- best site per group ----------------------------------------------------------------------

def best_in_groups(costs: CostTable | CostModel, population, demand_group, site_group, *,
                   penalty_min: float | None = None) -> pd.DataFrame:
    """The best site of each group for that group's own people (exact enumeration).

    For every group g (e.g. a post-2025 commune) that has sites, the site j with
    ``site_group[j] == g`` minimising ``sum(population[i] * time[i, j])`` over the demand units
    i with ``demand_group[i] == g``. A unit beyond the table's cut-off of a site is not counted
    as 0: it is charged ``penalty_min`` and counted as unreachable.

    Parameters
    ----------
    costs : CostTable or CostModel
        Demand units -> sites (a model gives the pairs inside each group only).
    population : array-like, shape (n_origins,)
        Persons per demand unit.
    demand_group : array-like, shape (n_origins,)
        Group of each demand unit (missing values belong to no group).
    site_group : array-like, shape (n_dests,)
        Group of each site (missing values: the site is in no group and never chosen).
    penalty_min : float, optional
        Minutes charged for a unit the site does not reach (default: the table's cut-off,
        the least time such a unit could need).

    Returns
    -------
    DataFrame
        One row per group with sites, sorted by group: ``group``, ``dest_id`` (the chosen
        site), ``objective`` (person-minutes, penalties included), ``population`` (persons of
        the group), ``unreachable_population`` (persons the chosen site does not reach within
        the cut-off), ``mean_time_min`` (objective / population; NaN without people),
        ``n_sites`` (sites of the group). Ties go to the site first in ``costs.dest_ids``.
    """
    dg = pd.Series(np.asarray(demand_group, dtype=object))
    sg = pd.Series(np.asarray(site_group, dtype=object))
    if isinstance(costs, CostModel) and (len(dg), len(sg)) == (costs.n_origins,
                                                                       costs.n_dests):
        costs = group_table(costs, dg.to_numpy(), sg.to_numpy())
    data = _prepare(costs, population, (), (), model="best_in_groups")
    if data.o is None or len(dg) != data.n or len(sg) != data.m:
        msg = (f"best_in_groups: demand_group has {len(dg)} values for {data.n} origins and "
               f"site_group {len(sg)} for {data.m} destinations: give one per origin/site")
        raise SolveError(msg)
    penalty = float(costs.cutoff_min if penalty_min is None else penalty_min)
    if not np.isfinite(penalty):
        msg = (f"best_in_groups: penalty_min must be finite (got {penalty!r}); give a number "
               "of minutes")
        raise SolveError(msg)
    codes, labels = pd.factorize(pd.concat([dg, sg], ignore_index=True), use_na_sentinel=True)
    dcode, scode = codes[:data.n], codes[data.n:]
    n_groups = len(labels)
    group_pop = np.bincount(dcode[dcode >= 0], weights=data.pop[dcode >= 0],
                            minlength=n_groups)
    # pairs inside a group: demand and site of the same group
    same = (dcode[data.o] >= 0) & (dcode[data.o] == scode[data.d])
    w = data.pop[data.o[same]]
    d = data.d[same]
    reached_pop = np.bincount(d, weights=w, minlength=data.m)
    weighted = np.bincount(d, weights=w * data.t[same], minlength=data.m)
    sites = np.flatnonzero(scode >= 0)
    g = scode[sites]
    unreach = group_pop[g] - reached_pop[sites]
    unreach = np.where(unreach > 1e-9 * np.maximum(group_pop[g], 1), unreach, 0.0)
    objective = weighted[sites] + penalty * unreach
    frame = pd.DataFrame({"g": g, "site": sites, "objective": objective,
                          "unreachable_population": unreach})
    frame = frame.sort_values(["g", "objective", "site"], kind="stable")
    n_sites = frame.groupby("g", sort=True)["site"].size()
    best = frame.drop_duplicates("g", keep="first").set_index("g").sort_index()
    gp = group_pop[best.index.to_numpy()]
    out = pd.DataFrame({
        "group": labels[best.index.to_numpy()],
        "dest_id": np.asarray(costs.dest_ids)[best["site"].to_numpy()],
        "objective": best["objective"].to_numpy(float),
        "population": gp,
        "unreachable_population": best["unreachable_population"].to_numpy(float),
        "mean_time_min": np.where(gp > 0, best["objective"].to_numpy(float)
                                  / np.where(gp > 0, gp, 1), np.nan),
        "n_sites": n_sites.reindex(best.index).to_numpy(int),
    })
    no_sites = np.setdiff1d(np.unique(dcode[(dcode >= 0) & (data.pop > 0)]), best.index)
    if len(no_sites):
        log.warning("best_in_groups: %d group(s) with people have no site of their own: %s",
                    len(no_sites), _head(labels[no_sites]))
    if (out["unreachable_population"] > 0).any():
        log.warning("best_in_groups: in %d group(s) the best site leaves %.0f persons beyond "
                    "the %g min cut-off (charged %g min each)",
                    int((out["unreachable_population"] > 0).sum()),
                    out["unreachable_population"].sum(), costs.cutoff_min, penalty)
    return out.reset_index(drop=True)


# --- covering models --------------------------------------------------------------------------

@dataclass(frozen=True)
class CoverRows:
    """The demand of the covering models at one time: demand units merged by the set of
    candidate sites that cover them, population summed (see :func:`cover_rows`).

    Attributes
    ----------
    max_time_min : float
        Covering time, minutes.
    cand : ndarray of int
        Destination positions of the candidate columns (allowed, not fixed open).
    A : scipy.sparse.csr_array
        Merged rows x candidates, 1 where the candidate covers the row.
    w : ndarray
        Persons per merged row (summed over its units in unit order).
    total_pop, fixed_pop, uncoverable_pop : float
        Persons with population > 0; of them, covered by a fixed_open site; covered by no
        allowed site.
    stats : dict
        Units, merged rows, candidates.
    unit_row : ndarray of int, shape (n_origins,)
        Row of each demand unit (-1: population 0, covered by a fixed site, or by none), to
        give figures per unit back.
    fixed, allowed : ndarray of bool, shape (n_dests,)
        The fixed_open and allowed sites the rows were built for.
    """

    max_time_min: float
    cand: np.ndarray
    A: sparse.csr_array
    w: np.ndarray
    total_pop: float
    fixed_pop: float
    uncoverable_pop: float
    stats: dict
    unit_row: np.ndarray = field(repr=False)
    fixed: np.ndarray = field(repr=False)
    allowed: np.ndarray = field(repr=False)


def _cover(data: _Data, max_time_min: float, *, model: str) -> CoverRows:
    T = float(max_time_min)
    if not np.isfinite(T) or T < 0:
        msg = f"{model}: max_time_min must be a finite number of minutes >= 0, got {T!r}"
        raise SolveError(msg)
    cutoff = float(data.costs.cutoff_min)
    if T > cutoff * (1 + 1e-12):
        msg = (f"{model}: max_time_min = {T:g} exceeds the cost table's cut-off of {cutoff:g} "
               "min: pairs between the two were not stored, so coverage would be undercounted; "
               f"rebuild the table with cutoff_min >= {T:g}")
        raise SolveError(msg)
    o, d, t, pop = data.o, data.d, data.t, data.pop
    demand = pop > 0
    ok = (t <= T) & data.allowed[d] & demand[o]
    oc, dc = o[ok], d[ok]
    by_fixed = np.zeros(data.n, bool)
    by_fixed[oc[data.fixed[dc]]] = True
    reach = np.zeros(data.n, bool)
    reach[oc] = True
    active = reach & ~by_fixed
    keep = active[oc]
    oc, dc = oc[keep], dc[keep]
    cand = np.flatnonzero(data.allowed & ~data.fixed)
    col_of = np.full(data.m, -1, np.int64)
    col_of[cand] = np.arange(len(cand))
    cc = col_of[dc]
    if len(oc):
        starts = np.flatnonzero(np.r_[True, oc[1:] != oc[:-1]])
        lengths = np.diff(np.r_[starts, len(oc)])
        word, bit = _bits(cc)
        keys = np.empty((len(starts), max(1, (len(cand) + 63) // 64)), np.uint64)
        for k in range(keys.shape[1]):
            keys[:, k] = np.add.reduceat(np.where(word == k, bit, np.uint64(0)), starts)
        first, inv = _unique_rows(keys)
        w = np.bincount(inv, weights=pop[oc[starts]], minlength=len(first))
        idx = _ranges(starts[first], lengths[first])
        indptr = np.r_[0, np.cumsum(lengths[first])]
        A = sparse.csr_array((np.ones(len(idx)), cc[idx], indptr), shape=(len(first), len(cand)))
        unit_row = np.full(data.n, -1, np.int64)
        unit_row[oc[starts]] = inv
    else:
        A = sparse.csr_array((0, len(cand)))
        w = np.zeros(0)
        unit_row = np.full(data.n, -1, np.int64)
    stats = {"units": int(demand.sum()), "units_covered_by_fixed": int((by_fixed & demand).sum()),
             "units_uncoverable": int((demand & ~reach).sum()),
             "units_in_model": int(active.sum()), "rows": int(A.shape[0]),
             "candidates": int(len(cand))}
    return CoverRows(max_time_min=T, cand=cand, A=A, w=w, total_pop=float(pop[demand].sum()),
                     fixed_pop=float(pop[by_fixed & demand].sum()),
                     uncoverable_pop=float(pop[demand & ~reach].sum()), stats=stats,
                     unit_row=unit_row, fixed=data.fixed.copy(), allowed=data.allowed.copy())


def cover_rows(costs: CostTable | CostModel, population, max_time_min: float, *,
               fixed_open=(), fixed_closed=()) -> CoverRows:
    """The covering models' demand at ``max_time_min``, built once for every model that
    shares it (pass it as ``rows=`` to :func:`set_cover`, :func:`mclp`,
    :func:`coverage_curve`).

    Exact merge: these models see a demand unit only through its population and the set of
    candidate sites within ``max_time_min`` (covering is ``time <= max_time_min``), so units
    with the same set are one row with their population summed; units covered by a
    ``fixed_open`` site, with population 0, or covered by no allowed site drop out (reported
    as ``fixed_pop``, ``uncoverable_pop``). A
    :class:`~gis.model.costs.CostModel` gives the pairs within ``max_time_min`` only.

    Returns
    -------
    CoverRows
        ``unit_row`` gives each unit's row, to give a model's figures back per unit.
    """
    costs = within_table(costs, max_time_min)
    data = _prepare(costs, population, fixed_open, fixed_closed, model="cover_rows")
    return _cover(data, max_time_min, model="cover_rows")


def _rows_for(data: _Data, rows: CoverRows | None, max_time_min: float, *,
              model: str) -> CoverRows:
    """The given shared rows (checked against the model's inputs), or the rows built here."""
    if rows is None:
        return _cover(data, max_time_min, model=model)
    if (float(rows.max_time_min) != float(max_time_min) or len(rows.unit_row) != data.n
            or not np.array_equal(rows.fixed, data.fixed)
            or not np.array_equal(rows.allowed, data.allowed)):
        msg = (f"{model}: rows= were built for another time, demand or fixed sites "
               f"({rows.max_time_min:g} min); build them with cover_rows() on the same costs, "
               "population, max_time_min, fixed_open and fixed_closed")
        raise SolveError(msg)
    return rows


def _solve_cover(cov: CoverRows, *, time_limit_s: float, mip_rel_gap: float,
                 what: str) -> tuple[np.ndarray, float, float, dict]:
    """Fewest candidates covering every row: (chosen dest positions, count, bound, info)."""
    A = cov.A
    if A.shape[0] == 0:
        return np.zeros(0, np.int64), 0.0, 0.0, {"columns": 0}
    used = np.flatnonzero(np.bincount(A.indices, minlength=A.shape[1]) > 0)
    A = A[:, used]
    k = len(used)
    res = _milp(np.ones(k), A, np.ones(A.shape[0]), np.full(A.shape[0], np.inf), np.zeros(k),
                np.ones(k), np.ones(k), time_limit_s=time_limit_s, mip_rel_gap=mip_rel_gap,
                what=what)
    chosen = cov.cand[used[res.x > 0.5]]
    # the count is a whole number: round the proven bound up
    bound = float(np.ceil(_dual_bound(res) - 1e-6))
    return chosen, float(len(chosen)), min(bound, float(len(chosen))), {
        "columns": k, "nodes": int(res.mip_node_count or 0)}


def set_cover(costs: CostTable | CostModel, population, max_time_min: float, *,
              fixed_open=(), fixed_closed=(), time_limit_s: float = 60.0,
              mip_rel_gap: float = 0.0, site_groups=None,
              rows: CoverRows | None = None) -> SitingResult:
    """Fewest open sites so that everyone is within ``max_time_min`` of one (LSCP).

    Every demand unit with population > 0 must be within ``max_time_min`` (inclusive) of an open
    site. ``fixed_open`` sites are open and not chosen by the model: ``objective`` is the total
    number of open sites, ``added_ids`` the sites the model adds. Units no allowed site can
    cover are left out of the constraints (never an infeasible model) and reported as
    ``uncovered_population``.

    Parameters
    ----------
    costs : CostTable or CostModel
        Demand units -> candidate sites; a table's cut-off must be >= ``max_time_min`` (a
        model gives the pairs within ``max_time_min`` only).
    population : array-like, shape (n_origins,)
        Persons per demand unit.
    max_time_min : float
        Covering time, minutes (inclusive).
    fixed_open, fixed_closed : iterable of site ids
        Sites forced open / never opened.
    time_limit_s : float
        HiGHS time limit, seconds.
    mip_rel_gap : float
        Relative gap at which HiGHS stops (0: prove optimality).
    rows : CoverRows, optional
        The covering rows from :func:`cover_rows` on the same inputs, when several models
        share them (built here otherwise).

    Returns
    -------
    SitingResult
        ``stats`` gives units, merged rows and candidates.
    """
    if site_groups is not None:
        return _solve_with_groups("set_cover", set_cover, costs, population, site_groups,
                                  max_time_min=max_time_min, fixed_open=fixed_open,
                                  fixed_closed=fixed_closed, time_limit_s=time_limit_s,
                                  mip_rel_gap=mip_rel_gap)
    t0 = time.perf_counter()
    costs = within_table(costs, max_time_min)
    data = _prepare(costs, population, fixed_open, fixed_closed, model="set_cover")
    cov = _rows_for(data, rows, max_time_min, model="set_cover")
    chosen, count, bound, info = _solve_cover(cov, time_limit_s=time_limit_s,
                                              mip_rel_gap=mip_rel_gap, what="set_cover")
    open_mask = data.fixed.copy()
    open_mask[chosen] = True
    n_fixed = int(data.fixed.sum())
    if cov.uncoverable_pop > 0:
        log.warning("%s people (%d demand units) are more than %g min from every site that may "
                    "open: no choice of sites brings them within %g min, so the model leaves "
                    "them out and reports them as not coverable",
                    f"{cov.uncoverable_pop:,.0f}", cov.stats["units_uncoverable"],
                    cov.max_time_min, cov.max_time_min)
    log.info("set_cover T=%g: %d units -> %d rows x %d columns, %d + %d open",
             cov.max_time_min, cov.stats["units"], cov.stats["rows"], info["columns"],
             n_fixed, len(chosen))
    return _finish("set_cover", data, open_mask, objective=n_fixed + count,
                   bound=n_fixed + bound, mip_rel_gap=max(mip_rel_gap, 0.0), t0=t0,
                   uncovered_population=cov.uncoverable_pop,
                   covered_population=cov.total_pop - cov.uncoverable_pop,
                   max_time_min=cov.max_time_min, stats={**cov.stats, **info})


def _solve_mclp(cov: CoverRows, k: int, *, time_limit_s: float, mip_rel_gap: float,
                what: str) -> tuple[np.ndarray, float, float, dict]:
    """Choose k candidates maximising covered weight: (chosen positions, covered, bound, info)."""
    C = len(cov.cand)
    R = cov.A.shape[0]
    if k > C:
        msg = f"{what}: {k} sites to add but only {C} candidates (allowed, not fixed_open)"
        raise SolveError(msg)
    if R == 0 or k == 0:  # nothing left to cover, or nothing to choose
        return cov.cand[:k], 0.0, 0.0, {"columns": C, "nodes": 0}
    # variables: x (C, binary), y (R, continuous in [0, 1]); y_r <= sum_j a_rj x_j; sum x = k
    A = sparse.vstack([sparse.hstack([-cov.A, sparse.eye_array(R, format="csr")]),
                       sparse.csr_array(np.r_[np.ones(C), np.zeros(R)][None, :])],
                      format="csr")
    lb = np.r_[np.full(R, -np.inf), k]
    ub = np.r_[np.zeros(R), k]
    c = np.r_[np.zeros(C), -cov.w]
    res = _milp(c, A, lb, ub, np.zeros(C + R), np.ones(C + R), np.r_[np.ones(C), np.zeros(R)],
                time_limit_s=time_limit_s, mip_rel_gap=mip_rel_gap, what=what)
    x = res.x[:C] > 0.5
    chosen = cov.cand[x]
    covered = float(cov.w[cov.A[:, np.flatnonzero(x)].sum(axis=1) > 0].sum())
    bound = max(-_dual_bound(res), covered)
    return chosen, covered, bound, {"columns": C, "nodes": int(res.mip_node_count or 0)}


def mclp(costs: CostTable | CostModel, population, max_time_min: float, p: int, *,
         fixed_open=(), fixed_closed=(), time_limit_s: float = 60.0, mip_rel_gap: float = 0.0,
         site_groups=None, rows: CoverRows | None = None) -> SitingResult:
    """Maximal covering: ``p`` open sites with the most people within ``max_time_min``.

    ``p`` counts every open site, the ``fixed_open`` ones included (so ``p - len(fixed_open)``
    are chosen; ``p < len(fixed_open)`` raises SolveError). Exactly ``p`` sites open: where
    extra sites add no coverage, the model's choice among them is arbitrary.

    Parameters
    ----------
    costs : CostTable or CostModel
        Demand units -> candidate sites; a table's cut-off must be >= ``max_time_min`` (a
        model gives the pairs within ``max_time_min`` only).
    population : array-like, shape (n_origins,)
        Persons per demand unit.
    max_time_min : float
        Covering time, minutes (inclusive).
    p : int
        Number of open sites in total.
    fixed_open, fixed_closed : iterable of site ids
    time_limit_s : float
        HiGHS time limit, seconds.
    mip_rel_gap : float
        Relative gap at which HiGHS stops (0: prove optimality).
    rows : CoverRows, optional
        The covering rows from :func:`cover_rows` on the same inputs (built here otherwise).

    Returns
    -------
    SitingResult
        ``objective`` and ``covered_population``: persons covered (fixed sites' coverage
        included); ``bound``: proven upper bound; ``uncovered_population``: the rest.
    """
    if site_groups is not None:
        return _solve_with_groups("mclp", lambda c, w, T, **k: mclp(c, w, T, p, **k), costs,
                                  population, site_groups, max_time_min=max_time_min,
                                  fixed_open=fixed_open, fixed_closed=fixed_closed,
                                  time_limit_s=time_limit_s, mip_rel_gap=mip_rel_gap)
    t0 = time.perf_counter()
    costs = within_table(costs, max_time_min)
    data = _prepare(costs, population, fixed_open, fixed_closed, model="mclp")
    p = _check_p(data, p, model="mclp")
    cov = _rows_for(data, rows, max_time_min, model="mclp")
    return _mclp_result(data, cov, p, time_limit_s=time_limit_s, mip_rel_gap=mip_rel_gap,
                        t0=t0)


def _mclp_result(data: _Data, cov: CoverRows, p: int, *, time_limit_s: float,
                 mip_rel_gap: float, t0: float, assign: bool = True) -> SitingResult:
    k = p - int(data.fixed.sum())
    chosen, covered, bound, info = _solve_mclp(cov, k, time_limit_s=time_limit_s,
                                               mip_rel_gap=mip_rel_gap, what=f"mclp (p = {p})")
    open_mask = data.fixed.copy()
    open_mask[chosen] = True
    total = cov.fixed_pop + covered
    log.info("mclp T=%g p=%d: %d units -> %d rows x %d columns, covered %.0f of %.0f",
             cov.max_time_min, p, cov.stats["units"], cov.stats["rows"], info["columns"],
             total, cov.total_pop)
    return _finish("mclp", data, open_mask, objective=total, bound=cov.fixed_pop + bound,
                   mip_rel_gap=max(mip_rel_gap, 0.0), t0=t0,
                   uncovered_population=cov.total_pop - total, covered_population=total,
                   max_time_min=cov.max_time_min, p=p, stats={**cov.stats, **info},
                   assign=assign)


def coverage_curve(costs: CostTable | CostModel, population, max_time_min: float, *,
                   fixed_open=(), ks: Iterable[int], fixed_closed=(), time_limit_s: float = 60.0,
                   mip_rel_gap: float = 0.0, rows: CoverRows | None = None) -> list[dict]:
    """People covered within ``max_time_min`` by ``fixed_open`` plus ``k`` more sites (MCLP).

    The covering rows are built and merged once (or given as ``rows``, from
    :func:`cover_rows`) and reused for every ``k``.

    Parameters
    ----------
    ks : iterable of int
        Numbers of sites added to ``fixed_open`` (each >= 0).
    time_limit_s : float
        HiGHS time limit per point, seconds.

    Returns
    -------
    list of dict
        One per k, in the order given: ``k``, ``p`` (open sites in total),
        ``covered_population`` (persons), ``uncovered_population``, ``bound`` (proven upper
        bound on the covered persons), ``gap``, ``status``, ``open_ids``, ``added_ids``,
        ``solve_time_s``.
    """
    costs = within_table(costs, max_time_min)
    data = _prepare(costs, population, fixed_open, fixed_closed, model="coverage_curve")
    cov = _rows_for(data, rows, max_time_min, model="coverage_curve")
    n_fixed = int(data.fixed.sum())
    out = []
    for k in ks:
        t0 = time.perf_counter()
        if int(k) != k or k < 0:
            msg = f"coverage_curve: every k must be a whole number >= 0, got {k!r}"
            raise SolveError(msg)
        p = _check_p(data, n_fixed + int(k), model=f"coverage_curve (k = {k})")
        r = _mclp_result(data, cov, p, time_limit_s=time_limit_s, mip_rel_gap=mip_rel_gap,
                         t0=t0, assign=False)
        out.append({"k": int(k), "p": p, "covered_population": r.covered_population,
                    "uncovered_population": r.uncovered_population, "bound": r.bound,
                    "gap": r.gap, "status": r.status, "open_ids": r.open_ids,
                    "added_ids": r.added_ids, "solve_time_s": r.solve_time_s})
    return out


# --- p-median -------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Levels:
    """Distinct travel-time levels of each demand unit (radius formulation).

    Pairs are those of units with population > 0 to allowed sites, sorted by unit, time and
    site, and cut after the level of the unit's nearest ``fixed_open`` site (farther sites can
    never serve it). Groups are the units, numbered 0..U-1.

    A unit read from a :class:`~gis.model.costs.CostModel` may be held only up to a
    time (its levels below that time, every one complete): it then ends with an empty level
    at that time, the time of its next level, so that ``G`` counts one level more than held
    and ``next_t`` of its last held level is exact. No model ever includes that empty level
    (:class:`_Depth` deepens a unit before a level it lacks is used).
    """

    d: np.ndarray       # site position per pair
    t: np.ndarray       # minutes per pair
    pg: np.ndarray      # group per pair
    pl: np.ndarray      # level per pair
    ls: np.ndarray      # first pair of each level
    le: np.ndarray      # one past the last pair of each level
    lt: np.ndarray      # time of each level
    og: np.ndarray      # group of each level
    rank: np.ndarray    # rank of each level within its group (0 = nearest)
    next_t: np.ndarray  # time of the next level of the group (nan for the last)
    gstart: np.ndarray  # first level of each group
    gpair: np.ndarray   # first pair of each group
    G: np.ndarray       # number of levels of each group
    w: np.ndarray       # persons of each group
    units: np.ndarray   # origin position of each group


def _unreachable(data: _Data, lost: np.ndarray, *, model: str) -> SolveError:
    ids = np.asarray(data.costs.origin_ids)[lost]
    msg = (f"{model}: {int(lost.sum())} demand unit(s) with {data.pop[lost].sum():.0f} "
           f"persons reach no allowed site within the cost table's cut-off of "
           f"{data.costs.cutoff_min:g} min (first: {_head(ids)}); rebuild the table with "
           "a larger cutoff_min, set their population to 0, or allow more sites")
    return SolveError(msg)


def _reachable_pairs(data: _Data, *, model: str):
    """Pairs of units with population > 0 to allowed sites; error if a unit reaches none."""
    demand = data.pop > 0
    keep = demand[data.o] & data.allowed[data.d]
    o, d, t = data.o[keep], data.d[keep], data.t[keep]
    reach = np.zeros(data.n, bool)
    reach[o] = True
    lost = demand & ~reach
    if lost.any():
        raise _unreachable(data, lost, model=model)
    return o, d, t


@dataclass(frozen=True)
class _Rows:
    """Each group's pairs to allowed sites in (time, site) order, held below ``upto``: every
    allowed site of the group with a time below ``upto`` is held (``inf``: every one within
    the cut-off, or up to the nearest fixed_open site)."""

    units: np.ndarray   # origin position of each group
    start: np.ndarray   # first pair of each group (U + 1)
    d: np.ndarray       # site position per pair
    t: np.ndarray       # minutes per pair
    upto: np.ndarray    # per group
    k: np.ndarray       # per group: depth of the query that gave its pairs (0: a table)


def _cut_at_fixed(g: np.ndarray, d: np.ndarray, t: np.ndarray, fixed: np.ndarray,
                  upto: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pairs to keep (up to the level of each group's nearest fixed site: farther sites can
    never serve it) and the groups' new ``upto`` (inf where a fixed site is held)."""
    keep = np.ones(len(g), bool)
    upto = upto.copy()
    f = np.flatnonzero(fixed[d]) if fixed.any() else np.zeros(0, np.int64)
    if len(f):
        tf = np.full(len(upto), np.inf)
        first = f[np.r_[True, g[f][1:] != g[f][:-1]]]  # nearest fixed site of each group
        tf[g[first]] = t[first]
        keep = t <= tf[g]
        upto[np.isfinite(tf)] = np.inf
    return keep, upto


def _rows_of_table(data: _Data) -> _Rows:
    o, d, t = _reachable_pairs(data, model="p_median")
    order = np.lexsort((d, t, o))
    o, d, t = o[order], d[order], t[order]
    units, g = np.unique(o, return_inverse=True)
    keep, upto = _cut_at_fixed(g, d, t, data.fixed, np.full(len(units), np.inf))
    g, d, t = g[keep], d[keep], t[keep]
    start = np.r_[0, np.cumsum(np.bincount(g, minlength=len(units)))]
    return _Rows(units=units, start=start, d=d, t=t, upto=upto,
                 k=np.zeros(len(units), np.int64))


def _rows_of_model(data: _Data, units: np.ndarray, k: int, *, all_units: bool) -> _Rows:
    """The first ``k`` allowed sites of each unit from the model, minus the last level when it
    may be incomplete (sites tied with the next one), cut at the nearest fixed site."""
    model = data.costs
    allowed_pos = np.flatnonzero(data.allowed)
    sub = model if data.allowed.all() else model.subset(data.allowed)
    nk = sub.nearest_k(k) if all_units else sub.nearest_k(k, origins=units)
    r = nk.row[units] if all_units else nk.row
    D, T, nxt = nk.dest[r], nk.time_min[r], nk.next_time_min[r]
    held = (D >= 0) & (T < nxt[:, None])
    counts = held.sum(axis=1)
    g = np.repeat(np.arange(len(units)), counts)
    d = allowed_pos[D[held]]
    t = T[held]
    keep, upto = _cut_at_fixed(g, d, t, data.fixed, nxt)
    if not keep.all():
        g, d, t = g[keep], d[keep], t[keep]
    start = np.r_[0, np.cumsum(np.bincount(g, minlength=len(units)))]
    return _Rows(units=units, start=start, d=d, t=t, upto=upto,
                 k=np.full(len(units), nk.k, np.int64))


def _levels_of(rows: _Rows, pop: np.ndarray) -> _Levels:
    U = len(rows.units)
    counts = np.diff(rows.start)
    pg = np.repeat(np.arange(U), counts)
    d, t = rows.d, rows.t
    P = len(d)
    newg = np.r_[True, pg[1:] != pg[:-1]] if P else np.zeros(0, bool)
    new = newg | np.r_[True, t[1:] != t[:-1]] if P else newg
    ls = np.flatnonzero(new)
    le = np.r_[ls[1:], P]
    og = pg[ls]
    lt = t[ls]
    vg = np.flatnonzero(np.isfinite(rows.upto))  # held up to a time: an empty last level
    if len(vg):
        ls = np.r_[ls, rows.start[vg + 1]]
        le = np.r_[le, rows.start[vg + 1]]
        og = np.r_[og, vg]
        lt = np.r_[lt, rows.upto[vg]]
        order = np.argsort(og, kind="stable")  # a group's real levels, then its empty one
        ls, le, og, lt = ls[order], le[order], og[order], lt[order]
    pl = np.repeat(np.arange(len(ls)), le - ls)
    gstart = np.flatnonzero(np.r_[True, og[1:] != og[:-1]]) if len(og) else np.zeros(0, int)
    G = np.diff(np.r_[gstart, len(ls)])
    rank = np.arange(len(ls)) - gstart[og]
    next_t = np.r_[lt[1:], np.nan]
    next_t[rank == G[og] - 1] = np.nan
    gpair = ls[gstart]
    return _Levels(d=d, t=t, pg=pg, pl=pl, ls=ls, le=le, lt=lt, og=og, rank=rank,
                   next_t=next_t, gstart=gstart, gpair=gpair, G=G, w=pop[rows.units],
                   units=rows.units)


class _Depth:
    """The p-median's levels: every pair of the full table, or, from a
    :class:`~gis.model.costs.CostModel`, each unit's nearest sites only, deepened for
    the units that need more before any level they lack is used.

    What the p-median reads of a unit is always held: the levels of rank < K of every model,
    the time of level K (the next one), the sites of the greedy start's depth, and the unit's
    nearest open site of every solution evaluated. So it builds the same models and takes the
    same steps as on the full table.
    """

    def __init__(self, data: _Data, *, k: int) -> None:
        self.data = data
        self.deepened = 0
        if data.o is not None:
            self.rows = _rows_of_table(data)
        else:
            units = np.flatnonzero(data.pop > 0)
            self.rows = _rows_of_model(data, units, k, all_units=True)
            lost = (np.diff(self.rows.start) == 0) & ~np.isfinite(self.rows.upto)
            if lost.any():
                mask = np.zeros(data.n, bool)
                mask[units[lost]] = True
                raise _unreachable(data, mask, model="p_median")
        self.lv = _levels_of(self.rows, data.pop)

    @property
    def complete(self) -> bool:
        return not np.isfinite(self.rows.upto).any()

    def need(self, *, sites=None, levels=None, upto=None) -> None:
        """Deepen the units held only up to a time that hold fewer than ``sites`` pairs or
        ``levels`` levels (per group), or not every site with a time <= ``upto``."""
        while not self.complete:
            rows, lv = self.rows, self.lv
            U = len(rows.units)
            short = np.isfinite(rows.upto)
            lack = np.zeros(U, bool)
            if sites is not None:
                lack |= np.diff(rows.start) < sites
            if levels is not None:
                lack |= (lv.G - 1) < levels  # real levels of a unit held up to a time
            if upto is not None:
                lack |= rows.upto <= upto
            gs = np.flatnonzero(short & lack)
            if not len(gs):
                return
            want = 2 * rows.k[gs]
            if sites is not None:
                want = np.maximum(want, np.broadcast_to(sites, (U,))[gs] + 2)
            if levels is not None:
                want = np.maximum(want, np.broadcast_to(levels, (U,))[gs] + 2)
            k = int(min(want.max(), self.data.m))
            more = _rows_of_model(self.data, rows.units[gs], k, all_units=False)
            self.rows = _replace_rows(rows, gs, more)
            self.lv = _levels_of(self.rows, self.data.pop)
            self.deepened += len(gs)

    def hold_open(self, open_d: np.ndarray) -> None:
        """Deepen every unit with no open site among its held pairs until its nearest open
        site (one exact query over the open sites) is held, or it is held whole."""
        if self.complete:
            return
        lv = self.lv
        U = len(lv.G)
        has = np.bincount(lv.pg[open_d[lv.d]], minlength=U) > 0
        gs = np.flatnonzero(~has & np.isfinite(self.rows.upto))
        if not len(gs):
            return
        near = self.data.costs.nearest(open_d & self.data.allowed, origins=lv.units[gs])
        t_open = near["time_min"].to_numpy()
        need = np.full(U, -np.inf)
        need[gs] = np.where(np.isfinite(t_open), t_open, np.inf)
        self.need(upto=need)


def _replace_rows(rows: _Rows, gs: np.ndarray, more: _Rows) -> _Rows:
    """``rows`` with the groups ``gs`` replaced by the rows of ``more`` (same order)."""
    U = len(rows.units)
    counts = np.diff(rows.start)
    g_old = np.repeat(np.arange(U), counts)
    keep = ~np.isin(g_old, gs)
    g_new = gs[np.repeat(np.arange(len(gs)), np.diff(more.start))]
    g = np.r_[g_old[keep], g_new]
    order = np.argsort(g, kind="stable")
    upto, k = rows.upto.copy(), rows.k.copy()
    upto[gs], k[gs] = more.upto, more.k
    return _Rows(units=rows.units,
                 start=np.r_[0, np.cumsum(np.bincount(g, minlength=U))],
                 d=np.r_[rows.d[keep], more.d][order], t=np.r_[rows.t[keep], more.t][order],
                 upto=upto, k=k)


def _initial_depth(lv: _Levels, q: int) -> np.ndarray:
    """Per group, the number of levels holding its nearest ``q`` sites (ties included)."""
    before = lv.ls - lv.gpair[lv.og]  # sites nearer than the level
    return np.bincount(lv.og, weights=(before < q), minlength=len(lv.G)).astype(np.int64)


def _radius_model(lv: _Levels, K: np.ndarray, col_of: np.ndarray, n_cols: int, p: int,
                  fixed_cols: np.ndarray):
    """The truncated radius model: levels of rank < K of every group.

    Variables: y (one per allowed site, binary) then z (one per distinct ball, >= 0),
    ``z_b`` = 1 when no open site lies in ball b. Row of ball b with representative level r
    and parent ball a (the ball of level r - 1 of the same unit; none at rank 0):
    ``z_b - z_a + sum(y_j, j at level r) >= 1 if rank 0 else 0``; plus ``sum(y) = p``.
    """
    inc = lv.rank < K[lv.og]
    L = np.flatnonzero(inc)
    pair_inc = inc[lv.pl]
    ip = np.flatnonzero(pair_inc)
    pos = np.cumsum(pair_inc) - 1
    end = pos[lv.le[L] - 1]
    start = pos[lv.gpair[lv.og[L]]]
    word, bit = _bits(col_of[lv.d[ip]])
    keys = np.empty((len(L), max(1, (n_cols + 63) // 64)), np.uint64)
    for k in range(keys.shape[1]):
        v = np.where(word == k, bit, np.uint64(0))
        cs = np.cumsum(v)  # wraps modulo 2**64; differences of prefix sums stay exact
        keys[:, k] = cs[end] - cs[start] + v[start]
    del word, bit
    first, inv = _unique_rows(keys)
    B = len(first)
    final = lv.rank[L] == lv.G[lv.og[L]] - 1
    step = np.where(final, 0.0, np.nan_to_num(lv.next_t[L] - lv.lt[L]))
    zc = np.bincount(inv, weights=lv.w[lv.og[L]] * step, minlength=B)
    zub = np.full(B, np.inf)
    zub[inv[final]] = 0.0
    rep = L[first]
    ball_of_level = np.full(len(lv.lt), -1, np.int64)
    ball_of_level[L] = inv
    root = lv.rank[rep] == 0
    child = np.flatnonzero(~root)
    nsite = lv.le[rep] - lv.ls[rep]
    pidx = _ranges(lv.ls[rep], nsite)
    rows = np.r_[np.repeat(np.arange(B), nsite), np.arange(B), child, np.full(n_cols, B)]
    cols = np.r_[col_of[lv.d[pidx]], n_cols + np.arange(B), n_cols + ball_of_level[rep[child] - 1],
                 np.arange(n_cols)]
    vals = np.r_[np.ones(len(pidx) + B), -np.ones(len(child)), np.ones(n_cols)]
    A = sparse.csr_array((vals, (rows, cols)), shape=(B + 1, n_cols + B))
    lb = np.r_[root.astype(float), p]
    ub = np.r_[np.full(B, np.inf), p]
    c = np.r_[np.zeros(n_cols), zc]
    lo = np.r_[fixed_cols.astype(float), np.zeros(B)]
    hi = np.r_[np.ones(n_cols), zub]
    integ = np.r_[np.ones(n_cols), np.zeros(B)]
    return c, A, lb, ub, lo, hi, integ, {"levels": int(len(L)), "balls": int(B),
                                         "nonzeros": int(A.nnz)}


def _evaluate_levels(lv: _Levels, open_d: np.ndarray):
    """Exact time and level rank of each group's nearest open site (inf / G where none)."""
    U = len(lv.G)
    tt = np.full(U, np.inf)
    rk = lv.G.copy()
    op = np.flatnonzero(open_d[lv.d])
    if len(op):
        g = lv.pg[op]
        first = op[np.r_[True, g[1:] != g[:-1]]]
        tt[lv.pg[first]] = lv.t[first]
        rk[lv.pg[first]] = lv.rank[lv.pl[first]]
    return tt, rk


def _greedy_interchange(lv: _Levels, allowed: np.ndarray, fixed: np.ndarray, p: int, *,
                        depth: int, deadline: float,
                        start: np.ndarray | None = None) -> np.ndarray:
    """A primal p-median solution on each unit's nearest ``depth`` sites (a heuristic).

    Greedy addition (from ``fixed``, or from ``start`` when given), then best-improvement
    vertex substitution (Teitz and Bart 1968, with the gain / loss / extra bookkeeping of
    Whitaker 1983 and Resende and Werneck 2007): each round scores every (close j, open k)
    swap at once from the nearest and second-nearest open site of each unit and applies the
    best, until none improves or ``deadline`` passes. A unit with no open site among its
    truncated pairs is charged the next level's time (or a large time when it has no pair
    left); the caller evaluates the result exactly.
    """
    K = np.minimum(_initial_depth(lv, depth), lv.G)
    inc = (lv.rank < K[lv.og])[lv.pl]
    d, t, g = lv.d[inc], lv.t[inc], lv.pg[inc]
    last = lv.gstart + K - 1
    # beyond the truncated pairs: the next level; beyond every pair (unreachable): a big charge
    # (from the levels the start reads, so that a table held only as deep as needed gives the
    # same start as the full one)
    nxt = np.where(K < lv.G, lv.next_t[last], lv.lt[last])
    cap = np.where(K < lv.G, lv.next_t[last], 100.0 * (nxt.max(initial=0.0) + 1.0))
    w = lv.w
    wg = w[g]
    m = len(allowed)
    U = len(w)
    open_d = fixed.copy() if start is None else (start | fixed)
    cur = cap.copy()
    if open_d.any():
        sel = open_d[d]
        np.minimum.at(cur, g[sel], t[sel])
    while open_d.sum() < p:
        gain = np.bincount(d, weights=wg * np.maximum(cur[g] - t, 0.0), minlength=m)
        gain[~allowed | open_d] = -1.0
        j = int(np.argmax(gain))
        open_d[j] = True
        sel = d == j
        cur[g[sel]] = np.minimum(cur[g[sel]], t[sel])
    movable = allowed & ~fixed
    while time.perf_counter() < deadline:
        op = np.flatnonzero(open_d[d])
        og = g[op]
        head = np.r_[True, og[1:] != og[:-1]]
        second = np.r_[False, head[:-1]] & ~head  # the open pair after each group's first
        d1, s1, d2 = cap.copy(), np.full(U, -1), cap.copy()
        d1[og[head]] = t[op[head]]
        s1[og[head]] = d[op[head]]
        d2[og[second]] = t[op[second]]
        has = s1 >= 0
        loss = np.bincount(s1[has], weights=w[has] * (d2[has] - d1[has]), minlength=m)
        closer = np.flatnonzero(~open_d[d] & (t < d2[g]))
        gk, tk, dk = g[closer], t[closer], d[closer]
        gain = np.bincount(dk, weights=wg[closer] * np.maximum(d1[gk] - tk, 0.0), minlength=m)
        mine = s1[gk] >= 0
        extra = np.bincount(dk[mine] * m + s1[gk[mine]],
                            weights=wg[closer][mine] * (d2[gk[mine]]
                                                        - np.maximum(tk[mine], d1[gk[mine]])),
                            minlength=m * m).reshape(m, m)
        profit = gain[:, None] - loss[None, :] + extra
        profit[~(movable & ~open_d), :] = -np.inf
        profit[:, ~(movable & open_d)] = -np.inf
        k, j = np.unravel_index(int(np.argmax(profit)), profit.shape)
        if not profit[k, j] > 1e-9 * float(np.sum(w * d1)):
            break
        open_d[j] = False
        open_d[k] = True
    return open_d


def p_median(costs: CostTable | CostModel, population, p: int, *, fixed_open=(),
             fixed_closed=(),
             time_limit_s: float = 60.0, mip_rel_gap: float = 1e-4,
             initial_depth: int | None = None, site_groups=None) -> SitingResult:
    """``p`` open sites minimising population-weighted travel time to the nearest open site.

    Every demand unit with population > 0 is served by its nearest open site, and only pairs
    within the table's cut-off are allowed: a unit that reaches no allowed site raises
    SolveError (naming how many units and persons), and so does a ``p`` too small for every
    unit to reach an open site. ``p`` counts the ``fixed_open`` sites.

    Solved exactly by the radius formulation on shared balls with level truncation (see the
    module notes). The LP relaxation of the first truncated model gives a proven lower bound
    and guides a start (its fully open sites, greedy completion, vertex substitution), whose
    exact value is the first upper bound. Each MIP round then solves the truncated model with
    HiGHS, the incumbent's value as HiGHS's ``objective_bound`` cut-off (its dual bound is a
    proven lower bound), evaluates the solution exactly and extends the levels of the units
    the relaxation under-priced, until the gap is within ``mip_rel_gap`` or time runs out.

    With a :class:`~gis.model.costs.CostModel` in place of the table, each unit's
    levels are read from its nearest sites only (:meth:`~gis.model.costs.CostModel.
    nearest_k`, about ``2 * initial_depth`` of them) and a unit is read deeper only when a step
    needs more of it: a level the model includes, the next level's time, the greedy start's
    depth, or the nearest open site of a solution (found by one exact query over the open
    sites). Every step then reads the same numbers as on the full table, so the result is the
    same, bit for bit, without the table of every pair within the cut-off.

    Parameters
    ----------
    costs : CostTable or CostModel
        Demand units -> candidate sites.
    population : array-like, shape (n_origins,)
        Persons per demand unit.
    p : int
        Number of open sites in total (``fixed_open`` included).
    fixed_open, fixed_closed : iterable of site ids
    time_limit_s : float
        Time limit of the whole call, seconds.
    mip_rel_gap : float
        Stop when ``(upper - lower) / upper`` is at most this (default 1e-4 = 0.01%).
    initial_depth : int, optional
        Sites per unit in the first relaxation (default: about ``2 * candidates / p``).

    Returns
    -------
    SitingResult
        ``objective`` in person-minutes; ``bound`` the proven lower bound; ``stats`` the
        rounds, balls and levels of the last model.
    """
    if site_groups is not None:
        return _solve_with_groups("p_median", lambda c, w, **k: p_median(c, w, p, **k), costs,
                                  population, site_groups, fixed_open=fixed_open,
                                  fixed_closed=fixed_closed, time_limit_s=time_limit_s,
                                  mip_rel_gap=mip_rel_gap, initial_depth=initial_depth)
    t0 = time.perf_counter()
    deadline = t0 + float(time_limit_s)
    data = _prepare(costs, population, fixed_open, fixed_closed, model="p_median")
    p = _check_p(data, p, model="p_median")
    allowed_pos = np.flatnonzero(data.allowed)
    n_cols = len(allowed_pos)
    col_of = np.full(data.m, -1, np.int64)
    col_of[allowed_pos] = np.arange(n_cols)
    fixed_cols = data.fixed[allowed_pos]
    n_fixed = int(data.fixed.sum())
    q = initial_depth or int(np.ceil(2 * max(n_cols - n_fixed, 1) / max(p - n_fixed, 1))) + 1
    depth = _Depth(data, k=2 * q + 4)
    depth.need(sites=2 * q)  # the first model's q sites and the greedy start's 2q
    lv = depth.lv
    U = len(lv.G)
    stats: dict = {"units": int(U), "pairs": int(len(lv.d)), "candidates": n_cols,
                   "pairs_held": "all" if data.o is not None else "nearest, deepened on need"}
    if U == 0 or p == n_cols:
        open_mask = data.fixed.copy()
        extra = np.flatnonzero(data.allowed & ~data.fixed)[:p - n_fixed]
        open_mask[extra] = True
        depth.hold_open(open_mask)
        tt, _ = _evaluate_levels(depth.lv, open_mask)
        obj = float(np.sum(depth.lv.w * tt))
        return _finish("p_median", data, open_mask, objective=obj, bound=obj,
                       mip_rel_gap=mip_rel_gap, t0=t0, p=p, stats={**stats, "rounds": 0})
    const = float(np.sum(lv.w * lv.lt[lv.gstart]))  # everyone at their nearest site
    K = np.minimum(_initial_depth(lv, q), lv.G)
    what = f"p_median (p = {p})"
    infeasible = (f"{what}: no {p} allowed sites reach every demand unit within the cost "
                  f"table's cut-off of {costs.cutoff_min:g} min; raise p or the cut-off")
    rounds: list[dict] = []

    def note(kind: str, info: dict, under: int = 0) -> None:
        rounds.append({"kind": kind, **info, "lower": lb, "upper": ub, "under_priced": under,
                       "seconds": round(time.perf_counter() - t0, 3)})
        log.info("p_median %s: %d balls, %d levels; lower %.8g, upper %.8g, %d units "
                 "under-priced", kind, info["balls"], info["levels"], lb, ub, under)

    # 1. LP relaxation of the truncated model: a proven lower bound and a guide
    model = _radius_model(lv, K, col_of, n_cols, p, fixed_cols)
    c, A, blo, bhi, lo, hi, integ, info = model
    res = _highs(c, A, blo, bhi, lo, hi, np.zeros_like(integ),
                 time_limit_s=max(deadline - time.perf_counter(), 0.5))
    if res.status == 2:
        raise SolveError(infeasible)
    if res.x is None:
        msg = f"{what}: HiGHS solved no relaxation within {time_limit_s:g} s; raise time_limit_s"
        raise SolveError(msg)
    lb = const + float(res.fun)
    # 2. primal start: the sites the LP opens fully, greedy completion, vertex substitution
    guide = np.zeros(data.m, bool)
    guide[allowed_pos[res.x[:n_cols] > 1 - 1e-6]] = True
    best_open = _greedy_interchange(lv, data.allowed, data.fixed, p, depth=2 * q,
                                    deadline=t0 + 0.25 * time_limit_s, start=guide)
    depth.hold_open(best_open)
    lv = depth.lv
    tt, rk = _evaluate_levels(lv, best_open)
    ub = float(np.sum(lv.w * tt))
    note("lp", info)
    # 3. MIP rounds: the incumbent's value as HiGHS's cut-off; extend the under-priced units
    while (not np.isfinite(ub) or (ub - lb) > mip_rel_gap * abs(ub)) \
            and time.perf_counter() < deadline:
        if np.isfinite(ub):  # make the incumbent representable, so the cut-off is exact
            K_new = np.maximum(K, np.minimum(rk + 1, lv.G))
            if (K_new != K).any():
                K = K_new
                model = _radius_model(lv, K, col_of, n_cols, p, fixed_cols)
        # the model of this round (rebuilt above or after the last round's deepening)
        c, A, blo, bhi, lo, hi, integ, info = model
        cutoff = ub - const if np.isfinite(ub) else None
        # HiGHS measures its gap on the truncated part only: scale the tolerance to the total
        rel = mip_rel_gap * abs(ub) / max(abs(ub) - const, 1e-12 * abs(ub)) \
            if np.isfinite(ub) else mip_rel_gap
        res = _highs(c, A, blo, bhi, lo, hi, integ,
                     time_limit_s=max(deadline - time.perf_counter(), 0.5),
                     mip_rel_gap=min(0.9 * rel, 0.5),
                     objective_bound=None if cutoff is None else cutoff + 1e-9 * abs(ub))
        if res.status == 2:
            if cutoff is None:
                raise SolveError(infeasible)
            lb = ub  # nothing in the relaxation beats the incumbent: it is optimal
            note("mip", info)
            break
        bound = _dual_bound(res) if res.x is not None or res.mip_dual_bound is not None \
            else -np.inf
        lb = max(lb, const + (bound if cutoff is None else min(bound, cutoff)))
        if res.x is None:  # time ran out before HiGHS beat the incumbent
            note("mip", info)
            break
        open_d = np.zeros(data.m, bool)
        open_d[allowed_pos[res.x[:n_cols] > 0.5]] = True
        depth.hold_open(open_d)
        lv = depth.lv
        tt, rk_new = _evaluate_levels(lv, open_d)
        val = float(np.sum(lv.w * tt))
        cap = np.where(K < lv.G, lv.lt[lv.gstart + np.minimum(K, lv.G - 1)], np.inf)
        under = tt > cap  # the relaxation priced these units below their real time
        if val < ub:
            best_open, ub, rk = open_d, val, rk_new
        note("mip", info, int(under.sum()))
        if not under.any():
            break
        want = np.where(under, np.maximum(rk_new + 1, 2 * K), 0)
        depth.need(levels=want)
        lv = depth.lv
        K = np.where(under, np.minimum(want, lv.G), K)
        model = _radius_model(lv, K, col_of, n_cols, p, fixed_cols)
    if not np.isfinite(ub):
        raise SolveError(infeasible)
    last = rounds[-1]
    stats.update({"rounds": len(rounds), "balls": last["balls"], "levels": last["levels"],
                  "nonzeros": last["nonzeros"], "lp_bound": rounds[0]["lower"],
                  "round_seconds": [r["seconds"] for r in rounds],
                  "units_deepened": depth.deepened, "pairs_at_end": int(len(lv.d))})
    return _finish("p_median", data, best_open, objective=ub, bound=min(lb, ub),
                   mip_rel_gap=mip_rel_gap, t0=t0, p=p, stats=stats)


# --- p-center -------------------------------------------------------------------------------

def p_center(costs: CostTable | CostModel, population, p: int, *, fixed_open=(),
             fixed_closed=(), time_limit_s: float = 120.0, fill: bool = True,
             site_groups=None) -> SitingResult:
    """``p`` open sites minimising the longest travel time of a unit with population > 0.

    Exact: a binary search over the sorted distinct travel times T of the allowed pairs (from
    the largest nearest-site time up), each step an exact set cover at T with ``fixed_open``
    open: T is feasible when at most ``p`` sites in total cover everyone. Only pairs within the
    table's cut-off are allowed; a unit that reaches no allowed site, or a ``p`` too small to
    reach everyone within the cut-off, raises SolveError. ``p`` counts the ``fixed_open`` sites.

    Often fewer than ``p`` sites already reach the optimal longest time R (one remote unit
    decides it). The result says how many (``stats["sites_at_radius"]``) and, with ``fill``
    (the default), the ``p`` sites are chosen by the stated rule ``stats["fill_rule"]``: a
    p-median with ``p`` sites on the pairs within R, i.e. the least population-weighted travel
    time among the ``p``-site solutions that keep every trip within R (the longest time stays
    R; ``stats["filled"]`` counts the sites beyond the fewest). Without ``fill`` the fewest
    sites reaching R are returned.

    With a :class:`~gis.model.costs.CostModel`, the search needs the pairs up to the
    optimal time only: it runs on the pairs within T, from T = the largest nearest-site time,
    doubled (up to the cut-off) until ``p`` sites reach everyone within T. The optimal time
    is the least feasible one in either case, and its sites come from the same set cover, so
    the result is the one of the full table.

    Parameters
    ----------
    costs : CostTable or CostModel
        Demand units -> candidate sites.
    population : array-like, shape (n_origins,)
        Persons per demand unit (only > 0 matters for the radius; the fill weighs by it).
    p : int
        Largest number of open sites in total (``fixed_open`` included).
    fixed_open, fixed_closed : iterable of site ids
    time_limit_s : float
        Time limit of the whole search, seconds; when it runs out, the best radius found and
        the largest radius proven infeasible give the gap.
    fill : bool, default True
        Open ``p`` sites by the fill rule when fewer reach the optimal radius.
    site_groups : array-like, shape (n_dests,), optional
        Group label of each site (e.g. its commune); at least one site of every group opens.

    Returns
    -------
    SitingResult
        ``objective``: the longest travel time, minutes; ``bound``: the proven lower bound;
        ``stats``: ``sites_at_radius`` (fewest sites reaching the radius), ``filled`` (sites
        added by the fill rule), ``fill_rule``, ``fill_person_min``.
    """
    if site_groups is not None:
        return _solve_with_groups("p_center", lambda c, w, **k: p_center(c, w, p, **k), costs,
                                  population, site_groups, fixed_open=fixed_open,
                                  fixed_closed=fixed_closed, time_limit_s=time_limit_s,
                                  fill=fill)
    t0 = time.perf_counter()
    deadline = t0 + float(time_limit_s)
    data = _prepare(costs, population, fixed_open, fixed_closed, model="p_center")
    p = _check_p(data, p, model="p_center")
    kw = {"fill": fill, "fixed_open": fixed_open, "fixed_closed": fixed_closed, "t0": t0,
          "deadline": deadline}
    if data.o is None:
        return _p_center_sized(data, p, **kw)
    return _p_center(data, p, strict=True, **kw)


def _p_center_sized(data: _Data, p: int, *, fixed_open, fixed_closed, t0: float,
                    deadline: float, fill: bool) -> SitingResult:
    """p-center on a model: the search on the pairs within a time doubled until feasible."""
    model = data.costs
    demand = data.pop > 0
    near = model.nearest(data.allowed)["time_min"].to_numpy()
    lost = demand & ~np.isfinite(near)
    if lost.any():
        raise _unreachable(data, lost, model="p_center")
    if not demand.any():
        return _finish("p_center", data, data.fixed.copy(), objective=0.0, bound=0.0,
                       mip_rel_gap=0.0, t0=t0, p=p, stats={"steps": 0})
    depth = float(near[demand].max())
    while True:
        table = model.within(depth)
        sub = _prepare(table, data.pop, fixed_open, fixed_closed, model="p_center")
        res = _p_center(sub, p, t0=t0, deadline=deadline, strict=depth >= model.cutoff_min,
                        fill=fill, fixed_open=fixed_open, fixed_closed=fixed_closed)
        if res is not None:
            # every unit's nearest open site from the model: units without people may lie
            # beyond ``depth`` (the search's table), and the full table holds theirs too
            pos = {_py(v): i for i, v in enumerate(np.asarray(model.dest_ids))}
            open_mask = np.zeros(model.n_dests, bool)
            open_mask[[pos[v] for v in res.open_ids]] = True
            t_near, arg = nearest_open_time(model, open_mask)
            return replace(res, assignment=arg, time_min=t_near,
                           stats={**res.stats, "within_min": depth})
        depth = min(2 * depth, model.cutoff_min)


def _p_center(data: _Data, p: int, *, t0: float, deadline: float, strict: bool, fill: bool,
              fixed_open, fixed_closed) -> SitingResult | None:
    """The search on a table; None when ``p`` sites cannot reach everyone within its cut-off
    and not ``strict`` (else SolveError)."""
    costs = data.costs
    population = data.pop
    o, d, t = _reachable_pairs(data, model="p_center")
    n_fixed = int(data.fixed.sum())
    if len(o) == 0:  # nobody to serve
        return _finish("p_center", data, data.fixed.copy(), objective=0.0, bound=0.0,
                       mip_rel_gap=0.0, t0=t0, p=p, stats={"steps": 0})
    nearest = np.minimum.reduceat(t, np.flatnonzero(np.r_[True, o[1:] != o[:-1]]))
    radii = np.unique(t[t >= nearest.max()])
    steps = []

    def feasible(i: int):
        """True (with the open mask), False (proven), or None (undecided in time)."""
        cov = _cover(data, radii[i], model="p_center")
        left = max(deadline - time.perf_counter(), 0.5)
        chosen, count, bound, _ = _solve_cover(cov, time_limit_s=left, mip_rel_gap=0.0,
                                               what="p_center (set cover step)")
        steps.append({"time_min": float(radii[i]), "sites": int(n_fixed + count),
                      "lower": float(n_fixed + bound)})
        if n_fixed + count <= p:
            mask = data.fixed.copy()
            mask[chosen] = True
            return True, mask
        if n_fixed + bound > p:
            return False, None
        return None, None

    hi = len(radii) - 1
    ok, best = feasible(hi)
    if not ok and not strict:
        return None
    if not ok:
        msg = (f"p_center: {p} sites cannot reach every demand unit within the cost table's "
               f"cut-off of {costs.cutoff_min:g} min (at least {steps[-1]['lower']:.0f} are "
               "needed); raise p or the cut-off")
        raise SolveError(msg)
    lo, proven = 0, 0  # radii[:proven] are proven infeasible
    while lo < hi and time.perf_counter() < deadline:
        mid = (lo + hi) // 2
        ok, mask = feasible(mid)
        if ok:
            hi, best = mid, mask
        else:
            lo = mid + 1
            if ok is False:  # infeasible at mid: at every shorter time too
                proven = max(proven, mid + 1)
    starts = np.flatnonzero(np.r_[True, o[1:] != o[:-1]])
    objective = float(np.minimum.reduceat(np.where(best[d], t, np.inf), starts).max())
    bound = float(radii[min(proven, hi)])
    at_radius = int(best.sum())
    stats: dict = {"steps": len(steps), "radii": int(len(radii)), "sites_at_radius": at_radius,
                   "filled": 0, "fill_rule": None, "fill_person_min": None}
    log.info("p_center p=%d: %d steps, longest time %.4g min (bound %.4g), %d sites reach it",
             p, len(steps), objective, bound, at_radius)
    if fill:
        # p-median on the pairs within the radius: the p sites with the least person-minutes
        # among those that keep every trip within it
        within = costs.time_min <= objective
        table = CostTable(origin=costs.origin[within], dest=costs.dest[within],
                          dist_m=costs.dist_m[within], time_min=costs.time_min[within],
                          origin_ids=costs.origin_ids, dest_ids=costs.dest_ids,
                          cutoff_min=objective, mode=costs.mode)
        pm = p_median(table, population, p, fixed_open=fixed_open, fixed_closed=fixed_closed,
                      time_limit_s=max(deadline - time.perf_counter(), 5.0), mip_rel_gap=1e-9)
        filled = np.isin(np.asarray(costs.dest_ids), np.asarray(pm.open_ids))
        t_fill = np.minimum.reduceat(np.where(filled[d], t, np.inf), starts)
        if t_fill.max() <= objective:  # always, by construction; kept as a guard
            best = filled
            stats.update(filled=int(filled.sum()) - at_radius, fill_person_min=pm.objective,
                         fill_gap=pm.gap,
                         fill_rule=("p-median on the remaining sites with every trip within "
                                    "the optimal longest time"))
            log.info("p_center: %d of %d sites reach the longest time %.4g min; %d more "
                     "chosen by a p-median within it", at_radius, p, objective, p - at_radius)
    return _finish("p_center", data, best, objective=objective, bound=min(bound, objective),
                   mip_rel_gap=0.0, t0=t0, p=p, stats=stats)


# --- scoring and incremental re-scoring -------------------------------------------------------

@dataclass(frozen=True)
class Scores:
    """Figures of one set of open sites.

    Attributes
    ----------
    open_ids : list
        Open sites, in the order of ``costs.dest_ids``.
    open_mask : ndarray of bool, shape (n_dests,)
    time_min : ndarray of float, shape (n_origins,)
        Minutes to the nearest open site (``inf`` beyond the cut-off).
    nearest : ndarray of int, shape (n_origins,)
        Position of that site in ``costs.dest_ids`` (-1 where none); ties go to the first.
    thresholds_min : tuple of float
    population_within : dict
        Threshold (min) -> persons within it of an open site (inclusive).
    mean_time_min : float
        Population-weighted mean time of the people who reach an open site, minutes.
    weighted_time : float
        Sum of population x time over the people who reach one, person-minutes.
    unreachable_population : float
        Persons with no open site within the cut-off.
    total_population : float
    """

    open_ids: list
    open_mask: np.ndarray = field(repr=False)
    time_min: np.ndarray = field(repr=False)
    nearest: np.ndarray = field(repr=False)
    thresholds_min: tuple
    population_within: dict
    mean_time_min: float
    weighted_time: float
    unreachable_population: float
    total_population: float

    def as_dict(self) -> dict:
        """JSON-serialisable figures (no per-unit arrays)."""
        return {"open_ids": [_py(v) for v in self.open_ids], "n_open": len(self.open_ids),
                "population_within": {f"{k:g}": float(v)
                                      for k, v in self.population_within.items()},
                "mean_time_min": self.mean_time_min, "weighted_time": self.weighted_time,
                "unreachable_population": self.unreachable_population,
                "total_population": self.total_population}


def _scores(costs: CostTable, pop: np.ndarray, open_mask: np.ndarray, t_near: np.ndarray,
            nearest: np.ndarray, thresholds_min) -> Scores:
    ok = np.isfinite(t_near)
    reached = float(pop[ok].sum())
    weighted = float(np.dot(pop[ok], t_near[ok]))
    thr = tuple(float(x) for x in thresholds_min)
    return Scores(open_ids=[_py(v) for v in np.asarray(costs.dest_ids)[open_mask]],
                  open_mask=open_mask, time_min=t_near, nearest=nearest, thresholds_min=thr,
                  population_within={x: float(pop[t_near <= x].sum()) for x in thr},
                  mean_time_min=weighted / reached if reached > 0 else float("nan"),
                  weighted_time=weighted, unreachable_population=float(pop[~ok].sum()),
                  total_population=float(pop.sum()))


def score_sites(costs: CostTable, population, open_ids, *,
                thresholds_min: Sequence[float] = (15.0, 30.0, 60.0)) -> Scores:
    """Figures of a set of open sites: time to the nearest, people within thresholds.

    Parameters
    ----------
    costs : CostTable
        Demand units -> sites.
    population : array-like, shape (n_origins,)
        Persons per demand unit.
    open_ids : iterable of site ids
    thresholds_min : sequence of float
        Minutes (inclusive).

    Returns
    -------
    Scores
        Start of :func:`rescore_swap`.
    """
    data = _prepare(costs, population, open_ids, (), model="score_sites")
    t_near, arg = nearest_open_time(costs, data.fixed)
    return _scores(costs, data.pop, data.fixed, t_near, arg, thresholds_min)


def rescore_swap(costs: CostTable, population, scores: Scores, *, close_ids=(),
                 open_ids=()) -> Scores:
    """The figures after closing and opening a few sites, updated incrementally.

    Only the units whose nearest site closes are searched again (over their own pairs), and
    only the pairs of the opened sites are compared with the current times, so a swap costs
    the pairs of the affected units, not the whole table (well under a second at 100,000
    units). The result equals :func:`score_sites` on the new set of open sites.

    Parameters
    ----------
    costs, population
        As given to :func:`score_sites` for ``scores``.
    scores : Scores
        The figures before the swap.
    close_ids, open_ids : iterable of site ids
        Sites to close (must be open) and to open (must be closed).

    Returns
    -------
    Scores
        New figures; ``scores`` is not changed.
    """
    data = _prepare(costs, population, open_ids, close_ids, model="rescore_swap")
    op = np.flatnonzero(data.fixed)
    cl = np.flatnonzero(~data.allowed)
    ids = np.asarray(costs.dest_ids)
    problems = []
    if scores.open_mask[op].any():
        problems.append(f"open_ids already open: {_head(ids[op[scores.open_mask[op]]])}")
    if (~scores.open_mask[cl]).any():
        problems.append(f"close_ids not open: {_head(ids[cl[~scores.open_mask[cl]]])}")
    if problems:
        msg = "rescore_swap: " + "; ".join(problems)
        raise SolveError(msg)
    mask = scores.open_mask.copy()
    mask[cl] = False
    mask[op] = True
    t_near = scores.time_min.copy()
    nearest = scores.nearest.copy()
    o, d, t = data.o, data.d, data.t
    # units whose nearest site closes: search their own pairs again
    hit = np.flatnonzero(np.isin(nearest, cl))
    if len(hit):
        indptr = np.searchsorted(o, np.arange(data.n + 1))
        idx = _ranges(indptr[hit], indptr[hit + 1] - indptr[hit])
        tt = np.where(mask[d[idx]], t[idx], np.inf)
        lengths = indptr[hit + 1] - indptr[hit]
        seg = np.repeat(np.arange(len(hit)), lengths)
        starts = np.r_[0, np.cumsum(lengths)[:-1]]
        best = np.minimum.reduceat(tt, starts)
        is_best = np.isfinite(tt) & (tt == best[seg])
        first = np.flatnonzero(is_best)
        first = first[np.r_[True, seg[first][1:] != seg[first][:-1]]] if len(first) else first
        t_near[hit] = np.inf
        nearest[hit] = -1
        t_near[hit[seg[first]]] = tt[first]
        nearest[hit[seg[first]]] = d[idx[first]]
    # opened sites: compare their pairs with the current nearest of the other units
    if len(op):
        sel = np.flatnonzero(np.isin(d, op))
        sel = sel[~np.isin(o[sel], hit)]
        for j in op:  # a handful of sites; ties go to the first site, as in score_sites
            s = sel[d[sel] == j]
            u = o[s]
            better = (t[s] < t_near[u]) | ((t[s] == t_near[u]) & (j < nearest[u]))
            t_near[u[better]] = t[s[better]]
            nearest[u[better]] = j
    return _scores(costs, data.pop, mask, t_near, nearest, scores.thresholds_min)
