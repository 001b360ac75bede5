"""Task `generate`: a character or word language model trained with truncated BPTT.

The corpus is encoded once into a memory-mapped id array in the run directory; the
hidden state is carried across batches (and detached), so the model sees context far
longer than `seq_length`.
"""

from __future__ import annotations

import logging
import math
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from pydantic import Field
from torch import Tensor, nn

from rnncli import decoding
from rnncli.config import ModelSection
from rnncli.data.streams import StreamBatches
from rnncli.data.text import Encoder, count_tokens, encode_file
from rnncli.data.vocab import Tokenizer, Vocab
from rnncli.errors import DataError, UsageError
from rnncli.models.builders import build_language_model
from rnncli.models.language_model import LanguageModel
from rnncli.models.recurrent import detach_state
from rnncli.tasks import Loaded, Report, metric_table
from rnncli.tasks.generate.export import export_plan as export_plan
from rnncli.tasks.generate.export import onnx_model as onnx_model
from rnncli.tasks.generate.schema import GenerateRecipe
from rnncli.tasks.task_data import StoredData, TokenizerData, Vocabulary
from rnncli.training.checkpoint import check_header_room
from rnncli.training.trainer import TrainPlan

log = logging.getLogger("rnncli")
name = "generate"


class TaskData(StoredData):
    """`task_data` of a language model checkpoint (checked on load, before the Codec)."""

    vocab: Vocabulary
    tokenizer: TokenizerData
    train_tokens: int | None = Field(None, ge=0)
    valid_tokens: int | None = Field(None, ge=0)

    def weight_rows(self) -> dict[str, tuple[str, int]]:
        n = len(self.vocab)
        return {"embedding.weight": ("vocab", n), "head.weight": ("vocab", n)}


class Codec:
    """The vocabulary and tokenizer of a trained model: text <-> ids."""

    def __init__(self, state: TaskData) -> None:
        self.vocab = Vocab(list(state.vocab))
        self.tokenizer = Tokenizer.from_json(state.tokenizer.to_json())
        self.encoder = Encoder(self.vocab, self.tokenizer)

    def encode(self, text: str, allow_unknown: bool = False) -> np.ndarray:
        unknown = self.encoder.unknown(text)
        if unknown:
            shown = ", ".join(repr(u) for u in unknown[:8])
            if not allow_unknown and self.tokenizer.kind == "char":
                raise DataError(
                    f"text has characters outside the model's vocabulary: {shown}: "
                    "remove them, or pass --allow-unknown to read them as <unk>"
                )
            log.warning("tokens outside the vocabulary read as <unk>: %s", shown)
        return self.encoder.encode(text)

    def decode(self, ids: list[int]) -> str:
        return self.tokenizer.join(self.vocab.tokens[i] for i in ids)


def build_model(model: ModelSection, state: TaskData) -> LanguageModel:
    return build_language_model(model, len(state.vocab))


def prepare(recipe: GenerateRecipe, run_dir: Path, state: TaskData | None) -> TrainPlan:
    """Vocabulary (or the saved one on resume), encoded corpus, model and loss."""
    d, t = recipe.data, recipe.training
    train_path = Path(d.train)
    tokenizer = Tokenizer(d.tokenizer, d.lowercase)
    if state is None:
        counts = count_tokens(train_path, tokenizer, d.encoding)
        if not counts:
            raise DataError(f"no text in {train_path}: the training file is empty")
        vocab = Vocab.from_counts(counts, d.min_freq, d.max_size)
        state = TaskData.from_json({"vocab": vocab.tokens, "tokenizer": tokenizer.to_json()})
        check_header_room(state.to_json(), run_dir)
    codec = Codec(state)
    ids = encode_file(train_path, codec.encoder, run_dir / "cache" / "train.ids", d.encoding)
    if d.valid:
        valid_ids = encode_file(
            Path(d.valid), codec.encoder, run_dir / "cache" / "valid.ids", d.encoding
        )
        train_ids = ids
    else:
        cut = int(len(ids) * (1 - d.valid_fraction))
        train_ids, valid_ids = ids[:cut], ids[cut:]
    batches = StreamBatches(train_ids, t.batch_size, t.seq_length, seed=t.rng_seed)
    if batches.num_batches(0) == 0:
        raise DataError(
            f"training text too short ({train_path}: {len(train_ids)} tokens) for "
            f"batch_size {t.batch_size}: lower training.batch_size or give more text"
        )
    if len(valid_ids) < 2:
        raise DataError("no validation text: raise data.valid_fraction or set data.valid")
    state = state.model_copy(
        update={"train_tokens": len(train_ids), "valid_tokens": len(valid_ids)}
    )
    torch.manual_seed(t.rng_seed)
    model = build_model(recipe.model, state)
    char_level = tokenizer.kind == "char"

    def loss(model: nn.Module, batch: tuple[Tensor, Tensor], carry: Any) -> tuple[Tensor, int, Any]:
        inputs, targets = batch
        logits, state = model(inputs, detach_state(carry))
        return F.cross_entropy(logits.flatten(0, 1), targets.flatten()), targets.numel(), state

    def evaluate(model: nn.Module) -> dict[str, float]:
        nll, count = stream_nll(model, valid_ids, t.batch_size, t.seq_length, t.eval_max_batches)
        return lm_metrics("valid", nll, count, char_level)

    return TrainPlan(
        model=model,
        batches=batches,
        num_batches=batches.num_batches,
        loss=loss,
        evaluate=evaluate,
        meta=state.to_json(),
    )


