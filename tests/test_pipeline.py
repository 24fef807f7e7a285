"""``gis run`` end to end: summary figures, outputs staged, existing outputs kept on failure."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from gis.cli import main

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def default_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("run") / "hatinh"
    assert main(["-q", "run", "--config", str(ROOT / "config.toml"), "--out", str(out)]) == 0
    return out


def test_default_run_summary(default_run):
    s = json.loads((default_run / "summary.json").read_text(encoding="utf-8"))
    assert s["province"]["code"] == "42"
    assert s["province"]["name"] == "Tỉnh Hà Tĩnh"
    assert s["counts"]["legacy_communes"] == 209
    assert s["counts"]["new_communes"] == 69
    assert s["counts"]["stations"] == 209
    assert s["counts"]["hospitals_by_tier"] == {"central": 0, "provincial": 6, "regional": 13}
    assert s["population"]["total"] == pytest.approx(1_623_061)
    assert s["population"]["is_estimate"] is True
    assert s["population"]["source"].startswith("estimate")
    assert (default_run / "overview.html").stat().st_size < 5_000_000
    assert (default_run / "hatinh.gpkg").exists() and (default_run / "hatinh.qgz").exists()
    assert (default_run / "report.html").exists()
    assert s["outputs"]["qgis_project"] == "hatinh.qgz"
    # the travel model is named, and straight-line times are labelled as estimates
    assert s["travel_model"]["kind"] == "straight" and s["travel_model"]["is_estimate"]
    note = "Travel times (estimates): straight line x 1.4 at 30 km/h (motorbike)"
    assert any(e.startswith(note) for e in s["estimates"])
    # the default run's maps are in Vietnamese: the note translated, its numbers in the
    # language's format
    vi = "Thời gian di chuyển (ước tính): đường thẳng × 1,4 với vận tốc 30 km/h (xe máy)"
    page = (default_run / "access.html").read_text(encoding="utf-8")
    assert vi in page and note not in page


def test_refuses_to_overwrite_and_keeps_outputs_on_bad_input(default_run, tmp_path, capsys):
    before = {p.name: p.stat().st_mtime_ns for p in default_run.iterdir()}
    # existing outputs are never overwritten silently
    assert main(["run", "--config", str(ROOT / "config.toml"), "--out", str(default_run)]) == 2
    assert "pass --overwrite" in capsys.readouterr().err
    # bad input with --overwrite: non-zero exit, the message names file, field and row,
    # and the previous outputs stay as they were
    bad = tmp_path / "hospitals.csv"
    bad.write_text("facility_id,name,tier,lon,lat\nH1,Bad,regional,105.9,north\n", encoding="utf-8")
    cfg = tmp_path / "config.toml"
    cfg.write_text(f'[layers]\nfacilities = "{bad.as_posix()}"\n', encoding="utf-8")
    code = main(["run", "--config", str(cfg), "--out", str(default_run), "--overwrite"])
    assert code == 2
    err = capsys.readouterr().err
    assert "hospitals.csv" in err and "field 'lat', row 2" in err and "not a number" in err
    assert {p.name: p.stat().st_mtime_ns for p in default_run.iterdir()} == before
    assert not list(default_run.parent.glob(".hatinh.tmp-*"))


def test_other_province_runs_from_the_registry(tmp_path):
    out = tmp_path / "nghean"
    # any total will do: the test checks that it is split and labelled as an estimate
    assert main(["-q", "run", "--province", "Nghệ An", "--population-total", "3470988",
                 "--out", str(out)]) == 0
    s = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert s["province"]["code"] == "40"
    assert s["counts"]["new_communes"] == 130
    assert s["counts"]["stations"] == s["counts"]["legacy_communes"] == 412
    assert s["counts"]["hospitals"] == 0   # no register given for Nghệ An
    assert s["network"]["skipped"].startswith("no active regional hospital")
    # Ha Tinh's staff totals are not carried to another province: doctors unknown, so no
    # capacity analysis and no scaling up (and no candidate table built for it)
    tiers = s["capacity"]["tiers"]
    assert tiers["station"]["skipped"].startswith("doctors unknown for all 412 active stations")
    assert tiers["regional"]["skipped"] == "no active regional hospitals"
    assert s["scale_up"]["skipped"].startswith("needs the station capacity result: doctors")
    assert not (out / "capacity.html").exists()
    assert len(s["plans"]["scenarios"]) == 6
    assert s["population"]["total"] == pytest.approx(3_470_988)
    assert s["population"]["is_estimate"] is True


USER_PLAN = "official_plus_5"


@pytest.fixture(scope="module")
def real_result(tmp_path_factory):
    """``gis run --plan official_plus_5.csv`` on Ha Tinh's real polygons and census
    (../shared/data), maps offline, in Vietnamese (the default): the official plan's 69 main
    stations plus 5 former stations kept as branch points (the first 5 by id), the other 135
    closed."""
    from gis.inputs.config import load_config
    from gis.outputs.tables import plan_csv
    from gis.pipeline import official, run
    from tests.conftest import CENSUS_2019, COMMUNES_2025, require_shared

    require_shared(COMMUNES_2025)
    require_shared(CENSUS_2019)
    base = tmp_path_factory.mktemp("real")
    out = base / "hatinh"
    cfg = load_config(ROOT / "examples" / "hatinh_shared_data.toml")
    prep, plan = official(cfg, branches=False)
    a = plan.actions.copy()
    five = sorted(a.loc[a["action"] == "close", "facility_id"])[:5]
    a.loc[a["facility_id"].isin(five), "action"] = "branch"
    user = base / f"{USER_PLAN}.csv"
    user.write_text(plan_csv(type(plan)(name=USER_PLAN, actions=a), prep.layers.facilities),
                    encoding="utf-8")
    result = run(cfg, out_dir=out, offline=True, plan_files=(user,))
    return result, five


@pytest.fixture(scope="module")
def real_run(real_result):
    result, _ = real_result
    out = result.out_dir
    return out, json.loads((out / "summary.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def real_run_en(real_result, tmp_path_factory):
    """The same run's outputs written in English (no analysis run again)."""
    import copy

    from gis.pipeline import write_outputs

    result, _ = real_result
    out = tmp_path_factory.mktemp("real_en") / "hatinh"
    out.mkdir()
    summary = copy.deepcopy(result.summary)
    write_outputs(out, result.prep, result.layers, summary, offline=True, lang="en")
    return out, summary


