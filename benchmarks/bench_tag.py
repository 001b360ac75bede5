"""Throughput of `rnn tag` (text in, tags out) against a hand-written PyTorch loop.

    python benchmarks/bench_tag.py [--model RUN] [--lines 20000] [--threads 2] [--device cpu]

The 1,287 WNUT-17 test sentences as raw text lines (tokens joined by spaces), repeated
to --lines. Both sides do the whole job, timed from text to written tags: split each
line with the tagger's token regex, look up word and character ids, pad batches of
similar lengths, run the same model (the same weights, CRF Viterbi decoding) and write
`token<TAB>tag` lines. rnncli: `api.tag` (what `rnn tag` runs) and the `rnn tag` command
on a file, against the hand-written loop run as a program of its own (both pay the
interpreter, the imports and loading the weights; each start-up alone is timed on an
empty file). Hand-written: the minimal loop a PyTorch user
writes for it, with numpy padding and length sorting (no rnncli code but the model).
Without --model, recipes/wnut17.yaml is trained for 3 epochs first (speed only).
`--device cuda` runs both sides on the GPU (the batches are built on the CPU and moved).
"""

from __future__ import annotations

import argparse
import copy
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


def hand_written(
    net: torch.nn.Module, state, lines: list[str], batch: int, out, device: str = "cpu"
) -> int:
    """Text lines -> `token<TAB>tag` blocks on `out`; returns the tokens tagged."""
    pattern = re.compile(state.token_pattern or TAG_PATTERN)
    words = {w: i for i, w in enumerate(state.vocab)}
    chars = {c: i + 1 for i, c in enumerate(state.chars)}
    tags, cap, lower = list(state.tags), state.max_word_length, state.lowercase
    symbols = state.split_prefixes  # '@name' -> '@' 'name' where the model reads it so

    lists = list(state.gazetteers.values())  # word lists: flag the tokens of each match
    entries = [set(e) for e in lists]
    longest = max((e.count(" ") + 1 for known in lists for e in known), default=0)

    def pieces(w: str) -> list[str]:
        return [w[0], w[1:]] if len(w) > 1 and w[0] in symbols and w[1:].strip(symbols) else [w]

    members = getattr(net, "members", None)
    crf = net.crf if members is None else copy.deepcopy(members[0].crf)
    if members is not None:  # an ensemble: Viterbi on mean emissions under the mean CRF
        with torch.no_grad():
            for name in ("start", "end", "transitions"):
                getattr(crf, name).copy_(
                    torch.stack([getattr(m.crf, name) for m in members]).mean(0)
                )
    total = 0
    with torch.inference_mode():
        for g in range(0, len(lines), batch * 4):
            group = [
                [p for w in pattern.findall(line) for p in pieces(w)]
                for line in lines[g : g + batch * 4]
            ]
            order = sorted((i for i in range(len(group)) if group[i]), key=lambda i: len(group[i]))
            found: list[list[int]] = [[] for _ in group]
            for b in range(0, len(order), batch):
                idx = order[b : b + batch]
                time_ = max(len(group[i]) for i in idx)
                width = min(cap, max(len(w) for i in idx for w in group[i]))
                ids = np.zeros((len(idx), time_), dtype=np.int64)
                letters = np.zeros((len(idx), time_, width), dtype=np.int64)
                sizes = np.zeros((len(idx), time_), dtype=np.int64)
                flags = np.zeros((len(idx), time_, len(lists)), dtype=np.float32)
                for r, i in enumerate(idx):
                    low = [w.lower() for w in group[i]]
                    for a in range(len(low) if lists else 0):
                        for b in range(a + 1, min(len(low), a + longest) + 1):
                            key = " ".join(low[a:b])
                            for k, known in enumerate(entries):
                                if key in known:
                                    flags[r, a:b, k] = 1.0
                    for j, w in enumerate(group[i]):
                        ids[r, j] = words.get(w.lower() if lower else w, 0)
                        cs = [chars.get(c, 1) for c in w[:cap]]
                        letters[r, j, : len(cs)] = cs
                        sizes[r, j] = len(cs)
                lengths = torch.tensor([len(group[i]) for i in idx])
                scores = net(
                    torch.from_numpy(ids).to(device),
                    lengths,
                    torch.from_numpy(letters).to(device),
                    torch.from_numpy(sizes).to(device),
                    torch.from_numpy(flags).to(device),
                )
                if members is not None:
                    scores = scores.mean(0)
                mask = (torch.arange(time_)[None, :] < lengths[:, None]).to(device)
                best = crf.viterbi(scores, mask)[0].tolist()
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


