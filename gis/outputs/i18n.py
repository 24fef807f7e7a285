"""Translations of every user-facing text (gettext catalogs managed with Babel) and numbers and
dates formatted for the language (Babel's CLDR data: 1.623.061 in Vietnamese, 1,623,061 in
English).

The messages are written in English in the code, marked for extraction (``L._("...")``,
``L.ngettext(...)``, or ``N_("...")`` where a text is defined before a language is known), and
translated in ``gis/outputs/locale/<lang>/LC_MESSAGES/gis.po``. The catalogs are managed with
Babel's ``pybabel`` (``babel.cfg`` at the project root says which files to scan, with
:func:`extract_python_ast`, which also sees calls inside f-strings)::

    pybabel extract -F babel.cfg -k N_ --no-location --sort-output \
        -o gis/outputs/locale/gis.pot .
    pybabel update -i gis/outputs/locale/gis.pot -d gis/outputs/locale -D gis \
        --no-fuzzy-matching --ignore-obsolete
    # translate the new entries of gis/outputs/locale/vi/LC_MESSAGES/gis.po, then
    pybabel compile -d gis/outputs/locale -D gis --statistics   # optional: a .mo to inspect

At run time the ``.po`` is read with :func:`babel.messages.pofile.read_po` and compiled in
memory (:func:`babel.messages.mofile.write_mo`) into a standard :class:`gettext.GNUTranslations`:
the ``.po`` is the single source of truth, there is no binary ``.mo`` to build, ship or let go
stale, and an editable install works without a build step. Fuzzy entries are never used (the
tests refuse them, and an untranslated entry). English is the language of the messages: it
needs no catalog.

Texts that the analyses write into the data (for example a facility's ``location_source``:
"estimate: registry centre of Cẩm Xuyên (18073), seat of the former district (Cẩm Xuyên)") are
translated by
:meth:`Lang.text`: an exact catalog entry, else one of the templates of :data:`DATA_TEMPLATES`
with its fields filled in (each field translated in turn).
"""

from __future__ import annotations

import gettext
import io
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import cache
from html import escape as html_escape
from importlib import resources
from typing import Any

from babel.dates import format_date
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal, format_percent, get_decimal_symbol, get_group_symbol

from gis.errors import OutputError

__all__ = ["DATA_TEMPLATES", "DATA_WORDS", "DEFAULT_LANGUAGE", "LANGUAGES", "Lang", "N_",
           "catalog_path", "extract_python_ast", "get_lang"]

LANGUAGES = ("vi", "en")
DEFAULT_LANGUAGE = "vi"
DOMAIN = "gis"


def N_(message: str) -> str:
    """Mark a text for extraction where it is defined; translate it where it is shown."""
    return message


