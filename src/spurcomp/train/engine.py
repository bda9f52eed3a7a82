"""The training engine: plain SGD with a constant learning rate until 100% training accuracy.

Data lives in tensors on the device and mini-batches are taken by index. Each epoch's order comes from a
generator seeded by (run seed, epoch), so a run resumed from its saved state at an epoch boundary replays
exactly the batches of an uninterrupted run. Per-step statistics are written into a preallocated tensor and
read back once per epoch, so the hot loop never synchronises with Python.
"""
from __future__ import annotations

import enum
import json
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn

from spurcomp.data.io import Dataset
from spurcomp.metrics.accuracy import predict_logits, unbiased_accuracy
from spurcomp.models import build_model
from spurcomp.runtime import config_hash, derived_seed, logger, package_versions
from spurcomp.settings import TrainingSetting


class RunStatus(str, enum.Enum):
    CONVERGED = "converged"          # reached 100% training accuracy
    NOT_CONVERGED = "not_converged"  # hit max_epochs first
    DIVERGED = "diverged"            # loss became NaN/inf or exploded


STEP_COLUMNS = ("loss", "loss_ba", "loss_bc", "bc_loss_ratio", "param_norm", "logit_norm")


@dataclass
class TrainOptions:
    """What changes how a run is stored or watched, but never its numbers."""

    checkpoint_epochs: list[int] = field(default_factory=list)
    state_every_epochs: int = 1
    # an epoch whose mean training loss exceeds this many times ln(num_classes) (chance level) has exploded
    divergence_factor: float = 1000.0
    log_every_epochs: int = 1


def _epoch_order(n: int, seed: int, epoch: int, device: torch.device) -> torch.Tensor:
    generator = torch.Generator().manual_seed(derived_seed("batch-order", seed, epoch))
    return torch.randperm(n, generator=generator).to(device)


