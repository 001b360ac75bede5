"""Turn a recipe's model section into flat constructor arguments."""

from __future__ import annotations

from typing import Any

from rnncli.config import ClassifyModel, ModelSection
from rnncli.models.classifier import Classifier
from rnncli.models.language_model import LanguageModel


def _recurrent(section: ModelSection) -> dict[str, Any]:
    """The arguments every recurrent model takes from a model section."""
    return {
        "embedding_dim": section.embedding_dim,
        "hidden_size": section.hidden_size,
        "num_layers": section.num_layers,
        "cell": section.cell,
        "nonlinearity": section.nonlinearity,
        "dropout": section.dropout,
        "learn_initial_state": section.learn_initial_state,
    }


def build_language_model(section: ModelSection, vocab_size: int) -> LanguageModel:
    return LanguageModel(
        vocab_size=vocab_size,
        tie_embeddings=section.tie_embeddings,
        **_recurrent(section),
    )


def build_classifier(section: ClassifyModel, vocab_size: int, num_classes: int) -> Classifier:
    return Classifier(
        vocab_size=vocab_size,
        num_classes=num_classes,
        bidirectional=section.bidirectional,
        pooling=section.pooling,
        **_recurrent(section),
    )
