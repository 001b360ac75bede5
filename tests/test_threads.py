"""Floats under other thread counts and batch shapes: equal within a tolerance, never bit for bit.

Each model of each task is run on the same inputs with 1 and 2 torch threads, and alone
against inside a larger batch. The kernels differ (blocking, reduction order), so the
results may differ in the last bits on some CPUs; they must agree to float32 rounding.
`make test` also reruns every test marked `threads` with `--threads 2`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest
import torch

from rnncli.models.classifier import Classifier
from rnncli.models.forecaster import Forecaster
from rnncli.models.language_model import LanguageModel
from rnncli.models.seq2seq import Seq2Seq
from rnncli.tasks.classify import task as cls

pytestmark = pytest.mark.threads
TOL = {"rtol": 1e-5, "atol": 1e-6}


@contextmanager
def threads(n: int) -> Iterator[None]:
    old = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(old)


def _both(run: Callable[[], torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    with threads(1), torch.inference_mode():
        one = run()
    with threads(2), torch.inference_mode():
        two = run()
    return one, two


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_language_model_under_one_and_two_threads(cell: str) -> None:
    torch.manual_seed(0)
    model = LanguageModel(90, 32, 96, 2, cell=cell).eval()
    tokens = torch.randint(0, 90, (16, 40))
    one, two = _both(lambda: model(tokens)[0])
    torch.testing.assert_close(one, two, **TOL)


def test_classifier_under_threads_and_batch_shapes() -> None:
    torch.manual_seed(0)
    model = Classifier(200, 3, 32, 64, num_layers=2, cell="lstm", bidirectional=True).eval()
    gen = torch.Generator().manual_seed(1)
    seqs = [torch.randint(1, 200, (int(n),), generator=gen).tolist() for n in range(3, 40, 3)]
    one, two = _both(lambda: torch.from_numpy(cls.predict_ids(model, seqs, 4)))
    torch.testing.assert_close(one, two, **TOL)
    alone = torch.from_numpy(cls.predict_ids(model, seqs[:1], 1))
    torch.testing.assert_close(alone[0], one[0], **TOL)


@pytest.mark.parametrize("mode", ["direct", "autoregressive"])
def test_forecaster_under_threads_and_batch_shapes(mode: str) -> None:
    torch.manual_seed(0)
    model = Forecaster(2, 1, 1, horizon=6, hidden_size=48, num_layers=2, mode=mode).eval()
    history, future = torch.randn(32, 24, 4), torch.randn(32, 6, 1)
    one, two = _both(lambda: model(history, future))
    torch.testing.assert_close(one, two, **TOL)
    with torch.inference_mode():
        alone = model(history[:1], future[:1])
    torch.testing.assert_close(alone[0], one[0], **TOL)


def test_translator_under_one_and_two_threads() -> None:
    torch.manual_seed(0)
    model = Seq2Seq(60, 70, 32, 64, num_layers=2, attention="additive", pad_id=1).eval()
    source = torch.randint(4, 60, (8, 15))
    lengths = torch.tensor([15, 14, 12, 12, 9, 7, 5, 3])
    for row, n in enumerate(lengths.tolist()):
        source[row, n:] = 1
    target = torch.randint(4, 70, (8, 11))
    one, two = _both(lambda: model(source, lengths, target))
    torch.testing.assert_close(one, two, **TOL)
