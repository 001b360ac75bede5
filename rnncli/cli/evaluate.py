"""`rnn evaluate --model RUN FILE`: the model's metrics on held-out data."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import typer

from rnncli.cli.common import (
    DeviceOpt,
    QuietOpt,
    ThreadsOpt,
    announce_builtin,
    check_format,
    setup_logging,
)


def evaluate(
    data: Path = typer.Argument(..., help="Held-out data file."),
    model: Path | None = typer.Option(None, "--model", "-m", help="Run directory or checkpoint."),
    task: str = typer.Option("generate", "--task", help="Task of the built-in model to use."),
    fmt: str = typer.Option("text", "--format", "-f", help="text (a table on stderr) or json."),
    encoding: str = typer.Option("utf-8", "--encoding", help="Text encoding of DATA."),
    device: str = DeviceOpt,
    threads: int | None = ThreadsOpt,
    quiet: bool = QuietOpt,
) -> None:
    """Report loss, perplexity (and bits per character) of a model on DATA.

    --format json prints the metrics on stdout; otherwise a table goes to stderr.
    """
    from rnncli import api

    setup_logging(quiet)
    check_format(fmt, ("text", "json"))
    # With --model the checkpoint says its task; --task picks a built-in model.
    loaded = api.load(model, None if model else task, device=device, threads=threads)
    announce_builtin(loaded, quiet)
    metrics = api.evaluate(loaded, data, encoding=encoding)
    if fmt == "json":
        sys.stdout.write(json.dumps(metrics) + "\n")
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{loaded.task} model on {data}")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key, value in metrics.items():
        table.add_row(key, f"{value:.4f}" if isinstance(value, float) else str(value))
    Console(stderr=True).print(table)
