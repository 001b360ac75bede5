"""Compare language-model variants on tiny-shakespeare at an equal wall-clock budget.

    python benchmarks/lm_sweep.py --minutes 4 --out runs/sweep > docs/lm_sweep.jsonl

Each variant is recipes/shakespeare.yaml plus overrides; every evaluation is printed
as one JSON line (variant, minutes, step, valid_loss), so curves can be drawn and
compared. Run nothing else on the machine meanwhile: the budget is wall-clock.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from rnncli import api
from rnncli.training.trainer import TrainerState

VARIANTS = {
    "lstm256": ["model.cell=lstm", "model.hidden_size=256"],
    "gru256": ["model.cell=gru", "model.hidden_size=256"],
    "lstm256-b32t64": ["model.cell=lstm", "training.batch_size=32", "training.seq_length=64"],
    "gru256-b32t64": ["model.cell=gru", "training.batch_size=32", "training.seq_length=64"],
    "lstm512-b32t64": [
        "model.cell=lstm",
        "model.hidden_size=512",
        "training.batch_size=32",
        "training.seq_length=64",
    ],
    "lstm256-b16t64": ["model.cell=lstm", "training.batch_size=16", "training.seq_length=64"],
    "lstm384-b32t64": [
        "model.cell=lstm",
        "model.hidden_size=384",
        "training.batch_size=32",
        "training.seq_length=64",
    ],
}


class Curve:
    def __init__(self, name: str) -> None:
        self.name = name

    def on_start(self, state: TrainerState, total_steps: int) -> None: ...
    def on_log(self, state: TrainerState, loss: float, lr: float, rate: float) -> None: ...
    def on_end(self, state: TrainerState) -> None: ...

    def on_eval(self, state: TrainerState, metrics: dict[str, float]) -> None:
        row = {
            "variant": self.name,
            "minutes": round(state.seconds / 60, 3),
            "step": state.step,
            "valid_loss": round(metrics["valid_loss"], 4),
        }
        print(json.dumps(row), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--recipe", default="recipes/shakespeare.yaml")
    parser.add_argument("--minutes", type=float, default=4.0)
    parser.add_argument("--eval-every", type=int, default=50)
    parser.add_argument("--out", default="runs/sweep")
    parser.add_argument("--only", nargs="*", default=list(VARIANTS))
    parser.add_argument("--set", action="append", default=[], dest="overrides")
    args = parser.parse_args()
    for name in args.only:
        overrides = VARIANTS[name] + [
            f"training.max_minutes={args.minutes}",
            f"training.eval_every={args.eval_every}",
            "training.schedule=constant",
            "training.max_steps=null",
            "training.epochs=1000",
            "training.threads=2",
            *args.overrides,
        ]
        run = api.train(
            args.recipe, overrides, output=Path(args.out) / name, callbacks=[Curve(name)]
        )
        print(f"{name}: {run}", file=sys.stderr)


if __name__ == "__main__":
    main()
