"""Several FCN runs trained at once: one set of stacked parameters, one ``torch.func.vmap`` over
``functional_call`` per step, each member with its own learning rate, seed, batch order, stopping rule, history,
checkpoints and resumable state.

It is the one-run engine (:mod:`spurcomp.train.engine`) vectorised, not a second recipe: the same
initialisation (seeded by the run seed), the same batch orders (seeded by run seed and epoch), the same update
(``torch.optim.SGD``'s, momentum and weight decay included), the same per-step statistics, epoch rows, statuses
and files, written by the engine's own functions. Batched matrix products round differently from single ones, so
a member's numbers equal the one-run engine's to float tolerance, not bit for bit; a member that converges or
diverges stops updating and leaves the stack, and the others go on untouched.
"""
from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn
from torch.func import functional_call, stack_module_state, vmap

from spurcomp.data.io import Dataset
from spurcomp.metrics.accuracy import chunk_size
from spurcomp.models import build_model
from spurcomp.runtime import config_hash, logger, precision_context
from spurcomp.settings import NEUTRAL_VALUES, TrainingSetting
from spurcomp.study import RunStatus
from spurcomp.train.engine import (  # the one-run engine's per-run bookkeeping, shared: the same files and rules
    Progress,
    RunData,
    TrainOptions,
    conclude,
    end_epoch,
    epoch_order,
    epoch_line,
    epoch_status,
    initial_model,
    kept_if_finished,
    recipe_hash,
    resume,
    run_folders,
    run_identity,
    save_checkpoint,
    save_state,
    split_metrics,
    tests_epoch,
    write_outputs,
)

VECTORISABLE = ("fcn",)  # models without batch norm or dropout: a member's forward pass is a pure function


def not_vectorisable(model_specs: list[dict], settings: list[TrainingSetting]) -> str:
    """Why these runs cannot train at once ('' if they can): the stack does plain or momentum SGD with a constant
    learning rate on cross-entropy, for FCN members that differ in learning rate and seed only."""
    problems = []
    if any(spec != model_specs[0] for spec in model_specs):
        problems.append("every member must have the same model")
    if model_specs[0].get("arch") not in VECTORISABLE:
        problems.append(f"model {model_specs[0].get('arch')!r} cannot be vectorised (allowed: {list(VECTORISABLE)})")
    shared = {k: v for k, v in settings[0].knobs().items() if k != "lr"}
    if any({k: v for k, v in s.knobs().items() if k != "lr"} != shared for s in settings):
        problems.append("members may differ in learning rate and seed only")
    other = sorted(k for k, v in shared.items() if k in NEUTRAL_VALUES and k != "precision" and v != NEUTRAL_VALUES[k])
    if other:
        problems.append(f"knobs {other} are not vectorised (only SGD's lr, momentum and weight decay)")
    return "; ".join(problems)


@dataclass
class _Member:
    """One run of the stack: its own model and optimiser (the resumable state's format, and what the engine's
    writers take), its progress and where it lives."""

    index: int
    seed: int
    setting: TrainingSetting
    run_dir: Path
    state_path: Path
    identity: dict
    model: nn.Module
    optimizer: torch.optim.SGD
    progress: Progress
    keys: dict
    elapsed_before: float = 0.0
    loop_seconds: float = 0.0


