"""Print a run's validation curve (loss against minutes) as a Markdown table.

python benchmarks/curve.py runs/shakespeare [--every 2]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("run", type=Path)
    parser.add_argument("--every", type=int, default=1, help="Print every Nth evaluation.")
    args = parser.parse_args()
    rows = [json.loads(line) for line in (args.run / "metrics.jsonl").read_text().splitlines()]
    rows = [r for r in rows if "valid_loss" in r]
    print("| minutes | step | valid loss (nats/char) | bits/char |")
    print("|---:|---:|---:|---:|")
    for i, r in enumerate(rows):
        if i % args.every == 0 or i == len(rows) - 1:
            bpc = r.get("valid_bpc")
            print(
                f"| {r['seconds'] / 60:.1f} | {r['step']} | {r['valid_loss']:.4f} | {bpc:.3f} |"
                if bpc is not None
                else "| - |"
            )


if __name__ == "__main__":
    main()
