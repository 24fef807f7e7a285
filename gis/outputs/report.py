"""One HTML report (and its JSON) per run, from the run's ``summary`` dict.

The summary is JSON-serialisable; every section is optional:

``province``
    ``{"code", "name", "short_name", "crs"}``.
``sources`` / ``estimates``
    Data sources (mapping name -> description, or list) and the notes on what is estimated.
``counts``, ``population``
    Key figures; ``population.is_estimate`` labels the totals as estimates.
``indicators`` (or ``access.indicators``)
    Key indicators against targets: list of ``{"name", "value", "target", "unit",
    "higher_is_better" (default true), "is_estimate", "note"}``.
``access``
    Coverage tables (mappings and lists of records), ``underserved`` (list of records with
    ``rank``, ``population``, ``reasons``...).
``plans``
    ``scenarios``: list of records, one per scenario (as :func:`gis.analyses.plans.comparison_table`),
    plotted as service points against population covered within each threshold.
``network``
    Referral and satellite network figures.

Anything else in the summary is shown too, generically, so nothing computed is hidden. All
text from the summary is HTML-escaped; plots are inline SVG written here (no plotting library).
"""

from __future__ import annotations

import html
import json
import logging
import math
import os
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from gis.jsonable import to_jsonable
from gis.outputs import files

log = logging.getLogger(__name__)

__all__ = ["render_report", "svg_bar_chart", "svg_xy_chart", "to_jsonable", "write_report"]

_KNOWN = ("generated_at", "gis_version", "province", "sources", "estimates", "counts",
          "population", "indicators", "access", "plans", "network", "maps")
_PALETTE = ["#2171b5", "#e6550d", "#31a354", "#756bb1", "#636363", "#d62728"]


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _missing(v: object) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v))


def _is_estimate_text(v: object) -> bool:
    return isinstance(v, str) and bool(re.search(r"estimat|centroid|approx", v, re.I))


_EST = ' <span class="est">estimate</span>'


def _label(key: str) -> str:
    """Readable label from a summary key: covered_30min_share -> Covered 30 min share."""
    text = re.sub(r"(\d+)min(?=_|$|\W)", r"\1 min", str(key)).replace("_", " ").strip()
    return text[:1].upper() + text[1:]


def _fmt(value: object, key: str = "") -> str:
    """Format a value by its key: shares as %, minutes with 1 decimal, counts with commas."""
    if _missing(value):
        return '<span class="unknown">unknown</span>'
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int | float):
        v = float(value)
        if math.isinf(v):
            return "not reached"
        k = key.lower()
        if k.endswith(("_share", "share", "_ratio")) and -1.0 <= v <= 1.0:
            return f"{100 * v:.1f} %"
        if k.endswith(("_pct", "percent")):
            return f"{v:.1f} %"
        if k.endswith(("_min", "_minutes")):
            return f"{v:,.1f} min"
        if k.endswith(("_km", "_m")):
            return f"{v:,.1f}"
        if v.is_integer():
            return f"{v:,.0f}"
        return f"{v:,.2f}" if abs(v) < 100 else f"{v:,.0f}"
    if isinstance(value, list | tuple):
        return "; ".join(_e(x) for x in value)
    text = _e(value)
    return text + (_EST if _is_estimate_text(value) else "")


def _scalar(v: object) -> bool:
    return v is None or isinstance(v, str | int | float | bool) or (
        isinstance(v, list | tuple) and all(not isinstance(x, dict | list) for x in v))


def _value_is_estimate(d: Mapping[str, Any], key: str, *, estimate: bool) -> bool:
    """A number is an estimate when its own source says so (``legacy_total`` ->
    ``legacy_source``, ``total`` -> ``source``); without a source, when the section is."""
    prefix = key.rsplit("_", 1)[0] if "_" in key else ""
    source_key = f"{prefix}_source" if prefix and f"{prefix}_source" in d else "source"
    if source_key in d and (prefix == "" or source_key != "source"):
        return _is_estimate_text(d[source_key]) or (estimate and source_key == "source"
                                                    and "is_estimate" in d)
    return estimate


def _kv_table(d: Mapping[str, Any], *, estimate: bool = False) -> str:
    rows = []
    for k, v in d.items():
        if k in ("is_estimate",):
            continue
        number = isinstance(v, int | float) and not isinstance(v, bool) and not _missing(v)
        tag = _EST if number and _value_is_estimate(d, k, estimate=estimate) else ""
        rows.append(f"<tr><th>{_e(_label(k))}</th><td>{_fmt(v, k)}{tag}</td></tr>")
    return f'<table class="kv">{"".join(rows)}</table>'


