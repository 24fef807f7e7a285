"""What stopped `gis run --province P` for some of the 34 provinces, on their real rows:
Thái Nguyên's polygons that self-intersect once reprojected, Hồ Chí Minh City's Bàu Bàng with
no former station, and the census rows of island districts without communes (Hải Phòng, Quảng
Ngãi). Expected figures come from the raw files in ../shared/data read with pyogrio and
pandas, and from hand cases."""

from __future__ import annotations

import logging

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from pyproj import Transformer

from gis.analyses.plans import official_plan
from gis.errors import LayerError
from gis.inputs import layers as L
from gis.inputs import readers as R
from gis.inputs.config import parse_config
from gis.inputs.registry import load_registry
from gis.inputs.stations import communes_without_station
from gis.pipeline import prepare
from tests.conftest import CENSUS_2019, COMMUNES_2025, ROOT, require_shared


def _raw_communes(province_code: str):
    """The province's rows of the national file as GDAL reads them (rings left open closed)."""
    return gpd.read_file(require_shared(COMMUNES_2025), on_invalid="fix",
                         where=f"province_code = '{province_code}'")


# --- Thái Nguyên: polygons valid in lon/lat, self-intersecting in UTM ----------------------

def test_thai_nguyen_polygons_valid_after_reprojection_and_split():
    """Lam Vỹ (05542) of the national file, reprojected to UTM 48N as it comes (rings closed
    by GDAL, mended in lon/lat), self-intersects: GEOS refused to cut it into its pre-2025
    pieces. The reader mends it again in the working CRS, and the pre-2025 pieces of every
    post-2025 commune cover it."""
    raw = _raw_communes("19")
    reg = load_registry("19")
    crs = L.working_crs(reg, "auto")
    lam_vy = shapely.make_valid(raw.loc[raw["commune_code"] == "05542", "geometry"].iloc[0])
    to_utm = Transformer.from_crs(4326, crs, always_xy=True)
    utm = shapely.transform(lam_vy, lambda xy: np.column_stack(to_utm.transform(xy[:, 0],
                                                                                xy[:, 1])))
    assert lam_vy.is_valid and not utm.is_valid          # the case that broke the split
    com = R.read_communes(COMMUNES_2025, reg, crs=crs, population_field="population_2025")
    assert com.geometry.is_valid.all()
    census = R.read_population_table(require_shared(CENSUS_2019), reg,
                                     population_field="population_2019")
    lay = L.build_layers(reg, crs=crs, communes=com, legacy_population=census,
                         legacy_population_label="census")
    pieces = lay.communes_legacy
    for code, area in zip(com["commune_code"], com.geometry.area, strict=True):
        members = reg.legacy.loc[reg.legacy["new_commune_codes"].str.contains(code),
                                 "commune_code"]
        got = pieces[pieces["commune_code"].isin(members)].geometry.intersection(
            com.set_index("commune_code").geometry[code]).area.sum()
        assert got == pytest.approx(area, rel=1e-3), code
    assert lay.communes_legacy["population"].sum() == pytest.approx(census.sum())


# --- a post-2025 commune without any former station ----------------------------------------

def test_communes_without_station_hand_cases():
    # A's split station goes to C, whose registry default it is; A keeps its other station
    out, still = communes_without_station(["A", "A", "B"], [["A", "C"], [], []],
                                          ["C", "A", "B"], ["A", "B", "C"])
    assert out.tolist() == ["C", "A", "B"] and still == []
    # A has no station to spare: C stays without one
    out, still = communes_without_station(["A", "B"], [["A", "C"], []], ["A", "B"],
                                          ["A", "B", "C"])
    assert out.tolist() == ["A", "B"] and still == ["C"]
    # two candidates: the one whose default is C first (position 2, not 0)
    out, still = communes_without_station(["A", "A", "B", "B"],
                                          [["A", "C"], [], ["B", "C"], []],
                                          ["A", "A", "C", "B"], ["A", "B", "C"])
    assert out.tolist() == ["A", "A", "C", "B"] and still == []
    # the input is not changed
    given = np.array(["A", "A"], dtype=object)
    communes_without_station(given, [["A", "B"], []], ["B", "A"], ["A", "B"])
    assert given.tolist() == ["A", "A"]


@pytest.fixture(scope="module")
def hcm():
    return prepare(parse_config({"province": {"name": "79"}}, base_dir=ROOT, source="test"))


