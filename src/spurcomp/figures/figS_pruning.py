"""Supplementary to Fig. 4: κ-prunability against learning rate under every pruning variant (criterion × scope,
and unstructured weight-magnitude pruning), beside the unpruned unbiased accuracy, one row per study.

The paper's prunability claim rests on choices it leaves open (which units are ranked by what, within a layer or
across the network, and what κ counts: :mod:`spurcomp.metrics.pruning`); this figure shows which of them the
claim holds under, and where κP only tracks how close to chance the unpruned model is.
"""
from __future__ import annotations

from spurcomp.claims import trend_with_lr
from spurcomp.metrics.pruning_variants import (BUDGET_VARIANTS, STRUCTURED_VARIANTS, UNSTRUCTURED,
                                               default_variant, evaluated_variants, variant_metric)
from spurcomp.study import run_evaluation, study_runs

PAPER_FIGURE = "Fig. 4 (pruning variants)"
INPUTS = "studies"
VARIANTS = STRUCTURED_VARIANTS + BUDGET_VARIANTS + (UNSTRUCTURED,)
# the results table: the unpruned accuracy and Σκ κP under each variant (the chance-corrected sums are in the CSV)
METRICS = ("unbiased_test_acc", *(variant_metric("prunability", v) for v in VARIANTS))
TABLE_TITLE = "Fig. 4 (pruning variants): unbiased test accuracy and κ-prunability (Σκ κP) under each variant"
CAPTION = """
Supplementary to the paper's Fig. 4: κ-prunability (Σκ κP) against learning rate under each pruning variant:
the criterion units are ranked by (L1 norm of their weights, the paper's citation Li et al. 2017; the batch-norm
scale γ, Liu et al. 2017; mean activation; random) and its scope (per layer, or global with each layer keeping a
unit), the L1 per-layer ranking under the other budget (κ of the units rather than of the parameters, or the
reverse) dash-dotted, unstructured weight-magnitude pruning dotted, and the configured default thick. The grey band is
random pruning per layer (mean ± std over seeds): a criterion below it prunes worse than chance. Left: the
unpruned unbiased test accuracy. Middle: Σκ κP. Right: Σκ of κP above chance, (Acc(f^κ) − chance) / (Acc(f) −
chance), which does not reward a model that is near chance before pruning (where κP ≈ 1 at every κ). Learning
rates past the paper's grid rule are left out. The default variant is pruned on the whole test set; where
`evaluation.pruning.variant_samples` is set, the others on a seeded subset of that many test images stratified by
(y, b) group (the title says so). The CSV holds every plotted mean, spread and count, and marks the configured
default variant.
"""
CRITERION_COLOURS = {"l1_weight": "tab:blue", "bn_scale": "tab:orange", "mean_activation": "tab:green",
                     "random": "tab:gray", UNSTRUCTURED: "black"}
SCOPE_STYLES = {"layer": "-", "global": "--"}


def claims(spec: dict, config: dict):
    """For each study, supplementary: Σκ κP rises with learning rate under each variant other than the default
    (whose claim is Fig. 4's), and the default's chance-corrected Σκ κP rises too."""
    out = []
    for study in spec["studies"]:
        pruning = run_evaluation(config, study_runs(config, study)[0])["pruning"]
        batch_norm = config["models"][config["studies"][study]["model"]]["arch"] != "fcn"
        variants = [v for v in evaluated_variants(pruning)[1:]  # the default's claim is Fig. 4's
                    if batch_norm or not v.startswith("bn_scale/")]
        out += trend_with_lr(config, [study], [variant_metric("prunability", v) for v in variants], PAPER_FIGURE,
                             supplementary=True)
        out += trend_with_lr(config, [study], ["prunability_chance"], PAPER_FIGURE, supplementary=True)
    return out


def _default_of(provenance: dict) -> str | None:
    """The configured default variant the table's runs were evaluated under (None if not recorded)."""
    pruning = (provenance.get("evaluation") or {}).get("pruning")
    return default_variant(pruning) if pruning else None


def _variant_samples(provenance: dict) -> int | None:
    """The test subset the variants other than the default were pruned on (None: the whole test set)."""
    return ((provenance.get("evaluation") or {}).get("pruning") or {}).get("variant_samples")


