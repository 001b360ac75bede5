"""`rnn generate`: sample text from a language model, primed with --seed."""

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
    examples,
    load_model,
)

EXAMPLES = examples(  # the end of --help
    'rnn generate --seed "He ate" -n 300 --temperature 0.7',
    'rnn generate --model runs/shakespeare --seed "ROMEO:" --num-samples 3',
    'echo "To be" | rnn generate --seed - --stream',
)


def _unescape(text: str | None) -> str | None:
    if text is None:
        return None
    return text.replace("\\\\", "\0").replace("\\n", "\n").replace("\\t", "\t").replace("\0", "\\")


def generate(
    seed: str = typer.Option(
        "", "--seed", help="Priming text; '-' reads one seed per stdin line (one output line each)."
    ),
    model: Path | None = ModelOpt,
    length: int = typer.Option(200, "--length", "-n", min=0, help="Tokens to generate."),
    temperature: float = typer.Option(
        0.8, "--temperature", "-t", min=0.0, help="Sampling temperature; 0 is greedy."
    ),
    top_k: int | None = typer.Option(None, "--top-k", min=1, help="Sample among the k likeliest."),
    top_p: float | None = typer.Option(None, "--top-p", help="Nucleus sampling mass, in (0, 1]."),
    num_samples: int = typer.Option(1, "--num-samples", min=1, help="Samples per seed (batched)."),
    stop: str | None = typer.Option(
        None, "--stop", help="Stop a sample at this string (not printed); \\n is a newline."
    ),
    rng_seed: int | None = typer.Option(None, "--rng-seed", help="Seed for reproducible samples."),
    stream: bool = typer.Option(False, "--stream", help="Print tokens as they are generated."),
    fmt: str = typer.Option("text", "--format", "-f", help="text or jsonl."),
    allow_unknown: bool = typer.Option(
        False, "--allow-unknown", help="Read characters outside the vocabulary as <unk>."
    ),
    device: str = DeviceOpt,
    threads: int | None = ThreadsOpt,
    quiet: bool = QuietOpt,
) -> None:
    """Generate text from a seed, with the hidden state carried token to token.

    With --seed TEXT, prints the seed and its continuation; with --seed -, prints one
    continuation per stdin line (line breaks inside it become spaces; use jsonl to keep them).
    """
    from rnncli import api
    from rnncli.errors import UsageError

    check_format(fmt, ("text", "jsonl"))
    if stream and (num_samples > 1 or fmt != "text" or seed == "-"):
        raise UsageError(
            "--stream prints one sample of one seed as text: drop --num-samples/--format"
        )
    loaded = load_model(model, "generate", device, threads, quiet)
    options = dict(
        length=length,
        temperature=temperature,
        top_k=top_k,
        top_p=top_p,
        num_samples=num_samples,
        stop=_unescape(stop),
        rng_seed=rng_seed,
        allow_unknown=allow_unknown,
    )
    out = sys.stdout
    if seed != "-":
        if stream:
            out.write(seed)
            out.flush()
            last = seed
            for pieces in api.generate(loaded, seed, **options):  # type: ignore[arg-type]
                out.write(pieces[0])
                out.flush()
                last = pieces[0] or last
            out.write("" if last.endswith("\n") else "\n")
            return
        texts = api.generate_text(loaded, seed, **options)
        for i, text in enumerate(texts):
            if fmt == "jsonl":
                out.write(json.dumps({"seed": seed, "sample": i, "text": text}) + "\n")
            else:
                full = seed + text
                out.write(("\n" if i else "") + full + ("" if full.endswith("\n") else "\n"))
        return
    for line in api.read_lines(None):
        texts = api.generate_text(loaded, line, **options)
        for i, text in enumerate(texts):
            if fmt == "jsonl":
                out.write(json.dumps({"seed": line, "sample": i, "text": text}) + "\n")
            else:
                # one output line per seed line: only \n (and \r\n) end lines, as in input
                lines = text.replace("\r\n", "\n").removesuffix("\n").split("\n")
                out.write(" ".join(lines) + "\n")
        out.flush()
