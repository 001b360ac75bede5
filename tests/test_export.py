"""`rnn export`: every task's ONNX graphs compute what its torch model computes (float32
within 1e-4, on mixed-length batches), exported models run every command through the
task's own code, a numpy-only program can drive them, and bad input is one line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from rnncli import api
from rnncli.data.batching import pad_batch
from rnncli.errors import CheckpointError, RnnCliError, UsageError
from rnncli.tasks import Loaded
from tests.conftest import ROOT, rnn, write_recipe
from tests.test_classify import NEG, POS
from tests.test_forecast import _monthly
from tests.test_translate import reverse_pairs, reverse_recipe, write_pairs

pytest.importorskip("onnxruntime")
pytest.importorskip("onnxscript")
TEXT = "the cat sat on the mat. the dog ate the pie happily. " * 40


def _train(tmp: Path, recipe: dict) -> Path:
    recipe.setdefault("output", str(tmp / "run"))
    path = tmp / "recipe.yaml"
    path.write_text(yaml.safe_dump(recipe), encoding="utf-8")
    return api.train(path)


def _export(run: Path, out: Path, **kw: object) -> Loaded:
    api.export(api.load(run, device="cpu"), out, **kw)  # type: ignore[arg-type]
    return api.load(out)


@pytest.fixture(scope="module")
def classifier(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A bidirectional 2-layer LSTM classifier (max pooling) and its export."""
    tmp = tmp_path_factory.mktemp("export-cls")
    rows = [(t, "pos") for t in POS] * 4 + [(t, "neg") for t in NEG] * 4
    train = tmp / "train.tsv"
    train.write_text("sentence\tlabel\n" + "".join(f"{t}\t{y}\n" for t, y in rows))
    run = _train(
        tmp,
        {
            "task": "classify",
            "data": {"train": str(train), "valid": str(train), "text_column": "sentence"},
            "model": {"embedding_dim": 8, "hidden_size": 8, "num_layers": 2, "pooling": "max"},
            "training": {"max_steps": 60, "batch_size": 8, "lr": 1.0e-2, "threads": 1},
        },
    )
    out = tmp / "exported"
    api.export(api.load(run), out)
    return run, out


def test_classifier_parity_on_mixed_lengths_and_padding(classifier: tuple[Path, Path]) -> None:
    run, out = classifier
    torch_model, onnx_model = api.load(run).model, api.load(out).model
    g = torch.Generator().manual_seed(5)
    seqs = [torch.randint(1, 20, (int(n),), generator=g).tolist() for n in (1, 9, 3, 17, 2)]
    tokens, lengths = pad_batch(seqs)
    with torch.no_grad():
        want = torch_model(tokens, lengths)
    got = onnx_model(tokens, lengths)
    assert torch.allclose(got, want, atol=1e-4), (got - want).abs().max()
    # padding changes nothing: each sentence alone gives its row of the batch
    for i, seq in enumerate(seqs):
        alone = onnx_model(*pad_batch([seq]))[0]
        assert torch.allclose(alone.softmax(-1), got[i].softmax(-1), atol=1e-5)


def test_classifier_export_classifies_like_the_run(classifier: tuple[Path, Path]) -> None:
    run, out = classifier
    lines = ["he ate the pie happily", "a dull and sad film", "", "so good"]
    a = list(api.classify(api.load(run), lines))
    b = list(api.classify(api.load(out), lines))
    for (text_a, probs_a), (text_b, probs_b) in zip(a, b, strict=True):
        assert text_a == text_b
        if not probs_a:
            assert not probs_b
        else:
            assert probs_a == pytest.approx(probs_b, abs=1e-5)


def test_int8_is_smaller_and_still_agrees(classifier: tuple[Path, Path], tmp_path: Path) -> None:
    run, out = classifier
    small = _export(run, tmp_path / "int8", quantize="int8")
    manifest = json.loads((tmp_path / "int8" / "model.json").read_text())
    assert manifest["precision"] == "int8"
    assert (tmp_path / "int8" / "classifier.onnx").stat().st_size < (
        out / "classifier.onnx"
    ).stat().st_size
    lines = POS + NEG  # learned well: int8 rounding moves probabilities, not decisions
    full = [p for _, p in api.classify(api.load(run), lines)]
    quant = [p for _, p in api.classify(small, lines)]
    for a, b in zip(full, quant, strict=True):
        assert max(a, key=a.get) == max(b, key=b.get)
        assert a["pos"] == pytest.approx(b["pos"], abs=0.1)


