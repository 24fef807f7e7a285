"""Every province on the built-in base data (issue 11): merged provinces keep their whole
census, islands stay inside their province, people are placed where WorldPop has them, the
configured layers are kept with ``--province``. Expected figures come from the raw files in
../shared/data, read here by other means (pyogrio, pandas, rasterio), never from the code."""

from __future__ import annotations

import json
import math
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pytest
import rasterio
import shapely

from gis.cli import main
from gis.inputs import readers as R
from gis.inputs.config import load_config, parse_config
from gis.inputs.registry import load_registry
from gis.model.demand import population_surface
from gis.pipeline import prepare
from tests.conftest import CENSUS_2019, COMMUNES_2025, SHARED_DATA, require_shared

ROOT = Path(__file__).resolve().parents[1]
WORLDPOP = SHARED_DATA / "worldpop" / "vnm_ppp_2020_1km_Aggregated_UNadj.tif"


def _legacy_province_codes(new_code: str) -> list[str]:
    """Pre-2025 provinces merged into a post-2025 one, from the vietnamadminunits tables read
    directly (not through gis.inputs.registry)."""
    from vietnamadminunits.database import get_data
    from vietnamadminunits.database.main import MODULE_DIR

    conv = json.loads((MODULE_DIR / "data" / "converter_2025.json").read_text(encoding="utf-8"))
    new = {r["provinceCode"]: r["provinceKey"] for r in
           get_data(["provinceCode", "provinceKey"], "admin_units")}
    legacy = {r["provinceKey"]: r["provinceCode"] for r in
              get_data(["provinceCode", "provinceKey"], "admin_units_legacy")}
    key = new[new_code]
    return sorted(legacy[k] for k in conv["DICT_PROVINCE"].get(key, [key]))


def _raw_census() -> pd.DataFrame:
    raw = pd.read_csv(require_shared(CENSUS_2019), dtype=str, keep_default_na=False)
    raw["population"] = pd.to_numeric(raw["population_2019"].replace("", np.nan))
    return raw


def _config(**data):
    return parse_config(data, base_dir=ROOT, source="test")


# --- the 2019 census of a province merged in 2025 -------------------------------------------

def test_vinh_long_pre_2025_total_equals_its_census_sum():
    """Vĩnh Long = Vĩnh Long + Bến Tre + Trà Vinh: the census of all three (issue 11, item 4:
    the run reported 1,022,791)."""
    raw = _raw_census()
    olds = _legacy_province_codes("86")
    assert len(olds) == 3
    expected = raw.loc[raw["province_code"].isin(olds), "population"].sum()
    assert expected == 3_286_166
    prep = prepare(_config(province={"name": "86"}))
    legacy = prep.layers.communes_legacy
    assert legacy["population"].sum() == expected
    assert not legacy["population_source"].str.contains("estimate").any()
    # the same census given as a user's table (its province_code is the pre-2025 one)
    reg = load_registry("86")
    table = R.read_population_table(CENSUS_2019, reg, population_field="population_2019")
    assert table.sum() == expected
    # and the post-2025 population is the raw file's
    com = pyogrio.read_dataframe(require_shared(COMMUNES_2025), read_geometry=False)
    assert prep.layers.communes["population"].sum() == \
        com.loc[com["province_code"] == "86", "population_2025"].sum()


# --- Khánh Hòa: islands inside the province, a run end to end -------------------------------

@pytest.mark.slow
def test_khanh_hoa_runs_end_to_end(tmp_path):
    """The real data of Khánh Hòa used to stop at "commune_code 22736 outside Khánh Hòa"
    (Trường Sa, the Spratly Islands); now `gis run --province "Khánh Hòa"` completes."""
    out = tmp_path / "khanhhoa"
    assert main(["-q", "run", "--province", "Khánh Hòa", "--out", str(out)]) == 0
    s = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    com = pyogrio.read_dataframe(require_shared(COMMUNES_2025), read_geometry=False)
    mine = com[com["province_code"] == "56"]
    assert s["counts"]["new_communes"] == len(mine) == 65
    assert s["population"]["total"] == mine["population_2025"].sum()
    assert s["population"]["is_estimate"] is False
    for stage in ("access", "plans", "network"):
        assert "skipped" not in s[stage], stage
    # within 30 min of a station: the summary's share recounted by brute force from the
    # written cells and station sites; the real-data figure (99.8 %, against 93.8 %
    # from the registry-only estimate) is what the base data gives again
    gpkg = out / "khanhhoa.gpkg"
    share = s["access"]["coverage"]["station"]["30"]["share"]
    assert share == pytest.approx(_brute_share(gpkg, 30.0), rel=1e-9)
    assert abs(share - 0.998) < 0.005
    # every station lies inside its post-2025 commune, the three of Trường Sa included
    fac = gpd.read_file(gpkg, layer="facilities")
    poly = gpd.read_file(gpkg, layer="communes_2025").set_index("commune_code").geometry
    st = fac[fac["tier"] == "station"]
    assert all(poly[c].contains(p) for c, p in zip(st["commune_code"], st.geometry,
                                                   strict=True))
    # Trường Sa's three former communes had their registry centre on the mainland (Nha Trang,
    # 109.09 E 12.21 N): re-sited in the islands, apart from each other
    spratly = st[st["commune_code"] == "22736"]
    assert len(spratly) == 3 and spratly["location_source"].str.contains("re-sited").all()
    ll = spratly.to_crs(4326).geometry
    assert (ll.y < 11.6).all() and (ll.x > 109.5).all()
    xy = np.column_stack([spratly.geometry.x, spratly.geometry.y])
    assert min(np.hypot(*(xy[i] - xy[j])) for i in range(3) for j in range(i)) > 10_000


