"""National runs: every province's pipeline as Dask tasks, then the national outputs.

``gis run --province all`` (or a list of provinces) runs :func:`gis.pipeline.run` once per
province, each as a task of a :mod:`dask.distributed` cluster: a :class:`LocalCluster` on this
machine (``--workers N``, one thread and a stated memory limit each) or an existing cluster
(``--scheduler ADDRESS``). Either way the work goes through one :class:`distributed.Client`
(:func:`cluster_client`), and :func:`run_national` is the same code path.

The tasks, per province:

1. ``prepare``: :func:`gis.pipeline.prepare` of the province's configuration (kept on the
   worker as a future);
2. ``halo-source``: its active facilities, as its neighbours see them (small, for the
   cross-border halo);
3. ``run``: the halo from the neighbours' facilities within reach
   (:func:`gis.pipeline.cross_border_halo`), then :func:`gis.pipeline.run` on the prepared
   layers, writing ``<out>/<province>/`` exactly as a single run does. It returns the summary
   and the few layers the national outputs need (communes with coverage, under-served areas,
   facilities, the outline; EPSG:4326), its wall time and peak memory.

A province's run starts as soon as the facilities of its candidate neighbours are known. A
failed province is reported with its error message while the others go on; the national
outputs (``<out>/vietnam/``) cover the provinces that succeeded and list those that failed.
Neighbours that fail to prepare leave the halos without their facilities (said in the
summary). Output folders are shared with the workers: on a cluster the output path must be
reachable by every worker under the same name (a shared file system).
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import resource
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd
import shapely

from gis.errors import GisError, OutputError
from gis.inputs.config import Config
from gis.inputs.neighbours import candidate_neighbours
from gis.inputs.registry import Province, find_province, load_registry, provinces
from gis.outputs import national as N
from gis.pipeline import (
    Prepared,
    config_for_province,
    cross_border_enabled,
    cross_border_halo,
    halo_reach_m,
    halo_source,
    prepare,
)
from gis.pipeline import run as run_pipeline

log = logging.getLogger(__name__)

NATIONAL_FOLDER = "vietnam"
#: CRS of the layers returned to the client and of the national outputs: the provinces lie in
#: UTM zones 48N and 49N, so the national layers are in longitude/latitude.
NATIONAL_CRS = "EPSG:4326"


# --- which provinces, which cluster -----------------------------------------------------------

def parse_provinces(spec: str) -> list[Province]:
    """``"all"`` or a comma-separated list of province codes or names (``"42, Nghệ An"``).

    Raises
    ------
    RegistryError
        For a name that matches no province (the message lists the closest).
    GisError
        For an empty list.
    """
    text = spec.strip()
    if text.lower() in ("all", "*", "vietnam", "viet nam", "việt nam"):
        return list(provinces())
    out: list[Province] = []
    for part in text.split(","):
        if part.strip():
            p = find_province(part)
            if p not in out:
                out.append(p)
    if not out:
        msg = (f"--province {spec!r}: no province given; use all, or codes or names "
               f"separated by commas")
        raise GisError(msg)
    return out


def is_national_spec(spec: str | None) -> bool:
    """True when ``--province`` asks for several provinces (``all`` or a comma list)."""
    return spec is not None and ("," in spec or spec.strip().lower() in
                                 ("all", "*", "vietnam", "viet nam", "việt nam"))


def total_memory_bytes() -> int:
    """Physical memory of this machine in bytes."""
    return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))


def default_workers() -> int:
    """Default number of local workers: the cores of this machine."""
    return max(1, os.cpu_count() or 1)


def default_memory_per_worker(workers: int) -> int:
    """Default memory limit of a local worker: the machine's memory shared equally (bytes),
    Dask's own rule for ``memory_limit="auto"``."""
    return total_memory_bytes() // max(1, workers)


def parse_memory(text: str | int | None) -> int | None:
    """``"4GB"``, ``"3.5 GiB"``, ``"800MB"`` or bytes -> bytes (None stays None)."""
    if text is None or isinstance(text, int):
        return text
    from dask.utils import parse_bytes  # dask is heavy: imported only for a national run

    try:
        return int(parse_bytes(str(text).replace(" ", "")))
    except (ValueError, TypeError):
        msg = f"--memory-per-worker: expected a size such as 4GB or 3.5GiB, found {text!r}"
        raise GisError(msg) from None


