"""Location models: hand-solved cases, brute force, PySAL spopt (CBC) and real Ha Tinh data."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gis.analyses import siting
from gis.errors import SolveError
from gis.model.costs import CostTable, nearest_open_time, straight_line_costs


def table(D, *, cutoff: float | None = None, dest_ids=None) -> CostTable:
    """Cost table from a dense minutes matrix; ``inf`` (or > cutoff) = pair not stored."""
    D = np.asarray(D, dtype=float)
    n, m = D.shape
    finite = np.isfinite(D)
    cutoff = float(D[finite].max()) if cutoff is None else float(cutoff)
    o, d = np.nonzero(finite & (D <= cutoff))  # row-major: sorted by origin, then dest
    ids = np.array([f"S{j}" for j in range(m)]) if dest_ids is None else np.asarray(dest_ids)
    return CostTable(origin=o, dest=d, dist_m=D[o, d] * 500.0, time_min=D[o, d],
                     origin_ids=np.array([f"u{i}" for i in range(n)]), dest_ids=ids,
                     cutoff_min=cutoff, mode="test")


def dense(costs: CostTable) -> np.ndarray:
    D = np.full((costs.n_origins, costs.n_dests), np.inf)
    D[costs.origin, costs.dest] = costs.time_min
    return D


def random_case(seed: int, *, n: int = 14, m: int = 6, cutoff: float = 25.0):
    rng = np.random.default_rng(seed)
    xy = rng.uniform(0, 12_000, (n, 2))
    sxy = rng.uniform(0, 12_000, (m, 2))
    pop = rng.integers(0, 40, n).astype(float)
    c = straight_line_costs(xy, sxy, speed_kmh=30, detour_factor=1.3, cutoff_min=cutoff,
                            dest_ids=np.array([f"S{j}" for j in range(m)]))
    return c, pop


# --- a line everyone can check by hand ----------------------------------------------------------
# Sites A=0, B=2, C=10, D=12 on a line; units u0=0 (10 persons), u1=1 (10), u2=11 (10),
# u3=12 (30); travel time = distance in minutes.
LINE_X = np.array([0.0, 1.0, 11.0, 12.0])
LINE_POP = np.array([10.0, 10.0, 10.0, 30.0])
LINE_SITES = np.array([0.0, 2.0, 10.0, 12.0])
LINE_IDS = np.array(["A", "B", "C", "D"])


def line(cutoff: float = 100.0) -> CostTable:
    return table(np.abs(LINE_X[:, None] - LINE_SITES[None, :]), cutoff=cutoff,
                 dest_ids=LINE_IDS)


def test_hand_solved_line():
    c = line()
    # p-median p=2: one site per side. Left: A costs 10*0 + 10*1 = 10, B 10*2 + 10*1 = 30.
    # Right: C 10*1 + 30*2 = 70, D 10*1 + 30*0 = 10. Optimum A + D = 20 person-minutes.
    r = siting.p_median(c, LINE_POP, 2)
    assert r.open_ids == ["A", "D"] and r.objective == pytest.approx(20.0)
    assert r.gap == 0.0 and r.status == "optimal" and r.bound == pytest.approx(20.0)
    assert r.assignment.tolist() == [0, 0, 3, 3]
    assert r.time_min.tolist() == [0.0, 1.0, 1.0, 0.0]
    # p=1: D costs 10*12 + 10*11 + 10*1 = 240, C 100 + 90 + 10 + 60 = 260 -> D, 240
    assert siting.p_median(c, LINE_POP, 1).objective == pytest.approx(240.0)
    # p-center p=2: A + D leave u1 and u2 one minute away; nothing reaches 0 for all -> 1
    r = siting.p_center(c, LINE_POP, 2)
    assert r.objective == pytest.approx(1.0) and r.gap == 0.0
    assert "A" in r.open_ids and "D" in r.open_ids
    # set cover T=1: A covers u0,u1 (B only u1); D covers u2,u3 (C only u2) -> {A, D}
    r = siting.set_cover(c, LINE_POP, 1.0)
    assert r.open_ids == ["A", "D"] and r.objective == 2 and r.uncovered_population == 0
    # T=0.5: u1 and u2 have no site within 0.5 -> 20 persons uncovered, A + D cover the rest
    r = siting.set_cover(c, LINE_POP, 0.5)
    assert r.open_ids == ["A", "D"] and r.uncovered_population == 20.0
    assert r.covered_population == 40.0
    # MCLP T=1: A covers 20, B 10, C 10, D 40 -> p=1: D (40); p=2: A + D (60)
    r = siting.mclp(c, LINE_POP, 1.0, 1)
    assert r.open_ids == ["D"] and r.objective == 40.0 and r.uncovered_population == 20.0
    assert siting.mclp(c, LINE_POP, 1.0, 2).objective == 60.0


def test_hand_solved_fixed_sites():
    c = line()
    # B fixed open covers u1 only: u0 still needs A, the right side D -> 3 open, 2 added
    r = siting.set_cover(c, LINE_POP, 1.0, fixed_open=["B"])
    assert r.open_ids == ["A", "B", "D"] and r.added_ids == ["A", "D"]
    assert r.objective == 3 and r.n_added == 2
    # D closed: u3 (30 persons) is coverable by nobody within 1 min; C covers u2
    r = siting.set_cover(c, LINE_POP, 1.0, fixed_closed=["D"])
    assert r.open_ids == ["A", "C"] and r.uncovered_population == 30.0
    # p-median with B forced open and p=2: B serves the left (30), D the right (10) -> 40
    r = siting.p_median(c, LINE_POP, 2, fixed_open=["B"])
    assert r.open_ids == ["B", "D"] and r.objective == pytest.approx(40.0)
    # MCLP p counts the fixed site: p=2 with C fixed -> C + A? A covers 20, D adds u3 (30) ->
    # C + D cover u2, u3 = 40; C + A cover 30: D wins
    r = siting.mclp(c, LINE_POP, 1.0, 2, fixed_open=["C"])
    assert r.open_ids == ["C", "D"] and r.objective == 40.0 and r.added_ids == ["D"]
    # p-center with A closed: B serves u0 at 2 minutes -> 2
    assert siting.p_center(c, LINE_POP, 2, fixed_closed=["A"]).objective == pytest.approx(2.0)


def test_best_in_groups_charges_units_a_site_does_not_reach():
    # Group L: sites A, B; units u0, u1. Group R: sites E=20, F=25; units at 20 and 30.
    # Cut-off 6: E does not reach the unit at 30 (10 min): charged 6, so E = 0 + 6 = 6 < F's
    # 5 + 5 = 10 and E wins with 1 person unreachable. If unreachable counted as 0, E would
    # cost 0; with a penalty of 20, F wins.
    x = np.array([0.0, 1.0, 20.0, 30.0])
    s = np.array([0.0, 2.0, 20.0, 25.0])
    c = table(np.abs(x[:, None] - s[None, :]), cutoff=6.0, dest_ids=["A", "B", "E", "F"])
    pop = np.array([10.0, 10.0, 1.0, 1.0])
    groups, site_groups = ["L", "L", "R", "R"], ["L", "L", "R", "R"]
    out = siting.best_in_groups(c, pop, groups, site_groups).set_index("group")
    assert out.loc["L", "dest_id"] == "A" and out.loc["L", "objective"] == pytest.approx(10.0)
    assert out.loc["R", "dest_id"] == "E" and out.loc["R", "objective"] == pytest.approx(6.0)
    assert out.loc["R", "unreachable_population"] == 1.0
    assert out.loc["L", "unreachable_population"] == 0.0
    assert out.loc["R", "population"] == 2.0 and out.loc["R", "n_sites"] == 2
    out = siting.best_in_groups(c, pop, groups, site_groups, penalty_min=20.0)
    assert out.set_index("group").loc["R", "dest_id"] == "F"


def test_best_in_groups_equals_enumeration():
    c, pop = random_case(3, n=40, m=9, cutoff=18.0)
    rng = np.random.default_rng(3)
    dg = rng.choice(["a", "b", "c"], c.n_origins)
    sg = np.array(["a", "b", "c", "a", "b", "c", "a", "b", None], dtype=object)
    D = dense(c)
    out = siting.best_in_groups(c, pop, dg, sg).set_index("group")
    assert sorted(out.index) == ["a", "b", "c"]
    for g in ("a", "b", "c"):
        units = dg == g
        scores = {j: np.sum(pop[units] * np.where(np.isfinite(D[units, j]), D[units, j],
                                                   c.cutoff_min))
                  for j in np.flatnonzero(sg == g)}
        j = min(scores, key=lambda k: (scores[k], k))
        assert out.loc[g, "dest_id"] == c.dest_ids[j]
        assert out.loc[g, "objective"] == pytest.approx(scores[j])


# --- brute force on tiny instances -----------------------------------------------------------

def brute(D, pop, p, fixed, closed, score):
    m = D.shape[1]
    free = [j for j in range(m) if j not in fixed and j not in closed]
    best = None
    for extra in itertools.combinations(free, p - len(fixed)):
        v = score(list(fixed) + list(extra))
        best = v if best is None else min(best, v)
    return best


@pytest.mark.parametrize("seed", range(8))
def test_models_equal_brute_force(seed):
    c, pop = random_case(seed)
    D = dense(c)
    m = c.n_dests
    rng = np.random.default_rng(100 + seed)
    perm = rng.permutation(m)
    fixed, closed = sorted(perm[:seed % 2]), sorted(perm[1:1 + seed % 3])
    kw = {"fixed_open": c.dest_ids[fixed], "fixed_closed": c.dest_ids[closed]}
    dem = pop > 0
    T = 9.0
    cover = D <= T
    for p in range(max(len(fixed), 1), 4):
        def median(S):
            return np.sum(pop[dem] * D[dem][:, S].min(axis=1))

        def center(S):
            return D[dem][:, S].min(axis=1).max()

        def missed(S):
            return pop[~cover[:, S].any(axis=1)].sum()

        for model, score in (("p_median", median), ("p_center", center)):
            want = brute(D, pop, p, fixed, closed, score)
            if not np.isfinite(want):
                with pytest.raises(SolveError, match="reach"):
                    getattr(siting, model)(c, pop, p, **kw)
                continue
            r = getattr(siting, model)(c, pop, p, **kw, **(
                {"mip_rel_gap": 1e-9} if model == "p_median" else {}))
            assert r.objective == pytest.approx(want, rel=1e-9), (model, p)
            assert set(c.dest_ids[fixed]) <= set(r.open_ids)
            assert not set(c.dest_ids[closed]) & set(r.open_ids)
            assert r.gap == 0.0 and r.status == "optimal"
        want = brute(D, pop, p, fixed, closed, missed)
        r = siting.mclp(c, pop, T, p, **kw)
        assert r.uncovered_population == pytest.approx(want)
        assert r.objective == pytest.approx(pop.sum() - want)
        assert r.n_open == p
    # set cover: fewest sites covering every coverable unit
    allowed = [j for j in range(m) if j not in closed]
    coverable = dem & cover[:, allowed].any(axis=1)
    need = next(k for k in range(m + 1) if any(
        cover[coverable][:, list(fixed) + list(S)].any(axis=1).all()
        for S in itertools.combinations([j for j in allowed if j not in fixed], k)))
    r = siting.set_cover(c, pop, T, **kw)
    assert r.n_added == need and r.objective == len(fixed) + need
    assert r.uncovered_population == pytest.approx(pop[dem & ~coverable].sum())


@pytest.mark.parametrize("depth", [1, 2, None])
def test_p_median_truncated_levels_reach_the_optimum(depth):
    # A shallow first relaxation under-prices units; the rounds must extend them until exact.
    c, pop = random_case(11, n=60, m=10, cutoff=40.0)
    D = dense(c)
    for p in (2, 3, 5):
        want = brute(D, pop, p, [], [],
                     lambda S: np.sum(pop[pop > 0] * D[pop > 0][:, S].min(axis=1)))
        r = siting.p_median(c, pop, p, initial_depth=depth, mip_rel_gap=1e-9)
        assert r.objective == pytest.approx(want, rel=1e-9)
        assert r.bound <= r.objective * (1 + 1e-9)


def test_p_median_recovers_from_a_start_that_leaves_units_unreachable(monkeypatch):
    # Cut-off 5 on the line: u0, u1 reach only A, B and u2, u3 only C, D. A start of {A, B}
    # leaves the right side unreachable (upper bound inf); the MIP rounds must still find
    # A + D (20, as by hand above).
    def bad_start(lv, allowed, fixed, p, **kw):
        return np.array([True, True, False, False])

    monkeypatch.setattr(siting, "_greedy_interchange", bad_start)
    r = siting.p_median(line(cutoff=5.0), LINE_POP, 2)
    assert r.open_ids == ["A", "D"] and r.objective == pytest.approx(20.0)


def test_narrow_dtypes_give_the_same_answers():
    c, pop = random_case(5, n=50, m=8, cutoff=30.0)
    narrow = CostTable(origin=c.origin.astype(np.int32), dest=c.dest.astype(np.int32),
                       dist_m=c.dist_m.astype(np.float32),
                       time_min=c.time_min.astype(np.float32), origin_ids=c.origin_ids,
                       dest_ids=c.dest_ids, cutoff_min=c.cutoff_min, mode=c.mode)
    a = siting.p_median(c, pop, 3, mip_rel_gap=1e-9)
    b = siting.p_median(narrow, pop.astype(np.float32), 3, mip_rel_gap=1e-9)
    assert a.open_ids == b.open_ids
    assert b.objective == pytest.approx(a.objective, rel=1e-6)
    assert siting.set_cover(narrow, pop, 10.0).objective == siting.set_cover(c, pop, 10.0).objective


# --- PySAL spopt with CBC as the reference ---------------------------------------------------

@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # pulp's own 4.0 notices
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_optimum_equals_spopt(seed):
    pulp = pytest.importorskip("pulp")
    locate = pytest.importorskip("spopt.locate")
    c, pop = random_case(seed, n=30, m=8, cutoff=200.0)  # dense: spopt needs every pair
    D = dense(c)
    assert np.isfinite(D).all()
    dem = pop > 0
    cbc = pulp.PULP_CBC_CMD(msg=False)
    p = 3
    ref = locate.PMedian.from_cost_matrix(D, pop, p).solve(cbc)
    assert siting.p_median(c, pop, p, mip_rel_gap=1e-9).objective == pytest.approx(
        pulp.value(ref.problem.objective), rel=1e-6)
    ref = locate.PCenter.from_cost_matrix(D[dem], p).solve(cbc)
    assert siting.p_center(c, pop, p).objective == pytest.approx(
        pulp.value(ref.problem.objective), rel=1e-6)
    T = float(np.quantile(D.min(axis=1), 0.9)) + 6.0
    T = max(T, float(D[dem].min(axis=1).max()))  # every unit coverable: spopt's LSCP needs it
    ref = locate.LSCP.from_cost_matrix(D[dem], T).solve(cbc)
    assert siting.set_cover(c, pop, T).objective == pytest.approx(
        pulp.value(ref.problem.objective), abs=1e-6)
    ref = locate.MCLP.from_cost_matrix(D, pop, T / 2, p).solve(cbc)
    assert siting.mclp(c, pop, T / 2, p).objective == pytest.approx(
        pulp.value(ref.problem.objective), rel=1e-6)
    # with a predefined (fixed-open) site
    fixed = np.zeros(c.n_dests, bool)
    fixed[seed] = True
    ref = locate.LSCP.from_cost_matrix(D[dem], T, predefined_facilities_arr=fixed).solve(cbc)
    r = siting.set_cover(c, pop, T, fixed_open=[c.dest_ids[seed]])
    assert r.objective == pytest.approx(pulp.value(ref.problem.objective), abs=1e-6)


# --- properties ------------------------------------------------------------------------------

@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), data=st.data())
def test_closing_a_site_never_shortens_travel(seed, data):
    c, pop = random_case(seed, n=30, m=7, cutoff=20.0)
    open_ids = data.draw(st.lists(st.sampled_from(list(c.dest_ids)), min_size=1, unique=True))
    before = siting.score_sites(c, pop, open_ids, thresholds_min=(5.0, 10.0))
    gone = data.draw(st.sampled_from(open_ids))
    after = siting.score_sites(c, pop, [s for s in open_ids if s != gone],
                               thresholds_min=(5.0, 10.0))
    assert (after.time_min >= before.time_min).all()
    assert all(after.population_within[t] <= before.population_within[t] for t in (5.0, 10.0))
    assert after.unreachable_population >= before.unreachable_population


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), data=st.data())
def test_rescore_swap_equals_a_full_rescore(seed, data):
    c, pop = random_case(seed, n=40, m=8, cutoff=15.0)
    ids = list(c.dest_ids)
    open_ids = data.draw(st.lists(st.sampled_from(ids), min_size=1, max_size=7, unique=True))
    closed = [s for s in ids if s not in open_ids]
    close = data.draw(st.lists(st.sampled_from(open_ids), max_size=2, unique=True))
    add = data.draw(st.lists(st.sampled_from(closed), max_size=2, unique=True))
    s0 = siting.score_sites(c, pop, open_ids, thresholds_min=(5.0, 10.0))
    s1 = siting.rescore_swap(c, pop, s0, close_ids=close, open_ids=add)
    full = siting.score_sites(c, pop, sorted(set(open_ids) - set(close) | set(add)),
                              thresholds_min=(5.0, 10.0))
    assert s1.open_ids == full.open_ids
    assert np.array_equal(s1.time_min, full.time_min)
    assert np.array_equal(s1.nearest, full.nearest)
    assert s1.population_within == full.population_within
    assert s1.unreachable_population == pytest.approx(full.unreachable_population)
    assert np.array_equal(s0.time_min, siting.score_sites(c, pop, open_ids).time_min)


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 10_000))
def test_more_sites_never_hurt(seed):
    c, pop = random_case(seed, n=25, m=7, cutoff=60.0)
    objs = [siting.p_median(c, pop, p, mip_rel_gap=1e-9).objective for p in (4, 5, 6)]
    assert objs[0] >= objs[1] - 1e-6 and objs[1] >= objs[2] - 1e-6
    curve = siting.coverage_curve(c, pop, 6.0, ks=[0, 1, 2, 3, 7])
    covered = [pt["covered_population"] for pt in curve]
    assert covered == sorted(covered)
    assert covered[-1] == pytest.approx(siting.set_cover(c, pop, 6.0).covered_population)
    assert curve[2]["covered_population"] == siting.mclp(c, pop, 6.0, 2).objective


def test_result_fields_and_json():
    c, pop = random_case(2, n=30, m=6, cutoff=60.0)
    r = siting.p_median(c, pop, 2, fixed_open=["S1"])
    d = json.loads(json.dumps(r.as_dict()))
    assert d["model"] == "p_median" and d["p"] == 2 and d["n_open"] == 2
    assert d["open_ids"] == r.open_ids and d["added_ids"] == r.added_ids == [
        s for s in r.open_ids if s != "S1"]
    mask = np.isin(c.dest_ids, r.open_ids)
    t, arg = nearest_open_time(c, mask)
    assert np.array_equal(r.time_min, t) and np.array_equal(r.assignment, arg)
    assert r.objective == pytest.approx(np.sum(pop * t))
    for model in (siting.set_cover(c, pop, 8.0), siting.mclp(c, pop, 8.0, 3),
                  siting.p_center(c, pop, 3)):
        d = json.loads(json.dumps(model.as_dict()))
        assert d["gap"] == 0.0 and d["status"] == "optimal" and d["bound"] == d["objective"]
    pts = json.loads(json.dumps(siting.coverage_curve(c, pop, 8.0, ks=[1, 2],
                                                      fixed_open=["S0"])))
    assert [pt["k"] for pt in pts] == [1, 2] and [pt["p"] for pt in pts] == [2, 3]
    assert all("S0" in pt["open_ids"] and pt["gap"] == 0.0 for pt in pts)


def test_zero_population_units_do_not_constrain():
    # u1 (0 persons) is far from everything and beyond every site's reach: ignored by all
    D = np.array([[1.0, 5.0], [np.inf, np.inf], [4.0, 1.0]])
    c = table(D, cutoff=10.0)
    pop = np.array([5.0, 0.0, 5.0])
    assert siting.p_median(c, pop, 2).objective == pytest.approx(10.0)
    assert siting.p_center(c, pop, 1).objective == pytest.approx(4.0)
    r = siting.set_cover(c, pop, 1.0)
    assert r.objective == 2 and r.uncovered_population == 0.0


# --- errors ----------------------------------------------------------------------------------

def test_errors_name_the_problem():
    c = line(cutoff=5.0)
    pop = LINE_POP
    with pytest.raises(SolveError, match=r"fixed_open names 1 site.*'Z'"):
        siting.set_cover(c, pop, 1.0, fixed_open=["Z"])
    with pytest.raises(SolveError, match="both fixed_open and fixed_closed: 'A'"):
        siting.mclp(c, pop, 1.0, 2, fixed_open=["A"], fixed_closed=["A"])
    with pytest.raises(SolveError, match="2 problems"):
        siting.p_median(c, pop[:2], 2, fixed_closed=["nope"])
    with pytest.raises(SolveError, match="population has 2 values but the cost table has 4"):
        siting.p_center(c, pop[:2], 2)
    with pytest.raises(SolveError, match="finite and >= 0"):
        siting.p_median(c, np.array([1.0, -1.0, 1.0, 1.0]), 2)
    with pytest.raises(SolveError, match="p = 1 is smaller than the 2 fixed_open"):
        siting.mclp(c, pop, 1.0, 1, fixed_open=["A", "B"])
    with pytest.raises(SolveError, match="p = 4 but only 3 sites may open"):
        siting.p_median(c, pop, 4, fixed_closed=["C"])
    with pytest.raises(SolveError, match="exceeds the cost table's cut-off of 5"):
        siting.set_cover(c, pop, 6.0)
    with pytest.raises(SolveError, match="every k must be a whole number"):
        siting.coverage_curve(c, pop, 1.0, ks=[-1])
    # cut-off 5: u0, u1 reach only A and B; u2, u3 only C and D
    with pytest.raises(SolveError, match="raise p or the cut-off"):
        siting.p_median(c, pop, 1)
    with pytest.raises(SolveError, match="raise p or the cut-off"):
        siting.p_center(c, pop, 1)
    with pytest.raises(SolveError, match=r"2 demand unit\(s\) with 40 persons reach no allowed"):
        siting.p_median(c, pop, 2, fixed_closed=["C", "D"])
    s0 = siting.score_sites(c, pop, ["A"])
    with pytest.raises(SolveError, match="close_ids not open: 'B'"):
        siting.rescore_swap(c, pop, s0, close_ids=["B"])
    with pytest.raises(SolveError, match="open_ids already open: 'A'"):
        siting.rescore_swap(c, pop, s0, open_ids=["A"])


# --- real data -------------------------------------------------------------------------------

def test_real_ha_tinh_set_cover_with_official_main_stations(communes_2025_path):
    from gis.analyses.plans import official_plan
    from gis.inputs import layers as L
    from gis.inputs import readers as R
    from gis.inputs.registry import load_registry
    from gis.model.demand import population_surface

    reg = load_registry("42")
    crs = L.working_crs(reg)
    communes = R.read_communes(communes_2025_path, reg, crs=crs,
                               population_field="population_2025")
    lay = L.build_layers(reg, crs=crs, communes=communes)
    demand = population_surface(lay.communes, cell_size_m=1000.0)
    fac = lay.facilities
    stations = fac[(fac["tier"] == "station") & (fac["status"] == "active")]
    assert len(stations) == 209
    mains = official_plan(fac, lay.communes, reg, branches=False).main_ids()
    assert len(mains) == 69
    # straight line at 30 km/h with a detour factor of 1.4, pairs up to 30 minutes
    costs = straight_line_costs(demand[["x", "y"]].to_numpy(),
                                np.c_[stations.geometry.x, stations.geometry.y],
                                speed_kmh=30.0, detour_factor=1.4, cutoff_min=30.0,
                                dest_ids=stations["facility_id"].to_numpy())
    pop = demand["population"].to_numpy(float)
    r = siting.set_cover(costs, pop, 30.0, fixed_open=mains)
    assert r.status == "optimal" and r.gap == 0.0
    assert set(mains) <= set(r.open_ids) and r.n_open == 69 + r.n_added
    assert 0 < r.n_added < 140
    any_station, _ = nearest_open_time(costs, np.ones(costs.n_dests, bool))
    coverable = (pop > 0) & (any_station <= 30.0)
    assert (r.time_min[coverable] <= 30.0).all()  # every coverable person within 30 minutes
    assert r.uncovered_population == pytest.approx(pop[(pop > 0) & ~coverable].sum())
    assert r.covered_population + r.uncovered_population == pytest.approx(pop.sum())
    # one station fewer is not enough: the bound is proven
    assert r.bound == r.objective
    fewer = siting.mclp(costs, pop, 30.0, r.n_open - 1, fixed_open=mains)
    assert fewer.uncovered_population > r.uncovered_population


# --- at least one site per group; the p-center's fill rule -------------------------------------

@pytest.mark.parametrize("seed", range(6))
def test_models_with_one_site_per_group_equal_brute_force(seed):
    """``site_groups``: every group keeps an open site; each model's optimum equals the brute
    force over the subsets that meet the rule."""
    c, pop = random_case(seed, n=14, m=7, cutoff=30.0)
    D = dense(c)
    groups = np.array(["g0", "g0", "g1", "g1", "g1", "g2", "g2"])
    dem = pop > 0
    T = 12.0

    def ok(S):
        return set(groups[list(S)]) == {"g0", "g1", "g2"}

    def best(p, score):
        vals = [score(S) for S in itertools.combinations(range(7), p) if ok(S)]
        vals = [v for v in vals if np.isfinite(v)]
        return min(vals) if vals else np.inf

    for p in (3, 4):
        want = best(p, lambda S: np.sum(pop[dem] * D[dem][:, list(S)].min(axis=1)))
        if np.isfinite(want):
            r = siting.p_median(c, pop, p, site_groups=groups, mip_rel_gap=1e-9)
            assert r.objective == pytest.approx(want, rel=1e-9)
            assert r.n_open == p and set(groups[np.isin(c.dest_ids, r.open_ids)]) == {
                "g0", "g1", "g2"}
            assert r.stats["groups"] == 3 and len(r.time_min) == c.n_origins
        want = best(p, lambda S: D[dem][:, list(S)].min(axis=1).max())
        if np.isfinite(want):
            r = siting.p_center(c, pop, p, site_groups=groups)
            assert r.objective == pytest.approx(want, rel=1e-12)
            assert set(groups[np.isin(c.dest_ids, r.open_ids)]) == {"g0", "g1", "g2"}
        want = best(p, lambda S: pop[(D[:, list(S)] <= T).any(axis=1)].sum())
        # mclp maximises: brute force of the covered people
        vals = [pop[(D[:, list(S)] <= T).any(axis=1)].sum()
                for S in itertools.combinations(range(7), p) if ok(S)]
        r = siting.mclp(c, pop, T, p, site_groups=groups)
        assert r.objective == pytest.approx(max(vals)) and r.n_open == p
        assert r.covered_population == pytest.approx(max(vals))
        assert set(groups[np.isin(c.dest_ids, r.open_ids)]) == {"g0", "g1", "g2"}
    # set cover: fewest sites covering every coverable unit, one per group at least
    coverable = dem & (D <= T).any(axis=1)
    need = next(k for k in range(1, 8) if any(
        ok(S) and (D[coverable][:, list(S)] <= T).any(axis=1).all()
        for S in itertools.combinations(range(7), k)))
    r = siting.set_cover(c, pop, T, site_groups=groups)
    assert r.objective == need and r.n_open == need
    assert r.uncovered_population == pytest.approx(pop[dem & ~coverable].sum())


def test_group_without_a_site_that_may_open_is_an_error():
    c = line()
    with pytest.raises(SolveError, match=r"1 group\(s\) have no site that may open: 'right'"):
        siting.p_median(c, LINE_POP, 2, site_groups=["left", "left", "right", "right"],
                        fixed_closed=["C", "D"])


def test_p_center_fills_the_remaining_sites_by_a_p_median_within_the_radius():
    """Units at 0, 1, 11, 12 and a remote one at 30 (1 person); sites A=0, B=2, C=10, D=12,
    E=30. By hand: a longest time of 0 needs a site at 1 and at 11 (none): the optimum is 1,
    and only A (for the unit at 0), D (at 12) and E (at 30) together reach it: 3 sites. With
    p = 4 the fourth is the fill, a p-median within 1 min: B or C each save nobody a minute
    (the units at 1 and 11 stay 1 min away), so the person-minutes stay 10 x 1 + 10 x 1 = 20
    and the longest time stays 1."""
    x = np.array([0.0, 1.0, 11.0, 12.0, 30.0])
    pop = np.array([10.0, 10.0, 10.0, 30.0, 1.0])
    sites = np.array([0.0, 2.0, 10.0, 12.0, 30.0])
    c = table(np.abs(x[:, None] - sites[None, :]), cutoff=100.0,
              dest_ids=np.array(["A", "B", "C", "D", "E"]))
    r = siting.p_center(c, pop, 4, fill=False)
    assert r.objective == 1.0 and r.n_open == 3 and set(r.open_ids) == {"A", "D", "E"}
    assert r.stats["sites_at_radius"] == 3 and r.stats["filled"] == 0
    r = siting.p_center(c, pop, 4)
    assert r.objective == 1.0 and r.n_open == 4 and {"A", "D", "E"} <= set(r.open_ids)
    assert r.stats["sites_at_radius"] == 3 and r.stats["filled"] == 1
    assert r.stats["fill_rule"].startswith("p-median")
    assert r.stats["fill_person_min"] == pytest.approx(20.0)


@pytest.mark.parametrize("seed", range(5))
def test_p_center_fill_is_the_best_p_median_within_the_radius(seed):
    """Brute force: the filled p sites keep the optimal radius and have the least
    person-minutes among all p-site sets whose longest time is that radius."""
    c, pop = random_case(seed, n=14, m=7, cutoff=40.0)
    D = dense(c)
    dem = pop > 0
    for p in (3, 4, 5):
        def center(S):
            return D[dem][:, list(S)].min(axis=1).max()
        radius = min(center(S) for S in itertools.combinations(range(7), p))
        if not np.isfinite(radius):
            continue
        person_min = min(np.sum(pop[dem] * D[dem][:, list(S)].min(axis=1))
                         for S in itertools.combinations(range(7), p)
                         if center(S) <= radius)
        r = siting.p_center(c, pop, p)
        assert r.objective == pytest.approx(radius, rel=1e-12) and r.n_open == p
        t, _ = nearest_open_time(c, np.isin(c.dest_ids, r.open_ids))
        assert np.sum(pop[dem] * t[dem]) == pytest.approx(person_min, rel=1e-9)
        assert r.stats["sites_at_radius"] + r.stats["filled"] == p


def test_messages_logs_and_edge_cases_by_hand(monkeypatch, caplog):
    """On the line: the progress lines of set cover, MCLP, p-center and the p-median's rounds
    (their figures by hand); the cut-off message; the solver giving no solution; no demand
    for a p-center on a model; every site asked for (no round); an unreachable unit named
    with the model; a site in no group (never forced open); MCLP with groups counts a unit
    exactly at T (inclusive: u1 and u2 are 1 min from their nearest sites); a penalty that is
    not a number."""
    import logging
    from types import SimpleNamespace

    from gis.model.costs import StraightLineModel

    c, pop = line(), LINE_POP
    with caplog.at_level(logging.INFO, logger="gis.analyses.siting"):
        siting.set_cover(c, pop, 1.0)
        siting.mclp(c, pop, 1.0, 2)
        siting.p_center(c, pop, 2, fill=False)
        rc, rpop = random_case(29, n=14, m=7, cutoff=30.0)
        pm = siting.p_median(rc, rpop, 2, mip_rel_gap=1e-9)
    msgs = [r.getMessage() for r in caplog.records]
    # at T = 1: u0 {A}, u1 {A, B}, u2 {C, D}, u3 {D}: A and D cover everyone
    assert "set_cover T=1: 4 units -> 4 rows x 4 columns, 0 + 2 open" in msgs
    assert "mclp T=1 p=2: 4 units -> 4 rows x 4 columns, covered 60 of 60" in msgs
    assert any(m.startswith("p_center p=2: ") and m.endswith(
        "steps, longest time 1 min (bound 1), 2 sites reach it") for m in msgs)
    assert pm.stats["rounds"] == 2
    assert [m.split(":")[0] for m in msgs if m.startswith("p_median")] == [
        "p_median lp", "p_median mip"]
    with pytest.raises(SolveError) as err:
        siting.set_cover(line(cutoff=5.0), pop, 6.0)
    assert str(err.value) == (
        "set_cover: max_time_min = 6 exceeds the cost table's cut-off of 5 min: pairs between "
        "the two were not stored, so coverage would be undercounted; rebuild the table with "
        "cutoff_min >= 6")
    with pytest.raises(SolveError) as err:
        siting.p_median(line(cutoff=5.0), pop, 2, fixed_closed=["C", "D"])
    assert str(err.value).startswith("p_median: 2 demand unit(s) with 40 persons reach no "
                                     "allowed site within the cost table's cut-off of 5 min")
    with pytest.raises(SolveError) as err:
        siting.best_in_groups(c, pop, ["L"] * 4, ["L"] * 4, penalty_min=np.inf)
    assert str(err.value) == ("best_in_groups: penalty_min must be finite (got inf); give a "
                              "number of minutes")
    whole = siting.p_median(c, pop, 4)
    assert whole.stats["rounds"] == 0 and whole.objective == pytest.approx(10 * 1 + 10 * 1)
    free = siting.p_median(c, pop, 2, site_groups=["L", "L", None, "R"])
    assert free.open_ids == ["A", "D"] and free.objective == pytest.approx(20.0)
    grouped = siting.mclp(c, pop, 1.0, 2, site_groups=["L", "L", "R", "R"])
    assert (grouped.objective, grouped.covered_population, grouped.uncovered_population) == (
        60.0, 60.0, 0.0)
    xy = np.column_stack([LINE_X, np.zeros(4)]) * 1000
    model = StraightLineModel(xy, np.column_stack([LINE_SITES, np.zeros(4)]) * 1000,
                              speed_kmh=60.0, detour_factor=1.0, cutoff_min=100.0,
                              dest_ids=LINE_IDS)
    empty = siting.p_center(model, np.zeros(4), 1)
    assert empty.stats == {"steps": 0} and empty.objective == 0.0
    monkeypatch.setattr(siting, "milp", lambda *a, **kw: SimpleNamespace(
        status=1, x=None, message="time limit reached", fun=np.nan, mip_dual_bound=None,
        mip_node_count=0))
    with pytest.raises(SolveError) as err:
        siting.set_cover(c, pop, 1.0, time_limit_s=7)
    assert str(err.value) == ("set_cover: HiGHS found no solution within 7 s (time limit "
                              "reached); raise time_limit_s")


def test_input_messages_and_the_solve_time():
    """The whole messages for a p below the fixed sites and for unknown ids; the solve time
    is the call's own (seconds since it started)."""
    import time

    c, pop = line(), LINE_POP
    with pytest.raises(SolveError) as err:
        siting.mclp(c, pop, 1.0, 1, fixed_open=["A", "B"])
    assert str(err.value) == ("mclp: p = 1 is smaller than the 2 fixed_open sites; p counts the "
                              "fixed sites, so give p >= len(fixed_open)")
    with pytest.raises(SolveError) as err:
        siting.set_cover(c, pop, 1.0, fixed_open=["Z"])
    assert str(err.value) == ("set_cover: fixed_open names 1 site(s) that are not destinations "
                              "of the cost table: 'Z' (check the ids against costs.dest_ids)")
    t = time.perf_counter()
    r = siting.p_median(c, pop, 2)
    assert 0.0 <= r.solve_time_s <= time.perf_counter() - t


