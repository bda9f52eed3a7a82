"""Figures drawn from hand-made study tables: failed runs and the grid rule as the reader sees them."""
from pathlib import Path

import pandas as pd
import pytest

from spurcomp.aggregate import write_table
from spurcomp.figures import LAYOUTS, layout_module

PROVENANCE = {"study": "cm_cnn", "datasets": {"cm": {"generator": "colored_mnist", "source": "embedded", "version": 2}},
              "models": {"cnn": {"arch": "cnn", "width": 0.125}}}
RULE = {"enabled": True, "metric": "unbiased_test_acc", "max_drop": 0.25, "drop": "points"}


def study_table(path, accuracy, status):
    rows = [{"dataset": "cm", "model": "cnn", "lr": lr, "seed": seed, "status": status.get((lr, seed), "converged"),
             "metric": metric, "value": value if metric == "unbiased_test_acc" else 2 * value}
            for lr, values in accuracy.items() for seed, value in enumerate(values)
            for metric in ("unbiased_test_acc", "prunability", "activation_compressibility")]
    write_table(pd.DataFrame(rows), path, PROVENANCE)
    return path


def test_every_layout_module_states_what_it_is():
    for name in LAYOUTS:
        module = layout_module(name)
        assert module.PAPER_FIGURE.startswith("Fig.") and module.INPUTS in ("studies", "datasets")
        assert module.CAPTION.strip() and callable(module.plot) and callable(module.claims)
    with pytest.raises(ValueError, match=r"unknown figure layout 'fig99'; allowed: \['fig2', 'fig3', 'fig4', 'fig5', 'figS_pruning'\]"):
        layout_module("fig99")


def test_every_report_caption_is_valid_restructuredtext():
    # the report renders captions as reStructuredText: "|γ|" would be an undefined substitution, "*" a bad emphasis
    import docutils.core
    import docutils.utils

    from spurcomp.config import load_config
    from spurcomp.figures import figure_caption, figure_names

    config = load_config(Path(__file__).resolve().parents[1] / "config" / "config.yaml")
    for name in figure_names(config):
        try:
            docutils.core.publish_doctree(figure_caption(config, name), settings_overrides={"halt_level": 2,
                                                                                            "report_level": 5})
        except docutils.utils.SystemMessage as err:
            pytest.fail(f"the caption of {name} is not valid reStructuredText: {err}")


def test_fig4_greys_learning_rates_past_the_grid_rule_and_keeps_failed_runs_out(tmp_path):
    accuracy = {0.01: [0.2, 0.2], 0.1: [0.5, 0.6], 0.3: [0.7, 0.1], 1.0: [0.1, 0.1]}
    table = study_table(tmp_path / "cm_cnn.parquet", accuracy, {(0.3, 1): "collapsed", (1.0, 0): "diverged"})
    values = layout_module("fig4").plot([table], tmp_path / "fig4.pdf", tmp_path / "fig4.csv", grid_rule=RULE)
    assert (tmp_path / "fig4.pdf").read_bytes()[:4] == b"%PDF"
    csv = pd.read_csv(tmp_path / "fig4.csv", keep_default_na=False)
    assert len(csv) == len(values) == 3 * 4  # every metric at every learning rate, greyed ones included
    acc = csv[csv.metric == "unbiased_test_acc"].set_index("lr")
    assert acc.loc[0.3, "grid_rule"] == "1 seed(s) collapsed" and acc.loc[1.0, "grid_rule"] == "beyond lr 0.3"
    assert acc.loc[0.01, "grid_rule"] == "" and acc.loc[0.1, "grid_rule"] == ""
    # the collapsed seed is never averaged in; counts say what happened
    assert acc.loc[0.3, "mean"] == 0.7 and acc.loc[0.3, "collapsed"] == 1 and acc.loc[1.0, "diverged"] == 1
    # the y-range is the kept learning rates' (0.2 .. 0.55), not the greyed ones'
    assert acc.loc[0.01, "min"] == 0.2 and acc.loc[0.01, "max"] == pytest.approx(0.55)
    assert set(csv.dataset_name) == {"Colored MNIST (embedded MNIST 5k)"} and set(csv.model_name) == {"VGG11 (width ×1/8)"}


def test_fig5_correlates_only_what_the_grid_rule_keeps(tmp_path):
    accuracy = {0.01: [0.2, 0.3], 0.1: [0.5, 0.6], 0.3: [0.7, 0.8], 1.0: [0.1, 0.1]}
    table = study_table(tmp_path / "cm_cnn.parquet", accuracy, {})
    ruled = layout_module("fig5").plot([table], tmp_path / "a.pdf", tmp_path / "a.csv", grid_rule=RULE)
    everything = layout_module("fig5").plot([table], tmp_path / "b.pdf", tmp_path / "b.csv")
    acc = ruled.set_index("metric").loc["unbiased_test_acc"]
    assert acc.runs == 6 and acc.learning_rates == 3 and acc.spearman_rho == pytest.approx(1.0, abs=0.15)
    assert everything.set_index("metric").loc["unbiased_test_acc"].runs == 8


def test_results_tables_give_mean_and_std_per_learning_rate_in_markdown_and_latex(tmp_path):
    from spurcomp.tables import write_tables

    accuracy = {0.01: [0.2, 0.4], 0.1: [0.5, 0.7], 0.3: [0.7, 0.1]}
    table = study_table(tmp_path / "cm_cnn.parquet", accuracy, {(0.3, 1): "collapsed"})
    frame = write_tables("fig4", [table], tmp_path / "fig4.md", tmp_path / "fig4.tex", RULE)
    row = frame.set_index("lr").loc[0.1]
    assert row["unbiased_test_acc"] == pytest.approx(0.6) and row["unbiased_test_acc_std"] == pytest.approx(0.1414, abs=1e-4)
    md = (tmp_path / "fig4.md").read_text()
    assert "| Colored MNIST (embedded MNIST 5k) | VGG11 (width ×1/8) | 0.1 | 0.600 ± 0.141 |" in md
    # the collapsed seed is left out (one seed: no spread), and lr 0.3 is marked as past the grid rule
    assert "| 0.3 † | 0.700 |" in md and "cm_cnn, lr 0.3: 1 seed(s) collapsed" in md
    tex = (tmp_path / "fig4.tex").read_text()
    assert r"0.600 $\pm$ 0.141" in tex and r"\begin{tabular}{llrrrr}" in tex and "0.3 $^\\dagger$" in tex