def test_real_data_run(real_run):
    out, s = real_run
    assert s["population"]["total"] == 1_623_061
    assert s["population"]["is_estimate"] is False
    assert s["population"]["legacy_total"] == 1_288_866
    assert s["counts"]["legacy_communes"] == 209 and s["counts"]["new_communes"] == 69
    # access: shares of people within the thresholds, consistent with their populations
    st = s["access"]["coverage"]["station"]
    assert 0.99 < st["30"]["share"] <= st["60"]["share"] == 1.0
    assert st["30"]["population"] + st["30"]["beyond"] == pytest.approx(1_623_061)
    assert s["access"]["underserved"]["areas"] >= 1
    # the README's worked example
    assert round(100 * st["30"]["share"], 2) == 99.64 and round(st["30"]["beyond"]) == 5_891
    reg = s["access"]["coverage"]["regional"]["60"]
    assert round(100 * reg["share"], 2) == 98.48 and round(reg["beyond"]) == 24_727
    under = s["access"]["underserved"]
    assert under["areas"] == 9 and round(under["population"]) == 27_832
    assert [round(a["population"]) for a in under["top"][:4]] == [11_393, 9_347, 3_862, 2_542]


def test_real_data_scenarios(real_run):
    out, s = real_run
    rows = {r["scenario"]: r for r in s["plans"]["scenarios"]}
    assert list(rows) == ["209 today", "69 + branch points", "69 only",
                          "69 with best main stations", "69 + fewest branch points for T = 30 min",
                          "69 best sites ignoring commune borders (p-median)", USER_PLAN]
    today, only = rows["209 today"], rows["69 only"]
    branches, best = rows["69 + branch points"], rows["69 with best main stations"]
    cover = rows["69 + fewest branch points for T = 30 min"]
    free = rows["69 best sites ignoring commune borders (p-median)"]
    assert today["service_points"] == branches["service_points"] == 209
    assert only["service_points"] == only["main_stations"] == best["main_stations"] == 69
    # keeping every former station as a branch point keeps today's access exactly
    assert branches["mean_time_min"] == pytest.approx(today["mean_time_min"])
    assert branches["losing_30min"] == 0
    # closing 140 stations: people lose access within 15 and 30 minutes
    assert only["losing_30min"] > 0 and only["mean_time_min"] > today["mean_time_min"]
    # the best main stations beat the rule's; the p-median beats both (it is the optimum
    # without the one-station-per-commune rule); both proven optimal
    assert best["mean_time_min"] <= only["mean_time_min"]
    assert free["mean_time_min"] <= best["mean_time_min"]
    assert free["gap"] <= 1e-4 and best["gap"] == 0
    # fewest branch points: everyone coverable within 30 min is covered, as today
    assert cover["covered_30min"] == pytest.approx(today["covered_30min"])
    assert 69 < cover["service_points"] < 209 and cover["gap"] == 0
    curve = s["plans"]["coverage_curve"]["points"]
    covered = [p["covered_population"] for p in curve]
    assert covered == sorted(covered)  # more branch points never cover fewer people
    assert covered[-1] == pytest.approx(today["covered_30min"])
    table = pd.read_csv(out / "scenarios.csv")
    assert list(table["scenario"]) == list(rows)
    assert s["outputs"]["tables"] == ["scenarios.csv"]
    assert s["outputs"]["graphml"] == ["network.graphml", "network_plan.graphml"]
    # the README's worked example
    assert [round(r["losing_30min"]) for r in (only, best, cover, free)] == [24_066, 4_549, 0,
                                                                            3_717]
    assert cover["service_points"] == 77
    assert [round(r["mean_time_min"], 1) for r in (today, only, best, cover, free)] == [
        5.9, 10.1, 9.5, 9.4, 8.7]
    assert [round(p["covered_population"]) for p in curve[:3]] == [1_593_103, 1_615_844,
                                                                   1_617_170]


