"""Fuzz targets shared by tests/test_fuzz.py (a few hundred inputs each, in CI) and
benchmarks/fuzz.py (the same targets, many more inputs, counted).

A target takes one generated input and feeds it to a reader, the recipe loader, a
tokenizer or the checkpoint loader. It may succeed or raise an `RnnCliError` (one clear
line for the user); any other exception is a bug. Where an input is well formed by
construction, the target also checks what was read against what was written.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from hypothesis import strategies as st

from rnncli.errors import RnnCliError

WORK = Path(tempfile.mkdtemp(prefix="rnncli-fuzz-"))
# characters that break naive readers: quotes, separators, every line-ish break, BOM, NUL
NASTY = "\"',\t\n\r\x00\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029\ufeff \\{}[]:#-é漢🙂"
CELL = st.text(alphabet=st.sampled_from(list(NASTY) + list("abcxyz019.")), max_size=12)
SAFE_CELL = st.text(alphabet=st.sampled_from(list("abcxyz019 .é漢🙂'\"\\{}[]:#-")), max_size=12)
RAW = st.one_of(
    st.binary(max_size=600),
    st.text(max_size=300).map(lambda t: t.encode("utf-8", "surrogatepass")),
    st.lists(CELL, max_size=30).map(lambda cells: "".join(cells).encode("utf-8")),
)


def _write(name: str, data: bytes) -> Path:
    path = WORK / name
    path.write_bytes(data)
    return path


def _guard(run: Callable[[], Any]) -> Any:
    """Run a reader: its value, or None when it refused the input with an RnnCliError."""
    try:
        return run()
    except RnnCliError as exc:
        message = str(exc)
        assert message and "\n" not in message, repr(message)
        assert len(message) < 2000, message[:200]
        return None


# ------------------------------------------------------------------------ recipes
KEYS = ["task", "data", "model", "training", "output", "train", "hidden_size", "lr", "cell"]
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**12), 10**12),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(["generate", "classify", "forecast", "translate", "lstm", "x.txt"]),
    CELL,
)
YAML_VALUE = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.sampled_from(KEYS) | CELL, inner, max_size=4),
    ),
    max_leaves=20,
)
RECIPE = st.one_of(
    st.dictionaries(st.sampled_from(KEYS), YAML_VALUE, max_size=6).map(
        lambda d: yaml.safe_dump(d, allow_unicode=True).encode("utf-8")
    ),
    RAW,
)


def recipe_target(data: bytes) -> None:
    from rnncli.config import load_recipe

    _guard(lambda: load_recipe(_write("recipe.yaml", data)))


# ------------------------------------------------------------------- text corpora
def lines_target(data: bytes) -> None:
    """`read_lines` (what classify/translate/generate read): lines split on \\n only."""
    from rnncli.data.text import read_lines

    lines = _guard(lambda: list(read_lines(_write("lines.txt", data))))
    if lines is None:
        return
    text = data.decode("utf-8")
    expected = text.removeprefix("\ufeff").split("\n")
    if expected and expected[-1] == "":
        expected.pop()
    assert [line.removesuffix("\r") for line in expected] == [
        line.removesuffix("\r") for line in lines
    ]


def chunks_target(data: bytes) -> None:
    """`read_chunks` (language-model corpora): the chunks join back into the file."""
    from rnncli.data.text import read_chunks

    chunks = _guard(lambda: list(read_chunks(_write("corpus.txt", data))))
    if chunks is not None:
        assert "".join(chunks) == data.decode("utf-8").removeprefix("\ufeff")


# ------------------------------------------------------------------------ tables
ROWS = st.lists(st.tuples(SAFE_CELL, SAFE_CELL), min_size=1, max_size=8)


def table_target(args: tuple[str, bytes]) -> None:
    from rnncli.data.tables import read_labelled

    fmt, data = args
    _guard(lambda: read_labelled(_write(f"t.{fmt}", data), fmt, "text", "label", True, "utf-8"))


def tsv_round_trip_target(rows: list[tuple[str, str]]) -> None:
    """A TSV cell is exactly the text between tabs: quotes and backslashes stay as written."""
    from rnncli.data.tables import read_labelled

    body = "text\tlabel\n" + "".join(f"{t}\t{lab}\n" for t, lab in rows)
    read = _guard(
        lambda: read_labelled(_write("r.tsv", body.encode()), "tsv", "text", "label", True, "utf-8")
    )
    complete = [(t, lab.strip()) for t, lab in rows if t.strip() and lab.strip()]
    if len(complete) == len(rows):
        assert read == complete, (read, complete)
    else:
        assert read is None  # an empty text or label is an error naming its line


TABLE = st.tuples(
    st.sampled_from(["tsv", "csv", "jsonl"]),
    st.one_of(
        RAW,
        st.lists(st.lists(CELL, max_size=4), max_size=8).map(
            lambda rows: "\n".join("\t".join(r) for r in [["text", "label"], *rows]).encode()
        ),
        st.lists(
            st.dictionaries(st.sampled_from(["text", "label", "x"]), YAML_VALUE), max_size=6
        ).map(lambda objs: "\n".join(json.dumps(o) for o in objs).encode()),
    ),
)


# ------------------------------------------------------------------------ series
def _series_csv(parts: tuple[list[str], list[str]]) -> bytes:
    times, values = parts
    return ("t,y\n" + "".join(f"{t},{v}\n" for t, v in zip(times, values, strict=False))).encode()


TIMES = st.one_of(
    st.lists(st.dates().map(str), max_size=20),
    st.lists(st.integers(2000, 2030).map(lambda y: f"{y}-01-01"), max_size=20),
    st.lists(CELL, max_size=10),
)
VALUES = st.lists(
    st.one_of(st.floats(allow_nan=True, allow_infinity=True).map(str), CELL, st.just("")),
    max_size=20,
)
SERIES = st.one_of(RAW, st.tuples(TIMES, VALUES).map(_series_csv))


def series_target(data: bytes) -> None:
    from rnncli.data.series import read_panel

    _guard(lambda: read_panel(_write("s.csv", data)))


# ------------------------------------------------------------------------- pairs
PAIRS = st.one_of(
    RAW,
    st.lists(st.lists(CELL, max_size=3), max_size=10).map(
        lambda rows: "\n".join("\t".join(r) for r in rows).encode()
    ),
)


def pairs_target(data: bytes) -> None:
    from rnncli.data.pairs import read_pairs

    _guard(lambda: read_pairs(str(_write("p.tsv", data))))


# -------------------------------------------------------------------- tokenizers
_SUBWORD: dict[str, Any] = {}


def tokenizer_target(args: tuple[str, str]) -> None:
    """Every tokenizer splits any text; chars join back exactly; words hold no space
    (but "\\n", the word tokenizer's line-end token)."""
    from rnncli.data.vocab import Tokenizer

    kind, text = args
    if kind == "subword":
        if "tok" not in _SUBWORD:
            corpus = ["the cat sat on the mat", "a dog ate the pie", "é漢🙂 text"] * 20
            _SUBWORD["tok"] = Tokenizer.train(corpus, "bpe", vocab_size=60)
        tok = _SUBWORD["tok"]
    else:
        tok = Tokenizer(kind)
    tokens = tok.split(text)
    assert all(isinstance(t, str) and t for t in tokens)
    if kind == "char":
        assert tok.join(tokens) == text
    if kind == "word":  # a line end is a token of its own (word models learn lines)
        assert all(t == "\n" or not any(c.isspace() for c in t) for t in tokens), tokens


TOKENS = st.tuples(st.sampled_from(["char", "word", "subword"]), st.text(max_size=200))


# ------------------------------------------------------------------- checkpoints
def checkpoint_target(args: tuple[bytes, int, int]) -> None:
    """A valid checkpoint with one byte changed, or cut short, is refused in one line."""
    from rnncli.training.checkpoint import load_checkpoint

    good, position, value = args
    data = bytearray(good)
    if value < 0:
        data = data[: position % len(data)]
    else:
        data[position % len(data)] ^= value or 1
    if bytes(data) == good:
        return
    loaded = _guard(lambda: load_checkpoint(_write("c.safetensors", bytes(data))))
    assert loaded is None, "a changed checkpoint was accepted"


def tiny_checkpoint() -> bytes:
    import torch

    from rnncli.training.checkpoint import Checkpoint, encode

    meta = {"task": "generate", "recipe": {"task": "generate"}, "task_data": {"vocab": ["a"]}}
    return encode(Checkpoint(meta=meta, model={"w": torch.arange(6.0).reshape(2, 3)}))


def checkpoint_inputs() -> st.SearchStrategy[tuple[bytes, int, int]]:
    good = tiny_checkpoint()
    return st.tuples(st.just(good), st.integers(0, len(good) - 1), st.integers(-1, 255))


TARGETS: dict[str, tuple[Callable[[], st.SearchStrategy[Any]], Callable[[Any], None]]] = {
    "recipe loader": (lambda: RECIPE, recipe_target),
    "line reader": (lambda: RAW, lines_target),
    "corpus chunks": (lambda: RAW, chunks_target),
    "tables (tsv/csv/jsonl)": (lambda: TABLE, table_target),
    "tsv round trip": (lambda: ROWS, tsv_round_trip_target),
    "series csv": (lambda: SERIES, series_target),
    "translation pairs": (lambda: PAIRS, pairs_target),
    "tokenizers": (lambda: TOKENS, tokenizer_target),
    "checkpoint loader": (checkpoint_inputs, checkpoint_target),
}
