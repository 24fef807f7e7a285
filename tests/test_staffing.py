"""Staff and beds: the staffing table, province totals spread by the stated rule (hand cases),
and Ha Tinh's published figures (the derived 168 station doctors reproduce the published
shortfall of 108 against 4 doctors per commune health unit)."""

from __future__ import annotations

import tomllib
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from gis.errors import LayerError
from gis.inputs import readers as R
from gis.inputs import staffing as S
from gis.inputs.config import load_config, parse_config

ROOT = Path(__file__).resolve().parents[1]


def _facilities(rows):
    """rows: (id, tier, x, y, commune_code, legacy_commune_code, doctors, beds)."""
    ids, tiers, xs, ys, codes, legacy, doctors, beds = zip(*rows, strict=True)
    return gpd.GeoDataFrame({
        "facility_id": ids, "tier": tiers, "status": "active", "commune_code": codes,
        "legacy_commune_code": legacy, "doctors": np.array(doctors, float),
        "nurses": np.nan, "beds": np.array(beds, float), "source": "test register"},
        geometry=shapely.points(xs, ys), crs=32648)


def _legacy(pops):
    """Pre-2025 communes L1..Ln as unit squares at x = 0, 10, 20, ... with the populations."""
    return gpd.GeoDataFrame({"commune_code": [f"L{i + 1}" for i in range(len(pops))],
                             "population": np.array(pops, float)},
                            geometry=[shapely.box(10 * i, 0, 10 * i + 1, 1)
                                      for i in range(len(pops))], crs=32648)


@pytest.fixture()
def three_stations():
    # stations S1, S2 in post-2025 commune A, S3 in commune B; own communes of 100, 300, 600
    fac = _facilities([("S1", "station", 0, 0, "A", "L1", np.nan, np.nan),
                       ("S2", "station", 10, 0, "A", "L2", np.nan, np.nan),
                       ("S3", "station", 20, 0, "B", "L3", np.nan, np.nan)])
    return fac, _legacy([100, 300, 600])


def test_spread_in_proportion_to_population(three_stations):
    fac, legacy = three_stations
    out, done = S.spread_totals(fac, totals={"station_doctors": 10}, communes_legacy=legacy)
    assert out["doctors"].tolist() == pytest.approx([1.0, 3.0, 6.0])   # 10 x 100/1000, ...
    assert out["doctors"].sum() == pytest.approx(10.0)
    assert all(out["doctors_source"].str.startswith("estimate: capacity.totals.station_doctors"))
    assert "pre-2025 commune" in out["doctors_source"].iloc[0]
    assert out["beds_source"].tolist() == ["unknown"] * 3
    assert done[0].facilities == 3 and done[0].spread == 10 and done[0].rule == "population"
    assert fac["doctors"].isna().all()                    # the input is not changed


def test_spread_equally_and_around_given_figures(three_stations):
    fac, legacy = three_stations
    out, _ = S.spread_totals(fac, totals={"station_doctors": 9}, rule="equal",
                             communes_legacy=legacy)
    assert out["doctors"].tolist() == pytest.approx([3.0, 3.0, 3.0])
    fac.loc[2, "doctors"] = 5.0                            # S3 given: 5 of the 9
    out, done = S.spread_totals(fac, totals={"station_doctors": 9}, communes_legacy=legacy)
    # the other 4 spread over S1, S2 as 100 : 300
    assert out["doctors"].tolist() == pytest.approx([1.0, 3.0, 5.0])
    assert out["doctors_source"].iloc[2] == "test register"
    assert done[0].given == 5 and done[0].given_facilities == 1
    assert "minus 5 given, spread over 2 stations" in out["doctors_source"].iloc[0]


def test_spread_capped_per_commune_is_water_filled(three_stations):
    fac, legacy = three_stations
    # uncapped: 0.6, 1.8, 3.6; B (S3) is capped at 3, so A takes the other 3 as 100 : 300
    out, _ = S.spread_totals(fac, totals={"station_doctors": 6},
                             max_per_commune={"station_doctors": 3}, communes_legacy=legacy)
    assert out["doctors"].tolist() == pytest.approx([0.75, 2.25, 3.0])
    assert out["doctors"].sum() == pytest.approx(6.0)
    assert "at most 3 per post-2025 commune" in out["doctors_source"].iloc[0]
    # shortfall against 3 per commune: A has 3, B has 3 -> 0; a total of 4 -> A 1.33, B 2.67
    out, _ = S.spread_totals(fac, totals={"station_doctors": 4},
                             max_per_commune={"station_doctors": 3}, communes_legacy=legacy)
    per = out.groupby("commune_code")["doctors"].sum()
    assert per["A"] == pytest.approx(4 * 400 / 1000) and per["B"] == pytest.approx(2.4)


