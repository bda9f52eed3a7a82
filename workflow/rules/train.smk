# One job per chunk of runs (spurcomp.study.run_chunks: seeds of one setting, at most execution.runs_per_job),
# trained one after another in one process so that imports and the dataset load are paid once. Snakemake still
# sees every run's own files. They are update() outputs: a rerun chunk job (one run's files missing, say) leaves
# a finished run's files in place, and the trainer skips it. The resumable state (RUN/resume/) and the
# checkpoints are not declared outputs, so an interrupted job resumes from them.
for chunk in run_chunks(config):

    rule:
        name:
            f"train_{chunk.name}"
        input:
            data=str(dataset_path(chunk.runs[0].dataset)),
        output:
            **{f"{kind}_{i}": update(str(run.directory / name)) for i, run in enumerate(chunk.runs)
               for kind, name in RUN_FILES.items()},
        log:
            # the job's log; each run also appends to its own logs/runs/.../train.log, which a rerun keeps
            f"logs/chunks/train_{chunk.name}.log",
        benchmark:
            f"logs/chunks/train_{chunk.name}.benchmark.tsv"
        params:
            # per run: model, full training setting, checkpoint epochs, divergence rule: a change retrains the
            # runs. Device and state interval are read from the config instead (spurcomp.study.runtime_options):
            # they never change what a run means, and moving runs between machines must not retrain them.
            jobs=[train_job(config, run) for run in chunk.runs],
            runs=[run.as_dict() for run in chunk.runs],
        group:
            "runs"  # cluster execution packs chunks into jobs (profiles/slurm: group-components); local ignores it
        threads: resource("train", "threads", 1)
        resources:
            mem_mb=resource("train", "mem_mb", 2000),
            runtime=resource("train", "runtime", 60) * len(chunk.runs),
            gpu=resource("train", "gpu", 0),
        conda:
            "../../envs/spurcomp.yaml"
        script:
            "../scripts/train.py"
