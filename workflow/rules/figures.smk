# Every figure is an entry of the config's `figures:` section, drawn by its layout module
# (src/spurcomp/figures/LAYOUT.py) from study tables (or dataset files): re-plotting never retrains.
rule figure:
    input:
        unpack(lambda wildcards: describe.figure(config, wildcards.figure).input),
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
        # which learning rates the curves keep (the paper's rule: up to the first failure or drastic loss)
        **job_params("figure", lambda wildcards: describe.figure(config, wildcards.figure)),
    script:
        "../scripts/job.py"


# A figure's numbers for readers who compare them: mean ± std per study, learning rate and metric.
rule table:
    input:
        unpack(lambda wildcards: describe.table(config, wildcards.figure).input),
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
        **job_params("table", lambda wildcards: describe.table(config, wildcards.figure)),
    script:
        "../scripts/job.py"
