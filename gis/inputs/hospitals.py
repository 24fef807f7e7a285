"""Hospitals: Vietnamese names read for their tier, a register matched to OpenStreetMap, and a
register built from OpenStreetMap where a province has none.

Pure functions: tables in, new tables out; nothing is read from or written to files (the OSM
table comes from :func:`gis.inputs.basedata.osm_hospitals`).

Names
    :func:`normalise_name` folds accents, case, punctuation and the usual abbreviations ("BV",
    "BVĐK", "TTYT", "YHCT", "PHCN", "TP", "TW", ...); :func:`parse_name` reads the kind of
    hospital from the name: central (``Trung ương``, Bạch Mai, Chợ Rẫy, Việt Đức, K, E, ...),
    provincial general (``Bệnh viện Đa khoa tỉnh X``, or ``Bệnh viện Đa khoa X`` where X is a
    province, pre- or post-2025), specialised (Mắt, Phổi, Tâm thần, Y học / Y dược cổ truyền,
    Phục hồi chức năng, Sản Nhi, Nhi, Da liễu, Ung bướu, ...), regional (``Trung tâm Y tế
    ...``, ``Bệnh viện Đa khoa khu vực X``, ``Bệnh viện Đa khoa huyện X``, or ``Bệnh viện Đa
    khoa X`` where X is not a province), military, and what is not a hospital (commune health
    stations, clinics, infirmaries, institutes, disease-control centres).

Matching a register (:func:`match_register`)
    A register row (facility_id, name, tier, specialty, host commune) matches an OSM hospital of
    the same kind (same specialty for specialised hospitals) whose place agrees: the same place
    name (score 2), or, for regional hospitals, an OSM hospital in the same former (pre-2025)
    district; for any kind, an OSM name without a place (score 1). The main site beats a
    second site ("cơ sở 2"). Refused: two OSM hospitals equally good (ambiguous), one OSM
    hospital equally good for two rows, and a site farther than ``max_dist_m`` from the host
    commune's registry centre.

A register from OSM (:func:`register_from_osm`)
    Public hospitals of the province by their names (private ones left out unless
    ``include_private``; those whose ownership the publisher did not classify are kept only
    when the name is a public type), plus one estimated ``Trung tâm Y tế <district>`` at the
    seat of each former district that has no regional OSM hospital (:func:`district_seats`).
"""

from __future__ import annotations

import logging
import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS, Geod
from vietnamadminunits.database import get_data

from gis.errors import LayerError
from gis.inputs.registry import ProvinceRegistry

log = logging.getLogger(__name__)

__all__ = [
    "DEFAULT_MAX_DIST_M",
    "FACILITY_COLUMNS",
    "HospitalName",
    "apply_matches",
    "classify_hospitals",
    "district_seats",
    "former_districts",
    "match_register",
    "normalise_name",
    "parse_name",
    "register_from_osm",
]

DEFAULT_MAX_DIST_M = 10_000.0
FACILITY_COLUMNS = ["facility_id", "name", "tier", "specialty", "commune_code",
                    "legacy_commune_code", "beds", "doctors", "nurses", "status",
                    "location_source", "source", "note", "geometry"]
OSM_SOURCE = ("OpenStreetMap (© OpenStreetMap contributors, ODbL 1.0; amenity=hospital, "
              "February 2026)")
_GEOD = Geod(ellps="WGS84")

# Abbreviations, applied to the folded name (whole words only), in this order.
_ABBREVIATIONS = [
    (r"\btphcm\b", "thanh pho ho chi minh"),
    (r"\bbvdkkv\b", "benh vien da khoa khu vuc"),
    (r"\bbvdktw\b", "benh vien da khoa trung uong"),
    (r"\bbvdk\b", "benh vien da khoa"),
    (r"\bbv\b", "benh vien"),
    (r"\bttyt\b", "trung tam y te"),
    (r"\btt\b", "trung tam"),
    (r"\bdkkv\b", "da khoa khu vuc"),
    (r"\bdk\b", "da khoa"),
    (r"\bkv\b", "khu vuc"),
    (r"\byhct\b", "y hoc co truyen"),
    (r"\bydct\b", "y hoc co truyen"),
    (r"\bphcn\b", "phuc hoi chuc nang"),
    (r"\btp\b", "thanh pho"),
    (r"\btx\b", "thi xa"),
    (r"\btw\b", "trung uong"),
    (r"\bhcm\b", "ho chi minh"),
    (r"\byt\b", "y te"),
    (r"\by duoc co truyen\b", "y hoc co truyen"),
    (r"\by hoc dan toc\b", "y hoc co truyen"),
    (r"\bsan phu khoa\b", "phu san"),
]
_SITE = re.compile(r"\b(?:co so|cs|khu)\s*(\d+|ii|iii|iv)\b")
_ROMAN = {"ii": 2, "iii": 3, "iv": 4}
_ADMIN_PREFIX = re.compile(r"^(?:tinh|thanh pho|thi xa|thi tran|huyen|quan|phuong|xa|dac khu|"
                           r"khu vuc)(?:\s+|$)")

