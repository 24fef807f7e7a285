"""HTML/JSON report from a synthetic summary: the one-page summary and its decisions (figures by
hand), Vietnamese and English, the print layout, escaping, robustness; rendered in headless
Chromium in both languages (no JavaScript error, no text overflowing its box, the summary on one
A4 page, no chart label over another, no English left in the Vietnamese page)."""

from __future__ import annotations

import copy
import json
import math
import re
from pathlib import Path

import pytest

from gis.errors import OutputError
from gis.outputs import report
from tests import _synthetic_outputs as syn
from tests._browser import ARTIFACTS, load_page
from tests._i18n_check import english_words

A4_PX = (794, 1123)  # 210 x 297 mm at 96 px per inch


def _scen(kind, name, points, mains, covered30, losing30, mean, mx, branch, close, **kw):
    pop = 100_000.0
    row = {"scenario": name, "scenario_kind": kind, "service_points": points,
           "main_stations": mains, "population": pop, "covered_15min": covered30 - 8_000,
           "covered_15min_share": (covered30 - 8_000) / pop, "covered_30min": covered30,
           "covered_30min_share": covered30 / pop, "covered_60min": pop,
           "covered_60min_share": 1.0, "mean_time_min": mean, "p90_time_min": mean * 2,
           "max_time_min": mx, "person_min": mean * pop, "doctors_needed": 4.0 * mains,
           "actions_keep": mains, "actions_branch": branch, "actions_close": close,
           "actions_new": 0}
    if kind != "today":
        row.update(losing_15min=losing30 * 3, losing_30min=losing30, losing_60min=0.0)
    row.update(kw)
    return row


