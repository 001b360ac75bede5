"""Task `translate`: sequence to sequence with attention (`rnn translate`).

Pairs come from a TSV (optionally gzip) or two line-aligned files. Each side has its
own tokenizer and vocabulary, or both share one (`data.joint_vocab`). Vocabulary ids
0-3 are `<unk> <pad> <bos> <eos>`. Held-out splits are drawn with a fixed seed after the
word-length filter and de-duplication, and written into the run directory
(`valid.tsv`, `test.tsv`) so `rnn evaluate` can score exactly the same pairs.
"""

from __future__ import annotations

import logging
import math
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from pydantic import Field, model_validator
from torch import Tensor, nn

from rnncli.data.batching import bucketed, by_length, chunks, pad_batch
from rnncli.data.pairs import (
    dedupe,
    filter_words,
    hold_out,
    hold_out_by_source,
    read_pairs,
    tsv_bytes,
)
from rnncli.data.vocab import UNK, Tokenizer, Vocab
from rnncli.decoding import Hypothesis, beam_search, greedy_search
from rnncli.errors import DataError, UsageError
from rnncli.models.builders import build_seq2seq
from rnncli.models.seq2seq import Seq2Seq
from rnncli.tasks import Loaded, Report, metric_table
from rnncli.tasks.task_data import StoredData, TokenizerData, Vocabulary
from rnncli.tasks.translate.export import export_plan as export_plan
from rnncli.tasks.translate.export import onnx_model as onnx_model
from rnncli.tasks.translate.schema import (
    SideText,
    TranslateData,
    TranslateModel,
    TranslateRecipe,
)
from rnncli.training.checkpoint import atomic_write, check_header_room
from rnncli.training.metrics import bleu_chrf
from rnncli.training.trainer import TrainPlan

log = logging.getLogger("rnncli")
name = "translate"
PAD, BOS, EOS = "<pad>", "<bos>", "<eos>"
SPECIALS = [UNK, PAD, BOS, EOS]
UNK_ID, PAD_ID, BOS_ID, EOS_ID = range(4)


# ------------------------------------------------------------------- codec
class SideData(StoredData):
    tokenizer: TokenizerData
    vocab: Vocabulary

    @model_validator(mode="after")
    def _specials(self) -> SideData:
        if self.vocab[:4] != SPECIALS:
            raise ValueError(f"vocab: a translation vocabulary starts with {' '.join(SPECIALS)}")
        return self


class TaskData(StoredData):
    """`task_data` of a translation checkpoint (checked on load, before the Codec)."""

    source: SideData
    target: SideData | None = None  # None when both sides share one vocabulary (joint)
    joint: bool = False
    max_length: int = Field(ge=1)
    length_ratio: float = Field(2.0, gt=0)
    train_pairs: int | None = Field(None, ge=0)

    @model_validator(mode="after")
    def _sides(self) -> TaskData:
        if (self.target is None) != self.joint:
            raise ValueError("target: given exactly when the vocabulary is not joint")
        return self

    def weight_rows(self) -> dict[str, tuple[str, int]]:
        source = ("source.vocab", len(self.source.vocab))
        target = source if self.target is None else ("target.vocab", len(self.target.vocab))
        return {
            "source_embedding.weight": source,
            "target_embedding.weight": target,
            "head.weight": target,
        }


class Side:
    """Tokenizer and vocabulary of one side."""

    def __init__(self, data: SideData) -> None:
        self.tokenizer = Tokenizer.from_json(data.tokenizer.to_json())
        self.vocab = Vocab(list(data.vocab))

    def encode_many(self, texts: list[str]) -> list[tuple[list[int], list[str]]]:
        """(ids, unknown tokens) per text."""
        index = self.vocab.index
        out = []
        for tokens in self.tokenizer.split_many(texts):
            ids = [index.get(t, UNK_ID) for t in tokens]
            out.append((ids, [t for t, i in zip(tokens, ids, strict=True) if i == UNK_ID]))
        return out

    def decode(self, ids: Iterable[int]) -> str:
        tokens = self.vocab.tokens
        return self.tokenizer.join(tokens[i] for i in ids if i not in (PAD_ID, BOS_ID, EOS_ID))

    def tokens(self, ids: Iterable[int]) -> list[str]:
        return [self.vocab.tokens[i] for i in ids]


class Codec:
    def __init__(self, state: TaskData) -> None:
        self.source = Side(state.source)
        self.target = self.source if state.target is None else Side(state.target)
        self.max_length: int = state.max_length
        self.length_ratio: float = state.length_ratio


