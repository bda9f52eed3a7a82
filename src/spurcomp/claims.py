"""The paper's claims that the computed tables can test, each with a statistic, the value found and a verdict.

Statistic: Spearman's ρ between the learning rate and the metric's mean over seeds, with a 95% bootstrap interval
from resampling the seeds within each learning rate. Failed runs (diverged or collapsed) are never averaged in,
and the paper's grid rule (:func:`grid_rule_cut`, on by default) keeps only the learning rates up to the first
failure or drastic loss of accuracy. Verdict: ``holds`` when the interval lies on the paper's side of 0,
``does not hold`` when it lies on the other side, ``inconclusive`` when it contains 0, ``not enough runs``
with fewer than 3 learning rates or 2 seeds, ``not computed`` when the study's table does not exist (yet).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from spurcomp.names import dataset_name, knob_names, metric_name, model_name, source_name
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


def config_claims(config: dict) -> list[Claim]:
    """The claims of every figure of the config, as its layout module states them (first figure wins when
    two figures test the same claim)."""
    from spurcomp.figures import layout_module  # figures state their claims with the helpers above

    claims: dict[str, Claim] = {}
    for spec in (config.get("figures") or {}).values():
        for claim in layout_module(spec["layout"]).claims(spec, config):
            claims.setdefault(claim.claim_id, claim)
    return list(claims.values())


def claims_param(config: dict) -> list[dict]:
    """:func:`config_claims` as plain dicts: the claims job's param (a changed claim reruns it)."""
    return [asdict(claim) for claim in config_claims(config)]


def claim_studies(config: dict) -> list[str]:
    """The studies whose tables the claims are tested on."""
    return sorted({claim.study for claim in config_claims(config)})


def grid_rule_cut(table, rule: dict | None) -> dict[float, str]:
    """The learning rates the paper's grid rule leaves out of a study's curves and claims, with why.

    Sec. 4 uses "LRs up to the point of divergence or drastic performance loss (> 25% in test accuracy) among
    any one of the seeds". Scanning the learning rates upwards, the grid stops at the first one where a seed
    diverged or collapsed, or where a seed's ``metric`` lies more than ``max_drop`` below the study's best
    learning rate (the highest seed mean among learning rates without a failed seed): in accuracy points
    (``drop: points``, default) or as a fraction of the best (``relative``). Only learning rates above the best
    can lose accuracy this way: low learning rates that have not yet learned the core feature are the paper's
    curve, not a loss. That learning rate and every larger one are left out. ``rule``: the config's
    ``grid_rule`` section; ``enabled: false`` (or None) leaves every learning rate in.
    """
    if not rule or not rule.get("enabled", True):
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


def spearman(x, y) -> float:
    """Spearman's ρ (SciPy, as in fig5's table); 0 when either side is constant (no trend to rank)."""
    from scipy.stats import spearmanr  # here, not at the top: the DAG side imports this module

    if np.ptp(x) == 0 or np.ptp(y) == 0:
        return 0.0
    return float(spearmanr(x, y).statistic)


def test_claim(table, claim: Claim, n_boot: int = 1000, grid_rule: dict | None = None) -> dict:
    excluded = grid_rule_cut(table, grid_rule)
    runs = table[(table.metric == claim.metric) & ~table.lr.isin(list(excluded))]
    rows = runs[~runs.status.isin(FAILED_STATUSES)].dropna(subset=["value"])
    per_lr = {lr: group["value"].to_numpy() for lr, group in rows.groupby("lr")}
    result = {"n_learning_rates": len(per_lr), "n_runs": len(rows),
              "n_failed_runs": int(table[table.metric == claim.metric].status.isin(FAILED_STATUSES).sum()),
              "excluded_lrs": "; ".join(f"{lr:g} ({why})" for lr, why in excluded.items())}
    if len(per_lr) < 3 or min((len(v) for v in per_lr.values()), default=0) < 2:
        return {**result, "statistic": "spearman_rho", "value": np.nan, "ci_low": np.nan, "ci_high": np.nan,
                "verdict": "not enough runs"}
    lrs = np.array(sorted(per_lr))
    rho = spearman(lrs, np.array([per_lr[lr].mean() for lr in lrs]))
    rng = np.random.default_rng(derived_seed("claims", claim.claim_id))
    boot = [spearman(lrs, np.array([rng.choice(per_lr[lr], len(per_lr[lr])).mean() for lr in lrs]))
            for _ in range(n_boot)]
    low, high = np.percentile(boot, [2.5, 97.5])
    signed_low, signed_high = sorted((claim.direction * low, claim.direction * high))
    verdict = "holds" if signed_low > 0 else "does not hold" if signed_high < 0 else "inconclusive"
    return {**result, "statistic": "spearman_rho", "value": rho, "ci_low": low, "ci_high": high, "verdict": verdict}


