# One job per chunk of runs (the chunks of train.smk) writes one Parquet file per evaluation family and run.
EVALUATIONS = run_evaluations(config)  # every run's settings at once: per run, it would list every study again

for chunk in run_chunks(config):

    rule:
        name:
            f"evaluate_{chunk.name}"
        input:
            data=str(dataset_path(chunk.runs[0].dataset)),
            # the background attribution percentage's masks, where the dataset names a segmenter
            masks=[str(background_masks_path(chunk.runs[0].dataset))] if dataset_segmenter(config, chunk.runs[0].dataset) else [],
            runs=[str(run.directory / name) for run in chunk.runs for name in RUN_FILES.values()],
        output:
            # update(): a failed job (a damaged run, say) restores its siblings' evaluation files, never deletes them
            [update(str(evaluation_path(run, family))) for run in chunk.runs for family in EVALUATION_FAMILIES],
        log:
            # the job's log; each run also appends to its own logs/runs/.../evaluate.log, which a rerun keeps
            f"logs/chunks/evaluate_{chunk.name}.log",
        benchmark:
            f"logs/chunks/evaluate_{chunk.name}.benchmark.tsv"
        params:
            # per run, its evaluation settings (global, with its studies' overrides): a change re-evaluates
            evaluations=[EVALUATIONS[run] for run in chunk.runs],
            runs=[run.as_dict() for run in chunk.runs],
        group:
            "runs"
        threads: resource("evaluate", "threads", 1)
        resources:
            mem_mb=resource("evaluate", "mem_mb", 2000),
            runtime=resource("evaluate", "runtime", 30) * len(chunk.runs),
            gpu=resource("evaluate", "gpu", 0),
        conda:
            "../../envs/spurcomp.yaml"
        script:
            "../scripts/evaluate.py"
