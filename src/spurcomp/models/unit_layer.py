"""The unit of structured pruning, as a model describes its layers to the metrics."""
from __future__ import annotations

from dataclasses import dataclass

from torch import nn


@dataclass(frozen=True)
class UnitLayer:
    """One layer of structured-pruning units (neurons of an FCN, filters of a CNN or ResNet) and the modules
    whose parameters a unit owns.

    ``output``: the module whose output channels (dim 1) are the units; it is masked to prune them, and its output
    is >= 0 where a unit is active (a ReLU) or becomes the ReLU's input (a batch-norm before a ReLU).
    ``producer``: the Linear or Conv2d whose output channels are the units (their incoming weights and bias).
    ``norm``: the units' batch-norm, if any. ``consumer``: the Linear or Conv2d whose input channels are the
    units (their outgoing weights). ``unit_dim``: the dimension of ``output``'s output that indexes the units (1 for
    neurons and feature maps; -1 for a transformer's channels-last tokens)."""

    output: nn.Module
    producer: nn.Module
    norm: nn.Module | None
    consumer: nn.Module
    unit_dim: int = 1

    def units_first(self, output):
        """``output`` with the units as dimension 1 (samples first)."""
        return output if self.unit_dim == 1 else output.movedim(self.unit_dim, 1)

    def mask_shape(self, output) -> tuple[int, ...]:
        """The shape a per-unit mask broadcasts to over ``output``."""
        shape = [1] * output.dim()
        shape[self.unit_dim] = -1
        return tuple(shape)
