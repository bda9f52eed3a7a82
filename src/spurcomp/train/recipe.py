"""What one training step does under a setting's knobs: the loss (cross-entropy or focal), the L1/L2 penalties,
the optimiser (SGD with momentum or Nesterov, Adam, AdamW, PSGD), the learning-rate schedule and ASAM's two-step
update. The engine's step loop calls :func:`training_step`; every knob at its neutral value gives plain SGD on
cross-entropy with a constant learning rate, bit for bit the engine's step before the knobs existed.
"""
from __future__ import annotations

import copy
import math
import warnings

import torch
from torch import nn

from spurcomp.settings import TrainingSetting

# ASAM's eta (Kwon et al. 2021, their code's default): T_w = |w| + eta for weights, so that a zero weight still moves
ASAM_ETA = 0.01
# warmup-stable-decay (Hu et al. 2024, MiniCPM): linear warmup over the first 5% of steps, then constant, then a
# linear decay to 0 over the last 10% (they found 10% of decay enough)
WSD_WARMUP, WSD_DECAY = 0.05, 0.10


def per_sample_loss(logits: torch.Tensor, y: torch.Tensor, focal_gamma: float = 0.0) -> torch.Tensor:
    """Cross-entropy per sample, or focal loss -(1 - p_y)^gamma log p_y (Lin et al. 2017); gamma 0 returns
    cross-entropy itself (the same kernel, so the same bits)."""
    ce = nn.functional.cross_entropy(logits, y, reduction="none")
    if focal_gamma == 0:
        return ce
    p_true = torch.exp(-ce)
    return (1 - p_true).pow(focal_gamma) * ce


def penalty(params, setting: TrainingSetting) -> torch.Tensor | float:
    """l1 * sum |w| + l2 / 2 * sum w^2 over every parameter (0 when both are off)."""
    total: torch.Tensor | float = 0.0
    if setting.l1:
        total = total + setting.l1 * sum(p.abs().sum() for p in params)
    if setting.l2:
        total = total + setting.l2 / 2 * sum(p.pow(2).sum() for p in params)
    return total


def learning_rate(setting: TrainingSetting, step: int, total_steps: int) -> float:
    """The learning rate of step ``step`` (0-based) of ``total_steps`` (max_epochs x steps per epoch)."""
    if setting.schedule == "constant":
        return setting.lr
    progress = step / max(total_steps, 1)
    if setting.schedule == "cosine":  # Loshchilov & Hutter 2017, without restarts, to 0
        return setting.lr * 0.5 * (1 + math.cos(math.pi * progress))
    if setting.schedule == "wsd":
        if progress < WSD_WARMUP:
            return setting.lr * (step + 1) / (WSD_WARMUP * total_steps)
        if progress >= 1 - WSD_DECAY:
            return setting.lr * (1 - progress) / WSD_DECAY
        return setting.lr
    raise ValueError(f"unknown schedule {setting.schedule!r}")


class PSGD(torch.optim.Optimizer):
    """psgd_torch's Kron preconditioner (Li 2018, the paper's [42], by its author), gradient-whitening type, behind
    torch's optimizer interface so that the engine steps, saves and resumes it like the others. Kron draws its
    random probe vectors from torch's global generator: it gets a generator state of its own (seeded from the
    global one when built, saved with the optimiser), so runs resume bit for bit and nothing else's draws move."""

    def __init__(self, params, lr: float):
        with warnings.catch_warnings():  # psgd_torch's import warns about torch.jit.script: not ours to fix
            warnings.simplefilter("ignore", FutureWarning)
            from psgd_torch import Kron
        params = list(params)
        super().__init__(params, {"lr": lr})
        self.kron = Kron(params, preconditioner_init_scale=1.0, lr_params=lr, preconditioner_type="whitening")
        self.devices = sorted({p.device.index for p in params if p.device.type == "cuda"})
        self.rng = self._rng_state()

    def _rng_state(self) -> dict:
        return {"cpu": torch.random.get_rng_state(), "cuda": [torch.cuda.get_rng_state(d) for d in self.devices]}

    @torch.no_grad()
    def step(self, closure=None):
        params = self.kron._params_with_grad
        grads = [p.grad.detach().clone() for p in params]
        self.kron.lr_params = self.param_groups[0]["lr"]
        with torch.random.fork_rng(devices=self.devices):  # the global generators are restored afterwards
            torch.random.set_rng_state(self.rng["cpu"])
            for device, state in zip(self.devices, self.rng["cuda"]):
                torch.cuda.set_rng_state(state, device)
            # Kron takes the gradients itself from a closure's loss: sum(w * g) has gradient g, exactly
            self.kron.step(lambda: sum((p * g).sum() for p, g in zip(params, grads)))
            self.rng = self._rng_state()

    def state_dict(self):
        kron = {k: v for k, v in self.kron.__dict__.items() if k != "_params_with_grad"}
        return {"torch": super().state_dict(), "kron": kron, "rng": self.rng}

    def load_state_dict(self, state_dict):
        super().load_state_dict(state_dict["torch"])
        # a copy: Kron updates its preconditioner in place, and the source may live on (torch's optimisers copy too)
        self.kron.__dict__.update(copy.deepcopy(state_dict["kron"]))
        self.rng = copy.deepcopy(state_dict["rng"])


