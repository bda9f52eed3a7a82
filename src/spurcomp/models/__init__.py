"""Models selected by name in the config (``models.NAME.arch``)."""
from spurcomp.models.registry import ARCHITECTURES, build_model, hidden_activations

__all__ = ["ARCHITECTURES", "build_model", "hidden_activations"]
