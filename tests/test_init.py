"""`rnn init TASK [DATA]`: commented starter recipes that validate and train as written."""

from __future__ import annotations

import gzip
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from rnncli.config import load_recipe
from rnncli.starter import starter
from rnncli.tasks.registry import names, recipe_class

from .conftest import ROOT, rnn

SAMPLE = ROOT / "sample_data"
TINY = [  # keep the model small and the run a few steps on one thread
    "model.hidden_size=8",
    "training.max_steps=20",
    "training.max_minutes=1",
    "training.device=cpu",
    "training.threads=1",
]


def _head(source: Path, target: Path, lines: int) -> Path:
    opener = gzip.open if source.suffix == ".gz" else open
    with opener(source, "rt", encoding="utf-8") as handle:
        target.write_text("".join(next(handle) for _ in range(lines)), encoding="utf-8")
    return target


def _data(task: str, tmp: Path) -> tuple[Path, list[str]]:
    """A small data file for `task` and the overrides that keep its training tiny."""
    if task == "classify":
        return _head(SAMPLE / "sst2_train.tsv", tmp / "sst2.tsv", 121), ["model.embedding_dim=8"]
    if task == "forecast":
        return SAMPLE / "airline-passengers.csv", []
    if task == "translate":
        sets = ["model.embedding_dim=8", "data.source.vocab_size=60", "data.target.vocab_size=60"]
        return _head(SAMPLE / "eng-fra.tsv.gz", tmp / "pairs.tsv", 200), sets
    if task == "tag":
        text = (SAMPLE / "wnut17" / "dev.conll").read_text(encoding="utf-8")
        path = tmp / "ner.conll"
        path.write_text("\n\n".join(text.split("\n\n")[:60]) + "\n", encoding="utf-8")
        sets = ["model.embedding_dim=8", "model.char_hidden=4", "training.batch_size=8"]
        return path, sets
    path = tmp / "text.txt"
    path.write_text((SAMPLE / "tinyshakespeare.txt").read_text()[:20_000], encoding="utf-8")
    return path, ["model.embedding_dim=8", "training.batch_size=4", "training.seq_length=16"]


def _one_error_line(proc: subprocess.CompletedProcess, code: int = 1) -> str:
    assert proc.returncode == code, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    return lines[0]


@pytest.mark.parametrize("task", ["classify", "forecast", "translate", "generate", "tag"])
def test_init_writes_a_recipe_that_validates_and_trains(task: str, tmp_path: Path) -> None:
    data, sets = _data(task, tmp_path)
    recipe = tmp_path / "r.yaml"
    made = rnn("init", task, str(data), "-o", str(recipe), check=True)
    assert made.stdout == "" and recipe.is_file()
    assert all(line.startswith("note: ") for line in made.stderr.splitlines()), made.stderr
    assert rnn("recipe", "validate", str(recipe), check=True).stdout == f"ok {recipe}\n"
    args = [f"output={tmp_path / 'run'}", *TINY, *sets]
    trained = rnn("train", str(recipe), "-q", *[x for a in args for x in ("--set", a)])
    assert trained.returncode == 0, trained.stderr
    assert (Path(trained.stdout.strip()) / "best.safetensors").is_file()


@pytest.mark.parametrize("task", names())
def test_every_key_carries_its_schema_description(task: str) -> None:
    text, _ = starter(task)
    recipe = yaml.safe_load(text)
    assert {"task", "data", "model", "training", "output"} <= set(recipe)
    cls = recipe_class(task)
    section: type | None = None
    for line in text.splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        found = re.match(r"^( *)(\w+):(.*?)  # (\S.*)$", line)
        assert found, f"no comment: {line!r}"
        indent, key, comment = len(found.group(1)), found.group(2), found.group(4)
        if indent == 0:
            field = cls.model_fields[key]
            section = field.annotation if isinstance(field.annotation, type) else None
            if field.description:
                assert comment == field.description, line
        elif indent == 2 and section is not None:
            field = section.model_fields[key]  # type: ignore[attr-defined]
            if field.description:
                assert comment == " ".join(field.description.split()), line
    model = recipe["model"]
    assert {"cell", "hidden_size", "num_layers", "dropout"} <= set(model)
    assert {"epochs", "batch_size", "lr", "max_minutes", "eval_every"} <= set(recipe["training"])


