"""Benchmark of the road model (gis.model.roads) and the friction model (gis.model.friction),
side by side with networkx, scikit-image and the straight-line model on the same inputs.

    python bench/bench_roads_osm.py            # rewrites its section of bench/RESULTS.md
    python bench/bench_roads_osm.py --no-write

Road network: synthetic, province-sized (no real Vietnamese PBF is at hand offline): a grid
of 285 x 285 junctions 300 m apart (85 km x 85 km), each junction moved at random by up to
60 m, joined by straight roads: every 10th line primary, every 5th secondary, the rest
residential, every 7th residential line one-way. 209 facilities and 32,000 demand cells
on random junctions (so that the off-road legs are 0 and networkx answers the same
question), motorbike, cut-off 180 min. networkx: ``single_source_dijkstra_path_length``
with ``cutoff`` from each facility on the reversed graph, read at the cells.

Friction: a 1,000 x 1,000 grid of 100 m pixels (100 km x 100 km), the same roads burned in
(motorbike speeds) over 4.5 km/h off-road; 209 facilities and 32,000 cells on random
pixels; cut-off 180 min. scikit-image: one ``MCP_Geometric`` object and one ``find_costs``
per facility over the whole grid (scikit-image 0.26 ignores ``max_cumulative_cost``), read
at the cells and cut at 180 min (both references with the models' rule: a time within 1e-12,
relative, of the cut-off is kept).

Each case runs in a fresh process, with the same warm-up on both sides of a comparison (one
call on a small input, so that imports and numba's compiled code are loaded before the
clock starts), then one timed run. Wall time and CPU time (the process's user + system time,
``resource.getrusage``) are measured over the same span, and the load average beside them:
the machine is shared, so the wall time includes waiting for a core. Peak memory is the
process's peak resident set (``ru_maxrss``: interpreter, inputs and results included). The
answers are compared before any time is reported (equal to 1e-9 min). A last case times the
sized tables the analyses cut from the road model's table (``gis.model.costs.TableModel``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench._common import machine, write_section  # noqa: E402

SECTION = "## Road and friction models (gis.model.roads, gis.model.friction)"
SIDE, STEP_M, JITTER_M = 285, 300.0, 60.0
N_FAC, N_CELLS, CUTOFF_MIN = 209, 32_000, 180.0
# the models keep a pair whose time is within 1e-12 (relative) of the cut-off (rounding of
# sums of minutes); the references are cut the same way
LIMIT_MIN = CUTOFF_MIN * (1 + 1e-12)
GRID, PIXEL_M = 1000, 100.0
# the sized tables cut from the road model's table (gis.model.costs.TableModel): each cell's
# first k facilities, the pairs within a time, a nearest open facility
SIZED_K, SIZED_WITHIN_MIN = 25, 30.0


def road_lines():
    import geopandas as gpd
    import shapely

    rng = np.random.default_rng(0)
    xy = np.stack(np.meshgrid(np.arange(SIDE), np.arange(SIDE), indexing="ij"), -1) * STEP_M
    xy = xy + rng.uniform(-JITTER_M, JITTER_M, xy.shape)
    lines, cls, oneway = [], [], []
    for i in range(SIDE):
        c = "primary" if i % 10 == 0 else "secondary" if i % 5 == 0 else "residential"
        ow = c == "residential" and i % 7 == 3
        for pts in (xy[i, :, :], xy[:, i, :]):
            for k in range(SIDE - 1):       # one line per road segment between junctions
                lines.append(shapely.linestrings(pts[k:k + 2]))
                cls.append(c)
                oneway.append(ow)
    return gpd.GeoDataFrame({"road_class": cls, "oneway": oneway}, geometry=lines,
                            crs="EPSG:32648"), xy.reshape(-1, 2)


def points():
    _, nodes = road_lines()
    rng = np.random.default_rng(1)
    fac = nodes[rng.choice(len(nodes), N_FAC, replace=False)]
    cells = nodes[rng.choice(len(nodes), N_CELLS, replace=False)]
    return np.round(cells, 2), np.round(fac, 2)


def grid_points():
    rng = np.random.default_rng(2)
    cells = rng.integers(0, GRID, (N_CELLS, 2))
    fac = rng.integers(0, GRID, (N_FAC, 2))
    return cells, fac


def _cpu_s() -> float:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def _pixel_xy(rc: np.ndarray) -> np.ndarray:
    """Working-CRS centres of pixels (row, col) of the friction grid."""
    return np.column_stack([(rc[:, 1] + 0.5) * PIXEL_M, GRID * PIXEL_M - (rc[:, 0] + 0.5)
                            * PIXEL_M])


def _friction_inputs():
    from gis.model.friction import friction_surface

    roads, _ = road_lines()
    surf = friction_surface((0, 0, GRID * PIXEL_M, GRID * PIXEL_M), cell_size_m=PIXEL_M,
                            crs="EPSG:32648", roads=roads, mode="motorbike",
                            offroad_speed_kmh=4.5)
    cells, fac = grid_points()
    return surf, cells, fac


def case(name: str, out: Path) -> dict:
    """One case in this process: warm-up, then one timed run (inputs excluded)."""
    if name == "roads_ours":
        from gis.model.roads import road_costs

        roads, _ = road_lines()
        cells, fac = points()
        road_costs(cells[:10], fac[:2], roads.iloc[:2000], cutoff_min=CUTOFF_MIN,
                   mode="motorbike", snap_max_m=0.001)                    # warm-up
        t0, c0, l0 = time.perf_counter(), _cpu_s(), os.getloadavg()[0]
        table, rep = road_costs(cells, fac, roads, cutoff_min=CUTOFF_MIN, mode="motorbike",
                                snap_max_m=0.001)
        wall, cpu = time.perf_counter() - t0, _cpu_s() - c0
        np.savez(out, o=table.origin, d=table.dest, t=table.time_min)
        extra = {"pairs": len(table), "nodes": rep.nodes, "edges": rep.edges}
    elif name == "roads_sized":
        from gis.model.costs import TableModel, nearest_open_time
        from gis.model.roads import road_costs

        roads, _ = road_lines()
        cells, fac = points()
        small, _ = road_costs(cells[:10], fac[:2], roads.iloc[:2000], cutoff_min=CUTOFF_MIN,
                              mode="motorbike", snap_max_m=0.001)
        w = TableModel(small)                                              # warm-up
        w.nearest_k(2), w.within(30.0), w.nearest_open(np.array([True, False]))
        table, _ = road_costs(cells, fac, roads, cutoff_min=CUTOFF_MIN, mode="motorbike",
                              snap_max_m=0.001)                            # not timed
        open_mask = np.random.default_rng(3).random(N_FAC) < 0.5
        t0, c0, l0 = time.perf_counter(), _cpu_s(), os.getloadavg()[0]
        model = TableModel(table)
        nk = model.nearest_k(SIZED_K)
        within = model.within(SIZED_WITHIN_MIN)
        t_open, d_open = model.nearest_open(open_mask)
        wall, cpu = time.perf_counter() - t0, _cpu_s() - c0
        ref_t, ref_d = nearest_open_time(table, open_mask)               # agreement
        assert np.array_equal(t_open, ref_t) and np.array_equal(d_open, ref_d)
        extra = {"pairs": len(table), "k_pairs": int((nk.dest >= 0).sum()),
                 "within_pairs": len(within),
                 "second_rows": model.queries["second_queries"][-1]["rows"]}
    elif name == "roads_networkx":
        import networkx as nx

        from gis.model.roads import build_road_graph

        roads, _ = road_lines()
        cells, fac = points()
        g0 = build_road_graph(roads, mode="motorbike")   # the same edges (tested equal)
        key = {tuple(p): k for k, p in enumerate(np.round(g0.node_xy, 2))}
        cn = np.array([key[tuple(p)] for p in cells])
        fn = np.array([key[tuple(p)] for p in fac])
        small = nx.path_graph(10, create_using=nx.DiGraph)
        nx.single_source_dijkstra_path_length(small, 0, cutoff=CUTOFF_MIN)   # warm-up
        t0, c0, l0 = time.perf_counter(), _cpu_s(), os.getloadavg()[0]
        G = nx.from_scipy_sparse_array(g0.rev_time, create_using=nx.DiGraph)
        o_all, d_all, t_all = [], [], []
        for j, s in enumerate(fn):
            dist = nx.single_source_dijkstra_path_length(G, int(s), cutoff=LIMIT_MIN)
            tt = np.array([dist.get(int(c), np.inf) for c in cn])
            ok = np.flatnonzero(np.isfinite(tt))
            o_all.append(ok)
            d_all.append(np.full(len(ok), j))
            t_all.append(tt[ok])
        wall, cpu = time.perf_counter() - t0, _cpu_s() - c0
        o, d, t = np.concatenate(o_all), np.concatenate(d_all), np.concatenate(t_all)
        order = np.lexsort((d, o))
        np.savez(out, o=o[order], d=d[order], t=t[order])
        extra = {"pairs": len(o)}
    elif name == "straight":
        from gis.model.costs import straight_line_costs

        cells, fac = points()
        straight_line_costs(cells[:10], fac[:2], speed_kmh=30, detour_factor=1.4,
                            cutoff_min=CUTOFF_MIN)                        # warm-up
        t0, c0, l0 = time.perf_counter(), _cpu_s(), os.getloadavg()[0]
        table = straight_line_costs(cells, fac, speed_kmh=30, detour_factor=1.4,
                                    cutoff_min=CUTOFF_MIN)
        wall, cpu = time.perf_counter() - t0, _cpu_s() - c0
        extra = {"pairs": len(table)}
    elif name == "friction_ours":
        from gis.model.friction import friction_costs

        surf, cells, fac = _friction_inputs()
        friction_costs(_pixel_xy(cells[:10]), _pixel_xy(fac[:1]), surf,
                       cutoff_min=CUTOFF_MIN)                             # warm-up
        t0, c0, l0 = time.perf_counter(), _cpu_s(), os.getloadavg()[0]
        table, _ = friction_costs(_pixel_xy(cells), _pixel_xy(fac), surf,
                                  cutoff_min=CUTOFF_MIN)
        wall, cpu = time.perf_counter() - t0, _cpu_s() - c0
        np.savez(out, o=table.origin, d=table.dest, t=table.time_min)
        extra = {"pairs": len(table)}
    elif name == "friction_skimage":
        from skimage.graph import MCP_Geometric

        surf, cells, fac = _friction_inputs()
        cost = surf.minutes_per_cell()
        MCP_Geometric(np.ones((10, 10))).find_costs([(0, 0)])              # warm-up
        t0, c0, l0 = time.perf_counter(), _cpu_s(), os.getloadavg()[0]
        mcp = MCP_Geometric(cost, fully_connected=True)
        o_all, d_all, t_all = [], [], []
        for j, (r, c) in enumerate(fac):
            cum, _ = mcp.find_costs([(int(r), int(c))])
            tt = cum[cells[:, 0], cells[:, 1]]
            ok = np.flatnonzero(np.isfinite(tt) & (tt <= LIMIT_MIN))
            o_all.append(ok)
            d_all.append(np.full(len(ok), j))
            t_all.append(tt[ok])
        wall, cpu = time.perf_counter() - t0, _cpu_s() - c0
        o, d, t = np.concatenate(o_all), np.concatenate(d_all), np.concatenate(t_all)
        order = np.lexsort((d, o))
        np.savez(out, o=o[order], d=d[order], t=t[order])
        extra = {"pairs": len(o)}
    else:
        raise SystemExit(f"unknown case {name}")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"case": name, "wall_s": wall, "cpu_s": cpu, "peak_mb": peak,
            "load_start": l0, "load_end": os.getloadavg()[0], **extra}


def run_case(name: str, tmp: Path) -> dict:
    out = tmp / f"{name}.npz"
    res = subprocess.run([sys.executable, __file__, "--case", name, "--out", str(out)],
                         capture_output=True, text=True, check=True,
                         env={**os.environ, "PYTHONWARNINGS": "ignore"})
    return json.loads(res.stdout.strip().splitlines()[-1])


def same(tmp: Path, a: str, b: str) -> float:
    x, y = np.load(tmp / f"{a}.npz"), np.load(tmp / f"{b}.npz")
    assert np.array_equal(x["o"], y["o"]) and np.array_equal(x["d"], y["d"]), (a, b)
    diff = float(np.abs(x["t"] - y["t"]).max()) if len(x["t"]) else 0.0
    assert diff <= 1e-9, (a, b, diff)
    return diff


def met(value: float, target: float) -> str:
    return "met" if value < target else "not met"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--no-write", action="store_true")
    ap.add_argument("--case")
    ap.add_argument("--out", type=Path)
    args = ap.parse_args(argv)
    if args.case:
        print(json.dumps(case(args.case, args.out)))
        return 0
    import networkx
    import numba
    import scipy
    import skimage

    started = dt.datetime.now().strftime("%Y-%m-%d %H:%M")
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        r = {name: run_case(name, tmp) for name in
             ("straight", "roads_ours", "roads_sized", "roads_networkx", "friction_ours",
              "friction_skimage")}
        d_road = same(tmp, "roads_ours", "roads_networkx")
        d_fric = same(tmp, "friction_ours", "friction_skimage")
    ro, rn, st, rz = r["roads_ours"], r["roads_networkx"], r["straight"], r["roads_sized"]
    fo, fs = r["friction_ours"], r["friction_skimage"]
    mem_ratio = ro["peak_mb"] / st["peak_mb"]
    loads = [x for c in r.values() for x in (c["load_start"], c["load_end"])]

    def row(label: str, c: dict, target: str, verdict: str) -> str:
        return (f"| {label} | {c['wall_s']:.2f} | {c['cpu_s']:.2f} | {c['peak_mb']:,.0f} | "
                f"{c['load_start']:.1f} / {c['load_end']:.1f} | {target} | {verdict} |")

    lines = [
        SECTION, "",
        f"Run {started} on {machine()}; `python bench/bench_roads_osm.py`. Python "
        f"{sys.version.split()[0]}; scipy {scipy.__version__}, numba {numba.__version__}, "
        f"networkx {networkx.__version__}, scikit-image {skimage.__version__}. The machine "
        f"is shared with other work: the 1-minute load average ranged from {min(loads):.1f} "
        f"to {max(loads):.1f} on 2 cores during the cases, so wall times include waiting "
        f"for a core; CPU time (user + system of the process, over the same span) is given "
        f"beside it.", "",
        f"Road network: synthetic (no real Vietnamese extract offline), {SIDE} x {SIDE} "
        f"junctions {STEP_M:g} m apart moved up to {JITTER_M:g} m at random, three classes, "
        f"every 7th residential line one-way: {ro['nodes']:,} nodes, {ro['edges']:,} directed "
        f"edges. {N_FAC} facilities and {N_CELLS:,} cells on random junctions, motorbike, "
        f"cut-off {CUTOFF_MIN:g} min: {ro['pairs']:,} pairs, identical in both (max "
        f"difference {d_road:.1e} min). Friction: {GRID:,} x {GRID:,} pixels of {PIXEL_M:g} "
        f"m, the same roads burned in over 4.5 km/h, {N_FAC} facilities and {N_CELLS:,} cells "
        f"on random pixels, cut-off {CUTOFF_MIN:g} min: {fo['pairs']:,} pairs, identical in "
        f"both (max difference {d_fric:.1e} min). Each case in a fresh process, one warm-up "
        f"call then one timed run; peak = resident set (inputs included); times exclude "
        f"building the inputs.", "",
        "| case | wall s | CPU s | peak MB | load at start / end | target | met (wall / CPU) |",
        "|---|---:|---:|---:|---:|---|---|",
        row("road model, `gis.model.roads.road_costs` (graph, snapping, csgraph Dijkstra, "
            "path lengths, table)", ro, "< 10 s; < 2x straight line's memory",
            f"{met(ro['wall_s'], 10)} / {met(ro['cpu_s'], 10)}; memory {mem_ratio:.2f}x: "
            f"{met(mem_ratio, 2)}"),
        row(f"networkx `single_source_dijkstra_path_length` x {N_FAC} (cutoff), same graph",
            rn, "reference", f"ours {rn['wall_s'] / ro['wall_s']:.1f}x (wall) / "
            f"{rn['cpu_s'] / ro['cpu_s']:.1f}x (CPU) faster"),
        row(f"the analyses' tables cut from the road model's ({rz['pairs']:,} pairs, "
            f"`gis.model.costs.TableModel`): each cell's first {SIZED_K} facilities, the "
            f"pairs within {SIZED_WITHIN_MIN:g} min, the nearest open facility with about half "
            f"closed", rz, "", ""),
        row(f"straight line x 1.4 at 30 km/h, `gis.model.costs.straight_line_costs` "
            f"({st['pairs']:,} pairs)", st, "memory reference", ""),
        row(f"friction, `gis.model.friction.friction_costs` (bucket Dijkstra to the cut-off), "
            f"{N_FAC} facilities", fo, "< 30 s",
            f"{met(fo['wall_s'], 30)} / {met(fo['cpu_s'], 30)}"),
        row(f"scikit-image, one `MCP_Geometric` and `find_costs` per facility, {N_FAC} "
            f"facilities", fs, "reference", f"ours {fs['wall_s'] / fo['wall_s']:.1f}x (wall) "
            f"/ {fs['cpu_s'] / fo['cpu_s']:.1f}x (CPU) faster"),
        "",
        f"Road model: {ro['cpu_s']:.1f} s of CPU and {ro['wall_s']:.1f} s of wall time "
        f"(target 10 s: {met(ro['cpu_s'], 10)} on CPU, {met(ro['wall_s'], 10)} on the wall "
        f"at this load), {ro['peak_mb']:,.0f} MB at peak against {st['peak_mb']:,.0f} MB for "
        f"the straight line ({mem_ratio:.2f}x; target 2x: {met(mem_ratio, 2)}); networkx took "
        f"{rn['cpu_s'] / ro['cpu_s']:.0f} times the CPU time for the same pairs. Friction: "
        f"{fo['cpu_s']:.1f} s of CPU and {fo['wall_s']:.1f} s of wall time for {N_FAC} "
        f"facilities on {GRID * GRID:,} pixels (target 30 s: {met(fo['cpu_s'], 30)} on CPU, "
        f"{met(fo['wall_s'], 30)} on the wall), {fs['cpu_s'] / fo['cpu_s']:.1f} times less "
        f"CPU than scikit-image's {fs['cpu_s']:.1f} s for the same times.", "",
        f"The plans, location models and network read the road model as a `TableModel`: "
        f"cutting their tables from its {rz['pairs']:,} pairs took {rz['cpu_s']:.1f} s of CPU "
        f"({rz['wall_s']:.1f} s wall; {rz['k_pairs']:,} pairs in the first {SIZED_K} per "
        f"cell, {rz['within_pairs']:,} within {SIZED_WITHIN_MIN:g} min, "
        f"{rz['second_rows']:,} cells answered by the exact second query), answers equal to "
        f"the table's (asserted). The road and friction models search every pair within the "
        f"cut-off anyway (one search per facility), so their memory is that of the full "
        f"table; the straight line's sized model (`StraightLineModel`) holds no table of "
        f"every pair in a run, and the memory target above compares full tables.",
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    if not args.no_write:
        write_section(SECTION, text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
