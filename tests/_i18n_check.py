"""Find English left in a Vietnamese page: the words of the page's own text (what it does not
mark ``translate="no"`` as data) that are neither Vietnamese nor on a short allow-list.

Vietnamese words are recognised by their diacritics, or, for the few written without any
("trong", "cho", "theo", "xa"...), by occurring in the catalog's Vietnamese translations. The
allow-list holds proper names, units and the names of tools that stay as they are.
"""

from __future__ import annotations

import html
import json
import re
import unicodedata
from functools import cache

from babel.messages.pofile import read_po

from gis.outputs.i18n import catalog_path

# Proper names, units, file names and codes that stay as they are in a Vietnamese page.
ALLOWED = {
    "gis", "qgis", "geopackage", "openstreetmap", "leaflet", "e2sfca", "p-median", "km",
    "km²", "utm", "epsg", "json", "report.json", "csv", "html", "vietnamadminunits",
    "voronoi", "gauss", "ubnd", "id", "tb", "offline", "admin_center", "--offline",
}

_WORD = re.compile(r"[^\W\d_][\w'’\-.]*", re.UNICODE)


def _plain(word: str) -> bool:
    """True when a word has no letter outside ASCII (so it could be English)."""
    return all(ord(ch) < 128 for ch in word)


@cache
def vietnamese_words() -> frozenset[str]:
    """Every ASCII-only word of the catalog's Vietnamese translations, lower case."""
    with catalog_path("vi").open("rb") as f:
        catalog = read_po(f, locale="vi")
    words: set[str] = set()
    for m in catalog:
        strings = m.string if isinstance(m.string, tuple | list) else [m.string]
        for s in strings:
            for w in _WORD.findall(re.sub(r"\{\w+\}", " ", s or "")):
                words.add(w.lower().strip(".-'’"))
    return frozenset(w for w in words if _plain(w))


def english_words(texts: list[str]) -> list[str]:
    """Words of ``texts`` that look English: ASCII-only, not a Vietnamese word of the catalog,
    not on :data:`ALLOWED`."""
    known = vietnamese_words()
    found = []
    for text in texts:
        text = unicodedata.normalize("NFC", text)
        for w in _WORD.findall(text):
            key = w.lower().strip(".-'’")
            if not key or not _plain(key) or len(key) < 2:
                continue
            if key in known or key in ALLOWED:
                continue
            found.append(w)
    return found


def map_feature_texts(page: str) -> list[str]:
    """The own text of every popup and tooltip of a map page (the ``p`` and ``t`` properties
    of its features, as :mod:`gis.outputs.maps` embeds them), data marked ``translate="no"``
    left out: what a reader sees by clicking or hovering each feature, without a browser."""
    out = []
    for value in re.findall(r'"[pt]":"((?:[^"\\]|\\.)*)"', page):
        text = json.loads(f'"{value}"')
        text = re.sub(r'<span translate="no">.*?</span>', " ", text, flags=re.S)
        out.append(html.unescape(re.sub(r"<[^>]+>", " ", text)))
    return out


#: JavaScript for a driven page (``tests/_browser.drive_page``): ``__ownText(root)`` returns the
#: page's own text under ``root`` as a list: every text node and every ``title``, ``aria-label``,
#: ``placeholder`` and ``alt`` attribute (shown on hover or read aloud) outside what is marked
#: ``translate="no"`` as data, visible or not (a closed ``<details>`` counts).
OWN_TEXT_JS = r"""
function __ownText(root) {
  var parts = [], walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT, null), n;
  while ((n = walker.nextNode())) {
    var p = n.parentElement;
    if (!p || p.closest("script,style,[translate=no]")) { continue; }
    if (n.textContent.trim()) { parts.push(n.textContent.trim()); }
  }
  root.querySelectorAll("[title],[aria-label],[placeholder],[alt]").forEach(function (e) {
    if (e.closest("[translate=no]")) { return; }
    ["title", "aria-label", "placeholder", "alt"].forEach(function (a) {
      var v = e.getAttribute(a);
      if (v && v.trim()) { parts.push(v.trim()); }
    });
  });
  return parts;
}
"""
