"""Seq2seq training speed against a hand-written PyTorch loop, and decoding speed.

    python benchmarks/bench_translate.py [--threads 2] [--steps 150] [--rounds 3]
                                         [--model RUN] [--sentences 1000]

Training: recipes/eng-fra.yaml (joint BPE 8k, GRU bi-encoder 2 x 128, decoder 256,
additive attention, shared and tied embeddings, dropout 0.2, label smoothing 0.1, batch
64 bucketed by length) through rnncli's Trainer, against a minimal loop of the same
model written with plain torch.nn on the same batches, prebuilt as tensors (so the
hand-written side pays no batching cost). Interleaved paired rounds; target tokens/s
and the median ratio.
Decoding: `api.translate` over the first --sentences sources of the run's test.tsv (or
the built-in model on the Tatoeba pairs), batch 64, greedy and beam 5: sentences/s.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from rnncli import api
from rnncli.config import load_recipe
from rnncli.data.pairs import read_pairs
from rnncli.tasks.translate import task as tr
from rnncli.training.trainer import Trainer

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
from clock import StepClock  # noqa: E402

RECIPE = ROOT / "recipes" / "eng-fra.yaml"
OVERRIDES = [
    "training.epochs=1000",
    "training.eval_every=100000",
    "training.checkpoint_every=100000",
    "training.eval_bleu_sentences=0",
    "training.max_minutes=null",
    "training.patience=null",
    "training.device=cpu",
]


def rnncli_training(plan, recipe, steps: int, tmp: Path) -> float:  # type: ignore[no-untyped-def]
    torch.manual_seed(0)
    plan.model = tr.build_model(recipe.model, tr.TaskData.from_json(plan.meta))
    recipe.training.max_steps = steps
    clock = StepClock()
    meta = {"task": "translate", "recipe": recipe.model_dump(mode="json")}
    Trainer(plan, recipe.training, tmp, meta, [clock]).fit()
    return clock.rate()


class HandSeq2Seq(nn.Module):
    """The recipe's model in plain torch.nn: what a user would write by hand."""

    def __init__(self, vocab: int, emb: int, hidden: int, dropout: float, pad: int) -> None:
        super().__init__()
        self.emb = nn.Embedding(vocab, emb, padding_idx=pad)
        self.enc = nn.GRU(emb, hidden // 2, batch_first=True, bidirectional=True)
        self.bridge = nn.Linear(hidden, hidden)
        self.dec = nn.GRU(emb, hidden, batch_first=True)
        self.wq = nn.Linear(hidden, hidden, bias=False)
        self.wk = nn.Linear(hidden, hidden)
        self.v = nn.Linear(hidden, 1, bias=False)
        self.combine = nn.Linear(2 * hidden, hidden, bias=False)
        self.out = nn.Linear(emb, vocab)
        self.out.weight = self.emb.weight
        self.drop = nn.Dropout(dropout)

    def forward(self, src, lengths, tgt_in):  # type: ignore[no-untyped-def]
        x = self.drop(self.emb(src))
        packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
        out, h = self.enc(packed)
        memory, _ = pad_packed_sequence(out, batch_first=True, total_length=src.shape[1])
        h0 = torch.tanh(self.bridge(torch.cat([h[0], h[1]], -1)))[None]
        dec, _ = self.dec(self.drop(self.emb(tgt_in)), h0)
        keys = self.wk(memory)
        scores = self.v(torch.tanh(self.wq(dec)[:, :, None] + keys[:, None])).squeeze(-1)
        steps = torch.arange(src.shape[1], device=src.device)
        mask = steps[None, :] < lengths.to(src.device)[:, None]
        weights = scores.masked_fill(~mask[:, None], float("-inf")).softmax(-1)
        ctx = torch.bmm(weights, memory)
        att = torch.tanh(self.combine(torch.cat([ctx, dec], -1)))
        return self.out(self.drop(att))


def hand_training(  # type: ignore[no-untyped-def]
    batches: list, recipe, vocab: int, steps: int, device: str = "cpu", amp: bool = False
) -> float:
    """The batches already on the device (lengths stay on the CPU, as packing wants);
    with `amp`, bf16 autocast on CUDA."""
    m, t = recipe.model, recipe.training
    torch.manual_seed(0)
    model = HandSeq2Seq(vocab, m.embedding_dim, m.hidden_size, m.dropout, tr.PAD_ID).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=t.lr)
    counts = [int((b[3] != tr.PAD_ID).sum()) for b in batches]
    batches = [(s.to(device), n, g.to(device), y.to(device)) for s, n, g, y in batches]
    cast = torch.autocast("cuda", dtype=torch.bfloat16, enabled=amp)
    marks, units = [], 0
    for step in range(steps):
        src, lengths, given, gold = batches[step % len(batches)]
        with cast:
            logits = model(src, lengths, given)
            loss = F.cross_entropy(
                logits.reshape(-1, vocab).float(),
                gold.reshape(-1),
                ignore_index=tr.PAD_ID,
                label_smoothing=t.label_smoothing,
            )
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), t.clip_grad_norm)
        opt.step()
        units += counts[step % len(batches)]
        if (step + 1) % 10 == 0:
            float(loss.detach())
            marks.append((time.perf_counter(), units))
    (t0, u0), (t1, u1) = marks[0], marks[-1]
    return (u1 - u0) / (t1 - t0)


