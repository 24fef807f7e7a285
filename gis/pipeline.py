"""The main job: config -> layers -> analyses -> outputs.

:func:`prepare` reads and builds the province's layers (the only input step); :func:`run` runs
the analyses and writes every output into a temporary folder that replaces the output folder
only when all went well, so a failure never leaves half-written or mixed outputs behind.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from gis import __version__
from gis.analyses.access import run_access
from gis.analyses.capacity import (
    CapacityRun,
    ScaleUpRequest,
    TierCapacity,
    candidate_grid,
    capacity_norm,
    listed_candidates,
    merge_demand,
    run_capacity,
    scale_up_blocker,
    skip_scale_up,
    station_candidates,
    with_scale_up,
)
from gis.analyses.network import (
    SatelliteRequest,
    build_graph,
    facility_costs,
    run_network,
    skip_reason,
    specialties,
)
from gis.analyses.plans import (
    OPTIMISE_MODELS,
    PlansResult,
    official_plan,
    optimise_plan,
    run_plans,
)
from gis.errors import ConfigError, GisError, LayerError, PlanError, combine
from gis.inputs import basedata as B
from gis.inputs import hospitals as H
from gis.inputs import layers as L
from gis.inputs import readers as R
from gis.inputs import staffing as S
from gis.inputs.config import Config
from gis.inputs.neighbours import (
    candidate_neighbours,
    halo_facilities,
    halo_summary,
    province_outline,
    reach_m,
)
from gis.inputs.osm import RoadsSummary, download_extract, roads_summary
from gis.inputs.plans import Plan, new_sites, plan_set_problems
from gis.inputs.rasters import LandCover, PopulationGrid
from gis.inputs.registry import ProvinceRegistry, find_province, load_registry
from gis.model.costs import CostTable
from gis.model.roads import class_speeds, road_problems
from gis.model.travel import (
    TravelModel,
    extend_costs,
    friction_model,
    road_model,
    straight_model,
)
from gis.outputs import capacity as capacity_out
from gis.outputs import files, maps, qgis, report
from gis.outputs.editor import build_editor_data, write_plan_editor
from gis.outputs.files import write_json
from gis.outputs.geopackage import write_geopackage
from gis.outputs.graphml import write_graphml
from gis.outputs.tables import write_csv, write_exchange

log = logging.getLogger(__name__)

# step(label, level=1) returns a context manager shown as progress; level 2 for sub-steps
StepFn = Callable[..., Any]


@dataclass
class Prepared:
    """A province's registry and layers, ready for the analyses."""

    config: Config
    registry: ProvinceRegistry
    layers: L.Layers
    sources: dict[str, str]
    roads: gpd.GeoDataFrame | None = None
    referrals: Any = None
    satellite_links: Any = None
    raster: PopulationGrid | None = None
    landcover: LandCover | None = None
    travel: dict[str, TravelModel] = field(default_factory=dict)   # by mode, built on use
    halo: gpd.GeoDataFrame | None = None     # neighbouring provinces' facilities in reach
    staffing: list[S.Spread] = field(default_factory=list)


@dataclass
class RunResult:
    """What :func:`run` produced: the output folder, its files and the summary."""

    out_dir: Path
    files: list[Path]
    summary: dict[str, Any]
    layers: dict[str, gpd.GeoDataFrame] = field(default_factory=dict)
    prep: Prepared | None = None
    plans: PlansResult | None = None
    language: str = "vi"


def _attempt(errors: list[GisError], fn: Callable[[], Any]) -> Any:
    """``fn()``, or None with its error kept in ``errors`` (so the other inputs are still read
    and every problem is reported at once)."""
    try:
        return fn()
    except GisError as exc:
        errors.append(exc)
        return None


BASE_POPULATION_LABEL = ("2025 population (national reorganisation portal "
                         "sapnhap.bando.com.vn; base data)")
BASE_CENSUS_LABEL = "2019 census (General Statistics Office; base data)"
WORLDPOP_NOTE = ("population inside each commune placed by WorldPop 2020 1 km (modelled: "
                 "dasymetric, pixels split by area; commune totals exact)")


def _lonlat_box(gdf: gpd.GeoDataFrame, margin_deg: float = 0.02
                ) -> tuple[float, float, float, float]:
    x0, y0, x1, y1 = gdf.to_crs(4326).total_bounds
    return _widened((x0, y0, x1, y1), margin_deg)


#: How far the window read from a user's population raster reaches past the province's box
#: (degrees): commune polygons reach a little past the registry's centres and boxes.
RASTER_MARGIN_DEG = 0.1


def _widened(box: tuple[float, float, float, float], margin_deg: float
             ) -> tuple[float, float, float, float]:
    return (box[0] - margin_deg, box[1] - margin_deg, box[2] + margin_deg, box[3] + margin_deg)


def _within(inner: tuple[float, ...], outer: tuple[float, ...]) -> bool:
    return (inner[0] >= outer[0] and inner[1] >= outer[1] and inner[2] <= outer[2]
            and inner[3] <= outer[3])


def _union(a: tuple[float, ...], b: tuple[float, ...]) -> tuple[float, float, float, float]:
    return (min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3]))


def _hospitals(cfg: Config, reg: ProvinceRegistry, crs, facilities: gpd.GeoDataFrame | None,
               sources: dict[str, str], notes: list[str]) -> gpd.GeoDataFrame | None:
    """The hospital register: the configured layer (``facilities``, already read; its
    estimated sites moved to matching OSM hospitals when the base data is on), or, with the
    base data and no register of the province, one built from the OSM hospitals and the former
    district seats."""
    lc = cfg.layers
    base = cfg.data.base
    if facilities is not None and (p := cfg.path(lc.facilities)):
        if base and len(facilities):
            matches = H.match_register(facilities, B.osm_hospitals(reg.province.code), reg)
            facilities = H.apply_matches(facilities, matches)
        if (facilities["tier"] != "central").any():
            sources["facilities"] = str(p)
            loc = facilities["location_source"].astype(str)
            osm = int(loc.str.startswith("OpenStreetMap").sum())
            if osm:
                sources["hospital sites"] = B.attribution_of("osm")
            notes.append(f"hospital sites of {p.name}: {osm} of {len(facilities)} from "
                         f"OpenStreetMap, {int(loc.str.startswith('estimate').sum())} placed by "
                         f"estimate")
            return facilities
        if not base:
            sources["facilities"] = f"{p} (no facility of {reg.province.short})"
            return facilities
        notes.append(f"{p.name} holds no facility of {reg.province.short}: hospitals from the "
                     f"base data (OpenStreetMap and the former district seats)")
    if not base:
        return facilities
    osm = H.register_from_osm(reg, B.osm_hospitals(reg.province.code), crs=crs)
    if facilities is not None and len(facilities):
        osm = gpd.GeoDataFrame(pd.concat([facilities.to_crs(crs), osm], ignore_index=True),
                               crs=crs)
    est = osm["location_source"].str.startswith("estimate")
    n_osm, n_est = int((~est).sum()), int(est.sum())
    sources["facilities"] = (f"hospital register built from the base data: OpenStreetMap "
                             f"hospitals (tier read from the name): {n_osm}; medical centres of "
                             f"former districts placed by estimate: {n_est}; "
                             f"{B.attribution_of('osm')}")
    notes.append(f"hospital register of {reg.province.short} built from the base data: "
                 f"OpenStreetMap hospitals (tier read from the name): {n_osm}; medical centres "
                 f"of former districts without one, placed by estimate at the district seat: "
                 f"{n_est}")
    return osm


