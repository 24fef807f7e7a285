"""The ``gis`` command: parses, calls the pipeline, prints. May import every layer below it
(:mod:`gis.pipeline`, and the inputs for the registry listings).

Each subcommand lives in its own module of this package and exposes
``register(subparsers)`` (the modules are listed in ``COMMANDS``); this module maps ``-v/-q``
to logging and turns :class:`gis.errors.GisError` into a message on stderr and a non-zero
exit. Shared options live in :mod:`gis.cli._options`.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from gis import __version__
from gis.errors import GisError

EXIT_BAD_INPUT = 2
COMMANDS = ("access", "export", "layers", "network", "plan", "registry", "roads", "run")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gis",
        description="Health facility network planning for Vietnam's provinces.",
    )
    parser.add_argument("--version", action="version", version=f"gis {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output")
    parser.add_argument("-q", "--quiet", action="count", default=0, help="less output")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in COMMANDS:  # imported here: each command module imports this package
        importlib.import_module(f"gis.cli.{name}").register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    level = logging.WARNING - 10 * args.verbose + 10 * args.quiet
    logging.basicConfig(level=max(logging.DEBUG, level), format="%(levelname)s: %(message)s")
    logging.captureWarnings(True)
    try:
        result = args.func(args)
    except GisError as exc:
        print(f"gis {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return int(result or 0)

