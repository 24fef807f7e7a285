"""One GeoPackage with every layer and a styled QGIS project (.qgz) beside it.

The project is written by hand as QGIS 3.22 XML (``.qgs``) zipped into ``.qgz``: ``gis`` does
not need QGIS to run. Layers are grouped (Inputs, Access, Plans, Network), styled (travel time
and coverage: graduated; facility tier, plan action and link kind: categorised; under-served
areas: a hatched red fill; hubs: graduated size by load), facility names labelled, and the
data source paths are relative (``./<name>.gpkg|layername=<layer>``), so the folder can be
copied or sent as a whole.

The project opens on an uncluttered first view: the communes after 2025, the facilities by tier
and the under-served areas are on; every other layer (travel times, coverage, plans, network)
is in the tree but switched off, and labels are set up but off (one click in the layer's
properties turns them on). Every evaluated plan has its own sub-group under Plans (stations by
action, people losing access, change per commune). Titles, groups and legend entries are in the
language of ``lang`` (:mod:`gis.outputs.i18n`).

Layers are known by their key in the mapping given to :func:`write_qgis_project`; unknown keys
are kept, in an "Other" group with a plain style:

========================  =======  ===================================================
key                       group    style
========================  =======  ===================================================
communes                  Inputs   outline, labelled with commune_name
communes_legacy           Inputs   dashed outline (switched off)
facilities                Inputs   categorised by tier, labelled with name
cells                     Access   graduated on each travel-time field (one layer each)
coverage                  Access   graduated on the coverage share
underserved               Access   hatched red fill, labelled with rank
plan                      Plans    categorised by action (keep, branch, close, new)
losing_access             Plans    magenta fill
edges                     Network  categorised by kind (referral, satellite)
hubs                      Network  graduated size by load
========================  =======  ===================================================
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import warnings
import zipfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from xml.etree import ElementTree as ET

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
from pyproj import CRS

from gis.errors import LayerError, OutputError
from gis.outputs import files
from gis.outputs.geopackage import write_geopackage
from gis.outputs.i18n import N_, Lang, get_lang
from gis.outputs.maps import plan_display_name

log = logging.getLogger(__name__)

__all__ = [
    "GROUPS",
    "KEY_ALIASES",
    "QgisOutput",
    "layer_specs",
    "write_geopackage",
    "write_project_for_geopackage",
    "write_qgis_project",
]

QGIS_VERSION = "3.22.16-Białowieża"
GROUPS = ("Inputs", "Access", "Plans", "Network", "Capacity", "Other")
_GROUP_TITLES = {"Inputs": N_("Inputs"), "Access": N_("Access"), "Plans": N_("Plans"),
                 "Network": N_("Network"), "Capacity": N_("Capacity"), "Other": N_("Other")}
#: ``styles(name, layer, lang)`` -> the layer's specs, or None to style it here: lets another
#: output module (gis.outputs.capacity) style the layers it knows, in the project's language.
Styles = Callable[[str, gpd.GeoDataFrame, str], "list[LayerSpec] | None"]

_TIER_COLORS = {
    "central": ("#67000d", 4.2, "star", N_("Central hospital")),
    "provincial": ("#cb181d", 3.6, "square", N_("Provincial hospital")),
    "regional": ("#f16913", 3.2, "diamond", N_("Regional general hospital")),
    "station": ("#2171b5", 2.2, "circle", N_("Commune health station")),
    "branch": ("#4292c6", 1.8, "circle", N_("Branch point (former station)")),
}
_ACTION_COLORS = {
    "keep": ("#2171b5", 2.4, "circle", N_("main station (kept)")),
    "new": ("#238b45", 2.8, "cross_fill", N_("new station")),
    "branch": ("#6baed6", 2.0, "circle", N_("branch point (outpost)")),
    "close": ("#525252", 2.4, "cross2", N_("closed site")),
}
_BAND_COLORS = ["#1a9850", "#91cf60", "#fee08b", "#fc8d59", "#d73027", "#a50026"]
_TARGET_LABEL = {"station": N_("Travel time to the nearest commune health station (min)"),
                 "regional": N_("Travel time to the nearest regional hospital (min)"),
                 "provincial": N_("Travel time to the nearest provincial hospital (min)")}
_KIND_LABEL = {"referral": N_("referral link"), "satellite": N_("satellite link"),
               "proposed satellite": N_("proposed satellite link")}
DEFAULT_TIME_FIELDS = {"station": "station_time_min", "regional": "regional_time_min"}
DEFAULT_THRESHOLDS_MIN = {"station": (15, 30, 60), "regional": (30, 60, 90),
                          "provincial": (60, 120)}


#: Other names the layers go by (e.g. in the GeoPackage of ``gis run``) -> key of the table.
KEY_ALIASES = {
    "communes_2025": "communes", "communes_post2025": "communes",
    "demand": "cells", "demand_cells": "cells", "access_cells": "cells",
    "commune_coverage": "coverage", "underserved_areas": "underserved",
    "plan_facilities": "plan", "stations_plan": "plan", "plan_stations": "plan",
    "plan_stations_branches": "plan", "plan_stations_given": "plan",
    "network_edges": "edges", "referral_edges": "edges",
    "referral_edges_plan": "edges", "satellite_edges": "edges", "satellite_proposals": "edges",
    "network_hubs": "hubs", "hubs_plan": "hubs", "losing_access_given": "losing_access",
    "halo_facilities": "facilities", "provinces": "coverage",
}

#: Layer titles in the project where several layers share a style key (the layer name of the
#: GeoPackage -> title); other layers take the title of their key.
LAYER_TITLES = {
    "plan_stations": N_("Official plan without branch points: stations by action"),
    "plan_stations_branches": N_("Official plan: stations by action"),
    "losing_access": N_("Official plan without branch points: people losing access"),
    "plan_communes": N_("Every scenario per commune (one row per scenario)"),
    "referral_edges_plan": N_("Referral links after the plan"),
    "satellite_edges": N_("Satellite-hospital links"),
    "satellite_proposals": N_("Proposed satellite links"),
    "hubs_plan": N_("Hubs after the plan (size: people behind)"),
    "referral_chains": N_("Referral chain per commune"),
    "referral_chains_plan": N_("Referral chain per commune after the plan"),
    "coverage_communes": N_("Coverage per commune"),
    "coverage_legacy": N_("Coverage per former commune"),
    "plan_stations_given": N_("Plans given (field scenario): stations and new sites"),
    "losing_access_given": N_("People losing access under the plans given (field scenario)"),
    "halo_facilities": N_("Facilities of neighbouring provinces within reach (cross-border)"),
    "provinces": N_("Coverage per province"),
}

# Layers on in the first view (uncluttered: the base and the main findings).
FIRST_VIEW = ("communes", "facilities", "underserved")
_PLAN_LAYER = re.compile(r"^plan_(?P<slug>\w+?)_(?P<what>stations|losing_access|communes)$")


@dataclass(frozen=True)
class QgisOutput:
    """Files written by :func:`write_qgis_project`."""

    geopackage: Path
    project: Path
    layers: dict[str, int]  # GeoPackage layer -> number of features


# --------------------------------------------------------------------------------------------
# GeoPackage


# --------------------------------------------------------------------------------------------
# symbols


def _rgba(color: str, alpha: float = 1.0) -> str:
    c = color.lstrip("#")
    r, g, b = (int(c[i:i + 2], 16) for i in (0, 2, 4))
    return f"{r},{g},{b},{round(alpha * 255)}"


def _symbol_layer(parent: ET.Element, cls: str, props: Mapping[str, str]) -> None:
    layer = ET.SubElement(parent, "layer", {"class": cls, "enabled": "1", "pass": "0",
                                            "locked": "0"})
    opt = ET.SubElement(layer, "Option", {"type": "Map"})
    for k, v in props.items():
        ET.SubElement(opt, "Option", {"name": k, "value": v, "type": "QString"})
    for k, v in props.items():  # the pre-3.20 form, read by older QGIS
        ET.SubElement(layer, "prop", {"k": k, "v": v})


def _symbol(name: str, kind: str, layers: Sequence[tuple[str, Mapping[str, str]]],
            *, alpha: float = 1.0) -> ET.Element:
    sym = ET.Element("symbol", {"name": name, "type": kind, "alpha": f"{alpha:g}",
                                "clip_to_extent": "1", "force_rhr": "0"})
    for cls, props in layers:
        _symbol_layer(sym, cls, props)
    return sym


def marker(color: str, size_mm: float, shape: str = "circle", *, outline: str = "#ffffff",
           name: str = "0") -> ET.Element:
    """Simple marker symbol (shape: circle, square, diamond, star, triangle, cross2, ...)."""
    return _symbol(name, "marker", [("SimpleMarker", {
        "name": shape, "color": _rgba(color), "outline_color": _rgba(outline),
        "outline_style": "solid", "outline_width": "0.3", "outline_width_unit": "MM",
        "size": f"{size_mm:g}", "size_unit": "MM", "angle": "0", "scale_method": "diameter",
        "joinstyle": "bevel", "offset": "0,0", "offset_unit": "MM",
        "horizontal_anchor_point": "1", "vertical_anchor_point": "1"})])


def fill(color: str | None, outline: str, *, outline_width: float = 0.26, alpha: float = 1.0,
         style: str = "solid", outline_style: str = "solid", name: str = "0") -> ET.Element:
    """Simple fill symbol; ``color=None`` draws the outline only. ``alpha`` is the fill's."""
    return _symbol(name, "fill", [("SimpleFill", {
        "color": _rgba(color, alpha) if color else "0,0,0,0",
        "style": style if color else "no", "outline_color": _rgba(outline),
        "outline_style": outline_style, "outline_width": f"{outline_width:g}",
        "outline_width_unit": "MM", "joinstyle": "bevel", "offset": "0,0",
        "offset_unit": "MM", "border_width_map_unit_scale": "3x:0,0,0,0,0,0"})])


