# One job per chunk of runs (the chunks of train.smk) writes one Parquet file per evaluation family and run, and
# then the chunk's evaluate record (its output: results/runs/DATASET/MODEL/SETTING/seeds=0_1_2.evaluate.json).
EVALUATIONS = run_evaluations(config)  # every run's settings at once: per run, it would list every study again


rule evaluate:
    input:
        data=lambda wildcards: str(dataset_path(wildcards.dataset)),
        # the background attribution percentage's masks, where the dataset names a segmenter
        masks=lambda wildcards: [str(path) for path in [evaluation_masks(config, wildcards.dataset)] if path],
        trained=CHUNK_OUTPUT["train"],
    output:
        CHUNK_OUTPUT["evaluate"],
    log:
        # the job's log; each run also appends to its own logs/runs/.../evaluate.log, which a rerun keeps
        CHUNK_LOG["evaluate"],
    benchmark:
        CHUNK_BENCHMARK["evaluate"]
    wildcard_constraints:
        **CHUNK_WILDCARDS,
    group:
        "runs"
    conda:
        "../../envs/spurcomp.yaml"
    threads: resource("evaluate", "threads", 1)
    resources:
        mem_mb=resource("evaluate", "mem_mb", 2000),
        runtime=lambda wildcards: resource("evaluate", "runtime", 30) * len(chunk(wildcards).runs),
        gpu=resource("evaluate", "gpu", 0),
    params:
        # per run, its evaluation settings (global, with its studies' overrides): a change re-evaluates
        evaluations=lambda wildcards: [EVALUATIONS[run] for run in chunk(wildcards).runs],
        runs=lambda wildcards: [run.as_dict() for run in chunk(wildcards).runs],
    script:
        "../scripts/evaluate.py"
