"""The largest change per metric between two builds' study tables (``results/tables/STUDY.parquet``): what a
change of the evaluation (or of anything else) did to every number the figures and claims are made from. Rows are
matched by study, run (setting, seed) and the metric's keys (κ, epoch, step, feature, group); training time, which
is never the same twice, is left out.

    python benchmarks/compare_tables.py OLD_TABLES_DIR NEW_TABLES_DIR
"""
from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

KEYS = ["setting", "seed", "metric", "kappa", "epoch", "step", "feature", "group"]


def changes(old_dir: Path, new_dir: Path) -> pd.DataFrame:
    rows = []
    for old_path in sorted(old_dir.glob("*.parquet")):
        new_path = new_dir / old_path.name
        if not new_path.exists():
            continue
        old, new = (pd.read_parquet(p, columns=KEYS + ["status", "value"]) for p in (old_path, new_path))
        joined = old.merge(new, on=KEYS, how="outer", suffixes=("_old", "_new"), indicator=True)
        both = joined[joined["_merge"] == "both"]
        delta = (both.value_new - both.value_old).abs()
        same_nan = both.value_new.isna() & both.value_old.isna()
        for metric, part in both.assign(delta=delta.where(~same_nan, 0.0)).groupby("metric"):
            rows.append({"study": old_path.stem, "metric": metric, "rows": len(part),
                         "largest_change": part["delta"].max(skipna=False),
                         "status_changes": int((part.status_old != part.status_new).sum())})
        unmatched = joined[joined["_merge"] != "both"]
        if len(unmatched):
            rows.append({"study": old_path.stem, "metric": "(rows in one build only)", "rows": len(unmatched),
                         "largest_change": float("nan"), "status_changes": 0})
    return pd.DataFrame(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("old", type=Path)
    parser.add_argument("new", type=Path)
    args = parser.parse_args()
    table = changes(args.old, args.new)
    print("| metric | studies | rows | largest change | rows whose run status changed |\n|---|---|---|---|---|")
    for metric, part in table.groupby("metric"):
        print(f"| {metric} | {part.study.nunique()} | {int(part.rows.sum())} | {part.largest_change.max():.3g} | "
              f"{int(part.status_changes.sum())} |")


if __name__ == "__main__":
    main()
