"""The run ``setting``: a short, readable, parseable key of training hyper-parameters.

A setting key lists, in a fixed order, the learning rate (always: it is the paper's central knob) and the
other knobs whose values differ from the global training defaults (``training:`` in the config), e.g.
``lr=0.05`` or ``lr=0.05,bs=50``.
Because the key is relative to the *global* defaults (not a study's), one key names one training recipe
everywhere, and runs shared between studies are trained once.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields

# knob name in the config -> short name in the key; the order here is the order in the key.
SHORT_NAMES = {
    "lr": "lr",
    "batch_size": "bs",
    "momentum": "mom",
    "weight_decay": "wd",
    "max_epochs": "ep",
    "precision": "prec",
    "nesterov": "nest",
    "l1": "l1",
    "l2": "l2",
    "focal_gamma": "fl",
    "asam_rho": "asam",
    "optimizer": "opt",
    "schedule": "sched",
    "post_fit_epochs": "post",
}
LONG_NAMES = {short: long for long, short in SHORT_NAMES.items()}
ALWAYS_IN_KEY = ("lr",)
PRECISIONS = ("fp32", "bf16")
OPTIMIZERS = ("sgd", "adam", "adamw", "psgd")
SCHEDULES = ("constant", "cosine", "wsd")
# knobs added after runs existed, at the value that reproduces what runs did before them: at that value a knob is
# left out of a setting's identity (``as_dict``), so earlier runs keep their params and are not retrained
NEUTRAL_VALUES = {"precision": "fp32", "nesterov": False, "l1": 0.0, "l2": 0.0, "focal_gamma": 0.0, "asam_rho": 0.0,
                  "optimizer": "sgd", "schedule": "constant", "post_fit_epochs": 0}


@dataclass(frozen=True)
class TrainingSetting:
    """Every hyper-parameter that changes the numbers a training run produces."""

    lr: float
    batch_size: int
    momentum: float = 0.0
    weight_decay: float = 0.0
    max_epochs: int = 100
    precision: str = "fp32"  # fp32, or bf16 autocast (channels_last on CUDA)
    nesterov: bool = False  # Nesterov momentum (SGD; needs momentum > 0)
    l1: float = 0.0  # loss + l1 * sum |w| over every parameter
    l2: float = 0.0  # loss + l2 / 2 * sum w^2 over every parameter (gradient l2 * w)
    focal_gamma: float = 0.0  # focal loss (Lin et al. 2017): -(1 - p_y)^gamma log p_y; 0 is cross-entropy
    asam_rho: float = 0.0  # adaptive sharpness-aware minimisation (Kwon et al. 2021) radius; 0: off
    optimizer: str = "sgd"  # sgd, adam, adamw (torch.optim), psgd (psgd_torch's Kron)
    schedule: str = "constant"  # learning rate over max_epochs: constant, cosine (to 0), wsd (warmup-stable-decay)
    post_fit_epochs: int = 0  # epochs trained on after the first at 100% training accuracy (0: stop there)

    def __post_init__(self):
        problems = []
        if not self.lr > 0:
            problems.append(f"lr must be > 0, got {self.lr}")
        if self.batch_size < 1:
            problems.append(f"batch_size must be >= 1, got {self.batch_size}")
        if not 0 <= self.momentum < 1:
            problems.append(f"momentum must be in [0, 1), got {self.momentum}")
        if self.weight_decay < 0:
            problems.append(f"weight_decay must be >= 0, got {self.weight_decay}")
        if self.max_epochs < 1:
            problems.append(f"max_epochs must be >= 1, got {self.max_epochs}")
        if self.precision not in PRECISIONS:
            problems.append(f"precision must be one of {list(PRECISIONS)}, got {self.precision!r}")
        if self.nesterov and not (self.momentum > 0 and self.optimizer == "sgd"):
            problems.append("nesterov needs optimizer sgd with momentum > 0")
        for name in ("l1", "l2", "focal_gamma", "asam_rho", "post_fit_epochs"):
            if getattr(self, name) < 0:
                problems.append(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.optimizer not in OPTIMIZERS:
            problems.append(f"optimizer must be one of {list(OPTIMIZERS)}, got {self.optimizer!r}")
        if self.schedule not in SCHEDULES:
            problems.append(f"schedule must be one of {list(SCHEDULES)}, got {self.schedule!r}")
        if self.momentum and self.optimizer != "sgd":
            problems.append(f"momentum is SGD's; {self.optimizer} has its own moments (set momentum 0)")
        if problems:
            raise ValueError("invalid training setting: " + "; ".join(problems))

    def as_dict(self) -> dict:
        """The setting's identity: every knob, less those at their neutral value (:data:`NEUTRAL_VALUES`)."""
        return {k: v for k, v in asdict(self).items() if NEUTRAL_VALUES.get(k, object()) != v}

    def knobs(self) -> dict:
        """Every knob with its value, neutral ones included (tables, logs)."""
        return asdict(self)


