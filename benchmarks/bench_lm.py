"""Speed of the language-model task against minimal hand-written PyTorch, in one process.

    python benchmarks/bench_lm.py [--threads 2] [--steps 60] [--skip-memory]

1. Training: rnncli's Trainer on recipes/shakespeare.yaml's model, batch and sequence
   length vs a hand-written loop (same Embedding -> LSTM -> Linear, Adam, clipping,
   dropout, truncated BPTT with a carried state). Tokens/s of both and the ratio.
2. Generation at batch 1: `rnncli.api.generate` vs the fastest hand-written incremental
   loop (LSTMCell steps on the same weights, multinomial sampling), and, for reference,
   nn.LSTM called once per token.
3. Peak memory (max RSS) of `rnn train` on a 200 MB text (tiny-shakespeare repeated).

Run it alone: another busy process on 2 cores makes every figure wrong.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from rnncli import api
from rnncli.config import load_recipe
from rnncli.tasks.generate import task as lm
from rnncli.training.trainer import Trainer

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
from clock import StepClock  # noqa: E402

RECIPE = ROOT / "recipes" / "shakespeare.yaml"


def rnncli_training(steps: int, tmp: Path, device: str = "cpu", amp: bool = False) -> float:
    recipe = load_recipe(
        RECIPE,
        [
            f"training.max_steps={steps}",
            "training.eval_every=100000",
            "training.checkpoint_every=100000",
            "training.eval_max_batches=1",
            f"training.device={device}",
            f"training.mixed_precision={str(amp).lower()}",
        ],
    )
    torch.manual_seed(0)
    plan = lm.prepare(recipe, tmp, None)
    clock = StepClock()
    meta = {"task": "generate", "recipe": recipe.model_dump(mode="json")}
    Trainer(plan, recipe.training, tmp, meta, [clock]).fit()
    return clock.rate()


class HandLM(nn.Module):
    def __init__(self, vocab: int, emb: int, hidden: int, layers: int, dropout: float) -> None:
        super().__init__()
        self.emb = nn.Embedding(vocab, emb)
        self.lstm = nn.LSTM(emb, hidden, layers, dropout=dropout, batch_first=True)
        self.drop = nn.Dropout(dropout)
        self.out = nn.Linear(hidden, vocab)

    def forward(self, x, state=None):
        y, state = self.lstm(self.drop(self.emb(x)), state)
        return self.out(self.drop(y)), state


def hand_training(steps: int, device: str = "cpu", amp: bool = False) -> float:
    """The same model, batch and window in a plain loop; on CUDA with `amp`, under
    bf16 autocast (what a user would write on a GPU that has it)."""
    recipe = load_recipe(RECIPE)
    m, t = recipe.model, recipe.training
    text = (ROOT / recipe.data.train).read_text()
    chars = sorted(set(text))
    ids = torch.tensor([chars.index(c) for c in text[:400_000]], dtype=torch.long)
    rows = (len(ids) - 1) // t.batch_size
    x_all = ids[: rows * t.batch_size].view(t.batch_size, rows).to(device)
    y_all = ids[1 : rows * t.batch_size + 1].view(t.batch_size, rows).to(device)
    torch.manual_seed(0)
    model = HandLM(len(chars) + 1, m.embedding_dim, m.hidden_size, m.num_layers, m.dropout)
    model.to(device)
    cast = torch.autocast("cuda", dtype=torch.bfloat16, enabled=amp)
    opt = torch.optim.Adam(model.parameters(), lr=t.lr)
    state, marks = None, []
    for step in range(steps):
        col = (step * t.seq_length) % (rows - t.seq_length)
        x = x_all[:, col : col + t.seq_length]
        y = y_all[:, col : col + t.seq_length]
        if state is not None:
            state = tuple(s.detach() for s in state)
        with cast:
            logits, state = model(x, state)
            loss = nn.functional.cross_entropy(logits.flatten(0, 1), y.flatten())
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), t.clip_grad_norm)
        opt.step()
        if (step + 1) % 10 == 0:
            float(loss.detach())
            marks.append((time.perf_counter(), (step + 1) * x.numel()))
    (t0, u0), (t1, u1) = marks[0], marks[-1]
    return (u1 - u0) / (t1 - t0)


def hand_generation(lstm: nn.LSTM, emb: nn.Embedding, head: nn.Linear, n: int, mode: str) -> float:
    """Hand-written batch-1 sampling loops on the same weights.

    mode "cells": nn.LSTMCell modules; "functional": torch.lstm_cell on the fused module's
    weights (no module call); "fused": nn.LSTM called once per token.
    """
    layers = lstm.num_layers
    gen = torch.Generator().manual_seed(0)
    names = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
    weights = [[getattr(lstm, f"{name}_l{i}") for name in names] for i in range(layers)]
    with torch.inference_mode():
        steppers = []
        for i in range(layers):
            cell = nn.LSTMCell(lstm.input_size if i == 0 else lstm.hidden_size, lstm.hidden_size)
            for name, w in zip(names, weights[i], strict=True):
                getattr(cell, name).copy_(w)
            steppers.append(cell)
        hs = [(torch.zeros(1, lstm.hidden_size), torch.zeros(1, lstm.hidden_size))] * layers
        state = None
        tok = torch.zeros(1, dtype=torch.long)
        start = time.perf_counter()
        for _ in range(n):
            x = emb(tok)
            if mode == "fused":
                y, state = lstm(x.unsqueeze(1), state)
                x = y[:, 0]
            else:
                for i in range(layers):
                    if mode == "cells":
                        hs[i] = steppers[i](x, hs[i])
                    else:
                        hs[i] = torch.lstm_cell(x, hs[i], *weights[i])
                    x = hs[i][0]
            probs = head(x).softmax(-1)
            tok = torch.multinomial(probs, 1, generator=gen).squeeze(1)
        return n / (time.perf_counter() - start)


def generation(loaded: api.Loaded, n: int) -> dict[str, float]:
    model = loaded.model
    start = time.perf_counter()
    count = sum(1 for _ in api.generate(loaded, "He ate", length=n, temperature=1.0, rng_seed=0))
    ours = count / (time.perf_counter() - start)
    lstm = model.rnn.rnn  # the very same weights
    out = {"rnncli": ours}
    for mode in ("cells", "functional", "fused"):
        out[mode] = hand_generation(lstm, model.embedding, model.head, n, mode)
    return out


def peak_memory_mb(size_mb: int, threads: int) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        big = Path(tmp) / "big.txt"
        text = (ROOT / "sample_data" / "tinyshakespeare.txt").read_bytes()
        with open(big, "wb") as handle:
            for _ in range(size_mb * 1_000_000 // len(text) + 1):
                handle.write(text)
        cmd = [
            sys.executable,
            "-m",
            "rnncli",
            "train",
            str(RECIPE),
            "-q",
            "-o",
            f"{tmp}/run",
            "--threads",
            str(threads),
            "--set",
            f"data.train={big}",
            "--set",
            "training.max_steps=30",
            "--set",
            "training.eval_max_batches=5",
            "--set",
            "training.eval_every=30",
        ]
        start = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        seconds = time.perf_counter() - start
        print(f"  {big.stat().st_size / 1e6:.0f} MB file, 30 steps, {seconds:.0f} s wall")
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--steps", type=int, default=150)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--gen-tokens", type=int, default=1500)
    parser.add_argument("--memory-mb", type=int, default=200)
    parser.add_argument("--skip-memory", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {args.threads} threads, recipe {RECIPE.name}")

    ours, hand = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(args.rounds):  # interleaved and paired, so drift hits both alike
            ours.append(rnncli_training(args.steps, Path(tmp)))
            hand.append(hand_training(args.steps))
    o, h = statistics.median(ours), statistics.median(hand)
    ratio = statistics.median(a / b for a, b in zip(ours, hand, strict=True))
    print(
        f"training   rnncli {o:9,.0f} tok/s   hand-written {h:9,.0f} tok/s   ratio {ratio:.3f}"
        f"   (median of {args.rounds} paired rounds of {args.steps} steps;"
        f" per-round ratios {', '.join(f'{a / b:.2f}' for a, b in zip(ours, hand, strict=True))})"
    )

    torch.set_num_threads(1)
    loaded = api.load(None, "generate")
    runs = [generation(loaded, args.gen_tokens) for _ in range(args.rounds)]
    # Best of the interleaved rounds: at ~0.3 ms a token, a noisy neighbour only ever
    # slows a round down, so the fastest round is each loop's own speed.
    g = {k: max(r[k] for r in runs) for k in runs[0]}
    fastest = max(g["cells"], g["functional"])
    print(
        f"generation rnncli {g['rnncli']:9,.0f} tok/s   fastest hand-written {fastest:9,.0f}"
        f" tok/s   ratio {g['rnncli'] / fastest:.3f}   (batch 1, 1 thread, best of {args.rounds}"
        f" rounds; hand-written nn.LSTMCell {g['cells']:,.0f}, torch.lstm_cell"
        f" {g['functional']:,.0f}, nn.LSTM per token {g['fused']:,.0f} tok/s)"
    )
    torch.set_num_threads(args.threads)

    if not args.skip_memory:
        mb = peak_memory_mb(args.memory_mb, args.threads)
        print(
            f"memory     peak RSS of `rnn train` on a {args.memory_mb} MB text: {mb:,.0f} MB"
            f" (limit 1,500 MB)"
        )


if __name__ == "__main__":
    np.set_printoptions(precision=3)
    main()
