from spurcomp import steps
from spurcomp.runtime import log_to
from spurcomp.study import EVALUATION_FAMILIES, RunKey, evaluation_path, run_logs, runtime_options

runs = [RunKey(**run) for run in snakemake.params.runs]
with log_to(snakemake.log[0]):
    steps.evaluate_runs(snakemake.params.evaluations,
                        [{family: evaluation_path(run, family) for family in EVALUATION_FAMILIES} for run in runs],
                        snakemake.input.data, [run.directory for run in runs], runtime_options(snakemake.config),
                        snakemake.threads, logs=[run_logs(run) / "evaluate.log" for run in runs],
                        masks_path=snakemake.input.masks[0] if snakemake.input.masks else None)
