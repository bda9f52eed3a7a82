import pandas as pd
import pytest

from spurcomp.aggregate import write_table
from spurcomp.claims import Claim, config_claims, evaluate_claims, spearman, test_claim as claim_test
from spurcomp.config import validate_config


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
    write_table(frame, path, {"datasets": {"parity": {"source": "procedural", "generator": "parity"}}})
    claims = [CLAIM, Claim("fig3:csi", "CSI increases", "fig3", "csi", +1, "Fig. 3"),
              Claim("other:csi", "CSI increases", "other", "csi", +1, "Fig. 3")]
    result = evaluate_claims({"fig3": path, "other": tmp_path / "missing.parquet"},
                             tmp_path / "claims.csv", tmp_path / "claims.md", claims)
    assert len(result) == 3
    assert result.set_index("claim").loc["fig3:unbiased_test_acc", "verdict"] == "holds"
    assert result.set_index("claim").loc["fig3:unbiased_test_acc", "data_source"] == "procedural"
    assert result.set_index("claim").loc["other:csi", "verdict"] == "not computed"
    # claims on metrics absent from this table have no runs to judge
    assert result.set_index("claim").loc["fig3:csi", "verdict"] == "not enough runs"
    assert "**holds**" in (tmp_path / "claims.md").read_text()


def test_claims_come_from_the_figures_of_the_config_with_names_for_people(tiny_config):
    tiny_config["datasets"]["cm"] = {"generator": "colored_mnist"}
    tiny_config["models"]["cnn"] = {"arch": "cnn", "width": 0.125}
    tiny_config["studies"]["cm_cnn"] = {"dataset": "cm", "model": "cnn", "grid": {"lr": [0.1]}, "seeds": [0]}
    tiny_config["figures"].update(fig4={"layout": "fig4", "studies": ["cm_cnn"]},
                                  fig5={"layout": "fig5", "studies": ["cm_cnn"]},
                                  fig2={"layout": "fig2", "datasets": ["cm"]})
    claims = {c.claim_id: c for c in config_claims(validate_config(tiny_config))}
    # fig3: six variables and fig. 12's BC loss ratio; fig4: three; fig5: CSI and R² (its accuracy is fig4's);
    # fig2 tests nothing
    assert len(claims) == 7 + 3 + 2
    assert claims["fig3:prunability"].figure == "Fig. 3" and claims["fig3:max_bc_loss_ratio"].figure == "Fig. 12"
    assert claims["cm_cnn:prunability"].text == \
        "κ-prunability (Σκ κP) increases with learning rate on Colored MNIST, VGG11 (width ×1/8)"
    assert claims["fig3:csi"].text == "Class selectivity (CSI) increases with learning rate on parity, FCN (3 × 32)"
    assert claims["cm_cnn:csi"].figure == "Fig. 5"
    # a figure removed from the config takes its claims with it
    del tiny_config["figures"]["fig3"]
    assert not any(c.study == "fig3" for c in config_claims(validate_config(tiny_config)))
