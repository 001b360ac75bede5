"""The table of `benchmarks/translate_ablation.sh`: validation loss (no label smoothing),
token accuracy and greedy BLEU of each run at the last steps all runs reached.

    python benchmarks/translate_ablation.py runs/ablation
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

RUNS = ["new", "old", "no-init", "no-feeding", "additive", "linear-bridge"]


def evaluations(run: Path) -> dict[int, dict]:
    rows = (json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines())
    return {r["step"]: r for r in rows if "valid_loss" in r}


def main() -> None:
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "runs/ablation")
    runs = {
        name: evaluations(out / name) for name in RUNS if (out / name / "metrics.jsonl").exists()
    }
    steps = sorted(set.intersection(*(set(r) for r in runs.values())))[-2:]
    head = " ".join(f"{'step ' + str(s):>26}" for s in steps)
    print(f"{'run':<14} {head}   (valid loss / accuracy / greedy BLEU)")
    for name, rows in runs.items():
        cells = " ".join(
            f"{rows[s]['valid_loss']:>10.3f} {rows[s]['valid_accuracy']:>7.3f} "
            f"{rows[s]['valid_bleu']:>7.1f}"
            for s in steps
        )
        last = max(rows)
        print(f"{name:<14} {cells}   ({last} steps in {rows[last]['seconds'] / 60:.1f} min)")


if __name__ == "__main__":
    main()