def test_identical_rows_grouped_even_when_their_fold_collides():
    """_unique_rows folds each row of 64-bit words into one integer; two different rows with
    the same fold (built here) are told apart word by word: the groups, their order and
    their first rows are numpy's lexicographic unique rows."""
    from gis.analyses.siting import _unique_rows

    C, D = np.uint64(0x9E3779B97F4A7C15), np.uint64(0x632BE59BD9B4E019)

    def fold(k0, k1):
        with np.errstate(over="ignore"):
            h = np.uint64(k0) * C
            return h ^ (np.uint64(k1) + D + (h >> np.uint64(29)))

    a = (np.uint64(5), np.uint64(9))
    b0 = np.uint64(6)
    with np.errstate(over="ignore"):
        hb = b0 * C
        b1 = (fold(*a) ^ hb) - D - (hb >> np.uint64(29))
    assert fold(b0, b1) == fold(*a)     # a collision of the fold
    keys = np.array([[b0, b1], a, [np.uint64(1), np.uint64(2)], a, [b0, b1]], dtype=np.uint64)
    first, inverse = _unique_rows(keys)
    _, want_first, want_inv = np.unique(keys, axis=0, return_index=True, return_inverse=True)
    assert first.tolist() == want_first.tolist()
    assert inverse.tolist() == np.asarray(want_inv).ravel().tolist()


