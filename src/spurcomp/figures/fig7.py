"""Fig. 7: a Swin Transformer on CelebA (and its Waterbirds twin, the same layout on a Waterbirds study):
attributions at a low and a high learning rate (top) and worst-group accuracy, κ-prunability, activation
(q, κ)-compressibility and CSI against learning rate (bottom), one column per study.

Its studies' runs need ``evaluation: {ig: {maps: N, map_pool: any}}`` for the top row (as Fig. 8)."""
from __future__ import annotations

from spurcomp.claims import trend_with_lr

PAPER_FIGURE = "Fig. 7"
INPUTS = "studies"
METRICS = ("worst_group_acc", "prunability", "activation_compressibility", "csi")
CAPTION = """
The paper's Fig. 7 (and its supplementary Waterbirds twin): a Swin Transformer trained with AdamW on CelebA
(target and spurious attribute in the title's data name; see config/README.md) at several learning rates. Top:
test images and the Integrated Gradients maps of a low- and a high-LR model, on the samples the high-LR model is
most likely to predict correctly relative to the low-LR one (as Fig. 8). Bottom: worst-group test accuracy (over
the four (y, b) groups), κ-prunability, activation (q, κ)-compressibility and class selectivity (CSI) against the
learning rate, each min-max normalised (its range in the legend); mean and spread over seeds; grey, dashed:
learning rates past the paper's grid rule. The paper starts from ImageNet-1k weights; the model's name says
whether these runs did ("ImageNet-pretrained") or trained from scratch (the default scale: a small Swin of the
same design on a procedural stand-in). The CSV beside the figure holds every plotted value.
"""


def claims(spec: dict, config: dict):
    return trend_with_lr(config, spec["studies"], METRICS, PAPER_FIGURE)


def plot(inputs, out_pdf, out_csv=None, grid_rule=None):
    return draw(inputs, out_pdf, out_csv, grid_rule, METRICS, "Effect of learning rate on attributions, worst-group "
                "accuracy, compressibility and class selectivity")


def draw(inputs, out_pdf, out_csv, grid_rule, metrics, title: str):
    """One column per study: Fig. 8's maps of a low- and a high-LR model (top), ``metrics`` against learning rate
    (bottom); also Fig. 11's layout."""
    import textwrap

    import matplotlib.pyplot as plt
    import pandas as pd

    from spurcomp.figures._draw import ordered, plot_lr_curves, read_tables, save, source_label, with_names
    from spurcomp.figures.fig8 import MAP_COLUMNS, SHOWN, map_block
    from spurcomp.tables import table_names

    tables = read_tables(inputs)
    fig = plt.figure(figsize=(max(8.0, 2.0 * SHOWN) * len(tables), 9.0), layout="constrained")
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
