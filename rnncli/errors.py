"""Typed errors. Every message says what went wrong, where, and how to fix it.

The CLI turns these into one line on stderr: ``error: <message>``.
"""

from __future__ import annotations


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


def excerpt(value: object, limit: int = 60) -> str:
    """`repr` of a value for an error message, cut to `limit` characters.

    Error messages quote what was wrong, but never a whole (possibly huge) value.
    """
    text = repr(value) if not isinstance(value, str) else repr(value[: limit + 1])
    return text if len(text) <= limit else text[: limit - 3] + "..."
