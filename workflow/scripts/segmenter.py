from spurcomp import steps
from spurcomp.runtime import log_to

with log_to(snakemake.log[0]):
    steps.make_segmenter(snakemake.params.spec, snakemake.output.weights, snakemake.output.report,
                         snakemake.config["device"], snakemake.threads)
