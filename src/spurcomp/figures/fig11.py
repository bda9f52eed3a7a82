"""Fig. 11: Fig. 10's variables on ImageNet-1k with ResNet18 (test accuracy, κ-prunability, attribution entropy,
background attribution percentage against learning rate)."""
from __future__ import annotations

from spurcomp.figures.fig10 import METRICS, draw, standard_claims

PAPER_FIGURE = "Fig. 11"
INPUTS = "studies"
CAPTION = """
The paper's Fig. 11: Fig. 10's effects of the learning rate on ImageNet-1k with ResNet18: higher test accuracy
and κ-prunability, lower attribution entropy and background attribution percentage. At the default scale the
data are a procedural ImageNet stand-in (coloured shapes on textures at 64 x 64), named as such in the title,
and ResNet18 has 1/8 of its channels; config/paper.yaml reads the real ImageNet from an ImageFolder. Each
variable min-max normalised (its range in the legend); mean and spread over seeds; grey, dashed: learning rates
past the paper's grid rule. The CSV beside the figure holds every plotted value.
"""
__all__ = ["CAPTION", "INPUTS", "METRICS", "PAPER_FIGURE", "claims", "plot"]


def claims(spec: dict, config: dict):
    return standard_claims(config, spec["studies"], PAPER_FIGURE)


def plot(inputs, out_pdf, out_csv=None, grid_rule=None):
    return draw(inputs, out_pdf, out_csv, grid_rule, "ImageNet-1k: accuracy, compressibility and background / "
                "texture reliance against learning rate")
