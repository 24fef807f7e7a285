"""Every threshold the tool applies, at its boundary: a time exactly at a threshold is within
it (inclusive, as the README says), the next float above it is not.

Cost tables are written by hand with exact minutes (``tests/_tables.py``), so that no travel
model's rounding stands between the test and the comparison it checks. ``above(x)`` is the
smallest float greater than ``x``.
"""

from __future__ import annotations

import math

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from gis.analyses import access as A
from gis.analyses import network as N
from gis.analyses import plans as P
from gis.analyses import siting
from gis.errors import GisError, NetworkError, SolveError
from gis.inputs.plans import Plan
from gis.model.costs import nearest_open_time, straight_line_costs, straight_line_nearest
from tests._tables import above, table

CRS = "EPSG:32648"
T = 30.0
JUST = above(T)


# --- model: the cost tables keep the pair exactly at the cut-off ------------------------------

def test_straight_line_tables_keep_the_pair_at_the_cutoff():
    # 60 km/h, no detour: 1,000 m = 1 min exactly; sites at 3,000 m and 3,000.001 m
    o = np.array([[0.0, 0.0]])
    d = np.array([[3000.0, 0.0], [0.0, 3000.001]])
    full = straight_line_costs(o, d, speed_kmh=60, detour_factor=1.0, cutoff_min=3.0)
    assert full.dest.tolist() == [0] and full.time_min.tolist() == [3.0]
    near = straight_line_nearest(o, d, speed_kmh=60, detour_factor=1.0, cutoff_min=3.0)
    assert near.dest.tolist() == [0] and near.time_min.tolist() == [3.0]
    # with only the farther one, nothing is within the cut-off
    far = straight_line_nearest(o, d[1:], speed_kmh=60, detour_factor=1.0, cutoff_min=3.0)
    assert len(far) == 0
    assert len(straight_line_costs(o, d[1:], speed_kmh=60, detour_factor=1.0,
                                   cutoff_min=3.0)) == 0


def test_nearest_open_time_beyond_every_pair_is_inf():
    c = table([[T, 5.0], [JUST, np.inf]], cutoff=40.0)
    t, arg = nearest_open_time(c, np.array([True, False]))
    assert t.tolist() == [T, JUST] and arg.tolist() == [0, 0]
    t, arg = nearest_open_time(c, np.array([False, True]))
    assert t[0] == 5.0 and math.isinf(t[1]) and arg.tolist() == [1, -1]


# --- access ---------------------------------------------------------------------------------

def _times(station):
    t = np.asarray(station, float)
    return pd.DataFrame({"station_id": np.where(np.isnan(t), "", "S"), "station_time_min": t})


def test_coverage_counts_the_person_exactly_at_the_threshold():
    times = _times([T, JUST, np.nan, 0.0])
    pop = np.array([1.0, 10.0, 100.0, 1000.0])
    cov = A.coverage_table(pop, times, {"station": (T,)})
    assert cov["station_30min"].iloc[0] == 1001.0
    assert cov["station_30min_share"].iloc[0] == 1001.0 / 1111.0
    assert cov.index.name == "group"
    per = A.coverage_table(pop, times, {"station": (T,)}, np.array(["a", "a", "b", "b"]))
    assert per.loc["a", "station_30min"] == 1.0 and per.loc["b", "station_30min"] == 1000.0


def _cells(n):
    """``n`` separate 1 km cells (3 km apart, so each is its own area), 10^k people."""
    geoms = [shapely.box(3000 * i, 0, 3000 * i + 1000, 1000) for i in range(n)]
    return gpd.GeoDataFrame({"unit_id": range(n), "population": [10.0 ** i for i in range(n)],
                             "commune_code": [f"C{i}" for i in range(n)],
                             "x": [3000.0 * i + 500 for i in range(n)], "y": [500.0] * n},
                            geometry=geoms, crs=CRS)


