"""Registry of communes before and after 1 July 2025 (vietnamadminunits)."""

from __future__ import annotations

import pytest

from gis.errors import RegistryError
from gis.inputs.registry import find_province, load_registry, normalise, provinces


@pytest.mark.parametrize("query", ["42", 42, "Hà Tĩnh", "Ha Tinh", "hatinh", "Tỉnh Hà Tĩnh",
                                   "  HA TINH "])
def test_find_ha_tinh_by_code_name_or_key(query):
    p = find_province(query)
    assert p.code == "42"
    assert p.short == "Hà Tĩnh"
    assert p.utm_epsg == 32648


def test_unknown_province_lists_close_matches():
    with pytest.raises(RegistryError,
                       match=r"unknown province 'Ha Tnh': did you mean Hà Tĩnh \(42\)"):
        find_province("Ha Tnh")


def test_34_provinces_and_all_10040_legacy_communes_map():
    ps = provinces()
    assert len(ps) == 34
    total_legacy = 0
    total_new = 0
    for p in ps:
        reg = load_registry(p.code)
        total_legacy += len(reg.legacy)
        total_new += len(reg.new)
        assert reg.legacy["new_commune_code"].notna().all(), p.short
        assert set(reg.mapping["new_code"]) == set(reg.new["commune_code"]), p.short
    assert total_legacy == 10040
    assert total_new == 3321


def test_ha_tinh_209_to_69_with_two_split_communes():
    reg = load_registry("42")
    assert len(reg.legacy) == 209
    assert len(reg.new) == 69
    assert reg.legacy["commune_code"].is_unique
    split = reg.legacy[reg.legacy["split"]].set_index("commune_code")["new_commune_codes"]
    assert split.to_dict() == {"18082": "18073;18652", "18796": "18754;18823;18832"}
    # every legacy commune has exactly one default new commune, among its new communes
    defaults = reg.mapping[reg.mapping["default"]]
    assert defaults["legacy_code"].is_unique and len(defaults) == 209
    for r in reg.legacy.itertuples():
        assert r.new_commune_code in r.new_commune_codes.split(";")
    assert reg.summary()["legacy_split"][0]["name"] == "Đại Nài"


def test_merged_province_includes_all_its_former_provinces():
    # Nghệ An kept its territory; Hồ Chí Minh City absorbed Bình Dương and Bà Rịa - Vũng Tàu.
    hcm = load_registry("Hồ Chí Minh")
    assert sorted(hcm.province.legacy_codes) == ["74", "77", "79"]
    assert set(hcm.legacy["legacy_province_code"]) == {"74", "77", "79"}
    # Côn Đảo island district (no communes) appears with a district-level code
    assert "D755" in set(hcm.legacy["commune_code"])


def test_normalise_strips_vietnamese_marks():
    assert normalise("Đắk Lắk") == "daklak"
    assert normalise("Thành phố Hồ Chí Minh") == "thanhphohochiminh"