def line(color: str, width_mm: float, *, style: str = "solid", name: str = "0") -> ET.Element:
    """Simple line symbol (style: solid, dash, dot, ...)."""
    return _symbol(name, "line", [("SimpleLine", {
        "line_color": _rgba(color), "line_width": f"{width_mm:g}", "line_width_unit": "MM",
        "line_style": style, "capstyle": "round", "joinstyle": "round", "offset": "0",
        "offset_unit": "MM"})])


# --------------------------------------------------------------------------------------------
# renderers


def single_renderer(symbol: ET.Element) -> ET.Element:
    r = ET.Element("renderer-v2", {"type": "singleSymbol", "symbollevels": "0",
                                   "forceraster": "0", "enableorderby": "0",
                                   "referencescale": "-1"})
    ET.SubElement(r, "symbols").append(symbol)
    ET.SubElement(r, "rotation")
    ET.SubElement(r, "sizescale")
    return r


def categorized_renderer(attr: str, categories: Sequence[tuple[str, str, ET.Element]],
                         other: ET.Element | None = None, *,
                         other_label: str = "other") -> ET.Element:
    """Categorised renderer: (value, label, symbol) per category; ``other`` for the rest."""
    r = ET.Element("renderer-v2", {"type": "categorizedSymbol", "attr": attr,
                                   "symbollevels": "0", "forceraster": "0",
                                   "enableorderby": "0", "referencescale": "-1"})
    cats = ET.SubElement(r, "categories")
    syms = ET.SubElement(r, "symbols")
    items = list(categories) + ([("", other_label, other)] if other is not None else [])
    for i, (value, label, sym) in enumerate(items):
        ET.SubElement(cats, "category", {"value": value, "label": label, "symbol": str(i),
                                         "render": "true"})
        sym.set("name", str(i))
        syms.append(sym)
    ET.SubElement(r, "rotation")
    ET.SubElement(r, "sizescale")
    return r


