"""Network: the referral and satellite graph on a hand-checkable line of facilities, satellite
selection against brute force, validation errors naming ids, GraphML, and real Ha Tinh."""

from __future__ import annotations

import itertools
import json
import math
from pathlib import Path

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import pytest
import shapely

from gis.analyses import network as N
from gis.errors import GisError, NetworkError, OutputError
from gis.inputs import readers as R
from gis.inputs.network_tables import check_referral_table, check_satellite_links
from gis.inputs.plans import Plan
from gis.model.costs import CostTable, straight_line_costs
from gis.model.travel import road_model
from gis.outputs.graphml import write_graphml

ROOT = Path(__file__).resolve().parents[1]
CRS = "EPSG:32648"
# 60 km/h and no detour: 1 km = 1 minute. Facilities on a line (x in km, y = 0).
MODEL = {"speed_kmh": 60.0, "detour_factor": 1.0}
SITES = [  # id, tier, specialty, x_km, commune, beds, status
    ("S1", "station", "primary care", 0, "A", np.nan, "active"),
    ("S2", "station", "primary care", 10, "A", np.nan, "active"),
    ("S3", "station", "primary care", 30, "B", np.nan, "active"),
    ("S4", "station", "primary care", 60, "B", np.nan, "active"),
    ("R1", "regional", "general", 5, "A", 3.0, "active"),
    ("R2", "regional", "general", 40, "B", np.nan, "active"),
    ("R3", "regional", "general", 55, "B", np.nan, "ended"),
    ("P", "provincial", "general", 20, "A", 3.0, "active"),
    ("PE", "provincial", "eye", 20, "A", np.nan, "active"),
]
THRESHOLDS = {"station": [5], "regional": [15], "provincial": [35], "chain": [35]}


def _facilities(sites=SITES) -> gpd.GeoDataFrame:
    df = pd.DataFrame(sites, columns=["facility_id", "tier", "specialty", "x", "commune_code",
                                      "beds", "status"])
    return gpd.GeoDataFrame({
        "facility_id": df["facility_id"], "name": "Facility " + df["facility_id"],
        "tier": df["tier"], "specialty": df["specialty"], "commune_code": df["commune_code"],
        "legacy_commune_code": "", "beds": df["beds"], "doctors": np.nan, "nurses": np.nan,
        "status": df["status"]},
        geometry=shapely.points(df["x"].to_numpy(float) * 1000, 0.0), crs=CRS)


@pytest.fixture()
def fac():
    return _facilities()


@pytest.fixture()
def demand():
    # units at the four stations, and one 2 km beyond S4
    x = np.array([0, 10, 30, 60, 62], float) * 1000
    return pd.DataFrame({"unit_id": np.arange(5), "population": [100.0, 200, 300, 400, 50],
                         "commune_code": ["A", "A", "B", "B", "B"], "x": x, "y": 0.0})


def _costs(fac, demand, cutoff=100.0):
    active = fac[fac["status"] == "active"]
    return straight_line_costs(demand[["x", "y"]].to_numpy(),
                               active.geometry.get_coordinates().to_numpy(), cutoff_min=cutoff,
                               origin_ids=demand["unit_id"].to_numpy(),
                               dest_ids=active["facility_id"].to_numpy(), **MODEL)


def _graph(fac, **kw):
    kw.setdefault("cutoff_min", 100.0)
    fcosts = N.facility_costs(fac, **MODEL, plan=kw.get("plan"))
    return N.build_graph(fac, facility_costs=fcosts, **kw)


def test_referral_rule_on_a_line(fac):
    G = _graph(fac)
    assert G.graph["crs"] == fac.crs
    assert set(G) == {"S1", "S2", "S3", "S4", "R1", "R2", "P", "PE"}  # ended R3 is no node
    parents = {u: v for u, v, d in G.edges(data=True) if d["kind"] == "referral"}
    assert parents == {"S1": "R1", "S2": "R1", "S3": "R2", "S4": "R2", "R1": "P", "R2": "P"}
    assert G.edges["S4", "R2"]["time_min"] == pytest.approx(20.0)
    assert G.edges["S4", "R2"]["dist_m"] == pytest.approx(20_000.0)
    nc = N.node_chains(G)
    assert nc.loc["S3", "path"] == "S3 -> R2 -> P"
    assert nc.loc["S3", ["regional_time_min", "provincial_time_min", "top_time_min"]].tolist() \
        == pytest.approx([10.0, 30.0, 30.0])
    assert nc.loc["PE", "parent_id"] == "" and nc.loc["P", "top_id"] == "P"
    assert G.graph["problems"] == [] and G.graph["warnings"] == []


def test_chains_statistics_and_hub_load_by_hand(fac, demand):
    fac.loc[fac["facility_id"] == "R1", "doctors"] = 7.0
    G = _graph(fac)
    ch = N.referral_chains(G, demand=demand, costs=_costs(fac, demand))
    assert ch["first_contact_id"].tolist() == ["S1", "S2", "S3", "S4", "S4"]
    assert ch["regional_chain_time_min"].tolist() == pytest.approx([5, 5, 10, 20, 22])
    assert ch["provincial_chain_time_min"].tolist() == pytest.approx([20, 20, 30, 40, 42])
    assert ch["chain_time_min"].tolist() == pytest.approx([20, 20, 30, 40, 42])
    pop = demand["population"].to_numpy()
    st = N.chain_statistics(ch, pop, thresholds_min=THRESHOLDS)
    assert st["station"]["beyond"] == {"5": 0.0}
    assert st["regional"]["beyond"] == {"15": 450.0}
    assert st["provincial"]["beyond"] == {"35": 450.0}
    assert st["regional"]["mean_time_min"] == pytest.approx(
        (100 * 5 + 200 * 5 + 300 * 10 + 400 * 20 + 50 * 22) / 1050)
    assert st["regional"]["max_time_min"] == pytest.approx(22)
    hubs = N.hub_load(G, ch, pop, beds_per_10k=45).set_index("facility_id")
    assert hubs.loc[["R1", "R2", "P", "PE"], "load"].tolist() == [300, 750, 1050, 0]
    assert hubs.loc[["R1", "R2", "P"], "stations"].tolist() == [2, 2, 4]
    assert hubs.loc["R1", "beds_per_10k"] == pytest.approx(100.0)
    assert hubs.loc["R1", "meets_beds_target"] is True
    assert hubs.loc["P", "beds_per_10k"] == pytest.approx(3 / 1050 * 1e4)
    assert hubs.loc["P", "beds_needed"] == pytest.approx(45 * 1050 / 1e4 - 3)
    assert hubs.loc["P", "meets_beds_target"] is False
    # unknown beds stay unknown, never 0
    assert np.isnan(hubs.loc["R2", "beds_per_10k"]) and hubs.loc["R2", "meets_beds_target"] is None
    assert np.isnan(hubs.loc["R2", "beds_needed"])
    # columns, order (regional first, then by load), names, coordinates, target, doctors;
    # betweenness in the undirected referral tree of 8 nodes (PE alone): R1, P and R2 each
    # lie on 9 of the 21 paths between two other nodes
    raw = N.hub_load(G, ch, pop, beds_per_10k=45)
    assert list(raw.columns) == [
        "facility_id", "name", "tier", "load", "stations", "branches", "direct_referrals",
        "beds", "beds_per_10k", "beds_target_per_10k", "beds_needed", "meets_beds_target",
        "doctors", "betweenness", "x", "y"]
    assert raw["facility_id"].tolist() == ["R2", "R1", "P", "PE"]
    assert list(raw.index) == [0, 1, 2, 3]
    assert hubs["name"].tolist() == ["Facility R2", "Facility R1", "Facility P",
                                     "Facility PE"]
    assert hubs["x"].tolist() == [40_000.0, 5_000.0, 20_000.0, 20_000.0]
    assert (hubs["y"] == 0.0).all() and (hubs["beds_target_per_10k"] == 45).all()
    assert hubs.loc["R1", "doctors"] == 7.0 and np.isnan(hubs.loc["R2", "doctors"])
    assert hubs["betweenness"].tolist() == pytest.approx([9 / 21, 9 / 21, 9 / 21, 0.0])
    assert hubs["direct_referrals"].tolist() == [2, 2, 2, 0]


