import pandas as pd
import pytest

from spurcomp.aggregate import write_table
from spurcomp.claims import CLAIMS, Claim, evaluate_claims, spearman, test_claim as claim_test


def table(values_by_lr, metric="unbiased_test_acc", status=None):
    rows = []
    for lr, values in values_by_lr.items():
        for seed, value in enumerate(values):
            rows.append({"lr": lr, "seed": seed, "metric": metric, "value": value,
                         "status": (status or {}).get((lr, seed), "converged")})
    return pd.DataFrame(rows)


CLAIM = Claim("fig3:unbiased_test_acc", "acc increases", "fig3", "unbiased_test_acc", +1, "Fig. 3")


def test_spearman_hand_computed():
    assert spearman([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1.0)
    assert spearman([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    # ranks (1,2,3,4) vs (1,3,2,4): 1 - 6·Σd²/(n(n²-1)) = 1 - 6·2/60 = 0.8
    assert spearman([1, 2, 3, 4], [1, 3, 2, 4]) == pytest.approx(0.8)


def test_verdicts():
    rising = table({0.01: [0.5, 0.52, 0.51], 0.1: [0.7, 0.72, 0.69], 1.0: [0.9, 0.91, 0.92]})
    assert claim_test(rising, CLAIM)["verdict"] == "holds"
    falling = table({0.01: [0.9, 0.91, 0.92], 0.1: [0.7, 0.72, 0.69], 1.0: [0.5, 0.52, 0.51]})
    assert claim_test(falling, CLAIM)["verdict"] == "does not hold"
    noisy = table({0.01: [0.1, 0.9, 0.5], 0.1: [0.9, 0.1, 0.5], 1.0: [0.5, 0.1, 0.9]})
    assert claim_test(noisy, CLAIM)["verdict"] == "inconclusive"
    assert claim_test(table({0.01: [0.5, 0.6], 0.1: [0.7, 0.8]}), CLAIM)["verdict"] == "not enough runs"


def test_diverged_runs_are_left_out():
    # the high-LR seed that diverged (accuracy 0) would otherwise break the trend
    rising = table({0.01: [0.5, 0.5, 0.5], 0.1: [0.7, 0.7, 0.7], 1.0: [0.9, 0.0, 0.9]}, status={(1.0, 1): "diverged"})
    result = claim_test(rising, CLAIM)
    assert result["n_runs"] == 8 and result["value"] == pytest.approx(1.0)


def test_claims_of_missing_tables_are_not_computed(tmp_path):
    path = tmp_path / "fig3.parquet"
    frame = table({0.01: [0.5, 0.52], 0.1: [0.7, 0.72], 1.0: [0.9, 0.91]})
    write_table(frame, path, {"datasets": {"parity": {"source": "procedural"}}})
    result = evaluate_claims({"fig3": path, "fig3_moonstar": tmp_path / "missing.parquet"},
                             tmp_path / "claims.csv", tmp_path / "claims.md")
    assert len(result) == len(CLAIMS)
    assert result.set_index("claim").loc["fig3:unbiased_test_acc", "verdict"] == "holds"
    assert (result[result.study == "fig3_moonstar"].verdict == "not computed").all()
    # fig3 claims on metrics absent from this table have no runs to judge
    assert result.set_index("claim").loc["fig3:csi", "verdict"] == "not enough runs"
    assert "**holds**" in (tmp_path / "claims.md").read_text()