def graduated_renderer(attr: str, ranges: Sequence[tuple[float, float, str, ET.Element]],
                       *, method: str = "GraduatedColor") -> ET.Element:
    """Graduated renderer: (lower, upper, label, symbol) per class."""
    r = ET.Element("renderer-v2", {"type": "graduatedSymbol", "attr": attr,
                                   "graduatedMethod": method, "symbollevels": "0",
                                   "forceraster": "0", "enableorderby": "0",
                                   "referencescale": "-1"})
    rng = ET.SubElement(r, "ranges")
    syms = ET.SubElement(r, "symbols")
    for i, (lo, hi, label, sym) in enumerate(ranges):
        ET.SubElement(rng, "range", {"lower": f"{lo:.15f}", "upper": f"{hi:.15f}",
                                     "label": label, "symbol": str(i), "render": "true"})
        sym.set("name", str(i))
        syms.append(sym)
    cm = ET.SubElement(r, "classificationMethod", {"id": "Custom"})
    ET.SubElement(cm, "symmetricMode", {"enabled": "0", "astride": "0", "symmetrypoint": "0"})
    ET.SubElement(cm, "labelFormat", {"format": "%1 - %2", "labelprecision": "1",
                                      "trimtrailingzeroes": "1"})
    ET.SubElement(r, "rotation")
    ET.SubElement(r, "sizescale")
    return r


def labeling(field: str, *, size_pt: float = 8.0, color: str = "#000000",
             placement: int = 0, dist_mm: float = 1.0) -> ET.Element:
    """Simple labels from ``field`` with a white buffer (placement 0: around point)."""
    lab = ET.Element("labeling", {"type": "simple"})
    st = ET.SubElement(lab, "settings", {"calloutType": "simple"})
    ts = ET.SubElement(st, "text-style", {
        "fieldName": field, "isExpression": "0", "fontSize": f"{size_pt:g}",
        "fontSizeUnit": "Point", "textColor": _rgba(color), "textOpacity": "1",
        "fontWeight": "50", "fontItalic": "0", "namedStyle": "",
        # present on Windows and macOS; fontconfig maps it to a metric twin on Linux
        "fontFamily": "Arial",
        "multilineHeight": "1", "allowHtml": "0", "capitalization": "0"})
    ET.SubElement(ts, "text-buffer", {"bufferDraw": "1", "bufferSize": "0.8",
                                      "bufferSizeUnits": "MM", "bufferColor": "255,255,255,255",
                                      "bufferOpacity": "0.9", "bufferNoFill": "1",
                                      "bufferJoinStyle": "128"})
    ET.SubElement(st, "text-format", {"wrapChar": "", "multilineAlign": "3"})
    ET.SubElement(st, "placement", {"placement": str(placement), "dist": f"{dist_mm:g}",
                                    "distUnits": "MM", "priority": "5", "offsetType": "0",
                                    "quadOffset": "4", "centroidWhole": "0",
                                    "centroidInside": "1", "fitInPolygonOnly": "0"})
    ET.SubElement(st, "rendering", {"drawLabels": "1", "obstacle": "1", "displayAll": "0",
                                    "scaleVisibility": "0", "limitNumLabels": "0",
                                    "maxNumLabels": "2000", "upsidedownLabels": "0",
                                    "zIndex": "0"})
    return lab


# --------------------------------------------------------------------------------------------
# layer specifications


@dataclass
class LayerSpec:
    """One layer of the project: which GeoPackage layer, where, and how it is drawn.

    ``group`` is a key of :data:`GROUPS`; ``subgroup`` a sub-group under it (a plan's name);
    ``labels`` are set up but shown only with ``labels_on``."""

    source_layer: str
    title: str
    group: str
    renderer: ET.Element
    labels: ET.Element | None = None
    visible: bool = True
    opacity: float = 1.0
    subgroup: str | None = None
    labels_on: bool = False


def _bands(field: str, thresholds: Sequence[float], values: pd.Series, L: Lang | None = None,
           ) -> list[tuple[float, float, str, ET.Element]]:
    L = L or get_lang("en")
    breaks = sorted(float(t) for t in thresholds)
    top = float(np.nanmax(values.replace([np.inf, -np.inf], np.nan))) if values.notna().any() \
        else breaks[-1]
    edges = [0.0, *breaks, max(top, breaks[-1]) + 1.0]
    out = []
    for i, (lo, hi) in enumerate(zip(edges[:-1], edges[1:], strict=True)):
        label = (L._("≤ {t} min", t=f"{hi:g}") if i == 0 else
                 L._("> {t} min", t=f"{lo:g}") if i == len(edges) - 2
                 else L._("{lo}–{hi} min", lo=f"{lo:g}", hi=f"{hi:g}"))
        color = _BAND_COLORS[min(i, len(_BAND_COLORS) - 1)]
        out.append((lo, hi, label, fill(color, color, outline_width=0.0, alpha=0.75,
                                        outline_style="no")))
    return out


