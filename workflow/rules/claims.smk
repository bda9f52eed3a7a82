# The paper's claims that the configured figures test (each layout module states its own).
CLAIMS = describe.claims(config)


rule claims:
    input:
        **CLAIMS.input,
    output:
        csv=CLAIMS.output["csv"],
        md=report(CLAIMS.output["md"], caption="../report/claims.rst", category="Claims"),
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
        # which learning rates the claims are tested on; α, the p-value adjustment, the permutations
        **CLAIMS.params,
    script:
        "../scripts/job.py"


# The fidelity manifest: the paper's stated settings beside the config's, figure by figure (spurcomp.fidelity).
FIDELITY = describe.fidelity(config)


rule fidelity:
    input:
        # the built data: a dataset a fallback degraded is listed in the manifest
        **FIDELITY.input,
    output:
        manifest=report(FIDELITY.output["manifest"], caption="../report/fidelity.rst", category="Fidelity"),
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
        **FIDELITY.params,
    script:
        "../scripts/job.py"