# --- surviving mutants of issue 19's second sample: messages, narrow tables, the model's depth --

def test_set_cover_warns_of_uncoverable_people_only_when_there_are_some(caplog):
    """On the line at T = 0.5 u1 and u2 (10 000 persons each here) have no site within
    0.5 min: one warning with the figures; at T = 1 everyone is coverable: no warning."""
    import logging

    pop = LINE_POP * 1000
    with caplog.at_level(logging.WARNING, logger="gis.analyses.siting"):
        siting.set_cover(line(), pop, 1.0)
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []
    with caplog.at_level(logging.WARNING, logger="gis.analyses.siting"):
        siting.set_cover(line(), pop, 0.5)
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warned == [
        "20,000 people (2 demand units) are more than 0.5 min from every site that may open: "
        "no choice of sites brings them within 0.5 min, so the model leaves them out and "
        "reports them as not coverable"]


def test_best_in_groups_names_itself_in_input_errors():
    with pytest.raises(SolveError) as err:
        siting.best_in_groups(line(), np.array([1.0, -1.0, 1.0, 1.0]), ["L"] * 4, ["L"] * 4)
    assert str(err.value) == ("best_in_groups: population must be finite and >= 0; 1 origin(s) "
                              "are not (first: 'u1')")


def test_p_median_without_people_costs_nothing():
    """No unit has people: any p sites do, at 0 person-minutes, without a model round."""
    r = siting.p_median(line(), np.zeros(4), 2)
    assert r.objective == 0.0 and r.n_open == 2 and r.stats["rounds"] == 0
    assert r.gap == 0.0 and r.status == "optimal"


