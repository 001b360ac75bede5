"""Batches for truncated backpropagation through time over one contiguous token stream.

The stream is cut into `batch_size` parallel rows; batch i is columns
[i*T, (i+1)*T) of every row, so row r of batch i+1 continues row r of batch i and the
hidden state can be carried across batches. Each epoch starts at a random offset in
[0, T) (seeded by the epoch), so truncation boundaries move between epochs.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch


class StreamBatches:
    def __init__(
        self, ids: np.ndarray, batch_size: int, seq_length: int, seed: int = 0, shift: bool = True
    ) -> None:
        if batch_size < 1 or seq_length < 1:
            raise ValueError("batch_size and seq_length must be positive")
        self.ids = ids
        self.batch_size = batch_size
        self.seq_length = seq_length
        self.seed = seed
        self.shift = shift

    def _offset(self, epoch: int) -> int:
        if not self.shift:
            return 0
        return int(np.random.default_rng([self.seed, epoch]).integers(self.seq_length))

    def _rows(self, epoch: int) -> int:
        return (len(self.ids) - 1 - self._offset(epoch)) // self.batch_size

    def num_batches(self, epoch: int = 0) -> int:
        """Full batches in an epoch (a short tail is dropped; at least one if possible)."""
        rows = self._rows(epoch)
        if rows <= 0:
            return 0
        return max(1, rows // self.seq_length)

    def __call__(self, epoch: int, start: int = 0) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Yield (inputs, targets), each (batch, time) int64, from batch index `start`."""
        offset, rows = self._offset(epoch), self._rows(epoch)
        if rows <= 0:
            return
        length = min(self.seq_length, rows)
        span = self.ids[offset : offset + self.batch_size * rows + 1]
        x = np.lib.stride_tricks.as_strided(
            span, shape=(self.batch_size, rows), strides=(rows * span.strides[0], span.strides[0])
        )
        y = span[1:]
        y = np.lib.stride_tricks.as_strided(
            y, shape=(self.batch_size, rows), strides=(rows * y.strides[0], y.strides[0])
        )
        for i in range(start, self.num_batches(epoch)):
            cols = slice(i * length, (i + 1) * length)
            inputs = torch.from_numpy(x[:, cols].astype(np.int64))
            targets = torch.from_numpy(y[:, cols].astype(np.int64))
            yield inputs, targets
