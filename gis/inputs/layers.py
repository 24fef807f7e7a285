"""The province's layers: the registry's communes and stations, completed by what the
user's layers give, with every estimate labelled.

Layers produced (GeoDataFrames in the working CRS, metres):

- ``communes`` (post-2025): commune_code, commune_name, commune_type, province_code, area_km2,
  population, population_source, geometry_source, admin_center (seat of the commune
  government where the layer gives it, else ""); MultiPolygon.
- ``communes_legacy`` (pre-2025): commune_code, commune_name, commune_type, district_name,
  new_commune_code (the new commune it maps to; for a commune split among several, the
  registry's default), new_commune_codes (all, ``;``-separated), split, population,
  population_source, geometry_source; MultiPolygon.
- ``facilities``: facility_id, name, tier, specialty, commune_code (post-2025), legacy_commune_code,
  beds, doctors, nurses (NaN = unknown), status, location_source, source, note; Point.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS

from gis.errors import LayerError
from gis.inputs.registry import ProvinceRegistry
from gis.inputs.stations import LONG_MOVE_M, communes_without_station, site_stations
from gis.inputs.validate import polygonal_part

log = logging.getLogger(__name__)

# Population estimate (used only when no population is given): a province total split among
# communes in proportion to  area_km2 ** AREA_EXPONENT * TYPE_WEIGHT[commune_type].
# Fitted by least squares of log(population) on log(area) and the commune type over the 3,320
# inhabited post-2025 communes of Vietnam with their 2025 population (sapnhap.bando.com.vn, as
# republished in ../shared/data/vn2025); tests/test_layers.py refits it and checks these values.
# Larger communes are the rural and mountain ones, hence fewer people per commune, not more.
AREA_EXPONENT = -0.301
TYPE_WEIGHT = {"Xã": 1.0, "Phường": 1.588, "Đặc khu": 0.268, "Thị trấn": 1.588,
               "Huyện đảo": 0.268}
ESTIMATE_NOTE = ("estimate: province total split by commune type and area "
                 "(weights area^-0.301 x type; see gis/inputs/layers.py)")


# --- building the default layers ------------------------------------------------------------

def approximate_outline(reg: ProvinceRegistry) -> shapely.Geometry:
    """Approximate province outline in EPSG:4326: the union of the registry's bounding boxes of
    the pre-2025 communes (an estimate; used only when no commune polygons are given)."""
    lg = reg.legacy.dropna(subset=["min_lon", "min_lat", "max_lon", "max_lat"])
    boxes = shapely.box(lg["min_lon"], lg["min_lat"], lg["max_lon"], lg["max_lat"])
    return shapely.unary_union(boxes)


def _voronoi_in(seeds: np.ndarray, region: shapely.Geometry) -> list[shapely.Geometry]:
    """Voronoi cells of ``seeds`` (n x 2) clipped to ``region``; seeds outside the region are
    first moved to its nearest point so that every seed gets a cell. Order follows seeds."""
    if not region.is_valid:  # a polygon that self-intersects by a rounding error
        region = polygonal_part(shapely.make_valid(region))
    if len(seeds) == 1:
        return [region]
    pts = shapely.points(seeds)
    outside = ~shapely.contains(region, pts)
    if outside.any():
        inner = region.buffer(-1e-6 * max(1.0, np.sqrt(region.area)))
        target = inner if not inner.is_empty else region
        for i in np.flatnonzero(outside):
            near = shapely.ops.nearest_points(target, pts[i])[0]
            seeds[i] = (near.x, near.y)
        pts = shapely.points(seeds)
    # Identical seeds would share a cell: jitter them apart deterministically.
    _, inv, counts = np.unique(seeds.round(9), axis=0, return_inverse=True, return_counts=True)
    if (counts > 1).any():
        scale = 1e-6 * max(1.0, np.sqrt(region.area))
        for k in np.flatnonzero(counts > 1):
            members = np.flatnonzero(inv.ravel() == k)
            angles = np.linspace(0, 2 * np.pi, len(members), endpoint=False)
            seeds[members] += scale * np.column_stack([np.cos(angles), np.sin(angles)])
        pts = shapely.points(seeds)
    cells = shapely.voronoi_polygons(shapely.MultiPoint(pts), extend_to=region)
    cells = np.asarray(shapely.get_parts(cells))
    # voronoi_polygons does not keep input order: match each cell to the seed inside it.
    tree = shapely.STRtree(cells)
    seed_idx, cell_idx = tree.query(pts, predicate="intersects")
    order = np.full(len(seeds), -1)
    order[seed_idx] = cell_idx
    return [shapely.intersection(cells[j], region) if j >= 0 else shapely.Polygon()
            for j in order]


def _multi(g: shapely.Geometry) -> shapely.Geometry:
    g = polygonal_part(g)
    if g.is_empty:
        return shapely.MultiPolygon()
    return g if g.geom_type == "MultiPolygon" else shapely.MultiPolygon([g])


def estimate_weights(area_km2: np.ndarray, commune_type: np.ndarray) -> np.ndarray:
    """Relative population weights of communes from area and type (see ``AREA_EXPONENT``)."""
    area = np.maximum(np.asarray(area_km2, dtype=float), 0.01)
    mult = np.array([TYPE_WEIGHT.get(str(t), 1.0) for t in commune_type])
    return area**AREA_EXPONENT * mult


@dataclass
class Layers:
    """The layers of a province, in the working CRS, with notes on what is estimated."""

    communes: gpd.GeoDataFrame
    communes_legacy: gpd.GeoDataFrame
    facilities: gpd.GeoDataFrame
    crs: CRS
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, gpd.GeoDataFrame]:
        return {"communes_2025": self.communes, "communes_legacy": self.communes_legacy,
                "facilities": self.facilities}


def working_crs(reg: ProvinceRegistry, crs: str = "auto") -> CRS:
    """The working CRS: ``"auto"`` = UTM zone of the province centre (Ha Tinh: EPSG:32648)."""
    if crs in ("", "auto"):
        return CRS.from_epsg(reg.province.utm_epsg)
    try:
        out = CRS.from_user_input(crs)
    except Exception as exc:
        raise LayerError("config province.crs", [f"unknown CRS {crs!r}: {exc}"]) from None
    if not out.is_projected:
        raise LayerError("config province.crs", [f"{crs!r} is not a projected CRS; distances "
                                                 "need metres: use a UTM or VN-2000 zone"])
    return out


def build_layers(reg: ProvinceRegistry, *, crs: CRS, communes: gpd.GeoDataFrame | None = None,
                 legacy_population: pd.Series | None = None,
                 population_total: float | None = None,
                 facilities: gpd.GeoDataFrame | None = None,
                 legacy_population_label: str = "table") -> Layers:
    """Build the province's layers from the registry and whatever real layers are given.

    Parameters
    ----------
    reg : ProvinceRegistry
    crs : CRS
        Working CRS (projected, metres).
    communes : GeoDataFrame, optional
        Real post-2025 polygons from :func:`read_communes`. Without them, polygons are Voronoi
        cells of the registry centres clipped to :func:`approximate_outline` (an estimate).
    legacy_population : Series, optional
        Persons per pre-2025 commune (e.g. the 2019 census), from :func:`read_population_table`.
    population_total : float, optional
        Province population to split by commune type and area when commune populations are not
        given (an estimate, labelled).
    facilities : GeoDataFrame, optional
        Extra facilities (hospitals) from :func:`read_facilities`; the commune stations (one per
        pre-2025 commune) are always generated from the registry.
    """
    notes: list[str] = []
    new = reg.new.copy()
    if communes is None:
        outline = gpd.GeoSeries([approximate_outline(reg)], crs=4326).to_crs(crs).iloc[0]
        seeds = np.column_stack(gpd.GeoSeries(shapely.points(new["lon"], new["lat"]), crs=4326)
                                .to_crs(crs).get_coordinates().to_numpy().T)
        cells = _voronoi_in(seeds.copy(), outline)
        com = gpd.GeoDataFrame(new[["commune_code", "commune_name", "commune_type"]],
                               geometry=[_multi(c) for c in cells], crs=crs)
        com["population"] = np.nan
        com["population_source"] = "unknown"
        com["admin_center"] = ""
        com["geometry_source"] = ("estimate: Voronoi cell of the registry centre, clipped to the "
                                  "union of the registry's commune bounding boxes")
        notes.append("commune polygons are estimates (Voronoi cells of registry centres)")
    else:
        com = communes.copy()
    com["province_code"] = reg.province.code
    com["area_km2"] = com.geometry.area / 1e6
    reg_area = com["commune_code"].map(new.set_index("commune_code")["area_km2"])
    area_for_weights = reg_area.fillna(com["area_km2"]).to_numpy()
    unknown_pop = com["population"].isna().to_numpy()
    if unknown_pop.any() and population_total:
        w = estimate_weights(area_for_weights, com["commune_type"].to_numpy())
        known_total = float(com.loc[~unknown_pop, "population"].sum())
        rest = max(float(population_total) - known_total, 0.0)
        share = w[unknown_pop] / w[unknown_pop].sum()
        com.loc[unknown_pop, "population"] = rest * share
        com.loc[unknown_pop, "population_source"] = ESTIMATE_NOTE
        notes.append(f"population of {int(unknown_pop.sum())} post-2025 communes is an estimate "
                     f"(province total {population_total:,.0f} split by type and area)")
    sites = _station_sites(reg, com, crs=crs, notes=notes)
    legacy = _legacy_layer(reg, com, crs=crs, legacy_population=legacy_population,
                           label=legacy_population_label, notes=notes, sites=sites)
    fac = _facilities_layer(reg, com, legacy, crs=crs, extra=facilities, sites=sites,
                            notes=notes)
    cols = ["commune_code", "commune_name", "commune_type", "province_code", "area_km2",
            "population", "population_source", "geometry_source", "admin_center", "geometry"]
    return Layers(communes=com[cols].reset_index(drop=True), communes_legacy=legacy,
                  facilities=fac, crs=crs, notes=notes)


def _legacy_layer(reg: ProvinceRegistry, com: gpd.GeoDataFrame, *, crs: CRS,
                  legacy_population: pd.Series | None, label: str,
                  notes: list[str], sites: pd.DataFrame | None = None) -> gpd.GeoDataFrame:
    """Pre-2025 polygons: each new commune split among the legacy communes mapped to it
    (Voronoi of their station sites inside the new polygon; a split legacy commune's registry
    centre in the new communes its station is not in)."""
    lg = reg.legacy.copy()
    seeds_all = gpd.GeoSeries(shapely.points(lg["lon"], lg["lat"]), crs=4326).to_crs(crs)
    xy = seeds_all.get_coordinates().to_numpy()
    pos = {c: i for i, c in enumerate(lg["commune_code"])}
    site_of: dict[tuple[str, str], tuple[float, float]] = {}
    if sites is not None:
        site_of = {(c, n): (g.x, g.y) for c, n, g in
                   zip(sites["legacy_commune_code"], sites["commune_code"], sites.geometry,
                       strict=True)}
    by_new = reg.mapping.groupby("new_code")["legacy_code"].apply(list)
    pieces: dict[str, list[shapely.Geometry]] = {c: [] for c in lg["commune_code"]}
    piece_rows = []  # (legacy_code, new_code, piece area, type) for population splits
    com_idx = com.set_index("commune_code")
    for new_code, members in by_new.items():
        poly = com_idx.geometry.get(new_code)
        if poly is None or poly.is_empty:
            continue
        members = sorted(members)
        seeds = np.array([site_of.get((m, new_code), xy[pos[m]]) for m in members], float)
        cells = _voronoi_in(seeds, poly)
        for m, cell in zip(members, cells, strict=True):
            cell = polygonal_part(cell)
            if not cell.is_empty:
                pieces[m].append(cell)
            piece_rows.append((m, new_code, cell.area / 1e6))
    geom = [_multi(shapely.unary_union(pieces[c])) if pieces[c] else shapely.MultiPolygon()
            for c in lg["commune_code"]]
    out = gpd.GeoDataFrame({
        "commune_code": lg["commune_code"].to_numpy(),
        "commune_name": lg["commune_name"].to_numpy(),
        "commune_type": lg["commune_type"].to_numpy(),
        "district_name": lg["district_name"].to_numpy(),
        "new_commune_code": lg["new_commune_code"].to_numpy(),
        "new_commune_codes": lg["new_commune_codes"].to_numpy(),
        "split": lg["split"].to_numpy(bool),
    }, geometry=geom, crs=crs)
    out["area_km2"] = out.geometry.area / 1e6
    base = com_idx["geometry_source"].iloc[0] if len(com_idx) else "unknown"
    out["geometry_source"] = ("estimate: the post-2025 polygon split among its pre-2025 communes "
                              "(Voronoi of their station sites)" if not base.startswith("estimate")
                              else "estimate: Voronoi cell of the registry centre inside an "
                                   "estimated post-2025 polygon")
    notes.append("pre-2025 commune polygons are estimates (post-2025 polygons split by Voronoi "
                 "of the station sites)")
    # Population: the given table, else each new commune's population split among its pieces.
    pr = pd.DataFrame(piece_rows, columns=["legacy_code", "new_code", "area_km2"])
    pr["type"] = pr["legacy_code"].map(lg.set_index("commune_code")["commune_type"])
    pr["w"] = estimate_weights(pr["area_km2"].to_numpy(), pr["type"].to_numpy())
    pr["w"] = pr["w"] * (pr["area_km2"] > 0)
    pr["share"] = pr["w"] / pr.groupby("new_code")["w"].transform("sum")
    pr["pop"] = pr["share"] * pr["new_code"].map(com_idx["population"])
    split_pop = pr.groupby("legacy_code")["pop"].sum(min_count=1)
    parent_src = pr.groupby("legacy_code")["new_code"].first().map(com_idx["population_source"])
    est = out["commune_code"].map(split_pop)
    est_src = out["commune_code"].map(parent_src).fillna("unknown")
    est_label = np.where(est.isna(), "unknown",
                         np.where(est_src.str.startswith("estimate"), ESTIMATE_NOTE,
                                  "estimate: the post-2025 commune's population split by type and"
                                  " area among its pre-2025 communes"))
    if legacy_population is not None:
        given = out["commune_code"].map(legacy_population)
        out["population"] = given.to_numpy()
        out["population_source"] = np.where(given.isna(), "unknown", label)
        missing = int(given.isna().sum())
        if missing:
            notes.append(f"{missing} pre-2025 commune has no population in {label} (unknown, "
                         f"not estimated)" if missing == 1 else
                         f"{missing} pre-2025 communes have no population in {label} (unknown, "
                         f"not estimated)")
    else:
        out["population"] = est.to_numpy()
        out["population_source"] = est_label
        notes.append("pre-2025 commune populations are estimates")
    return out


def _km(m: float) -> str:
    return f"{m / 1000:.1f} km" if m >= 1000 else f"{m:.0f} m"


def _station_sites(reg: ProvinceRegistry, com: gpd.GeoDataFrame, *, crs: CRS,
                   notes: list[str]) -> gpd.GeoDataFrame:
    """The site of each pre-2025 commune's station and the post-2025 commune it belongs to.

    The site is the registry centre of the pre-2025 commune. On real post-2025 polygons it is
    kept inside the station's post-2025 commune (the polygon it belongs to: the pre-2025
    pieces are themselves estimated from these sites): a centre outside it moves to the
    nearest point 50 m inside, or, when that is more than ``LONG_MOVE_M`` away (a centre that
    is wrong, often shared by several communes), is re-sited in the largest part of the
    commune away from the other stations (:func:`gis.inputs.stations.site_stations`). On
    estimated (Voronoi) polygons the centre is kept. A split commune's station belongs to the
    new commune its centre falls in, when one of them, else the registry's default.

    Returns
    -------
    GeoDataFrame
        ``legacy_commune_code``, ``commune_code``, ``moved_m``, ``location_source``; Point in
        ``crs``; rows in the order of ``reg.legacy``.
    """
    lg = reg.legacy
    pts = gpd.GeoSeries(shapely.points(lg["lon"], lg["lat"]), crs=4326).to_crs(crs)
    new_code = lg["new_commune_code"].to_numpy().copy()
    polys = com.set_index("commune_code").geometry
    splits = np.flatnonzero(lg["split"].to_numpy(bool))
    for i in splits:
        allowed = lg["new_commune_codes"].iloc[i].split(";")
        inside = [c for c in allowed if c in polys.index
                  and polys[c].contains(pts.iloc[i])]
        if inside:
            new_code[i] = inside[0]
    options = [lg["new_commune_codes"].iloc[i].split(";") if i in set(splits) else []
               for i in range(len(lg))]
    new_code, _ = communes_without_station(new_code, options,
                                           lg["new_commune_code"].to_numpy(), list(polys.index))
    source = np.full(len(lg), "estimate: registry centre of the pre-2025 commune (site not "
                     "published)", dtype=object)
    moved = np.zeros(len(lg))
    real = len(com) and not str(com["geometry_source"].iloc[0]).startswith("estimate")
    sites = pts
    if real:
        own = gpd.GeoSeries([polys.get(c) for c in new_code], crs=crs, index=pts.index)
        sites, moved, how = site_stations(pts, own)
        gap = shapely.distance(pts.to_numpy(), own.to_numpy())
        names = com.set_index("commune_code")["commune_name"]
        for i in np.flatnonzero(how != "kept"):
            where = f"{names.get(new_code[i], '')} ({new_code[i]})"
            if how[i] == "moved":
                source[i] = (f"estimate: registry centre of the pre-2025 commune, moved "
                             f"inside its post-2025 commune; the centre lay {_km(gap[i])} "
                             f"outside {where}: moved {_km(moved[i])} to 50 m inside the "
                             f"border")
            else:
                source[i] = (f"estimate: registry centre of the pre-2025 commune, re-sited "
                             f"inside its post-2025 commune; the centre lies {_km(gap[i])} "
                             f"outside {where} (more than {_km(LONG_MOVE_M)}: not a usable "
                             f"site): placed in the largest part of the commune away from its "
                             f"other stations, {_km(moved[i])} from the centre")
        n_moved, n_far = int((how == "moved").sum()), int((how == "re-sited").sum())
        if n_moved or n_far:
            notes.append(f"station sites: {n_moved} registry centres outside their post-2025 "
                         f"commune moved inside (up to "
                         f"{_km(moved[how == 'moved'].max() if n_moved else 0)}), {n_far} more "
                         f"than {_km(LONG_MOVE_M)} outside re-sited inside it")
    return gpd.GeoDataFrame({"legacy_commune_code": lg["commune_code"].to_numpy(),
                             "commune_code": new_code, "moved_m": moved,
                             "location_source": source},
                            geometry=np.asarray(sites.to_numpy()), crs=crs)


def _facilities_layer(reg: ProvinceRegistry, com: gpd.GeoDataFrame, legacy: gpd.GeoDataFrame,
                      *, crs: CRS, extra: gpd.GeoDataFrame | None,
                      sites: gpd.GeoDataFrame, notes: list[str]) -> gpd.GeoDataFrame:
    """One commune health station per pre-2025 commune at its site (:func:`_station_sites`),
    plus extras. An extra whose site is an estimate at the registry centre of a pre-2025
    commune whose station moved, moves with it."""
    lg = reg.legacy
    kind = {"Phường": "Trạm Y tế phường", "Thị trấn": "Trạm Y tế thị trấn",
            "Đặc khu": "Trạm Y tế đặc khu"}
    stations = gpd.GeoDataFrame({
        "facility_id": "TYT-" + lg["commune_code"].to_numpy(),
        "name": [f"{kind.get(t, 'Trạm Y tế xã')} {n}" for t, n in
                 zip(lg["commune_type"], lg["commune_name"], strict=True)],
        "tier": "station",
        "specialty": "primary care",
        "commune_code": sites["commune_code"].to_numpy(),
        "legacy_commune_code": lg["commune_code"].to_numpy(),
        "beds": np.nan, "doctors": np.nan, "nurses": np.nan,
        "status": "active",
        "location_source": sites["location_source"].to_numpy(),
        "source": "one commune health station per pre-2025 commune (registry: vietnamadminunits)",
        "note": "",
    }, geometry=sites.geometry.to_numpy(), crs=crs)
    parts = [stations]
    empty = sorted(set(com["commune_code"]) - set(stations["commune_code"]))
    if empty:
        parts.append(_stations_of_empty_communes(reg, com, empty, kind=kind, crs=crs))
        notes.append(f"stations of post-2025 communes that no former station belongs to, "
                     f"estimated at the commune's registry centre: {', '.join(empty)}")
    if extra is not None and len(extra):
        ex = extra.to_crs(crs).copy()
        ex = _follow_stations(ex, reg, sites, crs=crs)
        # Facilities placed by point: their post-2025 commune from the polygons.
        need = ex["commune_code"].fillna("") == ""
        if need.any():
            j = gpd.sjoin(ex[need][["geometry"]], com[["commune_code", "geometry"]],
                          predicate="within", how="left")
            j = j[~j.index.duplicated()]
            ex.loc[need, "commune_code"] = j["commune_code"].fillna("").to_numpy()
        clash = set(ex["facility_id"]) & set(stations["facility_id"])
        if clash:
            raise LayerError("facilities", [f"field 'facility_id': ids {', '.join(sorted(clash))} "
                                            "clash with the generated station ids (TYT-<code>);"
                                            " rename them"])
        parts.append(ex[stations.columns])
    return gpd.GeoDataFrame(pd.concat(parts, ignore_index=True), crs=crs)


def _stations_of_empty_communes(reg: ProvinceRegistry, com: gpd.GeoDataFrame, codes: list[str],
                                *, kind: dict[str, str], crs: CRS) -> gpd.GeoDataFrame:
    """An estimated station for each post-2025 commune in ``codes`` that no former station
    belongs to (none could be spared, :func:`gis.inputs.stations.communes_without_station`):
    at the registry centre of the post-2025 commune, kept inside its polygon as the former
    stations are (:func:`gis.inputs.stations.site_stations`). Id ``TYT-N<commune code>``."""
    new = reg.new.set_index("commune_code")
    polys = com.set_index("commune_code").geometry
    pts = gpd.GeoSeries(shapely.points(new.loc[codes, "lon"], new.loc[codes, "lat"]), crs=4326,
                        index=range(len(codes))).to_crs(crs)
    sites, moved, how = site_stations(pts, gpd.GeoSeries([polys[c] for c in codes], crs=crs,
                                                         index=pts.index))
    after = {"kept": "", "moved": "; moved inside it: {dist}",
             "re-sited": "; re-sited inside it: {dist}"}
    source = ["estimate: registry centre of the post-2025 commune, which no former station "
              "belongs to (site not published)" + after[h].format(dist=_km(m))
              for h, m in zip(how, moved, strict=True)]
    log.warning("%d post-2025 communes have no former station (%s): a station is estimated "
                "in each", len(codes), ", ".join(codes))
    return gpd.GeoDataFrame({
        "facility_id": [f"TYT-N{c}" for c in codes],
        "name": [f"{kind.get(t, 'Trạm Y tế xã')} {n}" for t, n in
                 zip(new.loc[codes, "commune_type"], new.loc[codes, "commune_name"],
                     strict=True)],
        "tier": "station", "specialty": "primary care", "commune_code": codes,
        "legacy_commune_code": "", "beds": np.nan, "doctors": np.nan, "nurses": np.nan,
        "status": "active", "location_source": source,
        "source": "estimate: a station for a post-2025 commune that no former station belongs to",
        "note": "",
    }, geometry=np.asarray(sites.to_numpy()), crs=crs)


def _follow_stations(ex: gpd.GeoDataFrame, reg: ProvinceRegistry, sites: gpd.GeoDataFrame, *,
                     crs: CRS) -> gpd.GeoDataFrame:
    """Facilities placed by estimate at the registry centre of a pre-2025 commune (within 1 m)
    whose station was moved: moved to the station's site, ``location_source`` says so."""
    moved = sites[sites["moved_m"] > 0].set_index("legacy_commune_code")
    if moved.empty or "legacy_commune_code" not in ex:
        return ex
    code = ex["legacy_commune_code"].fillna("").astype(str)
    est = ex["location_source"].fillna("").astype(str).str.startswith("estimate")
    cand = est & code.isin(moved.index)
    if not cand.any():
        return ex
    lg = reg.legacy.set_index("commune_code")
    c = code[cand]
    centre = gpd.GeoSeries(shapely.points(lg.loc[c, "lon"], lg.loc[c, "lat"]), crs=4326,
                           index=c.index).to_crs(crs)
    at_centre = shapely.distance(ex.geometry[cand].to_numpy(), centre.to_numpy()) < 1.0
    idx = c.index[at_centre]
    if len(idx):
        ex = ex.copy()
        ex.loc[idx, "geometry"] = moved.geometry.reindex(code[idx]).to_numpy()
        ex.loc[idx, "location_source"] = [
            f"{src}; moved with the station of that commune: {_km(moved.at[k, 'moved_m'])}"
            for src, k in zip(ex.loc[idx, "location_source"], code[idx], strict=True)]
    return ex
