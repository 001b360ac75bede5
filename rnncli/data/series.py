"""Time series for forecasting: read a CSV/TSV panel, check it, put it on a regular grid.

Errors name the file, the line and the value, and say how to fix it.
"""

from __future__ import annotations

import difflib
import re
import sys
import warnings
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np
import pandas as pd
from pandas.tseries.frequencies import to_offset

from rnncli.data.tables import delimited_rows
from rnncli.data.text import incremental_decoder, iter_lines, open_input
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
NA_TOKENS = frozenset({"", "na", "n/a", "nan", "null", "none", "#n/a"})
MISSING_MODES = ("error", "interpolate", "ffill")
DUPLICATE_MODES = ("error", "first", "last", "mean")
MAX_GRID = 50_000_000  # steps of one series' grid, whatever its rows (see _grid)
GRID_FLOOR = 1_000_000  # steps any series may have (8 MB per column)
GRID_PER_ROW = 100  # steps per observed row allowed above the floor
_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
_DAYS = ("MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN")
_QUARTER_FIRST = re.compile(r"^(\d{4})\s*[-/ ]?\s*[Qq]([1-4])$")
_QUARTER_LAST = re.compile(r"^[Qq]([1-4])\s*[-/ ]?\s*(\d{4})$")
_NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")


@dataclass
class Series:
    """One series on a regular grid: observed part, then F known-future rows."""

    id: str
    times: pd.DatetimeIndex
    targets: np.ndarray
    past: np.ndarray
    future: np.ndarray
    future_times: pd.DatetimeIndex


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


@dataclass
class _Table:
    """Cells of a delimited file as stripped strings, with each row's 1-based file line."""

    columns: list[str]
    cells: dict[str, np.ndarray]
    lines: np.ndarray
    where: str
    delimiter: str


@dataclass
class _Rows:
    """One series after sorting and de-duplication, before it is put on the grid."""

    id: str
    times: pd.DatetimeIndex
    lines: np.ndarray
    targets: np.ndarray
    past: np.ndarray
    future: np.ndarray
    observed: int  # the first `observed` rows are the observed part, the rest future rows


# --------------------------------------------------------------------------- reading


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
    delimiter = _delimiter(source, fmt)
    table = _read_table(source, where, encoding, delimiter, quoting)
    where = table.where
    past, fut = list(past_covariates), list(future_covariates)

    named: list[tuple[str, str]] = [("time", time_column)] if time_column else []
    named += [("id", id_column)] if id_column else []
    named += [("target", t) for t in targets or []]
    named += [("past covariate", c) for c in past] + [("future covariate", c) for c in fut]
    roles: dict[str, str] = {}
    for role, name in named:
        _check_column(name, role, table)
        if name in roles:
            raise DataError(
                f"column {name!r} is both the {roles[name]} and a {role} in {where}: "
                "use each column once"
            )
        roles[name] = role

    free = [c for c in table.columns if c not in roles]
    time_column = time_column or _detect_time(table, free)
    free = [c for c in free if c != time_column]
    if targets is None:
        targets = _detect_targets(table, free)
    if not targets:
        raise DataError(f"no target given for {where}: name one with --target / data.target")

    times = _parse_times(table, time_column)
    y = _numbers(table, targets, "target")
    p = _numbers(table, past, "past covariate")
    f = _numbers(table, fut, "future covariate")

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
        _prepare(table, name, rows_at, times, y, p, f, sort, duplicates, bool(fut))
        for name, rows_at in groups
    ]
    freq = _panel_frequency(rows, frequency, where)
    series = [_on_grid(r, freq, missing, targets, past, fut, where) for r in rows]
    return Panel(
        series=series,
        freq=freq,
        time_column=time_column,
        id_column=id_column,
        targets=list(targets),
        past_covariates=past,
        future_covariates=fut,
    )


def _read_table(
    source: Path | str | IO[str] | IO[bytes],
    where: str | None,
    encoding: str,
    delimiter: str,
    quoting: str,
) -> _Table:
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


