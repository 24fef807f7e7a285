"""The plan editor: the k rule by brute force, escaping, and Hà Tĩnh on real data driven by
clicks in headless Chromium, its figures against gis.plans.evaluate on the exported CSV."""

from __future__ import annotations

import itertools
import json
import re
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from gis.analyses.plans import evaluate
from gis.errors import GisError
from gis.inputs.plans import Plan
from gis.model.costs import straight_line_costs
from gis.outputs import editor as E
from tests._browser import drive_page

ROOT = Path(__file__).resolve().parents[1]
CRS = "EPSG:32648"
SPEED_KMH, DETOUR = 30.0, 1.4  # 500 m per minute x 1.4: a 500 m step is 1.4 min


# --- a hand case: cells on a line, three communes ------------------------------------------------

def _hand_case(names: dict[str, str] | None = None):
    """12 cells 500 m apart on a line (x = 500,250 + 500 i), population 10 + i; communes A
    (cells 0-3), B (4-7), C (8-11); stations at cells 0, 2 (A), 5, 6, 7 (B), 9 (C) and a
    hospital at cell 11."""
    x0, y0 = 500_250.0, 2_000_250.0
    xs = x0 + 500.0 * np.arange(12)
    demand = gpd.GeoDataFrame({
        "population": 10.0 + np.arange(12), "commune_code": ["A"] * 4 + ["B"] * 4 + ["C"] * 4,
        "x": xs, "y": np.full(12, y0)}, geometry=shapely.points(xs, np.full(12, y0)), crs=CRS)
    st_cells = [0, 2, 5, 6, 7, 9]
    ids = [f"S{c}" for c in st_cells]
    names = names or {}
    fac = gpd.GeoDataFrame({
        "facility_id": ids + ["H1"], "name": [names.get(i, f"Station {i}") for i in ids] + ["H"],
        "tier": ["station"] * 6 + ["regional"], "status": "active",
        "commune_code": ["A", "A", "B", "B", "B", "C", "C"]},
        geometry=shapely.points(np.r_[xs[st_cells], xs[11]], np.full(7, y0)), crs=CRS)
    communes = gpd.GeoDataFrame({"commune_code": ["A", "B", "C"],
                                 "commune_name": ["An", "Bình", "Cẩm"]},
                                geometry=[shapely.box(x0 - 250 + 2000 * i, y0 - 250,
                                                      x0 + 1750 + 2000 * i, y0 + 250)
                                          for i in range(3)], crs=CRS)
    xy = demand[["x", "y"]].to_numpy()
    costs = straight_line_costs(xy, fac.geometry.get_coordinates().to_numpy(),
                                speed_kmh=SPEED_KMH, detour_factor=DETOUR, cutoff_min=180.0,
                                dest_ids=fac["facility_id"].to_numpy())
    return demand, costs, fac, communes


def _plan(actions: dict[str, str], fac: gpd.GeoDataFrame, name: str) -> Plan:
    st = fac[fac["tier"] == "station"]
    df = pd.DataFrame({"facility_id": st["facility_id"], "action": [actions[i] for i in
                                                                    st["facility_id"]],
                       "target_commune_code": st["commune_code"], "role": "", "rule": "",
                       "x": np.nan, "y": np.nan})
    return Plan(name=name, actions=df.reset_index(drop=True))


def _hand_data(*, official: bool = False, k: int | None = None, **kw):
    """The editor's data of the hand case; with ``official`` the two plans of the official
    kind: "3 + branch points" (S0, S5, S9 main, the others branch points) and "3 only"."""
    demand, costs, fac, communes = _hand_case(**kw)
    plans = {}
    if official:
        mains = {"S0", "S5", "S9"}
        for name, other in (("3 + branch points", "branch"), ("3 only", "close")):
            plans[name] = _plan({i: "keep" if i in mains else other
                                 for i in ("S0", "S2", "S5", "S6", "S7", "S9")}, fac, name)
    return E.build_editor_data(demand, costs, fac, communes, thresholds_min=(1.5, 3, 6),
                               doctors_per_station=4, official_plans=plans, k=k,
                               speed_kmh=SPEED_KMH, detour_factor=DETOUR)


def _brute_force_ranks(costs, fac) -> np.ndarray:
    """Per cell, the largest rank (1 = nearest) of its nearest open station over every plan
    keeping at least one station of each commune open: enumerated."""
    st = fac[fac["tier"] == "station"].reset_index(drop=True)
    frame = costs.to_frame()
    frame = frame[frame["dest_id"].isin(st["facility_id"])]
    groups = [list(st.index[st["commune_code"] == c]) for c in sorted(st["commune_code"].unique())]
    options = [[set(s) for r in range(1, len(g) + 1) for s in itertools.combinations(g, r)]
               for g in groups]
    worst = np.zeros(costs.n_origins, int)
    ids = st["facility_id"].to_numpy()
    for combo in itertools.product(*options):
        open_ids = set(ids[sorted(set().union(*combo))])
        for o, g in frame.groupby("origin_id"):
            g = g.sort_values(["time_min", "dest_id"])
            ranked = g["dest_id"].tolist()
            times = g["time_min"].to_numpy()
            t_open = min(t for d, t in zip(ranked, times, strict=True) if d in open_ids)
            worst[o] = max(worst[o], int((times <= t_open).sum()))
    return worst


