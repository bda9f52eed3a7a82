"""Models selected by name in the config (``models.NAME.arch``), each implementing :class:`PaperModel`."""
from spurcomp.models.registry import (ARCHITECTURES, PaperModel, UnitLayer, build_model, prunable_units,
                                      representation_module, unit_layers)

__all__ = ["ARCHITECTURES", "PaperModel", "UnitLayer", "build_model", "prunable_units", "representation_module",
           "unit_layers"]
