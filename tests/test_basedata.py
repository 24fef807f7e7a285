"""The built-in base data (gis/data/base), its reader, hospital matching and station sites.

Real-data checks compare the bundle with the raw files in ../shared/data, recomputed here by
other means (geodesic areas with pyproj, the vietnamadminunits tables read directly, the raw
GeoTIFF read with rasterio); hand cases check names, matching and moving points inside.
"""

from __future__ import annotations

import hashlib
import json

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pytest
import rasterio
import rasterio.transform
import rasterio.windows
import shapely
from pyproj import Geod

from gis.errors import GisError, RegistryError
from gis.inputs import basedata as B
from gis.inputs import hospitals as H
from gis.inputs import layers as L
from gis.inputs import readers as R
from gis.inputs.registry import load_registry
from gis.inputs.stations import move_inside
from tests.conftest import ROOT, SHARED_DATA, require_shared

WORLDPOP = SHARED_DATA / "worldpop" / "vnm_ppp_2020_1km_Aggregated_UNadj.tif"
OSM = SHARED_DATA / "osm" / "hospitals_vn_osm_2026-02.csv"
GEOD = Geod(ellps="WGS84")


@pytest.fixture(scope="module")
def ha_tinh():
    return load_registry("42")


def _geodesic_area(geoms) -> np.ndarray:
    """Geodesic area (m²) on the WGS 84 ellipsoid: shells minus holes, whatever the ring
    orientation."""
    def ring(r) -> float:
        return abs(GEOD.polygon_area_perimeter(*r.xy)[0])

    return np.array([sum(ring(p.exterior) - sum(ring(h) for h in p.interiors)
                         for p in shapely.get_parts(g)) for g in geoms])


def _raw_communes(path):
    raw = gpd.read_file(path, on_invalid="fix").sort_values("commune_code", ignore_index=True)
    geom = raw.geometry.to_numpy().copy()
    bad = ~shapely.is_valid(geom)
    geom[bad] = shapely.make_valid(geom[bad])
    geom = [shapely.MultiPolygon([p for p in shapely.get_parts(shapely.get_parts(g))
                                  if p.geom_type == "Polygon"])
            if g.geom_type == "GeometryCollection" else g for g in geom]
    return raw.set_geometry(list(geom))


# --- the bundle against the raw files -------------------------------------------------------

def test_communes_equal_the_raw_file(communes_2025_path):
    raw = pyogrio.read_dataframe(communes_2025_path, read_geometry=False)
    raw = raw.sort_values("commune_code", ignore_index=True)
    bundle = pd.concat([B.communes(p) for p in sorted(raw["province_code"].unique())],
                       ignore_index=True).sort_values("commune_code", ignore_index=True)
    assert len(bundle) == len(raw) == 3321
    assert list(bundle["commune_code"]) == list(raw["commune_code"])
    assert (bundle["population"].to_numpy() == raw["population_2025"].to_numpy()).all()
    for col in ("commune_name", "commune_type", "province_code", "province_name"):
        assert list(bundle[col]) == list(raw[col]), col
    for col in ("admin_center", "merged_from"):
        assert list(bundle[col]) == list(raw[col].fillna("")), col
    assert np.array_equal(bundle["area_km2"].to_numpy(), raw["area_km2"].to_numpy())
    ht = B.communes("42")
    assert len(ht) == 69 and ht["population"].sum() == 1_623_061
    assert ht.crs.to_epsg() == 4326 and set(ht.geom_type) == {"MultiPolygon"}
    assert shapely.is_valid(ht.geometry.to_numpy()).all()


def _legacy_codes_of(new_province_code: str) -> list[str]:
    """Pre-2025 province codes merged into a post-2025 province, read from the
    vietnamadminunits tables directly (not through gis.inputs.registry)."""
    from vietnamadminunits.database import get_data
    from vietnamadminunits.database.main import MODULE_DIR

    conv = json.loads((MODULE_DIR / "data" / "converter_2025.json").read_text(encoding="utf-8"))
    new = {r["provinceCode"]: r["provinceKey"] for r in
           get_data(["provinceCode", "provinceKey"], "admin_units")}
    legacy = {r["provinceKey"]: r["provinceCode"] for r in
              get_data(["provinceCode", "provinceKey"], "admin_units_legacy")}
    key = new[new_province_code]
    return sorted(legacy[k] for k in conv["DICT_PROVINCE"].get(key, [key]))


