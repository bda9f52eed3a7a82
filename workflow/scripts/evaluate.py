from pathlib import Path

from spurcomp import steps
from spurcomp.runtime import log_to
from spurcomp.study import EVALUATION_FAMILIES, runtime_options

with log_to(snakemake.log[0]):
    steps.evaluate(snakemake.params.evaluation, {family: snakemake.output[family] for family in EVALUATION_FAMILIES},
                   snakemake.input.data, Path(snakemake.input.summary).parent, runtime_options(snakemake.config),
                   snakemake.threads)
