"""Fig. 9: landscapes over learning rate x focal-loss gamma: final training loss, unbiased test accuracy and
spurious-feature utilisation, as heat maps (one study per gamma, its grid the learning rates)."""
from __future__ import annotations

from spurcomp.claims import trend_with_lr

PAPER_FIGURE = "Fig. 9"
INPUTS = "studies"
METRICS = ("final_train_loss", "unbiased_test_acc", "spurious_attribution_share")
TABLE_TITLE = "Final training loss, unbiased test accuracy and spurious attribution share per focal gamma"
CAPTION = """
The paper's Fig. 9: how the learning rate and the focal loss's gamma shape the landscape of training loss,
unbiased test accuracy and spurious-feature utilisation (the share of Integrated Gradients attributions on the
spurious features at the end of training). Columns are learning rates, rows focal gamma (one study each; gamma 0
is cross-entropy); each cell is the mean over seeds that did not fail, written in the cell and in the CSV beside
the figure. A cell where a seed diverged or collapsed is marked × and counts only the other seeds; a cell with
no surviving seed is blank.
"""


def claims(spec: dict, config: dict):
    """At every gamma, unbiased accuracy rises and spurious utilisation falls with the learning rate."""
    studies = spec["studies"]
    return (trend_with_lr(config, studies, ["unbiased_test_acc"], PAPER_FIGURE)
            + trend_with_lr(config, studies, ["spurious_attribution_share"], PAPER_FIGURE, direction=-1))


def study_label(table, provenance: dict) -> str:
    """The results table's model column: the model and the study's focal γ (the four studies share a dataset
    and a model, so their rows would otherwise read alike)."""
    from spurcomp.tables import model_and_knobs

    return model_and_knobs(table, provenance, ("focal_gamma",))


def grid_values(tables):
    """One row per (focal gamma, learning rate, metric): the mean over seeds that did not fail, how many seeds
    counted and how many failed (:func:`spurcomp.tables.per_lr_summary` per grid point)."""
    import pandas as pd

    from spurcomp.tables import per_lr_summary

    rows = []
    for table, provenance in tables:
        for metric in METRICS:
            cells = per_lr_summary(table, metric, by=("focal_gamma", "lr"))
            rows.append(pd.DataFrame({
                "study": provenance.get("study", ""), "focal_gamma": cells.focal_gamma.astype(float),
                "lr": cells.lr.astype(float), "metric": metric, "mean": cells["mean"],
                "seeds": cells["count"].fillna(0).astype(int),
                "failed_seeds": (cells.diverged + cells.collapsed).astype(int)}))
    return pd.concat(rows, ignore_index=True)


def plot(inputs, out_pdf, out_csv=None, grid_rule=None):
    import matplotlib.pyplot as plt
    import numpy as np

    from spurcomp.figures._draw import ordered, read_tables, save, source_label
    from spurcomp.names import metric_name
    from spurcomp.tables import table_names

    tables = read_tables(inputs)
    values = grid_values(tables)
    names = table_names(*tables[0])
    gammas, lrs = sorted(values.focal_gamma.unique()), sorted(values.lr.unique())
    fig, axes = plt.subplots(1, len(METRICS), figsize=(4.2 * len(METRICS), 3.4), layout="constrained")
    for ax, metric in zip(axes, METRICS):
        cells = values[values.metric == metric].pivot(index="focal_gamma", columns="lr", values="mean")
        cells = cells.reindex(index=gammas, columns=lrs)
        failed = values[values.metric == metric].pivot(index="focal_gamma", columns="lr", values="failed_seeds")
        failed = failed.reindex(index=gammas, columns=lrs).fillna(0)
        grid = cells.to_numpy(dtype=float)
        log_scale = metric == "final_train_loss"  # losses span decades
        shown = np.log10(np.clip(grid, 1e-8, None)) if log_scale else grid
        image = ax.imshow(shown, origin="lower", aspect="auto", cmap="viridis")
        for (i, j), value in np.ndenumerate(grid):
            if np.isfinite(value):
                mark = " ×" if failed.iloc[i, j] else ""
                ax.text(j, i, f"{value:.2g}{mark}" if log_scale else f"{value:.2f}{mark}", ha="center",
                        va="center", fontsize=7, color="white" if shown[i, j] < np.nanmean(shown) else "black")
        ax.set_xticks(range(len(lrs)), [f"{lr:g}" for lr in lrs], fontsize=7)
        ax.set_yticks(range(len(gammas)), [f"{g:g}" for g in gammas], fontsize=7)
        ax.set(xlabel="learning rate", ylabel="focal loss γ",
               title=metric_name(metric) + (" (log10 colour)" if log_scale else ""))
        ax.title.set_fontsize(8)
        fig.colorbar(image, ax=ax, shrink=0.8)
    fig.suptitle(f"Learning rate × focal loss γ: {names['dataset_name']}, {names['model_name']}\n"
                 f"{source_label(tables[0][1])}; × : a seed failed (left out of the mean)", fontsize=8)
    values = values.assign(**names)
    values["metric_name"] = [metric_name(m) for m in values.metric]
    return save(fig, out_pdf, ordered(values, ["study", "dataset_name", "model_name", "focal_gamma", "lr", "metric",
                                              "metric_name", "mean", "seeds", "failed_seeds"]), out_csv)
