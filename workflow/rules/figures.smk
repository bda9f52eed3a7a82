# Figures are drawn from tables (or, fig2, from dataset files) only: re-plotting never retrains. A study with a
# `plot` gets its own figure; the `figures` section combines studies (fig4, fig5) or datasets (fig2).
rule figure:
    input:
        lambda wildcards: [str(path) for path in figure_inputs(config, wildcards.figure)],
    output:
        pdf=report("figures/{figure}.pdf", caption="../report/figure.rst", category="Figures"),
        values="figures/{figure}.csv",
    log:
        "logs/figures/{figure}.log",
    wildcard_constraints:
        figure=one_of(figure_names(config)),
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    conda:
        "../../envs/spurcomp.yaml"
    script:
        "../scripts/figure.py"
