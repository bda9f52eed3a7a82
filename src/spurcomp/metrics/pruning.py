"""κ-prunability (paper sec. 3.2): structured (neuron / filter) and unstructured (weight magnitude) pruning.

κP(f) = Acc(f^(κ)) / Acc(f) on the unbiased test set, and the paper's summary Σ_{κ ∈ 0.1..0.9} κP(f). The paper says
structured pruning and cites Li et al. 2017 ("Pruning Filters for Efficient ConvNets"); it leaves open how units
are ranked, across which units, and what "κ of its parameters" counts. Each is a choice here:

- criterion, the score a unit is ranked by (lowest pruned first): ``l1_weight``, the L1 norm of the unit's
  incoming weights (Li et al.; divided by the fan-in, which leaves the order within a layer as it is and makes
  layers of different fan-in comparable when ranked together); ``bn_scale``, the |γ| of its batch-norm channel
  (Network Slimming, Liu et al. 2017); ``mean_activation``, its mean post-activation on training samples (a dead
  unit scores 0); ``random``, a seeded uniform draw (the baseline every criterion should beat).
- scope: ``layer`` ranks within each layer (Li et al.; every layer loses the same fraction); ``global`` ranks all
  units together (Liu et al.), keeping each layer's best unit so that no layer is emptied.
- budget: ``units`` prunes κ of the units; ``parameters`` prunes units until κ of the prunable parameters (those
  of the layers that own units: incoming and outgoing weights, biases, batch-norm channels) are gone. Pruning a
  unit removes its incoming weights and its outgoing weights to units still kept, so κ of the units is not κ of the
  parameters: :func:`pruned_parameter_fraction` says how much was removed.

A pruned unit's output is masked to zero, which equals removing its incoming weights, bias and batch-norm channel;
no copy of the model is made per κ. Scores are computed on training data, so the test set that scores the pruned
model never chooses what is pruned.

Unstructured: the fraction κ of all weights of weight matrices and convolution kernels (tensors with 2 or more
dimensions) with the smallest magnitude, ranked globally, is set to zero in place and restored after.
"""
from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass

import torch
from torch import nn

from spurcomp.metrics.accuracy import predict_logits, unbiased_accuracy
from spurcomp.metrics.pruning_variants import BUDGETS, CRITERIA, SCOPES
from spurcomp.models import UnitLayer, unit_layers

DEFAULT_KAPPAS = tuple(round(0.1 * k, 1) for k in range(1, 10))


def _check_kappa(kappa: float) -> None:
    if not 0.0 <= kappa <= 1.0:
        raise ValueError(f"kappa must be in [0, 1], got {kappa}")


def activation_scores(model: nn.Module, x: torch.Tensor, batch_size: int | None = None) -> list[torch.Tensor]:
    """Per unit layer, each unit's mean post-activation over ``x`` (and over positions of a feature map).

    The positive part of the unit module's output is used, which is the post-ReLU activation both for ReLU
    modules and for batch-norm layers that feed a ReLU."""
    layers = unit_layers(model)
    totals: list[torch.Tensor | None] = [None] * len(layers)

    def hook_for(i):
        def hook(_module, _inputs, output):
            units_first = layers[i].units_first(output)
            per_unit = units_first.clamp(min=0).transpose(0, 1).flatten(1).mean(dim=1) * len(output)
            totals[i] = per_unit if totals[i] is None else totals[i] + per_unit
        return hook

    predict_logits(model, x, batch_size, hooks=[(layer.output, hook_for(i)) for i, layer in enumerate(layers)])
    return [t / len(x) for t in totals]


def unit_scores(model: nn.Module, criterion: str, x: torch.Tensor | None = None, seed: int = 0) -> list[torch.Tensor]:
    """Per unit layer, the score of each unit under ``criterion`` (lowest pruned first; see the module's text).

    ``x`` (training samples) is needed by ``mean_activation``; ``seed`` draws the ``random`` scores."""
    layers = unit_layers(model)
    if criterion == "mean_activation":
        if x is None:
            raise ValueError("the mean_activation criterion needs samples to score units on")
        return [s.detach().cpu() for s in activation_scores(model, x)]
    if criterion == "l1_weight":
        return [layer.producer.weight.detach().abs().flatten(1).mean(dim=1).cpu() for layer in layers]
    if criterion == "bn_scale":
        missing = [type(layer.producer).__name__ for layer in layers if layer.norm is None]
        if missing:
            raise ValueError(f"the bn_scale criterion ranks units by their batch-norm scale, but {type(model).__name__} "
                             f"has {len(missing)} unit layers without batch norm; allowed criteria for it: "
                             f"{[c for c in CRITERIA if c != 'bn_scale']}")
        return [layer.norm.weight.detach().abs().cpu() for layer in layers]
    if criterion == "random":
        generator = torch.Generator().manual_seed(seed)
        return [torch.rand(_width(layer), generator=generator, dtype=torch.float64) for layer in layers]
    raise ValueError(f"unknown pruning criterion {criterion!r}; allowed: {list(CRITERIA)}")


