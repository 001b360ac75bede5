"""The regular time grid of one series: bounded in size, its holes filled or refused."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from pandas.tseries.frequencies import to_offset

from rnncli.data.series.calendar import future_index
from rnncli.data.series.rows import Rows, label
from rnncli.data.series.times import stamp
from rnncli.errors import DataError

MISSING_MODES = ("error", "interpolate", "ffill")
MAX_GRID = 50_000_000  # steps of one series' grid, whatever its rows (see bounded_grid)
GRID_FLOOR = 1_000_000  # steps any series may have (8 MB per column)
GRID_PER_ROW = 100  # steps per observed row allowed above the floor


@dataclass
class Series:
    """One series on a regular grid: observed part, then F known-future rows."""

    id: str
    times: pd.DatetimeIndex
    targets: np.ndarray
    past: np.ndarray
    future: np.ndarray
    future_times: pd.DatetimeIndex


def bounded_grid(rows: Rows, n: int, freq: str, where: str) -> pd.DatetimeIndex:
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
                f"the {freq!r} grid of {where}{label(rows.id)} would hold {size:,} steps for "
                f"{n:,} rows (at most {bound:,}), because of the gap from {stamp(times[i])} "
                f"(line {rows.lines[i]}) to {stamp(times[i + 1])} (line {rows.lines[i + 1]}): "
                "wrong frequency? set data.frequency, or fill the gap (or split the series)"
            )
    return pd.date_range(first, last, freq=freq)


def off_grid(rows: Rows, freq: str, where: str) -> int | None:
    """Index of the first stamp of the series that is not on the grid of `freq`, or None."""
    inside = np.asarray(rows.times.isin(bounded_grid(rows, len(rows.times), freq, where)))
    bad = np.flatnonzero(~inside)
    return int(bad[0]) if bad.size else None


def raise_off_grid(rows: Rows, freq: str, where: str, how: str) -> None:
    """Refuse a series with a stamp off the `freq` grid, naming it; `how` is the fix."""
    i = off_grid(rows, freq, where)
    if i is not None:
        raise DataError(
            f"timestamp {stamp(rows.times[i])} is not on the {freq!r} grid "
            f"({where}{label(rows.id)}, line {rows.lines[i]}): fix the date or {how}"
        )


def on_grid(
    rows: Rows,
    freq: str,
    missing: str,
    targets: list[str],
    past: list[str],
    fut: list[str],
    where: str,
) -> Series:
    """Reindex the observed part to the full grid and fill (or refuse) the holes."""
    n = rows.observed
    grid = bounded_grid(rows, n, freq, where)
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
            f"{roles[j]} {names[j]!r} has no values in {where}{label(rows.id)}: "
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
            f"future rows must continue the {freq!r} grid after {stamp(grid[-1])} "
            f"({where}{label(rows.id)}, line {rows.lines[n + i]}: got {stamp(extra[i])}, "
            f"expected {stamp(future_times[i])}): fill in the missing future rows"
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
        shown = ", ".join(stamp(grid[i]) for i in gaps[:3]) + (", ..." if gaps.size > 3 else "")
        raise DataError(
            f"{gaps.size} missing timestamp(s) at the {freq!r} frequency in {where}{label(name)}"
            f": {shown}: add the rows or {fix}"
        )
    cells = np.argwhere(empty)
    shown = ", ".join(f"line {line_of[i]} {names[j]!r}" for i, j in cells[:3])
    more = ", ..." if len(cells) > 3 else ""
    raise DataError(
        f"{len(cells)} empty cell(s) in {where}{label(name)}: {shown}{more}: fill them in or {fix}"
    )
