"""Typed errors. Every message says what went wrong, where, and how to fix it.

The CLI turns these into one line on stderr: ``error: <message>``.
"""

from __future__ import annotations

import reprlib


class RnnCliError(Exception):
    """Base class of every error rnncli raises on purpose (exit code 1)."""

    exit_code = 1


class RecipeError(RnnCliError):
    """A recipe (YAML or overrides) is malformed or invalid."""


class DataError(RnnCliError):
    """An input file is missing, empty, badly encoded or malformed."""


class CheckpointError(RnnCliError):
    """A checkpoint is missing, corrupt, tampered, of another task or a newer format."""


class TrainingError(RnnCliError):
    """Training cannot go on (non-finite loss, nothing to resume...)."""


class UsageError(RnnCliError):
    """Options that cannot be combined or have invalid values (exit code 2)."""

    exit_code = 2


class RunInterrupted(RnnCliError):
    """A stop signal ended a run; the message says what was saved. Exit 128 + signal."""

    def __init__(self, message: str, signum: int) -> None:
        super().__init__(message)
        self.signum = signum
        self.exit_code = 128 + signum


class Stopped(BaseException):
    """SIGINT/SIGTERM turned into an exception by the CLI, so `finally` blocks clean up.

    A BaseException, so `except Exception` in library code cannot swallow it.
    """

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum
        self.exit_code = 128 + signum


def excerpt(value: object, limit: int = 60) -> str:
    """A bounded `repr` of a value for an error message (at most `limit` characters).

    Error messages quote what was wrong, but never a whole value: a YAML alias bomb
    expands to gigabytes, so even building its full repr must be avoided (reprlib).
    """
    short = reprlib.Repr()
    short.maxlevel, short.maxlist, short.maxdict = 3, 6, 6
    short.maxstring = short.maxother = limit
    text = short.repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
