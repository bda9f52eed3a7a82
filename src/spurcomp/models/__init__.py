"""Models selected by name in the config (``models.NAME.arch``)."""
from spurcomp.models.registry import ARCHITECTURES, PaperModel, build_model, prunable_units, representation_module

__all__ = ["ARCHITECTURES", "PaperModel", "build_model", "prunable_units", "representation_module"]