def layer_specs(
    layers: Mapping[str, gpd.GeoDataFrame],
    *,
    time_fields: Mapping[str, str] | None = None,
    thresholds_min: Mapping[str, Sequence[float]] | None = None,
    coverage_fields: Sequence[str] | None = None,
    load_field: str = "load",
    plans: Sequence[Mapping[str, object]] | None = None,
    lang: str = "en",
    styles: Styles | None = None,
) -> list[LayerSpec]:
    """The styled project layers for the given GeoPackage layers (see the module table).

    Parameters
    ----------
    layers : mapping of str to GeoDataFrame
        GeoPackage layer name -> layer (only present, non-empty layers).
    time_fields, thresholds_min : mapping, optional
        Target tier -> travel-time field of ``cells`` and its band limits in minutes.
    coverage_fields : sequence of str, optional
        Coverage columns of ``coverage`` (default: numeric columns naming share/pct/covered).
    load_field : str, default "load"
        Hub load column.
    plans : sequence of mapping, optional
        The evaluated plans (``name``, ``kind``, ``slug``, ``figures``): their layers
        ``plan_<slug>_stations``, ``plan_<slug>_losing_access`` and ``plan_<slug>_communes``
        go into a sub-group of Plans named after the plan.
    lang : {"en", "vi"}
        Language of the titles and legend entries.
    styles : callable, optional
        ``styles(name, layer, lang)`` returns the specs of a layer it knows (e.g.
        :func:`gis.outputs.capacity.qgis_styles`), None for the others.

    Returns
    -------
    list of LayerSpec
        In drawing order within each group (first = top).
    """
    L = get_lang(lang)
    fields = dict(DEFAULT_TIME_FIELDS if time_fields is None else time_fields)
    limits = {**DEFAULT_THRESHOLDS_MIN, **(thresholds_min or {})}
    plan_names = {str(v.get("slug")): plan_display_name(str(v.get("name")), str(v.get("kind")),
                                                        v.get("figures") or {}, lang=lang)
                  for v in plans or []}
    specs: list[LayerSpec] = []
    for name, gdf in layers.items():
        key = KEY_ALIASES.get(name, name)
        cols = set(gdf.columns)
        titled = L._(LAYER_TITLES[name]) if name in LAYER_TITLES else None
        per_plan = _PLAN_LAYER.match(name)
        own = styles(name, gdf, lang) if styles is not None else None
        if own is not None:
            specs.extend(own)
        elif per_plan:
            specs.append(_plan_spec(name, gdf, per_plan.group("slug"), per_plan.group("what"),
                                    plan_names, L))
        elif key == "facilities":
            cats = [(t, L._(lab), marker(c, sz, shape)) for t, (c, sz, shape, lab) in
                    _TIER_COLORS.items()]
            r = (categorized_renderer("tier", cats, marker("#636363", 2.0, "triangle"),
                                      other_label=L._("other"))
                 if "tier" in cols else single_renderer(marker("#2171b5", 2.2)))
            specs.append(LayerSpec(name, titled or L._("Facilities by tier"), "Inputs", r,
                                   labeling("name") if "name" in cols else None))
        elif key == "communes":
            specs.append(LayerSpec(name, L._("Communes after 1 July 2025"), "Inputs",
                                   single_renderer(fill(None, "#41ab5d", outline_width=0.5)),
                                   labeling("commune_name", size_pt=7, color="#2b6b3a")
                                   if "commune_name" in cols else None))
        elif key == "communes_legacy":
            specs.append(LayerSpec(name, L._("Communes before 1 July 2025"), "Inputs",
                                   single_renderer(fill(None, "#807dba", outline_width=0.3,
                                                        outline_style="dash")),
                                   visible=False))
        elif key == "cells":
            for target, field in fields.items():
                if field not in cols:
                    log.info("QGIS project: no field %r in cells; %s layer skipped", field,
                             target)
                    continue
                values = pd.to_numeric(gdf[field], errors="coerce")
                r = graduated_renderer(field, _bands(field, limits.get(target, (15, 30, 60)),
                                                     values, L))
                label = (L._(_TARGET_LABEL[target]) if target in _TARGET_LABEL
                         else f"{target} (min)")
                specs.append(LayerSpec(name, label, "Access", r, visible=False))
        elif key == "coverage":
            cov = list(coverage_fields) if coverage_fields else [
                c for c in gdf.columns if c != gdf.geometry.name
                and pd.api.types.is_numeric_dtype(gdf[c])
                and any(w in c for w in ("share", "pct", "percent", "covered", "coverage"))]
            for col in cov:
                pct = col.endswith("_pct") or float(pd.to_numeric(gdf[col]).max()) > 1.0
                k = 100.0 if pct else 1.0
                classes = [(0.0, 0.5, "#f7fbff"), (0.5, 0.75, "#c6dbef"), (0.75, 0.9, "#6baed6"),
                           (0.9, 0.99, "#2171b5"), (0.99, 1.0, "#08306b")]
                ranges = [(lo * k, hi * k, f"{100 * lo:.0f}–{100 * hi:.0f} %",
                           fill(c, "#555555", outline_width=0.2, alpha=0.8))
                          for lo, hi, c in classes]
                title = (f"{titled}: {_coverage_title(L, col)}" if name == "provinces"
                         else titled or _coverage_title(L, col))
                specs.append(LayerSpec(name, title, "Access", graduated_renderer(col, ranges),
                                       visible=False))
        elif key == "underserved":
            sym = _symbol("0", "fill", [
                ("SimpleFill", {"color": _rgba("#e31a1c", 0.25), "style": "solid",
                                "outline_color": _rgba("#b30000"), "outline_style": "dash",
                                "outline_width": "0.8", "outline_width_unit": "MM",
                                "joinstyle": "bevel", "offset": "0,0", "offset_unit": "MM"}),
                ("SimpleFill", {"color": _rgba("#b30000"), "style": "b_diagonal",
                                "outline_color": "0,0,0,0", "outline_style": "no",
                                "outline_width": "0", "outline_width_unit": "MM",
                                "joinstyle": "bevel", "offset": "0,0", "offset_unit": "MM"}),
            ])
            specs.append(LayerSpec(name, L._("Under-served areas"), "Access",
                                   single_renderer(sym),
                                   labeling("rank", size_pt=9, color="#b30000")
                                   if "rank" in cols else None))
        elif key == "plan":
            specs.append(LayerSpec(name, titled or L._("Plan: action per facility"), "Plans",
                                   _action_renderer(cols, L),
                                   labeling("name", size_pt=7) if "name" in cols else None,
                                   visible=False, subgroup=L._(_EARLIER) if name in LAYER_TITLES
                                   else None))
        elif key == "losing_access" or name == "plan_communes":
            sym = (fill("#f768a1", "#7a0177", alpha=0.55, outline_width=0.1)
                   if key == "losing_access" else fill(None, "#636363", outline_width=0.3))
            specs.append(LayerSpec(name, titled or L._("People losing access"), "Plans",
                                   single_renderer(sym), visible=False,
                                   subgroup=L._(_EARLIER) if name in LAYER_TITLES
                                   else None))
        elif key == "edges":
            kinds = sorted(gdf["kind"].astype(str).unique()) if "kind" in cols else []
            palette = ["#08519c", "#e6550d", "#31a354", "#756bb1"]
            cats = [(k, L._(_KIND_LABEL[k]) if k in _KIND_LABEL else k,
                     line(palette[i % 4], 0.6, style="dash" if "satellite" in k else "solid"))
                    for i, k in enumerate(kinds)]
            r = (categorized_renderer("kind", cats, line("#636363", 0.5),
                                      other_label=L._("other"))
                 if cats else single_renderer(line("#08519c", 0.6)))
            specs.append(LayerSpec(name, titled or L._("Referral and satellite links"),
                                   "Network", r, visible=False))
        elif key == "hubs":
            if load_field in cols and pd.to_numeric(gdf[load_field]).notna().any():
                v = pd.to_numeric(gdf[load_field], errors="coerce")
                top = float(v.max())
                cuts = [0.0, top / 16, top / 4, top / 2, top + 1.0]
                ranges = [(lo, hi, f"{L.num(lo)} – {L.num(min(hi, top))}",
                           marker("#9e9ac8", 3.0 + 3.0 * i, "circle", outline="#54278f"))
                          for i, (lo, hi) in enumerate(zip(cuts[:-1], cuts[1:], strict=True))]
                r = graduated_renderer(load_field, ranges, method="GraduatedSize")
            else:
                r = single_renderer(marker("#9e9ac8", 5.0, outline="#54278f"))
            specs.append(LayerSpec(name, titled or L._("Hubs (size: people behind)"),
                                   "Network", r,
                                   labeling("name", size_pt=8) if "name" in cols else None,
                                   opacity=0.8, visible=False))
        else:
            geom = set(gdf.geom_type.dropna())
            if geom <= {"Point", "MultiPoint"}:
                sym = marker("#636363", 2.0)
            elif geom <= {"LineString", "MultiLineString"}:
                sym = line("#636363", 0.5)
            else:
                sym = fill("#bdbdbd", "#636363", alpha=0.5)
            specs.append(LayerSpec(name, titled or name.replace("_", " ").capitalize(),
                                   "Network" if name.startswith("referral_chains") else "Other",
                                   single_renderer(sym), visible=False))
    for spec in specs:
        spec.visible = spec.visible and KEY_ALIASES.get(spec.source_layer,
                                                        spec.source_layer) in FIRST_VIEW
    return specs


