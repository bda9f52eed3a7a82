"""The training engine: SGD with a constant learning rate until 100% training accuracy by default; the other
optimisers, losses, penalties and schedules of a setting's knobs are what one step does
(:mod:`spurcomp.train.recipe`).

Data lives in tensors on the device and mini-batches are taken by index (a lazily read dataset's images are read
from their files for each batch, ahead of the step that needs them: :mod:`spurcomp.data.tensors`). Each epoch's
order comes from a generator seeded by (run seed, epoch), so a run resumed from its saved state at an epoch
boundary replays exactly the batches of an uninterrupted run. Per-step statistics are written into a preallocated tensor and
read back once per epoch, so the hot loop never synchronises with Python.

The per-run bookkeeping (identity, resumable state, checkpoints, the end of an epoch, statuses, the files a run
writes: the public functions below) is shared with the vectorised engine (:mod:`spurcomp.train.vectorised`), so a
change to a run's files or rules is made once.
"""
from __future__ import annotations

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
from tqdm import tqdm

from spurcomp.data.io import Dataset
from spurcomp.data.tensors import DeviceImages, batches_of, images_on
from spurcomp.metrics.accuracy import predict_logits, unbiased_accuracy
from spurcomp.models import build_model
from spurcomp.runtime import (atomic_torch_save, atomic_write_text, config_hash, derived_seed, images_last, logger,
                              package_versions, precision_context, temporary_sibling, tf32_allowed)
from spurcomp.metrics.representation import any_unit_active
from spurcomp.settings import TrainingSetting
from spurcomp.study import CHECKED_RUN_FILES, RUN_FILES, STEP_COLUMNS, RunStatus, damaged_run_files, file_digest
from spurcomp.train.recipe import build_optimizer, learning_rate, training_step




@dataclass
class TrainOptions:
    """How a run is stored and judged. All but ``state_every_epochs`` change what a run writes, so they are
    part of its identity (a resumable state saved under other options is never resumed)."""

    checkpoint_epochs: list[int] = field(default_factory=list)
    state_every_epochs: int = 1
    # the test set's pass after every epoch (True), or only where a number is kept: epoch 0, the checkpoint
    # epochs and the last epoch (False). Like ``state_every_epochs``, not part of the identity: no table, figure
    # or evaluation reads an epoch row's test columns, and the training is the same either way
    test_every_epoch: bool = False
    progress: bool = False  # a progress bar of the epochs on the terminal (the CLI's; never in a job's log)
    # an epoch whose mean training loss exceeds this many times ln(num_classes) (chance level) has exploded
    divergence_factor: float = 1000.0
    # a run ending with training accuracy at most this far above chance (or every unit dead) has collapsed
    collapse_margin: float = 0.02


@dataclass
class Progress:
    """Everything a resumed run needs beyond the model and optimiser: it is what the resumable state holds."""

    epoch: int = 0
    status: str | None = None
    epoch_rows: list[dict] = field(default_factory=list)
    step_blocks: list[np.ndarray] = field(default_factory=list)  # one step_table per epoch
    elapsed_s: float = 0.0
    checkpoints: list[str] = field(default_factory=list)  # file names saved so far, checked on resume
    status_reason: str = ""


@dataclass
class RunData:
    """The dataset on the device: labels as tensors, inputs as tensors or, for a lazily read dataset, as
    :class:`~spurcomp.data.tensors.DeviceImages` (read from their files when indexed); batches are taken by index."""

    x_train: torch.Tensor | DeviceImages
    y_train: torch.Tensor
    b_train: torch.Tensor
    x_test: torch.Tensor | DeviceImages
    y_test: torch.Tensor
    b_test: torch.Tensor
    conflicting_train: torch.Tensor  # 1.0 where a training sample is bias-conflicting (y != b)

    @classmethod
    def on(cls, dataset: Dataset, device: torch.device, channels_last: bool = False) -> "RunData":
        def labels(a):
            return torch.as_tensor(a, dtype=torch.long, device=device)

        train, test = dataset.train, dataset.test
        y, b = labels(train.y), labels(train.b)
        return cls(images_on(train.x, device, channels_last), y, b, images_on(test.x, device, channels_last),
                   labels(test.y), labels(test.b), (y != b).float())


