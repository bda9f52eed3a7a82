"""Each step of the workflow described once. A :class:`Job` names what a step reads (``input``), what it writes
(``output``), the config's slice that decides what it makes (``params``: Snakemake reruns a job whose params
changed) and the names it is about (``wildcards``: a study, a decision step). The rules take their input and
params from these descriptions (``job_input`` and ``job_params`` in workflow/rules/common.smk), their one script
(workflow/scripts/job.py) runs the job with :func:`run`, and each ``spurcomp`` step verb builds the same
description from its arguments and runs it with the same function.

A train or evaluate job of the workflow has a ``record`` output: the chunk's record, the file Snakemake sees
(:func:`spurcomp.study.chunk_record_path`). A job without one (``spurcomp train``) trains or evaluates the same
runs, writing each run's own files and log, without the workflow's bookkeeping (no chunk record, no packing record).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from spurcomp import steps
from spurcomp.config import ConfigError, canonical
from spurcomp.fidelity import fidelity_datasets, fidelity_markdown, with_degraded
from spurcomp.figures import claim_studies, claims_param, figure_caption, figure_inputs, figure_spec
from spurcomp.runtime import logger
from spurcomp.study import (EVALUATION_FAMILIES, EVALUATION_VERSION, RUN_FILES, RunChunk, RunKey,
                            background_masks_path, chunk_of, chunk_record_path, chunk_records, dataset_job,
                            dataset_path, dataset_segmenter, evaluation_masks, evaluation_path, extension_path,
                            figure_path, refresh_chunk_record, run_chunks, run_evaluations, run_logs, segmenter_job,
                            segmenter_path, study_runs, summary_path, table_path, train_job, write_chunk_record)

# each step's params by name: what its rule declares (a change of any reruns the job); a CLI job may add
# ``families`` (evaluate: the families named)
PARAMS = {"dataset": ("spec",), "dataset_summary": (), "segmenter": ("spec",), "background_masks": (), "train": ("jobs", "runs"),
          "evaluate": ("evaluations", "runs", "version"), "aggregate": ("spec", "files"),
          "lr_extension": ("spec", "grid_rule", "files"), "figure": ("layout", "caption", "grid_rule"),
          "table": ("layout", "grid_rule"), "claims": ("claims", "grid_rule", "tests"), "fidelity": ("manifest",)}
CLAIMS_OUTPUT = {"csv": "results/claims.csv", "md": "results/claims.md"}
FIDELITY_OUTPUT = "results/fidelity.md"


@dataclass(frozen=True)
class Job:
    """One job of a step: its files in and out by name, its params, the names it is about."""

    step: str
    input: dict = field(default_factory=dict)
    output: dict = field(default_factory=dict)
    params: dict = field(default_factory=dict)
    wildcards: dict = field(default_factory=dict)


def dataset(config: dict, name: str) -> Job:
    return Job("dataset", output={"data": str(dataset_path(name))}, params={"spec": dataset_job(config, name)})


def dataset_summary(config: dict, name: str) -> Job:
    """A dataset's summary from its file: what the figures drawn from datasets and the fidelity manifest read."""
    return Job("dataset_summary", input={"data": str(dataset_path(name))}, output={"summary": str(summary_path(name))})


def segmenter(config: dict, name: str) -> Job:
    weights = segmenter_path(name)
    return Job("segmenter", output={"weights": str(weights), "report": str(weights.with_suffix(".json"))},
               params={"spec": segmenter_job(config, name)})


def background_masks(config: dict, name: str) -> Job:
    found = dataset_segmenter(config, name)
    if not found:
        raise ConfigError(f"dataset {name!r} names no segmenter (datasets.{name}.background_masks)")
    return Job("background_masks", input={"data": str(dataset_path(name)), "segmenter": str(segmenter_path(found))},
               output={"masks": str(background_masks_path(name))})


def train(config: dict, chunk: RunChunk, record: bool = True) -> Job:
    """Train the chunk's runs (per run: model, full training setting, checkpoint epochs, divergence rule; the
    device and the state interval are runtime options, which never retrain a run)."""
    return Job("train", input={"data": str(dataset_path(chunk.runs[0].dataset))},
               output={"record": str(chunk_record_path(chunk, "train"))} if record else {},
               params={"jobs": [train_job(config, run) for run in chunk.runs],
                       "runs": [run.as_dict() for run in chunk.runs]})


