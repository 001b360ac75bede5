"""Throughput of `rnn tag` (text in, tags out) against a hand-written PyTorch loop.

    python benchmarks/bench_tag.py [--model RUN] [--lines 20000] [--threads 2]

The 1,287 WNUT-17 test sentences as raw text lines (tokens joined by spaces), repeated
to --lines. Both sides do the whole job, timed from text to written tags: split each
line with the tagger's token regex, look up word and character ids, pad batches of
similar lengths, run the same model (the same weights, CRF Viterbi decoding) and write
`token<TAB>tag` lines. rnncli: `api.tag` (what `rnn tag` runs) and the `rnn tag` command
on a file (process start-up included, and without it: the time of the same
command on an empty file taken off). Hand-written: the minimal loop a PyTorch user
writes for it, with numpy padding and length sorting (no rnncli code but the model).
Without --model, recipes/wnut17.yaml is trained for 3 epochs first (speed only).
"""

from __future__ import annotations

import argparse
import io
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from rnncli import api
from rnncli.tasks.tag.schema import TAG_PATTERN

ROOT = Path(__file__).resolve().parents[1]


def hand_written(net: torch.nn.Module, state, lines: list[str], batch: int, out) -> int:
    """Text lines -> `token<TAB>tag` blocks on `out`; returns the tokens tagged."""
    pattern = re.compile(state.token_pattern or TAG_PATTERN)
    words = {w: i for i, w in enumerate(state.vocab)}
    chars = {c: i + 1 for i, c in enumerate(state.chars)}
    tags, cap, lower = list(state.tags), state.max_word_length, state.lowercase
    total = 0
    with torch.inference_mode():
        for g in range(0, len(lines), batch * 4):
            group = [pattern.findall(line) for line in lines[g : g + batch * 4]]
            order = sorted((i for i in range(len(group)) if group[i]), key=lambda i: len(group[i]))
            found: list[list[int]] = [[] for _ in group]
            for b in range(0, len(order), batch):
                idx = order[b : b + batch]
                time_ = max(len(group[i]) for i in idx)
                width = min(cap, max(len(w) for i in idx for w in group[i]))
                ids = np.zeros((len(idx), time_), dtype=np.int64)
                letters = np.zeros((len(idx), time_, width), dtype=np.int64)
                sizes = np.zeros((len(idx), time_), dtype=np.int64)
                for r, i in enumerate(idx):
                    for j, w in enumerate(group[i]):
                        ids[r, j] = words.get(w.lower() if lower else w, 0)
                        cs = [chars.get(c, 1) for c in w[:cap]]
                        letters[r, j, : len(cs)] = cs
                        sizes[r, j] = len(cs)
                lengths = torch.tensor([len(group[i]) for i in idx])
                scores = net(
                    torch.from_numpy(ids),
                    lengths,
                    torch.from_numpy(letters),
                    torch.from_numpy(sizes),
                )
                mask = torch.arange(time_)[None, :] < lengths[:, None]
                best = net.crf.viterbi(scores, mask)[0].tolist()
                for r, i in enumerate(idx):
                    found[i] = best[r][: len(group[i])]
            for tokens, best in zip(group, found, strict=True):
                out.write(
                    "".join(f"{w}\t{tags[t]}\n" for w, t in zip(tokens, best, strict=True)) + "\n"
                )
                total += len(tokens)
    return total


def with_api(loaded, lines: list[str], batch: int, out) -> int:
    total = 0
    for item in api.tag(loaded, lines, batch):
        out.write(
            "".join(f"{t}\t{g}\n" for t, g in zip(item.tokens, item.tags, strict=True)) + "\n"
        )
        total += len(item.tokens)
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path)
    parser.add_argument("--lines", type=int, default=20_000)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3, help="best of this many runs")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        model = args.model or api.train(
            ROOT / "recipes" / "wnut17.yaml",
            ["training.epochs=3", "data.test=null"],
            output=Path(tmp) / "run",
        )
        loaded = api.load(model, "tag", device="cpu")
        text = (ROOT / "sample_data" / "wnut17" / "test.conll").read_text(encoding="utf-8")
        base = [" ".join(r.split("\t")[0] for r in s.splitlines()) for s in text.split("\n\n")]
        base = [b for b in base if b]
        lines = (base * (args.lines // len(base) + 1))[: args.lines]
        text_file = Path(tmp) / "lines.txt"
        text_file.write_text("".join(x + "\n" for x in lines), encoding="utf-8")

        ours = hand = 0.0
        for _ in range(args.repeats):  # alternate, so drift in the machine hits both
            sink = io.StringIO()
            start = time.perf_counter()
            tokens = with_api(loaded, lines, args.batch_size, sink)
            ours = max(ours, tokens / (time.perf_counter() - start))
            mine = sink.getvalue()
            sink = io.StringIO()
            start = time.perf_counter()
            tokens_hand = hand_written(loaded.model, loaded.state, lines, args.batch_size, sink)
            hand = max(hand, tokens_hand / (time.perf_counter() - start))
        same = mine == sink.getvalue()

        cmd = [sys.executable, "-m", "rnncli", "tag", "-m", str(model), "-q"]
        cmd += [
            "--threads",
            str(args.threads),
            "--batch-size",
            str(args.batch_size),
            str(text_file),
        ]
        empty = Path(tmp) / "empty.txt"
        empty.write_text("", encoding="utf-8")
        cli_seconds = startup = float("inf")
        for _ in range(args.repeats):
            start = time.perf_counter()
            subprocess.run(cmd, stdout=subprocess.DEVNULL, check=True)
            cli_seconds = min(cli_seconds, time.perf_counter() - start)
            start = time.perf_counter()  # start-up: interpreter, imports, loading the model
            subprocess.run([*cmd[:-1], str(empty)], stdout=subprocess.DEVNULL, check=True)
            startup = min(startup, time.perf_counter() - start)
        cli, steady = tokens / cli_seconds, tokens / (cli_seconds - startup)

    print(
        f"torch {torch.__version__}, {args.threads} threads, {len(lines):,} lines, "
        f"{tokens:,} tokens, batch {args.batch_size}, best of {args.repeats}"
    )
    print(f"api.tag        {ours:9,.0f} tokens/s (text in, token<TAB>tag out)")
    print(f"rnn tag        {cli:9,.0f} tokens/s (process start, file in, stdout out)")
    print(f"rnn tag        {steady:9,.0f} tokens/s without its {startup:.2f} s start-up")
    print(f"hand-written   {hand:9,.0f} tokens/s (same job, minimal PyTorch loop)")
    print(f"same output: {same}")
    print(
        f"ratio api/hand {ours / hand:.3f}   ratio cli/hand {cli / hand:.3f} "
        f"({steady / hand:.3f} without start-up)   (goal >= 0.9)"
    )


if __name__ == "__main__":
    main()