def test_underserved_rule_spares_the_cell_exactly_at_the_limit():
    demand = _cells(4)
    times = _times([T, JUST, np.nan, 0.0])
    under = A.underserved_areas(demand, times, rules_min={"station": T})
    # the cell at exactly 30 min and the one at 0 are served; above 30 and unreached are not
    assert sorted(under["population"].tolist()) == [10.0, 100.0]
    assert sorted(under["commune_codes"].tolist()) == ["C1", "C2"]


def test_catchment_weights_at_their_edges():
    c = 3.0
    t = np.array([0.0, 1.0, above(1.0), 2.0, above(2.0), 3.0, above(3.0)])
    assert A.decay_weights(t, catchment_min=c, decay="step").tolist() == [
        1.0, 1.0, 0.68, 0.68, 0.22, 0.22, 0.0]
    assert A.decay_weights(t, catchment_min=c, decay="none").tolist() == [1.0] * 6 + [0.0]
    g = A.decay_weights(t, catchment_min=c, decay="gaussian")
    assert g[5] == pytest.approx(math.exp(-9 / (2 * 1.5 ** 2))) and g[6] == 0.0


@pytest.mark.parametrize("decay", ["none", "step", "gaussian"])
def test_e2sfca_catchment_is_inclusive(decay):
    # one facility (supply 2); cell 0 exactly at the 60 min catchment, cell 1 just beyond it
    # (the table is deeper: the catchment itself must leave cell 1 out), cell 2 at 0 min
    costs = table([[60.0], [above(60.0)], [0.0]], cutoff=90.0)
    pop = np.array([100.0, 1000.0, 300.0])
    w = A.decay_weights(np.array([60.0, 0.0]), catchment_min=60.0, decay=decay)
    ratio = 2.0 / (100.0 * w[0] + 300.0 * w[1])
    got = A.fca(costs, pop, np.array([2.0]), catchment_min=60.0, decay=decay, per=1.0)
    assert got == pytest.approx([ratio * w[0], 0.0, ratio * w[1]], rel=1e-12)


# --- plans ----------------------------------------------------------------------------------

def _plan(actions: dict[str, tuple[str, str]], name: str = "test") -> Plan:
    df = pd.DataFrame([{"facility_id": k, "action": a, "target_commune_code": c, "role": "",
                        "rule": "", "x": np.nan, "y": np.nan} for k, (a, c) in actions.items()])
    return Plan(name=name, actions=df)


def _boundary_plans():
    """Stations A (closed by the plan) and B (kept); cells:

    c0: A 30, B 30     -> within 30 before and after: not losing
    c1: A 30, B 30+    -> within before (exactly 30), beyond after: losing
    c2: A 30+, B 40    -> beyond 30 before: not losing (had no 30-min access)
    c3: A 10, B none   -> within before, beyond the cut-off after: losing
    """
    costs = table([[T, T], [T, JUST], [JUST, 40.0], [10.0, np.inf]], cutoff=50.0,
                  dest_ids=["A", "B"])
    pop = np.array([1.0, 10.0, 100.0, 1000.0])
    codes = np.array(["X", "X", "Y", "Y"])
    today = _plan({"A": ("keep", "X"), "B": ("keep", "Y")}, "today")
    closed = _plan({"A": ("close", "X"), "B": ("keep", "Y")}, "A closed")
    return costs, pop, codes, today, closed


def test_evaluation_baseline_and_plan_thresholds_are_inclusive():
    costs, pop, codes, today, closed = _boundary_plans()
    kw = dict(population=pop, commune_codes=codes, costs=costs, thresholds_min=(T,),
              doctors_per_station=4)
    base = P.evaluate(today, **kw)
    assert base.province["covered_30min"] == 1011.0
    ev = P.evaluate(closed, baseline_time_min=base.time_min, **kw)
    assert ev.province["covered_30min"] == 1.0
    assert ev.province["losing_30min"] == 1010.0
    assert ev.province["population_beyond_cutoff"] == 1000.0
    per = ev.communes.set_index("commune_code")
    assert per.loc["X", "losing_30min"] == 10.0 and per.loc["Y", "losing_30min"] == 1000.0
    assert per.loc["X", "covered_30min"] == 1.0 and per.loc["Y", "covered_30min"] == 0.0


