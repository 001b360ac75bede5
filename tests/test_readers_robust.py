"""Every reader survives a faulty world: quotes, odd line ends, huge lines, bad bytes.

Each case gives either the right reading or one DataError that names the file and line.
"""

from __future__ import annotations

import gzip
import io
import json
import os
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from rnncli.config import load_recipe
from rnncli.data import tables
from rnncli.data import text as text_mod
from rnncli.data import vocab as vocab_mod
from rnncli.data.pairs import read_pairs
from rnncli.data.series import read_panel
from rnncli.data.tables import read_labelled
from rnncli.data.text import (
    MAX_LINE,
    Encoder,
    count_tokens,
    encode_file,
    iter_lines,
    read_chunks,
    read_lines,
)
from rnncli.data.vectors import load_vectors
from rnncli.data.vocab import UNK, Tokenizer, Vocab
from rnncli.errors import DataError

ODD_SEPARATORS = "\u2028\u2029\u0085\x0c\x1c\x1d\x1e\x0b"


def write(tmp: Path, name: str, data: str | bytes) -> Path:
    path = tmp / name
    path.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
    return path


def error(call, *args, **kwargs) -> str:
    with pytest.raises(DataError) as info:
        result = call(*args, **kwargs)
        if not isinstance(result, (list, tuple, dict, Counter)):
            list(result)  # a generator: run it
    message = str(info.value)
    assert "\n" not in message
    return message


def labelled(path: Path, fmt: str = "auto", **kwargs) -> list[tuple[str, str]]:
    return read_labelled(path, fmt, "text", "label", True, "utf-8", **kwargs)


def panel_values(path: Path | io.IOBase, **kwargs) -> list[float]:
    return read_panel(path, **kwargs).series[0].targets[:, 0].tolist()  # type: ignore[arg-type]


# ----------------------------------------------------------------- 1. TSV without quoting


def test_tsv_cell_is_exactly_the_text_between_tabs(tmp_path: Path) -> None:
    rows = [
        ('"Great" fun', "pos"),
        ('"unclosed quote starts this', "neg"),
        ("plain", "pos"),
        ('say "hi"', "neg"),
        ('"', "pos"),
    ]
    body = "".join(f"{t}\t{label}\n" for t, label in rows)
    path = write(tmp_path, "r.tsv", "text\tlabel\n" + body)
    assert labelled(path) == rows  # five rows in, five rows out, texts as written
    # the same bytes `rnn classify` would read as its input lines
    assert [line.split("\t")[0] for line in read_lines(path)][1:] == [t for t, _ in rows]


def test_quoted_tsv_and_unquoted_csv_by_data_quoting(tmp_path: Path) -> None:
    quoted = write(tmp_path, "q.tsv", 'text\tlabel\n"a\ttab\nand newline"\tx\n"b ""q"""\ty\n')
    assert labelled(quoted, quoting="csv") == [("a\ttab\nand newline", "x"), ('b "q"', "y")]
    assert labelled(quoted) == [('"a', "tab"), ('and newline"', "x"), ('"b ""q"""', "y")]
    plain = write(tmp_path, "p.csv", 'text,label\n"Great" fun,x\n')
    assert labelled(plain, quoting="none") == [('"Great" fun', "x")]
    assert labelled(plain) == [("Great fun", "x")]  # standard CSV quoting stays for CSV
    assert "data.quoting" in error(labelled, plain, quoting="sometimes")


def test_csv_records_spanning_lines_keep_file_line_numbers(tmp_path: Path) -> None:
    path = write(tmp_path, "m.csv", 'text,label\n"two\nlines",a\nok,b\n,c\n')
    message = error(labelled, path)
    assert f"empty text ({path}, line 5)" in message


def test_csv_errors_are_data_errors_with_the_line(tmp_path: Path) -> None:
    unclosed = write(tmp_path, "u.csv", 'text,label\nfine,a\n"never closed,b\n' + "x,c\n" * 10)
    assert labelled(unclosed.with_name("u.csv"), quoting="none")[0] == ("fine", "a")
    # the unclosed quote swallows the file: one error naming where the record started
    small = write(tmp_path, "s.csv", 'text,label\nfine,a\n"never closed,b\n')
    message = error(labelled, small)
    assert str(small) in message and "line 3" in message
    huge = write(tmp_path, "h.csv", 'text,label\n"open\n' + ("y" * 1000 + "\n") * 1100)
    message = error(labelled, huge)
    assert "from line 2" in message and "quote" in message and str(huge) in message
    lone_cr = write(tmp_path, "cr.csv", "text,label\nfine,a\nbad\rcell,b\n")
    message = error(labelled, lone_cr)
    assert str(lone_cr) in message and "line 3" in message


