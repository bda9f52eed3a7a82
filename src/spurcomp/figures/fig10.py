"""Fig. 10: standard classification (CIFAR-10, CIFAR-100) with ResNet18: test accuracy, κ-prunability, class
selectivity (CSI), attribution entropy and background attribution percentage against learning rate, one panel per
study."""
from __future__ import annotations

from spurcomp.claims import trend_with_lr

PAPER_FIGURE = "Fig. 10"
INPUTS = "studies"
METRICS = ("test_acc", "prunability", "csi", "final_attribution_entropy", "background_attribution_pct")
# the paper's claims: "generalization, compressibility, and core feature utilization" (CSI) rise with the learning
# rate, the use of background / texture (dispersed attributions, attributions on the background) falls
RISING, FALLING = METRICS[:3], METRICS[3:]
CAPTION = """
The paper's Fig. 10: on standard classification data with ResNet18, larger learning rates give higher test
accuracy, κ-prunability and core feature utilization (class selectivity, CSI, of the penultimate units on the
test set), and lower attribution entropy (Integrated Gradients maps concentrated on fewer
pixels, e.g. the object's contours, rather than spread over background and texture) and a lower percentage of
the attributions on the image background (background masks from a DeepLabV3 segmenter; its mIoU is in
results/segmenters/). At the default scale the data are procedural stand-ins of CIFAR-10 / CIFAR-100 (coloured
shapes on smooth textures), named as such in every title, and ResNet18 has 1/8 of its channels. Each variable
min-max normalised (its range in the legend); mean and spread over seeds; open markers: a seed did not reach
100% training accuracy; crosses and triangles: a seed diverged or collapsed (left out of the mean). Grey,
dashed: learning rates past the paper's grid rule. The CSV beside the figure holds every plotted value.
"""


def standard_claims(config: dict, studies, figure: str):
    """Fig. 10's (and Fig. 11's) claims on ``studies``."""
    return (trend_with_lr(config, studies, RISING, figure)
            + trend_with_lr(config, studies, FALLING, figure, direction=-1))


def claims(spec: dict, config: dict):
    return standard_claims(config, spec["studies"], PAPER_FIGURE)


def plot(inputs, out_pdf, out_csv=None, grid_rule=None):
    from spurcomp.figures._draw import save, study_panels

    fig, _, values = study_panels(inputs, METRICS, "Standard classification: accuracy, compressibility, class "
                                  "selectivity and background / texture reliance against learning rate", grid_rule)
    return save(fig, out_pdf, values, out_csv)
