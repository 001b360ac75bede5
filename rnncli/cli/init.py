"""`rnn init TASK [DATA]`: write a commented starter recipe, its data keys read from DATA."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from rnncli.cli.common import examples

EXAMPLES = examples(  # the end of --help
    "rnn init classify sample_data/sst2_train.tsv -o sentiment.yaml",
    "rnn init forecast sample_data/airline-passengers.csv -o airline.yaml",
    "rnn init generate sample_data/tinyshakespeare.txt > shakespeare.yaml",
)


def init(
    task: str = typer.Argument(
        ...,
        metavar="TASK",
        help="Task of the recipe: classify, forecast, generate, translate...",
        show_default=False,
    ),
    data: Path | None = typer.Argument(
        None,
        metavar="DATA",
        help="Data file to look at (a sample of it) to fill the data keys in.",
        show_default=False,
    ),
    output: Path | None = typer.Option(
        None, "--output", "-o", help="Write the recipe to this new file (default: stdout)."
    ),
) -> None:
    """Write a starter recipe for TASK: every key commented with its description.

    Given DATA, its data keys are read from a sample of it; `note:` lines say what was chosen.

    An existing file is never overwritten.
    """
    from rnncli.errors import UsageError
    from rnncli.starter import starter

    taken = f"{output} exists: it is not overwritten; give another -o or remove it"
    if output is not None and (output.exists() or output.is_symlink()):
        raise UsageError(taken)
    text, notes = starter(task, data)
    for note in notes:
        print(f"note: {note}", file=sys.stderr)
    if output is None:
        sys.stdout.write(text)
        return
    try:
        with open(output, "x", encoding="utf-8") as handle:
            handle.write(text)
    except FileExistsError:
        raise UsageError(taken) from None
    print(f"note: wrote {output}; train it with: rnn train {output}", file=sys.stderr)
