"""Fig. 6: the learning rate against the other knobs (batch size, momentum, L1 and L2 penalties, focal loss γ, ASAM
ρ): one row per knob with its values on the x-axis, alone and combined with a high learning rate, in unbiased test
accuracy, κ-prunability and core-feature utilisation (CSI); one column per variable and dataset x architecture.

Each study of the figure varies one knob (its grid has one key): the study varying ``lr`` is the learning-rate
row; a knob's study at the lower learning rate is the knob alone, one at a higher learning rate the knob combined
with it."""
from __future__ import annotations

from dataclasses import dataclass, field

from spurcomp.claims import Claim
from spurcomp.names import KNOB_AXES, dataset_name, metric_name, model_name
from spurcomp.settings import SHORT_NAMES, setting_from_dict

PAPER_FIGURE = "Fig. 6"
INPUTS = "studies"
METRICS = ("unbiased_test_acc", "prunability", "csi")
# a side of a claim is one grid point, chosen by robustness, at which every variable is compared
SELECTED_BY = "unbiased_test_acc"
TABLE_TITLE = "Unbiased test accuracy, κ-prunability and CSI per knob value, alone and with a high learning rate"
CAPTION = """
The paper's Fig. 6: how a large learning rate compares with, and combines with, other hyper-parameters and
interventions (batch size, SGD momentum, L1 and L2 penalties, the focal loss's γ, ASAM's ρ) in robustness
(unbiased test accuracy), compressibility (κ-prunability) and core-feature utilisation (class selectivity, CSI).
The first row varies the learning rate; every other row varies one knob, its values on the x-axis: solid, the
knob alone at the lower learning rate; dashed, the knob combined with the higher one (both learning rates are in
the legend). A knob's default value is the first row's run at that learning rate (the same run). Columns are the variables, per dataset and architecture, with one y-axis per column so that values
compare across rows (the paper's "y-axes are comparable within variables across rows"). Points are means over the
seeds that did not fail, bars their standard deviation; × marks a point where a seed diverged or collapsed (left
out of the mean and never a knob's best in the claims). The CSV beside the figure holds every point.
"""


@dataclass
class Row:
    """A knob's row in one dataset x architecture column group: its study alone, and with a high learning rate."""

    knob: str
    alone: str = ""
    combined: str = ""
    alone_lr: float = 0.0
    combined_lr: float = 0.0


@dataclass
class Group:
    """One dataset x architecture: its learning-rate study and a row per knob."""

    dataset: str
    model: str
    lr_study: str = ""
    rows: dict[str, Row] = field(default_factory=dict)


def study_roles(studies) -> list[Group]:
    """``studies``: (name, spec, learning rate) of each study, in the figure's order (spec: the study's config
    section; the learning rate: the one a knob study runs at). Each varies exactly one knob; per dataset x model
    one varies the learning rate, and each other knob has one or two studies (the lower learning rate alone, the
    higher combined)."""
    groups: dict[tuple[str, str], Group] = {}
    for name, spec, lr in studies:
        knobs = list(spec["grid"])
        if len(knobs) != 1:
            raise ValueError(f"fig6 study {name!r} varies {knobs}; each fig6 study varies exactly one knob (its row)")
        knob = knobs[0]
        group = groups.setdefault((spec["dataset"], spec["model"]), Group(spec["dataset"], spec["model"]))
        if knob == "lr":
            if group.lr_study:
                raise ValueError(f"fig6 studies {group.lr_study!r} and {name!r} both vary the learning rate of "
                                 f"{spec['dataset']} x {spec['model']}; keep one")
            group.lr_study = name
            continue
        row = group.rows.setdefault(knob, Row(knob))
        if row.combined:
            raise ValueError(f"fig6 has three studies of {knob} on {spec['dataset']} x {spec['model']}; allowed: one "
                             f"alone and one at a higher learning rate")
        if not row.alone:
            row.alone, row.alone_lr = name, lr
        elif lr == row.alone_lr:
            raise ValueError(f"fig6 studies {row.alone!r} and {name!r} vary {knob} at the same learning rate {lr:g}; "
                             f"the second must run at a higher one (the knob combined with a high learning rate)")
        else:
            row.combined, row.combined_lr = name, lr
            if lr < row.alone_lr:  # the lower learning rate is the knob alone
                row.alone, row.combined = row.combined, row.alone
                row.alone_lr, row.combined_lr = row.combined_lr, row.alone_lr
    for group in groups.values():
        if not group.lr_study:
            raise ValueError(f"fig6 has no study varying the learning rate of {group.dataset} x {group.model}: "
                             f"its first row (and the claims' comparison) needs one")
    return list(groups.values())


