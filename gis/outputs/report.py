"""One HTML report (and its JSON) per run, from the run's ``summary`` dict, in Vietnamese or
English.

The report is written for a director first: page 1 is a one-page summary (the province's
situation in a few sentences built from the figures, key figures against the targets, then the
recommended decisions, each derived from the figures by a stated rule), page 2 compares the
plans (a table that fits the page, two charts, and every plan side by side with the official
plan), and the detail follows as an appendix (access, under-served areas, plans, network, data
and estimates, maps and files). It prints on A4 (a print stylesheet: page breaks between the
parts, no navigation). People are whole people, times in minutes, person-minutes named as
such; numbers are formatted for the language (:mod:`gis.outputs.i18n`). Plots are inline SVG
written here: a plot whose data sit in a narrow band has its axis zoomed to the data and says
so; point labels are placed so that none overlaps another.

The summary is JSON-serialisable and every section is optional:

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
    ``coverage`` (tier -> threshold -> population, share, beyond), ``far_communes``,
    ``underserved`` (``top``: records with ``rank``, ``population``, ``beyond_<tier>``,
    ``commune_names``...), ``travel_model``, ``fca``.
``plans``
    ``scenarios``: one record per scenario (as :func:`gis.analyses.plans.comparison_table`,
    with ``scenario_kind``), ``plans`` (each evaluated plan's losses and layers),
    ``coverage_curve``, ``fewest_branch_points``, ``main_station_changes``, ...
``network``
    Referral and satellite network figures.

Any other top-level section is shown too, generically (as tables, never as raw text of a
dict), so nothing computed is hidden. All text from the summary is HTML-escaped; names and
other data are marked ``translate="no"``.
"""

from __future__ import annotations

import html
import json
import logging
import math
import os
import re
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from gis.jsonable import to_jsonable
from gis.outputs import files
from gis.outputs.i18n import N_, Lang, get_lang
from gis.outputs.maps import plan_display_name

log = logging.getLogger(__name__)

__all__ = ["render_report", "render_sections", "svg_bar_chart", "svg_xy_chart", "to_jsonable",
           "write_report"]

_KNOWN = ("generated_at", "gis_version", "province", "sources", "estimates", "counts",
          "population", "indicators", "access", "plans", "network", "maps", "outputs")
_PALETTE = ["#2171b5", "#e6550d", "#31a354", "#756bb1", "#636363", "#d62728"]

# Rules of the recommended decisions (thresholds in people).
UNDERSERVED_ACTION_PEOPLE = 1000
REGIONAL_ACTION_PEOPLE = 5000
MAX_DECISIONS = 6


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _d(value: object) -> str:
    """User data (a name, a code, a path) as escaped HTML not to be translated."""
    return f'<span translate="no">{_e(value)}</span>'


def _missing(v: object) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v))


def _num(v: object) -> float | None:
    if _missing(v) or isinstance(v, bool):
        return None
    try:
        return float(v)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None


def _is_estimate_text(v: object) -> bool:
    return isinstance(v, str) and bool(re.search(r"estimat|centroid|approx", v, re.I))


def _t(L: Lang, minutes: object) -> str:
    v = _num(minutes)
    if v is None:
        return L._("unknown")
    return L.num(v, 0) if float(v).is_integer() else L.num(v, 1)


# --------------------------------------------------------------------------------------------
# SVG plots


def _nice_ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    if hi <= lo:
        hi = lo + 1.0
    raw = (hi - lo) / n
    mag = 10 ** math.floor(math.log10(raw))
    step = min((s * mag for s in (1, 2, 2.5, 5, 10) if s * mag >= raw), default=raw)
    start = math.floor(lo / step + 1e-9) * step
    ticks = [round(start, 10)]
    while ticks[-1] < hi - step * 1e-9:  # the last tick reaches or passes hi
        ticks.append(round(ticks[-1] + step, 10))
    return ticks


def _text_width(text: str, size: float = 11.0) -> float:
    """A generous estimate of the rendered width of ``text`` in px (system sans-serif)."""
    wide = sum(1 for ch in text if ch in "mwMW%")
    return (len(text) + 0.4 * wide) * size * 0.62 + 2


def svg_bar_chart(items: Sequence[tuple[str, float]], *, title: str, unit: str = "%",
                  max_value: float | None = None, width: int = 640,
                  fmt: Callable[[float], str] | None = None, lang: str = "en",
                  label_width: int = 230) -> str:
    """Horizontal bar chart as inline SVG (bars start at zero).

    Parameters
    ----------
    items : sequence of (label, value)
        Bars, top to bottom; a missing value draws no bar and says "unknown". A label may be
        a pair (text, data): the data (a name) is marked not to be translated.
    title : str
        Chart title.
    unit : str, default "%"
        Unit written after each value (when ``fmt`` is not given).
    max_value : float, optional
        Value of a full-length bar (default: the largest value).
    width : int
        Width in px (the chart scales to its container).
    fmt : callable, optional
        Formats a value for its label (default: one decimal and ``unit``).
    lang : {"en", "vi"}
        Language of "unknown" and of the numbers.
    label_width : int
        Room for the bar labels, px.

    Returns
    -------
    str
        An ``<svg>`` element with a ``<title>`` (escaped).
    """
    L = get_lang(lang)
    bar_h, gap, left, top = 20, 8, label_width, 30
    vals = [v for _, v in items if not _missing(v)]
    vmax = max_value if max_value is not None else (max(vals) if vals else 1.0)
    vmax = vmax or 1.0
    height = top + len(items) * (bar_h + gap) + 10
    plot_w = width - left - 90
    if fmt is None:
        def fmt(v: float) -> str:
            return L.num(v, 1) + ("%" if unit == "%" else f" {unit}" if unit else "")
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" width="{width}" '
             f'height="{height}" viewBox="0 0 {width} {height}" role="img">',
             f"<title>{_e(title)}</title>",
             f'<text x="0" y="16" class="ct">{_e(title)}</text>']
    for i, (label, v) in enumerate(items):
        y = top + i * (bar_h + gap)
        if isinstance(label, tuple):  # (our text, data): the data marked not to translate
            text = _e(label[0]) + f'<tspan translate="no">{_e(label[1])}</tspan>'
        else:
            text = _e(label)
        parts.append(f'<text x="{left - 8}" y="{y + 14}" text-anchor="end" class="bl">'
                     f"{text}</text>")
        if _missing(v):
            parts.append(f'<text x="{left}" y="{y + 14}" class="unknown">'
                         f'{_e(L._("unknown"))}</text>')
            continue
        w = max(0.0, min(float(v) / vmax, 1.0)) * plot_w
        color = _PALETTE[0]
        parts.append(f'<rect x="{left}" y="{y}" width="{w:.1f}" height="{bar_h}" '
                     f'fill="{color}"/>')
        parts.append(f'<text x="{left + w + 6:.1f}" y="{y + 14}" class="bv">'
                     f"{_e(fmt(float(v)))}</text>")
    parts.append("</svg>")
    return "".join(parts)


def _place_labels(points: list[tuple[float, float, str]], *, box: tuple[float, float, float,
                  float], size: float = 11.0, r: float = 4.0) -> list[tuple[float, float, str]]:
    """Positions (x, y of the text's start and baseline) for point labels that overlap neither
    each other nor another point, inside ``box`` (x0, y0, x1, y1); greedy, nearest first. A
    label that finds no room is returned at its first position and flagged by a leading
    ``!`` (the caller lists it under the chart instead)."""
    x0, y0, x1, y1 = box
    placed: list[tuple[float, float, float, float]] = []
    dots = [(px - r - 1, py - r - 1, px + r + 1, py + r + 1) for px, py, _ in points]
    out = []

    def clash(b: tuple[float, float, float, float]) -> bool:
        if b[0] < x0 or b[2] > x1 or b[1] < y0 or b[3] > y1:
            return True
        return any(not (b[2] < o[0] or b[0] > o[2] or b[3] < o[1] or b[1] > o[3])
                   for o in placed + dots)

    for px, py, text in points:
        w, h = _text_width(text, size), size * 1.25
        spot = None
        for dist in (6, 12, 20, 30, 42):
            for dx, dy in ((dist, -dist * 0.4), (dist, h * 0.6), (-dist - w, -dist * 0.4),
                           (-dist - w, h * 0.6), (-w / 2, -dist), (-w / 2, dist + h * 0.8),
                           (dist, -dist - h * 0.3), (-dist - w, dist + h * 0.5)):
                b = (px + dx, py + dy - h * 0.8, px + dx + w, py + dy + h * 0.2)
                if not clash(b):
                    spot = (px + dx, py + dy, b)
                    break
            if spot:
                break
        if spot is None:
            out.append((px + 6, py - 6, "!" + text))
            continue
        placed.append(spot[2])
        out.append((spot[0], spot[1], text))
    return out