def test_real_data_network(real_run):
    out, s = real_run
    n = s["network"]
    assert n["nodes"]["by_tier"] == {"provincial": 6, "regional": 13, "station": 209}
    assert n["edges"]["referral"] == 209 + 13
    per = n["stations_per_regional"]
    assert len(per) == 13 and sum(r["stations"] for r in per) == 209
    assert sum(r["population"] for r in per) == pytest.approx(1_623_061)
    ranking = n["loss_impact"]["ranking"]
    assert {r["facility_id"] for r in ranking} >= {"HT-MHS", "HT-PGH", "HT-RKA", "HT-RHK"}
    assert n["plan"]["consistency_problems"] == []
    assert n["plan"]["actions"] == {"keep": 69, "branch": 140, "close": 0, "new": 0}
    # the README's worked example
    assert {r["facility_id"]: r["stations"] for r in per}["HT-RTS"] == 27
    assert [(r["facility_id"], round(r["population_moved_beyond"])) for r in ranking[:3]] == [
        ("HT-PGH", 1_327_321), ("HT-RHK", 79_440), ("HT-RCX", 60_295)]
    assert round(n["chains"]["regional"]["mean_time_min"], 1) == 20.8
    assert round(n["plan"]["population_changing_regional_hospital"]) == 211_431
    eye = n["satellite_planning"][0]
    assert eye["exact"] and [(x["core_id"], x["satellite_id"]) for x in eye["links"]] == [
        ("HT-PEH", "HT-RHL"), ("HT-PEH", "HT-RKA"), ("HT-PEH", "HT-RHS")]
    assert round(eye["covered_after"]) == 1_409_429
    import networkx as nx

    G = nx.read_graphml(out / "network.graphml")
    stations = [v for v, d in G.nodes(data=True) if d["tier"] == "station"]
    assert len(stations) == 209
    refer = [(u, v) for u, v, d in G.edges(data=True) if d["kind"] == "referral"]
    parents = pd.Series(dict(refer))
    assert all(G.nodes[parents[v]]["tier"] == "regional" for v in stations)
    assert {parents[v] for v, d in G.nodes(data=True) if d["tier"] == "regional"} == {"HT-PGH"}
    after = nx.read_graphml(out / "network_plan.graphml")
    roles = pd.Series({v: d.get("role") for v, d in after.nodes(data=True)
                       if d["tier"] in ("station", "branch")})
    assert roles.value_counts().to_dict() == {"branch point": 140, "main station": 69}