def test_p_median_on_a_model_names_a_unit_no_site_reaches():
    """A StraightLineModel of the line plus a unit at 30 km (5 persons), 18 min from its
    nearest site D with a 5-min cut-off: the same message as with a table."""
    from gis.model.costs import StraightLineModel

    x = np.r_[LINE_X, 30.0]
    model = StraightLineModel(np.column_stack([x, np.zeros(5)]) * 1000,
                              np.column_stack([LINE_SITES, np.zeros(4)]) * 1000,
                              speed_kmh=60.0, detour_factor=1.0, cutoff_min=5.0,
                              origin_ids=np.array(["u0", "u1", "u2", "u3", "far"]),
                              dest_ids=LINE_IDS)
    with pytest.raises(SolveError) as err:
        siting.p_median(model, np.r_[LINE_POP, 5.0], 2)
    assert str(err.value) == (
        "p_median: 1 demand unit(s) with 5 persons reach no allowed site within the cost "
        "table's cut-off of 5 min (first: 'far'); rebuild the table with a larger cutoff_min, "
        "set their population to 0, or allow more sites")


def _model_depth(k: int, *, n: int = 12, m: int = 15, seed: int = 4):
    """A p-median's depth on a StraightLineModel (1 min per km, cut-off 1000 min: every site
    within reach) holding each unit's nearest ``k`` sites, and the dense times."""
    from gis.model.costs import StraightLineModel

    rng = np.random.default_rng(seed)
    xy, sxy = rng.uniform(0, 50_000, (n, 2)), rng.uniform(0, 50_000, (m, 2))
    model = StraightLineModel(xy, sxy, speed_kmh=60.0, detour_factor=1.0, cutoff_min=1000.0)
    data = siting._prepare(model, np.ones(n), (), (), model="p_median")
    D = np.hypot(*(xy[:, None, :] - sxy[None, :, :]).transpose(2, 0, 1)) / 1000.0
    return siting._Depth(data, k=k), D


