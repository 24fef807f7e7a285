"""Interactive HTML maps (folium / Leaflet) of the layers and the analyses.

Four maps, each a :class:`folium.Map` that :func:`write_map` saves atomically:

- :func:`overview_map`: post-2025 and pre-2025 communes as switchable layers, facilities by tier.
- :func:`accessibility_map`: travel time to the nearest station and regional hospital, coverage
  per commune, under-served areas.
- :func:`plan_map`: a consolidation plan, before and after, closed sites, branch points and the
  people who lose access.
- :func:`network_map`: referral and satellite edges, hubs sized by load.

Every map has a layer control, a scale bar, a legend, a title, the data sources and the
estimate labels. Inputs are GeoDataFrames in any declared CRS (normally the projected working
CRS); a copy is simplified in metres and reprojected to EPSG:4326 for display, inputs are never
changed. All user text (names, sources, reasons) is HTML-escaped here: the maps do not use
folium's ``Popup``/``Tooltip``/``GeoJsonTooltip`` for user text, because those insert text
unescaped (``Popup`` even inside a JavaScript template literal). Feature data is embedded as JSON
with ``<``, ``>`` and ``&`` escaped, so no value can close the ``<script>`` element.

With ``offline=True`` Leaflet (the only script and stylesheet the maps use; tier symbols are
inline SVG) is inlined from the copies vendored in ``gis/data`` and no basemap is drawn unless
``tiles`` is given, so a map opens with no internet.
"""

from __future__ import annotations

import base64
import html
import json
import logging
import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from branca.element import Element, MacroElement
from folium.map import Layer
from folium.template import Template

from gis.errors import OutputError
from gis.outputs import files

log = logging.getLogger(__name__)

__all__ = [
    "DEFAULT_THRESHOLDS_MIN",
    "DEFAULT_TIME_FIELDS",
    "LEAFLET_VERSION",
    "TIER_STYLE",
    "MapBuilder",
    "accessibility_map",
    "is_estimate",
    "map_html",
    "network_map",
    "overview_map",
    "plan_map",
    "write_map",
    "write_maps",
]

LEAFLET_VERSION = "1.9.3"
_LEAFLET_CDN = f"https://cdn.jsdelivr.net/npm/leaflet@{LEAFLET_VERSION}/dist"
MAX_MAP_BYTES = 5 * 1024 * 1024
# Demand-cell layers with more features than this are dissolved before display.
MAX_DISPLAY_FEATURES = 1500

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
    "central": "Central hospital",
    "provincial": "Provincial hospital",
    "regional": "Regional general hospital",
    "station": "Commune health station",
    "branch": "Branch point (former station)",
}
_TIER_PLURAL = {
    "central": "Central hospitals",
    "provincial": "Provincial hospitals",
    "regional": "Regional general hospitals",
    "station": "Commune health stations",
    "branch": "Branch points (former stations)",
    "other": "Other facilities",
}
_TARGET_LABEL = {
    "station": "nearest commune health station",
    "regional": "nearest regional hospital",
    "provincial": "nearest provincial hospital",
}


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


def _est_tag(source: object) -> str:
    return ' <span class="gis-est">estimate</span>' if is_estimate(source) else ""


def _fmt_num(value: object, *, digits: int = 0) -> str:
    """Format a number with thousands separators; 'unknown' for NaN/None."""
    if _missing(value):
        return "unknown"
    try:
        v = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return _e(value)
    if math.isinf(v):
        return "not reached"
    return f"{v:,.{digits}f}"


def _table(rows: Iterable[tuple[str, str]]) -> str:
    """Rows of (label, already-escaped html) as a small table."""
    body = "".join(f"<tr><th>{_e(k)}</th><td>{v}</td></tr>" for k, v in rows)
    return f'<table class="gis-pop">{body}</table>'


def _valued(value: object, source: object, *, digits: int = 0, unit: str = "") -> str:
    """A value with its source, 'unknown' where missing, and an estimate label."""
    if _missing(value):
        text = "unknown"
    else:
        text = _fmt_num(value, digits=digits) + (f" {_e(unit)}" if unit else "")
    if not _missing(source):
        text += f' <span class="gis-src">({_e(source)})</span>{_est_tag(source)}'
    return text


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


# --------------------------------------------------------------------------------------------
# map elements


class _GeoLayer(Layer):
    """A Leaflet GeoJSON overlay whose popups and tooltips are pre-escaped HTML.

    Each feature's properties carry only display data: ``s`` (path style), ``i`` (symbol key of
    :data:`TIER_STYLE`, points), ``c`` (circle-marker style, points), ``p`` (popup HTML) and
    ``t`` (tooltip HTML).
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

    def __init__(self, features: list[dict[str, Any]], *, name: str, show: bool = True):
        super().__init__(name=name, overlay=True, control=True, show=show)
        self._name = "GeoLayer"
        self.n_features = len(features)
        self.data_json = _script_json({"type": "FeatureCollection", "features": features})
        self.icons_json = _script_json(_icons()) if any(
            f["properties"].get("i") for f in features) else "{}"


class _HtmlControl(MacroElement):
    """A Leaflet control holding trusted (already escaped) HTML."""

    _template = Template(
        """
        {% macro script(this, kwargs) %}
        (function () {
            var c = L.control({position: {{ this.position|tojson }}});
            c.onAdd = function () {
                var d = L.DomUtil.create("div", {{ this.css_class|tojson }});
                d.innerHTML = {{ this.html_json }};
                L.DomEvent.disableClickPropagation(d);
                L.DomEvent.disableScrollPropagation(d);
                return d;
            };
            var map = {{ this._parent.get_name() }};
            c.addTo(map);
            // show a legend section only while one of its layers is on the map
            function refresh() {
                c.getContainer().querySelectorAll("[data-layers]").forEach(function (s) {
                    var on = s.getAttribute("data-layers").split(" ").some(function (n) {
                        return window[n] && map.hasLayer(window[n]);
                    });
                    s.style.display = on ? "" : "none";
                });
            }
            map.on("overlayadd overlayremove", refresh);
            refresh();
            setTimeout(refresh, 0);
        })();
        {% endmacro %}
        """
    )

    def __init__(self, html_text: str, *, position: str, css_class: str):
        super().__init__()
        self._name = "HtmlControl"
        self.position = position
        self.css_class = css_class
        self.html_json = _script_json(html_text)


_CSS = """
<style>
.gis-title{position:absolute;top:10px;left:50%;transform:translateX(-50%);z-index:1000;
 background:rgba(255,255,255,.92);padding:6px 14px;border-radius:4px;font:600 16px/1.3
 system-ui,sans-serif;box-shadow:0 1px 4px rgba(0,0,0,.3);max-width:60%;text-align:center}