@dataclass(frozen=True)
class ClusterInfo:
    """What a national run ran on (for the summary and the benchmark)."""

    kind: str                      # "local" or "existing"
    address: str
    workers: int
    threads_per_worker: int
    memory_per_worker: int | None  # bytes; None when the workers state none
    processes: bool

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "address": self.address, "workers": self.workers,
                "threads_per_worker": self.threads_per_worker,
                "memory_per_worker_bytes": self.memory_per_worker,
                "processes": self.processes}


def cluster_info(client: Any) -> ClusterInfo:
    """Workers, threads and memory limits of the cluster behind ``client``."""
    info = client.scheduler_info(n_workers=-1)
    ws = list(info.get("workers", {}).values())
    limits = {w.get("memory_limit") for w in ws if w.get("memory_limit")}
    threads = {int(w.get("nthreads", 1)) for w in ws} or {1}
    cluster = getattr(client, "cluster", None)
    return ClusterInfo(kind="local" if cluster is not None else "existing",
                       address=str(info.get("address", "")), workers=len(ws),
                       threads_per_worker=max(threads),
                       memory_per_worker=int(min(limits)) if limits else None,
                       processes=bool(getattr(cluster, "processes", True)))


@contextlib.contextmanager
def cluster_client(*, scheduler: str | None = None, workers: int | None = None,
                   memory_per_worker: int | str | None = None, processes: bool = True,
                   ) -> Iterator[Any]:
    """A :class:`distributed.Client`: of an existing cluster (``scheduler`` address), else of
    a new :class:`distributed.LocalCluster` closed on exit.

    Parameters
    ----------
    scheduler : str, optional
        Address of a running Dask scheduler (``tcp://host:8786``); ``workers`` and
        ``memory_per_worker`` are then the cluster's own and must not be given.
    workers : int, optional
        Local worker processes, one thread each (default :func:`default_workers`).
    memory_per_worker : int or str, optional
        Memory limit of each local worker, bytes or ``"4GB"`` (default
        :func:`default_memory_per_worker`). A worker going over it is restarted by its nanny
        and its province is reported as failed.
    processes : bool, default True
        Workers as processes (memory limits enforced); False runs them as threads of this
        process (tests).
    """
    from dask import config as dask_config  # heavy, optional for single runs
    from distributed import Client, LocalCluster

    if scheduler:
        if workers is not None or memory_per_worker is not None:
            msg = ("--workers and --memory-per-worker apply to a local cluster only; the "
                   "cluster at --scheduler has its own workers (dask worker ... "
                   "--memory-limit)")
            raise GisError(msg)
        try:
            client = Client(scheduler, timeout="20s")
        except (OSError, TimeoutError) as exc:
            msg = (f"--scheduler {scheduler}: cannot reach a Dask scheduler there ({exc}); "
                   f"start one with `dask scheduler` and workers with `dask worker "
                   f"{scheduler} --nthreads 1 --memory-limit 4GB`")
            raise GisError(msg) from None
        try:
            yield client
        finally:
            client.close()
        return
    n = workers if workers is not None else default_workers()
    if n < 1:
        msg = f"--workers: expected 1 or more, found {n}"
        raise GisError(msg)
    mem = parse_memory(memory_per_worker)
    if mem is None:
        mem = default_memory_per_worker(n)
    if mem < 256 * 2**20:
        msg = (f"--memory-per-worker: {mem / 2**20:.0f} MB is too little for a province; "
               f"give 1GB or more")
        raise GisError(msg)
    # A worker that dies (over its memory limit) fails its province at once instead of
    # passing the same province to the next worker. Dask's own logs (a failed task's
    # traceback, connections) stay quiet: a failed province is reported by its message.
    quiet = logging.getLogger("gis").getEffectiveLevel() > logging.INFO
    dlog = logging.getLogger("distributed")
    before = dlog.level
    if quiet:
        dlog.setLevel(logging.CRITICAL)
    with dask_config.set({"distributed.scheduler.allowed-failures": 0}):
        cluster = LocalCluster(n_workers=n, threads_per_worker=1, memory_limit=mem,
                               processes=processes, dashboard_address=None,
                               silence_logs=logging.CRITICAL if quiet else logging.WARNING)
        client = Client(cluster)
    try:
        yield client
    finally:
        client.close()
        cluster.close()
        dlog.setLevel(before)


# --- the tasks (module-level functions: sent to the workers) ----------------------------------

class _PeakMemory:
    """Peak resident memory of this process while a block runs (sampled every 50 ms)."""

    def __init__(self) -> None:
        import psutil  # comes with distributed

        self._proc = psutil.Process()
        self.peak = self.start = self._proc.memory_info().rss
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        while not self._stop.wait(0.05):
            self.peak = max(self.peak, self._proc.memory_info().rss)

    def __enter__(self) -> _PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._proc.memory_info().rss)


