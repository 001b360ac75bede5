"""Throughput of `rnn classify` against hand-written batched PyTorch inference.

    python benchmarks/bench_classify.py [--model RUN] [--lines 100000] [--threads 2]

The 1,821 SST-2 test sentences repeated to --lines lines. rnncli: `api.classify` on
the raw lines (tokenization, length-sorted batches, order restored) and the `rnn
classify` command on a file (start-up, reading and writing included). Hand-written:
the same model called on pre-tokenized, pre-padded batches in input order. Also the
peak memory of `rnn classify` on 10x fewer lines vs all of them (streaming: flat).
Without --model, the sentiment recipe is trained for 2 epochs first (speed only).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from rnncli import api
from rnncli.data.batching import pad_batch
from rnncli.tasks.classify import task as cls

ROOT = Path(__file__).resolve().parents[1]


def peak_rss_mb(cmd: list[str], stdin: Path) -> float:
    probe = (
        "import resource, subprocess, sys; "
        f"subprocess.run({cmd!r}, stdin=open({str(stdin)!r}), stdout=subprocess.DEVNULL, "
        "check=True); print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    return int(out.stdout.strip()) / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path)
    parser.add_argument("--lines", type=int, default=100_000)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        model = args.model or api.train(
            ROOT / "recipes" / "sentiment.yaml",
            ["training.epochs=2", "data.test=null"],
            output=Path(tmp) / "run",
        )
        loaded = api.load(model, "classify", device="cpu")
        base = [
            line.split("\t")[0]
            for line in (ROOT / "sample_data" / "sst2_test.tsv").read_text().splitlines()[1:]
        ]
        lines = (base * (args.lines // len(base) + 1))[: args.lines]
        text_file = Path(tmp) / "lines.txt"
        text_file.write_text("".join(x + "\n" for x in lines))

        start = time.perf_counter()
        n = sum(1 for _ in api.classify(loaded, lines, args.batch_size))
        ours = n / (time.perf_counter() - start)

        codec = cls.Codec(loaded.state)
        seqs = [codec.encode(x) for x in lines]  # pre-tokenized: not timed
        batches = [
            pad_batch(seqs[b : b + args.batch_size]) for b in range(0, len(seqs), args.batch_size)
        ]
        net = loaded.model
        start = time.perf_counter()
        with torch.inference_mode():
            for tokens, lengths in batches:
                net(tokens, lengths).softmax(-1)
        hand = len(lines) / (time.perf_counter() - start)

        cmd = [
            sys.executable,
            "-m",
            "rnncli",
            "classify",
            "-m",
            str(model),
            "-q",
            "--threads",
            str(args.threads),
            str(text_file),
        ]
        start = time.perf_counter()
        subprocess.run(cmd, stdout=subprocess.DEVNULL, check=True)
        cli = len(lines) / (time.perf_counter() - start)

        small = Path(tmp) / "small.txt"
        small.write_text("".join(x + "\n" for x in lines[: len(lines) // 10]))
        stdin_cmd = cmd[:-1]
        rss_small, rss_all = peak_rss_mb(stdin_cmd, small), peak_rss_mb(stdin_cmd, text_file)

    print(
        f"torch {torch.__version__}, {args.threads} threads, {len(lines):,} lines, "
        f"batch {args.batch_size}"
    )
    print(f"api.classify   {ours:9,.0f} lines/s (tokenization included)")
    print(f"rnn classify   {cli:9,.0f} lines/s (process start, file in, stdout out)")
    print(f"hand-written   {hand:9,.0f} lines/s (pre-tokenized, pre-padded, input order)")
    print(f"ratio api/hand {ours / hand:.3f}   ratio cli/hand {cli / hand:.3f}   (goal >= 0.7)")
    print(
        f"peak RSS of rnn classify: {rss_small:,.0f} MB on {len(lines) // 10:,} lines, "
        f"{rss_all:,.0f} MB on {len(lines):,} lines"
    )


if __name__ == "__main__":
    main()
