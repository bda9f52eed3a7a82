"""The paper's CNN: a slightly simplified VGG11 (batch-norm after every convolution, global average pooling
and a single linear classifier instead of VGG's two 4096-wide fully connected layers)."""
from __future__ import annotations

from torch import nn

from spurcomp.models.unit_layer import UnitLayer

VGG11 = [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"]


class CNN(nn.Module):
    # pruning may cut units out of the weights (metrics.pruning.separable_units): a filter's output reaches the
    # next convolution (or the classifier) only
    UNITS_SEPARABLE = True

    def __init__(self, input_shape: tuple[int, ...], num_classes: int, width: float = 1.0):
        super().__init__()
        channels, layers = input_shape[0], []
        blocks: list[tuple[nn.Module, nn.Module, nn.Module]] = []  # (conv, batch-norm, ReLU) per convolution
        pools = 0
        for spec in VGG11:
            if spec == "M":
                # small inputs run out of pixels before VGG's five poolings: skip those that would empty the map
                if min(input_shape[1:]) // 2 ** (pools + 1) >= 1:
                    layers.append(nn.MaxPool2d(2))
                    pools += 1
                continue
            out = max(1, int(round(spec * width)))
            block = (nn.Conv2d(channels, out, 3, padding=1, bias=False), nn.BatchNorm2d(out), nn.ReLU())
            layers += block
            blocks.append(block)
            channels = out
        self.features = nn.Sequential(*layers)
        self.pool = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.classifier = nn.Linear(channels, num_classes)
        consumers = [conv for conv, _, _ in blocks[1:]] + [self.classifier]
        # a plain list: the modules are registered once, in features
        self._unit_layers = [UnitLayer(relu, conv, bn, consumer) for (conv, bn, relu), consumer in zip(blocks, consumers)]

    def forward(self, x):
        return self.classifier(self.pool(self.features(x)))

    def unit_layers(self) -> list[UnitLayer]:
        """Each convolution's filters, with their batch-norm channels (masking the post-ReLU channel)."""
        return list(self._unit_layers)

    def representation(self) -> nn.Module:
        return self.pool
