"""Shared fixtures: real data from ../shared/data (never copied into the project)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("GIS_SHARED_DATA", ROOT.parent / "shared" / "data"))
COMMUNES_2025 = SHARED_DATA / "vn2025" / "communes_2025.geojson"
CENSUS_2019 = SHARED_DATA / "census2019" / "population_2019_by_legacy_commune.csv"


def require_shared(path: Path) -> Path:
    """Return ``path`` if it exists; fail under CI (env ``CI`` set), skip elsewhere."""
    if path.exists():
        return path
    msg = f"real data missing: {path} (the tests read ../shared/data beside the project)"
    if os.environ.get("CI"):
        pytest.fail(msg)
    pytest.skip(msg)


@pytest.fixture(scope="session")
def communes_2025_path() -> Path:
    return require_shared(COMMUNES_2025)


@pytest.fixture(scope="session")
def census_2019_path() -> Path:
    return require_shared(CENSUS_2019)
