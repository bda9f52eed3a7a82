from pathlib import Path

from spurcomp.fidelity import with_degraded
from spurcomp.runtime import atomic_write_text, log_to

with log_to(snakemake.log[0]):
    atomic_write_text(Path(snakemake.output[0]), with_degraded(snakemake.params.manifest, dict(snakemake.input)))
