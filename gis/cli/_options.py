"""Options shared by several subcommands."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from gis.outputs.i18n import LANGUAGES, get_lang


def add_config_options(p: argparse.ArgumentParser) -> None:
    """``--config`` and ``--province``: which configuration and province to run on; ``-v/-q``
    are accepted after the subcommand too."""
    p.add_argument("-v", "--verbose", action="count", default=argparse.SUPPRESS,
                   help="more log output")
    p.add_argument("-q", "--quiet", action="count", default=argparse.SUPPRESS,
                   help="less output")
    p.add_argument("--config", type=Path, default=None,
                   help="config file (default: ./config.toml, else the built-in defaults)")
    p.add_argument("--province", default=None,
                   help='province code or name, e.g. 42, "Hà Tĩnh", "ha tinh" (overrides config)')
    p.add_argument("--population-total", type=float, default=None, metavar="PERSONS",
                   help="province population to split among communes when no population layer "
                        "is given (an estimate, labelled as such)")


def add_output_options(p: argparse.ArgumentParser) -> None:
    """``--out`` and ``--overwrite``: outputs are never overwritten silently."""
    p.add_argument("--out", type=Path, default=None, help="output folder (overrides config)")
    p.add_argument("--overwrite", action="store_true",
                   help="replace existing outputs (default: refuse if they exist)")


def add_lang_option(p: argparse.ArgumentParser) -> None:
    """``--lang vi|en``: the language of the outputs and the console summary (default: the
    config's ``output.language``, Vietnamese)."""
    p.add_argument("--lang", choices=LANGUAGES, default=None,
                   help="language of the report, maps, QGIS project and console summary "
                        "(default: output.language of the config, vi)")


@contextmanager
def step(label: str, *, quiet: bool = False, level: int = 1,
         lang: str = "en") -> Iterator[None]:
    """Show progress for a step on stderr: its name (translated), then its duration when over
    a second; ``level=2`` for a sub-step (indented)."""
    L = get_lang(lang)
    pad = "  " * (level - 1)
    start = time.perf_counter()
    if not quiet:
        print(f"{pad}… {L.text(label)}", file=sys.stderr, flush=True)
    yield
    elapsed = time.perf_counter() - start
    if not quiet and elapsed >= 1.0:
        print(f"{pad}  {L._('done in {s} s', s=L.num(elapsed, 1))}", file=sys.stderr,
              flush=True)
