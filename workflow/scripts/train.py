from spurcomp import steps
from spurcomp.runtime import log_to
from spurcomp.study import RunKey, chunk_of, run_logs, runtime_options, write_chunk_record

runs = [RunKey(**run) for run in snakemake.params.runs]
with log_to(snakemake.log[0]):
    steps.train_runs(snakemake.params.jobs, snakemake.params.runs, snakemake.input.data,
                     [run.directory for run in runs], runtime_options(snakemake.config), snakemake.threads,
                     logs=[run_logs(run) / "train.log" for run in runs])
    write_chunk_record(chunk_of(runs), "train")
