"""Fully connected ReLU network (paper sec. 5: 3 hidden layers of width 200)."""
from __future__ import annotations

import math

from torch import nn

from spurcomp.models.unit_layer import UnitLayer


class FCN(nn.Sequential):
    """Flatten -> [Linear -> ReLU] x len(hidden) -> Linear.

    Each hidden ReLU is its own module so that pruning masks and representation hooks can attach to it;
    the last one holds the penultimate layer's post-activations (the paper's "learned representations").
    """

    # pruning may cut units out of the weights (metrics.pruning.separable_units): a neuron's output reaches the
    # next Linear only
    UNITS_SEPARABLE = True

    def __init__(self, input_shape: tuple[int, ...], hidden: list[int], num_classes: int):
        layers: list[nn.Module] = [nn.Flatten()]
        width = math.prod(input_shape)
        for h in hidden:
            layers += [nn.Linear(width, h), nn.ReLU()]
            width = h
        layers.append(nn.Linear(width, num_classes))
        super().__init__(*layers)

    def unit_layers(self) -> list[UnitLayer]:
        """Each hidden layer's neurons: the Linear before its ReLU, the Linear after it."""
        linears = [m for m in self if isinstance(m, nn.Linear)]
        relus = [m for m in self if isinstance(m, nn.ReLU)]
        return [UnitLayer(relu, linears[i], None, linears[i + 1]) for i, relu in enumerate(relus)]

    def representation(self) -> nn.Module:
        return [m for m in self if isinstance(m, nn.ReLU)][-1]
