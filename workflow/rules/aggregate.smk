rule aggregate:
    input:
        unpack(study_files),
    output:
        table="results/tables/{study}.parquet",
    log:
        "logs/tables/{study}.log",
    benchmark:
        "logs/tables/{study}.benchmark.tsv"
    conda:
        "../../envs/spurcomp.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        # the study's section, kept in the table's provenance: a change (e.g. a grid) rewrites the table; what
        # the job reads (every run's run.json and evaluation files: its inputs are their records)
        **job_params("aggregate", aggregate_job),
    script:
        "../scripts/job.py"


# lr_until_failure (a study's learning rates extended until one fails, sec. 4): one decision per step, a
# checkpoint, so that the plan grows as results arrive
checkpoint lr_extension:
    input:
        unpack(lambda wildcards: extension_job(wildcards).input),
    output:
        decision="results/extensions/{study}/step={step}.json",
    log:
        "logs/extensions/{study}/step={step}.log",
    wildcard_constraints:
        study=one_of([name for name, spec in config["studies"].items() if extension_rates(spec)]),
        step=r"\d+",
    conda:
        "../../envs/spurcomp.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        **job_params("lr_extension", extension_job),
    script:
        "../scripts/job.py"