def test_recipe_key_data_quoting(tmp_path: Path) -> None:
    from rnncli.errors import RecipeError
    from rnncli.tasks.classify.task import read_rows

    path = write(tmp_path, "q.tsv", 'text\tlabel\n"a b"\tx\n')
    recipe = write(tmp_path, "r.yaml", f"task: classify\ndata: {{train: {path}}}\n")
    spec = load_recipe(recipe)
    assert spec.data.quoting == "auto"  # type: ignore[union-attr]
    assert read_rows(path, spec.data) == [('"a b"', "x")]
    quoted = load_recipe(recipe, ["data.quoting=csv"])
    assert read_rows(path, quoted.data) == [("a b", "x")]
    with pytest.raises(RecipeError, match="quoting"):
        load_recipe(recipe, ["data.quoting=maybe"])
    for task, extra in (("forecast", ""), ("translate", "")):
        spec = load_recipe(write(tmp_path, f"{task}.yaml", f"task: {task}\ndata: {{train: x}}\n"))
        assert spec.data.quoting == ("auto" if task == "forecast" else "none"), extra  # type: ignore[union-attr]


def test_translation_pairs_and_series_tsv_are_not_quoted(tmp_path: Path) -> None:
    pairs = write(tmp_path, "p.tsv", '"Hi" there\t"Salut" toi\n"open\tquote\nnext\tsuivant\n')
    assert read_pairs(str(pairs)) == [
        ('"Hi" there', '"Salut" toi'),
        ('"open', "quote"),
        ("next", "suivant"),
    ]
    quoted = write(tmp_path, "q.tsv", '"a\tb"\tc\n')
    assert read_pairs(str(quoted), quoting="csv") == [("a\tb", "c")]
    series = write(tmp_path, "s.tsv", 'id\tday\ty\n"a\t2020-01-01\t1\n"a\t2020-01-02\t2\n')
    panel = read_panel(series, id_column="id")
    assert [s.id for s in panel.series] == ['"a']


# ----------------------------------------------------------------- 2. lines end at \n only


def test_jsonl_with_unicode_line_separators_inside_strings(tmp_path: Path) -> None:
    rows = [{"text": f"a{sep}b", "label": "x"} for sep in ODD_SEPARATORS]
    body = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
    path = write(tmp_path, "d.jsonl", body + '{"text": "ok", "label": "y"}\r\nnot json\n')
    message = error(labelled, path)
    assert f"not valid JSON ({path}, line {len(rows) + 2})" in message
    good = write(tmp_path, "g.jsonl", body)
    assert labelled(good) == [(f"a{sep}b", "x") for sep in ODD_SEPARATORS]


def test_line_readers_split_on_newline_and_crlf_only(tmp_path: Path) -> None:
    lines = [f"one{sep}two" for sep in ODD_SEPARATORS] + ["", "last"]
    path = write(tmp_path, "l.txt", "\r\n".join(lines))
    assert list(read_lines(path)) == lines
    pairs = write(tmp_path, "p.tsv", "".join(f"{line}\tx{i}\r\n" for i, line in enumerate(lines)))
    assert read_pairs(str(pairs)) == [
        (line, f"x{i}") for i, line in enumerate(lines) if line.strip()
    ]
    texts = [x for x in lines if x]
    table = write(tmp_path, "t.tsv", "text\tlabel\r\n" + "".join(f"{x}\tL\r\n" for x in texts))
    assert labelled(table) == [(x, "L") for x in texts]


# ----------------------------------------------------------------- 3. bounded memory


class Endless(io.RawIOBase):
    """A stream of `byte` that never ends; counts what was read."""

    def __init__(self, head: bytes, byte: bytes) -> None:
        self.head, self.byte, self.read_bytes = head, byte, 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # type: ignore[no-untyped-def]
        n = len(buffer)
        data = (self.head + self.byte * n)[:n]
        self.head = self.head[len(data) :]
        buffer[:n] = data
        self.read_bytes += n
        return n


def test_an_endless_line_is_one_error_read_in_bounded_memory() -> None:
    raw = Endless(b"ok\n", b"a")
    message = error(iter_lines, io.BufferedReader(raw), "stream")
    assert message.startswith(f"line 2 is longer than {MAX_LINE:,} characters (stream)")
    assert raw.read_bytes < MAX_LINE + 4 * text_mod.LINE_BLOCK + io.DEFAULT_BUFFER_SIZE


