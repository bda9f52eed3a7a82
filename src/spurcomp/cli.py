"""``spurcomp``: the workflow's steps without Snakemake (same verbs, same functions as the rules)."""
from __future__ import annotations

import argparse
import sys

from spurcomp import steps
from spurcomp.config import ConfigError, load_config
from spurcomp.runtime import log_to
from spurcomp.study import RunKey, dataset_path, evaluation_path, figure_inputs, figure_path, study_runs, table_path


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="spurcomp", description=__doc__)
    parser.add_argument("--config", default="config/config.yaml", help="workflow config (default: %(default)s)")
    parser.add_argument("--log", default=None, help="append the log here instead of stderr")
    sub = parser.add_subparsers(dest="verb", required=True)

    p = sub.add_parser("dataset", help="build results/data/NAME.npz")
    p.add_argument("name")
    p.add_argument("--out")

    p = sub.add_parser("train", help="train one run (resumes from its saved state)")
    for arg in ("dataset", "model", "setting"):
        p.add_argument(f"--{arg}", required=True)
    p.add_argument("--seed", type=int, required=True)
    p.add_argument("--data", help="dataset file (default: results/data/DATASET.npz)")
    p.add_argument("--run-dir", help="output folder (default: results/runs/DATASET/MODEL/SETTING/seed=SEED)")
    p.add_argument("--threads", type=int, default=1)

    p = sub.add_parser("evaluate", help="evaluate one run (every family, or those named)")
    p.add_argument("families", nargs="*", choices=steps.EVALUATION_FAMILIES, metavar="FAMILY",
                   help=f"any of {list(steps.EVALUATION_FAMILIES)} (default: all)")
    for arg in ("dataset", "model", "setting"):
        p.add_argument(f"--{arg}", required=True)
    p.add_argument("--seed", type=int, required=True)
    p.add_argument("--threads", type=int, default=1)

    p = sub.add_parser("aggregate", help="a study's table")
    p.add_argument("study")

    p = sub.add_parser("figure", help="a figure: a study's own, or one of the `figures` section")
    p.add_argument("name")
    p.add_argument("--out", help="PDF path (default: figures/NAME.pdf)")

    sub.add_parser("claims", help="results/claims.csv and .md from the study tables that exist")

    p = sub.add_parser("runs", help="list a study's runs")
    p.add_argument("study")
    return parser


def main(argv=None) -> int:
    args = _parser().parse_args(argv)
    try:
        config = load_config(args.config)
    except ConfigError as err:
        print(f"spurcomp: {err}", file=sys.stderr)
        return 2
    with log_to(args.log):
        if args.verb == "dataset":
            steps.make_dataset(config, args.name, args.out or dataset_path(args.name))
        elif args.verb == "train":
            run = RunKey(args.dataset, args.model, args.setting, args.seed)
            steps.train(config, run, args.data or dataset_path(run.dataset), args.threads, args.run_dir)
        elif args.verb == "evaluate":
            run = RunKey(args.dataset, args.model, args.setting, args.seed)
            families = args.families or steps.EVALUATION_FAMILIES
            steps.evaluate(config, run, {f: evaluation_path(run, f) for f in families}, dataset_path(run.dataset),
                           threads=args.threads)
        elif args.verb == "aggregate":
            steps.aggregate(config, args.study, table_path(args.study))
        elif args.verb == "figure":
            out = str(args.out or figure_path(args.name))
            inputs = figure_inputs(config, args.name) if args.name in config["figures"] else [table_path(args.name)]
            steps.figure(config, args.name, inputs, out, out.removesuffix(".pdf") + ".csv")
        elif args.verb == "claims":
            steps.claims(config, "results/claims.csv", "results/claims.md")
        elif args.verb == "runs":
            for run in study_runs(config, args.study):
                print(run.directory)
    return 0


if __name__ == "__main__":
    sys.exit(main())
