"""Vocabularies and tokenizers (character, word, subword), serialisable as plain JSON."""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable
from typing import Any

from rnncli.errors import CheckpointError, DataError, RecipeError

UNK = "<unk>"
# Hard limits of a learned vocabulary. Vocabularies travel as JSON inside the checkpoint's
# header (which loading refuses past 100 MB), and every token costs a row of the embedding
# and output layers: past these limits a recipe wants data.max_size or data.min_freq.
MAX_VOCAB = 1_000_000  # tokens
MAX_VOCAB_BYTES = 32 << 20  # bytes of the tokens as stored (JSON, escaped once more)
VOCAB_HINT = "set data.max_size (e.g. 50000) or raise data.min_freq"
WORD_PATTERN = r"\n|\w+(?:'\w+)*|[^\w\s]"
_NO_SPACE_BEFORE = set(".,;:!?)]}'\n")
_NO_SPACE_AFTER = set("([{\n")


class Vocab:
    """Token <-> id table. Id 0 is always `<unk>`."""

    def __init__(self, tokens: list[str]) -> None:
        if not tokens or tokens[0] != UNK:
            raise ValueError("a vocabulary starts with <unk>")
        if len(set(tokens)) != len(tokens):
            raise ValueError("a vocabulary has no duplicate tokens")
        self.tokens = tokens
        self.index = {tok: i for i, tok in enumerate(tokens)}

    def __len__(self) -> int:
        return len(self.tokens)

    @classmethod
    def from_counts(
        cls,
        counts: Counter[str],
        min_freq: int = 1,
        max_size: int | None = None,
        hint: str = VOCAB_HINT,
    ) -> Vocab:
        """Most frequent first (ties broken by the token), `<unk>` first of all.

        A vocabulary over MAX_VOCAB tokens or MAX_VOCAB_BYTES stored is a DataError that
        says `hint` (how to make it smaller).
        """
        kept = [(t, n) for t, n in counts.items() if n >= min_freq and t != UNK]
        if max_size is not None and len(kept) > max_size - 1:
            kept.sort(key=lambda tn: (-tn[1], tn[0]))
            kept = kept[: max_size - 1]
        if len(kept) + 1 > MAX_VOCAB:
            raise DataError(
                f"the vocabulary would hold {len(kept) + 1:,} tokens, more than the limit "
                f"of {MAX_VOCAB:,}: {hint}"
            )
        kept.sort(key=lambda tn: (-tn[1], tn[0]))
        tokens = [UNK] + [t for t, _ in kept]
        stored = len(json.dumps(json.dumps(tokens)))
        if stored > MAX_VOCAB_BYTES:
            raise DataError(
                f"the vocabulary's tokens take {stored:,} bytes, more than the limit of "
                f"{MAX_VOCAB_BYTES:,} (very long tokens?): {hint}"
            )
        return cls(tokens)