def claims(spec: dict, config: dict):
    """Per dataset x architecture, knob and variable: at the learning rate with the best unbiased accuracy, each
    variable is at least on par with the knob's at its value with the best unbiased accuracy (the paper: "High LR
    consistently facilitate a combination of OOD generalization, network compressibility, and core feature
    utilization, either on par with or surpassing other interventions": one learning rate, every variable), and
    the knob combined with the high learning rate is at least on par with that learning rate alone ("other
    interventions ... can be combined with high LR to achieve even better trade-offs")."""
    training = config["training"]
    defaults = setting_from_dict({k: v for k, v in training.items() if k in SHORT_NAMES}).knobs()
    studies = [(name, config["studies"][name],
                float((config["studies"][name].get("overrides") or {}).get("lr", training["lr"])))
               for name in spec["studies"]]
    out = []
    for group in study_roles(studies):
        grid = [float(lr) for lr in config["studies"][group.lr_study]["grid"]["lr"]]
        for row in group.rows.values():
            for study, lr in ((row.alone, row.alone_lr), (row.combined, row.combined_lr)):
                if study and not any(abs(lr - other) <= 1e-12 * lr for other in grid):
                    raise ValueError(f"fig6 study {study!r} runs at learning rate {lr:g}, which the learning-rate "
                                     f"study {group.lr_study!r} does not have ({grid}): the knob's default point "
                                     f"and the claims need that run; add {lr:g} to its grid")
        where = (f"{dataset_name(config['datasets'][group.dataset]['generator'])}, "
                 f"{model_name(config['models'][group.model])}")
        for knob, row in group.rows.items():
            axis = KNOB_AXES.get(knob, knob)
            default = defaults[knob]
            for metric in METRICS:
                out.append(Claim(
                    f"{row.alone}:{metric}:best_lr_vs_{knob}",
                    f"{metric_name(metric)} at the learning rate with the best unbiased accuracy is at least on par "
                    f"with {axis}'s (its value with the best unbiased accuracy, at learning rate "
                    f"{row.alone_lr:g}) on {where}", group.lr_study, metric, +1, PAPER_FIGURE,
                    versus_study=row.alone, pick=f"best:{SELECTED_BY}", versus_pick=f"best:{SELECTED_BY}",
                    tie="on par"))
                if row.combined:
                    out.append(Claim(
                        f"{row.combined}:{metric}:{knob}_with_high_lr",
                        f"{metric_name(metric)}: {axis} combined with learning rate {row.combined_lr:g} (its value "
                        f"with the best unbiased accuracy) is at least on par with that learning rate alone on "
                        f"{where}", row.combined, metric, +1, PAPER_FIGURE, versus_study=group.lr_study,
                        pick=f"best:{SELECTED_BY};except:{knob}={_number(default)}",
                        versus_pick=f"at:lr={row.combined_lr!r}", tie="on par"))
    return out


def _number(value) -> str:
    return repr(float(value)) if not isinstance(value, bool) else str(int(value))


def point_values(table, knob: str, metrics=METRICS):
    """Per value of ``knob`` (the study's one grid key) and metric: mean and std over the seeds that did not fail,
    how many counted and how many failed (:func:`spurcomp.tables.per_lr_summary` per grid point)."""
    import pandas as pd

    from spurcomp.tables import per_lr_summary

    by = ["lr"] if knob == "lr" else ["lr", knob]
    points = pd.concat([per_lr_summary(table, metric, by=by) for metric in metrics], ignore_index=True)
    return pd.DataFrame({"value_of_knob": points[knob].astype(float), "lr": points["lr"].astype(float),
                         "metric": points["metric"], "mean": points["mean"], "std": points["std"],
                         "seeds": points["count"].fillna(0).astype(int),
                         "failed_seeds": (points.diverged + points.collapsed).astype(int)})


