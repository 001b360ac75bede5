"""Turn a recipe's model section into flat constructor arguments.

Sections are typed by what every recurrent model shares (config.RecurrentSection); the
task-specific fields are read by name (each task's schema defines them).
"""

from __future__ import annotations

from typing import Any

import torch

from rnncli.config import ModelSection, RecurrentSection
from rnncli.models.classifier import Classifier
from rnncli.models.forecaster import Forecaster, point_index
from rnncli.models.language_model import LanguageModel
from rnncli.models.seq2seq import Seq2Seq


def _recurrent(section: RecurrentSection) -> dict[str, Any]:
    """The arguments every recurrent model takes from a model section."""
    return {
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
        embedding_dim=section.embedding_dim,
        **_recurrent(section),
    )


def build_classifier(section: Any, vocab_size: int, num_classes: int) -> Classifier:
    return Classifier(
        vocab_size=vocab_size,
        num_classes=num_classes,
        bidirectional=section.bidirectional,
        pooling=section.pooling,
        embedding_dim=section.embedding_dim,
        **_recurrent(section),
    )


def build_forecaster(
    section: Any, n_targets: int, n_past: int, n_future: int, horizon: int
) -> Forecaster:
    quantiles = section.quantiles or []
    return Forecaster(
        n_targets=n_targets,
        n_past=n_past,
        n_future=n_future,
        horizon=horizon,
        n_outputs=max(len(quantiles), 1),
        bidirectional=section.bidirectional,
        mode=section.horizon_mode,
        window_norm=section.window_norm,
        point_index=point_index(quantiles),
        **_recurrent(section),
    )


def build_seq2seq(section: Any, source_vocab: int, target_vocab: int, pad_id: int) -> Seq2Seq:
    model = Seq2Seq(
        source_vocab=source_vocab,
        target_vocab=target_vocab,
        embedding_dim=section.embedding_dim,
        bidirectional=section.bidirectional,
        attention=section.attention,
        input_feeding=section.input_feeding,
        bridge=section.bridge,
        tie_embeddings=section.tie_embeddings,
        share_embeddings=section.share_embeddings,
        pad_id=pad_id,
        **_recurrent(section),
    )
    scale = getattr(section, "init_range", None)
    if scale:  # every weight uniform in [-scale, scale], as Luong et al. and OpenNMT-py
        with torch.no_grad():
            for p in model.parameters():
                p.uniform_(-scale, scale)
            for embedding in (model.source_embedding, model.target_embedding):
                embedding.weight[pad_id].zero_()
    return model
