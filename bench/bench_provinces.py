"""Every province on the built-in base data: ``gis run --province P`` for the 34 provinces.

Run on demand, not by pytest::

    python bench/bench_provinces.py                  # all 34 (about 40 min on 2 busy cores)
    python bench/bench_provinces.py 42 56 86         # some provinces, printed only
    python bench/bench_provinces.py --write          # all 34, written to RESULTS.md
    python bench/bench_provinces.py --placement --save rows.json   # keep the rows as they come
    python bench/bench_provinces.py --from rows.json --write       # write a saved run

Each province runs in a fresh Python process, one after the other (never two at once), as a
user would run it in the project folder after the README's set-up, with no other input:
``gis run --province P --out <tmp>`` with the project's config.toml (the base data, 500 m
cells, motorbike 30 km/h x 1.4; Hà Tĩnh's own hospital register, which leaves no row for the
other provinces, whose hospitals come from the base data): layers, access,
plan scenarios with their location models, network, maps, GeoPackage, QGIS project and report.
The process reports its wall time and its peak resident memory (``ru_maxrss``: interpreter and
inputs included). The table reads each run's summary.json and GeoPackage: communes, stations,
hospitals placed from OpenStreetMap or by estimate, demand cells, the share of people within
30 min of a station. The load average (1 min) is recorded before and after each province: the
machine is shared, and wall times grow with the load.

With ``--placement`` a second process per province measures how well the people placed inside
each post-2025 commune (WorldPop, dasymetric; and by area for comparison) match the 2019 census
of its pre-2025 communes: per pre-2025 commune, its estimated people (the demand pieces of its
estimated polygon) rescaled so that each post-2025 commune's former communes add up to their
census sum, against its census count; median absolute error over the pre-2025 communes that
share a post-2025 commune with another (communes split in 2025 and census gaps left out).

Results go to bench/RESULTS.md, section "## Every province on the base data (gis run
--province P)"; the other sections are left as they are.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench._common import machine, write_section  # noqa: E402

SECTION = "## Every province on the base data (gis run --province P)"

RUN = r"""
import json, resource, sys, time
from gis.cli import main
t = time.perf_counter()
rc = main(["-q", "run", "--province", sys.argv[1], "--out", sys.argv[2], "--overwrite"])
print(json.dumps({"rc": rc, "wall_s": time.perf_counter() - t,
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""

PLACEMENT = r"""
import json, sys
import numpy as np
from pathlib import Path
from gis.inputs.config import parse_config
from gis.model.demand import population_surface
from gis.pipeline import prepare
prep = prepare(parse_config({"province": {"name": sys.argv[1]}}, base_dir=Path(".")))
lay = prep.layers
lg = lay.communes_legacy.set_index("commune_code")
census = lg["population"]
ok = (~lg["split"]) & census.notna() & (census > 0)
bad = set(lg.loc[~ok, "new_commune_code"])
for codes in lg.loc[lg["split"], "new_commune_codes"]:
    bad |= set(codes.split(";"))
keep = ok & ~lg["new_commune_code"].isin(bad)
new = lg.loc[keep, "new_commune_code"]
shared = new.map(new.value_counts()) > 1
out = {"pre2025_communes": int(shared.sum())}
for name, raster in (("worldpop", prep.raster), ("area", None)):
    d = population_surface(lay.communes, legacy=lay.communes_legacy, raster=raster)
    est = d.groupby("legacy_commune_code")["population"].sum().reindex(lg.index)[keep]
    c = census[keep]
    scaled = est / est.groupby(new).transform("sum") * c.groupby(new).transform("sum")
    err = ((scaled - c).abs() / c)[shared]
    out[name] = err.tolist()
print(json.dumps(out))
"""


def _load() -> float:
    return os.getloadavg()[0]


def _run(code: str, out: Path) -> dict:
    before = _load()
    proc = subprocess.run([sys.executable, "-c", RUN, code, str(out)], capture_output=True,
                          text=True, cwd=str(ROOT), check=False)
    after = _load()
    lines = [x for x in proc.stdout.splitlines() if x.startswith("{")]
    if proc.returncode != 0 or not lines:
        why = proc.stderr.strip()[-2000:] or (
            f"no message; exit status {proc.returncode}"
            + (" (killed by a signal)" if proc.returncode < 0 else ""))
        return {"rc": proc.returncode, "error": why, "load": (before, after)}
    res = json.loads(lines[-1])
    res["load"] = (before, after)
    if res["rc"] != 0:
        res["error"] = proc.stderr.strip()[-2000:]
    return res


def _figures(out: Path) -> dict:
    import pyogrio

    s = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    gpkg = next(out.glob("*.gpkg"))
    fac = pyogrio.read_dataframe(gpkg, layer="facilities", read_geometry=False,
                                 columns=["tier", "status", "location_source"])
    hosp = fac[fac["tier"].isin(["central", "provincial", "regional"])
               & (fac["status"] == "active")]
    osm = int(hosp["location_source"].str.startswith("OpenStreetMap").sum())
    st = fac[fac["tier"] == "station"]["location_source"]
    st30 = s["access"]["coverage"]["station"]["30"]
    return {
        "name": s["province"]["name"], "short": s["province"]["short_name"],
        "communes": s["counts"]["new_communes"], "legacy": s["counts"]["legacy_communes"],
        "stations": s["counts"]["stations"], "hospitals": len(hosp), "osm": osm,
        "estimated": len(hosp) - osm, "cells": s["access"]["demand"]["units"],
        "moved": int(st.str.contains(", moved inside").sum()),
        "resited": int(st.str.contains(", re-sited").sum()),
        "population": s["population"]["total"], "share30": st30["share"],
        "stages": {k: "skipped" not in s.get(k, {"skipped": 1})
                   for k in ("access", "plans", "network")},
    }


def _placement(code: str) -> dict:
    proc = subprocess.run([sys.executable, "-c", PLACEMENT, code], capture_output=True,
                          text=True, cwd=str(ROOT), check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"placement {code}: {proc.stderr[-2000:]}")
    return json.loads(proc.stdout.splitlines()[-1])


def _median(values: list[float]) -> float:
    v = sorted(values)
    n = len(v)
    return (v[n // 2] if n % 2 else 0.5 * (v[n // 2 - 1] + v[n // 2])) if n else float("nan")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("provinces", nargs="*", help="province codes (default: all 34)")
    ap.add_argument("--write", action="store_true", help="write the section of RESULTS.md")
    ap.add_argument("--placement", action="store_true",
                    help="also measure the placement inside communes against the census")
    ap.add_argument("--save", type=Path, default=None,
                    help="write every province's measured row to this JSON file as it "
                         "completes (to follow a long run, or keep it if the run stops)")
    ap.add_argument("--from", dest="from_files", type=Path, nargs="+", default=None,
                    help="no run: format (and with --write, write) the rows runs saved with "
                         "--save; a later file's rows replace an earlier file's failures "
                         "(provinces run again), and the section says so")
    args = ap.parse_args()
    from gis.inputs.basedata import province_codes

    if args.from_files:
        (rows, failed, errs), opts = _merge_saved(args.from_files)
        text = _section(rows, failed, errs, opts)
        print(text)
        if args.write:
            write_section(SECTION, text)
        return

    codes = args.provinces or province_codes()
    started = dt.datetime.now().isoformat(timespec="minutes")
    load0 = _load()
    rows, failed, errs = [], [], {"worldpop": [], "area": []}
    placement_values: dict[str, dict] = {}
    with tempfile.TemporaryDirectory(prefix="gis-bench-provinces-") as tmp:
        for code in codes:
            out = Path(tmp) / code
            res = _run(code, out)
            if res.get("rc") != 0:
                failed.append((code, res.get("error", "")))
                print(f"{code}: FAILED\n{res.get('error', '')}", flush=True)
                continue
            fig = _figures(out)
            row = {"code": code, **fig, **res}
            if args.placement:
                pl = _placement(code)
                placement_values[code] = {k: pl[k] for k in errs}
                for k in errs:
                    errs[k] += pl[k]
                row["placement"] = {k: _median(pl[k]) for k in errs} | {
                    "n": pl["pre2025_communes"]}
            rows.append(row)
            if args.save:
                args.save.write_text(json.dumps({"started": started, "rows": rows,
                                                 "failed": failed, "errors": errs,
                                                 "placement_values": placement_values},
                                                ensure_ascii=False, indent=1),
                                     encoding="utf-8")
            print(f"{code} {fig['short']}: {res['wall_s']:.0f} s, {res['peak_mb']:.0f} MB, "
                  f"{fig['cells']} cells, {100 * fig['share30']:.1f} % within 30 min "
                  f"(load {res['load'][0]:.1f} -> {res['load'][1]:.1f})", flush=True)
    load1 = _load()
    if args.save:
        args.save.write_text(json.dumps({"started": started, "rows": rows, "failed": failed,
                                         "errors": errs, "load": [load0, load1],
                                         "placement_values": placement_values},
                                        ensure_ascii=False, indent=1), encoding="utf-8")
    text = _section(rows, failed, errs if args.placement else None, started=started,
                    load=(load0, load1), partial=bool(args.provinces))
    print(text)
    if args.write:
        write_section(SECTION, text)
    if failed:
        sys.exit(1)


def _merge_saved(paths: list[Path]) -> tuple:
    """The runs saved with --save, merged: the first run's rows, a province that failed there
    taken from a later run that completed it (noted, with the first failure's message);
    placement errors of every row kept."""
    first = json.loads(paths[0].read_text(encoding="utf-8"))
    rows, failed = list(first["rows"]), [tuple(f) for f in first["failed"]]
    errs = {k: list(v) for k, v in first["errors"].items()}
    reruns = []
    for path in paths[1:]:
        later = json.loads(path.read_text(encoding="utf-8"))
        for r in later["rows"]:
            gone = [f for f in failed if f[0] == r["code"]]
            if not gone:
                continue
            failed = [f for f in failed if f[0] != r["code"]]
            rows.append(r)
            reruns.append((r, gone[0][1], later["started"]))
            for k in errs:
                errs[k] += later.get("placement_values", {}).get(r["code"], {}).get(k, [])
    order = {c: i for i, c in enumerate(sorted(r["code"] for r in rows))}
    rows.sort(key=lambda r: order[r["code"]])
    return (rows, failed, errs if any(errs.values()) else None), {
        "started": first["started"], "load": tuple(first["load"]),
        "partial": len(rows) + len(failed) < 34, "reruns": reruns}


def _section(rows: list[dict], failed: list, errs: dict | None, opts: dict | None = None, *,
             started: str = "", load: tuple[float, float] = (0.0, 0.0),
             partial: bool = False) -> str:
    if opts is not None:
        started, load, partial = opts["started"], opts["load"], opts["partial"]
    reruns = (opts or {}).get("reruns", [])
    import geopandas
    import numpy
    import pandas
    import shapely

    import gis

    lines = [SECTION, "",
             f"Machine: {machine()}; {started}; gis {gis.__version__}, numpy "
             f"{numpy.__version__}, pandas {pandas.__version__}, geopandas "
             f"{geopandas.__version__}, shapely {shapely.__version__}. Load average (1 min) "
             f"{load[0]:.1f} at the start, {load[1]:.1f} at the end (other work shares the "
             f"machine: wall times grow with the load).", "",
             "Each province in a fresh process, one after the other, in the project folder "
             "with no other input: `gis run --province P` with the project's config.toml "
             "(base data, 500 m cells, motorbike 30 km/h x 1.4), every stage and every "
             "output. Hospitals: active "
             "hospitals of the run, placed from OpenStreetMap / by estimate (former district "
             "seats without an OSM hospital, register rows without an OSM match). Peak memory: "
             "the run's process (`ru_maxrss`).", "",
             "| province | communes (pre-2025) | stations | hospitals (OSM / estimated) | cells | "
             "wall s | peak MB | load before / after | within 30 min of a station |",
             "|---|---:|---:|---|---:|---:|---:|---|---:|"]
    for r in rows:
        lines.append(f"| {r['short']} ({r['code']}) | {r['communes']} ({r['legacy']}) | "
                     f"{r['stations']} | {r['hospitals']} ({r['osm']} / {r['estimated']}) | "
                     f"{r['cells']:,} | {r['wall_s']:.0f} | {r['peak_mb']:,.0f} | "
                     f"{r['load'][0]:.1f} / {r['load'][1]:.1f} | {100 * r['share30']:.1f} % |")
    lines.append("")
    if rows:
        complete = [r for r in rows if all(r["stages"].values())]
        slow = max(rows, key=lambda r: r["wall_s"])
        big = max(rows, key=lambda r: r["peak_mb"])
        low = min(rows, key=lambda r: r["share30"])
        hosp = sum(r["hospitals"] for r in rows)
        osm = sum(r["osm"] for r in rows)
        stations = sum(r["stations"] for r in rows)
        moved, resited = sum(r["moved"] for r in rows), sum(r["resited"] for r in rows)
        what = "of the 34 provinces" if not partial else "of the provinces run"
        lines.append(
            f"{len(rows)} {what} completed ({len(complete)} with access, plans and network), "
            f"{len(failed)} failed. Total wall time {sum(r['wall_s'] for r in rows) / 60:.0f} "
            f"min; slowest {slow['short']} ({slow['wall_s']:.0f} s, {slow['cells']:,} cells); "
            f"largest peak memory {big['short']} ({big['peak_mb']:,.0f} MB). Hospitals: "
            f"{osm} of {hosp} ({100 * osm / max(hosp, 1):.0f} %) at an OpenStreetMap site. "
            f"Stations: {moved + resited} of {stations:,} registry centres lay outside their "
            f"post-2025 commune: {moved} moved inside, {resited} (more than 5 km out) "
            f"re-sited. "
            f"Lowest share within 30 min of a station: {low['short']} "
            f"({100 * low['share30']:.1f} %).")
    for r, why, when in reruns:
        why = why.strip().splitlines()[-1] if why.strip() else "no message recorded"
        lines += ["", f"{r['short']} ({r['code']}) failed in this run ({why}) and was run "
                      f"again alone on {when}; its row is that run's."]
    if failed:
        lines += ["", "Failed: " + "; ".join(f"{c}: {e.splitlines()[-1] if e else '?'}"
                                             for c, e in failed)]
    if errs is not None and errs["worldpop"]:
        n = len(errs["worldpop"])
        wp, ar = 100 * _median(errs["worldpop"]), 100 * _median(errs["area"])
        better = "WorldPop" if wp < ar else "area"
        lines += ["", f"Placement inside communes against the 2019 census ({n:,} pre-2025 "
                      f"communes sharing a post-2025 commune, split communes and census gaps "
                      f"left out; each post-2025 commune's split rescaled to its former "
                      f"communes' census sum): median absolute error {wp:.1f} % with WorldPop "
                      f"(dasymetric), {ar:.1f} % by area; {better} is closer.", "",
                  "| province | pre-2025 communes | WorldPop | by area |", "|---|---:|---:|---:|"]
        for r in rows:
            p = r.get("placement")
            if p:
                lines.append(f"| {r['short']} | {p['n']} | {100 * p['worldpop']:.1f} % | "
                             f"{100 * p['area']:.1f} % |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
