"""Translation: data, model shapes, masking, search, a reverse task learned, CLI."""

from __future__ import annotations

import gzip
import json
import random
from pathlib import Path
from typing import Any

import pytest
import torch
import yaml

from rnncli import api
from rnncli.config import load_recipe
from rnncli.data.pairs import dedupe, filter_words, hold_out, read_pairs
from rnncli.decoding import beam_search, greedy_search
from rnncli.errors import DataError, RecipeError
from rnncli.models.seq2seq import Seq2Seq
from rnncli.tasks.translate import task as tr
from tests.conftest import rnn

LETTERS = ["a", "b", "c", "d", "e", "f", "g", "h"]


def reverse_pairs(n: int, seed: int) -> list[tuple[str, str]]:
    rng = random.Random(seed)
    pairs = []
    for _ in range(n):
        words = [rng.choice(LETTERS) for _ in range(rng.randint(3, 7))]
        pairs.append((" ".join(words), " ".join(reversed(words))))
    return pairs


def write_pairs(path: Path, pairs: list[tuple[str, str]]) -> Path:
    path.write_text("".join(f"{s}\t{t}\n" for s, t in pairs), encoding="utf-8")
    return path


def reverse_recipe(tmp: Path, **sections: dict) -> Path:
    recipe: dict = {
        "task": "translate",
        "data": {
            "train": str(write_pairs(tmp / "train.tsv", reverse_pairs(6000, 1))),
            "valid_size": 50,
            "test_size": 100,
            "source": {"tokenizer": "word"},
            "target": {"tokenizer": "word"},
            "joint_vocab": True,
        },
        "model": {
            "cell": "gru",
            "embedding_dim": 32,
            "hidden_size": 128,
            "attention": "general",
            "share_embeddings": True,
        },
        "training": {
            "max_steps": 600,
            "batch_size": 32,
            "lr": 5.0e-3,
            "schedule": "cosine",
            "eval_every": 300,
            "device": "cpu",
            "threads": 1,
        },
        "output": str(tmp / "run"),
    }
    for name, values in sections.items():
        recipe.setdefault(name, {}).update(values)
    path = tmp / "recipe.yaml"
    path.write_text(yaml.safe_dump(recipe), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def reverse_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("reverse")
    return api.train(reverse_recipe(tmp))


def tiny_model(attention: str = "dot", cell: str = "gru", **kw: object) -> Seq2Seq:
    torch.manual_seed(0)
    args: dict = {
        "source_vocab": 20,
        "target_vocab": 24,
        "embedding_dim": 8,
        "hidden_size": 12,
        "num_layers": 2,
        "cell": cell,
        "attention": attention,
        "pad_id": tr.PAD_ID,
    }
    args.update(kw)
    return Seq2Seq(**args).eval()


# ------------------------------------------------------------------ model
@pytest.mark.parametrize("attention", ["none", "dot", "general", "additive"])
@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_shapes_for_every_attention_and_cell(attention: str, cell: str) -> None:
    model = tiny_model(attention, cell)
    source = torch.randint(4, 20, (3, 5))
    lengths = torch.tensor([5, 3, 1])
    given = torch.randint(4, 24, (3, 6))
    assert model(source, lengths, given).shape == (3, 6, 24)
    state = model.encode(source, lengths)
    assert state.memory.shape == (3, 5, 12)
    logits, state = model.stepper()(given[:, 0], state)
    assert logits.shape == (3, 24)
    if attention != "none":
        assert state.attention is not None and state.attention.shape == (3, 5)
        assert torch.allclose(state.attention.sum(-1), torch.ones(3))
        assert float(state.attention[1, 3:].detach().abs().sum()) == 0.0  # padding gets no weight


@pytest.mark.parametrize(
    "options",
    [
        {"input_feeding": True},
        {"bidirectional": False, "bridge": "copy"},
        {"bridge": "zero", "cell": "lstm"},
        {"tie_embeddings": True},
        {"share_embeddings": True, "target_vocab": 20, "tie_embeddings": True},
    ],
)
@pytest.mark.threads
def test_options_keep_the_shapes_and_the_step_matches_the_fused_pass(options: dict) -> None:
    model = tiny_model("additive", **options)
    source = torch.randint(4, 20, (2, 4))
    lengths = torch.tensor([4, 2])
    given = torch.randint(4, 20, (2, 5))
    full = model(source, lengths, given)
    state = model.encode(source, lengths)
    step = model.stepper()
    stepped = []
    for t in range(5):
        logits, state = step(given[:, t], state)
        stepped.append(logits)
    assert torch.allclose(full, torch.stack(stepped, 1), atol=1e-5)


@pytest.mark.threads
@pytest.mark.parametrize("attention", ["none", "additive"])
def test_padding_never_changes_a_translation(attention: str) -> None:
    model = tiny_model(attention)
    short = [5, 6, 7]
    long = [8, 9, 10, 11, 12, 13, 14]
    alone_src = torch.tensor([short])
    batch_src = torch.full((2, 7), tr.PAD_ID)
    batch_src[0, :3] = torch.tensor(short)
    batch_src[1] = torch.tensor(long)
    given = torch.randint(4, 24, (1, 4))
    alone = model(alone_src, torch.tensor([3]), given)
    both = model(batch_src, torch.tensor([3, 7]), given.repeat(2, 1))
    assert torch.allclose(alone[0], both[0], atol=1e-5)
    step = model.stepper()
    for beam in (1, 3):
        one = _search(model, step, alone_src, [3], beam)
        two = _search(model, step, batch_src, [3, 7], beam)
        assert one[0] == two[0]


def _search(model: Seq2Seq, step, source, lengths, beam):  # type: ignore[no-untyped-def]
    state = model.encode(source, torch.tensor(lengths))
    limits = [10] * len(lengths)
    if beam == 1:
        return [h.tokens for h in greedy_search(step, state, tr.BOS_ID, tr.EOS_ID, limits)]
    return [h[0].tokens for h in beam_search(step, state, tr.BOS_ID, tr.EOS_ID, limits, beam)]


@pytest.mark.threads
def test_beam_one_equals_greedy() -> None:
    for seed in range(5):
        torch.manual_seed(seed)
        model = Seq2Seq(20, 24, 8, 12, 1, "lstm", attention="general", pad_id=tr.PAD_ID).eval()
        source = torch.randint(4, 20, (4, 6))
        lengths = torch.tensor([6, 5, 3, 2])
        step = model.stepper()
        with torch.inference_mode():
            greedy = greedy_search(step, model.encode(source, lengths), 2, 3, [8, 8, 4, 12])
            beam = beam_search(step, model.encode(source, lengths), 2, 3, [8, 8, 4, 12], beam=1)
        assert [h.tokens for h in greedy] == [b[0].tokens for b in beam]
        for g, b in zip(greedy, beam, strict=True):
            assert g.log_prob == pytest.approx(b[0].log_prob, abs=1e-4)


class _Toy:
    """A step function where the greedy first choice leads to a worse sentence."""

    def __init__(self, rows: int) -> None:
        self.memory = torch.zeros(rows, 1, 1)
        self.last = torch.zeros(rows, dtype=torch.long)

    def select(self, index: torch.Tensor) -> _Toy:
        new = _Toy(len(index))
        new.last = self.last.index_select(0, index)
        return new


def _toy_step(tokens: torch.Tensor, state: _Toy) -> tuple[torch.Tensor, _Toy]:
    # vocab: 0 bos, 1 eos, 2 "a", 3 "b". After bos: a 0.6, b 0.4. After a: eos 0.4,
    # a 0.3, b 0.3 (spread). After b: eos 0.95. Greedy: a eos (0.24); best: b eos (0.38).
    probs = torch.zeros(len(tokens), 4)
    for i, tok in enumerate(tokens.tolist()):
        if tok == 0:
            probs[i] = torch.tensor([1e-9, 1e-9, 0.6, 0.4])
        elif tok == 2:
            probs[i] = torch.tensor([1e-9, 0.4, 0.3, 0.3])
        else:
            probs[i] = torch.tensor([1e-9, 0.95, 0.025, 0.025])
    new = _Toy(len(tokens))
    new.last = tokens
    return probs.log(), new


def test_beam_finds_what_greedy_misses_and_ranks_n_best() -> None:
    greedy = greedy_search(_toy_step, _Toy(1), 0, 1, [5])
    assert greedy[0].tokens == [2]
    best = beam_search(_toy_step, _Toy(1), 0, 1, [5], beam=3, n_best=3, length_penalty=0.0)[0]
    assert best[0].tokens == [3]
    assert best[0].log_prob == pytest.approx(float(torch.tensor(0.4 * 0.95).log()), abs=1e-5)
    assert [h.score for h in best] == sorted((h.score for h in best), reverse=True)
    assert len(best) == 3


# ------------------------------------------------------------------- data
def test_read_pairs_tsv_gzip_and_two_files(tmp_path: Path) -> None:
    text = "Hello .\tBonjour .\n\nBye\tSalut\textra\n"
    (tmp_path / "p.tsv").write_text(text, encoding="utf-8")
    with gzip.open(tmp_path / "p.tsv.gz", "wt", encoding="utf-8") as f:
        f.write(text)
    want = [("Hello .", "Bonjour ."), ("Bye", "Salut")]
    assert read_pairs(str(tmp_path / "p.tsv")) == want
    assert read_pairs(str(tmp_path / "p.tsv.gz")) == want
    assert read_pairs(str(tmp_path / "p.tsv"), reverse=True) == [(t, s) for s, t in want]
    (tmp_path / "a.en").write_text("one\ntwo\n", encoding="utf-8")
    (tmp_path / "a.fr").write_text("un\ndeux\n", encoding="utf-8")
    files = {"source": str(tmp_path / "a.en"), "target": str(tmp_path / "a.fr")}
    assert read_pairs(files) == [("one", "un"), ("two", "deux")]
    (tmp_path / "b.fr").write_text("un\n", encoding="utf-8")
    with pytest.raises(DataError, match="line-aligned"):
        read_pairs({"source": str(tmp_path / "a.en"), "target": str(tmp_path / "b.fr")})
    (tmp_path / "bad.tsv").write_text("ok\tfine\nno tab here\n", encoding="utf-8")
    with pytest.raises(DataError, match="line 2"):
        read_pairs(str(tmp_path / "bad.tsv"))
    (tmp_path / "latin.tsv").write_bytes("caf\xe9\tcafe\n".encode("latin-1"))
    with pytest.raises(DataError, match="not valid utf-8"):
        read_pairs(str(tmp_path / "latin.tsv"))
    assert read_pairs(str(tmp_path / "latin.tsv"), encoding="latin-1") == [("café", "cafe")]
    with pytest.raises(DataError, match="not found"):
        read_pairs(str(tmp_path / "missing.tsv"))


def test_filters_dedupe_and_seeded_hold_out() -> None:
    pairs = [("a b c", "x"), ("a", "x y z w"), ("a", "x"), ("a", "x")]
    assert filter_words(pairs, 3) == [("a b c", "x"), ("a", "x"), ("a", "x")]
    assert dedupe(pairs) == [("a b c", "x"), ("a", "x y z w"), ("a", "x")]
    rest, (valid, test) = hold_out(100, [10, 20], seed=7)
    assert (len(rest), len(valid), len(test)) == (70, 10, 20)
    assert not set(rest) & set(valid) and not set(valid) & set(test)
    assert hold_out(100, [10, 20], seed=7) == (rest, [valid, test])
    with pytest.raises(DataError, match="cannot hold out"):
        hold_out(10, [5, 5], seed=1)


def test_recipe_checks(tmp_path: Path) -> None:
    path = reverse_recipe(tmp_path)
    with pytest.raises(RecipeError, match="joint_vocab"):
        load_recipe(path, ["data.target.tokenizer=char"])
    with pytest.raises(RecipeError, match="share_embeddings"):
        load_recipe(path, ["data.joint_vocab=false"])
    with pytest.raises(RecipeError, match="did you mean 'attention'"):
        load_recipe(path, ["model.atention=dot"])
    with pytest.raises(RecipeError, match="input_feeding"):
        load_recipe(path, ["model.attention=none", "model.input_feeding=true"])
    # input feeding is on by default; without attention the default turns it off quietly
    assert load_recipe(path, ["model.attention=none"]).model.input_feeding is False  # type: ignore[attr-defined]
    assert load_recipe(path, ["model.attention=dot"]).model.input_feeding is True  # type: ignore[attr-defined]


# -------------------------------------------------------------- learning
def test_overfits_one_batch() -> None:
    torch.manual_seed(0)
    model = Seq2Seq(12, 12, 16, 32, 1, "gru", attention="dot", pad_id=tr.PAD_ID)
    source = torch.randint(4, 12, (8, 6))
    gold = torch.cat([source.flip(1), torch.full((8, 1), tr.EOS_ID)], 1)
    given = torch.cat([torch.full((8, 1), tr.BOS_ID), gold[:, :-1]], 1)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(150):
        logits = model(source, torch.full((8,), 6), given)
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, 12), gold.reshape(-1))
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert float(loss.detach()) < 0.05


