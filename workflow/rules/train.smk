# One job per (dataset, model, setting, seed). The resumable state (RUN/resume/) is not a declared output,
# so Snakemake does not delete it when it reruns an interrupted job, and the rerun continues from it.
rule train:
    input:
        data="results/data/{dataset}.npz",
    output:
        weights=f"{RUN}/weights.pt",
        history=f"{RUN}/history.parquet",
        summary=f"{RUN}/run.json",
    log:
        f"{RUN_LOGS}/train.log",
    params:
        model=lambda wildcards: config["models"][wildcards.model],
        training=config["training"],
    threads: resource("train", "threads", 1)
    resources:
        mem_mb=resource("train", "mem_mb", 2000),
        runtime=resource("train", "runtime", 60),
        gpu=resource("train", "gpu", 0),
    conda:
        "../../envs/spurcomp.yaml"
    script:
        "../scripts/train.py"
