"""Studies, runs and their paths: the one place that maps the config to files.

A run is (dataset, model, setting, seed) and lives in ``results/runs/DATASET/MODEL/SETTING/seed=SEED/``.
"""
from __future__ import annotations

import enum
import hashlib
import itertools
import json
import logging
import re
from dataclasses import dataclass
from pathlib import Path

from spurcomp.config import UnknownName, canonical, deep_merge, section_defaults
from spurcomp.data.versions import GENERATOR_VERSIONS
from spurcomp.runtime import DamagedFile, atomic_write_text, exclusive, set_aside
from spurcomp.settings import TrainingSetting, parse_setting_key, setting_key

RESULTS = Path("results")
logger = logging.getLogger("spurcomp")
FIGURES = Path("figures")
# One Parquet file per family and run (spurcomp.evaluate computes them); named here, where the DAG reads it.
EVALUATION_FAMILIES = ("accuracy", "pruning", "representation", "attributions", "dynamics")
# each evaluation file's Parquet metadata key for the settings it was computed under (kept in study tables)
EVALUATION_SETTINGS_KEY = b"spurcomp_evaluation"
# what the evaluate step computes from a run, by version: a param of every evaluate job (a new version evaluates
# every run again) and recorded in results bundles (one of another version is refused: its tables hold the old
# numbers). 2: a run's end-of-training attributions and last maps come from its final weights where its last
# checkpoint is earlier (1: from that checkpoint)
EVALUATION_VERSION = 2


class RunStatus(str, enum.Enum):
    """How a training run ended (``status`` in its run.json and in every table row)."""

    CONVERGED = "converged"          # reached 100% training accuracy
    NOT_CONVERGED = "not_converged"  # hit max_epochs first
    DIVERGED = "diverged"            # loss became NaN/inf or exploded
    COLLAPSED = "collapsed"          # ended at chance: training accuracy near chance, or every unit dead


# Runs that failed: shown as failures, never averaged into a curve, a correlation or a claim.
FAILED_STATUSES = (RunStatus.DIVERGED.value, RunStatus.COLLAPSED.value)


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


# a finished run's files, as the train rule declares them (run.json is written last: the sign of a finished run)
RUN_FILES = {"weights": "weights.pt", "history": "history.parquet", "summary": "run.json"}
# what a finished run records of its weights and history (run.json's ``files``), to tell a damaged file
CHECKED_RUN_FILES = ("weights", "history")
RUN_REMEDY = ("run the same Snakemake command again: the run's files are rebuilt from its saved state "
              "(resume/state.pt), or it is trained again if that is gone")


def data_digest(data: bytes) -> dict:
    """Bytes' size and SHA-256, as :func:`file_digest` gives a file's (a results bundle's members)."""
    return {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}