def test_k_rule_matches_brute_force_and_exactness_flag():
    demand, costs, fac, communes = _hand_case()
    data = E.build_editor_data(demand, costs, fac, communes, thresholds_min=(1.5, 3, 6),
                               doctors_per_station=4, official_plans={},
                               speed_kmh=SPEED_KMH, detour_factor=DETOUR)
    worst = _brute_force_ranks(costs, fac)
    assert data["k"] == data["k_needed"] == worst.max()
    assert data["exact"] is True and data["cells_not_guaranteed"] == 0
    # cell 3 (commune A): stations at 2 (1 step), 5 (2), 6 (3), 0 (3), 7 (4), 9 (6); the
    # adversary keeps 0 in A, 7 in B, 9 in C: the nearest open is at most 3 steps: ranks 2,5,6,0
    assert worst[3] == 4
    near = E.decode_array(data["cells"]["near"])
    st_ids = [s["id"] for s in data["stations"]]
    assert [st_ids[i] for i in near[3]][:4] == ["S2", "S5", "S0", "S6"]  # ties: table order
    # a smaller k is allowed but flagged, with the cells that would need more
    k = int(worst.max()) - 1
    small = E.build_editor_data(demand, costs, fac, communes, thresholds_min=(1.5, 3, 6),
                                doctors_per_station=4, official_plans={}, k=k,
                                speed_kmh=SPEED_KMH, detour_factor=DETOUR)
    assert small["k"] == k and small["exact"] is False
    assert small["cells_not_guaranteed"] == int((worst > k).sum()) > 0
    more = E.decode_array(small["cells"]["more"])
    assert more.tolist() == [1] * 12  # every cell reaches all 6 stations within 180 min
    # the straight-line formula reproduces the table bit for bit: no times stored
    assert small["travel"]["times"] == "formula" and "times" not in small["cells"]
    assert small["travel"]["new_sites"] is True


def test_times_are_embedded_when_the_table_is_not_the_formula():
    demand, costs, fac, communes = _hand_case()
    data = E.build_editor_data(demand, costs, fac, communes, thresholds_min=(1.5, 3, 6),
                               doctors_per_station=4, official_plans={},
                               speed_kmh=SPEED_KMH * 1.01, detour_factor=DETOUR)
    assert data["travel"]["times"] == "table" and data["travel"]["new_sites"] is False
    times = E.decode_array(data["cells"]["times"])
    near = E.decode_array(data["cells"]["near"])
    # cell 0: itself (0 min), then cell 2 (2 steps x 1.4 min)
    assert times[0, 0] == 0.0 and times[0, 1] == pytest.approx(2.8, abs=1e-12)
    assert near[0, :2].tolist() == [0, 1]


def test_references_are_gis_figures_and_degrees_round_trip():
    demand, costs, fac, communes = _hand_case()
    only = _plan({"S0": "keep", "S2": "close", "S5": "keep", "S6": "close", "S7": "close",
                  "S9": "keep"}, fac, "3 only")
    data = E.build_editor_data(demand, costs, fac, communes, thresholds_min=(1.5, 3, 6),
                               doctors_per_station=4, official_plans={"3 only": only},
                               speed_kmh=SPEED_KMH, detour_factor=DETOUR)
    today, ref = data["references"]
    assert ref["label"] == {"pattern": "{n} only", "n": 3}
    assert ref["actions"] == ["keep", "close", "keep", "close", "close", "keep"]
    # by hand: open stations at cells 0, 5, 9; times 1.4 min per step: cells 0..11 are
    # 0,1,2,2,1,0,1,2,1,0,1,2 steps away; within 1.5 min (1 step): cells 0,1,4,5,6,8,9,10
    pop = 10.0 + np.arange(12)
    steps = np.array([0, 1, 2, 2, 1, 0, 1, 2, 1, 0, 1, 2])
    f = ref["figures"]
    assert f["covered_1.5min"] == pytest.approx(pop[steps <= 1].sum())
    assert f["covered_3min"] == pytest.approx(pop.sum())
    assert f["main_stations"] == 3 and f["doctors_needed"] == 12
    # today: stations at 0,2,5,6,7,9: steps 0,1,0,1,1,0,0,0,1,0,1,2 -> losing 1.5 min: cells
    # within 1 step today and 2 steps now: 2, 7 (B)... cell 2 in A, 7 in B, 3 in A (1 -> 2)
    lose = pop[[2, 3, 7]].sum()
    assert f["losing_1.5min"] == pytest.approx(lose)
    assert f["communes"]["losing_3min"] == [0.0, 0.0, 0.0]
    assert today["figures"]["main_stations"] == 6
    # a new site's degrees: 7 decimals, and their projection is what plans computes
    e7 = E.decode_array(data["cells"]["lon_e7"])
    snap_x = E.decode_array(data["cells"]["snap_x"])
    text = E.degrees_text(int(e7[4]))
    assert len(text.split(".")[1]) == 7 and float(text) == e7[4] / 1e7
    assert abs(snap_x[4] - demand["x"].iloc[4]) < 0.02  # within 2 cm of the cell centre


def test_reference_plan_with_new_sites_is_refused():
    demand, costs, fac, communes = _hand_case()
    plan = _plan({i: "keep" for i in fac["facility_id"][:6]}, fac, "x")
    a = pd.concat([plan.actions, pd.DataFrame([{"facility_id": "N1", "action": "new",
                                                "target_commune_code": "A", "role": "main",
                                                "rule": "", "x": 1.0, "y": 2.0}])],
                  ignore_index=True)
    with pytest.raises(GisError, match="reference plan 'x' has new sites"):
        E.build_editor_data(demand, costs, fac, communes, thresholds_min=(3,),
                            doctors_per_station=4, official_plans={"x": Plan("x", a)})


def test_language_and_overwrite(tmp_path):
    demand, costs, fac, communes = _hand_case()
    data = E.build_editor_data(demand, costs, fac, communes, thresholds_min=(1.5, 3, 6),
                               doctors_per_station=4, official_plans={},
                               speed_kmh=SPEED_KMH, detour_factor=DETOUR)
    with pytest.raises(GisError, match="language 'fr'"):
        E.plan_editor_html(data, lang="fr")
    out = E.write_plan_editor(tmp_path / "e.html", data, province="Hà Tĩnh")
    assert "<title>Hà Tĩnh: soạn phương án trạm y tế xã</title>" in out.read_text("utf-8")
    with pytest.raises(GisError, match="pass --overwrite"):
        E.write_plan_editor(out, data)


# --- the page's texts: messages of the catalog ------------------------------------------------

_JS = (ROOT / "gis" / "outputs" / "assets" / "editor.js").read_text(encoding="utf-8")
# t("message", {args}), tn(...), msgLine(...): the script's calls with a literal message
_CALL = re.compile(r'\b(?:t|tn|msgLine)\("((?:[^"\\]|\\.)*)"(\s*,\s*\{([^{}]*)\})?\s*\)')
_FIELD = re.compile(r"\{(\w+)\}")


