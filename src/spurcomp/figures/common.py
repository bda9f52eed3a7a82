"""Shared pieces of every figure: summaries over seeds, normalisation, provenance labels."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")  # figures are files; never need a display

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