def test_real_data_capacity(real_run):
    """The capacity stage on Ha Tinh's real data: the exact identity per cell, the optimum
    never below the greedy, and the figures the published facts give by hand."""
    import math

    import geopandas as gpd

    out, s = real_run
    total = 1_623_061
    tiers = s["capacity"]["tiers"]
    st, prov, reg = tiers["station"], tiers["provincial"], tiers["regional"]
    # 168 station doctors (4 x 69 - 108) x the derived norm 1,623,061 / (4 x 69) people per
    # doctor: 168 / 276 of the people can be served, and every station fills up
    assert st["people_per_unit"] == pytest.approx(total / 276)
    assert st["capacity_total"] == pytest.approx(168 / 276 * total)
    assert st["capacity_is_estimate"] is True and st["analysed"] == 209
    for method in ("accessmod", "optimum"):
        r = st[method]
        assert r["served_population"] == pytest.approx(168 / 276 * total)
        assert math.fsum([r["served_population"], r["not_served_capacity"],
                          r["beyond_time"]]) == pytest.approx(total, abs=1e-6)
    # beyond 30 min of every station: the access stage's figure
    assert st["optimum"]["beyond_time"] == pytest.approx(
        s["access"]["coverage"]["station"]["30"]["beyond"])
    assert st["optimum"]["person_minutes"] <= st["accessmod"]["person_minutes"]
    # hospitals: only the Provincial General Hospital's 1,300 beds are known: 1,300 x
    # 10,000 / 45 people; the 13 regional hospitals are skipped, the 5 others left out
    assert prov["analysed"] == 1 and prov["left_out"]["count"] == 5
    assert prov["optimum"]["served_population"] == pytest.approx(1300 * 10_000 / 45)
    assert prov["optimum"]["served_population"] >= prov["accessmod"]["served_population"] - 1e-6
    assert prov["capacity_is_estimate"] is False
    assert reg["skipped"].startswith("beds unknown for all 13 active regional hospitals")
    # every cell: served + not served + beyond = its people, exactly (as written)
    cells = gpd.read_file(out / "hatinh.gpkg", layer="capacity_cells")
    for t in ("station", "provincial"):
        assert (cells[f"{t}_served"] + cells[f"{t}_not_served"] + cells[f"{t}_beyond"]
                == cells["population"]).all()
        assert (cells[f"{t}_greedy_served"] <= cells["population"]).all()
    assert cells["population"].sum() == pytest.approx(total)
    # scaling up: 5 new stations of 4 doctors, each serving 4 x 5,881 people (capacity binds
    # everywhere), proven: no 5 stations of that class can serve more
    up = s["scale_up"]
    assert len(up["sites"]) == 5 and up["status"] == "optimal" and up["gap"] <= 0.01
    assert up["new_served_population"] == pytest.approx(5 * 4 * total / 276)
    assert up["served_population"] >= up["greedy"]["served_population"] - 1e-6
    assert all(x["commune_name"] for x in up["sites"])
    curve = [c["served_population"] for c in up["curve"]]
    assert curve == sorted(curve) and len(curve) == 5
    assert up["candidates"]["kind"] == "grid" and up["candidates"]["sites"] > 5000
    # outputs: layers, the map, the report section
    names = {n for n, _ in __import__("pyogrio").list_layers(out / "hatinh.gpkg")}
    assert {"capacity_cells", "capacity_facilities", "catchments_station_capacity",
            "catchments_station_time", "scale_up_sites", "scale_up_candidates"} <= names
    assert s["outputs"]["maps"]["capacity"] == "capacity.html"
    page = (out / "report.html").read_text(encoding="utf-8")
    assert "Công suất và mở rộng mạng lưới" in page and 'id="capacity"' in page
    # every popup and tooltip of the capacity map (facilities, catchments, the cells' status,
    # new sites) in Vietnamese: the capacities' sources and the staffing spread translated
    from tests._i18n_check import english_words, map_feature_texts

    popups = map_feature_texts((out / "capacity.html").read_text(encoding="utf-8"))
    assert len(popups) > 2 * 209 and english_words(popups) == []
    assert any("phân bổ cho trạm y tế xã (tỷ lệ với dân số xã trước 2025 của từng trạm, tối đa"
               in " ".join(p.split()) for p in popups)   # the figures are data, left out
    # the indicators: the published shortfall recomputed from the spread estimate
    unit = next(i for i in s["access"]["indicators"] if i["name"].startswith("doctors per "
                                                                             "commune health"))
    assert unit["gap"] == pytest.approx(108) and unit["is_estimate"] is True