def _atomic_torch_save(obj, path: Path) -> None:
    tmp = path.with_name(path.name + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


@torch.no_grad()
def _evaluate_split(model: nn.Module, x, y, b) -> dict:
    logits = predict_logits(model, x)
    loss = nn.functional.cross_entropy(logits, y).item()
    correct = logits.argmax(dim=1) == y
    return {"loss": loss, "acc": correct.float().mean().item(), "unbiased_acc": unbiased_accuracy(correct, y, b)}


def train_run(
    dataset: Dataset,
    model_spec: dict,
    setting: TrainingSetting,
    seed: int,
    run_dir: str | os.PathLike,
    *,
    options: TrainOptions | None = None,
    state_path: str | os.PathLike | None = None,
    device: torch.device = torch.device("cpu"),
    keys: dict | None = None,
) -> dict:
    """Train one run and write ``weights.pt``, ``history.parquet``, ``run.json`` and ``checkpoints/`` to
    ``run_dir``. ``state_path`` holds the resumable state (default ``run_dir/resume/state.pt``); a run
    started again with the same inputs continues from it. Returns the run summary written to ``run.json``.
    """
    options = options or TrainOptions()
    run_dir = Path(run_dir)
    state_path = Path(state_path) if state_path else run_dir / "resume" / "state.pt"
    checkpoint_dir = run_dir / "checkpoints"
    for folder in (run_dir, state_path.parent, checkpoint_dir):
        folder.mkdir(parents=True, exist_ok=True)

    spec = {"model": model_spec, "setting": setting.as_dict(), "seed": seed, "data": dataset.metadata}
    spec_hash = config_hash(spec)

    to = lambda a, dtype: torch.as_tensor(a, dtype=dtype, device=device)  # noqa: E731
    x_train, y_train, b_train = to(dataset.train.x, torch.float32), to(dataset.train.y, torch.long), to(dataset.train.b, torch.long)
    x_test, y_test, b_test = to(dataset.test.x, torch.float32), to(dataset.test.y, torch.long), to(dataset.test.b, torch.long)
    conflicting_train = (y_train != b_train).float()
    n = len(x_train)
    steps_per_epoch = math.ceil(n / setting.batch_size)

    torch.manual_seed(derived_seed("init", seed))
    model = build_model(model_spec, dataset.input_shape, dataset.num_classes).to(device)
    optimizer = torch.optim.SGD(model.parameters(), lr=setting.lr, momentum=setting.momentum,
                                weight_decay=setting.weight_decay)
    params = [p for p in model.parameters()]

    epoch_rows: list[dict] = []
    step_blocks: list[np.ndarray] = []
    start_epoch, elapsed_before = 0, 0.0
    status = None
    if state_path.exists():
        state = torch.load(state_path, map_location=device, weights_only=False)
        if state.get("spec_hash") == spec_hash:
            model.load_state_dict(state["model"])
            optimizer.load_state_dict(state["optimizer"])
            epoch_rows, step_blocks = state["epoch_rows"], state["step_blocks"]
            start_epoch, elapsed_before = state["epoch"], state["elapsed_s"]
            status = state.get("status")
            logger.info("resuming from %s at epoch %d", state_path, start_epoch)
        else:
            logger.warning("ignoring resumable state %s: it belongs to another configuration", state_path)

    def save_checkpoint(epoch: int) -> None:
        _atomic_torch_save(model.state_dict(), checkpoint_dir / f"epoch={epoch:05d}.pt")

    def record_epoch(epoch: int, step: int) -> dict:
        row = {"scope": "epoch", "epoch": epoch, "step": step}
        for split, tensors in (("train", (x_train, y_train, b_train)), ("test", (x_test, y_test, b_test))):
            row.update({f"{split}_{k}": v for k, v in _evaluate_split(model, *tensors).items()})
        epoch_rows.append(row)
        return row

    if start_epoch == 0 and not epoch_rows:
        # a fresh start: checkpoints left by an earlier configuration of this run folder are not ours
        for stale in checkpoint_dir.glob("epoch=*.pt"):
            stale.unlink()
        record_epoch(0, 0)
        if 0 in options.checkpoint_epochs:
            save_checkpoint(0)

    started = time.perf_counter()
    loop_seconds = 0.0  # time in the SGD step loop itself (benchmarks/train_throughput.py reads it)
    chance_loss = math.log(dataset.num_classes)
    epoch = start_epoch
    model.train()
    while status is None and epoch < setting.max_epochs:
        order = _epoch_order(n, seed, epoch, device)
        stats: list[torch.Tensor] = []
        loop_started = time.perf_counter()
        for step in range(steps_per_epoch):
            idx = order[step * setting.batch_size:(step + 1) * setting.batch_size]
            logits = model(x_train[idx])
            losses = nn.functional.cross_entropy(logits, y_train[idx], reduction="none")
            loss = losses.mean()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            with torch.no_grad():
                # BC loss ratio from the per-sample losses the step already has (no extra forward pass);
                # 0-d tensors are stacked once per epoch, so the loop never waits on Python.
                stats.append(torch.stack([loss, losses @ conflicting_train[idx],
                                          torch.nn.utils.get_total_norm(params), logits.norm(dim=1).mean()]))
            optimizer.step()
        loop_seconds += time.perf_counter() - loop_started
        epoch += 1
        bounds = np.minimum(np.arange(steps_per_epoch + 1) * setting.batch_size, n)
        conflicting_in_order = np.concatenate([[0.0], np.cumsum(conflicting_train[order].cpu().numpy())])
        step_blocks.append(_step_table(torch.stack(stats).cpu().numpy(), np.diff(bounds),
                                       np.diff(conflicting_in_order[bounds]), epoch, (epoch - 1) * steps_per_epoch))
        row = record_epoch(epoch, epoch * steps_per_epoch)
        # loss_ba / loss_bc are NaN by definition for a batch without such samples: only the loss itself counts
        step_losses = step_blocks[-1][:, 2 + STEP_COLUMNS.index("loss")]
        if not (np.isfinite(step_losses).all() and math.isfinite(row["train_loss"])) \
                or row["train_loss"] > options.divergence_factor * chance_loss:
            status = RunStatus.DIVERGED.value
        elif row["train_acc"] == 1.0:
            status = RunStatus.CONVERGED.value
        if epoch in options.checkpoint_epochs or status == RunStatus.CONVERGED.value:
            save_checkpoint(epoch)
        if epoch % options.log_every_epochs == 0 or status:
            logger.info(
                "epoch %d/%d  train loss %.4f acc %.4f  test acc %.4f unbiased %.4f  %.1fs",
                epoch, setting.max_epochs, row["train_loss"], row["train_acc"], row["test_acc"],
                row["test_unbiased_acc"], elapsed_before + time.perf_counter() - started,
            )
        if epoch % options.state_every_epochs == 0 or status:
            _atomic_torch_save({
                "spec_hash": spec_hash, "epoch": epoch, "status": status,
                "model": model.state_dict(), "optimizer": optimizer.state_dict(),
                "epoch_rows": epoch_rows, "step_blocks": step_blocks,
                "elapsed_s": elapsed_before + time.perf_counter() - started,
            }, state_path)
    status = status or RunStatus.NOT_CONVERGED.value
    elapsed = elapsed_before + time.perf_counter() - started

    history = pd.concat(
        [pd.DataFrame(epoch_rows)] + [pd.DataFrame(block, columns=["epoch", "step", *STEP_COLUMNS]).assign(scope="step")
                                      for block in step_blocks],
        ignore_index=True,
    )
    history[["epoch", "step"]] = history[["epoch", "step"]].astype("int64")
    history.to_parquet(run_dir / "history.parquet", index=False)
    checkpoints = sorted(p.name for p in checkpoint_dir.glob("epoch=*.pt"))
    final = epoch_rows[-1]
    summary = {
        **(keys or {}),
        "status": status,
        "epochs": epoch,
        "steps": epoch * steps_per_epoch,
        "final_train_acc": final["train_acc"],
        "final_test_unbiased_acc": final["test_unbiased_acc"],
        "setting": setting.as_dict(),
        "seed": seed,
        "model": model_spec,
        "device": str(device),
        "threads": torch.get_num_threads(),
        "train_seconds": round(elapsed, 3),
        "step_loop_seconds": round(loop_seconds, 3),  # this session's share, when resumed
        "checkpoints": checkpoints,
        "data": {k: dataset.metadata.get(k) for k in ("generator", "version", "source", "rho_train", "rho_test", "seed")},
        "spec_hash": spec_hash,
        "versions": package_versions(),
    }
    torch.save({"model": model.state_dict(), "model_spec": model_spec, "input_shape": dataset.input_shape,
                "num_classes": dataset.num_classes}, run_dir / "weights.pt")
    (run_dir / "run.json").write_text(json.dumps(summary, indent=2))
    logger.info("run finished: %s after %d epochs (%.1fs)", status, epoch, elapsed)
    return summary


def _step_table(stats: np.ndarray, batch_sizes: np.ndarray, n_bc: np.ndarray, epoch: int,
                first_step: int) -> np.ndarray:
    """Per-step rows [epoch, step, loss, loss_ba, loss_bc, bc_loss_ratio, param_norm, logit_norm] from the raw
    per-step [mean loss, BC loss sum, parameter norm, logit norm], the batch sizes and their BC counts."""
    loss, bc_total, param_norm, logit_norm = stats.T
    total = loss * batch_sizes
    with np.errstate(invalid="ignore", divide="ignore"):
        loss_bc = np.where(n_bc > 0, bc_total / n_bc, np.nan)
        loss_ba = np.where(batch_sizes > n_bc, (total - bc_total) / (batch_sizes - n_bc), np.nan)
        ratio = np.where(total > 0, bc_total / total, np.nan)
    steps = np.arange(first_step + 1, first_step + 1 + len(stats))
    return np.stack([np.full(len(stats), epoch), steps, loss, loss_ba, loss_bc, ratio, param_norm, logit_norm], axis=1)
