"""`rnn train RECIPE` / `rnn train --resume RUN`: prints the run directory on stdout."""

from __future__ import annotations

from pathlib import Path

import typer

from rnncli.cli.common import Progress, QuietOpt, ThreadsOpt, examples, setup_logging

EXAMPLES = examples(  # the end of --help
    "rnn train recipes/sentiment.yaml --set training.max_minutes=5",
    "rnn train recipes/shakespeare.yaml -o runs/shakespeare --nproc 2",
    "rnn train --resume runs/shakespeare --nproc 2 --set training.max_steps=20000",
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
    nproc: int | None = typer.Option(
        None,
        "--nproc",
        min=1,
        help="Train data-parallel in N processes on this machine (torch's launcher, "
        "torchrun; one per GPU, or N groups of cores). Several machines: see the README.",
        show_default=False,
    ),
    quiet: bool = QuietOpt,
) -> None:
    """Train a model from a recipe; print the run directory on stdout.

    `rnn generate --model "$(rnn train r.yaml)"` chains training and use.

    Examples:

    \b
      rnn train recipes/sentiment.yaml --set training.max_minutes=5
      rnn train recipes/shakespeare.yaml -o runs/shakespeare --nproc 2
      rnn train --resume runs/shakespeare --nproc 2 --set training.max_steps=20000
    """
    from rnncli import api
    from rnncli.errors import RunInterrupted, UsageError

    main = api.main_process()  # torchrun's other processes print only errors
    setup_logging(quiet or not main)
    if (recipe is None) == (resume is None):
        raise UsageError("give a recipe to train, or --resume RUN (not both)")
    if tensorboard:
        overrides = [*overrides, "training.tensorboard=true"]
    if nproc is not None:  # the workers are this command again, under torch's launcher
        args = [str(recipe)] if recipe is not None else ["--resume", str(resume)]
        args += [a for o in overrides for a in ("--set", o)]
        args += ["--output", str(output)] if output is not None else []
        args += ["--threads", str(threads)] if threads is not None else []
        api.launch_train(args + (["--quiet"] if quiet else []), nproc, quiet)
        return
    progress = Progress(quiet or not main)
    try:
        run_dir = api.train(
            recipe, overrides, resume=resume, output=output, callbacks=[progress], threads=threads
        )
    except RunInterrupted as exc:
        if main:
            raise
        raise typer.Exit(exc.exit_code) from None  # rank 0 says what was saved, once
    finally:
        progress.close()
    if main:
        print(run_dir)
