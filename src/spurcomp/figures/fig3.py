"""Fig. 3: (left) unbiased test accuracy, prunability and representation properties against learning rate;
(right) core / spurious / noise attributions through training for a low and a high learning rate.
One row per study (the paper: parity with an FCN; its supplement: moon-star)."""
from __future__ import annotations

from spurcomp.claims import trend_with_lr

PAPER_FIGURE = "Fig. 3"
INPUTS = "studies"
METRICS = ("unbiased_test_acc", "prunability", "activation_sparsity", "activation_compressibility",
           "class_separation_r2", "csi")
CAPTION = """
The paper's Fig. 3: larger learning rates give higher unbiased test accuracy together with higher
compressibility (κ-prunability, activation sparsity and (q, κ)-compressibility) and more favourable
representations (class separation R², class selectivity). Left: each variable against learning rate,
min-max normalised (its range in the legend and in the CSV beside the figure); mean and spread over seeds;
open markers: a seed hit max_epochs before 100% training accuracy; crosses and triangles: a seed diverged or
collapsed (left out of the mean); grey, dashed: learning rates past the paper's grid rule (the first with a failed
seed or a drastic loss of accuracy). Right: Integrated Gradients attribution per core, spurious and noise feature
through training, for the lowest and the highest learning rate with no failed seed within the grid rule: the paper's model moves from the spurious to
the core feature faster at the high learning rate.
"""
FEATURE_COLOURS = {"core": "tab:green", "spurious": "tab:red", "noise": "tab:gray"}


def claims(spec: dict, config: dict):
    # fig. 12's claim (the BC loss ratio peaks higher at large learning rates) is tested on the same runs
    return (trend_with_lr(config, spec["studies"], METRICS, PAPER_FIGURE)
            + trend_with_lr(config, spec["studies"], ["max_bc_loss_ratio"], "Fig. 12"))


def _low_high_lr(table, grid_rule) -> tuple[float, float]:
    """The smallest and the largest learning rate that no seed failed at and the grid rule keeps."""
    from spurcomp.claims import grid_rule_cut
    from spurcomp.study import FAILED_STATUSES as FAILED

    failed = set(table[table.status.isin(FAILED)].lr) | set(grid_rule_cut(table, grid_rule))
    usable = sorted(lr for lr in table.lr.unique() if lr not in failed) or sorted(table.lr.unique())
    return usable[0], usable[-1]


def plot(inputs, out_pdf, out_csv=None, grid_rule=None):
    import matplotlib.pyplot as plt
    import pandas as pd

    from spurcomp.figures._draw import plot_lr_curves, read_tables, save, source_label, table_names, with_names

    tables = read_tables(inputs)
    fig = plt.figure(figsize=(12, 5.2 * len(tables)), layout="constrained")
    grid = fig.add_gridspec(len(tables), 3, width_ratios=[1.3, 1, 1])
    plotted, titles = [], []
    for row, (table, provenance) in enumerate(tables):
        names = table_names(table, provenance)
        left = fig.add_subplot(grid[row, 0])
        values = [plot_lr_curves(left, table, METRICS, legend=False, grid_rule=grid_rule)]
        left.set_ylabel("normalised value")
        left.set_title(f"{names['dataset_name']} — {names['model_name']}: effect of learning rate", fontsize=9)
        # below the axes: with six variables, a legend inside would hide the curves
        left.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=2,
                    title="range of each variable in brackets; open marker: ≥1 seed not converged", title_fontsize=6)

        attributions = table[table.metric == "attribution_density"]
        low_lr, high_lr = _low_high_lr(table, grid_rule)
        axes = [fig.add_subplot(grid[row, 1]), fig.add_subplot(grid[row, 2])]
        for ax, lr, name in zip(axes, (low_lr, high_lr), ("Low", "High")):
            runs = attributions[attributions.lr == lr]
            for feature, colour in FEATURE_COLOURS.items():
                curve = runs[runs.feature == feature].groupby("epoch")["value"].agg(["mean", "std"]).reset_index()
                epochs = curve["epoch"].to_numpy(dtype=float)
                ax.plot(epochs, curve["mean"], "o-", color=colour, label=feature, ms=3)
                ax.fill_between(epochs, curve["mean"] - curve["std"].fillna(0),
                                curve["mean"] + curve["std"].fillna(0), color=colour, alpha=0.2)
                values.append(curve.assign(metric=f"attribution_density:{feature}", lr=lr))
            ax.set_xscale("symlog", linthresh=1)
            ax.set_ylim(0, 1)
            ax.set_xlabel("epoch")
            ax.set_title(f"{name} LR ({lr:g}): attributions (IG)", fontsize=9)
            ax.legend(fontsize=7)
        axes[0].set_ylabel("mean |attribution| per feature (normalised)")
        study = provenance.get("study", "")
        plotted.append(with_names(pd.concat(values, ignore_index=True), names).assign(study=study))
        titles.append(f"{names['dataset_name']} — {names['model_name']}, {table.seed.nunique()} seeds; "
                      f"{source_label(provenance)}")
    fig.suptitle("\n".join(titles), fontsize=9)
    values = pd.concat(plotted, ignore_index=True)
    first = ["study", "dataset_name", "model_name", "metric", "metric_name", "lr"]
    return save(fig, out_pdf, values[first + [c for c in values.columns if c not in first]], out_csv)
