"""Task `tag`: many-to-many sequence labelling, one tag per token.

Sentences come from CoNLL column files or JSONL (`data/tagging.py` reads them, checks
and converts tag schemes and scores entities as conlleval does). The model predicts in
its own scheme (`model.scheme`, IOBES or the data's); everything a user sees (tags
written, entities, evaluation) is in the data's scheme. Prediction streams: lines (raw
text, tokenised with character offsets) or CoNLL sentences are read a few batches at a
time, sorted by length, tagged and written back in input order.
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from pydantic import Field, model_validator
from torch import Tensor, nn

from rnncli.data.batching import bucketed, by_length, chunks
from rnncli.data.tagging import (
    Sentence,
    allowed_transitions,
    check_tags,
    entity_types,
    evaluate_tags,
    read_tagged,
    spans,
    split_prefix,
    split_prefixes,
    to_scheme,
    well_formed,
)
from rnncli.data.text import read_lines
from rnncli.data.vectors import init_embedding
from rnncli.data.vocab import Vocab
from rnncli.errors import DataError
from rnncli.models.tagger import Tagger, TaggerEnsemble, char_kinds
from rnncli.tasks import Loaded, Report, metric_table
from rnncli.tasks.tag.schema import TAG_PATTERN, TagData, TagModel, TagRecipe, TrainFile
from rnncli.tasks.task_data import StoredData, TokenPattern, Unique, Vocabulary
from rnncli.training.checkpoint import check_header_room
from rnncli.training.trainer import TrainPlan

log = logging.getLogger("rnncli")
name = "tag"
Scheme = Literal["iob1", "iob2", "iobes", "none"]
# (word ids (n,), character ids (n, letters) with 0 as padding, letters per word (n,),
# gazetteer flags (n, lists))
Encoded = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]


class TaskData(StoredData):
    """`task_data` of a tagger checkpoint (checked on load, before the Codec)."""

    vocab: Vocabulary  # words (lower-cased when `lowercase`)
    chars: Vocabulary  # characters, case kept
    tags: Unique = Field(min_length=1)  # the model's outputs, in `scheme`
    scheme: Scheme
    data_scheme: Scheme  # what users read and write
    lowercase: bool = True
    token_pattern: TokenPattern | None = None
    split_prefixes: str = ""  # symbols split off the front of a token (data.split_prefixes)
    max_word_length: int = Field(24, ge=1)
    # data.gazetteers: name -> entries, each its tokens lower-cased and joined by a space
    gazetteers: dict[str, Unique] = Field(default_factory=dict)
    train_sentences: int | None = Field(None, ge=0)
    train_tokens: int | None = Field(None, ge=0)

    @model_validator(mode="after")
    def _schemes(self) -> TaskData:
        if (self.scheme == "none") != (self.data_scheme == "none"):
            raise ValueError("scheme: plain tags and an entity scheme do not mix")
        bad = [t for t in self.tags if not well_formed(t, "iobes")]  # iobes: any prefix
        if self.scheme != "none" and bad:
            raise ValueError(f"tags: {bad[0]!r} is not O or B-/I-/E-/S-TYPE")
        return self

    def weight_rows(self) -> dict[str, tuple[str, int]]:
        return {
            "embedding.weight": ("vocab", len(self.vocab)),
            "head.weight": ("tags", len(self.tags)),
        }


@dataclass
class Entity:
    type: str
    start: int  # first token
    end: int  # one past the last token
    text: str
    confidence: float  # mean probability of its tokens' tags
    char_start: int | None = None  # in the input line (raw text input only)
    char_end: int | None = None


@dataclass
class Tagged:
    """One input line (or CoNLL sentence) tagged: tokens, tags (data scheme), entities."""

    text: str | None  # the raw line; None for CoNLL input
    tokens: list[str]
    tags: list[str]
    confidence: list[float]  # probability of each token's tag (empty unless asked)
    entities: list[Entity]
    offsets: list[tuple[int, int]] | None = None


class Codec:
    """Words, characters and tags <-> ids; raw text -> tokens with character offsets."""

    def __init__(self, state: TaskData) -> None:
        self.vocab = Vocab(list(state.vocab))
        self.chars = {c: i + 1 for i, c in enumerate(state.chars)}  # 0 pads, 1 is <unk>
        self.tags: list[str] = list(state.tags)
        self.tag_index = {t: i for i, t in enumerate(self.tags)}
        self.scheme: str = state.scheme
        self.data_scheme: str = state.data_scheme
        self.lowercase = state.lowercase
        self.pattern = re.compile(state.token_pattern or TAG_PATTERN)
        self.split_prefixes = state.split_prefixes
        self.max_word_length = state.max_word_length
        self.types = set(entity_types(self.tags))
        # entry (lower-cased tokens joined by a space) -> the lists it is in, as bits
        self.lexicon: dict[str, int] = {}
        for bit, entries in enumerate(state.gazetteers.values()):
            for entry in entries:
                self.lexicon[entry] = self.lexicon.get(entry, 0) | (1 << bit)
        self.lists = len(state.gazetteers)
        self.longest = max((e.count(" ") + 1 for e in self.lexicon), default=0)

    def tokenize(self, text: str) -> tuple[list[str], list[tuple[int, int]]]:
        if not self.split_prefixes:
            found = [m for m in self.pattern.finditer(text) if m.end() > m.start()]
            return [m.group() for m in found], [(m.start(), m.end()) for m in found]
        tokens, offsets = [], []
        for m in self.pattern.finditer(text):
            start = m.start()
            for piece in split_prefix(m.group(), self.split_prefixes) if m.end() > start else []:
                tokens.append(piece)
                offsets.append((start, start + len(piece)))
                start += len(piece)
        return tokens, offsets

    def encode(self, tokens: list[str]) -> Encoded:
        index, chars, cap = self.vocab.index, self.chars, self.max_word_length
        words = [index.get(t.lower() if self.lowercase else t, 0) for t in tokens]
        width = max(1, min(cap, max((len(t) for t in tokens), default=1)))
        letters = np.zeros((len(tokens), width), dtype=np.int64)
        sizes = np.zeros(len(tokens), dtype=np.int64)
        for i, token in enumerate(tokens):
            ids = [chars.get(c, 1) for c in token[:cap]]
            letters[i, : len(ids)] = ids
            sizes[i] = len(ids)
        return np.asarray(words, dtype=np.int64), letters, sizes, self.flags(tokens)

    def flags(self, tokens: list[str]) -> np.ndarray:
        """(tokens, lists) of 0/1: the token is inside an entry of that list found here."""
        out = np.zeros((len(tokens), self.lists), dtype=np.float32)
        if not self.lists:
            return out
        low, lexicon = [t.lower() for t in tokens], self.lexicon
        for i in range(len(low)):
            key = ""
            for j in range(i, min(len(low), i + self.longest)):
                key = low[j] if j == i else f"{key} {low[j]}"
                bits = lexicon.get(key, 0)
                if bits:
                    for b in range(self.lists):
                        if bits >> b & 1:
                            out[i : j + 1, b] = 1.0
        return out

    def tag_ids(self, sentence: Sentence, where: str) -> np.ndarray:
        """Gold tags (data scheme) -> the model's ids; an unknown tag is a DataError."""
        tags = sentence.tags
        for i, tag in enumerate(tags):
            if tag not in self.tag_index and not self._known(tag):
                known = ", ".join(sorted(self.types) if self.types else self.tags)
                what = "entity types" if self.types else "tags"
                line = sentence.line + i if sentence.per_token else sentence.line
                raise DataError(
                    f"tag {tag!r} was not seen in training ({where}, line {line}): "
                    f"the model's {what} are {known}"
                )
        if self.scheme != self.data_scheme:
            tags = to_scheme(tags, self.data_scheme, self.scheme)
        return np.asarray([self.tag_index.get(t, 0) for t in tags], dtype=np.int64)

    def _known(self, tag: str) -> bool:
        """A tag of the data's scheme whose entity type the model knows (I-X after B-X)."""
        if self.data_scheme == "none" or not well_formed(tag, self.data_scheme):
            return False
        return tag == "O" or tag.partition("-")[2] in self.types

    def user_tags(self, ids: Iterable[int]) -> list[str]:
        """Model ids -> tags in the data's scheme."""
        tags = [self.tags[i] for i in ids]
        return (
            tags
            if self.scheme == self.data_scheme
            else to_scheme(tags, self.scheme, self.data_scheme)
        )


