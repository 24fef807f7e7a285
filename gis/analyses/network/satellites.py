"""Satellite planning: the new core -> satellite links that bring the most people within reach
of a specialty (exact by enumeration or HiGHS, greedy with a bound otherwise)."""

from __future__ import annotations

import itertools
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass

import networkx as nx
import numpy as np
import pandas as pd

from gis.analyses.network.graph import DenseCosts, offering
from gis.errors import GisError, NetworkError, SolveError
from gis.model.costs import CostTable

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SatelliteChoice:
    """Satellites chosen to bring the most people within reach of a specialty.

    Attributes
    ----------
    chosen : list of str
        Satellite hospital ids, in order of choice (greedy) or of the candidates (exact).
    gains : list of float
        Persons newly within reach added by each chosen satellite, in that order.
    covered_before, covered_after : float
        Persons within ``within_min`` of a hospital offering the specialty, before and after.
    upper_bound : float
        Upper bound on the best possible ``covered_after`` with ``k`` satellites (equal to it
        when the method is exact).
    method : str
        ``"enumeration"``, ``"milp"`` (exact) or ``"greedy"``.
    combinations : int
        Number of k-subsets of the candidates.
    """

    chosen: list[str]
    gains: list[float]
    covered_before: float
    covered_after: float
    upper_bound: float
    method: str
    combinations: int

    @property
    def exact(self) -> bool:
        return self.method in ("enumeration", "milp")


def _coverage_patterns(costs: CostTable, population: np.ndarray, *, offering: Sequence[str],
                       candidates: Sequence[str], within_min: float
                       ) -> tuple[float, np.ndarray, np.ndarray]:
    """Persons covered now; candidate x pattern incidence and the persons per pattern (demand
    units not covered now, grouped by the set of candidates that would cover them)."""
    dest_ids = np.asarray(costs.dest_ids).astype(str)
    within = costs.time_min <= within_min
    o, d = costs.origin[within], costs.dest[within]
    covered = np.zeros(costs.n_origins, bool)
    covered[o[np.isin(dest_ids[d], list(offering))]] = True
    cand_pos = {c: i for i, c in enumerate(candidates)}
    col = np.array([cand_pos.get(x, -1) for x in dest_ids])[d]
    keep = (col >= 0) & ~covered[o]
    inc = np.zeros((costs.n_origins, len(candidates)), bool)
    inc[o[keep], col[keep]] = True
    rows = inc.any(axis=1)
    pop = np.asarray(population, float)
    if not rows.any():
        return float(pop[covered].sum()), np.zeros((len(candidates), 0), bool), np.zeros(0)
    pats, inv = _unique_patterns(inc[rows])
    w = np.bincount(inv.ravel(), weights=pop[rows], minlength=len(pats))
    return float(pop[covered].sum()), pats.T.copy(), w