def epoch_order(n: int, seed: int, epoch: int, device: torch.device) -> torch.Tensor:
    generator = torch.Generator().manual_seed(derived_seed("batch-order", seed, epoch))
    return torch.randperm(n, generator=generator).to(device)


def split_metrics(logits: torch.Tensor, y, b) -> dict:
    """An epoch row's numbers for one split from its float32 logits: loss, accuracy and unbiased accuracy."""
    correct = logits.argmax(dim=1) == y
    return {"loss": nn.functional.cross_entropy(logits, y).item(), "acc": correct.float().mean().item(),
            "unbiased_acc": unbiased_accuracy(correct, y, b)}


@torch.no_grad()
def _evaluate_split(model: nn.Module, x, y, b, precision: str) -> dict:
    with precision_context(x.device, precision):
        logits = predict_logits(model, x).float()
    return split_metrics(logits, y, b)


def _record_epoch(model: nn.Module, data: RunData, progress: Progress, step: int, precision: str) -> dict:
    """Append the epoch row for ``progress.epoch``: loss, accuracy and unbiased accuracy on the training set (what
    the stopping and divergence rules read), with the forward passes in the run's ``precision``; the test set's
    are added by :func:`record_test` where :func:`tests_epoch` says."""
    row = {"scope": "epoch", "epoch": progress.epoch, "step": step}
    row.update({f"train_{k}": v for k, v in
                _evaluate_split(model, data.x_train, data.y_train, data.b_train, precision).items()})
    progress.epoch_rows.append(row)
    return row


def record_test(model: nn.Module, data: RunData, row: dict, precision: str) -> None:
    """Add the test set's loss, accuracy and unbiased accuracy to an epoch row."""
    row.update({f"test_{k}": v for k, v in
                _evaluate_split(model, data.x_test, data.y_test, data.b_test, precision).items()})


def tests_epoch(epoch: int, status: str | None, max_epochs: int, options: TrainOptions) -> bool:
    """Whether a trained epoch's row gets the test set's numbers (epoch 0's always has them): every epoch with
    ``options.test_every_epoch``, else the checkpoint epochs and the run's last epoch (it stopped, or reached
    ``max_epochs``). An epoch row without them has NaN there; the test pass is a third of an image model's
    per-epoch passes at the default scale, and the evaluations measure the test set from the checkpoints and the
    final weights."""
    return options.test_every_epoch or epoch in options.checkpoint_epochs or status is not None or epoch >= max_epochs


def last_test_row(progress: Progress) -> dict:
    """The latest epoch row with the test set's numbers (epoch 0 always has them)."""
    return next(row for row in reversed(progress.epoch_rows) if "test_acc" in row)


def epoch_line(row: dict) -> str:
    """An epoch row for the log: the training set's numbers, and the test set's where the row has them."""
    line = f"train loss {row['train_loss']:.4f} acc {row['train_acc']:.4f}"
    if "test_acc" in row:
        line += f"  test acc {row['test_acc']:.4f} unbiased {row['test_unbiased_acc']:.4f}"
    return line


def run_identity(model_spec: dict, setting: TrainingSetting, seed: int, dataset: Dataset, options: TrainOptions,
              device: torch.device) -> dict:
    """Everything that changes what a run writes (run.json, history, checkpoints): a resumable state saved
    under another identity is never resumed."""
    return {"model": model_spec, "setting": setting.as_dict(), "seed": seed, "data": dataset.metadata,
            "checkpoint_epochs": sorted(options.checkpoint_epochs), "divergence_factor": options.divergence_factor,
            "collapse_margin": options.collapse_margin, "device": device.type}


def recipe_hash(identity: dict) -> str:
    """The identity's hash without the device: a run finished on a GPU is the same run on a laptop."""
    return config_hash({k: v for k, v in identity.items() if k != "device"})