def make_batch(items: list[Encoded]) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
    """Encoded sentences -> tokens (batch, time), lengths, chars (batch, time, letters),
    letters per token (batch, time), gazetteer flags (batch, time, lists); 0 pads all."""
    n = len(items)
    time = max(len(item[0]) for item in items)
    width = max(item[1].shape[1] for item in items)
    tokens = np.zeros((n, time), dtype=np.int64)
    chars = np.zeros((n, time, width), dtype=np.int64)
    sizes = np.zeros((n, time), dtype=np.int64)
    lengths = np.zeros(n, dtype=np.int64)
    flags = np.zeros((n, time, items[0][3].shape[1]), dtype=np.float32)
    for b, (words, letters, size, flag) in enumerate(items):
        k = len(words)
        tokens[b, :k], sizes[b, :k], lengths[b], flags[b, :k] = words, size, k, flag
        chars[b, :k, : letters.shape[1]] = letters
    return tuple(torch.from_numpy(a) for a in (tokens, lengths, chars, sizes, flags))  # type: ignore[return-value]


def pad_tags(tags: list[np.ndarray], time: int) -> Tensor:
    out = np.zeros((len(tags), time), dtype=np.int64)
    for b, t in enumerate(tags):
        out[b, : len(t)] = t
    return torch.from_numpy(out)


