"""What glibc's default of handing freed memory back to the operating system costs a job, against
``runtime.keep_freed_memory`` (which every step calls through ``runtime.setup_torch``): wall, user and system
CPU seconds of the workload (reading the dataset's file excluded) and the process's peak memory, for two workloads of
the default scale, each in a fresh process of its own (the allocator's options last for the process), and
whether what each computed is, byte for byte, what the workload's first row computed.

- train: a Fig. 4 run through the engine: VGG11 at 1/8 width on the default Colored MNIST (2,000 training and
  1,000 test images), lr 0.1, 8 epochs, checkpoints at 0, 1, 2, 4, 8;
- evaluate: that run's pruning (ten variants x nine kappa), representation and attribution families under Fig. 4's
  evaluation settings;
- ig: Integrated Gradients of ResNet18 at 1/8 width at 3 x 64 x 64 (the ImageNet stand-in's checkpoints: 50
  samples, the all-zero baseline, 16 steps; three times), freed memory kept, in one pass of 800 images against
  passes of at most ``attribution.PASS_ELEMENTS`` input elements (equal to float rounding: tests/test_metrics.py;
  here byte for byte).

    python benchmarks/allocator.py [--threads 1] [--repeats 2]
"""
from __future__ import annotations

import argparse
import hashlib
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

WORKLOADS = ("train", "evaluate", "ig")
DATASET = {"generator": "colored_mnist", "source": "embedded", "n_train": 2000, "n_test": 1000, "rho_train": 0.025}
MODEL = {"arch": "cnn", "width": 0.125}
# Fig. 4's evaluation of a CNN run (config/config.yaml's colored_mnist_cnn)
EVALUATION = {"pruning": {"score_samples": 1000}, "ig": {"n_samples": 50, "n_baselines": 2, "n_steps": 8}}


def _train(run_dir: Path, dataset) -> bytes:
    import torch

    from spurcomp.settings import TrainingSetting
    from spurcomp.train.engine import TrainOptions, train_run

    train_run(dataset, MODEL, TrainingSetting(lr=0.1, batch_size=100, max_epochs=8), 0, run_dir,
              options=TrainOptions(checkpoint_epochs=[0, 1, 2, 4, 8]))
    weights = torch.load(run_dir / "weights.pt")["model"]
    return b"".join(tensor.numpy().tobytes() for tensor in weights.values())


def _evaluate(run_dir: Path, dataset) -> bytes:
    from spurcomp.evaluate import evaluate_run

    out = run_dir.parent / "eval"
    out.mkdir(exist_ok=True)
    frames = evaluate_run({family: out / f"{family}.parquet" for family in ("pruning", "representation",
                                                                            "attributions")},
                          dataset, run_dir, EVALUATION)
    return b"".join(frame["value"].to_numpy().tobytes() for frame in frames.values())


def _ig(run_dir: Path, dataset, one_pass: bool) -> bytes:
    import torch

    from spurcomp.metrics import attribution
    from spurcomp.models import build_model

    if one_pass:
        attribution.PASS_ELEMENTS = 2**62
    shape = (3, 64, 64)
    torch.manual_seed(0)
    model = build_model({"arch": "resnet", "depth": "resnet18", "width": 0.125}, shape, 10).eval()
    x = torch.rand(50, *shape, generator=torch.Generator().manual_seed(1))
    maps = [attribution.integrated_gradients(model, x, torch.arange(50) % 10, (0.0, 1.0), baseline="zero",
                                             n_steps=16) for _ in range(3)]
    return maps[-1].numpy().tobytes()


def child(workload: str, keep: bool, threads: int, run_dir: Path) -> None:
    import torch

    from spurcomp.data.io import load_dataset
    from spurcomp.runtime import keep_freed_memory

    if keep or workload == "ig":
        keep_freed_memory()
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(True)
    dataset = load_dataset(run_dir.parent / "dataset.npz")  # as a job reads it
    before, started = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
    if workload == "ig":
        output = _ig(run_dir, dataset, one_pass=not keep)
    else:
        output = {"train": _train, "evaluate": _evaluate}[workload](run_dir, dataset)
    wall, after = time.perf_counter() - started, resource.getrusage(resource.RUSAGE_SELF)
    print(json.dumps({"wall": wall, "user": after.ru_utime - before.ru_utime, "sys": after.ru_stime - before.ru_stime,
                      "peak_mb": after.ru_maxrss / 1024, "digest": hashlib.sha256(output).hexdigest()[:12]}))


def measure(workload: str, keep: bool, threads: int, run_dir: Path) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child", workload, "--keep", str(int(keep)),
                          "--threads", str(threads), "--run-dir", str(run_dir)],
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=2, help="runs of each workload and allocator (median-free: "
                                                              "the fastest is shown)")
    parser.add_argument("--child", choices=WORKLOADS, help=argparse.SUPPRESS)
    parser.add_argument("--keep", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--run-dir", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(args.child, bool(args.keep), args.threads, args.run_dir)
        return
    import torch

    print(f"CPU, {args.threads} thread(s), torch {torch.__version__}; seconds of the workload alone (imports "
          f"excluded), CPU seconds of the whole process; fastest of {args.repeats}\n")
    print("| workload | freed memory | wall s | user CPU s | system CPU s | peak MB | output as the first row's |")
    print("|---|---|---|---|---|---|---|")
    from spurcomp.data import build_dataset
    from spurcomp.data.io import save_dataset

    scratch = Path(tempfile.mkdtemp(prefix="spurcomp-allocator-"))
    save_dataset(scratch / "dataset.npz", build_dataset(DATASET, seed=0))
    run_dir = scratch / "run"  # each train writes it again (a fresh folder); the evaluations read the last one
    for workload in WORKLOADS:
        first = None
        for keep in (False, True):
            runs = []
            for _ in range(args.repeats):
                if workload == "train":
                    shutil.rmtree(run_dir, ignore_errors=True)
                runs.append(measure(workload, keep, args.threads, run_dir))
            best = min(runs, key=lambda r: r["wall"])
            label = "kept (keep_freed_memory)" if keep else "returned (glibc's default)"
            if workload == "ig":  # both with freed memory kept: one pass of 800 images against passes of 64
                label = "kept; passes of PASS_ELEMENTS" if keep else "kept; one pass over every sample"
            print(f"| {workload} | {label} | {best['wall']:.2f} | {best['user']:.2f} | {best['sys']:.2f} | "
                  f"{best['peak_mb']:.0f} | {'the same' if best['digest'] == (first or best['digest']) else 'differs'} |")
            first = first or best["digest"]
    shutil.rmtree(scratch)


if __name__ == "__main__":
    main()
