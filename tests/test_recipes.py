"""Every shipped recipe validates (test_config) and smoke-trains for a couple of steps."""

from __future__ import annotations

from pathlib import Path

import pytest

from rnncli import api
from rnncli.training.checkpoint import load_checkpoint

ROOT = Path(__file__).resolve().parents[1]
RECIPES = sorted((ROOT / "recipes").glob("*.yaml"))


@pytest.mark.parametrize("recipe", RECIPES, ids=[p.stem for p in RECIPES])
def test_recipe_smoke_trains(recipe: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)  # recipes name data relative to the project root
    overrides = [
        "training.max_steps=2",
        "training.eval_every=2",
        "training.eval_max_batches=1",
        "training.threads=1",
        "training.device=cpu",
    ]
    if "task: forecast" in recipe.read_text():  # the classical fits have their own test
        overrides.append("data.classical_baselines=false")
    if "task: translate" in recipe.read_text():  # keep the held-out decoding small
        overrides += [
            "data.valid_size=20",
            "data.test_size=10",
            "data.source.vocab_size=300",
            "data.target.vocab_size=300",
            "training.eval_bleu_sentences=5",
        ]
    run = api.train(recipe, overrides, output=tmp_path / "run")
    meta = load_checkpoint(run / "last.safetensors").meta
    assert meta["training"]["steps"] == 2
    assert any(k.startswith("valid_") for k in meta["metrics"])


def test_word_model_generates_words(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    overrides = [
        "training.max_steps=3",
        "training.eval_every=3",
        "training.eval_max_batches=1",
        "model.hidden_size=16",
        "model.embedding_dim=16",
        "training.device=cpu",
    ]
    run = api.train(ROOT / "recipes" / "shakespeare-words.yaml", overrides, output=tmp_path / "w")
    loaded = api.load(run, "generate")
    vocab = loaded.meta["task_data"]["vocab"]
    assert vocab[0] == "<unk>" and "the" in vocab and "\n" in vocab
    text = api.generate_text(loaded, "the king zzqx", length=12, rng_seed=0)[0]
    assert text.startswith(" ") or text[:1] in ",.;:!?'\n"  # words join with spaces


def test_the_readme_recipe_is_the_shipped_one() -> None:
    """A YAML block of the README that names `rnn train recipes/X.yaml` is that file."""
    import re

    import yaml

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```yaml\n(# rnn train (recipes/\S+\.yaml)\n.*?)```", readme, re.S)
    assert blocks
    for text, name in blocks:
        assert yaml.safe_load(text) == yaml.safe_load((ROOT / name).read_text()), name
