"""What the workflow costs before it does any work: building the DAG (``snakemake -n``) for the default config and
for ``config/paper.yaml``, and each job kind's start-up in a fresh Python process (Snakemake's script preamble,
``spurcomp.steps`` and the modules that kind's step imports). Median of ``--repeats`` runs, in seconds.

    python benchmarks/startup.py [--repeats 3]
"""
from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

DRY_RUNS = {
    "`snakemake -n` (default config, every figure)": ["-n", "all"],
    "`snakemake -n figures/fig4.pdf figures/fig5.pdf --configfile=config/paper.yaml`":
        ["-n", "figures/fig4.pdf", "figures/fig5.pdf", "--configfile=config/paper.yaml"],
}

# Every job runs `import snakemake.script` (the preamble Snakemake puts before a `script:`), then its script's
# imports (spurcomp.steps, spurcomp.runtime), then what its step imports (see spurcomp.steps).
PREAMBLE = "import snakemake.script, spurcomp.steps, spurcomp.runtime, spurcomp.study"
JOB_IMPORTS = {
    "dataset": "import spurcomp.data.registry",
    "train": "import spurcomp.data.io, spurcomp.settings, spurcomp.train.engine",
    "evaluate": "import spurcomp.evaluate",
    "aggregate": "import spurcomp.aggregate",
    "figure (fig4)": "import spurcomp.figures._draw, spurcomp.figures.fig4",
    "figure (fig5, SciPy's Spearman)": "import spurcomp.figures._draw, spurcomp.figures.fig5, scipy.stats",
    "claims": "import spurcomp.claims, spurcomp.aggregate, scipy.stats",
}
HEAVY = ("torch", "torchvision", "captum", "scipy", "matplotlib")


def timed(command: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, cwd=REPO, check=True, capture_output=True)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    print("| what | seconds (median) |")
    print("|---|---|")
    for label, flags in DRY_RUNS.items():
        seconds = [timed([sys.executable, "-m", "snakemake", *flags]) for _ in range(args.repeats)]
        plan = subprocess.run([sys.executable, "-m", "snakemake", *flags], cwd=REPO, capture_output=True, text=True)
        jobs = re.search(r"^total\s+(\d+)", plan.stdout + plan.stderr, re.M)
        print(f"| {label} ({jobs.group(1) if jobs else '?'} jobs) | {statistics.median(seconds):.2f} |")
    print(f"| a bare `python -c pass` | {statistics.median(timed([sys.executable, '-c', 'pass']) for _ in range(args.repeats)):.2f} |")
    for kind, imports in JOB_IMPORTS.items():
        code = (f"{PREAMBLE}\n{imports}\nimport sys\n"
                f"sys.stderr.write(','.join(m for m in {HEAVY!r} if m in sys.modules))")
        seconds = [timed([sys.executable, "-c", code]) for _ in range(args.repeats)]
        heavy = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO).stderr
        print(f"| {kind} job start-up (imports {heavy.replace(',', ', ') or 'none of ' + ', '.join(HEAVY)}) | "
              f"{statistics.median(seconds):.2f} |")


if __name__ == "__main__":
    main()
