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
from gis.errors import NetworkError, OutputError
from gis.inputs import readers as R
from gis.inputs.network_tables import check_referral_table, check_satellite_links
from gis.inputs.plans import Plan
from gis.model.costs import straight_line_costs
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
    hubs = lay["hubs"].set_index("facility_id")
    assert {"name", "load"} <= set(hubs.columns) and hubs.loc["P", "load"] == 1050
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
    with pytest.raises(NetworkError, match=r"referral cycle: R1 -> R2 -> R1"):
        _graph(fac, referrals=table)


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
    with pytest.raises(Exception, match="exceeds the cost table's cut-off"):
        N.plan_satellites(costs, pop, offering=["A"], candidates=["B"], k=1, within_min=90)


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
    j, up = BF.nearest(BF.xy(st), BF.xy(reg), speed_kmh=30, detour=1.4)
    counts = pd.Series(reg["facility_id"].to_numpy()[j]).value_counts()
    assert {fid: r["stations"] for fid, r in per.items()} == {
        fid: int(counts.get(fid, 0)) for fid in reg["facility_id"]}
    fc, t0 = BF.nearest(demand[["x", "y"]].to_numpy(), BF.xy(st), speed_kmh=30, detour=1.4)
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
