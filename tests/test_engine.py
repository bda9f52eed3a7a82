import json
import math

import numpy as np
import pandas as pd
import pytest
import torch

from spurcomp.data import build_dataset
from spurcomp.runtime import setup_torch
from spurcomp.settings import TrainingSetting
from spurcomp.study import STEP_COLUMNS
from spurcomp.train.engine import TrainOptions, step_table, train_run

PARITY = {"generator": "parity", "core_bits": 3, "spurious_bits": 1, "noise_bits": 4, "n_train": 400,
          "n_test": 400, "rho_train": 0.1, "rho_test": 0.5}
FCN = {"arch": "fcn", "hidden": [32, 32, 32]}


@pytest.fixture(scope="module")
def dataset():
    setup_torch(1, torch.device("cpu"))
    return build_dataset(PARITY, seed=0)


def train(dataset, tmp_path, name, lr=0.5, max_epochs=15, seed=0, **options):
    return train_run(dataset, FCN, TrainingSetting(lr=lr, batch_size=50, max_epochs=max_epochs), seed,
                     tmp_path / name, options=TrainOptions(**options))


def test_post_fit_epochs_train_on_past_the_first_epoch_at_100_percent(dataset, tmp_path):
    fitted = train(dataset, tmp_path, "fit", test_every_epoch=True)
    assert fitted["status"] == "converged"
    setting = TrainingSetting(lr=0.5, batch_size=50, max_epochs=40, post_fit_epochs=5)
    assert setting.as_dict()["post_fit_epochs"] == 5 and "post_fit_epochs" not in TrainingSetting(0.5, 50).as_dict()
    longer = train_run(dataset, FCN, setting, 0, tmp_path / "longer", options=TrainOptions(test_every_epoch=True))
    assert longer["status"] == "converged" and longer["epochs"] == fitted["epochs"] + 5
    assert longer["status_reason"] == f"100% training accuracy after epoch {fitted['epochs']}, then 5 epochs more"
    same = pd.read_parquet(tmp_path / "fit" / "history.parquet").query("scope == 'epoch'")
    on = pd.read_parquet(tmp_path / "longer" / "history.parquet").query("scope == 'epoch'")
    pd.testing.assert_frame_equal(on.iloc[:len(same)].reset_index(drop=True), same.reset_index(drop=True),
                                  check_exact=False, rtol=0, atol=0)  # the same run up to the fit, bit for bit
    capped = train_run(dataset, FCN, TrainingSetting(lr=0.5, batch_size=50, max_epochs=fitted["epochs"] + 2,
                                                     post_fit_epochs=5), 0, tmp_path / "capped")
    assert capped["epochs"] == fitted["epochs"] + 2 and capped["status"] == "converged"
    assert capped["status_reason"].endswith(f"then trained on to max_epochs ({fitted['epochs'] + 2})")


def test_run_writes_its_contract_and_converges(dataset, tmp_path):
    summary = train(dataset, tmp_path, "run", checkpoint_epochs=[0, 2])
    run = tmp_path / "run"
    assert summary["status"] == "converged" and summary["final_train_acc"] == 1.0
    assert json.loads((run / "run.json").read_text())["status"] == "converged"
    history = pd.read_parquet(run / "history.parquet")
    epochs, steps = history[history.scope == "epoch"], history[history.scope == "step"]
    assert epochs.epoch.tolist() == list(range(summary["epochs"] + 1))  # epoch 0 = before training
    assert len(steps) == summary["epochs"] * 8 and steps.step.tolist() == list(range(1, len(steps) + 1))
    assert set(STEP_COLUMNS) <= set(steps.columns) and {"train_acc", "test_unbiased_acc"} <= set(epochs.columns)
    assert epochs.train_acc.iloc[-1] == 1.0
    # checkpoints: the configured ones and the final epoch of a converged run
    assert summary["checkpoints"] == ["epoch=00000.pt", "epoch=00002.pt", f"epoch={summary['epochs']:05d}.pt"]
    assert (run / "weights.pt").exists()


