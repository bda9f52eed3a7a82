# The paper's claims that the configured studies can test; the rest are listed as not computed.
from spurcomp.claims import config_claims


rule claims:
    input:
        sorted({str(table_path(c.study)) for c in config_claims(config) if c.study in config["studies"]}),
    output:
        csv="results/claims.csv",
        md=report("results/claims.md", caption="../report/claims.rst", category="Claims"),
    log:
        "logs/claims.log",
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    conda:
        "../../envs/spurcomp.yaml"
    script:
        "../scripts/claims.py"
