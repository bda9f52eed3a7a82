"""The vectorised engine against the one-run engine: the same runs, member by member."""
import json

import numpy as np
import pandas as pd
import pytest
import torch

from spurcomp import steps
from spurcomp.data import build_dataset
from spurcomp.data.io import save_dataset
from spurcomp.settings import TrainingSetting
from spurcomp.train import vectorised
from spurcomp.train.engine import TrainOptions, train_run
from spurcomp.train.vectorised import train_runs_vectorised

PARITY = {"generator": "parity", "core_bits": 3, "spurious_bits": 1, "noise_bits": 4, "n_train": 400, "n_test": 400,
          "rho_train": 0.1, "rho_test": 0.5}
FCN = {"arch": "fcn", "hidden": [32, 32, 32]}
OPTIONS = TrainOptions(checkpoint_epochs=[0, 2])


@pytest.fixture(scope="module")
def parity():
    return build_dataset(PARITY, seed=0)


def history(run_dir) -> pd.DataFrame:
    return pd.read_parquet(run_dir / "history.parquet")


def assert_same_run(a, b, atol=1e-5):
    """Two run folders: the same statuses, epochs, checkpoints, and histories equal to ``atol``."""
    ha, hb = history(a), history(b)
    assert ha.shape == hb.shape and list(ha.columns) == list(hb.columns)
    numeric = ha.select_dtypes("number").columns
    np.testing.assert_allclose(ha[numeric].to_numpy(), hb[numeric].to_numpy(), atol=atol, rtol=1e-4)
    sa, sb = (json.loads((d / "run.json").read_text()) for d in (a, b))
    assert (sa["status"], sa["epochs"], sa["checkpoints"]) == (sb["status"], sb["epochs"], sb["checkpoints"])


def vectorised_runs(dataset, settings, seeds, root, options=OPTIONS):
    dirs = [root / f"member{i}" for i in range(len(seeds))]
    summaries = train_runs_vectorised(dataset, [FCN] * len(seeds), settings, seeds, dirs, [options] * len(seeds))
    return dirs, summaries


@pytest.mark.parametrize("momentum, weight_decay", [(0.0, 0.0), (0.9, 5e-4)])
def test_each_member_equals_its_one_run_engine_run(parity, tmp_path, momentum, weight_decay):
    lrs, seeds = [0.05, 0.5, 0.5], [0, 0, 1]
    settings = [TrainingSetting(lr=lr, batch_size=50, max_epochs=6, momentum=momentum, weight_decay=weight_decay)
                for lr in lrs]
    dirs, summaries = vectorised_runs(parity, settings, seeds, tmp_path / "stack")
    for i, (setting, seed) in enumerate(zip(settings, seeds)):
        alone = tmp_path / f"alone{i}"
        train_run(parity, FCN, setting, seed, alone, options=OPTIONS)
        assert_same_run(dirs[i], alone)
        assert summaries[i]["vectorised"] == 3
        a = torch.load(dirs[i] / "weights.pt", weights_only=False)["model"]
        b = torch.load(alone / "weights.pt", weights_only=False)["model"]
        assert all(torch.allclose(a[k], b[k], atol=1e-5) for k in a)
    # members train differently: not one run copied three times
    assert not history(dirs[1]).equals(history(dirs[2]))


def test_a_diverging_member_stops_and_leaves_the_others_untouched(parity, tmp_path):
    settings = [TrainingSetting(lr=lr, batch_size=50, max_epochs=5) for lr in (0.1, 1e6, 0.3)]
    dirs, summaries = vectorised_runs(parity, settings, [0, 0, 0], tmp_path / "stack")
    assert summaries[1]["status"] == "diverged" and summaries[1]["epochs"] == 1
    assert summaries[0]["epochs"] == summaries[2]["epochs"] == 5  # the others went on
    for i in (0, 2):
        alone = tmp_path / f"alone{i}"
        train_run(parity, FCN, settings[i], 0, alone, options=OPTIONS)
        assert_same_run(dirs[i], alone)


def test_a_member_that_converges_stops_while_the_others_go_on(parity, tmp_path):
    settings = [TrainingSetting(lr=lr, batch_size=50, max_epochs=40) for lr in (0.01, 0.5)]
    dirs, summaries = vectorised_runs(parity, settings, [0, 0], tmp_path / "stack")
    assert summaries[1]["status"] == "converged" and summaries[1]["epochs"] < summaries[0]["epochs"]
    alone = tmp_path / "alone"
    train_run(parity, FCN, settings[1], 0, alone, options=OPTIONS)
    assert_same_run(dirs[1], alone)