def stream_nll(
    model: nn.Module, ids: np.ndarray, rows: int, seq_length: int, max_batches: int | None = None
) -> tuple[float, int]:
    """Summed negative log-likelihood of a stream, read as `rows` parallel rows."""
    n = len(ids) - 1
    if n < 1:
        raise DataError("text too short to evaluate: it needs at least two tokens")
    rows = max(1, min(rows, n // seq_length))
    cols = n // rows
    x = np.asarray(ids[: rows * cols]).reshape(rows, cols)
    y = np.asarray(ids[1 : rows * cols + 1]).reshape(rows, cols)
    device = next(model.parameters()).device
    state, total, count = None, 0.0, 0
    for b, start in enumerate(range(0, cols, seq_length)):
        if max_batches is not None and b >= max_batches:
            break
        xs = torch.from_numpy(x[:, start : start + seq_length].astype(np.int64)).to(device)
        ys = torch.from_numpy(y[:, start : start + seq_length].astype(np.int64)).to(device)
        logits, state = model(xs, state)
        total += float(F.cross_entropy(logits.flatten(0, 1).float(), ys.flatten(), reduction="sum"))
        count += ys.numel()
    return total, count


def lm_metrics(prefix: str, nll: float, count: int, char_level: bool) -> dict[str, float]:
    loss = nll / max(count, 1)
    out = {
        f"{prefix}_loss": loss,
        f"{prefix}_ppl": math.exp(min(loss, 50.0)),
        f"{prefix}_tokens": count,
    }
    if char_level:
        out[f"{prefix}_bpc"] = loss / math.log(2)
    return out


def evaluate_file(
    model: LanguageModel,
    codec: Codec,
    path: Path,
    encoding: str = "utf-8",
    batch_size: int = 16,
    seq_length: int = 256,
) -> dict[str, float]:
    """Loss, perplexity (and bits per character) of `model` on a text file, streamed."""
    with tempfile.TemporaryDirectory() as tmp:
        ids = encode_file(path, codec.encoder, Path(tmp) / "ids", encoding)
        with torch.inference_mode():
            nll, count = stream_nll(model, ids, batch_size, seq_length)
        unknown = int((ids == 0).sum())
        del ids
    if unknown:
        log.warning("%d tokens of %s are outside the vocabulary (scored as <unk>)", unknown, path)
    metrics = lm_metrics("test", nll, count, codec.tokenizer.kind == "char")
    metrics["unknown_tokens"] = unknown
    return metrics


def generate(
    model: LanguageModel,
    codec: Codec,
    seed: str,
    length: int,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    num_samples: int = 1,
    stop: str | None = None,
    generator: torch.Generator | None = None,
    allow_unknown: bool = False,
) -> Iterator[list[str]]:
    """Yield, per new token, the text each sample gained ("" once a sample has stopped).

    The seed is read once by the fused module; every new token is one cell step.
    """
    if length < 0 or num_samples < 1:
        raise UsageError("--length must be >= 0 and --num-samples >= 1")
    device = next(model.parameters()).device
    with torch.inference_mode():
        state = model.initial_state(num_samples)
        ids = codec.encode(seed, allow_unknown) if seed else np.zeros(0, dtype=np.int64)
        if len(ids) == 0:
            # No priming text: start from the state alone, with a newline if the vocab has one.
            first = codec.vocab.index.get("\n", 0)
            ids = np.array([first])
        tokens = torch.from_numpy(ids.astype(np.int64)).to(device).expand(num_samples, -1)
        logits, state = model(tokens, state)
        layers = model.rnn.split_state(state)
        step = model.stepper(banned=0)  # never write <unk>
        logits = logits[:, -1]
        logits[:, 0] = -math.inf
        vocab, tokenizer = codec.vocab.tokens, codec.tokenizer
        prev: list[str | None] = [vocab[int(ids[-1])] if seed else None] * num_samples
        pending, done = [""] * num_samples, [False] * num_samples
        steps = decoding.sample(step, logits, layers, length, temperature, top_k, top_p, generator)
        for toks in steps:
            out = []
            for i, t in enumerate(toks.tolist()):
                if done[i]:
                    out.append("")
                    continue
                piece = tokenizer.piece(prev[i], vocab[t])
                prev[i] = vocab[t]
                if stop:
                    piece, pending[i], done[i] = _hold_back(pending[i] + piece, stop)
                out.append(piece)
            yield out
            if all(done):
                return
        if any(pending):
            yield pending


def _hold_back(text: str, stop: str) -> tuple[str, str, bool]:
    """Split `text` into (emit now, keep pending, stopped): a tail that may begin `stop`
    is held back so the stop string is never printed, even when streaming."""
    at = text.find(stop)
    if at >= 0:
        return text[:at], "", True
    for keep in range(min(len(stop) - 1, len(text)), 0, -1):
        if stop.startswith(text[-keep:]):
            return text[:-keep], text[-keep:], False
    return text, "", False


# ------------------------------------------------------------------ the Task protocol
evaluate_options = frozenset({"encoding"})
# bits per character for a character model, else perplexity (`rnn plot`, `rnn runs`)
main_metric: tuple[str, ...] = ("valid_bpc", "valid_ppl", "valid_loss")


def test_source(recipe: GenerateRecipe, state: TaskData, run_dir: Path) -> Any:
    return recipe.data.test


def evaluate(loaded: Loaded, source: Any, encoding: str = "utf-8") -> dict[str, Any]:
    codec = Codec(loaded.state)
    return evaluate_file(loaded.model, codec, Path(source), encoding)  # type: ignore[arg-type]


def report(metrics: dict[str, Any], source: Any) -> list[Report]:
    return [metric_table(name, source, metrics)]


def describe(state: TaskData) -> dict[str, Any]:
    return {
        "vocab_size": len(state.vocab),
        "tokenizer": state.tokenizer.to_json(),
        "train_tokens": state.train_tokens,
    }
