"""The task protocol is complete: a task from outside rnncli (tests/example_task) is one
folder plus one registry line, and trains, saves, loads, evaluates and describes itself
through the same API and CLI paths as the built-in tasks."""

from __future__ import annotations

import json
import random
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from rnncli import api
from rnncli.cli.main import run
from rnncli.tasks import registry


@pytest.fixture
def sum_task() -> Iterator[None]:
    registry.register("sum", "tests.example_task")  # the one registry line
    yield
    registry.REGISTRY.pop("sum")


def _digits(path: Path, lines: int, seed: int) -> Path:
    rng = random.Random(seed)
    path.write_text(
        "".join(" ".join(str(rng.randrange(10)) for _ in range(4)) + "\n" for _ in range(lines))
    )
    return path


def _recipe(tmp_path: Path, **training: object) -> Path:
    train = _digits(tmp_path / "train.txt", 256, 1)
    test = _digits(tmp_path / "test.txt", 64, 2)
    settings = {"epochs": 30, "batch_size": 32, "lr": 0.01, "rng_seed": 3, **training}
    recipe = {
        "task": "sum",
        "data": {"train": str(train), "test": str(test)},
        "model": {"cell": "gru", "hidden_size": 32},
        "training": settings,
        "output": str(tmp_path / "run"),
    }
    path = tmp_path / "sum.yaml"
    path.write_text(json.dumps(recipe))  # JSON is YAML
    return path


def _cli(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *argv: str):
    monkeypatch.setattr(sys, "argv", ["rnn", *argv])
    with pytest.raises(SystemExit) as exit_info:
        run()
        raise SystemExit(0)
    out, err = capsys.readouterr()
    return exit_info.value.code or 0, out, err


def test_an_outside_task_trains_and_is_used_through_the_cli(
    sum_task: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    code, out, err = _cli(monkeypatch, capsys, "train", str(_recipe(tmp_path)), "-q")
    assert code == 0, err
    run_dir = Path(out.strip())
    assert (run_dir / "best.safetensors").is_file()
    test_line = json.loads((run_dir / "metrics.jsonl").read_text().splitlines()[-1])
    assert test_line["split"] == "test"  # scored on data.test through test_source
    # learned: the sum of 4 digits has a standard deviation of 5.7; the model is far closer
    assert test_line["test_mae"] < 1.5, test_line

    code, out, err = _cli(
        monkeypatch,
        capsys,
        "evaluate",
        "-m",
        str(run_dir),
        str(tmp_path / "test.txt"),
        "--format",
        "json",
    )
    assert code == 0, err
    assert json.loads(out)["test_mae"] == pytest.approx(test_line["test_mae"], rel=1e-5)

    code, out, err = _cli(
        monkeypatch, capsys, "evaluate", "-m", str(run_dir), str(tmp_path / "test.txt")
    )
    assert code == 0 and "sum model on" in err and "test_mae" in err

    code, out, err = _cli(monkeypatch, capsys, "info", str(run_dir), "--format", "json")
    assert code == 0, err
    info = json.loads(out)
    assert info["task"] == "sum" and info["vocab_size"] == 10 and info["parameters"] > 0

    code, out, err = _cli(monkeypatch, capsys, "recipe", "schema")
    assert code == 0 and "SumRecipe" in out

    # exported through its own export_plan, and evaluated through the same code
    exported = tmp_path / "exported"
    code, out, err = _cli(monkeypatch, capsys, "export", str(run_dir), "-o", str(exported), "-q")
    assert code == 0 and out.strip() == str(exported), err
    code, out, err = _cli(
        monkeypatch,
        capsys,
        "evaluate",
        "-m",
        str(exported),
        str(tmp_path / "test.txt"),
        "--format",
        "json",
    )
    assert code == 0, err
    assert json.loads(out)["test_mae"] == pytest.approx(test_line["test_mae"], abs=1e-4)

    # a task's own options only: --references belongs to translation
    code, out, err = _cli(
        monkeypatch,
        capsys,
        "evaluate",
        "-m",
        str(run_dir),
        str(tmp_path / "test.txt"),
        "--references",
        "x",
    )
    assert code == 2 and err.startswith("error: --references is not an option of sum")


def test_an_outside_task_resumes_exactly(sum_task: None, tmp_path: Path) -> None:
    recipe = _recipe(tmp_path, epochs=4, checkpoint_every=3)
    whole = api.train(recipe, output=tmp_path / "whole")
    part = api.train(recipe, output=tmp_path / "part", overrides=["training.max_steps=10"])
    resumed = api.train(resume=part, overrides=["training.max_steps=32"])
    a, b = api.load(whole), api.load(resumed)
    assert a.task == b.task == "sum"
    for key, value in a.model.state_dict().items():
        assert (value == b.model.state_dict()[key]).all(), key


def test_an_unregistered_task_is_one_clear_error(tmp_path: Path) -> None:
    from rnncli.errors import RecipeError

    with pytest.raises(RecipeError, match=r"unknown task 'sum'.*choose one of generate"):
        api.train(_recipe(tmp_path))
