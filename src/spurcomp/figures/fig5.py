"""Fig. 5: class selectivity (CSI) and class separation R² (with unbiased accuracy for reference) against
learning rate, one panel per study, and the Spearman correlation of each metric with learning rate."""
from __future__ import annotations

from spurcomp.claims import trend_with_lr

PAPER_FIGURE = "Fig. 5"
INPUTS = "studies"
METRICS = ("unbiased_test_acc", "csi", "class_separation_r2")
CLAIM_METRICS = ("csi", "class_separation_r2")  # the accuracy claim belongs to fig. 4
CAPTION = """
The paper's Fig. 5: larger learning rates give representations with higher class selectivity (CSI, the
units' preference for one class) and class separation (R² of cosine distances), beside unbiased test accuracy.
One panel per dataset and architecture, each variable min-max normalised (range in the legend). The CSV beside
the figure holds Spearman's ρ (and its p-value) between each metric and learning rate over each panel's runs
that did not fail (diverge or collapse), at the learning rates the paper's grid rule keeps (greyed points are
past it).
"""


def claims(spec: dict, config: dict):
    """The paper's CSI and R² claims; supplementary, selectivity with dead units counted as 0 (a mean over live
    units can rise only because units die): CSI should still rise, and bias selectivity should fall."""
    studies = spec["studies"]
    return (trend_with_lr(config, studies, CLAIM_METRICS, PAPER_FIGURE)
            + trend_with_lr(config, studies, ["csi_all"], PAPER_FIGURE, supplementary=True)
            + trend_with_lr(config, studies, ["bsi_all"], PAPER_FIGURE, direction=-1, supplementary=True))


def lr_correlations(table, metrics, grid_rule=None):
    """Spearman's rank correlation of each metric with learning rate over the runs that did not fail, at the
    learning rates the grid rule keeps."""
    import pandas as pd
    from scipy.stats import spearmanr

    from spurcomp.claims import grid_rule_cut
    from spurcomp.study import FAILED_STATUSES as FAILED

    excluded = list(grid_rule_cut(table, grid_rule))
    rows = []
    for metric in metrics:
        runs = table[(table.metric == metric) & ~table.status.isin(FAILED) & ~table.lr.isin(excluded)]
        runs = runs.dropna(subset=["value"])
        if runs.lr.nunique() < 2:
            rho, p = float("nan"), float("nan")
        else:
            rho, p = spearmanr(runs.lr, runs.value)
        rows.append({"metric": metric, "spearman_rho": float(rho), "p_value": float(p), "runs": len(runs),
                     "learning_rates": runs.lr.nunique()})
    return pd.DataFrame(rows)


def plot(inputs, out_pdf, out_csv=None, grid_rule=None):
    import pandas as pd

    from spurcomp.figures._draw import ordered, save, study_panels, table_names, with_names

    fig, tables, _ = study_panels(inputs, METRICS, "Effect of learning rate on core-feature utilisation (CSI) and "
                                                   "class separation (R²)", grid_rule)
    correlations = pd.concat([
        with_names(lr_correlations(table, METRICS, grid_rule), table_names(table, provenance)).assign(
            study=provenance.get("study", ""), dataset=table.dataset.iloc[0], model=table.model.iloc[0])
        for table, provenance in tables], ignore_index=True)
    correlations = ordered(correlations, ["study", "dataset", "model", "dataset_name", "model_name", "metric",
                                          "metric_name", "spearman_rho", "p_value", "runs", "learning_rates"])
    return save(fig, out_pdf, correlations, out_csv)
