# Targets from the config. The mapping from config to runs, paths and each job's params lives in spurcomp.study
# and spurcomp.figures, so the workflow and the `spurcomp` CLI can never disagree. Only light modules are
# imported here (no torch, torchvision, captum, SciPy or matplotlib): building the DAG takes seconds.
import json
import re
import sys
from pathlib import Path

from spurcomp.config import ConfigError, canonical, command_line_values, deep_merge, validate_config
from spurcomp.fidelity import fidelity_datasets, fidelity_markdown
from spurcomp.status import without_summary
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
    CHUNK_STEPS,
    EVALUATION_FAMILIES,
    RUN_FILES,
    background_masks_path,
    chunk_patterns,
    chunk_record_path,
    config_runs,
    dataset_job,
    dataset_path,
    dataset_segmenter,
    decided_extension_rates,
    evaluation_masks,
    evaluation_path,
    extension_rates,
    figure_path,
    rebuild_command,
    run_chunks,
    run_evaluations,
    run_logs,
    runtime_options,
    segmenter_job,
    side_by_side_runs,
    segmenter_path,
    stale_chunks,
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

# The chunks of runs that one train job and one evaluate job handle (spurcomp.study.run_chunks), by the rules'
# wildcards: (dataset, model, setting, seeds).
CHUNKS = {tuple(c.wildcards.values()): c for c in run_chunks(config)}
CHUNK_WILDCARDS = {"model": r"[A-Za-z0-9_-]+", "setting": r"[^/]+", "seeds": r"\d+(?:_\d+)*"}
CHUNK_OUTPUT = {step: chunk_patterns(step)["output"] for step in CHUNK_STEPS}
CHUNK_LOG = {step: chunk_patterns(step)["log"] for step in CHUNK_STEPS}
CHUNK_BENCHMARK = {step: chunk_patterns(step)["benchmark"] for step in CHUNK_STEPS}


def chunk(wildcards):
    """The chunk of runs that a train or evaluate job's wildcards name."""
    key = (wildcards.dataset, wildcards.model, wildcards.setting, wildcards.seeds)
    if key not in CHUNKS:
        raise ValueError(
            f"no chunk of runs of this config is {key}: the config's chunks are the "
            f"results/runs/.../seeds=....train.json files `snakemake -n` lists"
        )
    return CHUNKS[key]


RUNTIME = runtime_options(config)  # read once: section defaults come from the schema


def training_rounds(c):
    """How many runs after one another a chunk's train job trains (its runs, execution.side_by_side at once)."""
    at_once = min(len(c.runs), side_by_side_runs(RUNTIME, c.runs[0].model))
    return -(-len(c.runs) // at_once)


def chunk_records(runs, step):
    """The records of the chunks that hold ``runs``, for ``step`` (train or evaluate): what a reader of the runs'
    files waits for."""
    held = set(runs)
    return sorted({str(chunk_record_path(c, step)) for c in CHUNKS.values() if held.intersection(c.runs)})


def report_stale(config):
    """Name the train or evaluate jobs whose runs' files were deleted, changed or damaged since their records were
    written, and the runs left without a run.json, with the command that reruns them. Snakemake sees the records,
    not the runs' files, and keeps what was made from them (the tables hold what the files said when intact);
    the jobs that read a run check its files first and never use a damaged one."""
    stale = [(chunk_record_path(c, step), why) for c, step, why in stale_chunks(CHUNKS.values())]
    broken = without_summary(config_runs(config))
    stale += [(record, f"run {broken[0].directory} has no run.json") for record in chunk_records(broken, "train")]
    if stale:
        print(
            f"spurcomp: {len(stale)} train or evaluate job(s) made files that were deleted, changed or damaged "
            f"since (e.g. {stale[0][1]}); what was made from them is kept until they are rebuilt (from the runs' "
            f"saved state where it is intact): {rebuild_command(sorted({str(r) for r, _ in stale})[:20])}"
            f"{' ...' if len(stale) > 20 else ''}",
            file=sys.stderr,
        )


report_stale(config)


wildcard_constraints:
    dataset=r"[A-Za-z0-9_-]+",
    study=r"[A-Za-z0-9_-]+",


def all_targets(config):
    """Every figure of the config, its results tables, the claims table and the fidelity manifest: what `all`
    makes."""
    return [*all_figures(config), *results_table_paths(config), Path("results/claims.md"), Path("results/fidelity.md")]


def from_tables_targets(config):
    """The targets of `from_tables`: every figure drawn from study tables, the results tables and the claims."""
    figures = [
        figure_path(name) for name in figure_names(config) if figure_inputs(config, name)[0].suffix == ".parquet"
    ]
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
    """A study table's inputs: the train and evaluate records of its runs' chunks (with the extended learning
    rates, once their decisions are made)."""
    rates = extended_rates(wildcards.study)
    if extension_rates(config["studies"][wildcards.study]):
        # the last decision (the largest trained rate failed, or max_steps reached) belongs to the table too
        checkpoints.lr_extension.get(study=wildcards.study, step=len(rates))
    return {step: chunk_records(study_runs(config, wildcards.study, extra_lrs=rates), step) for step in CHUNK_STEPS}


def study_run_files(wildcards):
    """What a study table reads: every run's run.json and evaluation files (its inputs are their records)."""
    runs = study_runs(config, wildcards.study, extra_lrs=extended_rates(wildcards.study))
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
    """What a study's decision after ``step`` extra rates waits for: the records of its grid's runs and of the
    extra rates decided before."""
    return {step: chunk_records(extension_runs(wildcards), step) for step in CHUNK_STEPS}


def extension_runs(wildcards):
    return study_runs(config, wildcards.study, extra_lrs=extended_rates(wildcards.study, int(wildcards.step)))


def extension_run_files(wildcards):
    """What a study's decision reads: the run summaries and accuracies of the runs its inputs record."""
    runs = extension_runs(wildcards)
    return {
        "summaries": [str(run.directory / RUN_FILES["summary"]) for run in runs],
        "accuracies": [str(evaluation_path(run, "accuracy")) for run in runs],
    }
