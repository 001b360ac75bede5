"""task: classify — data, model (packing), training, CLI and bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import yaml

from rnncli import api
from rnncli.data.tables import read_labelled
from rnncli.errors import DataError
from rnncli.models.classifier import Classifier
from rnncli.tasks import classify as cls

from .conftest import rnn

POS = ["he ate the pie happily", "a great and happy film", "i loved it , wonderful", "so good"]
NEG = ["he ate the pie angrily", "a dull and sad film", "i hated it , awful", "so bad"]


def _table(path: Path, rows: list[tuple[str, str]], header: str = "sentence\tlabel") -> Path:
    path.write_text(header + "\n" + "".join(f"{t}\t{lab}\n" for t, lab in rows), encoding="utf-8")
    return path


def _recipe(tmp: Path, **training: object) -> Path:
    rows = [(t, "pos") for t in POS] * 6 + [(t, "neg") for t in NEG] * 6
    train = _table(tmp / "train.tsv", rows)
    recipe = {
        "task": "classify",
        "data": {"train": str(train), "valid": str(train), "text_column": "sentence"},
        "model": {"embedding_dim": 16, "hidden_size": 16, "pooling": "max"},
        "training": {
            "max_steps": 60,
            "batch_size": 8,
            "eval_every": 30,
            "lr": 1.0e-2,
            "device": "cpu",
            "threads": 1,
            **training,
        },
        "output": str(tmp / "run"),
    }
    path = tmp / "recipe.yaml"
    path.write_text(yaml.safe_dump(recipe))
    return path


@pytest.fixture(scope="module")
def classifier_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return api.train(_recipe(tmp_path_factory.mktemp("cls")))


def test_learns_the_seed_example(classifier_run: Path) -> None:
    loaded = api.load(classifier_run)
    out = dict(api.classify(loaded, ["he ate the pie happily", "he ate the pie angrily"]))
    assert out["he ate the pie happily"]["pos"] > 0.9
    assert out["he ate the pie angrily"]["neg"] > 0.9
    steps = api.trace(loaded, "he ate the pie happily")
    assert [tok for tok, _ in steps] == ["he", "ate", "the", "pie", "happily"]
    assert steps[-1][1]["pos"] > steps[0][1]["pos"]  # the last word decides


@pytest.mark.parametrize("pooling", ["last", "mean", "max", "attention"])
@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_padding_never_changes_a_prediction(pooling: str, cell: str) -> None:
    torch.manual_seed(0)
    model = Classifier(
        30, 3, 8, 6, num_layers=2, cell=cell, bidirectional=True, pooling=pooling
    ).eval()
    short, long = [3, 4, 5], [1, 2, 3, 4, 5, 6, 7, 8, 9]
    alone = cls.predict_ids(model, [short], 8)
    together = cls.predict_ids(model, [long, short, long[:5]], 8)
    torch.testing.assert_close(torch.from_numpy(alone[0]), torch.from_numpy(together[1]))


def test_round_trip_and_order(classifier_run: Path, tmp_path: Path) -> None:
    copy = tmp_path / "copy.safetensors"
    copy.write_bytes((classifier_run / "best.safetensors").read_bytes())
    lines = NEG + POS + ["an unseen zzz word"]
    a = list(api.classify(api.load(classifier_run), lines, batch_size=2))
    b = list(api.classify(api.load(copy), lines, batch_size=5))
    assert [t for t, _ in a] == lines and a == b


def test_stratified_split_keeps_label_shares() -> None:
    rows = [(f"t{i}", "a") for i in range(80)] + [(f"u{i}", "b") for i in range(20)]
    train, valid = cls._split(rows, 0.1, seed=1)
    assert len(valid) == 10 and sum(rows[i][1] == "b" for i in valid) == 2
    assert not set(train) & set(valid)


def test_tables(tmp_path: Path) -> None:
    csv_file = tmp_path / "d.csv"
    csv_file.write_text('text,label\n"hello, world",1\nbye,0\n')
    assert read_labelled(csv_file, "auto", "text", "label", True, "utf-8") == [
        ("hello, world", "1"),
        ("bye", "0"),
    ]
    jsonl = tmp_path / "d.jsonl"
    jsonl.write_text('{"text": "hi", "label": 2}\n\n{"text": "yo", "label": "x"}\n')
    assert read_labelled(jsonl, "auto", "text", "label", True, "utf-8") == [
        ("hi", "2"),
        ("yo", "x"),
    ]
    with pytest.raises(DataError, match=r"no column 'txt'.*did you mean 'text'"):
        read_labelled(csv_file, "csv", "txt", "label", True, "utf-8")
    with pytest.raises(DataError, match="is the delimiter"):
        read_labelled(csv_file, "tsv", "text", "label", True, "utf-8")
    bad = tmp_path / "bad.tsv"
    bad.write_text("text\tlabel\nfine\t1\n\t0\n")
    with pytest.raises(DataError, match=r"empty text \(.*bad.tsv, line 3\)"):
        read_labelled(bad, "tsv", "text", "label", True, "utf-8")


def test_cli_classify_and_evaluate(classifier_run: Path, tmp_path: Path) -> None:
    out = rnn("classify", "-m", str(classifier_run), stdin="so good\nso bad\n", check=True).stdout
    rows = [line.split("\t") for line in out.splitlines()]
    assert [r[0] for r in rows] == ["pos", "neg"] and [r[2] for r in rows] == ["so good", "so bad"]
    labels = rnn(
        "classify", "-m", str(classifier_run), "-f", "label", stdin="so good\n", check=True
    )
    assert labels.stdout == "pos\n"
    js = rnn("classify", "-m", str(classifier_run), "-f", "jsonl", stdin="so bad\n", check=True)
    assert set(json.loads(js.stdout)["probabilities"]) == {"neg", "pos"}
    test = _table(tmp_path / "test.tsv", [("so good", "pos"), ("so bad", "neg")])
    metrics = json.loads(
        rnn("evaluate", "-m", str(classifier_run), str(test), "-f", "json", check=True).stdout
    )
    assert metrics["accuracy"] == 1.0 and metrics["confusion"] == [[1, 0], [0, 1]]
    unseen = _table(tmp_path / "unseen.tsv", [("so good", "meh")])
    err = rnn("evaluate", "-m", str(classifier_run), str(unseen))
    assert err.returncode == 1 and "label 'meh' was not seen in training" in err.stderr
    assert "Traceback" not in err.stderr and len(err.stderr.strip().splitlines()) == 1
    gen = rnn("generate", "-m", str(classifier_run))
    assert gen.returncode == 1 and "for task 'classify', not 'generate'" in gen.stderr