def test_loss_impact_ranking_by_hand(fac, demand):
    loss = N.loss_impact(fac, facility_costs=N.facility_costs(fac, **MODEL), cutoff_min=100,
                         demand=demand, costs=_costs(fac, demand), thresholds_min=THRESHOLDS)
    r = loss.set_index("facility_id")
    # P: nobody keeps a provincial level: the 600 within 35 min before move beyond it
    # R3 (ended): with it active S4 refers to it at 5 min; its closure moved 450 beyond 15 min
    # R1, R2: 300 each (S1+S2; S3); R2 adds more person-minutes (S4's people too)
    assert loss["facility_id"].tolist() == ["P", "R3", "R2", "R1", "PE"]
    assert r["population_moved_beyond"].tolist() == [600, 450, 300, 300, 0]
    assert r.loc["R3", "scenario"] == "closure (compared with it active)"
    assert r.loc["R3", "stations_reassigned"] == 1
    assert r.loc["R3", "moved_beyond_regional_15min"] == 450
    assert r.loc["R3", "added_person_min"] == pytest.approx(450 * 15)
    assert r.loc["R1", "added_person_min"] == pytest.approx(100 * 35 + 200 * 25)
    assert r.loc["R1", "moved_beyond_provincial_35min"] == 300
    assert r.loc["R2", "added_person_min"] == pytest.approx(300 * 15 + 450 * 35)
    assert r.loc["R2", "stations_reassigned"] == 2
    assert r.loc["P", "population_losing_level"] == 1050
    assert r.loc["PE", "population_rerouted"] == 0


def test_branches_refer_to_their_main_station(fac, demand):
    sites = [*SITES, ("B1", "branch", "primary care", 12, "A", np.nan, "active")]
    fac = _facilities(sites)
    G = _graph(fac)
    assert list(G.successors("B1")) == ["S2"]
    assert G.edges["B1", "S2"]["source"] == "main station of its commune"
    demand = pd.concat([demand, pd.DataFrame({"unit_id": [5], "population": [10.0],
                                              "commune_code": ["A"], "x": [12_500.0],
                                              "y": [0.0]})], ignore_index=True)
    ch = N.referral_chains(G, demand=demand, costs=_costs(fac, demand))
    # first contact B1 at 0.5 min, then B1 -> S2 (2) -> R1 (5) -> P (15)
    assert ch.loc[5, "first_contact_id"] == "B1" and ch.loc[5, "station_id"] == "S2"
    assert ch.loc[5, "regional_chain_time_min"] == pytest.approx(7.5)
    assert ch.loc[5, "chain_time_min"] == pytest.approx(22.5)


def _plan() -> Plan:
    actions = pd.DataFrame({
        "facility_id": ["S1", "S2", "S3", "S4", "NEW"],
        "action": ["keep", "branch", "keep", "close", "new"],
        "target_commune_code": ["A", "A", "B", "B", "B"],
        "role": ["", "", "", "", "branch"], "rule": "",
        "x": [np.nan] * 4 + [70_000.0], "y": [np.nan] * 4 + [0.0]})
    return Plan(name="test plan", actions=actions)


def test_network_after_a_plan(fac, demand):
    G = _graph(fac, plan=_plan())
    parents = {u: v for u, v, d in G.edges(data=True) if d["kind"] == "referral"}
    assert "S4" not in G
    assert parents["S2"] == "S1" and parents["NEW"] == "S3"
    assert G.nodes["S2"]["tier"] == "branch" and G.nodes["S2"]["role"] == "branch point"
    assert G.nodes["NEW"]["status"] == "planned"
    assert G.edges["S2", "S1"]["source"] == G.edges["NEW", "S3"]["source"] == \
        "plan: main station of its commune"
    assert G.edges["NEW", "S3"]["time_min"] == pytest.approx(40.0)
    res = N.run_network(fac, _communes(), demand=demand, costs=_costs(fac, demand),
                        thresholds_min=THRESHOLDS, beds_per_10k=45, cutoff_min=100,
                        plan=_plan(), **MODEL)
    after = res.chains_plan
    # unit at 10 km: branch S2 (0) -> S1 (10) -> R1 (15) -> P (30)
    assert after.loc[1, "regional_chain_time_min"] == pytest.approx(15)
    # units at 60 and 62 km: the new branch at 70 km (10, 8 min) -> S3 (40) -> R2 (10) -> P
    assert after.loc[3, "first_contact_id"] == "NEW"
    assert after.loc[3, "regional_chain_time_min"] == pytest.approx(60)
    assert after.loc[4, "chain_time_min"] == pytest.approx(8 + 40 + 10 + 20)
    cmp_ = res.summary["plan"]
    assert cmp_["consistency_problems"] == []
    per = {r["facility_id"]: r for r in cmp_["per_regional"]}
    assert per["R1"]["stations_before"] == 2 and per["R1"]["main_stations_after"] == 1
    assert per["R1"]["branches_after"] == 1
    assert per["R2"]["main_stations_after"] == 1 and per["R2"]["branches_after"] == 1
    reg = cmp_["chains"]["regional"]
    assert reg["beyond"]["15"] == {"before": 450.0, "after": 450.0, "change": 0.0}  # 15 is in
    assert reg["mean_time_min"]["before"] == pytest.approx(13_600 / 1050)
    assert reg["mean_time_min"]["after"] == pytest.approx(
        (100 * 5 + 200 * 15 + 300 * 10 + 400 * 60 + 50 * 58) / 1050)
    assert cmp_["population_changing_regional_hospital"] == 0  # S4's people: R2 via NEW, S3
    assert "referral_edges_plan" in res.layers and "hubs_plan" in res.layers


def _communes() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame({"commune_code": ["A", "B"], "commune_name": ["Commune A", "B"]},
                            geometry=[shapely.box(-5000, -5000, 25_000, 5000),
                                      shapely.box(25_000, -5000, 80_000, 5000)], crs=CRS)


def test_run_network_layers_summary_and_graphml(fac, demand, tmp_path):
    links = pd.DataFrame({"core_id": ["P", "P", "R2"], "satellite_id": ["R1", "R1", "R1"],
                          "specialty": ["cardiology", "obstetrics", "surgery"],
                          "since": ["2015", "2016-03-01", ""]})
    res = N.run_network(fac, _communes(), demand=demand, costs=_costs(fac, demand),
                        thresholds_min=THRESHOLDS, beds_per_10k=45, cutoff_min=100,
                        satellite_links=links,
                        satellite_requests=[N.SatelliteRequest("cardiology", k=1,
                                                               within_min=6)], **MODEL)
    lay = res.layers
    edges = lay["referral_edges"]
    assert len(edges) == 6 and set(edges["kind"]) == {"referral"}
    assert {"from_id", "to_id", "time_min", "kind"} <= set(edges.columns)
    assert edges.geometry.iloc[0].geom_type == "LineString"
    sat = lay["satellite_edges"].set_index(["from_id", "to_id"])
    assert set(sat["kind"]) == {"satellite"} and len(sat) == 2  # two specialties share an edge
    assert sat.loc[("P", "R1"), "specialty"] == "cardiology; obstetrics"
    assert sat.loc[("P", "R1"), "since"] == "2015"
    assert sat.loc[("P", "R1"), "time_min"] == pytest.approx(15)
    assert set(sat["source"]) == {"satellite links"}
    hubs = lay["hubs"].set_index("facility_id")
    assert {"name", "load"} <= set(hubs.columns) and hubs.loc["P", "load"] == 1050
    # the loss ranking of test_loss_impact_ranking_by_hand (P, R3, R2, R1, PE) on the hubs
    assert lay["hubs"].crs == CRS
    assert hubs.loc[["P", "R2", "R1", "PE"], "loss_rank"].tolist() == [1, 3, 4, 5]
    assert hubs.loc[["P", "R2", "R1", "PE"], "loss_moved_beyond"].tolist() == [600, 300, 300,
                                                                               0]
    chains = lay["referral_chains"].set_index("commune_code")
    # commune A: S2 serves most of its people (200 of 300)
    assert chains.loc["A", "path"] == "S2 -> R1 -> P" and chains.loc["B", "population"] == 750
    assert chains.loc["B", "beyond_regional_15min"] == 450
    s = res.summary
    json.dumps(s, allow_nan=False)
    assert s["nodes"]["by_tier"] == {"station": 4, "regional": 2, "provincial": 2}
    assert s["edges"] == {"referral": 6, "satellite": 2}
    assert s["satellites"]["satellites_per_core"] == {"P": 1, "R2": 1}
    assert {r["facility_id"]: r["stations"] for r in s["stations_per_regional"]} == {"R1": 2,
                                                                                      "R2": 2}
    assert s["loss_impact"]["ranking"][0]["facility_id"] == "P"
    # cardiology is offered at P and R1 (link); within 6 min: units at 0 (5 min to R1) and
    # 10 (5 min); a satellite at R2 adds the unit at 30 km (10 min: no), S... none within 6
    plan_ = s["satellite_planning"][0]
    assert plan_["covered_before"] == 300 and plan_["exact"] is True
    assert plan_["method"] == "enumeration" and plan_["combinations"] == 2  # R2 or PE
    assert [(c.method, c.covered_before) for c in res.satellite_choices] == [
        ("enumeration", 300.0)]
    out = write_graphml(res.graph, tmp_path / "network.graphml")
    H = nx.read_graphml(out)
    assert H.number_of_nodes() == 8 and H.number_of_edges() == 8
    assert H.graph["crs"] == "EPSG:32648"
    assert "beds" not in H.nodes["R2"] and H.nodes["R1"]["beds"] == 3.0  # unknown: no value
    assert H.edges["S1", "R1"]["kind"] == "referral"
    with pytest.raises(OutputError, match="exists"):
        write_graphml(res.graph, out)
    assert not list(tmp_path.glob(".*"))  # no temporary file left behind


