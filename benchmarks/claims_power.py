"""How often the claims test (spurcomp.claims.trend_verdict) says "holds" for a trend claim, by design (learning rates
× seeds) and by true effect: the change from the lowest to the highest learning rate, in seed standard deviations,
linear in the learning rate's rank, with Gaussian seed noise. Effect 0 is the false-"holds" rate (at most α); the
others are the power, for one claim on its own (adjusting for the other claims of a family lowers it).

    python benchmarks/claims_power.py [--tables 400] [--alpha 0.05]
"""
from __future__ import annotations

import argparse

import numpy as np
import pandas as pd

from spurcomp.claims import Claim, trend_verdict

# the default scale's designs: the CNN studies of Fig. 4/5 and 6, parity's Fig. 3, the optimiser panels and the
# ResNet18 studies of Fig. 10
DESIGNS = {"Fig. 4, 5, 6 (4 rates × 3 seeds)": (4, 3), "Fig. 3 (7 rates × 3 seeds)": (7, 3),
           "figS_optimizers (4 rates × 2 seeds)": (4, 2), "Fig. 10 (3 rates × 2 seeds)": (3, 2),
           "5 rates × 3 seeds": (5, 3)}
EFFECTS = (0.0, 0.5, 1.0, 2.0, 3.0, 4.0)
CLAIM = Claim("power:metric", "metric increases", "power", "metric", +1, "power")


def synthetic_table(rates: int, seeds: int, effect: float, rng: np.random.Generator) -> pd.DataFrame:
    """A study table: the metric at rate k (0 … rates-1) is effect · k / (rates - 1) plus N(0, 1) per seed."""
    rows = [{"lr": 10.0 ** (k - rates), "seed": seed, "metric": "metric", "status": "converged",
             "value": effect * k / (rates - 1) + rng.normal()} for k in range(rates) for seed in range(seeds)]
    return pd.DataFrame(rows)


def holds_rate(rates: int, seeds: int, effect: float, tables: int, alpha: float, seed: int = 0) -> float:
    rng = np.random.default_rng(seed)
    tests = {"alpha": alpha, "n_resamples": 999}
    verdicts = [trend_verdict(synthetic_table(rates, seeds, effect, rng), CLAIM, n_boot=500, tests=tests)["verdict"]
                for _ in range(tables)]
    return float(np.mean([v == "holds" for v in verdicts]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tables", type=int, default=400, help="synthetic tables per cell (default: %(default)s)")
    parser.add_argument("--alpha", type=float, default=0.05)
    args = parser.parse_args()
    header = "| design | " + " | ".join(f"effect {e:g} sd" for e in EFFECTS) + " |"
    print(f"P(holds) over {args.tables} synthetic tables per cell, α = {args.alpha:g}, one claim on its own "
          f"(effect 0: the false-holds rate; Monte-Carlo error ±{2 * np.sqrt(0.25 / args.tables):.3f} at most)\n")
    print(header)
    print("|---|" + "---|" * len(EFFECTS))
    for name, (rates, seeds) in DESIGNS.items():
        cells = [f"{holds_rate(rates, seeds, effect, args.tables, args.alpha):.2f}" for effect in EFFECTS]
        print(f"| {name} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
