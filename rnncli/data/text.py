"""Reading text: bounded-memory line and chunk readers, and corpora held as id arrays.

Lines end at "\\n" (a "\\r" before it is dropped) and nowhere else: str.splitlines()
also splits on U+2028, U+0085, form feeds and \\x1c-\\x1e, which are ordinary characters
inside a JSON string or a sentence, and would shift every later line number.

Line-oriented inputs (tables, sentence pairs, lines to classify or translate, seeds) hold
at most MAX_LINE characters of one line: a longer line is one error naming it, raised
without ever holding much more than the limit. Language-model corpora are read in chunks
of about CHUNK_BYTES cut at a line end, else at a whitespace, else anywhere (on a code
point), so even a corpus that is one 64 MB line trains in bounded memory.

A corpus is counted (vocabulary) and then encoded into a `numpy.memmap` of uint16/uint32
ids, two streaming passes whatever the file size.
"""

from __future__ import annotations

import codecs
import io
import os
import re
import stat
import sys
import tempfile
import zlib
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any, BinaryIO

import numpy as np

from rnncli.data.vocab import Tokenizer, Vocab
from rnncli.errors import DataError

CHUNK_BYTES = 8 << 20
LINE_BLOCK = 64 << 10
MAX_LINE = 1 << 20  # characters in one line (or one quoted CSV record) of a line input
BOM = "\ufeff"
_SPACE = re.compile(r"\s")

# (line number, byte offset in the file, byte offset in the line) -> error message
DecodeMessage = Callable[[int, int, int], str]


def open_input(path: Path, stream: bool = False) -> BinaryIO:
    """Open a data file for reading, with one clear error when it cannot be.

    Only a regular file is opened (data files are read more than once, and opening a FIFO
    with no writer would hang), unless `stream`: then a FIFO or device is read once, as
    it comes (`rnn classify <(command)`).
    """
    try:
        mode = os.stat(path).st_mode
        if stat.S_ISDIR(mode):
            raise IsADirectoryError
        if not stream and not stat.S_ISREG(mode):
            raise DataError(
                f"not a regular file ({path}): give a file (a FIFO or device cannot be read "
                "twice; pipe it to a file first)"
            )
        return open(path, "rb")
    except FileNotFoundError:
        raise DataError(f"file not found ({path}): check the path") from None
    except IsADirectoryError:
        raise DataError(f"expected a file, got a directory ({path})") from None
    except PermissionError:
        raise DataError(f"cannot read {path}: permission denied") from None
    except OSError as exc:  # a symlink loop, a name too long, an I/O error...
        raise DataError(f"cannot open {path}: {exc.strerror or exc}") from None


def incremental_decoder(encoding: str) -> codecs.IncrementalDecoder:
    try:
        return codecs.getincrementaldecoder(encoding)(errors="strict")
    except LookupError:
        raise DataError(f"unknown encoding {encoding!r} (data.encoding): try utf-8") from None


def too_long(number: int, where: str, limit: int = MAX_LINE) -> DataError:
    return DataError(
        f"line {number} is longer than {limit:,} characters ({where}): split it into shorter "
        "lines (is this a binary file?)"
    )


def nul_error(where: str, line: int) -> DataError:
    return DataError(
        f"NUL character ({where}, line {line}): this looks like a binary or UTF-16 file; "
        "give a text file or set data.encoding"
    )


def iter_lines(
    handle: IO[bytes] | IO[str],
    where: str,
    encoding: str = "utf-8",
    limit: int = MAX_LINE,
    message: DecodeMessage | None = None,
) -> Iterator[str]:
    """Lines of an open file or stream without their line ends, decoded as they come.

    Lines end at "\\n" only (and lose one "\\r" before it); a UTF-8 byte-order mark at the
    start is dropped. A line over `limit` characters, a NUL character or bytes that are not
    `encoding` are one DataError naming the line, raised after the good lines before it.
    Memory: one block plus at most `limit` characters, whatever the input.
    """
    if isinstance(handle, io.TextIOBase) and hasattr(handle, "buffer"):
        handle = handle.buffer  # e.g. sys.stdin: decode here, untranslated line ends
    binary = not isinstance(handle, io.TextIOBase)
    decoder = incremental_decoder(encoding) if binary else None
    read: Callable[[int], Any] = getattr(handle, "read1", None) or handle.read
    if message is None:

        def message(line: int, at: int, _in_line: int) -> str:
            return (
                f"{where} is not valid {encoding} (line {line}, byte {at}): re-encode it as "
                f"{encoding} or set data.encoding"
            )

    pieces: list[str] = []  # the line in progress
    size = number = offset = line_start = 0
    first = True
    while True:
        try:
            raw = read(LINE_BLOCK)
        except UnicodeDecodeError as exc:  # a text stream that decodes by itself
            raise DataError(message(number + 1, exc.start, exc.start)) from None
        except (OSError, EOFError, zlib.error) as exc:  # a truncated or corrupt .gz file
            raise DataError(f"cannot read {where} (line {number + 1}): {exc}") from None
        error: DataError | None = None
        if decoder is None:
            text = raw
        else:
            held = decoder.getstate()[0]
            try:
                text = decoder.decode(raw, final=not raw)
            except UnicodeDecodeError as exc:
                good = exc.object[: exc.start]
                try:
                    text = good.decode(encoding)
                except UnicodeDecodeError:
                    text = ""
                at = offset - len(held) + exc.start
                nl = good.rfind(b"\n")
                start = offset - len(held) + nl + 1 if nl >= 0 else line_start
                line = number + 1 + text.count("\n")
                error = DataError(message(line, at, at - start))
                raw = b""  # stop after the good lines
            nl = raw.rfind(b"\n")
            if nl >= 0:
                line_start = offset + nl + 1
            offset += len(raw)
        if first and text:
            first = False
            text = text.removeprefix(BOM)
        nul = text.find("\0")
        if nul >= 0:
            line = number + 1 + text.count("\n", 0, nul)
            error = nul_error(where, line)
            text = text[: text.rfind("\n", 0, nul) + 1]
        parts = text.split("\n")
        for part in parts[:-1]:
            number += 1
            if pieces:
                pieces.append(part)
                part, pieces, size = "".join(pieces), [], 0
            part = part[:-1] if part.endswith("\r") else part
            if len(part) > limit:
                raise too_long(number, where, limit)
            yield part
        if parts[-1]:
            pieces.append(parts[-1])
            size += len(parts[-1])
            if size > limit + 1:  # one more for a "\r" before the "\n"
                raise too_long(number + 1, where, limit)
        if error is not None:
            raise error
        if not raw:
            if pieces:
                last = "".join(pieces)
                last = last[:-1] if last.endswith("\r") else last
                if len(last) > limit:
                    raise too_long(number + 1, where, limit)
                yield last
            return


