from spurcomp import steps
from spurcomp.runtime import log_to
from spurcomp.study import (EVALUATION_FAMILIES, RunKey, chunk_of, evaluation_path, refresh_chunk_record, run_logs,
                            runtime_options, write_chunk_record)

runs = [RunKey(**run) for run in snakemake.params.runs]
with log_to(snakemake.log[0]):
    steps.evaluate_runs(snakemake.params.evaluations,
                        [{family: evaluation_path(run, family) for family in EVALUATION_FAMILIES} for run in runs],
                        snakemake.input.data, [run.directory for run in runs], runtime_options(snakemake.config),
                        snakemake.threads, logs=[run_logs(run) / "evaluate.log" for run in runs],
                        masks_path=snakemake.input.masks[0] if snakemake.input.masks else None)
    refresh_chunk_record(chunk_of(runs), "train")  # a damaged run rebuilt from its saved state here
    write_chunk_record(chunk_of(runs), "evaluate")