def svg_xy_chart(series: Mapping[str, Sequence[tuple[float, float, str]]], *, title: str,
                 x_label: str, y_label: str, y_percent: bool = False,
                 width: int = 640, height: int = 360, zoom: bool = True,
                 lang: str = "en", x_fmt: Callable[[float], str] | None = None) -> str:
    """Scatter-and-line chart as inline SVG, one line per series, points labelled.

    The y axis spans the data (zoomed) when they sit in a band narrower than half of the axis
    from zero, and the chart says so under its title. Points that fall on the same spot share
    one label; labels are placed so that none overlaps another label or a point.

    Parameters
    ----------
    series : mapping of str to sequence of (x, y, point label)
        Lines; points are sorted by x.
    title, x_label, y_label : str
        Texts (escaped).
    y_percent : bool
        y values are shares 0..1, shown as %.
    width, height : int
        Size in px (the chart scales to its container).
    zoom : bool
        Allow the zoomed y axis.
    lang : {"en", "vi"}
        Language of the numbers and of the zoom note.
    x_fmt : callable, optional
        Formats the x ticks.

    Returns
    -------
    str
        An ``<svg>`` element.
    """
    L = get_lang(lang)
    ml, mr, mt, mb = 64, 20, 46, 48
    pts = [(x, y) for s in series.values() for x, y, _ in s
           if not _missing(x) and not _missing(y)]
    xs = [p[0] for p in pts] or [0.0, 1.0]
    ys = [p[1] for p in pts] or [0.0, 1.0]
    xt = _nice_ticks(min(xs) if min(xs) != max(xs) else min(xs) - 1, max(xs))
    lo, hi = min(ys), max(ys)
    zoomed = False
    if zoom and lo > 0 and hi > lo and (hi - lo) < 0.5 * hi:
        pad = (hi - lo) * 0.15
        yt = _nice_ticks(lo - pad, hi + pad, 4)
        zoomed = True
    elif zoom and lo > 0 and hi == lo:
        yt = _nice_ticks(lo * 0.99, hi * 1.01 if hi else 1.0, 4)
        zoomed = True
    else:
        yt = _nice_ticks(0.0 if lo >= 0 else lo, max(1e-9, hi))
    if y_percent:
        yt = [t for t in yt if t <= 1.0 + 1e-12] or yt
        if yt[-1] < hi:
            yt.append(1.0)
    x0, x1, y0, y1 = xt[0], xt[-1], yt[0], yt[-1]
    pw, ph = width - ml - mr, height - mt - mb

    def sx(x: float) -> float:
        return ml + (x - x0) / ((x1 - x0) or 1) * pw

    def sy(y: float) -> float:
        return mt + ph - (y - y0) / ((y1 - y0) or 1) * ph

    def ylab(t: float) -> str:
        if y_percent:
            step = (yt[1] - yt[0]) if len(yt) > 1 else 0.01
            return L.pct(t, 0 if step >= 0.01 - 1e-12 else 1 if step >= 0.001 - 1e-12 else 2)
        return L.num(t, 0 if abs(t) >= 100 or float(t).is_integer() else 1)

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" width="{width}" '
             f'height="{height}" viewBox="0 0 {width} {height}" role="img">',
             f"<title>{_e(title)}</title>",
             f'<text x="0" y="16" class="ct">{_e(title)}</text>']
    if zoomed:
        note = L._("Vertical axis zoomed to the data: from {lo} to {hi}, not from zero.",
                   lo=ylab(y0), hi=ylab(y1))
        parts.append(f'<text x="0" y="32" class="zoom">{_e(note)}</text>')
    for t in xt:
        lab = x_fmt(t) if x_fmt else L.num(t, 0 if float(t).is_integer() else 1)
        parts.append(f'<line x1="{sx(t):.1f}" y1="{mt}" x2="{sx(t):.1f}" y2="{mt + ph}" '
                     f'class="grid"/><text x="{sx(t):.1f}" y="{mt + ph + 16}" '
                     f'text-anchor="middle" class="tick">{_e(lab)}</text>')
    for t in yt:
        parts.append(f'<line x1="{ml}" y1="{sy(t):.1f}" x2="{ml + pw}" y2="{sy(t):.1f}" '
                     f'class="grid"/><text x="{ml - 6}" y="{sy(t) + 4:.1f}" '
                     f'text-anchor="end" class="tick">{_e(ylab(t))}</text>')
    parts.append(f'<text x="{ml + pw / 2:.1f}" y="{height - 8}" text-anchor="middle" '
                 f'class="axis">{_e(x_label)}</text>')
    parts.append(f'<text transform="translate(12 {mt + ph / 2:.1f}) rotate(-90)" '
                 f'text-anchor="middle" class="axis">{_e(y_label)}</text>')
    labels: list[tuple[float, float, str]] = []
    for i, (name, s) in enumerate(series.items()):
        color = _PALETTE[i % len(_PALETTE)]
        good = sorted((x, y, lab) for x, y, lab in s if not _missing(x) and not _missing(y))
        if len(good) > 1:
            path = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y, _ in good)
            parts.append(f'<polyline points="{path}" fill="none" stroke="{color}" '
                         f'stroke-width="2"/>')
        spots: dict[tuple[int, int], list[str]] = {}
        for x, y, lab in good:
            parts.append(f'<circle cx="{sx(x):.1f}" cy="{sy(y):.1f}" r="4" fill="{color}">'
                         f"<title>{_e(lab)}: {_e(name)}</title></circle>")
            key = (round(sx(x) / 4), round(sy(y) / 4))  # points within ~4 px share a label
            spots.setdefault(key, []).append(lab)
        for (kx, ky), labs in spots.items():
            labels.append((kx * 4.0, ky * 4.0, ", ".join(dict.fromkeys(labs))))
    missing = []
    for x, y, text in _place_labels(labels, box=(ml, mt, ml + pw, mt + ph)):
        if text.startswith("!"):
            missing.append(text[1:])
            continue
        parts.append(f'<text x="{x:.1f}" y="{y:.1f}" class="pt">{_e(text)}</text>')
    if len(series) > 1:
        for i, name in enumerate(series):
            color = _PALETTE[i % len(_PALETTE)]
            lx = ml + 8 + i * (pw / max(len(series), 1))
            parts.append(f'<rect x="{lx:.1f}" y="{mt - 10}" width="12" height="4" '
                         f'fill="{color}"/><text x="{lx + 16:.1f}" y="{mt - 5}" class="lg">'
                         f"{_e(name)}</text>")
    parts.append("</svg>")
    if missing:
        log.info("chart %r: labels without room: %s", title, missing)
    return "".join(parts)


# --------------------------------------------------------------------------------------------
# tables


def _table(head: Sequence[str], rows: Sequence[Sequence[str]], *, cls: str = "rec",
           num: Sequence[bool] | None = None, widths: Sequence[str] | None = None) -> str:
    """A table of already-escaped cells; ``num`` marks right-aligned columns."""
    num = list(num or [False] * len(head))
    cols = ""
    if widths:
        cols = "<colgroup>" + "".join(f'<col style="width:{w}">' for w in widths) + "</colgroup>"
    h = "".join(f'<th class="{"num" if n else ""}">{x}</th>' for x, n in zip(head, num,
                                                                             strict=True))
    body = "".join("<tr>" + "".join(f'<td class="{"num" if n else "txt"}">{c}</td>'
                                    for c, n in zip(r, num, strict=True)) + "</tr>"
                   for r in rows)
    return f'<table class="{cls}">{cols}<thead><tr>{h}</tr></thead><tbody>{body}</tbody></table>'


def _kv(rows: Sequence[tuple[str, str]]) -> str:
    return ('<table class="kv">' + "".join(f"<tr><th>{_e(k)}</th><td>{v}</td></tr>"
                                           for k, v in rows) + "</table>")


def _generic(L: Lang, value: Any, *, depth: int = 3) -> str:
    """Any JSON value as HTML: mappings as key/value tables, lists of records as tables,
    nested values as nested tables: never the text of a dict."""
    if isinstance(value, Mapping):
        body = "".join(f'<tr><th><span translate="no">{_e(str(k).replace("_", " "))}</span>'
                       f"</th><td>{_generic(L, v, depth=depth + 1)}</td></tr>"
                       for k, v in value.items())
        return f'<table class="kv">{body}</table>' if body else ""
    if isinstance(value, list | tuple):
        if value and all(isinstance(x, Mapping) for x in value):
            cols: list[str] = []
            for r in value:
                for k in r:
                    if k not in cols:
                        cols.append(k)
            return _table([_d(str(c).replace("_", " ")) for c in cols],
                          [[_generic(L, r.get(c), depth=depth + 1) for c in cols]
                           for r in value[:50]])
        return "; ".join(_generic(L, x, depth=depth + 1) for x in value)
    if isinstance(value, bool):
        return _e(L._("yes") if value else L._("no"))
    if isinstance(value, int | float):
        return _e(L.num(value, 0 if float(value).is_integer() or abs(value) >= 100 else 2))
    if value is None:
        return f'<span class="unknown">{_e(L._("unknown"))}</span>'
    return L.text(value, html=True)


# --------------------------------------------------------------------------------------------
# reading the summary


def _scenarios(summary: Mapping[str, Any]) -> list[dict[str, Any]]:
    return list(((summary.get("plans") or {}).get("scenarios")) or [])


def _by_kind(scen: Sequence[Mapping[str, Any]], kind: str) -> dict[str, Any] | None:
    return next((dict(r) for r in scen if r.get("scenario_kind") == kind), None)


def _scen_name(L: Lang, r: Mapping[str, Any]) -> str:
    return plan_display_name(str(r.get("scenario", "")), str(r.get("scenario_kind", "user")),
                             r, lang=L.code)