def _side_data(side: SideText, texts: list[str]) -> dict[str, Any]:
    if side.tokenizer == "subword":
        tokenizer = Tokenizer.train(texts, side.subword_model, side.vocab_size, side.lowercase)
    else:
        tokenizer = Tokenizer(side.tokenizer, side.lowercase)
    counts = Counter(t for tokens in tokenizer.split_many(texts) for t in tokens)
    for special in SPECIALS:
        counts.pop(special, None)
    hint = "set data.source/target.max_size (e.g. 50000) or raise their min_freq"
    learned = Vocab.from_counts(counts, side.min_freq, side.max_size and side.max_size - 3, hint)
    return {"tokenizer": tokenizer.to_json(), "vocab": SPECIALS + learned.tokens[1:]}


def make_state(d: TranslateData, pairs: list[tuple[str, str]]) -> dict[str, Any]:
    """Tokenizers and vocabularies learned from the training pairs only."""
    src = [s for s, _ in pairs]
    tgt = [t for _, t in pairs]
    if d.joint_vocab:
        joint = _side_data(d.source, src + tgt)
        data: dict[str, Any] = {"source": joint, "target": None, "joint": True}
    else:
        data = {"source": _side_data(d.source, src), "target": _side_data(d.target, tgt)}
        data["joint"] = False
    data["max_length"] = d.max_length
    return data


def build_model(model: TranslateModel, state: TaskData) -> Seq2Seq:
    codec = Codec(state)
    return build_seq2seq(model, len(codec.source.vocab), len(codec.target.vocab), PAD_ID)


# -------------------------------------------------------------------- data
@dataclass
class Encoded:
    """Token ids of pairs: source ids, and target ids ending with <eos>."""

    source: list[list[int]]
    target: list[list[int]]
    texts: list[tuple[str, str]]


def encode_pairs(codec: Codec, pairs: list[tuple[str, str]], limit: int | None) -> Encoded:
    """Ids of both sides; pairs with a side over `limit` tokens are dropped (None: kept)."""
    src = codec.source.encode_many([s for s, _ in pairs])
    tgt = codec.target.encode_many([t for _, t in pairs])
    out = Encoded([], [], [])
    for (s, _), (t, _), texts in zip(src, tgt, pairs, strict=True):
        if limit is not None and (len(s) > limit or len(t) + 1 > limit):
            continue
        if not s:
            continue
        out.source.append(s)
        out.target.append([*t, EOS_ID])
        out.texts.append(texts)
    return out


def make_batch(enc: Encoded, idx: Iterable[int]) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """-> source (B, S), source lengths (B,), decoder input (B, T) from <bos>, gold (B, T)."""
    idx = list(idx)
    source, lengths = pad_batch([enc.source[i] for i in idx], PAD_ID)
    gold, _ = pad_batch([enc.target[i] for i in idx], PAD_ID)
    # decoder input = gold shifted right behind <bos>; the <eos> it shifts in is padding
    given = torch.cat([torch.full_like(gold[:, :1], BOS_ID), gold[:, :-1]], dim=1)
    given.masked_fill_(given == EOS_ID, PAD_ID)
    return source, lengths, given, gold


def _read(spec: Any, d: TranslateData) -> list[tuple[str, str]]:
    data = spec.model_dump() if hasattr(spec, "model_dump") else spec
    return read_pairs(data, d.source_column, d.target_column, d.encoding, d.reverse, d.quoting)


def splits(
    d: TranslateData, seed: int
) -> tuple[list[tuple[str, str]], list[tuple[str, str]], list[tuple[str, str]]]:
    """Train, valid and test pairs as the recipe says (held out with a fixed seed)."""
    pairs = filter_words(_read(d.train, d), d.max_words)
    if d.dedupe:
        pairs = dedupe(pairs)
    if not pairs:
        raise DataError(f"no pair of {d.train} has at most {d.max_words} words a side")
    sizes = [0 if d.valid else d.valid_size, 0 if d.test else d.test_size]
    if d.split == "by_source":
        rest, (valid_idx, test_idx), dropped = hold_out_by_source(
            [s for s, _ in pairs], sizes, d.split_seed
        )
        if dropped:
            log.info(
                "held out by source sentence: %d more pairs with a held-out source are "
                "not trained on",
                dropped,
            )
    else:
        rest, (valid_idx, test_idx) = hold_out(len(pairs), sizes, d.split_seed)
    train = [pairs[i] for i in rest]
    valid = _read(d.valid, d) if d.valid else [pairs[i] for i in valid_idx]
    test = _read(d.test, d) if d.test else [pairs[i] for i in test_idx]
    return train, valid, test


