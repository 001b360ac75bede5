"""Shared fixtures: tiny text, tiny recipes, a tiny trained run (trained once per session)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
TEXT = (
    "First Citizen:\nBefore we proceed any further, hear me speak.\n\n"
    "All:\nSpeak, speak.\n\nFirst Citizen:\nYou are all resolved rather to die than to famish?\n\n"
) * 40


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--threads",
        type=int,
        default=1,
        help="torch CPU threads for in-process tests (make test reruns the `threads` subset "
        "with 2, so a batch- or thread-dependent float assumption fails on any machine)",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "threads: compares floats across batch shapes or thread counts; rerun by "
        "make test with --threads 2",
    )
    torch.set_num_threads(config.getoption("--threads"))


def write_recipe(tmp: Path, text_path: Path, **sections: dict) -> Path:
    import yaml

    recipe = {
        "task": "generate",
        "data": {"train": str(text_path), "valid_fraction": 0.1, "tokenizer": "char"},
        "model": {"cell": "lstm", "embedding_dim": 8, "hidden_size": 16, "num_layers": 1},
        "training": {
            "max_steps": 12,
            "batch_size": 4,
            "seq_length": 16,
            "eval_every": 6,
            "checkpoint_every": 3,
            "device": "cpu",
            "threads": 1,
        },
        "output": str(tmp / "run"),
    }
    for name, values in sections.items():
        if isinstance(values, dict):
            recipe.setdefault(name, {}).update(values)
        else:
            recipe[name] = values
    path = tmp / "recipe.yaml"
    path.write_text(yaml.safe_dump(recipe), encoding="utf-8")
    return path


@pytest.fixture()
def text_file(tmp_path: Path) -> Path:
    path = tmp_path / "text.txt"
    path.write_text(TEXT, encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from rnncli import api

    tmp = tmp_path_factory.mktemp("trained")
    text = tmp / "text.txt"
    text.write_text(TEXT, encoding="utf-8")
    recipe = write_recipe(tmp, text, training={"max_steps": 30})
    return api.train(recipe)


def rnn(
    *args: str, stdin: str | None = None, env: dict | None = None, check: bool = False
) -> subprocess.CompletedProcess:
    """Run the real `rnn` command in a subprocess (stdout and stderr kept apart)."""
    full_env = {**os.environ, "RNNCLI_DEBUG": "", **(env or {})}
    proc = subprocess.run(
        [sys.executable, "-m", "rnncli", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=full_env,
        cwd=ROOT,
        timeout=300,
    )
    if check and proc.returncode != 0:
        raise AssertionError(proc.stderr)
    return proc
