"""Benchmark of the plan editor (gis.outputs.editor) on Hà Tĩnh's real data.

Run on demand, not by pytest::

    python bench/bench_editor.py            # 5 page opens, 60 station clicks, 6 new sites
    python bench/bench_editor.py --quick    # 2 opens, 20 clicks, 2 new sites

Builds the editor for Hà Tĩnh (``examples/hatinh_shared_data.toml``: 69 real commune polygons,
2019 census, 209 stations, 500 m cells), then opens ``plan_editor.html`` from disk in headless
Chromium (real time, no virtual clock) and measures:

- file size;
- open time: navigation start to the editor ready (data decoded, times of the k nearest
  stations computed, today and both official plans scored and checked against gis, map and
  panel drawn), from ``performance.now()`` in a script that runs right after the editor's;
- click re-score time: from dispatching a click on a station's marker (or on the map, for a new
  site) to the panel and map updated and laid out (a forced layout read), per click. Station
  clicks cycle the official plan's branch points to closed and back; new-site clicks land on
  random populated demand cells (each new site scores 32,487 times once).

Results go to bench/RESULTS.md, section "## Plan editor (gis.outputs.editor)".
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench._common import machine, write_section  # noqa: E402
from gis.analyses.plans import official_plan  # noqa: E402
from gis.inputs.config import load_config  # noqa: E402
from gis.outputs import editor as E  # noqa: E402
from gis.pipeline import prepare, run_access_stage, station_thresholds  # noqa: E402
from tests._browser import drive_page  # noqa: E402

SECTION = "## Plan editor (gis.outputs.editor)"
TARGET_MB, TARGET_OPEN_S, TARGET_CLICK_MS = 8.0, 2.0, 50.0

_DRIVE = r"""
var P = %(params)s;
var E = window.gisEditor, map = window.gisEditorMap;
var out = {ready_ms: performance.now(), station_ms: [], site_ms: [], check: E.check().ok,
           nav: performance.getEntriesByType("navigation").map(function (n) {
             return {responseEnd: n.responseEnd, domInteractive: n.domInteractive}; })};