#: Templates of texts that the analyses and readers write into layers and the summary; the
#: fields in braces are matched by :meth:`Lang.text` and translated in turn. Each template is a
#: catalog entry (``tests/test_i18n.py`` checks that its fixed parts still occur in the code
#: that writes it, so a reworded text cannot silently stop being translated). They are tried
#: in this order and the first that matches is used, so a template that another one's field
#: may hold whole comes after it.
DATA_TEMPLATES: tuple[str, ...] = (
    # gis/inputs/readers.py and gis/pipeline.py: where a value comes from
    N_("layer: {file}, field {field}"),
    N_("table: {file}, field {field}"),
    N_("layer: {file}"),
    N_("estimate: registry centre of the host {what} commune"),
    N_("vietnamadminunits (communes before and after 1 July 2025, old->new mapping)"),
    # gis/inputs/layers.py: the estimates
    N_("estimate: registry centre of the pre-2025 commune (site not published)"),
    N_("one commune health station per pre-2025 commune (registry: vietnamadminunits)"),
    N_("estimate: province total split by commune type and area (weights area^-0.301 x type; "
       "see gis/inputs/layers.py)"),
    N_("estimate: Voronoi cell of the registry centre, clipped to the union of the registry's "
       "commune bounding boxes"),
    N_("commune polygons are estimates (Voronoi cells of registry centres)"),
    N_("population of {n} post-2025 communes is an estimate (province total {total} split by "
       "type and area)"),
    N_("estimate: the post-2025 polygon split among its pre-2025 communes (Voronoi of their "
       "station sites)"),
    N_("estimate: Voronoi cell of the registry centre inside an estimated post-2025 polygon"),
    N_("pre-2025 commune polygons are estimates (post-2025 polygons split by Voronoi of the "
       "station sites)"),
    N_("{n} pre-2025 commune has no population in {what} (unknown, not estimated)"),
    N_("{n} pre-2025 communes have no population in {what} (unknown, not estimated)"),
    # gis/inputs/layers.py: station sites kept inside their commune
    N_("estimate: registry centre of the pre-2025 commune, moved inside its post-2025 commune"),
    N_("estimate: registry centre of the pre-2025 commune, moved inside its post-2025 commune; "
       "the centre lay {dist} outside {name}: moved {moved} to 50 m inside the border"),
    N_("estimate: registry centre of the pre-2025 commune, re-sited inside its post-2025 "
       "commune"),
    N_("estimate: registry centre of the pre-2025 commune, re-sited inside its post-2025 "
       "commune; the centre lies {dist} outside {name} (more than {limit}: not a usable site): "
       "placed in the largest part of the commune away from its other stations, {moved} from "
       "the centre"),
    N_("moved with the station of that commune: {dist}"),
    N_("station sites: {n} registry centres outside their post-2025 commune moved inside (up "
       "to {dist}), {k} more than {limit} outside re-sited inside it"),
    N_("estimate: registry centre of the post-2025 commune, which no former station belongs to "
       "(site not published)"),
    N_("moved inside it: {dist}"),
    N_("re-sited inside it: {dist}"),
    N_("estimate: a station for a post-2025 commune that no former station belongs to"),
    N_("stations of post-2025 communes that no former station belongs to, estimated at the "
       "commune's registry centre: {code}"),
    # gis/model/demand.py: how the demand units' people were placed
    N_("modelled: the commune's population split by area"),
    N_("modelled: the commune's population split by {what} (dasymetric)"),
    # gis/pipeline.py and gis/inputs/basedata.py: the base data
    N_("2025 population (national reorganisation portal sapnhap.bando.com.vn; base data)"),
    N_("2019 census (General Statistics Office; base data)"),
    N_("base data: commune polygons (gis.vn via vietnam-3d-map)"),
    N_("WorldPop 2020 1 km (base data)"),
    N_("population inside each commune placed by WorldPop 2020 1 km (modelled: dasymetric, "
       "pixels split by area; commune totals exact)"),
    N_("population inside each commune placed by the raster {file} (modelled: dasymetric; "
       "commune totals exact)"),
    N_("modelled: dasymetric by {what} inside each commune (commune totals exact)"),
    N_("modelled: by area inside each commune (commune totals exact)"),
    N_("mixed: {what} | {source}"),
    N_("hospital sites of {file}: {n} of {total} from OpenStreetMap, {k} placed by estimate"),
    N_("{file} holds no facility of {name}: hospitals from the base data (OpenStreetMap and the "
       "former district seats)"),
    N_("hospital register built from the base data: OpenStreetMap hospitals (tier read from the "
       "name): {n}; medical centres of former districts placed by estimate: {k}; {source}"),
    N_("hospital register of {name} built from the base data: OpenStreetMap hospitals (tier "
       "read from the name): {n}; medical centres of former districts without one, placed by "
       "estimate at the district seat: {k}"),
    # gis/inputs/hospitals.py: hospital sites and the register built from OpenStreetMap
    N_("estimate: no OpenStreetMap site ({what})"),
    N_("no OSM hospital of this kind and place"),
    N_("nearest matching OSM hospital {name} is {dist} km from the host site (limit {limit} km)"),
    N_("ambiguous: equally good OSM hospitals {name}"),
    N_("its best OSM hospital {name} matches {code} better"),
    N_("ambiguous: OSM hospital {name} matches {code} equally well"),
    N_("estimate: registry centre of {name} ({code}), seat of the former district ({what})"),
    N_("island district without communes: the district itself"),
    N_("the thị trấn named like the district"),
    N_("the first-coded thị trấn of the district"),
    N_("the first-coded phường of the district"),
    N_("the commune nearest the mean of the district's commune centres"),
    N_("estimate: one medical centre per former district; no regional OSM hospital found in it"),
    N_("{source}; tier from the name"),
    N_("pre-2025 commune populations are estimates"),
    N_("estimate: the post-2025 commune's population split by type and area among its "
       "pre-2025 communes"),
    # gis/analyses/access.py
    N_("{what} unknown for all {n} facilities"),
    N_("{what} known for all {n} facilities"),
    N_("{what} known for {k} of {n} facilities: a lower bound"),
    N_("no facilities for {what}"),
    N_("{what} per 10,000 below the target of {target} (E2SFCA)"),
    # gis/analyses/plans.py: the rule of the main stations
    N_("Main station per post-2025 commune: the only former station if there is one; else the "
       "one of the pre-2025 commune named as the seat of the commune government (field "
       "admin_center); else, when the seat is a former district or town government, the "
       "station of the former district seat (the thị trấn); else the one nearest to the "
       "registry centre of the commune."),
    N_("the former station at the seat of the commune government"),
    N_("the former station of the former district seat, a thị trấn"),
    N_("the only former station of the commune"),
    N_("the former station nearest to the registry centre of the new commune"),
    # gis/analyses/network: the referral rule, and why the network was skipped
    N_("branch point -> main station of its commune; station -> nearest regional hospital "
       "within the cut-off; regional -> provincial general hospital; provincial -> its central "
       "satellite core, else the nearest central hospital (when any); a referral table "
       "overrides the rule"),
    N_("branch point -> main station of its commune; station -> nearest regional hospital "
       "within the cut-off (beyond it when none is within); regional -> provincial general "
       "hospital; provincial -> its central satellite core, else the nearest central hospital "
       "(when any); a referral table overrides the rule"),
    N_("no active regional hospital in the facilities layer: give the province's hospitals in "
       "layers.facilities (tier regional, provincial, central)"),
    # gis/pipeline.py: stages skipped
    N_("population unknown: give a communes layer with population or "
       "province.population_total"),
    N_("needs the access analyses, skipped: population unknown"),
    # progress (gis/pipeline.py, gis/analyses/plans.py)
    N_("reading and building layers"),
    N_("population surface, travel costs and access metrics"),
    N_("population surface and travel costs"),
    N_("consolidation scenarios and location models"),
    N_("referral and satellite-hospital network"),
    N_("writing maps, GeoPackage, QGIS project and report"),
    N_("plan editor data (each cell's nearest stations, the official plans)"),
    N_("solving {model}"),
    N_("best main station per commune (exact enumeration)"),
    N_("fewest branch points keeping today's {t}-min access (set cover)"),
    N_("best {n} sites ignoring commune borders (p-median)"),
    N_("coverage curve: people within {t} min for {k} numbers of branch points (maximal "
       "covering)"),
    N_("evaluating scenario {i} of {n}: {name}"),
    # gis/model/travel.py, gis/analyses/access.py and gis/pipeline.py: the travel model
    N_("straight line x detour factor / speed"),
    N_("straight line x {factor} at {speed} km/h ({mode}): an estimate"),
    N_("straight line x {factor} at {speed} km/h: an estimate"),
    N_("road network ({mode}; off-road legs at {speed} km/h, up to {snap} m)"),
    N_("friction surface ({cell} m pixels, {mode} on roads, off-road {speed} km/h)"),
    N_("more than {snap} m from a road open to {mode}"),
    N_("outside the friction grid or on an impassable pixel"),
    N_("Travel times (estimates): {label}"),
    N_("Travel times (computed): {label}"),
    N_("capacity-limited coverage and scaling up"),
    # gis/analyses/capacity/stage.py: a facility's capacity, from its figure (an estimate
    # first) and the norm; before the staffing texts, which its last field may hold
    N_("estimate: {figure} {what} x {norm} people per {unit} ({source}); {basis}: "
       "{figure_source}"),
    N_("{figure} {what} x {norm} people per {unit} ({source}); {basis}: {figure_source}"),
    N_("{norm} people per facility ({source})"),
    # gis/inputs/staffing.py: province totals spread over the facilities (most specific first)
    N_("estimate: {setting} = {total} minus {given} given, spread over {n} {tier} ({how})"),
    N_("estimate: {setting} = {total}, spread over {n} {tier} ({how})"),
    N_("{how}, at most {cap} per post-2025 commune"),
    N_("in proportion to the population of each one's pre-2025 commune"),
    N_("in proportion to the population of the communes nearest each (straight line)"),
    N_("equally"),
    N_("the {n} active {tier} give {given} {what}, {rest} less than the total, and none is "
       "unknown: nothing spread"),
    N_("no population known for these facilities: spread equally"),
    N_("facilities layer"),
    # gis/analyses/access.py: indicators built on estimated figures, per commune health unit
    N_("{n} of them estimated ({source})"),
    N_("the stations of each of the {n} post-2025 communes counted together (one commune "
       "health station per commune after the 2025 reform)"),
    # gis/analyses/capacity/stage.py: norms, capacities, skipped tiers, the method
    N_("config capacity.{key}"),
    N_("derived: {population} people / ({k} doctors x {n} post-2025 communes), the people "
       "one station doctor serves when every commune's station has the target staff"),
    N_("derived: 10,000 / {target} {what} per 10,000 people (the target)"),
    N_("left out: {what} unknown"),
    # (the scaling up skipped: its reason may be the tier's, which starts with a field)
    N_("needs the {tier} capacity result: {reason}"),
    N_("{what} unknown for all {n} active {tier}: give {basis} in the facilities layer or the "
       "staffing table (layers.staffing), or a province total [capacity.totals] {key}"),
    N_("no active {tier}"),
    N_("tier {tier} not analysed"),
    N_("Each facility serves at most its capacity in people within the tier's time limit "
       "(inclusive). AccessMod's greedy takes the facilities one at a time in the stated order, "
       "each catchment growing by travel time over the people earlier ones left; the optimum "
       "assigns people to facilities to serve the most people, then to travel the fewest "
       "person-minutes, whatever the order (HiGHS, exact). Per cell: served + not served for "
       "lack of capacity + beyond the time limit = its population, exactly."),
    # gis/pipeline.py: the class of new stations when none is configured
    N_("commune health station ({n} doctors)"),
)

