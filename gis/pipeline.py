"""The main job: config -> layers -> analyses -> outputs.

:func:`prepare` reads and builds the province's layers (the only input step); :func:`run` runs
the analyses and writes every output into a temporary folder that replaces the output folder
only when all went well, so a failure never leaves half-written or mixed outputs behind.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from gis import __version__
from gis.analyses import siting
from gis.analyses.access import run_access
from gis.analyses.capacity import (
    CapacityRun,
    ScaleUpRequest,
    TierCapacity,
    candidate_grid,
    capacity_norm,
    listed_candidates,
    run_capacity,
    scale_up_blocker,
    skip_scale_up,
    station_candidates,
    with_scale_up,
)
from gis.analyses.network import SatelliteRequest, run_network, skip_reason, specialties
from gis.analyses.plans import official_plan, run_plans
from gis.errors import ConfigError, GisError, OutputError
from gis.inputs import layers as L
from gis.inputs import readers as R
from gis.inputs import staffing as S
from gis.inputs.config import Config
from gis.inputs.plans import Plan, validate_plan
from gis.inputs.rasters import RasterPoints
from gis.inputs.registry import ProvinceRegistry, find_province, load_registry
from gis.model.costs import CostTable, straight_line_costs, subset_dests
from gis.model.roads import road_costs
from gis.outputs import capacity as capacity_out
from gis.outputs import files, maps, qgis, report
from gis.outputs.files import staging_dir, write_json
from gis.outputs.geopackage import write_geopackage
from gis.outputs.graphml import write_graphml
from gis.outputs.tables import write_csv, write_exchange

log = logging.getLogger(__name__)

StepFn = Callable[[str], Any]  # returns a context manager shown as progress


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
    raster: RasterPoints | None = None
    staffing: list[S.Spread] = field(default_factory=list)


@dataclass
class RunResult:
    """What :func:`run` produced: the output folder, its files and the summary."""

    out_dir: Path
    files: list[Path]
    summary: dict[str, Any]
    layers: dict[str, gpd.GeoDataFrame] = field(default_factory=dict)


def prepare(cfg: Config) -> Prepared:
    """Read, validate and build the layers of the configured province."""
    reg = load_registry(cfg.province.name)
    crs = L.working_crs(reg, cfg.province.crs)
    lc = cfg.layers
    sources: dict[str, str] = {"registry": "vietnamadminunits (communes before and after "
                                           "1 July 2025, old->new mapping)"}
    communes = None
    if p := cfg.path(lc.communes):
        communes = R.read_communes(p, reg, crs=crs, layer=lc.communes_layer or None,
                                   population_field=lc.communes_population_field)
        sources["communes"] = str(p)
    legacy_pop = None
    if p := cfg.path(lc.legacy_population):
        legacy_pop = R.read_population_table(p, reg, population_field=lc.legacy_population_field)
        sources["legacy_population"] = str(p)
    facilities = None
    if p := cfg.path(lc.facilities):
        facilities = R.read_facilities(p, reg, crs=crs)
        sources["facilities"] = str(p)
    roads = referrals = links = None
    if p := cfg.path(lc.roads):
        roads = R.read_roads(p, crs=crs)
        sources["roads"] = str(p)
    if p := cfg.path(lc.referrals):
        referrals = R.read_referrals(p)
        sources["referrals"] = str(p)
    if p := cfg.path(lc.satellite_links):
        links = R.read_satellite_links(p)
        sources["satellite_links"] = str(p)
    raster = None
    if p := cfg.path(lc.population_raster):
        raster = R.read_population_raster(p, crs=crs)
        sources["population_raster"] = str(p)
    total = cfg.province.population_total or None
    layers = L.build_layers(reg, crs=crs, communes=communes, legacy_population=legacy_pop,
                            population_total=total, facilities=facilities,
                            legacy_population_label=(f"table: {Path(lc.legacy_population).name}, "
                                                     f"field {lc.legacy_population_field}"))
    fac = S.with_sources(layers.facilities)
    if p := cfg.path(lc.staffing):
        fac = S.apply_staffing(fac, R.read_staffing(p), source=str(p))
        sources["staffing"] = str(p)
    totals = cfg.capacity.totals
    fac, spreads = S.spread_totals(fac, totals=totals.values, rule=totals.spread,
                                   max_per_commune=totals.max_per_commune,
                                   communes_legacy=layers.communes_legacy,
                                   communes=layers.communes,
                                   source=f"{cfg.source}: [capacity.totals]")
    layers.facilities = fac
    layers.notes.extend(sp.label for sp in spreads if sp.facilities)
    return Prepared(config=cfg, registry=reg, layers=layers, sources=sources, roads=roads,
                    referrals=referrals, satellite_links=links, raster=raster,
                    staffing=spreads)


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


def write_outputs(folder: Path, prep: Prepared, layers: dict[str, gpd.GeoDataFrame],
                  summary: dict[str, Any], *, offline: bool = False) -> dict[str, Path]:
    """Write the HTML maps, the GeoPackage with its QGIS project, the report and summary.json.

    ``layers`` maps GeoPackage layer names to layers; the known names (communes_2025,
    communes_legacy, facilities, demand_cells, coverage_communes, underserved, plan_stations,
    losing_access, referral_edges, hubs, ...) get their maps and QGIS styles.
    """

    province = prep.registry.province
    cfg = prep.config
    name = province.key
    sources = list(prep.sources.values())
    notes = list(prep.layers.notes)
    thresholds = {k: list(v) for k, v in cfg.access.thresholds_min.items()}
    time_fields = {t: f"{t}_time_min" for t in ("station", "regional", "provincial")}
    written = maps.write_maps(
        folder, province=province.short,
        communes=layers.get("communes_2025"), communes_legacy=layers.get("communes_legacy"),
        facilities=layers.get("facilities"), cells=layers.get("demand_cells"),
        coverage=layers.get("coverage_communes"), underserved=layers.get("underserved"),
        plan=layers.get("plan_stations"), losing_access=layers.get("losing_access"),
        edges=_network_edges(layers), hubs=layers.get("hubs"), load_label="people behind",
        time_fields={k: v for k, v in time_fields.items()
                     if "demand_cells" in layers and v in layers["demand_cells"]} or None,
        thresholds_min=thresholds, sources=sources, estimate_notes=notes, offline=offline)
    cap_map = capacity_out.write_capacity_map(folder, layers, summary, province=province.short,
                                              sources=sources, estimate_notes=notes,
                                              offline=offline)
    if cap_map is not None:
        written["capacity"] = cap_map
    out = qgis.write_qgis_project(folder, layers, name=name,
                                  title=f"{province.name}: health facility network",
                                  time_fields=time_fields, thresholds_min=thresholds,
                                  styles=capacity_out.qgis_styles)
    summary.setdefault("outputs", {})
    summary["outputs"].update({
        "maps": {k: p.name for k, p in written.items()},
        "geopackage": out.geopackage.name, "qgis_project": out.project.name,
        "report": "report.html",
    })
    rep = report.write_report(folder, summary, maps=written,
                              title=f"{province.name}: health facility network planning",
                              sections=capacity_out.report_sections(summary))
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
    roads = prep.roads
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
        doctors_per_station=cfg.targets.doctors_per_station, roads=roads,
        road_speeds_kmh=t.road_speed_kmh, walking_speed_kmh=t.speed_kmh.get("walking", 4.5),
        raster=prep.raster)


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


def run_plans_stage(prep: Prepared, acc, *, optimise: bool = True, extra_plans: list = ()):
    """The reform's scenarios and the best alternatives, evaluated on the access demand, plus
    ``extra_plans`` (see :func:`read_plans`)."""

    cfg = prep.config
    th = station_thresholds(cfg)
    lay = prep.layers
    return run_plans(lay.facilities, lay.communes, prep.registry, demand=acc.demand,
                     costs=acc.costs, thresholds_min=th,
                     doctors_per_station=cfg.targets.doctors_per_station,
                     cover_min=th[len(th) // 2], optimise=optimise, extra_plans=list(extra_plans))


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


def run_network_stage(prep: Prepared, acc, *, plan=None):
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
        lay.facilities, lay.communes, demand=acc.demand, costs=acc.costs,
        speed_kmh=t.speed_kmh[net_cfg.transfer_mode], detour_factor=t.detour_factor,
        cutoff_min=t.cutoff_min, thresholds_min=cfg.access.thresholds_min,
        beds_per_10k=cfg.targets.beds_per_10k, referrals=prep.referrals,
        satellite_links=prep.satellite_links, plan=plan, roads=prep.roads,
        road_speeds_kmh=t.road_speed_kmh, walking_speed_kmh=t.speed_kmh.get("walking", 4.5),
        satellite_requests=requests)
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


def candidate_costs(prep: Prepared, demand: gpd.GeoDataFrame, sites_xy: np.ndarray,
                    site_ids: np.ndarray, *, cutoff_min: float) -> CostTable:
    """Demand units -> candidate sites with the run's travel model (roads when given)."""
    t = prep.config.travel
    dxy = demand[["x", "y"]].to_numpy(float)
    units = demand["unit_id"].to_numpy()
    if prep.roads is not None:
        costs, _ = road_costs(dxy, sites_xy, prep.roads, speeds_kmh=dict(t.road_speed_kmh),
                              walking_speed_kmh=t.speed_kmh.get("walking", 4.5),
                              cutoff_min=cutoff_min, origin_ids=units, dest_ids=site_ids)
        return costs
    return straight_line_costs(dxy, sites_xy, speed_kmh=t.speed_kmh[t.mode],
                               detour_factor=t.detour_factor, cutoff_min=cutoff_min,
                               origin_ids=units, dest_ids=site_ids)


