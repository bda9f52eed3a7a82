"""Fig. 1: the paper's overview. Top left: Double MNIST, accuracy, compressibility, CSI and class separation R²
against learning rate; top right: core (dim, left digit) vs spurious (bright, right digit) attributions of a low-
and a high-LR model; bottom: standard classification, test accuracy and background attribution percentage
against learning rate.

The figure's ``studies`` are three, in this order: the Double MNIST learning-rate study (curves), a Double MNIST
study with attribution maps (``evaluation.ig.maps``, as Fig. 13's), and a standard classification study whose
dataset has background masks (as Fig. 10's)."""
from __future__ import annotations

from spurcomp.claims import trend_with_lr

PAPER_FIGURE = "Fig. 1"
INPUTS = "studies"
CURVES = ("unbiased_test_acc", "prunability", "csi", "class_separation_r2")
STANDARD = ("test_acc", "background_attribution_pct")
METRICS = CURVES + STANDARD
TABLE_TITLE = "Unbiased or test accuracy, κ-prunability, CSI, class separation R² and background attribution %"
ROLES = ("learning-rate curves", "attribution maps", "standard classification")
CAPTION = """
The paper's Fig. 1, its overview. Top left: on Double MNIST, larger learning rates give higher unbiased test
accuracy, κ-prunability, class selectivity (CSI) and class separation R² (each min-max normalised, its range in
the legend; mean and spread over seeds). Top right: test images whose left, dim digit is the label (core) and
whose right, bright digit follows another class (spurious), with the Integrated Gradients maps of a low- and a
high-LR model (the samples the high-LR model gets most right relative to the low-LR one): the paper's high-LR
model attends to the core digit. Bottom: on standard classification (the default scale: the procedural CIFAR-10
stand-in with ResNet18 x1/8), test accuracy rises and the percentage of attributions on the image background
(DeepLabV3 masks) falls with the learning rate. Grey, dashed: learning rates past the paper's grid rule.
"""


def _roles(studies) -> tuple[str, str, str]:
    if len(studies) != 3:
        raise ValueError(f"fig1 takes three studies, in this order: {', '.join(ROLES)}; it has {list(studies)}")
    return tuple(studies)


def claims(spec: dict, config: dict):
    curves, _, standard = _roles(spec["studies"])
    return (trend_with_lr(config, [curves], CURVES, PAPER_FIGURE)
            + trend_with_lr(config, [standard], STANDARD[:1], PAPER_FIGURE)
            + trend_with_lr(config, [standard], STANDARD[1:], PAPER_FIGURE, direction=-1))


def plot(inputs, out_pdf, out_csv=None, grid_rule=None):
    import matplotlib.pyplot as plt
    import pandas as pd

    from spurcomp.figures._draw import (MAP_COLUMNS, map_block, ordered, plot_lr_curves, read_tables, save, source_label,
                                        with_names)
    from spurcomp.tables import table_names

    (curves, curves_provenance), (maps, maps_provenance), (standard, standard_provenance) = \
        read_tables(_roles(inputs))
    fig = plt.figure(figsize=(12, 8.5), layout="constrained")
    top, bottom = fig.subfigures(2, 1, height_ratios=[3, 2])
    left, right = top.subfigures(1, 2, width_ratios=[2, 3])
    values = []
    for where, table, provenance, metrics in ((left, curves, curves_provenance, CURVES),
                                              (bottom, standard, standard_provenance, STANDARD)):
        names = table_names(table, provenance)
        ax = where.subplots()
        drawn = plot_lr_curves(ax, table, metrics, grid_rule=grid_rule)
        ax.set_ylabel("normalised value")
        ax.set_ylim(-0.3, 1.3)
        ax.set_title(f"{names['dataset_name']}, {names['model_name']}, {table.seed.nunique()} seeds\n"
                     f"{source_label(provenance)}", fontsize=8)
        values.append(with_names(drawn, names).assign(study=provenance.get("study", "")))
    names = table_names(maps, maps_provenance)
    shown = map_block(right, maps, maps_provenance, grid_rule, shown=3)
    right.suptitle(f"{names['dataset_name']}, {names['model_name']}: core (left, dim) vs spurious (right, bright) "
                   f"digit", fontsize=8)
    values.append(pd.DataFrame(shown, columns=MAP_COLUMNS).assign(metric="attribution_map"))
    fig.suptitle("Large learning rates: robustness to spurious correlations, compressibility and core-feature use "
                 "(top); standard classification (bottom)", fontsize=9)
    return save(fig, out_pdf, ordered(pd.concat(values, ignore_index=True), ["study", "dataset_name", "model_name",
                                                                            "metric", "lr"]), out_csv)
