"""The GeoPackage writer: large layers through GDAL's Arrow interface give the file the row by
row path gives (fields, types, values, geometries)."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely

from gis.outputs import geopackage


def _layer(n: int) -> gpd.GeoDataFrame:
    rng = np.random.default_rng(3)
    status = np.array(["served", "partly served", "not served (capacity)", "Trạm Y tế <b>"])
    return gpd.GeoDataFrame({
        "unit_id": np.arange(n), "commune_code": rng.choice(["42001", "42004"], n),
        "population": rng.random(n) * 10, "status": rng.choice(status, n),
        "served_by": rng.choice(["HT-S001", ""], n), "analysed": rng.random(n) > 0.5,
        "time_min": np.where(rng.random(n) > 0.9, np.nan, rng.random(n) * 30),
        "source": pd.Categorical(rng.choice(["by area", "by the raster"], n))},
        geometry=[shapely.box(i * 100.0, 0, i * 100.0 + 100, 100) for i in range(n)],
        crs="EPSG:32648")


def test_large_layers_through_arrow_write_the_same_file(tmp_path, monkeypatch):
    gdf = _layer(300)
    row = tmp_path / "row.gpkg"
    geopackage.write_geopackage({"cells": gdf}, row)
    monkeypatch.setattr(geopackage, "ARROW_ROWS", 100)
    arrow = tmp_path / "arrow.gpkg"
    calls = []
    real = pyogrio.write_dataframe
    monkeypatch.setattr(pyogrio, "write_dataframe",
                        lambda *a, **k: calls.append(k.get("use_arrow")) or real(*a, **k))
    geopackage.write_geopackage({"cells": gdf, "small": gdf.head(50)}, arrow)
    assert calls == [True, False]
    a, b = pyogrio.read_info(row, layer="cells"), pyogrio.read_info(arrow, layer="cells")
    assert list(a["fields"]) == list(b["fields"]) and list(a["dtypes"]) == list(b["dtypes"])
    assert a["geometry_type"] == b["geometry_type"] and a["features"] == b["features"] == 300
    ra, rb = pyogrio.read_dataframe(row, layer="cells"), pyogrio.read_dataframe(arrow,
                                                                               layer="cells")
    pd.testing.assert_frame_equal(pd.DataFrame(ra.drop(columns="geometry")),
                                  pd.DataFrame(rb.drop(columns="geometry")))
    assert (ra.geometry.to_wkb() == rb.geometry.to_wkb()).all()
    assert rb["status"].tolist() == gdf["status"].tolist()
