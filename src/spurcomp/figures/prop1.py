"""Proposition 1, numerically: scaling by k the logits of a predictor that follows the spurious rule makes the
bias-conflicting samples' share of the loss grow like k e^{αk}."""
from __future__ import annotations

from pathlib import Path

PAPER_FIGURE = "Prop. 1"
INPUTS = "datasets"
METRICS = ()  # a computation on each dataset's labels, not on study tables
CAPTION = """
The paper's Proposition 1, on each dataset's training labels: a predictor that follows the spurious rule (logit
1 for the bias label b, 0 for the others) has its logits scaled by k. Then the summed cross-entropy of the
bias-conflicting samples over that of the bias-aligned ones (left: log scale) grows like C k e^{αk}: the
bias-aligned losses vanish like e^{-k}, the conflicting ones grow like k. The fitted α (over k ≥ 5; dashed line)
is close to 1, the logit margin, on every dataset. Right: the same ratio divided by k e^{k}, flat once k is large.
The CSV beside the figure holds every k, the ratio, and each dataset's fitted α and C.
"""
SCALES = (0.25, 30.0, 120)  # k from, to, how many (geometric)
FIT_FROM = 5.0  # the asymptotic regime the fit reads


def claims(spec: dict, config: dict):
    return []  # a proposition checked numerically (its α is in the CSV): no learning-rate trend to test


def plot(inputs, out_pdf, out_csv=None, grid_rule=None):
    import matplotlib.pyplot as plt
    import numpy as np
    import pandas as pd

    from spurcomp.data.io import load_summary
    from spurcomp.figures._draw import save
    from spurcomp.metrics.mechanism import bc_ba_loss_ratio, fit_growth_rate, spurious_rule_logits
    from spurcomp.names import dataset_label, degraded_column

    k = np.geomspace(*SCALES[:2], int(SCALES[2]))
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.6), layout="constrained")
    rows = []
    for path in inputs:
        summary = load_summary(path)
        y, b = summary.train_y, summary.train_b
        logits = spurious_rule_logits(b, summary.num_classes)
        ratio = np.array([bc_ba_loss_ratio(scale * logits, y, b) for scale in k])
        fitted = k >= FIT_FROM
        alpha, c = fit_growth_rate(k[fitted], ratio[fitted])
        meta = summary.metadata
        name = dataset_label(meta["generator"], meta.get("source", "procedural"), meta.get("degraded"))
        degraded = degraded_column(meta)
        line, = left.plot(k, ratio, label=f"{name}: α = {alpha:.3f}")
        left.plot(k[fitted], c * k[fitted] * np.exp(alpha * k[fitted]), "--", color=line.get_color(), lw=1)
        right.plot(k, ratio / (k * np.exp(k)), color=line.get_color(), label=name)
        rows += [{"dataset": Path(path).stem, "dataset_name": name, "k": scale, "bc_ba_loss_ratio": r,
                  "alpha": alpha, "c": c, "fitted": bool(f), **degraded} for scale, r, f in zip(k, ratio, fitted)]
    left.set(yscale="log", xlabel="logit scale k", ylabel="BC loss / BA loss (summed)")
    right.set(xlabel="logit scale k", ylabel="ratio / (k e^k)", yscale="log")
    left.legend(fontsize=7)
    right.legend(fontsize=7)
    fig.suptitle("Proposition 1: the bias-conflicting share of the loss under a spurious-rule predictor with "
                 "logits scaled by k", fontsize=8)
    return save(fig, out_pdf, pd.DataFrame(rows), out_csv)
