"""What the pruning evaluation costs and what its two savings change, on the runs of a finished build: pruned units
cut out of the weights (``metrics.pruning.sliced_units``) and images channels-last (``runtime.images_last``)
against units masked at their output (``masked_units``, the same function at the cost of every unit) in the
default layout, and, optionally, the variants other than the default pruned on a test
subset (``evaluation.pruning.variant_samples``). Per method, the CPU seconds of the pruning family per run, and per
metric (Σκ κP of each variant, ``prunability[VARIANT]``) the largest change over the runs against masked pruning on
the whole test set, beside the spread of that metric's per-learning-rate means (what Fig. S-pruning and the
supplementary claims compare).

    python benchmarks/pruning_cost.py [--study colored_mnist_cnn ...] [--sizes 250 500]

Run from the workflow's directory after its train jobs (e.g. `snakemake --cores all figures/fig4.pdf`).
"""
from __future__ import annotations

import argparse
import json
import time
from unittest import mock

import pandas as pd
import torch

from spurcomp.config import deep_merge, read_config_file, validate_config
from spurcomp.data.io import load_dataset
from spurcomp import evaluate
from spurcomp.evaluate import RunRecord, evaluate_pruning, load_model
from spurcomp.metrics import pruning
from spurcomp.metrics.pruning_variants import split_variant
from spurcomp.runtime import images_last, setup_torch
from spurcomp.study import RUN_FILES, dataset_path, run_evaluation, study_runs

MASKED = "masked, whole test set"
FAST = "cut, channels-last"


def methods(sizes: list[int]) -> dict[str, tuple[bool, int | None]]:
    """Each method: (units cut out of the weights and images channels-last, variant_samples)."""
    return {MASKED: (False, None), f"{FAST}, whole test set": (True, None),
            **{f"{FAST}, variants on {n} test samples": (True, n) for n in sizes}}


def pruning_values(study: str, config: dict, sizes: list[int]) -> pd.DataFrame:
    """Σκ κP of every variant for each finished run of ``study`` under each method, with the CPU seconds."""
    rows = []
    runs = study_runs(config, study)
    dataset = load_dataset(dataset_path(runs[0].dataset))
    for run in runs:
        if not (run.directory / RUN_FILES["summary"]).exists():
            continue
        model = load_model(run.directory / "weights.pt", torch.device("cpu"))
        record = RunRecord(run.directory, json.loads((run.directory / RUN_FILES["summary"]).read_text()), None)
        for method, (cut, size) in methods(sizes).items():
            settings = deep_merge(run_evaluation(config, run), {"pruning": {"variant_samples": size}})
            started = time.process_time()
            last = cut and images_last(torch.device("cpu"), dataset.input_shape)
            model = model.to(memory_format=torch.channels_last if last else torch.contiguous_format)
            with mock.patch.object(pruning, "separable_units", lambda model, cut=cut: cut), \
                    mock.patch.object(evaluate, "images_last", lambda device, shape, last=last: last):
                found = evaluate_pruning(model, dataset, settings, torch.device("cpu"), record)
            seconds = time.process_time() - started
            rows += [{"study": study, "lr": float(run.setting.split(",")[0].removeprefix("lr=")), "seed": run.seed,
                      "method": method, "metric": row["metric"], "value": row["value"], "cpu_s": seconds}
                     for row in found if split_variant(row["metric"])[0] == "prunability" and "kappa" not in row]
    return pd.DataFrame(rows)


def changes(values: pd.DataFrame) -> pd.DataFrame:
    key = ["study", "lr", "seed", "metric"]
    reference = values[values.method == MASKED].set_index(key)["value"]
    out = []
    for (study, method), part in values[values.method != MASKED].groupby(["study", "method"], sort=False):
        change = (part.set_index(key)["value"] - reference).abs()
        spread = reference.loc[study].groupby(["metric", "lr"]).mean().groupby("metric").agg(lambda s: s.max() - s.min())
        for metric, largest in change.groupby("metric").max().items():
            out.append({"study": study, "method": method, "metric": metric, "largest_change": largest,
                        "spread": spread.get(metric, float("nan"))})
    return pd.DataFrame(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--config", default="config/config.yaml")
    parser.add_argument("--study", nargs="+", default=["colored_mnist_cnn"])
    parser.add_argument("--sizes", nargs="*", type=int, default=[], help="variant_samples to try (default: none)")
    args = parser.parse_args()
    setup_torch(1, torch.device("cpu"))
    config = read_config_file(args.config)
    validate_config(config)
    values = pd.concat([pruning_values(study, config, args.sizes) for study in args.study])
    per_run = values.drop_duplicates(["study", "lr", "seed", "method"]).groupby("method", sort=False)["cpu_s"].mean()
    print("| method | CPU s of the pruning family per run |\n|---|---|")
    for method, seconds in per_run.items():
        print(f"| {method} | {seconds:.2f} |")
    print("\n| study | method | metric | largest change over runs | spread of the per-LR means |\n|---|---|---|---|---|")
    for row in changes(values).itertuples():
        print(f"| {row.study} | {row.method} | {row.metric} | {row.largest_change:.3g} | {row.spread:.3f} |")


if __name__ == "__main__":
    main()
