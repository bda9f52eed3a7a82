"""Results bundles: what the figures, their tables, the claims, the fidelity manifest and the report are made from
(the study tables, the learning-rate extension decisions and the datasets' summaries), with the config as merged
and their provenance, in one zip file, never a weight, a checkpoint or a dataset.

``spurcomp bundle OUT`` writes one after a run; ``spurcomp unbundle FILE`` puts its files where the workflow
expects them, after checking that the bundle was made under the same config (the sections that decide what the
tables hold), with a table format this version reads, and that every file's checksum holds. Snakemake then sees
the tables and summaries up to date and the runs and datasets behind them not needed (it does not remake a missing
intermediate file while what was made from it exists), so ``snakemake --cores all`` draws every figure, table,
the claims and the fidelity manifest without building a dataset, training or evaluating anything.

The zip stores the files as they are (Parquet and compressed NumPy files are compressed already); ``bundle.json``
inside says what it holds: its format, the config sections, each file's size and SHA-256, and provenance (package
versions, the source revision where the checkout is a git repository, the machine, when).
"""
from __future__ import annotations

import json
import os
import platform
import subprocess
import time
import zipfile
from pathlib import Path

from spurcomp.aggregate import TABLE_VERSION
from spurcomp.config import ConfigError, canonical
from spurcomp.fidelity import fidelity_datasets
from spurcomp.figures import claim_studies, figure_inputs, figure_names
from spurcomp.runtime import PlainError, atomic_write_text, package_versions, temporary_sibling
from spurcomp.study import (EVALUATION_VERSION, RESULTS, RUNTIME_TRAINING_KEYS, data_digest, dataset_segmenter,
                            decided_extension_rates, extension_path, extension_rates, file_digest, segmenter_path,
                            summary_path)

BUNDLE_FORMAT = 1
MANIFEST = "bundle.json"
# the config sections that decide what the study tables hold (the figures, the grid rule, the claims' tests and
# where jobs run do not: they are redrawn, retested or irrelevant from a bundle)
RESULT_SECTIONS = ("seed", "datasets", "segmenters", "models", "training", "evaluation", "studies")


class BundleRefused(PlainError):
    """A bundle that does not fit this config or this version, or whose files are damaged."""


def result_config(config: dict) -> dict:
    """The sections of a (validated) config, or of a bundle's recorded one, that decide what the study tables
    hold, canonical; the training section without the keys that only say how often a run saves or measures
    (``RUNTIME_TRAINING_KEYS``)."""
    sections = {key: config.get(key) for key in RESULT_SECTIONS}
    if isinstance(sections.get("training"), dict):
        sections["training"] = {key: value for key, value in sections["training"].items()
                                if key not in RUNTIME_TRAINING_KEYS}
    return canonical(sections)


def bundled_paths(config: dict) -> list[Path]:
    """The files a bundle of ``config`` holds: the table of every study a figure or a claim is drawn from, the
    learning-rate extension decisions made for them, the summaries of the datasets the figures drawn from
    datasets and the fidelity manifest read, and the mIoU reports of the segmenters behind the tables."""
    inputs = {path for name in figure_names(config) for path in figure_inputs(config, name)}
    studies = {path for path in inputs if path.parent == RESULTS / "tables"}
    summaries = (inputs - studies) | {summary_path(name) for name in fidelity_datasets(config)}
    # the segmenters' mIoU reports, which the report shows
    segmenters = {segmenter_path(found).with_suffix(".json") for study in {path.stem for path in studies}
                  if (found := dataset_segmenter(config, config["studies"][study]["dataset"]))}
    studies |= {RESULTS / "tables" / f"{study}.parquet" for study in claim_studies(config)}
    decisions = []
    for path in sorted(studies):
        study = path.stem
        if extension_rates(config["studies"][study]):
            steps = len(decided_extension_rates(config, study)) + 1
            decisions += [extension_path(study, step) for step in range(steps)]
    return sorted(studies) + decisions + sorted(summaries) + sorted(segmenters)


def _revision() -> str | None:
    try:
        found = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10,
                               cwd=Path(__file__).parent)
    except (OSError, subprocess.SubprocessError):
        return None
    return found.stdout.strip() or None


