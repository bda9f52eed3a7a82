"""Studies, runs and their paths: the one place that maps the config to files.

A run is (dataset, model, setting, seed) and lives in ``results/runs/DATASET/MODEL/SETTING/seed=SEED/``.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path

from spurcomp.config import deep_merge
from spurcomp.settings import TrainingSetting, parse_setting_key, setting_key

RESULTS = Path("results")
FIGURES = Path("figures")


@dataclass(frozen=True, order=True)
class RunKey:
    dataset: str
    model: str
    setting: str
    seed: int

    @property
    def directory(self) -> Path:
        return RESULTS / "runs" / self.dataset / self.model / self.setting / f"seed={self.seed}"

    def as_dict(self) -> dict:
        return {"dataset": self.dataset, "model": self.model, "setting": self.setting, "seed": self.seed}


def dataset_path(name: str) -> Path:
    return RESULTS / "data" / f"{name}.npz"


def figure_path(study: str) -> Path:
    return FIGURES / f"{study}.pdf"


def table_path(study: str) -> Path:
    return RESULTS / "tables" / f"{study}.parquet"


def evaluation_path(run: RunKey, family: str) -> Path:
    return run.directory / "eval" / f"{family}.parquet"


def study_runs(config: dict, study: str) -> list[RunKey]:
    """Every run of ``study``: the product of its grid, with its overrides, for each seed."""
    if study not in config["studies"]:
        raise KeyError(f"unknown study {study!r}; defined studies: {sorted(config['studies'])}")
    spec = config["studies"][study]
    knobs = list(spec["grid"])
    runs = []
    for values in itertools.product(*(spec["grid"][k] for k in knobs)):
        key = setting_key({**spec.get("overrides", {}), **dict(zip(knobs, values))}, config["training"])
        runs += [RunKey(spec["dataset"], spec["model"], key, int(seed)) for seed in spec["seeds"]]
    return sorted(set(runs))


def run_evaluation(config: dict, run: RunKey) -> dict:
    """The ``evaluation`` settings of ``run``: the global ones with the overrides of the studies it belongs to."""
    found: tuple[str, dict] | None = None  # (study, its overrides)
    for name, spec in config["studies"].items():
        if spec.get("evaluation") and run in study_runs(config, name):
            if found and found[1] != spec["evaluation"]:
                raise ValueError(f"run {run.directory} is in studies {found[0]!r} and {name!r} with different "
                                 f"evaluation overrides; make them equal")
            found = (name, spec["evaluation"])
    return deep_merge(config.get("evaluation") or {}, found[1] if found else {})


def figure_inputs(config: dict, figure: str) -> list[Path]:
    """The files a figure is drawn from: a study's own figure from its table; a figure of the ``figures``
    section from its studies' tables, or its dataset files (fig2)."""
    if figure not in (config.get("figures") or {}):
        return [table_path(figure)]
    spec = config["figures"][figure]
    if spec["layout"] == "fig2":
        return [dataset_path(name) for name in spec["datasets"]]
    return [table_path(name) for name in spec["studies"]]


def figure_names(config: dict) -> list[str]:
    """Every figure the config defines: studies with a ``plot``, then the ``figures`` section."""
    return [name for name, spec in config["studies"].items() if spec.get("plot")] + list(config.get("figures") or {})


def all_figures(config: dict) -> list[Path]:
    return [figure_path(name) for name in figure_names(config)]


def run_setting(config: dict, setting: str) -> TrainingSetting:
    return parse_setting_key(setting, config["training"])