# Specialties: (canonical English, Vietnamese phrases in the folded name, English words of a
# register's specialty field). Longer phrases first where one starts another.
SPECIALTIES: list[tuple[str, tuple[str, ...], tuple[str, ...]]] = [
    ("traditional medicine and rehabilitation", ("y hoc co truyen phuc hoi chuc nang",),
     ("traditional medicine and rehabilitation",)),
    ("traditional medicine", ("y hoc co truyen", "cham cuu"), ("traditional medicine",
                                                              "acupuncture")),
    ("rehabilitation", ("dieu duong phuc hoi chuc nang", "phuc hoi chuc nang", "dieu duong"),
     ("rehabilitation",)),
    ("eye", ("mat",), ("eye", "ophthalmology")),
    ("lung", ("lao va benh phoi", "phoi", "lao"), ("lung", "tuberculosis", "pulmonology")),
    ("mental health", ("suc khoe tam than kinh", "suc khoe tam than", "tam than"),
     ("mental health", "psychiatry")),
    ("obstetrics and paediatrics", ("san nhi",), ("obstetrics and paediatrics",
                                                 "maternity and children")),
    ("obstetrics", ("phu san", "san"), ("obstetrics", "maternity")),
    ("paediatrics", ("nhi dong", "nhi", "tre em"), ("paediatrics", "pediatrics", "children")),
    ("dermatology", ("phong va da lieu", "phong da lieu", "da lieu"),
     ("dermatology", "leprosy")),
    ("haematology", ("truyen mau huyet hoc", "huyet hoc truyen mau"),
     ("haematology", "blood transfusion")),
    ("endocrinology", ("noi tiet",), ("endocrinology",)),
    ("oncology", ("ung buou",), ("oncology", "cancer")),
    ("cardiology", ("tim mach", "tim"), ("cardiology", "heart")),
    ("infectious diseases", ("benh nhiet doi", "nhiet doi", "truyen nhiem"),
     ("infectious diseases", "tropical diseases")),
    ("odonto-stomatology", ("rang ham mat",), ("odonto-stomatology", "dental")),
    ("ear, nose and throat", ("tai mui hong",), ("ear, nose and throat", "ent")),
    ("orthopaedics and trauma", ("chan thuong chinh hinh",), ("orthopaedics", "trauma")),
    ("orthopaedics and rehabilitation", ("chinh hinh va phuc hoi chuc nang",
                                         "chinh hinh phuc hoi chuc nang"),
     ("orthopaedics and rehabilitation",)),
    ("geriatrics", ("lao khoa",), ("geriatrics",)),
    ("nephrology", ("than",), ("nephrology", "kidney")),
]
_SPECIALTY_PHRASES = sorted(((p, s) for s, phrases, _ in SPECIALTIES for p in phrases),
                            key=lambda x: -len(x[0]))
_CENTRAL = re.compile(
    r"\btrung uong\b|\bdai hoc\b|^benh vien (?:bach mai|cho ray|viet duc|huu nghi viet duc|"
    r"huu nghi$|thong nhat$|k|e|c da nang|viet nam thuy dien uong bi)\b|"
    r"^benh vien (?:quan y |trung uong quan doi )?(?:103|108|175)\b")
_MILITARY = re.compile(r"\bquan y\b|\bquan doi\b|\bquan dan y\b|\bbien phong\b|\bcong an\b|"
                       r"\bhai quan\b|\bkhong quan\b")
_PRIVATE_WORDS = re.compile(r"\bquoc te\b|\bvinmec\b|\bhong ngoc\b|\btam anh\b|\bhoan my\b|"
                            r"\bthu cuc\b|\bmedlatec\b|\bcong ty\b|\bfamily\b|\bcolumbia\b")
_STATION = re.compile(r"\btram (?:y te|xa)\b")
_HOSPITAL_START = re.compile(r"^(?:benh vien|trung tam y te|trung tam quan dan y|vien|benh xa)\b")

TIER_OF_KIND = {"central": "central", "provincial general": "provincial",
                "specialised": "provincial", "regional": "regional", "military": "regional",
                "other hospital": "regional"}


def _fold(text: str) -> str:
    text = unicodedata.normalize("NFD", str(text)).replace("đ", "d").replace("Đ", "D")
    text = "".join(ch for ch in text if not unicodedata.combining(ch)).lower()
    text = re.sub(r"[^a-z0-9]+", " ", text)
    return re.sub(r"\s+", " ", text).strip()


