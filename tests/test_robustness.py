"""Damaged, degraded or contested files, and re-packed jobs: what a careful user does by hand, tested with real
Snakemake runs, real processes and real files."""
import json
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from spurcomp.runtime import Busy, DamagedFile, exclusive

REPO = Path(__file__).resolve().parents[1]
SNAKEMAKE = [sys.executable, "-m", "snakemake", "-s", str(REPO / "workflow" / "Snakefile")]


def snakemake(workdir, *args):
    return subprocess.run([*SNAKEMAKE, "--directory", str(workdir), "--configfile", str(workdir / "config.yaml"),
                           *args], capture_output=True, text=True, timeout=900, cwd=REPO)


def executed(result) -> list[str]:
    """The jobs a real Snakemake run executed, from its log lines ``rule NAME:``: the rule's name, and for a train or
    evaluate job the chunk it names (``train lr=0.05/seeds=0_1_2``, from the record it writes)."""
    jobs = []
    for rule, output in re.findall(r"^\s*(?:local)?rule (\w+):\n(?:\s+(?:input|output): (.*)\n)*",
                                   result.stdout + result.stderr, re.M):
        record = re.search(r"([^/\s]+/seeds=[\d_]+)\.\w+\.json$", output) if rule in ("train", "evaluate") else None
        jobs.append(f"{rule} {record.group(1)}" if record else rule)
    return sorted(jobs)


@pytest.mark.workflow
def test_repacking_runs_or_adding_a_seed_reruns_nothing_finished(tmp_path, tiny_config):
    config = tiny_config
    config["training"]["max_epochs"] = 4
    config["studies"]["fig3"].update(seeds=[0, 1, 2], grid={"lr": [0.05, 0.5]})
    config["execution"] = {"runs_per_job": 3}
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    first = snakemake(tmp_path, "--cores", "2", "results/tables/fig3.parquet")
    assert first.returncode == 0, first.stderr[-3000:]
    assert executed(first).count("evaluate lr=0.05/seeds=0_1_2") == 1
    record = tmp_path / "results" / "runs" / "parity" / "fcn" / "lr=0.05" / "packing.json"
    assert json.loads(record.read_text()) == {"jobs": [[0, 1, 2]]}

    # three runs per job -> two: the finished runs stay in the jobs they were packed in; nothing runs
    config["execution"]["runs_per_job"] = 2
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    repacked = snakemake(tmp_path, "--cores", "2", "results/tables/fig3.parquet")
    assert repacked.returncode == 0, repacked.stderr[-3000:]
    assert executed(repacked) == [], repacked.stdout[-3000:]

    # a seed added: only its runs are trained and evaluated (packed two per job: one job per rate here)
    config["studies"]["fig3"]["seeds"] = [0, 1, 2, 3]
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    added = snakemake(tmp_path, "--cores", "2", "results/tables/fig3.parquet")
    assert added.returncode == 0, added.stderr[-3000:]
    assert executed(added) == ["aggregate", "evaluate lr=0.05/seeds=3", "evaluate lr=0.5/seeds=3",
                               "train lr=0.05/seeds=3", "train lr=0.5/seeds=3"]
    assert json.loads(record.read_text()) == {"jobs": [[0, 1, 2], [3]]}
    again = snakemake(tmp_path, "-n", "results/tables/fig3.parquet")
    assert "Nothing to be done" in again.stdout + again.stderr


def spurcomp(workdir, *args, env=None):
    return subprocess.run([sys.executable, "-m", "spurcomp.cli", "--base", "none", "--configfile", "config.yaml", *args],
                          capture_output=True, text=True, timeout=600, cwd=workdir, env=env)


