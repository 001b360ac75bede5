"""The `sum` task: a GRU/LSTM/RNN reads digits and regresses their sum (many-to-one)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from pydantic import Field
from torch import Tensor, nn

from rnncli.data.text import read_lines
from rnncli.errors import DataError
from rnncli.exporting.graph import ExportPlan, Graph, OnnxModule, Session
from rnncli.models.recurrent import RecurrentStack
from rnncli.tasks import Loaded, Report, metric_table
from rnncli.tasks.task_data import StoredData
from rnncli.training.trainer import TrainPlan

from .schema import SumModel, SumRecipe

name = "sum"
evaluate_options: frozenset[str] = frozenset()
main_metric: tuple[str, ...] = ("valid_loss",)


class TaskData(StoredData):
    train_lines: int = Field(ge=1)


class SumNet(nn.Module):
    def __init__(self, section: SumModel) -> None:
        super().__init__()
        self.embedding = nn.Embedding(10, section.embedding_dim)
        self.rnn = RecurrentStack(
            section.cell, section.embedding_dim, section.hidden_size, section.num_layers
        )
        self.head = nn.Linear(section.hidden_size, 1)

    def forward(self, digits: Tensor) -> Tensor:
        out, _ = self.rnn(self.embedding(digits))
        return self.head(out[:, -1]).squeeze(-1) * 6.0 + 18.0  # sums of 4 digits: 18 +- 6


def read(path: Path | str) -> tuple[Tensor, Tensor]:
    rows = []
    for number, line in enumerate(read_lines(path), start=1):
        if not line.strip():
            continue
        if not all(part.isdigit() and len(part) == 1 for part in line.split()):
            raise DataError(f"{path}, line {number}: expected digits separated by spaces")
        rows.append([int(part) for part in line.split()])
    if not rows or len({len(r) for r in rows}) != 1:
        raise DataError(f"{path}: give lines of the same number of digits")
    x = torch.tensor(rows)
    return x, x.sum(1).float()


def build_model(model: SumModel, state: TaskData | None) -> nn.Module:
    return SumNet(model)


def prepare(recipe: SumRecipe, run_dir: Path, state: TaskData | None) -> TrainPlan:
    x, y = read(recipe.data.train)
    cut = max(1, int(len(x) * (1 - recipe.data.valid_fraction)))
    model = build_model(recipe.model, state)
    size = recipe.training.batch_size

    def batches(epoch: int, start: int = 0) -> list[tuple[Tensor, Tensor]]:
        return [(x[i : i + size], y[i : i + size]) for i in range(0, cut, size)][start:]

    def loss(model: nn.Module, batch: Any, carry: Any) -> tuple[Tensor, int, Any]:
        xs, ys = batch
        return nn.functional.mse_loss(model(xs), ys), len(xs), None

    def evaluate(model: nn.Module) -> dict[str, float]:
        with torch.no_grad():
            pred = model(x[cut:])
        return {"valid_loss": float(nn.functional.mse_loss(pred, y[cut:]))}

    return TrainPlan(
        model=model,
        batches=batches,
        num_batches=lambda epoch: len(batches(epoch)),
        loss=loss,
        evaluate=evaluate,
        meta={"train_lines": cut},
        unit="line",
    )


def test_source(recipe: SumRecipe, state: TaskData, run_dir: Path) -> Any:
    return recipe.data.test


def evaluate(loaded: Loaded, source: Any) -> dict[str, Any]:
    x, y = read(source)
    with torch.no_grad():
        pred = loaded.model(x)
    return {"test_mae": float((pred - y).abs().mean()), "lines": len(x)}


def report(metrics: dict[str, Any], source: Any) -> list[Report]:
    return [metric_table(name, source, metrics)]


def describe(state: TaskData) -> dict[str, Any]:
    return {"vocab_size": 10, "tokenizer": {"kind": "char"}}


def export_plan(loaded: Loaded) -> ExportPlan:
    """One graph: digits (batch, count) -> predicted sums (batch,)."""
    example = torch.randint(0, 10, (3, 4))
    checks = [(torch.randint(0, 10, (b, 4)),) for b in (1, 5, 17)]
    dynamic = {"digits": {0: "batch"}, "sum": {0: "batch"}}
    graph = Graph("sum", loaded.model, ["digits"], ["sum"], (example,), dynamic, checks)
    return ExportPlan([graph], {"digits": 4}, ["sum.onnx: digits int64 (batch, 4) -> sum (batch,)"])


class OnnxSum(OnnxModule):
    def forward(self, digits: Tensor) -> Tensor:
        return self.sessions["sum"](digits)[0]


def onnx_model(
    sessions: dict[str, Session], recipe: Any, state: Any, assets: dict[str, Any]
) -> nn.Module:
    return OnnxSum(sessions)
