"""Inputs: config, the administrative registry, readers and validation of the user's layers, the
province's layers built from them, plan files. May import only :mod:`gis.errors` and
:mod:`gis.jsonable`; the only layer that reads input files."""
