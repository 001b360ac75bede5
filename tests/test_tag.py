"""task: tag — model (CRF, char features, padding), training, the CLI and bad input."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from rnncli import api
from rnncli.data.tagging import allowed_transitions, violations
from rnncli.models.tagger import Tagger, TaggerEnsemble, char_kinds, word_case
from rnncli.tasks.tag import task as tg

from .conftest import rnn

# Tiny named-entity data: a person before a verb, a city after "in", a company after "at".
SENTENCES = [
    ("Tim Cook works at Apple in Paris .", "B-per I-per O O B-org O B-loc O"),
    ("Anna lives in Berlin .", "B-per O O B-loc O"),
    ("Bob Smith met Anna at Google .", "B-per I-per O B-per O B-org O"),
    ("We flew to New York .", "O O O B-loc I-loc O"),
    ("Maria works at Siemens in Munich .", "B-per O O B-org O B-loc O"),
    ("they stayed in Rome", "O O O B-loc"),
]


def _conll(path: Path, sentences: list[tuple[str, str]] = SENTENCES) -> Path:
    blocks = [
        "".join(f"{w}\t{t}\n" for w, t in zip(s.split(), tags.split(), strict=True))
        for s, tags in sentences
    ]
    path.write_text("\n".join(blocks) + "\n", encoding="utf-8")
    return path


def _recipe(tmp: Path, model: dict | None = None, **data: object) -> Path:
    train = _conll(tmp / "train.conll")
    recipe = {
        "task": "tag",
        "data": {"train": str(train), "valid": str(train), **data},
        "model": {
            "embedding_dim": 16,
            "hidden_size": 24,
            "char_dim": 8,
            "char_hidden": 8,
            "dropout": 0.0,
            "word_dropout": 0.0,
            **(model or {}),
        },
        "training": {
            "max_steps": 150,
            "epochs": 1000,
            "batch_size": 6,
            "eval_every": 50,
            "lr": 2.0e-2,
            "device": "cpu",
            "threads": 1,
        },
        "output": str(tmp / "run"),
    }
    path = tmp / "recipe.yaml"
    path.write_text(yaml.safe_dump(recipe), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def tagger_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return api.train(_recipe(tmp_path_factory.mktemp("tag")))


@pytest.mark.parametrize(
    "model",
    [
        {"crf": True},
        {"crf": False, "char_features": "lstm"},
        {"char_features": "none"},
        {"cell": "gru", "num_layers": 2},
        {"ensemble": 2},
        {"char_features": "none", "case_features": True},
    ],
    ids=["crf-cnn", "softmax-charlstm", "crf-nochars", "gru-2-layers", "ensemble", "case-only"],
)
def test_overfits_one_batch(tmp_path: Path, model: dict) -> None:
    run = api.train(_recipe(tmp_path, model))
    loaded = api.load(run)
    got = list(api.tag(loaded, [s for s, _ in SENTENCES]))
    assert [" ".join(t.tags) for t in got] == [tags for _, tags in SENTENCES]


def test_iobes_model_speaks_the_data_scheme(tmp_path: Path) -> None:
    run = api.train(_recipe(tmp_path, {"scheme": "iobes"}))
    loaded = api.load(run)
    assert set(loaded.state.tags) >= {"S-loc", "E-per"}  # it predicts in IOBES ...
    got = list(api.tag(loaded, [s for s, _ in SENTENCES]))
    assert [" ".join(t.tags) for t in got] == [tags for _, tags in SENTENCES]  # ... says IOB2


def test_word_case_hand_made() -> None:
    chars = ["<unk>", *"abAB12-"]
    ids = {c: i + 1 for i, c in enumerate(chars)}
    words = ["Ab", "AB", "aB", "ab", "a1", "12", "-", "B", "AbA", "-a"]
    letters = torch.zeros(len(words), 3, dtype=torch.long)
    for i, w in enumerate(words):
        letters[i, : len(w)] = torch.tensor([ids[c] for c in w])
    sizes = torch.tensor([len(w) for w in words])
    kinds = torch.tensor(char_kinds(chars))[letters]
    got = word_case(kinds, sizes).int().tolist()
    # starts upper, all upper, mixed inside, all lower, a digit, all digits, no letter/digit
    assert got == [
        [1, 0, 0, 0, 0, 0, 0],
        [1, 1, 0, 0, 0, 0, 0],
        [0, 0, 1, 0, 0, 0, 0],
        [0, 0, 0, 1, 0, 0, 0],
        [0, 0, 0, 1, 1, 0, 0],
        [0, 0, 0, 0, 1, 1, 0],
        [0, 0, 0, 0, 0, 0, 1],
        [1, 1, 0, 0, 0, 0, 0],
        [1, 0, 1, 0, 0, 0, 0],
        [0, 0, 0, 1, 0, 0, 0],
    ]


def _random_tagger(
    char_features: str, crf: bool, members: int = 1, case: bool = False, lists: int = 0
) -> Tagger | TaggerEnsemble:
    tags = ["O", "B-a", "I-a", "B-b", "I-b"]
    torch.manual_seed(0)
    taggers = []
    for _ in range(members):
        model = Tagger(
            30,
            20,
            len(tags),
            8,
            6,
            char_features=char_features,
            char_dim=5,
            char_hidden=4,
            crf=crf,
            allowed=allowed_transitions(tags, "iob2"),
            case_kinds=char_kinds(["<unk>", *"abcdefABCDEF012345"]) if case else None,
            gazetteers=lists,
        ).eval()
        with torch.no_grad():
            for p in model.parameters():
                p.add_(torch.randn_like(p))  # strong random scores (the CRF's too)
        taggers.append(model)
    return taggers[0] if members == 1 else TaggerEnsemble(taggers).eval()


def _encoded(lengths: list[int], seed: int = 0, lists: int = 0) -> list[tg.Encoded]:
    g = torch.Generator().manual_seed(seed)
    out = []
    for n in lengths:
        words = torch.randint(0, 30, (n,), generator=g).numpy()
        width = int(torch.randint(1, 9, (1,), generator=g))
        letters = torch.randint(1, 20, (n, width), generator=g).numpy()
        sizes = torch.randint(1, width + 1, (n,), generator=g).numpy()
        for i, k in enumerate(sizes):
            letters[i, k:] = 0
        flags = torch.randint(0, 2, (n, lists), generator=g).float().numpy()
        out.append((words, letters, sizes, flags))
    return out


@pytest.mark.threads
@pytest.mark.parametrize(
    ("char_features", "members", "case", "lists"),
    [
        ("cnn", 1, False, 0),
        ("lstm", 1, False, 0),
        ("none", 1, False, 0),
        ("cnn", 3, False, 0),
        ("none", 1, True, 0),
        ("cnn", 2, False, 3),
    ],
)
@pytest.mark.parametrize("crf", [True, False])
def test_padding_never_changes_a_tag_or_probability(
    char_features: str, crf: bool, members: int, case: bool, lists: int
) -> None:
    model = _random_tagger(char_features, crf, members, case, lists)
    items = _encoded([4, 11, 1, 7], lists=lists)
    together = tg.predict(model, items, 8, confidence=True)
    for i, item in enumerate(items):
        alone = tg.predict(model, [item], 8, confidence=True)[0]
        assert alone[0].tolist() == together[i][0].tolist()
        torch.testing.assert_close(
            torch.from_numpy(alone[1]), torch.from_numpy(together[i][1]), atol=1e-5, rtol=0
        )


@pytest.mark.parametrize("members", [1, 3])
@pytest.mark.parametrize("crf", [True, False])
def test_decoding_never_emits_an_invalid_bio_sequence(crf: bool, members: int) -> None:
    model = _random_tagger("cnn", crf, members)
    tags = ["O", "B-a", "I-a", "B-b", "I-b"]
    results = tg.predict(model, _encoded([1, 2, 3, 5, 8, 13] * 20, seed=3), 16)
    seen_i = False
    for ids, _ in results:
        sequence = [tags[i] for i in ids.tolist()]
        assert violations(sequence, "iob2") == [], sequence
        seen_i |= any(t.startswith("I-") for t in sequence)
    assert seen_i  # the check is not vacuous


@pytest.mark.parametrize("crf", [True, False])
def test_an_ensemble_decodes_on_its_members_mean_scores(crf: bool) -> None:
    one = _random_tagger("cnn", crf)
    items = _encoded([3, 9, 5], seed=4)
    # copies of one tagger: the mean is the tagger itself
    same = TaggerEnsemble([one, copy.deepcopy(one)]).eval()
    for (a, pa), (b, pb) in zip(
        tg.predict(one, items, 8, True), tg.predict(same, items, 8, True), strict=True
    ):
        assert a.tolist() == b.tolist()
        np.testing.assert_allclose(pa, pb, atol=1e-5)
    # two different taggers: Viterbi over the mean emissions under the mean CRF
    pair = _random_tagger("cnn", crf, members=2)
    batch = [torch.as_tensor(x) for x in tg.make_batch(items)]
    with torch.no_grad():
        scores = pair(*batch)
        mask = tg.mask_of(batch[1], batch[0].shape[1], torch.device("cpu"))
        got = pair.decode(scores, mask, False)[0]
        if crf:
            mean = copy.deepcopy(pair.members[0].crf)
            for name in ("start", "end", "transitions"):
                getattr(mean, name).copy_(
                    (getattr(pair.members[0].crf, name) + getattr(pair.members[1].crf, name)) / 2
                )
            want = mean.viterbi(scores.mean(0), mask)[0]
        else:
            logp = scores.log_softmax(-1).mean(0)
            want = pair.members[0].crf.viterbi(logp, mask)[0]
    assert torch.equal(got[mask], want[mask])


@pytest.mark.parametrize("crf", [True, False])
def test_an_ensemble_loss_is_its_members_mean_loss(crf: bool) -> None:
    pair = _random_tagger("cnn", crf, members=3)
    items = _encoded([3, 9, 5, 1], seed=6)
    batch = [torch.as_tensor(x) for x in tg.make_batch(items)]
    mask = tg.mask_of(batch[1], batch[0].shape[1], torch.device("cpu"))
    tags = torch.randint(0, 5, mask.shape, generator=torch.Generator().manual_seed(7))
    with torch.no_grad():
        scores = pair(*batch)
        got = pair.loss(scores, tags, mask)
        each = [m.loss(s, tags, mask) for m, s in zip(pair.taggers, scores, strict=True)]
    torch.testing.assert_close(got, torch.stack(each).mean(), atol=1e-5, rtol=1e-5)


def test_round_trip_through_the_checkpoint(tagger_run: Path, tmp_path: Path) -> None:
    """The F1 the trainer measured on valid is what the saved model scores on it."""
    loaded = api.load(tagger_run)
    best = loaded.meta["metrics"]
    valid = loaded.recipe.data.valid
    again = api.evaluate(loaded, valid)
    assert again["f1"] == pytest.approx(best["valid_f1"], abs=1e-12)
    assert again["accuracy"] == pytest.approx(best["valid_accuracy"], abs=1e-12)
    assert again["loss"] == pytest.approx(best["valid_loss"], rel=1e-5)


def test_cli_formats_keep_lines_in_place(tagger_run: Path) -> None:
    text = "Anna lives in Berlin .\n\nTim Cook works at Apple in Paris .\n"
    conll = rnn("tag", "--model", str(tagger_run), "-q", stdin=text, check=True).stdout
    blocks = conll.split("\n\n")
    assert blocks[0].splitlines() == ["Anna\tB-per", "lives\tO", "in\tO", "Berlin\tB-loc", ".\tO"]
    assert conll.count("\n") == 5 + 1 + 1 + 8 + 1  # a blank line in: an empty block out
    spans = rnn("tag", "-m", str(tagger_run), "-f", "spans", "-q", stdin=text, check=True).stdout
    assert spans.split("\n") == [
        "per\tAnna\tloc\tBerlin",
        "",
        "per\tTim Cook\torg\tApple\tloc\tParis",
        "",
    ]
    jsonl = rnn("tag", "-m", str(tagger_run), "-f", "jsonl", "-q", stdin=text, check=True).stdout
    records = [json.loads(line) for line in jsonl.splitlines()]
    assert len(records) == 3 and records[1]["tokens"] == [] and records[1]["entities"] == []
    tim = records[2]["entities"][0]
    assert (tim["type"], tim["text"], tim["start"], tim["end"]) == ("per", "Tim Cook", 0, 8)
    assert (tim["token_start"], tim["token_end"]) == (0, 2) and 0 < tim["confidence"] <= 1
    assert len(records[2]["confidence"]) == len(records[2]["tokens"])


def test_cli_conll_input(tagger_run: Path, tmp_path: Path) -> None:
    gold = _conll(tmp_path / "gold.conll")
    out = rnn("tag", "-m", str(tagger_run), "--input", "conll", str(gold), "-q", check=True)
    assert out.stdout == gold.read_text(encoding="utf-8")


def test_evaluate_reports_entities(tagger_run: Path) -> None:
    valid = str(api.load(tagger_run).recipe.data.valid)
    out = rnn("evaluate", "--model", str(tagger_run), valid, check=True).stderr
    assert "f1" in out and "per entity type" in out and "loc" in out and "(none)" in out
    data = json.loads(
        rnn("evaluate", "--model", str(tagger_run), valid, "--format", "json", check=True).stdout
    )
    assert data["f1"] == 1.0 and data["entities"] == 13


def _one_error(proc: object, code: int = 1) -> str:
    assert proc.returncode == code, proc.stderr  # type: ignore[attr-defined]
    lines = proc.stderr.strip().splitlines()  # type: ignore[attr-defined]
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr  # type: ignore[attr-defined]
    return lines[0]


BAD_TRAIN = {
    "ragged": (b"Tim\tB-per\nCook\tI-per\tNNP\n", "ragged"),
    "empty": (b"", "no sentences"),
    "latin-1": (b"caf\xe9\tO\nParis\tB-loc\n", "not valid utf-8"),
    "invalid-bio": (b"Tim\tO\nCook\tI-per\n", "line 2"),
}


@pytest.mark.parametrize("case", sorted(BAD_TRAIN))
def test_bad_training_data_is_one_line(tmp_path: Path, case: str) -> None:
    content, expected = BAD_TRAIN[case]
    recipe = _recipe(tmp_path)
    (tmp_path / "train.conll").write_bytes(content)
    line = _one_error(rnn("train", str(recipe), "-q"))
    assert expected in line.lower() and "train.conll" in line
    assert not (tmp_path / "run").exists()


def test_a_tag_column_that_does_not_exist(tmp_path: Path) -> None:
    line = _one_error(rnn("train", str(_recipe(tmp_path, tag_column=3)), "-q"))
    assert "tag_column" in line and "2 columns" in line


def test_invalid_bio_is_repaired_when_asked(tmp_path: Path) -> None:
    recipe = _recipe(tmp_path, repair=True)
    path = tmp_path / "train.conll"
    path.write_text(path.read_text(encoding="utf-8") + "\nHi\tO\nBob\tI-per\n", encoding="utf-8")
    proc = rnn("train", str(recipe), "--set", "training.max_steps=2")
    assert proc.returncode == 0, proc.stderr
    assert "repaired" in proc.stderr


def test_unknown_tag_at_evaluation(tagger_run: Path, tmp_path: Path) -> None:
    test = _conll(tmp_path / "t.conll", [("Anna sings", "B-singer O")])
    line = _one_error(rnn("evaluate", "--model", str(tagger_run), str(test)))
    assert "'B-singer'" in line and "t.conll" in line and "line 1" in line


def test_a_model_of_another_task_is_refused(trained_run: Path) -> None:
    line = _one_error(rnn("tag", "--model", str(trained_run), stdin="a b\n"))
    assert "not 'tag'" in line and "rnn generate" in line


def test_plain_tags_train_without_entities(tmp_path: Path) -> None:
    pos = [(s, " ".join("X" if t == "O" else "N" for t in tags.split())) for s, tags in SENTENCES]
    recipe = _recipe(tmp_path, scheme="none")
    _conll(tmp_path / "train.conll", pos)
    loaded = api.load(api.train(recipe))
    assert loaded.recipe.training.monitor == "valid_accuracy"
    got = next(api.tag(loaded, ["Anna lives in Berlin ."]))
    assert got.tags == ["N", "X", "X", "N", "X"] and got.entities == []
    line = _one_error(rnn("tag", "-m", str(loaded.path), "-f", "spans", stdin="x\n"), code=2)
    assert "entity" in line


def test_trains_on_several_files(tmp_path: Path) -> None:
    recipe = _recipe(tmp_path)
    data = yaml.safe_load(recipe.read_text(encoding="utf-8"))
    first, second = (
        _conll(tmp_path / "a.conll", SENTENCES[:2]),
        _conll(tmp_path / "b.conll", SENTENCES[2:]),
    )
    data["data"]["train"] = [str(first), {"file": str(second), "repeat": 3}]
    data["training"].update(max_steps=2, batch_size=1)
    recipe.write_text(yaml.safe_dump(data), encoding="utf-8")
    loaded = api.load(api.train(recipe))
    assert loaded.state.train_sentences == len(SENTENCES)  # distinct sentences
    assert loaded.state.train_tokens == sum(len(s.split()) for s, _ in SENTENCES)
    plan = tg.prepare(loaded.recipe, tmp_path, loaded.state)
    assert plan.num_batches(0) == 2 + 3 * 4  # the second file's sentences count 3 times
    # held out from the distinct sentences first, so no copy is on both sides
    spec = loaded.recipe.model_copy(deep=True)
    spec.data.valid, spec.data.valid_fraction = None, 0.5
    assert tg.prepare(spec, tmp_path, loaded.state).num_batches(0) < 2 + 3 * 4 - 2


def test_a_file_can_set_its_own_held_out_share() -> None:
    parts = [tg.TrainFile(file="a"), tg.TrainFile(file="b", repeat=2, valid_fraction=0.5)]
    train, valid = tg.held_out(parts, [10, 8], 0.0, seed=7)
    assert len(valid) == 4 and all(i >= 10 for i in valid)  # half of b, nothing of a
    assert sorted(train + valid) == list(range(18))
    pooled = [tg.TrainFile(file="a"), tg.TrainFile(file="b")]
    assert tg.held_out(pooled, [10, 8], 0.5, seed=7) == tg._split(18, 0.5, 7)  # as before


def test_builtin_named_entity_model() -> None:
    """The WNUT-17 model tags the issue's example without --model (a fixed model)."""
    line = "Tim Cook visited Paris with the Apple team\n"
    res = rnn("tag", "-f", "spans", stdin=line, check=True)
    assert res.stdout.startswith("person\tTim Cook\t") and res.stdout.count("\n") == 1
    assert "built-in tag model" in res.stderr