#: Words that fill the templates' word fields, and single words the data hold.
DATA_WORDS: tuple[str, ...] = (
    N_("post-2025"), N_("pre-2025"), N_("doctors"), N_("beds"), N_("station doctors"),
    N_("unknown"), N_("optimal"), N_("time_limit"), N_("gaussian"), N_("step"),
    N_("people behind"), N_("nurses"), N_("doctor"), N_("bed"), N_("facility"),
    N_("station"), N_("regional"), N_("provincial"), N_("central"),
    N_("stations"), N_("regional hospitals"), N_("provincial hospitals"),
    N_("central hospitals"), N_("branch points"), N_("motorbike"), N_("car"), N_("walking"),
)

# Fields of the templates that are themselves texts to translate (the others are data).
_WORD_FIELDS = {"what", "tier", "unit", "basis", "how", "source", "figure_source", "reason",
                "mode", "label"}
# A number as the analyses write it into a text (1,623,061 or 5,880.7 or 0.5): a data field
# holding one is written with the language's separators. Plain integers (codes such as 18073)
# stay as they are.
_NUMBER = re.compile(r"-?(?:\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+\.\d+)")
# Fields of the templates that hold a plain number (written as Python's ``:g`` writes it, so
# 2000 too), given back with the language's separators and as many decimals.
_NUMBER_FIELDS = {"speed", "snap", "cell", "factor"}