@dataclass
class ProvinceOutcome:
    """One province of a national run: its figures, or its error.

    Attributes
    ----------
    code, name, key : str
        Province code (``"42"``), name and file key (``"hatinh"``).
    ok : bool
    error : str or None
        The error message (no traceback) when the province failed.
    summary : dict or None
        The province's ``summary.json``.
    layers : dict of str to GeoDataFrame
        ``communes`` (coverage per post-2025 commune), ``underserved``, ``facilities`` and
        ``outline`` (one row), in EPSG:4326, each with ``province_code``.
    out_dir : Path or None
        The province's output folder.
    wall_s : float
        Wall time of the province's run task (the pipeline and its outputs), seconds.
    peak_rss_mb, start_rss_mb : float or None
        Resident memory of the worker process at the start and at its peak during the run.
    worker : str
        The worker that ran it.
    """

    code: str
    name: str
    key: str
    ok: bool
    error: str | None = None
    summary: dict[str, Any] | None = None
    layers: dict[str, gpd.GeoDataFrame] = field(default_factory=dict)
    out_dir: Path | None = None
    wall_s: float = float("nan")
    peak_rss_mb: float | None = None
    start_rss_mb: float | None = None
    worker: str = ""


def _national_layers(result: Any, prep: Prepared) -> dict[str, gpd.GeoDataFrame]:
    code = prep.registry.province.code
    name = prep.registry.province.short
    out: dict[str, gpd.GeoDataFrame] = {}
    for key, src in (("communes", "coverage_communes"), ("underserved", "underserved"),
                     ("facilities", "facilities")):
        gdf = result.layers.get(src)
        if gdf is None:
            if key == "communes":
                gdf = prep.layers.communes[["commune_code", "commune_name", "population",
                                            "population_source", "geometry"]]
            else:
                continue
        g = gdf.to_crs(NATIONAL_CRS)
        g.insert(0, "province_name", name)
        g.insert(0, "province_code", code)
        out[key] = g
    if "communes" in out and "population" not in out["communes"]:
        pop = prep.layers.communes.set_index("commune_code")["population"]
        out["communes"]["population"] = out["communes"]["commune_code"].map(pop).to_numpy()
    outline = gpd.GeoDataFrame({"province_code": [code], "province_name": [name]},
                               geometry=[province_outline_display(prep.layers.communes)],
                               crs=prep.layers.crs).to_crs(NATIONAL_CRS)
    out["outline"] = outline
    return out


def province_outline_display(communes: gpd.GeoDataFrame, *, close_m: float = 50.0,
                             min_hole_km2: float = 1.0) -> shapely.Geometry:
    """The province's outline for the national layers: the union of its communes with the
    slivers between neighbouring polygons closed (grown and shrunk by ``close_m`` metres) and
    holes under ``min_hole_km2`` dropped (real commune layers leave hundreds of them, which
    would weigh megabytes on the national map)."""
    merged = shapely.buffer(shapely.union_all(shapely.buffer(communes.geometry.to_numpy(),
                                                             close_m)), -close_m)
    polys = []
    for part in shapely.get_parts(merged):
        holes = [r for r in part.interiors if shapely.Polygon(r).area >= min_hole_km2 * 1e6]
        polys.append(shapely.Polygon(part.exterior, holes))
    return shapely.MultiPolygon(polys)


def _task_prepare(cfg: Config, log_level: int) -> Prepared:
    logging.getLogger("gis").setLevel(log_level)
    return prepare(cfg)


def _task_halo_source(prep: Prepared) -> gpd.GeoDataFrame:
    return halo_source(prep)


def _task_run(prep: Prepared, neighbours: Mapping[str, gpd.GeoDataFrame] | None, *,
              out_dir: str, overwrite: bool, offline: bool, optimise: bool,
              log_level: int, lang: str | None = None) -> ProvinceOutcome:
    from distributed import get_worker  # on a worker: distributed is there

    logging.getLogger("gis").setLevel(log_level)
    p = prep.registry.province
    try:
        worker = get_worker().address
    except ValueError:
        worker = ""
    t0 = time.perf_counter()
    with _PeakMemory() as mem:
        halo = cross_border_halo(prep, neighbours) if neighbours is not None else None
        result = run_pipeline(prep.config, out_dir=Path(out_dir), overwrite=overwrite,
                              offline=offline, prepared=prep, halo=halo,
                              cross_border=neighbours is not None, optimise=optimise,
                              lang=lang)
        layers = _national_layers(result, prep)
    return ProvinceOutcome(code=p.code, name=p.short, key=p.key, ok=True, summary=result.summary,
                           layers=layers, out_dir=Path(out_dir),
                           wall_s=time.perf_counter() - t0, peak_rss_mb=mem.peak / 2**20,
                           start_rss_mb=mem.start / 2**20, worker=worker)