# --- validation -----------------------------------------------------------------------------

def test_referral_cycle_is_named(fac):
    table = pd.DataFrame({"from_id": ["R1", "R2"], "to_id": ["R2", "R1"]})
    with pytest.raises(NetworkError, match=r"referral cycle: R1 -> R2 -> R1") as info:
        _graph(fac, referrals=table)
    assert str(info.value).startswith("referral network: 1 problem found\n  - referral cycle")
    with pytest.raises(NetworkError, match=r"^after the plan: 1 problem found\n"):
        _graph(fac, referrals=table, name="after the plan")


def test_referral_table_overrides_and_warns(fac):
    table = pd.DataFrame({"from_id": ["S2", "R2"], "to_id": ["R2", "PE"]})
    G = _graph(fac, referrals=table)
    assert list(G.successors("S2")) == ["R2"] and list(G.successors("R2")) == ["PE"]
    assert G.edges["S2", "R2"]["source"] == "referral table"
    assert G.edges["S2", "R2"]["time_min"] == pytest.approx(30)


def test_unknown_facilities_in_tables_are_named(fac):
    links = pd.DataFrame({"core_id": ["XX-CENTRAL", "P"], "satellite_id": ["R1", "R9"]})
    with pytest.raises(NetworkError, match=r"unknown facility XX-CENTRAL") as info:
        _graph(fac, satellite_links=links)
    assert "unknown facility R9" in str(info.value)
    table = pd.DataFrame({"from_id": ["S1"], "to_id": ["NOPE"]})
    with pytest.raises(NetworkError, match=r"field 'to_id', row 2 \(from_id S1\): unknown "
                                           r"facility NOPE"):
        _graph(fac, referrals=table)


def test_station_without_regional_in_reach_is_named(fac):
    with pytest.raises(NetworkError, match=r"station S4 .*no regional hospital in its referral "
                                           r"chain \(the nearest regional hospital R2 is 20 min "
                                           r"away, beyond the cut-off of 12 min\)") as info:
        _graph(fac, cutoff_min=12)
    assert "S1" not in str(info.value)  # S1..S3 are within 12 min
    G = _graph(fac, cutoff_min=12, strict=False)
    assert any("S4" in p for p in G.graph["problems"])
    no_regional = fac[fac["tier"] != "regional"]
    assert "no active regional hospital" in N.skip_reason(no_regional)
    assert N.skip_reason(fac) is None
    with pytest.raises(NetworkError, match="no active regional hospital in the facilities"):
        _graph(no_regional)


def test_bad_table_rows_are_named():
    table = pd.DataFrame({"from_id": ["S1", "S2", "S2", "", "S3"],
                          "to_id": ["S1", "R1", "R2", "R1", None]})
    with pytest.raises(NetworkError) as info:
        check_referral_table(table, source="refs.csv")
    text = str(info.value)
    assert "refs.csv: 3 problems found" in text
    assert "rows 5, 6" in text and "(from_id , S3)" in text  # empty ids
    assert "row 2 (from_id S1): a facility refers to itself" in text
    assert "rows 3, 4 (from_id S2, S2): more than one referral parent" in text
    links = pd.DataFrame({"core_id": ["P", "P", "R1"], "satellite_id": ["R1", "R1", "R1"],
                          "since": ["2015", "last year", ""]})
    with pytest.raises(NetworkError) as info:
        check_satellite_links(links)
    text = str(info.value)
    assert "rows 2, 3 (satellite_id R1, R1): repeated link" in text
    assert "row 4 (core_id R1): a hospital linked to itself" in text
    assert "row 3 (satellite_id R1): not a year or date ('last year')" in text
    with pytest.raises(NetworkError, match="field 'to_id': missing"):
        check_referral_table(pd.DataFrame({"from_id": ["S1"]}))


def test_validate_graph_two_parents_and_unknown_node():
    G = nx.DiGraph()
    G.add_node("S", tier="station", name="s")
    G.add_node("R", tier="regional", name="r")
    G.add_node("Q", tier="regional", name="q")
    G.add_edge("S", "R", kind="referral", time_min=1.0)
    G.add_edge("S", "Q", kind="referral", time_min=1.0)
    G.add_edge("GHOST", "R", kind="satellite", time_min=1.0)
    problems = N.validate_graph(G)
    assert any("facility S has 2 referral parents (Q, R)" in p for p in problems)
    assert any("unknown facilities: GHOST" in p for p in problems)


def test_readers_read_files(tmp_path):
    p = tmp_path / "refs.csv"
    p.write_text("from_id,to_id,note\nS2,R2,by agreement\n", encoding="utf-8")
    refs = R.read_referrals(p)
    assert refs[["from_id", "to_id", "note"]].values.tolist() == [["S2", "R2", "by agreement"]]
    q = tmp_path / "links.csv"
    q.write_text("core_id,satellite_id,specialty,since\nP,R1,cardiology,2015\nP,R1,x,2015/1\n",
                 encoding="utf-8")
    with pytest.raises(NetworkError, match=r"links.csv: 1 problem found\n.*row 3 "
                                           r"\(satellite_id R1\): not a year or date"):
        R.read_satellite_links(q)
    q.write_text("core_id,satellite_id,specialty,since\nP,R1,cardiology,2015\n", encoding="utf-8")
    assert R.read_satellite_links(q)["since"].tolist() == ["2015"]


# --- satellite planning ----------------------------------------------------------------------

def _brute_force(costs, pop, offering, candidates, k, within):
    t = costs.to_frame()
    near = t[t["time_min"] <= within]
    best = 0.0
    for combo in itertools.combinations(candidates, min(k, len(candidates))):
        ok = set(near.loc[near["dest_id"].isin([*offering, *combo]), "origin_id"])
        best = max(best, float(sum(pop[i] for i in ok)))
    return best


@pytest.mark.parametrize("seed", range(8))
def test_satellite_selection_equals_brute_force(seed):
    rng = np.random.default_rng(seed)
    n_units, n_hosp = 60, 9
    uxy = rng.uniform(0, 50_000, (n_units, 2))
    hxy = rng.uniform(0, 50_000, (n_hosp, 2))
    ids = np.array([f"H{i}" for i in range(n_hosp)])
    costs = straight_line_costs(uxy, hxy, cutoff_min=60, dest_ids=ids, **MODEL)
    pop = rng.integers(0, 100, n_units).astype(float)
    offering, candidates = ["H0"], [f"H{i}" for i in range(1, n_hosp)]
    for k in (1, 2, 3):
        opt = _brute_force(costs, pop, offering, candidates, k, 12.0)
        for method in ("enumeration", "milp"):
            ch = N.plan_satellites(costs, pop, offering=offering, candidates=candidates, k=k,
                                   within_min=12.0, method=method)
            assert ch.covered_after == pytest.approx(opt)
            assert ch.upper_bound == pytest.approx(opt) and ch.exact
            assert ch.covered_before + sum(ch.gains) == pytest.approx(opt)
        gr = N.plan_satellites(costs, pop, offering=offering, candidates=candidates, k=k,
                               within_min=12.0, method="greedy")
        assert gr.covered_after <= opt + 1e-9 <= gr.upper_bound + 2e-9
        assert gr.covered_after - gr.covered_before >= (1 - 1 / math.e) * (
            opt - gr.covered_before) - 1e-9
        assert not gr.exact and len(gr.chosen) == k