def test_pretrained_vectors_initialise_the_word_embeddings(tmp_path: Path) -> None:
    vectors = tmp_path / "vectors.txt"
    vectors.write_text(
        "anna " + " ".join(["0.5"] * 16) + "\nberlin " + " ".join(["-0.5"] * 16) + "\n"
    )
    recipe = _recipe(tmp_path, {"pretrained_vectors": str(vectors), "freeze_embeddings": True})
    data = yaml.safe_load(recipe.read_text(encoding="utf-8"))
    data["training"]["max_steps"] = 3
    recipe.write_text(yaml.safe_dump(data), encoding="utf-8")
    loaded = api.load(api.train(recipe))
    index = {w: i for i, w in enumerate(loaded.state.vocab)}
    weight = loaded.model.embedding.weight
    assert torch.allclose(weight[index["anna"]], torch.full((16,), 0.5))  # frozen: unchanged
    assert torch.allclose(weight[index["berlin"]], torch.full((16,), -0.5))


def test_split_prefixes_reads_mentions_apart_everywhere(tmp_path: Path) -> None:
    """Joined '@Anna' in training, raw text and an evaluated file all reach the model as
    '@' 'Anna'; the offsets of raw text still point at the pieces."""
    recipe = _recipe(tmp_path, split_prefixes="@#")
    mentions = [*SENTENCES, ("thanks @Anna for #Berlin", "O B-per O B-loc")]
    _conll(tmp_path / "train.conll", mentions)
    data = yaml.safe_load(recipe.read_text(encoding="utf-8"))
    data["training"].update(max_steps=2, eval_every=1)
    recipe.write_text(yaml.safe_dump(data), encoding="utf-8")
    loaded = api.load(api.train(recipe))
    assert loaded.state.split_prefixes == "@#"
    assert "@" in loaded.state.vocab and "@anna" not in loaded.state.vocab
    text = "hi @Anna  #x !"
    tokens, offsets = tg.Codec(loaded.state).tokenize(text)
    assert tokens == ["hi", "@", "Anna", "#", "x", "!"]
    assert [text[a:b] for a, b in offsets] == tokens
    assert len(next(api.tag(loaded, [text])).tags) == 6
    metrics = api.evaluate(loaded, tmp_path / "train.conll")
    assert metrics["tokens"] == sum(len(s.split()) for s, _ in mentions) + 2