def normalise_name(name: str) -> str:
    """Fold a facility name for comparison: no accents, lower case, punctuation as spaces,
    abbreviations spelled out.

    ``"BVĐK tỉnh Hà Tĩnh"`` and ``"Bệnh viện Đa khoa tỉnh Hà Tĩnh"`` -> ``"benh vien da khoa
    tinh ha tinh"``; ``"TTYT Can Lộc"`` -> ``"trung tam y te can loc"``; ``"Bệnh viện Y dược
    cổ truyền"`` -> ``"benh vien y hoc co truyen"``.
    """
    text = _fold(name)
    for pattern, repl in _ABBREVIATIONS:
        text = re.sub(pattern, repl, text)
    return text


def _place(text: str) -> str:
    text = text.strip()
    while True:
        new = _ADMIN_PREFIX.sub("", text)
        if new == text:
            return text
        text = new


def _compact(text: str) -> str:
    return text.replace(" ", "")


@lru_cache(maxsize=1)
def _province_places() -> tuple[frozenset[str], frozenset[str]]:
    """Compact keys of all province names (pre- and post-2025), and of the centrally run cities
    (``Thành phố ...``)."""
    names, cities = set(), set()
    for table in ("admin_units_legacy", "admin_units"):
        for row in get_data(["province", "provinceShort"], table):
            key = _compact(_fold(row["provinceShort"]))
            names.add(key)
            if _fold(row["province"]).startswith("thanh pho"):
                cities.add(key)
    return frozenset(names), frozenset(cities)


@dataclass(frozen=True)
class HospitalName:
    """What a facility name says.

    Attributes
    ----------
    key : str
        Normalised name without the site qualifier.
    kind : str
        ``central``, ``provincial general``, ``specialised``, ``regional``, ``military``,
        ``other hospital``, ``station`` (commune health station) or ``not a hospital``.
    specialty : str
        Canonical English specialty (``general`` for general hospitals, ``other`` for a
        specialised hospital of an unlisted specialty).
    place : str
        The place the name gives, folded, without administrative words ("ha tinh", "can loc";
        "" when none).
    site : int
        1, or the number of a further site ("cơ sở 2" -> 2).
    """

    key: str
    kind: str
    specialty: str
    place: str
    site: int

    @property
    def tier(self) -> str | None:
        """The tier of the kind (central, provincial, regional), None if not a hospital."""
        return TIER_OF_KIND.get(self.kind)

    @property
    def place_key(self) -> str:
        return _compact(self.place)


def _leading_specialties(rest: str) -> tuple[str | None, str]:
    """The first specialty phrase at the start of ``rest`` and what follows every leading
    specialty phrase."""
    first = None
    while True:
        for phrase, specialty in _SPECIALTY_PHRASES:
            if rest == phrase or rest.startswith(phrase + " "):
                first = first or specialty
                rest = rest[len(phrase):].strip()
                break
        else:
            return first, rest


