"""Outputs of the capacity stage: the styles of its layers in the QGIS project, the capacity
map (``capacity.html``) and the report's section on capacity and scaling up.

Every user-facing text of these outputs is in this module, written in English and wrapped in
``_()`` (a marker for the gettext catalogs: :func:`_` returns its text unchanged until the
module is switched to the catalogs' translator), with ``{named}`` fields filled by
``str.format`` after translation, so each text is one catalog entry.

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
import pandas as pd
import shapely

from gis.analyses.capacity import STATUSES
from gis.outputs import files, maps, qgis
from gis.outputs.report import Section, svg_xy_chart

log = logging.getLogger(__name__)

__all__ = ["GROUP", "capacity_map", "qgis_styles", "report_sections", "write_capacity_map"]


def _(text: str) -> str:
    """Mark a user-facing text for the gettext catalogs (returned unchanged: English)."""
    return text


GROUP = "Capacity"
TIERS = ("station", "regional", "provincial", "central")
TIER_NAMES = {"station": _("commune health stations"), "regional": _("regional hospitals"),
              "provincial": _("provincial hospitals"), "central": _("central hospitals")}
STATUS_LABELS = dict(zip(STATUSES, (_("served"), _("partly served"),
                                    _("not served: no capacity left"),
                                    _("beyond the time limit")), strict=True))
STATUS_COLORS = dict(zip(STATUSES, ("#1a9850", "#fee08b", "#d73027", "#6a51a3"), strict=True))
METHOD_LABELS = {"optimum (MILP)": _("exact choice (MILP)"),
                 "AccessMod greedy": _("AccessMod's greedy")}
METHOD_COLORS = {"optimum (MILP)": "#238b45", "AccessMod greedy": "#e6550d"}
EST = ' <span class="est">' + _("estimate") + "</span>"
MAP_EST = ' <span class="gis-est">' + _("estimate") + "</span>"


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _missing(v: object) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v))


def _n(value: object, digits: int = 0) -> str:
    """A number with thousands separators; "unknown" for a missing value."""
    if _missing(value):
        return _("unknown")
    return f"{float(value):,.{digits}f}"


def _min(value: object) -> str:
    """Minutes as given (30, 1.5)."""
    return _("unknown") if _missing(value) else f"{float(value):g}"


def _pct(value: object) -> str:
    return _("unknown") if _missing(value) else f"{100 * float(value):.1f} %"


def _first_up(text: str) -> str:
    return text[:1].upper() + text[1:]


def _tiers(layer: pd.DataFrame) -> list[str]:
    return [t for t in TIERS if f"{t}_status" in layer]


# --- QGIS -----------------------------------------------------------------------------------

def qgis_styles(name: str, gdf: gpd.GeoDataFrame, lang: str = "en"
                ) -> list[qgis.LayerSpec] | None:
    """The QGIS project's layers for a capacity layer (group "Capacity"), None for others
    (the ``styles`` hook of :func:`gis.outputs.qgis.write_qgis_project`). Only the new
    facilities of the scaling up show at first; the others are a click away."""
    cols = set(gdf.columns)
    if name == "capacity_cells":
        specs = []
        for t in _tiers(gdf):
            cats = [(s, STATUS_LABELS[s], qgis.fill(STATUS_COLORS[s], STATUS_COLORS[s],
                                                    outline_width=0.0, alpha=0.7,
                                                    outline_style="no")) for s in STATUSES]
            specs.append(qgis.LayerSpec(
                name, _("Capacity, {tier}: served, not served, beyond the time limit").format(
                    tier=TIER_NAMES[t]), GROUP,
                qgis.categorized_renderer(f"{t}_status", cats), visible=False))
        if "scale_up_new_served" in cols:
            top = float(pd.to_numeric(gdf["scale_up_new_served"]).max() or 0.0)
            cuts = [0.0, 1e-9, top / 4, top / 2, top + 1.0]
            colors = ["#ffffff", "#c7e9c0", "#74c476", "#238b45"]
            ranges = [(lo, hi, label, qgis.fill(c, c, outline_width=0.0, alpha=0.0 if k == 0
                                                else 0.75, outline_style="no"))
                      for k, (lo, hi, c, label) in enumerate(zip(
                          cuts[:-1], cuts[1:], colors,
                          [_("nobody new"), _("a few"), _("more"), _("most")], strict=True))]
            specs.append(qgis.LayerSpec(
                name, _("Scaling up: people newly served per cell"), GROUP,
                qgis.graduated_renderer("scale_up_new_served", ranges), visible=False))
        return specs
    if name == "capacity_facilities":
        v = pd.to_numeric(gdf.get("capacity"), errors="coerce")
        top = float(v.max()) if v.notna().any() else 1.0
        cuts = [0.0, top / 16, top / 4, top / 2, top + 1.0]
        ranges = [(lo, hi, f"{lo:,.0f} – {min(hi, top):,.0f}",
                   qgis.marker("#41ab5d", 2.0 + 1.6 * k, "circle", outline="#00441b"))
                  for k, (lo, hi) in enumerate(zip(cuts[:-1], cuts[1:], strict=True))]
        return [qgis.LayerSpec(name, _("Capacity per facility (people it can serve)"), GROUP,
                               qgis.graduated_renderer("capacity", ranges,
                                                       method="GraduatedSize"),
                               qgis.labeling("name", size_pt=7) if "name" in cols else None,
                               visible=False)]
    if name.startswith("catchments_") and name.rsplit("_", 1)[-1] in ("capacity", "time"):
        tier, by = name.removeprefix("catchments_").rsplit("_", 1)
        title = (_("Catchments by capacity, {tier} (the people each one serves)")
                 if by == "capacity" else
                 _("Catchments by time, {tier} (cells within each one's catchment time)"))
        sym = qgis.fill("#9ecae1", "#08519c", alpha=0.25, outline_width=0.4,
                        outline_style="solid" if by == "capacity" else "dash")
        return [qgis.LayerSpec(name, title.format(tier=TIER_NAMES.get(tier, tier)), GROUP,
                               qgis.single_renderer(sym), visible=False, opacity=0.8)]
    if name == "scale_up_sites":
        cats = [(m, METHOD_LABELS[m], qgis.marker(c, 4.0 if m.startswith("optimum") else 3.0,
                                                   "star" if m.startswith("optimum")
                                                   else "cross2"))
                for m, c in METHOD_COLORS.items()]
        return [qgis.LayerSpec(name, _("Scaling up: new facilities"), GROUP,
                               qgis.categorized_renderer("method", cats),
                               qgis.labeling("name", size_pt=7) if "name" in cols else None)]
    if name == "scale_up_candidates":
        return [qgis.LayerSpec(name, _("Scaling up: candidate sites"), GROUP,
                               qgis.single_renderer(qgis.marker("#969696", 1.0)),
                               visible=False)]
    return None


# --- the map --------------------------------------------------------------------------------

def _dissolve_status(cells: gpd.GeoDataFrame, tier: str) -> gpd.GeoDataFrame:
    """One polygon per status of the tier, with the people served, not served and beyond."""
    rows = []
    status = cells[f"{tier}_status"].to_numpy()
    for s in STATUSES:
        mask = status == s
        if not mask.any():
            continue
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
    return gpd.GeoDataFrame(rows, geometry="geometry", crs=cells.crs)


def _facility_rows(row: Mapping[str, Any]) -> list[tuple[str, str]]:
    est = MAP_EST if bool(row.get("capacity_is_estimate")) else ""
    rows = [(_("Name"), _e(row.get("name", ""))),
            (_("Capacity (people)"), _n(row.get("capacity")) + est),
            (_("How"), _e(row.get("capacity_source", ""))),
            (_("People within the time limit"), _n(row.get("population_within_max_time"))),
            (_("Served, optimum"), _n(row.get("optimum_served")) + est),
            (_("Served, AccessMod's greedy"), _n(row.get("greedy_served")) + est),
            (_("Greedy: processed"), _n(row.get("greedy_order"))),
            (_("Catchment time, optimum (min)"), _n(row.get("optimum_catchment_time_min"), 1))]
    return rows


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
        As in :func:`gis.outputs.maps.overview_map`.

    Returns
    -------
    folium.Map
    """
    b = maps.MapBuilder(title, sources=sources, estimate_notes=estimate_notes, offline=offline,
                        tiles="auto", simplify_m=simplify_m, lang=lang)
    cap = summary.get("capacity") or {}
    tiers_info = cap.get("tiers") or {}
    cells = layers.get("capacity_cells")
    fac = layers.get("capacity_facilities")
    first = True
    for t in _tiers(cells) if cells is not None else []:
        info = tiers_info.get(t, {})
        est = bool(info.get("capacity_is_estimate"))
        tag = MAP_EST if est else ""
        if est:
            b.note_estimate(_("Capacity of the {tier}: estimate ({n} facilities with an "
                              "estimated figure; {norm})").format(
                tier=TIER_NAMES[t], n=info.get("capacity_estimated_facilities", 0),
                norm=info.get("norm_source", "")))
        limit = info.get("max_time_min")
        d = b.display(_dissolve_status(cells, t), f"capacity {t}")
        feats = []
        for row, geom in zip(d.to_dict("records"), d.geometry, strict=True):
            rows = [(_("Status"), _e(STATUS_LABELS[row["status"]])),
                    (_("People"), _n(row["population"])),
                    (_("Served"), _n(row["served"]) + tag),
                    (_("Not served: no capacity left"), _n(row["not_served"]) + tag),
                    (_("Beyond {limit} min").format(limit=_min(limit)), _n(row["beyond"])),
                    (_("Demand cells"), _n(row["cells"]))]
            color = STATUS_COLORS[row["status"]]
            feats.append(maps.feature(geom, {
                "s": {"color": color, "weight": 0.4, "fillColor": color, "fillOpacity": 0.55},
                "p": maps.popup_table(rows),
                "t": _e(_("{tier}: {status}").format(tier=TIER_NAMES[t],
                                                     status=STATUS_LABELS[row["status"]]))}))
        layer_name = _("{tier}: served, not served, beyond {limit} min").format(
            tier=_first_up(TIER_NAMES[t]), limit=_min(limit))
        layer = b.add(feats, layer_name, "", show=first)
        b.legend_section(_("Capacity, {tier} (the optimum)").format(tier=TIER_NAMES[t]),
                         [maps.swatch(STATUS_COLORS[s], STATUS_LABELS[s], opacity=0.6)
                          for s in STATUSES], layers=[layer])
        catch = layers.get(f"catchments_{t}_capacity")
        if catch is not None and len(catch):
            dc = b.display(catch, f"catchments {t}")
            info_f = (fac.set_index("facility_id") if fac is not None
                      else pd.DataFrame())
            cfeats = []
            for row, geom in zip(dc.to_dict("records"), dc.geometry, strict=True):
                frow = (info_f.loc[row["facility_id"]].to_dict()
                        if row["facility_id"] in info_f.index else row)
                cfeats.append(maps.feature(geom, {
                    "s": {"color": "#08519c", "weight": 1.2, "fillColor": "#9ecae1",
                          "fillOpacity": 0.15},
                    "p": maps.popup_table(_facility_rows(frow)),
                    "t": _e(_("{name}: serves {people} people").format(
                        name=row.get("name", ""), people=_n(row.get("served_population"))))}))
            clayer = b.add(cfeats, _("{tier}: catchments by capacity").format(
                tier=_first_up(TIER_NAMES[t])), "", show=False)
            b.legend_section(_("Catchments"), [maps.swatch(
                "#9ecae1", _("the cells a facility serves (the optimum)"), opacity=0.5)],
                layers=[clayer])
        if fac is not None and len(fac):
            ft = b.display(fac[fac["tier"] == t], f"facilities {t}")
            pfeats = [maps.feature(geom.centroid if geom.geom_type != "Point" else geom, {
                "i": t, "p": maps.popup_table(_facility_rows(row)),
                "t": _e(row.get("name", ""))})
                for row, geom in zip(ft.to_dict("records"), ft.geometry, strict=True)]
            b.add(pfeats, _("{tier} and their capacity").format(
                tier=_first_up(TIER_NAMES[t])), "", show=first)
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
                rows = [(_("Site"), _e(row.get("name", ""))),
                        (_("Commune"), _e(row.get("commune_name", ""))),
                        (_("Class"), _e(row.get("class_name", ""))),
                        (_("Capacity (people)"), _n(row.get("capacity"))),
                        (_("People it serves"), _n(row.get("served_population")))]
                if not _missing(row.get("step")):
                    rows.append((_("Added at step"), _n(row.get("step"))))
                exact = method.startswith("optimum")
                # the exact choice as a ring, the greedy's as a dot: both show on one site
                style = ({"radius": 10, "color": color, "weight": 4, "fillOpacity": 0.0}
                         if exact else {"radius": 5, "color": "#222", "weight": 1,
                                        "fillColor": color, "fillOpacity": 0.95})
                feats.append(maps.feature(geom, {
                    "c": style,
                    "p": maps.popup_table(rows),
                    "t": _e(_("New facility: {name}").format(name=row.get("name", "")))}))
            added.append(b.add(feats, _("{method}: new facilities").format(
                method=_first_up(METHOD_LABELS[method])), "", show=True))
            items.append(maps.swatch(color, METHOD_LABELS[method], opacity=0.9))
        b.legend_section(_("Scaling up: {n} new facilities, {tier}").format(
            n=len(up.get("sites") or []), tier=TIER_NAMES.get(up.get("tier"), "")), items,
            layers=added)
    return b.finish()


