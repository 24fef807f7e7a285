"""The ``gis`` command: exit codes, messages, outputs never half-written or overwritten."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from gis.cli import main

ROOT = Path(__file__).resolve().parents[1]


def test_registry_summary(capsys):
    assert main(["registry", "42"]) == 0
    out = capsys.readouterr().out
    assert "Tỉnh Hà Tĩnh (code 42)" in out
    assert "209 communes" in out and "69 communes" in out
    assert "18796 Kỳ Lợi -> 18754, 18823, 18832" in out


def test_registry_unknown_province_exits_2_with_close_matches(capsys):
    assert main(["registry", "Ha Tnh"]) == 2
    err = capsys.readouterr().err
    assert "unknown province 'Ha Tnh': did you mean Hà Tĩnh (42)" in err


def test_registry_json_and_list(capsys):
    assert main(["registry", "hatinh", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["legacy_communes"] == 209 and data["new_communes"] == 69
    assert main(["registry", "--list"]) == 0
    assert len(capsys.readouterr().out.strip().splitlines()) == 34


def test_layers_build_writes_geopackage_and_refuses_to_overwrite(tmp_path, capsys):
    out = tmp_path / "hatinh.gpkg"
    args = ["layers", "build", "--config", str(ROOT / "config.toml"), "--out", str(out)]
    assert main(args) == 0
    import pyogrio

    layers = dict(pyogrio.list_layers(out))
    assert set(layers) == {"communes_2025", "communes_legacy", "facilities"}
    info = pyogrio.read_info(out, layer="facilities")
    assert info["features"] == 209 + 20
    before = out.stat().st_mtime_ns
    capsys.readouterr()
    assert main(args) == 2
    err = capsys.readouterr().err
    assert f"output exists: {out}; pass --overwrite" in err
    assert "reading and building layers" not in err  # refused before any work
    assert out.stat().st_mtime_ns == before


def test_bad_config_exits_2_naming_the_key(tmp_path, capsys):
    cfg = tmp_path / "config.toml"
    cfg.write_text("[travel]\ndetour_factor = 0.5\n", encoding="utf-8")
    assert main(["layers", "build", "--config", str(cfg), "--out", str(tmp_path / "x.gpkg")]) == 2
    err = capsys.readouterr().err
    assert "config.toml: travel.detour_factor: expected 1 or more" in err
    assert not (tmp_path / "x.gpkg").exists()


def test_console_script_is_installed():
    proc = subprocess.run([sys.executable, "-m", "gis.cli", "--version"], capture_output=True,
                          text=True, check=False)
    assert proc.returncode == 0 and proc.stdout.startswith("gis ")


@pytest.mark.parametrize("bad", ["[province]\nname = \"Atlantis\"\n"])
def test_unknown_province_in_config(tmp_path, capsys, bad):
    cfg = tmp_path / "config.toml"
    cfg.write_text(bad, encoding="utf-8")
    assert main(["layers", "build", "--config", str(cfg), "--out", str(tmp_path / "x.gpkg")]) == 2
    assert "unknown province 'Atlantis'" in capsys.readouterr().err


def test_plan_official_round_trip_through_evaluate(tmp_path, capsys):
    plan = tmp_path / "official.csv"
    assert main(["plan", "official", "--config", str(ROOT / "config.toml"), "--no-branches",
                 "--out", str(plan)]) == 0
    before = plan.read_bytes()
    assert main(["plan", "official", "--config", str(ROOT / "config.toml"), "--out",
                 str(plan)]) == 2
    assert "pass --overwrite" in capsys.readouterr().err and plan.read_bytes() == before
    import pandas as pd

    df = pd.read_csv(plan, dtype=str)
    assert df["action"].value_counts().to_dict() == {"close": 140, "keep": 69}
    assert df.loc[df["action"] == "keep", "target_commune_code"].is_unique
    # an edited plan: reopen one closed station as a branch point of its commune
    closed = df.index[df["action"] == "close"][0]
    df.loc[closed, "action"] = "branch"
    edited = tmp_path / "edited.csv"
    df.to_csv(edited, index=False)
    out = tmp_path / "eval"
    capsys.readouterr()
    assert main(["plan", "evaluate", str(edited), "--config", str(ROOT / "config.toml"),
                 "--no-optimise", "--out", str(out), "--lang", "en"]) == 0
    captured = capsys.readouterr()
    printed, progress = captured.out, captured.err
    assert "edited" in printed and "Official, no branch points: 69" in printed
    # progress on every step, each scenario evaluated as a sub-step
    assert "… consolidation scenarios and location models" in progress
    assert "  … evaluating scenario 1 of 4: 209 today" in progress
    assert "  … evaluating scenario 4 of 4: edited" in progress
    # whole people, and the files written with what each is
    assert re.search(r"1,623,061 people", printed) and ".0 people" not in printed
    assert f"  {out / 'report.html'}  — the report: one-page summary" in printed
    assert f"  {out / 'plan.html'}  — map: every plan, with a plan selector" in printed
    s = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    rows = {r["scenario"]: r for r in s["plans"]["scenarios"]}
    assert rows["edited"]["service_points"] == 70 and rows["69 only"]["service_points"] == 69
    # one more service point never leaves anyone farther from a station
    assert rows["edited"]["mean_time_min"] <= rows["69 only"]["mean_time_min"]
    assert rows["edited"]["covered_30min"] >= rows["69 only"]["covered_30min"]
    table = pd.read_csv(out / "scenarios.csv")
    assert list(table["scenario"]) == list(rows)


def test_plan_evaluate_bad_plan_exits_2_naming_rows(tmp_path, capsys):
    bad = tmp_path / "bad.csv"
    bad.write_text("facility_id,action,target_commune_code\nTYT-18073,keep,18073\n"
                   "TYT-99999,shut,18073\n", encoding="utf-8")
    out = tmp_path / "eval"
    assert main(["plan", "evaluate", str(bad), "--config", str(ROOT / "config.toml"),
                 "--no-optimise", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "bad.csv: 4 problems found" in err
    assert "field 'action', row 3 (facility_id TYT-99999): unknown action" in err
    assert "row 3 (facility_id TYT-99999): not a station of the facilities layer" in err
    assert "208 stations have no action" in err and "68 post-2025 communes have no main" in err
    assert not out.exists()


def coarse_config(tmp_path: Path) -> str:
    """Ha Tinh from the registry on 2 km cells (the location models solve in seconds)."""
    cfg = tmp_path / "coarse.toml"
    hospitals = (ROOT / "layers" / "hatinh_hospitals.csv").as_posix()
    cfg.write_text(f'[province]\nname = "42"\npopulation_total = 1623061\n[layers]\n'
                   f'facilities = "{hospitals}"\n[demand]\ncell_size_m = 2000\n',
                   encoding="utf-8")
    return str(cfg)


def test_plan_optimise_set_cover_writes_a_plan_that_evaluates(tmp_path, capsys):
    cfg = coarse_config(tmp_path)
    plan = tmp_path / "cover.csv"
    assert main(["plan", "optimise", "--config", cfg, "--model", "set-cover", "--time", "15",
                 "--keep-official-mains", "--out", str(plan), "--lang", "en"]) == 0
    printed = capsys.readouterr().out
    objective = int(re.search(r"objective: (\d+) service points", printed).group(1))
    assert "optimality gap: 0.00%" in printed
    assert f"evaluate it with: gis plan evaluate {plan}" in printed
    import pandas as pd

    df = pd.read_csv(plan, dtype=str)
    counts = df["action"].value_counts().to_dict()
    assert counts["keep"] == 69 and 0 < counts["branch"] < 140
    assert counts["keep"] + counts["branch"] + counts["close"] == 209
    out = tmp_path / "eval"
    assert main(["-q", "plan", "evaluate", str(plan), "--config", cfg, "--no-optimise",
                 "--out", str(out)]) == 0
    s = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    rows = {r["scenario"]: r for r in s["plans"]["scenarios"]}
    # everyone within 15 min of a station today still is
    assert rows["cover"]["covered_15min"] == pytest.approx(rows["209 today"]["covered_15min"])
    assert rows["cover"]["losing_15min"] == 0
    # the round trip: the plan evaluates to the optimiser's objective
    assert rows["cover"]["service_points"] == objective
    # every model answers with a plan (a main station in every commune): the p-median too
    sites = tmp_path / "pmedian.csv"
    assert main(["-q", "plan", "optimise", "--config", cfg, "--model", "p-median", "--p", "75",
                 "--out", str(sites)]) == 0
    assert pd.read_csv(sites)["action"].value_counts().to_dict() == {
        "close": 134, "keep": 69, "branch": 6}


def test_plan_optimise_p_center_says_how_the_p_points_were_chosen(tmp_path, capsys):
    out = tmp_path / "center.csv"
    assert main(["plan", "optimise", "--config", coarse_config(tmp_path), "--model",
                 "p-center", "--p", "72", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    # Vietnamese by default; numbers with Vietnamese separators; the stated fill rule
    assert "điểm phục vụ đã đạt chuyến đi dài nhất" in printed
    assert "72 điểm được chọn theo quy tắc đã nêu: p-median" in printed
    assert re.search(r"hàm mục tiêu: \d+,\d\d phút, chuyến đi dài nhất", printed)
