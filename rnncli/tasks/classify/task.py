"""Task `classify`: many-to-one text classification (one label per line).

Batches are bucketed by length (sort within shuffled pools), which on this CPU runs
about twice as fast as mixed lengths; predictions restore the input order.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from pydantic import Field
from torch import Tensor, nn

from rnncli.data.batching import bucketed, by_length, chunks, pad_batch
from rnncli.data.tables import read_labelled
from rnncli.data.vectors import init_embedding
from rnncli.data.vocab import Tokenizer, Vocab
from rnncli.errors import DataError
from rnncli.models.builders import build_classifier
from rnncli.models.classifier import Classifier
from rnncli.tasks import Loaded, Report, metric_table
from rnncli.tasks.classify.export import export_plan as export_plan
from rnncli.tasks.classify.export import onnx_model as onnx_model
from rnncli.tasks.classify.schema import ClassifyData, ClassifyModel, ClassifyRecipe
from rnncli.tasks.task_data import StoredData, TokenizerData, Unique, Vocabulary
from rnncli.training.checkpoint import check_header_room
from rnncli.training.metrics import classification_metrics, multilabel_metrics
from rnncli.training.trainer import TrainPlan

log = logging.getLogger("rnncli")
name = "classify"


class TaskData(StoredData):
    """`task_data` of a classifier checkpoint (checked on load, before the Codec)."""

    vocab: Vocabulary
    tokenizer: TokenizerData
    labels: Unique = Field(min_length=1)
    max_length: int | None = Field(None, ge=1)
    multi_label: bool = False
    label_separator: str = Field("|", min_length=1)
    train_rows: int | None = Field(None, ge=0)

    def weight_rows(self) -> dict[str, tuple[str, int]]:
        labels = ("labels", len(self.labels))
        return {"embedding.weight": ("vocab", len(self.vocab)), "head.weight": labels}


class Codec:
    """Tokenizer, vocabulary (id 0 is <unk>, also used as padding) and label names."""

    def __init__(self, state: TaskData) -> None:
        self.vocab = Vocab(list(state.vocab))
        self.tokenizer = Tokenizer.from_json(state.tokenizer.to_json())
        self.labels: list[str] = list(state.labels)
        self.max_length: int | None = state.max_length
        self.multi_label: bool = state.multi_label
        self.separator: str = state.label_separator

    def ids(self, tokens: list[str]) -> list[int]:
        index = self.vocab.index
        ids = [index.get(t, 0) for t in tokens] or [0]
        return ids[: self.max_length] if self.max_length else ids

    def encode(self, text: str) -> list[int]:
        return self.ids(self.tokenizer.split(text))

    def encode_many(self, texts: list[str]) -> list[list[int]]:
        return [self.ids(tokens) for tokens in self.tokenizer.split_many(texts)]

    def names(self, label: str) -> list[str]:
        """The label names of one table cell (several when multi-label)."""
        if not self.multi_label:
            return [label]
        return [x for x in label.split(self.separator) if x]


def build_model(model: ClassifyModel, state: TaskData) -> Classifier:
    return build_classifier(model, len(state.vocab), len(state.labels))


def _split(rows: list[tuple[str, str]], fraction: float, seed: int) -> tuple[list[int], list[int]]:
    """Stratified split of row indices: the same share of every label is held out."""
    rng = np.random.default_rng(seed)
    by_label: dict[str, list[int]] = {}
    for i, (_, label) in enumerate(rows):
        by_label.setdefault(label, []).append(i)
    train, valid = [], []
    for label in sorted(by_label):
        idx = rng.permutation(by_label[label]).tolist()
        cut = round(len(idx) * fraction)
        valid += idx[:cut]
        train += idx[cut:]
    return sorted(train), sorted(valid)


def read_rows(path: str | Path, data: ClassifyData) -> list[tuple[str, str]]:
    """(text, label) rows of a labelled file, read as the recipe's data section says."""
    rows = read_labelled(
        Path(path),
        data.format,
        data.text_column,
        data.label_column,
        data.header,
        data.encoding,
        data.label_separator if data.multi_label else None,
        data.quoting,
    )
    names = data.label_names
    if not names:
        return rows
    if data.multi_label:
        sep = data.label_separator
        return [
            (text, sep.join(sorted(names.get(x, x) for x in cell.split(sep) if x)))
            for text, cell in rows
        ]
    return [(text, names.get(label, label)) for text, label in rows]


