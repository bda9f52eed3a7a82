"""Collect a study's evaluations into one Parquet table: one row per (run, metric), every run key a column,
provenance in the file metadata."""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from spurcomp.runtime import DamagedFile, config_hash, package_versions, set_aside
from spurcomp.settings import SHORT_NAMES, setting_from_dict
from spurcomp.study import (EVALUATION_FAMILIES, EVALUATION_SETTINGS_KEY, RUN_REMEDY, forget_chunk_records,
                            set_aside_run_file)

PROVENANCE_KEY = b"spurcomp"
# the layout of a study table (its columns and what they mean): a results bundle of another version is refused
TABLE_VERSION = 1
EVALUATION_REMEDY = "run the same Snakemake command again: the run is evaluated again"
TABLE_REMEDY = "run the same Snakemake command again: the table is made again from its runs' files"
FAMILY_ORDER = {family: i for i, family in enumerate(EVALUATION_FAMILIES)}
KEY_COLUMNS = ["dataset", "model", "setting", "seed", *SHORT_NAMES, "status", "epochs", "train_seconds",
               "data_source", "family"]


def aggregate_study(study: str, spec: dict, summaries: list, evaluations: list,
                    out_path: str | Path | None) -> pd.DataFrame:
    """One row per (run, metric) from each run's ``run.json`` (``summaries``) and its evaluation files
    (``evaluations``: ``RUN/eval/FAMILY.parquet``, the families wanted of every run), written to ``out_path``
    (None: only returned). A missing file (deleted by hand) is named, and its chunk's records are removed so that
    the next command rebuilds it."""
    missing = {Path(path): Path(path).parent for path in summaries if not Path(path).exists()}
    missing |= {Path(path): Path(path).parent.parent for path in evaluations if not Path(path).exists()}
    if missing:
        for run_dir in set(missing.values()):
            forget_chunk_records(run_dir)
        raise DamagedFile(f"{len(missing)} file(s) of study {study}'s runs are missing, e.g. {next(iter(missing))}; "
                          f"{RUN_REMEDY}")
    by_run: dict[Path, dict[str, Path]] = {}
    for path in map(Path, evaluations):
        by_run.setdefault(path.parent.parent, {})[path.stem] = path
    frames, datasets, models, spec_hashes, evaluations_settings = [], {}, {}, [], set()
    for summary_path in map(Path, summaries):
        try:
            summary = json.loads(summary_path.read_text())
        except ValueError as err:
            forget_chunk_records(summary_path.parent)
            raise set_aside(summary_path, f"not JSON: {err}", RUN_REMEDY + " (spurcomp status names the command)") from None
        run = summary["run"]
        keys = {
            **{key: run[key] for key in ("dataset", "model", "setting", "seed")},
            # every knob, those at their neutral value (left out of the run's identity) included
            **setting_from_dict(summary["setting"]).knobs(),
            "status": summary["status"],
            "epochs": summary["epochs"],
            "train_seconds": summary["train_seconds"],
            "data_source": summary["data"]["source"],
        }
        datasets[run["dataset"]] = summary["data"]
        models[run["model"]] = summary["model"]
        spec_hashes.append(summary["spec_hash"])
        families = by_run.get(summary_path.parent)
        if not families:
            raise FileNotFoundError(f"no evaluation files given for the run in {summary_path.parent}")
        for family, path in sorted(families.items(), key=lambda item: FAMILY_ORDER.get(item[0], 99)):
            arrow = read_arrow(path, EVALUATION_REMEDY, run_dir=summary_path.parent)
            frames.append(arrow.to_pandas().assign(family=family, **keys))
            evaluations_settings.add((arrow.schema.metadata or {}).get(EVALUATION_SETTINGS_KEY, b"null"))
    table = pd.concat(frames, ignore_index=True)
    table = table[KEY_COLUMNS + [c for c in table.columns if c not in KEY_COLUMNS]]
    provenance = {
        "study": study,
        "study_spec": spec,
        "datasets": datasets,   # each dataset's metadata: generator, version, source, rho, seed
        "models": models,       # each model's config section: architecture and size
        # the evaluation settings the runs were evaluated under (None where they differ, or were not recorded)
        "evaluation": json.loads(evaluations_settings.pop()) if len(evaluations_settings) == 1 else None,
        # what produced the table: the study's grid and the identity of every run in it
        "config_hash": config_hash({"study": spec, "runs": sorted(spec_hashes)}),
        "versions": package_versions(),
    }
    if out_path is not None:
        write_table(table, out_path, provenance)
    return table


def _float32(kind: pa.DataType) -> pa.DataType:
    return pa.list_(_float32(kind.value_type)) if pa.types.is_list(kind) else pa.float32()


def _images_float32(arrow: pa.Table) -> pa.Table:
    """The ``image`` column (samples and attribution maps, nested lists) stored as float32: they are float32
    tensors, so nothing changes but the size, half of float64's."""
    if "image" not in arrow.column_names or not pa.types.is_list(arrow.schema.field("image").type):
        return arrow
    i = arrow.column_names.index("image")
    return arrow.set_column(i, "image", arrow.column(i).cast(_float32(arrow.schema.field("image").type)))


def write_table(table: pd.DataFrame, path: str | Path, provenance: dict, key: bytes = PROVENANCE_KEY) -> None:
    """``table`` as Parquet with ``provenance`` (JSON) under ``key`` in the file's metadata."""
    arrow = _images_float32(pa.Table.from_pandas(table, preserve_index=False))
    metadata = {**(arrow.schema.metadata or {}), key: json.dumps(provenance, default=str, sort_keys=True).encode()}
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(arrow.replace_schema_metadata(metadata), path)


def read_arrow(path: str | Path, remedy: str, run_dir: str | Path | None = None) -> pa.Table:
    """A Parquet file; one that cannot be read is set aside (``NAME.damaged``; a run's file, under ``run_dir``,
    noted in its run.json so that Snakemake rebuilds it) and named with ``remedy``."""
    try:
        return pq.read_table(path)
    except FileNotFoundError:
        raise
    except (pa.ArrowException, OSError) as err:
        why = f"{type(err).__name__}: {err}"
        if run_dir is None:
            raise set_aside(path, why, remedy) from None
        raise set_aside_run_file(run_dir, str(Path(path).relative_to(run_dir)), why, remedy) from None


def read_table(path: str | Path) -> tuple[pd.DataFrame, dict]:
    """A study table and its provenance."""
    arrow = read_arrow(path, TABLE_REMEDY)
    provenance = json.loads((arrow.schema.metadata or {}).get(PROVENANCE_KEY, b"{}"))
    return arrow.to_pandas(), provenance

