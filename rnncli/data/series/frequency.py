"""The frequency of a panel: given and checked, or inferred from the stamps."""

from __future__ import annotations

import warnings
from collections import Counter
from typing import Any

import numpy as np
import pandas as pd
from pandas.tseries.frequencies import to_offset

from rnncli.data.series.calendar import family
from rnncli.data.series.grid import off_grid, raise_off_grid
from rnncli.data.series.rows import Rows, label
from rnncli.errors import DataError

_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
_DAYS = ("MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN")


def panel_frequency(rows: list[Rows], frequency: str, where: str) -> str:
    """The one frequency of all series: checked when given, inferred when "auto"."""
    if frequency != "auto":
        freq = _canonical(frequency, where)
        for r in rows:
            raise_off_grid(r, freq, where, "set the right data.frequency")
        return freq
    found: dict[str, list[str]] = {}
    sure: set[str] = set()
    for r in rows:
        freq_or_none, certain = _infer_frequency(r.times)
        if freq_or_none is None:
            raise DataError(
                f"cannot infer the frequency of {where}{label(r.id)}: set data.frequency "
                "(e.g. D, W-SUN, MS, QS-JAN, h)"
            )
        found.setdefault(freq_or_none, []).append(r.id)
        if certain:
            sure.add(freq_or_none)
    # One kind of step (all monthly, all daily...); the grid is the first frequency, gapless
    # series' first, most common first, finest first, on which every series lies (a 2MS series
    # joins an MS panel, its gaps then being missing values).
    if len({family(f)[0] for f in found}) == 1:
        candidates = sorted(found, key=lambda f: (f not in sure, -len(found[f]), family(f)[1]))
        for freq in candidates:
            if all(off_grid(r, freq, where) is None for r in rows):
                return freq
        if len(found) == 1:
            for r in rows:
                raise_off_grid(r, candidates[0], where, "set data.frequency")
    listed = ", ".join(f"{ids[0]!r} {freq}" for freq, ids in found.items())
    raise DataError(
        f"series in {where} have different frequencies ({listed}): give them one "
        "frequency or set data.frequency"
    )


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
