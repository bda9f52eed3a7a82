"""What the layout modules draw with: summaries over seeds, normalisation, names and provenance labels,
panel grids. Imported by ``plot`` functions only (matplotlib is heavy)."""
from __future__ import annotations

import math
import textwrap
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # figures are files; never need a display

import matplotlib.pyplot as plt  # noqa: E402
import matplotlib.ticker  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from spurcomp.aggregate import read_table  # noqa: E402
from spurcomp.claims import grid_rule_cut  # noqa: E402
from spurcomp.names import dataset_name, knob_names, metric_name, source_name  # noqa: E402
from spurcomp.study import FAILED_STATUSES  # noqa: E402
from spurcomp.tables import per_lr_summary, table_names  # noqa: E402

MAP_SAMPLES = 4  # attribution-map samples per study
# a figure CSV's first columns where it holds per-learning-rate summaries (keys, names, the summary, its flags)
SUMMARY_COLUMNS = ["study", "dataset", "model", "dataset_name", "model_name", "metric", "metric_name", "lr", "mean", "std",
                   "count", "diverged", "collapsed", "not_converged", "grid_rule", "min", "max"]


def normalise(summary: pd.DataFrame) -> tuple[pd.DataFrame, float, float]:
    """Min-max normalise the means to [0, 1] (the paper's per-variable y-axes) over the learning rates the grid
    rule keeps; returns the range used."""
    kept = summary[summary["grid_rule"] == ""] if "grid_rule" in summary else summary
    low, high = kept["mean"].min(), kept["mean"].max()
    span = (high - low) or 1.0
    out = summary.assign(norm_mean=(summary["mean"] - low) / span, norm_std=summary["std"].fillna(0) / span)
    return out, float(low), float(high)


def source_label(provenance: dict) -> str:
    """Where each dataset of a table came from, e.g. "Colored MNIST: embedded MNIST 5k data (generator v2)"."""
    parts = []
    for data in (provenance.get("datasets") or {}).values():
        generator = data.get("generator", "?")
        parts.append(f"{dataset_name(generator)}: {source_name(data.get('source', '?'), generator)} data "
                     f"(generator v{data.get('version', '?')})"
                     + (f", DEGRADED: {', '.join(sorted(data['degraded']))} by a fallback" if data.get("degraded") else ""))
    return "; ".join(parts) or "data source unknown"


def with_names(values: pd.DataFrame, names: dict) -> pd.DataFrame:
    """``values`` with the names for people beside the keys: dataset_name, model_name, metric_name."""
    out = values.assign(**names)
    if "metric" in out:
        out["metric_name"] = [metric_name(m.split(":")[0]) + (f" ({m.split(':')[1]})" if ":" in m else "")
                              for m in out["metric"]]
    return out


def read_tables(paths) -> list[tuple[pd.DataFrame, dict]]:
    return [read_table(path) for path in paths]


def panel_grid(n: int, width: float = 3.6, height: float = 3.2) -> tuple[plt.Figure, list]:
    """``n`` panels, at most four a row."""
    columns = min(n, 4)
    rows = math.ceil(n / columns)
    fig, axes = plt.subplots(rows, columns, figsize=(width * columns, height * rows + 0.9), layout="constrained",
                             squeeze=False)
    for ax in axes.ravel()[n:]:
        ax.set_visible(False)
    return fig, list(axes.ravel()[:n])


def save(fig: plt.Figure, out_pdf, values: pd.DataFrame, out_csv) -> pd.DataFrame:
    """The figure as PDF and, beside it, as PNG (what the report shows inline), and its values as CSV. Where
    some of its data were degraded (``data_degraded``: :func:`spurcomp.tables.table_names`), a red footnote
    says what was replaced."""
    extra = {}
    if "data_degraded" in values:
        notes = sorted(set(values["data_degraded"].dropna()))
        # below the figure, wrapped to its width; the saved page grows to hold it
        fig.text(0.01, -0.01, textwrap.fill("DEGRADED DATA: " + " | ".join(notes), int(fig.get_figwidth() * 16)),
                 color="red", fontsize=6, va="top")
        extra = {"bbox_inches": "tight"}
    Path(out_pdf).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out_pdf, **extra)
    fig.savefig(Path(out_pdf).with_suffix(".png"), dpi=110, **extra)
    plt.close(fig)
    if out_csv:
        values.to_csv(out_csv, index=False)
    return values


