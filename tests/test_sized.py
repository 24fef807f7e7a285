"""Cost tables sized per analysis (issue 14): each query of the straight-line model against the
table of every pair within the cut-off, hand cases of the first-k rule and of the covering
rows merged once, the location models with and without the full table, and the real Ha Tinh
run with both (every scenario and network figure equal)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from gis import pipeline
from gis.analyses import siting
from gis.analyses.network.chains import referral_chains
from gis.analyses.plans import evaluate
from gis.errors import GisError, SolveError
from gis.inputs.config import load_config
from gis.inputs.plans import Plan
from gis.jsonable import to_jsonable
from gis.model.costs import (
    StraightLineModel,
    TableModel,
    nearest,
    nearest_open_time,
    straight_line_costs,
    subset_dests,
)
from gis.outputs import maps

ROOT = Path(__file__).resolve().parents[1]
KM = {"speed_kmh": 60.0, "detour_factor": 1.0}  # 1 km = 1 minute


def _both(o, d, cutoff_min, **line):
    line = line or {"speed_kmh": 30.0, "detour_factor": 1.4}
    return (straight_line_costs(o, d, cutoff_min=cutoff_min, **line),
            StraightLineModel(o, d, cutoff_min=cutoff_min, **line))


# --- the first-k rule --------------------------------------------------------------------


def test_first_k_by_hand_and_the_second_query():
    # sites on a line at x = 1, 2, 3, 4, 10 km (positions 0..4); one origin at 0
    o = np.array([[0.0, 0.0]])
    d = np.array([[1000.0, 0], [2000, 0], [3000, 0], [4000, 0], [10000, 0]])
    m = StraightLineModel(o, d, cutoff_min=8.0, **KM)
    nk = m.nearest_k(2)
    assert nk.dest.tolist() == [[0, 1]]
    assert nk.time_min[0] == pytest.approx([1.0, 2.0])
    assert nk.next_time_min[0] == pytest.approx(3.0)  # more within the cut-off: not complete
    # the first two open: answered from the row
    t, a = m.nearest_open(np.array([False, True, True, True, True]), k=2)
    assert (t[0], a[0]) == (pytest.approx(2.0), 1)
    before = len(m.queries["second_queries"])
    # both of the first two closed: the second query finds x = 4 km (x = 10 is beyond 8 min)
    t, a = m.nearest_open(np.array([False, False, False, True, True]), k=2)
    assert (t[0], a[0]) == (pytest.approx(4.0), 3)
    assert m.queries["second_queries"][before]["rows"] == 1
    # only the site beyond the cut-off open: none within reach
    t, a = m.nearest_open(np.array([False, False, False, False, True]), k=2)
    assert (np.isinf(t[0]), a[0]) == (True, -1)
    # a row holding every site within the cut-off needs no second query
    nk4 = m.nearest_k(4)
    assert np.isinf(nk4.next_time_min[0]) and nk4.dest.tolist() == [[0, 1, 2, 3]]


def test_first_k_ties_go_to_the_lowest_position():
    # two sites at one point and two at the same distance on either side
    o = np.array([[0.0, 0.0]])
    d = np.array([[3000.0, 0], [-2000, 0], [2000, 0], [3000, 0], [0, 2000]])
    m = StraightLineModel(o, d, cutoff_min=60.0, **KM)
    nk = m.nearest_k(4)
    assert nk.dest.tolist() == [[1, 2, 4, 0]]  # the three at 2 km by position, then 3 km
    assert nk.next_time_min[0] == pytest.approx(3.0)  # position 3 ties with 0 at 3 km
    full = straight_line_costs(o, d, cutoff_min=60.0, **KM)
    for mask in ([0, 0, 1, 1, 1], [1, 0, 0, 1, 0], [0, 0, 0, 1, 0]):
        mask = np.array(mask, bool)
        for k in (1, 2, 3):
            got = m.nearest_open(mask, k=k)
            want = nearest_open_time(full, mask)
            assert np.array_equal(got[0], want[0]) and np.array_equal(got[1], want[1])


def test_model_records_heads_and_empty_nearest_tables():
    """The model's record of the tables it built (the full table: its depth, pairs and
    destinations); a shallower head keeps the destination ids; a nearest-only table with
    nothing to find is empty, with the table's dtypes and the default mode."""
    from gis.model.costs import straight_line_nearest

    o = np.array([[0.0, 0.0], [500.0, 0.0]])
    d = np.array([[1000.0, 0], [2000, 0], [3000, 0]])
    m = StraightLineModel(o, d, cutoff_min=2.5, dest_ids=np.array(["a", "b", "c"]), **KM)
    t = m.table()
    assert m.queries["tables"][-1] == {"table": "all_pairs", "time_min": 2.5, "pairs": len(t),
                                       "dests": 3}
    assert len(t) == 2 + 3   # 1, 2 km from the first origin; 0.5, 1.5, 2.5 from the second
    head = m.nearest_k(3).head(1)
    assert list(head.dest_ids) == ["a", "b", "c"] and head.dest.tolist() == [[0], [0]]
    assert head.next_time_min.tolist() == [2.0, 1.5]
    # no destination in the mask: nobody has a nearest one (-1, no time)
    none = nearest(m, np.zeros(3, bool))
    assert none["dest"].tolist() == [-1, -1] and none["time_min"].isna().all()
    assert none["dest"].dtype == np.int64
    # a model without origins answers with empty arrays
    empty = StraightLineModel(np.zeros((0, 2)), d, cutoff_min=2.5, **KM)
    t0, a0 = empty.nearest_open(np.ones(3, bool), k=2)
    assert len(t0) == len(a0) == 0 and len(empty.within(2.0)) == 0
    for origins, dests in ((np.zeros((0, 2)), d), (o, np.zeros((0, 2)))):
        e = straight_line_nearest(origins, dests, speed_kmh=60.0, detour_factor=1.0,
                                  cutoff_min=5.0)
        assert len(e) == 0 and e.mode == "straight_line" and e.cutoff_min == 5.0
        assert (e.origin.dtype, e.dest.dtype, e.dist_m.dtype, e.time_min.dtype) == (
            np.int32, np.int32, np.float32, np.float64)
        assert len(e.dist_m) == len(e.time_min) == 0
        assert e.n_origins == len(origins) and e.n_dests == len(dests)


