from pathlib import Path

from spurcomp import steps
from spurcomp.runtime import log_to

with log_to(snakemake.log[0]):
    steps.evaluate(snakemake.config, dict(snakemake.output.items()), snakemake.input.data,
                   Path(snakemake.input.summary).parent, snakemake.threads)
