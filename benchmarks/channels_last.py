"""What the memory layout and the chunk size of forward passes cost on a CPU, for the default scale's image models
(VGG11 and ResNet18 at 1/8 width, 3 x 32 x 32 images, batch 100): ms per SGD step, and seconds per evaluation pass
over 3,000 images (an epoch row's training and test splits) in chunks of 2,048 and 512, each in the default
(contiguous) layout and channels-last (``runtime.images_last``; ``metrics.accuracy.chunk_size``). The last column
is the largest difference of the logits from the contiguous layout's, on the same weights.

    python benchmarks/channels_last.py [--threads 1] [--repeats 20]
"""
from __future__ import annotations

import argparse
import time

import torch

from spurcomp.metrics.accuracy import predict_logits
from spurcomp.models import build_model
from spurcomp.runtime import setup_torch

MODELS = {"VGG11 x1/8": {"arch": "cnn", "width": 0.125},
          "ResNet18 x1/8": {"arch": "resnet", "depth": "resnet18", "width": 0.125}}
SHAPE = (3, 32, 32)


def _seconds(work, repeats: int) -> float:
    work()  # the first call pays for allocations and kernel choices
    started = time.perf_counter()
    for _ in range(repeats):
        work()
    return (time.perf_counter() - started) / repeats


def measure(spec: dict, last: bool, repeats: int) -> dict:
    layout = torch.channels_last if last else torch.contiguous_format
    torch.manual_seed(0)
    model = build_model(spec, SHAPE, 10).to(memory_format=layout)
    batch = torch.randn(100, *SHAPE).contiguous(memory_format=layout)
    labels = torch.randint(0, 10, (100,))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)

    def step():
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(model(batch), labels).backward()
        optimizer.step()

    row = {"step ms": 1000 * _seconds(step, repeats)}
    images = torch.randn(3000, *SHAPE, generator=torch.Generator().manual_seed(1)).contiguous(memory_format=layout)
    for chunk in (2048, 512):
        row[f"eval s, chunks of {chunk}"] = _seconds(lambda: predict_logits(model, images, chunk), max(1, repeats // 5))
    return row, model, images


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args(argv)
    setup_torch(args.threads, torch.device("cpu"))
    print(f"CPU, {args.threads} thread(s), torch {torch.__version__}\n")
    print("| model | layout | step ms | eval s, chunks of 2048 | eval s, chunks of 512 | largest logit change |")
    print("|---|---|---|---|---|---|")
    for name, spec in MODELS.items():
        reference = None
        for last in (False, True):
            row, model, images = measure(spec, last, args.repeats)
            if reference is None:
                reference = (model.state_dict(), predict_logits(model, images))
                change = 0.0
            else:
                model.load_state_dict(reference[0])
                change = (predict_logits(model, images) - reference[1]).abs().max().item()
            print(f"| {name} | {'channels-last' if last else 'contiguous'} | {row['step ms']:.1f} | "
                  f"{row['eval s, chunks of 2048']:.3f} | {row['eval s, chunks of 512']:.3f} | {change:.1e} |")


if __name__ == "__main__":
    main()
