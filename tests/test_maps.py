"""HTML maps: built from synthetic layers, loaded in real headless Chromium with no internet.

Each map is written with ``offline=True``, served from 127.0.0.1 and opened by Debian's
``chromium`` (every other host name unresolvable). The page must raise no JavaScript error, draw
exactly the features and markers of its layers, fetch nothing from elsewhere, and show user text
(a facility named ``<script>alert(1)</script>``) as text. In both languages: no text wider than
its box, the title clear of the layer list, the legend beside the map (not over the data),
commune names apart, and (Vietnamese) no English left but names and units, in the page and in
every popup. Screenshots go to tests/_artifacts/.
"""

from __future__ import annotations

import re
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from shapely.geometry import Point, Polygon

from gis.errors import OutputError
from gis.outputs import maps
from tests import _synthetic_outputs as syn
from tests._browser import ARTIFACTS, load_page
from tests._i18n_check import english_words

KW = {"sources": syn.SOURCES, "estimate_notes": syn.ESTIMATES, "offline": True}


def _build(key: str, lang: str = "en"):
    kw = {**KW, "lang": lang}
    if key == "overview":
        return maps.overview_map(syn.communes(), syn.facilities(),
                                 communes_legacy=syn.communes_legacy(),
                                 title="Overview <b>Hà Tĩnh</b>" if lang == "en" else None, **kw)
    if key == "access":
        return maps.accessibility_map(syn.cells(), coverage=syn.coverage(),
                                      underserved=syn.underserved(), communes=syn.communes(),
                                      facilities=syn.facilities(),
                                      title="Access" if lang == "en" else None, **kw)
    if key == "plan":
        return maps.plan_map(plans=syn.plan_views(), communes=syn.communes(),
                             hospitals=syn.facilities()[lambda f: f.tier.isin(
                                 ["provincial", "regional"])],
                             title="Plan" if lang == "en" else None, **kw)
    return maps.network_map(syn.edges(), syn.hubs(), facilities=syn.facilities(),
                            communes=syn.communes(),
                            title="Network" if lang == "en" else None, **kw)


KEYS = ["overview", "access", "plan", "network"]


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, dict]]:
    folder = tmp_path_factory.mktemp("maps")
    out = {}
    for key in KEYS:
        m = _build(key)
        out[key] = (maps.write_map(m, folder / f"{key}.html"), m.gis_layers)
    return out


@pytest.fixture(scope="module")
def pages(written: dict) -> dict:
    """Each map loaded once in Chromium (screenshot saved), shared by the tests below."""
    return {key: load_page(path, screenshot=ARTIFACTS / f"map_{key}.png")
            for key, (path, _) in written.items()}


@pytest.fixture(scope="module")
def pages_vi(tmp_path_factory: pytest.TempPathFactory) -> dict:
    folder = tmp_path_factory.mktemp("maps_vi")
    out = {}
    for key in KEYS:
        m = _build(key, "vi")
        path = maps.write_map(m, folder / f"{key}.html")
        out[key] = (load_page(path, screenshot=ARTIFACTS / f"map_{key}_vi.png", popup=False),
                    m.gis_layers)
    return out


def _expected(layers: dict, *, shown_only: bool) -> dict[str, int]:
    sel = [v for v in layers.values() if v["show"] or not shown_only]
    return {"paths": sum(v["paths"] for v in sel), "markers": sum(v["markers"] for v in sel)}


@pytest.mark.parametrize("key", KEYS)
def test_map_draws_in_chromium_offline(written: dict, pages: dict, key: str) -> None:
    _, layers = written[key]
    shot = ARTIFACTS / f"map_{key}.png"
    report = pages[key]
    assert report.errors == []
    assert report.alerts == []
    assert report.start == _expected(layers, shown_only=True)
    assert report.all == _expected(layers, shown_only=False)
    # every overlay listed in the layer control, with a count that says what it counts
    assert report.layers == [v["label"] for v in layers.values()]
    for v in layers.values():
        assert re.search(rf"\({v['features']:,} [a-z]", v["label"]) or v["features"] == 0 \
            or "people" in v["label"], v["label"]
    # nothing fetched from anywhere but the local server (offline: Leaflet is inlined)
    assert all(u.startswith("http://127.0.0.1:") for u in report.resources), report.resources
    # the map really drew: Leaflet's container and the scale bar are in the DOM
    assert "leaflet-control-scale" in report.dom
    assert "leaflet-control-layers" in report.dom
    assert shot.stat().st_size > 10_000


