"""The travel model as a whole: a table extended with new sites equals the table built with
them from the start, by either model."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from gis.model.costs import straight_line_costs
from gis.model.roads import road_costs
from gis.model.travel import extend_costs


def _frame(costs):
    return costs.to_frame().sort_values(["origin_id", "dest_id"]).reset_index(drop=True)


def _case():
    rng = np.random.default_rng(4)
    demand = pd.DataFrame({"x": rng.integers(0, 9000, 60), "y": rng.integers(0, 9000, 60)})
    old = rng.uniform(0, 9000, (4, 2))
    new = rng.uniform(0, 9000, (3, 2))
    sites = gpd.GeoDataFrame({"facility_id": ["A", "N1", "N2", "N3"]},
                             geometry=shapely.points(np.vstack([old[:1], new])), crs=32648)
    return demand, old, new, sites


def test_extend_straight_line_equals_the_table_built_with_the_new_sites():
    demand, old, new, sites = _case()
    xy = demand[["x", "y"]].to_numpy(float)
    kw = {"speed_kmh": 30.0, "detour_factor": 1.4, "cutoff_min": 12.0}
    ids = np.arange(len(xy)) + 100
    base = straight_line_costs(xy, old, origin_ids=ids, dest_ids=np.array(["A", "B", "C", "D"]),
                               mode="motorbike", **kw)
    # site A is already in the table: only N1..N3 are added
    ext = extend_costs(base, demand, sites, speed_kmh=30.0, detour_factor=1.4)
    full = straight_line_costs(xy, np.vstack([old, new]), origin_ids=ids,
                               dest_ids=np.array(["A", "B", "C", "D", "N1", "N2", "N3"]),
                               mode="motorbike", **kw)
    assert list(ext.dest_ids) == ["A", "B", "C", "D", "N1", "N2", "N3"]
    assert ext.cutoff_min == 12.0 and ext.mode == "motorbike"
    assert np.array_equal(ext.origin_ids, ids)
    pd.testing.assert_frame_equal(_frame(ext), _frame(full))
    assert (np.diff(ext.origin) >= 0).all()
    # nothing new: the same table back
    assert extend_costs(base, demand, sites.iloc[:1], speed_kmh=30.0,
                        detour_factor=1.4) is base


def _roads():
    """A 1.5 km grid of roads meeting at shared vertices."""
    lines = [shapely.segmentize(shapely.LineString([(0, y), (9000, y)]), 1500)
             for y in range(0, 9001, 1500)]
    lines += [shapely.segmentize(shapely.LineString([(x, 0), (x, 9000)]), 1500)
              for x in range(0, 9001, 1500)]
    return gpd.GeoDataFrame({"road_class": ["primary"] * 7 + ["track"] * 7, "oneway": False},
                            geometry=lines, crs=32648)


def test_extend_by_road_equals_the_road_table_built_with_the_new_sites():
    demand, old, new, sites = _case()
    xy = demand[["x", "y"]].to_numpy(float)
    speeds = {"primary": 50.0, "track": 20.0, "default": 25.0}
    ids = np.arange(len(xy))
    base, _ = road_costs(xy, old, _roads(), speeds_kmh=speeds, walking_speed_kmh=4.5,
                         cutoff_min=30.0, origin_ids=ids,
                         dest_ids=np.array(["A", "B", "C", "D"]))
    # the walking speed is left at its default (4.5 km/h, as the access stage's)
    ext = extend_costs(base, demand, sites, speed_kmh=99.0, detour_factor=9.9, roads=_roads(),
                       road_speeds_kmh=speeds)
    full, _ = road_costs(xy, np.vstack([old, new]), _roads(), speeds_kmh=speeds,
                         walking_speed_kmh=4.5, cutoff_min=30.0, origin_ids=ids,
                         dest_ids=np.array(["A", "B", "C", "D", "N1", "N2", "N3"]))
    assert ext.cutoff_min == 30.0 and ext.mode == "road"
    got, want = _frame(ext), _frame(full)
    pd.testing.assert_frame_equal(got, want, check_dtype=False)
    assert len(got) > len(_frame(base))


def test_extend_a_straight_line_model_adds_its_destinations():
    """A StraightLineModel gets the new sites (those it does not hold) as more destinations of
    its own model (its speed and detour factor, not the arguments'): its full table equals the
    table built with them from the start, and the ids are strings after the present ones."""
    from gis.model.costs import StraightLineModel

    demand, old, new, sites = _case()
    xy = demand[["x", "y"]].to_numpy(float)
    kw = {"speed_kmh": 30.0, "detour_factor": 1.4, "cutoff_min": 12.0}
    model = StraightLineModel(xy, old, dest_ids=np.array(["A", "B", "C", "D"]), **kw)
    ext = extend_costs(model, demand, sites.assign(facility_id=["A", 7, "N2", "N3"]),
                       speed_kmh=99.0, detour_factor=9.9)
    assert isinstance(ext, StraightLineModel)
    assert list(ext.dest_ids) == ["A", "B", "C", "D", "7", "N2", "N3"]
    assert all(isinstance(i, str) for i in ext.dest_ids[4:])
    full = straight_line_costs(xy, np.vstack([old, new]),
                               dest_ids=np.array(["A", "B", "C", "D", "7", "N2", "N3"]), **kw)
    pd.testing.assert_frame_equal(_frame(ext.table()), _frame(full))
    assert extend_costs(model, demand, sites.iloc[:1], speed_kmh=30.0,
                        detour_factor=1.4) is model
