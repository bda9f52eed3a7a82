"""Accuracy on the unbiased test set: per-(y, b) group accuracies, their mean and their minimum."""
from __future__ import annotations

import torch
from torch import nn


def chunk_size(x) -> int:
    """How many samples a forward pass without gradients takes at once: 2,048 on a GPU; 512 on a CPU, where the
    activations of smaller chunks stay in cache (a 1/8-width VGG11 evaluates 3,000 images in half the time of
    chunks of 2,048: benchmarks/channels_last.py)."""
    return 512 if x.device.type == "cpu" else 2048


@torch.no_grad()
def predict_logits(model: nn.Module, x: torch.Tensor, batch_size: int | None = None, hooks=()) -> torch.Tensor:
    """Logits of ``model`` on ``x`` in eval mode, in chunks of ``batch_size`` (default :func:`chunk_size`; no
    per-sample DataLoader).

    ``hooks``: (module, forward hook) pairs attached for the duration, so metrics can read intermediate
    activations in the same pass; the model's train/eval mode is restored afterwards."""
    was_training = model.training
    handles = [module.register_forward_hook(hook) for module, hook in hooks]
    model.eval()
    batch_size = batch_size or chunk_size(x)
    try:
        return torch.cat([model(x[i:i + batch_size]) for i in range(0, len(x), batch_size)])
    finally:
        for handle in handles:
            handle.remove()
        model.train(was_training)


def group_accuracies(correct: torch.Tensor, y: torch.Tensor, b: torch.Tensor) -> dict[tuple[int, int], float]:
    """Accuracy of every (y, b) group present, keyed by (y, b)."""
    width = int(torch.maximum(y.max(), b.max())) + 1
    group = y * width + b
    counts = torch.bincount(group, minlength=width * width)
    hits = torch.bincount(group, weights=correct.double(), minlength=width * width)
    return {(g // width, g % width): (hits[g] / counts[g]).item() for g in torch.nonzero(counts).flatten().tolist()}


def unbiased_accuracy(correct: torch.Tensor, y: torch.Tensor, b: torch.Tensor) -> float:
    """Mean of the per-(y, b)-group accuracies: the accuracy under a test distribution where y and b are
    independent and every group equally likely, whatever the group sizes of the sample at hand."""
    groups = group_accuracies(correct, y, b)
    return sum(groups.values()) / len(groups)


def worst_group_accuracy(correct: torch.Tensor, y: torch.Tensor, b: torch.Tensor) -> float:
    return min(group_accuracies(correct, y, b).values())