def test_the_test_set_is_measured_at_checkpoints_and_the_end_and_training_is_the_same_either_way(dataset, tmp_path):
    sparse = train(dataset, tmp_path, "sparse", checkpoint_epochs=[0, 2])
    every = train(dataset, tmp_path, "every", checkpoint_epochs=[0, 2], test_every_epoch=True)
    last = sparse["epochs"]
    assert last > 4 and sparse["status"] == "converged"
    histories = {name: pd.read_parquet(tmp_path / name / "history.parquet") for name in ("sparse", "every")}
    epochs = {name: h[h.scope == "epoch"].set_index("epoch") for name, h in histories.items()}
    tested = epochs["sparse"].test_acc.notna()
    assert tested[tested].index.tolist() == [0, 2, last]  # epoch 0, the checkpoint epochs and the last epoch
    assert epochs["every"].test_acc.notna().all()
    # the same training bit for bit: steps, training-set numbers, the test numbers that both have, the outcome
    train_columns = [c for c in epochs["sparse"].columns if c.startswith("train_")]
    pd.testing.assert_frame_equal(epochs["sparse"][train_columns], epochs["every"][train_columns], check_exact=True)
    pd.testing.assert_frame_equal(epochs["sparse"][tested], epochs["every"][tested], check_exact=True)
    steps = {name: h[h.scope == "step"].reset_index(drop=True) for name, h in histories.items()}
    pd.testing.assert_frame_equal(steps["sparse"], steps["every"], check_exact=True)
    assert {k: sparse[k] for k in ("status", "epochs", "final_train_acc", "final_test_unbiased_acc")} == \
        {k: every[k] for k in ("status", "epochs", "final_train_acc", "final_test_unbiased_acc")}
    assert sparse["final_test_unbiased_acc"] == epochs["every"].test_unbiased_acc.iloc[-1]
    weights = [torch.load(tmp_path / name / "weights.pt")["model"] for name in ("sparse", "every")]
    assert all(torch.equal(weights[0][k], weights[1][k]) for k in weights[0])


def test_bc_loss_ratio_and_group_accuracies_come_from_the_step_itself():
    # one step, batch of 4: losses 1, 2, 3, 4; samples 2 and 4 conflicting; samples 1, 2 and 4 predicted right
    losses = torch.tensor([1.0, 2.0, 3.0, 4.0])
    bc = torch.tensor([0.0, 1.0, 0.0, 1.0])
    correct = torch.tensor([1.0, 1.0, 0.0, 1.0])
    stats = np.array([[losses.mean(), (losses * bc).sum(), 7.0, 9.0, correct.sum(), (correct * bc).sum()]])
    row = step_table(stats, np.array([4]), np.array([2.0]), epoch=1, first_step=0)[0]
    epoch, step, loss, loss_ba, loss_bc, ratio, param_norm, logit_norm, acc_ba, acc_bc = row
    assert (epoch, step, loss, param_norm, logit_norm) == (1, 1, 2.5, 7.0, 9.0)
    assert loss_ba == pytest.approx(2.0) and loss_bc == pytest.approx(3.0) and ratio == pytest.approx(6 / 10)
    assert acc_ba == pytest.approx(0.5) and acc_bc == pytest.approx(1.0)
    # a batch without conflicting samples has no BC loss or accuracy (NaN), and a ratio of 0
    stats[0, 1] = stats[0, 5] = 0
    row = step_table(stats, np.array([4]), np.array([0.0]), 1, 0)[0]
    assert math.isnan(row[4]) and row[5] == 0 and row[3] == pytest.approx(2.5)
    assert math.isnan(row[9]) and row[8] == pytest.approx(0.75)


def test_step_accuracies_are_the_minibatch_accuracies_before_the_update(dataset, tmp_path):
    # one epoch of full-batch steps at lr 0: the weights never move, so each step's BA/BC accuracy is the
    # initial model's on the whole training set's aligned and conflicting samples
    from spurcomp.models import build_model

    setting = TrainingSetting(lr=1e-12, batch_size=len(dataset.train.x), max_epochs=1)
    train_run(dataset, FCN, setting, 0, tmp_path / "still", options=TrainOptions(checkpoint_epochs=[0]))
    steps = pd.read_parquet(tmp_path / "still" / "history.parquet").query("scope == 'step'")
    model = build_model(FCN, dataset.input_shape, dataset.num_classes)
    model.load_state_dict(torch.load(tmp_path / "still" / "checkpoints" / "epoch=00000.pt"))
    with torch.no_grad():
        correct = (model(torch.as_tensor(dataset.train.x)).argmax(1).numpy() == dataset.train.y)
    conflicting = dataset.train.y != dataset.train.b
    assert steps.acc_bc.iloc[0] == pytest.approx(correct[conflicting].mean())
    assert steps.acc_ba.iloc[0] == pytest.approx(correct[~conflicting].mean())


