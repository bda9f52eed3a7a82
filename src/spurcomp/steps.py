"""What each step does, given what its job is given (:mod:`spurcomp.jobs`, whose runners call these for the
workflow's rules and the ``spurcomp`` CLI alike): its inputs, its params (built from the config) and its outputs,
never the whole config.

Heavy libraries are imported inside the step that needs them, so that importing this module (the CLI, every
Snakemake job) costs nothing, and a figure, aggregate or claims job never imports torch, torchvision or captum.
"""
from __future__ import annotations

import contextlib
import logging
from pathlib import Path

from spurcomp.study import record_packing, side_by_side_runs

logger = logging.getLogger("spurcomp")


def make_summary(data: str | Path, out: str | Path) -> None:
    """A dataset file's summary (``data.io.DatasetSummary``) into ``out``."""
    from spurcomp.data.io import load_dataset, save_summary, summarise_dataset

    save_summary(out, summarise_dataset(load_dataset(data)))


def make_dataset(spec: dict, out: str | Path) -> None:
    """Build the dataset of a ``datasets.NAME`` section (with its ``seed``) into ``out``."""
    from spurcomp.data import build_dataset, save_dataset
    from spurcomp.data.files import ImageFiles

    dataset = build_dataset(spec, seed=spec["seed"])
    save_dataset(out, dataset)
    if isinstance(dataset.train.x, ImageFiles):
        logger.info("images read lazily: the dataset file lists %d + %d images under %s, decoded when used",
                    len(dataset.train.x), len(dataset.test.x), dataset.train.x.root)
    m = dataset.metadata
    # rho is the bias-conflicting fraction: an unbiased test set spreads K bias labels evenly over each class, so
    # its rho is (K - 1) / K, e.g. 0.9 for ten classes
    logger.info("dataset %s (%s source): train %s, test %s; bias-conflicting fraction: train %s, test %s (an "
                "unbiased test set with %d bias labels has %.3g) -> %s", m["generator"], m["source"],
                dataset.train.x.shape, dataset.test.x.shape, m["rho_train"], m["rho_test"], dataset.num_classes,
                1 - 1 / dataset.num_classes, out)


def make_segmenter(spec: dict, out_weights, out_report, device: str = "cpu", threads: int = 1) -> dict:
    """Train (or load) the segmenter of a ``segmenters.NAME`` section (with its ``seed``); its mIoU to the report."""
    from spurcomp.runtime import resolve_device, setup_torch
    from spurcomp.segmentation import train_segmenter

    resolved = resolve_device(device)
    setup_torch(threads, resolved)
    spec = dict(spec)
    return train_segmenter(spec, spec.pop("seed"), out_weights, out_report, resolved)


def make_background_masks(data_path, segmenter_path, out, device: str = "cpu", threads: int = 1) -> dict:
    """A dataset's test-image background masks by its segmenter, cached in ``out`` (``threads``: also the decoding
    processes of a lazily read dataset)."""
    from spurcomp.data.io import load_dataset
    from spurcomp.runtime import resolve_device, setup_torch
    from spurcomp.segmentation import compute_background_masks

    resolved = resolve_device(device)
    setup_torch(threads, resolved)
    return compute_background_masks(load_dataset(data_path, read_workers=threads), segmenter_path, out, resolved)


RUN_LOCK = ".lock"


def locked_runs(run_dirs: list) -> contextlib.ExitStack:
    """Each run folder's lock held (one writer per run: a second is refused at once, naming the holder)."""
    from spurcomp.runtime import exclusive

    stack = contextlib.ExitStack()
    try:
        for run_dir in run_dirs:
            stack.enter_context(exclusive(Path(run_dir) / RUN_LOCK, f"run {run_dir}"))
    except BaseException:
        stack.close()
        raise
    return stack


def read_cache_bytes(runtime: dict) -> int:
    """The bytes a lazily read split may keep in memory once decoded (``execution.read_cache_gb``)."""
    return int(runtime.get("read_cache_gb", 0) * 1e9)


def train_runs(jobs: list[dict], runs: list[dict], data_path: str | Path, run_dirs: list, runtime: dict,
               threads: int = 1, logs: list | None = None, job_packing: bool = True) -> list[dict]:
    """Train runs of one dataset one after another in this process (imports and the dataset load paid once),
    each into its own folder with its own state, history and checkpoints, and its messages in its own log
    (``logs``, else the caller's). A run already finished under the same identity is left as it is. With
    ``runtime["vectorise"]``, FCN runs train at once (:mod:`spurcomp.train.vectorised`). ``job_packing``: the
    runs are a workflow job's, recorded as packed together (:func:`spurcomp.study.record_packing`)."""
    from spurcomp.data.io import load_dataset
    from spurcomp.runtime import resolve_device, setup_torch

    device = resolve_device(runtime["device"])
    setup_torch(threads, device)
    side_by_side = min(len(runs), side_by_side_runs(runtime, runs[0]["model"]))
    with locked_runs(run_dirs):
        if job_packing:
            record_packing(run_dirs)
        if side_by_side > 1 and why_not_vectorised(runtime, jobs) != "":
            return _train_side_by_side(jobs, runs, data_path, run_dirs, runtime, threads, side_by_side,
                                       logs or [None] * len(runs))
        dataset = load_dataset(data_path, read_workers=threads, cache_bytes=read_cache_bytes(runtime))
        return _train_locked(jobs, runs, dataset, run_dirs, runtime, device, logs or [None] * len(runs))


