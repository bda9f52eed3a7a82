# Targets from the config. The mapping from config to runs and paths lives in spurcomp.study, so the
# workflow and the `spurcomp` CLI can never disagree about where a run's files are.
import re
import sys

from spurcomp.config import ConfigError, validate_config
from spurcomp.steps import EVALUATION_FAMILIES
from spurcomp.study import (
    RunKey,
    all_figures,
    evaluation_path,
    figure_inputs,
    figure_names,
    run_evaluation,
    study_runs,
    table_path,
)

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


def one_of(names):
    """A wildcard constraint matching exactly these names (none: matches nothing)."""
    return "|".join(re.escape(name) for name in names) or "(?!)"


def run_key(wildcards):
    return RunKey(wildcards.dataset, wildcards.model, wildcards.setting, int(wildcards.seed))


# Seconds of work on small tables: never worth a cluster job.
localrules:
    aggregate,
    figure,
    claims,
