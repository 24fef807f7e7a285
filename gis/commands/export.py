"""``gis export qgis|geojson|csv``: exchange formats from an output GeoPackage.

- ``qgis``: a styled QGIS project (.qgz) beside the GeoPackage (or at ``--out``), reading it by
  a relative path.
- ``geojson``: one RFC 7946 GeoJSON file (EPSG:4326) per layer in ``--out``.
- ``csv``: one CSV per layer in ``--out``: the attributes plus ``lon``/``lat`` (EPSG:4326) of
  each point, or of a point inside each line/polygon; ``--wkt`` adds the geometry as WKT.

Nothing is overwritten without ``--overwrite``; every output is checked before any is written.
"""

from __future__ import annotations

import argparse
import io
import logging
from pathlib import Path

log = logging.getLogger(__name__)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("export", help="QGIS project, GeoJSON or CSV from an output GeoPackage")
    esub = p.add_subparsers(dest="export_format", metavar="FORMAT")
    esub.required = True

    q = esub.add_parser("qgis", help="styled QGIS project (.qgz) reading the GeoPackage")
    q.add_argument("gpkg", type=Path, help="GeoPackage written by `gis run` (layers.gpkg)")
    q.add_argument("--out", type=Path, default=None,
                   help="project file to write (default: beside the GeoPackage, .qgz)")
    q.add_argument("--title", default=None, help="project title")
    q.add_argument("--overwrite", action="store_true", help="replace an existing project")
    q.set_defaults(func=_qgis)

    for fmt, helptext in (("geojson", "one GeoJSON (EPSG:4326) per layer"),
                          ("csv", "one CSV per layer with lon/lat (EPSG:4326)")):
        e = esub.add_parser(fmt, help=helptext)
        e.add_argument("gpkg", type=Path, help="GeoPackage written by `gis run` (layers.gpkg)")
        e.add_argument("--layer", action="append", default=None,
                       help="layer to export (repeat; default: every layer)")
        e.add_argument("--out", type=Path, default=None,
                       help="output folder (default: the GeoPackage's folder)")
        e.add_argument("--overwrite", action="store_true", help="replace existing files")
        if fmt == "csv":
            e.add_argument("--wkt", action="store_true",
                           help="add the geometry as WKT (EPSG:4326) in a column 'wkt'")
        e.set_defaults(func=_tables, fmt=fmt)


def _qgis(args: argparse.Namespace) -> int:
    from gis.qgis import write_project_for_geopackage

    path = write_project_for_geopackage(args.gpkg, project=args.out, title=args.title,
                                        overwrite=args.overwrite)
    if args.quiet <= 0:
        print(f"written: {path}")
    return 0


def _read_layers(gpkg: Path, wanted: list[str] | None) -> dict:
    import geopandas as gpd
    import pyogrio

    from gis.errors import LayerError

    if not gpkg.is_file():
        raise LayerError(str(gpkg), ["file not found: give the GeoPackage written by "
                                     "`gis run` (layers.gpkg in the output folder)"])
    try:
        names = [str(n) for n, _ in pyogrio.list_layers(gpkg)]
    except Exception as exc:  # noqa: BLE001 - GDAL errors: report the file
        raise LayerError(str(gpkg), [f"cannot read as a GeoPackage: {exc}"]) from exc
    if wanted:
        unknown = [w for w in wanted if w not in names]
        if unknown:
            raise LayerError(str(gpkg), [f"no layer {u!r}; layers: {', '.join(names)}"
                                         for u in unknown])
        names = [n for n in names if n in wanted]
    return {n: gpd.read_file(gpkg, layer=n) for n in names}


def _tables(args: argparse.Namespace) -> int:
    import shapely

    from gis import _io
    from gis.errors import LayerError

    layers = _read_layers(args.gpkg, args.layer)
    folder = args.out or args.gpkg.parent
    ext = "geojson" if args.fmt == "geojson" else "csv"
    paths = {n: folder / f"{n}.{ext}" for n in layers}
    _io.check_writable(paths.values(), overwrite=args.overwrite)
    for name, gdf in layers.items():
        if gdf.crs is None:
            raise LayerError(f"{args.gpkg}|{name}", ["layer has no CRS: cannot convert to "
                                                     "EPSG:4326"])
        wgs = gdf.to_crs(4326)
        if args.fmt == "geojson":
            text = wgs.to_json(drop_id=True, ensure_ascii=False)
        else:
            table = wgs.drop(columns=wgs.geometry.name)
            pts = wgs.geometry.copy()
            not_point = ~pts.geom_type.isin(["Point"]) & pts.notna()
            pts[not_point] = shapely.point_on_surface(pts[not_point].values)
            table["lon"] = pts.x.round(6)
            table["lat"] = pts.y.round(6)
            if args.wkt:
                table["wkt"] = shapely.to_wkt(wgs.geometry.values, rounding_precision=6)
            buf = io.StringIO()
            table.to_csv(buf, index=False)
            text = buf.getvalue()
        # CSV with a BOM so spreadsheet programs read Vietnamese text as UTF-8
        _io.write_text(paths[name], text, overwrite=args.overwrite,
                       encoding="utf-8-sig" if ext == "csv" else "utf-8")
        if args.quiet <= 0:
            print(f"{name}: {len(gdf)} features -> {paths[name]}")
    return 0
