"""The `generate` recipe: a character or word language model (`rnn generate`).

Imports no torch, so `rnn recipe` and `rnn --help` stay fast.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from rnncli.config import (
    ModelSection,
    Section,
    TrainingSection,
    encoding_field,
    max_size_field,
    min_freq_field,
)


class GenerateData(Section):
    train: str = Field(description="Path of the training text (UTF-8 unless `encoding` says).")
    valid: str | None = Field(None, description="Path of a validation text; else `valid_fraction`.")
    valid_fraction: float = Field(
        0.1, ge=0.0, lt=1.0, description="Fraction of the training stream held out (its end)."
    )
    test: str | None = Field(None, description="Optional held-out text reported after training.")
    tokenizer: Literal["char", "word"] = Field("char", description="Unit of the language model.")
    lowercase: bool = Field(False, description="Lower-case the text before tokenizing.")
    min_freq: int = min_freq_field()
    max_size: int | None = max_size_field()
    encoding: str = encoding_field()


class GenerateRecipe(Section):
    """A character or word language model (`rnn generate`)."""

    task: Literal["generate"] = Field(description="Which task the recipe trains.")
    data: GenerateData
    model: ModelSection = Field(default_factory=lambda: ModelSection())
    training: TrainingSection = Field(default_factory=lambda: TrainingSection())
    output: str = Field("runs/generate", description="Run directory (made unique if taken).")

    @model_validator(mode="after")
    def _check(self) -> GenerateRecipe:
        if self.model.bidirectional:
            raise ValueError("model.bidirectional cannot be true for a language model")
        return self


Recipe = GenerateRecipe  # what the registry validates `task: generate` recipes with
