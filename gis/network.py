"""Referral and satellite-hospital network: a networkx graph of facilities, its analyses and
its output layers.

The graph is a :class:`networkx.DiGraph` whose nodes are the active facilities (keyed by
``facility_id``; attributes ``name``, ``tier``, ``specialty``, ``beds``, ``doctors``, ``nurses``
(NaN = unknown), ``commune_code``, ``role``, ``x``, ``y`` in the working CRS, metres) and whose
edges carry ``kind``:

- ``"referral"``: child -> the facility it refers patients to, one per facility below the top.
  The rule, unless a referral table (``from_id``, ``to_id``) says otherwise for a facility:
  a branch point refers to its main station (under a plan: the main station of its commune;
  otherwise the nearest station of its commune); a station to the nearest regional hospital
  within the cut-off; a regional hospital to the provincial general hospital (tier provincial,
  specialty general; specialised provincial hospitals are not parents of regional hospitals);
  a provincial hospital to the central hospital it is a satellite of, else the nearest central
  hospital when the layer has one (otherwise it is the top).
- ``"satellite"``: core -> satellite hospital from a links table (``core_id``, ``satellite_id``,
  ``specialty``, ``since``); a core may be a central hospital outside the province, given by its
  coordinates in the facilities layer. Several specialties of one pair share one edge
  (``specialty`` joined with ``"; "``).

Every edge has ``time_min`` and ``dist_m`` from the travel model of the access stage
(:func:`gis.costs.straight_line_costs`, or :func:`gis.costs.road_costs` when roads are given;
pairs with a central hospital use the straight line, as roads of the province do not reach it).
``G.graph["crs"]`` holds the working CRS.

Analyses (pure functions): the referral chain of every demand unit and commune with cumulative
travel time; the load behind every hub against the beds target; the loss impact of every
hospital (and what the closure of an ended one did); satellite planning (maximal coverage,
exact or greedy with a bound); the network before and after a consolidation plan.
:func:`run_network` runs them all and returns the layers and the ``network`` summary section.
"""

from __future__ import annotations

import itertools
import logging
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import shapely

from gis import _validate as V
from gis._io import to_jsonable
from gis.costs import CostTable, road_costs, straight_line_costs
from gis.errors import GisError, NetworkError

log = logging.getLogger(__name__)

REFERRAL = "referral"
SATELLITE = "satellite"
TIER_RANK = {"branch": 0, "station": 1, "regional": 2, "provincial": 3, "central": 4}
LEVELS = ("station", "regional", "provincial", "central")
HOSPITAL_TIERS = ("regional", "provincial", "central")
FIRST_CONTACT_TIERS = ("station", "branch")
GENERAL_WORDS = ("general", "đa khoa", "da khoa")
THRESHOLD_KEYS = (*LEVELS, "chain")
ROLE_STATION, ROLE_MAIN, ROLE_BRANCH, ROLE_HOSPITAL = ("station", "main station", "branch point",
                                                       "hospital")
_SINCE = re.compile(r"^\d{4}(-\d{2}(-\d{2})?)?$")
_NODE_FIELDS = ("name", "tier", "original_tier", "specialty", "commune_code",
                "legacy_commune_code", "beds", "doctors", "nurses", "status", "role", "main_id",
                "what_if", "x", "y")


# --- tables ---------------------------------------------------------------------------------

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
        optional ``note``. A ``_row`` column (as :func:`gis.layers.read_any` adds) names rows;
        without it rows are numbered as CSV lines (header = line 1).
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


# --- travel between facilities ----------------------------------------------------------------

def facility_costs(facilities: gpd.GeoDataFrame, *, speed_kmh: float, detour_factor: float,
                   roads: gpd.GeoDataFrame | None = None,
                   road_speeds_kmh: Mapping[str, float] | None = None,
                   walking_speed_kmh: float = 4.5, plan: Any = None) -> CostTable:
    """Travel time and distance between every pair of facilities, without a cut-off.

    The travel model of the access stage: straight line x ``detour_factor`` / ``speed_kmh``, or
    the road model when ``roads`` is given (pairs with a central hospital then use the straight
    line: a province's roads do not reach national hospitals elsewhere).

    Parameters
    ----------
    facilities : GeoDataFrame
        ``facility_id``, ``tier``; Point geometry in the working CRS (metres).
    speed_kmh, detour_factor : float
        Straight-line model.
    roads : GeoDataFrame, optional
        Road lines (:func:`gis.layers.read_roads`).
    road_speeds_kmh : mapping, optional
        Speed per road class (``"default"`` for the rest).
    walking_speed_kmh : float
        Speed of the off-road legs of the road model.
    plan : gis.plans.Plan, optional
        Its new sites are added after the facilities.

    Returns
    -------
    CostTable
        Origins and destinations are the facilities (same order, ``facility_id`` labels);
        pairs the road graph cannot join are absent.
    """
    if plan is not None:
        sites = _plan_sites(plan, facilities.crs)
        facilities = gpd.GeoDataFrame(pd.concat(
            [facilities[["facility_id", "tier", "geometry"]], sites], ignore_index=True),
            crs=facilities.crs)
    ids = facilities["facility_id"].astype(str).to_numpy()
    xy = facilities.geometry.get_coordinates().to_numpy()
    line = straight_line_costs(xy, xy, speed_kmh=speed_kmh, detour_factor=detour_factor,
                               cutoff_min=math.inf, origin_ids=ids, dest_ids=ids,
                               mode="straight_line")
    if roads is None:
        return line
    local = facilities["tier"].to_numpy() != "central"
    pos = np.flatnonzero(local)
    rc, _ = road_costs(xy[local], xy[local], roads,
                       speeds_kmh=dict(road_speeds_kmh or {"default": 25.0}),
                       walking_speed_kmh=walking_speed_kmh, cutoff_min=math.inf,
                       origin_ids=ids[local], dest_ids=ids[local])
    ok = np.isfinite(rc.time_min) & np.isfinite(rc.dist_m)
    far = ~(local[line.origin] & local[line.dest])
    o = np.concatenate([pos[rc.origin[ok]], line.origin[far]])
    d = np.concatenate([pos[rc.dest[ok]], line.dest[far]])
    t = np.concatenate([rc.time_min[ok], line.time_min[far]])
    m = np.concatenate([rc.dist_m[ok], line.dist_m[far]])
    order = np.lexsort((d, o))
    return CostTable(origin=o[order], dest=d[order], dist_m=m[order], time_min=t[order],
                     origin_ids=ids, dest_ids=ids, cutoff_min=math.inf,
                     mode="road (straight line for central hospitals)")


class _Dense:
    """Facility x facility minutes and metres as dense matrices (inf / NaN where unknown)."""

    def __init__(self, costs: CostTable):
        self.ids = np.asarray(costs.origin_ids).astype(str)
        self.pos = {fid: i for i, fid in enumerate(self.ids)}
        n = len(self.ids)
        dest_pos = np.array([self.pos.get(str(f), -1) for f in costs.dest_ids])
        self.time = np.full((n, n), np.inf)
        self.dist = np.full((n, n), np.nan)
        d = dest_pos[costs.dest]
        ok = d >= 0
        self.time[costs.origin[ok], d[ok]] = costs.time_min[ok]
        self.dist[costs.origin[ok], d[ok]] = costs.dist_m[ok]
        np.fill_diagonal(self.time, 0.0)
        np.fill_diagonal(self.dist, 0.0)
        self.mode = costs.mode


# --- nodes ----------------------------------------------------------------------------------

def _is_general(specialty: object) -> bool:
    text = str(specialty or "").lower()
    return any(w in text for w in GENERAL_WORDS)


def specialties(text: object) -> set[str]:
    return {s.strip().lower() for s in re.split(r"[;,/]", str(text or "")) if s.strip()}


def network_nodes(facilities: gpd.GeoDataFrame, *, plan: Any = None,
                  include: Iterable[str] = (), exclude: Iterable[str] = ()) -> pd.DataFrame:
    """The facilities that are nodes of the network, with a plan applied.

    Parameters
    ----------
    facilities : GeoDataFrame
        The facilities layer (:mod:`gis.layers`), Points in the working CRS.
    plan : gis.plans.Plan, optional
        Stations closed by the plan are left out; stations made branch points get tier
        ``branch`` and ``main_id`` (the main station of their commune); new sites are added.
    include : ids
        Facilities to treat as active whatever their status (what-if: an ended hospital).
    exclude : ids
        Facilities to leave out (what-if: the loss of a facility).

    Returns
    -------
    DataFrame
        ``facility_id`` and the node attributes (``name``, ``tier``, ``original_tier``,
        ``specialty``, ``commune_code``, ``legacy_commune_code``, ``beds``, ``doctors``,
        ``nurses``, ``status``, ``role``, ``main_id``, ``what_if``, ``x``, ``y``).
    """
    include, exclude = set(include), set(exclude)
    fac = facilities
    keep = (fac["status"] == "active") | fac["facility_id"].isin(include)
    keep &= ~fac["facility_id"].isin(exclude)
    sub = fac[keep.to_numpy()]
    xy = sub.geometry.get_coordinates().to_numpy()

    def col(name: str, default: Any) -> np.ndarray:
        return sub[name].to_numpy() if name in sub else np.full(len(sub), default, dtype=object)

    tier = sub["tier"].astype(str).to_numpy()
    df = pd.DataFrame({
        "facility_id": sub["facility_id"].astype(str).to_numpy(),
        "name": sub["name"].astype(str).to_numpy(),
        "tier": tier, "original_tier": tier,
        "specialty": pd.Series(col("specialty", "")).fillna("").astype(str).to_numpy(),
        "commune_code": pd.Series(col("commune_code", "")).fillna("").astype(str).to_numpy(),
        "legacy_commune_code": pd.Series(col("legacy_commune_code", "")).fillna("").astype(str)
        .to_numpy(),
        "beds": pd.to_numeric(pd.Series(col("beds", np.nan)), errors="coerce").to_numpy(float),
        "doctors": pd.to_numeric(pd.Series(col("doctors", np.nan)), errors="coerce")
        .to_numpy(float),
        "nurses": pd.to_numeric(pd.Series(col("nurses", np.nan)), errors="coerce")
        .to_numpy(float),
        "status": sub["status"].astype(str).to_numpy(),
        "role": np.where(tier == "station", ROLE_STATION,
                         np.where(tier == "branch", ROLE_BRANCH, ROLE_HOSPITAL)),
        "main_id": "",
        "what_if": (sub["facility_id"].isin(include) & (sub["status"] != "active")).to_numpy(),
        "x": xy[:, 0] if len(sub) else np.empty(0), "y": xy[:, 1] if len(sub) else np.empty(0),
    })
    if plan is None:
        return df.reset_index(drop=True)
    a = plan.actions.set_index("facility_id")
    mains = a[a.index.isin(plan.main_ids())]
    main_of = dict(zip(mains["target_commune_code"], mains.index, strict=True))
    act = df["facility_id"].map(a["action"])
    target = df["facility_id"].map(a["target_commune_code"])
    df = df[act.fillna("") != "close"].copy()
    act, target = act[df.index], target[df.index]
    is_main = df["facility_id"].isin(mains.index)
    is_branch = act == "branch"
    df.loc[is_main, "role"] = ROLE_MAIN
    df.loc[is_branch, "role"] = ROLE_BRANCH
    df.loc[is_branch, "tier"] = "branch"
    df.loc[is_branch, "main_id"] = target[is_branch].map(main_of).fillna("")
    moved = act.notna() & target.notna() & (target != "")
    df.loc[moved, "commune_code"] = target[moved]
    new = a[(a["action"] == "new") & ~a.index.isin(exclude)]
    if len(new):
        branch = (new["role"] == "branch").to_numpy()
        add = pd.DataFrame({
            "facility_id": new.index.astype(str), "name": [f"New site {i}" for i in new.index],
            "tier": np.where(branch, "branch", "station"), "original_tier": "station",
            "specialty": "primary care", "commune_code": new["target_commune_code"].to_numpy(),
            "legacy_commune_code": "", "beds": np.nan, "doctors": np.nan, "nurses": np.nan,
            "status": "planned", "role": np.where(branch, ROLE_BRANCH, ROLE_MAIN),
            "main_id": np.where(branch, new["target_commune_code"].map(main_of).fillna(""), ""),
            "what_if": False, "x": new["x"].to_numpy(float), "y": new["y"].to_numpy(float)})
        df = pd.concat([df, add], ignore_index=True)
    return df.reset_index(drop=True)


