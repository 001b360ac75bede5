from __future__ import annotations

import itertools

import pytest
import torch

from rnncli.models.language_model import LanguageModel
from rnncli.models.recurrent import RecurrentStack

CASES = list(itertools.product(["rnn", "lstm", "gru"], [1, 2], [False, True]))


@pytest.mark.parametrize(("cell", "layers", "bidirectional"), CASES)
def test_stack_shapes(cell: str, layers: int, bidirectional: bool) -> None:
    stack = RecurrentStack(
        cell, 5, 7, num_layers=layers, bidirectional=bidirectional, learn_initial_state=True
    )
    out, state = stack(torch.randn(3, 4, 5))
    dirs = 2 if bidirectional else 1
    assert out.shape == (3, 4, 7 * dirs)
    h = state[0] if cell == "lstm" else state
    assert h.shape == (layers * dirs, 3, 7)


@pytest.mark.parametrize(
    ("cell", "layers"), [(c, n) for c in ("rnn", "lstm", "gru") for n in (1, 3)]
)
@pytest.mark.threads
@pytest.mark.parametrize("nonlinearity", ["tanh", "relu"])
def test_step_matches_fused_forward(cell: str, layers: int, nonlinearity: str) -> None:
    torch.manual_seed(0)
    lm = LanguageModel(
        11, 6, 9, layers, cell=cell, nonlinearity=nonlinearity, learn_initial_state=True
    ).eval()
    with torch.no_grad():
        for p in lm.parameters():
            p.add_(torch.randn_like(p) * 0.1)
        tokens = torch.randint(0, 11, (2, 8))
        full, _ = lm(tokens, lm.initial_state(2))
        layers_state = lm.rnn.split_state(lm.initial_state(2))
        for t in range(8):
            logits, layers_state = lm.step(tokens[:, t], layers_state)
            torch.testing.assert_close(logits, full[:, t], atol=1e-5, rtol=1e-5)


def test_tied_embeddings_share_storage_and_project() -> None:
    lm = LanguageModel(20, 8, 16, 1, tie_embeddings=True)
    assert lm.head.weight is lm.embedding.weight
    logits, _ = lm(torch.randint(0, 20, (2, 3)))
    assert logits.shape == (2, 3, 20)


def test_step_refuses_bidirectional() -> None:
    stack = RecurrentStack("gru", 3, 4, bidirectional=True)
    with pytest.raises(ValueError, match="unidirectional"):
        stack.step(torch.randn(1, 3), stack.split_state(stack.initial_state(1)))


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("learned", [False, True])
def test_masked_stack_equals_packed_sequences(
    cell: str, bidirectional: bool, learned: bool
) -> None:
    """The export path's recurrence (no packing) gives the packed path's outputs and
    final states, so exported classifiers and encoders ignore padding too."""
    from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

    from rnncli.models.masked import MaskedStack

    torch.manual_seed(0)
    stack = RecurrentStack(
        cell, 5, 7, num_layers=2, bidirectional=bidirectional, learn_initial_state=learned
    ).eval()
    if learned:
        with torch.no_grad():
            for p in (stack.h0, stack.c0):
                if p is not None:
                    p.normal_()
    x, lengths = torch.randn(4, 9, 5), torch.tensor([9, 3, 1, 6])
    with torch.no_grad():
        packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
        out, state = stack.rnn(packed, stack.initial_state(4))
        out, _ = pad_packed_sequence(out, batch_first=True, total_length=9)
        got, got_state = MaskedStack(stack)(x, lengths)
    assert torch.allclose(got, out, atol=1e-6)
    want = state if isinstance(state, tuple) else (state,)
    have = got_state if isinstance(got_state, tuple) else (got_state,)
    for a, b in zip(want, have, strict=True):
        assert torch.allclose(a, b, atol=1e-6)
