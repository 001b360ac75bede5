"""Sequence to sequence: a recurrent encoder, a bridge, a recurrent decoder, attention.

Shapes: B sentences, S source positions, T target positions, H = hidden_size, V vocab.

The encoder reads the source (packed: padding never enters the recurrence). A
bidirectional encoder has H/2 units each way, so its outputs and final states have H
units like the decoder. The bridge turns the encoder's final state into the decoder's
initial state. Attention (Luong et al. 2015) compares each decoder output with every
source position; padded positions get zero weight. With `attention: none` the final
state is the whole context: the fixed-length encoder-decoder of Sutskever et al.

With teacher forcing and no input feeding, the decoder runs as one fused call over the
whole target and attention is computed for all positions at once. Input feeding (the
last attentional state joins the next input) or a teacher-forcing ratio below 1 needs a
loop over time; it uses the cell functions on the same weights (`RecurrentStack.stepper`),
as does decoding, where the state is passed explicitly (`init_state`, `step`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from rnncli.models.recurrent import RecurrentStack, State

ATTENTIONS = ("none", "dot", "general", "additive")
BRIDGES = ("linear", "copy", "zero")


class Attention(nn.Module):
    """Scores of queries (B, T, H) against memory (B, S, H): dot, general or additive."""

    def __init__(self, kind: str, size: int) -> None:
        super().__init__()
        if kind not in ATTENTIONS[1:]:
            raise ValueError(f"unknown attention {kind!r}; choose one of {ATTENTIONS[1:]}")
        self.kind = kind
        self.query = nn.Linear(size, size, bias=False) if kind != "dot" else None
        self.key = nn.Linear(size, size) if kind == "additive" else None
        self.v = nn.Linear(size, 1, bias=False) if kind == "additive" else None

    def keys(self, memory: Tensor) -> Tensor:
        """What the scores compare against, computed once per source: (B, S, H)."""
        return self.key(memory) if self.key is not None else memory

    def forward(
        self, query: Tensor, memory: Tensor, keys: Tensor, mask: Tensor
    ) -> tuple[Tensor, Tensor]:
        """query (B, T, H), memory/keys (B, S, H), mask (B, S) true at real tokens.

        -> context (B, T, H), weights (B, T, S) summing to 1 over real positions.
        """
        if self.kind == "additive":
            assert self.query is not None and self.v is not None
            q = self.query(query)  # (B, T, H)
            scores = self.v(torch.tanh(q[:, :, None, :] + keys[:, None, :, :])).squeeze(-1)
        else:
            q = self.query(query) if self.query is not None else query
            scores = torch.bmm(q, keys.transpose(1, 2))  # (B, T, S)
        scores = scores.masked_fill(~mask[:, None, :], float("-inf"))
        weights = scores.softmax(dim=-1)
        return torch.bmm(weights, memory), weights


@dataclass
class DecoderState:
    """Everything one decoding step needs, batch first, so beams can reorder it."""

    layers: list[Any]  # per layer: h (B, H) or (h, c)
    feed: Tensor | None  # last attentional state (B, H) with input feeding
    memory: Tensor  # encoder outputs (B, S, H)
    keys: Tensor  # attention keys (B, S, H)
    mask: Tensor  # (B, S) true at real source tokens
    attention: Tensor | None = None  # weights of the last step (B, S)

    def select(self, index: Tensor) -> DecoderState:
        """The rows `index` (beam reordering, dropping finished sentences)."""

        def pick(x: Any) -> Any:
            if isinstance(x, tuple):
                return tuple(t.index_select(0, index) for t in x)
            return x.index_select(0, index)

        return DecoderState(
            layers=[pick(layer) for layer in self.layers],
            feed=None if self.feed is None else self.feed.index_select(0, index),
            memory=self.memory.index_select(0, index),
            keys=self.keys.index_select(0, index),
            mask=self.mask.index_select(0, index),
            attention=None if self.attention is None else self.attention.index_select(0, index),
        )


class Seq2Seq(nn.Module):
    def __init__(
        self,
        source_vocab: int,
        target_vocab: int,
        embedding_dim: int,
        hidden_size: int,
        num_layers: int = 1,
        cell: str = "gru",
        nonlinearity: str = "tanh",
        dropout: float = 0.0,
        bidirectional: bool = True,
        attention: str = "additive",
        input_feeding: bool = False,
        bridge: str = "linear",
        tie_embeddings: bool = False,
        share_embeddings: bool = False,
        pad_id: int = 1,
        learn_initial_state: bool = False,
    ) -> None:
        super().__init__()
        if attention not in ATTENTIONS:
            raise ValueError(f"unknown attention {attention!r}; choose one of {ATTENTIONS}")
        if bridge not in BRIDGES:
            raise ValueError(f"unknown bridge {bridge!r}; choose one of {BRIDGES}")
        if bidirectional and hidden_size % 2:
            raise ValueError("hidden_size must be even with a bidirectional encoder")
        if share_embeddings and source_vocab != target_vocab:
            raise ValueError("shared embeddings need one vocabulary for both sides")
        if attention == "none" and input_feeding:
            raise ValueError("input feeding needs attention")
        self.hidden_size = hidden_size
        self.input_feeding = input_feeding
        self.bridge_kind = bridge
        self.source_embedding = nn.Embedding(source_vocab, embedding_dim, padding_idx=pad_id)
        self.target_embedding = (
            self.source_embedding
            if share_embeddings
            else nn.Embedding(target_vocab, embedding_dim, padding_idx=pad_id)
        )
        directions = 2 if bidirectional else 1
        self.encoder = RecurrentStack(
            cell,
            embedding_dim,
            hidden_size // directions,
            num_layers,
            dropout,
            bidirectional,
            nonlinearity,
            learn_initial_state,
        )
        self.decoder = RecurrentStack(
            cell,
            embedding_dim + (hidden_size if input_feeding else 0),
            hidden_size,
            num_layers,
            dropout,
            False,
            nonlinearity,
        )
        self.bridge_h = nn.Linear(hidden_size, hidden_size) if bridge == "linear" else None
        self.bridge_c = (
            nn.Linear(hidden_size, hidden_size) if bridge == "linear" and cell == "lstm" else None
        )
        self.attention = Attention(attention, hidden_size) if attention != "none" else None
        self.combine = (
            nn.Linear(2 * hidden_size, hidden_size, bias=False) if self.attention else None
        )
        self.dropout = nn.Dropout(dropout)
        self.project = (
            nn.Linear(hidden_size, embedding_dim, bias=False)
            if tie_embeddings and embedding_dim != hidden_size
            else None
        )
        self.head = nn.Linear(embedding_dim if tie_embeddings else hidden_size, target_vocab)
        if tie_embeddings:
            self.head.weight = self.target_embedding.weight

    # ---------------------------------------------------------------- encoder
    def encode(self, source: Tensor, lengths: Tensor) -> DecoderState:
        """source (B, S) padded with pad_id, lengths (B,) -> the decoder's initial state."""
        x = self.dropout(self.source_embedding(source))
        packed = pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
        out, final = self.encoder.rnn(
            packed, self.encoder.initial_state(source.shape[0], source.device)
        )
        memory, _ = pad_packed_sequence(out, batch_first=True, total_length=source.shape[1])
        mask = (
            torch.arange(source.shape[1], device=source.device)[None, :]
            < lengths.to(source.device)[:, None]
        )
        keys = self.attention.keys(memory) if self.attention is not None else memory
        layers = self._bridge(final)
        feed = memory.new_zeros(source.shape[0], self.hidden_size) if self.input_feeding else None
        return DecoderState(layers, feed, memory, keys, mask)

    def _bridge(self, final: State) -> list[Any]:
        """Encoder final state (layers * dirs, B, H/dirs) -> decoder per-layer state."""

        def merge(t: Tensor) -> Tensor:  # (layers * dirs, B, h) -> (layers, B, H)
            d = self.encoder.directions
            t = t.view(self.encoder.num_layers, d, t.shape[1], t.shape[2])
            return torch.cat(list(t.unbind(1)), dim=-1)

        if isinstance(final, tuple):
            h, c = merge(final[0]), merge(final[1])
        else:
            h, c = merge(final), None
        if self.bridge_kind == "zero":
            h = torch.zeros_like(h)
            c = None if c is None else torch.zeros_like(c)
        elif self.bridge_h is not None:
            h = torch.tanh(self.bridge_h(h))
            if c is not None and self.bridge_c is not None:
                c = self.bridge_c(c)
        if c is None:
            return list(h.unbind(0))
        return list(zip(h.unbind(0), c.unbind(0), strict=True))

    # ---------------------------------------------------------------- decoder
    def _output(
        self, out: Tensor, memory: Tensor, keys: Tensor, mask: Tensor
    ) -> tuple[Tensor, Tensor | None]:
        """Decoder outputs (B, T, H) -> attentional states (B, T, H), weights (B, T, S)."""
        if self.attention is None or self.combine is None:
            return out, None
        context, weights = self.attention(out, memory, keys, mask)
        return torch.tanh(self.combine(torch.cat([context, out], dim=-1))), weights

    def _logits(self, hidden: Tensor) -> Tensor:
        hidden = self.dropout(hidden)
        if self.project is not None:
            hidden = self.project(hidden)
        return self.head(hidden)

    def forward(
        self,
        source: Tensor,
        lengths: Tensor,
        target_in: Tensor,
        teacher_forcing: float = 1.0,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        """Training: target_in (B, T) starts with <bos> -> logits (B, T, V).

        teacher_forcing < 1 feeds the model's own previous guess with probability
        1 - teacher_forcing per token (scheduled sampling).
        """
        state = self.encode(source, lengths)
        if teacher_forcing >= 1.0 and not self.input_feeding:
            emb = self.dropout(self.target_embedding(target_in))
            out, _ = self.decoder.rnn(emb, self.decoder.join_state(state.layers))
            hidden, _ = self._output(out, state.memory, state.keys, state.mask)
            return self._logits(hidden)
        if teacher_forcing >= 1.0:  # input feeding: a loop over time, but only the cell
            return self._logits(self._fed_states(state, target_in))
        step = self.stepper()
        logits: list[Tensor] = []
        tokens = target_in[:, 0]
        for t in range(target_in.shape[1]):
            if t > 0:
                tokens = target_in[:, t]
                if teacher_forcing < 1.0:
                    own = logits[-1].detach().argmax(-1)
                    keep = torch.rand(tokens.shape, generator=generator, device=tokens.device)
                    tokens = torch.where(keep < teacher_forcing, tokens, own)
            step_logits, state = step(tokens, state)
            logits.append(step_logits)
        return torch.stack(logits, dim=1)

    def _fed_states(self, state: DecoderState, target_in: Tensor) -> Tensor:
        """Teacher-forced input feeding -> attentional states (B, T, H). What `stepper`
        computes token by token, with the embeddings looked up before the loop and the
        output layer left to one product over all steps after it (the loop holds only
        the cell and the attention)."""
        assert state.feed is not None
        cell = self.decoder.stepper()
        emb = self.dropout(self.target_embedding(target_in))
        layers, feed = state.layers, state.feed
        states: list[Tensor] = []
        for t in range(target_in.shape[1]):
            out, layers = cell(torch.cat([emb[:, t], feed], dim=-1), layers)
            feed = self._output(out[:, None], state.memory, state.keys, state.mask)[0][:, 0]
            states.append(feed)
        return torch.stack(states, dim=1)

    def stepper(self) -> Callable[[Tensor, DecoderState], tuple[Tensor, DecoderState]]:
        """step(tokens (B,), state) -> logits (B, V), new state: one target token."""
        cell = self.decoder.stepper()

        def step(tokens: Tensor, state: DecoderState) -> tuple[Tensor, DecoderState]:
            x = self.dropout(self.target_embedding(tokens))
            if state.feed is not None:
                x = torch.cat([x, state.feed], dim=-1)
            out, layers = cell(x, state.layers)
            hidden, weights = self._output(out[:, None], state.memory, state.keys, state.mask)
            hidden = hidden[:, 0]
            new = DecoderState(
                layers,
                hidden if self.input_feeding else None,
                state.memory,
                state.keys,
                state.mask,
                None if weights is None else weights[:, 0],
            )
            return self._logits(hidden), new

        return step
