"""Evaluate a trained run: one long-format Parquet file per evaluation family.

Every file has the columns ``metric`` and ``value`` plus the keys a metric needs (``kappa``, ``epoch``, ``step``,
``feature``, ``group``); keys a metric does not use are empty. Attribution maps (fig. 13, on request) add ``image``.
"""
from __future__ import annotations

import copy
import json
import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from spurcomp.aggregate import read_arrow, write_table
from spurcomp.config import deep_merge, section_defaults
from spurcomp.data.io import Dataset, load_dataset, stratified_subset
from spurcomp.data.tensors import images_on
from spurcomp.metrics.accuracy import group_accuracies, predict_logits, unbiased_accuracy, worst_group_accuracy
from spurcomp.metrics.attribution import (FEATURE_KINDS, attribution_density, attribution_entropy,
                                          attribution_shares, background_attribution_percentage,
                                          integrated_gradients, mean_over_baselines)
from spurcomp.metrics.pruning import (dead_fraction, has_batch_norm, kappa_prunability, prunable_weights,
                                      pruned_dead_share, structured_masks, unit_scores)
from spurcomp.metrics.pruning_variants import (PER_KAPPA, SUMMED, UNSTRUCTURED, default_variant, evaluated_variants,
                                              variant_metric, variant_parts)
from spurcomp.metrics.representation import (activation_sparsity, class_separation_r2, penultimate_activations,
                                             qk_compressibility, selectivity_index)
from spurcomp.models import build_model, unit_layers
from spurcomp.runtime import derived_seed, images_last, logger, precision_context
from spurcomp.study import (EVALUATION_FAMILIES as FAMILIES, EVALUATION_SETTINGS_KEY, RUN_FILES, RUN_REMEDY,
                            STEP_COLUMNS, set_aside_run_file)
# the schema's defaults, for callers without a validated config (benchmarks, tests)
DEFAULT_EVALUATION = section_defaults("evaluation")


def load_model(weights_path: str | os.PathLike, device: torch.device) -> torch.nn.Module:
    try:
        saved = torch.load(weights_path, map_location=device, weights_only=False)
    except FileNotFoundError:
        raise
    except Exception as err:  # a truncated or overwritten file fails in many ways (zip, pickle, EOF)
        raise set_aside_run_file(Path(weights_path).parent, Path(weights_path).name, f"{type(err).__name__}: {err}") from None
    model = build_model(saved["model_spec"], saved["input_shape"], saved["num_classes"]).to(device)
    model.load_state_dict(saved["model"])
    return model.eval()


def _finite(model: torch.nn.Module) -> bool:
    return all(torch.isfinite(p).all() for p in model.parameters())


@dataclass(frozen=True)
class RunRecord:
    """The trained run being evaluated: its folder, its ``run.json`` and the background masks of the dataset's
    test images (``spurcomp.segmentation``), where the dataset has them."""

    directory: Path
    summary: dict
    background: np.ndarray | None = None


def _test_tensors(dataset: Dataset, device):
    t = dataset.test
    x = images_on(t.x, device)
    if images_last(device, dataset.input_shape) and isinstance(x, torch.Tensor):  # a lazily read split decodes in batches
        x = x.contiguous(memory_format=torch.channels_last)
    return x, torch.as_tensor(t.y, device=device), torch.as_tensor(t.b, device=device)


def evaluate_accuracy(model, dataset: Dataset, settings: dict, device, run: RunRecord) -> list[dict]:
    x, y, b = _test_tensors(dataset, device)
    correct = predict_logits(model, x).argmax(dim=1) == y
    rows = [
        {"metric": "test_acc", "value": correct.float().mean().item()},
        {"metric": "unbiased_test_acc", "value": unbiased_accuracy(correct, y, b)},
        {"metric": "worst_group_acc", "value": worst_group_accuracy(correct, y, b)},
    ]
    rows += [{"metric": "group_acc", "group": f"y={gy},b={gb}", "value": acc}
             for (gy, gb), acc in group_accuracies(correct, y, b).items()]
    return rows


