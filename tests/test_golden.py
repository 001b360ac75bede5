"""The built-in models and a checkpoint written by an older rnncli give the outputs they
gave before the task refactor (stored in tests/fixtures/expected_outputs.json, recorded
with `python -m tests.test_golden` on commit 68d4af2; the `classify` entries recorded
again when the built-in classifier was retrained on SST-2's phrases, the `translate` ones
when the built-in translator was retrained on the strict split, 2026-12-04, the `generate`
ones when the built-in generator was retrained from the 512-unit recipe, 2026-12-05).
Compared within 1e-5: a float computed on another CPU may differ in its last digits."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

from rnncli import api

FIXTURES = Path(__file__).parent / "fixtures"
EXPECTED = FIXTURES / "expected_outputs.json"
REVIEWS = ["What a wonderful, moving film.", "Dull and far too long.", "He ate the pie happily."]
TEXT = "First Citizen:\nBefore we proceed any further, hear me speak.\n\nAll:\nSpeak, speak.\n"
PAIRS = "I am cold.\tJ'ai froid.\nWhere is the station?\tOù est la gare ?\n"


def outputs(tmp: Path) -> dict[str, Any]:
    (tmp / "text.txt").write_text(TEXT)
    (tmp / "pairs.tsv").write_text(PAIRS)
    classify = api.load(None, "classify")
    generate = api.load(None, "generate")
    translate = api.load(None, "translate")
    legacy = api.load(FIXTURES / "generate-v1.safetensors", "generate")
    return {
        "classify": [probs for _, probs in api.classify(classify, REVIEWS)],
        "generate": api.evaluate(generate, tmp / "text.txt"),
        "translate": {
            k: v
            for k, v in api.evaluate(translate, tmp / "pairs.tsv").items()
            if k in ("perplexity", "valid_loss", "test_loss", "loss", "token_accuracy")
        },
        "legacy_generate": api.evaluate(legacy, tmp / "text.txt"),
    }


def _close(got: Any, want: Any, where: str) -> None:
    if isinstance(want, dict):
        assert set(got) == set(want), where
        for key in want:
            _close(got[key], want[key], f"{where}.{key}")
    elif isinstance(want, list):
        assert len(got) == len(want), where
        for i, (g, w) in enumerate(zip(got, want, strict=True)):
            _close(g, w, f"{where}[{i}]")
    elif isinstance(want, float):
        assert got == pytest.approx(want, rel=1e-5, abs=1e-6), where
    else:
        assert got == want, where


def test_outputs_are_as_recorded(tmp_path: Path) -> None:
    _close(outputs(tmp_path), json.loads(EXPECTED.read_text()), "outputs")


if __name__ == "__main__":  # record: python -m tests.test_golden
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        EXPECTED.write_text(json.dumps(outputs(Path(tmp)), indent=1) + "\n")
    sys.exit(0)