function timed(fn) {
  var t0 = performance.now();
  fn();
  void document.body.offsetHeight;  // layout included
  return performance.now() - t0;
}
function clickStation(i) {
  document.querySelector("path.gis-st-" + i).dispatchEvent(
    new MouseEvent("click", {bubbles: true, cancelable: true, view: window}));
}
for (var r = 0; r < P.clicks; r++) {
  var i = P.stations[r %% P.stations.length];
  out.station_ms.push(timed(function () { clickStation(i); }));
}
P.sites.forEach(function (s) {
  var p = map.latLngToContainerPoint(s), box = map.getContainer().getBoundingClientRect();
  out.site_ms.push(timed(function () {
    map.getContainer().dispatchEvent(new MouseEvent("click", {bubbles: true, cancelable: true,
      view: window, clientX: box.left + p.x, clientY: box.top + p.y}));
  }));
});
out.sites_placed = E.state().sites.length;
out.inexact = E.figures().inexact_cells;
__report(out);
"""


def _stats(values: list[float]) -> dict[str, float]:
    a = np.asarray(values, float)
    return {"n": len(a), "median": float(np.median(a)), "p90": float(np.percentile(a, 90)),
            "max": float(a.max())}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    opens, clicks, n_sites = (2, 20, 2) if args.quick else (5, 60, 6)

    cfg = load_config(ROOT / "examples" / "hatinh_shared_data.toml")
    t0 = time.perf_counter()
    prep = prepare(cfg)
    acc = run_access_stage(prep)
    costs = acc.costs
    t_inputs = time.perf_counter() - t0
    lay = prep.layers
    plans = [official_plan(lay.facilities, lay.communes, prep.registry, branches=b)
             for b in (True, False)]
    tr = cfg.travel
    t0 = time.perf_counter()
    data = E.build_editor_data(acc.demand, costs, lay.facilities, lay.communes,
                               thresholds_min=station_thresholds(cfg),
                               doctors_per_station=cfg.targets.doctors_per_station,
                               official_plans={p.name: p for p in plans},
                               speed_kmh=tr.speed_kmh[tr.mode], detour_factor=tr.detour_factor,
                               cell_size_m=cfg.demand.cell_size_m)
    t_build = time.perf_counter() - t0
    parts = {k: len(v["b64"]) for k, v in data["cells"].items() if isinstance(v, dict)}
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        page = E.write_plan_editor(Path(tmp) / "plan_editor.html", data,
                                   province=prep.registry.province.short, sources=prep.sources,
                                   estimate_notes=lay.notes)
        t_write = time.perf_counter() - t0
        size_mb = page.stat().st_size / 1024 ** 2
        st_ids = [s["id"] for s in data["stations"]]
        official = plans[0].actions.set_index("facility_id")["action"]
        branch = [i for i, sid in enumerate(st_ids) if official[sid] == "branch"]
        rng = np.random.default_rng(16)
        pop = acc.demand["population"].to_numpy()
        units = rng.choice(np.flatnonzero(pop > 0), size=n_sites, replace=False)
        lat = E.decode_array(data["cells"]["lat_e7"]) / 1e7
        lon = E.decode_array(data["cells"]["lon_e7"]) / 1e7
        params = {"clicks": clicks, "stations": branch,
                  "sites": [[float(lat[u]), float(lon[u])] for u in units]}
        ready, station_ms, site_ms, checks, errors = [], [], [], [], []
        load = [os.getloadavg()[0]]
        for _ in range(opens):
            rep = drive_page(page, _DRIVE % {"params": json.dumps(params)})
            out = rep.result
            errors += rep.errors
            checks.append(out["check"])
            ready.append(out["ready_ms"])
            station_ms += out["station_ms"]
            site_ms += out["site_ms"]
            assert out["sites_placed"] == n_sites, out
            load.append(os.getloadavg()[0])
    assert not errors, errors
    assert all(checks), "the page's figures differ from gis's"
    open_s = _stats([r / 1000 for r in ready])
    st = _stats(station_ms)
    si = _stats(site_ms)
    worst_click = max(st["max"], si["max"])
    verdict = [
        f"file {size_mb:.2f} MB ({'under' if size_mb < TARGET_MB else 'OVER'} the "
        f"{TARGET_MB:g} MB target)",
        f"opens in {open_s['median']:.2f} s median, {open_s['max']:.2f} s at worst "
        f"({'under' if open_s['max'] < TARGET_OPEN_S else 'OVER'} the {TARGET_OPEN_S:g} s "
        f"target)",
        f"a station click re-scores in {st['median']:.1f} ms median ({st['p90']:.1f} ms p90, "
        f"{st['max']:.1f} ms at worst), a new site in {si['median']:.1f} ms median "
        f"({si['p90']:.1f} ms p90, {si['max']:.1f} ms at worst): the median is "
        f"{'under' if max(st['median'], si['median']) < TARGET_CLICK_MS else 'OVER'} the "
        f"{TARGET_CLICK_MS:g} ms target, the p90 "
        f"{'under' if max(st['p90'], si['p90']) < TARGET_CLICK_MS else 'over'} it, the worst "
        f"click {'under' if worst_click < TARGET_CLICK_MS else 'over'} it",
    ]
    b64 = ", ".join(f"{k} {v / 1024 ** 2:.2f}" for k, v in sorted(parts.items(),
                                                                   key=lambda kv: -kv[1]))
    text = "\n".join([
        SECTION, "",
        f"Run {dt.datetime.now():%Y-%m-%d %H:%M} on {machine()}; `python bench/bench_editor.py"
        f"{' --quick' if args.quick else ''}`. Python {platform.python_version()}, "
        f"headless Chromium (Debian), page opened from disk (file://), real time. Load "
        f"average (1 min) during the page runs: {min(load):.1f} to {max(load):.1f} on "
        f"{os.cpu_count()} cores (other jobs share the machine: the slowest clicks are when "
        f"the page waits for a core).", "",
        f"Hà Tĩnh on real data: {data['cells']['n']:,} demand cells, {len(st_ids)} stations, "
        f"k = {data['k']} nearest stations per cell (exact for every plan with a station in "
        f"each commune: {data['exact']}), travel times recomputed in the page "
        f"({data['travel']['times']}). Inputs (layers, demand, cost table) {t_inputs:.1f} s; "
        f"build_editor_data {t_build:.1f} s; writing {t_write:.2f} s.", "",
        "| what | value |", "|---|---:|",
        f"| file size | {size_mb:.2f} MB |",
        f"| open time (navigation start -> editor ready), {opens} opens: median / max | "
        f"{open_s['median']:.2f} / {open_s['max']:.2f} s |",
        f"| station click re-score ({st['n']} clicks): median / p90 / max | "
        f"{st['median']:.1f} / {st['p90']:.1f} / {st['max']:.1f} ms |",
        f"| new-site click re-score ({si['n']} clicks): median / p90 / max | "
        f"{si['median']:.1f} / {si['p90']:.1f} / {si['max']:.1f} ms |", "",
        f"Base64 arrays in the file (MB): {b64}.", "",
        "In words: " + "; ".join(verdict) + ". Every open also checked the page's figures for "
        "today and both official plans against gis (plans.evaluate): equal.",
    ])
    print(text)
    write_section(SECTION, text)


if __name__ == "__main__":
    main()