def _records_table(records: Sequence[Mapping[str, Any]], *, limit: int | None = None) -> str:
    cols: list[str] = []
    for r in records:
        for k in r:
            if k not in cols:
                cols.append(k)
    shown = list(records if limit is None else records[:limit])
    head = "".join(f"<th>{_e(_label(c))}</th>" for c in cols)
    body = "".join("<tr>" + "".join(
        f'<td class="{"num" if isinstance(r.get(c), int | float) else "txt"}">'
        f"{_fmt(r.get(c), c)}</td>" for c in cols) + "</tr>" for r in shown)
    more = (f'<p class="note">{len(records) - len(shown):,} more rows in the JSON '
            f"report.</p>" if limit is not None and len(records) > limit else "")
    return f'<table class="rec"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>{more}'


def _generic(value: Any, *, depth: int = 3, limit: int = 50) -> str:
    """Any JSON value as HTML: tables for mappings and lists of records, nested headings."""
    if _scalar(value):
        return f"<p>{_fmt(value)}</p>"
    if isinstance(value, Mapping):
        est = bool(value.get("is_estimate")) or any(
            k.endswith("_source") and _is_estimate_text(v) for k, v in value.items())
        flat = {k: v for k, v in value.items() if _scalar(v)}
        nested = {k: v for k, v in value.items() if not _scalar(v)}
        out = _kv_table(flat, estimate=est) if flat else ""
        tag = min(depth + 1, 6)
        for k, v in nested.items():
            out += f"<h{tag}>{_e(_label(k))}</h{tag}>" + _generic(v, depth=depth + 1,
                                                                  limit=limit)
        return out
    if isinstance(value, list | tuple):
        if value and all(isinstance(x, Mapping) for x in value):
            return _records_table(value, limit=limit)
        return "<ul>" + "".join(f"<li>{_generic(x, depth=depth + 1)}</li>" for x in value) + \
            "</ul>"
    return f"<p>{_e(value)}</p>"


# --------------------------------------------------------------------------------------------
# SVG plots


def _nice_ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    if hi <= lo:
        hi = lo + 1.0
    raw = (hi - lo) / n
    mag = 10 ** math.floor(math.log10(raw))
    step = min((s * mag for s in (1, 2, 2.5, 5, 10) if s * mag >= raw), default=raw)
    start = math.floor(lo / step) * step
    ticks = [round(start, 10)]
    while ticks[-1] < hi - step * 1e-9:  # the last tick reaches or passes hi
        ticks.append(round(ticks[-1] + step, 10))
    return ticks


def svg_bar_chart(items: Sequence[tuple[str, float]], *, title: str, unit: str = "%",
                  max_value: float | None = None, width: int = 640) -> str:
    """Horizontal bar chart as inline SVG.

    Parameters
    ----------
    items : sequence of (label, value)
        Bars, top to bottom; a missing value draws no bar and says "unknown".
    title : str
        Chart title.
    unit : str, default "%"
        Unit written after each value.
    max_value : float, optional
        Value of a full-length bar (default: the largest value).
    width : int
        Width in px.

    Returns
    -------
    str
        An ``<svg>`` element with a ``<title>`` (escaped).
    """
    bar_h, gap, left, top = 20, 8, 230, 30
    vals = [v for _, v in items if not _missing(v)]
    vmax = max_value if max_value is not None else (max(vals) if vals else 1.0)
    vmax = vmax or 1.0
    height = top + len(items) * (bar_h + gap) + 10
    plot_w = width - left - 90
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" width="{width}" '
             f'height="{height}" viewBox="0 0 {width} {height}" role="img">',
             f"<title>{_e(title)}</title>",
             f'<text x="0" y="16" class="ct">{_e(title)}</text>']
    for i, (label, v) in enumerate(items):
        y = top + i * (bar_h + gap)
        parts.append(f'<text x="{left - 8}" y="{y + 14}" text-anchor="end">{_e(label)}</text>')
        if _missing(v):
            parts.append(f'<text x="{left}" y="{y + 14}" class="unknown">unknown</text>')
            continue
        w = max(0.0, min(float(v) / vmax, 1.0)) * plot_w
        color = _PALETTE[i % len(_PALETTE)]
        parts.append(f'<rect x="{left}" y="{y}" width="{w:.1f}" height="{bar_h}" '
                     f'fill="{color}"/>')
        parts.append(f'<text x="{left + w + 6:.1f}" y="{y + 14}">{float(v):,.1f}'
                     f"{_e(' ' + unit if unit and unit != '%' else unit)}</text>")
    parts.append("</svg>")
    return "".join(parts)


