"""Results bundles: every figure, table, the claims and the fidelity manifest of a run remade from its bundle alone,
with real Snakemake runs that count the jobs; bundles of another config, version or with damaged files refused."""
import json
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
SNAKEMAKE = [sys.executable, "-m", "snakemake", "-s", str(REPO / "workflow" / "Snakefile")]
TARGETS = ("figures/fig3.pdf", "figures/prop1.pdf", "results/claims.md", "results/tables/fig3.md",
           "results/fidelity.md")


def snakemake(workdir, *args):
    return subprocess.run([*SNAKEMAKE, "--directory", str(workdir), "--configfile", str(workdir / "config.yaml"),
                           *args], capture_output=True, text=True, timeout=900, cwd=REPO)


def spurcomp(workdir, *args):
    return subprocess.run([sys.executable, "-m", "spurcomp.cli", "--base", "none", "--configfile", "config.yaml",
                           *args], capture_output=True, text=True, timeout=300, cwd=workdir)


@pytest.mark.workflow
def test_figures_and_claims_from_a_bundle_are_the_runs_own_without_training(tmp_path, tiny_config):
    tiny_config["training"]["max_epochs"] = 4
    tiny_config["figures"]["prop1"] = {"layout": "prop1", "datasets": ["parity"]}  # drawn from a dataset's summary
    run, elsewhere = tmp_path / "run", tmp_path / "elsewhere"
    for folder in (run, elsewhere):
        folder.mkdir()
        (folder / "config.yaml").write_text(yaml.safe_dump(tiny_config))
    assert snakemake(run, "--cores", "2", *TARGETS).returncode == 0
    made = spurcomp(run, "bundle", "out/results.zip", "--doi", "10.5281/zenodo.0")
    assert made.returncode == 0, made.stderr
    bundle = run / "out" / "results.zip"
    manifest = json.loads(zipfile.ZipFile(bundle).read("bundle.json"))
    assert sorted(manifest["files"]) == ["results/summaries/parity.npz", "results/tables/fig3.parquet"]
    assert manifest["doi"] == "10.5281/zenodo.0"
    assert manifest["provenance"]["versions"]["torch"] and manifest["config"]["studies"]["fig3"]["seeds"] == [0, 1]
    assert not [name for name in zipfile.ZipFile(bundle).namelist() if name.endswith(".pt")]  # never weights

    unpacked = spurcomp(elsewhere, "unbundle", str(bundle))
    assert unpacked.returncode == 0, unpacked.stderr
    drawn = snakemake(elsewhere, "--cores", "2")  # everything the config makes
    assert drawn.returncode == 0, drawn.stderr[-3000:]
    rules = sorted(re.findall(r"^(?:local)?rule (\w+):$", drawn.stdout + drawn.stderr, re.M))
    # nothing built, trained, evaluated or aggregated: two figures, a table, the claims and the manifest drawn
    assert rules == ["all", "claims", "fidelity", "figure", "figure", "table"]
    assert not (elsewhere / "results" / "data").exists()
    for name in ("figures/fig3.csv", "figures/prop1.csv", "results/claims.csv", "results/tables/fig3.md",
                 "results/fidelity.md"):
        assert (elsewhere / name).read_bytes() == (run / name).read_bytes(), name
    assert "Nothing to be done" in snakemake(elsewhere, "-n", *TARGETS).stdout

    # a bundle made under another config is refused, naming what differs
    other = {**tiny_config, "studies": {"fig3": {**tiny_config["studies"]["fig3"], "seeds": [0, 1, 2]}}}
    (elsewhere / "config.yaml").write_text(yaml.safe_dump(other))
    refused = spurcomp(elsewhere, "unbundle", str(bundle))
    assert refused.returncode == 2
    assert "studies.fig3.seeds: bundle [0, 1], config [0, 1, 2]" in refused.stderr and "Traceback" not in refused.stderr
    (elsewhere / "config.yaml").write_text(yaml.safe_dump(tiny_config))

    # this checkout's own table is not replaced without --force
    table = elsewhere / "results" / "tables" / "fig3.parquet"
    table.write_bytes(table.read_bytes() + b"\0")
    assert "exist here with other contents" in spurcomp(elsewhere, "unbundle", str(bundle)).stderr
    assert spurcomp(elsewhere, "unbundle", str(bundle), "--force").returncode == 0
    assert table.read_bytes() == (run / "results" / "tables" / "fig3.parquet").read_bytes()

    # a damaged bundle (one byte of a table changed) is refused, naming the file
    damaged = tmp_path / "damaged.zip"
    with zipfile.ZipFile(bundle) as source, zipfile.ZipFile(damaged, "w") as target:
        for item in source.infolist():
            data = source.read(item)
            target.writestr(item, data[:-1] + bytes([data[-1] ^ 1]) if item.filename.endswith(".parquet") else data)
    refused = spurcomp(elsewhere, "unbundle", str(damaged))
    assert refused.returncode == 1 and "results/tables/fig3.parquet does not match its checksum" in refused.stderr


