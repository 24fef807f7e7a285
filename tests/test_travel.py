"""The travel model chosen in config.toml, end to end: roads from an OSM extract cut to the
province, cells far from every road counted by brute force, the friction model on a uniform
grid against the octile formula, new plan sites costed by the same model, outputs naming the
model; a table extended with new sites equals the table built with them from the start.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import rasterio
import shapely
from rasterio.transform import from_origin

from gis.cli import main
from gis.inputs import readers as R
from gis.inputs.config import load_config
from gis.model.costs import straight_line_costs
from gis.model.roads import road_costs
from gis.model.travel import extend_costs, friction_model, road_model, straight_model
from gis.pipeline import (
    extract_roads,
    prepare,
    roads_margin_m,
    run_access_stage,
    travel_model,
)
from tests.test_osm import write_pbf  # pyosmium: the test module skips without it

ROOT = Path(__file__).resolve().parents[1]
SQ2 = math.sqrt(2.0)


def _ha_tinh_pbf(path):
    """Roads around Hà Tĩnh city (18.34 N, 105.90 E): a primary road east-west, a secondary
    north-south, a ferry across the Lam river to the north; one road near Huế (16.0 N), far
    beyond any margin."""
    nodes = {1: (105.70, 18.34), 2: (105.90, 18.34), 3: (106.10, 18.34),
             4: (105.90, 18.20), 5: (105.90, 18.50), 6: (105.90, 18.60),
             7: (107.50, 16.00), 8: (107.52, 16.00)}
    return write_pbf(path, nodes, [
        (1, [1, 2, 3], {"highway": "primary", "name": "Quốc lộ 8"}),
        (2, [4, 2, 5], {"highway": "secondary"}),
        (3, [5, 6], {"route": "ferry", "duration": "00:20"}),
        (4, [7, 8], {"highway": "primary"}),
    ])


def _grid_pbf(path, step_deg: float = 0.05):
    """Tertiary roads on a grid of ``step_deg`` over Hà Tĩnh (lines crossing at shared nodes):
    every point lies within half a step (about 2.7 km) of a road, so most facilities are
    within the road model's 2 km off-road leg and some cells are not."""
    lons = np.arange(105.05, 106.60, step_deg)
    lats = np.arange(17.85, 18.85, step_deg)
    nid = {(i, j): 1 + i * len(lats) + j for i in range(len(lons)) for j in range(len(lats))}
    nodes = {n: (float(lons[i]), float(lats[j])) for (i, j), n in nid.items()}
    ways = [(1 + i, [nid[i, j] for j in range(len(lats))], {"highway": "tertiary"})
            for i in range(len(lons))]
    ways += [(1000 + j, [nid[i, j] for i in range(len(lons))], {"highway": "tertiary"})
             for j in range(len(lats))]
    return write_pbf(path, nodes, ways)


def _config(tmp_path, body: str) -> Path:
    cfg = tmp_path / "config.toml"
    hosp = (ROOT / "layers" / "hatinh_hospitals.csv").as_posix()
    cfg.write_text(f'[province]\nname = "42"\npopulation_total = 1623061\n'
                   f'[layers]\nfacilities = "{hosp}"\n' + body, encoding="utf-8")
    return cfg


@pytest.fixture(scope="module")
def roads_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("roads")
    pbf = _ha_tinh_pbf(tmp / "ht.osm.pbf")
    cfg = load_config(_config(tmp, f'roads = "{pbf.as_posix()}"\n'))
    prep = prepare(cfg)
    return cfg, prep, run_access_stage(prep)


def test_pbf_roads_cut_to_the_province_and_the_road_model_chosen(roads_run):
    cfg, prep, acc = roads_run
    assert cfg.travel.model == "roads"          # a road layer and no travel.model
    # margin: half of 180 min at the fastest class of motorbike (trunk 50 km/h) and car
    # (motorway 90 km/h): 135 km; the road near Huế is about 260 km away
    assert roads_margin_m(cfg) == pytest.approx(90 / 60 * 90 * 1000)
    assert sorted(prep.roads["osm_id"].unique()) == [1, 2, 3]
    assert prep.roads.loc[prep.roads["osm_id"] == 3, "is_ferry"].all()
    tm = acc.summary["travel_model"]
    assert tm["kind"] == "roads" and tm["mode"] == "motorbike" and tm["is_estimate"] is False
    assert tm["ferry_edges"] == 2 and "OpenStreetMap" in tm["roads"]