# --------------------------------------------------------------- training
def teacher_forcing_at(step: int, start: float, end: float | None, total: int) -> float:
    """Linear schedule of the teacher-forcing probability over `total` steps."""
    if end is None or total <= 1:
        return start
    return start + (end - start) * min(step / (total - 1), 1.0)


def prepare(recipe: TranslateRecipe, run_dir: Path, state: TaskData | None) -> TrainPlan:
    d, t = recipe.data, recipe.training
    train, valid, test = splits(d, t.rng_seed)
    if not valid:
        raise DataError("no validation pairs: set data.valid or data.valid_size > 0")
    atomic_write(run_dir / "valid.tsv", tsv_bytes(valid))
    if test:
        atomic_write(run_dir / "test.tsv", tsv_bytes(test))
    fresh = state is None
    if state is None:
        made = make_state(d, train)
        hint = "set data.source/target.max_size (e.g. 50000) or raise their min_freq"
        check_header_room(made, run_dir, hint)
        state = TaskData.from_json(made)
    codec = Codec(state)
    enc = encode_pairs(codec, train, d.max_length)
    if not enc.source:
        raise DataError(f"no training pair fits data.max_length ({d.max_length} tokens)")
    dropped = len(train) - len(enc.source)
    if dropped:
        log.info("skipped %d training pair(s) over data.max_length tokens", dropped)
    if fresh:
        ratios = np.array([len(tg) / len(s) for s, tg in zip(enc.source, enc.target, strict=True)])
        ratio = round(float(max(1.0, np.quantile(ratios, 0.999))), 3)
        state = state.model_copy(update={"length_ratio": ratio})
    val = encode_pairs(codec, valid, None)
    log.info(
        "translate: %d training pairs (%d target tokens), %d valid, %d test; "
        "vocabulary %d source / %d target",
        len(enc.source),
        sum(len(x) for x in enc.target),
        len(val.source),
        len(test),
        len(codec.source.vocab),
        len(codec.target.vocab),
    )
    torch.manual_seed(t.rng_seed)
    model = build_model(recipe.model, state)
    n_batches = (len(enc.source) + t.batch_size - 1) // t.batch_size
    total = min([t.epochs * n_batches] + ([t.max_steps] if t.max_steps else []))
    generator = torch.Generator().manual_seed(t.rng_seed)

    def key(i: int) -> int:
        return len(enc.source[i]) * 1024 + len(enc.target[i])

    def batches(epoch: int, start: int = 0) -> Iterator[tuple[Any, ...]]:
        for i, idx in enumerate(bucketed(enc.source, t.batch_size, t.rng_seed, epoch, key)):
            if i >= start:
                yield (*make_batch(enc, idx.tolist()), epoch * n_batches + i)

    def loss(model: nn.Module, batch: Any, carry: Any) -> tuple[Tensor, int, Any]:
        source, lengths, given, gold, step = batch
        ratio = teacher_forcing_at(step, t.teacher_forcing, t.teacher_forcing_end, total)
        logits = model(source, lengths, given, ratio, generator if ratio < 1 else None)
        value = F.cross_entropy(
            logits.reshape(-1, logits.shape[-1]),
            gold.reshape(-1),
            ignore_index=PAD_ID,
            label_smoothing=t.label_smoothing,
        )
        return value, int((gold != PAD_ID).sum()), None

    bleu_pairs = valid[: t.eval_bleu_sentences]

    def evaluate(model: nn.Module) -> dict[str, float]:
        m = teacher_forced(model, val, t.batch_size * 2, t.eval_max_batches)  # type: ignore[arg-type]
        out = {"valid_loss": m["loss"], "valid_accuracy": m["token_accuracy"]}
        if bleu_pairs:
            sources = [s for s, _ in bleu_pairs]
            hyps = [r.text for r in translate_lines(model, codec, sources)]  # type: ignore[arg-type]
            out["valid_bleu"] = bleu_chrf(hyps, [tg for _, tg in bleu_pairs])["bleu"]
        return out

    return TrainPlan(
        model=model,
        batches=batches,
        num_batches=lambda epoch: n_batches,
        loss=loss,
        evaluate=evaluate,
        meta={**state.to_json(), "train_pairs": len(enc.source)},
        monitor=t.monitor,
        higher_is_better=t.monitor == "valid_bleu",
        unit="tok",
    )