def catalog_path(lang: str) -> Any:
    """The ``.po`` catalog of ``lang`` (a :mod:`importlib.resources` traversable)."""
    return resources.files("gis.outputs") / "locale" / lang / "LC_MESSAGES" / f"{DOMAIN}.po"


def _check(lang: str) -> str:
    code = (lang or "").strip().lower()
    if code not in LANGUAGES:
        msg = f"language {lang!r} is not available; use one of {', '.join(LANGUAGES)}"
        raise OutputError(msg)
    return code


def _translations(lang: str) -> tuple[gettext.NullTranslations, frozenset[str]]:
    """The language's translations and the messages its catalog translates."""
    if lang == "en":
        return gettext.NullTranslations(), frozenset()
    with catalog_path(lang).open("rb") as f:
        catalog = read_po(f, locale=lang, domain=DOMAIN)
    buf = io.BytesIO()
    write_mo(buf, catalog, use_fuzzy=False)
    buf.seek(0)
    known = frozenset(m.id for m in catalog if m.id and isinstance(m.id, str) and m.string
                      and not m.fuzzy)
    return gettext.GNUTranslations(buf), known


def _escape(text: str) -> str:
    return html_escape(text, quote=True)


def _data_html(text: str) -> str:
    return f'<span translate="no">{html_escape(text, quote=True)}</span>'


def _fill(template: str, fields: dict[str, str], fixed) -> str:
    """``template.format(**fields)`` with the fixed parts passed through ``fixed`` (escaped
    in HTML) and the fields inserted as they are."""
    parts = re.split(r"\{(\w+)\}", template)
    return "".join(fixed(p) if i % 2 == 0 else fields.get(p, "")
                   for i, p in enumerate(parts))


