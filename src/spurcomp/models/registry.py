"""Build a model from its ``models.NAME`` config section, and the two views of it that metrics need."""
from __future__ import annotations

from typing import Protocol, runtime_checkable

from torch import nn

from spurcomp.models.cnn import CNN
from spurcomp.models.fcn import FCN
from spurcomp.models.unit_layer import UnitLayer

ARCHITECTURES = ("fcn", "cnn", "resnet", "swin")


def _constructor(arch: str):
    if arch == "resnet":
        from spurcomp.models.resnet import ResNet  # torchvision: imported only by jobs that build a ResNet

        return ResNet
    if arch == "swin":
        from spurcomp.models.swin import Swin  # torchvision, as the ResNets

        return Swin
    return {"fcn": FCN, "cnn": CNN}[arch]


@runtime_checkable
class PaperModel(Protocol):
    """What the metrics need of a model, beyond being an ``nn.Module``."""

    def unit_layers(self) -> list[UnitLayer]:
        """The layers of units that structured pruning ranks and removes, input to output."""

    def representation(self) -> nn.Module:
        """The module whose output is the learned representation (penultimate layer's post-activations)."""


def _paper_model(model: nn.Module) -> PaperModel:
    if not isinstance(model, PaperModel):
        raise TypeError(f"{type(model).__name__} does not implement the model contract (spurcomp.models.PaperModel: "
                        f"unit_layers() and representation())")
    return model


def build_model(spec: dict, input_shape: tuple[int, ...], num_classes: int) -> nn.Module:
    spec = dict(spec)
    arch = spec.pop("arch", None)
    if arch not in ARCHITECTURES:
        raise ValueError(f"unknown model architecture {arch!r}; allowed: {sorted(ARCHITECTURES)}")
    try:
        return _constructor(arch)(input_shape=tuple(input_shape), num_classes=num_classes, **spec)
    except TypeError as err:
        raise ValueError(f"bad parameters for model architecture {arch!r}: {err}") from None


def unit_layers(model: nn.Module) -> list[UnitLayer]:
    """See :meth:`PaperModel.unit_layers`."""
    return list(_paper_model(model).unit_layers())


def prunable_units(model: nn.Module) -> list[nn.Module]:
    """The modules whose outputs are masked to prune units, one per :class:`UnitLayer`."""
    return [layer.output for layer in unit_layers(model)]


def representation_module(model: nn.Module) -> nn.Module:
    """See :meth:`PaperModel.representation`."""
    return _paper_model(model).representation()