def write_capacity_map(folder: str | Path, layers: Mapping[str, gpd.GeoDataFrame],
                       summary: Mapping[str, Any], *, province: str = "",
                       sources: Sequence[str] = (), estimate_notes: Sequence[str] = (),
                       offline: bool = True, overwrite: bool = False, lang: str = "en"
                       ) -> Path | None:
    """Write ``capacity.html`` when the run has capacity layers (else None)."""
    cells = layers.get("capacity_cells")
    if cells is None or not _tiers(cells):
        return None
    where = f" — {province}" if province else ""
    m = capacity_map(layers, summary,
                     title=_("Capacity: who is served, who is not, where to add") + where,
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


def _tier_html(info: Mapping[str, Any]) -> str:
    t = info.get("tier", "")
    name = TIER_NAMES.get(t, t)
    est = bool(info.get("capacity_is_estimate"))
    tag = EST if est else ""
    left = info.get("left_out") or {}
    basis = info.get("basis", "")
    head = (f"<h3>{_e(_first_up(name))}, {_e(_min(info.get('max_time_min')))} "
            f"{_e(_('min'))}</h3>")
    norm = _("Capacity = {basis} x {norm} people per {unit} ({source}).").format(
        basis=basis, norm=_n(info.get("people_per_unit"), 1),
        unit={"doctors": _("doctor"), "beds": _("bed")}.get(basis, _("facility")),
        source=info.get("norm_source", ""))
    text = f"<p>{_e(norm)}"
    text += " " + _e(_("{a} of {n} facilities analysed, total capacity {cap} people.").format(
        a=info.get("analysed", 0), n=info.get("facilities", 0),
        cap=_n(info.get("capacity_total")))) + tag
    if left.get("count"):
        text += " " + _e(_("{k} left out: {reason} ({ids}).").format(
            k=left["count"], reason=left.get("reason", ""), ids=", ".join(left.get("ids", []))))
    text += "</p>"
    if info.get("skipped"):
        return head + text + f'<p class="unknown">{_e(info["skipped"])}</p>'
    g, o, diff = info.get("accessmod", {}), info.get("optimum", {}), info.get("difference", {})
    rows = []
    for label, r in ((_("AccessMod's greedy (largest first)"), g),
                     (_("Optimum (any order)"), o)):
        rows.append([_e(label), _n(r.get("served_population")) + tag,
                     _pct(r.get("served_share")),
                     _n(r.get("not_served_capacity")) + tag, _n(r.get("beyond_time")),
                     _n(r.get("person_minutes")) + tag])
    rows.append([_e(_("Optimum minus greedy")), _n(diff.get("served_population")),
                 _pct(diff.get("served_share")), "", "", _n(diff.get("person_minutes"))])
    table = _table([_("method"), _("served"), _("share"), _("not served: no capacity left"),
                    _("beyond the time limit"), _("person-minutes")], rows)
    near = info.get("beyond_time_near_left_out") or 0.0
    extra = ""
    if near > 0:
        extra += "<p>" + _e(_("{n} of the people beyond the time limit are within it of a "
                              "facility left out (its capacity unknown).").format(n=_n(near))) \
            + "</p>"
    worst = info.get("communes_most_not_served") or []
    if worst:
        extra += "<h4>" + _e(_("Communes with the most people not served (the optimum)")) \
            + "</h4>"
        extra += _table([_("commune"), _("people"), _("served"),
                         _("not served: no capacity left"), _("beyond the time limit")],
                        [[_e(w.get("commune_name") or w.get("commune_code", "")),
                          _n(w.get("population")), _n(w.get("served")) + tag,
                          _n(w.get("not_served")) + tag, _n(w.get("beyond"))]
                         for w in worst[:10]])
    return head + text + table + extra


def _scale_html(up: Mapping[str, Any]) -> str:
    if up.get("skipped"):
        return f'<p class="unknown">{_e(up["skipped"])}</p>'
    cand = up.get("candidates") or {}
    kind = {"grid": _("a {grid} km grid of the province's populated land ({n} sites; squares "
                      "without people and sites outside the province excluded)"),
            "stations": _("the sites of the commune stations ({n})"),
            "list": _("the listed sites ({n} inside the province)")}.get(
        cand.get("kind"), _("{n} sites"))
    classes = "; ".join(_("{name}: {cap} people for {cost}").format(
        name=c.get("name"), cap=_n(c.get("capacity")), cost=f"{c.get('cost', 0):g}")
        for c in up.get("classes") or [])
    if up.get("question") == "budget":
        question = _("The most people served by new {tier} within a budget of {budget}.").format(
            tier=TIER_NAMES.get(up.get("tier"), ""), budget=f"{up.get('budget', 0):g}")
    else:
        question = _("The cheapest new {tier} to serve {share} of the people.").format(
            tier=TIER_NAMES.get(up.get("tier"), ""), share=_pct(up.get("target_share")))
    out = "<p>" + _e(question) + " " + _e(_("Candidates: {kind}. Classes: {classes}. Time "
                                            "limit {limit} min.").format(
        kind=kind.format(grid=f"{(cand.get('grid_m') or 0) / 1000:g}", n=cand.get("sites", 0)),
        classes=classes, limit=_min(up.get("max_time_min")))) + "</p>"
    out += "<p>" + _e(_("Served today (the optimum): {before} of {total}; with the new "
                        "facilities: {after} ({share}), {new} more, for {cost}. Proven gap "
                        "{gap} ({status}); AccessMod's greedy serves {greedy}.").format(
        before=_n(up.get("existing_served")), total=_n(up.get("total_population")),
        after=_n(up.get("served_population")), share=_pct(up.get("served_share")),
        new=_n(up.get("new_served_population")), cost=f"{up.get('cost', 0):g}",
        gap=_pct(up.get("gap")), status=up.get("status", ""),
        greedy=_n((up.get("greedy") or {}).get("served_population")))) + "</p>"
    sites = up.get("sites") or []
    if sites:
        out += "<h4>" + _e(_("New facilities: the exact choice")) + "</h4>"
        out += _table([_("site"), _("commune"), _("class"), _("people it serves")],
                      [[_e(s.get("name", "")), _e(s.get("commune_name", "")),
                        _e(s.get("class_name", "")), _n(s.get("served_population"))]
                       for s in sites])
    greedy = (up.get("greedy") or {}).get("sites") or []
    if greedy:
        out += "<h4>" + _e(_("AccessMod's greedy, in the order it adds them")) + "</h4>"
        out += _table([_("site"), _("commune"), _("class"), _("people it serves"),
                       _("served in all")],
                      [[_e(f"{s.get('step')}. {s.get('name', '')}"),
                        _e(s.get("commune_name", "")), _e(s.get("class_name", "")),
                        _n(s.get("served_population")), _n(s.get("cumulative_served"))]
                       for s in greedy])
    curve = up.get("curve") or []
    if curve:
        total = up.get("total_population") or 1.0
        x_key = "facilities" if all(float(c.get("budget", 0)) == c.get("facilities")
                                    for c in curve) else "budget"
        x0 = 0.0
        base = float(up.get("existing_served") or 0.0) / total
        exact = [(x0, base, "")] + [(float(c[x_key]), c["served_population"] / total,
                                     f"{c['served_population']:,.0f}") for c in curve]
        greedy_pts = [(x0, base, "")] + [(float(c[x_key] if x_key == "budget"
                                                else c["greedy_facilities"]),
                                          c["greedy_served_population"] / total, "")
                                         for c in curve]
        out += svg_xy_chart(
            {_("exact choice (MILP)"): exact, _("AccessMod's greedy"): greedy_pts},
            title=_("People served against new facilities"),
            x_label=_("new facilities") if x_key == "facilities" else _("money spent"),
            y_label=_("share of the people served"), y_percent=True)
        out += _table([_("budget"), _("facilities"), _("served"), _("gap"),
                       _("greedy: served")],
                      [[_n(c.get("budget"), 1), _n(c.get("facilities")),
                        _n(c.get("served_population")), _pct(c.get("gap")),
                        _n(c.get("greedy_served_population"))] for c in curve])
    return out


def report_sections(summary: Mapping[str, Any], *, lang: str = "en") -> list[Section]:
    """The report's "Capacity and scaling up" section (empty when the stage did not run)."""
    cap = summary.get("capacity")
    up = summary.get("scale_up")
    if not cap and not up:
        return []
    content = ""
    if isinstance(cap, Mapping) and cap.get("skipped"):
        content += f'<p class="unknown">{_e(cap["skipped"])}</p>'
    elif cap:
        content += "<p>" + _e(cap.get("method", "")) + "</p>"
        for info in (cap.get("tiers") or {}).values():
            content += _tier_html(info)
    if up:
        content += "<h3>" + _e(_("Scaling up")) + "</h3>" + _scale_html(up)
    return [("capacity", _("Capacity and scaling up"), content, ("capacity", "scale_up"))]