def finished_run(run_dir: Path, identity: dict) -> dict | None:
    """The summary of the run finished in ``run_dir`` under ``identity`` (device aside), or None if its files or
    the checkpoints it lists are missing, or it is unreadable or from another identity."""
    if not all((run_dir / name).exists() for name in RUN_FILES.values()):
        return None
    try:
        summary = json.loads((run_dir / RUN_FILES["summary"]).read_text())
    except (OSError, ValueError):
        return None
    if summary.get("recipe_hash") != recipe_hash(identity):
        return None
    if not all((run_dir / "checkpoints" / name).exists() for name in summary.get("checkpoints", [])):
        return None
    damaged = damaged_run_files(run_dir, summary)
    if damaged:
        logger.warning("run %s is damaged (%s): its files are written again from its saved state", run_dir,
                       "; ".join(f"{name} {why}" for name, why in damaged.items()))
        return None
    return summary


def _set_aside(state_path: Path, why: str) -> None:
    corrupt = state_path.with_name(state_path.name + ".corrupt")
    os.replace(state_path, corrupt)
    logger.warning("resumable state %s is unreadable (%s): moved to %s; training starts fresh", state_path, why,
                   corrupt)


def resume(state_path: Path, identity: dict, checkpoint_dir: Path, model: nn.Module, optimizer, device) -> Progress:
    """The progress saved in ``state_path`` (model and optimiser loaded in place), or a fresh start when there is
    none, when it cannot be read (it is set aside), when it belongs to another identity, or when checkpoints it
    saved are gone."""
    if not state_path.exists():
        return Progress()
    try:
        state = torch.load(state_path, map_location=device, weights_only=False)
        saved = state.get("identity") or {}
        progress = Progress(**{k: state[k] for k in Progress.__dataclass_fields__ if k in state})
    except Exception as err:  # a truncated or overwritten file fails in many ways (pickle, zip, EOF, keys)
        _set_aside(state_path, f"{type(err).__name__}: {err}")
        return Progress()
    if saved != identity:
        differs = ", ".join(f"{key} {saved.get(key)!r} -> {identity[key]!r}" if key != "data" else "the dataset"
                            for key in identity if saved.get(key) != identity[key])
        logger.warning("resumable state %s belongs to another configuration (%s): training starts fresh",
                       state_path, differs)
        return Progress()
    missing = [name for name in progress.checkpoints if not (checkpoint_dir / name).exists()]
    if missing:
        logger.warning("resumable state %s saved checkpoints that are gone (%s): training starts fresh", state_path,
                       ", ".join(missing))
        return Progress()
    try:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
    except (KeyError, RuntimeError, ValueError) as err:
        _set_aside(state_path, f"{type(err).__name__}: {err}")
        return Progress()
    logger.info("resuming from %s at epoch %d", state_path, progress.epoch)
    return progress


def _train_epoch(model: nn.Module, optimizer, data: RunData, setting: TrainingSetting, seed: int,
                 progress: Progress) -> bool:
    """One epoch of SGD steps in the epoch's seeded order; appends its per-step block to ``progress`` and
    returns whether every step's loss was finite."""
    n = len(data.x_train)
    steps_per_epoch = math.ceil(n / setting.batch_size)
    order = epoch_order(n, seed, progress.epoch, data.x_train.device)
    conflicting = data.conflicting_train
    forward_precision = precision_context(data.x_train.device, setting.precision)  # reusable, one per epoch
    total_steps = setting.max_epochs * steps_per_epoch  # the schedule's horizon
    stats: list[torch.Tensor] = []
    chunks = [order[step * setting.batch_size:(step + 1) * setting.batch_size] for step in range(steps_per_epoch)]
    for step, (idx, x) in enumerate(zip(chunks, batches_of(data.x_train, chunks))):
        lr = learning_rate(setting, progress.epoch * steps_per_epoch + step, total_steps)
        losses, logits, param_norm = training_step(model, optimizer, x, data.y_train[idx], setting, lr,
                                                   forward_precision)
        # BC loss ratio from the per-sample losses the step already has (no extra forward pass);
        # 0-d tensors are stacked once per epoch, so the loop never waits on Python.
        correct = (logits.argmax(dim=1) == data.y_train[idx]).float()
        stats.append(torch.stack([losses.mean(), losses @ conflicting[idx], param_norm, logits.norm(dim=1).mean(),
                                  correct.sum(), correct @ conflicting[idx]]))
    raw = torch.stack(stats).cpu().numpy()  # per step: see step_table
    return end_epoch(progress, raw, conflicting[order].cpu().numpy(), setting.batch_size)