def test_satellite_selection_by_hand():
    # units at 0, 10, 20, 30 km (pop 1, 2, 4, 8); hospital A offers the specialty at 0 km
    uxy = np.array([[0, 0], [10_000, 0], [20_000, 0], [30_000, 0]], float)
    hxy = np.array([[0, 0], [10_000, 0], [25_000, 0]], float)
    costs = straight_line_costs(uxy, hxy, cutoff_min=60, dest_ids=np.array(["A", "B", "C"]),
                                **MODEL)
    pop = np.array([1.0, 2, 4, 8])
    ch = N.plan_satellites(costs, pop, offering=["A"], candidates=["B", "C"], k=1, within_min=5)
    assert ch.chosen == ["C"] and ch.gains == [12.0]  # C covers 20 and 30 km
    assert ch.covered_before == 1 and ch.covered_after == 13
    two = N.plan_satellites(costs, pop, offering=["A"], candidates=["B", "C"], k=2,
                            within_min=5)
    assert two.chosen == ["C", "B"] and two.covered_after == 15
    # reported in order of gain, whatever the candidates' order
    rev = N.plan_satellites(costs, pop, offering=["A"], candidates=["C", "B"], k=2,
                            within_min=5)
    assert rev.chosen == ["C", "B"] and rev.gains == [12.0, 2.0]
    # greedy with one satellite is exact: its bound is its value (people below one person
    # per unit: the bound takes the gains as they are)
    small = pop / 100
    one = N.plan_satellites(costs, small, offering=["A"], candidates=["B", "C"], k=1,
                            within_min=5, method="greedy")
    assert one.chosen == ["C"] and one.covered_after == pytest.approx(0.13)
    assert one.upper_bound == pytest.approx(0.13) and not one.exact
    with pytest.raises(Exception, match="exceeds the cost table's cut-off"):
        N.plan_satellites(costs, pop, offering=["A"], candidates=["B"], k=1, within_min=90)


def test_satellite_selection_edge_cases(monkeypatch):
    """No satellite asked (k = 0): nothing chosen, today's coverage; an unknown method named;
    the solver's failure reported; equal best subsets in different blocks of the enumeration:
    the first kept."""
    from gis.analyses.network import satellites as S
    from gis.errors import SolveError

    uxy = np.array([[0, 0], [10_000, 0], [20_000, 0]], float)
    hxy = np.array([[0, 0], [10_000, 0], [20_000, 0]], float)
    costs = straight_line_costs(uxy, hxy, cutoff_min=60, dest_ids=np.array(["A", "B", "C"]),
                                **MODEL)
    pop = np.array([1.0, 2.0, 4.0])
    none = N.plan_satellites(costs, pop, offering=["A"], candidates=["B", "C"], k=0,
                             within_min=5)
    assert none == S.SatelliteChoice([], [], 1.0, 1.0, 1.0, "enumeration", 1)
    with pytest.raises(GisError, match="method 'best'; use auto, enumeration, milp or greedy"):
        N.plan_satellites(costs, pop, offering=["A"], candidates=["B"], k=1, within_min=5,
                          method="best")

    class Failed:
        success, message = False, "infeasible (test)"

    monkeypatch.setattr("scipy.optimize.milp", lambda *a, **kw: Failed())
    with pytest.raises(SolveError, match=r"the MILP solver failed \(infeasible \(test\)\)"):
        N.plan_satellites(costs, pop, offering=["A"], candidates=["B", "C"], k=1,
                          within_min=5, method="milp")
    # k x patterns above 2,000,000: one subset per block; B and C tie, B (first) is kept
    A = np.zeros((3, 2_000_001), bool)
    A[1, 0] = A[2, 1] = True
    w = np.zeros(2_000_001)
    w[:2] = 5.0
    assert S._best_subset_enum(A, w, 1) == ((1,), 5.0)


def test_auto_enumerates_up_to_200000_subsets():
    """method "auto": enumeration for at most 200,000 subsets (the default limit), greedy
    above; one demand unit, reached by the first candidate only."""
    n = 200_001
    ids = np.array([f"c{i}" for i in range(n)])
    costs = CostTable(origin=np.zeros(1, np.int32), dest=np.zeros(1, np.int32),
                      dist_m=np.zeros(1, np.float32), time_min=np.ones(1), origin_ids=np.arange(1),
                      dest_ids=ids, cutoff_min=60.0, mode="test")
    pop = np.array([7.0])
    more = N.plan_satellites(costs, pop, offering=[], candidates=ids, k=1, within_min=5)
    assert (more.method, more.combinations, more.chosen) == ("greedy", n, ["c0"])
    most = N.plan_satellites(costs, pop, offering=[], candidates=ids[:-1], k=1, within_min=5)
    assert (most.method, most.combinations, most.chosen) == ("enumeration", n - 1, ["c0"])
    assert most.covered_after == 7.0


@pytest.mark.parametrize("c", [8, 63, 64, 65, 70])
def test_unique_patterns_equal_numpy(c):
    """Rows packed into integers (up to 64 columns) or numpy's unique (more): the patterns
    in numpy's order and each row's pattern."""
    from gis.analyses.network.satellites import _unique_patterns

    rng = np.random.default_rng(c)
    inc = rng.random((300, c)) < 0.5
    inc[100:200] = inc[:100]   # repeated rows
    pats, inv = _unique_patterns(inc)
    want, want_inv = np.unique(inc, axis=0, return_inverse=True)
    assert np.array_equal(pats, want) and np.array_equal(inv.ravel(), want_inv.ravel())


# --- real data: Ha Tinh --------------------------------------------------------------------

@pytest.fixture(scope="module")
def ha_tinh(communes_2025_path):
    from gis.analyses.plans import official_plan
    from gis.inputs.config import load_config
    from gis.pipeline import prepare, run_access_stage

    cfg = load_config(ROOT / "config.toml")
    prep = prepare(cfg)
    acc = run_access_stage(prep)
    lay = prep.layers
    plan = official_plan(lay.facilities, lay.communes, prep.registry, branches=True)
    t = cfg.travel
    res = N.run_network(lay.facilities, lay.communes, demand=acc.demand, costs=acc.costs,
                        speed_kmh=t.speed_kmh[t.mode], detour_factor=t.detour_factor,
                        cutoff_min=t.cutoff_min, thresholds_min=cfg.access.thresholds_min,
                        beds_per_10k=cfg.targets.beds_per_10k, plan=plan)
    return lay, res, acc.demand


def test_real_ha_tinh_network(ha_tinh):
    lay, res, demand = ha_tinh
    G = res.graph
    regional = {n for n, d in G.nodes(data=True) if d["tier"] == "regional"}
    assert len(regional) == 13 and "HT-MHS" not in G
    stations = [n for n, d in G.nodes(data=True) if d["tier"] == "station"]
    assert len(stations) == 209
    for s in stations:
        parents = [v for _, v, d in G.out_edges(s, data=True) if d["kind"] == "referral"]
        assert len(parents) == 1 and parents[0] in regional
    assert all(list(G.successors(r)) == ["HT-PGH"] for r in regional)
    s = res.summary
    assert s["validation"]["problems"] == []
    per = {r["facility_id"]: r for r in s["stations_per_regional"]}
    assert set(per) == regional and sum(r["stations"] for r in per.values()) == 209
    total = lay.communes["population"].sum()
    assert total == pytest.approx(1_623_061)
    assert sum(r["population"] for r in per.values()) == pytest.approx(total)
    hubs = res.hubs.set_index("facility_id")
    assert hubs.loc["HT-PGH", "load"] == pytest.approx(total)
    assert hubs.loc["HT-PGH", "beds_per_10k"] == pytest.approx(1300 / total * 1e4)
    ranked = set(res.loss["facility_id"])
    assert regional | {"HT-MHS", "HT-PGH"} <= ranked
    assert res.loss.iloc[0]["facility_id"] == "HT-PGH"
    mhs = res.loss.set_index("facility_id").loc["HT-MHS"]
    assert mhs["scenario"] == "closure (compared with it active)"
    # Hoành Sơn has its own OSM site now: no active regional hospital shares it
    site = lay.facilities.set_index("facility_id").geometry
    assert all(site["HT-MHS"].distance(site[r]) > 100 for r in regional)
    assert mhs["note"] == ""
    # stations per regional hospital: the nearest (30 km/h x 1.4 here), recounted by brute
    # force; the chain home -> nearest station -> its regional hospital, recomputed
    from tests import _brute as BF

    fac = lay.facilities[lay.facilities["status"] == "active"]
    st, reg = fac[fac["tier"] == "station"], fac[fac["tier"] == "regional"]
    j, up = BF.nearest_site(BF.xy(st), BF.xy(reg), speed_kmh=30, detour=1.4)
    counts = pd.Series(reg["facility_id"].to_numpy()[j]).value_counts()
    assert {fid: r["stations"] for fid, r in per.items()} == {
        fid: int(counts.get(fid, 0)) for fid in reg["facility_id"]}
    fc, t0 = BF.nearest_site(demand[["x", "y"]].to_numpy(), BF.xy(st), speed_kmh=30, detour=1.4)
    pop = demand["population"].to_numpy(float)
    chains = s["chains"]
    assert chains["station"]["population_without"] == 0
    assert chains["regional"]["mean_time_min"] == pytest.approx(
        np.average(t0 + up[fc], weights=pop))
    assert len(res.layers["referral_chains"]) == 69
    json.dumps(s, allow_nan=False)


