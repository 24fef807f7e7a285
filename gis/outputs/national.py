"""The national outputs of a national run (``<out>/vietnam/``).

- ``provinces.csv`` and ``provinces.json``: one row per province (population, coverage per
  tier and threshold, under-served people, scenario figures, indicators against targets,
  people best served across a border), plus the national row;
- ``national.html``: provinces and communes coloured by coverage (offline-ready, polygons
  simplified for display);
- ``vietnam.gpkg`` + ``vietnam.qgz``: provinces (with the table's figures), communes with
  their coverage, under-served areas and facilities, in EPSG:4326, with a styled QGIS project
  (:mod:`gis.outputs.qgis`);
- ``report.html`` (the national page, :func:`gis.outputs.report.render_sections`) and
  ``summary.json``.

Every user-facing string of these outputs is a message of the gettext catalogs
(:mod:`gis.outputs.i18n`), gathered in :data:`TEXT` (English msgids marked ``N_``,
placeholders in braces) and shown in the language of ``lang`` ("vi", the default of a run, or
"en"): the page, the map, the QGIS project and the table's column labels
(``provinces.json``, ``summary.json``); numbers follow the language (1.623.061 in
Vietnamese). ``provinces.csv`` keeps the machine column names. User text (province names,
errors) is data: escaped in every HTML output and marked ``translate="no"``.
"""

from __future__ import annotations

import html
import logging
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from gis import __version__
from gis.outputs import maps, qgis, report
from gis.outputs.files import MARKER, output_folder, write_json, write_text
from gis.outputs.i18n import N_, Lang, get_lang

log = logging.getLogger(__name__)

