"""``gis network``: the referral and satellite-hospital network only (with the access stage it
builds on)."""

from __future__ import annotations

import argparse

from gis.cli.run import add_run_options, run_command


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("network", help="referral and satellite-hospital network: chains, hub "
                                       "load, critical hospitals, satellite planning",
                       description="Referral graph (station -> regional -> provincial -> "
                                   "central) and satellite links; referral chain per commune, "
                                   "hub load against the beds target, loss-impact ranking, "
                                   "satellite planning, the network before and after the "
                                   "official plan; writes the layers, GraphML, network map, "
                                   "report and summary.json.")
    add_run_options(p)
    p.set_defaults(func=run_command, stages=("access", "network"))
