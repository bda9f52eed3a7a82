from spurcomp import steps
from spurcomp.runtime import log_to

with log_to(snakemake.log[0]):
    steps.claims(snakemake.params.claims, dict(snakemake.input.items()), snakemake.output.csv, snakemake.output.md,
                 snakemake.params.grid_rule, snakemake.params.tests)