_EARLIER = N_("Earlier layer names (same data as the plan groups)")


def _coverage_title(L: Lang, col: str) -> str:
    m = re.fullmatch(r"(station|regional|provincial)_([\d.]+)min_(share|pct)", col)
    if not m:
        return L._("Coverage per commune: {what}", what=col)
    what = {"station": L._("commune health station"), "regional": L._("regional hospital"),
            "provincial": L._("provincial hospital")}[m.group(1)]
    return L._("Share of people within {t} min of a {what}", t=m.group(2), what=what)


def _action_renderer(cols: set, L: Lang) -> ET.Element:
    cats = [(a, L._(lab), marker(c, sz, shape)) for a, (c, sz, shape, lab) in
            _ACTION_COLORS.items()]
    return (categorized_renderer("action", cats, marker("#636363", 2.0, "triangle"),
                                 other_label=L._("other"))
            if "action" in cols else single_renderer(marker("#2171b5", 2.2)))


def _plan_spec(name: str, gdf: gpd.GeoDataFrame, slug: str, what: str,
               plan_names: Mapping[str, str], L: Lang) -> LayerSpec:
    """The style of one plan's layer (stations by action, people losing access, change per
    commune), in the plan's sub-group."""
    cols = set(gdf.columns)
    group = plan_names.get(slug, slug.replace("_", " "))
    if what == "stations":
        return LayerSpec(name, L._("Stations by action"), "Plans", _action_renderer(cols, L),
                         labeling("name", size_pt=7) if "name" in cols else None,
                         visible=False, subgroup=group)
    if what == "losing_access":
        return LayerSpec(name, L._("People losing access"), "Plans",
                         single_renderer(fill("#f768a1", "#7a0177", alpha=0.6,
                                              outline_width=0.1)), visible=False,
                         subgroup=group)
    col = next((c for c in gdf.columns if re.fullmatch(r"losing_[\d.]+min", c)), None)
    if col is None:
        r = single_renderer(fill(None, "#636363", outline_width=0.3))
    else:
        classes = [(0.0, 0.5, "#f7f7f7", L.num(0)), (0.5, 99.5, "#fcbba1", f"1–{L.num(99)}"),
                   (99.5, 999.5, "#fb6a4a", f"{L.num(100)}–{L.num(999)}"),
                   (999.5, 4999.5, "#de2d26", f"{L.num(1000)}–{L.num(4999)}"),
                   (4999.5, 1e12, "#a50f15", f"≥ {L.num(5000)}")]
        r = graduated_renderer(col, [(lo, hi, lab, fill(c, "#555555", outline_width=0.2,
                                                         alpha=0.75))
                                     for lo, hi, c, lab in classes])
    return LayerSpec(name, L._("People losing access per commune"), "Plans", r,
                     labeling("commune_name", size_pt=7) if "commune_name" in cols else None,
                     visible=False, subgroup=group)


