"""Outputs: maps, the plan editor, the QGIS project, the report, GraphML and every file writer.
May import :mod:`gis.analyses`, :mod:`gis.model`, :mod:`gis.inputs` and the bottom; the only
layer that writes files."""
