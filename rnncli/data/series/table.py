"""Reading a time-series file into a table of cells, and the columns' roles in it.

The file (a path, "-" for stdin, or an open stream) is decoded line by line
(`data.text.iter_lines`) and split into records (`data.tables.delimited_rows`); every cell
is kept as a stripped string with the file line of its row, so later errors can name it.
"""

from __future__ import annotations

import re
import sys
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import numpy as np
import pandas as pd

from rnncli.data.tables import (
    blank_record,
    delimited_rows,
    did_you_mean,
    ragged_row,
    repeated_column,
)
from rnncli.data.text import incremental_decoder, iter_lines, open_input
from rnncli.errors import DataError, excerpt

NA_TOKENS = frozenset({"", "na", "n/a", "nan", "null", "none", "#n/a"})
NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")


@dataclass
class Table:
    """Cells of a delimited file as stripped strings, with each row's 1-based file line."""

    columns: list[str]
    cells: dict[str, np.ndarray]
    lines: np.ndarray
    where: str
    delimiter: str


def read_table(
    source: Path | str | IO[str] | IO[bytes],
    where: str | None,
    encoding: str,
    delimiter: str,
    quoting: str,
) -> Table:
    """The cells of a file or stream, streamed line by line (see `iter_lines`)."""
    incremental_decoder(encoding)  # an unknown encoding fails before anything is read
    if isinstance(source, (str, Path)) and str(source) != "-":
        where = where or str(source)
        with open_input(Path(source)) as handle:
            lines = iter_lines(handle, where, encoding)
            return _parse(delimited_rows(lines, delimiter, quoting, where), delimiter, where)
    where = where or "stdin"
    stream = sys.stdin if isinstance(source, (str, Path)) else source
    lines = iter_lines(stream, where, encoding)
    return _parse(delimited_rows(lines, delimiter, quoting, where), delimiter, where)


def choose_delimiter(source: Path | str | IO[str] | IO[bytes], fmt: str) -> str:
    """Comma or tab: from data.format, else from the file name (.tsv, .tab), else a comma."""
    if fmt == "csv":
        return ","
    if fmt == "tsv":
        return "\t"
    if fmt != "auto":
        raise DataError(f"unknown data.format {fmt!r} for a time series: use auto, csv or tsv")
    if isinstance(source, (str, Path)) and Path(source).suffix.lower() in (".tsv", ".tab"):
        return "\t"
    return ","


def _parse(rows: Iterable[tuple[int, list[str]]], delimiter: str, where: str) -> Table:
    """Cells by column, stripped (one string per cell); blank lines are skipped."""
    header: list[str] | None = None
    columns: list[list[str]] = []
    lines: list[int] = []
    for line, row in rows:
        if blank_record(row):
            continue
        if header is None:
            header = [c.strip() or f"Unnamed: {i}" for i, c in enumerate(row)]
            seen = [c for c, n in Counter(header).items() if n > 1]
            if seen:
                raise repeated_column(seen[0], where, line)
            columns = [[] for _ in header]
            continue
        if len(row) > len(header) and not any(c.strip() for c in row[len(header) :]):
            row = row[: len(header)]
        if len(row) != len(header):
            raise ragged_row(len(row), len(header), where, line)
        for column, value in zip(columns, row, strict=True):
            column.append(value.strip())
        lines.append(line)
    if header is None:
        raise DataError(f"no rows in {where}: the file is empty")
    if not lines:
        shown = ", ".join(header)  # quoted cells may hold line ends: keep the message one line
        shown = shown if shown.isprintable() and len(shown) <= 80 else excerpt(shown, 80)
        raise DataError(
            f"no rows in {where}: the file has only a header ({shown}); add data rows below it"
        )
    cells = {c: np.array(column, dtype=object) for c, column in zip(header, columns, strict=True)}
    return Table(header, cells, np.array(lines, dtype=np.int64), where, delimiter)


# --------------------------------------------------------------------------- column roles


def check_column(name: str, role: str, table: Table) -> None:
    """Refuse a column named for `role` that the table does not have."""
    if name in table.columns:
        return
    hint = did_you_mean(name, table.columns)
    wrong = f"; {delimiter_hint(table)}" if len(table.columns) == 1 else ""
    raise DataError(
        f"no {role} column {name!r} in {table.where} "
        f"(columns: {', '.join(table.columns)}){hint}{wrong}"
    )


def delimiter_hint(table: Table) -> str:
    used = "commas" if table.delimiter == "," else "tabs"
    return f"is the delimiter wrong? the file was split on {used} (data.format: csv or tsv)"


def detect_targets(table: Table, free: list[str]) -> list[str]:
    """The one numeric column among `free`, when no target is named."""
    numeric = []
    for name in free:
        values = table.cells[name]
        filled = np.array([v.lower() not in NA_TOKENS for v in values])
        if not filled.any():
            continue
        parsed = pd.to_numeric(values[filled], errors="coerce")
        if (~np.isnan(np.asarray(parsed, dtype=np.float64))).sum() >= 0.9 * filled.sum():
            numeric.append(name)
    if not numeric:
        raise DataError(
            f"no numeric column to forecast in {table.where} "
            f"(columns: {', '.join(table.columns)}): name one with --target / data.target"
        )
    if len(numeric) > 1:
        raise DataError(
            f"several numeric columns in {table.where} ({', '.join(numeric)}): pick the "
            "target(s) with --target / data.target and the rest as covariates"
        )
    return numeric


# --------------------------------------------------------------------------- numbers


def numbers(table: Table, columns: list[str], role: str) -> np.ndarray:
    """(rows, len(columns)) float64; empty cells (and NA, NaN, null...) are NaN."""
    out = np.full((len(table.lines), len(columns)), np.nan)
    for j, name in enumerate(columns):
        values = table.cells[name]
        filled = np.array([v.lower() not in NA_TOKENS for v in values], dtype=bool)
        parsed = np.asarray(pd.to_numeric(values[filled], errors="coerce"), dtype=np.float64)
        bad = np.flatnonzero(~np.isfinite(parsed))
        if bad.size:
            i = np.flatnonzero(filled)[bad[0]]
            what = "is not a finite number" if _is_float(values[i]) else "is not numeric"
            raise DataError(
                f"{role} {name!r} {what} ({table.where}, line {table.lines[i]}: {values[i]!r}): "
                "fix the cell or leave it empty for a missing value"
            )
        out[filled, j] = parsed
    return out


def _is_float(value: str) -> bool:
    try:
        float(value)
    except ValueError:
        return False
    return True
