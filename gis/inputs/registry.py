"""Vietnam's administrative units before and after the reform of 1 July 2025.

Built on the ``vietnamadminunits`` package: its tables ``admin_units_legacy`` (63 provinces,
10,040 communes in force just before 1 July 2025) and ``admin_units`` (34 provinces, 3,321
communes after), and its old -> new conversion data. Works for any post-2025 province.

The five island districts that had no communes (Bạch Long Vĩ, Cồn Cỏ, Hoàng Sa, Lý Sơn, Côn Đảo)
appear as legacy units with code ``"D" + district code``.
"""

from __future__ import annotations

import difflib
import json
import logging
import re
import sqlite3
import unicodedata
from dataclasses import dataclass, replace
from functools import cache

import numpy as np
import pandas as pd
from vietnamadminunits.database.main import MODULE_DIR

from gis.errors import RegistryError

log = logging.getLogger(__name__)


def normalise(text: str) -> str:
    """Lower-case ASCII key of a Vietnamese name: ``"Hà Tĩnh"`` -> ``"hatinh"``."""
    text = unicodedata.normalize("NFD", str(text)).replace("đ", "d").replace("Đ", "D")
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    return re.sub(r"[^a-z0-9]", "", text.lower())


_PROVINCE_PREFIXES = ("thanhpho", "tinh", "tp")


@dataclass(frozen=True)
class Province:
    """A post-2025 province.

    Attributes
    ----------
    code : str
        Two-digit code, e.g. ``"42"``.
    name : str
        Full name, e.g. ``"Tỉnh Hà Tĩnh"``; ``short`` is ``"Hà Tĩnh"``.
    key : str
        ASCII key, e.g. ``"hatinh"`` (used for file names).
    legacy_codes : tuple of str
        Codes of the pre-2025 provinces merged into it.
    lon, lat : float
        Centre in EPSG:4326 degrees.
    """

    code: str
    name: str
    short: str
    key: str
    legacy_codes: tuple[str, ...]
    lon: float
    lat: float

    @property
    def utm_epsg(self) -> int:
        """EPSG code of the WGS 84 UTM zone of the province centre (Ha Tinh: 32648)."""
        zone = int((self.lon + 180) // 6) + 1
        return (32600 if self.lat >= 0 else 32700) + zone


def _db_path():
    return MODULE_DIR / "data" / "dataset.db", MODULE_DIR / "data" / "converter_2025.json"


@cache
def _tables() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, dict[str, list[str]]]:
    db, conv = _db_path()
    with sqlite3.connect(db) as con:
        legacy = pd.read_sql("SELECT * FROM admin_units_legacy", con)
        new = pd.read_sql("SELECT * FROM admin_units", con)
    data = json.loads(conv.read_text(encoding="utf-8"))
    rows = []
    for nprov, wards in data["DICT_PROVINCE_WARD_NO_DIVIDED"].items():
        for nward, olds in wards.items():
            rows.extend((nprov, nward, o, False, True) for o in olds)
    for nprov, olds in data["DICT_PROVINCE_WARD_DIVIDED"].items():
        for o, lst in olds.items():
            rows.extend((nprov, w["newWardKey"], o, True, bool(w["isDefaultNewWard"])) for w in lst)
    mapping = pd.DataFrame(rows, columns=["nprov", "nward", "okey", "split", "default"])
    # Island districts without communes: give them a commune-level identity.
    island = legacy["wardCode"].isna()
    legacy.loc[island, "wardCode"] = "D" + legacy.loc[island, "districtCode"].astype(str)
    legacy.loc[island, "ward"] = legacy.loc[island, "district"]
    legacy.loc[island, "wardShort"] = legacy.loc[island, "districtShort"]
    legacy.loc[island, "wardType"] = "Huyện đảo"
    legacy.loc[island, "wardLat"] = legacy.loc[island, "districtLat"]
    legacy.loc[island, "wardLon"] = legacy.loc[island, "districtLon"]
    legacy.loc[island, "wardBounds"] = legacy.loc[island, "districtBounds"]
    legacy["okey"] = (legacy["provinceKey"] + "_" + legacy["districtKey"] + "_"
                      + legacy["wardKey"].fillna(""))
    new["nkey"] = new["provinceKey"] + "_" + new["wardKey"]
    mapping["nkey"] = mapping["nprov"] + "_" + mapping["nward"]
    return legacy, new, mapping, data["DICT_PROVINCE"]


@cache
def all_commune_codes() -> frozenset[str]:
    """Every commune code of the country, before and after 1 July 2025."""
    legacy, new, _, _ = _tables()
    return frozenset(legacy["wardCode"].astype(str)) | frozenset(new["wardCode"].astype(str))


