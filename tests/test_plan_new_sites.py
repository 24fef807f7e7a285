"""New sites in plans, end to end: read (CSV with lon/lat on the new rows only; TOML), the cost
table extended by the same travel model, evaluated, drawn on the plan layers and map.

Expected figures come from a hand case and from brute force: the straight-line formula
(distance x detour / speed) from every demand cell to every open site, independent of the cost
tables and their queries.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from pyproj import Transformer

from gis.analyses import plans as P
from gis.cli import main
from gis.inputs import layers as L
from gis.inputs import readers as R
from gis.inputs.plans import Plan, new_sites
from gis.inputs.registry import load_registry
from gis.model.costs import straight_line_costs
from gis.model.travel import extend_costs

ROOT = Path(__file__).resolve().parents[1]


# --- by hand ---------------------------------------------------------------------------------

def test_new_site_by_hand():
    """Cells at x = 0, 1, 2 km (100, 200, 300 people); stations A at 0 km and B at 2 km; a new
    site N at 1 km; 60 km/h, detour 1: one minute per km, cut-off 1.5 min. The plan closes A,
    keeps B and opens N: cell 0 is 1 min from N, cells 1 and 2 are 0 min away."""
    cells = np.array([[0.0, 0.0], [1000.0, 0.0], [2000.0, 0.0]])
    demand = pd.DataFrame({"x": cells[:, 0], "y": cells[:, 1]})
    costs = straight_line_costs(cells, np.array([[0.0, 0.0], [2000.0, 0.0]]), speed_kmh=60,
                                detour_factor=1.0, cutoff_min=1.5,
                                dest_ids=np.array(["A", "B"]))
    plan = Plan(name="with N", actions=pd.DataFrame([
        {"facility_id": "A", "action": "close", "target_commune_code": "X", "role": "",
         "rule": "", "name": "", "x": np.nan, "y": np.nan},
        {"facility_id": "B", "action": "keep", "target_commune_code": "Y", "role": "",
         "rule": "", "name": "", "x": np.nan, "y": np.nan},
        {"facility_id": "N", "action": "new", "target_commune_code": "X", "role": "main",
         "rule": "", "name": "New N", "x": 1000.0, "y": 0.0}]))
    sites = new_sites([plan], crs=None)
    assert sites["facility_id"].tolist() == ["N"]
    ext = extend_costs(costs, demand, sites, speed_kmh=60, detour_factor=1.0)
    assert list(ext.dest_ids) == ["A", "B", "N"] and ext.cutoff_min == 1.5
    # N reaches cells 0, 1, 2 in 1, 0, 1 min (all within the 1.5 min cut-off)
    n_pairs = {(int(o), float(t)) for o, d, t in zip(ext.origin, ext.dest, ext.time_min,
                                                      strict=True) if d == 2}
    assert n_pairs == {(0, 1.0), (1, 0.0), (2, 1.0)}
    pop = np.array([100.0, 200.0, 300.0])
    ev = P.evaluate(plan, population=pop, commune_codes=np.array(["X", "X", "Y"]), costs=ext,
                    thresholds_min=(0.5, 1.0), doctors_per_station=4)
    assert ev.time_min.tolist() == [1.0, 0.0, 0.0]
    p = ev.province
    assert p["service_points"] == 2 and p["main_stations"] == 2
    assert p["covered_0.5min"] == 500 and p["covered_1min"] == 600
    assert p["mean_time_min"] == pytest.approx(100 / 600)
    # the plan's stations as a layer: the new site is a point with its name, a main station
    fac = gpd.GeoDataFrame({"facility_id": ["A", "B"], "name": ["A", "B"],
                            "tier": ["station", "station"], "status": "active"},
                           geometry=gpd.points_from_xy([0.0, 2000.0], [0.0, 0.0]))
    layer = P.plan_facilities(plan, fac).set_index("facility_id")
    assert layer.loc["N", "name"] == "New N" and layer.loc["N", "plan_role"] == "main station"
    assert (layer.loc["N", "geometry"].x, layer.loc["N", "geometry"].y) == (1000.0, 0.0)


def test_csv_plan_with_lon_lat_on_the_new_rows_only(tmp_path):
    """The crash of issue 12: lon/lat filled on the new row only."""
    reg = load_registry("42")
    crs = L.working_crs(reg)
    lay = L.build_layers(reg, crs=crs, population_total=1_623_061)
    official = P.official_plan(lay.facilities, lay.communes, reg, branches=False)
    df = official.actions[["facility_id", "action", "target_commune_code"]].copy()
    df["lon"] = ""
    df["lat"] = ""
    df.loc[len(df)] = {"facility_id": "NEW-1", "action": "new", "target_commune_code": "18073",
                       "lon": "105.905", "lat": "18.345"}
    df.loc[df.index[(df["action"] == "keep") & (df["target_commune_code"] == "18073")],
           "action"] = "branch"
    path = tmp_path / "plan.csv"
    df.to_csv(path, index=False)
    plan = R.read_plan(path, lay.facilities, reg)
    new = plan.actions.set_index("facility_id").loc["NEW-1"]
    x, y = Transformer.from_crs(4326, crs, always_xy=True).transform(105.905, 18.345)
    assert (new["x"], new["y"]) == pytest.approx((x, y), abs=1e-6)
    assert new["role"] == "main" and "NEW-1" in plan.main_ids()
    assert plan.counts() == {"keep": 68, "branch": 1, "close": 140, "new": 1}


# --- end to end, checked by brute force --------------------------------------------------------

def brute_force(cells: pd.DataFrame, sites_xy: np.ndarray, *, speed_kmh: float, detour: float,
                cutoff_min: float) -> np.ndarray:
    """Minutes from every cell to its nearest site by the straight-line formula (inf beyond
    the cut-off)."""
    dx = cells["x"].to_numpy()[:, None] - sites_xy[None, :, 0]
    dy = cells["y"].to_numpy()[:, None] - sites_xy[None, :, 1]
    t = (np.hypot(dx, dy) * detour / (speed_kmh * 1000 / 60)).min(axis=1)
    return np.where(t <= cutoff_min, t, np.inf)


def check_scenario(row: dict, t: np.ndarray, pop: np.ndarray, thresholds=(15, 30, 60)) -> None:
    for thr in thresholds:
        assert row[f"covered_{thr}min"] == pytest.approx(pop[t <= thr].sum(), rel=1e-9, abs=1e-6)
    ok = np.isfinite(t)
    assert row["mean_time_min"] == pytest.approx(np.average(t[ok], weights=pop[ok]), rel=1e-5)
    assert row["max_time_min"] == pytest.approx(t[ok & (pop > 0)].max(), rel=1e-5)
    assert row["population_beyond_cutoff"] == pytest.approx(pop[~ok].sum(), abs=1e-6)


def plan_with_new_main(stations: pd.DataFrame, code: str, lon: float, lat: float, fid: str
                       ) -> pd.DataFrame:
    """The official "only main stations" plan with commune ``code``'s main station closed and a
    new main station at (lon, lat) instead."""
    df = stations[["facility_id", "action", "target_commune_code"]].copy()
    df.loc[(df["action"] == "keep") & (df["target_commune_code"] == code), "action"] = "close"
    new = pd.DataFrame([{"facility_id": fid, "action": "new", "target_commune_code": code,
                         "lon": lon, "lat": lat, "role": "main", "name": f"New station {fid}"}])
    return pd.concat([df, new], ignore_index=True)


def evaluate_and_check(tmp_path: Path, cfg: Path, *, code: str, lon: float, lat: float,
                       speed_kmh: float = 30.0, detour: float = 1.4, cutoff: float = 180.0,
                       capsys=None) -> tuple[dict, Path]:
    official = tmp_path / "official.csv"
    assert main(["-q", "plan", "official", "--config", str(cfg), "--no-branches",
                 "--out", str(official)]) == 0
    stations = pd.read_csv(official, dtype=str)
    csv_plan = plan_with_new_main(stations, code, lon, lat, "NEW-CSV")
    csv_path = tmp_path / "csv_plan.csv"
    csv_plan.to_csv(csv_path, index=False)   # lon/lat filled on the new row only
    toml = ['name = "new main station (TOML)"']
    for r in plan_with_new_main(stations, code, lon, lat, "NEW-TOML").itertuples():
        toml += ["[[station]]", f'facility_id = "{r.facility_id}"', f'action = "{r.action}"',
                 f'target_commune_code = "{r.target_commune_code}"']
        if r.action == "new":
            toml += [f"lon = {lon}", f"lat = {lat}", 'role = "main"', f'name = "{r.name}"']
    toml_path = tmp_path / "plan.toml"
    toml_path.write_text("\n".join(toml) + "\n", encoding="utf-8")
    out = tmp_path / "eval"
    assert main(["-q", "plan", "evaluate", str(csv_path), str(toml_path), "--config", str(cfg),
                 "--no-optimise", "--out", str(out)]) == 0
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    rows = {r["scenario"]: r for r in summary["plans"]["scenarios"]}
    gpkg = out / "hatinh.gpkg"
    cells = gpd.read_file(gpkg, layer="demand_cells", ignore_geometry=True)
    fac = gpd.read_file(gpkg, layer="facilities")
    pop = cells["population"].to_numpy(float)
    x, y = Transformer.from_crs(4326, fac.crs, always_xy=True).transform(lon, lat)
    is_open = stations.set_index("facility_id")["action"].eq("keep")
    is_open[stations.loc[(stations["action"] == "keep")
                         & (stations["target_commune_code"] == code), "facility_id"]] = False
    open_xy = fac.set_index("facility_id").loc[is_open[is_open].index].geometry
    sites = np.vstack([np.column_stack([open_xy.x, open_xy.y]), [[x, y]]])
    t = brute_force(cells, sites, speed_kmh=speed_kmh, detour=detour, cutoff_min=cutoff)
    for name in ("csv_plan", "new main station (TOML)"):
        assert rows[name]["service_points"] == 69 and rows[name]["main_stations"] == 69
        check_scenario(rows[name], t, pop)
    # the same plan without the new site ("69 only" minus one) is no better anywhere
    t_without = brute_force(cells, sites[:-1], speed_kmh=speed_kmh, detour=detour,
                            cutoff_min=cutoff)
    assert (t <= t_without).all()
    # layers and map: the new sites are points of the plan layer, the map shows the first plan
    given = gpd.read_file(gpkg, layer="plan_stations_given")
    for fid, scenario in (("NEW-CSV", "csv_plan"), ("NEW-TOML", "new main station (TOML)")):
        row = given[given["facility_id"] == fid].iloc[0]
        assert row["scenario"] == scenario and row["action"] == "new"
        assert row["plan_role"] == "main station" and row["name"] == f"New station {fid}"
        assert (row.geometry.x, row.geometry.y) == pytest.approx((x, y), abs=1e-3)
    page = (out / "plan.html").read_text(encoding="utf-8")
    # one map holds every plan (a plan selector) and opens on the first plan given
    assert re.search(r'<option value="\d+" selected translate="no">csv_plan</option>', page)
    assert "New station NEW-CSV" in page and '"i":"new"' in page  # drawn as a new site
    return rows, out


def test_new_main_station_end_to_end_registry_only(tmp_path):
    """Ha Tinh from the registry (3 km cells): a new main station in Thành Sen (18073)."""
    cfg = tmp_path / "config.toml"
    cfg.write_text(f'[province]\nname = "42"\npopulation_total = 1623061\n[layers]\n'
                   f'facilities = "{(ROOT / "layers" / "hatinh_hospitals.csv").as_posix()}"\n'
                   f'[demand]\ncell_size_m = 3000\n', encoding="utf-8")
    evaluate_and_check(tmp_path, cfg, code="18073", lon=105.905, lat=18.345)


@pytest.mark.slow
def test_new_main_station_on_real_ha_tinh(tmp_path):
    """Real polygons and census (../shared/data): the official plan with Vũ Quang's main
    station replaced by a new one in the west of the commune, where people are farthest."""
    from tests.conftest import CENSUS_2019, COMMUNES_2025, require_shared

    require_shared(COMMUNES_2025)
    require_shared(CENSUS_2019)
    reg = load_registry("42")
    code = reg.new.loc[reg.new["commune_name"] == "Vũ Quang", "commune_code"].iloc[0]
    cfg = ROOT / "examples" / "hatinh_shared_data.toml"
    rows, _ = evaluate_and_check(tmp_path, cfg, code=code, lon=105.30, lat=18.36)
    # moving one commune's station changes the province's figures, but only a little
    only = rows["69 only"]
    assert rows["csv_plan"]["covered_30min"] != only["covered_30min"]
    assert abs(rows["csv_plan"]["mean_time_min"] - only["mean_time_min"]) < 1.0