def test_cells_far_from_every_road_are_counted_by_brute_force(roads_run):
    cfg, prep, acc = roads_run
    demand = acc.demand
    lines = prep.roads[~prep.roads["is_ferry"]].geometry.to_numpy()
    union = shapely.union_all(lines)
    far = shapely.distance(shapely.points(demand[["x", "y"]].to_numpy()), union) \
        > cfg.travel.roads.snap_max_m
    got = acc.summary["travel_model"]["cells_without_time"]
    assert got["cells"] == int(far.sum()) > 1000
    assert got["population"] == pytest.approx(float(demand["population"][far].sum()))
    assert got["why"] == "more than 2000 m from a road open to motorbike"
    # they have no road trip: only a walk straight to a station within 2,000 m (4.5 km/h)
    st = demand["station_time_min"].to_numpy()
    fac = prep.layers.facilities
    sxy = fac.loc[(fac["tier"] == "station") & (fac["status"] == "active")] \
        .geometry.get_coordinates().to_numpy()
    cxy = demand[["x", "y"]].to_numpy()[far]
    walk_m = np.hypot(*(cxy[:, None, :] - sxy[None, :, :]).transpose(2, 0, 1)).min(axis=1)
    ref = np.where(walk_m <= 2000, walk_m / 75.0, np.nan)
    assert np.array_equal(np.isnan(st[far]), np.isnan(ref))
    assert np.allclose(st[far][~np.isnan(ref)], ref[~np.isnan(ref)], rtol=1e-9)
    assert np.isnan(ref).sum() > 1000


def test_friction_uniform_grid_equals_the_octile_distance(tmp_path):
    """No roads, no land cover: every pixel costs the same, so the time between two pixel
    centres is the octile distance (straight moves 1, diagonals sqrt 2) x the pixel cost."""
    cfg = load_config(_config(tmp_path, '[travel]\nmodel = "friction"\ncutoff_min = 120\n'
                                        '[travel.friction]\ncell_size_m = 1000\n'
                                        'offroad_speed_kmh = 5.0\n'))
    prep = prepare(cfg)
    acc = run_access_stage(prep)
    surf = travel_model(prep).surface
    assert (surf.speed_kmh == 5.0).all()
    pixel_min = 1000 / (5.0 * 1000 / 60)              # 12 min to cross a pixel
    fac = prep.layers.facilities
    st = fac[(fac["tier"] == "station") & (fac["status"] == "active")]
    ro, co, inside = surf.pixel_of(acc.demand[["x", "y"]].to_numpy())
    rs, cs, _ = surf.pixel_of(st.geometry.get_coordinates().to_numpy())
    assert inside.all()
    dr = np.abs(ro[:, None] - rs[None, :])
    dc = np.abs(co[:, None] - cs[None, :])
    octile = (np.maximum(dr, dc) - np.minimum(dr, dc)) + SQ2 * np.minimum(dr, dc)
    best = (octile * pixel_min).min(axis=1)
    best = np.where(best <= 120 * (1 + 1e-12), best, np.nan)
    got = acc.demand["station_time_min"].to_numpy()
    assert np.array_equal(np.isnan(got), np.isnan(best))
    ok = ~np.isnan(best)
    assert np.abs(got[ok] - best[ok]).max() < 1e-9
    tm = acc.summary["travel_model"]
    assert tm["kind"] == "friction" and tm["cells_without_time"]["cells"] == 0
    # a new plan site is costed on the same grid: the octile formula again
    site = gpd.GeoDataFrame({"facility_id": ["NEW-1"]},
                            geometry=[shapely.Point(acc.demand[["x", "y"]].iloc[0])],
                            crs=prep.layers.crs)
    ext = extend_costs(acc.costs, acc.demand, site, travel=travel_model(prep))
    f = ext.to_frame()
    new = f[f["dest_id"] == "NEW-1"].set_index("origin_id")["time_min"]
    rn, cn, _ = surf.pixel_of(site.geometry.get_coordinates().to_numpy())
    dr, dc = np.abs(ro - rn[0]), np.abs(co - cn[0])
    ref = ((np.maximum(dr, dc) - np.minimum(dr, dc)) + SQ2 * np.minimum(dr, dc)) * pixel_min
    ids = acc.demand["unit_id"].to_numpy()
    within = ref <= 120
    assert set(new.index) == set(ids[within])
    assert np.allclose(new.loc[ids[within]].to_numpy(), ref[within], rtol=0, atol=1e-9)
    # the straight-line model would give other times for the same site
    line = extend_costs(acc.costs, acc.demand, site, travel=straight_model(
        mode="motorbike", speed_kmh=5.0, detour_factor=1.0))
    assert len(line) != len(ext) or not np.allclose(line.time_min, ext.time_min)


