"""Turn a recipe's model section into flat constructor arguments."""

from __future__ import annotations

from rnncli.config import ModelSection
from rnncli.models.language_model import LanguageModel


def build_language_model(section: ModelSection, vocab_size: int) -> LanguageModel:
    return LanguageModel(
        vocab_size=vocab_size,
        embedding_dim=section.embedding_dim,
        hidden_size=section.hidden_size,
        num_layers=section.num_layers,
        cell=section.cell,
        nonlinearity=section.nonlinearity,
        dropout=section.dropout,
        learn_initial_state=section.learn_initial_state,
        tie_embeddings=section.tie_embeddings,
    )