def test_overlong_lines_in_every_line_reader(tmp_path: Path) -> None:
    long = "x" * (MAX_LINE + 1)
    path = write(tmp_path, "long.tsv", f"text\tlabel\n{long}\ta\n")
    assert f"line 2 is longer than {MAX_LINE:,} characters ({path})" in error(labelled, path)
    assert "line 2 is longer" in error(read_pairs, str(path))
    assert "line 2 is longer" in error(read_panel, path)
    assert "line 2 is longer" in error(read_lines, path)
    exact = write(tmp_path, "exact.txt", "y" * MAX_LINE + "\r\n")  # the limit itself is fine
    assert [len(x) for x in read_lines(exact)] == [MAX_LINE]


def test_one_line_corpus_is_read_in_bounded_chunks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(text_mod, "CHUNK_BYTES", 64)
    words = " ".join(f"w{i % 37}" for i in range(3000))  # one line, no newline at all
    path = write(tmp_path, "one.txt", words)
    chunks = list(read_chunks(path))
    assert "".join(chunks) == words
    assert len(chunks) > 10 and max(len(c) for c in chunks) <= 2 * 64
    assert all(c[-1].isspace() for c in chunks[:-1])  # cut after a space: words stay whole
    word = Tokenizer("word")
    assert count_tokens(path, word, "utf-8") == Counter(words.split())
    assert count_tokens(path, Tokenizer("char"), "utf-8") == Counter(words)
    solid = write(tmp_path, "solid.txt", "é" * 1000)  # no whitespace: cut between code points
    chunks = list(read_chunks(solid))
    assert "".join(chunks) == "é" * 1000 and max(len(c) for c in chunks) <= 2 * 64
    ids = encode_file(
        path,
        Encoder(Vocab.from_counts(Counter(words)), Tokenizer("char")),
        tmp_path / "c" / "ids",
        "utf-8",
    )
    assert len(ids) == len(words)


# ----------------------------------------------------------------- 4. series


def test_series_gap_that_would_make_a_huge_grid_is_refused(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "gap.csv",
        "time,value\n2020-01-01 00:00:00,1\n2020-01-01 00:00:01,2\n2021-07-01 00:00:01,3\n",
    )
    message = error(read_panel, path)
    assert str(path) in message and "2020-01-01 00:00:01 (line 3)" in message
    assert "2021-07-01 00:00:01 (line 4)" in message and "data.frequency" in message
    assert "fill the gap" in message
    # a modest grid (under a million steps) with gaps is still read and filled
    small = write(tmp_path, "ok.csv", "time,value\n2020-01-01,1\n2020-01-02,2\n2020-03-01,3\n")
    assert len(panel_values(small, missing="interpolate")) == 61


def test_series_streams_text_and_binary_inputs(tmp_path: Path) -> None:
    data = "\ufeffday,y\r\n2020-01-01,1\r\n2020-01-02,2\r\n\r\n2020-01-03,nan\r\n2020-01-04,4\r\n"
    expect = [1.0, 2.0, 3.0, 4.0]
    assert panel_values(write(tmp_path, "s.csv", data), missing="interpolate") == expect
    assert panel_values(io.StringIO(data), missing="interpolate") == expect
    stream = io.TextIOWrapper(io.BytesIO(data.encode()), encoding="latin-1")
    assert panel_values(stream, missing="interpolate") == expect  # decoded as data.encoding
    assert "not a finite number" in error(
        read_panel, write(tmp_path, "i.csv", "day,y\n2020-01-01,1\n2020-01-02,inf\n")
    )


# ----------------------------------------------------------------- 5. vocabulary size


def test_vocabulary_size_is_capped(monkeypatch: pytest.MonkeyPatch) -> None:
    counts = Counter({f"w{i}": 1 + i % 3 for i in range(50)})
    monkeypatch.setattr(vocab_mod, "MAX_VOCAB", 20)
    message = error(Vocab.from_counts, counts)
    assert "51 tokens" in message and "data.max_size" in message and "data.min_freq" in message
    assert len(Vocab.from_counts(counts, max_size=20)) == 20
    assert len(Vocab.from_counts(counts, min_freq=3)) <= 20
    monkeypatch.setattr(vocab_mod, "MAX_VOCAB", 1000)
    monkeypatch.setattr(vocab_mod, "MAX_VOCAB_BYTES", 200)
    assert "bytes" in error(Vocab.from_counts, Counter({"x" * 300: 1}))
    monkeypatch.setattr(vocab_mod, "MAX_VOCAB", 10)
    assert "subword" in error(Tokenizer.train, ["a b c"], "bpe", 50)


