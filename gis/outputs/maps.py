"""Interactive HTML maps (folium / Leaflet) of the layers and the analyses, in Vietnamese or
English.

Four maps, each a :class:`folium.Map` that :func:`write_map` saves atomically:

- :func:`overview_map`: post-2025 and pre-2025 communes as switchable layers, commune names,
  facilities by tier.
- :func:`accessibility_map`: travel time to the nearest station and regional hospital, coverage
  per commune, under-served areas.
- :func:`plan_map`: every evaluated plan on one map with a plan selector: its stations kept,
  branch points, closed and new sites, the people who lose access and the change per commune.
  One map rather than one per plan: the commune polygons (most of a map's weight) are stored
  once and restyled for the chosen plan, so the page stays well under 5 MB with any number of
  plans, and switching plans keeps the view, so a planner compares plans at the same place.
- :func:`network_map`: referral and satellite links (satellite links drawn as curves, each
  specialty with its own dash pattern, so links that share their ends stay visible), hubs
  sized by load.

Every page has its title in a header above the map and a side panel beside it holding the
layer list (each layer with a count that says what it counts), the legend, the data sources and
the estimate labels: nothing covers the data. Leaflet, the only script and stylesheet, is always
inlined from the copies vendored in ``gis/data``, so a map opens with no internet. The commune
polygons are the base of every map; the OpenStreetMap basemap is drawn on top of that base when
the tiles load, and a note on the map says when they cannot (no internet) or when the map was
made without them (``offline=True``). Texts are in the language of ``lang`` ("vi" or "en"; see
:mod:`gis.outputs.i18n`), numbers formatted for it.

Inputs are GeoDataFrames in any declared CRS (normally the projected working CRS); a copy is
simplified in metres and reprojected to EPSG:4326 for display, inputs are never changed. All
user text (names, sources, reasons) is HTML-escaped here and marked ``translate="no"``: the
maps do not use folium's ``Popup``/``Tooltip``/``GeoJsonTooltip`` for user text, because those
insert text unescaped (``Popup`` even inside a JavaScript template literal). Feature data is
embedded as JSON with ``<``, ``>`` and ``&`` escaped, so no value can close the ``<script>``
element.
"""

from __future__ import annotations

import base64
import html
import json
import logging
import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from branca.element import Element, MacroElement
from folium.map import Layer, LayerControl
from folium.template import Template

from gis.errors import OutputError
from gis.model.demand import demand_grid
from gis.outputs import files
from gis.outputs.i18n import N_, Lang, get_lang

log = logging.getLogger(__name__)

__all__ = [
    "DEFAULT_THRESHOLDS_MIN",
    "DEFAULT_TIME_FIELDS",
    "LEAFLET_CDN",
    "LEAFLET_VERSION",
    "TIER_STYLE",
    "MapBuilder",
    "accessibility_map",
    "grid_view",
    "is_estimate",
    "leaflet_inline",
    "map_html",
    "network_map",
    "overview_map",
    "plan_map",
    "script_json",
    "ShareLayer",
    "share_map",
    "write_map",
    "write_maps",
]

LEAFLET_VERSION = "1.9.3"
#: Leaflet on a CDN (the maps never use it: Leaflet is inlined; kept for other pages)
LEAFLET_CDN = f"https://cdn.jsdelivr.net/npm/leaflet@{LEAFLET_VERSION}/dist"
MAX_MAP_BYTES = 5 * 1024 * 1024
# Demand-cell layers with more features than this are dissolved before display.
MAX_DISPLAY_FEATURES = 1500
# Travel-time bands of more demand units than this are drawn on the demand grid (each grid
# cell whole, in the band of its largest piece) instead of as the exact union of the pieces.
MAX_UNION_UNITS = 100_000
OSM_TILES = "https://tile.openstreetmap.org/{z}/{x}/{y}.png"

DEFAULT_TIME_FIELDS: dict[str, str] = {
    "station": "station_time_min",
    "regional": "regional_time_min",
}
DEFAULT_THRESHOLDS_MIN: dict[str, tuple[float, ...]] = {
    "station": (15, 30, 60),
    "regional": (30, 60, 90),
    "provincial": (60, 120),
}
_TIER_LABEL = {
    "central": N_("Central hospital"),
    "provincial": N_("Provincial hospital"),
    "regional": N_("Regional general hospital"),
    "station": N_("Commune health station"),
    "branch": N_("Branch point (former station)"),
    "other": N_("Other facility"),
}
_TIER_PLURAL = {
    "central": N_("Central hospitals"),
    "provincial": N_("Provincial hospitals"),
    "regional": N_("Regional general hospitals"),
    "station": N_("Commune health stations"),
    "branch": N_("Branch points (former stations)"),
    "other": N_("Other facilities"),
}
_TARGET_LABEL = {
    "station": N_("nearest commune health station"),
    "regional": N_("nearest regional hospital"),
    "provincial": N_("nearest provincial hospital"),
}
_STATUS = {"active": N_("active"), "ended": N_("ended"), "planned": N_("planned"),
           "operating": N_("active")}
_ACTION = {"keep": N_("main station (kept)"), "branch": N_("branch point"),
           "close": N_("closed"), "new": N_("new station")}
_KIND_LABEL = {"referral": N_("Referral links"), "satellite": N_("Satellite-hospital links"),
               "proposed satellite": N_("Proposed satellite links")}
_KIND_KEY = {"referral": N_("referral: a facility sends patients to the next level"),
             "satellite": N_("satellite link: a core hospital backs up a satellite"),
             "proposed satellite": N_("proposed satellite link (satellite planning)")}
_SPECIALTY = {"eye": N_("eye"), "lung": N_("lung"), "mental health": N_("mental health"),
              "general": N_("general"), "rehabilitation": N_("rehabilitation"),
              "traditional medicine": N_("traditional medicine"),
              "primary care": N_("primary care")}


def _svg(shape: str, fill: str, size: int, stroke: str = "#ffffff") -> str:
    """Inline SVG symbol of ``size`` px: circle, ring, square, diamond, star, cross, plus."""
    s, h = size, size / 2
    body = {
        "circle": f'<circle cx="{h}" cy="{h}" r="{h - 1.5}" fill="{fill}" stroke="{stroke}" '
        f'stroke-width="1.5"/>',
        "ring": f'<circle cx="{h}" cy="{h}" r="{h - 2}" fill="#ffffff" stroke="{fill}" '
        f'stroke-width="3"/>',
        "square": f'<rect x="1" y="1" width="{s - 2}" height="{s - 2}" fill="{fill}" '
        f'stroke="{stroke}" stroke-width="1.5"/><path d="M{h} {s * .22}V{s * .78}M{s * .22} '
        f'{h}H{s * .78}" stroke="#fff" stroke-width="{s * .16}"/>',
        "diamond": f'<path d="M{h} 1L{s - 1} {h}L{h} {s - 1}L1 {h}Z" fill="{fill}" '
        f'stroke="{stroke}" stroke-width="1.5"/>',
        "star": '<path d="' + _star_path(s) + f'" fill="{fill}" stroke="{stroke}" '
        f'stroke-width="1.2"/>',
        "cross": f'<path d="M3 3L{s - 3} {s - 3}M{s - 3} 3L3 {s - 3}" stroke="{fill}" '
        f'stroke-width="3.5" stroke-linecap="round"/>',
        "plus": f'<circle cx="{h}" cy="{h}" r="{h - 1.5}" fill="{fill}" stroke="{stroke}" '
        f'stroke-width="1.5"/><path d="M{h} {s * .25}V{s * .75}M{s * .25} {h}H{s * .75}" '
        f'stroke="#fff" stroke-width="2.5"/>',
        "triangle": f'<path d="M{h} 1L{s - 1} {s - 1}H1Z" fill="{fill}" stroke="{stroke}" '
        f'stroke-width="1.5"/>',
    }[shape]
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{s}" height="{s}" '
        f'viewBox="0 0 {s} {s}">{body}</svg>'
    )


def _star_path(s: int) -> str:
    pts = []
    for k in range(10):
        r = (s / 2 - 1) if k % 2 == 0 else (s / 2 - 1) * 0.45
        a = -math.pi / 2 + k * math.pi / 5
        pts.append(f"{s / 2 + r * math.cos(a):.1f} {s / 2 + r * math.sin(a):.1f}")
    return "M" + "L".join(pts) + "Z"


#: Symbol of each facility tier (and of plan actions): shape, colour, size in px.
TIER_STYLE: dict[str, tuple[str, str, int]] = {
    "central": ("star", "#67000d", 26),
    "provincial": ("square", "#cb181d", 22),
    "regional": ("diamond", "#f16913", 20),
    "station": ("circle", "#2171b5", 14),
    "branch": ("ring", "#4292c6", 12),
    "other": ("triangle", "#636363", 14),
    "closed": ("cross", "#525252", 14),
    "new": ("plus", "#238b45", 16),
}


def _icons() -> dict[str, dict[str, Any]]:
    return {k: {"html": _svg(*v), "size": [v[2], v[2]]} for k, v in TIER_STYLE.items()}


# --------------------------------------------------------------------------------------------
# text helpers


def _e(value: object) -> str:
    """HTML-escape any value (quotes included)."""
    return html.escape(str(value), quote=True)


def _d(value: object) -> str:
    """User data (a name, a code, a file) as escaped HTML marked not to be translated."""
    return f'<span translate="no">{_e(value)}</span>'


def _missing(value: object) -> bool:
    if value is None:
        return True
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


_ESTIMATE_WORDS = ("estimat", "centroid", "centre", "center", "approx", "assumed", "modelled",
                   "modeled", "areal", "imputed", "placeholder")


def is_estimate(source: object) -> bool:
    """True when a source description says the value is an estimate or an approximation.

    Parameters
    ----------
    source : object
        A ``*_source`` value, e.g. ``"estimate: province total x area share"`` or
        ``"commune centroid"``.

    Returns
    -------
    bool
    """
    if _missing(source):
        return False
    text = str(source).lower()
    return any(w in text for w in _ESTIMATE_WORDS)


def _table(rows: Iterable[tuple[str, str]]) -> str:
    """Rows of (label, already-escaped html) as a small table; labels are escaped here."""
    body = "".join(f"<tr><th>{_e(k)}</th><td>{v}</td></tr>" for k, v in rows)
    return f'<table class="gis-pop">{body}</table>'


