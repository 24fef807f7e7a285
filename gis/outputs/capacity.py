"""Outputs of the capacity stage: the styles of its layers in the QGIS project, the capacity
map (``capacity.html``) and the report's section on capacity and scaling up.

Every user-facing text is a message of the gettext catalogs (:mod:`gis.outputs.i18n`): written
in English, marked ``N_()`` where it is defined before a language is known and ``L._()``
where it is shown, in the language of ``lang`` ("vi" or "en"). The texts the analyses write
into the data (a capacity's source, a tier skipped, the method note) are translated by
:meth:`gis.outputs.i18n.Lang.text`; names (facilities, communes, sites, classes) are data,
marked ``translate="no"``. Numbers follow the language (1.623.061 in Vietnamese).

Layers (see :func:`gis.analyses.capacity.run_capacity`): ``capacity_cells`` (per tier, each
cell served / partly served / not served for lack of capacity / beyond the time limit, by the
optimum), ``capacity_facilities``, ``catchments_<tier>_capacity`` and ``_time``,
``scale_up_sites``, ``scale_up_candidates``. Everything built on an estimated capacity is
labelled an estimate (the map's notes and popups, the report's tags).
"""

from __future__ import annotations

import html
import logging
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from gis.analyses.capacity import STATUSES
from gis.outputs import files, maps, qgis
from gis.outputs.i18n import N_, Lang, get_lang
from gis.outputs.report import Section, svg_xy_chart

log = logging.getLogger(__name__)

__all__ = ["GROUP", "capacity_map", "qgis_styles", "report_sections", "write_capacity_map"]

GROUP = "Capacity"
TIERS = ("station", "regional", "provincial", "central")
TIER_NAMES = {"station": N_("commune health stations"), "regional": N_("regional hospitals"),
              "provincial": N_("provincial hospitals"), "central": N_("central hospitals")}
STATUS_LABELS = dict(zip(STATUSES, (N_("served"), N_("partly served"),
                                    N_("not served: no capacity left"),
                                    N_("beyond the time limit")), strict=True))
STATUS_COLORS = dict(zip(STATUSES, ("#1a9850", "#fee08b", "#d73027", "#6a51a3"), strict=True))
METHOD_LABELS = {"optimum (MILP)": N_("exact choice (MILP)"),
                 "AccessMod greedy": N_("AccessMod's greedy")}
METHOD_COLORS = {"optimum (MILP)": "#238b45", "AccessMod greedy": "#e6550d"}
_UNIT = {"doctors": N_("doctor"), "beds": N_("bed")}


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _d(value: object) -> str:
    """Data (a name, an id) in HTML: escaped and marked not to translate."""
    return f'<span translate="no">{_e(value)}</span>'


def _missing(v: object) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v))


def _g(L: Lang, value: object) -> str:
    """A number as given (30, 1.5, 222.2: at most 3 decimals, none when whole), with the
    language's separators; "unknown" for a missing value."""
    if _missing(value):
        return L._("unknown")
    v = float(value)  # type: ignore[arg-type]
    digits = next((d for d in range(4) if abs(round(v, d) - v) < 1e-9), 3)
    return L.num(v, digits)


def _html(L: Lang, message: str, data: Mapping[str, str], **fields: Any) -> str:
    """The translation of ``message`` as escaped HTML, its ``data`` fields (HTML already: a
    name marked as data, a translated data text) put in as they are."""
    marks = {k: f"\x00{k}\x00" for k in data}
    text = _e(L._(message, **fields, **marks))
    for k, v in data.items():
        text = text.replace(marks[k], v)
    return text


def _est(L: Lang, *, html_class: str) -> str:
    """The tag of a figure built on an estimate."""
    return f' <span class="{html_class}">{_e(L._("estimate"))}</span>'


def _tier_name(L: Lang, tier: object) -> str:
    return L._(TIER_NAMES[tier]) if tier in TIER_NAMES else L.text(tier)


def _first_up(text: str) -> str:
    return text[:1].upper() + text[1:]