def test_spread_errors_name_the_key(three_stations):
    fac, legacy = three_stations
    fac.loc[0, "doctors"] = 20.0
    with pytest.raises(LayerError, match=r"station_doctors = 10: the facilities already "
                                         r"give 20 doctors for 1 active stations"):
        S.spread_totals(fac, totals={"station_doctors": 10}, communes_legacy=legacy)
    fac.loc[0, "doctors"] = np.nan
    with pytest.raises(LayerError, match=r"at most 1 per post-2025 commune .* can hold 2"):
        S.spread_totals(fac, totals={"station_doctors": 5},
                        max_per_commune={"station_doctors": 1}, communes_legacy=legacy)
    with pytest.raises(LayerError, match="spread rule"):
        S.spread_totals(fac, totals={"station_doctors": 5}, rule="area")


def test_hospitals_take_the_population_of_their_nearest_communes():
    # communes at x = 0.5, 10.5, 20.5, 30.5 (pop 1, 2, 4, 8); hospitals at x = 0 and, two of
    # them on one site, at x = 30: the communes at 0.5 and 10.5 go to H1 (3 people), 20.5 and
    # 30.5 to the shared site (12 people, 6 each)
    fac = _facilities([("H1", "regional", 0, 0, "A", "", np.nan, np.nan),
                       ("H2", "regional", 30, 0, "B", "", np.nan, np.nan),
                       ("H3", "regional", 30, 0, "B", "", np.nan, np.nan)])
    legacy = _legacy([1, 2, 4, 8])
    assert S.nearest_population(fac, legacy).tolist() == [3.0, 6.0, 6.0]
    out, _ = S.spread_totals(fac, totals={"regional_beds": 150}, communes_legacy=legacy)
    assert out["beds"].tolist() == pytest.approx([30.0, 60.0, 60.0])
    assert "communes nearest each" in out["beds_source"].iloc[0]


def test_staffing_table_read_and_applied(tmp_path, three_stations):
    fac, _ = three_stations
    good = tmp_path / "staff.csv"
    good.write_text("facility_id,doctors,nurses,source\nS1,2,5,DoH 2024 list\nS3,,4,\n",
                    encoding="utf-8")
    table = R.read_staffing(good)
    assert table["source"].tolist() == ["DoH 2024 list", "table: staff.csv"]
    out = S.apply_staffing(fac, table, source=str(good))
    assert out["doctors"].tolist()[0] == 2 and np.isnan(out["doctors"].iloc[2])
    assert out["nurses"].iloc[0] == 5 and np.isnan(out["nurses"].iloc[1])
    assert out["nurses"].iloc[2] == 4
    assert out["doctors_source"].tolist() == ["DoH 2024 list", "unknown", "unknown"]
    assert out["nurses_source"].iloc[2] == "table: staff.csv"
    bad = tmp_path / "bad.csv"
    bad.write_text("facility_id,doctors,beds\nS1,two,\nS1,1,-3\n,1,1\n", encoding="utf-8")
    with pytest.raises(LayerError) as err:
        R.read_staffing(bad)
    text = str(err.value)
    assert "bad.csv" in text and "field 'doctors', row 2" in text and "not a number" in text
    assert "negative beds" in text and "duplicate" in text.lower() and "empty id" in text
    unknown = tmp_path / "unknown.csv"
    unknown.write_text("facility_id,doctors\nS9,1\n", encoding="utf-8")
    with pytest.raises(LayerError, match=r"S9.*not a facility of the facilities layer"):
        S.apply_staffing(fac, R.read_staffing(unknown), source=str(unknown))
    none = tmp_path / "none.csv"
    none.write_text("facility_id,staff\nS1,1\n", encoding="utf-8")
    with pytest.raises(LayerError, match="no field doctors, nurses or beds"):
        R.read_staffing(none)


