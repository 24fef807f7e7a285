"""Outputs: maps, the plan editor, the QGIS project, the report, GraphML, every file writer and
the translations (:mod:`gis.outputs.i18n`, catalogs in ``locale/``). May import
:mod:`gis.analyses`, :mod:`gis.model`, :mod:`gis.inputs` and the bottom; the only layer that
writes files."""
