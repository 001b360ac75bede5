"""Sentence pairs for translation: a TSV (optionally gzip) or two line-aligned files.

Lines end at "\\n" only and are read in bounded memory (`data.text.iter_lines`).
"""

from __future__ import annotations

import gzip
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from rnncli.data.tables import delimited_rows
from rnncli.data.text import incremental_decoder, iter_lines, open_input
from rnncli.errors import DataError

log = logging.getLogger("rnncli")


def _lines(path: Path, encoding: str) -> Iterator[str]:
    """Lines without line ends (see `iter_lines`); .gz files are decompressed as read."""
    raw: Any = open_input(path)
    with raw:
        if path.suffix == ".gz":
            raw = gzip.GzipFile(fileobj=raw)
        yield from iter_lines(raw, str(path), encoding)


def read_pairs(
    spec: str | dict[str, str],
    source_column: int = 0,
    target_column: int = 1,
    encoding: str = "utf-8",
    reverse: bool = False,
    quoting: str = "none",
) -> list[tuple[str, str]]:
    """(source, target) pairs of a TSV path or {source: path, target: path}.

    A TSV cell is the text between two tabs (`quoting: csv` reads quoted TSV files).
    Blank lines and pairs with an empty side are skipped (counted in the log); a TSV
    line without the needed columns is an error naming it.
    """
    incremental_decoder(encoding)  # an unknown encoding fails before any file is read
    if isinstance(spec, dict):
        src_path, tgt_path = Path(spec["source"]), Path(spec["target"])
        src = list(_lines(src_path, encoding))
        tgt = list(_lines(tgt_path, encoding))
        if len(src) != len(tgt):
            raise DataError(
                f"{src_path} has {len(src)} lines but {tgt_path} has {len(tgt)}: "
                "the two files must be line-aligned"
            )
        pairs = list(zip(src, tgt, strict=True))
        where = f"{src_path} + {tgt_path}"
    else:
        path = Path(spec)
        where = str(path)
        need = max(source_column, target_column) + 1
        pairs = []
        for number, cells in delimited_rows(_lines(path, encoding), "\t", quoting, where):
            if not any(c.strip() for c in cells):
                continue
            if len(cells) < need:
                raise DataError(
                    f"{path}, line {number}: {len(cells)} tab-separated column(s), need {need} "
                    f"(source column {source_column}, target column {target_column})"
                )
            pairs.append((cells[source_column], cells[target_column]))
    kept = [(s.strip(), t.strip()) for s, t in pairs if s.strip() and t.strip()]
    if len(kept) < len(pairs):
        log.info("%s: skipped %d pair(s) with an empty side", where, len(pairs) - len(kept))
    if not kept:
        raise DataError(f"{where} holds no sentence pairs")
    if reverse:
        kept = [(t, s) for s, t in kept]
    return kept


def filter_words(pairs: list[tuple[str, str]], max_words: int | None) -> list[tuple[str, str]]:
    """Pairs whose sides both have at most `max_words` whitespace-separated words."""
    if max_words is None:
        return pairs
    return [(s, t) for s, t in pairs if len(s.split()) <= max_words and len(t.split()) <= max_words]


def dedupe(pairs: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Drop exact repeats (first kept), so a held-out pair is never also a training pair."""
    return list(dict.fromkeys(pairs))


def hold_out(n: int, sizes: list[int], seed: int) -> tuple[list[int], list[list[int]]]:
    """Random disjoint index sets of the given sizes, and the rest (all sorted)."""
    if sum(sizes) >= n:
        raise DataError(
            f"cannot hold out {' + '.join(map(str, sizes))} pairs of {n}: "
            "lower data.valid_size / data.test_size"
        )
    perm = np.random.default_rng(seed).permutation(n)
    out, at = [], 0
    for size in sizes:
        out.append(sorted(perm[at : at + size].tolist()))
        at += size
    return sorted(perm[at:].tolist()), out


def hold_out_by_source(
    sources: list[str], sizes: list[int], seed: int
) -> tuple[list[int], list[list[int]], int]:
    """Held-out sets of pairs whose source sentences never occur in the rest.

    Random distinct source sentences, one pair each (its first); the other pairs of a
    held-out source are dropped. Returns the kept training indices, the held-out index
    sets (all sorted) and the number of dropped pairs.
    """
    first: dict[str, int] = {}
    for i, source in enumerate(sources):
        first.setdefault(source.strip(), i)
    unique = list(first.values())
    if sum(sizes) >= len(unique):
        raise DataError(
            f"cannot hold out {' + '.join(map(str, sizes))} source sentences of "
            f"{len(unique)}: lower data.valid_size / data.test_size"
        )
    perm = np.random.default_rng(seed).permutation(len(unique))
    out, at = [], 0
    for size in sizes:
        out.append(sorted(unique[j] for j in perm[at : at + size]))
        at += size
    held = {sources[i].strip() for part in out for i in part}
    train = [i for i, s in enumerate(sources) if s.strip() not in held]
    return train, out, len(sources) - len(train) - at


def tsv_bytes(pairs: list[tuple[str, str]]) -> bytes:
    """`source<TAB>target` lines of `pairs` (a tab inside a side becomes a space)."""
    return "".join(
        f"{s.replace(chr(9), ' ')}\t{t.replace(chr(9), ' ')}\n" for s, t in pairs
    ).encode("utf-8")