def test_census_by_post_2025_province(census_2019_path):
    raw = pd.read_csv(census_2019_path, dtype=str, keep_default_na=False)
    raw["population"] = pd.to_numeric(raw["population_2019"].replace("", np.nan))
    ht = B.census_2019("42")
    assert len(ht) == 209 and ht["population_2019"].sum() == 1_288_866
    assert set(ht["legacy_province_code"]) == {"42"}
    # merged provinces keep the census of every former province (issue 11, item 4)
    for code, issue_sum in (("86", 3_286_166), ("92", 3_151_585)):
        olds = _legacy_codes_of(code)
        assert len(olds) == 3
        expected = raw.loc[raw["province_code"].isin(olds), "population"].sum()
        got = B.census_2019(code)
        assert got["population_2019"].sum() == expected == issue_sum
        assert set(got["legacy_province_code"]) == set(olds)
    assert set(B.census_2019("15")["legacy_province_code"]) == {"10", "15"}  # Lào Cai, Yên Bái
    # every coded row of the raw file, unchanged
    allc = pd.concat([B.census_2019(p) for p in B.province_codes()], ignore_index=True)
    assert len(allc) == len(raw) == 10_040 and allc["commune_code"].is_unique
    coded = raw[raw["commune_code"] != ""].set_index("commune_code")
    mine = allc.set_index("commune_code").loc[coded.index]
    assert np.allclose(mine["population_2019"], coded["population"], equal_nan=True)
    assert (mine["legacy_province_code"] == coded["province_code"]).all()
    islands = allc[allc["commune_code"].str.startswith("D")]
    assert len(islands) == 5 and islands["population_2019"].isna().all()