def test_every_text_of_the_script_is_a_catalog_message_with_its_placeholders():
    """The script shows no text of its own: each message it looks up is one of MESSAGES (marked
    for the catalog) and each of MESSAGES is used (the two plan labels by the data); each call
    fills exactly the message's placeholders."""
    calls = [(m.group(1), m.group(3)) for m in _CALL.finditer(_JS)]
    assert len(calls) == len(re.findall(r"\b(?:t|tn|msgLine)\(\"", _JS)) > 60
    used = {msg for msg, _ in calls}
    assert used <= set(E.MESSAGES)
    labels = {r["label"]["pattern"] for r in _hand_data(official=True)["references"]
              if r.get("label")}
    assert labels == {"{n} + branch points", "{n} only"}
    assert set(E.MESSAGES) == used | labels
    wrong = []
    for msg, args in calls:
        keys = set(re.findall(r"(?:^|,)\s*(\w+)\s*:", args)) if args is not None else set()
        if keys != set(_FIELD.findall(msg)):
            wrong.append((msg, keys))
    assert wrong == []
    assert "lang === \"vi\"" not in _JS  # no language decided in the script


def test_page_strings_come_from_the_catalog():
    from babel.messages.pofile import read_po

    from gis.outputs.i18n import catalog_path

    with catalog_path("vi").open("rb") as f:
        catalog = read_po(f, locale="vi")
    vi, en = E.page_strings("vi"), E.page_strings("en")
    assert set(vi) == set(en) == set(E.MESSAGES)
    assert en == {m: m for m in E.MESSAGES}  # English is the language of the messages
    for m in E.MESSAGES:
        entry = catalog.get(m)
        assert entry is not None and entry.string and vi[m] == entry.string, m
        assert "python-brace-format" in entry.flags or not _FIELD.search(m), m
    # the editor's own wording, kept in the catalog
    assert vi["Undo"] == "Hoàn tác" and vi["{n} only"] == "chỉ {n} trạm"
    assert vi["Doctors needed ({n} per main station)"] == \
        "Số bác sĩ cần ({n} bác sĩ mỗi trạm chính)"


def test_the_page_holds_both_languages_and_their_number_separators(tmp_path):
    """Built through the catalog for each language (so the page switches with no server):
    strings, titles, the separators of Babel's CLDR data, and the texts the analyses wrote
    translated with their data marked."""
    from gis.outputs.i18n import get_lang

    data = _hand_data()
    note = "commune polygons are estimates (Voronoi cells of registry centres)"
    text = E.plan_editor_html(data, lang="en", province="Hà Tĩnh",
                              sources={"registry": "vietnamadminunits (communes before and "
                                                   "after 1 July 2025, old->new mapping)",
                                       "facilities": "data/facilities.csv"},
                              estimate_notes=[note])
    page = json.loads(re.search(r'<script id="gis-editor-page" type="application/json">(.*?)'
                                r"</script>", text, re.S).group(1))
    assert page["lang"] == "en" and page["languages"] == ["vi", "en"]
    vi, en = page["texts"]["vi"], page["texts"]["en"]
    assert vi["strings"] == E.page_strings("vi") and en["strings"] == E.page_strings("en")
    assert vi["numbers"] == {"decimal": ",", "group": "."}
    assert en["numbers"] == {"decimal": ".", "group": ","}
    for code, sep in (("vi", vi), ("en", en)):  # the separators Lang.num uses
        g, d = sep["numbers"]["group"], sep["numbers"]["decimal"]
        assert get_lang(code).num(1_623_061.25, 1) == f"1{g}623{g}061{d}2"
    assert vi["title"] == [["Hà Tĩnh", True], [": soạn phương án trạm y tế xã", False]]
    assert en["title"] == [["Hà Tĩnh", True], [": plan editor of commune health stations",
                                               False]]
    assert vi["estimates"] == [[[get_lang("vi").text(note), False]]]
    assert vi["sources"][1] == [["Danh mục cơ sở y tế", False], [": ", False],
                                ["data/facilities.csv", True]]
    assert en["sources"][1] == [["Facility register", False], [": ", False],
                                ["data/facilities.csv", True]]
    assert vi["sources"][0] == [["Danh mục đơn vị hành chính", False], [": ", False],
                                [get_lang("vi").text(
                                    "vietnamadminunits (communes before and after 1 July "
                                    "2025, old->new mapping)"), False]]


# --- escaping, no outside request ------------------------------------------------------------

EVIL = "<script>alert(1)</script>"


def test_names_are_escaped_in_the_page(tmp_path):
    demand, costs, fac, communes = _hand_case(names={"S5": EVIL})
    data = E.build_editor_data(demand, costs, fac, communes, thresholds_min=(1.5, 3, 6),
                               doctors_per_station=4, official_plans={},
                               speed_kmh=SPEED_KMH, detour_factor=DETOUR)
    page = E.write_plan_editor(tmp_path / "e.html", data, lang="en",
                               sources=[f"source {EVIL}"])
    text = page.read_text("utf-8")
    assert EVIL not in text and "\\u003cscript\\u003ealert(1)" in text
    rep = drive_page(page, """
      var map = window.gisEditorMap, found = null;
      map.eachLayer(function (l) {
        if (l.getTooltip && l.getTooltip() && l.options.className === "gis-st gis-st-2") {
          found = l;
        }
      });
      found.openTooltip();
      var tip = document.querySelector(".leaflet-tooltip");
      __report({tip: tip.textContent, scripts: tip.querySelectorAll("script").length,
                sources: document.querySelector(".gis-sources").textContent,
                all_scripts: document.querySelectorAll("script").length});
    """)
    assert rep.errors == []
    assert EVIL in rep.result["tip"] and rep.result["scripts"] == 0
    assert f"source {EVIL}" in rep.result["sources"]
    assert _outside(rep.requests) == [] and rep.csp == []


# --- no English left in the Vietnamese page ---------------------------------------------------