def _plan_sites(plan: Any, crs: Any) -> gpd.GeoDataFrame:
    """New sites of a plan as a small facilities layer (for :func:`facility_costs`)."""
    if plan is None:
        new = pd.DataFrame(columns=["facility_id", "x", "y"])
    else:
        new = plan.actions[plan.actions["action"] == "new"]
    return gpd.GeoDataFrame({"facility_id": new["facility_id"].astype(str).to_numpy(),
                             "tier": "station"},
                            geometry=shapely.points(new["x"].to_numpy(float),
                                                    new["y"].to_numpy(float)), crs=crs)


# --- building the graph -----------------------------------------------------------------------

def _nearest(dense: _Dense, p: int, cands: np.ndarray) -> tuple[int, float]:
    """Position (into ``cands``) and time of the nearest candidate; (-1, inf) when none."""
    if len(cands) == 0:
        return -1, math.inf
    t = dense.time[p, cands]
    j = int(np.argmin(t))
    return (j, float(t[j])) if np.isfinite(t[j]) else (-1, math.inf)


def _assign_parents(nodes: pd.DataFrame, dense: _Dense, *, cutoff_min: float,
                    referrals: pd.DataFrame | None, cores_of: Mapping[str, list[str]]
                    ) -> tuple[dict[str, tuple[str, str]], dict[str, str], list[str]]:
    """Referral parent of every node: ``{child: (parent, source)}``, reasons for the nodes
    below the top that got none, and warnings."""
    ids = nodes["facility_id"].tolist()
    p_of = np.array([dense.pos[i] for i in ids], dtype=np.int64)
    tier = nodes["tier"].to_numpy()
    is_node = set(ids)
    table = {}
    if referrals is not None:
        table = {r.from_id: r.to_id for r in referrals.itertuples()
                 if r.from_id in is_node and r.to_id in is_node}
    regional = np.flatnonzero(tier == "regional")
    general = np.flatnonzero((tier == "provincial") & nodes["specialty"].map(_is_general)
                             .to_numpy(bool))
    central = np.flatnonzero(tier == "central")
    stations = np.flatnonzero(tier == "station")
    by_commune: dict[str, list[int]] = {}
    for k in stations:
        by_commune.setdefault(nodes["commune_code"].iat[k], []).append(k)
    pos_of = {fid: k for k, fid in enumerate(ids)}
    parents: dict[str, tuple[str, str]] = {}
    reasons: dict[str, str] = {}
    warnings: list[str] = []
    top_regional_warned = False
    for k, fid in enumerate(ids):
        p = p_of[k]
        t_k = tier[k]
        main = nodes["main_id"].iat[k]
        if t_k == "branch" and main:
            if fid in table and table[fid] != main:
                warnings.append(f"referral table row for {fid} ignored: the plan makes it a "
                                f"branch point of {main}")
            if main in pos_of:
                parents[fid] = (main, "plan: main station of its commune")
            else:
                reasons[fid] = f"its main station {main} is not in the network"
            continue
        if fid in table:
            parents[fid] = (table[fid], "referral table")
            continue
        if t_k == "branch":
            own = np.array(by_commune.get(nodes["commune_code"].iat[k], []), dtype=np.int64)
            j, _ = _nearest(dense, p, p_of[own]) if len(own) else (-1, math.inf)
            if j >= 0:
                parents[fid] = (ids[own[j]], "main station of its commune")
                continue
            j, t = _nearest(dense, p, p_of[stations])
            if j >= 0 and t <= cutoff_min:
                parents[fid] = (ids[stations[j]], "nearest station (none in its commune)")
                warnings.append(f"branch point {fid}: no station in its commune "
                                f"{nodes['commune_code'].iat[k] or '(unknown)'}; refers to the "
                                f"nearest station {ids[stations[j]]}")
            else:
                reasons[fid] = "no station in its commune or within the cut-off"
        elif t_k == "station":
            if not len(regional):
                reasons[fid] = "no active regional hospital in the facilities layer"
                continue
            j, t = _nearest(dense, p, p_of[regional])
            if j < 0:
                reasons[fid] = "no regional hospital reachable by the travel model"
            elif t > cutoff_min:
                reasons[fid] = (f"the nearest regional hospital {ids[regional[j]]} is {t:.0f} min "
                                f"away, beyond the cut-off of {cutoff_min:g} min")
            else:
                parents[fid] = (ids[regional[j]], "nearest regional hospital")
        elif t_k == "regional":
            j, t = _nearest(dense, p, p_of[general])
            if j >= 0:
                parents[fid] = (ids[general[j]], "the provincial general hospital")
                if t > cutoff_min:
                    warnings.append(f"regional hospital {fid}: the provincial general hospital "
                                    f"{ids[general[j]]} is {t:.0f} min away (beyond the cut-off "
                                    f"of {cutoff_min:g} min)")
            elif not top_regional_warned:
                top_regional_warned = True
                warnings.append("no active provincial general hospital (tier provincial, "
                                "specialty general): regional hospitals are the top of their "
                                "chains")
        elif t_k == "provincial" and len(central):
            cores = [pos_of[c] for c in cores_of.get(fid, []) if c in pos_of
                     and tier[pos_of[c]] == "central"]
            cands = np.array(cores, dtype=np.int64) if cores else central
            j, _ = _nearest(dense, p, p_of[cands])
            if j >= 0:
                parents[fid] = (ids[cands[j]], "its satellite core (central hospital)" if cores
                                else "nearest central hospital")
    return parents, reasons, warnings


def _known_ids_problems(referrals: pd.DataFrame | None, links: pd.DataFrame | None,
                        facilities: gpd.GeoDataFrame, plan: Any) -> tuple[list[str], list[str]]:
    """Rows of the tables naming unknown facilities (problems) or inactive ones (warnings)."""
    known = set(facilities["facility_id"].astype(str))
    if plan is not None:
        known |= set(plan.actions.loc[plan.actions["action"] == "new", "facility_id"])
    status = dict(zip(facilities["facility_id"].astype(str), facilities["status"], strict=True))
    problems: list[str] = []
    warnings: list[str] = []
    checks = []
    if referrals is not None:
        checks += [("referral table", referrals, c, "from_id") for c in ("from_id", "to_id")]
    if links is not None:
        checks += [("satellite links", links, c, "satellite_id" if c == "core_id" else "core_id")
                   for c in ("core_id", "satellite_id")]
    for what, df, col, other in checks:
        unknown = ~df[col].isin(known)
        if unknown.any():
            ids = ", ".join(sorted(set(df.loc[unknown, col]))[:V.MAX_LISTED])
            problems.append(f"{what}: field '{col}', {V.rows_text(df, unknown, id_field=other)}: "
                            f"unknown facility {ids}; use ids of the facilities layer (a central "
                            f"hospital outside the province needs a row there with its lon/lat)")
        ended = df[col].map(status).fillna("active") != "active"
        if ended.any():
            ids = ", ".join(sorted(set(df.loc[ended, col])))
            warnings.append(f"{what}: {V.rows_text(df, ended, id_field=col)} name a facility that "
                            f"is not active ({ids}): ignored")
    return problems, warnings