def has_batch_norm(model: nn.Module) -> bool:
    return all(layer.norm is not None for layer in unit_layers(model))


def _width(layer: UnitLayer) -> int:
    return layer.producer.weight.shape[0]


def _parameters_by_module(layers: list[UnitLayer]) -> dict[nn.Module, int]:
    modules: dict[nn.Module, int] = {}
    for layer in layers:
        for module in (layer.producer, layer.norm, layer.consumer):
            if module is not None:
                modules[module] = sum(p.numel() for p in module.parameters(recurse=False))
    return modules


def pruned_parameter_fraction(layers: list[UnitLayer], masks: list[torch.Tensor]) -> float:
    """The fraction of the prunable parameters that pruning the units with a False mask removes.

    A weight of a producer or consumer remains when both the unit it comes from and the unit it goes to are
    kept (the model's input and the residual stream are never pruned); a bias or batch-norm parameter when its
    unit is kept."""
    kept_out: dict[nn.Module, float] = {}
    kept_in: dict[nn.Module, float] = {}
    kept_norm: dict[nn.Module, float] = {}
    for layer, mask in zip(layers, masks):
        kept = mask.double().mean().item()
        kept_out[layer.producer] = kept
        kept_in[layer.consumer] = kept
        if layer.norm is not None:
            kept_norm[layer.norm] = kept
    total = remaining = 0.0
    for module, count in _parameters_by_module(layers).items():
        total += count
        if module in kept_norm:
            remaining += count * kept_norm[module]
            continue
        weight = module.weight.numel()
        remaining += weight * kept_out.get(module, 1.0) * kept_in.get(module, 1.0)
        if getattr(module, "bias", None) is not None:
            remaining += module.bias.numel() * kept_out.get(module, 1.0)
    return 1.0 - remaining / total if total else 0.0


def _layer_masks(scores: list[torch.Tensor], counts: list[int]) -> list[torch.Tensor]:
    masks = []
    for s, n_pruned in zip(scores, counts):
        keep = torch.ones(len(s), dtype=torch.bool)
        keep[torch.argsort(s, stable=True)[:n_pruned]] = False  # ties: lower index first
        masks.append(keep)
    return masks


def _global_order(scores: list[torch.Tensor]) -> list[tuple[int, int]]:
    """(layer, unit) pairs from the lowest score up, leaving out each layer's best unit (a layer is never
    emptied). Ties: earlier layer, then lower index, first."""
    flat = torch.cat([s.double() for s in scores])
    owner = [(i, j) for i, s in enumerate(scores) for j in range(len(s))]
    keepers = {(i, int(torch.argsort(s, stable=True)[-1])) for i, s in enumerate(scores)}
    return [owner[k] for k in torch.argsort(flat, stable=True).tolist() if owner[k] not in keepers]


def _global_masks(scores: list[torch.Tensor], order: list[tuple[int, int]], n_pruned: int) -> list[torch.Tensor]:
    masks = [torch.ones(len(s), dtype=torch.bool) for s in scores]
    for i, j in order[:n_pruned]:
        masks[i][j] = False
    return masks


def _smallest_meeting(n_max: int, masks_for, fraction_of, kappa: float) -> list[torch.Tensor]:
    """The masks of the smallest n in [0, n_max] whose pruned parameter fraction reaches κ (it grows with n),
    or of n_max if none does."""
    low, high = 0, n_max
    while low < high:
        middle = (low + high) // 2
        if fraction_of(masks_for(middle)) >= kappa - 1e-12:
            high = middle
        else:
            low = middle + 1
    return masks_for(low)


