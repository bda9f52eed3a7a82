"""Figure 3: (left) unbiased test accuracy, prunability and representation properties against learning rate;
(right) core / spurious / noise attributions through training for a low and a high learning rate."""
from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd

from spurcomp.aggregate import read_table
from spurcomp.figures.common import FAILED, plot_lr_curves, source_label

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
    fig = plt.figure(figsize=(12, 5.2), layout="constrained")
    grid = fig.add_gridspec(1, 3, width_ratios=[1.3, 1, 1])
    left = fig.add_subplot(grid[0])
    plotted = [plot_lr_curves(left, table, LEFT_METRICS, legend=False)]
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