@pytest.mark.parametrize("key", KEYS)
def test_user_text_shows_as_text_not_code(written: dict, pages: dict, key: str) -> None:
    path, _ = written[key]
    text = path.read_text(encoding="utf-8")
    # never raw in the page: not in the HTML, not in a script (no "</script>" break-out)
    assert syn.EVIL not in text
    assert "<img src=x" not in text
    report = pages[key]
    assert report.alerts == []
    assert report.scripts_in_content == 0
    assert syn.EVIL in report.content_text  # shown, as text, in popups/tooltips
    assert "${alert(2)}" in report.content_text or key == "plan"


def test_folium_popup_would_not_escape() -> None:
    """Why the maps never hand user text to folium's Popup/Tooltip: they insert it raw (Popup
    inside a JavaScript template literal), so a name could run code. Guard: if folium starts
    escaping, this test tells us we could use them again."""
    import folium

    m = folium.Map(tiles=None)
    folium.Marker([18.3, 105.9], popup=folium.Popup(syn.EVIL), tooltip=syn.EVIL2).add_to(m)
    text = m.get_root().render()
    assert syn.EVIL in text  # raw markup in the page
    assert "${alert(2)}" in text


def test_title_escaped_and_page_title(written: dict) -> None:
    path, _ = written["overview"]
    text = path.read_text(encoding="utf-8")
    assert "<title>Overview &lt;b&gt;Hà Tĩnh&lt;/b&gt;</title>" in text
    # sources are escaped HTML in the side panel, marked as data
    assert ('<span translate="no">Facilities: Ha Tinh DoH plan 2025 &lt;i&gt;(laodong.vn)'
            "&lt;/i&gt;</span>") in text


def test_offline_map_has_no_external_reference(written: dict) -> None:
    for path, _ in written.values():
        text = path.read_text(encoding="utf-8")
        assert not re.search(r"<(script|link)[^>]+(src|href)=\"?https?:", text)
        assert not re.search(r"cdn\.|cdnjs|jsdelivr|unpkg", text)  # no CDN at all
        assert "sourceMappingURL" not in text


def test_online_map_inlines_leaflet_and_says_when_the_basemap_cannot_load(tmp_path) -> None:
    """Made without offline=True the map has the OpenStreetMap basemap, but Leaflet is still
    inlined: with no internet the tiles fail, the commune boundaries stay the base and a note
    on the map says why it has no basemap."""
    m = maps.overview_map(syn.communes(), syn.facilities(), title="t")
    text = maps.map_html(m)
    links = re.findall(r"<(?:script|link)[^>]+(?:src|href)=\"?(https?://[^\" >]+)", text)
    assert links == []  # no CDN: Leaflet is inlined
    assert "jquery" not in text.lower() and "bootstrap" not in text.lower()
    assert "tile.openstreetmap.org" in text  # online: OSM basemap
    page = load_page(maps.write_map(m, tmp_path / "online.html"),
                     screenshot=ARTIFACTS / "map_no_internet.png", popup=False)
    assert page.errors == []  # failed tiles are not script errors
    assert page.failed and all("tile.openstreetmap.org" in u for u in page.failed)
    assert page.basenote.startswith("The basemap could not load (no internet connection?)")
    assert page.start["paths"] == 6  # the communes drawn as the base
    offline = load_page(maps.write_map(maps.overview_map(syn.communes(), title="t",
                                                         offline=True, lang="vi"),
                                       tmp_path / "offline.html"))
    assert offline.failed == [] and offline.basenote.startswith("Không có bản đồ nền")