def test_losing_access_layer_takes_the_same_boundary():
    costs, pop, codes, today, closed = _boundary_plans()
    kw = dict(population=pop, commune_codes=codes, costs=costs, thresholds_min=(T,),
              doctors_per_station=4)
    base = P.evaluate(today, **kw)
    ev = P.evaluate(closed, baseline_time_min=base.time_min, **kw)
    demand = _cells(4).assign(commune_code=codes, legacy_commune_code="")
    layer = _losing(demand, base, ev)
    assert layer["unit_id"].tolist() == [1, 3]
    assert layer["time_before_min"].tolist() == [T, 10.0]
    assert layer["time_after_min"].iloc[0] == JUST and np.isnan(layer["time_after_min"].iloc[1])
    assert (layer["threshold_min"] == T).all() and (layer["scenario"] == "A closed").all()


def _losing(demand, base, ev):
    """The losing-access layer as run_plans builds it (its builder is private to the module)."""
    return P._losing_cells(demand, base.time_min, ev.time_min, T, ev.scenario)


def test_siting_covering_is_inclusive():
    # u0 exactly 30 from S0; u1 just beyond 30 from S0 and S1; u2 at 30 from S1 only
    costs = table([[T, 45.0], [JUST, JUST], [50.0, T]], cutoff=50.0)
    pop = np.array([1.0, 10.0, 100.0])
    r = siting.set_cover(costs, pop, T)
    assert r.open_ids == ["S0", "S1"] and r.uncovered_population == 10.0
    assert r.covered_population == 101.0
    r = siting.mclp(costs, pop, T, 1)
    assert r.open_ids == ["S1"] and r.objective == 100.0
    curve = siting.coverage_curve(costs, pop, T, ks=[1, 2])
    assert [c["covered_population"] for c in curve] == [100.0, 101.0]
    s = siting.score_sites(costs, pop, ["S0"], thresholds_min=(T,))
    assert s.population_within == {T: 1.0}
    s1 = siting.rescore_swap(costs, pop, s, close_ids=["S0"], open_ids=["S1"])
    assert s1.population_within == {T: 100.0}
    # the covering time may equal the table's cut-off, not exceed it
    assert siting.set_cover(costs, pop, 50.0).objective == 1
    with pytest.raises(SolveError, match="exceeds the cost table's cut-off of 50"):
        siting.set_cover(costs, pop, 50.001)


def test_best_in_groups_counts_the_unit_at_the_cutoff_as_reached():
    # cut-off 30: u1 is exactly 30 from A (reached, charged 30), just beyond from B
    costs = table([[0.0, 5.0], [T, np.inf]], cutoff=T, dest_ids=["A", "B"])
    costs_b = table([[0.0, 5.0], [T, JUST]], cutoff=JUST, dest_ids=["A", "B"])
    pop = np.array([1.0, 1.0])
    out = siting.best_in_groups(costs, pop, ["g", "g"], ["g", "g"]).iloc[0]
    assert out["dest_id"] == "A" and out["unreachable_population"] == 0.0
    assert out["objective"] == T
    out = siting.best_in_groups(costs_b, pop, ["g", "g"], ["g", "g"]).iloc[0]
    assert out["objective"] == T


# --- network --------------------------------------------------------------------------------

def _facilities(rows):
    """rows: (id, tier, specialty, commune, beds); every site at the origin (the travel times
    come from a hand-written table, not from the coordinates)."""
    df = pd.DataFrame(rows, columns=["facility_id", "tier", "specialty", "commune_code", "beds"])
    return gpd.GeoDataFrame({**{c: df[c] for c in df}, "name": "F " + df["facility_id"],
                             "legacy_commune_code": "", "doctors": np.nan, "nurses": np.nan,
                             "status": "active"},
                            geometry=shapely.points(np.zeros((len(df), 2))), crs=CRS)


