"""National runs on Dask (gis.national): three small provinces and a broken one on a 2-worker
LocalCluster, checked against single-province runs of the same provinces; the cross-border
gains recounted by brute force over every facility of the provinces around."""

from __future__ import annotations

import functools
import json
import math
import zipfile
from dataclasses import replace

import numpy as np
import pandas as pd
import pyogrio
import pytest

from gis import pipeline
from gis.cli import main
from gis.inputs.config import Config, DemandConfig, LayersConfig, load_config
from gis.inputs.registry import find_province, load_registry, provinces
from gis.national import cluster_client, error_message, parse_provinces, run_national
from tests.conftest import CENSUS_2019, COMMUNES_2025, require_shared

OK = ("11", "12", "46")       # Điện Biên, Lai Châu, Huế: small (40-45 communes)
BROKEN = "96"                 # Cà Mau, given a communes layer that does not exist
CUTOFF_MIN, SPEED_KMH, DETOUR = 60.0, 30.0, 1.4
THRESHOLDS = {"station": (15.0, 30.0)}


def config_for(base: Config, missing: str, code: str) -> Config:
    """Real polygons and census for the three, a missing file for the broken one, the
    registry alone for the others (only their facilities matter: the halo)."""
    cfg = pipeline.config_for_province(base, code)
    if code in OK:
        return replace(cfg, layers=LayersConfig(
            communes=str(COMMUNES_2025), communes_population_field="population_2025",
            legacy_population=str(CENSUS_2019), legacy_population_field="population_2019"))
    if code == BROKEN:
        return replace(cfg, layers=LayersConfig(communes=missing))
    return cfg


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    require_shared(COMMUNES_2025)
    require_shared(CENSUS_2019)
    tmp = tmp_path_factory.mktemp("national")
    base = load_config(None)
    base = replace(base, demand=DemandConfig(cell_size_m=2500.0),
                   travel=replace(base.travel, cutoff_min=CUTOFF_MIN),
                   access=replace(base.access, thresholds_min=dict(THRESHOLDS)))
    cfg_for = functools.partial(config_for, base, str(tmp / "missing" / "communes.geojson"))
    events = []
    selected = parse_provinces(", ".join([*OK, "Cà Mau"]))
    with cluster_client(workers=2, memory_per_worker="3GB", processes=False) as client:
        # the single-province runs (no halo) on the same cluster, beside nothing else
        singles = {c: client.submit(pipeline.run, cfg_for(c), out_dir=tmp / "single" / c,
                                    offline=True, cross_border=False, pure=False)
                   for c in OK}
        singles = {c: f.result() for c, f in singles.items()}
        result = run_national(client, base, selected, out_root=tmp / "maps", offline=True,
                              config_for=cfg_for, on_event=lambda k, w: events.append((k, w)))
    return {"result": result, "singles": singles, "events": events, "cfg_for": cfg_for,
            "out": tmp / "maps"}


def test_a_failed_province_is_reported_and_the_others_finish(runs):
    res = runs["result"]
    assert [o.code for o in res.outcomes] == sorted([*OK, BROKEN])
    bad = next(o for o in res.outcomes if o.code == BROKEN)
    assert not bad.ok and "communes.geojson" in bad.error and "not found" in bad.error
    assert "Traceback" not in bad.error and 'File "' not in bad.error
    assert [o.code for o in res.failed] == [BROKEN]
    assert all(o.ok for o in res.outcomes if o.code in OK)
    kinds = [(k, w.code) for k, w in runs["events"] if k in ("done", "failed")]
    assert sorted(kinds) == sorted([("done", c) for c in OK] + [("failed", BROKEN)])
    table = res.table.set_index("province_code")
    assert table.loc[BROKEN, "status"] == "failed" and table.loc["VN", "status"] == "failed"
    assert math.isnan(table.loc[BROKEN, "population"]) or table.loc[BROKEN, "population"] is None