def structured_masks(scores: list[torch.Tensor], kappa: float, scope: str = "layer", budget: str = "units",
                     layers: list[UnitLayer] | None = None) -> list[torch.Tensor]:
    """Keep-masks, one per unit layer, that prune the lowest-scoring units.

    scope ``layer``, budget ``units``: floor(κ·width) units of every layer. Scope ``global``, budget ``units``:
    floor(κ·all units) units ranked together, each layer keeping its best unit. Budget ``parameters`` (needs
    ``layers``): the fewest units, in the same order (per layer: the same fraction of every layer), whose
    removal takes away at least κ of the prunable parameters; if even the most that can be pruned falls short,
    that most (each layer keeping one unit)."""
    _check_kappa(kappa)
    if scope not in SCOPES:
        raise ValueError(f"unknown pruning scope {scope!r}; allowed: {list(SCOPES)}")
    if budget not in BUDGETS:
        raise ValueError(f"unknown pruning budget {budget!r}; allowed: {list(BUDGETS)}")
    widths = [len(s) for s in scores]
    if budget == "units":
        if scope == "layer":
            return _layer_masks(scores, [math.floor(kappa * w + 1e-9) for w in widths])
        order = _global_order(scores)
        return _global_masks(scores, order, min(len(order), math.floor(kappa * sum(widths) + 1e-9)))
    if layers is None:
        raise ValueError("the parameters budget needs the model's unit layers to count parameters")
    fraction_of = lambda masks: pruned_parameter_fraction(layers, masks)  # noqa: E731
    if scope == "layer":
        # step through the fraction of units pruned per layer; each layer keeps at least one unit
        steps = sorted({k / w for w in widths for k in range(w)})
        masks_for = lambda n: _layer_masks(  # noqa: E731
            scores, [min(w - 1, math.floor(steps[n] * w + 1e-9)) for w in widths])
        return _smallest_meeting(len(steps) - 1, masks_for, fraction_of, kappa)
    order = _global_order(scores)
    return _smallest_meeting(len(order), lambda n: _global_masks(scores, order, n), fraction_of, kappa)


def dead_units(activity: list[torch.Tensor]) -> list[torch.Tensor]:
    """Per unit layer, which units are dead: never active (mean post-activation 0, :func:`activation_scores`) on
    the samples ``activity`` was measured on."""
    return [a <= 0 for a in activity]


def dead_fraction(activity: list[torch.Tensor]) -> float:
    """The share of all units (every unit layer) that are dead."""
    dead = torch.cat(dead_units(activity))
    return float(dead.float().mean())


def pruned_dead_share(masks: list[torch.Tensor], activity: list[torch.Tensor]) -> float:
    """The share of the units pruned by keep-``masks`` that are dead (pruning them changes no output); NaN when
    the masks prune nothing."""
    pruned = torch.cat([~mask.bool().cpu() for mask in masks])
    dead = torch.cat(dead_units(activity)).cpu()
    count = int(pruned.sum())
    return float((pruned & dead).sum()) / count if count else float("nan")


@contextlib.contextmanager
def masked_units(model: nn.Module, masks: list[torch.Tensor]):
    """Within the block, the units with a False mask output zero (neurons, or channels of a feature map)."""
    layers = unit_layers(model)
    if len(layers) != len(masks):
        raise ValueError(f"{len(masks)} masks for {len(layers)} prunable layers")

    def hook_for(layer, mask):
        def hook(_module, _inputs, output):
            return output * mask.to(device=output.device, dtype=output.dtype).view(layer.mask_shape(output))
        return hook

    handles = [layer.output.register_forward_hook(hook_for(layer, mask)) for layer, mask in zip(layers, masks)]
    try:
        yield model
    finally:
        for handle in handles:
            handle.remove()


def separable_units(model: nn.Module) -> bool:
    """Whether a pruned unit can be cut out of the weights rather than masked: the model says that each unit's
    output reaches its consumer only (``UNITS_SEPARABLE``: no residual stream carries it), and every producer and
    consumer is a Linear or an ungrouped Conv2d."""
    return getattr(model, "UNITS_SEPARABLE", False) and all(
        isinstance(module, nn.Linear) or (isinstance(module, nn.Conv2d) and module.groups == 1)
        for layer in unit_layers(model) for module in (layer.producer, layer.consumer))