def evaluate_pruning(model, dataset: Dataset, settings: dict, device, run: RunRecord) -> list[dict]:
    """κ-prunability under the configured criterion, scope and budget (``prunability``, which the figures plot)
    and under every listed variant and weight-magnitude pruning (``prunability[VARIANT]``): per κ the retained
    accuracy κP, κP above chance, the pruned unbiased accuracy and the fraction of parameters removed."""
    pruning, kappas = settings["pruning"], settings["kappas"]
    default = default_variant(pruning)
    scoring = torch.as_tensor(dataset.train.x[: pruning["score_samples"]], device=device)
    batch_norm = has_batch_norm(model)
    chance = 1.0 / dataset.num_classes
    test_sets = _pruning_test_sets(model, dataset, pruning, device)
    scores_by_criterion: dict[str, list] = {}
    rows = []
    for variant in evaluated_variants(pruning):
        x, y, b, unpruned = test_sets[variant == default]
        if variant == UNSTRUCTURED:
            pruned = kappa_prunability(model, x, y, b, kappas, structured=False, chance=chance, unpruned=unpruned)
        else:
            criterion, scope, budget = variant_parts(variant, pruning)
            if criterion == "bn_scale" and not batch_norm and variant != default:  # the default raises, below
                logger.info("pruning variant %s skipped: %s has no batch norm", variant, type(model).__name__)
                continue
            if criterion not in scores_by_criterion:
                scores_by_criterion[criterion] = unit_scores(model, criterion, scoring,
                                                             seed=derived_seed("prune-random", run.summary["seed"]))
            pruned = kappa_prunability(model, x, y, b, kappas, scores=scores_by_criterion[criterion], scope=scope,
                                       budget=budget, chance=chance, unpruned=unpruned)
        if variant == default and any(math.isnan(p.retained) for p in pruned):
            logger.warning("the unpruned model has zero unbiased accuracy: κ-prunability is undefined (NaN)")
        per_kappa = [{"kappa": p.kappa, "kappa_prunability": p.retained,
                      "kappa_prunability_chance": p.retained_above_chance, "pruned_unbiased_test_acc": p.accuracy,
                      "pruned_parameter_fraction": p.parameter_fraction} for p in pruned]
        summed = {"prunability": float(sum(p.retained for p in pruned)),
                  "prunability_chance": float(sum(p.retained_above_chance for p in pruned))}
        # every variant under its own name; the default also under the plain names the figures plot
        namings = [lambda metric: variant_metric(metric, variant)]
        if variant == default:
            namings.append(lambda metric: metric)
        for named in namings:
            rows += [{"metric": named(metric), "kappa": point["kappa"], "value": point[metric]}
                     for point in per_kappa for metric in PER_KAPPA]
            rows += [{"metric": named(metric), "value": summed[metric]} for metric in SUMMED]
    return rows + _dead_unit_rows(model, pruning, kappas, scores_by_criterion, scoring)


def _pruning_test_sets(model, dataset: Dataset, pruning: dict, device) -> dict[bool, tuple]:
    """The test samples the default variant (True: the whole test set, which the figures plot) and the other
    variants (False) are pruned on, each with the unpruned model's unbiased accuracy on them:
    ``pruning.variant_samples`` (absent or null: the whole test set) is a seeded subset stratified by (y, b)
    group, the same for every run of a dataset."""
    x, y, b = _test_tensors(dataset, device)
    whole = (x, y, b, unbiased_accuracy(predict_logits(model, x).argmax(dim=1) == y, y, b))
    n = pruning.get("variant_samples")
    if not n or n >= len(y):
        return {True: whole, False: whole}
    chosen = torch.as_tensor(stratified_subset(dataset.test.y, dataset.test.b, n, derived_seed("pruning-variants")),
                             device=device)
    xs, ys, bs = x[chosen], y[chosen], b[chosen]
    return {True: whole, False: (xs, ys, bs, unbiased_accuracy(predict_logits(model, xs).argmax(dim=1) == ys, ys, bs))}