def test_national_table_equals_the_single_runs_except_cross_border_gains(runs):
    table = runs["result"].table.set_index("province_code")
    for code, single in runs["singles"].items():
        row = table.loc[code]
        s = single.summary
        assert "cross_border" not in s["access"]       # the single runs had no halo
        assert row["population"] == pytest.approx(s["population"]["total"], rel=1e-12)
        assert row["demand_units"] == s["access"]["demand"]["units"]
        for thr, v in s["access"]["coverage"]["station"].items():
            # national = the province's own facilities (the single run) + the documented gain
            assert row[f"station_{thr}min_covered"] == pytest.approx(
                v["population"] + row[f"station_{thr}min_gain"], rel=1e-12, abs=1e-6)
            assert row[f"station_{thr}min_gain"] >= 0
        # scenarios and indicators concern the province's own facilities: equal
        scen = {r["scenario"]: r for r in s["plans"]["scenarios"]}
        today = next(r for n, r in scen.items() if n.endswith(" today"))
        only = next(r for n, r in scen.items() if n.endswith(" only"))
        assert row["scenario_today_points"] == today["service_points"]
        assert row["scenario_today_30min_share"] == pytest.approx(
            today["covered_30min_share"], rel=1e-12)
        assert row["scenario_mains_only_losing_30min"] == pytest.approx(
            only["losing_30min"], rel=1e-12)
        assert row["scenario_p_median_30min_share"] == pytest.approx(
            next(r for n, r in scen.items() if n.endswith("(p-median)"))["covered_30min_share"],
            rel=1e-12)
        ind = {i["name"]: i for i in s["access"]["indicators"]}
        assert row["beds_per_10k_target"] == ind["beds per 10,000 people"]["target"]
        # the national run wrote the province's outputs as a single run does
        nat = json.loads((runs["out"] / find_province(code).key / "summary.json")
                         .read_text(encoding="utf-8"))
        own = json.loads((single.out_dir / "summary.json").read_text(encoding="utf-8"))
        assert nat["plans"] == own["plans"] and nat["counts"] == own["counts"]
        assert nat["access"]["fca"] == own["access"]["fca"]
        assert nat["access"]["cross_border"]["coverage_own_facilities"] == \
            own["access"]["coverage"]
    # at least one province gains from its neighbours (they share borders)
    assert sum(table.loc[c, "station_best_served_across"] for c in OK) > 0


def _box_km(a, b) -> float:
    """Distance between two registry boxes (lon/lat degrees), roughly in km (upper bound
    of nothing: used only to pick generously the provinces around)."""
    dx = max(0.0, max(a[0], b[0]) - min(a[2], b[2])) * 111.32 * math.cos(math.radians(16))
    dy = max(0.0, max(a[1], b[1]) - min(a[3], b[3])) * 110.57
    return math.hypot(dx, dy)


def _minutes(xy: np.ndarray, fxy: np.ndarray) -> np.ndarray:
    """Brute force: straight line x detour / speed, every cell to every facility (min)."""
    if len(fxy) == 0:
        return np.full(len(xy), np.inf)
    dx = xy[:, None, 0] - fxy[None, :, 0]
    dy = xy[:, None, 1] - fxy[None, :, 1]
    t = np.sqrt(dx * dx + dy * dy) * DETOUR / (SPEED_KMH * 1000 / 60)
    return t.min(axis=1)