MAP_FEATURES = {
    # map: (paths after every overlay is switched on, markers after) from the layers drawn
    "overview": (69 + 209, 209 + 20),
    # the official plan shown first: 69 main stations, 140 branch points, nobody losing
    # access; the communes after and before 2025 and the per-commune change layer
    "plan": (69 + 209 + 69, 69 + 140 + 20),
    "network": (69 + (209 + 13) + 19 + 9, 209 + 20),
}


@pytest.mark.parametrize("lang", ["vi", "en"])
@pytest.mark.parametrize("key", ["overview", "access", "plan", "network", "capacity"])
def test_real_maps_draw_in_chromium(real_run, real_run_en, key, lang):
    """Every map of the real run, in both languages: no JavaScript error, nothing fetched,
    every layer drawn, no text wider than its box, the title clear of the layer list, and in
    Vietnamese no English left but names (the register's names are data)."""
    from tests._browser import ARTIFACTS, load_page, publish
    from tests._i18n_check import english_words

    out, s = real_run if lang == "vi" else real_run_en
    path = out / f"{key}.html"
    assert path.stat().st_size < 5_000_000
    shot = ARTIFACTS / f"real_{key}_{lang}.png"
    page = load_page(path, screenshot=shot, fragment="plan=official_only" if key == "plan"
                     else "", popup=False)
    publish(shot, f"{key}_{lang}.png")
    assert page.errors == [] and page.alerts == []
    assert not [r for r in page.resources if not r.startswith(("data:", "http://127.0.0.1"))]
    paths, markers = MAP_FEATURES.get(key, (None, 209 + 20))
    if key == "capacity":
        import geopandas as gpd

        gpkg = out / "hatinh.gpkg"
        cells = gpd.read_file(gpkg, layer="capacity_cells", ignore_geometry=True)
        statuses = sum(cells[f"{t}_status"].nunique() for t in ("station", "provincial"))
        paths = (statuses + sum(len(gpd.read_file(gpkg, layer=f"catchments_{t}_capacity"))
                                for t in ("station", "provincial"))
                 + len(gpd.read_file(gpkg, layer="scale_up_sites")))
        markers = 209 + 6          # station and provincial hospital icons
    if key == "plan":  # opened on the official plan without branch points: 140 closed,
        # 69 kept, and the people losing access in their 9 communes
        paths, markers = 69 + 209 + 69 + 9, 69 + 140 + 20
        assert page.plan == "official_only"
    if paths is not None:
        assert page.all["paths"] == paths
    else:
        assert page.all["paths"] > 69
    assert page.all["markers"] == markers
    assert page.overflow == [] and page.lang == lang
    assert page.title_box["right"] <= page.control_box["left"] or \
        page.title_box["bottom"] <= page.control_box["top"]
    if lang == "vi":
        assert english_words(page.own_text) == []
        assert english_words(page.own_popup_text) == []
    if key == "overview":
        assert page.map_labels >= 20 and page.map_label_overlaps == []