def test_manifest_checksums_and_size():
    m = B.manifest()
    assert {f["file"] for f in m["files"]} == set(B.DATA_FILES)
    for f in m["files"]:
        data = (B.bundle_dir() / f["file"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == f["sha256"], f["file"]
        assert len(data) == f["bytes"]
    total = sum(p.stat().st_size for p in B.bundle_dir().iterdir())
    assert total < 10_000_000
    assert m["simplification"]["max_error_allowed"] == 0.001
    m["files"].clear()  # a copy: the next call is whole again
    assert B.manifest()["files"]


def test_manifest_sources_match_the_raw_files():
    for s in B.manifest()["sources"]:
        path = require_shared(SHARED_DATA / s["path"])
        assert hashlib.sha256(path.read_bytes()).hexdigest() == s["sha256"], s["path"]


def test_simplification_within_a_tenth_of_a_percent(communes_2025_path, ha_tinh):
    raw = _raw_communes(communes_2025_path)
    bundle = pd.concat([B.communes(p) for p in B.province_codes()], ignore_index=True)
    bundle = bundle.sort_values("commune_code", ignore_index=True)
    assert list(bundle["commune_code"]) == list(raw["commune_code"])
    a0 = _geodesic_area(raw.geometry)
    a1 = _geodesic_area(bundle.geometry)
    rel = np.abs(a1 / a0 - 1)
    assert rel.max() <= 0.001
    prov = raw["province_code"].to_numpy()
    p0 = pd.Series(a0).groupby(prov).sum()
    p1 = pd.Series(a1).groupby(prov).sum()
    assert (np.abs(p1 / p0 - 1)).max() <= 0.001
    s0 = a0 / pd.Series(a0).groupby(prov).transform("sum").to_numpy()
    s1 = a1 / pd.Series(a1).groupby(prov).transform("sum").to_numpy()
    assert (np.abs(s1 / s0 - 1)).max() <= 0.001
    # the manifest's figure (equal-area projection) agrees with the geodesic one
    recorded = B.manifest()["simplification"]["measured"]["commune_area"]["max"]
    assert recorded == pytest.approx(rel.max(), abs=2e-5)
    # every registry centre of Hà Tĩnh lies in the same communes as before
    lg = ha_tinh.legacy
    pts = shapely.points(lg["lon"], lg["lat"])

    def containing(geoms: np.ndarray) -> set[tuple[int, int]]:
        i, j = shapely.STRtree(geoms).query(pts, predicate="within")
        return set(zip(i.tolist(), j.tolist(), strict=True))

    before = containing(raw.geometry.to_numpy())
    assert containing(bundle.geometry.to_numpy()) == before and len(before) >= 200


def test_worldpop_window_equals_the_raw_grid():
    raw_path = require_shared(WORLDPOP)
    arr, transform, crs = B.worldpop_window(105.1, 17.9, 106.6, 18.8)
    assert crs == "EPSG:4326"
    with rasterio.open(raw_path) as src:
        row, col = rasterio.transform.rowcol(src.transform, transform.c + transform.a / 2,
                                             transform.f + transform.e / 2)
        win = rasterio.windows.Window(col, row, arr.shape[1], arr.shape[0])
        ref = src.read(1, window=win)
        nodata = src.nodata
    assert np.array_equal(np.isnan(arr), ref == nodata)
    assert np.array_equal(arr[~np.isnan(arr)], ref[ref != nodata])
    # the box is covered: its corners fall inside the window
    assert transform.c <= 105.1 and transform.f >= 18.8
    assert transform.c + transform.a * arr.shape[1] >= 106.6
    with rasterio.open(B.worldpop_path()) as src:
        assert src.crs.to_epsg() == 4326 and src.nodata == nodata
        assert src.profile["compress"] == "deflate"
    with pytest.raises(GisError, match="outside the WorldPop grid"):
        B.worldpop_window(0.0, 0.0, 1.0, 1.0)


def test_osm_hospitals_keep_the_raw_rows():
    raw = pd.read_csv(require_shared(OSM), dtype=str, keep_default_na=False)
    osm = B.osm_hospitals()
    assert len(osm) == len(raw) == 1479
    mine = osm.sort_values("source_row").reset_index(drop=True)
    for col in ("name", "ownership", "address", "ward_2025", "province_2025",
                "district_pre2025", "province_pre2025"):
        assert list(mine[col]) == list(raw[col]), col
    assert np.allclose(mine["lon"], raw["lon"].astype(float))
    ht = B.osm_hospitals("42")
    assert len(ht) == 18 and (ht["commune_code"].str[:2] == "18").all()
    # the derived province is the polygon's: check a few against the communes independently
    com = B.communes("42")
    inside = gpd.sjoin(ht, com[["commune_code", "geometry"]], predicate="within",
                       rsuffix="poly")
    assert (inside["commune_code_left"] == inside["commune_code_poly"]).all()
    counts = B.manifest()["contents"]["osm"]
    assert counts["province_disagreements"] == int(
        ((osm["province_code"] != osm["province_code_publisher"])
         & (osm["commune_code"] != "")).sum())


def test_reader_hands_out_copies_and_names_problems(monkeypatch, tmp_path):
    a = B.communes("42")
    a.loc[0, "population"] = -1
    a["merged_from"] = ""
    b = B.communes(42)
    assert b.loc[0, "population"] >= 0 and (b["merged_from"] != "").any()
    c = B.census_2019("42")
    c["population_2019"] = 0
    assert B.census_2019("42")["population_2019"].sum() == 1_288_866
    with pytest.raises(RegistryError, match=r"province code '99' is not in the base data"):
        B.communes("99")
    monkeypatch.setattr(B, "bundle_dir", lambda: tmp_path)
    with pytest.raises(GisError, match=r"worldpop_2020_1km\.tif.*python -m "
                                       r"gis\.inputs\.build_basedata"):
        B.worldpop_path()


def test_attribution_lines():
    lines = B.attribution()
    assert len(lines) == 4
    text = "\n".join(lines)
    for needle in ("MIT License", "Lam Ngoc Khuong", "General Statistics Office",
                   "doi:10.5258/SOTON/WP00671", "CC BY 4.0", "© OpenStreetMap contributors",
                   "ODbL 1.0"):
        assert needle in text
    sources_md = (B.bundle_dir() / B.SOURCES_FILE).read_text(encoding="utf-8")
    assert all(line in sources_md for line in lines)
    assert "Permission is hereby granted, free of charge" in sources_md


@pytest.mark.slow
def test_build_is_reproducible(tmp_path):
    """Building again gives the committed bundle (same tables and grid; same bytes when the
    software versions are those of the manifest)."""
    from gis.inputs.build_basedata import build

    require_shared(OSM)
    require_shared(WORLDPOP)
    m = build(SHARED_DATA, tmp_path)
    old = B.manifest()
    same_software = m["build"]["software"] == old["build"]["software"]
    for f, g in zip(m["files"], old["files"], strict=True):
        assert f["file"] == g["file"]
        if same_software:
            assert f["sha256"] == g["sha256"], f["file"]
    for key in ("sources", "simplification", "contents"):
        assert m[key] == old[key], key
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / B.CENSUS_FILE),
                                  pd.read_parquet(B.bundle_dir() / B.CENSUS_FILE))