def _tiers(layer: pd.DataFrame) -> list[str]:
    return [t for t in TIERS if f"{t}_status" in layer]


def _facility_count(L: Lang, tier: str, n: int) -> str:
    if tier == "station":
        return L.ngettext("{n} station", "{n} stations", n)
    return L.ngettext("{n} hospital", "{n} hospitals", n)


# --- QGIS -----------------------------------------------------------------------------------

def qgis_styles(name: str, gdf: gpd.GeoDataFrame, lang: str = "en"
                ) -> list[qgis.LayerSpec] | None:
    """The QGIS project's layers for a capacity layer (group "Capacity"), None for others
    (the ``styles`` hook of :func:`gis.outputs.qgis.write_qgis_project`), titles and legend
    entries in ``lang``. Only the new facilities of the scaling up show at first; the others
    are a click away."""
    L = get_lang(lang)
    cols = set(gdf.columns)
    if name == "capacity_cells":
        specs = []
        for t in _tiers(gdf):
            cats = [(s, L._(STATUS_LABELS[s]),
                     qgis.fill(STATUS_COLORS[s], STATUS_COLORS[s], outline_width=0.0,
                               alpha=0.7, outline_style="no")) for s in STATUSES]
            specs.append(qgis.LayerSpec(
                name, L._("Capacity, {tier}: served, not served, beyond the time limit",
                          tier=_tier_name(L, t)), GROUP,
                qgis.categorized_renderer(f"{t}_status", cats), visible=False))
        if "scale_up_new_served" in cols:
            top = float(pd.to_numeric(gdf["scale_up_new_served"]).max() or 0.0)
            cuts = [0.0, 1e-9, top / 4, top / 2, top + 1.0]
            colors = ["#ffffff", "#c7e9c0", "#74c476", "#238b45"]
            labels = [L._("nobody new"), L._("a few"), L._("more"), L._("most")]
            ranges = [(lo, hi, label, qgis.fill(c, c, outline_width=0.0, alpha=0.0 if k == 0
                                                else 0.75, outline_style="no"))
                      for k, (lo, hi, c, label) in enumerate(zip(
                          cuts[:-1], cuts[1:], colors, labels, strict=True))]
            specs.append(qgis.LayerSpec(
                name, L._("Scaling up: people newly served per cell"), GROUP,
                qgis.graduated_renderer("scale_up_new_served", ranges), visible=False))
        return specs
    if name == "capacity_facilities":
        v = pd.to_numeric(gdf.get("capacity"), errors="coerce")
        top = float(v.max()) if v.notna().any() else 1.0
        cuts = [0.0, top / 16, top / 4, top / 2, top + 1.0]
        ranges = [(lo, hi, f"{L.people(lo)} – {L.people(min(hi, top))}",
                   qgis.marker("#41ab5d", 2.0 + 1.6 * k, "circle", outline="#00441b"))
                  for k, (lo, hi) in enumerate(zip(cuts[:-1], cuts[1:], strict=True))]
        return [qgis.LayerSpec(name, L._("Capacity per facility (people it can serve)"), GROUP,
                               qgis.graduated_renderer("capacity", ranges,
                                                       method="GraduatedSize"),
                               qgis.labeling("name", size_pt=7) if "name" in cols else None,
                               visible=False)]
    if name.startswith("catchments_") and name.rsplit("_", 1)[-1] in ("capacity", "time"):
        tier, by = name.removeprefix("catchments_").rsplit("_", 1)
        title = (L._("Catchments by capacity, {tier} (the people each one serves)",
                     tier=_tier_name(L, tier))
                 if by == "capacity" else
                 L._("Catchments by time, {tier} (cells within each one's catchment time)",
                     tier=_tier_name(L, tier)))
        sym = qgis.fill("#9ecae1", "#08519c", alpha=0.25, outline_width=0.4,
                        outline_style="solid" if by == "capacity" else "dash")
        return [qgis.LayerSpec(name, title, GROUP, qgis.single_renderer(sym), visible=False,
                               opacity=0.8)]
    if name == "scale_up_sites":
        cats = [(m, L._(METHOD_LABELS[m]),
                 qgis.marker(c, 4.0 if m.startswith("optimum") else 3.0,
                             "star" if m.startswith("optimum") else "cross2"))
                for m, c in METHOD_COLORS.items()]
        return [qgis.LayerSpec(name, L._("Scaling up: new facilities"), GROUP,
                               qgis.categorized_renderer("method", cats),
                               qgis.labeling("name", size_pt=7) if "name" in cols else None)]
    if name == "scale_up_candidates":
        return [qgis.LayerSpec(name, L._("Scaling up: candidate sites"), GROUP,
                               qgis.single_renderer(qgis.marker("#969696", 1.0)),
                               visible=False)]
    return None