def test_first_k_asks_again_in_blocks_and_at_the_limit():
    """Sites on a circle around an origin (equal distances up to rounding): the first query's
    candidates never settle the order, so the tree is asked again with more until every site
    is a candidate; in blocks of 2 rows the answer is the same; a site whose time is exactly
    the table's limit (the cut-off and a relative 1e-12) is held, as the full table holds
    it. A fresh model answers nearest_open with its default depth (16) and records what it
    built."""
    from gis.model.costs import NEAREST_K, _first_k

    angles = np.arange(20) * 2 * np.pi / 20
    d = np.column_stack([5000 * np.cos(angles), 5000 * np.sin(angles)])
    o = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [-1.0, 0.0], [0.0, -1.0]])
    full = straight_line_costs(o, d, cutoff_min=60.0, **KM)
    m = StraightLineModel(o, d, cutoff_min=60.0, **KM)
    for k in (1, 3):
        for mask in (np.ones(20, bool), np.arange(20) % 3 == 1):
            got, want = m.nearest_open(mask, k=k), nearest_open_time(full, mask)
            assert np.array_equal(got[0], want[0]) and np.array_equal(got[1], want[1])
    line = {"radius_m": 60_000.0, "limit_min": 60.0 * (1 + 1e-12), "detour_factor": 1.0,
            "speed_m_per_min": 1000.0}
    D1, T1 = _first_k(o, d, 3, **line)
    D2, T2 = _first_k(o, d, 3, block=2, **line)
    assert np.array_equal(D1, D2) and np.array_equal(T1, T2) and (D1 >= 0).all()
    # a site exactly at the limit of a 1-minute table (60 km/h: 1 km a minute)
    limit = 1.0 * (1 + 1e-12)
    x = limit * 1000.0
    while x / 1000.0 != limit:
        x = np.nextafter(x, np.inf if x / 1000.0 < limit else 0.0)
    edge = np.array([[x, 0.0], [2000.0, 0.0]])
    one = StraightLineModel(np.zeros((1, 2)), edge, cutoff_min=1.0, **KM)
    table = straight_line_costs(np.zeros((1, 2)), edge, cutoff_min=1.0, **KM)
    assert len(table) == 1 and table.time_min[0] == limit
    nk = one.nearest_k(2)
    assert nk.dest.tolist() == [[0, -1]] and nk.time_min[0, 0] == limit
    assert one.queries["tables"][-1] == {"table": "nearest_k", "k": 2, "rows": 1, "pairs": 1,
                                         "dests": 2}
    fresh = StraightLineModel(o, d, cutoff_min=60.0, **KM)
    got = fresh.nearest_open(np.ones(20, bool))
    want = nearest_open_time(full, np.ones(20, bool))
    assert np.array_equal(got[0], want[0]) and np.array_equal(got[1], want[1])
    assert fresh.queries["second_queries"] == [{"open": 20, "k": NEAREST_K, "rows": 0}]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_nearest_open_equals_the_full_table_for_any_k(seed):
    rng = np.random.default_rng(seed)
    o = rng.uniform(0, 40_000, (2500, 2))
    o[1000:1300] = o[:300]  # origins at one point share a row
    d = rng.uniform(0, 40_000, (50, 2))
    d[7] = d[8]  # two sites at one point
    d[20:23] = np.round(d[20:23], -3)
    full, m = _both(o, d, 45.0)
    assert m.queries["distinct_points"] == len(np.unique(o, axis=0))
    for k in (1, 3, 8):
        for share in (0.05, 0.3, 0.9):
            mask = rng.random(50) < share
            got, want = m.nearest_open(mask, k=k), nearest_open_time(full, mask)
            assert np.array_equal(got[0], want[0]) and np.array_equal(got[1], want[1])
    mask = rng.random(50) < 0.4
    assert nearest(m, mask).equals(nearest(full, mask))
    assert sum(q["rows"] for q in m.queries["second_queries"]) > 0  # the fallback ran