def file_digest(path: str | Path) -> dict:
    """A file's size and SHA-256: what a finished run records of its weights and history."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return {"bytes": Path(path).stat().st_size, "sha256": digest.hexdigest()}


def damaged_run_files(run_dir: str | Path, summary: dict) -> dict[str, str]:
    """The files of a finished run that differ from what its run.json records (name -> why); runs written
    before the record are not checked."""
    damaged = {}
    for name, recorded in (summary.get("files") or {}).items():
        path = Path(run_dir) / name
        if not path.is_file():
            damaged[name] = "missing"
            continue
        size = path.stat().st_size
        if size != recorded["bytes"]:
            damaged[name] = f"{size} bytes where {recorded['bytes']} were written"
        elif file_digest(path)["sha256"] != recorded["sha256"]:
            damaged[name] = "its checksum differs from the one written"
    return damaged


def set_aside_run_file(run_dir: str | Path, name: str, why: str, remedy: str = RUN_REMEDY) -> DamagedFile:
    """Set aside a run's damaged file (``name``, relative to the run folder) and note it in the run's run.json
    (``set_aside``): Snakemake does not rebuild a missing intermediate file while what was made from it exists,
    but it does rerun what reads a changed run.json, and so rebuilds the file. Returns the error to raise."""
    run_dir = Path(run_dir)
    error = set_aside(run_dir / name, why, remedy)
    forget_chunk_records(run_dir)
    summary_path = run_dir / RUN_FILES["summary"]
    try:
        summary = json.loads(summary_path.read_text())
    except (OSError, ValueError):
        return error  # no readable run.json: the run is retrained (spurcomp.status.without_summary says how)
    summary.setdefault("set_aside", {})[name] = why
    atomic_write_text(summary_path, json.dumps(summary, indent=2))
    return error


def unrebuildable(run_dir: str | Path) -> str:
    """Set aside the run.json of a damaged run that its saved state cannot rebuild, so that its train job trains
    it again (the workflow names the command, spurcomp.status.without_summary); the words to say so."""
    summary = Path(run_dir) / RUN_FILES["summary"]
    if summary.exists():
        set_aside(summary, "its run's weights or history are damaged and its saved state cannot rebuild them",
                  RUN_REMEDY)
    forget_chunk_records(run_dir)
    return " (no saved state rebuilds it: the run is trained again)"


def check_run_files(run_dir: str | Path) -> dict:
    """A finished run's summary, once its run.json reads and its weights and history are the files it recorded;
    a damaged one is set aside (``NAME.damaged``) and :class:`~spurcomp.runtime.DamagedFile` names it and the
    remedy."""
    run_dir = Path(run_dir)
    summary_path = run_dir / RUN_FILES["summary"]
    try:
        summary = json.loads(summary_path.read_text())
    except ValueError as err:
        forget_chunk_records(run_dir)
        raise set_aside(summary_path, f"not JSON: {err}", RUN_REMEDY) from None
    damaged = damaged_run_files(run_dir, summary)
    for name, why in damaged.items():
        if why != "missing":
            set_aside_run_file(run_dir, name, why)
    if damaged:
        forget_chunk_records(run_dir)
        raise DamagedFile(f"run {run_dir} is damaged: " + "; ".join(
            f"{name} {why}" + ("" if why == "missing" else f" (moved to {name}.damaged)") for name, why in damaged.items())
            + f"; {RUN_REMEDY}")
    return summary
# per training step, on the step's minibatch (BA: bias-aligned samples, BC: bias-conflicting); accuracies from the
# logits the step's forward pass already computed, before its update
STEP_COLUMNS = ("loss", "loss_ba", "loss_bc", "bc_loss_ratio", "param_norm", "logit_norm", "acc_ba", "acc_bc")


def run_logs(run: RunKey) -> Path:
    """The folder of a run's own train and evaluate logs (a job's log and benchmark are beside them)."""
    return Path("logs") / "runs" / run.dataset / run.model / run.setting / f"seed={run.seed}"


def dataset_path(name: str) -> Path:
    return RESULTS / "data" / f"{name}.npz"


def summary_path(name: str) -> Path:
    """A dataset's summary (``data.io.DatasetSummary``): what Fig. 2, Prop. 1 and the fidelity manifest read."""
    return RESULTS / "summaries" / f"{name}.npz"


def figure_path(figure: str) -> Path:
    return FIGURES / f"{figure}.pdf"


def table_path(study: str) -> Path:
    return RESULTS / "tables" / f"{study}.parquet"


def evaluation_path(run: RunKey, family: str) -> Path:
    return run.directory / "eval" / f"{family}.parquet"


def study_runs(config: dict, study: str, extra_lrs=(), planned: bool = False) -> list[RunKey]:
    """Every run of ``study``: the product of its grid, with its overrides, for each seed; with ``extra_lrs``,
    also the runs at those learning rates beyond its grid (``lr_until_failure``); ``planned``: with every rate
    its grid may be extended by (:func:`extension_rates`), whether or not it will be."""
    if study not in config["studies"]:
        raise UnknownName(f"unknown study {study!r}; defined studies: {sorted(config['studies'])}")
    spec = config["studies"][study]
    grid = dict(spec["grid"])
    extra = list(extension_rates(spec) if planned else extra_lrs)
    if extra:
        grid["lr"] = [*grid["lr"], *extra]
    knobs = list(grid)
    runs = []
    for values in itertools.product(*(grid[k] for k in knobs)):
        key = setting_key({**spec.get("overrides", {}), **dict(zip(knobs, values))}, config["training"])
        runs += [RunKey(spec["dataset"], spec["model"], key, int(seed)) for seed in spec["seeds"]]
    return sorted(set(runs))