# --- the map --------------------------------------------------------------------------------

def _dissolve_status(cells: gpd.GeoDataFrame, tier: str) -> gpd.GeoDataFrame:
    """One polygon per status of the tier, with the people served, not served and beyond.
    Over more than :data:`gis.outputs.maps.MAX_UNION_UNITS` cells, drawn on the demand grid
    (:func:`gis.outputs.maps.grid_view`: each grid cell whole, in the status of its largest
    piece; ``attrs["drawn_on_grid_m"]`` the cell side); the figures are the cells' own."""
    rows = []
    status = cells[f"{tier}_status"].to_numpy()
    grid = None
    if len(cells) > maps.MAX_UNION_UNITS:
        code = pd.Categorical(status, categories=list(STATUSES)).codes
        grid = maps.grid_view(cells, np.where(code >= 0, code, 255).astype(np.uint8))
    for k, s in enumerate(STATUSES):
        mask = status == s
        if not mask.any():
            continue
        if grid is not None:
            if k not in grid[0]:  # every piece of it drawn in its cell's larger status
                continue
            geom = grid[0][k]
        else:
            geoms = cells.geometry.to_numpy()[mask]
            try:
                geom = shapely.coverage_union_all(geoms)
            except Exception:  # noqa: BLE001 - overlapping pieces: the general union
                geom = shapely.union_all(geoms)
        rows.append({"status": s, "cells": int(mask.sum()),
                     "population": float(cells["population"].to_numpy()[mask].sum()),
                     "served": float(cells[f"{tier}_served"].to_numpy()[mask].sum()),
                     "not_served": float(cells[f"{tier}_not_served"].to_numpy()[mask].sum()),
                     "beyond": float(cells[f"{tier}_beyond"].to_numpy()[mask].sum()),
                     "geometry": geom})
    out = gpd.GeoDataFrame(rows, geometry="geometry", crs=cells.crs)
    if grid is not None:
        out.attrs["drawn_on_grid_m"] = grid[1]
    return out


def _merged_note(L: Lang, merged: Mapping[str, Any]) -> str:
    """The scaling up's demand merged into coarser squares, in words."""
    return L._("Scaling up on the demand merged into {size} m squares at this resolution "
               "({units} demand units in {merged} squares, each at the unit nearest to the "
               "centre of its people left unserved): its figures are approximate",
               size=L.num(merged.get("cell_m"), 0), units=L.num(merged.get("units")),
               merged=L.num(merged.get("merged_units")))


def _key_note(text: str) -> str:
    """A line of text in a legend section (escaped)."""
    return f'<div class="gis-key">{_e(text)}</div>'


def _facility_rows(L: Lang, row: Mapping[str, Any]) -> list[tuple[str, str]]:
    est = _est(L, html_class="gis-est") if bool(row.get("capacity_is_estimate")) else ""
    return [(L._("Name"), _d(row.get("name", ""))),
            (L._("Capacity (people)"), _e(L.people(row.get("capacity"))) + est),
            (L._("How"), L.text(row.get("capacity_source", ""), html=True)),
            (L._("People within the time limit"),
             _e(L.people(row.get("population_within_max_time")))),
            (L._("Served, optimum"), _e(L.people(row.get("optimum_served"))) + est),
            (L._("Served, AccessMod's greedy"), _e(L.people(row.get("greedy_served"))) + est),
            (L._("Greedy: processed"), _e(L.num(row.get("greedy_order")))),
            (L._("Catchment time, optimum (min)"),
             _e(L.num(row.get("optimum_catchment_time_min"), 1)))]


