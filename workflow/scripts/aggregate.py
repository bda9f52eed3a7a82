from spurcomp import steps
from spurcomp.runtime import log_to

with log_to(snakemake.log[0]):
    steps.aggregate(snakemake.config, snakemake.wildcards.study, snakemake.output[0])
