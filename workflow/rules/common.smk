# Targets from the config. The mapping from config to runs and paths lives in spurcomp.study, so the
# workflow and the `spurcomp` CLI can never disagree about where a run's files are.
import sys

from spurcomp.config import ConfigError, validate_config
from spurcomp.steps import EVALUATION_FAMILIES
from spurcomp.study import evaluation_path, figure_path, study_runs, table_path

try:
    validate_config(config)
except ConfigError as err:
    # stop before any job, naming every bad key and what is allowed
    sys.exit(f"spurcomp: {err}")


wildcard_constraints:
    dataset=r"[A-Za-z0-9_-]+",
    model=r"[A-Za-z0-9_-]+",
    setting=r"[A-Za-z0-9_.=,+-]+",
    seed=r"\d+",
    study=r"[A-Za-z0-9_-]+",


RUN = "results/runs/{dataset}/{model}/{setting}/seed={seed}"
RUN_LOGS = "logs/runs/{dataset}/{model}/{setting}/seed={seed}"


def resource(family, key, default):
    return config.get("resources", {}).get(family, {}).get(key, default)


def study_evaluations(wildcards):
    return [
        str(evaluation_path(run, family))
        for run in study_runs(config, wildcards.study)
        for family in EVALUATION_FAMILIES
    ]


def all_figures():
    return [str(figure_path(study)) for study in config["studies"]]


# Seconds of work on small tables: never worth a cluster job.
localrules:
    aggregate,
    figure,
    claims,
