"""Figures drawn from several studies (one panel per dataset x architecture) or from dataset files.

- fig2: example images of each dataset, bias-aligned and bias-conflicting, labelled with y and b.
- fig4: unbiased test accuracy, κ-prunability and activation (q, κ)-compressibility against learning rate.
- fig5: CSI and class separation R² (with unbiased accuracy for reference) against learning rate, and the
  Spearman correlation of each metric with learning rate over the runs.
Every panel's y-axis is min-max normalised per variable (the paper's convention); the CSV beside each figure
holds the unnormalised means, spreads and each variable's min and max.
"""
from __future__ import annotations

import math
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from scipy.stats import spearmanr

from spurcomp.aggregate import read_table
from spurcomp.data.io import load_dataset
from spurcomp.figures.common import FAILED, plot_lr_curves, source_label

FIG4_METRICS = {
    "unbiased_test_acc": "Unbiased test acc.",
    "prunability": "Prunability (Σκ κP)",
    "activation_compressibility": "Activation compressibility",
}
FIG5_METRICS = {
    "unbiased_test_acc": "Unbiased test acc.",
    "csi": "Class selectivity (CSI)",
    "class_separation_r2": "Class separation R²",
}


def _panels(n: int) -> tuple[plt.Figure, list]:
    columns = min(n, 4)
    rows = math.ceil(n / columns)
    fig, axes = plt.subplots(rows, columns, figsize=(3.6 * columns, 3.2 * rows + 0.9), layout="constrained",
                             squeeze=False)
    for ax in axes.ravel()[n:]:
        ax.set_visible(False)
    return fig, list(axes.ravel()[:n])


def _study_panels(table_paths, metrics: dict[str, str], out_pdf, title: str):
    tables = [read_table(path) for path in table_paths]
    fig, axes = _panels(len(tables))
    rows, sources = [], []
    for ax, (table, provenance), path in zip(axes, tables, table_paths):
        study = provenance.get("study", Path(path).stem)
        values = plot_lr_curves(ax, table, metrics)
        ax.set_title(f"{table.dataset.iloc[0]} — {table.model.iloc[0]} ({table.seed.nunique()} seeds)", fontsize=9)
        ax.set_ylabel("normalised value")
        ax.set_ylim(-0.3, 1.3)  # the spread band of a noisy variable would otherwise flatten the curves
        rows.append(values.assign(study=study, dataset=table.dataset.iloc[0], model=table.model.iloc[0]))
        sources.append(source_label(provenance))
    fig.suptitle(f"{title}\n{'; '.join(sorted(set(sources)))}\nlegend: [min, max] of each variable; open marker: "
                 f"≥1 seed not converged", fontsize=8)
    Path(out_pdf).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out_pdf)
    plt.close(fig)
    return tables, pd.concat(rows, ignore_index=True)


def _ordered(values: pd.DataFrame) -> pd.DataFrame:
    first = ["study", "dataset", "model", "metric", "lr", "mean", "std", "count", "diverged", "not_converged",
             "min", "max"]
    return values[first + [c for c in values.columns if c not in first]]


def plot_fig4(table_paths, out_pdf, out_csv=None) -> pd.DataFrame:
    _, values = _study_panels(table_paths, FIG4_METRICS, out_pdf,
                              "Effect of learning rate on robustness (unbiased test acc.) and compressibility")
    values = _ordered(values)
    if out_csv:
        values.to_csv(out_csv, index=False)
    return values


def lr_correlations(table: pd.DataFrame, metrics) -> pd.DataFrame:
    """Spearman's rank correlation of each metric with learning rate over the runs that did not diverge."""
    rows = []
    for metric in metrics:
        runs = table[(table.metric == metric) & ~table.status.isin(FAILED)].dropna(subset=["value"])
        if runs.lr.nunique() < 2:
            rho, p = float("nan"), float("nan")
        else:
            rho, p = spearmanr(runs.lr, runs.value)
        rows.append({"metric": metric, "spearman_rho": float(rho), "p_value": float(p), "runs": len(runs),
                     "learning_rates": runs.lr.nunique()})
    return pd.DataFrame(rows)


def plot_fig5(table_paths, out_pdf, out_csv=None) -> pd.DataFrame:
    tables, _ = _study_panels(table_paths, FIG5_METRICS, out_pdf,
                              "Effect of learning rate on core-feature utilisation (CSI) and class separation (R²)")
    correlations = pd.concat([
        lr_correlations(table, FIG5_METRICS).assign(study=provenance.get("study", Path(path).stem),
                                                    dataset=table.dataset.iloc[0], model=table.model.iloc[0])
        for (table, provenance), path in zip(tables, table_paths)], ignore_index=True)
    correlations = correlations[["study", "dataset", "model", "metric", "spearman_rho", "p_value", "runs",
                                 "learning_rates"]]
    if out_csv:
        correlations.to_csv(out_csv, index=False)
    return correlations


def _show(ax, image: np.ndarray) -> None:
    if image.shape[0] == 1:
        ax.imshow(image[0], cmap="gray", vmin=0, vmax=1)
    else:
        ax.imshow(np.clip(image.transpose(1, 2, 0), 0, 1))
    ax.set_xticks([])
    ax.set_yticks([])


def plot_fig2(dataset_paths, out_pdf, out_csv=None, per_kind: int = 4) -> pd.DataFrame:
    """``per_kind`` bias-aligned then ``per_kind`` bias-conflicting training images per dataset (one row each)."""
    fig, axes = plt.subplots(len(dataset_paths), 2 * per_kind, figsize=(1.5 * 2 * per_kind, 1.9 * len(dataset_paths)),
                             layout="constrained", squeeze=False)
    shown, sources = [], set()
    for row, path in zip(axes, dataset_paths):
        dataset = load_dataset(path)
        meta, split = dataset.metadata, dataset.train
        aligned, conflicting = np.flatnonzero(split.y == split.b), np.flatnonzero(split.y != split.b)
        # one image per class where possible, so the examples show different labels
        picks = []
        for pool in (aligned, conflicting):
            by_class = [pool[split.y[pool] == c][:1] for c in range(dataset.num_classes)]
            candidates = np.concatenate([c for c in by_class if len(c)] + [pool])
            picks += list(dict.fromkeys(candidates.tolist()))[:per_kind]
        for k, (ax, index) in enumerate(zip(row, picks)):
            _show(ax, split.x[index])
            kind = "aligned" if k < per_kind else "conflicting"
            ax.set_title(f"y={split.y[index]}  b={split.b[index]}", fontsize=7, color="black" if kind == "aligned" else "tab:red")
            shown.append({"dataset": Path(path).stem, "generator": meta["generator"], "source": meta["source"],
                          "index": int(index), "y": int(split.y[index]), "b": int(split.b[index]), "kind": kind})
        row[0].set_ylabel(f"{Path(path).stem}\n({meta['source']})", fontsize=7)
        sources.update(meta.get("base_images", [meta["source"]]))
    fig.suptitle("Example training images: left bias-aligned (b = y), right bias-conflicting (b ≠ y, red)\n"
                 f"base images: {'; '.join(sorted(sources))}", fontsize=8)
    Path(out_pdf).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out_pdf)
    plt.close(fig)
    values = pd.DataFrame(shown)
    if out_csv:
        values.to_csv(out_csv, index=False)
    return values