def parse_name(name: str) -> HospitalName:
    """Read a facility's kind, specialty, place and site from its Vietnamese name.

    Examples
    --------
    >>> parse_name("Bệnh viện Đa khoa tỉnh Hà Tĩnh").kind
    'provincial general'
    >>> h = parse_name("Trung tâm Y tế huyện Hương Sơn (cơ sở 2)")
    >>> (h.kind, h.place, h.site)
    ('regional', 'huong son', 2)
    >>> parse_name("BV Mắt Hà Tĩnh").specialty
    'eye'
    """
    text = normalise_name(name)
    site = 1
    m = _SITE.search(text)
    if m:
        num = m.group(1)
        site = int(num) if num.isdigit() else _ROMAN[num]
        text = re.sub(r"\s+", " ", (text[:m.start()] + text[m.end():])).strip()
    provinces, cities = _province_places()

    def out(kind: str, specialty: str = "general", place: str = "") -> HospitalName:
        return HospitalName(key=text, kind=kind, specialty=specialty, place=_place(place),
                            site=site)

    if _STATION.search(text):
        return out("station", "primary care")
    if not _HOSPITAL_START.match(text) or re.search(r"\bdu phong\b|\bkiem soat benh tat\b",
                                                    text):
        return out("not a hospital", "")
    if _CENTRAL.search(text):
        rest = re.sub(r"^(?:benh vien|vien)\s*", "", text)
        specialty, _ = _leading_specialties(re.sub(r"^(?:chuyen khoa|da khoa)\s*", "", rest))
        return out("central", specialty or "general")
    if text.startswith("benh xa"):
        return out("not a hospital", "")
    if _MILITARY.search(text):
        place = re.sub(r"^.*\bquan dan y\b", "", text)
        if "quan dan y" in text and _compact(_place(place)) in provinces and (
                re.match(r"\s*tinh\b", place) or _compact(_place(place)) in cities):
            return out("provincial general", "general", place)
        return out("military", "general", place if "quan dan y" in text else "")
    if text.startswith("vien"):
        return out("not a hospital", "")
    if text.startswith(("trung tam y te", "trung tam quan dan y")):
        return out("regional", "general", re.sub(r"^trung tam (?:y te|quan dan y)\s*", "", text))
    if text.startswith("benh vien"):
        rest = text[len("benh vien"):].strip()
        general = re.match(r"^(?:huu nghi\s+)?da khoa\s*(?:trung tam\s+)?", rest)
        if general:
            rest = rest[general.end():]
            place = _compact(_place(rest))
            if rest.startswith("khu vuc") or re.match(r"^(?:huyen|thi xa|quan)\b", rest):
                return out("regional", "general", rest)
            if rest.startswith("thanh pho"):
                return out("provincial general" if place in cities else "regional", "general",
                           rest)
            if place in provinces:
                return out("provincial general", "general", rest)
            return out("regional", "general", rest)
        district = re.match(r"^(?:huyen|thi xa|thanh pho|quan)\b", rest)
        if district:
            place = _compact(_place(rest))
            kind = ("provincial general" if rest.startswith("thanh pho") and place in cities
                    else "regional")
            return out(kind, "general", rest)
        rest = re.sub(r"^chuyen khoa\s*", "", rest)
        specialty, place = _leading_specialties(rest)
        if specialty:
            return out("specialised", specialty, place)
        if text.startswith("benh vien chuyen khoa"):
            return out("specialised", "other", rest)
        return out("other hospital", "general", rest)
    return out("not a hospital", "")


def _specialty_key(text: object) -> str:
    """Canonical specialty of a register's ``specialty`` field (English or Vietnamese)."""
    t = _fold(str(text or "")).strip()
    if t in ("", "general", "da khoa"):
        return "general"
    for canonical, phrases, english in SPECIALTIES:
        if t == _fold(canonical) or t in (_fold(e) for e in english) or t in phrases:
            return canonical
    return t


# --- former districts -----------------------------------------------------------------------

def former_districts(lon: np.ndarray, lat: np.ndarray, commune_code: np.ndarray,
                     reg: ProvinceRegistry) -> pd.DataFrame:
    """The pre-2025 commune (and its district) each point most likely lay in.

    Among the pre-2025 communes merged into the point's post-2025 commune (all of the province
    when the point has none), the one whose registry centre is nearest. An estimate: the
    registry has centres, not pre-2025 polygons.

    Returns
    -------
    DataFrame
        ``legacy_commune_code``, ``district_code``, ``district_name`` (one row per point, same
        order).
    """
    lg = reg.legacy.set_index("commune_code")
    members = reg.mapping.groupby("new_code")["legacy_code"].apply(list).to_dict()
    every = list(lg.index)
    rows = []
    for x, y, c in zip(np.asarray(lon, float), np.asarray(lat, float),
                       np.asarray(commune_code, dtype=object), strict=True):
        cand = members.get(str(c), every) if isinstance(c, str) and c else every
        sub = lg.loc[cand]
        d2 = ((sub["lon"] - x) * np.cos(np.radians(y))) ** 2 + (sub["lat"] - y) ** 2
        best = d2.idxmin()
        rows.append((best, lg.at[best, "district_code"], lg.at[best, "district_name"]))
    return pd.DataFrame(rows, columns=["legacy_commune_code", "district_code", "district_name"])


