from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch

from rnncli import api
from rnncli.config import TrainingSection, load_recipe
from rnncli.errors import TrainingError
from rnncli.tasks.generate import task as lm
from rnncli.training.checkpoint import load_checkpoint
from rnncli.training.schedules import Plateau, lr_at
from rnncli.training.trainer import Trainer, TrainPlan

from .conftest import write_recipe


def _weights(run: Path) -> dict[str, torch.Tensor]:
    return load_checkpoint(run / "last.safetensors").model


def test_overfit_one_batch(text_file: Path, tmp_path: Path) -> None:
    """The language model drives the loss on one repeated batch far below its start."""
    recipe = load_recipe(
        write_recipe(tmp_path, text_file, model={"hidden_size": 64, "embedding_dim": 16})
    )
    plan = lm.prepare(recipe, tmp_path, None)
    batch = next(iter(plan.batches(0, 0)))
    losses: list[float] = []

    def one_batch(epoch: int, start: int):
        return iter([batch] * (200 - start))

    def loss(model, b, carry):
        value, n, _ = lm_loss(model, b, None)
        losses.append(float(value.detach()))
        return value, n, None

    lm_loss = plan.loss
    plan = TrainPlan(plan.model, one_batch, lambda e: 200, loss, plan.evaluate, plan.meta)
    cfg = TrainingSection(epochs=1, lr=1e-2, eval_every=1000, checkpoint_every=1000, device="cpu")
    Trainer(plan, cfg, tmp_path, {"task": "generate", "recipe": recipe.model_dump()}).fit()
    assert losses[-1] < 0.1 * losses[0]


class _CrashAt:
    def __init__(self, step: int) -> None:
        self.step = step

    def on_start(self, state, total): ...
    def on_log(self, state, loss, lr, rate): ...
    def on_end(self, state): ...

    def on_eval(self, state, metrics):
        if state.step >= self.step:
            raise RuntimeError("simulated crash")


def test_resume_ends_with_identical_weights(text_file: Path, tmp_path: Path) -> None:
    recipe = write_recipe(
        tmp_path,
        text_file,
        model={"dropout": 0.3, "num_layers": 2},
        training={"max_steps": 14, "schedule": "cosine", "warmup_steps": 3},
    )
    full = api.train(recipe, output=tmp_path / "full")
    with pytest.raises(RuntimeError, match="simulated"):
        api.train(recipe, output=tmp_path / "crashed", callbacks=[_CrashAt(6)])
    assert load_checkpoint(tmp_path / "crashed" / "last.safetensors").meta["training"]["steps"] == 3
    api.train(resume=tmp_path / "crashed")
    a, b = _weights(full), _weights(tmp_path / "crashed")
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key

    def evals(run: Path) -> list[dict]:
        rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
        return [{k: v for k, v in row.items() if k != "seconds"} for row in rows]

    assert evals(tmp_path / "crashed") == evals(full)  # no eval lost or written twice


def test_resume_can_extend_training(trained_run: Path, tmp_path: Path) -> None:
    import shutil

    run = tmp_path / "run"
    shutil.copytree(trained_run, run)
    api.train(resume=run, overrides=["training.max_steps=36"])
    assert load_checkpoint(run / "last.safetensors").meta["training"]["steps"] == 36


def test_non_finite_loss_stops_and_keeps_last_good_checkpoint(
    text_file: Path, tmp_path: Path
) -> None:
    recipe = load_recipe(write_recipe(tmp_path, text_file))
    plan = lm.prepare(recipe, tmp_path, None)
    calls = {"n": 0}
    base_loss = plan.loss

    def loss(model, batch, carry):
        calls["n"] += 1
        value, n, state = base_loss(model, batch, carry)
        return (value * math.nan if calls["n"] > 7 else value), n, state

    plan.loss = loss
    cfg = recipe.training.model_copy(update={"eval_every": 5, "checkpoint_every": 5})
    with pytest.raises(TrainingError, match="loss became nan at step 10"):
        Trainer(plan, cfg, tmp_path, {"task": "generate", "recipe": recipe.model_dump()}).fit()
    good = load_checkpoint(tmp_path / "last.safetensors")
    assert good.meta["training"]["steps"] == 5
    assert all(torch.isfinite(t).all() for t in good.model.values())


def test_early_stopping_and_max_steps(text_file: Path, tmp_path: Path) -> None:
    recipe = write_recipe(
        tmp_path,
        text_file,
        training={
            "max_steps": 400,
            "lr": 1.0,
            "optimizer": "sgd",
            "eval_every": 2,
            "patience": 2,
            "clip_grad_norm": None,
        },
    )
    run = api.train(recipe)
    meta = load_checkpoint(run / "last.safetensors").meta
    assert meta["training"]["stop_reason"] in ("early_stopping", "max_steps")
    assert meta["training"]["steps"] <= 400


