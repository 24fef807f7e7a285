"""``gis run``: the main job on the configured province (default: Ha Tinh)."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from gis.cli._common import config_from_args
from gis.cli._options import add_config_options, add_lang_option, add_output_options, step
from gis.errors import GisError
from gis.national import (
    cluster_client,
    cluster_info,
    default_workers,
    is_national_spec,
    parse_provinces,
    run_national,
)
from gis.outputs.i18n import N_, Lang, get_lang
from gis.outputs.maps import plan_display_name
from gis.pipeline import default_out_dir, run

STAGE_NAMES = {"access": N_("access analyses"), "plans": N_("plan scenarios"),
               "network": N_("referral network")}

# What each file of a run is, for the list of files written.
FILE_ROLES = {
    "report.html": N_("the report: one-page summary, plans compared, detail"),
    "report.json": N_("the report's figures"),
    "summary.json": N_("every figure of the run"),
    "overview.html": N_("map: communes and facilities"),
    "access.html": N_("map: travel time, coverage, under-served areas"),
    "plan.html": N_("map: every plan, with a plan selector"),
    "network.html": N_("map: referral and satellite network"),
    "scenarios.csv": N_("one row per scenario"),
    "network.graphml": N_("referral and satellite graph today"),
    "network_plan.graphml": N_("the graph after the official plan"),
}


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("run", help="run every analysis and write maps, layers and reports",
                       description="Config -> layers -> analyses -> outputs for one province; "
                                   "with --province all (or a comma-separated list) for every "
                                   "province as Dask tasks, plus the national outputs.")
    add_run_options(p)
    p.add_argument("--plan", dest="plan_files", action="append", type=Path, default=[],
                   metavar="PLAN", help="also evaluate this plan (CSV or TOML; repeat for "
                                        "more), as `gis plan evaluate` does")
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
    add_lang_option(p)
    p.add_argument("--offline", action="store_true",
                   help="no basemap in the maps (nothing is fetched from the internet; the "
                        "maps open with no internet either way)")
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
            msg = ("--province with several provinces: plans (--plan) and the commands other "
                   "than `gis run` work one province at a time")
            raise GisError(msg)
        return national_command(args)
    cfg = config_from_args(args)
    out = args.out if args.out is not None else default_out_dir(cfg)
    quiet = args.quiet > 0
    lang = getattr(args, "lang", None) or cfg.output.language
    stages = {} if args.stages is None else {"stages": args.stages}
    result = run(cfg, out_dir=Path(out), overwrite=args.overwrite, offline=args.offline,
                 **stages, plan_files=tuple(getattr(args, "plan_files", ())),
                 optimise=getattr(args, "optimise", True), lang=lang,
                 cross_border=getattr(args, "cross_border", None),
                 step=lambda label, level=1: step(label, quiet=quiet, level=level, lang=lang))
    L = get_lang(lang)
    for stage in ("access", "plans", "network"):
        why = result.summary.get(stage, {}).get("skipped")
        if why and args.quiet <= 1:
            print(L._("note: {stage} skipped: {why}", stage=L._(STAGE_NAMES[stage]),
                      why=L.text(why)), file=sys.stderr)
    if not quiet:
        print_summary(result.summary, lang=lang)
        print_files(result.out_dir, result.files, lang=lang)
    if args.verbose:
        json.dump(result.summary, sys.stdout, ensure_ascii=False, indent=2)
        print()
    return 0


def print_summary(s: dict, *, lang: str = "en") -> None:
    """The run's key figures and its scenario table, in ``lang``."""
    L = get_lang(lang)
    c = s["counts"]
    pop = s["population"]
    total = L.people(pop["total"]) if pop["total"] is not None else L._("unknown")
    print(L._("{province} ({code}): {old} communes before 1 July 2025 -> {new} after; {st} "
              "stations, {h} hospitals; {people} people ({source})",
              province=s["province"]["name"], code=s["province"]["code"],
              old=L.num(c["legacy_communes"]), new=L.num(c["new_communes"]),
              st=L.num(c["stations"]), h=L.num(c["hospitals"]), people=total,
              source=L.text(pop["source"])))
    print_scenarios(s, lang=lang)


def print_scenarios(summary: dict, *, lang: str = "en") -> None:
    """The scenario comparison of the plans stage as a text table (nothing if absent)."""
    L = get_lang(lang)
    plans = summary.get("plans", {})
    rows = plans.get("scenarios", [])
    if not rows:
        return
    cover = [k for k in rows[0] if k.startswith("covered_") and k.endswith("min_share")]
    ths = [k.removeprefix("covered_").removesuffix("min_share") for k in cover]
    T = str((plans.get("losing_access") or {}).get("threshold_min", 30.0))
    T = T.removesuffix(".0")
    lose_key = f"losing_{T}min"
    name_w = 44
    head = (f"{L._('scenario'):<{name_w}} {L._('points'):>6} "
            + " ".join(f"{'≤' + t:>7}" for t in ths)
            + f" {L._('lose ≤{t}', t=T):>9} {L._('mean'):>6} {L._('max'):>6}")
    print()
    print(head)
    for r in rows:
        name = plan_display_name(str(r["scenario"]), str(r.get("scenario_kind", "user")), r,
                                 lang=lang, short=True)
        name = name if len(name) <= name_w else name[:name_w - 1] + "…"
        shares = " ".join(f"{L.pct(r[k]):>7}" if r.get(k) is not None else f"{'-':>7}"
                          for k in cover)
        lose = "—" if r.get("scenario_kind") == "today" else L.people(r.get(lose_key))
        times = " ".join(f"{L.num(r[k], 1):>6}" if r.get(k) is not None else f"{'-':>6}"
                         for k in ("mean_time_min", "max_time_min"))
        print(f"{name:<{name_w}} {L.num(r['service_points']):>6} {shares} {lose:>9} {times}")
    print(L._("(share of people within each time of a station or branch point; lose: people "
              "within {t} min today who would be beyond it; mean/max: minutes to the nearest "
              "station)", t=T))


def print_files(out_dir: Path, files: list[Path], *, lang: str = "en") -> None:
    """The files written, each with what it is."""
    L: Lang = get_lang(lang)
    print()
    print(L._("Written to {folder}:", folder=out_dir))
    for f in files:
        role = FILE_ROLES.get(f.name)
        if role is None and f.suffix == ".gpkg":
            role = N_("every layer (GeoPackage)")
        elif role is None and f.suffix == ".qgz":
            role = N_("QGIS project: open it in QGIS 3.22 or newer")
        print(f"  {f}" + (f"  — {L._(role)}" if role else ""))


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
                              optimise=getattr(args, "optimise", True),
                              lang=getattr(args, "lang", None), on_event=event)
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
