"""The ``gis`` command: exit codes, messages, outputs never half-written or overwritten."""

from __future__ import annotations

import json
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
    assert main(args) == 2
    assert "exists; pass --overwrite" in capsys.readouterr().err
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
