"""GeoPackage + QGIS project: opened by real QGIS (Debian python3-qgis) in a subprocess.

``gis`` never imports QGIS; the test runs ``/usr/bin/python3`` (where Debian's QGIS bindings
live) with ``QT_QPA_PLATFORM=offscreen`` on a copy of the output folder in another place (so
relative paths are proven), and checks every layer: valid, feature count equal to the
GeoPackage's, renderer type, labels, groups. It also renders the project to
tests/_artifacts/qgis_project.png. Under CI (env ``CI`` set) a missing QGIS is a failure.
"""

from __future__ import annotations

import shutil
import zipfile
from pathlib import Path

import geopandas as gpd
import pyogrio
import pytest
from shapely.geometry import Point

from gis.errors import OutputError
from gis.outputs import qgis
from tests import _synthetic_outputs as syn
from tests._qgis import open_project, require_qgis

ARTIFACTS = Path(__file__).resolve().parent / "_artifacts"

def all_layers() -> dict[str, gpd.GeoDataFrame]:
    return {"communes": syn.communes(), "communes_legacy": syn.communes_legacy(),
            "facilities": syn.facilities(), "cells": syn.cells(), "coverage": syn.coverage(),
            "underserved": syn.underserved(), "plan": syn.plan(),
            "losing_access": syn.losing_access(), "edges": syn.edges(), "hubs": syn.hubs()}


@pytest.fixture(scope="module")
def opened(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, qgis.QgisOutput, Path]:
    require_qgis()
    folder = tmp_path_factory.mktemp("qgis") / "out"
    written = qgis.write_qgis_project(folder, {**all_layers(), "absent": None},
                                      name="ha_tinh", title="Hà Tĩnh <test> & co")
    # move the whole folder elsewhere: the project must still find its data
    moved = tmp_path_factory.mktemp("copied") / "elsewhere"
    shutil.copytree(folder, moved)
    shutil.rmtree(folder)
    ARTIFACTS.mkdir(exist_ok=True)
    png = ARTIFACTS / "qgis_project.png"
    return open_project(moved / "ha_tinh.qgz", png), written, moved


def test_project_opens_with_every_layer_valid(opened) -> None:
    result, written, moved = opened
    assert result["read"] is True
    assert result["title"] == "Hà Tĩnh <test> & co"
    assert result["crs"] == "EPSG:32648"
    assert result["layers"], "no layer in the project"
    for rec in result["layers"]:
        assert rec["valid"], rec
        assert rec["crs"] == "EPSG:32648"


def test_feature_counts_equal_the_geopackage(opened) -> None:
    result, written, moved = opened
    gpkg = moved / "ha_tinh.gpkg"
    in_gpkg = {name: pyogrio.read_info(gpkg, layer=name)["features"]
               for name, _ in pyogrio.list_layers(gpkg)}
    assert in_gpkg == written.layers
    assert "absent" not in in_gpkg
    for rec in result["layers"]:
        assert rec["features"] == in_gpkg[rec["layername"]], rec
    # every GeoPackage layer is in the project
    assert {r["layername"] for r in result["layers"]} == set(in_gpkg)


def test_paths_are_relative(opened) -> None:
    result, _, moved = opened
    assert result["absolute"] is False
    for rec in result["layers"]:
        assert rec["saved_source"].startswith("./ha_tinh.gpkg|layername="), rec
        assert rec["source"].startswith(str(moved)), rec  # resolved against the new place
    with zipfile.ZipFile(moved / "ha_tinh.qgz") as zf:
        xml = zf.read("ha_tinh.qgs").decode("utf-8")
    assert str(moved) not in xml and "/tmp" not in xml


def test_groups_renderers_and_labels(opened) -> None:
    result, _, _ = opened
    assert list(result["groups"]) == ["Inputs", "Access", "Plans", "Network"]
    assert result["groups"]["Inputs"] == ["Communes after 1 July 2025",
                                          "Communes before 1 July 2025", "Facilities by tier"]
    by_name = {r["name"]: r for r in result["layers"]}
    fac = by_name["Facilities by tier"]
    assert fac["renderer"] == "categorizedSymbol" and fac["attr"] == "tier"
    assert fac["classes"] == ["central", "provincial", "regional", "station", "branch", ""]
    # labels are set up but off: an uncluttered first view (one click turns them on)
    assert not fac["labels"] and fac["label_field"] == "name"
    st = by_name["Travel time to the nearest commune health station (min)"]
    assert st["renderer"] == "graduatedSymbol" and st["attr"] == "station_time_min"
    assert [c[1] for c in st["classes"]][:3] == [15, 30, 60]
    rg = by_name["Travel time to the nearest regional hospital (min)"]
    assert rg["attr"] == "regional_time_min" and not rg["visible"]
    cov = by_name["Share of people within 30 min of a commune health station"]
    assert cov["renderer"] == "graduatedSymbol" and cov["attr"] == "station_30min_share"
    assert by_name["Under-served areas"]["renderer"] == "singleSymbol"
    assert by_name["Under-served areas"]["label_field"] == "rank"
    plan = by_name["Plan: action per facility"]
    assert plan["renderer"] == "categorizedSymbol" and plan["attr"] == "action"
    edges = by_name["Referral and satellite links"]
    assert edges["renderer"] == "categorizedSymbol" and edges["classes"][:2] == [
        "referral", "satellite"]
    assert by_name["Hubs (size: people behind)"]["renderer"] == "graduatedSymbol"
    assert not by_name["Communes before 1 July 2025"]["visible"]


