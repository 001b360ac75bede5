"""Many-to-many: one tag per token (named entities, parts of speech).

Each token is its word embedding joined with character features (a char CNN or char
BiLSTM over the token's characters, case kept, so unseen words and capitalisation still
tell something) and, with gazetteers, one 0/1 flag per word list (the token lies inside
an entry found in the sentence), read by a (bidirectional) recurrent stack over packed
sequences, and scored per tag by a linear layer. The output layer is a linear-chain CRF
(`crf=True`) or per-token softmax; both decode with Viterbi under the tag scheme's allowed
moves (a softmax model through a CRF whose scores are all zero), so neither emits an
invalid sequence such as `O I-person` in IOB2.

Padding never changes a token's result: packed sequences for the words, a zero padding
character (zeros, as the convolution's own padding) and masked pooling for the
characters, masked CRF recursions.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from rnncli.models.crf import CRF, stacked_nll
from rnncli.models.recurrent import RecurrentStack

CHAR_FEATURES = ("cnn", "lstm", "none")
Allowed = tuple[list[bool], list[list[bool]], list[bool]]


class CharCNN(nn.Module):
    """Characters of a word -> one vector: convolution, then max over the word's length."""

    def __init__(self, num_chars: int, char_dim: int, filters: int, kernel: int = 3) -> None:
        super().__init__()
        self.embedding = nn.Embedding(num_chars, char_dim, padding_idx=0)
        self.conv = nn.Conv1d(char_dim, filters, kernel, padding=kernel // 2)
        self.output_size = filters

    def forward(self, chars: Tensor, lengths: Tensor) -> Tensor:
        """chars (words, length) with 0 as padding, lengths (words,) -> (words, filters)."""
        pad = torch.arange(chars.shape[1], device=chars.device)[None, :] >= lengths[:, None]
        # id 0 (padding) reads a zero row whatever the stored one holds: zeros, as conv pads
        weight = self.embedding.weight.index_fill(0, chars.new_zeros(1), 0.0)
        x = self.conv(F.embedding(chars, weight).transpose(1, 2))  # (words, filters, length)
        return x.masked_fill(pad[:, None, :], float("-inf")).amax(dim=2)


class CharLSTM(nn.Module):
    """Characters of a word -> the final states of a BiLSTM over them (Lample et al.)."""

    def __init__(self, num_chars: int, char_dim: int, hidden: int) -> None:
        super().__init__()
        self.embedding = nn.Embedding(num_chars, char_dim, padding_idx=0)
        self.rnn = nn.LSTM(char_dim, hidden, batch_first=True, bidirectional=True)
        self.output_size = 2 * hidden

    def forward(self, chars: Tensor, lengths: Tensor) -> Tensor:
        packed = pack_padded_sequence(
            self.embedding(chars), lengths.cpu(), batch_first=True, enforce_sorted=False
        )
        _, (h, _) = self.rnn(packed)
        return torch.cat([h[0], h[1]], dim=-1)


CASE_FEATURES = 7  # what `case_features` tells about each word (see `word_case`)
_UPPER, _LOWER, _DIGIT = 1, 2, 3


def char_kinds(chars: list[str]) -> list[int]:
    """The kind of each character id (id 0 pads, then `chars` in id order): upper, lower,
    digit, or 0 for padding and every other character."""
    kinds = [0]
    for c in chars:
        one = len(c) == 1
        if one and c.isupper():
            kinds.append(_UPPER)
        elif one and c.islower():
            kinds.append(_LOWER)
        elif one and c.isdigit():
            kinds.append(_DIGIT)
        else:
            kinds.append(0)
    return kinds


def word_case(kinds: Tensor, lengths: Tensor) -> Tensor:
    """Character kinds (words, length), padded with 0, and lengths -> (words, 7) of 0/1:
    starts upper, all letters upper, mixed case inside, all lower, has a digit, all digits,
    no letter or digit. Explicit, so the word's shape is known even when the char
    features' window cannot tell the first letter from the others."""
    upper = (kinds == _UPPER).sum(1)
    lower = (kinds == _LOWER).sum(1)
    digit = (kinds == _DIGIT).sum(1)
    first_upper = kinds[:, 0] == _UPPER
    letters = upper + lower
    feats = [
        first_upper,
        (upper > 0) & (lower == 0),
        (upper > 0) & (lower > 0) & ~(first_upper & (upper == 1)),
        (lower > 0) & (upper == 0),
        digit > 0,
        (digit == lengths) & (lengths > 0),
        letters + digit == 0,
    ]
    return torch.stack(feats, dim=1).float()


class Tagger(nn.Module):
    def __init__(
        self,
        vocab_size: int,
        num_chars: int,
        num_tags: int,
        embedding_dim: int,
        hidden_size: int,
        num_layers: int = 1,
        cell: str = "lstm",
        nonlinearity: str = "tanh",
        dropout: float = 0.0,
        bidirectional: bool = True,
        learn_initial_state: bool = False,
        char_features: str = "cnn",
        char_dim: int = 30,
        char_hidden: int = 50,
        crf: bool = True,
        allowed: Allowed | None = None,
        word_dropout: float = 0.0,
        case_kinds: list[int] | None = None,
        gazetteers: int = 0,
    ) -> None:
        super().__init__()
        if char_features not in CHAR_FEATURES:
            raise ValueError(f"unknown char_features {char_features!r}; one of {CHAR_FEATURES}")
        self.embedding = nn.Embedding(vocab_size, embedding_dim)  # id 0: <unk> and padding
        self.chars: CharCNN | CharLSTM | None = None
        if char_features == "cnn":
            self.chars = CharCNN(num_chars, char_dim, char_hidden)
        elif char_features == "lstm":
            self.chars = CharLSTM(num_chars, char_dim, char_hidden)
        size = embedding_dim + (self.chars.output_size if self.chars is not None else 0)
        # case_kinds: each char id's kind (`char_kinds`), to give words their case features
        kinds = None
        if case_kinds is not None:
            if len(case_kinds) != num_chars:
                raise ValueError(f"case_kinds has {len(case_kinds)} entries for {num_chars} chars")
            kinds = torch.tensor(case_kinds, dtype=torch.long)
            size += CASE_FEATURES
        self.case_kinds: Tensor | None
        self.register_buffer("case_kinds", kinds, persistent=False)  # rebuilt from the chars
        self.gazetteers = gazetteers  # word lists whose 0/1 flags each token brings
        size += gazetteers
        self.rnn = RecurrentStack(
            cell,
            size,
            hidden_size,
            num_layers,
            dropout,
            bidirectional,
            nonlinearity,
            learn_initial_state,
        )
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(self.rnn.output_size, num_tags)
        self.use_crf = crf
        # the decoder: a learned CRF, or (softmax) a CRF of zeros that only forbids moves
        self.crf = CRF(num_tags, allowed)
        if not crf:
            for p in self.crf.parameters():
                p.requires_grad_(False)
                nn.init.zeros_(p)
        self.word_dropout = word_dropout

    @property
    def embeddings(self) -> list[nn.Embedding]:
        """The word embeddings (a list, as an ensemble has one per member)."""
        return [self.embedding]

    def forward(
        self,
        tokens: Tensor,
        lengths: Tensor,
        chars: Tensor,
        char_lengths: Tensor,
        flags: Tensor | None = None,
    ) -> Tensor:
        """tokens (batch, time) padded with 0, lengths (batch,), chars (batch, time, letters)
        padded with 0, char_lengths (batch, time), 0 at padding, and, with gazetteers, their
        flags (batch, time, lists) -> tag scores (batch, time, tags).
        """
        if self.training and self.word_dropout > 0:
            keep = torch.rand(tokens.shape, device=tokens.device) >= self.word_dropout
            tokens = tokens * keep
        parts = [self.embedding(tokens)]
        if self.chars is not None or self.case_kinds is not None:
            real = char_lengths > 0
            letters, sizes = chars[real], char_lengths[real]  # the real words only
            if self.chars is not None:
                parts.append(self._per_word(self.chars(letters, sizes), real, parts[0]))
            if self.case_kinds is not None:
                case = word_case(self.case_kinds[letters], sizes)
                parts.append(self._per_word(case, real, parts[0]))
        if self.gazetteers:
            if flags is None or flags.shape[-1] != self.gazetteers:
                raise ValueError(f"the tagger reads {self.gazetteers} gazetteer flags per token")
            parts.append(flags.to(parts[0].dtype))
        x = torch.cat(parts, dim=-1) if len(parts) > 1 else parts[0]
        packed = pack_padded_sequence(
            self.dropout(x), lengths.cpu(), batch_first=True, enforce_sorted=False
        )
        out, _ = self.rnn.rnn(packed, self.rnn.initial_state(tokens.shape[0], tokens.device))
        out, _ = pad_packed_sequence(out, batch_first=True, total_length=tokens.shape[1])
        return self.head(self.dropout(out))

    @staticmethod
    def _per_word(feats: Tensor, real: Tensor, like: Tensor) -> Tensor:
        """Features of the real words (words, k) -> (batch, time, k), zeros at padding."""
        full = like.new_zeros(*real.shape, feats.shape[-1])
        full[real] = feats.to(like.dtype)
        return full

    def loss(self, scores: Tensor, tags: Tensor, mask: Tensor) -> Tensor:
        """Mean loss per token: the CRF's negative log-likelihood, or cross-entropy."""
        tokens = mask.sum().clamp(min=1)
        if self.use_crf:
            return self.crf.nll(scores.float(), tags, mask).sum() / tokens
        return F.cross_entropy(scores[mask].float(), tags[mask], reduction="sum") / tokens

    def decode(
        self, scores: Tensor, mask: Tensor, probabilities: bool = True
    ) -> tuple[Tensor, Tensor | None]:
        """Best allowed tags (batch, time) and, if asked, each position's tag probabilities
        (batch, time, tags): CRF marginals, or the softmax."""
        scores = scores.float()
        if self.use_crf:
            probs = self.crf.marginals(scores, mask) if probabilities else None
            return self.crf.viterbi(scores, mask)[0], probs
        logp = scores.log_softmax(-1)
        probs = logp.exp() * mask[..., None] if probabilities else None
        return self.crf.viterbi(logp, mask)[0], probs


class TaggerEnsemble(nn.Module):
    """Several taggers of one design, trained side by side (each its own initial weights
    and dropout), that decode as one: their tag scores and CRF scores are averaged (a
    softmax ensemble averages log-probabilities). Steadier than any single member on
    small data, at the members' cost in time.

    forward returns the members' scores stacked, (members, batch, time, tags); `loss` is
    the members' mean loss, so each member learns from its own scores alone.
    """

    def __init__(self, members: list[Tagger]) -> None:
        super().__init__()
        if len(members) < 2:
            raise ValueError("an ensemble needs at least two taggers")
        self.members = nn.ModuleList(members)
        self.use_crf = members[0].use_crf

    @property
    def taggers(self) -> list[Tagger]:
        return list(self.members)  # type: ignore[arg-type]

    @property
    def embeddings(self) -> list[nn.Embedding]:
        return [m.embedding for m in self.taggers]

    def forward(
        self,
        tokens: Tensor,
        lengths: Tensor,
        chars: Tensor,
        char_lengths: Tensor,
        flags: Tensor | None = None,
    ) -> Tensor:
        return torch.stack([m(tokens, lengths, chars, char_lengths, flags) for m in self.members])

    def loss(self, scores: Tensor, tags: Tensor, mask: Tensor) -> Tensor:
        """The members' mean loss, all members in one computation (one CRF recursion)."""
        tokens = mask.sum().clamp(min=1) * len(self.members)
        if self.use_crf:
            crfs = [m.crf for m in self.taggers]
            return stacked_nll(crfs, scores.float(), tags, mask).sum() / tokens
        picked = scores[:, mask].float()  # (members, tokens, tags)
        gold = tags[mask].repeat(len(self.members))
        return F.cross_entropy(picked.flatten(0, 1), gold, reduction="sum") / tokens

    def crf(self) -> CRF:
        """One CRF whose start, end and transition scores are the members' means."""
        first = self.taggers[0].crf
        mean = CRF(first.num_tags).to(first.start.device)
        mean.start_ok, mean.transitions_ok, mean.end_ok = (
            first.start_ok,
            first.transitions_ok,
            first.end_ok,
        )
        with torch.no_grad():
            for name in ("start", "end", "transitions"):
                stacked = torch.stack([getattr(m.crf, name) for m in self.taggers])
                getattr(mean, name).copy_(stacked.mean(0))
        return mean

    def decode(
        self, scores: Tensor, mask: Tensor, probabilities: bool = True
    ) -> tuple[Tensor, Tensor | None]:
        """As Tagger.decode, on the members' mean scores under their mean CRF."""
        scores = scores.float()
        if self.use_crf:
            crf = self.crf()
            emissions = scores.mean(0)
            probs = crf.marginals(emissions, mask) if probabilities else None
            return crf.viterbi(emissions, mask)[0], probs
        logp = scores.log_softmax(-1).mean(0)
        probs = logp.softmax(-1) * mask[..., None] if probabilities else None
        return self.taggers[0].crf.viterbi(logp, mask)[0], probs
