"""The wall time of each documented build command, one after the other, in a fresh clone: the per-figure times of
README, AE.md and the docs' results pages come from one run of this script. Each step is a ``snakemake`` command
whose jobs reuse what the steps before it made (Fig. 5 reuses Fig. 4's runs, Fig. 6 Fig. 4's learning-rate rows,
Fig. 8 Fig. 10's CIFAR runs), so a step's time is what it adds; the last step, ``snakemake`` with no target, makes
what is left of the default target (the results tables and the fidelity manifest) and the total is the whole
default build from nothing. The clone's own ``src/`` is imported, so the times are the checked-out revision's.

    python benchmarks/figure_times.py [--cores 2] [--workdir DIR] [--steps N]

It prints a Markdown table: step, command, exit status, wall time. A step that fails stops the run (its log is
named). Each step's Snakemake log is ``DIR/logs/figure_times/step-N.log``.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

# the documented order (AE.md's steps; README's rows): each figure after those whose runs it reuses
STEPS = (
    "figures/fig3.pdf",
    "figures/fig4.pdf",
    "figures/fig5.pdf figures/fig2.pdf figures/figS_pruning.pdf",
    "figures/fig3_moonstar.pdf",
    "figures/fig9.pdf",
    "figures/figS_optimizers.pdf",
    "figures/fig13.pdf",
    "figures/fig6.pdf",
    "figures/fig10.pdf",
    "figures/fig11.pdf",
    "figures/fig7.pdf",
    "figures/fig7_waterbirds.pdf",
    "figures/fig8.pdf",
    "figures/fig1.pdf",
    "figures/fig12.pdf figures/prop1.pdf claims",
    "",  # the rest of the default target
)


def minutes(seconds: float) -> str:
    whole = round(seconds)
    hours, rest = divmod(whole, 3600)
    return (f"{hours} h " if hours else "") + (f"{rest // 60} min " if whole >= 60 else "") + f"{rest % 60} s"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--workdir", type=Path, help="where the clone goes (default: a new temporary folder)")
    parser.add_argument("--steps", type=int, default=len(STEPS), help="run only the first N steps")
    args = parser.parse_args()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="spurcomp-figure-times-"))
    clone = workdir / "spurcomp"
    subprocess.run(["git", "clone", "-q", str(REPO), str(clone)], check=True)
    revision = subprocess.run(["git", "-C", str(clone), "log", "-1", "--format=%h %s"], capture_output=True,
                              text=True, check=True).stdout.strip()
    env = {**os.environ, "PYTHONPATH": str(clone / "src")}
    logs = clone / "logs" / "figure_times"
    logs.mkdir(parents=True)
    print(f"{revision}; `snakemake --cores {args.cores}` in {clone}\n")
    print("| step | command | exit status | wall time |\n|---|---|---|---|")
    total = 0.0
    for number, targets in enumerate(STEPS[:args.steps], 1):
        log = logs / f"step-{number}.log"
        command = [sys.executable, "-m", "snakemake", "--cores", str(args.cores), *targets.split()]
        started = time.perf_counter()
        with open(log, "w") as out:
            status = subprocess.run(command, cwd=clone, env=env, stdout=out, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL).returncode
        seconds = time.perf_counter() - started
        total += seconds
        shown = f"snakemake --cores {args.cores} {targets}".strip()
        print(f"| {number} | `{shown}` | {status} | {minutes(seconds)} |", flush=True)
        if status:
            sys.exit(f"step {number} failed: {log}")
    print(f"\nall {min(args.steps, len(STEPS))} steps: {minutes(total)}")


if __name__ == "__main__":
    main()