def test_a_second_writer_of_a_run_is_refused_at_once_naming_the_holder(tmp_path, tiny_config):
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(tiny_config))
    run_dir = tmp_path / "results" / "runs" / "parity" / "fcn" / "lr=0.05" / "seed=0"
    args = ("train", "--dataset", "parity", "--model", "fcn", "--setting", "lr=0.05", "--seed", "0")
    with exclusive(run_dir / ".lock", "run (held by this test, as a Snakemake job would)"):
        started = time.monotonic()
        second = spurcomp(tmp_path, *args)
        assert time.monotonic() - started < 60  # refused at once, not after waiting for the holder
    assert second.returncode == 1
    lines = second.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in second.stderr, second.stderr
    import os
    import socket
    assert f"process {os.getpid()} on {socket.gethostname()}" in lines[0] and "being written by another" in lines[0]
    assert not (run_dir / "run.json").exists() and not (run_dir / "resume").exists()  # it wrote nothing


def test_a_lock_left_by_a_killed_writer_is_taken_over(tmp_path, tiny_config, caplog):
    lock = tmp_path / "run" / ".lock"
    holder = subprocess.Popen([sys.executable, "-c", "import sys, time\nfrom spurcomp.runtime import exclusive\n"
                               f"with exclusive({str(lock)!r}, 'run'):\n    print('held', flush=True)\n"
                               "    time.sleep(120)"], stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held"
    with pytest.raises(Busy, match=f"process {holder.pid} on"):
        with exclusive(lock, "run"):
            pass
    holder.kill()
    holder.wait()
    with exclusive(lock, "run"):  # the kernel dropped the dead process's lock: taken over, and said so
        assert json.loads(lock.read_text())["pid"] != holder.pid
    assert f"taking over the lock left by a process that is gone (process {holder.pid}" in caplog.text
    assert lock.read_text() == ""  # released: nobody to take over from


def test_temporary_files_are_unique_to_their_writer(tmp_path):
    from spurcomp.runtime import temporary_sibling

    path = tmp_path / "state.pt"
    code = f"from spurcomp.runtime import temporary_sibling\nprint(temporary_sibling({str(path)!r}))"
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.strip()
    assert other != str(temporary_sibling(path)) and Path(other).parent == tmp_path


@pytest.mark.parametrize("argv, message", [
    (["runs", "nostudy"], "unknown study 'nostudy'; defined studies: ['fig3']"),
    (["status", "fig3", "nostudy"], "unknown study 'nostudy'; defined studies: ['fig3']"),
    (["figure", "nofigure"], "no figure 'nofigure' in the config's `figures` section; defined: ['fig3']"),
    (["dataset", "nodata"], "unknown dataset 'nodata'; defined datasets: ['parity']"),
    (["train", "--dataset", "parity", "--model", "fcn", "--setting", "lr=fast", "--seed", "0"],
     "bad setting key 'lr=fast': 'fast' is not a number"),
    (["train", "--dataset", "parity", "--model", "vgg", "--setting", "lr=0.1", "--seed", "0"],
     "unknown model 'vgg'; defined models: ['fcn']"),
    (["evaluate", "--dataset", "parity", "--model", "fcn", "--setting", "lr=0.10", "--seed", "0"],
     "setting key 'lr=0.10' is not in canonical form; the same setting is 'lr=0.1'"),
])
def test_the_cli_answers_a_bad_name_in_one_line(tmp_path, tiny_config, argv, message):
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(tiny_config))
    result = spurcomp(tmp_path, *argv)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [result.stderr.strip()] and message in result.stderr, result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.workflow