def test_cross_border_gains_recounted_by_brute_force(runs):
    table = runs["result"].table.set_index("province_code")
    boxes = {p.code: load_registry(p.code).bounds() for p in provinces()}
    facilities: dict[str, object] = {}
    for code, single in runs["singles"].items():
        cells = single.layers["demand_cells"]
        crs = cells.crs
        xy = cells[["x", "y"]].to_numpy(float)
        pop = cells["population"].to_numpy(float)
        own = single.layers["facilities"]
        own = own[(own["status"] == "active") & (own["tier"] == "station")]
        t_own = _minutes(xy, own.geometry.get_coordinates().to_numpy())
        # every station of every province within 250 km (box to box) except the broken one:
        # far more than the halo's reach of 21 km, so a facility the halo missed would show
        others = []
        for other, box in boxes.items():
            if other in (code, BROKEN) or _box_km(boxes[code], box) > 250:
                continue
            if other not in facilities:
                facilities[other] = pipeline.prepare(runs["cfg_for"](other)).layers.facilities
            f = facilities[other]
            f = f[(f["status"] == "active") & (f["tier"] == "station")].to_crs(crs)
            others.append(f.geometry.get_coordinates().to_numpy())
        t_other = _minutes(xy, np.vstack(others))
        reach = CUTOFF_MIN * (1 + 1e-12)
        t_all = np.minimum(t_own, t_other)
        across = (t_other < t_own) & (t_other <= reach)
        row = table.loc[code]
        assert row["station_best_served_across"] == pytest.approx(pop[across].sum(),
                                                                  rel=1e-9, abs=1e-6)
        for thr in THRESHOLDS["station"]:
            gain = pop[t_all <= thr].sum() - pop[t_own <= thr].sum()
            assert row[f"station_{thr:g}min_gain"] == pytest.approx(gain, rel=1e-9, abs=1e-6)
            assert row[f"station_{thr:g}min_share"] == pytest.approx(
                pop[t_all <= thr].sum() / pop.sum(), rel=1e-9)
        # the province's own demand cells in the national run say which are served across
        nat_cells = pyogrio.read_dataframe(
            runs["out"] / find_province(code).key / f"{find_province(code).key}.gpkg",
            layer="demand_cells", read_geometry=False)
        assert nat_cells["station_across_border"].astype(bool).to_numpy().tolist() == \
            across.tolist()


def test_national_row_and_outputs(runs):
    res = runs["result"]
    table = res.table
    nat = table[table["province_code"] == "VN"].iloc[0]
    ok = table[table["province_code"].isin(OK)]
    assert nat["population"] == pytest.approx(ok["population"].sum(), rel=1e-12)
    assert nat["station_30min_share"] == pytest.approx(
        ok["station_30min_covered"].sum() / ok["population"].sum(), rel=1e-12)
    assert nat["station_best_served_across"] == pytest.approx(
        ok["station_best_served_across"].sum(), rel=1e-12)
    folder = res.out_dir
    assert folder == runs["out"] / "vietnam"
    names = {p.name for p in folder.iterdir()}
    assert {"provinces.csv", "provinces.json", "national.html", "vietnam.gpkg", "vietnam.qgz",
            "report.html", "summary.json"} <= names
    csv = pd.read_csv(folder / "provinces.csv", dtype={"province_code": str})
    assert csv["province_code"].tolist() == [*sorted([*OK, BROKEN]), "VN"]
    data = json.loads((folder / "provinces.json").read_text(encoding="utf-8"))
    assert len(data["provinces"]) == 4 and data["national"]["province_code"] == "VN"
    # in the run's language, Vietnamese by default (output.language)
    assert data["columns"]["station_30min_share"] == "Trong vòng 30 phút tới trạm y tế xã (tỷ lệ)"
    assert data["national"]["province_name"] == "Việt Nam"
    page = (folder / "national.html").read_text(encoding="utf-8")
    assert "cdn.jsdelivr" not in page and "L.geoJSON" in page   # offline: Leaflet inlined
    assert (folder / "national.html").stat().st_size < 5_000_000
    layers = dict(pyogrio.list_layers(folder / "vietnam.gpkg"))
    assert {"provinces", "coverage_communes", "facilities"} <= set(layers)
    assert pyogrio.read_info(folder / "vietnam.gpkg", layer="provinces")["features"] == 3
    with zipfile.ZipFile(folder / "vietnam.qgz") as zf:
        qgs = zf.read("vietnam.qgs").decode("utf-8")
    assert "./vietnam.gpkg|layername=provinces" in qgs
    report_html = (folder / "report.html").read_text(encoding="utf-8")
    assert "Cà Mau" in report_html and "not found" in report_html
    assert "Lai Châu" in report_html and "../laichau/report.html" in report_html
    for code in OK:
        key = find_province(code).key
        assert (runs["out"] / key / "report.html").exists()
    assert not (runs["out"] / "camau").exists()