def test_logged_norms_are_the_parameter_and_logit_norms(dataset, tmp_path):
    train(dataset, tmp_path, "norms", max_epochs=1)
    steps = pd.read_parquet(tmp_path / "norms" / "history.parquet").query("scope == 'step'")
    torch.manual_seed(0)
    from spurcomp.models import build_model
    from spurcomp.runtime import derived_seed
    torch.manual_seed(derived_seed("init", 0))
    fresh = build_model(FCN, dataset.input_shape, 2)
    expected = torch.sqrt(sum(p.pow(2).sum() for p in fresh.parameters())).item()
    assert steps.param_norm.iloc[0] == pytest.approx(expected, rel=1e-5)  # before the first update
    assert (steps.logit_norm > 0).all() and len(steps) == 8


def test_same_seed_same_numbers_other_seed_other_numbers(dataset, tmp_path):
    train(dataset, tmp_path, "a", max_epochs=3)
    train(dataset, tmp_path, "b", max_epochs=3)
    train(dataset, tmp_path, "c", max_epochs=3, seed=1)
    a, b, c = (pd.read_parquet(tmp_path / n / "history.parquet") for n in "abc")
    pd.testing.assert_frame_equal(a, b)
    assert not a.equals(c)


def test_hitting_the_epoch_cap_is_recorded_as_not_converged(dataset, tmp_path):
    summary = train(dataset, tmp_path, "capped", lr=0.001, max_epochs=2)
    assert summary["status"] == "not_converged" and summary["epochs"] == 2


def test_an_exploding_run_is_recorded_as_diverged_not_a_crash(dataset, tmp_path):
    summary = train(dataset, tmp_path, "boom", lr=1e4, max_epochs=20)
    assert summary["status"] == "diverged" and summary["epochs"] < 20
    history = pd.read_parquet(tmp_path / "boom" / "history.parquet")
    last = history[history.scope == "epoch"].iloc[-1]
    assert not math.isfinite(last.train_loss) or last.train_loss > 1000 * math.log(2)


def test_a_state_from_another_configuration_is_ignored(dataset, tmp_path, caplog):
    train(dataset, tmp_path, "run", lr=0.5, max_epochs=2)
    assert (tmp_path / "run" / "resume" / "state.pt").exists()
    (tmp_path / "run" / "checkpoints" / "epoch=00007.pt").write_bytes(b"stale")
    summary = train(dataset, tmp_path, "run", lr=0.3, max_epochs=2, checkpoint_epochs=[1])
    assert summary["setting"]["lr"] == 0.3 and summary["epochs"] == 2
    assert "another configuration" in caplog.text
    assert summary["checkpoints"] == ["epoch=00001.pt"]  # nothing left from the other configuration


def test_batches_without_conflicting_samples_are_not_divergence(tmp_path):
    no_conflicts = build_dataset({**PARITY, "rho_train": 0.0}, seed=0)
    summary = train(no_conflicts, tmp_path, "aligned", lr=0.05, max_epochs=3)
    assert summary["status"] != "diverged"
    steps = pd.read_parquet(tmp_path / "aligned" / "history.parquet").query("scope == 'step'")
    assert steps.loss_bc.isna().all() and (steps.bc_loss_ratio == 0).all()


def test_evaluating_all_families_in_one_call_matches_one_at_a_time(dataset, tmp_path):
    from spurcomp.data import save_dataset
    from spurcomp.evaluate import evaluate_run

    # not converged after 3 epochs: the last checkpoint (epoch 2) differs from the final weights (epoch 3)
    train(dataset, tmp_path, "run", lr=0.05, max_epochs=3, checkpoint_epochs=[0, 2])
    save_dataset(tmp_path / "data.npz", dataset)
    small = {"ig": {"n_samples": 10, "n_baselines": 2, "n_steps": 4}}
    # attributions load checkpoints: they must not leave them in the model the later families evaluate
    together = evaluate_run({"attributions": tmp_path / "a.parquet", "accuracy": tmp_path / "b.parquet"},
                            tmp_path / "data.npz", tmp_path / "run", small)
    alone = evaluate_run({"accuracy": tmp_path / "c.parquet"}, tmp_path / "data.npz", tmp_path / "run", small)
    pd.testing.assert_frame_equal(together["accuracy"], alone["accuracy"])
    assert set(together["attributions"].epoch.dropna()) >= {0, 2}
    # the IG baseline is a config value: the all-zero one gives other attributions than random ones
    zero = evaluate_run({"attributions": tmp_path / "z.parquet"}, tmp_path / "data.npz", tmp_path / "run",
                        {"ig": {**small["ig"], "baseline": "zero"}})["attributions"]
    assert zero.value.notna().all() and not np.allclose(zero.value, together["attributions"].value)
    with pytest.raises(ValueError, match="allowed"):
        evaluate_run({"nope": tmp_path / "d.parquet"}, tmp_path / "data.npz", tmp_path / "run")


