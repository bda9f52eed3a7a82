"""Properties of the learned representation: the penultimate layer's post-activations (paper sec. 3.2-3.3).

All functions take an activation matrix ``(samples, units)`` and run in O(N·d) time and memory.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from spurcomp.metrics.accuracy import predict_logits
from spurcomp.models import representation_module
from spurcomp.runtime import logger


def penultimate_activations(model: nn.Module, x: torch.Tensor, batch_size: int | None = None) -> torch.Tensor:
    """The learned representation (the model's ``representation()`` output, flattened), one row per sample."""
    captured: list[torch.Tensor] = []
    hook = (representation_module(model), lambda _m, _i, output: captured.append(output.flatten(1)))
    predict_logits(model, x, batch_size, hooks=[hook])
    return torch.cat(captured)


def any_unit_active(model: nn.Module, x: torch.Tensor, batch_size: int | None = None) -> bool:
    """Whether any unit of the learned representation is active (> 0) on any sample of ``x``, without keeping the
    activations (a training set's would not fit in memory: Swin-T's are 150,528 numbers per image)."""
    active = []
    hook = (representation_module(model), lambda _m, _i, output: active.append((output > 0).any()))
    predict_logits(model, x, batch_size, hooks=[hook])
    return bool(torch.stack(active).any()) if active else False


def _check_matrix(activations: torch.Tensor) -> None:
    if activations.dim() != 2 or activations.numel() == 0:
        raise ValueError(f"expected a non-empty (samples, units) matrix, got shape {tuple(activations.shape)}")


def activation_sparsity(activations: torch.Tensor) -> float:
    """Mean over samples of Sparsity(z) = 1 - ‖z‖₀ / d (paper sec. 3.2)."""
    _check_matrix(activations)
    return (activations == 0).float().mean().item()


def qk_compressibility(z: torch.Tensor, q: float = 2.0, kappa: float = 0.1) -> torch.Tensor:
    """(q, κ)-compressibility of each row of ``z`` (paper sec. 3.2, after Gribonval et al.):
    1 - ‖z - z_k‖_q / ‖z‖_q, where z_k keeps the k = ⌈κ·d⌉ largest-magnitude entries (the best k-term
    approximation in any ℓ_q). An all-zero row is represented exactly by zero terms: its compressibility is 1.
    A 1-D ``z`` is one vector.
    """
    if not 0 < kappa <= 1:
        raise ValueError(f"kappa must be in (0, 1], got {kappa}")
    if q <= 0:
        raise ValueError(f"q must be > 0, got {q}")
    rows = z.reshape(1, -1) if z.dim() == 1 else z.flatten(1)
    magnitude = rows.abs().double()
    k = math.ceil(kappa * rows.shape[1] - 1e-9)
    powered = magnitude.pow(q)
    total = powered.sum(dim=1)
    # ‖z - z_k‖_q^q is the q-th power sum of the entries not kept, summed from those entries themselves (total
    # minus the kept sum loses the digits of a small residual for q != 2)
    dropped = torch.ones_like(magnitude).scatter_(1, magnitude.topk(k, dim=1).indices, 0.0)
    residual = (powered * dropped).sum(dim=1)
    ratio = torch.where(total > 0, (residual / total.clamp(min=torch.finfo(torch.float64).tiny)).pow(1 / q),
                        torch.zeros_like(total))
    result = (1 - ratio).to(z.dtype if z.is_floating_point() else torch.float64)
    return result[0] if z.dim() == 1 else result


def class_separation_r2(activations: torch.Tensor, labels: torch.Tensor) -> float:
    """Class separation R² = 1 - d̄_within / d̄_total with cosine similarity (paper sec. 3.3, Kornblith et al.).

    The double sums over pairs reduce to norms of class means of the L2-normalised rows u:
    d̄_within = 1 - (1/K) Σ_k ‖ū_k‖² and d̄_total = 1 - ‖(1/K) Σ_k ū_k‖². An all-zero row (a sample no unit
    responds to) has cosine similarity 0 with everything. Needs at least two classes; if every row points the
    same way (d̄_total = 0) there is no spread to separate and R² is 0.
    """
    _check_matrix(activations)
    classes = torch.unique(labels)
    if len(classes) < 2:
        raise ValueError(f"class separation needs samples of at least 2 classes, got classes {classes.tolist()}")
    u = nn.functional.normalize(activations.double(), dim=1)
    means = torch.stack([u[labels == c].mean(dim=0) for c in classes])
    d_within = 1 - means.pow(2).sum(dim=1).mean()
    d_total = 1 - means.mean(dim=0).pow(2).sum()
    if d_total <= 1e-12:
        return 0.0
    return float(1 - d_within / d_total)


def selectivity_index(activations: torch.Tensor, labels: torch.Tensor, eps: float = 1e-6) -> dict:
    """Class-selectivity index per unit, scaled by coverage (paper sec. 3.3), its mean over live units and its
    mean over all units.

    For each unit: π_max is the largest class-conditional mean activation (class c*), π_-max the mean of the
    other classes' means, ρ_max the fraction of class c*'s samples on which the unit is active (> 0), and
    CSI = ρ_max (π_max - π_-max) / (π_max + π_-max + ε). With the bias label instead of the class label this
    is the bias-selectivity index (BSI).

    Dead units (never active on these samples) have no class preference to measure: ``mean`` leaves them out
    (counting them as 0 would turn activation sparsity into "low selectivity"), as the authors' own public code
    does (mbarsbey/advcomp, utils/statistics.py: the mean over units with a non-zero index, ε = 1e-6); if every
    unit is dead it is NaN and a warning says so. A mean over live units can rise only because units die, so
    ``mean_all`` counts dead units as 0, and ``dead_fraction`` says how many there are.
    The index assumes non-negative activations (ReLU units); a unit's activation is taken as its positive part,
    which changes nothing for ReLU units and makes the GELU units of a transformer (Swin) comparable: their small
    negative outputs count as inactive instead of driving π_max + π_-max to zero (values far outside [0, 1]).
    Returns {"mean": float, "mean_all": float, "per_unit": tensor (NaN for dead units), "dead_fraction": float}.
    """
    _check_matrix(activations)
    classes = torch.unique(labels)
    if len(classes) < 2:
        raise ValueError(f"selectivity needs samples of at least 2 classes, got classes {classes.tolist()}")
    a = activations.double().clamp(min=0)
    means = torch.stack([a[labels == c].mean(dim=0) for c in classes])          # (K, units)
    active = torch.stack([(a[labels == c] > 0).double().mean(dim=0) for c in classes])
    top = means.argmax(dim=0)                                                    # c* per unit
    units = torch.arange(a.shape[1])
    pi_max = means[top, units]
    pi_rest = (means.sum(dim=0) - pi_max) / (len(classes) - 1)
    rho_max = active[top, units]
    csi = rho_max * (pi_max - pi_rest) / (pi_max + pi_rest + eps)
    dead = ~(a > 0).any(dim=0)
    csi[dead] = float("nan")
    if dead.all():
        logger.warning("every unit is dead on these samples: the selectivity index is undefined (NaN)")
        mean = float("nan")
    else:
        mean = float(csi[~dead].mean())
    return {"mean": mean, "mean_all": float(csi.nan_to_num(0.0).mean()), "per_unit": csi,
            "dead_fraction": float(dead.double().mean())}
