"""Synthetic layers (known by hand) for the output tests: maps, QGIS project, report.

A 15 x 10 km block near Ha Tinh city in EPSG:32648: 6 post-2025 communes (5 x 5 km), each made
of 2 pre-2025 communes; 12 facilities, one named with an HTML/JS injection attempt; 500 m demand
cells with straight-line travel times at 10 km/h; 2 under-served areas; a plan; a small network.
"""

from __future__ import annotations

import math

import geopandas as gpd
import numpy as np
import pandas as pd
from shapely.geometry import LineString, Point, box

CRS = "EPSG:32648"
X0, Y0 = 590_000.0, 2_020_000.0
EVIL = "<script>alert(1)</script>"
EVIL2 = "Trạm `${alert(2)}` <img src=x onerror=alert(3)>"


def communes() -> gpd.GeoDataFrame:
    rows = []
    for j in range(2):
        for i in range(3):
            n = j * 3 + i
            rows.append({
                "commune_code": f"C{n}",
                "commune_name": f"Xã {chr(65 + n)}" if n != 5 else EVIL,
                "commune_type": "xã" if n % 2 else "phường",
                "population": 10_000 + 1_000 * n,
                "population_source": "sapnhap.bando.com.vn 2025",
                "geometry_source": "vn2025 polygons",
                "geometry": box(X0 + 5000 * i, Y0 + 5000 * j, X0 + 5000 * (i + 1),
                                Y0 + 5000 * (j + 1)),
            })
    return gpd.GeoDataFrame(rows, geometry="geometry", crs=CRS)


def communes_legacy() -> gpd.GeoDataFrame:
    rows = []
    for new in communes().itertuples():
        minx, miny, maxx, maxy = new.geometry.bounds
        for k in range(2):
            rows.append({
                "commune_code": f"L{new.commune_code}{k}",
                "commune_name": f"Xã cũ {new.commune_code}-{k}",
                "district_name": "Thạch Hà",
                "new_commune_code": new.commune_code,
                "population": new.population / 2,
                "population_source": "estimate: 2025 population x area share",
                "geometry_source": "vn2025 polygons split",
                "geometry": box(minx + 2500 * k, miny, minx + 2500 * (k + 1), maxy),
            })
    return gpd.GeoDataFrame(rows, geometry="geometry", crs=CRS)


