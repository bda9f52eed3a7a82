# One job per chunk of runs (spurcomp.study.run_chunks: seeds of one setting, at most execution.runs_per_job),
# trained one after another in one process so that imports and the dataset load are paid once. One rule serves
# every chunk: its wildcards name the setting's folder and the chunk's seeds, and its output is the chunk's
# record beside the runs (results/runs/DATASET/MODEL/SETTING/seeds=0_1_2.train.json). The runs' own files, their
# resumable state (RUN/resume/) and checkpoints are the job's work, not declared outputs: an interrupted job
# resumes from them, and a rerun job leaves a finished run as it is.
rule train:
    input:
        unpack(lambda wildcards: chunk_job("train", wildcards).input),
    output:
        record=CHUNK_OUTPUT["train"],
    log:
        # the job's log; each run also appends to its own logs/runs/.../train.log, which a rerun keeps
        CHUNK_LOG["train"],
    benchmark:
        CHUNK_BENCHMARK["train"]
    wildcard_constraints:
        **CHUNK_WILDCARDS,
    group:
        "runs"  # cluster execution packs chunks into jobs (profiles/slurm: group-components); local ignores it
    conda:
        "../../envs/spurcomp.yaml"
    threads: resource("train", "threads", 1)
    resources:
        mem_mb=resource("train", "mem_mb", 2000),
        # per run, times the rounds of runs the job trains (execution.side_by_side at once)
        runtime=lambda wildcards: resource("train", "runtime", 60) * training_rounds(chunk(wildcards)),
        gpu=resource("train", "gpu", 0),
    params:
        # per run: model, full training setting, checkpoint epochs, divergence rule: a change retrains the
        # runs. Device and state interval are read from the config instead (spurcomp.study.runtime_options):
        # they never change what a run means, and moving runs between machines must not retrain them.
        **job_params("train", lambda wildcards: chunk_job("train", wildcards)),
    script:
        "../scripts/job.py"
