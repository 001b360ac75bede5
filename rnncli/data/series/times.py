"""Time stamps of a series file: which column holds them, and parsing them as dates."""

from __future__ import annotations

import re
import warnings

import numpy as np
import pandas as pd

from rnncli.data.series.table import NUMBER, Table, delimiter_hint
from rnncli.errors import DataError

TIME_NAMES = (
    "date",
    "time",
    "timestamp",
    "datetime",
    "month",
    "ds",
    "period",
    "day",
    "week",
    "quarter",
    "year",
)
_QUARTER_FIRST = re.compile(r"^(\d{4})\s*[-/ ]?\s*[Qq]([1-4])$")
_QUARTER_LAST = re.compile(r"^[Qq]([1-4])\s*[-/ ]?\s*(\d{4})$")


def detect_time(table: Table, free: list[str]) -> str:
    """The time column among `free`: a usual name, else the first that reads as dates."""
    for name in free:
        if name.lower() in TIME_NAMES:
            return name
    for name in free:
        values = [v for v in table.cells[name] if v][:20]
        if not values:
            continue
        dates = to_datetime(np.array(values, dtype=object))
        plain = np.array([bool(NUMBER.match(v)) for v in values])
        if ((~dates.isna()) & ~plain).sum() >= 0.9 * len(values):
            return name
    wrong = f"; {delimiter_hint(table)}" if len(table.columns) == 1 else ""
    raise DataError(
        f"no time column found in {table.where} (columns: {', '.join(table.columns)}): "
        f"name it with --time-column / data.time_column{wrong}"
    )


def _quarter(value: str) -> str:
    match = _QUARTER_FIRST.match(value)
    if match:
        year, quarter = match.group(1), int(match.group(2))
    else:
        match = _QUARTER_LAST.match(value)
        if not match:
            return value
        year, quarter = match.group(2), int(match.group(1))
    return f"{year}-{3 * quarter - 2:02d}-01"


def to_datetime(values: np.ndarray) -> pd.DatetimeIndex:
    """Parse date strings; quarters ("1998 Q1") become the quarter's first day; bad ones NaT."""
    strings = [_quarter(v) for v in values]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            parsed = pd.to_datetime(strings)
        except (ValueError, TypeError, OverflowError):
            try:
                parsed = pd.to_datetime(strings, format="mixed", errors="coerce")
            except (ValueError, TypeError):
                parsed = pd.to_datetime(strings, format="mixed", errors="coerce", utc=True)
    return pd.DatetimeIndex(parsed)


def parse_times(table: Table, column: str) -> pd.DatetimeIndex:
    """The stamps of `column`; an empty cell or one that is not a date names its line."""
    values = table.cells[column]
    empty = np.flatnonzero(values == "")
    if empty.size:
        raise DataError(
            f"time column {column!r} is empty ({table.where}, line {table.lines[empty[0]]}): "
            "fill in the date or remove the row"
        )
    times = to_datetime(values)
    bad = np.flatnonzero(np.asarray(times.isna()))
    if bad.size:
        i = bad[0]
        raise DataError(
            f"time column {column!r} has a value that is not a date "
            f"({table.where}, line {table.lines[i]}: {values[i]!r}): "
            "use dates like 2020-01-31, 2020-01, 2020-01-31 12:00 or 2020 Q1"
        )
    return times


def stamp(ts: pd.Timestamp) -> str:
    """A stamp as an error message shows it: the date alone when it is midnight."""
    return str(ts.date()) if ts == ts.normalize() and ts.tzinfo is None else str(ts)
