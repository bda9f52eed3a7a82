"""torchvision ResNets (ResNet18, ResNet50, Wide ResNet-101-2), adapted to small images the usual way:
a 3x3 stride-1 first convolution and no max-pooling when the input is 64 px or smaller; ``width`` scales every
stage's channels (default-scale runs on a laptop: ResNet18 x1/8)."""
from __future__ import annotations

import torchvision
from torch import nn
from torchvision.models.resnet import BasicBlock, Bottleneck

from spurcomp.models.unit_layer import UnitLayer

CONSTRUCTORS = {
    "resnet18": torchvision.models.resnet18,
    "resnet50": torchvision.models.resnet50,
    "wide_resnet101_2": torchvision.models.wide_resnet101_2,
}


STAGE_WIDTHS = (64, 128, 256, 512)


def _narrow(net: torchvision.models.ResNet, width: float, num_classes: int) -> None:
    """Rebuild ``net``'s stages with ``width`` times the channels (torchvision's own ``_make_layer`` and
    initialisation), for laptop-scale runs of the same design."""
    block = type(net.layer1[0])
    planes = [max(1, round(c * width)) for c in STAGE_WIDTHS]
    net.inplanes, net.dilation = planes[0], 1
    net.bn1 = nn.BatchNorm2d(planes[0])
    for i, stage in enumerate(("layer1", "layer2", "layer3", "layer4")):
        setattr(net, stage, net._make_layer(block, planes[i], len(getattr(net, stage)), stride=1 if i == 0 else 2))
    net.fc = nn.Linear(planes[3] * block.expansion, num_classes)
    for m in net.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")


class ResNet(nn.Module):
    # pruning may cut units out of the weights (metrics.pruning.separable_units): the units are the blocks' inner
    # filters, whose outputs reach the next inner convolution only (the residual stream's channels are not units)
    UNITS_SEPARABLE = True

    def __init__(self, input_shape: tuple[int, ...], num_classes: int, depth: str = "resnet18", width: float = 1.0):
        super().__init__()
        if depth not in CONSTRUCTORS:
            raise ValueError(f"unknown ResNet {depth!r}; allowed: {sorted(CONSTRUCTORS)}")
        net = CONSTRUCTORS[depth](weights=None, num_classes=num_classes)
        if width != 1.0:
            _narrow(net, width, num_classes)
        in_channels, height, stem = input_shape[0], min(input_shape[1:]), net.bn1.num_features
        if height <= 64:
            net.conv1 = nn.Conv2d(in_channels, stem, 3, stride=1, padding=1, bias=False)
            net.maxpool = nn.Identity()
        elif in_channels != 3 or stem != 64:
            net.conv1 = nn.Conv2d(in_channels, stem, 7, stride=2, padding=3, bias=False)
        self.net = net
        self.flatten = nn.Flatten()

    def forward(self, x):
        n = self.net
        x = n.maxpool(n.relu(n.bn1(n.conv1(x))))
        x = n.layer4(n.layer3(n.layer2(n.layer1(x))))
        return n.fc(self.flatten(n.avgpool(x)))

    def unit_layers(self) -> list[UnitLayer]:
        """The filters of each block's inner convolutions, masked at their batch-norm (before the ReLU), which
        removes the filter and its batch-norm channel. Channels of the residual stream are tied across blocks
        and are left alone, as is usual for structured ResNet pruning."""
        layers = []
        for block in self.net.modules():
            if isinstance(block, BasicBlock):
                layers.append(UnitLayer(block.bn1, block.conv1, block.bn1, block.conv2))
            elif isinstance(block, Bottleneck):
                layers += [UnitLayer(block.bn1, block.conv1, block.bn1, block.conv2),
                           UnitLayer(block.bn2, block.conv2, block.bn2, block.conv3)]
        return layers

    def representation(self) -> nn.Module:
        return self.flatten