def _same_run(a, b):
    """Two run folders hold the same numbers: history, final weights and checkpoints, bit for bit."""
    pd.testing.assert_frame_equal(pd.read_parquet(a / "history.parquet"), pd.read_parquet(b / "history.parquet"))
    wa, wb = (torch.load(p / "weights.pt", weights_only=False)["model"] for p in (a, b))
    assert wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)
    assert sorted(p.name for p in (a / "checkpoints").iterdir()) == sorted(p.name for p in (b / "checkpoints").iterdir())


def test_a_changed_divergence_rule_is_not_resumed_from_an_old_state(dataset, tmp_path, caplog):
    # lr = 5 explodes: past 1000 x ln 2 in epoch 3, past 2 x ln 2 already in epoch 2
    first = train(dataset, tmp_path, "run", lr=5.0, max_epochs=5, divergence_factor=1000)
    assert first["status"] == "diverged" and first["epochs"] == 3
    again = train(dataset, tmp_path, "run", lr=5.0, max_epochs=5, divergence_factor=2)
    assert "divergence_factor 1000 -> 2" in caplog.text and "starts fresh" in caplog.text
    assert again["status"] == "diverged" and again["epochs"] == 2
    train(dataset, tmp_path, "fresh", lr=5.0, max_epochs=5, divergence_factor=2)
    _same_run(tmp_path / "run", tmp_path / "fresh")


def test_changed_checkpoint_epochs_are_not_resumed_from_an_old_state(dataset, tmp_path, caplog):
    train(dataset, tmp_path, "run", lr=0.05, max_epochs=4, checkpoint_epochs=[0, 2, 4])
    again = train(dataset, tmp_path, "run", lr=0.05, max_epochs=4, checkpoint_epochs=[0, 1, 2, 3, 4])
    assert "checkpoint_epochs [0, 2, 4] -> [0, 1, 2, 3, 4]" in caplog.text
    assert again["checkpoints"] == [f"epoch={e:05d}.pt" for e in range(5)]


def test_an_unreadable_state_is_set_aside_and_training_starts_fresh(dataset, tmp_path, caplog):
    train(dataset, tmp_path, "straight", lr=0.5, max_epochs=3)
    state = tmp_path / "run" / "resume" / "state.pt"
    state.parent.mkdir(parents=True)
    state.write_bytes(np.random.default_rng(0).bytes(4096))
    summary = train(dataset, tmp_path, "run", lr=0.5, max_epochs=3)
    assert summary["epochs"] == 3 and "is unreadable" in caplog.text
    assert (state.parent / "state.pt.corrupt").read_bytes()[:16] == np.random.default_rng(0).bytes(16)
    _same_run(tmp_path / "run", tmp_path / "straight")


def test_a_state_whose_checkpoints_are_gone_starts_fresh(dataset, tmp_path, caplog):
    import shutil

    train(dataset, tmp_path, "run", lr=0.05, max_epochs=3, checkpoint_epochs=[0, 2])
    shutil.rmtree(tmp_path / "run" / "checkpoints")
    summary = train(dataset, tmp_path, "run", lr=0.05, max_epochs=3, checkpoint_epochs=[0, 2])
    assert "checkpoints that are gone (epoch=00000.pt, epoch=00002.pt)" in caplog.text
    assert summary["checkpoints"] == ["epoch=00000.pt", "epoch=00002.pt"]


