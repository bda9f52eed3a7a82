"""Training throughput of the FCN on parity: our engine (tensors indexed by batch, per-step statistics,
per-epoch evaluation and resumable state included) next to a plain per-sample ``DataLoader`` loop doing only
the SGD steps, and the machine's measured matmul GFLOP/s for scale; the engine in each ``training.precision``.

    python benchmarks/train_throughput.py [--epochs 5] [--threads 1] [--device cpu|cuda]
"""
from __future__ import annotations

import argparse
import math
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu", help="where the engine runs")
    args = parser.parse_args()
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


if __name__ == "__main__":
    main()
