"""Decoding over a step function `step(tokens, state) -> (logits, state)`.

The recurrent state is passed explicitly, so each new token costs O(1) work whatever
the length so far. Shared by every task that writes sequences.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import torch
from torch import Tensor

StepFn = Callable[[Tensor, Any], tuple[Tensor, Any]]


def pick(
    logits: Tensor,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Choose one token per row of `logits` (batch, vocab) -> (batch,).

    temperature 0 is greedy; top-k keeps the k likeliest; top-p keeps the smallest set
    whose probability reaches p (nucleus sampling).
    """
    if temperature < 0:
        raise ValueError("temperature must be >= 0")
    if temperature == 0:
        return logits.argmax(dim=-1)
    if logits.dtype != torch.float32:
        logits = logits.float()
    if temperature != 1.0:
        logits = logits / temperature
    if top_k is not None and 0 < top_k < logits.shape[-1]:
        kth = torch.topk(logits, top_k, dim=-1).values[:, -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if top_p is not None and 0 < top_p < 1:
        sorted_logits, order = torch.sort(logits, dim=-1, descending=True)
        cum = sorted_logits.softmax(dim=-1).cumsum(dim=-1)
        drop = cum - sorted_logits.softmax(dim=-1) >= top_p  # keep the token that crosses p
        sorted_logits = sorted_logits.masked_fill(drop, float("-inf"))
        logits = torch.full_like(logits, float("-inf")).scatter(-1, order, sorted_logits)
    probs = logits.softmax(dim=-1)
    return torch.multinomial(probs, 1, generator=generator).squeeze(-1)


def sample(
    step: StepFn,
    logits: Tensor,
    state: Any,
    length: int,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    generator: torch.Generator | None = None,
) -> Iterator[Tensor]:
    """Yield `length` tokens (batch,) one at a time, starting from `logits` (batch, vocab)."""
    for i in range(length):
        tokens = pick(logits, temperature, top_k, top_p, generator)
        yield tokens
        if i + 1 < length:
            logits, state = step(tokens, state)


# ------------------------------------------------------------ sequence search
# A search step works on any state object with `select(index) -> state` (rows kept,
# in the order of `index`), e.g. the seq2seq DecoderState. `trace(state)` optionally
# returns one tensor per row after each step (attention weights) to keep per token.

Trace = Callable[[Any], Tensor | None]


class Hypothesis:
    """One finished output: token ids (without <eos>), log-probability, score, trace."""

    __slots__ = ("log_prob", "score", "tokens", "trace")

    def __init__(
        self, tokens: list[int], log_prob: float, score: float, trace: Tensor | None
    ) -> None:
        self.tokens = tokens
        self.log_prob = log_prob  # sum of token log-probabilities, <eos> included
        self.score = score  # log_prob normalised by the length penalty (what ranks)
        self.trace = trace  # (len(tokens) + 1, ...) per output step, or None

    def __repr__(self) -> str:
        return f"Hypothesis({self.tokens}, log_prob={self.log_prob:.3f})"


def length_normalise(log_prob: float, length: int, alpha: float) -> float:
    """log_prob / length**alpha (alpha 0: raw log-probability favouring short outputs)."""
    return log_prob / (max(length, 1) ** alpha) if alpha else log_prob


def greedy_search(
    step: Callable[[Tensor, Any], tuple[Tensor, Any]],
    state: Any,
    bos: int,
    eos: int,
    max_lengths: list[int],
    trace: Trace | None = None,
) -> list[Hypothesis]:
    """The likeliest next token every step, for a batch of B sentences at once.

    Each sentence stops at <eos> or after its `max_lengths[i]` tokens; finished sentences
    leave the batch, so the cost follows the lengths actually written.
    """
    n = len(max_lengths)
    device = _device(state)
    rows = torch.arange(n, device=device)  # batch row -> sentence
    tokens = torch.full((n,), bos, dtype=torch.long, device=device)
    out: list[list[int]] = [[] for _ in range(n)]
    log_probs = [0.0] * n
    traces: list[list[Tensor]] = [[] for _ in range(n)]
    done: list[Hypothesis | None] = [None] * n
    limits = torch.tensor(max_lengths, device=device)
    t = 0
    while rows.numel():
        logits, state = step(tokens, state)
        lp = logits.float().log_softmax(-1)
        best_lp, tokens = lp.max(-1)
        extra = trace(state) if trace is not None else None
        ids, lps = rows.tolist(), best_lp.tolist()
        toks = tokens.tolist()
        ended = (tokens == eos) | (limits[rows] <= t + 1)
        ended_list = ended.tolist()
        for r, (i, tok, p) in enumerate(zip(ids, toks, lps, strict=True)):
            log_probs[i] += p
            if extra is not None:
                traces[i].append(extra[r])
            if tok != eos:
                out[i].append(tok)
            if ended_list[r]:
                tr = torch.stack(traces[i]) if traces[i] else None
                done[i] = Hypothesis(out[i], log_probs[i], log_probs[i], tr)
        t += 1
        if any(ended_list):
            keep = (~ended).nonzero().squeeze(1)
            rows, tokens = rows[keep], tokens[keep]
            if rows.numel():
                state = state.select(keep)
    return [h for h in done if h is not None]


def beam_search(
    step: Callable[[Tensor, Any], tuple[Tensor, Any]],
    state: Any,
    bos: int,
    eos: int,
    max_lengths: list[int],
    beam: int = 5,
    n_best: int = 1,
    length_penalty: float = 1.0,
    trace: Trace | None = None,
) -> list[list[Hypothesis]]:
    """Beam search over B sentences at once -> the `n_best` hypotheses of each, best first.

    `state` holds B rows; it is expanded to B * beam. Every step each live beam offers
    its continuations; of the 2 * beam best per sentence, those among the top `beam`
    that end in <eos> are finished (scored with the length penalty; the best `beam` are
    kept) and the best `beam` others go on. A sentence stops when it holds `beam`
    finished hypotheses and none is worse than its best live beam's normalised score,
    or at its length limit, where the live beams are finished as they stand.
    """
    if beam < 1 or n_best < 1:
        raise ValueError("beam and n_best must be >= 1")
    if n_best > beam:
        raise ValueError(f"n_best ({n_best}) cannot exceed the beam size ({beam})")
    n = len(max_lengths)
    device = _device(state)
    k = beam
    state = state.select(torch.arange(n, device=device).repeat_interleave(k))
    sentences = list(range(n))  # row block b -> sentence
    scores = torch.full((n, k), float("-inf"), device=device)
    scores[:, 0] = 0.0  # all beams start equal: keep one so the first step is not k copies
    history = torch.zeros((n * k, 0), dtype=torch.long, device=device)
    traced: Tensor | None = None
    tokens = torch.full((n * k,), bos, dtype=torch.long, device=device)
    finished: list[list[Hypothesis]] = [[] for _ in range(n)]
    t = 0
    while sentences:
        logits, state = step(tokens, state)
        b = len(sentences)
        lp = logits.float().log_softmax(-1)
        vocab = lp.shape[-1]
        extra = trace(state) if trace is not None else None
        if extra is not None:
            traced = extra[:, None] if traced is None else torch.cat([traced, extra[:, None]], 1)
        total = (scores.view(b * k, 1) + lp).view(b, k * vocab)
        top_scores, top_index = total.topk(min(2 * k, k * vocab), dim=-1)
        origin = top_index // vocab  # which beam of the sentence
        token = top_index % vocab
        t += 1
        rows_next: list[int] = []
        tokens_next: list[int] = []
        scores_next: list[float] = []
        keep_blocks: list[int] = []
        ts, oi, tk = top_scores.tolist(), origin.tolist(), token.tolist()
        for j, sent in enumerate(sentences):
            at_limit = t >= max_lengths[sent]
            live: list[tuple[int, int, float]] = []
            for rank, (score, o, tok) in enumerate(zip(ts[j], oi[j], tk[j], strict=True)):
                if score == float("-inf"):
                    break
                row = j * k + o
                if tok == eos or at_limit:
                    # an <eos> below the top k would not have survived this step
                    if rank < k:
                        seq = history[row].tolist() + ([] if tok == eos else [tok])
                        _keep_best(
                            finished[sent],
                            Hypothesis(
                                seq,
                                score,
                                length_normalise(score, t, length_penalty),
                                None if traced is None else traced[row].clone(),
                            ),
                            k,
                        )
                elif len(live) < k:
                    live.append((row, tok, score))
                if len(live) == k:
                    break
            if at_limit or not live:
                continue
            hyps = finished[sent]
            if len(hyps) >= k and min(h.score for h in hyps) >= length_normalise(
                live[0][2], t, length_penalty
            ):
                continue  # no live beam can beat the finished ones any more
            keep_blocks.append(j)
            while len(live) < k:  # pad with dead copies (score -inf) to keep k rows
                live.append((live[0][0], live[0][1], float("-inf")))
            for row, tok, score in live:
                rows_next.append(row)
                tokens_next.append(tok)
                scores_next.append(score)
        if not keep_blocks:
            break
        index = torch.tensor(rows_next, dtype=torch.long, device=device)
        state = state.select(index)
        tokens = torch.tensor(tokens_next, dtype=torch.long, device=device)
        history = torch.cat([history.index_select(0, index), tokens[:, None]], dim=1)
        if traced is not None:
            traced = traced.index_select(0, index)
        scores = torch.tensor(scores_next, device=device).view(len(keep_blocks), k)
        sentences = [sentences[j] for j in keep_blocks]
    out = []
    for hyps in finished:
        hyps.sort(key=lambda h: -h.score)
        out.append(hyps[:n_best])
    return out


def _keep_best(hyps: list[Hypothesis], new: Hypothesis, k: int) -> None:
    """Add `new` to at most `k` finished hypotheses, dropping the worst when full."""
    if len(hyps) < k:
        hyps.append(new)
        return
    worst = min(range(len(hyps)), key=lambda i: hyps[i].score)
    if new.score > hyps[worst].score:
        hyps[worst] = new


def _device(state: Any) -> torch.device:
    memory = getattr(state, "memory", None)
    return memory.device if isinstance(memory, Tensor) else torch.device("cpu")