def test_test_file_is_scored_after_training(text_file: Path, tmp_path: Path) -> None:
    recipe = write_recipe(
        tmp_path, text_file, data={"test": str(text_file)}, training={"max_steps": 4}
    )
    run = api.train(recipe)
    last = json.loads((run / "metrics.jsonl").read_text().splitlines()[-1])
    assert last["split"] == "test" and last["step"] == 4 and last["test_loss"] > 0


class _Clock:
    """A stand-in for the trainer's `time`: seconds pass only when the test says."""

    def __init__(self) -> None:
        self.now = 100.0

    def monotonic(self) -> float:
        return self.now


def _budget_run(text_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, stop_at: int):
    """An LM trained under a 30-second budget on a fake clock: 1 s per update, 4 s per
    evaluation; `stop_at` > 0 crashes it at that evaluation."""
    from rnncli.training import trainer as trainer_module

    tmp_path.mkdir(exist_ok=True)
    clock = _Clock()
    monkeypatch.setattr(trainer_module, "time", clock)
    training = {"max_steps": None, "epochs": 1000, "max_minutes": 0.5, "schedule": "cosine"}
    training |= {"horizon": "budget", "min_lr_ratio": 0.1, "eval_every": 4}
    recipe = load_recipe(write_recipe(tmp_path, text_file, training=training))
    plan = lm.prepare(recipe, tmp_path, None)
    base_loss, base_eval = plan.loss, plan.evaluate

    def loss(model, batch, carry):
        clock.now += 1.0
        return base_loss(model, batch, carry)

    def evaluate(model):
        clock.now += 4.0
        return base_eval(model)

    plan.loss, plan.evaluate = loss, evaluate
    meta = {"task": "generate", "recipe": recipe.model_dump()}
    trainer = Trainer(plan, recipe.training, tmp_path, meta, [_CrashAt(stop_at)] if stop_at else [])
    return trainer, tmp_path


