"""Classical baselines for the backtest: ETS and Theta (statsforecast's AutoETS and
AutoTheta), fitted per series and per forecast origin on exactly the history the network
sees, so a user reads off whether the network beats what a statistician would try first.

statsforecast is an optional extra (`pip install 'rnncli[classical]'`); without it the
backtest has the naive baselines only and says how to get these.
"""

from __future__ import annotations

import contextlib
import io
import logging
import warnings
from typing import Any

import numpy as np

from rnncli.training.metrics import seasonal_naive_forecast

log = logging.getLogger("rnncli")
MODELS = {"ets": "AutoETS", "theta": "AutoTheta"}
HINT = "ETS and Theta baselines need statsforecast: pip install 'rnncli[classical]'"
# AutoTheta's fit grows much faster than linearly past ~1,000 points (measured on the
# S&P 500 closes: 0.43 s at 1,000, 11 s at 4,450); both models see at most this much.
MAX_HISTORY = 1000


def models() -> dict[str, Any] | None:
    """{name: model class} of the classical baselines, or None without statsforecast."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from statsforecast import models as sf
    except ImportError:
        return None
    return {name: getattr(sf, cls) for name, cls in MODELS.items()}


def forecast(
    cls: Any, y: np.ndarray, origins: np.ndarray, horizon: int, season: int
) -> tuple[np.ndarray, int]:
    """(origins, horizon, targets) forecasts of `cls` fitted on y[:origin] for every
    origin and target column; a fit that fails or gives non-finite values is replaced
    by the seasonal-naive forecast (their number is returned)."""
    out = np.empty((len(origins), horizon, y.shape[1]))
    failed = 0
    for i, origin in enumerate(origins):
        history = y[max(0, origin - MAX_HISTORY) : origin]
        for t in range(y.shape[1]):
            series = history[:, t].astype(np.float64)
            # a seasonal model needs two full seasons; else fit without seasonality
            m = season if len(series) >= 2 * season else 1
            try:
                with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
                    warnings.simplefilter("ignore")
                    mean = cls(season_length=m).forecast(y=series, h=horizon)["mean"]
                mean = np.asarray(mean, dtype=np.float64)
                if mean.shape != (horizon,) or not np.isfinite(mean).all():
                    raise ValueError("no finite forecast")
            except Exception:
                failed += 1
                mean = seasonal_naive_forecast(history, horizon, season)[:, t]
            out[i, :, t] = mean
    return out, failed
