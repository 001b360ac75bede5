"""Batches of variable-length token sequences: padding, lengths, length bucketing.

Sorting by length within shuffled pools keeps padding low (about twice as fast as
mixed lengths on this CPU) while every epoch still sees a fresh order.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch
from torch import Tensor

POOL = 50  # batches per sorting pool


def pad_batch(seqs: Sequence[Sequence[int]], pad: int = 0) -> tuple[Tensor, Tensor]:
    """Token lists -> (batch, max_len) int64 padded with `pad`, and lengths (batch,)."""
    lengths = torch.tensor([len(s) for s in seqs], dtype=torch.int64)
    tokens = torch.full((len(seqs), int(lengths.max())), pad, dtype=torch.int64)
    for i, s in enumerate(seqs):
        tokens[i, : len(s)] = torch.tensor(s, dtype=torch.int64)
    return tokens, lengths


def bucketed(
    seqs: Sequence[Sequence[int]],
    batch_size: int,
    seed: int,
    epoch: int,
    key: Callable[[int], int] | None = None,
) -> list[np.ndarray]:
    """Shuffled batches of similar lengths: shuffle, sort within pools, shuffle batches.

    `key(i)` is the length to sort item i by (default: len(seqs[i])).
    """
    rng = np.random.default_rng([seed, epoch])
    perm = rng.permutation(len(seqs))
    size = key or (lambda i: len(seqs[i]))
    pool = batch_size * POOL
    out: list[np.ndarray] = []
    for s in range(0, len(perm), pool):
        chunk = perm[s : s + pool]
        chunk = chunk[np.argsort([size(int(i)) for i in chunk], kind="stable")]
        out += [chunk[b : b + batch_size] for b in range(0, len(chunk), batch_size)]
    return [out[i] for i in rng.permutation(len(out))]
