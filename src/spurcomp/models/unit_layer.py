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
    units (their outgoing weights)."""

    output: nn.Module
    producer: nn.Module
    norm: nn.Module | None
    consumer: nn.Module
