"""The pruning choices the paper leaves open, as names (no torch: the DAG side and the claims use them too).

A structured variant is ``criterion/scope`` (e.g. ``l1_weight/layer``), under the configured budget, or
``criterion/scope/budget`` (``l1_weight/layer/units``) under another; ``unstructured`` is weight-magnitude
pruning. A variant's metrics are named ``METRIC[VARIANT]`` (``prunability[random/global]``); the configured default
variant's also go without the suffix (``prunability``), which the paper's figures plot.
"""
from __future__ import annotations

CRITERIA = ("l1_weight", "bn_scale", "mean_activation", "random")
SCOPES = ("layer", "global")
BUDGETS = ("units", "parameters")
UNSTRUCTURED = "unstructured"
STRUCTURED_VARIANTS = tuple(f"{criterion}/{scope}" for criterion in CRITERIA for scope in SCOPES)
# the paper's criterion and scope under each budget (κ of the units: the budget before the paper's own words were
# followed; figS_pruning draws both)
BUDGET_VARIANTS = tuple(f"l1_weight/layer/{budget}" for budget in BUDGETS)
# what `evaluation.pruning.variants` accepts (the schema's pattern says the same)
VARIANT_PATTERN = rf"^({'|'.join(CRITERIA)})/({'|'.join(SCOPES)})(/({'|'.join(BUDGETS)}))?$"
# the metrics every variant has, per κ or summed over κ
PER_KAPPA = ("kappa_prunability", "kappa_prunability_chance", "pruned_unbiased_test_acc", "pruned_parameter_fraction")
SUMMED = ("prunability", "prunability_chance")


def default_variant(pruning: dict) -> str:
    """The variant of the configured ``evaluation.pruning`` criterion and scope."""
    return f"{pruning['criterion']}/{pruning['scope']}"


def variant_metric(metric: str, variant: str) -> str:
    return f"{metric}[{variant}]"


def split_variant(metric: str) -> tuple[str, str | None]:
    """``prunability[l1_weight/layer]`` -> (``prunability``, ``l1_weight/layer``); a plain metric -> (metric, None)."""
    if metric.endswith("]") and "[" in metric:
        base, variant = metric[:-1].split("[", 1)
        return base, variant
    return metric, None


def variant_parts(variant: str, pruning: dict) -> tuple[str, str, str]:
    """A structured variant's (criterion, scope, budget); a two-part name takes the configured budget."""
    criterion, scope, *budget = variant.split("/")
    return criterion, scope, budget[0] if budget else pruning["budget"]


def evaluated_variants(pruning: dict) -> list[str]:
    """The variants an evaluation computes: the default first, then the listed ones (one naming the configured
    budget is the same as its two-part name, computed once), then ``unstructured``."""
    listed = [default_variant(pruning)]
    for variant in pruning["variants"]:
        criterion, scope, budget = variant_parts(variant, pruning)
        listed.append(f"{criterion}/{scope}" if budget == pruning["budget"] else variant)
    return list(dict.fromkeys(listed)) + [UNSTRUCTURED]