def _delimiter(source: Path | str | IO[str] | IO[bytes], fmt: str) -> str:
    if fmt == "csv":
        return ","
    if fmt == "tsv":
        return "\t"
    if fmt != "auto":
        raise DataError(f"unknown data.format {fmt!r} for a time series: use auto, csv or tsv")
    if isinstance(source, (str, Path)) and Path(source).suffix.lower() in (".tsv", ".tab"):
        return "\t"
    return ","


def _parse(rows: Iterable[tuple[int, list[str]]], delimiter: str, where: str) -> _Table:
    """Cells by column, stripped (one string per cell); blank lines are skipped."""
    header: list[str] | None = None
    columns: list[list[str]] = []
    lines: list[int] = []
    for line, row in rows:
        if not row or (len(row) == 1 and not row[0].strip()):
            continue
        if header is None:
            header = [c.strip() or f"Unnamed: {i}" for i, c in enumerate(row)]
            seen = [c for c, n in Counter(header).items() if n > 1]
            if seen:
                raise DataError(
                    f"column {seen[0]!r} appears twice in the header ({where}, line {line}): "
                    "rename one"
                )
            columns = [[] for _ in header]
            continue
        if len(row) > len(header) and not any(c.strip() for c in row[len(header) :]):
            row = row[: len(header)]
        if len(row) != len(header):
            raise DataError(
                f"row has {len(row)} fields, the header {len(header)} ({where}, line {line}): "
                "check quoting (data.quoting) and the delimiter"
            )
        for column, value in zip(columns, row, strict=True):
            column.append(value.strip())
        lines.append(line)
    if header is None:
        raise DataError(f"no rows in {where}: the file is empty")
    if not lines:
        raise DataError(
            f"no rows in {where}: the file has only a header ({', '.join(header)}); "
            "add data rows below it"
        )
    cells = {c: np.array(column, dtype=object) for c, column in zip(header, columns, strict=True)}
    return _Table(header, cells, np.array(lines, dtype=np.int64), where, delimiter)


