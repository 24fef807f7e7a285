"""``gis layers build``: write the province's default layers to ``layers/<province>.gpkg``."""

from __future__ import annotations

import argparse
from pathlib import Path

from gis.cli._common import config_from_args
from gis.cli._options import add_config_options, step
from gis.pipeline import write_province_layers


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
    cfg = config_from_args(args)
    quiet = args.quiet > 0
    prep, out, counts = write_province_layers(
        cfg, args.out, overwrite=args.overwrite,
        step=lambda label: step(label, quiet=quiet))
    if not quiet:
        for name, n in counts.items():
            print(f"{name}: {n} features")
        for note in prep.layers.notes:
            print(f"note: {note}")
        print(f"written: {out}")
    return 0