def evaluate_claims(tables: dict[str, Path], out_csv: str | Path, out_md: str | Path, claims: list[Claim],
                    grid_rule: dict | None = None):
    """``tables``: study -> table path, for the studies computed. Claims of other studies are 'not computed'.
    ``grid_rule``: the config's section (:func:`grid_rule_cut`)."""
    import pandas as pd

    from spurcomp.aggregate import read_table

    loaded = {study: read_table(path) for study, path in tables.items() if Path(path).exists()}
    rows = []
    for claim in claims:
        base = {"claim": claim.claim_id, "text": claim.text, "figure": claim.figure, "study": claim.study,
                "metric": claim.metric, "paper_direction": "increases" if claim.direction > 0 else "decreases",
                "supplementary": claim.supplementary}
        if claim.study not in loaded:
            rows.append({**base, "statistic": "spearman_rho", "value": np.nan, "ci_low": np.nan, "ci_high": np.nan,
                         "n_learning_rates": 0, "n_runs": 0, "n_failed_runs": 0, "excluded_lrs": "",
                         "data_source": "", "verdict": "not computed"})
            continue
        table, provenance = loaded[claim.study]
        sources = ", ".join(sorted({source_name(d.get("source", "?"), d.get("generator"))
                                    for d in provenance.get("datasets", {}).values()}))
        rows.append({**base, **test_claim(table, claim, grid_rule=grid_rule), "data_source": sources})
    columns = ["claim", "text", "figure", "study", "metric", "paper_direction", "supplementary", "statistic", "value",
               "ci_low", "ci_high", "n_learning_rates", "n_runs", "n_failed_runs", "excluded_lrs", "data_source",
               "verdict"]
    frame = pd.DataFrame(rows, columns=columns)  # the columns even when no figure of the config tests a claim
    Path(out_csv).parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(out_csv, index=False)
    Path(out_md).write_text(_markdown(frame))
    return frame


def _markdown(frame) -> str:
    lines = [
        "# Claims of the paper tested on the computed tables",
        "",
        "Statistic: Spearman's ρ between learning rate and the metric's mean over seeds (failed runs, diverged or "
        "collapsed, left out), with a 95% bootstrap interval over seeds. A claim holds when the interval lies on the "
        "paper's side of 0. Learning rates past the paper's grid rule (the first with a failed seed or a drastic "
        "loss of accuracy) are left out and listed.",
        "",
        *_claims_table(frame[~frame.supplementary.astype(bool)], "no claims (no figure of the config tests one)"),
    ]
    supplementary = frame[frame.supplementary.astype(bool)]
    if len(supplementary):
        lines += [
            "", "## Supplementary: the choices the paper leaves open", "",
            "The same test for the pruning variants (criterion and scope; the paper's figures use the configured "
            "default) and for selectivity with dead units counted as 0. These check what the paper's claims depend "
            "on; they are not claims of the paper.", "",
            *_claims_table(supplementary, "none"),
        ]
    return "\n".join(lines) + "\n"


def _claims_table(frame, empty: str) -> list[str]:
    import pandas as pd

    lines = ["| claim | figure | data | ρ | 95% interval | LRs | runs | failed runs | LRs left out | verdict |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for row in frame.itertuples():
        value = "–" if pd.isna(row.value) else f"{row.value:+.2f}"
        interval = "–" if pd.isna(row.ci_low) else f"[{row.ci_low:+.2f}, {row.ci_high:+.2f}]"
        lines.append(f"| {row.text} | {row.figure} | {row.data_source or '–'} | {value} | {interval} | "
                     f"{row.n_learning_rates} | {row.n_runs} | {row.n_failed_runs} | {row.excluded_lrs or '–'} | "
                     f"**{row.verdict}** |")
    counts = frame.verdict.value_counts()
    summary = ", ".join(f"{n} {verdict}" for verdict, n in counts.items()) or empty
    return lines + ["", f"Summary: {summary}."]
