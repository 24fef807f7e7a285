"""HTML/JSON report from a synthetic summary: contents, estimate labels, escaping, robustness."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pytest

from gis.errors import OutputError
from gis.outputs import report
from tests import _synthetic_outputs as syn
from tests._browser import ARTIFACTS, load_page


def summary() -> dict:
    """Shaped like gis.pipeline.base_summary plus access, plans and network sections."""
    return {
        "generated_at": "2025-07-01T00:00:00+00:00",
        "gis_version": "0.1.0",
        "province": {"code": "42", "name": "Tỉnh Hà Tĩnh " + syn.EVIL, "short_name": "Hà Tĩnh",
                     "crs": "EPSG:32648"},
        "counts": {"legacy_communes": 209, "new_communes": 69, "stations": 209,
                   "hospitals": 20, "hospitals_by_tier": {"provincial": 6, "regional": 14}},
        "population": {"total": 1623061.0, "source": "estimate: province total split by area",
                       "is_estimate": True, "legacy_total": 1288866.0,
                       "legacy_source": "census 2019", "legacy_unknown": 0},
        "estimates": ["commune polygons are estimates (Voronoi cells)", syn.EVIL],
        "sources": {"registry": "vietnamadminunits", "facilities": "layers/x.csv " + syn.EVIL},
        "indicators": [
            {"name": "Doctors per 10,000 people", "value": 9.0, "target": 14.6,
             "unit": "per 10,000", "is_estimate": True, "note": "doctors of hospitals only"},
            {"name": "Population within 30 min of a station", "key": "x_share",
             "value": 0.97, "target": 0.95, "unit": "share"},
            {"name": "Beds per 10,000 people", "value": None, "target": 45.0,
             "unit": "per 10,000", "note": "beds of stations unknown"},
            {"name": "Mean time to a station", "key": "mean_time_min", "value": 12.0,
             "target": 15.0, "unit": "min", "higher_is_better": False},
        ],
        "access": {
            "station": {"covered_15min_share": 0.71, "covered_30min_share": 0.97,
                        "covered_60min_share": 1.0, "mean_time_min": 11.2},
            "regional": {"covered_30min_share": 0.58, "covered_60min_share": 0.93,
                         "covered_90min_share": float("nan")},
            "underserved": [{"rank": 1, "commune_name": syn.EVIL, "population": 4200.0,
                             "reasons": ["station > 30 min", "no doctor"]},
                            {"rank": 2, "commune_name": "Xã Sơn Kim 1", "population": 1800.0,
                             "reasons": ["regional hospital > 90 min"]}],
        },
        "plans": {"scenarios": [
            {"scenario": "today", "service_points": 209, "main_stations": 209,
             "population": 1_000_000.0,
             "covered_15min_share": 0.71, "covered_30min_share": 0.97, "losing_30min": 0.0,
             "mean_time_min": 11.2},
            {"scenario": "official: 69 + branches", "service_points": 150, "main_stations": 69,
             "covered_15min_share": 0.62, "covered_30min_share": 0.95, "losing_30min": 20500.0,
             "mean_time_min": 13.9},
            {"scenario": syn.EVIL, "service_points": 69, "main_stations": 69,
             "covered_15min_share": 0.41, "covered_30min_share": 0.83, "losing_30min": 190000.0,
             "mean_time_min": 19.5},
        ], "rule": "main station per commune: seat of the commune government",
            "coverage_curve": {"time_min": 30, "points": [
                {"branch_points": 0, "covered_population": 800_000.0, "gap": 0.0},
                {"branch_points": 10, "covered_population": 950_000.0, "gap": 0.0},
                {"branch_points": 40, "covered_population": 1_000_000.0, "gap": 0.0}]}},
        "network": {"referral_links": 223, "satellite_links": 4,
                    "hubs": [{"name": "BVĐK tỉnh", "load": 1623061}]},
        "extra_section": {"note": "kept, shown generically"},
    }


def test_report_contents(tmp_path: Path) -> None:
    paths = report.write_report(tmp_path, summary(),
                                maps={"overview": tmp_path / "overview.html",
                                      "access": "access.html"})
    page = paths["html"].read_text(encoding="utf-8")
    for heading in ("Province and data sources", "Key figures",
                    "Key indicators against targets", "Access and coverage",
                    "Under-served areas", "Scenarios", "Referral and satellite network",
                    "Other results", "Maps"):
        assert f">{heading}</h2>" in page, heading
    # population total is labelled as an estimate, the legacy census total is not
    assert re.search(r"Total</th><td>1,623,061 <span class=\"est\">estimate</span>", page)
    assert re.search(r"Legacy total</th><td>1,288,866</td>", page)
    # indicators against targets: status computed, unknown shown as unknown
    assert "not met (gap 5.6 per 10,000)" in page
    assert page.count('<span class="ok">met</span>') == 2  # 97 % >= 95 %; 12 <= 15 min
    assert "97.0 %" in page
    assert re.search(r"Beds per 10,000 people</th><td class=\"num\"><span class=\"unknown\">"
                     r"unknown", page)
    # scenario table and plot: one point per scenario and threshold
    assert "Scenario comparison" in page and "official: 69 + branches" in page
    plot = re.search(r"<svg[^>]*>(?:(?!</svg>).)*Service points kept(?:(?!</svg>).)*</svg>",
                     page, re.S)
    assert plot and plot.group(0).count("<circle") == 6
    # coverage curve: one point per number of branch points, y = share of the population
    curve = re.search(r"<svg[^>]*>(?:(?!</svg>).)*Branch points kept(?:(?!</svg>).)*</svg>",
                      page, re.S)
    assert curve and curve.group(0).count("<circle") == 3
    assert "population within 30 min" in curve.group(0) and ">100 %</text>" in curve.group(0)
    # coverage bars: NaN share drawn as unknown
    assert "Population covered: Regional (%)" in page and ">unknown</text>" in page
    # maps linked relative to the report
    assert 'href="overview.html"' in page and 'href="access.html"' in page
    data = json.loads(paths["json"].read_text(encoding="utf-8"))
    assert data["access"]["regional"]["covered_90min_share"] is None  # NaN -> null
    assert data["maps"] == {"overview": "overview.html", "access": "access.html"}
    assert data["plans"]["scenarios"][1]["losing_30min"] == 20500.0


def test_report_escapes_user_text(tmp_path: Path) -> None:
    paths = report.write_report(tmp_path, summary())
    page = paths["html"].read_text(encoding="utf-8")
    assert syn.EVIL not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<script" not in page.lower()  # the report has no script at all
    shown = load_page(paths["html"], screenshot=ARTIFACTS / "report.png",
                      window_size=(1280, 3400))
    assert shown.errors == [] and shown.alerts == []
    assert syn.EVIL in shown.dom.replace("&lt;", "<").replace("&gt;", ">")
    assert shown.resources == [] or all(u.startswith("http://127.0.0.1:")
                                        for u in shown.resources)


def test_report_robust_to_absent_sections(tmp_path: Path) -> None:
    page = report.render_report({})
    assert "province not given" in page
    assert "No indicators were computed in this run." in page
    assert "No data sources recorded." in page
    page = report.render_report({"province": {"name": "Hà Tĩnh"},
                                 "population": {"total": None, "is_estimate": False},
                                 "access": {"underserved": []}})
    assert "Health facility network: Hà Tĩnh" in page
    assert "None found." in page
    assert '<span class="unknown">unknown</span>' in page


def test_report_never_overwrites_silently(tmp_path: Path) -> None:
    (tmp_path / "report.json").write_text("{}")
    with pytest.raises(OutputError, match=r"report\.json.*--overwrite"):
        report.write_report(tmp_path, summary())
    assert not (tmp_path / "report.html").exists()
    report.write_report(tmp_path, summary(), overwrite=True)
    assert json.loads((tmp_path / "report.json").read_text())["province"]["code"] == "42"


def test_svg_charts_escape_and_scale() -> None:
    svg = report.svg_bar_chart([("a " + syn.EVIL, 50.0), ("b", None)], title=syn.EVIL,
                               max_value=100.0)
    assert syn.EVIL not in svg and "&lt;script&gt;" in svg
    widths = [float(w) for w in re.findall(r'<rect[^>]*width="([\d.]+)"', svg)]
    assert len(widths) == 1 and math.isclose(widths[0], (640 - 230 - 90) / 2)
    xy = report.svg_xy_chart({"s": [(1, 0.5, "p1"), (3, 1.0, "p2"), (2, None, "skip")]},
                             title="t", x_label="x", y_label="y", y_percent=True)
    assert xy.count("<circle") == 2 and "100 %" in xy


def test_to_jsonable() -> None:
    import numpy as np
    out = report.to_jsonable({"a": np.float64("nan"), "b": np.int64(3), "c": [np.inf, 1.5],
                              "d": Path("x/y"), "e": (1, 2)})
    assert out == {"a": None, "b": 3, "c": [None, 1.5], "d": "x/y", "e": [1, 2]}
    json.dumps(out, allow_nan=False)


def test_analyses_not_run_are_said_first() -> None:
    s = summary()
    s["access"] = {"skipped": "population unknown: give a communes layer with population"}
    s["network"] = {"skipped": "needs the access analyses, skipped: population unknown"}
    page = report.render_report(s)
    banner = page.index("Not computed in this run")
    assert banner < page.index("Data sources")
    assert "population unknown: give a communes layer with population" in page
    assert page.count("<li>", banner, page.index("</ul>", banner)) == 2
    assert "Not computed in this run" not in report.render_report(summary())