def lr_ticks(ax, lrs) -> None:
    """Learning rates as plain tick labels (0.03, 0.1, ...) at the grid's values: log-axis minor labels such as
    "3 × 10⁻¹" collide when the grid spans less than a decade."""
    lrs = sorted(set(float(lr) for lr in lrs))
    ax.set_xticks(lrs, [f"{lr:g}" for lr in lrs], fontsize=7, rotation=45 if len(lrs) > 5 else 0)
    ax.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())


def plot_lr_curves(ax, table: pd.DataFrame, metrics, legend: bool = True, grid_rule: dict | None = None) -> pd.DataFrame:
    """Each metric's seed mean (line) and spread (band) against learning rate, min-max normalised per metric
    (the paper's y-axes; the range is in the legend and in the returned rows). Open markers: some seed did not
    converge; crosses / triangles at 0: some seed diverged / collapsed. Learning rates past the paper's grid rule
    (``grid_rule``, :func:`spurcomp.claims.grid_rule_cut`) are drawn grey and dashed, outside the range."""
    plotted = []
    colours = {metric: colour for metric, colour in zip(metrics, plt.cm.tab10.colors)}
    excluded = grid_rule_cut(table, grid_rule)
    for metric in metrics:
        label = metric_name(metric)
        if metric not in set(table.metric):
            continue
        summary, low, high = normalise(per_lr_summary(table, metric, excluded))
        kept = (summary["grid_rule"] == "").to_numpy()
        lr = summary["lr"].to_numpy()
        mean, std = summary["norm_mean"].to_numpy(), summary["norm_std"].to_numpy()
        colour = colours[metric]
        ax.plot(lr[kept], mean[kept], "o-", color=colour, ms=4, label=f"{label} [{low:.3g}, {high:.3g}]")
        ax.fill_between(lr[kept], (mean - std)[kept], (mean + std)[kept], color=colour, alpha=0.2)
        if not kept.all():
            # the last kept point joined to the left-out ones, greyed: shown, never part of the curve
            tail = np.flatnonzero(~kept)
            tail = np.concatenate([tail[:1] - 1, tail]) if tail[0] > 0 else tail
            ax.plot(lr[tail], mean[tail], "o--", color="0.6", ms=3, zorder=1)
        unconverged = (summary["not_converged"].to_numpy() > 0) & kept
        ax.plot(lr[unconverged], mean[unconverged], "o", mfc="white", color=colour, ms=4)
        plotted.append(summary.assign(min=low, max=high))
    for status, marker in (("diverged", "kx"), ("collapsed", "kv")):
        failed = sorted(set(table[table.status == status].lr))
        if failed:
            ax.plot(failed, np.zeros(len(failed)), marker, ms=7, label=f"{status} (≥1 seed)")
    if excluded:
        ax.axvspan(min(excluded) / 1.15, max(excluded) * 1.15, color="0.92", zorder=0,
                   label=f"past the grid rule (from lr {min(excluded):g})")
    ax.set_xscale("log")
    lr_ticks(ax, table.lr.unique())
    ax.set_xlabel("learning rate")
    if legend:
        ax.legend(fontsize=6, loc="best")
    return pd.concat(plotted, ignore_index=True) if plotted else pd.DataFrame()


