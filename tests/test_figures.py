"""Figures drawn from hand-made study tables: failed runs and the grid rule as the reader sees them."""
import math
import re
from pathlib import Path

import pandas as pd
import pytest

from spurcomp.aggregate import write_table
from spurcomp.figures import LAYOUTS, figure_tables, layout_module
from spurcomp.figures._draw import image_array

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
        assert module.PAPER_FIGURE.startswith(("Fig.", "Prop.")) and module.INPUTS in ("studies", "datasets")
        assert module.CAPTION.strip() and callable(module.plot) and callable(module.claims)
    with pytest.raises(ValueError, match=re.escape(f"unknown figure layout 'fig99'; allowed: {list(LAYOUTS)}")):
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


def test_fig12_correlates_accuracy_with_the_max_bc_loss_ratio_over_kept_runs(tmp_path):
    import numpy as np
    from scipy.stats import pearsonr, spearmanr

    fig12 = layout_module("fig12")
    ratio = {0.01: [0.2, 0.3], 0.1: [0.5, 0.4], 0.3: [0.9, 0.7], 1.0: [0.95, 0.99]}
    accuracy = {0.01: [0.3, 0.35], 0.1: [0.5, 0.45], 0.3: [0.8, 0.6], 1.0: [0.1, 0.9]}
    rows = [{"dataset": "cm", "model": "cnn", "setting": f"lr={lr}", "lr": lr, "seed": seed,
             "status": "diverged" if (lr, seed) == (1.0, 0) else "converged", "metric": metric, "value": value}
            for lr in ratio for seed in (0, 1)
            for metric, value in (("max_bc_loss_ratio", ratio[lr][seed]), ("unbiased_test_acc", accuracy[lr][seed]))]
    path = tmp_path / "cm_cnn.parquet"
    write_table(pd.DataFrame(rows), path, PROVENANCE)
    values = fig12.plot([path], tmp_path / "fig12.pdf", tmp_path / "fig12.csv", grid_rule=RULE)
    assert (tmp_path / "fig12.pdf").read_bytes()[:4] == b"%PDF"
    runs = values[values.kind == "run"]
    assert len(runs) == 8 and runs.kept.sum() == 6  # the diverged seed, and lr 1 past the grid rule, left out
    kept = runs[runs.kept]
    pooled = values[(values.kind == "correlation") & (values.study == "all")].iloc[0]
    assert pooled.n_runs == 6
    assert pooled.pearson_r == pytest.approx(pearsonr(kept.max_bc_loss_ratio, kept.unbiased_test_acc).statistic)
    assert pooled.spearman_rho == pytest.approx(spearmanr(kept.max_bc_loss_ratio, kept.unbiased_test_acc).statistic)
    assert pooled.pearson_low <= pooled.pearson_r <= pooled.pearson_high
    # a perfectly monotone relation: Spearman 1 with a degenerate interval; too few points: not computed
    exact = fig12.correlations(np.arange(10.0), np.arange(10.0) ** 3)
    assert exact["spearman_rho"] == pytest.approx(1) and exact["spearman_low"] == pytest.approx(1)
    assert np.isnan(fig12.correlations([0.1, 0.2], [0.3, 0.4])["pearson_r"])
    assert set(pd.read_csv(tmp_path / "fig12.csv").kind) == {"run", "correlation"}


def test_fig9_heat_maps_average_surviving_seeds_per_gamma_and_learning_rate(tmp_path):
    paths = []
    for gamma in (0.0, 2.0):
        rows = [{"dataset": "cm", "model": "cnn", "setting": f"lr={lr}", "lr": lr, "focal_gamma": gamma, "seed": seed,
                 "status": "diverged" if (gamma, lr, seed) == (2.0, 1.0, 1) else "converged", "metric": metric,
                 "value": base + gamma + lr + seed / 10}
                for lr in (0.1, 1.0) for seed in (0, 1)
                for metric, base in (("final_train_loss", 0.0), ("unbiased_test_acc", 0.1),
                                     ("spurious_attribution_share", 0.2))]
        path = tmp_path / f"fl{gamma:g}.parquet"
        write_table(pd.DataFrame(rows), path, {**PROVENANCE, "study": f"fig9_fl{gamma:g}"})
        paths.append(path)
    values = layout_module("fig9").plot(paths, tmp_path / "fig9.pdf", tmp_path / "fig9.csv")
    assert (tmp_path / "fig9.pdf").read_bytes()[:4] == b"%PDF"
    assert len(values) == 2 * 2 * 3  # gamma x lr x metric
    cell = values[(values.focal_gamma == 0.0) & (values.lr == 0.1) & (values.metric == "unbiased_test_acc")].iloc[0]
    assert cell["mean"] == pytest.approx(0.1 + 0.1 + 0.05) and cell.seeds == 2 and cell.failed_seeds == 0
    # the diverged seed is left out of its cell's mean and counted
    cell = values[(values.focal_gamma == 2.0) & (values.lr == 1.0) & (values.metric == "final_train_loss")].iloc[0]
    assert cell["mean"] == pytest.approx(3.0) and cell.seeds == 1 and cell.failed_seeds == 1
    assert set(pd.read_csv(tmp_path / "fig9.csv").metric_name) >= {"Final training loss", "Unbiased test accuracy"}
    # the results table's rows name their study's γ
    frame, _ = figure_tables("fig9", paths)
    assert [model.rsplit(", ", 1)[1] for model in frame.model] == ["focal γ = 0"] * 2 + ["focal γ = 2"] * 2


