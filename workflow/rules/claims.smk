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
    conda:
        "../../envs/spurcomp.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        # the claims themselves (ids, texts, directions): a changed claim is tested again
        claims=claims_param(config),
        # which learning rates the claims are tested on
        grid_rule=canonical(config["grid_rule"]),
        # α, the p-value adjustment, the permutations
        tests=canonical(config["claim_tests"]),
    script:
        "../scripts/claims.py"


# The fidelity manifest: the paper's stated settings beside the config's, figure by figure (spurcomp.fidelity).
rule fidelity:
    input:
        # the built data: a dataset a fallback degraded is listed in the manifest
        **{name: str(dataset_path(name)) for name in fidelity_datasets(config)},
    output:
        report("results/fidelity.md", caption="../report/fidelity.rst", category="Fidelity"),
    log:
        "logs/fidelity.log",
    conda:
        "../../envs/spurcomp.yaml"
    threads: 1
    resources:
        mem_mb=500,
        runtime=5,
    params:
        # the manifest is the config's: a changed setting or reason rewrites it
        manifest=fidelity_markdown(config),
    script:
        "../scripts/fidelity.py"
