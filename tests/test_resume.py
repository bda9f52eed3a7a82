"""Kill a real training process with SIGKILL (mid-run, and at each of the points where a state, a checkpoint or an
output is written); the rerun must end with exactly the numbers of an uninterrupted run."""
import copy
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import torch
import yaml


def spurcomp(config, *args, **popen):
    return subprocess.Popen([sys.executable, "-m", "spurcomp.cli", "--config", str(config), *args], **popen)


def kill_once_saved(proc, state, epoch: int, timeout: float = 120) -> None:
    """SIGKILL ``proc`` as soon as its resumable ``state`` holds ``epoch`` (or later)."""
    deadline = time.time() + timeout
    while time.time() < deadline and proc.poll() is None:
        if state.exists() and torch.load(state, weights_only=False)["epoch"] >= epoch:
            break
        time.sleep(0.05)
    assert proc.poll() is None, "training finished before it could be killed; make the runs longer"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()


def test_sigkill_then_rerun_resumes_and_matches_an_uninterrupted_run(tmp_path, tiny_config):
    # big enough that training takes several seconds, small enough for a test
    tiny_config["datasets"]["parity"].update(n_train=4000, n_test=400)
    tiny_config["training"].update(max_epochs=30, lr=0.01)
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump(tiny_config))
    data = tmp_path / "parity.npz"
    assert spurcomp(config, "dataset", "parity", "--out", str(data)).wait() == 0
    run_args = ["train", "--dataset", "parity", "--model", "fcn", "--setting", "lr=0.01", "--seed", "0",
                "--data", str(data)]

    killed = tmp_path / "killed"
    state = killed / "resume" / "state.pt"
    kill_once_saved(spurcomp(config, *run_args, "--run-dir", str(killed)), state, epoch=3)
    epoch_at_kill = torch.load(state, weights_only=False)["epoch"]
    assert 3 <= epoch_at_kill < 30 and not (killed / "run.json").exists()

    log = tmp_path / "resume.log"
    assert spurcomp(config, "--log", str(log), *run_args, "--run-dir", str(killed)).wait() == 0
    assert f"resuming from {state} at epoch {epoch_at_kill}" in log.read_text()

    straight = tmp_path / "straight"
    assert spurcomp(config, *run_args, "--run-dir", str(straight)).wait() == 0

    pd.testing.assert_frame_equal(pd.read_parquet(killed / "history.parquet"),
                                  pd.read_parquet(straight / "history.parquet"))
    a = torch.load(killed / "weights.pt", weights_only=False)["model"]
    b = torch.load(straight / "weights.pt", weights_only=False)["model"]
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert sorted(p.name for p in (killed / "checkpoints").iterdir()) == \
        sorted(p.name for p in (straight / "checkpoints").iterdir())


KILLPOINT = Path(__file__).with_name("killpoint.py")


@pytest.fixture(scope="module")
def kill_setup(tmp_path_factory):
    """A small parity run of 6 epochs x 10 steps (checkpoints at 0, 2, 4) and its uninterrupted result."""
    from conftest import TINY_CONFIG

    tmp = tmp_path_factory.mktemp("killpoints")
    config = copy.deepcopy(TINY_CONFIG)
    config["datasets"]["parity"].update(n_train=1000, n_test=200)
    config["training"].update(lr=0.01, batch_size=100, max_epochs=6, checkpoint_epochs=[0, 2, 4])
    path = tmp / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    data = tmp / "parity.npz"
    assert spurcomp(path, "dataset", "parity", "--out", str(data)).wait() == 0
    args = ["train", "--dataset", "parity", "--model", "fcn", "--setting", "lr=0.01", "--seed", "0", "--data", str(data)]
    assert spurcomp(path, *args, "--run-dir", str(tmp / "straight")).wait() == 0
    return path, args, tmp / "straight"


@pytest.mark.parametrize("point", ["mid-epoch", "state-write", "before-checkpoint", "before-state", "after-state",
                                   "outputs"])