def test_tables_within_a_time_and_inside_groups_are_the_full_tables_pairs():
    rng = np.random.default_rng(5)
    o = rng.uniform(0, 30_000, (2000, 2))
    o[500:600] = o[:100]
    d = rng.uniform(0, 30_000, (30, 2))
    full, m = _both(o, d, 40.0)
    w = m.within(25.0)
    sel = full.time_min <= 25.0 * (1 + 1e-12)
    for col in ("origin", "dest", "time_min", "dist_m"):
        assert np.array_equal(getattr(w, col), getattr(full, col)[sel])
    assert w.cutoff_min == 25.0
    og = rng.integers(0, 6, 2000).astype(object)
    og[:10] = None  # no group
    dg = rng.integers(0, 7, 30).astype(object)
    gp = m.group_pairs(og, dg)
    same = np.array([a is not None and a == b for a, b in zip(og[full.origin], dg[full.dest],
                                                             strict=True)])
    for col in ("origin", "dest", "time_min", "dist_m"):
        assert np.array_equal(getattr(gp, col), getattr(full, col)[same])
    assert gp.cutoff_min == 40.0
    t = m.table()
    for col in ("origin", "dest", "time_min", "dist_m"):
        assert np.array_equal(getattr(t, col), getattr(full, col))


def test_within_asked_again_is_the_same_table():
    # the last within() answer is kept for the model and the models derived from it (the
    # capacity stage asks for the stations within 30 min as the plans stage did): the same
    # table; another time or other destinations build anew, and equal the full table's pairs
    rng = np.random.default_rng(8)
    o = rng.uniform(0, 20_000, (800, 2))
    d = rng.uniform(0, 20_000, (12, 2))
    full, m = _both(o, d, 40.0)
    mask = np.arange(12) % 3 != 0
    a = m.subset(mask).within(25.0)
    b = m.within(25.0, dest_mask=mask)
    assert b is a and m.queries["tables"][-1].get("reused") is True
    c = m.within(20.0, dest_mask=mask)
    e = m.within(25.0)
    assert c is not a and e is not a
    sub = subset_dests(full, mask)
    for got, t in ((a, 25.0), (c, 20.0)):
        sel = sub.time_min <= t * (1 + 1e-12)
        for col in ("origin", "dest", "time_min", "dist_m"):
            assert np.array_equal(getattr(got, col), getattr(sub, col)[sel])
        assert list(got.dest_ids) == list(sub.dest_ids)


