"""Fig. 11: ImageNet-1k with ResNet18: "model statistics and attributions": the Integrated Gradients maps of a
low- and a high-LR model (top, as Fig. 8) and Fig. 10's variables against learning rate (bottom: test accuracy,
κ-prunability, CSI, attribution entropy, background attribution percentage).

Its study's runs need ``evaluation: {ig: {maps: N, map_pool: any}}`` for the maps (as Fig. 8)."""
from __future__ import annotations

from spurcomp.figures.fig10 import METRICS, standard_claims

PAPER_FIGURE = "Fig. 11"
INPUTS = "studies"
CAPTION = """
The paper's Fig. 11: the effects of the learning rate on ImageNet-1k with ResNet18, on model statistics and
attributions. Top: test images and the Integrated Gradients maps of a low- and a high-LR model, on the samples the
high-LR model is most likely to predict correctly relative to the low-LR one (as Fig. 8). Bottom: Fig. 10's
variables against the learning rate: higher test accuracy, κ-prunability and class selectivity (CSI), lower
attribution entropy and background attribution percentage, each min-max normalised (its range in the legend);
mean and spread over seeds; grey, dashed: learning rates past the paper's grid rule. At the default scale the data
are a procedural ImageNet stand-in (coloured shapes on textures at 64 x 64), named as such in the title, and
ResNet18 has 1/8 of its channels; config/paper.yaml reads the real ImageNet from an ImageFolder. The CSV beside the
figure holds every plotted value.
"""
__all__ = ["CAPTION", "INPUTS", "METRICS", "PAPER_FIGURE", "claims", "plot"]


def claims(spec: dict, config: dict):
    return standard_claims(config, spec["studies"], PAPER_FIGURE)


def plot(inputs, out_pdf, out_csv=None, grid_rule=None):
    from spurcomp.figures._draw import maps_over_curves

    return maps_over_curves(inputs, out_pdf, out_csv, grid_rule, METRICS, "ImageNet-1k: attributions of a low- and a high-LR "
                "model, accuracy, compressibility, class selectivity and background / texture reliance")
