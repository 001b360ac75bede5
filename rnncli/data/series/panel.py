"""Reading a time-series file into a Panel: the steps from a CSV/TSV to regular series.

Errors name the file, the line and the value, and say how to fix it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import numpy as np

from rnncli.data.series.frequency import panel_frequency
from rnncli.data.series.grid import MISSING_MODES, Series, on_grid
from rnncli.data.series.rows import DUPLICATE_MODES, prepare
from rnncli.data.series.table import (
    check_column,
    choose_delimiter,
    detect_targets,
    numbers,
    read_table,
)
from rnncli.data.series.times import detect_time, parse_times
from rnncli.errors import DataError


@dataclass
class Panel:
    """Series that share a frequency and the same columns."""

    series: list[Series]
    freq: str
    time_column: str
    id_column: str | None
    targets: list[str]
    past_covariates: list[str]
    future_covariates: list[str]


def read_panel(
    source: Path | str | IO[str] | IO[bytes],
    *,
    where: str | None = None,
    time_column: str | None = None,
    targets: list[str] | None = None,
    id_column: str | None = None,
    past_covariates: Sequence[str] = (),
    future_covariates: Sequence[str] = (),
    frequency: str = "auto",
    missing: str = "error",
    duplicates: str = "error",
    sort: bool = False,
    fmt: str = "auto",
    encoding: str = "utf-8",
    quoting: str = "auto",
) -> Panel:
    """Read a time-series file (path, "-" for stdin, or an open stream) into a Panel.

    `quoting`: auto reads CSV with standard quotes and TSV without (a cell is the text
    between two tabs); "csv" or "none" say so for either.
    """
    if missing not in MISSING_MODES:
        raise DataError(f"unknown data.missing {missing!r}: use one of {', '.join(MISSING_MODES)}")
    if duplicates not in DUPLICATE_MODES:
        raise DataError(
            f"unknown data.duplicates {duplicates!r}: use one of {', '.join(DUPLICATE_MODES)}"
        )
    delimiter = choose_delimiter(source, fmt)
    table = read_table(source, where, encoding, delimiter, quoting)
    where = table.where
    past, fut = list(past_covariates), list(future_covariates)

    named: list[tuple[str, str]] = [("time", time_column)] if time_column else []
    named += [("id", id_column)] if id_column else []
    named += [("target", t) for t in targets or []]
    named += [("past covariate", c) for c in past] + [("future covariate", c) for c in fut]
    roles: dict[str, str] = {}
    for role, name in named:
        check_column(name, role, table)
        if name in roles:
            raise DataError(
                f"column {name!r} is both the {roles[name]} and a {role} in {where}: "
                "use each column once"
            )
        roles[name] = role

    free = [c for c in table.columns if c not in roles]
    time_column = time_column or detect_time(table, free)
    free = [c for c in free if c != time_column]
    if targets is None:
        targets = detect_targets(table, free)
    if not targets:
        raise DataError(f"no target given for {where}: name one with --target / data.target")

    times = parse_times(table, time_column)
    y = numbers(table, targets, "target")
    p = numbers(table, past, "past covariate")
    f = numbers(table, fut, "future covariate")

    if id_column:
        ids = table.cells[id_column]
        empty = np.flatnonzero(ids == "")
        if empty.size:
            line = table.lines[empty[0]]
            raise DataError(
                f"id column {id_column!r} is empty ({where}, line {line}): fill it in or "
                "remove the row"
            )
        order = list(dict.fromkeys(ids.tolist()))
        groups = [(str(i), np.flatnonzero(ids == i)) for i in order]
    else:
        groups = [("", np.arange(len(table.lines)))]

    rows = [
        prepare(table, name, rows_at, times, y, p, f, sort, duplicates, bool(fut))
        for name, rows_at in groups
    ]
    freq = panel_frequency(rows, frequency, where)
    series = [on_grid(r, freq, missing, targets, past, fut, where) for r in rows]
    return Panel(
        series=series,
        freq=freq,
        time_column=time_column,
        id_column=id_column,
        targets=list(targets),
        past_covariates=past,
        future_covariates=fut,
    )
