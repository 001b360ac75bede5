from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rnncli.config import load_recipe, parse_override, validate_recipe
from rnncli.errors import RecipeError
from rnncli.tasks.registry import recipe_schema

ROOT = Path(__file__).resolve().parents[1]
BASE = {"task": "generate", "data": {"train": "x.txt"}}


def test_every_shipped_recipe_validates() -> None:
    recipes = sorted((ROOT / "recipes").glob("*.yaml"))
    assert recipes
    for path in recipes:
        assert path.read_text().startswith("# rnn train recipes/")
        load_recipe(path)


def test_defaults_are_filled() -> None:
    recipe = validate_recipe(dict(BASE))
    assert recipe.training.clip_grad_norm == 5.0
    assert recipe.model.cell == "lstm"


@pytest.mark.parametrize(
    ("value", "read"), [(True, True), ("auto", "auto"), ("off", False), (0, False), ("on", True)]
)
def test_mixed_precision_is_true_false_or_auto(value: object, read: object) -> None:
    recipe = validate_recipe({**BASE, "training": {"mixed_precision": value}})
    assert recipe.training.mixed_precision == read


def test_mixed_precision_rejects_other_values_in_one_line() -> None:
    with pytest.raises(RecipeError) as info:
        validate_recipe({**BASE, "training": {"mixed_precision": "fast"}})
    assert "training.mixed_precision: must be true, false or auto (got 'fast')" in str(info.value)
    assert "\n" not in str(info.value)


def test_unknown_key_gets_did_you_mean() -> None:
    with pytest.raises(RecipeError, match=r"training\.lrr: unknown key \(did you mean 'lr'\?\)"):
        validate_recipe({**BASE, "training": {"lrr": 0.1}})


def test_all_errors_reported_together_with_paths() -> None:
    bad = {**BASE, "model": {"cell": "lstn", "hidden_size": -3}, "training": {"lr": "fast"}}
    with pytest.raises(RecipeError) as info:
        validate_recipe(bad)
    msg = str(info.value)
    assert msg.startswith("3 problem(s)")
    for path in ("model.cell", "model.hidden_size", "training.lr"):
        assert path in msg


def test_unknown_task_and_missing_train() -> None:
    with pytest.raises(RecipeError, match="did you mean 'generate'"):
        validate_recipe({"task": "generat"})
    with pytest.raises(RecipeError, match=r"data\.train: required"):
        validate_recipe({"task": "generate", "data": {}})


def test_overrides_merge_before_validation(tmp_path: Path) -> None:
    path = tmp_path / "r.yaml"
    path.write_text("task: generate\ndata: {train: a.txt}\ntraining: {lr: 0.1}\n")
    recipe = load_recipe(path, ["training.lr=1e-3", "model.cell=gru", "training.max_steps=5"])
    assert recipe.training.lr == pytest.approx(1e-3)  # '1e-3' is a YAML string, coerced
    assert recipe.model.cell == "gru"
    with pytest.raises(RecipeError, match="KEY=VALUE"):
        load_recipe(path, ["training.lr"])


@pytest.mark.parametrize(
    ("content", "message"),
    [("task: [unclosed", "not valid YAML"), ("", "empty"), ("- a\n- b\n", "mapping")],
)
def test_malformed_yaml(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "r.yaml"
    path.write_text(content)
    with pytest.raises(RecipeError, match=message):
        load_recipe(path)


def test_missing_recipe_file(tmp_path: Path) -> None:
    with pytest.raises(RecipeError, match="not found"):
        load_recipe(tmp_path / "nope.yaml")


def test_schema_has_descriptions() -> None:
    schema = recipe_schema()
    text = str(schema)
    assert "GenerateRecipe" in text and "Truncated BPTT length" in text


@given(st.integers(-(10**6), 10**6), st.floats(allow_nan=False, allow_infinity=False, width=32))
def test_override_values_parse_as_yaml(n: int, x: float) -> None:
    assert parse_override(f"a.b={n}") == (["a", "b"], n)
    key, value = parse_override(f"training.lr={x!r}")
    assert key == ["training", "lr"] and float(value) == pytest.approx(x)
