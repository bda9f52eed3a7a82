"""Where each run of a study stands, from its files alone (no torch): not started, incomplete (a resumable state
at epoch N), or finished with its status, and whether it is evaluated. ``spurcomp status`` prints it."""
from __future__ import annotations

import json
from collections import Counter

from spurcomp.study import (EVALUATION_FAMILIES, RUN_FILES, chunk_record_path, decided_extension_rates, evaluation_path,
                            extension_path, extension_rates, rebuild_command, run_chunks, study_runs)


def without_summary(runs) -> list:
    """The runs whose run.json is gone (deleted, set aside as damaged, or a write cut short) while their weights
    or evaluations exist. Snakemake keeps what was made from them (a missing intermediate file is not a reason to
    rerun, as for its temp files), so they are named, with the command that rebuilds them (from their saved
    state where it is intact)."""
    return [run for run in runs if not (run.directory / RUN_FILES["summary"]).exists()
            and ((run.directory / RUN_FILES["weights"]).exists() or (run.directory / "eval").is_dir())]


def run_status(run, train_record=None) -> dict:
    """One run's state, epochs, final unbiased test accuracy and training time (what its files say);
    ``train_record``: the record of the train job that holds it (named in the command that rebuilds a damaged
    run)."""
    row = {"run": str(run.directory), "setting": run.setting, "seed": run.seed, "state": "not started", "epochs": None,
           "unbiased_acc": None, "seconds": None, "evaluated": False}
    summary = run.directory / RUN_FILES["summary"]
    progress = run.directory / "resume" / "progress.json"
    if summary.is_file():
        done = json.loads(summary.read_text())
        row.update(state=done["status"], epochs=done["epochs"], unbiased_acc=done["final_test_unbiased_acc"],
                   seconds=done["train_seconds"],
                   evaluated=all(evaluation_path(run, family).is_file() for family in EVALUATION_FAMILIES))
    elif without_summary([run]):
        row.update(state="damaged (no run.json: `" + rebuild_command([train_record]) + "` rebuilds the run)")
    elif progress.is_file():
        saved = json.loads(progress.read_text())
        row.update(state=f"incomplete (state at epoch {saved['epoch']}/{saved['max_epochs']})",
                   epochs=saved["epoch"], unbiased_acc=saved["test_unbiased_acc"], seconds=saved["elapsed_s"])
    elif (run.directory / "resume" / "state.pt").is_file():
        row.update(state="incomplete (a resumable state)")
    return row


def study_status(config: dict, study: str) -> tuple[list[dict], str]:
    """Every run's row (the extended learning rates' too, as far as decided), and a one-line summary of the
    study, with where its lr_until_failure extension stands."""
    extra = decided_extension_rates(config, study)
    records = {run: chunk_record_path(chunk, "train") for chunk in run_chunks(config) for run in chunk.runs}
    rows = [run_status(run, records.get(run)) for run in study_runs(config, study, extra_lrs=extra)]
    counts = Counter(row["state"].split(" (")[0] for row in rows)
    evaluated = sum(row["evaluated"] for row in rows)
    summary = (f"{study}: {len(rows)} runs: " + ", ".join(f"{n} {state}" for state, n in sorted(counts.items()))
               + f"; {evaluated} evaluated" + _extension_summary(config, study, extra))
    return rows, summary


def _extension_summary(config: dict, study: str, extra: list[float]) -> str:
    """"; learning rates extended by [4.0]: stopped, lr 4 failed (1 seed(s) diverged)" and the like."""
    if not extension_rates(config["studies"][study]):
        return ""
    last = extension_path(study, len(extra))
    decision = json.loads(last.read_text()) if last.is_file() else None
    if decision is None:
        state = "the next decision waits for the largest rate's runs"
    elif decision["failed"]:
        state = f"stopped: lr {decision['largest_lr']:g} failed ({decision['why']})"
    else:
        state = f"stopped: {decision['why']}"
    return f"; learning rates extended by {extra or 'none yet'}: {state}"


def format_status(rows: list[dict]) -> list[str]:
    def show(value, spec):
        return "–" if value is None else format(value, spec)

    return [f"{row['setting']:<22} seed={row['seed']:<3} {row['state']:<36} epochs {show(row['epochs'], '>4')}  "
            f"unbiased acc {show(row['unbiased_acc'], '.3f'):>5}  {show(row['seconds'], '>7.1f')} s  "
            f"{'evaluated' if row['evaluated'] else ''}".rstrip() for row in rows]
