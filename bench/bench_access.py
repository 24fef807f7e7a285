"""Benchmark of the access metrics (gis.analyses.access, gis.model.costs, gis.model.demand),
with PySAL access.

Run on demand, not by pytest::

    python bench/bench_access.py            # every case (about 5 minutes), rewrites RESULTS.md
    python bench/bench_access.py --quick    # smaller sizes, printed only (add --write to save)
    python bench/bench_access.py --only e2sfca   # the comparison with PySAL access alone

Each case runs in a fresh Python process, which reports its wall times and its peak resident
memory (``ru_maxrss``: the whole process, inputs and interpreter included). Cases:

- ``e2sfca``: 100,000 demand cells x 209 facilities (random, in a 100 x 60 km box, about the
  size of Ha Tinh), straight line x 1.4 at 30 km/h, catchment 60 min.
  ``gis.analyses.access.fca`` and PySAL ``access.Access`` (``enhanced_two_stage_fca`` with
  ``access.weights.gaussian`` and a step function) on the same long cost table, each side one
  warm-up call then the best of 3;
  the results are asserted equal within 1e-9 (the benchmark fails otherwise). Its own section
  of RESULTS.md.
- ``nearest``: 1,000,000 cells x 11,000 facilities (10,000 stations, 800 regional, 180
  provincial, 20 central hospitals) in a 100 x 100 km box: nearest facility of every tier
  and coverage (total and per 400 groups of cells), cut-off 180 min, table included.
- ``national``: every one of the 3,321 post-2025 communes of ../shared/data with their 2025
  population, one commune health station per pre-2025 commune (10,040, at the registry
  centres), EPSG:32648 (WGS 84 / UTM 48N) for the whole country, 500 m cells: the whole of
  ``gis.analyses.access.run_access`` (demand surface, tables, nearest station, coverage per
  commune and province, 2SFCA and E2SFCA, under-served areas). Stations carry 2 doctors each, a
  stated placeholder so that the catchments run (real staffing is not in the data).
- ``scaling``: the catchment table and the E2SFCA at 200,000 cells, memory against the pairs
  within the catchment: (a) 2,000 facilities, catchment growing; (b) facilities growing 64
  times with the catchment shrunk so that the pairs stay about the same.

The synthetic cells are one random point in each cell of a regular grid, row by row, as the
demand surface orders them. Results go to bench/RESULTS.md, section
"## Access (gis.analyses.access, gis.model.costs, gis.model.demand)" and the E2SFCA
comparison "## E2SFCA against PySAL access (gis.analyses.access.fca)"; the other sections are
left as they are.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench._common import RESULTS, machine, write_section  # noqa: E402

SECTION = "## Access (gis.analyses.access, gis.model.costs, gis.model.demand)"
E2SFCA_SECTION = "## E2SFCA against PySAL access (gis.analyses.access.fca)"
DATA = ROOT.parent / "shared" / "data"
SPEED_KMH, DETOUR = 30.0, 1.4
TIERS_11K = {"station": 10_000, "regional": 800, "provincial": 180, "central": 20}
THRESHOLDS = {"station": (15, 30, 60), "regional": (30, 60, 90), "provincial": (60, 120)}


# --- helpers --------------------------------------------------------------------------------

def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def rss_now_mb() -> float:
    return int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def grid_cells(n: int, width_m: float, height_m: float, rng) -> np.ndarray:
    """One random point per cell of a regular grid of about ``n`` cells, row by row."""
    nx = max(1, int(round(width_m / np.sqrt(width_m * height_m / n))))
    ny = int(np.ceil(n / nx))
    iy, ix = np.divmod(np.arange(n), nx)
    return np.column_stack([(ix + rng.random(n)) * width_m / nx,
                            (iy + rng.random(n)) * height_m / ny])


def timed(fn, repeat: int = 1, warmup: int = 0):
    """Best wall time of ``repeat`` calls after ``warmup`` untimed ones, and the last result."""
    out = None
    for _ in range(warmup):
        out = fn()
    best = np.inf
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


# Both sides of the E2SFCA comparison: one untimed warm-up call, then the best of 3 calls.
WARMUP, REPEAT = 1, 3
# Agreement asserted between gis and PySAL access (absolute, per person).
AGREE_ABS = 1e-9


# --- cases (each in its own process) --------------------------------------------------------

def case_e2sfca(quick: bool) -> dict:
    import pandas as pd
    from access import Access, weights

    from gis.analyses.access import fca
    from gis.model.costs import straight_line_costs

    n_cells, n_fac, catchment = (20_000 if quick else 100_000), 209, 60.0
    rng = np.random.default_rng(42)
    cells = grid_cells(n_cells, 100_000, 60_000, rng)
    fac = rng.uniform(0, 1, (n_fac, 2)) * [100_000, 60_000]
    pop = rng.gamma(1.2, 15.0, n_cells)
    supply = rng.integers(1, 40, n_fac).astype(float)
    t_table, costs = timed(lambda: straight_line_costs(
        cells, fac, speed_kmh=SPEED_KMH, detour_factor=DETOUR, cutoff_min=catchment))
    frame = costs.to_frame().rename(columns={"origin_id": "origin", "dest_id": "dest",
                                             "time_min": "cost"})
    frame["cost"] = frame["cost"].astype(float)
    demand = pd.DataFrame({"geoid": np.arange(n_cells), "pop": pop})
    sup = pd.DataFrame({"geoid": np.arange(n_fac), "doc": supply})
    out: dict = {"cells": n_cells, "facilities": n_fac, "pairs": len(costs),
                 "catchment_min": catchment, "table_s": t_table, "decays": {}}
    fns = {"gaussian": weights.gaussian(catchment / 2),
           "step": weights.step_fn({catchment / 3: 1.0, 2 * catchment / 3: 0.68,
                                    catchment: 0.22})}
    for decay, fn in fns.items():
        t_ours, ours = timed(lambda d=decay: fca(costs, pop, supply, catchment_min=catchment,
                                                 decay=d, per=1.0),
                             repeat=REPEAT, warmup=WARMUP)

        def pysal(fn=fn):
            acc = Access(demand_df=demand, demand_index="geoid", demand_value="pop",
                         supply_df=sup, supply_index="geoid", supply_value="doc", cost_df=frame,
                         cost_origin="origin", cost_dest="dest", cost_name="cost")
            return acc.enhanced_two_stage_fca(name="f", max_cost=catchment, weight_fn=fn)["f_doc"]

        t_pysal, ref = timed(pysal, repeat=REPEAT, warmup=WARMUP)
        # the build alone (Access(...)), same repetitions, to split the PySAL time
        t_build, _ = timed(lambda: Access(
            demand_df=demand, demand_index="geoid", demand_value="pop", supply_df=sup,
            supply_index="geoid", supply_value="doc", cost_df=frame, cost_origin="origin",
            cost_dest="dest", cost_name="cost"), repeat=REPEAT, warmup=WARMUP)
        ref = ref.reindex(np.arange(n_cells)).fillna(0.0).to_numpy()
        diff = float(np.abs(ours - ref).max())
        assert diff <= AGREE_ABS, (f"E2SFCA ({decay}): gis and PySAL access differ by {diff:.3g} "
                                   f"(more than {AGREE_ABS:g})")
        out["decays"][decay] = {"ours_s": t_ours, "pysal_s": t_pysal, "pysal_build_s": t_build,
                                "max_abs_diff": diff, "max_value": float(ref.max())}
    return out


def case_nearest(quick: bool) -> dict:
    from gis.analyses.access import coverage_table, nearest_by_tier
    from gis.model.costs import straight_line_nearest

    scale = 5 if quick else 1
    n_cells = 1_000_000 // scale
    tiers = np.concatenate([np.full(n // scale, t, dtype=object) for t, n in TIERS_11K.items()])
    rng = np.random.default_rng(7)
    cells = grid_cells(n_cells, 100_000, 100_000, rng)
    fac = rng.uniform(0, 100_000, (len(tiers), 2))
    ids = np.array([f"F{i:05d}" for i in range(len(tiers))], dtype=object)
    pop = rng.gamma(1.2, 80.0, n_cells)
    groups = (cells[:, 0] // 5000).astype(int) * 100 + (cells[:, 1] // 5000).astype(int)
    base = rss_now_mb()
    t0 = time.perf_counter()
    near = straight_line_nearest(cells, fac, speed_kmh=SPEED_KMH, detour_factor=DETOUR,
                                 cutoff_min=180.0, groups=tiers, dest_ids=ids)
    t1 = time.perf_counter()
    times = nearest_by_tier(near, tiers)
    t2 = time.perf_counter()
    total = coverage_table(pop, times, THRESHOLDS)
    per_group = coverage_table(pop, times, THRESHOLDS, groups)
    t3 = time.perf_counter()
    # What a table of every pair within 60 min would hold (sampled): the reason for the
    # nearest-only table.
    from scipy.spatial import cKDTree

    sample = cells[rng.choice(n_cells, 2000, replace=False)]
    per_cell = cKDTree(fac).query_ball_point(sample, 60 * SPEED_KMH * 1000 / 60 / DETOUR,
                                             return_length=True).mean()
    return {"cells": n_cells, "facilities": len(tiers), "pairs": len(near),
            "table_s": t1 - t0, "nearest_s": t2 - t1, "coverage_s": t3 - t2,
            "total_s": t3 - t0, "inputs_rss_mb": base, "groups": int(len(per_group)),
            "covered_station_30_share": float(total["station_30min_share"].iloc[0]),
            "full_60min_pairs_estimate": float(per_cell * n_cells)}


def national_layers(quick: bool):
    """National communes (EPSG:32648) and one station per pre-2025 commune (registry)."""
    import geopandas as gpd
    import pandas as pd
    import shapely

    from gis.inputs.readers import read_any
    from gis.inputs.registry import load_registry, provinces

    crs = 32648
    raw = read_any(DATA / "vn2025" / "communes_2025.geojson").to_crs(crs)
    geom = shapely.force_2d(raw.geometry.to_numpy())
    bad = ~shapely.is_valid(geom)
    fixed = []
    for g in shapely.make_valid(geom[bad]):
        polys = [p for p in shapely.get_parts(g) if p.geom_type in ("Polygon", "MultiPolygon")]
        fixed.append(shapely.union_all(polys))
    geom[bad] = fixed
    com = gpd.GeoDataFrame({
        "commune_code": raw["commune_code"].astype(str).str.zfill(5).to_numpy(),
        "commune_name": raw["commune_name"].astype(str).to_numpy(),
        "province_code": raw["province_code"].astype(str).str.zfill(2).to_numpy(),
        "population": raw["population_2025"].astype(float).to_numpy()}, geometry=geom, crs=crs)
    codes = [p.code for p in provinces()]
    if quick:
        codes = ["42", "40", "38"]     # Ha Tinh, Nghe An, Thanh Hoa
        com = com[com["province_code"].isin(codes)].reset_index(drop=True)
    rows = []
    for code in codes:
        lg = load_registry(code).legacy
        rows.append(pd.DataFrame({"facility_id": "TYT-" + lg["commune_code"],
                                  "lon": lg["lon"], "lat": lg["lat"]}))
    st = pd.concat(rows, ignore_index=True)
    fac = gpd.GeoDataFrame({"facility_id": st["facility_id"], "name": st["facility_id"],
                            "tier": "station", "doctors": 2.0, "beds": np.nan,
                            "status": "active"},
                           geometry=gpd.points_from_xy(st["lon"], st["lat"]), crs=4326).to_crs(crs)
    return com, fac


def case_national(quick: bool) -> dict:
    import logging

    from gis.analyses import access as A

    logging.basicConfig(level=logging.ERROR)
    t0 = time.perf_counter()
    com, fac = national_layers(quick)
    load_s = time.perf_counter() - t0
    base = rss_now_mb()
    stages: dict[str, float] = {}

    def stage(name, fn):
        def wrapped(*a, **k):
            t = time.perf_counter()
            try:
                return fn(*a, **k)
            finally:
                stages[name] = stages.get(name, 0.0) + time.perf_counter() - t
        return wrapped

    for name, attr in (("demand surface", "population_surface"),
                       ("nearest table", "straight_line_nearest"),
                       ("catchment table", "straight_line_costs"),
                       ("nearest per tier", "nearest_by_tier"),
                       ("2SFCA + E2SFCA", "_fca_many"), ("coverage", "coverage_table"),
                       ("under-served areas", "underserved_areas")):
        setattr(A, attr, stage(name, getattr(A, attr)))
    t0 = time.perf_counter()
    res = A.run_access(com, fac, cell_size_m=500, cutoff_min=180, catchment_min=60,
                       decay="gaussian", thresholds_min={"station": (15, 30, 60)},
                       underserved_min={"station": 30})
    run_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    prov = res.layers["demand_cells"].groupby(
        res.layers["demand_cells"]["commune_code"].map(
            com.set_index("commune_code")["province_code"]))["population"].sum()
    province_s = time.perf_counter() - t0
    s = res.summary
    return {"communes": len(com), "stations": len(fac), "units": s["demand"]["units"],
            "population": s["demand"]["population"], "cost_tables": s["cost_tables"],
            "load_s": load_s, "run_s": run_s + province_s, "inputs_rss_mb": base,
            "stages": stages, "provinces": int(len(prov)),
            "station_30_share": s["coverage"]["station"]["30"]["share"],
            "underserved_areas": s["underserved"]["areas"],
            "below_doctors_target_share": float(
                (res.demand["e2sfca_doctors_per_10k"] < 14.6).mean()),
            "full_table_built": res._costs is not None}


def case_scaling(quick: bool, n_fac: int, catchment: float) -> dict:
    from gis.analyses.access import fca
    from gis.model.costs import straight_line_costs

    n_cells = 50_000 if quick else 200_000
    rng = np.random.default_rng(3)
    cells = grid_cells(n_cells, 100_000, 60_000, rng)
    fac = rng.uniform(0, 1, (n_fac, 2)) * [100_000, 60_000]
    pop = rng.gamma(1.2, 15.0, n_cells)
    base = rss_now_mb()
    t0 = time.perf_counter()
    costs = straight_line_costs(cells, fac, speed_kmh=SPEED_KMH, detour_factor=DETOUR,
                                cutoff_min=catchment)
    fca(costs, pop, np.ones(n_fac), catchment_min=catchment, decay="gaussian")
    return {"cells": n_cells, "facilities": n_fac, "catchment_min": catchment,
            "pairs": len(costs), "s": time.perf_counter() - t0, "inputs_rss_mb": base}


def scaling_points(quick: bool) -> list[tuple[str, int, float]]:
    a = [("a", 2000, c) for c in ((10, 20, 40) if quick else (10, 20, 40, 80))]
    # pairs ~ facilities x catchment^2: keep facilities x catchment^2 fixed
    fs = (500, 2000, 8000) if quick else (500, 2000, 8000, 32000)
    b = [("b", f, round(40.0 * np.sqrt(500 / f), 3)) for f in fs]
    return a + b


# --- driver ---------------------------------------------------------------------------------

def run_child(args: list[str]) -> dict:
    proc = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True)
    if proc.returncode != 0:
        msg = f"case {' '.join(args)} failed:\n{proc.stderr[-3000:]}"
        raise RuntimeError(msg)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def versions() -> str:
    from importlib.metadata import version

    names = ("numpy", "scipy", "pandas", "shapely", "geopandas", "access")
    return ", ".join(f"{n} {version(n)}" for n in names)


def fmt_s(x: float) -> str:
    return f"{x:.2f}" if x < 100 else f"{x:.0f}"


def header(quick: bool, started: str, load: tuple, args: str = "") -> str:
    return (f"Run {started} on {machine()}; `python bench/bench_access.py"
            f"{' --quick' if quick else ''}{args}`. Python {sys.version.split()[0]}; "
            f"{versions()}. Load average (1 min) at start {load[0]:.2f}, at end "
            f"{load[1]:.2f} on {os.cpu_count()} cores (other work shares the machine).")


def report_e2sfca(e: dict, quick: bool, started: str, load: tuple, args: str) -> str:
    """The E2SFCA comparison with PySAL access: its own section of RESULTS.md."""
    lines = [E2SFCA_SECTION, "", header(quick, started, load, args), ""]
    g = e["decays"]["gaussian"]
    ratio = g["pysal_s"] / g["ours_s"]
    lines.append(
        f"{e['cells']:,} cells x {e['facilities']} facilities, {e['pairs']:,} pairs within "
        f"{e['catchment_min']:g} min, the same long cost table for both (PySAL gets it as its "
        f"`cost_df`; the table, built in {e['table_s']:.2f} s, is counted on neither side). "
        f"Each side: {WARMUP} untimed warm-up call, then the best of {REPEAT} calls; gis is "
        f"one `gis.analyses.access.fca(...)`, PySAL one `Access(...)` plus one "
        f"`enhanced_two_stage_fca(...)` (its build alone timed the same way). The results are "
        f"asserted equal within {AGREE_ABS:g} per person (the benchmark stops otherwise). "
        f"Process peak memory {e['rss_mb']:,.0f} MB.")
    lines.append("")
    lines.append("| weights | gis fca s | PySAL s (build + compute) | PySAL build s | speed-up | "
                 "target (>= 5x) | max abs diff | max value |")
    lines.append("|---|---:|---:|---:|---:|---|---:|---:|")
    for decay, d in e["decays"].items():
        r = d["pysal_s"] / d["ours_s"]
        lines.append(f"| {decay} | {d['ours_s']:.3f} | {d['pysal_s']:.2f} | "
                     f"{d['pysal_build_s']:.2f} | {r:,.0f}x | {'met' if r >= 5 else 'NOT met'} "
                     f"| {d['max_abs_diff']:.1e} | {d['max_value']:.2e} |")
    lines.append("")
    lines.append(f"In words: with the gaussian weights gis takes {g['ours_s']:.3f} s and PySAL "
                 f"access {g['pysal_s']:.2f} s, {ratio:,.0f} times as long; the largest "
                 f"difference between their results is {g['max_abs_diff']:.1e}.")
    return "\n".join(lines) + "\n"


def report(res: dict, quick: bool, started: str, load: tuple) -> str:
    n, nat, sc = res["nearest"], res["national"], res["scaling"]
    lines = [SECTION, "", header(quick, started, load), ""]
    lines.append("Each case runs in a fresh process; peak memory is that process's peak "
                 "resident set (`ru_maxrss`: interpreter, inputs and results included). "
                 "Straight line x 1.4 at 30 km/h throughout. Synthetic cells: one random "
                 "point per cell of a regular grid, row by row. Each timing is one call. The "
                 f"E2SFCA comparison with PySAL access has its own section ({E2SFCA_SECTION[3:]}).")
    lines.append("")
    lines.append("| case | size | wall s | peak memory | target | met |")
    lines.append("|---|---|---:|---:|---|---|")
    lines.append(f"| nearest per tier + coverage | {n['cells']:,} cells x "
                 f"{n['facilities']:,} facilities (4 tiers), cut-off 180 min | "
                 f"{n['total_s']:.2f} | {n['rss_mb']:,.0f} MB | < 2 s, < 2 GB | "
                 f"{'yes' if n['total_s'] < 2 and n['rss_mb'] < 2048 else 'NO'} |")
    cut = nat["cost_tables"]
    lines.append(f"| national run_access | {nat['communes']:,} communes, {nat['stations']:,} "
                 f"stations, {nat['units']:,} units (500 m) | {fmt_s(nat['run_s'])} | "
                 f"{nat['rss_mb'] / 1024:,.2f} GB | < 120 s, < 6 GB | "
                 f"{'yes' if nat['run_s'] < 120 and nat['rss_mb'] < 6144 else 'NO'} |")
    lines.append("")
    full = n["full_60min_pairs_estimate"]
    lines.append(f"**Nearest and coverage** — `costs.straight_line_nearest` (one KD-tree per "
                 f"tier, the nearest of each tier per cell, exact ties to the lowest position) "
                 f"{n['table_s']:.2f} s, `access.nearest_by_tier` {n['nearest_s']:.2f} s, "
                 f"`access.coverage_table` (total and {n['groups']} groups) "
                 f"{n['coverage_s']:.2f} s; {n['pairs']:,} pairs stored. A table of every "
                 f"pair within only 60 min would hold about {full:,.0f} pairs here (sampled), "
                 f"{full / max(n['pairs'], 1):,.0f} times as many. Inputs alone: "
                 f"{n['inputs_rss_mb']:,.0f} MB.")
    lines.append("")
    st = nat["stages"]
    other = nat["run_s"] - sum(st.values())
    lines.append(f"**National run** — real data: ../shared/data communes (3,321, 2025 "
                 f"population {nat['population']:,.0f}) in EPSG:32648 (WGS 84 / UTM 48N for "
                 f"the whole country), one station per pre-2025 commune at its registry centre, "
                 f"2 doctors per station as a stated placeholder supply (the data has no "
                 f"staffing; without a supply the catchments would be skipped). "
                 f"`run_access(cell_size_m=500, cutoff_min=180, catchment_min=60, "
                 f"decay='gaussian', thresholds station 15/30/60 min, under-served: station "
                 f"30 min)`, plus population per province. Reading and building the layers "
                 f"({nat['load_s']:.1f} s) is not counted; inputs held {nat['inputs_rss_mb']:,.0f}"
                 f" MB before the run. Cut-offs and tables:")
    lines.append("")
    lines.append(f"- nearest station: {cut['nearest_per_tier']['pairs']:,} pairs (one per unit "
                 f"and tier), up to {cut['nearest_per_tier']['cutoff_min']:g} min;")
    lines.append(f"- catchments: {cut['catchment']['pairs']:,} pairs within "
                 f"{cut['catchment']['cutoff_min']:g} min (the E2SFCA catchment) of the "
                 f"{cut['catchment']['facilities']:,} facilities with a supply;")
    built = "built" if nat["full_table_built"] else "not built (it is built on first use)"
    lines.append(f"- the table of every pair within 180 min (`AccessResult.costs`, for the "
                 f"plans) was {built}.")
    lines.append("")
    heaviest = max(st, key=st.get)
    lines.append("Stages (s): " + "; ".join(f"{k} {v:.1f}" for k, v in st.items())
                 + f"; the rest (layers, per-commune tables) {other:.1f}; the heaviest stage is "
                 f"{heaviest} ({st[heaviest] / nat['run_s']:.0%} of the run). "
                 f"Station within 30 min: {nat['station_30_share']:.2%} of people; "
                 f"{nat['underserved_areas']:,} under-served areas "
                 f"({nat['below_doctors_target_share']:.1%} of the units are below the target of "
                 f"14.6 doctors per 10,000 with station doctors only).")
    lines.append("")
    lines.append("**Memory grows with the pairs within the cut-off, not with cells x "
                 "facilities** — catchment table (`straight_line_costs`) and E2SFCA at "
                 f"{sc[0]['cells']:,} cells, each point in a fresh process; 'above inputs' = peak"
                 " minus the resident set once the inputs exist. (a) 2,000 facilities, "
                 "catchment growing; (b) facilities x 64 with the catchment shrunk (pairs about"
                 " constant):")
    lines.append("")
    lines.append("| series | facilities | catchment min | cells x facilities | pairs | wall s | "
                 "peak MB | above inputs MB | bytes per pair |")
    lines.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for p in sc:
        above = p["rss_mb"] - p["inputs_rss_mb"]
        lines.append(f"| {p['series']} | {p['facilities']:,} | {p['catchment_min']:g} | "
                     f"{p['cells'] * p['facilities']:,} | {p['pairs']:,} | {p['s']:.2f} | "
                     f"{p['rss_mb']:,.0f} | {above:,.0f} | "
                     f"{above * 2**20 / max(p['pairs'], 1):,.0f} |")
    a_pts = [p for p in sc if p["series"] == "a"]
    slope = ((a_pts[-1]["rss_mb"] - a_pts[0]["rss_mb"]) * 2**20
             / max(a_pts[-1]["pairs"] - a_pts[0]["pairs"], 1))
    b_pts = [p for p in sc if p["series"] == "b"]
    b_peak = [p["rss_mb"] for p in b_pts]
    pair_bytes = sum(np.dtype(t).itemsize for t in ("int32", "int32", "float64", "float32"))
    lines.append("")
    lines.append(f"Series (a): {slope:,.0f} bytes of peak memory per added pair (a pair holds "
                 f"{pair_bytes} bytes in the table: int32 origin and destination, float64 "
                 f"minutes, float32 metres). Series (b): cells x facilities grows "
                 f"{b_pts[-1]['facilities'] / b_pts[0]['facilities']:,.0f} times, the peak "
                 f"stays between {min(b_peak):,.0f} and {max(b_peak):,.0f} MB.")
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="smaller sizes; printed only")
    ap.add_argument("--write", action="store_true", help="with --quick: rewrite RESULTS.md too")
    ap.add_argument("--only", choices=["e2sfca"],
                    help="run only the E2SFCA comparison and rewrite only its section")
    ap.add_argument("--case", help=argparse.SUPPRESS)
    ap.add_argument("--arg", nargs="*", default=[], help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.case:
        fn = {"e2sfca": case_e2sfca, "nearest": case_nearest, "national": case_national,
              "scaling": case_scaling}[args.case]
        extra = [int(args.arg[0]), float(args.arg[1])] if args.case == "scaling" else []
        out = fn(args.quick, *extra)
        out["rss_mb"] = peak_rss_mb()
        print(json.dumps(out))
        return
    started = dt.datetime.now().strftime("%Y-%m-%d %H:%M")
    load0 = os.getloadavg()[0]
    q = ["--quick"] if args.quick else []
    write = not args.quick or args.write
    if args.only == "e2sfca" or args.only is None:
        print("running e2sfca ...", file=sys.stderr, flush=True)
        e = run_child(["--case", "e2sfca", *q])
        text = report_e2sfca(e, args.quick, started, (load0, os.getloadavg()[0]),
                             " --only e2sfca" if args.only else "")
        print(text)
        if write:
            write_section(E2SFCA_SECTION, text)
            print(f"written: {RESULTS} (section {E2SFCA_SECTION!r})", file=sys.stderr)
        if args.only:
            return
    res: dict = {}
    for name in ("nearest", "national"):
        print(f"running {name} ...", file=sys.stderr, flush=True)
        res[name] = run_child(["--case", name, *q])
    res["scaling"] = []
    for series, n_fac, catchment in scaling_points(args.quick):
        print(f"running scaling {series} {n_fac} {catchment} ...", file=sys.stderr, flush=True)
        r = run_child(["--case", "scaling", *q, "--arg", str(n_fac), str(catchment)])
        r["series"] = series
        res["scaling"].append(r)
    text = report(res, args.quick, started, (load0, os.getloadavg()[0]))
    print(text)
    if write:
        write_section(SECTION, text)
        print(f"written: {RESULTS} (section {SECTION!r})", file=sys.stderr)


if __name__ == "__main__":
    main()