# --- the run ----------------------------------------------------------------------------------

@dataclass
class NationalResult:
    """What :func:`run_national` produced.

    Attributes
    ----------
    out_dir : Path
        The national folder (``<out>/vietnam``).
    outcomes : list of ProvinceOutcome
        One per requested province, by code.
    table : DataFrame
        The national table (one row per province, see :func:`gis.outputs.national.province_row`).
    files : list of Path
        Files of the national folder.
    summary : dict
        The national ``summary.json``.
    """

    out_dir: Path
    outcomes: list[ProvinceOutcome]
    table: pd.DataFrame
    files: list[Path]
    summary: dict[str, Any]

    @property
    def failed(self) -> list[ProvinceOutcome]:
        return [o for o in self.outcomes if not o.ok]


def error_message(exc: BaseException, *, memory_limit: int | None = None) -> str:
    """The message a failed province is reported with: the error's own text, no traceback.
    A worker that died (most often over its memory limit) says so."""
    name = type(exc).__name__
    if name == "KilledWorker":
        limit = f" of {memory_limit / 1e9:.1f} GB" if memory_limit else ""
        return (f"the worker running it died, most likely over its memory limit{limit}; give "
                f"--memory-per-worker more (and fewer --workers), or a coarser "
                f"demand.cell_size_m")
    if isinstance(exc, GisError):
        return str(exc)
    text = str(exc).strip().splitlines()
    return f"{name}: {text[0]}" if text else name


EventFn = Callable[[str, ProvinceOutcome | str], None]


