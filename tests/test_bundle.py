"""Results bundles: the figures, tables and claims of a run remade from its bundle alone, with real Snakemake runs
that count the jobs; bundles of another config, version or with damaged files refused."""
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
TARGETS = ("figures/fig3.pdf", "results/claims.md", "results/tables/fig3.md")


def snakemake(workdir, *args):
    return subprocess.run([*SNAKEMAKE, "--directory", str(workdir), "--configfile", str(workdir / "config.yaml"),
                           *args], capture_output=True, text=True, timeout=900, cwd=REPO)


def spurcomp(workdir, *args):
    return subprocess.run([sys.executable, "-m", "spurcomp.cli", "--base", "none", "--configfile", "config.yaml",
                           *args], capture_output=True, text=True, timeout=300, cwd=workdir)


@pytest.mark.workflow
def test_figures_and_claims_from_a_bundle_are_the_runs_own_without_training(tmp_path, tiny_config):
    tiny_config["training"]["max_epochs"] = 4
    run, elsewhere = tmp_path / "run", tmp_path / "elsewhere"
    for folder in (run, elsewhere):
        folder.mkdir()
        (folder / "config.yaml").write_text(yaml.safe_dump(tiny_config))
    assert snakemake(run, "--cores", "2", *TARGETS).returncode == 0
    made = spurcomp(run, "bundle", "out/results.zip", "--doi", "10.5281/zenodo.0")
    assert made.returncode == 0, made.stderr
    bundle = run / "out" / "results.zip"
    manifest = json.loads(zipfile.ZipFile(bundle).read("bundle.json"))
    assert sorted(manifest["files"]) == ["results/tables/fig3.parquet"] and manifest["doi"] == "10.5281/zenodo.0"
    assert manifest["provenance"]["versions"]["torch"] and manifest["config"]["studies"]["fig3"]["seeds"] == [0, 1]
    assert not [name for name in zipfile.ZipFile(bundle).namelist() if name.endswith(".pt")]  # never weights

    unpacked = spurcomp(elsewhere, "unbundle", str(bundle))
    assert unpacked.returncode == 0, unpacked.stderr
    drawn = snakemake(elsewhere, "--cores", "2", "from_tables")  # the figures made from tables, their tables, claims
    assert drawn.returncode == 0, drawn.stderr[-3000:]
    rules = sorted(re.findall(r"^(?:local)?rule (\w+):$", drawn.stdout + drawn.stderr, re.M))
    assert rules == ["claims", "figure", "from_tables", "table"]  # nothing trained, evaluated or aggregated
    for name in ("figures/fig3.csv", "results/claims.csv", "results/tables/fig3.md"):
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
    with pytest.raises(BundleRefused, match="bundle format 0 and table version 1; this spurcomp reads format 1"):
        unbundle(config, old)
    (tmp_path / "notes.zip").write_text("not a zip")
    with pytest.raises(BundleRefused, match="is not a results bundle"):
        unbundle(config, tmp_path / "notes.zip")

