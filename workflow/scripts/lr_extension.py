from spurcomp import steps
from spurcomp.runtime import log_to

with log_to(snakemake.log[0]):
    steps.lr_extension(snakemake.wildcards.study, snakemake.params.spec, snakemake.params.files["summaries"],
                       snakemake.params.files["accuracies"], int(snakemake.wildcards.step), snakemake.params.grid_rule,
                       snakemake.output[0])
