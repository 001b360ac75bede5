"""A recurrent stack over padded batches without packed sequences, for export.

Training and prediction in torch read padded batches as packed sequences, which
ONNX cannot express. `MaskedStack` computes the same outputs and final states from
a padded batch and its lengths with plain recurrent calls, one per layer and
direction, on the weights of an existing `RecurrentStack`:

* forward direction: padding comes after the real tokens, so it cannot change the
  outputs at real positions; the final state is the output at `length - 1`;
* reverse direction: each sequence is reversed within its length (padding stays at
  the end), run forwards, and put back in order;
* the LSTM cell state at `length - 1` is not an output: when it is wanted
  (`cell_state=True`), an extra input column, 1 at padding, drives the forget gate to
  1 and the input gate to 0 there, so the cell state stays what it was at the last
  real token. That column's weights (1e4) would swamp an int8 scale: such layers are
  kept in float32 when quantising.

An Elman (tanh) layer is exported as a GRU whose reset gate is saturated at 1 and
update gate at 0 (`elman_as_gru`): then the GRU's candidate state is exactly the
Elman step, and the fused ONNX GRU keeps the time axis dynamic (torch's exporter has
no Elman translation and unrolls it over the example's length).

So a sentence gets the same outputs alone or in a batch with longer ones, as with
packing, and every operation is one an ONNX graph has (gather, LSTM/GRU/RNN).
"""

from __future__ import annotations

from typing import cast

import torch
from torch import Tensor, nn

from rnncli.models.recurrent import CELLS, RecurrentStack, State

SATURATE = 1.0e4  # a gate pre-activation this large is exactly 0 or 1 in float32


def elman_as_gru(rnn: nn.RNN) -> nn.GRU:
    """The same function as a tanh `nn.RNN`, as an `nn.GRU` (rows r, z, n per gate)."""
    if rnn.nonlinearity != "tanh":
        raise ValueError("an Elman RNN with relu cannot be exported (tanh can)")
    gru = nn.GRU(
        rnn.input_size,
        rnn.hidden_size,
        num_layers=rnn.num_layers,
        batch_first=rnn.batch_first,
        bidirectional=rnn.bidirectional,
    )
    h = rnn.hidden_size
    with torch.no_grad():
        for name, target in gru.named_parameters():
            source = getattr(rnn, name)
            target.zero_()
            target[2 * h :] = source  # n: the Elman step
            if name.startswith("bias_ih"):
                target[:h] = SATURATE  # r = 1: all of W_hn h + b_hn
                target[h : 2 * h] = -SATURATE  # z = 0: nothing of the old state
    return gru.to(next(rnn.parameters()).device).eval()


def exportable(module: nn.Module) -> nn.Module:
    """A copy of `module` whose tanh Elman layers are GRUs (see `elman_as_gru`)."""
    import copy

    module = copy.deepcopy(module)
    for stack in module.modules():
        if isinstance(stack, RecurrentStack) and stack.cell == "rnn":
            stack.rnn = elman_as_gru(stack.rnn)  # type: ignore[assignment]
    return module


class MaskedStack(nn.Module):
    """The layers of `stack` as separate unidirectional modules sharing its weights' values."""

    def __init__(self, stack: RecurrentStack, cell_state: bool = True) -> None:
        super().__init__()
        self.stack = stack
        self.lstm = stack.cell == "lstm" and cell_state  # carries the padding column
        self.directions = stack.directions
        self.layers = nn.ModuleList()
        h = stack.hidden_size
        for layer in range(stack.num_layers):
            size = stack.rnn.input_size if layer == 0 else h * self.directions
            for d in range(self.directions):
                kwargs = {"nonlinearity": stack.nonlinearity} if stack.cell == "rnn" else {}
                one = CELLS[stack.cell](size + int(self.lstm), h, batch_first=True, **kwargs)
                self._copy(one, layer, "_reverse" if d else "", size)
                self.layers.append(elman_as_gru(one) if stack.cell == "rnn" else one)

    def _copy(self, one: nn.Module, layer: int, suffix: str, size: int) -> None:
        src = self.stack.rnn
        h = self.stack.hidden_size
        with torch.no_grad():
            w_ih = getattr(src, f"weight_ih_l{layer}{suffix}")
            if self.lstm:  # the padding column: gates i, f, g, o
                pad = torch.zeros(4 * h, 1, dtype=w_ih.dtype)
                pad[:h] = -SATURATE
                pad[h : 2 * h] = SATURATE
                w_ih = torch.cat([w_ih, pad.to(w_ih.device)], dim=1)
            cast(Tensor, one.weight_ih_l0).copy_(w_ih)
            for name in ("weight_hh", "bias_ih", "bias_hh"):
                getattr(one, f"{name}_l0").copy_(getattr(src, f"{name}_l{layer}{suffix}"))

    def forward(self, x: Tensor, lengths: Tensor) -> tuple[Tensor, State]:
        """x (batch, time, input), lengths (batch,) -> outputs (batch, time, hidden *
        directions), zero at padding, and the final state in torch's layout (h alone
        for an LSTM built with `cell_state=False`)."""
        batch, time = x.shape[0], x.shape[1]
        positions = torch.arange(time, device=x.device)[None, :]
        lengths = lengths.to(x.device)
        real = positions < lengths[:, None]  # (B, T)
        # index of the same position counted from the end of each sequence
        flip = torch.where(real, lengths[:, None] - 1 - positions, positions)
        last = (lengths - 1).clamp(min=0)
        init = self.stack.initial_state(batch, x.device)
        pair = isinstance(init, tuple)
        h0 = init[0] if isinstance(init, tuple) else init
        c0 = init[1] if isinstance(init, tuple) else None
        pad = (~real).to(x.dtype)[..., None]
        hs: list[Tensor] = []
        cs: list[Tensor] = []
        for layer in range(self.stack.num_layers):
            outs = []
            for d in range(self.directions):
                slot = layer * self.directions + d
                inp = _gather(x, flip) if d else x
                if self.lstm:
                    assert c0 is not None
                    state: State = (h0[slot : slot + 1], c0[slot : slot + 1])
                    out, (_, c) = self.layers[slot](torch.cat([inp, pad], dim=-1), state)
                    cs.append(c[0])
                elif pair:
                    assert c0 is not None
                    state = (h0[slot : slot + 1], c0[slot : slot + 1])
                    out, _ = self.layers[slot](inp, state)
                else:
                    out, _ = self.layers[slot](inp, h0[slot : slot + 1])
                hs.append(out[torch.arange(batch, device=x.device), last])
                outs.append(_gather(out, flip) if d else out)
            x = (outs[0] if len(outs) == 1 else torch.cat(outs, dim=-1)) * real[..., None]
        h = torch.stack(hs)
        return x, ((h, torch.stack(cs)) if self.lstm else h)


def _gather(x: Tensor, index: Tensor) -> Tensor:
    """x (B, T, F) reordered along time by index (B, T)."""
    return x.gather(1, index[..., None].expand(-1, -1, x.shape[-1]))
