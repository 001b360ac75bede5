"""Text corpora held as compact integer arrays (memory-mapped), never as lists of tokens.

Two streaming passes over the file: count tokens (vocabulary), then encode into a
`numpy.memmap` of uint16/uint32 ids. Memory stays bounded whatever the file size.
"""

from __future__ import annotations

import codecs
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import numpy as np

from rnncli.data.vocab import Tokenizer, Vocab
from rnncli.errors import DataError

CHUNK_BYTES = 8 << 20


def open_input(path: Path) -> BinaryIO:
    """Open a data file for reading, with one clear error when it cannot be."""
    try:
        return open(path, "rb")
    except FileNotFoundError:
        raise DataError(f"file not found ({path}): check the path") from None
    except IsADirectoryError:
        raise DataError(f"expected a file, got a directory ({path})") from None


def read_lines(path: Path | None) -> Iterator[str]:
    """Lines of a UTF-8 file (None or '-': stdin) without line ends, read as they come.

    Bad UTF-8 is an error naming the line, raised after the good lines before it.
    """
    stdin = path is None or str(path) == "-"
    where = "stdin" if stdin else f"{path}"
    handle = sys.stdin.buffer if stdin else open_input(Path(str(path)))
    try:
        for number, raw in enumerate(handle, start=1):
            try:
                yield raw.decode("utf-8").rstrip("\r\n")
            except UnicodeDecodeError as exc:
                raise DataError(
                    f"{where} is not valid UTF-8 (line {number}, byte {exc.start})"
                ) from None
    finally:
        if not stdin:
            handle.close()


def read_chunks(path: Path, encoding: str = "utf-8") -> Iterator[str]:
    """Decoded text in chunks of about 8 MB, cut only at line ends (so words stay whole)."""
    try:
        decoder = codecs.getincrementaldecoder(encoding)(errors="strict")
    except LookupError:
        raise DataError(f"unknown encoding {encoding!r} (data.encoding): try utf-8") from None
    handle = open_input(path)
    offset, carry = 0, ""
    with handle:
        while True:
            raw = handle.read(CHUNK_BYTES)
            try:
                text = decoder.decode(raw, final=not raw)
            except UnicodeDecodeError as exc:
                at = offset + exc.start
                raise DataError(
                    f"file is not valid {encoding} ({path}, byte {at}): "
                    "re-encode it or set data.encoding"
                ) from None
            offset += len(raw)
            text = carry + text
            if not raw:
                if text:
                    yield text
                return
            cut = text.rfind("\n") + 1
            carry = text[cut:]
            if cut:
                yield text[:cut]


def _codepoints(text: str) -> np.ndarray:
    return np.frombuffer(text.encode("utf-32-le"), dtype="<u4")


def count_tokens(path: Path, tokenizer: Tokenizer, encoding: str) -> Counter[str]:
    """Token frequencies of a file, streamed."""
    counts: Counter[str] = Counter()
    for chunk in read_chunks(path, encoding):
        if tokenizer.lowercase:
            chunk = chunk.lower()
        if tokenizer.kind == "char":
            uniq, freq = np.unique(_codepoints(chunk), return_counts=True)
            for cp, n in zip(uniq.tolist(), freq.tolist(), strict=True):
                counts[chr(cp)] += n
        else:
            counts.update(tokenizer.split(chunk))
    return counts


class Encoder:
    """Maps text to ids quickly: a code-point lookup table for chars, a dict for words."""

    def __init__(self, vocab: Vocab, tokenizer: Tokenizer) -> None:
        self.vocab = vocab
        self.tokenizer = tokenizer
        self.dtype = np.uint16 if len(vocab) < 2**16 else np.uint32
        if tokenizer.kind == "char":
            singles = [(ord(t), i) for i, t in enumerate(vocab.tokens) if len(t) == 1]
            cps = np.array([cp for cp, _ in singles], dtype=np.uint32)
            order = np.argsort(cps)
            self._cps = cps[order]
            self._ids = np.array([i for _, i in singles], dtype=np.int64)[order]

    def encode(self, text: str) -> np.ndarray:
        """Ids of `text` (unknown tokens -> 0, `<unk>`), as a 1-D array."""
        if self.tokenizer.kind == "word":
            index = self.vocab.index
            ids = [index.get(t, 0) for t in self.tokenizer.split(text)]
            return np.asarray(ids, dtype=self.dtype)
        if self.tokenizer.lowercase:
            text = text.lower()
        cps = _codepoints(text)
        if len(self._cps) == 0:
            return np.zeros(len(cps), dtype=self.dtype)
        pos = np.searchsorted(self._cps, cps).clip(0, len(self._cps) - 1)
        found = self._cps[pos] == cps
        return np.where(found, self._ids[pos], 0).astype(self.dtype)

    def unknown(self, text: str) -> list[str]:
        """The distinct tokens of `text` that are not in the vocabulary."""
        index = self.vocab.index
        toks = self.tokenizer.split(text)
        return sorted({t for t in toks if t not in index})


def encode_file(path: Path, encoder: Encoder, out: Path, encoding: str) -> np.ndarray:
    """Encode a file into a memory-mapped id array at `out` (written atomically)."""
    total = 0
    tmp = out.with_suffix(out.suffix + ".tmp")
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(tmp, "wb") as handle:
        for chunk in read_chunks(path, encoding):
            ids = encoder.encode(chunk)
            handle.write(ids.tobytes())
            total += len(ids)
    if total == 0:
        tmp.unlink()
        raise DataError(f"no tokens in {path}: the file is empty")
    tmp.replace(out)
    return np.memmap(out, dtype=encoder.dtype, mode="r", shape=(total,))


def open_encoded(out: Path, dtype: type) -> np.ndarray:
    return np.memmap(out, dtype=dtype, mode="r")
