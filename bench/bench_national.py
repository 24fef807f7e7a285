"""Benchmark of national runs (gis.national) and of one province's memory as cells shrink.

Run on demand, not by pytest::

    python bench/bench_national.py national --workers 1     # all 34 provinces, one worker
    python bench/bench_national.py national --workers 2     # the same on two workers
    python bench/bench_national.py scaling                  # largest provinces at 500/250/100 m
    python bench/bench_national.py report                   # write bench/RESULTS.md's section

Every case runs in a fresh process and saves its figures as JSON in ``bench/.national/``
(git-ignored); ``report`` writes the section "## National runs (gis.national)" of RESULTS.md
from them, so the cases can run at different times (each records the load average of the
shared machine at its start and end).

``national``: every province of Viet Nam as the project's config.toml runs it (``[data] base =
true``: the built-in base data's communes with their 2025 population, the 2019 census,
WorldPop 2020 and the OpenStreetMap hospital register of each province; Ha Tinh keeps its own
register), only the cell size replaced (``--cell``, default 500 m), cross-border access on,
every stage (access, plans with the location models unless ``--no-optimise``, network, all
outputs) on a LocalCluster of N worker processes, one thread each, memory limit the
machine's memory / N. Recorded: wall time, per province its run time, the worker's resident
memory at the start and peak of its run, its communes, stations, hospitals, population and
whether the network stage ran; per worker its peak (``ru_maxrss``); failures with their
message.

``scaling``: the largest provinces (by area: Lâm Đồng, Gia Lai; by stations: Hồ Chí Minh)
at 500, 250 and 100 m cells on the same configuration, one process each, stage by stage:
layers, demand surface, the access stage (nearest facility per tier, catchments, coverage,
under-served areas), then the table of every pair within the cut-off that the plans stage
uses (built when its estimated size, from a sample of 20,000 cells, fits the budget; otherwise
estimated). Each process runs under an address-space limit (``--limit-gb``, default 14) so
that it fails cleanly rather than crowding the shared machine.
"""

from __future__ import annotations

import argparse
import datetime as dt
import functools
import json
import os
import resource
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench._common import machine, write_section  # noqa: E402

SECTION = "## National runs (gis.national)"
DATA = ROOT.parent / "shared" / "data"
STORE = Path(__file__).resolve().parent / ".national"
LARGEST = ("68", "52", "79")          # Lâm Đồng, Gia Lai (largest areas), Hồ Chí Minh
CELLS_M = (500.0, 250.0, 100.0)
# what ``real_config`` runs on; saved with every case so that ``report`` keeps apart the runs
# of an earlier configuration (the raw files of ../shared/data, before the base data)
DATA_LABEL = "config.toml (base data)"
BYTES_PER_PAIR = 24                   # int32 + int32 + float32 + float64 (gis.model.costs)


def real_config(base, cell_m: float, code: str):
    """Province ``code`` as the project's config.toml runs it (``[data] base = true``: the
    built-in base data gives its communes, the 2025 and 2019 populations, WorldPop and the
    OpenStreetMap hospital register; Ha Tinh keeps its own register), with ``cell_m`` metre
    cells (picklable: sent to the workers)."""
    from gis.pipeline import config_for_province

    cfg = config_for_province(base, code)
    return replace(cfg, demand=replace(cfg.demand, cell_size_m=cell_m))


def rss_mb() -> float:
    return int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# --- cases ------------------------------------------------------------------------------------