def test_damaged_outputs_name_themselves_and_are_rebuilt_without_losing_their_siblings(tmp_path, tiny_config):
    tiny_config["training"]["max_epochs"] = 4
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(tiny_config))
    built = snakemake(tmp_path, "--cores", "2", "figures/fig3.pdf")
    assert built.returncode == 0, built.stderr[-3000:]
    setting = tmp_path / "results" / "runs" / "parity" / "fcn" / "lr=0.5"
    weights = setting / "seed=1" / "weights.pt"
    intact = weights.read_bytes()
    sibling = {path: path.read_bytes() for path in (setting / "seed=0" / "eval").glob("*.parquet")}

    # a truncated weights file: the plan names it and the command that rebuilds it, and keeps the figure (drawn
    # from the file while intact); the train job writes the run's files again from its saved state (no epoch
    # trained again), and the siblings' evaluations are the same
    weights.write_bytes(intact[: len(intact) // 2])
    record = "results/runs/parity/fcn/lr=0.5/seeds=0_1.train.json"
    command = f"snakemake --cores all --forcerun '{record}'"
    plan = snakemake(tmp_path, "-n", "figures/fig3.pdf")
    assert f"seed=1/weights.pt has {len(intact) // 2} bytes where {len(intact)} were written" in plan.stderr
    assert command in plan.stderr and "Nothing to be done" in plan.stdout
    repaired = snakemake(tmp_path, "--cores", "1", "figures/fig3.pdf", "--forcerun", record)
    assert repaired.returncode == 0, repaired.stderr[-3000:]
    assert executed(repaired) == ["aggregate", "evaluate lr=0.5/seeds=0_1", "figure", "train lr=0.5/seeds=0_1"]
    log = (tmp_path / "logs" / "runs" / "parity" / "fcn" / "lr=0.5" / "seed=1" / "train.log").read_text()
    assert f"weights.pt {len(intact) // 2} bytes where {len(intact)} were written" in log
    assert "at epoch 4" in log.split("resuming from")[1] and "epoch 1/" not in log.split("resuming from")[1]
    assert weights.read_bytes() == intact
    assert {path: path.read_bytes() for path in sibling} == sibling
    assert "Nothing to be done" in snakemake(tmp_path, "-n", "figures/fig3.pdf").stdout

    # a weights file damaged while its record is intact, found by the job that reads it: set aside and rebuilt
    # from the saved state by that job, which goes on
    weights.write_bytes(intact[: len(intact) // 2])
    reread = snakemake(tmp_path, "--cores", "1", "figures/fig3.pdf", "--forcerun", record.replace("train", "evaluate"))
    assert reread.returncode == 0, reread.stderr[-3000:]
    log = (tmp_path / "logs" / "runs" / "parity" / "fcn" / "lr=0.5" / "seeds=0_1.evaluate.log").read_text()
    assert f"weights.pt is unreadable ({len(intact) // 2} bytes where {len(intact)} were written)" in log
    assert "rebuilding its files from its saved state" in log
    assert weights.read_bytes() == intact and (setting / "seed=1" / "weights.pt.damaged").exists()

    # ... and where no saved state can rebuild it, the job fails naming the file and the remedy, keeps the
    # siblings' evaluations, and the run is trained again by the command the workflow names
    (setting / "seed=1" / "resume" / "state.pt").unlink()
    weights.write_bytes(intact[:100])
    failed = snakemake(tmp_path, "--cores", "1", "figures/fig3.pdf", "--forcerun", record.replace("train", "evaluate"))
    assert failed.returncode != 0
    log = (tmp_path / "logs" / "runs" / "parity" / "fcn" / "lr=0.5" / "seeds=0_1.evaluate.log").read_text()
    assert "no saved state rebuilds it: the run is trained again" in log and "Traceback" not in log.split("\n")[-2]
    assert {path: path.read_bytes() for path in sibling} == sibling
    plan = snakemake(tmp_path, "-n", "figures/fig3.pdf")
    assert "seed=1 has no run.json" in plan.stderr and command in plan.stderr
    assert f"damaged (no run.json: `{command}` rebuilds the run)" in spurcomp(tmp_path, "status").stdout
    retrained = snakemake(tmp_path, "--cores", "1", "figures/fig3.pdf", "--forcerun", record)
    assert retrained.returncode == 0, retrained.stderr[-3000:]
    assert executed(retrained) == ["aggregate", "evaluate lr=0.5/seeds=0_1", "figure", "train lr=0.5/seeds=0_1"]
    assert weights.read_bytes() == intact  # trained again: the same seed gives the same weights
    assert "Nothing to be done" in snakemake(tmp_path, "-n", "figures/fig3.pdf").stdout

    # a truncated study table: the figure names it; the next run makes it again from the runs' files
    table = tmp_path / "results" / "tables" / "fig3.parquet"
    table.write_bytes(table.read_bytes()[:100])
    failed = snakemake(tmp_path, "--cores", "1", "figures/fig3.pdf")
    assert failed.returncode != 0
    assert "results/tables/fig3.parquet is unreadable" in (tmp_path / "logs" / "figures" / "fig3.log").read_text()
    rebuilt = snakemake(tmp_path, "--cores", "1", "figures/fig3.pdf")
    assert rebuilt.returncode == 0, rebuilt.stderr[-3000:]
    assert executed(rebuilt) == ["aggregate", "figure"]

    # a deleted run.json: Snakemake keeps what was made from it, and the workflow says so with the command
    (setting / "seed=0" / "run.json").unlink()
    plan = snakemake(tmp_path, "-n", "figures/fig3.pdf")
    assert "seed=0/run.json is missing" in plan.stderr and command in plan.stderr
    again = snakemake(tmp_path, "--cores", "1", "figures/fig3.pdf", "--forcerun", record)
    assert again.returncode == 0 and (setting / "seed=0" / "run.json").exists()


def without_frost_photographs(tmp_path) -> dict:
    """An environment in which the imagecorruptions package's frost photographs cannot be read (its metadata found
    first in a folder without its data), as where the package data are missing."""
    import os

    shadow = tmp_path / "shadow"
    (shadow / "imagecorruptions-1.1.2.dist-info").mkdir(parents=True)
    (shadow / "imagecorruptions-1.1.2.dist-info" / "METADATA").write_text("Name: imagecorruptions\nVersion: 1.1.2\n")
    return {**os.environ, "PYTHONPATH": str(shadow)}


DEGRADED_CONFIG = {
    "datasets": {"cc": {"generator": "corrupted_cifar10", "n_train": 100, "n_test": 100}},
    "models": {"cnn": {"arch": "cnn", "width": 0.125}},
    "training": {"lr": 0.1, "batch_size": 20, "max_epochs": 2, "checkpoint_epochs": [0]},
    "evaluation": {"kappas": [0.5], "pruning": {"score_samples": 50, "variants": []},
                   "ig": {"n_samples": 4, "n_baselines": 1, "n_steps": 4}},
    "studies": {"cc": {"dataset": "cc", "model": "cnn", "grid": {"lr": [0.05, 0.1]}, "seeds": [0]}},
    "figures": {"fig4": {"layout": "fig4", "studies": ["cc"]}},
}


@pytest.mark.workflow
def test_degraded_data_are_named_in_figures_tables_claims_and_the_manifest(tmp_path):
    env = without_frost_photographs(tmp_path)
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(DEGRADED_CONFIG))
    result = subprocess.run([*SNAKEMAKE, "--directory", str(tmp_path), "--configfile", str(tmp_path / "config.yaml"),
                             "--cores", "2", "figures/fig4.pdf", "results/tables/fig4.md", "results/claims.md",
                             "results/fidelity.md"], capture_output=True, text=True, timeout=900, cwd=REPO, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    import pandas as pd

    values = pd.read_csv(tmp_path / "figures" / "fig4.csv")
    assert values.data_degraded.str.startswith("Corrupted CIFAR-10: frost: the frost photographs could not be "
                                               "read").all()
    assert set(values.dataset_name) == {"Corrupted CIFAR-10 (procedural CIFAR-10 stand-in; DEGRADED: frost)"}
    assert "| Corrupted CIFAR-10 (procedural CIFAR-10 stand-in; DEGRADED: frost) |" in \
        (tmp_path / "results" / "tables" / "fig4.md").read_text()
    claims = pd.read_csv(tmp_path / "results" / "claims.csv")
    assert claims.data_source.str.contains("DEGRADED: frost: the frost photographs could not be read").all()
    manifest = (tmp_path / "results" / "fidelity.md").read_text()
    assert "## Degraded data" in manifest and "| Corrupted CIFAR-10 (`cc`) | frost: the frost photographs" in manifest
    # `spurcomp fidelity` without Snakemake, where the dataset is built and its summary is not, still says so
    (tmp_path / "results" / "summaries" / "cc.npz").unlink()
    printed = spurcomp(tmp_path, "fidelity")
    assert printed.returncode == 0 and "| Corrupted CIFAR-10 (`cc`) | frost: the frost photographs" in printed.stdout

    # where the config refuses fallbacks (the paper's scale), the dataset is not built, in one line saying why
    refusing = {**DEGRADED_CONFIG, "datasets": {"cc": {**DEGRADED_CONFIG["datasets"]["cc"], "allow_fallback": False}}}
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(refusing))
    refused = spurcomp(tmp_path, "dataset", "cc", "--out", "refused.npz", env=env)
    assert refused.returncode == 1 and not (tmp_path / "refused.npz").exists()
    error = refused.stderr.strip().splitlines()[-1]  # after the fallback's own warning, one line
    assert "ERROR dataset generator 'corrupted_cifar10' could only build degraded data (frost: the frost " in error
    assert "allow_fallback: false" in error and "Traceback" not in refused.stderr
    # with the photographs readable, the same config builds the original corruptions
    built = spurcomp(tmp_path, "dataset", "cc", "--out", "built.npz")
    assert built.returncode == 0, built.stderr
    from spurcomp.data.io import load_metadata
    assert "degraded" not in load_metadata(tmp_path / "built.npz")


def test_a_truncated_history_is_named_set_aside_and_noted_in_run_json(tmp_path):
    from spurcomp.study import check_run_files, file_digest

    run_dir = tmp_path / "seed=0"
    run_dir.mkdir()
    (run_dir / "weights.pt").write_bytes(b"w" * 100)
    (run_dir / "history.parquet").write_bytes(b"h" * 300)
    summary = {"run": {}, "files": {name: file_digest(run_dir / name) for name in ("weights.pt", "history.parquet")}}
    (run_dir / "run.json").write_text(json.dumps(summary))
    assert check_run_files(run_dir)["files"] == summary["files"]  # intact: read as it is
    (run_dir / "history.parquet").write_bytes(b"h" * 299)
    with pytest.raises(DamagedFile, match=r"history.parquet 299 bytes where 300 were written \(moved to "
                                          r"history.parquet.damaged\); run the same Snakemake command again"):
        check_run_files(run_dir)
    assert (run_dir / "history.parquet.damaged").exists() and not (run_dir / "history.parquet").exists()
    # the note changes run.json, which is what makes Snakemake rerun the steps that read it (and so rebuild)
    assert json.loads((run_dir / "run.json").read_text())["set_aside"] == {
        "history.parquet": "299 bytes where 300 were written"}
    (run_dir / "weights.pt").write_bytes(b"x" * 100)  # same size, other bytes: the checksum tells
    with pytest.raises(DamagedFile, match="weights.pt its checksum differs from the one written"):
        check_run_files(run_dir)


def test_the_cli_shows_training_progress_when_asked_and_not_in_a_log(tmp_path, tiny_config):
    tiny_config["training"]["max_epochs"] = 3
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(tiny_config))
    assert spurcomp(tmp_path, "dataset", "parity").returncode == 0
    run = ("train", "--dataset", "parity", "--model", "fcn", "--setting", "lr=0.05", "--seed", "0")
    shown = spurcomp(tmp_path, *run, "--progress")
    assert shown.returncode == 0, shown.stderr
    assert re.search(r"results/runs/parity/fcn/lr=0.05/seed=0: 100%\|.*\| 3/3 \[", shown.stderr), shown.stderr
    # not a terminal (a pipe, a job's log): no bar, only the log's lines
    quiet = spurcomp(tmp_path, *run[:-1], "1")
    assert quiet.returncode == 0 and "3/3 [" not in quiet.stderr and "epoch 3/3" in quiet.stderr


def test_every_cli_verb_has_its_function():
    from spurcomp.cli import VERBS, _parser

    subparsers = next(action for action in _parser()._actions if action.dest == "verb")
    assert set(subparsers.choices) - {"check"} == set(VERBS)