def test_a_bundle_of_another_format_or_not_a_bundle_is_refused(tmp_path, tiny_config):
    from spurcomp.bundle import BundleRefused, unbundle
    from spurcomp.config import validate_config

    config = validate_config(tiny_config)
    old = tmp_path / "old.zip"
    with zipfile.ZipFile(old, "w") as archive:
        archive.writestr("bundle.json", json.dumps({"format": 0, "table_version": 1, "config": {}, "files": {}}))
    with pytest.raises(BundleRefused, match="bundle format 0, table version 1 and evaluation version 1; this "
                                            "spurcomp reads format 1"):
        unbundle(config, old)
    # the current format and table version, but tables from an older evaluation (no evaluation_version: 1)
    with zipfile.ZipFile(old, "w") as archive:
        archive.writestr("bundle.json", json.dumps({"format": 1, "table_version": 1, "config": {}, "files": {}}))
    with pytest.raises(BundleRefused, match=r"evaluation version 1; .* and evaluation version 2 \(spurcomp.study"):
        unbundle(config, old)
    (tmp_path / "notes.zip").write_text("not a zip")
    with pytest.raises(BundleRefused, match="is not a results bundle"):
        unbundle(config, tmp_path / "notes.zip")



SHIPPED = REPO / "results-bundles" / "default.zip"


def test_the_shipped_default_bundle_is_current_and_every_study_learned(tmp_path):
    """The repository's bundle of the default config: made under the config as it is now (a change to what the
    tables hold needs a new bundle: `snakemake --cores all && spurcomp bundle results-bundles/default.zip`), with
    this version's formats, every file the config's figures, claims and manifest read, intact; and no study's best
    learning rate near chance."""
    from spurcomp.aggregate import TABLE_VERSION, read_table
    from spurcomp.bundle import BUNDLE_FORMAT, bundled_paths, read_manifest, result_config
    from spurcomp.claims import best_unbiased_accuracy, learned_threshold
    from spurcomp.config import validate_config
    from spurcomp.study import EVALUATION_VERSION, data_digest

    config = validate_config(yaml.safe_load((REPO / "config" / "config.yaml").read_text()))
    manifest = read_manifest(SHIPPED)
    assert (manifest["format"], manifest["table_version"], manifest.get("evaluation_version")) == \
        (BUNDLE_FORMAT, TABLE_VERSION, EVALUATION_VERSION), "made by another version: make the bundle again"
    assert result_config(manifest["config"]) == result_config(config), \
        "the default config changed: make the bundle again"
    assert sorted(manifest["files"]) == sorted(map(str, bundled_paths(config)))
    below = {}
    with zipfile.ZipFile(SHIPPED) as archive:
        for name, digest in manifest["files"].items():
            data = archive.read(name)
            assert data_digest(data) == digest, name
            if name.startswith("results/tables/"):
                (tmp_path / "t.parquet").write_bytes(data)
                best, chance = best_unbiased_accuracy(read_table(tmp_path / "t.parquet")[0], config["grid_rule"])
                if not best >= learned_threshold(chance):
                    below[Path(name).stem] = (round(best, 3), chance)
    assert not below, f"studies whose best learning rate stays near chance: {below}"
    assert SHIPPED.stat().st_size < 20e6