_VI_DRIVE = r"""
var P = %(params)s;
var E = window.gisEditor, map = window.gisEditorMap, own = [], all = [], seen = {};
function grab(state) {
  var texts = __ownText(document.body).concat([document.title]);
  own.push.apply(own, texts);
  seen[state] = texts.join(" | ");
  all.push(document.body.textContent);
}
function click(node) {
  node.dispatchEvent(new MouseEvent("click", {bubbles: true, cancelable: true, view: window}));
}
function tooltips() {
  var pane = map.getPane("tooltipPane"), n = 0;
  map.eachLayer(function (l) {
    if (!(l.getTooltip && l.getTooltip())) { return; }
    l.openTooltip(l.getLatLng ? l.getLatLng() : l.getBounds().getCenter());
    own.push.apply(own, __ownText(pane));
    all.push(pane.textContent);
    n++;
    l.closeTooltip();
  });
  return n;
}
grab("start");
E.clickStation(0); E.clickStation(1); E.clickStation(1);  // S0 a branch point, S2 closed
grab("invalid");
E.clickMap(P.outside[0], P.outside[1]);
grab("outside");
E.clickMap(P.cell3[0], P.cell3[1]);
grab("new station");
var nTips = tooltips();
var csv = E.planCsv().replace(/(NEW-1,,new,A,\w+,)([\d.]+)/, function (m, head, lon) {
  return head + (parseFloat(lon) + 0.0001).toFixed(7);
});
while (E.state().sites.length || E.state().actions[0] !== "keep") { E.undo(); }
E.undo(); E.undo(); E.undo();
grab("nothing to undo");
E.importCsv(P.bad, "bad.csv"); grab("refused");
E.importCsv("", "empty.csv"); grab("empty");
E.importCsv("a,b\n1,2\n", "columns.csv"); grab("columns");
E.importCsv(csv, "moved.csv"); grab("imported");
click(document.getElementById("gis-export")); grab("exported");
click(document.querySelector("button[data-lang='en']"));
var en = document.getElementById("gis-message").textContent + " | " + document.title;
click(document.querySelector("button[data-lang='vi']"));
grab("back in vi");
__report({own: own, all: all, seen: seen, tooltips: nTips, en: en});
"""


def test_vietnamese_page_shows_no_english(tmp_path):
    """The Vietnamese page in every state a planner can reach (a plan past the exactness
    limit of k = 1 and not valid, a click outside the province, a new station, nothing left to
    undo, refused, empty and accepted imports, an export, a switch to English and back) and
    every tooltip of the map: no English word outside the data marked translate="no"
    (tests/_i18n_check.py, as for the maps and the report), titles of buttons included."""
    from tests._i18n_check import OWN_TEXT_JS, english_words

    demand, costs, fac, communes = _hand_case()
    fac["location_source"] = ("estimate: registry centre of the pre-2025 commune (site not "
                              "published)")
    data = E.build_editor_data(demand, costs, fac, communes, thresholds_min=(1.5, 3, 6),
                               doctors_per_station=4, official_plans={}, k=1,
                               speed_kmh=SPEED_KMH, detour_factor=DETOUR)
    sources = {"registry": "vietnamadminunits (communes before and after 1 July 2025, "
                           "old->new mapping)", "facilities": "data/hand/facilities.csv"}
    notes = ["commune polygons are estimates (Voronoi cells of registry centres)"]
    page = E.write_plan_editor(tmp_path / "vi.html", data, lang="vi", province="Hà Tĩnh",
                               sources=sources, estimate_notes=notes)
    bad = ("facility_id,action,target_commune_code,role,lon,lat\n"
           "S0,keep,A,,,\nS0,keep,A,,,\nS2,open,A,,,\nS5,keep,ZZ,,,\nNEW-1,new,A,,,\n"
           "NEW-2,new,A,,0,0\nS9,new,C,,105.01,18.09\nTYT-X,keep,A,,,\n")
    params = {"outside": [10.0, 100.0], "cell3": _unit_lonlat(data, 3), "bad": bad}
    rep = drive_page(page, OWN_TEXT_JS + _VI_DRIVE % {"params": json.dumps(params)})
    assert rep.errors == [] and rep.csp == []
    out = rep.result
    assert english_words(out["own"]) == []
    # every state was reached, in Vietnamese
    seen = out["seen"]
    expected = {
        "start": ["Hà Tĩnh: soạn phương án", "xã có nhiều hơn một trạm chính", "Chính xác",
                  "k = 1 nhỏ hơn", "Phóng to", "Thu nhỏ", "Danh mục đơn vị hành chính",
                  "ước tính", "sẵn sàng ·"],
        "invalid": ["xã chưa có trạm chính", "điểm trạm thuộc xã chưa có trạm chính",
                    "Không chính xác cho"],
        "outside": ["Ngoài vùng dân cư"], "new station": ["Trạm mới"],
        "nothing to undo": ["Không còn thao tác nào để hoàn tác."],
        "refused": ["Không nhập được", "bị lặp", "thao tác", "mã xã", "cần lon và lat",
                    "nằm ngoài vùng dân cư", "trùng mã", "không phải là trạm", "chưa có thao tác"],
        "empty": ["tệp rỗng"], "columns": ["thiếu cột"],
        "imported": ["Đã nhập", "được dời"], "exported": ["Đã xuất"],
        "back in vi": ["Đã xuất"]}
    missing = [(k, w) for k, words in expected.items() for w in words if w not in seen[k]]
    assert missing == []
    assert out["tooltips"] == 3 + 6 + 1 + 1  # communes, stations, the hospital, the new station
    for word in ("Bệnh viện", "Trạm chính", "Trạm mới"):
        assert word in " ".join(out["own"])
    # the message box followed the switch to English (and back)
    assert "Exported plan_editor_plan.csv." in out["en"] and "plan editor" in out["en"]
    # control: the data the page marks (station names of the hand case) would be flagged
    assert "Station" in english_words(out["all"])

    # a cost table on roads: new stations are disabled, and the page says so in Vietnamese
    data = E.build_editor_data(demand, costs, fac, communes, thresholds_min=(1.5, 3, 6),
                               doctors_per_station=4, official_plans={},
                               speed_kmh=SPEED_KMH * 1.01, detour_factor=DETOUR)
    page = E.write_plan_editor(tmp_path / "roads.html", data, lang="vi")
    lat, lon = _unit_lonlat(data, 3)
    rep = drive_page(page, OWN_TEXT_JS + f"""
      window.gisEditor.clickMap({lat}, {lon});
      __report(__ownText(document.body).concat([document.title]));
    """)
    assert rep.errors == []
    assert english_words(rep.result) == []
    assert any("Không thêm được trạm mới" in x for x in rep.result)
    assert any("bảng chi phí" in x for x in rep.result)