def make_state(d: ClassifyData, train_rows: list[tuple[str, str]]) -> TaskData:
    """Tokenizer (a subword model is trained here), vocabulary and labels, from train only."""
    texts = [text for text, _ in train_rows]
    if d.tokenizer == "subword":
        tokenizer = Tokenizer.train(texts, d.subword_model, d.subword_vocab_size, d.lowercase)
    else:
        tokenizer = Tokenizer(d.tokenizer, d.lowercase, d.token_pattern)
    counts = Counter(tok for tokens in tokenizer.split_many(texts) for tok in tokens)
    vocab = Vocab.from_counts(counts, d.min_freq, d.max_size)
    if d.multi_label:
        labels = sorted({x for _, cell in train_rows for x in cell.split(d.label_separator) if x})
        if not labels:
            raise DataError(f"{d.train} has no labels at all: nothing to learn")
    else:
        labels = sorted({label for _, label in train_rows})
        if len(labels) < 2:
            raise DataError(f"{d.train} has one label only ({labels[0]!r}): nothing to learn")
    return TaskData.from_json(
        {
            "vocab": vocab.tokens,
            "tokenizer": tokenizer.to_json(),
            "labels": labels,
            "max_length": d.max_length,
            "multi_label": d.multi_label,
            "label_separator": d.label_separator,
        }
    )


def class_weights(weights: str | dict[str, float], codec: Codec, targets: Tensor) -> Tensor | None:
    """Per-label loss weights: `balanced` (inverse frequency) or named ones (else 1)."""
    if weights == "none":
        return None
    k = len(codec.labels)
    if isinstance(weights, dict):
        unknown = sorted(set(weights) - set(codec.labels))
        if unknown:
            raise DataError(
                f"training.class_weights names unknown label(s) {', '.join(map(repr, unknown))}:"
                f" the labels are {', '.join(codec.labels)}"
            )
        return torch.tensor([float(weights.get(label, 1.0)) for label in codec.labels])
    n = float(len(targets))
    if codec.multi_label:  # positive weight = negatives / positives per label
        pos = targets.sum(0).clamp(min=1.0)
        return (n - pos).clamp(min=1.0) / pos
    counts = torch.bincount(targets, minlength=k).float().clamp(min=1.0)
    return n / (k * counts)