def test_model_depth_is_deepened_only_for_units_holding_fewer_sites_than_asked():
    """need(sites=s) deepens the units holding fewer than s pairs, and they then hold at least
    their nearest s sites (random points: no ties, so k sites are k pairs)."""
    depth, D = _model_depth(3)
    assert (np.diff(depth.rows.start) == 3).all() and not depth.complete
    depth.need(sites=3)                 # everyone holds 3: nothing to do
    assert depth.deepened == 0 and (np.diff(depth.rows.start) == 3).all()
    depth.need(sites=4)
    held = np.diff(depth.rows.start)
    assert depth.deepened == 12 and (held >= 4).all()
    for u in range(12):                 # the pairs held are the unit's nearest sites, in order
        t = depth.rows.t[depth.rows.start[u]:depth.rows.start[u + 1]]
        assert np.allclose(t, np.sort(D[u])[:held[u]], rtol=1e-12)


def test_model_depth_holds_a_unit_whole_when_no_open_site_reaches_it():
    """hold_open with only a site beyond every unit's cut-off open: no unit can hold its
    nearest open site, so each is held whole (every site within the cut-off)."""
    from gis.model.costs import StraightLineModel

    # units at 0, 1.2, 2.6 km; sites at 0, 0.5, 1.7, 2.9 and 40 km; 1 min per km, cut-off 10
    xy = np.column_stack([[0.0, 1200.0, 2600.0], np.zeros(3)])
    sxy = np.column_stack([[0.0, 500.0, 1700.0, 2900.0, 40_000.0], np.zeros(5)])
    model = StraightLineModel(xy, sxy, speed_kmh=60.0, detour_factor=1.0, cutoff_min=10.0)
    data = siting._prepare(model, np.ones(3), (), (), model="p_median")
    depth = siting._Depth(data, k=1)
    assert np.diff(depth.rows.start).tolist() == [1, 1, 1] and not depth.complete
    depth.hold_open(np.array([False, False, False, False, True]))
    assert depth.complete and np.diff(depth.rows.start).tolist() == [4, 4, 4]