def teacher_forced(
    model: Seq2Seq, enc: Encoded, batch_size: int, max_batches: int | None = None
) -> dict[str, float]:
    """Mean per-token loss and accuracy of the gold next token, given the gold prefix."""
    device = next(model.parameters()).device
    order = np.argsort([len(s) for s in enc.source], kind="stable")
    loss_sum, correct, count = 0.0, 0, 0
    with torch.inference_mode():
        for n, b in enumerate(range(0, len(order), batch_size)):
            if max_batches is not None and n >= max_batches:
                break
            source, lengths, given, gold = make_batch(enc, order[b : b + batch_size].tolist())
            source, given, gold = source.to(device), given.to(device), gold.to(device)
            logits = model(source, lengths, given).float()
            flat, target = logits.reshape(-1, logits.shape[-1]), gold.reshape(-1)
            real = target != PAD_ID
            loss_sum += float(F.cross_entropy(flat, target, ignore_index=PAD_ID, reduction="sum"))
            correct += int(((flat.argmax(-1) == target) & real).sum())
            count += int(real.sum())
    count = max(count, 1)
    return {"loss": loss_sum / count, "token_accuracy": correct / count}


# ------------------------------------------------------------- translating
@dataclass
class Candidate:
    text: str
    tokens: list[str]
    score: float  # length-normalised log-probability (what ranks the beam)
    log_prob: float
    attention: np.ndarray | None = None  # (output tokens + <eos>, source tokens)


@dataclass
class Translation:
    """The translations of one input line (none for a blank line)."""

    source: str
    source_tokens: list[str] = field(default_factory=list)
    candidates: list[Candidate] = field(default_factory=list)
    truncated: int = 0  # source tokens cut off (over data.max_length)
    unknown: list[str] = field(default_factory=list)  # source tokens read as <unk>

    @property
    def text(self) -> str:
        return self.candidates[0].text if self.candidates else ""


@dataclass(frozen=True)
class Search:
    """How to search: beam 1 is greedy; the limits are in output tokens."""

    beam: int = 1
    n_best: int = 1
    length_penalty: float = 1.0
    max_ratio: float | None = None  # default: the trained 99.9th percentile ratio
    max_length: int | None = None  # default: 2 x data.max_length
    batch_size: int = 64
    attention: bool = False  # keep each candidate's attention matrix

    def check(self) -> Search:
        if self.beam < 1:
            raise UsageError("--beam must be >= 1")
        if not 1 <= self.n_best <= self.beam:
            raise UsageError(f"--n-best must be between 1 and the beam size ({self.beam})")
        if self.max_ratio is not None and not 0 < self.max_ratio < math.inf:
            raise UsageError("--max-ratio must be a finite number > 0")
        if not math.isfinite(self.length_penalty):
            raise UsageError("--length-penalty must be a finite number")
        if self.max_length is not None and self.max_length < 1:
            raise UsageError("--max-length must be >= 1")
        if self.batch_size < 1:
            raise UsageError("--batch-size must be >= 1")
        return self


def translate_lines(
    model: Seq2Seq, codec: Codec, lines: Iterable[str], search: Search = Search()
) -> Iterator[Translation]:
    """One Translation per input line, in order, streamed in sorted batches.

    The output limit of a sentence is ceil(ratio * source tokens) + 5 tokens, capped by
    the search's max_length.
    """
    search.check()
    for chunk in chunks(lines, search.batch_size * 4):
        yield from _chunk(model, codec, chunk, search)


def _chunk(model: Seq2Seq, codec: Codec, lines: list[str], search: Search) -> list[Translation]:
    out = [Translation(line) for line in lines]
    filled = [i for i, line in enumerate(lines) if line.strip()]
    encoded = codec.source.encode_many([lines[i] for i in filled])
    limit = codec.max_length
    cap = search.max_length or 2 * limit
    ratio = search.max_ratio or codec.length_ratio
    ids: dict[int, list[int]] = {}
    for i, (tok_ids, unknown) in zip(filled, encoded, strict=True):
        tr = out[i]
        tr.source_tokens = codec.source.tokens(tok_ids[:limit])
        tr.unknown = unknown
        tr.truncated = max(0, len(tok_ids) - limit)
        ids[i] = tok_ids[:limit]
    device = next(model.parameters()).device
    keys = list(ids)
    for batch in by_length([len(ids[i]) for i in keys], search.batch_size):
        rows = [keys[j] for j in batch]
        source, lengths = pad_batch([ids[i] for i in rows], PAD_ID)
        limits = [min(cap, math.ceil(ratio * len(ids[i])) + 5) for i in rows]
        found = _search(model, source.to(device), lengths, limits, search)
        for i, hyps in zip(rows, found, strict=True):
            out[i].candidates = [
                Candidate(
                    codec.target.decode(h.tokens),
                    codec.target.tokens(h.tokens),
                    h.score,
                    h.log_prob,
                    None if h.trace is None else h.trace[:, : len(ids[i])].float().cpu().numpy(),
                )
                for h in hyps
            ]
    return out