@cache
def provinces() -> tuple[Province, ...]:
    """All 34 post-2025 provinces."""
    legacy, new, _, dict_province = _tables()
    legacy_code_of_key = legacy.groupby("provinceKey")["provinceCode"].first().to_dict()
    out = []
    for code, grp in new.groupby("provinceCode", sort=True):
        row = grp.iloc[0]
        olds = dict_province.get(row["provinceKey"], [row["provinceKey"]])
        out.append(Province(
            code=str(code), name=row["province"], short=row["provinceShort"],
            key=row["provinceShortKey"],
            legacy_codes=tuple(sorted(legacy_code_of_key[k] for k in olds)),
            lon=float(row["provinceLon"]), lat=float(row["provinceLat"]),
        ))
    return tuple(out)


def find_province(query: str | int) -> Province:
    """Find a post-2025 province by code (``42``, ``"42"``), name (``"Hà Tĩnh"``, ``"Tỉnh Hà
    Tĩnh"``) or key (``"hatinh"``, ``"ha tinh"``).

    Raises
    ------
    RegistryError
        If nothing matches; the message lists the closest province names.
    """
    all_p = provinces()
    q = str(query).strip()
    if q.isdigit():
        code = f"{int(q):02d}"
        for p in all_p:
            if p.code == code:
                return p
    key = normalise(q)
    for prefix in _PROVINCE_PREFIXES:
        if key.startswith(prefix) and len(key) > len(prefix) + 2:
            stripped = key[len(prefix):]
            if any(p.key == stripped for p in all_p):
                key = stripped
                break
    for p in all_p:
        if key in (p.key, normalise(p.name), normalise(p.short)):
            return p
    by_key = {p.key: p for p in all_p}
    close = difflib.get_close_matches(key, list(by_key), n=4, cutoff=0.6)
    hint = (f"did you mean {', '.join(f'{by_key[k].short} ({by_key[k].code})' for k in close)}?"
            if close else "run `gis registry --list` to see the 34 provinces and their codes")
    msg = f"unknown province {str(query)!r}: {hint}"
    raise RegistryError(msg)


def _parse_bounds(text: object) -> tuple[float, float, float, float]:
    """``"lat1,lon1 – lat2,lon2"`` -> (min_lon, min_lat, max_lon, max_lat); NaNs if missing."""
    nums = re.findall(r"-?\d+(?:\.\d+)?", str(text)) if isinstance(text, str) else []
    if len(nums) != 4:
        return (np.nan, np.nan, np.nan, np.nan)
    lat1, lon1, lat2, lon2 = map(float, nums)
    return (min(lon1, lon2), min(lat1, lat2), max(lon1, lon2), max(lat1, lat2))


def new_communes(province: Province) -> pd.DataFrame:
    """Post-2025 communes of a province.

    Returns
    -------
    DataFrame
        ``commune_code``, ``commune_name``, ``commune_type`` (Xã, Phường, Đặc khu),
        ``province_code``, ``lon``, ``lat`` (registry centre, EPSG:4326), ``area_km2``.
    """
    _, new, _, _ = _tables()
    df = new[new["provinceCode"] == province.code]
    return pd.DataFrame({
        "commune_code": df["wardCode"].astype(str).to_numpy(),
        "commune_name": df["wardShort"].to_numpy(),
        "commune_type": df["wardType"].to_numpy(),
        "province_code": province.code,
        "lon": df["wardLon"].astype(float).to_numpy(),
        "lat": df["wardLat"].astype(float).to_numpy(),
        "area_km2": df["wardAreaKm2"].astype(float).to_numpy(),
    }).sort_values("commune_code", ignore_index=True)


def mapping(province: Province) -> pd.DataFrame:
    """Old -> new mapping of the province's communes.

    Returns
    -------
    DataFrame
        One row per (legacy commune, new commune) pair: ``legacy_code``, ``new_code``,
        ``split`` (the legacy commune was divided among several new ones), ``default`` (the new
        commune the registry assigns the legacy commune to when it must pick one).
    """
    legacy, new, maps, _ = _tables()
    prov_new = new[new["provinceCode"] == province.code]
    m = maps[maps["nkey"].isin(prov_new["nkey"])]
    m = m.merge(legacy[["okey", "wardCode"]], on="okey", how="left")
    m = m.merge(prov_new[["nkey", "wardCode"]].rename(columns={"wardCode": "new_code"}),
                on="nkey", how="left")
    out = pd.DataFrame({
        "legacy_code": m["wardCode"].astype(str).to_numpy(),
        "new_code": m["new_code"].astype(str).to_numpy(),
        "split": m["split"].to_numpy(bool),
        "default": m["default"].to_numpy(bool),
    })
    return out.sort_values(["legacy_code", "new_code"], ignore_index=True)


