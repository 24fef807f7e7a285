"""Benchmark of the road model's shortest paths: scipy.sparse.csgraph (what
gis.model.roads.road_costs uses) against networkx, on the same road graph.

    python bench/bench_roads.py            # rewrites its section of bench/RESULTS.md
    python bench/bench_roads.py --no-write

Road network: a synthetic province-sized grid of roads (a 300 x 300 node lattice at 250 m:
75 km x 75 km, 90,000 nodes, about 360,000 directed edges) with three road classes (every 10th
line primary at 50 km/h, every 5th secondary at 40 km/h, the rest 25 km/h), 209 facilities on
random nodes, cut-off 60 min. Both libraries answer the same question: the minutes from every
node to each facility within the cut-off (reverse graph, one search per facility). The
answers are compared (equal to 1e-9) before the times are reported.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench._common import machine, write_section  # noqa: E402

SECTION = "## Road model (gis.model.roads.road_costs): csgraph or networkx"
N_SIDE, STEP_M, N_FAC, CUTOFF_MIN = 300, 250.0, 209, 60.0


def road_lines():
    import geopandas as gpd
    import shapely

    lines, cls = [], []
    for i in range(N_SIDE):
        c = "primary" if i % 10 == 0 else "secondary" if i % 5 == 0 else "residential"
        v = i * STEP_M
        xs = np.arange(N_SIDE) * STEP_M
        lines.append(shapely.linestrings(np.column_stack([xs, np.full(N_SIDE, v)])))
        lines.append(shapely.linestrings(np.column_stack([np.full(N_SIDE, v), xs])))
        cls += [c, c]
    return gpd.GeoDataFrame({"road_class": cls, "oneway": False}, geometry=lines,
                            crs="EPSG:32648")


def main(argv=None) -> int:
    import networkx as nx
    from scipy.sparse import csgraph

    from gis.model.roads import build_road_graph

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args(argv)
    started = dt.datetime.now().strftime("%Y-%m-%d %H:%M")
    load = os.getloadavg()
    speeds = {"primary": 50.0, "secondary": 40.0, "residential": 25.0, "default": 25.0}
    graph = build_road_graph(road_lines(), mode="motorbike", class_speeds_kmh=speeds)
    n = graph.n_nodes
    rng = np.random.default_rng(0)
    fac = rng.choice(n, N_FAC, replace=False)
    rev = graph.rev_time       # the graph reversed: searches from the facilities

    t0 = time.perf_counter()
    d_cs = csgraph.dijkstra(rev, directed=True, indices=fac, limit=CUTOFF_MIN)
    t_cs = time.perf_counter() - t0

    t0 = time.perf_counter()
    G = nx.from_scipy_sparse_array(rev, create_using=nx.DiGraph, edge_attribute="weight")
    t_build = time.perf_counter() - t0
    t0 = time.perf_counter()
    d_nx = np.full_like(d_cs, np.inf)
    for k, s in enumerate(fac):
        dist = nx.single_source_dijkstra_path_length(G, int(s), cutoff=CUTOFF_MIN)
        d_nx[k, list(dist)] = list(dist.values())
    t_nx = time.perf_counter() - t0
    # the same answers (cut-off inclusive in both)
    d_cs[d_cs > CUTOFF_MIN] = np.inf
    finite = np.isfinite(d_cs)
    assert (finite == np.isfinite(d_nx)).all()
    assert np.allclose(d_cs[finite], d_nx[finite], rtol=0, atol=1e-9)
    pairs = int(finite.sum())
    rows = [("scipy.sparse.csgraph.dijkstra (209 sources, limit)", t_cs),
            ("networkx single_source_dijkstra_path_length x 209 (cutoff)", t_nx),
            ("networkx graph construction from the same matrix", t_build)]
    lines = [SECTION, "",
             f"Run {started} on {machine()}; `python bench/bench_roads.py`. Python "
             f"{sys.version.split()[0]}.", "",
             f"Grid road network {N_SIDE} x {N_SIDE} nodes at {STEP_M:g} m ({n:,} nodes, "
             f"{graph.n_edges:,} directed edges, three road classes), {N_FAC} facilities on "
             f"random nodes, cut-off {CUTOFF_MIN:g} min: {pairs:,} node-facility pairs within "
             f"the cut-off, asserted identical in both (1e-9). Each side is timed on one "
             f"call, without a warm-up. Load average (1 min) at start {load[0]:.2f}, at end "
             f"{os.getloadavg()[0]:.2f} on {os.cpu_count()} cores.", "",
             "| what | seconds |", "|---|---:|"]
    lines += [f"| {what} | {sec:.2f} |" for what, sec in rows]
    lines += ["", f"csgraph is {t_nx / t_cs:.0f}x faster than networkx on the searches alone "
                  f"({(t_nx + t_build) / t_cs:.0f}x with the graph construction); "
                  "`road_costs` uses csgraph."]
    text = "\n".join(lines) + "\n"
    print(text)
    if not args.no_write:
        write_section(SECTION, text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