# --- hospital names and matching ------------------------------------------------------------

@pytest.mark.parametrize("name,expected", [
    ("BVĐK tỉnh Hà Tĩnh", "benh vien da khoa tinh ha tinh"),
    ("Bệnh viện Đa khoa Tỉnh HÀ TĨNH", "benh vien da khoa tinh ha tinh"),
    ("TTYT huyện Can Lộc", "trung tam y te huyen can loc"),
    ("Bệnh viện Y dược cổ truyền", "benh vien y hoc co truyen"),
    ("BV YHCT Hà Tĩnh", "benh vien y hoc co truyen ha tinh"),
    ("Bệnh viện Sản - Nhi", "benh vien san nhi"),
    ("Bệnh viện Đa khoa Thiệu Hoá", "benh vien da khoa thieu hoa"),
    ("Bệnh viện Đa khoa Thiệu Hóa", "benh vien da khoa thieu hoa"),
])
def test_normalise_name(name, expected):
    assert H.normalise_name(name) == expected


@pytest.mark.parametrize("name,kind,specialty,place,site", [
    ("Bệnh viện Đa khoa tỉnh Hà Tĩnh", "provincial general", "general", "ha tinh", 1),
    ("Bệnh viện Đa khoa Hà Giang", "provincial general", "general", "ha giang", 1),
    ("Bệnh viện Đa khoa Thành phố Vĩnh Long", "regional", "general", "vinh long", 1),
    ("Bệnh viện Đa khoa thành phố Cần Thơ", "provincial general", "general", "can tho", 1),
    ("Bệnh viện Đa khoa khu vực Lộc Hà", "regional", "general", "loc ha", 1),
    ("Trung tâm Y tế huyện Hương Sơn (cơ sở 2)", "regional", "general", "huong son", 2),
    ("Trung tâm Y tế Hương Sơn - cơ sở 2", "regional", "general", "huong son", 2),
    ("BV Mắt Hà Tĩnh", "specialised", "eye", "ha tinh", 1),
    ("Bệnh viện Phổi tỉnh Hà Tĩnh", "specialised", "lung", "ha tinh", 1),
    ("Bệnh viện Tâm thần Hà Tĩnh", "specialised", "mental health", "ha tinh", 1),
    ("Bệnh viện Y dược cổ truyền tỉnh Hà Tĩnh", "specialised", "traditional medicine",
     "ha tinh", 1),
    ("Bệnh viện Phục hồi chức năng Hà Tĩnh", "specialised", "rehabilitation", "ha tinh", 1),
    ("Bệnh viện Sản - Nhi tỉnh Quảng Ngãi", "specialised", "obstetrics and paediatrics",
     "quang ngai", 1),
    ("Bệnh viện Bạch Mai", "central", "general", "", 1),
    ("Bệnh viện Chợ Rẫy", "central", "general", "", 1),
    ("Bệnh viện Mắt Trung ương", "central", "eye", "", 1),
    ("Bệnh viện Đa khoa Trung ương Cần Thơ", "central", "general", "", 1),
    ("Bệnh viện Quân y 105", "military", "general", "", 1),
    ("Trạm Y tế phường Song Hồ", "station", "primary care", "", 1),
    ("Phòng Khám Đa Khoa Medlatec", "not a hospital", "", "", 1),
    ("TT Y tế dự phòng Đăk Lăk", "not a hospital", "", "", 1),
])
def test_parse_name(name, kind, specialty, place, site):
    h = H.parse_name(name)
    assert (h.kind, h.specialty, h.place, h.site) == (kind, specialty, place, site)


def _osm(rows):
    df = pd.DataFrame(rows, columns=["name", "lon", "lat"])
    df["ownership"] = "public"
    df["commune_code"] = ""
    df["source_row"] = np.arange(2, len(df) + 2)
    return df


def _offset(lon, lat, east_m, north_m=0.0):
    lon2, lat2, _ = GEOD.fwd(lon, lat, 90.0, east_m)
    lon3, lat3, _ = GEOD.fwd(lon2, lat2, 0.0, north_m)
    return lon3, lat3