def test_figS_optimizers_names_each_panel_by_its_optimizer_and_schedule(tmp_path):
    accuracy = {0.001: [0.2, 0.3], 0.01: [0.5, 0.6], 0.1: [0.7, 0.8]}
    paths = []
    for study, optimizer, schedule in (("sgd", "sgd", "constant"), ("adam", "adam", "constant"),
                                       ("cosine", "sgd", "cosine")):
        path = study_table(tmp_path / f"{study}.parquet", accuracy, {})
        table = pd.read_parquet(path).assign(optimizer=optimizer, schedule=schedule)
        write_table(table, path, {**PROVENANCE, "study": study})
        paths.append(path)
    values = layout_module("figS_optimizers").plot(paths, tmp_path / "s.pdf", tmp_path / "s.csv", grid_rule=RULE)
    recipes = values.drop_duplicates("study").set_index("study")[["optimizer", "schedule"]]
    assert recipes.to_dict("index") == {"sgd": {"optimizer": "sgd", "schedule": "constant"},
                                        "adam": {"optimizer": "adam", "schedule": "constant"},
                                        "cosine": {"optimizer": "sgd", "schedule": "cosine"}}
    from spurcomp.names import knob_names
    assert knob_names({"optimizer": "sgd", "schedule": "constant"}) == ""  # the paper's recipe: panels untitled
    # the results table's rows name their study's optimiser or schedule
    frame, _ = figure_tables("figS_optimizers", paths, RULE)
    assert [model.rsplit(", ", 1)[1] for model in frame.drop_duplicates("study").model] == \
        ["SGD", "Adam", "cosine annealing"]
    assert knob_names({"schedule": "wsd"}) == "warmup-stable-decay"
    assert knob_names({"max_epochs": 30, "optimizer": "adam"}) == "Adam"
    assert knob_names({"focal_gamma": 0.0}) == "focal γ = 0"  # fixed explicitly: named, so fig9's rows read apart
    assert knob_names({"momentum": 0.9, "nesterov": True, "l2": 5e-4, "schedule": "cosine"}) == \
        "momentum 0.9, Nesterov, L2 0.0005, cosine annealing"


def test_proposition_1_ratio_grows_like_k_exp_k_on_a_dataset(tmp_path):
    import numpy as np

    from spurcomp.data import build_dataset
    from spurcomp.data.io import save_summary, summarise_dataset
    from spurcomp.metrics.mechanism import bc_ba_loss_ratio, fit_growth_rate, spurious_rule_logits

    # by hand, binary: a BA sample's loss is log(1 + e^-k), a BC sample's log(1 + e^k)
    y, b = np.array([0, 0, 1, 1, 0]), np.array([0, 0, 1, 0, 1])
    k = 3.0
    ratio = bc_ba_loss_ratio(k * spurious_rule_logits(b, 2), y, b)
    assert ratio == pytest.approx(2 * math.log1p(math.exp(k)) / (3 * math.log1p(math.exp(-k))))
    # the fit recovers a known growth rate
    ks = np.linspace(5, 20, 30)
    assert fit_growth_rate(ks, 0.3 * ks * np.exp(0.7 * ks)) == pytest.approx((0.7, 0.3))

    data = build_dataset({"generator": "parity", "core_bits": 3, "spurious_bits": 1, "noise_bits": 4, "n_train": 1000,
                          "n_test": 100, "rho_train": 0.1, "rho_test": 0.5}, seed=0)
    save_summary(tmp_path / "parity.npz", summarise_dataset(data))  # what the figure reads: the dataset's summary
    values = layout_module("prop1").plot([tmp_path / "parity.npz"], tmp_path / "prop1.pdf", tmp_path / "prop1.csv")
    assert (tmp_path / "prop1.pdf").read_bytes()[:4] == b"%PDF"
    conflicting = (data.train.y != data.train.b).mean()
    # ratio ~ (n_bc / n_ba) k e^k: alpha is the logit margin (1), C the conflicting-to-aligned count ratio
    assert values.alpha.iloc[0] == pytest.approx(1.0, abs=0.01)
    assert values.c.iloc[0] == pytest.approx(conflicting / (1 - conflicting), rel=0.02)
    assert values.bc_ba_loss_ratio.is_monotonic_increasing


