from spurcomp import steps
from spurcomp.runtime import log_to

with log_to(snakemake.log[0]):
    steps.figure(snakemake.params.layout, list(snakemake.input), snakemake.output.pdf, snakemake.output.values,
                 snakemake.params.grid_rule)