def plot(inputs, out_pdf, out_csv=None, grid_rule=None):
    import matplotlib.pyplot as plt
    import pandas as pd

    from spurcomp.figures._draw import ordered, read_tables, save, source_label
    from spurcomp.tables import table_names

    tables = read_tables(inputs)
    by_study = {provenance.get("study", ""): (table, provenance) for table, provenance in tables}
    studies = [(name, provenance["study_spec"], float(table.lr.iloc[0])) for name, (table, provenance) in by_study.items()]
    groups = study_roles(studies)
    knobs = ["lr"] + list(dict.fromkeys(knob for group in groups for knob in group.rows))
    fig = plt.figure(figsize=(2.3 * len(METRICS) * len(groups), 1.9 * len(knobs) + 1.2), layout="constrained")
    values = []
    for block, group in zip(fig.subfigures(1, len(groups), squeeze=False)[0], groups):
        names = table_names(*by_study[group.lr_study])
        block.suptitle(f"{names['dataset_name']}, {names['model_name']}", fontsize=8)
        axes = block.subplots(len(knobs), len(METRICS), sharey="col", squeeze=False)
        for c, metric in enumerate(METRICS):
            axes[0, c].set_title(metric_name(metric), fontsize=7)
            _draw_column(axes[:, c], c, group, metric, knobs, by_study, names, values)
    sources = "; ".join(sorted({source_label(provenance) for _, provenance in tables}))
    fig.suptitle(f"Learning rate against other knobs and interventions (x: the row's knob; × : a seed failed)\n"
                 f"{sources}", fontsize=8)
    values = pd.concat(values, ignore_index=True)
    values["knob_name"] = [KNOB_AXES.get(k, k) for k in values.knob]
    values["metric_name"] = [metric_name(m) for m in values.metric]
    return save(fig, out_pdf, ordered(values, ["dataset", "model", "dataset_name", "model_name", "knob", "knob_name",
                                              "curve", "study", "lr", "value_of_knob", "metric", "metric_name", "mean",
                                              "std", "seeds", "failed_seeds"]), out_csv)


def _draw_column(axes, c, group, metric, knobs, by_study, names, values) -> None:
    """One variable's column of a dataset x model block: a panel per knob (row), its points appended to
    ``values``."""
    import numpy as np
    import pandas as pd

    for r, knob in enumerate(knobs):
        ax = axes[r]
        curves = ([("learning rate", group.lr_study, "-")] if knob == "lr" else
                  [(kind, study, style) for kind, study, style in
                   (("alone", group.rows[knob].alone, "-"), ("with high LR", group.rows[knob].combined, "--"))
                   if study] if knob in group.rows else [])
        if not curves:
            ax.set_visible(False)
            continue
        ticks = sorted({float(v) for _, study, _ in curves for v in by_study[study][0][knob].unique()})
        lr_table = by_study[group.lr_study][0]
        if knob != "lr":  # the knob's default value is the learning-rate row's run at the curve's rate
            ticks = sorted(set(ticks) | {float(lr_table[knob].iloc[0])})
        for kind, study, style in curves:
            points = point_values(by_study[study][0], knob, [metric])
            if knob != "lr":
                at_lr = lr_table[np.isclose(lr_table.lr, points.lr.iloc[0])]
                default = point_values(at_lr, knob, [metric]).assign(study=group.lr_study)
                points = pd.concat([points.assign(study=study), default]).drop_duplicates(
                    "value_of_knob").sort_values("value_of_knob")
            points = points.assign(knob=knob, curve=kind, dataset=group.dataset, model=group.model, **names)
            if "study" not in points:
                points["study"] = study
            x = np.array([ticks.index(v) for v in points.value_of_knob])
            label = "all seeds" if knob == "lr" else f"{kind}, lr {points.lr.iloc[0]:g}"
            ax.errorbar(x, points["mean"], yerr=points["std"].fillna(0), fmt="o" + style, ms=3, capsize=2,
                        color="C0" if style == "-" else "C3", label=label)
            failed = points.failed_seeds.to_numpy() > 0
            ax.plot(x[failed], points["mean"][failed], "kx", ms=7)
            values.append(points)
        ax.set_xticks(range(len(ticks)), [f"{v:g}" for v in ticks], fontsize=6)
        ax.tick_params(axis="y", labelsize=6)
        if c == 0:
            ax.set_ylabel(KNOB_AXES.get(knob, knob), fontsize=7)
        if c == 0 and knob != "lr":
            ax.legend(fontsize=5, loc="best")
