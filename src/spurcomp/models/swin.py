"""Swin Transformer (Liu et al. 2021; paper sec. 4.2, Fig. 7), torchvision's implementation.

``size: t``: torchvision's ``swin_t`` (patch 4, embedding 96, depths 2-2-6-2, heads 3-6-12-24, window 7).
``size: small`` (the default scale): the same design, fewer and narrower blocks (embedding 32, depths 1-1-2-1,
heads 1-2-4-8, window 4: the same 32 channels per head), for a laptop CPU.

``pretrained``: a path to a state dict of the same model (e.g. torchvision's ImageNet-1k ``swin_t`` weights,
``swin_t-704ceda3.pth``), or ``torchvision`` for that file in torch's hub cache; its classifier head is replaced
(another number of classes). Absent: trained from scratch. Inputs in [0, 1] are normalised with ImageNet's mean
and std inside the model, as the pretrained weights expect.
"""
from __future__ import annotations

from pathlib import Path

import torch
import torchvision
from torch import nn

from spurcomp.models.unit_layer import UnitLayer

SIZES = {
    "t": {"patch_size": [4, 4], "embed_dim": 96, "depths": [2, 2, 6, 2], "num_heads": [3, 6, 12, 24],
          "window_size": [7, 7], "stochastic_depth_prob": 0.2},
    "small": {"patch_size": [4, 4], "embed_dim": 32, "depths": [1, 1, 2, 1], "num_heads": [1, 2, 4, 8],
              "window_size": [4, 4], "stochastic_depth_prob": 0.1},
}
TORCHVISION_WEIGHTS = "swin_t-704ceda3.pth"  # torchvision's Swin_T_Weights.IMAGENET1K_V1 file name
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


def pretrained_path(pretrained: str) -> Path:
    """The weights file ``pretrained`` names (``torchvision``: the hub cache's swin_t file)."""
    path = Path(torch.hub.get_dir()) / "checkpoints" / TORCHVISION_WEIGHTS if pretrained == "torchvision" \
        else Path(pretrained)
    if not path.exists():
        raise FileNotFoundError(
            f"Swin pretrained weights {path} not found (models.*.pretrained: {pretrained!r}). Put torchvision's "
            f"ImageNet-1k swin_t state dict there (or give its path), or remove `pretrained` to train from scratch")
    return path


class Swin(nn.Module):
    def __init__(self, input_shape: tuple[int, ...], num_classes: int, size: str = "small",
                 pretrained: str | None = None):
        super().__init__()
        if size not in SIZES:
            raise ValueError(f"unknown Swin size {size!r}; allowed: {sorted(SIZES)}")
        if len(input_shape) != 3:
            raise ValueError(f"Swin needs image inputs (channels, height, width), not {input_shape}")
        net = torchvision.models.SwinTransformer(num_classes=num_classes, **SIZES[size])
        if pretrained:
            state = torch.load(pretrained_path(pretrained), map_location="cpu", weights_only=True)
            state = {k: v for k, v in state.items() if not k.startswith("head.")}
            try:
                missing, unexpected = net.load_state_dict(state, strict=False)
            except RuntimeError as err:  # shapes differ
                raise ValueError(f"Swin pretrained weights {pretrained} do not fit size {size!r}: "
                                 f"{str(err).splitlines()[1].strip()}") from None
            if unexpected or any(not k.startswith("head.") for k in missing):
                raise ValueError(f"Swin pretrained weights {pretrained} do not fit size {size!r}: missing "
                                 f"{[k for k in missing if not k.startswith('head.')][:5]}, unexpected {unexpected[:5]}")
        if input_shape[0] != 3:
            patch = net.features[0][0]
            net.features[0][0] = nn.Conv2d(input_shape[0], patch.out_channels, patch.kernel_size, patch.stride)
        self.net = net
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN[:1] * input_shape[0] if input_shape[0] != 3
                                                  else IMAGENET_MEAN).view(1, -1, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD[:1] * input_shape[0] if input_shape[0] != 3
                                                 else IMAGENET_STD).view(1, -1, 1, 1), persistent=False)

    def forward(self, x):
        return self.net((x - self.mean) / self.std)

    def unit_layers(self) -> list[UnitLayer]:
        """The hidden units of every block's MLP (Linear, GELU, Dropout, Linear), masked after the GELU. Tokens are
        channels-last, so the units are the last dimension of the output."""
        return [UnitLayer(block.mlp[1], block.mlp[0], None, block.mlp[3], unit_dim=-1)
                for block in self.net.modules() if isinstance(block, torchvision.models.swin_transformer.SwinTransformerBlock)]

    def representation(self) -> nn.Module:
        """The last block's MLP hidden units after their GELU: like the other models' penultimate ReLU units they
        are (all but slightly) non-negative, which the class selectivity index assumes; the pooled, layer-normed
        features before the head are signed, and CSI on them is meaningless (values far outside [0, 1]). Every
        token's units count (at the default scale's 32 px the last stage is a single token)."""
        return self.unit_layers()[-1].output
