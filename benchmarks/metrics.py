"""Cost of each metric on realistic inputs, and of a run's whole evaluation next to its training.

    python benchmarks/metrics.py [--threads 1] [--resnet-images 2000]

Prints a table: metric, input, seconds. Then, for one FCN run on parity at the default scale, the training
time and each evaluation family's time, as a fraction of training (target: all evaluations < 1/10).
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch
from torch import nn

from spurcomp.data import build_dataset, save_dataset
from spurcomp.evaluate import FAMILIES, evaluate_run
from spurcomp.metrics.attribution import attribution_entropy, attribution_shares, background_attribution_percentage
from spurcomp.metrics.pruning import kappa_prunability, unit_scores
from spurcomp.metrics.representation import (activation_sparsity, class_separation_r2, qk_compressibility,
                                             selectivity_index)
from spurcomp.models import build_model
from spurcomp.runtime import setup_torch
from spurcomp.settings import TrainingSetting
from spurcomp.train.engine import TrainOptions, train_run

PARITY = {"generator": "parity", "core_bits": 5, "spurious_bits": 2, "noise_bits": 13, "n_train": 10000,
          "n_test": 10000, "rho_train": 0.1, "rho_test": 0.5}


def timed(fn, *args, repeats: int = 3, **kwargs) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn(*args, **kwargs)
        best = min(best, time.perf_counter() - start)
    return best


def r2_by_pairs(acts, labels):
    u = nn.functional.normalize(acts.double(), dim=1)
    sim = u @ u.T
    classes = torch.unique(labels)
    k = len(classes)
    within = sum((1 - sim[labels == c][:, labels == c]).sum() / (k * (labels == c).sum() ** 2) for c in classes)
    total = (1 - sim).sum() / len(labels) ** 2  # equal class sizes: the pairwise total reduces to this
    return 1 - within / total


def metric_rows(resnet_images: int) -> list[tuple[str, str, float]]:
    g = torch.Generator().manual_seed(0)
    acts = torch.relu(torch.randn(10000, 512, generator=g))
    labels = torch.randint(0, 10, (10000,), generator=g)
    rows = [
        ("activation sparsity", "10,000 x 512", timed(activation_sparsity, acts)),
        ("(2, 0.1)-compressibility, per sample", "10,000 x 512", timed(qk_compressibility, acts)),
        ("class separation R² (O(N·d))", "10,000 x 512, 10 classes", timed(class_separation_r2, acts, labels)),
        ("  literal pairwise R² (O(N²), reference)", "2,000 x 512", timed(r2_by_pairs, acts[:2000], labels[:2000], repeats=1)),
        ("CSI (or BSI)", "10,000 x 512, 10 classes", timed(selectivity_index, acts, labels)),
    ]
    maps = torch.randn(200, 3, 32, 32, generator=g)
    masks = {k: torch.rand(200, 3, 32, 32, generator=g) > 0.5 for k in ("core", "spurious")}
    background = torch.rand(200, 32, 32, generator=g) > 0.5
    rows += [
        ("attribution shares", "200 x 3 x 32 x 32", timed(attribution_shares, maps, masks)),
        ("attribution entropy", "200 x 3 x 32 x 32", timed(attribution_entropy, maps)),
        ("background attribution %", "200 x 3 x 32 x 32", timed(background_attribution_percentage, maps, background)),
    ]
    torch.manual_seed(0)
    resnet = build_model({"arch": "resnet", "depth": "resnet18"}, (3, 32, 32), 10).eval()
    x = torch.randn(resnet_images, 3, 32, 32, generator=g)
    y = torch.randint(0, 10, (resnet_images,), generator=g)
    b = torch.randint(0, 10, (resnet_images,), generator=g)
    scores = unit_scores(resnet, "l1_weight")
    rows += [
        ("ResNet18 mean-activation unit scores", f"{resnet_images:,} x 3 x 32 x 32",
         timed(unit_scores, resnet, "mean_activation", x, repeats=1)),
        ("ResNet18 structured, 9 κ, L1 per layer", f"{resnet_images:,} x 3 x 32 x 32",
         timed(kappa_prunability, resnet, x, y, b, scores=scores, repeats=1)),
        ("ResNet18 structured, 9 κ, L1 global/params", f"{resnet_images:,} x 3 x 32 x 32",
         timed(kappa_prunability, resnet, x, y, b, scores=scores, scope="global", budget="parameters", repeats=1)),
        ("ResNet18 unstructured prunability, 9 κ", f"{resnet_images:,} x 3 x 32 x 32",
         timed(kappa_prunability, resnet, x, y, b, structured=False, repeats=1)),
    ]
    return rows


def evaluation_vs_training() -> list[tuple[str, float]]:
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        dataset = build_dataset(PARITY, seed=0)
        save_dataset(tmp / "parity.npz", dataset)
        start = time.perf_counter()
        summary = train_run(dataset, {"arch": "fcn", "hidden": [200, 200, 200]},
                            TrainingSetting(lr=0.1, batch_size=100, max_epochs=150), 0, tmp / "run",
                            options=TrainOptions(checkpoint_epochs=[0, 1, 2, 4, 8, 16, 32, 64]))
        rows = [(f"training (lr=0.1, {summary['epochs']} epochs, {summary['status']})", time.perf_counter() - start)]
        for family in FAMILIES:
            start = time.perf_counter()
            # one family per call, to time each (the workflow evaluates all in one call, loading once)
            evaluate_run({family: tmp / f"{family}.parquet"}, tmp / "parity.npz", tmp / "run")
            rows.append((f"evaluation: {family}", time.perf_counter() - start))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--resnet-images", type=int, default=2000)
    args = parser.parse_args()
    setup_torch(args.threads, torch.device("cpu"))
    print(f"{'metric':<44}{'input':<28}{'seconds':>10}")
    for name, shape, seconds in metric_rows(args.resnet_images):
        print(f"{name:<44}{shape:<28}{seconds:>10.4f}")
    print()
    rows = evaluation_vs_training()
    train_seconds = rows[0][1]
    print(f"{'FCN on parity, default scale':<60}{'seconds':>10}{'/ training':>12}")
    for name, seconds in rows:
        print(f"{name:<60}{seconds:>10.2f}{seconds / train_seconds:>12.3f}")
    evaluation = sum(seconds for _, seconds in rows[1:])
    print(f"{'all evaluations':<60}{evaluation:>10.2f}{evaluation / train_seconds:>12.3f}")


if __name__ == "__main__":
    main()
