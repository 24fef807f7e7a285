"""The referral and satellite-hospital graph: nodes from the facilities (and a plan), parents by
the rule or a referral table, satellite links; travel between facilities."""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Iterable, Mapping
from typing import Any

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import shapely

from gis.errors import GisError, NetworkError
from gis.inputs import validate as V
from gis.inputs.network_tables import check_referral_table, check_satellite_links
from gis.model.costs import CostTable, straight_line_costs
from gis.model.travel import TravelModel

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


_NODE_FIELDS = ("name", "tier", "original_tier", "specialty", "commune_code",
                "legacy_commune_code", "beds", "doctors", "nurses", "status", "role", "main_id",
                "what_if", "x", "y")


def facility_costs(facilities: gpd.GeoDataFrame, *, speed_kmh: float | None = None,
                   detour_factor: float | None = None, travel: TravelModel | None = None,
                   plan: Any = None) -> CostTable:
    """Travel time and distance between every pair of facilities, without a cut-off.

    The straight line x ``detour_factor`` / ``speed_kmh``, or ``travel``: the road or
    friction model of the transfer mode (pairs with a central hospital then use the straight
    line at the model's ``speed_kmh`` and ``detour_factor``: a province's roads and grid do
    not reach national hospitals elsewhere).

    Parameters
    ----------
    facilities : GeoDataFrame
        ``facility_id``, ``tier``; Point geometry in the working CRS (metres).
    speed_kmh, detour_factor : float, optional
        Straight-line model (when ``travel`` is None).
    travel : TravelModel, optional
        The travel model between facilities (:mod:`gis.model.travel`).
    plan : gis.inputs.plans.Plan, optional
        Its new sites are added after the facilities.

    Returns
    -------
    CostTable
        Origins and destinations are the facilities (same order, ``facility_id`` labels);
        pairs the road graph or grid cannot join are absent.
    """
    if travel is None:
        if speed_kmh is None or detour_factor is None:
            msg = "facility_costs: give travel=, or speed_kmh= and detour_factor="
            raise GisError(msg)
        travel = TravelModel(kind="straight", mode="", speed_kmh=speed_kmh,
                             detour_factor=detour_factor)
    if plan is not None:
        sites = plan_sites(plan, facilities.crs)
        facilities = gpd.GeoDataFrame(pd.concat(
            [facilities[["facility_id", "tier", "geometry"]], sites], ignore_index=True),
            crs=facilities.crs)
    ids = facilities["facility_id"].astype(str).to_numpy()
    xy = facilities.geometry.get_coordinates().to_numpy()
    line = straight_line_costs(xy, xy, speed_kmh=travel.speed_kmh,
                               detour_factor=travel.detour_factor, cutoff_min=math.inf,
                               origin_ids=ids, dest_ids=ids, mode="straight_line")
    if travel.kind == "straight":
        return line
    local = facilities["tier"].to_numpy() != "central"
    pos = np.flatnonzero(local)
    rc, _ = travel.costs(xy[local], xy[local], cutoff_min=math.inf, origin_ids=ids[local],
                         dest_ids=ids[local])
    ok = np.isfinite(rc.time_min)
    far = ~(local[line.origin] & local[line.dest])
    o = np.concatenate([pos[rc.origin[ok]], line.origin[far]])
    d = np.concatenate([pos[rc.dest[ok]], line.dest[far]])
    t = np.concatenate([rc.time_min[ok], line.time_min[far]])
    m = np.concatenate([rc.dist_m[ok], line.dist_m[far]])
    order = np.lexsort((d, o))
    return CostTable(origin=o[order], dest=d[order], dist_m=m[order], time_min=t[order],
                     origin_ids=ids, dest_ids=ids, cutoff_min=math.inf,
                     mode=f"{travel.kind}:{travel.mode} (straight line for central "
                          f"hospitals)")


class DenseCosts:
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


UNREACHABLE_BY_ROAD = "no road joins it to any regional hospital"


def is_general(specialty: object) -> bool:
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
        The facilities layer (:mod:`gis.inputs.layers`), Points in the working CRS.
    plan : gis.inputs.plans.Plan, optional
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