def summary() -> dict:
    """Shaped like a `gis run` summary of a small province: 100,000 people, 6 communes (12
    before 2025), 12 stations and 3 hospitals."""
    return {
        "generated_at": "2025-07-01T00:00:00+00:00",
        "gis_version": "0.1.0",
        "province": {"code": "42", "name": "Tỉnh Hà Tĩnh " + syn.EVIL, "short_name": "Hà Tĩnh",
                     "crs": "EPSG:32648"},
        "counts": {"legacy_communes": 12, "legacy_communes_split": 0, "new_communes": 6,
                   "stations": 12, "hospitals": 3,
                   "hospitals_by_tier": {"central": 0, "provincial": 1, "regional": 2},
                   "facilities_ended": 0},
        "population": {"total": 100_000.0, "source": "estimate: province total split by area",
                       "is_estimate": True, "legacy_total": 90_000.4,
                       "legacy_source": "table: census.csv, field population_2019",
                       "legacy_unknown": 0},
        "estimates": ["pre-2025 commune populations are estimates", syn.EVIL],
        "sources": {"registry": "vietnamadminunits (communes before and after 1 July 2025, "
                                "old->new mapping)",
                    "facilities": "layers/x.csv " + syn.EVIL},
        "access": {
            "travel_model": {"model": "straight line x detour factor / speed",
                             "speed_kmh": 30.0, "detour_factor": 1.4, "cutoff_min": 180.0,
                             "is_estimate": True},
            "coverage": {
                "station": {"15": {"population": 90_000.0, "share": 0.9, "beyond": 10_000.0},
                            "30": {"population": 98_000.0, "share": 0.98, "beyond": 2_000.0},
                            "60": {"population": 100_000.0, "share": 1.0, "beyond": 0.0}},
                "regional": {"30": {"population": 80_000.0, "share": 0.8, "beyond": 20_000.0},
                             "60": {"population": 94_000.0, "share": 0.94, "beyond": 6_000.0},
                             "90": {"population": 100_000.0, "share": 1.0, "beyond": 0.0}}},
            "far_communes": {
                "station": {"time_min": 30.0, "population": 2_000.0, "communes": 2,
                            "top": [{"commune_code": "C4", "commune_name": "Xã E",
                                     "population": 1_500.4},
                                    {"commune_code": syn.EVIL, "commune_name": syn.EVIL,
                                     "population": 499.6}]},
                "regional": {"time_min": 60.0, "population": 6_000.0, "communes": 1,
                             "top": [{"commune_code": "C5", "commune_name": "Xã F",
                                      "population": 6_000.0}]}},
            "indicators": [
                {"name": "doctors per 10,000 people", "target": 14.6, "unit": "doctors / 10,000",
                 "value": None, "note": "doctors unknown for all 15 facilities"},
                {"name": "beds per 10,000 people", "target": 45.0, "unit": "beds / 10,000",
                 "value": 8.0, "lower_bound": True,
                 "note": "beds known for 1 of 3 facilities: a lower bound"},
                {"name": "doctors per commune station", "target": 4.0,
                 "unit": "doctors / station", "value": None, "needed": 48.0,
                 "note": "station doctors unknown for all 12 facilities"},
            ],
            "underserved": {
                "rules_min": {"station": 30.0, "regional": 60.0}, "areas": 2,
                "population": 7_500.0,
                "top": [{"rank": 1, "population": 6_000.0, "units": 80, "area_km2": 20.2,
                         "beyond_station": 1_500.0, "beyond_regional": 6_000.0,
                         "commune_names": "Xã F;Xã E", "nearest_name": "Trạm Y tế Xã F",
                         "nearest_time_min": 35.2,
                         "reasons": "more than 30 min from a station (1,500 people)"},
                        {"rank": 2, "population": 1_500.0, "units": 20, "area_km2": 5.0,
                         "beyond_station": 500.0, "beyond_regional": 0.0,
                         "commune_names": syn.EVIL, "nearest_name": syn.EVIL,
                         "nearest_time_min": 31.0, "reasons": syn.EVIL}]},
        },
        "plans": {
            "main_station_rule": "Main station per post-2025 commune: the only former station "
            "if there is one; else the one of the pre-2025 commune named as the seat of the "
            "commune government (field admin_center); else, when the seat is a former district "
            "or town government, the station of the former district seat (the thị trấn); else "
            "the one nearest to the registry centre of the commune.",
            "main_station_rule_counts": {
                "the former station at the seat of the commune government": 5,
                "the only former station of the commune": 1},
            "scenarios": [
                _scen("today", "12 today", 12, 12, 98_000.0, 0.0, 5.0, 40.0, 0, 0),
                _scen("official", "6 + branch points", 12, 6, 98_000.0, 0.0, 5.0, 40.0, 6, 0),
                _scen("official_only", "6 only", 6, 6, 94_800.0, 3_200.0, 9.0, 55.0, 0, 6),
                _scen("best_main", "6 with best main stations", 6, 6, 97_000.0, 1_000.0, 8.0,
                      45.0, 0, 6, gap=0.0),
                _scen("fewest_branches", "6 + fewest branch points for T = 30 min", 8, 6,
                      98_000.0, 0.0, 7.0, 40.0, 2, 4, gap=0.0, branch_points=2),
                _scen("user", "my plan " + syn.EVIL, 7, 6, 95_900.0, 2_100.0, 8.5, 50.0, 1,
                      5),
            ],
            "plans": [
                {"scenario": "6 only", "kind": "official_only", "slug": "official_only",
                 "losing_population": 3_200.0, "losing_communes": 2,
                 "losing_top": [{"commune_code": "C1", "commune_name": "Xã B",
                                 "population": 2_000.0},
                                {"commune_code": "C2", "commune_name": "Xã C",
                                 "population": 1_200.0}]},
                {"scenario": "my plan " + syn.EVIL, "kind": "user", "slug": "user_my_plan",
                 "losing_population": 2_100.0, "losing_communes": 1,
                 "losing_top": [{"commune_code": "C1", "commune_name": "Xã B",
                                 "population": 2_100.0}]},
            ],
            "fewest_branch_points": {"time_min": 30.0, "gap": 0.0, "status": "optimal",
                                     "uncoverable_population": 2_000.0, "stations": [
                                         {"facility_id": "S7", "name": "Trạm Y tế Xã cũ G",
                                          "commune_code": "C1", "commune_name": "Xã B"},
                                         {"facility_id": "S8", "name": syn.EVIL,
                                          "commune_code": "C2", "commune_name": "Xã C"}]},
            "main_station_changes": [
                {"commune_code": "C1", "commune_name": "Xã B", "official_id": "S1",
                 "official_name": "Trạm Y tế Xã B", "best_id": "S7",
                 "best_name": "Trạm Y tế Xã cũ G"}],
            "losing_access": {"scenario": "6 only", "threshold_min": 30.0,
                              "population": 3_200.0, "communes": 2},
            "coverage_curve": {"time_min": 30, "points": [
                {"branch_points": 0, "covered_population": 94_800.0, "gap": 0.0},
                {"branch_points": 1, "covered_population": 97_000.0, "gap": 0.0},
                {"branch_points": 2, "covered_population": 98_000.0, "gap": 0.0},
                {"branch_points": 6, "covered_population": 98_000.0, "gap": 0.0}]},
        },
        "network": {
            "rule": "branch point -> main station of its commune; station -> nearest regional "
                    "hospital within the cut-off; regional -> provincial general hospital; "
                    "provincial -> its central satellite core, else the nearest central "
                    "hospital (when any); a referral table overrides the rule",
            "hubs": [{"facility_id": "P1", "name": "Bệnh viện Đa khoa tỉnh", "load": 100_000.0,
                      "stations": 0, "beds": 1300, "beds_per_10k": 130.0},
                     {"facility_id": "R1", "name": syn.EVIL, "load": 60_000.4, "stations": 7,
                      "beds": None, "beds_per_10k": None}],
            "satellite_planning": [{"specialty": "eye", "k": 1, "within_min": 60.0,
                                    "exact": True, "covered_before": 40_000.0,
                                    "covered_after": 70_000.0,
                                    "links": [{"core_id": "P1", "satellite_id": "R1",
                                               "specialty": "eye", "time_min": 41.3,
                                               "gain": 30_000.0}]}],
        },
        "extra_section": {"note": "kept, shown generically", "rows": [{"a": 1, "b": {"c": 2}}]},
    }


