# Every figure is an entry of the config's `figures:` section, drawn by its layout module
# (src/spurcomp/figures/LAYOUT.py) from study tables (or dataset files): re-plotting never retrains.
rule figure:
    input:
        lambda wildcards: [str(path) for path in figure_inputs(config, wildcards.figure)],
    output:
        # the report shows the PNG inline; the PDF is the figure for papers
        pdf=report(
            "figures/{figure}.pdf",
            caption="../report/figure.rst",
            category="Figures",
            labels={"figure": "{figure}", "file": "PDF"},
        ),
        png=report(
            "figures/{figure}.png",
            caption="../report/figure.rst",
            category="Figures",
            labels={"figure": "{figure}", "file": "PNG"},
        ),
        values="figures/{figure}.csv",
    log:
        "logs/figures/{figure}.log",
    benchmark:
        "logs/figures/{figure}.benchmark.tsv"
    wildcard_constraints:
        figure=one_of(figure_names(config)),
    conda:
        "../../envs/spurcomp.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        # the layout draws the figure; the caption (the layout's text and what the figure is drawn from)
        # goes to the report, and is a param so that the report never shows a caption of another layout
        layout=lambda wildcards: figure_spec(config, wildcards.figure)["layout"],
        caption=lambda wildcards: figure_caption(config, wildcards.figure),
        # which learning rates the curves keep (the paper's rule: up to the first failure or drastic loss)
        grid_rule=canonical(config["grid_rule"]),
    script:
        "../scripts/figure.py"


# A figure's numbers for readers who compare them: mean ± std per study, learning rate and metric.
rule table:
    input:
        lambda wildcards: [str(path) for path in figure_inputs(config, wildcards.figure)],
    output:
        md=report("results/tables/{figure}.md", category="Tables", labels={"figure": "{figure}", "file": "Markdown"}),
        tex="results/tables/{figure}.tex",
    log:
        "logs/tables/{figure}.table.log",
    benchmark:
        "logs/tables/{figure}.table.benchmark.tsv"
    wildcard_constraints:
        figure=one_of(tabulated_figures(config)),
    conda:
        "../../envs/spurcomp.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        # the layout says which metrics; the grid rule which learning rates are marked as left out
        layout=lambda wildcards: figure_spec(config, wildcards.figure)["layout"],
        grid_rule=canonical(config["grid_rule"]),
    script:
        "../scripts/table.py"