def end_epoch(progress: Progress, raw: np.ndarray, conflicting_in_order: np.ndarray, batch_size: int) -> bool:
    """Count the epoch and append its per-step block from the raw per-step numbers (:func:`step_table`) and the epoch's bias-conflicting flags in batch order; returns whether every step's loss
    was finite."""
    n = len(conflicting_in_order)
    bounds = np.minimum(np.arange(len(raw) + 1) * batch_size, n)
    cumulative = np.concatenate([[0.0], np.cumsum(conflicting_in_order)])
    progress.epoch += 1
    progress.step_blocks.append(step_table(raw, np.diff(bounds), np.diff(cumulative[bounds]), progress.epoch,
                                            (progress.epoch - 1) * len(raw)))
    # loss_ba / loss_bc are NaN by definition for a batch without such samples: only the loss itself counts
    return bool(np.isfinite(raw[:, 0]).all())


def save_state(state_path: Path, identity: dict, model: nn.Module, optimizer, progress: Progress, max_epochs: int,
                row: dict) -> None:
    """The resumable state after an epoch, and a few numbers beside it for `spurcomp status` (reading the state
    itself needs torch)."""
    atomic_torch_save({"identity": identity, "model": model.state_dict(), "optimizer": optimizer.state_dict(),
                        **vars(progress)}, state_path)
    tested = last_test_row(progress)
    atomic_write_text(state_path.with_name("progress.json"), json.dumps(
        {"epoch": progress.epoch, "max_epochs": max_epochs, "elapsed_s": round(progress.elapsed_s, 1),
         "train_acc": row["train_acc"], "test_unbiased_acc": tested["test_unbiased_acc"],
         "test_epoch": tested["epoch"]}))


def epoch_status(row: dict, steps_finite: bool, divergence_loss: float, epoch_rows: list[dict] = (),
                 post_fit_epochs: int = 0) -> tuple[str | None, str]:
    """The status an epoch ends a run with (None: training goes on), and why. A run converges at its first epoch
    at 100% training accuracy (among ``epoch_rows``, this one's included), or ``post_fit_epochs`` after it."""
    if not (steps_finite and math.isfinite(row["train_loss"])):
        return RunStatus.DIVERGED.value, f"the training loss became NaN or infinite in epoch {row['epoch']}"
    if row["train_loss"] > divergence_loss:
        return RunStatus.DIVERGED.value, (f"epoch {row['epoch']}'s training loss {row['train_loss']:.4g} exceeds "
                                          f"{divergence_loss:.4g} (divergence_factor x ln K)")
    fitted = next((r["epoch"] for r in [*epoch_rows, row] if r["train_acc"] == 1.0), None)
    if fitted is not None and row["epoch"] - fitted >= post_fit_epochs:
        more = f", then {post_fit_epochs} epochs more" if post_fit_epochs else ""
        return RunStatus.CONVERGED.value, f"100% training accuracy after epoch {fitted}{more}"
    return None, ""


def save_checkpoint(model: nn.Module, checkpoint_dir: Path, progress: Progress, epoch: int) -> None:
    name = f"epoch={epoch:05d}.pt"
    atomic_torch_save(model.state_dict(), checkpoint_dir / name)
    if name not in progress.checkpoints:
        progress.checkpoints.append(name)


def conclude(progress: Progress, model: nn.Module, data: RunData, max_epochs: int, collapse_margin: float) -> None:
    """A run's final status once training stopped: not converged if no epoch ended it, collapsed if it did not
    diverge but ended at chance (:func:`collapse_reason`)."""
    fitted = next((row["epoch"] for row in progress.epoch_rows if row["train_acc"] == 1.0), None)
    if progress.status is None and fitted is not None:  # trained on past the fit (post_fit_epochs) up to the cap
        progress.status = RunStatus.CONVERGED.value
        progress.status_reason = (f"100% training accuracy after epoch {fitted}, then trained on to max_epochs "
                                  f"({max_epochs})")
    elif progress.status is None:
        progress.status = RunStatus.NOT_CONVERGED.value
        progress.status_reason = f"max_epochs ({max_epochs}) reached before 100% training accuracy"
    if progress.status != RunStatus.DIVERGED.value:
        collapse = collapse_reason(model, data, progress.epoch_rows[-1]["train_acc"], collapse_margin)
        if collapse:
            progress.status, progress.status_reason = RunStatus.COLLAPSED.value, collapse


