"""Recipe schema and loading (pydantic v2). Imports no torch, so `rnn recipe ...` is fast.

A recipe is YAML with a `task:` key that picks the schema. Dotted overrides
(`training.lr=1.0e-3`) are merged before validation; unknown keys are refused with a
did-you-mean; every error of a recipe is reported at once, with its path.
"""

from __future__ import annotations

import difflib
import re
from pathlib import Path
from typing import Annotated, Any, Literal, Union

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from rnncli.errors import RecipeError, excerpt

TASKS = ("generate", "classify", "forecast", "translate")
# Units of one layer (and embedding sizes): an LSTM layer of 16,384 units already holds
# 2.1 billion weights (8.6 GB); a larger value is a typo, not a model.
MAX_UNITS = 16384


class Section(BaseModel):
    """Base of every recipe section: unknown keys are errors, defaults are validated."""

    model_config = ConfigDict(extra="forbid", validate_default=True, allow_inf_nan=False)


class GenerateData(Section):
    train: str = Field(description="Path of the training text (UTF-8 unless `encoding` says).")
    valid: str | None = Field(None, description="Path of a validation text; else `valid_fraction`.")
    valid_fraction: float = Field(
        0.1, ge=0.0, lt=1.0, description="Fraction of the training stream held out (its end)."
    )
    test: str | None = Field(None, description="Optional held-out text reported after training.")
    tokenizer: Literal["char", "word"] = Field("char", description="Unit of the language model.")
    lowercase: bool = Field(False, description="Lower-case the text before tokenizing.")
    min_freq: int = Field(1, ge=1, description="Tokens seen fewer times become `<unk>`.")
    max_size: int | None = Field(None, ge=2, description="Keep only the most frequent tokens.")
    encoding: str = Field("utf-8", description="Text encoding of the data files.")


class RecurrentSection(Section):
    """What every recurrent model takes: the cell and the shape of the stack."""

    cell: Literal["rnn", "lstm", "gru"] = Field("lstm", description="Recurrent cell.")
    nonlinearity: Literal["tanh", "relu"] = Field("tanh", description="For `cell: rnn` only.")
    hidden_size: int = Field(256, ge=1, le=MAX_UNITS, description="Units per recurrent layer.")
    num_layers: int = Field(2, ge=1, le=16, description="Stacked recurrent layers.")
    dropout: float = Field(0.0, ge=0.0, lt=1.0, description="Dropout on inputs and outputs.")
    bidirectional: bool = Field(False, description="Bidirectional layers (encoders only).")
    learn_initial_state: bool = Field(False, description="Learn the initial hidden state.")


class ModelSection(RecurrentSection):
    embedding_dim: int = Field(64, ge=1, le=MAX_UNITS, description="Size of the token embeddings.")
    tie_embeddings: bool = Field(False, description="Share input and output embeddings.")