def prepare(recipe: ClassifyRecipe, run_dir: Path, state: TaskData | None) -> TrainPlan:
    d, t = recipe.data, recipe.training
    rows = read_rows(d.train, d)
    if d.valid:
        train_rows, valid_rows = rows, read_rows(d.valid, d)
    else:
        tr, va = _split(rows, d.valid_fraction, t.rng_seed)
        train_rows, valid_rows = [rows[i] for i in tr], [rows[i] for i in va]
    if not valid_rows:
        raise DataError("no validation rows: set data.valid or raise data.valid_fraction")
    fresh = state is None
    if state is None:
        state = make_state(d, train_rows)
        check_header_room(state.to_json(), run_dir)
    codec = Codec(state)
    train_x, train_y = encode_rows(codec, train_rows, d.train)
    valid_x, valid_y = encode_rows(codec, valid_rows, d.valid or d.train)
    torch.manual_seed(t.rng_seed)
    model = build_model(recipe.model, state)
    if fresh and recipe.model.pretrained_vectors:
        init_embeddings(model, codec, recipe.model)
    if recipe.model.freeze_embeddings:
        model.embedding.weight.requires_grad_(False)
    weight = class_weights(t.class_weights, codec, train_y)
    if weight is not None:
        log.info("class weights: %s", _describe(codec.labels, weight))

    def batches(epoch: int, start: int = 0) -> Iterator[tuple[Tensor, Tensor, Tensor]]:
        for i, idx in enumerate(bucketed(train_x, t.batch_size, t.rng_seed, epoch)):
            if i >= start:
                tokens, lengths = pad_batch([train_x[j] for j in idx])
                yield tokens, lengths, train_y[torch.from_numpy(idx)]

    n_batches = (len(train_x) + t.batch_size - 1) // t.batch_size

    def loss(model: nn.Module, batch: Any, carry: Any) -> tuple[Tensor, int, Any]:
        tokens, lengths, target = batch
        logits = model(tokens, lengths)
        w = None if weight is None else weight.to(logits.device)
        if codec.multi_label:
            value = F.binary_cross_entropy_with_logits(logits, target, pos_weight=w)
        else:
            value = F.cross_entropy(logits, target, weight=w)
        return value, len(target), None

    threshold = recipe.model.threshold

    def evaluate(model: nn.Module) -> dict[str, float]:
        probs = predict_ids(model, valid_x, t.batch_size * 2, codec.multi_label)
        m = score(probs, valid_y.numpy(), codec, threshold)
        return {
            "valid_loss": m["loss"],
            "valid_accuracy": m["accuracy"],
            "valid_macro_f1": m["macro_f1"],
        }

    return TrainPlan(
        model=model,
        batches=batches,
        num_batches=lambda epoch: n_batches,
        loss=loss,
        evaluate=evaluate,
        meta={**state.to_json(), "train_rows": len(train_x)},
        monitor=t.monitor,
        higher_is_better=t.monitor != "valid_loss",
        unit="lines",
    )


def _describe(labels: list[str], weight: Tensor) -> str:
    pairs = [f"{label}={w:.3g}" for label, w in zip(labels, weight.tolist(), strict=True)]
    return ", ".join(pairs[:20]) + (" ..." if len(pairs) > 20 else "")


def init_embeddings(model: Classifier, codec: Codec, section: ClassifyModel) -> None:
    """Copy the vocabulary's rows of a local GloVe/word2vec file into the embedding."""
    assert section.pretrained_vectors is not None
    path = Path(section.pretrained_vectors)
    init_embedding(model.embedding.weight, path, codec.vocab.index, codec.tokenizer.lowercase)


def score(
    probs: np.ndarray, gold: np.ndarray, codec: Codec, threshold: float = 0.5
) -> dict[str, Any]:
    """Task metrics plus the mean loss, from probabilities (n, labels) and gold targets."""
    eps = 1e-7
    p = np.clip(probs, eps, 1 - eps)
    if codec.multi_label:
        loss = -(gold * np.log(p) + (1 - gold) * np.log(1 - p)).mean()
        metrics = multilabel_metrics(gold > 0.5, probs >= threshold, codec.labels)
    else:
        loss = -np.log(p[np.arange(len(gold)), gold]).mean()
        metrics = classification_metrics(gold, probs.argmax(1), codec.labels)
    return {"loss": float(loss), **metrics}


def encode_rows(
    codec: Codec, rows: list[tuple[str, str]], where: str
) -> tuple[list[list[int]], Tensor]:
    """Token ids per row and targets: class ids (n,), or multi-hot floats (n, labels)."""
    index = {label: i for i, label in enumerate(codec.labels)}
    targets: list[Any] = []
    for number, (_, cell) in enumerate(rows, start=1):
        names = codec.names(cell)
        for label in names:
            if label not in index:
                raise DataError(
                    f"label {label!r} was not seen in training ({where}, row {number}): "
                    f"known labels are {', '.join(codec.labels)}"
                )
        if codec.multi_label:
            hot = [0.0] * len(index)
            for label in names:
                hot[index[label]] = 1.0
            targets.append(hot)
        else:
            targets.append(index[cell])
    xs = codec.encode_many([text for text, _ in rows])
    ys = torch.tensor(targets, dtype=torch.float32 if codec.multi_label else torch.int64)
    if codec.multi_label:
        ys = ys.reshape(len(rows), len(index))
    return xs, ys