def test_project_renders(opened) -> None:
    result, _, _ = opened
    assert result["png"] is True
    png = ARTIFACTS / "qgis_project.png"
    assert png.stat().st_size > 5_000


def test_geopackage_keeps_user_text_and_lists(tmp_path: Path) -> None:
    out = qgis.write_qgis_project(tmp_path, {"facilities": syn.facilities(),
                                             "underserved": syn.underserved().assign(
                                                 reasons=[["far", "no doctor"], [syn.EVIL]])})
    fac = gpd.read_file(out.geopackage, layer="facilities")
    assert syn.EVIL in set(fac["name"])
    und = gpd.read_file(out.geopackage, layer="underserved")
    assert list(und["reasons"]) == ["far; no doctor", syn.EVIL]
    with zipfile.ZipFile(out.project) as zf:
        assert zf.namelist() == ["gis.qgs"]


def test_refuses_to_overwrite_and_leaves_nothing(tmp_path: Path) -> None:
    qgis.write_qgis_project(tmp_path, {"facilities": syn.facilities()})
    before = {p.name: p.stat().st_mtime_ns for p in tmp_path.iterdir()}
    with pytest.raises(OutputError, match=r"gis\.gpkg.*gis\.qgz.*--overwrite"):
        qgis.write_qgis_project(tmp_path, {"facilities": syn.facilities()})
    assert {p.name: p.stat().st_mtime_ns for p in tmp_path.iterdir()} == before
    qgis.write_qgis_project(tmp_path, {"facilities": syn.facilities()}, overwrite=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["gis.gpkg", "gis.qgz"]


def test_mixed_or_missing_crs_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(OutputError, match="share one CRS.*to_crs"):
        qgis.write_qgis_project(tmp_path, {"facilities": syn.facilities(),
                                           "communes": syn.communes().to_crs(4326)})
    bad = gpd.GeoDataFrame({"name": ["x"]}, geometry=[Point(0, 0)])
    with pytest.raises(OutputError, match="no CRS.*set_crs"):
        qgis.write_qgis_project(tmp_path, {"facilities": bad})
    with pytest.raises(OutputError, match="no layer to write"):
        qgis.write_qgis_project(tmp_path, {"facilities": None})
    assert list(tmp_path.iterdir()) == []


# --- gis export -----------------------------------------------------------------------------

def _run_gpkg(folder: Path) -> Path:
    """A GeoPackage shaped like the one `gis run` writes (layers.gpkg)."""
    gpkg = folder / "layers.gpkg"
    qgis.write_geopackage({"communes_2025": syn.communes(),
                           "communes_legacy": syn.communes_legacy(),
                           "facilities": syn.facilities()}, gpkg)
    return gpkg


def test_export_qgis_opens_in_qgis(tmp_path: Path) -> None:
    from gis.cli import main

    require_qgis()
    gpkg = _run_gpkg(tmp_path / "run")
    proj_dir = tmp_path / "projects"
    proj_dir.mkdir()
    assert main(["-q", "export", "qgis", str(gpkg), "--out", str(proj_dir / "p.qgz")]) == 0
    assert main(["-q", "export", "qgis", str(gpkg), "--out", str(proj_dir / "p.qgz")]) == 2
    result = open_project(proj_dir / "p.qgz", tmp_path / "p.png")
    # Vietnamese by default
    assert [r["name"] for r in result["layers"]] == [
        "Xã sau ngày 1/7/2025", "Xã trước ngày 1/7/2025", "Cơ sở y tế theo tuyến"]
    assert all(r["valid"] for r in result["layers"])
    assert {r["features"] for r in result["layers"]} == {6, 12}
    assert all(r["saved_source"].startswith("../run/layers.gpkg|") for r in result["layers"])


def test_export_geojson_and_csv(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from gis.cli import main

    gpkg = _run_gpkg(tmp_path)
    out = tmp_path / "x"
    assert main(["export", "geojson", str(gpkg), "--out", str(out)]) == 0
    fac = gpd.read_file(out / "facilities.geojson")
    assert fac.crs.to_epsg() == 4326 and len(fac) == 12
    assert syn.EVIL in set(fac["name"])
    assert main(["export", "csv", str(gpkg), "--out", str(out), "--layer", "communes_2025",
                 "--wkt"]) == 0
    raw = (out / "communes_2025.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # BOM: spreadsheets read the diacritics right
    import pandas as pd
    table = pd.read_csv(out / "communes_2025.csv", encoding="utf-8-sig")
    assert list(table.columns[-3:]) == ["lon", "lat", "wkt"] and len(table) == 6
    assert table["lon"].between(105.8, 106.1).all() and table["lat"].between(18.2, 18.4).all()
    assert "Xã A" in set(table["commune_name"])
    # refuses to overwrite, names the file; unknown layer named with the list of layers
    assert main(["export", "csv", str(gpkg), "--out", str(out), "--layer",
                 "communes_2025"]) == 2
    assert "communes_2025.csv" in capsys.readouterr().err
    assert main(["export", "csv", str(gpkg), "--layer", "nope"]) == 2
    assert "no layer 'nope'; layers: communes_2025, communes_legacy, facilities" in \
        capsys.readouterr().err
    assert main(["export", "qgis", str(tmp_path / "missing.gpkg")]) == 2
    assert "file not found" in capsys.readouterr().err


def test_first_view_is_uncluttered(opened) -> None:
    """The project opens on the communes, the facilities and the under-served areas; every
    other layer is in the tree but off, and no layer shows labels."""
    result, _, _ = opened
    on = sorted(r["name"] for r in result["layers"] if r["visible"])
    assert on == ["Communes after 1 July 2025", "Facilities by tier", "Under-served areas"]
    assert not any(r["labels"] for r in result["layers"])
    assert len(result["layers"]) > len(on)


@pytest.fixture(scope="module")
def opened_plans_vi(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A Vietnamese project with every plan's layers, opened in QGIS."""
    require_qgis()
    folder = tmp_path_factory.mktemp("qgis_vi")
    views = syn.plan_views()
    layers = {"communes": syn.communes(), "facilities": syn.facilities()}
    for v in views:
        layers[f"plan_{v['slug']}_stations"] = v["stations"]
        layers[f"plan_{v['slug']}_losing_access"] = v["losing_access"]
        layers[f"plan_{v['slug']}_communes"] = v["communes"]
    qgis.write_qgis_project(folder, layers, name="ha_tinh", province="Hà Tĩnh", plans=views,
                            lang="vi")
    return open_project(folder / "ha_tinh.qgz", ARTIFACTS / "qgis_plans_vi.png")


def test_every_plan_has_its_group_in_vietnamese(opened_plans_vi) -> None:
    result = opened_plans_vi
    assert result["title"] == "Hà Tĩnh: mạng lưới cơ sở y tế"
    assert list(result["groups"]) == ["Dữ liệu đầu vào", "Phương án"]
    subs = result["subgroups"]
    official = "Phương án chính thức: 6 trạm + mọi trạm cũ còn lại làm điểm trạm"
    assert list(subs) == [official, "Phương án chính thức không có điểm trạm: chỉ 6 trạm",
                          "my plan " + syn.EVIL]
    # the plan whose cells lose no one has no losing-access layer (an empty layer is left out)
    assert subs[official] == ["Trạm theo hình thức", "Số người mất khả năng tiếp cận theo xã"]
    assert subs["my plan " + syn.EVIL] == [
        "Trạm theo hình thức", "Số người mất khả năng tiếp cận",
        "Số người mất khả năng tiếp cận theo xã"]
    by = {(tuple(r["group_path"]), r["name"]): r for r in result["layers"]}
    st = by[(("Phương án", "my plan " + syn.EVIL), "Trạm theo hình thức")]
    assert st["valid"] and st["renderer"] == "categorizedSymbol" and st["attr"] == "action"
    assert st["features"] == 9 and not st["visible"]
    com = by[(("Phương án", "my plan " + syn.EVIL), "Số người mất khả năng tiếp cận theo xã")]
    assert com["renderer"] == "graduatedSymbol" and com["attr"] == "losing_30min"
    assert all(r["valid"] for r in result["layers"])
    assert result["png"] is True
