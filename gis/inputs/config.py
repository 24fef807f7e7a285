"""Configuration: ``config.toml`` loaded once into frozen dataclasses, validated at load.

Unknown keys, wrong types and impossible values raise :class:`gis.errors.ConfigError` naming the
key (``travel.speed_kmh.motorbike``) and what is expected. Functions of the library take plain
keyword arguments; only the pipeline and the CLI read this object.
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from gis.errors import ConfigError
from gis.inputs.filecheck import read_text

TIERS = ("central", "provincial", "regional", "station", "branch")
DECAYS = ("step", "gaussian")
TRAVEL_MODELS = ("straight", "roads", "friction")
# modes with built-in road speeds (gis.model.roads.DEFAULT_CLASS_SPEEDS_KMH)
ROAD_MODES = ("car", "motorbike", "walking")
FRICTION_ENGINES = ("dijkstra", "mcp")
# Capacity: the tiers analysed, what a facility's capacity is computed from, the spread rules
# of province totals, and where scaling up looks for new sites.
CAPACITY_TIERS = ("station", "regional", "provincial", "central")
STAFF_FIELDS = ("doctors", "nurses", "beds")
BASES = ("doctors", "beds", "norm")
SPREADS = ("population", "equal")
ORDERS = ("capacity", "population")
BANDS = ("exact", "minute")
CANDIDATES = ("grid", "stations")


@dataclass(frozen=True)
class ProvinceConfig:
    name: str = "42"
    crs: str = "auto"
    population_total: float = 0.0


@dataclass(frozen=True)
class DataConfig:
    """``[data]``: ``base = true`` runs on the built-in national base data (the real 2025
    commune polygons and population, the 2019 census, WorldPop, OSM hospitals) wherever a
    ``layers.*`` key gives nothing; ``false`` uses only the given layers and the registry
    (estimates, labelled)."""

    base: bool = True


@dataclass(frozen=True)
class LayersConfig:
    communes: str = ""
    communes_layer: str = ""
    communes_population_field: str = "population"
    legacy_population: str = ""
    legacy_population_field: str = "population"
    facilities: str = ""
    roads: str = ""
    landcover: str = ""
    population_raster: str = ""
    referrals: str = ""
    satellite_links: str = ""
    staffing: str = ""


@dataclass(frozen=True)
class DemandConfig:
    cell_size_m: float = 500.0


@dataclass(frozen=True)
class RoadsConfig:
    """``[travel.roads]``: the road model's off-road legs, ferries and extract margin."""

    snap_max_m: float = 2000.0
    offroad_speed_kmh: float = 4.5
    ferry_speed_kmh: float = 10.0
    ferry_wait_min: float = 15.0
    extract_margin_km: float | None = None   # None ("auto"): cut-off / 2 x fastest speed


@dataclass(frozen=True)
class FrictionConfig:
    """``[travel.friction]``: the friction surface's pixels, off-road speed, land cover."""

    cell_size_m: float = 100.0
    offroad_speed_kmh: float = 4.5
    engine: str = "dijkstra"
    landcover_speeds_kmh: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class TravelConfig:
    model: str = "straight"
    mode: str = "motorbike"
    detour_factor: float = 1.4
    cutoff_min: float = 180.0
    speed_kmh: dict[str, float] = field(
        default_factory=lambda: {"motorbike": 30.0, "walking": 4.5, "car": 40.0}
    )
    # mode -> road class -> km/h, over the built-in table of gis.model.roads
    road_speed_kmh: dict[str, dict[str, float]] = field(default_factory=dict)
    roads: RoadsConfig = field(default_factory=RoadsConfig)
    friction: FrictionConfig = field(default_factory=FrictionConfig)


@dataclass(frozen=True)
class E2sfcaConfig:
    catchment_min: float = 60.0
    decay: str = "gaussian"


@dataclass(frozen=True)
class AccessConfig:
    thresholds_min: dict[str, tuple[float, ...]] = field(
        default_factory=lambda: {
            "station": (15.0, 30.0, 60.0),
            "regional": (30.0, 60.0, 90.0),
            "provincial": (60.0, 120.0),
        }
    )
    e2sfca: E2sfcaConfig = field(default_factory=E2sfcaConfig)
    # Facilities of neighbouring provinces within reach of the border (the halo) count for
    # nearest facility, coverage and under-served areas. None ("auto"): in national runs
    # (gis run --province all) yes, in a single-province run no.
    cross_border: bool | None = None


@dataclass(frozen=True)
class TargetsConfig:
    doctors_per_10k: float = 14.6
    beds_per_10k: float = 45.0
    doctors_per_station: float = 4.0


@dataclass(frozen=True)
class NetworkConfig:
    transfer_mode: str = "car"
    satellite_specialties: tuple[str, ...] = ()
    satellite_k: int = 3
    satellite_time_min: float = 60.0


#: Languages of the outputs (report, maps, QGIS project, console summary).
LANGUAGES = ("vi", "en")


