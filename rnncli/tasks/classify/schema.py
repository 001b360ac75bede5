"""The `classify` recipe: a many-to-one text classifier (`rnn classify`).

Imports no torch, so `rnn recipe` and `rnn --help` stay fast.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from rnncli.config import (
    MAX_UNITS,
    ModelSection,
    Section,
    TrainingSection,
    encoding_field,
    max_size_field,
    min_freq_field,
    token_pattern,
)


class ClassifyData(Section):
    train: str = Field(description="Labelled lines: CSV, TSV or JSONL.")
    valid: str | None = Field(None, description="Validation file; else `valid_fraction`.")
    valid_fraction: float = Field(
        0.1, ge=0.0, lt=1.0, description="Stratified share of train held out (fixed seed)."
    )
    test: str | None = Field(None, description="Optional test file scored after training.")
    format: Literal["auto", "csv", "tsv", "jsonl"] = Field(
        "auto", description="File format; auto goes by the extension."
    )
    quoting: Literal["auto", "none", "csv"] = Field(
        "auto",
        description=(
            "Quotes in CSV/TSV cells. auto: standard CSV quoting for .csv files, none for TSV "
            "(a cell is exactly the text between two tabs, as `rnn classify` reads a line); "
            "csv: TSV files whose cells really are quoted; none: CSV files that are not."
        ),
    )
    text_column: str = Field("text", description="Column (or JSON key) of the text.")
    label_column: str = Field("label", description="Column (or JSON key) of the label.")
    header: bool = Field(True, description="CSV/TSV files start with a header line.")
    tokenizer: Literal["word", "char", "subword"] = Field(
        "word", description="Unit of the classifier (subword: BPE or unigram, trained)."
    )
    lowercase: bool = Field(True, description="Lower-case text before tokenizing.")
    token_pattern: str | None = Field(
        None, description="Regex whose matches are the words (tokenizer: word); null=built-in."
    )
    subword_model: Literal["bpe", "unigram"] = Field(
        "bpe", description="Subword algorithm, trained on the training text."
    )
    subword_vocab_size: int = Field(8000, ge=50, description="Size of the subword vocabulary.")
    min_freq: int = min_freq_field()
    max_size: int | None = max_size_field()
    max_length: int | None = Field(None, ge=1, description="Truncate longer texts (tokens).")
    label_names: dict[str, str] | None = Field(
        None, description="Rename labels as read, e.g. {'0': negative, '1': positive}."
    )
    multi_label: bool = Field(False, description="Several labels per line (sigmoid outputs).")
    label_separator: str = Field(
        "|", min_length=1, description="Separates labels in one cell (multi_label)."
    )
    encoding: str = encoding_field()

    @field_validator("label_names", mode="before")
    @classmethod
    def _label_keys(cls, value: Any) -> Any:
        return {str(k): v for k, v in value.items()} if isinstance(value, dict) else value

    @field_validator("token_pattern")
    @classmethod
    def _regex(cls, value: str | None) -> str | None:
        return token_pattern(value)


class ClassifyModel(ModelSection):
    embedding_dim: int = Field(128, ge=1, le=MAX_UNITS, description="Size of the token embeddings.")
    hidden_size: int = Field(128, ge=1, le=MAX_UNITS, description="Units per recurrent layer.")
    num_layers: int = Field(1, ge=1, le=16, description="Stacked recurrent layers.")
    bidirectional: bool = Field(True, description="Read the text both ways.")
    pooling: Literal["last", "mean", "max", "attention"] = Field(
        "max", description="How the states over time become one vector."
    )
    pretrained_vectors: str | None = Field(
        None, description="Local GloVe or word2vec text file to initialise the embeddings."
    )
    freeze_embeddings: bool = Field(False, description="Keep the pretrained vectors fixed.")
    threshold: float = Field(
        0.5, gt=0, lt=1, description="Multi-label: a label is predicted at this probability."
    )


class ClassifyTraining(TrainingSection):
    class_weights: Literal["none", "balanced"] | dict[str, float] = Field(
        "none", description="Loss weight per label: none, balanced, or {label: weight}."
    )
    monitor: Literal["valid_accuracy", "valid_macro_f1", "valid_loss"] = Field(
        "valid_accuracy", description="Metric that picks the best checkpoint and stops early."
    )

    @field_validator("class_weights")
    @classmethod
    def _positive(cls, value: Any) -> Any:
        if isinstance(value, dict) and any(w <= 0 for w in value.values()):
            raise ValueError("class weights must be > 0")
        return value


class ClassifyRecipe(Section):
    """A many-to-one text classifier (`rnn classify`)."""

    task: Literal["classify"] = Field(description="Which task the recipe trains.")
    data: ClassifyData
    model: ClassifyModel = Field(default_factory=lambda: ClassifyModel())
    training: ClassifyTraining = Field(default_factory=lambda: ClassifyTraining())
    output: str = Field("runs/classify", description="Run directory (made unique if taken).")

    @model_validator(mode="after")
    def _check(self) -> ClassifyRecipe:
        if self.model.tie_embeddings:
            raise ValueError("model.tie_embeddings applies to language models, not classifiers")
        if self.model.pretrained_vectors and self.data.tokenizer != "word":
            raise ValueError("model.pretrained_vectors needs data.tokenizer: word")
        if self.model.freeze_embeddings and not self.model.pretrained_vectors:
            raise ValueError("model.freeze_embeddings needs model.pretrained_vectors")
        return self


Recipe = ClassifyRecipe  # what the registry validates `task: classify` recipes with
