"""`rnn train RECIPE` / `rnn train --resume RUN`: prints the run directory on stdout."""

from __future__ import annotations

from pathlib import Path

import typer

from rnncli.cli.common import Progress, QuietOpt, ThreadsOpt, examples, setup_logging

EXAMPLES = examples(  # the end of --help
    "rnn train recipes/sentiment.yaml --set training.max_minutes=5",
    "rnn train recipes/shakespeare.yaml -o runs/shakespeare --tensorboard",
    "rnn train --resume runs/shakespeare --set training.max_steps=20000",
)


def train(
    recipe: Path | None = typer.Argument(None, help="Recipe YAML file.", show_default=False),
    overrides: list[str] = typer.Option(
        [], "--set", "-s", help="Override a recipe key: --set training.lr=1.0e-3 (repeatable)."
    ),
    resume: Path | None = typer.Option(
        None, "--resume", help="Continue an interrupted run exactly where it stopped."
    ),
    output: Path | None = typer.Option(
        None, "--output", "-o", help="Run directory (default: the recipe's `output`)."
    ),
    tensorboard: bool = typer.Option(
        False, "--tensorboard", help="Also write the curves to RUN/tensorboard/ (TensorBoard)."
    ),
    threads: int | None = ThreadsOpt,
    quiet: bool = QuietOpt,
) -> None:
    """Train a model from a recipe; print the run directory on stdout.

    `rnn generate --model "$(rnn train r.yaml)"` chains training and use.

    Examples:

    \b
      rnn train recipes/sentiment.yaml --set training.max_minutes=5
      rnn train recipes/shakespeare.yaml -o runs/shakespeare --tensorboard
      rnn train --resume runs/shakespeare --set training.max_steps=20000
    """
    from rnncli import api
    from rnncli.errors import UsageError

    setup_logging(quiet)
    if (recipe is None) == (resume is None):
        raise UsageError("give a recipe to train, or --resume RUN (not both)")
    if tensorboard:
        overrides = [*overrides, "training.tensorboard=true"]
    progress = Progress(quiet)
    try:
        run_dir = api.train(
            recipe, overrides, resume=resume, output=output, callbacks=[progress], threads=threads
        )
    finally:
        progress.close()
    print(run_dir)