def why_not_vectorised(runtime: dict, jobs: list[dict]) -> str | None:
    """Why a job's runs do not train at once (``execution.vectorise``): None where it is not asked (off, or one
    run), '' where they do."""
    if not runtime.get("vectorise") or len(jobs) < 2:
        return None
    from spurcomp.settings import setting_from_dict
    from spurcomp.train.vectorised import not_vectorisable

    return not_vectorisable([job["model"] for job in jobs], [setting_from_dict(job["setting"]) for job in jobs])


def _train_side_by_side(jobs, runs, data_path, run_dirs, runtime, threads, workers, logs) -> list[dict]:
    """Train the runs in ``workers`` processes at once on the job's device (one GPU holds several small models'
    runs; on a CPU each takes its share of the job's threads). Each process trains exactly what the job would
    train one run after another: the same run, the same numbers. A failed run fails the job once the others
    are done."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    share = max(1, threads // workers)
    logger.info("training %d runs, %d side by side (%d thread(s) each) on %s", len(runs), workers, share,
                runtime["device"])
    # spawn: a forked child would inherit the parent's torch threads and CUDA state
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = [pool.submit(_train_one, job, keys, str(data_path), str(run_dir), runtime, share,
                               str(log) if log else None)
                   for job, keys, run_dir, log in zip(jobs, runs, run_dirs, logs)]
        errors = [future.exception() for future in futures]
    failed = [(keys, error) for keys, error in zip(runs, errors) if error is not None]
    for keys, error in failed:
        logger.error("run %s failed: %s", keys, error)
    if failed:
        raise failed[0][1]
    return [future.result() for future in futures]


def _train_one(job: dict, keys: dict, data_path: str, run_dir: str, runtime: dict, threads: int, log) -> dict:
    """One run in a worker process of :func:`_train_side_by_side` (the job's process holds the run's lock)."""
    from spurcomp.data.io import load_dataset
    from spurcomp.runtime import log_to, resolve_device, setup_torch

    device = resolve_device(runtime["device"])
    setup_torch(threads, device)
    with log_to(log):
        dataset = load_dataset(data_path, read_workers=threads, cache_bytes=read_cache_bytes(runtime))
        return _train_locked([job], [keys], dataset, [run_dir], {**runtime, "vectorise": False}, device, [None])[0]


def _train_locked(jobs, runs, dataset, run_dirs, runtime, device, logs) -> list[dict]:
    from spurcomp.runtime import log_to
    from spurcomp.settings import setting_from_dict
    from spurcomp.train.engine import TrainOptions, train_run

    def options(job):
        return TrainOptions(checkpoint_epochs=list(job["checkpoint_epochs"]),
                            state_every_epochs=runtime["state_every_epochs"],
                            test_every_epoch=runtime["test_every_epoch"],
                            divergence_factor=job["divergence_factor"], collapse_margin=job["collapse_margin"],
                            progress=runtime.get("progress", False))

    settings = [setting_from_dict(job["setting"]) for job in jobs]
    why_not = why_not_vectorised(runtime, jobs)
    if why_not == "":
        from spurcomp.train.vectorised import train_runs_vectorised

        with contextlib.ExitStack() as stack:
            for log in dict.fromkeys(log for log in logs if log):  # each member's log hears the whole stack
                stack.enter_context(log_to(log))
            logger.info("training %d runs at once (vectorised) on %s: %s", len(runs), device, runs)
            return train_runs_vectorised(dataset, [job["model"] for job in jobs], settings,
                                         [keys["seed"] for keys in runs], run_dirs,
                                         [options(job) for job in jobs], device=device, keys=runs)
    if why_not:
        logger.info("execution.vectorise: these runs train one after another (%s)", why_not)
    summaries = []
    for job, setting, keys, run_dir, log in zip(jobs, settings, runs, run_dirs, logs):
        with log_to(log) if log else contextlib.nullcontext():
            logger.info("training %s with %s on %s", keys, setting, device)
            summaries.append(train_run(dataset, job["model"], setting, keys["seed"], run_dir, options=options(job),
                                       device=device, keys=keys))
    return summaries


def evaluate_runs(settings: list[dict], outputs: list[dict], data_path, run_dirs: list, runtime: dict,
                  threads: int = 1, logs: list | None = None, masks_path=None, job_packing: bool = True) -> None:
    """Write each evaluation family named in a run's ``outputs`` (family -> Parquet path) with its ``settings``
    (:func:`spurcomp.study.run_evaluation`), for runs of one dataset one after another in this process (the
    dataset loaded once), each run's messages in its own log (``logs``, else the caller's); ``masks_path``: the dataset's background
    masks (the background attribution percentage), where it has them; ``job_packing``: as for
    :func:`train_runs`."""
    from spurcomp.data.io import load_background_masks, load_dataset
    from spurcomp.runtime import resolve_device, setup_torch

    device = resolve_device(runtime["device"])
    setup_torch(threads, device)
    with locked_runs(run_dirs):
        if job_packing:
            record_packing(run_dirs)
        dataset = load_dataset(data_path, read_workers=threads, cache_bytes=read_cache_bytes(runtime))
        background = load_background_masks(masks_path, dataset)[0] if masks_path else None
        _evaluate_locked(settings, outputs, dataset, run_dirs, device, background, logs)


def _evaluate_locked(settings, outputs, dataset, run_dirs, device, background, logs) -> None:
    from spurcomp.evaluate import evaluate_run
    from spurcomp.runtime import DamagedFile, log_to
    from spurcomp.study import check_run_files, unrebuildable

    # every run's files checked before any is evaluated: a damaged one is rebuilt from the run's saved state, or,
    # where it cannot be, set aside and named, and nothing of its siblings is lost (the job's output is its
    # record, the only file Snakemake removes when it fails)
    damaged = []
    for run_dir in run_dirs:
        try:
            check_run_files(run_dir)
        except DamagedFile as err:
            from spurcomp.train.engine import rebuild_run

            if rebuild_run(dataset, run_dir, device) is None:
                damaged.append(str(err) + unrebuildable(run_dir))
    if damaged:
        raise DamagedFile(" | ".join(damaged))

    for run_settings, run_outputs, run_dir, log in zip(settings, outputs, run_dirs, logs or [None] * len(run_dirs)):
        with log_to(log) if log else contextlib.nullcontext():
            logger.info("evaluating %s: %s", run_dir, ", ".join(run_outputs))
            evaluate_run(run_outputs, dataset, run_dir, settings=run_settings, device=device, background=background)


def aggregate(study: str, spec: dict, summaries: list, evaluations: list, out) -> None:
    """A study's table from its runs' ``run.json`` files and evaluation files."""
    from spurcomp.aggregate import aggregate_study

    table = aggregate_study(study, spec, summaries, evaluations, out)
    logger.info("study %s: %d rows from %d runs -> %s", study, len(table), table.groupby(["setting", "seed"]).ngroups, out)


def figure(layout: str, inputs: list, out_pdf, out_csv, grid_rule: dict | None = None) -> None:
    """Draw a figure with its layout module (``spurcomp.figures.LAYOUT``) from its tables or dataset files;
    ``grid_rule``: the config's section (:func:`spurcomp.claims.grid_rule_cut`)."""
    from spurcomp.figures import layout_module

    layout_module(layout).plot(list(inputs), out_pdf, out_csv, grid_rule=grid_rule)
    logger.info("figure (layout %s) -> %s", layout, out_pdf)


