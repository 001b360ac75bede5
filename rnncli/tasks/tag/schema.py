"""The `tag` recipe: many-to-many sequence labelling, one tag per token (`rnn tag`).

Imports no torch, so `rnn recipe` and `rnn --help` stay fast.
"""

from __future__ import annotations

import re
from typing import Literal

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

# How `rnn tag` splits raw text into tokens (with their character offsets): web
# addresses, @mentions and #hashtags whole, English clitics apart ("do n't", "it 's"),
# hyphenated words whole, every other non-space symbol alone.
TAG_PATTERN = (
    r"https?://\S+|www\.\S+|[@#]\w+|\w+(?=(?i:n't)\b)|(?i:n't)\b"
    r"|'(?i:s|re|ve|ll|d|m)\b|\w+(?:-\w+)*|[^\w\s]"
)
MAX_GAZETTEERS = 32


class TrainFile(Section):
    file: str = Field(description="CoNLL or JSONL file of tagged sentences.")
    repeat: int = Field(
        1,
        ge=1,
        le=100,
        description="Times each of its training sentences counts per epoch (oversample a "
        "small in-domain set); its held-out share is taken first and counted once.",
    )
    valid_fraction: float | None = Field(
        None,
        ge=0.0,
        lt=1.0,
        description="Share of this file held out for validation (fixed seed), instead of "
        "data.valid_fraction: validate on the file closest to the data you will tag.",
    )


class TagData(Section):
    train: str | list[str | TrainFile] = Field(
        description="Tagged sentences: CoNLL columns or JSONL; a list of files is read as one "
        "({file: F, repeat: N} counts a file's training sentences N times)."
    )
    valid: str | None = Field(None, description="Validation file; else `valid_fraction`.")
    valid_fraction: float = Field(
        0.1, ge=0.0, lt=1.0, description="Share of train sentences held out (fixed seed)."
    )
    test: str | None = Field(None, description="Optional test file scored after training.")
    format: Literal["auto", "conll", "jsonl"] = Field(
        "auto", description="File format; auto: .jsonl/.json is JSONL, anything else CoNLL."
    )
    tag_column: int = Field(
        -1, description="CoNLL column of the tag (0 is the token; negative counts from the end)."
    )
    scheme: Literal["iob1", "iob2", "iobes", "none"] = Field(
        "iob2",
        description="Tag scheme of the files (iob2 is BIO); none: plain tags such as parts of "
        "speech, no entities.",
    )
    repair: bool = Field(
        False, description="Repair invalid tag sequences in the files instead of stopping."
    )
    lowercase: bool = Field(
        True, description="Lower-case words for the word embeddings (characters keep case)."
    )
    token_pattern: str | None = Field(
        None, description="Regex whose matches are the tokens of raw text; null=built-in."
    )
    split_prefixes: str = Field(
        "",
        description="Symbols split off the front of a token, as the text you will tag writes "
        "them: with '@#', '@name' is read as '@' 'name' (the name keeps the tag) in the "
        "recipe's files, in evaluation and in raw text (CoNLL input to `rnn tag` keeps its "
        "tokens). WNUT-17 writes mentions joined in train, apart in dev and test.",
    )
    gazetteers: dict[str, str] = Field(
        {},
        description="Word lists the tagger reads as features, name: file (UTF-8, one entry "
        "per line, '#' starts a comment): each token is flagged per list when it is inside "
        "an entry found in the sentence (whole tokens, any case). The entries are stored "
        "in the run, so tagging needs no file.",
    )
    min_freq: int = min_freq_field()
    max_size: int | None = max_size_field()
    max_word_length: int = Field(
        24, ge=1, le=1000, description="Characters of a word the char features read."
    )
    encoding: str = encoding_field()

    @field_validator("token_pattern")
    @classmethod
    def _regex(cls, value: str | None) -> str | None:
        return token_pattern(value)

    @field_validator("split_prefixes")
    @classmethod
    def _symbols(cls, value: str) -> str:
        bad = [c for c in value if c.isalnum() or c == "_" or c.isspace()]
        if bad:
            raise ValueError(f"{bad[0]!r} is not a symbol: give characters such as '@#'")
        return "".join(dict.fromkeys(value))

    @field_validator("gazetteers")
    @classmethod
    def _list_names(cls, value: dict[str, str]) -> dict[str, str]:
        if len(value) > MAX_GAZETTEERS:
            raise ValueError(f"at most {MAX_GAZETTEERS} lists")
        bad = [k for k in value if not re.fullmatch(r"[A-Za-z0-9_.-]+", k)]
        if bad:
            raise ValueError(f"{bad[0]!r}: name a list with letters, digits, '_', '.' or '-'")
        return value

    @field_validator("train")
    @classmethod
    def _some_file(cls, value: str | list[str]) -> str | list[str]:
        if isinstance(value, list) and not value:
            raise ValueError("give at least one file")
        return value

    @property
    def train_files(self) -> list[str]:
        return [f.file for f in self.train_parts]

    @property
    def train_parts(self) -> list[TrainFile]:
        items = [self.train] if isinstance(self.train, str) else self.train
        return [TrainFile(file=f) if isinstance(f, str) else f for f in items]

    @field_validator("tag_column")
    @classmethod
    def _not_token(cls, value: int) -> int:
        if value == 0:
            raise ValueError("column 0 holds the token, not the tag")
        return value


