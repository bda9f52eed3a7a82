import pandas as pd
import pytest

from spurcomp.aggregate import write_table
from spurcomp.claims import Claim, evaluate_claims, grid_rule_cut, spearman, trend_verdict as claim_test
from spurcomp.figures import config_claims
from spurcomp.config import validate_config


def table(values_by_lr, metric="unbiased_test_acc", status=None):
    rows = []
    for lr, values in values_by_lr.items():
        for seed, value in enumerate(values):
            rows.append({"lr": lr, "seed": seed, "metric": metric, "value": value,
                         "status": (status or {}).get((lr, seed), "converged")})
    return pd.DataFrame(rows)


CLAIM = Claim("fig3:unbiased_test_acc", "acc increases", "fig3", "unbiased_test_acc", +1, "Fig. 3")


def test_spearman_hand_computed():
    assert spearman([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1.0)
    assert spearman([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    # ranks (1,2,3,4) vs (1,3,2,4): 1 - 6·Σd²/(n(n²-1)) = 1 - 6·2/60 = 0.8
    assert spearman([1, 2, 3, 4], [1, 3, 2, 4]) == pytest.approx(0.8)


def test_verdicts():
    rising = table({0.01: [0.5, 0.52, 0.51], 0.1: [0.7, 0.72, 0.69], 1.0: [0.9, 0.91, 0.92]})
    assert claim_test(rising, CLAIM)["verdict"] == "holds"
    falling = table({0.01: [0.9, 0.91, 0.92], 0.1: [0.7, 0.72, 0.69], 1.0: [0.5, 0.52, 0.51]})
    assert claim_test(falling, CLAIM)["verdict"] == "does not hold"
    noisy = table({0.01: [0.1, 0.9, 0.5], 0.1: [0.9, 0.1, 0.5], 1.0: [0.5, 0.1, 0.9]})
    assert claim_test(noisy, CLAIM)["verdict"] == "inconclusive"
    assert claim_test(table({0.01: [0.5, 0.6], 0.1: [0.7, 0.8]}), CLAIM)["verdict"] == "not enough runs"


def test_diverged_runs_are_left_out():
    # the high-LR seed that diverged (accuracy 0) would otherwise break the trend
    rising = table({0.01: [0.5, 0.5, 0.5], 0.1: [0.7, 0.7, 0.7], 1.0: [0.9, 0.0, 0.9]}, status={(1.0, 1): "diverged"})
    result = claim_test(rising, CLAIM)
    assert result["n_runs"] == 8 and result["value"] == pytest.approx(1.0)


def test_claims_of_missing_tables_are_not_computed(tmp_path):
    path = tmp_path / "fig3.parquet"
    frame = table({0.01: [0.5, 0.52], 0.1: [0.7, 0.72], 1.0: [0.9, 0.91]})
    write_table(frame, path, {"datasets": {"parity": {"source": "procedural", "generator": "parity"}}})
    claims = [CLAIM, Claim("fig3:csi", "CSI increases", "fig3", "csi", +1, "Fig. 3"),
              Claim("other:csi", "CSI increases", "other", "csi", +1, "Fig. 3")]
    result = evaluate_claims({"fig3": path, "other": tmp_path / "missing.parquet"},
                             tmp_path / "claims.csv", tmp_path / "claims.md", claims)
    assert len(result) == 3
    assert result.set_index("claim").loc["fig3:unbiased_test_acc", "verdict"] == "holds"
    assert result.set_index("claim").loc["fig3:unbiased_test_acc", "data_source"] == "procedural"
    assert result.set_index("claim").loc["other:csi", "verdict"] == "not computed"
    # claims on metrics absent from this table have no runs to judge
    assert result.set_index("claim").loc["fig3:csi", "verdict"] == "not enough runs"
    assert "**holds**" in (tmp_path / "claims.md").read_text()


def test_claims_come_from_the_figures_of_the_config_with_names_for_people(tiny_config):
    tiny_config["datasets"]["cm"] = {"generator": "colored_mnist"}
    tiny_config["models"]["cnn"] = {"arch": "cnn", "width": 0.125}
    tiny_config["studies"]["cm_cnn"] = {"dataset": "cm", "model": "cnn", "grid": {"lr": [0.1]}, "seeds": [0]}
    tiny_config["figures"].update(fig4={"layout": "fig4", "studies": ["cm_cnn"]},
                                  fig5={"layout": "fig5", "studies": ["cm_cnn"]},
                                  fig2={"layout": "fig2", "datasets": ["cm"]})
    claims = {c.claim_id: c for c in config_claims(validate_config(tiny_config))}
    # fig3: six variables and fig. 12's BC loss ratio; fig4: three; fig5: CSI and R² (its accuracy is fig4's),
    # and supplementary CSI and BSI over all units; fig2 tests nothing
    assert len(claims) == 7 + 3 + 2 + 2
    assert [c.claim_id for c in claims.values() if c.supplementary] == ["cm_cnn:csi_all", "cm_cnn:bsi_all"]
    assert claims["cm_cnn:bsi_all"].direction == -1 and "decreases" in claims["cm_cnn:bsi_all"].text
    assert claims["fig3:prunability"].figure == "Fig. 3" and claims["fig3:max_bc_loss_ratio"].figure == "Fig. 12"
    assert claims["cm_cnn:prunability"].text == \
        "κ-prunability (Σκ κP) increases with learning rate on Colored MNIST, VGG11 (width ×1/8)"
    assert claims["fig3:csi"].text == "Class selectivity (CSI) increases with learning rate on parity, FCN (3 × 32)"
    assert claims["cm_cnn:csi"].figure == "Fig. 5"
    # the pruning variants on fig4's panels: one supplementary claim per variant other than the default (whose
    # claim is fig4's), unstructured and the default above chance; bn_scale only where the model has batch norm
    tiny_config["figures"]["figS"] = {"layout": "figS_pruning", "studies": ["cm_cnn", "fig3"]}
    variants = {c.claim_id: c for c in config_claims(validate_config(tiny_config)) if c.figure.startswith("Fig. 4 (")}
    assert all(c.supplementary for c in variants.values())
    assert sorted(k for k in variants if k.startswith("cm_cnn:")) == sorted(
        [f"cm_cnn:prunability[{v}]" for v in ("l1_weight/layer/units", "l1_weight/global", "bn_scale/layer",
                                              "bn_scale/global",
                                              "mean_activation/layer", "mean_activation/global", "random/layer",
                                              "random/global", "unstructured")] + ["cm_cnn:prunability_chance"])
    assert "fig3:prunability[bn_scale/layer]" not in variants and "fig3:prunability[random/global]" in variants
    assert variants["cm_cnn:prunability[random/global]"].text == ("κ-prunability (Σκ κP), random, global increases "
                                                                   "with learning rate on Colored MNIST, VGG11 (width ×1/8)")
    del tiny_config["figures"]["figS"]
    # a figure removed from the config takes its claims with it
    del tiny_config["figures"]["fig3"]
    assert not any(c.study == "fig3" for c in config_claims(validate_config(tiny_config)))


RULE = {"enabled": True, "metric": "unbiased_test_acc", "max_drop": 0.25, "drop": "points"}


def test_grid_rule_stops_at_the_first_failed_seed():
    runs = table({0.01: [0.5, 0.5], 0.1: [0.7, 0.7], 1.0: [0.9, 0.9], 3.0: [0.95, 0.95]},
                 status={(1.0, 1): "collapsed"})
    cut = grid_rule_cut(runs, RULE)
    assert cut == {1.0: "1 seed(s) collapsed", 3.0: "beyond lr 1"}
    assert grid_rule_cut(runs, {**RULE, "enabled": False}) == {}


def test_grid_rule_stops_at_a_drastic_loss_above_the_best_learning_rate_only():
    # low learning rates far below the best are the paper's curve; a seed 0.3 below the best at lr 3 is a loss
    runs = table({0.001: [0.2, 0.2], 0.01: [0.5, 0.5], 0.1: [0.9, 0.8], 1.0: [0.8, 0.7], 3.0: [0.84, 0.55],
                  10.0: [0.8, 0.8]})
    cut = grid_rule_cut(runs, RULE)
    assert list(cut) == [3.0, 10.0] and "0.550 is more than 0.25 below the best (0.850 at lr 0.1)" in cut[3.0]
    # relative: 25% of 0.85 is 0.2125, so 0.55 < 0.6375 is a loss too, and 0.7 at lr 1 is not
    assert list(grid_rule_cut(runs, {**RULE, "drop": "relative"})) == [3.0, 10.0]
    assert grid_rule_cut(runs, {**RULE, "max_drop": 0.4}) == {}


def test_claims_leave_out_collapsed_runs_and_learning_rates_past_the_grid_rule():
    rising = table({0.01: [0.5, 0.5, 0.5], 0.1: [0.7, 0.7, 0.7], 1.0: [0.9, 0.1, 0.9], 3.0: [0.1, 0.1, 0.1]},
                   status={(1.0, 1): "collapsed"})
    everything = claim_test(rising, CLAIM)  # no grid rule: only the failed run is left out
    assert everything["n_runs"] == 11 and everything["n_failed_runs"] == 1 and everything["n_learning_rates"] == 4
    ruled = claim_test(rising, CLAIM, grid_rule=RULE)
    assert ruled["n_learning_rates"] == 2 and ruled["excluded_lrs"] == "1 (1 seed(s) collapsed); 3 (beyond lr 1)"
    assert ruled["verdict"] == "not enough runs"  # two learning rates left: never reported as holding


def test_a_config_whose_figures_test_no_claim_gets_an_empty_table(tmp_path):
    frame = evaluate_claims({}, tmp_path / "claims.csv", tmp_path / "claims.md", [])
    assert frame.empty and "verdict" in frame.columns
    assert "Summary: no claims" in (tmp_path / "claims.md").read_text()


def knob_table(points, knob, status=None, lr=0.1):
    """A knob study's table: ``points`` knob value -> seed values, at one learning rate."""
    rows = [{"setting": f"lr={lr},{knob}={value}", "lr": lr, knob: value, "seed": seed, "metric": "csi",
             "value": v, "status": (status or {}).get((value, seed), "converged")}
            for value, values in points.items() for seed, v in enumerate(values)]
    return pd.DataFrame(rows)


def versus(first_pick, second_pick, direction=+1, tie="on par"):
    return Claim("x", "first at least on par with second", "a", "csi", direction, "Fig. 6", versus_study="b",
                 pick=first_pick, versus_pick=second_pick, tie=tie)


def test_comparisons_take_each_side_at_its_pick_and_bootstrap_the_difference():
    from spurcomp.claims import pick_points, comparison_verdict

    lrs = knob_table({0.01: [0.1, 0.12], 0.1: [0.5, 0.52], 1.0: [0.9, 0.0]}, "lr", status={(1.0, 1): "diverged"})
    lrs["setting"] = [f"lr={lr}" for lr in lrs.lr]
    momentum = knob_table({0.0: [0.3, 0.32], 0.5: [0.4, 0.44], 0.9: [0.6, 0.7]}, "momentum",
                          status={(0.9, 0): "diverged"})
    # best: the highest mean among points without a failed seed (lr 1 and momentum 0.9 are left out, and said)
    points, failed, left_out = pick_points(lrs, "best", "csi")
    assert failed == 1 and max(v.mean() for v in points) == pytest.approx(0.51)
    assert left_out == ["lr=1.0: 1 seed(s) failed"]
    points, _, _ = pick_points(momentum, "best;except:momentum=0.5", "csi")
    assert [v.tolist() for v in points] == [[0.3, 0.32]]
    # best:METRIC: the one point whose METRIC is best (here a second metric ranks momentum 0 first)
    ranked = pd.concat([momentum, momentum[momentum.metric == "csi"].assign(
        metric="acc", value=lambda t: 1 - t.value)], ignore_index=True)
    points, _, _ = pick_points(ranked, "best:acc", "csi")
    assert [v.tolist() for v in points] == [[0.3, 0.32]]
    points, failed, _ = pick_points(momentum, "at:momentum=0.9", "csi")  # at a point, the failed seed is dropped
    assert failed == 1 and [v.tolist() for v in points] == [[0.7]]
    # Δ = 0.51 - 0.42 (momentum's best, 0.5), every resample on the first side's side of 0, but 2 runs a side:
    # of the 6 ways to split the 4 runs, the observed one is the most extreme, so p = 1/6 can never reach α
    tables = {"a": lrs, "b": momentum}
    result = comparison_verdict(tables, versus("best", "best"))
    assert result["value"] == pytest.approx(0.51 - 0.42) and result["p"] == pytest.approx(1 / 6)
    assert result["effect_low"] > 0 and result["verdict"] == "on par"
    assert result["excluded_lrs"] == "a/lr=1.0: 1 seed(s) failed; b/lr=0.1,momentum=0.9: 1 seed(s) failed"
    # five seeds a side, well apart: p = 1/252 (the most extreme of C(10, 5) splits) and the interval above 0
    high = knob_table({0.1: [0.50, 0.51, 0.52, 0.53, 0.54]}, "lr")
    low = knob_table({0.0: [0.40, 0.41, 0.42, 0.43, 0.44]}, "momentum")
    result = comparison_verdict({"a": high, "b": low}, versus("best", "best"))
    assert result["p"] == pytest.approx(1 / 252) and result["verdict"] == "holds"
    assert result["effect"] == pytest.approx(0.1) and result["effect_sd"] == pytest.approx(0.1 / 0.0158113883)
    # the other way round does not hold; an overlapping difference is a tie, named as the claim says
    assert comparison_verdict({"a": low, "b": high}, versus("best", "best", tie="on par"))["verdict"] == "does not hold"
    close = {"a": knob_table({0.0: [0.4, 0.6, 0.5, 0.45, 0.55]}, "momentum"),
             "b": knob_table({0.0: [0.45, 0.55, 0.5, 0.6, 0.4]}, "momentum")}
    assert comparison_verdict(close, versus("best", "best"))["verdict"] == "on par"
    assert comparison_verdict(close, versus("best", "best", tie="inconclusive"))["verdict"] == "inconclusive"
    # direction -1: the first side is claimed lower
    assert comparison_verdict({"a": low, "b": high}, versus("at:momentum=0.0", "at:lr=0.1", -1))["verdict"] == "holds"
    # every run of the first side failed: its recipe did not work; too few runs: not judged
    dead = knob_table({0.9: [0.0, 0.0]}, "momentum", status={(0.9, 0): "diverged", (0.9, 1): "diverged"})
    assert comparison_verdict({"a": dead, "b": lrs}, versus("best", "best"))["verdict"] == "does not hold"
    assert comparison_verdict({"a": lrs, "b": dead}, versus("best", "best"))["verdict"] == "not enough runs"
    for bad in ("top", "at:lr", "at:lr=1;except:lr=0.1", "best;at:lr=1"):
        with pytest.raises(ValueError, match=f"bad comparison pick '{bad}'; allowed"):
            pick_points(lrs, bad, "csi")


def test_correlation_claim_pools_the_kept_runs_of_its_studies():
    """Fig. 12's claim: Spearman's ρ between unbiased accuracy and the maximum BC loss ratio over the runs of the
    pooled studies, failed runs left out. Two studies of 3 runs: ratios (0.1, 0.2, 0.3) and (0.4, 0.5, 0.6) with
    accuracies (0.3, 0.2, 0.4) and (0.5, 0.7, 0.6): ranks of accuracy (2, 1, 3, 4, 6, 5) against (1 … 6):
    Σd² = 1 + 1 + 0 + 0 + 1 + 1 = 4, ρ = 1 - 6·4 / (6·35) = 0.8857."""
    from spurcomp.claims import correlation_over_runs, correlation_verdict

    def study(ratios, accuracies, failed=()):
        rows = []
        for k, (ratio, accuracy) in enumerate(zip(ratios, accuracies)):
            status = "diverged" if k in failed else "converged"
            rows += [{"setting": f"lr={k}", "lr": 10.0 ** -k, "seed": 0, "status": status, "metric": m, "value": v}
                     for m, v in (("max_bc_loss_ratio", ratio), ("unbiased_test_acc", accuracy))]
        return pd.DataFrame(rows)

    config = {"datasets": {"cm": {"generator": "colored_mnist"}}, "models": {"r": {"arch": "resnet"}},
              "studies": {"a": {"dataset": "cm", "model": "r"}, "b": {"dataset": "cm", "model": "r"}}}
    claim = correlation_over_runs(config, ["a", "b"], "unbiased_test_acc", "max_bc_loss_ratio", "Fig. 12",
                                  "the ResNet18 runs")
    assert claim.studies == ("a", "b") and claim.text == (
        "Unbiased test accuracy correlates positively with the maximum BC loss ratio over the ResNet18 runs")
    tables = {"a": study([0.1, 0.2, 0.3], [0.3, 0.2, 0.4]),
              "b": study([0.4, 0.5, 0.6, 0.9], [0.5, 0.7, 0.6, 0.0], failed=(3,))}
    result = correlation_verdict(tables, claim)
    assert result["n_runs"] == 6 and result["n_failed_runs"] == 1
    assert result["value"] == pytest.approx(1 - 6 * 4 / (6 * 35))
    assert result["effect_low"] <= result["value"] == result["effect"] <= result["effect_high"]
    # the permutation p-value of ρ over 6 runs: exact, the share of the 720 orders with ρ at least 0.8857
    assert 0 < result["p"] < 0.05 and result["verdict"] in ("holds", "inconclusive")
    assert correlation_verdict({"a": tables["a"], "b": tables["a"].iloc[:0]}, claim)["n_runs"] == 3


def test_fig12_claims_the_correlation_over_its_resnet18_runs():
    from spurcomp.figures import layout_module

    config = {"datasets": {"cm": {"generator": "colored_mnist"}, "p": {"generator": "parity"}},
              "models": {"r": {"arch": "resnet", "depth": "resnet18"}, "f": {"arch": "fcn", "hidden": [8]}},
              "studies": {"cm_r": {"dataset": "cm", "model": "r", "grid": {"lr": [0.1, 1.0]}},
                          "p_f": {"dataset": "p", "model": "f", "grid": {"lr": [0.1, 1.0]}}}}
    claims = layout_module("fig12").claims({"studies": ["p_f", "cm_r"]}, config)
    main = [c for c in claims if not c.supplementary]
    assert len(main) == 1 and main[0].studies == ("cm_r",) and "ResNet18 runs" in main[0].text
    # the learning-rate trends of the ratio stay, as supplementary checks of the mechanism's premise
    assert {c.claim_id for c in claims if c.supplementary} == {"p_f:max_bc_loss_ratio", "cm_r:max_bc_loss_ratio"}
    # no ResNet18 study: over every run, and the text says so
    only_fcn = layout_module("fig12").claims({"studies": ["p_f"]}, config)[0]
    assert only_fcn.studies == ("p_f",) and "no ResNet18 study" in only_fcn.text


def test_trend_p_value_is_the_exact_share_of_orders_at_least_as_extreme():
    from spurcomp.claims import rank_trend_p

    # 4 runs in perfect order: 1 of the 4! = 24 orders has ρ = 1, so p = 1/24; in the other direction p = 1
    assert rank_trend_p([1, 2, 3, 4], [1, 2, 3, 4], +1, seed=0) == (pytest.approx(1 / 24), pytest.approx(1.0))
    assert rank_trend_p([1, 2, 3, 4], [1, 2, 3, 4], -1, seed=0) == (pytest.approx(1.0), pytest.approx(1 / 24))
    # ρ = 0.8 ((1,3,2,4)): the orders with ρ >= 0.8 are the identity and the three adjacent swaps: 4/24
    assert rank_trend_p([1, 2, 3, 4], [1, 3, 2, 4], +1, seed=0)[0] == pytest.approx(4 / 24)
    assert rank_trend_p([1, 2, 3, 4], [5, 5, 5, 5], +1, seed=0) == (1.0, 1.0)  # nothing to rank


def test_p_values_are_adjusted_within_a_family_by_hand():
    import numpy as np

    from spurcomp.claims import adjusted

    p = [0.01, 0.04, 0.03, 0.2, float("nan")]
    # Holm: sorted 0.01·4, 0.03·3, 0.04·2 (held at 0.09 by the step before), 0.2·1
    np.testing.assert_allclose(adjusted(p, "holm"), [0.04, 0.09, 0.09, 0.2, np.nan])
    # Benjamini-Hochberg: p·n/rank = 0.04, 0.06, 0.0533, 0.2, each the minimum of itself and those above it
    np.testing.assert_allclose(adjusted(p, "bh"), [0.04, 0.16 / 3, 0.16 / 3, 0.2, np.nan])
    np.testing.assert_allclose(adjusted(p, "none"), p)


def test_the_trend_test_is_calibrated_and_reports_its_power():
    """On synthetic tables of the default scale's design (4 learning rates × 3 seeds, Gaussian seed noise) the
    trend test says "holds" at most α of the time when there is no trend (within 3 Monte-Carlo standard errors),
    and finds a change of 3 seed standard deviations from the lowest to the highest rate most of the time
    (benchmarks/claims_power.py prints the whole table)."""
    import sys

    sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parents[1] / "benchmarks"))
    from claims_power import holds_rate

    tables, alpha = 600, 0.05
    false_holds = holds_rate(4, 3, 0.0, tables, alpha, seed=1)
    assert false_holds <= alpha + 3 * (alpha * (1 - alpha) / tables) ** 0.5
    assert holds_rate(4, 3, 3.0, 200, alpha, seed=2) >= 0.8
    # a falling metric is never called "holds" for a rising claim
    assert holds_rate(4, 3, -3.0, 100, alpha, seed=3) == 0.0


def test_a_study_whose_best_rate_stays_below_twice_chance_is_flagged(tmp_path):
    def with_groups(values_by_lr):
        frame = table(values_by_lr)
        groups = pd.DataFrame([{"lr": 0.01, "seed": 0, "metric": "group_acc", "group": f"y={y},b={b}", "value": 0.5,
                                "status": "converged"} for y in range(10) for b in range(2)])
        return pd.concat([frame, groups], ignore_index=True)

    paths = {}
    for study, values in (("learned", {0.01: [0.3, 0.32], 0.1: [0.6, 0.62]}),
                          ("near_chance", {0.01: [0.11, 0.12], 0.1: [0.15, 0.17]})):
        paths[study] = tmp_path / f"{study}.parquet"
        write_table(with_groups(values), paths[study], {"datasets": {}})
    claims = [Claim(f"{s}:unbiased_test_acc", f"acc increases on {s}", s, "unbiased_test_acc", +1, "Fig. 4")
              for s in paths]
    result = evaluate_claims(paths, tmp_path / "c.csv", tmp_path / "c.md", claims).set_index("study")
    assert result.loc["learned", "best_unbiased_acc"] == pytest.approx(0.61)
    assert result.loc["near_chance", "best_unbiased_acc"] == pytest.approx(0.16)
    assert result.chance.tolist() == [0.1, 0.1]  # ten classes in the accuracy table's groups
    text = (tmp_path / "c.md").read_text()
    assert "near_chance (0.160, chance 0.100)" in text and "learned (" not in text.split("core feature")[-1]
    assert text.count("⚠") == 2  # the flagged claim's verdict, and the note's mention


def test_the_learned_threshold_is_twice_chance_or_halfway_to_perfect_with_two_classes():
    from spurcomp.claims import learned_threshold

    assert learned_threshold(0.1) == pytest.approx(0.2) and learned_threshold(0.01) == pytest.approx(0.02)
    assert learned_threshold(0.5) == pytest.approx(0.75)  # twice chance would be perfect accuracy
    assert learned_threshold(1 / 3) == pytest.approx(2 / 3)
