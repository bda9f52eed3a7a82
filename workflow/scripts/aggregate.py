from spurcomp import steps
from spurcomp.runtime import log_to

with log_to(snakemake.log[0]):
    steps.aggregate(snakemake.wildcards.study, snakemake.params.spec, list(snakemake.input.summaries),
                    list(snakemake.input.evaluations), snakemake.output[0])