def test_cosine_fitted_to_the_budget(
    text_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """horizon: budget: at the first evaluation (step 4, 8 s: 2 s a step) the cosine's end
    is fixed at step 15, where 30 s would run out; the run anneals to it and stops there,
    before the clock would (27 s), and a crashed run resumes to the same weights."""
    trainer, run = _budget_run(text_file, tmp_path / "full", monkeypatch, 0)
    state = trainer.fit()
    assert (state.horizon, state.step, state.stop_reason) == (15, 15, "max_minutes")
    assert state.seconds == 27.0
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [4, 8, 12, 15]
    assert rows[-1]["lr"] == pytest.approx(lr_at(14, 2e-3, "cosine", 15, min_lr_ratio=0.1))
    assert rows[-1]["lr"] < 0.11 * 2e-3
    assert load_checkpoint(run / "last.safetensors").meta["trainer"]["state"]["horizon"] == 15

    crashed, crashed_run = _budget_run(text_file, tmp_path / "crashed", monkeypatch, 8)
    with pytest.raises(RuntimeError, match="simulated"):
        crashed.fit()
    resumed, _ = _budget_run(text_file, tmp_path / "crashed", monkeypatch, 0)
    resumed.restore(load_checkpoint(crashed_run / "last.safetensors", with_train=True))
    assert resumed.state.horizon == 15 and resumed.state.step == 6  # saved every 3 steps
    assert resumed.fit().step == 15
    a, b = _weights(run), _weights(crashed_run)
    for key in a:
        assert torch.equal(a[key], b[key]), key


def test_weight_average_is_evaluated_saved_and_resumed(text_file: Path, tmp_path: Path) -> None:
    """ema_decay: evaluation and best.safetensors see the moving average of the weights,
    last.safetensors the raw ones (and the average, so a crashed run resumes exactly)."""
    training = {"max_steps": 14, "ema_decay": 0.9, "checkpoint_every": 3, "eval_every": 14}
    recipe = write_recipe(tmp_path, text_file, training=training)
    seen: list[dict[str, torch.Tensor]] = []
    full, loaded = tmp_path / "full", load_recipe(recipe)
    plan = lm.prepare(loaded, full, None)
    base_loss, base_eval = plan.loss, plan.evaluate

    def loss(model, batch, carry):  # the weights each update starts from
        seen.append({k: v.detach().clone() for k, v in model.named_parameters()})
        return base_loss(model, batch, carry)

    def evaluate(model):
        seen.append({k: v.detach().clone() for k, v in model.named_parameters()})
        return base_eval(model)

    plan.loss, plan.evaluate = loss, evaluate
    meta = {"task": "generate", "recipe": loaded.model_dump()}
    trainer = Trainer(plan, loaded.training, full, meta)
    trainer.fit()
    after = {k: v.detach().clone() for k, v in trainer.model.named_parameters()}
    expected = dict(seen[0])
    for step, weights in enumerate([*seen[1:14], after]):
        decay = min(0.9, (1 + step) / (10 + step))
        for key, value in weights.items():
            expected[key] = decay * expected[key] + (1 - decay) * value
    best, last = load_checkpoint(full / "best.safetensors"), _weights(full)
    for key, value in expected.items():
        torch.testing.assert_close(seen[14][key], value)  # evaluated: the average
        torch.testing.assert_close(best.model[key], value)
        assert torch.equal(last[key], after[key])  # raw weights go on training
    assert not torch.equal(best.model["head.weight"], last["head.weight"])

    with pytest.raises(RuntimeError, match="simulated"):
        api.train(recipe, output=tmp_path / "crashed", callbacks=[_CrashAt(7)])
    api.train(resume=tmp_path / "crashed")
    again = api.train(recipe, output=tmp_path / "again")
    for name in ("best.safetensors", "last.safetensors"):
        a = load_checkpoint(again / name).model
        b = load_checkpoint(tmp_path / "crashed" / name).model
        for key in a:
            assert torch.equal(a[key], b[key]), (name, key)


def test_budget_horizon_needs_cosine_and_a_budget() -> None:
    from pydantic import ValidationError

    TrainingSection(schedule="cosine", horizon="budget", max_minutes=5)
    for bad in ({"schedule": "constant", "max_minutes": 5}, {"schedule": "cosine"}):
        with pytest.raises(ValidationError, match="horizon: budget needs schedule: cosine"):
            TrainingSection(horizon="budget", **bad)


def test_schedules() -> None:
    assert lr_at(0, 1.0, "constant", 100, warmup_steps=10) == pytest.approx(0.1)
    assert lr_at(50, 1.0, "constant", 100) == 1.0
    assert lr_at(0, 1.0, "cosine", 100) == pytest.approx(1.0)
    assert lr_at(100, 1.0, "cosine", 100, min_lr_ratio=0.1) == pytest.approx(0.1)
    assert lr_at(55, 1.0, "cosine", 100, warmup_steps=10) == pytest.approx(0.5)
    plateau = Plateau(factor=0.5, patience=1)
    for value in (1.0, 0.9, 0.95, 0.95, 0.95):
        plateau.update(value)
    assert plateau.scale == 0.5


@pytest.mark.parametrize("native", [True, False])
def test_mixed_precision_on_cpu(
    text_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, native: bool, caplog
) -> None:
    """bf16 autocast where the CPU has bf16 units (and it learns); else fp32 and a warning."""
    import rnncli.training.trainer as trainer_module

    if native and not trainer_module.cpu_has_bf16():
        pytest.skip("this CPU has no bf16 units: oneDNN has no bf16 LSTM for it")
    monkeypatch.setattr(trainer_module, "cpu_has_bf16", lambda: native)
    recipe = load_recipe(
        write_recipe(tmp_path, text_file, model={"hidden_size": 32, "embedding_dim": 16})
    )
    plan = lm.prepare(recipe, tmp_path, None)
    batch = next(iter(plan.batches(0, 0)))
    losses: list[float] = []

    def loss(model, b, carry):
        value, n, _ = plan.loss(model, b, None)
        losses.append(float(value.detach()))
        return value, n, None

    steps = 60
    one = TrainPlan(plan.model, lambda e, s: iter([batch] * (steps - s)), lambda e: steps, loss,
                    plan.evaluate, plan.meta)  # fmt: skip
    cfg = TrainingSection(
        epochs=1, lr=1e-2, eval_every=1000, checkpoint_every=1000, device="cpu",
        mixed_precision=True,
    )  # fmt: skip
    trainer = Trainer(one, cfg, tmp_path, {"task": "generate", "recipe": recipe.model_dump()})
    assert trainer.amp_dtype == (torch.bfloat16 if native else None)
    assert ("no bf16 units" in caplog.text) is not native
    quiet = TrainingSection(device="cpu", mixed_precision="auto")
    caplog.clear()
    auto = Trainer(one, quiet, tmp_path / "auto", {"task": "generate", "recipe": {}})
    assert auto.amp_dtype == trainer.amp_dtype and "bf16" not in caplog.text
    trainer.fit()
    assert losses[-1] < 0.5 * losses[0]
    assert all(p.dtype == torch.float32 for p in plan.model.parameters())  # master weights
