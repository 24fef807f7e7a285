"""Referral tables and satellite links: their structure checked, every problem with its rows at
once (ids are checked against the facilities when the network is built)."""

from __future__ import annotations

import logging
import math
import re

import numpy as np
import pandas as pd

from gis.errors import NetworkError
from gis.inputs import validate as V

log = logging.getLogger(__name__)


_SINCE = re.compile(r"^\d{4}(-\d{2}(-\d{2})?)?$")


def _id_text(value: object) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _table(df: pd.DataFrame) -> pd.DataFrame:
    df = pd.DataFrame(df).copy()
    if "geometry" in df:
        df = df.drop(columns="geometry")
    if V.ROW not in df:
        df[V.ROW] = np.arange(2, len(df) + 2)
    return df


def check_referral_table(df: pd.DataFrame, *, source: str = "referral table") -> pd.DataFrame:
    """Check the structure of a referral table: every problem with its rows, at once.

    Parameters
    ----------
    df : DataFrame
        Fields ``from_id`` (the referring facility) and ``to_id`` (the facility it refers to);
        optional ``note``. A ``_row`` column (as :func:`gis.inputs.readers.read_any` adds)
        names rows; without it rows are numbered as CSV lines (header = line 1).
    source : str
        File or name shown in the error.

    Returns
    -------
    DataFrame
        ``from_id``, ``to_id``, ``note``, ``_row`` (ids as stripped strings).

    Raises
    ------
    NetworkError
        Missing fields, empty ids, a facility referring to itself, or a facility with more
        than one row (one referral parent per facility). Ids are checked against the
        facilities by :func:`build_graph`.
    """
    df = _table(df)
    problems = V.missing_fields(df, ["from_id", "to_id"])
    if problems:
        raise NetworkError(source, problems)
    for col in ("from_id", "to_id"):
        df[col] = df[col].map(_id_text)
    df["note"] = df["note"].map(_id_text) if "note" in df else ""
    empty = (df["from_id"] == "") | (df["to_id"] == "")
    if empty.any():
        problems.append(f"fields 'from_id', 'to_id', {V.rows_text(df, empty, id_field='from_id')}"
                        f": empty id; every row needs the referring facility and its parent")
    self_ref = ~empty & (df["from_id"] == df["to_id"])
    if self_ref.any():
        problems.append(f"field 'to_id', {V.rows_text(df, self_ref, id_field='from_id')}: a "
                        f"facility refers to itself; give the facility of the next tier up")
    dup = ~empty & df["from_id"].duplicated(keep=False)
    if dup.any():
        problems.append(f"field 'from_id', {V.rows_text(df, dup, id_field='from_id')}: more than "
                        f"one referral parent for a facility; keep one row per from_id")
    if problems:
        raise NetworkError(source, problems)
    return df[["from_id", "to_id", "note", V.ROW]].reset_index(drop=True)


def check_satellite_links(df: pd.DataFrame, *, source: str = "satellite links") -> pd.DataFrame:
    """Check the structure of a satellite-links table: every problem with its rows, at once.

    Parameters
    ----------
    df : DataFrame
        Fields ``core_id`` (the hub hospital) and ``satellite_id``; optional ``specialty``
        (what the core transfers; "" = unspecified) and ``since`` (a year or YYYY-MM-DD).

    Returns
    -------
    DataFrame
        ``core_id``, ``satellite_id``, ``specialty``, ``since``, ``_row``.

    Raises
    ------
    NetworkError
        Missing fields, empty ids, a hospital linked to itself, repeated (core, satellite,
        specialty) rows, a ``since`` that is neither a year nor a date.
    """
    df = _table(df)
    problems = V.missing_fields(df, ["core_id", "satellite_id"])
    if problems:
        raise NetworkError(source, problems)
    for col in ("core_id", "satellite_id"):
        df[col] = df[col].map(_id_text)
    for col in ("specialty", "since"):
        df[col] = df[col].map(_id_text) if col in df else ""
    empty = (df["core_id"] == "") | (df["satellite_id"] == "")
    if empty.any():
        problems.append(f"fields 'core_id', 'satellite_id', "
                        f"{V.rows_text(df, empty, id_field='satellite_id')}: empty id; every link "
                        f"needs its core and its satellite hospital")
    same = ~empty & (df["core_id"] == df["satellite_id"])
    if same.any():
        problems.append(f"field 'satellite_id', {V.rows_text(df, same, id_field='core_id')}: a "
                        f"hospital linked to itself; the satellite must be another hospital")
    key = df["core_id"] + "\x00" + df["satellite_id"] + "\x00" + df["specialty"].str.lower()
    dup = ~empty & key.duplicated(keep=False)
    if dup.any():
        problems.append(f"fields 'core_id', 'satellite_id', 'specialty', "
                        f"{V.rows_text(df, dup, id_field='satellite_id')}: repeated link; keep one "
                        f"row per core, satellite and specialty")
    bad = (df["since"] != "") & ~df["since"].map(lambda s: bool(_SINCE.match(s)))
    if bad.any():
        found = ", ".join(repr(v) for v in df.loc[bad, "since"].tolist()[:V.MAX_LISTED])
        problems.append(f"field 'since', {V.rows_text(df, bad, id_field='satellite_id')}: not a "
                        f"year or date ({found}); write e.g. 2015 or 2015-06-01")
    if problems:
        raise NetworkError(source, problems)
    return df[["core_id", "satellite_id", "specialty", "since", V.ROW]].reset_index(drop=True)
