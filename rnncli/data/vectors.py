"""Pretrained word vectors from a local GloVe or word2vec *text* file.

GloVe: `word v1 v2 ... vd` per line. word2vec text: the same after a `count dim` header.
Only the rows of words in the vocabulary are kept, so a 1 GB file costs one pass and
(vocab x dim) floats; lines are read in bounded memory (`data.text.iter_lines`).
Binary word2vec files are refused (they are not text).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from rnncli.data.text import iter_lines, open_input
from rnncli.errors import DataError, excerpt


def init_embedding(weight: Any, path: Path, index: dict[str, int], lowercase: bool) -> None:
    """Copy the vocabulary's rows of a vectors file into an embedding weight (a torch
    tensor, vocab x dim), with a note of how many words were found; none is an error."""
    import torch

    rows, vectors = load_vectors(path, index, weight.shape[1], lowercase)
    n = len(index) - 1  # <unk> has no vector
    logging.getLogger("rnncli").info(
        "pretrained vectors: %d of %d words (%.1f%%) found in %s",
        len(rows),
        n,
        100.0 * len(rows) / max(n, 1),
        path,
    )
    if len(rows) == 0:
        raise DataError(f"no word of the vocabulary is in {path}: wrong file or lowercase?")
    with torch.no_grad():
        weight[torch.from_numpy(rows)] = torch.from_numpy(vectors)


def load_vectors(
    path: Path, index: dict[str, int], dim: int, lowercase: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """(rows, vectors): vocabulary ids found in the file and their vectors (float32).

    An exact match wins over a lower-cased one when the vocabulary is lower-cased.
    """
    found: dict[int, np.ndarray] = {}
    exact: set[int] = set()
    number = 0

    def message(line: int, at: int, _in_line: int) -> str:
        return (
            f"{path} is not valid UTF-8 (line {line}, byte {at}): is it a binary word2vec "
            "file? Convert it to text"
        )

    with open_input(path) as handle:
        for number, line in enumerate(iter_lines(handle, str(path), message=message), 1):
            _take(line, number, path, index, dim, lowercase, found, exact)
    if number == 0:
        raise DataError(f"no vectors in {path}: the file is empty")
    rows = np.array(sorted(found), dtype=np.int64)
    vectors = np.stack([found[i] for i in rows]) if len(rows) else np.zeros((0, dim), np.float32)
    return rows, vectors


def _take(
    line: str,
    number: int,
    path: Path,
    index: dict[str, int],
    dim: int,
    lowercase: bool,
    found: dict[int, np.ndarray],
    exact: set[int],
) -> None:
    parts = line.rstrip().split(" ")
    if len(parts) <= 1:
        return
    if number == 1 and len(parts) == 2 and all(p.isdigit() for p in parts):
        if int(parts[1]) != dim:
            raise DataError(_dim_error(path, int(parts[1]), dim))
        return  # word2vec header
    if len(parts) - 1 != dim:
        if number == 1:
            raise DataError(_dim_error(path, len(parts) - 1, dim))
        raise DataError(
            f"line has {len(parts) - 1} numbers, expected {dim} ({path}, line {number})"
        )
    word = parts[0]
    key = word.lower() if lowercase else word
    row = index.get(key)
    if row is None or row in exact:
        return
    if row in found and word != key:
        return  # keep the first lower-cased match
    try:
        vector = np.asarray(parts[1:], dtype=np.float32)
    except ValueError:
        raise DataError(f"not a number in the vector ({path}, line {number})") from None
    if not np.isfinite(vector).all():
        raise DataError(
            f"the vector of {excerpt(word)} holds NaN or infinity ({path}, line {number}): "
            "fix or remove the line"
        )
    found[row] = vector
    if word == key:
        exact.add(row)


def _dim_error(path: Path, got: int, want: int) -> str:
    return (
        f"the vectors in {path} have {got} dimensions but model.embedding_dim is {want}: "
        f"set model.embedding_dim: {got}"
    )