def _search(
    model: Seq2Seq, source: Tensor, lengths: Tensor, limits: list[int], search: Search
) -> list[list[Hypothesis]]:
    trace: Callable[[Any], Tensor | None] | None = (
        (lambda state: state.attention)
        if search.attention and model.attention is not None
        else None
    )
    with torch.inference_mode():
        state = model.encode(source, lengths)
        step = model.stepper()
        if search.beam == 1:
            return [[h] for h in greedy_search(step, state, BOS_ID, EOS_ID, limits, trace)]
        return beam_search(
            step,
            state,
            BOS_ID,
            EOS_ID,
            limits,
            search.beam,
            search.n_best,
            search.length_penalty,
            trace,
        )


# -------------------------------------------------------------- evaluation
def evaluate_pairs(
    model: Seq2Seq,
    codec: Codec,
    pairs: list[tuple[str, str]],
    beam: int = 5,
    length_penalty: float = 1.0,
    batch_size: int = 64,
) -> dict[str, Any]:
    """BLEU and chrF (sacrebleu) of beam search, token accuracy and perplexity."""
    if not pairs:
        raise DataError("no pairs to evaluate")
    enc = encode_pairs(codec, pairs, None)
    tf = teacher_forced(model, enc, batch_size * 2)
    refs = [t for _, t in pairs]
    search = Search(beam=beam, length_penalty=length_penalty, batch_size=batch_size)
    hyps = [r.text for r in translate_lines(model, codec, [s for s, _ in pairs], search)]
    scores = bleu_chrf(hyps, refs, lowercase=codec.target.tokenizer.lowercase)
    return {
        "bleu": scores["bleu"],
        "chrf": scores["chrf"],
        "token_accuracy": tf["token_accuracy"],
        "perplexity": math.exp(min(tf["loss"], 50.0)),
        "loss": tf["loss"],
        "sentences": len(pairs),
        "beam": beam,
        "bleu_signature": scores["signature"],
    }


def read_eval_pairs(
    path: Any, data: TranslateData | None, as_trained: bool = False
) -> list[tuple[str, str]]:
    """Pairs to evaluate, read with the recipe's columns and direction.

    `as_trained`: a split the run wrote itself (columns 0 and 1, already in the trained
    direction).
    """
    spec = path if isinstance(path, dict) else str(path)
    if as_trained or data is None:
        return read_pairs(spec, 0, 1, "utf-8", False)
    return read_pairs(
        spec, data.source_column, data.target_column, data.encoding, data.reverse, data.quoting
    )


# ------------------------------------------------------------------ the Task protocol
evaluate_options = frozenset({"references", "beam", "length_penalty"})
# BLEU when training.eval_bleu_sentences logs it, else the loss
main_metric: tuple[str, ...] = ("valid_bleu", "valid_loss")


def test_source(recipe: TranslateRecipe, state: TaskData, run_dir: Path) -> Any:
    """The held-out pairs the run wrote (data.test or data.test_size), else data.test."""
    held_out = run_dir / "test.tsv"
    return held_out if held_out.is_file() else recipe.data.test


def evaluate(
    loaded: Loaded,
    source: Any,
    references: str | Path | None = None,
    beam: int = 5,
    length_penalty: float = 1.0,
) -> dict[str, Any]:
    """BLEU and chrF of beam search, token accuracy and perplexity on pairs: a TSV,
    {source:, target:} files, or a source file and its `references`."""
    if references is not None:
        source = {"source": str(source), "target": str(references)}
    # valid.tsv / test.tsv written by the run itself are already in the trained direction
    run_split = not isinstance(source, dict) and (
        Path(source).resolve().parent == loaded.path.resolve().parent
        and Path(source).name in ("valid.tsv", "test.tsv")
    )
    pairs = read_eval_pairs(source, loaded.recipe.data, as_trained=run_split)
    codec = Codec(loaded.state)
    return evaluate_pairs(loaded.model, codec, pairs, beam, length_penalty)  # type: ignore[arg-type]


def report(metrics: dict[str, Any], source: Any) -> list[Report]:
    table = metric_table(name, source, metrics)
    if "bleu_signature" in metrics:
        table.notes.append(f"sacrebleu {metrics['bleu_signature']}, beam {metrics['beam']}")
    return [table]


def describe(state: TaskData) -> dict[str, Any]:
    source = len(state.source.vocab)
    target = source if state.target is None else len(state.target.vocab)
    return {
        "vocab_size": {"source": source, "target": target},
        "tokenizer": state.source.tokenizer.to_json(),
        "train_pairs": state.train_pairs,
    }
