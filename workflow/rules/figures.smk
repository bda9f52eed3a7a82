# A figure per study, drawn from its table only: re-plotting never retrains.
rule figure:
    input:
        "results/tables/{study}.parquet",
    output:
        pdf=report("figures/{study}.pdf", caption="../report/figure.rst", category="Figures"),
        values="figures/{study}.csv",
    log:
        "logs/figures/{study}.log",
    params:
        plot=lambda wildcards: config["studies"][wildcards.study]["plot"],
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    conda:
        "../../envs/spurcomp.yaml"
    script:
        "../scripts/figure.py"
