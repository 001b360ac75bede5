"""`rnn classify`: one label per input line, in input order, streamed in batches."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

import typer

from rnncli.cli.common import (
    DeviceOpt,
    ModelOpt,
    QuietOpt,
    ThreadsOpt,
    check_format,
    examples,
    load_model,
)

log = logging.getLogger("rnncli")


EXAMPLES = examples(  # the end of --help
    'echo "What a wonderful, moving film." | rnn classify',
    "rnn classify --model runs/sentiment reviews.txt --format json",
    "cut -f1 sample_data/sst2_test.tsv | rnn classify --top-k 2 | head",
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
    top_k: int | None = typer.Option(
        None, "--top-k", min=1, help="Labels per line (default 1; multi-label: all passing)."
    ),
    threshold: float | None = typer.Option(
        None, "--threshold", help="Multi-label: probability a label needs (default: recipe's)."
    ),
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
    multi, sep = loaded.state.multi_label, loaded.state.label_separator
    api.decide(loaded, {}, top_k, threshold)  # a bad --threshold fails before any work
    blank: list[int] = []
    for number, (text, probs) in enumerate(api.classify(loaded, lines, batch_size), start=1):
        if not probs:  # a blank line: an empty line (jsonl: nulls) keeps the alignment
            blank.append(number)
            if fmt == "jsonl":
                out.write(json.dumps({"text": text, "label": None, "probabilities": None}) + "\n")
            else:
                out.write("\n")
            continue
        chosen = api.decide(loaded, probs, top_k, threshold)
        if multi:
            names, values = sep.join(x for x, _ in chosen), sep.join(f"{p:.4f}" for _, p in chosen)
            if fmt == "label":
                out.write(names + "\n")
            elif fmt == "jsonl":
                record = {"text": text, "labels": [x for x, _ in chosen], "probabilities": probs}
                out.write(json.dumps(record) + "\n")
            else:
                out.write(f"{names}\t{values}\t{text}\n")
        elif fmt == "label":
            out.write(chosen[0][0] + "\n")
        elif fmt == "jsonl":
            out.write(
                json.dumps({"text": text, "label": chosen[0][0], "probabilities": probs}) + "\n"
            )
        else:
            cells = "\t".join(f"{label}\t{p:.4f}" for label, p in chosen)
            out.write(f"{cells}\t{text}\n")
    if blank:
        first = ", ".join(map(str, blank[:5])) + (", ..." if len(blank) > 5 else "")
        log.warning(
            "%d blank input line(s) (line %s) got an empty output line in their place",
            len(blank),
            first,
        )
