"""Task `classify`: many-to-one text classification (one label per line).

Batches are bucketed by length (sort within shuffled pools), which on this CPU runs
about twice as fast as mixed lengths; predictions restore the input order.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnncli.config import ClassifyModel, ClassifyRecipe
from rnncli.data.tables import read_labelled
from rnncli.data.vocab import Tokenizer, Vocab
from rnncli.errors import DataError
from rnncli.models.builders import build_classifier
from rnncli.models.classifier import Classifier
from rnncli.training.metrics import classification_metrics
from rnncli.training.trainer import TrainPlan

name = "classify"
POOL = 50  # batches per sorting pool


class Codec:
    """Tokenizer, vocabulary (id 0 is <unk>, also used as padding) and label names."""

    def __init__(self, task_data: dict[str, Any]) -> None:
        self.vocab = Vocab(list(task_data["vocab"]))
        self.tokenizer = Tokenizer.from_json(task_data["tokenizer"])
        self.labels: list[str] = list(task_data["labels"])
        self.max_length: int | None = task_data.get("max_length")

    def encode(self, text: str) -> list[int]:
        index = self.vocab.index
        ids = [index.get(t, 0) for t in self.tokenizer.split(text)] or [0]
        return ids[: self.max_length] if self.max_length else ids


def build_model(model: ClassifyModel, task_data: dict[str, Any]) -> Classifier:
    return build_classifier(model, len(task_data["vocab"]), len(task_data["labels"]))


def pad_batch(seqs: list[list[int]]) -> tuple[Tensor, Tensor]:
    """Token lists -> (batch, max_len) int64 padded with 0, and lengths (batch,)."""
    lengths = torch.tensor([len(s) for s in seqs], dtype=torch.int64)
    tokens = torch.zeros(len(seqs), int(lengths.max()), dtype=torch.int64)
    for i, s in enumerate(seqs):
        tokens[i, : len(s)] = torch.tensor(s, dtype=torch.int64)
    return tokens, lengths


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


def prepare(recipe: ClassifyRecipe, run_dir: Path, task_data: dict[str, Any] | None) -> TrainPlan:
    d, t = recipe.data, recipe.training
    read = lambda p: read_labelled(  # noqa: E731
        Path(p), d.format, d.text_column, d.label_column, d.header, d.encoding
    )
    rows = read(d.train)
    if d.valid:
        train_rows, valid_rows = rows, read(d.valid)
    else:
        tr, va = _split(rows, d.valid_fraction, t.rng_seed)
        train_rows, valid_rows = [rows[i] for i in tr], [rows[i] for i in va]
    if not valid_rows:
        raise DataError("no validation rows: set data.valid or raise data.valid_fraction")
    tokenizer = Tokenizer(d.tokenizer, d.lowercase)
    if task_data is None:
        counts = Counter(tok for text, _ in train_rows for tok in tokenizer.split(text))
        vocab = Vocab.from_counts(counts, d.min_freq, d.max_size)
        labels = sorted({label for _, label in train_rows})
        if len(labels) < 2:
            raise DataError(f"{d.train} has one label only ({labels[0]!r}): nothing to learn")
        task_data = {
            "vocab": vocab.tokens,
            "tokenizer": tokenizer.to_json(),
            "labels": labels,
            "max_length": d.max_length,
        }
    codec = Codec(task_data)
    train_x, train_y = encode_rows(codec, train_rows, d.valid or d.train)
    valid_x, valid_y = encode_rows(codec, valid_rows, d.valid or d.train)
    torch.manual_seed(t.rng_seed)
    model = build_model(recipe.model, task_data)

    def batches(epoch: int, start: int = 0) -> Iterator[tuple[Tensor, Tensor, Tensor]]:
        for i, idx in enumerate(bucketed(train_x, t.batch_size, t.rng_seed, epoch)):
            if i >= start:
                tokens, lengths = pad_batch([train_x[j] for j in idx])
                yield tokens, lengths, torch.tensor([train_y[j] for j in idx])

    n_batches = (len(train_x) + t.batch_size - 1) // t.batch_size

    def loss(model: nn.Module, batch: Any, carry: Any) -> tuple[Tensor, int, Any]:
        tokens, lengths, labels = batch
        return F.cross_entropy(model(tokens, lengths), labels), len(labels), None

    def evaluate(model: nn.Module) -> dict[str, float]:
        pred = predict_ids(model, valid_x, t.batch_size * 2)
        m = classification_metrics(np.array(valid_y), pred.argmax(1), codec.labels)
        return {"valid_accuracy": m["accuracy"], "valid_macro_f1": m["macro_f1"]}

    return TrainPlan(
        model=model,
        batches=batches,
        num_batches=lambda epoch: n_batches,
        loss=loss,
        evaluate=evaluate,
        meta={**task_data, "train_rows": len(train_x)},
        monitor="valid_accuracy",
        higher_is_better=True,
        unit="lines",
    )


def encode_rows(
    codec: Codec, rows: list[tuple[str, str]], where: str
) -> tuple[list[list[int]], list[int]]:
    index = {label: i for i, label in enumerate(codec.labels)}
    xs, ys = [], []
    for number, (text, label) in enumerate(rows, start=1):
        if label not in index:
            raise DataError(
                f"label {label!r} was not seen in training ({where}, row {number}): "
                f"known labels are {', '.join(codec.labels)}"
            )
        xs.append(codec.encode(text))
        ys.append(index[label])
    return xs, ys


def bucketed(seqs: list[list[int]], batch_size: int, seed: int, epoch: int) -> list[np.ndarray]:
    """Shuffled batches of similar lengths: shuffle, sort within pools, shuffle batches."""
    rng = np.random.default_rng([seed, epoch])
    perm = rng.permutation(len(seqs))
    pool = batch_size * POOL
    out: list[np.ndarray] = []
    for s in range(0, len(perm), pool):
        chunk = perm[s : s + pool]
        chunk = chunk[np.argsort([len(seqs[i]) for i in chunk], kind="stable")]
        out += [chunk[b : b + batch_size] for b in range(0, len(chunk), batch_size)]
    return [out[i] for i in rng.permutation(len(out))]


def predict_ids(model: nn.Module, seqs: list[list[int]], batch_size: int) -> np.ndarray:
    """Class probabilities (n, classes) in input order; batches sorted by length."""
    if not seqs:
        return np.zeros((0, 0), dtype=np.float32)
    device = next(model.parameters()).device
    order = np.argsort([len(s) for s in seqs], kind="stable")
    parts: list[tuple[np.ndarray, np.ndarray]] = []
    with torch.inference_mode():
        for b in range(0, len(order), batch_size):
            idx = order[b : b + batch_size]
            tokens, lengths = pad_batch([seqs[i] for i in idx])
            parts.append((idx, model(tokens.to(device), lengths).float().softmax(-1).cpu().numpy()))
    probs = np.zeros((len(seqs), parts[0][1].shape[1]), dtype=np.float32)
    for idx, p in parts:
        probs[idx] = p
    return probs


def classify_lines(
    model: nn.Module, codec: Codec, lines: Iterable[str], batch_size: int = 256
) -> Iterator[tuple[str, np.ndarray]]:
    """(text, probabilities) per input line, in input order, streamed in batches."""
    chunk: list[str] = []
    for line in lines:
        chunk.append(line)
        if len(chunk) == batch_size * 4:
            yield from zip(
                chunk, predict_ids(model, [codec.encode(x) for x in chunk], batch_size), strict=True
            )
            chunk = []
    if chunk:
        yield from zip(
            chunk, predict_ids(model, [codec.encode(x) for x in chunk], batch_size), strict=True
        )


def evaluate_file(model: nn.Module, codec: Codec, path: Path, data: dict[str, Any]) -> dict:
    rows = read_labelled(
        path,
        data.get("format", "auto"),
        data["text_column"],
        data["label_column"],
        data.get("header", True),
        data.get("encoding", "utf-8"),
    )
    xs, ys = encode_rows(codec, rows, str(path))
    pred = predict_ids(model, xs, 256).argmax(1)
    return classification_metrics(np.array(ys), pred, codec.labels)
