"""The workflow's verbs. Snakemake rules and the ``spurcomp`` CLI both call these, with a validated config."""
from __future__ import annotations

from pathlib import Path

from spurcomp.aggregate import aggregate_study
from spurcomp.claims import config_claims, evaluate_claims
from spurcomp.data import build_dataset, save_dataset
from spurcomp.data.io import load_dataset
from spurcomp.evaluate import FAMILIES as EVALUATION_FAMILIES
from spurcomp.evaluate import evaluate_run
from spurcomp.figures import plot_figure, plot_study
from spurcomp.runtime import logger, resolve_device, setup_torch
from spurcomp.study import RunKey, run_evaluation, run_setting, table_path
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


def evaluate(config: dict, run: RunKey, outputs: dict[str, str | Path], data_path, run_dir=None, threads: int = 1) -> None:
    """Write each evaluation family named in ``outputs`` (family -> Parquet path) for ``run`` (its files in
    ``run_dir``, by default the run's folder), with its studies' evaluation settings."""
    device = resolve_device(config["device"])
    setup_torch(threads, device)
    evaluate_run(outputs, data_path, run_dir or run.directory, settings=run_evaluation(config, run), device=device)


def aggregate(config: dict, study: str, out) -> None:
    table = aggregate_study(config, study, list(EVALUATION_FAMILIES), out)
    logger.info("study %s: %d rows from %d runs -> %s", study, len(table), table.groupby(["setting", "seed"]).ngroups, out)


def figure(config: dict, name: str, inputs: list, out_pdf, out_csv=None) -> None:
    """Figure ``name``: a study's own figure (from its table) or one of the ``figures`` section."""
    if name in (config.get("figures") or {}):
        plot_figure(config["figures"][name]["layout"], inputs, out_pdf, out_csv)
    elif config["studies"].get(name, {}).get("plot"):
        plot_study(config["studies"][name]["plot"], inputs[0], out_pdf, out_csv)
    else:
        raise KeyError(f"no figure {name!r}: neither in `figures` ({sorted(config.get('figures') or {})}) nor a "
                       f"study with a `plot` ({sorted(n for n, s in config['studies'].items() if s.get('plot'))})")
    logger.info("figure %s -> %s", name, out_pdf)


def claims(config: dict, out_csv, out_md) -> None:
    frame = evaluate_claims({study: table_path(study) for study in config["studies"]}, out_csv, out_md,
                            config_claims(config))
    logger.info("claims: %s -> %s", frame.verdict.value_counts().to_dict(), out_md)