def prepare(cfg: Config) -> Prepared:
    """Read, validate and build the layers of the configured province.

    With ``data.base`` (the default) every input the ``layers.*`` keys leave empty comes from
    the built-in base data (:mod:`gis.inputs.basedata`): the post-2025 commune polygons and
    2025 population, the 2019 census of the pre-2025 communes, WorldPop 2020 for the
    distribution inside communes, and the hospitals (the register matched to OSM, or a register
    built from OSM). Without it, what no layer gives is estimated from the registry.

    Every input file is read even when an earlier one failed: one error lists the problems of
    all of them (:class:`gis.errors.InputErrors` when several fail).
    """
    reg = load_registry(cfg.province.name)
    code = reg.province.code
    base = cfg.data.base
    if base:
        reg = reg.with_extent(B.province_bounds(code))
    crs = L.working_crs(reg, cfg.province.crs)
    lc = cfg.layers
    sources: dict[str, str] = {"registry": "vietnamadminunits (communes before and after "
                                           "1 July 2025, old->new mapping)"}
    notes: list[str] = []
    errors: list[GisError] = []
    read: dict[str, Any] = {}
    # the raster's window: the province's box, widened (commune polygons reach past the
    # registry's centres and boxes a little)
    window = _widened(reg.bounds(), RASTER_MARGIN_DEG)
    readers: dict[str, tuple[str, Callable[[Path], Any]]] = {
        "communes": (lc.communes, lambda p: R.read_communes(
            p, reg, crs=crs, layer=lc.communes_layer or None,
            population_field=lc.communes_population_field,
            allow_missing_population=bool(cfg.province.population_total))),
        "legacy_population": (lc.legacy_population, lambda p: R.read_population_table(
            p, reg, population_field=lc.legacy_population_field)),
        "facilities": (lc.facilities, lambda p: R.read_facilities(p, reg, crs=crs)),
        "referrals": (lc.referrals, R.read_referrals),
        "satellite_links": (lc.satellite_links, R.read_satellite_links),
        "staffing": (lc.staffing, R.read_staffing),
        "population_raster": (lc.population_raster, lambda p: R.read_population_raster(
            p, bounds_lonlat=window, province=reg.province.short)),
    }
    for key, (value, reader) in readers.items():
        if p := cfg.path(value):
            read[key] = _attempt(errors, lambda p=p, reader=reader: reader(p))
            sources[key] = str(p)
    if errors:
        raise combine(errors)
    communes = read.get("communes")
    if communes is None and base:
        communes = R.communes_from_frame(
            B.communes(code), reg, crs=crs, source=f"base data {B.COMMUNES_FILE}",
            population_label=BASE_POPULATION_LABEL,
            geometry_label="base data: commune polygons (gis.vn via vietnam-3d-map)")
        sources["communes"] = B.attribution_of("communes")
    legacy_pop = read.get("legacy_population")
    legacy_label = (f"table: {Path(lc.legacy_population).name}, "
                    f"field {lc.legacy_population_field}")
    if legacy_pop is None and base:
        census = B.census_2019(code)
        legacy_pop = pd.Series(census["population_2019"].to_numpy(float),
                               index=census["commune_code"].to_numpy(), name="population")
        legacy_label = BASE_CENSUS_LABEL
        sources["legacy_population"] = B.attribution_of("census")
    facilities = _hospitals(cfg, reg, crs, read.get("facilities"), sources, notes)
    total = cfg.province.population_total or None
    layers = L.build_layers(reg, crs=crs, communes=communes, legacy_population=legacy_pop,
                            population_total=total, facilities=facilities,
                            legacy_population_label=legacy_label)
    raster = read.get("population_raster")
    box = _lonlat_box(layers.communes)
    if raster is not None:
        p = cfg.path(lc.population_raster)
        if not _within(box, window):  # polygons reaching past the window read: read theirs
            raster = R.read_population_raster(p, bounds_lonlat=_union(box, window),
                                              province=reg.province.short)
        layers.notes.append(f"population inside each commune placed by the raster {p.name} "
                            f"(modelled: dasymetric; commune totals exact)")
    elif base:
        raster = B.worldpop_grid(*box)
        sources["population_raster"] = B.attribution_of("worldpop")
        layers.notes.append(WORLDPOP_NOTE)
    layers.notes.extend(notes)
    # roads and land cover once the province's polygons are built: an .osm.pbf is cut to
    # them (real or estimated), a land-cover raster read as the window covering them
    if p := cfg.path(lc.roads):
        read["roads"] = _attempt(errors, lambda p=p: R.read_roads(
            p, crs=crs, area=layers.communes, margin_m=roads_margin_m(cfg)))
        sources["roads"] = str(p) + (" (© OpenStreetMap contributors, ODbL)"
                                     if R.is_pbf(p) else "")
    if p := cfg.path(lc.landcover):
        read["landcover"] = _attempt(errors, lambda p=p: R.read_landcover(
            p, bounds=tuple(layers.communes.total_bounds), crs=crs,
            margin_m=2 * cfg.travel.friction.cell_size_m))
        sources["landcover"] = str(p)
    if errors:
        raise combine(errors)
    layers.facilities, spreads = staffing_of(cfg, layers, read.get("staffing"),
                                             source=sources.get("staffing"))
    return Prepared(config=cfg, registry=reg, layers=layers, sources=sources,
                    roads=read.get("roads"), referrals=read.get("referrals"),
                    satellite_links=read.get("satellite_links"),
                    raster=raster, landcover=read.get("landcover"),
                    staffing=spreads)


def staffing_of(cfg: Config, layers: L.Layers, table: pd.DataFrame | None, *,
                source: str | None) -> tuple[gpd.GeoDataFrame, list[S.Spread]]:
    """The facilities with their staff and beds: the figures of the staffing ``table`` (read
    from ``source``) where given, then the province totals of ``[capacity.totals]`` spread
    over the facilities whose figure is unknown; the spreads' labels join the layers' notes."""
    fac = S.with_sources(layers.facilities)
    if table is not None:
        fac = S.apply_staffing(fac, table, source=str(source))
    totals = cfg.capacity.totals
    fac, spreads = S.spread_totals(fac, totals=totals.values, rule=totals.spread,
                                   max_per_commune=totals.max_per_commune,
                                   communes_legacy=layers.communes_legacy,
                                   communes=layers.communes,
                                   source=f"{cfg.source}: [capacity.totals]")
    layers.notes.extend(sp.label for sp in spreads if sp.facilities)
    return fac, spreads


def fastest_road_kmh(cfg: Config, modes: Sequence[str] | None = None) -> float:
    """The fastest road-class speed of the configured modes (default: the travel and transfer
    modes): no trip on the road or friction model goes faster."""
    t = cfg.travel
    modes = modes or sorted({t.mode, cfg.network.transfer_mode})
    return max(max(class_speeds(m, t.road_speed_kmh).values()) for m in modes)


def roads_margin_m(cfg: Config) -> float:
    """Metres of road kept around the province when roads are read from an OSM extract:
    ``travel.roads.extract_margin_km``, or ("auto") half the cut-off at the fastest road
    speed of the travel and transfer modes (a trip that starts and ends in the province
    within the cut-off never goes farther out); the whole cut-off at that speed when
    ``access.cross_border = true`` (trips to facilities of neighbouring provinces end out
    there, up to :func:`halo_reach_m`)."""
    t = cfg.travel
    if t.roads.extract_margin_km is not None:
        return t.roads.extract_margin_km * 1000.0
    share = 1.0 if cfg.access.cross_border is True else 0.5
    return t.cutoff_min * share / 60.0 * fastest_road_kmh(cfg) * 1000.0