def _brute_share(gpkg: Path, limit_min: float) -> float:
    """Share of the people of the written demand cells within ``limit_min`` of an active
    station: every cell to every station, straight line x 1.4 at 30 km/h (config.toml)."""
    cells = pyogrio.read_dataframe(gpkg, layer="demand_cells", read_geometry=False,
                                   columns=["x", "y", "population"])
    fac = gpd.read_file(gpkg, layer="facilities")
    st = fac[(fac["tier"] == "station") & (fac["status"] == "active")]
    sx, sy = st.geometry.x.to_numpy(), st.geometry.y.to_numpy()
    x, y = cells["x"].to_numpy(float), cells["y"].to_numpy(float)
    best = np.full(len(cells), np.inf)
    for i in range(0, len(sx), 32):
        d = np.hypot(x[:, None] - sx[None, i:i + 32], y[:, None] - sy[None, i:i + 32])
        best = np.minimum(best, d.min(axis=1))
    minutes = best * 1.4 / (30.0 * 1000 / 60)
    pop = cells["population"].to_numpy(float)
    return float(pop[minutes <= limit_min].sum() / pop.sum())


def test_nghe_an_runs_every_analysis(tmp_path):
    """The README's own example, `gis run --province "Nghệ An"`, used to skip every analysis
    (population unknown); on the base data it runs access, plans and network on the real
    polygons, population and census, with a hospital register built from OpenStreetMap."""
    out = tmp_path / "nghean"
    assert main(["-q", "run", "--province", "Nghệ An", "--out", str(out)]) == 0
    s = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    com = pyogrio.read_dataframe(require_shared(COMMUNES_2025), read_geometry=False)
    mine = com[com["province_code"] == "40"]
    census = _raw_census()
    legacy = census[census["province_code"] == "40"]
    assert s["province"]["code"] == "40"
    assert s["counts"]["new_communes"] == len(mine) == 130
    assert s["counts"]["legacy_communes"] == s["counts"]["stations"] == len(legacy)
    assert s["population"]["total"] == mine["population_2025"].sum()
    assert s["population"]["legacy_total"] == legacy["population"].sum()
    assert s["population"]["is_estimate"] is False
    for stage in ("access", "plans", "network"):
        assert "skipped" not in s[stage], stage
    assert len(s["plans"]["scenarios"]) == 6
    gpkg = out / "nghean.gpkg"
    assert s["access"]["coverage"]["station"]["30"]["share"] == pytest.approx(
        _brute_share(gpkg, 30.0), rel=1e-9)
    fac = gpd.read_file(gpkg, layer="facilities")
    hosp = fac[fac["tier"].isin(["central", "provincial", "regional"])]
    assert s["counts"]["hospitals"] == len(hosp) > 0
    assert hosp["location_source"].str.startswith(("OpenStreetMap: ", "estimate: ")).all()
    per = s["network"]["stations_per_regional"]
    assert sum(r["stations"] for r in per) == s["counts"]["stations"]
    assert any(v.startswith("hospital register built from the base data")
               for v in s["sources"].values())


# --- Hòn Tre: people placed where WorldPop has them ------------------------------------------

