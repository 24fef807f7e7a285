"""``gis plan``: consolidation plans: the official plan, evaluation, location models.

- ``gis plan official``: the reform's plan built from the registry (one main station per
  post-2025 commune, the other former stations as branch points or closed), as a plan CSV that
  can be edited and evaluated.
- ``gis plan evaluate PLAN [PLAN ...]``: today vs the official scenarios vs the given plans, on
  the access metrics, with the maps, layers, report and ``scenarios.csv``.
- ``gis plan optimise --model ...``: a location model on the province's demand and stations;
  writes the chosen sites (and a plan CSV where the result is a valid plan).
"""

from __future__ import annotations

import argparse
import io
from pathlib import Path

from gis.commands._common import config_from_args
from gis.commands._options import add_config_options, step
from gis.commands.run import _run, add_run_options

MODELS = ("best-main", "set-cover", "mclp", "p-median", "p-center")
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


def _write_or_print(text: str, out: Path | None, *, overwrite: bool, quiet: bool) -> None:
    if out is None:
        print(text, end="")
        return
    from gis._io import write_text

    write_text(out, text, overwrite=overwrite)
    if not quiet:
        print(f"written: {out}")


def _plan_csv(plan, facilities) -> str:
    a = plan.actions.merge(facilities[["facility_id", "name", "legacy_commune_code"]],
                           on="facility_id", how="left")
    cols = ["facility_id", "name", "legacy_commune_code", "action", "target_commune_code", "rule"]
    buf = io.StringIO()
    a[cols].to_csv(buf, index=False)
    return buf.getvalue()


def _official(args: argparse.Namespace) -> int:
    from gis._io import check_writable
    from gis.pipeline import prepare
    from gis.plans import MAIN_RULE_TEXT, official_plan

    quiet = args.quiet > 0
    check_writable([args.out] if args.out else [], overwrite=args.overwrite)
    cfg = config_from_args(args)
    with step("reading and building layers", quiet=quiet or args.out is None):
        prep = prepare(cfg)
    lay = prep.layers
    plan = official_plan(lay.facilities, lay.communes, prep.registry,
                         branches=not args.no_branches)
    _write_or_print(_plan_csv(plan, lay.facilities), args.out, overwrite=args.overwrite,
                    quiet=quiet)
    if not quiet and args.out is not None:
        c = plan.counts()
        print(f"plan '{plan.name}': {c['keep']} main stations, {c['branch']} branch points, "
              f"{c['close']} closed")
        print(MAIN_RULE_TEXT)
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    args.plan_files = tuple(args.plans)
    return _run(args)


def _ids(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


def _optimise(args: argparse.Namespace) -> int:
    import numpy as np
    import pandas as pd

    from gis import siting
    from gis._io import check_writable
    from gis.costs import subset_dests
    from gis.errors import GisError
    from gis.pipeline import prepare, run_access_stage, station_thresholds
    from gis.plans import official_plan

    quiet = args.quiet > 0
    check_writable([args.out] if args.out else [], overwrite=args.overwrite)
    cfg = config_from_args(args)
    show = quiet or args.out is None
    with step("reading and building layers", quiet=show):
        prep = prepare(cfg)
    with step("population surface and travel costs", quiet=show):
        acc = run_access_stage(prep)
    if acc is None:
        msg = ("population unknown: give a communes layer with population, "
               "province.population_total or --population-total")
        raise GisError(msg)
    lay = prep.layers
    fac = lay.facilities
    st = fac[(fac["tier"] == "station") & (fac["status"] == "active")]
    costs = subset_dests(acc.costs, np.isin(acc.costs.dest_ids, st["facility_id"].to_numpy()))
    pop = acc.demand["population"].to_numpy(float)
    official = official_plan(fac, lay.communes, prep.registry, branches=False)
    mains = official.main_ids()
    fixed_open = _ids(args.fixed_open) + (mains if args.keep_official_mains else [])
    fixed_closed = _ids(args.fixed_closed)
    th = station_thresholds(cfg)
    t = args.time if args.time is not None else th[len(th) // 2]
    p = args.p if args.p is not None else len(mains)
    kw = {"fixed_open": fixed_open, "fixed_closed": fixed_closed}
    with step(f"solving {args.model}", quiet=show):
        if args.model == "best-main":
            best = siting.best_in_groups(costs, pop, acc.demand["commune_code"].to_numpy(),
                                         st.set_index("facility_id")["commune_code"]
                                         .reindex(costs.dest_ids).to_numpy())
            open_ids = best["dest_id"].tolist()
            info = {"model": "best main station per commune", "gap": 0.0, "status": "optimal",
                    "objective": float(best["objective"].sum())}
        else:
            if args.model == "set-cover":
                res = siting.set_cover(costs, pop, t, **kw)
            elif args.model == "mclp":
                res = siting.mclp(costs, pop, t, p, **kw)
            elif args.model == "p-median":
                res = siting.p_median(costs, pop, p, **kw)
            else:
                res = siting.p_center(costs, pop, p, **kw)
            open_ids = list(res.open_ids)
            info = res.as_dict()
    is_open = st["facility_id"].isin(open_ids)
    if args.model == "best-main":
        action = np.where(is_open, "keep", "close")
    elif args.keep_official_mains:
        action = np.where(st["facility_id"].isin(mains), "keep",
                          np.where(is_open, "branch", "close"))
    else:
        action = np.where(is_open, "open", "close")
    out = pd.DataFrame({"facility_id": st["facility_id"].to_numpy(),
                        "name": st["name"].to_numpy(),
                        "legacy_commune_code": st["legacy_commune_code"].to_numpy(),
                        "action": action, "target_commune_code": st["commune_code"].to_numpy(),
                        "rule": f"gis plan optimise --model {args.model}"})
    if args.model == "best-main" or args.keep_official_mains:
        from gis.plans import validate_plan

        validate_plan(out, fac, prep.registry, source="optimised plan",
                      name=f"optimised {args.model}")
    buf = io.StringIO()
    out.to_csv(buf, index=False)
    _write_or_print(buf.getvalue(), args.out, overwrite=args.overwrite, quiet=quiet)
    if not quiet and args.out is not None:
        n_open = int(is_open.sum())
        print(f"{args.model}: {n_open} of {len(st)} stations open"
              + (f" ({n_open - len(fixed_open)} besides the fixed-open)" if fixed_open else ""))
        unit = OBJECTIVE_UNITS[args.model].format(t=f"{t:g}")
        for k, label in (("objective", f"objective ({unit})"), ("bound", f"bound ({unit})"),
                         ("gap", "optimality gap"), ("status", "status"),
                         ("uncovered_population", "people no allowed site reaches in time"),
                         ("solve_time_s", "solve time (s)")):
            v = info.get(k)
            if v is not None:
                print(f"  {label}: {v:,.6g}" if isinstance(v, float) else f"  {label}: {v}")
        if not (args.model == "best-main" or args.keep_official_mains):
            print("  note: sites chosen without the one-main-station-per-commune rule; "
                  "action 'open' is not a plan action (use --keep-official-mains for a plan)")
    return 0
