"""Analyses: access, siting, plans, the referral network (and the capacity analyses): tables in,
results out. May import :mod:`gis.model`, :mod:`gis.inputs` (types and validation, never the
file readers) and the bottom; read no file and write none."""