def _worldpop_in(polys_lonlat: list, n: int = 40) -> list[float]:
    """WorldPop persons inside each polygon (EPSG:4326): every pixel cut into n x n
    sub-pixels, each carrying 1/n² of the pixel, counted where its centre is inside (a
    different method from the code's exact area overlap in the working CRS)."""
    x0, y0, x1, y1 = shapely.union_all(polys_lonlat).bounds
    with rasterio.open(require_shared(WORLDPOP)) as src:
        t = src.transform
        c0, r0 = math.floor((x0 - t.c) / t.a) - 1, math.floor((y1 - t.f) / t.e) - 1
        c1, r1 = math.ceil((x1 - t.c) / t.a) + 1, math.ceil((y0 - t.f) / t.e) + 1
        band = src.read(1, window=rasterio.windows.Window(c0, r0, c1 - c0, r1 - r0),
                        masked=True).filled(0).astype(float)
    band[~np.isfinite(band) | (band < 0)] = 0
    rows, cols = np.nonzero(band > 0)
    offs = (np.arange(n) + 0.5) / n
    ox, oy = np.meshgrid(offs, offs)
    px = (c0 + cols[:, None] + ox.ravel()[None, :]) * t.a + t.c
    py = (r0 + rows[:, None] + oy.ravel()[None, :]) * t.e + t.f
    w = np.repeat(band[rows, cols][:, None] / n**2, n * n, axis=1)
    return [float(w[shapely.contains_xy(p, px, py)].sum()) for p in polys_lonlat]


def test_hon_tre_share_of_nha_trang_ward_follows_worldpop():
    """Areal weighting put 98,423 of Nha Trang ward's 136,118 people on Hòn Tre island (its
    largest part); the dasymetric split gives the island WorldPop's share of the ward."""
    raw = gpd.read_file(require_shared(COMMUNES_2025), on_invalid="fix")
    ward = raw[raw["commune_code"] == "22366"].iloc[0]
    assert ward["commune_name"] == "Nha Trang" and ward["population_2025"] == 136_118
    geom = shapely.make_valid(ward.geometry)
    parts = [p for p in shapely.get_parts(shapely.get_parts(geom)) if p.geom_type == "Polygon"]
    area = gpd.GeoSeries(parts, crs=4326).to_crs(32649).area.to_numpy()
    island = parts[int(np.argmax(area))]          # Hòn Tre, 35 km² of the ward's 49
    assert island.contains(shapely.Point(109.29, 12.21))
    on_island, in_ward = _worldpop_in([island, shapely.MultiPolygon(parts)])
    expected = on_island / in_ward
    assert expected < 0.2          # nothing like the 72 % of areal weighting

    prep = prepare(_config(province={"name": "56"}))
    lay = prep.layers
    ward_only = lay.communes[lay.communes["commune_code"] == "22366"]
    d = population_surface(ward_only, cell_size_m=500, raster=prep.raster)
    assert d["population"].sum() == pytest.approx(136_118)
    assert d["population_source"].str.contains("WorldPop").all()
    isl = gpd.GeoSeries([island], crs=4326).to_crs(lay.crs).iloc[0].buffer(100)
    pts = shapely.points(d["x"], d["y"])
    got = d.loc[shapely.contains(isl, pts), "population"].sum() / 136_118
    assert got == pytest.approx(expected, abs=0.01)
    areal = population_surface(ward_only, cell_size_m=500)
    assert areal.loc[shapely.contains(isl, pts), "population"].sum() / 136_118 > 0.6
    # the whole run labels the distribution as modelled
    assert any("WorldPop" in n and "modelled" in n for n in lay.notes)


# --- --province with --config keeps the configured layers ---------------------------------

def test_province_with_config_filters_national_layers(tmp_path):
    """The config gives national layers (every commune of Vietnam, the whole census) and Hà
    Tĩnh's register: `--province "Vĩnh Long"` keeps the layers, filtered to Vĩnh Long, and the
    base data's OSM register replaces the register of another province (issue 11, item 4)."""
    cfg = tmp_path / "config.toml"
    cfg.write_text(
        f'[layers]\ncommunes = "{require_shared(COMMUNES_2025).as_posix()}"\n'
        f'communes_population_field = "population_2025"\n'
        f'legacy_population = "{CENSUS_2019.as_posix()}"\n'
        f'legacy_population_field = "population_2019"\n'
        f'facilities = "{(ROOT / "layers" / "hatinh_hospitals.csv").as_posix()}"\n',
        encoding="utf-8")
    out = tmp_path / "vinhlong.gpkg"
    assert main(["-q", "layers", "build", "--config", str(cfg), "--province", "Vĩnh Long",
                 "--out", str(out)]) == 0
    com = gpd.read_file(out, layer="communes_2025")
    raw = pyogrio.read_dataframe(COMMUNES_2025, read_geometry=False)
    assert len(com) == (raw["province_code"] == "86").sum()
    assert (com["population_source"] == "layer: communes_2025.geojson, "
                                        "field population_2025").all()
    legacy = gpd.read_file(out, layer="communes_legacy")
    assert legacy["population"].sum() == 3_286_166
    known = legacy["population"].notna()
    assert legacy.loc[known, "population_source"].str.startswith("table: population_2019").all()
    assert (legacy.loc[~known, "population_source"] == "unknown").all()   # no census count
    fac = gpd.read_file(out, layer="facilities")
    assert not fac["facility_id"].str.startswith("HT-").any()
    assert fac["facility_id"].str.startswith("vinhlong-").sum() > 0


