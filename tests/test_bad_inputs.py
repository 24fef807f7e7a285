"""The corpus of bad inputs: every case exits with status 2 and a message, never a traceback.

Each case writes small synthetic inputs (Hà Tĩnh's 69 communes and 209 stations from the
registry, the project's hospital register) with one fault, runs ``gis`` in-process into an
earlier output folder with ``--overwrite`` and checks: exit status 2, no traceback, the message
names the file (or config key), the field and the rows with what to do, the earlier output is
byte-for-byte unchanged, and no staging folder or lock is left behind. Every input is checked
before any analysis runs, so the whole corpus takes seconds, not the 30 s of a run.
"""

from __future__ import annotations

import codecs
import fcntl
import hashlib
import json
import os
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import rasterio
import shapely
from rasterio.transform import from_origin

from gis.analyses.plans import official_plan
from gis.cli import main
from gis.inputs import layers as L
from gis.inputs import readers as R
from gis.inputs.registry import load_registry
from gis.outputs.tables import plan_csv

ROOT = Path(__file__).resolve().parents[1]
HOSPITALS = ROOT / "layers" / "hatinh_hospitals.csv"


# --- the base inputs (valid), built once ----------------------------------------------------

@dataclass
class Base:
    folder: Path
    communes: gpd.GeoDataFrame      # 69 post-2025 communes, EPSG:4326, integer population
    facilities_text: str            # the project's hospital register
    legacy_text: str                # pre-2025 population table (209 rows)
    plan_text: str                  # the official plan "69 only" as CSV
    plan: pd.DataFrame


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> Base:
    folder = tmp_path_factory.mktemp("base")
    reg = load_registry("42")
    crs = L.working_crs(reg)
    fac = R.read_facilities(HOSPITALS, reg, crs=crs)
    lay = L.build_layers(reg, crs=crs, population_total=1_623_061, facilities=fac)
    com = lay.communes[["commune_code", "commune_name", "population", "geometry"]].to_crs(4326)
    com = com.copy()
    com["population"] = com["population"].round().astype(int)
    legacy = lay.communes_legacy[["commune_code", "population"]].copy()
    legacy["population"] = legacy["population"].round().astype(int)
    plan = official_plan(lay.facilities, lay.communes, reg, branches=False)
    text = plan_csv(plan, lay.facilities)
    return Base(folder=folder, communes=com.reset_index(drop=True),
                facilities_text=HOSPITALS.read_text(encoding="utf-8"),
                legacy_text=legacy.to_csv(index=False), plan_text=text,
                plan=pd.read_csv(pd.io.common.StringIO(text), dtype=str))


class Work:
    """One case's folder: helpers that write inputs and the config, and the command to run."""

    def __init__(self, folder: Path, base: Base):
        self.d = folder
        self.base = base
        self.layers: dict[str, str] = {"facilities": self.text("hospitals.csv",
                                                               base.facilities_text)}
        self.config_extra = ""
        self.population_total: float | None = 1_623_061
        self.argv: list[str] | None = None
        self.config_path: Path | None = None

    # files
    def text(self, name: str, content: str, encoding: str = "utf-8") -> str:
        p = self.d / name
        p.write_bytes(content.encode(encoding))
        return str(p)

    def raw(self, name: str, content: bytes) -> str:
        p = self.d / name
        p.write_bytes(content)
        return str(p)

    def communes(self, mutate: Callable[[gpd.GeoDataFrame], gpd.GeoDataFrame] | None = None,
                 *, name: str = "communes.geojson", driver: str | None = None) -> str:
        g = self.base.communes.copy()
        g["population"] = g["population"].astype(object)
        if mutate:
            g = mutate(g)
        p = self.d / name
        g.to_file(p, driver=driver or ("GPKG" if name.endswith(".gpkg") else "GeoJSON"))
        self.layers["communes"] = str(p)
        return str(p)

    def csv(self, name: str, rows: list[str]) -> str:
        return self.text(name, "\n".join(rows) + "\n")

    def facilities(self, rows: list[str], *, header: str = "facility_id,name,tier,lon,lat"
                   ) -> str:
        self.layers["facilities"] = self.csv("facilities.csv", [header, *rows])
        return self.layers["facilities"]

    def plan(self, df: pd.DataFrame, name: str = "plan.csv") -> str:
        p = self.d / name
        df.to_csv(p, index=False)
        return str(p)

    # the command
    def config(self) -> str:
        if self.config_path is not None:
            return str(self.config_path)
        lines = ["[province]", 'name = "42"']
        if self.population_total:
            lines.append(f"population_total = {self.population_total:g}")
        lines.append("[layers]")
        lines += [f'{k} = "{Path(v).as_posix()}"' for k, v in self.layers.items()]
        p = self.d / "config.toml"
        p.write_text("\n".join(lines) + "\n" + self.config_extra, encoding="utf-8")
        return str(p)


@dataclass
class Outcome:
    code: int
    err: str


def earlier_output(folder: Path) -> Path:
    """A complete earlier output of gis (its marker and a few files) to be left untouched."""
    out = folder / "earlier" / "hatinh"
    out.mkdir(parents=True)
    (out / ".gis-output").write_text(json.dumps({"written_by": "gis", "stages_done":
                                                 ["access", "plans", "network"]}),
                                     encoding="utf-8")
    (out / "summary.json").write_text('{"gis_version": "0.1.0", "population": 1623061}',
                                      encoding="utf-8")
    (out / "report.html").write_text("<html>earlier report</html>", encoding="utf-8")
    (out / "maps").mkdir()
    (out / "maps" / "access.html").write_bytes(b"<html>earlier map</html>")
    return out


