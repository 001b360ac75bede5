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
from rnncli.tasks.classify import task as cls

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


@pytest.mark.threads
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


@pytest.mark.threads
def test_round_trip_and_order(classifier_run: Path, tmp_path: Path) -> None:
    copy = tmp_path / "copy.safetensors"
    copy.write_bytes((classifier_run / "best.safetensors").read_bytes())
    lines = NEG + POS + ["an unseen zzz word"]
    a = list(api.classify(api.load(classifier_run), lines, batch_size=2))
    b = list(api.classify(api.load(copy), lines, batch_size=5))
    assert [t for t, _ in a] == lines and [t for t, _ in b] == lines
    # Different batch shapes run different kernels: equal within float32 rounding, not bit
    # for bit (they differ in the 8th digit on some CPUs).
    for (_, pa), (_, pb) in zip(a, b, strict=True):
        assert pa.keys() == pb.keys()
        assert [pa[k] for k in pa] == pytest.approx([pb[k] for k in pa], rel=1e-5, abs=1e-6)


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


def _train_with(tmp: Path, rows: list[tuple[str, str]], **sections: dict) -> Path:
    train = _table(tmp / "train.tsv", rows)
    recipe: dict = {
        "task": "classify",
        "data": {"train": str(train), "valid": str(train), "text_column": "sentence"},
        "model": {"embedding_dim": 16, "hidden_size": 16},
        "training": {"max_steps": 60, "batch_size": 8, "lr": 1.0e-2, "threads": 1},
        "output": str(tmp / "run"),
    }
    for name, values in sections.items():
        recipe[name].update(values)
    path = tmp / "recipe.yaml"
    path.write_text(yaml.safe_dump(recipe))
    return api.train(path)


def test_overfits_one_batch() -> None:
    torch.manual_seed(0)
    model = Classifier(40, 3, 16, 32, cell="gru", pooling="attention")
    gen = torch.Generator().manual_seed(1)
    tokens = torch.randint(1, 40, (8, 7), generator=gen)
    lengths = torch.tensor([7, 3, 5, 7, 2, 6, 4, 1])
    labels = torch.tensor([0, 1, 2, 0, 1, 2, 0, 1])
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(150):
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(tokens, lengths), labels)
        loss.backward()
        opt.step()
    assert loss.item() < 0.05


def test_subword_tokenizer_trains_and_round_trips(tmp_path: Path) -> None:
    rows = [(t, "pos") for t in POS] * 6 + [(t, "neg") for t in NEG] * 6
    run = _train_with(
        tmp_path,
        rows,
        data={"tokenizer": "subword", "subword_model": "unigram", "subword_vocab_size": 60},
    )
    loaded = api.load(run)
    codec = cls.Codec(loaded.state)
    assert codec.tokenizer.kind == "subword"
    assert codec.tokenizer.join(codec.tokenizer.split("he ate the pie")) == "he ate the pie"
    out = dict(api.classify(loaded, ["he ate the pie happily", "he ate the pie angrily"]))
    assert out["he ate the pie happily"]["pos"] > 0.5 > out["he ate the pie angrily"]["pos"]


def test_token_pattern_is_used_and_checked(tmp_path: Path) -> None:
    from rnncli.config import validate_recipe
    from rnncli.errors import RecipeError

    base = {"task": "classify", "data": {"train": "x.tsv"}}
    with pytest.raises(RecipeError, match="not a valid regular expression"):
        validate_recipe({**base, "data": {"train": "x.tsv", "token_pattern": "[a-"}})
    rows = [("a-b c", "x"), ("d-e f", "y")] * 8
    run = _train_with(tmp_path, rows, data={"token_pattern": r"[^\s-]+"})
    codec = cls.Codec(api.load(run).state)
    assert codec.tokenizer.split("A-b c") == ["a", "b", "c"]


def test_pretrained_vectors_initialise_embeddings(tmp_path: Path) -> None:
    vectors = tmp_path / "vectors.txt"  # word2vec text: a header, then word + numbers
    vectors.write_text("3 4\nHappily 1 2 3 4\nhappily 5 6 7 8\npie 0.5 0.5 0.5 0.5\n")
    rows = [(t, "pos") for t in POS] * 6 + [(t, "neg") for t in NEG] * 6
    run = _train_with(
        tmp_path,
        rows,
        data={"lowercase": True},
        model={"embedding_dim": 4, "pretrained_vectors": str(vectors), "freeze_embeddings": True},
    )
    loaded = api.load(run)
    index = cls.Codec(loaded.state).vocab.index
    weight = loaded.model.embedding.weight  # type: ignore[union-attr]
    assert weight[index["happily"]].tolist() == [5, 6, 7, 8]  # exact match beats lower-cased
    assert weight[index["pie"]].tolist() == [0.5] * 4  # frozen: still the file's vector
    bad = tmp_path / "bad"
    bad.mkdir()
    wrong = tmp_path / "wrong.txt"
    wrong.write_text("pie 1 2 3\n")
    with pytest.raises(DataError, match=r"have 3 dimensions but model\.embedding_dim is 4"):
        _train_with(bad, rows, model={"embedding_dim": 4, "pretrained_vectors": str(wrong)})


