"""The recurrent stack every task builds on: torch's fused nn.RNN/LSTM/GRU.

State follows torch: a tensor (layers * directions, batch, hidden), or a pair (h, c) for
LSTM. `step` advances one token with the cell functions on the same weights, which is
several times faster than calling the fused module at batch 1 (per-call overhead).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Union, cast

import torch
from torch import Tensor, nn

State = Union[Tensor, tuple[Tensor, Tensor]]

CELLS: dict[str, Any] = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}
# One-step functions on the same weights (what nn.LSTMCell & co. call), for `step`.
STEP_FNS: dict[str, Callable[..., Any]] = {
    "lstm": cast(Callable[..., Any], torch.lstm_cell),
    "gru": cast(Callable[..., Any], torch.gru_cell),
    "rnn": cast(Callable[..., Any], torch.rnn_tanh_cell),
    "rnn_relu": cast(Callable[..., Any], torch.rnn_relu_cell),
}


class RecurrentStack(nn.Module):
    """Stacked (optionally bidirectional) recurrent layers with an optional learned h0."""

    def __init__(
        self,
        cell: str,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        dropout: float = 0.0,
        bidirectional: bool = False,
        nonlinearity: str = "tanh",
        learn_initial_state: bool = False,
    ) -> None:
        super().__init__()
        if cell not in CELLS:
            raise ValueError(f"unknown cell {cell!r}; choose one of {sorted(CELLS)}")
        kwargs: dict[str, object] = {"nonlinearity": nonlinearity} if cell == "rnn" else {}
        self.rnn = CELLS[cell](
            input_size,
            hidden_size,
            num_layers=num_layers,
            dropout=dropout if num_layers > 1 else 0.0,
            bidirectional=bidirectional,
            batch_first=True,
            **kwargs,
        )
        self.cell = cell
        self.nonlinearity = nonlinearity
        self._cell_fn = STEP_FNS["rnn_relu" if cell == "rnn" and nonlinearity == "relu" else cell]
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.directions = 2 if bidirectional else 1
        slots = num_layers * self.directions
        self.h0 = nn.Parameter(torch.zeros(slots, 1, hidden_size)) if learn_initial_state else None
        self.c0 = (
            nn.Parameter(torch.zeros(slots, 1, hidden_size))
            if learn_initial_state and cell == "lstm"
            else None
        )

    @property
    def output_size(self) -> int:
        return self.hidden_size * self.directions

    def initial_state(self, batch: int, device: torch.device | None = None) -> State:
        """Zeros, or the learned initial state, expanded to `batch`."""
        slots = self.num_layers * self.directions
        shape = (slots, batch, self.hidden_size)
        dev = device or next(self.rnn.parameters()).device
        h = (
            self.h0.expand(shape).contiguous()
            if self.h0 is not None
            else torch.zeros(shape, device=dev)
        )
        if self.cell != "lstm":
            return h
        c = (
            self.c0.expand(shape).contiguous()
            if self.c0 is not None
            else torch.zeros(shape, device=dev)
        )
        return (h, c)

    def forward(self, x: Tensor, state: State | None = None) -> tuple[Tensor, State]:
        """x (batch, time, input) -> outputs (batch, time, hidden * directions), state."""
        if state is None:
            state = self.initial_state(x.shape[0], x.device)
        out, new_state = self.rnn(x, state)
        return out, new_state

    def split_state(self, state: State) -> list[Any]:
        """Torch state -> one entry per layer (h, or (h, c)): the form `step` works on."""
        return split_state(state)

    def join_state(self, layers: list[Any]) -> State:
        return join_state(layers)

    def step(self, x: Tensor, layers: list[Any]) -> tuple[Tensor, list[Any]]:
        """One time step, unidirectional only: x (batch, input) -> (batch, hidden).

        `layers` is the per-layer state of `split_state`. For many steps, build the step
        function once with `stepper()`.
        """
        return self.stepper()(x, layers)

    def stepper(self) -> Callable[[Tensor, list[Any]], tuple[Tensor, list[Any]]]:
        """A one-step function bound to the current weights.

        It calls the cell functions (what nn.LSTMCell & co. call) on the fused module's
        own weights: at batch 1 this avoids the fused module's per-call overhead, and
        binding the weights once avoids looking them up every token. Build it again
        after moving the model or replacing its parameters.
        """
        if self.directions != 1:
            raise ValueError("step() needs a unidirectional stack")
        fn = self._cell_fn
        weights = [self._weights(i) for i in range(self.num_layers)]
        pair = self.cell == "lstm"

        def step(x: Tensor, layers: list[Any]) -> tuple[Tensor, list[Any]]:
            new = []
            for w, layer_state in zip(weights, layers, strict=True):
                h = fn(x, layer_state, *w)
                new.append(h)
                x = h[0] if pair else h
            return x, new

        return step

    def _weights(self, layer: int) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        rnn = self.rnn
        return (
            getattr(rnn, f"weight_ih_l{layer}"),
            getattr(rnn, f"weight_hh_l{layer}"),
            getattr(rnn, f"bias_ih_l{layer}"),
            getattr(rnn, f"bias_hh_l{layer}"),
        )


def split_state(state: State) -> list[Any]:
    """(layers, B, H) or a pair of them -> one entry per layer: h, or (h, c)."""
    if isinstance(state, tuple):
        return list(zip(state[0].unbind(0), state[1].unbind(0), strict=True))
    return list(state.unbind(0))


def join_state(layers: list[Any]) -> State:
    """The inverse of `split_state`."""
    if isinstance(layers[0], tuple):
        return (torch.stack([h for h, _ in layers]), torch.stack([c for _, c in layers]))
    return torch.stack(layers)


def detach_state(state: State | None) -> State | None:
    """Cut the graph at a truncated-BPTT boundary."""
    if state is None:
        return None
    if isinstance(state, tuple):
        return (state[0].detach(), state[1].detach())
    return state.detach()