def district_seats(reg: ProvinceRegistry) -> pd.DataFrame:
    """The seat of each former (pre-2025) district of the province.

    Rule (the registry has no seat field): the thị trấn named like the district; else the
    first-coded thị trấn (the GSO lists a district's seat town first); else, for towns, cities
    and urban districts, the first-coded phường; else the commune whose registry centre is
    nearest the mean of the district's commune centres; an island district without communes
    is its own seat.

    Returns
    -------
    DataFrame
        ``district_code``, ``district_name``, ``seat_code``, ``seat_name``, ``seat_type``,
        ``new_commune_code`` (post-2025 commune of the seat), ``lon``, ``lat`` (registry
        centre of the seat, EPSG:4326), ``rule``; sorted by district_code.
    """
    rows = []
    for (dcode, dname), grp in reg.legacy.groupby(["district_code", "district_name"], sort=True):
        grp = grp.sort_values("commune_code")
        short = _compact(_place(_fold(dname)))
        towns = grp[grp["commune_type"] == "Thị trấn"]
        named = towns[towns["commune_name"].map(lambda n: _compact(_fold(n))) == short]
        wards = grp[grp["commune_type"] == "Phường"]
        if (grp["commune_type"] == "Huyện đảo").any():
            seat, rule = grp.iloc[0], "island district without communes: the district itself"
        elif len(named):
            seat, rule = named.iloc[0], "the thị trấn named like the district"
        elif len(towns):
            seat, rule = towns.iloc[0], "the first-coded thị trấn of the district"
        elif len(wards):
            seat, rule = wards.iloc[0], "the first-coded phường of the district"
        else:
            cx, cy = grp["lon"].mean(), grp["lat"].mean()
            d2 = ((grp["lon"] - cx) * np.cos(np.radians(cy))) ** 2 + (grp["lat"] - cy) ** 2
            seat = grp.loc[d2.idxmin()]
            rule = "the commune nearest the mean of the district's commune centres"
        rows.append({"district_code": dcode, "district_name": dname,
                     "seat_code": seat["commune_code"], "seat_name": seat["commune_name"],
                     "seat_type": seat["commune_type"],
                     "new_commune_code": seat["new_commune_code"],
                     "lon": float(seat["lon"]), "lat": float(seat["lat"]), "rule": rule})
    return pd.DataFrame(rows)


# --- classifying OSM hospitals --------------------------------------------------------------

def classify_hospitals(osm: pd.DataFrame, *, include_private: bool = False) -> pd.DataFrame:
    """Read each OSM feature's name: kind, tier, specialty, place, site, and whether a register
    built from OSM keeps it.

    Kept: central, provincial, specialised, regional, military and other public hospitals.
    Left out, with the reason: commune health stations (the tool makes one per pre-2025
    commune), names that are not a hospital (clinics, infirmaries, institutes, disease
    control), private hospitals (``ownership`` private, or a private chain's name) unless
    ``include_private``, hospitals whose ownership the publisher left unclassified and whose
    name gives no public type, and repeated features (same name within 500 m).

    Returns
    -------
    DataFrame
        ``osm`` (same index) plus ``kind``, ``tier``, ``specialty``, ``place``, ``site``,
        ``private``, ``keep``, ``reason``.
    """
    out = pd.DataFrame(osm).copy()
    parsed = [parse_name(n) for n in out["name"].astype(str)]
    out["kind"] = [p.kind for p in parsed]
    out["tier"] = [p.tier or "" for p in parsed]
    out["specialty"] = [p.specialty for p in parsed]
    out["place"] = [p.place for p in parsed]
    out["site"] = [p.site for p in parsed]
    ownership = out.get("ownership", pd.Series("unclassified", index=out.index)).fillna("")
    out["private"] = ((ownership == "private").to_numpy(bool)
                      | np.array([bool(_PRIVATE_WORDS.search(p.key)) for p in parsed], bool))
    keep = np.ones(len(out), bool)
    reason = np.full(len(out), "", dtype=object)
    kinds = out["kind"].to_numpy()
    for i in range(len(out)):
        if kinds[i] == "station":
            keep[i], reason[i] = False, "commune health station (stations come from the registry)"
        elif kinds[i] == "not a hospital":
            keep[i], reason[i] = False, "not a hospital by its name"
        elif out["private"].iat[i] and not include_private:
            keep[i], reason[i] = False, "private hospital"
        elif (kinds[i] == "other hospital" and ownership.iat[i] != "public"
              and not out["private"].iat[i]):
            keep[i], reason[i] = False, ("ownership unclassified and the name gives no public "
                                         "hospital type")
    # Repeated features: the same normalised name within 500 m.
    keys = [p.key + f"#{p.site}" for p in parsed]
    lon, lat = out["lon"].to_numpy(float), out["lat"].to_numpy(float)
    seen: dict[str, list[int]] = {}
    for i in range(len(out)):
        if not keep[i]:
            continue
        for j in seen.get(keys[i], []):
            if _GEOD.inv(lon[i], lat[i], lon[j], lat[j])[2] <= 500:
                keep[i], reason[i] = False, f"repeats {out['name'].iat[j]} within 500 m"
                break
        else:
            seen.setdefault(keys[i], []).append(i)
    out["keep"] = keep
    out["reason"] = reason
    return out


# --- matching a register --------------------------------------------------------------------

def _register_kind(row: pd.Series) -> tuple[str, str]:
    """Kind and specialty of a register row: its tier and specialty fields, the name where
    they leave it open."""
    tier = str(row.get("tier", "")).strip().lower()
    specialty = _specialty_key(row.get("specialty", ""))
    parsed = parse_name(str(row.get("name", "")))
    if tier == "central":
        return "central", specialty
    if tier == "provincial":
        if specialty == "general" and parsed.kind == "specialised":
            specialty = parsed.specialty
        return ("provincial general", "general") if specialty == "general" else (
            "specialised", specialty)
    if tier == "regional":
        return "regional", "general"
    return parsed.kind, parsed.specialty


