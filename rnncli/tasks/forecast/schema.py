"""The `forecast` recipe: a many-to-one forecaster (`rnn forecast`).

Imports no torch, so `rnn recipe` and `rnn --help` stay fast.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from rnncli.config import MAX_UNITS, RecurrentSection, Section, TrainingSection, encoding_field


class ForecastData(Section):
    train: str = Field(description="CSV/TSV of the series (wide, or long with an id column).")
    format: Literal["auto", "csv", "tsv"] = Field("auto", description="auto: by extension.")
    quoting: Literal["auto", "none", "csv"] = Field(
        "auto",
        description=(
            "Quotes in CSV/TSV cells. auto: standard CSV quoting for .csv files, none for TSV "
            "(a cell is exactly the text between two tabs); csv: TSV files whose cells really "
            "are quoted; none: CSV files that are not."
        ),
    )
    time_column: str | None = Field(None, description="Column of timestamps; null=detect.")
    target: list[str] | None = Field(
        None, description="Column(s) to forecast; null=the one numeric column."
    )
    id_column: str | None = Field(None, description="Long format: the column naming series.")
    past_covariates: list[str] = Field(
        default_factory=list, description="Columns known only up to the forecast origin."
    )
    future_covariates: list[str] = Field(
        default_factory=list, description="Columns known ahead (given for the horizon too)."
    )
    frequency: str = Field("auto", description="pandas alias (MS, D, h...); auto=infer.")
    missing: Literal["error", "interpolate", "ffill"] = Field(
        "error", description="Gaps and empty cells: error, interpolate, or forward-fill."
    )
    duplicates: Literal["error", "first", "last", "mean"] = Field(
        "error", description="Repeated timestamps: error, or keep first/last/mean."
    )
    sort: bool = Field(False, description="Sort unsorted timestamps instead of refusing.")
    calendar_features: bool = Field(False, description="Add month/weekday/hour features.")
    lookback: int | None = Field(None, ge=1, description="Input steps; null=from the season.")
    horizon: int = Field(12, ge=1, description="Steps forecast at once.")
    season: int | None = Field(None, ge=1, description="Seasonal period; null=from frequency.")
    scaling: Literal["standard", "minmax", "mean", "none"] = Field(
        "standard", description="Per-series scaling fitted on the training part only."
    )
    log_transform: bool = Field(False, description="Model log(y) (multiplicative series).")
    valid_size: int | None = Field(
        None, ge=0, description="Steps before the test part used to stop; null=horizon."
    )
    test_size: int | None = Field(
        None, ge=0, description="Steps held out at the end of every series; null=horizon."
    )
    backtest_stride: int = Field(
        1, ge=1, description="Steps between rolling forecast origins in the test part."
    )
    stride: int = Field(1, ge=1, description="Steps between training windows.")
    classical_baselines: bool = Field(
        True,
        description="Backtests also fit statsforecast's AutoETS and AutoTheta at every origin "
        "(on at most its last 1,000 steps) beside the naive baselines; needs "
        "`pip install 'rnncli[classical]'`, else they are left out with a note.",
    )
    encoding: str = encoding_field()

    @field_validator("target", "past_covariates", "future_covariates", mode="before")
    @classmethod
    def _listify(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value


class ForecastModel(RecurrentSection):
    hidden_size: int = Field(64, ge=1, le=MAX_UNITS, description="Units per recurrent layer.")
    num_layers: int = Field(1, ge=1, le=16, description="Stacked recurrent layers.")
    horizon_mode: Literal["direct", "autoregressive"] = Field(
        "direct", description="All horizon values at once, or one step at a time fed back."
    )
    loss: Literal["mse", "mae", "huber"] = Field("mse", description="Point loss (scaled units).")
    quantiles: list[float] | None = Field(
        None, description="Train quantiles with the pinball loss, e.g. [0.1, 0.5, 0.9]."
    )
    window_norm: Literal["none", "mean", "last"] = Field(
        "mean", description="Subtract each window's level from inputs, add it to outputs."
    )

    @field_validator("quantiles")
    @classmethod
    def _quantiles(cls, value: list[float] | None) -> list[float] | None:
        if value is None:
            return None
        if not value or any(not 0 < q < 1 for q in value):
            raise ValueError("quantiles are numbers strictly between 0 and 1")
        if sorted(set(value)) != value:
            raise ValueError("list quantiles once each, in increasing order")
        return value


class ForecastRecipe(Section):
    """A many-to-one forecaster (`rnn forecast`)."""

    task: Literal["forecast"] = Field(description="Which task the recipe trains.")
    data: ForecastData
    model: ForecastModel = Field(default_factory=lambda: ForecastModel())
    training: TrainingSection = Field(default_factory=lambda: TrainingSection())
    output: str = Field("runs/forecast", description="Run directory (made unique if taken).")

    @model_validator(mode="after")
    def _check(self) -> ForecastRecipe:
        if self.model.horizon_mode == "autoregressive" and self.model.bidirectional:
            raise ValueError("model.bidirectional cannot be true with horizon_mode autoregressive")
        named = [self.data.time_column, self.data.id_column, *(self.data.target or [])]
        covs = self.data.past_covariates + self.data.future_covariates
        clash = sorted({c for c in covs if c in named} | _repeated(covs))
        if clash:
            raise ValueError(f"data: column(s) {', '.join(clash)} given more than one role")
        return self


def _repeated(items: list[str]) -> set[str]:
    return {x for x in items if items.count(x) > 1}


Recipe = ForecastRecipe  # what the registry validates `task: forecast` recipes with