def _check_column(name: str, role: str, table: _Table) -> None:
    if name in table.columns:
        return
    close = difflib.get_close_matches(name, table.columns, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    wrong = f"; {_delimiter_hint(table)}" if len(table.columns) == 1 else ""
    raise DataError(
        f"no {role} column {name!r} in {table.where} "
        f"(columns: {', '.join(table.columns)}){hint}{wrong}"
    )


def _delimiter_hint(table: _Table) -> str:
    used = "commas" if table.delimiter == "," else "tabs"
    return f"is the delimiter wrong? the file was split on {used} (data.format: csv or tsv)"


def _detect_time(table: _Table, free: list[str]) -> str:
    for name in free:
        if name.lower() in TIME_NAMES:
            return name
    for name in free:
        values = [v for v in table.cells[name] if v][:20]
        if not values:
            continue
        dates = _to_datetime(np.array(values, dtype=object))
        plain = np.array([bool(_NUMBER.match(v)) for v in values])
        if ((~dates.isna()) & ~plain).sum() >= 0.9 * len(values):
            return name
    wrong = f"; {_delimiter_hint(table)}" if len(table.columns) == 1 else ""
    raise DataError(
        f"no time column found in {table.where} (columns: {', '.join(table.columns)}): "
        f"name it with --time-column / data.time_column{wrong}"
    )


def _detect_targets(table: _Table, free: list[str]) -> list[str]:
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


def _to_datetime(values: np.ndarray) -> pd.DatetimeIndex:
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


def _parse_times(table: _Table, column: str) -> pd.DatetimeIndex:
    values = table.cells[column]
    empty = np.flatnonzero(values == "")
    if empty.size:
        raise DataError(
            f"time column {column!r} is empty ({table.where}, line {table.lines[empty[0]]}): "
            "fill in the date or remove the row"
        )
    times = _to_datetime(values)
    bad = np.flatnonzero(np.asarray(times.isna()))
    if bad.size:
        i = bad[0]
        raise DataError(
            f"time column {column!r} has a value that is not a date "
            f"({table.where}, line {table.lines[i]}: {values[i]!r}): "
            "use dates like 2020-01-31, 2020-01, 2020-01-31 12:00 or 2020 Q1"
        )
    return times


def _numbers(table: _Table, columns: list[str], role: str) -> np.ndarray:
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


# --------------------------------------------------------------------------- per series


def _label(name: str) -> str:
    return f" (series {name!r})" if name else ""


def _stamp(ts: pd.Timestamp) -> str:
    return str(ts.date()) if ts == ts.normalize() and ts.tzinfo is None else str(ts)


def _prepare(
    table: _Table,
    name: str,
    at: np.ndarray,
    times: pd.DatetimeIndex,
    y: np.ndarray,
    p: np.ndarray,
    f: np.ndarray,
    sort: bool,
    duplicates: str,
    has_future: bool,
) -> _Rows:
    """Sort (or check the order), resolve duplicated timestamps, split off the future rows."""
    where, lines, t = table.where, table.lines[at], times[at]
    y, p, f = y[at], p[at], f[at]
    stamps = t.asi8
    if sort:
        order = np.argsort(stamps, kind="stable")
        lines, t, stamps = lines[order], t[order], stamps[order]
        y, p, f = y[order], p[order], f[order]
    steps = np.diff(stamps)
    back = np.flatnonzero(steps < 0)
    if back.size:
        i = back[0] + 1
        raise DataError(
            f"timestamps go back in time in {where}{_label(name)} (line {lines[i]}: "
            f"{_stamp(t[i])} after {_stamp(t[i - 1])}): sort the file or set data.sort: true"
        )
    same = np.flatnonzero(steps == 0)
    if same.size:
        if duplicates == "error":
            i = same[0]
            raise DataError(
                f"duplicate timestamp {_stamp(t[i])} in {where}{_label(name)} "
                f"(lines {lines[i]} and {lines[i + 1]}): remove one or set "
                "data.duplicates: first, last or mean"
            )
        starts = np.concatenate([[0], np.flatnonzero(steps != 0) + 1])
        ends = np.concatenate([starts[1:], [len(stamps)]])
        keep = ends - 1 if duplicates == "last" else starts
        if duplicates == "mean":
            y, p, f = (_group_mean(a, starts) for a in (y, p, f))
        else:
            y, p, f = y[keep], p[keep], f[keep]
        lines, t = lines[keep], t[keep]
    observed = len(t)
    if has_future:
        while (
            observed > 0 and np.isnan(y[observed - 1]).all() and not np.isnan(f[observed - 1]).any()
        ):
            observed -= 1
    count = int((~np.isnan(y[:observed])).any(axis=1).sum())
    if count < 2:
        who = f"series {name!r}" if name else "the series"
        raise DataError(
            f"{who} in {where} has {count} observed row(s): a series needs at least 2 rows "
            "with a target value"
        )
    return _Rows(name, pd.DatetimeIndex(t), lines, y, p, f, observed)


def _group_mean(values: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Mean over each run of rows that starts at `starts`, ignoring NaN (all NaN stays NaN)."""
    if values.shape[1] == 0:
        return values[starts]
    valid = ~np.isnan(values)
    sums = np.add.reduceat(np.where(valid, values, 0.0), starts, axis=0)
    counts = np.add.reduceat(valid.astype(np.int64), starts, axis=0)
    out = np.full(sums.shape, np.nan)
    np.divide(sums, counts, out=out, where=counts > 0)
    return out


# --------------------------------------------------------------------------- frequency


def _canonical(freq: str, where: str) -> str:
    try:
        offset = to_offset(freq)
    except (ValueError, TypeError):
        raise DataError(
            f"unknown frequency {freq!r} for {where} (data.frequency): use a pandas alias such "
            "as D, B, W-SUN, MS, ME, QS-JAN, YS, h or 30min"
        ) from None
    if offset.n == 1 and isinstance(offset, pd.offsets.QuarterBegin):
        return f"QS-{_MONTHS[(offset.startingMonth - 1) % 3]}"
    if offset.n == 1 and isinstance(offset, pd.offsets.QuarterEnd):
        return f"QE-{_MONTHS[(offset.startingMonth - 1) % 3 + 9]}"
    return str(offset.freqstr)


def _infer_frequency(times: pd.DatetimeIndex) -> tuple[str | None, bool]:
    """(frequency, certain): certain when pandas infers it from a gapless series."""
    if len(times) >= 3:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                found: Any = pd.infer_freq(times)
            except (ValueError, TypeError):
                found = None
        if found is not None:
            return _canonical(found if isinstance(found, str) else found.freqstr, ""), True
    return _common_offset(times), False


def _most_common(values: np.ndarray) -> int:
    positive = values[values > 0]
    if not positive.size:
        return 0
    return int(Counter(positive.tolist()).most_common(1)[0][0])


def _common_offset(times: pd.DatetimeIndex) -> str | None:
    """The frequency of the most common step between consecutive stamps (for series with gaps)."""
    if len(times) < 2:
        return None
    midnight = bool((times == times.normalize()).all())
    if midnight and (bool((times.day == 1).all()) or bool(times.is_month_end.all())):
        begin = bool((times.day == 1).all())
        months = np.diff(np.asarray(times.year * 12 + times.month, dtype=np.int64))
        step = _most_common(months)
        first = int(times[0].month)
        if step == 3:
            anchor = (first - 1) % 3 if begin else (first - 1) % 3 + 9
            return f"{'QS' if begin else 'QE'}-{_MONTHS[anchor]}"
        if step == 12:
            return f"{'YS' if begin else 'YE'}-{_MONTHS[first - 1]}"
        if step:
            unit = "MS" if begin else "ME"
            return unit if step == 1 else f"{step}{unit}"
        return None
    steps = times[1:] - times[:-1]
    deltas = np.asarray(steps.asi8)
    step = _most_common(deltas)
    if not step:
        return None
    delta = pd.Timedelta(steps[int(np.flatnonzero(deltas == step)[0])])
    day = pd.Timedelta(days=1)
    weekdays = np.asarray(times.day_of_week)
    if midnight and delta == 7 * day and len(set(weekdays.tolist())) == 1:
        return f"W-{_DAYS[weekdays[0]]}"
    if midnight and delta == day and bool((weekdays < 5).all()):
        gaps = np.asarray(times[1:] - times[:-1]) == np.timedelta64(3, "D")
        if (gaps & (weekdays[:-1] == 4)).any():
            return "B"
    if delta % day == pd.Timedelta(0):
        days = delta // day
        return "D" if days == 1 else f"{days}D"
    return str(to_offset(delta).freqstr)


def _grid(rows: _Rows, n: int, freq: str, where: str) -> pd.DatetimeIndex:
    """The `freq` grid over the first `n` stamps of a series, refusing one too big to hold.

    A grid may hold max(GRID_FLOOR, GRID_PER_ROW x rows) steps, and never over MAX_GRID: a
    1-second step across an 18-month gap (47 million steps for 3 rows) is a wrong frequency
    or a gap to fill, not data, and is refused before anything that size is allocated.
    """
    times = rows.times[:n]
    first, last = times[0], times[n - 1]
    try:
        step = pd.Timedelta(to_offset(freq))
    except (ValueError, TypeError):  # calendar steps (months...): years 1677-2262 bound them
        step = None
    if step is not None and step > pd.Timedelta(0):
        size = int((last - first) // step) + 1
        bound = min(max(GRID_FLOOR, GRID_PER_ROW * n), MAX_GRID)
        if size > bound:
            i = int(np.argmax(np.diff(times.asi8)))
            raise DataError(
                f"the {freq!r} grid of {where}{_label(rows.id)} would hold {size:,} steps for "
                f"{n:,} rows (at most {bound:,}), because of the gap from {_stamp(times[i])} "
                f"(line {rows.lines[i]}) to {_stamp(times[i + 1])} (line {rows.lines[i + 1]}): "
                "wrong frequency? set data.frequency, or fill the gap (or split the series)"
            )
    return pd.date_range(first, last, freq=freq)


def _off_grid(rows: _Rows, freq: str, where: str) -> int | None:
    """Index of the first stamp of the series that is not on the grid of `freq`, or None."""
    inside = np.asarray(rows.times.isin(_grid(rows, len(rows.times), freq, where)))
    bad = np.flatnonzero(~inside)
    return int(bad[0]) if bad.size else None


def _raise_off_grid(rows: _Rows, freq: str, where: str, how: str) -> None:
    i = _off_grid(rows, freq, where)
    if i is not None:
        raise DataError(
            f"timestamp {_stamp(rows.times[i])} is not on the {freq!r} grid "
            f"({where}{_label(rows.id)}, line {rows.lines[i]}): fix the date or {how}"
        )


def _panel_frequency(rows: list[_Rows], frequency: str, where: str) -> str:
    """The one frequency of all series: checked when given, inferred when "auto"."""
    if frequency != "auto":
        freq = _canonical(frequency, where)
        for r in rows:
            _raise_off_grid(r, freq, where, "set the right data.frequency")
        return freq
    found: dict[str, list[str]] = {}
    sure: set[str] = set()
    for r in rows:
        freq_or_none, certain = _infer_frequency(r.times)
        if freq_or_none is None:
            raise DataError(
                f"cannot infer the frequency of {where}{_label(r.id)}: set data.frequency "
                "(e.g. D, W-SUN, MS, QS-JAN, h)"
            )
        found.setdefault(freq_or_none, []).append(r.id)
        if certain:
            sure.add(freq_or_none)
    # One kind of step (all monthly, all daily...); the grid is the first frequency, gapless
    # series' first, most common first, finest first, on which every series lies (a 2MS series
    # joins an MS panel, its gaps then being missing values).
    if len({_family(f)[0] for f in found}) == 1:
        candidates = sorted(found, key=lambda f: (f not in sure, -len(found[f]), _family(f)[1]))
        for freq in candidates:
            if all(_off_grid(r, freq, where) is None for r in rows):
                return freq
        if len(found) == 1:
            for r in rows:
                _raise_off_grid(r, candidates[0], where, "set data.frequency")
    listed = ", ".join(f"{ids[0]!r} {freq}" for freq, ids in found.items())
    raise DataError(
        f"series in {where} have different frequencies ({listed}): give them one "
        "frequency or set data.frequency"
    )


def _on_grid(
    rows: _Rows,
    freq: str,
    missing: str,
    targets: list[str],
    past: list[str],
    fut: list[str],
    where: str,
) -> Series:
    """Reindex the observed part to the full grid and fill (or refuse) the holes."""
    n = rows.observed
    grid = _grid(rows, n, freq, where)
    at = grid.get_indexer(rows.times[:n])
    names = targets + past + fut
    roles = ["target"] * len(targets) + ["past covariate"] * len(past)
    roles += ["future covariate"] * len(fut)
    values = np.concatenate([rows.targets, rows.past, rows.future], axis=1)[:n]
    table = np.full((len(grid), len(names)), np.nan)
    table[at] = values
    line_of = np.zeros(len(grid), dtype=np.int64)
    line_of[at] = rows.lines[:n]
    empty = np.isnan(table)
    for j in np.flatnonzero(empty.all(axis=0)):
        raise DataError(
            f"{roles[j]} {names[j]!r} has no values in {where}{_label(rows.id)}: "
            "fill it in or drop the column"
        )
    if empty.any():
        if missing == "error":
            _raise_missing(grid, line_of, empty, names, freq, where, rows.id)
        elif missing == "interpolate":
            steps = np.arange(len(grid))
            for j in np.flatnonzero(empty.any(axis=0)):
                ok = ~empty[:, j]
                table[:, j] = np.interp(steps, steps[ok], table[ok, j])
        else:
            table = pd.DataFrame(table).ffill().bfill().to_numpy(dtype=np.float64)
    t, p = len(targets), len(past)
    extra = rows.times[n:]
    future_times = future_index(grid[-1], freq, len(extra))
    wrong = np.flatnonzero(np.asarray(extra != future_times))
    if wrong.size:
        i = wrong[0]
        raise DataError(
            f"future rows must continue the {freq!r} grid after {_stamp(grid[-1])} "
            f"({where}{_label(rows.id)}, line {rows.lines[n + i]}: got {_stamp(extra[i])}, "
            f"expected {_stamp(future_times[i])}): fill in the missing future rows"
        )
    return Series(
        id=rows.id,
        times=grid,
        targets=np.ascontiguousarray(table[:, :t]),
        past=np.ascontiguousarray(table[:, t : t + p]),
        future=np.concatenate([table[:, t + p :], rows.future[n:]], axis=0),
        future_times=future_times,
    )


def _raise_missing(
    grid: pd.DatetimeIndex,
    line_of: np.ndarray,
    empty: np.ndarray,
    names: list[str],
    freq: str,
    where: str,
    name: str,
) -> None:
    fix = "set data.missing: interpolate (or ffill)"
    gaps = np.flatnonzero(line_of == 0)
    if gaps.size:
        shown = ", ".join(_stamp(grid[i]) for i in gaps[:3]) + (", ..." if gaps.size > 3 else "")
        raise DataError(
            f"{gaps.size} missing timestamp(s) at the {freq!r} frequency in {where}{_label(name)}"
            f": {shown}: add the rows or {fix}"
        )
    cells = np.argwhere(empty)
    shown = ", ".join(f"line {line_of[i]} {names[j]!r}" for i, j in cells[:3])
    more = ", ..." if len(cells) > 3 else ""
    raise DataError(
        f"{len(cells)} empty cell(s) in {where}{_label(name)}: {shown}{more}: fill them in or {fix}"
    )


# --------------------------------------------------------------------------- calendar


def _family(freq: str) -> tuple[str, int]:
    """("month" | "quarter" | "year" | "week" | "day" | "bday" | "hour" | "minute" | "second"
    | "other", n) for a frequency alias."""
    offset = _offset(freq)
    kinds: list[tuple[str, tuple[type, ...]]] = [
        (
            "month",
            (
                pd.offsets.MonthBegin,
                pd.offsets.MonthEnd,
                pd.offsets.BusinessMonthBegin,
                pd.offsets.BusinessMonthEnd,
                pd.offsets.CustomBusinessMonthBegin,
                pd.offsets.CustomBusinessMonthEnd,
                pd.offsets.WeekOfMonth,
                pd.offsets.LastWeekOfMonth,
            ),
        ),
        (
            "quarter",
            (
                pd.offsets.QuarterBegin,
                pd.offsets.QuarterEnd,
                pd.offsets.BQuarterBegin,
                pd.offsets.BQuarterEnd,
            ),
        ),
        ("halfyear", (pd.offsets.HalfYearBegin, pd.offsets.HalfYearEnd)),
        (
            "halfyear",
            (pd.offsets.BHalfYearBegin, pd.offsets.BHalfYearEnd),
        ),
        (
            "year",
            (pd.offsets.YearBegin, pd.offsets.YearEnd, pd.offsets.BYearBegin, pd.offsets.BYearEnd),
        ),
        ("week", (pd.offsets.Week,)),
        ("bday", (pd.offsets.BusinessDay, pd.offsets.CustomBusinessDay)),
        ("day", (pd.offsets.Day,)),
        ("hour", (pd.offsets.Hour, pd.offsets.BusinessHour, pd.offsets.CustomBusinessHour)),
        ("minute", (pd.offsets.Minute,)),
        ("second", (pd.offsets.Second, pd.offsets.Milli, pd.offsets.Micro, pd.offsets.Nano)),
    ]
    for kind, classes in kinds:
        if isinstance(offset, classes):
            return kind, max(abs(int(getattr(offset, "n", 1))), 1)
    return "other", 1


def _offset(freq: str) -> pd.DateOffset:
    try:
        return to_offset(freq)
    except (ValueError, TypeError):
        raise DataError(
            f"unknown frequency {freq!r} (data.frequency): use a pandas alias such as "
            "D, B, W-SUN, MS, ME, QS-JAN, YS, h or 30min"
        ) from None


_PER_CYCLE = {
    "month": 12,
    "quarter": 4,
    "halfyear": 2,
    "week": 52,
    "day": 7,
    "bday": 5,
    "hour": 24,
    "minute": 1440,
}


def season_length(freq: str) -> int:
    """Steps in one season: 12 monthly, 4 quarterly, 52 weekly, 7 daily, 5 business daily,
    24 hourly, 1440 // N for N minutes; 1 for yearly and anything else."""
    kind, n = _family(freq)
    return max(_PER_CYCLE.get(kind, 1) // n, 1)


def future_index(last: pd.Timestamp, freq: str, n: int) -> pd.DatetimeIndex:
    """The n stamps of the `freq` grid that come after `last` (which should be on the grid)."""
    offset = _offset(freq)
    if n <= 0:
        return pd.date_range(last, periods=0, freq=offset)
    return pd.date_range(pd.Timestamp(last) + offset, periods=n, freq=offset)


def calendar_names(freq: str) -> list[str]:
    """Names of the calendar_features columns for `freq` (sin/cos pairs)."""
    kind, _ = _family(freq)
    cycles = {
        "month": ["month"],
        "halfyear": ["month"],
        "quarter": ["quarter"],
        "week": ["week"],
        "day": ["weekday", "yearday"],
        "bday": ["weekday", "yearday"],
        "hour": ["hour", "weekday"],
        "minute": ["hour", "weekday"],
        "second": ["hour", "weekday"],
    }.get(kind, [])
    return [f"{cycle}_{part}" for cycle in cycles for part in ("sin", "cos")]


def calendar_features(times: pd.DatetimeIndex, freq: str) -> np.ndarray:
    """(len(times), len(calendar_names(freq))) float32: sin/cos of each calendar cycle."""
    times = pd.DatetimeIndex(times)
    days_in_year = np.where(np.asarray(times.is_leap_year), 366.0, 365.0)
    year_part = (np.asarray(times.day_of_year, dtype=np.float64) - 1) / days_in_year
    phase = {
        "month": (np.asarray(times.month, dtype=np.float64) - 1) / 12,
        "quarter": (np.asarray(times.quarter, dtype=np.float64) - 1) / 4,
        "week": year_part,
        "weekday": np.asarray(times.day_of_week, dtype=np.float64) / 7,
        "yearday": year_part,
        "hour": (
            np.asarray(times.hour, dtype=np.float64)
            + np.asarray(times.minute, dtype=np.float64) / 60
            + np.asarray(times.second, dtype=np.float64) / 3600
        )
        / 24,
    }
    names = calendar_names(freq)
    out = np.empty((len(times), len(names)), dtype=np.float32)
    for j, name in enumerate(names):
        cycle, part = name.rsplit("_", 1)
        angle = 2 * np.pi * phase[cycle]
        out[:, j] = np.sin(angle) if part == "sin" else np.cos(angle)
    return out


# --------------------------------------------------------------------------- scaling


SCALINGS = ("standard", "minmax", "mean", "none")


class Scaler:
    """Per-column scaling fitted on training values only; JSON round-trips exactly.

    transform(x) = (log(x) if log else x - offset) / scale; inverse undoes it (exp when log).
    """

    def __init__(self, kind: str = "standard", log: bool = False) -> None:
        if kind not in SCALINGS:
            raise DataError(f"unknown scaling {kind!r}: use one of {', '.join(SCALINGS)}")
        self.kind = kind
        self.log = bool(log)
        self.offset: np.ndarray | None = None
        self.scale: np.ndarray | None = None

    def fit(self, values: np.ndarray, where: str = "") -> Scaler:
        """Learn offset and scale per column from `values` (n, C); returns self."""
        x = np.asarray(values, dtype=np.float64)
        x = x.reshape(-1, x.shape[-1]) if x.ndim >= 2 else x.reshape(-1, 1)
        at = f" ({where})" if where else ""
        if not len(x):
            raise DataError(f"no values to fit the scaling on{at}: the training part is empty")
        if not np.isfinite(x).all():
            raise DataError(f"values to scale must be finite numbers{at}: fill the missing ones")
        x = self._log(x, where)
        if self.kind == "standard":
            offset, scale = x.mean(axis=0), x.std(axis=0)
        elif self.kind == "minmax":
            offset, scale = x.min(axis=0), x.max(axis=0) - x.min(axis=0)
        elif self.kind == "mean":
            offset, scale = np.zeros(x.shape[1]), np.abs(x).mean(axis=0)
        else:
            offset, scale = np.zeros(x.shape[1]), np.ones(x.shape[1])
        scale = np.where(np.isfinite(scale) & (scale > 0), scale, 1.0)
        self.offset, self.scale = offset.astype(np.float64), scale.astype(np.float64)
        return self

    def _log(self, x: np.ndarray, where: str = "") -> np.ndarray:
        if not self.log:
            return x
        bad = np.argwhere(~(x > 0))
        if bad.size:
            column = int(bad[0][-1])
            value = float(x[tuple(bad[0])])
            at = f" ({where})" if where else ""
            raise DataError(f"log_transform needs positive values: column {column} has {value}{at}")
        return np.log(x)

    def _params(self) -> tuple[np.ndarray, np.ndarray]:
        if self.offset is None or self.scale is None:
            raise RuntimeError("Scaler used before fit()")
        return self.offset, self.scale

    def transform(self, values: np.ndarray) -> np.ndarray:
        """Scaled values; works on (n, C) and (..., C)."""
        offset, scale = self._params()
        x = self._log(np.asarray(values, dtype=np.float64))
        return (x - offset) / scale

    def inverse(self, values: np.ndarray) -> np.ndarray:
        """Values back in the original units (exact inverse of transform)."""
        offset, scale = self._params()
        x = np.asarray(values, dtype=np.float64) * scale + offset
        return np.exp(x) if self.log else x

    def to_json(self) -> dict[str, Any]:
        """Plain JSON-able dict; floats keep every bit."""
        return {
            "kind": self.kind,
            "log": self.log,
            "offset": None if self.offset is None else [float(v) for v in self.offset],
            "scale": None if self.scale is None else [float(v) for v in self.scale],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Scaler:
        """The Scaler that to_json described."""
        try:
            scaler = cls(str(data["kind"]), bool(data["log"]))
            offset, scale = data.get("offset"), data.get("scale")
            if offset is not None and scale is not None:
                scaler.offset = np.array(offset, dtype=np.float64).reshape(-1)
                scaler.scale = np.array(scale, dtype=np.float64).reshape(-1)
                if scaler.offset.shape != scaler.scale.shape:
                    raise ValueError("offset and scale differ in length")
        except (KeyError, TypeError, ValueError) as exc:
            raise DataError(f"malformed scaler description: {exc}") from None
        return scaler


# --------------------------------------------------------------------------- windows


def window_origins(
    length: int, lookback: int, horizon: int, start: int, stop: int, stride: int = 1
) -> np.ndarray:
    """Forecast origins o (int64, ascending): input [o - lookback, o), target [o, o + horizon).

    Every window lies in [0, stop) and o >= start; origins are `stride` apart, counted back from
    the last possible one (always included). Empty when no window fits.
    """
    for name, value, least in (("lookback", lookback, 1), ("horizon", horizon, 1)):
        if value < least:
            raise DataError(f"{name} must be at least {least} (got {value})")
    if stride < 1:
        raise DataError(f"stride must be at least 1 (got {stride})")
    if start < 0 or not 0 <= stop <= length:
        raise DataError(
            f"window bounds must satisfy 0 <= start and 0 <= stop <= length "
            f"(got start={start}, stop={stop}, length={length})"
        )
    first, last = max(start, lookback), stop - horizon
    if last < first:
        return np.zeros(0, dtype=np.int64)
    count = (last - first) // stride + 1
    return last - stride * np.arange(count - 1, -1, -1, dtype=np.int64)
