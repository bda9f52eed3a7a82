"""Shared pieces of every figure: summaries over seeds, normalisation, provenance labels."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")  # figures are files; never need a display

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

FAILED = ("diverged",)


def per_lr_summary(table: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Mean, std and count over seeds of ``metric`` per learning rate, from runs that did not diverge, with
    the number of diverged and unconverged seeds beside them."""
    rows = table[(table.metric == metric)]
    ok = rows[~rows.status.isin(FAILED)]
    summary = ok.groupby("lr")["value"].agg(["mean", "std", "count"])
    status = rows.groupby("lr")["status"].agg(
        diverged=lambda s: int((s == "diverged").sum()), not_converged=lambda s: int((s == "not_converged").sum()))
    return status.join(summary, how="left").reset_index().assign(metric=metric)


def normalise(summary: pd.DataFrame) -> tuple[pd.DataFrame, float, float]:
    """Min-max normalise the means to [0, 1] (the paper's per-variable y-axes); returns the range used."""
    low, high = summary["mean"].min(), summary["mean"].max()
    span = (high - low) or 1.0
    out = summary.assign(norm_mean=(summary["mean"] - low) / span, norm_std=summary["std"].fillna(0) / span)
    return out, float(low), float(high)


def source_label(provenance: dict) -> str:
    parts = []
    for name, data in (provenance.get("datasets") or {}).items():
        parts.append(f"{name}: {data.get('source', '?')} data ({data.get('generator', '?')} v{data.get('version', '?')})")
    return "; ".join(parts) or "data source unknown"


def plot_lr_curves(ax, table: pd.DataFrame, metrics: dict[str, str], legend: bool = True) -> pd.DataFrame:
    """Each metric's seed mean (line) and spread (band) against learning rate, min-max normalised per metric
    (the paper's y-axes; the range is in the legend and in the returned rows). Open markers: some seed did not
    converge; crosses at 0: some seed diverged."""
    plotted = []
    colours = {metric: colour for metric, colour in zip(metrics, plt.cm.tab10.colors)}
    for metric, label in metrics.items():
        if metric not in set(table.metric):
            continue
        summary, low, high = normalise(per_lr_summary(table, metric))
        lr = summary["lr"].to_numpy()
        mean, std = summary["norm_mean"].to_numpy(), summary["norm_std"].to_numpy()
        colour = colours[metric]
        ax.plot(lr, mean, "o-", color=colour, ms=4, label=f"{label} [{low:.3g}, {high:.3g}]")
        ax.fill_between(lr, mean - std, mean + std, color=colour, alpha=0.2)
        unconverged = summary["not_converged"].to_numpy() > 0
        ax.plot(lr[unconverged], mean[unconverged], "o", mfc="white", color=colour, ms=4)
        plotted.append(summary.assign(min=low, max=high))
    diverged = sorted(set(table[table.status == "diverged"].lr))
    if diverged:
        ax.plot(diverged, np.zeros(len(diverged)), "kx", ms=8, label="diverged (≥1 seed)")
    ax.set_xscale("log")
    ax.set_xlabel("learning rate")
    if legend:
        ax.legend(fontsize=6, loc="best")
    return pd.concat(plotted, ignore_index=True) if plotted else pd.DataFrame()