def plot(inputs, out_pdf, out_csv=None, grid_rule=None):
    import textwrap

    import matplotlib.pyplot as plt
    import pandas as pd

    from spurcomp.figures._draw import SUMMARY_COLUMNS, ordered, read_tables, save, source_label

    tables = read_tables(inputs)
    fig, axes = plt.subplots(len(tables), 3, figsize=(13, 3.6 * len(tables) + 1.2), layout="constrained",
                             squeeze=False)
    plotted = [_study_row(axes[row], table, provenance, grid_rule, legend=row == 0)
               for row, (table, provenance) in enumerate(tables)]
    sources = [source_label(provenance) for _, provenance in tables]
    subsets = sorted({n for _, provenance in tables if (n := _variant_samples(provenance))})
    fig.suptitle("Prunability under each pruning criterion and scope (supplementary to Fig. 4)\n"
                 + textwrap.fill("; ".join(sorted(set(sources))), 170)
                 + (f"\nthe default variant on the whole test set, the others on a seeded subset of "
                    f"{' / '.join(map(str, subsets))} test images stratified by (y, b) group" if subsets else ""),
                 fontsize=8)
    values = ordered(pd.concat(plotted, ignore_index=True),
                     [*SUMMARY_COLUMNS[:7], "variant", "default_variant", *SUMMARY_COLUMNS[7:14]])
    return save(fig, out_pdf, values, out_csv)


def _study_row(axes, table, provenance: dict, grid_rule, legend: bool):
    """One study's row: the unpruned accuracy, Σκ κP and Σκ κP above chance under each variant; the drawn
    values."""
    import textwrap

    import pandas as pd

    from spurcomp.claims import grid_rule_cut
    from spurcomp.figures._draw import lr_ticks, with_names
    from spurcomp.tables import per_lr_summary, table_names

    names = table_names(table, provenance)
    excluded = grid_rule_cut(table, grid_rule)
    kept = table[~table.lr.isin(list(excluded))]
    accuracy_ax, sum_ax, chance_ax = axes
    summary = per_lr_summary(kept, "unbiased_test_acc")
    accuracy_ax.errorbar(summary.lr, summary["mean"], summary["std"].fillna(0), fmt="o-", color="tab:purple", ms=4,
                         capsize=2)
    values = [summary.assign(variant="", default_variant=False)]
    for ax, base in ((sum_ax, "prunability"), (chance_ax, "prunability_chance")):
        values += _variant_curves(ax, kept, base, _default_of(provenance))
    for ax, label in ((accuracy_ax, "unbiased test accuracy (unpruned)"), (sum_ax, "Σκ κP"),
                      (chance_ax, "Σκ κP above chance")):
        ax.set_xscale("log")
        lr_ticks(ax, table.lr.unique())
        ax.set_xlabel("learning rate")
        ax.set_ylabel(label, fontsize=8)
    accuracy_ax.set_title(textwrap.fill(f"{names['dataset_name']} — {names['model_name']}", 55), fontsize=8)
    sum_ax.set_title("κ-prunability under each variant", fontsize=9)
    chance_ax.set_title("κ-prunability above chance", fontsize=9)
    if legend:
        sum_ax.legend(fontsize=6, ncol=2, loc="best")
    if excluded:
        accuracy_ax.text(0.02, 0.02, f"left out by the grid rule: lr ≥ {min(excluded):g}", fontsize=6,
                         transform=accuracy_ax.transAxes)
    frame = pd.concat(values, ignore_index=True)
    return with_names(frame, names).assign(study=provenance.get("study", ""), dataset=table.dataset.iloc[0],
                                           model=table.model.iloc[0])


def _variant_curves(ax, kept, base: str, default: str | None) -> list:
    """Σκ of ``base`` under each variant against learning rate, random per-layer pruning as a grey band."""
    from spurcomp.tables import per_lr_summary

    band = per_lr_summary(kept, variant_metric(base, "random/layer"))
    if len(band) and band["mean"].notna().any():
        ax.fill_between(band.lr, band["mean"] - band["std"].fillna(0), band["mean"] + band["std"].fillna(0),
                        color="0.85", label="random per layer (± std)", zorder=0)
    present, values = set(kept.metric), []
    for variant in VARIANTS:
        metric = variant_metric(base, variant)
        if metric not in present:
            continue
        summary = per_lr_summary(kept, metric)
        criterion, _, scope = variant.partition("/")
        is_default = variant == default
        style = ":" if variant == UNSTRUCTURED else "-." if variant in BUDGET_VARIANTS else SCOPE_STYLES[scope]
        ax.plot(summary.lr, summary["mean"], marker="o", ms=3, linestyle=style, color=CRITERION_COLOURS[criterion],
                lw=2.6 if is_default else 1.2, label=variant + (" (default)" if is_default else ""))
        values.append(summary.assign(variant=variant, default_variant=is_default))
    return values