# --- exact aggregation of the covering models' demand ------------------------------------


def test_cover_rows_merge_units_with_the_same_sites_by_hand():
    # sites at x = 0, 10, 20 km; T = 6 min. Units: two near site 0 (same set {0}), one between
    # 0 and 10 at 5 km ({0, 1}), one at 15 km ({1, 2}), one at 40 km (none), one with 0 people
    d = np.array([[0.0, 0], [10_000, 0], [20_000, 0]])
    o = np.array([[1000.0, 0], [-2000, 0], [5000, 0], [15_000, 0], [40_000, 0], [500, 0]])
    pop = np.array([10.0, 20.0, 5.0, 7.0, 3.0, 0.0])
    full = straight_line_costs(o, d, cutoff_min=60.0, **KM)
    rows = siting.cover_rows(full, pop, 6.0)
    assert rows.A.shape == (3, 3)  # {0}, {0, 1}, {1, 2}
    got = {tuple(np.flatnonzero(rows.A[[r]].toarray()[0])): w
           for r, w in zip(range(3), rows.w, strict=True)}
    assert got == {(0,): 30.0, (0, 1): 5.0, (1, 2): 7.0}
    assert rows.uncoverable_pop == 3.0 and rows.total_pop == 45.0
    # figures per unit back from the rows: the units' own rows
    assert rows.unit_row[0] == rows.unit_row[1] and rows.unit_row[4] == -1
    assert rows.unit_row[5] == -1
    # shared rows give what each model builds on its own
    a = siting.set_cover(full, pop, 6.0)
    b = siting.set_cover(full, pop, 6.0, rows=rows)
    assert a.open_ids == b.open_ids and a.objective == b.objective == 2  # site 0 and 1 or 2
    assert 0 in a.open_ids
    c1 = siting.coverage_curve(full, pop, 6.0, ks=[0, 1, 2])
    c2 = siting.coverage_curve(full, pop, 6.0, ks=[0, 1, 2], rows=rows)
    assert [x["covered_population"] for x in c1] == [x["covered_population"] for x in c2] \
        == [0.0, 35.0, 42.0]
    # with a fixed site, units it covers drop out
    fixed = siting.cover_rows(full, pop, 6.0, fixed_open=[0])
    assert fixed.A.shape[0] == 1 and fixed.fixed_pop == 35.0
    with pytest.raises(SolveError, match="rows= were built for another"):
        siting.set_cover(full, pop, 6.0, rows=fixed)
    with pytest.raises(SolveError, match="rows= were built for another"):
        siting.mclp(full, pop, 5.0, 1, rows=rows)


def test_covering_models_on_the_model_equal_the_full_table():
    rng = np.random.default_rng(11)
    o = rng.uniform(0, 30_000, (3000, 2))
    d = rng.uniform(0, 30_000, (40, 2))
    pop = rng.gamma(1.2, 10.0, 3000)
    full, m = _both(o, d, 60.0)
    for f in (lambda c: siting.set_cover(c, pop, 12.0, fixed_open=[0, 1]),
              lambda c: siting.mclp(c, pop, 12.0, 8, fixed_closed=[3])):
        a, b = f(full), f(m)
        assert (a.open_ids, a.objective, a.bound, a.covered_population) == \
            (b.open_ids, b.objective, b.bound, b.covered_population)
    g_o = rng.integers(0, 9, 3000)
    g_d = rng.integers(0, 9, 40)
    a = siting.best_in_groups(full, pop, g_o, g_d)
    b = siting.best_in_groups(m, pop, g_o, g_d)
    pd.testing.assert_frame_equal(a, b)


