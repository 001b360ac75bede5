"""Tiny recipes of every task and a launcher for tests/test_distributed.py.

The data are a few dozen lines and the models a few thousand weights, so a run of two
gloo processes (one thread each) takes a few seconds, most of it starting Python.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from .conftest import ROOT, TEXT

HOOKS = Path(__file__).resolve().parent / "ddp_hooks"
TASKS = ["generate", "classify", "forecast", "translate"]
POS = ["he ate the pie happily", "a great and happy film", "i loved it , wonderful", "so good"]
NEG = ["he ate the pie angrily", "a dull and sad film", "i hated it , awful", "so bad"]


def _data(task: str, tmp: Path) -> dict[str, Any]:
    if task == "generate":
        (tmp / "text.txt").write_text(TEXT, encoding="utf-8")
        return {"train": str(tmp / "text.txt"), "valid_fraction": 0.1, "tokenizer": "char"}
    if task == "classify":
        rows = [(t, "pos") for t in POS] * 5 + [(t, "neg") for t in NEG] * 5
        lines = "".join(f"{t}\t{label}\n" for t, label in rows)
        (tmp / "train.tsv").write_text("text\tlabel\n" + lines, encoding="utf-8")
        return {"train": str(tmp / "train.tsv"), "valid_fraction": 0.2}
    if task == "forecast":
        t = np.arange(72)
        y = 100 + t + 20 * np.sin(2 * np.pi * t / 12)
        months = [f"{2000 + i // 12}-{i % 12 + 1:02d}" for i in range(len(t))]
        rows = "".join(f"{m},{v:.3f}\n" for m, v in zip(months, y, strict=True))
        (tmp / "series.csv").write_text("Month,Value\n" + rows, encoding="utf-8")
        return {"train": str(tmp / "series.csv"), "horizon": 3, "lookback": 12}
    rng = random.Random(1)
    letters = "abcdefgh"
    pairs = []
    for _ in range(300):
        words = [rng.choice(letters) for _ in range(rng.randint(2, 6))]
        pairs.append(f"{' '.join(words)}\t{' '.join(reversed(words))}\n")
    (tmp / "pairs.tsv").write_text("".join(pairs), encoding="utf-8")
    return {
        "train": str(tmp / "pairs.tsv"),
        "valid_size": 20,
        "test_size": 0,
        "source": {"tokenizer": "word"},
        "target": {"tokenizer": "word"},
        "joint_vocab": True,
    }


MODELS: dict[str, dict[str, Any]] = {
    "generate": {
        "cell": "lstm",
        "embedding_dim": 8,
        "hidden_size": 16,
        "learn_initial_state": True,
    },
    "classify": {"embedding_dim": 8, "hidden_size": 8, "pooling": "max"},
    "forecast": {"hidden_size": 8, "num_layers": 1},
    "translate": {"cell": "gru", "embedding_dim": 8, "hidden_size": 16, "attention": "general"},
}


def recipe(task: str, tmp: Path, **training: Any) -> Path:
    """A tiny recipe of `task` in `tmp` (its data written beside it); dropout off."""
    tmp.mkdir(parents=True, exist_ok=True)
    spec = {
        "task": task,
        "data": _data(task, tmp),
        "model": {**MODELS[task], "dropout": 0.0},
        "training": {
            "max_steps": 12,
            "batch_size": 8,
            "seq_length": 16,
            "eval_every": 6,
            "checkpoint_every": 3,
            "lr": 1.0e-2,
            "device": "cpu",
            "threads": 1,
            **training,
        },
        "output": str(tmp / "run"),
    }
    path = tmp / "recipe.yaml"
    path.write_text(yaml.safe_dump(spec), encoding="utf-8")
    return path


def launch(*args: str, nproc: int = 2, **env: str) -> subprocess.CompletedProcess:
    """`rnn train ARGS --nproc N` (torch's launcher) with the test hooks on PYTHONPATH."""
    path = os.pathsep.join([str(ROOT), str(HOOKS), os.environ.get("PYTHONPATH", "")])
    full_env = {**os.environ, "PYTHONPATH": path, "RNNCLI_DEBUG": "", **env}
    return subprocess.run(
        [sys.executable, "-m", "rnncli", "train", *args, "--nproc", str(nproc), "-q"],
        capture_output=True,
        text=True,
        env=full_env,
        cwd=ROOT,
        timeout=240,
    )