def travel_model(prep: Prepared, mode: str | None = None) -> TravelModel:
    """The configured travel model (``travel.model``) for ``mode`` (default ``travel.mode``),
    built once per mode: the road graph or the friction surface of that mode."""
    cfg = prep.config
    t = cfg.travel
    mode = mode or t.mode
    if mode in prep.travel:
        return prep.travel[mode]
    line = {"mode": mode, "speed_kmh": t.speed_kmh[mode], "detour_factor": t.detour_factor}
    if t.model == "straight":
        model = straight_model(**line)
    elif t.model == "roads":
        if prep.roads is None:
            msg = (f"{cfg.source}: travel.model = \"roads\" needs layers.roads (a line layer "
                   f"or an .osm.pbf extract)")
            raise ConfigError(msg)
        r = t.roads
        model = road_model(prep.roads, **line,
                           class_speeds_kmh=class_speeds(mode, t.road_speed_kmh),
                           ferry_speed_kmh=r.ferry_speed_kmh, ferry_wait_min=r.ferry_wait_min,
                           offroad_speed_kmh=r.offroad_speed_kmh, snap_max_m=r.snap_max_m,
                           source=prep.sources.get("roads", ""))
    else:
        f = t.friction
        lc = prep.landcover
        model = friction_model(
            tuple(prep.layers.communes.total_bounds), crs=prep.layers.crs, **line,
            cell_size_m=f.cell_size_m, roads=prep.roads,
            class_speeds_kmh=class_speeds(mode, t.road_speed_kmh),
            offroad_speed_kmh=f.offroad_speed_kmh, ferry_speed_kmh=t.roads.ferry_speed_kmh,
            landcover=None if lc is None else lc.values,
            landcover_transform=None if lc is None else lc.transform,
            landcover_crs=None if lc is None else lc.crs,
            landcover_speeds_kmh=None if lc is None else {
                (k if k == "default" else int(k)): v
                for k, v in f.landcover_speeds_kmh.items()},
            engine=f.engine,
            source=", ".join(v for k, v in prep.sources.items() if k in ("roads", "landcover")))
    prep.travel[mode] = model
    return model


def travel_note(model: TravelModel) -> str:
    """The sentence maps and reports show about travel times."""
    if model.is_estimate:
        return f"Travel times (estimates): {model.label()}"
    return f"Travel times (computed): {model.label()}"


def validate(cfg: Config, *, stages: Sequence[str] = (), plan_files: Sequence[Path] = (),
             prepared: Prepared | None = None) -> tuple[Prepared, list[Plan]]:
    """Every input and the config checked together, before any analysis runs.

    Reads and builds the layers (:func:`prepare`; ``prepared`` when given, as a national run
    prepares them first), reads the plan files against them, and for
    the stages asked for checks what the analyses would otherwise find only after their work:
    the road layer's connectivity, the satellite specialties, the referral and satellite
    tables against the facilities and the referral network today and after the official plan.

    Returns
    -------
    Prepared, list of Plan

    Raises
    ------
    GisError
        One error listing the problems of every input (:class:`gis.errors.InputErrors` when
        several inputs fail).
    """
    prep = prepared if prepared is not None else prepare(cfg)
    errors: list[GisError] = []
    plans = [_attempt(errors, lambda p=p: R.read_plan(p, prep.layers.facilities, prep.registry))
             for p in plan_files]
    for p in plan_files:
        prep.sources[f"plan {Path(p).name}"] = str(p)
    if not errors and plans:
        problems = plan_set_problems(plans, [str(p) for p in plan_files])
        if problems:
            errors.append(PlanError("plans", problems))
    if prep.roads is not None and cfg.travel.model == "roads":
        _attempt(errors, lambda: check_roads(prep))
    if "network" in stages:
        _attempt(errors, lambda: check_network_config(prep))
        _attempt(errors, lambda: check_network(prep))
    if errors:
        raise combine(errors)
    return prep, plans


def check_roads(prep: Prepared) -> None:
    """The road layer joins the facilities: most of them on one connected piece, near a road
    (else :class:`LayerError` on the roads file, blaming the roads rather than the cut-off)."""
    fac = prep.layers.facilities
    local = fac[(fac["status"] == "active") & (fac["tier"] != "central")]
    problems, notes = road_problems(prep.roads, local.geometry.get_coordinates().to_numpy(),
                                    local["facility_id"].astype(str).to_numpy())
    for note in notes:
        log.warning("%s: %s", prep.sources.get("roads", "roads"), note)
    if problems:
        raise LayerError(prep.sources.get("roads", "roads"), problems)


def check_network(prep: Prepared) -> None:
    """The referral and satellite network of the facilities (today and after the official plan)
    built from the tables, before any analysis: unknown ids in the referral or satellite
    tables, referral cycles, stations without a regional hospital (:class:`NetworkError`
    naming the tables' files). Nothing to check when the facilities hold no hospitals (the
    network stage is then skipped, saying why)."""
    lay = prep.layers
    if skip_reason(lay.facilities) is not None:
        return
    t = prep.config.travel
    fcosts = facility_costs(lay.facilities,
                            travel=travel_model(prep, prep.config.network.transfer_mode))
    files_used = [f"{k} {prep.sources[k]}" for k in ("referrals", "satellite_links")
                  if k in prep.sources]
    label = "referral network" + (f" (from {'; '.join(files_used)})" if files_used else "")
    common = dict(facility_costs=fcosts, cutoff_min=t.cutoff_min, referrals=prep.referrals,
                  satellite_links=prep.satellite_links, strict=True,
                  refer_beyond_cutoff=True)
    build_graph(lay.facilities, **common, name=label)
    plan = official_plan(lay.facilities, lay.communes, prep.registry)
    build_graph(lay.facilities, **common, plan=plan, name=f"{label}, after the plan '{plan.name}'")


def config_for_province(cfg: Config, code: str) -> Config:
    """The configuration of province ``code`` in a run configured by ``cfg`` (``cfg`` itself
    for the configured province, else :meth:`Config.with_province`): how national runs and
    the cross-border halo get each province's configuration."""
    if find_province(cfg.province.name).code == code:
        return cfg
    return cfg.with_province(code)


def cross_border_enabled(cfg: Config, *, national: bool) -> bool:
    """Whether a run uses the cross-border halo: ``access.cross_border`` of the config, or
    when it is "auto", yes for a national run and no for a single province."""
    on = cfg.access.cross_border
    return national if on is None else bool(on)


def halo_reach_m(cfg: Config) -> float:
    """Radius of the cross-border halo: what the configured travel model reaches within its
    cut-off (straight line: cut-off x speed / detour factor; roads and friction: cut-off x
    the fastest road speed of the travel mode, a bound: a facility in the halo that the
    roads reach only beyond the cut-off counts for nothing)."""
    t = cfg.travel
    if t.model != "straight":
        return reach_m(cutoff_min=t.cutoff_min, speed_kmh=fastest_road_kmh(cfg, [t.mode]),
                       detour_factor=1.0)
    return reach_m(cutoff_min=t.cutoff_min, speed_kmh=t.speed_kmh[t.mode],
                   detour_factor=t.detour_factor)


def halo_source(prep: Prepared) -> gpd.GeoDataFrame:
    """The province's active facilities as a neighbour sees them: with ``province_code``, in
    the province's working CRS (a neighbour reprojects them into its own)."""
    fac = prep.layers.facilities
    out = fac[fac["status"] == "active"].copy()
    out["province_code"] = prep.registry.province.code
    return out.reset_index(drop=True)


