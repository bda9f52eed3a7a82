#!/usr/bin/env bash
# Run by Snakemake (--sdm conda) once, in the new environment, after creating it from spurcomp.yaml. Snakemake
# copies the env file into .snakemake/conda/ first, so a path in it cannot name this checkout: the workflow sets
# SPURCOMP_SOURCE to the checkout (workflow/Snakefile), and this installs the package from there, editable, so
# jobs run the checkout's code.
set -euo pipefail
: "${SPURCOMP_SOURCE:?is set by workflow/Snakefile to the checkout holding pyproject.toml}"
python -m pip install --no-deps --no-build-isolation -e "$SPURCOMP_SOURCE"