def test_match_register_hand_cases(ha_tinh):
    lg = ha_tinh.legacy.set_index("commune_code")
    nam_ha = (lg.at["18073", "lon"], lg.at["18073", "lat"])
    xuan_an = (lg.at["18352", "lon"], lg.at["18352", "lat"])
    huong_khe = (lg.at["18496", "lon"], lg.at["18496", "lat"])
    pho_chau = (lg.at["18133", "lon"], lg.at["18133", "lat"])
    register = pd.DataFrame({
        "facility_id": ["PGH", "EYE", "LUNG", "NX", "HK", "HS"],
        "name": ["Bệnh viện Đa khoa tỉnh Hà Tĩnh", "Bệnh viện Mắt tỉnh Hà Tĩnh",
                 "Bệnh viện Phổi tỉnh Hà Tĩnh", "Bệnh viện Đa khoa khu vực Nghi Xuân",
                 "Trung tâm Y tế huyện Hương Khê", "Trung tâm Y tế huyện Hương Sơn"],
        "tier": ["provincial", "provincial", "provincial", "regional", "regional", "regional"],
        "specialty": ["general", "eye", "lung", "general", "general", "general"],
        "host_legacy_commune_code": ["18073", "18073", "18073", "18352", "18496", "18133"],
    })
    osm = _osm([
        ("BVĐK tỉnh Hà Tĩnh", *_offset(*nam_ha, 1000)),
        # two eye hospitals equally good: refused
        ("Bệnh viện Mắt Hà Tĩnh", *_offset(*nam_ha, -800)),
        ("Bệnh viện Mắt Hà Tĩnh", *_offset(*nam_ha, 0, 2500)),
        # a medical centre named after a new commune, in the former Nghi Xuân district
        ("Trung tâm Y tế Tiên Điền", *_offset(*xuan_an, 300, 300)),
        # the right name, 30 km away: refused
        ("TTYT Hương Khê", *_offset(*huong_khe, 30_000)),
        # the main site beats the second site
        ("Trung tâm Y tế Hương Sơn - cơ sở 2", *_offset(*pho_chau, 200)),
        ("Trung tâm Y tế Hương Sơn", *_offset(*pho_chau, 1500)),
    ])
    m = H.match_register(register, osm, ha_tinh).set_index("facility_id")
    assert m.at["PGH", "matched"] and m.at["PGH", "osm_name"] == "BVĐK tỉnh Hà Tĩnh"
    assert m.at["PGH", "location_source"] == "OpenStreetMap: BVĐK tỉnh Hà Tĩnh"
    assert m.at["PGH", "dist_m"] == pytest.approx(1000, abs=1)
    assert (m.at["PGH", "lon"], m.at["PGH", "lat"]) == pytest.approx(osm.loc[0, ["lon", "lat"]])
    assert not m.at["EYE", "matched"] and m.at["EYE", "reason"].startswith("ambiguous")
    assert m.at["EYE", "location_source"].startswith("estimate")
    assert not m.at["LUNG", "matched"]  # an eye hospital is not a lung hospital
    assert m.at["NX", "osm_name"] == "Trung tâm Y tế Tiên Điền" and m.at["NX", "score"] == 1
    assert not m.at["HK", "matched"]
    assert "30.0 km from the host site (limit 10.0 km)" in m.at["HK", "reason"]
    assert m.at["HS", "osm_name"] == "Trung tâm Y tế Hương Sơn"
    # with a larger limit the far one is accepted
    wide = H.match_register(register, osm, ha_tinh, max_dist_m=40_000).set_index("facility_id")
    assert wide.at["HK", "matched"]


def test_one_osm_hospital_for_one_register_row(ha_tinh):
    lg = ha_tinh.legacy.set_index("commune_code")
    hung_tri = (lg.at["18754", "lon"], lg.at["18754", "lat"])
    register = pd.DataFrame({
        "facility_id": ["MHS", "RNH", "A", "B"],
        "name": ["Trung tâm Y tế Hoành Sơn", "Bệnh viện Đa khoa khu vực Nam Hà Tĩnh",
                 "Trung tâm Y tế Kỳ Anh", "Trung tâm Y tế Kỳ Anh"],
        "tier": "regional", "specialty": "general",
        "host_legacy_commune_code": ["18754", "18754", "18775", "18775"],
    })
    osm = _osm([("Trung tâm Y tế Hoành Sơn", *_offset(*hung_tri, 500)),
                ("Trung tâm Y tế Kỳ Anh", lg.at["18775", "lon"], lg.at["18775", "lat"])])
    m = H.match_register(register, osm, ha_tinh).set_index("facility_id")
    assert m.at["MHS", "matched"]  # same place name beats same former district
    assert not m.at["RNH", "matched"] and "matches MHS better" in m.at["RNH", "reason"]
    assert not m.at["A", "matched"] and not m.at["B", "matched"]  # a tie refuses both
    assert "ambiguous" in m.at["A", "reason"]