def _cover_min(summary: Mapping[str, Any]) -> float:
    plans = summary.get("plans") or {}
    for key in ("losing_access", "coverage_curve", "fewest_branch_points"):
        v = _num((plans.get(key) or {}).get("threshold_min",
                                            (plans.get(key) or {}).get("time_min")))
        if v is not None:
            return v
    under = ((summary.get("access") or {}).get("underserved") or {}).get("rules_min") or {}
    return float(under.get("station", 30.0))


def _names_list(L: Lang, items: Sequence[Mapping[str, Any]], *, key: str = "commune_name",
                people: bool = True, limit: int = 3) -> str:
    """"A (1,234), B (567) and C (89)" with the names as data."""
    shown = []
    for it in list(items)[:limit]:
        text = _d(it.get(key, ""))
        if people and _num(it.get("population")) is not None:
            text += " (" + _e(L.people(it["population"])) + ")"
        shown.append(text)
    return L.join(shown)


def _facility_names(summary: Mapping[str, Any]) -> dict[str, str]:
    names: dict[str, str] = {}
    net = summary.get("network") or {}
    for key in ("hubs", "stations_per_regional"):
        for r in net.get(key) or []:
            if r.get("facility_id") and r.get("name"):
                names[str(r["facility_id"])] = str(r["name"])
    for r in ((net.get("loss_impact") or {}).get("ranking")) or []:
        if r.get("facility_id") and r.get("name"):
            names[str(r["facility_id"])] = str(r["name"])
    return names


def _indicator(summary: Mapping[str, Any], what: str) -> dict[str, Any] | None:
    inds = summary.get("indicators") or (summary.get("access") or {}).get("indicators") or []
    for ind in inds:
        name = str(ind.get("name", "")).lower()
        if ind.get("key") == what or name.startswith(what.replace("_", " ")):
            return dict(ind)
    return None


# --------------------------------------------------------------------------------------------
# page 1: the summary


def _situation(L: Lang, s: Mapping[str, Any]) -> list[str]:
    """Five or six sentences of the province's situation, each built from the figures."""
    out: list[str] = []
    prov = s.get("province") or {}
    pname = _d(prov.get("short_name") or prov.get("name") or L._("The province"))
    pop = (s.get("population") or {})
    counts = s.get("counts") or {}
    acc = s.get("access") or {}
    cov = acc.get("coverage") or {}
    far = acc.get("far_communes") or {}
    if pop.get("total") is not None:
        out.append(L._("{province} has {people} people in {new} communes ({old} before 1 July "
                       "2025), served by {stations} commune health stations and {hospitals} "
                       "hospitals.", province=pname, people=_e(L.people(pop["total"])),
                       new=_e(L.num(counts.get("new_communes"))),
                       old=_e(L.num(counts.get("legacy_communes"))),
                       stations=_e(L.num(counts.get("stations"))),
                       hospitals=_e(L.num(counts.get("hospitals")))))
    for tier, sentence_all, sentence in (
            ("station",
             N_("Everyone lives within {t} min of a commune health station."),
             N_("{share} of people live within {t} min of a commune health station; {beyond} "
                "live farther, most of them in {where}.")),
            ("regional",
             N_("Everyone lives within {t} min of a regional general hospital."),
             N_("{share} live within {t} min of a regional general hospital; {beyond} do not, "
                "most of them in {where}."))):
        f = far.get(tier)
        if not f:
            continue
        t = f.get("time_min")
        c = (cov.get(tier) or {}).get(f"{t:g}") or (cov.get(tier) or {}).get(str(int(t))) or {}
        if (f.get("population") or 0) < 0.5:
            out.append(L._(sentence_all, t=_t(L, t)))
            continue
        out.append(L._(sentence, share=_e(L.pct(c.get("share"))), t=_e(_t(L, t)),
                       beyond=_e(L.ngettext("{n} person", "{n} people",
                                            round(f["population"]))),
                       where=_names_list(L, f.get("top") or [])))
    scen = _scenarios(s)
    off, only = _by_kind(scen, "official"), _by_kind(scen, "official_only")
    T = _cover_min(s)
    k = f"{T:g}min"
    plans = s.get("plans") or {}
    if off and only:
        lost = _num(only.get(f"losing_{k}")) or 0.0
        top = next((p for p in plans.get("plans") or [] if p.get("kind") == "official_only"),
                   {})
        closed = (off.get("service_points") or 0) - (only.get("service_points") or 0)
        base = L._("The official plan keeps {n} main stations, one per commune; keeping the "
                   "other {k} former stations as branch points keeps today's access",
                   n=_e(L.num(only.get("main_stations"))), k=_e(L.num(closed)))
        if lost >= 0.5:
            base += L._(", while closing them would leave {lost} people more than {t} min "
                        "from a station, in {communes} ({where}).",
                        lost=_e(L.people(lost)), t=_e(_t(L, T)),
                        communes=_e(L.ngettext("{n} commune", "{n} communes",
                                               top.get("losing_communes") or 0)),
                        where=_names_list(L, top.get("losing_top") or []))
        else:
            base += L._(", and closing them would take {t}-min access from nobody.",
                        t=_e(_t(L, T)))
        out.append(base)
    few = plans.get("fewest_branch_points") or {}
    fb = _by_kind(scen, "fewest_branches")
    if few and fb is not None and off and only:
        n_b = len(few.get("stations") or [])
        closed = (off.get("service_points") or 0) - (only.get("service_points") or 0)
        exact = (few.get("gap") or 0) == 0
        out.append(L._("Keeping just {b} of those {k} former stations as branch points keeps "
                       "everyone who is within {t} min of a station today within {t} min "
                       "({how}).", b=_e(L.num(n_b)), k=_e(L.num(closed)), t=_e(_t(L, T)),
                       how=_e(L._("set cover, proven optimal") if exact else
                              L._("set cover, within {gap} of the optimum",
                                  gap=L.pct(few.get("gap"), 2)))))
    out.append(_doctors_beds(L, s, off or only))
    return [x for x in out if x]


def _doctors_beds(L: Lang, s: Mapping[str, Any], plan: Mapping[str, Any] | None) -> str:
    """One sentence on doctors and beds against the targets."""
    doc = _indicator(s, "doctors per 10,000")
    beds = _indicator(s, "beds per 10,000")
    st = _indicator(s, "doctors per commune station")
    parts = []
    if st is not None:
        need = _num(plan.get("doctors_needed")) if plan else None
        n_main = plan.get("main_stations") if plan else None
        if need is not None and n_main:
            txt = L._("Doctors: the norm of {d} per station needs {need} for the {n} stations",
                      d=_e(_t(L, st.get("target"))), need=_e(L.num(need)),
                      n=_e(L.num(n_main)))
        else:
            txt = L._("Doctors: the norm of {d} per station needs {need}",
                      d=_e(_t(L, st.get("target"))), need=_e(L.num(st.get("needed"))))
        if st.get("value") is None:
            txt += L._("; how many there are is not known, so the shortfall cannot be computed")
        else:
            txt += L._("; stations have {v} on average", v=_e(L.num(st["value"], 1)))
        parts.append(txt + ".")
    elif doc is not None and doc.get("value") is None:
        parts.append(L._("Doctors are not known: the target of {t} per 10,000 people cannot be "
                         "checked.", t=_e(L.num(doc.get("target"), 1))))
    if beds is not None:
        if beds.get("value") is None:
            parts.append(L._("Beds are not known (target {t} per 10,000 people).",
                             t=_e(L.num(beds.get("target"), 0))))
        elif beds.get("lower_bound"):
            parts.append(L._("Beds: at least {v} per 10,000 people against a target of {t} "
                             "(beds are known for some hospitals only).",
                             v=_e(L.num(beds["value"], 1)), t=_e(L.num(beds.get("target"), 0))))
        else:
            parts.append(L._("Beds: {v} per 10,000 people against a target of {t}.",
                             v=_e(L.num(beds["value"], 1)), t=_e(L.num(beds.get("target"), 0))))
    return " ".join(parts)


