"""``gis plan``: consolidation plans: the official plan, evaluation, location models.

- ``gis plan official``: the reform's plan built from the registry (one main station per
  post-2025 commune, the other former stations as branch points or closed), as a plan CSV that
  can be edited and evaluated.
- ``gis plan evaluate PLAN [PLAN ...]``: today vs the official scenarios vs the given plans, on
  the access metrics, with the maps, layers, report and ``scenarios.csv``.
- ``gis plan optimise --model ...``: a location model on the province's demand and stations;
  writes its answer as a plan CSV (keep, branch, close) that ``gis plan evaluate`` reads.
- ``gis plan editor``: the plan editor, one offline HTML file (:mod:`gis.cli.editor`).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from gis.analyses.plans import MAIN_RULE_TEXT
from gis.cli import editor
from gis.cli._common import config_from_args
from gis.cli._options import add_config_options, add_lang_option, step
from gis.cli.run import add_run_options, run_command
from gis.outputs.files import check_writable, write_text
from gis.outputs.i18n import N_, get_lang
from gis.outputs.tables import plan_csv, sites_csv
from gis.pipeline import MODELS, official, optimise


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
    add_lang_option(o)
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
                        description="Location models on the sparse cost table (HiGHS), "
                                    "answered as a plan (keep, branch, close) with a main "
                                    "station in every post-2025 commune: best-main (best main "
                                    "station per commune, the others closed), set-cover "
                                    "(fewest service points keeping everyone within --time), "
                                    "mclp (most people within --time with --p service points), "
                                    "p-median (least person-minutes with --p service points), "
                                    "p-center (least longest trip with --p service points; "
                                    "the p points chosen by a p-median within that time).")
    add_config_options(m)
    m.add_argument("--model", choices=MODELS, required=True)
    m.add_argument("--p", type=int, default=None,
                   help="service points in all (mclp, p-median, p-center; default and least: "
                        "the number of post-2025 communes)")
    m.add_argument("--time", type=float, default=None, metavar="MIN",
                   help="coverage time, minutes (set-cover, mclp; default: the middle station "
                        "threshold of the config)")
    m.add_argument("--keep-official-mains", action="store_true",
                   help="fix the official plan's main stations open (set-cover, mclp, p-median,"
                        " p-center): the model then chooses the branch points")
    m.add_argument("--fixed-open", default="", metavar="IDS",
                   help="comma-separated facility ids to keep open")
    m.add_argument("--fixed-closed", default="", metavar="IDS",
                   help="comma-separated facility ids to keep closed")
    m.add_argument("--out", type=Path, default=None,
                   help="plan CSV to write (gis plan evaluate reads it); default: print to "
                        "standard output")
    m.add_argument("--overwrite", action="store_true", help="replace an existing file")
    add_lang_option(m)
    m.set_defaults(func=_optimise)

    editor.add_parser(psub)


#: What each model's objective counts (its unit), for the console.
OBJECTIVE_UNITS = {"best-main": N_("person-minutes to each commune's own main station"),
                   "set-cover": N_("service points"),
                   "mclp": N_("people within {t} min of a service point"),
                   "p-median": N_("person-minutes to the nearest service point"),
                   "p-center": N_("minutes, the longest trip to the nearest service point")}


def _write_or_print(text: str, out: Path | None, *, overwrite: bool, quiet: bool,
                    lang: str = "en") -> None:
    if out is None:
        print(text, end="")
        return

    write_text(out, text, overwrite=overwrite)
    if not quiet:
        print(get_lang(lang)._("written: {path}", path=out))


def _lang(args: argparse.Namespace, cfg) -> str:
    return getattr(args, "lang", None) or cfg.output.language


def _official(args: argparse.Namespace) -> int:
    quiet = args.quiet > 0
    check_writable([args.out] if args.out else [], overwrite=args.overwrite)
    cfg = config_from_args(args)
    lang = _lang(args, cfg)
    L = get_lang(lang)
    with step("reading and building layers", quiet=quiet or args.out is None, lang=lang):
        prep, plan = official(cfg, branches=not args.no_branches)
    _write_or_print(plan_csv(plan, prep.layers.facilities), args.out, overwrite=args.overwrite,
                    quiet=quiet, lang=lang)
    if not quiet and args.out is not None:
        c = plan.counts()
        print(L._("plan '{name}': {keep} main stations, {branch} branch points, {close} closed",
                  name=plan.name, keep=L.num(c["keep"]), branch=L.num(c["branch"]),
                  close=L.num(c["close"])))
        print(L.text(MAIN_RULE_TEXT))
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
    lang = _lang(args, cfg)
    L = get_lang(lang)
    show = quiet or args.out is None
    res = optimise(cfg, model=args.model, p=args.p, time_min=args.time,
                   keep_official_mains=args.keep_official_mains,
                   fixed_open=_ids(args.fixed_open), fixed_closed=_ids(args.fixed_closed),
                   step=lambda label, level=1: step(label, quiet=show, level=level, lang=lang))
    _write_or_print(sites_csv(res.sites), args.out, overwrite=args.overwrite, quiet=quiet,
                    lang=lang)
    if not quiet and args.out is not None:
        c = res.sites["action"].value_counts()
        print(L._("{model}: a plan with {keep} main stations, {branch} branch points and "
                  "{close} closed former stations ({open} service points of {n})",
                  model=args.model, keep=L.num(c.get("keep", 0)),
                  branch=L.num(c.get("branch", 0)), close=L.num(c.get("close", 0)),
                  open=L.num(res.n_open), n=L.num(res.n_sites)))
        unit = L._(OBJECTIVE_UNITS[args.model], t=_minutes(L, res.time_min))
        info = res.info
        whole = args.model in ("set-cover", "mclp", "p-median", "best-main")
        for key, label in (("objective", L._("objective")), ("bound", L._("proven bound"))):
            v = info.get(key)
            if v is not None:
                print(f"  {label}: {L.num(v, 0 if whole else 2)} {unit}")
        if info.get("gap") is not None:
            print("  " + L._("optimality gap: {gap}", gap=L.pct(info["gap"], 2)))
        if info.get("status"):
            print("  " + L._("status: {status}", status=L.text(info["status"])))
        if info.get("uncovered_population"):
            print("  " + L._("people no station reaches in time: {n}",
                             n=L.people(info["uncovered_population"])))
        stats = info.get("stats") or {}
        if args.model == "p-center" and stats.get("sites_at_radius") is not None:
            print("  " + L._("{k} service points already reach the longest trip of {t}; the "
                             "{p} are chosen by the stated rule: a p-median (least "
                             "person-minutes) among the plans keeping every trip within it.",
                             k=L.num(stats["sites_at_radius"]),
                             t=_minutes(L, info.get("objective")), p=L.num(res.p)))
        if info.get("solve_time_s") is not None:
            print("  " + L._("solve time: {s} s", s=L.num(info["solve_time_s"], 1)))
        print(L._("evaluate it with: gis plan evaluate {path}", path=args.out))
    return 0


def _minutes(L, v) -> str:
    return L._("{value} min", value=L.num(v, 0 if float(v).is_integer() else 1))