def test_evaluating_a_run_without_checkpoints_says_so(dataset, tmp_path):
    from spurcomp.data import save_dataset
    from spurcomp.evaluate import evaluate_run

    train(dataset, tmp_path, "run", lr=0.05, max_epochs=1, checkpoint_epochs=[])
    save_dataset(tmp_path / "data.npz", dataset)
    with pytest.raises(FileNotFoundError, match="lists no checkpoints"):
        evaluate_run({"attributions": tmp_path / "a.parquet"}, tmp_path / "data.npz", tmp_path / "run")


def test_pruning_evaluation_writes_every_variant_and_names_an_impossible_criterion(dataset, tmp_path):
    from spurcomp.data import save_dataset
    from spurcomp.evaluate import evaluate_run

    train(dataset, tmp_path, "run", lr=0.5, max_epochs=3, checkpoint_epochs=[0])
    save_dataset(tmp_path / "data.npz", dataset)
    pruning = {"criterion": "mean_activation", "scope": "global", "variants": [
        "random/layer", "bn_scale/layer", "mean_activation/global/parameters", "mean_activation/global/units"]}
    frame = evaluate_run({"pruning": tmp_path / "p.parquet"}, tmp_path / "data.npz", tmp_path / "run",
                         {"kappas": [0.2, 0.6], "pruning": pruning})["pruning"]
    summed = frame[frame.kappa.isna()].set_index("metric").value
    # the default (mean activation, global, κ of the parameters) under its own name and the plain one, computed once
    # when listed with its budget spelled out; bn_scale skipped (no batch norm); the unit budget as a variant
    assert set(summed.index) == {f"{m}{v}" for m in ("prunability", "prunability_chance")
                                 for v in ("", "[mean_activation/global]", "[random/layer]",
                                           "[mean_activation/global/units]", "[unstructured]")} | {"unit_dead_fraction"}
    # ranked by mean activation, the units pruned first are the dead ones: as many as there are, before any other
    dead = frame[frame.metric == "pruned_dead_fraction"].set_index("kappa").value
    assert list(dead.index) == sorted(dead.index) and 0 <= summed["unit_dead_fraction"] <= 1
    assert dead.dropna().is_monotonic_decreasing or summed["unit_dead_fraction"] == 0
    assert summed["prunability"] == summed["prunability[mean_activation/global]"]
    per_kappa = frame[frame.metric == "pruned_parameter_fraction[unstructured]"]
    assert per_kappa.set_index("kappa").value.to_dict() == {0.2: 0.2, 0.6: 0.6}
    # κ of the parameters removes at least κ of them (whole units: up to one unit's more); κ of the units removes
    # more than κ of the parameters (a unit takes its incoming and outgoing weights)
    fraction = frame[frame.metric.str.startswith("pruned_parameter_fraction[mean_activation")].pivot(
        index="kappa", columns="metric", values="value")
    by_parameters = fraction["pruned_parameter_fraction[mean_activation/global]"]
    by_units = fraction["pruned_parameter_fraction[mean_activation/global/units]"]
    assert (by_parameters >= by_parameters.index - 1e-9).all() and (by_parameters < by_parameters.index + 0.1).all()
    assert (by_units > by_parameters).all()
    with pytest.raises(ValueError, match="batch norm"):
        evaluate_run({"pruning": tmp_path / "q.parquet"}, tmp_path / "data.npz", tmp_path / "run",
                     {"pruning": {"criterion": "bn_scale"}})
    assert not (tmp_path / "q.parquet").exists()