def svg_xy_chart(series: Mapping[str, Sequence[tuple[float, float, str]]], *, title: str,
                 x_label: str, y_label: str, y_percent: bool = False,
                 width: int = 640, height: int = 360) -> str:
    """Scatter-and-line chart as inline SVG, one line per series, points labelled.

    Parameters
    ----------
    series : mapping of str to sequence of (x, y, point label)
        Lines; points are sorted by x.
    title, x_label, y_label : str
        Texts (escaped).
    y_percent : bool
        y values are shares 0..1, shown as %.
    width, height : int
        Size in px.

    Returns
    -------
    str
        An ``<svg>`` element.
    """
    ml, mr, mt, mb = 70, 20, 34, 48
    pts = [(x, y) for s in series.values() for x, y, _ in s
           if not _missing(x) and not _missing(y)]
    xs = [p[0] for p in pts] or [0.0, 1.0]
    ys = [p[1] for p in pts] or [0.0, 1.0]
    xt = _nice_ticks(min(xs) if min(xs) != max(xs) else min(xs) - 1, max(xs))
    y_lo = 0.0 if min(ys) >= 0 else min(ys)
    yt = _nice_ticks(y_lo, max(1e-9, max(ys)))
    x0, x1, y0, y1 = xt[0], xt[-1], yt[0], yt[-1]
    pw, ph = width - ml - mr, height - mt - mb

    def sx(x: float) -> float:
        return ml + (x - x0) / ((x1 - x0) or 1) * pw

    def sy(y: float) -> float:
        return mt + ph - (y - y0) / ((y1 - y0) or 1) * ph

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" width="{width}" '
             f'height="{height}" viewBox="0 0 {width} {height}" role="img">',
             f"<title>{_e(title)}</title>",
             f'<text x="0" y="16" class="ct">{_e(title)}</text>']
    for t in xt:
        parts.append(f'<line x1="{sx(t):.1f}" y1="{mt}" x2="{sx(t):.1f}" y2="{mt + ph}" '
                     f'class="grid"/><text x="{sx(t):.1f}" y="{mt + ph + 16}" '
                     f'text-anchor="middle">{t:,.4g}</text>')
    for t in yt:
        lab = f"{100 * t:.0f} %" if y_percent else f"{t:,.4g}"
        parts.append(f'<line x1="{ml}" y1="{sy(t):.1f}" x2="{ml + pw}" y2="{sy(t):.1f}" '
                     f'class="grid"/><text x="{ml - 6}" y="{sy(t) + 4:.1f}" '
                     f'text-anchor="end">{lab}</text>')
    parts.append(f'<text x="{ml + pw / 2:.1f}" y="{height - 8}" text-anchor="middle" '
                 f'class="axis">{_e(x_label)}</text>')
    parts.append(f'<text transform="translate(14 {mt + ph / 2:.1f}) rotate(-90)" '
                 f'text-anchor="middle" class="axis">{_e(y_label)}</text>')
    for i, (name, s) in enumerate(series.items()):
        color = _PALETTE[i % len(_PALETTE)]
        good = sorted((x, y, lab) for x, y, lab in s if not _missing(x) and not _missing(y))
        if len(good) > 1:
            path = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y, _ in good)
            parts.append(f'<polyline points="{path}" fill="none" stroke="{color}" '
                         f'stroke-width="2"/>')
        for x, y, lab in good:
            parts.append(f'<circle cx="{sx(x):.1f}" cy="{sy(y):.1f}" r="4" fill="{color}">'
                         f"<title>{_e(lab)}: {_e(name)}</title></circle>")
            parts.append(f'<text x="{sx(x) + 6:.1f}" y="{sy(y) - 6:.1f}" class="pt">'
                         f"{_e(lab)}</text>")
        ly = mt + ph - 8 - 16 * (len(series) - i)  # legend: lower right, clear of the lines
        parts.append(f'<rect x="{ml + pw - 150}" y="{ly}" width="12" height="4" '
                     f'fill="{color}"/><text x="{ml + pw - 134}" y="{ly + 6}">'
                     f"{_e(name)}</text>")
    parts.append("</svg>")
    return "".join(parts)