def case_national(workers: int, cell_m: float, optimise: bool) -> dict:
    import logging

    from gis.inputs.config import load_config
    from gis.national import cluster_client, parse_provinces, peak_rss_mb_of_workers, run_national

    logging.basicConfig(level=logging.ERROR)
    logging.getLogger("gis").setLevel(logging.ERROR)
    base = load_config(ROOT / "config.toml")
    out = Path(f"/tmp/gis_bench_national_{workers}_{cell_m:g}_{int(optimise)}")
    load0 = os.getloadavg()
    t0 = time.perf_counter()
    log = []
    with cluster_client(workers=workers) as client:
        t_cluster = time.perf_counter() - t0
        res = run_national(client, base, parse_provinces("all"), out_root=out, overwrite=True,
                           offline=True, optimise=optimise,
                           config_for=functools.partial(real_config, base, cell_m),
                           on_event=lambda k, w: log.append(
                               (k, getattr(w, "code", w), time.perf_counter() - t0)))
        worker_peaks = peak_rss_mb_of_workers(client)
        info = res.summary["run"]["cluster"]
    wall = time.perf_counter() - t0
    rows = []
    for o in res.outcomes:
        s = o.summary or {}
        rows.append({"code": o.code, "name": o.name, "ok": o.ok, "error": o.error,
                     "wall_s": o.wall_s, "peak_rss_mb": o.peak_rss_mb,
                     "start_rss_mb": o.start_rss_mb, "worker": o.worker,
                     "units": (s.get("access") or {}).get("demand", {}).get("units"),
                     "communes": (s.get("counts") or {}).get("new_communes"),
                     "stations": (s.get("counts") or {}).get("stations"),
                     "hospitals": (s.get("counts") or {}).get("hospitals"),
                     "hospitals_by_tier": (s.get("counts") or {}).get("hospitals_by_tier"),
                     "population": (s.get("population") or {}).get("total"),
                     "population_source": (s.get("population") or {}).get("source"),
                     "network": ("skipped: " + s["network"]["skipped"]
                                 if "skipped" in (s.get("network") or {}) else
                                 "ran" if s.get("network") else None)})
    nat = res.table.iloc[-1].to_dict()
    return {"data": DATA_LABEL, "workers": workers, "cell_m": cell_m, "optimise": optimise,
            "wall_s": wall,
            "cluster_start_s": t_cluster,
            "provinces_wall_s": res.summary["run"]["provinces_wall_s"],
            "cluster": info, "worker_peak_rss_mb": worker_peaks, "provinces": rows,
            "events": log, "load_start": load0, "load_end": os.getloadavg(),
            "national": {k: nat.get(k) for k in
                         ("population", "station_15min_share", "station_30min_share",
                          "station_best_served_across", "station_15min_gain",
                          "station_30min_gain", "underserved_population")},
            "halo_failures": res.summary["run"]["halo_failures"],
            "machine": machine(), "when": dt.datetime.now().strftime("%Y-%m-%d %H:%M")}


def _sample_pairs(xy: np.ndarray, fxy: np.ndarray, radius_m: float, n: int = 20_000) -> float:
    """Mean number of facilities within ``radius_m`` of a cell, from a sample of cells."""
    from scipy.spatial import cKDTree

    rng = np.random.default_rng(0)
    pick = xy[rng.choice(len(xy), min(n, len(xy)), replace=False)]
    return float(cKDTree(fxy).query_ball_point(pick, radius_m, return_length=True).mean())


