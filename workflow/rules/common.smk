# Targets from the config. The mapping from config to runs, paths and each job's params lives in spurcomp.study
# and spurcomp.figures, so the workflow and the `spurcomp` CLI can never disagree. Only light modules are
# imported here (no torch, torchvision, captum, SciPy or matplotlib): building the DAG takes seconds.
import json
import re
import sys
from pathlib import Path

from spurcomp import jobs as describe
from spurcomp.config import ConfigError, command_line_values, deep_merge, validate_config
from spurcomp.status import without_summary
from spurcomp.figures import all_figures, figure_names, results_table_paths, tabulated_figures
from spurcomp.study import (
    CHUNK_STEPS,
    background_masks_path,
    chunk_patterns,
    chunk_record_path,
    chunk_records,
    config_runs,
    dataset_segmenter,
    decided_extension_rates,
    extension_rates,
    rebuild_command,
    run_chunks,
    run_evaluations,
    runtime_options,
    side_by_side_runs,
    stale_chunks,
    summary_path,
    study_runs,
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


EVALUATIONS = run_evaluations(config)  # every run's settings at once: per run, it would list every study again


def chunk_job(step, wildcards):
    """The train or evaluate job (spurcomp.jobs) of the chunk that a job's wildcards name."""
    if step == "train":
        return describe.train(config, chunk(wildcards))
    return describe.evaluate(config, chunk(wildcards), evaluations=EVALUATIONS)


def job_params(step, job):
    """A rule's params: each param of the step's job (spurcomp.jobs.PARAMS; ``job(wildcards)`` describes it), so that
    a change of what decides the job's outputs reruns it."""
    return {name: (lambda wildcards, name=name: job(wildcards).params[name]) for name in describe.PARAMS[step]}


def report_stale(config):
    """Name the train or evaluate jobs whose runs' files were deleted, changed or damaged since their records were
    written, and the runs left without a run.json, with the command that reruns them. Snakemake sees the records,
    not the runs' files, and keeps what was made from them (the tables hold what the files said when intact);
    the jobs that read a run check its files first and never use a damaged one."""
    stale = [(chunk_record_path(c, step), why) for c, step, why in stale_chunks(CHUNKS.values())]
    broken = without_summary(config_runs(config))
    stale += [
        (record, f"run {broken[0].directory} has no run.json")
        for record in chunk_records(CHUNKS.values(), broken, "train")
    ]
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
    return aggregate_job(wildcards).input


def aggregate_job(wildcards):
    return describe.aggregate(config, wildcards.study, extended_rates(wildcards.study), CHUNKS.values())


# Seconds of work on small tables: never worth a cluster job.
localrules:
    aggregate,
    figure,
    table,
    claims,
    fidelity,
    lr_extension,


def extension_job(wildcards):
    """A study's decision after ``step`` extra rates: it waits for the records of its grid's runs and of the extra
    rates decided before, and reads their run summaries and accuracies."""
    step = int(wildcards.step)
    return describe.lr_extension(config, wildcards.study, step, extended_rates(wildcards.study, step), CHUNKS.values())
