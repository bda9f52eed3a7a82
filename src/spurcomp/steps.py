"""The workflow's verbs. Snakemake rules and the ``spurcomp`` CLI both call these, with a validated config."""
from __future__ import annotations

from pathlib import Path

from spurcomp.aggregate import aggregate_study
from spurcomp.claims import evaluate_claims
from spurcomp.data import build_dataset, save_dataset
from spurcomp.data.io import load_dataset
from spurcomp.evaluate import FAMILIES as EVALUATION_FAMILIES
from spurcomp.evaluate import evaluate_run
from spurcomp.figures import plot_study
from spurcomp.runtime import logger, resolve_device, setup_torch
from spurcomp.study import RunKey, run_setting, table_path
from spurcomp.train.engine import TrainOptions, train_run


def make_dataset(config: dict, name: str, out: str | Path) -> None:
    if name not in config["datasets"]:
        raise KeyError(f"unknown dataset {name!r}; defined datasets: {sorted(config['datasets'])}")
    dataset = build_dataset(config["datasets"][name], seed=config["seed"])
    save_dataset(out, dataset)
    m = dataset.metadata
    logger.info("dataset %s (%s, %s source): train %s, test %s, rho_train=%s, rho_test=%s -> %s", name,
                m["generator"], m["source"], dataset.train.x.shape, dataset.test.x.shape, m["rho_train"],
                m["rho_test"], out)


def train(config: dict, run: RunKey, data_path: str | Path, threads: int = 1, run_dir: str | Path | None = None) -> dict:
    if run.model not in config["models"]:
        raise KeyError(f"unknown model {run.model!r}; defined models: {sorted(config['models'])}")
    device = resolve_device(config["device"])
    setup_torch(threads, device)
    training = config["training"]
    # the config is validated, so the schema's defaults are filled in
    options = TrainOptions(
        checkpoint_epochs=list(training["checkpoint_epochs"]),
        state_every_epochs=training["state_every_epochs"],
        divergence_factor=training["divergence_factor"],
    )
    setting = run_setting(config, run.setting)
    logger.info("training %s with %s on %s", run, setting, device)
    return train_run(load_dataset(data_path), config["models"][run.model], setting, run.seed,
                     run_dir or run.directory, options=options, device=device, keys=run.as_dict())


def evaluate(config: dict, outputs: dict[str, str | Path], data_path, run_dir, threads: int = 1) -> None:
    """Write each evaluation family named in ``outputs`` (family -> Parquet path) for the run in ``run_dir``."""
    device = resolve_device(config["device"])
    setup_torch(threads, device)
    evaluate_run(outputs, data_path, run_dir, settings=config["evaluation"], device=device)


def aggregate(config: dict, study: str, out) -> None:
    table = aggregate_study(config, study, list(EVALUATION_FAMILIES), out)
    logger.info("study %s: %d rows from %d runs -> %s", study, len(table), table.groupby(["setting", "seed"]).ngroups, out)


def figure(config: dict, study: str, table, out_pdf, out_csv=None) -> None:
    plot_study(config["studies"][study]["plot"], table, out_pdf, out_csv)
    logger.info("figure %s -> %s", study, out_pdf)


def claims(config: dict, out_csv, out_md) -> None:
    frame = evaluate_claims({study: table_path(study) for study in config["studies"]}, out_csv, out_md)
    logger.info("claims: %s -> %s", frame.verdict.value_counts().to_dict(), out_md)