def _dead_unit_rows(model, pruning: dict, kappas, scores_by_criterion: dict, scoring) -> list[dict]:
    """Whether pruning removes dead units: the share of every unit layer's units never active on the scoring
    samples (``unit_dead_fraction``) and, per κ, the share of the units the configured criterion prunes that are
    dead (``pruned_dead_fraction``: pruning a dead unit changes no output)."""
    activity = scores_by_criterion.get("mean_activation") or unit_scores(model, "mean_activation", scoring)
    criterion, scope, budget = variant_parts(default_variant(pruning), pruning)
    scores, layers = scores_by_criterion[criterion], unit_layers(model)
    return [{"metric": "unit_dead_fraction", "value": dead_fraction(activity)}] + [
        {"metric": "pruned_dead_fraction", "kappa": float(kappa),
         "value": pruned_dead_share(structured_masks(scores, kappa, scope, budget, layers), activity)}
        for kappa in kappas]


def evaluate_representation(model, dataset: Dataset, settings: dict, device, run: RunRecord) -> list[dict]:
    """Penultimate-layer properties on the unbiased test set (sec. 3.2-3.3), and parameter compressibility."""
    x, y, b = _test_tensors(dataset, device)
    activations = penultimate_activations(model, x)
    q, kappa = settings["compressibility"]["q"], settings["compressibility"]["kappa"]
    csi, bsi = selectivity_index(activations, y), selectivity_index(activations, b)
    parameters = torch.cat([w.detach().flatten() for w in prunable_weights(model)])
    return [
        {"metric": "activation_sparsity", "value": activation_sparsity(activations)},
        {"metric": "activation_compressibility", "kappa": kappa, "value": qk_compressibility(activations, q, kappa).mean().item()},
        {"metric": "parameter_compressibility", "kappa": kappa, "value": float(qk_compressibility(parameters, q, kappa))},
        {"metric": "class_separation_r2", "value": class_separation_r2(activations, y)},
        {"metric": "csi", "value": csi["mean"]},
        {"metric": "bsi", "value": bsi["mean"]},
        {"metric": "csi_all", "value": csi["mean_all"]},
        {"metric": "bsi_all", "value": bsi["mean_all"]},
        {"metric": "dead_unit_fraction", "value": csi["dead_fraction"]},
    ]


