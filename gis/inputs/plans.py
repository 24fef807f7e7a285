"""Consolidation plans as the user writes them: a plan file (CSV or TOML) read and validated
against the province's stations and communes, every problem with its row at once.

A plan gives, per commune health station, an action:

- ``keep``: the main station of a post-2025 commune (``target_commune_code``);
- ``branch``: a former station kept as a branch point (outpost) of the station of
  ``target_commune_code`` (Official Letter 2147/BYT-TCCB, 2025);
- ``close``: no longer a service point;
- ``new``: a new site (``lon``, ``lat`` in EPSG:4326), main station or branch (``role``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from gis.errors import PlanError
from gis.inputs import validate as V
from gis.inputs.registry import ProvinceRegistry
from gis.inputs.validate import normalise_code

log = logging.getLogger(__name__)


ACTIONS = ("keep", "branch", "close", "new")


SERVICE_TIERS = ("station", "branch")


@dataclass(frozen=True)
class Plan:
    """A validated plan.

    Attributes
    ----------
    name : str
    actions : DataFrame
        One row per station: ``facility_id``, ``action``, ``target_commune_code``, ``rule``
        (why this action, for generated plans), ``name``, and for new sites ``x``, ``y``
        (working CRS) and ``role`` (main or branch).
    note : str
        How the plan was made (for generated plans, the rule).
    """

    name: str
    actions: pd.DataFrame
    note: str = ""

    def open_ids(self, *, with_branches: bool = True) -> list[str]:
        keep = ["keep", "new"] + (["branch"] if with_branches else [])
        a = self.actions
        is_open = a["action"].isin(keep)
        if not with_branches:
            is_open &= ~((a["action"] == "new") & (a["role"] == "branch"))
        return a.loc[is_open, "facility_id"].tolist()

    def main_ids(self) -> list[str]:
        a = self.actions
        main = (a["action"] == "keep") | ((a["action"] == "new") & (a["role"] != "branch"))
        return a.loc[main, "facility_id"].tolist()

    def counts(self) -> dict[str, int]:
        c = self.actions["action"].value_counts()
        return {k: int(c.get(k, 0)) for k in ACTIONS}


def validate_plan(df: pd.DataFrame, facilities: gpd.GeoDataFrame, reg: ProvinceRegistry, *,
                  source: str, name: str) -> Plan:
    """Check a plan table against the facilities and the registry; all problems at once."""
    df = df.copy()
    if V.ROW not in df:
        df[V.ROW] = np.arange(2, len(df) + 2)
    problems = V.missing_fields(df, ["facility_id", "action", "target_commune_code"])
    if problems:
        raise PlanError(source, problems)
    df["facility_id"] = df["facility_id"].astype(str).str.strip()
    df["action"] = df["action"].astype(str).str.strip().str.lower()
    df["target_commune_code"] = df["target_commune_code"].map(normalise_code)
    df["role"] = (df["role"].fillna("").astype(str).str.strip().str.lower() if "role" in df
                  else "")
    df["name"] = df["name"].fillna("").astype(str).str.strip() if "name" in df else ""
    problems += V.duplicate_ids(df, "facility_id")
    bad = ~df["action"].isin(ACTIONS)
    if bad.any():
        problems.append(f"field 'action', {V.rows_text(df, bad, id_field='facility_id')}: unknown "
                        f"action; use one of {', '.join(ACTIONS)}")
    stations = facilities[facilities["tier"].isin(SERVICE_TIERS)]
    known = set(stations["facility_id"])
    is_new = df["action"] == "new"
    unknown = ~is_new & ~df["facility_id"].isin(known)
    if unknown.any():
        problems.append(f"field 'facility_id', {V.rows_text(df, unknown, id_field='facility_id')}:"
                        f" not a station of the facilities layer; use the station ids "
                        f"(e.g. {stations['facility_id'].iloc[0] if len(stations) else 'TYT-…'})")
    clash = is_new & df["facility_id"].isin(set(facilities["facility_id"]))
    if clash.any():
        problems.append(f"field 'facility_id', {V.rows_text(df, clash, id_field='facility_id')}: "
                        f"a new site needs an id not used by an existing facility")
    missing = sorted(known - set(df["facility_id"]))
    if missing:
        listed = ", ".join(missing[:V.MAX_LISTED]) + (" …" if len(missing) > V.MAX_LISTED else "")
        problems.append(f"field 'facility_id': {len(missing)} stations have no action: {listed}; "
                        f"give each station keep, branch or close")
    codes = set(reg.new["commune_code"])
    needs_target = df["action"] != "close"
    bad_target = needs_target & ~df["target_commune_code"].isin(codes)
    if bad_target.any():
        problems.append(f"field 'target_commune_code', "
                        f"{V.rows_text(df, bad_target, id_field='facility_id')}: not a post-2025 "
                        f"commune of {reg.province.short}; use 5-digit codes "
                        f"(`gis registry {reg.province.code}`)")
    bad_role = is_new & ~df["role"].isin(["", "main", "branch"])
    if bad_role.any():
        problems.append(f"field 'role', {V.rows_text(df, bad_role, id_field='facility_id')}: use "
                        f"main or branch for a new site")
    # New sites need coordinates inside the province.
    x = np.full(len(df), np.nan)
    y = np.full(len(df), np.nan)
    if is_new.any():
        new_rows = df[is_new]
        lonlat = {}
        for col in ("lon", "lat"):
            lonlat[col], probs = V.numeric_field(new_rows, col, id_field="facility_id",
                                                 allow_missing=True, what="coordinate")
            problems += probs
        lon = lonlat["lon"].reindex(df.index)
        lat = lonlat["lat"].reindex(df.index)
        no_xy = is_new & (lon.isna() | lat.isna())
        if no_xy.any():
            problems.append(f"fields 'lon', 'lat', {V.rows_text(df, no_xy, id_field='facility_id')}"
                            f": a new site needs its coordinates (EPSG:4326 degrees, e.g. lon "
                            f"105.9, lat 18.34)")
        has = (is_new & ~no_xy).to_numpy()
        if has.any():
            pts = np.column_stack([lon[has], lat[has]])
            problems += V.location_problems(pts, df[has], bounds=reg.bounds(),
                                            province=reg.province.short, id_field="facility_id")
            xy = gpd.GeoSeries(shapely.points(pts), crs=4326).to_crs(facilities.crs)
            x[has], y[has] = xy.x.to_numpy(), xy.y.to_numpy()
    df["x"], df["y"] = x, y
    main = (df["action"] == "keep") | (is_new & (df["role"] != "branch"))
    mains = df[main].groupby("target_commune_code")["facility_id"].apply(list)
    two = mains[mains.map(len) > 1]
    names = reg.new.set_index("commune_code")["commune_name"]
    for code, ids in two.items():
        rows = V.rows_text(df, df["facility_id"].isin(ids), id_field="facility_id")
        problems.append(f"field 'action', {rows}: two main stations in commune {code} "
                        f"{names.get(code, '')}; keep one and make the others branch")
    without = sorted(codes - set(mains.index))
    if without:
        listed = ", ".join(f"{c} {names[c]}" for c in without[:V.MAX_LISTED])
        problems.append(f"{len(without)} post-2025 communes have no main station: {listed}"
                        f"{' …' if len(without) > V.MAX_LISTED else ''}; give each one station "
                        f"with action keep (or a new site)")
    branch = (df["action"] == "branch") | (is_new & (df["role"] == "branch"))
    orphan = branch & df["target_commune_code"].isin(codes) & ~df["target_commune_code"].isin(
        set(mains.index))
    if orphan.any():
        problems.append(f"field 'target_commune_code', "
                        f"{V.rows_text(df, orphan, id_field='facility_id')}: a branch points to a "
                        f"commune without a main station; add its main station first")
    if problems:
        raise PlanError(source, problems)
    df["role"] = np.where(df["action"] == "new", np.where(df["role"] == "", "main", df["role"]),
                          df["role"])
    if "rule" not in df:
        df["rule"] = ""
    cols = ["facility_id", "action", "target_commune_code", "role", "rule", "name", "x", "y"]
    return Plan(name=name, actions=df[cols].reset_index(drop=True))


def new_sites(plans: list[Plan], crs) -> gpd.GeoDataFrame:
    """The new sites of ``plans`` as points in ``crs``: ``facility_id``, ``tier`` ("station"),
    ``plan`` (the first plan naming the site); one row per id."""
    rows = [p.actions.loc[p.actions["action"] == "new", ["facility_id", "x", "y"]]
            .assign(plan=p.name) for p in plans]
    rows = [r for r in rows if len(r)]
    if not rows:
        return gpd.GeoDataFrame({"facility_id": [], "tier": [], "plan": []},
                                geometry=[], crs=crs)
    sites = pd.concat(rows, ignore_index=True).drop_duplicates("facility_id")
    return gpd.GeoDataFrame({"facility_id": sites["facility_id"].astype(str).to_numpy(),
                             "tier": "station", "plan": sites["plan"].to_numpy()},
                            geometry=shapely.points(sites["x"].to_numpy(float),
                                                    sites["y"].to_numpy(float)), crs=crs)


def plan_set_problems(plans: list[Plan], sources: list[str]) -> list[str]:
    """Problems between plans evaluated together: two plans of one name, one new-site id at
    two places (the cost table holds one site per id)."""
    problems = []
    names: dict[str, list[str]] = {}
    for p, src in zip(plans, sources, strict=True):
        names.setdefault(p.name, []).append(src)
    for name, srcs in names.items():
        if len(srcs) > 1:
            problems.append(f"plan name '{name}' is given by {len(srcs)} files ({', '.join(srcs)})"
                            f"; give each plan its own name (TOML: name = \"...\"; CSV: the file "
                            f"name)")
    places: dict[str, set[tuple[float, float]]] = {}
    where: dict[str, list[str]] = {}
    for p, src in zip(plans, sources, strict=True):
        new = p.actions[p.actions["action"] == "new"]
        for fid, x, y in zip(new["facility_id"], new["x"], new["y"], strict=True):
            places.setdefault(fid, set()).add((round(float(x), 3), round(float(y), 3)))
            where.setdefault(fid, []).append(src)
    for fid, at in places.items():
        if len(at) > 1:
            problems.append(f"field 'facility_id': new site {fid} is at different places in "
                            f"{', '.join(where[fid])}; give each new site its own id")
    return problems