def test_summary_page_sentences_and_decisions_from_the_figures(tmp_path: Path) -> None:
    page = report.render_report(summary(), lang="en")
    first = page.split('id="plans"')[0]
    text = re.sub(r"<[^>]+>", "", first).replace("&#x27;", "'")
    # who is far from care, and where (named communes, whole people)
    assert ("98.0% of people live within 30 min of a commune health station; 2,000 people "
            "live farther, most of them in Xã E (1,500) and") in text
    assert "94.0% live within 60 min of a regional general hospital; 6,000 people do not, " \
           "most of them in Xã F (6,000)." in text
    # what the official plan does to access: 12 points - 6 mains = 6 branch points
    assert ("keeping the other 6 former stations as branch points keeps today's access, while "
            "closing them would leave 3,200 people more than 30 min from a station, in 2 "
            "communes (Xã B (2,000) and Xã C (1,200)).") in text
    # the fewest branch points
    assert "Keeping just 2 of those 6 former stations as branch points keeps everyone" in text
    assert "(set cover, proven optimal)" in text
    # doctors and beds against the targets: 4 x 6 main stations = 24
    assert "Doctors: the norm of 4 per station needs 24 for the 6 stations" in text
    assert "Beds: at least 8.0 per 10,000 people against a target of 45" in text
    # decisions, each with its rule: 6 - 2 = 4 close
    assert "Keep 2 former stations as branch points and let the other 4 close" in text
    assert "Review the main station of 1 commune (Xã B)" in text
    assert "4,549" not in text and "1,000 instead of 3,200" in text
    # under-served areas over the rules' thresholds (1,000 from a station, 5,000 regional)
    assert "Bring a service point or a mobile team closer to the 1,500 people" in text
    assert "Secure referral transport for the 6,000 people more than 60 min" in text
    assert "leaves 2,100 people more than 30 min from a station who are within it today" in text
    assert "Collect doctors per station, doctors per hospital and beds per hospital" in text
    assert text.count("Rule:") == len(re.findall(r'class="why"', first))
    # key figures: whole people, no decimals anywhere on the page
    assert "1,500.4" not in page and "90,000.4" not in page and "60,000.4" not in page
    assert "100,000" in text and "98.0%" in text


