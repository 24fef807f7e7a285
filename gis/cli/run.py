"""``gis run``: the main job on the configured province (default: Ha Tinh)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from gis.cli._common import config_from_args
from gis.cli._options import add_config_options, add_lang_option, add_output_options, step
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
                       description="Config -> layers -> analyses -> outputs for one province.")
    add_run_options(p)
    p.add_argument("--plan", dest="plan_files", action="append", type=Path, default=[],
                   metavar="PLAN", help="also evaluate this plan (CSV or TOML; repeat for "
                                        "more), as `gis plan evaluate` does")
    p.set_defaults(func=run_command, stages=None)


def add_run_options(p: argparse.ArgumentParser) -> None:
    add_config_options(p)
    add_output_options(p)
    add_lang_option(p)
    p.add_argument("--offline", action="store_true",
                   help="no basemap in the maps (nothing is fetched from the internet; the "
                        "maps open with no internet either way)")


def run_command(args: argparse.Namespace) -> int:
    cfg = config_from_args(args)
    out = args.out if args.out is not None else default_out_dir(cfg)
    quiet = args.quiet > 0
    lang = getattr(args, "lang", None) or cfg.output.language
    stages = {} if args.stages is None else {"stages": args.stages}
    result = run(cfg, out_dir=Path(out), overwrite=args.overwrite, offline=args.offline,
                 **stages, plan_files=tuple(getattr(args, "plan_files", ())),
                 optimise=getattr(args, "optimise", True), lang=lang,
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