def _host_points(register: pd.DataFrame, reg: ProvinceRegistry) -> pd.DataFrame:
    """Host site (lon, lat), pre-2025 host commune and former districts of register rows."""
    lg = reg.legacy.set_index("commune_code")
    new = reg.new.set_index("commune_code")
    by_new = reg.mapping.groupby("new_code")["legacy_code"].apply(list).to_dict()

    def code(col: str, i: int) -> str:
        if col not in register:
            return ""
        v = register[col].iat[i]
        return "" if v is None or (isinstance(v, float) and np.isnan(v)) else str(v).strip()

    has_geom = isinstance(register, gpd.GeoDataFrame) and register.crs is not None
    pts = register.geometry.to_crs(4326) if has_geom else None
    rows = []
    for i in range(len(register)):
        legacy = code("host_legacy_commune_code", i) or code("legacy_commune_code", i)
        newc = code("host_commune_code", i) or code("commune_code", i)
        lon = lat = np.nan
        if pts is not None and pts.iat[i] is not None and not pts.iat[i].is_empty:
            lon, lat = pts.iat[i].x, pts.iat[i].y
        elif legacy in lg.index:
            lon, lat = lg.at[legacy, "lon"], lg.at[legacy, "lat"]
        elif newc in new.index:
            lon, lat = new.at[newc, "lon"], new.at[newc, "lat"]
        if legacy in lg.index:
            districts = {lg.at[legacy, "district_code"]}
        else:
            districts = {lg.at[c, "district_code"] for c in by_new.get(newc, []) if c in lg.index}
        rows.append((float(lon), float(lat), legacy, districts))
    return pd.DataFrame(rows, columns=["lon", "lat", "legacy", "districts"])


def match_register(register: pd.DataFrame, osm: pd.DataFrame, reg: ProvinceRegistry, *,
                   max_dist_m: float = DEFAULT_MAX_DIST_M) -> pd.DataFrame:
    """Match the rows of a hospital register to OSM hospitals by name, tier and place.

    Parameters
    ----------
    register : DataFrame or GeoDataFrame
        ``facility_id``, ``name``, ``tier``, ``specialty`` and the host commune:
        ``host_legacy_commune_code`` / ``host_commune_code`` (a register file) or
        ``legacy_commune_code`` / ``commune_code`` (the output of
        :func:`gis.inputs.readers.read_facilities`); with a geometry, the point is the host site.
    osm : DataFrame
        OSM hospitals of the province (:func:`gis.inputs.basedata.osm_hospitals`): ``name``,
        ``lon``, ``lat``, ``commune_code``, ``ownership``, ``source_row``.
    reg : ProvinceRegistry
    max_dist_m : float
        A site farther than this from the host site (geodesic metres) is refused.

    Returns
    -------
    DataFrame
        One row per register row (same order): ``facility_id``, ``matched`` (bool),
        ``osm_name``, ``lon``, ``lat`` (EPSG:4326; NaN without a match), ``dist_m`` (host
        site to OSM site), ``score`` (2 same place, 1 same former district or no place),
        ``location_source`` (``"OpenStreetMap: <name>"``, or ``"estimate: ..."`` saying why
        none), ``reason``.
    """
    hosp = classify_hospitals(osm, include_private=True).reset_index(drop=True)
    hosp = hosp[~hosp["kind"].isin(["station", "not a hospital"])].reset_index(drop=True)
    olon, olat = hosp["lon"].to_numpy(float), hosp["lat"].to_numpy(float)
    odist = former_districts(olon, olat, hosp.get("commune_code", pd.Series("", index=hosp.index))
                             .fillna("").to_numpy(object), reg)["district_code"].to_numpy()
    hosts = _host_points(register, reg)
    n = len(register)
    best: list[list[tuple[tuple[int, int], int, float]]] = [[] for _ in range(n)]
    reasons = [""] * n
    for i in range(n):
        row = register.iloc[i]
        kind, specialty = _register_kind(row)
        rname = parse_name(str(row.get("name", "")))
        cands = []
        far = []
        for j in range(len(hosp)):
            o = hosp.iloc[j]
            okind = "regional" if o["kind"] in ("military", "other hospital") else o["kind"]
            if okind != kind or (kind == "specialised" and o["specialty"] != specialty):
                continue
            oplace = _compact(o["place"])
            if oplace and rname.place_key and oplace == rname.place_key:
                place_score = 2
            elif not oplace or (kind == "regional" and odist[j] in hosts["districts"].iat[i]):
                place_score = 1
            else:
                continue
            d = (_GEOD.inv(hosts["lon"].iat[i], hosts["lat"].iat[i], olon[j], olat[j])[2]
                 if np.isfinite(hosts["lon"].iat[i]) else np.inf)
            score = (place_score, 1 if o["site"] == 1 else 0)
            (cands if d <= max_dist_m else far).append((score, j, d))
        if not cands:
            if far:
                s, j, d = max(far, key=lambda c: (c[0], -c[2]))
                reasons[i] = (f"nearest matching OSM hospital {hosp['name'].iat[j]} is "
                              f"{d / 1000:.1f} km from the host site (limit "
                              f"{max_dist_m / 1000:.1f} km)")
            else:
                reasons[i] = "no OSM hospital of this kind and place"
            continue
        top = max(c[0] for c in cands)
        best[i] = [c for c in cands if c[0] == top]
        if len(best[i]) > 1:
            names = ", ".join(sorted(hosp["name"].iat[c[1]] for c in best[i]))
            reasons[i] = f"ambiguous: equally good OSM hospitals {names}"
    # One OSM hospital for one register row: the better score wins, a tie refuses both.
    claims: dict[int, list[int]] = {}
    for i in range(n):
        if len(best[i]) == 1:
            claims.setdefault(best[i][0][1], []).append(i)
    chosen: dict[int, tuple[tuple[int, int], int, float]] = {}
    for j, rows in claims.items():
        top = max(best[i][0][0] for i in rows)
        winners = [i for i in rows if best[i][0][0] == top]
        for i in rows:
            if len(winners) == 1 and i == winners[0]:
                chosen[i] = best[i][0]
            elif len(winners) == 1:
                reasons[i] = (f"its best OSM hospital {hosp['name'].iat[j]} matches "
                              f"{register['facility_id'].iat[winners[0]]} better")
            else:
                others = ", ".join(str(register["facility_id"].iat[k]) for k in winners
                                   if k != i)
                reasons[i] = (f"ambiguous: OSM hospital {hosp['name'].iat[j]} matches "
                              f"{others} equally well")
    rows = []
    for i in range(n):
        fid = register["facility_id"].iat[i]
        if i in chosen:
            score, j, d = chosen[i]
            name = hosp["name"].iat[j]
            rows.append((fid, True, name, olon[j], olat[j], round(d, 1), score[0],
                         f"OpenStreetMap: {name}", ""))
        else:
            rows.append((fid, False, "", np.nan, np.nan, np.nan, 0,
                         f"estimate: no OpenStreetMap site ({reasons[i]})", reasons[i]))
    return pd.DataFrame(rows, columns=["facility_id", "matched", "osm_name", "lon", "lat",
                                       "dist_m", "score", "location_source", "reason"])


