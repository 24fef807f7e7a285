"""Translations: the Vietnamese catalog is complete and up to date with the code, numbers and
dates follow the language (Babel's CLDR data), and texts the analyses write into the data are
translated by the templates, which still match the code that writes them."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po

from gis.errors import OutputError
from gis.outputs.i18n import DATA_TEMPLATES, DATA_WORDS, catalog_path, get_lang

ROOT = Path(__file__).resolve().parents[1]
FIELDS = re.compile(r"\{(\w+)\}")


def _catalog():
    with catalog_path("vi").open("rb") as f:
        return read_po(f, locale="vi")


def test_every_message_has_a_vietnamese_translation_and_none_is_fuzzy():
    catalog = _catalog()
    assert catalog.num_plurals == 1  # Vietnamese has one form
    untranslated, fuzzy, fields = [], [], []
    for m in catalog:
        if not m.id:
            continue
        ids = list(m.id) if isinstance(m.id, tuple | list) else [m.id]
        strings = list(m.string) if isinstance(m.string, tuple | list) else [m.string]
        if not all(s and s.strip() for s in strings):
            untranslated.append(ids[0])
        if m.fuzzy:
            fuzzy.append(ids[0])
        for s in strings:  # the same placeholders, or .format() would fail or lose a figure
            if set(FIELDS.findall(ids[0])) != set(FIELDS.findall(s or "")):
                fields.append(ids[0])
    assert untranslated == [] and fuzzy == [] and fields == []
    assert not catalog.fuzzy  # the catalog's header is not fuzzy either


def test_catalog_is_up_to_date_with_the_code():
    """Extracting with the project's babel.cfg (as `pybabel extract` does) finds exactly the
    catalog's messages: none missing (an English text left in the code), none obsolete."""
    with open(ROOT / "babel.cfg", encoding="utf-8") as f:
        method_map, options_map = parse_mapping_cfg(f)
    keywords = {"_": None, "gettext": None, "ngettext": (1, 2), "N_": None}
    found = set()
    for _, _, message, _, _ in extract_from_dir(str(ROOT), method_map, options_map,
                                                keywords=keywords):
        found.add(message if isinstance(message, str) else message[0])
    in_catalog = {m.id if isinstance(m.id, str) else m.id[0] for m in _catalog() if m.id}
    assert sorted(found - in_catalog) == [], "run pybabel extract/update (gis/outputs/i18n.py)"
    assert sorted(in_catalog - found) == []
    assert len(found) > 400


def test_extraction_sees_calls_inside_f_strings(tmp_path):
    from gis.outputs.i18n import extract_python_ast

    src = tmp_path / "x.py"
    src.write_text('x = f"<h2>{L._(\'Layers\')}</h2>"\ny = L.ngettext("{n} a", "{n} bs", 2)\n'
                   'z = N_("marked")\nw = L._(name)\n', encoding="utf-8")
    with open(src, "rb") as f:
        got = list(extract_python_ast(f, ["_", "ngettext", "N_"], [], {}))
    assert [m[2] for m in got] == ["Layers", ("{n} a", "{n} bs"), "marked"]


def test_numbers_dates_and_plurals_follow_the_language():
    vi, en = get_lang("vi"), get_lang("en")
    assert vi.num(1_623_061) == "1.623.061" and en.num(1_623_061) == "1,623,061"
    assert vi.people(7_216.99) == "7.217" and en.people(7_216.49) == "7,216"
    assert vi.num(5.874, 1) == "5,9" and en.num(5.874, 1) == "5.9"
    assert vi.pct(0.99637) == "99,6%" and en.pct(0.99637) == "99.6%"
    assert vi.minutes(57.01) == "57,0 phút" and en.minutes(57.01) == "57.0 min"
    assert vi.date(date(2025, 7, 1)) == "1 tháng 7, 2025"
    assert en.date("2025-07-01T00:00:00+00:00") == "July 1, 2025"
    assert vi.ngettext("{n} station", "{n} stations", 209) == "209 trạm"
    assert en.ngettext("{n} station", "{n} stations", 1) == "1 station"
    assert en.ngettext("{n} station", "{n} stations", 1_209) == "1,209 stations"
    assert vi.num(None) == "chưa rõ" and en.num(float("nan")) == "unknown"
    assert vi.join(["a", "b", "c"]) == "a, b và c"
    with pytest.raises(OutputError, match="language 'fr' is not available; use one of vi, en"):
        get_lang("fr")


