"""``gis run``: the main job on the configured province (default: Ha Tinh)."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from gis.cli._common import config_from_args
from gis.cli._options import add_config_options, add_output_options, step
from gis.errors import GisError
from gis.national import (
    cluster_client,
    cluster_info,
    default_workers,
    is_national_spec,
    parse_provinces,
    run_national,
)
from gis.pipeline import default_out_dir, run


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("run", help="run every analysis and write maps, layers and reports",
                       description="Config -> layers -> analyses -> outputs for one province; "
                                   "with --province all (or a comma-separated list) for every "
                                   "province as Dask tasks, plus the national outputs.")
    add_run_options(p)
    p.add_argument("--no-optimise", dest="optimise", action="store_false", default=True,
                   help="skip the location models of the plans stage (best main stations, "
                        "fewest branch points, p-median, the coverage curve)")
    g = p.add_argument_group(
        "national runs (--province all, or a comma-separated list of codes or names)",
        "Each province's pipeline runs as a task of a Dask cluster: a local one by default, "
        "or an existing one (--scheduler). Outputs: <out>/<province>/ per province and "
        "<out>/vietnam/ for the nation. Exit status 0 when every province ran, 1 when some "
        "failed (each is reported with its error).")
    g.add_argument("--workers", type=int, default=None, metavar="N",
                   help="local Dask workers, one province at a time each (default: the cores "
                        f"of this machine, {default_workers()})")
    g.add_argument("--memory-per-worker", default=None, metavar="SIZE",
                   help="memory limit of each local worker, e.g. 6GB (default: the machine's "
                        "memory shared equally among the workers); a province going over it "
                        "fails with a message saying so")
    g.add_argument("--scheduler", default=None, metavar="ADDRESS",
                   help="run on an existing Dask cluster, e.g. tcp://10.0.0.5:8786 (started "
                        "with `dask scheduler` and `dask worker ADDRESS --nthreads 1 "
                        "--memory-limit 6GB`); the output folder must be reachable by the "
                        "workers under the same path")
    p.set_defaults(func=run_command, stages=None)


def add_run_options(p: argparse.ArgumentParser) -> None:
    add_config_options(p)
    add_output_options(p)
    p.add_argument("--offline", action="store_true",
                   help="inline Leaflet into the maps so they open with no internet")
    cb = p.add_mutually_exclusive_group()
    cb.add_argument("--cross-border", dest="cross_border", action="store_true", default=None,
                    help="facilities of neighbouring provinces within reach count for the "
                         "nearest facility and coverage (default: access.cross_border of the "
                         "config; \"auto\": on for national runs, off for one province)")
    cb.add_argument("--no-cross-border", dest="cross_border", action="store_false",
                    help="only the province's own facilities count")


def run_command(args: argparse.Namespace) -> int:
    if is_national_spec(getattr(args, "province", None)):
        if args.stages is not None or getattr(args, "plan_files", ()):
            msg = ("--province with several provinces works with `gis run` only; run the "
                   "other commands one province at a time")
            raise GisError(msg)
        return national_command(args)
    cfg = config_from_args(args)
    out = args.out if args.out is not None else default_out_dir(cfg)
    quiet = args.quiet > 0
    stages = {} if args.stages is None else {"stages": args.stages}
    result = run(cfg, out_dir=Path(out), overwrite=args.overwrite, offline=args.offline,
                 **stages, plan_files=tuple(getattr(args, "plan_files", ())),
                 optimise=getattr(args, "optimise", True),
                 cross_border=getattr(args, "cross_border", None),
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


def national_command(args: argparse.Namespace) -> int:
    """``gis run --province all``: every selected province on a Dask cluster, then the
    national outputs; prints one line per province as it finishes."""
    selected = parse_provinces(args.province)
    cfg = config_from_args(argparse.Namespace(**{**vars(args), "province": None}))
    out_root = Path(args.out) if args.out is not None else cfg.path(cfg.output.folder)
    quiet = args.quiet > 0
    started = time.perf_counter()

    def event(kind: str, what) -> None:
        if quiet:
            return
        elapsed = time.perf_counter() - started
        if kind == "done":
            mem = f", peak {what.peak_rss_mb / 1024:.1f} GB" if what.peak_rss_mb else ""
            print(f"[{elapsed:7.0f} s] ok      {what.name} ({what.code}): {what.wall_s:.0f} s"
                  f"{mem}", file=sys.stderr, flush=True)
        elif kind == "failed":
            print(f"[{elapsed:7.0f} s] FAILED  {what.name} ({what.code}): {what.error}",
                  file=sys.stderr, flush=True)
        elif kind == "writing":
            print(f"[{elapsed:7.0f} s] writing the national outputs", file=sys.stderr,
                  flush=True)

    with cluster_client(scheduler=args.scheduler, workers=args.workers,
                        memory_per_worker=args.memory_per_worker) as client:
        info = cluster_info(client)
        if not quiet:
            mem = (f"{info.memory_per_worker / 1e9:.1f} GB each"
                   if info.memory_per_worker else "memory limit not stated by the workers")
            where = "local cluster" if info.kind == "local" else f"cluster at {info.address}"
            print(f"{len(selected)} provinces on a {where}: {info.workers} workers x "
                  f"{info.threads_per_worker} thread, {mem}", file=sys.stderr, flush=True)
        result = run_national(client, cfg, selected, out_root=out_root,
                              overwrite=args.overwrite, offline=args.offline,
                              cross_border=getattr(args, "cross_border", None),
                              optimise=getattr(args, "optimise", True), on_event=event)
    if not quiet:
        nat = result.table.iloc[-1]
        ok = len(result.outcomes) - len(result.failed)
        print(f"{ok} of {len(result.outcomes)} provinces ran; population "
              f"{(nat['population'] or 0):,.0f}")
        for o in result.failed:
            print(f"  failed: {o.name} ({o.code}): {o.error}")
        print(f"national outputs in {result.out_dir}:")
        for f in result.files:
            print(f"  {f}")
    return 1 if result.failed else 0
