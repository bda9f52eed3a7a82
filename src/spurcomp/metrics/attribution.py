"""Attribution metrics on Integrated Gradients maps (captum): feature-kind shares (paper sec. 3.3), attribution
entropy and background attribution percentage (sec. 6).

The paper averages IG over 10 random seeds; by default each seed draws a random baseline uniformly from the data's
input range (with an all-zero baseline, features whose value is 0, such as the empty pixels that carry
moon-star's location cue, could never receive attribution). ``baseline="zero"`` uses the one all-zero baseline of
the authors' later public code (mbarsbey/advcomp) instead.

A sample whose attributions are all zero says nothing about where the model looks: it is left out of every
average here, and if every sample is all-zero the result is NaN with a warning.
"""
from __future__ import annotations

import torch
from captum.attr import IntegratedGradients
from torch import nn

from spurcomp.runtime import derived_seed, logger

FEATURE_KINDS = ("core", "spurious", "noise")
BASELINES = ("uniform", "zero")


class _SummedTargetLogit(nn.Module):
    """Σ_i model(x)_i[target_i], shaped (1,). In eval mode samples do not interact, so the gradient of this sum
    with respect to each x_i is that sample's own target-logit gradient: the attributions are those of the
    per-sample outputs, computed with one backward pass instead of one gradient output per sample."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return self.model(x).gather(1, target[:, None]).sum().reshape(1)


# input elements per forward pass of IG: larger passes of image models spend more time faulting in and zeroing
# fresh memory than computing (ResNet18 x1/8 at 64 px: 2.7x slower in one pass of 800 images; VGG11 x1/8 at 28 px:
# 1.8x)
PASS_ELEMENTS = 2**20


def integrated_gradients(model: nn.Module, x: torch.Tensor, target: torch.Tensor, input_range: tuple[float, float],
                         *, n_baselines: int = 10, n_steps: int = 32, seed: int = 0, baseline: str = "uniform",
                         internal_batch_size: int = 8192) -> torch.Tensor:
    """IG attributions of ``x`` towards ``target``, one map per baseline: (n_baselines, *x.shape) for
    ``uniform`` random baselines, (1, *x.shape) for the ``zero`` baseline.

    All baselines go through captum together (the samples repeated once per baseline); ``internal_batch_size``
    inputs per pass, as captum counts them: ``internal_batch_size // (samples x baselines)`` steps per pass. The
    samples go in groups whose passes hold at most ``PASS_ELEMENTS`` input elements, each group's steps in the
    passes one call over every sample would make: in eval mode samples do not interact, so every map is that
    one call's, to float rounding (a batch's size can change a convolution's order of summation; tested)."""
    if baseline not in BASELINES:
        raise ValueError(f"unknown IG baseline {baseline!r}; allowed: {list(BASELINES)}")
    was_training = model.training
    model.eval()
    low, high = input_range
    baselines = []
    if baseline == "zero":
        baselines, n_baselines = [torch.zeros(x.shape[1:])], 1
    for k in range(n_baselines if baseline == "uniform" else 0):
        generator = torch.Generator().manual_seed(derived_seed("ig-baseline", seed, k))
        baselines.append(low + (high - low) * torch.rand(x.shape[1:], generator=generator))
    baselines = torch.stack(baselines).to(x.device)
    steps_per_pass = max(internal_batch_size, n_baselines * len(x)) // (n_baselines * len(x))
    inputs_per_sample = n_baselines * min(steps_per_pass, n_steps) * x[0].numel()
    group = max(1, PASS_ELEMENTS // max(1, inputs_per_sample))
    try:
        maps = [_ig_call(model, x[i:i + group], target[i:i + group], baselines, n_steps, steps_per_pass)
                for i in range(0, len(x), group)]
    finally:
        model.train(was_training)
    return torch.cat(maps, dim=1)


def _ig_call(model: nn.Module, x: torch.Tensor, target: torch.Tensor, baselines: torch.Tensor, n_steps: int,
             steps_per_pass: int) -> torch.Tensor:
    """One captum call: the samples ``x`` from every baseline, ``steps_per_pass`` steps per pass;
    (n_baselines, *x.shape)."""
    n_baselines = len(baselines)
    repeated = x.repeat(n_baselines, *([1] * (x.dim() - 1)))
    maps = IntegratedGradients(_SummedTargetLogit(model)).attribute(
        repeated, baselines=baselines.repeat_interleave(len(x), dim=0),
        additional_forward_args=(target.repeat(n_baselines),), n_steps=n_steps,
        internal_batch_size=steps_per_pass * len(repeated))
    return maps.detach().reshape(n_baselines, *x.shape)


def _informative(magnitude: torch.Tensor, what: str) -> torch.Tensor | None:
    total = magnitude.sum(dim=1)
    informative = total > 0
    if not informative.any():
        logger.warning("all attributions are zero (a dead or constant model): %s is NaN", what)
        return None
    return informative


def attribution_shares(attributions: torch.Tensor, masks: dict[str, torch.Tensor]) -> dict[str, float]:
    """Share of the total absolute attribution that falls on each mask, averaged over samples.

    ``attributions`` has shape (samples, *input); each mask the same shape, or (samples, H, W) for an image
    mask applied to every channel of (samples, C, H, W) attributions. A kind with no feature in any sample (the
    spurious kind of Colored MNIST, whose colour lies on the digit's pixels, or of standard data) has no share:
    NaN, not a 0 that would read as "never used".
    """
    magnitude = attributions.abs().flatten(1)
    informative = _informative(magnitude, "the attribution share")
    if informative is None:
        return {kind: float("nan") for kind in masks}
    total = magnitude.sum(dim=1)
    shares = {}
    for kind, mask in masks.items():
        if mask.dim() == attributions.dim() - 1:
            mask = mask.unsqueeze(1).expand_as(attributions)
        if not mask.any():
            shares[kind] = float("nan")
            continue
        part = (magnitude * mask.reshape(magnitude.shape).to(magnitude.dtype)).sum(dim=1)
        shares[kind] = (part[informative] / total[informative]).mean().item()
    return shares


def attribution_density(attributions: torch.Tensor, masks: dict[str, torch.Tensor]) -> dict[str, float]:
    """Mean absolute attribution per feature of each kind, normalised so the kinds sum to 1, averaged over
    samples: unlike the share, it does not grow with how many features a kind has (moon-star's noise pixels
    outnumber its shape pixels 20 to 1). Kinds without features in a sample are left out of its normalisation.
    """
    magnitude = attributions.abs().flatten(1)
    informative = _informative(magnitude, "the attribution density")
    if informative is None:
        return {kind: float("nan") for kind in masks}
    per_kind = []
    for mask in masks.values():
        flat = mask.reshape(magnitude.shape).to(magnitude.dtype)
        count = flat.sum(dim=1)
        per_kind.append(torch.where(count > 0, (magnitude * flat).sum(dim=1) / count.clamp(min=1),
                                    torch.full_like(count, float("nan"))))
    stacked = torch.stack(per_kind, dim=1)[informative]                       # (samples, kinds)
    normalised = stacked / torch.nansum(stacked, dim=1, keepdim=True)
    return {kind: torch.nanmean(normalised[:, i]).item() for i, kind in enumerate(masks)}


def attribution_entropy(attributions: torch.Tensor) -> float:
    """Mean over samples of the Shannon entropy (nats) of the normalised absolute attribution map.

    For images (samples, C, H, W) the map is per pixel (absolute attributions summed over channels), so the
    entropy measures how spread out over the image the model's evidence is. Ranges from 0 (one feature) to
    ln(number of features) (uniform)."""
    magnitude = attributions.abs()
    if magnitude.dim() == 4:
        magnitude = magnitude.sum(dim=1)
    magnitude = magnitude.flatten(1).double()
    informative = _informative(magnitude, "the attribution entropy")
    if informative is None:
        return float("nan")
    p = magnitude[informative] / magnitude[informative].sum(dim=1, keepdim=True)
    entropy = -(torch.where(p > 0, p * p.log(), torch.zeros_like(p))).sum(dim=1)
    return entropy.mean().item()


def background_attribution_percentage(attributions: torch.Tensor, background: torch.Tensor) -> float:
    """Percentage of the total absolute attribution inside ``background`` (any boolean mask, e.g. from a
    segmentation model), averaged over samples."""
    return 100.0 * attribution_shares(attributions, {"background": background.bool()})["background"]


def mean_over_baselines(maps: torch.Tensor, metric, *args) -> float | dict:
    """Average ``metric(map, *args)`` over the baseline axis of :func:`integrated_gradients`'s output."""
    values = [metric(m, *args) for m in maps]
    if isinstance(values[0], dict):
        return {k: sum(v[k] for v in values) / len(values) for k in values[0]}
    return sum(values) / len(values)
