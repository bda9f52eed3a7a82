"""Supplementary to Fig. 4: its panels (unbiased test accuracy, κ-prunability, activation compressibility against
learning rate) under other optimisers and learning-rate schedules, one panel per study."""
from __future__ import annotations

from spurcomp.claims import trend_with_lr

PAPER_FIGURE = "Fig. 4 (suppl.: optimizers, schedules)"
INPUTS = "studies"
METRICS = ("unbiased_test_acc", "prunability", "activation_compressibility")
TABLE_TITLE = "Fig. 4's metrics under other optimisers and schedules"
CAPTION = """
The paper's supplementary claim (Sec. 4) that other optimisers (Adam, PSGD) and learning-rate schedules (cosine
annealing, warmup-stable-decay) give "qualitatively identical, and sometimes stronger" results: Fig. 4's panels,
one per study, each titled with the knobs its study fixes (its optimiser or schedule; plain SGD is untitled),
read as Fig. 4's are. Each optimiser has its own learning-rate range (Adam's and PSGD's are far below SGD's); under
a schedule the learning rate on the x-axis is the peak.
"""


def claims(spec: dict, config: dict):
    """The paper's Fig. 4 claims, under each study's optimiser and schedule."""
    return trend_with_lr(config, spec["studies"], METRICS, PAPER_FIGURE)


def study_label(table, provenance: dict) -> str:
    """The results table's model column: the model and its optimiser and schedule (the studies share a dataset
    and a model, so their rows would otherwise read alike; plain SGD at a constant rate is "SGD")."""
    from spurcomp.tables import model_and_knobs

    return model_and_knobs(table, provenance, ("optimizer", "schedule"), plain="SGD")


def plot(inputs, out_pdf, out_csv=None, grid_rule=None):
    from spurcomp.figures._draw import SUMMARY_COLUMNS, ordered, save, study_panels

    fig, tables, values = study_panels(inputs, METRICS, "Effect of learning rate under other optimisers and "
                                                        "schedules (supplementary to Fig. 4)", grid_rule)
    recipes = {provenance.get("study", ""): (str(table.optimizer.iloc[0]), str(table.schedule.iloc[0]))
               for table, provenance in tables}
    values = values.assign(optimizer=[recipes[s][0] for s in values.study],
                           schedule=[recipes[s][1] for s in values.study])
    values = ordered(values, [*SUMMARY_COLUMNS[:5], "optimizer", "schedule", *SUMMARY_COLUMNS[5:]])
    return save(fig, out_pdf, values, out_csv)