def test_real_ha_tinh_network_after_the_official_plan(ha_tinh):
    _, res, _ = ha_tinh
    G = res.graph_plan
    tiers = pd.Series({n: d["tier"] for n, d in G.nodes(data=True)})
    mains, branches = tiers[tiers == "station"].index, tiers[tiers == "branch"].index
    assert len(mains) == 69 and len(branches) == 140
    for m in mains:
        assert G.nodes[next(iter(G.successors(m)))]["tier"] == "regional"
    for b in branches:
        (parent,) = list(G.successors(b))
        assert parent in mains
        assert G.nodes[parent]["commune_code"] == G.nodes[b]["commune_code"]
    cmp_ = res.summary["plan"]
    assert cmp_["consistency_problems"] == []
    assert sum(r["main_stations_after"] for r in cmp_["per_regional"]) == 69
    assert sum(r["branches_after"] for r in cmp_["per_regional"]) == 140
    reg = cmp_["chains"]["regional"]
    assert reg["mean_time_min"]["after"] > reg["mean_time_min"]["before"]


def test_central_hospitals_and_satellite_cores(fac, demand):
    # two central hospitals far away; P is a satellite of the farther one, which it refers to
    sites = [*SITES, ("C1", "central", "general", 300, "", 2000.0, "active"),
             ("C2", "central", "general", 200, "", np.nan, "active")]
    fac = _facilities(sites)
    links = pd.DataFrame({"core_id": ["C1"], "satellite_id": ["P"], "specialty": ["oncology"]})
    G = _graph(fac, satellite_links=links)
    assert list(G.successors("P")) == ["C1"]  # (its referral parent; the core -> P edge too)
    assert G.edges["P", "C1"]["source"] == "its satellite core (central hospital)"
    assert G.edges["C1", "P"]["kind"] == "satellite"
    assert G.edges["C1", "P"]["time_min"] == pytest.approx(280)
    assert list(G.successors("PE")) == ["C2"]  # nearest central hospital
    assert G.edges["PE", "C2"]["source"] == "nearest central hospital"
    ch = N.referral_chains(G, demand=demand, costs=_costs(fac, demand))
    assert ch["central_id"].tolist() == ["C1"] * 5
    assert ch["central_chain_time_min"].tolist() == pytest.approx([300, 300, 310, 320, 322])
    assert N.offering(G, "oncology") == ["C1", "P"]


def test_road_model_between_facilities(fac):
    # one road along the line at 60 km/h: times as the straight line; central pairs straight
    roads = gpd.GeoDataFrame({"road_class": ["primary"], "speed_kmh": [60.0],
                              "oneway": [False]},
                             geometry=[shapely.segmentize(
                                 shapely.LineString([(-10_000, 0), (100_000, 0)]), 1000)],
                             crs=CRS)
    sites = [*SITES, ("C1", "central", "general", 300, "", np.nan, "active")]
    fac = _facilities(sites)
    travel = road_model(roads, mode="car", class_speeds_kmh={"default": 60.0}, **MODEL)
    fc = N.facility_costs(fac, travel=travel)
    t = fc.to_frame().set_index(["origin_id", "dest_id"])["time_min"]
    assert t[("S4", "R2")] == pytest.approx(20.0)
    assert t[("S1", "C1")] == pytest.approx(300.0)
    assert fc.mode.startswith("roads:car")
    G = N.build_graph(fac, facility_costs=fc, cutoff_min=100)
    assert list(G.successors("S3")) == ["R2"] and G.edges["S3", "R2"]["time_min"] == \
        pytest.approx(10.0)


def test_edge_and_hub_layers_by_hand():
    """Edges of one kind as lines from -> to with both ends' names and tiers (empty where the
    graph has none), time, distance, kind, source; satellite edges with core, satellite,
    specialty and since; the graph's CRS; no edge: the columns all the same."""
    G = nx.DiGraph(crs="EPSG:32648")
    G.add_node("S1", name="Trạm <1>", tier="station", x=0.0, y=0.0)
    G.add_node("R1", name="Regional", tier="regional", x=3000.0, y=4000.0)
    G.add_node("P", x=6000.0, y=0.0)
    G.add_edge("S1", "R1", kind="referral", time_min=5.0, dist_m=5000.0, source="table")
    G.add_edge("R1", "P", kind="referral", time_min=7.5, dist_m=6000.0)
    G.add_edge("P", "R1", kind="satellite", time_min=7.5, dist_m=6000.0, specialty="eye",
               since="2019")
    G.add_edge("P", "S1", kind="satellite", time_min=9.0, dist_m=6000.0)
    ref = N.edge_layer(G, "referral")
    assert ref.crs == "EPSG:32648"
    assert ref.drop(columns="geometry").to_dict("records") == [
        {"from_id": "S1", "to_id": "R1", "from_name": "Trạm <1>", "to_name": "Regional",
         "from_tier": "station", "to_tier": "regional", "time_min": 5.0, "dist_m": 5000.0,
         "kind": "referral", "source": "table"},
        {"from_id": "R1", "to_id": "P", "from_name": "Regional", "to_name": "",
         "from_tier": "regional", "to_tier": "", "time_min": 7.5, "dist_m": 6000.0,
         "kind": "referral", "source": ""}]
    assert [list(g.coords) for g in ref.geometry] == [[(0, 0), (3000, 4000)],
                                                      [(3000, 4000), (6000, 0)]]
    sat = N.edge_layer(G, "satellite")
    assert sat.drop(columns="geometry").to_dict("records") == [
        {"from_id": "P", "to_id": "R1", "from_name": "", "to_name": "Regional",
         "from_tier": "", "to_tier": "regional", "time_min": 7.5, "dist_m": 6000.0,
         "kind": "satellite", "source": "", "core_id": "P", "satellite_id": "R1",
         "specialty": "eye", "since": "2019"},
        {"from_id": "P", "to_id": "S1", "from_name": "", "to_name": "Trạm <1>",
         "from_tier": "", "to_tier": "station", "time_min": 9.0, "dist_m": 6000.0,
         "kind": "satellite", "source": "", "core_id": "P", "satellite_id": "S1",
         "specialty": "", "since": ""}]
    none = N.edge_layer(nx.DiGraph(crs="EPSG:32648"), "satellite")
    assert list(none.columns) == ["from_id", "to_id", "from_name", "to_name", "from_tier",
                                  "to_tier", "time_min", "dist_m", "kind", "source", "core_id",
                                  "satellite_id", "specialty", "since", "geometry"]
    assert len(none) == 0 and none.crs == "EPSG:32648"
    hubs = pd.DataFrame({"facility_id": ["R1"], "load": [12.5], "x": [3000.0], "y": [4000.0]})
    layer = N.hubs_layer(hubs, "EPSG:32648")
    assert list(layer.columns) == ["facility_id", "load", "geometry"]
    assert layer.crs == "EPSG:32648" and list(layer.geometry[0].coords) == [(3000.0, 4000.0)]