def test_greedy_start_adds_the_site_saving_the_most():
    """The greedy addition alone (deadline passed: no substitution). Line, cut-off 5 min:
    u0 at 0 (1000 persons), u1 at 10 (5); sites A at 0, Y at 5, X at 10. A serves u0 at 0 and
    comes first (Y would leave u0 5 min away). Then u1: X serves it at 0 min, Y at 5 (and
    saves u0 nothing): X."""
    c = table(np.array([[0.0, 5.0, np.inf], [np.inf, 5.0, 0.0]]), cutoff=5.0,
              dest_ids=["A", "Y", "X"])
    data = siting._prepare(c, np.array([1000.0, 5.0]), (), (), model="p_median")
    lv = siting._Depth(data, k=3).lv
    got = siting._greedy_interchange(lv, data.allowed, data.fixed, 2, depth=3, deadline=0.0)
    assert c.dest_ids[got].tolist() == ["A", "X"]


def test_coverage_compares_the_stored_time_even_in_float32():
    """A float32 table stores 10.1 min as 10.1000004: above T = 10.1, so not covered (the
    plan evaluation, nearest_open_time, says the same); 10.0 is exact and covered."""
    D = np.array([[10.1, np.inf], [np.inf, 10.0]])
    c = table(D, cutoff=20.0)
    narrow = CostTable(origin=c.origin, dest=c.dest, dist_m=c.dist_m,
                       time_min=c.time_min.astype(np.float32), origin_ids=c.origin_ids,
                       dest_ids=c.dest_ids, cutoff_min=c.cutoff_min, mode=c.mode)
    assert float(np.float32(10.1)) > 10.1
    pop = np.array([7.0, 3.0])
    t, _ = nearest_open_time(narrow, np.ones(2, bool))
    assert (t <= 10.1).tolist() == [False, True]
    r = siting.set_cover(narrow, pop, 10.1)
    assert r.uncovered_population == 7.0 and r.open_ids == ["S1"]
    assert siting.mclp(narrow, pop, 10.1, 1).objective == 3.0


