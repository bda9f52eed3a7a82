# One job per chunk of runs (the chunks of train.smk) writes one Parquet file per evaluation family and run, and
# then the chunk's evaluate record (its output: results/runs/DATASET/MODEL/SETTING/seeds=0_1_2.evaluate.json).
rule evaluate:
    input:
        # the dataset, its background masks where it names a segmenter, the chunk's train record
        unpack(lambda wildcards: chunk_job("evaluate", wildcards).input),
    output:
        record=CHUNK_OUTPUT["evaluate"],
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
        # a Fig. 4 job of three VGG11 runs peaked at 2.5 GB (the CPU convolution library caches a primitive per
        # pruned shape)
        mem_mb=resource("evaluate", "mem_mb", 3000),
        runtime=lambda wildcards: resource("evaluate", "runtime", 30) * len(chunk(wildcards).runs),
        gpu=resource("evaluate", "gpu", 0),
    params:
        # per run, its evaluation settings (global, with its studies' overrides): a change re-evaluates
        **job_params("evaluate", lambda wildcards: chunk_job("evaluate", wildcards)),
    script:
        "../scripts/job.py"