# --- p-median and p-center read as deep as they need --------------------------------------


def _same_result(a, b):
    assert a.open_ids == b.open_ids
    assert (a.objective, a.bound, a.gap, a.status) == (b.objective, b.bound, b.gap, b.status)
    assert np.array_equal(a.assignment, b.assignment)
    assert np.array_equal(a.time_min, b.time_min)


@pytest.mark.parametrize("seed", [0, 1])
def test_p_median_deepens_where_needed_and_equals_the_full_table(seed):
    rng = np.random.default_rng(seed)
    # sites in tight clusters, demand everywhere: a unit's nearest few sites are one cluster,
    # so a solution that closes it needs sites far down the unit's list
    centres = rng.uniform(0, 40_000, (6, 2))
    d = np.concatenate([c + rng.normal(0, 300, (6, 2)) for c in centres])
    o = rng.uniform(0, 40_000, (1500, 2))
    pop = rng.gamma(1.0, 10.0, 1500)
    full, m = _both(o, d, 180.0)
    for kw in ({"initial_depth": 1}, {"initial_depth": 2, "fixed_open": [0],
                                      "fixed_closed": [1, 2]}):
        a = siting.p_median(full, pop, 5, time_limit_s=600, **kw)
        b = siting.p_median(m, pop, 5, time_limit_s=600, **kw)
        _same_result(a, b)
        assert b.stats["units_deepened"] > 0
        assert b.stats["pairs"] < len(full)


def test_p_center_on_the_model_equals_the_full_table():
    rng = np.random.default_rng(4)
    o = rng.uniform(0, 30_000, (1200, 2))
    d = rng.uniform(0, 30_000, (25, 2))
    pop = rng.integers(0, 5, 1200).astype(float)
    full, m = _both(o, d, 180.0)
    a = siting.p_center(full, pop, 4)
    b = siting.p_center(m, pop, 4)
    _same_result(a, b)
    assert b.stats["within_min"] < 180.0


# --- the real Ha Tinh run: sized tables and the full table ----------------------------------


@pytest.fixture(scope="module")
def hatinh_1km(communes_2025_path, census_2019_path):
    cfg = load_config(ROOT / "examples" / "hatinh_shared_data.toml")
    cfg = dataclasses.replace(cfg, demand=dataclasses.replace(cfg.demand, cell_size_m=1000.0))
    prep = pipeline.prepare(cfg)
    return prep, pipeline.run_access_stage(prep)


def _figures(obj):
    """Every number of a summary section, as JSON values (NaN compared as equal)."""
    return to_jsonable(obj)


def test_real_scenarios_equal_with_and_without_the_full_table(hatinh_1km):
    prep, acc = hatinh_1km
    sized = pipeline.run_plans_stage(prep, acc, time_limit_s=600)
    full = pipeline.run_plans_stage(prep, acc, full_table=True, time_limit_s=600)
    tables = sized.summary.pop("cost_tables")
    assert "cost_tables" not in full.summary
    assert _figures(sized.summary) == _figures(full.summary)
    pd.testing.assert_frame_equal(sized.table, full.table)
    for a, b in zip(sized.evaluations, full.evaluations, strict=True):
        assert np.array_equal(a.time_min, b.time_min)
        pd.testing.assert_frame_equal(a.communes, b.communes)
    for key in ("losing_access", "plan_communes"):
        pd.testing.assert_frame_equal(sized.layers[key], full.layers[key])
    # no table of every pair: the nearest stations, the pairs within 30 min, the commune pairs
    assert {t["table"] for t in tables["tables"]} == {"nearest_k", "within", "group_pairs"}