def _script_json(obj: object) -> str:
    """JSON safe to embed in an HTML ``<script>``: no ``</script>``, no HTML entities."""
    text = json.dumps(obj, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return (
        text.replace("<", "\\u003c")
        .replace(">", "\\u003e")
        .replace("&", "\\u0026")
        .replace("\u2028", "\\u2028")
        .replace("\u2029", "\\u2029")
    )


# --------------------------------------------------------------------------------------------
# geometry for display


def _display_copy(gdf: gpd.GeoDataFrame, *, simplify_m: float, what: str) -> gpd.GeoDataFrame:
    """Copy of ``gdf`` simplified in metres and reprojected to EPSG:4326; no empty geometries."""
    if gdf.crs is None:
        msg = (
            f"{what}: layer has no CRS; declare it (GeoDataFrame.set_crs) before making maps, "
            f"normally the working CRS such as EPSG:32648"
        )
        raise OutputError(msg)
    out = gdf[gdf.geometry.notna() & ~gdf.geometry.is_empty].copy()
    dropped = len(gdf) - len(out)
    if dropped:
        log.warning("%s: %d feature(s) without geometry are not drawn", what, dropped)
    if out.empty:
        return out.to_crs(4326)
    if simplify_m > 0 and not out.geom_type.isin(["Point", "MultiPoint"]).all():
        metric = out if out.crs.is_projected else out.to_crs(out.estimate_utm_crs())
        geoms = metric.geometry.values
        is_poly = np.isin(metric.geom_type, ["Polygon", "MultiPolygon"])
        simplified = np.array(geoms, dtype=object)
        if is_poly.all() and _is_coverage(geoms):
            # keeps shared commune boundaries shared: no gaps or slivers between neighbours
            simplified = shapely.coverage_simplify(geoms, simplify_m)
        elif is_poly.all():
            simplified = shapely.simplify(geoms, simplify_m, preserve_topology=True)
        else:
            line_or_poly = ~np.isin(metric.geom_type, ["Point", "MultiPoint"])
            simplified[line_or_poly] = shapely.simplify(
                geoms[line_or_poly], simplify_m, preserve_topology=True
            )
        metric = metric.set_geometry(gpd.GeoSeries(simplified, index=metric.index,
                                                   crs=metric.crs))
        out = metric
    out = out.to_crs(4326)
    out = out.set_geometry(shapely.transform(out.geometry.values, lambda c: np.round(c, 5)))
    return out


def _is_coverage(geoms: np.ndarray) -> bool:
    """True when polygons form a valid coverage (no overlaps), so coverage_simplify applies."""
    try:
        return bool(shapely.coverage_is_valid(geoms))
    except Exception:  # noqa: BLE001 - GEOS without coverage support, or invalid input
        return False


def _feature(geom: shapely.Geometry, props: dict[str, Any]) -> dict[str, Any]:
    return {"type": "Feature", "geometry": shapely.geometry.mapping(geom), "properties": props}


def _union(geoms: np.ndarray) -> shapely.Geometry:
    try:
        return shapely.coverage_union_all(geoms)
    except Exception:  # noqa: BLE001 - overlapping cells: general union
        return shapely.union_all(geoms)


# --------------------------------------------------------------------------------------------
# map elements


class _GeoLayer(Layer):
    """A Leaflet GeoJSON overlay whose popups and tooltips are pre-escaped HTML.

    Each feature's properties carry only display data: ``s`` (path style), ``i`` (symbol key of
    :data:`TIER_STYLE`, points), ``c`` (circle-marker style, points), ``p`` (popup HTML) and
    ``t`` (tooltip HTML); per-plan layers also ``ss``, ``pp``, ``tt`` (one per plan).
    """

    _template = Template(
        """
        {% macro script(this, kwargs) %}
        var {{ this.get_name() }} = (function () {
            var icons = {{ this.icons_json }};
            return L.geoJSON({{ this.data_json }}, {
                style: function (f) { return f.properties.s || {}; },
                pointToLayer: function (f, latlng) {
                    var p = f.properties;
                    if (p.i && icons[p.i]) {
                        var ic = icons[p.i];
                        return L.marker(latlng, {icon: L.divIcon({
                            html: ic.html, className: "gis-icon", iconSize: ic.size,
                            iconAnchor: [ic.size[0] / 2, ic.size[1] / 2],
                            popupAnchor: [0, -ic.size[1] / 2]})});
                    }
                    return L.circleMarker(latlng, p.c || {radius: 5});
                },
                onEachFeature: function (f, layer) {
                    if (f.properties.p) { layer.bindPopup(f.properties.p, {maxWidth: 380}); }
                    if (f.properties.t) { layer.bindTooltip(f.properties.t, {sticky: true}); }
                }
            });
        })();
        {% endmacro %}
        """
    )

    def __init__(self, features: list[dict[str, Any]], *, name: str, show: bool = True,
                 control: bool = True):
        super().__init__(name=name, overlay=True, control=control, show=show)
        self._name = "GeoLayer"
        self.n_features = len(features)
        self.data_json = _script_json({"type": "FeatureCollection", "features": features})
        self.icons_json = _script_json(_icons()) if any(
            f["properties"].get("i") for f in features) else "{}"


class _GroupLayer(Layer):
    """An empty Leaflet layer group (filled by the plan selector)."""

    _template = Template(
        """
        {% macro script(this, kwargs) %}
        var {{ this.get_name() }} = L.layerGroup();
        {% endmacro %}
        """
    )

    def __init__(self, *, name: str, show: bool = True):
        super().__init__(name=name, overlay=True, control=True, show=show)
        self._name = "GroupLayer"


class _LabelLayer(Layer):
    """Permanent labels (commune names) at points, decluttered: after every zoom or move, a
    label that would overlap a label of a larger place is hidden."""

    _template = Template(
        """
        {% macro script(this, kwargs) %}
        var {{ this.get_name() }} = (function () {
            var group = L.layerGroup();
            var items = {{ this.items_json }};
            items.forEach(function (it) {
                group.addLayer(L.tooltip({permanent: true, direction: "center",
                    className: "gis-label", interactive: false, opacity: 1})
                    .setLatLng([it[1], it[0]]).setContent(it[2]));
            });
            return group;
        })();
        (function () {
            var map = {{ this._parent.get_name() }}, group = {{ this.get_name() }};
            function declutter() {
                if (!map.hasLayer(group)) { return; }
                var kept = [], box = map.getContainer().getBoundingClientRect();
                group.getLayers().forEach(function (t) {
                    var el = t.getElement();
                    if (!el) { return; }
                    el.style.visibility = "visible";
                    var r = el.getBoundingClientRect();
                    var inside = r.left >= box.left && r.right <= box.right &&
                                 r.top >= box.top && r.bottom <= box.bottom;
                    var clash = kept.some(function (k) {
                        return !(r.right + 2 < k.left || r.left - 2 > k.right ||
                                 r.bottom + 1 < k.top || r.top - 1 > k.bottom);
                    });
                    if (!inside || clash) { el.style.visibility = "hidden"; }
                    else { kept.push(r); }
                });
            }
            map.on("zoomend moveend overlayadd resize", function () {
                setTimeout(declutter, 0);
            });
            setTimeout(declutter, 0);
            window.gisDeclutter = declutter;
        })();
        {% endmacro %}
        """
    )

    def __init__(self, items: list[tuple[float, float, str]], *, name: str, show: bool = True):
        super().__init__(name=name, overlay=True, control=True, show=show)
        self._name = "LabelLayer"
        self.n_labels = len(items)
        self.items_json = _script_json([[round(x, 5), round(y, 5), t] for x, y, t in items])


class _PanelLayerControl(LayerControl):
    """Leaflet's layer control, moved into the side panel (so it never covers the map)."""

    _template = Template(
        """
        {% macro script(this,kwargs) %}
            var {{ this.get_name() }}_layers = {
                base_layers : {},
                overlays :  {
                    {%- for key, val in this.overlays.items() %}
                    {{ key|tojson }} : {{val}},
                    {%- endfor %}
                },
            };
            var {{ this.get_name() }} = L.control.layers(
                {{ this.get_name() }}_layers.base_layers,
                {{ this.get_name() }}_layers.overlays,
                {{ this.options|tojavascript }}
            ).addTo({{this._parent.get_name()}});
            (function () {
                var slot = document.getElementById("gis-layer-list");
                if (slot) { slot.appendChild({{ this.get_name() }}.getContainer()); }
            })();
        {% endmacro %}
        """
    )


class _Script(MacroElement):
    """A script run after the map and its layers exist (``{map}`` is the map's variable)."""

    _template = Template(
        """
        {% macro script(this, kwargs) %}
        {{ this.code }}
        {% endmacro %}
        """
    )

    def __init__(self, code: str):
        super().__init__()
        self._name = "GisScript"
        self.code = code

    def render(self, **kwargs):
        self.code = self.code.replace("{map}", self._parent.get_name())
        super().render(**kwargs)


_CSS = """
<style>
html,body{height:100%;margin:0;padding:0}
body{display:grid;grid-template-columns:minmax(0,1fr) 340px;
 grid-template-rows:auto minmax(0,1fr);height:100vh;font:13px/1.4 system-ui,-apple-system,
 "Segoe UI",Roboto,sans-serif;color:#222}
.gis-head{grid-column:1/3;grid-row:1;padding:6px 14px;background:#fff;
 border-bottom:1px solid #ccc;z-index:1100}
.gis-head h1{font-size:17px;line-height:1.3;margin:0;font-weight:600;overflow-wrap:anywhere}
.gis-head p{margin:1px 0 0;color:#555;font-size:12px;overflow-wrap:anywhere}
.folium-map{grid-column:1;grid-row:2;position:relative!important;width:100%!important;
 height:100%!important;left:0!important;top:0!important;min-height:0}
.gis-side{grid-column:2;grid-row:2;overflow-y:auto;overflow-x:hidden;background:#fafafa;
 border-left:1px solid #ccc;padding:8px 10px 16px;min-width:0}
@media (max-width:760px){body{grid-template-columns:minmax(0,1fr);
 grid-template-rows:auto 65vh auto;height:auto}.gis-side{grid-column:1;grid-row:3;
 border-left:none;border-top:1px solid #ccc}}
.gis-side h2{font-size:13px;margin:10px 0 4px;color:#333}
.gis-side h2:first-child{margin-top:0}
.gis-side h4{margin:6px 0 3px;font-size:12px}
.gis-side .leaflet-control-layers{position:static;float:none;clear:both;margin:0;
 box-shadow:none;border:1px solid #ddd;border-radius:4px;background:#fff}
.gis-side .leaflet-control-layers-expanded{padding:4px 8px}
.gis-side .leaflet-control-layers label{overflow-wrap:anywhere}
.gis-side summary{cursor:pointer}
.gis-side ul{margin:0;padding-left:16px}
.gis-side li{overflow-wrap:anywhere}
.gis-side select{width:100%;font:inherit;padding:3px}
.gis-key{display:flex;align-items:center;gap:6px;margin:2px 0}
.gis-key>span:last-child,.gis-key>:not(svg):not(.gis-sw):not(.gis-ln){min-width:0;
 overflow-wrap:anywhere}
.gis-sw{display:inline-block;width:18px;height:12px;border:1px solid #555;flex:none}
.gis-ln{flex:none}
.gis-icon{background:none;border:none}
.gis-est{background:#fff3cd;color:#7a5a00;border:1px solid #e0c26b;border-radius:3px;
 padding:0 3px;font-size:10px;font-weight:600}
.gis-src{color:#666;font-size:11px}
.gis-info{width:100%;border-collapse:collapse;font-size:12px;margin:4px 0;
 table-layout:fixed}
.gis-info th,.gis-info td{border-bottom:1px solid #e5e5e5;padding:2px 3px;
 text-align:right;overflow-wrap:anywhere}
.gis-info th:first-child,.gis-info td:first-child{text-align:left;width:46%}
table.gis-pop{border-collapse:collapse;font:12px system-ui,sans-serif}
table.gis-pop th{text-align:left;padding:1px 8px 1px 0;vertical-align:top;color:#444}
table.gis-pop td{padding:1px 0}
.gis-basenote{background:#fff8e1;border:1px solid #e0c26b;border-radius:4px;padding:4px 8px;
 font:12px/1.35 system-ui,sans-serif;max-width:300px}
.gis-label{background:rgba(255,255,255,.75);border:none;box-shadow:none;padding:0 3px;
 font:600 11px/1.2 system-ui,sans-serif;color:#1b4d2b;white-space:nowrap}
.gis-label:before{display:none}
.leaflet-container{background:#f2efe9}
</style>
"""


def _vendor_bytes(name: str) -> bytes:
    return (resources.files("gis") / "data" / name).read_bytes()


def _leaflet_inline() -> tuple[str, str]:
    """Leaflet's script and stylesheet from the vendored copies, images as data URIs."""
    js = _vendor_bytes("leaflet.js").decode("utf-8")
    js = re.sub(r"//# sourceMappingURL=\S+\s*$", "", js)
    css = _vendor_bytes("leaflet.css").decode("utf-8")

    def data_uri(match: re.Match[str]) -> str:
        png = _vendor_bytes(f"leaflet-{match.group(1)}.png")
        return "url(data:image/png;base64," + base64.b64encode(png).decode("ascii") + ")"

    css = re.sub(r"url\(images/([\w-]+)\.png\)", data_uri, css)
    # </script> / </style> cannot occur in Leaflet, but never let it end the element early
    js = js.replace("</script", "<\\/script")
    css = css.replace("</style", "<\\/style")
    return js, css


Sources = Sequence[str] | Mapping[str, str]


def _source_lines(sources: Sources | None) -> list[str]:
    """Sources as lines: a mapping gives "key: value" lines."""
    if not sources:
        return []
    if isinstance(sources, Mapping):
        return [f"{k}: {v}" for k, v in sources.items()]
    return [str(s) for s in sources]


class _MapBuilder:
    """Collects layers, legend entries and notes, then finishes one map."""

    def __init__(self, title: str, *, sources: Sources, estimate_notes: Sequence[str],
                 offline: bool, tiles: str | None, simplify_m: float, lang: str):
        self.L: Lang = get_lang(lang)
        self.title = title
        self.offline = offline
        if tiles == "auto":
            tiles = None if offline else "OpenStreetMap"
        self.tiles = tiles
        m = folium.Map(location=[18.3, 105.9], zoom_start=9, tiles=None, control_scale=False,
                       prefer_canvas=False, zoom_snap=0.25, zoom_delta=0.5)
        # instance copies: folium's class lists would otherwise be shared (and mutated)
        m.default_js = []
        m.default_css = []
        fig = m.get_root()
        fig.header.add_child(Element(f"<title>{_e(title)}</title>"), name="gis_title")
        fig.header.add_child(Element(f'<meta name="gis-lang" content="{self.L.code}">'),
                             name="gis_lang")
        js, css = _leaflet_inline()
        fig.header.add_child(Element(f"<style>{css}</style>"), name="leaflet_css_inline")
        fig.header.add_child(Element(f"<script>{js}</script>"), name="leaflet_inline")
        fig.header.add_child(Element(_CSS), name="gis_css")
        self.map = m
        self.sources = _source_lines(sources)
        self.estimate_html: list[str] = [self.L.text(s, html=True) for s in estimate_notes]
        self.legend: list[str] = []
        self.panel_top: list[str] = []
        self.simplify_m = simplify_m
        self.bounds: list[tuple[float, float, float, float]] = []
        self.layers: list[Layer] = []
        self.counts: dict[str, dict[str, Any]] = {}
        self.after: list[MacroElement] = []

    def note_estimate(self, label: str, source: object = None) -> None:
        """An estimate note: our ``label`` (in the map's language) and the ``source`` text of
        the data it comes from (translated when the catalog knows it)."""
        html_note = _e(label) + (f" ({self.L.text(source, html=True)})"
                                 if source is not None else "")
        if html_note not in self.estimate_html:
            self.estimate_html.append(html_note)

    def display(self, gdf: gpd.GeoDataFrame, what: str) -> gpd.GeoDataFrame:
        d = _display_copy(gdf, simplify_m=self.simplify_m, what=what)
        if not d.empty:
            self.bounds.append(tuple(d.total_bounds))
        return d

    def add(self, features: list[dict[str, Any]], name: str, count: str, *,
            show: bool = True, control: bool = True) -> _GeoLayer:
        """A layer named ``name (count)``: ``count`` says what the layer counts."""
        label = f"{name} ({count})"
        layer = _GeoLayer(features, name=_e(label), show=show, control=control)
        layer.add_to(self.map)
        self.layers.append(layer)
        if control:
            self.count(name, label, features, show=show)
        return layer

    def count(self, name: str, label: str, features: list[dict[str, Any]], *,
              show: bool) -> None:
        markers = sum(1 for f in features if f["properties"].get("i"))
        self.counts[name] = {"features": len(features), "markers": markers,
                             "paths": len(features) - markers, "show": show, "label": label}

    def legend_section(self, heading: str, items: Iterable[str],
                       layers: Sequence[Layer] = ()) -> None:
        """A legend section; with ``layers`` it shows only while one of them is on the map."""
        attr = (' data-layers="' + " ".join(layer.get_name() for layer in layers) + '"'
                if layers else "")
        self.legend.append(f"<div{attr}><h4>{_e(heading)}</h4>" + "".join(items) + "</div>")

    def finish(self) -> folium.Map:
        L = self.L
        m = self.map
        fig = m.get_root()
        fig.html.add_child(Element(f'<header class="gis-head"><h1>{_e(self.title)}</h1>'
                                   "</header>"), name="gis_h1")
        if self.tiles:
            folium.TileLayer(OSM_TILES if self.tiles == "OpenStreetMap" else self.tiles,
                             attr=_e(L._("© OpenStreetMap contributors")), control=False,
                             max_zoom=19).add_to(m)
        panel = list(self.panel_top)
        panel.append(f'<h2>{_e(L._("Layers"))}</h2><div id="gis-layer-list"></div>')
        if self.legend:
            panel.append(f'<h2>{_e(L._("Legend"))}</h2><div class="gis-legend">'
                         + "".join(self.legend) + "</div>")
        base = (L._("Basemap: none (made with --offline); the commune boundaries are the base.")
                if not self.tiles else
                L._("Basemap: OpenStreetMap, loaded from the internet; without a connection "
                    "the commune boundaries are the base."))
        notes = f"<p>{_e(base)}</p>"
        if self.sources:
            notes += f"<h4>{_e(L._('Data sources'))}</h4><ul>" + "".join(
                f"<li>{L.text(s, html=True)}</li>" for s in self.sources) + "</ul>"
        if self.estimate_html:
            notes += (f'<h4>{_e(L._("Estimates"))} <span class="gis-est">'
                      f'{_e(L._("estimate"))}</span></h4><ul>'
                      + "".join(f"<li>{s}</li>" for s in self.estimate_html) + "</ul>")
        lines = len(self.sources) + len(self.estimate_html)
        panel.append(f'<h2>{_e(L._("About this map"))}</h2><details'
                     f"{' open' if lines <= 6 else ''}><summary>"
                     f"{_e(L._('Data sources and estimates ({n})', n=L.num(lines)))}"
                     "</summary>" + notes + "</details>")
        fig.html.add_child(Element('<aside class="gis-side" id="gis-side">' + "".join(panel)
                                   + "</aside>"), name="gis_side")
        _Script(
            "L.control.scale({imperial: false, metric: true}).addTo({map});"
        ).add_to(m)
        note_off = L._("No basemap (made with --offline): the map shows the commune "
                       "boundaries and the data only.")
        note_fail = L._("The basemap could not load (no internet connection?): the map shows "
                        "the commune boundaries and the data only.")
        _Script(_BASENOTE_JS.replace("__TILES__", "true" if self.tiles else "false")
                .replace("__OFF__", _script_json(note_off))
                .replace("__FAIL__", _script_json(note_fail))).add_to(m)
        _PanelLayerControl(collapsed=False).add_to(m)
        for el in self.after:
            el.add_to(m)
        _Script(_LEGEND_JS).add_to(m)
        if self.bounds:
            b = np.array(self.bounds)
            m.fit_bounds([[b[:, 1].min(), b[:, 0].min()], [b[:, 3].max(), b[:, 2].max()]])
        # overlay name -> {"features", "markers" (icons), "paths" (vectors), "show", "label"}:
        # what a browser must draw; the tests check it
        m.gis_layers = dict(self.counts)  # type: ignore[attr-defined]
        return m


_BASENOTE_JS = """
(function () {
    var map = {map}, tiles = __TILES__;
    var c = L.control({position: "bottomleft"});
    c.onAdd = function () {
        var d = L.DomUtil.create("div", "gis-basenote");
        d.id = "gis-basenote";
        d.style.display = "none";
        L.DomEvent.disableClickPropagation(d);
        return d;
    };
    c.addTo(map);
    function say(text) {
        var d = document.getElementById("gis-basenote");
        d.textContent = text;
        d.style.display = "";
    }
    if (!tiles) { say(__OFF__); return; }
    map.eachLayer(function (l) {
        if (l instanceof L.TileLayer) {
            l.on("tileerror", function () { say(__FAIL__); });
        }
    });
})();
"""

_LEGEND_JS = """
(function () {
    var map = {map};
    // show a legend section only while one of its layers is on the map
    function refresh() {
        document.querySelectorAll(".gis-side [data-layers]").forEach(function (s) {
            var on = s.getAttribute("data-layers").split(" ").some(function (n) {
                var l = window[n];
                if (!l || !map.hasLayer(l)) { return false; }
                return !(l.getLayers && l.getLayers().length === 0);
            });
            s.style.display = on ? "" : "none";
        });
    }
    map.on("overlayadd overlayremove gisplan", refresh);
    refresh();
    setTimeout(refresh, 0);
    window.gisRefreshLegend = refresh;
})();
"""


def _swatch(color: str, label: str, *, line: bool = False, dash: str | None = None,
            opacity: float = 0.7) -> str:
    if line:
        stroke = f'stroke-dasharray="{dash}"' if dash else ""
        svg = (f'<svg width="26" height="8" class="gis-ln"><path d="M1 4H25" stroke="{color}" '
               f'stroke-width="3" {stroke}/></svg>')
        return f'<div class="gis-key">{svg}<span>{_e(label)}</span></div>'
    return (f'<div class="gis-key"><span class="gis-sw" style="background:{color};'
            f'opacity:{opacity}"></span><span>{_e(label)}</span></div>')


def _linked(item: str, layers: Sequence[Layer]) -> str:
    """Wrap a legend item so it shows only while one of ``layers`` is on the map."""
    names = " ".join(layer.get_name() for layer in layers)
    return f'<div data-layers="{names}">{item}</div>'


def _symbol_key(key: str, label: str) -> str:
    shape, color, size = TIER_STYLE[key]
    return f'<div class="gis-key">{_svg(shape, color, size)}<span>{_e(label)}</span></div>'


# --------------------------------------------------------------------------------------------
# layers


def _name(L: Lang, row: Mapping[str, Any]) -> object:
    """A facility's name as its register gives it; in English the register's ``name_en`` when
    it has one (a register in Vietnamese may carry English names beside)."""
    if L.code == "en" and not _missing(row.get("name_en")) and str(row.get("name_en")):
        return row["name_en"]
    return row.get("name", "")


def _commune_names(*layers: gpd.GeoDataFrame | None) -> dict[str, str]:
    names: dict[str, str] = {}
    for gdf in layers:
        if gdf is not None and {"commune_code", "commune_name"} <= set(gdf.columns):
            for code, name in zip(gdf["commune_code"], gdf["commune_name"], strict=False):
                if not _missing(code) and not _missing(name):
                    names.setdefault(str(code), str(name))
    return names


def _valued(L: Lang, value: object, source: object, *, digits: int = 0,
            unit: str = "") -> str:
    """A value with its source, 'unknown' where missing, and an estimate label."""
    if _missing(value):
        text = _e(L._("unknown"))
    else:
        text = _e(L.num(value, digits)) + (f" {_e(unit)}" if unit else "")
    if not _missing(source):
        text += f' <span class="gis-src">({L.text(source, html=True)})</span>'
        text += _est_tag(L, source)
    return text


def _est_tag(L: Lang, source: object) -> str:
    return f' <span class="gis-est">{_e(L._("estimate"))}</span>' if is_estimate(source) else ""


def _population_cell(L: Lang, row: Mapping[str, Any], field: str = "population") -> str:
    return _valued(L, row.get(field), row.get("population_source"))


def _communes_features(b: _MapBuilder, communes: gpd.GeoDataFrame, *, legacy: bool,
                       new_names: Mapping[str, str]) -> list[dict[str, Any]]:
    L = b.L
    what = "communes before 1 July 2025" if legacy else "communes after 1 July 2025"
    d = b.display(communes, what)
    color = "#807dba" if legacy else "#41ab5d"
    style = {"color": color, "weight": 1 if legacy else 1.6, "fillColor": color,
             "fillOpacity": 0.08, "dashArray": "4 3" if legacy else None}
    style = {k: v for k, v in style.items() if v is not None}
    feats = []
    for row, geom in zip(d.to_dict("records"), d.geometry, strict=True):
        rows = [(L._("Commune"), _d(row.get("commune_name", "")) if not _missing(
                    row.get("commune_name")) else _e(L._("unknown"))),
                (L._("Code"), _d(row.get("commune_code", "")))]
        if not legacy and not _missing(row.get("commune_type")):
            rows.append((L._("Type"), _d(row["commune_type"])))
        if legacy:
            if not _missing(row.get("district_name")):
                rows.append((L._("District (before 2025)"), _d(row["district_name"])))
            new = row.get("new_commune_code")
            if not _missing(new):
                label = new_names.get(str(new))
                rows.append((L._("Now part of"), _d(f"{label} ({new})" if label else new)))
        rows.append((L._("Population"), _population_cell(L, row)))
        if not _missing(row.get("geometry_source")):
            rows.append((L._("Boundary"), L.text(row["geometry_source"], html=True)
                         + _est_tag(L, row["geometry_source"])))
        tip = _d(row.get("commune_name", "")) + (
            f" ({_e(L._('population: estimate'))})"
            if is_estimate(row.get("population_source")) else "")
        if geom.geom_type in ("Point", "MultiPoint"):
            props = {"c": {"radius": 3, "color": color, "weight": 1, "fillOpacity": 0.6},
                     "p": _table(rows), "t": tip}
        else:
            props = {"s": style, "p": _table(rows), "t": tip}
        feats.append(_feature(geom, props))
    for src in sorted({str(s) for s in d.get("population_source", pd.Series(dtype=object))
                       if is_estimate(s)}):
        b.note_estimate(L._("Pre-2025 commune population: estimate") if legacy else
                        L._("Post-2025 commune population: estimate"), src)
    for src in sorted({str(s) for s in d.get("geometry_source", pd.Series(dtype=object))
                       if is_estimate(s)}):
        b.note_estimate(L._("Pre-2025 commune boundaries: estimate") if legacy else
                        L._("Post-2025 commune boundaries: estimate"), src)
    return feats


def _add_communes(b: _MapBuilder, communes: gpd.GeoDataFrame | None,
                  communes_legacy: gpd.GeoDataFrame | None, names: Mapping[str, str], *,
                  show_after: bool, show_before: bool, labels: bool = False) -> None:
    """Post- and pre-2025 communes as two switchable layers with their legend; with
    ``labels`` a third layer of commune names."""
    L = b.L
    keys, layers = [], []
    if communes is not None and not communes.empty:
        feats = _communes_features(b, communes, legacy=False, new_names=names)
        layer = b.add(feats, L._("Communes after 1 July 2025"),
                      L.ngettext("{n} commune", "{n} communes", len(feats)), show=show_after)
        keys.append(_linked(_swatch("#41ab5d", L._("commune after 1 July 2025"), opacity=0.5),
                            [layer]))
        layers.append(layer)
        if labels and "commune_name" in communes.columns:
            _add_commune_labels(b, communes)
    if communes_legacy is not None and not communes_legacy.empty:
        feats = _communes_features(b, communes_legacy, legacy=True, new_names=names)
        layer = b.add(feats, L._("Communes before 1 July 2025"),
                      L.ngettext("{n} commune", "{n} communes", len(feats)), show=show_before)
        keys.append(_linked(_swatch("#807dba", L._("commune before 1 July 2025 (dashed)"),
                                    opacity=0.5), [layer]))
        layers.append(layer)
    if keys:
        b.legend_section(L._("Communes"), keys, layers=layers)


def _add_commune_labels(b: _MapBuilder, communes: gpd.GeoDataFrame) -> None:
    """Commune names at a point inside each commune, larger places first (they win a clash)."""
    L = b.L
    g = communes[communes.geometry.notna() & ~communes.geometry.is_empty]
    pts = gpd.GeoSeries(shapely.point_on_surface(g.geometry.values), crs=g.crs).to_crs(4326)
    order = np.argsort(-(pd.to_numeric(g["population"], errors="coerce").fillna(0).to_numpy()
                         if "population" in g.columns else g.geometry.area.to_numpy()),
                       kind="stable")
    items = [(float(pts.x.iloc[i]), float(pts.y.iloc[i]), _d(g["commune_name"].iloc[i]))
             for i in order]
    name = L._("Commune names")
    label = f"{name} ({L.ngettext('{n} name', '{n} names', len(items))})"
    layer = _LabelLayer(items, name=_e(label), show=True)
    layer.add_to(b.map)
    b.counts[name] = {"features": len(items), "markers": 0, "paths": 0, "show": True,
                      "label": label, "labels": len(items)}


def _facility_popup(L: Lang, row: Mapping[str, Any], commune_names: Mapping[str, str],
                    extra: Sequence[tuple[str, str]] = ()) -> str:
    tier = row.get("tier")
    src = row.get("source")
    code = row.get("commune_code")
    commune = _e(L._("unknown"))
    if not _missing(code) and str(code):
        cname = commune_names.get(str(code))
        commune = _d(f"{cname} ({code})" if cname else code)
    tier_text = L._(_TIER_LABEL[_tier_key(tier)]) if not _missing(tier) else L._("unknown")
    rows = [
        (L._("Name"), _d(_name(L, row)) if not _missing(row.get("name"))
         else _e(L._("unknown"))),
        (L._("Tier"), _e(tier_text)),
        (L._("Commune"), commune),
        (L._("Beds"), _valued(L, row.get("beds"), row.get("beds_source", src))),
        (L._("Doctors"), _valued(L, row.get("doctors"), row.get("doctors_source", src))),
    ]
    if "nurses" in row:
        rows.append((L._("Nurses"), _valued(L, row.get("nurses"),
                                            row.get("nurses_source", src))))
    spec = row.get("specialty")
    if not _missing(spec) and str(spec):
        rows.append((L._("Specialty"), _e(", ".join(
            L._(_SPECIALTY[s.strip()]) if s.strip() in _SPECIALTY else s.strip()
            for s in re.split(r"[;,]", str(spec)) if s.strip()))))
    if not _missing(row.get("status")):
        st = str(row["status"])
        rows.append((L._("Status"), _e(L._(_STATUS[st])) if st in _STATUS else _d(st)))
    rows.extend(extra)
    loc = row.get("location_source")
    rows.append((L._("Location"), (L.text(loc, html=True) + _est_tag(L, loc))
                 if not _missing(loc) else _e(L._("unknown"))))
    rows.append((L._("Source"), L.text(src, html=True) if not _missing(src)
                 else _e(L._("unknown"))))
    rows.append((L._("ID"), _d(row.get("facility_id", ""))))
    return _table(rows)


def _tier_key(tier: object) -> str:
    t = "" if _missing(tier) else str(tier).lower()
    return t if t in TIER_STYLE and t in _TIER_LABEL else "other"


def _facility_features(b: _MapBuilder, d: gpd.GeoDataFrame, commune_names: Mapping[str, str],
                       *, icon: Callable[[Mapping[str, Any]], str] | None = None,
                       extra: Callable[[Mapping[str, Any]], Sequence[tuple[str, str]]]
                       | None = None) -> list[dict[str, Any]]:
    L = b.L
    feats = []
    for row, geom in zip(d.to_dict("records"), d.geometry, strict=True):
        key = icon(row) if icon else _tier_key(row.get("tier"))
        tip = _d(_name(L, row)) + (
            f" ({_e(L._('site: estimate'))})" if is_estimate(row.get("location_source"))
            else "")
        props = {"i": key, "p": _facility_popup(L, row, commune_names,
                                                extra(row) if extra else ()), "t": tip}
        feats.append(_feature(geom.centroid if geom.geom_type != "Point" else geom, props))
    return feats


def _plan_station_features(L: Lang, d: gpd.GeoDataFrame, commune_names: Mapping[str, str], *,
                           icon: Callable[[Mapping[str, Any]], str],
                           extra: Callable[[Mapping[str, Any]], Sequence[tuple[str, str]]]
                           ) -> list[dict[str, Any]]:
    """A plan's stations with short popups (name, commune, action, ID): the same stations
    appear in every plan, so the full facility popup is left to the overview map."""
    feats = []
    for row, geom in zip(d.to_dict("records"), d.geometry, strict=True):
        code = row.get("commune_code")
        rows = [(L._("Name"), _d(_name(L, row))),
                (L._("Commune"), _d(f"{commune_names.get(str(code), '')} ({code})".strip())
                 if not _missing(code) else _e(L._("unknown"))),
                *extra(row), (L._("ID"), _d(row.get("facility_id", "")))]
        feats.append(_feature(geom.centroid if geom.geom_type != "Point" else geom,
                              {"i": icon(row), "p": _table(rows),
                               "t": _d(_name(L, row))}))
    return feats


def _note_sites(b: _MapBuilder, d: pd.DataFrame) -> None:
    """Estimate notes for facilities whose site is an estimate (e.g. a commune centroid), one
    per kind of estimate: the ``location_source`` text before its first ``;`` (the details of
    each site follow it)."""
    L = b.L
    src = d.get("location_source", pd.Series(dtype=object))
    est = src.map(is_estimate).astype(bool)
    kinds = src[est].astype(str).str.split(";").str[0].str.strip()
    for kind in sorted(set(kinds)):
        n = int((kinds == kind).sum())
        b.note_estimate(L._("Facility sites: {n} of {total} placed by estimate",
                            n=L.num(n), total=L.num(len(d))), kind)


def _tier_count(L: Lang, key: str, n: int) -> str:
    if key == "station":
        return L.ngettext("{n} station", "{n} stations", n)
    if key == "branch":
        return L.ngettext("{n} branch point", "{n} branch points", n)
    if key in ("central", "provincial", "regional"):
        return L.ngettext("{n} hospital", "{n} hospitals", n)
    return L.ngettext("{n} facility", "{n} facilities", n)


def _add_facilities_by_tier(b: _MapBuilder, facilities: gpd.GeoDataFrame,
                            commune_names: Mapping[str, str], *, show: bool = True) -> None:
    L = b.L
    d = b.display(facilities, "facilities")
    _note_sites(b, d)
    keys = d["tier"].map(_tier_key) if "tier" in d.columns else pd.Series("other", index=d.index)
    items, layers = [], []
    for key in _TIER_LABEL:
        part = d[keys == key]
        if part.empty:
            continue
        layer = b.add(_facility_features(b, part, commune_names), L._(_TIER_PLURAL[key]),
                      _tier_count(L, key, len(part)), show=show)
        layers.append(layer)
        items.append(_linked(_symbol_key(key, L._(_TIER_LABEL[key])), [layer]))
    b.legend_section(L._("Facilities"), items, layers=layers)


_BAND_PALETTE = ["#1a9850", "#91cf60", "#fee08b", "#fc8d59", "#d73027", "#a50026"]


def _time_bands(cells: gpd.GeoDataFrame, field: str, thresholds: Sequence[float], L: Lang
                ) -> tuple[gpd.GeoDataFrame, list[tuple[str, str]]]:
    """Dissolve demand cells into travel-time bands; returns the bands and (label, colour)."""
    breaks = sorted(float(t) for t in thresholds)
    colors = _BAND_PALETTE[: len(breaks)] + [_BAND_PALETTE[-1]]
    labels = [L._("≤ {t} min", t=_t(L, breaks[0]))]
    labels += [L._("{lo}–{hi} min", lo=_t(L, lo), hi=_t(L, hi))
               for lo, hi in zip(breaks[:-1], breaks[1:], strict=True)]
    labels.append(L._("> {t} min", t=_t(L, breaks[-1])))
    t = pd.to_numeric(cells[field], errors="coerce").to_numpy(dtype=float)
    band = np.searchsorted(np.array(breaks), t, side="left")  # t == threshold -> lower band
    band = np.where(np.isnan(t) | np.isinf(t), len(breaks) + 1, band)
    labels.append(L._("not reached (beyond the travel cut-off)"))
    colors.append("#6a51a3")
    rows = []
    pop = pd.to_numeric(cells["population"], errors="coerce") if "population" in cells else None
    grid = grid_view(cells, band) if len(cells) > MAX_UNION_UNITS else None
    for k, label in enumerate(labels):
        mask = band == k
        if not mask.any():
            continue
        if grid is not None:
            if k not in grid[0]:  # every piece of the band drawn in its cell's larger band
                continue
            geom = grid[0][k]
        else:
            geom = _union(cells.geometry.values[mask])
        rows.append({"band": k, "label": label, "color": colors[k], "cells": int(mask.sum()),
                     "population": float(pop[mask].sum()) if pop is not None else np.nan,
                     "geometry": geom})
    bands = gpd.GeoDataFrame(rows, geometry="geometry", crs=cells.crs) if rows else \
        gpd.GeoDataFrame({"geometry": []}, geometry="geometry", crs=cells.crs)
    if grid is not None:
        bands.attrs["drawn_on_grid"] = L._(
            "Drawn on the {size} m grid of demand cells: each grid cell whole, in the band of "
            "its largest piece ({cells} demand cells); people and counts are the cells' own",
            size=L.num(grid[1], 0), cells=L.num(len(cells), 0))
    return bands, list(zip(labels, colors, strict=True))


def grid_view(cells: gpd.GeoDataFrame, value: np.ndarray
               ) -> tuple[dict[int, shapely.Geometry], float] | None:
    """The demand grid drawn by value: per value, the grid cells whose largest piece has it,
    as polygons traced from a raster of the grid (a coarser view for display: a cell split
    between communes is drawn whole). Also the cell side (m). None when the units are not
    pieces of one square grid (whole cells as squares, every piece inside one cell)."""
    if cells.empty:
        return None
    geoms = cells.geometry.values
    grid = demand_grid(geoms)
    if grid is None:
        return None
    ix, iy, cs = grid
    area = shapely.area(geoms)
    # one value per grid cell: its largest piece's
    order = np.lexsort((-area, iy, ix))
    first = order[np.r_[True, (ix[order][1:] != ix[order][:-1])
                        | (iy[order][1:] != iy[order][:-1])]]
    x0, y1 = ix.min(), iy.max()
    raster = np.full((int(y1 - iy.min() + 1), int(ix.max() - x0 + 1)), 255, np.uint8)
    raster[y1 - iy[first], ix[first] - x0] = np.asarray(value)[first]
    # rasterio (already needed by the access stage's dissolve) traces the polygons
    from rasterio.features import shapes
    from rasterio.transform import Affine

    parts: dict[int, list] = {}
    for g, v in shapes(raster, mask=raster != 255,
                       transform=Affine(cs, 0.0, x0 * cs, 0.0, -cs, (y1 + 1) * cs)):
        parts.setdefault(int(v), []).append(shapely.geometry.shape(g))
    return {k: shapely.multipolygons(v) for k, v in parts.items()}, cs


def _t(L: Lang, minutes: float) -> str:
    """Minutes without a needless decimal (15, 7,5)."""
    return L.num(minutes, 0) if float(minutes).is_integer() else L.num(minutes, 1)


def _coverage_columns(coverage: gpd.GeoDataFrame) -> dict[str, str]:
    cols = {}
    for c in coverage.columns:
        if c == coverage.geometry.name or not pd.api.types.is_numeric_dtype(coverage[c]):
            continue
        if re.search(r"(share|pct|percent|covered|coverage)", c):
            cols[c] = c
    return cols


def _coverage_label(L: Lang, col: str) -> str:
    """``station_30min_share`` -> "people within 30 min of a commune health station"."""
    m = re.fullmatch(r"(station|regional|provincial)_([\d.]+)min_(share|pct)", col)
    if not m:
        return col.replace("_", " ")
    target = L._(_TARGET_LABEL[m.group(1)])
    return L._("people within {t} min of the {target}", t=_t(L, float(m.group(2))),
               target=target)


_COVERAGE_CLASSES = [(0.0, 0.5, "#f7fbff"), (0.5, 0.75, "#c6dbef"), (0.75, 0.9, "#6baed6"),
                     (0.9, 0.99, "#2171b5"), (0.99, 1.0001, "#08306b")]


def _coverage_color(share: float) -> str:
    if _missing(share):
        return "#bdbdbd"
    for lo, hi, color in _COVERAGE_CLASSES:
        if lo <= share < hi:
            return color
    return _COVERAGE_CLASSES[-1][2]


# --------------------------------------------------------------------------------------------
# public maps


def overview_map(
    communes: gpd.GeoDataFrame | Any | None = None,
    facilities: gpd.GeoDataFrame | None = None,
    *,
    communes_legacy: gpd.GeoDataFrame | None = None,
    title: str | None = None,
    sources: Sources = (),
    estimate_notes: Sequence[str] = (),
    offline: bool = False,
    tiles: str | None = "auto",
    simplify_m: float = 50.0,
    lang: str = "en",
) -> folium.Map:
    """Overview map: communes before and after 1 July 2025 with their names, facilities by
    tier.

    Parameters
    ----------
    communes : GeoDataFrame or gis.inputs.layers.Layers, optional
        Post-2025 communes (Polygon/MultiPolygon): ``commune_code``, ``commune_name``; optional
        ``commune_type``, ``population``, ``population_source``, ``geometry_source``.
    facilities : GeoDataFrame, optional
        Points: ``facility_id``, ``name``, ``tier``; optional ``commune_code``, ``beds``,
        ``doctors``, ``status``, ``specialty``, ``location_source``, ``source`` (and per-value
        ``beds_source``/``doctors_source``). NaN shows as "unknown".
    communes_legacy : GeoDataFrame, optional
        Pre-2025 communes (polygons or points): ``commune_code``, ``commune_name``; optional
        ``district_name``, ``new_commune_code``, ``population``, ``population_source``.
        Drawn as a layer switched off at start. When ``communes`` is a
        :class:`gis.inputs.layers.Layers`, its ``communes``, ``communes_legacy``,
        ``facilities`` and ``notes`` (estimate notes) are used.
    title : str, optional
        Map title (shown above the map and as the page title).
    sources : sequence of str or mapping
        Data sources, one line each (a mapping gives "key: value" lines).
    estimate_notes : sequence of str
        Which figures are estimates; notes derived from ``*_source`` fields are added.
    offline : bool, default False
        No basemap tiles (nothing is fetched; a note on the map says so).
    tiles : str or None, default "auto"
        Basemap: "auto" (OpenStreetMap unless ``offline``), a tile URL template, or None.
    simplify_m : float, default 50
        Simplification tolerance for display, in metres.
    lang : {"en", "vi"}
        Language of every text of the map.

    Returns
    -------
    folium.Map
        ``m.gis_layers`` maps each overlay name to its counts of features, markers (icons)
        and paths (vectors), whether it shows at start, and its label in the layer list.
    """
    if communes is not None and not isinstance(communes, pd.DataFrame):
        bundle = communes  # a gis.inputs.layers.Layers
        communes = bundle.communes
        facilities = facilities if facilities is not None else bundle.facilities
        if communes_legacy is None:
            communes_legacy = bundle.communes_legacy
        estimate_notes = [*estimate_notes, *getattr(bundle, "notes", [])]
    L = get_lang(lang)
    b = _MapBuilder(title or L._("Health facilities and communes"), sources=sources,
                    estimate_notes=estimate_notes, offline=offline, tiles=tiles,
                    simplify_m=simplify_m, lang=lang)
    names = _commune_names(communes, communes_legacy)
    _add_communes(b, communes, communes_legacy, names, show_after=True,
                  show_before=communes is None or communes.empty, labels=True)
    if facilities is not None and not facilities.empty:
        _add_facilities_by_tier(b, facilities, names)
    return b.finish()


def accessibility_map(
    cells: gpd.GeoDataFrame | None = None,
    *,
    coverage: gpd.GeoDataFrame | None = None,
    underserved: gpd.GeoDataFrame | None = None,
    facilities: gpd.GeoDataFrame | None = None,
    communes: gpd.GeoDataFrame | None = None,
    time_fields: Mapping[str, str] | None = None,
    thresholds_min: Mapping[str, Sequence[float]] | None = None,
    coverage_fields: Mapping[str, str] | None = None,
    title: str | None = None,
    sources: Sources = (),
    estimate_notes: Sequence[str] = (),
    offline: bool = False,
    tiles: str | None = "auto",
    simplify_m: float = 50.0,
    lang: str = "en",
) -> folium.Map:
    """Accessibility map: travel-time bands, coverage per commune, under-served areas.

    Parameters
    ----------
    cells : GeoDataFrame, optional
        Demand cells (Polygon) with a travel time in minutes per target tier, named by
        ``time_fields``; optional ``population`` (persons) and ``population_source``. NaN or
        inf means not reached within the cutoff. Cells are dissolved into bands for display.
    coverage : GeoDataFrame, optional
        Communes (polygons) with ``commune_name`` and one or more coverage columns: share
        (0..1) or percent (name ending ``_pct``) of the population within a threshold.
    underserved : GeoDataFrame, optional
        Under-served areas (polygons): ``population``; optional ``rank``, ``reasons`` (text or
        list), ``commune_name`` or ``commune_names``, ``population_source``,
        ``beyond_<tier>``.
    facilities : GeoDataFrame, optional
        Facilities (points) drawn by tier for reference.
    communes : GeoDataFrame, optional
        Post-2025 communes: the base of the map (boundaries).
    time_fields : mapping, optional
        Target tier -> travel-time column, default :data:`DEFAULT_TIME_FIELDS`; a column
        missing from ``cells`` is skipped with a log message.
    thresholds_min : mapping, optional
        Target tier -> band limits in minutes (inclusive), default
        :data:`DEFAULT_THRESHOLDS_MIN` (the config's ``[access.thresholds_min]``).
    coverage_fields : mapping, optional
        Coverage column -> label shown in the legend; default: numeric columns whose name
        contains share/pct/percent/covered/coverage.
    title, sources, estimate_notes, offline, tiles, simplify_m, lang
        As in :func:`overview_map`.

    Returns
    -------
    folium.Map
    """
    L = get_lang(lang)
    b = _MapBuilder(title or L._("Access to care: travel time and coverage"), sources=sources,
                    estimate_notes=estimate_notes, offline=offline, tiles=tiles,
                    simplify_m=simplify_m, lang=lang)
    names = _commune_names(communes, coverage)
    if communes is not None and not communes.empty:
        _add_communes(b, communes, None, names, show_after=True, show_before=False)
    fields = dict(DEFAULT_TIME_FIELDS if time_fields is None else time_fields)
    limits = {**DEFAULT_THRESHOLDS_MIN, **(thresholds_min or {})}
    first = True
    if cells is not None and not cells.empty:
        pop_est = "population_source" in cells and any(
            is_estimate(s) for s in cells["population_source"].unique())
        if pop_est:
            b.note_estimate(L._("Population of demand cells: estimate"),
                            "; ".join(sorted({str(s) for s in
                                              cells["population_source"].unique()
                                              if is_estimate(s)})))
        for target, field in fields.items():
            if field not in cells.columns:
                log.info("accessibility map: no column %r in the demand cells; %s skipped",
                         field, target)
                continue
            bands, key = _time_bands(cells, field, limits.get(target, (15, 30, 60)), L)
            d = b.display(bands, f"travel time to the {target}")
            label = L._(_TARGET_LABEL.get(target, "nearest commune health station"))
            feats = []
            for row, geom in zip(d.to_dict("records"), d.geometry, strict=True):
                pop = (_e(L._("unknown")) if _missing(row["population"]) else
                       _e(L.people(row["population"])) + (
                           f' <span class="gis-est">{_e(L._("estimate"))}</span>'
                           if pop_est else ""))
                rows = [(L._("Travel time to the {target}", target=label), _e(row["label"])),
                        (L._("People"), pop), (L._("Demand cells"), _e(L.num(row["cells"])))]
                feats.append(_feature(geom, {
                    "s": {"color": row["color"], "weight": 0.5, "fillColor": row["color"],
                          "fillOpacity": 0.6},
                    "p": _table(rows),
                    "t": _e(L._("{band} to the {target}", band=row["label"], target=label))}))
            people = float(pd.to_numeric(bands["population"], errors="coerce").sum()) \
                if len(bands) else 0.0
            layer = b.add(feats, L._("Travel time to the {target}", target=label),
                          L.ngettext("{n} band", "{n} bands", len(feats)) + ", "
                          + L.ngettext("{n} person", "{n} people", round(people)),
                          show=first)
            note = bands.attrs.get("drawn_on_grid")
            b.legend_section(L._("Travel time to the {target} (minutes)", target=label),
                             [_swatch(c, lab, opacity=0.75) for lab, c in key]
                             + ([f'<div class="gis-key">{_e(note)}</div>'] if note else []),
                             layers=[layer])
            first = False
    if coverage is not None and not coverage.empty:
        cols = dict(coverage_fields) if coverage_fields else _coverage_columns(coverage)
        d = b.display(coverage, "commune coverage")
        for col, label in cols.items():
            if col not in d.columns:
                log.info("accessibility map: no coverage column %r; skipped", col)
                continue
            label = _coverage_label(L, col) if label == col else label
            values = pd.to_numeric(d[col], errors="coerce")
            as_pct = col.endswith("_pct") or col.endswith("_percent") or values.max() > 1.0
            share = values / 100.0 if as_pct else values
            feats = []
            for row, geom, s in zip(d.to_dict("records"), d.geometry, share, strict=True):
                pct = _e(L._("unknown")) if _missing(s) else _e(L.pct(s))
                rows = [(L._("Commune"), _d(row.get("commune_name", ""))), (label, pct)]
                if "population" in row:
                    rows.append((L._("Population"), _population_cell(L, row)))
                color = _coverage_color(s)
                feats.append(_feature(geom, {
                    "s": {"color": "#555", "weight": 0.8, "fillColor": color,
                          "fillOpacity": 0.7},
                    "p": _table(rows),
                    "t": _d(row.get("commune_name", "")) + ": " + pct}))
            layer = b.add(feats, L._("Coverage per commune: {what}", what=label),
                          L.ngettext("{n} commune", "{n} communes", len(feats)), show=first)
            first = False
            b.legend_section(L._("Coverage per commune: {what}", what=label), [
                _swatch(c, f"{L.pct(lo, 0)}–{L.pct(min(hi, 1.0), 0)}")
                for lo, hi, c in _COVERAGE_CLASSES] + [_swatch("#bdbdbd", L._("unknown"))],
                layers=[layer])
    if underserved is not None and not underserved.empty:
        _add_underserved(b, underserved)
    if facilities is not None and not facilities.empty:
        _add_facilities_by_tier(b, facilities, names)
    return b.finish()


_REASON_TIER = {"station": N_("more than {t} min from a commune health station"),
                "regional": N_("more than {t} min from a regional hospital"),
                "provincial": N_("more than {t} min from a provincial hospital")}


def _add_underserved(b: _MapBuilder, underserved: gpd.GeoDataFrame,
                     rules_min: Mapping[str, float] | None = None) -> None:
    L = b.L
    d = b.display(underserved, "under-served areas")
    if "rank" in d.columns:
        d = d.sort_values("rank", kind="stable")
    rules = dict(rules_min or {"station": 30.0, "regional": 60.0})
    feats = []
    total = 0.0
    for row, geom in zip(d.to_dict("records"), d.geometry, strict=True):
        beyond = [(tier, row[f"beyond_{tier}"]) for tier in ("station", "regional", "provincial")
                  if not _missing(row.get(f"beyond_{tier}"))]
        if beyond:
            reasons_html = "<ul>" + "".join(
                f"<li>{_e(L._(_REASON_TIER[t], t=_t(L, rules.get(t, 30.0))))}: "
                f"{_e(L.ngettext('{n} person', '{n} people', round(v)))}</li>"
                for t, v in beyond if v > 0) + "</ul>"
        else:
            reasons = row.get("reasons")
            if isinstance(reasons, list | tuple | np.ndarray):
                reasons_html = "<ul>" + "".join(f"<li>{L.text(r, html=True)}</li>"
                                                for r in reasons) + "</ul>"
            else:
                reasons_html = (_e(L._("unknown")) if _missing(reasons)
                                else L.text(reasons, html=True))
        rank = row.get("rank")
        rows = [(L._("Rank"), _e(L._("unknown")) if _missing(rank) else _e(L.num(rank)))]
        where = row.get("commune_names", row.get("commune_name"))
        if not _missing(where):
            rows.append((L._("Communes"), _d(", ".join(str(where).split(";")))))
        rows += [(L._("People"), _population_cell(L, row)), (L._("Why"), reasons_html)]
        if not _missing(row.get("nearest_name")) and row.get("nearest_name"):
            rows.append((L._("Nearest facility"), _d(row["nearest_name"]) + (
                "" if _missing(row.get("nearest_time_min"))
                else " (" + _e(L.minutes(row["nearest_time_min"], 0)) + ")")))
        pop = row.get("population")
        total += 0.0 if _missing(pop) else float(pop)
        tip = L._("Under-served area") + ("" if _missing(rank) else f" #{_e(L.num(rank))}") + (
            ": " + _e(L.ngettext("{n} person", "{n} people", round(float(pop))))
            if not _missing(pop) else "")
        feats.append(_feature(geom, {
            "s": {"color": "#b30000", "weight": 2.5, "dashArray": "6 4",
                  "fillColor": "#e31a1c", "fillOpacity": 0.35},
            "p": _table(rows), "t": tip}))
    layer = b.add(feats, L._("Under-served areas"),
                  L.ngettext("{n} area", "{n} areas", len(feats)) + ", "
                  + L.ngettext("{n} person", "{n} people", round(total)))
    b.legend_section(L._("Under-served areas"),
                     [_swatch("#e31a1c", L._("under-served area (ranked by people)"),
                              opacity=0.5)], layers=[layer])
    if "population_source" in d.columns and any(is_estimate(s) for s in d["population_source"]):
        b.note_estimate(L._("Population of under-served areas: estimate"))


def _dissolve_by(gdf: gpd.GeoDataFrame, key: str | None) -> gpd.GeoDataFrame:
    """Cells dissolved into one area per value of ``key`` (one area when None), population
    summed, times averaged by population."""
    groups = [("", gdf)] if key is None or key not in gdf.columns else list(gdf.groupby(key))
    rows = []
    for value, part in groups:
        row: dict[str, Any] = {"geometry": _union(part.geometry.values), "cells": len(part)}
        if key:
            row[key] = value
        w = pd.to_numeric(part.get("population", pd.Series(0.0, index=part.index)),
                          errors="coerce").fillna(0)
        row["population"] = float(w.sum())
        for col in ("time_before_min", "time_after_min"):
            if col in part.columns:
                t = pd.to_numeric(part[col], errors="coerce")
                ok = t.notna() & np.isfinite(t) & (w > 0)
                row[col] = float((t[ok] * w[ok]).sum() / w[ok].sum()) if ok.any() else np.nan
        if "population_source" in part.columns:
            row["population_source"] = "; ".join(sorted({str(s) for s in
                                                         part["population_source"]
                                                         if not _missing(s)}))
        rows.append(row)
    return gpd.GeoDataFrame(rows, geometry="geometry", crs=gdf.crs)


# --------------------------------------------------------------------------------------------
# plans

_LOSS_CLASSES = [(0.0, 0.5, "#f7f7f7", "0"), (0.5, 100.0, "#fcbba1", "1–99"),
                 (100.0, 1000.0, "#fb6a4a", "100–999"), (1000.0, 5000.0, "#de2d26",
                                                          "1,000–4,999"),
                 (5000.0, math.inf, "#a50f15", "≥ 5,000")]


def _loss_color(v: float) -> str:
    if _missing(v):
        return "#bdbdbd"
    for lo, hi, color, _ in _LOSS_CLASSES:
        if lo <= v < hi:
            return color
    return _LOSS_CLASSES[-1][2]


def _loss_labels(L: Lang) -> list[str]:
    return [L.num(0), f"{L.num(1)}–{L.num(99)}", f"{L.num(100)}–{L.num(999)}",
            f"{L.num(1000)}–{L.num(4999)}", f"≥ {L.num(5000)}"]


def _plan_name(L: Lang, name: str, kind: str, figures: Mapping[str, Any]) -> str:
    """A scenario's name in the language (built-in scenarios by their kind)."""
    n = figures.get("main_stations")
    n = L.num(n) if not _missing(n) else ""
    if kind == "today":
        return L._("{n} stations today", n=L.num(figures.get("service_points", 0)))
    if kind == "official":
        return L._("Official plan: {n} stations + every other former station as a branch point",
                   n=n)
    if kind == "official_only":
        return L._("Official plan without branch points: {n} stations only", n=n)
    if kind == "best_main":
        return L._("{n} stations, the best main station in each commune", n=n)
    if kind == "fewest_branches":
        t = re.search(r"T = ([\d.]+) min", name)
        return L._("{n} stations + the fewest branch points keeping today's {t}-min access",
                   n=n, t=_t(L, float(t.group(1))) if t else "30")
    if kind == "p_median":
        return L._("{n} best sites ignoring commune borders (p-median, a benchmark)", n=n)
    return name


def _plan_short(L: Lang, name: str, kind: str, figures: Mapping[str, Any]) -> str:
    """A short name of a scenario (for lists, chart labels and the console)."""
    n = figures.get("main_stations")
    n = L.num(n) if not _missing(n) else ""
    if kind == "today":
        return L._("Today: {n} stations", n=L.num(figures.get("service_points", 0)))
    if kind == "official":
        return L._("Official: {n} + all branch points", n=n)
    if kind == "official_only":
        return L._("Official, no branch points: {n}", n=n)
    if kind == "best_main":
        return L._("{n}, best main stations", n=n)
    if kind == "fewest_branches":
        return L._("{n} + {b} branch points (fewest)", n=n,
                   b=L.num(figures.get("actions_branch", figures.get("branch_points", 0))))
    if kind == "p_median":
        return L._("{n} best sites (p-median)", n=n)
    return name


def plan_display_name(name: str, kind: str, figures: Mapping[str, Any], *,
                      lang: str = "en", short: bool = False) -> str:
    """The name of a scenario as the maps and the report show it in ``lang`` (built-in
    scenarios by their ``scenario_kind``; plan files by their own name); ``short`` for lists
    and chart labels."""
    L = get_lang(lang)
    return (_plan_short if short else _plan_name)(L, name, kind, figures)


def _plan_info(L: Lang, view: Mapping[str, Any], official: Mapping[str, Any] | None,
               thr: float) -> str:
    """A small table of the plan's figures beside the official plan's."""
    f = view.get("figures") or {}
    if not f:
        return ""
    k = f"{thr:g}min"
    cols = [f]
    heads = [L._("this plan")]
    if official is not None and official is not f:
        cols.append(official)
        heads.append(L._("official plan"))

    def row(label: str, key: str, fmt: Callable[[Any], str]) -> str:
        cells = "".join(f"<td>{_e(fmt(c.get(key)))}</td>" for c in cols)
        return f"<tr><td>{_e(label)}</td>{cells}</tr>"

    heads_html = "".join(f"<th>{_e(h)}</th>" for h in heads)
    rows = [
        row(L._("Main stations"), "main_stations", L.num),
        row(L._("Service points (stations + branch points)"), "service_points", L.num),
        row(L._("People within {t} min", t=_t(L, thr)), f"covered_{k}_share", L.pct),
        row(L._("People losing {t}-min access", t=_t(L, thr)), f"losing_{k}", L.people),
        row(L._("Mean travel time"), "mean_time_min", L.minutes),
        row(L._("Longest travel time"), "max_time_min", L.minutes),
    ]
    return (f'<table class="gis-info"><thead><tr><th></th>{heads_html}</tr></thead><tbody>'
            + "".join(rows) + "</tbody></table>")


def plan_map(
    plan: gpd.GeoDataFrame | None = None,
    *,
    plans: Sequence[Mapping[str, Any]] | None = None,
    communes: gpd.GeoDataFrame | None = None,
    communes_legacy: gpd.GeoDataFrame | None = None,
    losing_access: gpd.GeoDataFrame | None = None,
    hospitals: gpd.GeoDataFrame | None = None,
    action_field: str = "action",
    threshold_min: float = 30.0,
    title: str | None = None,
    sources: Sources = (),
    estimate_notes: Sequence[str] = (),
    offline: bool = False,
    tiles: str | None = "auto",
    simplify_m: float = 50.0,
    lang: str = "en",
    default: str | None = None,
) -> folium.Map:
    """Plan map: every plan on one map with a plan selector.

    For the chosen plan the map shows its main stations (kept or new), branch points, closed
    sites, the people who lose access within ``threshold_min`` and, per commune, how many;
    a small table beside the map compares the plan with the official plan. The page opens on
    ``default`` (a plan's name or slug; default the official plan, else the first) and on
    the plan named in the address (``plan.html#plan=<slug>``).

    Parameters
    ----------
    plan : GeoDataFrame, optional
        One plan's facilities (points): the facility columns of :func:`overview_map` plus
        ``action`` (keep, branch, close, new); optional ``target_facility_id`` /
        ``target_commune_code``. Used with ``losing_access`` when ``plans`` is not given.
    plans : sequence of mapping, optional
        The plans: ``name``, ``kind`` (see :data:`gis.analyses.plans.SCENARIO_KINDS`),
        ``slug``, ``stations`` (as ``plan``), ``losing_access`` (demand cells: ``population``,
        ``commune_code``, ``time_before_min``, ``time_after_min``), ``communes`` (per commune
        before and after, as the ``plan_<slug>_communes`` layers), ``figures`` (the plan's row
        of the scenario table).
    communes, communes_legacy : GeoDataFrame, optional
        Communes after and before 1 July 2025 (the base of the map).
    losing_access : GeoDataFrame, optional
        With ``plan``: areas whose people lose access (cells or communes).
    hospitals : GeoDataFrame, optional
        Other facilities (hospitals) for reference, drawn by tier.
    action_field : str, default "action"
        Column of the stations holding the action.
    threshold_min : float
        The station threshold the losses are counted at, minutes.
    title, sources, estimate_notes, offline, tiles, simplify_m, lang
        As in :func:`overview_map`.
    default : str, optional
        The plan shown first.

    Returns
    -------
    folium.Map
        ``m.gis_layers`` as in :func:`overview_map` (for the plan shown first);
        ``m.gis_plans`` the plans: name, slug, and per category the features drawn.
    """
    L = get_lang(lang)
    if plans is None:
        if plan is None:
            msg = "plan map: give plan= (one plan's stations) or plans= (several plans)"
            raise OutputError(msg)
        plans = [{"name": title or L._("Plan"), "kind": "user", "slug": "plan",
                  "stations": plan, "losing_access": losing_access, "figures": {}}]
    for v in plans:
        st = v.get("stations")
        if st is not None and action_field not in st.columns:
            msg = (f"plan map: the plan layer has no {action_field!r} column (found: "
                   f"{', '.join(map(str, st.columns))}); pass action_field=")
            raise OutputError(msg)
    b = _MapBuilder(title or L._("Consolidation plans: before and after"), sources=sources,
                    estimate_notes=estimate_notes, offline=offline, tiles=tiles,
                    simplify_m=simplify_m, lang=lang)
    names = _commune_names(communes, communes_legacy)
    _add_communes(b, communes, communes_legacy, names, show_after=True, show_before=False)
    official = next((v.get("figures") for v in plans if v.get("kind") == "official"), None)
    start = 0
    for i, v in enumerate(plans):
        if default is not None and default in (v.get("name"), v.get("slug")):
            start = i
            break
        if default is None and v.get("kind") == "official":
            start = i
    cats = {"kept": L._("Main stations (kept or new)"), "branch": L._("Branch points"),
            "closed": L._("Closed sites"), "losing": L._("People losing access")}
    groups = {k: _GroupLayer(name=k) for k in cats}
    per_plan: list[dict[str, Any]] = []
    for i, v in enumerate(plans):
        st = v.get("stations")
        entry: dict[str, Any] = {"name": _plan_name(L, v["name"], v.get("kind", "user"),
                                                    v.get("figures") or {}),
                                 "short": _plan_short(L, v["name"], v.get("kind", "user"),
                                                      v.get("figures") or {}),
                                 "slug": v.get("slug") or f"plan{i}", "layers": {},
                                 "labels": {}, "counts": {}}
        if st is not None and not st.empty:
            d = b.display(st, "plan")
            if i == start:
                _note_sites(b, d)
            action = d[action_field].astype(str).str.lower()
            unknown = sorted(set(action) - {"keep", "branch", "close", "new"})
            if unknown:
                log.warning("plan map: actions %s are not keep/branch/close/new; shown as kept",
                            ", ".join(unknown))
            ids = dict(zip(d.get("facility_id", []), d.get("name", []), strict=False))

            def extra(row: Mapping[str, Any], ids=ids) -> list[tuple[str, str]]:
                a = str(row.get(action_field, "")).lower()
                out = [(L._("Plan action"), _e(L._(_ACTION[a])) if a in _ACTION
                        else _d(row.get(action_field, "")))]
                tgt = row.get("target_facility_id")
                if not _missing(tgt):
                    out.append((L._("Served by"), _d(f"{ids.get(tgt, '')} ({tgt})".strip())))
                elif not _missing(row.get("target_commune_code")) and a != "close":
                    code = row["target_commune_code"]
                    out.append((L._("Station of commune"),
                                _d(f"{names.get(str(code), '')} ({code})".strip())))
                return out

            parts = {
                "kept": (d[~action.isin(["close", "branch"])],
                         lambda r: "new" if str(r.get(action_field)).lower() == "new"
                         else _tier_key(r.get("tier", "station"))),
                "branch": (d[action == "branch"], lambda r: "branch"),
                "closed": (d[action == "close"], lambda r: "closed"),
            }
            for k, (part, icon) in parts.items():
                feats = _plan_station_features(L, part, names, icon=icon, extra=extra)
                layer = b.add(feats, f"{cats[k]} {i}", "", show=False, control=False)
                entry["layers"][k] = layer.get_name()
                n = len(feats)
                entry["counts"][k] = {"features": n, "markers": n, "paths": 0}
                count = (L.ngettext("{n} station", "{n} stations", n) if k == "kept" else
                         L.ngettext("{n} branch point", "{n} branch points", n)
                         if k == "branch" else L.ngettext("{n} site", "{n} sites", n))
                entry["labels"][k] = f"{cats[k]} ({count})"
        lose = v.get("losing_access")
        lose_total = 0.0
        if lose is not None and not lose.empty:
            dissolved = _dissolve_by(lose, "commune_code")
            la = b.display(dissolved, "people losing access")
            est = "population_source" in la.columns and any(
                is_estimate(s) for s in la["population_source"])
            feats = []
            for row, geom in zip(la.to_dict("records"), la.geometry, strict=True):
                pop = row.get("population")
                lose_total += 0.0 if _missing(pop) else float(pop)
                code = row.get("commune_code")
                rows = [(L._("Commune"), _d(f"{names.get(str(code), '')} ({code})".strip())),
                        (L._("People losing {t}-min access", t=_t(L, threshold_min)),
                         _population_cell(L, row)),
                        (L._("Travel time before (mean)"),
                         _e(L.minutes(row.get("time_before_min")))),
                        (L._("Travel time after (mean)"),
                         _e(L.minutes(row.get("time_after_min")))),
                        (L._("Demand cells"), _e(L.num(row.get("cells"))))]
                tip = _e(L.ngettext("{n} person loses access", "{n} people lose access",
                                    round(float(pop or 0)))) + (
                    f" ({_e(L._('estimate'))})" if est else "")
                feats.append(_feature(geom, {"s": {"stroke": False, "fillColor": "#f768a1",
                                                   "fillOpacity": 0.6},
                                             "p": _table(rows), "t": tip}))
            layer = b.add(feats, f"{cats['losing']} {i}", "", show=False, control=False)
            entry["layers"]["losing"] = layer.get_name()
            entry["counts"]["losing"] = {"features": len(feats), "markers": 0,
                                         "paths": len(feats)}
            if est and i == start:
                b.note_estimate(L._("People losing access: population estimate"))
        else:
            entry["counts"]["losing"] = {"features": 0, "markers": 0, "paths": 0}
        entry["labels"]["losing"] = (
            f"{cats['losing']} ("
            + L.ngettext("{n} person", "{n} people", round(lose_total)) + ", "
            + L.ngettext("{n} commune", "{n} communes", entry["counts"]["losing"]["features"])
            + ")")
        entry["losing_population"] = lose_total
        user = v.get("kind", "user") == "user"  # a plan file: its name is data
        entry["data_name"] = user
        entry["info"] = (f"<h4>{_d(entry['name']) if user else _e(entry['name'])}</h4>"
                         + _plan_info(L, v, official if v.get("kind") != "official" else None,
                                      threshold_min))
        per_plan.append(entry)
    # per commune: people losing access under each plan (one polygon layer, restyled)
    ccol = f"losing_{threshold_min:g}min"
    com_views = [v.get("communes") for v in plans]
    change_layer = None
    if communes is not None and not communes.empty and any(
            c is not None and ccol in c.columns for c in com_views):
        d = b.display(communes, "commune change")
        feats = []
        for row, geom in zip(d.to_dict("records"), d.geometry, strict=True):
            code = str(row.get("commune_code"))
            ss, pp, tt = [], [], []
            for c in com_views:
                r = None
                if c is not None and ccol in c.columns:
                    hit = c[c["commune_code"].astype(str) == code]
                    r = hit.iloc[0].to_dict() if len(hit) else None
                lose_n = float(r[ccol]) if r is not None and not _missing(r.get(ccol)) \
                    else np.nan
                ss.append({"color": "#666", "weight": 0.6, "fillColor": _loss_color(lose_n),
                           "fillOpacity": 0.55})
                rows = [(L._("Commune"), _d(row.get("commune_name", code)))]
                if r is not None:
                    k = f"{threshold_min:g}min"
                    rows += [
                        (L._("People"), _e(L.people(r.get("population")))),
                        (L._("Within {t} min: today → plan", t=_t(L, threshold_min)),
                         _e(L.people(r.get(f"covered_{k}_before"))) + " → "
                         + _e(L.people(r.get(f"covered_{k}_after")))),
                        (L._("People losing {t}-min access", t=_t(L, threshold_min)),
                         _e(L.people(lose_n))),
                        (L._("Mean travel time: today → plan"),
                         _e(L.minutes(r.get("mean_time_before_min"))) + " → "
                         + _e(L.minutes(r.get("mean_time_after_min")))),
                        (L._("Service points: today → plan"),
                         _e(L.num(r.get("service_points_before"))) + " → "
                         + _e(L.num(r.get("service_points_after")))),
                    ]
                pp.append(_table(rows))
                tt.append(_d(row.get("commune_name", code)) + ": " + _e(L.ngettext(
                    "{n} person loses access", "{n} people lose access",
                    0 if _missing(lose_n) else round(lose_n))))
            feats.append(_feature(geom, {"s": ss[start], "p": pp[start], "t": tt[start],
                                         "ss": ss, "pp": pp, "tt": tt}))
        name = L._("People losing access per commune")
        change_layer = b.add(feats, name, L.ngettext("{n} commune", "{n} communes",
                                                     len(feats)), show=False)
        b.legend_section(name, [_swatch(c, lab, opacity=0.55) for (_, _, c, _), lab in
                                zip(_LOSS_CLASSES, _loss_labels(L), strict=True)],
                         layers=[change_layer])
    for k, g in groups.items():
        label = per_plan[start]["labels"].get(k, cats[k]) if per_plan else cats[k]
        g.layer_name = _e(label)
        g.add_to(b.map)
        c = per_plan[start]["counts"].get(k, {"features": 0, "markers": 0, "paths": 0}) \
            if per_plan else {"features": 0, "markers": 0, "paths": 0}
        b.counts[cats[k]] = {**c, "show": True, "label": label}
    b.legend_section(L._("Plan"), [
        _linked(_symbol_key("station", L._("main station kept (tier symbols for hospitals)")),
                [groups["kept"]]),
        _linked(_symbol_key("new", L._("new station")), [groups["kept"]]),
        _linked(_symbol_key("branch", L._("branch point: a former station kept as an "
                                          "outpost")), [groups["branch"]]),
        _linked(_symbol_key("closed", L._("closed site")), [groups["closed"]]),
        _linked(_swatch("#f768a1", L._("people losing access within {t} min",
                                       t=_t(L, threshold_min)), opacity=0.6),
                [groups["losing"]]),
    ], layers=list(groups.values()))
    options = "".join(f'<option value="{i}"{" selected" if i == start else ""}'
                      f'{" translate=" + chr(34) + "no" + chr(34) if p["data_name"] else ""}>'
                      f'{_e(p["short"])}</option>' for i, p in enumerate(per_plan))
    b.panel_top.append(
        f'<h2><label for="gis-plan-select">{_e(L._("Plan shown"))}</label></h2>'
        f'<select id="gis-plan-select">{options}</select>'
        f'<div id="gis-plan-info">{per_plan[start]["info"] if per_plan else ""}</div>')
    if hospitals is not None and not hospitals.empty:
        _add_facilities_by_tier(b, hospitals, names, show=True)
    js = (_PLAN_JS.replace("__PLANS__", _script_json([
        {"slug": p["slug"], "layers": p["layers"],
         "labels": {k: _e(v) for k, v in p["labels"].items()}, "info": p["info"]}
        for p in per_plan]))
        .replace("__GROUPS__", _script_json({k: g.get_name() for k, g in groups.items()}))
        .replace("__CHANGE__", _script_json(change_layer.get_name() if change_layer else ""))
        .replace("__START__", str(start)))
    b.after.append(_Script(js))
    m = b.finish()
    m.gis_plans = [{"name": p["name"], "slug": p["slug"], "counts": p["counts"],  # type: ignore[attr-defined]
                    "labels": p["labels"], "losing_population": p["losing_population"]}
                   for p in per_plan]
    return m


_PLAN_JS = """
(function () {
    var map = {map}, plans = __PLANS__, groupNames = __GROUPS__, change = __CHANGE__;
    var ctrl = null;
    for (var k in window) {
        try { if (window[k] instanceof L.Control.Layers) { ctrl = window[k]; } } catch (e) {}
    }
    var select = document.getElementById("gis-plan-select");
    function show(i) {
        var p = plans[i];
        Object.keys(groupNames).forEach(function (k) {
            var g = window[groupNames[k]];
            g.clearLayers();
            var lv = p.layers[k];
            if (lv && window[lv]) { g.addLayer(window[lv]); }
            if (ctrl) {
                ctrl._layers.forEach(function (o) { if (o.layer === g) { o.name = p.labels[k]; } });
            }
        });
        if (ctrl) { ctrl._update(); }
        if (change && window[change]) {
            window[change].eachLayer(function (l) {
                var f = l.feature.properties;
                l.setStyle(f.ss[i]);
                if (l.getPopup()) { l.setPopupContent(f.pp[i]); }
                if (l.getTooltip()) { l.setTooltipContent(f.tt[i]); }
            });
        }
        document.getElementById("gis-plan-info").innerHTML = p.info;
        select.value = String(i);
        window.gisPlan = p.slug;
        map.fire("gisplan");
    }
    select.addEventListener("change", function () { show(+select.value); });
    var start = __START__;
    var m = /plan=([\\w-]+)/.exec(location.hash || "");
    if (m) {
        plans.forEach(function (p, i) { if (p.slug === m[1]) { start = i; } });
    }
    window.gisShowPlan = show;
    show(start);
})();
"""


# --------------------------------------------------------------------------------------------
# network


def _curve(a: tuple[float, float], z: tuple[float, float], bend: float,
           n: int = 24) -> list[tuple[float, float]]:
    """A quadratic Bézier from ``a`` to ``z`` whose middle lies ``bend`` x the length to the
    left of the straight line (negative: to the right)."""
    ax, ay = a
    zx, zy = z
    dx, dy = zx - ax, zy - ay
    cx, cy = (ax + zx) / 2 - dy * bend * 2, (ay + zy) / 2 + dx * bend * 2
    t = np.linspace(0.0, 1.0, n)
    x = (1 - t) ** 2 * ax + 2 * (1 - t) * t * cx + t ** 2 * zx
    y = (1 - t) ** 2 * ay + 2 * (1 - t) * t * cy + t ** 2 * zy
    return list(zip(x.tolist(), y.tolist(), strict=True))


_DASHES = ["8 5", "2 5", "12 4 2 4", "4 4", "1 3"]


def _curved_edges(edges: gpd.GeoDataFrame, kind_field: str) -> gpd.GeoDataFrame:
    """Satellite links as curves (referral links stay straight): links sharing both ends bend
    by different amounts, so none hides another or a referral link along the same line."""
    out = edges.copy()
    kinds = out[kind_field].astype(str) if kind_field in out.columns else pd.Series(
        "link", index=out.index)
    curved = kinds.str.contains("satellite", case=False).to_numpy()
    if not curved.any():
        return out
    geoms = out.geometry.to_numpy().copy()
    seen: dict[tuple, int] = {}
    for i in np.flatnonzero(curved):
        g = geoms[i]
        if g is None or g.is_empty or g.geom_type != "LineString":
            continue
        coords = list(g.coords)
        a, z = coords[0][:2], coords[-1][:2]
        key = tuple(sorted([tuple(np.round(a, 1)), tuple(np.round(z, 1))]))
        k = seen.get(key, 0)
        seen[key] = k + 1
        # same direction for both kinds of a pair: alternate sides, growing with each link
        bend = (0.12 + 0.08 * (k // 2)) * (1 if k % 2 == 0 else -1)
        if "proposed" in kinds.iloc[i].lower():
            bend = -bend
        if a == z:
            continue
        geoms[i] = shapely.LineString(_curve(a, z, bend))
    out = out.set_geometry(gpd.GeoSeries(geoms, index=out.index, crs=out.crs))
    return out


def network_map(
    edges: gpd.GeoDataFrame | None = None,
    hubs: gpd.GeoDataFrame | None = None,
    *,
    facilities: gpd.GeoDataFrame | None = None,
    communes: gpd.GeoDataFrame | None = None,
    load_field: str = "load",
    load_label: str = "people behind",
    kind_field: str = "kind",
    title: str | None = None,
    sources: Sources = (),
    estimate_notes: Sequence[str] = (),
    offline: bool = False,
    tiles: str | None = "auto",
    simplify_m: float = 50.0,
    lang: str = "en",
) -> folium.Map:
    """Network map: referral and satellite links, hubs sized by load.

    Parameters
    ----------
    edges : GeoDataFrame, optional
        LineStrings with ``from_id``, ``to_id``, ``time_min``; optional ``kind`` (referral,
        satellite, proposed satellite: one layer each) and ``specialty``. Satellite links are
        drawn as curves, one dash pattern per specialty.
    hubs : GeoDataFrame, optional
        Points with ``facility_id`` or ``name`` and ``load`` (drawn with area proportional to
        load).
    facilities : GeoDataFrame, optional
        Facilities by tier, also used to name the ends of edges.
    communes : GeoDataFrame, optional
        Post-2025 communes: the base of the map.
    load_field : str, default "load"
        Hub column with the load.
    load_label : str, default "people behind"
        What the load counts (shown in popups and the legend; translated when the catalog
        knows it).
    kind_field : str, default "kind"
        Edge column splitting edges into layers.
    title, sources, estimate_notes, offline, tiles, simplify_m, lang
        As in :func:`overview_map`.

    Returns
    -------
    folium.Map
    """
    L = get_lang(lang)
    b = _MapBuilder(title or L._("Referral and satellite network"), sources=sources,
                    estimate_notes=estimate_notes, offline=offline, tiles=tiles,
                    simplify_m=simplify_m, lang=lang)
    load_text = L.text(load_label)
    names = _commune_names(communes)
    fac_names: dict[str, str] = {}
    if facilities is not None and {"facility_id", "name"} <= set(facilities.columns):
        fac_names = {str(r["facility_id"]): str(_name(L, r))
                     for r in facilities.drop(columns=facilities.geometry.name)
                     .to_dict("records")}
    _add_communes(b, communes, None, names, show_after=True, show_before=False)
    if edges is not None and not edges.empty:
        d = b.display(_curved_edges(edges, kind_field), "network edges")
        kinds = (d[kind_field].astype(str) if kind_field in d.columns
                 else pd.Series("link", index=d.index))
        colors = {"referral": "#08519c", "satellite": "#e6550d",
                  "proposed satellite": "#31a354"}
        others = ["#756bb1", "#636363"]
        specs = sorted({str(s) for s in d.get("specialty", pd.Series(dtype=object))
                        if not _missing(s) and str(s)})
        dash_of = {sp: _DASHES[i % len(_DASHES)] for i, sp in enumerate(specs)}
        keys, layers = [], []
        for n, kind in enumerate(sorted(kinds.unique())):
            part = d[kinds == kind]
            color = colors.get(kind, others[n % len(others)])
            satellite = "satellite" in kind.lower()
            feats = []
            for row, geom in zip(part.to_dict("records"), part.geometry, strict=True):
                a, z = str(row.get("from_id", "?")), str(row.get("to_id", "?"))
                an, zn = fac_names.get(a, a), fac_names.get(z, z)
                spec = row.get("specialty")
                rows = [(L._("Link"), _e(L._(_KIND_LABEL[kind])) if kind in _KIND_LABEL
                         else _d(kind)),
                        (L._("From"), _d(an)), (L._("To"), _d(zn))]
                if not _missing(spec) and str(spec):
                    rows.append((L._("Specialty"), _e(L._(_SPECIALTY[str(spec)]))
                                 if str(spec) in _SPECIALTY else _d(spec)))
                rows.append((L._("Travel time"), _e(L.minutes(row.get("time_min")))))
                if not _missing(row.get("gain")):
                    rows.append((L._("People brought within reach"),
                                 _e(L.people(row["gain"]))))
                style = {"color": color, "weight": 3 if satellite else 2.2,
                         "opacity": 0.85 if satellite else 0.7}
                if satellite:
                    style["dashArray"] = dash_of.get(str(spec), "8 5")
                feats.append(_feature(geom, {"s": style, "p": _table(rows),
                                             "t": _d(an) + " → " + _d(zn)}))
            label = L._(_KIND_LABEL[kind]) if kind in _KIND_LABEL else kind
            layer = b.add(feats, label, L.ngettext("{n} link", "{n} links", len(feats)))
            layers.append(layer)
            key = L._(_KIND_KEY[kind]) if kind in _KIND_KEY else kind
            if satellite and specs:
                for sp in specs:
                    if (part.get("specialty", pd.Series(dtype=object)).astype(str) == sp).any():
                        spn = L._(_SPECIALTY[sp]) if sp in _SPECIALTY else sp
                        keys.append(_linked(_swatch(color, f"{key}: {spn}", line=True,
                                                    dash=dash_of[sp]), [layer]))
            else:
                keys.append(_linked(_swatch(color, key, line=True,
                                            dash="8 5" if satellite else None), [layer]))
        b.legend_section(L._("Network"), keys, layers=layers)
    if facilities is not None and not facilities.empty:
        _add_facilities_by_tier(b, facilities, names)
    if hubs is not None and not hubs.empty:
        d = b.display(hubs, "hubs")
        load = (pd.to_numeric(d[load_field], errors="coerce") if load_field in d.columns
                else pd.Series(np.nan, index=d.index))
        top = float(load.max()) if load.notna().any() and load.max() > 0 else 1.0
        feats = []
        for row, geom, v in zip(d.to_dict("records"), d.geometry, load, strict=True):
            radius = 6.0 if _missing(v) else 6.0 + 22.0 * math.sqrt(max(float(v), 0.0) / top)
            name = row.get("name", fac_names.get(str(row.get("facility_id")),
                                                 row.get("facility_id", "")))
            rows = [(L._("Hub"), _d(name)), (load_text[:1].upper() + load_text[1:],
                                             _e(L.people(v)))]
            if not _missing(row.get("facility_id")):
                rows.append((L._("ID"), _d(row["facility_id"])))
            feats.append(_feature(geom.centroid if geom.geom_type != "Point" else geom, {
                "c": {"radius": round(radius, 1), "color": "#54278f", "weight": 2,
                      "fillColor": "#9e9ac8", "fillOpacity": 0.55},
                "p": _table(rows), "t": _d(name) + f": {_e(load_text)} {_e(L.people(v))}"}))
        layer = b.add(feats, L._("Hubs (circle area: {what})", what=load_text),
                      L.ngettext("{n} hospital", "{n} hospitals", len(feats)))
        b.legend_section(L._("Hubs: circle area proportional to {what}", what=load_text),
                         layers=[layer], items=[
            _hub_key(28.0, L._("{n} (largest)", n=L.people(top))),
            _hub_key(6.0 + 22.0 * math.sqrt(0.25), L.people(top / 4))])
    return b.finish()


@dataclass(frozen=True)
class ShareLayer:
    """One layer of :func:`share_map`: polygons coloured by a share (0..1).

    Attributes
    ----------
    data : GeoDataFrame
        Polygons in any declared CRS with the ``share_field`` column.
    name : str
        Layer name in the layer control.
    share_field : str
        Column of shares 0..1 (NaN: unknown, grey).
    legend : str
        Legend heading of the layer.
    popup : sequence of (label, column, kind)
        Popup rows; ``kind`` formats the value: ``text``, ``count`` (thousands separators),
        ``share`` (as %), ``minutes``.
    tooltip : str
        Column whose value heads the tooltip (followed by the share).
    show : bool
        Shown at start.
    """

    data: gpd.GeoDataFrame
    name: str
    share_field: str
    legend: str
    popup: Sequence[tuple[str, str, str]] = ()
    tooltip: str = ""
    show: bool = True
    line_weight: float = 0.8


def _popup_value(L: Lang, value: object, kind: str) -> str:
    if _missing(value):
        return _e(L._("unknown"))
    if kind == "share":
        return _e(L.pct(float(value)))  # type: ignore[arg-type]
    if kind == "count":
        return _e(L.num(value))
    if kind == "minutes":
        return _e(L.minutes(value))
    return _d(value)


def share_map(layers: Sequence[ShareLayer], *, title: str, sources: Sources = (),
              estimate_notes: Sequence[str] = (), offline: bool = False,
              tiles: str | None = "auto", simplify_m: float = 50.0,
              lang: str = "en") -> folium.Map:
    """Choropleth map of shares (e.g. coverage) over several polygon layers, one switchable
    layer each, with the coverage classes of :func:`accessibility_map` (used for the
    national map: provinces and communes coloured by coverage).

    Parameters
    ----------
    layers : sequence of ShareLayer
        Drawn in order; each gets its legend section (shown while the layer is on). Their
        names, legends and popup labels are the caller's (already in the map's language).
    title, sources, estimate_notes, offline, tiles
        As in :func:`overview_map`.
    simplify_m : float
        Display simplification in metres (polygons of a whole country need a few hundred
        metres to stay a few MB; the shares are not affected).
    lang : str
        Language of the map's own words and numbers ("vi" or "en").

    Returns
    -------
    folium.Map
    """
    b = _MapBuilder(title, sources=sources, estimate_notes=estimate_notes, offline=offline,
                    tiles=tiles, simplify_m=simplify_m, lang=lang)
    L = b.L
    for spec in layers:
        if spec.data is None or spec.data.empty:
            continue
        d = b.display(spec.data, spec.name)
        feats = []
        for row, geom in zip(d.to_dict("records"), d.geometry, strict=True):
            share = row.get(spec.share_field)
            share = np.nan if _missing(share) else float(share)
            rows = [(label, _popup_value(L, row.get(col), kind))
                    for label, col, kind in spec.popup]
            head = _d(row.get(spec.tooltip, "")) if spec.tooltip else ""
            feats.append(_feature(geom, {
                "s": {"color": "#555", "weight": spec.line_weight,
                      "fillColor": _coverage_color(share), "fillOpacity": 0.7},
                "p": _table(rows), "t": f"{head}: {_popup_value(L, share, 'share')}"}))
        layer = b.add(feats, spec.name, L.num(len(feats)), show=spec.show)
        b.legend_section(spec.legend, [
            _swatch(c, f"{L.pct(lo, 0)}–{L.pct(min(hi, 1.0), 0)}")
            for lo, hi, c in _COVERAGE_CLASSES] + [_swatch("#bdbdbd", L._("unknown"))],
            layers=[layer])
    return b.finish()


def _hub_key(radius: float, label: str) -> str:
    s = 2 * radius + 4
    return (f'<div class="gis-key"><svg width="{s:.0f}" height="{s:.0f}"><circle cx="{s / 2}" '
            f'cy="{s / 2}" r="{radius:.1f}" fill="#9e9ac8" fill-opacity=".55" stroke="#54278f" '
            f'stroke-width="2"/></svg><span>{_e(label)}</span></div>')


# --------------------------------------------------------------------------------------------
# writing


def map_html(m: folium.Map) -> str:
    """The complete HTML of a map (one self-contained page)."""
    text = m.get_root().render()
    lang = re.search(r'<meta name="gis-lang" content="(\w+)">', text)
    if lang:
        text = text.replace("<html>", f'<html lang="{lang.group(1)}">', 1)
    return text


def write_map(m: folium.Map, path: str | Path, *, overwrite: bool = False) -> Path:
    """Write a map as one HTML file, atomically.

    Parameters
    ----------
    m : folium.Map
        A map from this module.
    path : path-like
        Output ``.html`` file.
    overwrite : bool, default False
        Replace an existing file; otherwise raise :class:`~gis.errors.OutputError`.

    Returns
    -------
    pathlib.Path
    """
    text = map_html(m)
    size = len(text.encode("utf-8"))
    if size > MAX_MAP_BYTES:
        log.warning("%s is %.1f MB (over 5 MB): raise simplify_m to lighten it", path,
                    size / 1e6)
    return files.write_text(path, text, overwrite=overwrite)


def write_maps(
    folder: str | Path,
    *,
    province: str = "",
    communes: gpd.GeoDataFrame | None = None,
    communes_legacy: gpd.GeoDataFrame | None = None,
    facilities: gpd.GeoDataFrame | None = None,
    cells: gpd.GeoDataFrame | None = None,
    coverage: gpd.GeoDataFrame | None = None,
    underserved: gpd.GeoDataFrame | None = None,
    plan: gpd.GeoDataFrame | None = None,
    losing_access: gpd.GeoDataFrame | None = None,
    plans: Sequence[Mapping[str, Any]] | None = None,
    edges: gpd.GeoDataFrame | None = None,
    hubs: gpd.GeoDataFrame | None = None,
    time_fields: Mapping[str, str] | None = None,
    thresholds_min: Mapping[str, Sequence[float]] | None = None,
    load_label: str = "people behind",
    sources: Sources = (),
    estimate_notes: Sequence[str] = (),
    offline: bool = False,
    overwrite: bool = False,
    simplify_m: float = 50.0,
    lang: str = "en",
    plan_name: str = "",
) -> dict[str, Path]:
    """Build and write every map the given layers allow (for ``gis run``).

    Maps: ``overview.html`` (communes or facilities), ``access.html`` (cells, coverage or
    under-served), ``plan.html`` (``plans``, or ``plan`` with ``losing_access``),
    ``network.html`` (edges or hubs). All outputs are checked before any is written: nothing
    is written if one exists and ``overwrite`` is false.

    Parameters
    ----------
    folder : path-like
        Output folder (created when missing).
    province : str
        Province name for the titles.
    communes ... hubs : GeoDataFrame, optional
        Layers as described in :func:`overview_map`, :func:`accessibility_map`,
        :func:`plan_map` and :func:`network_map`.
    plans : sequence of mapping, optional
        Every evaluated plan (see :func:`plan_map`).
    plan_name : str
        The plan ``plan.html`` opens on (default: the official plan).
    time_fields, thresholds_min : mapping, optional
        Passed to :func:`accessibility_map`.
    load_label : str
        Passed to :func:`network_map`.
    sources : sequence of str or mapping
        Shown on every map.
    estimate_notes : sequence of str
        Shown on every map.
    offline : bool, default False
        No basemap (the maps open with no internet either way: Leaflet is inlined).
    overwrite : bool, default False
        Replace existing maps.
    simplify_m : float, default 50
        Display simplification in metres.
    lang : {"en", "vi"}
        Language of the maps.

    Returns
    -------
    dict of str to pathlib.Path
        Map key (overview, access, plan, network) -> written file.
    """
    def has(g: gpd.GeoDataFrame | None) -> bool:
        return g is not None and not g.empty

    L = get_lang(lang)
    where = f" — {province}" if province else ""
    common = {"sources": sources, "estimate_notes": estimate_notes, "offline": offline,
              "simplify_m": simplify_m, "lang": lang}
    builders: dict[str, Callable[[], folium.Map]] = {}
    if has(communes) or has(facilities) or has(communes_legacy):
        builders["overview"] = lambda: overview_map(
            communes, facilities, communes_legacy=communes_legacy,
            title=L._("Health facilities and communes") + where, **common)
    if has(cells) or has(coverage) or has(underserved):
        builders["access"] = lambda: accessibility_map(
            cells, coverage=coverage, underserved=underserved, facilities=facilities,
            communes=communes, time_fields=time_fields, thresholds_min=thresholds_min,
            title=L._("Access to care: travel time and coverage") + where, **common)
    if plans or has(plan):
        hospitals = None
        if has(facilities) and "tier" in facilities.columns:  # type: ignore[union-attr]
            hospitals = facilities[~facilities["tier"].isin(["station", "branch"])]  # type: ignore[index]
        thr = (thresholds_min or {}).get("station", (15, 30, 60))
        builders["plan"] = lambda: plan_map(
            plan, plans=plans, communes=communes, communes_legacy=communes_legacy,
            losing_access=losing_access, hospitals=hospitals,
            threshold_min=float(sorted(thr)[len(thr) // 2]), default=plan_name or None,
            title=L._("Consolidation plans: before and after") + where, **common)
    if has(edges) or has(hubs):
        builders["network"] = lambda: network_map(
            edges, hubs, facilities=facilities, communes=communes, load_label=load_label,
            title=L._("Referral and satellite network") + where, **common)
    folder = Path(folder)
    paths = {key: folder / f"{key}.html" for key in builders}
    files.check_writable(paths.values(), overwrite=overwrite)
    written = {}
    for key, build in builders.items():
        written[key] = write_map(build(), paths[key], overwrite=overwrite)
    return written


# --------------------------------------------------------------------------------------------
# for maps made in other output modules (gis.outputs.capacity): the builder (layers, legend,
# notes, layer control, offline Leaflet) and its helpers, under public names

MapBuilder = _MapBuilder
feature = _feature
swatch = _swatch
popup_table = _table
escape = _e


# --- shared with the other HTML pages (the plan editor, gis.outputs.editor) -------------------


def leaflet_inline() -> tuple[str, str]:
    """Leaflet's script and stylesheet from the copies vendored in ``gis/data``, images as data
    URIs, safe to place inside ``<script>`` and ``<style>``: for pages that open offline."""
    return _leaflet_inline()


def script_json(obj: object) -> str:
    """JSON safe to embed in an HTML ``<script>`` (no ``</script>``, no HTML entities)."""
    return _script_json(obj)
