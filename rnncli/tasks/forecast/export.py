"""Export of a forecaster: one forward pass, scaled history and future features in,
the scaled forecast for every step of the trained horizon out (assets.json holds the
scalers, columns and sizes that turn a series into those inputs and back)."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from rnncli.errors import UsageError
from rnncli.exporting.graph import ExportPlan, Graph, OnnxModule, Session
from rnncli.models.forecaster import Forecaster
from rnncli.models.masked import exportable
from rnncli.tasks import Loaded


class ForecasterGraph(nn.Module):
    """(history (B, lookback, C)[, future (B, horizon, K)]) -> (B, horizon, targets, outputs)."""

    def __init__(self, model: Forecaster, convert: bool = True) -> None:
        super().__init__()
        self.model = exportable(model) if convert else model  # Elman layers as GRUs
        self.horizon = model.horizon

    def forward(self, history: Tensor, future: Tensor | None = None) -> Tensor:
        if future is None:
            future = history.new_zeros(history.shape[0], self.horizon, 0)
        return self.model(history, future)


def export_plan(loaded: Loaded) -> ExportPlan:
    from rnncli.tasks.forecast.state import Codec

    model: Forecaster = loaded.model  # type: ignore[assignment]
    state = loaded.state
    n_t, n_p, n_f = Codec(state).n_channels()
    sizes = state.sizes
    g = torch.Generator().manual_seed(0)

    def inputs(batch: int, lookback: int) -> tuple[Tensor, ...]:
        hist = torch.randn(batch, lookback, n_t + n_p + n_f, generator=g)
        hist[..., :n_t] = hist[..., :n_t].cumsum(1) * 0.3  # wandering, like a series
        if not n_f:
            return (hist,)
        return hist, torch.randn(batch, sizes.horizon, n_f, generator=g)

    names = ["history", "future"] if n_f else ["history"]
    # any history length works (the encoder is recurrent); rnncli feeds `lookback` steps
    checks = [inputs(b, n) for b, n in ((1, sizes.lookback), (5, sizes.lookback), (3, 3))]
    checks.append(inputs(32, 2 * sizes.lookback))
    dynamic = {
        "history": {0: "batch", 1: "steps"},
        "future": {0: "batch"},
        "forecast": {0: "batch"},
    }
    assets = {
        "task_data": state.to_json(),
        "lookback": sizes.lookback,
        "horizon": sizes.horizon,
        "channels": {"targets": n_t, "past_covariates": n_p, "future_features": n_f},
        "quantiles": state.quantiles,
        "point_index": model.point_index,
    }
    usage = [
        "Scale each target column with its series' scaler in task_data.scalers[id][0] "
        "(log1p first when `log`; then (x - offset) / scale), covariates with [1].",
        f"forecaster.onnx: history float32 (batch, steps, {n_t + n_p + n_f}): the last "
        f"`lookback` ({sizes.lookback}, as trained; other lengths run) steps of the scaled "
        "targets, then past covariates, then "
        "future covariates and calendar features"
        + (
            f"; future float32 (batch, {sizes.horizon}, {n_f}): those known-ahead features"
            if n_f
            else ""
        )
        + f" -> forecast (batch, {sizes.horizon}, targets, outputs), scaled.",
        "outputs: the quantiles in `quantiles` (point forecast at `point_index`), or one "
        "point forecast. Undo the scaling (x * scale + offset, then expm1 when `log`).",
    ]
    graph = Graph(
        "forecaster",
        ForecasterGraph(model).eval(),
        names,
        ["forecast"],
        inputs(3, sizes.lookback),
        dynamic,
        checks,
        "forecaster: scaled history (and known future features) -> scaled forecast",
        reference=ForecasterGraph(model, convert=False).eval(),
    )
    return ExportPlan(graphs=[graph], assets=assets, usage=usage)


class OnnxForecaster(OnnxModule):
    """`Forecaster`'s forward, computed by forecaster.onnx (its trained horizon at most)."""

    def __init__(self, sessions: dict[str, Session], horizon: int, future: bool) -> None:
        super().__init__(sessions)
        self.horizon, self.future = horizon, future

    def forward(self, history: Tensor, future: Tensor, horizon: int | None = None) -> Tensor:
        horizon = horizon or self.horizon
        if horizon > self.horizon:
            raise UsageError(
                f"an exported forecaster predicts {self.horizon} steps at most (asked {horizon})"
            )
        args = (history, future[:, : self.horizon]) if self.future else (history,)
        return self.sessions["forecaster"](*args)[0][:, :horizon]


def onnx_model(
    sessions: dict[str, Session], recipe: Any, state: Any, assets: dict[str, Any]
) -> nn.Module:
    return OnnxForecaster(
        sessions, int(assets["horizon"]), bool(assets["channels"]["future_features"])
    )
