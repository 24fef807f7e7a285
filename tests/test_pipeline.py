"""``gis run`` end to end: summary figures, outputs staged, existing outputs kept on failure."""

from __future__ import annotations

import json
from pathlib import Path

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
    assert s["population"]["total"] == pytest.approx(3_470_988)
    assert s["population"]["is_estimate"] is True


def test_real_data_run(tmp_path, communes_2025_path, census_2019_path):
    out = tmp_path / "real"
    cfg = ROOT / "examples" / "hatinh_shared_data.toml"
    assert main(["-q", "run", "--config", str(cfg), "--out", str(out)]) == 0
    s = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert s["population"]["total"] == 1_623_061
    assert s["population"]["is_estimate"] is False
    assert s["population"]["legacy_total"] == 1_288_866