def test_facility_popup_values_sources_and_estimates() -> None:
    m = maps.overview_map(None, syn.facilities(), title="t", offline=True)
    text = maps.map_html(m)
    # beds unknown -> "unknown", with the source; a commune-centroid site -> estimate label
    data = text.replace("\\u003c", "<").replace("\\u003e", ">").replace('\\"', '"')
    assert ('unknown <span class="gis-src">(<span translate="no">Ha Tinh DoH plan 2025</span>)'
            in data)
    assert ('<span translate="no">commune centroid (site not published)</span> '
            '<span class="gis-est">estimate</span>') in data
    assert "1,300" in text  # provincial hospital beds
    assert "Facility sites: 8 of 12 placed by estimate" in text


def test_estimate_labels_on_population() -> None:
    m = maps.overview_map(syn.communes(), None, communes_legacy=syn.communes_legacy(),
                          title="t", offline=True)
    text = maps.map_html(m)
    assert ('Pre-2025 commune population: estimate (<span translate="no">estimate: 2025 '
            'population x area share</span>)') \
        in text
    assert "Post-2025 commune population: estimate" not in text  # the 2025 counts are not


def test_time_bands_dissolved_with_population() -> None:
    cells = syn.cells()
    m = maps.accessibility_map(cells, title="t", offline=True,
                               thresholds_min={"station": [15, 30, 60]})
    layers = m.gis_layers
    t = cells["station_time_min"]
    bands = int((t <= 15).any()) + int(((t > 15) & (t <= 30)).any()) + \
        int(((t > 30) & (t <= 60)).any()) + int((t > 60).any())
    assert layers["Travel time to the nearest commune health station"]["features"] == bands
    # regional: 2 columns x 20 rows of cells not reached -> an extra band
    assert cells["regional_time_min"].isna().sum() == 40
    text = maps.map_html(m)
    assert "not reached (beyond the travel cut-off)" in text
    low = cells.loc[t <= 15, "population"].sum()
    assert f"{low:,.0f}" in text


def test_optional_layers_absent() -> None:
    for m in (maps.overview_map(title="empty", offline=True),
              maps.accessibility_map(None, title="empty", offline=True),
              maps.network_map(title="empty", offline=True)):
        assert m.gis_layers == {}
        assert "leaflet" in maps.map_html(m)
    m = maps.accessibility_map(syn.cells(), time_fields={"station": "no_such_field"},
                               title="t", offline=True)
    assert m.gis_layers == {}


def test_plan_map_needs_action_column() -> None:
    with pytest.raises(OutputError, match="no 'action' column.*action_field="):
        maps.plan_map(syn.facilities(), title="t")


def test_layer_without_crs_is_an_error() -> None:
    bad = gpd.GeoDataFrame({"name": ["x"], "tier": ["station"]}, geometry=[Point(0, 0)])
    with pytest.raises(OutputError, match="no CRS.*set_crs"):
        maps.overview_map(None, bad, title="t")


def test_write_map_refuses_overwrite(tmp_path: Path) -> None:
    m = maps.overview_map(syn.communes(), title="t", offline=True)
    p = maps.write_map(m, tmp_path / "a.html")
    before = p.read_bytes()
    with pytest.raises(OutputError, match=r"a\.html.*--overwrite"):
        maps.write_map(m, p)
    assert p.read_bytes() == before
    maps.write_map(maps.overview_map(syn.facilities(), title="u", offline=True), p,
                   overwrite=True)
    assert p.read_bytes() != before
    assert [f.name for f in tmp_path.iterdir()] == ["a.html"]  # no temporary left behind


def test_write_maps_checks_all_before_writing(tmp_path: Path) -> None:
    (tmp_path / "plan.html").write_text("old")
    with pytest.raises(OutputError, match="plan.html"):
        maps.write_maps(tmp_path, communes=syn.communes(), plan=syn.plan())
    assert sorted(f.name for f in tmp_path.iterdir()) == ["plan.html"]
    out = maps.write_maps(tmp_path, province="Hà Tĩnh", communes=syn.communes(),
                          facilities=syn.facilities(), cells=syn.cells(), plan=syn.plan(),
                          edges=syn.edges(), hubs=syn.hubs(), overwrite=True)
    assert sorted(out) == ["access", "network", "overview", "plan"]
    assert "Hà Tĩnh" in out["plan"].read_text(encoding="utf-8")