def snapshot(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` (and ``folder`` itself when it is a file) with its hash."""
    if folder.is_file():
        return {".": hashlib.sha256(folder.read_bytes()).hexdigest()}
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def run_case(w: Work, out: Path, capsys) -> Outcome:
    argv = w.argv or ["run", "--config", w.config()]
    argv = [a.replace("{config}", w.config()) for a in argv]
    capsys.readouterr()
    code = main([*argv, "--out", str(out), "--overwrite"])
    return Outcome(code, capsys.readouterr().err)


# --- the cases ------------------------------------------------------------------------------
# Each case: (id, setup(w) -> None, phrases the message must hold). Setups mutate valid inputs.

def set_pop(i: int, value):
    def mutate(g):
        g.loc[i, "population"] = value
        return g
    return mutate


def code_of(base: Base, i: int) -> str:
    return str(base.communes.loc[i, "commune_code"])


def station_ids(base: Base) -> list[str]:
    return base.plan["facility_id"].tolist()


def cp1258(text: str) -> bytes:
    """Text in Windows-1258: tone marks as combining characters after the letter."""
    return unicodedata.normalize("NFD", text).encode("cp1258", errors="replace")


HEADER_FAC = "facility_id,name,tier,lon,lat"
GOOD_FAC = ["H1,Regional hospital,regional,105.90,18.34", "H2,Provincial hospital,provincial,"
            "105.89,18.35"]


def _config_case(text: str | bytes, name: str = "config.toml"):
    def setup(w: Work):
        p = w.d / name
        p.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))
        w.config_path = p
    return setup


def _extra(text: str):
    def setup(w: Work):
        w.config_extra = text
    return setup


def _communes(mutate=None, **kw):
    def setup(w: Work):
        w.communes(mutate, **kw)
    return setup


def _legacy(content: str | bytes, name: str = "legacy.csv", field: str | None = None):
    def setup(w: Work):
        p = w.raw(name, content if isinstance(content, bytes) else content.encode("utf-8"))
        w.layers["legacy_population"] = p
        if field:
            w.layers["legacy_population_field"] = field
    return setup


def _facilities(rows: list[str], header: str = HEADER_FAC):
    def setup(w: Work):
        w.facilities(rows, header=header)
    return setup


def _facilities_raw(content: bytes, name: str = "facilities.csv"):
    def setup(w: Work):
        w.layers["facilities"] = w.raw(name, content)
    return setup


def _table(key: str, rows: list[str], name: str | None = None):
    def setup(w: Work):
        w.layers[key] = w.csv(name or f"{key}.csv", rows)
    return setup


def _roads(lines, *, crs=4326, extra=None, name="roads.gpkg"):
    def setup(w: Work):
        g = gpd.GeoDataFrame(extra or {}, geometry=lines, crs=crs)
        p = w.d / name
        g.to_file(p, driver="GPKG")
        w.layers["roads"] = str(p)
    return setup


def _raster(*, crs="EPSG:4326", west=105.1, north=18.8, content=None):
    def setup(w: Work):
        p = w.d / "pop.tif"
        if content is not None:
            p.write_bytes(content)
        else:
            data = np.ones((10, 10), dtype="float32")
            with rasterio.open(p, "w", driver="GTiff", height=10, width=10, count=1,
                               dtype="float32", crs=crs,
                               transform=from_origin(west, north, 0.1, 0.1)) as dst:
                dst.write(data, 1)
        w.layers["population_raster"] = str(p)
    return setup


def _plan(mutate=None, *, name="plan.csv", extra_rows=(), drop=None):
    def setup(w: Work):
        df = w.base.plan.copy()
        if mutate:
            df = mutate(df)
        if drop is not None:
            df = df.drop(index=drop)
        if extra_rows:
            df = pd.concat([df, pd.DataFrame(list(extra_rows))], ignore_index=True)
        p = w.plan(df, name)
        w.argv = ["plan", "evaluate", p, "--config", "{config}", "--no-optimise"]
    return setup


def _plan_file(content: str | bytes, name: str):
    def setup(w: Work):
        p = w.raw(name, content if isinstance(content, bytes) else content.encode("utf-8"))
        w.argv = ["plan", "evaluate", p, "--config", "{config}", "--no-optimise"]
    return setup


def _toml_plan(body: str):
    return _plan_file(body, "plan.toml")


def _set(i, col, value):
    def mutate(df):
        df.loc[i, col] = value
        return df
    return mutate


def _first_main(df):
    return df.index[df["action"] == "keep"][0]


def _toml_station(fid, action, code, **more):
    lines = ["[[station]]", f'facility_id = "{fid}"', f'action = "{action}"',
             f'target_commune_code = "{code}"']
    lines += [f"{k} = {json.dumps(v)}" for k, v in more.items()]
    return "\n".join(lines)


def _official_toml(base_plan: pd.DataFrame, *, skip=()):
    return "\n".join(_toml_station(r.facility_id, r.action, r.target_commune_code)
                     for r in base_plan.itertuples() if r.facility_id not in skip)


def _toml_plan_from_base(make: Callable[[pd.DataFrame], str]):
    def setup(w: Work):
        p = w.text("plan.toml", make(w.base.plan))
        w.argv = ["plan", "evaluate", p, "--config", "{config}", "--no-optimise"]
    return setup


def _two_plans(make_second: Callable[[pd.DataFrame], pd.DataFrame], *, second_name: str):
    def setup(w: Work):
        first = w.plan(w.base.plan, "plan.csv")
        sub = w.d / "other"
        sub.mkdir()
        second = sub / second_name
        make_second(w.base.plan.copy()).to_csv(second, index=False)
        w.argv = ["plan", "evaluate", first, str(second), "--config", "{config}",
                  "--no-optimise"]
    return setup


def _new_site(fid="NEW-1", lon="105.90", lat="18.34", role="main", replace_main=True):
    """The official plan with the first commune's main station replaced by a new site."""
    def mutate(df):
        i = _first_main(df)
        code = df.loc[i, "target_commune_code"]
        if replace_main:
            df.loc[i, "action"] = "branch"
        row = {"facility_id": fid, "action": "new", "target_commune_code": code, "lon": lon,
               "lat": lat, "role": role}
        return pd.concat([df, pd.DataFrame([row])], ignore_index=True)
    return mutate


def _both(*setups):
    def setup(w: Work):
        for s in setups:
            s(w)
    return setup


def _layers_key(key: str, value: str):
    def setup(w: Work):
        w.layers[key] = value
    return setup


def _no_total(setup):
    def wrapped(w: Work):
        w.population_total = None
        setup(w)
    return wrapped


GEOJSON_TRUNCATED = '{"type": "FeatureCollection", "features": [{"type": "Feature", "prop'
ROW_A, ROW_B = 4, 10   # rows changed in the communes layer (0-based index; GDAL row = i + 1)

C = "communes.geojson"
CASES: list[tuple[str, Callable[[Work], None], list[str]]] = [
    # config.toml: the file itself
    ("config-folder", lambda w: setattr(w, "config_path", w.d), ["is a folder, not a config file"]),
    ("config-inside-file",
     lambda w: setattr(w, "config_path", Path(w.text("x.txt", "x")) / "c.toml"),
     ["x.txt is a file", "c.toml cannot be inside it"]),
    ("config-missing", lambda w: setattr(w, "config_path", w.d / "nope.toml"),
     ["nope.toml: config file not found", "--config"]),
    ("config-empty", _config_case(b""), ["config.toml: empty file (0 bytes)"]),
    ("config-blank", _config_case("\n  \n"), ["config.toml: holds only blank lines"]),
    ("config-utf16", _config_case(codecs.BOM_UTF16_LE + '[province]\nname = "Hà Tĩnh"\n'.encode(
        "utf-16-le")), ["config.toml: encoded as UTF-16", "save it as UTF-8: in a text editor"]),
    ("config-cp1258", _config_case(cp1258('[province]\nname = "Hà Tĩnh"\n')),
     ["config.toml: not UTF-8", "line 2", "Windows-1258", "save it as UTF-8: in a text editor"]),
    ("config-latin1", _config_case('[output]\nfolder = "résultats"\n'.encode("latin-1")),
     ["config.toml: not UTF-8", "line 2", "Latin-1", "choose the encoding UTF-8 when saving"]),
    ("config-xlsx", _config_case(b"PK\x03\x04" + b"\x00" * 40), ["config.toml", "zip archive"]),
    ("config-binary", _config_case(b"\x00\x01\x02\x03gis\x00\xff" * 20),
     ["config.toml", "binary data, not text"]),
    ("config-bad-toml", _config_case("[province\nname = 42\n"),
     ["config.toml: not valid TOML", "line 1"]),
    ("config-unknown-key", _extra("[travel]\nspeed = 30\n"),
     ["config.toml: unknown key in [travel]: speed", "allowed:"]),
    ("config-cutoff-below-threshold", _extra("[travel]\ncutoff_min = 45\n"),
     ["config.toml: travel.cutoff_min: 45 min is below", "access.thresholds_min.station = 60",
      "access.thresholds_min.provincial = 120", "raise travel.cutoff_min to at least 120"]),
    ("config-cutoff-below-catchment", _extra(
        "[travel]\ncutoff_min = 50\n[access.thresholds_min]\nstation = [15, 30]\n"
        "regional = [30]\nprovincial = [45]\n"),
     ["travel.cutoff_min: 50 min is below access.e2sfca.catchment_min = 60"]),
    ("config-cutoff-below-satellite", _extra(
        "[travel]\ncutoff_min = 70\n[access.thresholds_min]\nstation = [15, 30]\n"
        "regional = [30]\nprovincial = [45]\n[access.e2sfca]\ncatchment_min = 30\n"
        "[network]\nsatellite_specialties = [\"eye\"]\nsatellite_time_min = 90\n"),
     ["travel.cutoff_min: 70 min is below network.satellite_time_min = 90"]),
    ("config-cell-size-text", _extra('[demand]\ncell_size_m = "500"\n'),
     ["demand.cell_size_m: expected a number, found '500'"]),
    ("config-detour", _extra("[travel]\ndetour_factor = 0.9\n"),
     ["travel.detour_factor: expected 1 or more"]),
    ("config-unknown-tier", _extra("[access.thresholds_min]\nclinic = [30]\n"),
     ["access.thresholds_min.clinic: unknown tier 'clinic'"]),
    ("config-transfer-mode", _extra('[network]\ntransfer_mode = "boat"\n'),
     ["network.transfer_mode: 'boat' has no speed"]),
    ("config-satellite-specialty", _extra('[network]\nsatellite_specialties = ["cardiology"]\n'),
     ["network.satellite_specialties: no active facility offers 'cardiology'"]),
    ("config-layer-typo", _extra(""), []),  # replaced below (needs the [layers] table)
    # the communes layer
    ("communes-missing-field", _communes(lambda g: g.drop(columns=["commune_name"])),
     [C, "field 'commune_name': missing", "Add the field or rename the column"]),
    ("communes-population-field-name", _both(_communes(), _layers_key(
        "communes_population_field", "pop_2025")),
     [C, "field 'pop_2025': missing; the layer has commune_code, commune_name, population"]),
    ("communes-duplicate-code", _communes(lambda g: g.assign(commune_code=lambda d: d[
        "commune_code"].where(d.index != 1, d.loc[0, "commune_code"]))),
     [C, "field 'commune_code', rows 1, 2 (commune_code 18073, 18073): duplicate ids",
      "renumber or remove"]),
    ("communes-unknown-code", _communes(lambda g: g.assign(
        commune_code=lambda d: d["commune_code"].where(d.index != 3, "99999"))),
     [C, "field 'commune_code', row 4 (commune_code 99999): codes unknown to the registry",
      "gis registry 42", "1 post-2025 communes of Hà Tĩnh missing from the layer"]),
    ("communes-missing-commune", _communes(lambda g: g.drop(index=[5])),
     [C, "1 post-2025 communes of Hà Tĩnh missing from the layer", "add them"]),
    ("population-negative", _communes(set_pop(ROW_A, -5)),
     [C, f"field 'population', row {ROW_A + 1} (commune_code", "negative population (-5)",
      "correct the values"]),
    ("population-text", _communes(set_pop(ROW_A, "about 12000")),
     [C, f"field 'population', row {ROW_A + 1} (commune_code", "not a number ('about 12000')",
      "plain number"]),
    ("population-dot-thousands", _communes(set_pop(ROW_A, "28.729")),
     [C, f"field 'population', row {ROW_A + 1} (commune_code", "'28.729'",
      "thousands separators", "write the population in plain digits, e.g. 28729"]),
    ("population-comma-thousands", _communes(set_pop(ROW_A, "28,729")),
     [C, f"row {ROW_A + 1}", "'28,729'", "thousands separator"]),
    ("population-space-thousands", _communes(set_pop(ROW_A, "28 729")),
     [C, f"row {ROW_A + 1}", "'28 729'", "thousands separator"]),
    ("population-millions", _communes(set_pop(ROW_A, "1.234.567")),
     [C, f"row {ROW_A + 1}", "'1.234.567'", "thousands separator", "e.g. 1234567"]),
    ("population-float-thousands", _communes(
        lambda g: g.assign(population=g["population"].astype(float).where(
            g.index != ROW_B, 28.729))),
     [C, f"row {ROW_B + 1}", "'28.729'", "thousands separator"]),
    ("population-one-null", _no_total(_communes(set_pop(ROW_A, None))),
     [C, f"field 'population', row {ROW_A + 1}", "empty population",
      "set province.population_total"]),
    ("population-all-null", _no_total(_communes(lambda g: g.assign(population=None))),
     [C, "field 'population', rows 1, 2, 3", "and 59 more", "empty population"]),
    ("population-all-zero", _communes(lambda g: g.assign(population=0)),
     [C, "field 'population': every row has population 0 (69 rows)",
      "layers.communes_population_field"]),
    ("communes-null-geometry", _communes(lambda g: g.set_geometry(g.geometry.where(
        g.index != 2, None))),
     [C, "geometry, row 3 (commune_code", "no geometry; draw the feature or remove the row"]),
    ("communes-points", _communes(lambda g: g.set_geometry(g.geometry.representative_point())),
     [C, "geometry, rows 1, 2, 3", "Point where Polygon or MultiPolygon is expected"]),
    ("communes-shifted", _communes(lambda g: g.set_geometry(g.geometry.translate(3.0, 3.0))),
     [C, "geometry, rows 1, 2, 3", "outside Hà Tĩnh", "declared CRS"]),
    ("communes-no-crs", _communes(lambda g: g.set_crs(None, allow_override=True),
                                  name="communes.gpkg"),
     ["communes.gpkg", "no CRS declared", "declare it in the file"]),
    ("communes-layer-name", _both(_communes(name="communes.gpkg"),
                                  _layers_key("communes_layer", "roads")),
     ["communes.gpkg", "layer 'roads' not found; the file has communes"]),
    ("communes-empty-geojson", _communes(lambda g: g.iloc[:0]),
     [C, "no rows: the file has only its header", "add the rows"]),
    ("communes-truncated-geojson", lambda w: w.layers.__setitem__(
        "communes", w.text(C, GEOJSON_TRUNCATED)),
     [C, "the JSON ends before it is complete", "truncated", "download it again"]),
    ("communes-bad-json", lambda w: w.layers.__setitem__(
        "communes", w.text(C, '{"type": "FeatureCollection",\n "features": [}\n]}')),
     [C, "not valid JSON", "line 2, column"]),
    ("communes-json-not-geojson", lambda w: w.layers.__setitem__(
        "communes", w.text(C, '{"communes": []}')),
     [C, "valid JSON but not GeoJSON", "export the layer as GeoJSON"]),
    ("communes-zero-bytes", lambda w: w.layers.__setitem__("communes", w.raw("c.gpkg", b"")),
     ["c.gpkg: 1 problem found", "empty file (0 bytes)"]),
    ("communes-text-as-gpkg", lambda w: w.layers.__setitem__(
        "communes", w.raw("c.gpkg", b"commune_code,population\n18073,5\n")),
     ["c.gpkg", "cannot be read", "GeoPackage"]),
    ("communes-folder", lambda w: w.layers.__setitem__("communes", str(w.d)),
     ["is a folder, not a layer file", "name one of them"]),
    ("communes-folder-with-shp", lambda w: (
        (w.d / "shp").mkdir(), (w.d / "shp" / "communes.shp").write_bytes(b"x"),
        w.layers.__setitem__("communes", str(w.d / "shp"))),
     ["is a folder, not a layer file; it holds communes.shp: name one of them"]),
    ("communes-shp-without-parts", lambda w: w.layers.__setitem__(
        "communes", w.raw("communes.shp", b"\x00\x00\x27\x0a" + b"\x00" * 96)),
     ["communes.shp", "Shapefile parts missing: communes.shx, communes.dbf", "copy them all"]),
    ("communes-missing-file", lambda w: w.layers.__setitem__("communes", str(w.d / "gone.gpkg")),
     ["gone.gpkg", "file not found", "relative paths"]),
    # the pre-2025 population table
    ("legacy-header-only", _legacy("commune_code,population\n"),
     ["legacy.csv", "no rows: the file has only its header (fields: commune_code, population)"]),
    ("legacy-semicolons", _legacy("commune_code;population\n18073;100\n"),
     ["legacy.csv", "separated by semicolons ';'", "'CSV UTF-8 (Comma delimited)'"]),
    ("legacy-tabs", _legacy("commune_code\tpopulation\n18073\t100\n"),
     ["legacy.csv", "separated by tabs"]),
    ("legacy-utf16", _legacy(codecs.BOM_UTF16_LE + "commune_code,population\n18073,100\n"
                             .encode("utf-16-le")),
     ["legacy.csv", "encoded as UTF-16 (Excel's 'Unicode Text')", "save it as UTF-8"]),
    ("legacy-utf16-no-bom", _legacy("commune_code,population\n18073,100\n".encode("utf-16-le")),
     ["legacy.csv", "UTF-16 (without a byte-order mark)"]),
    ("legacy-cp1258", _legacy(cp1258("commune_code,commune_name,population\n"
                                     "18073,Nam Hà,100\n18077,Bắc Hà,200\n")),
     ["legacy.csv", "not UTF-8", "line 2", "Windows-1258", "'CSV UTF-8 (Comma delimited)'"]),
    ("legacy-thousands", lambda w: _legacy(re.sub(r"\n18077,\d+", "\n18077,12.345",
                                                  w.base.legacy_text))(w),
     ["legacy.csv", "field 'population', row 3 (commune_code 18077)", "thousands separator"]),
    ("legacy-unknown-code", _legacy("commune_code,population\n18073,100\n99999,5\n"),
     ["legacy.csv", "field 'commune_code', row 3 (commune_code 99999): codes unknown"]),
    ("legacy-duplicate", _legacy("commune_code,population\n18073,100\n18073,5\n"),
     ["legacy.csv", "field 'commune_code', rows 2, 3 (commune_code 18073, 18073): duplicate"]),
    ("legacy-negative", _legacy("commune_code,population\n18073,100\n18077,-3\n"),
     ["legacy.csv", "field 'population', row 3 (commune_code 18077): negative population"]),
    ("legacy-all-zero", _legacy("commune_code,population\n18073,0\n18077,0\n"),
     ["legacy.csv", "every row has population 0", "layers.legacy_population_field"]),
    ("legacy-other-province", _legacy("commune_code,population,province_code\n00001,5,01\n"),
     ["legacy.csv", "field 'commune_code': no row of Hà Tĩnh", "gis registry 42 --mapping"]),
    ("legacy-field-name", _legacy("commune_code,pop\n18073,5\n"),
     ["legacy.csv", "field 'population': missing; the layer has commune_code, pop"]),
    ("legacy-extra-field", _legacy("commune_code,population\n18073,100\n18077,1,200\n"),
     ["legacy.csv", "line 3 has 3 fields where the header has 2", "must be quoted"]),
    ("legacy-twice-header", _legacy("commune_code,population,population\n18073,1,2\n"),
     ["legacy.csv", "field 'population' appears 2 times in the header"]),
    ("legacy-xlsx", _legacy(b"PK\x03\x04\x14\x00\x06\x00" + b"\x00" * 60, name="legacy.csv"),
     ["legacy.csv", "zip archive (an Excel .xlsx", "'CSV UTF-8 (Comma delimited)'"]),
    # the facilities layer
    ("facilities-header-only", _facilities([]),
     ["facilities.csv", "no rows: the file has only its header", "leave its setting empty"]),
    ("facilities-bad-tier", _facilities([*GOOD_FAC, "H3,Clinic,clinic,105.9,18.3"]),
     ["facilities.csv", "field 'tier', row 4 (facility_id H3): unknown tier (clinic)",
      "use one of central, provincial, regional, station, branch"]),
    ("facilities-duplicate-id", _facilities([*GOOD_FAC, "H1,Again,regional,105.9,18.3"]),
     ["facilities.csv", "field 'facility_id', rows 2, 4 (facility_id H1, H1): duplicate ids"]),
    ("facilities-empty-id", _facilities([*GOOD_FAC, ",No id,regional,105.9,18.3"]),
     ["facilities.csv", "field 'facility_id', row 4: empty id"]),
    ("facilities-swapped", _facilities([*GOOD_FAC, "H3,Swapped,regional,18.34,105.90"]),
     ["facilities.csv", "geometry, row 4 (facility_id H3): longitude and latitude look swapped",
      "exchange the two columns"]),
    ("facilities-outside", _facilities([*GOOD_FAC, "H3,Hanoi,regional,105.85,21.03"]),
     ["facilities.csv", "geometry, row 4 (facility_id H3): outside Hà Tĩnh"]),
    ("facilities-no-site", _facilities(["H1,Nowhere,regional,,"]),
     ["facilities.csv", "geometry, row 2 (facility_id H1): no site",
      "host_legacy_commune_code"]),
    ("facilities-bad-host", _facilities(["H1,Bad host,regional,99999"],
                                        header="facility_id,name,tier,host_legacy_commune_code"),
     ["facilities.csv", "field 'host_legacy_commune_code', row 2 (facility_id H1): codes "
      "unknown"]),
    ("facilities-beds-thousands", _facilities(["H1,Big,provincial,1.300,105.9,18.34"],
                                              header="facility_id,name,tier,beds,lon,lat"),
     ["facilities.csv", "field 'beds', row 2 (facility_id H1): '1.300'", "thousands separator"]),
    ("facilities-beds-text", _facilities(["H1,Big,provincial,many,105.9,18.34"],
                                         header="facility_id,name,tier,beds,lon,lat"),
     ["facilities.csv", "field 'beds', row 2 (facility_id H1): not a number ('many')"]),
    ("facilities-doctors-negative", _facilities(["H1,Big,provincial,-4,105.9,18.34"],
                                                header="facility_id,name,tier,doctors,lon,lat"),
     ["facilities.csv", "field 'doctors', row 2 (facility_id H1): negative doctors (-4)"]),
    ("facilities-status", _facilities(["H1,Big,provincial,closed,105.9,18.34"],
                                      header="facility_id,name,tier,status,lon,lat"),
     ["facilities.csv", "field 'status', row 2 (facility_id H1): unknown status",
      "active, ended, planned"]),
    ("facilities-lat-text", _facilities(["H1,Big,provincial,105.9,north"]),
     ["facilities.csv", "field 'lat', row 2: not a number ('north')"]),
    ("facilities-decimal-comma", _facilities(['H1,Big,provincial,"105,9","18,34"']),
     ["facilities.csv", "field 'lon', row 2: '105,9' written with a decimal comma", "105.9"]),
    ("facilities-semicolons", _facilities_raw(b"facility_id;name;tier;lon;lat\n"
                                              b"H1;Big;provincial;105,9;18,34\n"),
     ["facilities.csv", "separated by semicolons ';'"]),
    ("facilities-latin1", _facilities_raw("facility_id,name,tier,lon,lat\n"
                                          "H1,Hôpital général,provincial,105.9,18.34\n"
                                          .encode("latin-1")),
     ["facilities.csv", "not UTF-8", "line 2", "Latin-1", "'CSV UTF-8 (Comma delimited)'"]),
    ("facilities-cp1258", _facilities_raw(cp1258("facility_id,name,tier,lon,lat\n"
                                                 "H1,Bệnh viện Đa khoa,provincial,105.9,18.34\n")),
     ["facilities.csv", "not UTF-8", "Windows-1258"]),
    ("facilities-missing-tier", _facilities(["H1,Big,105.9,18.34"],
                                            header="facility_id,name,lon,lat"),
     ["facilities.csv", "field 'tier': missing; the layer has facility_id, name"]),
    ("facilities-blank-lines", _facilities_raw(b"\n\n   \n"),
     ["facilities.csv", "holds only blank lines"]),
    ("facilities-unreadable-link", lambda w: (
        os.symlink(w.d / "nowhere.csv", w.d / "dangling.csv"),
        w.layers.__setitem__("facilities", str(w.d / "dangling.csv"))),
     ["dangling.csv", "file not found"]),
    # the roads layer
    ("roads-points", _roads([shapely.Point(105.9, 18.3), shapely.LineString(
        [(105.8, 18.3), (105.9, 18.3)])]),
     ["roads.gpkg", "geometry, row 1: Point where LineString or MultiLineString is expected"]),
    ("roads-speed-zero", _roads([shapely.LineString([(105.8, 18.3), (105.9, 18.3)])],
                                extra={"speed_kmh": [0]}),
     ["roads.gpkg", "field 'speed_kmh', row 1: speed 0", "leave it empty to use the class "
      "speed"]),
    ("roads-no-crs", _roads([shapely.LineString([(105.8, 18.3), (105.9, 18.3)])], crs=None),
     ["roads.gpkg", "no CRS declared"]),
    ("roads-disconnected", lambda w: _roads(_broken_roads(w))(w),
     ["roads.gpkg", "the roads fall into", "pieces that do not connect",
      "lines must share their end points", "leave layers.roads empty"]),
    ("roads-elsewhere", _roads([shapely.LineString([(106.5 + i * 0.001, 21.0), (106.6, 21.1)])
                                for i in range(5)]),
     ["roads.gpkg", "facilities are more than 2 km from every road",
      "the road layer of the province"]),
    # the referral table
    ("referrals-missing-field", _table("referrals", ["from_id,parent", "TYT-18073,HT-RTS"]),
     ["referrals.csv", "field 'to_id': missing; the layer has from_id, parent"]),
    ("referrals-unknown-id", _table("referrals", ["from_id,to_id", "TYT-18073,HT-XXX"]),
     ["referrals.csv", "referral table: field 'to_id', row 2 (from_id TYT-18073): unknown "
      "facility HT-XXX", "use ids of the facilities layer"]),
    ("referrals-self", _table("referrals", ["from_id,to_id", "TYT-18073,TYT-18073"]),
     ["referrals.csv", "field 'to_id', row 2 (from_id TYT-18073): a facility refers to itself"]),
    ("referrals-two-parents", _table("referrals", ["from_id,to_id", "TYT-18073,HT-RTS",
                                                   "TYT-18073,HT-RCX"]),
     ["referrals.csv", "field 'from_id', rows 2, 3 (from_id TYT-18073, TYT-18073): more than "
      "one referral parent"]),
    ("referrals-empty-id", _table("referrals", ["from_id,to_id", "TYT-18073,"]),
     ["referrals.csv", "row 2 (from_id TYT-18073): empty id"]),
    ("referrals-cycle", _table("referrals", ["from_id,to_id", "HT-RKA,HT-RCX", "HT-RCX,HT-RKA"]),
     ["referrals.csv", "referral cycle: HT-RCX -> HT-RKA -> HT-RCX",
      "fix these rows of the referral table"]),
    ("referrals-header-only", _table("referrals", ["from_id,to_id"]),
     ["referrals.csv", "no rows: the file has only its header"]),
    # satellite links
    ("satellite-unknown-id", _table("satellite_links", ["core_id,satellite_id",
                                                        "BV-CHORAY,HT-RKA"]),
     ["satellite_links.csv", "satellite links: field 'core_id', row 2 (satellite_id HT-RKA): "
      "unknown facility BV-CHORAY", "needs a row there with its lon/lat"]),
    ("satellite-self", _table("satellite_links", ["core_id,satellite_id", "HT-PEH,HT-PEH"]),
     ["satellite_links.csv", "field 'satellite_id', row 2 (core_id HT-PEH): a hospital linked "
      "to itself"]),
    ("satellite-since", _table("satellite_links", ["core_id,satellite_id,since",
                                                   "HT-PEH,HT-RKA,last year"]),
     ["satellite_links.csv", "field 'since', row 2 (satellite_id HT-RKA): not a year or date "
      "('last year')", "2015-06-01"]),
    ("satellite-repeated", _table("satellite_links", ["core_id,satellite_id,specialty",
                                                      "HT-PEH,HT-RKA,eye", "HT-PEH,HT-RKA,eye"]),
     ["satellite_links.csv", "rows 2, 3 (satellite_id HT-RKA, HT-RKA): repeated link"]),
    ("satellite-missing-field", _table("satellite_links", ["core,satellite_id", "HT-PEH,HT-RKA"]),
     ["satellite_links.csv", "field 'core_id': missing; the layer has core, satellite_id"]),
    # the population raster
    ("raster-not-a-raster", _raster(content=b"this is not a GeoTIFF"),
     ["pop.tif", "cannot be read as a raster (GeoTIFF)"]),
    ("raster-outside", _raster(west=100.0, north=22.0),
     ["pop.tif", "no populated pixel inside Hà Tĩnh", "give a population raster of the "
      "province"]),
    ("raster-empty-file", _raster(content=b""), ["pop.tif", "empty file (0 bytes)"]),
    # plans (gis plan evaluate PLAN)
    ("plan-unknown-action", _plan(_set(2, "action", "shut")),
     ["plan.csv", "field 'action', row 4 (facility_id", "unknown action; use one of keep, "
      "branch, close, new"]),
    ("plan-unknown-station", _plan(extra_rows=[{"facility_id": "TYT-99999", "action": "close",
                                                "target_commune_code": ""}]),
     ["plan.csv", "field 'facility_id', row 211 (facility_id TYT-99999): not a station of the "
      "facilities layer"]),
    ("plan-station-without-action", _plan(drop=[5]),
     ["plan.csv", "field 'facility_id': 1 stations have no action", "give each station keep"]),
    ("plan-two-mains", _plan(lambda df: _set(df.index[df["action"] == "close"][0], "action",
                                             "keep")(df)),
     ["plan.csv", "field 'action', rows", "two main stations in commune",
      "keep one and make the others branch"]),
    ("plan-commune-without-main", _plan(lambda df: _set(_first_main(df), "action",
                                                        "close")(df)),
     ["plan.csv", "1 post-2025 communes have no main station: 18073 Thành Sen",
      "give each one station with action keep"]),
    ("plan-new-without-coordinates", _plan(_new_site(lon="", lat="")),
     ["plan.csv", "fields 'lon', 'lat', row 211 (facility_id NEW-1): a new site needs its "
      "coordinates"]),
    ("plan-new-lon-text", _plan(_new_site(lon="east")),
     ["plan.csv", "field 'lon', row 211 (facility_id NEW-1): not a number ('east')"]),
    ("plan-new-lon-decimal-comma", _plan(_new_site(lon="105,9")),
     ["plan.csv", "field 'lon', row 211 (facility_id NEW-1): '105,9' written with a decimal "
      "comma"]),
    ("plan-new-outside", _plan(_new_site(lon="105.85", lat="21.03")),
     ["plan.csv", "geometry, row 211 (facility_id NEW-1): outside Hà Tĩnh"]),
    ("plan-new-swapped", _plan(_new_site(lon="18.34", lat="105.90")),
     ["plan.csv", "row 211 (facility_id NEW-1): longitude and latitude look swapped"]),
    ("plan-new-id-taken", _plan(_new_site(fid="HT-RKA")),
     ["plan.csv", "field 'facility_id', row 211 (facility_id HT-RKA): a new site needs an id "
      "not used by an existing facility"]),
    ("plan-new-role", _plan(_new_site(role="outpost")),
     ["plan.csv", "field 'role', row 211 (facility_id NEW-1): use main or branch"]),
    ("plan-header-only", _plan_file("facility_id,action,target_commune_code\n", "plan.csv"),
     ["plan.csv", "no rows: the file has only its header"]),
    ("plan-missing-field", _plan_file("facility_id,act\nTYT-18073,keep\n", "plan.csv"),
     ["plan.csv", "field 'action': missing", "field 'target_commune_code': missing"]),
    ("plan-semicolons", _plan_file("facility_id;action;target_commune_code\n"
                                   "TYT-18073;keep;18073\n", "plan.csv"),
     ["plan.csv", "separated by semicolons ';'"]),
    ("plan-cp1258", _plan_file(cp1258("facility_id,name,action,target_commune_code\n"
                                      "TYT-18073,Trạm Y tế Nam Hà,keep,18073\n"), "plan.csv"),
     ["plan.csv", "not UTF-8", "Windows-1258"]),
    ("plan-missing-file", lambda w: setattr(w, "argv", ["plan", "evaluate", str(w.d / "no.csv"),
                                                        "--config", "{config}"]),
     ["no.csv", "file not found"]),
    ("plan-folder", lambda w: setattr(w, "argv", ["plan", "evaluate", str(w.d), "--config",
                                                  "{config}"]),
     ["is a folder, not a plan file"]),
    ("plan-toml-single-table", _toml_plan('name = "x"\n[station]\nfacility_id = "TYT-18073"\n'
                                          'action = "keep"\ntarget_commune_code = "18073"\n'),
     ["plan.toml", "[station] is a single table: write [[station]] (double brackets)"]),
    ("plan-toml-syntax", _toml_plan('[[station]]\nfacility_id = TYT-18073\n'),
     ["plan.toml", "not valid TOML", "line 2"]),
    ("plan-toml-binary", _toml_plan(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" * 4),
     ["plan.toml", "binary data, not text"]),
    ("plan-toml-utf16", _plan_file(codecs.BOM_UTF16_LE + '[[station]]\nfacility_id = "x"\n'
                                   .encode("utf-16-le"), "plan.toml"),
     ["plan.toml", "encoded as UTF-16"]),
    ("plan-toml-unknown-top-key", _toml_plan('title = "x"\n'),
     ["plan.toml", "unknown key(s) title: a plan TOML has `name` and [[station]] tables"]),
    ("plan-toml-no-stations", _toml_plan('name = "nothing"\n'),
     ["plan.toml", "no [[station]] tables"]),
    ("plan-toml-station-typo", _toml_plan('[[station]]\nfacility_id = "TYT-18073"\n'
                                          'acton = "keep"\ntarget_commune_code = "18073"\n'),
     ["plan.toml", "[[station]] #1: unknown key(s) acton"]),
    ("plan-toml-name-number", _toml_plan('name = 5\n[[station]]\nfacility_id = "TYT-18073"\n'),
     ["plan.toml", "key 'name': expected a text in quotes, found 5"]),
    ("plan-toml-new-without-lon", _toml_plan_from_base(
        lambda df: _official_toml(df) + "\n" + _toml_station("NEW-1", "new", "18073",
                                                             role="branch", lat=18.3)),
     ["plan.toml", "fields 'lon', 'lat', row [[station]] #210 (facility_id NEW-1): a new site "
      "needs its coordinates"]),
    ("plans-same-name", _two_plans(lambda df: df, second_name="plan.csv"),
     ["plans", "plan name 'plan' is given by 2 files", "give each plan its own name"]),
    ("plans-new-site-two-places", lambda w: (
        _plan(_new_site(lon="105.90", lat="18.34"), name="a.csv")(w),
        _plan(_new_site(lon="105.70", lat="18.30"), name="b.csv")(w),
        setattr(w, "argv", ["plan", "evaluate", str(w.d / "a.csv"), str(w.d / "b.csv"),
                            "--config", "{config}", "--no-optimise"])),
     ["field 'facility_id': new site NEW-1 is at different places", "a.csv", "b.csv",
      "give each new site its own id"]),
]


def _island_roads(w: Work) -> None:
    """Every facility joined to one hub by a fast road, except one station whose road piece
    joins nothing: the roads do not reach a regional hospital from there."""
    fac = pd.read_csv(pd.io.common.StringIO(w.base.facilities_text), dtype=str)
    reg = load_registry("42")
    lg = reg.legacy.set_index("commune_code")
    hosts = set(fac["host_legacy_commune_code"])
    island = next(c for c in reversed(reg.legacy["commune_code"].tolist()) if c not in hosts)
    w.island = island
    hub = (105.9, 18.34)
    lines = []
    for code, r in lg.iterrows():
        far = (r["lon"] + 0.001, r["lat"]) if code == island else hub
        lines.append(shapely.LineString([(r["lon"], r["lat"]), far]))
    _roads(lines, extra={"speed_kmh": [200.0] * len(lines)})(w)


def _broken_roads(w: Work) -> list[shapely.LineString]:
    """Short road stubs at each facility that never meet: a road layer with gaps."""
    fac = pd.read_csv(pd.io.common.StringIO(w.base.facilities_text), dtype=str)
    reg = load_registry("42")
    lg = reg.legacy.set_index("commune_code")
    pts = [(lg.loc[c, "lon"], lg.loc[c, "lat"]) for c in fac["host_legacy_commune_code"]]
    pts += [(r.lon, r.lat) for r in reg.legacy.itertuples()]
    return [shapely.LineString([(x, y), (x + 0.001, y)]) for x, y in pts]


CASES += [
    ("roads-island-station", _island_roads,
     ["referral network", "station TYT-", "no regional hospital in its referral chain (no road "
      "joins it to any regional hospital)", "the roads layer does not join them to any "
      "regional hospital: connect its lines", "or give their parent in the referral table"]),
    ("two-inputs-at-once", _both(_communes(set_pop(ROW_A, "28.729")),
                                 _facilities([*GOOD_FAC, "H3,Clinic,clinic,105.9,18.3"])),
     ["2 inputs have problems (nothing was computed or written)", C, "thousands separator",
      "facilities.csv", "field 'tier', row 4 (facility_id H3): unknown tier (clinic)"]),
    ("three-inputs-at-once", _both(_legacy("commune_code;population\n18073;1\n"),
                                   _facilities([]), _table("referrals", ["from_id", "TYT-18073"])),
     ["3 inputs have problems", "legacy.csv", "separated by semicolons", "facilities.csv",
      "no rows", "referrals.csv", "field 'to_id': missing"]),
]


# config-layer-typo needs the [layers] table: an unknown key there
CASES = [c if c[0] != "config-layer-typo" else (
    "config-layer-typo", _layers_key("facilties", str(HOSPITALS)),
    ["config.toml: unknown key in [layers]: facilties", "allowed:"]) for c in CASES]


@pytest.mark.parametrize(("setup", "phrases"), [pytest.param(s, p, id=i) for i, s, p in CASES])
def test_bad_input_exits_2_with_a_message_and_keeps_the_earlier_output(tmp_path, base, capsys,
                                                                        setup, phrases):
    w = Work(tmp_path, base)
    setup(w)
    out = earlier_output(tmp_path)
    before = snapshot(out)
    result = run_case(w, out, capsys)
    assert result.code == 2, result.err
    assert "Traceback" not in result.err
    assert ": error: " in result.err
    for phrase in phrases:
        assert phrase in result.err, f"{phrase!r} not in:\n{result.err}"
    assert snapshot(out) == before
    leftovers = sorted(p.name for p in out.parent.iterdir() if p.name != "hatinh")
    assert leftovers == [], leftovers
    # checked before any analysis: the access stage never started
    assert "population surface" not in result.err


def test_the_corpus_has_at_least_100_cases():
    assert len(CASES) >= 100
    assert len({c[0] for c in CASES}) == len(CASES)


# --- output folders: checked before any work -------------------------------------------------

def _run_into(out: Path, capsys, *extra: str) -> Outcome:
    capsys.readouterr()
    code = main(["run", "--config", str(ROOT / "config.toml"), "--out", str(out), *extra])
    return Outcome(code, capsys.readouterr().err)


def _refused_before_work(result: Outcome, *phrases: str) -> None:
    assert result.code == 2, result.err
    assert "Traceback" not in result.err
    assert "reading and building layers" not in result.err
    for phrase in phrases:
        assert phrase in result.err, f"{phrase!r} not in:\n{result.err}"


@pytest.mark.parametrize("overwrite", [False, True])
def test_out_naming_a_file_leaves_it_alone(tmp_path, capsys, overwrite):
    f = tmp_path / "notes.txt"
    f.write_text("the user's own notes", encoding="utf-8")
    result = _run_into(f, capsys, *(["--overwrite"] if overwrite else []))
    _refused_before_work(result, f"{f} is a file, not a folder", "the file is left as it is")
    assert f.read_text(encoding="utf-8") == "the user's own notes"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


def test_out_inside_a_file(tmp_path, capsys):
    f = tmp_path / "notes.txt"
    f.write_text("x", encoding="utf-8")
    result = _run_into(f / "sub", capsys)
    _refused_before_work(result, f"cannot create the output folder {f / 'sub'}",
                         f"{f} is a file, not a folder")
    assert f.read_text(encoding="utf-8") == "x"


def test_overwrite_refuses_a_folder_gis_did_not_write(tmp_path, capsys):
    mine = tmp_path / "thesis"
    mine.mkdir()
    (mine / "chapter1.docx").write_bytes(b"precious")
    result = _run_into(mine, capsys, "--overwrite")
    _refused_before_work(result, f"{mine} holds files gis did not write (chapter1.docx",
                         "--overwrite replaces only output folders written by gis")
    assert snapshot(mine) == {"chapter1.docx": hashlib.sha256(b"precious").hexdigest()}


def test_existing_output_without_overwrite(tmp_path, capsys):
    out = earlier_output(tmp_path)
    before = snapshot(out)
    result = _run_into(out, capsys)
    _refused_before_work(result, f"{out} exists and is not empty; pass --overwrite")
    assert snapshot(out) == before


def test_symlink_as_out_is_refused(tmp_path, capsys):
    target = earlier_output(tmp_path)
    link = tmp_path / "link"
    link.symlink_to(target)
    result = _run_into(link, capsys, "--overwrite")
    _refused_before_work(result, f"{link} is a symbolic link", "give the folder itself")
    assert link.is_symlink()


@pytest.fixture()
def read_only(tmp_path):
    """Make a folder read-only for this process: chmod for a normal user; for root (who ignores
    permissions) the immutable attribute. Undone after the test."""
    made: list[Path] = []

    def make(folder: Path) -> None:
        if os.geteuid() == 0:
            proc = os.system(f"chattr +i '{folder}' 2>/dev/null")
            if proc != 0:
                pytest.skip("running as root without chattr: cannot make a folder read-only")
        else:
            folder.chmod(0o555)
        made.append(folder)

    yield make
    for folder in made:
        if os.geteuid() == 0:
            os.system(f"chattr -i '{folder}' 2>/dev/null")
        else:
            folder.chmod(0o755)


def test_read_only_parent_is_refused_before_work(tmp_path, capsys, read_only):
    parent = tmp_path / "shared"
    parent.mkdir()
    read_only(parent)
    result = _run_into(parent / "hatinh", capsys)
    _refused_before_work(result, f"cannot write beside {parent / 'hatinh'}",
                         f"make {parent} writable or choose another --out")
    assert list(parent.iterdir()) == []


def test_read_only_earlier_output_is_not_moved_aside(tmp_path, capsys, read_only):
    out = earlier_output(tmp_path)
    before = snapshot(out)
    read_only(out)
    result = _run_into(out, capsys, "--overwrite")
    _refused_before_work(result, "is not writable", "the earlier outputs in", "could not be "
                         "replaced")
    assert snapshot(out) == before
    assert sorted(p.name for p in out.parent.iterdir()) == ["hatinh"]  # nothing hidden left


def test_a_second_run_into_a_locked_folder_is_refused_at_once(tmp_path, capsys):
    out = tmp_path / "hatinh"
    lock = tmp_path / ".hatinh.lock"
    fd = os.open(lock, os.O_RDWR | os.O_CREAT)
    os.write(fd, json.dumps({"pid": 4242, "started": "2025-07-01T08:00:00+00:00"}).encode())
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        result = _run_into(out, capsys)
    finally:
        os.close(fd)
    _refused_before_work(result, f"another gis run (process 4242, started 2025-07-01T08:00:00"
                                 f"+00:00) is writing {out} right now", "wait for it to finish")
    assert not out.exists()


@pytest.mark.parametrize(("argv", "phrases"), [
    pytest.param(["plan", "official", "--out", "{folder}"],
                 ["cannot write {folder}: it is a folder; give a file name"], id="plan-to-folder"),
    pytest.param(["plan", "official", "--out", "{file}/plan.csv", "--overwrite"],
                 ["cannot write {file}/plan.csv: {file} is a file, not a folder"],
                 id="plan-inside-file"),
    pytest.param(["layers", "build", "--out", "{file}", "--overwrite", "--config",
                  str(ROOT / "config.toml")], [],
                 id="layers-over-a-text-file-with-overwrite-is-allowed"),
    pytest.param(["layers", "build", "--out", "{file}", "--config", str(ROOT / "config.toml")],
                 ["output exists: {file}; pass --overwrite"], id="layers-existing-file"),
])
def test_single_file_outputs_are_checked_before_work(tmp_path, capsys, argv, phrases):
    folder = tmp_path / "a folder"
    folder.mkdir()
    (folder / "keep.txt").write_text("mine", encoding="utf-8")
    file = tmp_path / "notes.gpkg"
    file.write_text("not a geopackage", encoding="utf-8")
    fill = {"{folder}": str(folder), "{file}": str(file)}
    argv = [fill.get(a, a) for a in argv]
    argv = [a.replace("{file}", str(file)) for a in argv]
    capsys.readouterr()
    code = main(argv)
    err = capsys.readouterr().err
    if not phrases:   # --overwrite of a file the user named as the output: replaced, as asked
        assert code == 0, err
        return
    assert code == 2, err
    assert "Traceback" not in err and "reading and building layers" not in err
    for phrase in phrases:
        phrase = phrase.replace("{folder}", str(folder)).replace("{file}", str(file))
        assert phrase in err, f"{phrase!r} not in:\n{err}"
    assert (folder / "keep.txt").read_text(encoding="utf-8") == "mine"
    assert file.read_text(encoding="utf-8") == "not a geopackage"
