"""The workflow as a user meets it: real Snakemake runs on a tiny config."""
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from spurcomp.aggregate import read_table

REPO = Path(__file__).resolve().parents[1]
SNAKEMAKE = [sys.executable, "-m", "snakemake", "-s", str(REPO / "workflow" / "Snakefile")]

pytestmark = pytest.mark.workflow


def snakemake(workdir, *args, config="config.yaml"):
    return subprocess.run([*SNAKEMAKE, "--directory", str(workdir), "--configfile", str(workdir / config), *args],
                          capture_output=True, text=True, timeout=900)


def test_default_config_plans_every_figure():
    result = subprocess.run([*SNAKEMAKE, "-n", "--quiet", "all"], cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "train" in result.stdout + result.stderr


def test_a_bad_config_stops_before_any_job(tmp_path, tiny_config):
    tiny_config["studies"]["fig3"]["grid"]["lr"] = [0.1, -2]
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(tiny_config))
    result = snakemake(tmp_path, "--cores", "1", "figures/fig3.pdf")
    assert result.returncode != 0
    assert "config key studies.fig3.grid.lr.1: -2 is less than or equal to the minimum of 0" in result.stderr
    assert not (tmp_path / "results").exists()


def test_whole_dag_runs_and_makes_fig3(tmp_path, tiny_config):
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(tiny_config))
    result = snakemake(tmp_path, "--cores", "2", "figures/fig3.pdf", "results/claims.md")
    assert result.returncode == 0, result.stderr[-3000:]

    claims = pd.read_csv(tmp_path / "results" / "claims.csv")
    assert (claims[claims.study == "fig3_moonstar"].verdict == "not computed").all()
    # 2 learning rates are too few for a trend: never reported as holding
    assert (claims[claims.study == "fig3"].verdict == "not enough runs").all()

    pdf = tmp_path / "figures" / "fig3.pdf"
    assert pdf.read_bytes()[:4] == b"%PDF"
    table, provenance = read_table(tmp_path / "results" / "tables" / "fig3.parquet")
    assert provenance["study"] == "fig3" and provenance["datasets"]["parity"]["source"] == "procedural"
    assert provenance["versions"]["torch"] and provenance["config_hash"]
    # one row per (run, metric): 2 learning rates x 2 seeds, every run key a column
    assert {"dataset", "model", "setting", "seed", "lr", "status", "metric", "value", "kappa", "epoch"} <= set(table.columns)
    assert table.groupby(["setting", "seed"]).ngroups == 4
    unbiased = table[table.metric == "unbiased_test_acc"]
    assert len(unbiased) == 4 and unbiased.value.between(0, 1).all()
    kappas = table[table.metric == "kappa_prunability"]
    assert sorted(kappas.kappa.unique()) == [0.1, 0.5, 0.9]
    # prunability is the sum of κP over κ, per run
    summed = kappas.groupby(["setting", "seed"]).value.sum()
    totals = table[table.metric == "prunability"].set_index(["setting", "seed"]).value
    pd.testing.assert_series_equal(summed.sort_index(), totals.sort_index(), check_names=False)
    shares = table[table.metric == "attribution_share"]
    assert set(shares.epoch.dropna().astype(int)) >= {0, 2}
    per_checkpoint = shares.groupby(["setting", "seed", "epoch"]).value.sum()
    assert per_checkpoint.between(0.999, 1.001).all()  # core + spurious + noise shares add up to 1

    values = pd.read_csv(tmp_path / "figures" / "fig3.csv")
    assert set(values.metric) >= {"unbiased_test_acc", "prunability", "activation_sparsity"}
    assert (tmp_path / "logs" / "runs" / "parity" / "fcn" / "lr=0.5" / "seed=0" / "train.log").read_text().count("epoch") > 1

    report = snakemake(tmp_path, "--report", str(tmp_path / "report.html"))
    assert report.returncode == 0, report.stderr[-3000:]
    assert (tmp_path / "report.html").stat().st_size > 10_000

    # re-plotting from the table alone: remove the figure, nothing upstream reruns
    pdf.unlink()
    result = snakemake(tmp_path, "--cores", "1", "figures/fig3.pdf")
    assert result.returncode == 0
    assert "rule train" not in result.stdout + result.stderr and pdf.exists()
