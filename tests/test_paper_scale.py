"""config/paper.yaml as the paper states it: no value of the laptop config leaks into the merged paper config.

Snakemake merges `--configfile config/paper.yaml` over config/config.yaml key by key, so a key the paper file does
not spell out keeps its laptop value (ResNet18 at 1/8 width, the zero IG baseline, no pruning variants, 30 epochs).
This test walks every leaf of the merged config, as Snakemake builds it, and fails on any value that comes from the
laptop config alone, unless its key is on the short reviewed list below.
"""
from __future__ import annotations

import re
from pathlib import Path

from spurcomp.cli import merged_config
from spurcomp.config import read_config_file, validate_config

REPO = Path(__file__).resolve().parents[1]

# Keys whose one value serves both scales: the paper's own values or bookkeeping that changes no number's meaning.
SCALE_NEUTRAL = (
    r"seed",                                   # the master seed
    r"evaluation\.kappas",                     # the paper's κ = 0.1 … 0.9
    r"evaluation\.compressibility\.(q|kappa)",  # (q, κ)-compressibility: our choice, the same at both scales
    r"training\.state_every_epochs",           # how often resumable state is written
    r"training\.test_every_epoch",             # how often an epoch row has the test set's numbers
    r"training\.divergence_factor",            # what counts as diverged
)


def leaves(value, path=()):
    """(dotted path, value) of every leaf: a scalar, a list, or an empty mapping."""
    if isinstance(value, dict) and value:
        for key, item in value.items():
            yield from leaves(item, (*path, str(key)))
    else:
        yield ".".join(path), value


def inherited_leaves(base: dict, overlay: dict) -> list[tuple[str, object]]:
    """Leaves of ``base`` merged with ``overlay`` that ``overlay`` does not spell out (a removed entry, set to
    null in the overlay, is spelled out)."""
    spelled = {path for path, _ in leaves(overlay)}
    found = []
    for path, value in leaves(base):
        parts = path.split(".")
        # the overlay spells a leaf itself or one of the mappings above it as null (removed) or as a leaf
        prefixes = {".".join(parts[:i]) for i in range(1, len(parts) + 1)}
        if not prefixes & spelled:
            found.append((path, value))
    return found


def test_merged_paper_config_inherits_no_laptop_value():
    base = read_config_file(REPO / "config" / "config.yaml")
    paper = read_config_file(REPO / "config" / "paper.yaml")
    leaks = [(path, value) for path, value in inherited_leaves(base, paper)
             if not any(re.fullmatch(pattern, path) for pattern in SCALE_NEUTRAL)]
    assert not leaks, "laptop values in the paper config:\n" + "\n".join(f"  {p} = {v!r}" for p, v in leaks)


def test_merged_paper_config_has_full_width_models_and_the_paper_defaults(monkeypatch):
    monkeypatch.chdir(REPO)
    config, _ = merged_config("config/config.yaml", ["config/paper.yaml"])
    validate_config(config)
    models = config["models"]
    assert all(spec["width"] == 1.0 for spec in models.values() if spec["arch"] in ("resnet", "cnn"))
    assert models["fcn"]["hidden"] == [200, 200, 200]
    # the laptop's studies this scale does not run are gone, not inherited
    assert not any(name.startswith("fig6_dm_") for name in config["studies"])
    assert "deeplabv3" not in config["segmenters"]
    from spurcomp.study import run_evaluations, study_runs
    evaluations = run_evaluations(config)
    for name, spec in config["studies"].items():
        assert len(spec["seeds"]) >= 3, name
        for run in study_runs(config, name):
            ig, pruning = evaluations[run]["ig"], evaluations[run]["pruning"]
            assert (ig["baseline"], ig["n_baselines"]) == ("uniform", 10), (name, ig)
            assert pruning["budget"] == "parameters", name
    assert config["datasets"]["imagenet"]["image_size"] == 256


def test_the_leaf_walk_finds_a_leak():
    """The walker itself: a paper file that forgets ResNet18's width inherits the laptop's 1/8."""
    base = {"models": {"resnet18": {"arch": "resnet", "width": 0.125}}, "studies": {"a": {"seeds": [0]}, "b": {}}}
    overlay = {"models": {"resnet18": {"arch": "resnet"}}, "studies": {"a": None}}
    assert inherited_leaves(base, overlay) == [("models.resnet18.width", 0.125), ("studies.b", {})]


def _manifest(monkeypatch, *files):
    from spurcomp.fidelity import fidelity_rows
    monkeypatch.chdir(REPO)
    config, _ = merged_config("config/config.yaml", list(files))
    return validate_config(config), fidelity_rows(validate_config(config))


