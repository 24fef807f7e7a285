"""``gis plan editor``: the plan editor, one offline HTML file (``plan_editor.html``).

A sub-action of ``gis plan``: :mod:`gis.cli.plan` calls :func:`add_parser`.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from gis.cli._common import config_from_args
from gis.cli._options import add_config_options, step
from gis.errors import GisError
from gis.outputs.editor import write_plan_editor
from gis.outputs.files import check_writable
from gis.pipeline import editor_data, prepare, run_access_stage


def add_parser(psub: argparse._SubParsersAction) -> None:
    """Add ``editor`` to the actions of ``gis plan``."""
    p = psub.add_parser("editor", help="write the plan editor: one offline HTML file to try "
                                       "station plans by clicking",
                        description="Write plan_editor.html: the province's stations on a map; "
                                    "click to keep, make a branch point, close or add a "
                                    "station and see access change at once against today and "
                                    "the official plans; export the plan as CSV for `gis plan "
                                    "evaluate`. Works offline, can be sent by e-mail.")
    add_config_options(p)
    p.add_argument("--out", type=Path, default=Path("plan_editor.html"),
                   help="HTML file to write (default: plan_editor.html)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing file")
    p.add_argument("--lang", choices=("vi", "en"), default="vi",
                   help="language the page opens in (default: vi; the page can switch)")
    p.add_argument("--k", type=int, default=None,
                   help="nearest stations stored per demand cell (default: the smallest that "
                        "is exact for every plan with a station in each commune)")
    p.set_defaults(func=_editor)


def _editor(args: argparse.Namespace) -> int:
    quiet = args.quiet > 0
    check_writable([args.out], overwrite=args.overwrite)
    cfg = config_from_args(args)
    with step("reading and building layers", quiet=quiet):
        prep = prepare(cfg)
    with step("population surface and travel costs", quiet=quiet):
        acc = run_access_stage(prep)
    if acc is None:
        msg = ("population unknown: give a communes layer with population, "
               "province.population_total or --population-total")
        raise GisError(msg)
    with step("official plans and the editor's data", quiet=quiet):
        data = editor_data(prep, acc, k=args.k)
    out = write_plan_editor(args.out, data, lang=args.lang,
                            province=prep.registry.province.short, sources=prep.sources,
                            estimate_notes=list(prep.layers.notes), overwrite=args.overwrite)
    if not quiet:
        size = out.stat().st_size / 1024 ** 2
        exact = ("exact for every plan with a station in each commune" if data["exact"] else
                 f"{data['cells_not_guaranteed']:,} cells need more than k = {data['k']}")
        print(f"written: {out} ({size:.1f} MB; {data['cells']['n']:,} demand cells, "
              f"{len(data['stations'])} stations, k = {data['k']}: {exact})")
    return 0