@pytest.fixture(scope="module")
def language_model(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    tmp = tmp_path_factory.mktemp("export-lm")
    text = tmp / "text.txt"
    text.write_text(TEXT, encoding="utf-8")
    recipe = write_recipe(tmp, text, model={"num_layers": 2}, training={"max_steps": 40})
    run = api.train(recipe)
    out = tmp / "exported"
    api.export(api.load(run), out)
    return run, out


def test_language_model_greedy_generation_is_token_for_token(
    language_model: tuple[Path, Path],
) -> None:
    run, out = language_model
    kw = {"length": 120, "temperature": 0.0}
    want = api.generate_text(api.load(run), "the dog", **kw)
    assert api.generate_text(api.load(out), "the dog", **kw) == want


def test_language_model_scores_like_the_run(language_model: tuple[Path, Path], tmp_path) -> None:
    run, out = language_model
    held = tmp_path / "held.txt"
    held.write_text("the cat ate the pie. " * 20, encoding="utf-8")
    a = api.evaluate(api.load(run), held)
    b = api.evaluate(api.load(out), held)
    assert b["test_loss"] == pytest.approx(a["test_loss"], abs=1e-4)


def test_numpy_only_program_drives_the_exports(
    classifier: tuple[Path, Path], language_model: tuple[Path, Path]
) -> None:
    """examples/run_exported.py, with torch and rnncli made unimportable."""
    script = ROOT / "examples" / "run_exported.py"
    blocked = (
        "import runpy, sys; sys.modules['torch'] = None; sys.modules['rnncli'] = None; "
        f"sys.argv = sys.argv[1:]; runpy.run_path({str(script)!r}, run_name='__main__')"
    )

    def run(*args: str, stdin: str = "") -> str:
        proc = subprocess.run(
            [sys.executable, "-c", blocked, str(script), *args],
            input=stdin,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert proc.returncode == 0, proc.stderr
        return proc.stdout

    lm_run, lm_out = language_model
    greedy = run("generate", str(lm_out), "--seed", "the dog", "-n", "80")
    want = api.generate_text(api.load(lm_run), "the dog", length=80, temperature=0.0)
    assert greedy.rstrip("\n") == "the dog" + want[0]

    cls_run, cls_out = classifier
    lines = ["he ate the pie happily", "", "a dull and sad film"]
    printed = run("classify", str(cls_out), stdin="\n".join(lines) + "\n").splitlines()
    expected = list(api.classify(api.load(cls_run), lines))
    assert printed[1] == ""
    for line, (_, probs) in zip(printed, expected, strict=True):
        if not probs:  # a blank line keeps its place
            continue
        label, prob, _ = line.split("\t")
        assert label == max(probs, key=probs.get)
        assert float(prob) == pytest.approx(probs[label], abs=1e-3)


@pytest.mark.parametrize(
    "model",
    [
        {"cell": "gru", "attention": "general", "share_embeddings": True},
        {
            "cell": "lstm",
            "attention": "additive",
            "input_feeding": True,
            "num_layers": 2,
            "share_embeddings": False,
        },
        {"cell": "gru", "attention": "none", "bidirectional": False, "share_embeddings": False},
    ],
    ids=["gru-general", "lstm-additive-feeding", "gru-no-attention"],
)
def test_translation_export_translates_like_the_run(tmp_path: Path, model: dict) -> None:
    small = write_pairs(tmp_path / "small.tsv", reverse_pairs(300, 1))
    recipe = reverse_recipe(  # test_translate's task, smaller
        tmp_path,
        data={"train": str(small), "valid_size": 20, "test_size": 20},
        model={"embedding_dim": 16, "hidden_size": 32, **model},
        training={"max_steps": 30, "batch_size": 16, "threads": 1},
    )
    run = api.train(recipe)
    exported = _export(run, tmp_path / "exported")
    sources = [s for s, _ in reverse_pairs(12, 7)]
    for beam in (1, 4):
        want = [t.text for t in api.translate(api.load(run), sources, beam=beam)]
        got = [t.text for t in api.translate(exported, sources, beam=beam)]
        assert got == want
    pairs = tmp_path / "pairs.tsv"
    write_pairs(pairs, reverse_pairs(20, 9))
    a = api.evaluate(api.load(run), pairs, beam=2)
    b = api.evaluate(exported, pairs, beam=2)
    assert b["bleu"] == pytest.approx(a["bleu"], abs=1e-6)
    assert b["loss"] == pytest.approx(a["loss"], abs=1e-4)


@pytest.mark.parametrize(
    "model",
    [{"quantiles": [0.1, 0.5, 0.9]}, {"horizon_mode": "autoregressive", "cell": "rnn"}],
    ids=["direct-quantiles", "autoregressive-elman"],
)
def test_forecaster_export_forecasts_like_the_run(tmp_path: Path, model: dict) -> None:
    csv = _monthly(tmp_path / "series.csv")
    recipe = {
        "task": "forecast",
        "data": {"train": str(csv), "horizon": 6, "lookback": 24, "calendar_features": True},
        "model": {"hidden_size": 16, **model},
        "training": {"epochs": 3, "batch_size": 16, "threads": 1},
    }
    run = _train(tmp_path, recipe)
    exported = _export(run, tmp_path / "exported")
    want = api.forecast(api.load(run), csv, horizon=6)
    got = api.forecast(exported, csv, horizon=6)
    for a, b in zip(want, got, strict=True):
        np.testing.assert_allclose(b.values, a.values, rtol=1e-4, atol=1e-3)
    with pytest.raises(UsageError, match="6 steps at most"):
        api.forecast(exported, csv, horizon=7)


def test_elman_classifier_exports_exactly_and_relu_is_refused(tmp_path: Path) -> None:
    """Elman layers go to ONNX as GRUs with saturated gates (the exporter would unroll
    them over the example's length); a relu Elman RNN has no such form: one line."""
    rows = [(t, "pos") for t in POS] * 2 + [(t, "neg") for t in NEG] * 2
    train = tmp_path / "train.tsv"
    train.write_text("sentence\tlabel\n" + "".join(f"{t}\t{y}\n" for t, y in rows))
    recipe = {
        "task": "classify",
        "data": {"train": str(train), "valid": str(train), "text_column": "sentence"},
        "model": {"cell": "rnn", "embedding_dim": 8, "hidden_size": 8, "pooling": "attention"},
        "training": {"max_steps": 5, "batch_size": 8, "threads": 1},
    }
    run = _train(tmp_path, recipe)
    exported = _export(run, tmp_path / "exported")
    lines = [*POS, "a film", "so good , so good , so good , so good"]
    for (_, a), (_, b) in zip(
        api.classify(api.load(run), lines), api.classify(exported, lines), strict=True
    ):
        assert a["pos"] == pytest.approx(b["pos"], abs=1e-5)
    recipe["model"]["nonlinearity"] = "relu"
    recipe["output"] = str(tmp_path / "relu")
    run = _train(tmp_path, recipe)
    with pytest.raises(RnnCliError, match="relu cannot be exported"):
        api.export(api.load(run), tmp_path / "relu-export")
    assert not (tmp_path / "relu-export").exists()


# ------------------------------------------------------------------ bad input
def test_an_existing_directory_is_never_overwritten(
    classifier: tuple[Path, Path], tmp_path: Path
) -> None:
    run, _ = classifier
    target = tmp_path / "taken"
    target.mkdir()
    (target / "keep.txt").write_text("mine")
    proc = rnn("export", str(run), "-o", str(target))
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.count("\n") == 1 and "already exists" in proc.stderr
    assert sorted(p.name for p in target.iterdir()) == ["keep.txt"]


@pytest.mark.parametrize(
    "args, code, message",
    [
        (["--format", "tflite"], 2, "unknown format 'tflite'"),
        (["--quantize", "int4"], 2, "unknown quantization 'int4'"),
    ],
)
def test_unknown_format_or_quantization_is_one_line(
    classifier: tuple[Path, Path], tmp_path: Path, args: list[str], code: int, message: str
) -> None:
    run, _ = classifier
    proc = rnn("export", str(run), "-o", str(tmp_path / "x"), *args)
    assert proc.returncode == code and proc.stderr.count("\n") == 1, proc.stderr
    assert message in proc.stderr and not (tmp_path / "x").exists()


def test_not_a_run_and_tampered_checkpoint_are_one_line(
    classifier: tuple[Path, Path], tmp_path: Path
) -> None:
    run, _ = classifier
    proc = rnn("export", str(tmp_path), "-o", str(tmp_path / "x"))
    assert proc.returncode == 1 and proc.stderr.count("\n") == 1
    assert "no checkpoint in run directory" in proc.stderr
    bad = tmp_path / "bad.safetensors"
    data = bytearray((run / "best.safetensors").read_bytes())
    data[-5] ^= 0xFF
    bad.write_bytes(bytes(data))
    proc = rnn("export", str(bad), "-o", str(tmp_path / "y"))
    assert proc.returncode == 1 and proc.stderr.count("\n") == 1, proc.stderr
    assert "error:" in proc.stderr and not (tmp_path / "y").exists()


def test_a_tampered_export_is_refused(classifier: tuple[Path, Path], tmp_path: Path) -> None:
    import shutil

    _, out = classifier
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    graph = copy / "classifier.onnx"
    data = bytearray(graph.read_bytes())
    data[len(data) // 2] ^= 0x01
    graph.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="does not match its SHA-256"):
        api.load(copy)
    proc = rnn("classify", "--model", str(copy), stdin="so good\n")
    assert proc.returncode == 1 and proc.stdout == "" and proc.stderr.count("\n") == 1


def test_an_export_of_an_export_and_a_wrong_task_are_refused(
    classifier: tuple[Path, Path], tmp_path: Path
) -> None:
    _, out = classifier
    with pytest.raises(UsageError, match="already an export"):
        api.export(api.load(out), tmp_path / "again")
    with pytest.raises(RnnCliError, match="exported classify model, not a generate model"):
        api.load(out, task="generate")


def test_missing_extra_names_it(
    classifier: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run, _ = classifier
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    with pytest.raises(UsageError, match=r"pip install 'rnncli\[export\]'"):
        api.export(api.load(run), tmp_path / "x")
    assert not (tmp_path / "x").exists()
