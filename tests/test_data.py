from __future__ import annotations

import itertools
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rnncli.data import text as text_mod
from rnncli.data.streams import StreamBatches
from rnncli.data.text import Encoder, count_tokens, encode_file, read_chunks
from rnncli.data.vocab import UNK, Tokenizer, Vocab
from rnncli.errors import DataError

UNICODE = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=200)


@given(UNICODE)
def test_char_tokens_round_trip_any_unicode(text: str) -> None:
    tok = Tokenizer("char")
    vocab = Vocab.from_counts(Counter(tok.split(text)))
    enc = Encoder(vocab, tok)
    ids = enc.encode(text)
    assert len(ids) == len(text)
    assert tok.join(vocab.tokens[i] for i in ids) == text


@given(st.lists(st.sampled_from(["the", "king", ",", ".", "\n", "don't", "(", "a"]), max_size=30))
def test_word_join_then_split_is_stable(tokens: list[str]) -> None:
    tok = Tokenizer("word")
    joined = tok.join(tokens)
    assert tok.split(tok.join(tok.split(joined))) == tok.split(joined)


def test_vocab_min_freq_max_size_and_unk() -> None:
    counts = Counter({"a": 5, "b": 3, "c": 1, "d": 1})
    assert Vocab.from_counts(counts, min_freq=2).tokens == [UNK, "a", "b"]
    assert Vocab.from_counts(counts, max_size=2).tokens == [UNK, "a"]
    enc = Encoder(Vocab([UNK, "a"]), Tokenizer("char"))
    assert enc.encode("abz").tolist() == [1, 0, 0]
    assert enc.unknown("abz") == ["b", "z"]


@settings(max_examples=25, deadline=None)
@given(UNICODE, st.integers(1, 16))
def test_chunked_reading_never_splits_text(tmp_path_factory, text: str, chunk: int) -> None:
    path = tmp_path_factory.mktemp("chunks") / "t.txt"
    path.write_bytes(text.encode("utf-8"))
    old = text_mod.CHUNK_BYTES
    text_mod.CHUNK_BYTES = chunk
    try:
        assert "".join(read_chunks(path)) == text.replace("\r\n", "\r\n")
    finally:
        text_mod.CHUNK_BYTES = old


def test_bad_encoding_names_file_and_byte(tmp_path: Path) -> None:
    path = tmp_path / "bad.txt"
    path.write_bytes(b"hello\nwor\xffld\n")
    with pytest.raises(DataError, match=r"not valid utf-8 \(.*bad.txt, byte 9\)"):
        list(read_chunks(path))


def test_missing_and_empty_files(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="not found"):
        list(read_chunks(tmp_path / "nope.txt"))
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    tok = Tokenizer("char")
    assert not count_tokens(empty, tok, "utf-8")
    with pytest.raises(DataError, match="empty"):
        encode_file(empty, Encoder(Vocab([UNK]), tok), tmp_path / "ids", "utf-8")


def test_encoded_corpus_is_memory_mapped(tmp_path: Path) -> None:
    path = tmp_path / "t.txt"
    path.write_text("hello world\n" * 10)
    tok = Tokenizer("char")
    vocab = Vocab.from_counts(count_tokens(path, tok, "utf-8"))
    ids = encode_file(path, Encoder(vocab, tok), tmp_path / "ids", "utf-8")
    assert isinstance(ids, np.memmap) and ids.dtype == np.uint16 and len(ids) == 120


def test_stream_batches_continue_rows_and_shift_targets() -> None:
    ids = np.arange(1000, dtype=np.uint16)
    batches = StreamBatches(ids, batch_size=4, seq_length=10, seed=3)
    got = list(batches(epoch=2))
    assert len(got) == batches.num_batches(2)
    for x, y in got:
        assert x.shape == (4, 10) and x.dtype.is_floating_point is False
        assert (y == x + 1).all()  # the target is the next token
    for (x0, _), (x1, _) in itertools.pairwise(got):
        assert (x1[:, 0] == x0[:, -1] + 1).all()  # row r of batch i+1 continues row r of batch i
    assert [b[0].tolist() for b in batches(2, start=3)] == [b[0].tolist() for b in got[3:]]


def test_stream_batches_offsets_vary_by_epoch_and_are_reproducible() -> None:
    ids = np.arange(5000, dtype=np.uint16)
    b = StreamBatches(ids, batch_size=2, seq_length=50, seed=1)
    firsts = {int(next(iter(b(e)))[0][0, 0]) for e in range(6)}
    assert len(firsts) > 1
    assert next(iter(b(4)))[0].tolist() == next(iter(b(4)))[0].tolist()
