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
    from spurcomp.figures._draw import maps_over_curves

    return maps_over_curves(inputs, out_pdf, out_csv, grid_rule, METRICS, "Effect of learning rate on attributions, worst-group "
                "accuracy, compressibility and class selectivity")
