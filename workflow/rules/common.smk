# Targets from the config. The mapping from config to runs, paths and each job's params lives in spurcomp.study
# and spurcomp.figures, so the workflow and the `spurcomp` CLI can never disagree. Only light modules are
# imported here (no torch, torchvision, captum, SciPy or matplotlib): building the DAG takes seconds.
import json
import re
import sys
from pathlib import Path

from spurcomp.config import ConfigError, canonical, command_line_values, deep_merge, validate_config
from spurcomp.fidelity import fidelity_datasets, fidelity_markdown
from spurcomp.status import rebuild_command, without_summary
from spurcomp.figures import (
    all_figures,
    claim_studies,
    claims_param,
    figure_caption,
    figure_inputs,
    figure_names,
    figure_spec,
    results_table_paths,
    tabulated_figures,
)
from spurcomp.study import (
    EVALUATION_FAMILIES,
    RUN_FILES,
    background_masks_path,
    config_runs,
    dataset_job,
    dataset_path,
    dataset_segmenter,
    decided_extension_rates,
    evaluation_path,
    extension_rates,
    figure_path,
    run_chunks,
    run_evaluations,
    run_logs,
    segmenter_job,
    segmenter_path,
    study_runs,
    table_path,
    train_job,
)

# values given with --config arrive as strings inside mappings: read them as a config file's would be
config.update(deep_merge(config, command_line_values(dict(workflow.config_settings.config))))
try:
    validate_config(config)
except ConfigError as err:
    # stop before any job, naming every bad key and what is allowed
    sys.exit(f"spurcomp: {err}")

BROKEN = without_summary(config_runs(config))
if BROKEN:
    print(f"spurcomp: {len(BROKEN)} run(s) have no run.json (deleted, set aside as damaged, or a write cut short) "
          f"but weights or evaluations, e.g. {BROKEN[0].directory}; what was made from them is kept until they are "
          f"rebuilt (from their saved state where it is intact): {rebuild_command(BROKEN[:20])}"
          f"{' ...' if len(BROKEN) > 20 else ''}", file=sys.stderr)


wildcard_constraints:
    dataset=r"[A-Za-z0-9_-]+",
    study=r"[A-Za-z0-9_-]+",


def all_targets(config):
    """Every figure of the config, its results tables, the claims table and the fidelity manifest: what `all`
    makes."""
    return [*all_figures(config), *results_table_paths(config), Path("results/claims.md"), Path("results/fidelity.md")]


def from_tables_targets(config):
    """The targets of `from_tables`: every figure drawn from study tables, the results tables and the claims."""
    figures = [figure_path(name) for name in figure_names(config) if figure_inputs(config, name)[0].suffix == ".parquet"]
    return [*figures, *results_table_paths(config), Path("results/claims.md")]


def resource(family, key, default):
    return config.get("resources", {}).get(family, {}).get(key, default)


def one_of(names):
    """A wildcard constraint matching exactly these names (none: matches nothing)."""
    return "|".join(re.escape(name) for name in names) or "(?!)"


def extended_rates(study, steps=None):
    """The rates beyond a study's grid that its lr_until_failure decisions (checkpoints) say to train, reading
    at most ``steps`` decisions; Snakemake re-plans once each decision is made."""

    def read(step):
        if steps is not None and step >= steps:
            return None
        return json.loads(Path(checkpoints.lr_extension.get(study=study, step=step).output[0]).read_text())

    return decided_extension_rates(config, study, read)


def study_files(wildcards):
    """A study table's inputs: every run's run.json and evaluation files (with the extended learning rates, once
    their decisions are made)."""
    rates = extended_rates(wildcards.study)
    if extension_rates(config["studies"][wildcards.study]):
        # the last decision (the largest trained rate failed, or max_steps reached) belongs to the table too
        checkpoints.lr_extension.get(study=wildcards.study, step=len(rates))
    runs = study_runs(config, wildcards.study, extra_lrs=rates)
    return {
        "summaries": [str(run.directory / RUN_FILES["summary"]) for run in runs],
        "evaluations": [str(evaluation_path(run, family)) for run in runs for family in EVALUATION_FAMILIES],
    }


# Seconds of work on small tables: never worth a cluster job.
localrules:
    aggregate,
    figure,
    table,
    claims,
    fidelity,
    lr_extension,


def extension_inputs(wildcards):
    """What a study's decision after ``step`` extra rates reads: the run summaries and accuracies of its grid and
    of the extra rates decided before."""
    runs = study_runs(config, wildcards.study, extra_lrs=extended_rates(wildcards.study, int(wildcards.step)))
    return {
        "summaries": [str(run.directory / RUN_FILES["summary"]) for run in runs],
        "accuracies": [str(evaluation_path(run, "accuracy")) for run in runs],
    }