def predict_ids(
    model: nn.Module, seqs: list[list[int]], batch_size: int, multi_label: bool = False
) -> np.ndarray:
    """Class probabilities (n, classes) in input order; batches sorted by length.

    Softmax over classes, or one sigmoid per label when `multi_label`.
    """
    if not seqs:
        return np.zeros((0, 0), dtype=np.float32)
    device = next(model.parameters()).device
    parts: list[tuple[np.ndarray, np.ndarray]] = []
    with torch.inference_mode():
        for idx in by_length([len(s) for s in seqs], batch_size):
            tokens, lengths = pad_batch([seqs[i] for i in idx])
            logits = model(tokens.to(device), lengths).float()
            probs = logits.sigmoid() if multi_label else logits.softmax(-1)
            parts.append((idx, probs.cpu().numpy()))
    out = np.zeros((len(seqs), parts[0][1].shape[1]), dtype=np.float32)
    for idx, p in parts:
        out[idx] = p
    return out


def classify_lines(
    model: nn.Module, codec: Codec, lines: Iterable[str], batch_size: int = 256
) -> Iterator[tuple[str, np.ndarray | None]]:
    """(text, probabilities) per input line, in input order, streamed in batches.

    A blank line gets None instead of probabilities: there is nothing to classify.

    Lines are gathered 4 batches at a time so each group can be sorted by length.
    """
    for chunk in chunks(lines, batch_size * 4):
        yield from _predict_chunk(model, codec, chunk, batch_size)


def _predict_chunk(
    model: nn.Module, codec: Codec, chunk: list[str], batch_size: int
) -> Iterator[tuple[str, np.ndarray | None]]:
    """Blank lines get None (no prediction) and keep their place."""
    texts = [line for line in chunk if line.strip()]
    probs = iter(predict_ids(model, codec.encode_many(texts), batch_size, codec.multi_label))
    for line in chunk:
        yield line, next(probs) if line.strip() else None


def evaluate_file(
    model: nn.Module, codec: Codec, path: Path, data: ClassifyData, threshold: float = 0.5
) -> dict:
    xs, ys = encode_rows(codec, read_rows(path, data), str(path))
    probs = predict_ids(model, xs, 256, codec.multi_label)
    return score(probs, ys.numpy(), codec, threshold)


# ------------------------------------------------------------------ the Task protocol
evaluate_options: frozenset[str] = frozenset()
main_metric: tuple[str, ...] = ("valid_accuracy", "valid_loss")


def test_source(recipe: ClassifyRecipe, state: TaskData, run_dir: Path) -> Any:
    return recipe.data.test


def evaluate(loaded: Loaded, source: Any) -> dict[str, Any]:
    recipe = loaded.recipe
    codec = Codec(loaded.state)
    return evaluate_file(loaded.model, codec, Path(source), recipe.data, recipe.model.threshold)


def report(metrics: dict[str, Any], source: Any) -> list[Report]:
    """The metrics, then precision/recall/F1 per class and the confusion matrix."""
    tables = [metric_table(name, source, metrics)]
    per_class = metrics.get("per_class")
    if per_class:
        rows = [
            [label, *(f"{row[k]:.4f}" for k in ("precision", "recall", "f1")), str(row["support"])]
            for label, row in per_class.items()
        ]
        tables.append(Report("per class", ["label", "precision", "recall", "f1", "support"], rows))
    if per_class and "confusion" in metrics:
        names = list(per_class)
        rows = [
            [label, *(str(n) for n in row)]
            for label, row in zip(names, metrics["confusion"], strict=True)
        ]
        tables.append(Report("confusion (rows: gold, columns: predicted)", ["", *names], rows))
    return tables


def describe(state: TaskData) -> dict[str, Any]:
    return {"vocab_size": len(state.vocab), "tokenizer": state.tokenizer.to_json()}
