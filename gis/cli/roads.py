"""``gis roads extract|download``: a province's roads from an OpenStreetMap extract."""

from __future__ import annotations

import argparse
from pathlib import Path

from gis.commands._common import config_from_args
from gis.commands._options import add_config_options, step


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
                   help="km kept around the province (default: the travel cut-off at the "
                        "fastest car speed)")
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
    from gis.inputs.osm import margin_for_cutoff_m, read_osm_roads, roads_summary
    from gis.layers import write_layers_gpkg
    from gis.model.roads import class_speeds
    from gis.pipeline import prepare

    cfg = config_from_args(args)
    quiet = args.quiet > 0
    with step("reading the province's layers", quiet=quiet):
        prep = prepare(cfg)
    if args.margin_km is not None:
        margin_m = args.margin_km * 1000.0
    else:
        fastest = max(class_speeds("car").values())
        margin_m = margin_for_cutoff_m(cfg.travel.cutoff_min, fastest)
    communes = prep.layers.communes
    with step(f"reading roads from {args.pbf} (margin {margin_m / 1000:g} km)", quiet=quiet):
        roads = read_osm_roads(args.pbf, crs=communes.crs, area=communes, margin_m=margin_m)
    out = args.out or (cfg.base_dir / "layers" / f"{prep.registry.province.key}_roads.gpkg")
    write_layers_gpkg({"roads": roads}, out, overwrite=args.overwrite)
    if not quiet:
        for line in roads_summary(roads).text_lines():
            print(line)
        print(f"written: {out}  (use it with layers.roads = \"{out}\")")
    return 0


def _download(args: argparse.Namespace) -> int:
    from gis.inputs.osm import download_extract

    cfg = config_from_args(args)
    directory = args.dir or (cfg.base_dir / "layers" / "osm")
    with step("downloading Geofabrik's Vietnam extract", quiet=args.quiet > 0):
        path = download_extract(directory, province=args.province or cfg.province.name,
                                timeout_s=args.timeout)
    if args.quiet == 0:
        prov = args.province or cfg.province.name
        print(f"written: {path}")
        print(f'next: gis roads extract --pbf {path} --province "{prov}"')
    return 0