def cross_border_halo(prep: Prepared, neighbours: Mapping[str, gpd.GeoDataFrame] | None = None,
                      ) -> gpd.GeoDataFrame:
    """Facilities of other provinces within :func:`halo_reach_m` of the province's outline.

    ``neighbours`` maps province codes to their :func:`halo_source`; when None, the candidate
    neighbours (:func:`gis.inputs.neighbours.candidate_neighbours`) are prepared here with
    :func:`config_for_province`, as a national run prepares them.
    """
    code = prep.registry.province.code
    radius = halo_reach_m(prep.config)
    if neighbours is None:
        neighbours = {c: halo_source(prepare(config_for_province(prep.config, c)))
                      for c in candidate_neighbours(code, radius)}
    frames = [f for c, f in sorted(neighbours.items()) if c != code]
    return halo_facilities(province_outline(prep.layers.communes), frames,
                           crs=prep.layers.crs, radius_m=radius,
                           own_ids=prep.layers.facilities["facility_id"])


def _population_source(gdf: gpd.GeoDataFrame) -> str:
    sources = sorted(set(gdf["population_source"]))
    return sources[0] if len(sources) == 1 else "mixed: " + " | ".join(sources)


def base_summary(prep: Prepared) -> dict[str, Any]:
    """Counts, population and sources of the province's layers."""
    lay = prep.layers
    fac = lay.facilities
    active = fac[fac["status"] == "active"]
    reg = prep.registry
    com_pop = lay.communes["population"]
    leg_pop = lay.communes_legacy["population"]
    return {
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "gis_version": __version__,
        "province": {"code": reg.province.code, "name": reg.province.name,
                     "short_name": reg.province.short, "crs": lay.crs.to_string()},
        "counts": {
            "legacy_communes": int(len(lay.communes_legacy)),
            "legacy_communes_split": int(lay.communes_legacy["split"].sum()),
            "new_communes": int(len(lay.communes)),
            "stations": int((active["tier"] == "station").sum()),
            "hospitals": int(active["tier"].isin(["central", "provincial", "regional"]).sum()),
            "hospitals_by_tier": {t: int((active["tier"] == t).sum())
                                  for t in ("central", "provincial", "regional")},
            "facilities_ended": int((fac["status"] == "ended").sum()),
        },
        "population": {
            "total": float(com_pop.sum()) if com_pop.notna().any() else None,
            "source": _population_source(lay.communes),
            "is_estimate": bool(lay.communes["population_source"].str.startswith("estimate").any()),
            "legacy_total": float(leg_pop.sum()) if leg_pop.notna().any() else None,
            "legacy_source": _population_source(lay.communes_legacy),
            "legacy_unknown": int(leg_pop.isna().sum()),
            "distribution": (f"modelled: dasymetric by {prep.raster.name} inside each commune "
                             f"(commune totals exact)" if prep.raster is not None else
                             "modelled: by area inside each commune (commune totals exact)"),
        },
        "estimates": list(lay.notes),
        "sources": prep.sources,
        "staffing": {
            "known": {f: {t: int(active.loc[active["tier"] == t, f].notna().sum())
                          for t in ("station", "regional", "provincial", "central")}
                      for f in S.FIELDS},
            "spread": [sp.as_dict() for sp in prep.staffing],
        },
    }


def _network_edges(layers: dict[str, gpd.GeoDataFrame]) -> gpd.GeoDataFrame | None:
    """Referral, satellite and proposed satellite links in one layer for the network map
    (column ``kind`` tells them apart)."""
    import pandas as pd

    parts = [layers[k] for k in ("referral_edges", "satellite_edges", "satellite_proposals")
             if k in layers and not layers[k].empty]
    if not parts:
        return None
    return gpd.GeoDataFrame(pd.concat(parts, ignore_index=True), geometry="geometry",
                            crs=parts[0].crs)


def plan_views(layers: dict[str, gpd.GeoDataFrame], summary: dict[str, Any]) -> list[dict]:
    """The evaluated plans with their layers, for the plan map and the QGIS project: one dict
    per plan of ``summary["plans"]["plans"]`` with ``name``, ``kind``, ``slug``, ``figures``
    (its row of the scenario table) and the layers ``stations``, ``losing_access``,
    ``communes``."""
    plans = summary.get("plans") or {}
    rows = {r["scenario"]: r for r in plans.get("scenarios") or []}
    out = []
    for item in plans.get("plans") or []:
        lay = item.get("layers", {})
        out.append({"name": item["scenario"], "kind": item.get("kind", "user"),
                    "slug": item.get("slug", ""), "figures": rows.get(item["scenario"], {}),
                    "summary": item,
                    **{k: layers.get(v) for k, v in lay.items()}})
    return out


def write_outputs(folder: Path, prep: Prepared, layers: dict[str, gpd.GeoDataFrame],
                  summary: dict[str, Any], *, offline: bool = False,
                  lang: str | None = None) -> dict[str, Path]:
    """Write the HTML maps, the GeoPackage with its QGIS project, the report and summary.json.

    ``layers`` maps GeoPackage layer names to layers; the known names (communes_2025,
    communes_legacy, facilities, demand_cells, coverage_communes, underserved, plan_stations,
    losing_access, referral_edges, hubs, plan_<slug>_stations, ...) get their maps and QGIS
    styles. ``lang`` ("vi" or "en"; default the config's ``output.language``) is the language
    of every text written; ``offline`` leaves the basemap out (the maps never need internet for
    anything else: Leaflet is inlined).
    """

    province = prep.registry.province
    cfg = prep.config
    lang = lang or cfg.output.language
    name = province.key
    sources = list(prep.sources.values())
    notes = list(summary.get("estimates", prep.layers.notes))
    thresholds = {k: list(v) for k, v in cfg.access.thresholds_min.items()}
    time_fields = {t: f"{t}_time_min" for t in ("station", "regional", "provincial")}
    views = plan_views(layers, summary)
    written = maps.write_maps(
        folder, province=province.short,
        communes=layers.get("communes_2025"), communes_legacy=layers.get("communes_legacy"),
        facilities=layers.get("facilities"), cells=layers.get("demand_cells"),
        coverage=layers.get("coverage_communes"), underserved=layers.get("underserved"),
        plan=layers.get("plan_stations"), losing_access=layers.get("losing_access"),
        plans=views or None, plan_name=next((v["name"] for v in views if v["kind"] == "user"),
                                            ""),
        edges=_network_edges(layers), hubs=layers.get("hubs"), load_label="people behind",
        time_fields={k: v for k, v in time_fields.items()
                     if "demand_cells" in layers and v in layers["demand_cells"]} or None,
        thresholds_min=thresholds, sources=sources, estimate_notes=notes, offline=offline,
        lang=lang)
    cap_map = capacity_out.write_capacity_map(folder, layers, summary, province=province.short,
                                              sources=sources, estimate_notes=notes,
                                              offline=offline, lang=lang)
    if cap_map is not None:
        written["capacity"] = cap_map
    files.fault_point("writing")  # test hook: the maps written, the rest not yet
    out = qgis.write_qgis_project(folder, layers, name=name, province=province.name,
                                  time_fields=time_fields, thresholds_min=thresholds,
                                  plans=views, lang=lang, sources=sources,
                                  styles=capacity_out.qgis_styles)
    summary.setdefault("outputs", {})
    summary["outputs"].update({
        "maps": {k: p.name for k, p in written.items()},
        "geopackage": out.geopackage.name, "qgis_project": out.project.name,
        "report": "report.html", "language": lang,
    })
    rep = report.write_report(folder, summary, maps=written, lang=lang,
                              sections=capacity_out.report_sections(summary, lang=lang))
    write_json(summary, folder / "summary.json")
    return {**written, "geopackage": out.geopackage, "qgis_project": out.project, **rep}