def make_bundle(config: dict, out: str | Path, doi: str | None = None) -> dict:
    """Write the bundle of ``config``'s results (run from the workflow's directory) to ``out``; returns its
    manifest. Every file must exist: a bundle is made after the run."""
    paths = bundled_paths(config)
    missing = [str(path) for path in paths if not path.is_file()]
    if missing:
        raise BundleRefused(f"{len(missing)} file(s) of the bundle are not made yet, e.g. {missing[:3]}; run "
                            f"`snakemake --cores all` (or the figures you want) with this config first")
    contents = {str(path): path.read_bytes() for path in paths}
    manifest = {
        "format": BUNDLE_FORMAT,
        "table_version": TABLE_VERSION,
        "evaluation_version": EVALUATION_VERSION,
        "config": result_config(config),
        "files": {name: data_digest(data) for name, data in contents.items()},
        "provenance": {"created": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "versions": package_versions(),
                       "revision": _revision(), "machine": f"{platform.machine()} {platform.system()}",
                       "python": platform.python_version()},
        "doi": doi,
    }
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = temporary_sibling(out)
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_STORED) as archive:
        archive.writestr(MANIFEST, json.dumps(manifest, indent=1, sort_keys=True))
        for name, data in contents.items():
            archive.writestr(name, data)
    os.replace(tmp, out)
    return manifest


def _differences(bundled, configured, where: str = "") -> list[str]:
    """Dotted keys where two config sections differ, with both values."""
    if isinstance(bundled, dict) and isinstance(configured, dict):
        return [found for key in sorted(set(bundled) | set(configured))
                for found in _differences(bundled.get(key), configured.get(key), f"{where}.{key}" if where else key)]
    return [] if bundled == configured else [f"{where}: bundle {bundled!r}, config {configured!r}"]


def read_manifest(path: str | Path) -> dict:
    try:
        with zipfile.ZipFile(path) as archive:
            return json.loads(archive.read(MANIFEST))
    except (OSError, zipfile.BadZipFile, KeyError, ValueError) as err:
        raise BundleRefused(f"{path} is not a results bundle ({type(err).__name__}: {err})") from None


def unbundle(config: dict, path: str | Path, force: bool = False) -> list[Path]:
    """Put the bundle's files where the workflow expects them (run from the workflow's directory), once it fits
    ``config`` and every checksum holds. A file that exists with other bytes is a result of this checkout: it is
    refused unless ``force``. Returns the files written."""
    manifest = read_manifest(path)
    found = (manifest.get("format"), manifest.get("table_version"), manifest.get("evaluation_version", 1))
    if found != (BUNDLE_FORMAT, TABLE_VERSION, EVALUATION_VERSION):
        raise BundleRefused(f"{path} has bundle format {found[0]}, table version {found[1]} and evaluation version "
                            f"{found[2]}; this spurcomp reads format {BUNDLE_FORMAT}, table version {TABLE_VERSION} "
                            f"and evaluation version {EVALUATION_VERSION} (spurcomp.study.EVALUATION_VERSION says "
                            f"what changed): make the bundle again with this version")
    # both through result_config: a bundle made when a runtime key was still recorded fits all the same
    differences = _differences(result_config(manifest["config"]), result_config(config))
    if differences:
        raise ConfigError(f"{path} was made under another config ({len(differences)} difference(s)): "
                          + "; ".join(differences[:5]) + ("; ..." if len(differences) > 5 else "")
                          + ". Use the config it was made with (its bundle.json holds it)")
    written = []
    with zipfile.ZipFile(path) as archive:
        contents = {}
        for name, recorded in manifest["files"].items():
            try:
                data = archive.read(name)
            except (KeyError, zipfile.BadZipFile) as err:
                raise BundleRefused(f"{path}: {name} cannot be read ({err}); the bundle is damaged") from None
            if data_digest(data) != recorded:
                raise BundleRefused(f"{path}: {name} does not match its checksum in bundle.json; the bundle is "
                                    f"damaged: get it again")
            contents[name] = data
    clashes = [name for name, data in contents.items()
               if Path(name).is_file() and file_digest(name) != manifest["files"][name]]
    if clashes and not force:
        raise BundleRefused(f"{len(clashes)} file(s) exist here with other contents, e.g. {clashes[:3]}: this "
                            f"checkout's own results; move them away, or use --force to replace them")
    for name, data in contents.items():
        target = Path(name)
        if target.is_file() and file_digest(target) == manifest["files"][name]:
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = temporary_sibling(target)
        tmp.write_bytes(data)
        os.replace(tmp, target)
        written.append(target)
    RESULTS.mkdir(exist_ok=True)
    atomic_write_text(RESULTS / "bundle.json", json.dumps({**manifest, "unbundled_from": str(path)}, indent=1,
                                                          sort_keys=True))
    return written
