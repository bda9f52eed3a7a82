"""Kill a real training process with SIGKILL mid-run; the rerun must end with exactly the numbers of an
uninterrupted run."""
import os
import signal
import subprocess
import sys
import time

import pandas as pd
import torch
import yaml


def spurcomp(config, *args, **popen):
    return subprocess.Popen([sys.executable, "-m", "spurcomp.cli", "--config", str(config), *args], **popen)


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
    proc = spurcomp(config, *run_args, "--run-dir", str(killed))
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        if state.exists() and torch.load(state, weights_only=False)["epoch"] >= 3:
            break
        time.sleep(0.05)
    assert proc.poll() is None, "training finished before it could be killed; make the test run longer"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
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
