"""Print a run's validation curve (its valid_* metrics against minutes) as a Markdown table.

python benchmarks/curve.py runs/shakespeare [--every 2]
python benchmarks/curve.py runs/eng-fra-attn runs/eng-fra-none   # side by side, by step
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def evaluations(run: Path) -> list[dict]:
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    return [r for r in rows if "valid_loss" in r and "split" not in r]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("runs", type=Path, nargs="+")
    parser.add_argument("--every", type=int, default=1, help="Print every Nth evaluation.")
    args = parser.parse_args()
    curves = [evaluations(run) for run in args.runs]
    keys = [k for k in curves[0][0] if k.startswith("valid_")]
    names = [run.name for run in args.runs]
    head = ["step"] + [
        f"{k} ({n})" if len(names) > 1 else k for n in names for k in ["minutes", *keys]
    ]
    print("| " + " | ".join(head) + " |")
    print("|" + "---:|" * len(head))
    n = min(len(c) for c in curves)
    for i in range(n):
        if i % args.every and i != n - 1:
            continue
        cells = [str(curves[0][i]["step"])]
        for curve in curves:
            row = curve[i]
            cells.append(f"{row['seconds'] / 60:.1f}")
            cells += [f"{row[k]:.4f}" if k in row else "-" for k in keys]
        print("| " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