def train_runs_vectorised(
    dataset: Dataset,
    model_specs: list[dict],
    settings: list[TrainingSetting],
    seeds: list[int],
    run_dirs: list[str | os.PathLike],
    options: list[TrainOptions],
    *,
    device: torch.device = torch.device("cpu"),
    keys: list[dict] | None = None,
) -> list[dict]:
    """Train the runs at once; each writes what :func:`spurcomp.train.engine.train_run` writes to its folder
    (its run.json records ``vectorised``: how many runs trained together). Returns the run summaries."""
    problems = not_vectorisable(model_specs, settings)
    if any(o != options[0] for o in options):
        problems = "; ".join(filter(None, [problems, "every member must have the same training options"]))
    if problems:
        raise ValueError("cannot train these runs at once: " + problems)
    options_ = options[0]
    keys = keys or [{} for _ in seeds]
    summaries: dict[int, dict] = {}
    members: list[_Member] = []
    for index, (spec, setting, seed, run_dir, run_keys) in enumerate(zip(model_specs, settings, seeds, run_dirs, keys)):
        run_dir, state_path, checkpoints = run_folders(run_dir)
        # the engine's identity, marked: a one-run state is never resumed here, nor the other way round
        identity = {**run_identity(spec, setting, seed, dataset, options_, device), "engine": "vectorised"}
        finished = kept_if_finished(run_dir, identity)
        if finished:
            summaries[index] = finished
            continue
        model = initial_model(spec, dataset, seed, device)
        optimizer = torch.optim.SGD(model.parameters(), lr=setting.lr, momentum=setting.momentum,
                                    weight_decay=setting.weight_decay)
        progress = resume(state_path, identity, checkpoints, model, optimizer, device)
        members.append(_Member(index, seed, setting, run_dir, state_path, identity, model, optimizer, progress,
                                run_keys, elapsed_before=progress.elapsed_s))
    if members:
        data = RunData.on(dataset, device)
        for member, summary in zip(members, _train_stack(members, data, dataset, options_)):
            summaries[member.index] = summary
    return [summaries[i] for i in range(len(seeds))]


def _train_stack(members: list[_Member], data: RunData, dataset: Dataset, options: TrainOptions) -> list[dict]:
    setting = members[0].setting  # all but lr are shared
    n = len(data.x_train)
    steps_per_epoch = math.ceil(n / setting.batch_size)
    divergence_loss = options.divergence_factor * math.log(dataset.num_classes)
    template = build_model(members[0].identity["model"], dataset.input_shape, dataset.num_classes).to("meta")
    for member in members:
        if member.progress.epoch == 0 and not member.progress.epoch_rows:
            for stale in (member.run_dir / "checkpoints").glob("epoch=*.pt"):
                stale.unlink()
            params = _stack(members=[member])[0]
            rows = _record_epochs([member], template, params, data, setting.precision, [0])
            _record_tests(rows, [0], template, params, data, setting.precision)
            if 0 in options.checkpoint_epochs:
                save_checkpoint(member.model, member.run_dir / "checkpoints", member.progress, 0)
    results: dict[int, dict] = {}
    active = [m for m in members if m.progress.status is None and m.progress.epoch < setting.max_epochs]
    for member in members:
        if member not in active:
            results[member.index] = _finish(member, data, dataset, options, steps_per_epoch, len(members))
    started = time.perf_counter()
    while active:
        params, momenta = _stack(active)
        lrs = torch.tensor([m.setting.lr for m in active], device=data.x_train.device)
        loop_started = time.perf_counter()
        finite = _train_epoch(active, template, params, momenta, lrs, data, setting)
        loop_seconds = time.perf_counter() - loop_started
        _unstack(active, params, momenta)
        epochs = [m.progress.epoch for m in active]
        rows = _record_epochs(active, template, params, data, setting.precision,
                              [e * steps_per_epoch for e in epochs])
        for member, row, steps_finite in zip(active, rows, finite):
            member.progress.status, member.progress.status_reason = epoch_status(row, steps_finite, divergence_loss)
        _record_tests(rows, [i for i, m in enumerate(active)
                             if tests_epoch(m.progress.epoch, m.progress.status, setting.max_epochs, options)],
                      template, params, data, setting.precision)
        still = []
        for member, row in zip(active, rows):
            progress = member.progress
            member.loop_seconds += loop_seconds / len(active)  # this member's share of the stacked loop
            progress.elapsed_s = member.elapsed_before + time.perf_counter() - started
            if progress.epoch in options.checkpoint_epochs or progress.status == RunStatus.CONVERGED.value:
                save_checkpoint(member.model, member.run_dir / "checkpoints", progress, progress.epoch)
            logger.info("%s epoch %d/%d  %s  %.1fs", member.run_dir, progress.epoch, setting.max_epochs,
                        epoch_line(row), progress.elapsed_s)
            if progress.epoch % options.state_every_epochs == 0 or progress.status:
                save_state(member.state_path, member.identity, member.model, member.optimizer, progress,
                            setting.max_epochs, row)
            if progress.status is None and progress.epoch < setting.max_epochs:
                still.append(member)
            else:
                results[member.index] = _finish(member, data, dataset, options, steps_per_epoch, len(members))
        active = still
    return [results[m.index] for m in members]


