"""`rnn runs [DIR]`: the run directories under DIR, one line each."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import typer

from rnncli.cli.common import examples

EXAMPLES = examples(  # the end of --help
    "rnn runs",
    "rnn runs experiments --sort best",
    "rnn runs --sort valid_loss --format json",
)
WIDTHS = {"run": 8, "task": 8, "data": 8, "metric": 6, "stopped": 9, "date": 10}
HEADER = ["run", "task", "data", "metric", "best", "steps", "minutes", "stopped", "date"]


def runs(
    directory: Path = typer.Argument(
        Path("runs"), metavar="DIR", help="Where to look (one and two levels deep)."
    ),
    sort: str | None = typer.Option(
        None,
        "--sort",
        help="A column (name, task, best, steps, minutes, date...) or a logged metric "
        "(valid_loss...): the best first.",
    ),
    fmt: str | None = typer.Option(
        None, "--format", "-f", help="table (default on a terminal), tsv (otherwise) or json."
    ),
) -> None:
    """List the runs under DIR: task, data, best value of the main metric, steps, minutes,
    why it stopped and when. A damaged run is listed with what can be read, and a
    `warning:` line names it."""
    from rnncli.errors import UsageError
    from rnncli.runs import list_runs

    fmt = fmt or ("table" if sys.stdout.isatty() else "tsv")
    if fmt not in ("table", "tsv", "json"):
        raise UsageError(f"--format must be one of table, tsv, json, not {fmt!r}")
    found = list_runs(directory, sort)
    for run in found:
        if run.problems:
            print(f"warning: {run.path}: {'; '.join(run.problems)}", file=sys.stderr)
    if fmt == "json":
        sys.stdout.write(json.dumps([r.to_json() for r in found], indent=2) + "\n")
    elif fmt == "tsv":
        lines = ["\t".join(HEADER), *("\t".join(_cells(r)) for r in found)]
        sys.stdout.write("".join(line + "\n" for line in lines))
    elif not found:
        print(f"note: no runs under {directory}", file=sys.stderr)
    else:
        _table(found)


def _cells(run: Any) -> list[str]:
    best = "" if run.best is None else f"{run.best:.4g}"
    minutes = "" if run.minutes is None else f"{run.minutes:.1f}"
    values = [run.name, run.task, run.data, run.metric, best]
    values += [run.steps, minutes, run.stopped, run.date]
    return ["" if v is None else str(v).replace("\t", " ").replace("\n", " ") for v in values]


def _table(found: list[Any]) -> None:
    from rich import box
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True)
    for name in HEADER:
        table.add_column(
            name,
            justify="right" if name in ("best", "steps", "minutes") else "left",
            overflow="fold",  # a narrow terminal folds cells; none vanishes
            min_width=WIDTHS.get(name, 5),
        )
    for run in found:
        cells = _cells(run)
        cells[3] = cells[3].removeprefix("valid_")  # the validation metric, as `metric`
        style = "yellow" if run.problems else None
        table.add_row(*(Text(c) for c in cells), style=style)
    Console().print(table)
