"""Supplementary: why κ-prunability falls with the learning rate in this reproduction's CNN runs, and under which
conditions it rises. The first study is the reference (the paper's κ-prunability, sec. 3.2, under the configured
criterion); every other study changes one thing (the model's width, the training set's size, training on past
100% training accuracy), and the figure puts their Σκ κP against learning rate side by side.

Its config is ``config/prunability.yaml`` (the default scale on a CPU) or, with it,
``config/prunability_gpu.yaml`` (full-width VGG11 on the real MNIST, sized for one GPU); docs/prunability.md
states what each panel answers.
"""
from __future__ import annotations

from spurcomp.claims import trend_with_lr
from spurcomp.metrics.pruning_variants import variant_metric

PAPER_FIGURE = "Fig. 4 (prunability diagnosis)"
INPUTS = "studies"
UNITS_BUDGET = variant_metric("prunability", "l1_weight/layer/units")
# the results table: per study and learning rate, what each question reads
METRICS = ("unbiased_test_acc", "prunability", UNITS_BUDGET, "prunability_chance", "unit_dead_fraction")
TABLE_TITLE = ("Prunability diagnosis: unbiased test accuracy, Σκ κP (κ of the parameters, and of the units), "
               "Σκ κP above chance and the dead-unit share, per study and learning rate")
CAPTION = """
Why κ-prunability (the paper's sec. 3.2: Σκ Acc(f^κ) / Acc(f) on the unbiased test set, structured pruning, κ =
0.1 … 0.9) falls with the learning rate in this reproduction's CNN runs. Top row, the reference study (the first
listed): (a) κP(κ) for each learning rate; (b) the pruned unbiased accuracy Acc(f^κ) for each learning rate, the
unpruned accuracy Acc(f) at κ = 0: the ratio's numerator and denominator; (c) the share of dead units (never
active on training samples, every layer) and the share of dead units among those the criterion prunes, mean over
κ. Bottom row, Σκ κP against learning rate: (d) the reference study with κ counted in parameters (the default)
and in units, and above chance; (e) every study of the figure (the model's width, the training set's size,
training on past 100% training accuracy); (f) their unpruned unbiased accuracy. Mean over seeds (failed runs left
out), learning rates past the paper's grid rule left out. The CSV holds every plotted mean, spread and count.
"""
LR_COLOURS = "viridis"


def claims(spec: dict, config: dict):
    """Supplementary, per study: Σκ κP (κ of the parameters) rises with the learning rate, and above chance; for
    the reference study also with κ counted in units; the dead-unit share rises with the learning rate."""
    studies = spec["studies"]
    out = trend_with_lr(config, studies, ["prunability", "prunability_chance"], PAPER_FIGURE, supplementary=True)
    out += trend_with_lr(config, studies[:1], [UNITS_BUDGET, "unit_dead_fraction"], PAPER_FIGURE,
                         supplementary=True)
    return out


def study_label(table, provenance: dict) -> str:
    """What sets a study apart, for people: its model, its training-set size and its fixed knobs."""
    from spurcomp.names import knob_names
    from spurcomp.tables import table_names

    names = table_names(table, provenance)
    data = next(iter((provenance.get("datasets") or {}).values()), {})
    n_train = data.get("n_train")  # runs trained before run.json recorded it: the dataset's name instead
    spec = provenance.get("study_spec") or {}
    overrides = {k: v for k, v in (spec.get("overrides") or {}).items() if k != "max_epochs"}
    parts = [names["model_name"], f"{n_train:,} training images" if n_train else f"data {table.dataset.iloc[0]}",
             knob_names(overrides)]
    return ", ".join(part for part in parts if part)


def _per_kappa(kept, metric: str):
    """Mean over seeds of a per-κ metric, per learning rate and κ (failed runs left out)."""
    from spurcomp.tables import per_lr_summary

    return per_lr_summary(kept, metric, by=("lr", "kappa"))