def test_error_message_has_no_traceback():
    class KilledWorker(Exception):
        pass

    msg = error_message(KilledWorker("task x"), memory_limit=3 * 10**9)
    assert "memory limit of 3.0 GB" in msg and "--memory-per-worker" in msg
    assert error_message(ValueError("bad\n  File x")) == "ValueError: bad"


def test_parse_provinces():
    assert len(parse_provinces("all")) == 34
    assert [p.code for p in parse_provinces("42, Nghệ An,42")] == ["42", "40"]
    with pytest.raises(Exception, match="unknown province 'Atlantis'"):
        parse_provinces("42,Atlantis")


@pytest.mark.parametrize(("argv", "message"), [
    (["--province", "42,Atlantis"], "unknown province 'Atlantis'"),
    (["--province", "all", "--workers", "0"], "--workers: expected 1 or more"),
    (["--province", "all", "--scheduler", "tcp://127.0.0.1:1", "--workers", "2"],
     "apply to a local cluster only"),
    (["--province", "all", "--memory-per-worker", "lots"], "expected a size such as 4GB"),
])
def test_cli_national_bad_options_exit_2(tmp_path, capsys, argv, message):
    assert main(["run", *argv, "--out", str(tmp_path)]) == 2
    assert message in capsys.readouterr().err
    assert not any(tmp_path.iterdir())


def test_cli_national_two_provinces_on_local_processes(tmp_path, capsys):
    """The command end to end on two worker processes (registry alone, `[data] base =
    false`: no population, so the analyses are skipped and the run is quick), in English (--lang
    en: the provinces' outputs and the national ones); a second run refuses to overwrite."""
    cfg = tmp_path / "registry_only.toml"
    cfg.write_text("[data]\nbase = false\n", encoding="utf-8")
    out = tmp_path / "out"
    argv = ["run", "--config", str(cfg), "--province", "12, Điện Biên", "--workers", "2",
            "--memory-per-worker", "2GB", "--no-cross-border", "--lang", "en", "--out", str(out)]
    assert main(argv) == 0
    err = capsys.readouterr().err
    assert "2 workers x 1 thread, 2.0 GB each" in err
    assert "ok      Lai Châu (12)" in err
    for key in ("laichau", "dienbien", "vietnam"):
        assert (out / key / "report.html").exists()
    csv = pd.read_csv(out / "vietnam" / "provinces.csv", dtype={"province_code": str})
    assert csv["province_code"].tolist() == ["11", "12", "VN"]
    assert csv["note"].iloc[0].startswith("population unknown")    # the row says why
    page = (out / "vietnam" / "report.html").read_text(encoding="utf-8")
    assert '<html lang="en">' in page and "Viet Nam: health facility network planning" in page
    assert '<html lang="en">' in (out / "laichau" / "report.html").read_text(
        encoding="utf-8")
    assert main(argv) == 2
    assert "pass --overwrite" in capsys.readouterr().err


def test_national_map_draws_in_chromium_offline(runs):
    from tests._browser import ARTIFACTS, load_page

    page = load_page(runs["result"].out_dir / "national.html",
                     screenshot=ARTIFACTS / "map_national.png")
    assert page.errors == [] and page.alerts == []
    assert page.layers == ["Tỉnh: trong vòng 30 phút tới trạm y tế xã (3)",
                           "Xã: trong vòng 30 phút tới trạm y tế xã (123)"]
    assert all(u.startswith("http://127.0.0.1:") for u in page.resources), page.resources