def test_ha_tinh_register_on_osm(ha_tinh):
    """The 18 OSM features of Hà Tĩnh (../shared/data/README.md) have no medical centre for
    the former Kỳ Anh district or Hà Tĩnh city and no Kỳ Anh town general hospital."""
    require_shared(OSM)
    path = ROOT / "layers" / "hatinh_hospitals.csv"
    register = pd.read_csv(path, dtype=str, keep_default_na=False)
    m = H.match_register(register, B.osm_hospitals("42"), ha_tinh)
    unmatched = set(m.loc[~m["matched"], "facility_id"])
    assert unmatched == {"HT-RKA", "HT-RTS", "HT-RNH"}
    assert m["dist_m"].max() < H.DEFAULT_MAX_DIST_M
    # the register file carries these sites and labels
    reg_file = register.set_index("facility_id")
    for r in m.itertuples():
        row = reg_file.loc[r.facility_id]
        if r.matched:
            assert float(row["lon"]) == pytest.approx(r.lon, abs=1e-7)
            assert float(row["lat"]) == pytest.approx(r.lat, abs=1e-7)
            assert row["location_source"] == r.location_source
        else:
            assert row["lon"] == "" and row["location_source"].startswith("estimate")
    assert reg_file.loc["HT-PGH", "name"] == "Bệnh viện Đa khoa tỉnh Hà Tĩnh"
    fac = R.read_facilities(path, ha_tinh, crs=L.working_crs(ha_tinh))
    assert len(fac) == 20 and fac.loc[fac["facility_id"] == "HT-PGH", "beds"].item() == 1300
    placed = fac.set_index("facility_id")["location_source"]
    assert placed[sorted(unmatched)].str.startswith("estimate: registry centre").all()


def test_district_seats_of_ha_tinh(ha_tinh):
    """The seats the hand-written Hà Tĩnh register uses (published district seats)."""
    seats = H.district_seats(ha_tinh).set_index("district_name")["seat_code"].to_dict()
    assert seats == {
        "Thành phố Hà Tĩnh": "18073", "Thị xã Hồng Lĩnh": "18115", "Huyện Hương Sơn": "18133",
        "Huyện Đức Thọ": "18229", "Huyện Vũ Quang": "18313", "Huyện Nghi Xuân": "18352",
        "Huyện Can Lộc": "18406", "Huyện Hương Khê": "18496", "Huyện Thạch Hà": "18562",
        "Huyện Cẩm Xuyên": "18673", "Huyện Kỳ Anh": "18775", "Thị xã Kỳ Anh": "18754"}


def test_register_from_osm_ha_tinh(ha_tinh):
    require_shared(OSM)
    crs = L.working_crs(ha_tinh)
    reg_osm = H.register_from_osm(ha_tinh, B.osm_hospitals("42"), crs=crs)
    assert list(reg_osm.columns) == H.FACILITY_COLUMNS and reg_osm.crs == crs
    assert reg_osm["facility_id"].is_unique
    est = reg_osm[reg_osm["location_source"].str.startswith("estimate")]
    assert list(est["facility_id"]) == ["hatinh-D436", "hatinh-D447"]
    assert list(est["name"]) == ["Trung tâm Y tế thành phố Hà Tĩnh",
                                 "Trung tâm Y tế huyện Kỳ Anh"]
    assert list(est["legacy_commune_code"]) == ["18073", "18775"]
    osm_rows = reg_osm[~reg_osm.index.isin(est.index)]
    assert len(osm_rows) == 18
    assert osm_rows["facility_id"].str.fullmatch(r"hatinh-H\d{3}").all()
    assert osm_rows["location_source"].str.startswith("OpenStreetMap: ").all()
    assert (osm_rows["tier"] == "provincial").sum() == 6
    # concatenates with the generated stations as a read register does
    lay = L.build_layers(ha_tinh, crs=crs, facilities=reg_osm)
    assert len(lay.facilities) == 209 + 20