def _facility_table(ids, times: dict[tuple[str, str], float]):
    """Symmetric facility x facility minutes (0 on the diagonal, ``inf`` if not given)."""
    pos = {f: i for i, f in enumerate(ids)}
    D = np.full((len(ids), len(ids)), np.inf)
    np.fill_diagonal(D, 0.0)
    for (a, b), t in times.items():
        D[pos[a], pos[b]] = D[pos[b], pos[a]] = t
    return table(D, cutoff=np.inf, dest_ids=np.array(ids), origin_ids=np.array(ids))


def test_station_refers_to_a_regional_hospital_exactly_at_the_cutoff():
    fac = _facilities([("S1", "station", "", "A", np.nan), ("S2", "station", "", "A", np.nan),
                       ("R", "regional", "general", "A", np.nan),
                       ("P", "provincial", "general", "A", np.nan)])
    fc = _facility_table(list(fac["facility_id"]),
                         {("S1", "R"): T, ("S2", "R"): JUST, ("R", "P"): T,
                          ("S1", "S2"): 1.0, ("S1", "P"): 60.0, ("S2", "P"): 60.0})
    G = N.build_graph(fac, facility_costs=fc, cutoff_min=T, strict=False)
    assert list(G.successors("S1")) == ["R"] and G.edges["S1", "R"]["time_min"] == T
    assert list(G.successors("S2")) == []
    assert any("station S2" in p and "beyond the cut-off of 30 min" in p
               for p in G.graph["problems"])
    assert G.graph["warnings"] == []  # R -> P exactly at the cut-off: no warning
    with pytest.raises(NetworkError, match="S2"):
        N.build_graph(fac, facility_costs=fc, cutoff_min=T)
    # a regional hospital whose provincial general hospital is beyond the cut-off keeps it as
    # its parent, with a warning
    fc2 = _facility_table(list(fac["facility_id"]),
                          {("S1", "R"): 1.0, ("S2", "R"): 1.0, ("R", "P"): JUST,
                           ("S1", "S2"): 1.0, ("S1", "P"): 60.0, ("S2", "P"): 60.0})
    G2 = N.build_graph(fac, facility_costs=fc2, cutoff_min=T)
    assert list(G2.successors("R")) == ["P"]
    assert len(G2.graph["warnings"]) == 1 and "beyond the cut-off" in G2.graph["warnings"][0]


def test_branch_without_a_station_in_its_commune_uses_the_cutoff_inclusively():
    fac = _facilities([("S1", "station", "", "A", np.nan), ("B1", "branch", "", "X", np.nan),
                       ("B2", "branch", "", "Y", np.nan),
                       ("R", "regional", "general", "A", np.nan)])
    fc = _facility_table(list(fac["facility_id"]),
                         {("B1", "S1"): T, ("B2", "S1"): JUST, ("S1", "R"): 1.0,
                          ("B1", "R"): 5.0, ("B2", "R"): 5.0, ("B1", "B2"): 1.0})
    G = N.build_graph(fac, facility_costs=fc, cutoff_min=T, strict=False)
    assert list(G.successors("B1")) == ["S1"]
    assert list(G.successors("B2")) == []
    assert any("branch B2" in p for p in G.graph["problems"])
    assert any("branch point B1" in w for w in G.graph["warnings"])


def test_chain_statistics_beyond_is_exclusive_of_the_threshold():
    chains = pd.DataFrame({"first_contact_time_min": [T, JUST, np.nan, 1.0],
                           "regional_chain_time_min": [60.0, above(60.0), np.nan, 60.0],
                           "chain_time_min": [60.0, above(60.0), np.nan, 60.0]})
    pop = np.array([1.0, 10.0, 100.0, 1000.0])
    st = N.chain_statistics(chains, pop, thresholds_min={"station": [T],
                                                         "regional": [60.0]})
    assert st["station"]["beyond"] == {"30": 110.0}
    assert st["regional"]["beyond"] == {"60": 110.0}
    assert st["station"]["population_without"] == 100.0


