"""Run directories as data: find them, summarize them (`rnn runs`), read their curves
(`rnn plot`). Returns values, never prints: what is damaged comes back as `problems`.

A run directory holds `recipe.yaml`, `metrics.jsonl` (one JSON object per evaluation,
perhaps a last `"split": "test"` line), `best.safetensors` and `last.safetensors`.
Checkpoint metadata is read with `read_meta` (checksum verified, no tensor made): a
tampered file is reported, never trusted. A damaged run is still summarized from what
can be read.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

from rnncli.errors import RnnCliError, UsageError
from rnncli.tasks.registry import get_task
from rnncli.training.checkpoint import read_meta

CHECKPOINTS = ("last.safetensors", "best.safetensors")
MARKERS = (*CHECKPOINTS, "metrics.jsonl")  # what makes a directory a run
DEFAULT_MAIN = ("valid_loss",)
HIGHER_IS_BETTER = ("accuracy", "f1", "bleu", "chrf")  # by name; any other: lower is better
COLUMNS = ("name", "task", "data", "metric", "best", "steps", "minutes", "stopped", "date")


def higher_is_better(metric: str) -> bool:
    return any(word in metric for word in HIGHER_IS_BETTER)


def main_metric(task: str | None, logged: set[str] | list[str]) -> str | None:
    """The task's main metric (its `main_metric`: the first of them the run logged)."""
    wanted: tuple[str, ...] = DEFAULT_MAIN
    if task is not None:
        with contextlib.suppress(RnnCliError, ImportError, AttributeError):
            wanted = tuple(get_task(task).main_metric)
    return next((m for m in wanted if m in logged), None)


