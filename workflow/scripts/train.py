from spurcomp import steps
from spurcomp.study import RunKey, runtime_options

runs = snakemake.params.runs
steps.train_runs(snakemake.params.jobs, runs, snakemake.input.data, [RunKey(**run).directory for run in runs],
                 runtime_options(snakemake.config), snakemake.threads, logs=list(snakemake.log))
