from pathlib import Path

from spurcomp.runtime import atomic_write_text, log_to

with log_to(snakemake.log[0]):
    Path(snakemake.output[0]).parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(Path(snakemake.output[0]), snakemake.params.manifest)
