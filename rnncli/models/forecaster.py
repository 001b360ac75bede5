"""Many-to-one forecasting: a recurrent encoder over the lookback window, then either a
direct multi-step head (all horizon values at once) or an autoregressive decoder (one
step at a time, each prediction fed back as the next input).

Inputs per step: the (scaled) targets, past-only covariates, and known-future features
(covariates and calendar). Outputs: (batch, horizon, targets, quantiles), one quantile
for point losses. With `window_norm`, each window's level (mean or last value of every
target) is subtracted from the inputs and added back to the outputs, so a series that
drifts past the levels seen in training is still in familiar territory.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from rnncli.models.recurrent import RecurrentStack

NORMS = ("none", "mean", "last")


def point_index(quantiles: list[float] | None) -> int:
    """Which output is the point forecast: the median quantile (else the middle one), or
    the only output of a point-loss model."""
    q = quantiles or []
    return q.index(0.5) if 0.5 in q else len(q) // 2


class Forecaster(nn.Module):
    def __init__(
        self,
        n_targets: int,
        n_past: int,
        n_future: int,
        horizon: int,
        n_outputs: int = 1,
        hidden_size: int = 64,
        num_layers: int = 1,
        cell: str = "lstm",
        nonlinearity: str = "tanh",
        dropout: float = 0.0,
        bidirectional: bool = False,
        learn_initial_state: bool = False,
        mode: str = "direct",
        window_norm: str = "mean",
        point_index: int = 0,
    ) -> None:
        super().__init__()
        if mode not in ("direct", "autoregressive"):
            raise ValueError(f"unknown horizon mode {mode!r}")
        if window_norm not in NORMS:
            raise ValueError(f"unknown window_norm {window_norm!r}; choose one of {NORMS}")
        if mode == "autoregressive" and bidirectional:
            raise ValueError("an autoregressive forecaster needs a unidirectional encoder")
        self.n_targets, self.n_future, self.horizon = n_targets, n_future, horizon
        self.n_outputs, self.mode, self.window_norm = n_outputs, mode, window_norm
        self.point_index = point_index  # which output is fed back (the median for quantiles)
        args = (num_layers, dropout, bidirectional, nonlinearity, learn_initial_state)
        self.encoder = RecurrentStack(cell, n_targets + n_past + n_future, hidden_size, *args)
        self.dropout = nn.Dropout(dropout)
        out = n_targets * n_outputs
        if mode == "direct":
            self.head = nn.Linear(self.encoder.output_size + horizon * n_future, horizon * out)
            self.decoder = None
        else:
            self.decoder = RecurrentStack(
                cell, n_targets + n_future, hidden_size, num_layers, dropout, False, nonlinearity
            )
            self.head = nn.Linear(hidden_size, out)

    def forward(self, history: Tensor, future: Tensor, horizon: int | None = None) -> Tensor:
        """history (B, lookback, targets+past+future), future (B, H, future) -> (B, H, T, Q).

        The first `n_targets` channels of `history` are the targets. `horizon` beyond the
        trained one is allowed in autoregressive mode only.
        """
        horizon = horizon or self.horizon
        t = self.n_targets
        level = self._level(history[..., :t])  # (B, 1, T)
        x = history.clone()
        x[..., :t] = x[..., :t] - level
        out, state = self.encoder(x)
        if self.decoder is None:
            if horizon > self.horizon:
                raise ValueError(f"a direct forecaster predicts {self.horizon} steps at most")
            last = self.dropout(out[:, -1])
            feats = [last] + ([future[:, : self.horizon].flatten(1)] if self.n_future else [])
            y = self.head(_cat(feats)).view(-1, self.horizon, t, self.n_outputs)[:, :horizon]
        else:
            y = self._decode(x[:, -1, :t], future, state, horizon)
        return y + level[..., None]

    def _decode(self, prev: Tensor, future: Tensor, state: object, horizon: int) -> Tensor:
        assert self.decoder is not None
        steps = []
        for h in range(horizon):
            parts = [prev] + ([future[:, h]] if self.n_future else [])
            out, state = self.decoder(_cat(parts)[:, None], state)  # type: ignore[arg-type]
            y = self.head(self.dropout(out[:, 0])).view(-1, self.n_targets, self.n_outputs)
            steps.append(y)
            prev = y[..., self.point_index]
        return _stack(steps)

    def _level(self, targets: Tensor) -> Tensor:
        if self.window_norm == "mean":
            return targets.mean(1, keepdim=True)
        if self.window_norm == "last":
            return targets[:, -1:]
        return targets[:, :1] * 0


def _cat(parts: list[Tensor]) -> Tensor:
    return parts[0] if len(parts) == 1 else torch.cat(parts, dim=-1)


def _stack(parts: list[Tensor]) -> Tensor:
    return torch.stack(parts, dim=1)
