"""The `rnn` command: a typer app with one thin module per command.

Only cli/ imports typer or rich. Commands import `rnncli.api` (and so torch) inside
their functions, so `rnn --help` and `rnn recipe ...` start fast. Every RnnCliError
becomes one line on stderr, `error: ...`, in `run()` below: the one error path.
"""

from __future__ import annotations

import os
import sys

import typer

from rnncli.cli import classify, evaluate, forecast, generate, info, recipe, train, translate
from rnncli.errors import RnnCliError

app = typer.Typer(
    name="rnn",
    help="Train and run recurrent neural networks (RNN, LSTM, GRU) from the shell.",
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.command("train")(train.train)
app.command("generate")(generate.generate)
app.command("classify")(classify.classify)
app.command("forecast")(forecast.forecast)
app.command("translate")(translate.translate)
app.command("evaluate")(evaluate.evaluate)
app.command("info")(info.info)
app.add_typer(recipe.app, name="recipe")


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", help="Print the version and exit."),
) -> None:
    if version:
        from rnncli import __version__

        print(__version__)
        raise typer.Exit()


def _debug() -> bool:
    return os.environ.get("RNNCLI_DEBUG", "") not in ("", "0") or "--debug" in sys.argv


def run() -> None:
    """Entry point: run the app; map errors to one line; stay quiet on a closed pipe."""
    if "--debug" in sys.argv:
        sys.argv.remove("--debug")
        os.environ["RNNCLI_DEBUG"] = "1"
    try:
        try:
            app()
        finally:
            sys.stdout.flush()  # a closed pipe surfaces here, not in interpreter shutdown
    except RnnCliError as exc:
        if _debug():
            raise
        _close_stdout_quietly()
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(exc.exit_code)
    except BrokenPipeError:
        _silence_stdout()
        sys.exit(0)
    except SystemExit as exc:
        # The command framework catches a closed pipe itself, wraps stdout and exits 1;
        # `rnn ... | head` is a normal way to stop reading, so it exits 0 like above.
        if exc.code == 1 and "PacifyFlushWrapper" in type(sys.stdout).__name__:
            _silence_stdout()
            sys.exit(0)
        raise
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        sys.exit(130)
    except MemoryError:
        print("error: out of memory: use a smaller batch size or model", file=sys.stderr)
        sys.exit(1)
    except OSError as exc:
        if _debug():
            raise
        where = f" ({exc.filename})" if exc.filename else ""
        print(f"error: {exc.strerror or exc}{where}", file=sys.stderr)
        sys.exit(1)
    except Exception as exc:
        if _debug():
            raise
        print(
            f"error: internal error: {type(exc).__name__}: {exc} "
            "(rerun with --debug for the traceback, and please report it)",
            file=sys.stderr,
        )
        sys.exit(1)


def _silence_stdout() -> None:
    # Python flushes stdout at exit; point it at /dev/null so that flush cannot fail.
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())


def _close_stdout_quietly() -> None:
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        _silence_stdout()