def test_compare_networks_by_hand():
    """Per regional hospital before and after (one only before, without a name; one only
    after), chain times and the people beyond each threshold with their change (a level
    without "beyond" before counts 0), people changing regional hospital, and the
    consistency checks: a main station not under a regional hospital, a branch point not
    under its commune's main station (every branch point when no plan names the mains)."""
    before = {"nodes": {"by_tier": {"station": 3, "regional": 2}},
              "stations_per_regional": [
                  {"facility_id": "R1", "name": "r1", "stations": 2, "branches": 0,
                   "population": 100.0},
                  {"facility_id": "R2", "stations": 1, "branches": 0, "population": 50.0}],
              "chains": {"station": {"mean_time_min": 1.0, "p90_time_min": 2.0,
                                     "max_time_min": 3.0}}}
    after = {"nodes": {"by_tier": {"station": 3, "regional": 2}},
             "stations_per_regional": [
                 {"facility_id": "R1", "name": "r1 (after)", "stations": 1, "branches": 2,
                  "population": 120.0},
                 {"facility_id": "R3", "name": "r3", "stations": 1, "branches": 0,
                  "population": 30.0}],
             "chains": {"station": {"mean_time_min": 1.5, "p90_time_min": 2.5,
                                    "max_time_min": 4.0, "beyond": {"30": 10.0}}}}
    G = nx.DiGraph()
    G.add_node("R1", tier="regional")
    G.add_node("P", tier="provincial")
    G.add_node("S1", tier="station", role="main station", commune_code="X")
    G.add_node("S2", tier="station", role="main station", commune_code="Y")
    G.add_node("B1", tier="station", role="branch point", commune_code="X")
    G.add_node("B2", tier="station", role="branch point", commune_code="Y")
    for u, v in (("S1", "R1"), ("S2", "P"), ("B1", "S2"), ("B2", "S2")):
        G.add_edge(u, v, kind="referral")
    plan = Plan(name="p", actions=pd.DataFrame({
        "facility_id": ["S1", "S2", "B1", "B2"], "action": ["keep", "keep", "branch", "branch"],
        "target_commune_code": ["X", "Y", "X", "Y"], "role": ""}))
    kw = dict(chains_before=pd.DataFrame({"regional_id": ["R1", "R2", "R1"]}),
              chains_after=pd.DataFrame({"regional_id": ["R1", "R3", "R3"]}),
              population=np.array([1.0, 2.0, 4.0]), G_after=G)
    got = N.compare_networks(before, after, plan=plan, **kw)
    assert got == {
        "plan": "p", "actions": {"keep": 2, "branch": 2, "close": 0, "new": 0},
        "nodes_by_tier": {"before": before["nodes"]["by_tier"],
                          "after": after["nodes"]["by_tier"]},
        "per_regional": [
            {"facility_id": "R1", "name": "r1 (after)", "stations_before": 2,
             "main_stations_after": 1, "branches_after": 2, "population_before": 100.0,
             "population_after": 120.0},
            {"facility_id": "R2", "name": "", "stations_before": 1, "main_stations_after": 0,
             "branches_after": 0, "population_before": 50.0, "population_after": 0.0},
            {"facility_id": "R3", "name": "r3", "stations_before": 0, "main_stations_after": 1,
             "branches_after": 0, "population_before": 0.0, "population_after": 30.0}],
        "chains": {"station": {
            "mean_time_min": {"before": 1.0, "after": 1.5},
            "p90_time_min": {"before": 2.0, "after": 2.5},
            "max_time_min": {"before": 3.0, "after": 4.0},
            "beyond": {"30": {"before": None, "after": 10.0, "change": 10.0}}}},
        "population_changing_regional_hospital": 6.0,
        "consistency_problems": [
            "main station S2 does not refer to a regional hospital",
            "branch point B1 does not refer to the main station of its commune"]}
    nameless = N.compare_networks(before, after, plan=None, **kw)
    assert nameless["plan"] == "" and nameless["actions"] == {}
    assert nameless["consistency_problems"] == [
        "main station S2 does not refer to a regional hospital",
        "branch point B1 does not refer to the main station of its commune",
        "branch point B2 does not refer to the main station of its commune"]


def test_commune_chains_and_statistics_by_hand(fac, demand):
    """Per commune the chain of the station serving most of its people, its path and time
    along the edges, mean chain times and people beyond; a commune without people has no
    chain (empty ids, no time); no central level without a central hospital. The statistics'
    texts, and the longest time taken over people, not over empty units."""
    G = _graph(fac)
    ch = N.referral_chains(G, demand=demand, costs=_costs(fac, demand))
    communes = gpd.GeoDataFrame({"commune_code": ["A", "B", "C"],
                                 "commune_name": ["a", "b", "c"]},
                                geometry=[shapely.box(0, -1, 1, 1), shapely.box(1, -1, 2, 1),
                                          shapely.box(2, -1, 3, 1)], crs=CRS)
    got = N.commune_chains(ch, demand, communes, G, thresholds_min=THRESHOLDS)
    assert got.crs == CRS
    assert list(got.columns) == [
        "commune_code", "commune_name", "population", "station_id", "regional_id",
        "regional_name", "provincial_id", "top_id", "path", "path_time_min",
        "mean_first_contact_time_min", "beyond_station_5min",
        "mean_regional_chain_time_min", "beyond_regional_15min",
        "mean_provincial_chain_time_min", "beyond_provincial_35min",
        "mean_chain_time_min", "beyond_chain_35min", "geometry"]
    g = got.set_index("commune_code")
    assert g.loc["A", ["population", "station_id", "regional_id", "regional_name",
                       "provincial_id", "top_id", "path"]].tolist() == [
        300.0, "S2", "R1", "Facility R1", "P", "P", "S2 -> R1 -> P"]
    assert g.loc["B", ["station_id", "path"]].tolist() == ["S4", "S4 -> R2 -> P"]
    assert g["path_time_min"].tolist()[:2] == pytest.approx([20.0, 40.0])
    assert g.loc["C", ["population", "station_id", "regional_id", "regional_name",
                       "provincial_id", "top_id", "path"]].tolist() == [
        0.0, "", "", "", "", "", ""]
    assert np.isnan(g.loc["C", "path_time_min"]) and np.isnan(
        g.loc["C", "mean_regional_chain_time_min"])
    assert g["mean_regional_chain_time_min"].tolist()[:2] == pytest.approx(
        [5.0, (300 * 10 + 400 * 20 + 50 * 22) / 750])
    assert g["beyond_regional_15min"].tolist() == [0.0, 450.0, 0.0]
    pop = demand["population"].to_numpy().copy()
    pop[4] = 0.0    # the unit 22 min from its regional hospital is empty
    st = N.chain_statistics(ch, pop, thresholds_min=THRESHOLDS)
    assert st["regional"]["max_time_min"] == 20.0
    assert st["station"]["measured"] == "time to the nearest station or branch point"
    assert st["regional"]["measured"] == "cumulative time along the referral chain"
    assert st["chain"]["measured"] == "cumulative time along the referral chain to its top"
    assert "central" not in st


def test_chain_errors_name_the_problem(fac, demand):
    G = _graph(fac)
    costs = _costs(fac[fac["facility_id"] != "S3"], demand)
    with pytest.raises(NetworkError, match=r"cost table: 1 problem found\n  - service points "
                                           r"missing from the demand -> facility cost table: "
                                           r"S3; compute the costs to every station and branch"):
        N.referral_chains(G, demand=demand, costs=costs)
    with pytest.raises(GisError, match=r"thresholds_min: unknown level 'district'; use station, "
                                       r"regional, provincial, central, chain"):
        N.chain_statistics(pd.DataFrame(), np.zeros(0), thresholds_min={"district": [30]})


def test_loss_impact_under_a_plan_for_an_ended_station_and_without_specialties(fac, demand):
    """Three cases by hand. Under a plan (S2 and S4 closed), losing R1 sends S1 to R2 (40
    min instead of 5): units 0 and 1 (S1's now) add 35 min each at the regional level
    (without the plan, unit 1 goes by S2 and adds 25). An ended station
    (S5, at unit 4) compared with it active: unit 4's first contact moves from S5 (0 min) to
    S4 (2 min). Without a specialty column every provincial hospital counts as general: PE
    shares P's site."""
    costs = _costs(fac, demand)
    kw = dict(facility_costs=N.facility_costs(fac, **MODEL), cutoff_min=100, demand=demand,
              costs=costs, thresholds_min=THRESHOLDS)
    plan = Plan(name="two stations", actions=pd.DataFrame({
        "facility_id": ["S1", "S2", "S3", "S4"], "action": ["keep", "close", "keep", "close"],
        "target_commune_code": ["A", "A", "B", "B"], "role": "", "rule": "",
        "x": np.nan, "y": np.nan}))
    r1 = N.loss_impact(fac, **kw, candidates=["R1"], plan=plan).set_index("facility_id")
    assert r1.loc["R1", "scenario"] == "loss"
    assert r1.loc["R1", "added_person_min"] == pytest.approx(100 * 35 + 200 * 35)
    assert r1.loc["R1", "stations_reassigned"] == 1
    assert r1.loc["R1", "moved_beyond_regional_15min"] == 300
    sites = [*SITES, ("S5", "station", "primary care", 62, "B", np.nan, "ended")]
    fac5 = _facilities(sites)
    every = straight_line_costs(demand[["x", "y"]].to_numpy(),
                                fac5.geometry.get_coordinates().to_numpy(), cutoff_min=100,
                                origin_ids=demand["unit_id"].to_numpy(),
                                dest_ids=fac5["facility_id"].to_numpy(), **MODEL)
    s5 = N.loss_impact(fac5, **{**kw, "facility_costs": N.facility_costs(fac5, **MODEL),
                                "costs": every}, candidates=["S5"]).set_index("facility_id")
    assert s5.loc["S5", "scenario"] == "closure (compared with it active)"
    assert s5.loc["S5", ["population_rerouted", "added_person_min", "mean_added_min",
                         "population_moved_beyond", "stations_reassigned"]].tolist() == \
        pytest.approx([50.0, 50 * 2.0, 2.0, 0.0, 0])
    bare = N.loss_impact(fac.drop(columns="specialty"), **kw).set_index("facility_id")
    assert bare.loc["P", "note"] == "same site as PE (same tier)"
    assert bare.loc["PE", "note"] == "same site as P (same tier)"
    full = N.loss_impact(fac, **kw).set_index("facility_id")
    assert full.loc["P", "note"] == "" and full.loc["PE", "note"] == ""


