# The entry point at the repository root: the workflow itself is workflow/Snakefile (the Snakemake catalog's
# layout), included here so that `snakemake` run from the root finds it first. Snakemake looks for its default
# profile in profiles/default beside this file: `profiles` is a link to workflow/profiles, so the settings of
# workflow/profiles/default apply either way.
include: "workflow/Snakefile"


# `include:` keeps the including file's default target (none here), not workflow/Snakefile's `all`: this rule
# makes the same files the default target from the root.
rule default:
    default_target: True
    input:
        rules.all.input,