@pytest.mark.parametrize("symbols", ["a", "@ ", "_"])
def test_split_prefixes_are_symbols(symbols: str) -> None:
    with pytest.raises(ValueError, match="not a symbol"):
        tg.TagData(train="x.conll", split_prefixes=symbols)


def test_gazetteer_flags_hand_made() -> None:
    state = tg.TaskData.from_json(
        {
            "vocab": ["<unk>"],
            "chars": ["<unk>", "a"],
            "tags": ["O", "B-x"],
            "scheme": "iob2",
            "data_scheme": "iob2",
            "gazetteers": {"place": ["new york", "paris"], "name": ["paris", "york"]},
        }
    )
    got = tg.Codec(state).flags(["I", "love", "NEW", "York", "and", "paris", ",", "not", "New"])
    # an entry flags all its tokens; 'York' is in both lists, the lone 'New' in none
    want = [[0, 0], [0, 0], [1, 0], [1, 1], [0, 0], [1, 1], [0, 0], [0, 0], [0, 0]]
    assert got.tolist() == want


def _with_gazetteer(tmp_path: Path, entries: str, **training: object) -> Path:
    cities = tmp_path / "cities.txt"
    cities.write_text(entries, encoding="utf-8")
    recipe = _recipe(tmp_path, gazetteers={"city": str(cities)})
    data = yaml.safe_load(recipe.read_text(encoding="utf-8"))
    data["training"].update(training)
    recipe.write_text(yaml.safe_dump(data), encoding="utf-8")
    return recipe