NODE_COLUMNS = ["facility_id", "name", "tier", "original_tier", "specialty", "commune_code",
                "legacy_commune_code", "beds", "doctors", "nurses", "status", "role", "main_id",
                "what_if", "x", "y"]


def test_network_nodes_by_hand():
    """The nodes with and without a plan: roles by tier, an ended hospital made active
    (what-if), an excluded one left out, counts read as numbers (unreadable ones unknown),
    optional fields defaulted; under the plan a closed station out, a branch point under its
    commune's main station (its commune the plan's), new main and branch sites added."""
    fac = gpd.GeoDataFrame({
        "facility_id": ["S1", "S2", "S3", "B0", "R1", "P", "X"],
        "name": ["s1", "s2", "s3", "b0", "r1", "p", "x"],
        "tier": ["station", "station", "station", "branch", "regional", "provincial",
                 "regional"],
        "specialty": ["primary care", None, "primary care", "", "general", "general",
                      "general"],
        "commune_code": ["A", "B", "B", "B", "A", "A", "B"],
        "legacy_commune_code": ["a1", "b1", "b2", "b2", "a1", "a1", "b1"],
        "beds": [np.nan, np.nan, np.nan, np.nan, 80.0, 300.0, 10.0],
        "doctors": [2.0, 1.0, 1.0, 0.0, 20.0, 90.0, 5.0],
        "nurses": ["3", "4", "4", "1", "10", "n/a", "2"],
        "status": ["active", "active", "active", "active", "ended", "active", "active"]},
        geometry=shapely.points([[0, 0], [1, 0], [2, 0], [3, 0], [4, 0], [5, 0], [6, 0]]),
        crs=CRS)
    nodes = N.network_nodes(fac, include=["R1"], exclude=["X"])
    assert list(nodes.columns) == NODE_COLUMNS and list(nodes.index) == list(range(6))
    assert nodes["facility_id"].tolist() == ["S1", "S2", "S3", "B0", "R1", "P"]
    assert nodes["role"].tolist() == ["station"] * 3 + ["branch point", "hospital", "hospital"]
    assert nodes["tier"].tolist() == nodes["original_tier"].tolist()
    assert nodes["what_if"].tolist() == [False] * 4 + [True, False]
    assert nodes["specialty"].tolist()[:2] == ["primary care", ""]
    assert nodes["nurses"].tolist()[:5] == [3.0, 4.0, 4.0, 1.0, 10.0]
    assert np.isnan(nodes["nurses"].iloc[5])
    assert nodes["x"].tolist() == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]
    assert (nodes["main_id"] == "").all()
    plan = Plan(name="p", actions=pd.DataFrame({
        "facility_id": ["S1", "S2", "S3", "N1", "N2"],
        "action": ["keep", "branch", "close", "new", "new"],
        "target_commune_code": ["A", "A", "B", "B", "B"], "role": ["", "", "", "main", "branch"],
        "rule": "", "x": [np.nan, np.nan, np.nan, 50.0, 60.0],
        "y": [np.nan, np.nan, np.nan, 5.0, 6.0]}))
    after = N.network_nodes(fac, plan=plan, include=["R1"], exclude=["X"])
    assert list(after.columns) == NODE_COLUMNS and list(after.index) == list(range(7))
    a = after.set_index("facility_id")
    assert list(a.index) == ["S1", "S2", "B0", "R1", "P", "N1", "N2"]
    assert a.loc["S1", ["tier", "role", "main_id", "commune_code"]].tolist() == [
        "station", "main station", "", "A"]
    assert a.loc["S2", ["tier", "original_tier", "role", "main_id", "commune_code"]].tolist() \
        == ["branch", "station", "branch point", "S1", "A"]
    assert a.loc["B0", ["tier", "role", "main_id", "commune_code"]].tolist() == [
        "branch", "branch point", "", "B"]
    new = a.loc[["N1", "N2"]]
    assert new["name"].tolist() == ["New site N1", "New site N2"]
    assert new["tier"].tolist() == ["station", "branch"]
    assert new["role"].tolist() == ["main station", "branch point"]
    assert new["main_id"].tolist() == ["", "N1"]
    assert (new["original_tier"] == "station").all() and (new["status"] == "planned").all()
    assert (new["specialty"] == "primary care").all() and (new["commune_code"] == "B").all()
    assert new["what_if"].tolist() == [False, False]
    assert new[["x", "y"]].to_numpy().tolist() == [[50.0, 5.0], [60.0, 6.0]]
    assert new[["beds", "doctors", "nurses"]].isna().all().all()
    assert (new["legacy_commune_code"] == "").all()
    bare = N.network_nodes(fac[["facility_id", "name", "tier", "status", "geometry"]])
    assert list(bare.columns) == NODE_COLUMNS
    assert (bare[["specialty", "commune_code", "legacy_commune_code"]] == "").all().all()
    assert bare[["beds", "doctors", "nurses"]].isna().all().all()
    none = N.network_nodes(fac.assign(status="ended"))
    assert list(none.columns) == NODE_COLUMNS and len(none) == 0


def test_build_graph_messages_by_hand(fac):
    """A branch point with one station in its commune refers to it (not to a nearer one
    elsewhere); under a plan, referral rows naming a closed station or contradicting a
    branch point are ignored with a warning; satellite links naming unknown or ended
    facilities, or running along a referral edge, are named with their rows."""
    sites = [*SITES, ("B9", "branch", "primary care", 31, "Z", np.nan, "active"),
             ("S9", "station", "primary care", 50, "Z", np.nan, "active")]
    G = _graph(_facilities(sites))
    assert list(G.successors("B9")) == ["S9"]
    assert G.edges["B9", "S9"]["source"] == "main station of its commune"
    assert G.graph["warnings"] == []
    plan = Plan(name="p", actions=pd.DataFrame({
        "facility_id": ["S1", "S2", "S3", "S4"], "action": ["keep", "branch", "keep", "close"],
        "target_commune_code": ["A", "A", "B", "B"], "role": "", "rule": "",
        "x": np.nan, "y": np.nan}))
    table = pd.DataFrame({"from_id": ["S2", "S4", "S3"], "to_id": ["R2", "R2", "R2"]})
    G = _graph(fac, plan=plan, referrals=table)
    assert G.graph["warnings"] == [
        "referral table: row 3 (from_id S4) name a facility the plan closes: ignored (the "
        "rule applies)",
        "referral table row for S2 ignored: the plan makes it a branch point of S1"]
    assert list(G.successors("S2")) == ["S1"] and list(G.successors("S3")) == ["R2"]
    links = pd.DataFrame({"core_id": ["XX", "P"], "satellite_id": ["R1", "R3"]})
    G = _graph(fac, satellite_links=links, strict=False)
    assert G.graph["problems"][0] == (
        "satellite links: field 'core_id', row 2 (satellite_id R1): unknown facility XX; use "
        "ids of the facilities layer (a central hospital outside the province needs a row "
        "there with its lon/lat)")
    assert G.graph["warnings"] == [
        "satellite links: row 3 (satellite_id R3) name a facility that is not active (R3): "
        "ignored"]
    along = pd.DataFrame({"core_id": ["S1"], "satellite_id": ["R1"]})
    G = _graph(fac, satellite_links=along, strict=False)
    assert G.graph["problems"] == [
        "satellite links: row 2 (core_id S1): S1 -> R1 runs along the referral edge S1 -> R1 "
        "(the core would refer to its satellite); swap core_id and satellite_id or fix the "
        "referral table"]


def test_validate_graph_texts_by_hand():
    """Facilities lacking their next tier: the reason (the road model's, or the chain's
    missing level), the fix for each kind."""
    G = nx.DiGraph()
    G.add_node("S", tier="station", name="s", unassigned="no road joins it to any regional "
                                                         "hospital")
    G.add_node("B", tier="branch", name="b")
    G.add_node("R", tier="regional", name="r")
    assert N.validate_graph(G) == [
        "branch B (b): no station in its referral chain (its chain has no station level); add "
        "the hospital that serves them, raise travel.cutoff_min, or give their parent in the "
        "referral table (layers.referrals)",
        "station S (s): no regional hospital in its referral chain (no road joins it to any "
        "regional hospital); the roads layer does not join them to any regional hospital: "
        "connect its lines (they must share end points where roads meet), or give their "
        "parent in the referral table (layers.referrals)"]


# --- edge cases: exact messages, texts and degenerate inputs ----------------------------------

