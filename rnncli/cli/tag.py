"""`rnn tag`: one tagged output per input line (or CoNLL sentence), in order, streamed."""

from __future__ import annotations

import json
import math
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

EXAMPLES = examples(  # the end of --help
    'echo "Tim Cook visited Paris with the Apple team" | rnn tag',
    "rnn tag --model runs/wnut17 tweets.txt --format spans",
    "rnn tag --input conll --format jsonl sample_data/wnut17/test.conll | head -3",
)


def tag(
    file: Path | None = typer.Argument(
        None, help="Text, one sentence per line (or CoNLL with --input conll); - or none: stdin."
    ),
    model: Path | None = ModelOpt,
    input_format: str = typer.Option(
        "text",
        "--input",
        "-i",
        help="text (raw lines, tokenised by the model) or conll (token first, blank line "
        "between sentences).",
    ),
    fmt: str = typer.Option(
        "conll",
        "--format",
        "-f",
        help="conll (token<TAB>tag, blank line after each sentence), jsonl (tokens, tags, "
        "entities with offsets and confidence) or spans (one line per input: type<TAB>text ...).",
    ),
    batch_size: int = typer.Option(64, "--batch-size", min=1, help="Sentences per model call."),
    device: str = DeviceOpt,
    threads: int | None = ThreadsOpt,
    quiet: bool = QuietOpt,
) -> None:
    """Tag every token of every input sentence; output keeps the input order."""
    from rnncli import api
    from rnncli.errors import UsageError

    check_format(fmt, ("conll", "jsonl", "spans"))
    if input_format not in ("text", "conll"):  # check_format would say --format
        raise UsageError(f"--input must be text or conll, not {input_format!r}")
    loaded = load_model(model, "tag", device, threads, quiet)
    if fmt == "spans" and loaded.state.data_scheme == "none":
        raise UsageError("--format spans needs entity tags; this model tags plain labels")
    where = "stdin" if file is None or str(file) == "-" else str(file)
    out = sys.stdout
    for item in api.tag(
        loaded, api.read_lines(file), batch_size, input_format, fmt == "jsonl", where
    ):
        if fmt == "conll":
            out.write("".join(f"{t}\t{g}\n" for t, g in zip(item.tokens, item.tags, strict=True)))
            out.write("\n")
        elif fmt == "spans":
            out.write("\t".join(f"{e.type}\t{e.text}" for e in item.entities) + "\n")
        else:
            entities = [
                {
                    "type": e.type,
                    "text": e.text,
                    **(
                        {"start": e.char_start, "end": e.char_end}
                        if e.char_start is not None
                        else {}
                    ),
                    "token_start": e.start,
                    "token_end": e.end,
                    "confidence": _rounded(e.confidence),
                }
                for e in item.entities
            ]
            record = {
                **({"text": item.text} if item.text is not None else {}),
                "tokens": item.tokens,
                "tags": item.tags,
                "confidence": [_rounded(p) for p in item.confidence],
                "entities": entities,
            }
            out.write(json.dumps(record, ensure_ascii=False) + "\n")


def _rounded(value: float) -> float | None:
    return None if math.isnan(value) else round(value, 4)