def test_real_plan_closing_every_near_station_uses_the_second_query(hatinh_1km):
    prep, acc = hatinh_1km
    fac = prep.layers.facilities
    st = fac[(fac["tier"] == "station") & (fac["status"] == "active")]
    keep = set(st["facility_id"].iloc[::25])  # 9 of 209 stations open
    plan = Plan(name="9 stations", actions=pd.DataFrame({
        "facility_id": st["facility_id"].to_numpy(),
        "action": np.where(st["facility_id"].isin(keep), "keep", "close"),
        "target_commune_code": st["commune_code"].to_numpy(), "role": "", "rule": "test",
        "x": np.nan, "y": np.nan}))
    model = acc.cost_model
    sm = subset_dests(model, np.isin(model.dest_ids, st["facility_id"].to_numpy()))
    sf = subset_dests(acc.costs, np.isin(acc.costs.dest_ids, st["facility_id"].to_numpy()))
    kw = {"population": acc.demand["population"].to_numpy(float),
          "commune_codes": acc.demand["commune_code"].to_numpy(), "thresholds_min": (15, 30),
          "doctors_per_station": 4.0}
    a = evaluate(plan, costs=sm, **kw)
    b = evaluate(plan, costs=sf, **kw)
    assert np.array_equal(a.time_min, b.time_min)
    assert _figures(a.province) == _figures(b.province)
    pd.testing.assert_frame_equal(a.communes, b.communes)
    last = sm.queries["second_queries"][-1]
    assert last["open"] == 9 and last["rows"] > 0  # cells whose k nearest are all closed


def test_real_network_equal_with_and_without_the_full_table(hatinh_1km):
    prep, acc = hatinh_1km
    plans = pipeline.run_plans_stage(prep, acc, optimise=False)
    sized, _ = pipeline.run_network_stage(prep, acc, plan=plans.official)
    full, _ = pipeline.run_network_stage(prep, acc, plan=plans.official, full_table=True)
    assert _figures(sized.summary) == _figures(full.summary)
    pd.testing.assert_frame_equal(sized.chains, full.chains)
    pd.testing.assert_frame_equal(sized.loss, full.loss)
    for key in ("referral_chains", "referral_chains_plan", "hubs"):
        pd.testing.assert_frame_equal(sized.layers[key], full.layers[key])
    # the chains of the loss ranking, read per first contact, are those of a table per unit
    chains = referral_chains(sized.graph, demand=acc.demand, costs=acc.costs)
    pd.testing.assert_frame_equal(chains, sized.chains)


def _no_seconds(obj):
    """A summary without its solve times (the only figures that differ run to run)."""
    if isinstance(obj, dict):
        return {k: _no_seconds(v) for k, v in obj.items() if k != "seconds"}
    if isinstance(obj, list):
        return [_no_seconds(v) for v in obj]
    return obj


def test_real_capacity_equal_with_and_without_the_full_table(hatinh_1km):
    """The capacity stage on the sized model builds, per tier, only the pairs within its time
    limit to its analysed facilities, and finds the same figures, cells and catchments as on
    the table of every pair (both then the same HiGHS models)."""
    prep, acc = hatinh_1km
    model = acc.cost_model
    before = len(model.queries["tables"])
    sized = pipeline.run_capacity_stage(prep, acc)
    built = model.queries["tables"][before:]
    full = pipeline.run_capacity_stage(prep, acc, full_table=True)
    assert _no_seconds(_figures(sized.summary)) == _no_seconds(_figures(full.summary))
    assert _no_seconds(_figures(sized.scale_up_summary)) == \
        _no_seconds(_figures(full.scale_up_summary))
    assert sized.layers.keys() == full.layers.keys()
    for key in sized.layers:
        pd.testing.assert_frame_equal(sized.layers[key], full.layers[key])
    # the station tier at 30 min (209 stations), the provincial at 120 min (1 with beds known)
    assert {(t["table"], t["time_min"], t["dests"]) for t in built} >= {
        ("within", 30.0, 209), ("within", 120.0, 1)}
    assert "all_pairs" not in {t["table"] for t in built}


# --- the access map of many cells is drawn on the grid ---------------------------------------


