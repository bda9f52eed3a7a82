# Every rule's script: the rule's job (spurcomp.jobs), run as the `spurcomp` CLI runs it.
from spurcomp.jobs import Job, run
from spurcomp.runtime import log_to
from spurcomp.study import runtime_options

job = Job(snakemake.rule, dict(snakemake.input.items()), dict(snakemake.output.items()),
          dict(snakemake.params.items()), dict(snakemake.wildcards.items()))
with log_to(snakemake.log[0]):
    run(job, snakemake.threads, runtime_options(snakemake.config))
