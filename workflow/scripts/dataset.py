from spurcomp import steps
from spurcomp.runtime import log_to

with log_to(snakemake.log[0]):
    steps.make_dataset(snakemake.params.spec, snakemake.output[0])
