"""The workflow through the SLURM profile on a real single-node SLURM cluster (slurmctld + slurmd + munged),
including a training job cancelled with scancel and resumed by the rerun."""
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import torch
import yaml

from spurcomp.aggregate import read_table
from cluster.slurm import ClusterUnavailable, SlurmCluster

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.cluster

# the cluster has no accounting database (slurmdbd): job status comes from squeue, and no account is given
SLURM_ARGS = ["--profile", str(REPO / "workflow" / "profiles" / "slurm"), "--slurm-status-command", "squeue",
              "--slurm-no-account", "--slurm-init-seconds-before-status-checks", "1",
              "--seconds-between-status-checks", "1", "--latency-wait", "5",
              # a group job's cores and memory are the sum over the chunks it holds: 2 fit this 2-core node
              "--group-components", "runs=2"]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    cluster = SlurmCluster(tmp_path_factory.mktemp("slurm"))
    try:
        cluster.start()
    except ClusterUnavailable as err:
        cluster.stop()
        pytest.skip(f"no SLURM cluster here: {err}")
    except BaseException:
        cluster.stop()
        raise
    yield cluster
    cluster.stop()


def snakemake_command(workdir, *args):
    # options taking several values (--configfile, --group-components) must not swallow the targets in args
    return [sys.executable, "-m", "snakemake", *args, "-s", str(REPO / "workflow" / "Snakefile"), "--directory",
            str(workdir), "--configfile", str(workdir / "config.yaml"), *SLURM_ARGS]


def test_tiny_workflow_runs_through_slurm_in_grouped_jobs(cluster, tmp_path, tiny_config):
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(tiny_config))
    # per-rule overrides (README's cluster section) reach the submitted jobs: --verbose prints each sbatch call
    overrides = ["--set-resources", "train:mem_mb=1100", "evaluate:mem_mb=900", "--verbose"]
    result = cluster.run(*snakemake_command(tmp_path, *overrides, "figures/fig3.pdf"), check=False, timeout=900)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-4000:]
    # the group job runs its two chunks side by side: two train jobs (2 x 1100 MB), then two evaluate jobs
    calls = [line for line in output.splitlines() if "sbatch call:" in line]
    assert sum("--mem 2200" in call for call in calls) == 1, calls
    assert (tmp_path / "figures" / "fig3.pdf").read_bytes()[:4] == b"%PDF"
    table, _ = read_table(tmp_path / "results" / "tables" / "fig3.parquet")
    assert table.groupby(["setting", "seed"]).ngroups == 4
    # 4 runs: one train and one evaluate job per setting (its 2 seeds), the 2 settings packed into one group
    # job, plus the dataset job: 2 SLURM jobs, not 9
    submissions = output.count("has been submitted with SLURM jobid")
    assert submissions == 2, output[-4000:]


def test_cancelled_training_job_resumes_on_rerun(cluster, tmp_path, tiny_config):
    tiny_config["datasets"]["parity"].update(n_train=4000)
    tiny_config["training"].update(max_epochs=80)  # long enough to cancel mid-run
    tiny_config["studies"]["fig3"].update(grid={"lr": [0.01]}, seeds=[0])
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(tiny_config))
    run_dir = tmp_path / "results" / "runs" / "parity" / "fcn" / "lr=0.01" / "seed=0"
    state = run_dir / "resume" / "state.pt"

    first = cluster.popen(*snakemake_command(tmp_path, "--retries", "0", "figures/fig3.pdf"),
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.time() + 300
    while time.time() < deadline and first.poll() is None:
        if state.exists() and torch.load(state, weights_only=False)["epoch"] >= 2:
            break
        time.sleep(0.2)
    assert first.poll() is None, "the workflow ended before its training job could be cancelled"
    running = [job for job in cluster.jobs() if job["state"] == "RUNNING"]
    assert running, cluster.jobs()
    for job in running:
        cluster.run("scancel", job["id"])
    output, _ = first.communicate(timeout=300)
    assert first.returncode != 0, output[-3000:]
    epoch_at_cancel = torch.load(state, weights_only=False)["epoch"]
    assert 2 <= epoch_at_cancel < 80 and not (run_dir / "run.json").exists()

    rerun = cluster.run(*snakemake_command(tmp_path, "figures/fig3.pdf"), check=False, timeout=900)
    assert rerun.returncode == 0, (rerun.stdout + rerun.stderr)[-4000:]
    log = (tmp_path / "logs" / "runs" / "parity" / "fcn" / "lr=0.01" / "seed=0" / "train.log").read_text()
    assert "resuming from" in log and f"at epoch {epoch_at_cancel}" in log, log

    # the resumed run ends with exactly the numbers of an uninterrupted one
    straight = tmp_path / "straight"
    subprocess.run([sys.executable, "-m", "spurcomp.cli", "--config", str(tmp_path / "config.yaml"), "train",
                    "--dataset", "parity", "--model", "fcn", "--setting", "lr=0.01", "--seed", "0",
                    "--data", str(tmp_path / "results" / "data" / "parity.npz"), "--run-dir", str(straight)],
                   check=True, capture_output=True)
    pd.testing.assert_frame_equal(pd.read_parquet(run_dir / "history.parquet"),
                                  pd.read_parquet(straight / "history.parquet"))
