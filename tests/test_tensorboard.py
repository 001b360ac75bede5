"""`training.tensorboard` / `rnn train --tensorboard`: the run's curves as TensorBoard
scalars, read back with tensorboard's own event reader."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

from rnncli import api
from rnncli.errors import UsageError
from rnncli.training.checkpoint import load_checkpoint

from .conftest import rnn, write_recipe

pytest.importorskip("tensorboard")
from tensorboard.backend.event_processing.event_accumulator import (
    EventAccumulator,
)


def _scalars(run: Path) -> dict[str, list[tuple[int, float]]]:
    events = EventAccumulator(str(run / "tensorboard"))
    events.Reload()
    return {
        tag: [(e.step, e.value) for e in events.Scalars(tag)] for tag in events.Tags()["scalars"]
    }


def test_the_cli_flag_writes_every_curve(text_file: Path, tmp_path: Path) -> None:
    recipe = write_recipe(tmp_path, text_file, training={"max_steps": 20, "eval_every": 10})
    proc = rnn("train", str(recipe), "-q", "--tensorboard", check=True)
    run = Path(proc.stdout.strip())
    scalars = _scalars(run)
    for tag in ("train/loss", "train/lr", "train/grad_norm", "train/tok_per_second"):
        assert [step for step, _ in scalars[tag]] == [10, 20], tag
    for tag in ("valid/loss", "valid/ppl", "valid/bpc", "train/loss_since_eval"):
        assert [step for step, _ in scalars[tag]] == [10, 20], tag
    lines = (run / "metrics.jsonl").read_text().splitlines()
    last = __import__("json").loads(lines[-1])
    assert scalars["valid/loss"][-1][1] == pytest.approx(last["valid_loss"], rel=1e-6)
    assert all(v > 0 for _, v in scalars["train/grad_norm"])


def test_a_resumed_run_does_not_repeat_steps(text_file: Path, tmp_path: Path) -> None:
    training = {"max_steps": 20, "eval_every": 10, "checkpoint_every": 10, "tensorboard": True}
    recipe = write_recipe(tmp_path, text_file, training=training)
    run = api.train(recipe, overrides=["training.max_steps=10"])
    api.train(resume=run, overrides=["training.max_steps=20"])
    scalars = _scalars(run)
    assert [step for step, _ in scalars["train/loss"]] == [10, 20]
    assert [step for step, _ in scalars["valid/loss"]] == [10, 20]
    # the board only watches: weights equal those of a run without it
    plain = api.train(recipe, overrides=["training.tensorboard=false"], output=tmp_path / "p")
    a, b = load_checkpoint(run / "last.safetensors"), load_checkpoint(plain / "last.safetensors")
    assert all(torch.equal(a.model[k], b.model[k]) for k in a.model)


def test_a_missing_package_is_one_line_before_any_work(
    text_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "tensorboard", None)  # import tensorboard -> ImportError
    recipe = write_recipe(tmp_path, text_file, training={"tensorboard": True})
    with pytest.raises(UsageError, match=r"pip install 'rnncli\[tensorboard\]'"):
        api.train(recipe)
    assert not (tmp_path / "run").exists()  # refused before the run directory was made?