def test_vietnamese_summary_formats_numbers_and_translates(tmp_path: Path) -> None:
    page = report.render_report(summary(), lang="vi")
    text = re.sub(r"<[^>]+>", "", page)
    assert '<html lang="vi">' in page
    assert "98,0% dân số ở trong vòng 30 phút tới trạm y tế xã; 2.000 người ở xa hơn" in text
    assert "Giữ 2 trạm cũ làm điểm trạm, 4 trạm còn lại có thể đóng cửa" in text
    assert "Tình hình" in text and "Đề xuất quyết định" in text
    assert "1 tháng 7, 2025" in text  # the date, formatted for the language


def test_report_sections_tables_and_no_raw_dicts(tmp_path: Path) -> None:
    paths = report.write_report(tmp_path, summary(),
                                maps={"overview": tmp_path / "overview.html",
                                      "access": "access.html"})
    page = paths["html"].read_text(encoding="utf-8")
    for heading in ("Situation", "Recommended decisions", "Plans compared", "Access to care",
                    "Under-served areas", "Plans: detail", "Referral and satellite network",
                    "Data and estimates", "Maps", "Other results"):
        assert re.search(rf">{re.escape(heading)}</h2>", page), heading
    # the population total is labelled as an estimate, the legacy census total is not
    assert re.search(r"People \(2025 communes\)</th><td>100,000 <span class=\"est\">", page)
    assert re.search(r"People \(pre-2025 communes\)</th><td>90,000 <span class=\"src\">", page)
    # indicators against targets: unknown stays unknown, a lower bound is said to be one
    assert "not met (gap 37.0)" in page and "value is a lower bound" in page
    # the satellite table: names in cells, never the text of a dict
    assert "{'" not in page and "{&#x27;" not in page
    assert re.search(r"Bệnh viện Đa khoa tỉnh</span></td><td class=\"txt\"><span "
                     r"translate=\"no\">&lt;script&gt;", page)
    # person-minutes named as such
    assert "Person-minutes to the nearest service point" in page
    # each plan side by side with the official plan: 4 plans besides today and the official
    assert page.count('<div class="sbs">') == 4
    # the scenario plot: one point per scenario; points on one spot share a label
    plot = re.search(r"<svg[^>]*>(?:(?!</svg>).)*Service points kept(?:(?!</svg>).)*</svg>",
                     page, re.S).group(0)
    assert plot.count("<circle") == 6
    assert ">1, 2</text>" in plot  # today and the official plan: 12 points, 98.0 %
    assert "Vertical axis zoomed to the data" in plot
    curve = re.search(r"<svg[^>]*>(?:(?!</svg>).)*Branch points kept(?:(?!</svg>).)*</svg>",
                      page, re.S).group(0)
    assert curve.count("<circle") == 4
    # print: A4, a page per part
    assert "@page{size:A4" in page and "@media print" in page
    # maps linked relative to the report
    assert 'href="overview.html"' in page and 'href="access.html"' in page
    data = json.loads(paths["json"].read_text(encoding="utf-8"))
    assert data["maps"] == {"overview": "overview.html", "access": "access.html"}
    assert data["plans"]["scenarios"][2]["losing_30min"] == 3_200.0


@pytest.mark.parametrize("lang", ["en", "vi"])
def test_report_in_chromium(tmp_path: Path, lang: str) -> None:
    """No JavaScript error, nothing wider than its box, the summary on one A4 page, no chart
    label over another, and (Vietnamese) no English left but names and units."""
    path = report.write_report(tmp_path, summary(), lang=lang)["html"]
    shot = ARTIFACTS / f"report_{lang}.png"
    page = load_page(path, screenshot=shot, window_size=A4_PX)
    assert page.errors == [] and page.alerts == []
    assert page.overflow == [], page.overflow
    assert page.page_width["scroll"] <= page.page_width["inner"]
    assert page.summary_box["height"] <= A4_PX[1], page.summary_box
    assert page.chart_labels > 0 and page.chart_overlaps == []
    assert page.lang == lang
    if lang == "vi":
        assert english_words(page.own_text) == []
    else:
        assert "Recommended decisions" in " ".join(page.own_text)


