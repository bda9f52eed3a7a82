"""Fig. 12: unbiased test accuracy against the maximum bias-conflicting (BC) loss ratio reached during training,
one point per run, across datasets and learning rates, with the Pearson and Spearman correlations and their
confidence intervals."""
from __future__ import annotations

from spurcomp.claims import correlation_over_runs, correlations, run_pairs, trend_with_lr

PAPER_FIGURE = "Fig. 12"
INPUTS = "studies"
METRICS = ("unbiased_test_acc", "max_bc_loss_ratio")
TABLE_TITLE = "Unbiased test accuracy and the maximum BC loss ratio during training"
CAPTION = """
The paper's Fig. 12: a run's unbiased test accuracy rises with the largest share of a mini-batch's loss that its
bias-conflicting samples carried during training (the BC loss ratio, read from every SGD step of the run's
history), across datasets and learning rates (Sec. 6: large learning rates make BC samples' confident
mispredictions dominate the loss). One point per run, coloured by dataset and architecture, darker for larger
learning rates. Runs that failed (diverged or collapsed) and learning rates past the paper's grid rule are drawn
as grey crosses and left out of the correlations. The panel and the CSV beside the figure give Pearson's r and
Spearman's ρ over all kept runs with 95% bootstrap intervals (runs resampled), and the same per study.
"""


def claims(spec: dict, config: dict):
    """The paper's claim: "Through experiments with ResNet18, Fig. 12 demonstrate that unbiased test accuracy very
    strongly correlates with the maximum loss ratio": the correlation over the figure's ResNet18 runs pooled (over
    all its runs where it has none, and the claim's text says so). Supplementary: the mechanism's premise on each
    study, the maximum BC loss ratio grows with the learning rate."""
    studies = list(spec["studies"])
    resnet18 = [s for s in studies if config["models"][config["studies"][s]["model"]].get("arch") == "resnet"
                and config["models"][config["studies"][s]["model"]].get("depth", "resnet18") == "resnet18"]
    which = "the ResNet18 runs" if resnet18 else "every run of the figure (no ResNet18 study in it)"
    return ([correlation_over_runs(config, resnet18 or studies, "unbiased_test_acc", "max_bc_loss_ratio",
                                   PAPER_FIGURE, which)]
            + trend_with_lr(config, studies, ["max_bc_loss_ratio"], PAPER_FIGURE, supplementary=True))


def plot(inputs, out_pdf, out_csv=None, grid_rule=None):
    import textwrap

    import matplotlib.pyplot as plt
    import numpy as np
    import pandas as pd

    from spurcomp.figures._draw import ordered, panel_grid, read_tables, save, source_label
    from spurcomp.tables import table_names

    tables = read_tables(inputs)
    fig, (ax,) = panel_grid(1, width=9.5, height=4.6)
    points, per_study, sources = [], [], set()
    for (table, provenance), colour in zip(tables, plt.cm.tab10.colors):
        names = table_names(table, provenance)
        label = f"{names['dataset_name']}, {names['model_name']}"
        study = provenance.get("study", "")
        runs = run_pairs(table, METRICS, grid_rule).assign(study=study, dataset=table.dataset.iloc[0],
                                                   model=table.model.iloc[0], **names)
        kept = runs[runs.kept]
        lrs = np.log10(kept.lr.to_numpy())
        shade = 0.3 + 0.7 * (lrs - lrs.min()) / (np.ptp(lrs) or 1.0)  # more opaque for larger learning rates
        ax.scatter(kept.max_bc_loss_ratio, kept.unbiased_test_acc, s=18, color=colour, alpha=shade, label=label,
                   edgecolors="none")
        dropped = runs[~runs.kept]
        ax.scatter(dropped.max_bc_loss_ratio, dropped.unbiased_test_acc, marker="x", s=18, color="0.6")
        per_study.append({"kind": "correlation", "study": study, **names,
                          **correlations(kept.max_bc_loss_ratio, kept.unbiased_test_acc)})
        points.append(runs.assign(kind="run"))
        sources.add(source_label(provenance))
    runs = pd.concat(points, ignore_index=True)
    kept = runs[runs.kept]
    pooled = {"kind": "correlation", "study": "all", "dataset_name": "all", "model_name": "all",
              **correlations(kept.max_bc_loss_ratio, kept.unbiased_test_acc)}
    ax.set_xlabel("maximum BC loss ratio during training")
    ax.set_ylabel("unbiased test accuracy")
    fig.legend(*ax.get_legend_handles_labels(), loc="outside right center", fontsize=6, frameon=False)
    ax.text(0.02, 0.98, f"Pearson r = {pooled['pearson_r']:+.2f} [{pooled['pearson_low']:+.2f}, "
                        f"{pooled['pearson_high']:+.2f}]\nSpearman ρ = {pooled['spearman_rho']:+.2f} "
                        f"[{pooled['spearman_low']:+.2f}, {pooled['spearman_high']:+.2f}]\n"
                        f"{pooled['n_runs']} runs (95% bootstrap intervals)",
            transform=ax.transAxes, va="top", fontsize=7)
    fig.suptitle("\n".join(["Unbiased test accuracy against the maximum BC loss ratio during training",
                            textwrap.fill("; ".join(sorted(sources)), 110)]), fontsize=7)
    values = pd.concat([pd.DataFrame([pooled, *per_study]), runs], ignore_index=True)
    values = ordered(values, ["kind", "study", "dataset_name", "model_name", "setting", "seed", "lr", "status",
                              "kept", "max_bc_loss_ratio", "unbiased_test_acc"])
    return save(fig, out_pdf, values, out_csv)