@dataclass(frozen=True)
class TotalsConfig:
    """Province totals of staff and beds (``[capacity.totals]``), spread over the facilities
    of a tier whose own figure is unknown.

    ``values`` maps ``<tier>_<field>`` (``station_doctors``, ``regional_beds``, ...) to the
    province total; ``spread`` is the rule (``population``: in proportion to the people each
    facility serves, see :mod:`gis.inputs.staffing`; ``equal``: the same to each);
    ``max_per_commune`` caps the figure of one post-2025 commune (all its facilities of the
    tier) for some totals.
    """

    values: dict[str, float] = field(default_factory=dict)
    spread: str = "population"
    max_per_commune: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class CapacityConfig:
    """Capacity-limited coverage (``[capacity]``): per tier, the time limit and the basis of
    a facility's capacity (doctors x ``people_per_doctor``, beds x ``people_per_bed``, or a
    fixed ``people_per_facility``). A norm left out is derived from ``[targets]`` at run time
    (the derivation is stated in the summary)."""

    tiers: tuple[str, ...] = ("station", "regional", "provincial")
    max_time_min: dict[str, float] = field(
        default_factory=lambda: {"station": 30.0, "regional": 60.0, "provincial": 120.0})
    basis: dict[str, str] = field(
        default_factory=lambda: {"station": "doctors", "regional": "beds",
                                 "provincial": "beds"})
    people_per_doctor: dict[str, float] = field(default_factory=dict)
    people_per_bed: dict[str, float] = field(default_factory=dict)
    people_per_facility: dict[str, float] = field(default_factory=dict)
    order: str = "capacity"
    descending: bool = True
    bands: str = "exact"
    time_limit_s: float = 300.0
    totals: TotalsConfig = field(default_factory=TotalsConfig)


@dataclass(frozen=True)
class ScaleUpClass:
    """A capacity class of new facilities: its capacity is ``capacity`` persons, or
    ``doctors`` / ``beds`` times the tier's norm; ``cost`` in any money unit."""

    name: str
    cost: float = 1.0
    capacity: float | None = None
    doctors: float | None = None
    beds: float | None = None
    min_population: float | None = None
    max_population: float | None = None


@dataclass(frozen=True)
class ScaleUpConfig:
    """Scaling up (``[scale_up]``): where to add facilities of ``tier``, and of which class.

    ``candidates``: ``grid`` (centres of ``grid_m`` squares of the province's populated land),
    ``stations`` (the sites of the commune stations) or a path to a point layer / CSV with
    lon, lat. ``budget`` (in the classes' cost unit) or ``target_share`` (> 0: the cheapest
    way to serve that share) says what is asked; both 0: no scaling up. ``classes`` empty: one
    class, a commune health station with ``targets.doctors_per_station`` doctors, cost 1.
    ``max_time_min`` 0: the tier's ``capacity.max_time_min``. ``demand_cell_m``: with
    demand cells finer than this, the scaling up works on the demand merged into squares of
    this side (labelled); 0: never (memory then grows with cells x candidates in reach).
    """

    tier: str = "station"
    candidates: str = "grid"
    grid_m: float = 1000.0
    max_time_min: float = 0.0
    budget: float = 5.0
    target_share: float = 0.0
    curve: bool = True
    classes: tuple[ScaleUpClass, ...] = ()
    time_limit_s: float = 60.0
    mip_rel_gap: float = 0.01
    demand_cell_m: float = 500.0


@dataclass(frozen=True)
class OutputConfig:
    folder: str = "maps"
    # Vietnamese by default: every province is Vietnamese
    language: str = "vi"


@dataclass(frozen=True)
class Config:
    """The whole configuration. ``base_dir`` is the folder relative paths are resolved against."""

    province: ProvinceConfig = field(default_factory=ProvinceConfig)
    data: DataConfig = field(default_factory=DataConfig)
    layers: LayersConfig = field(default_factory=LayersConfig)
    demand: DemandConfig = field(default_factory=DemandConfig)
    travel: TravelConfig = field(default_factory=TravelConfig)
    access: AccessConfig = field(default_factory=AccessConfig)
    targets: TargetsConfig = field(default_factory=TargetsConfig)
    network: NetworkConfig = field(default_factory=NetworkConfig)
    capacity: CapacityConfig = field(default_factory=CapacityConfig)
    scale_up: ScaleUpConfig = field(default_factory=ScaleUpConfig)
    output: OutputConfig = field(default_factory=OutputConfig)
    base_dir: Path = field(default_factory=Path.cwd)
    source: str = "<defaults>"

    def path(self, value: str) -> Path | None:
        """Resolve a configured path against ``base_dir``; ``""`` gives None."""
        if not value:
            return None
        p = Path(value).expanduser()
        return p if p.is_absolute() else self.base_dir / p

    def with_province(self, name: str) -> Config:
        """A copy for another province. The layers are kept (the readers keep the rows of the
        province: a national layer is filtered to it, a register of another province leaves
        nothing, and the base data fills in); what describes only the configured province is
        dropped: its population total, its working CRS, the satellite specialties of its
        hospitals, the province totals of staff and beds and a list of candidate sites; the road
        model, which needs the province's roads, becomes the straight line."""
        if name == self.province.name:
            return self
        # the road model needs the province's roads: without them, the straight line (the
        # outputs say which model ran)
        travel = replace(self.travel, model="straight") if self.travel.model == "roads" \
            else self.travel
        candidates = self.scale_up.candidates
        return replace(self, province=ProvinceConfig(name=name, crs="auto", population_total=0.0),
                       travel=travel,
                       network=replace(self.network, satellite_specialties=()),
                       capacity=replace(self.capacity, totals=TotalsConfig()),
                       scale_up=replace(self.scale_up, candidates=candidates
                                        if candidates in CANDIDATES else "grid"))