def test_reverse_task_is_learned_exactly(reverse_run: Path) -> None:
    loaded = api.load(reverse_run, "translate")
    pairs = tr.read_eval_pairs(reverse_run / "test.tsv", {}, as_trained=True)
    assert len(pairs) == 100
    out = [r.text for r in api.translate(loaded, [s for s, _ in pairs], beam=1)]
    assert out == [t for _, t in pairs]  # 100% exact match, greedy
    beam = [r.text for r in api.translate(loaded, [s for s, _ in pairs[:20]], beam=4)]
    assert beam == [t for _, t in pairs[:20]]
    metrics = api.evaluate(loaded, reverse_run / "test.tsv", beam=2)
    assert metrics["bleu"] == pytest.approx(100.0)
    assert metrics["token_accuracy"] > 0.99 and metrics["perplexity"] < 1.1


def test_scheduled_sampling_and_input_feeding_train(tmp_path: Path) -> None:
    recipe = reverse_recipe(
        tmp_path,
        model={"input_feeding": True, "attention": "additive", "cell": "lstm"},
        training={
            "max_steps": 30,
            "eval_every": 30,
            "teacher_forcing_end": 0.5,
            "label_smoothing": 0.1,
            "eval_bleu_sentences": 10,
            "monitor": "valid_bleu",
        },
    )
    run = api.train(recipe)
    lines = (run / "metrics.jsonl").read_text().splitlines()
    evals = [m for m in map(json.loads, lines) if "split" not in m]
    assert "valid_bleu" in evals[-1]
    assert evals[-1]["valid_loss"] < 2.5  # it learns under sampling too