def mask_of(lengths: Tensor, time: int, device: torch.device) -> Tensor:
    return torch.arange(time, device=device)[None, :] < lengths.to(device)[:, None]


def build_model(model: TagModel, state: TaskData) -> Tagger | TaggerEnsemble:
    if model.ensemble > 1:
        return TaggerEnsemble([_tagger(model, state) for _ in range(model.ensemble)])
    return _tagger(model, state)


def _tagger(model: TagModel, state: TaskData) -> Tagger:
    return Tagger(
        vocab_size=len(state.vocab),
        num_chars=len(state.chars) + 1,
        num_tags=len(state.tags),
        embedding_dim=model.embedding_dim,
        hidden_size=model.hidden_size,
        num_layers=model.num_layers,
        cell=model.cell,
        nonlinearity=model.nonlinearity,
        dropout=model.dropout,
        bidirectional=model.bidirectional,
        learn_initial_state=model.learn_initial_state,
        char_features=model.char_features,
        char_dim=model.char_dim,
        char_hidden=model.char_hidden,
        crf=model.crf,
        allowed=allowed_transitions(list(state.tags), state.scheme),
        word_dropout=model.word_dropout,
        case_kinds=char_kinds(list(state.chars)) if model.case_features else None,
        gazetteers=len(state.gazetteers),
    )


def read_sentences(path: str | Path, d: TagData) -> list[Sentence]:
    """Tagged sentences of a file, read as the recipe's data section says."""
    return read_tagged(Path(path), d.format, d.tag_column, d.encoding)


def checked_sentences(path: str, d: TagData) -> list[Sentence]:
    """Sentences whose tags are valid in the data's scheme (or repaired, if asked), with
    `data.split_prefixes` applied after the check (so its errors name file lines)."""
    sentences, repaired = check_tags(read_sentences(path, d), d.scheme, path, d.repair)
    if repaired:
        log.warning(
            "%s: %d sentence(s) had invalid %s tags and were repaired", path, repaired, d.scheme
        )
    return split_all(sentences, d.split_prefixes, d.scheme)