def _unique_patterns(inc: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``np.unique(inc, axis=0, return_inverse=True)`` for boolean rows, fast: each row packed
    into one big-endian integer (the first column most significant), so the integers sort
    as the rows do and the patterns come out in the same order."""
    n, c = inc.shape
    if c > 64:
        return np.unique(inc, axis=0, return_inverse=True)
    packed = np.zeros((n, 8), np.uint8)
    packed[:, :(c + 7) // 8] = np.packbits(inc, axis=1, bitorder="big")
    key = packed.view(">u8").ravel()
    uniq, inv = np.unique(key, return_inverse=True)
    pats = np.unpackbits(uniq.astype(">u8").view(np.uint8).reshape(-1, 8), axis=1,
                         bitorder="big")[:, :c].astype(bool)
    return pats, inv


def _best_subset_enum(A: np.ndarray, w: np.ndarray, k: int) -> tuple[tuple[int, ...], float]:
    n = A.shape[0]
    best: tuple[tuple[int, ...], float] = (tuple(range(k)), -1.0)
    combos = itertools.combinations(range(n), k)
    chunk = max(1, 2_000_000 // max(1, k * A.shape[1]))
    while True:
        block = list(itertools.islice(combos, chunk))
        if not block:
            break
        idx = np.array(block, dtype=np.int64)
        val = A[idx].any(axis=1).astype(float) @ w
        j = int(np.argmax(val))
        if val[j] > best[1] + 1e-9:
            best = (tuple(int(x) for x in idx[j]), float(val[j]))
    return best


def _best_subset_milp(A: np.ndarray, w: np.ndarray, k: int) -> tuple[tuple[int, ...], float]:
    from scipy.optimize import Bounds, LinearConstraint, milp

    n, p = A.shape
    c = np.concatenate([np.zeros(n), -w])
    # y_p <= sum_{j covers p} x_j ; sum x_j = k
    link = np.hstack([-A.T.astype(float), np.eye(p)])
    card = np.concatenate([np.ones(n), np.zeros(p)])[None, :]
    cons = [LinearConstraint(link, -np.inf, 0.0), LinearConstraint(card, k, k)]
    res = milp(c, constraints=cons, integrality=np.concatenate([np.ones(n), np.zeros(p)]),
               bounds=Bounds(0, 1))
    if not res.success:
        msg = f"satellite planning: the MILP solver failed ({res.message})"
        raise SolveError(msg)
    x = np.round(res.x[:n]).astype(bool)
    chosen = tuple(int(i) for i in np.flatnonzero(x))
    return chosen, float(A[list(chosen)].any(axis=0) @ w)


def plan_satellites(costs: CostTable, population: np.ndarray, *, offering: Sequence[str],
                    candidates: Sequence[str], k: int, within_min: float,
                    method: str = "auto", max_combinations: int = 200_000) -> SatelliteChoice:
    """Choose ``k`` satellites to bring the most people within ``within_min`` of a specialty.

    A satellite link for a specialty makes the satellite offer it. A demand unit is covered
    when a hospital offering the specialty (``offering``, plus the chosen satellites) is within
    ``within_min`` (inclusive). This is the maximal covering problem: its objective is monotone
    submodular.

    Parameters
    ----------
    costs : CostTable
        Demand units -> facilities (minutes); its cut-off must be at least ``within_min``.
    population : ndarray
        Persons per demand unit.
    offering : ids
        Hospitals offering the specialty now (cores and existing satellites).
    candidates : ids
        Hospitals that may become satellites.
    k : int
        Number of satellites (fewer when there are fewer candidates).
    within_min : float
        Travel-time standard, minutes.
    method : {"auto", "enumeration", "milp", "greedy"}
        ``auto``: enumeration when there are at most ``max_combinations`` k-subsets, else
        greedy. Greedy reports the data-dependent bound OPT <= f(S_i) + sum of the k largest
        marginal gains after step i (minimised over i) and the (1 - 1/e) bound, whichever is
        tighter.

    Returns
    -------
    SatelliteChoice
    """
    if within_min > costs.cutoff_min:
        msg = (f"satellite planning: within_min {within_min:g} exceeds the cost table's cut-off "
               f"of {costs.cutoff_min:g} min; pairs beyond it are not stored")
        raise GisError(msg)
    if method not in ("auto", "enumeration", "milp", "greedy"):
        msg = f"satellite planning: method {method!r}; use auto, enumeration, milp or greedy"
        raise GisError(msg)
    candidates = [c for c in dict.fromkeys(map(str, candidates)) if c not in set(offering)]
    base, A, w = _coverage_patterns(costs, population, offering=offering, candidates=candidates,
                                    within_min=within_min)
    n = len(candidates)
    k = max(0, min(int(k), n))
    combos = math.comb(n, k)
    if method == "auto":
        method = "enumeration" if combos <= max_combinations else "greedy"
    if k == 0:
        return SatelliteChoice([], [], base, base, base, "enumeration", combos)

    def gains_in_order(order: Sequence[int]) -> list[float]:
        got = np.zeros(A.shape[1], bool)
        out = []
        for j in order:
            new = A[j] & ~got
            out.append(float(w[new].sum()))
            got |= A[j]
        return out

    if method in ("enumeration", "milp"):
        if A.shape[1] == 0:
            chosen, val = tuple(range(k)), 0.0
        elif method == "enumeration":
            chosen, val = _best_subset_enum(A, w, k)
        else:
            chosen, val = _best_subset_milp(A, w, k)
        # Order the chosen ones by marginal gain (greedy among them) for reporting.
        order: list[int] = []
        left = list(chosen)
        got = np.zeros(A.shape[1], bool)
        while left:
            j = max(left, key=lambda i: (float(w[A[i] & ~got].sum()), -i))
            order.append(j)
            left.remove(j)
            got |= A[j]
        return SatelliteChoice([candidates[j] for j in order], gains_in_order(order), base,
                               base + val, base + val, method, combos)
    got = np.zeros(A.shape[1], bool)
    order = []
    value = 0.0
    bound = math.inf
    for _ in range(k):
        gain = (A & ~got).astype(float) @ w
        gain[order] = -1.0
        bound = min(bound, value + float(np.sort(np.maximum(gain, 0))[::-1][:k].sum()))
        j = int(np.argmax(gain))
        order.append(j)
        value += float(gain[j])
        got |= A[j]
    last = (A & ~got).astype(float) @ w
    last[order] = 0.0
    bound = min(bound, value + float(np.sort(last)[::-1][:k].sum()), value / (1 - 1 / math.e))
    return SatelliteChoice([candidates[j] for j in order], gains_in_order(order), base,
                           base + value, base + max(bound, value), "greedy", combos)


@dataclass(frozen=True)
class SatelliteRequest:
    """A satellite-planning question: ``k`` new links for ``specialty`` within ``within_min``.

    ``cores``: hospitals that may be the core of a new link (default: every node offering
    the specialty). ``candidates``: hospitals that may become satellites (default: every
    active regional and provincial hospital not offering it).
    """

    specialty: str
    k: int
    within_min: float
    cores: tuple[str, ...] | None = None
    candidates: tuple[str, ...] | None = None
    method: str = "auto"


def satellite_planning(G: nx.DiGraph, request: SatelliteRequest, *, demand: pd.DataFrame,
                       costs: CostTable, facility_costs: CostTable
                       ) -> tuple[SatelliteChoice, pd.DataFrame]:
    """Answer a :class:`SatelliteRequest` on a network: the choice and the proposed links.

    Returns
    -------
    SatelliteChoice, DataFrame
        The links ``core_id`` (the nearest allowed core), ``satellite_id``, ``specialty``,
        ``time_min``, ``dist_m``, ``gain`` (persons newly within reach).

    Raises
    ------
    NetworkError
        No core offers the specialty, or a given core/candidate is not in the network.
    """
    src = f"satellite planning ({request.specialty})"
    offer = offering(G, request.specialty)
    cores = list(request.cores) if request.cores is not None else offer
    unknown = [c for c in [*cores, *(request.candidates or ())] if c not in G]
    if unknown:
        raise NetworkError(src, [f"unknown or inactive facilities: {', '.join(unknown)}"])
    if not cores:
        raise NetworkError(src, [f"no hospital offers {request.specialty!r} (field specialty or "
                                 f"a satellite link) and no cores were given; give the cores"])
    cands = (list(request.candidates) if request.candidates is not None else
             [n for n, d in G.nodes(data=True) if d.get("tier") in ("regional", "provincial")
              and n not in set(offer) and n not in set(cores)])
    choice = plan_satellites(costs, demand["population"].to_numpy(float),
                             offering=sorted(set(offer) | set(cores)), candidates=cands,
                             k=request.k, within_min=request.within_min, method=request.method)
    dense = DenseCosts(facility_costs)
    rows = []
    for sat, gain in zip(choice.chosen, choice.gains, strict=True):
        ps = dense.pos[sat]
        best = min(cores, key=lambda c: (dense.time[dense.pos[c], ps], c))
        pc = dense.pos[best]
        rows.append({"core_id": best, "satellite_id": sat, "specialty": request.specialty,
                     "time_min": float(dense.time[pc, ps]), "dist_m": float(dense.dist[pc, ps]),
                     "gain": gain})
    return choice, pd.DataFrame(rows, columns=["core_id", "satellite_id", "specialty",
                                               "time_min", "dist_m", "gain"])
