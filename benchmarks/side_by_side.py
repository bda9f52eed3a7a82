"""Runs per hour of one train job with its runs side by side (``execution.side_by_side``) against one after
another: the measurement behind a model's k.

A job of N runs of one setting (seeds 0..N-1) of a config's study trains through ``spurcomp.steps.train_runs``, as
the workflow's train job does: once with k = 1 (one run after another, all the job's threads) and once for each
k given (k processes at once, each with threads / k). Each row is a fresh set of run folders; the table gives the
wall time, runs per hour and the speed-up over k = 1. On a GPU every process shares the one device.

    python benchmarks/side_by_side.py [--configfile config/config.yaml] [--study colored_mnist_cnn]
        [--runs 4] [--k 2 4] [--threads 2] [--device cpu|cuda] [--max-epochs 3]
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from spurcomp import steps
from spurcomp.config import load_config
from spurcomp.study import RunKey, dataset_job, runtime_options, study_runs, train_job


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--configfile", default="config/config.yaml")
    parser.add_argument("--study", default="colored_mnist_cnn")
    parser.add_argument("--runs", type=int, default=4, help="runs in the job (seeds 0..runs-1 of one setting)")
    parser.add_argument("--k", type=int, nargs="+", default=[2], help="runs side by side to measure")
    parser.add_argument("--threads", type=int, default=2, help="the job's threads")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--max-epochs", type=int, default=None, help="cap each run's epochs (default: the config's)")
    args = parser.parse_args()

    config = load_config(args.configfile)
    if args.max_epochs:
        config["training"]["max_epochs"] = args.max_epochs
        for spec in config["studies"].values():
            spec.get("overrides", {}).pop("max_epochs", None)
    spec = config["studies"][args.study]
    first = study_runs(config, args.study)[0]
    runs = [RunKey(first.dataset, first.model, first.setting, seed) for seed in range(args.runs)]
    jobs = [train_job(config, run) for run in runs]
    runtime = {**runtime_options(config), "device": args.device, "state_every_epochs": 10**6}
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data.npz"
        steps.make_dataset(dataset_job(config, spec["dataset"]), data)
        rows = []
        for k in [1, *args.k]:
            dirs = [Path(tmp) / f"k{k}" / f"seed={run.seed}" for run in runs]
            start = time.perf_counter()
            steps.train_runs(jobs, [run.as_dict() for run in runs], data, dirs,
                             {**runtime, "side_by_side": {first.model: k}}, threads=args.threads, job_packing=False)
            seconds = time.perf_counter() - start
            rows.append((k, seconds, 3600 * len(runs) / seconds))
    print(f"{args.study}: {len(runs)} runs of {first.model} at {first.setting} on {args.device}, "
          f"{args.threads} thread(s) per job")
    print("| runs side by side | wall s | runs per hour | speed-up |")
    print("|---|---|---|---|")
    for k, seconds, per_hour in rows:
        print(f"| {k} | {seconds:.1f} | {per_hour:.0f} | {per_hour / rows[0][2]:.2f} |")


if __name__ == "__main__":
    main()
