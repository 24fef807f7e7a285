"""Shared fixtures: real data from ../shared/data (never copied into the project)."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("GIS_SHARED_DATA", ROOT.parent / "shared" / "data"))
COMMUNES_2025 = SHARED_DATA / "vn2025" / "communes_2025.geojson"
CENSUS_2019 = SHARED_DATA / "census2019" / "population_2019_by_legacy_commune.csv"
# Fixtures that read ../shared/data: a test using one is marked ``slow`` (see below).
REAL_DATA_FIXTURES = {"communes_2025_path", "census_2019_path", "default_run", "default_run_en"}


def require_shared(path: Path) -> Path:
    """Return ``path`` if it exists; fail under CI (env ``CI`` set), skip elsewhere."""
    if path.exists():
        return path
    msg = f"real data missing: {path} (the tests read ../shared/data beside the project)"
    if os.environ.get("CI"):
        pytest.fail(msg)
    pytest.skip(msg)


def mutation_scope(fixture_name, config) -> str:
    """Scope of the fast tests' expensive fixtures: ``module`` normally, ``function`` under
    mutmut. mutmut credits a function of the package to the tests during which it ran, and a
    module fixture runs once, during the first test that asks for it: the other tests using
    it would never run against the mutants of what the fixture calls. (mutmut sets
    ``MUTANT_UNDER_TEST`` in its processes.)"""
    return "function" if "MUTANT_UNDER_TEST" in os.environ else "module"


def pytest_collection_modifyitems(config, items):
    """Mark the real-data tests ``slow`` (those using a real-data fixture, or named
    ``test_real_...``), so that ``-m "not slow"`` selects the fast hand-checkable tests (the
    mutation runs use it: see docs/mutation.md)."""
    for item in items:
        uses = set(getattr(item, "fixturenames", ()))
        if uses & REAL_DATA_FIXTURES or "_real_" in item.name or item.name.startswith(
                "test_real"):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session")
def communes_2025_path() -> Path:
    return require_shared(COMMUNES_2025)


@pytest.fixture(scope="session")
def census_2019_path() -> Path:
    return require_shared(CENSUS_2019)


@dataclass
class Run:
    """A run's output folder, its summary.json and the stages' results (``kept``)."""

    out: Path
    s: dict
    kept: dict


USER_PLAN = "official_plus_5"


@pytest.fixture(scope="session")
def default_run(tmp_path_factory):
    """`gis run --offline` with the project's config.toml: Hà Tĩnh on the base data, as the
    README's two commands run it, in Vietnamese (the default), with one user plan
    (``--plan official_plus_5.csv``: the official plan's 69 main stations plus the first 5
    other former stations by id kept as branch points, the other 135 closed). The stages'
    results are kept for the brute-force checks. One run per session, shared by test_pipeline
    (the outputs, the README's figures) and test_figures (every figure derived again by
    another route)."""
    from gis import pipeline
    from gis.cli import main
    from gis.cli import run as cli_run
    from gis.inputs.config import load_config
    from gis.outputs.tables import plan_csv

    kept: dict = {}

    def keep(name, fn):
        def wrapper(*args, **kwargs):
            kept[name] = fn(*args, **kwargs)
            return kept[name]
        return wrapper

    base = tmp_path_factory.mktemp("run")
    out = base / "hatinh"
    prep, plan = pipeline.official(load_config(ROOT / "config.toml"), branches=False)
    a = plan.actions.copy()
    five = sorted(a.loc[a["action"] == "close", "facility_id"])[:5]
    a.loc[a["facility_id"].isin(five), "action"] = "branch"
    user = base / f"{USER_PLAN}.csv"
    user.write_text(plan_csv(type(plan)(name=USER_PLAN, actions=a), prep.layers.facilities),
                    encoding="utf-8")
    with pytest.MonkeyPatch.context() as mp:
        for name in ("prepare", "run_access_stage", "run_plans_stage", "run_network_stage"):
            mp.setattr(pipeline, name, keep(name, getattr(pipeline, name)))
        mp.setattr(cli_run, "run", keep("run", pipeline.run))
        assert main(["-q", "run", "--config", str(ROOT / "config.toml"), "--out", str(out),
                     "--offline", "--plan", str(user)]) == 0
    kept["five"] = five
    return Run(out, json.loads((out / "summary.json").read_text(encoding="utf-8")), kept)


@pytest.fixture(scope="session")
def default_run_en(default_run, tmp_path_factory):
    """The same run's outputs written in English (no analysis run again)."""
    import copy

    from gis.pipeline import write_outputs

    result = default_run.kept["run"]
    out = tmp_path_factory.mktemp("run_en") / "hatinh"
    out.mkdir()
    summary = copy.deepcopy(result.summary)
    write_outputs(out, result.prep, result.layers, summary, offline=True, lang="en")
    return Run(out, summary, default_run.kept)