def evaluate_attributions(model, dataset: Dataset, settings: dict, device, run: RunRecord) -> list[dict]:
    """IG shares, densities and entropy for every saved checkpoint of the run and its final weights
    (:func:`attribution_states`: attributions through training), and fig. 13's maps where asked for
    (:func:`map_samples`), from the same loaded weights.

    Checkpoints are loaded into a model of their own, so ``model`` (the final weights) is left as it was."""
    ig, seed = settings["ig"], run.summary["seed"]
    t = dataset.test
    rng = np.random.default_rng(derived_seed("ig-samples", seed))
    chosen = np.sort(rng.permutation(len(t.x))[: ig["n_samples"]])
    x = torch.as_tensor(t.x[chosen], device=device)
    target = torch.as_tensor(t.y[chosen], device=device)
    masks = {kind: torch.as_tensor(t.mask(kind)[chosen], device=device) for kind in FEATURE_KINDS}
    checkpoint = copy.deepcopy(model)
    if not run.summary["checkpoints"]:
        raise FileNotFoundError(f"{run.directory / 'run.json'} lists no checkpoints: attributions through training "
                                f"need them (training.checkpoint_epochs); retrain the run")
    input_range = tuple(dataset.metadata["input_range"])
    map_x, map_target, groups, rows = map_samples(dataset, int(ig.get("maps", 0)), device,
                                                  ig.get("map_pool", "bias_conflicting"))
    states = attribution_states(run, model)
    for k, (epoch, load) in enumerate(states):
        checkpoint.load_state_dict(load())
        mapped = groups if ig.get("map_epochs", "all") == "all" or k == len(states) - 1 else []
        samples = (x, target, masks, map_x, map_target, mapped)
        found, shares, entropy, maps = _checkpoint_attributions(checkpoint, epoch, samples, ig, seed, input_range)
        rows += found
    # spurious-feature utilisation at the end of training (the final weights where finite, else the last checkpoint)
    rows.append({"metric": "spurious_attribution_share", "epoch": epoch, "value": shares["spurious"]})
    if groups:
        # fig. 8 picks the samples the high learning rate gets right and the low one does not: each map sample's
        # probability of its class under the final weights
        with torch.no_grad():
            probability = torch.softmax(checkpoint.eval()(map_x).float(), dim=1).gather(1, map_target[:, None])[:, 0]
        rows += [{"metric": "map_target_probability", "epoch": epoch, "group": group, "value": float(p)}
                 for group, p in zip(groups, probability.cpu())]
    rows.append({"metric": "final_attribution_entropy", "epoch": epoch, "value": entropy})
    if run.background is not None:
        # sec. 5: the percentage of the attributions on the segmenter's background
        background = torch.as_tensor(run.background[chosen], device=device)
        percentage = float("nan") if not _finite(checkpoint) else \
            mean_over_baselines(maps, background_attribution_percentage, background)
        rows.append({"metric": "background_attribution_pct", "epoch": epoch, "value": percentage})
    return rows


def attribution_states(run: RunRecord, model) -> list[tuple[int, Callable[[], dict]]]:
    """The weights whose attributions are measured, in training order, each as (epoch, a loader of its state): the
    run's checkpoints, then its final weights (``model``) where they are later than its last checkpoint and finite.
    A run stopped by ``max_epochs`` between two checkpoint epochs (e.g. 30 between 16 and 32) thus has its
    end-of-training numbers and last maps from the weights it ended with; a diverged run's end from its last
    finite checkpoint."""
    device = next(model.parameters()).device
    states = [(int(name.removeprefix("epoch=").removesuffix(".pt")),
               lambda name=name: torch.load(run.directory / "checkpoints" / name, map_location=device))
              for name in run.summary["checkpoints"]]
    final = int(run.summary["epochs"])
    if final > states[-1][0] and _finite(model):
        states.append((final, model.state_dict))
    return states


def _checkpoint_attributions(checkpoint, epoch: int, samples: tuple, ig: dict, seed: int, input_range) -> tuple:
    """One checkpoint's IG rows (shares, densities, entropy, and maps where asked for), its shares and entropy,
    and its attribution maps (None for a diverged checkpoint: NaN shares, no map, fig. 13's blank)."""
    x, target, masks, map_x, map_target, groups = samples
    rows = []
    if not _finite(checkpoint):
        nan = {kind: float("nan") for kind in FEATURE_KINDS}
        shares, density, entropy, maps = nan, nan, float("nan"), None
    else:
        maps = integrated_gradients(checkpoint, x, target, input_range, n_baselines=ig["n_baselines"],
                                    n_steps=ig["n_steps"], seed=seed, baseline=ig["baseline"])
        shares = mean_over_baselines(maps, attribution_shares, masks)
        density = mean_over_baselines(maps, attribution_density, masks)
        entropy = mean_over_baselines(maps, attribution_entropy)
        if groups:
            # |IG| summed over channels, (samples, H, W, 1): nested as deep as the images
            shown = integrated_gradients(checkpoint, map_x, map_target, input_range,
                                         n_baselines=ig["n_baselines"], n_steps=ig["n_steps"], seed=seed,
                                         baseline=ig["baseline"]).mean(0).abs().sum(1, keepdim=True).movedim(1, -1)
            rows += [{"metric": "attribution_map", "epoch": epoch, "group": group, "value": float(shown[k].sum()),
                      "image": shown[k].cpu().tolist()} for k, group in enumerate(groups)]
    rows += [{"metric": "attribution_share", "epoch": epoch, "feature": kind, "value": v} for kind, v in shares.items()]
    rows += [{"metric": "attribution_density", "epoch": epoch, "feature": kind, "value": v}
             for kind, v in density.items()]
    rows.append({"metric": "attribution_entropy", "epoch": epoch, "value": entropy})
    return rows, shares, entropy, maps


