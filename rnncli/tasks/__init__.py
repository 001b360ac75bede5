"""Tasks: one package per task, and what the rest of rnncli needs of one.

A task is a package `rnncli/tasks/<name>/` with `schema.py` (its recipe, no torch) and
`task.py` (everything else: data, model, training plan, prediction, evaluation, the
description `rnn info` prints), plus one line in `registry.py`. Nothing outside the
package names it: api.py and cli/ go through the registry.

This module imports no torch at run time (a task's `schema` is imported through it).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from torch import nn

    from rnncli.exporting.graph import ExportPlan, Session
    from rnncli.tasks.task_data import StoredData
    from rnncli.training.trainer import TrainPlan


@dataclass
class Loaded:
    """A trained model ready to predict, with what it needs: its recipe (the validated
    pydantic object of its task's schema) and its state (the task's typed `TaskData`:
    vocabulary, tokenizer, labels, scalers...)."""

    task: str
    model: nn.Module
    meta: dict[str, Any]  # the checkpoint's whole metadata (metrics, versions...)
    path: Path
    recipe: Any
    state: Any
    builtin: bool = False


@dataclass
class Report:
    """One table of an evaluation, as plain text cells (cli/ draws it)."""

    title: str
    columns: list[str]
    rows: list[list[str]]
    notes: list[str] = field(default_factory=list)


class Task(Protocol):
    """What api.py and cli/ need of a task (the module `rnncli.tasks.<name>.task`)."""

    name: str
    TaskData: type[StoredData]  # the schema of its `task_data`, checked on load
    # `rnn evaluate` options it takes besides the data file (others are refused)
    evaluate_options: frozenset[str]
    # the metric `rnn plot` and `rnn runs` show: the first of these a run logged
    main_metric: tuple[str, ...]

    def prepare(self, recipe: Any, run_dir: Path, state: Any | None) -> TrainPlan:
        """Data, model, loss and evaluation for training (its stored state when resuming).
        The plan's `meta` is the state as stored (`TaskData.to_json()`)."""
        ...

    def build_model(self, model: Any, state: Any) -> nn.Module:
        """An untrained model shaped for `state` (load weights into it to predict)."""
        ...

    def test_source(self, recipe: Any, state: Any, run_dir: Path) -> Any:
        """What a finished run is scored on (data.test or its own held-out part), or None."""
        ...

    def evaluate(self, loaded: Loaded, source: Any, **options: Any) -> dict[str, Any]:
        """Metrics of the model on held-out data."""
        ...

    def report(self, metrics: dict[str, Any], source: Any) -> list[Report]:
        """The tables `rnn evaluate` shows for `metrics`."""
        ...

    def describe(self, state: Any) -> dict[str, Any]:
        """For `rnn info`: vocab_size, tokenizer, data (one line), architecture (one line)."""
        ...

    # Optional: a task without these two is refused by `rnn export` in one line (tag).
    def export_plan(self, loaded: Loaded) -> ExportPlan:
        """`rnn export`: the model as graphs (torch modules with example and check
        inputs) and its assets (vocabulary, tokenizer, labels, scalers) as JSON."""
        ...

    def onnx_model(
        self, sessions: dict[str, Session], recipe: Any, state: Any, assets: dict[str, Any]
    ) -> nn.Module:
        """A module that answers the calls the task's own prediction and evaluation code
        makes of its model, computed by the exported graphs (`--model EXPORT_DIR`)."""
        ...


def metric_table(task: str, source: Any, metrics: dict[str, Any]) -> Report:
    """The numbers of a metrics dict as a two-column table."""
    rows = [
        [key, f"{value:.4f}" if isinstance(value, float) else str(value)]
        for key, value in metrics.items()
        if isinstance(value, (int, float)) and not isinstance(value, bool)
    ]
    return Report(f"{task} model on {source}", ["metric", "value"], rows)