def legacy_communes(province: Province) -> pd.DataFrame:
    """Pre-2025 communes of the territory of a post-2025 province.

    Returns
    -------
    DataFrame
        ``commune_code``, ``commune_name``, ``commune_type`` (Xã, Phường, Thị trấn),
        ``district_code``, ``district_name``, ``legacy_province_code``, ``lon``, ``lat``
        (registry centre, EPSG:4326), ``min_lon``, ``min_lat``, ``max_lon``, ``max_lat``
        (registry bounding box), ``new_commune_code`` (the default new commune),
        ``new_commune_codes`` (all new communes it went to, ``;``-separated), ``split``.
    """
    legacy, _, _, _ = _tables()
    m = mapping(province)
    df = legacy[legacy["wardCode"].isin(m["legacy_code"])]
    bounds = np.array([_parse_bounds(b) for b in df["wardBounds"]]).reshape(-1, 4)
    default = m[m["default"]].drop_duplicates("legacy_code").set_index("legacy_code")["new_code"]
    all_new = m.groupby("legacy_code")["new_code"].agg(lambda s: ";".join(sorted(s)))
    split = m.groupby("legacy_code")["split"].any()
    codes = df["wardCode"].astype(str)
    out = pd.DataFrame({
        "commune_code": codes.to_numpy(),
        "commune_name": df["wardShort"].to_numpy(),
        "commune_type": df["wardType"].to_numpy(),
        "district_code": df["districtCode"].astype(str).to_numpy(),
        "district_name": df["district"].to_numpy(),
        "legacy_province_code": df["provinceCode"].astype(str).to_numpy(),
        "lon": df["wardLon"].astype(float).to_numpy(),
        "lat": df["wardLat"].astype(float).to_numpy(),
        "min_lon": bounds[:, 0], "min_lat": bounds[:, 1],
        "max_lon": bounds[:, 2], "max_lat": bounds[:, 3],
        "new_commune_code": codes.map(default).to_numpy(),
        "new_commune_codes": codes.map(all_new).to_numpy(),
        "split": codes.map(split).to_numpy(bool),
    })
    return out.sort_values("commune_code", ignore_index=True)


@dataclass(frozen=True)
class ProvinceRegistry:
    """Everything the registry knows of one province."""

    province: Province
    legacy: pd.DataFrame
    new: pd.DataFrame
    mapping: pd.DataFrame
    extent: tuple[float, float, float, float] | None = None

    def bounds(self) -> tuple[float, float, float, float]:
        """The province's box (min_lon, min_lat, max_lon, max_lat, EPSG:4326): the union of the
        registry's boxes (or centres) of its pre-2025 communes, the centres of its post-2025
        communes (an island commune's may lie far from every pre-2025 box: Trường Sa) and
        ``extent`` when known (the box of the real commune polygons, islands included)."""
        lg, nw = self.legacy, self.new
        lo_x = [lg["min_lon"].fillna(lg["lon"]), lg["lon"], nw["lon"]]
        lo_y = [lg["min_lat"].fillna(lg["lat"]), lg["lat"], nw["lat"]]
        hi_x = [lg["max_lon"].fillna(lg["lon"]), lg["lon"], nw["lon"]]
        hi_y = [lg["max_lat"].fillna(lg["lat"]), lg["lat"], nw["lat"]]
        box = [float(np.nanmin(pd.concat(lo_x))), float(np.nanmin(pd.concat(lo_y))),
               float(np.nanmax(pd.concat(hi_x))), float(np.nanmax(pd.concat(hi_y)))]
        if self.extent is not None:
            e = self.extent
            box = [min(box[0], e[0]), min(box[1], e[1]), max(box[2], e[2]), max(box[3], e[3])]
        return (box[0], box[1], box[2], box[3])

    def with_extent(self, extent: tuple[float, float, float, float]) -> ProvinceRegistry:
        """A copy whose :meth:`bounds` also covers ``extent`` (lon/lat box, EPSG:4326)."""
        return replace(self, extent=tuple(float(v) for v in extent))

    def summary(self) -> dict[str, object]:
        split = self.legacy[self.legacy["split"]]
        return {
            "province_code": self.province.code,
            "province_name": self.province.name,
            "legacy_province_codes": list(self.province.legacy_codes),
            "legacy_communes": int(len(self.legacy)),
            "legacy_districts": int(self.legacy["district_code"].nunique()),
            "new_communes": int(len(self.new)),
            "new_commune_types": {str(k): int(v) for k, v in
                                  self.new["commune_type"].value_counts().sort_index().items()},
            "legacy_commune_types": {str(k): int(v) for k, v in
                                     self.legacy["commune_type"].value_counts().sort_index().items()},
            "legacy_split": [
                {"code": r.commune_code, "name": r.commune_name,
                 "new_codes": r.new_commune_codes.split(";")}
                for r in split.itertuples()
            ],
            "utm_epsg": self.province.utm_epsg,
        }


def load_registry(query: str | int) -> ProvinceRegistry:
    """The registry of one province, found by code, name or key (see :func:`find_province`)."""
    p = find_province(query)
    return ProvinceRegistry(province=p, legacy=legacy_communes(p), new=new_communes(p),
                            mapping=mapping(p))