def facilities() -> gpd.GeoDataFrame:
    rows = [
        ("P1", "Bệnh viện Đa khoa tỉnh", "provincial", "C0", 1300, np.nan, 1000, 1000),
        ("R1", "Bệnh viện Đa khoa khu vực Thạch Hà", "regional", "C2", np.nan, np.nan,
         12000, 3000),
        ("R2", "Bệnh viện Đa khoa khu vực Can Lộc", "regional", "C4", 250, 40, 7000, 7000),
    ]
    for n in range(6):
        name = EVIL if n == 5 else EVIL2 if n == 4 else f"Trạm Y tế Xã {chr(65 + n)}"
        rows.append((f"S{n}", name, "station", f"C{n}", np.nan, 2 if n % 2 else np.nan,
                     5000 * (n % 3) + 2500, 5000 * (n // 3) + 2500))
    rows += [("B1", "Điểm trạm Xã cũ C0-1", "branch", "C0", np.nan, np.nan, 3750, 1250),
             ("B2", "Điểm trạm Xã cũ C3-0", "branch", "C3", np.nan, np.nan, 1250, 8750),
             ("X1", "Trung tâm khác", "centre", "C1", np.nan, np.nan, 6000, 4000)]
    df = pd.DataFrame(rows, columns=["facility_id", "name", "tier", "commune_code", "beds",
                                     "doctors", "dx", "dy"])
    df["status"] = "operating"
    df["location_source"] = np.where(df["tier"].isin(["station", "branch"]),
                                     "commune centroid (site not published)", "geocoded address")
    df["source"] = np.where(df["tier"] == "provincial", "baohatinh.vn 2025 & <b>report</b>",
                            "Ha Tinh DoH plan 2025")
    geom = [Point(X0 + dx, Y0 + dy) for dx, dy in zip(df.pop("dx"), df.pop("dy"), strict=True)]
    return gpd.GeoDataFrame(df, geometry=geom, crs=CRS)


def cells(size_m: float = 500.0) -> gpd.GeoDataFrame:
    fac = facilities()
    st = fac[fac.tier == "station"].geometry
    rg = fac[fac.tier == "regional"].geometry
    rows = []
    for j in range(int(10_000 / size_m)):
        for i in range(int(15_000 / size_m)):
            c = Point(X0 + size_m * (i + 0.5), Y0 + size_m * (j + 0.5))
            t_st = min(c.distance(p) for p in st) * 1.4 / 1000 / 10 * 60
            t_rg = min(c.distance(p) for p in rg) * 1.4 / 1000 / 10 * 60
            rows.append({"cell_id": len(rows), "population": 25.0 + (i * j) % 7,
                         "population_source": "estimate: areal weighting of commune population",
                         "station_time_min": round(t_st, 2),
                         "regional_time_min": round(t_rg, 2) if i < 28 else math.nan,
                         "geometry": box(c.x - size_m / 2, c.y - size_m / 2,
                                         c.x + size_m / 2, c.y + size_m / 2)})
    return gpd.GeoDataFrame(rows, geometry="geometry", crs=CRS)


def coverage() -> gpd.GeoDataFrame:
    cm = communes()
    cm["station_30min_share"] = [1.0, 0.95, 0.8, 0.62, 0.4, np.nan]
    return cm


def underserved() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame({
        "rank": [1, 2],
        "population": [4200.0, 1800.0],
        "population_source": ["estimate: areal weighting", "estimate: areal weighting"],
        "reasons": ["station > 30 min; no doctor", EVIL],
        "commune_name": ["Xã E", EVIL],
    }, geometry=[box(X0 + 12000, Y0 + 7000, X0 + 15000, Y0 + 10000),
                 box(X0 + 12000, Y0, X0 + 15000, Y0 + 2000)], crs=CRS)


def plan() -> gpd.GeoDataFrame:
    fac = facilities()
    p = fac[fac.tier.isin(["station", "branch"])].copy()
    p["action"] = ["keep", "keep", "close", "keep", "branch", "keep", "branch", "close"]
    p["target_facility_id"] = [None, None, "S1", None, "S3", None, "S0", "S3"]
    new = gpd.GeoDataFrame({"facility_id": ["N1"], "name": ["Trạm mới"], "tier": ["station"],
                            "commune_code": ["C2"], "beds": [np.nan], "doctors": [np.nan],
                            "status": ["planned"], "location_source": ["planned site"],
                            "source": ["synthetic plan"], "action": ["new"],
                            "target_facility_id": [None]},
                           geometry=[Point(X0 + 13000, Y0 + 3000)], crs=CRS)
    return gpd.GeoDataFrame(pd.concat([p, new], ignore_index=True), crs=CRS)


def losing_access() -> gpd.GeoDataFrame:
    c = cells()
    lost = c[(c.station_time_min > 6) & (c.geometry.centroid.x > X0 + 10000)].copy()
    lost["time_before_min"] = lost["station_time_min"]
    lost["time_after_min"] = lost["station_time_min"] + 12
    return lost[["population", "population_source", "time_before_min", "time_after_min",
                 "geometry"]]


def edges() -> gpd.GeoDataFrame:
    fac = facilities().set_index("facility_id")
    pairs = [("S0", "R1", "referral"), ("S1", "R1", "referral"), ("S2", "R1", "referral"),
             ("S3", "R2", "referral"), ("S4", "R2", "referral"), ("S5", "R2", "referral"),
             ("R1", "P1", "referral"), ("R2", "P1", "referral"), ("P1", "R1", "satellite")]
    rows = []
    for a, z, kind in pairs:
        line = LineString([fac.geometry[a], fac.geometry[z]])
        rows.append({"from_id": a, "to_id": z, "kind": kind,
                     "time_min": round(line.length * 1.4 / 1000 / 30 * 60, 1), "geometry": line})
    return gpd.GeoDataFrame(rows, geometry="geometry", crs=CRS)


def hubs() -> gpd.GeoDataFrame:
    fac = facilities()
    h = fac[fac.tier.isin(["regional", "provincial"])][["facility_id", "name", "geometry"]].copy()
    h["load"] = [1_300_000.0, 33_000.0, 36_000.0]
    return h


SOURCES = ["Commune polygons and 2025 population: sapnhap.bando.com.vn (synthetic test copy)",
           "Facilities: Ha Tinh DoH plan 2025 <i>(laodong.vn)</i>"]
ESTIMATES = ["Facility sites of stations: commune centroids (estimate)"]


def plan_views() -> list[dict]:
    """Three plans as the pipeline hands them to the plan map: the official plan (every former
    station kept), the official plan without branch points, and a user plan; each with its
    stations, the cells whose people lose access (with their commune) and the per-commune
    figures before and after (people losing access counted from those cells)."""
    base = plan()
    views = []
    lost = losing_access()
    lost = lost.assign(commune_code=np.where(lost.geometry.centroid.y > Y0 + 5000, "C5", "C2"))
    for name, kind, slug, actions, lose in (
            ("6 + branch points", "official", "official",
             ["keep", "keep", "branch", "keep", "branch", "keep", "branch", "branch", "new"],
             lost.iloc[0:0]),
            ("6 only", "official_only", "official_only",
             ["keep", "keep", "close", "keep", "close", "keep", "close", "close", "new"], lost),
            ("my plan " + EVIL, "user", "user_my_plan",
             ["keep", "keep", "branch", "keep", "close", "keep", "close", "close", "new"],
             lost[lost["commune_code"] == "C5"])):
        st = base.assign(action=actions)
        per = lose.groupby("commune_code")["population"].sum()
        com = communes()[["commune_code", "commune_name", "population", "geometry"]].copy()
        com["losing_30min"] = com["commune_code"].map(per).fillna(0.0)
        com["covered_30min_before"] = com["population"] * 0.95
        com["covered_30min_after"] = com["covered_30min_before"] - com["losing_30min"]
        com["mean_time_before_min"] = 6.0
        com["mean_time_after_min"] = 6.0 + com["losing_30min"] / 1000
        com["service_points_before"] = 2
        com["service_points_after"] = 1
        n_keep = actions.count("keep") + actions.count("new")
        views.append({
            "name": name, "kind": kind, "slug": slug, "stations": st, "losing_access": lose,
            "communes": com,
            "figures": {"scenario": name, "scenario_kind": kind, "main_stations": 6,
                        "service_points": n_keep + actions.count("branch"),
                        "covered_30min_share": 0.95 - float(lose["population"].sum()) / 75_000,
                        "losing_30min": float(lose["population"].sum()),
                        "mean_time_min": 6.5, "max_time_min": 31.0}})
    return views
