"""Results as tables, for readers who compare numbers: each figure's metrics per study and learning rate as
mean ± std over seeds (failed runs left out, learning rates past the paper's grid rule marked), in Markdown and
LaTeX. Also the one per-learning-rate summary the figures draw from. pandas only: no plotting library."""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from spurcomp.claims import grid_rule_cut
from spurcomp.names import KNOB_AXES, dataset_label, degraded_column, knob_names, metric_name, model_name
from spurcomp.study import FAILED_STATUSES

FORMATS = ("md", "latex")


def per_lr_summary(table: pd.DataFrame, metric: str, excluded: dict | None = None, by=("lr",)) -> pd.DataFrame:
    """Mean, std and count over seeds of ``metric`` per learning rate (per grid point: ``by``, the learning rate
    and a study's other grid knobs), from runs that did not fail (diverge or collapse), with the number of
    diverged, collapsed and unconverged seeds beside them, and why the grid rule leaves a learning rate out
    (``excluded``: lr -> reason; empty: kept)."""
    by = list(by)
    rows = table[(table.metric == metric)]
    ok = rows[~rows.status.isin(FAILED_STATUSES)]
    summary = ok.groupby(by)["value"].agg(["mean", "std", "count"])
    status = rows.groupby(by)["status"].agg(
        diverged=lambda s: int((s == "diverged").sum()), collapsed=lambda s: int((s == "collapsed").sum()),
        not_converged=lambda s: int((s == "not_converged").sum()))
    out = status.join(summary, how="left").reset_index().assign(metric=metric)
    return out.assign(grid_rule=[(excluded or {}).get(lr, "") for lr in out.lr])


def grid_knobs(provenance: dict) -> list[str]:
    """The knobs a study's grid varies besides the learning rate, from a table's provenance."""
    return [knob for knob in ((provenance.get("study_spec") or {}).get("grid") or {}) if knob != "lr"]


def table_names(table: pd.DataFrame, provenance: dict) -> dict:
    """Names for people of a study table's dataset (with its source) and model, from its provenance."""
    dataset, model = table.dataset.iloc[0], table.model.iloc[0]
    data = (provenance.get("datasets") or {}).get(dataset, {})
    spec = (provenance.get("models") or {}).get(model)
    names = {"dataset_name": dataset_label(data["generator"], data["source"], data.get("degraded")) if data else dataset,
             "model_name": model_name(spec) if spec else model}
    return {**names, **degraded_column(data)}


def model_and_knobs(table: pd.DataFrame, provenance: dict, knobs, plain: str = "") -> str:
    """The model's name and a study's ``knobs`` at the values its table holds ("VGG11 (width ×1/8), Adam"): the
    model column of a results table whose studies share a dataset and a model and differ in those knobs.
    ``plain`` names knobs at their neutral values, which :func:`spurcomp.names.knob_names` leaves out."""
    values = {knob: table[knob].iloc[0] for knob in knobs}
    recipe = knob_names({k: v.item() if hasattr(v, "item") else v for k, v in values.items()}) or plain
    return ", ".join(part for part in (table_names(table, provenance)["model_name"], recipe) if part)