def test_the_supplementary_variants_are_pruned_on_a_stratified_test_subset(dataset, tmp_path):
    """variant_samples: every variant but the default (the figures') is pruned on the same seeded subset, with κP
    over the unpruned accuracy on it; the default's numbers are those of the whole test set."""
    from spurcomp.data import save_dataset
    from spurcomp.data.io import stratified_subset
    from spurcomp.evaluate import evaluate_run, load_model
    from spurcomp.metrics.accuracy import predict_logits, unbiased_accuracy
    from spurcomp.metrics.pruning import kappa_prunability
    from spurcomp.runtime import derived_seed

    y, b = dataset.test.y, dataset.test.b
    chosen = stratified_subset(y, b, 100, seed=7)
    assert len(chosen) == len(set(chosen)) == 100 and list(chosen) == sorted(chosen)
    for gy, gb in {(int(i), int(j)) for i, j in zip(y, b)}:  # each (y, b) group in proportion, to within one
        in_group = (y == gy) & (b == gb)
        assert abs(in_group[chosen].sum() - 100 * in_group.mean()) <= 1
    assert list(stratified_subset(y, b, 100, seed=7)) == list(chosen)
    assert list(stratified_subset(y, b, 100, seed=8)) != list(chosen)

    train(dataset, tmp_path, "run", lr=0.5, max_epochs=3, checkpoint_epochs=[0])
    save_dataset(tmp_path / "data.npz", dataset)
    settings = {"kappas": [0.5, 0.9], "pruning": {"variants": ["random/layer"]}}

    def summed(variant_samples):
        pruning = {**settings["pruning"], "variant_samples": variant_samples}
        frame = evaluate_run({"pruning": tmp_path / f"{variant_samples}.parquet"}, tmp_path / "data.npz",
                             tmp_path / "run", {**settings, "pruning": pruning})["pruning"]
        return frame[frame.kappa.isna()].set_index("metric").value

    whole, subset = summed(None), summed(100)
    assert subset["prunability"] == whole["prunability"]  # the default: the whole test set either way
    assert subset["prunability[l1_weight/layer]"] == whole["prunability[l1_weight/layer]"]
    assert subset["prunability[unstructured]"] != whole["prunability[unstructured]"]
    # the unstructured variant, by hand on the subset
    model = load_model(tmp_path / "run" / "weights.pt", torch.device("cpu"))
    index = torch.as_tensor(stratified_subset(y, b, 100, derived_seed("pruning-variants")))
    x_s, y_s, b_s = (torch.as_tensor(a)[index] for a in (dataset.test.x, y, b))
    unpruned = unbiased_accuracy(predict_logits(model, x_s).argmax(dim=1) == y_s, y_s, b_s)
    by_hand = kappa_prunability(model, x_s, y_s, b_s, [0.5, 0.9], structured=False, chance=0.5, unpruned=unpruned)
    assert subset["prunability[unstructured]"] == pytest.approx(sum(p.retained for p in by_hand), abs=1e-12)


def test_bf16_precision_trains_evaluates_and_is_part_of_the_identity(dataset, tmp_path, caplog):
    from spurcomp.data import save_dataset
    from spurcomp.evaluate import FAMILIES, evaluate_run

    setting = TrainingSetting(lr=0.5, batch_size=50, max_epochs=4, precision="bf16")
    summary = train_run(dataset, FCN, setting, 0, tmp_path / "run", options=TrainOptions(checkpoint_epochs=[0, 2]))
    assert summary["precision"] == "bf16" and summary["setting"]["precision"] == "bf16" and summary["tf32"] is None
    history = pd.read_parquet(tmp_path / "run" / "history.parquet")
    assert history.query("scope == 'step'").loss.notna().all() and history.train_acc.dropna().iloc[-1] > 0.5
    # bf16 changes the numbers: not the float32 run's
    fp32 = train_run(dataset, FCN, TrainingSetting(lr=0.5, batch_size=50, max_epochs=4), 0, tmp_path / "fp32",
                     options=TrainOptions(checkpoint_epochs=[0, 2]))
    assert "precision" not in fp32["setting"] and fp32["precision"] == "fp32"  # fp32 runs keep their identity
    assert not history.equals(pd.read_parquet(tmp_path / "fp32" / "history.parquet"))
    # a float32 run never resumes the bf16 state left in the same folder
    with caplog.at_level("INFO", logger="spurcomp"):
        train_run(dataset, FCN, TrainingSetting(lr=0.5, batch_size=50, max_epochs=5), 0, tmp_path / "run",
                  options=TrainOptions(checkpoint_epochs=[0, 2]))
    assert "precision" in caplog.text and "fresh" in caplog.text
    # evaluation under the run's precision, every family finite
    summary = train_run(dataset, FCN, setting, 0, tmp_path / "bf16", options=TrainOptions(checkpoint_epochs=[0, 2]))
    save_dataset(tmp_path / "data.npz", dataset)
    small = {"kappas": [0.5], "pruning": {"variants": []}, "ig": {"n_samples": 10, "n_baselines": 1, "n_steps": 4}}
    frames = evaluate_run({f: tmp_path / f"{f}.parquet" for f in FAMILIES}, tmp_path / "data.npz", tmp_path / "bf16",
                          small)
    assert all(frame.value.notna().all() for family, frame in frames.items() if family != "dynamics")