def test_register_from_osm_one_regional_centre_per_former_district():
    require_shared(OSM)
    for code in ("40", "86", "56"):
        reg = load_registry(code)
        out = H.register_from_osm(reg, B.osm_hospitals(code), crs=L.working_crs(reg))
        district_of = reg.legacy.set_index("commune_code")["district_code"]
        regional = out[out["tier"] == "regional"]
        covered = set(regional["note"].str.extract(r"former district [^(]*\((\d+)", expand=False)
                      .dropna())
        assert covered == set(district_of.unique()), code
        est = out[out["location_source"].str.startswith("estimate")]
        assert est["facility_id"].is_unique and (est["tier"] == "regional").all()
        # an estimated centre only where no OSM regional hospital lies in that district
        osm_districts = set(regional.loc[~regional.index.isin(est.index), "note"]
                            .str.extract(r"\((\d+), by", expand=False))
        est_districts = set(est["facility_id"].str.split("-D").str[1])
        assert not (osm_districts & est_districts)
        assert est_districts | osm_districts == set(district_of.unique())
        assert (est["legacy_commune_code"].map(district_of)
                == est["facility_id"].str.split("-D").str[1]).all()


def test_private_hospitals_left_out_unless_asked():
    osm = _osm([("Bệnh viện Đa khoa Quốc tế Vinmec Times City", 105.87, 20.99),
                ("Bệnh viện Bạch Mai", 105.84, 21.0),
                ("Trạm Y tế phường Song Hồ", 106.0, 21.05),
                ("Bệnh viện Pháp Việt", 106.7, 10.7),
                ("Bệnh viện Bạch Mai", 105.8401, 21.0001)])
    osm.loc[3, "ownership"] = "unclassified"
    c = H.classify_hospitals(osm)
    assert list(c["keep"]) == [False, True, False, False, False]
    assert c.loc[0, "reason"] == "private hospital"
    assert c.loc[4, "reason"].startswith("repeats Bệnh viện Bạch Mai within 500 m")
    assert H.classify_hospitals(osm, include_private=True).loc[0, "keep"]


# --- stations inside their commune ----------------------------------------------------------

def test_move_inside_hand_cases():
    crs = "EPSG:32648"
    square = shapely.box(0, 0, 100, 100)
    two = shapely.MultiPolygon([shapely.box(0, 0, 100, 100), shapely.box(1000, 0, 1100, 100)])
    tiny = shapely.box(0, 0, 5, 5)
    pts = gpd.GeoSeries([shapely.Point(50, 50), shapely.Point(150, 50), shapely.Point(50, -30),
                         shapely.Point(950, 50), shapely.Point(20, 20), shapely.Point(7, 7)],
                        crs=crs, index=[10, 11, 12, 13, 14, 15])
    polys = gpd.GeoSeries([square, square, square, two, None, tiny], crs=crs)
    new, d = move_inside(pts, polys, inset_m=10)
    assert list(new.index) == [10, 11, 12, 13, 14, 15] and new.crs == pts.crs
    assert new.iloc[0].equals(pts.iloc[0]) and d[0] == 0
    assert (new.iloc[1].x, new.iloc[1].y) == pytest.approx((90, 50)) and d[1] == pytest.approx(60)
    assert (new.iloc[2].x, new.iloc[2].y) == pytest.approx((50, 10)) and d[2] == pytest.approx(40)
    assert (new.iloc[3].x, new.iloc[3].y) == pytest.approx((1010, 50))  # the nearer part
    assert new.iloc[4].equals(pts.iloc[4]) and d[4] == 0  # no polygon: stays
    assert tiny.contains(new.iloc[5]) and d[5] > 0  # too small to shrink: a point on it
    assert pts.iloc[1].equals(shapely.Point(150, 50))  # the input is not changed
    with pytest.raises(GisError, match="not projected"):
        move_inside(pts.set_crs(4326, allow_override=True),
                    polys.set_crs(4326, allow_override=True))
    with pytest.raises(GisError, match="6 points but 1 polygons"):
        move_inside(pts, polys.iloc[:1])