def read_lines(path: Path | str | None) -> Iterator[str]:
    """Lines of a UTF-8 file (None or '-': stdin) without line ends, read as they come.

    Bad UTF-8 is an error naming the line, raised after the good lines before it; so is a
    line of more than MAX_LINE characters (read without holding more than about that).
    """
    stdin = path is None or str(path) == "-"
    where = "stdin" if stdin else f"{path}"

    def message(line: int, _at: int, in_line: int) -> str:
        return f"{where} is not valid UTF-8 (line {line}, byte {in_line})"

    handle = sys.stdin.buffer if stdin else open_input(Path(str(path)), stream=True)
    try:
        yield from iter_lines(handle, where, "utf-8", message=message)
    finally:
        if not stdin:
            handle.close()


def read_chunks(path: Path, encoding: str = "utf-8") -> Iterator[str]:
    """Decoded text in chunks of about CHUNK_BYTES, each cut after a line end if the chunk
    has one, else after its last whitespace, else anywhere (between code points).

    Words stay whole (unless one is longer than a chunk); memory stays about two chunks.
    A UTF-8 byte-order mark at the start is dropped. A NUL is a character like any other
    here (a character model may learn it); a binary file fails to decode.
    """
    decoder = incremental_decoder(encoding)
    pending: list[str] = []  # text read but not yielded: never holds a "\n"
    size = offset = lines = 0
    first = True
    with open_input(path) as handle:
        while True:
            raw = handle.read(CHUNK_BYTES)
            held = decoder.getstate()[0]
            try:
                text = decoder.decode(raw, final=not raw)
            except UnicodeDecodeError as exc:
                line = lines + 1 + exc.object[: exc.start].count(b"\n")
                raise DataError(
                    f"file is not valid {encoding} (line {line} of {path}, "
                    f"byte {offset - len(held) + exc.start}): re-encode it or set data.encoding"
                ) from None
            offset += len(raw)
            if first and text:
                first = False
                text = text.removeprefix(BOM)
            if not raw:
                if pending or text:
                    yield "".join(pending) + text
                return
            cut = text.rfind("\n") + 1
            if cut:
                chunk = "".join(pending) + text[:cut] if pending else text[:cut]
                pending, size = ([text[cut:]], len(text) - cut) if cut < len(text) else ([], 0)
                lines += chunk.count("\n")
                yield chunk
                continue
            pending.append(text)
            size += len(text)
            if size >= CHUNK_BYTES:  # a line longer than a chunk
                joined = "".join(pending)
                space = _SPACE.search(joined[::-1])
                cut = len(joined) - space.start() if space else len(joined)
                pending, size = ([joined[cut:]], len(joined) - cut) if cut < size else ([], 0)
                yield joined[:cut]


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
    """Encode a file into a memory-mapped id array at `out` (written atomically).

    The ids go to a temporary file of an unpredictable name beside `out`, created
    exclusively (two runs never write the same one), removed on any failure or interrupt.
    """
    total = 0
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent)
    tmp = Path(name)
    try:
        with os.fdopen(fd, "wb") as handle:
            for chunk in read_chunks(path, encoding):
                ids = encoder.encode(chunk)
                handle.write(ids.tobytes())
                total += len(ids)
        if total == 0:
            raise DataError(f"no tokens in {path}: the file is empty")
        tmp.replace(out)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return np.memmap(out, dtype=encoder.dtype, mode="r", shape=(total,))


def open_encoded(out: Path, dtype: type) -> np.ndarray:
    return np.memmap(out, dtype=dtype, mode="r")