def apply_matches(facilities: gpd.GeoDataFrame, matches: pd.DataFrame) -> gpd.GeoDataFrame:
    """Facilities moved to their OSM site where :func:`match_register` found one.

    Only rows whose ``location_source`` is an estimate move; their ``location_source`` becomes
    ``"OpenStreetMap: <name>"``. Returns a new GeoDataFrame in the CRS of ``facilities``.
    """
    out = facilities.copy()
    m = matches.set_index("facility_id")
    est = out["location_source"].astype(str).str.startswith("estimate")
    hit = out["facility_id"].map(m["matched"]).fillna(False).astype(bool) & est
    if hit.any():
        ids = out.loc[hit, "facility_id"]
        pts = gpd.GeoSeries(shapely.points(ids.map(m["lon"]), ids.map(m["lat"])), crs=4326,
                            index=ids.index).to_crs(out.crs)
        out.loc[hit, "geometry"] = pts
        out.loc[hit, "location_source"] = ids.map(m["location_source"])
    return out


# --- a register from OSM --------------------------------------------------------------------

def _centre_name(district_name: str) -> str:
    kind, _, rest = district_name.partition(" ")
    words = {"Huyện": "huyện", "Thị": "thị", "Thành": "thành", "Quận": "quận"}
    if kind in words:
        return f"Trung tâm Y tế {words[kind]} {rest}"
    return f"Trung tâm Y tế {district_name}"