def case_scaling(code: str, cell_m: float, budget_gb: float) -> dict:
    import logging

    from gis.inputs.config import load_config
    from gis.model.demand import population_surface
    from gis.pipeline import halo_reach_m, prepare, run_access_stage

    logging.basicConfig(level=logging.ERROR)
    base = load_config(ROOT / "config.toml")
    cfg = real_config(base, cell_m, code)
    out: dict = {"data": DATA_LABEL, "code": code, "cell_m": cell_m, "stages": {},
                 "rss_after_mb": {},
                 "load_start": os.getloadavg()}

    def stage(name, fn):
        t = time.perf_counter()
        r = fn()
        out["stages"][name] = time.perf_counter() - t
        out["rss_after_mb"][name] = rss_mb()
        out[f"peak_after_{name}_mb"] = peak_mb()
        return r

    prep = stage("layers", lambda: prepare(cfg))
    out["communes"] = len(prep.layers.communes)
    out["area_km2"] = float(prep.layers.communes.geometry.area.sum() / 1e6)
    fac = prep.layers.facilities
    out["facilities"] = int((fac["status"] == "active").sum())
    # the demand surface alone (what a partition by communes would split), then released
    dem = stage("demand surface", lambda: population_surface(
        prep.layers.communes, cell_size_m=cell_m, legacy=prep.layers.communes_legacy))
    out["units"] = len(dem)
    out["demand_mb"] = float(dem.memory_usage(deep=True).sum() / 2**20)
    xy = dem[["x", "y"]].to_numpy(float)
    del dem
    act = fac[fac["status"] == "active"]
    fxy = act.geometry.get_coordinates().to_numpy()
    radius = halo_reach_m(cfg)
    per_cell = _sample_pairs(xy, fxy, radius)
    out["pairs_per_unit_within_cutoff"] = per_cell
    out["full_table_pairs_estimate"] = per_cell * len(xy)
    acc = stage("access stage", lambda: run_access_stage(prep))
    out["access_tables"] = acc.summary["cost_tables"]
    est_gb = per_cell * len(xy) * BYTES_PER_PAIR / 1e9
    out["full_table_gb_estimate"] = est_gb
    if est_gb <= budget_gb:
        costs = stage("full cost table", lambda: acc.costs)
        out["full_table_pairs"] = len(costs)
    else:
        out["full_table_skipped"] = (f"estimated {est_gb:.1f} GB for "
                                     f"{per_cell * len(xy):,.0f} pairs, over the budget of "
                                     f"{budget_gb:g} GB")
    out["peak_rss_mb"] = peak_mb()
    out["load_end"] = os.getloadavg()
    return out


# --- driver -----------------------------------------------------------------------------------

def run_child(args: list[str], limit_gb: float | None = None) -> dict:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    pre = None
    if limit_gb:
        def pre():
            lim = int(limit_gb * 2**30)
            resource.setrlimit(resource.RLIMIT_AS, (lim, lim))
    proc = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True,
                          env=env, preexec_fn=pre)
    if proc.returncode != 0:
        tail = proc.stderr.strip().splitlines()[-3:]
        return {"failed": " | ".join(tail)}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def save(name: str, data: dict) -> Path:
    STORE.mkdir(exist_ok=True)
    p = STORE / f"{name}.json"
    p.write_text(json.dumps(data, ensure_ascii=False, indent=1, default=str))
    return p


def load(name: str) -> dict | None:
    p = STORE / f"{name}.json"
    return json.loads(p.read_text()) if p.exists() else None


def _gb(mb: float | None) -> str:
    return "-" if mb is None else f"{mb / 1024:.2f}"


def on_base_data(r: dict) -> bool:
    """Whether a saved case ran on ``real_config``'s base data: its ``data`` label, or for the
    runs saved before the label, the hospitals per province that only those runs record."""
    if "data" in r:
        return r["data"] == DATA_LABEL
    rows = r.get("provinces") or []
    return bool(rows) and "hospitals" in rows[0]


def _run_name(r: dict) -> str:
    return (f"{r['cell_m']:g} m, {r['workers']} worker{'s' if r['workers'] > 1 else ''}"
            + (f" ({r['note']})" if r.get("note") else ""))


