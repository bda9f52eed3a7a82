"""The mechanism of Sec. 6: how much of a mini-batch's loss its bias-conflicting samples carry, and Proposition 1's
growth of that share when a predictor that follows the spurious rule has its logits scaled by k."""
from __future__ import annotations

import numpy as np


def cross_entropy(logits: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Per-sample cross-entropy, computed stably (log-sum-exp) so that large scales k stay finite."""
    top = logits.max(axis=1, keepdims=True)
    log_norm = top[:, 0] + np.log(np.exp(logits - top).sum(axis=1))
    return log_norm - logits[np.arange(len(y)), y]


def bc_ba_loss_ratio(logits: np.ndarray, y: np.ndarray, b: np.ndarray) -> float:
    """Proposition 1's left side: the summed loss of the bias-conflicting samples (y != b) over that of the
    bias-aligned ones (y = b)."""
    losses = cross_entropy(logits, y)
    conflicting = y != b
    return float(losses[conflicting].sum() / losses[~conflicting].sum())


def spurious_rule_logits(b: np.ndarray, num_classes: int, margin: float = 1.0) -> np.ndarray:
    """Logits of a predictor that follows the spurious rule: ``margin`` for the bias label b, 0 for the others."""
    logits = np.zeros((len(b), num_classes))
    logits[np.arange(len(b)), b] = margin
    return logits


def fit_growth_rate(k: np.ndarray, ratio: np.ndarray) -> tuple[float, float]:
    """Least-squares fit of ratio ≈ C k e^{αk}, i.e. log(ratio / k) = log C + α k; returns (α, C)."""
    alpha, log_c = np.polyfit(np.asarray(k, float), np.log(np.asarray(ratio, float) / np.asarray(k, float)), 1)
    return float(alpha), float(np.exp(log_c))
