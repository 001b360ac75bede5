"""One-to-many: an embedding, a recurrent stack and a softmax over the vocabulary."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch.nn.functional as F
from torch import Tensor, nn

from rnncli.models.recurrent import RecurrentStack, State


class LanguageModel(nn.Module):
    def __init__(
        self,
        vocab_size: int,
        embedding_dim: int,
        hidden_size: int,
        num_layers: int,
        cell: str = "lstm",
        nonlinearity: str = "tanh",
        dropout: float = 0.0,
        learn_initial_state: bool = False,
        tie_embeddings: bool = False,
    ) -> None:
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embedding_dim)
        self.rnn = RecurrentStack(
            cell,
            embedding_dim,
            hidden_size,
            num_layers=num_layers,
            dropout=dropout,
            nonlinearity=nonlinearity,
            learn_initial_state=learn_initial_state,
        )
        self.dropout = nn.Dropout(dropout)
        # Tied weights need the head's input to be embedding-sized: project when they differ.
        tie_proj = tie_embeddings and hidden_size != embedding_dim
        self.proj = nn.Linear(hidden_size, embedding_dim) if tie_proj else None
        self.head = nn.Linear(embedding_dim if tie_embeddings else hidden_size, vocab_size)
        if tie_embeddings:
            self.head.weight = self.embedding.weight

    def initial_state(self, batch: int) -> State:
        return self.rnn.initial_state(batch)

    def forward(self, tokens: Tensor, state: State | None = None) -> tuple[Tensor, State]:
        """tokens (batch, time) -> logits (batch, time, vocab), state."""
        x = self.dropout(self.embedding(tokens))
        out, state = self.rnn(x, state)
        return self._logits(self.dropout(out)), state

    def step(self, tokens: Tensor, layers: list[Any]) -> tuple[Tensor, list[Any]]:
        """tokens (batch,) -> logits (batch, vocab): O(1) work per new token.

        `layers` is the per-layer state (`self.rnn.split_state`), kept in that form
        between steps so nothing is stacked or split per token.
        """
        return self.stepper()(tokens, layers)

    def stepper(
        self, banned: int | None = None
    ) -> Callable[[Tensor, list[Any]], tuple[Tensor, list[Any]]]:
        """`step` with every weight bound once (generation calls it once per token).

        `banned`: a token id that gets probability 0 (its output bias is -inf), e.g. <unk>.
        """
        rnn_step = self.rnn.stepper()
        emb, weight, proj = self.embedding.weight, self.head.weight, self.proj
        bias: Tensor = self.head.bias
        if banned is not None:
            bias = bias.detach().clone()
            bias[banned] = -math.inf

        def step(tokens: Tensor, layers: list[Any]) -> tuple[Tensor, list[Any]]:
            out, layers = rnn_step(F.embedding(tokens, emb), layers)
            if proj is not None:
                out = proj(out)
            return F.linear(out, weight, bias), layers

        return step

    def _logits(self, out: Tensor) -> Tensor:
        if self.proj is not None:
            out = self.proj(out)
        return self.head(out)