def report() -> str:
    """The RESULTS.md section from the saved cases (sentences computed from the figures)."""
    lines = [SECTION, ""]
    saved = {p.stem: load(p.stem) for p in sorted(STORE.glob("national_*.json"))}
    crashed = {k: r["failed"] for k, r in saved.items() if r and "failed" in r}
    older = sorted(k for k, r in saved.items() if r and "failed" not in r
                   and not on_base_data(r))
    runs = sorted((r for r in saved.values() if r and "failed" not in r and on_base_data(r)),
                  key=lambda r: (r["cell_m"], r["workers"]))
    if runs:
        r0 = runs[0]
        ends = sorted(r["when"] for r in runs)
        flags = " --no-optimise" if all(not r.get("optimise", True) for r in runs) else ""
        loads = [v for r in runs for v in (r["load_start"][0], r["load_end"][0])]
        when = (f"Run ended {ends[0]}" if len(runs) == 1 else
                f"Runs ended {ends[0]} to {ends[-1][-5:]}")
        lines.append(f"{when} on {r0['machine']}; "
                     f"`python bench/bench_national.py national --workers N --cell C{flags}`, "
                     f"each in a fresh process. The machine is shared with other work (load "
                     f"average {min(loads):.1f} to {max(loads):.1f} at the runs' starts and ends"
                     f", {os.cpu_count()} cores): the lead may re-run these cases on a quiet "
                     f"machine and `python bench/bench_national.py report` rewrites this "
                     f"section.")
        if older or crashed:
            left = [f"{k} (an earlier configuration: the raw files of ../shared/data)"
                    for k in older]
            left += [f"{k} (the case's process failed: {msg[:200]})"
                     for k, msg in crashed.items()]
            lines.append("")
            lines.append("Saved runs left out of this section: " + "; ".join(left) + ".")
        lines.append("")
        last = next((r for r in reversed(runs) if not r.get("note")), runs[-1])
        ok_last = [x for x in last["provinces"] if x["ok"]]
        tiers: dict[str, int] = {}
        for x in ok_last:
            for t, n in (x.get("hospitals_by_tier") or {}).items():
                tiers[t] = tiers.get(t, 0) + n
        sources = sorted({x["population_source"] for x in ok_last if x.get("population_source")})
        net_ran = [x for x in ok_last if x.get("network") == "ran"]
        net_skipped = [x for x in ok_last if (x.get("network") or "").startswith("skipped")]
        opt = ("with the location models" if r0.get("optimise", True) else
               "without the location models (`--no-optimise`: the three reform scenarios are "
               "evaluated; best main stations, fewest branch points, p-median and the coverage "
               "curve are not run: with them a province takes minutes on this loaded machine)")
        text = (f"All {len(last['provinces'])} provinces as the project's config.toml runs them "
                "(`[data] base = true`: the built-in base data gives each province its "
                "communes with their 2025 population, the 2019 census of the pre-2025 communes,"
                " WorldPop 2020 and the register built from the OpenStreetMap hospitals; Hà "
                "Tĩnh keeps its own register), only the cell size replaced: "
                f"{r0['cell_m']:g} m cells. In the run of {_run_name(last)}, the "
                f"{len(ok_last)} provinces that ran hold "
                f"{sum(x.get('communes') or 0 for x in ok_last):,} communes, "
                f"{sum(x.get('stations') or 0 for x in ok_last):,} stations and "
                f"{sum(x.get('hospitals') or 0 for x in ok_last):,} hospitals ("
                + ", ".join(f"{n:,} {t}" for t, n in tiers.items())
                + f"); population: {'; '.join(sources) or 'unknown'}; the network stage "
                f"ran in {len(net_ran)} of them")
        if net_skipped:
            text += (" and was skipped in " + ", ".join(
                f"{x['name']} ({x['network'][len('skipped: '):][:120]})" for x in net_skipped))
        text += (f". Every stage: access with cross-border halos, plans {opt}, network, all "
                 "outputs; on a LocalCluster of N worker processes, one thread each, memory "
                 "limit = the machine's memory / N. Wall = from the cluster's start to the "
                 "national outputs written; peak per worker = the worker process's "
                 "`ru_maxrss` (it holds the prepared layers of the provinces waiting for their "
                 "turn too).")
        lines.append(text)
        lines.append("")
        lines.append("| cells | workers | memory limit per worker | provinces ok / failed | "
                     "wall s | provinces done at s | sum of province runs s | peak per worker "
                     "GB | largest province peak GB | load avg start / end | note |")
        lines.append("|---:|---:|---:|---|---:|---:|---:|---|---:|---|---|")
        for r in runs:
            pr = r["provinces"]
            ok = [x for x in pr if x["ok"]]
            lim = r["cluster"].get("memory_per_worker_bytes")
            peaks = ", ".join(_gb(v) for v in r["worker_peak_rss_mb"].values())
            lines.append(
                f"| {r['cell_m']:g} m | {r['workers']} | "
                f"{'-' if not lim else f'{lim / 1e9:.1f} GB'} | {len(ok)} / {len(pr) - len(ok)} | "
                f"{r['wall_s']:.0f} | {r['provinces_wall_s']:.0f} | "
                f"{sum(x['wall_s'] for x in ok):.0f} | {peaks} | "
                f"{_gb(max((x['peak_rss_mb'] or 0) for x in ok) if ok else None)} | "
                f"{r['load_start'][0]:.1f} / {r['load_end'][0]:.1f} | {r.get('note', '')} |")

        def busy(r: dict) -> float:
            return sum(x["wall_s"] for x in r["provinces"] if x["ok"])

        by_cell: dict[float, dict[int, dict]] = {}
        for r in runs:
            if not r.get("note"):
                by_cell.setdefault(r["cell_m"], {})[r["workers"]] = r
        for cell, d in by_cell.items():
            if 1 in d and 2 in d:
                sp = d[1]["wall_s"] / d[2]["wall_s"]
                ok1 = sum(x["ok"] for x in d[1]["provinces"])
                ok2 = sum(x["ok"] for x in d[2]["provinces"])
                longer = busy(d[2]) > 1.1 * busy(d[1])
                la = {w: f"{d[w]['load_start'][0]:.1f} / {d[w]['load_end'][0]:.1f}"
                      for w in (1, 2)}
                lines.append("")
                lines.append(
                    f"At {cell:g} m, two workers took {d[2]['wall_s']:.0f} s against "
                    f"{d[1]['wall_s']:.0f} s for one: "
                    + (f"{sp:.2f}x faster" if sp >= 1 else f"{1 / sp:.2f}x slower")
                    + f" ({ok2} provinces ran on two workers, {ok1} on one). Each province's "
                    f"own run took {'longer' if longer else 'about as long'} on two workers "
                    f"(sum {busy(d[2]):.0f} s against {busy(d[1]):.0f} s); load average at "
                    f"start / end {la[2]} for the two-worker run, {la[1]} for the "
                    f"one-worker run, on {os.cpu_count()} cores shared with other work"
                    + (": each worker process gets only the CPU the other work leaves, so "
                       "this machine does not show the scaling; on a quiet machine the gain "
                       "is bounded by the cores." if longer or sp < 1 else "."))
        lines.append("")
        failed_any = False
        for r in runs:
            failed = [x for x in r["provinces"] if not x["ok"]]
            if not failed:
                continue
            failed_any = True
            lines.append(f"Provinces that failed in the run of {_run_name(r)} (the run "
                         "reports each with its message and goes on):")
            lines.append("")
            for x in failed:
                msg = " ".join((x["error"] or "").split())
                lines.append(f"- {x['name']} ({x['code']}): {msg[:400]}")
            lines.append("")
        if not failed_any:
            lines.append(f"Every province ran in every run ({len(last['provinces'])} of "
                         f"{len(last['provinces'])}); none failed.")
            lines.append("")
        for r in runs:
            halo = r.get("halo_failures") or {}
            down = {x["code"] for x in r["provinces"] if not x["ok"]}
            own = sorted(set(halo) & down)
            other = {c: m for c, m in halo.items() if c not in down}
            if own:
                lines.append(f"In the run of {_run_name(r)}, the neighbours of "
                             f"{', '.join(own)} ran without their facilities in the halo (the "
                             "province failed, with the message above).")
                lines.append("")
            if other:
                lines.append(f"Halos not built in the run of {_run_name(r)} (the province "
                             "itself ran; its neighbours ran without its facilities):")
                lines.append("")
                lines += [f"- {c}: {' '.join(str(m).split())[:300]}" for c, m in other.items()]
                lines.append("")
        nat = last["national"]
        if nat.get("population"):
            which = ("all provinces" if len(ok_last) == len(last["provinces"]) else
                     f"the {len(ok_last)} provinces that ran")
            lines.append(
                f"National figures (run of {_run_name(last)}, {which}): population "
                f"{nat['population']:,.0f}; within 15 min of a station "
                f"{100 * (nat['station_15min_share'] or 0):.2f} %, within 30 min "
                f"{100 * (nat['station_30min_share'] or 0):.2f} %; people best served by a "
                f"station across a provincial border {nat['station_best_served_across'] or 0:,.0f}"
                f"; within 30 min only thanks to a station across the border "
                f"{nat['station_30min_gain'] or 0:,.0f}; under-served "
                f"{nat.get('underserved_population') or 0:,.0f}.")
        lines.append("")
        lines.append("Per province (run task: halo, pipeline and outputs; peak = resident "
                     "memory of the worker process during the task; communes, stations, "
                     "hospitals and population as the first run that ran it found them):")
        lines.append("")
        cols = [_run_name(r) for r in runs]
        lines.append("| code | province | communes | stations | hospitals | population | units | "
                     + " | ".join(f"{c}: s / peak GB" for c in cols) + " |")
        lines.append("|---|---|---:|---:|---:|---:|---:|" + "---:|" * len(cols))
        codes = sorted({x["code"] for r in runs for x in r["provinces"]})
        for code in codes:
            rows = [next((v for v in r["provinces"] if v["code"] == code), None) for r in runs]
            x = next((y for y in rows if y and y["ok"]), None) or next(y for y in rows if y)
            cells = [("-" if y is None else f"{y['wall_s']:.0f} / {_gb(y['peak_rss_mb'])}"
                      if y["ok"] else "failed") for y in rows]
            pop = x.get("population")
            lines.append(f"| {code} | {x['name']} | {x.get('communes') or '-'} | "
                         f"{x.get('stations') or '-'} | "
                         f"{'-' if x.get('hospitals') is None else x['hospitals']} | "
                         f"{'-' if pop is None else f'{pop:,.0f}'} | {x.get('units') or '-'} | "
                         + " | ".join(cells) + " |")
    sc = [r for r in (load(p.stem) for p in sorted(STORE.glob("scaling_*.json"))) if r]
    if sc:
        lines.append("")
        lines.append("### One province as cells shrink (main today)")
        lines.append("")
        lines.append("Stage by stage in one fresh process per row (`python bench/bench_national"
                     ".py scaling`), "
                     + ("on the base data (config.toml)" if all(
                         r.get("data") == DATA_LABEL for r in sc) else
                        "real data (the raw files of ../shared/data with the `real_config` of "
                        "before the base data: one station per pre-2025 commune, no hospitals "
                        "outside Hà Tĩnh; not yet re-run on the base data)")
                     + ", address space capped at "
                     f"{max(r.get('limit_gb') or 0 for r in sc):g} GB. "
                     "'Access stage': nearest facility per tier, catchments, coverage, under-"
                     "served areas (what every map and the coverage figures need). 'Full table'"
                     ": every demand unit -> facility pair within the 180 min cut-off, which "
                     "the plans stage (location models) and the network use; built when its "
                     "estimate (pairs per unit sampled on 20,000 units x 24 bytes) fits the "
                     "budget, else only estimated. Peak = `ru_maxrss` of the process.")
        lines.append("")
        lines.append("| province | cells | area km2 | units | layers s | demand surface s | "
                     "demand MB | access stage s | peak after access GB | full table pairs "
                     "| full table GB (est., 24 B/pair) | full table s | peak GB |")
        lines.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        for r in sorted(sc, key=lambda r: (r["code"], -r["cell_m"])):
            if "failed" in r:
                lines.append(f"| {r['code']} | {r['cell_m']:g} m | | | | | | | | | | | "
                             f"failed: {r['failed'][:120]} |")
                continue
            st = r["stages"]
            pairs = r.get("full_table_pairs")
            est = r["full_table_pairs_estimate"]
            built = f"{pairs:,}" if pairs is not None else f"not built (est. {est:,.0f})"
            t_full = f"{st['full cost table']:.1f}" if "full cost table" in st else "-"
            lines.append(
                f"| {r['code']} | {r['cell_m']:g} m | {r['area_km2']:,.0f} | {r['units']:,} | "
                f"{st['layers']:.1f} | {st['demand surface']:.1f} | {r['demand_mb']:,.0f} | "
                f"{st['access stage']:.1f} | {_gb(r.get('peak_after_access stage_mb'))} | "
                f"{built} | {est * BYTES_PER_PAIR / 1e9:.1f} | {t_full} | "
                f"{_gb(r['peak_rss_mb'])} |")
    fine = [r for r in sc if "failed" not in r and r["cell_m"] == 100.0]
    if fine:
        lines += plan_100m(fine, sc, runs)
    return "\n".join(lines) + "\n"


