"""What a trained forecaster keeps: its typed checkpoint state (sizes, columns,
per-series scalers) and the Codec that turns a series into scaled model inputs."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Annotated, Literal

import numpy as np
from pandas.tseries.frequencies import to_offset
from pydantic import AfterValidator, Field, field_validator, model_validator

from rnncli.data.series import (
    SCALINGS,
    Scaler,
    Series,
    calendar_features,
    calendar_names,
    future_index,
)
from rnncli.errors import excerpt
from rnncli.tasks.forecast.schema import ForecastModel
from rnncli.tasks.task_data import StoredData, Unique

log = logging.getLogger("rnncli")


# ----------------------------------------------------- stored data (checkpoint)
class ScalerData(StoredData):
    """`Scaler.to_json()`: per-column offset and (positive) scale, fitted or not."""

    kind: Literal[SCALINGS]  # type: ignore[valid-type]
    log: bool
    offset: list[float] | None = None
    scale: list[Annotated[float, Field(gt=0)]] | None = None

    @model_validator(mode="after")
    def _columns(self) -> ScalerData:
        offset, scale = self.offset, self.scale
        if (offset is None) != (scale is None) or len(offset or []) != len(scale or []):
            raise ValueError("offset and scale: one number per column each")
        return self


class SizesData(StoredData):
    lookback: int = Field(ge=1)
    horizon: int = Field(ge=1)
    season: int = Field(ge=1)
    valid_size: int = Field(ge=0)
    test_size: int = Field(ge=0)


class TaskData(StoredData):
    """`task_data` of a forecaster checkpoint (checked on load, before the Codec)."""

    freq: str
    time_column: str | None
    id_column: str | None = None
    targets: Unique = Field(min_length=1)
    past_covariates: Unique = Field(default_factory=list)
    future_covariates: Unique = Field(default_factory=list)
    calendar: bool = False
    scaling: Literal[SCALINGS]  # type: ignore[valid-type]
    log_transform: bool = False
    sizes: SizesData
    quantiles: Annotated[list[float], AfterValidator(ForecastModel._quantiles)] | None = None
    backtest_stride: int = Field(1, ge=1)
    # series id -> [target scaler, covariate scaler (identity of 1 column when none)]
    scalers: dict[str, Annotated[list[ScalerData], Field(min_length=2, max_length=2)]]
    train_windows: int | None = Field(None, ge=0)
    series: int | None = Field(None, ge=0)

    @field_validator("freq")
    @classmethod
    def _freq(cls, value: str) -> str:
        try:
            to_offset(value)
        except ValueError:
            raise ValueError("not a pandas frequency") from None
        return value

    @model_validator(mode="after")
    def _scaler_columns(self) -> TaskData:
        covariates = len(self.past_covariates) + len(self.future_covariates) or 1
        for sid, (targets, covs) in self.scalers.items():
            for scaler, n in ((targets, len(self.targets)), (covs, covariates)):
                if scaler.offset is not None and len(scaler.offset) != n:
                    raise ValueError(
                        f"scalers.{excerpt(sid)}: a scaler of {len(scaler.offset)} columns, "
                        f"not {n} (targets, then covariates)"
                    )
        return self


@dataclass
class Codec:
    """What a trained forecaster needs to turn a CSV into model inputs and back."""

    state: TaskData

    @property
    def sizes(self) -> dict[str, int]:
        return self.state.sizes.model_dump()

    @property
    def calendar(self) -> bool:
        return self.state.calendar

    @property
    def freq(self) -> str:
        return self.state.freq

    def n_channels(self) -> tuple[int, int, int]:
        """(targets, past, known-future incl. calendar) channel counts."""
        st = self.state
        n_cal = len(calendar_names(self.freq)) if self.calendar else 0
        return len(st.targets), len(st.past_covariates), len(st.future_covariates) + n_cal

    def scalers(self, series: Series, fit_rows: int | None = None) -> tuple[Scaler, Scaler]:
        """(targets, covariates) scalers of a series: the stored ones when it was trained on,
        else fitted on its first `fit_rows` steps (default: all it has)."""
        stored = self.state.scalers.get(series.id)
        if stored is not None:
            return Scaler.from_json(stored[0].to_json()), Scaler.from_json(stored[1].to_json())
        log.info("series %r was not in training: scaled by its own history", series.id)
        st = self.state
        return fit_scalers(st.scaling, st.log_transform, series, fit_rows or len(series.times))

    def features(
        self, series: Series, scalers: tuple[Scaler, Scaler], extra: int = 0
    ) -> np.ndarray:
        """(rows, channels) float32: scaled targets, past covariates, future covariates, calendar.

        Rows after the observed part (given known-future covariates, or `extra` rows when
        there are none) have NaN targets and past covariates.
        """
        t_scaler, c_scaler = scalers
        n_t, n_p, n_f = self.n_channels()
        k = series.future.shape[1]
        length = len(series.times)
        rows = series.future.shape[0] if k else length + extra
        out = np.full((rows, n_t + n_p + n_f), np.nan, dtype=np.float32)
        out[:length, :n_t] = t_scaler.transform(series.targets)
        if n_p + k:
            covs = np.zeros((rows, n_p + k))
            covs[:length, :n_p] = series.past
            covs[:, n_p:] = series.future[:rows]
            scaled = c_scaler.transform(covs)
            out[:length, n_t : n_t + n_p] = scaled[:length, :n_p]
            out[:, n_t + n_p : n_t + n_p + k] = scaled[:, n_p:]
        if self.calendar:
            stamps = series.times
            if rows > length:
                stamps = stamps.append(future_index(series.times[-1], self.freq, rows - length))
            cal = calendar_features(stamps, self.freq)
            out[:, n_t + n_p + k :] = cal
        return out


def fit_scalers(kind: str, log: bool, series: Series, rows: int) -> tuple[Scaler, Scaler]:
    """Scalers fitted on the first `rows` observed steps only (the training part)."""
    where = f"series {series.id!r}" if series.id else "the series"
    t = Scaler(kind, log).fit(series.targets[:rows], where)
    covs = np.concatenate([series.past[:rows], series.future[:rows]], axis=1)
    if covs.shape[1] == 0:  # no covariates: an identity scaler keeps the stored layout
        return t, Scaler("none", False).fit(np.zeros((1, 1)), where)
    return t, Scaler(kind, False).fit(covs, where)
