"""``spurcomp``: the workflow's steps without Snakemake (same verbs, same functions as the rules)."""
from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from importlib import metadata
from pathlib import Path

from spurcomp import jobs
from spurcomp.bundle import make_bundle, unbundle
from spurcomp.config import ConfigError, UnknownName, deep_merge, read_config_file, validate_config
from spurcomp.fidelity import with_degraded
from spurcomp.figures import figure_tables
from spurcomp.plan import plan, plan_markdown, read_step_times
from spurcomp.runtime import PlainError, log_to
from spurcomp.settings import parse_setting_key
from spurcomp.status import format_status, study_status
from spurcomp.study import (EVALUATION_FAMILIES, RunChunk, RunKey, chunk_of, dataset_path, decided_extension_rates,
                            runtime_options, study_runs)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="spurcomp", description=__doc__)
    parser.add_argument("--version", action="version", version=f"%(prog)s {metadata.version('spurcomp')}")
    parser.add_argument("--configfile", "--config", dest="config", action="append", default=[], metavar="FILE",
                        help="a config file merged over the base, as `snakemake --configfile FILE` merges it "
                             "(repeat it to stack files; --config FILE is the older spelling)")
    parser.add_argument("--base", default="config/config.yaml",
                        help="the workflow's own config, read first when it exists, as Snakemake's `configfile:` "
                             "is (default: %(default)s; 'none': only the --config files)")
    parser.add_argument("--log", default=None, help="append the log here instead of stderr")
    sub = parser.add_subparsers(dest="verb", required=True)
    _step_verbs(sub)
    _result_verbs(sub)
    _inspection_verbs(sub)
    return parser


