from pathlib import Path

from spurcomp import steps
from spurcomp.runtime import log_to
from spurcomp.study import RunKey, runtime_options

w = snakemake.wildcards
with log_to(snakemake.log[0]):
    steps.train(snakemake.params.job, RunKey(w.dataset, w.model, w.setting, int(w.seed)).as_dict(),
                snakemake.input.data, Path(snakemake.output.summary).parent, runtime_options(snakemake.config),
                snakemake.threads)