def test_gazetteers_are_learned_from_and_kept_in_the_run(tmp_path: Path) -> None:
    recipe = _with_gazetteer(tmp_path, "# cities\nBerlin\nnew  york\n\nRome\nMunich\nParis\n")
    loaded = api.load(api.train(recipe))
    assert loaded.state.gazetteers == {"city": ["berlin", "munich", "new york", "paris", "rome"]}
    (tmp_path / "cities.txt").unlink()  # the run holds its lists: tagging needs no file
    again = api.load(loaded.path)
    got = list(api.tag(again, [s for s, _ in SENTENCES]))
    assert [" ".join(t.tags) for t in got] == [tags for _, tags in SENTENCES]
    flags = tg.Codec(again.state).flags(["to", "New", "York"])
    assert flags[:, 0].tolist() == [0.0, 1.0, 1.0]


@pytest.mark.parametrize(
    ("entries", "expected"),
    [("# nothing\n\n", "no entries"), (b"Z\xfcrich\n", "not valid utf-8"), (None, "cities.txt")],
    ids=["empty", "latin-1", "missing"],
)
def test_a_bad_gazetteer_is_one_line(
    tmp_path: Path, entries: str | bytes | None, expected: str
) -> None:
    recipe = _with_gazetteer(tmp_path, "x\n")
    path = tmp_path / "cities.txt"
    if entries is None:
        path.unlink()
    elif isinstance(entries, bytes):
        path.write_bytes(entries)
    else:
        path.write_text(entries, encoding="utf-8")
    line = _one_error(rnn("train", str(recipe), "-q"))
    assert expected in line.lower() and "cities.txt" in line
    assert not (tmp_path / "run").exists()


def test_gazetteer_names_are_checked() -> None:
    with pytest.raises(ValueError, match="name a list"):
        tg.TagData(train="x.conll", gazetteers={"a city": "c.txt"})