def scale_up_request(prep: Prepared, acc, specs: Sequence[TierCapacity]
                     ) -> ScaleUpRequest | None:
    """The scaling up the config asks for (None: budget and target_share are 0)."""
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
    costs = candidate_costs(prep, acc.demand, xy, sites["site_id"].to_numpy(), cutoff_min=T)
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
        candidates_info=info)


def run_capacity_stage(prep: Prepared, acc) -> CapacityRun:
    """Capacity-limited coverage per tier (AccessMod's greedy and the optimum) and scaling
    up, on the access stage's demand and cost table."""
    cfg = prep.config
    cap = cfg.capacity
    population = float(acc.demand["population"].sum())
    specs = capacity_tiers(prep, population)
    run = run_capacity(acc.demand, prep.layers.facilities, acc.costs,
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
    return with_scale_up(run, scale_up_request(prep, acc, specs), acc.demand,
                         communes=prep.layers.communes, bands=cap.bands)


def run(cfg: Config, *, out_dir: Path | None = None, overwrite: bool = False,
        offline: bool = False, step: StepFn | None = None,
        stages: tuple[str, ...] = STAGES, plan_files: tuple[Path, ...] = (),
        optimise: bool = True) -> RunResult:
    """Run the main job for the configured province and write every output.

    Parameters
    ----------
    cfg : Config
    out_dir : path, optional
        Output folder (default: ``output.folder`` of the config, per province).
    overwrite : bool
        Replace an existing non-empty output folder (otherwise :class:`OutputError`).
    offline : bool
        Inline Leaflet into the HTML maps so they open with no internet.
    stages : tuple of str
        Analyses to run (default all: access, plans, network, capacity).
    plan_files : tuple of path
        Plans (CSV or TOML) evaluated beside the built-in scenarios.
    optimise : bool
        Run the location models of the plans stage (best main stations, fewest branch points,
        unconstrained p-median, the coverage curve).
    step : callable, optional
        ``step(label)`` returns a context manager wrapping each step (the CLI shows progress).
    """
    step = step or (lambda label: nullcontext())
    if out_dir is None:
        out_dir = cfg.path(cfg.output.folder)
        assert out_dir is not None
    out_dir = Path(out_dir)
    if out_dir.exists() and not overwrite and any(out_dir.iterdir()):
        msg = f"{out_dir} exists and is not empty; pass --overwrite to replace its outputs"
        raise OutputError(msg)
    with step("reading and building layers"):
        prep = prepare(cfg)
        extra_plans = read_plans(prep, tuple(plan_files))
        if "network" in stages:
            check_network_config(prep)
    summary = base_summary(prep)
    layers: dict[str, gpd.GeoDataFrame] = dict(prep.layers.as_dict())
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
    tables: dict[str, Any] = {}
    pr = None
    if "plans" in stages and acc is not None:
        with step("consolidation scenarios and location models"):
            pr = run_plans_stage(prep, acc, optimise=optimise, extra_plans=extra_plans)
        layers.update(pr.layers)
        summary["plans"] = pr.summary
        tables["scenarios"] = pr.table
    if "capacity" in stages and acc is not None:
        with step("capacity-limited coverage and scaling up"):
            cap_run = run_capacity_stage(prep, acc)
        layers.update(cap_run.layers)
        summary["capacity"] = cap_run.summary
        if cap_run.scale_up_summary:
            summary["scale_up"] = cap_run.scale_up_summary
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
            net, why = run_network_stage(prep, acc, plan=plan)
        if net is None:
            summary["network"] = {"skipped": why}
        else:
            layers.update(net.layers)
            summary["network"] = net.summary
            graphs["network.graphml"] = net.graph
            if net.graph_plan is not None:
                graphs["network_plan.graphml"] = net.graph_plan
    with staging_dir(out_dir, overwrite=overwrite) as tmp:
        with step("writing maps, GeoPackage, QGIS project and report"):
            for name, table in tables.items():
                write_csv(table, tmp / f"{name}.csv")
            if graphs:
                for fname, graph in graphs.items():
                    write_graphml(graph, tmp / fname)
            summary["outputs"] = {"tables": [f"{name}.csv" for name in tables],
                                  "graphml": list(graphs)}
            write_outputs(tmp, prep, layers, summary, offline=offline)
        files = sorted(p.relative_to(tmp) for p in tmp.rglob("*") if p.is_file())
    return RunResult(out_dir=out_dir, files=[out_dir / f for f in files], summary=summary,
                     layers=layers)


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


def official(cfg: Config, *, branches: bool = True) -> tuple[Prepared, Plan]:
    """The reform's plan of the configured province (see
    :func:`gis.analyses.plans.official_plan`)."""
    prep = prepare(cfg)
    lay = prep.layers
    return prep, official_plan(lay.facilities, lay.communes, prep.registry, branches=branches)


MODELS = ("best-main", "set-cover", "mclp", "p-median", "p-center")


@dataclass
class OptimiseResult:
    """What :func:`optimise` chose.

    Attributes
    ----------
    sites : DataFrame
        One row per station: facility_id, name, legacy_commune_code, action,
        target_commune_code, rule.
    info : dict
        The model's figures (objective, bound, gap, status, solve time, ...).
    is_plan : bool
        The sites form a valid plan (validated), not just a set of open sites.
    """

    sites: pd.DataFrame
    info: dict[str, Any]
    is_plan: bool
    time_min: float
    n_open: int
    n_sites: int
    n_fixed_open: int


def optimise(cfg: Config, *, model: str, p: int | None = None, time_min: float | None = None,
             keep_official_mains: bool = False, fixed_open: Sequence[str] = (),
             fixed_closed: Sequence[str] = (), step: StepFn | None = None) -> OptimiseResult:
    """A location model on the province's demand and active stations (HiGHS).

    ``model`` is one of :data:`MODELS`; ``p`` defaults to the number of post-2025 communes and
    ``time_min`` to the middle station threshold of the config. With ``keep_official_mains``
    (or ``best-main``) the result is a valid plan: mains kept, chosen others as branch points,
    the rest closed.
    """
    step = step or (lambda label: nullcontext())
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
    st = fac[(fac["tier"] == "station") & (fac["status"] == "active")]
    costs = subset_dests(acc.costs, np.isin(acc.costs.dest_ids, st["facility_id"].to_numpy()))
    pop = acc.demand["population"].to_numpy(float)
    mains = official_plan(fac, lay.communes, prep.registry, branches=False).main_ids()
    fixed = list(fixed_open) + (mains if keep_official_mains else [])
    th = station_thresholds(cfg)
    t = time_min if time_min is not None else th[len(th) // 2]
    p = p if p is not None else len(mains)
    kw = {"fixed_open": fixed, "fixed_closed": list(fixed_closed)}
    with step(f"solving {model}"):
        if model == "best-main":
            best = siting.best_in_groups(costs, pop, acc.demand["commune_code"].to_numpy(),
                                         st.set_index("facility_id")["commune_code"]
                                         .reindex(costs.dest_ids).to_numpy())
            open_ids = best["dest_id"].tolist()
            info = {"model": "best main station per commune", "gap": 0.0, "status": "optimal",
                    "objective": float(best["objective"].sum())}
        else:
            if model == "set-cover":
                res = siting.set_cover(costs, pop, t, **kw)
            elif model == "mclp":
                res = siting.mclp(costs, pop, t, p, **kw)
            elif model == "p-median":
                res = siting.p_median(costs, pop, p, **kw)
            else:
                res = siting.p_center(costs, pop, p, **kw)
            open_ids = list(res.open_ids)
            info = res.as_dict()
    is_open = st["facility_id"].isin(open_ids)
    if model == "best-main":
        action = np.where(is_open, "keep", "close")
    elif keep_official_mains:
        action = np.where(st["facility_id"].isin(mains), "keep",
                          np.where(is_open, "branch", "close"))
    else:
        action = np.where(is_open, "open", "close")
    sites = pd.DataFrame({"facility_id": st["facility_id"].to_numpy(),
                          "name": st["name"].to_numpy(),
                          "legacy_commune_code": st["legacy_commune_code"].to_numpy(),
                          "action": action, "target_commune_code": st["commune_code"].to_numpy(),
                          "rule": f"gis plan optimise --model {model}"})
    is_plan = model == "best-main" or keep_official_mains
    if is_plan:
        validate_plan(sites, fac, prep.registry, source="optimised plan",
                      name=f"optimised {model}")
    return OptimiseResult(sites=sites, info=info, is_plan=is_plan, time_min=float(t),
                          n_open=int(is_open.sum()), n_sites=len(st), n_fixed_open=len(fixed))


def export_layers(gpkg: Path, *, fmt: str, layers: list[str] | None = None,
                  out: Path | None = None, wkt: bool = False, overwrite: bool = False
                  ) -> dict[str, tuple[int, Path]]:
    """The layers of an output GeoPackage as GeoJSON or CSV files (see
    :func:`gis.outputs.tables.write_exchange`), in ``out`` (default: the GeoPackage's folder)."""
    read = R.read_geopackage_layers(gpkg, layers)
    return write_exchange(read, out or Path(gpkg).parent, fmt=fmt, wkt=wkt, source=str(gpkg),
                          overwrite=overwrite)
