"""The `sum` recipe (no torch)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from rnncli.config import MAX_UNITS, RecurrentSection, Section, TrainingSection


class SumData(Section):
    train: str = Field(description="Lines of space-separated digits.")
    valid_fraction: float = Field(0.2, gt=0.0, lt=1.0, description="Lines held out (the end).")
    test: str | None = Field(None, description="Lines scored after training.")


class SumModel(RecurrentSection):
    hidden_size: int = Field(32, ge=1, le=MAX_UNITS)
    num_layers: int = Field(1, ge=1, le=16)
    embedding_dim: int = Field(8, ge=1, le=MAX_UNITS)


class SumRecipe(Section):
    task: Literal["sum"]
    data: SumData
    model: SumModel = Field(default_factory=lambda: SumModel())
    training: TrainingSection = Field(default_factory=lambda: TrainingSection())
    output: str = Field("runs/sum")


Recipe = SumRecipe