def test_extracted_roads_read_back_with_their_tags(tmp_path):
    pbf = _ha_tinh_pbf(tmp_path / "ht.osm.pbf")
    cfg = load_config(_config(tmp_path, ""))
    out, summary, margin = extract_roads(cfg, pbf, out=tmp_path / "r.gpkg", margin_km=20)
    assert margin == 20_000 and summary.ferries == 1
    back = R.read_roads(out, crs=32648)
    assert sorted(set(back["road_class"])) == ["ferry", "primary", "secondary"]
    assert back["is_ferry"].sum() == 1
    assert back.loc[back["is_ferry"], "ferry_duration_min"].iloc[0] == 20.0
    assert back["maxspeed_kmh"].isna().all() and not back["oneway"].any()


def test_landcover_window_read_in_its_own_crs(tmp_path):
    # classes in EPSG:4326, 0.01 degree pixels over 105-107 E, 17-19 N; water (80) west of 106
    values = np.full((200, 200), 40, np.uint8)
    values[:, :100] = 80
    path = tmp_path / "lc.tif"
    with rasterio.open(path, "w", driver="GTiff", width=200, height=200, count=1,
                       dtype="uint8", crs="EPSG:4326", nodata=0,
                       transform=from_origin(105.0, 19.0, 0.01, 0.01)) as dst:
        dst.write(values, 1)
    bounds = gpd.GeoSeries([shapely.box(105.8, 18.2, 106.2, 18.4)], crs=4326) \
        .to_crs(32648).total_bounds
    lc = R.read_landcover(path, bounds=tuple(bounds), crs=32648)
    assert 40 <= lc.values.shape[1] <= 44 and 20 <= lc.values.shape[0] <= 24
    assert set(np.unique(lc.values)) == {40, 80}
    # the window's west edge: the pixel column holding 105.8 E
    assert lc.transform.c == pytest.approx(105.79, abs=0.011)
    with pytest.raises(Exception, match="does not cover the province"):
        far = gpd.GeoSeries([shapely.box(100.0, 10.0, 100.5, 10.5)], crs=4326).to_crs(32648)
        R.read_landcover(path, bounds=tuple(far.total_bounds), crs=32648)


def test_access_outputs_name_the_model(tmp_path):
    out = tmp_path / "out"
    # the roads must pass the input check (most facilities near a road): a grid of roads
    pbf = _grid_pbf(tmp_path / "grid.osm.pbf")
    conf = _config(tmp_path, f'roads = "{pbf.as_posix()}"\n[travel]\nmodel = "roads"\n')
    assert main(["-q", "access", "--config", str(conf), "--out", str(out), "--lang",
                 "en"]) == 0
    s = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert s["travel_model"]["kind"] == "roads"
    assert s["sources"]["travel_model"].startswith("road network (motorbike")
    assert not any("Travel times (estimates)" in e for e in s["estimates"])
    lost = s["access"]["travel_model"]["cells_without_time"]
    assert lost["cells"] > 0
    assert "road network (motorbike" in (out / "access.html").read_text(encoding="utf-8")
    report = (out / "report.html").read_text(encoding="utf-8")
    assert "Travel model: the road network (motorbike)" in report
    assert f"{lost['cells']:,} demand cells" in report
    assert "Travel times are estimates" not in report
    # in Vietnamese: the model's words translated, its numbers in the language's format
    vi = tmp_path / "vi"
    assert main(["-q", "access", "--config", str(conf), "--out", str(vi), "--lang",
                 "vi"]) == 0
    report = (vi / "report.html").read_text(encoding="utf-8")
    assert "Mô hình di chuyển: mạng lưới đường (xe máy)" in report
    assert "mạng lưới đường (xe máy; đoạn ngoài đường với vận tốc 4,5 km/h, tối đa 2.000 m)" \
        in report
    assert f"{lost['cells']:,} ô dân cư".replace(",", ".") in report
    assert "road network" not in report and "motorbike" not in report.replace(
        '"motorbike"', "")
    access = (vi / "access.html").read_text(encoding="utf-8")
    assert "mạng lưới đường (xe máy" in access and "road network" not in access