# ------------------------------------------------------------------------- reading
@dataclass
class History:
    """The evaluations of a run, as metrics.jsonl holds them (test line apart)."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    test: dict[str, Any] | None = None
    bad_lines: int = 0
    missing: bool = False

    def metrics(self) -> list[str]:
        """Every numeric metric logged, in the order first seen (step, epoch... left out)."""
        seen: dict[str, None] = {}
        for row in self.rows:
            for key, value in row.items():
                if key not in ("step", "epoch", "seconds", "lr") and _number(value) is not None:
                    seen.setdefault(key, None)
        return list(seen)


def read_history(run: Path) -> History:
    """metrics.jsonl, line by line: a garbled line is counted, not fatal."""
    path = run / "metrics.jsonl"
    try:
        text = path.read_bytes().decode("utf-8", errors="replace")
    except FileNotFoundError:
        return History(missing=True)
    except OSError:
        return History(missing=True, bad_lines=1)
    out = History()
    for line in text.splitlines():
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except (ValueError, RecursionError):
            row = None
        if not isinstance(row, dict) or _number(row.get("step")) is None:
            out.bad_lines += 1
        elif row.get("split") == "test":
            out.test = row
        else:
            out.rows.append(row)
    return out


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def _read_recipe(run: Path) -> dict[str, Any] | None:
    try:
        data = yaml.safe_load((run / "recipe.yaml").read_text(encoding="utf-8"))
    except (OSError, ValueError, yaml.YAMLError):
        return None
    return data if isinstance(data, dict) else None


# ------------------------------------------------------------------------- listing
@dataclass
class RunSummary:
    """One line of `rnn runs`. `problems` says what could not be read."""

    path: str
    name: str
    task: str | None = None
    data: str | None = None
    output: str | None = None
    metric: str | None = None
    best: float | None = None
    steps: int | None = None
    minutes: float | None = None
    stopped: str | None = None
    date: str | None = None
    metrics: dict[str, float] = field(default_factory=dict)  # of the best model
    problems: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def find_runs(root: Path) -> list[Path]:
    """Run directories: `root` itself if it is one, else one and two levels under it."""
    root = Path(root)
    if not root.is_dir():
        raise UsageError(f"no such directory: {root}")
    if _is_run(root):
        return [root]
    found = []
    for child in _subdirs(root):
        if _is_run(child):
            found.append(child)
        else:
            found.extend(grand for grand in _subdirs(child) if _is_run(grand))
    return found


def _subdirs(path: Path) -> list[Path]:
    try:
        return sorted(p for p in path.iterdir() if not p.name.startswith(".") and p.is_dir())
    except OSError:
        return []


def _is_run(path: Path) -> bool:
    return any((path / name).exists() for name in MARKERS)


def summarize(run: Path, name: str | None = None) -> RunSummary:
    """What a run is and how far it got, from whatever of it can still be read."""
    run = Path(run)
    out = RunSummary(path=str(run), name=name or run.name)
    metas: dict[str, dict[str, Any]] = {}
    for file in CHECKPOINTS:
        path = run / file
        if not path.exists():
            continue
        try:
            metas[file] = read_meta(path)
        except RnnCliError as exc:
            out.problems.append(str(exc))
    history = read_history(run)
    if "last.safetensors" not in metas and not (run / "last.safetensors").exists():
        out.problems.append("last.safetensors is missing")
    if history.rows and not (run / "best.safetensors").exists():
        out.problems.append("best.safetensors is missing")
    if history.missing and metas:
        out.problems.append("metrics.jsonl is missing")
    if history.bad_lines:
        out.problems.append(f"metrics.jsonl has {history.bad_lines} unreadable line(s)")

    meta = metas.get("last.safetensors") or metas.get("best.safetensors") or {}
    recipe = meta.get("recipe") if isinstance(meta.get("recipe"), dict) else _read_recipe(run)
    recipe = recipe or {}
    task = meta.get("task") or recipe.get("task")
    out.task = task if isinstance(task, str) else None
    out.data = _short_data(recipe.get("data"))
    out.output = recipe.get("output") if isinstance(recipe.get("output"), str) else None

    training = meta.get("training") or {}
    last_row = history.rows[-1] if history.rows else {}
    steps = training.get("steps", last_row.get("step"))
    seconds = training.get("seconds", last_row.get("seconds"))
    if (number := _number(steps)) is not None:
        out.steps = int(number)
    if (number := _number(seconds)) is not None:
        out.minutes = round(number / 60, 2)
    if training:
        out.stopped = training.get("stop_reason") or (
            None if training.get("done") else "unfinished"
        )

    best_meta = metas.get("best.safetensors", {}).get("metrics") or {}
    out.metrics = {k: v for k, v in best_meta.items() if _number(v) is not None}
    logged = set(history.metrics()) | set(out.metrics)
    out.metric = main_metric(out.task, logged)
    if out.metric is not None:
        out.best = _number(out.metrics.get(out.metric))
        if out.best is None:  # no readable best checkpoint: the best value logged
            values = [v for r in history.rows if (v := _number(r.get(out.metric))) is not None]
            if values:
                out.best = max(values) if higher_is_better(out.metric) else min(values)
    if not out.metrics and history.rows:
        out.metrics = {k: v for k, v in history.rows[-1].items() if _number(v) is not None}
    out.date = _date(run)
    return out


def _short_data(data: Any) -> str | None:
    if not isinstance(data, dict):
        return None
    train = data.get("train")
    if isinstance(train, dict):  # translate: {source: F, target: F}
        train = train.get("source")
    return Path(train).name if isinstance(train, str) and train else None


def _date(run: Path) -> str | None:
    for name in (*CHECKPOINTS, "metrics.jsonl", "recipe.yaml", "."):
        try:
            stamp = os.stat(run / name).st_mtime
        except OSError:
            continue
        return time.strftime("%Y-%m-%d %H:%M", time.localtime(stamp))
    return None


def list_runs(root: str | Path = "runs", sort: str | None = None) -> list[RunSummary]:
    """Every run under `root` (see find_runs), summarized; sorted by a column or metric."""
    root = Path(root)
    found = find_runs(root)
    names = _labels(found, root)
    runs = [summarize(path, names[path]) for path in found]
    return sort_runs(runs, sort) if sort else runs


def _labels(paths: list[Path], root: Path) -> dict[Path, str]:
    out = {}
    for path in paths:
        try:
            rel = path.relative_to(root)
        except ValueError:
            rel = Path(path.name)
        out[path] = str(rel) if str(rel) != "." else path.resolve().name
    return out


def sort_runs(runs: list[RunSummary], key: str) -> list[RunSummary]:
    """By a column (name, task, data, metric, best, steps, minutes, stopped, date) or a
    metric of the best model (valid_loss...): the best first, runs without it last."""
    if key == "best":

        def by_best(r: RunSummary) -> tuple[Any, ...]:
            if r.best is None or r.metric is None:
                return (1, "", 0.0)
            return (0, r.metric, -r.best if higher_is_better(r.metric) else r.best)

        return sorted(runs, key=by_best)
    if key in COLUMNS:
        have = [r for r in runs if getattr(r, key) is not None]
        rest = [r for r in runs if getattr(r, key) is None]
        reverse = key == "date"  # newest first
        return sorted(have, key=lambda r: getattr(r, key), reverse=reverse) + rest
    known = sorted({m for r in runs for m in r.metrics})
    if key not in known:
        choices = ", ".join([*COLUMNS, *known])
        raise UsageError(f"cannot sort by {key!r}: choose one of {choices}")
    sign = -1.0 if higher_is_better(key) else 1.0
    have = [r for r in runs if _number(r.metrics.get(key)) is not None]
    rest = [r for r in runs if _number(r.metrics.get(key)) is None]
    return sorted(have, key=lambda r: sign * r.metrics[key]) + rest


# -------------------------------------------------------------------------- curves
@dataclass
class Curves:
    """A run's logged metrics against steps and minutes, for `rnn plot`."""

    run: str
    label: str
    task: str | None
    main: str | None  # the task's main metric, if logged
    steps: list[int]
    minutes: list[float]
    values: dict[str, list[float | None]]  # metric -> one value (or None) per evaluation
    problems: list[str] = field(default_factory=list)


def curves(run: str | Path, label: str | None = None) -> Curves:
    """Every metric a run logged, per evaluation (metrics.jsonl; the test line apart)."""
    run = Path(run)
    if not run.is_dir():
        raise UsageError(f"not a run directory: {run}")
    history = read_history(run)
    problems = []
    if history.bad_lines:
        problems.append(f"metrics.jsonl has {history.bad_lines} unreadable line(s)")
    if not history.rows:
        why = "has no metrics.jsonl" if history.missing else "logged no evaluation yet"
        raise UsageError(f"{run} {why}: nothing to plot")
    rows = sorted(history.rows, key=lambda r: r["step"])
    recipe = _read_recipe(run) or {}
    task = recipe.get("task") if isinstance(recipe.get("task"), str) else None
    names = history.metrics()
    seconds = [_number(r.get("seconds")) for r in rows]
    return Curves(
        run=str(run),
        label=label or run.name,
        task=task,
        main=main_metric(task, names),
        steps=[int(r["step"]) for r in rows],
        minutes=[(s or 0.0) / 60 for s in seconds],
        values={m: [_number(r.get(m)) for r in rows] for m in names},
        problems=problems,
    )


def labels(runs: list[Path]) -> list[str]:
    """Short unique labels: directory names, with their parent where two would clash."""
    names = [Path(r).resolve().name for r in runs]
    out = []
    for run, name in zip(runs, names, strict=True):
        if names.count(name) > 1:
            resolved = Path(run).resolve()
            name = f"{resolved.parent.name}/{name}"
        out.append(name)
    return out
