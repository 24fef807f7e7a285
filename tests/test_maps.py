"""HTML maps: built from synthetic layers, loaded in real headless Chromium with no internet.

Each map is written with ``offline=True``, served from 127.0.0.1 and opened by Debian's
``chromium`` (every other host name unresolvable). The page must raise no JavaScript error, draw
exactly the features and markers of its layers, fetch nothing from elsewhere, and show user text
(a facility named ``<script>alert(1)</script>``) as text. Screenshots go to tests/_artifacts/.
"""

from __future__ import annotations

import re
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
from shapely.geometry import Point, Polygon

from gis.errors import OutputError
from gis.outputs import maps
from tests import _synthetic_outputs as syn
from tests._browser import ARTIFACTS, load_page

KW = {"sources": syn.SOURCES, "estimate_notes": syn.ESTIMATES, "offline": True}


def _build(key: str):
    if key == "overview":
        return maps.overview_map(syn.communes(), syn.facilities(),
                                 communes_legacy=syn.communes_legacy(),
                                 title="Overview <b>Hà Tĩnh</b>", **KW)
    if key == "access":
        return maps.accessibility_map(syn.cells(), coverage=syn.coverage(),
                                      underserved=syn.underserved(),
                                      facilities=syn.facilities(), title="Access", **KW)
    if key == "plan":
        return maps.plan_map(syn.plan(), communes=syn.communes(),
                             losing_access=syn.losing_access(), title="Plan", **KW)
    return maps.network_map(syn.edges(), syn.hubs(), facilities=syn.facilities(),
                            communes=syn.communes(), title="Network", **KW)


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
    # every overlay listed in the layer control, with its feature count
    assert report.layers == [f"{name} ({v['features']})" for name, v in layers.items()]
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
    # sources are escaped HTML inside a JSON string: "&" itself written as \u0026
    assert "Ha Tinh DoH plan 2025 \\u0026lt;i\\u0026gt;(laodong.vn)" in text


def test_offline_map_has_no_external_reference(written: dict) -> None:
    for path, _ in written.values():
        text = path.read_text(encoding="utf-8")
        assert not re.search(r"<(script|link)[^>]+(src|href)=\"?https?:", text)
        assert not re.search(r"cdn\.|cdnjs|jsdelivr|unpkg", text)  # no CDN at all
        assert "sourceMappingURL" not in text


def test_online_map_links_only_leaflet() -> None:
    m = maps.overview_map(syn.communes(), syn.facilities(), title="t")
    text = maps.map_html(m)
    links = re.findall(r"<(?:script|link)[^>]+(?:src|href)=\"?(https?://[^\" >]+)", text)
    assert sorted(links) == sorted([
        f"https://cdn.jsdelivr.net/npm/leaflet@{maps.LEAFLET_VERSION}/dist/leaflet.js",
        f"https://cdn.jsdelivr.net/npm/leaflet@{maps.LEAFLET_VERSION}/dist/leaflet.css"])
    assert "jquery" not in text.lower() and "bootstrap" not in text.lower()
    assert "tile.openstreetmap.org" in text  # online: OSM basemap


def test_facility_popup_values_sources_and_estimates() -> None:
    m = maps.overview_map(None, syn.facilities(), title="t", offline=True)
    text = maps.map_html(m)
    # beds unknown -> "unknown", with the source; a commune-centroid site -> estimate label
    assert "unknown \\u003cspan class=\\\"gis-src\\\"\\u003e(Ha Tinh DoH plan 2025)" in text
    assert "commune centroid (site not published) \\u003cspan class=\\\"gis-est\\\"" in text
    assert "1,300" in text  # provincial hospital beds
    assert "Facility sites: 8 of 12 placed by estimate" in text


def test_estimate_labels_on_population() -> None:
    m = maps.overview_map(syn.communes(), None, communes_legacy=syn.communes_legacy(),
                          title="t", offline=True)
    text = maps.map_html(m)
    assert "Pre-2025 commune population: estimate (estimate: 2025 population x area share)" \
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
    assert "not reached (beyond the travel cutoff)" in text
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
    small = len(maps.map_html(maps.overview_map(gdf, title="t", simplify_m=50)))
    full = len(maps.map_html(maps.overview_map(gdf, title="t", simplify_m=0)))
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