def test_travel_model_texts_are_translated_as_the_code_writes_them():
    """Every label and reason a travel model writes into the outputs reads in Vietnamese (no
    English word left), with its numbers in the language's format."""
    from gis.outputs.i18n import get_lang
    from gis.pipeline import travel_note
    from tests._i18n_check import english_words

    roads = gpd.GeoDataFrame({"road_class": ["primary"]},
                             geometry=[shapely.LineString([(0, 0), (5000, 0)])], crs=32648)
    models = [straight_model(mode="motorbike", speed_kmh=30, detour_factor=1.4),
              road_model(roads, mode="car", speed_kmh=40, detour_factor=1.4, snap_max_m=1500),
              friction_model((0, 0, 5000, 3000), crs=32648, mode="walking", speed_kmh=4.5,
                             detour_factor=1.4, cell_size_m=250, roads=roads,
                             offroad_speed_kmh=4.5)]
    vi = get_lang("vi")
    texts = []
    for m in models:
        d = m.describe()
        texts += [d["model"], d["label"], travel_note(m)]
        _, info = m.costs(np.array([[2500.0, 2900.0]]), np.array([[100.0, 0.0]]),
                          cutoff_min=60)
        if info["unreached_why"]:
            texts.append(info["unreached_why"])
    out = [vi.text(t) for t in texts]
    assert english_words(out) == []
    assert vi.text(models[1].label()) == ("mạng lưới đường (ô tô; đoạn ngoài đường với vận tốc "
                                          "4,5 km/h, tối đa 1.500 m)")
    assert vi.text(travel_note(models[0])).startswith(
        "Thời gian di chuyển (ước tính): đường thẳng × 1,4 với vận tốc 30 km/h (xe máy)")
    assert "bề mặt ma sát (điểm ảnh 250 m, đi bộ trên đường" in vi.text(models[2].label())


def _frame(costs):
    return costs.to_frame().sort_values(["origin_id", "dest_id"]).reset_index(drop=True)


def _case():
    rng = np.random.default_rng(4)
    demand = pd.DataFrame({"x": rng.integers(0, 9000, 60), "y": rng.integers(0, 9000, 60)})
    old = rng.uniform(0, 9000, (4, 2))
    new = rng.uniform(0, 9000, (3, 2))
    sites = gpd.GeoDataFrame({"facility_id": ["A", "N1", "N2", "N3"]},
                             geometry=shapely.points(np.vstack([old[:1], new])), crs=32648)
    return demand, old, new, sites


def test_extend_straight_line_equals_the_table_built_with_the_new_sites():
    demand, old, new, sites = _case()
    xy = demand[["x", "y"]].to_numpy(float)
    kw = {"speed_kmh": 30.0, "detour_factor": 1.4, "cutoff_min": 12.0}
    ids = np.arange(len(xy)) + 100
    base = straight_line_costs(xy, old, origin_ids=ids, dest_ids=np.array(["A", "B", "C", "D"]),
                               mode="motorbike", **kw)
    # site A is already in the table: only N1..N3 are added
    ext = extend_costs(base, demand, sites, speed_kmh=30.0, detour_factor=1.4)
    full = straight_line_costs(xy, np.vstack([old, new]), origin_ids=ids,
                               dest_ids=np.array(["A", "B", "C", "D", "N1", "N2", "N3"]),
                               mode="motorbike", **kw)
    assert list(ext.dest_ids) == ["A", "B", "C", "D", "N1", "N2", "N3"]
    assert ext.cutoff_min == 12.0 and ext.mode == "motorbike"
    assert np.array_equal(ext.origin_ids, ids)
    pd.testing.assert_frame_equal(_frame(ext), _frame(full))
    assert (np.diff(ext.origin) >= 0).all()
    # nothing new: the same table back
    assert extend_costs(base, demand, sites.iloc[:1], speed_kmh=30.0,
                        detour_factor=1.4) is base