def test_p_median_incumbent_is_optimal_when_highs_finds_nothing_below_it(monkeypatch, caplog):
    """HiGHS answering "infeasible" to a MIP round with the incumbent's value as cut-off means
    nothing beats the incumbent: it is returned as proven optimal (bound = objective) and the
    round is logged as "mip". Here HiGHS is made to answer so (on this case it would really
    find better sites); the relaxation still runs. The objective is the returned sites' own
    person-minutes."""
    import logging
    from types import SimpleNamespace

    real = siting._highs

    def cut_off_infeasible(*args, objective_bound=None, **kw):
        if objective_bound is None:
            return real(*args, **kw)
        return SimpleNamespace(status=2, x=None, fun=np.nan, mip_dual_bound=None,
                               message="infeasible", mip_node_count=0)

    rc, rpop = random_case(29, n=14, m=7, cutoff=30.0)
    monkeypatch.setattr(siting, "_highs", cut_off_infeasible)
    with caplog.at_level(logging.INFO, logger="gis.analyses.siting"):
        r = siting.p_median(rc, rpop, 2, mip_rel_gap=1e-9)
    assert [m.getMessage().split(":")[0] for m in caplog.records
            if m.getMessage().startswith("p_median")] == ["p_median lp", "p_median mip"]
    assert r.stats["rounds"] == 2 and r.bound == r.objective and r.status == "optimal"
    t, _ = nearest_open_time(rc, np.isin(rc.dest_ids, r.open_ids))
    assert r.n_open == 2 and r.objective == pytest.approx(np.sum(rpop * t), rel=1e-12)