def plan_sites(plan: Any, crs: Any) -> gpd.GeoDataFrame:
    """New sites of a plan as a small facilities layer (for :func:`facility_costs`)."""
    if plan is None:
        new = pd.DataFrame(columns=["facility_id", "x", "y"])
    else:
        new = plan.actions[plan.actions["action"] == "new"]
    return gpd.GeoDataFrame({"facility_id": new["facility_id"].astype(str).to_numpy(),
                             "tier": "station"},
                            geometry=shapely.points(new["x"].to_numpy(float),
                                                    new["y"].to_numpy(float)), crs=crs)


def _nearest(dense: DenseCosts, p: int, cands: np.ndarray) -> tuple[int, float]:
    """Position (into ``cands``) and time of the nearest candidate; (-1, inf) when none."""
    if len(cands) == 0:
        return -1, math.inf
    t = dense.time[p, cands]
    j = int(np.argmin(t))
    return (j, float(t[j])) if np.isfinite(t[j]) else (-1, math.inf)


def _assign_parents(nodes: pd.DataFrame, dense: DenseCosts, *, cutoff_min: float,
                    referrals: pd.DataFrame | None, cores_of: Mapping[str, list[str]],
                    refer_beyond_cutoff: bool = False
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
    general = np.flatnonzero((tier == "provincial") & nodes["specialty"].map(is_general)
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
                reasons[fid] = (UNREACHABLE_BY_ROAD if str(dense.mode).startswith("road")
                                else "no regional hospital reachable by the travel model")
            elif t > cutoff_min and refer_beyond_cutoff:
                parents[fid] = (ids[regional[j]], f"nearest regional hospital (beyond the "
                                                  f"cut-off of {cutoff_min:g} min)")
                warnings.append(f"station {fid}: the nearest regional hospital "
                                f"{ids[regional[j]]} is {t:.0f} min away, beyond the cut-off of "
                                f"{cutoff_min:g} min; it refers there all the same")
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
                strict: bool = True, name: str = "referral network",
                refer_beyond_cutoff: bool = False) -> nx.DiGraph:
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
        validation problem), unless ``refer_beyond_cutoff``.
    referrals : DataFrame, optional
        ``from_id``, ``to_id`` (:func:`check_referral_table`): parents overriding the rule.
    satellite_links : DataFrame, optional
        ``core_id``, ``satellite_id``, ``specialty``, ``since`` (:func:`check_satellite_links`).
    plan : gis.inputs.plans.Plan, optional
        Build the network after the plan (closed stations out, branch points under their main
        station, new sites in).
    include, exclude : ids
        What-if: treat these facilities as active / leave them out.
    strict : bool
        Raise :class:`NetworkError` listing every problem (unknown ids in the tables, referral
        cycles, a facility with two parents, a station without a regional hospital in its
        chain); otherwise keep them in ``G.graph["problems"]``.
    refer_beyond_cutoff : bool
        A station with no regional hospital within the cut-off (a far island) refers to the
        nearest one all the same, with a warning, instead of being a problem.

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
    dense = DenseCosts(facility_costs)
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
                                             referrals=referrals, cores_of=cores_of,
                                             refer_beyond_cutoff=refer_beyond_cutoff)
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


def parent_map(G: nx.DiGraph) -> dict[str, str]:
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
    parent = parent_map(G)
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
    by_road = [m for m in missing if UNREACHABLE_BY_ROAD in m]
    other = [m for m in missing if UNREACHABLE_BY_ROAD not in m]
    for group, fix in ((other, "; add the hospital that serves them, raise travel.cutoff_min, "
                               "or give their parent in the referral table (layers.referrals)"),
                       (by_road, "; the roads layer does not join them to any regional "
                                 "hospital: connect its lines (they must share end points "
                                 "where roads meet), or give their parent in the referral "
                                 "table (layers.referrals)")):
        if not group:
            continue
        if len(group) <= V.MAX_LISTED:
            problems += [m + fix for m in group]
        else:
            problems.append(f"{len(group)} facilities lack their next tier: "
                            f"{'; '.join(group[:V.MAX_LISTED])}; and "
                            f"{len(group) - V.MAX_LISTED} more{fix}")
    return problems


def offering(G: nx.DiGraph, specialty: str) -> list[str]:
    """Nodes offering ``specialty``: in their ``specialty`` field, or as the core or the
    satellite of a link for it."""
    s = specialty.strip().lower()
    out = {n for n, d in G.nodes(data=True) if s in specialties(d.get("specialty"))}
    for u, v, d in G.edges(data=True):
        if d.get("kind") == SATELLITE and s in specialties(d.get("specialty")):
            out |= {u, v}
    return sorted(out)


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
