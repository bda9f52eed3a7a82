rule dataset:
    output:
        data="results/data/{dataset}.npz",
    log:
        "logs/data/{dataset}.log",
    benchmark:
        "logs/data/{dataset}.benchmark.tsv"
    conda:
        "../../envs/spurcomp.yaml"
    threads: 1
    resources:
        mem_mb=resource("dataset", "mem_mb", 2000),
        runtime=resource("dataset", "runtime", 30),
    params:
        # the dataset's config section and seed: any change rebuilds it (and so retrains its runs)
        **job_params("dataset", lambda wildcards: describe.dataset(config, wildcards.dataset)),
    script:
        "../scripts/job.py"


# A dataset's summary (its metadata, training labels and Fig. 2's example images): what Fig. 2, Prop. 1 and the
# fidelity manifest read, small enough for a results bundle.
rule dataset_summary:
    input:
        unpack(lambda wildcards: describe.dataset_summary(config, wildcards.dataset).input),
    output:
        summary=str(summary_path("{dataset}")),
    log:
        "logs/summaries/{dataset}.log",
    benchmark:
        "logs/summaries/{dataset}.benchmark.tsv"
    wildcard_constraints:
        dataset=one_of(config["datasets"]),
    conda:
        "../../envs/spurcomp.yaml"
    threads: 1
    resources:
        mem_mb=resource("dataset", "mem_mb", 2000),
        runtime=resource("dataset", "runtime", 30),
    script:
        "../scripts/job.py"


# A segmenter (DeepLabV3) for the background attribution percentage: trained on procedural images (or loaded
# from the user's weights), its mIoU on held-out images in the JSON beside it.
rule segmenter:
    output:
        weights="results/segmenters/{segmenter}.pt",
        report=report(
            "results/segmenters/{segmenter}.json",
            category="Segmenters",
            labels={"segmenter": "{segmenter}", "file": "mIoU"},
        ),
    log:
        "logs/segmenters/{segmenter}.log",
    benchmark:
        "logs/segmenters/{segmenter}.benchmark.tsv"
    wildcard_constraints:
        segmenter=one_of(config.get("segmenters") or {}),
    conda:
        "../../envs/spurcomp.yaml"
    threads: resource("segmenter", "threads", 1)
    resources:
        mem_mb=resource("segmenter", "mem_mb", 4000),
        runtime=resource("segmenter", "runtime", 60),
        gpu=resource("segmenter", "gpu", 0),
    params:
        **job_params("segmenter", lambda wildcards: describe.segmenter(config, wildcards.segmenter)),
    script:
        "../scripts/job.py"


# A dataset's test-image background masks, computed once by its segmenter (datasets.NAME.background_masks).
rule background_masks:
    input:
        unpack(lambda wildcards: describe.background_masks(config, wildcards.dataset).input),
    output:
        masks=str(background_masks_path("{dataset}")),
    log:
        "logs/masks/{dataset}.log",
    wildcard_constraints:
        dataset=one_of([name for name in config["datasets"] if dataset_segmenter(config, name)]),
    conda:
        "../../envs/spurcomp.yaml"
    threads: resource("background_masks", "threads", 1)
    resources:
        mem_mb=resource("background_masks", "mem_mb", 4000),
        runtime=resource("background_masks", "runtime", 60),
        gpu=resource("background_masks", "gpu", 0),
    script:
        "../scripts/job.py"
