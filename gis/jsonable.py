"""Plain JSON values from the package's results (numpy, pandas, paths): shared by the analyses
(summary sections) and the outputs. Imports nothing of the package."""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd


def to_jsonable(value: Any) -> Any:
    """A copy fit for strict JSON: NaN/inf and missing values (pandas NA, NaT) as null, numpy
    scalars and arrays as Python numbers and lists, tuples and sets as lists, paths as text,
    anything else as its text."""
    if isinstance(value, Mapping):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [to_jsonable(v) for v in value]
    if value is pd.NA or value is pd.NaT:
        return None
    if hasattr(value, "tolist") and not isinstance(value, str | bytes):
        return to_jsonable(value.tolist())
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Path):
        return str(value)
    if value is None or isinstance(value, str | int | bool):
        return value
    return str(value)
