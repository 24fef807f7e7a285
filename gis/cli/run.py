"""``gis run``: the main job on the configured province (default: Ha Tinh)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from gis.cli._common import config_from_args
from gis.cli._options import add_config_options, add_output_options, step
from gis.pipeline import default_out_dir, run


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("run", help="run every analysis and write maps, layers and reports",
                       description="Config -> layers -> analyses -> outputs for one province.")
    add_run_options(p)
    p.set_defaults(func=run_command, stages=None)


def add_run_options(p: argparse.ArgumentParser) -> None:
    add_config_options(p)
    add_output_options(p)
    p.add_argument("--offline", action="store_true",
                   help="inline Leaflet into the maps so they open with no internet")


def run_command(args: argparse.Namespace) -> int:
    cfg = config_from_args(args)
    out = args.out if args.out is not None else default_out_dir(cfg)
    quiet = args.quiet > 0
    stages = {} if args.stages is None else {"stages": args.stages}
    result = run(cfg, out_dir=Path(out), overwrite=args.overwrite, offline=args.offline,
                 **stages, plan_files=tuple(getattr(args, "plan_files", ())),
                 optimise=getattr(args, "optimise", True),
                 step=lambda label: step(label, quiet=quiet))
    for stage in ("access", "plans", "network"):
        why = result.summary.get(stage, {}).get("skipped")
        if why and args.quiet <= 1:
            print(f"note: {stage} skipped: {why}", file=sys.stderr)
    if not quiet:
        s = result.summary
        c = s["counts"]
        pop = s["population"]
        total = f"{pop['total']:,.0f}" if pop["total"] is not None else "unknown"
        print(f"{s['province']['name']} ({s['province']['code']}): {c['legacy_communes']} "
              f"pre-2025 communes -> {c['new_communes']} communes; {c['stations']} stations, "
              f"{c['hospitals']} hospitals; population {total} ({pop['source']})")
        print_scenarios(s)
        print(f"outputs in {result.out_dir}:")
        for f in result.files:
            print(f"  {f}")
    if args.verbose:
        json.dump(result.summary, sys.stdout, ensure_ascii=False, indent=2)
        print()
    return 0


def print_scenarios(summary: dict) -> None:
    """The scenario comparison of the plans stage as a text table (nothing if absent)."""
    rows = summary.get("plans", {}).get("scenarios", [])
    if not rows:
        return
    cover = [k for k in rows[0] if k.startswith("covered_") and k.endswith("min_share")]
    labels = [k.removeprefix("covered_").removesuffix("_share") for k in cover]
    print(f"{'scenario':<56} {'points':>6} " + " ".join(f"{x:>7}" for x in labels)
          + f" {'mean':>6} {'max':>6}")
    for r in rows:
        shares = " ".join(f"{100 * r[k]:6.1f}%" if r[k] is not None else f"{'-':>7}"
                          for k in cover)
        times = " ".join(f"{r[k]:6.1f}" if r.get(k) is not None else f"{'-':>6}"
                         for k in ("mean_time_min", "max_time_min"))
        print(f"{str(r['scenario'])[:56]:<56} {r['service_points']:>6} {shares} {times}")
    print("(share of people within each time of a station; mean/max: minutes to the nearest "
          "station)")
