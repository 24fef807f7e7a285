"""``gis plan``: consolidation plans: the official plan, evaluation, location models.

- ``gis plan official``: the reform's plan built from the registry (one main station per
  post-2025 commune, the other former stations as branch points or closed), as a plan CSV that
  can be edited and evaluated.
- ``gis plan evaluate PLAN [PLAN ...]``: today vs the official scenarios vs the given plans, on
  the access metrics, with the maps, layers, report and ``scenarios.csv``.
- ``gis plan optimise --model ...``: a location model on the province's demand and stations;
  writes the chosen sites (and a plan CSV where the result is a valid plan).
- ``gis plan editor``: the plan editor, one offline HTML file (:mod:`gis.cli.editor`).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from gis.analyses.plans import MAIN_RULE_TEXT
from gis.cli import editor
from gis.cli._common import config_from_args
from gis.cli._options import add_config_options, step
from gis.cli.run import add_run_options, run_command
from gis.outputs.files import check_writable, write_text
from gis.outputs.tables import plan_csv, sites_csv
from gis.pipeline import MODELS, official, optimise

OBJECTIVE_UNITS = {"best-main": "person-minutes", "set-cover": "stations open",
                   "mclp": "people within {t} min", "p-median": "person-minutes",
                   "p-center": "minutes, the longest trip"}


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("plan", help="consolidation plans: official plan, evaluate, optimise",
                       description="Consolidation plans of commune health stations.")
    psub = p.add_subparsers(dest="plan_command", metavar="ACTION")
    psub.required = True

    o = psub.add_parser("official", help="write the reform's plan (one main station per "
                                         "post-2025 commune) as an editable plan CSV")
    add_config_options(o)
    o.add_argument("--no-branches", action="store_true",
                   help="close the other former stations instead of keeping them as branch "
                        "points")
    o.add_argument("--out", type=Path, default=None,
                   help="plan CSV to write (default: print to standard output)")
    o.add_argument("--overwrite", action="store_true", help="replace an existing file")
    o.set_defaults(func=_official)

    e = psub.add_parser("evaluate", help="evaluate plans against today and the official "
                                         "scenarios; maps, layers, report, scenarios.csv",
                        description="Evaluate one or more plans (CSV or TOML: facility_id, "
                                    "action keep/branch/close/new, target_commune_code[, lon, "
                                    "lat, role]) beside the built-in scenarios.")
    e.add_argument("plans", nargs="+", type=Path, metavar="PLAN", help="plan file(s)")
    add_run_options(e)
    e.add_argument("--no-optimise", dest="optimise", action="store_false",
                   help="skip the location-model scenarios (faster)")
    e.set_defaults(func=_evaluate, stages=("access", "plans"))

    m = psub.add_parser("optimise", aliases=["optimize"],
                        help="run a location model on the province's demand and stations",
                        description="Location models on the sparse cost table (HiGHS): "
                                    "best-main (best main station per commune), set-cover "
                                    "(fewest sites within --time), mclp (most people within "
                                    "--time with --p sites), p-median (least population-"
                                    "weighted time with --p sites), p-center (least maximum "
                                    "time with --p sites).")
    add_config_options(m)
    m.add_argument("--model", choices=MODELS, required=True)
    m.add_argument("--p", type=int, default=None,
                   help="sites open in all (mclp, p-median, p-center; default: the number of "
                        "post-2025 communes)")
    m.add_argument("--time", type=float, default=None, metavar="MIN",
                   help="coverage time, minutes (set-cover, mclp; default: the middle station "
                        "threshold of the config)")
    m.add_argument("--keep-official-mains", action="store_true",
                   help="fix the official plan's main stations open (set-cover, mclp, p-median,"
                        " p-center); the result is then a valid plan: mains kept, chosen "
                        "others as branch points, the rest closed")
    m.add_argument("--fixed-open", default="", metavar="IDS",
                   help="comma-separated facility ids to keep open")
    m.add_argument("--fixed-closed", default="", metavar="IDS",
                   help="comma-separated facility ids to keep closed")
    m.add_argument("--out", type=Path, default=None,
                   help="CSV of the sites (and their actions when the result is a plan); "
                        "default: print to standard output")
    m.add_argument("--overwrite", action="store_true", help="replace an existing file")
    m.set_defaults(func=_optimise)

    editor.add_parser(psub)


def _write_or_print(text: str, out: Path | None, *, overwrite: bool, quiet: bool) -> None:
    if out is None:
        print(text, end="")
        return

    write_text(out, text, overwrite=overwrite)
    if not quiet:
        print(f"written: {out}")


def _official(args: argparse.Namespace) -> int:
    quiet = args.quiet > 0
    check_writable([args.out] if args.out else [], overwrite=args.overwrite)
    cfg = config_from_args(args)
    with step("reading and building layers", quiet=quiet or args.out is None):
        prep, plan = official(cfg, branches=not args.no_branches)
    _write_or_print(plan_csv(plan, prep.layers.facilities), args.out, overwrite=args.overwrite,
                    quiet=quiet)
    if not quiet and args.out is not None:
        c = plan.counts()
        print(f"plan '{plan.name}': {c['keep']} main stations, {c['branch']} branch points, "
              f"{c['close']} closed")
        print(MAIN_RULE_TEXT)
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    args.plan_files = tuple(args.plans)
    return run_command(args)


def _ids(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


def _optimise(args: argparse.Namespace) -> int:
    quiet = args.quiet > 0
    check_writable([args.out] if args.out else [], overwrite=args.overwrite)
    cfg = config_from_args(args)
    show = quiet or args.out is None
    res = optimise(cfg, model=args.model, p=args.p, time_min=args.time,
                   keep_official_mains=args.keep_official_mains,
                   fixed_open=_ids(args.fixed_open), fixed_closed=_ids(args.fixed_closed),
                   step=lambda label: step(label, quiet=show))
    _write_or_print(sites_csv(res.sites), args.out, overwrite=args.overwrite, quiet=quiet)
    if not quiet and args.out is not None:
        print(f"{args.model}: {res.n_open} of {res.n_sites} stations open"
              + (f" ({res.n_open - res.n_fixed_open} besides the fixed-open)"
                 if res.n_fixed_open else ""))
        unit = OBJECTIVE_UNITS[args.model].format(t=f"{res.time_min:g}")
        for k, label in (("objective", f"objective ({unit})"), ("bound", f"bound ({unit})"),
                         ("gap", "optimality gap"), ("status", "status"),
                         ("uncovered_population", "people no allowed site reaches in time"),
                         ("solve_time_s", "solve time (s)")):
            v = res.info.get(k)
            if v is not None:
                print(f"  {label}: {v:,.6g}" if isinstance(v, float) else f"  {label}: {v}")
        if not res.is_plan:
            print("  note: sites chosen without the one-main-station-per-commune rule; "
                  "action 'open' is not a plan action (use --keep-official-mains for a plan)")
    return 0