def test_real_qgis_project_opens(real_run):
    import pyogrio

    from tests._browser import ARTIFACTS, publish
    from tests._qgis import open_project

    out, s = real_run
    result = open_project(out / "hatinh.qgz", ARTIFACTS / "real_qgis.png")
    publish(ARTIFACTS / "real_qgis.png", "qgis.png")
    assert result["read"] is True
    layers = result["layers"]
    assert layers and all(r["valid"] for r in layers), [r["name"] for r in layers
                                                        if not r["valid"]]
    counts = {name: pyogrio.read_info(out / "hatinh.gpkg", layer=name)["features"]
              for name, _ in pyogrio.list_layers(out / "hatinh.gpkg")}
    for r in layers:
        assert r["features"] == counts[r["layername"]], r["name"]
    assert set(counts) <= {r["layername"] for r in layers}
    by_name = {r["name"]: r for r in layers}  # the project is in Vietnamese, the default
    assert by_name["Cơ sở y tế theo tuyến"]["renderer"] == "categorizedSymbol"
    assert by_name["Liên kết chuyển tuyến và vệ tinh"]["renderer"] == "categorizedSymbol"
    assert by_name["Đầu mối (kích thước: số dân phụ trách)"]["renderer"] == "graduatedSymbol"
    assert by_name["Phương án chính thức không có điểm trạm: trạm theo hình thức"]["attr"] == \
        "action"
    assert set(result["groups"]) >= {"Dữ liệu đầu vào", "Tiếp cận", "Phương án", "Mạng lưới"}
    # every plan in its own sub-group, the user plan named by its file
    assert USER_PLAN in result["subgroups"]
    assert len(result["subgroups"]) == 6 + 1  # 6 plans besides today, and the earlier names
    # the first view: communes, facilities, under-served areas; no labels
    assert sorted(r["name"] for r in layers if r["visible"]) == [
        "Cơ sở y tế theo tuyến", "Vùng khó tiếp cận", "Xã sau ngày 1/7/2025"]
    assert not any(r["labels"] for r in layers)
    # the capacity layers, in their group, in Vietnamese like every other layer: no English
    # left in a layer's title, a group's name or a legend entry (tests/_i18n_check.py)
    from tests._i18n_check import english_words

    cap = [r for r in layers if r["group_path"][:1] == ["Công suất"]]
    assert {r["layername"] for r in cap} == {
        "capacity_cells", "capacity_facilities", "catchments_station_capacity",
        "catchments_station_time", "catchments_provincial_capacity",
        "catchments_provincial_time", "scale_up_sites", "scale_up_candidates"}
    cells = by_name["Công suất, trạm y tế xã: được phục vụ, không được phục vụ, ngoài giới hạn "
                    "thời gian"]
    assert cells["attr"] == "station_status" and cells["legend"] == [
        "được phục vụ", "được phục vụ một phần", "không được phục vụ: hết công suất",
        "ngoài giới hạn thời gian"]
    assert by_name["Mở rộng mạng lưới: cơ sở mới"]["legend"] == [
        "lựa chọn chính xác (MILP)", "thuật toán tham lam của AccessMod"]
    texts = ([r["name"] for r in layers] + list(result["groups"])
             + [x for r in layers for x in r.get("legend") or []])
    assert english_words(texts) == []