def test_many_cells_drawn_on_the_grid(monkeypatch):
    cs = 100.0
    ix, iy = np.meshgrid(np.arange(30), np.arange(20))
    ix, iy = ix.ravel(), iy.ravel()
    geoms = list(shapely.box(ix * cs, iy * cs, (ix + 1) * cs, (iy + 1) * cs))
    t = np.where(ix < 10, 5.0, np.where(ix < 20, 20.0, np.nan))
    # one cell split in two pieces of different bands: drawn in the band of the larger
    geoms[0] = shapely.box(0, 0, 70, 100)
    geoms.append(shapely.box(70, 0, 100, 100))
    t = np.r_[t, 40.0]
    cells = gpd.GeoDataFrame({"station_time_min": t, "population": np.ones(len(t))},
                             geometry=geoms, crs="EPSG:32648")
    kw = {"title": "t", "offline": True, "thresholds_min": {"station": [15, 30, 60]},
          "time_fields": {"station": "station_time_min"}}
    exact = maps.accessibility_map(cells, **kw)
    monkeypatch.setattr(maps, "MAX_UNION_UNITS", 100)
    grid = maps.accessibility_map(cells, **kw)
    layer = "Travel time to the nearest commune health station"
    # exact: four bands (the 30-60 min piece too); on the grid the piece's cell is drawn in
    # the band of its larger piece, so three
    assert exact.gis_layers[layer]["features"] == 4
    assert grid.gis_layers[layer]["features"] == 3
    text = maps.map_html(grid)
    assert "Drawn on the 100 m grid of demand cells" in text and "601 demand cells" in text
    assert "Drawn on the" not in maps.map_html(exact)


def test_real_plan_editor_data_equal_with_and_without_the_full_table(hatinh_1km):
    import json

    prep, acc = hatinh_1km
    sized = pipeline.editor_data(prep, acc)
    full = pipeline.editor_data(prep, acc, full_table=True)
    assert sized["k"] == full["k"] and sized["k_needed"] == full["k_needed"]
    assert json.dumps(sized, sort_keys=True) == json.dumps(full, sort_keys=True)


def test_nearest_open_gives_positions_that_index_the_sites():
    """Sites at x = 1, 2, 3 km (ids "a", "b", "c"), origins at 0 and 2.5 km; only "a" and "c"
    open: the first origin's nearest open site is "a" (1 min), the second's "c" (0.5 min),
    from the first-k rows and from the second query (k = 1, its one site closed)."""
    o = np.array([[0.0, 0.0], [2500.0, 0.0]])
    d = np.array([[1000.0, 0.0], [2000.0, 0.0], [3000.0, 0.0]])
    m = StraightLineModel(o, d, cutoff_min=10.0, dest_ids=np.array(["a", "b", "c"]), **KM)
    for k in (1, 3):
        t, a = m.nearest_open(np.array([True, False, True]), k=k)
        assert a.dtype == np.int64
        assert m.dest_ids[a].tolist() == ["a", "c"]
        assert t == pytest.approx([1.0, 0.5])


def test_straight_line_model_table_keeps_origin_ids():
    o = np.array([[0.0, 0.0], [1000.0, 0.0]])
    m = StraightLineModel(o, o, cutoff_min=1.0, origin_ids=np.array(["u", "v"]),
                          dest_ids=np.array(["P", "Q"]), **KM)
    f = m.table().to_frame()
    assert list(zip(f["origin_id"], f["dest_id"], f["time_min"], strict=True)) == [
        ("u", "P", 0.0), ("u", "Q", 1.0), ("v", "P", 1.0), ("v", "Q", 0.0)]


def test_table_model_has_the_tables_mode_and_names_what_it_lacks():
    o = np.array([[0.0, 0.0], [1000.0, 0.0]])
    d = np.array([[0.0, 0.0], [5000.0, 0.0]])
    # pairs within 3 min at 1 km/min: (0, 0) and (1, 0) only
    t = straight_line_costs(o, d, cutoff_min=3.0, mode="walk", **KM)
    m = TableModel(t)
    assert m.mode == "walk" and len(t) == 2
    with pytest.raises(GisError) as err:
        m.with_dests(np.array([[500.0, 0.0]]), np.array(["N"]))
    assert str(err.value) == (
        "TableModel(2 origins, 2 destinations, 2 pairs within 3 min, walk): no travel model "
        "to cost new destinations with; build the model with extend= "
        "(gis.model.travel.TravelModel.cost_model)")
