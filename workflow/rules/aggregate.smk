rule aggregate:
    input:
        study_evaluations,
    output:
        "results/tables/{study}.parquet",
    log:
        "logs/tables/{study}.log",
    params:
        study=lambda wildcards: config["studies"][wildcards.study],
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    conda:
        "../../envs/spurcomp.yaml"
    script:
        "../scripts/aggregate.py"