# --------------------------------------------------------------------------------------------
# project XML


def _spatialrefsys(crs: CRS) -> ET.Element:
    srs = ET.Element("spatialrefsys")
    ET.SubElement(srs, "wkt").text = crs.to_wkt()
    with warnings.catch_warnings():  # PROJ strings are lossy; QGIS reads the WKT first
        warnings.simplefilter("ignore", UserWarning)
        ET.SubElement(srs, "proj4").text = crs.to_proj4() or ""
    epsg = crs.to_epsg()
    ET.SubElement(srs, "srid").text = str(epsg or 0)
    ET.SubElement(srs, "authid").text = f"EPSG:{epsg}" if epsg else ""
    ET.SubElement(srs, "description").text = crs.name
    ET.SubElement(srs, "geographicflag").text = "true" if crs.is_geographic else "false"
    return srs


def _wkb_type(gdf: gpd.GeoDataFrame) -> tuple[str, str]:
    """(geometry, wkbType) attributes of a maplayer element."""
    kinds = set(gdf.geom_type.dropna().unique())  # unique first: 640,000 cells at 100 m
    if kinds <= {"Point", "MultiPoint"}:
        return "Point", "MultiPoint" if "MultiPoint" in kinds else "Point"
    if kinds <= {"LineString", "MultiLineString"}:
        return "Line", "MultiLineString" if "MultiLineString" in kinds else "LineString"
    return "Polygon", "MultiPolygon" if "MultiPolygon" in kinds else "Polygon"


def _layer_id(spec: LayerSpec) -> str:
    digest = hashlib.sha1(f"{spec.source_layer}|{spec.title}".encode()).hexdigest()[:12]
    return f"{spec.source_layer}_{digest}"


