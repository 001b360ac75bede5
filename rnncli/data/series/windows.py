"""Training windows: the forecast origins that fit in a part of a series."""

from __future__ import annotations

import numpy as np

from rnncli.errors import DataError


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
