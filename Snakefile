# spurcomp: reproduce "Large Learning Rates Simultaneously Achieve Robustness to Spurious Correlations and
# Compressibility" end to end. See README.md; every config key is documented in workflow/schemas/.
from snakemake.utils import min_version

min_version("9.0")


configfile: "config/config.yaml"


include: "workflow/rules/common.smk"
include: "workflow/rules/datasets.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/aggregate.smk"
include: "workflow/rules/figures.smk"


rule all:
    default_target: True
    input:
        all_figures(),