def split_all(sentences: list[Sentence], prefixes: str, scheme: str) -> list[Sentence]:
    """`split_prefixes` on every sentence (none when `prefixes` is empty)."""
    return [split_prefixes(s, prefixes, scheme) for s in sentences] if prefixes else sentences


def make_state(recipe: TagRecipe, train: list[Sentence]) -> TaskData:
    """Word and character vocabularies and the tag inventory, from training data only."""
    d = recipe.data
    words = Counter(t.lower() if d.lowercase else t for s in train for t in s.tokens)
    chars = Counter(c for s in train for t in s.tokens for c in t[: d.max_word_length])
    scheme = recipe.model_scheme
    tags = Counter(
        t
        for s in train
        for t in (s.tags if scheme == d.scheme else to_scheme(s.tags, d.scheme, scheme))
    )
    if len(tags) < 2:
        raise DataError(
            f"{', '.join(d.train_files)} has one tag only ({next(iter(tags))!r}): nothing to learn"
        )
    order = sorted(tags, key=lambda t: (t != "O", t[2:] if scheme != "none" else t, t))
    state = TaskData.from_json(
        {
            "vocab": Vocab.from_counts(words, d.min_freq, d.max_size).tokens,
            "chars": Vocab.from_counts(chars).tokens,
            "tags": order,
            "scheme": scheme,
            "data_scheme": d.scheme,
            "lowercase": d.lowercase,
            "token_pattern": d.token_pattern,
            "split_prefixes": d.split_prefixes,
            "max_word_length": d.max_word_length,
        }
    )
    if not d.gazetteers:
        return state
    codec = Codec(state)  # entries are read as the tagger reads text
    lists = {name: read_gazetteer(Path(path), codec) for name, path in d.gazetteers.items()}
    return TaskData.from_json({**state.to_json(), "gazetteers": lists})


def read_gazetteer(path: Path, codec: Codec) -> list[str]:
    """A word list's entries, tokenised as raw text is, lower-cased, unique and sorted."""
    entries = set()
    for line in read_lines(path):
        text = line.strip()
        if text and not text.startswith("#"):
            tokens = codec.tokenize(text)[0]
            if tokens:
                entries.add(" ".join(t.lower() for t in tokens))
    if not entries:
        raise DataError(f"{path} has no entries (one per line; '#' starts a comment)")
    return sorted(entries)


def encode_sentences(
    codec: Codec, sentences: list[Sentence], where: str
) -> tuple[list[Encoded], list[np.ndarray]]:
    xs = [codec.encode(s.tokens) for s in sentences]
    ys = [codec.tag_ids(s, where) for s in sentences]
    return xs, ys


def _split(n: int, fraction: float, seed: int) -> tuple[list[int], list[int]]:
    perm = np.random.default_rng(seed).permutation(n)
    cut = round(n * fraction)
    return sorted(perm[cut:].tolist()), sorted(perm[:cut].tolist())


def held_out(
    parts: list[TrainFile], sizes: list[int], fraction: float, seed: int
) -> tuple[list[int], list[int]]:
    """Training and held-out indices into the files' sentences, concatenated: one seeded
    split of the pool, or, when a file sets its own valid_fraction, one per file."""
    if all(part.valid_fraction is None for part in parts):
        return _split(sum(sizes), fraction, seed)
    train, valid, start = [], [], 0
    for part, n in zip(parts, sizes, strict=True):
        share = fraction if part.valid_fraction is None else part.valid_fraction
        tr, va = _split(n, share, seed)
        train += [start + i for i in tr]
        valid += [start + i for i in va]
        start += n
    return train, valid


