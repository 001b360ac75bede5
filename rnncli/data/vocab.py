"""Vocabularies and tokenizers (character and word), serialisable as plain JSON."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from typing import Any

UNK = "<unk>"
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
        cls, counts: Counter[str], min_freq: int = 1, max_size: int | None = None
    ) -> Vocab:
        """Most frequent first (ties broken by the token), `<unk>` first of all."""
        kept = [(t, n) for t, n in counts.items() if n >= min_freq and t != UNK]
        kept.sort(key=lambda tn: (-tn[1], tn[0]))
        if max_size is not None:
            kept = kept[: max_size - 1]
        return cls([UNK] + [t for t, _ in kept])


class Tokenizer:
    """Splits text into tokens and joins tokens back into text."""

    def __init__(self, kind: str, lowercase: bool = False) -> None:
        if kind not in ("char", "word"):
            raise ValueError(f"unknown tokenizer {kind!r}")
        self.kind = kind
        self.lowercase = lowercase
        self._word = re.compile(WORD_PATTERN)

    def split(self, text: str) -> list[str]:
        if self.lowercase:
            text = text.lower()
        return list(text) if self.kind == "char" else self._word.findall(text)

    def piece(self, prev: str | None, token: str) -> str:
        """The text `token` adds after `prev` (words get a space unless punctuation says not)."""
        if self.kind == "char" or prev is None:
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
        return {"kind": self.kind, "lowercase": self.lowercase}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Tokenizer:
        return cls(str(data["kind"]), bool(data.get("lowercase", False)))
