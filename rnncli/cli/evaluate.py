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
    check_format,
    examples,
    load_model,
)

EXAMPLES = examples(  # the end of --help
    "rnn evaluate --model runs/sentiment sample_data/sst2_test.tsv",
    "rnn evaluate --model runs/tourism sample_data/tourism_long.csv --format json",
    "rnn evaluate --model runs/eng-fra source.en --references reference.fr",
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
    a source file with --references. tag: token accuracy, entity precision/recall/F1
    overall and per type (exact spans, as conlleval and seqeval) and the confusion of
    entity types, on a CoNLL or JSONL file.

    --format json prints the metrics on stdout; otherwise a table goes to stderr.
    """
    from rnncli import api

    check_format(fmt, ("text", "json"))
    # With --model the checkpoint says its task; --task picks a built-in model.
    loaded = load_model(model, None if model else task, device, threads, quiet)
    metrics = api.evaluate(
        loaded,
        data,
        encoding=encoding,
        beam=beam,
        length_penalty=length_penalty,
        references=references,
    )
    if fmt == "json":
        sys.stdout.write(json.dumps(metrics) + "\n")
        return
    from rich.console import Console
    from rich.table import Table

    console = Console(stderr=True)
    for report in api.report(loaded, metrics, data):
        table = Table(title=report.title)
        for n, column in enumerate(report.columns):
            table.add_column(column, justify="left" if n == 0 else "right")
        for row in report.rows:
            table.add_row(*row)
        console.print(table)
        for note in report.notes:
            console.print(note)