def test_class_weights_and_monitor(tmp_path: Path) -> None:
    rows = [(t, "pos") for t in POS] * 9 + [(t, "neg") for t in NEG[:1]] * 3
    run = _train_with(
        tmp_path,
        rows,
        training={"class_weights": "balanced", "monitor": "valid_macro_f1", "eval_every": 20},
    )
    meta = api.load(run).meta
    assert meta["recipe"]["training"]["monitor"] == "valid_macro_f1"
    assert meta["metrics"]["valid_macro_f1"] == 1.0
    weights = cls.class_weights(
        "balanced",
        cls.Codec(cls.TaskData.from_json(meta["task_data"])),
        torch.tensor([1] * 36 + [0] * 3),
    )
    assert weights is not None and weights[0] / weights[1] == pytest.approx(12.0)
    with pytest.raises(DataError, match="unknown label"):
        cls.class_weights(
            {"nope": 2.0},
            cls.Codec(cls.TaskData.from_json(meta["task_data"])),
            torch.tensor([0, 1]),
        )


def test_multi_label(tmp_path: Path) -> None:
    rows = [
        ("goal scored in the match", "sport"),
        ("the minister voted", "politics"),
        ("the minister scored a goal in the match", "politics|sport"),
        ("rain all day", ""),
    ] * 8
    run = _train_with(
        tmp_path,
        rows,
        data={"multi_label": True},
        training={"max_steps": 120},
    )
    loaded = api.load(run)
    assert loaded.meta["task_data"]["labels"] == ["politics", "sport"]
    lines = ["the minister scored a goal in the match", "goal scored in the match", "rain all day"]
    got = [{x for x, _ in api.decide(loaded, p)} for _, p in api.classify(loaded, lines)]
    assert got == [{"politics", "sport"}, {"sport"}, set()]
    out = rnn("classify", "-m", str(run), "-f", "label", stdin="\n".join(lines) + "\n", check=True)
    cells = [set(line.split("|")) - {""} for line in out.stdout.split("\n")[:-1]]
    assert cells == got  # labels joined by the recipe's separator, most probable first
    strict = rnn("classify", "-m", str(run), "--threshold", "0.999999", stdin="rain\n", check=True)
    assert strict.stdout.startswith("\t\train")
    test = tmp_path / "test.jsonl"
    test.write_text(
        json.dumps({"sentence": "goal scored in the match", "label": ["sport"]})
        + "\n"
        + json.dumps({"sentence": "the minister voted", "label": ["politics"]})
        + "\n"
    )
    metrics = api.evaluate(loaded, test)
    assert metrics["accuracy"] == 1.0 and metrics["micro_f1"] == 1.0


def test_threshold_refused_for_single_label(classifier_run: Path) -> None:
    err = rnn("classify", "-m", str(classifier_run), "--threshold", "0.3", stdin="so good\n")
    assert err.returncode == 2 and "applies to multi-label models" in err.stderr


def test_blank_lines_keep_their_place(classifier_run: Path) -> None:
    res = rnn("classify", "-m", str(classifier_run), stdin="so good\n  \nso bad\n", check=True)
    lines = res.stdout.split("\n")
    assert lines[0].startswith("pos\t") and lines[1] == "" and lines[2].startswith("neg\t")
    assert "warning: 1 blank input line(s) (line 2)" in res.stderr
    js = rnn("classify", "-m", str(classifier_run), "-f", "jsonl", stdin="\n", check=True)
    assert json.loads(js.stdout)["label"] is None


def test_label_names_rename_as_read(tmp_path: Path) -> None:
    rows = [(t, "1") for t in POS] * 6 + [(t, "0") for t in NEG] * 6
    run = _train_with(tmp_path, rows, data={"label_names": {0: "negative", 1: "positive"}})
    loaded = api.load(run)
    assert loaded.meta["task_data"]["labels"] == ["negative", "positive"]
    test = _table(tmp_path / "test.tsv", [("so good", "1"), ("so bad", "0")])
    assert api.evaluate(loaded, test)["accuracy"] == 1.0  # raw labels in, renamed on read


def test_builtin_sentiment_model() -> None:
    lines = "What a wonderful, moving film\nA dull and lifeless mess\n"
    res = rnn("classify", "--format", "label", stdin=lines, check=True)
    assert res.stdout.splitlines() == ["positive", "negative"]
    assert "built-in classify model" in res.stderr
