"""Shared fixtures: real data from ../shared/data (never copied into the project)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("GIS_SHARED_DATA", ROOT.parent / "shared" / "data"))
COMMUNES_2025 = SHARED_DATA / "vn2025" / "communes_2025.geojson"
CENSUS_2019 = SHARED_DATA / "census2019" / "population_2019_by_legacy_commune.csv"
# Fixtures that read ../shared/data: a test using one is marked ``slow`` (see below).
REAL_DATA_FIXTURES = {"communes_2025_path", "census_2019_path", "real_result", "real_run",
                      "real_run_en"}


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


USER_PLAN = "official_plus_5"


@pytest.fixture(scope="session")
def real_result(tmp_path_factory):
    """``gis run --plan official_plus_5.csv`` on Ha Tinh's real polygons and census
    (../shared/data), maps offline, in Vietnamese (the default): the official plan's 69 main
    stations plus 5 former stations kept as branch points (the first 5 by id), the other 135
    closed. One run per session, shared by test_pipeline (the outputs) and test_figures (every
    figure derived again by another route)."""
    from gis.inputs.config import load_config
    from gis.outputs.tables import plan_csv
    from gis.pipeline import official, run

    require_shared(COMMUNES_2025)
    require_shared(CENSUS_2019)
    base = tmp_path_factory.mktemp("real")
    out = base / "hatinh"
    cfg = load_config(ROOT / "examples" / "hatinh_shared_data.toml")
    prep, plan = official(cfg, branches=False)
    a = plan.actions.copy()
    five = sorted(a.loc[a["action"] == "close", "facility_id"])[:5]
    a.loc[a["facility_id"].isin(five), "action"] = "branch"
    user = base / f"{USER_PLAN}.csv"
    user.write_text(plan_csv(type(plan)(name=USER_PLAN, actions=a), prep.layers.facilities),
                    encoding="utf-8")
    result = run(cfg, out_dir=out, offline=True, plan_files=(user,))
    return result, five


@pytest.fixture(scope="session")
def real_run(real_result):
    """The real run's output folder and its summary.json."""
    result, _ = real_result
    out = result.out_dir
    return out, json.loads((out / "summary.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="session")
def real_run_en(real_result, tmp_path_factory):
    """The same run's outputs written in English (no analysis run again)."""
    import copy

    from gis.pipeline import write_outputs

    result, _ = real_result
    out = tmp_path_factory.mktemp("real_en") / "hatinh"
    out.mkdir()
    summary = copy.deepcopy(result.summary)
    write_outputs(out, result.prep, result.layers, summary, offline=True, lang="en")
    return out, summary