def test_stations_of_ha_tinh_moved_inside_their_commune(ha_tinh):
    """The seven registry centres outside their commune (tests/test_layers.py) move inside."""
    crs = L.working_crs(ha_tinh)
    com = B.communes("42").to_crs(crs).set_index("commune_code").geometry
    lg = ha_tinh.legacy
    pts = gpd.GeoSeries(shapely.points(lg["lon"], lg["lat"]), crs=4326).to_crs(crs)
    polys = gpd.GeoSeries([com[c] for c in lg["new_commune_code"]], crs=crs)
    new, d = move_inside(pts, polys)
    assert all(p.contains(q) for p, q in zip(polys, new, strict=True))
    moved = d > 0
    assert set(lg.loc[moved, "commune_name"]) == {"Bình An", "Hồng Lộc", "Thạch Kim",
                                                  "Thịnh Lộc", "Tân Lộc", "Yên Hòa",
                                                  "Đan Trường"}
    # a moved site lands 50 m inside the border, so it moved at least 50 m beyond the gap
    gap = shapely.distance(pts.to_numpy()[moved], polys.to_numpy()[moved])
    assert (d[moved] >= gap + 49.5).all()
    inside_by = shapely.distance(new.to_numpy()[moved],
                                 shapely.boundary(polys.to_numpy()[moved]))
    assert (inside_by >= 49.5).all()


def test_site_stations_resites_far_centres_apart():
    """A centre just outside moves 50 m inside; two centres far outside (a wrong registry
    centre shared by two communes) are re-sited apart, in the empty part of the polygon."""
    from gis.inputs.stations import site_stations

    crs = "EPSG:32648"
    poly = shapely.box(0, 0, 10_000, 2_000)
    pts = gpd.GeoSeries([shapely.Point(1_000, 1_000), shapely.Point(2_000, 2_300),
                         shapely.Point(30_000, 1_000), shapely.Point(30_000, 1_000)], crs=crs)
    new, d, how = site_stations(pts, gpd.GeoSeries([poly] * 4, crs=crs), long_move_m=5_000)
    assert list(how) == ["kept", "moved", "re-sited", "re-sited"]
    assert (new.iloc[1].x, new.iloc[1].y) == pytest.approx((2_000, 1_950)) and d[1] == \
        pytest.approx(350)
    a, b = new.iloc[2], new.iloc[3]
    assert poly.contains(a) and poly.contains(b) and a.distance(b) > 2_000
    # each re-sited site is as far from the others as a grid of candidates allows: the largest
    # empty circle inside the box (its radius is capped by the half-height, 1,000 m)
    others = [new.iloc[0], new.iloc[1]]
    assert min(a.distance(q) for q in others) > 1_000 - 100
    assert d[2] == pytest.approx(pts.iloc[2].distance(a))


def test_raster_persons_split_pixels_by_area():
    """1 km pixels over 500 m cells: each cell gets a quarter of the pixel it lies in, though
    no pixel centre falls inside it (pixel centres would give each cell 0 or a whole pixel)."""
    from affine import Affine

    from gis.inputs.rasters import PopulationGrid
    from gis.model.demand import population_surface, raster_persons

    values = np.array([[400.0, np.nan], [0.0, 80.0]])          # rows from the top (y 2000)
    grid = PopulationGrid(values=values, transform=Affine(1000, 0, 0, 0, -1000, 2000),
                          crs="EPSG:32648", name="test")
    cells = np.array([shapely.box(x, y, x + 500, y + 500) for y in (1500, 1000, 0)
                      for x in (0, 500, 1000, 1500)])
    got = raster_persons(grid, cells, crs="EPSG:32648")
    assert got[:8].tolist() == pytest.approx([100, 100, 0, 0, 100, 100, 0, 0])
    assert got[8:].tolist() == pytest.approx([0, 0, 20, 20])
    # a commune over the four top-left cells and one over the bottom right pixel
    com = gpd.GeoDataFrame({"commune_code": ["A", "B"], "population": [1000.0, 50.0]},
                           geometry=[shapely.box(0, 1000, 1000, 2000),
                                     shapely.box(1000, 0, 2000, 1000)], crs=32648)
    d = population_surface(com, cell_size_m=250, raster=grid)
    assert d.groupby("commune_code")["population"].sum().to_dict() == pytest.approx(
        {"A": 1000.0, "B": 50.0})
    assert d.loc[d["commune_code"] == "A", "population"].tolist() == pytest.approx([62.5] * 16)