def test_data_texts_are_translated_with_their_data_kept_and_marked():
    vi = get_lang("vi")
    src = "estimate: registry centre of the host pre-2025 commune; Nam Hà (18073)"
    assert vi.text(src) == "ước tính: tâm xã trước 2025 sở tại theo danh mục; Nam Hà (18073)"
    assert vi.text(src, html=True) == ('ước tính: tâm xã trước 2025 sở tại theo danh mục; '
                                       '<span translate="no">Nam Hà (18073)</span>')
    moved = ("estimate: registry centre of the pre-2025 commune, moved inside its post-2025 "
             "commune; the centre lay 85 m outside Lộc Hà (18568): moved 135 m to 50 m inside "
             "the border")
    assert vi.text(moved, html=True) == (
        'ước tính: tâm xã trước 2025 theo danh mục, dời vào trong xã sau 2025 của trạm; tâm nằm '
        'ngoài <span translate="no">Lộc Hà (18568)</span> <span translate="no">85 m</span>: '
        'dời <span translate="no">135 m</span> vào trong, cách ranh giới 50 m')
    assert vi.text("beds known for 1 of 19 facilities: a lower bound") == \
        "có số liệu giường bệnh của 1 trên 19 cơ sở: giá trị là cận dưới"
    # unknown text is data: returned as it is, marked in HTML
    assert vi.text("Bệnh viện <b>X</b>", html=True) == \
        '<span translate="no">Bệnh viện &lt;b&gt;X&lt;/b&gt;</span>'
    assert get_lang("en").text(src) == src


def _fixed_parts(template: str) -> list[str]:
    return [p for p in FIELDS.split(template)[::2] if len(p.strip()) >= 4]


def test_data_templates_still_match_the_code_that_writes_them():
    """Each template's fixed words occur in the package outside the translations module:
    a reworded text in an analysis fails here instead of silently staying English."""
    code = "\n".join(p.read_text(encoding="utf-8") for p in (ROOT / "gis").rglob("*.py")
                     if p.name != "i18n.py")
    code = re.sub(r'"\s*\n\s*(?:f|rf)?"', "", code)  # join implicitly concatenated literals
    missing = [(t, part) for t in DATA_TEMPLATES for part in _fixed_parts(t)
               if part.strip() not in code]
    assert missing == []
    catalog = {m.id for m in _catalog() if isinstance(m.id, str) and m.string}
    assert set(DATA_TEMPLATES) | set(DATA_WORDS) <= catalog


def test_numbers_inside_data_texts_follow_the_language():
    """A number the analyses wrote in English form (1,623,061; 5,880.7) is written with the
    language's separators; a plain integer (a commune code such as 18073) and other values
    stay as they are."""
    vi, en = get_lang("vi"), get_lang("en")
    assert vi._number("1,623,061") == "1.623.061"
    assert vi._number("5,880.7") == "5.880,7" and vi._number("0.39503") == "0,39503"
    assert vi._number("-2,500") == "-2.500"
    assert vi._number("18073") == "18073" and vi._number("168") == "168"
    for other in ("HT-PEH", "1,2,3", "12.", "capacity.totals.station_doctors", "4 x 69"):
        assert vi._number(other) == other
    assert en._number("1,623,061") == "1,623,061" and en._number("5,880.7") == "5,880.7"
    # in a whole text: the figures of the fields take the separators, the code stays
    src = ("derived: 1,623,061 people / (4 doctors x 69 post-2025 communes), the people one "
           "station doctor serves when every commune's station has the target staff")
    assert vi.text(src) == ("suy ra: 1.623.061 người / (4 bác sĩ x 69 xã sau 2025), số dân "
                            "một bác sĩ trạm y tế xã phục vụ khi trạm của mọi xã đủ nhân lực "
                            "theo chỉ tiêu")
    assert vi.text("estimate: registry centre of Cẩm Xuyên (18073), seat of the former "
                   "district (Cẩm Xuyên)") == \
        "ước tính: tâm của Cẩm Xuyên (18073) theo danh mục, nơi đặt trụ sở huyện cũ (Cẩm Xuyên)"