def test_past_the_limit_the_page_says_so_and_uses_the_lower_bound(tmp_path):
    """k = 1 on the hand case: closing station S2 leaves cells 2 and 3 without their nearest
    station; their time is shown as S2's (0 and 1.4 min: lower bounds of the true 2.8 min)
    and the page names 2 cells, 25 people. A new site on cell 3 makes cell 3 exact again."""
    demand, costs, fac, communes = _hand_case()
    data = E.build_editor_data(demand, costs, fac, communes, thresholds_min=(1.5, 3, 6),
                               doctors_per_station=4, official_plans={}, k=1,
                               speed_kmh=SPEED_KMH, detour_factor=DETOUR)
    assert data["exact"] is False
    page = E.write_plan_editor(tmp_path / "e.html", data, lang="en")
    x = demand["x"].to_numpy()
    lat3 = E.decode_array(data["cells"]["lat_e7"])[3] / 1e7
    lon3 = E.decode_array(data["cells"]["lon_e7"])[3] / 1e7
    rep = drive_page(page, f"""
      var E = window.gisEditor, out = {{}};
      E.clickStation(1); E.clickStation(1);  // S2: keep -> branch -> closed
      out.closed = {{f: E.figures(), t: Array.from(E.unitTimes()),
                    exact: document.getElementById("gis-exact").textContent,
                    mean: document.querySelector("tr[data-key=mean_time_min] td.gis-this")
                          .textContent}};
      E.clickMap({lat3}, {lon3});
      out.site = {{f: E.figures(), t: Array.from(E.unitTimes())}};
      __report(out);
    """)
    assert rep.errors == []
    closed, site = rep.result["closed"], rep.result["site"]
    assert closed["f"]["inexact_cells"] == 2 and closed["f"]["inexact_population"] == 25
    assert closed["t"][2] == 0.0 and closed["t"][3] == pytest.approx(1.4, abs=1e-12)
    assert "Not exact for 2 demand cells (25 people)" in closed["exact"]
    assert closed["mean"].startswith("≈ ")
    # the new site at cell 3 (within 1 cm: its degrees have 7 decimals): exact there; cell 2
    # is 1 step (1.4 min) from it, more than its lower bound of 0: still inexact
    assert site["f"]["inexact_cells"] == 1 and site["t"][3] < 1e-4
    assert abs(x[3] - x[2]) == 500.0


# Chromium's own background services (component updates, network time, sign-in) call these
# hosts even for a blank page; anything else that reaches the proxy came from the page.
_CHROMIUM_SERVICES = ("googleapis.com", "google.com", "gvt1.com", "gstatic.com")


def _outside(requests: list[str]) -> list[str]:
    def host(req: str) -> str:
        target = req.split(" ", 1)[1]
        target = target.split("://", 1)[-1]
        return target.split("/", 1)[0].split(":", 1)[0]

    return [r for r in requests
            if not any(host(r) == h or host(r).endswith("." + h) for h in _CHROMIUM_SERVICES)]


def test_the_proxy_sees_a_page_that_goes_online(tmp_path):
    """Control: the same harness records a request the page makes (Leaflet from its CDN)."""
    demand, costs, fac, communes = _hand_case()
    data = E.build_editor_data(demand, costs, fac, communes, thresholds_min=(3,),
                               doctors_per_station=4, official_plans={},
                               speed_kmh=SPEED_KMH, detour_factor=DETOUR)
    page = E.write_plan_editor(tmp_path / "online.html", data, offline=False)
    rep = drive_page(page, "__report(typeof L);")
    assert any("cdn.jsdelivr.net" in r for r in _outside(rep.requests))


# --- Hà Tĩnh on real data --------------------------------------------------------------------

@pytest.fixture(scope="session")
def hatinh(tmp_path_factory):
    """Hà Tĩnh's layers, demand and cost table on real data, and its editor page."""
    from tests.conftest import CENSUS_2019, COMMUNES_2025, require_shared

    require_shared(COMMUNES_2025)
    require_shared(CENSUS_2019)
    from gis.analyses.plans import official_plan
    from gis.inputs.config import load_config
    from gis.pipeline import editor_data, prepare, run_access_stage

    cfg = load_config(ROOT / "examples" / "hatinh_shared_data.toml")
    prep = prepare(cfg)
    acc = run_access_stage(prep)
    lay = prep.layers
    offs = [official_plan(lay.facilities, lay.communes, prep.registry, branches=b)
            for b in (True, False)]
    data = editor_data(prep, acc)  # build_editor_data with the config's settings
    folder = tmp_path_factory.mktemp("editor")
    page = E.write_plan_editor(folder / "plan_editor.html", data, lang="vi",
                               province=prep.registry.province.short, sources=prep.sources,
                               estimate_notes=lay.notes)
    return {"cfg": cfg, "prep": prep, "acc": acc, "data": data, "page": page, "folder": folder,
            "official": offs[0], "only": offs[1]}