def decoding(model: str | None, sentences: int, threads: int) -> None:
    loaded = api.load(model, "translate", device="cpu", threads=threads)
    where = Path(model) / "test.tsv" if model else None
    if where is not None and where.is_file():
        pairs = tr.read_eval_pairs(where, {}, as_trained=True)
    else:
        pairs = read_pairs(str(ROOT / "sample_data" / "eng-fra.tsv.gz"))[-20000:]
    sources = [s for s, _ in pairs[:sentences]]
    print(f"decoding {len(sources)} sentences with {model or 'the built-in model'}, batch 64")
    for beam in (1, 5):
        start = time.perf_counter()
        out = list(api.translate(loaded, sources, beam=beam, batch_size=64))
        took = time.perf_counter() - start
        words = sum(len(r.text.split()) for r in out)
        name = "greedy" if beam == 1 else f"beam {beam}"
        print(f"  {name:7s} {len(out) / took:8,.0f} sentences/s   ({words / took:,.0f} words/s)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--steps", type=int, default=150)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--model", default=None, help="Run to decode with (default built-in).")
    parser.add_argument("--sentences", type=int, default=1000)
    parser.add_argument("--skip-training", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {args.threads} threads, recipe {RECIPE.name}")
    if not args.skip_training:
        with tempfile.TemporaryDirectory() as tmp:
            recipe = load_recipe(RECIPE, OVERRIDES)
            plan = tr.prepare(recipe, Path(tmp), None)  # type: ignore[arg-type]
            first = list(plan.batches(0, 0))[: args.steps]
            prebuilt = [b[:4] for b in first]
            vocab = len(plan.meta["source"]["vocab"])
            ours, hand = [], []
            for i in range(args.rounds):  # interleaved and paired: drift hits both alike
                ours.append(rnncli_training(plan, recipe, args.steps, Path(tmp) / f"r{i}"))
                hand.append(hand_training(prebuilt, recipe, vocab, args.steps))
        o, h = statistics.median(ours), statistics.median(hand)
        ratios = [a / b for a, b in zip(ours, hand, strict=True)]
        print(
            f"training   rnncli {o:7,.0f} target tok/s   hand-written {h:7,.0f} target tok/s"
            f"   ratio {statistics.median(ratios):.3f}   (median of {args.rounds} paired rounds"
            f" of {args.steps} steps; per-round {', '.join(f'{r:.2f}' for r in ratios)})"
        )
    decoding(args.model, args.sentences, args.threads)


if __name__ == "__main__":
    main()