def _decisions(L: Lang, s: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Recommended decisions, each (decision, the rule and figures it follows from)."""
    out: list[tuple[str, str]] = []
    scen = _scenarios(s)
    plans = s.get("plans") or {}
    T = _cover_min(s)
    k = f"{T:g}min"
    off, only = _by_kind(scen, "official"), _by_kind(scen, "official_only")
    few = plans.get("fewest_branch_points") or {}
    fb = _by_kind(scen, "fewest_branches")
    if few and fb is not None and off and only:
        stations = few.get("stations") or []
        closed = (off.get("service_points") or 0) - (only.get("service_points") or 0)
        names = ", ".join(_d(f"{x.get('name')}") for x in stations[:12]) + (
            "…" if len(stations) > 12 else "")
        out.append((
            L._("Keep {b} former stations as branch points and let the other {rest} close: "
                "{names}.", b=_e(L.num(len(stations))), rest=_e(L.num(closed - len(stations))),
                names=names),
            L._("Rule: the fewest former stations that keep everyone within {t} min of a "
                "station who is within it today (set cover with the {n} main stations open). "
                "People losing {t}-min access: {lost} with them, {only} with no branch point.",
                t=_e(_t(L, T)), n=_e(L.num(only.get("main_stations"))),
                lost=_e(L.people(fb.get(f"losing_{k}"))),
                only=_e(L.people(only.get(f"losing_{k}"))))))
    best = _by_kind(scen, "best_main")
    changes = plans.get("main_station_changes") or []
    if best and only and changes:
        a, b = _num(only.get(f"losing_{k}")) or 0.0, _num(best.get(f"losing_{k}")) or 0.0
        if b < a - 0.5:
            listed = _names_list(L, changes, people=False, limit=5)
            out.append((
                L._("Review the main station of {communes} ({where}): the former station "
                    "nearest to most of each commune's people would serve them better.",
                    communes=_e(L.ngettext("{n} commune", "{n} communes", len(changes))),
                    where=listed),
                L._("Rule: listed when choosing each commune's main station for the least "
                    "travel of its people (exact, per commune) leaves fewer people beyond {t} "
                    "min without branch points: {b} instead of {a}.", t=_e(_t(L, T)),
                    b=_e(L.people(b)), a=_e(L.people(a)))))
    rules = ((s.get("access") or {}).get("underserved") or {}).get("rules_min") or {}
    t_st = float(rules.get("station", T))
    t_rg = float(rules.get("regional", 60.0))
    top = ((s.get("access") or {}).get("underserved") or {}).get("top") or []
    if isinstance(top, Mapping):
        top = []
    for key, limit, t_rule, need in (("beyond_station", UNDERSERVED_ACTION_PEOPLE, t_st,
                                      "station"),
                                     ("beyond_regional", REGIONAL_ACTION_PEOPLE, t_rg,
                                      "regional")):
        areas = [a for a in top if (_num(a.get(key)) or 0) >= limit]
        if not areas:
            continue
        where = L.join([_d(", ".join(str(a.get("commune_names") or "").split(";")[:3]))
                        + " (" + _e(L.people(a[key])) + ")" for a in areas[:3]])
        total = sum(_num(a[key]) or 0 for a in areas)
        if need == "station":
            out.append((
                L._("Bring a service point or a mobile team closer to the {n} people more than "
                    "{t} min from any station in {where}.", n=_e(L.people(total)),
                    t=_e(_t(L, t_rule)), where=where),
                L._("Rule: every under-served area with at least {min} people more than {t} "
                    "min from a station.", min=_e(L.num(limit)), t=_e(_t(L, t_rule)))))
        else:
            out.append((
                L._("Secure referral transport for the {n} people more than {t} min from a "
                    "regional hospital in {where}.", n=_e(L.people(total)),
                    t=_e(_t(L, t_rule)), where=where),
                L._("Rule: every under-served area with at least {min} people more than {t} "
                    "min from a regional hospital.", min=_e(L.num(limit)),
                    t=_e(_t(L, t_rule)))))
    for p in plans.get("plans") or []:
        if p.get("kind") != "user":
            continue
        r = next((x for x in scen if x.get("scenario") == p.get("scenario")), {})
        lost = _num(r.get(f"losing_{k}")) or 0.0
        ref = _num((off or {}).get(f"losing_{k}")) or 0.0
        if lost > ref + 0.5:
            out.append((
                L._("Plan {plan} leaves {n} people more than {t} min from a station who are "
                    "within it today, most in {where}: add branch points there before "
                    "adopting it.", plan=_d(p.get("scenario")), n=_e(L.people(lost)),
                    t=_e(_t(L, T)), where=_names_list(L, p.get("losing_top") or [])),
                L._("Rule: a plan file that loses more people than the official plan ({ref})."
                    , ref=_e(L.people(ref)))))
        else:
            out.append((
                L._("Plan {plan} keeps today's {t}-min access: it can be adopted as far as "
                    "access goes.", plan=_d(p.get("scenario")), t=_e(_t(L, T))),
                L._("Rule: a plan file that loses no more people than the official plan "
                    "({ref}).", ref=_e(L.people(ref)))))
    doc = _indicator(s, "doctors per commune station")
    beds = _indicator(s, "beds per 10,000")
    unknown = []
    if doc is not None and doc.get("value") is None:
        unknown.append(L._("doctors per station"))
    d10 = _indicator(s, "doctors per 10,000")
    if d10 is not None and d10.get("value") is None:
        unknown.append(L._("doctors per hospital"))
    if beds is not None and (beds.get("value") is None or beds.get("lower_bound")):
        unknown.append(L._("beds per hospital"))
    if unknown:
        out.append((
            L._("Collect {what} in the facility register: the staffing and bed targets "
                "cannot be checked without them.", what=_e(L.join(unknown))),
            L._("Rule: listed whenever an indicator against a target is unknown or only a "
                "lower bound.")))
    return out[:MAX_DECISIONS]


def _key_figures(L: Lang, s: Mapping[str, Any]) -> str:
    """Key figures as tiles: value, what it is."""
    tiles: list[tuple[str, str]] = []
    pop = s.get("population") or {}
    if pop.get("total") is not None:
        tiles.append((L.people(pop["total"]), L._("people")))
    far = (s.get("access") or {}).get("far_communes") or {}
    cov = (s.get("access") or {}).get("coverage") or {}
    for tier, label in (("station", N_("within {t} min of a commune health station")),
                        ("regional", N_("within {t} min of a regional general hospital"))):
        f = far.get(tier)
        if f:
            t = f["time_min"]
            c = (cov.get(tier) or {}).get(f"{t:g}") or {}
            tiles.append((L.pct(c.get("share")), L._(label, t=_t(L, t))))
    scen = _scenarios(s)
    only = _by_kind(scen, "official_only")
    T = _cover_min(s)
    if only:
        tiles.append((L.people(only.get(f"losing_{T:g}min")),
                      L._("people losing {t}-min access if only the main stations stay",
                          t=_t(L, T))))
    few = (s.get("plans") or {}).get("fewest_branch_points")
    if few:
        tiles.append((L.num(len(few.get("stations") or [])),
                      L._("branch points keep everyone's {t}-min access", t=_t(L, T))))
    beds = _indicator(s, "beds per 10,000")
    if beds is not None:
        v = L.num(beds["value"], 1) if beds.get("value") is not None else L._("unknown")
        tiles.append((v, L._("beds per 10,000 people (target {t})",
                             t=L.num(beds.get("target"), 0))))
    return '<div class="tiles">' + "".join(
        f'<div class="tile"><b>{_e(v)}</b><span>{_e(t)}</span></div>' for v, t in tiles) + \
        "</div>"


# --------------------------------------------------------------------------------------------
# page 2: plans compared


def _scenario_table(L: Lang, scen: Sequence[Mapping[str, Any]], T: float) -> str:
    ths = sorted({float(m.group(1)) for r in scen for k in r
                  if (m := re.fullmatch(r"covered_([\d.]+)min_share", str(k)))})
    head = ["#", _e(L._("Scenario")), _e(L._("Service points"))] + [
        _e(L._("Within {t} min", t=_t(L, t))) for t in ths] + [
        _e(L._("People losing {t}-min access", t=_t(L, T))),
        _e(L._("Mean / longest trip, min"))]
    rows = []
    for i, r in enumerate(scen, 1):
        kind = r.get("scenario_kind")
        name = _e(_scen_name(L, r)) if kind and kind != "user" else _d(r.get("scenario"))
        lose = r.get(f"losing_{T:g}min")
        rows.append([_e(L.num(i)), name, _e(L.num(r.get("service_points")))] + [
            _e(L.pct(r.get(f"covered_{t:g}min_share"))) for t in ths] + [
            "—" if kind == "today" else _e(L.people(lose)),
            _e(L.num(r.get("mean_time_min"), 1) + " / " + L.num(r.get("max_time_min"), 0))])
    n = len(head)
    widths = ["4%", "36%", "10%"] + [f"{30 / max(len(ths), 1):.1f}%" for _ in ths] + ["10%",
                                                                                      "10%"]
    return _table(head, rows, num=[True, False] + [True] * (n - 2), widths=widths,
                  cls="rec scen")


def _plans_charts(L: Lang, scen: Sequence[Mapping[str, Any]], curve: Mapping[str, Any] | None,
                  T: float) -> str:
    out = ""
    k = f"{T:g}min"
    items: list = []
    for i, r in enumerate(scen, 1):
        v = (None if _num(r.get("population")) is None else
             (_num(r.get("population")) or 0) - (_num(r.get(f"covered_{k}")) or 0))
        if r.get("scenario_kind", "user") == "user":
            name = str(r.get("scenario", ""))
            items.append(((f"{i}. ", name if len(name) <= 36 else name[:35] + "…"), v))
            continue
        lab = f"{i}. " + plan_display_name(str(r.get("scenario", "")),
                                          str(r.get("scenario_kind")), r, lang=L.code,
                                          short=True)
        items.append((lab if len(lab) <= 40 else lab[:39] + "…", v))
    if any(v is not None for _, v in items):
        out += "<figure>" + svg_bar_chart(
            items, title=L._("People more than {t} min from a station, per scenario",
                             t=_t(L, T)), fmt=L.people, lang=L.code, width=680,
            label_width=280) + "</figure>"
    pts = [(r.get("service_points"), r.get(f"covered_{k}_share"), str(i))
           for i, r in enumerate(scen, 1)
           if _num(r.get("service_points")) is not None
           and _num(r.get(f"covered_{k}_share")) is not None]
    if len(pts) >= 2:
        out += "<figure>" + svg_xy_chart(
            {L._("within {t} min", t=_t(L, T)): pts},
            title=L._("Service points kept against people within {t} min (numbers: the "
                      "scenarios of the table)", t=_t(L, T)),
            x_label=L._("service points (stations + branch points)"),
            y_label=L._("people within {t} min", t=_t(L, T)), y_percent=True,
            lang=L.code, width=680, height=300) + "</figure>"
    points = (curve or {}).get("points") or []
    pop = _num((scen[0] if scen else {}).get("population"))
    if points and pop:
        t = _num((curve or {}).get("time_min")) or T
        cp = [(p["branch_points"], p["covered_population"] / pop, L.num(p["branch_points"]))
              for p in points if _num(p.get("covered_population")) is not None]
        out += "<figure>" + svg_xy_chart(
            {L._("within {t} min", t=_t(L, t)): cp},
            title=L._("Branch points kept against people within {t} min (best choice for each "
                      "number)", t=_t(L, t)),
            x_label=L._("branch points kept besides the main stations"),
            y_label=L._("people within {t} min", t=_t(L, t)), y_percent=True, lang=L.code,
            width=680, height=280) + "</figure>"
    return out


def _side_by_side(L: Lang, s: Mapping[str, Any], T: float) -> str:
    """Every plan but today and the official plan, against the official plan."""
    scen = _scenarios(s)
    off = _by_kind(scen, "official")
    if off is None:
        return ""
    k = f"{T:g}min"
    metrics: list[tuple[str, str, Callable[[Any], str], bool]] = [
        (L._("Main stations"), "main_stations", L.num, True),
        (L._("Branch points"), "actions_branch", L.num, True),
        (L._("Closed former stations"), "actions_close", L.num, True),
        (L._("New sites"), "actions_new", L.num, True),
        (L._("Service points"), "service_points", L.num, True),
        (L._("People within {t} min", t=_t(L, T)), f"covered_{k}", L.people, True),
        (L._("People losing {t}-min access", t=_t(L, T)), f"losing_{k}", L.people, True),
        (L._("Mean trip, min"), "mean_time_min", lambda v: L.num(v, 1), False),
        (L._("Longest trip, min"), "max_time_min", lambda v: L.num(v, 0), False),
        (L._("Doctors needed (norm per station)"), "doctors_needed", L.num, True),
    ]
    blocks = []
    for r in scen:
        kind = r.get("scenario_kind")
        if kind in ("today", "official"):
            continue
        name = _e(_scen_name(L, r)) if kind != "user" else _d(r.get("scenario"))
        rows = []
        for label, key, fmt, whole in metrics:
            a, b = _num(off.get(key)), _num(r.get(key))
            if a is None and b is None:
                continue
            diff = ""
            if a is not None and b is not None:
                dv = b - a
                diff = ("±0" if abs(dv) < (0.5 if whole else 0.05) else
                        ("+" if dv > 0 else "−") + fmt(abs(dv)))
            rows.append([_e(label), _e(fmt(a)), _e(fmt(b)), _e(diff)])
        blocks.append(f'<div class="sbs"><h4>{name}</h4>' + _table(
            [_e(L._("Figure")), _e(L._("Official plan")), _e(L._("This plan")),
             _e(L._("Change"))], rows, num=[False, True, True, True],
            widths=["40%", "20%", "20%", "20%"], cls="rec small") + "</div>")
    if not blocks:
        return ""
    return (f"<h3>{_e(L._('Each plan against the official plan'))}</h3>"
            f'<p class="note">{_e(L._("Compared with: {name}.", name=_scen_name(L, off)))}</p>'
            '<div class="grid2">' + "".join(blocks) + "</div>")


# --------------------------------------------------------------------------------------------
# appendix


def _tier_name(L: Lang, tier: str) -> str:
    return {"station": L._("commune health station"),
            "regional": L._("regional general hospital"),
            "provincial": L._("provincial hospital")}.get(tier, tier)


def _travel_model_sentence(L: Lang, tm: Mapping[str, Any]) -> str:
    """The travel model in one sentence of the language (``summary.access.travel_model``)."""
    kind = tm.get("kind") or ("straight" if "straight" in str(tm.get("model", "")) else "")
    mode = L.text(tm.get("mode")) if tm.get("mode") else ""
    cut = _t(L, tm.get("cutoff_min"))
    if kind == "straight":
        return L._("Travel model: straight line × detour factor {d} at {v} km/h, pairs beyond "
                   "{c} min not stored.", d=L.num(tm.get("detour_factor"), 1),
                   v=L.num(tm.get("speed_kmh"), 0), c=cut)
    if kind == "roads":
        return L._("Travel model: the road network ({mode}), off-road legs on foot at {v} km/h "
                   "up to {m} m, pairs beyond {c} min not stored.", mode=mode,
                   v=L.num(tm.get("offroad_speed_kmh"), 1), m=L.num(tm.get("snap_max_m")),
                   c=cut)
    if kind == "friction":
        return L._("Travel model: a friction surface of {s} m pixels ({mode} on roads, "
                   "{v} km/h off-road), pairs beyond {c} min not stored.",
                   s=L.num(tm.get("cell_size_m")), mode=mode,
                   v=L.num(tm.get("offroad_speed_kmh"), 1), c=cut)
    return L._("Travel model: {m}.", m=L.text(tm.get("model")))


def _access_appendix(L: Lang, s: Mapping[str, Any]) -> str:
    acc = s.get("access") or {}
    if acc.get("skipped"):
        return f"<p>{L.text(acc['skipped'], html=True)}</p>"
    out = ""
    tm = acc.get("travel_model") or {}
    if tm:
        out += "<p>" + _e(_travel_model_sentence(L, tm)) + (
            f' <span class="est">{_e(L._("estimate"))}</span>' if tm.get("is_estimate")
            else "") + "</p>"
        lost = tm.get("cells_without_time") or {}
        if lost.get("cells"):
            out += "<p>" + _e(L._("{n} demand cells ({p} people) have no travel time: {why}.",
                                  n=L.num(lost["cells"]), p=L.num(lost.get("population")),
                                  why=L.text(lost.get("why")))) + "</p>"
    cov = acc.get("coverage") or {}
    rows = []
    for tier, d in cov.items():
        for thr, v in (d or {}).items():
            rows.append([_e(_tier_name(L, tier)), _e(_t(L, thr)),
                         _e(L.people(v.get("population"))), _e(L.pct(v.get("share"))),
                         _e(L.people(v.get("beyond")))])
    if rows:
        out += f"<h3>{_e(L._('Who is how far from care'))}</h3>" + _table(
            [_e(L._("Nearest")), _e(L._("Within, min")), _e(L._("People within")),
             _e(L._("Share")), _e(L._("People beyond"))], rows,
            num=[False, True, True, True, True], widths=["34%", "14%", "20%", "12%", "20%"])
    far = acc.get("far_communes") or {}
    for tier, f in far.items():
        if not f.get("top"):
            continue
        head = L._("Communes with the most people more than {t} min from the {target}",
                   t=_t(L, f.get("time_min")), target=_tier_name(L, tier))
        out += (f"<h4>{_e(head)}</h4>" + _table([_e(L._("Commune")), _e(L._("People beyond"))],
                                 [[_d(c.get("commune_name")), _e(L.people(c.get("population")))]
                                  for c in f["top"]], num=[False, True],
                                 widths=["70%", "30%"]))
    inds = s.get("indicators") or acc.get("indicators") or []
    if inds:
        out += f"<h3>{_e(L._('Indicators against targets'))}</h3>" + _indicators(L, inds)
    fca = acc.get("fca") or {}
    if fca:
        out += "<p class=\"note\">" + _e(L._(
            "Supply per person (E2SFCA, {c}-min catchment, {decay} decay): doctors known for "
            "{dk} of {dt} facilities, beds for {bk} of {bt}.",
            c=_t(L, fca.get("catchment_min")), decay=L.text(fca.get("decay")),
            dk=L.num((fca.get("doctors") or {}).get("known")),
            dt=L.num((fca.get("doctors") or {}).get("total")),
            bk=L.num((fca.get("beds") or {}).get("known")),
            bt=L.num((fca.get("beds") or {}).get("total")))) + "</p>"
    return out


def _indicators(L: Lang, inds: Sequence[Mapping[str, Any]]) -> str:
    names = {"doctors per 10,000 people": L._("Doctors per 10,000 people"),
             "beds per 10,000 people": L._("Hospital beds per 10,000 people"),
             "doctors per commune station": L._("Doctors per commune station"),
             "doctors per commune health unit (post-2025 commune)":
                 L._("Doctors per commune health unit (post-2025 commune)")}
    rows = []
    for ind in inds:
        value, target = _num(ind.get("value")), _num(ind.get("target"))
        higher = ind.get("higher_is_better", True)
        digits = 1
        if value is None or target is None:
            status = f'<span class="unknown">{_e(L._("unknown"))}</span>'
        else:
            met = value >= target if higher else value <= target
            if met and not ind.get("lower_bound"):
                status = f'<span class="ok">{_e(L._("met"))}</span>'
            elif met:
                status = f'<span class="ok">{_e(L._("met (lower bound)"))}</span>'
            else:
                gap = abs(target - value)
                status = (f'<span class="bad">{_e(L._("not met (gap {gap})", gap=L.num(gap, 1)))}'
                          "</span>" + (f' <span class="note">{_e(L._("value is a lower bound"))}'
                                       "</span>" if ind.get("lower_bound") else ""))
        name = str(ind.get("name", ""))
        label = _e(names.get(name, "")) if name in names else L.text(name, html=True)
        if str(ind.get("key", "")).endswith("_share") and value is not None:
            vtxt, ttxt = L.pct(value), L.pct(target)
        elif str(ind.get("key", "")).endswith("_min") and value is not None:
            vtxt, ttxt = L.minutes(value), L.minutes(target)
        else:
            vtxt = L.num(value, digits) if value is not None else L._("unknown")
            ttxt = L.num(target, digits) if target is not None else L._("unknown")
        est = f' <span class="est">{_e(L._("estimate"))}</span>' if ind.get("is_estimate") \
            else ""
        rows.append([label, _e(vtxt) + est, _e(ttxt), status,
                     L.text(ind.get("note"), html=True) if ind.get("note") else ""])
    return _table([_e(L._("Indicator")), _e(L._("Value")), _e(L._("Target")),
                   _e(L._("Status")), _e(L._("Note"))], rows,
                  num=[False, True, True, False, False],
                  widths=["26%", "12%", "10%", "20%", "32%"])


def _underserved_appendix(L: Lang, s: Mapping[str, Any]) -> str:
    u = (s.get("access") or {}).get("underserved")
    if not u:
        return f"<p>{_e(L._('None found.'))}</p>"
    if isinstance(u, list):
        top = u
        rules: Mapping[str, Any] = {}
    else:
        top = u.get("top") or []
        rules = u.get("rules_min") or {}
    if not top:
        return f"<p>{_e(L._('None found.'))}</p>"
    t_st, t_rg = rules.get("station", 30.0), rules.get("regional", 60.0)
    intro = ""
    if isinstance(u, Mapping) and u.get("areas") is not None:
        intro = "<p>" + _e(L._("{n} areas where people are more than {ts} min from a station or "
                               "more than {tr} min from a regional hospital; {p} people in all.",
                               n=L.num(u.get("areas")), ts=_t(L, t_st), tr=_t(L, t_rg),
                               p=L.people(u.get("population")))) + "</p>"
    rows = []
    for a in top:
        why = []
        if _num(a.get("beyond_station")):
            why.append(L._("> {t} min from a station: {n}", t=_t(L, t_st),
                           n=L.people(a["beyond_station"])))
        if _num(a.get("beyond_regional")):
            why.append(L._("> {t} min from a regional hospital: {n}", t=_t(L, t_rg),
                           n=L.people(a["beyond_regional"])))
        why_html = _e("; ".join(why)) if why else L.text(a.get("reasons"), html=True)
        near = ""
        if a.get("nearest_name"):
            near = _d(a["nearest_name"]) + (
                f" ({_e(L.minutes(a.get('nearest_time_min'), 0))})"
                if _num(a.get("nearest_time_min")) is not None else "")
        where = a.get("commune_names") or a.get("commune_name") or a.get("commune_codes") or ""
        rows.append([_e(L.num(a.get("rank"))), _e(L.people(a.get("population"))),
                     _e(L.num(a.get("area_km2"), 0)) if _num(a.get("area_km2")) is not None
                     else "", _d(", ".join(str(where).split(";"))), why_html, near])
    return intro + _table([_e(L._("Rank")), _e(L._("People")), _e(L._("Area, km²")),
                           _e(L._("Communes")), _e(L._("Why")), _e(L._("Nearest facility"))],
                          rows, num=[True, True, True, False, False, False],
                          widths=["6%", "11%", "9%", "24%", "25%", "25%"])


def _plans_appendix(L: Lang, s: Mapping[str, Any]) -> str:
    plans = s.get("plans") or {}
    if plans.get("skipped"):
        return f"<p>{L.text(plans['skipped'], html=True)}</p>"
    out = ""
    rule = plans.get("main_station_rule")
    if rule:
        out += f"<h3>{_e(L._('Main station of each commune'))}</h3><p>{L.text(rule, html=True)}</p>"
        counts = plans.get("main_station_rule_counts") or {}
        if counts:
            out += _table([_e(L._("Rule that decided")), _e(L._("Communes"))],
                          [[L.text(k, html=True), _e(L.num(v))] for k, v in counts.items()],
                          num=[False, True], widths=["80%", "20%"])
    changes = plans.get("main_station_changes") or []
    if changes:
        out += (f"<h3>{_e(L._('Communes where the best main station differs from the rule'))}"
                "</h3>" + _table([_e(L._("Commune")), _e(L._("By the rule")),
                                  _e(L._("Best for the commune's people"))],
                                 [[_d(c.get("commune_name")), _d(c.get("official_name")),
                                   _d(c.get("best_name"))] for c in changes],
                                 widths=["30%", "35%", "35%"]))
    few = plans.get("fewest_branch_points") or {}
    if few.get("stations"):
        out += (f"<h3>{_e(L._('The fewest branch points'))}</h3>" + _table(
            [_e(L._("Former station")), _e(L._("Commune"))],
            [[_d(x.get("name")), _d(x.get("commune_name"))] for x in few["stations"]],
            widths=["60%", "40%"]))
        if _num(few.get("uncoverable_population")):
            out += "<p class=\"note\">" + _e(L._(
                "{n} people are more than {t} min from every former station: no branch point "
                "can bring them within reach.", n=L.people(few["uncoverable_population"]),
                t=_t(L, few.get("time_min")))) + "</p>"
    curve = plans.get("coverage_curve") or {}
    pts = curve.get("points") or []
    if pts:
        t = curve.get("time_min")
        prev = None
        rows = []
        for p in pts:
            c = _num(p.get("covered_population"))
            rows.append([_e(L.num(p.get("branch_points"))), _e(L.people(c)),
                         "" if prev is None or c is None else "+" + _e(L.people(c - prev))])
            prev = c
        out += (f"<h3>{_e(L._('Branch points kept and people within {t} min', t=_t(L, t)))}"
                "</h3>" + _table([_e(L._("Branch points")), _e(L._("People within")),
                                  _e(L._("Gain"))], rows, num=[True, True, True],
                                 widths=["30%", "40%", "30%"]))
    scen = _scenarios(s)
    if scen:
        T = _cover_min(s)
        rows = []
        for i, r in enumerate(scen, 1):
            rows.append([_e(L.num(i)), _e(L.num(r.get("main_stations"))),
                         _e(L.num(r.get("actions_branch"))), _e(L.num(r.get("actions_close"))),
                         _e(L.num(r.get("p90_time_min"), 1)),
                         _e(L.num(r.get("person_min"))),
                         _e(L.num(r.get("doctors_needed"))),
                         _e(L.pct(r.get("gap"), 2)) if _num(r.get("gap")) is not None else ""])
        out += (f"<h3>{_e(L._('More figures per scenario'))}</h3>" + _table(
            ["#", _e(L._("Main stations")), _e(L._("Branch points")), _e(L._("Closed")),
             _e(L._("90% of people within, min")),
             _e(L._("Person-minutes to the nearest service point")),
             _e(L._("Doctors needed")), _e(L._("Optimality gap"))], rows,
            num=[True] * 8, widths=["5%", "11%", "11%", "10%", "14%", "21%", "14%", "14%"]))
        out += "<p class=\"note\">" + _e(L._(
            "Person-minutes: the sum over all people of their travel time to the nearest "
            "service point (lower is better). People losing access: within {t} min of a "
            "station today and beyond it under the plan.", t=_t(L, T))) + "</p>"
    return out


def _network_appendix(L: Lang, s: Mapping[str, Any]) -> str:
    net = s.get("network") or {}
    if net.get("skipped"):
        return f"<p>{L.text(net['skipped'], html=True)}</p>"
    out = ""
    if net.get("rule"):
        out += f"<p>{_e(L._('Referral rule:'))} {L.text(net['rule'], html=True)}</p>"
    names = _facility_names(s)
    per = net.get("stations_per_regional") or []
    if per:
        out += (f"<h3>{_e(L._('Stations and people per regional hospital'))}</h3>" + _table(
            [_e(L._("Regional hospital")), _e(L._("Stations")), _e(L._("People"))],
            [[_d(r.get("name")), _e(L.num(r.get("stations"))), _e(L.people(r.get("population")))]
             for r in per], num=[False, True, True], widths=["60%", "15%", "25%"]))
    chains = net.get("chains") or {}
    rows = []
    for key, label in (("station", L._("home → station")),
                       ("regional", L._("home → station → regional hospital")),
                       ("provincial", L._("… → provincial hospital"))):
        c = chains.get(key)
        if not c:
            continue
        rows.append([_e(label), _e(L.num(c.get("mean_time_min"), 1)),
                     _e(L.num(c.get("p90_time_min"), 1)), _e(L.num(c.get("max_time_min"), 1))])
    if rows:
        out += (f"<h3>{_e(L._('Travel along the referral chain'))}</h3>" + _table(
            [_e(L._("Chain")), _e(L._("Mean, min")), _e(L._("90% within, min")),
             _e(L._("Longest, min"))], rows, num=[False, True, True, True],
            widths=["46%", "18%", "18%", "18%"]))
    ranking = ((net.get("loss_impact") or {}).get("ranking")) or []
    if ranking:
        out += (f"<h3>{_e(L._('If one hospital stopped: people newly too far from care'))}"
                "</h3>" + _table(
                    [_e(L._("Rank")), _e(L._("Hospital")), _e(L._("People moved beyond"))],
                    [[_e(L.num(r.get("rank"))), _d(r.get("name")),
                      _e(L.people(r.get("population_moved_beyond")))] for r in ranking[:10]],
                    num=[True, False, True], widths=["10%", "65%", "25%"]))
    hubs = net.get("hubs") or []
    if hubs:
        out += (f"<h3>{_e(L._('Hospitals as hubs'))}</h3>" + _table(
            [_e(L._("Hospital")), _e(L._("People behind")), _e(L._("Stations")),
             _e(L._("Beds")), _e(L._("Beds per 10,000"))],
            [[_d(h.get("name")), _e(L.people(h.get("load"))), _e(L.num(h.get("stations"))),
              _e(L.num(h.get("beds"))), _e(L.num(h.get("beds_per_10k"), 1))] for h in hubs],
            num=[False, True, True, True, True], widths=["44%", "16%", "12%", "12%", "16%"]))
    sat = net.get("satellite_planning") or []
    for sp in sat:
        links = sp.get("links") or []
        spec = L.text(sp.get("specialty"))
        out += (f"<h3>{_e(L._('Satellite planning: {what}', what=spec))}</h3><p>"
                + _e(L._("{k} new links bring people within {t} min of {what} care from {a} "
                         "to {b} ({how}).", k=L.num(len(links)), t=_t(L, sp.get("within_min")),
                         what=spec, a=L.people(sp.get("covered_before")),
                         b=L.people(sp.get("covered_after")),
                         how=L._("exact, by enumeration") if sp.get("exact")
                         else L._("greedy"))) + "</p>")
        if links:
            out += _table([_e(L._("Core hospital")), _e(L._("Satellite hospital")),
                           _e(L._("Travel, min")), _e(L._("People gained"))],
                          [[_d(names.get(str(x.get("core_id")), x.get("core_id"))),
                            _d(names.get(str(x.get("satellite_id")), x.get("satellite_id"))),
                            _e(L.num(x.get("time_min"), 0)), _e(L.people(x.get("gain")))]
                           for x in links], num=[False, False, True, True],
                          widths=["35%", "35%", "12%", "18%"])
    plan = net.get("plan") or {}
    if plan:
        ch = plan.get("chains") or {}
        rows = []
        for key, label in (("station", L._("home → station or branch point")),
                           ("regional", L._("home → regional hospital")),
                           ("provincial", L._("home → provincial hospital"))):
            c = ch.get(key) or {}
            m = c.get("mean_time_min") or {}
            if m:
                rows.append([_e(label), _e(L.num(m.get("before"), 1)),
                             _e(L.num(m.get("after"), 1))])
        if rows:
            out += (f"<h3>{_e(L._('The network after the official plan'))}</h3>" + _table(
                [_e(L._("Mean trip")), _e(L._("Today, min")), _e(L._("After, min"))], rows,
                num=[False, True, True], widths=["50%", "25%", "25%"]))
        if _num(plan.get("population_changing_regional_hospital")) is not None:
            out += "<p>" + _e(L._("{n} people change regional hospital under the plan.",
                                  n=L.people(plan["population_changing_regional_hospital"]))) \
                + "</p>"
    return out


def _data_appendix(L: Lang, s: Mapping[str, Any]) -> str:
    out = ""
    prov = s.get("province") or {}
    if prov:
        out += _kv([(L._("Province"), _d(prov.get("name", ""))),
                    (L._("Code"), _d(prov.get("code", ""))),
                    (L._("Working coordinate system"), _d(prov.get("crs", "")))])
    pop = s.get("population") or {}
    counts = s.get("counts") or {}
    if pop or counts:
        est = f' <span class="est">{_e(L._("estimate"))}</span>'
        rows = []
        if pop:
            rows.append((L._("People (2025 communes)"), _e(L.people(pop.get("total"))) + (
                est if pop.get("is_estimate") else "") + f' <span class="src">'
                f'({L.text(pop.get("source"), html=True)})</span>'))
            if pop.get("legacy_total") is not None:
                rows.append((L._("People (pre-2025 communes)"), _e(L.people(
                    pop.get("legacy_total"))) + (est if _is_estimate_text(
                        pop.get("legacy_source")) else "") + f' <span class="src">'
                    f'({L.text(pop.get("legacy_source"), html=True)})</span>'))
        for key, label in (("new_communes", L._("Communes after 1 July 2025")),
                           ("legacy_communes", L._("Communes before 1 July 2025")),
                           ("legacy_communes_split", L._("Former communes split between new "
                                                         "ones")),
                           ("stations", L._("Commune health stations")),
                           ("hospitals", L._("Hospitals")),
                           ("facilities_ended", L._("Facilities ended"))):
            if key in counts:
                rows.append((label, _e(L.num(counts[key]))))
        out += _kv(rows)
    out += f"<h3>{_e(L._('Data sources'))}</h3>"
    src = s.get("sources")
    if not src:
        out += f'<p class="unknown">{_e(L._("No data sources recorded."))}</p>'
    else:
        items = src.items() if isinstance(src, Mapping) else ((None, x) for x in src)
        labels = {"registry": L._("Registry of communes"), "communes": L._("Commune polygons"),
                  "legacy_population": L._("Population of the former communes"),
                  "facilities": L._("Facility register"), "roads": L._("Roads"),
                  "referrals": L._("Referral table"), "satellite_links": L._("Satellite links"),
                  "population_raster": L._("Population raster"), "landcover": L._("Land cover"),
                  "travel_model": L._("Travel model")}
        lis = []
        for k, v in items:
            head = ""
            if k is not None:
                head = (f"<b>{_e(labels[k])}</b>: " if k in labels else f"<b>{_d(k)}</b>: ")
            tag = (f' <span class="est">{_e(L._("estimate"))}</span>'
                   if _is_estimate_text(v) else "")
            lis.append(f"<li>{head}{L.text(v, html=True)}{tag}</li>")
        out += "<ul>" + "".join(lis) + "</ul>"
    est = list(s.get("estimates") or [])
    if est:
        out += (f"<h3>{_e(L._('What is estimated'))}</h3><ul>"
                + "".join(f"<li>{L.text(x, html=True)}</li>" for x in est) + "</ul>")
    return out


_CSS = """
@page{size:A4;margin:12mm 12mm 14mm}
*{box-sizing:border-box}
body{font:10pt/1.4 system-ui,-apple-system,"Segoe UI",Roboto,"Noto Sans",sans-serif;margin:0;
 color:#222;background:#eee}
main{max-width:210mm;margin:0 auto;background:#fff}
.page{padding:12mm 12mm 10mm}
h1{font-size:17pt;margin:0 0 2px;line-height:1.2}
h2{font-size:13pt;border-bottom:2px solid #2171b5;padding-bottom:2px;margin:14px 0 6px}
h3{font-size:11pt;margin:12px 0 4px}
h4{font-size:10pt;margin:8px 0 3px}
p{margin:4px 0 6px;overflow-wrap:anywhere}
ul{padding-left:18px;margin:4px 0}li{overflow-wrap:anywhere}
.meta{color:#555;font-size:9pt;margin:0 0 6px}
nav{font-size:9pt;margin:4px 0 8px}nav a{margin-right:10px;color:#2171b5}
.situation{margin:0;padding-left:18px}.situation li{margin:2px 0}
.decisions{margin:0;padding-left:20px}.decisions li{margin:4px 0}
.decisions .why{display:block;color:#555;font-size:9pt}
.tiles{display:grid;grid-template-columns:repeat(3,1fr);gap:6px;margin:8px 0}
.tile{border:1px solid #d5dde8;border-radius:4px;padding:5px 8px;background:#f5f8fc;
 min-width:0}
.tile b{display:block;font-size:13pt;color:#08306b;overflow-wrap:anywhere}
.tile span{display:block;font-size:8.5pt;color:#444;overflow-wrap:anywhere}
table{border-collapse:collapse;margin:4px 0 10px;width:100%;table-layout:fixed;
 font-size:9pt}
th,td{border:1px solid #ddd;padding:2px 5px;vertical-align:top;overflow-wrap:anywhere}
th{overflow-wrap:break-word}
table.kv{width:auto;max-width:100%;table-layout:auto}
table.kv th{text-align:left;background:#f4f6f8;font-weight:600}
table.rec thead th{background:#e8eef5;text-align:left}
table.rec th.num{text-align:right}
table.small{font-size:8.5pt}
td.num{text-align:right}
.est{background:#fff3cd;color:#7a5a00;border:1px solid #e0c26b;border-radius:3px;
 padding:0 3px;font-size:8pt;font-weight:600;white-space:nowrap}
.src{color:#666;font-size:8.5pt}
.unknown{color:#888;font-style:italic}
.ok{color:#1a7f37;font-weight:600}.bad{color:#b30000;font-weight:600}
.note{color:#555;font-size:8.5pt}
.banner{background:#fff8e1;border:1px solid #e0c26b;padding:4px 10px;border-radius:4px;
 margin:6px 0}
.grid2{display:grid;grid-template-columns:1fr 1fr;gap:0 12px}
.sbs{min-width:0;break-inside:avoid}
figure{margin:6px 0;break-inside:avoid}
svg.chart{width:100%;height:auto;font:11px system-ui,sans-serif;background:#fff}
svg.chart .ct{font-weight:600;font-size:12px}
svg.chart .zoom{font-size:10px;fill:#b35806}
svg.chart .grid{stroke:#e3e3e3}
svg.chart .axis{fill:#444}
svg.chart .pt{font-size:11px;fill:#111;font-weight:600}
.appendix h2{border-color:#999}
@media print{
 body{background:#fff}
 main{max-width:none}
 .page{padding:0}
 .page+.page,.appendix{break-before:page}
 nav{display:none}
 a{color:inherit;text-decoration:none}
 h2,h3,h4{break-after:avoid}
 tr{break-inside:avoid}
}
"""


#: A section made by another output module: (anchor, heading, HTML already escaped, the
#: summary keys it shows, which are then not repeated under "Other results").
Section = tuple[str, str, str, tuple[str, ...]]


def render_report(summary: Mapping[str, Any], *, maps: Mapping[str, str | Path] | None = None,
                  title: str | None = None, base: str | Path | None = None,
                  x_key: str = "service_points", lang: str = "en",
                  sections: Sequence[Section] = ()) -> str:
    """The report as one HTML page (no external resources, no script).

    Parameters
    ----------
    summary : mapping
        The run summary (see the module docstring); every section is optional.
    maps : mapping of str to path, optional
        Map name -> HTML file, linked from the report (relative to ``base``).
    title : str, optional
        Page title (default: "Health facility network: <province>" in the language).
    base : path-like, optional
        Folder of the report, to make map links relative.
    x_key : str, default "service_points"
        Scenario field on the x axis of the scenario plot (kept for callers; the plot uses the
        service points).
    lang : {"en", "vi"}
        Language of the report.
    sections : sequence of Section
        Sections made by other output modules, in the report's language (e.g.
        :func:`gis.outputs.capacity.report_sections`), placed after the network.

    Returns
    -------
    str
    """
    L = get_lang(lang)
    prov = summary.get("province") or {}
    pname = prov.get("name") or prov.get("short_name")
    if title:
        title_html = _e(title)
    elif pname:
        title_html = L._("Health facility network: {province}", province=_d(pname))
        title = L._("Health facility network: {province}", province=pname)
    else:
        title = L._("Health facility network: province not given")
        title_html = _e(title)
    generated = summary.get("generated_at") or datetime.now(UTC).isoformat(timespec="seconds")
    try:
        when = L.date(generated)
    except (TypeError, ValueError):
        when = str(generated)
    meta = L._("Made on {date} by gis {version}.", date=when,
               version=summary.get("gis_version") or "")
    pop = summary.get("population") or {}
    if pop.get("is_estimate"):
        meta += " " + L._("The population is an estimate: figures built on it are labelled "
                          "estimate.")
    T = _cover_min(summary)
    scen = _scenarios(summary)

    # page 1: the summary
    sit = _situation(L, summary)
    dec = _decisions(L, summary)
    page1 = (f'<section class="page summary" id="summary"><h1>{title_html}</h1>'
             f'<p class="meta">{_e(meta)}</p>')
    skipped = {k: summary[k]["skipped"] for k in ("access", "plans", "network")
               if isinstance(summary.get(k), Mapping) and "skipped" in summary[k]}
    if skipped:  # first on the page: an output without some analyses says so at once
        names = {"access": L._("Access analyses"), "plans": L._("Plan scenarios"),
                 "network": L._("Referral network")}
        page1 += (f'<div class="banner"><b>{_e(L._("Not computed in this run"))}</b><ul>'
                  + "".join(f"<li>{_e(names[k])}: {L.text(v, html=True)}</li>"
                            for k, v in skipped.items()) + "</ul></div>")
    page1 += (f"<h2>{_e(L._('Situation'))}</h2>"
              + ('<ol class="situation">' + "".join(f"<li>{x}</li>" for x in sit) + "</ol>"
                 if sit else f'<p class="unknown">{_e(L._("No analysis in this run."))}</p>'))
    page1 += _key_figures(L, summary)
    page1 += f"<h2>{_e(L._('Recommended decisions'))}</h2>"
    if dec:
        page1 += '<ol class="decisions">' + "".join(
            f'<li>{d}<span class="why">{w}</span></li>' for d, w in dec) + "</ol>"
    else:
        page1 += f'<p class="unknown">{_e(L._("No decision follows from this run."))}</p>'
    computed = (summary.get("travel_model") or {}).get("is_estimate") is False
    page1 += '<p class="note">' + _e(L._(
        "Travel times are computed by the travel model on the roads or the terrain; sites not "
        "published are placed at commune centres. The detail is in the appendix, the figures "
        "in report.json.") if computed else L._(
        "Travel times are estimates from the travel model; sites not published are placed at "
        "commune centres. The detail is in the appendix, the figures in report.json.")) + "</p>"
    page1 += "</section>"

    # page 2: plans compared
    page2 = ""
    plans = summary.get("plans") or {}
    if scen:
        page2 = (f'<section class="page" id="plans"><h2>{_e(L._("Plans compared"))}</h2>'
                 + _scenario_table(L, scen, T)
                 + _plans_charts(L, scen, plans.get("coverage_curve"), T)
                 + _side_by_side(L, summary, T) + "</section>")
    elif plans.get("skipped"):
        page2 = (f'<section class="page" id="plans"><h2>{_e(L._("Plans compared"))}</h2>'
                 f"<p>{L.text(plans['skipped'], html=True)}</p></section>")

    # appendix
    parts: list[tuple[str, str, str]] = []
    acc = summary.get("access")
    inds = summary.get("indicators")
    if acc or inds:
        parts.append(("access", L._("Access to care"), _access_appendix(L, summary)))
    if acc and not acc.get("skipped") and "underserved" in acc:
        parts.append(("underserved", L._("Under-served areas"), _underserved_appendix(L, summary)))
    if plans:
        parts.append(("plans-detail", L._("Plans: detail"), _plans_appendix(L, summary)))
    if summary.get("network"):
        parts.append(("network", L._("Referral and satellite network"),
                      _network_appendix(L, summary)))
    shown: set[str] = set()
    for anchor, heading, content, keys in sections:
        parts.append((anchor, heading, content))
        shown.update(keys)
    parts.append(("data", L._("Data and estimates"), _data_appendix(L, summary)))
    links = dict(summary.get("maps") or {})
    links.update({k: str(v) for k, v in (maps or {}).items()})
    if links:
        names = {"overview": L._("Overview: communes and facilities"),
                 "access": L._("Access: travel time and coverage"),
                 "plan": L._("Plans: every plan, with a plan selector"),
                 "network": L._("Referral and satellite network")}
        lis = []
        for name, path in links.items():
            href = str(path)
            if base is not None and os.path.isabs(href):
                href = os.path.relpath(href, base)
            label = _e(names[name]) if name in names else _d(name)
            lis.append(f'<li><a href="{_e(Path(href).as_posix())}">{label}</a> '
                       f'<span class="note">({_d(Path(href).name)})</span></li>')
        parts.append(("maps", L._("Maps"), "<ul>" + "".join(lis) + "</ul>"))
    other = {k: v for k, v in summary.items()
             if k not in _KNOWN and k != "underserved" and k not in shown}
    if other:
        note = L._("Figures of other parts of the run, under the names of their fields (not "
                   "translated).")
        parts.append(("other", L._("Other results"),
                      f'<p class="note">{_e(note)}</p>' + _generic(L, other)))
    toc = [("summary", L._("Summary"))] + ([("plans", L._("Plans compared"))] if page2 else [])
    toc += [(a, h) for a, h, _ in parts]
    nav = "<nav>" + "".join(f'<a href="#{a}">{_e(h)}</a>' for a, h in toc) + "</nav>"
    appendix = (f'<section class="page appendix" id="appendix"><h2>{_e(L._("Appendix"))}</h2>'
                + nav + "".join(f'<section id="{a}"><h2>{_e(h)}</h2>{c}</section>'
                                for a, h, c in parts) + "</section>")
    return (
        f'<!DOCTYPE html>\n<html lang="{L.code}"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_e(title)}</title><style>{_CSS}</style></head><body><main>"
        + page1 + page2 + appendix + "</main></body></html>\n")


def write_report(folder: str | Path, summary: Mapping[str, Any], *,
                 maps: Mapping[str, str | Path] | None = None, name: str = "report",
                 title: str | None = None, overwrite: bool = False,
                 lang: str = "en", sections: Sequence[Section] = ()) -> dict[str, Path]:
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
    lang : {"en", "vi"}
        Language of the HTML report (the JSON has the figures, in no language).
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
    page = render_report(clean, title=title, base=folder, lang=lang, sections=sections)
    files.write_text(paths["json"], text + "\n", overwrite=overwrite)
    files.write_text(paths["html"], page, overwrite=overwrite)
    return paths


def render_sections(title: str, sections: Sequence[tuple[str, str, str]], *,
                    meta: str = "", lang: str = "en") -> str:
    """A report page (the look of :func:`render_report`, no external resources) from sections
    already rendered: ``(anchor, heading, html)``; the heading and ``title``/``meta`` are
    escaped here, the section HTML is trusted (its author escapes user text). Used for the
    national page (:mod:`gis.outputs.national`).
    """
    nav = "".join(f'<a href="#{_e(a)}">{_e(h)}</a>' for a, h, _ in sections)
    body = "".join(f'<section id="{_e(a)}"><h2>{_e(h)}</h2>{content}</section>'
                   for a, h, content in sections)
    return (
        f"<!DOCTYPE html>\n<html lang=\"{_e(lang)}\"><head><meta charset=\"utf-8\">"
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_e(title)}</title><style>{_CSS}</style></head><body><main>"
        f"<h1>{_e(title)}</h1><p class=\"meta\">{_e(meta)}</p><nav>{nav}</nav>"
        + body + "</main></body></html>\n")
