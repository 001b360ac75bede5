"""Many-to-one: embedding, a recurrent stack over packed sequences, pooling, linear.

Packed sequences mean padding never reaches the recurrence, so a sentence gets the
same probabilities alone or in a batch with longer ones.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from rnncli.models.recurrent import RecurrentStack, State

POOLINGS = ("last", "mean", "max", "attention")


class Classifier(nn.Module):
    def __init__(
        self,
        vocab_size: int,
        num_classes: int,
        embedding_dim: int,
        hidden_size: int,
        num_layers: int = 1,
        cell: str = "lstm",
        nonlinearity: str = "tanh",
        dropout: float = 0.0,
        bidirectional: bool = True,
        pooling: str = "max",
        learn_initial_state: bool = False,
    ) -> None:
        super().__init__()
        if pooling not in POOLINGS:
            raise ValueError(f"unknown pooling {pooling!r}; choose one of {POOLINGS}")
        self.embedding = nn.Embedding(vocab_size, embedding_dim)  # packing hides padding
        self.rnn = RecurrentStack(
            cell,
            embedding_dim,
            hidden_size,
            num_layers,
            dropout,
            bidirectional,
            nonlinearity,
            learn_initial_state,
        )
        size = self.rnn.output_size
        self.pooling = pooling
        self.attention = nn.Linear(size, 1) if pooling == "attention" else None
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(size, num_classes)

    def forward(self, tokens: Tensor, lengths: Tensor) -> Tensor:
        """tokens (batch, time) padded with 0, lengths (batch,) -> logits (batch, classes)."""
        x = self.dropout(self.embedding(tokens))
        packed = pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
        out, state = self.rnn.rnn(packed, self.rnn.initial_state(tokens.shape[0], tokens.device))
        out, _ = pad_packed_sequence(out, batch_first=True, total_length=tokens.shape[1])
        return self.head(self.dropout(self._pool(out, state, lengths)))

    def _pool(self, out: Tensor, state: State, lengths: Tensor) -> Tensor:
        mask = (
            torch.arange(out.shape[1], device=out.device)[None, :] < lengths.to(out.device)[:, None]
        )
        if self.pooling == "last":
            h = state[0] if isinstance(state, tuple) else state
            h = h.view(self.rnn.num_layers, self.rnn.directions, h.shape[1], -1)[-1]
            return torch.cat(list(h), dim=-1)  # (batch, hidden * directions)
        if self.pooling == "mean":
            return (out * mask[..., None]).sum(1) / lengths.to(out.device)[:, None].clamp(min=1)
        if self.pooling == "max":
            return out.masked_fill(~mask[..., None], float("-inf")).max(dim=1).values
        assert self.attention is not None
        scores = self.attention(out).squeeze(-1).masked_fill(~mask, float("-inf"))
        return (scores.softmax(dim=1)[..., None] * out).sum(1)