def test_results_tables_give_mean_and_std_per_learning_rate_in_markdown_and_latex(tmp_path):
    from spurcomp.figures import write_tables

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


def knob_study(path, study, grid, lr, values, failed=(), **fixed):
    """A table of one fig6 study: ``values`` maps the grid value to seed values of every fig6 metric (CSI and
    prunability are offsets of accuracy); every knob column is present, as aggregate writes them."""
    knob = next(iter(grid))
    defaults = {"lr": lr, "momentum": 0.0, "batch_size": 100, **fixed}
    rows = [{"dataset": "cm", "model": "cnn", "setting": f"{knob}={value},lr={lr}", **defaults, knob: value,
             "seed": seed, "status": "diverged" if (value, seed) in failed else "converged", "metric": metric,
             "value": v + offset}
            for value, seeds in values.items() for seed, v in enumerate(seeds)
            for metric, offset in (("unbiased_test_acc", 0.0), ("prunability", 1.0), ("csi", 2.0))]
    spec = {"dataset": "cm", "model": "cnn", "grid": grid, "overrides": {"lr": lr}, "seeds": [0, 1]}
    write_table(pd.DataFrame(rows), path, {**PROVENANCE, "study": study, "study_spec": spec})
    return path


def test_fig6_rows_take_each_knobs_default_from_the_learning_rate_row(tmp_path):
    fig6 = layout_module("fig6")
    paths = [knob_study(tmp_path / "lrs.parquet", "lrs", {"lr": [0.03, 0.3]}, 0.1, {0.03: [0.2, 0.3], 0.3: [0.6, 0.7]}),
             knob_study(tmp_path / "mom.parquet", "mom", {"momentum": [0.5]}, 0.03, {0.5: [0.4, 0.5]}),
             knob_study(tmp_path / "mom_high.parquet", "mom_high", {"momentum": [0.5]}, 0.3, {0.5: [0.9, 0.0]},
                        failed={(0.5, 1)})]
    values = fig6.plot(paths, tmp_path / "fig6.pdf", tmp_path / "fig6.csv")
    assert (tmp_path / "fig6.pdf").read_bytes()[:4] == b"%PDF"
    acc = values[values.metric == "unbiased_test_acc"].set_index(["curve", "value_of_knob"])
    # the learning-rate row, and each momentum curve starting from that row's run at its own learning rate
    assert acc.loc[("learning rate", 0.3), "mean"] == pytest.approx(0.65)
    assert acc.loc[("alone", 0.0), "mean"] == pytest.approx(0.25) and acc.loc[("alone", 0.0), "study"] == "lrs"
    assert acc.loc[("alone", 0.5), "mean"] == pytest.approx(0.45)
    assert acc.loc[("with high LR", 0.0), "mean"] == pytest.approx(0.65)
    # the diverged seed is left out and counted
    high = acc.loc[("with high LR", 0.5)]
    assert high["mean"] == pytest.approx(0.9) and high.seeds == 1 and high.failed_seeds == 1
    csv = pd.read_csv(tmp_path / "fig6.csv")
    assert set(csv.knob_name) == {"learning rate", "momentum"} and len(csv) == 3 * (2 + 2 + 2)
    assert csv[csv.metric == "csi"]["mean"].min() == pytest.approx(2.25)  # each variable its own column