class Tokenizer:
    """Splits text into tokens and joins tokens back into text.

    kinds: `char` (code points), `word` (a regex, WORD_PATTERN unless `pattern` says) and
    `subword` (a BPE or unigram model trained with the optional `tokenizers` package;
    its JSON travels inside the checkpoint, loading it runs no code).
    """

    def __init__(
        self,
        kind: str,
        lowercase: bool = False,
        pattern: str | None = None,
        subword: str | None = None,
    ) -> None:
        if kind not in ("char", "word", "subword"):
            raise ValueError(f"unknown tokenizer {kind!r}")
        if kind == "subword" and subword is None:
            raise ValueError("a subword tokenizer needs its trained model (Tokenizer.train)")
        self.kind = kind
        self.lowercase = lowercase
        self.pattern = pattern
        self._word = re.compile(pattern or WORD_PATTERN)
        self._subword_json = subword
        self._hf = _hf_from_json(subword) if subword is not None else None

    @classmethod
    def train(
        cls,
        texts: Iterable[str],
        model: str = "bpe",
        vocab_size: int = 8000,
        lowercase: bool = False,
    ) -> Tokenizer:
        """A subword tokenizer (`bpe` or `unigram`) learned from `texts`."""
        if vocab_size > MAX_VOCAB:
            raise DataError(
                f"a subword vocabulary of {vocab_size:,} is over the limit of {MAX_VOCAB:,}: "
                "lower the subword vocabulary size"
            )
        tk = _tokenizers()
        if model == "bpe":
            hf = tk.Tokenizer(tk.models.BPE(unk_token=UNK))
            trainer: Any = tk.trainers.BpeTrainer(
                vocab_size=vocab_size, special_tokens=[UNK], show_progress=False
            )
        elif model == "unigram":
            hf = tk.Tokenizer(tk.models.Unigram())
            trainer = tk.trainers.UnigramTrainer(
                vocab_size=vocab_size, special_tokens=[UNK], unk_token=UNK, show_progress=False
            )
        else:
            raise ValueError(f"unknown subword model {model!r}")
        hf.pre_tokenizer = tk.pre_tokenizers.Metaspace()
        hf.decoder = tk.decoders.Metaspace()
        lower = str.lower if lowercase else (lambda t: t)
        hf.train_from_iterator((lower(t) for t in texts), trainer=trainer)
        stored = hf.to_str()
        if len(stored) > MAX_VOCAB_BYTES:
            raise DataError(
                f"the trained subword model takes {len(stored):,} bytes, more than the limit "
                f"of {MAX_VOCAB_BYTES:,}: lower the subword vocabulary size"
            )
        return cls("subword", lowercase, subword=stored)

    def split(self, text: str) -> list[str]:
        if self.lowercase:
            text = text.lower()
        if self.kind == "char":
            return list(text)
        if self._hf is not None:
            return list(self._hf.encode(text, add_special_tokens=False).tokens)
        return self._word.findall(text)

    def split_many(self, texts: list[str]) -> list[list[str]]:
        """`split` over many texts (subword models encode them in one native batch)."""
        if self._hf is None:
            return [self.split(t) for t in texts]
        if self.lowercase:
            texts = [t.lower() for t in texts]
        return [list(e.tokens) for e in self._hf.encode_batch(texts, add_special_tokens=False)]

    def piece(self, prev: str | None, token: str) -> str:
        """The text `token` adds after `prev` (words get a space unless punctuation says not)."""
        if self.kind == "char":
            return token
        if self.kind == "subword":
            text = token.replace(METASPACE, " ")
            return text.lstrip(" ") if prev is None else text
        if prev is None:
            return token
        if token[0] in _NO_SPACE_BEFORE or prev[-1] in _NO_SPACE_AFTER:
            return token
        return " " + token

    def join(self, tokens: Iterable[str]) -> str:
        out: list[str] = []
        prev = None
        for tok in tokens:
            out.append(self.piece(prev, tok))
            prev = tok
        return "".join(out)

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"kind": self.kind, "lowercase": self.lowercase}
        if self.pattern is not None:
            data["pattern"] = self.pattern
        if self._subword_json is not None:
            data["subword"] = self._subword_json
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Tokenizer:
        return cls(
            str(data["kind"]),
            bool(data.get("lowercase", False)),
            data.get("pattern"),
            data.get("subword"),
        )


METASPACE = "\u2581"


def _tokenizers() -> Any:
    try:
        import tokenizers
    except ImportError:
        raise RecipeError(
            "the subword tokenizer needs the optional package 'tokenizers': "
            "pip install 'rnncli[subword]'"
        ) from None
    return tokenizers


def _hf_from_json(text: str) -> Any:
    try:
        return _tokenizers().Tokenizer.from_str(text)
    except Exception as exc:  # the native parser raises its own exception type
        raise CheckpointError(f"the stored subword tokenizer does not load: {exc}") from None
