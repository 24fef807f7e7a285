"""config.toml: loaded into frozen dataclasses; bad keys, types and values name the key."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from gis.errors import ConfigError
from gis.inputs.config import Config, load_config, parse_config

ROOT = Path(__file__).resolve().parents[1]


def test_project_config_loads_with_ha_tinh_targets():
    cfg = load_config(ROOT / "config.toml")
    assert cfg.province.name == "42"
    assert cfg.targets.doctors_per_10k == 14.6
    assert cfg.targets.beds_per_10k == 45.0
    assert cfg.targets.doctors_per_station == 4.0
    assert cfg.access.thresholds_min["station"] == (15.0, 30.0, 60.0)
    assert cfg.travel.speed_kmh["motorbike"] == 30.0
    assert cfg.path(cfg.layers.facilities) == ROOT / "layers" / "hatinh_hospitals.csv"
    assert cfg.path("") is None


def test_config_is_frozen():
    cfg = Config()
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.province = None  # type: ignore[misc]


@pytest.mark.parametrize(
    ("data", "match"),
    [
        ({"provnce": {}}, r"unknown key in top level: provnce"),
        ({"province": {"nmae": "42"}}, r"unknown key in \[province\]: nmae"),
        ({"demand": {"cell_size_m": "500"}}, r"demand.cell_size_m: expected a number"),
        ({"demand": {"cell_size_m": -5}}, r"demand.cell_size_m: expected a number more than zero"),
        ({"demand": {"cell_size_m": 5}}, r"demand.cell_size_m: expected 10 to 50000"),
        ({"travel": {"detour_factor": 0.8}}, r"travel.detour_factor: expected 1 or more"),
        ({"travel": {"speed_kmh": {"motorbike": 0}}}, r"travel.speed_kmh.motorbike"),
        ({"travel": {"mode": "boat"}}, r"travel.mode: 'boat' has no speed"),
        ({"travel": {"road_speed_kmh": {"primary": 50}}}, r"travel.road_speed_kmh.default"),
        ({"access": {"thresholds_min": {"station": [30, 15]}}},
         r"access.thresholds_min.station: expected increasing"),
        ({"access": {"thresholds_min": {"clinic": [30]}}}, r"unknown tier 'clinic'"),
        ({"access": {"e2sfca": {"decay": "linear"}}}, r"access.e2sfca.decay"),
        ({"access": {"cutoff": 3}}, r"unknown key in \[access\]: cutoff"),
        ({"access": {"cross_border": "yes"}},
         r'access.cross_border: expected true, false or "auto"'),
        ({"targets": {"beds_per_10k": True}}, r"targets.beds_per_10k: expected a number"),
        ({"output": {"folder": ""}}, r"output.folder"),
        ({"province": {"population_total": float("nan")}}, r"province.population_total"),
        ({"network": {"transfer_mode": "boat"}}, r"network.transfer_mode: 'boat' has no speed"),
        ({"network": {"satellite_k": 0}}, r"network.satellite_k: expected a whole number"),
        ({"network": {"satellite_specialties": "eye"}}, r"network.satellite_specialties"),
        ({"network": {"satellite_time_min": -1}}, r"network.satellite_time_min"),
        ({"network": {"k": 3}}, r"unknown key in \[network\]: k"),
    ],
)
def test_bad_config_names_the_key(data, match):
    with pytest.raises(ConfigError, match=match):
        parse_config(data, base_dir=Path("."), source="test.toml")


def test_bad_toml_and_missing_file_name_the_file(tmp_path):
    bad = tmp_path / "c.toml"
    bad.write_text("[province\nname = 42", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"c.toml: not valid TOML"):
        load_config(bad)
    with pytest.raises(ConfigError, match=r"nope.toml: config file not found"):
        load_config(tmp_path / "nope.toml")


def test_integer_province_code_is_padded():
    cfg = parse_config({"province": {"name": 1}}, base_dir=Path("."))
    assert cfg.province.name == "01"


def test_with_province_drops_province_specific_inputs():
    cfg = load_config(ROOT / "config.toml")
    other = cfg.with_province("40")
    assert other.province.name == "40"
    assert other.layers.facilities == ""
    assert other.province.population_total == 0
    assert other.targets == cfg.targets
    # the satellite specialties name the configured province's hospitals
    assert cfg.network.satellite_specialties == ("eye", "lung", "mental health")
    assert other.network.satellite_specialties == ()
    assert other.network.transfer_mode == cfg.network.transfer_mode


@pytest.mark.parametrize(("value", "expected"), [("auto", None), (True, True), (False, False)])
def test_cross_border_switch(value, expected):
    cfg = parse_config({"access": {"cross_border": value}}, base_dir=Path("."))
    assert cfg.access.cross_border is expected
    assert load_config(ROOT / "config.toml").access.cross_border is None   # "auto"