def collapse_reason(model: nn.Module, data: RunData, final_train_acc: float, margin: float) -> str:
    """Why a run that did not diverge has collapsed ('' if it has not): its training accuracy is within
    ``margin`` of chance (the majority class's share), or no unit of its representation is ever active."""
    chance = torch.bincount(data.y_train).max().item() / len(data.y_train)
    if final_train_acc <= chance + margin:
        return (f"final training accuracy {final_train_acc:.4f} is within {margin} of chance "
                f"({chance:.4f}, the majority class's share)")
    if not any_unit_active(model, data.x_train):
        return "every unit of the representation is dead (never active) on the training set"
    return ""


def _history(progress: Progress) -> pd.DataFrame:
    history = pd.concat(
        [pd.DataFrame(progress.epoch_rows)]
        # a block resumed from a state saved before a column existed is narrower: its missing columns are NaN
        + [pd.DataFrame(block, columns=["epoch", "step", *STEP_COLUMNS][:block.shape[1]]).assign(scope="step")
           for block in progress.step_blocks],
        ignore_index=True,
    )
    history[["epoch", "step"]] = history[["epoch", "step"]].astype("int64")
    return history


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
    started again with the same inputs continues from it. ``keys`` (dataset, model, setting, seed) are written
    to ``run.json`` as ``run``. Returns the run summary written to ``run.json``.
    """
    options = options or TrainOptions()
    run_dir, state_path, checkpoint_dir = run_folders(run_dir, state_path)
    identity = run_identity(model_spec, setting, seed, dataset, options, device)
    finished = kept_if_finished(run_dir, identity)
    if finished:
        return finished

    data, model, optimizer, progress = _set_up(dataset, model_spec, setting, seed, device, identity, state_path,
                                               checkpoint_dir, options)
    steps_per_epoch = math.ceil(len(data.x_train) / setting.batch_size)
    elapsed_before, started = progress.elapsed_s, time.perf_counter()
    loop_seconds = _train_epochs(model, optimizer, data, setting, seed, progress, options, identity,
                                 (run_dir, state_path, checkpoint_dir), dataset.num_classes, elapsed_before, started)
    conclude(progress, model, data, setting.max_epochs, options.collapse_margin)
    progress.elapsed_s = elapsed_before + time.perf_counter() - started
    return write_outputs(run_dir, model, dataset, model_spec, setting, seed, progress, keys or {}, device,
                          {"spec_hash": config_hash(identity), "recipe_hash": recipe_hash(identity),
                           "step_loop_seconds": round(loop_seconds, 3),
                           "steps": progress.epoch * steps_per_epoch})


def run_folders(run_dir, state_path=None) -> tuple[Path, Path, Path]:
    """A run's folder, its resumable state's path (default ``RUN/resume/state.pt``) and its checkpoint folder,
    created where missing: where both engines write a run."""
    run_dir = Path(run_dir)
    state_path = Path(state_path) if state_path else run_dir / "resume" / "state.pt"
    checkpoint_dir = run_dir / "checkpoints"
    for folder in (run_dir, state_path.parent, checkpoint_dir):
        folder.mkdir(parents=True, exist_ok=True)
    return run_dir, state_path, checkpoint_dir


def kept_if_finished(run_dir: Path, identity: dict) -> dict | None:
    """The summary of a run already finished under ``identity``, said to be kept (a job that trains several runs
    is rerun when one of them is missing: the others are left as they are); None where it must be trained."""
    finished = finished_run(run_dir, identity)
    if finished:
        logger.info("run %s already finished (%s): kept as it is", run_dir, finished["status"])
    return finished


def initial_model(model_spec: dict, dataset: Dataset, seed: int, device) -> nn.Module:
    """A run's model at initialisation: seeded from the run's seed, on ``device``."""
    torch.manual_seed(derived_seed("init", seed))
    return build_model(model_spec, dataset.input_shape, dataset.num_classes).to(device)


def _set_up(dataset, model_spec, setting, seed, device, identity, state_path, checkpoint_dir, options):
    """The run's data on the device, its model and optimiser, and its progress: resumed from its saved state, or
    a fresh start (epoch 0 recorded, checkpoints of an earlier configuration of the folder removed)."""
    channels_last = images_last(device, dataset.input_shape, setting.precision, training=True)
    data = RunData.on(dataset, device, channels_last)
    model = initial_model(model_spec, dataset, seed, device)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    optimizer = build_optimizer(model.parameters(), setting)
    progress = resume(state_path, identity, checkpoint_dir, model, optimizer, device)
    if progress.epoch == 0 and not progress.epoch_rows:
        for stale in checkpoint_dir.glob("epoch=*.pt"):
            stale.unlink()
        record_test(model, data, _record_epoch(model, data, progress, 0, setting.precision), setting.precision)
        if 0 in options.checkpoint_epochs:
            save_checkpoint(model, checkpoint_dir, progress, 0)
    return data, model, optimizer, progress


def _train_epochs(model, optimizer, data, setting, seed, progress, options, identity, paths, num_classes,
                  elapsed_before: float, started: float) -> float:
    """Epochs until the run converges, diverges or reaches max_epochs, each recorded, checkpointed where asked
    and saved to the resumable state; the seconds spent in the step loops (benchmarks read them)."""
    run_dir, state_path, checkpoint_dir = paths
    steps_per_epoch = math.ceil(len(data.x_train) / setting.batch_size)
    divergence_loss = options.divergence_factor * math.log(num_classes)
    loop_seconds = 0.0
    model.train()
    bar = tqdm(total=setting.max_epochs, initial=progress.epoch, desc=str(run_dir), unit="epoch",
               disable=not options.progress, leave=True)
    while progress.status is None and progress.epoch < setting.max_epochs:
        loop_started = time.perf_counter()
        steps_finite = _train_epoch(model, optimizer, data, setting, seed, progress)
        loop_seconds += time.perf_counter() - loop_started
        epoch = progress.epoch
        row = _record_epoch(model, data, progress, epoch * steps_per_epoch, setting.precision)
        progress.status, progress.status_reason = epoch_status(row, steps_finite, divergence_loss,
                                                               progress.epoch_rows, setting.post_fit_epochs)
        if tests_epoch(epoch, progress.status, setting.max_epochs, options):
            record_test(model, data, row, setting.precision)
        progress.elapsed_s = elapsed_before + time.perf_counter() - started
        if epoch in options.checkpoint_epochs or progress.status == RunStatus.CONVERGED.value:
            save_checkpoint(model, checkpoint_dir, progress, epoch)
        logger.info("epoch %d/%d  %s  %.1fs", epoch, setting.max_epochs, epoch_line(row), progress.elapsed_s)
        if epoch % options.state_every_epochs == 0 or progress.status:
            save_state(state_path, identity, model, optimizer, progress, setting.max_epochs, row)
        bar.set_postfix(train_acc=f"{row['train_acc']:.3f}",
                        unbiased=f"{last_test_row(progress)['test_unbiased_acc']:.3f}")
        bar.update()
    bar.close()
    return loop_seconds


def rebuild_run(dataset: Dataset, run_dir: str | os.PathLike, device: torch.device) -> dict | None:
    """Write a finished run's files again from its resumable state (``resume/state.pt``), as its train job would
    (a damaged weights or history file, found by the job that reads them); None where the state is gone, cannot
    be read, or was saved on another kind of device (rebuilding would train the run again)."""
    run_dir = Path(run_dir)
    state_path = run_dir / "resume" / "state.pt"
    try:
        state = torch.load(state_path, map_location=device, weights_only=False)
        identity = state["identity"]
        keys = json.loads((run_dir / RUN_FILES["summary"]).read_text())["run"]
    except Exception as err:  # gone, truncated, or from before the identity was saved
        logger.warning("run %s cannot be rebuilt from %s (%s: %s)", run_dir, state_path, type(err).__name__, err)
        return None
    if identity.get("device") != device.type or identity.get("data") != dataset.metadata:
        logger.warning("run %s cannot be rebuilt here: its state was saved for another device or dataset", run_dir)
        return None
    from spurcomp.settings import setting_from_dict

    options = TrainOptions(checkpoint_epochs=list(identity["checkpoint_epochs"]),
                           divergence_factor=identity["divergence_factor"], collapse_margin=identity["collapse_margin"])
    logger.warning("run %s: rebuilding its files from its saved state %s", run_dir, state_path)
    return train_run(dataset, identity["model"], setting_from_dict(identity["setting"]), identity["seed"], run_dir,
                     options=options, device=device, keys=keys)


def write_outputs(run_dir: Path, model: nn.Module, dataset: Dataset, model_spec: dict, setting: TrainingSetting,
                   seed: int, progress: Progress, keys: dict, device, extra: dict) -> dict:
    """``history.parquet``, ``weights.pt`` and, last (Snakemake's sign of a finished run), ``run.json``."""
    history = run_dir / "history.parquet"
    _history(progress).to_parquet(temporary_sibling(history), index=False)
    os.replace(temporary_sibling(history), history)
    final = progress.epoch_rows[-1]  # the last epoch always has the test set's numbers (tests_epoch)
    summary = {
        "run": keys,
        "status": progress.status,
        "status_reason": progress.status_reason,
        "epochs": progress.epoch,
        "steps": extra["steps"],
        "final_train_acc": final["train_acc"],
        "final_test_unbiased_acc": final["test_unbiased_acc"],
        "setting": setting.as_dict(),
        "precision": setting.precision,
        "tf32": tf32_allowed(device),  # None on the CPU
        "seed": seed,
        "model": model_spec,
        "device": str(device),
        "threads": torch.get_num_threads(),
        "train_seconds": round(progress.elapsed_s, 3),
        "step_loop_seconds": extra["step_loop_seconds"],  # this session's share, when resumed
        "vectorised": extra.get("vectorised"),  # how many runs trained at once (None: the one-run engine)
        "checkpoints": sorted(progress.checkpoints),
        "data": {**{k: dataset.metadata.get(k) for k in ("generator", "version", "source", "rho_train", "rho_test",
                                                         "seed", "degraded")},  # degraded: what a fallback replaced
                 "n_train": len(dataset.train.x)},
        "spec_hash": extra["spec_hash"],
        "recipe_hash": extra["recipe_hash"],  # the spec without the device: a finished run is kept across machines
        "versions": package_versions(),
    }
    atomic_torch_save({"model": model.state_dict(), "model_spec": model_spec, "input_shape": dataset.input_shape,
                        "num_classes": dataset.num_classes}, run_dir / "weights.pt")
    # what was written, to tell a damaged file later (spurcomp.study.damaged_run_files)
    summary["files"] = {RUN_FILES[kind]: file_digest(run_dir / RUN_FILES[kind]) for kind in CHECKED_RUN_FILES}
    atomic_write_text(run_dir / "run.json", json.dumps(summary, indent=2))
    logger.info("run finished: %s after %d epochs (%.1fs): %s", progress.status, progress.epoch, progress.elapsed_s,
                progress.status_reason)
    return summary


def step_table(stats: np.ndarray, batch_sizes: np.ndarray, n_bc: np.ndarray, epoch: int,
                first_step: int) -> np.ndarray:
    """Per-step rows [epoch, step, *STEP_COLUMNS] from the raw per-step [mean loss, BC loss sum, parameter norm,
    logit norm, correct count, BC correct count], the batch sizes and their BC counts."""
    loss, bc_total, param_norm, logit_norm, correct, bc_correct = stats.T
    total = loss * batch_sizes
    n_ba = batch_sizes - n_bc
    with np.errstate(invalid="ignore", divide="ignore"):
        loss_bc = np.where(n_bc > 0, bc_total / n_bc, np.nan)
        loss_ba = np.where(n_ba > 0, (total - bc_total) / n_ba, np.nan)
        ratio = np.where(total > 0, bc_total / total, np.nan)
        acc_bc = np.where(n_bc > 0, bc_correct / n_bc, np.nan)
        acc_ba = np.where(n_ba > 0, (correct - bc_correct) / n_ba, np.nan)
    steps = np.arange(first_step + 1, first_step + 1 + len(stats))
    return np.stack([np.full(len(stats), epoch), steps, loss, loss_ba, loss_bc, ratio, param_norm, logit_norm,
                     acc_ba, acc_bc], axis=1)
