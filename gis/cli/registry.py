"""``gis registry``: what the administrative registry knows of a province."""

from __future__ import annotations

import argparse
import json

from gis.errors import RegistryError
from gis.inputs.registry import load_registry, provinces


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("registry", help="summary of a province's communes before and after 2025",
                       description="Communes before and after 1 July 2025 and the old->new "
                                   "mapping, for any province (code, name or key).")
    p.add_argument("province", nargs="?", default=None,
                   help='code or name, e.g. 42, "Hà Tĩnh", "ha tinh"')
    p.add_argument("--list", action="store_true", help="list the 34 provinces")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.add_argument("--mapping", action="store_true",
                   help="print the old->new mapping as CSV (legacy_code,new_code,split,default)")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    if args.list or args.province is None:
        if args.province is None and not args.list:
            msg = "name a province (code or name) or pass --list"
            raise RegistryError(msg)
        for p in provinces():
            print(f"{p.code}  {p.short}  ({p.name}; key {p.key}; from {', '.join(p.legacy_codes)})")
        return 0
    reg = load_registry(args.province)
    if args.mapping:
        print(reg.mapping.to_csv(index=False), end="")
        return 0
    s = reg.summary()
    if args.json:
        print(json.dumps(s, ensure_ascii=False, indent=2))
        return 0
    types_new = ", ".join(f"{v} {k}" for k, v in s["new_commune_types"].items())
    types_old = ", ".join(f"{v} {k}" for k, v in s["legacy_commune_types"].items())
    print(f"{s['province_name']} (code {s['province_code']}), working CRS EPSG:{s['utm_epsg']}")
    print(f"  before 1 July 2025: {s['legacy_communes']} communes ({types_old}) in "
          f"{s['legacy_districts']} districts, from province(s) "
          f"{', '.join(s['legacy_province_codes'])}")
    print(f"  after:              {s['new_communes']} communes ({types_new})")
    print(f"  split among several new communes: {len(s['legacy_split'])}")
    for item in s["legacy_split"]:
        print(f"    {item['code']} {item['name']} -> {', '.join(item['new_codes'])}")
    return 0
