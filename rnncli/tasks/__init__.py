"""Tasks: one module per task, and the closed registry that maps `task:` to it.

Adding a task = one new module + one line in TASKS + a recipe + tests.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, cast

from torch import nn

from rnncli.errors import CheckpointError
from rnncli.training.trainer import TrainPlan

if TYPE_CHECKING:
    from rnncli.tasks.task_data import StoredData


class Task(Protocol):
    """What the API needs of a task module."""

    name: str
    TaskData: type[StoredData]  # the schema of its `task_data`, checked on load

    def prepare(self, recipe: Any, run_dir: Path, task_data: dict[str, Any] | None) -> TrainPlan:
        """Data, model, loss and evaluation for training (task_data given when resuming)."""
        ...

    def build_model(self, model: Any, task_data: dict[str, Any]) -> nn.Module:
        """An untrained model shaped for `task_data` (load weights into it to predict)."""
        ...


# Imported on first use: `forecast` pulls in pandas, which `rnn generate` never needs.
TASKS: dict[str, str] = {
    "generate": "rnncli.tasks.generate",
    "classify": "rnncli.tasks.classify",
    "forecast": "rnncli.tasks.forecast",
    "translate": "rnncli.tasks.translate",
}


def get_task(name: str) -> Task:
    if name not in TASKS:
        raise CheckpointError(f"unknown task {name!r}: this rnncli knows {', '.join(TASKS)}")
    return cast(Task, importlib.import_module(TASKS[name]))
