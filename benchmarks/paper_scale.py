"""What the paper-scale pieces of Fig. 1, 7, 8, 10 and 11 cost: per model and input, the seconds of one training
step (forward, backward, optimiser) at the paper's batch size, the epoch it implies on the real dataset, Integrated
Gradients on 50 samples (16 steps, all-zero baseline: one checkpoint's attributions) and DeepLabV3 background
masks per 1,000 images.

    python benchmarks/paper_scale.py [--device cpu|cuda] [--steps 10] [--threads 2] [--table FILE]

Prints a table; on the CPU use few steps (each Swin-T step at 224 px takes seconds). ``--table FILE`` also writes
the step times into a step-time table for ``spurcomp plan --step-times FILE`` (this device's rows replaced, other
devices' kept; start from src/spurcomp/step_times.csv).
"""
from __future__ import annotations

import argparse
import csv
import os
import platform
import time
from pathlib import Path

import numpy as np
import torch

from spurcomp.metrics.attribution import integrated_gradients
from spurcomp.models import build_model
from spurcomp.plan import model_key
from spurcomp.runtime import setup_torch
from spurcomp.segmentation import build_segmenter, predict_background

# model, input (C, H, W), classes, batch (paper sec. 4.2), optimiser, training images of the real dataset
CASES = [
    ("ResNet18", {"arch": "resnet", "depth": "resnet18"}, (3, 32, 32), 10, 100, "sgd", 50_000, "CIFAR-10"),
    ("ResNet18", {"arch": "resnet", "depth": "resnet18"}, (3, 224, 224), 1000, 16, "sgd", 1_281_167, "ImageNet-1k"),
    ("Swin-T", {"arch": "swin", "size": "t"}, (3, 224, 224), 2, 16, "adamw", 162_770, "CelebA"),
    ("Swin-T", {"arch": "swin", "size": "t"}, (3, 224, 224), 2, 16, "adamw", 4_795, "Waterbirds"),
    ("ResNet18 x1/8", {"arch": "resnet", "depth": "resnet18", "width": 0.125}, (3, 32, 32), 10, 100, "sgd", 2_000,
     "CIFAR-10 stand-in (default)"),
    ("Swin small", {"arch": "swin", "size": "small"}, (3, 32, 32), 2, 50, "adamw", 2_000, "CelebA stand-in (default)"),
]


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def step_seconds(spec, shape, classes, batch, optimiser, steps, device) -> float:
    torch.manual_seed(0)
    model = build_model(spec, shape, classes).to(device).train()
    opt = (torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=0.01) if optimiser == "adamw"
           else torch.optim.SGD(model.parameters(), lr=0.01))
    x = torch.rand(batch, *shape, device=device)
    y = torch.randint(classes, (batch,), device=device)

    def step():
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(x), y).backward()
        opt.step()

    step()  # warm-up: allocations, kernels
    _sync(device)
    start = time.perf_counter()
    for _ in range(steps):
        step()
    _sync(device)
    return (time.perf_counter() - start) / steps


def device_id(name: str) -> str:
    """A device's name in the step-time table: 'NVIDIA H100 80GB HBM3' -> 'nvidia-h100'; a CPU by its cores."""
    words = name.lower().replace(",", "").split()
    return "-".join(words[:2]) if words[0] != "cpu" else f"cpu-{os.cpu_count()}core-{platform.machine()}"


def write_step_times(path: str, device: str, measured: list, how: str) -> None:
    """This device's rows of a step-time table replaced by ``measured`` (model, input, batch, seconds)."""
    rows = []
    if Path(path).exists():
        with open(path, newline="") as handle:
            rows = [row for row in csv.DictReader(line for line in handle if not line.startswith("#"))
                    if row["device"] != device]
    rows += [{"device": device, "model": model, "input": "x".join(map(str, shape)), "batch": batch,
              "precision": "fp32", "ms_per_step": f"{1000 * seconds:.3g}", "measured_with": how}
             for model, shape, batch, seconds in measured]
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["device", "model", "input", "batch", "precision", "ms_per_step",
                                                    "measured_with"])
        writer.writeheader()
        writer.writerows(rows)
    print(f"\n{len(measured)} step times of {device} written to {path}")


def ig_seconds(spec, shape, classes, device) -> float:
    model = build_model(spec, shape, classes).to(device).eval()
    x = torch.rand(50, *shape, device=device)
    target = torch.zeros(50, dtype=torch.long, device=device)
    integrated_gradients(model, x[:2], target[:2], (0.0, 1.0), n_steps=2, baseline="zero")  # warm-up
    _sync(device)
    start = time.perf_counter()
    integrated_gradients(model, x, target, (0.0, 1.0), n_steps=16, baseline="zero", internal_batch_size=400)
    _sync(device)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--only-default", action="store_true", help="only the default-scale cases (quick on a CPU)")
    parser.add_argument("--table", help="write the step times into this step-time table (spurcomp plan)")
    args = parser.parse_args()
    device = torch.device(args.device)
    setup_torch(args.threads, device)
    name = torch.cuda.get_device_name() if device.type == "cuda" else f"CPU, {args.threads} threads"
    print(f"device: {name}; torch {torch.__version__}\n")
    print("| model | input | batch | optimiser | s / step | dataset | s / epoch (est.) | IG, 50 samples (s) |")
    print("|---|---|---|---|---|---|---|---|")
    measured = []
    for label, spec, shape, classes, batch, optimiser, n_train, dataset in CASES:
        if args.only_default and "default" not in dataset:
            continue
        seconds = step_seconds(spec, shape, classes, batch, optimiser, args.steps, device)
        measured.append((model_key(spec), shape, batch, seconds))
        ig = ig_seconds(spec, shape, classes, device)
        epoch = seconds * n_train / batch
        print(f"| {label} | {'x'.join(map(str, shape))} | {batch} | {optimiser} | {seconds:.4f} | {dataset} "
              f"({n_train:,}) | {epoch:,.0f} | {ig:.2f} |")
    if args.table:
        write_step_times(args.table, device_id(name), measured,
                         f"benchmarks/paper_scale.py --device {args.device} --steps {args.steps} --threads "
                         f"{args.threads}, torch {torch.__version__}")
    print("\n| segmenter | input | images | s per 1,000 images |")
    print("|---|---|---|---|")
    for label, spec, size in (("DeepLabV3 (smp, ResNet18 encoder)", {"arch": "deeplabv3"}, 32),
                              ("DeepLabV3 (smp, ResNet18 encoder)", {"arch": "deeplabv3"}, 224),
                              ("DeepLabV3-ResNet50 (torchvision)", {"arch": "deeplabv3_resnet50"}, 224)):
        if args.only_default and size != 32:
            continue
        model = build_segmenter(spec).to(device)
        n = 200 if size == 32 or device.type == "cuda" else 8
        images = np.random.default_rng(0).random((n, 3, size, size), dtype=np.float32)
        predict_background(model, spec["arch"], images[:2], device)
        _sync(device)
        start = time.perf_counter()
        predict_background(model, spec["arch"], images, device, batch_size=32)
        _sync(device)
        print(f"| {label} | 3x{size}x{size} | {n} | {1000 * (time.perf_counter() - start) / n:.1f} |")


if __name__ == "__main__":
    main()
