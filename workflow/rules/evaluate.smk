# One job per run writes one Parquet file per evaluation family (a job's start-up costs more than the cheap
# families themselves).
rule evaluate:
    input:
        data="results/data/{dataset}.npz",
        weights=f"{RUN}/weights.pt",
        summary=f"{RUN}/run.json",
        history=f"{RUN}/history.parquet",
    output:
        **{family: f"{RUN}/eval/{family}.parquet" for family in EVALUATION_FAMILIES},
    log:
        f"{RUN_LOGS}/evaluate.log",
    benchmark:
        f"{RUN_LOGS}/evaluate.benchmark.tsv"
    params:
        # the run's evaluation settings (global, with its studies' overrides): a change re-evaluates it
        evaluation=lambda wildcards: run_evaluation(config, run_key(wildcards)),
    threads: resource("evaluate", "threads", 1)
    resources:
        mem_mb=resource("evaluate", "mem_mb", 2000),
        runtime=resource("evaluate", "runtime", 30),
        gpu=resource("evaluate", "gpu", 0),
    conda:
        "../../envs/spurcomp.yaml"
    script:
        "../scripts/evaluate.py"