def evaluate(config: dict, chunk: RunChunk, record: bool = True, evaluations: dict | None = None,
             families=None) -> Job:
    """Evaluate the chunk's runs with their evaluation settings (``evaluations``: :func:`run_evaluations` of the
    config, where the caller has them), every family or those named."""
    evaluations = evaluations or run_evaluations(config, chunk.runs)
    masks = evaluation_masks(config, chunk.runs[0].dataset)
    inputs = {"data": str(dataset_path(chunk.runs[0].dataset)), "masks": [str(masks)] if masks else []}
    params = {"evaluations": [evaluations[run] for run in chunk.runs], "runs": [run.as_dict() for run in chunk.runs],
              "version": EVALUATION_VERSION}
    if families:
        params["families"] = list(families)
    if not record:
        return Job("evaluate", input=inputs, params=params)
    return Job("evaluate", input={**inputs, "trained": str(chunk_record_path(chunk, "train"))},
               output={"record": str(chunk_record_path(chunk, "evaluate"))}, params=params)


def aggregate(config: dict, study: str, extra_lrs=(), chunks=None) -> Job:
    """A study's table: its input is the train and evaluate records of its runs' chunks (``chunks``: the
    config's, where the caller has them); what it reads are the runs' files."""
    runs = study_runs(config, study, extra_lrs=extra_lrs)
    return Job("aggregate", input=_records(config, runs, chunks), output={"table": str(table_path(study))},
               params={"spec": canonical(config["studies"][study]),
                       "files": _run_files(runs, "evaluations", EVALUATION_FAMILIES)},
               wildcards={"study": study})


def lr_extension(config: dict, study: str, step: int, extra_lrs=(), chunks=None) -> Job:
    """A study's ``lr_until_failure`` decision after ``step`` extra rates, from the runs trained so far."""
    runs = study_runs(config, study, extra_lrs=extra_lrs)
    return Job("lr_extension", input=_records(config, runs, chunks), output={"decision": str(extension_path(study, step))},
               params={"spec": canonical(config["studies"][study]), "grid_rule": canonical(config["grid_rule"]),
                       "files": _run_files(runs, "accuracies", ["accuracy"])},
               wildcards={"study": study, "step": str(step)})


def figure(config: dict, name: str) -> Job:
    """A figure (its layout, its caption for the report, the grid rule of its curves) from its tables or files."""
    pdf = figure_path(name)
    return Job("figure", input={"tables": [str(path) for path in figure_inputs(config, name)]},
               output={"pdf": str(pdf), "png": str(pdf.with_suffix(".png")), "values": str(pdf.with_suffix(".csv"))},
               params={"layout": figure_spec(config, name)["layout"], "caption": figure_caption(config, name),
                       "grid_rule": canonical(config["grid_rule"])})


def table(config: dict, name: str) -> Job:
    """A figure's numbers as tables (the layout says which metrics; the grid rule which rates are marked)."""
    return Job("table", input={"tables": [str(path) for path in figure_inputs(config, name)]},
               output={"md": f"results/tables/{name}.md", "tex": f"results/tables/{name}.tex"},
               params={"layout": figure_spec(config, name)["layout"], "grid_rule": canonical(config["grid_rule"])})


def claims(config: dict) -> Job:
    """The claims (ids, texts, directions), which learning rates they are tested on and how (α, the adjustment,
    the permutations); input: each claim study's table, by study."""
    return Job("claims", input={study: str(table_path(study)) for study in claim_studies(config)},
               output=dict(CLAIMS_OUTPUT),
               params={"claims": claims_param(config), "grid_rule": canonical(config["grid_rule"]),
                       "tests": canonical(config["claim_tests"])})


def fidelity(config: dict) -> Job:
    """The fidelity manifest (the config's): input, the built data's summaries, whose degraded data it lists."""
    return Job("fidelity", input={name: str(summary_path(name)) for name in fidelity_datasets(config)},
               output={"manifest": FIDELITY_OUTPUT}, params={"manifest": fidelity_markdown(config)})


def _run_files(runs: list[RunKey], name: str, families) -> dict:
    """What a job reading runs reads: each run's summary, and its evaluation files of ``families`` (as ``name``)."""
    return {"summaries": [str(run.directory / RUN_FILES["summary"]) for run in runs],
            name: [str(evaluation_path(run, f)) for run in runs for f in families]}


