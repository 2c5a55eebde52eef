"""Compare the progress of two run folders column by column (e.g. the same command before and after a change).

    python bench/compare_runs.py RUN_A RUN_B [RUN_A2 RUN_B2 ...] [--json FILE]

For each pair: the columns both ``progress.csv`` files have, except wall-clock ones (``time_total_s``,
``steps_per_s`` and ``*_time_s``), compared row by row; prints the largest absolute difference per pair, the
columns that differ, and the columns only one side has. Exit code 1 if any shared column differs.
"""

import argparse
import csv
import json
import math
import sys
from pathlib import Path

CLOCK = ("time_total_s", "steps_per_s")


def read(run: Path):
    with open(run / "progress.csv", newline="") as f:
        return list(csv.DictReader(f))


def compare(a: Path, b: Path) -> dict:
    rows_a, rows_b = read(a), read(b)
    cols_a, cols_b = set(rows_a[0]), set(rows_b[0])
    shared = sorted(c for c in cols_a & cols_b if c not in CLOCK and not c.endswith("_time_s"))
    diffs = {}
    for col in shared:
        worst = 0.0
        for ra, rb in zip(rows_a, rows_b):
            x, y = float(ra[col] or "nan"), float(rb[col] or "nan")
            if not (math.isnan(x) and math.isnan(y)):
                worst = max(worst, abs(x - y) if not (math.isnan(x) or math.isnan(y)) else math.inf)
        if worst:
            diffs[col] = worst
    return {"a": str(a), "b": str(b), "rows": [len(rows_a), len(rows_b)], "columns_compared": len(shared),
            "max_abs_diff": max(diffs.values(), default=0.0), "differing": diffs,
            "only_a": sorted(cols_a - cols_b), "only_b": sorted(cols_b - cols_a)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", help="pairs of run folders")
    parser.add_argument("--json", help="also write the comparison here")
    args = parser.parse_args()
    if len(args.runs) % 2:
        parser.error("give run folders in pairs")
    reports = [compare(Path(a), Path(b)) for a, b in zip(args.runs[::2], args.runs[1::2])]
    for r in reports:
        same = "identical" if not r["differing"] and r["rows"][0] == r["rows"][1] else f"max |diff| {r['max_abs_diff']:.3g}"
        print(f"{r['a']} vs {r['b']}: {r['rows'][0]}/{r['rows'][1]} rows, {r['columns_compared']} columns: {same}")
        for col, d in r["differing"].items():
            print(f"    {col}: {d:.3g}")
        for side in ("only_a", "only_b"):
            if r[side]:
                print(f"    {side}: {', '.join(r[side])}")
    if args.json:
        Path(args.json).write_text(json.dumps(reports, indent=2) + "\n")
    return int(any(r["differing"] or r["rows"][0] != r["rows"][1] for r in reports))


if __name__ == "__main__":
    sys.exit(main())