def test_register_of_another_province_leaves_nothing_and_a_mixed_one_is_checked(tmp_path):
    reg = load_registry("40")
    hatinh = R.read_facilities(ROOT / "layers" / "hatinh_hospitals.csv", reg, crs=32648)
    assert len(hatinh) == 0
    mixed = tmp_path / "mixed.csv"
    mixed.write_text("facility_id,name,tier,host_legacy_commune_code\n"
                     "A,Here,regional,16681\nB,Typo,regional,18073\n", encoding="utf-8")
    with pytest.raises(Exception, match=r"facility_id B\): codes unknown to the registry"):
        R.read_facilities(mixed, reg, crs=32648)
    national = tmp_path / "national.csv"
    national.write_text("facility_id,name,tier,province_code,lon,lat\n"
                        "A,Vinh,regional,40,105.68,18.67\nB,Ha Tinh,regional,42,105.9,18.34\n"
                        "C,Bach Mai,central,01,105.84,21.0\n", encoding="utf-8")
    got = R.read_facilities(national, reg, crs=32648)
    assert list(got["facility_id"]) == ["A", "C"]


# --- without the base data: the registry's estimates, labelled ------------------------------

def test_base_false_is_the_registry_estimate():
    cfg = _config(province={"name": "42", "population_total": 1_623_061}, data={"base": False})
    prep = prepare(cfg)
    lay = prep.layers
    assert prep.raster is None
    assert lay.communes["population_source"].str.startswith("estimate").all()
    assert lay.communes["geometry_source"].str.startswith("estimate").all()
    assert (lay.facilities["tier"] != "station").sum() == 0
    assert "communes" not in prep.sources
    # the same with the base data: real polygons, census, WorldPop, the register
    base = prepare(load_config(ROOT / "config.toml"))
    assert base.layers.communes["population"].sum() == 1_623_061
    assert base.raster is not None and base.raster.crs == "EPSG:4326"


def _split_error(estimate: pd.Series, census: pd.Series, new_code: pd.Series) -> float:
    """Median absolute error (%) of each post-2025 commune's people split among its pre-2025
    communes, the split rescaled to their census sum (so that only the split is judged, not
    the growth from 2019 to 2025), against each one's census count."""
    scaled = estimate / estimate.groupby(new_code).transform("sum") * \
        census.groupby(new_code).transform("sum")
    return float(100 * ((scaled - census).abs() / census).median())


def test_placement_error_against_the_census_of_ha_tinh():
    """The README's figures: how well the people placed inside each post-2025 commune match
    the 2019 census of its pre-2025 communes (WorldPop, areal weighting, and the type-and-area
    estimate of the registry-only fallback), over the 187 pre-2025 communes that share an
    unsplit post-2025 commune with another."""
    raw = _raw_census()
    census = raw[raw["province_code"] == "42"].set_index("commune_code")["population"]
    prep = prepare(load_config(ROOT / "config.toml"))
    lay = prep.layers
    lg = lay.communes_legacy.set_index("commune_code")
    new = lg["new_commune_code"]
    bad = set(new[lg["split"]]) | {c for cs in lg.loc[lg["split"], "new_commune_codes"]
                                   for c in cs.split(";")}
    keep = ~lg["split"] & ~new.isin(bad)
    keep &= new.map(new[keep].value_counts()).fillna(0) > 1
    assert keep.sum() == 187
    c, n = census.reindex(lg.index)[keep], new[keep]
    errors = {}
    for name, raster in (("worldpop", prep.raster), ("area", None)):
        d = population_surface(lay.communes, legacy=lay.communes_legacy, raster=raster)
        est = d.groupby("legacy_commune_code")["population"].sum().reindex(lg.index)[keep]
        errors[name] = _split_error(est, c, n)
    from gis.inputs import layers as L

    fallback = L.build_layers(prep.registry, crs=lay.crs, communes=lay.communes)
    est = fallback.communes_legacy.set_index("commune_code")["population"][keep]
    errors["type_and_area"] = _split_error(est, c, n)
    assert errors == pytest.approx({"worldpop": 24.2, "area": 29.8, "type_and_area": 20.3},
                                   abs=0.05)
