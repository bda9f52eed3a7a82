from spurcomp import steps
from spurcomp.runtime import log_to

with log_to(snakemake.log[0]):
    steps.aggregate(snakemake.wildcards.study, snakemake.params.spec, snakemake.params.files["summaries"],
                    snakemake.params.files["evaluations"], snakemake.output[0])