def extension_rates(spec: dict) -> list[float]:
    """The learning rates a study's grid may be extended by, in order (``lr_until_failure``: the largest rate
    times factor, factor², … up to max_steps of them); none without it. Rounded to 12 significant digits, so
    that 0.3 × 2 is 0.6 in a run's folder name."""
    extension = spec.get("lr_until_failure")
    if not extension:
        return []
    largest = max(spec["grid"]["lr"])
    return [float(f"{largest * extension['factor'] ** k:.12g}") for k in range(1, extension["max_steps"] + 1)]


def extension_path(study: str, step: int) -> Path:
    """The decision after ``step`` extensions of a study's learning rates: whether its largest rate failed, and
    whether the next one is trained (JSON; :func:`spurcomp.claims.grid_extension`)."""
    return RESULTS / "extensions" / study / f"step={step}.json"


def decided_extension_rates(config: dict, study: str, read=None) -> list[float]:
    """The rates beyond a study's grid that its decisions so far say to train (in order). ``read(step)`` gives
    a decision (default: its file, or None where it is not made yet)."""
    spec = config["studies"][study]
    rates = extension_rates(spec)
    if read is None:
        def read(step):
            path = extension_path(study, step)
            return json.loads(path.read_text()) if path.exists() else None
    decided = []
    for step in range(len(rates)):
        decision = read(step)
        if not decision or not decision["extend"]:
            break
        decided.append(rates[step])
    return decided


def config_runs(config: dict) -> list[RunKey]:
    """Every run of every study in the config, once (with every rate a grid may be extended by)."""
    return sorted({run for study in config["studies"] for run in study_runs(config, study, planned=True)})


@dataclass(frozen=True)
class RunChunk:
    """Runs that one job trains (or evaluates) one after another in one process, so that imports and the
    dataset are loaded once: seeds of one (dataset, model, setting)."""

    runs: tuple[RunKey, ...]

    @property
    def name(self) -> str:
        """A label: dataset, model, setting and seeds (``parity_fcn_lr0p1_seeds_0_1_2``)."""
        first = self.runs[0]
        label = f"{first.dataset}_{first.model}_{first.setting}_seeds_{self.seeds}"
        return re.sub(r"\W", "_", label.replace("=", "").replace(".", "p"))

    @property
    def seeds(self) -> str:
        """The ``seeds`` wildcard of the chunk's records (``0_1_2``)."""
        return "_".join(str(run.seed) for run in self.runs)

    @property
    def wildcards(self) -> dict:
        """The train and evaluate rules' wildcards that name this chunk."""
        first = self.runs[0]
        return {"dataset": first.dataset, "model": first.model, "setting": first.setting, "seeds": self.seeds}

    def files(self, step: str) -> list[Path]:
        """What the chunk's ``step`` job writes for its runs: each run's files, or its evaluation files."""
        if step == "train":
            return [run.directory / name for run in self.runs for name in RUN_FILES.values()]
        return [evaluation_path(run, family) for run in self.runs for family in EVALUATION_FAMILIES]


# A chunk's train and evaluate jobs each end by writing a record beside its runs (the rules' declared output, so
# that one `train` and one `evaluate` rule serve every chunk); the runs' files are the jobs' work, read through
# the records.
CHUNK_STEPS = ("train", "evaluate")
CHUNK_RECORD = "seeds={seeds}.{step}.json"


def chunk_patterns(step: str) -> dict[str, str]:
    """The train or evaluate rule's output, log and benchmark, with the wildcards dataset, model, setting and seeds
    (the same places as :func:`chunk_record_path` and :func:`run_logs`)."""
    name = CHUNK_RECORD.format(seeds="{seeds}", step=step)
    setting = Path("runs") / "{dataset}" / "{model}" / "{setting}"
    return {"output": str(RESULTS / setting / name), "log": str(Path("logs") / setting / name).replace(".json", ".log"),
            "benchmark": str(Path("logs") / setting / name).replace(".json", ".benchmark.tsv")}


def chunk_record_path(chunk: RunChunk, step: str) -> Path:
    """The record that the chunk's ``step`` job (train or evaluate) has finished: the rules' output."""
    return chunk.runs[0].directory.parent / CHUNK_RECORD.format(seeds=chunk.seeds, step=step)