_DRIVE = r"""
var P = %(params)s;
var E = window.gisEditor, map = window.gisEditorMap, out = {ready_ms: performance.now()};
function click(node) {
  node.dispatchEvent(new MouseEvent("click", {bubbles: true, cancelable: true, view: window}));
}
function clickStation(i) { click(document.querySelector("path.gis-st-" + i)); }
function clickMapAt(lat, lon) {
  map.setView([lat, lon], 17, {animate: false});
  var p = map.latLngToContainerPoint([lat, lon]), r = map.getContainer().getBoundingClientRect();
  map.getContainer().dispatchEvent(new MouseEvent("click", {bubbles: true, cancelable: true,
    view: window, clientX: r.left + p.x, clientY: r.top + p.y}));
}
function panel() {
  var rows = {};
  document.querySelectorAll("#gis-figures tr[data-key]").forEach(function (tr) {
    var td = tr.querySelector("td.gis-this");
    rows[tr.getAttribute("data-key")] = {text: td.textContent, v: td.getAttribute("data-v")};
  });
  var communes = {};
  document.querySelectorAll("#gis-communes tr[data-code]").forEach(function (tr) {
    var tds = tr.querySelectorAll("td");
    communes[tr.getAttribute("data-code")] = [tds[0].getAttribute("data-v"),
      tds[1].getAttribute("data-v"), tds[2].getAttribute("data-v")];
  });
  return {rows: rows, communes: communes, figures: E.figures(), csv: E.planCsv(),
          validity: document.getElementById("gis-validity").textContent,
          exact: document.getElementById("gis-exact").textContent,
          check: document.getElementById("gis-check").textContent, state: E.state()};
}
out.check = E.check();
out.own_vi = __ownText(document.body).concat([document.title]);  // as it opens, in Vietnamese
// the page's times to the k nearest stations of every 16th cell (to compare with the table)
var NT = E.nearTimes(), K = NT.length / P.n_cells, sample = [];
for (var c = 0; c < P.n_cells; c += 16) {
  for (var j = 0; j < K; j++) { var v = NT[c * K + j]; sample.push(isFinite(v) ? v : null); }
}
out.near_sample = sample;
out.today = panel();
// the official plan by clicks: from today (every station a main station), one click makes a
// branch point; a second click closes it
P.branch.forEach(clickStation);
out.official = panel();
P.branch.forEach(clickStation);
out.only = panel();
// two new sites: close commune X's main station (two clicks) and put a new main station
// there; then a new station where people lose access in commune Y (a branch point: Y has its
// main station)
clickStation(P.close_main); clickStation(P.close_main);
clickMapAt(P.site_a[0], P.site_a[1]);
clickMapAt(P.site_b[0], P.site_b[1]);
out.sites = panel();
// undo removes site B; clicking again puts it back
click(document.getElementById("gis-undo"));
out.undone = panel();
clickMapAt(P.site_b[0], P.site_b[1]);
out.redone = panel();
// numbers per language: the switch buttons
click(document.querySelector("button[data-lang='en']"));
out.text_en = document.getElementById("gis-figures").textContent;
click(document.querySelector("button[data-lang='vi']"));
out.text_vi = document.getElementById("gis-figures").textContent;
// import: the "69 only" CSV, then a file with an unknown id
out.import_ok = E.importCsv(out.only.csv, "only.csv");
out.imported = panel();
out.import_bad = E.importCsv(out.only.csv.replace(P.some_id + ",", "TYT-00000,"), "bad.csv");
out.import_message = document.getElementById("gis-message").textContent;
out.after_bad = E.figures();
out.own_vi = out.own_vi.concat(__ownText(document.body));  // after the switches, an import refused
__report(out);
"""


def _unit_lonlat(data, unit: int) -> tuple[float, float]:
    lon = E.decode_array(data["cells"]["lon_e7"])[unit] / 1e7
    lat = E.decode_array(data["cells"]["lat_e7"])[unit] / 1e7
    return float(lat), float(lon)


@pytest.fixture(scope="session")
def driven(hatinh):
    """The editor driven by clicks through the official plans and two new sites."""
    from gis.analyses.plans import baseline_plan
    from tests._i18n_check import OWN_TEXT_JS

    data, acc = hatinh["data"], hatinh["acc"]
    official, only = hatinh["official"], hatinh["only"]
    st_ids = [s["id"] for s in data["stations"]]
    branch = [i for i, sid in enumerate(st_ids)
              if official.actions.set_index("facility_id").loc[sid, "action"] == "branch"]
    # where "69 only" makes people lose 30-min access: the two communes losing most
    ref = data["references"][2]
    codes = [c["code"] for c in data["communes"]]
    losing = pd.Series(ref["figures"]["communes"]["losing_30min"], index=codes)
    x_code, y_code = losing.sort_values(ascending=False).index[:2]
    demand = acc.demand
    base = evaluate(baseline_plan(hatinh["prep"].layers.facilities),
                    population=demand["population"].to_numpy(float),
                    commune_codes=demand["commune_code"].to_numpy(), costs=acc.costs,
                    thresholds_min=(15.0, 30.0, 60.0), doctors_per_station=4.0)
    ev_only = evaluate(only, population=demand["population"].to_numpy(float),
                       commune_codes=demand["commune_code"].to_numpy(), costs=acc.costs,
                       thresholds_min=(15.0, 30.0, 60.0), doctors_per_station=4.0,
                       baseline_time_min=base.time_min)
    lose = (base.time_min <= 30) & (ev_only.time_min > 30)
    full = demand["area_m2"].to_numpy() >= 500.0 * 500.0 - 1e-6

    def best_unit(code: str) -> int:
        cand = np.flatnonzero(lose & full & (demand["commune_code"].to_numpy() == code))
        return int(cand[np.argmax(demand["population"].to_numpy()[cand])])

    unit_a, unit_b = best_unit(x_code), best_unit(y_code)
    mains = only.actions[only.actions["action"] == "keep"].set_index("target_commune_code")
    close_main = st_ids.index(mains.loc[x_code, "facility_id"])
    params = {"branch": branch, "close_main": close_main,
              "site_a": _unit_lonlat(data, unit_a), "site_b": _unit_lonlat(data, unit_b),
              "some_id": st_ids[3], "n_cells": data["cells"]["n"]}
    rep = drive_page(hatinh["page"], OWN_TEXT_JS + _DRIVE % {"params": json.dumps(params)})
    return {"rep": rep, "out": rep.result, "units": (unit_a, unit_b), "codes": (x_code, y_code),
            "close_main": st_ids[close_main], "close_index": close_main}


