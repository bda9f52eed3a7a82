"""Where a finished build's time went, per rule family, from Snakemake's own benchmark files (``logs/**/*.benchmark.tsv``,
one per job): jobs, wall seconds, CPU seconds, CPU / wall, and peak memory. Evaluation against training is the
ratio the build time depends on most.

CPU seconds are what each job logged at its end (``spurcomp.jobs.CPU_LINE`` in the job's log beside its benchmark
file: its process's and finished child processes' user and system time). Snakemake's own ``cpu_time`` samples the
job's processes every few seconds and misses what ran after the last sample, most of a short job; it is used, and
the row marked, only for jobs whose log has no such line (made by an older version).

``--until FILE`` counts only the jobs that had finished when FILE was written (a job's benchmark file is its
last write): ``--until figures/fig4.pdf`` profiles the part of a build that made Fig. 4; ``--since FILE``, only
those that finished after it (``--since figures/fig3.pdf --until figures/fig4.pdf``: the Fig. 4 step of
``benchmarks/figure_times.py``, which makes Fig. 3 first). ``--by run-folder``
sums the train and evaluate jobs per dataset and model instead (``logs/runs/DATASET/MODEL``): which studies'
runs the time went to.

    python benchmarks/build_profile.py [--logs logs] [--since FILE] [--until FILE] [--by family|run-folder]
"""
from __future__ import annotations

import argparse
import re
from pathlib import Path

import pandas as pd

from spurcomp.jobs import CPU_LINE

# a benchmark file's place names its rule family (workflow/rules/*.smk)
FAMILIES = (("data/", "dataset"), ("summaries/", "dataset summary"),
            ("segmenters/", "segmenter"), ("masks/", "background masks"), ("tables/", "table"),
            ("figures/", "figure"), ("claims", "claims"), ("fidelity", "fidelity"))


def family(path: Path, logs: Path) -> str:
    relative = str(path.relative_to(logs))
    if relative.startswith("runs/"):  # a train or evaluate job's: runs/DATASET/MODEL/SETTING/seeds=0_1.STEP.benchmark.tsv
        return path.name.split(".")[-3]
    if relative.startswith("tables/"):
        return "results table" if relative.endswith(".table.benchmark.tsv") else "aggregate"
    return next((name for prefix, name in FAMILIES if relative.startswith(prefix)), "other")


def logged_cpu_seconds(benchmark: Path) -> float | None:
    """The CPU seconds the job logged at its end (the last run's, where a rerun appended), or None."""
    log = benchmark.with_name(benchmark.name.removesuffix(".benchmark.tsv") + ".log")
    if not log.is_file():
        return None
    found = re.findall(rf"{CPU_LINE}: ([0-9.]+)", log.read_text(errors="replace"))
    return float(found[-1]) if found else None


def run_folder(path: Path, logs: Path) -> str | None:
    """DATASET/MODEL of a train or evaluate job's benchmark file (None for other jobs)."""
    parts = path.relative_to(logs).parts
    return "/".join(parts[1:3]) if parts[0] == "runs" and len(parts) > 3 else None


def profile(logs: Path, until: float | None = None, by: str = "family", since: float | None = None) -> pd.DataFrame:
    rows = []
    for path in sorted(logs.rglob("*.benchmark.tsv")):
        finished = path.stat().st_mtime
        if (until is not None and finished > until) or (since is not None and finished <= since):
            continue
        group = family(path, logs) if by == "family" else run_folder(path, logs)
        if group is None:
            continue
        last = pd.read_csv(path, sep="\t").iloc[-1]  # a rerun job appends: its last line is the latest
        logged = logged_cpu_seconds(path)
        rows.append({"family": group, "wall_s": float(last["s"]),
                     "cpu_s": float(last["cpu_time"]) if logged is None else logged, "sampled": logged is None,
                     "max_rss_mb": float(last["max_rss"])})
    frame = pd.DataFrame(rows)
    table = frame.groupby("family").agg(jobs=("wall_s", "size"), wall_s=("wall_s", "sum"), cpu_s=("cpu_s", "sum"),
                                        sampled=("sampled", "sum"), max_rss_mb=("max_rss_mb", "max"))
    table["cpu_per_wall"] = table.cpu_s / table.wall_s
    return table.sort_values("cpu_s", ascending=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--logs", default="logs", help="the workflow's logs folder (default: %(default)s)")
    parser.add_argument("--until", type=Path, help="only the jobs finished when this file was written")
    parser.add_argument("--since", type=Path, help="only the jobs finished after this file was written")
    parser.add_argument("--by", choices=("family", "run-folder"), default="family",
                        help="rows: rule families, or the train and evaluate jobs per dataset/model")
    args = parser.parse_args()
    table = profile(Path(args.logs), args.until.stat().st_mtime if args.until else None, args.by,
                    args.since.stat().st_mtime if args.since else None)
    print(f"| {'rule family' if args.by == 'family' else 'dataset/model'} | jobs | wall s (sum over jobs) | CPU s | CPU / wall | peak memory MB |")
    print("|---|---|---|---|---|---|")
    for name, row in table.iterrows():
        sampled = f" ({int(row.sampled)} sampled by Snakemake)" if row.sampled else ""
        print(f"| {name} | {int(row.jobs)} | {row.wall_s:,.0f} | {row.cpu_s:,.0f}{sampled} | {row.cpu_per_wall:.2f} | "
              f"{row.max_rss_mb:,.0f} |")
    total = table.sum(numeric_only=True)
    print(f"| all | {int(total.jobs)} | {total.wall_s:,.0f} | {total.cpu_s:,.0f} | "
          f"{total.cpu_s / total.wall_s:.2f} | |")
    if args.by == "family" and {"train", "evaluate"} <= set(table.index):
        print(f"\nevaluation / training CPU time: {table.cpu_s['evaluate'] / table.cpu_s['train']:.2f}")


if __name__ == "__main__":
    main()