#: Every user-facing string of the national outputs (English msgids; ``{x}`` placeholders).
TEXT: dict[str, str] = {
    # page, map and project titles
    "title": N_("Viet Nam: health facility network planning, {n} provinces"),
    "map_title": N_("Viet Nam: coverage per province and commune"),
    "project_title": N_("Viet Nam: health facility network, national run"),
    "meta_local": N_("Generated on {date} at {time} UTC by gis {version} on {workers} Dask "
                     "workers (a local cluster)"),
    "meta_existing": N_("Generated on {date} at {time} UTC by gis {version} on {workers} Dask "
                        "workers (an existing cluster)"),
    # tiers
    "tier_station": N_("commune health station"),
    "tier_regional": N_("regional hospital"),
    "tier_provincial": N_("provincial hospital"),
    "tier_central": N_("central hospital"),
    # table columns (machine name -> label)
    "col_province_code": N_("Code"),
    "col_province_name": N_("Province"),
    "col_status": N_("Status"),
    "col_error": N_("Error"),
    "col_note": N_("Note"),
    "col_population": N_("Population"),
    "col_population_is_estimate": N_("Population is an estimate"),
    "col_new_communes": N_("Communes (after 2025)"),
    "col_legacy_communes": N_("Communes (before 2025)"),
    "col_stations": N_("Stations"),
    "col_hospitals": N_("Hospitals"),
    "col_demand_units": N_("Demand units"),
    "col_share": N_("Within {minutes} min of a {tier} (share)"),
    "col_covered": N_("Within {minutes} min of a {tier} (people)"),
    "col_beyond": N_("Beyond {minutes} min of a {tier} (people)"),
    "col_gain": N_("Within {minutes} min of a {tier} thanks to a facility across the border "
                   "(people)"),
    "col_across": N_("Best served by a {tier} across the border (people)"),
    "col_underserved_areas": N_("Under-served areas"),
    "col_underserved_population": N_("People in under-served areas"),
    "col_halo_facilities": N_("Facilities across the border within reach"),
    "col_scenario_points": N_("{scenario}: service points"),
    "col_scenario_share": N_("{scenario}: within {minutes} min of a station (share)"),
    "col_scenario_losing": N_("{scenario}: people losing {minutes}-min access"),
    "col_indicator_target": N_("{indicator}: target"),
    "col_indicator_lower_bound": N_("{indicator}: lower bound (partial data)"),
    "col_wall_s": N_("Run time (s)"),
    "col_peak_rss_mb": N_("Peak memory of the worker (MB)"),
    # scenarios (kinds of the plans stage, matched on the scenario's name)
    "scenario_today": N_("Stations today"),
    "scenario_mains_branches": N_("Official plan with branch points"),
    "scenario_mains_only": N_("Official plan, main stations only"),
    "scenario_best_mains": N_("Best main stations"),
    "scenario_fewest_branches": N_("Fewest branch points"),
    "scenario_p_median": N_("Best sites ignoring commune borders"),
    # indicators
    "indicator_doctors_per_10k": N_("Doctors per 10,000 people"),
    "indicator_beds_per_10k": N_("Beds per 10,000 people"),
    "indicator_doctors_per_station": N_("Doctors per commune station"),
    # statuses
    "status_ok": N_("ok"),
    "status_failed": N_("failed"),
    "national_row": N_("Viet Nam"),
    "unknown": N_("unknown"),
    # report sections
    "sec_national": N_("National figures"),
    "sec_coverage": N_("Coverage per province"),
    "sec_scenarios": N_("Scenarios per province"),
    "sec_indicators": N_("Indicators against targets per province"),
    "sec_cross_border": N_("Cross-border access"),
    "sec_failed": N_("Provinces that failed"),
    "sec_files": N_("Maps and files"),
    "sec_sources": N_("Data sources and estimates"),
    "national_population": N_("Population of the provinces that ran"),
    "provinces_run": N_("Provinces that ran"),
    "chart_coverage": N_("People within {minutes} min of a {tier}, per province (%)"),
    "cross_border_note": N_(
        "Facilities of neighbouring provinces within reach of the border ({radius_km} km:"
        " the travel cut-off x speed / detour factor) count for the nearest facility, coverage"
        " and under-served areas, so a border area is served by the nearest facility whichever "
        "province it is in. They do not enter the floating catchments, the indicators, the "
        "plan scenarios or the referral network, which concern each province's own "
        "facilities. 'Best served across the border': people whose nearest facility of the "
        "tier is in another province and strictly closer than any of their own province's."),
    "cross_border_off": N_("Cross-border access was off in this run "
                           "(access.cross_border = false)."),
    "halo_failures": N_("Provinces whose facilities are missing from their neighbours' "
                        "halos (they failed to prepare): {names}"),
    "no_failures": N_("Every province ran."),
    "estimates_intro": N_("Estimates used in some provinces (number of provinces):"),
    "file_map": N_("National map (provinces and communes coloured by coverage)"),
    "file_gpkg": N_("National GeoPackage (provinces, communes, under-served areas, facilities)"),
    "file_qgz": N_("QGIS project of the national GeoPackage"),
    "file_csv": N_("The table of provinces (CSV)"),
    "file_json": N_("The table of provinces (JSON)"),
    "file_province": N_("{province}: report of the province's own run"),
    "display_note": N_("Polygons are simplified for display ({tolerance_m} m); figures come "
                       "from the full polygons."),
    "layer_provinces": N_("Provinces: {label}"),
    "layer_communes": N_("Communes: {label}"),
    "popup_province": N_("Province"),
    "popup_commune": N_("Commune"),
    "popup_population": N_("Population"),
    "popup_share": N_("Share within {minutes} min"),
    "legend_share": N_("{label} (% of people)"),
    "share_label": N_("within {minutes} min of a {tier}"),
}

TIERS = ("station", "regional", "provincial", "central")
SCENARIO_KINDS = {  # kind -> pattern of the scenario name (gis.analyses.plans)
    "today": r" today$",
    "mains_branches": r" \+ branch points$",
    "mains_only": r"^\d+ only$",
    "best_mains": r" with best main stations$",
    "fewest_branches": r"fewest branch points",
    "p_median": r"\(p-median\)$",
}
INDICATORS = {"doctors per 10,000 people": "doctors_per_10k",
              "beds per 10,000 people": "beds_per_10k",
              "doctors per commune station": "doctors_per_station"}
#: Display simplification of the national map (metres).
NATIONAL_MAP_SIMPLIFY_M = 250.0


def t(key: str, L: Lang | None = None, **kw: Any) -> str:
    """The text of ``key`` in the language of ``L`` (English without one), its placeholders
    filled."""
    return (L or get_lang("en"))._(TEXT[key], **kw)


def _num(v: Any) -> float | None:
    if v is None:
        return None
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(f) else f


# --- the table ----------------------------------------------------------------------------