def chunk_records(chunks, runs, step: str) -> list[str]:
    """The records of the ``chunks`` that hold any of ``runs``, for ``step`` (train or evaluate): what a reader
    of the runs' files waits for."""
    held = set(runs)
    return sorted({str(chunk_record_path(c, step)) for c in chunks if held.intersection(c.runs)})


def write_chunk_record(chunk: RunChunk, step: str) -> Path:
    """Write the record of the chunk's finished ``step`` job: its runs and the size of each file the job made for
    them (what :func:`stale_chunks` compares)."""
    path = chunk_record_path(chunk, step)
    files = {str(file): file.stat().st_size for file in chunk.files(step)}
    atomic_write_text(path, json.dumps({"step": step, "runs": [str(run.directory) for run in chunk.runs],
                                        "files": files}, indent=1) + "\n")
    return path


def refresh_chunk_record(chunk: RunChunk, step: str) -> None:
    """Write the chunk's ``step`` record again where a later job repaired its runs' files (an evaluate job that
    rebuilt a damaged run from its saved state): missing or stale while every file is there."""
    if all(path.exists() for path in chunk.files(step)) and (
            not chunk_record_path(chunk, step).exists() or stale_chunks([chunk], [step])):
        write_chunk_record(chunk, step)


def chunk_of(runs: list[RunKey]) -> RunChunk:
    """The chunk that a job's ``runs`` (seeds of one setting, in order) are."""
    if len({(run.dataset, run.model, run.setting) for run in runs}) != 1:
        raise ValueError(f"a chunk holds seeds of one setting, not {[str(run.directory) for run in runs]}")
    return RunChunk(tuple(runs))


def stale_chunks(chunks, steps=CHUNK_STEPS) -> list[tuple[RunChunk, str, str]]:
    """The chunks whose record says a step is done while a file it made is gone, has another size than it was
    written with, or is newer than the record (deleted, changed or damaged since): (chunk, step, what is wrong
    with the first such file). Snakemake sees the records, not the runs' files, so the workflow names these jobs
    and the command that reruns them."""
    stale = []
    for chunk in chunks:
        for step in steps:
            record = chunk_record_path(chunk, step)
            try:
                written = record.stat().st_mtime
                sizes = json.loads(record.read_text())["files"]
            except FileNotFoundError:
                continue
            except (OSError, ValueError, KeyError, TypeError):
                stale.append((chunk, step, f"its record {record} is unreadable"))
                continue
            for file in chunk.files(step):
                why = _changed(file, sizes.get(str(file)), written)
                if why:
                    stale.append((chunk, step, f"{file} {why}"))
                    break
    return stale


def _changed(path: Path, size: int | None, recorded_at: float) -> str | None:
    try:
        info = path.stat()
    except FileNotFoundError:
        return "is missing"
    if size is not None and info.st_size != size:
        return f"has {info.st_size} bytes where {size} were written"
    if info.st_mtime > recorded_at:
        return "changed after its job finished"
    return None


def forget_chunk_records(run_dir: str | Path) -> None:
    """Remove the train and evaluate records of the chunk that holds the run in ``run_dir`` (a damaged or missing
    file of it was found), so that the next Snakemake command reruns the chunk: its trainer rebuilds what is gone
    (from the run's saved state where it is intact) and leaves its other runs as they are."""
    run_dir = Path(run_dir)
    found = re.fullmatch(r"seed=(\d+)", run_dir.name)
    if not found:
        return  # a run outside the workflow's layout has no chunk
    for record in run_dir.parent.glob(CHUNK_RECORD.format(seeds="*", step="*")):
        seeds = record.name.split(".")[0].removeprefix("seeds=").split("_")
        if found.group(1) in seeds:
            record.unlink(missing_ok=True)
            logger.warning("%s removed: a file of run %s is damaged or missing, and the job reruns", record, run_dir)


def rebuild_command(records) -> str:
    """The command that reruns the jobs whose records are ``records`` (and what was made from them)."""
    return "snakemake --cores all --forcerun " + " ".join(f"'{record}'" for record in records)


