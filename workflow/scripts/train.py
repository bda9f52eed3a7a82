from pathlib import Path

from spurcomp import steps
from spurcomp.runtime import log_to
from spurcomp.study import RunKey

w = snakemake.wildcards
with log_to(snakemake.log[0]):
    run = RunKey(w.dataset, w.model, w.setting, int(w.seed))
    steps.train(snakemake.config, run, snakemake.input.data, snakemake.threads,
                run_dir=Path(snakemake.output.summary).parent)