# Fields of the templates that hold a count: they match a number only, so that a template
# starting with one ("{n} of them estimated ({source})") cannot take in the words before it.
_COUNT_FIELDS = {"n", "k", "i"}


def _template_regex(template: str) -> re.Pattern[str]:
    parts = re.split(r"\{(\w+)\}", template)
    out = []
    for i, p in enumerate(parts):
        if i % 2 == 0:
            out.append(re.escape(p))
        else:
            out.append(f"(?P<{p}>-?\\d[\\d,.]*)" if p in _COUNT_FIELDS else f"(?P<{p}>.+?)")
    return re.compile("^" + "".join(out) + "$", re.S)


def _balanced(text: str) -> bool:
    """True when the brackets of ``text`` close in order (a template's field never holds half
    of a bracketed part: "a (b); c (d)" is not one field "b); c (d")."""
    depth = 0
    for ch in text:
        depth += {"(": 1, ")": -1}.get(ch, 0)
        if depth < 0:
            return False
    return depth == 0


def _split_list(text: str) -> list[str]:
    """``text`` cut at each "; " outside brackets (a list "a; b (c; d)" -> "a", "b (c; d)")."""
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        depth += {"(": 1, ")": -1}.get(ch, 0)
        if depth == 0 and text.startswith("; ", i):
            parts.append(text[start:i])
            start = i + 2
    parts.append(text[start:])
    return parts


_TEMPLATES = [(t, _template_regex(t)) for t in DATA_TEMPLATES if "{" in t]


@dataclass(frozen=True)
class Lang:
    """One language: its translations and its number and date formats.

    Use :func:`get_lang` (cached) rather than building one.
    """

    code: str
    translations: gettext.NullTranslations = field(repr=False)
    known: frozenset[str] = field(default=frozenset(), repr=False)

    # --- messages ---------------------------------------------------------------------------

    def _(self, message: str, **fields: Any) -> str:
        """The translation of ``message``, with ``{fields}`` filled in."""
        text = self.translations.gettext(message)
        return text.format(**fields) if fields else text

    def ngettext(self, singular: str, plural: str, n: float, **fields: Any) -> str:
        """The singular or plural translation for ``n``, fields filled in (``n`` among them)."""
        text = self.translations.ngettext(singular, plural, int(n))
        return text.format(n=self.num(n), **fields)

    def text(self, value: object, *, html: bool = False) -> str:
        """A text written by the analyses into the data, translated when the catalog knows it
        (exactly, or as one of :data:`DATA_TEMPLATES` with its fields filled in); other text
        is data (a name, a file, a citation) and is returned as it is.

        A field in braces matches any text, except the counts ``{n}``, ``{k}``, ``{i}`` (a
        number only) and a field that would hold half of a bracketed part; a text that no
        template matches whole and that is a list ("a; b (c; d)") is translated item by item.
        Numbers in English form inside a data field (1,623,061) take the language's
        separators (:meth:`_number`).

        With ``html=True`` the result is escaped HTML in which every piece of data (the whole
        text when the catalog does not know it, else the template's data fields) is wrapped in
        ``<span translate="no">``: the page says which text is a proper name or a citation,
        and the tests find any other English left in a Vietnamese page.
        """
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return self._("unknown")
        s = str(value)
        data = _data_html if html else str
        fixed = _escape if html else str
        if not s:
            return ""
        if s in self.known:
            return fixed(self.translations.gettext(s))
        for template, rx in _TEMPLATES:
            m = rx.match(s)
            if m and template in self.known and all(_balanced(v) for v in m.groups()):
                fields = {k: (self.text(v, html=html) if k in _WORD_FIELDS else
                              fixed(self._number_text(v)) if k in _NUMBER_FIELDS else
                              data(self._number(v)))
                          for k, v in m.groupdict().items()}
                return _fill(self.translations.gettext(template), fields, fixed)
        parts = _split_list(s)  # lists written as "a; b; c"
        if len(parts) > 1:
            return fixed("; ").join(self.text(x, html=html) for x in parts)
        return data(s)

    def _number_text(self, s: str) -> str:
        """A number written in the data (``4.5``, ``2000``) with the language's separators
        and the same decimals; other text as it is."""
        if not re.fullmatch(r"-?\d+(\.\d+)?", s):
            return s
        return self.num(float(s), len(s.partition(".")[2]))

    def _number(self, value: str) -> str:
        """A number written in English form inside a data text (``1,623,061``, ``5,880.7``),
        with this language's separators; any other value as it is."""
        if not _NUMBER.fullmatch(value):
            return value
        digits = len(value.split(".")[1]) if "." in value else 0
        return self.num(float(value.replace(",", "")), digits)

    # --- numbers and dates ------------------------------------------------------------------

    def num(self, value: object, digits: int = 0) -> str:
        """A number with the language's separators (``digits`` decimals); "unknown" if
        missing."""
        if value is None:
            return self._("unknown")
        try:
            v = float(value)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            return str(value)
        if math.isnan(v):
            return self._("unknown")
        if math.isinf(v):
            return self._("not reached")
        if digits == 0:
            v = round(v)
            if v == 0:
                v = 0  # no "-0"
        pattern = "#,##0" + ("." + "0" * digits if digits > 0 else "")
        return format_decimal(v, format=pattern, locale=self.code)

    def number_symbols(self) -> dict[str, str]:
        """The decimal and group separators that :meth:`num` uses (``{"decimal": ",", "group":
        "."}`` in Vietnamese), for a page that formats numbers in the browser."""
        return {"decimal": get_decimal_symbol(self.code), "group": get_group_symbol(self.code)}

    def people(self, value: object) -> str:
        """Whole people: a count of persons rounded to the unit."""
        return self.num(value, 0)

    def pct(self, share: object, digits: int = 1) -> str:
        """A share (0..1) as a percentage, e.g. ``99,6%`` in Vietnamese."""
        if share is None or (isinstance(share, float) and math.isnan(share)):
            return self._("unknown")
        pattern = "#,##0" + ("." + "0" * digits if digits > 0 else "") + "%"
        return format_percent(float(share), format=pattern, locale=self.code)

    def minutes(self, value: object, digits: int = 1) -> str:
        """Minutes with their unit (``5,9 phút``)."""
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return self._("unknown")
        return self._("{value} min", value=self.num(value, digits))

    def date(self, value: date | datetime | str) -> str:
        """A date in the language's long form (``1 tháng 7, 2025``)."""
        if isinstance(value, str):
            value = datetime.fromisoformat(value)
        if isinstance(value, datetime):
            value = value.date()
        return format_date(value, format="long", locale=self.code)

    def join(self, items: Iterable[str]) -> str:
        """Items joined as a list ("a, b and c")."""
        items = [str(x) for x in items]
        if len(items) <= 1:
            return "".join(items)
        return self._("{items} and {last}", items=", ".join(items[:-1]), last=items[-1])


