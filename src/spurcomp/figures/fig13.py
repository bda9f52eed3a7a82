"""Fig. 13: the mechanism through training, for a low and a high learning rate: attribution maps of the same
bias-conflicting test samples at the checkpoints (left), and per training step the BC loss ratio, the parameter
and logit norms and the accuracy on the minibatch's bias-aligned and bias-conflicting samples (right). One block
per study (a dataset x architecture; its lowest and highest learning rate are drawn).

Its studies' runs need ``evaluation: {ig: {maps: N}, dynamics: {per_step: true}}`` (the maps and the step
series are kept only on request)."""
from __future__ import annotations

from spurcomp.claims import Claim
from spurcomp.names import dataset_name, metric_name, model_name

PAPER_FIGURE = "Fig. 13"
INPUTS = "studies"
METRICS = ("max_bc_loss_ratio", "unbiased_test_acc")
TABLE_TITLE = "Maximum BC loss ratio and unbiased test accuracy at a low and a high learning rate"
CAPTION = """
The paper's Fig. 13: large learning rates make the losses of bias-conflicting (BC) samples dominate the
minibatch loss, and the model turns from the spurious feature to the core one. Per dataset and architecture, for
its lowest and highest learning rate: left, the same bias-conflicting test samples and their Integrated Gradients
maps (absolute attribution summed over channels, each map scaled to its own maximum; the baseline is in the
title, the default study uses the all-zero one of the authors' public code) at the checkpoints saved
through training (blank: no checkpoint at that epoch, e.g. a run that converged earlier); right, per training step,
the BC share of the minibatch loss, the parameter norm, the mean logit norm and the accuracy on the minibatch's
bias-aligned (solid) and bias-conflicting (dashed) samples, each seed a line (a moving average over about one
epoch of steps). The CSV beside the figure holds the plotted step series and each map's total attribution.
"""
# the step series drawn on the right, as the history names them
STEP_PANELS = (("step_bc_loss_ratio", "BC loss ratio (BC share of minibatch loss)"),
               ("step_param_norm", "parameter norm"), ("step_logit_norm", "logit norm"),
               ("step_acc_ba", "minibatch accuracy: BA (solid), BC (dashed)"))
MAX_CHECKPOINTS = 7  # columns of maps


def claims(spec: dict, config: dict):
    """Per study, its highest learning rate against its lowest: a higher maximum BC loss ratio and a higher
    unbiased test accuracy (the mechanism of sec. 6). The maps are not made a claim: on Colored MNIST and Corrupted
    CIFAR-10 the spurious feature (the digit's colour, the corruption) lies on the same pixels as the core one, so
    no pixel mask tells them apart."""
    out = []
    for study in spec["studies"]:
        s = config["studies"][study]
        lrs = sorted(float(lr) for lr in s["grid"].get("lr", []))
        if len(lrs) < 2:
            raise ValueError(f"fig13 study {study!r} needs at least two learning rates in its grid (a low and a high "
                             f"one); it has {lrs}")
        low, high = lrs[0], lrs[-1]
        where = f"{dataset_name(config['datasets'][s['dataset']]['generator'])}, {model_name(config['models'][s['model']])}"
        for metric in METRICS:
            out.append(Claim(f"{study}:{metric}:lr{high:g}_vs_lr{low:g}",
                             f"{metric_name(metric)} is higher at learning rate {high:g} than at {low:g} on {where}",
                             study, metric, +1, PAPER_FIGURE, versus_study=study, pick=f"at:lr={high!r}",
                             versus_pick=f"at:lr={low!r}"))
    return out


def plot(inputs, out_pdf, out_csv=None, grid_rule=None):
    import matplotlib.pyplot as plt
    import pandas as pd

    from spurcomp.figures._draw import ordered, read_tables, save, source_label
    from spurcomp.tables import table_names

    tables = read_tables(inputs)
    fig = plt.figure(figsize=(13, 4.6 * len(tables)), layout="constrained")
    blocks = fig.subfigures(len(tables), 1, squeeze=False)[:, 0]
    values = []
    for block, (table, provenance) in zip(blocks, tables):
        study = provenance.get("study", "")
        names = table_names(table, provenance)
        lrs = sorted(table.lr.unique())
        low_high = [lrs[0], lrs[-1]]
        left, right = block.subfigures(1, 2, width_ratios=[3, 2])
        ig = (provenance.get("evaluation") or {}).get("ig") or {}
        baseline = {"zero": "all-zero IG baseline", "uniform": f"{ig.get('n_baselines')} uniform IG baselines"}.get(
            ig.get("baseline"), "IG baseline not recorded")
        block.suptitle(f"{names['dataset_name']}, {names['model_name']}: learning rate {low_high[0]:g} vs "
                       f"{low_high[1]:g} (maps: {baseline})\n{source_label(provenance)}", fontsize=9)
        values += _map_block(left, table, low_high, study)
        values += _step_block(right, table, low_high, study)
    values = pd.DataFrame(values, columns=["study", "kind", "lr", "seed", "sample", "epoch", "step", "value",
                                           "status"])
    named = {provenance.get("study", ""): table_names(table, provenance) for table, provenance in tables}
    values["dataset_name"] = [named[study]["dataset_name"] for study in values.study]
    values["model_name"] = [named[study]["model_name"] for study in values.study]
    return save(fig, out_pdf, ordered(values, ["study", "dataset_name", "model_name", "kind", "lr", "seed"]), out_csv)