def _step_verbs(sub) -> None:
    """The workflow's per-run steps: dataset, segmenter, masks, train, evaluate."""
    p = sub.add_parser("dataset", help="build results/data/NAME.npz")
    p.add_argument("name")
    p.add_argument("--out")

    p = sub.add_parser("summary", help="results/summaries/NAME.npz: a dataset's metadata, training labels and example "
                                       "images (what Fig. 2, Prop. 1 and the fidelity manifest read)")
    p.add_argument("name")

    p = sub.add_parser("segmenter", help="train (or load) results/segmenters/NAME.pt and report its mIoU")
    p.add_argument("name")
    p.add_argument("--threads", type=int, default=1)

    p = sub.add_parser("masks", help="results/masks/DATASET.npz: the test images' background masks by the dataset's "
                                     "segmenter")
    p.add_argument("name")
    p.add_argument("--threads", type=int, default=1, help="also the processes decoding a lazily read dataset")

    p = sub.add_parser("train", help="train one run (resumes from its saved state)")
    for arg in ("dataset", "model", "setting"):
        p.add_argument(f"--{arg}", required=True)
    p.add_argument("--seed", type=int, required=True)
    p.add_argument("--data", help="dataset file (default: results/data/DATASET.npz)")
    p.add_argument("--run-dir", help="output folder (default: results/runs/DATASET/MODEL/SETTING/seed=SEED)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                   help="a progress bar of the epochs (default: when the terminal shows it)")

    p = sub.add_parser("evaluate", help="evaluate one run (every family, or those named)")
    p.add_argument("families", nargs="*", metavar="FAMILY",
                   help=f"any of {list(EVALUATION_FAMILIES)} (default: all)")
    for arg in ("dataset", "model", "setting"):
        p.add_argument(f"--{arg}", required=True)
    p.add_argument("--seed", type=int, required=True)
    p.add_argument("--threads", type=int, default=1)


def _result_verbs(sub) -> None:
    """What is made from the runs: a study's table, a figure, the claims, a figure's table."""
    p = sub.add_parser("aggregate", help="a study's table")
    p.add_argument("study")

    p = sub.add_parser("figure", help="a figure of the config's `figures` section")
    p.add_argument("name")
    p.add_argument("--out", help="PDF path (default: figures/NAME.pdf)")

    sub.add_parser("claims", help="results/claims.csv and .md from the study tables that exist")

    p = sub.add_parser("table", help="a figure's numbers: mean ± std per study, learning rate and metric")
    p.add_argument("name")
    p.add_argument("--format", choices=("md", "latex"), default="md", help="printed to stdout (default: %(default)s)")


def _inspection_verbs(sub) -> None:
    """Looking at a config and its results: runs, status, fidelity, plan, bundles, config checks."""
    p = sub.add_parser("runs", help="list a study's run folders")
    p.add_argument("study")

    p = sub.add_parser("status", help="where each run stands: not started, incomplete (state at epoch N), "
                                      "converged / not_converged / diverged / collapsed, evaluated")
    p.add_argument("studies", nargs="*", metavar="STUDY", help="default: every study of the config")

    p = sub.add_parser("fidelity", help="the fidelity manifest: per figure, the paper's stated settings beside the "
                                        "config's, each as in the paper, the paper's open choice, or a departure "
                                        "with the config's reason (Markdown)")
    p.add_argument("--out", help="write it here instead of printing it")

    p = sub.add_parser("plan", help="what the config's grid costs before it is launched: per figure and study, runs, "
                                    "epochs at most, images per epoch, ms per step on a device, hours of training")
    p.add_argument("--device", default="nvidia-h100",
                   help="a device of the step-time table (default: %(default)s; the table lists the others)")
    p.add_argument("--step-times", help="your own step-time table (benchmarks/paper_scale.py --table writes one)")

    p = sub.add_parser("bundle", help="pack what the figures, tables and claims are made from (the study tables, the "
                                      "learning-rate decisions, the datasets' summaries, the config, provenance; never "
                                      "weights) into one file")
    p.add_argument("out", metavar="OUT", help="the bundle to write, e.g. results-bundle.zip")
    p.add_argument("--doi", help="the DOI of the record the bundle is published under (kept in its bundle.json)")

    p = sub.add_parser("unbundle", help="put a bundle's files where the workflow expects them (after checking its "
                                        "config, version and checksums): `snakemake --cores all` then draws every "
                                        "figure, their tables, the claims and the fidelity manifest without training")
    p.add_argument("file", metavar="FILE")
    p.add_argument("--force", action="store_true", help="replace this checkout's own tables where they differ")

    p = sub.add_parser("check", help="check config files: YAML (with the line of an error) and every key, merged "
                                     "in order over the base as `snakemake --configfile FILE...` merges them")
    p.add_argument("files", nargs="*", metavar="FILE")


def merged_config(base: str, files: list[str]) -> tuple[dict, list[str]]:
    """``base`` (when it exists, unless 'none') with each file merged over it in order, as Snakemake merges its
    ``configfile:`` and ``--configfile`` files; and the files read."""
    paths = ([base] if base != "none" and Path(base).is_file() else []) + list(files)
    if not paths:
        raise ConfigError(f"no config: {base} does not exist here (working directory {Path.cwd()}) and no --config "
                          f"FILE was given")
    config: dict = {}
    for path in paths:
        config = deep_merge(config, read_config_file(path))
    return config, paths


def run_key(args, config: dict) -> RunKey:
    """The run named by ``--dataset --model --setting --seed``, each checked against the config."""
    for kind in ("dataset", "model"):
        defined = config[f"{kind}s"]
        if getattr(args, kind) not in defined:
            raise UnknownName(f"unknown {kind} {getattr(args, kind)!r}; defined {kind}s: {sorted(defined)}")
    try:
        parse_setting_key(args.setting, config["training"])
    except ValueError as err:
        raise ConfigError(str(err)) from None
    return RunKey(args.dataset, args.model, args.setting, args.seed)


def main(argv=None) -> int:
    """Run a verb; a bad config or name, a run another process writes, or a damaged file ends in one line that
    says what is wrong (status 2 for what the user gave, 1 for the state of the files)."""
    args = _parser().parse_args(argv)
    try:
        files = [*args.config, *(args.files if args.verb == "check" else [])]
        config, used = merged_config(args.base, files)
        validate_config(config)
        unknown = sorted(set(getattr(args, "families", None) or ()) - set(EVALUATION_FAMILIES))
        if unknown:
            raise ConfigError(f"unknown evaluation family {unknown}; allowed: {list(EVALUATION_FAMILIES)}")
    except ConfigError as err:
        print(f"spurcomp: {err}", file=sys.stderr)
        return 2
    if args.verb == "check":
        print(f"spurcomp: {' + '.join(used)}: valid ({len(config['studies'])} studies, {len(config['figures'])} "
              f"figures)")
        return 0
    try:
        with log_to(args.log):  # it logs the error's one line: to stderr, or to --log and then to stderr below
            _dispatch(args, config)
    except PlainError as err:  # a bad name, a run another process writes, a damaged file
        if args.log:
            print(f"spurcomp: {err}", file=sys.stderr)
        return 2 if isinstance(err, ConfigError) else 1
    return 0


def _one_run(args, config: dict) -> RunChunk:
    return chunk_of([run_key(args, config)])


def _dataset_job(args, config: dict) -> jobs.Job:
    job = jobs.dataset(config, args.name)
    return replace(job, output={"data": args.out}) if args.out else job


def _train_job(args, config: dict) -> jobs.Job:
    job = jobs.train(config, _one_run(args, config), record=False)
    return replace(job, input={"data": args.data} if args.data else job.input,
                   output={"runs": [args.run_dir]} if args.run_dir else job.output)


def _figure_job(args, config: dict) -> jobs.Job:
    job = jobs.figure(config, args.name)
    if not args.out:
        return job
    pdf = Path(args.out)
    return replace(job, output={"pdf": str(pdf), "png": str(pdf.with_suffix(".png")),
                                "values": str(pdf.with_suffix(".csv"))})


def _fidelity_job(args, config: dict) -> jobs.Job:
    job = jobs.fidelity(config)
    # without Snakemake a dataset may be built and its summary not: its file holds the same metadata
    job = replace(job, input={name: path if Path(path).exists() else str(dataset_path(name))
                              for name, path in job.input.items()})
    return replace(job, output={"manifest": args.out}) if args.out else replace(job, output={})


# each step verb's job: the workflow's job of the names given (a run's without the workflow's records)
STEP_JOBS = {
    "dataset": _dataset_job,
    "summary": lambda args, config: jobs.dataset_summary(config, args.name),
    "segmenter": lambda args, config: jobs.segmenter(config, args.name),
    "masks": lambda args, config: jobs.background_masks(config, args.name),
    "train": _train_job,
    "evaluate": lambda args, config: jobs.evaluate(config, _one_run(args, config), record=False,
                                                   families=args.families),
    "aggregate": lambda args, config: jobs.aggregate(config, args.study,
                                                     extra_lrs=decided_extension_rates(config, args.study)),
    "figure": _figure_job,
    "claims": lambda args, config: jobs.claims(config),
    "fidelity": _fidelity_job,
}


def _run_step(args, config):
    job = STEP_JOBS[args.verb](args, config)
    if job.step == "fidelity" and not job.output:  # no --out: printed
        print(with_degraded(job.params["manifest"], job.input), end="")
        return
    runtime = runtime_options(config)
    if job.step == "train":
        runtime["progress"] = sys.stderr.isatty() if args.progress is None else args.progress
    jobs.run(job, getattr(args, "threads", 1), runtime)


def _table(args, config):
    job = jobs.table(config, args.name)
    _, texts = figure_tables(job.params["layout"], job.input["tables"], job.params["grid_rule"], formats=(args.format,))
    print(texts[args.format], end="")


def _plan(args, config):
    times = read_step_times(args.step_times) if args.step_times else read_step_times()
    devices = sorted({t.device for t in times})
    if args.device not in devices:
        raise ConfigError(f"no step times for device {args.device!r}; the table has {devices}")
    print(plan_markdown(plan(config, args.device, times), args.device), end="")


def _bundle(args, config):
    manifest = make_bundle(config, args.out, args.doi)
    print(f"spurcomp: {args.out}: {len(manifest['files'])} files, {Path(args.out).stat().st_size / 1e6:.1f} MB")


def _unbundle(args, config):
    written = unbundle(config, args.file, args.force)
    print(f"spurcomp: {len(written)} file(s) written from {args.file}; `snakemake --cores all` draws every figure, "
          f"their tables, the claims and the fidelity manifest from them, without training")


def _runs(args, config):
    for run in study_runs(config, args.study):
        print(run.directory)


def _status(args, config):
    for study in args.studies or list(config["studies"]):
        rows, summary = study_status(config, study)
        print("\n".join([summary, *("  " + line for line in format_status(rows))]))


# each verb of the parser and the function that runs it: a step verb runs the step's job (spurcomp.jobs), as the
# workflow's rule does
VERBS = {**dict.fromkeys(STEP_JOBS, _run_step), "table": _table, "plan": _plan, "bundle": _bundle,
         "unbundle": _unbundle, "runs": _runs, "status": _status}


def _dispatch(args, config: dict) -> None:
    for study in [getattr(args, "study", None), *(getattr(args, "studies", None) or [])]:
        if study is not None and study not in config["studies"]:
            raise UnknownName(f"unknown study {study!r}; defined studies: {sorted(config['studies'])}")
    VERBS[args.verb](args, config)


if __name__ == "__main__":
    sys.exit(main())
