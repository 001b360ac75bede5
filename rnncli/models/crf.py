"""A batched linear-chain conditional random field over tag sequences.

A tag sequence y of length n scores start[y_1] + sum_t emissions[t, y_t] +
sum_t transitions[y_t, y_t+1] + end[y_n]. Moves the tag scheme forbids (`allowed`) get
PENALTY added in every computation (likelihood, partition, Viterbi, marginals), so the model's
distribution ranges over allowed sequences only; the penalty is finite, so gradients stay
free of NaN.

Masks are left-aligned (a prefix of True per row), every row at least one long. Padding never
reaches a result: padded emissions and tags are ignored and the recursions carry their state
through padded steps, so a sequence gets the same results alone or in a padded batch. Loops
run over time only, batched over sequences and tags.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

PENALTY = -10000.0
Allowed = tuple[list[bool], list[list[bool]], list[bool]]


def _alphas(emissions: Tensor, mask: Tensor, start: Tensor, trans: Tensor) -> Tensor:
    """Forward log-scores (B, T, K); past a row's length they repeat its last valid step.
    start is (K,) or per row (B, K), trans (K, K) or per row (B, K, K)."""
    emissions = emissions.masked_fill(~mask[..., None], 0.0)
    alpha = start + emissions[:, 0]
    alphas = [alpha]
    for t in range(1, emissions.shape[1]):
        step = torch.logsumexp(alpha[:, :, None] + trans, dim=1) + emissions[:, t]
        alpha = torch.where(mask[:, t, None], step, alpha)
        alphas.append(alpha)
    return torch.stack(alphas, dim=1)


def _path_scores(
    emissions: Tensor, tags: Tensor, mask: Tensor, start: Tensor, trans: Tensor, end: Tensor
) -> Tensor:
    """Scores (B,) of the tag paths; start, end (K,) or (B, K), trans (K, K) or (B, K, K)."""
    rows, k = emissions.shape[0], emissions.shape[2]
    start, end, trans = start.expand(rows, k), end.expand(rows, k), trans.expand(rows, k, k)
    tags = tags.masked_fill(~mask, 0)
    emitted = emissions.gather(2, tags[..., None]).squeeze(2).masked_fill(~mask, 0.0)
    row = torch.arange(rows, device=tags.device)[:, None]
    moves = trans[row, tags[:, :-1], tags[:, 1:]].masked_fill(~mask[:, 1:], 0.0)
    last = tags.gather(1, mask.sum(1, keepdim=True) - 1)
    first = start.gather(1, tags[:, :1]).squeeze(1)
    return first + emitted.sum(1) + moves.sum(1) + end.gather(1, last).squeeze(1)


def stacked_nll(crfs: list[CRF], emissions: Tensor, tags: Tensor, mask: Tensor) -> Tensor:
    """Negative log-likelihoods (M, B) of one batch of tags under M CRFs, each with its
    own emissions (M, B, T, K): equal to [c.nll(e, tags, mask) for c, e in zip(crfs,
    emissions)], in one recursion over M * B rows instead of M recursions."""
    members, batch = emissions.shape[:2]
    flat = emissions.reshape(members * batch, *emissions.shape[2:])
    start, trans, end = (
        torch.stack(part).repeat_interleave(batch, dim=0)
        for part in zip(*(c._scores(flat) for c in crfs), strict=True)
    )
    mask, tags = mask.repeat(members, 1), tags.repeat(members, 1)
    return _nll(flat, tags, mask, start, trans, end).view(members, batch)


def _nll(
    emissions: Tensor, tags: Tensor, mask: Tensor, start: Tensor, trans: Tensor, end: Tensor
) -> Tensor:
    """log_partition - path score (B,), for shared or per-row start, trans and end."""
    log_z = _log_z(emissions, mask, start, trans, end)
    return log_z - _path_scores(emissions, tags, mask, start, trans, end)


def _log_z(emissions: Tensor, mask: Tensor, start: Tensor, trans: Tensor, end: Tensor) -> Tensor:
    """Log of the sum over all tag sequences (B,)."""
    return torch.logsumexp(_alphas(emissions, mask, start, trans)[:, -1] + end, dim=1)


class CRF(nn.Module):
    """Learned start (K,), end (K,) and transitions (K, K): transitions[i, j] scores i then j."""

    start_ok: Tensor
    transitions_ok: Tensor
    end_ok: Tensor

    def __init__(self, num_tags: int, allowed: Allowed | None = None) -> None:
        super().__init__()
        k = num_tags
        self.num_tags = k
        self.start = nn.Parameter(torch.empty(k).uniform_(-0.1, 0.1))
        self.end = nn.Parameter(torch.empty(k).uniform_(-0.1, 0.1))
        self.transitions = nn.Parameter(torch.empty(k, k).uniform_(-0.1, 0.1))
        start_ok, transitions_ok, end_ok = allowed or ([True] * k, [[True] * k] * k, [True] * k)
        for name, ok, shape in (
            ("start_ok", start_ok, (k,)),
            ("transitions_ok", transitions_ok, (k, k)),
            ("end_ok", end_ok, (k,)),
        ):
            mask = torch.tensor(ok, dtype=torch.bool)
            if mask.shape != shape:
                raise ValueError(f"allowed {name}: shape {tuple(mask.shape)}, expected {shape}")
            self.register_buffer(name, mask, persistent=False)

    def _scores(self, emissions: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """start, transitions, end in the emissions' dtype, PENALTY added to forbidden moves."""

        def penalised(p: Tensor, ok: Tensor) -> Tensor:
            p = p.to(emissions.dtype)
            return p + (~ok).to(p.dtype) * PENALTY

        return (
            penalised(self.start, self.start_ok),
            penalised(self.transitions, self.transitions_ok),
            penalised(self.end, self.end_ok),
        )

    def log_partition(self, emissions: Tensor, mask: Tensor) -> Tensor:
        """emissions (B, T, K), mask (B, T) bool -> log of the sum over all sequences (B,)."""
        return _log_z(emissions, mask, *self._scores(emissions))

    def score(self, emissions: Tensor, tags: Tensor, mask: Tensor) -> Tensor:
        """Score of the given tag sequences (B,); tags (B, T) long, anything past the length."""
        return _path_scores(emissions, tags, mask, *self._scores(emissions))

    def nll(self, emissions: Tensor, tags: Tensor, mask: Tensor) -> Tensor:
        """Negative log-likelihood of the tags (B,): log_partition - score."""
        return _nll(emissions, tags, mask, *self._scores(emissions))

    def viterbi(self, emissions: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
        """Best tags (B, T) long, 0 past each length, and the best path's score (B,)."""
        start, trans, end = self._scores(emissions)
        emissions = emissions.masked_fill(~mask[..., None], 0.0)
        batch, time, k = emissions.shape
        stay = torch.arange(k, device=emissions.device).expand(batch, k)
        best = start + emissions[:, 0]
        pointers = []  # per step: best previous tag for each tag (identity on padded steps)
        for t in range(1, time):
            top, arg = (best[:, :, None] + trans).max(dim=1)
            valid = mask[:, t, None]
            best = torch.where(valid, top + emissions[:, t], best)
            pointers.append(torch.where(valid, arg, stay))
        score, tag = (best + end).max(dim=1)
        path = [tag]
        for pointer in reversed(pointers):
            tag = pointer.gather(1, tag[:, None]).squeeze(1)
            path.append(tag)
        return torch.stack(path[::-1], dim=1).masked_fill(~mask, 0), score

    def marginals(self, emissions: Tensor, mask: Tensor) -> Tensor:
        """Posterior probability of each tag at each position (B, T, K); 0 past each length."""
        start, trans, end = self._scores(emissions)
        alphas = _alphas(emissions, mask, start, trans)
        emissions = emissions.masked_fill(~mask[..., None], 0.0)
        beta = end.expand_as(alphas[:, -1])
        betas = [beta]
        for t in range(emissions.shape[1] - 1, 0, -1):
            step = torch.logsumexp(trans + (emissions[:, t] + beta)[:, None, :], dim=2)
            beta = torch.where(mask[:, t, None], step, end)
            betas.append(beta)
        log_z = torch.logsumexp(alphas[:, -1] + end, dim=1)
        log_p = alphas + torch.stack(betas[::-1], dim=1) - log_z[:, None, None]
        return log_p.exp().masked_fill(~mask[..., None], 0.0)
