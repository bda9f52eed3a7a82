rule dataset:
    output:
        "results/data/{dataset}.npz",
    log:
        "logs/data/{dataset}.log",
    benchmark:
        "logs/data/{dataset}.benchmark.tsv"
    params:
        # the dataset's config section and seed: any change rebuilds it (and so retrains its runs)
        spec=lambda wildcards: dataset_job(config, wildcards.dataset),
    threads: 1
    resources:
        mem_mb=resource("dataset", "mem_mb", 2000),
        runtime=resource("dataset", "runtime", 30),
    conda:
        "../../envs/spurcomp.yaml"
    script:
        "../scripts/dataset.py"
