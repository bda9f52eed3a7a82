from spurcomp import steps
from spurcomp.study import EVALUATION_FAMILIES, RunKey, evaluation_path, runtime_options

runs = [RunKey(**run) for run in snakemake.params.runs]
steps.evaluate_runs(snakemake.params.evaluations,
                    [{family: evaluation_path(run, family) for family in EVALUATION_FAMILIES} for run in runs],
                    snakemake.input.data, [run.directory for run in runs], runtime_options(snakemake.config),
                    snakemake.threads, logs=list(snakemake.log))