def results_table(inputs, metrics, grid_rule: dict | None = None, study_label=None) -> pd.DataFrame:
    """One row per study and learning rate, one column per metric (a number's mean, std and count in columns
    ``METRIC``, ``METRIC_std``, ``METRIC_n``), and the grid rule's reason where a learning rate is left out.
    ``study_label(table, provenance)``: what the model column says (default: the model's name), for a layout
    whose studies share a dataset and a model."""
    from spurcomp.aggregate import read_table

    rows = []
    for path in inputs:
        table, provenance = read_table(path)
        named = table_names(table, provenance)
        names = {"study": provenance.get("study", Path(path).stem), "dataset": named["dataset_name"],
                 "model": study_label(table, provenance) if study_label else named["model_name"]}
        excluded = grid_rule_cut(table, grid_rule)
        by = ["lr", *grid_knobs(provenance)]
        summaries = {metric: per_lr_summary(table, metric, excluded, by).set_index(by)
                     for metric in metrics if metric in set(table.metric)}
        for point in sorted(table[by].drop_duplicates().itertuples(index=False, name=None)):
            key = point if len(by) > 1 else point[0]
            lr = point[0]
            knobs = ", ".join(f"{KNOB_AXES.get(k, k)} {v:g}" for k, v in zip(by[1:], point[1:]))
            row = {**names, "lr": lr, "knobs": knobs, "grid_rule": excluded.get(lr, "")}
            for metric, summary in summaries.items():
                found = key in summary.index
                count = summary.loc[key, "count"] if found else 0
                row.update({metric: summary.loc[key, "mean"] if found else float("nan"),
                            f"{metric}_std": summary.loc[key, "std"] if found else float("nan"),
                            f"{metric}_n": int(count) if pd.notna(count) else 0})
            rows.append(row)
    return pd.DataFrame(rows)


def _cell(row, metric: str) -> str:
    mean, std, n = row.get(metric), row.get(f"{metric}_std"), row.get(f"{metric}_n", 0)
    if mean is None or pd.isna(mean):
        return "–"
    return f"{mean:.3f} ± {std:.3f}" if n > 1 and pd.notna(std) else f"{mean:.3f}"


def render(frame: pd.DataFrame, metrics, title: str, fmt: str) -> str:
    """``frame`` (from :func:`results_table`) as a Markdown or LaTeX table; grid-rule rows are marked †."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown table format {fmt!r}; allowed: {list(FORMATS)}")
    metrics = [m for m in metrics if m in frame]
    knobs = "knobs" in frame and frame["knobs"].astype(bool).any()  # a grid over other knobs too
    header = ["dataset", "model", "learning rate"] + (["knob"] if knobs else []) + [metric_name(m) for m in metrics]
    body = [[row["dataset"], row["model"], f"{row['lr']:g}{' †' if row['grid_rule'] else ''}"]
            + ([row["knobs"] or "–"] if knobs else []) + [_cell(row, m) for m in metrics]
            for row in frame.to_dict("records")]
    excluded = sorted({f"{row['study']}, lr {row['lr']:g}: {row['grid_rule']}" for row in frame.to_dict("records")
                       if row["grid_rule"]})
    note = ("Mean ± std over the seeds that did not fail (diverged or collapsed runs left out). † past the paper's "
            "grid rule (not part of the curves or claims)" + (": " + "; ".join(excluded) if excluded else "") + ".")
    if fmt == "md":
        lines = [f"# {title}", "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        lines += ["| " + " | ".join(cells) + " |" for cells in body]
        return "\n".join(lines + ["", note]) + "\n"

    def tex(text: str) -> str:
        for old, new in (("\\", r"\textbackslash{}"), ("&", r"\&"), ("%", r"\%"), ("_", r"\_"), ("#", r"\#"),
                         ("±", r"$\pm$"), ("†", r"$^\dagger$"), ("×", r"$\times$"), ("²", r"$^2$"),
                         ("κ", r"$\kappa$"), ("Σ", r"$\Sigma$"), ("γ", r"$\gamma$"), ("ρ", r"$\rho$")):
            text = text.replace(old, new)
        return text

    lines = [r"\begin{table}", r"\centering", rf"\caption{{{tex(title)}. {tex(note)}}}",
             r"\begin{tabular}{ll" + "r" + ("l" if knobs else "") + "r" * (len(header) - 3 - knobs) + "}", r"\toprule",
             " & ".join(tex(h) for h in header) + r" \\", r"\midrule"]
    lines += [" & ".join(tex(c) for c in cells) + r" \\" for cells in body]
    return "\n".join(lines + [r"\bottomrule", r"\end{tabular}", r"\end{table}"]) + "\n"
