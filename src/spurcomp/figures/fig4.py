"""Fig. 4: unbiased test accuracy, κ-prunability and activation (q, κ)-compressibility against learning rate,
one panel per dataset x architecture study."""
from __future__ import annotations

from spurcomp.claims import trend_with_lr

PAPER_FIGURE = "Fig. 4"
INPUTS = "studies"
METRICS = ("unbiased_test_acc", "prunability", "activation_compressibility")
CAPTION = """
The paper's Fig. 4: on semi-synthetic datasets and convolutional models, larger learning rates give higher
unbiased test accuracy (robustness to the spurious feature) together with higher κ-prunability and activation
(q, κ)-compressibility. One panel per dataset and architecture; each variable min-max normalised (its range in
the legend); mean and spread over seeds; open markers: a seed did not reach 100% training accuracy; crosses and
triangles: a seed diverged or collapsed (left out of the mean). Grey, dashed: learning rates past the paper's grid
rule (the first with a failed seed or a drastic loss of accuracy), shown but not part of the curve or the claims;
the CSV's grid_rule column says why. The CSV beside the figure holds every plotted mean, spread, count and each
variable's minimum and maximum per panel.
"""


def claims(spec: dict, config: dict):
    return trend_with_lr(config, spec["studies"], METRICS, PAPER_FIGURE)


def plot(inputs, out_pdf, out_csv=None, grid_rule=None):
    from spurcomp.figures._draw import save, study_panels

    fig, _, values = study_panels(inputs, METRICS, "Effect of learning rate on robustness (unbiased test accuracy) "
                                                   "and compressibility", grid_rule)
    return save(fig, out_pdf, values, out_csv)