@contextlib.contextmanager
def sliced_units(model: nn.Module, masks: list[torch.Tensor]):
    """Within the block, the units with a False mask are cut out of the model: their producer's output channels,
    batch-norm channels and consumer's input channels (:func:`separable_units` models). The model computes what
    :func:`masked_units` makes it compute, at the cost of the kept units only; sums over fewer channels can differ
    in the last bits of float precision."""
    layers = unit_layers(model)
    if len(layers) != len(masks):
        raise ValueError(f"{len(masks)} masks for {len(layers)} prunable layers")
    rows, columns = {}, {}  # module -> the kept output channels / input channels
    for layer, mask in zip(layers, masks):
        kept = torch.nonzero(mask.bool(), as_tuple=True)[0].to(layer.producer.weight.device)
        rows[layer.producer] = kept
        if layer.norm is not None:
            rows[layer.norm] = kept
        columns[layer.consumer] = kept
    saved = []
    try:
        with torch.no_grad():
            for module in dict.fromkeys([*rows, *columns]):
                for store, names in ((module._parameters, ("weight", "bias")),
                                     (module._buffers, ("running_mean", "running_var"))):
                    for name in names:
                        value = store.get(name)
                        if value is None:
                            continue
                        cut = value.index_select(0, rows[module]) if module in rows else value
                        if name == "weight" and module in columns and cut.dim() > 1:
                            cut = cut.index_select(1, columns[module])
                        if value.dim() == 4 and value.is_contiguous(memory_format=torch.channels_last):
                            cut = cut.contiguous(memory_format=torch.channels_last)  # the layout it was given
                        saved.append((store, name, value))
                        store[name] = nn.Parameter(cut, requires_grad=False) if store is module._parameters else cut
        yield model
    finally:
        for store, name, value in reversed(saved):
            store[name] = value


def prunable_weights(model: nn.Module) -> list[nn.Parameter]:
    """Weight matrices and convolution kernels: the parameters unstructured pruning ranks."""
    return [p for name, p in model.named_parameters() if p.dim() >= 2 and name.endswith("weight")]


@contextlib.contextmanager
def magnitude_pruned(model: nn.Module, kappa: float):
    """Within the block, the fraction κ of smallest-magnitude weights (global ranking) are zero.

    One copy of the weights is kept to restore them, whatever the number of κ evaluated."""
    _check_kappa(kappa)
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


@dataclass(frozen=True)
class Pruned:
    """The model pruned at one κ: its unbiased accuracy, κP (over the unpruned accuracy), κP above chance,
    (Acc(f^(κ)) - chance) / (Acc(f) - chance), and the fraction of the prunable parameters removed."""

    kappa: float
    accuracy: float
    retained: float
    retained_above_chance: float
    parameter_fraction: float


def kappa_prunability(model: nn.Module, x: torch.Tensor, y: torch.Tensor, b: torch.Tensor,
                      kappas=DEFAULT_KAPPAS, *, scores: list[torch.Tensor] | None = None, scope: str = "layer",
                      budget: str = "units", structured: bool = True, chance: float | None = None,
                      unpruned: float | None = None) -> list[Pruned]:
    """The model pruned at each κ, scored on (x, y, b) by unbiased accuracy. Structured pruning ranks units by
    ``scores`` (lowest pruned first; callers pass scores computed on training data, see :func:`unit_scores`);
    ``structured=False`` prunes weights by magnitude. ``chance`` defaults to 1 / number of classes of the logits;
    ``unpruned``, the unpruned model's unbiased accuracy, is computed unless given (callers pruning the same
    model many ways pass it).

    An unpruned model with zero unbiased accuracy has no accuracy to retain: κP is then NaN, as is κP above
    chance for a model at or below chance; the caller logs it."""
    def accuracy() -> float:
        return unbiased_accuracy(predict_logits(model, x).argmax(dim=1) == y, y, b)

    if structured and scores is None:
        raise ValueError("structured pruning needs unit scores (see unit_scores)")
    if unpruned is None or chance is None:
        logits = predict_logits(model, x)
        unpruned = unbiased_accuracy(logits.argmax(dim=1) == y, y, b) if unpruned is None else unpruned
        chance = 1.0 / logits.shape[1] if chance is None else chance
    base = unpruned
    layers = unit_layers(model) if structured else []
    separable = structured and separable_units(model)
    result = []
    for kappa in kappas:
        if structured:
            masks = structured_masks(scores, kappa, scope, budget, layers)
            cut = separable and all(mask.any() for mask in masks)  # a layer left without units: masked instead
            fraction = pruned_parameter_fraction(layers, masks)
            pruning = sliced_units(model, masks) if cut else masked_units(model, masks)
        else:
            fraction, pruning = float(kappa), magnitude_pruned(model, kappa)
        with pruning:
            pruned = accuracy()
        result.append(Pruned(
            kappa=float(kappa), accuracy=pruned,
            retained=pruned / base if base > 0 else float("nan"),
            retained_above_chance=(pruned - chance) / (base - chance) if base > chance else float("nan"),
            parameter_fraction=fraction))
    return result
