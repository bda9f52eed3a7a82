"""The paper's claims that the computed tables can test, each with a statistic, a p-value, an effect size with its
interval and a verdict.

Three kinds of claim. A *trend* (the default): Spearman's ρ between the learning rate and the metric over every
kept run (learning rate × seed), with a one-sided permutation p-value in the paper's direction (the learning
rates permuted across runs; SciPy's ``permutation_test``, exact where the permutations are few); its effect is the
change of the seed mean from the lowest to the highest kept learning rate, in the metric's units and in seed
standard deviations, with a 95% bootstrap interval from resampling the seeds within each of the two. A
*comparison* (``versus_study`` set; Fig. 6, Fig. 13): the difference Δ between the metric's mean on one side and
on the other, each side a study at a chosen grid point or at its best one (:func:`pick_points`), with a
permutation p-value over the two chosen points' runs and a 95% bootstrap interval from resampling the seeds within
each grid point (a "best" side is chosen again in every resample). A *correlation* (``versus_metric`` set;
Fig. 12): Spearman's ρ between two metrics over the kept runs of several studies pooled, with a permutation p-value
and a 95% bootstrap interval from resampling runs.

Failed runs (diverged or collapsed) are never counted, and the paper's grid rule (:func:`grid_rule_cut`, on by
default) keeps only the learning rates up to the first failure or drastic loss of accuracy; a comparison's "best"
never picks a grid point where a seed failed. The p-values of each family (the paper's claims; the supplementary
ones) are adjusted for multiplicity (``claim_tests.adjust``: Benjamini-Hochberg by default). Verdict at level α
(``claim_tests.alpha``, 0.05): ``holds`` when the adjusted p in the paper's direction is below α and the effect's
interval lies on the paper's side of 0; ``does not hold`` when the adjusted p in the other direction is below α and
the interval lies on that side; else ``inconclusive`` (``on par`` for the claims that one side is "at least on
par" with the other); ``not enough runs`` with fewer than 3 learning rates or 2 seeds (a trend) or 2 surviving runs
a side (a comparison); ``not computed`` when a study's table does not exist (yet).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from spurcomp.names import dataset_name, degraded_text, knob_names, metric_name, model_name, source_name
from spurcomp.runtime import derived_seed
from spurcomp.study import FAILED_STATUSES


@dataclass(frozen=True)
class Claim:
    claim_id: str
    text: str
    study: str
    metric: str
    direction: int  # +1: increases with the learning rate, -1: decreases
    figure: str     # the paper's figure, e.g. "Fig. 4"
    # a check of a choice the paper leaves open (a pruning variant, dead units counted), not the paper's claim
    supplementary: bool = False
    # a comparison: ``study`` at ``pick`` against ``versus_study`` at ``versus_pick`` (:func:`pick_points`);
    # ``direction`` +1 claims the first side is higher
    versus_study: str = ""
    pick: str = ""
    versus_pick: str = ""
    tie: str = "inconclusive"  # the verdict when the interval contains 0 ("on par": the claim allows a tie)
    # a correlation over runs (Fig. 12): Spearman's ρ between ``metric`` and ``versus_metric`` over the kept runs
    # of the ``pooled`` studies (``study`` is the first); ``direction`` +1 claims a positive correlation
    versus_metric: str = ""
    pooled: tuple[str, ...] = ()

    @property
    def studies(self) -> tuple[str, ...]:
        if self.pooled:
            return tuple(self.pooled)
        return (self.study, self.versus_study) if self.versus_study else (self.study,)


def trend_with_lr(config: dict, studies, metrics, figure: str, direction: int = +1,
                  supplementary: bool = False) -> list[Claim]:
    """For each study (a dataset x architecture panel) and metric, the claim that it increases (``direction``
    +1, the paper's claims) or decreases (-1) with the learning rate. Texts use names for people ("Colored MNIST,
    VGG11 (width ×1/8)"); ids are ``STUDY:METRIC``."""
    claims = []
    trend = "increases" if direction > 0 else "decreases"
    for study in studies:
        spec = config["studies"][study]
        recipe = knob_names(spec.get("overrides") or {})
        where = (f"{dataset_name(config['datasets'][spec['dataset']]['generator'])}, "
                 f"{model_name(config['models'][spec['model']])}" + (f", {recipe}" if recipe else ""))
        claims += [Claim(f"{study}:{metric}", f"{metric_name(metric)} {trend} with learning rate on {where}",
                         study, metric, direction, figure, supplementary) for metric in metrics]
    return claims


def correlation_over_runs(config: dict, studies, metric: str, versus_metric: str, figure: str, which: str,
                          direction: int = +1) -> Claim:
    """The claim that ``metric`` correlates with ``versus_metric`` over the runs of ``studies`` pooled (``which``
    names them for people, e.g. "the ResNet18 runs")."""
    sign = "positively" if direction > 0 else "negatively"
    return Claim(f"{figure.replace(' ', '').lower()}:{metric}~{versus_metric}",
                 f"{metric_name(metric)} correlates {sign} with the {metric_name(versus_metric)[0].lower()}"
                 f"{metric_name(versus_metric)[1:]} over {which}", studies[0], metric, direction, figure,
                 versus_metric=versus_metric, pooled=tuple(studies))


def grid_rule_cut(table, rule: dict | None) -> dict[float, str]:
    """The learning rates the paper's grid rule leaves out of a study's curves and claims, with why.

    Sec. 4 uses "LRs up to the point of divergence or drastic performance loss (> 25% in test accuracy) among
    any one of the seeds". Scanning the learning rates upwards, the grid stops at the first one where a seed
    diverged or collapsed, or where a seed's ``metric`` lies more than ``max_drop`` below the study's best
    learning rate (the highest seed mean among learning rates without a failed seed): in accuracy points
    (``drop: points``, default) or as a fraction of the best (``relative``). Only learning rates above the best
    can lose accuracy this way: low learning rates that have not yet learned the core feature are the paper's
    curve, not a loss. That learning rate and every larger one are left out. ``rule``: the config's
    ``grid_rule`` section; ``enabled: false`` (or None) leaves every learning rate in. A study at one learning
    rate (a study of another knob) has no learning-rate grid to cut: its failed seeds are left out of means as
    everywhere.
    """
    if not rule or not rule.get("enabled", True) or table.lr.nunique() < 2:
        return {}
    lrs = sorted(table.lr.unique())
    failed = {lr for lr in lrs if table[(table.lr == lr)].status.isin(FAILED_STATUSES).any()}
    scores = table[(table.metric == rule["metric"]) & ~table.status.isin(FAILED_STATUSES)].dropna(subset=["value"])
    means = scores.groupby("lr")["value"].mean()
    means = means[[lr not in failed for lr in means.index]]
    best_lr = means.idxmax() if len(means) else None
    if best_lr is not None:
        best = float(means[best_lr])
        floor = best - rule["max_drop"] if rule["drop"] == "points" else best * (1 - rule["max_drop"])
    cut, why = None, ""
    for lr in lrs:
        statuses = table[table.lr == lr].drop_duplicates(["seed"]).status
        if lr in failed:
            bad = sorted(set(statuses) & set(FAILED_STATUSES))
            cut, why = lr, f"{int(statuses.isin(FAILED_STATUSES).sum())} seed(s) {'/'.join(bad)}"
            break
        lowest = scores[scores.lr == lr]["value"].min()
        if best_lr is not None and lr > best_lr and lowest < floor:
            cut, why = lr, (f"a seed's {rule['metric']} {lowest:.3f} is more than {rule['max_drop']:g} "
                            f"{'below' if rule['drop'] == 'points' else 'of'} the best ({best:.3f} at lr {best_lr:g})")
            break
    if cut is None:
        return {}
    return {lr: (why if lr == cut else f"beyond lr {cut:g}") for lr in lrs if lr >= cut}


def grid_extension(table, rule: dict, spec: dict, step: int) -> dict:
    """Whether a study's learning rates go on (``lr_until_failure``), from its runs so far: the decision after
    ``step`` extra rates. The largest rate failed if the paper's grid rule (:func:`grid_rule_cut`, applied even
    where the config turns it off for the curves) leaves it out; otherwise the next rate is trained while
    ``max_steps`` allows."""
    from spurcomp.study import extension_rates
    cut = grid_rule_cut(table, {**rule, "enabled": True})
    largest = float(table.lr.max())
    failed = largest in cut
    rates = extension_rates(spec)
    extend = not failed and step < len(rates)
    why = cut[largest] if failed else (f"lr {largest:g} kept by the grid rule; next: lr {rates[step]:g}" if extend
                                       else f"lr {largest:g} kept by the grid rule, but max_steps ({len(rates)}) reached")
    return {"step": step, "largest_lr": largest, "failed": failed, "extend": extend,
            "lr": rates[step] if extend else None, "why": why}


def run_pairs(table, metrics, grid_rule: dict | None = None):
    """One row per run: its value of each of ``metrics``, status, and whether it counts (``kept``: not failed, not
    past the grid rule); runs without every metric are dropped."""
    excluded = grid_rule_cut(table, grid_rule)
    wide = (table[table.metric.isin(metrics)]
            .pivot_table(index=["setting", "seed", "lr", "status"], columns="metric", values="value")
            .reset_index()
            .reindex(columns=["setting", "seed", "lr", "status", *metrics]))  # a table without runs: no rows
    wide["kept"] = ~wide.status.isin(FAILED_STATUSES) & ~wide.lr.isin(list(excluded))
    return wide.dropna(subset=list(metrics))


def correlations(x, y, seed: int = 0, n_boot: int = 2000) -> dict:
    """Pearson's r and Spearman's ρ of (x, y) with 95% percentile bootstrap intervals over the points."""
    from scipy.stats import pearsonr, spearmanr

    x, y = np.asarray(x, float), np.asarray(y, float)
    out = {"n_runs": len(x)}
    if len(x) < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return {**out, **{k: float("nan") for k in ("pearson_r", "pearson_low", "pearson_high", "spearman_rho",
                                                    "spearman_low", "spearman_high")}}
    rng = np.random.default_rng(seed)
    boot = {"pearson": [], "spearman": []}
    for _ in range(n_boot):
        i = rng.integers(0, len(x), len(x))
        if np.ptp(x[i]) and np.ptp(y[i]):
            boot["pearson"].append(pearsonr(x[i], y[i]).statistic)
            boot["spearman"].append(spearmanr(x[i], y[i]).statistic)
    for name, statistic in (("pearson", pearsonr(x, y).statistic), ("spearman", spearmanr(x, y).statistic)):
        low, high = np.percentile(boot[name], [2.5, 97.5])
        key = "pearson_r" if name == "pearson" else "spearman_rho"
        out.update({key: float(statistic), f"{name}_low": float(low), f"{name}_high": float(high)})
    return out


DEFAULT_TESTS = {"alpha": 0.05, "adjust": "bh", "n_resamples": 9999}
ADJUSTMENTS = ("bh", "holm", "none")


def claim_verdict(p: float, p_against: float, low: float, high: float, direction: int, alpha: float,
                  tie: str = "inconclusive") -> str:
    """``holds`` when ``p`` (in the claimed direction) is below ``alpha`` and the effect's interval [low, high]
    lies on the claimed side of 0, ``does not hold`` when ``p_against`` is below ``alpha`` and the interval lies on
    the other side, else ``tie``."""
    signed_low, signed_high = sorted((direction * low, direction * high))
    if p < alpha and signed_low > 0:
        return "holds"
    if p_against < alpha and signed_high < 0:
        return "does not hold"
    return tie


def adjusted(p_values, method: str) -> np.ndarray:
    """p-values adjusted for multiplicity within one family: Benjamini-Hochberg (``bh``: SciPy's
    ``false_discovery_control``, the false discovery rate), Holm (``holm``: the family-wise error rate) or
    ``none``. NaN entries (claims without a test) stay NaN and do not count."""
    from scipy.stats import false_discovery_control

    p = np.asarray(p_values, float)
    out = np.full_like(p, np.nan)
    ok = ~np.isnan(p)
    if not ok.any() or method == "none":
        out[ok] = p[ok]
        return out
    if method == "bh":
        out[ok] = false_discovery_control(p[ok], method="bh")
        return out
    if method != "holm":
        raise ValueError(f"unknown p-value adjustment {method!r}; allowed: {list(ADJUSTMENTS)}")
    values = p[ok]
    order = np.argsort(values)
    steps = np.maximum.accumulate((len(values) - np.arange(len(values))) * values[order])
    held = np.empty_like(values)
    held[order] = np.minimum(steps, 1.0)
    out[ok] = held
    return out


def rank_trend_p(x, y, direction: int, seed: int, n_resamples: int = DEFAULT_TESTS["n_resamples"]) -> tuple[float, float]:
    """One-sided permutation p-values of Spearman's ρ between ``x`` and ``y``, the values of ``x`` permuted over
    the pairs (SciPy's ``permutation_test``, exact where there are at most ``n_resamples`` permutations): (p in
    ``direction``, p in the other). A constant side has no trend: (1, 1)."""
    from scipy.stats import permutation_test, rankdata

    x_ranks, y_ranks = rankdata(x), rankdata(y)
    if np.ptp(x_ranks) == 0 or np.ptp(y_ranks) == 0:
        return 1.0, 1.0
    y_centred = y_ranks - y_ranks.mean()
    y_centred /= np.linalg.norm(y_centred)

    def rho(xs, axis=-1):  # Pearson's r of the ranks (Spearman's ρ with ties averaged), for many permutations
        centred = xs - xs.mean(axis=axis, keepdims=True)
        return (centred * y_centred).sum(axis=axis) / np.linalg.norm(centred, axis=axis)

    def p_value(alternative):
        return float(permutation_test((x_ranks,), rho, permutation_type="pairings", vectorized=True,
                                      n_resamples=n_resamples, alternative=alternative,
                                      random_state=np.random.default_rng(seed)).pvalue)

    greater, less = p_value("greater"), p_value("less")
    return (greater, less) if direction > 0 else (less, greater)


def difference_p(first, second, direction: int, seed: int,
                 n_resamples: int = DEFAULT_TESTS["n_resamples"]) -> tuple[float, float]:
    """One-sided permutation p-values of mean(first) - mean(second), runs exchanged between the two sides: (p in
    ``direction``, p in the other)."""
    from scipy.stats import permutation_test

    def p_value(alternative):
        return float(permutation_test((np.asarray(first, float), np.asarray(second, float)),
                                      lambda a, b, axis=-1: a.mean(axis=axis) - b.mean(axis=axis),
                                      vectorized=True, n_resamples=n_resamples, alternative=alternative,
                                      random_state=np.random.default_rng(seed)).pvalue)

    greater, less = p_value("greater"), p_value("less")
    return (greater, less) if direction > 0 else (less, greater)


def lr_change(per_lr: dict, rng: np.random.Generator, n_boot: int) -> dict:
    """The effect of a trend: the seed mean at the highest learning rate minus that at the lowest, with a 95%
    bootstrap interval (the seeds of each resampled), and in units of the seed spread (the root mean within-rate
    variance over every rate)."""
    low_lr, high_lr = min(per_lr), max(per_lr)
    first, last = per_lr[low_lr], per_lr[high_lr]
    effect = float(last.mean() - first.mean())
    boot = (rng.choice(last, (n_boot, len(last))).mean(axis=1) - rng.choice(first, (n_boot, len(first))).mean(axis=1))
    low, high = np.percentile(boot, [2.5, 97.5])
    spread = float(np.sqrt(np.mean([np.var(v, ddof=1) for v in per_lr.values()])))
    return {"effect": effect, "effect_low": float(low), "effect_high": float(high),
            "effect_sd": effect / spread if spread > 0 else float("nan")}


NO_TEST = {"p": np.nan, "p_against": np.nan, "effect": np.nan, "effect_low": np.nan, "effect_high": np.nan,
           "effect_sd": np.nan}


def correlation_verdict(tables: dict, claim: Claim, n_boot: int = 1000, grid_rule: dict | None = None,
                     tests: dict | None = None) -> dict:
    """Spearman's ρ between the claim's two metrics over the kept runs of its pooled studies, with a permutation
    p-value and a 95% bootstrap interval over runs (:func:`correlations`, as Fig. 12 draws it); the effect is ρ
    itself (at least 3 runs)."""
    tests = {**DEFAULT_TESTS, **(tests or {})}
    metrics = [claim.metric, claim.versus_metric]
    runs = [run_pairs(tables[study], metrics, grid_rule) for study in claim.studies]
    kept = [r[r.kept] for r in runs]
    x = np.concatenate([r[claim.versus_metric].to_numpy(float) for r in kept])
    y = np.concatenate([r[claim.metric].to_numpy(float) for r in kept])
    found = correlations(x, y, seed=derived_seed("claims", claim.claim_id), n_boot=n_boot)
    rho, low, high = found["spearman_rho"], found["spearman_low"], found["spearman_high"]
    result = {"n_learning_rates": len({lr for r in kept for lr in r.lr}), "n_runs": len(x),
              "n_failed_runs": int(sum(r.status.isin(FAILED_STATUSES).sum() for r in runs)), "excluded_lrs": "",
              "statistic": "spearman_rho_runs", "value": rho}
    if len(x) < 3:
        return {**result, **NO_TEST, "verdict": "not enough runs"}
    if np.isnan(rho):  # a constant side has no ρ: nothing to rank, so no verdict either way
        return {**result, **NO_TEST, "p": 1.0, "p_against": 1.0, "verdict": "inconclusive"}
    p, p_against = rank_trend_p(x, y, claim.direction, derived_seed("claims-p", claim.claim_id), tests["n_resamples"])
    effect = {"effect": rho, "effect_low": low, "effect_high": high, "effect_sd": np.nan}
    return {**result, "p": p, "p_against": p_against, **effect,
            "verdict": claim_verdict(p, p_against, low, high, claim.direction, tests["alpha"])}


def spearman(x, y) -> float:
    """Spearman's ρ (SciPy's, as the correlation tables use); 0 when either side is constant (no trend to rank)."""
    from scipy.stats import spearmanr  # here, not at the top: the DAG side imports this module

    if np.ptp(x) == 0 or np.ptp(y) == 0:
        return 0.0
    return float(spearmanr(x, y).statistic)


def trend_verdict(table, claim: Claim, n_boot: int = 1000, grid_rule: dict | None = None,
               tests: dict | None = None) -> dict:
    """A trend claim on a study table: Spearman's ρ over the kept runs, its permutation p-values and the change
    from the lowest to the highest kept learning rate (:func:`lr_change`); the verdict at ``tests["alpha"]``
    (unadjusted: :func:`evaluate_claims` adjusts a family's p-values and judges again)."""
    tests = {**DEFAULT_TESTS, **(tests or {})}
    excluded = grid_rule_cut(table, grid_rule)
    runs = table[(table.metric == claim.metric) & ~table.lr.isin(list(excluded))]
    rows = runs[~runs.status.isin(FAILED_STATUSES)].dropna(subset=["value"])
    per_lr = {lr: group["value"].to_numpy(float) for lr, group in rows.groupby("lr")}
    result = {"statistic": "spearman_rho_runs", "n_learning_rates": len(per_lr), "n_runs": len(rows),
              "n_failed_runs": int(table[table.metric == claim.metric].status.isin(FAILED_STATUSES).sum()),
              "excluded_lrs": "; ".join(f"{lr:g} ({why})" for lr, why in excluded.items())}
    if len(per_lr) < 3 or min((len(v) for v in per_lr.values()), default=0) < 2:
        return {**result, "value": np.nan, **NO_TEST, "verdict": "not enough runs"}
    x, y = rows["lr"].to_numpy(float), rows["value"].to_numpy(float)
    p, p_against = rank_trend_p(x, y, claim.direction, derived_seed("claims-p", claim.claim_id), tests["n_resamples"])
    effect = lr_change(per_lr, np.random.default_rng(derived_seed("claims", claim.claim_id)), n_boot)
    verdict = claim_verdict(p, p_against, effect["effect_low"], effect["effect_high"], claim.direction,
                            tests["alpha"])
    return {**result, "value": spearman(x, y), "p": p, "p_against": p_against, **effect, "verdict": verdict}


PICKS = ("best", "best:METRIC", "best;except:KNOB=VALUE", "best:METRIC;except:KNOB=VALUE", "at:KNOB=VALUE")


def _parse_pick(pick: str) -> dict[str, str]:
    """``best[:METRIC][;except:KNOB=VALUE]`` or ``at:KNOB=VALUE`` as {"best" or "at": ..., "except": ...}."""
    parts = {}
    for part in pick.split(";"):
        key, _, value = part.partition(":")
        parts[key] = value
    kinds = [key for key in parts if key in ("best", "at")]
    valid = (len(kinds) == 1 and set(parts) <= {"best", "at", "except"} and ("at" not in parts or
             ("=" in parts["at"] and "except" not in parts)) and ("except" not in parts or "=" in parts["except"]))
    if not valid:
        raise ValueError(f"bad comparison pick {pick!r}; allowed: {list(PICKS)}")
    return parts


def _where(table, pick: str, condition: str):
    knob, _, value = condition.partition("=")
    if knob not in table:
        raise ValueError(f"comparison pick {pick!r}: the table has no column {knob!r}")
    return np.isclose(table[knob].astype(float), float(value))


def pick_points(table, pick: str, metric: str, grid_rule: dict | None = None) -> tuple[list, int, list[str]]:
    """One side of a comparison: the seed values of ``metric`` at each grid point (a setting) that ``pick``
    chooses from, failed runs left out; the number of failed runs among them; what was left out and why.

    ``pick``: ``at:KNOB=VALUE``, the grid point where the table's column KNOB (a training knob: ``lr``,
    ``momentum``, ...) equals VALUE; ``best``, every grid point without a failed seed and (for a learning-rate
    grid) within the grid rule, of which the comparison takes the highest mean; ``best:METRIC``, of those the one
    point with the highest mean METRIC (e.g. the learning rate with the best unbiased accuracy, whose prunability
    is then compared); ``;except:KNOB=VALUE`` leaves a point out of ``best`` (e.g. a knob's default value)."""
    parts = _parse_pick(pick)
    runs_of = table[table.metric == metric]
    if "at" in parts:
        runs_of = runs_of[_where(runs_of, pick, parts["at"])]
    if "except" in parts:
        runs_of = runs_of[~_where(runs_of, pick, parts["except"])]
    excluded_lrs = grid_rule_cut(table, grid_rule)
    points, failed, left_out, settings = [], 0, [], []
    for setting, runs in runs_of.groupby("setting"):
        bad = int(runs.status.isin(FAILED_STATUSES).sum())
        failed += bad
        values = runs[~runs.status.isin(FAILED_STATUSES)]["value"].dropna().to_numpy(dtype=float)
        lr = float(runs.lr.iloc[0])
        if "best" in parts and (bad or lr in excluded_lrs):
            left_out.append(f"{setting}: " + (f"{bad} seed(s) failed" if bad else
                                              f"past the grid rule ({excluded_lrs[lr]})"))
            continue
        if len(values):
            points.append(values)
            settings.append(setting)
    if parts.get("best") and points:  # one point, chosen by another metric's mean over its surviving seeds
        ok = table[~table.status.isin(FAILED_STATUSES) & (table.metric == parts["best"])]
        means = ok.groupby("setting")["value"].mean()
        scores = [means.get(setting, -np.inf) for setting in settings]
        points = [points[int(np.argmax(scores))]]
    return points, failed, left_out


def comparison_verdict(tables: dict, claim: Claim, n_boot: int = 1000, grid_rule: dict | None = None,
                    tests: dict | None = None) -> dict:
    """A comparison claim on the study tables (``tables``: study -> table): Δ = (first side) - (second side),
    with a permutation p-value over the runs of the two chosen grid points (given the choice of a "best" side)
    and a bootstrap interval that chooses again in every resample; the effect is Δ, also in seed standard
    deviations (pooled over the two points)."""
    tests = {**DEFAULT_TESTS, **(tests or {})}
    sides = [pick_points(tables[claim.study], claim.pick, claim.metric, grid_rule),
             pick_points(tables[claim.versus_study], claim.versus_pick, claim.metric, grid_rule)]
    left_out = [f"{study}/{why}" for study, (_, _, whys) in zip(claim.studies, sides) for why in whys]
    result = {"statistic": "difference", "n_learning_rates": sum(len(points) for points, _, _ in sides),
              "n_runs": sum(len(v) for points, _, _ in sides for v in points),
              "n_failed_runs": sum(failed for _, failed, _ in sides), "excluded_lrs": "; ".join(left_out)}
    counts = [sum(len(v) for v in points) for points, _, _ in sides]
    if counts[0] == 0 and sides[0][1] > 0 and counts[1] >= 2:
        # every run of the first side (the recipe the claim is about) failed: it did not work
        return {**result, "value": np.nan, **NO_TEST, "verdict": "does not hold"}
    if min(counts) < 2:
        return {**result, "value": np.nan, **NO_TEST, "verdict": "not enough runs"}

    def chosen(points, resample=None):  # an "at" side has one point; a "best" side takes the highest mean
        values = [resample(v) if resample else v for v in points]
        return values[int(np.argmax([v.mean() for v in values]))]

    first, second = chosen(sides[0][0]), chosen(sides[1][0])
    value = float(first.mean() - second.mean())
    rng = np.random.default_rng(derived_seed("claims", claim.claim_id))

    def draw(values):
        return rng.choice(values, len(values))

    boot = [chosen(sides[0][0], draw).mean() - chosen(sides[1][0], draw).mean() for _ in range(n_boot)]
    low, high = np.percentile(boot, [2.5, 97.5])
    p, p_against = difference_p(first, second, claim.direction, derived_seed("claims-p", claim.claim_id),
                                tests["n_resamples"])
    spread = float(np.sqrt((np.var(first, ddof=1) * (len(first) - 1) + np.var(second, ddof=1) * (len(second) - 1))
                           / (len(first) + len(second) - 2)))
    effect = {"effect": value, "effect_low": float(low), "effect_high": float(high),
              "effect_sd": value / spread if spread > 0 else float("nan")}
    verdict = claim_verdict(p, p_against, low, high, claim.direction, tests["alpha"], claim.tie)
    return {**result, "value": value, "p": p, "p_against": p_against, **effect, "verdict": verdict}


COLUMNS = ["claim", "text", "figure", "study", "metric", "paper_direction", "supplementary", "statistic", "value",
           "p", "p_adjusted", "p_against", "p_against_adjusted", "effect", "effect_low", "effect_high", "effect_sd",
           "n_learning_rates", "n_runs", "n_failed_runs", "excluded_lrs", "data_source", "best_unbiased_acc",
           "chance", "verdict"]
# a study whose best learning rate's unbiased accuracy is below this many times chance has models that have not
# learned the core feature: what its claims say about them is weak, and the claims table says so
LEARNED_FACTOR = 2.0


def learned_threshold(chance: float) -> float:
    """The unbiased accuracy a study's best learning rate must reach to count as having learned the core feature:
    twice chance, or, with two classes (where twice chance is perfect accuracy), halfway from chance to perfect."""
    return min(LEARNED_FACTOR * chance, (1.0 + chance) / 2)


def best_unbiased_accuracy(table, grid_rule: dict | None = None) -> tuple[float, float]:
    """A study's best seed-mean unbiased test accuracy over the learning rates the grid rule keeps (failed runs
    left out), and chance (one over the classes its accuracy table names; NaN where neither is in the table)."""
    kept = table[~table.lr.isin(list(grid_rule_cut(table, grid_rule))) & ~table.status.isin(FAILED_STATUSES)]
    accuracy = kept[kept.metric == "unbiased_test_acc"].groupby("lr")["value"].mean()
    groups = table.loc[table.metric == "group_acc", "group"].dropna() if "group" in table else []
    classes = {group.split(",")[0] for group in groups}
    return (float(accuracy.max()) if len(accuracy) else float("nan"),
            1.0 / len(classes) if classes else float("nan"))


def evaluate_claims(tables: dict[str, Path], out_csv: str | Path, out_md: str | Path, claims: list[Claim],
                    grid_rule: dict | None = None, tests: dict | None = None):
    """``tables``: study -> table path, for the studies computed. Claims of other studies are 'not computed'.
    ``grid_rule``: the config's section (:func:`grid_rule_cut`); ``tests``: its ``claim_tests`` section (α, the
    p-value adjustment, the permutations). Each family's p-values (the paper's claims; the supplementary ones)
    are adjusted together and the verdicts judged on the adjusted values."""
    import pandas as pd

    from spurcomp.aggregate import read_table

    tests = {**DEFAULT_TESTS, **(tests or {})}
    loaded = {study: read_table(path) for study, path in tables.items() if Path(path).exists()}
    rows = []
    for claim in claims:
        base = {"claim": claim.claim_id, "text": claim.text, "figure": claim.figure, "study": claim.study,
                "metric": claim.metric, "paper_direction": "increases" if claim.direction > 0 else "decreases",
                "supplementary": claim.supplementary}
        if not all(study in loaded for study in claim.studies):
            rows.append({**base, "statistic": "spearman_rho_runs" if not claim.versus_study else "difference",
                         "value": np.nan, **NO_TEST, "n_learning_rates": 0, "n_runs": 0, "n_failed_runs": 0,
                         "excluded_lrs": "", "data_source": "", "best_unbiased_acc": np.nan, "chance": np.nan,
                         "verdict": "not computed"})
            continue
        # degraded data (a fallback replaced part of them) are named in the row: such a verdict is not the paper's data
        sources = ", ".join(sorted({source_name(d.get("source", "?"), d.get("generator"))
                                    + (f" (DEGRADED: {degraded_text(d)})" if degraded_text(d) else "")
                                    for study in claim.studies
                                    for d in loaded[study][1].get("datasets", {}).values()}))
        if claim.versus_metric:
            tested = correlation_verdict({study: loaded[study][0] for study in claim.studies}, claim,
                                      grid_rule=grid_rule, tests=tests)
        elif claim.versus_study:
            tested = comparison_verdict({study: loaded[study][0] for study in claim.studies}, claim, grid_rule=grid_rule,
                                     tests=tests)
        else:
            tested = trend_verdict(loaded[claim.study][0], claim, grid_rule=grid_rule, tests=tests)
        best, chance = best_unbiased_accuracy(loaded[claim.study][0], grid_rule)
        rows.append({**base, **tested, "data_source": sources, "best_unbiased_acc": best, "chance": chance})
    frame = pd.DataFrame(rows, columns=COLUMNS)  # the columns even when no figure of the config tests a claim
    by_id = {claim.claim_id: claim for claim in claims}
    for _, family in frame.groupby("supplementary"):
        frame.loc[family.index, "p_adjusted"] = adjusted(family.p, tests["adjust"])
        frame.loc[family.index, "p_against_adjusted"] = adjusted(family.p_against, tests["adjust"])
    for i, row in frame[frame.p.notna()].iterrows():
        claim = by_id[row.claim]
        frame.loc[i, "verdict"] = claim_verdict(row.p_adjusted, row.p_against_adjusted, row.effect_low,
                                                row.effect_high, claim.direction, tests["alpha"], claim.tie)
    Path(out_csv).parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(out_csv, index=False)
    Path(out_md).write_text(_markdown(frame, tests))
    return frame


ADJUSTMENT_NAMES = {"bh": "Benjamini-Hochberg (false discovery rate)", "holm": "Holm (family-wise error rate)",
                    "none": "not adjusted"}


def _markdown(frame, tests: dict) -> str:
    lines = [
        "# Claims of the paper tested on the computed tables",
        "",
        "How to read it. **Statistic**: for a trend, Spearman's ρ between the learning rate and the metric over every "
        "kept run (learning rate × seed); for a comparison (Fig. 6, Fig. 13), Δ, the difference between the two "
        "sides' means (a side's best grid point where the claim says so); for a correlation (Fig. 12), ρ over the "
        "pooled runs. **p**: one-sided permutation p-value in the paper's direction (learning rates, or runs "
        f"between the two sides, permuted; {tests['n_resamples']} permutations, exact where there are fewer), "
        f"adjusted for multiplicity within each family (the paper's claims; the supplementary ones) by "
        f"{ADJUSTMENT_NAMES[tests['adjust']]}. **Effect**: for a trend, the seed mean at the highest kept learning "
        "rate minus that at the lowest, in the metric's units and in seed standard deviations (sd); for a comparison "
        "Δ; for a correlation ρ; with a 95% bootstrap interval over seeds (over runs for a correlation). "
        f"**Verdict** at α = {tests['alpha']:g}: holds when the adjusted p is below α and the effect's interval lies "
        "on the paper's side of 0; does not hold when the adjusted p in the other direction is below α and the "
        "interval lies on that side; else inconclusive (\"on par\" for a claim that one side is at least on par "
        "with the other). Failed runs (diverged or collapsed) are left out; learning rates past the paper's grid "
        "rule (the first with a failed seed or a drastic loss of accuracy), and for a side's best point the grid "
        "points where a seed failed, are left out and listed.",
        "",
        *_claims_table(frame[~frame.supplementary.astype(bool)], "no claims (no figure of the config tests one)"),
        *_barely_learned(frame),
    ]
    supplementary = frame[frame.supplementary.astype(bool)]
    if len(supplementary):
        lines += [
            "", "## Supplementary: the choices the paper leaves open", "",
            "The same test for the pruning variants (criterion and scope; the paper's figures use the configured "
            "default) and for selectivity with dead units counted as 0, their p-values adjusted as a family of their "
            "own. These check what the paper's claims depend on; they are not claims of the paper.", "",
            *_claims_table(supplementary, "none"),
        ]
    return "\n".join(lines) + "\n"


def _near_chance(row) -> bool:
    return bool(row.best_unbiased_acc < learned_threshold(row.chance))


def _barely_learned(frame) -> list[str]:
    """The studies whose best learning rate stays below :func:`learned_threshold` on the unbiased test set, named."""
    below = frame[[_near_chance(row) for row in frame.itertuples()]].drop_duplicates("study")
    if below.empty:
        return []
    listed = "; ".join(f"{row.study} ({row.best_unbiased_acc:.3f}, chance {row.chance:.3f})"
                       for row in below.itertuples())
    return ["", f"**Models that have not learned the core feature.** In these studies even the best learning rate "
                f"stays below {LEARNED_FACTOR:g}× chance unbiased test accuracy (halfway from chance to perfect with two "
                f"classes), so their claims (marked ⚠ above) "
                f"describe models near chance: {listed}."]


def _claims_table(frame, empty: str) -> list[str]:
    import pandas as pd

    def number(value, fmt):
        return "–" if pd.isna(value) else format(value, fmt)

    lines = ["| claim | figure | data | statistic | p (adjusted) | effect [95% interval] | effect / sd | LRs or points "
             "| runs | failed runs | left out | verdict |", "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for row in frame.itertuples():
        symbol = "Δ" if row.statistic == "difference" else "ρ"
        value = "–" if pd.isna(row.value) else f"{symbol} {row.value:+.3g}" if symbol == "Δ" else f"ρ {row.value:+.2f}"
        p = "–" if pd.isna(row.p) else f"{row.p:.2g} ({row.p_adjusted:.2g})"
        effect = ("–" if pd.isna(row.effect) else
                  f"{row.effect:+.3g} [{number(row.effect_low, '+.3g')}, {number(row.effect_high, '+.3g')}]")
        lines.append(f"| {row.text} | {row.figure} | {row.data_source or '–'} | {value} | {p} | {effect} | "
                     f"{number(row.effect_sd, '+.2g')} | {row.n_learning_rates} | {row.n_runs} | {row.n_failed_runs} | "
                     f"{row.excluded_lrs or '–'} | **{row.verdict}**{' ⚠' if _near_chance(row) else ''} |")
    counts = frame.verdict.value_counts()
    summary = ", ".join(f"{n} {verdict}" for verdict, n in counts.items()) or empty
    return lines + ["", f"Summary: {summary}."]