def _stack(members: list[_Member]) -> tuple[dict, dict]:
    """The members' parameters stacked along a new first axis (name -> tensor), and their momentum buffers
    (name -> tensor; empty without momentum, or before the first step)."""
    params, _ = stack_module_state([m.model for m in members])
    params = {name: p.detach().clone() for name, p in params.items()}
    momenta = {}
    for name, _ in members[0].model.named_parameters():
        buffers = [m.optimizer.state.get(dict(m.model.named_parameters())[name], {}).get("momentum_buffer")
                   for m in members]
        if all(b is not None for b in buffers):
            momenta[name] = torch.stack(buffers)
    return params, momenta


def _unstack(members: list[_Member], params: dict, momenta: dict) -> None:
    """Write each member's slice back into its own model and optimiser (checkpoints, state and outputs)."""
    with torch.no_grad():
        for i, member in enumerate(members):
            for name, p in member.model.named_parameters():
                p.copy_(params[name][i])
                if name in momenta:
                    member.optimizer.state[p]["momentum_buffer"] = momenta[name][i].clone()


def _train_epoch(members: list[_Member], template: nn.Module, params: dict, momenta: dict, lrs: torch.Tensor,
                 data: RunData, setting: TrainingSetting) -> list[bool]:
    """One epoch of SGD steps for every member (each in its own seeded order, from its own epoch), updating
    ``params`` and ``momenta`` in place; appends each member's per-step block and returns, per member, whether
    every step's loss was finite."""
    n = len(data.x_train)
    batch = setting.batch_size
    steps_per_epoch = math.ceil(n / batch)
    device = data.x_train.device
    orders = torch.stack([epoch_order(n, m.seed, m.progress.epoch, device) for m in members])  # (M, n)
    conflicting = data.conflicting_train

    # vmap of the module's own forward over the stacked parameters: batched matrix products; the backward pass is
    # ordinary autograd through them (measured faster here than torch.func.grad under vmap)
    forward = vmap(lambda member_params, x: functional_call(template, member_params, (x,)))
    forward_precision = precision_context(device, setting.precision)
    leaves = {name: p.requires_grad_() for name, p in params.items()}
    stats = []
    for step in range(steps_per_epoch):
        idx = orders[:, step * batch:(step + 1) * batch]  # (M, b)
        with forward_precision:  # the backward pass runs outside it
            logits = forward(leaves, data.x_train[idx])
            losses = nn.functional.cross_entropy(logits.flatten(0, 1), data.y_train[idx].flatten(),
                                                 reduction="none")
        logits, losses = logits.float(), losses.float().view(idx.shape)
        loss = losses.mean(1)  # (M,): each member's own mean loss; their sum has each member's gradient
        grads = dict(zip(leaves, torch.autograd.grad(loss.sum(), list(leaves.values()))))
        with torch.no_grad():
            param_norm = torch.sqrt(sum((p.flatten(1) ** 2).sum(1) for p in leaves.values()))
            correct = (logits.argmax(dim=2) == data.y_train[idx]).float()  # (M, b)
            stats.append(torch.stack([loss, (losses * conflicting[idx]).sum(1), param_norm, logits.norm(dim=2).mean(1),
                                      correct.sum(1), (correct * conflicting[idx]).sum(1)], dim=1))  # (M, 6)
            _sgd_step(leaves, grads, momenta, lrs, setting)
    for p in leaves.values():
        p.requires_grad_(False)
    raw = torch.stack(stats, dim=1).cpu().numpy()  # (M, steps, 6)
    in_order = conflicting[orders].cpu().numpy()  # (M, n): each member's BC flags in its batch order
    return [end_epoch(member.progress, raw[i], in_order[i], batch) for i, member in enumerate(members)]