def test_label_count_is_capped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tables, "MAX_LABELS", 3)
    path = write(tmp_path, "l.csv", "text,label\n" + "".join(f"t{i},l{i}\n" for i in range(5)))
    assert "data.label_column" in error(labelled, path)


# ----------------------------------------------------------------- 6. temporary files


def test_encode_file_temp_files_are_private_and_cleaned(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    corpus = write(tmp_path, "c.txt", "abc\n" * 10)
    out = tmp_path / "cache" / "train.ids"
    out.parent.mkdir()
    squatter = out.with_suffix(".ids.tmp")  # the old fixed name, taken by someone else
    squatter.write_bytes(b"not ours")
    encoder = Encoder(Vocab([UNK, "a", "b", "c", "\n"]), Tokenizer("char"))
    assert encode_file(corpus, encoder, out, "utf-8").tolist()[:4] == [1, 2, 3, 4]
    assert squatter.read_bytes() == b"not ours"
    assert sorted(os.listdir(out.parent)) == ["train.ids", "train.ids.tmp"]

    def interrupted(_text: str) -> np.ndarray:
        raise KeyboardInterrupt

    monkeypatch.setattr(encoder, "encode", interrupted)
    with pytest.raises(KeyboardInterrupt):
        encode_file(corpus, encoder, tmp_path / "cache" / "valid.ids", "utf-8")
    empty = write(tmp_path, "e.txt", "")
    with pytest.raises(DataError, match="empty"):
        encode_file(empty, encoder, tmp_path / "cache" / "test.ids", "utf-8")
    assert sorted(os.listdir(out.parent)) == ["train.ids", "train.ids.tmp"]


# ----------------------------------------------------------------- 7. faulty files


def _readers(path: Path) -> dict[str, object]:
    """Each reader's way of reading `path` (errors are DataErrors to check by the caller)."""
    return {
        "tsv": lambda: labelled(path, "tsv"),
        "csv": lambda: labelled(path, "csv"),
        "jsonl": lambda: labelled(path, "jsonl"),
        "pairs": lambda: read_pairs(str(path)),
        "series": lambda: read_panel(path),
        "lines": lambda: list(read_lines(path)),
        "vectors": lambda: load_vectors(path, {"a": 1}, 2),
        "corpus": lambda: count_tokens(path, Tokenizer("char"), "utf-8"),
    }


GOOD_LINES = {  # two good lines of each reader's kind of file
    "tsv": "text\tlabel\nok\t1\n",
    "csv": "text,label\nok,1\n",
    "jsonl": '{"text": "ok", "label": 1}\n' * 2,
    "pairs": "a\tb\nc\td\n",
    "series": "day,y\n2020-01-01,1\n",
    "lines": "a\nb\n",
    "vectors": "a 1 2\nb 3 4\n",
    "corpus": "ab\ncd\n",
}
BINARY = bytes(range(128, 256)) * 4 + bytes(range(10))


@pytest.mark.parametrize(
    ("head", "bad", "line"),
    [
        (True, b"bad\x00x\n", 3),  # NUL
        (True, b"bad\xff\xfex\n", 3),  # not UTF-8
        (True, "caf\xe9\n".encode("latin-1"), 3),  # another encoding
        (False, BINARY, 1),  # a binary file
        (False, "text\tlabel\n".encode("utf-16"), 1),  # UTF-16 (with its BOM)
        (False, "text\tlabel\n".encode("utf-16-le"), 1),  # UTF-16 without a BOM: NULs
    ],
)
def test_bad_bytes_are_one_error_naming_file_and_line(
    tmp_path: Path, head: bool, bad: bytes, line: int
) -> None:
    for name in GOOD_LINES:
        path = write(tmp_path, f"{name}.txt", (GOOD_LINES[name].encode() if head else b"") + bad)
        read = _readers(path)[name]
        if name == "corpus" and b"\x00" in bad and b"\x80" not in bad and b"\xff" not in bad:
            # a language-model corpus is code points: NUL is one (any text round-trips)
            assert count_tokens(path, Tokenizer("char"), "utf-8")["\x00"] >= 1
            continue
        message = error(read)  # type: ignore[arg-type]
        assert str(path) in message, (name, message)
        assert f"line {line}" in message, (name, message)


def test_bom_crlf_and_empty_files(tmp_path: Path) -> None:
    table = write(tmp_path, "b.csv", "\ufefftext,label\r\nhello,a\r\n")
    assert labelled(table) == [("hello", "a")]
    assert labelled(write(tmp_path, "b.jsonl", '\ufeff{"text": "hi", "label": 1}\r\n')) == [
        ("hi", "1")
    ]
    assert read_pairs(str(write(tmp_path, "b.tsv", "\ufeffa\tb\r\n"))) == [("a", "b")]
    assert list(read_lines(write(tmp_path, "b.txt", "\ufeffx\r\ny"))) == ["x", "y"]
    corpus = write(tmp_path, "c.txt", "\ufeffab\r\n")
    assert count_tokens(corpus, Tokenizer("char"), "utf-8") == Counter("ab\r\n")
    rows, vectors = load_vectors(write(tmp_path, "v.txt", "\ufeffa 1 2\r\n"), {"a": 1}, 2)
    assert rows.tolist() == [1] and vectors.tolist() == [[1.0, 2.0]]
    empty = write(tmp_path, "empty.tsv", b"")
    for name, read in _readers(empty).items():
        if name in ("lines", "corpus"):
            assert not read()  # type: ignore[operator]
            continue
        assert "empty" in error(read) or "no " in error(read), name  # type: ignore[arg-type]
    only_bom = write(tmp_path, "bom.csv", "\ufeff")
    assert "empty" in error(labelled, only_bom)


def test_nan_and_infinity_in_labels_vectors_and_series(tmp_path: Path) -> None:
    for value in ("nan", "NaN", "inf", "-Infinity"):
        path = write(tmp_path, "n.csv", f"text,label\nfine,a\nbad,{value}\n")
        assert f"({path}, line 3)" in error(labelled, path)
    path = write(tmp_path, "n.jsonl", '{"text": "a", "label": 1}\n{"text": "b", "label": NaN}\n')
    assert f"({path}, line 2)" in error(labelled, path)
    path = write(tmp_path, "big.jsonl", '{"text": "a", "label": 1e999}\n')
    assert f"({path}, line 1)" in error(labelled, path)
    deep = write(tmp_path, "deep.jsonl", "[" * 100_000 + "]" * 100_000 + "\n")
    assert f"({deep}, line 1)" in error(labelled, deep)
    vec = write(tmp_path, "v.txt", "a nan 1\n")
    assert f"({vec}, line 1)" in error(load_vectors, vec, {"a": 1}, 2)
    series = write(tmp_path, "s.csv", "day,y\n2020-01-01,1\n2020-01-02,-inf\n2020-01-03,3\n")
    assert f"({series}, line 3" in error(read_panel, series)
    missing = write(tmp_path, "m.csv", "day,y\n2020-01-01,1\n2020-01-02,NaN\n2020-01-03,3\n")
    assert panel_values(missing, missing="interpolate") == [1.0, 2.0, 3.0]


def test_duplicate_headers_and_ragged_rows(tmp_path: Path) -> None:
    dup = write(tmp_path, "d.csv", "text,label,label\nhi,a,b\n")
    assert f"column 'label' appears twice in the header ({dup}, line 1)" in error(labelled, dup)
    other = write(tmp_path, "o.csv", "text,label,note,note\nhi,a,x,y\n")
    assert labelled(other) == [("hi", "a")]  # a repeated column nobody reads is harmless
    ragged = write(tmp_path, "r.tsv", "text\tlabel\nhi\ta\nno label\n")
    assert f"({ragged}, line 3)" in error(labelled, ragged)
    series = write(tmp_path, "s.csv", "day,y,y\n2020-01-01,1,2\n")
    assert "appears twice" in error(read_panel, series)
    jagged = write(tmp_path, "j.csv", "day,y\n2020-01-01,1\n2020-01-02,2,3\n")
    assert f"({jagged}, line 3)" in error(read_panel, jagged)


def test_corrupt_gzip_pairs_are_a_data_error(tmp_path: Path) -> None:
    good = gzip.compress(b"a\tb\n" * 1000)
    path = write(tmp_path, "p.tsv.gz", good[:40] + b"\x00" * 20 + good[60:])
    message = error(read_pairs, str(path))
    assert str(path) in message
    plain = write(tmp_path, "n.tsv.gz", b"plain text\n")
    assert f"cannot read {plain} (line 1)" in error(read_pairs, str(plain))