def capacity_map(layers: Mapping[str, gpd.GeoDataFrame], summary: Mapping[str, Any], *,
                 title: str, sources: Sequence[str] = (), estimate_notes: Sequence[str] = (),
                 offline: bool = False, simplify_m: float = 50.0, lang: str = "en"):
    """The capacity map: per tier, who is served, not served for lack of capacity and beyond
    the time limit (the optimum), each facility's catchment by capacity and its figures, and
    the new facilities of the scaling up (the exact choice and AccessMod's greedy).

    Parameters
    ----------
    layers : mapping
        The run's layers (``capacity_cells``, ``capacity_facilities``,
        ``catchments_<tier>_capacity``, ``scale_up_sites``), working CRS.
    summary : mapping
        The run summary (its ``capacity`` and ``scale_up`` sections).
    title, sources, estimate_notes, offline, simplify_m
        As in :func:`gis.outputs.maps.overview_map` (``title`` in the map's language).
    lang : {"en", "vi"}
        Language of the map's texts.

    Returns
    -------
    folium.Map
    """
    b = maps.MapBuilder(title, sources=sources, estimate_notes=estimate_notes, offline=offline,
                        tiles="auto", simplify_m=simplify_m, lang=lang)
    L = b.L
    cap = summary.get("capacity") or {}
    tiers_info = cap.get("tiers") or {}
    cells = layers.get("capacity_cells")
    fac = layers.get("capacity_facilities")
    first = True
    for t in _tiers(cells) if cells is not None else []:
        info = tiers_info.get(t, {})
        est = bool(info.get("capacity_is_estimate"))
        tag = _est(L, html_class="gis-est") if est else ""
        tier = L._(TIER_NAMES[t])
        if est:
            b.note_estimate(L._("Capacity of the {tier}: estimate ({n} facilities with an "
                                "estimated figure)", tier=tier,
                                n=L.num(info.get("capacity_estimated_facilities", 0))),
                            info.get("norm_source") or None)
        limit = info.get("max_time_min")
        ds = _dissolve_status(cells, t)
        grid_m = ds.attrs.get("drawn_on_grid_m")
        d = b.display(ds, f"capacity {t}")
        feats = []
        for row, geom in zip(d.to_dict("records"), d.geometry, strict=True):
            status = L._(STATUS_LABELS[row["status"]])
            rows = [(L._("Status"), _e(status)),
                    (L._("People"), _e(L.people(row["population"]))),
                    (L._("Served"), _e(L.people(row["served"])) + tag),
                    (L._("Not served: no capacity left"), _e(L.people(row["not_served"])) + tag),
                    (L._("Beyond {limit} min", limit=_g(L, limit)),
                     _e(L.people(row["beyond"]))),
                    (L._("Demand cells"), _e(L.num(row["cells"])))]
            color = STATUS_COLORS[row["status"]]
            feats.append(maps.feature(geom, {
                "s": {"color": color, "weight": 0.4, "fillColor": color, "fillOpacity": 0.55},
                "p": maps.popup_table(rows),
                "t": _e(L._("{tier}: {status}", tier=tier, status=status))}))
        layer_name = L._("{tier}: served, not served, beyond {limit} min",
                         tier=_first_up(tier), limit=_g(L, limit))
        people = float(d["population"].sum()) if len(d) else 0.0
        layer = b.add(feats, layer_name,
                      L.ngettext("{n} area", "{n} areas", len(feats)) + ", "
                      + L.ngettext("{n} person", "{n} people", round(people)), show=first)
        note = [_key_note(L._(
            "Drawn on the {size} m grid of demand cells: each grid cell whole, in the status "
            "of its largest piece ({cells} demand cells); people and counts are the cells' "
            "own", size=L.num(grid_m, 0), cells=L.num(len(cells), 0)))] if grid_m else []
        b.legend_section(L._("Capacity, {tier} (the optimum)", tier=tier),
                         [maps.swatch(STATUS_COLORS[s], L._(STATUS_LABELS[s]), opacity=0.6)
                          for s in STATUSES] + note, layers=[layer])
        catch = layers.get(f"catchments_{t}_capacity")
        if catch is not None and len(catch):
            dc = b.display(catch, f"catchments {t}")
            info_f = (fac.set_index("facility_id") if fac is not None
                      else pd.DataFrame())
            cfeats = []
            for row, geom in zip(dc.to_dict("records"), dc.geometry, strict=True):
                frow = (info_f.loc[row["facility_id"]].to_dict()
                        if row["facility_id"] in info_f.index else row)
                frow = {**frow, "name": row.get("name", frow.get("name", ""))}
                cfeats.append(maps.feature(geom, {
                    "s": {"color": "#08519c", "weight": 1.2, "fillColor": "#9ecae1",
                          "fillOpacity": 0.15},
                    "p": maps.popup_table(_facility_rows(L, frow)),
                    "t": _html(L, N_("{name}: serves {people} people"),
                               {"name": _d(row.get("name", ""))},
                               people=L.people(row.get("served_population")))}))
            clayer = b.add(cfeats, L._("{tier}: catchments by capacity", tier=_first_up(tier)),
                           L.ngettext("{n} catchment", "{n} catchments", len(cfeats)),
                           show=False)
            on_grid = (cap.get("catchments_drawn_on_grid") or {}).get("cell_m")
            note = [_key_note(L._(
                "Drawn on the {size} m grid of demand cells: each grid cell whole when any of "
                "its pieces is in the catchment ({cells} demand cells); people and counts are "
                "the cells' own", size=L.num(on_grid, 0), cells=L.num(len(cells), 0)))] \
                if on_grid else []
            b.legend_section(L._("Catchments"), [maps.swatch(
                "#9ecae1", L._("the cells a facility serves (the optimum)"), opacity=0.5)]
                + note, layers=[clayer])
        if fac is not None and len(fac):
            ft = b.display(fac[fac["tier"] == t], f"facilities {t}")
            pfeats = [maps.feature(geom.centroid if geom.geom_type != "Point" else geom, {
                "i": t, "p": maps.popup_table(_facility_rows(L, row)),
                "t": _d(row.get("name", ""))})
                for row, geom in zip(ft.to_dict("records"), ft.geometry, strict=True)]
            b.add(pfeats, L._("{tier} and their capacity", tier=_first_up(tier)),
                  _facility_count(L, t, len(pfeats)), show=first)
        first = False
    sites = layers.get("scale_up_sites")
    up = summary.get("scale_up") or {}
    if sites is not None and len(sites):
        ds = b.display(sites, "scale-up sites")
        items, added = [], []
        for method, color in METHOD_COLORS.items():
            part = ds[ds["method"] == method]
            if part.empty:
                continue
            feats = []
            for row, geom in zip(part.to_dict("records"), part.geometry, strict=True):
                rows = [(L._("Site"), _d(row.get("name", ""))),
                        (L._("Commune"), _d(row.get("commune_name", ""))),
                        (L._("Class"), L.text(row.get("class_name", ""), html=True)),
                        (L._("Capacity (people)"), _e(L.people(row.get("capacity")))),
                        (L._("People it serves"), _e(L.people(row.get("served_population"))))]
                if not _missing(row.get("step")):
                    rows.append((L._("Added at step"), _e(L.num(row.get("step")))))
                exact = method.startswith("optimum")
                # the exact choice as a ring, the greedy's as a dot: both show on one site
                style = ({"radius": 10, "color": color, "weight": 4, "fillOpacity": 0.0}
                         if exact else {"radius": 5, "color": "#222", "weight": 1,
                                        "fillColor": color, "fillOpacity": 0.95})
                feats.append(maps.feature(geom, {
                    "c": style,
                    "p": maps.popup_table(rows),
                    "t": _html(L, N_("New facility: {name}"), {"name": _d(row.get("name", ""))})}))
            added.append(b.add(feats, L._("{method}: new facilities",
                                          method=_first_up(L._(METHOD_LABELS[method]))),
                               L.ngettext("{n} site", "{n} sites", len(feats)), show=True))
            items.append(maps.swatch(color, L._(METHOD_LABELS[method]), opacity=0.9))
        if up.get("demand_merged"):
            items.append(_key_note(_merged_note(L, up["demand_merged"])))
        b.legend_section(L._("Scaling up: {n} new facilities, {tier}",
                             n=L.num(len(up.get("sites") or [])),
                             tier=_tier_name(L, up.get("tier", ""))), items, layers=added)
    return b.finish()


