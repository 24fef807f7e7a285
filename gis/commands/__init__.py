"""Subcommands of ``gis``: one module each, every module exposes ``register(subparsers)``.

Shared options live in :mod:`gis.commands._options`.
"""
