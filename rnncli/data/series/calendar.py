"""Frequencies as calendars: the kind of step, the season length, the stamps after a
series, and calendar features (sin/cos of the month, weekday, hour...)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from pandas.tseries.frequencies import to_offset

from rnncli.errors import DataError


def _offsets(*names: str) -> tuple[type, ...]:
    """The named offset classes this pandas has (half-year offsets are new in pandas 3)."""
    return tuple(getattr(pd.offsets, n) for n in names if hasattr(pd.offsets, n))


def family(freq: str) -> tuple[str, int]:
    """("month" | "quarter" | "year" | "week" | "day" | "bday" | "hour" | "minute" | "second"
    | "other", n) for a frequency alias."""
    offset = offset_of(freq)
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
        ("halfyear", _offsets("HalfYearBegin", "HalfYearEnd", "BHalfYearBegin", "BHalfYearEnd")),
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


def offset_of(freq: str) -> pd.DateOffset:
    """The pandas offset of a frequency alias; an unknown alias is a DataError."""
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
    kind, n = family(freq)
    return max(_PER_CYCLE.get(kind, 1) // n, 1)


def future_index(last: pd.Timestamp, freq: str, n: int) -> pd.DatetimeIndex:
    """The n stamps of the `freq` grid that come after `last` (which should be on the grid)."""
    offset = offset_of(freq)
    if n <= 0:
        return pd.date_range(last, periods=0, freq=offset)
    return pd.date_range(pd.Timestamp(last) + offset, periods=n, freq=offset)


def calendar_names(freq: str) -> list[str]:
    """Names of the calendar_features columns for `freq` (sin/cos pairs)."""
    kind, _ = family(freq)
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
