"""Model: the demand surface and the travel models with their cost tables and queries (nearest
open site). May import :mod:`gis.inputs` and the bottom (:mod:`gis.errors`); reads no file and
writes none."""