def test_fig6_claims_compare_best_learning_rate_and_combination_with_the_knob(tmp_path):
    from spurcomp.claims import evaluate_claims

    fig6 = layout_module("fig6")
    base = {"dataset": "cm", "model": "cnn", "seeds": [0, 1]}
    config = {"training": {"lr": 0.1, "batch_size": 100, "momentum": 0.0},
              "datasets": {"cm": {"generator": "colored_mnist"}}, "models": {"cnn": {"arch": "cnn", "width": 0.125}},
              "studies": {"lrs": {**base, "grid": {"lr": [0.03, 0.3]}},
                          "mom": {**base, "grid": {"momentum": [0.5]}, "overrides": {"lr": 0.03}},
                          "mom_high": {**base, "grid": {"momentum": [0.5]}, "overrides": {"lr": 0.3}}}}
    claims = {c.claim_id: c for c in fig6.claims({"studies": ["lrs", "mom", "mom_high"]}, config)}
    assert len(claims) == 2 * 3  # per variable: best learning rate vs momentum, momentum combined vs high LR alone
    versus_knob = claims["mom:unbiased_test_acc:best_lr_vs_momentum"]
    assert (versus_knob.study, versus_knob.pick, versus_knob.versus_study, versus_knob.versus_pick) == \
        ("lrs", "best:unbiased_test_acc", "mom", "best:unbiased_test_acc")
    combined = claims["mom_high:csi:momentum_with_high_lr"]
    assert (combined.pick, combined.versus_study, combined.versus_pick) == \
        ("best:unbiased_test_acc;except:momentum=0.0", "lrs", "at:lr=0.3")
    assert "momentum combined with learning rate 0.3 (its value with the best unbiased accuracy) is at least on par" \
        in combined.text
    # five seeds a point: with two a side no permutation p-value can reach 0.05 (the most extreme split is 1/6)
    paths = {"lrs": knob_study(tmp_path / "lrs.parquet", "lrs", {"lr": [0.03, 0.3]}, 0.1,
                               {0.03: [0.2, 0.25, 0.3, 0.22, 0.28], 0.3: [0.6, 0.65, 0.7, 0.62, 0.68]}),
             "mom": knob_study(tmp_path / "mom.parquet", "mom", {"momentum": [0.5]}, 0.03,
                               {0.5: [0.4, 0.45, 0.5, 0.42, 0.48]}),
             "mom_high": knob_study(tmp_path / "mom_high.parquet", "mom_high", {"momentum": [0.5]}, 0.3,
                                    {0.5: [0.64, 0.66, 0.65, 0.63, 0.67]})}
    result = evaluate_claims(paths, tmp_path / "c.csv", tmp_path / "c.md", list(claims.values())).set_index("claim")
    assert result.loc["mom:unbiased_test_acc:best_lr_vs_momentum", "verdict"] == "holds"  # 0.65 vs 0.45
    assert result.loc["mom:unbiased_test_acc:best_lr_vs_momentum", "value"] == pytest.approx(0.2)
    assert result.loc["mom_high:unbiased_test_acc:momentum_with_high_lr", "verdict"] == "on par"  # 0.65 vs 0.65
    assert "Δ +0.2" in (tmp_path / "c.md").read_text()
    # every study varies one knob, and each dataset x model has a learning-rate row
    config["studies"]["two"] = {**base, "grid": {"lr": [0.1], "momentum": [0.5]}}
    with pytest.raises(ValueError, match="fig6 study 'two' varies \\['lr', 'momentum'\\]; each fig6 study varies exactly one"):
        fig6.claims({"studies": ["lrs", "two"]}, config)
    with pytest.raises(ValueError, match="no study varying the learning rate"):
        fig6.claims({"studies": ["mom"]}, config)
    config["studies"]["mom_elsewhere"] = {**base, "grid": {"momentum": [0.5]}, "overrides": {"lr": 0.5}}
    with pytest.raises(ValueError, match="'mom_elsewhere' runs at learning rate 0.5, which the learning-rate study "
                                         "'lrs' does not have"):
        fig6.claims({"studies": ["lrs", "mom", "mom_elsewhere"]}, config)
    config["studies"]["mom_same"] = {**base, "grid": {"momentum": [0.9]}, "overrides": {"lr": 0.03}}
    with pytest.raises(ValueError, match="at the same learning rate 0.03"):
        fig6.claims({"studies": ["lrs", "mom", "mom_same"]}, config)