def test_report_escapes_user_text(tmp_path: Path) -> None:
    paths = report.write_report(tmp_path, summary())
    page = paths["html"].read_text(encoding="utf-8")
    assert syn.EVIL not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<script" not in page.lower()  # the report has no script at all
    shown = load_page(paths["html"])
    assert shown.errors == [] and shown.alerts == []
    assert syn.EVIL in shown.dom.replace("&lt;", "<").replace("&gt;", ">")
    assert shown.resources == [] or all(u.startswith("http://127.0.0.1:")
                                        for u in shown.resources)


def test_report_robust_to_absent_sections(tmp_path: Path) -> None:
    page = report.render_report({})
    assert "province not given" in page
    assert "No analysis in this run." in page
    assert "No data sources recorded." in page
    page = report.render_report({"province": {"name": "Hà Tĩnh"},
                                 "population": {"total": None, "is_estimate": False},
                                 "access": {"underserved": []}})
    assert "Health facility network: Hà Tĩnh" in page
    assert "None found." in page
    s = copy.deepcopy(summary())
    del s["plans"], s["network"]
    page = report.render_report(s, lang="vi")
    assert "Tình hình" in page and "So sánh các phương án" not in page


def test_report_never_overwrites_silently(tmp_path: Path) -> None:
    (tmp_path / "report.json").write_text("{}")
    with pytest.raises(OutputError, match=r"report\.json.*--overwrite"):
        report.write_report(tmp_path, summary())
    assert not (tmp_path / "report.html").exists()
    report.write_report(tmp_path, summary(), overwrite=True)
    assert json.loads((tmp_path / "report.json").read_text())["province"]["code"] == "42"


def test_svg_charts_escape_scale_and_zoom() -> None:
    svg = report.svg_bar_chart([("a " + syn.EVIL, 50.0), ("b", None)], title=syn.EVIL,
                               max_value=100.0)
    assert syn.EVIL not in svg and "&lt;script&gt;" in svg
    widths = [float(w) for w in re.findall(r'<rect[^>]*width="([\d.]+)"', svg)]
    assert len(widths) == 1 and math.isclose(widths[0], (640 - 230 - 90) / 2)
    xy = report.svg_xy_chart({"s": [(1, 0.5, "p1"), (3, 1.0, "p2"), (2, None, "skip")]},
                             title="t", x_label="x", y_label="y", y_percent=True)
    assert xy.count("<circle") == 2 and "100%" in xy and "zoomed" not in xy
    # values between 98 % and 100 %: the axis spans them (zoomed, and says so)
    xy = report.svg_xy_chart({"s": [(69, 0.982, "a"), (77, 0.996, "b"), (209, 0.996, "c")]},
                             title="t", x_label="x", y_label="y", y_percent=True)
    ticks = [float(t.replace("%", "")) for t in re.findall(r'class="tick">([\d.]+%)<', xy)]
    assert min(ticks) >= 97.0 and max(ticks) <= 100.0
    assert "Vertical axis zoomed to the data: from 97.5% to 100.0%, not from zero." in xy


def test_point_labels_are_placed_apart() -> None:
    """Eight points crowded in one corner: every label lands apart from the others and from
    every point, estimated with the widths the browser test measures for real."""
    pts = [(100 + 3 * i, 100 + 2 * (i % 3), f"label {i}") for i in range(8)]
    placed = report._place_labels(pts, box=(0, 0, 600, 400))  # noqa: SLF001
    boxes = []
    for x, y, text in placed:
        assert not text.startswith("!")
        w, h = report._text_width(text), 11 * 1.25  # noqa: SLF001
        boxes.append((x, y - h * 0.8, x + w, y + h * 0.2))
    for i, a in enumerate(boxes):
        for b in boxes[i + 1:]:
            assert a[2] < b[0] or b[2] < a[0] or a[3] < b[1] or b[3] < a[1]
        for px, py, _ in pts:
            assert not (a[0] < px + 5 and px - 5 < a[2] and a[1] < py + 5 and py - 5 < a[3])


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
