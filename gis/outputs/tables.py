"""Tables as files: plans and sites as CSV (the format ``gis plan evaluate`` reads), the scenario
table."""

from __future__ import annotations

import io
from collections.abc import Mapping
from pathlib import Path

import geopandas as gpd
import pandas as pd
import shapely

from gis.errors import LayerError
from gis.inputs.plans import Plan
from gis.outputs import files

PLAN_COLUMNS = ["facility_id", "name", "legacy_commune_code", "action", "target_commune_code",
                "rule"]


def plan_csv(plan: Plan, facilities: gpd.GeoDataFrame) -> str:
    """A plan as CSV text: one row per station with its name, pre-2025 commune, action, target
    commune and the rule that decided (the format ``gis plan evaluate`` reads). A plan with new
    sites also gets ``role``, ``lon`` and ``lat`` (EPSG:4326), filled on the new rows only."""
    a = plan.actions.drop(columns=[c for c in ("name",) if c in plan.actions]).merge(
        facilities[["facility_id", "name", "legacy_commune_code"]], on="facility_id",
        how="left")
    if "name" in plan.actions:
        given = plan.actions.set_index("facility_id")["name"]
        a["name"] = a["name"].fillna(a["facility_id"].map(given))
    cols = list(PLAN_COLUMNS)
    new = (a["action"] == "new").to_numpy()
    if new.any():
        pts = gpd.GeoSeries(shapely.points(a.loc[new, "x"].to_numpy(float),
                                           a.loc[new, "y"].to_numpy(float)),
                            crs=facilities.crs).to_crs(4326)
        a["lon"] = None
        a["lat"] = None
        a.loc[new, "lon"] = pts.x.round(6).to_numpy()
        a.loc[new, "lat"] = pts.y.round(6).to_numpy()
        a["role"] = a["role"].where(new, "") if "role" in a else ""
        cols += ["role", "lon", "lat"]
    return sites_csv(a[cols])


def sites_csv(table: pd.DataFrame) -> str:
    """A table as CSV text (UTF-8, no index)."""
    buf = io.StringIO()
    table.to_csv(buf, index=False)
    return buf.getvalue()


def write_csv(table: pd.DataFrame, path: str | Path, *, overwrite: bool = False) -> Path:
    """Write a table as CSV (UTF-8, no index) atomically."""
    return files.write_text(path, sites_csv(table), overwrite=overwrite)


def write_exchange(layers: Mapping[str, gpd.GeoDataFrame], folder: str | Path, *, fmt: str,
                   wkt: bool = False, source: str = "", overwrite: bool = False
                   ) -> dict[str, tuple[int, Path]]:
    """Each layer as an exchange file in ``folder``: ``fmt="geojson"`` one RFC 7946 GeoJSON
    (EPSG:4326) per layer; ``fmt="csv"`` one CSV per layer with the attributes and ``lon``/``lat``
    (EPSG:4326) of each point, or of a point inside each line/polygon (``wkt`` adds the geometry
    as WKT). Every output is checked before any is written. Returns layer -> (features, path).
    """
    folder = Path(folder)
    ext = "geojson" if fmt == "geojson" else "csv"
    paths = {n: folder / f"{n}.{ext}" for n in layers}
    files.check_writable(paths.values(), overwrite=overwrite)
    written: dict[str, tuple[int, Path]] = {}
    for name, gdf in layers.items():
        if gdf.crs is None:
            raise LayerError(f"{source}|{name}", ["layer has no CRS: cannot convert to "
                                                  "EPSG:4326"])
        wgs = gdf.to_crs(4326)
        if fmt == "geojson":
            text = wgs.to_json(drop_id=True, ensure_ascii=False)
        else:
            table = wgs.drop(columns=wgs.geometry.name)
            pts = wgs.geometry.copy()
            not_point = ~pts.geom_type.isin(["Point"]) & pts.notna()
            pts[not_point] = shapely.point_on_surface(pts[not_point].values)
            table["lon"] = pts.x.round(6)
            table["lat"] = pts.y.round(6)
            if wkt:
                table["wkt"] = shapely.to_wkt(wgs.geometry.values, rounding_precision=6)
            text = sites_csv(table)
        # CSV with a BOM so spreadsheet programs read Vietnamese text as UTF-8
        files.write_text(paths[name], text, overwrite=overwrite,
                         encoding="utf-8-sig" if ext == "csv" else "utf-8")
        written[name] = (len(gdf), paths[name])
    return written