def run_chunks(config: dict) -> list[RunChunk]:
    """The config's runs in chunks of seeds of one setting. A chunk holds seeds, never several settings, so that
    extending a grid with learning rates leaves existing chunks (and their finished runs) untouched.

    Packing is not a run's identity: finished runs stay in the chunk of the last job that held them (its
    setting's packing record, :func:`record_packing`) while its seeds are all still in the config, so changing
    ``execution.runs_per_job`` or adding a seed reruns nothing finished. The runs left are packed
    ``runs_per_job`` at a time (1: one job per run)."""
    size = execution_options(config)["runs_per_job"]
    by_setting: dict[tuple, list[RunKey]] = {}
    for run in config_runs(config):
        by_setting.setdefault((run.dataset, run.model, run.setting), []).append(run)
    chunks = []
    for _, runs in sorted(by_setting.items()):
        kept = _kept_chunks(runs)
        rest = [run for run in runs if not any(run in chunk.runs for chunk in kept)]
        chunks += sorted(kept, key=lambda chunk: chunk.runs) + [RunChunk(tuple(rest[i:i + size])) for i in range(0, len(rest), size)]
    names: dict[str, RunChunk] = {}
    for chunk in chunks:
        other = names.setdefault(chunk.name, chunk)
        if other is not chunk:  # names drop punctuation: two settings could in principle read alike
            raise ValueError(f"runs {other.runs[0].directory} and {chunk.runs[0].directory} give the same job name "
                             f"{chunk.name!r}; rename a dataset or model")
    return chunks


PACKING_FILE = "packing.json"


def packing_path(run: RunKey) -> Path:
    """The packing record of a run's setting: the seeds each job that trained or evaluated them held."""
    return run.directory.parent / PACKING_FILE


def _kept_chunks(runs: list[RunKey]) -> list[RunChunk]:
    """The recorded chunks of one setting's ``runs`` that are whole in the config and finished (each run's
    run.json written), the most recent job first where two claim a run."""
    path = packing_path(runs[0])
    try:
        recorded = json.loads(path.read_text())["jobs"]
    except FileNotFoundError:
        return []
    except (OSError, ValueError, KeyError, TypeError):
        logger.warning("packing record %s is unreadable: its runs are packed by execution.runs_per_job", path)
        return []
    by_seed = {run.seed: run for run in runs}
    kept, taken = [], set()
    for seeds in reversed(recorded):
        if not set(seeds) <= by_seed.keys() or taken & set(seeds):
            continue
        chunk = RunChunk(tuple(by_seed[seed] for seed in seeds))
        if all((run.directory / RUN_FILES["summary"]).exists() for run in chunk.runs):
            kept.append(chunk)
            taken |= set(seeds)
    return kept


def record_packing(run_dirs: list) -> None:
    """Add the seeds of a job's runs (folders ``SETTING/seed=N`` of one setting) to the setting's packing record,
    under the record's lock; folders of another shape (runs outside the workflow's layout) have none."""
    settings = {Path(run_dir).parent for run_dir in run_dirs}
    found = [re.fullmatch(r"seed=(\d+)", Path(run_dir).name) for run_dir in run_dirs]
    if len(settings) != 1 or not all(found):
        return
    path = settings.pop() / PACKING_FILE
    seeds = [int(match.group(1)) for match in found]
    with exclusive(path.with_name(PACKING_FILE + ".lock"), f"packing record {path}", wait=True):
        try:
            jobs = json.loads(path.read_text())["jobs"]
        except (OSError, ValueError, KeyError, TypeError):
            jobs = []
        jobs = [job for job in jobs if job != seeds] + [seeds]  # the latest last
        atomic_write_text(path, json.dumps({"jobs": jobs}) + "\n")


def execution_options(config: dict) -> dict:
    """The ``execution`` section (how runs are packed into jobs), defaults filled."""
    return {**section_defaults("execution"), **(config.get("execution") or {})}


def run_evaluations(config: dict, runs=None) -> dict[RunKey, dict]:
    """The ``evaluation`` settings of each of ``runs`` (default: every run of the config): the global ones with the
    overrides of the studies it belongs to. Each study's runs are listed once, so the whole config's settings
    cost what one study's do (the DAG asks for all of them)."""
    overrides: dict[RunKey, tuple[str, dict]] = {}  # run -> (study, its overrides)
    for name, spec in config["studies"].items():
        if not spec.get("evaluation"):
            continue
        for run in study_runs(config, name, planned=True):
            found = overrides.setdefault(run, (name, spec["evaluation"]))
            if found[1] != spec["evaluation"]:
                raise ValueError(f"run {run.directory} is in studies {found[0]!r} and {name!r} with different "
                                 f"evaluation overrides; make them equal")
    base = config.get("evaluation") or {}
    return {run: canonical(deep_merge(base, overrides[run][1] if run in overrides else {}))
            for run in (config_runs(config) if runs is None else runs)}