def _sgd_step(params: dict, grads: dict, momenta: dict, lrs: torch.Tensor, setting: TrainingSetting) -> None:
    """``torch.optim.SGD``'s update, per member learning rate: weight decay added to the gradient, the momentum
    buffer started from the first gradient, then ``p -= lr * step``."""
    for name, p in params.items():
        g = grads[name]
        if setting.weight_decay:
            g = g.add(p, alpha=setting.weight_decay)
        if setting.momentum:
            if name not in momenta:
                momenta[name] = g.clone()
            else:
                momenta[name].mul_(setting.momentum).add_(g)
            g = momenta[name]
        p.sub_(lrs.view(-1, *[1] * (p.dim() - 1)) * g)


@torch.no_grad()
def _split_numbers(template: nn.Module, params: dict, x, y, b, precision: str) -> list[dict]:
    """Each stacked member's loss, accuracy and unbiased accuracy on one split, from one stacked forward pass."""
    forward = vmap(lambda member_params, inputs: functional_call(template, member_params, (inputs,)),
                   in_dims=(0, None))
    chunk = chunk_size(x)
    with precision_context(x.device, precision):
        logits = torch.cat([forward(params, x[i:i + chunk]) for i in range(0, len(x), chunk)], dim=1).float()
    return [split_metrics(member_logits, y, b) for member_logits in logits]


def _record_epochs(members: list[_Member], template: nn.Module, params: dict, data: RunData, precision: str,
                   steps: list[int]) -> list[dict]:
    """Each member's epoch row with the training set's numbers (the engine's ``_record_epoch``)."""
    rows = [{"scope": "epoch", "epoch": m.progress.epoch, "step": step} for m, step in zip(members, steps)]
    for row, numbers in zip(rows, _split_numbers(template, params, data.x_train, data.y_train, data.b_train,
                                                 precision)):
        row.update({f"train_{k}": v for k, v in numbers.items()})
    for member, row in zip(members, rows):
        member.progress.epoch_rows.append(row)
    return rows


def _record_tests(rows: list[dict], which: list[int], template: nn.Module, params: dict, data: RunData,
                  precision: str) -> None:
    """The test set's numbers added to the rows at positions ``which`` of the stack (the engine's
    ``record_test``, where ``tests_epoch`` says), from one forward pass of those members."""
    if not which:
        return
    index = torch.tensor(which, device=data.x_test.device)
    members_params = {name: p.index_select(0, index) for name, p in params.items()}
    for i, numbers in zip(which, _split_numbers(template, members_params, data.x_test, data.y_test, data.b_test,
                                                precision)):
        rows[i].update({f"test_{k}": v for k, v in numbers.items()})


def _finish(member: _Member, data: RunData, dataset: Dataset, options: TrainOptions, steps_per_epoch: int,
            stacked: int) -> dict:
    """The engine's ending for one member: not converged at max_epochs, the collapse check, the outputs."""
    progress = member.progress
    conclude(progress, member.model, data, member.setting.max_epochs, options.collapse_margin)
    return write_outputs(member.run_dir, member.model, dataset, member.identity["model"],
                          member.setting, member.seed, progress, member.keys,
                          torch.device(member.identity["device"]),
                          {"spec_hash": config_hash(member.identity), "recipe_hash": recipe_hash(member.identity),
                           "step_loop_seconds": round(member.loop_seconds, 3),
                           "steps": progress.epoch * steps_per_epoch, "vectorised": stacked})