def _python_figures(hatinh, csv_text: str, name: str):
    """gis's figures of an exported CSV: read_plan (validation), the cost table extended with
    the plan's new sites by the pipeline, plans.evaluate against today."""
    from gis.analyses.plans import baseline_plan
    from gis.inputs.readers import read_plan
    from gis.pipeline import plan_costs

    prep, acc = hatinh["prep"], hatinh["acc"]
    path = hatinh["folder"] / f"{name}.csv"
    path.write_text(csv_text, encoding="utf-8")
    plan = read_plan(path, prep.layers.facilities, prep.registry)
    costs = plan_costs(prep, acc, [plan])
    common = {"population": acc.demand["population"].to_numpy(float),
              "commune_codes": acc.demand["commune_code"].to_numpy(), "costs": costs,
              "thresholds_min": (15.0, 30.0, 60.0), "doctors_per_station": 4.0}
    base = evaluate(baseline_plan(prep.layers.facilities), **common)
    return plan, evaluate(plan, **common, baseline_time_min=base.time_min)


def _vi_int(v: float) -> str:
    return f"{round(v):,}".replace(",", ".")


def _same_as_gis(panel: dict, ev, data) -> None:
    """The panel's figures (raw and as shown, in Vietnamese) equal gis's, to the person."""
    p = ev.province
    rows = panel["rows"]
    for key in ("service_points", "main_stations", "doctors_needed"):
        assert float(rows[key]["v"]) == p[key], key
    for key in ("covered_15min", "covered_30min", "covered_60min", "losing_30min",
                "population_beyond_cutoff"):
        assert abs(float(rows[key]["v"]) - p[key]) < 1e-6, key
        assert rows[key]["text"] == _vi_int(p[key]), key
    for key in ("mean_time_min", "p90_time_min"):
        assert float(rows[key]["v"]) == pytest.approx(p[key], rel=1e-12, abs=0), key
        assert rows[key]["text"] == f"{p[key]:.1f}".replace(".", ","), key
    f = panel["figures"]
    assert f["max_time_min"] == pytest.approx(p["max_time_min"], rel=1e-12)
    assert abs(f["losing_15min"] - p["losing_15min"]) < 1e-6
    c = ev.communes.set_index("commune_code")
    for code, (mains, points, losing) in panel["communes"].items():
        assert int(mains) == c.loc[code, "main_stations"], code
        assert int(points) == c.loc[code, "service_points"], code
        assert abs(float(losing) - c.loc[code, "losing_30min"]) < 1e-6, code
    assert len(panel["communes"]) == len(data["communes"]) == 69


def test_hatinh_editor_file_and_exactness(hatinh):
    data, page = hatinh["data"], hatinh["page"]
    assert page.stat().st_size < 8 * 1024 * 1024
    assert data["cells"]["n"] == len(hatinh["acc"].demand) and len(data["stations"]) == 209
    assert data["exact"] is True and data["travel"]["times"] == "formula"
    # the stored k nearest and their times are the cost table's: nearest_open_time with every
    # station open gives the first of each list
    from gis.model.costs import nearest_open_time, subset_dests

    costs = hatinh["acc"].costs
    ids = np.array([s["id"] for s in data["stations"]])
    sub = subset_dests(costs, np.isin(costs.dest_ids, ids))
    t, pos = nearest_open_time(sub, np.ones(sub.n_dests, bool))
    near = E.decode_array(data["cells"]["near"])
    assert (ids[near[:, 0]] == np.asarray(sub.dest_ids)[pos]).all()


def test_hatinh_page_times_are_the_cost_table_times_to_the_bit(hatinh, driven):
    """The times the page computes for each cell's k nearest stations (straight line x detour
    / speed in JavaScript) equal the cost table's float64 times exactly."""
    data, costs = hatinh["data"], hatinh["acc"].costs
    near = E.decode_array(data["cells"]["near"])
    k = data["k"]
    ids = [s["id"] for s in data["stations"]]
    table = pd.Series(costs.time_min, index=pd.MultiIndex.from_arrays(
        [costs.origin.astype(np.int64), np.asarray(costs.dest_ids)[costs.dest]]))
    cells = np.arange(0, data["cells"]["n"], 16)
    page = np.array([np.nan if v is None else v for v in driven["out"]["near_sample"]],
                    float).reshape(len(cells), k)
    none = data["cells"]["none"]
    checked = 0
    for row, c in enumerate(cells):
        for j in range(k):
            if near[c, j] == none:
                assert np.isnan(page[row, j])
                continue
            assert page[row, j] == table[(c, ids[near[c, j]])], (c, j)
            checked += 1
    assert checked > 30_000


def test_hatinh_official_plan_by_clicks_equals_gis(hatinh, driven):
    rep, out = driven["rep"], driven["out"]
    assert rep.errors == [] and rep.csp == []
    assert _outside(rep.requests) == []
    assert out["check"]["ok"] is True, out["check"]
    _, ev = _python_figures(hatinh, out["official"]["csv"], "official_by_clicks")
    assert ev.province["main_stations"] == 69 and ev.province["service_points"] == 209
    _same_as_gis(out["official"], ev, hatinh["data"])
    plan, ev = _python_figures(hatinh, out["only"]["csv"], "only_by_clicks")
    assert plan.counts() == {"keep": 69, "branch": 0, "close": 140, "new": 0}
    _same_as_gis(out["only"], ev, hatinh["data"])
    # the page's figure recounted by brute force (straight line x 1.4 at 30 km/h from every
    # demand unit to every open station; the README's 8,784 comes from the same count in
    # tests/test_pipeline.py)
    from tests import _brute as BF

    d, fac = hatinh["acc"].demand, hatinh["prep"].layers.facilities
    units = np.column_stack([d["x"].to_numpy(), d["y"].to_numpy()])
    st = fac[(fac["tier"] == "station") & (fac["status"] == "active")]
    kept = st[st["facility_id"].isin(plan.main_ids())]
    today = BF.times(units, BF.xy(st), speed_kmh=30.0, detour=1.4).min(axis=1)
    after = BF.times(units, BF.xy(kept), speed_kmh=30.0, detour=1.4).min(axis=1)
    pop = d["population"].to_numpy(float)
    assert ev.province["losing_30min"] == pytest.approx(pop[(today <= 30) & (after > 30)].sum(),
                                                        rel=1e-9)
    assert "Phương án hợp lệ" in out["only"]["validity"]
    assert "Chính xác" in out["only"]["exact"]