def national_area_km2() -> float:
    """Land area of the 3,321 communes (their ``area_km2`` field), km2."""
    import pyogrio

    df = pyogrio.read_dataframe(DATA / "vn2025" / "communes_2025.geojson", read_geometry=False,
                                columns=["area_km2"])
    return float(df["area_km2"].sum())


def plan_100m(fine: list[dict], sc: list[dict], runs: list[dict]) -> list[str]:
    """The plan for a national 100 m run, every figure from the measurements above."""
    area = national_area_km2()
    per_km2 = np.mean([r["units"] / r["area_km2"] for r in fine])
    units = per_km2 * area
    access_b = [(r["peak_after_access stage_mb"] - r["peak_after_layers_mb"]) * 2**20 / r["units"]
                for r in fine]
    built = [r for r in sc if "failed" not in r and r.get("full_table_pairs")]
    bpp = max(((r["peak_after_full cost table_mb"] - r["peak_after_access stage_mb"]) * 2**20
               / r["full_table_pairs"]) for r in built) if built else BYTES_PER_PAIR
    ppu = [r["pairs_per_unit_within_cutoff"] for r in sc if "failed" not in r]
    big = max(fine, key=lambda r: r["peak_after_access stage_mb"])
    big_table_gb = big["full_table_pairs_estimate"] * bpp / 1e9
    secs_per_unit = max((r["stages"]["demand surface"] + r["stages"]["access stage"]) / r["units"]
                        for r in fine)
    cpu_h = secs_per_unit * units / 3600
    floor_min = (big["stages"]["demand surface"] + big["stages"]["access stage"]) / 60

    def wall(workers: int) -> float:
        return max(floor_min, cpu_h * 60 / workers)

    worker_main = big["peak_after_access stage_mb"] / 1024 + big_table_gb
    out = ["", "### Plan for a national 100 m run (from the figures above)", ""]
    out.append(
        f"- Size: the measured provinces hold {per_km2:,.0f} demand units per km2 at 100 m "
        f"(cells and their pieces at commune borders); the 3,321 communes cover "
        f"{area:,.0f} km2, so a national 100 m run has about {units / 1e6:,.1f} million units.")
    out.append(
        f"- Access stage (demand surface, nearest facility per tier, coverage, under-served "
        f"areas): {min(access_b):,.0f}-{max(access_b):,.0f} bytes per unit above the layers, so "
        f"{units * max(access_b) / 1e9:,.0f} GB for the whole country in one process, but "
        f"{big['peak_after_access stage_mb'] / 1024:.1f} GB peak for the largest province "
        f"({big['code']}, {big['units']:,} units): it fits one worker. Time: at most "
        f"{secs_per_unit * 1e6:,.0f} s per million units measured (on this loaded machine), "
        f"about {cpu_h:,.1f} CPU-hours for the country: about {wall(8):,.0f} min on 8 "
        f"workers and {wall(34):,.0f} min on 34 (one province each: the largest province "
        f"alone takes {floor_min:,.1f} min, the floor).")
    out.append(
        f"- The table of every pair within the cut-off (plans stage and network on main): "
        f"{min(ppu):,.0f}-{max(ppu):,.0f} facilities per unit within 180 min, {bpp:,.0f} bytes "
        f"of peak per pair measured where it was built, so {big_table_gb:,.1f} GB for the largest"
        f" province at 100 m and {units * min(ppu) * bpp / 1e9:,.0f}-"
        f"{units * max(ppu) * bpp / 1e9:,.0f} GB for the country. This is what does not fit: "
        f"on main a 100 m province needs a worker of about {worker_main:,.0f} GB before the "
        f"location models start (they were not run at this size: "
        f"{big['full_table_pairs_estimate'] / 1e6:,.0f} million pairs).")
    out.append(
        "- Cluster size: one province per worker at a time, so every worker needs the largest "
        f"province's peak: about {worker_main:,.0f} GB on main today (access "
        f"{big['peak_after_access stage_mb'] / 1024:.1f} GB + the full table), 4 GB once the "
        "100 m work of branch `fine` (a province at 100 m in 4 GB) lands; the number of workers "
        f"then sets the wall time: about {cpu_h * 60 / 16:,.0f} min of access stages on 16 "
        "workers of 4 GB (64 GB in all), plus the plans and network stages, which the "
        "benchmark at 1,000 m above times per province.")
    out.append(
        "- Splitting one province across workers: the access stage needs none (its largest "
        "province fits one worker with room to spare, and its tables are nearest-only); the full "
        "table could be computed in chunks of communes on several workers, but the location "
        "models that use it need every pair in one process, so chunks would only move the "
        "memory, not remove it. The partition that pays is the one `fine` builds (no table of "
        "every pair for a province); so the national run keeps one task per province, and this "
        "branch builds no split within a province.")
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("what", choices=("national", "scaling", "report", "case"))
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--cell", type=float, default=500.0, help="national: cell size (m)")
    ap.add_argument("--no-optimise", action="store_true",
                    help="national: skip the location models of the plans stage")
    ap.add_argument("--limit-gb", type=float, default=14.0)
    ap.add_argument("--budget-gb", type=float, default=6.0)
    ap.add_argument("--provinces", default=",".join(LARGEST))
    ap.add_argument("--cells", default=",".join(f"{c:g}" for c in CELLS_M))
    ap.add_argument("--case", nargs="*", default=[])
    args = ap.parse_args()
    if args.what == "case":
        kind, *rest = args.case
        if kind == "national":
            out = case_national(int(rest[0]), float(rest[1]), rest[2] == "1")
        else:
            out = case_scaling(rest[0], float(rest[1]), float(rest[2]))
        print(json.dumps(out, default=str))
        return
    if args.what == "national":
        print(f"national run, {args.workers} worker(s) ...", file=sys.stderr, flush=True)
        opt = "0" if args.no_optimise else "1"
        r = run_child(["case", "--case", "national", str(args.workers), str(args.cell), opt])
        print(save(f"national_{args.workers}_{args.cell:g}_{opt}", r), file=sys.stderr)
        return
    if args.what == "scaling":
        for code in args.provinces.split(","):
            for cell in map(float, args.cells.split(",")):
                print(f"scaling {code} {cell:g} m ...", file=sys.stderr, flush=True)
                r = run_child(["case", "--case", "scaling", code, str(cell),
                               str(args.budget_gb)], limit_gb=args.limit_gb)
                r.update(code=code, cell_m=cell, limit_gb=args.limit_gb)
                save(f"scaling_{code}_{cell:g}", r)
                print(json.dumps({k: v for k, v in r.items() if k not in ("stages",)},
                                 default=str)[:600], file=sys.stderr, flush=True)
        return
    text = report()
    print(text)
    write_section(SECTION, text)


if __name__ == "__main__":
    main()