STAGES = ("access", "plans", "network", "capacity")


def run_access_stage(prep: Prepared):
    """Demand, travel costs and access metrics with the configured model; None when the
    population is unknown."""

    lay = prep.layers
    cfg = prep.config
    if lay.communes["population"].isna().any():
        log.warning("population unknown: access analyses skipped")
        return None
    t = cfg.travel
    th = cfg.access.thresholds_min
    return run_access(
        lay.communes, lay.facilities, legacy=lay.communes_legacy,
        cell_size_m=cfg.demand.cell_size_m, speed_kmh=t.speed_kmh[t.mode],
        detour_factor=t.detour_factor, cutoff_min=t.cutoff_min, thresholds_min=th,
        underserved_min={tier: v[len(v) // 2] for tier, v in th.items()
                         if tier in ("station", "regional")},
        catchment_min=cfg.access.e2sfca.catchment_min, decay=cfg.access.e2sfca.decay,
        doctors_per_10k=cfg.targets.doctors_per_10k, beds_per_10k=cfg.targets.beds_per_10k,
        doctors_per_station=cfg.targets.doctors_per_station, travel=travel_model(prep),
        raster=prep.raster, halo=prep.halo)


def station_thresholds(cfg: Config) -> tuple[float, ...]:
    """The station thresholds of the config (minutes), used by the plan scenarios."""
    return tuple(cfg.access.thresholds_min.get("station", (15.0, 30.0, 60.0)))


def read_plans(prep: Prepared, plan_files: tuple[Path, ...]) -> list:
    """Read and validate plan files (CSV or TOML) against the province's facilities."""

    out = []
    for p in plan_files:
        out.append(R.read_plan(p, prep.layers.facilities, prep.registry))
        prep.sources[f"plan {Path(p).name}"] = str(p)
    return out


def stage_costs(acc, *, full_table: bool = False):
    """The costs the plans, network and capacity stages take: the model answering each
    analysis with the table it needs (``acc.cost_model``), or with ``full_table`` the table of
    every pair within the cut-off (same figures; for checks and for analyses that need every
    pair)."""
    return acc.costs if full_table else acc.cost_model


def plan_costs(prep: Prepared, acc, plans: Sequence[Plan], *, full_table: bool = False):
    """The access costs (:func:`stage_costs`) plus demand -> the new sites of ``plans`` by the
    same travel model and cut-off (:func:`gis.model.travel.extend_costs`, as the network stage
    does); the costs themselves when no plan has a new site."""
    costs = stage_costs(acc, full_table=full_table)
    sites = new_sites(list(plans), prep.layers.facilities.crs)
    if sites.empty:
        return costs
    return extend_costs(costs, acc.demand, sites, travel=travel_model(prep))


def run_plans_stage(prep: Prepared, acc, *, optimise: bool = True, extra_plans: list = (),
                    step: StepFn | None = None, full_table: bool = False,
                    time_limit_s: float | None = None):
    """The reform's scenarios and the best alternatives, evaluated on the access demand, plus
    ``extra_plans`` (see :func:`read_plans`; their new sites are added to the costs by the
    configured travel model); ``step(label)`` wraps each model and each evaluation;
    ``time_limit_s`` per location model (default: :func:`gis.analyses.plans.run_plans`'s)."""

    cfg = prep.config
    th = station_thresholds(cfg)
    lay = prep.layers
    return run_plans(lay.facilities, lay.communes, prep.registry, demand=acc.demand,
                     costs=plan_costs(prep, acc, list(extra_plans), full_table=full_table),
                     thresholds_min=th,
                     doctors_per_station=cfg.targets.doctors_per_station,
                     cover_min=th[len(th) // 2], optimise=optimise, extra_plans=list(extra_plans),
                     step=step, time_limit_s=time_limit_s)


def _offered_specialties(prep: Prepared) -> set[str]:
    """Specialties some active facility offers (field specialty) or a satellite link carries."""

    fac = prep.layers.facilities
    out: set[str] = set()
    for text in fac.loc[fac["status"] == "active", "specialty"]:
        out |= specialties(text)
    if prep.satellite_links is not None and "specialty" in prep.satellite_links:
        for text in prep.satellite_links["specialty"]:
            out |= specialties(text)
    return out


def check_network_config(prep: Prepared) -> None:
    """Every configured satellite specialty is offered by some facility (else ConfigError)."""

    cfg = prep.config
    missing = [sp for sp in cfg.network.satellite_specialties
               if sp.strip().lower() not in _offered_specialties(prep)]
    if missing:
        msg = (f"{cfg.source}: network.satellite_specialties: no active facility offers "
               f"{', '.join(map(repr, missing))}; use specialties of the facilities layer "
               f"(field specialty) or of the satellite links, or []")
        raise ConfigError(msg)


def run_network_stage(prep: Prepared, acc, *, plan=None, full_table: bool = False):
    """The referral and satellite-hospital network on the access demand, before and after
    ``plan``. Returns ``(NetworkResult, None)``, or ``(None, reason)`` when the facilities
    hold no hospitals."""

    lay = prep.layers
    cfg = prep.config
    why = skip_reason(lay.facilities)
    if why is not None:
        log.warning("network skipped: %s", why)
        return None, why
    t = cfg.travel
    net_cfg = cfg.network
    check_network_config(prep)
    requests = [SatelliteRequest(specialty=sp, k=net_cfg.satellite_k,
                                 within_min=net_cfg.satellite_time_min)
                for sp in net_cfg.satellite_specialties]
    net = run_network(
        lay.facilities, lay.communes, demand=acc.demand,
        costs=stage_costs(acc, full_table=full_table),
        cutoff_min=t.cutoff_min, thresholds_min=cfg.access.thresholds_min,
        beds_per_10k=cfg.targets.beds_per_10k, referrals=prep.referrals,
        satellite_links=prep.satellite_links, plan=plan,
        travel=travel_model(prep, net_cfg.transfer_mode), demand_travel=travel_model(prep),
        satellite_requests=requests, refer_beyond_cutoff=True)
    net.summary["travel_model"]["transfer_mode"] = net_cfg.transfer_mode
    return net, None


def capacity_tiers(prep: Prepared, population: float) -> list[TierCapacity]:
    """The capacity of each configured tier: time limit, basis and norm (configured, or
    derived from the targets: :func:`gis.analyses.capacity.capacity_norm`)."""
    cfg = prep.config
    cap = cfg.capacity
    tg = cfg.targets
    specs = []
    for tier in cap.tiers:
        basis = cap.basis[tier]
        configured = {"doctors": cap.people_per_doctor, "beds": cap.people_per_bed,
                      "norm": cap.people_per_facility}[basis].get(tier)
        value, source = capacity_norm(
            tier, basis, configured=configured, population=population,
            communes=len(prep.layers.communes), doctors_per_station=tg.doctors_per_station,
            doctors_per_10k=tg.doctors_per_10k, beds_per_10k=tg.beds_per_10k)
        specs.append(TierCapacity(tier=tier, max_time_min=cap.max_time_min[tier], basis=basis,
                                  people_per_unit=value, norm_source=source))
    return specs


def candidate_costs(prep: Prepared, origins_xy: np.ndarray, origin_ids: np.ndarray,
                    sites_xy: np.ndarray, site_ids: np.ndarray, *,
                    cutoff_min: float) -> CostTable:
    """Demand points -> candidate sites with the run's travel model (:func:`travel_model`:
    straight line, roads or friction surface)."""
    costs, _ = travel_model(prep).costs(np.asarray(origins_xy, float), sites_xy,
                                        cutoff_min=cutoff_min, origin_ids=origin_ids,
                                        dest_ids=site_ids)
    return costs


def scale_up_request(prep: Prepared, acc, specs: Sequence[TierCapacity],
                     run: CapacityRun | None = None) -> ScaleUpRequest | None:
    """The scaling up the config asks for (None: budget and target_share are 0).

    With demand cells finer than ``scale_up.demand_cell_m`` and the tier's result in ``run``,
    the scaling up works on the demand merged into squares of that side
    (:func:`gis.analyses.capacity.merge_demand`, labelled in the summary): the candidates'
    table of every unit within the time limit (at 100 m, 200 million pairs for 6,000
    candidates) is what does not fit."""
    cfg = prep.config
    up = cfg.scale_up
    if up.budget <= 0 and up.target_share <= 0:
        return None
    spec = {s.tier: s for s in specs}[up.tier]
    T = up.max_time_min or spec.max_time_min
    lay = prep.layers
    if up.candidates == "grid":
        sites, info = candidate_grid(acc.demand, lay.communes, grid_m=up.grid_m)
    elif up.candidates == "stations":
        sites, info = station_candidates(lay.facilities)
    else:
        path = cfg.path(up.candidates)
        points = R.read_candidates(path, prep.registry, crs=lay.crs)
        sites, info = listed_candidates(points, lay.communes, source=str(path))
        prep.sources["scale_up candidates"] = str(path)
    xy = sites.geometry.get_coordinates().to_numpy()
    groups, merged = None, {}
    tier_run = run.tiers.get(up.tier) if run is not None else None
    if (0 < cfg.demand.cell_size_m < up.demand_cell_m and tier_run is not None
            and tier_run.optimum is not None):
        pop = acc.demand["population"].to_numpy(float)
        left = pop - np.minimum(tier_run.optimum.cells["served_population"].to_numpy(float), pop)
        groups, points, merged = merge_demand(acc.demand, left, cell_m=up.demand_cell_m)
        # pairs only for the squares with people left to serve (the others take no part)
        has = np.flatnonzero(np.bincount(groups, weights=left, minlength=len(points)) > 0)
        part = candidate_costs(prep, points[has], has, xy, sites["site_id"].to_numpy(),
                               cutoff_min=T)
        costs = CostTable(origin=has[part.origin].astype(np.int32), dest=part.dest,
                          dist_m=part.dist_m, time_min=part.time_min,
                          origin_ids=np.arange(len(points)), dest_ids=part.dest_ids,
                          cutoff_min=part.cutoff_min, mode=part.mode)
        merged = merged | {"squares_with_people_left": int(len(has))}
    else:
        costs = candidate_costs(prep, acc.demand[["x", "y"]].to_numpy(float),
                                acc.demand["unit_id"].to_numpy(), xy,
                                sites["site_id"].to_numpy(), cutoff_min=T)
    tg = cfg.targets
    population = float(acc.demand["population"].sum())

    def norm(basis: str) -> float:
        if basis == spec.basis:
            return spec.people_per_unit
        configured = {"doctors": cfg.capacity.people_per_doctor,
                      "beds": cfg.capacity.people_per_bed}[basis].get(up.tier)
        return capacity_norm(up.tier, basis, configured=configured, population=population,
                             communes=len(lay.communes),
                             doctors_per_station=tg.doctors_per_station,
                             doctors_per_10k=tg.doctors_per_10k, beds_per_10k=tg.beds_per_10k)[0]

    classes = []
    for c in up.classes:
        capacity = (c.capacity if c.capacity is not None else
                    c.doctors * norm("doctors") if c.doctors is not None else
                    c.beds * norm("beds"))
        row = {"name": c.name, "capacity": float(capacity), "cost": c.cost}
        if c.min_population is not None:
            row.update(min_population=c.min_population, max_population=c.max_population)
        classes.append(row)
    if not classes:
        if up.tier != "station":
            msg = (f"{cfg.source}: scale_up.classes: give the capacity classes of new "
                   f"{up.tier} facilities ([[scale_up.classes]] with name, capacity or beds, "
                   f"cost)")
            raise ConfigError(msg)
        n = tg.doctors_per_station
        classes = [{"name": f"commune health station ({n:g} doctors)",
                    "capacity": n * norm("doctors"), "cost": 1.0}]
    budgets: tuple[float, ...] = ()
    if up.curve and up.budget > 0:
        unit = {c["cost"] for c in classes}
        if len(unit) == 1 and min(unit) > 0 and up.budget / min(unit) <= 20:
            c = min(unit)
            budgets = tuple(c * k for k in range(1, int(up.budget / c + 1e-9) + 1))
        else:
            budgets = tuple(float(b) for b in np.linspace(up.budget / 5, up.budget, 5))
    info = {**info, "max_time_min": T, "pairs": int(len(costs))}
    return ScaleUpRequest(
        tier=up.tier, candidates=sites, candidate_costs=costs, max_time_min=T, classes=classes,
        budget=up.budget if up.budget > 0 else None,
        target_share=up.target_share if up.target_share > 0 else None,
        curve_budgets=budgets, time_limit_s=up.time_limit_s, mip_rel_gap=up.mip_rel_gap,
        candidates_info=info, demand_groups=groups, demand_merged=merged)


def run_capacity_stage(prep: Prepared, acc, *, full_table: bool = False) -> CapacityRun:
    """Capacity-limited coverage per tier (AccessMod's greedy and the optimum) and scaling
    up, on the access stage's demand and costs (:func:`stage_costs`: per tier only the pairs
    within its time limit, or with ``full_table`` the table of every pair)."""
    cfg = prep.config
    cap = cfg.capacity
    population = float(acc.demand["population"].sum())
    specs = capacity_tiers(prep, population)
    run = run_capacity(acc.demand, prep.layers.facilities,
                       stage_costs(acc, full_table=full_table),
                       communes=prep.layers.communes, tiers=specs, order=cap.order,
                       descending=cap.descending, bands=cap.bands,
                       time_limit_s=cap.time_limit_s)
    up = cfg.scale_up
    if up.budget <= 0 and up.target_share <= 0:
        return run
    why = scale_up_blocker(run.tiers, up.tier)
    if why:   # no candidate table is built for a scaling up that cannot run
        run.scale_up_summary = skip_scale_up(up.tier, why)
        return run
    return with_scale_up(run, scale_up_request(prep, acc, specs, run), acc.demand,
                         communes=prep.layers.communes, bands=cap.bands)


def run(cfg: Config, *, out_dir: Path | None = None, overwrite: bool = False,
        offline: bool = False, step: StepFn | None = None,
        stages: tuple[str, ...] = STAGES, plan_files: tuple[Path, ...] = (),
        optimise: bool = True, lang: str | None = None, prepared: Prepared | None = None,
        halo: gpd.GeoDataFrame | None = None, cross_border: bool | None = None,
        full_table: bool = False) -> RunResult:
    """Run the main job for the configured province and write every output.

    Parameters
    ----------
    cfg : Config
    out_dir : path, optional
        Output folder (default: ``output.folder`` of the config, per province).
    overwrite : bool
        Replace an existing non-empty output folder (otherwise :class:`OutputError`).
    offline : bool
        No basemap in the HTML maps (nothing is fetched from the internet; Leaflet is always
        inlined, so the maps open with no internet either way).
    stages : tuple of str
        Analyses to run (default all: access, plans, network, capacity).
    plan_files : tuple of path
        Plans (CSV or TOML) evaluated beside the built-in scenarios.
    optimise : bool
        Run the location models of the plans stage (best main stations, fewest branch points,
        unconstrained p-median, the coverage curve).
    step : callable, optional
        ``step(label, level=1)`` returns a context manager wrapping each step (the CLI shows
        progress); sub-steps (each model, each scenario evaluated) come with ``level=2``.
    lang : str, optional
        Language of the outputs, "vi" or "en" (default: ``output.language`` of the config).
    prepared : Prepared, optional
        The province's layers from :func:`prepare` of ``cfg`` (a national run prepares them
        first); prepared here when None.
    halo : GeoDataFrame, optional
        Facilities of neighbouring provinces in reach (:func:`cross_border_halo`); when None
        and ``cross_border`` is on, computed here.
    cross_border : bool, optional
        Use the cross-border halo (default: :func:`cross_border_enabled` of a single
        province, i.e. ``access.cross_border = true`` in the config).
    full_table : bool
        Give the plans, network and capacity stages the table of every pair within the
        cut-off instead of tables sized per analysis (the same figures; memory grows with
        cells x facilities).
    """
    step = step or (lambda label, level=1: nullcontext())
    lang = lang or cfg.output.language
    if out_dir is None:
        out_dir = cfg.path(cfg.output.folder)
        assert out_dir is not None
    with files.output_folder(Path(out_dir), overwrite=overwrite) as out:
        with step("reading and building layers"):
            prep, extra_plans = validate(cfg, stages=stages, plan_files=tuple(plan_files),
                                         prepared=prepared)
        if cross_border is None:
            cross_border = cross_border_enabled(cfg, national=False)
        if halo is None and cross_border and "access" in stages:
            with step("facilities of neighbouring provinces (cross-border)"):
                halo = cross_border_halo(prep)
        prep.halo = halo
        summary, layers, tables, graphs, pr, editor = _analyses(
            prep, extra_plans, stages=stages, optimise=optimise, step=step,
            full_table=full_table)
        tmp = out.path
        with step("writing maps, GeoPackage, QGIS project and report"), out.writing():
            for name, table in tables.items():
                write_csv(table, tmp / f"{name}.csv")
            for fname, graph in graphs.items():
                write_graphml(graph, tmp / fname)
            summary["outputs"] = {"tables": [f"{name}.csv" for name in tables],
                                  "graphml": list(graphs)}
            if editor is not None:
                write_plan_editor(tmp / "plan_editor.html", editor, lang=lang,
                                  province=prep.registry.province.short,
                                  sources=list(prep.sources.values()),
                                  estimate_notes=list(prep.layers.notes))
                summary["outputs"]["plan_editor"] = "plan_editor.html"
            write_outputs(tmp, prep, layers, summary, offline=offline, lang=lang)
        out.info = {"gis_version": __version__, "province": summary["province"]["code"],
                    "stages_done": [s for s in stages if s in summary
                                    and "skipped" not in summary[s]],
                    "stages_skipped": {s: summary[s]["skipped"] for s in stages
                                       if "skipped" in summary.get(s, {})}}
        written = sorted(p.relative_to(tmp) for p in tmp.rglob("*") if p.is_file()
                         and p.name != files.MARKER)
    return RunResult(out_dir=out.final, files=[out.final / f for f in written], summary=summary,
                     layers=layers, prep=prep, plans=pr, language=lang)


def _analyses(prep: Prepared, extra_plans: list[Plan], *, stages: Sequence[str],
              optimise: bool, step: StepFn, full_table: bool = False):
    """The analyses of :func:`run` on checked inputs: the summary, layers, tables and graphs to
    write, the plans result and the plan editor's data (None without the plans stage)."""
    summary = base_summary(prep)
    layers: dict[str, gpd.GeoDataFrame] = dict(prep.layers.as_dict())
    halo = prep.halo
    if halo is not None and len(halo):
        layers["halo_facilities"] = halo
    acc = None
    if "access" in stages:
        with step("population surface, travel costs and access metrics"):
            acc = run_access_stage(prep)
        if acc is None:
            summary["access"] = {"skipped": "population unknown: give a communes layer with "
                                            "population or province.population_total"}
        else:
            layers.update(acc.layers)
            summary["access"] = acc.summary
            tm = travel_model(prep)
            summary["travel_model"] = acc.summary["travel_model"]
            summary["sources"]["travel_model"] = prep.sources["travel_model"] = tm.label()
            if tm.is_estimate:
                summary["estimates"].append(travel_note(tm))
            if halo is not None:
                summary["access"].setdefault("cross_border", {})["halo"] = halo_summary(
                    halo, radius_m=halo_reach_m(prep.config))
    tables: dict[str, Any] = {}
    pr = None
    if "plans" in stages and acc is not None:
        with step("consolidation scenarios and location models"):
            pr = run_plans_stage(prep, acc, optimise=optimise, extra_plans=extra_plans,
                                 step=lambda label: step(label, level=2),
                                 full_table=full_table)
        layers.update(pr.layers)
        summary["plans"] = pr.summary
        tables["scenarios"] = pr.table
    if "capacity" in stages and acc is not None:
        with step("capacity-limited coverage and scaling up"):
            cap_run = run_capacity_stage(prep, acc, full_table=full_table)
        layers.update(cap_run.layers)
        summary["capacity"] = cap_run.summary
        if cap_run.scale_up_summary:
            summary["scale_up"] = cap_run.scale_up_summary
    editor = None
    if pr is not None:
        with step("plan editor data (each cell's nearest stations, the official plans)"):
            editor = editor_data(prep, acc, full_table=full_table)
    if acc is None:
        for stage in ("plans", "network", "capacity"):
            if stage in stages:
                summary[stage] = {"skipped": "needs the access analyses, skipped: population "
                                             "unknown"}
    graphs: dict[str, Any] = {}
    if "network" in stages and acc is not None:
        with step("referral and satellite-hospital network"):
            plan = pr.official if pr is not None else None
            if plan is None:
                plan = official_plan(prep.layers.facilities, prep.layers.communes, prep.registry)
            net, why = run_network_stage(prep, acc, plan=plan, full_table=full_table)
        if net is None:
            summary["network"] = {"skipped": why}
        else:
            layers.update(net.layers)
            summary["network"] = net.summary
            graphs["network.graphml"] = net.graph
            if net.graph_plan is not None:
                graphs["network_plan.graphml"] = net.graph_plan
    return summary, layers, tables, graphs, pr, editor


def default_out_dir(cfg: Config) -> Path:
    """The output folder of a run: ``output.folder`` of the config, one folder per province."""
    return cfg.path(cfg.output.folder) / find_province(cfg.province.name).key


def write_province_layers(cfg: Config, out: Path | None = None, *, overwrite: bool = False,
                          step: StepFn | None = None) -> tuple[Prepared, Path, dict[str, int]]:
    """Build the province's input layers and write them to a GeoPackage (default
    ``layers/<province>.gpkg`` beside the config). Returns the prepared layers, the file and
    the features written per layer."""
    path = Path(out) if out is not None else (cfg.base_dir / "layers"
                                              / f"{find_province(cfg.province.name).key}.gpkg")
    files.check_writable([path], overwrite=overwrite)
    with (step or (lambda label: nullcontext()))("reading and building layers"):
        prep = prepare(cfg)
    counts = write_geopackage(prep.layers.as_dict(), path, overwrite=overwrite)
    return prep, path, counts


def extract_roads(cfg: Config, pbf: Path, *, out: Path | None = None,
                  margin_km: float | None = None, overwrite: bool = False,
                  step: StepFn | None = None) -> tuple[Path, RoadsSummary, float]:
    """The province's roads from an OpenStreetMap extract, written as layer ``roads`` of a
    GeoPackage (default ``layers/<province>_roads.gpkg`` beside the config) for
    ``layers.roads``.

    Parameters
    ----------
    pbf : path
        An ``.osm.pbf`` extract covering the province (e.g. Geofabrik's Vietnam extract).
    margin_km : float, optional
        Kilometres kept around the province (default :func:`roads_margin_m`).

    Returns
    -------
    path, RoadsSummary, float
        The file written, what it holds (km by class, connected parts), the margin in metres.
    """
    step = step or (lambda label: nullcontext())
    path = Path(out) if out is not None else (
        cfg.base_dir / "layers" / f"{find_province(cfg.province.name).key}_roads.gpkg")
    files.check_writable([path], overwrite=overwrite)
    with step("reading the province's layers"):
        prep = prepare(replace(cfg, layers=replace(cfg.layers, roads="", landcover="")))
    margin_m = margin_km * 1000.0 if margin_km is not None else roads_margin_m(cfg)
    with step(f"reading roads from {pbf} (margin {margin_m / 1000:g} km)"):
        roads = R.read_roads(pbf, crs=prep.layers.crs, area=prep.layers.communes,
                             margin_m=margin_m)
    write_geopackage({"roads": roads}, path, overwrite=overwrite)
    return path, roads_summary(roads), margin_m


def download_roads(cfg: Config, directory: Path | None = None, *,
                   timeout_s: float = 10.0) -> Path:
    """Geofabrik's Vietnam extract into ``directory`` (default ``layers/osm`` beside the
    config); without internet a :class:`GisError` says how to get it by hand."""
    return download_extract(directory or (cfg.base_dir / "layers" / "osm"),
                            province=cfg.province.name, timeout_s=timeout_s)


def official(cfg: Config, *, branches: bool = True) -> tuple[Prepared, Plan]:
    """The reform's plan of the configured province (see
    :func:`gis.analyses.plans.official_plan`)."""
    prep = prepare(cfg)
    lay = prep.layers
    return prep, official_plan(lay.facilities, lay.communes, prep.registry, branches=branches)


def editor_data(prep: Prepared, acc, *, k: int | None = None,
                full_table: bool = False) -> dict[str, Any]:
    """The plan editor's data for the province (:func:`gis.outputs.editor.build_editor_data`):
    the access demand and cost table, the official plans ("N + branch points", "N only") as
    references, the configured station thresholds, doctors per station and travel model (new
    stations only with the straight-line model: the page cannot route on roads or a grid). The
    costs are the sized model unless ``full_table`` (:func:`stage_costs`)."""
    cfg = prep.config
    lay = prep.layers
    t = cfg.travel
    plans = [official_plan(lay.facilities, lay.communes, prep.registry, branches=b)
             for b in (True, False)]
    straight = travel_model(prep).kind == "straight"
    return build_editor_data(
        acc.demand, stage_costs(acc, full_table=full_table), lay.facilities, lay.communes,
        thresholds_min=station_thresholds(cfg),
        doctors_per_station=cfg.targets.doctors_per_station,
        official_plans={p.name: p for p in plans},
        speed_kmh=t.speed_kmh[t.mode] if straight else None,
        detour_factor=t.detour_factor if straight else None,
        k=k, cell_size_m=cfg.demand.cell_size_m)


MODELS = OPTIMISE_MODELS


@dataclass
class OptimiseResult:
    """What :func:`optimise` chose.

    Attributes
    ----------
    sites : DataFrame
        The plan as ``gis plan evaluate`` reads it, one row per station: facility_id, name,
        legacy_commune_code, action (keep, branch, close), target_commune_code, rule.
    info : dict
        The model's figures (objective, bound, gap, status, solve time, ...).
    is_plan : bool
        Always True: every model's answer is a valid plan (kept for callers of the old form).
    """

    sites: pd.DataFrame
    info: dict[str, Any]
    is_plan: bool
    time_min: float
    n_open: int
    n_sites: int
    n_fixed_open: int
    objective_unit: str = ""
    plan: Plan | None = None
    p: int = 0


def optimise(cfg: Config, *, model: str, p: int | None = None, time_min: float | None = None,
             keep_official_mains: bool = False, fixed_open: Sequence[str] = (),
             fixed_closed: Sequence[str] = (), step: StepFn | None = None) -> OptimiseResult:
    """A location model on the province's demand and active stations (HiGHS), answered as a
    plan (see :func:`gis.analyses.plans.optimise_plan`).

    ``model`` is one of :data:`MODELS`; ``p`` defaults to the number of post-2025 communes and
    ``time_min`` to the middle station threshold of the config.
    """
    step = step or (lambda label, level=1: nullcontext())
    if model not in MODELS:
        msg = f"unknown model {model!r}; use one of {', '.join(MODELS)}"
        raise GisError(msg)
    with step("reading and building layers"):
        prep = prepare(cfg)
    with step("population surface and travel costs"):
        acc = run_access_stage(prep)
    if acc is None:
        msg = ("population unknown: give a communes layer with population, "
               "province.population_total or --population-total")
        raise GisError(msg)
    lay = prep.layers
    fac = lay.facilities
    th = station_thresholds(cfg)
    t = time_min if time_min is not None else th[len(th) // 2]
    with step(f"solving {model}"):
        res = optimise_plan(fac, lay.communes, prep.registry, demand=acc.demand,
                            costs=acc.cost_model, model=model, time_min=t, p=p,
                            keep_official_mains=keep_official_mains, fixed_open=fixed_open,
                            fixed_closed=fixed_closed)
    st = fac[(fac["tier"] == "station") & (fac["status"] == "active")]
    a = res.plan.actions.drop(columns=["name"], errors="ignore").merge(
        st[["facility_id", "name", "legacy_commune_code"]], on="facility_id", how="left")
    sites = a[["facility_id", "name", "legacy_commune_code", "action", "target_commune_code",
               "rule"]]
    n_open = int(a["action"].isin(["keep", "branch", "new"]).sum())
    return OptimiseResult(sites=sites, info=res.info, is_plan=True, time_min=float(t),
                          n_open=n_open, n_sites=len(st), n_fixed_open=res.fixed_open,
                          objective_unit=res.objective_unit, plan=res.plan, p=res.p)


def export_layers(gpkg: Path, *, fmt: str, layers: list[str] | None = None,
                  out: Path | None = None, wkt: bool = False, overwrite: bool = False
                  ) -> dict[str, tuple[int, Path]]:
    """The layers of an output GeoPackage as GeoJSON or CSV files (see
    :func:`gis.outputs.tables.write_exchange`), in ``out`` (default: the GeoPackage's folder)."""
    read = R.read_geopackage_layers(gpkg, layers)
    return write_exchange(read, out or Path(gpkg).parent, fmt=fmt, wkt=wkt, source=str(gpkg),
                          overwrite=overwrite)
