# One job per (dataset, model, setting, seed). The resumable state (RUN/resume/) and the checkpoints are not
# declared outputs, so Snakemake does not delete them when it reruns an interrupted job, and the rerun
# continues from them; run.json lists the checkpoints that evaluation reads.
rule train:
    input:
        data="results/data/{dataset}.npz",
    output:
        weights=f"{RUN}/weights.pt",
        history=f"{RUN}/history.parquet",
        summary=f"{RUN}/run.json",
    log:
        f"{RUN_LOGS}/train.log",
    benchmark:
        f"{RUN_LOGS}/train.benchmark.tsv"
    params:
        # model, full training setting, checkpoint epochs, divergence rule: a change retrains the run. Device
        # and state interval are read from the config instead (spurcomp.study.runtime_options): they never
        # change what a run means, and moving runs between machines must not retrain them.
        job=lambda wildcards: train_job(config, run_key(wildcards)),
    threads: resource("train", "threads", 1)
    resources:
        mem_mb=resource("train", "mem_mb", 2000),
        runtime=resource("train", "runtime", 60),
        gpu=resource("train", "gpu", 0),
    conda:
        "../../envs/spurcomp.yaml"
    script:
        "../scripts/train.py"