def test_build_graph_names_missing_costs_ended_links_and_stations_without_regional(fac):
    """Facility costs lacking a node: the exact message; satellite links naming two ended
    facilities: one warning listing both; without any regional hospital every station is
    named with that reason (not only the first)."""
    short = N.facility_costs(fac[~fac["facility_id"].isin(["S4", "P"])], **MODEL)
    with pytest.raises(GisError) as info:
        N.build_graph(fac, facility_costs=short, cutoff_min=100)
    assert str(info.value) == ("facility costs lack 2 facilities (P, S4): compute them with "
                               "network.facility_costs(facilities, ..., plan=plan)")
    fac4 = _facilities([*SITES, ("R4", "regional", "general", 70, "B", np.nan, "ended")])
    links = pd.DataFrame({"core_id": ["P", "P"], "satellite_id": ["R4", "R3"]})
    G = _graph(fac4, satellite_links=links)
    assert G.graph["warnings"] == [
        "satellite links: rows 2, 3 (satellite_id R4, R3) name a facility that is not active "
        "(R3, R4): ignored"]
    G = _graph(fac[fac["tier"] != "regional"], strict=False)
    reason = "no active regional hospital in the facilities layer"
    assert {s: G.nodes[s].get("unassigned") for s in ("S1", "S2", "S3", "S4")} == dict.fromkeys(
        ("S1", "S2", "S3", "S4"), reason)
    assert [p.split(":")[0] for p in G.graph["problems"]] == [
        f"station S{i} (Facility S{i})" for i in range(1, 5)]
    assert all(f"({reason})" in p for p in G.graph["problems"])


def test_network_nodes_missing_codes_are_empty(fac):
    """A facility without a commune code (None or NaN) gets "" (no "nan", no "None")."""
    gaps = fac.assign(commune_code=[None, np.nan, *fac["commune_code"][2:]])
    nodes = N.network_nodes(gaps).set_index("facility_id")
    assert nodes.loc[["S1", "S2", "S3"], "commune_code"].tolist() == ["", "", "B"]


def test_dense_costs_leave_out_destinations_that_are_not_origins():
    """A facility -> facility table whose destinations include an id that is no origin: its
    pairs are left out; the others fill the matrix; unknown pairs inf (time), NaN (metres)."""
    from gis.analyses.network.graph import DenseCosts

    table = CostTable(origin=np.array([0, 0, 1, 1], np.int32),
                      dest=np.array([0, 1, 1, 2], np.int32),
                      dist_m=np.array([500, 900, 800, 700], np.float32),
                      time_min=np.array([5.0, 9.0, 8.0, 7.0]),
                      origin_ids=np.array(["A", "B"]), dest_ids=np.array(["B", "X", "A"]),
                      cutoff_min=math.inf, mode="hand")
    dense = DenseCosts(table)
    assert dense.pos == {"A": 0, "B": 1}
    # A -> B 5 min, B -> A 7 min; A -> X and B -> X dropped; the diagonal 0
    assert dense.time.tolist() == [[0.0, 5.0], [7.0, 0.0]]
    assert dense.dist.tolist() == [[0.0, 500.0], [700.0, 0.0]]
    assert dense.mode == "hand"


def test_run_network_messages_and_the_loss_of_a_station(fac, demand):
    """Only one of speed and detour: the exact message. A station as a loss candidate (its
    people's first contact moves): S4's 450 people go to S3, 30 min instead of 0 and 2
    (units at 60 and 62 km), beyond the station threshold of 5 min; no station changes
    hospital."""
    kw = dict(demand=demand, costs=_costs(fac, demand), thresholds_min=THRESHOLDS,
              beds_per_10k=45, cutoff_min=100)
    for one in ({"speed_kmh": 60.0}, {"detour_factor": 1.0}):
        with pytest.raises(GisError) as info:
            N.run_network(fac, _communes(), **kw, **one)
        assert str(info.value) == "run_network: give travel=, or speed_kmh= and detour_factor="
    res = N.run_network(fac, _communes(), **kw, loss_candidates=["S4"], **MODEL)
    r = res.loss.set_index("facility_id").loc["S4"]
    assert r[["population_rerouted", "population_moved_beyond", "moved_beyond_station_5min",
              "added_person_min", "mean_added_min", "stations_reassigned"]].tolist() == \
        pytest.approx([450.0, 450.0, 450.0, 400 * 30 + 50 * 30, 30.0, 0])
    assert r["level"] == "station" and r["scenario"] == "loss"
    assert res.layers["hubs"]["loss_rank"].isna().all()  # S4 is no hub


def test_network_when_every_facility_has_ended(fac, demand):
    """No active facility: an empty network; nobody has a first contact, so every chain time
    is unknown (float NaN), every person is beyond every threshold, per commune too, and the
    hubs layer is empty (in the working CRS)."""
    res = N.run_network(fac.assign(status="ended"), _communes(), demand=demand,
                        costs=_costs(fac, demand), thresholds_min=THRESHOLDS, beds_per_10k=45,
                        cutoff_min=100, **MODEL)
    assert res.graph.number_of_nodes() == 0
    ch = res.chains
    assert (ch["first_contact_id"] == "").all() and (ch["top_id"] == "").all()
    times = [c for c in ch.columns if c.endswith("time_min")]
    assert len(times) == 6
    assert all(ch[c].dtype == np.float64 and ch[c].isna().all() for c in times)
    st = res.summary["chains"]
    assert st["station"]["population_without"] == 1050 and st["station"]["beyond"] == {
        "5": 1050.0}
    assert st["chain"]["beyond"] == {"35": 1050.0} and st["chain"]["mean_time_min"] is None
    layer = res.layers["referral_chains"].set_index("commune_code")
    assert layer["population"].tolist() == [300.0, 750.0]
    assert layer["station_id"].tolist() == ["", ""] and layer["path"].tolist() == ["", ""]
    assert layer["path_time_min"].dtype == np.float64 and layer["path_time_min"].isna().all()
    for col in ("beyond_station_5min", "beyond_regional_15min", "beyond_chain_35min"):
        assert layer[col].tolist() == [300.0, 750.0], col
    hubs = res.layers["hubs"]
    assert len(hubs) == 0 and hubs.crs == CRS
    assert sorted(res.loss["facility_id"]) == ["P", "PE", "R1", "R2", "R3"]
    assert (res.loss["population_rerouted"] == 0).all()


def test_commune_chains_with_whole_persons(fac, demand):
    """Populations given as integers give the same layer as floats (float persons)."""
    G = _graph(fac)
    ch = N.referral_chains(G, demand=demand, costs=_costs(fac, demand))
    whole = demand.assign(population=demand["population"].astype(np.int64))
    got = N.commune_chains(ch, whole, _communes(), G, thresholds_min=THRESHOLDS)
    want = N.commune_chains(ch, demand, _communes(), G, thresholds_min=THRESHOLDS)
    assert got["population"].tolist() == [300.0, 750.0]
    pd.testing.assert_frame_equal(got, want)


def test_same_site_means_closer_than_one_metre(fac, demand):
    """The loss note names another facility of the tier less than 1 m away: 0.5 m is the
    same site, exactly 1 m is not."""
    sites = [*SITES, ("R5", "regional", "general", 5, "A", np.nan, "active"),
             ("R6", "regional", "general", 40, "B", np.nan, "active")]
    fac = _facilities(sites)
    fac.loc[fac["facility_id"] == "R5", "geometry"] = shapely.Point(5_000.5, 0.0)
    fac.loc[fac["facility_id"] == "R6", "geometry"] = shapely.Point(40_001.0, 0.0)
    loss = N.loss_impact(fac, facility_costs=N.facility_costs(fac, **MODEL), cutoff_min=100,
                         demand=demand, costs=_costs(fac, demand), thresholds_min=THRESHOLDS,
                         candidates=["R1", "R2"]).set_index("facility_id")
    assert loss.loc["R1", "note"] == "same site as R5 (same tier)"
    assert loss.loc["R2", "note"] == ""


def test_loss_reroutes_when_only_the_top_of_the_chains_changes(fac, demand):
    """A referral table sends P on to SX, a far station with no regional hospital within the
    cut-off (so SX is the top of every chain). Losing SX ends every chain at P: no level
    changes (station, regional, provincial), but all 1,050 people are rerouted."""
    sites = [*SITES, ("SX", "station", "primary care", 200, "Z", np.nan, "active")]
    fac = _facilities(sites)
    table = pd.DataFrame({"from_id": ["P"], "to_id": ["SX"]})
    fcosts = N.facility_costs(fac, **MODEL)
    G = N.build_graph(fac, facility_costs=fcosts, cutoff_min=100, referrals=table, strict=False)
    assert N.node_chains(G).loc["S1", "path"] == "S1 -> R1 -> P -> SX"
    loss = N.loss_impact(fac, facility_costs=fcosts, cutoff_min=100, demand=demand,
                         costs=_costs(fac, demand), thresholds_min=THRESHOLDS,
                         candidates=["SX"], referrals=table).set_index("facility_id")
    assert loss.loc["SX", ["population_rerouted", "population_moved_beyond",
                           "added_person_min", "mean_added_min"]].tolist() == [1050, 0, 0, 0]