_TYPES = {f.name: {"int": int, "float": float, "str": str, "bool": bool}[str(getattr(f.type, "__name__", f.type))]
          for f in fields(TrainingSetting)}


def _format_value(value) -> str:
    # repr() of a float round-trips exactly (0.05 -> '0.05', 1e-05 -> '1e-05').
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return str(value).lower()
    return repr(float(value)) if isinstance(value, float) else str(int(value))


def setting_from_dict(values: dict) -> TrainingSetting:
    unknown = sorted(set(values) - set(SHORT_NAMES))
    if unknown:
        raise ValueError(f"unknown training knob(s) {unknown}; allowed: {sorted(SHORT_NAMES)}")
    return TrainingSetting(**{k: _TYPES[k](v) for k, v in values.items()})


def setting_key(values: dict, defaults: dict) -> str:
    """Key of the knobs in ``values`` (merged over ``defaults``) that differ from ``defaults``."""
    merged = setting_from_dict({**_knobs(defaults), **values}).knobs()
    base = setting_from_dict(_knobs(defaults)).knobs()
    parts = [
        f"{short}={_format_value(merged[long])}"
        for long, short in SHORT_NAMES.items()
        if long in ALWAYS_IN_KEY or merged[long] != base[long]
    ]
    return ",".join(parts)


def parse_setting_key(key: str, defaults: dict) -> TrainingSetting:
    """Inverse of :func:`setting_key`: the full setting named by ``key`` under ``defaults``."""
    values = dict(_knobs(defaults))
    for part in key.split(","):
        name, sep, raw = part.partition("=")
        if not sep or name not in LONG_NAMES:
            raise ValueError(
                f"bad setting key {key!r}: part {part!r} is not NAME=VALUE with NAME in {sorted(LONG_NAMES)}"
            )
        long = LONG_NAMES[name]
        if _TYPES[long] is str:
            values[long] = raw
            continue
        if _TYPES[long] is bool:
            if raw not in ("true", "false"):
                raise ValueError(f"bad setting key {key!r}: {name} is true or false, got {raw!r}")
            values[long] = raw == "true"
            continue
        try:
            values[long] = _TYPES[long](float(raw)) if _TYPES[long] is int else float(raw)
        except ValueError:
            raise ValueError(f"bad setting key {key!r}: {raw!r} is not a number") from None
    canonical = setting_key(values, defaults)
    if canonical != key:
        # one recipe, one folder: 'lr=0.050' and 'lr=0.05' must not become two runs
        raise ValueError(f"setting key {key!r} is not in canonical form; the same setting is {canonical!r}")
    return setting_from_dict(values)


def _knobs(training_config: dict) -> dict:
    """The knobs of the ``training:`` config section (it also holds non-knob keys such as checkpoints)."""
    return {k: v for k, v in training_config.items() if k in SHORT_NAMES}
