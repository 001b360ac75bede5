"""One series' rows before the grid: order checked (or sorted), duplicated stamps resolved,
known-future rows split off."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from rnncli.data.series.table import Table
from rnncli.data.series.times import stamp
from rnncli.errors import DataError

DUPLICATE_MODES = ("error", "first", "last", "mean")


@dataclass
class Rows:
    """One series after sorting and de-duplication, before it is put on the grid."""

    id: str
    times: pd.DatetimeIndex
    lines: np.ndarray
    targets: np.ndarray
    past: np.ndarray
    future: np.ndarray
    observed: int  # the first `observed` rows are the observed part, the rest future rows


def label(name: str) -> str:
    """The series' name as error messages append it; nothing for the one unnamed series."""
    return f" (series {name!r})" if name else ""


def prepare(
    table: Table,
    name: str,
    at: np.ndarray,
    times: pd.DatetimeIndex,
    y: np.ndarray,
    p: np.ndarray,
    f: np.ndarray,
    sort: bool,
    duplicates: str,
    has_future: bool,
) -> Rows:
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
            f"timestamps go back in time in {where}{label(name)} (line {lines[i]}: "
            f"{stamp(t[i])} after {stamp(t[i - 1])}): sort the file or set data.sort: true"
        )
    same = np.flatnonzero(steps == 0)
    if same.size:
        if duplicates == "error":
            i = same[0]
            raise DataError(
                f"duplicate timestamp {stamp(t[i])} in {where}{label(name)} "
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
    return Rows(name, pd.DatetimeIndex(t), lines, y, p, f, observed)


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