class TrainingSection(Section):
    epochs: int = Field(10, ge=1, description="Passes over the training data.")
    max_steps: int | None = Field(None, ge=1, description="Stop after this many updates.")
    max_minutes: float | None = Field(None, gt=0, description="Wall-clock training budget.")
    batch_size: int = Field(64, ge=1, le=1 << 20, description="Sequences per update.")
    seq_length: int = Field(
        128, ge=1, le=1 << 20, description="Truncated BPTT length (language models)."
    )
    optimizer: Literal["sgd", "adam", "adamw"] = Field("adam", description="Optimizer.")
    lr: float = Field(2.0e-3, gt=0, description="Peak learning rate.")
    momentum: float = Field(0.9, ge=0, lt=1, description="SGD momentum.")
    weight_decay: float = Field(0.0, ge=0, description="Weight decay (decoupled for adamw).")
    schedule: Literal["constant", "cosine", "plateau"] = Field(
        "constant", description="Learning-rate schedule."
    )
    warmup_steps: int = Field(0, ge=0, description="Linear warm-up steps (cosine, constant).")
    min_lr_ratio: float = Field(0.0, ge=0, le=1, description="Cosine floor, as a ratio of lr.")
    plateau_factor: float = Field(0.5, gt=0, lt=1, description="LR factor on a plateau.")
    plateau_patience: int = Field(1, ge=0, description="Evaluations without gain before cutting.")
    clip_grad_norm: float | None = Field(5.0, gt=0, description="Clip the gradient norm; null=off.")
    eval_every: int | None = Field(None, ge=1, description="Validate every N steps; null=epoch.")
    eval_max_batches: int | None = Field(None, ge=1, description="Cap validation batches.")
    patience: int | None = Field(None, ge=1, description="Early stop after N evals w/o gain.")
    checkpoint_every: int = Field(200, ge=1, description="Save the resumable state every N steps.")
    rng_seed: int = Field(1234, description="Seed of every random choice in training.")
    device: Literal["auto", "cpu", "cuda", "mps"] = Field("auto", description="auto: CUDA if any.")
    mixed_precision: bool = Field(False, description="Autocast on CUDA (bf16, else fp16).")
    threads: int | None = Field(None, ge=1, description="torch CPU threads; null=torch default.")


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
    min_freq: int = Field(1, ge=1, description="Tokens seen fewer times become `<unk>`.")
    max_size: int | None = Field(None, ge=2, description="Keep only the most frequent tokens.")
    max_length: int | None = Field(None, ge=1, description="Truncate longer texts (tokens).")
    label_names: dict[str, str] | None = Field(
        None, description="Rename labels as read, e.g. {'0': negative, '1': positive}."
    )
    multi_label: bool = Field(False, description="Several labels per line (sigmoid outputs).")
    label_separator: str = Field(
        "|", min_length=1, description="Separates labels in one cell (multi_label)."
    )
    encoding: str = Field("utf-8", description="Text encoding of the data files.")

    @field_validator("label_names", mode="before")
    @classmethod
    def _label_keys(cls, value: Any) -> Any:
        return {str(k): v for k, v in value.items()} if isinstance(value, dict) else value

    @field_validator("token_pattern")
    @classmethod
    def _regex(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                compiled = re.compile(value)
            except re.error as exc:
                raise ValueError(f"not a valid regular expression: {exc}") from None
            if compiled.groups:
                raise ValueError("use (?:...) instead of capturing groups")
        return value


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


class ForecastData(Section):
    train: str = Field(description="CSV/TSV of the series (wide, or long with an id column).")
    format: Literal["auto", "csv", "tsv"] = Field("auto", description="auto: by extension.")
    quoting: Literal["auto", "none", "csv"] = Field(
        "auto",
        description=(
            "Quotes in CSV/TSV cells. auto: standard CSV quoting for .csv files, none for TSV "
            "(a cell is exactly the text between two tabs); csv: TSV files whose cells really "
            "are quoted; none: CSV files that are not."
        ),
    )
    time_column: str | None = Field(None, description="Column of timestamps; null=detect.")
    target: list[str] | None = Field(
        None, description="Column(s) to forecast; null=the one numeric column."
    )
    id_column: str | None = Field(None, description="Long format: the column naming series.")
    past_covariates: list[str] = Field(
        default_factory=list, description="Columns known only up to the forecast origin."
    )
    future_covariates: list[str] = Field(
        default_factory=list, description="Columns known ahead (given for the horizon too)."
    )
    frequency: str = Field("auto", description="pandas alias (MS, D, h...); auto=infer.")
    missing: Literal["error", "interpolate", "ffill"] = Field(
        "error", description="Gaps and empty cells: error, interpolate, or forward-fill."
    )
    duplicates: Literal["error", "first", "last", "mean"] = Field(
        "error", description="Repeated timestamps: error, or keep first/last/mean."
    )
    sort: bool = Field(False, description="Sort unsorted timestamps instead of refusing.")
    calendar_features: bool = Field(False, description="Add month/weekday/hour features.")
    lookback: int | None = Field(None, ge=1, description="Input steps; null=from the season.")
    horizon: int = Field(12, ge=1, description="Steps forecast at once.")
    season: int | None = Field(None, ge=1, description="Seasonal period; null=from frequency.")
    scaling: Literal["standard", "minmax", "mean", "none"] = Field(
        "standard", description="Per-series scaling fitted on the training part only."
    )
    log_transform: bool = Field(False, description="Model log(y) (multiplicative series).")
    valid_size: int | None = Field(
        None, ge=0, description="Steps before the test part used to stop; null=horizon."
    )
    test_size: int | None = Field(
        None, ge=0, description="Steps held out at the end of every series; null=horizon."
    )
    backtest_stride: int = Field(
        1, ge=1, description="Steps between rolling forecast origins in the test part."
    )
    stride: int = Field(1, ge=1, description="Steps between training windows.")
    encoding: str = Field("utf-8", description="Text encoding of the data file.")

    @field_validator("target", "past_covariates", "future_covariates", mode="before")
    @classmethod
    def _listify(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value


class ForecastModel(RecurrentSection):
    hidden_size: int = Field(64, ge=1, le=MAX_UNITS, description="Units per recurrent layer.")
    num_layers: int = Field(1, ge=1, le=16, description="Stacked recurrent layers.")
    horizon_mode: Literal["direct", "autoregressive"] = Field(
        "direct", description="All horizon values at once, or one step at a time fed back."
    )
    loss: Literal["mse", "mae", "huber"] = Field("mse", description="Point loss (scaled units).")
    quantiles: list[float] | None = Field(
        None, description="Train quantiles with the pinball loss, e.g. [0.1, 0.5, 0.9]."
    )
    window_norm: Literal["none", "mean", "last"] = Field(
        "mean", description="Subtract each window's level from inputs, add it to outputs."
    )

    @field_validator("quantiles")
    @classmethod
    def _quantiles(cls, value: list[float] | None) -> list[float] | None:
        if value is None:
            return None
        if not value or any(not 0 < q < 1 for q in value):
            raise ValueError("quantiles are numbers strictly between 0 and 1")
        if sorted(set(value)) != value:
            raise ValueError("list quantiles once each, in increasing order")
        return value


class ForecastRecipe(Section):
    """A many-to-one forecaster (`rnn forecast`)."""

    task: Literal["forecast"] = Field(description="Which task the recipe trains.")
    data: ForecastData
    model: ForecastModel = Field(default_factory=lambda: ForecastModel())
    training: TrainingSection = Field(default_factory=lambda: TrainingSection())
    output: str = Field("runs/forecast", description="Run directory (made unique if taken).")

    @model_validator(mode="after")
    def _check(self) -> ForecastRecipe:
        if self.model.horizon_mode == "autoregressive" and self.model.bidirectional:
            raise ValueError("model.bidirectional cannot be true with horizon_mode autoregressive")
        named = [self.data.time_column, self.data.id_column, *(self.data.target or [])]
        covs = self.data.past_covariates + self.data.future_covariates
        clash = sorted({c for c in covs if c in named} | _repeated(covs))
        if clash:
            raise ValueError(f"data: column(s) {', '.join(clash)} given more than one role")
        return self


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
    min_freq: int = Field(1, ge=1, description="Tokens seen fewer times become `<unk>`.")
    max_size: int | None = Field(None, ge=5, description="Keep only the most frequent tokens.")


class TranslateData(Section):
    train: Pairs = Field(
        description="TSV of source<TAB>target (.gz read as gzip), or {source: F, target: F}."
    )
    valid: Pairs | None = Field(None, description="Validation pairs; else `valid_size` held out.")
    test: Pairs | None = Field(None, description="Test pairs; else `test_size` held out.")
    valid_size: int = Field(1000, ge=0, description="Pairs of train held out for validation.")
    test_size: int = Field(0, ge=0, description="Pairs of train held out as the test set.")
    split_seed: int = Field(1234, description="Seed of the random valid/test hold-out.")
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
    encoding: str = Field("utf-8", description="Text encoding of the data files.")


class TranslateModel(RecurrentSection):
    embedding_dim: int = Field(256, ge=1, le=MAX_UNITS, description="Size of the token embeddings.")
    hidden_size: int = Field(
        256, ge=2, le=MAX_UNITS, description="Decoder units (a bi encoder: half each way)."
    )
    num_layers: int = Field(1, ge=1, le=16, description="Layers of encoder and of decoder.")
    bidirectional: bool = Field(True, description="Read the source both ways.")
    attention: Literal["none", "dot", "general", "additive"] = Field(
        "additive", description="none: the fixed-length context of the encoder's final state."
    )
    input_feeding: bool = Field(False, description="Feed the last attentional state back in.")
    bridge: Literal["linear", "copy", "zero"] = Field(
        "linear", description="Encoder final state to decoder initial state."
    )
    tie_embeddings: bool = Field(False, description="Decoder output layer = decoder embeddings.")
    share_embeddings: bool = Field(
        False, description="Encoder and decoder embeddings shared (needs data.joint_vocab)."
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
            raise ValueError("model.input_feeding needs an attention type other than none")
        if t.monitor == "valid_bleu" and not t.eval_bleu_sentences:
            raise ValueError("training.monitor valid_bleu needs training.eval_bleu_sentences > 0")
        if d.source_column == d.target_column:
            raise ValueError("data.source_column and data.target_column must differ")
        return self


def _repeated(items: list[str]) -> set[str]:
    return {x for x in items if items.count(x) > 1}


Recipe = Annotated[
    Union[GenerateRecipe, ClassifyRecipe, ForecastRecipe, TranslateRecipe],
    Field(discriminator="task"),
]
RECIPES: dict[str, type[Section]] = {
    "generate": GenerateRecipe,
    "classify": ClassifyRecipe,
    "forecast": ForecastRecipe,
    "translate": TranslateRecipe,
}


def recipe_schema() -> dict[str, Any]:
    """JSON Schema of every recipe, for editor completion."""
    from pydantic import TypeAdapter

    return TypeAdapter(Recipe).json_schema()


MAX_RECIPE_BYTES = 1 << 20  # a recipe is a page of YAML; a bigger file is the wrong file
MAX_DEPTH = 32  # sections nest three levels deep; 32 leaves room and protects the stack
MAX_NODES = 100_000  # values after expanding YAML aliases (a "billion laughs" file)


class _RecipeLoader(yaml.SafeLoader):
    """PyYAML's safe loader with bounded nesting."""

    depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        self.depth += 1
        try:
            if self.depth > MAX_DEPTH:
                raise yaml.composer.ComposerError(
                    None,
                    None,
                    f"nested deeper than {MAX_DEPTH} levels",
                    self.peek_event().start_mark,
                )
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1


def _expanded_size(value: Any, memo: dict[int, int]) -> int:
    """Values in `value` once aliases are expanded (a cycle counts as too many)."""
    key = id(value)
    if key in memo:
        return memo[key]
    if not isinstance(value, (dict, list)):
        return 1
    memo[key] = MAX_NODES + 1  # seen again before it is done: an alias cycle
    children = value.values() if isinstance(value, dict) else value
    total = 1
    for child in children:
        total += _expanded_size(child, memo)
        if total > MAX_NODES:
            break
    memo[key] = total
    return total


def safe_yaml(text: str, where: str, what: str = "recipe") -> Any:
    """Parse YAML with bounded nesting and alias expansion; RecipeError names the line."""
    try:
        data = yaml.load(text, Loader=_RecipeLoader)  # a SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f"{where}, line {mark.line + 1}" if mark else where
        problem = getattr(exc, "problem", None) or "malformed YAML"
        raise RecipeError(f"{what} is not valid YAML ({at}): {problem}") from None
    except RecursionError:
        raise RecipeError(f"{what} is not valid YAML ({where}): nested too deeply") from None
    if _expanded_size(data, {}) > MAX_NODES:
        raise RecipeError(
            f"{what} is too large once its YAML aliases are expanded ({where}): "
            f"more than {MAX_NODES:,} values, or an alias that contains itself"
        )
    return data


def parse_override(text: str) -> tuple[list[str], Any]:
    """`a.b=value` -> (["a", "b"], value parsed as YAML)."""
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise RecipeError(
            f"override {excerpt(text)} is not KEY=VALUE: write e.g. training.lr=1.0e-3"
        )
    try:
        value = safe_yaml(raw, f"--set {key.strip()}", "override") if raw.strip() else ""
    except RecipeError as exc:
        if "too large" in str(exc) or "nested" in str(exc):  # refused, not just plain text
            raise
        value = raw
    return [part.strip() for part in key.split(".")], value


def apply_overrides(data: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    for text in overrides:
        path, value = parse_override(text)
        node = data
        for part in path[:-1]:
            child = node.get(part)
            if child is None:
                child = node[part] = {}
            if not isinstance(child, dict):
                raise RecipeError(f"override {excerpt(text)}: {part!r} is not a section")
            node = child
        node[path[-1]] = value
    return data


def read_yaml(path: Path) -> dict[str, Any]:
    try:
        with open(path, "rb") as handle:
            raw = handle.read(MAX_RECIPE_BYTES + 1)
    except FileNotFoundError:
        raise RecipeError(f"recipe not found ({path}): check the path") from None
    except IsADirectoryError:
        raise RecipeError(f"recipe is a directory ({path}): give a YAML file") from None
    except PermissionError:
        raise RecipeError(f"recipe cannot be read ({path}): permission denied") from None
    except OSError as exc:
        raise RecipeError(f"recipe cannot be read ({path}): {exc.strerror or exc}") from None
    if len(raw) > MAX_RECIPE_BYTES:
        raise RecipeError(
            f"recipe is larger than {MAX_RECIPE_BYTES >> 20} MB ({path}): is it the right file?"
        )
    if b"\0" in raw:
        at = raw.index(b"\0")
        raise RecipeError(f"recipe is a binary file ({path}, byte {at}): give a YAML file")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise RecipeError(f"recipe is not UTF-8 ({path}, byte {exc.start})") from None
    data = safe_yaml(text, str(path))
    if data is None:
        raise RecipeError(f"recipe is empty ({path}): start from recipes/shakespeare.yaml")
    if not isinstance(data, dict):
        raise RecipeError(f"recipe must be a mapping of sections ({path})")
    return data


def load_recipe(path: str | Path, overrides: list[str] | None = None) -> Section:
    """Read, override and validate a recipe; raises RecipeError listing every problem."""
    path = Path(path)
    data = apply_overrides(read_yaml(path), list(overrides or []))
    return validate_recipe(data, str(path))


def validate_recipe(data: dict[str, Any], where: str = "recipe") -> Section:
    task = data.get("task")
    if not isinstance(task, str) or task not in RECIPES:
        hint = _did_you_mean(task, list(RECIPES)) if isinstance(task, str) else ""
        raise RecipeError(
            f"task: unknown task {excerpt(task)} ({where}): "
            f"choose one of {', '.join(RECIPES)}{hint}"
        )
    cls = RECIPES[task]
    try:
        return cls.model_validate(data)
    except ValidationError as exc:
        problems = [_describe(cls, err) for err in exc.errors()]
        raise RecipeError(
            f"{len(problems)} problem(s) in {where}: " + "; ".join(problems)
        ) from None


def _describe(cls: type[BaseModel], err: Any) -> str:
    loc = [str(part) for part in err["loc"]]
    path = ".".join(loc) or "(top)"
    if err["type"] == "extra_forbidden":
        fields = _fields_at(cls, loc[:-1])
        return f"{path}: unknown key{_did_you_mean(loc[-1], fields)}"
    if err["type"] == "missing":
        return f"{path}: required"
    msg = err["msg"]
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, ") :]
    value = err.get("input")
    shown = "" if isinstance(value, dict) else f" (got {excerpt(value)})"
    return f"{path}: {msg}{shown}"


def _fields_at(cls: type[BaseModel], loc: list[str]) -> list[str]:
    model: Any = cls
    for part in loc:
        field = model.model_fields.get(part) if hasattr(model, "model_fields") else None
        if field is None:
            return []
        model = field.annotation
    return list(model.model_fields) if hasattr(model, "model_fields") else []


def _did_you_mean(word: str, choices: list[str]) -> str:
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def recipe_to_dict(recipe: Section) -> dict[str, Any]:
    """The resolved recipe, every default filled in, as plain data."""
    return recipe.model_dump(mode="json")


def dump_recipe(recipe: Section) -> str:
    return yaml.safe_dump(recipe_to_dict(recipe), sort_keys=False)
