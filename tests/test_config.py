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
    assert cfg.data.base is True
    assert parse_config({"data": {"base": False}}, base_dir=Path(".")).data.base is False
    assert Config().data.base is True   # the built-in defaults run on the base data
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
        ({"travel": {"road_speed_kmh": {"primary": -5}}}, r"travel.road_speed_kmh.primary"),
        ({"travel": {"road_speed_kmh": {"boat": {"primary": 5}}}},
         r"travel.road_speed_kmh: unknown mode 'boat'"),
        ({"travel": {"road_speed_kmh": {"car": {"primary": 5}, "track": 10}}},
         r"travel.road_speed_kmh: mixes speeds and tables"),
        ({"travel": {"model": "network"}}, r"travel.model: expected one of 'straight'"),
        ({"travel": {"model": "roads"}}, r"travel.model = \"roads\" needs layers.roads"),
        ({"travel": {"model": "friction", "speed_kmh": {"boat": 10}, "mode": "boat"},
          "network": {"transfer_mode": "boat"}},
         r"travel.mode: 'boat' has no road speeds"),
        ({"travel": {"roads": {"snap_max_m": 0}}}, r"travel.roads.snap_max_m"),
        ({"travel": {"roads": {"extract_margin_km": "far"}}},
         r"travel.roads.extract_margin_km: expected \"auto\""),
        ({"travel": {"roads": {"snap": 5}}}, r"unknown key in \[travel.roads\]: snap"),
        ({"travel": {"friction": {"cell_size_m": 5}}}, r"travel.friction.cell_size_m"),
        ({"travel": {"friction": {"engine": "sweep"}}}, r"travel.friction.engine"),
        ({"travel": {"friction": {"landcover_speeds_kmh": {"water": 0}}}},
         r"landcover_speeds_kmh.water: expected a land-cover class number"),
        ({"layers": {"landcover": "lc.tif"}}, r"layers.landcover: a land-cover raster"),
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
        ({"data": {"base": "yes"}}, r"data.base: expected true .* or false"),
        ({"data": {"bsae": True}}, r"unknown key in \[data\]: bsae; allowed: base"),
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


def test_with_province_keeps_layers_and_drops_province_specific_settings():
    cfg = load_config(ROOT / "config.toml")
    other = cfg.with_province("40")
    assert other.province.name == "40"
    # layers are kept: the readers filter them to the province (issue 11, item 4)
    assert other.layers == cfg.layers and other.data == cfg.data
    assert other.province.population_total == 0 and other.province.crs == "auto"
    assert other.targets == cfg.targets
    # the satellite specialties name the configured province's hospitals
    assert cfg.network.satellite_specialties == ("eye", "lung", "mental health")
    assert other.network.satellite_specialties == ()
    assert other.network.transfer_mode == cfg.network.transfer_mode
    roads = parse_config({"layers": {"roads": "r.gpkg"}}, base_dir=Path("."))
    assert roads.travel.model == "roads"
    assert roads.with_province("40").travel.model == "straight"


def test_travel_model_choice_and_road_speeds():
    base = Path(".")
    assert parse_config({}, base_dir=base).travel.model == "straight"
    # a road layer without travel.model means the road model (as before the key existed)
    cfg = parse_config({"layers": {"roads": "r.gpkg"}}, base_dir=base)
    assert cfg.travel.model == "roads"
    cfg = parse_config({"layers": {"roads": "r.gpkg"}, "travel": {"model": "straight"}},
                       base_dir=base)
    assert cfg.travel.model == "straight"
    # the flat table of earlier versions: the speeds of travel.mode
    cfg = parse_config({"travel": {"mode": "car", "road_speed_kmh": {"primary": 55}}},
                       base_dir=base)
    assert cfg.travel.road_speed_kmh == {"car": {"primary": 55.0}}
    cfg = parse_config({"travel": {"model": "friction", "road_speed_kmh": {
        "motorbike": {"track": 12, "motorway": 0}, "walking": {"default": 4}},
        "friction": {"landcover_speeds_kmh": {"80": 0, "default": 3}}}}, base_dir=base)
    assert cfg.travel.road_speed_kmh["motorbike"] == {"track": 12.0, "motorway": 0.0}
    assert cfg.travel.friction.landcover_speeds_kmh == {"80": 0.0, "default": 3.0}
    assert cfg.travel.roads.extract_margin_km is None
    assert parse_config({"travel": {"roads": {"extract_margin_km": 40}}},
                        base_dir=base).travel.roads.extract_margin_km == 40.0


def test_road_modes_match_the_road_model():
    from gis.inputs.config import ROAD_MODES
    from gis.model.roads import DEFAULT_CLASS_SPEEDS_KMH, MODES

    assert set(ROAD_MODES) == set(MODES) == set(DEFAULT_CLASS_SPEEDS_KMH)


@pytest.mark.parametrize(("value", "expected"), [("auto", None), (True, True), (False, False)])
def test_cross_border_switch(value, expected):
    cfg = parse_config({"access": {"cross_border": value}}, base_dir=Path("."))
    assert cfg.access.cross_border is expected
    assert load_config(ROOT / "config.toml").access.cross_border is None   # "auto"