def register_from_osm(reg: ProvinceRegistry, osm: pd.DataFrame, *, crs: CRS | str | int,
                      include_private: bool = False) -> gpd.GeoDataFrame:
    """A hospital register for a province that has none: its OSM hospitals plus an estimated
    medical centre at the seat of every former district without a regional OSM hospital.

    Parameters
    ----------
    reg : ProvinceRegistry
    osm : DataFrame
        OSM hospitals of the province (:func:`gis.inputs.basedata.osm_hospitals`).
    crs : CRS
        Working CRS of the result.
    include_private : bool
        Keep private hospitals (tier from the name, noted "private") instead of leaving them
        out.

    Returns
    -------
    GeoDataFrame
        The schema of :func:`gis.inputs.readers.read_facilities` (``facility_id``, ``name``,
        ``tier``, ``specialty``, ``commune_code``, ``legacy_commune_code``, ``beds``,
        ``doctors``, ``nurses``, ``status``, ``location_source``, ``source``, ``note``; Point)
        in ``crs``.
        Ids: ``<province key>-H001`` ... for OSM hospitals (ordered by tier, name, site),
        ``<province key>-D<district code>`` for the estimated medical centres.
        ``location_source`` is ``"OpenStreetMap: <name>"`` or ``"estimate: ..."``;
        ``source`` says OSM or estimate.
    """
    key = reg.province.key
    cls = classify_hospitals(osm, include_private=include_private)
    kept = cls[cls["keep"]].copy()
    seats = district_seats(reg)
    short_to_district = {}
    for r in seats.itertuples():
        short_to_district.setdefault(_compact(_place(_fold(r.district_name))), []).append(
            r.district_code)
    loc = former_districts(kept["lon"].to_numpy(float), kept["lat"].to_numpy(float),
                           kept.get("commune_code", pd.Series("", index=kept.index)).fillna("")
                           .to_numpy(object), reg)
    kept["legacy_commune_code"] = loc["legacy_commune_code"].to_numpy()
    by_name = [short_to_district.get(_compact(p), []) for p in kept["place"]]
    named = [t == "regional" and len(d) == 1 for d, t in zip(by_name, kept["tier"], strict=True)]
    kept["district_code"] = [d[0] if u else x for d, u, x in
                             zip(by_name, named, loc["district_code"], strict=True)]
    kept["district_by"] = np.where(named, "its name", "its site")
    order = {"central": 0, "provincial": 1, "regional": 2}
    kept["_o"] = kept["tier"].map(order)
    kept = kept.sort_values(["_o", "name", "site", "lon", "lat"], kind="stable")
    new_of_legacy = reg.legacy.set_index("commune_code")["new_commune_code"]
    dname = seats.set_index("district_code")["district_name"]
    rows = []
    for k, r in enumerate(kept.itertuples(), start=1):
        notes = [f"kind from the name: {r.kind}"]
        if r.site > 1:
            notes.append(f"site {r.site} of the hospital")
        if r.private:
            notes.append("private")
        if r.kind in ("military", "other hospital"):
            notes.append("tier guessed: the name gives none")
        notes.append(f"former district {dname.get(r.district_code, '?')} ({r.district_code}, "
                     f"by {r.district_by})")
        commune = str(getattr(r, "commune_code", "") or "")
        rows.append({
            "facility_id": f"{key}-H{k:03d}", "name": r.name, "tier": r.tier,
            "specialty": r.specialty, "commune_code": commune or
            new_of_legacy.get(r.legacy_commune_code, ""),
            "legacy_commune_code": r.legacy_commune_code,
            "beds": np.nan, "doctors": np.nan, "nurses": np.nan, "status": "active",
            "location_source": f"OpenStreetMap: {r.name}",
            "source": f"{OSM_SOURCE}; tier from the name",
            "note": "; ".join(notes), "lon": r.lon, "lat": r.lat,
        })
    covered = set(kept.loc[kept["tier"] == "regional", "district_code"])
    for s in seats.itertuples():
        if s.district_code in covered:
            continue
        rows.append({
            "facility_id": f"{key}-D{s.district_code}", "name": _centre_name(s.district_name),
            "tier": "regional", "specialty": "general", "commune_code": s.new_commune_code,
            "legacy_commune_code": s.seat_code, "beds": np.nan, "doctors": np.nan,
            "nurses": np.nan, "status": "active",
            "location_source": (f"estimate: registry centre of {s.seat_type.lower()} "
                                f"{s.seat_name} ({s.seat_code}), seat of the former district "
                                f"({s.rule})"),
            "source": ("estimate: one medical centre per former district; no regional OSM "
                       "hospital found in it"),
            "note": f"former district {s.district_name} ({s.district_code})",
            "lon": s.lon, "lat": s.lat,
        })
    if not rows:
        raise LayerError(f"OSM hospitals of {reg.province.short}",
                         ["no hospital and no former district: nothing to build"])
    df = pd.DataFrame(rows)
    gdf = gpd.GeoDataFrame(df.drop(columns=["lon", "lat"]),
                           geometry=shapely.points(df["lon"], df["lat"]), crs="EPSG:4326")
    log.info("%s: register from OSM: %d OSM hospitals, %d estimated district centres",
             reg.province.short, len(kept), len(rows) - len(kept))
    return gdf[FACILITY_COLUMNS].to_crs(crs)
