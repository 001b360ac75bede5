from __future__ import annotations

import torch

from rnncli.decoding import pick, sample


def test_greedy_top1_and_tiny_top_p_agree() -> None:
    logits = torch.randn(5, 30)
    greedy = pick(logits, temperature=0)
    assert (greedy == logits.argmax(-1)).all()
    assert (pick(logits, 1.0, top_k=1) == greedy).all()
    assert (pick(logits, 1.0, top_p=1e-6) == greedy).all()


def test_top_k_only_samples_among_k() -> None:
    logits = torch.arange(10.0).repeat(200, 1)
    picked = pick(logits, 1.0, top_k=3, generator=torch.Generator().manual_seed(0))
    assert set(picked.tolist()) <= {7, 8, 9}


def test_top_p_keeps_the_nucleus() -> None:
    probs = torch.tensor([[0.5, 0.3, 0.15, 0.05]]).repeat(300, 1)
    picked = pick(probs.log(), 1.0, top_p=0.7, generator=torch.Generator().manual_seed(0))
    assert set(picked.tolist()) == {0, 1}


def test_sampling_is_reproducible_with_a_generator() -> None:
    def step(tokens: torch.Tensor, state: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return state[tokens], state

    table = torch.randn(8, 8)
    runs = [
        [
            t.tolist()
            for t in sample(
                step, table[:2], table, 20, 1.0, generator=torch.Generator().manual_seed(7)
            )
        ]
        for _ in range(2)
    ]
    assert runs[0] == runs[1] and len(runs[0]) == 20