.gis-box{background:rgba(255,255,255,.93);padding:6px 10px;border-radius:4px;font:12px/1.35
 system-ui,sans-serif;box-shadow:0 1px 4px rgba(0,0,0,.3);max-width:330px;max-height:45vh;
 overflow:auto}
.gis-box h4{margin:4px 0 3px;font-size:12px}
.gis-box summary{cursor:pointer}
.gis-box ul{margin:0;padding-left:16px}
.gis-key{display:flex;align-items:center;gap:6px;margin:2px 0}
.gis-sw{display:inline-block;width:18px;height:12px;border:1px solid #555;flex:none}
.gis-ln{display:inline-block;width:22px;height:0;border-top:3px solid #555;flex:none}
.gis-icon{background:none;border:none}
.gis-est{background:#fff3cd;color:#7a5a00;border:1px solid #e0c26b;border-radius:3px;
 padding:0 3px;font-size:10px;font-weight:600}
.gis-src{color:#666;font-size:11px}
table.gis-pop{border-collapse:collapse;font:12px system-ui,sans-serif}
table.gis-pop th{text-align:left;padding:1px 8px 1px 0;vertical-align:top;color:#444}
table.gis-pop td{padding:1px 0}
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


def _new_map(title: str, *, offline: bool, tiles: str | None) -> folium.Map:
    """A folium map with only Leaflet as dependency, a title and the shared styles."""
    if tiles == "auto":
        tiles = None if offline else "OpenStreetMap"
    m = folium.Map(location=[18.3, 105.9], zoom_start=9, tiles=tiles, control_scale=True,
                   prefer_canvas=False)
    # instance copies: folium's class lists would otherwise be shared (and mutated) by all maps
    m.default_js = [] if offline else [("leaflet", f"{_LEAFLET_CDN}/leaflet.js")]
    m.default_css = [] if offline else [("leaflet_css", f"{_LEAFLET_CDN}/leaflet.css")]
    fig = m.get_root()
    fig.header.add_child(Element(f"<title>{_e(title)}</title>"), name="gis_title")
    if offline:
        js, css = _leaflet_inline()
        fig.header.add_child(Element(f"<style>{css}</style>"), name="leaflet_css_inline")
        fig.header.add_child(Element(f"<script>{js}</script>"), name="leaflet_inline")
    fig.header.add_child(Element(_CSS), name="gis_css")
    fig.html.add_child(Element(f'<div class="gis-title">{_e(title)}</div>'), name="gis_h1")
    return m


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
                 offline: bool, tiles: str | None, simplify_m: float):
        self.title = title
        self.map = _new_map(title, offline=offline, tiles=tiles)
        self.sources = _source_lines(sources)
        self.estimates: list[str] = [str(s) for s in estimate_notes]
        self.legend: list[str] = []
        self.simplify_m = simplify_m
        self.bounds: list[tuple[float, float, float, float]] = []
        self.layers: list[_GeoLayer] = []
        self.counts: dict[str, dict[str, Any]] = {}

    def note_estimate(self, text: str) -> None:
        if text not in self.estimates:
            self.estimates.append(text)

    def display(self, gdf: gpd.GeoDataFrame, what: str) -> gpd.GeoDataFrame:
        d = _display_copy(gdf, simplify_m=self.simplify_m, what=what)
        if not d.empty:
            self.bounds.append(tuple(d.total_bounds))
        return d

    def add(self, features: list[dict[str, Any]], name: str, *, show: bool = True) -> _GeoLayer:
        layer = _GeoLayer(features, name=_e(f"{name} ({len(features)})"), show=show)
        layer.add_to(self.map)
        self.layers.append(layer)
        markers = sum(1 for f in features if f["properties"].get("i"))
        self.counts[name] = {"features": len(features), "markers": markers,
                             "paths": len(features) - markers, "show": show}
        return layer

    def legend_section(self, heading: str, items: Iterable[str],
                       layers: Sequence[_GeoLayer] = ()) -> None:
        """A legend section; with ``layers`` it shows only while one of them is on the map."""
        attr = (' data-layers="' + " ".join(layer.get_name() for layer in layers) + '"'
                if layers else "")
        self.legend.append(f"<div{attr}><h4>{_e(heading)}</h4>" + "".join(items) + "</div>")

    def finish(self) -> folium.Map:
        m = self.map
        if self.legend:
            _HtmlControl("".join(self.legend), position="bottomright",
                         css_class="gis-box gis-legend").add_to(m)
        notes = ""
        if self.sources:
            notes += "<h4>Data sources</h4><ul>" + "".join(
                f"<li>{_e(s)}</li>" for s in self.sources) + "</ul>"
        if self.estimates:
            notes += ('<h4>Estimates <span class="gis-est">estimate</span></h4><ul>'
                      + "".join(f"<li>{_e(s)}</li>" for s in self.estimates) + "</ul>")
        if notes:
            # open at start unless long (then one click opens it)
            lines = len(self.sources) + len(self.estimates)
            notes = (f"<details{' open' if lines <= 6 else ''}><summary><b>Data sources and "
                     f"estimates ({lines})</b></summary>" + notes + "</details>")
            _HtmlControl(notes, position="bottomleft", css_class="gis-box gis-notes").add_to(m)
        folium.LayerControl(collapsed=False).add_to(m)
        if self.bounds:
            b = np.array(self.bounds)
            m.fit_bounds([[b[:, 1].min(), b[:, 0].min()], [b[:, 3].max(), b[:, 2].max()]])
        # overlay name -> {"features", "markers" (icons), "paths" (vectors), "show"}: what a
        # browser must draw; the tests check it
        m.gis_layers = dict(self.counts)  # type: ignore[attr-defined]
        return m


def _swatch(color: str, label: str, *, line: bool = False, dash: bool = False,
            opacity: float = 0.7) -> str:
    if line:
        style = f"border-top:3px {'dashed' if dash else 'solid'} {color}"
        return f'<div class="gis-key"><span class="gis-ln" style="{style}"></span>{_e(label)}</div>'
    return (f'<div class="gis-key"><span class="gis-sw" style="background:{color};'
            f'opacity:{opacity}"></span>{_e(label)}</div>')


def _linked(item: str, layers: Sequence[_GeoLayer]) -> str:
    """Wrap a legend item so it shows only while one of ``layers`` is on the map."""
    names = " ".join(layer.get_name() for layer in layers)
    return f'<div data-layers="{names}">{item}</div>'


def _symbol_key(key: str, label: str) -> str:
    shape, color, size = TIER_STYLE[key]
    return f'<div class="gis-key">{_svg(shape, color, size)}{_e(label)}</div>'


# --------------------------------------------------------------------------------------------
# layers


def _commune_names(*layers: gpd.GeoDataFrame | None) -> dict[str, str]:
    names: dict[str, str] = {}
    for gdf in layers:
        if gdf is not None and {"commune_code", "commune_name"} <= set(gdf.columns):
            for code, name in zip(gdf["commune_code"], gdf["commune_name"], strict=False):
                if not _missing(code) and not _missing(name):
                    names.setdefault(str(code), str(name))
    return names


def _population_cell(row: Mapping[str, Any], field: str = "population") -> str:
    return _valued(row.get(field), row.get("population_source"))


def _communes_features(b: _MapBuilder, communes: gpd.GeoDataFrame, *, legacy: bool,
                       new_names: Mapping[str, str]) -> list[dict[str, Any]]:
    what = "communes before 1 July 2025" if legacy else "communes after 1 July 2025"
    d = b.display(communes, what)
    color = "#807dba" if legacy else "#41ab5d"
    style = {"color": color, "weight": 1 if legacy else 1.6, "fillColor": color,
             "fillOpacity": 0.08, "dashArray": "4 3" if legacy else None}
    style = {k: v for k, v in style.items() if v is not None}
    feats = []
    for row, geom in zip(d.to_dict("records"), d.geometry, strict=True):
        rows = [("Commune", _e(row.get("commune_name", "unknown"))),
                ("Code", _e(row.get("commune_code", "unknown")))]
        if not legacy and not _missing(row.get("commune_type")):
            rows.append(("Type", _e(row["commune_type"])))
        if legacy:
            if not _missing(row.get("district_name")):
                rows.append(("District (before 2025)", _e(row["district_name"])))
            new = row.get("new_commune_code")
            if not _missing(new):
                label = new_names.get(str(new))
                rows.append(("Now part of", _e(f"{label} ({new})" if label else new)))
        rows.append(("Population", _population_cell(row)))
        if not _missing(row.get("geometry_source")):
            rows.append(("Boundary", _e(row["geometry_source"]) + _est_tag(row["geometry_source"])))
        tip = _e(row.get("commune_name", "")) + (
            _est_tag(row.get("population_source")) and " (population: estimate)")
        if geom.geom_type in ("Point", "MultiPoint"):
            props = {"c": {"radius": 3, "color": color, "weight": 1, "fillOpacity": 0.6},
                     "p": _table(rows), "t": tip}
        else:
            props = {"s": style, "p": _table(rows), "t": tip}
        feats.append(_feature(geom, props))
    for src in sorted({str(s) for s in d.get("population_source", pd.Series(dtype=object))
                       if is_estimate(s)}):
        b.note_estimate(f"{'Pre' if legacy else 'Post'}-2025 commune population: estimate ({src})")
    for src in sorted({str(s) for s in d.get("geometry_source", pd.Series(dtype=object))
                       if is_estimate(s)}):
        b.note_estimate(f"{'Pre' if legacy else 'Post'}-2025 commune boundaries: estimate ({src})")
    return feats


def _add_communes(b: _MapBuilder, communes: gpd.GeoDataFrame | None,
                  communes_legacy: gpd.GeoDataFrame | None, names: Mapping[str, str], *,
                  show_after: bool, show_before: bool) -> None:
    """Post- and pre-2025 communes as two switchable layers with their legend."""
    keys, layers = [], []
    if communes is not None and not communes.empty:
        layer = b.add(_communes_features(b, communes, legacy=False, new_names=names),
                      "Communes after 1 July 2025", show=show_after)
        keys.append(_linked(_swatch("#41ab5d", "commune after 1 July 2025", opacity=0.5),
                            [layer]))
        layers.append(layer)
    if communes_legacy is not None and not communes_legacy.empty:
        layer = b.add(_communes_features(b, communes_legacy, legacy=True, new_names=names),
                      "Communes before 1 July 2025", show=show_before)
        keys.append(_linked(_swatch("#807dba", "commune before 1 July 2025 (dashed)",
                                    opacity=0.5), [layer]))
        layers.append(layer)
    if keys:
        b.legend_section("Communes", keys, layers=layers)


def _facility_popup(row: Mapping[str, Any], commune_names: Mapping[str, str],
                    extra: Sequence[tuple[str, str]] = ()) -> str:
    tier = row.get("tier")
    src = row.get("source")
    code = row.get("commune_code")
    commune = "unknown"
    if not _missing(code):
        cname = commune_names.get(str(code))
        commune = _e(f"{cname} ({code})" if cname else code)
    rows = [
        ("Name", _e(row.get("name", "unknown"))),
        ("Tier", _e(_TIER_LABEL.get(str(tier), tier if not _missing(tier) else "unknown"))),
        ("Commune", commune),
        ("Beds", _valued(row.get("beds"), row.get("beds_source", src))),
        ("Doctors", _valued(row.get("doctors"), row.get("doctors_source", src))),
    ]
    if "nurses" in row:
        rows.append(("Nurses", _valued(row.get("nurses"), row.get("nurses_source", src))))
    if not _missing(row.get("status")):
        rows.append(("Status", _e(row["status"])))
    rows.extend(extra)
    loc = row.get("location_source")
    rows.append(("Location", (_e(loc) + _est_tag(loc)) if not _missing(loc) else "unknown"))
    rows.append(("Source", _e(src) if not _missing(src) else "unknown"))
    rows.append(("ID", _e(row.get("facility_id", "unknown"))))
    return _table(rows)


def _tier_key(tier: object) -> str:
    t = "" if _missing(tier) else str(tier).lower()
    return t if t in _TIER_LABEL else "other"


def _facility_features(b: _MapBuilder, d: gpd.GeoDataFrame, commune_names: Mapping[str, str],
                       *, icon: Callable[[Mapping[str, Any]], str] | None = None,
                       extra: Callable[[Mapping[str, Any]], Sequence[tuple[str, str]]]
                       | None = None) -> list[dict[str, Any]]:
    feats = []
    for row, geom in zip(d.to_dict("records"), d.geometry, strict=True):
        key = icon(row) if icon else _tier_key(row.get("tier"))
        tip = _e(row.get("name", "")) + (
            " (site: estimate)" if is_estimate(row.get("location_source")) else "")
        props = {"i": key, "p": _facility_popup(row, commune_names, extra(row) if extra else ()),
                 "t": tip}
        feats.append(_feature(geom.centroid if geom.geom_type != "Point" else geom, props))
    return feats


def _note_sites(b: _MapBuilder, d: pd.DataFrame, what: str = "Facility sites") -> None:
    """Estimate notes for facilities whose site is an estimate (e.g. a commune centroid)."""
    for src in sorted({str(s) for s in d.get("location_source", pd.Series(dtype=object))
                       if is_estimate(s)}):
        n = int((d["location_source"].astype(str) == src).sum())
        b.note_estimate(f"{what}: {n} of {len(d)} placed by estimate ({src})")


def _add_facilities_by_tier(b: _MapBuilder, facilities: gpd.GeoDataFrame,
                            commune_names: Mapping[str, str], *, show: bool = True) -> None:
    d = b.display(facilities, "facilities")
    _note_sites(b, d)
    keys = d["tier"].map(_tier_key) if "tier" in d.columns else pd.Series("other", index=d.index)
    items, layers = [], []
    for key in [*_TIER_LABEL, "other"]:
        part = d[keys == key]
        if part.empty:
            continue
        layer = b.add(_facility_features(b, part, commune_names), _TIER_PLURAL[key], show=show)
        layers.append(layer)
        items.append(_linked(_symbol_key(key, _TIER_LABEL.get(key, "Other")), [layer]))
    b.legend_section("Facilities", items, layers=layers)


def _time_bands(cells: gpd.GeoDataFrame, field: str, thresholds: Sequence[float]
                ) -> tuple[gpd.GeoDataFrame, list[tuple[str, str]]]:
    """Dissolve demand cells into travel-time bands; returns the bands and (label, colour)."""
    breaks = sorted(float(t) for t in thresholds)
    palette = ["#1a9850", "#91cf60", "#fee08b", "#fc8d59", "#d73027", "#a50026"]
    colors = palette[: len(breaks)] + [palette[-1]]
    labels = [f"≤ {breaks[0]:g} min"]
    labels += [f"{lo:g}–{hi:g} min" for lo, hi in zip(breaks[:-1], breaks[1:], strict=True)]
    labels.append(f"> {breaks[-1]:g} min")
    t = pd.to_numeric(cells[field], errors="coerce").to_numpy(dtype=float)
    band = np.searchsorted(np.array(breaks), t, side="left")  # t == threshold -> lower band
    band = np.where(np.isnan(t) | np.isinf(t), len(breaks) + 1, band)
    labels.append("not reached (beyond the travel cutoff)")
    colors.append("#6a51a3")
    rows = []
    pop = pd.to_numeric(cells["population"], errors="coerce") if "population" in cells else None
    for k, label in enumerate(labels):
        mask = band == k
        if not mask.any():
            continue
        geoms = cells.geometry.values[mask]
        try:
            geom = shapely.coverage_union_all(geoms)
        except Exception:  # noqa: BLE001 - overlapping cells: general union
            geom = shapely.union_all(geoms)
        rows.append({"band": k, "label": label, "color": colors[k], "cells": int(mask.sum()),
                     "population": float(pop[mask].sum()) if pop is not None else np.nan,
                     "geometry": geom})
    bands = gpd.GeoDataFrame(rows, geometry="geometry", crs=cells.crs) if rows else \
        gpd.GeoDataFrame({"geometry": []}, geometry="geometry", crs=cells.crs)
    return bands, list(zip(labels, colors, strict=True))


def _coverage_columns(coverage: gpd.GeoDataFrame) -> dict[str, str]:
    cols = {}
    for c in coverage.columns:
        if c == coverage.geometry.name or not pd.api.types.is_numeric_dtype(coverage[c]):
            continue
        if re.search(r"(share|pct|percent|covered|coverage)", c):
            cols[c] = c.replace("_", " ")
    return cols


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
    title: str = "Health facilities and communes",
    sources: Sources = (),
    estimate_notes: Sequence[str] = (),
    offline: bool = False,
    tiles: str | None = "auto",
    simplify_m: float = 50.0,
) -> folium.Map:
    """Overview map: communes before and after 1 July 2025, facilities by tier.

    Parameters
    ----------
    communes : GeoDataFrame or gis.inputs.layers.Layers, optional
        Post-2025 communes (Polygon/MultiPolygon): ``commune_code``, ``commune_name``; optional
        ``commune_type``, ``population``, ``population_source``, ``geometry_source``.
    facilities : GeoDataFrame, optional
        Points: ``facility_id``, ``name``, ``tier``; optional ``commune_code``, ``beds``,
        ``doctors``, ``status``, ``location_source``, ``source`` (and per-value
        ``beds_source``/``doctors_source``). NaN shows as "unknown".
    communes_legacy : GeoDataFrame, optional
        Pre-2025 communes (polygons or points): ``commune_code``, ``commune_name``; optional
        ``district_name``, ``new_commune_code``, ``population``, ``population_source``.
        Drawn as a layer switched off at start. When ``communes`` is a
        :class:`gis.inputs.layers.Layers`, its ``communes``, ``communes_legacy``, ``facilities`` and
        ``notes`` (estimate notes) are used.
    title : str
        Map title (shown on the map and as the page title).
    sources : sequence of str or mapping
        Data sources, one line each (a mapping gives "key: value" lines).
    estimate_notes : sequence of str
        Which figures are estimates; notes derived from ``*_source`` fields are added.
    offline : bool, default False
        Inline Leaflet from the vendored copy; no basemap unless ``tiles`` is given.
    tiles : str or None, default "auto"
        Basemap: "auto" (OpenStreetMap online, none offline), a folium tile name, or None.
    simplify_m : float, default 50
        Simplification tolerance for display, in metres.

    Returns
    -------
    folium.Map
        ``m.gis_layers`` maps each overlay name to its counts of features, markers (icons)
        and paths (vectors), and whether it shows at start.
    """
    if communes is not None and not isinstance(communes, pd.DataFrame):
        bundle = communes  # a gis.inputs.layers.Layers
        communes = bundle.communes
        facilities = facilities if facilities is not None else bundle.facilities
        if communes_legacy is None:
            communes_legacy = bundle.communes_legacy
        estimate_notes = [*estimate_notes, *getattr(bundle, "notes", [])]
    b = _MapBuilder(title, sources=sources, estimate_notes=estimate_notes, offline=offline,
                    tiles=tiles, simplify_m=simplify_m)
    names = _commune_names(communes, communes_legacy)
    _add_communes(b, communes, communes_legacy, names, show_after=True,
                  show_before=communes is None or communes.empty)
    if facilities is not None and not facilities.empty:
        _add_facilities_by_tier(b, facilities, names)
    return b.finish()


def accessibility_map(
    cells: gpd.GeoDataFrame | None = None,
    *,
    coverage: gpd.GeoDataFrame | None = None,
    underserved: gpd.GeoDataFrame | None = None,
    facilities: gpd.GeoDataFrame | None = None,
    time_fields: Mapping[str, str] | None = None,
    thresholds_min: Mapping[str, Sequence[float]] | None = None,
    coverage_fields: Mapping[str, str] | None = None,
    title: str = "Access to care: travel time",
    sources: Sources = (),
    estimate_notes: Sequence[str] = (),
    offline: bool = False,
    tiles: str | None = "auto",
    simplify_m: float = 50.0,
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
        list), ``commune_name``, ``population_source``.
    facilities : GeoDataFrame, optional
        Facilities (points) drawn by tier for reference.
    time_fields : mapping, optional
        Target tier -> travel-time column, default :data:`DEFAULT_TIME_FIELDS`; a column
        missing from ``cells`` is skipped with a log message.
    thresholds_min : mapping, optional
        Target tier -> band limits in minutes (inclusive), default
        :data:`DEFAULT_THRESHOLDS_MIN` (the config's ``[access.thresholds_min]``).
    coverage_fields : mapping, optional
        Coverage column -> label shown in the legend; default: numeric columns whose name
        contains share/pct/percent/covered/coverage.
    title, sources, estimate_notes, offline, tiles, simplify_m
        As in :func:`overview_map`.

    Returns
    -------
    folium.Map
    """
    b = _MapBuilder(title, sources=sources, estimate_notes=estimate_notes, offline=offline,
                    tiles=tiles, simplify_m=simplify_m)
    fields = dict(DEFAULT_TIME_FIELDS if time_fields is None else time_fields)
    limits = {**DEFAULT_THRESHOLDS_MIN, **(thresholds_min or {})}
    first = True
    if cells is not None and not cells.empty:
        pop_est = "population_source" in cells and any(
            is_estimate(s) for s in cells["population_source"].unique())
        if pop_est:
            b.note_estimate("Population of demand cells: estimate ("
                            + "; ".join(sorted({str(s) for s in cells["population_source"]
                                                if is_estimate(s)})) + ")")
        for target, field in fields.items():
            if field not in cells.columns:
                log.info("accessibility map: no column %r in the demand cells; %s skipped",
                         field, target)
                continue
            bands, key = _time_bands(cells, field, limits.get(target, (15, 30, 60)))
            d = b.display(bands, f"travel time to the {target}")
            label = _TARGET_LABEL.get(target, f"nearest {target}")
            feats = []
            for row, geom in zip(d.to_dict("records"), d.geometry, strict=True):
                pop = ("unknown" if _missing(row["population"]) else
                       _fmt_num(row["population"]) + (
                           ' <span class="gis-est">estimate</span>' if pop_est else ""))
                rows = [("Travel time to the " + label, _e(row["label"])),
                        ("Population", pop), ("Demand cells", _fmt_num(row["cells"]))]
                feats.append(_feature(geom, {
                    "s": {"color": row["color"], "weight": 0.5, "fillColor": row["color"],
                          "fillOpacity": 0.6},
                    "p": _table(rows),
                    "t": _e(f"{row['label']} to the {label}")}))
            layer = b.add(feats, f"Travel time to the {label}", show=first)
            b.legend_section(f"Travel time to the {label} (minutes)",
                             [_swatch(c, lab, opacity=0.75) for lab, c in key], layers=[layer])
            first = False
    if coverage is not None and not coverage.empty:
        cols = dict(coverage_fields) if coverage_fields else _coverage_columns(coverage)
        d = b.display(coverage, "commune coverage")
        for col, label in cols.items():
            if col not in d.columns:
                log.info("accessibility map: no coverage column %r; skipped", col)
                continue
            values = pd.to_numeric(d[col], errors="coerce")
            as_pct = col.endswith("_pct") or col.endswith("_percent") or values.max() > 1.0
            share = values / 100.0 if as_pct else values
            feats = []
            for row, geom, s in zip(d.to_dict("records"), d.geometry, share, strict=True):
                pct = "unknown" if _missing(s) else f"{100 * s:.1f} %"
                rows = [("Commune", _e(row.get("commune_name", "unknown"))),
                        (label, pct)]
                if "population" in row:
                    rows.append(("Population", _population_cell(row)))
                color = _coverage_color(s)
                feats.append(_feature(geom, {
                    "s": {"color": "#555", "weight": 0.8, "fillColor": color,
                          "fillOpacity": 0.7},
                    "p": _table(rows),
                    "t": _e(f"{row.get('commune_name', '')}: {pct}")}))
            layer = b.add(feats, f"Coverage per commune: {label}", show=first)
            first = False
            b.legend_section(f"Coverage per commune: {label} (% of population)", [
                _swatch(c, f"{100 * lo:.0f}–{min(100 * hi, 100):.0f} %")
                for lo, hi, c in _COVERAGE_CLASSES] + [_swatch("#bdbdbd", "unknown")],
                layers=[layer])
    if underserved is not None and not underserved.empty:
        _add_underserved(b, underserved)
    if facilities is not None and not facilities.empty:
        _add_facilities_by_tier(b, facilities, _commune_names(coverage))
    return b.finish()


def _add_underserved(b: _MapBuilder, underserved: gpd.GeoDataFrame) -> None:
    d = b.display(underserved, "under-served areas")
    if "rank" in d.columns:
        d = d.sort_values("rank", kind="stable")
    feats = []
    for row, geom in zip(d.to_dict("records"), d.geometry, strict=True):
        reasons = row.get("reasons")
        if isinstance(reasons, list | tuple | np.ndarray):
            reasons_html = "<ul>" + "".join(f"<li>{_e(r)}</li>" for r in reasons) + "</ul>"
        else:
            reasons_html = "unknown" if _missing(reasons) else _e(reasons)
        rank = row.get("rank")
        rows = [("Rank", "unknown" if _missing(rank) else _e(rank))]
        if not _missing(row.get("commune_name")):
            rows.append(("Commune", _e(row["commune_name"])))
        rows += [("Population", _population_cell(row)), ("Why", reasons_html)]
        tip = "Under-served" + ("" if _missing(rank) else f" #{_e(rank)}") + (
            f": {_fmt_num(row.get('population'))} people" if "population" in row else "")
        feats.append(_feature(geom, {
            "s": {"color": "#b30000", "weight": 2.5, "dashArray": "6 4",
                  "fillColor": "#e31a1c", "fillOpacity": 0.35},
            "p": _table(rows), "t": tip}))
    layer = b.add(feats, "Under-served areas")
    b.legend_section("Under-served areas", [_swatch("#e31a1c", "under-served (ranked)",
                                                    opacity=0.5)], layers=[layer])
    if "population_source" in d.columns and any(is_estimate(s) for s in d["population_source"]):
        b.note_estimate("Population of under-served areas: estimate")


def _dissolve_if_many(gdf: gpd.GeoDataFrame, what: str) -> gpd.GeoDataFrame:
    """Dissolve many small polygons (demand cells) into one feature with summed population."""
    polys = gdf.geom_type.isin(["Polygon", "MultiPolygon"]).all()
    if len(gdf) <= MAX_DISPLAY_FEATURES or not polys:
        return gdf
    log.info("%s: %d cells dissolved into one area for display", what, len(gdf))
    try:
        geom = shapely.coverage_union_all(gdf.geometry.values)
    except Exception:  # noqa: BLE001
        geom = shapely.union_all(gdf.geometry.values)
    row: dict[str, Any] = {"geometry": geom, "cells": len(gdf)}
    for col in ("population",):
        if col in gdf.columns:
            row[col] = float(pd.to_numeric(gdf[col], errors="coerce").sum())
    for col in ("time_before_min", "time_after_min"):
        if col in gdf.columns and "population" in gdf.columns:
            w = pd.to_numeric(gdf["population"], errors="coerce").fillna(0)
            t = pd.to_numeric(gdf[col], errors="coerce")
            ok = t.notna() & np.isfinite(t) & (w > 0)
            row[col] = float((t[ok] * w[ok]).sum() / w[ok].sum()) if ok.any() else np.nan
    if "population_source" in gdf.columns:
        row["population_source"] = "; ".join(sorted({str(s) for s in gdf["population_source"]
                                                     if not _missing(s)}))
    return gpd.GeoDataFrame([row], geometry="geometry", crs=gdf.crs)


def plan_map(
    plan: gpd.GeoDataFrame,
    *,
    communes: gpd.GeoDataFrame | None = None,
    communes_legacy: gpd.GeoDataFrame | None = None,
    losing_access: gpd.GeoDataFrame | None = None,
    hospitals: gpd.GeoDataFrame | None = None,
    action_field: str = "action",
    title: str = "Consolidation plan: before and after",
    sources: Sources = (),
    estimate_notes: Sequence[str] = (),
    offline: bool = False,
    tiles: str | None = "auto",
    simplify_m: float = 50.0,
) -> folium.Map:
    """Plan comparison map: stations before and after a plan, closed sites, branch points.

    Parameters
    ----------
    plan : GeoDataFrame
        Facilities of the plan (points): the facility columns of :func:`overview_map` plus
        ``action`` (keep, branch, close, new); optional ``target_facility_id`` /
        ``target_commune_code`` (who takes over a closed or branch site).
    communes, communes_legacy : GeoDataFrame, optional
        Communes after and before 1 July 2025 for context.
    losing_access : GeoDataFrame, optional
        Areas (cells or communes, polygons or points) whose people lose access under the plan:
        ``population``; optional ``time_before_min``, ``time_after_min``,
        ``population_source``. More than 1,500 cells are dissolved into one area.
    hospitals : GeoDataFrame, optional
        Other facilities (hospitals) for reference, drawn by tier.
    action_field : str, default "action"
        Column of ``plan`` holding the action.
    title, sources, estimate_notes, offline, tiles, simplify_m
        As in :func:`overview_map`.

    Returns
    -------
    folium.Map
    """
    if action_field not in plan.columns:
        msg = (f"plan map: the plan layer has no {action_field!r} column (found: "
               f"{', '.join(map(str, plan.columns))}); pass action_field=")
        raise OutputError(msg)
    b = _MapBuilder(title, sources=sources, estimate_notes=estimate_notes, offline=offline,
                    tiles=tiles, simplify_m=simplify_m)
    names = _commune_names(communes, communes_legacy)
    _add_communes(b, communes, communes_legacy, names, show_after=True, show_before=False)
    d = b.display(plan, "plan")
    _note_sites(b, d, "Plan sites")
    action = d[action_field].astype(str).str.lower()
    ids = dict(zip(d.get("facility_id", []), d.get("name", []), strict=False))

    def extra(row: Mapping[str, Any]) -> list[tuple[str, str]]:
        out = [("Plan action", _e(row.get(action_field, "unknown")))]
        tgt = row.get("target_facility_id")
        if not _missing(tgt):
            out.append(("Served by", _e(f"{ids.get(tgt, '')} ({tgt})".strip())))
        elif not _missing(row.get("target_commune_code")):
            code = row["target_commune_code"]
            out.append(("Joins commune", _e(f"{names.get(str(code), '')} ({code})".strip())))
        return out

    def tier_icon(row: Mapping[str, Any]) -> str:
        return _tier_key(row.get("tier", "station"))

    unknown = sorted(set(action) - {"keep", "branch", "close", "new"})
    if unknown:
        log.warning("plan map: actions %s are not keep/branch/close/new; shown as kept",
                    ", ".join(unknown))
    before = d[action != "new"]
    after = d[~action.isin(["close", "branch", "new"])]
    new = d[action == "new"]
    branch = d[action == "branch"]
    closed = d[action == "close"]
    l_before = b.add(_facility_features(b, before, names, icon=tier_icon, extra=extra),
                     "Before: facilities today", show=False)
    l_after = b.add(_facility_features(b, after, names, icon=tier_icon, extra=extra)
                    + _facility_features(b, new, names, icon=lambda r: "new", extra=extra),
                    "After: stations kept or new")
    l_branch = b.add(_facility_features(b, branch, names, icon=lambda r: "branch", extra=extra),
                     "After: branch points")
    l_closed = b.add(_facility_features(b, closed, names, icon=lambda r: "closed", extra=extra),
                     "Closed sites")
    b.legend_section("Plan", [
        _linked(_symbol_key("station", f"station today ({len(before)}, tier symbols)"),
                [l_before]),
        _linked(_symbol_key("station", f"kept station ({len(after)})"), [l_after]),
        _linked(_symbol_key("new", f"new station ({len(new)})"), [l_after]),
        _linked(_symbol_key("branch", f"branch point: former station kept as outpost "
                                      f"({len(branch)})"), [l_branch]),
        _linked(_symbol_key("closed", f"closed site ({len(closed)})"), [l_closed]),
    ], layers=[l_before, l_after, l_branch, l_closed])
    if losing_access is not None and not losing_access.empty:
        la = b.display(_dissolve_if_many(losing_access, "people losing access"),
                       "people losing access")
        feats = []
        total = 0.0
        est = "population_source" in la.columns and any(
            is_estimate(s) for s in la["population_source"])
        for row, geom in zip(la.to_dict("records"), la.geometry, strict=True):
            pop = row.get("population")
            total += 0.0 if _missing(pop) else float(pop)
            rows = [("People losing access", _population_cell(row))]
            if "time_before_min" in row or "time_after_min" in row:
                rows.append(("Travel time before", _valued(row.get("time_before_min"), None,
                                                           digits=1, unit="min")))
                rows.append(("Travel time after", _valued(row.get("time_after_min"), None,
                                                          digits=1, unit="min")))
            if not _missing(row.get("cells")):
                rows.append(("Demand cells", _fmt_num(row["cells"])))
            tip = f"{_fmt_num(pop)} people lose access" + (" (estimate)" if est else "")
            if geom.geom_type in ("Point", "MultiPoint"):
                props = {"c": {"radius": 6, "color": "#7a0177", "fillColor": "#f768a1",
                               "fillOpacity": 0.8, "weight": 1.5}, "p": _table(rows), "t": tip}
            else:
                props = {"s": {"stroke": False, "fillColor": "#f768a1",
                               "fillOpacity": 0.55}, "p": _table(rows), "t": tip}
            feats.append(_feature(geom, props))
        layer = b.add(feats, "People losing access")
        label = f"people losing access: {_fmt_num(total)}" + (" (estimate)" if est else "")
        b.legend_section("Access", layers=[layer], items=[_swatch("#f768a1", label)])
        if est:
            b.note_estimate("People losing access: population estimate")
    if hospitals is not None and not hospitals.empty:
        _add_facilities_by_tier(b, hospitals, names, show=True)
    return b.finish()


def network_map(
    edges: gpd.GeoDataFrame | None = None,
    hubs: gpd.GeoDataFrame | None = None,
    *,
    facilities: gpd.GeoDataFrame | None = None,
    communes: gpd.GeoDataFrame | None = None,
    load_field: str = "load",
    load_label: str = "load",
    kind_field: str = "kind",
    title: str = "Referral and satellite network",
    sources: Sources = (),
    estimate_notes: Sequence[str] = (),
    offline: bool = False,
    tiles: str | None = "auto",
    simplify_m: float = 50.0,
) -> folium.Map:
    """Network map: referral and satellite edges, hubs sized by load.

    Parameters
    ----------
    edges : GeoDataFrame, optional
        LineStrings with ``from_id``, ``to_id``, ``time_min``; optional ``kind`` (e.g.
        referral, satellite: one layer each).
    hubs : GeoDataFrame, optional
        Points with ``facility_id`` or ``name`` and ``load`` (drawn with area proportional to
        load).
    facilities : GeoDataFrame, optional
        Facilities by tier, also used to name the ends of edges.
    communes : GeoDataFrame, optional
        Post-2025 communes for context.
    load_field : str, default "load"
        Hub column with the load.
    load_label : str, default "load"
        What the load counts, e.g. "people served" (shown in popups and the legend).
    kind_field : str, default "kind"
        Edge column splitting edges into layers.
    title, sources, estimate_notes, offline, tiles, simplify_m
        As in :func:`overview_map`.

    Returns
    -------
    folium.Map
    """
    b = _MapBuilder(title, sources=sources, estimate_notes=estimate_notes, offline=offline,
                    tiles=tiles, simplify_m=simplify_m)
    names = _commune_names(communes)
    fac_names: dict[str, str] = {}
    if facilities is not None and {"facility_id", "name"} <= set(facilities.columns):
        fac_names = {str(k): str(v) for k, v in zip(facilities["facility_id"],
                                                    facilities["name"], strict=False)}
    _add_communes(b, communes, None, names, show_after=False, show_before=False)
    if edges is not None and not edges.empty:
        d = b.display(edges, "network edges")
        kinds = (d[kind_field].astype(str) if kind_field in d.columns
                 else pd.Series("link", index=d.index))
        colors = ["#08519c", "#e6550d", "#31a354", "#756bb1", "#636363"]
        keys, layers = [], []
        for n, kind in enumerate(sorted(kinds.unique())):
            part = d[kinds == kind]
            color = colors[n % len(colors)]
            dash = "8 5" if "satellite" in kind.lower() else None
            feats = []
            for row, geom in zip(part.to_dict("records"), part.geometry, strict=True):
                a, z = str(row.get("from_id", "?")), str(row.get("to_id", "?"))
                an, zn = fac_names.get(a, a), fac_names.get(z, z)
                rows = [("Link", _e(kind)), ("From", _e(an)), ("To", _e(zn)),
                        ("Travel time", _valued(row.get("time_min"), None, digits=1,
                                                unit="min"))]
                style = {"color": color, "weight": 2.5, "opacity": 0.8}
                if dash:
                    style["dashArray"] = dash
                feats.append(_feature(geom, {"s": style, "p": _table(rows),
                                             "t": _e(f"{an} → {zn}")}))
            layer = b.add(feats, f"{kind.capitalize()} links")
            layers.append(layer)
            keys.append(_linked(_swatch(color, f"{kind} link", line=True, dash=bool(dash)),
                                [layer]))
        b.legend_section("Network", keys, layers=layers)
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
                                                 row.get("facility_id", "hub")))
            rows = [("Hub", _e(name)), (load_label.capitalize(), _fmt_num(v))]
            if not _missing(row.get("facility_id")):
                rows.append(("ID", _e(row["facility_id"])))
            feats.append(_feature(geom.centroid if geom.geom_type != "Point" else geom, {
                "c": {"radius": round(radius, 1), "color": "#54278f", "weight": 2,
                      "fillColor": "#9e9ac8", "fillOpacity": 0.55},
                "p": _table(rows), "t": _e(f"{name}: {load_label} {_fmt_num(v)}")}))
        layer = b.add(feats, "Hubs (sized by load)")
        b.legend_section(f"Hubs: circle area ∝ {load_label}", layers=[layer], items=[
            _hub_key(28.0, f"{_fmt_num(top)} (largest)"),
            _hub_key(6.0 + 22.0 * math.sqrt(0.25), f"{_fmt_num(top / 4)}")])
    return b.finish()


def _hub_key(radius: float, label: str) -> str:
    s = 2 * radius + 4
    return (f'<div class="gis-key"><svg width="{s:.0f}" height="{s:.0f}"><circle cx="{s / 2}" '
            f'cy="{s / 2}" r="{radius:.1f}" fill="#9e9ac8" fill-opacity=".55" stroke="#54278f" '
            f'stroke-width="2"/></svg>{_e(label)}</div>')


# --------------------------------------------------------------------------------------------
# writing


def map_html(m: folium.Map) -> str:
    """The complete HTML of a map (one self-contained page when built with offline=True)."""
    return m.get_root().render()


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
    edges: gpd.GeoDataFrame | None = None,
    hubs: gpd.GeoDataFrame | None = None,
    time_fields: Mapping[str, str] | None = None,
    thresholds_min: Mapping[str, Sequence[float]] | None = None,
    load_label: str = "load",
    sources: Sources = (),
    estimate_notes: Sequence[str] = (),
    offline: bool = True,
    overwrite: bool = False,
    simplify_m: float = 50.0,
) -> dict[str, Path]:
    """Build and write every map the given layers allow (for ``gis run``).

    Maps: ``overview.html`` (communes or facilities), ``access.html`` (cells, coverage or
    under-served), ``plan.html`` (plan), ``network.html`` (edges or hubs). All outputs are
    checked before any is written: nothing is written if one exists and ``overwrite`` is false.

    Parameters
    ----------
    folder : path-like
        Output folder (created when missing).
    province : str
        Province name for the titles.
    communes ... hubs : GeoDataFrame, optional
        Layers as described in :func:`overview_map`, :func:`accessibility_map`,
        :func:`plan_map` and :func:`network_map`.
    time_fields, thresholds_min : mapping, optional
        Passed to :func:`accessibility_map`.
    load_label : str
        Passed to :func:`network_map`.
    sources : sequence of str or mapping
        Shown on every map.
    estimate_notes : sequence of str
        Shown on every map.
    offline : bool, default True
        Self-contained maps that open with no internet.
    overwrite : bool, default False
        Replace existing maps.
    simplify_m : float, default 50
        Display simplification in metres.

    Returns
    -------
    dict of str to pathlib.Path
        Map key (overview, access, plan, network) -> written file.
    """
    def has(g: gpd.GeoDataFrame | None) -> bool:
        return g is not None and not g.empty

    where = f" — {province}" if province else ""
    common = {"sources": sources, "estimate_notes": estimate_notes, "offline": offline,
              "simplify_m": simplify_m}
    builders: dict[str, Callable[[], folium.Map]] = {}
    if has(communes) or has(facilities) or has(communes_legacy):
        builders["overview"] = lambda: overview_map(
            communes, facilities, communes_legacy=communes_legacy,
            title=f"Health facilities and communes{where}", **common)
    if has(cells) or has(coverage) or has(underserved):
        builders["access"] = lambda: accessibility_map(
            cells, coverage=coverage, underserved=underserved, facilities=facilities,
            time_fields=time_fields, thresholds_min=thresholds_min,
            title=f"Access to care: travel time and coverage{where}", **common)
    if has(plan):
        assert plan is not None
        hospitals = None
        if has(facilities) and "tier" in facilities.columns:  # type: ignore[union-attr]
            ids = set(plan.get("facility_id", []))
            hospitals = facilities[~facilities["tier"].isin(["station", "branch"])  # type: ignore[index]
                                   & ~facilities["facility_id"].isin(ids)]  # type: ignore[index]
        builders["plan"] = lambda: plan_map(
            plan, communes=communes, communes_legacy=communes_legacy,
            losing_access=losing_access, hospitals=hospitals,
            title=f"Consolidation plan: before and after{where}", **common)
    if has(edges) or has(hubs):
        builders["network"] = lambda: network_map(
            edges, hubs, facilities=facilities, communes=communes, load_label=load_label,
            title=f"Referral and satellite network{where}", **common)
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
