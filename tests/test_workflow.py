"""The workflow as a user meets it: real Snakemake runs on a tiny config."""
import copy
import re
import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml
from conftest import reversed_keys

from spurcomp.aggregate import read_table

REPO = Path(__file__).resolve().parents[1]
SNAKEMAKE = [sys.executable, "-m", "snakemake", "-s", str(REPO / "workflow" / "Snakefile")]
FROM_ROOT = [sys.executable, "-m", "snakemake"]  # finds ./Snakefile and ./profiles/default, as a user's would

pytestmark = pytest.mark.workflow


def snakemake(workdir, *args, config="config.yaml", command=SNAKEMAKE):
    return subprocess.run([*command, "--directory", str(workdir), "--configfile", str(workdir / config), *args],
                          capture_output=True, text=True, timeout=900, cwd=REPO)


def chunk_jobs(plan: str, step: str = "train") -> list[str]:
    """The train (or evaluate) jobs of a plan, by the record each writes (``.../SETTING/seeds=0_1_2.train.json``)."""
    return sorted(set(re.findall(rf"output: (results/runs/\S+/seeds=[\d_]+\.{step}\.json)", plan)))


def train_jobs(plan: str) -> list[str]:
    return chunk_jobs(plan, "train")


def test_default_config_plans_every_figure_from_the_root():
    # no target: the default one (the top-level Snakefile's, the same files as workflow/Snakefile's `all`)
    result = subprocess.run([*FROM_ROOT, "-n"], cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    out = result.stdout + result.stderr
    assert "workflow specific profile profiles/default" in out  # the default profile is still found
    for figure in ("fig1", "fig2", "fig3", "fig3_moonstar", "fig4", "fig5", "fig6", "fig7", "fig7_waterbirds", "fig8",
                   "fig9", "fig10", "fig11", "fig12", "fig13", "figS_optimizers", "figS_pruning", "prop1"):
        assert f"figures/{figure}.pdf" in out
    # a train job and an evaluate job per setting and up to 3 seeds (execution.runs_per_job): fig3's and
    # moon-star's 14 settings x 3 seeds, fig4's 16 x 3, figS_optimizers' 16 x 2, fig9's 16 x 2 (seeds 3 and 4 of 4
    # settings shared with fig3: jobs of their own), fig6's 24 x 2 (6 knobs alone and with a high learning rate on
    # 2 datasets; their defaults are fig4's runs), fig13's 4 x 2; fig10/11's 3 settings on each of 3 standard
    # datasets, fig7's 4 on each of CelebA and Waterbirds, fig8's 2 MNIST-CIFAR and fig1's 2 Double MNIST settings
    jobs = 14 + 16 + 16 + 16 + 24 + 4 + 9 + 8 + 2 + 2
    assert len(train_jobs(out)) == jobs and len(chunk_jobs(out, "evaluate")) == jobs
    assert re.search(rf"^train\s+{jobs}$", out, re.M) and re.search(rf"^evaluate\s+{jobs}$", out, re.M)
    assert re.search(r"figure\s+18", out) and re.search(r"table\s+16", out)
    assert re.search(r"^segmenter\s+1$", out, re.M) and re.search(r"^background_masks\s+3$", out, re.M)


def job_blocks(plan: str, rule: str) -> list[str]:
    """The lines Snakemake prints for each job of ``rule`` in a plan."""
    return re.findall(rf"^\s*rule {rule}:\n((?:\s+\w+: .*\n)+)", plan, re.M)


def test_per_rule_overrides_reach_every_train_and_evaluate_job(tmp_path):
    # README and config/README.md: `--set-resources train:...`, `--set-threads`, a profile's `set-resources`
    profile = tmp_path / "mine"
    profile.mkdir()
    (profile / "config.yaml").write_text("set-resources:\n  - evaluate:mem_mb=7777\nset-threads:\n  - train=2\n")
    result = subprocess.run([*FROM_ROOT, "-n", "--cores", "4", "--profile", str(profile)], cwd=REPO,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    train, evaluate = job_blocks(result.stdout, "train"), job_blocks(result.stdout, "evaluate")
    assert len(train) == len(evaluate) == len(train_jobs(result.stdout)) > 100
    assert all("threads: 2" in job for job in train) and all("mem_mb=7777" in job for job in evaluate)
    result = subprocess.run([*FROM_ROOT, "-n", "--set-resources", "train:mem_mb=12345", "evaluate:gpu=1"], cwd=REPO,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    train, evaluate = job_blocks(result.stdout, "train"), job_blocks(result.stdout, "evaluate")
    assert len(train) > 100 and all("mem_mb=12345" in job for job in train)
    assert all("gpu=1" in job and "mem_mb=3000" in job for job in evaluate)
    # three FCN runs side by side: a job of three seeds asks for one run's runtime, not three
    result = subprocess.run([*FROM_ROOT, "-n", "figures/fig3.pdf", "--config", "execution={side_by_side: {fcn: 3}}"],
                            cwd=REPO, capture_output=True, text=True, timeout=300)
    train = job_blocks(result.stdout, "train")
    assert train and all("runtime=60," in job for job in train), train[:1]
    # one rule per step: the rule list and the rule graph stay readable
    rules = subprocess.run([*FROM_ROOT, "--list-rules"], cwd=REPO, capture_output=True, text=True).stdout.split()
    assert rules == ["aggregate", "all", "background_masks", "claims", "dataset", "dataset_summary", "default",
                     "evaluate", "fidelity", "figure", "lr_extension", "segmenter", "table", "train"]


def test_every_documented_override_reaches_every_job_of_its_rule():
    prose = [REPO / "README.md", REPO / "AE.md", REPO / "config" / "README.md", *sorted((REPO / "docs").glob("*.md"))]
    examples = {" ".join(span.split()) for path in prose
                for span in re.findall(r"`(--set-(?:resources|threads) [^`]+)`", path.read_text())}
    assert len(examples) >= 3, examples
    for example in sorted(examples):
        option, *values = example.split()
        result = subprocess.run([*FROM_ROOT, "-n", "--cores", "16", "figures/fig3.pdf", option, *values], cwd=REPO,
                                capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, result.stderr[-3000:]
        for value in values:
            if option == "--set-resources":
                rule, expected = value.split(":", 1)
            else:
                rule, threads = value.split("=")
                expected = f"threads: {threads}"
            jobs = job_blocks(result.stdout, rule)
            assert jobs and all(expected in job for job in jobs), (example, jobs[:1])


def test_the_rules_pass_snakemake_lint_and_snakefmt():
    lint = subprocess.run([*FROM_ROOT, "--lint"], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert lint.returncode == 0 and "Lints for" not in lint.stdout + lint.stderr, (lint.stdout + lint.stderr)[-3000:]
    snakefmt = Path(sys.executable).parent / "snakefmt"  # the test extra's; line length from pyproject.toml
    check = subprocess.run([str(snakefmt), "--check", "Snakefile", "workflow"], cwd=REPO, capture_output=True,
                           text=True, timeout=300)
    assert check.returncode == 0, check.stderr[-3000:]


def test_nested_command_line_overrides_are_typed():
    result = subprocess.run([*FROM_ROOT, "-n", "figures/fig3.pdf", "--config", "training={max_epochs: 5}",
                             "studies={fig3: {seeds: [0]}}"], cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    out = result.stdout + result.stderr
    # before, the string '5' failed validation; now 7 learning rates x 1 seed are planned
    assert len(train_jobs(out)) == 7 and "seed=1" not in out


def test_the_dag_side_imports_no_heavy_library():
    # what the Snakefile and common.smk import (and every layout module, which the DAG asks for its inputs and
    # claims); the scripts import spurcomp.steps and spurcomp.runtime before they do any work
    code = ("import sys, spurcomp.claims, spurcomp.config, spurcomp.figures, spurcomp.study, spurcomp.steps, "
            "spurcomp.runtime, spurcomp.cli\n"
            "from spurcomp.figures import LAYOUTS, layout_module\n"
            "[layout_module(name) for name in LAYOUTS]\n"
            "heavy = ('torch', 'torchvision', 'captum', 'scipy', 'matplotlib')\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in heavy))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_a_train_job_reads_images_without_the_libraries_that_make_them():
    """The engine and the dataset reader load neither SciPy nor matplotlib (the procedural generators' own
    imports): a second less of every train and evaluate job's start-up (benchmarks/startup.py)."""
    code = ("import sys, spurcomp.data.io, spurcomp.settings, spurcomp.train.engine\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('scipy', 'matplotlib')))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_a_bad_config_stops_before_any_job(tmp_path, tiny_config):
    tiny_config["studies"]["fig3"]["grid"]["lr"] = [0.1, -2]
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(tiny_config))
    result = snakemake(tmp_path, "--cores", "1", "figures/fig3.pdf")
    assert result.returncode != 0
    assert "config key studies.fig3.grid.lr.1: -2 is less than or equal to the minimum of 0" in result.stderr
    assert not (tmp_path / "results").exists()


def test_whole_dag_runs_from_the_root_and_makes_fig3(tmp_path, tiny_config):
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(tiny_config))
    # every file of the default target, so that the report below has them all
    result = snakemake(tmp_path, "--cores", "2", "figures/fig3.pdf", "results/claims.md", "results/tables/fig3.md",
                       command=FROM_ROOT)
    assert result.returncode == 0, result.stderr[-3000:]

    claims = pd.read_csv(tmp_path / "results" / "claims.csv")
    # the claims of the configured figure only, in words a reader of the paper knows
    assert set(claims.study) == {"fig3"} and len(claims) == 7
    assert "Unbiased test accuracy increases with learning rate on parity, FCN (3 × 32)" in set(claims.text)
    # 2 learning rates are too few for a trend: never reported as holding
    assert (claims.verdict == "not enough runs").all()

    pdf = tmp_path / "figures" / "fig3.pdf"
    assert pdf.read_bytes()[:4] == b"%PDF"
    assert (tmp_path / "figures" / "fig3.png").read_bytes()[:4] == b"\x89PNG"  # what the report shows inline
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
    assert set(values.dataset_name) == {"parity (procedural)"} and set(values.model_name) == {"FCN (3 × 32)"}
    assert "Unbiased test accuracy" in set(values.metric_name)
    run_logs = tmp_path / "logs" / "runs" / "parity" / "fcn" / "lr=0.5" / "seed=0"
    assert (run_logs / "train.log").read_text().count("epoch") > 1
    # Snakemake's own record of each job's time and memory: one train job holds both seeds of a setting
    benchmark = pd.read_csv(run_logs.parent / "seeds=0_1.train.benchmark.tsv", sep="\t")
    assert {"s", "max_rss"} <= set(benchmark.columns) and benchmark.s.iloc[0] > 0
    # and the job's own CPU time, which benchmarks/build_profile.py reads beside it
    from spurcomp.jobs import CPU_LINE
    cpu = re.findall(rf"{CPU_LINE}: ([0-9.]+)", (run_logs.parent / "seeds=0_1.train.log").read_text())
    assert len(cpu) == 1 and 0 < float(cpu[0]) < 5 * benchmark.s.iloc[0]

    report = snakemake(tmp_path, "--report", str(tmp_path / "report.html"))
    assert report.returncode == 0, report.stderr[-3000:]
    html = (tmp_path / "report.html").read_text()
    # the figure's caption comes from its layout module and says what it was drawn from
    assert "The paper&#x27;s Fig. 3" in html or "The paper's Fig. 3" in html
    assert "study <tt" in html or "study <code" in html

    # a figure or aggregate job never imports torch: re-run both steps in a fresh process and look
    code = ("import sys, yaml\n"
            "from spurcomp import steps\n"
            "from spurcomp.config import load_config\n"
            "from spurcomp.figures import figure_inputs\n"
            "from spurcomp.study import EVALUATION_FAMILIES, evaluation_path, study_runs\n"
            "config = load_config('config.yaml')\n"
            "runs = study_runs(config, 'fig3')\n"
            "steps.aggregate('fig3', config['studies']['fig3'], [r.directory / 'run.json' for r in runs],\n"
            "                [evaluation_path(r, f) for r in runs for f in EVALUATION_FAMILIES], 'again.parquet')\n"
            "steps.figure('fig3', figure_inputs(config, 'fig3'), 'again.pdf', 'again.csv')\n"
            "print(sorted(m for m in ('torch', 'torchvision', 'captum') if m in sys.modules))")
    light = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True)
    assert light.returncode == 0, light.stderr[-3000:]
    assert light.stdout.strip() == "[]"
    pd.testing.assert_frame_equal(read_table(tmp_path / "again.parquet")[0], table)

    # the same config with every mapping's keys in reverse order: params are compared in canonical form
    reordered = tmp_path / "reordered.yaml"
    reordered.write_text(yaml.safe_dump(reversed_keys(tiny_config), sort_keys=False))
    plan = snakemake(tmp_path, "-n", "figures/fig3.pdf", "results/claims.md", config="reordered.yaml")
    assert plan.returncode == 0 and "Nothing to be done" in plan.stdout + plan.stderr, plan.stdout[-2000:]

    # re-plotting from the table alone: remove the figure, nothing upstream reruns
    pdf.unlink()
    result = snakemake(tmp_path, "--cores", "1", "figures/fig3.pdf")
    assert result.returncode == 0
    assert "rule train" not in result.stdout + result.stderr and pdf.exists()

    # one run of a two-run train job lost: the plan names it with the command that reruns its job; the lost run
    # comes back from its saved state, and its finished sibling is not trained again (its bytes stay)
    runs = tmp_path / "results" / "runs" / "parity" / "fcn" / "lr=0.5"
    before = json.loads((runs / "seed=1" / "run.json").read_text())
    (runs / "seed=1" / "run.json").unlink()
    sibling = {name: (runs / "seed=0" / name).read_bytes() for name in ("weights.pt", "history.parquet", "run.json")}
    plan = snakemake(tmp_path, "-n")
    assert "--forcerun 'results/runs/parity/fcn/lr=0.5/seeds=0_1.train.json'" in plan.stderr
    result = snakemake(tmp_path, "--cores", "1", "--forcerun", "results/runs/parity/fcn/lr=0.5/seeds=0_1.train.json")
    assert result.returncode == 0, result.stderr[-3000:]
    assert train_jobs(result.stdout + result.stderr) == ["results/runs/parity/fcn/lr=0.5/seeds=0_1.train.json"]
    assert sibling == {name: (runs / "seed=0" / name).read_bytes() for name in sibling}
    assert "already finished" in (run_logs / "train.log").read_text()
    after = json.loads((runs / "seed=1" / "run.json").read_text())
    assert {k: after[k] for k in ("status", "epochs", "final_train_acc", "final_test_unbiased_acc")} == \
        {k: before[k] for k in ("status", "epochs", "final_train_acc", "final_test_unbiased_acc")}


SEMISYNTHETIC_CONFIG = {
    "datasets": {
        "colored_mnist": {"generator": "colored_mnist", "n_train": 150, "n_test": 100},
        "mnist_cifar": {"generator": "mnist_cifar", "n_train": 150, "n_test": 100},
    },
    # small, but every run learns something (a run still at chance would be a collapsed one)
    "models": {"cnn": {"arch": "cnn", "width": 0.125}},
    "training": {"lr": 0.1, "batch_size": 10, "max_epochs": 4, "checkpoint_epochs": [0]},
    "evaluation": {"kappas": [0.1, 0.5, 0.9], "pruning": {"score_samples": 100},
                   "ig": {"n_samples": 8, "n_baselines": 1, "n_steps": 4}},
    "studies": {
        "cm": {"dataset": "colored_mnist", "model": "cnn", "grid": {"lr": [0.01, 0.1]}, "seeds": [0]},
        "mc": {"dataset": "mnist_cifar", "model": "cnn", "grid": {"lr": [0.01, 0.05]}, "seeds": [0],
               "evaluation": {"ig": {"n_samples": 4}}},
    },
    "figures": {
        "fig2": {"layout": "fig2", "datasets": ["colored_mnist", "mnist_cifar"]},
        "fig4": {"layout": "fig4", "studies": ["cm", "mc"]},
        "fig5": {"layout": "fig5", "studies": ["cm", "mc"]},
        "figS_pruning": {"layout": "figS_pruning", "studies": ["cm", "mc"]},
    },
}


def test_tiny_fig4_fig5_fig2_end_to_end(tmp_path):
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(SEMISYNTHETIC_CONFIG))
    result = snakemake(tmp_path, "--cores", "2", "figures/fig4.pdf", "figures/fig5.pdf", "figures/fig2.pdf",
                       "figures/figS_pruning.pdf", "results/claims.md", "results/tables/fig4.md")
    assert result.returncode == 0, result.stderr[-3000:]
    for name in ("fig2", "fig4", "fig5", "figS_pruning"):
        assert (tmp_path / "figures" / f"{name}.pdf").read_bytes()[:4] == b"%PDF"

    fig4 = pd.read_csv(tmp_path / "figures" / "fig4.csv")
    assert set(fig4.study) == {"cm", "mc"}
    assert set(fig4.dataset_name) == {"Colored MNIST (embedded MNIST 5k)",
                                      "MNIST-CIFAR (embedded MNIST 5k + procedural CIFAR-10 stand-in)"}
    assert set(fig4.model_name) == {"VGG11 (width ×1/8)"}
    assert set(fig4.metric) == {"unbiased_test_acc", "prunability", "activation_compressibility"}
    # min and max of each panel's variable are the extremes of its plotted seed means
    for (study, metric), rows in fig4.groupby(["study", "metric"]):
        assert len(rows) == 2 and rows["min"].iloc[0] == rows["mean"].min() and rows["max"].iloc[0] == rows["mean"].max()
    table, provenance = read_table(tmp_path / "results" / "tables" / "cm.parquet")
    unbiased = table[table.metric == "unbiased_test_acc"].set_index("lr").value
    plotted = fig4[(fig4.study == "cm") & (fig4.metric == "unbiased_test_acc")].set_index("lr")["mean"]
    pd.testing.assert_series_equal(plotted.sort_index(), unbiased.sort_index(), check_names=False)
    assert provenance["datasets"]["colored_mnist"]["source"] == "embedded"

    fig5 = pd.read_csv(tmp_path / "figures" / "fig5.csv")
    assert set(fig5.metric) == {"unbiased_test_acc", "csi", "class_separation_r2"} and (fig5.runs == 2).all()
    fig2 = pd.read_csv(tmp_path / "figures" / "fig2.csv")
    assert set(fig2.kind) == {"aligned", "conflicting"} and set(fig2.dataset_name) == {"Colored MNIST", "MNIST-CIFAR"}
    assert ((fig2.y == fig2.b) == (fig2.kind == "aligned")).all()

    claims = pd.read_csv(tmp_path / "results" / "claims.csv")
    assert {"cm:prunability", "mc:csi", "mc:class_separation_r2"} <= set(claims.claim)
    supplementary = set(claims[claims.supplementary].claim)
    assert {"cm:prunability[random/global]", "cm:prunability[unstructured]", "mc:csi_all", "mc:bsi_all"} <= supplementary
    assert "cm:prunability" not in supplementary
    assert "## Supplementary" in (tmp_path / "results" / "claims.md").read_text()

    # every pruning variant on every run; the default (L1 weight norm per layer) is also plain `prunability`
    per_run = table.pivot_table(index=["setting", "seed"], columns="metric", values="value")
    pd.testing.assert_series_equal(per_run["prunability"], per_run["prunability[l1_weight/layer]"], check_names=False)
    for variant in ("bn_scale/global", "mean_activation/layer", "random/layer", "unstructured"):
        assert per_run[f"prunability[{variant}]"].notna().all()
    fractions = table[table.metric == "pruned_parameter_fraction"].sort_values("kappa")
    assert fractions.groupby(["setting", "seed"]).value.apply(lambda v: v.is_monotonic_increasing).all()
    # the all-unit selectivity counts dead units as 0: the live-unit mean times the live fraction
    pd.testing.assert_series_equal(per_run["csi_all"], per_run["csi"] * (1 - per_run["dead_unit_fraction"]),
                                   check_names=False)
    supplement = pd.read_csv(tmp_path / "figures" / "figS_pruning.csv")
    assert {"prunability[l1_weight/global]", "prunability_chance[random/layer]",
            "unbiased_test_acc"} <= set(supplement.metric)
    assert "κ-prunability (Σκ κP), batch-norm |γ|, global" in set(supplement.metric_name)
    # the evaluation settings travel with the study table, and the figure marks the configured default variant
    assert provenance["evaluation"]["pruning"]["criterion"] == "l1_weight"
    assert set(supplement[supplement.default_variant].variant) == {"l1_weight/layer"}

    # the figure's numbers as a table: one row per study and learning rate, the plotted means
    md = (tmp_path / "results" / "tables" / "fig4.md").read_text()
    assert md.count("| Colored MNIST (embedded MNIST 5k) | VGG11 (width ×1/8) |") == 2
    mean = fig4[(fig4.study == "cm") & (fig4.metric == "unbiased_test_acc") & (fig4.lr == 0.1)]["mean"].iloc[0]
    assert f"| 0.1 | {mean:.3f} |" in md
    assert (tmp_path / "results" / "tables" / "fig4.tex").read_text().startswith("\\begin{table}")

    # fig5's table is not made yet: the report shows what is made so far
    report = snakemake(tmp_path, "--report", str(tmp_path / "report.html"))
    assert report.returncode == 0, report.stderr[-3000:]
    html = (tmp_path / "report.html").read_text()
    assert "fig4.png" in html and "fig5.md" not in html


def test_prunability_configs_plan_their_figure_alone_on_a_cpu_and_on_a_gpu():
    result = subprocess.run([*FROM_ROOT, "-n", "--configfile=config/prunability.yaml"], cwd=REPO,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    out = result.stdout
    # the diagnosis, its table, the claims and the fidelity manifest; none of the default figures
    assert "figures/figS_prunability.pdf" in out and not re.search(r"figures/fig\d", out)
    # the reference (Fig. 4's Colored MNIST CNN: 4 rates x 3 seeds, 3 to a job) and four studies of one change each
    jobs = train_jobs(out)
    assert len(jobs) == 4 + 3 + 3 + 3 + 3
    assert {job.split("/")[3] for job in jobs} == {"cnn", "cnn_w16", "cnn_w4"}
    assert sum("post=10" in job for job in jobs) == 3 and sum("colored_mnist_small/cnn/" in job for job in jobs) == 3
    # full-width VGG11 on the real MNIST, three runs of a job at once on its GPU: planned, never run here
    gpu = subprocess.run([*FROM_ROOT, "-n", "--configfile", "config/prunability.yaml", "config/prunability_gpu.yaml",
                          "--config", "device=cuda"], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert gpu.returncode == 0, gpu.stderr[-3000:]
    jobs = train_jobs(gpu.stdout)
    assert len(jobs) == 4 * 4 and all("/cnn_full/" in job or "/cnn_half/" in job for job in jobs)
    assert all("gpu=1" in job for job in job_blocks(gpu.stdout, "train"))


def test_paper_config_plans_the_full_grid():
    result = subprocess.run([*SNAKEMAKE, "-n", "--configfile=config/paper.yaml", "figures/fig4.pdf",
                             "figures/fig5.pdf"], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    out = result.stdout + result.stderr
    # 10 dataset x architecture studies, 7 learning rates, 3 seeds: 210 runs, one job each
    assert len(train_jobs(out)) == 210 and re.search(r"aggregate\s+10", out)
    # fig9 at the paper's breadth: 7 learning rates x 5 focal gammas x 3 seeds; fig12 and prop1 plan too
    result = subprocess.run([*SNAKEMAKE, "-n", "figures/fig9.pdf", "figures/fig12.pdf", "figures/prop1.pdf",
                             "--configfile=config/paper.yaml"], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    out = result.stdout + result.stderr
    # one job per run (execution.runs_per_job: 1): fig9's 105, fig12's 210 paper runs and fig3 / moon-star's 42
    assert len(train_jobs(out)) == 105 + 210 + 42
    # fig6 with ResNet18 on two datasets: 16 knob values alone and with the high learning rate, 3 seeds each, plus
    # the two learning-rate rows (7 x 3); fig13: 2 datasets x 2 learning rates x 3 seeds
    result = subprocess.run([*SNAKEMAKE, "-n", "figures/fig6.pdf", "figures/fig13.pdf",
                             "--configfile=config/paper.yaml"], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    jobs = train_jobs(result.stdout + result.stderr)
    assert len(jobs) == 2 * (16 * 2 * 3 + 7 * 3) + 2 * 2 * 3
    assert sum("resnet18" in job for job in jobs) == len(jobs)
    # fig1, 7, 8, 10, 11 on the real data: CIFAR-10/100 and MNIST-CIFAR 7 x 3, Double MNIST 7 x 3 and fig1's maps (2 x 3)
    # runs, ImageNet 5 x 3, CelebA and Waterbirds 5 x 3; one segmenter, the masks of the three standard datasets
    result = subprocess.run([*SNAKEMAKE, "-n", "figures/fig1.pdf", "figures/fig7.pdf", "figures/fig7_waterbirds.pdf",
                             "figures/fig8.pdf", "figures/fig10.pdf", "figures/fig11.pdf",
                             "--configfile=config/paper.yaml"], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    out = result.stdout + result.stderr
    assert len(train_jobs(out)) == 4 * 21 + 2 * 3 + 3 * 15
    assert re.search(r"^segmenter\s+1$", out, re.M) and re.search(r"^background_masks\s+3$", out, re.M)


STANDARD_CONFIG = {
    "device": "cpu",
    "datasets": {
        "c10": {"generator": "cifar10", "n_train": 40, "n_test": 20, "background_masks": "dl"},
        "cb": {"generator": "celeba", "image_size": 16, "n_train": 40, "n_test": 20},
    },
    "segmenters": {"dl": {"n_train": 16, "n_test": 8, "epochs": 1, "batch_size": 8, "decoder_channels": 16}},
    "models": {"r": {"arch": "resnet", "depth": "resnet18", "width": 0.0625}, "swin": {"arch": "swin"}},
    "training": {"lr": 0.1, "batch_size": 10, "max_epochs": 12, "checkpoint_epochs": [0, 4]},
    "evaluation": {"kappas": [0.5], "pruning": {"score_samples": 20, "variants": []},
                   "ig": {"n_samples": 8, "n_baselines": 1, "n_steps": 2, "baseline": "zero", "maps": 3,
                          "map_pool": "any"}},
    "studies": {"c10": {"dataset": "c10", "model": "r", "grid": {"lr": [0.05, 0.1]}, "seeds": [0]},
                "cb": {"dataset": "cb", "model": "swin", "grid": {"lr": [0.0001, 0.001]}, "seeds": [0],
                       "overrides": {"optimizer": "adamw"}}},
    "figures": {"fig10": {"layout": "fig10", "studies": ["c10"]}, "fig8": {"layout": "fig8", "studies": ["c10"]},
                "fig7": {"layout": "fig7", "studies": ["cb"]}},
}


def write_image_folder(root, classes=3, per_split=None):
    """A tiny ImageNet release in ImageFolder layout: noisy JPEGs whose red level says the class."""
    from PIL import Image

    rng = __import__("numpy").random.default_rng(0)
    for split, n in (per_split or {"train": 8, "val": 4}).items():
        for k in range(classes):
            (root / "imagenet" / split / f"n{k:02d}").mkdir(parents=True)
            for i in range(n):
                pixels = rng.integers(0, 100, size=(24, 30, 3)).astype("uint8")
                pixels[..., 0] += 70 * k
                Image.fromarray(pixels).save(root / "imagenet" / split / f"n{k:02d}" / f"{i}.JPEG")


def test_background_masks_come_from_the_segmenter_rule_into_fig10_fig8_and_fig7(tmp_path):
    # and a lazily read ImageFolder release (fig11): its dataset file lists the images, which every job reads
    write_image_folder(tmp_path / "release")
    config = copy.deepcopy(STANDARD_CONFIG)
    config["datasets"]["inet"] = {"generator": "imagenet", "source": "folder", "data_root": str(tmp_path / "release"),
                                  "image_size": 32, "n_train": None, "n_test": None, "lazy": True,
                                  "background_masks": "dl"}
    config["studies"]["inet"] = {**config["studies"]["c10"], "dataset": "inet"}
    config["figures"]["fig11"] = {"layout": "fig11", "studies": ["inet"]}
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    result = snakemake(tmp_path, "--cores", "2", "figures/fig10.pdf", "figures/fig8.pdf", "figures/fig7.pdf",
                       "figures/fig11.pdf")
    assert result.returncode == 0, result.stderr[-3000:]
    with __import__("numpy").load(tmp_path / "results" / "data" / "inet.npz") as data:
        assert "train_x" not in data and len(data["train_files"]) == 24 and len(data["test_files"]) == 12
    with __import__("numpy").load(tmp_path / "results" / "masks" / "inet.npz") as masks:
        assert masks["test_background"].shape == (12, 32, 32)
    fig11 = pd.read_csv(tmp_path / "figures" / "fig11.csv")
    assert set(fig11.metric) >= {"test_acc", "csi", "background_attribution_pct"} and fig11["mean"].notna().any()
    # the paper's "model statistics and attributions": maps of the low- and the high-LR model above the curves
    assert (fig11.metric == "attribution_map").sum() > 0
    assert set(fig11.dataset_name) == {"ImageNet-1k (real)"}
    report = json.loads((tmp_path / "results" / "segmenters" / "dl.json").read_text())
    assert 0 <= report["miou_procedural"] <= 1 and report["held_out_images"] == 8
    with __import__("numpy").load(tmp_path / "results" / "masks" / "c10.npz") as masks:
        background = masks["test_background"]
    assert background.shape == (20, 32, 32)
    # only the dataset with a segmenter has masks; its runs' evaluations have the percentage (NaN where this
    # one-epoch segmenter marks no background at all: a share of nothing)
    assert not (tmp_path / "results" / "masks" / "cb.npz").exists()
    table, _ = read_table(tmp_path / "results" / "tables" / "c10.parquet")
    percentage = table[table.metric == "background_attribution_pct"].value
    assert len(percentage) == 2
    assert percentage.between(0, 100).all() if background.any() else percentage.isna().all()
    fig10 = pd.read_csv(tmp_path / "figures" / "fig10.csv")
    assert set(fig10.metric) == {"test_acc", "prunability", "csi", "final_attribution_entropy",
                                 "background_attribution_pct"}
    assert set(fig10.dataset_name) == {"CIFAR-10 (procedural CIFAR-10 stand-in)"}
    assert set(fig10.model_name) == {"ResNet18 (width ×1/16)"}
    fig8 = pd.read_csv(tmp_path / "figures" / "fig8.csv")
    assert len(fig8) == 6 and set(fig8.lr) == {0.05, 0.1}  # 3 samples, a low- and a high-LR map each
    fig7 = pd.read_csv(tmp_path / "figures" / "fig7.csv")
    assert "Swin (small: embedding 32, depths 1-1-2-1), from scratch" in set(fig7.model_name)
    # a change of segmenter settings recomputes the masks and the evaluations, not the dataset or the training
    changed = {**STANDARD_CONFIG, "segmenters": {"dl": {**STANDARD_CONFIG["segmenters"]["dl"], "epochs": 2}}}
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(changed))
    plan = snakemake(tmp_path, "-n", "figures/fig10.pdf")
    assert plan.returncode == 0, plan.stderr[-3000:]
    assert re.search(r"^segmenter\s+1$", plan.stdout, re.M) and re.search(r"^background_masks\s+1$", plan.stdout, re.M)
    assert not train_jobs(plan.stdout) and not re.search(r"^dataset\s+\d", plan.stdout, re.M)


def test_learning_rates_are_extended_until_one_fails(tmp_path, tiny_config):
    """lr_until_failure through a real Snakemake run: the parity grid [0.5] grows by factors of 8 (checkpoints
    re-plan as each decision is made) until a rate diverges or collapses; the table holds every trained rate."""
    tiny_config["training"].update(max_epochs=3, checkpoint_epochs=[0])
    tiny_config["studies"]["fig3"].update(grid={"lr": [0.5]}, seeds=[0], lr_until_failure={"factor": 8, "max_steps": 3})
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(tiny_config))
    result = snakemake(tmp_path, "--cores", "2", "results/tables/fig3.parquet")
    assert result.returncode == 0, result.stderr[-3000:]
    decisions = [json.loads((tmp_path / "results" / "extensions" / "fig3" / f"step={k}.json").read_text())
                 for k in range(4) if (tmp_path / "results" / "extensions" / "fig3" / f"step={k}.json").exists()]
    assert len(decisions) >= 2 and all(d["extend"] for d in decisions[:-1]) and not decisions[-1]["extend"]
    assert [d["largest_lr"] for d in decisions] == [0.5, 4.0, 32.0, 256.0][:len(decisions)]
    # the last decision is a failure (an FCN at lr 256 cannot train), named with why
    assert decisions[-1]["failed"] and ("diverged" in decisions[-1]["why"] or "collapsed" in decisions[-1]["why"]
                                        or "below" in decisions[-1]["why"])
    table, _ = read_table(tmp_path / "results" / "tables" / "fig3.parquet")
    assert sorted(table.lr.unique()) == [d["largest_lr"] for d in decisions]
    # spurcomp status shows where the extension stands
    status = subprocess.run([sys.executable, "-m", "spurcomp.cli", "--base", "none", "--configfile", "config.yaml",
                             "status"], cwd=tmp_path, capture_output=True, text=True)
    assert f"learning rates extended by {[d['largest_lr'] for d in decisions][1:]}: stopped" in status.stdout
    # nothing is left to do: the grown plan is complete
    again = snakemake(tmp_path, "--cores", "2", "results/tables/fig3.parquet", "-n")
    assert "Nothing to be done" in again.stdout + again.stderr