def _reference_panels(axes, kept, values: list) -> None:
    """(a) κP(κ) per learning rate, (b) the pruned and unpruned accuracy, (c) dead units against learning rate."""
    import matplotlib.pyplot as plt

    from spurcomp.figures._draw import lr_ticks
    from spurcomp.tables import per_lr_summary

    lrs = sorted(kept.lr.unique())
    colours = plt.get_cmap(LR_COLOURS)([i / max(1, len(lrs) - 1) for i in range(len(lrs))])
    unpruned = per_lr_summary(kept, "unbiased_test_acc").set_index("lr")
    for ax, metric in ((axes[0], "kappa_prunability"), (axes[1], "pruned_unbiased_test_acc")):
        curves = _per_kappa(kept, metric)
        for lr, colour in zip(lrs, colours):
            mine = curves[curves.lr == lr]
            kappas, means = list(mine.kappa), list(mine["mean"])
            if metric == "pruned_unbiased_test_acc" and lr in unpruned.index:  # Acc(f) at κ = 0
                kappas, means = [0.0, *kappas], [unpruned.loc[lr, "mean"], *means]
            ax.plot(kappas, means, marker="o", ms=3, color=colour, label=f"lr {lr:g}")
        values.append(curves)
        ax.set_xlabel("κ (fraction of the parameters pruned)")
    axes[0].set_ylabel("κP = Acc(f^κ) / Acc(f)", fontsize=8)
    axes[1].set_ylabel("unbiased test accuracy", fontsize=8)
    axes[0].legend(fontsize=6)
    axes[0].set_title("(a) κP(κ) per learning rate", fontsize=9)
    axes[1].set_title("(b) pruned accuracy; κ = 0: unpruned", fontsize=9)
    dead = per_lr_summary(kept, "unit_dead_fraction")
    pruned_dead = _per_kappa(kept, "pruned_dead_fraction").groupby("lr")["mean"].mean()
    axes[2].plot(dead.lr, dead["mean"], marker="o", color="black", label="dead units (every layer)")
    axes[2].plot(pruned_dead.index, pruned_dead.values, marker="s", color="tab:red",
                 label="dead share of the pruned units (mean over κ)")
    values += [dead, pruned_dead.reset_index().assign(metric="pruned_dead_fraction", kappa="mean over κ")]
    axes[2].set_ylim(-0.02, 1.02)
    axes[2].set_xscale("log")
    lr_ticks(axes[2], lrs)
    axes[2].set_xlabel("learning rate")
    axes[2].legend(fontsize=6)
    axes[2].set_title("(c) dead units, and among the pruned", fontsize=9)


def _sum_panels(axes, studies, values: list) -> None:
    """(d) the reference's budgets, (e) Σκ κP of every study, (f) their unpruned accuracy, against learning
    rate."""
    from spurcomp.figures._draw import lr_ticks
    from spurcomp.tables import per_lr_summary

    reference = studies[0][1]
    for metric, label, style in (("prunability", "κ of the parameters (default)", "-"),
                                 (UNITS_BUDGET, "κ of the units", "--"), ("prunability_chance", "above chance", ":")):
        summary = per_lr_summary(reference, metric)
        axes[0].plot(summary.lr, summary["mean"], marker="o", ls=style, label=label)
        values.append(summary.assign(study=studies[0][0]))
    for label, kept in studies:
        for ax, metric in ((axes[1], "prunability"), (axes[2], "unbiased_test_acc")):
            summary = per_lr_summary(kept, metric)
            ax.errorbar(summary.lr, summary["mean"], summary["std"].fillna(0), marker="o", ms=3, capsize=2,
                        label=label)
            values.append(summary.assign(study=label))
    for ax, title, ylabel in ((axes[0], "(d) what κ counts", "Σκ κP"), (axes[1], "(e) every study", "Σκ κP"),
                              (axes[2], "(f) every study, unpruned", "unbiased test accuracy")):
        ax.set_xscale("log")
        lr_ticks(ax, [lr for _, kept in studies for lr in kept.lr.unique()])
        ax.set_xlabel("learning rate")
        ax.set_ylabel(ylabel, fontsize=8)
        ax.set_title(title, fontsize=9)
        ax.legend(fontsize=5.5)


def plot(inputs, out_pdf, out_csv=None, grid_rule=None):
    import textwrap

    import matplotlib.pyplot as plt
    import pandas as pd

    from spurcomp.claims import grid_rule_cut
    from spurcomp.figures._draw import ordered, read_tables, save, source_label
    from spurcomp.names import metric_name

    tables = read_tables(inputs)
    studies = []
    for table, provenance in tables:
        excluded = grid_rule_cut(table, grid_rule)
        studies.append((study_label(table, provenance), table[~table.lr.isin(list(excluded))]))
    fig, axes = plt.subplots(2, 3, figsize=(13, 8), layout="constrained")
    values: list = []
    _reference_panels(axes[0], studies[0][1], values)
    _sum_panels(axes[1], studies, values)
    sources = sorted({source_label(provenance) for _, provenance in tables})
    fig.suptitle(textwrap.fill(f"Why κ-prunability falls with the learning rate: {studies[0][0]}", 120) + "\n"
                 + textwrap.fill("; ".join(sources), 170), fontsize=8)
    frame = pd.concat(values, ignore_index=True)
    frame["study"] = frame["study"].fillna(studies[0][0]) if "study" in frame else studies[0][0]
    frame["metric_name"] = [metric_name(metric) for metric in frame.metric]
    return save(fig, out_pdf, ordered(frame, ["study", "metric", "metric_name", "lr", "kappa"]), out_csv)