def province_row(summary: Mapping[str, Any] | None, *, code: str, name: str, ok: bool = True,
                 error: str | None = None, wall_s: float | None = None,
                 peak_rss_mb: float | None = None) -> dict[str, Any]:
    """One row of the national table from a province's ``summary.json``.

    Columns: ``province_code``, ``province_name``, ``status``, ``error``, ``population``,
    ``population_is_estimate``, ``new_communes``, ``legacy_communes``, ``stations``,
    ``hospitals``, ``demand_units``; per tier and threshold T of the coverage
    ``<tier>_<T>min_share``, ``<tier>_<T>min_covered``, ``<tier>_<T>min_beyond`` (people) and,
    with cross-border access, ``<tier>_<T>min_gain`` (people within T only thanks to a
    facility across the border) and ``<tier>_best_served_across`` (people whose nearest
    facility of the tier is across the border); ``halo_facilities``;
    ``underserved_areas``, ``underserved_population``; per scenario kind K of
    :data:`SCENARIO_KINDS` ``scenario_<K>_points``, ``scenario_<K>_<T>min_share`` and
    ``scenario_<K>_losing_<T>min`` (T: the middle station threshold); per indicator I of
    :data:`INDICATORS` ``<I>``, ``<I>_target``, ``<I>_lower_bound``; ``wall_s``,
    ``peak_rss_mb``. Missing figures are None.
    """
    row: dict[str, Any] = {"province_code": code, "province_name": name,
                           "status": "ok" if ok else "failed", "error": error}
    s = dict(summary or {})
    counts = s.get("counts") or {}
    pop = s.get("population") or {}
    access = s.get("access") or {}
    row["note"] = access.get("skipped")
    row.update(population=_num(pop.get("total")),
               population_is_estimate=pop.get("is_estimate"),
               new_communes=counts.get("new_communes"),
               legacy_communes=counts.get("legacy_communes"),
               stations=counts.get("stations"), hospitals=counts.get("hospitals"),
               demand_units=(access.get("demand") or {}).get("units"))
    cross = access.get("cross_border") or {}
    for tier, by_thr in (access.get("coverage") or {}).items():
        for thr, v in by_thr.items():
            base = f"{tier}_{thr}min"
            row[f"{base}_share"] = _num(v.get("share"))
            row[f"{base}_covered"] = _num(v.get("population"))
            row[f"{base}_beyond"] = _num(v.get("beyond"))
            if cross:
                row[f"{base}_gain"] = _num((cross.get("coverage_gain") or {})
                                           .get(tier, {}).get(thr))
    if cross:
        for tier, v in (cross.get("best_served_across") or {}).items():
            row[f"{tier}_best_served_across"] = _num(v.get("population"))
        row["halo_facilities"] = (cross.get("halo") or {}).get("facilities")
    under = access.get("underserved") or {}
    row["underserved_areas"] = under.get("areas")
    row["underserved_population"] = _num(under.get("population"))
    scen = (s.get("plans") or {}).get("scenarios") or []
    thr_keys = sorted({int(m.group(1)) for r in scen for k in r
                       if (m := re.fullmatch(r"covered_(\d+)min_share", str(k)))})
    mid = thr_keys[len(thr_keys) // 2] if thr_keys else None
    for kind, pattern in SCENARIO_KINDS.items():
        rec = next((r for r in scen if re.search(pattern, str(r.get("scenario", "")))), None)
        if mid is None:
            break
        row[f"scenario_{kind}_points"] = rec.get("service_points") if rec else None
        row[f"scenario_{kind}_{mid}min_share"] = _num(rec.get(f"covered_{mid}min_share")) \
            if rec else None
        row[f"scenario_{kind}_losing_{mid}min"] = _num(rec.get(f"losing_{mid}min")) \
            if rec else None
    for ind in access.get("indicators") or []:
        key = INDICATORS.get(str(ind.get("name")))
        if key is None:
            continue
        row[key] = _num(ind.get("value"))
        row[f"{key}_target"] = _num(ind.get("target"))
        row[f"{key}_lower_bound"] = bool(ind.get("lower_bound")) if ind.get("value") \
            is not None else None
    row["wall_s"] = wall_s
    row["peak_rss_mb"] = peak_rss_mb
    return row


def national_row(rows: Sequence[Mapping[str, Any]], *, lang: str = "en") -> dict[str, Any]:
    """The national row: sums of people and counts over the provinces that ran, shares as
    covered / population, indicators as population-weighted means (None when a province's
    value is unknown; a lower bound when one is); its name in ``lang``."""
    ok = [r for r in rows if r.get("status") == "ok"]
    cols = list(dict.fromkeys(k for r in rows for k in r))
    out: dict[str, Any] = {c: None for c in cols}
    out.update(province_code="VN", province_name=t("national_row", get_lang(lang)),
               status="ok" if len(ok) == len(rows) else "failed")

    def total(col: str) -> float | None:
        vals = [_num(r.get(col)) for r in ok]
        return float(sum(v for v in vals if v is not None)) if any(
            v is not None for v in vals) else None

    pop = total("population")
    for c in cols:
        if c in ("province_code", "province_name", "status", "error", "note", "wall_s",
                 "peak_rss_mb", "population_is_estimate"):
            continue
        if c.endswith(("_covered", "_beyond", "_gain", "_best_served_across", "_population",
                       "_areas", "_points", "_facilities", "_units", "communes", "stations",
                       "hospitals")) or c == "population" or re.search(r"_losing_\d+min$", c):
            out[c] = total(c)
    for c in cols:
        if re.fullmatch(r"\w+_\d+min_share", c) and not c.startswith("scenario_"):
            covered = total(c.replace("_share", "_covered"))
            out[c] = covered / pop if covered is not None and pop else None
        elif c.startswith("scenario_") and c.endswith("_share"):
            vals = [(_num(r.get(c)), _num(r.get("population"))) for r in ok]
            if vals and all(v is not None and p is not None for v, p in vals):
                out[c] = sum(v * p for v, p in vals) / sum(p for _, p in vals)
    for key in INDICATORS.values():
        vals = [(_num(r.get(key)), _num(r.get("population"))) for r in ok]
        targets = {_num(r.get(f"{key}_target")) for r in ok} - {None}
        out[f"{key}_target"] = targets.pop() if len(targets) == 1 else None
        if key == "doctors_per_station":
            st = [(_num(r.get(key)), _num(r.get("stations"))) for r in ok]
            out[key] = (sum(v * n for v, n in st) / sum(n for _, n in st)
                        if st and all(v is not None and n for v, n in st) else None)
        else:
            out[key] = (sum(v * p for v, p in vals) / sum(p for _, p in vals)
                        if vals and all(v is not None and p for v, p in vals) else None)
        lbs = [r.get(f"{key}_lower_bound") for r in ok]
        out[f"{key}_lower_bound"] = any(bool(x) for x in lbs) if out[key] is not None else None
    out["population_is_estimate"] = any(bool(r.get("population_is_estimate")) for r in ok)
    return out


def column_label(col: str, lang: str = "en") -> str:
    """The label of a table column in ``lang`` (from :data:`TEXT`); an unknown column by its
    name."""
    L = get_lang(lang)
    if f"col_{col}" in TEXT:
        return t(f"col_{col}", L)
    if m := re.fullmatch(r"(station|regional|provincial|central)_(\d+)min_"
                         r"(share|covered|beyond|gain)", col):
        tier, minutes, what = m.groups()
        return t(f"col_{what}", L, minutes=minutes, tier=t(f"tier_{tier}", L))
    if m := re.fullmatch(r"(station|regional|provincial|central)_best_served_across", col):
        return t("col_across", L, tier=t(f"tier_{m.group(1)}", L))
    if m := re.fullmatch(r"scenario_(\w+?)_points", col):
        return t("col_scenario_points", L, scenario=t(f"scenario_{m.group(1)}", L))
    if m := re.fullmatch(r"scenario_(\w+?)_(\d+)min_share", col):
        return t("col_scenario_share", L, scenario=t(f"scenario_{m.group(1)}", L),
                 minutes=m.group(2))
    if m := re.fullmatch(r"scenario_(\w+?)_losing_(\d+)min", col):
        return t("col_scenario_losing", L, scenario=t(f"scenario_{m.group(1)}", L),
                 minutes=m.group(2))
    for key in INDICATORS.values():
        name = t(f"indicator_{key}", L)
        if col == key:
            return name
        if col == f"{key}_target":
            return t("col_indicator_target", L, indicator=name)
        if col == f"{key}_lower_bound":
            return t("col_indicator_lower_bound", L, indicator=name)
    return col.replace("_", " ")


def national_table(rows: Sequence[Mapping[str, Any]], *, lang: str = "en") -> pd.DataFrame:
    """The provinces' rows (by code) and the national row last (named in ``lang``), columns
    in a stable order."""
    body = sorted(rows, key=lambda r: str(r["province_code"]))
    nat = national_row(body, lang=lang)
    cols = list(dict.fromkeys(k for r in [*body, nat] for k in r))
    return pd.DataFrame([*body, nat], columns=cols)


# --- layers, map, report ----------------------------------------------------------------------

@dataclass
class NationalWritten:
    """Files and figures written by :func:`write_national_outputs`."""

    table: pd.DataFrame
    files: list[Path]
    summary: dict[str, Any]


def _concat(parts: Sequence[gpd.GeoDataFrame]) -> gpd.GeoDataFrame | None:
    parts = [p for p in parts if p is not None and len(p)]
    if not parts:
        return None
    crs = parts[0].crs
    return gpd.GeoDataFrame(pd.concat([p.to_crs(crs) for p in parts], ignore_index=True),
                            geometry="geometry", crs=crs)


def national_layers(outcomes: Sequence[Any], table: pd.DataFrame) -> dict[str, gpd.GeoDataFrame]:
    """The national GeoPackage's layers: ``provinces`` (outline + the table's figures),
    ``communes_2025`` (coverage per commune), ``underserved``, ``facilities``."""
    ok = [o for o in outcomes if o.ok]
    out: dict[str, gpd.GeoDataFrame] = {}
    outlines = _concat([o.layers.get("outline") for o in ok])
    if outlines is not None:
        figures = table[table["province_code"] != "VN"].drop(columns=["province_name"])
        prov = outlines.merge(figures, on="province_code", how="left")
        out["provinces"] = gpd.GeoDataFrame(prov, geometry="geometry", crs=outlines.crs)
    for key, name in (("communes", "coverage_communes"), ("underserved", "underserved"),
                      ("facilities", "facilities")):
        g = _concat([o.layers.get(key) for o in ok])
        if g is not None:
            out[name] = g
    return out


def _share_columns(table: pd.DataFrame) -> list[tuple[str, str, str]]:
    """(column, tier, minutes) of the coverage shares, in table order."""
    out = []
    for c in table.columns:
        if m := re.fullmatch(r"(station|regional|provincial|central)_(\d+)min_share", c):
            out.append((c, m.group(1), m.group(2)))
    return out


def _map_shares(share_cols: Sequence[tuple[str, str, str]]) -> list[tuple[str, str, str]]:
    """The shares drawn on the national map: the middle threshold of each tier."""
    by_tier: dict[str, list[tuple[str, str, str]]] = {}
    for c in share_cols:
        by_tier.setdefault(c[1], []).append(c)
    return [v[len(v) // 2] for v in by_tier.values()]


def national_map(layers: Mapping[str, gpd.GeoDataFrame], table: pd.DataFrame, *,
                 sources: Sequence[str] = (), estimate_notes: Sequence[str] = (),
                 offline: bool = False, simplify_m: float = NATIONAL_MAP_SIMPLIFY_M,
                 lang: str = "en") -> Any:
    """Provinces coloured by coverage (the middle threshold of each tier) and communes
    coloured by the first tier's (commune health stations: one layer of 3,321 communes is
    already most of the page), one switchable layer each; polygons simplified by
    ``simplify_m`` metres for display, which keeps the whole country under 5 MB. Texts in
    ``lang``; ``estimate_notes`` as the data give them (translated by the map)."""
    L = get_lang(lang)
    specs = []
    first = True
    for col, tier, minutes in _map_shares(_share_columns(table)):
        label = t("share_label", L, minutes=minutes, tier=t(f"tier_{tier}", L))
        popup_p = [(t("popup_province", L), "province_name", "text"),
                   (t("popup_population", L), "population", "count"),
                   (t("popup_share", L, minutes=minutes), col, "share")]
        if "provinces" in layers:
            specs.append(maps.ShareLayer(layers["provinces"],
                                         t("layer_provinces", L, label=label), col,
                                         t("legend_share", L, label=label), popup=popup_p,
                                         tooltip="province_name", show=first, line_weight=1.5))
        com = layers.get("coverage_communes")
        if com is not None and col in com and first:
            popup_c = [(t("popup_commune", L), "commune_name", "text"),
                       (t("popup_province", L), "province_name", "text"),
                       (t("popup_population", L), "population", "count"),
                       (t("popup_share", L, minutes=minutes), col, "share")]
            specs.append(maps.ShareLayer(com[["commune_name", "province_name", "population",
                                              col, "geometry"]],
                                         t("layer_communes", L, label=label), col,
                                         t("legend_share", L, label=label), popup=popup_c,
                                         tooltip="commune_name", show=False, line_weight=0.3))
        first = False
    notes = [*estimate_notes, t("display_note", L, tolerance_m=L.num(simplify_m))]
    return maps.share_map(specs, title=t("map_title", L), sources=sources, estimate_notes=notes,
                          offline=offline, simplify_m=simplify_m, lang=L.code)


def _e(v: Any) -> str:
    return html.escape(str(v), quote=True)


def _d(v: Any) -> str:
    """Data (a name, a code, an error message) in HTML: escaped, marked not to translate."""
    return f'<span translate="no">{_e(v)}</span>'


def _cell(L: Lang, v: Any, col: str) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return f'<td class="num unknown">{_e(t("unknown", L))}</td>'
    if isinstance(v, bool | np.bool_):
        return f"<td>{_e(L._('yes') if v else L._('no'))}</td>"
    if isinstance(v, int | float | np.integer | np.floating):
        f = float(v)
        if col.endswith("_share"):
            return f'<td class="num">{_e(L.pct(f))}</td>'
        if col in ("doctors_per_10k", "beds_per_10k", "doctors_per_station") or \
                col.endswith("_target"):
            return f'<td class="num">{_e(L.num(f, 1))}</td>'
        return f'<td class="num">{_e(L.num(f))}</td>'
    if col == "status" and v in ("ok", "failed"):
        return f'<td class="txt">{_e(t(f"status_{v}", L))}</td>'
    if col == "note":
        return f'<td class="txt">{L.text(v, html=True)}</td>'
    return f'<td class="txt">{_d(v)}</td>'


def _html_table(L: Lang, table: pd.DataFrame, cols: Sequence[str]) -> str:
    cols = [c for c in cols if c in table.columns]
    head = "".join(f"<th>{_e(column_label(c, L.code))}</th>" for c in cols)
    body = "".join("<tr>" + "".join(_cell(L, r[c], c) for c in cols) + "</tr>"
                   for r in table.to_dict("records"))
    return f'<table class="rec"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _kv(items: Sequence[tuple[str, str]]) -> str:
    rows = "".join(f"<tr><th>{_e(k)}</th><td>{_e(v)}</td></tr>" for k, v in items)
    return f'<table class="kv">{rows}</table>'


def _numbers_as_n(text: str) -> str:
    """``text`` with every number written as N (estimate notes of several provinces)."""
    return re.sub(r"\d[\d,.]*", "N", text)


def render_national_report(table: pd.DataFrame, *, run: Mapping[str, Any],
                           outcomes: Sequence[Any], files: Mapping[str, str],
                           sources: Sequence[str], estimates: Mapping[str, int],
                           radius_m: float | None, lang: str = "en",
                           estimate_notes: Mapping[str, str] | None = None) -> str:
    """The national page in ``lang``: figures, coverage per province (chart and table),
    scenarios, indicators, cross-border access, failures, files, sources.

    ``files`` maps a link's label (HTML, escaped) to its address. ``estimates`` counts the
    provinces per estimate note (its numbers written as N);
    ``estimate_notes`` gives, per such key, one province's note as the data wrote it, which
    is translated and then shown with its numbers as N (the key itself when missing).
    """
    L = get_lang(lang)
    nat = table[table["province_code"] == "VN"].iloc[0]
    provs = table[table["province_code"] != "VN"]
    ok = provs[provs["status"] == "ok"]
    share_cols = _share_columns(table)
    sections: list[tuple[str, str, str]] = []
    figs = [(t("provinces_run", L),
             L._("{k} of {n}", k=L.num(len(ok)), n=L.num(len(provs)))),
            (t("national_population", L), L.people(_num(nat["population"]) or 0))]
    for col, _tier, _minutes in share_cols:
        v = _num(nat[col])
        figs.append((column_label(col, L.code), "—" if v is None else L.pct(v, 2)))
    for col in ("underserved_population",):
        v = _num(nat.get(col))
        figs.append((column_label(col, L.code), "—" if v is None else L.people(v)))
    for tier in TIERS:
        v = _num(nat.get(f"{tier}_best_served_across"))
        if v is not None:
            figs.append((column_label(f"{tier}_best_served_across", L.code), L.people(v)))
    sections.append(("national", t("sec_national", L), _kv(figs)))
    charts = ""
    for col, tier, minutes in _map_shares(share_cols):
        # (our text, data): the province's name marked not to translate
        items = sorted(((("", str(r["province_name"])),
                         None if _num(r[col]) is None else 100 * float(r[col]))
                        for r in ok.to_dict("records")),
                       key=lambda x: -(x[1] or 0.0))
        charts += "<figure>" + report.svg_bar_chart(
            items, title=t("chart_coverage", L, minutes=minutes, tier=t(f"tier_{tier}", L)),
            max_value=100.0, lang=L.code) + "</figure>"
    cov_cols = ["province_code", "province_name", "status", "note", "population",
                *[c for c, _, _ in share_cols], "underserved_areas", "underserved_population"]
    sections.append(("coverage", t("sec_coverage", L), charts + _html_table(L, table, cov_cols)))
    scen_cols = ["province_code", "province_name",
                 *[c for c in table.columns if c.startswith("scenario_")]]
    sections.append(("scenarios", t("sec_scenarios", L), _html_table(L, table, scen_cols)))
    ind_cols = ["province_code", "province_name",
                *[c for k in INDICATORS.values() for c in (k, f"{k}_target", f"{k}_lower_bound")]]
    sections.append(("indicators", t("sec_indicators", L), _html_table(L, table, ind_cols)))
    if run.get("cross_border"):
        cb_cols = ["province_code", "province_name", "halo_facilities",
                   *[c for c in table.columns if c.endswith("_best_served_across")],
                   *[c for c in table.columns if c.endswith("_gain")]]
        text = (f"<p>{_e(t('cross_border_note', L, radius_km=L.num((radius_m or 0) / 1000)))}"
                "</p>")
        if run.get("halo_failures"):
            names = ", ".join(_d(n) for n in run["halo_failures"])
            text += f'<p class="bad">{_e(t("halo_failures", L, names="{names}"))}</p>'.replace(
                "{names}", names)
        sections.append(("cross-border", t("sec_cross_border", L),
                         text + _html_table(L, table, cb_cols)))
    else:
        sections.append(("cross-border", t("sec_cross_border", L),
                         f"<p>{_e(t('cross_border_off', L))}</p>"))
    failed = [o for o in outcomes if not o.ok]
    failed_html = ("<ul>" + "".join(f"<li><b>{_d(o.name)} ({_d(o.code)})</b>: {_d(o.error)}</li>"
                                    for o in failed) + "</ul>") if failed else \
        f"<p>{_e(t('no_failures', L))}</p>"
    sections.append(("failed", t("sec_failed", L), failed_html))
    links = "".join(f'<li><a href="{_e(href)}">{label}</a></li>'
                    for label, href in files.items())
    sections.append(("files", t("sec_files", L), f"<ul>{links}</ul>"))
    src = "<ul>" + "".join(f"<li>{L.text(s, html=True)}</li>" for s in sources) + "</ul>"
    if estimates:
        notes = estimate_notes or {}
        src += f"<p>{_e(t('estimates_intro', L))}</p><ul>" + "".join(
            f"<li>{_numbers_as_n(L.text(notes.get(k, k), html=True))} ({_e(L.num(n))}) "
            f'<span class="est">{_e(L._("estimate"))}</span></li>'
            for k, n in estimates.items()) + "</ul>"
    sections.append(("sources", t("sec_sources", L), src))
    cl = run.get("cluster") or {}
    now = datetime.now(UTC)
    meta = t("meta_existing" if cl.get("kind") == "existing" else "meta_local", L,
             date=L.date(now), time=f"{now:%H:%M}", version=__version__,
             workers=L.num(cl["workers"]) if cl.get("workers") is not None else "?")
    return report.render_sections(t("title", L, n=L.num(len(provs))), sections, meta=meta,
                                  lang=L.code)


def write_national_outputs(folder: Path, outcomes: Sequence[Any], *, run: Mapping[str, Any],
                           thresholds_min: Mapping[str, Sequence[float]] | None = None,
                           overwrite: bool = False, offline: bool = False,
                           lang: str = "en") -> NationalWritten:
    """Write the national outputs of ``outcomes`` (:class:`gis.national.ProvinceOutcome`)
    into ``folder`` (staged: the folder is replaced only when everything is written), their
    texts in ``lang`` ("vi" or "en"; a national run passes the config's
    ``output.language``, Vietnamese by default).

    Returns
    -------
    NationalWritten
        The table, the files written and the national summary.
    """
    L = get_lang(lang)
    rows = [province_row(o.summary, code=o.code, name=o.name, ok=o.ok, error=o.error,
                         wall_s=None if math.isnan(o.wall_s) else round(o.wall_s, 2),
                         peak_rss_mb=None if o.peak_rss_mb is None else round(o.peak_rss_mb))
            for o in outcomes]
    table = national_table(rows, lang=L.code)
    layers = national_layers(outcomes, table)
    sources = sorted({str(v) for o in outcomes if o.ok
                      for v in ((o.summary or {}).get("sources") or {}).values()})
    est: dict[str, int] = {}
    example: dict[str, str] = {}
    for o in outcomes:
        for note in (o.summary or {}).get("estimates") or [] if o.ok else []:
            key = _numbers_as_n(str(note))
            est[key] = est.get(key, 0) + 1
            example.setdefault(key, str(note))
    radius = next((((o.summary or {}).get("access") or {}).get("cross_border", {})
                   .get("halo", {}).get("radius_m") for o in outcomes if o.ok), None)
    th = {k: list(v) for k, v in (thresholds_min or {}).items()}
    summary = {"generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
               "gis_version": __version__, "run": dict(run), "language": L.code,
               "national": table[table["province_code"] == "VN"].iloc[0].to_dict(),
               "columns": {c: column_label(c, L.code) for c in table.columns},
               "provinces": table[table["province_code"] != "VN"].to_dict("records"),
               "estimates": est, "sources": sources}
    with output_folder(Path(folder), overwrite=overwrite) as out, out.writing():
        tmp = out.path
        table.to_csv(tmp / "provinces.csv", index=False)
        write_json({"columns": summary["columns"], "provinces": summary["provinces"],
                    "national": summary["national"]}, tmp / "provinces.json")
        files: dict[str, str] = {_e(t("file_csv", L)): "provinces.csv",
                                 _e(t("file_json", L)): "provinces.json"}
        if layers:
            notes = [_numbers_as_n(L.text(example[k])) for k in est]
            m = national_map(layers, table, sources=sources, estimate_notes=notes,
                             offline=offline, lang=L.code)
            maps.write_map(m, tmp / "national.html")
            written = qgis.write_qgis_project(
                tmp, layers, name="vietnam", title=t("project_title", L),
                thresholds_min=th or None, lang=L.code,
                coverage_fields=[c for c, _, _ in _map_shares(_share_columns(table))])
            files = {_e(t("file_map", L)): "national.html",
                     _e(t("file_gpkg", L)): written.geopackage.name,
                     _e(t("file_qgz", L)): written.project.name, **files}
        for o in outcomes:
            if o.ok:
                label = _e(t("file_province", L, province="{province}")).replace(
                    "{province}", _d(o.name))
                files[label] = f"../{o.key}/report.html"
        page = render_national_report(table, run=run, outcomes=outcomes, files=files,
                                      sources=sources, estimates=est, radius_m=radius,
                                      lang=L.code, estimate_notes=example)
        write_text(tmp / "report.html", page)
        summary["outputs"] = sorted(p.name for p in tmp.iterdir()) + ["summary.json"]
        write_json(summary, tmp / "summary.json")
        names = sorted(p.name for p in tmp.iterdir() if p.name != MARKER)
        out.info = {"national": True, "provinces": len(outcomes),
                    "failed": [o.code for o in outcomes if not o.ok]}
    return NationalWritten(table=table, files=[Path(folder) / n for n in names], summary=summary)