def test_published_ha_tinh_figures_reproduce_the_shortfall():
    """config.toml: 4 x 69 - 108 = 168 station doctors, at most 4 per post-2025 commune;
    spread over the 209 stations the shortfall against 4 per commune is the published 108."""
    from gis.analyses.access import indicators
    from gis.pipeline import prepare

    cfg = load_config(ROOT / "config.toml")
    assert cfg.capacity.totals.values == {"station_doctors": 168.0}
    assert cfg.capacity.totals.max_per_commune == {"station_doctors": 4.0}
    prep = prepare(cfg)
    fac = prep.layers.facilities
    st = fac[fac["tier"] == "station"]
    assert len(st) == 209 and st["doctors"].notna().all()
    assert st["doctors"].sum() == pytest.approx(168.0)
    per_commune = st.groupby("commune_code")["doctors"].sum()
    assert len(per_commune) == 69 and per_commune.max() <= 4 + 1e-9
    assert np.maximum(4 - per_commune, 0).sum() == pytest.approx(108.0)
    ind = {i["name"]: i for i in indicators(fac, 1_623_061, doctors_per_10k=14.6,
                                              beds_per_10k=45, doctors_per_station=4)}
    unit = ind["doctors per commune health unit (post-2025 commune)"]
    assert unit["value"] == pytest.approx(168 / 69) and unit["gap"] == pytest.approx(108.0)
    assert unit["is_estimate"] is True and "estimate" in unit["note"]
    station = ind["doctors per commune station"]
    assert station["value"] == pytest.approx(168 / 209)
    assert station["gap"] == pytest.approx(4 * 209 - 168)   # no station reaches 4
    doctors = ind["doctors per 10,000 people"]               # hospitals' doctors unknown
    assert doctors["lower_bound"] is True and doctors["is_estimate"] is True
    assert doctors["value"] == pytest.approx(168 / 1_623_061 * 10_000)
    summary_spread = prep.staffing[0].as_dict()
    assert summary_spread["is_estimate"] and summary_spread["spread"] == pytest.approx(168)
    assert any("station_doctors = 168" in n for n in prep.layers.notes)


def test_staffing_and_totals_config_keys():
    data = tomllib.loads('[layers]\nstaffing = "staff.csv"\n[capacity.totals]\n'
                        'station_doctors = 10\nregional_beds = 500\nspread = "equal"\n'
                        'max_per_commune = {station_doctors = 4}\n')
    cfg = parse_config(data, base_dir=Path("."))
    assert cfg.layers.staffing == "staff.csv"
    assert cfg.capacity.totals.values == {"station_doctors": 10.0, "regional_beds": 500.0}
    assert cfg.capacity.totals.spread == "equal"
    assert cfg.with_province("40").capacity.totals.values == {}
    for bad, match in (
            ({"capacity": {"totals": {"station_doctor": 1}}}, "unknown key in .capacity.totals"),
            ({"capacity": {"totals": {"station_doctors": -1}}}, "station_doctors: expected"),
            ({"capacity": {"totals": {"spread": "area"}}}, "spread: expected one of"),
            ({"capacity": {"totals": {"max_per_commune": {"regional_beds": 3}}}},
             "no total regional_beds")):
        with pytest.raises(Exception, match=match):
            parse_config(bad, base_dir=Path("."))


def test_prepare_reads_the_staffing_table(tmp_path):
    from gis.pipeline import prepare

    table = tmp_path / "staff.csv"
    table.write_text("facility_id,doctors,beds\nTYT-18073,3,\nHT-RKA,40,220\n",
                     encoding="utf-8")
    cfg = parse_config({"layers": {"facilities": str(ROOT / "layers" / "hatinh_hospitals.csv"),
                                   "staffing": str(table)},
                        "province": {"population_total": 1_623_061}},
                       base_dir=tmp_path)
    fac = prepare(cfg).layers.facilities.set_index("facility_id")
    assert fac.loc["HT-RKA", "beds"] == 220 and fac.loc["HT-RKA", "doctors"] == 40
    assert fac.loc["HT-RKA", "beds_source"] == "table: staff.csv"
    assert fac.loc["TYT-18073", "doctors"] == 3
    assert fac.loc["HT-PGH", "beds"] == 1300                       # from the register
    assert fac.loc["HT-PGH", "beds_source"].startswith("laodong.vn")
    assert pd.isna(fac.loc["TYT-18077", "doctors"])                # no total: unknown
