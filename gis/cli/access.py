"""``gis access``: population surface, travel costs and access metrics only."""

from __future__ import annotations

import argparse

from gis.cli.run import add_run_options, run_command


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("access", help="who is how far from which level of care; under-served areas",
                       description="Demand, travel costs, nearest facility per tier, coverage, "
                                   "E2SFCA, indicators against targets and under-served areas; "
                                   "writes the layers, access map, report and summary.json.")
    add_run_options(p)
    p.set_defaults(func=run_command, stages=("access",))