def test_fig13_draws_maps_and_step_series_of_the_lowest_and_highest_learning_rate(tmp_path):
    import numpy as np

    fig13 = layout_module("fig13")
    rng = np.random.default_rng(0)
    rows = []
    for lr in (0.001, 0.1):
        for seed in (0, 1):
            keys = {"dataset": "cm", "model": "cnn", "setting": f"lr={lr}", "lr": lr, "seed": seed,
                    "status": "converged"}
            rows += [{**keys, "metric": "max_bc_loss_ratio", "value": 0.2 + lr * 5},
                     {**keys, "metric": "spurious_attribution_share", "value": 0.8 - lr * 5}]
            for sample in ("sample=5,y=1,b=2", "sample=9,y=3,b=0"):
                rows.append({**keys, "metric": "input_image", "group": sample, "value": 1.0,
                             "image": rng.random((4, 4, 3)).tolist()})
                rows += [{**keys, "metric": "attribution_map", "group": sample, "epoch": epoch, "value": 1.0 + epoch,
                          "image": rng.random((4, 4, 1)).tolist()} for epoch in (0, 2)]
            for step in range(1, 7):
                rows += [{**keys, "metric": metric, "epoch": (step - 1) // 3 + 1, "step": step, "value": step * lr}
                         for metric in ("step_bc_loss_ratio", "step_param_norm", "step_logit_norm", "step_acc_ba",
                                        "step_acc_bc")]
    path = tmp_path / "fig13_cm.parquet"
    write_table(pd.DataFrame(rows), path, {**PROVENANCE, "study": "fig13_cm"})
    values = fig13.plot([path], tmp_path / "fig13.pdf", tmp_path / "fig13.csv")
    assert (tmp_path / "fig13.pdf").read_bytes()[:4] == b"%PDF"
    maps = values[values.kind == "map"]
    # the lowest seed of each learning rate: 2 samples x 2 checkpoints x 2 learning rates
    assert len(maps) == 8 and set(maps.seed) == {0} and set(maps.epoch) == {0, 2}
    ratio = values[(values.kind == "step_bc_loss_ratio") & (values.lr == 0.1) & (values.seed == 1)]
    # a moving average over an epoch of steps (3 here): step 3's value is the mean of steps 1..3
    assert ratio.set_index("step").loc[3, "value"] == pytest.approx(0.2)
    assert set(values.kind) >= {"step_acc_ba", "step_acc_bc", "step_param_norm"}
    assert image_array(pd.read_parquet(path).image.dropna().iloc[0]).shape == (4, 4, 3)
    # claims: the highest learning rate against the lowest
    config = {"datasets": {"cm": {"generator": "colored_mnist"}}, "models": {"cnn": {"arch": "cnn", "width": 0.125}},
              "studies": {"fig13_cm": {"dataset": "cm", "model": "cnn", "grid": {"lr": [0.1, 0.001]}}}}
    claims = {c.metric: c for c in fig13.claims({"studies": ["fig13_cm"]}, config)}
    assert (claims["max_bc_loss_ratio"].pick, claims["max_bc_loss_ratio"].versus_pick) == ("at:lr=0.1", "at:lr=0.001")
    assert set(claims) == {"max_bc_loss_ratio", "unbiased_test_acc"} and claims["unbiased_test_acc"].direction == 1
    assert "higher at learning rate 0.1 than at 0.001" in claims["unbiased_test_acc"].text
    config["studies"]["fig13_cm"]["grid"]["lr"] = [0.1]
    with pytest.raises(ValueError, match="needs at least two learning rates"):
        fig13.claims({"studies": ["fig13_cm"]}, config)


def test_fig8_shows_the_samples_the_high_learning_rate_gets_right_relative_to_the_low_one(tmp_path):
    import numpy as np

    fig8 = layout_module("fig8")
    rng = np.random.default_rng(0)
    # sample k: p(class) 0.5 at the low rate, 0.5 + gain[k] at the high rate (seed 1 a failed run that says otherwise)
    gain = {0: 0.1, 1: 0.4, 2: -0.2, 3: 0.3, 4: 0.0, 5: 0.2}
    rows = []
    for lr in (0.01, 0.3):
        for seed, status in ((0, "converged"), (1, "diverged" if lr == 0.3 else "converged")):
            keys = {"dataset": "cm", "model": "cnn", "setting": f"lr={lr}", "lr": lr, "seed": seed, "status": status}
            rows.append({**keys, "metric": "spurious_attribution_share", "value": 0.5 - lr})
            for k, g in gain.items():
                sample = f"sample={k},y={k % 3},b={k % 3}"
                p = 0.5 + (g if lr == 0.3 else 0.0)
                rows.append({**keys, "metric": "input_image", "group": sample, "value": 1.0,
                             "image": rng.random((4, 4, 3)).tolist()})
                for epoch in (0, 5):
                    rows.append({**keys, "metric": "map_target_probability", "group": sample, "epoch": epoch,
                                 "value": (0.0 if status == "diverged" else p) if epoch == 5 else 0.1})
                    rows.append({**keys, "metric": "attribution_map", "group": sample, "epoch": epoch,
                                 "value": 10.0 * epoch + k, "image": rng.random((4, 4, 1)).tolist()})
    path = tmp_path / "mc.parquet"
    write_table(pd.DataFrame(rows), path, {**PROVENANCE, "study": "mc"})
    values = fig8.plot([path], tmp_path / "fig8.pdf", tmp_path / "fig8.csv")
    assert (tmp_path / "fig8.pdf").read_bytes()[:4] == b"%PDF"
    # the four largest gains, best first, from the last epoch's probabilities of the runs that did not fail
    high = values[values.lr == 0.3]
    assert high["sample"].str.extract(r"sample=(\d)")[0].astype(int).tolist() == [1, 3, 5, 0]
    assert high.probability_gain.tolist() == pytest.approx([0.4, 0.3, 0.2, 0.1])
    # the maps shown are the last checkpoint's, of the lowest seed
    assert set(values.epoch) == {5} and set(values.seed) == {0}
    assert values[values.lr == 0.01].map_total.tolist() == [51.0, 53.0, 55.0, 50.0]
    config = {"datasets": {"cm": {"generator": "mnist_cifar"}, "c10": {"generator": "cifar10", "background_masks": "s"}},
              "models": {"cnn": {"arch": "cnn"}},
              "studies": {"mc": {"dataset": "cm", "model": "cnn", "grid": {"lr": [0.01, 0.3]}},
                          "c10": {"dataset": "c10", "model": "cnn", "grid": {"lr": [0.01, 0.3]}}}}
    claims = fig8.claims({"studies": ["mc", "c10"]}, config)
    assert [(c.study, c.metric, c.direction) for c in claims] == [("mc", "spurious_attribution_share", -1),
                                                                  ("c10", "background_attribution_pct", -1)]


def test_fig10_claims_accuracy_and_prunability_rise_and_background_reliance_falls():
    fig10, fig11 = layout_module("fig10"), layout_module("fig11")
    config = {"datasets": {"c10": {"generator": "cifar10"}}, "models": {"r": {"arch": "resnet", "width": 0.125}},
              "studies": {"c10": {"dataset": "c10", "model": "r", "grid": {"lr": [0.03, 0.3]}}}}
    claims = {c.metric: c for c in fig10.claims({"studies": ["c10"]}, config)}
    # "generalization, compressibility, and core feature utilization" (CSI) rise; background / texture use falls
    assert {m: c.direction for m, c in claims.items()} == {
        "test_acc": 1, "prunability": 1, "csi": 1, "final_attribution_entropy": -1, "background_attribution_pct": -1}
    assert claims["test_acc"].text == "Test accuracy increases with learning rate on CIFAR-10, ResNet18 (width ×1/8)"
    assert {c.figure for c in fig11.claims({"studies": ["c10"]}, config)} == {"Fig. 11"}


def test_fig7_draws_maps_above_the_curves_and_claims_the_four_variables_rise(tmp_path):
    import numpy as np

    fig7 = layout_module("fig7")
    rng = np.random.default_rng(0)
    rows = []
    for lr in (0.0001, 0.001, 0.003):
        for seed in (0, 1):
            keys = {"dataset": "cb", "model": "swin", "setting": f"lr={lr}", "lr": lr, "seed": seed,
                    "status": "converged"}
            rows += [{**keys, "metric": metric, "value": 0.2 + 100 * lr + 0.01 * seed} for metric in fig7.METRICS]
            for k in range(2):
                sample = f"sample={k},y=1,b=0"
                rows.append({**keys, "metric": "input_image", "group": sample, "value": 1.0,
                             "image": rng.random((4, 4, 3)).tolist()})
                rows.append({**keys, "metric": "map_target_probability", "group": sample, "epoch": 3,
                             "value": 0.3 + 100 * lr * k})
                rows.append({**keys, "metric": "attribution_map", "group": sample, "epoch": 3, "value": 1.0,
                             "image": rng.random((4, 4, 1)).tolist()})
    path = tmp_path / "cb.parquet"
    provenance = {"study": "cb", "datasets": {"cb": {"generator": "celeba", "source": "embedded", "version": 1}},
                  "models": {"swin": {"arch": "swin", "size": "small"}}}
    write_table(pd.DataFrame(rows), path, provenance)
    values = fig7.plot([path], tmp_path / "fig7.pdf", tmp_path / "fig7.csv")
    assert (tmp_path / "fig7.pdf").read_bytes()[:4] == b"%PDF"
    curves = values[values.metric != "attribution_map"]
    assert set(curves.metric) == set(fig7.METRICS) and set(curves.lr) == {0.0001, 0.001, 0.003}
    # normalised per variable: the lowest learning rate at 0, the highest at 1
    assert curves.groupby("lr").norm_mean.mean().tolist() == pytest.approx([0.0, 0.9 / 2.9, 1.0])
    maps = values[values.metric == "attribution_map"]
    # the sample the highest rate gets more right comes first; maps of the lowest and the highest rate
    assert maps["sample"].iloc[0].startswith("sample=1") and set(maps.lr) == {0.0001, 0.003}
    assert set(maps.model_name) == {"Swin (small: embedding 32, depths 1-1-2-1), from scratch"}
    config = {"datasets": {"cb": {"generator": "celeba"}}, "models": {"swin": {"arch": "swin"}},
              "studies": {"cb": {"dataset": "cb", "model": "swin", "grid": {"lr": [0.0001, 0.003]}}}}
    assert [(c.metric, c.direction) for c in fig7.claims({"studies": ["cb"]}, config)] == [
        ("worst_group_acc", 1), ("prunability", 1), ("activation_compressibility", 1), ("csi", 1)]


def test_fig1_draws_its_three_studies_in_their_roles(tmp_path):
    import numpy as np

    fig1 = layout_module("fig1")
    rng = np.random.default_rng(0)
    paths = []
    for study, generator, metrics in (("dm", "double_mnist", fig1.CURVES), ("dm_maps", "double_mnist", ()),
                                      ("c10", "cifar10", fig1.STANDARD)):
        rows = []
        for lr in (0.01, 0.1, 0.3):
            keys = {"dataset": study, "model": "cnn", "setting": f"lr={lr}", "lr": lr, "seed": 0, "status": "converged"}
            rows += [{**keys, "metric": metric, "value": lr} for metric in metrics]
            if study == "dm_maps":
                rows += [{**keys, "metric": "input_image", "group": "sample=7,y=1,b=4", "value": 1.0,
                          "image": rng.random((4, 8, 1)).tolist()},
                         {**keys, "metric": "map_target_probability", "group": "sample=7,y=1,b=4", "epoch": 2,
                          "value": lr},
                         {**keys, "metric": "attribution_map", "group": "sample=7,y=1,b=4", "epoch": 2, "value": 1.0,
                          "image": rng.random((4, 8, 1)).tolist()}]
        paths.append(tmp_path / f"{study}.parquet")
        write_table(pd.DataFrame(rows), paths[-1], {**PROVENANCE, "study": study, "datasets": {
            study: {"generator": generator, "source": "embedded", "version": 1}}})
    values = fig1.plot(paths, tmp_path / "fig1.pdf", tmp_path / "fig1.csv")
    assert (tmp_path / "fig1.pdf").read_bytes()[:4] == b"%PDF"
    assert set(values[values.study == "dm"].metric) == set(fig1.CURVES)
    assert set(values[values.study == "c10"].metric) == set(fig1.STANDARD)
    assert set(values[values.study == "dm_maps"].lr) == {0.01, 0.3}
    config = {"datasets": {"dm": {"generator": "double_mnist"}, "c10": {"generator": "cifar10"}},
              "models": {"cnn": {"arch": "cnn"}},
              "studies": {name: {"dataset": "c10" if name == "c10" else "dm", "model": "cnn", "grid": {"lr": [0.1]}}
                          for name in ("dm", "dm_maps", "c10")}}
    claims = fig1.claims({"studies": ["dm", "dm_maps", "c10"]}, config)
    assert [(c.study, c.metric, c.direction) for c in claims] == [
        *[("dm", metric, 1) for metric in fig1.CURVES], ("c10", "test_acc", 1), ("c10", "background_attribution_pct", -1)]
    with pytest.raises(ValueError, match="fig1 takes three studies"):
        fig1.claims({"studies": ["dm", "c10"]}, config)


def prunability_table(path, study, unpruned, spec, n_train=2000):
    """A study table with the prunability diagnosis's metrics: per learning rate the unpruned accuracy (two seeds
    alike), pruned accuracy Acc(f) * (1 - slope * κ) per κ, and a dead-unit share of lr itself."""
    rows = []
    for lr, (accuracy, slope) in unpruned.items():
        for seed in (0, 1):
            key = {"dataset": "cm", "model": "cnn", "lr": lr, "seed": seed, "status": "converged"}
            rows += [{**key, "metric": "unbiased_test_acc", "value": accuracy},
                     {**key, "metric": "unit_dead_fraction", "value": lr},
                     {**key, "metric": "prunability", "value": sum(1 - slope * k / 10 for k in range(1, 10))}]
            for k in range(1, 10):
                kappa = k / 10
                rows += [{**key, "metric": "kappa_prunability", "kappa": kappa, "value": 1 - slope * kappa},
                         {**key, "metric": "pruned_unbiased_test_acc", "kappa": kappa,
                          "value": accuracy * (1 - slope * kappa)},
                         {**key, "metric": "pruned_dead_fraction", "kappa": kappa, "value": 0.5}]
    datasets = {"cm": {"generator": "colored_mnist", "source": "embedded", "version": 2, "n_train": n_train}}
    write_table(pd.DataFrame(rows), path, {**PROVENANCE, "study": study, "study_spec": spec, "datasets": datasets})
    return path


def test_prunability_diagnosis_shows_the_ratio_its_parts_and_every_study(tmp_path):
    module = layout_module("figS_prunability")
    spec = {"dataset": "cm", "model": "cnn", "overrides": {"max_epochs": 30}}
    reference = prunability_table(tmp_path / "ref.parquet", "ref", {0.01: (0.5, 0.2), 0.3: (0.8, 0.8)}, spec)
    past = prunability_table(tmp_path / "past.parquet", "past", {0.01: (0.5, 0.1), 0.3: (0.8, 0.4)},
                             {**spec, "overrides": {"max_epochs": 40, "post_fit_epochs": 10}}, n_train=500)
    values = module.plot([reference, past], tmp_path / "d.pdf", tmp_path / "d.csv", RULE)
    assert (tmp_path / "d.pdf").read_bytes()[:4] == b"%PDF"
    kappa_p = values[(values.metric == "kappa_prunability") & (values.lr == 0.3) & (values.kappa == 0.5)]
    assert kappa_p["mean"].item() == pytest.approx(0.6)  # 1 - 0.8 * 0.5
    pruned = values[(values.metric == "pruned_unbiased_test_acc") & (values.lr == 0.3) & (values.kappa == 0.5)]
    assert pruned["mean"].item() == pytest.approx(0.48)  # 0.8 * 0.6: the numerator; the denominator is 0.8
    dead = values[values.metric == "unit_dead_fraction"].set_index("lr")["mean"]
    assert dead.to_dict() == {0.01: 0.01, 0.3: 0.3}
    studies = set(values[values.metric == "prunability"].study)
    assert studies == {"VGG11 (width ×1/8), 2,000 training images",
                       "VGG11 (width ×1/8), 500 training images, 10 epochs past 100% training accuracy"}
    assert set(pd.read_csv(tmp_path / "d.csv").metric_name) >= {"κP", "Dead units (every layer)"}


def test_pruning_variants_figure_draws_each_variant_beside_the_unpruned_accuracy(tmp_path):
    module = layout_module("figS_pruning")
    rows = []
    for lr, accuracy in ((0.01, 0.3), (0.1, 0.6)):
        for seed, shift in ((0, 0.0), (1, 0.2)):
            key = {"dataset": "cm", "model": "cnn", "lr": lr, "seed": seed, "status": "converged"}
            rows += [{**key, "metric": "unbiased_test_acc", "value": accuracy},
                     {**key, "metric": "prunability", "value": 4 + shift},
                     {**key, "metric": "prunability[l1_weight/layer]", "value": 4 + shift},
                     {**key, "metric": "prunability[random/layer]", "value": 3 + shift},
                     {**key, "metric": "prunability[unstructured]", "value": 7 + lr},
                     {**key, "metric": "prunability_chance", "value": 1 + lr}]
    evaluation = {"pruning": {"criterion": "l1_weight", "scope": "layer", "budget": "parameters"}}
    path = tmp_path / "t.parquet"
    write_table(pd.DataFrame(rows), path, {**PROVENANCE, "evaluation": evaluation})
    values = module.plot([path], tmp_path / "p.pdf", tmp_path / "p.csv", RULE).set_index(["metric", "lr"])
    assert values.loc[("prunability[random/layer]", 0.1), "mean"] == pytest.approx(3.1)
    assert values.loc[("prunability[unstructured]", 0.1), "mean"] == pytest.approx(7.1)
    assert values.loc[("unbiased_test_acc", 0.01), "mean"] == pytest.approx(0.3)
    default = values[values.default_variant.astype(bool)]
    assert set(default.variant) == {"l1_weight/layer"}