def build_optimizer(params, setting: TrainingSetting) -> torch.optim.Optimizer:
    params = list(params)
    if setting.optimizer == "sgd":
        return torch.optim.SGD(params, lr=setting.lr, momentum=setting.momentum, nesterov=setting.nesterov,
                               weight_decay=setting.weight_decay)
    if setting.optimizer == "adam":
        return torch.optim.Adam(params, lr=setting.lr, weight_decay=setting.weight_decay)
    if setting.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=setting.lr, weight_decay=setting.weight_decay)
    if setting.optimizer == "psgd":
        return PSGD(params, lr=setting.lr)
    raise ValueError(f"unknown optimizer {setting.optimizer!r}")


def training_step(model: nn.Module, optimizer: torch.optim.Optimizer, x: torch.Tensor, y: torch.Tensor,
                  setting: TrainingSetting, lr: float, forward_precision) -> tuple[torch.Tensor, ...]:
    """One update of ``model`` on the batch (x, y) at learning rate ``lr``. Returns, at the weights the step
    started from: the per-sample training losses and the logits (float32) and the parameter norm."""
    for group in optimizer.param_groups:
        group["lr"] = lr
    params = [p for group in optimizer.param_groups for p in group["params"]]

    def gradients():
        with forward_precision:  # the backward pass runs outside it
            logits = model(x)
            losses = per_sample_loss(logits, y, setting.focal_gamma)
        logits, losses = logits.float(), losses.float()
        objective = losses.mean()
        if setting.l1 or setting.l2:
            objective = objective + penalty(params, setting)
        optimizer.zero_grad(set_to_none=True)
        objective.backward()
        return losses, logits

    losses, logits = gradients()
    if setting.asam_rho:
        steps = _asam_ascent(model, setting.asam_rho)
        gradients()  # the gradient at the perturbed weights, which the update applies at the original ones
        with torch.no_grad():
            for p, eps in steps:
                p.sub_(eps)
    with torch.no_grad():
        param_norm = torch.nn.utils.get_total_norm(params)
    optimizer.step()
    return losses.detach(), logits.detach(), param_norm


@torch.no_grad()
def _asam_ascent(model: nn.Module, rho: float) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """ASAM's ascent (Kwon et al. 2021, as their code does it): with T = |w| + eta for weights and 1 for biases,
    eps = rho * T^2 g / ||T g||, and w += eps. Returns (parameter, eps) pairs to undo it."""
    scaled = []
    for name, p in model.named_parameters():
        if p.grad is not None:
            t = p.abs() + ASAM_ETA if "weight" in name else torch.ones_like(p)
            scaled.append((p, t, t * p.grad))
    norm = torch.norm(torch.stack([torch.norm(tg) for _, _, tg in scaled])) + 1e-16
    steps = []
    for p, t, tg in scaled:
        eps = t * tg * (rho / norm)
        p.add_(eps)
        steps.append((p, eps))
    return steps
