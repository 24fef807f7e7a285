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
import logging
from pathlib import Path

from gis.outputs.capacity import qgis_styles
from gis.outputs.i18n import DEFAULT_LANGUAGE, LANGUAGES
from gis.outputs.qgis import write_project_for_geopackage
from gis.pipeline import export_layers

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
    q.add_argument("--lang", choices=LANGUAGES, default=DEFAULT_LANGUAGE,
                   help="language of the layer titles, groups and legends (default: vi)")
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
    path = write_project_for_geopackage(args.gpkg, project=args.out, title=args.title,
                                        overwrite=args.overwrite, lang=args.lang,
                                        styles=qgis_styles)
    if args.quiet <= 0:
        print(f"written: {path}")
    return 0


def _tables(args: argparse.Namespace) -> int:
    written = export_layers(args.gpkg, fmt=args.fmt, layers=args.layer, out=args.out,
                            wkt=getattr(args, "wkt", False), overwrite=args.overwrite)
    if args.quiet <= 0:
        for name, (n, path) in written.items():
            print(f"{name}: {n} features -> {path}")
    return 0
