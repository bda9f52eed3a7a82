"""Properties of the learned representation: the penultimate layer's post-activations (paper sec. 3.3)."""
from __future__ import annotations

import torch
from torch import nn

from spurcomp.models import hidden_activations


@torch.no_grad()
def penultimate_activations(model: nn.Module, x: torch.Tensor, batch_size: int = 2048) -> torch.Tensor:
    """Post-activations of the last hidden layer, one row per sample (feature maps flattened)."""
    captured: list[torch.Tensor] = []
    handle = hidden_activations(model)[-1].register_forward_hook(
        lambda _m, _i, output: captured.append(output.flatten(1)))
    was_training = model.training
    model.eval()
    try:
        for i in range(0, len(x), batch_size):
            model(x[i:i + batch_size])
    finally:
        handle.remove()
        model.train(was_training)
    return torch.cat(captured)


def activation_sparsity(activations: torch.Tensor) -> float:
    """Mean over samples of Sparsity(z) = 1 - ‖z‖₀ / d (paper sec. 3.2)."""
    if activations.dim() != 2 or activations.numel() == 0:
        raise ValueError(f"expected a non-empty (samples, units) matrix, got shape {tuple(activations.shape)}")
    return (activations == 0).float().mean().item()