# --- loading -------------------------------------------------------------------------------

_SECTIONS: dict[str, type] = {
    "province": ProvinceConfig,
    "data": DataConfig,
    "layers": LayersConfig,
    "demand": DemandConfig,
    "travel": TravelConfig,
    "access": AccessConfig,
    "targets": TargetsConfig,
    "network": NetworkConfig,
    "capacity": CapacityConfig,
    "scale_up": ScaleUpConfig,
    "output": OutputConfig,
}


def _number(key: str, value: Any, *, positive: bool = True, allow_zero: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        msg = f"{key}: expected a number, found {value!r} ({type(value).__name__})"
        raise ConfigError(msg)
    v = float(value)
    if not math.isfinite(v):
        msg = f"{key}: expected a finite number, found {value!r}"
        raise ConfigError(msg)
    if positive and (v < 0 or (v == 0 and not allow_zero)):
        need = "zero or more" if allow_zero else "more than zero"
        msg = f"{key}: expected a number {need}, found {value!r}"
        raise ConfigError(msg)
    return v


def _string(key: str, value: Any) -> str:
    if not isinstance(value, str):
        msg = f"{key}: expected a string, found {value!r} ({type(value).__name__})"
        raise ConfigError(msg)
    return value


def _table(key: str, value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        msg = f"{key}: expected a table ([{key}]), found {value!r}"
        raise ConfigError(msg)
    return value


def _check_keys(key: str, table: dict[str, Any], allowed: set[str]) -> None:
    unknown = sorted(set(table) - allowed)
    if unknown:
        where = f"[{key}]" if key else "top level"
        msg = (f"unknown key{'s' if len(unknown) > 1 else ''} in {where}: "
               f"{', '.join(unknown)}; allowed: {', '.join(sorted(allowed))}")
        raise ConfigError(msg)


def _speeds(key: str, value: Any, *, allow_zero: bool = False) -> dict[str, float]:
    table = _table(key, value)
    return {str(k): _number(f"{key}.{k}", v, allow_zero=allow_zero) for k, v in table.items()}


def _parse_province(t: dict[str, Any]) -> ProvinceConfig:
    d = ProvinceConfig()
    name = t.get("name", d.name)
    if isinstance(name, int) and not isinstance(name, bool):
        name = f"{name:02d}"
    return ProvinceConfig(
        name=_string("province.name", name),
        crs=_string("province.crs", t.get("crs", d.crs)),
        population_total=_number("province.population_total",
                                 t.get("population_total", d.population_total), allow_zero=True),
    )


def _parse_data(t: dict[str, Any]) -> DataConfig:
    base = t.get("base", DataConfig.base)
    if not isinstance(base, bool):
        msg = (f"data.base: expected true (run on the built-in base data) or false (only the "
               f"given layers and the registry), found {base!r}")
        raise ConfigError(msg)
    return DataConfig(base=base)


def _parse_layers(t: dict[str, Any]) -> LayersConfig:
    return LayersConfig(**{f.name: _string(f"layers.{f.name}", t.get(f.name, f.default))
                           for f in fields(LayersConfig)})


def _parse_demand(t: dict[str, Any]) -> DemandConfig:
    size = _number("demand.cell_size_m", t.get("cell_size_m", DemandConfig.cell_size_m))
    if not 10 <= size <= 50_000:
        msg = f"demand.cell_size_m: expected 10 to 50000 metres, found {size:g}"
        raise ConfigError(msg)
    return DemandConfig(cell_size_m=size)


def _road_speeds(value: Any, *, mode: str, modes: set[str]) -> dict[str, dict[str, float]]:
    """``[travel.road_speed_kmh]``: per mode (``[travel.road_speed_kmh.motorbike]``), or one
    flat table of classes, read as the speeds of ``travel.mode`` (the form of earlier
    versions)."""
    key = "travel.road_speed_kmh"
    table = _table(key, value)
    if not table:
        return {}
    nested = [isinstance(v, dict) for v in table.values()]
    if all(nested):
        unknown = sorted(set(table) - modes)
        if unknown:
            msg = (f"{key}: unknown mode{'s' if len(unknown) > 1 else ''} "
                   f"{', '.join(map(repr, unknown))}; use {', '.join(sorted(modes))} "
                   f"(e.g. [{key}.motorbike])")
            raise ConfigError(msg)
        return {m: _speeds(f"{key}.{m}", v, allow_zero=True) for m, v in table.items()}
    if any(nested):
        msg = (f"{key}: mixes speeds and tables; give one table per mode "
               f"([{key}.motorbike], [{key}.car], [{key}.walking]) of class = km/h")
        raise ConfigError(msg)
    return {mode: _speeds(key, table, allow_zero=True)}


def _parse_roads(t: dict[str, Any]) -> RoadsConfig:
    key = "travel.roads"
    t = _table(key, t)
    d = RoadsConfig()
    _check_keys(key, t, {f.name for f in fields(RoadsConfig)})
    raw = t.get("extract_margin_km", "auto")
    margin = None
    if isinstance(raw, str) and raw != "auto":
        msg = f'{key}.extract_margin_km: expected "auto" or kilometres, found {raw!r}'
        raise ConfigError(msg)
    if raw != "auto":
        margin = _number(f"{key}.extract_margin_km", raw, allow_zero=True)
    snap = _number(f"{key}.snap_max_m", t.get("snap_max_m", d.snap_max_m))
    return RoadsConfig(
        snap_max_m=snap,
        offroad_speed_kmh=_number(f"{key}.offroad_speed_kmh",
                                  t.get("offroad_speed_kmh", d.offroad_speed_kmh)),
        ferry_speed_kmh=_number(f"{key}.ferry_speed_kmh",
                                t.get("ferry_speed_kmh", d.ferry_speed_kmh)),
        ferry_wait_min=_number(f"{key}.ferry_wait_min", t.get("ferry_wait_min",
                                                              d.ferry_wait_min),
                               allow_zero=True),
        extract_margin_km=margin)


def _parse_friction(t: dict[str, Any]) -> FrictionConfig:
    key = "travel.friction"
    t = _table(key, t)
    d = FrictionConfig()
    _check_keys(key, t, {f.name for f in fields(FrictionConfig)})
    size = _number(f"{key}.cell_size_m", t.get("cell_size_m", d.cell_size_m))
    if not 10 <= size <= 5_000:
        msg = f"{key}.cell_size_m: expected 10 to 5000 metres, found {size:g}"
        raise ConfigError(msg)
    engine = _string(f"{key}.engine", t.get("engine", d.engine))
    if engine not in FRICTION_ENGINES:
        msg = f"{key}.engine: expected one of {', '.join(FRICTION_ENGINES)}, found {engine!r}"
        raise ConfigError(msg)
    lc = _speeds(f"{key}.landcover_speeds_kmh", t.get("landcover_speeds_kmh", {}),
                 allow_zero=True)
    for cls in lc:
        if cls != "default" and not cls.lstrip("-").isdigit():
            msg = (f"{key}.landcover_speeds_kmh.{cls}: expected a land-cover class number "
                   f'(the raster\'s values, e.g. 80 = water) or "default"')
            raise ConfigError(msg)
    return FrictionConfig(cell_size_m=size,
                          offroad_speed_kmh=_number(f"{key}.offroad_speed_kmh",
                                                    t.get("offroad_speed_kmh",
                                                          d.offroad_speed_kmh)),
                          engine=engine, landcover_speeds_kmh=lc)


def _parse_travel(t: dict[str, Any]) -> TravelConfig:
    d = TravelConfig()
    speeds = _speeds("travel.speed_kmh", t.get("speed_kmh", d.speed_kmh))
    mode = _string("travel.mode", t.get("mode", d.mode))
    if mode not in speeds:
        msg = (f"travel.mode: {mode!r} has no speed; add travel.speed_kmh.{mode} or choose one of "
               f"{', '.join(sorted(speeds))}")
        raise ConfigError(msg)
    model = _string("travel.model", t.get("model", d.model))
    if model not in TRAVEL_MODELS:
        msg = (f"travel.model: expected one of {', '.join(map(repr, TRAVEL_MODELS))}, found "
               f"{model!r}")
        raise ConfigError(msg)
    detour = _number("travel.detour_factor", t.get("detour_factor", d.detour_factor))
    if detour < 1:
        msg = (f"travel.detour_factor: expected 1 or more (travelled distance is never shorter "
               f"than the straight line), found {detour:g}")
        raise ConfigError(msg)
    road = _road_speeds(t.get("road_speed_kmh", {}), mode=mode,
                        modes=set(ROAD_MODES) | set(speeds))
    return TravelConfig(model=model, mode=mode, detour_factor=detour,
                        cutoff_min=_number("travel.cutoff_min", t.get("cutoff_min", d.cutoff_min)),
                        speed_kmh=speeds, road_speed_kmh=road,
                        roads=_parse_roads(t.get("roads", {})),
                        friction=_parse_friction(t.get("friction", {})))


def _parse_access(t: dict[str, Any]) -> AccessConfig:
    d = AccessConfig()
    _check_keys("access", t, {"thresholds_min", "e2sfca", "cross_border"})
    raw = _table("access.thresholds_min", t.get("thresholds_min", d.thresholds_min))
    thresholds: dict[str, tuple[float, ...]] = {}
    for tier, values in raw.items():
        key = f"access.thresholds_min.{tier}"
        if tier not in TIERS:
            msg = f"{key}: unknown tier {tier!r}; tiers are {', '.join(TIERS)}"
            raise ConfigError(msg)
        if not isinstance(values, list | tuple) or not values:
            msg = f"{key}: expected a non-empty list of minutes, e.g. [15, 30, 60]"
            raise ConfigError(msg)
        nums = tuple(_number(f"{key}[{i}]", v) for i, v in enumerate(values))
        if list(nums) != sorted(set(nums)):
            msg = f"{key}: expected increasing minutes without repeats, found {list(values)}"
            raise ConfigError(msg)
        thresholds[tier] = nums
    e = _table("access.e2sfca", t.get("e2sfca", {}))
    _check_keys("access.e2sfca", e, {"catchment_min", "decay"})
    decay = _string("access.e2sfca.decay", e.get("decay", E2sfcaConfig.decay))
    if decay not in DECAYS:
        msg = f"access.e2sfca.decay: expected one of {', '.join(DECAYS)}, found {decay!r}"
        raise ConfigError(msg)
    catchment = _number("access.e2sfca.catchment_min",
                        e.get("catchment_min", E2sfcaConfig.catchment_min))
    cross = t.get("cross_border", "auto")
    if cross == "auto":
        cross = None
    elif not isinstance(cross, bool):
        msg = f'access.cross_border: expected true, false or "auto", found {cross!r}'
        raise ConfigError(msg)
    return AccessConfig(thresholds_min=thresholds,
                        e2sfca=E2sfcaConfig(catchment_min=catchment, decay=decay),
                        cross_border=cross)


def _parse_targets(t: dict[str, Any]) -> TargetsConfig:
    return TargetsConfig(**{f.name: _number(f"targets.{f.name}", t.get(f.name, f.default))
                            for f in fields(TargetsConfig)})


def _parse_network(t: dict[str, Any]) -> NetworkConfig:
    d = NetworkConfig()
    mode = _string("network.transfer_mode", t.get("transfer_mode", d.transfer_mode))
    specs = t.get("satellite_specialties", list(d.satellite_specialties))
    if not isinstance(specs, list) or not all(isinstance(x, str) and x.strip() for x in specs):
        msg = ('network.satellite_specialties: expected a list of specialty names, e.g. '
               '["eye", "lung"], or [] for none')
        raise ConfigError(msg)
    k = t.get("satellite_k", d.satellite_k)
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        msg = f"network.satellite_k: expected a whole number of links, 1 or more, found {k!r}"
        raise ConfigError(msg)
    within = _number("network.satellite_time_min",
                     t.get("satellite_time_min", d.satellite_time_min))
    return NetworkConfig(transfer_mode=mode,
                         satellite_specialties=tuple(x.strip() for x in specs),
                         satellite_k=k, satellite_time_min=within)


def _tier_table(key: str, value: Any, convert) -> dict[str, Any]:
    """A table keyed by capacity tier (``{station = 30, regional = 60}``), values converted."""
    table = _table(key, value)
    out = {}
    for tier, v in table.items():
        if tier not in CAPACITY_TIERS:
            msg = f"{key}.{tier}: unknown tier {tier!r}; use {', '.join(CAPACITY_TIERS)}"
            raise ConfigError(msg)
        out[str(tier)] = convert(f"{key}.{tier}", v)
    return out


def _choice(key: str, value: Any, allowed: tuple[str, ...]) -> str:
    text = _string(key, value)
    if text not in allowed:
        msg = f"{key}: expected one of {', '.join(allowed)}, found {text!r}"
        raise ConfigError(msg)
    return text


def _bool(key: str, value: Any) -> bool:
    if not isinstance(value, bool):
        msg = f"{key}: expected true or false, found {value!r}"
        raise ConfigError(msg)
    return value


def _parse_totals(t: dict[str, Any]) -> TotalsConfig:
    key = "capacity.totals"
    values: dict[str, float] = {}
    allowed = {f"{tier}_{what}" for tier in CAPACITY_TIERS for what in STAFF_FIELDS}
    for k, v in t.items():
        if k in ("spread", "max_per_commune"):
            continue
        if k not in allowed:
            msg = (f"unknown key in [{key}]: {k}; a total is <tier>_<field> with tier one of "
                   f"{', '.join(CAPACITY_TIERS)} and field one of {', '.join(STAFF_FIELDS)} "
                   f"(e.g. station_doctors), or spread, max_per_commune")
            raise ConfigError(msg)
        values[k] = _number(f"{key}.{k}", v, allow_zero=True)
    spread = _choice(f"{key}.spread", t.get("spread", TotalsConfig.spread), SPREADS)
    caps_raw = _table(f"{key}.max_per_commune", t.get("max_per_commune", {}))
    caps: dict[str, float] = {}
    for k, v in caps_raw.items():
        if k not in values:
            msg = (f"{key}.max_per_commune.{k}: no total {k} in [{key}]; a cap applies to a "
                   f"total given there ({', '.join(sorted(values)) or 'none given'})")
            raise ConfigError(msg)
        caps[k] = _number(f"{key}.max_per_commune.{k}", v)
    return TotalsConfig(values=values, spread=spread, max_per_commune=caps)


def _parse_capacity(t: dict[str, Any]) -> CapacityConfig:
    d = CapacityConfig()
    _check_keys("capacity", t, {f.name for f in fields(CapacityConfig)})
    tiers_raw = t.get("tiers", list(d.tiers))
    if not isinstance(tiers_raw, list) or not all(isinstance(x, str) for x in tiers_raw):
        msg = 'capacity.tiers: expected a list of tiers, e.g. ["station", "regional"], or []'
        raise ConfigError(msg)
    for tier in tiers_raw:
        if tier not in CAPACITY_TIERS:
            msg = f"capacity.tiers: unknown tier {tier!r}; use {', '.join(CAPACITY_TIERS)}"
            raise ConfigError(msg)
    if len(set(tiers_raw)) != len(tiers_raw):
        msg = f"capacity.tiers: a tier is repeated in {tiers_raw}"
        raise ConfigError(msg)
    # tiers the tables leave out keep their defaults
    max_time = {**d.max_time_min, **_tier_table("capacity.max_time_min",
                                                t.get("max_time_min", {}), _number)}
    basis = {**d.basis, **_tier_table("capacity.basis", t.get("basis", {}),
                                      lambda k, v: _choice(k, v, BASES))}
    norms = {name: _tier_table(f"capacity.{name}", t.get(name, {}), _number)
             for name in ("people_per_doctor", "people_per_bed", "people_per_facility")}
    for tier in tiers_raw:
        if tier not in max_time:
            msg = f"capacity.max_time_min.{tier}: missing; give the time limit of every tier"
            raise ConfigError(msg)
        if tier not in basis:
            msg = (f"capacity.basis.{tier}: missing; give what the capacity of a {tier} is "
                   f"computed from ({', '.join(BASES)})")
            raise ConfigError(msg)
        if basis[tier] == "norm" and tier not in norms["people_per_facility"]:
            msg = (f"capacity.people_per_facility.{tier}: missing; basis 'norm' needs the "
                   f"persons one {tier} can serve")
            raise ConfigError(msg)
    limit = _number("capacity.time_limit_s", t.get("time_limit_s", d.time_limit_s))
    return CapacityConfig(
        tiers=tuple(tiers_raw), max_time_min=max_time, basis=basis,
        people_per_doctor=norms["people_per_doctor"], people_per_bed=norms["people_per_bed"],
        people_per_facility=norms["people_per_facility"],
        order=_choice("capacity.order", t.get("order", d.order), ORDERS),
        descending=_bool("capacity.descending", t.get("descending", d.descending)),
        bands=_choice("capacity.bands", t.get("bands", d.bands), BANDS),
        time_limit_s=limit,
        totals=_parse_totals(_table("capacity.totals", t.get("totals", {}))))


_CLASS_KEYS = {f.name for f in fields(ScaleUpClass)}


def _parse_class(i: int, c: Any) -> ScaleUpClass:
    key = f"scale_up.classes[{i}]"
    c = _table(key, c)
    unknown = sorted(set(c) - _CLASS_KEYS)
    if unknown:
        msg = (f"{key}: unknown key{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}; "
               f"allowed: {', '.join(sorted(_CLASS_KEYS))}")
        raise ConfigError(msg)
    name = _string(f"{key}.name", c.get("name", ""))
    if not name.strip():
        msg = f"{key}.name: missing; give each class a name"
        raise ConfigError(msg)
    given = [k for k in ("capacity", "doctors", "beds") if k in c]
    if len(given) != 1:
        msg = (f"{key} ({name}): give exactly one of capacity (persons), doctors or beds "
               f"(times the tier's norm); found {', '.join(given) or 'none'}")
        raise ConfigError(msg)
    vals = {k: _number(f"{key}.{k}", c[k]) for k in given}
    rng = {k: _number(f"{key}.{k}", c[k], allow_zero=True)
           for k in ("min_population", "max_population") if k in c}
    if len(rng) == 1:
        msg = f"{key} ({name}): give both min_population and max_population, or neither"
        raise ConfigError(msg)
    return ScaleUpClass(name=name.strip(),
                        cost=_number(f"{key}.cost", c.get("cost", 1.0), allow_zero=True),
                        **vals, **rng)


def _parse_scale_up(t: dict[str, Any]) -> ScaleUpConfig:
    d = ScaleUpConfig()
    tier = _choice("scale_up.tier", t.get("tier", d.tier), CAPACITY_TIERS)
    cand = _string("scale_up.candidates", t.get("candidates", d.candidates))
    if not cand.strip():
        msg = ("scale_up.candidates: expected grid, stations or the path of a point layer "
               "(CSV with lon, lat), found an empty string")
        raise ConfigError(msg)
    grid = _number("scale_up.grid_m", t.get("grid_m", d.grid_m))
    if not 100 <= grid <= 50_000:
        msg = f"scale_up.grid_m: expected 100 to 50000 metres, found {grid:g}"
        raise ConfigError(msg)
    share = _number("scale_up.target_share", t.get("target_share", d.target_share),
                    allow_zero=True)
    if share >= 1:
        msg = f"scale_up.target_share: expected a share from 0 to below 1, found {share:g}"
        raise ConfigError(msg)
    gap = _number("scale_up.mip_rel_gap", t.get("mip_rel_gap", d.mip_rel_gap), allow_zero=True)
    if gap >= 1:
        msg = f"scale_up.mip_rel_gap: expected a share below 1 (0.01 = 1 %), found {gap:g}"
        raise ConfigError(msg)
    budget = _number("scale_up.budget", t.get("budget", d.budget), allow_zero=True)
    if share > 0 and budget > 0:
        msg = (f"scale_up: give one question: budget (most people served for that money) or "
               f"target_share (the cheapest way to serve that share); found budget = "
               f"{budget:g} and target_share = {share:g}: set the other to 0")
        raise ConfigError(msg)
    raw = t.get("classes", [])
    if not isinstance(raw, list):
        msg = "scale_up.classes: expected [[scale_up.classes]] tables (name, capacity, cost)"
        raise ConfigError(msg)
    classes = tuple(_parse_class(i, c) for i, c in enumerate(raw))
    names = [c.name for c in classes]
    if len(set(names)) != len(names):
        msg = f"scale_up.classes: names must be unique, found {names}"
        raise ConfigError(msg)
    return ScaleUpConfig(
        tier=tier, candidates=cand.strip(), grid_m=grid,
        max_time_min=_number("scale_up.max_time_min", t.get("max_time_min", d.max_time_min),
                             allow_zero=True),
        budget=budget, target_share=share, curve=_bool("scale_up.curve", t.get("curve", d.curve)),
        classes=classes,
        time_limit_s=_number("scale_up.time_limit_s", t.get("time_limit_s", d.time_limit_s)),
        mip_rel_gap=gap,
        demand_cell_m=_number("scale_up.demand_cell_m", t.get("demand_cell_m", d.demand_cell_m),
                              allow_zero=True))


def _parse_output(t: dict[str, Any]) -> OutputConfig:
    folder = _string("output.folder", t.get("folder", OutputConfig.folder))
    if not folder:
        msg = "output.folder: expected a folder path, found an empty string"
        raise ConfigError(msg)
    language = _string("output.language", t.get("language", OutputConfig.language))
    if language.strip().lower() not in LANGUAGES:
        msg = (f"output.language: {language!r} is not available; use one of "
               f"{', '.join(map(repr, LANGUAGES))}")
        raise ConfigError(msg)
    return OutputConfig(folder=folder, language=language.strip().lower())


def _check_cutoff(travel: TravelConfig, access: AccessConfig, network: NetworkConfig) -> None:
    """The cost tables keep no trip longer than ``travel.cutoff_min``: every time the analyses
    compare against must fit under it."""
    times = [(f"access.thresholds_min.{tier}", max(v)) for tier, v in
             access.thresholds_min.items()]
    times.append(("access.e2sfca.catchment_min", access.e2sfca.catchment_min))
    if network.satellite_specialties:
        times.append(("network.satellite_time_min", network.satellite_time_min))
    above = [(k, v) for k, v in times if v > travel.cutoff_min]
    if above:
        listed = ", ".join(f"{k} = {v:g}" for k, v in above)
        need = max(v for _, v in above)
        msg = (f"travel.cutoff_min: {travel.cutoff_min:g} min is below {listed}; the cost tables "
               f"keep no trip longer than the cut-off, so these would count everyone beyond it "
               f"as out of reach: raise travel.cutoff_min to at least {need:g}, or lower those "
               f"times")
        raise ConfigError(msg)


_PARSERS = {
    "province": _parse_province,
    "data": _parse_data,
    "layers": _parse_layers,
    "demand": _parse_demand,
    "travel": _parse_travel,
    "access": _parse_access,
    "targets": _parse_targets,
    "network": _parse_network,
    "capacity": _parse_capacity,
    "scale_up": _parse_scale_up,
    "output": _parse_output,
}


def _check_travel_model(t: TravelConfig, layers: LayersConfig, network: NetworkConfig, *,
                        model_given: bool) -> TravelConfig:
    """The model against the layers: without ``travel.model``, a road layer means the road
    model (as in earlier versions); the road model needs a road layer; the road and
    friction models need road speeds for the travel and transfer modes."""
    if not model_given and layers.roads:
        t = replace(t, model="roads")
    if t.model == "roads" and not layers.roads:
        msg = ('travel.model = "roads" needs layers.roads (a line layer, or an OpenStreetMap '
               '.osm.pbf extract: see `gis roads extract`); or use "friction" (off-road speeds '
               'and land cover, roads optional) or "straight"')
        raise ConfigError(msg)
    if t.model != "straight":
        for key, m in (("travel.mode", t.mode), ("network.transfer_mode", network.transfer_mode)):
            if m not in ROAD_MODES and m not in t.road_speed_kmh:
                msg = (f"{key}: {m!r} has no road speeds for travel.model = {t.model!r}; use "
                       f"one of {', '.join(ROAD_MODES)} or give [travel.road_speed_kmh.{m}]")
                raise ConfigError(msg)
    if layers.landcover and t.model != "friction":
        msg = ('layers.landcover: a land-cover raster is used by travel.model = "friction" '
               f'only (the model is {t.model!r}); set the model or leave layers.landcover ""')
        raise ConfigError(msg)
    return t


def _cross_check_capacity(cap: CapacityConfig, up: ScaleUpConfig, travel: TravelConfig) -> None:
    for tier in cap.tiers:
        if cap.max_time_min[tier] > travel.cutoff_min:
            msg = (f"capacity.max_time_min.{tier}: {cap.max_time_min[tier]:g} min is beyond "
                   f"travel.cutoff_min ({travel.cutoff_min:g}); pairs beyond the cut-off are "
                   f"not stored: lower it or raise travel.cutoff_min")
            raise ConfigError(msg)
    if up.budget > 0 or up.target_share > 0:
        if up.tier not in cap.tiers:
            msg = (f"scale_up.tier: {up.tier!r} is not analysed (capacity.tiers = "
                   f"{list(cap.tiers)}); scaling up adds to a tier's capacity result")
            raise ConfigError(msg)
        if up.max_time_min > travel.cutoff_min:
            msg = (f"scale_up.max_time_min: {up.max_time_min:g} min is beyond "
                   f"travel.cutoff_min ({travel.cutoff_min:g})")
            raise ConfigError(msg)


def parse_config(data: dict[str, Any], *, base_dir: Path, source: str = "<dict>") -> Config:
    """Validate a parsed TOML document and build a :class:`Config`."""
    try:
        _check_keys("", data, set(_SECTIONS))
        parts: dict[str, Any] = {}
        for name, cls in _SECTIONS.items():
            table = _table(name, data.get(name, {}))
            if name not in ("access", "capacity"):
                _check_keys(name, table, {f.name for f in fields(cls)})
            parts[name] = _PARSERS[name](table)
        mode = parts["network"].transfer_mode
        if mode not in parts["travel"].speed_kmh:
            msg = (f"network.transfer_mode: {mode!r} has no speed; add travel.speed_kmh.{mode} "
                   f"or choose one of {', '.join(sorted(parts['travel'].speed_kmh))}")
            raise ConfigError(msg)
        parts["travel"] = _check_travel_model(parts["travel"], parts["layers"],
                                              parts["network"],
                                              model_given="model" in data.get("travel", {}))
        _check_cutoff(parts["travel"], parts["access"], parts["network"])
        _cross_check_capacity(parts["capacity"], parts["scale_up"], parts["travel"])
    except ConfigError as exc:
        raise ConfigError(f"{source}: {exc}") from None
    return Config(**parts, base_dir=base_dir, source=source)


def load_config(path: Path | str | None = None) -> Config:
    """Load ``config.toml``.

    Parameters
    ----------
    path : path, optional
        The file. Default: ``./config.toml`` if it exists, else the built-in defaults (Ha Tinh).
    """
    if path is None:
        candidate = Path.cwd() / "config.toml"
        if not candidate.exists():
            return Config(base_dir=Path.cwd())
        path = candidate
    path = Path(path)
    if not path.exists() and not any(p.is_file() for p in path.parents):
        msg = f"{path}: config file not found; pass --config with an existing file"
        raise ConfigError(msg)
    text, problems = read_text(path, what="config file", suffixes=(".toml",))
    if problems:
        msg = f"{path}: {problems[0]}"
        raise ConfigError(msg)
    assert text is not None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        msg = f"{path}: not valid TOML: {exc}"
        raise ConfigError(msg) from None
    return parse_config(data, base_dir=path.resolve().parent, source=str(path))