def hand_written_process(
    model: Path, text_file: Path, batch: int, threads: int, device: str
) -> None:
    """The hand-written loop as a program of its own (`--hand-written-process`): start,
    load the weights, tag the file to stdout, as `rnn tag` does."""
    torch.set_num_threads(threads)
    loaded = api.load(model, "tag", device=device)
    lines = text_file.read_text(encoding="utf-8").splitlines()
    out = io.TextIOWrapper(sys.stdout.buffer, encoding="utf-8", write_through=False)
    hand_written(loaded.model, loaded.state, lines, batch, out, device)
    out.flush()


def best_seconds(cmd: list[str], repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run(cmd, stdout=subprocess.DEVNULL, check=True)
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hand-written-process", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--model", type=Path)
    parser.add_argument("--lines", type=int, default=20_000)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3, help="best of this many runs")
    parser.add_argument("--device", default="cpu", help="cpu or cuda (both sides)")
    args = parser.parse_args()
    if args.hand_written_process:
        hand_written_process(
            args.model, args.hand_written_process, args.batch_size, args.threads, args.device
        )
        return
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        model = args.model or api.train(
            ROOT / "recipes" / "wnut17.yaml",
            ["training.epochs=3", "data.test=null"],
            output=Path(tmp) / "run",
        )
        loaded = api.load(model, "tag", device=args.device)
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
            tokens_hand = hand_written(
                loaded.model, loaded.state, lines, args.batch_size, sink, args.device
            )
            hand = max(hand, tokens_hand / (time.perf_counter() - start))
        same = mine == sink.getvalue()

        cmd = [sys.executable, "-m", "rnncli", "tag", "-m", str(model), "-q"]
        cmd += [
            "--threads",
            str(args.threads),
            "--batch-size",
            str(args.batch_size),
            "--device",
            args.device,
            str(text_file),
        ]
        empty = Path(tmp) / "empty.txt"
        empty.write_text("", encoding="utf-8")
        hand_cmd = [sys.executable, __file__, "--model", str(model), "--threads", str(args.threads)]
        hand_cmd += ["--batch-size", str(args.batch_size), "--device", args.device]
        hand_cmd += ["--hand-written-process"]
        cli_seconds = startup = hand_seconds = hand_startup = float("inf")
        for _ in range(args.repeats):  # alternate, so drift in the machine hits both
            cli_seconds = min(cli_seconds, best_seconds(cmd, 1))
            hand_seconds = min(hand_seconds, best_seconds([*hand_cmd, str(text_file)], 1))
            # start-up: interpreter, imports, loading the model (the same command on no input)
            startup = min(startup, best_seconds([*cmd[:-1], str(empty)], 1))
            hand_startup = min(hand_startup, best_seconds([*hand_cmd, str(empty)], 1))
        cli, steady = tokens / cli_seconds, tokens / (cli_seconds - startup)
        hand_cli = tokens / hand_seconds

    print(
        f"torch {torch.__version__}, {args.device}, {args.threads} threads, {len(lines):,} lines, "
        f"{tokens:,} tokens, batch {args.batch_size}, best of {args.repeats}"
    )
    print(f"api.tag        {ours:9,.0f} tokens/s (text in, token<TAB>tag out)")
    print(f"rnn tag        {cli:9,.0f} tokens/s (process start, file in, stdout out)")
    print(f"rnn tag        {steady:9,.0f} tokens/s without its {startup:.2f} s start-up")
    print(f"hand-written   {hand:9,.0f} tokens/s (same job, minimal PyTorch loop, in process)")
    print(
        f"hand-written   {hand_cli:9,.0f} tokens/s as a program (process start, file in, stdout"
        f" out; {hand_startup:.2f} s start-up)"
    )
    print(f"same output: {same}")
    print(
        f"ratio api/hand {ours / hand:.3f}   ratio rnn tag/hand-written program"
        f" {cli / hand_cli:.3f}   (goal >= 0.9; rnn tag without start-up against the"
        f" in-process loop: {steady / hand:.3f})"
    )


if __name__ == "__main__":
    main()