def _roads():
    """A 1.5 km grid of roads meeting at shared vertices."""
    lines = [shapely.segmentize(shapely.LineString([(0, y), (9000, y)]), 1500)
             for y in range(0, 9001, 1500)]
    lines += [shapely.segmentize(shapely.LineString([(x, 0), (x, 9000)]), 1500)
              for x in range(0, 9001, 1500)]
    return gpd.GeoDataFrame({"road_class": ["primary"] * 7 + ["track"] * 7, "oneway": False},
                            geometry=lines, crs=32648)


def test_extend_by_road_equals_the_road_table_built_with_the_new_sites():
    demand, old, new, sites = _case()
    xy = demand[["x", "y"]].to_numpy(float)
    speeds = {"primary": 50.0, "track": 20.0, "default": 25.0}
    ids = np.arange(len(xy))
    base, _ = road_costs(xy, old, _roads(), class_speeds_kmh=speeds, offroad_speed_kmh=4.5,
                         cutoff_min=30.0, origin_ids=ids,
                         dest_ids=np.array(["A", "B", "C", "D"]))
    # the off-road speed is left at its default (4.5 km/h, as the access stage's); the
    # straight line's speed and detour serve no trip here
    ext = extend_costs(base, demand, sites, travel=road_model(
        _roads(), mode="motorbike", speed_kmh=99.0, detour_factor=9.9, class_speeds_kmh=speeds))
    full, _ = road_costs(xy, np.vstack([old, new]), _roads(), class_speeds_kmh=speeds,
                         offroad_speed_kmh=4.5, cutoff_min=30.0, origin_ids=ids,
                         dest_ids=np.array(["A", "B", "C", "D", "N1", "N2", "N3"]))
    assert ext.cutoff_min == 30.0 and ext.mode == base.mode == full.mode
    got, want = _frame(ext), _frame(full)
    pd.testing.assert_frame_equal(got, want, check_dtype=False)
    assert len(got) > len(_frame(base))


def test_extend_a_straight_line_model_adds_its_destinations():
    """A StraightLineModel gets the new sites (those it does not hold) as more destinations of
    its own model (its speed and detour factor, not the arguments'): its full table equals the
    table built with them from the start, and the ids are strings after the present ones."""
    from gis.model.costs import StraightLineModel

    demand, old, new, sites = _case()
    xy = demand[["x", "y"]].to_numpy(float)
    kw = {"speed_kmh": 30.0, "detour_factor": 1.4, "cutoff_min": 12.0}
    model = StraightLineModel(xy, old, dest_ids=np.array(["A", "B", "C", "D"]), **kw)
    ext = extend_costs(model, demand, sites.assign(facility_id=["A", 7, "N2", "N3"]),
                       speed_kmh=99.0, detour_factor=9.9)
    assert isinstance(ext, StraightLineModel)
    assert list(ext.dest_ids) == ["A", "B", "C", "D", "7", "N2", "N3"]
    assert all(isinstance(i, str) for i in ext.dest_ids[4:])
    full = straight_line_costs(xy, np.vstack([old, new]),
                               dest_ids=np.array(["A", "B", "C", "D", "7", "N2", "N3"]), **kw)
    pd.testing.assert_frame_equal(_frame(ext.table()), _frame(full))
    assert extend_costs(model, demand, sites.iloc[:1], speed_kmh=30.0,
                        detour_factor=1.4) is model


def test_straight_line_travel_model_names_its_tables_and_origins():
    """The straight-line model's table (costs) and model (cost_model) are both of mode
    "straight_line", and the model keeps the origin and destination ids given."""
    tm = straight_model(mode="motorbike", speed_kmh=60.0, detour_factor=1.0)
    o = np.array([[0.0, 0.0], [1000.0, 0.0]])
    d = np.array([[0.0, 0.0]])
    table, info = tm.costs(o, d, cutoff_min=5.0, origin_ids=np.array(["u", "v"]))
    assert table.mode == "straight_line" and info["unreached_origins"] == 0
    model = tm.cost_model(o, d, cutoff_min=5.0, origin_ids=np.array(["u", "v"]),
                          dest_ids=np.array(["P"]))
    assert model.mode == "straight_line"
    assert model.origin_ids.tolist() == ["u", "v"] and model.dest_ids.tolist() == ["P"]
    f = model.within(5.0).to_frame()
    assert list(zip(f["origin_id"], f["dest_id"], f["time_min"], strict=True)) == [
        ("u", "P", 0.0), ("v", "P", 1.0)]
    assert model.table().mode == "straight_line"