def test_paper_manifest_departs_only_where_the_paper_file_says_why(monkeypatch):
    from spurcomp.fidelity import AS_PAPER, DEPARTS, OPEN, departures
    config, rows = _manifest(monkeypatch, "config/paper.yaml")
    paper_reasons = read_config_file(REPO / "config" / "paper.yaml").get("departures") or {}
    stated = {" ".join(reason.split()) for reason in paper_reasons.values() if reason}
    assert rows and all(r.verdict in (AS_PAPER, OPEN) or r.verdict.startswith(DEPARTS) for r in rows)
    for row in departures(rows):
        assert row.verdict.removeprefix(DEPARTS + ": ") in stated, row
    # every figure of the paper config is in the manifest, each with its models, seeds, IG and pruning rows
    figures = {r.figure for r in rows}
    assert figures == set(config["figures"])
    by = {(r.figure, r.aspect): r for r in rows}
    assert by[("fig4", "models")].verdict == AS_PAPER and "ResNet18" in by[("fig4", "models")].ours
    assert by[("fig4", "ig")].verdict == AS_PAPER and by[("fig4", "pruning")].verdict == AS_PAPER
    assert by[("fig11", "image_size")].verdict == AS_PAPER and by[("fig11", "image_size")].ours == "imagenet: 256 px"
    assert by[("fig11", "stopping")].verdict.startswith(DEPARTS + ": ImageNet-1k: 90 epochs")


def test_default_manifest_lists_the_laptop_reductions_with_their_reasons(monkeypatch):
    from spurcomp.fidelity import DEPARTS
    config, rows = _manifest(monkeypatch)
    by = {(r.figure, r.aspect): r for r in rows}
    # VGG11 at 1/8 width, embedded data, 2,000 images, 30 epochs, 2-8 IG baselines: each departs, with its reason
    for aspect in ("models", "data_source", "data_size", "stopping", "ig", "lr_grid"):
        verdict = by[("fig4", aspect)].verdict
        assert verdict.startswith(DEPARTS) and "no reason stated" not in verdict, (aspect, verdict)
    assert by[("fig4", "models")].ours == "VGG11 (width ×1/8)"
    assert by[("fig4", "seeds")].ours == "3" and not by[("fig4", "seeds")].verdict.startswith(DEPARTS)
    assert by[("fig4", "pruning")].ours == "l1_weight, layer, κ of the parameters"
    # parity's sizes are not in the paper: our choice, shown
    assert by[("fig3", "data_size")].verdict == "the paper does not say: our choice"


def test_a_departure_without_a_reason_says_so_and_a_figure_reason_wins(monkeypatch):
    config, _ = _manifest(monkeypatch)
    from spurcomp.fidelity import fidelity_rows
    config["departures"] = {}
    by = {(r.figure, r.aspect): r for r in fidelity_rows(config)}
    assert by[("fig4", "models")].verdict == "departs: no reason stated"
    config["departures"] = {"models": "small", "fig5.models": "smaller still"}
    by = {(r.figure, r.aspect): r for r in fidelity_rows(config)}
    assert by[("fig4", "models")].verdict == "departs: small"
    assert by[("fig5", "models")].verdict == "departs: smaller still"


def test_fidelity_cli_prints_the_manifest(monkeypatch, capsys):
    from spurcomp.cli import main
    monkeypatch.chdir(REPO)
    assert main(["--configfile", "config/paper.yaml", "fidelity"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("# Fidelity to the paper") and "## fig4 (Fig. 4)" in out
    assert "| models | full-width" in out


def test_the_paper_configs_masks_and_segmenter_jobs_ask_for_a_gpu(tmp_path):
    """ImageNet's validation masks by DeepLabV3-ResNet50 take hours on one CPU thread: at the paper's scale the
    segmenter and background-mask jobs ask for a GPU and threads (resources.segmenter, resources.background_masks)."""
    import re
    import subprocess
    import sys

    plan = subprocess.run([sys.executable, "-m", "snakemake", "-s", str(REPO / "workflow" / "Snakefile"), "-n",
                           "results/masks/imagenet.npz", "--directory", str(tmp_path), "--configfile",
                           str(REPO / "config" / "config.yaml"), str(REPO / "config" / "paper.yaml")],
                          capture_output=True, text=True, cwd=REPO)
    assert plan.returncode == 0, plan.stderr[-2000:]
    for rule, runtime, memory in (("segmenter", 60, 16000), ("background_masks", 120, 32000)):
        block = re.search(rf"rule {rule}:\n(?:    .*\n)*?    resources: (.*)", plan.stdout)
        assert block and f"runtime={runtime}" in block[1] and "gpu=1" in block[1] and f"mem_mb={memory}" in block[1]
