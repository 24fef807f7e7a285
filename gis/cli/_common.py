"""Helpers shared by subcommands: loading the configuration with command-line overrides."""

from __future__ import annotations

import argparse

from gis.errors import ConfigError
from gis.inputs.config import Config, load_config
from gis.inputs.registry import find_province


def config_from_args(args: argparse.Namespace) -> Config:
    """Load ``--config`` (or ./config.toml, or the defaults) and apply ``--province``."""
    cfg = load_config(getattr(args, "config", None))
    if getattr(args, "province", None):
        wanted = find_province(args.province)
        current = find_province(cfg.province.name)
        if wanted.code != current.code:
            cfg = cfg.with_province(wanted.code)
    total = getattr(args, "population_total", None)
    if total is not None:
        from dataclasses import replace


        if not total > 0:
            msg = f"--population-total: expected a number of persons above 0, found {total:g}"
            raise ConfigError(msg)
        cfg = replace(cfg, province=replace(cfg.province, population_total=total))
    return cfg
