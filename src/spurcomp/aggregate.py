"""Collect a study's evaluations into one Parquet table: one row per (run, metric), every run key a column,
provenance in the file metadata."""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from spurcomp.runtime import config_hash, package_versions
from spurcomp.study import evaluation_path, run_setting, study_runs

PROVENANCE_KEY = b"spurcomp"


def aggregate_study(config: dict, study: str, families: list[str], out_path: str | Path) -> pd.DataFrame:
    frames, sources = [], {}
    for run in study_runs(config, study):
        summary = json.loads((run.directory / "run.json").read_text())
        keys = {
            **run.as_dict(),
            **run_setting(config, run.setting).as_dict(),
            "status": summary["status"],
            "epochs": summary["epochs"],
            "train_seconds": summary["train_seconds"],
            "data_source": summary["data"]["source"],
        }
        sources[run.dataset] = summary["data"]
        for family in families:
            frame = pd.read_parquet(evaluation_path(run, family))
            frames.append(frame.assign(family=family, **keys))
    table = pd.concat(frames, ignore_index=True)
    key_columns = ["dataset", "model", "setting", "seed", "lr", "batch_size", "momentum", "weight_decay",
                   "max_epochs", "status", "epochs", "train_seconds", "data_source", "family"]
    table = table[key_columns + [c for c in table.columns if c not in key_columns]]
    provenance = {
        "study": study,
        "study_spec": config["studies"][study],
        "datasets": sources,
        "config_hash": config_hash(config),
        "versions": package_versions(),
    }
    write_table(table, out_path, provenance)
    return table


def write_table(table: pd.DataFrame, path: str | Path, provenance: dict) -> None:
    arrow = pa.Table.from_pandas(table, preserve_index=False)
    metadata = {**(arrow.schema.metadata or {}), PROVENANCE_KEY: json.dumps(provenance, default=str).encode()}
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(arrow.replace_schema_metadata(metadata), path)


def read_table(path: str | Path) -> tuple[pd.DataFrame, dict]:
    """A study table and its provenance."""
    arrow = pq.read_table(path)
    provenance = json.loads((arrow.schema.metadata or {}).get(PROVENANCE_KEY, b"{}"))
    return arrow.to_pandas(), provenance

