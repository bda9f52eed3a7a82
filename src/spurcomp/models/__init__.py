"""Models selected by name in the config (``models.NAME.arch``)."""
from spurcomp.models.registry import ARCHITECTURES, build_model, prunable_units, representation_module

__all__ = ["ARCHITECTURES", "build_model", "prunable_units", "representation_module"]