def study_panels(inputs, metrics, title: str, grid_rule: dict | None = None) -> tuple[plt.Figure, list, pd.DataFrame]:
    """One panel per study table (a dataset x architecture): ``metrics`` against learning rate, each min-max
    normalised. Returns the figure, the tables with their provenance, and the plotted values with names."""
    tables = read_tables(inputs)
    fig, axes = panel_grid(len(tables))
    rows, sources = [], []
    for ax, (table, provenance), path in zip(axes, tables, inputs):
        names = table_names(table, provenance)
        values = plot_lr_curves(ax, table, metrics, grid_rule=grid_rule)
        recipe = knob_names((provenance.get("study_spec") or {}).get("overrides") or {})  # as the claims name it
        ax.set_title(f"{names['dataset_name']}\n{names['model_name']}, {table.seed.nunique()} seeds"
                     + (f"\n{recipe}" if recipe else ""), fontsize=8)
        ax.set_ylabel("normalised value")
        ax.set_ylim(-0.3, 1.3)  # the spread band of a noisy variable would otherwise flatten the curves
        rows.append(with_names(values, names).assign(study=provenance.get("study", Path(path).stem),
                                                     dataset=table.dataset.iloc[0], model=table.model.iloc[0]))
        sources.append(source_label(provenance))
    lines = [title, "; ".join(sorted(set(sources))),
             "legend: [min, max] of each variable; open marker: ≥1 seed not converged; grey: past the paper's grid rule"]
    width = 60 * min(len(tables), 4)  # characters that fit above the panels at this font size
    fig.suptitle("\n".join(textwrap.fill(line, width) for line in lines), fontsize=8)
    return fig, tables, ordered(pd.concat(rows, ignore_index=True), SUMMARY_COLUMNS)


def ordered(values: pd.DataFrame, first: list[str]) -> pd.DataFrame:
    """``values`` with the ``first`` columns first (keys and names), the rest after them."""
    return values[first + [c for c in values.columns if c not in first]]


def image_array(cell):
    """A nested-list cell of the ``image`` column (lists, or NumPy object arrays after Parquet) as a float array."""
    if len(cell) and isinstance(cell[0], (list, np.ndarray)):
        return np.stack([image_array(part) for part in cell])
    return np.asarray(cell, dtype=float)


def display_scaled(image):
    """An image or map scaled to [0, 1] for display (a single channel drops its axis)."""
    low, high = float(np.min(image)), float(np.max(image))
    scaled = (image - low) / (high - low) if high > low else np.zeros_like(image)
    return scaled[..., 0] if scaled.shape[-1] == 1 else scaled


def ranked_samples(table, low: float, high: float):
    """The map samples ordered by the high-LR runs' mean probability of the true class minus the low-LR runs'
    (failed runs left out), with both probabilities."""
    rows = table[(table.metric == "map_target_probability") & ~table.status.isin(FAILED_STATUSES)]
    last = rows.groupby(["lr", "seed"])["epoch"].transform("max")
    rows = rows[rows.epoch == last]
    mean = rows.groupby(["group", "lr"])["value"].mean().unstack("lr")
    if low not in mean or high not in mean:
        return mean.iloc[0:0].assign(gain=[])
    return mean.assign(gain=mean[high] - mean[low]).dropna(subset=["gain"]).sort_values("gain", ascending=False)