def build_graph(facilities: gpd.GeoDataFrame, *, facility_costs: CostTable, cutoff_min: float,
                referrals: pd.DataFrame | None = None,
                satellite_links: pd.DataFrame | None = None, plan: Any = None,
                include: Iterable[str] = (), exclude: Iterable[str] = (),
                strict: bool = True, name: str = "referral network") -> nx.DiGraph:
    """The referral and satellite-hospital graph (rule in the module docstring).

    Parameters
    ----------
    facilities : GeoDataFrame
        The facilities layer in the working CRS (``facility_id``, ``name``, ``tier``,
        ``specialty``, ``status``, ...). Only active facilities are nodes.
    facility_costs : CostTable
        Facility -> facility times (:func:`facility_costs`) covering every node.
    cutoff_min : float
        A station whose nearest regional hospital is farther has no referral parent (a
        validation problem).
    referrals : DataFrame, optional
        ``from_id``, ``to_id`` (:func:`check_referral_table`): parents overriding the rule.
    satellite_links : DataFrame, optional
        ``core_id``, ``satellite_id``, ``specialty``, ``since`` (:func:`check_satellite_links`).
    plan : gis.plans.Plan, optional
        Build the network after the plan (closed stations out, branch points under their main
        station, new sites in).
    include, exclude : ids
        What-if: treat these facilities as active / leave them out.
    strict : bool
        Raise :class:`NetworkError` listing every problem (unknown ids in the tables, referral
        cycles, a facility with two parents, a station without a regional hospital in its
        chain); otherwise keep them in ``G.graph["problems"]``.

    Returns
    -------
    networkx.DiGraph
        Graph attributes ``crs``, ``name``, ``cutoff_min``, ``travel_model``, ``plan``,
        ``problems``, ``warnings``.
    """
    if referrals is not None:
        referrals = check_referral_table(referrals)
    if satellite_links is not None:
        satellite_links = check_satellite_links(satellite_links)
    problems, warnings = _known_ids_problems(referrals, satellite_links, facilities, plan)
    nodes = network_nodes(facilities, plan=plan, include=include, exclude=exclude)
    dense = _Dense(facility_costs)
    missing = sorted(set(nodes["facility_id"]) - set(dense.pos))
    if missing:
        msg = (f"facility costs lack {len(missing)} facilities ({', '.join(missing[:5])}): "
               f"compute them with network.facility_costs(facilities, ..., plan=plan)")
        raise GisError(msg)
    node_ids = set(nodes["facility_id"])
    links = pd.DataFrame(columns=["core_id", "satellite_id", "specialty", "since"])
    if satellite_links is not None:
        links = satellite_links[satellite_links["core_id"].isin(node_ids)
                                & satellite_links["satellite_id"].isin(node_ids)]
    cores_of: dict[str, list[str]] = {}
    for r in links.itertuples():
        cores_of.setdefault(r.satellite_id, []).append(r.core_id)
    if referrals is not None and len(referrals):
        tiers = dict(zip(nodes["facility_id"], nodes["tier"], strict=True))
        down = referrals[referrals["from_id"].isin(node_ids) & referrals["to_id"].isin(node_ids)]
        down = down[[TIER_RANK[tiers[b]] <= TIER_RANK[tiers[a]]
                     for a, b in zip(down["from_id"], down["to_id"], strict=True)]]
        if len(down):
            rows = V.rows_text(down, np.ones(len(down), bool), id_field="from_id")
            warnings.append(f"referral table: {rows} refer to a facility of the same or a "
                            f"lower tier")
    if plan is not None and referrals is not None:
        active = set(facilities.loc[facilities["status"] == "active", "facility_id"])
        gone = (referrals["from_id"].isin(active) & ~referrals["from_id"].isin(node_ids)) | (
            referrals["to_id"].isin(active) & ~referrals["to_id"].isin(node_ids))
        if gone.any():
            rows = V.rows_text(referrals, gone, id_field="from_id")
            warnings.append(f"referral table: {rows} name a facility the plan closes: ignored "
                            f"(the rule applies)")
    parents, reasons, more = _assign_parents(nodes, dense, cutoff_min=cutoff_min,
                                             referrals=referrals, cores_of=cores_of)
    warnings += more
    G = nx.DiGraph(crs=facilities.crs, name=name, cutoff_min=float(cutoff_min),
                   travel_model=dense.mode, plan=getattr(plan, "name", ""))
    for rec in nodes.to_dict("records"):
        fid = rec.pop("facility_id")
        G.add_node(fid, **rec)
        if fid in reasons:
            G.nodes[fid]["unassigned"] = reasons[fid]
    for child, (parent, source) in parents.items():
        a, b = dense.pos[child], dense.pos[parent]
        G.add_edge(child, parent, kind=REFERRAL, source=source,
                   time_min=float(dense.time[a, b]), dist_m=float(dense.dist[a, b]))
    for (core, sat), grp in links.groupby(["core_id", "satellite_id"], sort=True):
        if G.has_edge(core, sat):
            rows = V.rows_text(grp, np.ones(len(grp), bool), id_field="core_id")
            problems.append(f"satellite links: {rows}: {core} -> {sat} runs along the referral "
                            f"edge {core} -> {sat} (the core would refer to its satellite); swap "
                            f"core_id and satellite_id or fix the referral table")
            continue
        a, b = dense.pos[core], dense.pos[sat]
        specs = sorted({s for s in grp["specialty"] if s})
        since = sorted(s for s in grp["since"] if s)
        G.add_edge(core, sat, kind=SATELLITE, specialty="; ".join(specs),
                   since=since[0] if since else "", time_min=float(dense.time[a, b]),
                   dist_m=float(dense.dist[a, b]), source="satellite links")
    problems += validate_graph(G)
    G.graph["problems"] = problems
    G.graph["warnings"] = warnings
    for w in warnings:
        log.info("%s: %s", name, w)
    if problems and strict:
        raise NetworkError(name, problems)
    return G


def referral_graph(G: nx.DiGraph) -> nx.DiGraph:
    """The referral edges of ``G`` (every node kept, satellite edges dropped)."""
    R = nx.DiGraph(**G.graph)
    R.add_nodes_from(G.nodes(data=True))
    R.add_edges_from((u, v, d) for u, v, d in G.edges(data=True) if d.get("kind") == REFERRAL)
    return R


def _parent_map(G: nx.DiGraph) -> dict[str, str]:
    return {u: v for u, v, d in G.edges(data=True) if d.get("kind") == REFERRAL}


def validate_graph(G: nx.DiGraph) -> list[str]:
    """Problems of a network graph, each naming the facility ids.

    Checks: nodes that are not facilities (an edge to an unknown id), facilities with more
    than one referral parent, referral cycles, stations without a regional hospital in their
    referral chain and branch points without a station in theirs.

    Returns
    -------
    list of str
        Empty when the graph is sound.
    """
    problems: list[str] = []
    unknown = sorted(n for n, d in G.nodes(data=True) if "tier" not in d)
    if unknown:
        problems.append(f"edges to unknown facilities: {', '.join(map(str, unknown))}; every "
                        f"end of a link must be a facility of the layer")
    R = referral_graph(G)
    multi = sorted(n for n in R if R.out_degree(n) > 1)
    for n in multi:
        problems.append(f"facility {n} has {R.out_degree(n)} referral parents "
                        f"({', '.join(sorted(R.successors(n)))}); keep one")
    for cycle in sorted(nx.simple_cycles(R), key=lambda c: sorted(c)):
        start = cycle.index(min(cycle))
        cyc = cycle[start:] + cycle[:start]
        problems.append(f"referral cycle: {' -> '.join([*cyc, cyc[0]])}; a chain must climb to "
                        f"the top: fix these rows of the referral table")
    parent = _parent_map(G)
    missing: list[str] = []
    for n, d in G.nodes(data=True):
        need = {"station": "regional", "branch": "station"}.get(d.get("tier", ""))
        if need is None:
            continue
        cur, seen, found = n, set(), False
        while cur in parent and cur not in seen:
            seen.add(cur)
            cur = parent[cur]
            if G.nodes[cur].get("tier") == need:
                found = True
                break
        if not found:
            why = d.get("unassigned") or ("its chain has no " + need + " level")
            missing.append(f"{d['tier']} {n} ({d.get('name', '')}): no {need} "
                           f"{'hospital' if need == 'regional' else ''} in its referral chain "
                           f"({why})".replace("  ", " "))
    if missing:
        fix = ("; add the hospital that serves them, raise travel.cutoff_min, or give their "
               "parent in the referral table (layers.referrals)")
        if len(missing) <= V.MAX_LISTED:
            problems += [m + fix for m in missing]
        else:
            problems.append(f"{len(missing)} facilities lack their next tier: "
                            f"{'; '.join(missing[:V.MAX_LISTED])}; and "
                            f"{len(missing) - V.MAX_LISTED} more{fix}")
    return problems


# --- chains ---------------------------------------------------------------------------------

def node_chains(G: nx.DiGraph) -> pd.DataFrame:
    """The referral chain of every node, with cumulative travel time along it.

    Returns
    -------
    DataFrame
        Indexed by facility_id: ``parent_id`` ("" at the top), ``path`` (ids joined by
        " -> "), ``top_id``, ``top_time_min``, and per level of :data:`LEVELS` ``<level>_id``
        (the first facility of that tier on the chain, the node itself included; "" when the
        chain has none) and ``<level>_time_min`` (minutes from the node to it, NaN when none).
    """
    parent = _parent_map(G)
    rows = []
    for n in G.nodes:
        rec: dict[str, Any] = {"facility_id": n, "parent_id": parent.get(n, "")}
        for lv in LEVELS:
            rec[f"{lv}_id"], rec[f"{lv}_time_min"] = "", np.nan
        cur, t, path, seen = n, 0.0, [n], set()
        while True:
            lv = G.nodes[cur].get("tier")
            if lv in LEVELS and rec[f"{lv}_id"] == "":
                rec[f"{lv}_id"], rec[f"{lv}_time_min"] = cur, t
            seen.add(cur)
            nxt = parent.get(cur)
            if nxt is None or nxt in seen:
                break
            t += G.edges[cur, nxt]["time_min"]
            cur = nxt
            path.append(cur)
        rec.update(top_id=cur, top_time_min=t, path=" -> ".join(path))
        rows.append(rec)
    cols = ["facility_id", "parent_id", "path", "top_id", "top_time_min",
            *[f"{lv}_{s}" for lv in LEVELS for s in ("id", "time_min")]]
    return pd.DataFrame(rows, columns=cols).set_index("facility_id")


def _level_col(level: str) -> str:
    return {"station": "first_contact_time_min", "chain": "chain_time_min"}.get(
        level, f"{level}_chain_time_min")


def referral_chains(G: nx.DiGraph, *, demand: pd.DataFrame, costs: CostTable) -> pd.DataFrame:
    """The referral chain of every demand unit: first contact, then up the referral edges.

    A person goes to the nearest service point (station or branch point of ``G``), then along
    the referral edges. Cumulative times add the first leg and the edges.

    Parameters
    ----------
    G : networkx.DiGraph
        From :func:`build_graph`.
    demand : DataFrame
        Demand units (the origins of ``costs``), indexed like the result.
    costs : CostTable
        Demand units -> facilities; its destinations must include every station and branch
        point of ``G``.

    Returns
    -------
    DataFrame
        Indexed like ``demand``: ``first_contact_id``, ``first_contact_time_min``, per level
        ``<level>_id`` and ``<level>_chain_time_min`` (station, regional, provincial, central),
        ``top_id`` and ``chain_time_min`` (to the top of the chain). NaN / "" when the unit
        reaches no service point within the table's cut-off or the chain lacks the level.
    """
    return _chains(G, demand.index, _first_contact(G, costs))