def write_capacity_map(folder: str | Path, layers: Mapping[str, gpd.GeoDataFrame],
                       summary: Mapping[str, Any], *, province: str = "",
                       sources: Sequence[str] = (), estimate_notes: Sequence[str] = (),
                       offline: bool = True, overwrite: bool = False, lang: str = "en"
                       ) -> Path | None:
    """Write ``capacity.html`` in ``lang`` when the run has capacity layers (else None)."""
    cells = layers.get("capacity_cells")
    if cells is None or not _tiers(cells):
        return None
    L = get_lang(lang)
    where = f" — {province}" if province else ""
    m = capacity_map(layers, summary,
                     title=L._("Capacity: who is served, who is not, where to add") + where,
                     sources=sources, estimate_notes=estimate_notes, offline=offline, lang=lang)
    path = Path(folder) / "capacity.html"
    files.check_writable([path], overwrite=overwrite)
    return maps.write_map(m, path, overwrite=overwrite)


# --- the report -----------------------------------------------------------------------------

def _table(head: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A table of already escaped cells (numbers right-aligned by the report's style)."""
    h = "".join(f"<th>{_e(x)}</th>" for x in head)
    body = "".join("<tr>" + "".join(f'<td class="{"txt" if i == 0 else "num"}">{c}</td>'
                                    for i, c in enumerate(r)) + "</tr>" for r in rows)
    return f'<table class="rec"><thead><tr>{h}</tr></thead><tbody>{body}</tbody></table>'


def _tier_html(L: Lang, info: Mapping[str, Any]) -> str:
    t = info.get("tier", "")
    name = _tier_name(L, t)
    est = bool(info.get("capacity_is_estimate"))
    tag = _est(L, html_class="est") if est else ""
    left = info.get("left_out") or {}
    basis = info.get("basis", "")
    limit = L._("{value} min", value=_g(L, info.get("max_time_min")))
    head = f"<h3>{_e(_first_up(name))}, {_e(limit)}</h3>"
    source = {"source": L.text(info.get("norm_source", ""), html=True)}
    per_unit = L.num(info.get("people_per_unit"), 1)
    if basis in _UNIT:
        norm = _html(L, N_("Capacity = {basis} x {norm} people per {unit} ({source})."), source,
                     basis=L._(basis), norm=per_unit, unit=L._(_UNIT[basis]))
    else:
        norm = _html(L, N_("Capacity = {norm} people per facility ({source})."), source,
                     norm=per_unit)
    text = f"<p>{norm}"
    text += " " + _e(L._("{a} of {n} facilities analysed, total capacity {cap} people.",
                         a=L.num(info.get("analysed", 0)), n=L.num(info.get("facilities", 0)),
                         cap=L.people(info.get("capacity_total")))) + tag
    if left.get("count"):
        reason = L._("{what} unknown", what=L._(basis)) if basis in _UNIT else \
            L.text(left.get("reason", ""))
        text += " " + _html(L, N_("{k} left out: {reason} ({ids})."),
                            {"ids": ", ".join(_d(i) for i in left.get("ids", []))},
                            k=L.num(left["count"]), reason=reason)
    text += "</p>"
    if info.get("skipped"):
        return head + text + f'<p class="unknown">{L.text(info["skipped"], html=True)}</p>'
    g, o, diff = info.get("accessmod", {}), info.get("optimum", {}), info.get("difference", {})
    rows = []
    for label, r in ((L._("AccessMod's greedy (largest first)"), g),
                     (L._("Optimum (any order)"), o)):
        rows.append([_e(label), _e(L.people(r.get("served_population"))) + tag,
                     _e(L.pct(r.get("served_share"))),
                     _e(L.people(r.get("not_served_capacity"))) + tag,
                     _e(L.people(r.get("beyond_time"))),
                     _e(L.num(r.get("person_minutes"))) + tag])
    rows.append([_e(L._("Optimum minus greedy")), _e(L.people(diff.get("served_population"))),
                 _e(L.pct(diff.get("served_share"))), "", "",
                 _e(L.num(diff.get("person_minutes")))])
    table = _table([L._("method"), L._("served"), L._("share"),
                    L._("not served: no capacity left"), L._("beyond the time limit"),
                    L._("person-minutes")], rows)
    near = info.get("beyond_time_near_left_out") or 0.0
    extra = ""
    if near > 0:
        extra += "<p>" + _e(L._("{n} of the people beyond the time limit are within it of a "
                                "facility left out (its capacity unknown).",
                                n=L.people(near))) + "</p>"
    worst = info.get("communes_most_not_served") or []
    if worst:
        extra += "<h4>" + _e(L._("Communes with the most people not served (the optimum)")) \
            + "</h4>"
        extra += _table([L._("commune"), L._("people"), L._("served"),
                         L._("not served: no capacity left"), L._("beyond the time limit")],
                        [[_d(w.get("commune_name") or w.get("commune_code", "")),
                          _e(L.people(w.get("population"))),
                          _e(L.people(w.get("served"))) + tag,
                          _e(L.people(w.get("not_served"))) + tag,
                          _e(L.people(w.get("beyond")))]
                         for w in worst[:10]])
    return head + text + table + extra


def _scale_html(L: Lang, up: Mapping[str, Any]) -> str:
    if up.get("skipped"):
        return f'<p class="unknown">{L.text(up["skipped"], html=True)}</p>'
    cand = up.get("candidates") or {}
    n_sites = L.num(cand.get("sites", 0))
    kind = cand.get("kind")
    if kind == "grid":
        kind_text = L._("a {grid} km grid of the province's populated land ({n} sites; "
                        "squares without people and sites outside the province excluded)",
                        grid=_g(L, (cand.get("grid_m") or 0) / 1000), n=n_sites)
    elif kind == "stations":
        kind_text = L._("the sites of the commune stations ({n})", n=n_sites)
    elif kind == "list":
        kind_text = L._("the listed sites ({n} inside the province)", n=n_sites)
    else:
        kind_text = L.ngettext("{n} site", "{n} sites", cand.get("sites", 0))
    classes = "; ".join(
        _html(L, N_("{name}: {cap} people for {cost}"), {"name": L.text(c.get("name"), html=True)},
              cap=L.people(c.get("capacity")), cost=_g(L, c.get("cost", 0)))
        for c in up.get("classes") or [])
    tier = _tier_name(L, up.get("tier", ""))
    if up.get("question") == "budget":
        question = L._("The most people served by new {tier} within a budget of {budget}.",
                       tier=tier, budget=_g(L, up.get("budget", 0)))
    else:
        question = L._("The cheapest new {tier} to serve {share} of the people.", tier=tier,
                       share=L.pct(up.get("target_share")))
    out = "<p>" + _e(question) + " " + _html(
        L, N_("Candidates: {kind}. Classes: {classes}. Time limit {limit} min."),
        {"classes": classes}, kind=kind_text, limit=_g(L, up.get("max_time_min"))) + "</p>"
    out += "<p>" + _e(L._(
        "Served today (the optimum): {before} of {total}; with the new facilities: {after} "
        "({share}), {new} more, for {cost}. Proven gap {gap} ({status}); AccessMod's greedy "
        "serves {greedy}.",
        before=L.people(up.get("existing_served")), total=L.people(up.get("total_population")),
        after=L.people(up.get("served_population")), share=L.pct(up.get("served_share")),
        new=L.people(up.get("new_served_population")), cost=_g(L, up.get("cost", 0)),
        gap=L.pct(up.get("gap")), status=L.text(up.get("status", "")),
        greedy=L.people((up.get("greedy") or {}).get("served_population")))) + "</p>"
    if up.get("demand_merged"):
        out += '<p class="note">' + _e(_merged_note(L, up["demand_merged"])) + "</p>"
    sites = up.get("sites") or []
    if sites:
        out += "<h4>" + _e(L._("New facilities: the exact choice")) + "</h4>"
        out += _table([L._("site"), L._("commune"), L._("class"), L._("people it serves")],
                      [[_d(s.get("name", "")), _d(s.get("commune_name", "")),
                        L.text(s.get("class_name", ""), html=True),
                        _e(L.people(s.get("served_population")))]
                       for s in sites])
    greedy = (up.get("greedy") or {}).get("sites") or []
    if greedy:
        out += "<h4>" + _e(L._("AccessMod's greedy, in the order it adds them")) + "</h4>"
        out += _table([L._("site"), L._("commune"), L._("class"), L._("people it serves"),
                       L._("served in all")],
                      [[_e(f"{L.num(s.get('step'))}. ") + _d(s.get("name", "")),
                        _d(s.get("commune_name", "")),
                        L.text(s.get("class_name", ""), html=True),
                        _e(L.people(s.get("served_population"))),
                        _e(L.people(s.get("cumulative_served")))]
                       for s in greedy])
    curve = up.get("curve") or []
    if curve:
        total = up.get("total_population") or 1.0
        x_key = "facilities" if all(float(c.get("budget", 0)) == c.get("facilities")
                                    for c in curve) else "budget"
        x0 = 0.0
        base = float(up.get("existing_served") or 0.0) / total
        exact = [(x0, base, "")] + [(float(c[x_key]), c["served_population"] / total,
                                     L.people(c["served_population"])) for c in curve]
        greedy_pts = [(x0, base, "")] + [(float(c[x_key] if x_key == "budget"
                                                else c["greedy_facilities"]),
                                          c["greedy_served_population"] / total, "")
                                         for c in curve]
        out += svg_xy_chart(
            {L._("exact choice (MILP)"): exact, L._("AccessMod's greedy"): greedy_pts},
            title=L._("People served against new facilities"),
            x_label=L._("new facilities") if x_key == "facilities" else L._("money spent"),
            y_label=L._("share of the people served"), y_percent=True, lang=L.code)
        out += _table([L._("budget"), L._("facilities"), L._("served"), L._("gap"),
                       L._("greedy: served")],
                      [[_e(_g(L, c.get("budget"))), _e(L.num(c.get("facilities"))),
                        _e(L.people(c.get("served_population"))), _e(L.pct(c.get("gap"))),
                        _e(L.people(c.get("greedy_served_population")))] for c in curve])
    return out


def report_sections(summary: Mapping[str, Any], *, lang: str = "en") -> list[Section]:
    """The report's "Capacity and scaling up" section in ``lang`` (none when the stage did not
    run)."""
    cap = summary.get("capacity")
    up = summary.get("scale_up")
    if not cap and not up:
        return []
    L = get_lang(lang)
    content = ""
    if isinstance(cap, Mapping) and cap.get("skipped"):
        content += f'<p class="unknown">{L.text(cap["skipped"], html=True)}</p>'
    elif cap:
        content += "<p>" + L.text(cap.get("method", ""), html=True) + "</p>"
        for info in (cap.get("tiers") or {}).values():
            content += _tier_html(L, info)
    if up:
        content += "<h3>" + _e(L._("Scaling up")) + "</h3>" + _scale_html(L, up)
    return [("capacity", L._("Capacity and scaling up"), content, ("capacity", "scale_up"))]