def test_an_interrupted_stack_resumes_to_the_uninterrupted_numbers(parity, tmp_path, monkeypatch):
    settings = [TrainingSetting(lr=lr, batch_size=50, max_epochs=6, momentum=0.9) for lr in (0.05, 0.2)]
    straight, _ = vectorised_runs(parity, settings, [0, 1], tmp_path / "straight")

    saved, real_save = [], vectorised.save_state

    def crash_after_five_states(path, *args):
        if len(saved) == 5:  # member 0's epoch-3 state written, member 1's not: the members resume apart
            raise KeyboardInterrupt("killed")
        saved.append(path)
        real_save(path, *args)

    monkeypatch.setattr(vectorised, "save_state", crash_after_five_states)
    with pytest.raises(KeyboardInterrupt):
        vectorised_runs(parity, settings, [0, 1], tmp_path / "killed")
    monkeypatch.setattr(vectorised, "save_state", real_save)
    epochs = [torch.load(tmp_path / "killed" / f"member{i}" / "resume" / "state.pt", weights_only=False)["epoch"]
              for i in (0, 1)]
    assert epochs == [3, 2]
    killed, _ = vectorised_runs(parity, settings, [0, 1], tmp_path / "killed")
    for a, b in zip(killed, straight):
        pd.testing.assert_frame_equal(history(a), history(b))
        wa = torch.load(a / "weights.pt", weights_only=False)["model"]
        wb = torch.load(b / "weights.pt", weights_only=False)["model"]
        assert all(torch.equal(wa[k], wb[k]) for k in wa)

    # finished runs are kept as they are: the same call again trains nothing
    stamps = [(d / "weights.pt").stat().st_mtime_ns for d in killed]
    vectorised_runs(parity, settings, [0, 1], tmp_path / "killed")
    assert stamps == [(d / "weights.pt").stat().st_mtime_ns for d in killed]


def test_members_that_cannot_share_a_stack_are_refused(parity, tmp_path):
    mixed = [TrainingSetting(lr=0.1, batch_size=50), TrainingSetting(lr=0.1, batch_size=25)]
    with pytest.raises(ValueError, match="members may differ in learning rate and seed only"):
        vectorised_runs(parity, mixed, [0, 1], tmp_path)
    focal = [TrainingSetting(lr=lr, batch_size=50, focal_gamma=2.0) for lr in (0.1, 0.2)]
    with pytest.raises(ValueError, match=r"knobs \['focal_gamma'\] are not vectorised"):
        vectorised_runs(parity, focal, [0, 1], tmp_path)
    with pytest.raises(ValueError, match=r"model 'cnn' cannot be vectorised \(allowed: \['fcn'\]\)"):
        train_runs_vectorised(parity, [{"arch": "cnn", "width": 0.125}] * 2, [TrainingSetting(0.1, 50)] * 2, [0, 1],
                              [tmp_path / "a", tmp_path / "b"], [OPTIONS] * 2)


def test_a_train_job_of_fcn_runs_trains_them_at_once_when_asked(parity, tmp_path):
    data = tmp_path / "parity.npz"
    save_dataset(data, parity)
    job = {"model": FCN, "setting": {"lr": 0.1, "batch_size": 50, "max_epochs": 3}, "checkpoint_epochs": [0],
           "divergence_factor": 1000.0, "collapse_margin": 0.02}
    runs = [{"dataset": "parity", "model": "fcn", "setting": "lr=0.1", "seed": seed} for seed in (0, 1)]
    runtime = {"device": "cpu", "state_every_epochs": 1, "test_every_epoch": False, "vectorise": True}
    dirs = [tmp_path / "v0", tmp_path / "v1"]
    logs = [tmp_path / "v0.log", tmp_path / "v1.log"]
    summaries = steps.train_runs([job, job], runs, data, dirs, runtime, logs=logs)
    assert [s["vectorised"] for s in summaries] == [2, 2] and [s["run"]["seed"] for s in summaries] == [0, 1]
    assert all("training 2 runs at once" in log.read_text() for log in logs)
    one_by_one = steps.train_runs([job, job], runs, data, [tmp_path / "o0", tmp_path / "o1"],
                                  {**runtime, "vectorise": False})
    assert [s["vectorised"] for s in one_by_one] == [None, None]
    for a, b in zip(dirs, [tmp_path / "o0", tmp_path / "o1"]):
        assert_same_run(a, b)


def test_a_train_job_trains_runs_side_by_side_with_the_numbers_of_one_after_another(parity, tmp_path):
    data = tmp_path / "parity.npz"
    save_dataset(data, parity)
    job = {"model": FCN, "setting": {"lr": 0.1, "batch_size": 50, "max_epochs": 3}, "checkpoint_epochs": [0],
           "divergence_factor": 1000.0, "collapse_margin": 0.02}
    runs = [{"dataset": "parity", "model": "fcn", "setting": "lr=0.1", "seed": seed} for seed in (0, 1, 2)]
    runtime = {"device": "cpu", "state_every_epochs": 1, "test_every_epoch": False, "vectorise": False, "side_by_side": {"fcn": 2}}
    dirs = [tmp_path / f"s{seed}" for seed in (0, 1, 2)]
    logs = [tmp_path / f"s{seed}.log" for seed in (0, 1, 2)]
    summaries = steps.train_runs([job] * 3, runs, data, dirs, runtime, threads=2, logs=logs)
    assert [s["run"]["seed"] for s in summaries] == [0, 1, 2]
    assert all("run finished" in log.read_text() for log in logs)  # each process logs to its run's log
    one_by_one = [tmp_path / f"o{seed}" for seed in (0, 1, 2)]
    steps.train_runs([job] * 3, runs, data, one_by_one, {**runtime, "side_by_side": {}}, threads=1)
    for a, b in zip(dirs, one_by_one):  # one thread each, as one after another: bit for bit
        pd.testing.assert_frame_equal(history(a), history(b))
        assert (a / "weights.pt").read_bytes() == (b / "weights.pt").read_bytes()
    # a run that fails fails the job, after the others are done
    bad = {**job, "model": {"arch": "fcn", "hidden": [-1]}}
    with pytest.raises(Exception):
        steps.train_runs([job, bad], runs[:2], data, [tmp_path / "f0", tmp_path / "f1"], runtime, threads=2)
    assert (tmp_path / "f0" / "run.json").exists()
