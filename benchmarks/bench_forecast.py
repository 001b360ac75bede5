"""Forecast training speed against a hand-written PyTorch loop, and `rnn forecast` wall time.

    python benchmarks/bench_forecast.py [--threads 2] [--steps 200] [--rounds 5]

Training: recipes/sunspots.yaml (GRU 64 over 132 months, direct 12-step head, batch 64)
through rnncli's Trainer, against a minimal loop of the same model (nn.GRU + Linear,
window level subtracted and added back, Adam, gradient clipping) on pre-built window
tensors, in interleaved paired rounds; windows/s and the median ratio.
Wall time: `rnn forecast sample_data/airline-passengers.csv --horizon 12` without a
model (fits the built-in recipe, then forecasts), three runs, in a fresh process each.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from rnncli.config import load_recipe
from rnncli.tasks.forecast import task as fc
from rnncli.training.trainer import Trainer

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
from clock import StepClock  # noqa: E402

RECIPE = ROOT / "recipes" / "sunspots.yaml"


def rnncli_training(steps: int, tmp: Path) -> float:
    recipe = load_recipe(
        RECIPE,
        [
            f"training.max_steps={steps}",
            "training.epochs=1000",
            "training.eval_every=100000",
            "training.checkpoint_every=100000",
            "training.patience=null",
            "training.device=cpu",
        ],
    )
    plan = fc.prepare(recipe, tmp, None)  # type: ignore[arg-type]
    clock = StepClock()
    meta = {"task": "forecast", "recipe": recipe.model_dump(mode="json")}
    Trainer(plan, recipe.training, tmp, meta, [clock]).fit()
    return clock.rate()


class HandForecaster(nn.Module):
    def __init__(self, hidden: int, horizon: int, dropout: float) -> None:
        super().__init__()
        self.rnn = nn.GRU(1, hidden, batch_first=True)
        self.drop = nn.Dropout(dropout)
        self.head = nn.Linear(hidden, horizon)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        level = x.mean(1, keepdim=True)
        out, _ = self.rnn(x - level)
        return self.head(self.drop(out[:, -1])) + level[..., 0]


def hand_training(steps: int) -> float:
    recipe = load_recipe(RECIPE)
    d, m, t = recipe.data, recipe.model, recipe.training  # type: ignore[attr-defined]
    values = np.loadtxt(ROOT / d.train, delimiter=",", skiprows=1, usecols=1)
    train = values[: len(values) - d.valid_size - d.test_size]
    y = torch.tensor((values - train.mean()) / train.std(), dtype=torch.float32)
    lb, h = d.lookback, d.horizon
    starts = torch.arange(0, len(train) - lb - h + 1)
    x_all = y[starts[:, None] + torch.arange(lb)][..., None]
    y_all = y[starts[:, None] + lb + torch.arange(h)]
    torch.manual_seed(0)
    model = HandForecaster(m.hidden_size, h, m.dropout)
    opt = torch.optim.Adam(model.parameters(), lr=t.lr)
    marks = []
    g = torch.Generator().manual_seed(0)
    perm = torch.randperm(len(starts), generator=g)
    for step in range(steps):
        b = (step * t.batch_size) % (len(starts) - t.batch_size)
        idx = perm[b : b + t.batch_size]
        loss = nn.functional.l1_loss(model(x_all[idx]), y_all[idx])
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), t.clip_grad_norm)
        opt.step()
        if (step + 1) % 10 == 0:
            float(loss.detach())
            marks.append((time.perf_counter(), (step + 1) * len(idx)))
    (t0, u0), (t1, u1) = marks[0], marks[-1]
    return (u1 - u0) / (t1 - t0)


def forecast_wall(threads: int) -> float:
    start = time.perf_counter()
    subprocess.run(
        [
            sys.executable,
            "-m",
            "rnncli",
            "forecast",
            str(ROOT / "sample_data" / "airline-passengers.csv"),
            "--horizon",
            "12",
            "--threads",
            str(threads),
            "--quiet",
        ],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {args.threads} threads, recipe {RECIPE.name}")
    ours, hand = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.rounds):  # interleaved and paired, so drift hits both alike
            ours.append(rnncli_training(args.steps, Path(tmp) / f"r{i}"))
            hand.append(hand_training(args.steps))
    o, h = statistics.median(ours), statistics.median(hand)
    ratios = [a / b for a, b in zip(ours, hand, strict=True)]
    print(
        f"training   rnncli {o:8,.0f} windows/s   hand-written {h:8,.0f} windows/s   "
        f"ratio {statistics.median(ratios):.3f}   (median of {args.rounds} paired rounds of "
        f"{args.steps} steps; per-round {', '.join(f'{r:.2f}' for r in ratios)})"
    )
    walls = [forecast_wall(args.threads) for _ in range(3)]
    print(
        f"rnn forecast airline-passengers.csv --horizon 12 (no model: fit + forecast): "
        f"{', '.join(f'{w:.1f}' for w in walls)} s wall (goal < 60 s)"
    )


if __name__ == "__main__":
    main()
