"""Batches of variable-length token sequences: padding, lengths, length bucketing.

Sorting by length within shuffled pools keeps padding low (about twice as fast as
mixed lengths on this CPU) while every epoch still sees a fresh order. Prediction
(classify, translate, tag...) reads its input a few batches at a time (`chunks`), sorts
each group by length (`by_length`) and puts the results back in input order.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TypeVar

import numpy as np
import torch
from torch import Tensor

POOL = 50  # batches per sorting pool
T = TypeVar("T")


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


def chunks(items: Iterable[T], size: int) -> Iterator[list[T]]:
    """Consecutive lists of `size` items (the last may be shorter), read as they come."""
    chunk: list[T] = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def by_length(lengths: Sequence[int], batch_size: int) -> list[np.ndarray]:
    """Positions in batches of similar lengths (a stable sort): results go back by position."""
    order = np.argsort(np.asarray(lengths, dtype=np.int64), kind="stable")
    return [order[b : b + batch_size] for b in range(0, len(order), batch_size)]