def map_block(block, table, provenance: dict, grid_rule: dict | None, shown: int = MAP_SAMPLES) -> list[dict]:
    """Draw one study's samples into ``block`` (a subfigure): images (top row), the low-LR (middle) and high-LR
    (bottom) maps of the ``shown`` samples the high-LR model gets most right relative to the low-LR one (the
    lowest and highest learning rate the grid rule keeps; each map the lowest seed's, from its final weights).
    Returns the drawn values (Fig. 7's top row too)."""
    study = provenance.get("study", "")
    names = table_names(table, provenance)
    excluded = grid_rule_cut(table, grid_rule)
    lrs = sorted(lr for lr in table.lr.unique() if lr not in excluded) or sorted(table.lr.unique())
    low, high = lrs[0], lrs[-1]
    axes = block.subplots(3, shown, squeeze=False)
    for ax in axes.ravel():
        ax.set_xticks([])
        ax.set_yticks([])
    axes[0, 0].set_ylabel("image", fontsize=7)
    axes[1, 0].set_ylabel(f"lr {low:g}", fontsize=7)
    axes[2, 0].set_ylabel(f"lr {high:g}", fontsize=7)
    ranked = ranked_samples(table, low, high) if "image" in table else pd.DataFrame()
    if ranked.empty:
        axes[1, 0].text(0, 0.5, "no attribution maps in this study's table:\nset evaluation.ig.maps and "
                        "ig.map_pool: any", fontsize=7, transform=axes[1, 0].transAxes)
        return []
    seeds = {lr: table[table.lr == lr].seed.min() for lr in (low, high)}
    values = []
    for k, sample in enumerate(ranked.index[:shown]):
        mine = table[table.group == sample]
        image = image_array(mine[mine.metric == "input_image"].image.iloc[0])
        axes[0, k].imshow(display_scaled(image), cmap="gray" if image.shape[-1] == 1 else None)
        label = dict(part.split("=") for part in sample.split(","))
        axes[0, k].set_title(f"#{label['sample']} (y={label['y']}, b={label['b']})", fontsize=6)
        for row, lr in ((1, low), (2, high)):
            maps = mine[(mine.metric == "attribution_map") & (mine.lr == lr) & (mine.seed == seeds[lr])]
            if maps.empty:
                continue
            last = maps[maps.epoch == maps.epoch.max()]
            axes[row, k].imshow(display_scaled(image_array(last.image.iloc[0])), cmap="inferno")
            axes[row, k].set_title(f"p(class) {ranked.loc[sample, lr]:.2f}", fontsize=6)
            values.append({"study": study, "lr": lr, "seed": int(seeds[lr]), "sample": sample,
                           "epoch": int(last.epoch.iloc[0]), "target_probability": float(ranked.loc[sample, lr]),
                           "probability_gain": float(ranked.loc[sample, "gain"]),
                           "map_total": float(last.value.iloc[0]), **names})
    return values


MAP_COLUMNS = ["study", "dataset_name", "model_name", "lr", "seed", "sample", "epoch", "target_probability",
               "probability_gain", "map_total"]


def maps_over_curves(inputs, out_pdf, out_csv, grid_rule, metrics, title: str):
    """One column per study: the attribution maps (:func:`map_block`) of a low- and a high-LR model (top), ``metrics`` against learning rate
    (bottom); also Fig. 11's layout."""
    tables = read_tables(inputs)
    fig = plt.figure(figsize=(max(8.0, 2.0 * MAP_SAMPLES) * len(tables), 9.0), layout="constrained")
    columns = fig.subfigures(1, len(tables), squeeze=False)[0]
    maps, curves = [], []
    for column, (table, provenance) in zip(columns, tables):
        names = table_names(table, provenance)
        top, bottom = column.subfigures(2, 1, height_ratios=[3, 2])
        maps += map_block(top, table, provenance, grid_rule)
        top.suptitle("attributions (samples the high-LR model gets right relative to the low-LR one)", fontsize=8)
        ax = bottom.subplots()
        values = plot_lr_curves(ax, table, metrics, grid_rule=grid_rule)
        ax.set_ylabel("normalised value")
        ax.set_ylim(-0.3, 1.3)
        curves.append(with_names(values, names).assign(study=provenance.get("study", "")))
        column.suptitle("\n".join(textwrap.wrap(f"{names['dataset_name']}, {names['model_name']}, "
                                                f"{table.seed.nunique()} seeds", 70)
                                  + [source_label(provenance)]), fontsize=8)
    fig.suptitle(textwrap.fill(title, 100), fontsize=9)  # one column is narrower than Fig. 11's title
    values = pd.concat([*curves, pd.DataFrame(maps, columns=MAP_COLUMNS).assign(metric="attribution_map")],
                       ignore_index=True)
    return save(fig, out_pdf, ordered(values, ["study", "dataset_name", "model_name", "metric", "lr"]), out_csv)