def _map_block(left, table, low_high: list, study: str) -> list[dict]:
    """The samples and their maps through training (the lowest seed of each learning rate); the drawn values."""
    import numpy as np

    from spurcomp.figures._draw import display_scaled, image_array

    images = table[table.metric.isin(["input_image", "attribution_map"])]
    if "image" not in table or images.empty:
        ax = left.subplots()
        ax.axis("off")
        ax.text(0.5, 0.5, "no attribution maps in this study's table:\nset evaluation.ig.maps for its runs",
                ha="center", va="center", fontsize=8)
        return []
    seeds = {lr: table[table.lr == lr].seed.min() for lr in low_high}
    shown = images[[lr in seeds and seed == seeds[lr] for lr, seed in zip(images.lr, images.seed)]]
    samples = list(dict.fromkeys(shown[shown.metric == "input_image"].group))[:2]
    epochs = sorted(int(e) for e in shown[shown.metric == "attribution_map"].epoch.dropna().unique())
    if len(epochs) > MAX_CHECKPOINTS:  # the first, the last, and evenly between
        epochs = [epochs[i] for i in np.linspace(0, len(epochs) - 1, MAX_CHECKPOINTS).round().astype(int)]
    axes = left.subplots(len(samples) * 2, 1 + len(epochs), squeeze=False)
    values = []
    for s, sample in enumerate(samples):
        for k, lr in enumerate(low_high):
            row = axes[2 * s + k]
            mine = shown[(shown.lr == lr) & (shown.group == sample)]
            source = mine[mine.metric == "input_image"]
            if len(source):
                image = image_array(source.image.iloc[0])
                row[0].imshow(display_scaled(image), cmap="gray" if image.shape[-1] == 1 else None)
            row[0].set_ylabel(f"lr {lr:g}\n{sample.split(',', 1)[1].replace(',', ' ')}", fontsize=6)
            for e, epoch in enumerate(epochs):
                at = mine[(mine.metric == "attribution_map") & (mine.epoch == epoch)]
                if len(at):
                    row[1 + e].imshow(display_scaled(image_array(at.image.iloc[0])), cmap="inferno")
                    values.append({"study": study, "kind": "map", "lr": lr, "seed": seeds[lr], "sample": sample,
                                   "epoch": epoch, "value": float(at.value.iloc[0])})
                if s == 0 and k == 0:
                    row[1 + e].set_title(f"epoch {epoch}", fontsize=7)
            for ax in row:
                ax.set_xticks([])
                ax.set_yticks([])
    axes[0, 0].set_title("sample", fontsize=7)
    return values


def _step_block(right, table, low_high: list, study: str) -> list[dict]:
    """Per-step series, each seed a line, low learning rate blue, high red; the drawn (smoothed) values."""
    axes = right.subplots(len(STEP_PANELS), 1, sharex=False, squeeze=False)[:, 0]
    steps = table[table.metric.str.startswith("step_")]
    if steps.empty:
        axes[0].text(0.5, 0.5, "no per-step series in this study's table:\nset evaluation.dynamics.per_step",
                     ha="center", va="center", fontsize=8, transform=axes[0].transAxes)
    values = []
    for ax, (metric, title) in zip(axes, STEP_PANELS):
        drawn = [metric, "step_acc_bc"] if metric == "step_acc_ba" else [metric]
        for lr, colour in zip(low_high, ("C0", "C3")):
            first_seed = steps[steps.lr == lr].seed.min()
            for seed, runs in steps[steps.lr == lr].groupby("seed"):
                for name, style in zip(drawn, ("-", "--")):
                    series = runs[runs.metric == name].sort_values("step")
                    if not series.empty:
                        values += _step_series(ax, series, runs.status.iloc[0], style, colour,
                                               f"lr {lr:g}" if (seed == first_seed and name == metric) else None,
                                               {"study": study, "kind": name, "lr": lr, "seed": int(seed)})
        ax.set_title(title, fontsize=7)
        ax.tick_params(labelsize=6)
    axes[-1].set_xlabel("training step", fontsize=7)
    axes[0].legend(fontsize=6)
    return values


def _step_series(ax, series, status: str, style: str, colour: str, label, keys: dict) -> list[dict]:
    """One run's series smoothed over an epoch's steps (faint where the run failed); its drawn values."""
    from spurcomp.study import FAILED_STATUSES

    window = max(1, int(series.groupby("epoch").size().median()))
    smooth = series.value.rolling(window, min_periods=1).mean()
    ax.plot(series.step, smooth, style, color=colour, lw=0.8, alpha=0.5 if status in FAILED_STATUSES else 0.9,
            label=label)
    return [{**keys, "step": int(n), "epoch": int(e), "value": float(v), "status": status}
            for n, e, v in zip(series.step, series.epoch, smooth)]