def test_display_is_simplified_in_metres() -> None:
    # a 20 km wide polygon with 20,000 vertices shrinks to a few hundred at 50 m
    angles = np.linspace(0, 2 * np.pi, 20_000, endpoint=False)
    r = 10_000 + 30 * np.sin(angles * 400)
    ring = np.c_[600_000 + r * np.cos(angles), 2_000_000 + r * np.sin(angles)]
    gdf = gpd.GeoDataFrame({"commune_code": ["1"], "commune_name": ["x"]},
                           geometry=[Polygon(ring)], crs="EPSG:32648")
    # the page without any layer (Leaflet is inlined in every map) is the baseline
    base = len(maps.map_html(maps.overview_map(title="t")))
    small = len(maps.map_html(maps.overview_map(gdf, title="t", simplify_m=50))) - base
    full = len(maps.map_html(maps.overview_map(gdf, title="t", simplify_m=0))) - base
    assert small < full / 10


@pytest.mark.filterwarnings("ignore:Non closed ring detected")
def test_real_province_map_under_5_mb(communes_2025_path: Path, tmp_path: Path) -> None:
    g = gpd.read_file(communes_2025_path, where="province_code = '42'", on_invalid="fix")
    assert len(g) == 69
    g = g.rename(columns={"population_2025": "population"}).to_crs(32648)
    g["population_source"] = "sapnhap.bando.com.vn (2025)"
    m = maps.overview_map(g, title="Hà Tĩnh", offline=True)
    path = maps.write_map(m, tmp_path / "ha_tinh.html")
    assert path.stat().st_size < 5 * 1024 * 1024
    report = load_page(path, screenshot=ARTIFACTS / "map_real_ha_tinh.png")
    assert report.errors == []
    assert report.start == {"paths": 69, "markers": 0}


def _apart(a: dict, b: dict) -> bool:
    return a["right"] <= b["left"] or b["right"] <= a["left"] or \
        a["bottom"] <= b["top"] or b["bottom"] <= a["top"]


@pytest.mark.parametrize("lang", ["en", "vi"])
@pytest.mark.parametrize("key", KEYS)
def test_layout_title_legend_and_text(pages: dict, pages_vi: dict, key: str, lang: str) -> None:
    """The title is never under the layer list, the legend and layer list sit beside the map
    (not over the data), no text is wider than its box, and in Vietnamese no English is left
    in the page or in any popup or tooltip."""
    page = pages[key] if lang == "en" else pages_vi[key][0]
    assert page.errors == [] and page.alerts == []
    assert page.lang == lang
    assert page.overflow == [], page.overflow
    assert page.page_width["scroll"] <= page.page_width["inner"]
    title, control = page.title_box, page.control_box
    assert title["width"] > 0 and control["width"] > 0
    assert _apart(title, control)
    assert _apart(page.map_box, page.side_box)  # the side panel is off the map
    assert page.map_box["left"] <= control["left"] and control["left"] >= \
        page.map_box["right"]  # the layer list is in the side panel
    if lang == "vi":
        assert english_words(page.own_text) == []
        assert english_words(page.own_popup_text) == [] or key == "plan"


def test_vietnamese_popups_have_no_english(tmp_path: Path) -> None:
    """Every popup and tooltip of the Vietnamese plan map (the page probe reads them with
    every layer on)."""
    m = _build("plan", "vi")
    page = load_page(maps.write_map(m, tmp_path / "plan.html"))
    assert page.errors == []
    assert page.popups and english_words(page.own_popup_text) == []


def test_overview_shows_commune_names_apart(pages: dict, pages_vi: dict) -> None:
    for page in (pages["overview"], pages_vi["overview"][0]):
        assert page.map_labels >= 1
        assert page.map_label_overlaps == []
    text = maps.map_html(_build("overview"))
    assert "Xã A" in text and "gis-label" in text


