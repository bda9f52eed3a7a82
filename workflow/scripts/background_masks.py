from spurcomp import steps
from spurcomp.runtime import log_to

with log_to(snakemake.log[0]):
    steps.make_background_masks(snakemake.input.data, snakemake.input.segmenter, snakemake.output[0],
                                snakemake.config["device"], snakemake.threads)
