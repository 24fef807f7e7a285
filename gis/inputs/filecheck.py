"""Input files checked before they are parsed: present, a file (not a folder), readable, not
empty, and text files decoded as UTF-8 with a diagnosis when they are not.

One mechanism for every input the user names (config, layers, tables, plans): each check
returns a list of problems (a sentence each, saying what was found and how to fix it) and the
caller wraps them in its own error (:class:`gis.errors.ConfigError`, ``LayerError``,
``PlanError``) naming the file.
"""

from __future__ import annotations

import codecs
import json
import logging
import re
from pathlib import Path

log = logging.getLogger(__name__)

#: Folders that GDAL reads as one dataset (Esri File Geodatabase).
FOLDER_FORMATS = (".gdb",)

#: How to save a file as UTF-8, said in every encoding problem: a table (CSV) or other text.
SAVE_AS_UTF8 = {
    "table": ("save it as UTF-8: in Excel, File > Save As > 'CSV UTF-8 (Comma delimited)'; in "
              "LibreOffice, Save As CSV with character set 'Unicode (UTF-8)'"),
    "text": ("save it as UTF-8: in a text editor (Notepad, VS Code, Notepad++), choose the "
             "encoding UTF-8 when saving"),
}

_MAGIC = (
    (b"PK\x03\x04", "a zip archive (an Excel .xlsx or LibreOffice .ods workbook, or zipped "
                    "files), not text; export the sheet as 'CSV UTF-8 (Comma delimited)', or "
                    "unzip it"),
    (b"\xd0\xcf\x11\xe0", "an old Excel .xls workbook, not text; export the sheet as "
                          "'CSV UTF-8 (Comma delimited)'"),
    (b"SQLite format 3\x00", "an SQLite database (a GeoPackage?), not text; name it with the "
                             ".gpkg extension if it is a GeoPackage layer"),
    (b"%PDF", "a PDF document, not a data file"),
    (b"\x1f\x8b", "a gzip archive, not text; unpack it first"),
)

# Letters that only Vietnamese text decoded from Windows-1258 shows (tone marks are combining
# characters in that code page); â, ê, ô are left out: French has them too.
_VIETNAMESE = set("ăđơưĂĐƠƯ\u0300\u0301\u0303\u0309\u0323")


LAYER_SUFFIXES = (".shp", ".gpkg", ".geojson", ".json", ".csv", ".fgb", ".tif", ".tiff", ".toml")


def file_problems(path: Path, *, what: str = "file", allow_folder: bool = False,
                  suffixes: tuple[str, ...] = LAYER_SUFFIXES) -> list[str]:
    """Problems that stop ``path`` from being read at all (empty when it can be read).

    Parameters
    ----------
    path : Path
        The file named by the user.
    what : str
        What the file should be, for the messages ("config file", "layer", "plan").
    allow_folder : bool
        Accept a folder that GDAL reads as one dataset (``.gdb``).
    suffixes : tuple of str
        For a folder given instead of a file: the files inside worth naming.
    """
    path = Path(path)
    for parent in path.parents:
        if parent.is_file():
            return [f"{parent} is a file, so {path.name} cannot be inside it; check the path"]
    if not path.exists():
        return ["file not found: check the path (relative paths in config.toml are resolved "
                "against the folder of config.toml)"]
    if path.is_dir():
        if allow_folder and path.suffix.lower() in FOLDER_FORMATS:
            return []
        inside = sorted(p.name for p in path.iterdir() if p.suffix.lower() in suffixes)
        hint = (f"; it holds {', '.join(inside[:5])}{' …' if len(inside) > 5 else ''}: name "
                f"one of them" if inside else "; name the file itself")
        return [f"is a folder, not a {what}{hint}"]
    if not path.is_file():
        return [f"is not a regular file (a device or a pipe); name a {what} on disk"]
    try:
        head = read_head(path, 1)
    except PermissionError:
        return ["cannot be read: permission denied; make it readable (e.g. chmod u+r) or copy "
                "it somewhere you can read"]
    except OSError as exc:
        return [f"cannot be read: {exc.strerror or exc}"]
    if not head:
        return ["empty file (0 bytes): was it saved or copied completely? Write its content, "
                "or remove it from the configuration"]
    return []


def binary_kind(data: bytes) -> str | None:
    """What a file that is not text looks like (None when it may be text)."""
    for magic, text in _MAGIC:
        if data.startswith(magic):
            return text
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE, codecs.BOM_UTF32_LE,
                        codecs.BOM_UTF32_BE)):
        return None
    sample = data[:4096]
    if b"\x00" in sample:
        # UTF-16 without a BOM: every other byte is NUL in mostly-ASCII text
        if sample[1::2].count(0) > len(sample) // 4 or sample[0::2].count(0) > len(sample) // 4:
            return None
        return "binary data, not text; give a text file (CSV, TOML) saved as UTF-8"
    return None


