"""κ-prunability (paper sec. 3.2): structured (neuron / filter) and unstructured (weight magnitude).

κP(f) = Acc(f^(κ)) / Acc(f) on the unbiased test set, and the paper's summary Σ_{κ ∈ 0.1..0.9} κP(f).

Structured (the paper's main metric): in every prunable layer (``prunable_units``: FCN neurons, CNN/ResNet
filters with their batch-norm channels) the fraction κ of units with the smallest mean post-activation on
training samples is removed (the units that carry the least signal forward; a dead unit scores 0 and is
pruned first, at no cost). Removing a unit means zeroing its output channel, which equals zeroing its
incoming weights, bias and batch-norm channel; it is applied as a mask on the unit module's output, so no
copy of the model is made per κ. A uniform per-layer rate keeps every layer alive (a global ranking can empty
a layer), and scoring on training data means the test set that scores the pruned model never chooses what
is pruned.

Unstructured: the fraction κ of all weights of weight matrices and convolution kernels (tensors with 2 or
more dimensions) with the smallest magnitude, ranked globally, is set to zero in place and restored after.
"""
from __future__ import annotations

import contextlib
import math

import torch
from torch import nn

from spurcomp.metrics.accuracy import predict_logits, unbiased_accuracy
from spurcomp.models import prunable_units

DEFAULT_KAPPAS = tuple(round(0.1 * k, 1) for k in range(1, 10))


def activation_scores(model: nn.Module, x: torch.Tensor, batch_size: int = 2048) -> list[torch.Tensor]:
    """Per prunable layer, each unit's mean post-activation over ``x`` (and over positions of a feature map).

    The positive part of the unit module's output is used, which is the post-ReLU activation both for ReLU
    modules and for batch-norm layers that feed a ReLU."""
    units = prunable_units(model)
    totals: list[torch.Tensor | None] = [None] * len(units)

    def hook_for(i):
        def hook(_module, _inputs, output):
            per_unit = output.clamp(min=0).transpose(0, 1).flatten(1).mean(dim=1) * len(output)
            totals[i] = per_unit if totals[i] is None else totals[i] + per_unit
        return hook

    predict_logits(model, x, batch_size, hooks=[(unit, hook_for(i)) for i, unit in enumerate(units)])
    return [t / len(x) for t in totals]


def structured_masks(scores: list[torch.Tensor], kappa: float) -> list[torch.Tensor]:
    """Keep-masks that drop floor(κ·width) lowest-scoring units of every layer (ties: lower index first)."""
    if not 0.0 <= kappa <= 1.0:
        raise ValueError(f"kappa must be in [0, 1], got {kappa}")
    masks = []
    for s in scores:
        n_pruned = math.floor(kappa * len(s) + 1e-9)
        keep = torch.ones_like(s, dtype=torch.bool)
        keep[torch.argsort(s, stable=True)[:n_pruned]] = False
        masks.append(keep)
    return masks


@contextlib.contextmanager
def masked_units(model: nn.Module, masks: list[torch.Tensor]):
    """Within the block, the units with a False mask output zero (neurons, or channels of a feature map)."""
    units = prunable_units(model)
    if len(units) != len(masks):
        raise ValueError(f"{len(masks)} masks for {len(units)} prunable layers")

    def hook_for(mask):
        def hook(_module, _inputs, output):
            shape = (1, -1) + (1,) * (output.dim() - 2)
            return output * mask.to(output.dtype).view(shape)
        return hook

    handles = [unit.register_forward_hook(hook_for(mask)) for unit, mask in zip(units, masks)]
    try:
        yield model
    finally:
        for handle in handles:
            handle.remove()


def prunable_weights(model: nn.Module) -> list[nn.Parameter]:
    """Weight matrices and convolution kernels: the parameters unstructured pruning ranks."""
    return [p for name, p in model.named_parameters() if p.dim() >= 2 and name.endswith("weight")]


@contextlib.contextmanager
def magnitude_pruned(model: nn.Module, kappa: float):
    """Within the block, the fraction κ of smallest-magnitude weights (global ranking) are zero.

    One copy of the weights is kept to restore them, whatever the number of κ evaluated."""
    if not 0.0 <= kappa <= 1.0:
        raise ValueError(f"kappa must be in [0, 1], got {kappa}")
    weights = prunable_weights(model)
    saved = [w.detach().clone() for w in weights]
    magnitudes = torch.cat([w.detach().abs().flatten() for w in weights])
    n_pruned = math.floor(kappa * len(magnitudes) + 1e-9)
    try:
        if n_pruned:
            # rank, not threshold, so ties at the threshold cannot prune more than the fraction κ
            keep = torch.ones_like(magnitudes, dtype=torch.bool)
            keep[torch.argsort(magnitudes, stable=True)[:n_pruned]] = False
            offset = 0
            with torch.no_grad():
                for w in weights:
                    w.mul_(keep[offset:offset + w.numel()].view_as(w).to(w.dtype))
                    offset += w.numel()
        yield model
    finally:
        with torch.no_grad():
            for w, original in zip(weights, saved):
                w.copy_(original)


def kappa_prunability(model: nn.Module, x: torch.Tensor, y: torch.Tensor, b: torch.Tensor,
                      kappas=DEFAULT_KAPPAS, scores: list[torch.Tensor] | None = None,
                      structured: bool = True) -> dict[float, tuple[float, float]]:
    """For each κ: (κP, pruned unbiased accuracy). κP is the unbiased accuracy of the pruned model over that of
    the unpruned one. Structured pruning ranks units by ``scores`` (lowest pruned first), by default
    :func:`activation_scores` on ``x``; callers should pass scores computed on training data.

    An unpruned model with zero unbiased accuracy has no accuracy to retain: κP is then NaN, logged by the caller.
    """
    def accuracy() -> float:
        return unbiased_accuracy(predict_logits(model, x).argmax(dim=1) == y, y, b)

    base = accuracy()
    if structured and scores is None:
        scores = activation_scores(model, x)
    result = {}
    for kappa in kappas:
        pruning = masked_units(model, structured_masks(scores, kappa)) if structured else magnitude_pruned(model, kappa)
        with pruning:
            pruned = accuracy()
        result[float(kappa)] = (pruned / base if base > 0 else float("nan"), pruned)
    return result
