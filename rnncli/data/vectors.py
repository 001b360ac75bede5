"""Pretrained word vectors from a local GloVe or word2vec *text* file.

GloVe: `word v1 v2 ... vd` per line. word2vec text: the same after a `count dim` header.
Only the rows of words in the vocabulary are kept, so a 1 GB file costs one pass and
(vocab x dim) floats. Binary word2vec files are refused (they are not text).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from rnncli.data.text import read_chunks
from rnncli.errors import DataError


def load_vectors(
    path: Path, index: dict[str, int], dim: int, lowercase: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """(rows, vectors): vocabulary ids found in the file and their vectors (float32).

    An exact match wins over a lower-cased one when the vocabulary is lower-cased.
    """
    found: dict[int, np.ndarray] = {}
    exact: set[int] = set()
    number = 0
    pending = ""
    try:
        chunks = read_chunks(path, "utf-8")
        for chunk in chunks:
            lines = (pending + chunk).split("\n")
            pending = lines.pop()
            for line in lines:
                number += 1
                _take(line, number, path, index, dim, lowercase, found, exact)
        if pending:
            _take(pending, number + 1, path, index, dim, lowercase, found, exact)
    except DataError as exc:
        if "not UTF-8" in str(exc):
            raise DataError(
                f"{exc} — is {path} a binary word2vec file? Convert it to text"
            ) from None
        raise
    if number == 0 and not pending:
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
        found[row] = np.asarray(parts[1:], dtype=np.float32)
    except ValueError:
        raise DataError(f"not a number in the vector ({path}, line {number})") from None
    if word == key:
        exact.add(row)


def _dim_error(path: Path, got: int, want: int) -> str:
    return (
        f"the vectors in {path} have {got} dimensions but model.embedding_dim is {want}: "
        f"set model.embedding_dim: {got}"
    )
