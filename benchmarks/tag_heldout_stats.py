"""Summarise held-out tagger runs (benchmarks/tag_heldout.sh): best F1, the mean of the
last evaluations, epochs; then the mean of each group of runs named GROUP-SEED.

    python benchmarks/tag_heldout_stats.py RUN_DIR... [--last 10]
"""

from __future__ import annotations

import argparse
import json
import statistics
from collections import defaultdict
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("runs", type=Path, nargs="+")
    parser.add_argument("--last", type=int, default=10, help="evaluations averaged at the end")
    args = parser.parse_args()
    groups: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for run in args.runs:
        path = run / "metrics.jsonl"
        rows = [json.loads(x) for x in path.read_text().splitlines()] if path.exists() else []
        f1 = [(r["epoch"], r["valid_f1"]) for r in rows if "valid_f1" in r]
        if not f1:
            print(f"{run.name}: no evaluations")
            continue
        best_epoch, best = max(f1, key=lambda x: x[1])
        last = statistics.mean(f for _, f in f1[-args.last :])
        print(
            f"{run.name:<16} best {best:.4f} (epoch {best_epoch:>2})   mean of last"
            f" {min(args.last, len(f1))} {last:.4f}   epochs {f1[-1][0]}"
        )
        groups[run.name.rsplit("-", 1)[0]].append((best, last))
    for group, scores in sorted(groups.items()):
        if len(scores) > 1:
            best = [b for b, _ in scores]
            last = [x for _, x in scores]
            print(
                f"{group:<16} {len(scores)} runs: best {statistics.mean(best):.4f}"
                f" (sd {statistics.stdev(best):.4f})   last {statistics.mean(last):.4f}"
                f" (sd {statistics.stdev(last):.4f})"
            )


if __name__ == "__main__":
    main()
