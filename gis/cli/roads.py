"""``gis roads extract|download``: a province's roads from an OpenStreetMap extract."""

from __future__ import annotations

import argparse
from pathlib import Path

from gis.cli._common import config_from_args
from gis.cli._options import add_config_options, step
from gis.pipeline import download_roads, extract_roads


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("roads", help="roads from OpenStreetMap: extract a province from a "
                                     ".osm.pbf file, or download the Vietnam extract")
    rsub = p.add_subparsers(dest="roads_command", metavar="ACTION")
    rsub.required = True
    e = rsub.add_parser("extract", help="write the province's roads (with a margin) from a "
                                        ".osm.pbf as layers/<province>_roads.gpkg")
    add_config_options(e)
    e.add_argument("--pbf", type=Path, required=True, help="OpenStreetMap extract (.osm.pbf)")
    e.add_argument("--margin-km", type=float, default=None,
                   help="km kept around the province (default: travel.roads.extract_margin_km;"
                        " auto = half the travel cut-off at the fastest road speed)")
    e.add_argument("--out", type=Path, default=None, help="GeoPackage to write")
    e.add_argument("--overwrite", action="store_true", help="replace an existing file")
    e.set_defaults(func=_extract)
    d = rsub.add_parser("download", help="download Geofabrik's Vietnam extract (needs "
                                         "internet; says how to get it by hand otherwise)")
    add_config_options(d)
    d.add_argument("--dir", type=Path, default=None,
                   help="folder for the .osm.pbf (default: layers/osm beside the config)")
    d.add_argument("--timeout", type=float, default=10.0, metavar="S",
                   help="seconds to wait for the server (default 10)")
    d.set_defaults(func=_download)


def _extract(args: argparse.Namespace) -> int:
    cfg = config_from_args(args)
    quiet = args.quiet > 0
    out, summary, _ = extract_roads(cfg, args.pbf, out=args.out, margin_km=args.margin_km,
                                    overwrite=args.overwrite,
                                    step=lambda label: step(label, quiet=quiet))
    if not quiet:
        for line in summary.text_lines():
            print(line)
        print(f"written: {out}")
        print(f'next: set layers.roads = "{out}" and travel.model = "roads" in the config')
    return 0


def _download(args: argparse.Namespace) -> int:
    cfg = config_from_args(args)
    with step("downloading Geofabrik's Vietnam extract", quiet=args.quiet > 0):
        path = download_roads(cfg, args.dir, timeout_s=args.timeout)
    if args.quiet == 0:
        prov = args.province or cfg.province.name
        print(f"written: {path}")
        print(f'next: gis roads extract --pbf {path} --province "{prov}"')
    return 0
