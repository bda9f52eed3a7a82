"""Build a model from its ``models.NAME`` config section."""
from __future__ import annotations

from torch import nn

from spurcomp.models.fcn import FCN

ARCHITECTURES = {"fcn": FCN}


def build_model(spec: dict, input_shape: tuple[int, ...], num_classes: int) -> nn.Module:
    spec = dict(spec)
    arch = spec.pop("arch", None)
    if arch not in ARCHITECTURES:
        raise ValueError(f"unknown model architecture {arch!r}; allowed: {sorted(ARCHITECTURES)}")
    try:
        return ARCHITECTURES[arch](input_shape=tuple(input_shape), num_classes=num_classes, **spec)
    except TypeError as err:
        raise ValueError(f"bad parameters for model architecture {arch!r}: {err}") from None


def hidden_activations(model: nn.Module) -> list[nn.Module]:
    """The modules whose outputs are the hidden units (neurons/channels), input side first.

    Structured pruning masks these outputs; the last one is the penultimate layer's representation.
    """
    if not hasattr(model, "hidden_activations"):
        raise TypeError(f"{type(model).__name__} does not expose hidden_activations()")
    return list(model.hidden_activations())