def project_xml(specs: Sequence[LayerSpec], layers: Mapping[str, gpd.GeoDataFrame], *,
                gpkg_name: str, crs: CRS, title: str, lang: str = "en",
                sources: Sequence[str] = ()) -> bytes:
    """The QGIS 3.22 project (.qgs) XML for ``specs`` reading the GeoPackage ``gpkg_name``.

    Parameters
    ----------
    specs : sequence of LayerSpec
        From :func:`layer_specs`.
    layers : mapping of str to GeoDataFrame
        The GeoPackage layers (for geometry types, CRS and extents).
    gpkg_name : str
        Path of the GeoPackage relative to the project's folder (``layers.gpkg``,
        ``../layers.gpkg``), POSIX separators.
    crs : pyproj.CRS
        Project CRS (the working CRS).
    title : str
        Project title.
    lang : {"en", "vi"}
        Language of the group names and the project's abstract.
    sources : sequence of str
        Data sources (licences, attribution), listed in the metadata's abstract.

    Returns
    -------
    bytes
        UTF-8 XML.
    """
    L = get_lang(lang)
    root = ET.Element("qgis", {"version": QGIS_VERSION, "projectname": title})
    ET.SubElement(root, "homePath", {"path": ""})
    ET.SubElement(root, "title").text = title
    ET.SubElement(root, "projectCrs").append(_spatialrefsys(crs))

    tree = ET.SubElement(root, "layer-tree-group")
    ET.SubElement(ET.SubElement(tree, "customproperties"), "Option")
    groups: dict[tuple[str, str | None], ET.Element] = {}
    for name in GROUPS:
        if any(s.group == name for s in specs):
            g = ET.SubElement(tree, "layer-tree-group", {
                "name": L._(_GROUP_TITLES[name]), "expanded": "1" if name != "Plans" else "0",
                "checked": "Qt::Checked"})
            ET.SubElement(ET.SubElement(g, "customproperties"), "Option")
            groups[(name, None)] = g
            for sub in dict.fromkeys(s.subgroup for s in specs
                                     if s.group == name and s.subgroup):
                sg = ET.SubElement(g, "layer-tree-group", {"name": sub, "expanded": "0",
                                                           "checked": "Qt::Checked"})
                ET.SubElement(ET.SubElement(sg, "customproperties"), "Option")
                groups[(name, sub)] = sg

    projectlayers = ET.SubElement(root, "projectlayers")
    order = ET.SubElement(root, "layerorder")
    bounds = []
    for spec in specs:
        gdf = layers[spec.source_layer]
        lid = _layer_id(spec)
        ref = gpkg_name if gpkg_name.startswith(("./", "../")) else f"./{gpkg_name}"
        source = f"{ref}|layername={spec.source_layer}"
        node = ET.SubElement(groups[(spec.group, spec.subgroup)], "layer-tree-layer", {
            "id": lid, "name": spec.title, "source": source, "providerKey": "ogr",
            "checked": "Qt::Checked" if spec.visible else "Qt::Unchecked", "expanded": "1"})
        ET.SubElement(ET.SubElement(node, "customproperties"), "Option")
        geometry, wkb = _wkb_type(gdf)
        ml = ET.SubElement(projectlayers, "maplayer", {
            "type": "vector", "geometry": geometry, "wkbType": wkb,
            "labelsEnabled": "1" if spec.labels is not None and spec.labels_on else "0",
            "hasScaleBasedVisibilityFlag": "0", "minScale": "100000000", "maxScale": "0",
            "readOnly": "0", "simplifyDrawingHints": "1", "simplifyLocal": "1",
            "styleCategories": "AllStyleCategories"})
        xmin, ymin, xmax, ymax = (float(v) for v in gdf.total_bounds)
        bounds.append((xmin, ymin, xmax, ymax))
        ext = ET.SubElement(ml, "extent")
        for k, v in zip(("xmin", "ymin", "xmax", "ymax"), (xmin, ymin, xmax, ymax),
                        strict=True):
            ET.SubElement(ext, k).text = repr(v)
        ET.SubElement(ml, "id").text = lid
        ET.SubElement(ml, "datasource").text = source
        ET.SubElement(ml, "layername").text = spec.title
        ET.SubElement(ET.SubElement(ml, "srs"), "spatialrefsys").extend(
            list(_spatialrefsys(CRS.from_user_input(gdf.crs))))
        ET.SubElement(ml, "provider", {"encoding": "UTF-8"}).text = "ogr"
        ml.append(spec.renderer)
        if spec.labels is not None:
            ml.append(spec.labels)
        ET.SubElement(ml, "blendMode").text = "0"
        ET.SubElement(ml, "featureBlendMode").text = "0"
        ET.SubElement(ml, "layerOpacity").text = f"{spec.opacity:g}"
        ET.SubElement(ml, "legend", {"type": "default-vector", "showLabelLegend": "0"})
        ET.SubElement(order, "layer", {"id": lid})

    if bounds:
        b = np.array(bounds)
        xmin, ymin = b[:, 0].min(), b[:, 1].min()
        xmax, ymax = b[:, 2].max(), b[:, 3].max()
        pad = 0.03 * max(xmax - xmin, ymax - ymin, 1.0)
        xmin, ymin, xmax, ymax = xmin - pad, ymin - pad, xmax + pad, ymax + pad
        canvas = ET.SubElement(root, "mapcanvas", {"name": "theMapCanvas",
                                                   "annotationsVisible": "1"})
        ET.SubElement(canvas, "units").text = "meters" if crs.is_projected else "degrees"
        ext = ET.SubElement(canvas, "extent")
        for k, v in zip(("xmin", "ymin", "xmax", "ymax"), (xmin, ymin, xmax, ymax),
                        strict=True):
            ET.SubElement(ext, k).text = repr(float(v))
        ET.SubElement(canvas, "rotation").text = "0"
        ET.SubElement(canvas, "destinationsrs").append(_spatialrefsys(crs))
        view = ET.SubElement(root, "ProjectViewSettings", {"UseProjectScales": "0"})
        ET.SubElement(view, "Scales")
        dv = ET.SubElement(view, "DefaultViewExtent", {
            "xmin": repr(float(xmin)), "ymin": repr(float(ymin)), "xmax": repr(float(xmax)),
            "ymax": repr(float(ymax))})
        dv.append(_spatialrefsys(crs))

    props = ET.SubElement(root, "properties")
    paths = ET.SubElement(props, "Paths")
    ET.SubElement(paths, "Absolute", {"type": "bool"}).text = "false"
    srs = ET.SubElement(props, "SpatialRefSys")
    ET.SubElement(srs, "ProjectionsEnabled", {"type": "int"}).text = "1"
    meas = ET.SubElement(props, "Measurement")
    ET.SubElement(meas, "DistanceUnits", {"type": "QString"}).text = "meters"
    ET.SubElement(meas, "AreaUnits", {"type": "QString"}).text = "km2"
    meta = ET.SubElement(root, "projectMetadata")
    ET.SubElement(meta, "title").text = title
    ET.SubElement(meta, "abstract").text = L._(
        "Written by the gis tool (health facility network planning). Layers come from the "
        "GeoPackage {file} beside this project; paths are relative.", file=gpkg_name) + (
        "\n\n" + L._("Data sources") + ":\n" + "\n".join(f"- {L.text(x)}" for x in sources)
        if sources else "")
    ET.indent(root, space=" ")
    body = ET.tostring(root, encoding="unicode")
    return ("<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>\n" + body + "\n"
            ).encode("utf-8")