def test_unknown_satellite_specialty_is_an_error_before_any_work(tmp_path, capsys):
    cfg = tmp_path / "config.toml"
    hospitals = (ROOT / "layers" / "hatinh_hospitals.csv").as_posix()
    cfg.write_text(f'[layers]\nfacilities = "{hospitals}"\n[province]\n'
                   f'population_total = 1623061\n[network]\n'
                   f'satellite_specialties = ["eye", "cardiology"]\n', encoding="utf-8")
    out = tmp_path / "out"
    assert main(["network", "--config", str(cfg), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "network.satellite_specialties: no active facility offers 'cardiology'" in err
    assert "population surface" not in err  # refused right after reading the layers
    assert not out.exists()


def test_province_without_population_completes_and_says_what_was_skipped(tmp_path):
    out = tmp_path / "nghean"
    assert main(["-q", "run", "--province", "Nghệ An", "--out", str(out)]) == 0
    s = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert s["population"]["total"] is None
    assert s["access"]["skipped"].startswith("population unknown")
    assert s["plans"]["skipped"].endswith("population unknown")
    assert s["network"]["skipped"].endswith("population unknown")
    assert (out / "overview.html").exists() and (out / "nghean.qgz").exists()


def test_real_user_plan_on_its_own_map_and_layers(real_result, real_run):
    """The user plan (official + 5 branch points): its GeoPackage layers and its map show the
    people losing access that the scenario table reports, and an independent recount from
    the demand cells' coordinates and the open stations' sites (straight line x 1.4 at 30
    km/h, no cost table) finds the same people."""
    import geopandas as gpd
    import numpy as np

    from tests._browser import ARTIFACTS, load_page, publish

    result, five = real_result
    out, s = real_run
    row = next(r for r in s["plans"]["scenarios"] if r["scenario"] == USER_PLAN)
    item = next(p for p in s["plans"]["plans"] if p["scenario"] == USER_PLAN)
    assert row["scenario_kind"] == "user" and row["service_points"] == 69 + 5
    assert item["actions"] == {"keep": 69, "branch": 5, "close": 135, "new": 0}
    gpkg = out / "hatinh.gpkg"
    slug = item["slug"]
    lose = gpd.read_file(gpkg, layer=f"plan_{slug}_losing_access")
    assert lose["population"].sum() == pytest.approx(row["losing_30min"], rel=1e-9)
    assert lose["population"].sum() == pytest.approx(item["losing_population"], rel=1e-9)
    stations = gpd.read_file(gpkg, layer=f"plan_{slug}_stations")
    assert sorted(stations.loc[stations["action"] == "branch", "facility_id"]) == five
    com = gpd.read_file(gpkg, layer=f"plan_{slug}_communes")
    assert com["losing_30min"].sum() == pytest.approx(row["losing_30min"], rel=1e-9)
    # independent recount
    cells = gpd.read_file(gpkg, layer="demand_cells", ignore_geometry=True)
    fac = gpd.read_file(gpkg, layer="facilities")
    open_ids = stations.loc[stations["action"].isin(["keep", "branch"]), "facility_id"]
    sites = fac.set_index("facility_id").loc[open_ids].geometry
    sx, sy = sites.x.to_numpy(), sites.y.to_numpy()
    x, y = cells["x"].to_numpy(), cells["y"].to_numpy()
    best = np.full(len(cells), np.inf)
    for i in range(0, len(sx), 16):
        d = np.hypot(x[:, None] - sx[None, i:i + 16], y[:, None] - sy[None, i:i + 16])
        best = np.minimum(best, d.min(axis=1))
    after = best / 1000 * 1.4 / 30 * 60
    today = cells["station_time_min"].to_numpy(float)
    losing = (today <= 30) & (after > 30)
    assert cells.loc[losing, "population"].sum() == pytest.approx(row["losing_30min"],
                                                                  rel=1e-9)
    assert set(cells.loc[losing, "unit_id"]) == set(lose["unit_id"])
    # its own map: the plan map opened on this plan counts the same people
    shot = ARTIFACTS / "real_plan_user_vi.png"
    page = load_page(out / "plan.html", fragment=f"plan={slug}", screenshot=shot, popup=False)
    publish(shot, "plan_user_vi.png")
    assert page.plan == slug and page.errors == []
    people = f"{round(row['losing_30min']):,}".replace(",", ".")
    label = next(x for x in page.layers if x.startswith("Số người mất khả năng tiếp cận ("))
    assert label.startswith(f"Số người mất khả năng tiếp cận ({people} người, "
                            f"{item['losing_communes']} xã)")


@pytest.mark.parametrize("lang", ["vi", "en"])
def test_real_report_in_chromium(real_run, real_run_en, lang):
    """The real run's report, both languages: no JavaScript error, no overflow, the summary
    on one A4 page, no chart label over another, no English left in Vietnamese."""
    from tests._browser import ARTIFACTS, load_page, publish
    from tests._i18n_check import english_words

    out, s = real_run if lang == "vi" else real_run_en
    shot = ARTIFACTS / f"real_report_{lang}.png"
    page = load_page(out / "report.html", screenshot=shot, window_size=(794, 1123))
    publish(shot, f"report_summary_{lang}.png")
    assert page.errors == [] and page.overflow == [], page.overflow
    assert page.summary_box["height"] <= 1123
    assert page.chart_labels > 0 and page.chart_overlaps == []
    if lang == "vi":
        assert english_words(page.own_text) == []
    text = (out / "report.html").read_text(encoding="utf-8")
    assert USER_PLAN in text and "{'" not in text and "{&#x27;" not in text
