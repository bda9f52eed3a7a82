from pathlib import Path

from spurcomp import steps
from spurcomp.runtime import log_to
from spurcomp.study import RunKey

w = snakemake.wildcards
with log_to(snakemake.log[0]):
    steps.evaluate(snakemake.config, RunKey(w.dataset, w.model, w.setting, int(w.seed)), dict(snakemake.output.items()),
                   snakemake.input.data, Path(snakemake.input.summary).parent, snakemake.threads)