def map_samples(dataset: Dataset, n_maps: int, device, pool: str = "bias_conflicting"
                ) -> tuple[torch.Tensor | None, torch.Tensor | None, list, list]:
    """The attribution-map samples (``ig.maps`` > 0): that many test samples (bias-conflicting ones, or any:
    ``pool``), the same ones for every run of a dataset (so low and high learning rates are shown on the same
    images): their inputs, targets, names (``group``: the sample, its label and its spurious attribute) and their
    ``input_image`` rows (the image as a nested list in ``image``, height x width x channels). Nothing when
    ``n_maps`` is 0."""
    if not n_maps:
        return None, None, [], []
    t = dataset.test
    if t.x.ndim != 4:
        raise ValueError(f"evaluation.ig.maps needs image inputs (samples, channels, height, width); this dataset's "
                         f"are {t.x.shape[1:]}: set ig.maps to 0 for its studies")
    order = np.random.default_rng(derived_seed("ig-maps")).permutation(len(t.x))
    if pool not in ("bias_conflicting", "any"):
        raise ValueError(f"unknown ig.map_pool {pool!r}; allowed: ['bias_conflicting', 'any']")
    chosen = (order[(t.y[order] != t.b[order])] if pool == "bias_conflicting" else order)[:n_maps]
    x = torch.as_tensor(t.x[chosen], device=device)
    target = torch.as_tensor(t.y[chosen], device=device)
    groups = [f"sample={i},y={t.y[i]},b={t.b[i]}" for i in chosen]
    images = x.movedim(1, -1)  # channels last, as images are shown
    rows = [{"metric": "input_image", "group": group, "value": float(target[k]), "image": images[k].cpu().tolist()}
            for k, group in enumerate(groups)]
    return x, target, groups, rows


def evaluate_dynamics(model, dataset: Dataset, settings: dict, device, run: RunRecord) -> list[dict]:
    """From the training history: the BC loss ratio's maximum over training (fig. 12), per step and per epoch, and
    the cross-entropy on the training set after the last epoch (fig. 9)."""
    history = read_arrow(run.directory / "history.parquet", RUN_REMEDY, run_dir=run.directory).to_pandas()
    steps = history.query("scope == 'step'")
    ratio = steps["bc_loss_ratio"]
    rows = [
        {"metric": "max_bc_loss_ratio", "value": float(ratio.max()) if ratio.notna().any() else float("nan")},
        {"metric": "max_epoch_bc_loss_ratio", "value": float(steps.groupby("epoch")["bc_loss_ratio"].mean().max())},
        {"metric": "final_train_loss", "value": float(history.query("scope == 'epoch'")["train_loss"].iloc[-1])},
    ]
    if not (settings.get("dynamics") or {}).get("per_step"):
        return rows
    # fig. 13: every step's numbers (metric step_COLUMN, with its epoch and step)
    missing = [column for column in STEP_COLUMNS if column not in steps]
    if missing:
        logger.warning("%s was trained before the history had %s: those steps are NaN (retrain the run, e.g. "
                       "delete its folder, to record them)", run.directory, ", ".join(missing))
    epochs, numbers = steps["epoch"].to_numpy(), steps["step"].to_numpy()
    for column in STEP_COLUMNS:
        values = steps[column].to_numpy(dtype=float) if column in steps else np.full(len(steps), np.nan)
        rows += [{"metric": f"step_{column}", "epoch": int(e), "step": int(n), "value": float(v)}
                 for e, n, v in zip(epochs, numbers, values)]
    return rows