def test_plan_map_every_plan_with_a_selector(tmp_path: Path) -> None:
    """One map for all plans: a selector lists them; each plan shows its own stations and
    the people it leaves without access, as its layer counts say."""
    views = syn.plan_views()
    m = maps.plan_map(plans=views, communes=syn.communes(), offline=True)
    path = maps.write_map(m, tmp_path / "plan.html")
    text = path.read_text(encoding="utf-8")
    assert text.count("<option") == 3
    assert [p["slug"] for p in m.gis_plans] == ["official", "official_only", "user_my_plan"]
    for v, p in zip(views, m.gis_plans, strict=True):
        acts = v["stations"]["action"]
        assert p["counts"]["branch"]["features"] == (acts == "branch").sum()
        assert p["counts"]["closed"]["features"] == (acts == "close").sum()
        assert p["counts"]["kept"]["features"] == acts.isin(["keep", "new"]).sum()
        assert p["losing_population"] == pytest.approx(v["losing_access"]["population"].sum())
        people = round(v["losing_access"]["population"].sum())
        assert p["labels"]["losing"].startswith(f"People losing access ({people:,} people")
    # opens on the official plan; the address picks another
    first = load_page(path)
    assert first.plan == "official"
    user = load_page(path, fragment="plan=user_my_plan",
                     screenshot=ARTIFACTS / "map_plan_user.png", popup=False)
    assert user.plan == "user_my_plan" and user.errors == []
    lose = next(x for x in user.layers if x.startswith("People losing access ("))
    assert lose == m.gis_plans[2]["labels"]["losing"]
    closed = next(x for x in user.layers if x.startswith("Closed sites"))
    assert closed == "Closed sites (3 sites)"  # S4, B1, B2 (syn.plan_views)
    # the user plan's people losing access, drawn: one area per commune that loses
    assert user.start["paths"] - first.start["paths"] == 1


def test_satellite_links_are_curves_that_leave_the_referral_line() -> None:
    """P1 -> R1 (satellite) and R1 -> P1 (referral) join the same two hospitals: the
    satellite link bends away from the straight referral line so both stay visible."""
    e = syn.edges()
    curved = maps._curved_edges(e, "kind")  # noqa: SLF001
    sat = curved[curved["kind"] == "satellite"].geometry.iloc[0]
    ref = e[(e["from_id"] == "R1") & (e["to_id"] == "P1")].geometry.iloc[0]
    assert len(sat.coords) > 2 and len(ref.coords) == 2
    mid = sat.interpolate(0.5, normalized=True)
    assert mid.distance(ref) > 0.05 * ref.length  # off the line by a visible amount
    assert sat.coords[0] == ref.coords[-1] and sat.coords[-1] == ref.coords[0]
    # two satellite links between the same pair bend to different sides
    two = e[e["kind"] == "satellite"]
    both = maps._curved_edges(gpd.GeoDataFrame(  # noqa: SLF001
        pd.concat([two, two.assign(specialty="lung")]), crs=e.crs), "kind")
    a, b = both.geometry.iloc[0], both.geometry.iloc[1]
    assert a.interpolate(0.5, normalized=True).distance(b.interpolate(0.5, normalized=True)) \
        > 0.05 * ref.length


def test_names_as_the_register_gives_them() -> None:
    """The register's name field is shown as given (Vietnamese with diacritics); an English
    map uses the register's name_en where it has one."""
    f = syn.facilities()
    f["name"] = f["name"].replace("Bệnh viện Đa khoa tỉnh", "Bệnh viện Đa khoa tỉnh Hà Tĩnh")
    f["name_en"] = ["Ha Tinh Provincial General Hospital"] + [""] * (len(f) - 1)
    vi = maps.map_html(maps.overview_map(None, f, lang="vi", offline=True))
    en = maps.map_html(maps.overview_map(None, f, lang="en", offline=True))
    assert "Bệnh viện Đa khoa tỉnh Hà Tĩnh" in vi and "Ha Tinh Provincial" not in vi
    assert "Ha Tinh Provincial General Hospital" in en
    assert "Bệnh viện Đa khoa khu vực Can Lộc" in en  # no name_en: the name as given