class TagModel(ModelSection):
    embedding_dim: int = Field(100, ge=1, le=MAX_UNITS, description="Size of the word embeddings.")
    hidden_size: int = Field(200, ge=1, le=MAX_UNITS, description="Units per recurrent layer.")
    num_layers: int = Field(1, ge=1, le=16, description="Stacked recurrent layers.")
    bidirectional: bool = Field(True, description="Read the sentence both ways.")
    dropout: float = Field(0.5, ge=0.0, lt=1.0, description="Dropout on inputs and outputs.")
    char_features: Literal["cnn", "lstm", "none"] = Field(
        "cnn", description="Character-level word features: a char CNN, a char BiLSTM or none."
    )
    char_dim: int = Field(30, ge=1, le=MAX_UNITS, description="Size of the character embeddings.")
    char_hidden: int = Field(
        50, ge=1, le=MAX_UNITS, description="CNN filters, or char BiLSTM units per direction."
    )
    crf: bool = Field(True, description="Linear-chain CRF output layer; false: per-token softmax.")
    case_features: bool = Field(
        False,
        description="Give each word its shape too (starts upper, all upper, mixed case, all "
        "lower, digits, no letters), read from its characters as written.",
    )
    scheme: Literal["data", "iob2", "iobes"] = Field(
        "data", description="Scheme the model predicts in (outputs use data.scheme)."
    )
    word_dropout: float = Field(
        0.05, ge=0.0, lt=1.0, description="Share of words replaced by <unk> in training."
    )
    ensemble: int = Field(
        1,
        ge=1,
        le=8,
        description="Taggers trained side by side that decode as one (mean scores): steadier "
        "on small data, each one costs its time again.",
    )
    pretrained_vectors: str | None = Field(
        None, description="Local GloVe or word2vec text file to initialise the word embeddings."
    )
    freeze_embeddings: bool = Field(False, description="Keep the pretrained vectors fixed.")


class TagTraining(TrainingSection):
    epochs: int = Field(30, ge=1, description="Passes over the training data.")
    batch_size: int = Field(32, ge=1, le=1 << 20, description="Sentences per update.")
    monitor: Literal["valid_f1", "valid_accuracy", "valid_loss"] = Field(
        "valid_f1", description="Metric that picks the best checkpoint and stops early."
    )


class TagRecipe(Section):
    """A many-to-many sequence labeller (`rnn tag`): named entities, parts of speech."""

    task: Literal["tag"] = Field(description="Which task the recipe trains.")
    data: TagData
    model: TagModel = Field(default_factory=lambda: TagModel())
    training: TagTraining = Field(default_factory=lambda: TagTraining())
    output: str = Field("runs/tag", description="Run directory (made unique if taken).")

    @model_validator(mode="after")
    def _check(self) -> TagRecipe:
        if self.model.tie_embeddings:
            raise ValueError("model.tie_embeddings applies to language models, not taggers")
        if self.model.freeze_embeddings and not self.model.pretrained_vectors:
            raise ValueError("model.freeze_embeddings needs model.pretrained_vectors")
        if self.data.scheme == "none" and self.model.scheme != "data":
            raise ValueError("model.scheme: plain tags (data.scheme: none) have no entity scheme")
        if self.data.scheme == "none" and self.training.monitor == "valid_f1":
            if "monitor" in self.training.model_fields_set:
                raise ValueError("training.monitor: plain tags (data.scheme: none) have no F1")
            self.training.monitor = "valid_accuracy"  # no entities to score
        return self

    @property
    def model_scheme(self) -> str:
        """The scheme of the model's own tags."""
        return self.data.scheme if self.model.scheme == "data" else self.model.scheme


Recipe = TagRecipe  # what the registry validates `task: tag` recipes with
