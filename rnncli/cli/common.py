"""What every command shares: stderr logging, progress display, shared options."""

from __future__ import annotations

import logging
import sys
import time
from typing import Any

import typer

MODEL_HELP = "Run directory or checkpoint file; default: the task's built-in model."
THREADS_HELP = "torch CPU threads (default: torch's choice)."

ModelOpt = typer.Option(None, "--model", "-m", help=MODEL_HELP)
ThreadsOpt = typer.Option(None, "--threads", min=1, help=THREADS_HELP)
QuietOpt = typer.Option(False, "--quiet", "-q", help="No progress or notes on stderr.")
DeviceOpt = typer.Option("auto", "--device", help="auto (CUDA if present), cpu, cuda or mps.")


def examples(*lines: str) -> str:
    """The end of a command's --help: real command lines, kept one per line."""
    return "Examples:\n\n\b\n" + "".join(f"  {line}\n" for line in lines)


class _StderrFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        level = "warning" if record.levelno >= logging.WARNING else "note"
        return f"{level}: {record.getMessage()}"


def setup_logging(quiet: bool = False) -> None:
    """Library warnings and notes go to stderr as `warning: ...` / `note: ...`."""
    logger = logging.getLogger("rnncli")
    logger.handlers.clear()
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_StderrFormatter())
    logger.addHandler(handler)
    logger.setLevel(logging.WARNING if quiet else logging.INFO)
    logger.propagate = False


def note(message: str, quiet: bool = False) -> None:
    if not quiet:
        print(f"note: {message}", file=sys.stderr)


def check_format(value: str, allowed: tuple[str, ...]) -> str:
    from rnncli.errors import UsageError

    if value not in allowed:
        raise UsageError(f"--format must be one of {', '.join(allowed)}, not {value!r}")
    return value


def announce_builtin(loaded: Any, quiet: bool) -> None:
    if loaded.builtin:
        note(
            f"no --model given: using the built-in {loaded.task} model ({loaded.path.name})", quiet
        )


def load_model(model: Any, task: str | None, device: str, threads: int | None, quiet: bool) -> Any:
    """The common start of every command that runs a model: log to stderr, load, announce."""
    from rnncli import api

    setup_logging(quiet)
    loaded = api.load(model, task, device=device, threads=threads)
    announce_builtin(loaded, quiet)
    return loaded


class Progress:
    """Trainer callback: a rich progress bar on a terminal, else one line per evaluation."""

    def __init__(self, quiet: bool = False, unit: str = "tok", every: int = 1) -> None:
        self.quiet = quiet
        self.every = every  # without a terminal, print every Nth evaluation
        self.evals = 0
        self.unit = unit
        self.live = not quiet and sys.stderr.isatty()
        self.bar: Any = None
        self.task_id: Any = None
        self.started = time.monotonic()

    def on_start(self, state: Any, total_steps: int) -> None:
        if not self.live:
            return
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeRemainingColumn
        from rich.progress import Progress as RichProgress

        self.bar = RichProgress(
            TextColumn("[bold]train"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("loss {task.fields[loss]} lr {task.fields[lr]} {task.fields[rate]}"),
            TimeRemainingColumn(),
            console=Console(stderr=True),
            transient=False,
        )
        self.bar.start()
        self.task_id = self.bar.add_task(
            "train", total=total_steps, completed=state.step, loss="-", lr="-", rate=""
        )

    def on_log(self, state: Any, loss: float, lr: float, rate: float) -> None:
        if self.bar is not None:
            self.bar.update(
                self.task_id,
                completed=state.step,
                loss=f"{loss:.4f}",
                lr=f"{lr:.2e}",
                rate=f"{rate:,.0f} {self.unit}/s",
            )

    def on_eval(self, state: Any, metrics: dict[str, Any]) -> None:
        shown = "  ".join(
            f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v}"
            for k, v in metrics.items()
            if k not in ("lr",)
        )
        self.evals += 1
        if self.bar is not None:
            if self.evals % self.every == 0:
                self.bar.console.print(f"eval  {shown}")
        elif not self.quiet and (self.evals % self.every == 0 or self.evals == 1):
            print(f"eval  {shown}", file=sys.stderr, flush=True)

    def on_end(self, state: Any) -> None:
        self.close()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()
            self.bar = None
