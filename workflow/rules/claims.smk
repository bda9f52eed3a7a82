# The paper's claims that the configured figures test (each layout module states its own).
rule claims:
    input:
        **{study: str(table_path(study)) for study in claim_studies(config)},
    output:
        csv="results/claims.csv",
        md=report("results/claims.md", caption="../report/claims.rst", category="Claims"),
    log:
        "logs/claims.log",
    benchmark:
        "logs/claims.benchmark.tsv"
    params:
        # the claims themselves (ids, texts, directions): a changed claim is tested again
        claims=claims_param(config),
        # which learning rates the claims are tested on
        grid_rule=canonical(config["grid_rule"]),
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    conda:
        "../../envs/spurcomp.yaml"
    script:
        "../scripts/claims.py"