def table(layout: str, inputs: list, out_md, out_tex, grid_rule: dict | None = None) -> None:
    """A figure's numbers as tables: mean ± std per study, learning rate and metric, in Markdown and LaTeX."""
    from spurcomp.figures import write_tables

    frame = write_tables(layout, list(inputs), out_md, out_tex, grid_rule)
    logger.info("table (layout %s): %d rows -> %s, %s", layout, len(frame), out_md, out_tex)


def claims(claims: list[dict], tables: dict[str, str | Path], out_csv, out_md, grid_rule: dict | None = None,
           tests: dict | None = None) -> None:
    """Test ``claims`` (as :func:`spurcomp.figures.config_claims` lists them) on the study ``tables``; ``tests``: the
    config's ``claim_tests`` section."""
    from spurcomp.claims import Claim, evaluate_claims

    frame = evaluate_claims(tables, out_csv, out_md, [Claim(**claim) for claim in claims], grid_rule, tests)
    logger.info("claims: %s -> %s", frame.verdict.value_counts().to_dict(), out_md)


def lr_extension(study: str, spec: dict, summaries: list, accuracies: list, step: int, grid_rule: dict, out) -> dict:
    """Decide whether a study's learning rates go on beyond what is trained (``lr_until_failure``) from its runs'
    summaries and accuracy evaluations; write the decision (JSON) to ``out``."""
    import json

    from spurcomp.aggregate import aggregate_study
    from spurcomp.claims import grid_extension
    from spurcomp.runtime import atomic_write_text

    table = aggregate_study(study, spec, summaries, accuracies, None)
    decision = {"study": study, **grid_extension(table, grid_rule, spec, step)}
    logging.getLogger(__name__).info("%s after %d extra rate(s): %s", study, step, decision["why"])
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(Path(out), json.dumps(decision, indent=1) + "\n")
    return decision
