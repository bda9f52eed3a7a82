from pathlib import Path

from spurcomp import steps
from spurcomp.runtime import log_to
from spurcomp.study import runtime_options

w = snakemake.wildcards
with log_to(snakemake.log[0]):
    steps.train(snakemake.params.job, {"dataset": w.dataset, "model": w.model, "setting": w.setting, "seed": int(w.seed)},
                snakemake.input.data, Path(snakemake.output.summary).parent, runtime_options(snakemake.config),
                snakemake.threads)
