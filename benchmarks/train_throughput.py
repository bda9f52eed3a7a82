"""Training throughput.

1. The FCN on parity: our engine (tensors indexed by batch, per-step statistics, per-epoch evaluation and
   resumable state included) next to a plain per-sample ``DataLoader`` loop doing only the SGD steps, and the
   machine's measured matmul GFLOP/s for scale; the engine in each ``training.precision``.
2. A grid of FCN runs on parity (5 learning rates x 3 seeds), as the workflow can train it: one process per run
   (each paying Python's and torch's start-up, as one Snakemake job per run did), all runs one after another in
   one process (``execution.runs_per_job``), and all at once (``execution.vectorise``); in model-steps per second.
3. ``--device cuda``: ms per SGD step of every paper model through the engine, in float32 with TF32 off, float32
   with PyTorch's defaults (TF32 convolutions), and bf16 autocast with channels_last.

    python benchmarks/train_throughput.py [--epochs 5] [--threads 1] [--device cpu|cuda] [--grid-epochs 10]
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import math
import subprocess
import sys
import tempfile
import time

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from spurcomp.data import build_dataset
from spurcomp.models import build_model
from spurcomp.runtime import setup_torch
from spurcomp.settings import TrainingSetting
from spurcomp.train.engine import TrainOptions, train_run

PARITY = {"generator": "parity", "core_bits": 5, "spurious_bits": 2, "noise_bits": 13, "n_train": 10000,
          "n_test": 10000, "rho_train": 0.1, "rho_test": 0.5}
FCN = {"arch": "fcn", "hidden": [200, 200, 200]}
BATCH = 100


def flops_per_step(model: nn.Module, batch: int) -> float:
    """Matmul FLOPs of one SGD step: forward 2·B·in·out per Linear, backward twice that."""
    return sum(6.0 * batch * m.in_features * m.out_features for m in model.modules() if isinstance(m, nn.Linear))


def matmul_gflops(n: int = 1024, repeats: int = 20) -> float:
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    start = time.perf_counter()
    for _ in range(repeats):
        a @ b
    return 2 * n**3 * repeats / (time.perf_counter() - start) / 1e9


def engine_steps_per_second(dataset, epochs: int, precision: str = "fp32",
                            device: torch.device = torch.device("cpu")) -> tuple[float, float]:
    """(SGD step loop alone, whole run with per-epoch evaluation and state) in steps per second."""
    with tempfile.TemporaryDirectory() as tmp:
        # a small learning rate so the run does not stop early at 100% training accuracy
        setting = TrainingSetting(lr=1e-4, batch_size=BATCH, max_epochs=epochs, precision=precision)
        start = time.perf_counter()
        summary = train_run(dataset, FCN, setting, 0, tmp, options=TrainOptions(), device=device)
        whole = time.perf_counter() - start
        return summary["steps"] / summary["step_loop_seconds"], summary["steps"] / whole


def dataloader_steps_per_second(dataset, epochs: int) -> float:
    torch.manual_seed(0)
    model = build_model(FCN, dataset.input_shape, dataset.num_classes)
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-4)
    loader = DataLoader(TensorDataset(torch.as_tensor(dataset.train.x), torch.as_tensor(dataset.train.y)),
                        batch_size=BATCH, shuffle=True)
    steps = 0
    start = time.perf_counter()
    for _ in range(epochs):
        for x, y in loader:
            loss = nn.functional.cross_entropy(model(x), y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            steps += 1
    return steps / (time.perf_counter() - start)


GRID_LRS = (1e-4, 2e-4, 3e-4, 5e-4, 1e-3)  # small: no run stops early, so every mode does the same steps
GRID_SEEDS = (0, 1, 2)
# one Python process training runs with spurcomp.steps.train_runs, as a Snakemake train job does
TRAIN_PROCESS = """
import json, sys
from spurcomp import steps
a = json.loads(sys.argv[1])
steps.train_runs(a["jobs"], a["runs"], a["data"], a["dirs"], a["runtime"], a["threads"])
"""


def grid_model_steps_per_second(data_path, epochs: int, threads: int,
                                device: str = "cpu") -> list[tuple[str, float, float, float]]:
    """(mode, model-steps/s, wall seconds, largest history difference from the runs trained one after another)
    for the 15-run grid in each way of packing it into processes."""
    import numpy as np
    import pandas as pd

    runs = [(lr, seed) for lr in GRID_LRS for seed in GRID_SEEDS]
    steps_per_run = epochs * math.ceil(PARITY["n_train"] / BATCH)

    def args(chunk, root, vectorise):
        jobs = [{"model": FCN, "setting": {"lr": lr, "batch_size": BATCH, "max_epochs": epochs},
                 "checkpoint_epochs": [], "divergence_factor": 1000.0, "collapse_margin": 0.02} for lr, _ in chunk]
        return json.dumps({"jobs": jobs, "data": str(data_path), "threads": threads,
                           "runs": [{"dataset": "parity", "model": "fcn", "setting": f"lr={lr}", "seed": seed}
                                    for lr, seed in chunk],
                           "dirs": [f"{root}/lr={lr}/seed={seed}" for lr, seed in chunk],
                           "runtime": {"device": device, "state_every_epochs": 1, "vectorise": vectorise}})

    def histories(root):
        return [pd.read_parquet(f"{root}/lr={lr}/seed={seed}/history.parquet").select_dtypes("number").to_numpy()
                for lr, seed in runs]

    modes = (("one process per run (one job per run)", [[run] for run in runs], False),
             ("one process, runs one after another", [runs], False),
             ("one process, runs at once (vectorised)", [runs], True))
    rows, reference = [], None
    for name, chunks, vectorise in modes:
        with tempfile.TemporaryDirectory() as root:
            start = time.perf_counter()
            for chunk in chunks:
                done = subprocess.run([sys.executable, "-c", TRAIN_PROCESS, args(chunk, root, vectorise)],
                                      capture_output=True, text=True)
                if done.returncode:
                    raise RuntimeError(f"{name}: the training process failed:\n{done.stderr[-3000:]}")
            wall = time.perf_counter() - start
            found = histories(root)
        reference = reference or found
        difference = max(float(np.nanmax(np.abs(a - b))) for a, b in zip(found, reference))
        rows.append((name, len(runs) * steps_per_run / wall, wall, difference))
    return rows


# every paper model (config/paper.yaml) on an input of the dataset it is paired with, 10 classes
CUDA_MODELS = (("VGG11 (width 1)", {"arch": "cnn", "width": 1.0}, (3, 28, 28)),
               ("ResNet18", {"arch": "resnet", "depth": "resnet18"}, (3, 64, 32)),
               ("ResNet50", {"arch": "resnet", "depth": "resnet50"}, (3, 32, 32)),
               ("Wide ResNet-101-2", {"arch": "resnet", "depth": "wide_resnet101_2"}, (3, 64, 32)))


def cuda_ms_per_step(steps: int = 30, device: str = "cuda", models=CUDA_MODELS) -> list[tuple[str, dict[str, float]]]:
    """ms per SGD step (the engine's step loop, batch 100) of each paper model in each precision mode."""
    import numpy as np

    from spurcomp.data.io import Dataset, Split

    rows = []
    for name, spec, shape in models:
        rng = np.random.default_rng(0)
        n = BATCH * steps

        def split(size):
            return Split(rng.random((size, *shape), dtype=np.float32), rng.integers(0, 10, size),
                         rng.integers(0, 10, size), np.zeros((size, *shape), dtype=np.uint8))
        dataset = Dataset(split(n), split(BATCH), {"num_classes": 10})
        times = {}
        for mode, precision, tf32 in (("fp32 (TF32 off)", "fp32", False), ("fp32 (PyTorch defaults)", "fp32", None),
                                      ("bf16 + channels_last", "bf16", None)):
            # TF32 is PyTorch's default for cuDNN convolutions (not for matmuls): off, it is true float32
            defaults = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
            if tf32 is False:
                torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
            try:
                with tempfile.TemporaryDirectory() as tmp:
                    setting = TrainingSetting(lr=1e-4, batch_size=BATCH, max_epochs=2, precision=precision)
                    # the first run of a model and mode pays CUDA's and cuDNN's one-time set-up: a one-epoch run
                    # warms them, then the second epoch's time is a two-epoch run's step loop less a one-epoch's
                    warm = dataclasses.replace(setting, max_epochs=1)
                    train_run(dataset, spec, warm, 0, f"{tmp}/warm", device=torch.device(device))
                    one = train_run(dataset, spec, warm, 0, f"{tmp}/a", device=torch.device(device))
                    two = train_run(dataset, spec, setting, 0, f"{tmp}/b", device=torch.device(device))
                    times[mode] = 1000 * (two["step_loop_seconds"] - one["step_loop_seconds"]) / steps
            finally:
                torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = defaults
        rows.append((name, times))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu", help="where the engine runs")
    parser.add_argument("--grid-epochs", type=int, default=10, help="epochs of each run of the 15-run grid")
    parser.add_argument("--cuda-models-only", action="store_true", help="only the table of paper models on CUDA")
    args = parser.parse_args()
    if args.cuda_models_only:
        print_cuda_models()
        return
    device = torch.device(args.device)
    setup_torch(args.threads, device)
    dataset = build_dataset(PARITY, seed=0)
    flops = flops_per_step(build_model(FCN, dataset.input_shape, dataset.num_classes), BATCH)
    rows = [("plain DataLoader loop (SGD steps only, CPU)", dataloader_steps_per_second(dataset, args.epochs))]
    for precision in ("fp32", "bf16"):
        loop, whole = engine_steps_per_second(dataset, args.epochs, precision, device)
        rows += [(f"spurcomp step loop, {precision} (SGD + per-step stats)", loop),
                 (f"spurcomp run, {precision} (+ per-epoch eval, state)", whole)]
    peak = matmul_gflops()
    print(f"FCN 20-200-200-200-2 on parity (10,000 samples), batch {BATCH}, {args.epochs} epochs, "
          f"{args.threads} thread(s), engine on {args.device}; {flops / 1e6:.2f} MFLOP per step")
    print(f"{'loop':<52}{'steps/s':>10}{'GFLOP/s':>10}{'speed-up':>10}")
    for name, rate in rows:
        print(f"{name:<52}{rate:>10.0f}{rate * flops / 1e9:>10.2f}{rate / rows[0][1]:>9.2f}x")
    print(f"{'machine: 1024x1024 float32 matmul':<52}{'':>10}{peak:>10.2f}")
    print(f"(each epoch of {math.ceil(10000 / BATCH)} steps is followed by a forward pass over the 10,000 training "
          "and 10,000 test samples for the history and the 100%-accuracy check)")

    with tempfile.TemporaryDirectory() as tmp:
        from spurcomp.data.io import save_dataset

        save_dataset(f"{tmp}/parity.npz", dataset)
        grid = grid_model_steps_per_second(f"{tmp}/parity.npz", args.grid_epochs, args.threads, args.device)
    print()
    print(f"15 FCN runs on parity (learning rates {', '.join(map(str, GRID_LRS))} x seeds 0, 1, 2), "
          f"{args.grid_epochs} epochs each, {args.threads} thread(s), on {args.device}, one process at a time")
    print(f"{'how the runs are packed':<42}{'model-steps/s':>14}{'wall s':>8}{'speed-up':>10}{'max |diff|':>12}")
    for name, rate, wall, difference in grid:
        print(f"{name:<42}{rate:>14.0f}{wall:>8.1f}{rate / grid[0][1]:>9.2f}x{difference:>12.1e}")
    print("(max |diff|: the largest difference of any history value from the first row's runs)")

    if args.device == "cuda":
        print_cuda_models()


def print_cuda_models() -> None:
    print()
    print(f"ms per SGD step on {torch.cuda.get_device_name()}, batch {BATCH}, the engine's step loop", flush=True)
    modes = ("fp32 (TF32 off)", "fp32 (PyTorch defaults)", "bf16 + channels_last")
    print(f"{'model':<22}" + "".join(f"{mode:>26}" for mode in modes), flush=True)
    for model in CUDA_MODELS:
        for name, times in cuda_ms_per_step(models=[model]):
            print(f"{name:<22}" + "".join(f"{times[mode]:>26.1f}" for mode in modes), flush=True)


if __name__ == "__main__":
    main()
