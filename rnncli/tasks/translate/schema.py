"""The `translate` recipe: a sequence-to-sequence translator with attention (`rnn translate`).

Imports no torch, so `rnn recipe` and `rnn --help` stay fast.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal, Union

from pydantic import Field, model_validator

from rnncli.config import (
    MAX_UNITS,
    RecurrentSection,
    Section,
    TrainingSection,
    encoding_field,
    max_size_field,
    min_freq_field,
)


class PairFiles(Section):
    """Two line-aligned files: line i of `source` translates to line i of `target`."""

    source: str = Field(description="File of source sentences, one per line.")
    target: str = Field(description="File of target sentences, line-aligned with source.")


Pairs = Union[str, PairFiles]


class SideText(Section):
    """How one side (source or target) is cut into tokens."""

    tokenizer: Literal["word", "char", "subword"] = Field(
        "subword", description="Unit (subword: BPE or unigram, trained here)."
    )
    lowercase: bool = Field(False, description="Lower-case before tokenizing.")
    subword_model: Literal["bpe", "unigram"] = Field(
        "bpe", description="Subword algorithm, trained on the training text."
    )
    vocab_size: int = Field(8000, ge=50, description="Subword vocabulary size.")
    min_freq: int = min_freq_field()
    max_size: int | None = max_size_field(5)


class TranslateData(Section):
    train: Pairs = Field(
        description="TSV of source<TAB>target (.gz read as gzip), or {source: F, target: F}."
    )
    valid: Pairs | None = Field(None, description="Validation pairs; else `valid_size` held out.")
    test: Pairs | None = Field(None, description="Test pairs; else `test_size` held out.")
    valid_size: int = Field(1000, ge=0, description="Pairs of train held out for validation.")
    test_size: int = Field(0, ge=0, description="Pairs of train held out as the test set.")
    split_seed: int = Field(1234, description="Seed of the random valid/test hold-out.")
    split: Literal["by_source", "by_pair"] = Field(
        "by_source",
        description=(
            "How valid_size/test_size pairs are held out. by_source: by source sentence, "
            "one pair per held-out source, and no pair with a held-out source is trained "
            "on (a test sentence is never seen in training with another reference); "
            "by_pair: random pairs (a held-out source may occur in training)."
        ),
    )
    source_column: int = Field(0, ge=0, description="TSV column of the source (0-based).")
    target_column: int = Field(1, ge=0, description="TSV column of the target (0-based).")
    quoting: Literal["none", "csv"] = Field(
        "none",
        description=(
            "Quotes in the TSV. none: a cell is exactly the text between two tabs (as "
            "`rnn translate` reads a line); csv: cells really are quoted, CSV-style."
        ),
    )
    reverse: bool = Field(False, description="Swap the sides (translate target to source).")
    max_words: int | None = Field(
        None, ge=1, description="Drop pairs with a side of more words than this (all splits)."
    )
    max_length: int = Field(
        100, ge=1, description="Training: skip pairs over this many tokens; input truncated."
    )
    dedupe: bool = Field(True, description="Drop exact duplicate pairs before splitting.")
    source: SideText = Field(default_factory=lambda: SideText())
    target: SideText = Field(default_factory=lambda: SideText())
    joint_vocab: bool = Field(
        False, description="One tokenizer and vocabulary for both sides (needs equal settings)."
    )
    encoding: str = encoding_field()


class TranslateModel(RecurrentSection):
    embedding_dim: int = Field(256, ge=1, le=MAX_UNITS, description="Size of the token embeddings.")
    hidden_size: int = Field(
        256, ge=2, le=MAX_UNITS, description="Decoder units (a bi encoder: half each way)."
    )
    num_layers: int = Field(1, ge=1, le=16, description="Layers of encoder and of decoder.")
    bidirectional: bool = Field(True, description="Read the source both ways.")
    attention: Literal["none", "dot", "general", "additive"] = Field(
        "general",
        description="Luong's general (bilinear) score, dot, Bahdanau's additive; none: the "
        "fixed-length context of the encoder's final state.",
    )
    input_feeding: bool = Field(
        True, description="Feed the last attentional state back in (needs attention)."
    )
    bridge: Literal["linear", "copy", "zero"] = Field(
        "copy",
        description="Encoder final state to decoder initial state: as it is (copy; both "
        "directions joined), through a linear layer, or zeros.",
    )
    tie_embeddings: bool = Field(False, description="Decoder output layer = decoder embeddings.")
    share_embeddings: bool = Field(
        False, description="Encoder and decoder embeddings shared (needs data.joint_vocab)."
    )
    init_range: float | None = Field(
        0.1,
        gt=0.0,
        le=1.0,
        description="Initialise every weight uniformly in [-r, r] (Luong et al., OpenNMT-py: "
        "0.1); null: PyTorch's defaults (N(0, 1) embeddings).",
    )


class TranslateTraining(TrainingSection):
    label_smoothing: float = Field(0.0, ge=0.0, lt=1.0, description="Label smoothing of the loss.")
    teacher_forcing: float = Field(
        1.0, ge=0.0, le=1.0, description="Probability of feeding the gold token at the start."
    )
    teacher_forcing_end: float | None = Field(
        None, ge=0.0, le=1.0, description="Linearly reached by the last step; null=constant."
    )
    eval_bleu_sentences: int = Field(
        0, ge=0, description="Greedy-decode this many validation pairs per eval (valid_bleu)."
    )
    monitor: Literal["valid_loss", "valid_bleu"] = Field(
        "valid_loss", description="Metric that picks the best checkpoint and stops early."
    )


class TranslateRecipe(Section):
    """A sequence-to-sequence translator (`rnn translate`)."""

    task: Literal["translate"] = Field(description="Which task the recipe trains.")
    data: TranslateData
    model: TranslateModel = Field(default_factory=lambda: TranslateModel())
    training: TranslateTraining = Field(default_factory=lambda: TranslateTraining())
    output: str = Field("runs/translate", description="Run directory (made unique if taken).")

    # Runs stored before a key existed or changed its default behaved as these say.
    STORED_DEFAULTS: ClassVar[dict[str, Any]] = {
        "data.split": "by_pair",
        "model.attention": "additive",
        "model.input_feeding": False,
        "model.bridge": "linear",
        "model.init_range": None,
    }

    @model_validator(mode="after")
    def _check(self) -> TranslateRecipe:
        d, m, t = self.data, self.model, self.training
        if d.joint_vocab and d.source != d.target:
            raise ValueError("data.joint_vocab needs the same data.source and data.target settings")
        if m.share_embeddings and not d.joint_vocab:
            raise ValueError("model.share_embeddings needs data.joint_vocab: true")
        if m.bidirectional and m.hidden_size % 2:
            raise ValueError("model.hidden_size must be even with a bidirectional encoder")
        if m.attention == "none" and m.input_feeding:
            if "input_feeding" in m.model_fields_set:
                raise ValueError("model.input_feeding needs an attention type other than none")
            m.input_feeding = False  # the default follows: nothing to feed without attention
        if t.monitor == "valid_bleu" and not t.eval_bleu_sentences:
            raise ValueError("training.monitor valid_bleu needs training.eval_bleu_sentences > 0")
        if d.source_column == d.target_column:
            raise ValueError("data.source_column and data.target_column must differ")
        return self


Recipe = TranslateRecipe  # what the registry validates `task: translate` recipes with