def run_national(client: Any, cfg: Config, selected: Sequence[Province], *,
                 out_root: Path, overwrite: bool = False, offline: bool = False,
                 cross_border: bool | None = None, optimise: bool = True,
                 lang: str | None = None,
                 config_for: Callable[[str], Config] | None = None,
                 on_event: EventFn | None = None, log_level: int | None = None
                 ) -> NationalResult:
    """Run the pipeline of every selected province on the cluster of ``client`` and write the
    national outputs.

    Parameters
    ----------
    client : distributed.Client
        From :func:`cluster_client` (a local cluster or an existing one).
    cfg : Config
        The run's configuration; each province's is ``config_for(code)``.
    selected : sequence of Province
        The provinces to run (:func:`parse_provinces`).
    out_root : path
        Parent of the output folders: ``<out_root>/<province key>/`` per province (as a single
        run writes it) and ``<out_root>/vietnam/`` for the national outputs.
    overwrite : bool
        Replace existing output folders (otherwise :class:`OutputError` before any work).
    offline : bool
        Inline Leaflet into every map.
    cross_border : bool, optional
        Use the cross-border halo (default: :func:`gis.pipeline.cross_border_enabled` of a
        national run, i.e. yes unless ``access.cross_border = false``).
    optimise : bool
        Run the location models of the plans stage (see :func:`gis.pipeline.run`).
    lang : str, optional
        Language of each province's outputs and of the national outputs (default: the
        config's ``output.language``, Vietnamese unless set).
    config_for : callable, optional
        Province code -> its Config (default :func:`gis.pipeline.config_for_province` of
        ``cfg``); must be picklable (a module-level function or a ``functools.partial``).
    on_event : callable, optional
        ``on_event(kind, what)``: ``("prepared", code)``, ``("done", outcome)``,
        ``("failed", outcome)``, ``("writing", folder)``, as they happen (progress).
    log_level : int, optional
        Level of the ``gis`` loggers on the workers (default: this process's).
    """
    from distributed import as_completed  # heavy: imported only for a national run

    t_start = time.perf_counter()
    on_event = on_event or (lambda kind, what: None)
    config_for = config_for or functools.partial(config_for_province, cfg)
    level = log_level if log_level is not None else logging.getLogger("gis").getEffectiveLevel()
    out_root = Path(out_root).resolve()
    codes = [p.code for p in selected]
    by_code = {p.code: p for p in provinces()}
    folders = {c: out_root / by_code[c].key for c in codes}
    national_dir = out_root / NATIONAL_FOLDER
    if not overwrite:
        busy = [str(f) for f in [*folders.values(), national_dir]
                if f.exists() and any(f.iterdir())]
        if busy:
            msg = (f"output folders exist and are not empty: {', '.join(busy[:5])}"
                   f"{' …' if len(busy) > 5 else ''}; pass --overwrite to replace them, or "
                   f"choose another --out")
            raise OutputError(msg)
    cb = cross_border if cross_border is not None else cross_border_enabled(cfg, national=True)
    configs = {c: config_for(c) for c in codes}
    neighbours: dict[str, list[str]] = {}
    if cb:
        for c in codes:
            neighbours[c] = candidate_neighbours(c, halo_reach_m(configs[c]))
    needed = list(dict.fromkeys([*codes, *(n for c in codes for n in neighbours.get(c, []))]))
    for c in needed:
        configs.setdefault(c, config_for(c))
    token = uuid.uuid4().hex[:8]
    # Largest provinces first (the most pre-2025 communes): the last task to start is small.
    weight = {c: len(load_registry(c).legacy) for c in needed}
    prep_f = {c: client.submit(_task_prepare, configs[c], level, key=f"prepare-{c}-{token}",
                               priority=weight[c] + 10_000, pure=False) for c in needed}
    src_f = {c: client.submit(_task_halo_source, prep_f[c], key=f"halo-source-{c}-{token}",
                              priority=weight[c] + 10_000, pure=False)
             for c in needed} if cb else {}
    memory_limit = cluster_info(client).memory_per_worker
    outcomes: dict[str, ProvinceOutcome] = {}
    run_f: dict[Any, str] = {}
    halo_failures: dict[str, str] = {}
    pending = set(codes)

    def fail(code: str, exc: BaseException) -> None:
        p = by_code[code]
        o = ProvinceOutcome(code=code, name=p.short, key=p.key, ok=False,
                            error=error_message(exc, memory_limit=memory_limit),
                            out_dir=folders[code])
        outcomes[code] = o
        on_event("failed", o)

    def submit_ready() -> None:
        for c in sorted(pending, key=lambda c: -weight[c]):
            deps = neighbours.get(c, [])
            if any(src_f[n].status == "pending" for n in deps):
                continue
            pending.discard(c)
            if prep_f[c].status == "error":
                fail(c, prep_f[c].exception())
                continue
            nb = None
            if cb:
                nb = {}
                for n in deps:
                    if src_f[n].status == "finished":
                        nb[n] = src_f[n]
                    else:
                        halo_failures.setdefault(n, error_message(src_f[n].exception()))
            f = client.submit(_task_run, prep_f[c], nb, out_dir=str(folders[c]),
                              overwrite=overwrite, offline=offline, optimise=optimise,
                              log_level=level, lang=lang,
                              key=f"run-{c}-{token}", priority=weight[c], pure=False)
            run_f[f] = c

    if cb:
        code_of = {f.key: c for c, f in src_f.items()}
        submit_ready()
        for f in as_completed(list(src_f.values())):
            if f.status == "finished":
                on_event("prepared", code_of[f.key])
            submit_ready()
    else:
        submit_ready()
    # Release what no run needs any more (the neighbours' layers once their facilities exist).
    for c in needed:
        if c not in codes:
            prep_f.pop(c).release()
    for f in as_completed(list(run_f)):
        code = run_f[f]
        if f.status == "finished":
            o = f.result()
            outcomes[code] = o
            on_event("done", o)
        else:
            fail(code, f.exception())
        prep_f.pop(code, None)
    src_f.clear()
    info = cluster_info(client)
    ordered = [outcomes[c] for c in sorted(outcomes)]
    run_info = {"provinces_requested": len(codes), "succeeded": sum(o.ok for o in ordered),
                "optimise": optimise,
                "failed": {o.code: o.error for o in ordered if not o.ok},
                "cross_border": cb, "halo_failures": halo_failures,
                "cluster": info.as_dict(),
                "provinces_wall_s": time.perf_counter() - t_start}
    on_event("writing", str(national_dir))
    written = N.write_national_outputs(national_dir, ordered, run=run_info, overwrite=overwrite,
                                       offline=offline, thresholds_min=cfg.access.thresholds_min,
                                       lang=lang or cfg.output.language)
    return NationalResult(out_dir=national_dir, outcomes=ordered, table=written.table,
                          files=written.files, summary=written.summary)


def peak_rss_mb_of_workers(client: Any) -> dict[str, float]:
    """Peak resident memory (MB) of every worker process so far (``ru_maxrss``)."""
    def peak() -> float:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    return {str(k): float(v) for k, v in client.run(peak).items()}