def test_a_collapsed_run_is_a_failure_with_its_reason(dataset, tmp_path):
    # lr = 3: every seed ends predicting one class (0.5 training accuracy) without the loss exploding
    summary = train(dataset, tmp_path, "run", lr=3.0, max_epochs=5)
    assert summary["status"] == "collapsed" and summary["final_train_acc"] == 0.5
    assert "within 0.02 of chance (0.5000" in summary["status_reason"]
    assert json.loads((tmp_path / "run" / "run.json").read_text())["status"] == "collapsed"
    healthy = train(dataset, tmp_path, "ok", lr=0.5, max_epochs=15)
    assert healthy["status"] == "converged" and healthy["status_reason"].startswith("100% training accuracy")


def test_a_representation_with_every_unit_dead_is_collapsed(dataset):
    from spurcomp.models import build_model
    from spurcomp.train.engine import collapse_reason, RunData

    model = build_model(FCN, dataset.input_shape, 2)
    data = RunData.on(dataset, torch.device("cpu"))
    assert collapse_reason(model, data, 0.9, 0.02) == ""
    with torch.no_grad():
        model[-3].bias.fill_(-1e6)  # the last hidden layer's pre-activations: never positive
    assert "every unit of the representation is dead" in collapse_reason(model, data, 0.9, 0.02)
    assert "within 0.02 of chance" in collapse_reason(model, data, 0.51, 0.02)


def test_a_full_disk_names_the_file_and_what_to_do(dataset, tmp_path, monkeypatch):
    def full(obj, path, *args, **kwargs):
        raise RuntimeError("basic_ios::clear: iostream error")

    monkeypatch.setattr(torch, "save", full)
    with pytest.raises(OSError, match=r"could not write .*state\.pt .*MiB free on its disk: free some space"):
        train(dataset, tmp_path, "run", lr=0.5, max_epochs=2)
    assert not list((tmp_path / "run").rglob("*.tmp"))