EVALUATORS = {
    "accuracy": evaluate_accuracy,
    "pruning": evaluate_pruning,
    "representation": evaluate_representation,
    "attributions": evaluate_attributions,
    "dynamics": evaluate_dynamics,
}


# families that read the final weights, and so have nothing to compute when training diverged to NaN
USES_FINAL_WEIGHTS = ("accuracy", "pruning", "representation")


def evaluate_run(outputs: dict[str, str | os.PathLike], data: Dataset | str | os.PathLike, run_dir,
                 settings: dict | None = None, device: torch.device | None = None,
                 background: np.ndarray | None = None) -> dict[str, pd.DataFrame]:
    """Compute each evaluation family named in ``outputs`` (family -> Parquet path) for the run in ``run_dir``.

    The dataset (``data``: loaded, or its file), the weights and ``run.json`` are loaded once for all families.
    ``settings`` is the config's ``evaluation`` section; missing keys take the schema's defaults. ``background``:
    the test images' background masks (:func:`spurcomp.data.io.load_background_masks`), for the background
    attribution percentage."""
    unknown = sorted(set(outputs) - set(EVALUATORS))
    if unknown:
        raise ValueError(f"unknown evaluation family {unknown}; allowed: {list(FAMILIES)}")
    settings = deep_merge(DEFAULT_EVALUATION, settings or {})
    device = device or torch.device("cpu")
    run_dir = Path(run_dir)
    dataset = data if isinstance(data, Dataset) else load_dataset(data)
    model = load_model(run_dir / "weights.pt", device)
    if images_last(device, dataset.input_shape):
        model = model.to(memory_format=torch.channels_last)
    run = RunRecord(run_dir, json.loads((run_dir / RUN_FILES["summary"]).read_text()), background)
    finite = _finite(model)
    # the run's own precision unless the config asks for float32 (runs from before the knob were float32)
    precision = run.summary.get("precision", "fp32") if settings["precision"] == "same" else "fp32"
    frames = {}
    for family, out_path in outputs.items():
        if family in USES_FINAL_WEIGHTS and not finite:
            # a diverged run's weights are NaN: its metrics are NaN (the same rows, from a fresh model), and its
            # status says why
            logger.warning("run %s has non-finite weights (%s): %s metrics are NaN", run_dir, run.summary["status"],
                           family)
            fresh = build_model(run.summary["model"], dataset.input_shape, dataset.num_classes).to(device)
            rows = [{**row, "value": float("nan")} for row in EVALUATORS[family](fresh, dataset, settings, device, run)]
        else:
            with precision_context(device, precision):
                rows = EVALUATORS[family](model, dataset, settings, device, run)
        frames[family] = _write_long_table(rows, out_path, settings)
        logger.info("%s: %d rows -> %s", family, len(frames[family]), out_path)
    return frames


def _write_long_table(rows: list[dict], out_path, settings: dict) -> pd.DataFrame:
    """The rows as Parquet, with the evaluation settings they were computed under in the file's metadata (the
    study table keeps them, so a figure knows, e.g., which pruning variant is the default)."""
    frame = pd.DataFrame(rows)
    for column, dtype in (("kappa", "float64"), ("epoch", "Int64"), ("step", "Int64"), ("feature", "string"),
                          ("group", "string")):
        frame[column] = (frame[column] if column in frame else pd.Series([None] * len(frame), index=frame.index)).astype(dtype)
    # ``image`` (fig. 13's samples and attribution maps, nested lists) only where a family has them
    frame = frame[["metric", "value", "kappa", "epoch", "step", "feature", "group"] + (["image"] if "image" in frame else [])]
    write_table(frame, out_path, settings, key=EVALUATION_SETTINGS_KEY)
    return frame
