"""Population surface: areal weighting preserves every commune's total exactly."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
import shapely

from gis.errors import GisError
from gis.inputs.readers import read_population_raster
from gis.model.demand import population_surface


def _communes():
    """Three communes in EPSG:32648 (metres):

    A: a 1000 x 1000 m square at the origin, 400 people -> 4 cells of 500 m, 100 each.
    B: the 1000 x 500 m rectangle east of A, 0 people (uninhabited).
    C: a 100 x 100 m square (smaller than a cell) at (1200, 1200), 30 people.
    """
    geoms = [shapely.box(0, 0, 1000, 1000), shapely.box(1000, 0, 2000, 500),
             shapely.box(1200, 1200, 1300, 1300)]
    return gpd.GeoDataFrame({"commune_code": ["A", "B", "C"], "population": [400.0, 0.0, 30.0]},
                            geometry=geoms, crs=32648)


def test_areal_weighting_by_hand():
    d = population_surface(_communes(), cell_size_m=500)
    a = d[d["commune_code"] == "A"]
    assert len(a) == 4 and np.allclose(a["population"], 100)
    assert np.allclose(a["area_m2"], 250_000)
    assert d.loc[d["commune_code"] == "B", "population"].sum() == 0
    c = d[d["commune_code"] == "C"]
    assert len(c) == 1 and c["population"].iloc[0] == pytest.approx(30)
    assert c["area_m2"].iloc[0] == pytest.approx(10_000)
    # points lie inside their piece; ids are unique
    assert shapely.contains_properly(d.geometry.to_numpy(),
                                     shapely.points(d["x"], d["y"])).all()
    assert d["unit_id"].is_unique


def test_cell_split_between_communes_is_two_units():
    # a 300 m offset grid: cells straddle A's edge; each commune keeps its own pieces
    com = _communes()
    d = population_surface(com, cell_size_m=300)
    sums = d.groupby("commune_code")["population"].sum()
    assert sums.to_dict() == pytest.approx({"A": 400.0, "B": 0.0, "C": 30.0})
    shared = d.groupby("cell_id")["commune_code"].nunique()
    assert (shared > 1).any()


def test_legacy_pieces_carry_both_codes():
    com = _communes()
    legacy = gpd.GeoDataFrame(
        {"commune_code": ["a1", "a2", "b1", "c1"], "new_commune_code": ["A", "A", "B", "C"]},
        geometry=[shapely.box(0, 0, 500, 1000), shapely.box(500, 0, 1000, 1000),
                  shapely.box(1000, 0, 2000, 500), shapely.box(1200, 1200, 1300, 1300)],
        crs=32648)
    d = population_surface(com, cell_size_m=500, legacy=legacy)
    by = d.groupby("legacy_commune_code")["population"].sum()
    assert by.to_dict() == pytest.approx({"a1": 200.0, "a2": 200.0, "b1": 0.0, "c1": 30.0})
    assert d.groupby("legacy_commune_code")["commune_code"].first().to_dict() == {
        "a1": "A", "a2": "A", "b1": "B", "c1": "C"}


def test_raster_weights_keep_commune_totals(tmp_path):
    import rasterio
    from rasterio.transform import from_origin

    # 100 m pixels over A: all raster people in A's south-west cell
    data = np.zeros((10, 10), dtype="float32")
    data[5:, :5] = 7.0    # rows 5-9 are y 0..500, cols 0-4 are x 0..500
    path = tmp_path / "pop.tif"
    with rasterio.open(path, "w", driver="GTiff", height=10, width=10, count=1,
                       dtype="float32", crs="EPSG:32648",
                       transform=from_origin(0, 1000, 100, 100)) as dst:
        dst.write(data, 1)
    d = population_surface(_communes(), cell_size_m=500,
                           raster=read_population_raster(path))
    a = d[d["commune_code"] == "A"].set_index("cell_id")["population"]
    assert a["0_0"] == pytest.approx(400) and a.drop("0_0").sum() == pytest.approx(0)
    # C has no raster people: areal weighting there, total kept
    assert d.loc[d["commune_code"] == "C", "population"].sum() == pytest.approx(30)


def test_raster_of_less_than_one_person_still_splits_the_whole_total(tmp_path):
    """A commune whose pixels hold less than one person in all (0.01 per pixel in A's
    south-west cell) still gets its whole population, split as the raster says."""
    import rasterio
    from rasterio.transform import from_origin

    data = np.zeros((10, 10), dtype="float32")
    data[5:, :5] = 0.01   # 25 pixels of 0.01: 0.25 persons, all in A's south-west cell
    path = tmp_path / "pop.tif"
    with rasterio.open(path, "w", driver="GTiff", height=10, width=10, count=1,
                       dtype="float32", crs="EPSG:32648",
                       transform=from_origin(0, 1000, 100, 100)) as dst:
        dst.write(data, 1)
    d = population_surface(_communes(), cell_size_m=500, raster=read_population_raster(path))
    a = d[d["commune_code"] == "A"].set_index("cell_id")["population"]
    assert a["0_0"] == pytest.approx(400) and a.drop("0_0").sum() == pytest.approx(0)


def test_unknown_population_and_bad_crs_are_errors():
    com = _communes()
    com.loc[1, "population"] = np.nan
    with pytest.raises(GisError, match=r"population unknown for 1 communes \(B\)"):
        population_surface(com)
    with pytest.raises(GisError, match=r"projected CRS"):
        population_surface(_communes().to_crs(4326))
    with pytest.raises(GisError, match=r"cell_size_m"):
        population_surface(_communes(), cell_size_m=0)


def test_real_ha_tinh_totals_per_commune(communes_2025_path):
    from gis.inputs import layers as L
    from gis.inputs import readers as R
    from gis.inputs.registry import load_registry

    reg = load_registry("42")
    crs = L.working_crs(reg)
    com = R.read_communes(communes_2025_path, reg, crs=crs, population_field="population_2025")
    lay = L.build_layers(reg, crs=crs, communes=com)
    d = population_surface(lay.communes, cell_size_m=500, legacy=lay.communes_legacy)
    sums = d.groupby("commune_code")["population"].sum()
    expected = lay.communes.set_index("commune_code")["population"]
    assert np.allclose(sums.reindex(expected.index), expected, rtol=0, atol=1e-6)
    assert d["population"].sum() == pytest.approx(1_623_061)
    assert d["legacy_commune_code"].nunique() == 209


def test_pieces_equal_brute_force_intersection():
    """The cells found from the rings' grid crossings and a scanline are those a test of every
    cell of the bounding box finds, with the same areas: holes, several parts, edges along
    grid lines, a spike thinner than a cell, a polygon inside one cell."""
    from gis.model.demand import _cell_pieces

    star = shapely.Polygon([(1000 + 900 * np.cos(a) * (1 if k % 2 else 0.35),
                             5000 + 900 * np.sin(a) * (1 if k % 2 else 0.35))
                            for k, a in enumerate(np.linspace(0, 2 * np.pi, 23)[:-1])])
    geoms = np.array([
        shapely.box(0, 0, 2000, 1500).difference(shapely.box(600, 400, 1350, 900)),   # hole
        shapely.MultiPolygon([shapely.box(2500, 0, 3000, 500),                        # on lines
                              shapely.Polygon([(3100, 100), (4900, 130), (3120, 160)])]),  # spike
        star,
        shapely.box(5120, 5120, 5180, 5190),                                          # one cell
        shapely.Polygon([(6000, 0), (8000, 3000), (6500, 900), (6000, 3000)]),        # concave
    ], dtype=object)
    cs = 250.0
    poly, ix, iy, pieces, area, full = _cell_pieces(geoms, cs)
    ref = {}
    for p, g in enumerate(geoms):
        x0, y0, x1, y1 = g.bounds
        for i in range(int(np.floor(x0 / cs)), int(np.floor(x1 / cs)) + 1):
            for j in range(int(np.floor(y0 / cs)), int(np.floor(y1 / cs)) + 1):
                a = shapely.intersection(g, shapely.box(i * cs, j * cs, (i + 1) * cs,
                                                        (j + 1) * cs)).area
                if a > 0:
                    ref[(p, i, j)] = a
    got = dict(zip(zip(poly.tolist(), ix.tolist(), iy.tolist(), strict=True), area.tolist(),
                   strict=True))
    assert got.keys() == ref.keys()
    assert all(abs(got[k] - ref[k]) < 1e-6 for k in ref)
    assert np.allclose(area[full], cs * cs) and (area[~full] < cs * cs + 1e-6).all()
    key = list(zip(poly, iy, ix, strict=True))
    assert key == sorted(key)                                          # polygon, row, column
    assert shapely.equals(pieces[full][0], shapely.box(ix[full][0] * cs, iy[full][0] * cs,
                                                       (ix[full][0] + 1) * cs,
                                                       (iy[full][0] + 1) * cs))


def test_commune_without_area_is_one_unit_at_its_point():
    """A commune whose polygon has no area on the grid (degenerate) is one demand unit of its
    whole population at a point of it: area 0, cell 0_0, no former commune."""
    com = _communes()
    flat = shapely.Polygon([(3000, 3000), (3500, 3000), (4000, 3000)])
    com = gpd.GeoDataFrame({"commune_code": ["A", "B", "C", "Z"],
                            "population": [400.0, 0.0, 30.0, 55.0]},
                           geometry=[*com.geometry, flat], crs=32648)
    d = population_surface(com, cell_size_m=500)
    z = d[d["commune_code"] == "Z"]
    assert len(z) == 1 and z["population"].item() == 55.0
    assert (z["area_m2"].item(), z["cell_id"].item(), z["legacy_commune_code"].item()) == (
        0.0, "0_0", "")
    assert shapely.get_x(z.geometry.item()) == pytest.approx(z["x"].item())
    assert list(d["unit_id"]) == list(range(len(d)))
    # the others as without it
    pd_other = d[d["commune_code"] != "Z"].reset_index(drop=True)
    alone = population_surface(_communes(), cell_size_m=500)
    assert pd_other["population"].tolist() == alone["population"].tolist()
    assert pd_other["cell_id"].tolist() == alone["cell_id"].tolist()


def test_population_unknown_lists_five_communes():
    com = gpd.GeoDataFrame({"commune_code": list("ABCDEF"), "population": [np.nan] * 6},
                           geometry=[shapely.box(i * 10, 0, i * 10 + 10, 10) for i in range(6)],
                           crs=32648)
    with pytest.raises(GisError) as err:
        population_surface(com)
    assert str(err.value) == ("population unknown for 6 communes (A, B, C, D, E …): give a "
                              "communes layer with population, or province.population_total "
                              "for an estimate")


def test_rectangle_clipping_falls_back_to_one_geometry_at_a_time(monkeypatch):
    """Where GEOS's array rectangle clipping fails, each piece is clipped alone (and, where
    that fails too, intersected with its cell): the same units."""
    want = population_surface(_communes(), cell_size_m=500)

    def fail(*args, **kw):
        raise shapely.errors.GEOSException("test: rectangle clipping failed")

    monkeypatch.setattr(shapely.lib, "clip_by_rect", fail)
    got = population_surface(_communes(), cell_size_m=500)
    assert got["cell_id"].tolist() == want["cell_id"].tolist()
    assert got["population"].tolist() == pytest.approx(want["population"].tolist())
    assert got["area_m2"].tolist() == pytest.approx(want["area_m2"].tolist())
def test_population_raster_window_and_nodata(tmp_path):
    """A user's raster read for a lon/lat box: the window of whole pixels covering it, nodata
    and negative pixels as nobody; a box outside the raster is an error naming the file."""
    import rasterio
    from rasterio.transform import from_origin

    from gis.errors import LayerError

    data = np.arange(100, dtype="float32").reshape(10, 10)
    data[0, 0], data[9, 9] = -99999, -1
    path = tmp_path / "pop.tif"
    with rasterio.open(path, "w", driver="GTiff", height=10, width=10, count=1,
                       dtype="float32", crs="EPSG:4326", nodata=-99999,
                       transform=from_origin(105.0, 19.0, 0.1, 0.1)) as dst:
        dst.write(data, 1)
    whole = read_population_raster(path)
    assert whole.values.shape == (10, 10) and np.isnan(whole.values[0, 0])
    assert np.isnan(whole.values[9, 9]) and whole.total() == pytest.approx(data[data > 0].sum())
    part = read_population_raster(path, bounds_lonlat=(105.25, 18.45, 105.55, 18.75))
    # columns 2..5 (105.2-105.6), rows 2..5 (18.8-18.4)
    assert part.values.shape == (4, 4)
    assert part.values[0, 0] == data[2, 2] and part.values[-1, -1] == data[5, 5]
    assert (part.transform.c, part.transform.f) == pytest.approx((105.2, 18.8))
    with pytest.raises(LayerError, match=r"(?s)pop.tif.*no populated pixel inside the province"):
        read_population_raster(path, bounds_lonlat=(110.0, 10.0, 110.5, 10.5))