def _records(config: dict, runs: list[RunKey], chunks) -> dict:
    chunks = run_chunks(config) if chunks is None else chunks
    return {step: chunk_records(chunks, runs, step) for step in ("train", "evaluate")}


# -- running a job ---------------------------------------------------------------------------------------------

def _runs(job: Job) -> list[RunKey]:
    return [RunKey(**run) for run in job.params["runs"]]


def _run_train(job: Job, threads: int, runtime: dict) -> None:
    runs, workflow = _runs(job), "record" in job.output
    steps.train_runs(job.params["jobs"], job.params["runs"], job.input["data"],
                     job.output.get("runs") or [run.directory for run in runs], runtime, threads,
                     logs=[run_logs(run) / "train.log" for run in runs], job_packing=workflow)
    if workflow:
        write_chunk_record(chunk_of(runs), "train")


def _run_evaluate(job: Job, threads: int, runtime: dict) -> None:
    runs, workflow = _runs(job), "record" in job.output
    families = job.params.get("families") or EVALUATION_FAMILIES
    steps.evaluate_runs(job.params["evaluations"], [{f: evaluation_path(run, f) for f in families} for run in runs],
                        job.input["data"], [run.directory for run in runs], runtime, threads,
                        logs=[run_logs(run) / "evaluate.log" for run in runs],
                        masks_path=job.input["masks"][0] if job.input["masks"] else None, job_packing=workflow)
    if workflow:
        refresh_chunk_record(chunk_of(runs), "train")  # a damaged run rebuilt from its saved state here
        write_chunk_record(chunk_of(runs), "evaluate")


def _run_fidelity(job: Job, threads: int, runtime: dict) -> None:
    from spurcomp.runtime import atomic_write_text

    out = Path(job.output["manifest"])
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out, with_degraded(job.params["manifest"], job.input))


RUNNERS = {
    "dataset": lambda job, threads, runtime: steps.make_dataset(job.params["spec"], job.output["data"]),
    "dataset_summary": lambda job, threads, runtime: steps.make_summary(job.input["data"], job.output["summary"]),
    "segmenter": lambda job, threads, runtime: steps.make_segmenter(
        job.params["spec"], job.output["weights"], job.output["report"], runtime["device"], threads),
    "background_masks": lambda job, threads, runtime: steps.make_background_masks(
        job.input["data"], job.input["segmenter"], job.output["masks"], runtime["device"], threads),
    "train": _run_train,
    "evaluate": _run_evaluate,
    "aggregate": lambda job, threads, runtime: steps.aggregate(
        job.wildcards["study"], job.params["spec"], job.params["files"]["summaries"],
        job.params["files"]["evaluations"], job.output["table"]),
    "lr_extension": lambda job, threads, runtime: steps.lr_extension(
        job.wildcards["study"], job.params["spec"], job.params["files"]["summaries"],
        job.params["files"]["accuracies"], int(job.wildcards["step"]), job.params["grid_rule"],
        job.output["decision"]),
    "figure": lambda job, threads, runtime: steps.figure(
        job.params["layout"], job.input["tables"], job.output["pdf"], job.output["values"], job.params["grid_rule"]),
    "table": lambda job, threads, runtime: steps.table(
        job.params["layout"], job.input["tables"], job.output["md"], job.output["tex"], job.params["grid_rule"]),
    "claims": lambda job, threads, runtime: steps.claims(
        job.params["claims"], job.input, job.output["csv"], job.output["md"], job.params["grid_rule"],
        job.params["tests"]),
    "fidelity": _run_fidelity,
}


CPU_LINE = "job CPU seconds"  # logged at a job's end; benchmarks/build_profile.py reads it


def run(job: Job, threads: int, runtime: dict) -> None:
    """Run ``job`` with ``threads`` threads under the config's runtime options
    (:func:`spurcomp.study.runtime_options`), and log the CPU time it took: its process's and its finished child
    processes' user and system time (Snakemake's benchmark files sample it every few seconds, which misses most of a
    short job's)."""
    import resource

    RUNNERS[job.step](job, threads, runtime)
    used = [resource.getrusage(who) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)]
    logger.info("%s: %.2f", CPU_LINE, sum(u.ru_utime + u.ru_stime for u in used))
