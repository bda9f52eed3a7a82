rule aggregate:
    input:
        unpack(study_files),
    output:
        "results/tables/{study}.parquet",
    log:
        "logs/tables/{study}.log",
    benchmark:
        "logs/tables/{study}.benchmark.tsv"
    params:
        # the study's section, kept in the table's provenance: a change (e.g. a grid) rewrites the table
        spec=lambda wildcards: canonical(config["studies"][wildcards.study]),
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    conda:
        "../../envs/spurcomp.yaml"
    script:
        "../scripts/aggregate.py"
