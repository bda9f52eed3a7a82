"""Figure 3: (left) unbiased test accuracy, prunability and representation properties against learning rate;
(right) core / spurious / noise attributions through training for a low and a high learning rate."""
from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from spurcomp.aggregate import read_table
from spurcomp.figures.common import FAILED, normalise, per_lr_summary, source_label

LEFT_METRICS = {
    "unbiased_test_acc": "Unbiased test acc.",
    "prunability": "Prunability (Σκ κP)",
    "activation_sparsity": "Activation sparsity",
    "activation_compressibility": "Activation compressibility (q, κ)",
    "class_separation_r2": "Class separation R²",
    "csi": "Class selectivity (CSI)",
}
FEATURE_COLOURS = {"core": "tab:green", "spurious": "tab:red", "noise": "tab:gray"}


def _low_high_lr(table: pd.DataFrame) -> tuple[float, float]:
    """The smallest and the largest learning rate none of whose seeds diverged."""
    failed = set(table[table.status.isin(FAILED)].lr)
    usable = sorted(lr for lr in table.lr.unique() if lr not in failed) or sorted(table.lr.unique())
    return usable[0], usable[-1]


def plot_fig3(table_path, out_pdf, out_csv=None) -> pd.DataFrame:
    table, provenance = read_table(table_path)
    study = provenance.get("study", Path(table_path).stem)
    metrics = [m for m in LEFT_METRICS if m in set(table.metric)]
    summaries = [normalise(per_lr_summary(table, m)) for m in metrics]

    fig = plt.figure(figsize=(12, 5.2), layout="constrained")
    grid = fig.add_gridspec(1, 3, width_ratios=[1.3, 1, 1])
    left = fig.add_subplot(grid[0])
    plotted = []
    for (summary, low, high), metric, colour in zip(summaries, metrics, plt.cm.tab10.colors):
        lr = summary["lr"].to_numpy()
        mean, std = summary["norm_mean"].to_numpy(), summary["norm_std"].to_numpy()
        left.plot(lr, mean, "o-", color=colour, label=f"{LEFT_METRICS[metric]} [{low:.3g}, {high:.3g}]")
        left.fill_between(lr, mean - std, mean + std, color=colour, alpha=0.2)
        unconverged = summary["not_converged"].to_numpy() > 0
        left.plot(lr[unconverged], mean[unconverged], "o", mfc="white", color=colour)
        plotted.append(summary.assign(min=low, max=high))
    diverged = sorted(set(table[table.status == "diverged"].lr))
    if diverged:
        left.plot(diverged, np.zeros(len(diverged)), "kx", ms=9, label="diverged (≥1 seed)")
    left.set_xscale("log")
    left.set_xlabel("learning rate")
    left.set_ylabel("normalised value")
    left.set_title("Effect of learning rate")
    # below the axes: with six variables, a legend inside would hide the curves
    left.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=2,
                title="range of each variable in brackets; open marker: ≥1 seed not converged", title_fontsize=6)

    attributions = table[table.metric == "attribution_density"]
    low_lr, high_lr = _low_high_lr(table)
    axes = [fig.add_subplot(grid[1]), fig.add_subplot(grid[2])]
    for ax, lr, name in zip(axes, (low_lr, high_lr), ("Low", "High")):
        runs = attributions[attributions.lr == lr]
        for feature, colour in FEATURE_COLOURS.items():
            curve = runs[runs.feature == feature].groupby("epoch")["value"].agg(["mean", "std"]).reset_index()
            epochs = curve["epoch"].to_numpy(dtype=float)
            ax.plot(epochs, curve["mean"], "o-", color=colour, label=feature, ms=3)
            ax.fill_between(epochs, curve["mean"] - curve["std"].fillna(0), curve["mean"] + curve["std"].fillna(0),
                            color=colour, alpha=0.2)
            plotted.append(curve.assign(metric=f"attribution_density:{feature}", lr=lr))
        ax.set_xscale("symlog", linthresh=1)
        ax.set_ylim(0, 1)
        ax.set_xlabel("epoch")
        ax.set_title(f"{name} LR ({lr:g}): attributions (IG)")
        ax.legend(fontsize=7)
    axes[0].set_ylabel("mean |attribution| per feature (normalised)")

    seeds = table.seed.nunique()
    fig.suptitle(f"{study} — {table.model.iloc[0]}, {seeds} seeds; {source_label(provenance)}", fontsize=9)
    Path(out_pdf).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out_pdf)
    plt.close(fig)
    values = pd.concat(plotted, ignore_index=True)
    if out_csv:
        values.to_csv(out_csv, index=False)
    return values