def prepare(recipe: TagRecipe, run_dir: Path, state: TaskData | None) -> TrainPlan:
    d, t = recipe.data, recipe.training
    parts = d.train_parts
    read = [checked_sentences(part.file, d) for part in parts]
    sentences = [s for part in read for s in part]
    copies = [part.repeat for part, got in zip(parts, read, strict=True) for _ in got]
    if d.valid:
        train_idx, valid = list(range(len(sentences))), checked_sentences(d.valid, d)
    else:
        train_idx, va = held_out(parts, [len(r) for r in read], d.valid_fraction, t.rng_seed)
        valid = [sentences[i] for i in va]
    # a repeated file's held-out sentences were taken above, once: no copy in both parts
    unique = [sentences[i] for i in train_idx]
    train = [sentences[i] for i in train_idx for _ in range(copies[i])]
    if not valid:
        raise DataError("no validation sentences: set data.valid or raise data.valid_fraction")
    fresh = state is None
    if state is None:
        state = make_state(recipe, unique)  # a repeated word is still seen once
        check_header_room(state.to_json(), run_dir)
    codec = Codec(state)
    where = ", ".join(d.train_files)
    train_x, train_y = encode_sentences(codec, train, where)
    valid_x, valid_y = encode_sentences(codec, valid, d.valid or where)
    gold = [s.tags for s in valid]
    torch.manual_seed(t.rng_seed)
    model = build_model(recipe.model, state)
    if fresh and recipe.model.pretrained_vectors:
        init_embeddings(model, codec, recipe.model)
    if recipe.model.freeze_embeddings:
        for embedding in model.embeddings:
            embedding.weight.requires_grad_(False)

    def batches(epoch: int, start: int = 0) -> Iterator[tuple[Tensor, ...]]:
        order = bucketed(train_y, t.batch_size, t.rng_seed, epoch)  # type: ignore[arg-type]
        for i, idx in enumerate(order):
            if i >= start:
                tokens, lens, chars, sizes, flags = make_batch([train_x[j] for j in idx])
                yield (
                    tokens,
                    lens,
                    chars,
                    sizes,
                    flags,
                    pad_tags([train_y[j] for j in idx], tokens.shape[1]),
                )

    n_batches = (len(train_x) + t.batch_size - 1) // t.batch_size

    def loss(model: nn.Module, batch: Any, carry: Any) -> tuple[Tensor, int, Any]:
        tokens, lens, chars, sizes, flags, tags = batch
        scores = model(tokens, lens, chars, sizes, flags)
        mask = mask_of(lens, tokens.shape[1], tokens.device)
        return model.loss(scores, tags, mask), int(lens.sum()), None  # type: ignore[operator]

    def evaluate(model: nn.Module) -> dict[str, float]:
        m = score(model, codec, valid_x, valid_y, gold, t.batch_size * 2)
        return {
            "valid_loss": m["loss"],
            "valid_accuracy": m["accuracy"],
            **({"valid_f1": m["f1"]} if "f1" in m else {}),
        }

    tokens = sum(len(s.tokens) for s in unique)
    meta = {**state.to_json(), "train_sentences": len(unique), "train_tokens": tokens}
    return TrainPlan(
        model=model,
        batches=batches,
        num_batches=lambda epoch: n_batches,
        loss=loss,
        evaluate=evaluate,
        meta=meta,
        monitor=t.monitor,
        higher_is_better=t.monitor != "valid_loss",
        unit="tok",
    )


def init_embeddings(model: Tagger | TaggerEnsemble, codec: Codec, section: TagModel) -> None:
    """Copy the vocabulary's rows of a local GloVe/word2vec file into the word embeddings."""
    assert section.pretrained_vectors is not None
    path = Path(section.pretrained_vectors)
    first, *others = model.embeddings
    init_embedding(first.weight, path, codec.vocab.index, codec.lowercase)
    with torch.no_grad():  # an ensemble reads the file once
        for embedding in others:
            embedding.weight.copy_(first.weight)


