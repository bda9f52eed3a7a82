"""Cost of the semi-synthetic part of the workflow: building each dataset (time, memory of its arrays, size of
its file) at the default config's scale, and one SGD step of each convolutional model on each dataset's input
shape (batch 100), so that a user can size the default run and the paper's grid.

    python benchmarks/semisynthetic.py [--config config/config.yaml] [--threads 1] [--steps 3]
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch

from spurcomp.config import load_config
from spurcomp.data import build_dataset, save_dataset
from spurcomp.models import build_model
from spurcomp.runtime import setup_torch

GENERATORS = ("colored_mnist", "corrupted_cifar10", "mnist_cifar", "double_mnist")
MODELS = {
    "cnn width 0.125 (default)": {"arch": "cnn", "width": 0.125},
    "cnn width 1 (paper)": {"arch": "cnn", "width": 1.0},
    "resnet18": {"arch": "resnet", "depth": "resnet18"},
}


def step_seconds(spec: dict, shape: tuple[int, ...], steps: int, batch: int = 100) -> float:
    torch.manual_seed(0)
    model = build_model(spec, shape, 10)
    optimiser = torch.optim.SGD(model.parameters(), lr=0.01)
    x, y = torch.randn(batch, *shape), torch.randint(0, 10, (batch,))

    def step():
        optimiser.zero_grad()
        torch.nn.functional.cross_entropy(model(x), y).backward()
        optimiser.step()

    step()  # warm-up
    start = time.perf_counter()
    for _ in range(steps):
        step()
    return (time.perf_counter() - start) / steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="config/config.yaml")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--steps", type=int, default=3)
    args = parser.parse_args()
    setup_torch(args.threads, torch.device("cpu"))
    config = load_config(args.config)
    datasets = {name: spec for name, spec in config["datasets"].items() if spec["generator"] in GENERATORS}

    print(f"Building the datasets of {args.config} ({args.threads} thread(s))")
    print(f"{'dataset':<20}{'source':<12}{'train':>7}{'test':>7}{'build s':>9}{'arrays MB':>11}{'file MB':>9}")
    shapes = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, spec in datasets.items():
            start = time.perf_counter()
            dataset = build_dataset(spec, seed=config["seed"])
            seconds = time.perf_counter() - start
            path = Path(tmp) / f"{name}.npz"
            save_dataset(path, dataset)
            arrays = sum(a.nbytes for split in (dataset.train, dataset.test)
                         for a in (split.x, split.y, split.b, split.feature))
            shapes[name] = dataset.input_shape
            print(f"{name:<20}{spec['source']:<12}{len(dataset.train.y):>7}{len(dataset.test.y):>7}{seconds:>9.1f}"
                  f"{arrays / 1e6:>11.1f}{path.stat().st_size / 1e6:>9.1f}")

    print(f"\nOne SGD step, batch 100, CPU, {args.threads} thread(s): milliseconds (samples/s)")
    print(f"{'model':<28}" + "".join(f"{name:>22}" for name in shapes))
    for label, spec in MODELS.items():
        cells = []
        for shape in shapes.values():
            seconds = step_seconds(spec, shape, args.steps)
            cells.append(f"{seconds * 1e3:>10.0f} ({100 / seconds:>6.0f}/s)")
        print(f"{label:<28}" + "".join(f"{c:>22}" for c in cells))


if __name__ == "__main__":
    main()