def _first_contact(G: nx.DiGraph, costs: CostTable,
                   cache: dict | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Nearest service point of ``G`` (id, "" when none) and its time per demand unit."""
    from gis.access import nearest

    first = sorted(n for n, d in G.nodes(data=True) if d.get("tier") in FIRST_CONTACT_TIERS)
    key = (id(costs), tuple(first))
    if cache is not None and key in cache:
        return cache[key]
    dest_ids = np.asarray(costs.dest_ids).astype(str)
    missing = sorted(set(first) - set(dest_ids))
    if missing:
        raise NetworkError("cost table", [f"service points missing from the demand -> facility "
                                          f"cost table: {', '.join(missing[:V.MAX_LISTED])}; "
                                          f"compute the costs to every station and branch"])
    near = nearest(costs, np.isin(dest_ids, first))
    dpos = near["dest"].to_numpy()
    fc = np.where(dpos >= 0, dest_ids[np.maximum(dpos, 0)], "")
    out = (fc, near["time_min"].to_numpy(float))
    if cache is not None:
        cache[key] = out
    return out


def _chains(G: nx.DiGraph, index: pd.Index,
            first_contact: tuple[np.ndarray, np.ndarray]) -> pd.DataFrame:
    fc, t0 = first_contact
    nc = node_chains(G)
    out = pd.DataFrame({"first_contact_id": fc, "first_contact_time_min": t0}, index=index)
    looked = nc.reindex(pd.Index(fc))
    for lv in LEVELS:
        out[f"{lv}_id"] = looked[f"{lv}_id"].fillna("").to_numpy()
        out[f"{lv}_chain_time_min"] = t0 + looked[f"{lv}_time_min"].to_numpy(float)
    out["top_id"] = looked["top_id"].fillna("").to_numpy()
    out["chain_time_min"] = t0 + looked["top_time_min"].to_numpy(float)
    return out


def _thresholds(thresholds_min: Mapping[str, float | Sequence[float]]) -> dict[str, tuple]:
    out: dict[str, tuple[float, ...]] = {}
    for key, v in thresholds_min.items():
        if key == "branch":  # a config tier without a level of its own: first contact is station
            continue
        if key not in THRESHOLD_KEYS:
            msg = (f"thresholds_min: unknown level {key!r}; use {', '.join(THRESHOLD_KEYS)} "
                   f"(station = first contact, chain = the whole chain)")
            raise GisError(msg)
        vals = (float(v),) if isinstance(v, int | float) else tuple(float(x) for x in v)
        if vals:
            out[key] = vals
    return out


def _primary(thresholds: Mapping[str, tuple[float, ...]]) -> dict[str, float]:
    """The threshold a loss is judged by: the middle one of each level (as the access stage's
    under-served rule)."""
    return {k: v[len(v) // 2] for k, v in thresholds.items()}


def _wquantile(values: np.ndarray, weights: np.ndarray, q: float) -> float | None:
    ok = np.isfinite(values) & (weights > 0)
    if not ok.any():
        return None
    order = np.argsort(values[ok])
    v, w = values[ok][order], weights[ok][order]
    cum = np.cumsum(w)
    return float(v[min(int(np.searchsorted(cum, q * cum[-1])), len(v) - 1)])


def chain_statistics(chains: pd.DataFrame, population: np.ndarray, *,
                     thresholds_min: Mapping[str, float | Sequence[float]]) -> dict[str, Any]:
    """Population-weighted chain times and the population beyond each threshold.

    Parameters
    ----------
    chains : DataFrame
        From :func:`referral_chains`.
    population : ndarray
        Persons per demand unit.
    thresholds_min : mapping
        Level (station = first contact, regional, provincial, central, chain = the whole
        chain) -> minutes (one or several; inclusive: a person exactly at it is within).

    Returns
    -------
    dict
        Per level: ``mean_time_min``, ``median_time_min``, ``p90_time_min``, ``max_time_min``,
        ``population_reached``, ``population_without`` (no such level in reach) and
        ``beyond`` (threshold -> persons beyond it, those without included).
    """
    pop = np.asarray(population, float)
    th = _thresholds(thresholds_min)
    out: dict[str, Any] = {}
    for lv in ("station", "regional", "provincial", "central", "chain"):
        col = _level_col(lv)
        if col not in chains:
            continue
        t = chains[col].to_numpy(float)
        if lv == "central" and not np.isfinite(t).any() and lv not in th:
            continue
        reach = np.isfinite(t)
        w = pop[reach]
        rec: dict[str, Any] = {
            "measured": ("time to the nearest station or branch point" if lv == "station" else
                         "cumulative time along the referral chain" + (" to its top"
                                                                       if lv == "chain" else "")),
            "mean_time_min": float(np.average(t[reach], weights=w)) if w.sum() > 0 else None,
            "median_time_min": _wquantile(t, pop, 0.5),
            "p90_time_min": _wquantile(t, pop, 0.9),
            "max_time_min": float(t[reach & (pop > 0)].max()) if (reach & (pop > 0)).any()
            else None,
            "population_reached": float(w.sum()),
            "population_without": float(pop[~reach].sum()),
        }
        if lv in th:
            rec["beyond"] = {f"{thr:g}": float(pop[~(t <= thr)].sum()) for thr in th[lv]}
        out[lv] = rec
    return out


# --- hub load -------------------------------------------------------------------------------

def hub_load(G: nx.DiGraph, chains: pd.DataFrame, population: np.ndarray, *,
             beds_per_10k: float) -> pd.DataFrame:
    """Population and facilities behind every hospital, and beds per 10,000 of that catchment.

    Parameters
    ----------
    G : networkx.DiGraph
    chains : DataFrame
        :func:`referral_chains` of the demand units.
    population : ndarray
        Persons per demand unit.
    beds_per_10k : float
        Target (Ha Tinh 2030: 45 beds per 10,000 people).

    Returns
    -------
    DataFrame
        One row per hospital (regional, provincial, central): ``facility_id``, ``name``,
        ``tier``, ``load`` (persons whose chain passes through it), ``stations`` and
        ``branches`` (in its referral subtree), ``direct_referrals`` (facilities referring to
        it), ``beds``, ``beds_per_10k``, ``beds_target_per_10k``, ``beds_needed`` (to reach
        the target; NaN when beds are unknown, never 0), ``meets_beds_target`` (None when
        unknown), ``doctors``, ``betweenness`` (of the undirected referral tree), ``x``, ``y``.
        Sorted by tier (regional first), then load, largest first.
    """
    pop = np.asarray(population, float)
    R = referral_graph(G)
    between = nx.betweenness_centrality(R.to_undirected(as_view=True), normalized=True)
    load: dict[str, float] = {}
    for lv in HOSPITAL_TIERS:
        col = f"{lv}_id"
        if col in chains:
            s = pd.Series(pop, index=chains.index).groupby(chains[col].to_numpy()).sum()
            for k, v in s.items():
                if k:
                    load[k] = load.get(k, 0.0) + float(v)
    rows = []
    for n, d in G.nodes(data=True):
        if d.get("tier") not in HOSPITAL_TIERS:
            continue
        behind = nx.ancestors(R, n)
        tiers = [G.nodes[m].get("tier") for m in behind]
        people = load.get(n, 0.0)
        beds = d.get("beds", np.nan)
        known = beds is not None and np.isfinite(beds)
        per = beds / people * 1e4 if known and people > 0 else np.nan
        need = max(0.0, beds_per_10k * people / 1e4 - beds) if known else np.nan
        rows.append({
            "facility_id": n, "name": d.get("name", ""), "tier": d["tier"], "load": people,
            "stations": tiers.count("station"), "branches": tiers.count("branch"),
            "direct_referrals": R.in_degree(n), "beds": beds, "beds_per_10k": per,
            "beds_target_per_10k": beds_per_10k, "beds_needed": need,
            "meets_beds_target": (bool(per >= beds_per_10k) if np.isfinite(per) else None),
            "doctors": d.get("doctors", np.nan), "betweenness": between.get(n, 0.0),
            "x": d["x"], "y": d["y"]})
    df = pd.DataFrame(rows, columns=["facility_id", "name", "tier", "load", "stations",
                                     "branches", "direct_referrals", "beds", "beds_per_10k",
                                     "beds_target_per_10k", "beds_needed", "meets_beds_target",
                                     "doctors", "betweenness", "x", "y"])
    df["_r"] = df["tier"].map({t: i for i, t in enumerate(HOSPITAL_TIERS)})
    return (df.sort_values(["_r", "load", "facility_id"], ascending=[True, False, True])
            .drop(columns="_r").reset_index(drop=True))


# --- loss impact ----------------------------------------------------------------------------

def _compare_chains(before: pd.DataFrame, after: pd.DataFrame, pop: np.ndarray, *,
                    primary: Mapping[str, float], level: str) -> dict[str, Any]:
    """What changes for people between two chain tables (same demand units)."""
    ids = [c for c in ("first_contact_id", *[f"{lv}_id" for lv in LEVELS], "top_id")
           if c in before]
    changed = np.zeros(len(pop), bool)
    for c in ids:
        changed |= before[c].to_numpy() != after[c].to_numpy()
    rec: dict[str, Any] = {"population_rerouted": float(pop[changed].sum())}
    moved_any = np.zeros(len(pop), bool)
    for lv, thr in primary.items():
        col = _level_col(lv)
        if col not in before:
            continue
        tb, ta = before[col].to_numpy(float), after[col].to_numpy(float)
        moved = (tb <= thr) & ~(ta <= thr)
        moved_any |= moved
        rec[f"moved_beyond_{lv}_{thr:g}min"] = float(pop[moved].sum())
    rec["population_moved_beyond"] = float(pop[moved_any].sum())
    col = _level_col(level)
    tb, ta = before[col].to_numpy(float), after[col].to_numpy(float)
    both = np.isfinite(tb) & np.isfinite(ta)
    added = float((pop[both] * (ta[both] - tb[both])).sum())
    rec["added_person_min"] = added
    rer = both & changed
    rec["mean_added_min"] = (float(np.average(ta[rer] - tb[rer], weights=pop[rer]))
                             if pop[rer].sum() > 0 else 0.0)
    rec["population_losing_level"] = float(pop[np.isfinite(tb) & ~np.isfinite(ta)].sum())
    rec["level"] = level
    return rec


def loss_impact(facilities: gpd.GeoDataFrame, *, facility_costs: CostTable, cutoff_min: float,
                demand: pd.DataFrame, costs: CostTable,
                thresholds_min: Mapping[str, float | Sequence[float]],
                candidates: Iterable[str] | None = None,
                referrals: pd.DataFrame | None = None,
                satellite_links: pd.DataFrame | None = None, plan: Any = None,
                base: tuple[nx.DiGraph, pd.DataFrame] | None = None) -> pd.DataFrame:
    """Critical facilities: what the loss of each moves, ranked.

    For an active candidate the network is rebuilt without it (its children re-referred by the
    rule to the next nearest facility of its tier) and people's chains compared with today's.
    For an ended candidate (e.g. a closed medical centre) the network is rebuilt with it active
    and compared with today's: what its closure did.

    Parameters
    ----------
    facilities, facility_costs, cutoff_min, referrals, satellite_links, plan
        As for :func:`build_graph`.
    demand, costs
        As for :func:`referral_chains` (``demand`` needs ``population``).
    thresholds_min : mapping
        Levels -> minutes; a loss is judged at the middle threshold of each level.
    candidates : ids, optional
        Default: every hospital (regional, provincial, central) that is active, and every
        ended one.
    base : (graph, chains), optional
        Today's graph and chains when already computed.

    Returns
    -------
    DataFrame
        ``rank``, ``facility_id``, ``name``, ``tier``, ``status``, ``scenario`` ("loss" or
        "closure (compared with it active)"), ``note`` (another active facility of the tier on
        the same site, which takes over unchanged), ``stations_reassigned``,
        ``population_rerouted``,
        ``population_moved_beyond`` (newly beyond the threshold of any level),
        ``moved_beyond_<level>_<T>min``, ``added_person_min`` and ``mean_added_min`` (at the
        level of the facility's tier, among the people rerouted), ``population_losing_level``;
        ranked by people moved beyond, then person-minutes added.
    """
    pop = demand["population"].to_numpy(float)
    primary = _primary(_thresholds(thresholds_min))
    kw = dict(facility_costs=facility_costs, cutoff_min=cutoff_min, referrals=referrals,
              satellite_links=satellite_links, plan=plan, strict=False)
    cache: dict = {}
    if base is None:
        g0 = build_graph(facilities, **kw)
        base = (g0, _chains(g0, demand.index, _first_contact(g0, costs, cache)))
    g0, c0 = base
    if candidates is None:
        hosp = facilities["tier"].isin(HOSPITAL_TIERS)
        candidates = facilities.loc[hosp & facilities["status"].isin(["active", "ended"]),
                                    "facility_id"].tolist()
    fac = facilities.set_index("facility_id")
    sc0 = node_chains(g0)
    rows = []
    for fid in candidates:
        if fid not in fac.index:
            msg = f"loss impact: unknown facility {fid}"
            raise GisError(msg)
        status = fac.at[fid, "status"]
        tier = fac.at[fid, "tier"]
        if status == "active":
            g = build_graph(facilities, exclude=[fid], **kw)
            after = _chains(g, demand.index, _first_contact(g, costs, cache))
            before, scenario = c0, "loss"
            nb, na = sc0, node_chains(g)
        else:
            g = build_graph(facilities, include=[fid], **kw)
            before, after = _chains(g, demand.index, _first_contact(g, costs, cache)), c0
            scenario = "closure (compared with it active)"
            nb, na = node_chains(g), sc0
        level = "station" if tier in FIRST_CONTACT_TIERS else tier
        same = fac[(fac["tier"] == tier) & (fac["status"] == "active") & (fac.index != fid)]
        if tier == "provincial":  # only a general hospital takes over a general one's role
            gen = _is_general(fac.at[fid, "specialty"]) if "specialty" in fac else False
            same = same[same["specialty"].map(_is_general) == gen] if "specialty" in fac \
                else same
        here = same.index[same.geometry.distance(fac.at[fid, "geometry"]) < 1.0].tolist()
        rec = {"facility_id": fid, "name": fac.at[fid, "name"], "tier": tier, "status": status,
               "scenario": scenario,
               "note": f"same site as {', '.join(here)} (same tier)" if here else ""}
        firsts = {n for H in (g0, g) for n, d in H.nodes(data=True)
                  if d.get("tier") in FIRST_CONTACT_TIERS}
        common = [n for n in nb.index.intersection(na.index) if n in firsts]
        moved = (nb.loc[common, ["regional_id", "provincial_id"]].to_numpy()
                 != na.loc[common, ["regional_id", "provincial_id"]].to_numpy()).any(axis=1)
        rec["stations_reassigned"] = int(moved.sum())
        rec.update(_compare_chains(before, after, pop, primary=primary, level=level))
        rows.append(rec)
    df = pd.DataFrame(rows)
    if df.empty:
        return df
    df = df.sort_values(["population_moved_beyond", "added_person_min", "facility_id"],
                        ascending=[False, False, True]).reset_index(drop=True)
    df.insert(0, "rank", np.arange(1, len(df) + 1))
    return df


# --- satellite planning ---------------------------------------------------------------------

@dataclass(frozen=True)
class SatelliteChoice:
    """Satellites chosen to bring the most people within reach of a specialty.

    Attributes
    ----------
    chosen : list of str
        Satellite hospital ids, in order of choice (greedy) or of the candidates (exact).
    gains : list of float
        Persons newly within reach added by each chosen satellite, in that order.
    covered_before, covered_after : float
        Persons within ``within_min`` of a hospital offering the specialty, before and after.
    upper_bound : float
        Upper bound on the best possible ``covered_after`` with ``k`` satellites (equal to it
        when the method is exact).
    method : str
        ``"enumeration"``, ``"milp"`` (exact) or ``"greedy"``.
    combinations : int
        Number of k-subsets of the candidates.
    """

    chosen: list[str]
    gains: list[float]
    covered_before: float
    covered_after: float
    upper_bound: float
    method: str
    combinations: int

    @property
    def exact(self) -> bool:
        return self.method in ("enumeration", "milp")


def _coverage_patterns(costs: CostTable, population: np.ndarray, *, offering: Sequence[str],
                       candidates: Sequence[str], within_min: float
                       ) -> tuple[float, np.ndarray, np.ndarray]:
    """Persons covered now; candidate x pattern incidence and the persons per pattern (demand
    units not covered now, grouped by the set of candidates that would cover them)."""
    dest_ids = np.asarray(costs.dest_ids).astype(str)
    within = costs.time_min <= within_min
    o, d = costs.origin[within], costs.dest[within]
    covered = np.zeros(costs.n_origins, bool)
    covered[o[np.isin(dest_ids[d], list(offering))]] = True
    cand_pos = {c: i for i, c in enumerate(candidates)}
    col = np.array([cand_pos.get(x, -1) for x in dest_ids])[d]
    keep = (col >= 0) & ~covered[o]
    inc = np.zeros((costs.n_origins, len(candidates)), bool)
    inc[o[keep], col[keep]] = True
    rows = inc.any(axis=1)
    pop = np.asarray(population, float)
    if not rows.any():
        return float(pop[covered].sum()), np.zeros((len(candidates), 0), bool), np.zeros(0)
    pats, inv = np.unique(inc[rows], axis=0, return_inverse=True)
    w = np.bincount(inv.ravel(), weights=pop[rows], minlength=len(pats))
    return float(pop[covered].sum()), pats.T.copy(), w


def _best_subset_enum(A: np.ndarray, w: np.ndarray, k: int) -> tuple[tuple[int, ...], float]:
    n = A.shape[0]
    best: tuple[tuple[int, ...], float] = (tuple(range(k)), -1.0)
    combos = itertools.combinations(range(n), k)
    chunk = max(1, 2_000_000 // max(1, k * A.shape[1]))
    while True:
        block = list(itertools.islice(combos, chunk))
        if not block:
            break
        idx = np.array(block, dtype=np.int64)
        val = A[idx].any(axis=1).astype(float) @ w
        j = int(np.argmax(val))
        if val[j] > best[1] + 1e-9:
            best = (tuple(int(x) for x in idx[j]), float(val[j]))
    return best


def _best_subset_milp(A: np.ndarray, w: np.ndarray, k: int) -> tuple[tuple[int, ...], float]:
    from scipy.optimize import Bounds, LinearConstraint, milp

    n, p = A.shape
    c = np.concatenate([np.zeros(n), -w])
    # y_p <= sum_{j covers p} x_j ; sum x_j = k
    link = np.hstack([-A.T.astype(float), np.eye(p)])
    card = np.concatenate([np.ones(n), np.zeros(p)])[None, :]
    cons = [LinearConstraint(link, -np.inf, 0.0), LinearConstraint(card, k, k)]
    res = milp(c, constraints=cons, integrality=np.concatenate([np.ones(n), np.zeros(p)]),
               bounds=Bounds(0, 1))
    if not res.success:
        from gis.errors import SolveError

        msg = f"satellite planning: the MILP solver failed ({res.message})"
        raise SolveError(msg)
    x = np.round(res.x[:n]).astype(bool)
    chosen = tuple(int(i) for i in np.flatnonzero(x))
    return chosen, float(A[list(chosen)].any(axis=0) @ w)


def plan_satellites(costs: CostTable, population: np.ndarray, *, offering: Sequence[str],
                    candidates: Sequence[str], k: int, within_min: float,
                    method: str = "auto", max_combinations: int = 200_000) -> SatelliteChoice:
    """Choose ``k`` satellites to bring the most people within ``within_min`` of a specialty.

    A satellite link for a specialty makes the satellite offer it. A demand unit is covered
    when a hospital offering the specialty (``offering``, plus the chosen satellites) is within
    ``within_min`` (inclusive). This is the maximal covering problem: its objective is monotone
    submodular.

    Parameters
    ----------
    costs : CostTable
        Demand units -> facilities (minutes); its cut-off must be at least ``within_min``.
    population : ndarray
        Persons per demand unit.
    offering : ids
        Hospitals offering the specialty now (cores and existing satellites).
    candidates : ids
        Hospitals that may become satellites.
    k : int
        Number of satellites (fewer when there are fewer candidates).
    within_min : float
        Travel-time standard, minutes.
    method : {"auto", "enumeration", "milp", "greedy"}
        ``auto``: enumeration when there are at most ``max_combinations`` k-subsets, else
        greedy. Greedy reports the data-dependent bound OPT <= f(S_i) + sum of the k largest
        marginal gains after step i (minimised over i) and the (1 - 1/e) bound, whichever is
        tighter.

    Returns
    -------
    SatelliteChoice
    """
    if within_min > costs.cutoff_min:
        msg = (f"satellite planning: within_min {within_min:g} exceeds the cost table's cut-off "
               f"of {costs.cutoff_min:g} min; pairs beyond it are not stored")
        raise GisError(msg)
    if method not in ("auto", "enumeration", "milp", "greedy"):
        msg = f"satellite planning: method {method!r}; use auto, enumeration, milp or greedy"
        raise GisError(msg)
    candidates = [c for c in dict.fromkeys(map(str, candidates)) if c not in set(offering)]
    base, A, w = _coverage_patterns(costs, population, offering=offering, candidates=candidates,
                                    within_min=within_min)
    n = len(candidates)
    k = max(0, min(int(k), n))
    combos = math.comb(n, k)
    if method == "auto":
        method = "enumeration" if combos <= max_combinations else "greedy"
    if k == 0:
        return SatelliteChoice([], [], base, base, base, "enumeration", combos)

    def gains_in_order(order: Sequence[int]) -> list[float]:
        got = np.zeros(A.shape[1], bool)
        out = []
        for j in order:
            new = A[j] & ~got
            out.append(float(w[new].sum()))
            got |= A[j]
        return out

    if method in ("enumeration", "milp"):
        if A.shape[1] == 0:
            chosen, val = tuple(range(k)), 0.0
        elif method == "enumeration":
            chosen, val = _best_subset_enum(A, w, k)
        else:
            chosen, val = _best_subset_milp(A, w, k)
        # Order the chosen ones by marginal gain (greedy among them) for reporting.
        order: list[int] = []
        left = list(chosen)
        got = np.zeros(A.shape[1], bool)
        while left:
            j = max(left, key=lambda i: (float(w[A[i] & ~got].sum()), -i))
            order.append(j)
            left.remove(j)
            got |= A[j]
        return SatelliteChoice([candidates[j] for j in order], gains_in_order(order), base,
                               base + val, base + val, method, combos)
    got = np.zeros(A.shape[1], bool)
    order = []
    value = 0.0
    bound = math.inf
    for _ in range(k):
        gain = (A & ~got).astype(float) @ w
        gain[order] = -1.0
        bound = min(bound, value + float(np.sort(np.maximum(gain, 0))[::-1][:k].sum()))
        j = int(np.argmax(gain))
        order.append(j)
        value += float(gain[j])
        got |= A[j]
    last = (A & ~got).astype(float) @ w
    last[order] = 0.0
    bound = min(bound, value + float(np.sort(last)[::-1][:k].sum()), value / (1 - 1 / math.e))
    return SatelliteChoice([candidates[j] for j in order], gains_in_order(order), base,
                           base + value, base + max(bound, value), "greedy", combos)


@dataclass(frozen=True)
class SatelliteRequest:
    """A satellite-planning question: ``k`` new links for ``specialty`` within ``within_min``.

    ``cores``: hospitals that may be the core of a new link (default: every node offering
    the specialty). ``candidates``: hospitals that may become satellites (default: every
    active regional and provincial hospital not offering it).
    """

    specialty: str
    k: int
    within_min: float
    cores: tuple[str, ...] | None = None
    candidates: tuple[str, ...] | None = None
    method: str = "auto"


def offering(G: nx.DiGraph, specialty: str) -> list[str]:
    """Nodes offering ``specialty``: in their ``specialty`` field, or as the core or the
    satellite of a link for it."""
    s = specialty.strip().lower()
    out = {n for n, d in G.nodes(data=True) if s in specialties(d.get("specialty"))}
    for u, v, d in G.edges(data=True):
        if d.get("kind") == SATELLITE and s in specialties(d.get("specialty")):
            out |= {u, v}
    return sorted(out)


def satellite_planning(G: nx.DiGraph, request: SatelliteRequest, *, demand: pd.DataFrame,
                       costs: CostTable, facility_costs: CostTable
                       ) -> tuple[SatelliteChoice, pd.DataFrame]:
    """Answer a :class:`SatelliteRequest` on a network: the choice and the proposed links.

    Returns
    -------
    SatelliteChoice, DataFrame
        The links ``core_id`` (the nearest allowed core), ``satellite_id``, ``specialty``,
        ``time_min``, ``dist_m``, ``gain`` (persons newly within reach).

    Raises
    ------
    NetworkError
        No core offers the specialty, or a given core/candidate is not in the network.
    """
    src = f"satellite planning ({request.specialty})"
    offer = offering(G, request.specialty)
    cores = list(request.cores) if request.cores is not None else offer
    unknown = [c for c in [*cores, *(request.candidates or ())] if c not in G]
    if unknown:
        raise NetworkError(src, [f"unknown or inactive facilities: {', '.join(unknown)}"])
    if not cores:
        raise NetworkError(src, [f"no hospital offers {request.specialty!r} (field specialty or "
                                 f"a satellite link) and no cores were given; give the cores"])
    cands = (list(request.candidates) if request.candidates is not None else
             [n for n, d in G.nodes(data=True) if d.get("tier") in ("regional", "provincial")
              and n not in set(offer) and n not in set(cores)])
    choice = plan_satellites(costs, demand["population"].to_numpy(float),
                             offering=sorted(set(offer) | set(cores)), candidates=cands,
                             k=request.k, within_min=request.within_min, method=request.method)
    dense = _Dense(facility_costs)
    rows = []
    for sat, gain in zip(choice.chosen, choice.gains, strict=True):
        ps = dense.pos[sat]
        best = min(cores, key=lambda c: (dense.time[dense.pos[c], ps], c))
        pc = dense.pos[best]
        rows.append({"core_id": best, "satellite_id": sat, "specialty": request.specialty,
                     "time_min": float(dense.time[pc, ps]), "dist_m": float(dense.dist[pc, ps]),
                     "gain": gain})
    return choice, pd.DataFrame(rows, columns=["core_id", "satellite_id", "specialty",
                                               "time_min", "dist_m", "gain"])


# --- layers and GraphML ---------------------------------------------------------------------

def _line(G: nx.DiGraph, u: str, v: str) -> shapely.LineString:
    a, b = G.nodes[u], G.nodes[v]
    return shapely.LineString([(a["x"], a["y"]), (b["x"], b["y"])])


def edge_layer(G: nx.DiGraph, kind: str) -> gpd.GeoDataFrame:
    """Edges of one kind as LineStrings (from -> to) in the graph's CRS.

    Columns ``from_id``, ``to_id``, ``from_name``, ``to_name``, ``from_tier``, ``to_tier``,
    ``time_min``, ``dist_m``, ``kind``, ``source``; satellite edges also ``core_id``,
    ``satellite_id``, ``specialty``, ``since`` (from = core, to = satellite).
    """
    rows, geoms = [], []
    for u, v, d in G.edges(data=True):
        if d.get("kind") != kind:
            continue
        rec = {"from_id": u, "to_id": v, "from_name": G.nodes[u].get("name", ""),
               "to_name": G.nodes[v].get("name", ""), "from_tier": G.nodes[u].get("tier", ""),
               "to_tier": G.nodes[v].get("tier", ""), "time_min": d["time_min"],
               "dist_m": d["dist_m"], "kind": kind, "source": d.get("source", "")}
        if kind == SATELLITE:
            rec.update(core_id=u, satellite_id=v, specialty=d.get("specialty", ""),
                       since=d.get("since", ""))
        rows.append(rec)
        geoms.append(_line(G, u, v))
    cols = ["from_id", "to_id", "from_name", "to_name", "from_tier", "to_tier", "time_min",
            "dist_m", "kind", "source"]
    if kind == SATELLITE:
        cols += ["core_id", "satellite_id", "specialty", "since"]
    return gpd.GeoDataFrame(pd.DataFrame(rows, columns=cols), geometry=geoms,
                            crs=G.graph.get("crs"))


def hubs_layer(hubs: pd.DataFrame, crs: Any) -> gpd.GeoDataFrame:
    """:func:`hub_load` as Points (``load`` = persons behind the hub)."""
    return gpd.GeoDataFrame(hubs.drop(columns=["x", "y"]),
                            geometry=shapely.points(hubs["x"].to_numpy(float),
                                                    hubs["y"].to_numpy(float)), crs=crs)


def commune_chains(chains: pd.DataFrame, demand: pd.DataFrame, communes: gpd.GeoDataFrame,
                   G: nx.DiGraph, *, thresholds_min: Mapping[str, float | Sequence[float]]
                   ) -> gpd.GeoDataFrame:
    """The referral chain of every commune, with polygon geometry.

    The chain shown is the one of the station serving most of the commune's people; the
    times are population-weighted means over its demand units (first leg included).

    Returns
    -------
    GeoDataFrame
        ``commune_code``, ``commune_name``, ``population``, ``station_id``, ``regional_id``,
        ``regional_name``, ``provincial_id``, ``top_id``, ``path`` (ids, " -> "),
        ``path_time_min`` (along the edges from that station to the top),
        ``mean_first_contact_time_min``, ``mean_<level>_chain_time_min``, ``mean_chain_time_min``
        and ``beyond_<level>_<T>min`` (persons); communes' polygons in their CRS.
    """
    th = _thresholds(thresholds_min)
    pop = demand["population"].to_numpy(float)
    df = chains.copy()
    df["population"] = pop
    df["commune_code"] = demand["commune_code"].to_numpy()
    nc = node_chains(G)
    per = df[df["station_id"] != ""].groupby(["commune_code", "station_id"])["population"].sum()
    dom = (per.reset_index().sort_values(["commune_code", "population", "station_id"],
                                         ascending=[True, False, True])
           .drop_duplicates("commune_code").set_index("commune_code")["station_id"])
    out = pd.DataFrame({"commune_code": communes["commune_code"].to_numpy(),
                        "commune_name": communes["commune_name"].to_numpy()})
    out["population"] = out["commune_code"].map(df.groupby("commune_code")["population"].sum()
                                                ).fillna(0.0)
    out["station_id"] = out["commune_code"].map(dom).fillna("")
    look = nc.reindex(pd.Index(out["station_id"]))
    out["regional_id"] = look["regional_id"].fillna("").to_numpy()
    out["regional_name"] = [G.nodes[r]["name"] if r else "" for r in out["regional_id"]]
    out["provincial_id"] = look["provincial_id"].fillna("").to_numpy()
    out["top_id"] = look["top_id"].fillna("").to_numpy()
    out["path"] = look["path"].fillna("").to_numpy()
    out["path_time_min"] = look["top_time_min"].to_numpy(float)
    g = df.groupby("commune_code")
    for lv in ("station", "regional", "provincial", "central", "chain"):
        col = _level_col(lv)
        if lv == "central" and not np.isfinite(df[col]).any():
            continue
        num = (df[col].fillna(0) * df["population"]).groupby(df["commune_code"]).sum()
        den = df["population"].where(df[col].notna(), 0).groupby(df["commune_code"]).sum()
        with np.errstate(invalid="ignore", divide="ignore"):
            out[f"mean_{col}"] = out["commune_code"].map(num / den.replace(0, np.nan))
        for thr in th.get(lv, ()):
            beyond = g.apply(lambda x, c=col, t=thr: float(x["population"][~(x[c] <= t)].sum()),
                             include_groups=False)
            out[f"beyond_{lv}_{thr:g}min"] = out["commune_code"].map(beyond).fillna(0.0)
    return gpd.GeoDataFrame(out, geometry=communes.geometry.to_numpy(), crs=communes.crs)


def _scalar(value: Any) -> Any:
    """A GraphML-writable scalar, or None to drop the attribute."""
    if value is None:
        return None
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        return float(value) if np.isfinite(value) else None
    if isinstance(value, str):
        return value
    if isinstance(value, list | tuple | set):
        return "; ".join(str(v) for v in value)
    if hasattr(value, "to_string") and hasattr(value, "to_wkt"):  # pyproj CRS
        return value.to_string()
    if isinstance(value, shapely.Geometry):
        return value.wkt
    return str(value)


def graphml_ready(G: nx.DiGraph) -> nx.DiGraph:
    """A copy of ``G`` whose attributes GraphML can hold: NaN/None dropped (unknown stays
    unknown, never 0), lists joined with "; ", the CRS as text (``crs``) and WKT
    (``crs_wkt``), geometries as WKT."""
    H = nx.DiGraph()
    for k, v in G.graph.items():
        s = _scalar(v)
        if s is not None and s != "":
            H.graph[k] = s
    crs = G.graph.get("crs")
    if crs is not None and hasattr(crs, "to_wkt"):
        H.graph["crs_wkt"] = crs.to_wkt()
    for n, d in G.nodes(data=True):
        H.add_node(str(n), **{k: s for k, v in d.items() if (s := _scalar(v)) is not None})
    for u, v, d in G.edges(data=True):
        H.add_edge(str(u), str(v), **{k: s for k, v2 in d.items()
                                      if (s := _scalar(v2)) is not None})
    return H


def write_graphml(graph: nx.DiGraph, path: str | Path, *, overwrite: bool = False) -> Path:
    """Write the graph as GraphML atomically (temporary file, then rename).

    Raises
    ------
    OutputError
        ``path`` exists and ``overwrite`` is false, or the folder is not writable.
    """
    from gis import _io

    path = Path(path)
    with _io.atomic_path(path, overwrite=overwrite) as tmp:
        nx.write_graphml(graphml_ready(graph), tmp, encoding="utf-8")
    return path


# --- the front function ---------------------------------------------------------------------

@dataclass
class NetworkResult:
    """Everything :func:`run_network` computed.

    Attributes
    ----------
    graph : networkx.DiGraph
        Today's network (:func:`build_graph`).
    layers : dict
        For the GeoPackage: ``referral_edges``, ``satellite_edges`` (when links are given),
        ``hubs``, ``referral_chains`` (per commune, polygons); with a plan also
        ``referral_edges_plan``, ``hubs_plan``, ``referral_chains_plan``; with satellite
        requests ``satellite_proposals``.
    summary : dict
        JSON-serialisable ``network`` section of summary.json.
    chains : DataFrame
        Per demand unit (:func:`referral_chains`).
    hubs, loss : DataFrame
        :func:`hub_load` and :func:`loss_impact`.
    graph_plan, chains_plan : optional
        The network and chains after the plan.
    facility_costs : CostTable
    """

    graph: nx.DiGraph
    layers: dict[str, gpd.GeoDataFrame]
    summary: dict[str, Any]
    chains: pd.DataFrame
    hubs: pd.DataFrame
    loss: pd.DataFrame
    facility_costs: CostTable
    graph_plan: nx.DiGraph | None = None
    chains_plan: pd.DataFrame | None = None
    satellite_choices: list[SatelliteChoice] = field(default_factory=list)


def _records(df: pd.DataFrame, cols: Sequence[str]) -> list[dict[str, Any]]:
    return to_jsonable(df[[c for c in cols if c in df]].to_dict("records"))


def extend_costs(costs: CostTable, demand: pd.DataFrame, sites: gpd.GeoDataFrame, *,
                 speed_kmh: float, detour_factor: float,
                 roads: gpd.GeoDataFrame | None = None,
                 road_speeds_kmh: Mapping[str, float] | None = None,
                 walking_speed_kmh: float = 4.5) -> CostTable:
    """``costs`` plus demand -> ``sites`` pairs by the same travel model and cut-off (for the
    new sites of a plan)."""
    sites = sites[~sites["facility_id"].isin(set(map(str, costs.dest_ids)))]
    if sites.empty:
        return costs
    xy = demand[["x", "y"]].to_numpy(float)
    sxy = sites.geometry.get_coordinates().to_numpy()
    ids = sites["facility_id"].astype(str).to_numpy()
    if roads is not None:
        extra, _ = road_costs(xy, sxy, roads, speeds_kmh=dict(road_speeds_kmh or {}),
                              walking_speed_kmh=walking_speed_kmh, cutoff_min=costs.cutoff_min,
                              origin_ids=costs.origin_ids, dest_ids=ids)
    else:
        extra = straight_line_costs(xy, sxy, speed_kmh=speed_kmh, detour_factor=detour_factor,
                                    cutoff_min=costs.cutoff_min, origin_ids=costs.origin_ids,
                                    dest_ids=ids)
    o = np.concatenate([costs.origin, extra.origin])
    d = np.concatenate([costs.dest, extra.dest + costs.n_dests])
    order = np.lexsort((d, o))
    return CostTable(origin=o[order], dest=d[order],
                     dist_m=np.concatenate([costs.dist_m, extra.dist_m])[order],
                     time_min=np.concatenate([costs.time_min, extra.time_min])[order],
                     origin_ids=costs.origin_ids,
                     dest_ids=np.concatenate([np.asarray(costs.dest_ids).astype(object),
                                              ids.astype(object)]),
                     cutoff_min=costs.cutoff_min, mode=costs.mode)


def _regional_table(G: nx.DiGraph, hubs: pd.DataFrame) -> list[dict[str, Any]]:
    R = referral_graph(G)
    rows = []
    for r in hubs[hubs["tier"] == "regional"].itertuples():
        children = list(R.predecessors(r.facility_id))
        rows.append({"facility_id": r.facility_id, "name": r.name,
                     "stations": sum(G.nodes[c]["tier"] == "station" for c in children),
                     "branches": int(r.branches), "population": float(r.load)})
    return sorted(rows, key=lambda x: x["facility_id"])


def _network_figures(G: nx.DiGraph, chains: pd.DataFrame, hubs: pd.DataFrame,
                     pop: np.ndarray, thresholds_min: Mapping[str, Any]) -> dict[str, Any]:
    tiers = pd.Series([d.get("tier") for _, d in G.nodes(data=True)])
    kinds = pd.Series([d.get("kind") for _, _, d in G.edges(data=True)], dtype=object)
    nc = node_chains(G)
    return {
        "nodes": {"total": G.number_of_nodes(),
                  "by_tier": {t: int((tiers == t).sum()) for t in TIER_RANK if (tiers == t).any()}},
        "edges": {"referral": int((kinds == REFERRAL).sum()),
                  "satellite": int((kinds == SATELLITE).sum())},
        "top": sorted(set(nc.loc[nc["parent_id"] == "", :].index)
                      & {n for n, d in G.nodes(data=True) if d["tier"] in HOSPITAL_TIERS}),
        "stations_per_regional": _regional_table(G, hubs),
        "chains": chain_statistics(chains, pop, thresholds_min=thresholds_min),
    }


def compare_networks(before: dict[str, Any], after: dict[str, Any], *,
                     chains_before: pd.DataFrame, chains_after: pd.DataFrame,
                     population: np.ndarray, G_after: nx.DiGraph, plan: Any) -> dict[str, Any]:
    """The network before and after a plan: counts, stations and people per regional
    hospital, chain times, people whose regional hospital changes, and consistency checks
    (every main station under a regional hospital, every branch point under the main station
    of its commune)."""
    pop = np.asarray(population, float)
    reg_b = {r["facility_id"]: r for r in before["stations_per_regional"]}
    reg_a = {r["facility_id"]: r for r in after["stations_per_regional"]}
    per_regional = []
    for fid in sorted(set(reg_b) | set(reg_a)):
        b, a = reg_b.get(fid, {}), reg_a.get(fid, {})
        per_regional.append({"facility_id": fid, "name": a.get("name", b.get("name", "")),
                             "stations_before": b.get("stations", 0),
                             "main_stations_after": a.get("stations", 0),
                             "branches_after": a.get("branches", 0),
                             "population_before": b.get("population", 0.0),
                             "population_after": a.get("population", 0.0)})
    changed = chains_before["regional_id"].to_numpy() != chains_after["regional_id"].to_numpy()
    checks = []
    main_of = {}
    if plan is not None:
        a = plan.actions
        main_of = dict(zip(a.loc[a["facility_id"].isin(plan.main_ids()), "target_commune_code"],
                           a.loc[a["facility_id"].isin(plan.main_ids()), "facility_id"],
                           strict=True))
    parent = _parent_map(G_after)
    for n, d in G_after.nodes(data=True):
        if d.get("role") == ROLE_MAIN and G_after.nodes.get(parent.get(n), {}).get(
                "tier") != "regional":
            checks.append(f"main station {n} does not refer to a regional hospital")
        if d.get("role") == ROLE_BRANCH and parent.get(n) != main_of.get(d.get("commune_code")):
            checks.append(f"branch point {n} does not refer to the main station of its commune")
    level_cmp = {}
    for lv, rec in after["chains"].items():
        brec = before["chains"].get(lv, {})
        level_cmp[lv] = {k: {"before": brec.get(k), "after": rec.get(k)}
                         for k in ("mean_time_min", "p90_time_min", "max_time_min")}
        if "beyond" in rec:
            level_cmp[lv]["beyond"] = {t: {"before": brec.get("beyond", {}).get(t),
                                           "after": v,
                                           "change": v - brec.get("beyond", {}).get(t, 0.0)}
                                       for t, v in rec["beyond"].items()}
    return {
        "plan": getattr(plan, "name", ""),
        "actions": plan.counts() if plan is not None else {},
        "nodes_by_tier": {"before": before["nodes"]["by_tier"],
                          "after": after["nodes"]["by_tier"]},
        "per_regional": per_regional,
        "chains": level_cmp,
        "population_changing_regional_hospital": float(pop[changed].sum()),
        "consistency_problems": checks,
    }


def skip_reason(facilities: gpd.GeoDataFrame) -> str | None:
    """Why no referral network can be built from these facilities, or None when it can.

    A network needs hospitals: with stations alone (the registry's default layers) every
    station would lack its regional hospital. Callers skip the network stage with this text.
    """
    active = facilities[facilities["status"] == "active"]
    if not (active["tier"] == "regional").any():
        return ("no active regional hospital in the facilities layer: give the province's "
                "hospitals in layers.facilities (tier regional, provincial, central)")
    return None


def run_network(
    facilities: gpd.GeoDataFrame,
    communes: gpd.GeoDataFrame,
    *,
    demand: pd.DataFrame,
    costs: CostTable,
    speed_kmh: float,
    detour_factor: float,
    cutoff_min: float,
    thresholds_min: Mapping[str, float | Sequence[float]],
    beds_per_10k: float,
    referrals: pd.DataFrame | None = None,
    satellite_links: pd.DataFrame | None = None,
    plan: Any = None,
    roads: gpd.GeoDataFrame | None = None,
    road_speeds_kmh: Mapping[str, float] | None = None,
    walking_speed_kmh: float = 4.5,
    loss_candidates: Iterable[str] | None = None,
    satellite_requests: Sequence[SatelliteRequest] = (),
) -> NetworkResult:
    """Build the referral and satellite network and run every analysis on it.

    Parameters
    ----------
    facilities, communes : GeoDataFrame
        Layers of :mod:`gis.layers` in the working CRS.
    demand : DataFrame
        Demand units (``population``, ``commune_code``, ``x``, ``y``), e.g.
        ``AccessResult.demand``.
    costs : CostTable
        Demand units -> active facilities (``AccessResult.costs``).
    speed_kmh, detour_factor, cutoff_min, roads, road_speeds_kmh, walking_speed_kmh
        The travel model of the access stage, used between facilities.
    thresholds_min : mapping
        Level -> minutes (station = first contact, regional, provincial, central, chain =
        the whole chain), e.g. the config's ``access.thresholds_min``.
    beds_per_10k : float
        Beds target per 10,000 people.
    referrals, satellite_links : DataFrame, optional
        :func:`gis.layers.read_referrals`, :func:`gis.layers.read_satellite_links`.
    plan : gis.plans.Plan, optional
        Also build the network after the plan and compare.
    loss_candidates : ids, optional
        Facilities for the loss-impact ranking (default every hospital, active or ended).
    satellite_requests : sequence of SatelliteRequest
        Satellite-planning questions.

    Raises
    ------
    NetworkError
        Every problem of the tables or the graph, naming facility ids.
    """
    th = _thresholds(thresholds_min)
    if referrals is not None:
        referrals = check_referral_table(referrals)
    if satellite_links is not None:
        satellite_links = check_satellite_links(satellite_links)
    sites = _plan_sites(plan, facilities.crs)
    model = dict(speed_kmh=speed_kmh, detour_factor=detour_factor, roads=roads,
                 road_speeds_kmh=road_speeds_kmh, walking_speed_kmh=walking_speed_kmh)
    fcosts = facility_costs(facilities, **model, plan=plan)
    common = dict(facility_costs=fcosts, cutoff_min=cutoff_min, referrals=referrals,
                  satellite_links=satellite_links)
    G = build_graph(facilities, **common, name="referral network")
    pop = demand["population"].to_numpy(float)
    chains = referral_chains(G, demand=demand, costs=costs)
    hubs = hub_load(G, chains, pop, beds_per_10k=beds_per_10k)
    loss = loss_impact(facilities, **common, demand=demand, costs=costs, thresholds_min=th,
                       candidates=loss_candidates, base=(G, chains))
    crs = facilities.crs
    layers: dict[str, gpd.GeoDataFrame] = {"referral_edges": edge_layer(G, REFERRAL)}
    if satellite_links is not None:
        layers["satellite_edges"] = edge_layer(G, SATELLITE)
    hub_gdf = hubs_layer(hubs, crs)
    if not loss.empty:
        lk = loss.set_index("facility_id")
        hub_gdf["loss_rank"] = hub_gdf["facility_id"].map(lk["rank"])
        hub_gdf["loss_moved_beyond"] = hub_gdf["facility_id"].map(lk["population_moved_beyond"])
    layers["hubs"] = hub_gdf
    layers["referral_chains"] = commune_chains(chains, demand, communes, G, thresholds_min=th)
    figures = _network_figures(G, chains, hubs, pop, th)
    total = float(pop.sum())
    summary: dict[str, Any] = {
        "travel_model": {"between_facilities": fcosts.mode, "speed_kmh": speed_kmh,
                         "detour_factor": detour_factor, "cutoff_min": cutoff_min,
                         "is_estimate": roads is None},
        "rule": ("branch point -> main station of its commune; station -> nearest regional "
                 "hospital within the cut-off; regional -> provincial general hospital; "
                 "provincial -> its central satellite core, else the nearest central hospital "
                 "(when any); a referral table overrides the rule"),
        "referral_table": None if referrals is None else {"rows": int(len(referrals))},
        **figures,
        "population": total,
        "thresholds_min": {k: list(v) for k, v in th.items()},
        "hubs": _records(hubs, ["facility_id", "name", "tier", "load", "stations", "branches",
                                "direct_referrals", "beds", "beds_per_10k",
                                "beds_target_per_10k", "beds_needed", "meets_beds_target",
                                "doctors", "betweenness"]),
        "beds_note": ("beds per 10,000 of each hub's catchment against the target of "
                      f"{beds_per_10k:g}; unknown beds stay unknown (null), never 0"),
        "loss_impact": {
            "judged_at_min": _primary(th),
            "ranking": _records(loss, [c for c in loss.columns]),
        },
        "validation": {"problems": list(G.graph["problems"]),
                       "warnings": list(G.graph["warnings"])},
    }
    if satellite_links is not None:
        sat = [(u, v, d) for u, v, d in G.edges(data=True) if d.get("kind") == SATELLITE]
        cores: dict[str, int] = {}
        for u, _, _ in sat:
            cores[u] = cores.get(u, 0) + 1
        specs = sorted({s for *_, d in sat for s in specialties(d.get("specialty"))})
        summary["satellites"] = {"links": len(sat), "rows": int(len(satellite_links)),
                                 "satellites_per_core": dict(sorted(cores.items())),
                                 "specialties": specs}
    choices = []
    if satellite_requests:
        plans_out, prop = [], []
        for req in satellite_requests:
            choice, links = satellite_planning(G, req, demand=demand, costs=costs,
                                               facility_costs=fcosts)
            choices.append(choice)
            plans_out.append({"specialty": req.specialty, "k": req.k,
                              "within_min": req.within_min, "method": choice.method,
                              "exact": choice.exact, "combinations": choice.combinations,
                              "covered_before": choice.covered_before,
                              "covered_after": choice.covered_after,
                              "upper_bound": choice.upper_bound,
                              "links": _records(links, list(links.columns))})
            for r in links.itertuples():
                prop.append({"from_id": r.core_id, "to_id": r.satellite_id,
                             "core_id": r.core_id, "satellite_id": r.satellite_id,
                             "specialty": r.specialty, "time_min": r.time_min,
                             "dist_m": r.dist_m, "gain": r.gain,
                             "kind": "proposed satellite",
                             "geometry": shapely.LineString(
                                 [(G.nodes[r.core_id]["x"], G.nodes[r.core_id]["y"]),
                                  (G.nodes[r.satellite_id]["x"], G.nodes[r.satellite_id]["y"])])})
        summary["satellite_planning"] = plans_out
        if prop:
            layers["satellite_proposals"] = gpd.GeoDataFrame(pd.DataFrame(prop), crs=crs)
    G_plan = chains_plan = None
    if plan is not None:
        G_plan = build_graph(facilities, **common, plan=plan,
                             name=f"referral network (plan '{plan.name}')")
        costs_plan = extend_costs(costs, demand, sites, **model)
        chains_plan = referral_chains(G_plan, demand=demand, costs=costs_plan)
        hubs_plan = hub_load(G_plan, chains_plan, pop, beds_per_10k=beds_per_10k)
        after = _network_figures(G_plan, chains_plan, hubs_plan, pop, th)
        summary["plan"] = {**compare_networks(figures, after, chains_before=chains,
                                              chains_after=chains_plan, population=pop,
                                              G_after=G_plan, plan=plan),
                           "after": after,
                           "warnings": list(G_plan.graph["warnings"])}
        layers["referral_edges_plan"] = edge_layer(G_plan, REFERRAL)
        layers["hubs_plan"] = hubs_layer(hubs_plan, crs)
        layers["referral_chains_plan"] = commune_chains(chains_plan, demand, communes, G_plan,
                                                        thresholds_min=th)
    return NetworkResult(graph=G, layers=layers, summary=to_jsonable(summary), chains=chains,
                         hubs=hubs, loss=loss, facility_costs=fcosts, graph_plan=G_plan,
                         chains_plan=chains_plan, satellite_choices=choices)