def _scored(
    model: nn.Module, items: list[Encoded], batch_size: int
) -> Iterator[tuple[np.ndarray, Tensor, Tensor, Tensor]]:
    """(positions, tag scores, mask, lengths) of length-sorted batches of `items`."""
    device = next(model.parameters()).device
    for idx in by_length([len(item[0]) for item in items], batch_size):
        tokens, lens, chars, sizes, flags = (
            x.to(device) for x in make_batch([items[i] for i in idx])
        )
        mask = mask_of(lens, tokens.shape[1], device)
        yield idx, model(tokens, lens, chars, sizes, flags), mask, lens


def predict(
    model: nn.Module, items: list[Encoded], batch_size: int, confidence: bool = False
) -> list[tuple[np.ndarray, np.ndarray | None]]:
    """(tag ids, probability of each chosen tag or None) per sentence, in input order."""
    out: list[tuple[np.ndarray, np.ndarray | None]] = [(np.zeros(0, np.int64), None)] * len(items)
    with torch.inference_mode():
        for idx, scores, mask, _ in _scored(model, items, batch_size):
            best, probs = model.decode(scores, mask, confidence)  # type: ignore[operator]
            chosen = probs.gather(-1, best[..., None])[..., 0].cpu().numpy() if confidence else None
            best = best.cpu().numpy()
            for row, i in enumerate(idx.tolist()):
                n = len(items[i][0])
                out[i] = (best[row, :n], None if chosen is None else chosen[row, :n])
    return out


def score(
    model: nn.Module,
    codec: Codec,
    xs: list[Encoded],
    ys: list[np.ndarray],
    gold: list[list[str]],
    batch_size: int,
) -> dict[str, Any]:
    """Mean loss per token, token accuracy and (entity schemes) entity P/R/F1 per type,
    from one forward pass per batch (the loss and the decoding share its scores)."""
    total, tokens_seen = 0.0, 0
    pred: list[list[str]] = [[] for _ in xs]
    with torch.inference_mode():
        for idx, scores, mask, lens in _scored(model, xs, batch_size):
            tags = pad_tags([ys[i] for i in idx], mask.shape[1]).to(mask.device)
            n = int(lens.sum())
            total += float(model.loss(scores, tags, mask)) * n  # type: ignore[operator]
            tokens_seen += n
            best = model.decode(scores, mask, False)[0].cpu().numpy()  # type: ignore[operator]
            for row, i in enumerate(idx.tolist()):
                pred[i] = codec.user_tags(best[row, : len(xs[i][0])].tolist())
    metrics = evaluate_tags(gold, pred, codec.data_scheme)
    return {"loss": total / max(tokens_seen, 1), **metrics}


def _entities(
    tokens: list[str],
    tags: list[str],
    probs: np.ndarray | None,
    scheme: str,
    text: str | None,
    offsets: list[tuple[int, int]] | None,
) -> list[Entity]:
    out = []
    for kind, start, end in spans(tags, scheme):
        conf = float(probs[start:end].mean()) if probs is not None else float("nan")
        if text is not None and offsets is not None:
            a, b = offsets[start][0], offsets[end - 1][1]
            out.append(Entity(kind, start, end, text[a:b], conf, a, b))
        else:
            out.append(Entity(kind, start, end, " ".join(tokens[start:end]), conf))
    return out


