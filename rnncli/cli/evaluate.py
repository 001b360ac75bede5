"""`rnn evaluate --model RUN FILE`: the model's metrics on held-out data."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import typer

from rnncli.cli.common import (
    DeviceOpt,
    QuietOpt,
    ThreadsOpt,
    check_format,
    load_model,
)


def evaluate(
    data: Path = typer.Argument(..., help="Held-out data file."),
    model: Path | None = typer.Option(None, "--model", "-m", help="Run directory or checkpoint."),
    task: str = typer.Option("generate", "--task", help="Task of the built-in model to use."),
    fmt: str = typer.Option("text", "--format", "-f", help="text (a table on stderr) or json."),
    encoding: str = typer.Option("utf-8", "--encoding", help="Text encoding of DATA."),
    references: Path | None = typer.Option(
        None, "--references", help="translate: DATA is the source file, this the references."
    ),
    beam: int = typer.Option(5, "--beam", "-b", min=1, help="translate: beam size for BLEU."),
    length_penalty: float = typer.Option(
        1.0, "--length-penalty", help="translate: beam length penalty."
    ),
    device: str = DeviceOpt,
    threads: int | None = ThreadsOpt,
    quiet: bool = QuietOpt,
) -> None:
    """Report a model's metrics on held-out DATA.

    generate: loss, perplexity, bits per character. classify: accuracy, macro-F1,
    per-class precision/recall/F1 and the confusion matrix (multi-label: micro-F1 and
    Hamming loss instead of the matrix). forecast: a rolling-origin backtest over the
    last test_size steps of every series (MAE, RMSE, MAPE, sMAPE, MASE) beside the
    naive and seasonal-naive baselines. translate: BLEU and chrF (sacrebleu) of beam
    search, token accuracy and perplexity, on a TSV of pairs (source<TAB>target) or on
    a source file with --references.

    --format json prints the metrics on stdout; otherwise a table goes to stderr.
    """
    from rnncli import api
    from rnncli.errors import UsageError

    check_format(fmt, ("text", "json"))
    # With --model the checkpoint says its task; --task picks a built-in model.
    loaded = load_model(model, None if model else task, device, threads, quiet)
    pairs: Any = data
    if references is not None:
        if loaded.task != "translate":
            raise UsageError("--references is for translation models")
        pairs = {"source": str(data), "target": str(references)}
    metrics = api.evaluate(
        loaded, pairs, encoding=encoding, beam=beam, length_penalty=length_penalty
    )
    if fmt == "json":
        sys.stdout.write(json.dumps(metrics) + "\n")
        return
    from rich.console import Console
    from rich.table import Table

    console = Console(stderr=True)
    if loaded.task == "forecast":
        _forecast_table(console, metrics, data)
        return
    table = Table(title=f"{loaded.task} model on {data}")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key, value in metrics.items():
        if isinstance(value, (int, float)):
            table.add_row(key, f"{value:.4f}" if isinstance(value, float) else str(value))
    console.print(table)
    if "bleu_signature" in metrics:
        console.print(f"sacrebleu {metrics['bleu_signature']}, beam {metrics['beam']}")
    per_class = metrics.get("per_class")
    if per_class:
        table = Table(title="per class")
        for col in ("label", "precision", "recall", "f1", "support"):
            table.add_column(col, justify="left" if col == "label" else "right")
        for label, row in per_class.items():
            table.add_row(
                label,
                *(f"{row[k]:.4f}" for k in ("precision", "recall", "f1")),
                str(row["support"]),
            )
        console.print(table)
    if per_class and "confusion" in metrics:
        names = list(per_class)
        table = Table(title="confusion (rows: gold, columns: predicted)")
        table.add_column("")
        for label in names:
            table.add_column(label, justify="right")
        for label, row in zip(names, metrics["confusion"], strict=True):
            table.add_row(label, *(str(n) for n in row))
        console.print(table)


def _forecast_table(console: Any, metrics: dict[str, Any], data: Path) -> None:
    """Model beside the naive and seasonal-naive baselines, one row per metric."""
    from rich.table import Table

    title = (
        f"backtest on {data}: {metrics['windows']} forecast origins over "
        f"{metrics['series']} series (metrics averaged over series)"
    )
    table = Table(title=title)
    names = ("model", "naive", "seasonal_naive")
    table.add_column("metric")
    for name in names:
        table.add_column(name.replace("_", " "), justify="right")
    for key in metrics["model"]:
        table.add_row(key, *(f"{metrics[name][key]:.4f}" for name in names))
    console.print(table)
    interval = metrics.get("interval")
    if interval:
        console.print(
            f"{interval['low']:g}-{interval['high']:g} interval covers "
            f"{interval['coverage']:.1%} of the actual values"
        )
