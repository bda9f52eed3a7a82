"""What reading a dataset lazily (``lazy: true``) costs: images decoded per second by the worker processes of
``spurcomp.data.files.ImageFiles`` at several worker counts, and the training step loop of two epochs with the images
in memory against the same images read from their files (read ahead of the loop; and kept in memory once decoded,
``execution.read_cache_gb``), from the engine's own ``step_loop_seconds``, and the evaluation of that run (accuracy,
pruning, representation: many passes over the test split).

    python benchmarks/lazy_read.py [--images 400] [--size 64] [--model cnn|resnet18|swin_t] [--batch 16]
                                   [--device cpu|cuda] [--workers 1 2]

The images are written first: ImageNet-like JPEGs (500 x 375, smooth shapes with fine texture, quality 90: about
85 kB each) in ImageFolder layout under a temporary folder. Prints two tables.
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from spurcomp.data import build_dataset, load_dataset, save_dataset
from spurcomp.data.files import available_cpus
from spurcomp.evaluate import evaluate_run
from spurcomp.runtime import setup_torch
from spurcomp.settings import TrainingSetting
from spurcomp.train.engine import train_run

MODELS = {"cnn": {"arch": "cnn", "width": 0.125}, "resnet18": {"arch": "resnet", "depth": "resnet18"},
          "swin_t": {"arch": "swin", "size": "t"}}
CLASSES = 10


def write_release(root: Path, images: int, seed: int = 0) -> None:
    """``images`` training images (and a tenth as many validation images) in ImageFolder layout."""
    rng = np.random.default_rng(seed)
    for split, n in (("train", images), ("val", max(CLASSES, images // 10))):
        for i in range(n):
            folder = root / "imagenet" / split / f"n{i % CLASSES:02d}"
            folder.mkdir(parents=True, exist_ok=True)
            # smooth shapes (a coarse random field, enlarged) and fine texture, so the JPEG is photo-sized
            coarse = Image.fromarray(rng.integers(0, 256, size=(24, 32, 3), dtype=np.uint8)).resize((500, 375),
                                                                                                    Image.BICUBIC)
            pixels = np.asarray(coarse, dtype=np.int16) + rng.integers(-20, 21, size=(375, 500, 3), dtype=np.int16)
            Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)).save(folder / f"{i}.JPEG", quality=90)


def decode_rate(path: Path, workers: int, n: int) -> float:
    files = load_dataset(path, read_workers=workers).train.x
    index = np.arange(min(n, len(files)))
    files.read(index[:2 * workers])  # warm-up: the workers' start, the first file reads
    start = time.perf_counter()
    files.read(index)
    return len(index) / (time.perf_counter() - start)


def epoch_seconds(data, model: dict, batch: int, device: torch.device, run_dir: Path) -> tuple[float, float, float]:
    """The step loop of two epochs, the whole run (with the three full passes over both splits that record epochs
    0, 1 and 2) and its evaluation (accuracy, pruning at the default κ and variants, representation: many passes over
    the test split), in seconds."""
    summary = train_run(data, model, TrainingSetting(lr=0.01, batch_size=batch, max_epochs=2), 0, run_dir,
                        device=device)
    started = time.perf_counter()
    evaluate_run({family: run_dir / f"{family}.parquet" for family in ("accuracy", "pruning", "representation")},
                 data, run_dir, device=device)
    return summary["step_loop_seconds"], summary["train_seconds"], time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=400)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--model", default="cnn", choices=sorted(MODELS))
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--workers", type=int, nargs="+", default=None,
                        help="decoding processes to compare (default: 1, 2, 4, ... up to the CPUs available)")
    args = parser.parse_args()
    cpus = available_cpus()
    workers = args.workers or sorted({1, *[w for w in (2, 4, 8, 16, 32) if w <= cpus], cpus})
    device = torch.device(args.device)
    setup_torch(cpus, device)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        started = time.perf_counter()
        write_release(root, args.images)
        spec = {"generator": "imagenet", "source": "folder", "data_root": str(root), "image_size": args.size,
                "n_train": None, "n_test": None}
        save_dataset(root / "lazy.npz", build_dataset({**spec, "lazy": True}, seed=0))
        print(f"{args.images} JPEGs of 500 x 375 written in {time.perf_counter() - started:.1f} s; {cpus} CPUs, "
              f"{device}")
        print(f"\ndecoding to {args.size} x {args.size} (resize, centre crop)")
        print(f"{'workers':>8} {'images/s':>10}")
        for w in workers:
            print(f"{w:>8} {decode_rate(root / 'lazy.npz', w, args.images):>10.0f}")

        started = time.perf_counter()
        eager = build_dataset(spec, seed=0)
        decode_once = time.perf_counter() - started
        print(f"\ntwo epochs of {args.model} at batch {args.batch} on {device} ({args.images} images; in memory: "
              f"decoded once in {decode_once:.1f} s by one process, beforehand)")
        print(f"{'images':>20} {'step loop s':>12} {'images/s':>10} {'run s':>8} {'evaluation s':>13}")
        for name, cache in (("in memory", None), ("lazy", 0), ("lazy, kept once read", int(8e9))):
            data = eager if cache is None else load_dataset(root / "lazy.npz", read_workers=cpus, cache_bytes=cache)
            loop, total, evaluation = epoch_seconds(data, MODELS[args.model], args.batch, device,
                                                    root / name.replace(" ", "_").replace(",", ""))
            print(f"{name:>20} {loop:>12.2f} {2 * args.images / loop:>10.0f} {total:>8.2f} {evaluation:>13.2f}")


if __name__ == "__main__":
    main()