def test_national_page_and_map_in_vietnamese_then_english(runs, tmp_path):
    """The national outputs in Vietnamese (the default): the page, the map (its own text and
    every popup and tooltip), the table's column labels and the QGIS project's titles hold no
    English but data (names, the failed province's error); the same outcomes written with
    lang="en" are in English."""
    from gis.outputs import national as NO
    from tests._browser import ARTIFACTS, load_page
    from tests._i18n_check import english_words, map_feature_texts

    folder = runs["result"].out_dir
    page = load_page(folder / "report.html", screenshot=ARTIFACTS / "national_report_vi.png")
    assert page.errors == [] and page.lang == "vi" and page.overflow == []
    assert english_words(page.own_text) == []
    text = (folder / "report.html").read_text(encoding="utf-8")
    assert "Số liệu toàn quốc" in text
    assert "Việt Nam: quy hoạch mạng lưới cơ sở y tế, 4 tỉnh" in text
    assert "Các tỉnh bị lỗi" in text and "not found" in text      # the error is data
    m = load_page(folder / "national.html", popup=False)
    assert m.errors == [] and english_words(m.own_text) == []
    popups = map_feature_texts((folder / "national.html").read_text(encoding="utf-8"))
    assert len(popups) == 2 * (3 + 123) and english_words(popups) == []
    data = json.loads((folder / "provinces.json").read_text(encoding="utf-8"))
    assert english_words(list(data["columns"].values())) == []
    with zipfile.ZipFile(folder / "vietnam.qgz") as zf:
        qgs = zf.read("vietnam.qgs").decode("utf-8")
    assert "<title>Việt Nam: mạng lưới cơ sở y tế, lần chạy toàn quốc</title>" in qgs
    # English: the same outcomes, written again
    res = runs["result"]
    out = NO.write_national_outputs(tmp_path / "vietnam", res.outcomes,
                                    run={"cross_border": True}, lang="en",
                                    thresholds_min=THRESHOLDS)
    assert out.summary["columns"]["station_30min_share"] == \
        "Within 30 min of a commune health station (share)"
    assert out.table.iloc[-1]["province_name"] == "Viet Nam"
    en = (tmp_path / "vietnam" / "report.html").read_text(encoding="utf-8")
    assert '<html lang="en">' in en and "National figures" in en
    assert "Viet Nam: health facility network planning, 4 provinces" in en
    # the figures are the same in both languages
    pd.testing.assert_frame_equal(out.table.drop(columns="province_name"),
                                  res.table.drop(columns="province_name"))


EVIL = "<script>alert(1)</script>"


def test_national_outputs_escape_user_text(tmp_path):
    """Province names and error messages appear as text in the map and the national page."""
    from types import SimpleNamespace

    import geopandas as gpd
    import shapely

    from gis.outputs import national as NO

    summary = {"population": {"total": 1000.0, "is_estimate": False},
               "counts": {"new_communes": 1, "legacy_communes": 2, "stations": 2, "hospitals": 0},
               "access": {"demand": {"units": 4},
                          "coverage": {"station": {"30": {"population": 900.0, "share": 0.9,
                                                          "beyond": 100.0}}}}}
    layers = {"outline": gpd.GeoDataFrame({"province_code": ["01"], "province_name": [EVIL]},
                                          geometry=[shapely.box(105, 20, 105.5, 20.5)],
                                          crs=4326),
              "communes": gpd.GeoDataFrame({"province_code": ["01"], "province_name": [EVIL],
                                            "commune_code": ["00001"], "commune_name": [EVIL],
                                            "population": [1000.0],
                                            "station_30min_share": [0.9]},
                                           geometry=[shapely.box(105, 20, 105.5, 20.5)],
                                           crs=4326)}
    ok = SimpleNamespace(code="01", name=EVIL, key="a", ok=True, error=None, summary=summary,
                         layers=layers, wall_s=1.0, peak_rss_mb=100.0)
    bad = SimpleNamespace(code="02", name="B", key="b", ok=False, error=EVIL, summary=None,
                          layers={}, wall_s=float("nan"), peak_rss_mb=None)
    out = NO.write_national_outputs(tmp_path / "vietnam", [ok, bad], run={"cross_border": False},
                                    thresholds_min={"station": [30.0]})
    table = out.table.set_index("province_code")
    assert table.loc["VN", "station_30min_share"] == pytest.approx(0.9)
    assert table.loc["VN", "population"] == 1000.0 and table.loc["02", "status"] == "failed"
    for name in ("national.html", "report.html"):
        text = (tmp_path / "vietnam" / name).read_text(encoding="utf-8")
        assert EVIL not in text
        # escaped as HTML (in the map, inside JSON whose "&" is escaped too)
        assert "&lt;script&gt;alert(1)" in text or "\\u0026lt;script\\u0026gt;alert(1)" in text
