from spurcomp import steps
from spurcomp.runtime import log_to

with log_to(snakemake.log[0]):
    steps.table(snakemake.params.layout, list(snakemake.input), snakemake.output.md, snakemake.output.tex,
                snakemake.params.grid_rule)
