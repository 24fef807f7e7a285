"""Benchmark of the whole real-data run at 1,000 / 500 / 250 / 100 m demand cells (issue 14).

Run on demand, not by pytest::

    python bench/bench_resolution.py              # every case (about 20 minutes), RESULTS.md
    python bench/bench_resolution.py --sizes 500  # some sizes, no equality check, printed only
    python bench/bench_resolution.py --write ...  # ... and written to RESULTS.md

Runs. Each resolution runs in a fresh Python process: ``gis.pipeline.run`` on
``examples/hatinh_shared_data.toml`` with ``[demand] cell_size_m`` replaced, which is what
``gis run --config examples/hatinh_shared_data.toml`` does. The pipeline's own steps (prepare,
access, plans, editor data, network, outputs) are timed through its ``step`` hook: wall seconds, CPU
seconds of the process (all threads) and the step's peak resident memory (the kernel's
high-water mark ``VmHWM``, reset at the start of each step by writing 5 to
``/proc/self/clear_refs``; the interpreter and everything held before the step included).

Equality. The plans and network stages run once on the tables sized per analysis (the
default) and once on the table of every pair within the cut-off (``full_table=True``), each
in a fresh process, with a time limit of 600 s per location model so that no limit binds
(with a binding wall-clock limit the p-median's answer depends on the machine's load, on
either side). Every number of the plans section of summary.json (scenario table, notes,
coverage curve, people losing access), each cell's time to its nearest open station in
every scenario, and every number of the network section are compared for exact equality.
The whole province is compared at 1,000, 500 and 250 m. At 100 m the full table would hold
every pair within 180 min (counted, not built) and the old p-median several working copies
of it, beyond what this shared machine should be asked for, so 100 m is compared on a
sub-province: the communes nearest to the Provincial General Hospital, with their stations
and every hospital.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import os
import pickle
import re
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench._common import machine, write_section  # noqa: E402

SECTION = "## Resolution: the real-data Ha Tinh run at 1,000 to 100 m (issue 14)"
CONFIG = ROOT / "examples" / "hatinh_shared_data.toml"
SIZES = (1000.0, 500.0, 250.0, 100.0)
STEPS = {"reading and building layers": "prepare",
         "population surface, travel costs and access metrics": "access",
         "consolidation scenarios and location models": "plans",
         "capacity-limited coverage and scaling up": "capacity",
         "plan editor data (each cell's nearest stations, the official plans)": "editor",
         "referral and satellite-hospital network": "network",
         "writing maps, GeoPackage, QGIS project and report": "outputs"}
EQUAL = (("province", 1000.0), ("province", 500.0), ("province", 250.0), ("communes", 100.0))
SUB_COMMUNES = 20
TARGET_S, TARGET_GB, TARGET_M = 90.0, 4.0, 100.0
LIMIT_S = 600.0


# --- child side -------------------------------------------------------------------------------

def _hwm_mb() -> float:
    text = Path("/proc/self/status").read_text()
    return int(re.search(r"VmHWM:\s+(\d+)", text).group(1)) / 1024


def _reset_hwm() -> None:
    Path("/proc/self/clear_refs").write_text("5")


def _config(cell_size_m: float):
    from gis.inputs.config import load_config

    cfg = load_config(CONFIG)
    return dataclasses.replace(cfg, demand=dataclasses.replace(cfg.demand,
                                                               cell_size_m=float(cell_size_m)))


def child_run(cell_size_m: float) -> dict:
    """The whole run at one resolution, timed per step."""
    from gis import pipeline

    stages: dict[str, dict] = {}

    @contextmanager
    def step(label: str, *, level: int = 1):
        if level > 1:                       # sub-steps are timed within their step
            yield
            return
        _reset_hwm()
        w0, c0 = time.perf_counter(), time.process_time()
        yield
        stages[STEPS.get(label, label)] = {"wall_s": time.perf_counter() - w0,
                                           "cpu_s": time.process_time() - c0,
                                           "peak_mb": _hwm_mb()}

    load0 = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        w0, c0 = time.perf_counter(), time.process_time()
        res = pipeline.run(_config(cell_size_m), out_dir=Path(tmp) / "out", step=step)
        wall, cpu = time.perf_counter() - w0, time.process_time() - c0
        sizes = {p.name: p.stat().st_size for p in (Path(tmp) / "out").iterdir()}
    s = res.summary
    pm = next(v for k, v in s["plans"]["notes"].items() if "p-median" in k)
    return {"cell_size_m": cell_size_m, "units": s["access"]["demand"]["units"],
            "wall_s": wall, "cpu_s": cpu, "stages": stages,
            "peak_mb": max(v["peak_mb"] for v in stages.values()),
            "plans_tables": s["plans"].get("cost_tables"), "file_sizes": sizes,
            "p_median": pm, "load": (load0, os.getloadavg()[0])}


def _sub_province(prep, n: int):
    """The ``n`` post-2025 communes nearest to the Provincial General Hospital, their stations,
    every hospital, and the registry cut to them."""
    import geopandas as gpd

    from gis.inputs.registry import ProvinceRegistry

    lay, reg = prep.layers, prep.registry
    fac = lay.facilities
    pgh = fac[(fac["tier"] == "provincial") & fac["name"].str.contains("General", case=False)]
    at = pgh.geometry.iloc[0]
    com = lay.communes
    codes = set(com.loc[com.geometry.centroid.distance(at).nsmallest(n).index, "commune_code"])
    keep_fac = (fac["tier"] != "station") | fac["commune_code"].isin(codes)
    legacy_codes = set(reg.legacy.loc[reg.legacy["new_commune_code"].isin(codes),
                                      "commune_code"])
    sub_reg = ProvinceRegistry(
        province=reg.province, legacy=reg.legacy[reg.legacy["commune_code"].isin(legacy_codes)],
        new=reg.new[reg.new["commune_code"].isin(codes)],
        mapping=reg.mapping[reg.mapping["new_code"].isin(codes)])
    sub_lay = dataclasses.replace(
        lay, communes=com[com["commune_code"].isin(codes)].reset_index(drop=True),
        communes_legacy=lay.communes_legacy[
            lay.communes_legacy["new_commune_code"].isin(codes)].reset_index(drop=True),
        facilities=gpd.GeoDataFrame(fac[keep_fac].reset_index(drop=True), crs=fac.crs))
    return dataclasses.replace(prep, layers=sub_lay, registry=sub_reg)


def child_equal(area: str, cell_size_m: float, side: str, out: Path) -> None:
    """Plans and network on one side (sized or full tables); figures pickled to ``out``."""
    from gis import pipeline
    from gis.jsonable import to_jsonable

    prep = pipeline.prepare(_config(cell_size_m))
    if area == "communes":
        prep = _sub_province(prep, SUB_COMMUNES)
    acc = pipeline.run_access_stage(prep)
    full = side == "full"
    _reset_hwm()
    w0, c0 = time.perf_counter(), time.process_time()
    pr = pipeline.run_plans_stage(prep, acc, full_table=full, time_limit_s=LIMIT_S)
    plans_s = (time.perf_counter() - w0, time.process_time() - c0, _hwm_mb())
    _reset_hwm()
    w0, c0 = time.perf_counter(), time.process_time()
    net, _ = pipeline.run_network_stage(prep, acc, plan=pr.official, full_table=full)
    net_s = (time.perf_counter() - w0, time.process_time() - c0, _hwm_mb())
    plans = to_jsonable(pr.summary)
    tables = plans.pop("cost_tables", None)
    pairs_full = int(len(acc.costs)) if full else None
    fac = prep.layers.facilities
    res = {"units": int(len(acc.demand)), "communes": int(len(prep.layers.communes)),
           "stations": int(((fac["tier"] == "station") & (fac["status"] == "active")).sum()),
           "plans": plans, "network": to_jsonable(net.summary),
           "times": [e.time_min for e in pr.evaluations], "tables": tables,
           "pairs_full": pairs_full, "plans_stage": plans_s, "network_stage": net_s}
    out.write_bytes(pickle.dumps(res))


def child_count(cell_size_m: float) -> dict:
    """Pairs the full table would hold at this resolution (counted per distinct point, not
    built)."""
    from scipy.spatial import cKDTree

    from gis import pipeline

    prep = pipeline.prepare(_config(cell_size_m))
    cfg = prep.config
    acc = pipeline.run_access_stage(prep)
    d = acc.demand
    fac = prep.layers.facilities
    fac = fac[fac["status"] == "active"]
    t = cfg.travel
    radius = t.cutoff_min * t.speed_kmh[t.mode] * 1000 / 60 / t.detour_factor
    xy = np.column_stack([d["x"].to_numpy(), d["y"].to_numpy()])
    pts, inv = np.unique(xy, axis=0, return_inverse=True)
    per = cKDTree(fac.geometry.get_coordinates().to_numpy()).query_ball_point(
        pts, radius, return_length=True, workers=-1)
    return {"units": int(len(d)), "pairs": int(per[np.ravel(inv)].sum()),
            "facilities": int(len(fac))}


# --- parent side ------------------------------------------------------------------------------

def _child(args: list[str]) -> dict:
    proc = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True)
    if proc.returncode != 0:
        msg = f"case {' '.join(args)} failed:\n{proc.stderr[-3000:]}"
        raise RuntimeError(msg)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _diff(a, b, path: str = "") -> list[str]:
    """Paths where two JSON-like values differ (timings excepted); NaN equals NaN."""
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for k in sorted(set(a) | set(b), key=str):
            if k not in a or k not in b:
                out.append(f"{path}/{k} only on one side")
            elif not any(w in str(k) for w in ("seconds", "solve_time")):
                out += _diff(a[k], b[k], f"{path}/{k}")
        return out
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return [f"{path}: lengths {len(a)} and {len(b)}"]
        return [d for i, (x, y) in enumerate(zip(a, b, strict=True))
                for d in _diff(x, y, f"{path}[{i}]")]
    if isinstance(a, float) and isinstance(b, float) and np.isnan(a) and np.isnan(b):
        return []
    return [] if a == b else [f"{path}: {a!r} != {b!r}"]


def equality(area: str, size: float) -> dict:
    res = {}
    with tempfile.TemporaryDirectory() as tmp:
        for side in ("sized", "full"):
            out = Path(tmp) / f"{side}.pkl"
            _child(["--equal", area, str(size), side, str(out)])
            res[side] = pickle.loads(out.read_bytes())
    a, b = res["sized"], res["full"]
    diffs = _diff(a["plans"], b["plans"]) + _diff(a["network"], b["network"])
    cells = [int(np.sum(~((x == y) | (np.isnan(x) & np.isnan(y)))))
             for x, y in zip(a["times"], b["times"], strict=True)]
    scen = a["plans"]["scenarios"]
    sized_pairs = sum(t["pairs"] for t in (a["tables"] or {}).get("tables", []))
    return {"area": area, "cell_size_m": size, "units": a["units"], "communes": a["communes"],
            "stations": a["stations"], "scenarios": len(scen), "differences": diffs,
            "cells_differing": sum(cells), "pairs_full": b["pairs_full"],
            "pairs_sized": sized_pairs, "tables": a["tables"],
            "second_query_cells": sum(q["rows"] for q in
                                      (a["tables"] or {}).get("second_queries", [])),
            "stages": {s: {"plans": res[s]["plans_stage"], "network": res[s]["network_stage"]}
                       for s in res},
            "p_median": {s: next(v for k, v in res[s]["plans"]["notes"].items()
                                 if "p-median" in k) for s in res},
            "within_15": [r.get("covered_15min") for r in scen]}


def _f(x: float, d: int = 1) -> str:
    return f"{x:,.{d}f}"


def report(runs: list[dict], eqs: list[dict], count: dict | None, info: dict) -> str:
    lines = [SECTION, "",
             f"Run {info['date']} on {info['machine']}; `python bench/bench_resolution.py`. "
             f"Python {info['python']}; numpy {info['numpy']}, scipy {info['scipy']} (HiGHS), "
             f"pandas {info['pandas']}, shapely {info['shapely']}. Load average (1 min) at "
             f"start {info['load'][0]:.1f}, at end {info['load'][1]:.1f}: the machine is "
             "shared, other work runs beside the bench (wall times stretch with it; CPU "
             "seconds much less).", "",
             "`gis run --config examples/hatinh_shared_data.toml` with `[demand] cell_size_m` "
             "replaced, each resolution in a fresh process (`gis.pipeline.run`, its steps timed "
             "by its own step hook). CPU = seconds of the process, all threads; peak = the "
             "step's resident high-water mark (reset at each step; interpreter and everything "
             "held before the step included). Location models with the pipeline's default "
             "limit of 60 s each.", "",
             "| cells | demand units | step | wall s | CPU s | peak MB |",
             "|---:|---:|---|---:|---:|---:|"]
    for r in runs:
        for k, v in r["stages"].items():
            lines.append(f"| {r['cell_size_m']:g} m | {r['units']:,} | {k} | "
                         f"{_f(v['wall_s'])} | {_f(v['cpu_s'])} | {v['peak_mb']:,.0f} |")
        lines.append(f"| {r['cell_size_m']:g} m | {r['units']:,} | **whole run** | "
                     f"**{_f(r['wall_s'])}** | **{_f(r['cpu_s'])}** | "
                     f"**{r['peak_mb']:,.0f}** |")
    lines.append("")
    for r in runs:
        if r["cell_size_m"] != TARGET_M:
            continue
        wall_ok = r["wall_s"] < TARGET_S
        cpu_ok = r["cpu_s"] < TARGET_S
        mem_ok = r["peak_mb"] < TARGET_GB * 1024
        lines.append(
            f"Target at {TARGET_M:g} m (under {TARGET_S:g} s and under {TARGET_GB:g} GB): peak "
            f"{r['peak_mb'] / 1024:.2f} GB ({'met' if mem_ok else 'NOT met'}); wall "
            f"{_f(r['wall_s'])} s ({'met' if wall_ok else 'not met'}, load average "
            f"{r['load'][0]:.1f} to {r['load'][1]:.1f} on 2 cores); the run's CPU time is "
            f"{_f(r['cpu_s'])} s ({'under' if cpu_ok else 'over'} {TARGET_S:g} s), wall / CPU "
            f"= {r['wall_s'] / r['cpu_s']:.2f}.")
        gpkg = r["file_sizes"].get("hatinh.gpkg", 0)
        acc_html = r["file_sizes"].get("access.html", 0)
        lines.append("")
        lines.append(
            f"At {TARGET_M:g} m the GeoPackage is {gpkg / 2**20:,.0f} MB (every demand unit "
            f"with its times), written in one pass: the outputs step peaks at "
            f"{r['stages']['outputs']['peak_mb']:,.0f} MB, so no chunking is needed; the "
            f"access map is {acc_html / 2**20:.1f} MB, its travel-time bands drawn on the "
            "demand grid (more than 100,000 units: each grid cell whole, in the band of its "
            "largest piece; the map says so).")
    lines += ["", "Tables the plans stage built per resolution (pairs; no table of every pair "
              "within the 180-min cut-off):", "",
              "| cells | nearest stations per cell (k) | pairs within 30 min | pairs inside "
              "communes | cells answered by the second query (all scenarios) | p-median |",
              "|---:|---|---:|---:|---:|---|"]
    for r in runs:
        t = r["plans_tables"] or {}
        by = {x["table"]: x for x in t.get("tables", [])}
        nk = by.get("nearest_k", {})
        sq = sum(q["rows"] for q in t.get("second_queries", []))
        pm = r["p_median"]
        lines.append(f"| {r['cell_size_m']:g} m | {nk.get('pairs', 0):,} (k = "
                     f"{nk.get('k', '-')}, {nk.get('rows', 0):,} distinct points) | "
                     f"{by.get('within', {}).get('pairs', 0):,} | "
                     f"{by.get('group_pairs', {}).get('pairs', 0):,} | {sq:,} | "
                     f"{pm.get('status')}, gap {pm.get('gap', 0):.1e} |")
    if count:
        lines += ["", f"The table of every pair within the cut-off at {TARGET_M:g} m would "
                  f"hold {count['pairs']:,} pairs ({count['units']:,} units x "
                  f"{count['facilities']} facilities, counted, not built): "
                  f"{count['pairs'] * 20 / 1e9:.1f} GB at 20 bytes a pair before any analysis "
                  "copies it."]
    lines += ["", "**Equality with the full table** (plans and network stages, sized tables "
              "against the table of every pair within the cut-off, each side in a fresh "
              f"process, {LIMIT_S:g} s per location model so no limit binds; every number of "
              "the plans and network sections of summary.json and each cell's time to its "
              "nearest open station in every scenario compared exactly):", "",
              "| area | cells | units | stations | scenarios | numbers differing | cell times "
              "differing | pairs: full table | pairs: sized tables | plans s (CPU) sized / "
              "full | plans peak MB sized / full |",
              "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---|"]
    for e in eqs:
        area = ("province (69 communes)" if e["area"] == "province" else
                f"sub-province ({e['communes']} communes nearest the Provincial General "
                "Hospital)")
        st = e["stages"]
        lines.append(f"| {area} | {e['cell_size_m']:g} m | {e['units']:,} | {e['stations']} | "
                     f"{e['scenarios']} | {len(e['differences'])} | {e['cells_differing']} | "
                     f"{e['pairs_full']:,} | {e['pairs_sized']:,} | "
                     f"{_f(st['sized']['plans'][1])} / {_f(st['full']['plans'][1])} | "
                     f"{st['sized']['plans'][2]:,.0f} / {st['full']['plans'][2]:,.0f} |")
    same = all(not e["differences"] and not e["cells_differing"] for e in eqs)
    lines += ["", ("Every figure is equal on both sides." if same else
                   "DIFFERENCES: " + "; ".join(d for e in eqs for d in e["differences"][:5]))]
    return "\n".join(lines) + "\n"


def versions() -> dict:
    from importlib.metadata import version

    return {n: version(n) for n in ("numpy", "scipy", "pandas", "shapely")}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=float, nargs="*", default=None)
    ap.add_argument("--no-equality", action="store_true")
    ap.add_argument("--write", action="store_true")
    ap.add_argument("--child", type=float)
    ap.add_argument("--count", type=float)
    ap.add_argument("--equal", nargs=4, metavar=("AREA", "SIZE", "SIDE", "OUT"))
    args = ap.parse_args()
    if args.child is not None:
        print(json.dumps(child_run(args.child)))
        return
    if args.count is not None:
        print(json.dumps(child_count(args.count)))
        return
    if args.equal:
        area, size, side, out = args.equal
        child_equal(area, float(size), side, Path(out))
        print(json.dumps({"ok": True}))
        return
    full = args.sizes is None
    sizes = SIZES if full else tuple(args.sizes)
    load0 = os.getloadavg()[0]
    runs = []
    for size in sizes:
        r = _child(["--child", str(size)])
        runs.append(r)
        print(f"{size:g} m: {r['units']:,} units, wall {r['wall_s']:.1f} s, cpu "
              f"{r['cpu_s']:.1f} s, peak {r['peak_mb']:,.0f} MB, load {r['load'][0]:.1f}",
              flush=True)
        for k, v in r["stages"].items():
            print(f"  {k:<8} wall {v['wall_s']:7.1f} s  cpu {v['cpu_s']:7.1f} s  "
                  f"peak {v['peak_mb']:8,.0f} MB", flush=True)
    eqs = []
    if full and not args.no_equality:
        for area, size in EQUAL:
            e = equality(area, size)
            eqs.append(e)
            print(f"equality {area} {size:g} m: {e['units']:,} units, {len(e['differences'])} "
                  f"numbers and {e['cells_differing']} cell times differ; pairs full "
                  f"{e['pairs_full']:,}, sized {e['pairs_sized']:,}", flush=True)
            for d in e["differences"][:10]:
                print("   ", d)
    count = _child(["--count", str(TARGET_M)]) if full else None
    info = {"date": dt.datetime.now().strftime("%Y-%m-%d %H:%M"), "machine": machine(),
            "python": sys.version.split()[0], "load": (load0, os.getloadavg()[0]),
            **versions()}
    text = report(runs, eqs, count, info)
    print(text)
    if args.write or full:
        write_section(SECTION, text)


if __name__ == "__main__":
    main()