@pytest.mark.threads
def test_round_trip_and_order(reverse_run: Path, tmp_path: Path) -> None:
    loaded = api.load(reverse_run, "translate")
    lines = ["a b c", "", "h g f e d", "a"]
    first = [r.text for r in api.translate(loaded, lines, beam=3)]
    assert first[1] == ""
    assert first[0] == "c b a" and first[2] == "d e f g h"
    again = api.load(reverse_run / "best.safetensors", "translate")
    assert [r.text for r in api.translate(again, lines, beam=3, batch_size=1)] == first


# -------------------------------------------------------------------- CLI
def test_cli_translate(reverse_run: Path, tmp_path: Path) -> None:
    proc = rnn("translate", "-m", str(reverse_run), stdin="a b c\n\nd e\n", check=True)
    assert proc.stdout.splitlines() == ["c b a", "", "e d"]
    proc = rnn("translate", "-m", str(reverse_run), "-b", "3", "-n", "2", stdin="a b\n", check=True)
    rows = [line.split("\t") for line in proc.stdout.splitlines()]
    assert [r[0] for r in rows] == ["1", "1"] and rows[0][2] == "b a"
    assert float(rows[0][1]) >= float(rows[1][1])
    proc = rnn(
        "translate",
        "-m",
        str(reverse_run),
        "-f",
        "jsonl",
        "--attention",
        stdin="a b c\n",
        check=True,
    )
    record = json.loads(proc.stdout)
    att = record["candidates"][0]["attention"]
    assert record["translation"] == "c b a" and record["source_tokens"] == ["a", "b", "c"]
    assert len(att) == 4 and all(len(row) == 3 for row in att)  # 3 words + <eos>
    png = tmp_path / "att.png"
    rnn(
        "translate", "-m", str(reverse_run), "--plot-attention", str(png), stdin="a b\n", check=True
    )
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    proc = rnn("evaluate", "-m", str(reverse_run), str(reverse_run / "test.tsv"), "-f", "json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["bleu"] == pytest.approx(100.0)
    src, ref = tmp_path / "src.txt", tmp_path / "ref.txt"
    src.write_text("a b c\nd e f\n", encoding="utf-8")
    ref.write_text("c b a\nf e d\n", encoding="utf-8")
    proc = rnn("evaluate", "-m", str(reverse_run), str(src), "--references", str(ref), "-b", "1")
    assert proc.returncode == 0 and proc.stdout == ""  # the table goes to stderr
    assert "bleu" in proc.stderr and "100.0000" in proc.stderr and "nrefs:1" in proc.stderr
    proc = rnn("info", str(reverse_run), check=True)
    assert "general attention" in proc.stdout and "training pairs" in proc.stdout


def test_cli_bad_input(reverse_run: Path, classifier_path: Path, tmp_path: Path) -> None:
    long_line = " ".join(["a"] * 500) + "\n"
    proc = rnn("translate", "-m", str(reverse_run), "-b", "1", stdin=long_line + "zz q a\n")
    assert proc.returncode == 0
    assert len(proc.stdout.splitlines()) == 2
    assert "cut" in proc.stderr and "line 1" in proc.stderr
    assert "unknown source token" in proc.stderr and "'zz'" in proc.stderr
    proc = rnn("translate", "-m", str(classifier_path), stdin="hello\n")
    assert proc.returncode == 1 and proc.stderr.count("\n") == 1
    assert "classify" in proc.stderr and "Traceback" not in proc.stderr
    proc = rnn("translate", "-m", str(reverse_run), "-b", "2", "-n", "3", stdin="a\n")
    assert proc.returncode == 2 and "--n-best" in proc.stderr
    proc = rnn("translate", "-m", str(reverse_run), str(reverse_run / "nope.txt"))
    assert proc.returncode == 1 and "not found" in proc.stderr
    bad = tmp_path / "latin1.txt"
    bad.write_bytes(b"a b\n\xff\n")
    proc = rnn("translate", "-m", str(reverse_run), str(bad))
    assert proc.returncode == 1
    assert proc.stderr.startswith("error: ") and "line 2" in proc.stderr
    proc = rnn("translate", "-m", str(reverse_run), "--attention", stdin="a\n")
    assert proc.returncode == 2 and "jsonl" in proc.stderr


def test_bad_pairs_files_are_one_line_errors(tmp_path: Path) -> None:
    fake = tmp_path / "pairs.tsv.gz"
    fake.write_bytes(b"not gzip at all")
    with pytest.raises(DataError, match="cannot read"):
        read_pairs(str(fake))
    empty = tmp_path / "empty.tsv"
    empty.write_text("\n\n", encoding="utf-8")
    with pytest.raises(DataError, match="no sentence pairs"):
        read_pairs(str(empty))
    recipe = reverse_recipe(tmp_path)
    proc = rnn("train", str(recipe), "-s", f"data.train={empty}")
    assert proc.returncode == 1 and proc.stderr.strip().startswith("error:")
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr


@pytest.fixture(scope="module")
def classifier_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The built-in classifier: a checkpoint of another task."""
    return api.builtin_path("classify")


def test_builtin_english_to_french() -> None:
    proc = rnn("translate", "--beam", "5", stdin="I am cold.\n\nWhere is the station?\n")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == ["J'ai froid.", "", "Où se trouve la gare ?"]
    assert "built-in translate model" in proc.stderr


def test_held_out_sources_never_occur_in_training(tmp_path: Path) -> None:
    """The default split holds out source sentences, not pairs: a test sentence with
    several references is never trained on with another one (by_pair allows it)."""
    from rnncli.config import load_recipe
    from rnncli.tasks.translate.task import splits

    rows = [(f"s{i % 40}", f"t{i}") for i in range(120)]  # 40 sources, 3 references each
    recipe = reverse_recipe(tmp_path)
    write_pairs(tmp_path / "train.tsv", rows)
    spec = load_recipe(recipe, ["data.valid_size=5", "data.test_size=10"])
    train, valid, test = splits(spec.data, 1)  # type: ignore[attr-defined]
    held = {s for s, _ in valid + test}
    assert len(valid) == 5 and len(test) == 10 and len(held) == 15
    assert not held & {s for s, _ in train}
    assert len(train) == 120 - 15 * 3  # the other references of held-out sources: dropped
    spec = load_recipe(recipe, ["data.split=by_pair", "data.valid_size=5", "data.test_size=10"])
    train, valid, test = splits(spec.data, 1)  # type: ignore[attr-defined]
    assert len(train) == 105 and {s for s, _ in test} & {s for s, _ in train}


def test_a_run_stored_before_a_key_changed_keeps_what_it_used() -> None:
    """Runs stored before the split and the OpenNMT-py-like model defaults keep theirs."""
    from rnncli.config import validate_recipe

    stored = {"task": "translate", "data": {"train": "pairs.tsv"}, "model": {"cell": "gru"}}
    old: Any = validate_recipe(stored, stored=True)
    new: Any = validate_recipe(stored)
    assert (old.data.split, new.data.split) == ("by_pair", "by_source")
    was = (old.model.attention, old.model.input_feeding, old.model.bridge, old.model.init_range)
    now = (new.model.attention, new.model.input_feeding, new.model.bridge, new.model.init_range)
    assert was == ("additive", False, "linear", None)
    assert now == ("general", True, "copy", 0.1)


def test_init_range_sets_every_weight_uniform_and_keeps_padding_zero() -> None:
    from rnncli.models.builders import build_seq2seq
    from rnncli.tasks.translate.schema import TranslateModel

    section = TranslateModel(init_range=0.1, share_embeddings=True, tie_embeddings=True)
    model = build_seq2seq(section, 50, 50, tr.PAD_ID)
    for name, p in model.named_parameters():
        assert float(p.detach().abs().max()) <= 0.1, name
    assert float(model.source_embedding.weight[tr.PAD_ID].detach().abs().max()) == 0.0
    assert TranslateModel().init_range == 0.1  # the default, as OpenNMT-py's
    torch_init = build_seq2seq(TranslateModel(init_range=None), 50, 50, tr.PAD_ID)
    assert float(torch_init.source_embedding.weight.detach().abs().max()) > 1.0  # torch's N(0, 1)
