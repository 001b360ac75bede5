"""Forecasting with a trained model: windows of a panel, forecasts after each series' end,
and the rolling-origin backtest beside the naive baselines."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import Tensor, nn

from rnncli.data.series import (
    Panel,
    future_index,
    window_origins,
)
from rnncli.errors import DataError, UsageError
from rnncli.models.forecaster import point_index
from rnncli.tasks.forecast.state import Codec
from rnncli.training.metrics import (
    forecast_metrics,
    mase_scale,
    naive_forecast,
    seasonal_naive_forecast,
)


@dataclass
class Windows:
    """All series as one array, and the global row of every window's origin."""

    feat: Tensor  # (rows, channels) float32
    origins: Tensor  # (n,) int64, global row index of each window's first target
    lookback: int
    horizon: int
    n_targets: int

    n_past: int

    def batch(self, idx: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """(history (B, lookback, C), future features (B, H, K), targets (B, H, T))."""
        g = self.origins[idx]
        hist = self.feat[(g[:, None] + torch.arange(-self.lookback, 0))]
        ahead = self.feat[(g[:, None] + torch.arange(self.horizon))]
        skip = self.n_targets + self.n_past
        return hist, ahead[..., skip:], ahead[..., : self.n_targets]


# -------------------------------------------------------------------- predicting
def predict_windows(model: nn.Module, windows: Windows, horizon: int) -> np.ndarray:
    """Scaled predictions (n, H, T, Q) for every window, in order."""
    device = next(model.parameters()).device
    parts = []
    with torch.inference_mode():
        for b in range(0, len(windows.origins), 1024):
            idx = torch.arange(b, min(b + 1024, len(windows.origins)))
            hist, fut, _ = windows.batch(idx)
            parts.append(model(hist.to(device), fut.to(device), horizon).float().cpu().numpy())
    return np.concatenate(parts) if parts else np.zeros((0, horizon, windows.n_targets, 1))


@dataclass
class SeriesForecast:
    id: str
    times: pd.DatetimeIndex
    values: np.ndarray  # (H, T, Q) in the data's units
    point: int  # index of the point forecast along Q (the median for quantile models)
    history_times: pd.DatetimeIndex
    history: np.ndarray  # (L, T)


def forecast(
    model: nn.Module, codec: Codec, panel: Panel, horizon: int | None = None
) -> list[SeriesForecast]:
    """Forecast `horizon` steps after the end of every series of `panel`."""
    sizes = codec.sizes
    lb, trained = sizes["lookback"], sizes["horizon"]
    horizon = horizon or trained
    direct = getattr(model, "mode", "direct") == "direct"
    if horizon > trained and direct:
        raise UsageError(
            f"this model forecasts {trained} steps at most (data.horizon); "
            "retrain with a larger horizon, or use model.horizon_mode: autoregressive"
        )
    needed = max(horizon, trained) if direct else horizon
    out = []
    for series in panel.series:
        label = f"series {series.id!r}" if series.id else "the series"
        if len(series.times) < lb:
            raise DataError(
                f"{label} has {len(series.times)} steps; the model reads {lb} (data.lookback)"
            )
        if series.future.shape[1] and series.future.shape[0] - len(series.times) < needed:
            raise DataError(
                f"{label} gives future covariates for "
                f"{series.future.shape[0] - len(series.times)} steps after its last value; "
                f"the forecast needs {needed}: add rows with the covariates and an empty target"
            )
        scalers = codec.scalers(series)
        feat = codec.features(series, scalers, extra=needed)
        length = len(series.times)
        n_t, n_p, _ = codec.n_channels()
        hist = torch.from_numpy(feat[length - lb : length])[None]
        fut = torch.from_numpy(feat[length : length + needed, n_t + n_p :])[None]
        device = next(model.parameters()).device
        with torch.inference_mode():
            pred = model(hist.to(device), fut.to(device), horizon).float().cpu().numpy()[0]
        values = scalers[0].inverse(np.moveaxis(pred, -1, 0)).transpose(1, 2, 0)
        out.append(
            SeriesForecast(
                id=series.id,
                times=future_index(series.times[-1], panel.freq, horizon),
                values=values,
                point=getattr(model, "point_index", 0),
                history_times=series.times,
                history=series.targets,
            )
        )
    return out


def backtest(
    model: nn.Module,
    codec: Codec,
    panel: Panel,
    where: str | Path = "the series",
    classical_baselines: bool = True,
) -> dict[str, Any]:
    """Rolling-origin backtest over the last `test_size` steps of every series.

    The model and the baselines forecast from the same origins: naive, seasonal naive
    and, with statsforecast installed, ETS and Theta (`classical.py`); metrics are
    averaged over series (MASE scaled by each series' in-sample seasonal naive error
    before the test part).
    """
    from rnncli.tasks.forecast import classical

    sizes = dict(codec.sizes)
    lb, h, m = sizes["lookback"], sizes["horizon"], sizes["season"]
    stride = codec.state.backtest_stride
    test_size = sizes["test_size"] or h
    per: dict[str, list[dict[str, float]]] = {"model": [], "naive": [], "seasonal_naive": []}
    found = classical.models() if classical_baselines else {}
    baselines = found or {}
    per.update({name: [] for name in baselines})
    failed = dict.fromkeys(baselines, 0)
    windows = 0
    coverage: list[float] = []
    for series in panel.series:
        length = len(series.times)
        test_start = length - test_size
        origins = window_origins(length, lb, h, max(test_start, lb), length, stride)
        if len(origins) == 0:
            continue
        scalers = codec.scalers(series, fit_rows=test_start)
        feat = codec.features(series, scalers)
        n_t, n_p, _ = codec.n_channels()
        w = Windows(torch.from_numpy(feat), torch.from_numpy(origins), lb, h, n_t, n_p)
        pred = predict_windows(model, w, h)  # (n, H, T, Q)
        values = scalers[0].inverse(np.moveaxis(pred, -1, 0))  # (Q, n, H, T)
        q = codec.state.quantiles or []
        point = values[point_index(q)]
        y = series.targets
        actual = np.stack([y[o : o + h] for o in origins])
        naive = np.stack([naive_forecast(y[:o], h) for o in origins])
        snaive = np.stack([seasonal_naive_forecast(y[:o], h, m) for o in origins])
        scale = mase_scale(y[:test_start], m)
        guesses = {"model": point, "naive": naive, "seasonal_naive": snaive}
        for name, cls in baselines.items():
            guesses[name], failures = classical.forecast(cls, y, origins, h, m)
            failed[name] += failures
        for key, guess in guesses.items():
            per[key].append(forecast_metrics(actual, guess, scale))
        if len(q) >= 2:
            lo, hi = values[0], values[-1]
            coverage.append(float(((actual >= lo) & (actual <= hi)).mean()))
        windows += len(origins)
    if windows == 0:
        raise DataError(
            f"series too short for a backtest ({where}): every series needs at least "
            f"lookback + horizon = {lb + h} steps"
        )
    result: dict[str, Any] = {
        name: {k: float(np.mean([r[k] for r in rows])) for k in rows[0]}
        for name, rows in per.items()
    }
    result["windows"] = windows
    result["series"] = len(per["model"])
    if found is None:
        result["baselines_note"] = classical.HINT
    elif any(failed.values()):
        fits = windows * codec.n_channels()[0]
        result["baselines_note"] = "; ".join(
            f"{name}: {n} of {fits} fits failed and were replaced by seasonal naive"
            for name, n in failed.items()
            if n
        )
    if coverage:
        q = codec.state.quantiles or []
        result["interval"] = {"low": q[0], "high": q[-1], "coverage": float(np.mean(coverage))}
    return result
