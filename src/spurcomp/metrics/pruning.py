"""κ-prunability (paper sec. 3.2) with structured (neuron) pruning.

κP(f) = Acc(f^(κ)) / Acc(f) on the unbiased test set, and the paper's summary Σ_{κ ∈ 0.1..0.9} κP(f).
f^(κ) has, in every hidden layer, the fraction κ of its neurons with the smallest mean absolute
post-activation on training samples removed (the neurons that carry the least signal forward; a dead neuron
scores 0 and is pruned first, at no cost). Removing neuron i means zeroing its incoming weights and bias,
which (for ReLU) is exactly zeroing its post-activation; we apply that as a mask on the activation module's
output, so no copy of the model is made per κ. A uniform per-layer rate keeps every layer alive (a global
ranking can empty a layer), and scoring on training data means the test set that scores the pruned model
never chooses what is pruned. ``weight_norm_scores`` is the data-free alternative (incoming weight norm).
"""
from __future__ import annotations

import contextlib
import math

import torch
from torch import nn

from spurcomp.metrics.accuracy import predict_logits, unbiased_accuracy
from spurcomp.models import hidden_activations

DEFAULT_KAPPAS = tuple(round(0.1 * k, 1) for k in range(1, 10))


def incoming_layers(model: nn.Module) -> list[nn.Module]:
    """The weight layer feeding each hidden activation module (e.g. the Linear before each ReLU)."""
    if hasattr(model, "incoming_layers"):
        return list(model.incoming_layers())
    modules = list(model.modules())
    layers = []
    for act in hidden_activations(model):
        position = next(i for i, m in enumerate(modules) if m is act)
        layer = next((m for m in reversed(modules[:position]) if hasattr(m, "weight")), None)
        if layer is None:
            raise TypeError(f"no weight layer found before {act}")
        layers.append(layer)
    return layers


@torch.no_grad()
def weight_norm_scores(model: nn.Module) -> list[torch.Tensor]:
    """Per hidden layer, the L2 norm of each neuron's incoming weights and bias (data-free criterion)."""
    scores = []
    for layer in incoming_layers(model):
        sq = layer.weight.flatten(1).pow(2).sum(dim=1)
        if getattr(layer, "bias", None) is not None:
            sq = sq + layer.bias.pow(2)
        scores.append(sq.sqrt())
    return scores


@torch.no_grad()
def activation_scores(model: nn.Module, x: torch.Tensor, batch_size: int = 2048) -> list[torch.Tensor]:
    """Per hidden layer, each unit's mean absolute post-activation over ``x`` (over positions too for feature
    maps): the pruning criterion of :func:`kappa_prunability`."""
    acts = hidden_activations(model)
    totals: list[torch.Tensor | None] = [None] * len(acts)

    def hook_for(i):
        def hook(_module, _inputs, output):
            per_unit = output.abs().transpose(0, 1).flatten(1).mean(dim=1) * len(output)
            totals[i] = per_unit if totals[i] is None else totals[i] + per_unit
        return hook

    handles = [act.register_forward_hook(hook_for(i)) for i, act in enumerate(acts)]
    was_training = model.training
    model.eval()
    try:
        for i in range(0, len(x), batch_size):
            model(x[i:i + batch_size])
    finally:
        for handle in handles:
            handle.remove()
        model.train(was_training)
    return [t / len(x) for t in totals]


def structured_masks(scores: list[torch.Tensor], kappa: float) -> list[torch.Tensor]:
    """Keep-masks that drop floor(κ·width) lowest-scoring neurons of every layer (ties: lower index first)."""
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
    """Within the block, the hidden units with a False mask output zero (neurons, or channels of a feature map)."""
    acts = hidden_activations(model)
    if len(acts) != len(masks):
        raise ValueError(f"{len(masks)} masks for {len(acts)} hidden layers")

    def hook_for(mask):
        def hook(_module, _inputs, output):
            shape = (1, -1) + (1,) * (output.dim() - 2)
            return output * mask.to(output.dtype).view(shape)
        return hook

    handles = [act.register_forward_hook(hook_for(mask)) for act, mask in zip(acts, masks)]
    try:
        yield model
    finally:
        for handle in handles:
            handle.remove()


def kappa_prunability(model: nn.Module, x: torch.Tensor, y: torch.Tensor, b: torch.Tensor,
                      kappas=DEFAULT_KAPPAS, scores: list[torch.Tensor] | None = None) -> dict[float, tuple[float, float]]:
    """For each κ: (κP, pruned unbiased accuracy). κP is the unbiased accuracy of the pruned model over that of
    the unpruned one; ``scores`` rank the units of each layer (lowest pruned first), by default
    :func:`activation_scores` on ``x``, but callers should pass scores computed on training data.

    An unpruned model with zero unbiased accuracy has no accuracy to retain: κP is then NaN, logged by the caller.
    """
    def accuracy() -> float:
        return unbiased_accuracy(predict_logits(model, x).argmax(dim=1) == y, y, b)

    base = accuracy()
    scores = scores if scores is not None else activation_scores(model, x)
    result = {}
    for kappa in kappas:
        with masked_units(model, structured_masks(scores, kappa)):
            pruned = accuracy()
        result[float(kappa)] = (pruned / base if base > 0 else float("nan"), pruned)
    return result