def test_fig13_maps_and_per_step_dynamics_are_kept_on_request(tmp_path):
    from spurcomp.aggregate import aggregate_study, read_table
    from spurcomp.data import save_dataset
    from spurcomp.evaluate import evaluate_run
    from spurcomp.metrics.attribution import integrated_gradients
    from spurcomp.models import build_model

    images = build_dataset({"generator": "colored_mnist", "source": "embedded", "n_train": 60, "n_test": 40,
                            "rho_train": 0.1}, seed=0)
    save_dataset(tmp_path / "data.npz", images)
    cnn = {"arch": "cnn", "width": 0.0625}
    summary = train_run(images, cnn, TrainingSetting(lr=0.05, batch_size=20, max_epochs=2), 0, tmp_path / "run",
                        options=TrainOptions(checkpoint_epochs=[0, 1]),
                        keys={"dataset": "cm", "model": "cnn", "setting": "lr=0.05", "seed": 0})
    ig = {"n_samples": 5, "n_baselines": 2, "n_steps": 4}
    requested = {"ig": {**ig, "maps": 3}, "dynamics": {"per_step": True}}
    frames = evaluate_run({"attributions": tmp_path / "attributions.parquet", "dynamics": tmp_path / "dynamics.parquet"},
                          tmp_path / "data.npz", tmp_path / "run", requested)
    attributions, dynamics = frames["attributions"], frames["dynamics"]
    inputs = attributions[attributions.metric == "input_image"]
    maps = attributions[attributions.metric == "attribution_map"]
    # 3 samples at the 2 checkpoints and at the final weights (epoch 2: training stopped between checkpoint epochs)
    assert len(summary["checkpoints"]) == 2 and len(inputs) == 3 and len(maps) == 3 * 3
    assert sorted(set(maps.epoch)) == [0, 1, 2]
    test = images.test
    chosen = [int(g.split(",")[0].removeprefix("sample=")) for g in inputs.group]
    assert all(test.y[i] != test.b[i] for i in chosen)  # bias-conflicting samples only
    assert np.allclose(np.array(inputs.image.iloc[0], dtype=float), test.x[chosen[0]].transpose(1, 2, 0))
    # a map is |IG| (mean over baselines) summed over channels, of the checkpoint's model
    model = build_model(cnn, images.input_shape, images.num_classes)
    model.load_state_dict(torch.load(tmp_path / "run" / "checkpoints" / "epoch=00001.pt"))
    x = torch.as_tensor(test.x[chosen])
    expected = integrated_gradients(model, x, torch.as_tensor(test.y[chosen]), tuple(images.metadata["input_range"]),
                                    n_baselines=2, n_steps=4, seed=0).mean(0).abs().sum(1)
    at_1 = maps[maps.epoch == 1]
    got = np.stack([np.array(m, dtype=float)[..., 0] for m in at_1.image])
    assert got.shape == (3, 28, 28) and np.allclose(got, expected.numpy(), atol=1e-6)
    assert np.allclose(at_1.value, expected.sum((1, 2)).numpy(), rtol=1e-5)
    # the epoch-2 maps are the final weights' (weights.pt): no checkpoint holds them
    from spurcomp.evaluate import load_model
    final = load_model(tmp_path / "run" / "weights.pt", torch.device("cpu"))
    expected = integrated_gradients(final, x, torch.as_tensor(test.y[chosen]), tuple(images.metadata["input_range"]),
                                    n_baselines=2, n_steps=4, seed=0).mean(0).abs().sum(1)
    at_2 = maps[maps.epoch == 2]
    assert np.allclose(np.stack([np.array(m, dtype=float)[..., 0] for m in at_2.image]), expected.numpy(), atol=1e-6)
    # stored as float32, the tensors' own type: read back exactly
    import pyarrow.parquet as pq
    assert "element: float>" in str(pq.read_schema(tmp_path / "attributions.parquet").field("image").type)
    # map_epochs: last keeps the final weights' maps only, the same as with every checkpoint's
    last = evaluate_run({"attributions": tmp_path / "a_last.parquet"}, tmp_path / "data.npz", tmp_path / "run",
                        {"ig": {**ig, "maps": 3, "map_epochs": "last"}})["attributions"]
    last_maps = last[last.metric == "attribution_map"]
    assert last_maps.epoch.tolist() == [2, 2, 2] and len(last[last.metric == "input_image"]) == 3
    assert all(np.array_equal(np.array(a, dtype=float), np.array(b, dtype=float))
               for a, b in zip(last_maps.image, at_2.image))
    def others(frame):
        return frame[frame.metric != "attribution_map"].drop(columns="image").reset_index(drop=True)

    assert others(last).equals(others(attributions))
    # per-step rows are the history's steps, one metric per step column
    steps = pd.read_parquet(tmp_path / "run" / "history.parquet").query("scope == 'step'")
    ratio = dynamics[dynamics.metric == "step_bc_loss_ratio"]
    assert ratio.step.tolist() == steps.step.tolist() and np.allclose(ratio.value, steps.bc_loss_ratio, equal_nan=True)
    assert set(dynamics.metric) >= {"step_acc_ba", "step_acc_bc", "step_param_norm", "step_logit_norm"}
    # not requested: neither maps nor steps (the other runs' files stay as they were)
    plain = evaluate_run({"attributions": tmp_path / "a2.parquet", "dynamics": tmp_path / "d2.parquet"},
                         tmp_path / "data.npz", tmp_path / "run", {"ig": ig})
    assert "image" not in plain["attributions"] and plain["dynamics"].step.isna().all()
    # the maps travel into the study table beside runs without them
    (tmp_path / "run" / "eval").mkdir()
    for family, path in (("attributions", "attributions.parquet"), ("dynamics", "d2.parquet")):
        (tmp_path / path).rename(tmp_path / "run" / "eval" / f"{family}.parquet")
    aggregate_study("s", {}, [tmp_path / "run" / "run.json"], sorted((tmp_path / "run" / "eval").iterdir()),
                    tmp_path / "s.parquet")
    table, _ = read_table(tmp_path / "s.parquet")
    assert table.image.notna().sum() == 3 + 9 and table[table.metric == "max_bc_loss_ratio"].image.isna().all()


def test_maps_of_vector_inputs_are_refused_with_what_to_do(dataset, tmp_path):
    from spurcomp.data import save_dataset
    from spurcomp.evaluate import evaluate_run

    train(dataset, tmp_path, "run", max_epochs=1, checkpoint_epochs=[0])
    save_dataset(tmp_path / "data.npz", dataset)
    with pytest.raises(ValueError, match="ig.maps needs image inputs.*set ig.maps to 0"):
        evaluate_run({"attributions": tmp_path / "a.parquet"}, tmp_path / "data.npz", tmp_path / "run",
                     {"ig": {"n_samples": 5, "n_baselines": 1, "n_steps": 2, "maps": 2}})
