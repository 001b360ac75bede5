"""The reliability matrix: malformed and hostile inputs across every command and task.

Each case is a row of a table: the files it writes, the command line, and what must
happen. Every case asserts the exit code, exactly one `error:` line on stderr naming the
file or place, no traceback and no internal error, nothing on stdout, and that no file
was written or changed (the case's own directory, and the trained runs it reads).

The commands run in-process through the real entry point (`rnncli.cli.main.run`), which
keeps the 238 cases to seconds; tests/test_cli.py and tests/test_faults.py run the real
process for what only a process shows (signals, exit on a closed pipe).
docs/RELIABILITY.md lists these cases as a table.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import pickle
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

from rnncli import api

from .conftest import TEXT

MB10 = 10 << 20
# a 1-second series with an 18-month hole: a regular grid would need 47 million rows
GAP = "t,value\n2020-01-01 00:00:00,1\n2020-01-01 00:00:01,2\n2021-07-01 00:00:00,3\n"
CLS_ROWS = "".join(
    f"{t}\t{lab}\n" for t, lab in [("a good film", "pos"), ("a bad film", "neg")] * 8
)
WORDS = ["a", "b", "c", "d", "e"]
PAIRS = "".join(f"{x} {y} {z}\t{z} {y} {x}\n" for x in WORDS for y in WORDS for z in WORDS[:1])
TAGGED = [
    ("Anna lives in Berlin", "B-per O O B-loc"),
    ("Tim Cook went to Paris", "B-per I-per O O B-loc"),
    ("we met Bob Smith", "O O B-per I-per"),
    ("Rome is old", "B-loc O O"),
] * 3
# a dozen CoNLL sentences, token<TAB>tag, a blank line between sentences
TAG_ROWS = "\n".join(
    "".join(f"{w}\t{t}\n" for w, t in zip(s.split(), tags.split(), strict=True))
    for s, tags in TAGGED
)


def _monthly(n: int = 48) -> str:
    rows = [f"{2000 + i // 12}-{i % 12 + 1:02d}-01,{100 + i + (i % 12) * 3}" for i in range(n)]
    return "month,value\n" + "\n".join(rows) + "\n"


BASE: dict[str, dict] = {
    "generate": {
        "task": "generate",
        "data": {"train": "train.txt", "tokenizer": "char"},
        "model": {"embedding_dim": 4, "hidden_size": 8, "num_layers": 1},
        "training": {"max_steps": 2, "batch_size": 2, "seq_length": 8, "device": "cpu"},
    },
    "classify": {
        "task": "classify",
        "data": {"train": "train.tsv", "valid_fraction": 0.25},
        "model": {"embedding_dim": 4, "hidden_size": 4},
        "training": {"max_steps": 2, "batch_size": 4, "device": "cpu"},
    },
    "forecast": {
        "task": "forecast",
        "data": {"train": "series.csv", "horizon": 3, "lookback": 6},
        "model": {"hidden_size": 4},
        "training": {"max_steps": 2, "batch_size": 4, "device": "cpu"},
    },
    "translate": {
        "task": "translate",
        "data": {
            "train": "pairs.tsv",
            "valid_size": 2,
            "source": {"tokenizer": "word"},
            "target": {"tokenizer": "word"},
        },
        "model": {"embedding_dim": 4, "hidden_size": 4},
        "training": {"max_steps": 2, "batch_size": 4, "device": "cpu"},
    },
    "tag": {
        "task": "tag",
        "data": {"train": "train.conll", "valid_fraction": 0.25},
        "model": {"embedding_dim": 4, "hidden_size": 4, "char_dim": 4, "char_hidden": 4},
        "training": {"max_steps": 2, "batch_size": 4, "device": "cpu"},
    },
}
GOOD_DATA = {"train.txt": TEXT, "train.tsv": "text\tlabel\n" + CLS_ROWS}
GOOD_DATA |= {"series.csv": _monthly(), "pairs.tsv": PAIRS, "train.conll": TAG_ROWS}


def recipe(task: str, **changes: object) -> str:
    """A tiny valid recipe of `task` as YAML, with dotted keys changed (None deletes)."""
    data = json.loads(json.dumps(BASE[task]))
    for dotted, value in changes.items():
        node = data
        *parents, last = dotted.split("__")
        for part in parents:
            node = node.setdefault(part, {})
        if value is None:
            node.pop(last, None)
        else:
            node[last] = value
    return yaml.safe_dump(data)


@dataclass
class Case:
    """One row of the matrix. Paths in `argv` and `files` are relative to the case dir;
    `{gen}`, `{cls}`, `{fc}`, `{tr}`, `{tag}` name the trained runs, `{bad:KIND}` a
    broken model."""

    id: str
    argv: list[str]
    files: dict[str, str | bytes | Callable[[Path], None]] = field(default_factory=dict)
    expect: str = ""  # regexes joined by ".*": each must match the error line
    code: int = 1
    stdin: bytes = b""
    group: str = ""


def _fifo(name: str) -> Callable[[Path], None]:
    return lambda d: os.mkfifo(d / name)


def _loop(name: str) -> Callable[[Path], None]:
    def make(d: Path) -> None:
        (d / name).symlink_to(d / f"{name}.b")
        (d / f"{name}.b").symlink_to(d / name)

    return make


def _dir(name: str) -> Callable[[Path], None]:
    return lambda d: (d / name).mkdir()


def _bomb() -> str:
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i, name in enumerate("bcdefghi"):
        prev = "abcdefghi"[i]
        lines.append(f"{name}: &{name} [" + ",".join([f"*{prev}"] * 9) + "]")
    return "\n".join(lines) + "\ntask: generate\ndata: {train: *i}\n"


# ----------------------------------------------------------------- recipes (train)
def recipe_cases() -> list[Case]:
    rows: list[tuple[str, str | bytes | Callable[[Path], None], str]] = [
        ("empty file", "", "recipe is empty"),
        ("only whitespace", "  \n\n\t\n", "recipe is empty|not valid YAML"),
        ("binary bytes", bytes(range(256)) * 4, "binary|not UTF-8"),
        ("not UTF-8", "task: generate\n# caf\xe9\n".encode("latin-1"), "not UTF-8.*byte"),
        ("NUL byte", b"task: generate\x00\n", "binary file.*byte 14"),
        ("unclosed bracket", "task: [generate\n", "not valid YAML.*line"),
        ("tab indentation", "task: generate\ndata:\n\ttrain: x\n", "not valid YAML.*line"),
        ("YAML alias bomb", _bomb(), "too large once its YAML aliases"),
        ("deeply nested YAML", "x: " + "[" * 300 + "]" * 300 + "\n", "nested deeper"),
        ("alias cycle", "task: generate\ndata: &a {train: x, more: *a}\n", "alias"),
        ("top-level list", "- task\n- generate\n", "mapping of sections"),
        ("top-level scalar", "generate\n", "mapping of sections"),
        ("unknown task", "task: generat\n", "unknown task 'generat'.*did you mean 'generate'"),
        ("task is a list", "task: [generate]\n", r"unknown task \['generate'\]"),
        ("task missing", "data: {train: x}\n", "unknown task None"),
        ("unknown top-level key", recipe("generate", datta={}), "datta: unknown key"),
        (
            "unknown model key",
            recipe("generate", model__hiden_size=3),
            "did you mean 'hidden_size'",
        ),
        ("wrong type", recipe("generate", model__hidden_size="big"), "model.hidden_size"),
        ("hidden_size 0", recipe("generate", model__hidden_size=0), "model.hidden_size.*got 0"),
        ("hidden_size 1e9", recipe("generate", model__hidden_size=10**9), "hidden_size.*16384"),
        ("negative lr", recipe("generate", training__lr=-0.1), "training.lr"),
        ("lr NaN", recipe("generate", training__lr=float("nan")), "training.lr.*finite"),
        ("lr inf", recipe("generate", training__lr=float("inf")), "training.lr.*finite"),
        ("dropout 1.5", recipe("generate", model__dropout=1.5), "model.dropout"),
        ("batch_size 0", recipe("generate", training__batch_size=0), "training.batch_size"),
        ("epochs -1", recipe("generate", training__epochs=-1), "training.epochs"),
        ("layers 1000", recipe("generate", model__num_layers=1000), "model.num_layers"),
        ("train key missing", recipe("generate", data__train=None), "data.train: required"),
        ("recipe over 1 MB", "task: generate\n#" + "x" * (2 << 20) + "\n", "larger than 1 MB"),
        ("10 MB single line", "#" + "y" * MB10, "larger than 1 MB"),
        ("recipe is a directory", _dir("r.yaml"), "directory"),
        ("recipe symlink loop", _loop("r.yaml"), "r.yaml"),
    ]
    cases = []
    for name, content, expect in rows:
        files = {"r.yaml": content} | GOOD_DATA
        cases.append(Case(f"recipe: {name}", ["train", "r.yaml", "-o", "out"], files, expect))
    cases.append(Case("recipe: file missing", ["train", "nope.yaml", "-o", "out"], {}, "nope.yaml"))
    # the same recipe faults through `rnn recipe validate` and `rnn recipe show`
    for cmd in ("validate", "show"):
        for name, content, expect in rows[5:9]:
            cases.append(
                Case(
                    f"recipe {cmd}: {name}", ["recipe", cmd, "r.yaml"], {"r.yaml": content}, expect
                )
            )
    overrides = [
        ("override without =", ["--set", "training.lr"], "not KEY=VALUE"),
        ("override unknown key", ["--set", "training.lrr=0.1"], "did you mean 'lr'"),
        ("override wrong type", ["--set", "training.epochs=many"], "training.epochs"),
        ("override into a value", ["--set", "task.x=1"], "not a section"),
        (
            "override nested too deep",
            ["--set", "model.x=" + "[" * 100 + "]" * 100],
            "nested deeper",
        ),
    ]
    for name, args, expect in overrides:
        files = {"r.yaml": recipe("generate")} | GOOD_DATA
        cases.append(
            Case(f"recipe: {name}", ["train", "r.yaml", "-o", "out", *args], files, expect)
        )
    tag = [  # the schema of `task: tag`
        ("tag_column 0", recipe("tag", data__tag_column=0), "data.tag_column.*column 0"),
        ("unknown model key", recipe("tag", model__char_dimm=4), "did you mean 'char_dim'"),
        ("char_hidden 0", recipe("tag", model__char_hidden=0), "model.char_hidden.*got 0"),
        ("unknown scheme", recipe("tag", data__scheme="bio"), "data.scheme"),
        ("train key missing", recipe("tag", data__train=None), "data.train: required"),
    ]
    for name, content, expect in tag:
        files = {"r.yaml": content} | GOOD_DATA
        cases.append(Case(f"tag recipe: {name}", ["train", "r.yaml", "-o", "out"], files, expect))
    return cases


# ------------------------------------------------------------- training data, per task
def data_cases() -> list[Case]:
    def train(task: str, name: str, data: dict, expect: str, **changes: object) -> Case:
        files = {"r.yaml": recipe(task, **changes)} | data
        return Case(f"{task} data: {name}", ["train", "r.yaml", "-o", "out"], files, expect)

    g, c, f, t, tg = "generate", "classify", "forecast", "translate", "tag"
    cls_head = "text\tlabel\n"
    return [
        # where the data is
        train(g, "train file missing", {}, "train.txt"),
        train(g, "train is a directory", {"train.txt": _dir("train.txt")}, "train.txt"),
        train(g, "train is a FIFO", {"train.txt": _fifo("train.txt")}, "train.txt"),
        train(g, "train symlink loop", {"train.txt": _loop("train.txt")}, "train.txt"),
        train(c, "train is a FIFO", {"train.tsv": _fifo("train.tsv")}, "train.tsv"),
        train(f, "train is a directory", {"series.csv": _dir("series.csv")}, "series.csv"),
        train(t, "train missing", {}, "pairs.tsv"),
        # text corpus
        train(g, "empty file", {"train.txt": ""}, "train.txt"),
        train(g, "not UTF-8", {"train.txt": TEXT.encode() + b"\xff\xfe"}, "train.txt.*byte"),
        train(g, "binary file", {"train.txt": bytes(range(256)) * 64}, "train.txt"),
        train(g, "unknown encoding", {"train.txt": TEXT}, "klingon", data__encoding="klingon"),
        train(g, "valid file missing", {"train.txt": TEXT}, "valid.txt", data__valid="valid.txt"),
        train(
            g, "valid file empty", {"train.txt": TEXT, "v.txt": ""}, "v.txt", data__valid="v.txt"
        ),
        # labelled tables
        train(c, "empty file", {"train.tsv": ""}, "train.tsv"),
        train(c, "header only", {"train.tsv": cls_head}, "train.tsv"),
        train(c, "missing label column", {"train.tsv": "text\tlab\nx\ty\n"}, "train.tsv.*'label'"),
        train(
            c, "ragged row", {"train.tsv": cls_head + CLS_ROWS + "a\tb\tc\n"}, "train.tsv.*line 18"
        ),
        train(
            c, "empty text", {"train.tsv": cls_head + CLS_ROWS + "\tpos\n"}, "train.tsv.*line 18"
        ),
        train(
            c, "empty label", {"train.tsv": cls_head + CLS_ROWS + "text\t\n"}, "train.tsv.*line 18"
        ),
        train(
            c,
            "not UTF-8 at line 3",
            {"train.tsv": (cls_head + "a\tpos\n").encode() + b"caf\xe9\tneg\n"},
            "train.tsv",
        ),
        train(c, "NUL byte", {"train.tsv": cls_head + CLS_ROWS + "a\x00b\tpos\n"}, "train.tsv"),
        train(
            c, "duplicate header", {"train.tsv": "text\ttext\tlabel\n" + "a\tb\tpos\n"}, "train.tsv"
        ),
        train(
            c,
            "10 MB single line",
            {"train.tsv": cls_head + "x" * MB10 + "\tpos\n"},
            "train.tsv.*line 2",
        ),
        train(c, "binary file", {"train.tsv": bytes(range(256)) * 64}, "train.tsv"),
        train(
            c,
            "CSV unclosed quote",
            {"d.csv": 'text,label\n"open,pos\nb,neg\n'},
            "d.csv",
            data__train="d.csv",
        ),
        train(
            c,
            "JSONL invalid line",
            {"d.jsonl": '{"text": "a", "label": "p"}\n{oops\n'},
            "d.jsonl.*line 2",
            data__train="d.jsonl",
        ),
        train(
            c,
            "JSONL not an object",
            {"d.jsonl": '["a", "p"]\n'},
            "d.jsonl.*line 1",
            data__train="d.jsonl",
        ),
        train(
            c,
            "JSONL label is a list",
            {"d.jsonl": '{"text": "a", "label": ["p"]}\n'},
            "d.jsonl.*line 1",
            data__train="d.jsonl",
        ),
        train(
            c,
            "JSONL text not a string",
            {"d.jsonl": '{"text": 5, "label": "p"}\n'},
            "d.jsonl.*line 1",
            data__train="d.jsonl",
        ),
        train(
            c,
            "bad token_pattern",
            {"train.tsv": cls_head + CLS_ROWS},
            "token_pattern",
            data__token_pattern="(unclosed",
        ),
        train(
            c,
            "vectors file missing",
            {"train.tsv": cls_head + CLS_ROWS},
            "vec.txt",
            model__pretrained_vectors="vec.txt",
        ),
        # series
        train(f, "empty file", {"series.csv": ""}, "series.csv"),
        train(f, "header only", {"series.csv": "month,value\n"}, "series.csv"),
        train(
            f, "non-numeric value", {"series.csv": _monthly() + "2004-01-01,lots\n"}, "series.csv"
        ),
        train(
            f, "NaN value", {"series.csv": _monthly().replace(",104\n", ",nan\n", 1)}, "series.csv"
        ),
        train(
            f, "inf value", {"series.csv": _monthly().replace(",104\n", ",inf\n", 1)}, "series.csv"
        ),
        train(f, "bad timestamp", {"series.csv": _monthly() + "someday,5\n"}, "series.csv"),
        train(
            f,
            "unsorted times",
            {
                "series.csv": "month,value\n2001-02-01,1\n2001-01-01,2\n"
                + "".join(f"2002-{m:02d}-01,3\n" for m in range(1, 13))
            },
            "series.csv",
        ),
        train(
            f, "duplicate timestamps", {"series.csv": _monthly() + "2003-12-01,7\n"}, "series.csv"
        ),
        train(
            f,
            "18-month gap at 1 s",
            {"series.csv": GAP},
            "series.csv",
        ),
        train(f, "ragged row", {"series.csv": _monthly() + "2004-01-01,1,2\n"}, "series.csv"),
        train(
            f,
            "duplicate header",
            {"series.csv": "month,value,value\n2000-01-01,1,2\n"},
            "series.csv",
        ),
        train(
            f, "unknown target column", {"series.csv": _monthly()}, "nope", data__target=["nope"]
        ),
        train(f, "series too short", {"series.csv": _monthly(5)}, "series.csv|lookback|horizon"),
        train(
            f, "not UTF-8", {"series.csv": _monthly().encode() + b"2004-01-01,\xff\n"}, "series.csv"
        ),
        train(f, "binary file", {"series.csv": bytes(range(256)) * 64}, "series.csv"),
        # pairs
        train(t, "empty file", {"pairs.tsv": ""}, "pairs.tsv"),
        train(t, "one column", {"pairs.tsv": "a b c\n" * 20}, "pairs.tsv.*line 1"),
        train(
            t,
            "broken gzip",
            {"p.tsv.gz": gzip.compress(PAIRS.encode())[:30]},
            "p.tsv.gz",
            data__train="p.tsv.gz",
        ),
        train(t, "not UTF-8", {"pairs.tsv": PAIRS.encode() + b"a\t\xff\n"}, "pairs.tsv.*line 26"),
        train(
            t,
            "unequal line counts",
            {"s.txt": "a\nb\nc\n", "t.txt": "a\nb\n"},
            "line",
            data__train={"source": "s.txt", "target": "t.txt"},
        ),
        train(
            t,
            "10 MB single line",
            {"pairs.tsv": PAIRS + "x" * MB10 + "\ty\n"},
            "pairs.tsv.*line 26",
        ),
        train(t, "binary file", {"pairs.tsv": bytes(range(256)) * 64}, "pairs.tsv"),
        # tagged sentences (CoNLL, JSONL)
        train(tg, "train file missing", {}, "train.conll"),
        train(tg, "train is a directory", {"train.conll": _dir("train.conll")}, "train.conll"),
        train(
            tg,
            "tag column 3 of 2",
            {"train.conll": TAG_ROWS},
            "tag_column 3.*train.conll.*line 1.*2 columns",
            data__tag_column=3,
        ),
        train(
            tg,
            "ragged row",
            {"train.conll": "Tim\tB-per\nCook\tI-per\tNNP\n\n" + TAG_ROWS},
            "train.conll.*line 2.*ragged",
        ),
        train(tg, "empty file", {"train.conll": ""}, "train.conll.*no sentences"),
        train(tg, "only blank lines", {"train.conll": "\n \n\t\n"}, "train.conll.*no sentences"),
        train(
            tg,
            "not UTF-8",
            {"train.conll": TAG_ROWS.encode() + b"\ncaf\xe9\tO\n"},
            "train.conll.*line 61.*utf-8",
        ),
        train(tg, "binary file", {"train.conll": bytes(range(256)) * 64}, "train.conll"),
        train(
            tg,
            "invalid BIO (O then I-per)",
            {"train.conll": "Tim\tO\nCook\tI-per\n\n" + TAG_ROWS},
            "train.conll.*line 2.*data.repair",
        ),
        train(
            tg,
            "tag not of the scheme",
            {"train.conll": "Tim\tPER\n\n" + TAG_ROWS},
            "train.conll.*line 1.*'PER'",
        ),
        train(
            tg,
            "one tag only",
            {"train.conll": "".join(f"w{i}\tO\n\n" for i in range(8))},
            "train.conll.*one tag",
        ),
        train(
            tg,
            "JSONL tokens and tags differ",
            {"d.jsonl": '{"tokens": ["Tim", "Cook"], "tags": ["B-per"]}\n'},
            "d.jsonl.*line 1.*2 tokens but 1 tags",
            data__train="d.jsonl",
        ),
        train(
            tg,
            "JSONL invalid line",
            {"d.jsonl": '{"tokens": ["a"], "tags": ["O"]}\n{oops\n'},
            "d.jsonl.*line 2",
            data__train="d.jsonl",
        ),
    ]


# ------------------------------------------------------------------------ models
BAD_MODELS = {
    "missing": ("missing.safetensors", "missing.safetensors"),
    "empty dir": ("emptydir", "no checkpoint in run directory"),
    "empty file": ("empty.safetensors", "empty.safetensors"),
    "truncated": ("truncated.safetensors", "truncated.safetensors"),
    "random bytes": ("random.safetensors", "random.safetensors"),
    "pickle": ("pickle.safetensors", "pickle.safetensors"),
    "tampered header": ("tampered-header.safetensors", "modified|checksum"),
    "tampered tensors": ("tampered-tensor.safetensors", "modified|checksum"),
    "newer format": ("newer.safetensors", "newer than this rnncli"),
    "symlink loop": ("loop.safetensors", "loop.safetensors"),
    "a FIFO": ("fifo.safetensors", "fifo.safetensors"),
}


BAD_EXPORTS = {  # directories written by `rnn export`, then damaged
    "graph edited": ("export-graph", "language_model.onnx.*SHA-256"),
    "graph missing": ("export-nograph", "language_model.onnx is missing"),
    "model.json not JSON": ("export-json", "model.json is not valid JSON"),
    "meta.json edited": ("export-meta", "meta.json.*SHA-256"),
    "newer format": ("export-newer", "format version 99"),
}


def _bad_exports(root: Path, good: Path) -> None:
    import shutil

    ok = root / "export-ok"
    api.export(api.load(good), ok)
    for _, (name, _) in BAD_EXPORTS.items():
        shutil.copytree(ok, root / name)
    graph = root / "export-graph" / "language_model.onnx"
    data = bytearray(graph.read_bytes())
    data[len(data) // 2] ^= 0x01
    graph.write_bytes(bytes(data))
    (root / "export-nograph" / "language_model.onnx").unlink()
    (root / "export-json" / "model.json").write_text("{not json")
    meta = root / "export-meta" / "meta.json"
    meta.write_text(meta.read_text().replace('"generate"', '"classify"', 1))
    manifest = root / "export-newer" / "model.json"
    manifest.write_text(manifest.read_text().replace('"format_version": 1', '"format_version": 99'))


def model_cases() -> list[Case]:
    commands = {
        "generate": ["generate", "--seed", "All", "-n", "5", "--model"],
        "classify": ["classify", "in.txt", "--model"],
        "translate": ["translate", "in.txt", "--model"],
        "info": ["info"],
        "evaluate": ["evaluate", "in.txt", "--model"],
        "forecast": ["forecast", "series.csv", "--model"],
        "export": ["export", "-o", "out"],
    }
    files = {"in.txt": "a good film\n", "series.csv": _monthly()}
    cases = []
    for cmd, argv in commands.items():
        kinds = (
            BAD_MODELS
            if cmd in ("generate", "classify", "translate", "export")
            else {
                k: BAD_MODELS[k]
                for k in ("missing", "truncated", "tampered header", "newer format")
            }
        )
        for kind, (name, expect) in kinds.items():
            cases.append(Case(f"{cmd} model: {kind}", [*argv, f"{{bad:{name}}}"], files, expect))
    wrong = [
        ("generate", ["generate", "--seed", "a", "--model", "{cls}"], "task 'classify'"),
        ("classify", ["classify", "in.txt", "--model", "{gen}"], "task 'generate'"),
        ("translate", ["translate", "in.txt", "--model", "{cls}"], "task 'classify'"),
        ("forecast", ["forecast", "series.csv", "--model", "{tr}"], "task 'translate'"),
    ]
    for cmd, argv, expect in wrong:
        cases.append(Case(f"{cmd} model: of another task", argv, files, expect))
    cases += [
        Case(
            "tag model: of another task",
            ["tag", "in.txt", "--model", "{cls}"],
            files,
            "task 'classify'.*rnn classify",
        ),
        Case(
            "classify model: a tag model",
            ["classify", "in.txt", "--model", "{tag}"],
            files,
            "task 'tag'.*rnn tag",
        ),
    ]
    for kind, (name, expect) in BAD_EXPORTS.items():
        argv = ["generate", "--seed", "All", "-n", "5", "--model", f"{{bad:{name}}}"]
        cases.append(Case(f"generate export: {kind}", argv, files, expect))
    export = ["export", "{gen}", "-o"]
    cases += [
        Case("export: directory exists", [*export, "out"], {"out": _dir("out")}, "out.*exists", 2),
        Case("export: unknown format", [*export, "o", "--format", "x"], {}, "format", 2),
        Case("export: unknown quantization", [*export, "o", "--quantize", "x"], {}, "int8", 2),
        Case("export: of an export", ["export", "{bad:export-ok}", "-o", "o"], {}, "export", 2),
        Case("export: a tag model", ["export", "{tag}", "-o", "out"], {}, "tag models.*no ONNX"),
    ]
    return cases


# ------------------------------------------------------------ prediction inputs
def input_cases() -> list[Case]:
    bad_utf8 = b"a good film\ncaf\xe9\n"
    rows = [
        (
            "generate: unknown characters in seed",
            ["generate", "-m", "{gen}", "--seed", "\u2603\u2603"],
            {},
            b"",
            "--allow-unknown",
        ),
        (
            "generate: --seed - not UTF-8",
            ["generate", "-m", "{gen}", "--seed", "-"],
            {},
            b"\xff\xfe\n",
            "stdin.*UTF-8",
        ),
        (
            "generate: --top-p 2",
            ["generate", "-m", "{gen}", "--seed", "A", "--top-p", "2"],
            {},
            b"",
            "top-p",
        ),
        (
            "generate: --temperature -1",
            ["generate", "-m", "{gen}", "--seed", "A", "--temperature", "-1"],
            {},
            b"",
            "temperature",
        ),
        (
            "generate: --format xml",
            ["generate", "-m", "{gen}", "--seed", "A", "-f", "xml"],
            {},
            b"",
            "--format",
        ),
        ("classify: stdin not UTF-8", ["classify", "-m", "{cls}"], {}, bad_utf8, "stdin.*line 2"),
        (
            "classify: file not UTF-8",
            ["classify", "-m", "{cls}", "in.txt"],
            {"in.txt": bad_utf8},
            b"",
            "in.txt.*line 2",
        ),
        ("classify: file missing", ["classify", "-m", "{cls}", "nope.txt"], {}, b"", "nope.txt"),
        (
            "classify: file is a directory",
            ["classify", "-m", "{cls}", "d"],
            {"d": _dir("d")},
            b"",
            "directory",
        ),
        (
            "classify: 10 MB line",
            ["classify", "-m", "{cls}", "in.txt"],
            {"in.txt": "x" * MB10 + "\n"},
            b"",
            "in.txt.*line 1",
        ),
        (
            "classify: binary file",
            ["classify", "-m", "{cls}", "in.txt"],
            {"in.txt": bytes(range(256))},
            b"",
            "in.txt",
        ),
        (
            "classify: --threshold single-label",
            ["classify", "-m", "{cls}", "--threshold", "0.5", "in.txt"],
            {"in.txt": "a\n"},
            b"",
            "multi-label",
        ),
        (
            "classify: --format xml",
            ["classify", "-m", "{cls}", "-f", "xml", "in.txt"],
            {"in.txt": "a\n"},
            b"",
            "--format",
        ),
        ("translate: stdin not UTF-8", ["translate", "-m", "{tr}"], {}, bad_utf8, "stdin.*line 2"),
        ("translate: file missing", ["translate", "-m", "{tr}", "nope.txt"], {}, b"", "nope.txt"),
        (
            "translate: 10 MB line",
            ["translate", "-m", "{tr}", "in.txt"],
            {"in.txt": "a " * (MB10 // 2) + "\n"},
            b"",
            "in.txt.*line 1",
        ),
        (
            "translate: n-best over beam",
            ["translate", "-m", "{tr}", "-b", "2", "-n", "3", "in.txt"],
            {"in.txt": "a\n"},
            b"",
            "n-best",
        ),
        ("forecast: file missing", ["forecast", "-m", "{fc}", "nope.csv"], {}, b"", "nope.csv"),
        ("forecast: empty file", ["forecast", "-m", "{fc}", "s.csv"], {"s.csv": ""}, b"", "s.csv"),
        (
            "forecast: non-numeric",
            ["forecast", "-m", "{fc}", "s.csv"],
            {"s.csv": _monthly() + "2004-01-01,x\n"},
            b"",
            "s.csv",
        ),
        (
            "forecast: ragged row",
            ["forecast", "-m", "{fc}", "s.csv"],
            {"s.csv": _monthly() + "2004-01-01\n"},
            b"",
            "s.csv",
        ),
        (
            "forecast: not UTF-8 stdin",
            ["forecast", "-m", "{fc}"],
            {},
            b"month,value\n2000-01-01,\xff\n",
            "stdin",
        ),
        (
            "forecast: horizon 0",
            ["forecast", "-m", "{fc}", "--horizon", "0", "s.csv"],
            {"s.csv": _monthly()},
            b"",
            "horizon",
        ),
        (
            "forecast: unknown target",
            ["forecast", "-m", "{fc}", "--target", "nope", "s.csv"],
            {"s.csv": _monthly()},
            b"",
            "nope",
        ),
        (
            "forecast: 18-month gap at 1 s",
            ["forecast", "-m", "{fc}", "s.csv"],
            {"s.csv": GAP},
            b"",
            "s.csv",
        ),
        ("evaluate: file missing", ["evaluate", "-m", "{gen}", "nope.txt"], {}, b"", "nope.txt"),
        ("evaluate: empty text", ["evaluate", "-m", "{gen}", "e.txt"], {"e.txt": ""}, b"", "e.txt"),
        (
            "evaluate: table without label",
            ["evaluate", "-m", "{cls}", "e.tsv"],
            {"e.tsv": "text\tlab\na\tb\n"},
            b"",
            "e.tsv",
        ),
        (
            "evaluate: pairs not UTF-8",
            ["evaluate", "-m", "{tr}", "e.tsv"],
            {"e.tsv": b"a\t\xff\n"},
            b"",
            "e.tsv",
        ),
        (
            "evaluate: series too short",
            ["evaluate", "-m", "{fc}", "s.csv"],
            {"s.csv": _monthly(4)},
            b"",
            "s.csv|short",
        ),
        ("tag: stdin not UTF-8", ["tag", "-m", "{tag}"], {}, bad_utf8, "stdin.*line 2"),
        (
            "tag: file not UTF-8",
            ["tag", "-m", "{tag}", "in.txt"],
            {"in.txt": bad_utf8},
            b"",
            "in.txt.*line 2",
        ),
        ("tag: file missing", ["tag", "-m", "{tag}", "nope.txt"], {}, b"", "nope.txt"),
        (
            "tag: 10 MB line",
            ["tag", "-m", "{tag}", "in.txt"],
            {"in.txt": "x" * MB10 + "\n"},
            b"",
            "in.txt.*line 1",
        ),
        (
            "tag: --format xml",
            ["tag", "-m", "{tag}", "-f", "xml", "in.txt"],
            {"in.txt": "a\n"},
            b"",
            "--format",
        ),
        (
            "tag: --input xml",
            ["tag", "-m", "{tag}", "-i", "xml", "in.txt"],
            {"in.txt": "a\n"},
            b"",
            "--input",
        ),
        (
            "evaluate: tag unknown tag",
            ["evaluate", "-m", "{tag}", "e.conll"],
            {"e.conll": "Anna\tB-singer\nsings\tO\n"},
            b"",
            "e.conll.*line 1.*'B-singer'",
        ),
        (
            "evaluate: tag ragged row",
            ["evaluate", "-m", "{tag}", "e.conll"],
            {"e.conll": "Anna\tB-per\nsings\tO\tVB\n"},
            b"",
            "e.conll.*line 2",
        ),
        (
            "evaluate: tag empty file",
            ["evaluate", "-m", "{tag}", "e.conll"],
            {"e.conll": ""},
            b"",
            "e.conll",
        ),
        ("info: not a run", ["info", "nothing"], {}, b"", "nothing"),
        (
            "train: --resume of a non-run",
            ["train", "--resume", "d"],
            {"d": _dir("d")},
            b"",
            "last.safetensors|d",
        ),
    ]
    rows += [
        (
            "generate: --temperature nan",
            ["generate", "-m", "{gen}", "--seed", "A", "-t", "nan"],
            {},
            b"",
            "temperature",
        ),
        (
            "generate: --seed - 10 MB line",
            ["generate", "-m", "{gen}", "--seed", "-"],
            {},
            b"A" * MB10 + b"\n",
            "stdin.*line 1",
        ),
        (
            "translate: --length-penalty nan",
            ["translate", "-m", "{tr}", "--length-penalty", "nan", "in.txt"],
            {"in.txt": "a\n"},
            b"",
            "length-penalty",
        ),
        (
            "translate: --max-ratio inf",
            ["translate", "-m", "{tr}", "--max-ratio", "inf", "in.txt"],
            {"in.txt": "a\n"},
            b"",
            "max-ratio",
        ),
    ]
    rows += [  # the command line itself: the framework's errors, one line too
        ("usage: unknown command", ["frobnicate"], {}, b"", "frobnicate.*rnn -h"),
        ("usage: unknown option", ["generate", "--frobnicate"], {}, b"", "--frobnicate"),
        (
            "usage: not a number",
            ["generate", "-m", "{gen}", "--top-k", "x"],
            {},
            b"",
            "--top-k.*rnn generate -h",
        ),
        ("usage: missing value", ["classify", "-m"], {}, b"", "-m"),
    ]
    usage = {
        "usage:",
        "--top-p",
        "--temperature",
        "--format",
        "--threshold",
        "n-best",
        "horizon 0",
        "--length-penalty",
        "--max-ratio",
        "--input",
    }
    return [
        Case(n, argv, files, expect, stdin=stdin, code=2 if any(u in n for u in usage) else 1)
        for n, argv, files, stdin, expect in rows
    ]


CASES = recipe_cases() + data_cases() + model_cases() + input_cases()


# ----------------------------------------------------------------------- fixtures
def _tiny_runs(root: Path) -> dict[str, Path]:
    files = {"generate": "train.txt", "classify": "train.tsv"}
    files |= {"forecast": "series.csv", "translate": "pairs.tsv", "tag": "train.conll"}
    runs = {}
    for key, task in (
        ("gen", "generate"),
        ("cls", "classify"),
        ("fc", "forecast"),
        ("tr", "translate"),
        ("tag", "tag"),
    ):
        d = root / key
        d.mkdir()
        data = d / files[task]
        data.write_text(GOOD_DATA[files[task]], encoding="utf-8")
        text = recipe(task, data__train=str(data), training__max_steps=3, training__threads=1)
        (d / "r.yaml").write_text(text, encoding="utf-8")
        runs[key] = api.train(d / "r.yaml", output=d / "run")
    return runs


def _bad_models(root: Path, good: Path) -> None:
    data = (good / "best.safetensors").read_bytes()
    (root / "emptydir").mkdir()
    (root / "empty.safetensors").write_bytes(b"")
    (root / "truncated.safetensors").write_bytes(data[: len(data) // 2])
    (root / "random.safetensors").write_bytes(os.urandom(4096))
    (root / "pickle.safetensors").write_bytes(pickle.dumps({"weights": [1, 2, 3]}))
    header_end = 8 + int.from_bytes(data[:8], "little")
    meta = data.index(b"generate", 8, header_end)
    (root / "tampered-header.safetensors").write_bytes(data[:meta] + b"Generate" + data[meta + 8 :])
    tensor = bytearray(data)
    tensor[-3] ^= 0x10
    (root / "tampered-tensor.safetensors").write_bytes(bytes(tensor))
    version = re.search(rb'format_version\\": (\d+)', data)
    assert version is not None
    newer = data[: version.start(1)] + b"9" * len(version.group(1)) + data[version.end(1) :]
    (root / "newer.safetensors").write_bytes(newer)
    (root / "loop.safetensors").symlink_to(root / "loop2.safetensors")
    (root / "loop2.safetensors").symlink_to(root / "loop.safetensors")
    os.mkfifo(root / "fifo.safetensors")


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("world")
    runs = _tiny_runs(root)
    bad = root / "bad"
    bad.mkdir()
    _bad_models(bad, runs["gen"])
    _bad_exports(bad, runs["gen"])
    return {**runs, "bad": bad}


def _snapshot(*roots: Path) -> dict[str, str]:
    """Every path under `roots` with a digest of its content (or its kind)."""
    seen = {}
    for root in roots:
        for dirpath, dirnames, filenames in os.walk(root):
            for name in dirnames + filenames:
                p = Path(dirpath) / name
                if p.is_symlink() or not p.is_file():
                    seen[str(p)] = "link" if p.is_symlink() else "dir" if p.is_dir() else "other"
                else:
                    seen[str(p)] = hashlib.sha256(p.read_bytes()).hexdigest()
    return seen


def _run_cli(
    argv: list[str],
    stdin: bytes,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> tuple[int, str, str]:
    from rnncli.cli.main import run

    monkeypatch.setattr(sys, "argv", ["rnn", *argv])
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(stdin), encoding="utf-8"))
    monkeypatch.setenv("RNNCLI_DEBUG", "")
    code = 0
    try:
        run()
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_is_one_clear_line_and_changes_nothing(
    case: Case,
    world: dict[str, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    for name, content in case.files.items():
        if callable(content):
            content(tmp_path)
        elif isinstance(content, bytes):
            (tmp_path / name).write_bytes(content)
        else:
            (tmp_path / name).write_text(content, encoding="utf-8")
    names = {key: world[key] for key in ("gen", "cls", "fc", "tr", "tag")}
    argv = []
    for arg in case.argv:
        for key, path in names.items():
            arg = arg.replace(f"{{{key}}}", str(path))
        if arg.startswith("{bad:"):
            arg = str(world["bad"] / arg[5:-1])
        argv.append(arg)
    monkeypatch.chdir(tmp_path)
    watched = [tmp_path, *(p.parent for p in names.values()), world["bad"]]
    before = _snapshot(*watched)
    code, out, err = _run_cli(argv, case.stdin, monkeypatch, capsys)
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert code == case.code, err[-2000:]
    assert len(errors) == 1, err[-2000:]
    assert "Traceback" not in err and "internal error" not in err, err[-2000:]
    assert len(errors[0]) < 600, errors[0][:600]
    # "A.*B": A and B both appear, in either order (file before line, or after)
    assert all(re.search(part, errors[0]) for part in case.expect.split(".*")), errors[0]
    assert out == ""
    assert _snapshot(*watched) == before, "a file was written or changed"