def test_a_kill_at_any_point_then_a_rerun_ends_as_an_uninterrupted_run(kill_setup, tmp_path, point):
    config, args, straight = kill_setup
    run_dir = tmp_path / "killed"
    killed = subprocess.run([sys.executable, str(KILLPOINT), point, "--config", str(config), *args, "--run-dir",
                             str(run_dir)], env={**os.environ, "KILLPOINT_STEPS_PER_EPOCH": "10"},
                            capture_output=True, text=True)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    assert not (run_dir / "run.json").exists()
    log = tmp_path / "rerun.log"
    assert spurcomp(config, "--log", str(log), *args, "--run-dir", str(run_dir)).wait() == 0
    if point != "mid-epoch":  # by then no state was saved past epoch 2
        assert "resuming from" in log.read_text()
    pd.testing.assert_frame_equal(pd.read_parquet(run_dir / "history.parquet"),
                                  pd.read_parquet(straight / "history.parquet"))
    a = torch.load(run_dir / "weights.pt", weights_only=False)["model"]
    b = torch.load(straight / "weights.pt", weights_only=False)["model"]
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    for name in ("epoch=00000.pt", "epoch=00002.pt", "epoch=00004.pt"):
        ca, cb = (torch.load(d / "checkpoints" / name, weights_only=False) for d in (run_dir, straight))
        assert all(torch.equal(ca[k], cb[k]) for k in ca)
    summary = json.loads((run_dir / "run.json").read_text())
    assert summary["checkpoints"] == ["epoch=00000.pt", "epoch=00002.pt", "epoch=00004.pt"]
    assert summary["epochs"] == 6 and summary["status"] == json.loads((straight / "run.json").read_text())["status"]


TRAIN_JOB = """
import json, sys
from spurcomp import steps
a = json.loads(sys.argv[1])
steps.train_runs(a["jobs"], a["runs"], a["data"], a["dirs"], a["runtime"])
"""


@pytest.mark.parametrize("vectorise", [False, True])
def test_a_killed_job_of_several_runs_resumes_each_to_its_uninterrupted_numbers(tmp_path, tiny_config, vectorise):
    """One train job, two seeds (one after another, or at once), SIGKILLed while the second is training."""
    from spurcomp.data import build_dataset, save_dataset

    tiny_config["datasets"]["parity"].update(n_train=4000, n_test=400)
    data = tmp_path / "parity.npz"
    save_dataset(data, build_dataset(tiny_config["datasets"]["parity"], seed=0))
    job = {"model": tiny_config["models"]["fcn"], "setting": {"lr": 0.01, "batch_size": 50, "max_epochs": 30},
           "checkpoint_epochs": [0, 2], "divergence_factor": 1000.0, "collapse_margin": 0.02}
    runs = [{"dataset": "parity", "model": "fcn", "setting": "lr=0.01", "seed": seed} for seed in (0, 1)]
    runtime = {"device": "cpu", "state_every_epochs": 1, "test_every_epoch": False, "vectorise": vectorise}

    def arguments(root):
        return json.dumps({"jobs": [job, job], "runs": runs, "data": str(data), "runtime": runtime,
                           "dirs": [str(root / f"seed={run['seed']}") for run in runs]})

    killed = tmp_path / "killed"
    kill_once_saved(subprocess.Popen([sys.executable, "-c", TRAIN_JOB, arguments(killed)]),
                    killed / "seed=1" / "resume" / "state.pt", epoch=3)
    assert not (killed / "seed=1" / "run.json").exists()
    assert subprocess.run([sys.executable, "-c", TRAIN_JOB, arguments(killed)]).returncode == 0

    straight = tmp_path / "straight"
    assert subprocess.run([sys.executable, "-c", TRAIN_JOB, arguments(straight)]).returncode == 0
    for seed in (0, 1):
        pd.testing.assert_frame_equal(pd.read_parquet(killed / f"seed={seed}" / "history.parquet"),
                                      pd.read_parquet(straight / f"seed={seed}" / "history.parquet"))
        a, b = (torch.load(d / f"seed={seed}" / "weights.pt", weights_only=False)["model"] for d in (killed, straight))
        assert all(torch.equal(a[k], b[k]) for k in a)
