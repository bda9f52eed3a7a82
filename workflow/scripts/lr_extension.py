from spurcomp import steps
from spurcomp.runtime import log_to

with log_to(snakemake.log[0]):
    steps.lr_extension(snakemake.wildcards.study, snakemake.params.spec, snakemake.input.summaries,
                       snakemake.input.accuracies, int(snakemake.wildcards.step), snakemake.params.grid_rule,
                       snakemake.output[0])