def test_bau_bang_gets_the_station_of_lai_uyen(hcm):
    """Bàu Bàng (25822) is the former thị trấn Lai Uyên (25822), split in 2025 between Bàu
    Bàng and Long Nguyên (25819); Lai Uyên's registry centre lies in Long Nguyên's polygon,
    so its station went there and Bàu Bàng had none: the official plan stopped with "25822
    Bàu Bàng has no main station". Now the split station goes to the commune left without
    one, sited inside it."""
    raw = _raw_communes("79").set_index("commune_code")
    reg = load_registry("79")
    lai_uyen = reg.legacy.set_index("commune_code").loc["25822"]
    assert lai_uyen["new_commune_codes"].split(";") == ["25819", "25822"]
    centre = shapely.Point(lai_uyen["lon"], lai_uyen["lat"])
    assert raw.geometry["25819"].contains(centre) and not raw.geometry["25822"].contains(centre)
    lay = hcm.layers
    st = lay.facilities[(lay.facilities["tier"] == "station")
                        & (lay.facilities["status"] == "active")]
    assert set(lay.communes["commune_code"]) <= set(st["commune_code"])  # every commune
    mine = st[st["commune_code"] == "25822"]
    assert mine["facility_id"].tolist() == ["TYT-25822"]
    assert mine["location_source"].iloc[0].startswith(
        "estimate: registry centre of the pre-2025 commune, moved inside its post-2025 commune")
    site = mine.to_crs(4326).geometry.iloc[0]
    assert shapely.buffer(raw.geometry["25822"], 1e-6).contains(site)
    plan = official_plan(lay.facilities, lay.communes, hcm.registry, branches=False)
    assert plan.main_ids().count("TYT-25822") == 1
    a = plan.actions.set_index("facility_id")
    assert (a.loc[plan.main_ids(), "target_commune_code"].value_counts() == 1).all()
    assert len(plan.main_ids()) == len(lay.communes)


def test_a_commune_no_station_can_reach_gets_an_estimated_one(hcm, monkeypatch):
    """When no split station can be spared, the commune gets a station estimated at its
    registry centre, kept inside its polygon, labelled, and the plan has its main station."""
    monkeypatch.setattr(L, "communes_without_station",
                        lambda station_commune, *a, **k: (np.asarray(station_commune,
                                                                     dtype=object), []))
    prep = hcm
    reg = prep.registry
    lay = L.build_layers(reg, crs=prep.layers.crs, communes=prep.layers.communes)
    fac = lay.facilities
    new = fac[fac["facility_id"] == "TYT-N25822"]
    assert len(new) == 1 and new["commune_code"].iloc[0] == "25822"
    assert new["name"].iloc[0] == "Trạm Y tế xã Bàu Bàng"
    assert new["location_source"].iloc[0].startswith(
        "estimate: registry centre of the post-2025 commune, which no former station belongs to")
    poly = lay.communes.set_index("commune_code").geometry["25822"]
    assert shapely.buffer(poly, 1.0).contains(new.geometry.iloc[0])
    assert "stations of post-2025 communes that no former station belongs to, estimated at " \
        "the commune's registry centre: 25822" in lay.notes
    plan = official_plan(fac, lay.communes, reg, branches=True)
    assert "TYT-N25822" in plan.main_ids()


# --- census rows that are not communes -----------------------------------------------------

@pytest.mark.parametrize(("province", "district", "code"), [
    ("31", "Huyện Bạch Long Vĩ", "D318"), ("51", "Huyện Lý Sơn", "D536")])
def test_census_rows_of_island_districts(province, district, code, caplog):
    """The national census lists an island district without communes as a row with no
    commune code and no count: it is the registry's island district, not an error; every
    other row of the province is read as it is."""
    raw = pd.read_csv(require_shared(CENSUS_2019), dtype=str, keep_default_na=False)
    reg = load_registry(province)
    empty = raw[raw["commune_code"].str.strip() == ""]
    assert (empty["district_name"] == district).sum() == 1
    assert empty.loc[empty["district_name"] == district, "population_2019"].iloc[0] == ""
    known = raw[raw["commune_code"].isin(set(reg.legacy["commune_code"]))]
    with caplog.at_level(logging.INFO, logger="gis.inputs.readers"):
        pop = R.read_population_table(CENSUS_2019, reg, population_field="population_2019")
    assert np.isnan(pop[code])
    assert len(pop) == len(known) + 1
    assert pop.sum() == pd.to_numeric(known["population_2019"].replace("", np.nan)).sum()
    assert f"({district}) has no commune code: the island district without communes {code}" \
        in caplog.text


def test_census_rows_without_code_hand_cases(tmp_path, caplog):
    """A row with neither code nor count is skipped with a note; a row with people but no
    code is an error naming it."""
    reg = load_registry("42")
    codes = reg.legacy["commune_code"].iloc[:2].tolist()
    ok = tmp_path / "ok.csv"
    ok.write_text(f"district_name,commune_code,population\n,{codes[0]},100\nTotal,,\n"
                  f",{codes[1]},50\n", encoding="utf-8")
    with caplog.at_level(logging.INFO, logger="gis.inputs.readers"):
        pop = R.read_population_table(ok, reg)
    assert pop.to_dict() == {codes[0]: 100.0, codes[1]: 50.0}
    assert "row 3 (Total) has no commune code and no population: not a commune, skipped" \
        in caplog.text
    bad = tmp_path / "bad.csv"
    bad.write_text(f"commune_code,population\n{codes[0]},100\n,70\n", encoding="utf-8")
    with pytest.raises(LayerError, match="row 3: empty id"):
        R.read_population_table(bad, reg)