def encoding_problem(data: bytes, *, table: bool = True) -> str | None:
    """Why ``data`` is not UTF-8 text, and how to fix it (None when it is UTF-8); ``table``:
    the advice for a spreadsheet export (CSV) rather than a text editor (TOML)."""
    save = SAVE_AS_UTF8["table" if table else "text"]
    kind = binary_kind(data)
    if kind:
        return f"{kind}"
    for bom, name in ((codecs.BOM_UTF32_LE, "UTF-32"), (codecs.BOM_UTF32_BE, "UTF-32"),
                      (codecs.BOM_UTF16_LE, "UTF-16 (Excel's 'Unicode Text')"),
                      (codecs.BOM_UTF16_BE, "UTF-16")):
        if data.startswith(bom):
            return f"encoded as {name}, not UTF-8; {save}"
    if b"\x00" in data[:4096]:
        return f"encoded as UTF-16 (without a byte-order mark), not UTF-8; {save}"
    try:
        data.decode("utf-8")
        return None
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        start = data.rfind(b"\n", 0, exc.start) + 1
        end = data.find(b"\n", exc.start)
        raw_line = data[start:end if end >= 0 else len(data)].rstrip(b"\r")
        guess, shown = _guess_single_byte(raw_line, data)
        return (f"not UTF-8 text: byte 0x{data[exc.start]:02X} on line {line} ({shown!r}); it "
                f"looks like {guess}; {save}")


def _guess_single_byte(line: bytes, data: bytes) -> tuple[str, str]:
    try:
        text = data.decode("cp1258")
        shown = line.decode("cp1258")
        if any(c in _VIETNAMESE for c in text):
            return "Windows-1258 (Vietnamese Windows code page)", shown[:60]
    except UnicodeDecodeError:
        pass
    return "Latin-1 / Windows-1252 (Western European)", line.decode("latin-1")[:60]


def read_text(path: Path, *, what: str = "file",
              suffixes: tuple[str, ...] = LAYER_SUFFIXES) -> tuple[str | None, list[str]]:
    """The text of a UTF-8 file (a UTF-8 byte-order mark is dropped), or the problems.

    Returns
    -------
    text, problems : str or None, list of str
        ``text`` is None when ``problems`` is not empty.
    """
    problems = file_problems(path, what=what, suffixes=suffixes)
    if problems:
        return None, problems
    data = Path(path).read_bytes()
    why = encoding_problem(data, table=Path(path).suffix.lower() in (".csv", ".tsv", ".txt"))
    if why:
        return None, [why]
    text = data.decode("utf-8-sig")
    if not text.strip():
        return None, ["holds only blank lines: was it saved or copied completely? Write its "
                      "content, or remove it from the configuration"]
    return text, []


def separator_problem(text: str, *, expected: str = ",") -> str | None:
    """A CSV whose header is split by another separator than ``expected`` (None if fine)."""
    header = next((ln for ln in text.splitlines() if ln.strip()), "")
    unquoted = re.sub(r'"[^"]*"', "", header)
    if expected in unquoted:
        return None
    names = {";": "semicolons ';' (as Excel writes in locales with a decimal comma)",
             "\t": "tabs", "|": "vertical bars '|'"}
    for sep, name in names.items():
        if sep != expected and sep in unquoted:
            want = "commas ','" if expected == "," else "tabs"
            return (f"the fields are separated by {name}, not {want} (header: "
                    f"{header[:80]!r}); save the file as 'CSV UTF-8 (Comma delimited)', or "
                    f"replace the separators by {want} (and decimal commas by points)")
    return None


def json_problem(path: Path) -> str | None:
    """Why a .json/.geojson file is not valid GeoJSON text (None if it parses)."""
    text, problems = read_text(path)
    if problems:
        return problems[0]
    assert text is not None
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        if exc.pos >= len(text.rstrip()) - 1 or "Unterminated" in exc.msg:
            return (f"the JSON ends before it is complete (line {exc.lineno}, column "
                    f"{exc.colno}, at byte {exc.pos} of {len(text)}): the file is truncated; "
                    f"copy or download it again")
        return (f"not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}; fix the "
                f"file there, or export the layer again")
    if not isinstance(doc, dict) or doc.get("type") not in ("FeatureCollection", "Feature"):
        found = doc.get("type") if isinstance(doc, dict) else type(doc).__name__
        return (f"valid JSON but not GeoJSON (top-level type {found!r}, expected "
                f"'FeatureCollection'); export the layer as GeoJSON")
    return None


def shapefile_problem(path: Path) -> str | None:
    """Missing parts of a Shapefile (None when .shx and .dbf are beside the .shp)."""
    if path.suffix.lower() != ".shp":
        return None
    missing = [ext for ext in (".shx", ".dbf")
               if not any(path.with_suffix(e).exists() for e in (ext, ext.upper()))]
    if missing:
        names = ", ".join(path.with_suffix(e).name for e in missing)
        return (f"Shapefile parts missing: {names}; a Shapefile is several files (.shp, .shx, "
                f".dbf, .prj) with the same name: copy them all, or use a GeoPackage")
    return None



def read_head(path: Path, n: int = 4096) -> bytes:
    """The first ``n`` bytes of a file (to tell what it is without reading it all)."""
    with open(path, "rb") as fh:
        return fh.read(n)