def run_evaluation(config: dict, run: RunKey) -> dict:
    """The ``evaluation`` settings of one run (:func:`run_evaluations`)."""
    return run_evaluations(config, [run])[run]


def run_setting(config: dict, setting: str) -> TrainingSetting:
    return parse_setting_key(setting, config["training"])


# What each job kind is given: everything that changes its outputs, in canonical form (rules pass these as
# params, so a change reruns the job and a reordering of config keys does not).

def dataset_job(config: dict, name: str) -> dict:
    """A dataset's config section with the seed it is built with (its own, else the master seed) and the version
    of its generator."""
    if name not in config["datasets"]:
        raise UnknownName(f"unknown dataset {name!r}; defined datasets: {sorted(config['datasets'])}")
    spec = {"seed": config["seed"], **config["datasets"][name]}
    # which segmenter marks its backgrounds is not the dataset's business (a change recomputes the masks only)
    spec.pop("background_masks", None)
    if spec.get("allow_fallback", True):
        # at its default the policy is left out of the job's identity (the files built before it existed are kept)
        spec.pop("allow_fallback", None)
    # the generator's version is not the generator's input, but a new version must rebuild the file
    return canonical({**spec, "generator_version": GENERATOR_VERSIONS[spec["generator"]]})


def segmenter_path(name: str) -> Path:
    return RESULTS / "segmenters" / f"{name}.pt"


def background_masks_path(dataset: str) -> Path:
    return RESULTS / "masks" / f"{dataset}.npz"


def dataset_segmenter(config: dict, dataset: str) -> str | None:
    """The segmenter whose background masks a dataset's evaluations use (its ``background_masks``), or None."""
    if dataset not in config["datasets"]:
        raise UnknownName(f"unknown dataset {dataset!r}; defined datasets: {sorted(config['datasets'])}")
    return config["datasets"][dataset].get("background_masks")


def evaluation_masks(config: dict, dataset: str) -> Path | None:
    """The background masks a dataset's evaluations read (where it names a segmenter), or None: what the
    evaluate rule declares as input and the CLI's evaluate verb passes."""
    return background_masks_path(dataset) if dataset_segmenter(config, dataset) else None


def segmenter_job(config: dict, name: str) -> dict:
    """A segmenter's config section with the seed it is trained with (its own, else the master seed)."""
    segmenters = config.get("segmenters") or {}
    if name not in segmenters:
        raise UnknownName(f"unknown segmenter {name!r}; defined segmenters: {sorted(segmenters)}")
    return canonical({"seed": config["seed"], **segmenters[name]})


def train_job(config: dict, run: RunKey) -> dict:
    """The model, the full training setting, and the options that change what a run writes."""
    if run.model not in config["models"]:
        raise UnknownName(f"unknown model {run.model!r}; defined models: {sorted(config['models'])}")
    training = config["training"]
    return canonical({
        "model": config["models"][run.model],
        "setting": run_setting(config, run.setting).as_dict(),
        "checkpoint_epochs": sorted(training["checkpoint_epochs"]),
        "divergence_factor": training["divergence_factor"],
        "collapse_margin": training["collapse_margin"],
    })


def side_by_side_runs(runtime: dict, model: str) -> int:
    """How many runs of ``model`` a train job trains side by side (``execution.side_by_side``; 1 if unnamed)."""
    return int((runtime.get("side_by_side") or {}).get(model, 1))


# the keys of the training section that change how often a run saves or measures, never its training or a table
RUNTIME_TRAINING_KEYS = ("state_every_epochs", "test_every_epoch")


def runtime_options(config: dict) -> dict:
    """What changes where and how a job runs but never its numbers' meaning, so it is read from the config
    rather than made a param: moving finished runs between a GPU cluster and a laptop must not retrain them."""
    execution = execution_options(config)
    return {"device": config["device"],
            **{key: config["training"][key] for key in RUNTIME_TRAINING_KEYS},
            "vectorise": execution["vectorise"], "read_cache_gb": execution["read_cache_gb"],
            "side_by_side": execution["side_by_side"]}