def _loss_case():
    """Stations S1, S2; regional R1 (10 and 15 min from them) and R2 (20 and 25); provincial
    general hospital P 5 min from both. Regional threshold 30 (the middle of 15/30/45)."""
    fac = _facilities([("S1", "station", "", "A", np.nan), ("S2", "station", "", "A", np.nan),
                       ("R1", "regional", "general", "A", np.nan),
                       ("R2", "regional", "general", "A", np.nan),
                       ("P", "provincial", "general", "A", np.nan)])
    fc = _facility_table(list(fac["facility_id"]),
                         {("S1", "R1"): 10.0, ("S1", "R2"): 20.0, ("S2", "R1"): 15.0,
                          ("S2", "R2"): 25.0, ("R1", "P"): 5.0, ("R2", "P"): 5.0,
                          ("S1", "S2"): 3.0, ("S1", "P"): 99.0, ("S2", "P"): 99.0,
                          ("R1", "R2"): 9.0})
    # first contact: u0 S1 at 20 (chain 30 -> 40 without R1), u1 S2 at 15 (30 -> 40),
    # u2 S1 at 10 (20 -> 30: still within), u3 S1 at 20+ (30+ -> 40: was not within)
    ids = list(fac["facility_id"])
    D = np.full((4, len(ids)), np.inf)
    D[0, 0], D[1, 1], D[2, 0], D[3, 0] = 20.0, 15.0, 10.0, above(20.0)
    costs = table(D, cutoff=90.0, dest_ids=np.array(ids))
    demand = pd.DataFrame({"population": [1.0, 10.0, 100.0, 1000.0],
                           "commune_code": ["A"] * 4})
    return fac, fc, costs, demand


def test_loss_impact_moves_only_people_within_the_threshold_before_and_beyond_after():
    fac, fc, costs, demand = _loss_case()
    loss = N.loss_impact(fac, facility_costs=fc, cutoff_min=90.0, demand=demand, costs=costs,
                         thresholds_min={"regional": [15.0, T, 45.0]}, candidates=["R1"])
    r = loss.iloc[0]
    assert r["moved_beyond_regional_30min"] == 11.0        # u0 and u1, exactly 30 before
    assert r["population_moved_beyond"] == 11.0
    assert r["population_rerouted"] == 1111.0
    assert r["added_person_min"] == pytest.approx(1111.0 * 10)


def test_satellite_planning_within_is_inclusive_and_at_most_the_cutoff():
    # offering O reaches nobody within 30; candidate C reaches u0 at exactly 30, u1 just beyond
    costs = table([[40.0, T], [40.0, JUST]], cutoff=T + 10, dest_ids=["O", "C"])
    pop = np.array([1.0, 10.0])
    ch = N.plan_satellites(costs, pop, offering=["O"], candidates=["C"], k=1, within_min=T)
    assert ch.covered_before == 0.0 and ch.covered_after == 1.0 and ch.gains == [1.0]
    ch = N.plan_satellites(costs, pop, offering=["O"], candidates=["C"], k=1,
                           within_min=T + 10)
    assert ch.covered_before == 11.0
    with pytest.raises(GisError, match="exceeds the cost table's cut-off"):
        N.plan_satellites(costs, pop, offering=["O"], candidates=["C"], k=1,
                          within_min=above(T + 10))


def test_hub_meets_the_beds_target_exactly_at_it():
    fac = _facilities([("S1", "station", "", "A", np.nan),
                       ("R", "regional", "general", "A", 45.0)])
    fc = _facility_table(["S1", "R"], {("S1", "R"): 1.0})
    G = N.build_graph(fac, facility_costs=fc, cutoff_min=T)
    chains = pd.DataFrame({"regional_id": ["R"], "provincial_id": [""], "central_id": [""]})
    hubs = N.hub_load(G, chains, np.array([10_000.0]), beds_per_10k=45.0).set_index(
        "facility_id")
    assert hubs.loc["R", "beds_per_10k"] == 45.0
    assert str(hubs.loc["R", "meets_beds_target"]) == "True" and hubs.loc["R", "beds_needed"] == 0.0
    low = N.hub_load(G, chains, np.array([10_001.0]), beds_per_10k=45.0).set_index(
        "facility_id")
    assert str(low.loc["R", "meets_beds_target"]) == "False"
