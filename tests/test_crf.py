"""The CRF against brute force: every tag sequence enumerated on tiny cases (float64)."""

from __future__ import annotations

import itertools

import pytest
import torch
from torch import Tensor

from rnncli.models.crf import CRF, Allowed, stacked_nll

LENGTHS = [4, 1, 3, 2, 4]  # mixed lengths, padded to 4 with garbage


def random_allowed(k: int, gen: torch.Generator) -> Allowed:
    """Random forbidden moves; tag 0 always allowed, so every length has an allowed path."""
    start, trans, end = (torch.rand(*s, generator=gen) < 0.6 for s in [(k,), (k, k), (k,)])
    start[0] = end[0] = trans[0, 0] = True
    return start.tolist(), trans.tolist(), end.tolist()


def random_crf(k: int, masked: bool, seed: int = 0) -> CRF:
    gen = torch.Generator().manual_seed(seed)
    crf = CRF(k, random_allowed(k, gen) if masked else None).double()
    with torch.no_grad():
        for p in crf.parameters():
            p.copy_(torch.randn(p.shape, generator=gen, dtype=p.dtype))
    return crf


def random_batch(
    k: int, seed: int = 1, dtype: torch.dtype = torch.float64
) -> tuple[Tensor, Tensor]:
    """Emissions (B, T, K) with large garbage past each length, and the mask."""
    gen = torch.Generator().manual_seed(seed)
    lengths = torch.tensor(LENGTHS)
    mask = torch.arange(max(LENGTHS))[None, :] < lengths[:, None]
    emissions = torch.randn(len(LENGTHS), max(LENGTHS), k, generator=gen, dtype=dtype)
    garbage = 1000 * torch.randn(emissions.shape, generator=gen, dtype=dtype)
    return torch.where(mask[..., None], emissions, garbage), mask


def enumerate_paths(crf: CRF, emissions: Tensor) -> tuple[list[tuple[int, ...]], Tensor]:
    """Every allowed tag sequence of one row's emissions (n, K) and its score."""
    n, k = emissions.shape
    ok_start, ok_trans, ok_end = crf.start_ok, crf.transitions_ok, crf.end_ok
    paths, scores = [], []
    for y in itertools.product(range(k), repeat=n):
        moves = list(itertools.pairwise(y))
        if not (ok_start[y[0]] and ok_end[y[-1]] and all(ok_trans[a, b] for a, b in moves)):
            continue
        score = crf.start[y[0]] + crf.end[y[-1]] + sum(emissions[t, j] for t, j in enumerate(y))
        paths.append(y)
        scores.append(score + sum(crf.transitions[a, b] for a, b in moves))
    return paths, torch.stack(scores).detach()


CASES = [(k, masked) for k in (2, 3, 4) for masked in (False, True)]


@pytest.mark.parametrize(("k", "masked"), CASES)
def test_log_partition_matches_enumeration(k: int, masked: bool) -> None:
    crf, (emissions, mask) = random_crf(k, masked), random_batch(k)
    log_z = crf.log_partition(emissions, mask)
    for b, n in enumerate(LENGTHS):
        _, scores = enumerate_paths(crf, emissions[b, :n])
        expected = torch.logsumexp(scores, dim=0)
        assert log_z[b].item() == pytest.approx(expected.item(), abs=1e-6 if masked else 1e-9)


@pytest.mark.parametrize(("k", "masked"), CASES)
def test_viterbi_matches_enumeration(k: int, masked: bool) -> None:
    crf, (emissions, mask) = random_crf(k, masked), random_batch(k)
    path, score = crf.viterbi(emissions, mask)
    assert path.dtype == torch.long and path.shape == mask.shape
    for b, n in enumerate(LENGTHS):
        paths, scores = enumerate_paths(crf, emissions[b, :n])
        best = int(scores.argmax())
        assert tuple(path[b, :n].tolist()) == paths[best]
        assert (path[b, n:] == 0).all()
        assert score[b].item() == pytest.approx(scores[best].item(), abs=1e-9)


@pytest.mark.parametrize(("k", "masked"), CASES)
def test_marginals_match_enumeration(k: int, masked: bool) -> None:
    crf, (emissions, mask) = random_crf(k, masked), random_batch(k)
    marginals = crf.marginals(emissions, mask)
    torch.testing.assert_close(marginals.sum(-1), mask.double(), atol=1e-9, rtol=0)
    for b, n in enumerate(LENGTHS):
        paths, scores = enumerate_paths(crf, emissions[b, :n])
        expected = torch.zeros(n, k, dtype=torch.float64)
        for y, p in zip(paths, scores.softmax(0), strict=True):
            expected[torch.arange(n), torch.tensor(y)] += p
        torch.testing.assert_close(
            marginals[b, :n], expected, atol=1e-6 if masked else 1e-9, rtol=0
        )
        assert (marginals[b, n:] == 0).all()


