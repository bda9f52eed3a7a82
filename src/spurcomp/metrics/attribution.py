"""Integrated Gradients attributions (captum) summed over core, spurious and noise features (paper sec. 3.3).

The paper averages IG over 10 random seeds; here each seed draws a random baseline uniformly from the data's
input range (with an all-zero baseline, features whose value is 0, such as the empty pixels that carry
moon-star's location cue, could never receive attribution).
"""
from __future__ import annotations

import torch
from captum.attr import IntegratedGradients
from torch import nn

from spurcomp.runtime import derived_seed, logger

FEATURE_KINDS = ("core", "spurious", "noise")


def attribution_shares(attributions: torch.Tensor, masks: dict[str, torch.Tensor]) -> dict[str, float]:
    """Share of the total absolute attribution that falls on each feature kind, averaged over samples.

    ``attributions`` and each mask have shape (samples, *input). Samples whose attributions are all zero carry
    no information on where the model looks and are left out; if every sample is all-zero the shares are NaN
    and a warning says so.
    """
    magnitude = attributions.abs().flatten(1)
    total = magnitude.sum(dim=1)
    informative = total > 0
    if not informative.any():
        logger.warning("all attributions are zero (a dead or constant model): attribution shares are NaN")
        return {kind: float("nan") for kind in masks}
    shares = {}
    for kind, mask in masks.items():
        part = (magnitude * mask.flatten(1).to(magnitude.dtype)).sum(dim=1)
        shares[kind] = (part[informative] / total[informative]).mean().item()
    return shares


def integrated_gradients_shares(model: nn.Module, x: torch.Tensor, target: torch.Tensor,
                                masks: dict[str, torch.Tensor], input_range: tuple[float, float], *,
                                n_baselines: int = 10, n_steps: int = 32, seed: int = 0,
                                internal_batch_size: int = 4096) -> dict[str, float]:
    """IG attribution shares per feature kind, averaged over ``n_baselines`` random baselines."""
    was_training = model.training
    model.eval()
    ig = IntegratedGradients(model)
    low, high = input_range
    totals = {kind: 0.0 for kind in masks}
    try:
        for k in range(n_baselines):
            generator = torch.Generator().manual_seed(derived_seed("ig-baseline", seed, k))
            baseline = (low + (high - low) * torch.rand(x.shape[1:], generator=generator)).to(x.device)
            attributions = ig.attribute(x, baselines=baseline.unsqueeze(0), target=target, n_steps=n_steps,
                                        internal_batch_size=internal_batch_size)
            for kind, share in attribution_shares(attributions, masks).items():
                totals[kind] += share / n_baselines
    finally:
        model.train(was_training)
    return totals