def write_qgis_project(
    folder: str | Path,
    layers: Mapping[str, gpd.GeoDataFrame | None],
    *,
    name: str = "gis",
    title: str | None = None,
    province: str | None = None,
    time_fields: Mapping[str, str] | None = None,
    thresholds_min: Mapping[str, Sequence[float]] | None = None,
    coverage_fields: Sequence[str] | None = None,
    load_field: str = "load",
    overwrite: bool = False,
    plans: Sequence[Mapping[str, object]] | None = None,
    lang: str = "en",
    sources: Sequence[str] = (),
    styles: Styles | None = None,
) -> QgisOutput:
    """Write ``<name>.gpkg`` with every layer and ``<name>.qgz`` beside it.

    Parameters
    ----------
    folder : path-like
        Output folder (created when missing).
    layers : mapping of str to GeoDataFrame or None
        Layer key -> layer, keys as in the module table (communes, communes_legacy,
        facilities, cells, coverage, underserved, plan, losing_access, edges, hubs; other keys
        go to the "Other" group). Absent (None) or empty layers are left out. All layers must
        share one declared CRS (the working CRS).
    name : str, default "gis"
        File stem of the GeoPackage and the project.
    title : str, optional
        Project title (default: "<province>: health facility network" in the language).
    province : str, optional
        Province name for the default title.
    time_fields, thresholds_min, coverage_fields, load_field, styles
        Field names, class limits and other modules' styles, see :func:`layer_specs`.
    sources : sequence of str
        Data sources with their licences and attribution, written into the project's
        metadata (*Project > Properties > Metadata*, abstract).
    overwrite : bool, default False
        Replace existing files; otherwise raise :class:`~gis.errors.OutputError` before
        writing anything.
    plans : sequence of mapping, optional
        The evaluated plans, for their sub-groups (see :func:`layer_specs`).
    lang : {"en", "vi"}
        Language of the titles, groups and legend entries.

    Returns
    -------
    QgisOutput
        Paths written and feature count per GeoPackage layer.

    Raises
    ------
    OutputError
        Outputs exist without ``overwrite``; no layer to write; layers without CRS or in
        different CRSs.
    """
    folder = Path(folder)
    gpkg = folder / f"{name}.gpkg"
    qgz = folder / f"{name}.qgz"
    files.check_writable([gpkg, qgz], overwrite=overwrite)
    present = {k: v for k, v in layers.items() if v is not None and len(v)}
    crss = {str(CRS.from_user_input(v.crs)) if v.crs is not None else None
            for v in present.values()}
    if None in crss:
        missing = [k for k, v in present.items() if v.crs is None]
        msg = (f"QGIS project: layers {', '.join(missing)} have no CRS; declare it "
               f"(GeoDataFrame.set_crs), normally the working CRS such as EPSG:32648")
        raise OutputError(msg)
    if len(crss) > 1:
        found = ", ".join(f"{k}: {CRS.from_user_input(v.crs).to_string()}"
                          for k, v in present.items())
        msg = (f"QGIS project: layers must share one CRS (the working CRS); found {found}. "
               f"Use to_crs() on the odd ones")
        raise OutputError(msg)
    counts = write_geopackage(present, gpkg, overwrite=overwrite)
    crs = CRS.from_user_input(next(iter(present.values())).crs)
    specs = layer_specs(present, time_fields=time_fields, thresholds_min=thresholds_min,
                        coverage_fields=coverage_fields, load_field=load_field, plans=plans,
                        lang=lang, styles=styles)
    L = get_lang(lang)
    if title is None:
        title = (L._("{province}: health facility network", province=province) if province
                 else L._("Health facility network"))
    xml = project_xml(specs, present, gpkg_name=gpkg.name, crs=crs, title=title, lang=lang,
                      sources=list(sources))
    with files.atomic_path(qgz, overwrite=overwrite) as tmp:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            zf.writestr(f"{name}.qgs", xml)
    log.info("QGIS project %s: %d layers from %s", qgz, len(specs), gpkg.name)
    return QgisOutput(geopackage=gpkg, project=qgz, layers=counts)


def write_project_for_geopackage(
    gpkg: str | Path,
    *,
    project: str | Path | None = None,
    title: str | None = None,
    time_fields: Mapping[str, str] | None = None,
    thresholds_min: Mapping[str, Sequence[float]] | None = None,
    coverage_fields: Sequence[str] | None = None,
    load_field: str = "load",
    overwrite: bool = False,
    lang: str = "en",
    styles: Styles | None = None,
) -> Path:
    """Write a styled QGIS project for an existing GeoPackage (every layer), without copying it.

    Parameters
    ----------
    gpkg : path-like
        An output GeoPackage (e.g. ``layers.gpkg`` of ``gis run``). Layer names are keys of the
        module table or their aliases (:data:`KEY_ALIASES`).
    project : path-like, optional
        The ``.qgz`` to write (default: beside the GeoPackage, same stem). The GeoPackage is
        referenced by a path relative to the project's folder.
    title : str, optional
        Project title (default: the GeoPackage's stem).
    time_fields, thresholds_min, coverage_fields, load_field, overwrite, lang, styles
        As in :func:`write_qgis_project`.

    Returns
    -------
    pathlib.Path
        The project written.

    Raises
    ------
    LayerError
        The GeoPackage is missing, unreadable or has no layer.
    OutputError
        The project exists without ``overwrite``; layers in different CRSs.
    """
    gpkg = Path(gpkg)
    if not gpkg.is_file():
        raise LayerError(str(gpkg), ["file not found: give the GeoPackage written by "
                                     "`gis run` (layers.gpkg in the output folder)"])
    qgz = Path(project) if project is not None else gpkg.with_suffix(".qgz")
    files.check_writable([qgz], overwrite=overwrite)
    try:
        names = [str(n) for n, _ in pyogrio.list_layers(gpkg)]
        layers = {n: gpd.read_file(gpkg, layer=n) for n in names}
    except Exception as exc:  # noqa: BLE001 - GDAL errors: report the file
        raise LayerError(str(gpkg), [f"cannot read as a GeoPackage: {exc}"]) from exc
    present = {k: v for k, v in layers.items() if len(v) and v.crs is not None}
    if not present:
        raise LayerError(str(gpkg), ["no layer with features and a CRS to put in a project"])
    crss = {CRS.from_user_input(v.crs).to_string() for v in present.values()}
    if len(crss) > 1:
        msg = f"{gpkg}: layers are in different CRSs ({', '.join(sorted(crss))})"
        raise OutputError(msg)
    ref = Path(os.path.relpath(gpkg.resolve(), qgz.resolve().parent)).as_posix()
    specs = layer_specs(present, time_fields=time_fields, thresholds_min=thresholds_min,
                        coverage_fields=coverage_fields, load_field=load_field, lang=lang,
                        styles=styles)
    crs = CRS.from_user_input(next(iter(present.values())).crs)
    xml = project_xml(specs, present, gpkg_name=ref, crs=crs, title=title or gpkg.stem,
                      lang=lang)
    with files.atomic_path(qgz, overwrite=overwrite) as tmp:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            zf.writestr(f"{qgz.stem}.qgs", xml)
    return qgz