def extract_python_ast(fileobj, keywords, comment_tags, options):
    """Babel extraction method that reads the syntax tree (``babel.cfg``:
    ``[gis.outputs.i18n.extract_python_ast: gis/**.py]``).

    Babel's own ``python`` method works on tokens and, before Python 3.12, cannot see a call
    inside an f-string (``f"<h2>{L._('Layers')}</h2>"``); this one finds every call of a
    keyword (``_``, ``gettext``, ``ngettext``, ``N_``, as ``L._(...)`` or plain) whose text
    arguments are literal strings, wherever it is.

    Yields
    ------
    tuple
        ``(lineno, funcname, message or (singular, plural), comments)`` as Babel expects.
    """
    import ast

    from babel.messages.extract import DEFAULT_KEYWORDS

    specs = {**DEFAULT_KEYWORDS, "N_": None}
    tree = ast.parse(fileobj.read())
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        f = node.func
        name = f.attr if isinstance(f, ast.Attribute) else getattr(f, "id", None)
        if name not in keywords:
            continue
        spec = specs.get(name)
        if isinstance(spec, tuple) and any(isinstance(i, tuple) for i in spec):
            continue  # message contexts (pgettext): not used here
        positions = [0] if spec is None else [i - 1 for i in spec]
        args = []
        for pos in positions:
            a = node.args[pos] if pos < len(node.args) else None
            if not (isinstance(a, ast.Constant) and isinstance(a.value, str)):
                args = []
                break
            args.append(a.value)
        if args:
            found.append((node.lineno, name, args[0] if len(args) == 1 else tuple(args), []))
    yield from sorted(found, key=lambda x: x[0])


@cache
def get_lang(lang: str = "en") -> Lang:
    """The :class:`Lang` of ``lang`` ("vi" or "en"); the catalog is read once per process.

    Raises
    ------
    OutputError
        An unknown language.
    """
    code = _check(lang)
    translations, known = _translations(code)
    return Lang(code=code, translations=translations, known=known)