def test_staffing_and_capacity_texts_are_translated_whole():
    """The texts of the staffing spread, the indicators' notes and the capacities: templates
    inside templates, counts that match numbers only, lists cut at "; " outside brackets."""
    vi = get_lang("vi")
    spread = ("estimate: capacity.totals.station_doctors = 168, spread over 209 stations (in "
              "proportion to the population of each one's pre-2025 commune, at most 4 per "
              "post-2025 commune)")
    spread_vi = ("ước tính: capacity.totals.station_doctors = 168, phân bổ cho 209 trạm y tế xã "
                 "(tỷ lệ với dân số xã trước 2025 của từng trạm, tối đa 4 mỗi xã sau 2025)")
    assert vi.text(spread) == spread_vi
    assert vi.text("estimate: capacity.totals.regional_beds = 1500 minus 1,300 given, spread "
                   "over 12 regional hospitals (equally)") == (
        "ước tính: capacity.totals.regional_beds = 1500 trừ 1.300 đã có, phân bổ cho 12 bệnh "
        "viện đa khoa khu vực (chia đều)")
    # "{n} of them estimated ({source})" does not take in the words before it: the note is a
    # list, each part translated
    note = (f"doctors known for 209 of 228 facilities: a lower bound; 209 of them estimated "
            f"({spread})")
    assert vi.text(note) == ("có số liệu bác sĩ của 209 trên 228 cơ sở: giá trị là cận dưới; "
                             f"trong đó 209 là số ước tính ({spread_vi})")
    # two labels in one list: no field holds half of a bracket, so the list is cut between them
    two = ("estimate: a.b = 1, spread over 2 stations (equally); "
           "estimate: c.d = 3, spread over 4 stations (equally)")
    assert vi.text(two) == ("ước tính: a.b = 1, phân bổ cho 2 trạm y tế xã (chia đều); "
                            "ước tính: c.d = 3, phân bổ cho 4 trạm y tế xã (chia đều)")
    assert vi.text("209 of them estimated (facilities layer; equally)") == \
        "trong đó 209 là số ước tính (lớp cơ sở y tế; chia đều)"
    cap = (f"estimate: 0.39503 doctors x 5,880.7 people per doctor (config "
           f"capacity.people_per_doctor.station); doctors: {spread}")
    assert vi.text(cap) == ("ước tính: 0,39503 bác sĩ x 5.880,7 người trên mỗi bác sĩ (cấu hình "
                            "capacity.people_per_doctor.station); bác sĩ: " + spread_vi)
    assert vi.text("needs the station capacity result: doctors unknown for all 412 active "
                   "stations: give doctors in the facilities layer or the staffing table "
                   "(layers.staffing), or a province total [capacity.totals] station_doctors") \
        == ("cần kết quả công suất của trạm y tế xã: chưa rõ số bác sĩ của cả 412 trạm y tế xã "
            "đang hoạt động: nhập số bác sĩ vào lớp cơ sở y tế hoặc bảng nhân lực "
            "(layers.staffing), hoặc tổng số của tỉnh [capacity.totals] station_doctors")
    # in HTML the data fields are marked, the figures in the language's form
    assert vi.text("left out: beds unknown", html=True) == "không tính: chưa rõ số giường bệnh"
    assert vi.text("commune health station (4 doctors)", html=True) == \
        'trạm y tế xã (<span translate="no">4</span> bác sĩ)'
