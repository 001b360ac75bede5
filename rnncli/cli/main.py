"""The `rnn` command: a typer app with one thin module per command.

Only cli/ imports typer or rich. Commands import `rnncli.api` (and so torch) inside
their functions, so `rnn --help` and `rnn recipe ...` start fast. Every RnnCliError
becomes one line on stderr, `error: ...`, in `run()` below: the one error path.

SIGINT and SIGTERM raise `Stopped` (a BaseException), so every `finally` on the way
out runs (temporary files removed, run directory unlocked); they exit 130 and 143.
The Trainer catches them itself between steps, to finish the step and save first.
"""

from __future__ import annotations

import os
import re
import signal
import sys
from typing import Any

import typer

from rnncli.cli import (
    classify,
    evaluate,
    export,
    forecast,
    generate,
    info,
    init,
    plot,
    recipe,
    runs,
    tag,
    train,
    translate,
)
from rnncli.errors import RnnCliError, Stopped

app = typer.Typer(
    name="rnn",
    help="Train and run recurrent neural networks (RNN, LSTM, GRU) from the shell.",
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.command("train", epilog=train.EXAMPLES)(train.train)
app.command("generate", epilog=generate.EXAMPLES)(generate.generate)
app.command("classify", epilog=classify.EXAMPLES)(classify.classify)
app.command("forecast", epilog=forecast.EXAMPLES)(forecast.forecast)
app.command("translate", epilog=translate.EXAMPLES)(translate.translate)
app.command("tag", epilog=tag.EXAMPLES)(tag.tag)
app.command("evaluate", epilog=evaluate.EXAMPLES)(evaluate.evaluate)
app.command("export", epilog=export.EXAMPLES)(export.export)
app.command("info", epilog=info.EXAMPLES)(info.info)
app.command("init", epilog=init.EXAMPLES)(init.init)
app.command("plot", epilog=plot.EXAMPLES)(plot.plot)
app.command("runs", epilog=runs.EXAMPLES)(runs.runs)
app.add_typer(recipe.app, name="recipe")


def _print_version(value: bool) -> None:
    if value:
        from rnncli import __version__

        print(__version__)
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False,
        "--version",
        is_eager=True,  # before the check for a command, so `rnn --version` works alone
        callback=_print_version,
        help="Print the version and exit.",
    ),
) -> None:
    """Train and run recurrent neural networks (RNN, LSTM, GRU) from the shell."""


def _debug() -> bool:
    return os.environ.get("RNNCLI_DEBUG", "") not in ("", "0") or "--debug" in sys.argv


_stopping = False


def _on_stop_signal(signum: int, frame: Any) -> None:
    """Raise `Stopped` once; later signals are ignored while the process unwinds."""
    global _stopping
    if _stopping:
        return
    _stopping = True
    raise Stopped(signum)


def _install_signal_handlers() -> dict[signal.Signals, Any]:
    """Make SIGINT and SIGTERM raise `Stopped`; return the handlers they had."""
    global _stopping
    _stopping = False
    previous = {}
    for sig in (signal.SIGINT, signal.SIGTERM):
        previous[sig] = signal.signal(sig, _on_stop_signal)
    return previous


def _command() -> str:
    words = [a for a in sys.argv[1:] if not a.startswith("-")]
    return f"rnn {words[0]}" if words else "rnn"


def _out_of_memory(exc: BaseException) -> str | None:
    """A one-line out-of-memory message for torch's CPU/CUDA allocation errors, or None."""
    text = str(exc)
    if not (
        isinstance(exc, MemoryError)
        or type(exc).__name__ == "OutOfMemoryError"  # torch.OutOfMemoryError (CUDA)
        or "can't allocate memory" in text  # the CPU allocator's RuntimeError
        or "out of memory" in text.lower()
    ):
        return None
    found = re.search(r"tried to allocate ([\d.]+) ?(bytes|[KMGT]i?B)", text, re.IGNORECASE)
    if found is None:
        where = "torch" if isinstance(exc, RuntimeError) else "python"
    elif found.group(2) == "bytes":
        where = f"tried to allocate {int(float(found.group(1))) / 2**30:.1f} GiB"
    else:
        where = f"tried to allocate {found.group(1)} {found.group(2)}"
    return (
        f"out of memory ({where}): use a smaller batch (--batch-size, training.batch_size), "
        "fewer samples (--num-samples) or a smaller model"
    )


def run() -> None:
    """Entry point: run the app; map errors to one line; stay quiet on a closed pipe."""
    if "--debug" in sys.argv:
        sys.argv.remove("--debug")
        os.environ["RNNCLI_DEBUG"] = "1"
    previous = _install_signal_handlers()
    try:
        _run()
    finally:
        # Done, results written: a signal from now on (interpreter shutdown) gets the
        # handler it had before (SIGTERM: the default action, end the process) instead of
        # raising `Stopped` inside some finalizer. A caller's own handlers come back too.
        for sig, handler in previous.items():
            signal.signal(sig, signal.SIG_DFL if handler is None else handler)


def _run() -> None:
    try:
        try:
            code = app(standalone_mode=False)  # usage errors come back to us (below)
        finally:
            sys.stdout.flush()  # a closed pipe surfaces here, not in interpreter shutdown
        if isinstance(code, int) and not isinstance(code, bool) and code:
            sys.exit(code)  # `typer.Exit(code)` is returned, not raised, in this mode
    except _ClickException as exc:
        if _debug():
            raise
        _close_stdout_quietly()
        if type(exc).__name__ == "NoArgsIsHelpError":  # `rnn`, `rnn recipe`: the help
            exc.show()  # type: ignore[attr-defined]
        else:
            print(f"error: {_usage_line(exc)}", file=sys.stderr)
        sys.exit(exc.exit_code)  # type: ignore[attr-defined]
    except typer.Abort:
        print(f"error: aborted ({_command()})", file=sys.stderr)
        sys.exit(1)
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
    except (Stopped, KeyboardInterrupt) as exc:
        signum = exc.signum if isinstance(exc, Stopped) else int(signal.SIGINT)
        _close_stdout_quietly()
        name = signal.Signals(signum).name
        print(f"error: interrupted by {name} ({_command()}): nothing was saved", file=sys.stderr)
        sys.exit(128 + signum)
    except OSError as exc:
        if _debug():
            raise
        where = f" ({exc.filename})" if exc.filename else ""
        print(f"error: {exc.strerror or exc}{where}", file=sys.stderr)
        sys.exit(1)
    except Exception as exc:
        if _debug():
            raise
        oom = _out_of_memory(exc)
        if oom is not None:
            _close_stdout_quietly()
            print(f"error: {oom}", file=sys.stderr)
            sys.exit(1)
        print(
            f"error: internal error: {type(exc).__name__}: {exc} "
            "(rerun with --debug for the traceback, and please report it)",
            file=sys.stderr,
        )
        sys.exit(1)


# The command framework's error base class (typer vendors click; older typers use click).
_ClickException: type[Exception] = next(
    c for c in typer.BadParameter.__mro__ if c.__name__ == "ClickException"
)


def _usage_line(exc: Exception) -> str:
    """A usage error as one line: the message, then where to find the help."""
    message = " ".join(str(exc.format_message()).split())  # type: ignore[attr-defined]
    ctx = getattr(exc, "ctx", None)
    if ctx is None:
        return message
    return f"{message} (see '{ctx.command_path} -h')"


def _silence_stdout() -> None:
    # Python flushes stdout at exit; point it at /dev/null so that flush cannot fail.
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())


def _close_stdout_quietly() -> None:
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        _silence_stdout()