def test_without_output_the_recipe_goes_to_stdout(tmp_path: Path) -> None:
    proc = rnn("init", "forecast", "sample_data/tourism_long.csv", check=True)
    data = yaml.safe_load(proc.stdout)["data"]
    assert data["id_column"] == "id" and data["time_column"] == "date"
    assert data["target"] == ["value"] and data["horizon"] == 4  # quarterly: one season
    assert "note: id column: id" in proc.stderr


def test_an_existing_output_is_refused_and_unchanged(tmp_path: Path) -> None:
    recipe = tmp_path / "r.yaml"
    recipe.write_text("mine\n", encoding="utf-8")
    line = _one_error_line(rnn("init", "generate", "-o", str(recipe)), code=2)
    assert "exists" in line and recipe.read_text() == "mine\n"


def test_bad_input_is_one_error_line(tmp_path: Path) -> None:
    assert "unknown task 'clasify'" in _one_error_line(rnn("init", "clasify"), code=2)
    binary = tmp_path / "data.tsv"
    binary.write_bytes(b"text\tlabel\n\x00\x01\x02\xff" * 50)
    assert "binary" in _one_error_line(rnn("init", "classify", str(binary)))
    empty = tmp_path / "empty.txt"
    empty.write_text("\n\n")
    assert "empty" in _one_error_line(rnn("init", "generate", str(empty)))
    assert "not found" in _one_error_line(rnn("init", "generate", str(tmp_path / "none")))
    out = tmp_path / "r.yaml"
    _one_error_line(rnn("init", "translate", str(empty), "-o", str(out)))
    assert not out.exists()


def test_classify_columns_without_usual_names(tmp_path: Path) -> None:
    path = tmp_path / "reviews.csv"
    rows = [f'{i % 3},"a fairly long review number {i}, with a comma",x{i}' for i in range(30)]
    path.write_text("stars,words,ref\n" + "\n".join(rows) + "\n", encoding="utf-8")
    text, notes = starter("classify", path)
    data = yaml.safe_load(text)["data"]
    assert (data["format"], data["text_column"], data["label_column"]) == ("csv", "words", "stars")
    assert data["header"] is True and any("3 labels" in n for n in notes)
    load_recipe(_write(tmp_path / "r.yaml", text))

    jsonl = tmp_path / "d.jsonl"
    jsonl.write_text('{"review": "good film", "polarity": "pos"}\n' * 5, encoding="utf-8")
    data = yaml.safe_load(starter("classify", jsonl)[0])["data"]
    assert (data["format"], data["text_column"], data["label_column"]) == (
        "jsonl",
        "review",
        "polarity",
    )

    one = tmp_path / "one.tsv"
    one.write_text("just text\n" * 5)
    with pytest.raises(Exception, match="one column only"):
        starter("classify", one)


def test_translate_small_file_holds_out_a_tenth_and_generate_picks_char(tmp_path) -> None:
    pairs = _head(SAMPLE / "eng-fra.tsv.gz", tmp_path / "p.tsv", 50)
    assert yaml.safe_load(starter("translate", pairs)[0])["data"]["valid_size"] == 5
    assert yaml.safe_load(starter("generate", pairs)[0])["data"]["tokenizer"] == "char"


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_validating_a_generated_recipe_imports_no_torch(tmp_path: Path) -> None:
    recipe = _write(tmp_path / "r.yaml", starter("classify", SAMPLE / "sst2_dev.tsv")[0])
    code = (
        "import sys; from rnncli.config import load_recipe; from rnncli.starter import starter; "
        f"starter('generate'); load_recipe({str(recipe)!r}); print('torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert out.stdout.strip() == "False", out.stderr