def test_hatinh_two_new_sites_equal_gis(hatinh, driven):
    out = driven["out"]
    unit_a, unit_b = driven["units"]
    sites = out["sites"]["state"]["sites"]
    assert [(s["unit"], s["role"], s["target"]) for s in sites] == [
        (unit_a, "main", driven["codes"][0]), (unit_b, "branch", driven["codes"][1])]
    plan, ev = _python_figures(hatinh, out["sites"]["csv"], "two_new_sites")
    assert plan.counts() == {"keep": 68, "branch": 0, "close": 141, "new": 2}
    # gis placed the sites where the page did, to the bit
    snap_x = E.decode_array(hatinh["data"]["cells"]["snap_x"])
    snap_y = E.decode_array(hatinh["data"]["cells"]["snap_y"])
    new = plan.actions[plan.actions["action"] == "new"]
    assert new["x"].tolist() == [snap_x[unit_a], snap_x[unit_b]]
    assert new["y"].tolist() == [snap_y[unit_a], snap_y[unit_b]]
    _same_as_gis(out["sites"], ev, hatinh["data"])
    _, ev_only = _python_figures(hatinh, out["only"]["csv"], "only_again")
    assert ev.province["losing_30min"] < ev_only.province["losing_30min"]
    # undo took site B away; the click put it back
    assert len(out["undone"]["state"]["sites"]) == 1
    assert out["redone"]["figures"] == out["sites"]["figures"]


def test_hatinh_languages_import_and_undo(driven):
    from tests._i18n_check import english_words

    out = driven["out"]
    assert "1.623.061" in out["text_vi"] and "1,623,061" in out["text_en"]
    assert "1,623,061" not in out["text_vi"]
    # the Vietnamese page of the real run (its sources and estimate notes translated, the
    # names marked as data): no English left
    assert english_words(out["own_vi"]) == []
    own = " ".join(out["own_vi"])
    assert "Hà Tĩnh: soạn phương án trạm y tế xã" in own and "Nguồn dữ liệu và ước tính" in own
    assert "Không nhập được" in own
    assert out["import_ok"] is True
    assert out["imported"]["figures"] == out["only"]["figures"]
    assert out["import_bad"] is False
    assert "TYT-00000" in out["import_message"] and "dòng" in out["import_message"]
    assert out["after_bad"] == out["imported"]["figures"]  # a refused import changes nothing


def test_hatinh_gis_plan_evaluate_on_the_exported_csv(hatinh, driven, tmp_path):
    """`gis plan evaluate` itself (CLI, end to end) on the CSV with two new sites."""
    from gis.cli import main

    csv = tmp_path / "editor_plan.csv"
    csv.write_text(driven["out"]["sites"]["csv"], encoding="utf-8")
    out = tmp_path / "out"
    cfg = ROOT / "examples" / "hatinh_shared_data.toml"
    assert main(["-q", "plan", "evaluate", str(csv), "--config", str(cfg), "--out", str(out),
                 "--no-optimise", "--offline"]) == 0
    rows = pd.read_csv(out / "scenarios.csv").set_index("scenario")
    row = rows.loc["editor_plan"]
    f = driven["out"]["sites"]["figures"]
    for key in ("covered_15min", "covered_30min", "covered_60min", "losing_30min"):
        assert abs(row[key] - f[key]) < 1e-6, key
    assert row["p90_time_min"] == pytest.approx(f["p90_time_min"], rel=1e-12)
    assert row["service_points"] == f["service_points"] == 70  # 68 kept + 2 new
    assert row["main_stations"] == f["main_stations"] == 69


def test_cli_writes_the_editor_and_refuses_to_overwrite(tmp_path, capsys):
    """`gis plan editor` on the default config (Hà Tĩnh from the registry alone)."""
    from gis.cli import main

    out = tmp_path / "plan_editor.html"
    assert main(["-q", "plan", "editor", "--out", str(out), "--lang", "en"]) == 0
    text = out.read_text("utf-8")
    assert '<html lang="en">' in text and "Content-Security-Policy" in text
    assert main(["-q", "plan", "editor", "--out", str(out)]) == 2
    assert "pass --overwrite" in capsys.readouterr().err


def test_hatinh_screenshot_shows_losing_cells_and_new_sites(hatinh, driven):
    """The page as a planner sees it after "69 only" and the two new sites (saved for the
    README: tests/_artifacts/plan_editor.png, copied to docs/plan_editor.png)."""
    from PIL import Image

    from tests._browser import ARTIFACTS

    data = hatinh["data"]
    a, b = (_unit_lonlat(data, u) for u in driven["units"])
    shot = ARTIFACTS / "plan_editor.png"
    rep = drive_page(hatinh["page"], f"""
      var E = window.gisEditor;
      E.startFrom("{data['references'][2]['key']}");
      E.clickStation({driven['close_index']}); E.clickStation({driven['close_index']});
      E.clickMap({a[0]}, {a[1]}); E.clickMap({b[0]}, {b[1]});
      __report(E.state().sites.length);
    """, budget_ms=5000, screenshot=shot, window_size=(1400, 900))
    assert rep.errors == [] and rep.result == 2
    assert shot.stat().st_size > 50_000
    px = np.asarray(Image.open(shot).convert("RGB")).reshape(-1, 3).astype(int)
    red = (px[:, 0] > 200) & (px[:, 1] < 120) & (px[:, 2] < 100)      # cells losing access
    purple = (abs(px[:, 0] - 0x9e) < 12) & (abs(px[:, 1] - 0x66) < 12) & (abs(px[:, 2] - 0xd4) < 12)
    green = (abs(px[:, 0] - 0x1a) < 12) & (abs(px[:, 1] - 0x96) < 12) & (abs(px[:, 2] - 0x41) < 12)
    assert red.sum() > 200 and purple.sum() > 20 and green.sum() > 200