# --------------------------------------------------------------------------------------------
# sections


def _sources_html(sources: Any) -> str:
    if not sources:
        return '<p class="unknown">No data sources recorded.</p>'
    items = (sources.items() if isinstance(sources, Mapping)
             else ((None, s) for s in sources))
    lis = "".join(
        f"<li>{f'<b>{_e(k)}</b>: ' if k is not None else ''}{_e(v)}"
        f"{_EST if _is_estimate_text(v) else ''}</li>" for k, v in items)
    return f"<ul>{lis}</ul>"


def _indicators_html(indicators: Sequence[Mapping[str, Any]]) -> str:
    rows = []
    for ind in indicators:
        value, target = ind.get("value"), ind.get("target")
        higher = ind.get("higher_is_better", True)
        unit = ind.get("unit", "")
        if _missing(value) or _missing(target):
            status = '<span class="unknown">unknown</span>'
        else:
            met = float(value) >= float(target) if higher else float(value) <= float(target)
            status = ('<span class="ok">met</span>' if met else
                      f'<span class="bad">not met (gap {abs(float(target) - float(value)):,.1f}'
                      f"{_e(' ' + unit) if unit else ''})</span>")
        est = _EST if ind.get("is_estimate") else ""
        rows.append(
            f"<tr><th>{_e(ind.get('name', ''))}</th>"
            f'<td class="num">{_fmt(value, str(ind.get("key", "")))}{est}</td>'
            f'<td class="num">{_fmt(target)}</td><td>{_e(unit)}</td><td>{status}</td>'
            f"<td>{_e(ind.get('note', '')) if not _missing(ind.get('note')) else ''}</td></tr>")
    return ('<table class="rec"><thead><tr><th>Indicator</th><th>Value</th><th>Target</th>'
            "<th>Unit</th><th>Status</th><th>Note</th></tr></thead><tbody>"
            + "".join(rows) + "</tbody></table>")


def _share_bars(access: Mapping[str, Any]) -> str:
    """Bar charts of every mapping in ``access`` whose keys end in ``_share``."""
    charts = []

    def walk(prefix: str, d: Mapping[str, Any]) -> None:
        shares = [(k, v) for k, v in d.items() if str(k).endswith("_share")
                  and (isinstance(v, int | float) or v is None)]
        if len(shares) >= 2:
            charts.append(svg_bar_chart(
                [(_label(k).removesuffix(" share"), None if _missing(v) else 100 * float(v))
                 for k, v in shares],
                title=f"Population covered{(': ' + prefix) if prefix else ''} (%)",
                max_value=100.0))
        for k, v in d.items():
            if isinstance(v, Mapping):
                walk(_label(k), v)

    walk("", access)
    return "".join(f'<figure>{c}</figure>' for c in charts)


def _scenario_plot(scenarios: Sequence[Mapping[str, Any]], *, x_key: str) -> str:
    share_keys = sorted({k for s in scenarios for k in s
                         if re.fullmatch(r"covered_[\d.]+min_share", str(k))},
                        key=lambda k: float(re.findall(r"[\d.]+", k)[0]))
    if not share_keys or not any(x_key in s for s in scenarios):
        return ""
    series = {}
    for k in share_keys:
        thr = re.findall(r"[\d.]+", k)[0]
        series[f"within {thr} min"] = [
            (s.get(x_key), s.get(k), str(s.get("scenario", s.get("name", "")))) for s in
            scenarios if isinstance(s.get(x_key), int | float) and isinstance(s.get(k),
                                                                              int | float)]
    return "<figure>" + svg_xy_chart(
        series, title="Service points kept against population covered",
        x_label=f"{_label(x_key)} (stations + branch points)",
        y_label="population covered", y_percent=True) + "</figure>"


def _coverage_curve_plot(curve: Mapping[str, Any] | None, population: float | None) -> str:
    """Branch points kept (besides the main stations) against the share of people within the
    curve's time of a service point."""
    points = (curve or {}).get("points") or []
    if not points or not population:
        return ""
    pts = [(p["branch_points"], p["covered_population"] / population,
            f"{p['branch_points']}") for p in points
           if isinstance(p.get("covered_population"), int | float)]
    if not pts:
        return ""
    t = curve.get("time_min")
    return "<figure>" + svg_xy_chart(
        {f"within {t:g} min": pts}, title="Branch points kept against population covered",
        x_label="branch points kept besides the main stations (best choice for each number)",
        y_label=f"population within {t:g} min", y_percent=True) + "</figure>"


_CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#222;
 background:#fafafa}
main{max-width:1100px;margin:0 auto;padding:16px 24px 48px;background:#fff}
h1{font-size:24px;margin:8px 0 4px}h2{font-size:19px;border-bottom:2px solid #2171b5;
 padding-bottom:3px;margin-top:32px}h3{font-size:16px;margin:18px 0 6px}
h4,h5,h6{font-size:14px;margin:12px 0 4px}
.meta{color:#666;font-size:12px}
table{border-collapse:collapse;margin:6px 0 12px;font-size:13px}
th,td{border:1px solid #ddd;padding:3px 8px;vertical-align:top}
table.kv th{text-align:left;background:#f4f6f8;font-weight:600}
table.rec thead th{background:#e8eef5;text-align:left}
td.num{text-align:right;white-space:nowrap}
.est{background:#fff3cd;color:#7a5a00;border:1px solid #e0c26b;border-radius:3px;
 padding:0 4px;font-size:11px;font-weight:600;white-space:nowrap}
.unknown{color:#888;font-style:italic}
.ok{color:#1a7f37;font-weight:600}.bad{color:#b30000;font-weight:600}
.banner{background:#fff8e1;border:1px solid #e0c26b;padding:8px 12px;border-radius:4px}
.note{color:#555;font-size:12px}
nav a{margin-right:12px}
figure{margin:8px 0}
svg.chart{font:12px system-ui,sans-serif;background:#fff}
svg.chart .ct{font-weight:600;font-size:13px}
svg.chart .grid{stroke:#e3e3e3}
svg.chart .axis{fill:#444}
svg.chart .pt{font-size:11px;fill:#333}
"""


#: A section made by another output module: (anchor, heading, HTML already escaped, the
#: summary keys it shows, which are then not repeated under "Other results").
Section = tuple[str, str, str, tuple[str, ...]]


def render_report(summary: Mapping[str, Any], *, maps: Mapping[str, str | Path] | None = None,
                  title: str | None = None, base: str | Path | None = None,
                  x_key: str = "service_points", sections: Sequence[Section] = ()) -> str:
    """The report as one HTML page (no external resources).

    Parameters
    ----------
    summary : mapping
        The run summary (see the module docstring); every section is optional.
    maps : mapping of str to path, optional
        Map name -> HTML file, linked from the report (relative to ``base``).
    title : str, optional
        Page title (default: "Health facility network: <province>").
    base : path-like, optional
        Folder of the report, to make map links relative.
    x_key : str, default "service_points"
        Scenario field on the x axis of the scenario plot.
    sections : sequence of Section
        Sections made by other output modules (e.g. :func:`gis.outputs.capacity.report_sections`),
        placed after the network.

    Returns
    -------
    str
    """
    prov = summary.get("province") or {}
    pname = prov.get("name") or prov.get("short_name") or "province not given"
    title = title or f"Health facility network: {pname}"
    toc: list[tuple[str, str]] = []
    body: list[str] = []

    def section(anchor: str, heading: str, content: str) -> None:
        toc.append((anchor, heading))
        body.append(f'<section id="{anchor}"><h2>{_e(heading)}</h2>{content}</section>')

    estimates = list(summary.get("estimates") or [])
    pop = summary.get("population") or {}
    if pop.get("is_estimate") and not estimates:
        estimates.append(f"Population: {pop.get('source', 'estimate')}")
    banner = ""
    if estimates:
        banner = ('<div class="banner"><b>Estimates in this report</b> '
                  '<span class="est">estimate</span><ul>'
                  + "".join(f"<li>{_e(x)}</li>" for x in estimates) + "</ul>"
                  "Figures built on them are labelled <span class=\"est\">estimate</span>.</div>")

    section("province", "Province and data sources",
            (_kv_table(prov) if prov else '<p class="unknown">Province not given.</p>')
            + "<h3>Data sources</h3>" + _sources_html(summary.get("sources")) + banner)
    key = ""
    if summary.get("counts"):
        key += "<h3>Counts</h3>" + _generic(summary["counts"])
    if pop:
        key += "<h3>Population</h3>" + _kv_table(pop, estimate=bool(pop.get("is_estimate")))
    if key:
        section("figures", "Key figures", key)

    access = dict(summary.get("access") or {})
    indicators = summary.get("indicators") or access.pop("indicators", None)
    section("indicators", "Key indicators against targets",
            _indicators_html(indicators) if indicators else
            '<p class="unknown">No indicators were computed in this run.</p>')
    if access:
        under = access.pop("underserved", None)
        section("access", "Access and coverage", _share_bars(access) + _generic(access))
        if under is not None:
            section("underserved", "Under-served areas",
                    _generic(under, limit=30) if under else "<p>None found.</p>")
    elif summary.get("underserved") is not None:
        section("underserved", "Under-served areas", _generic(summary["underserved"],
                                                              limit=30))
    plans = dict(summary.get("plans") or {})
    if plans:
        scen = plans.pop("scenarios", None)
        curve = plans.pop("coverage_curve", None)
        content = ""
        if scen:
            content += "<h3>Scenario comparison</h3>" + _records_table(scen)
            content += _scenario_plot(scen, x_key=x_key)
            content += _coverage_curve_plot(curve, scen[0].get("population"))
        if curve:
            content += "<h3>Coverage curve</h3>" + _generic(curve)
        content += _generic(plans) if plans else ""
        section("plans", "Scenarios", content)
    if summary.get("network"):
        section("network", "Referral and satellite network", _generic(summary["network"]))
    shown: set[str] = set()
    for anchor, heading, content, keys in sections:
        section(anchor, heading, content)
        shown.update(keys)
    other = {k: v for k, v in summary.items()
             if k not in _KNOWN and k != "underserved" and k not in shown}
    if other:
        section("other", "Other results", _generic(other))
    links = dict(summary.get("maps") or {})
    links.update({k: str(v) for k, v in (maps or {}).items()})
    if links:
        lis = []
        for name, path in links.items():
            href = str(path)
            if base is not None and os.path.isabs(href):
                href = os.path.relpath(href, base)
            lis.append(f'<li><a href="{_e(Path(href).as_posix())}">{_e(_label(name))}</a> '
                       f'<span class="note">({_e(Path(href).name)})</span></li>')
        section("maps", "Maps", "<ul>" + "".join(lis) + "</ul>")

    generated = summary.get("generated_at") or datetime.now(UTC).isoformat(timespec="seconds")
    meta = f"Generated {_e(generated)}"
    if summary.get("gis_version"):
        meta += f" by gis {_e(summary['gis_version'])}"
    nav = "".join(f'<a href="#{a}">{_e(h)}</a>' for a, h in toc)
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_e(title)}</title><style>{_CSS}</style></head><body><main>"
        f"<h1>{_e(title)}</h1><p class=\"meta\">{meta}</p><nav>{nav}</nav>"
        + "".join(body) + "</main></body></html>\n")


def write_report(folder: str | Path, summary: Mapping[str, Any], *,
                 maps: Mapping[str, str | Path] | None = None, name: str = "report",
                 title: str | None = None, overwrite: bool = False,
                 sections: Sequence[Section] = ()) -> dict[str, Path]:
    """Write ``<name>.html`` and ``<name>.json`` atomically.

    Parameters
    ----------
    folder : path-like
        Output folder (created when missing).
    summary : mapping
        The run summary (see the module docstring).
    maps : mapping of str to path, optional
        Map name -> HTML file, linked relative to ``folder``.
    name : str, default "report"
        File stem.
    title : str, optional
        Report title.
    overwrite : bool, default False
        Replace existing files; otherwise raise :class:`~gis.errors.OutputError` before
        writing either.
    sections : sequence of Section
        Passed to :func:`render_report`.

    Returns
    -------
    dict
        ``{"html": path, "json": path}``.
    """
    folder = Path(folder)
    paths = {"html": folder / f"{name}.html", "json": folder / f"{name}.json"}
    files.check_writable(paths.values(), overwrite=overwrite)
    clean = to_jsonable(summary)
    if maps:
        clean["maps"] = {k: os.path.relpath(Path(v).resolve(), folder.resolve())
                         if Path(v).is_absolute() else str(v) for k, v in maps.items()}
    text = json.dumps(clean, ensure_ascii=False, indent=2, allow_nan=False)
    page = render_report(clean, title=title, base=folder, sections=sections)
    files.write_text(paths["json"], text + "\n", overwrite=overwrite)
    files.write_text(paths["html"], page, overwrite=overwrite)
    return paths
