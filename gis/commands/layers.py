"""``gis layers build``: write the province's default layers to ``layers/<province>.gpkg``."""

from __future__ import annotations

import argparse
from pathlib import Path

from gis.commands._common import config_from_args
from gis.commands._options import add_config_options, step


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("layers", help="build and check the province's input layers")
    lsub = p.add_subparsers(dest="layers_command", metavar="ACTION")
    lsub.required = True
    b = lsub.add_parser("build", help="write communes_2025, communes_legacy and facilities to a "
                                      "GeoPackage (default layers/<province>.gpkg)")
    add_config_options(b)
    b.add_argument("--out", type=Path, default=None, help="GeoPackage to write")
    b.add_argument("--overwrite", action="store_true", help="replace an existing file")
    b.set_defaults(func=_build)


def _build(args: argparse.Namespace) -> int:
    from gis.layers import write_layers_gpkg
    from gis.pipeline import prepare

    cfg = config_from_args(args)
    quiet = args.quiet > 0
    with step("reading and building layers", quiet=quiet):
        prep = prepare(cfg)
    out = args.out or (cfg.base_dir / "layers" / f"{prep.registry.province.key}.gpkg")
    write_layers_gpkg(prep.layers.as_dict(), out, overwrite=args.overwrite)
    if not quiet:
        for name, gdf in prep.layers.as_dict().items():
            print(f"{name}: {len(gdf)} features")
        for note in prep.layers.notes:
            print(f"note: {note}")
        print(f"written: {out}")
    return 0