def tag_tokens(
    model: nn.Module,
    codec: Codec,
    sentences: list[list[str]],
    batch_size: int,
    confidence: bool = False,
    texts: list[str | None] | None = None,
    offsets: list[list[tuple[int, int]]] | None = None,
) -> list[Tagged]:
    """Tag tokenised sentences (an empty one gets no tags)."""
    full = [i for i, s in enumerate(sentences) if s]
    results = iter(
        predict(model, [codec.encode(sentences[i]) for i in full], batch_size, confidence)
    )
    out = []
    for i, tokens in enumerate(sentences):
        text = texts[i] if texts is not None else None
        where = offsets[i] if offsets is not None else None
        if not tokens:
            out.append(Tagged(text, [], [], [], [], where))
            continue
        ids, probs = next(results)
        tags = codec.user_tags(ids.tolist())
        entities = _entities(tokens, tags, probs, codec.data_scheme, text, where)
        conf = probs.tolist() if probs is not None else []
        out.append(Tagged(text, tokens, tags, conf, entities, where))
    return out


def tag_lines(
    model: nn.Module,
    codec: Codec,
    lines: Iterable[str],
    batch_size: int = 64,
    confidence: bool = False,
) -> Iterator[Tagged]:
    """Each line of raw text tagged, in input order, streamed a few batches at a time."""
    for chunk in chunks(lines, batch_size * 4):
        split = [codec.tokenize(line) for line in chunk]
        tokens = [s[0] for s in split]
        yield from tag_tokens(
            model, codec, tokens, batch_size, confidence, list(chunk), [s[1] for s in split]
        )


def tag_sentences(
    model: nn.Module,
    codec: Codec,
    sentences: Iterable[list[str]],
    batch_size: int = 64,
    confidence: bool = False,
) -> Iterator[Tagged]:
    """Each pre-tokenised sentence tagged, in input order, streamed."""
    for chunk in chunks(sentences, batch_size * 4):
        yield from tag_tokens(model, codec, chunk, batch_size, confidence)


# ------------------------------------------------------------------ the Task protocol
evaluate_options: frozenset[str] = frozenset()
main_metric: tuple[str, ...] = ("valid_f1", "valid_accuracy", "valid_loss")


def test_source(recipe: TagRecipe, state: TaskData, run_dir: Path) -> Any:
    return recipe.data.test


def evaluate(loaded: Loaded, source: Any) -> dict[str, Any]:
    d: TagData = loaded.recipe.data
    codec = Codec(loaded.state)
    sentences = split_all(read_sentences(Path(source), d), codec.split_prefixes, d.scheme)
    xs, ys = encode_sentences(codec, sentences, str(source))
    metrics = score(loaded.model, codec, xs, ys, [s.tags for s in sentences], 128)
    metrics["sentences"] = len(sentences)
    metrics["tokens"] = sum(len(s.tokens) for s in sentences)
    return metrics


def report(metrics: dict[str, Any], source: Any) -> list[Report]:
    """The metrics, then precision/recall/F1 per entity type and the type confusion."""
    tables = [metric_table(name, source, metrics)]
    per_type = metrics.get("per_type")
    if per_type:
        rows = [
            [
                kind,
                *(f"{row[k]:.4f}" for k in ("precision", "recall", "f1")),
                str(row["support"]),
                str(row["predicted"]),
            ]
            for kind, row in per_type.items()
        ]
        columns = ["type", "precision", "recall", "f1", "gold", "predicted"]
        tables.append(Report("per entity type (exact spans, as conlleval)", columns, rows))
    confusion = metrics.get("confusion")
    if confusion:
        labels = confusion["labels"]
        rows = [
            [label, *map(str, row)] for label, row in zip(labels, confusion["rows"], strict=True)
        ]
        tables.append(
            Report(
                "entity types (rows: gold, columns: predicted; same span)",
                ["", *labels],
                rows,
                ["(none): no entity with that exact span on the other side"],
            )
        )
    return tables


def describe(state: TaskData) -> dict[str, Any]:
    tokenizer = {"kind": "word", "lowercase": state.lowercase}
    if state.token_pattern:
        tokenizer["pattern"] = state.token_pattern
    if state.split_prefixes:
        tokenizer["split_prefixes"] = state.split_prefixes
    return {
        "vocab_size": len(state.vocab),
        "tokenizer": tokenizer,
        "train_tokens": state.train_tokens,
    }