@pytest.mark.parametrize(("k", "masked"), CASES)
def test_score_nll_and_gradients(k: int, masked: bool) -> None:
    crf, (emissions, mask) = random_crf(k, masked), random_batch(k)
    emissions.requires_grad_(True)
    gen = torch.Generator().manual_seed(2)
    tags = torch.randint(0, k, mask.shape, generator=gen).masked_fill(~mask, -100)
    score = crf.score(emissions, tags, mask)
    for b, n in enumerate(LENGTHS):  # raw score, plus the penalty once per forbidden move
        y = tags[b, :n].tolist()
        moves = list(itertools.pairwise(y))
        raw = crf.start[y[0]] + crf.end[y[-1]] + emissions[b, torch.arange(n), y].sum()
        raw = raw + sum(crf.transitions[i, j] for i, j in moves)
        forbidden = (not crf.start_ok[y[0]]) + (not crf.end_ok[y[-1]])
        forbidden += sum(not crf.transitions_ok[i, j] for i, j in moves)
        assert score[b].item() == pytest.approx(raw.item() - 10000.0 * forbidden, abs=1e-9)
    nll = crf.nll(emissions, tags, mask)
    torch.testing.assert_close(nll, crf.log_partition(emissions, mask) - score)
    assert (nll >= 0).all()
    nll.sum().backward()
    for grad in (emissions.grad, *(p.grad for p in crf.parameters())):
        assert grad is not None and torch.isfinite(grad).all()
    assert emissions.grad is not None and (emissions.grad[~mask] == 0).all()


@pytest.mark.parametrize(("k", "masked"), CASES)
def test_stacked_nll_is_each_crf_on_its_own_emissions(k: int, masked: bool) -> None:
    crfs = [random_crf(k, masked, seed) for seed in (0, 5, 6)]
    emissions = torch.stack([random_batch(k, seed)[0] for seed in (1, 3, 4)])
    mask = random_batch(k)[1]
    tags = torch.randint(0, k, mask.shape, generator=torch.Generator().manual_seed(2))
    emissions.requires_grad_(True)
    stacked = stacked_nll(crfs, emissions, tags, mask)
    stacked.sum().backward()
    got = [emissions.grad.clone()] + [p.grad.clone() for c in crfs for p in c.parameters()]
    emissions.grad = None
    for c in crfs:
        c.zero_grad()
    alone = torch.stack([c.nll(e, tags, mask) for c, e in zip(crfs, emissions, strict=True)])
    alone.sum().backward()
    want = [emissions.grad] + [p.grad for c in crfs for p in c.parameters()]
    torch.testing.assert_close(stacked, alone, atol=1e-9, rtol=1e-12)
    for g, w in zip(got, want, strict=True):
        torch.testing.assert_close(g, w, atol=1e-9, rtol=1e-9)


def test_viterbi_never_takes_a_forbidden_move() -> None:
    # IOB2 with tags O, B, I: no sentence starts with I, and O is never followed by I
    crf = CRF(3, ([True, True, False], [[True, True, False], [True] * 3, [True] * 3], [True] * 3))
    for p in crf.parameters():
        torch.nn.init.zeros_(p)
    emissions = torch.zeros(2, 3, 3)
    emissions[0, :, 2] = 50.0  # I everywhere, starting with it
    emissions[1, 0, 0] = emissions[1, 2, 2] = 50.0  # O I I
    emissions[1, 1, 2] = 60.0
    path, _ = crf.viterbi(emissions, torch.ones(2, 3, dtype=torch.bool))
    for y in path.tolist():
        assert y[0] != 2
        assert all((a, b) != (0, 2) for a, b in itertools.pairwise(y))
    assert path.tolist() == [[1, 2, 2], [1, 2, 2]]
    marginals = crf.marginals(emissions, torch.ones(2, 3, dtype=torch.bool))
    assert (marginals[:, 0, 2] == 0).all()


@pytest.mark.threads
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_padding_never_changes_a_result(dtype: torch.dtype) -> None:
    k = 5
    crf = random_crf(k, masked=True).to(dtype)
    emissions, mask = random_batch(k, dtype=dtype)
    tags = torch.randint(0, k, mask.shape, generator=torch.Generator().manual_seed(3))
    batched = (
        crf.log_partition(emissions, mask),
        crf.nll(emissions, tags, mask),
        *crf.viterbi(emissions, mask),
        crf.marginals(emissions, mask),
    )
    for b, n in enumerate(LENGTHS):
        em, y, m = emissions[b : b + 1, :n], tags[b : b + 1, :n], mask[b : b + 1, :n]
        alone = (
            crf.log_partition(em, m),
            crf.nll(em, y, m),
            *crf.viterbi(em, m),
            crf.marginals(em, m),
        )
        for whole, single in zip(batched, alone, strict=True):
            row = whole[b : b + 1, :n] if whole.dim() > 1 else whole[b : b + 1]
            torch.testing.assert_close(row, single, atol=1e-5, rtol=0)


def test_dtype_and_state_dict() -> None:
    crf = CRF(3, ([True] * 3, [[True] * 3] * 3, [False, True, True]))
    assert set(crf.state_dict()) == {"start", "end", "transitions"}
    emissions, mask = torch.randn(2, 4, 3, dtype=torch.float64), torch.ones(2, 4, dtype=torch.bool)
    assert crf.log_partition(emissions, mask).dtype == torch.float64
    assert crf.marginals(emissions, mask).dtype == torch.float64
    with pytest.raises(ValueError, match="shape"):
        CRF(3, ([True] * 2, [[True] * 3] * 3, [True] * 3))


def test_training_overfits_one_sequence() -> None:
    torch.manual_seed(0)
    target = torch.tensor([[3, 1, 1, 4, 0, 2, 2, 3]])
    crf = CRF(5)
    emissions = torch.zeros(1, 8, 5, requires_grad=True)
    mask = torch.ones(1, 8, dtype=torch.bool)
    opt = torch.optim.Adam([emissions, *crf.parameters()], lr=0.05)
    for _ in range(200):
        opt.zero_grad()
        crf.nll(emissions, target, mask).sum().backward()
        opt.step()
    assert torch.equal(crf.viterbi(emissions.detach(), mask)[0], target)
    assert crf.nll(emissions, target, mask).item() < 0.1
