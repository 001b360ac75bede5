"""`rnn classify`: one label per input line, in input order, streamed in batches."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import typer

from rnncli.cli.common import (
    DeviceOpt,
    ModelOpt,
    QuietOpt,
    ThreadsOpt,
    check_format,
    load_model,
)


def classify(
    file: Path | None = typer.Argument(
        None, help="Text file, one input per line; - or none: stdin."
    ),
    model: Path | None = ModelOpt,
    fmt: str = typer.Option(
        "tsv",
        "--format",
        "-f",
        help="tsv (label, probability, text), jsonl (all probabilities) or label.",
    ),
    top_k: int = typer.Option(1, "--top-k", min=1, help="Labels per line (tsv and jsonl)."),
    batch_size: int = typer.Option(256, "--batch-size", min=1, help="Lines per model call."),
    trace: bool = typer.Option(
        False, "--trace", help="For the first line, print the probabilities after each token."
    ),
    device: str = DeviceOpt,
    threads: int | None = ThreadsOpt,
    quiet: bool = QuietOpt,
) -> None:
    """Classify each input line; output keeps the input order, one line per line."""
    from rnncli import api

    check_format(fmt, ("tsv", "jsonl", "label"))
    loaded = load_model(model, "classify", device, threads, quiet)
    lines = api.read_lines(file)
    out = sys.stdout
    if trace:
        first = next(iter(lines), None)
        if first is None:
            return
        for token, probs in api.trace(loaded, first):
            best = max(probs, key=probs.__getitem__)
            if fmt == "jsonl":
                out.write(json.dumps({"token": token, "probabilities": probs}) + "\n")
            else:
                out.write(f"{token}\t{best}\t{probs[best]:.4f}\n")
        return
    for text, probs in api.classify(loaded, lines, batch_size):
        ranked = sorted(probs.items(), key=lambda kv: -kv[1])[:top_k]
        if fmt == "label":
            out.write(ranked[0][0] + "\n")
        elif fmt == "jsonl":
            out.write(
                json.dumps({"text": text, "label": ranked[0][0], "probabilities": probs}) + "\n"
            )
        else:
            cells = "\t".join(f"{label}\t{p:.4f}" for label, p in ranked)
            out.write(f"{cells}\t{text}\n")
