"""`rnn export RUN -o DIR`: the model as ONNX graphs plus JSON, runnable without torch."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from rnncli.cli.common import examples, load_model

EXAMPLES = examples(  # the end of --help
    "rnn export runs/sentiment -o exported/sentiment",
    "rnn export runs/shakespeare -o exported/lm-int8 --quantize int8",
    "rnn export --task translate -o exported/eng-fra",
)


def export(
    run: Path | None = typer.Argument(
        None, help="Run directory or checkpoint (default: the built-in model of --task)."
    ),
    output: Path = typer.Option(
        ..., "--output", "-o", help="New directory to write (never overwritten)."
    ),
    fmt: str = typer.Option("onnx", "--format", help="Export format: onnx."),
    quantize: str | None = typer.Option(
        None, "--quantize", help="int8: onnxruntime's dynamic int8 quantisation of the weights."
    ),
    tolerance: float = typer.Option(
        1e-4, "--tolerance", min=0.0, help="Largest |torch - onnxruntime| the float check accepts."
    ),
    task: str = typer.Option("generate", "--task", help="Built-in model to export without RUN."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No summary on stderr."),
) -> None:
    """Write the model as ONNX graphs, its vocabulary, tokenizer, labels or scalers as
    JSON, and model.json describing inputs, outputs and how to drive them; each graph is
    checked against the torch model on random and real inputs before the directory
    appears. Step-by-step models export their step (language model with its state in
    and out; translation encoder and decoder step), so generation and beam search can
    run outside rnncli. Every rnn command accepts the directory as --model.

    Needs the optional extra: pip install 'rnncli\\[export]'. Prints DIR on stdout.
    """
    from rnncli import api

    if fmt != "onnx":
        raise typer.BadParameter(
            f"unknown format {fmt!r}: onnx is the one format", param_hint="--format"
        )
    if quantize is not None and quantize != "int8":
        raise typer.BadParameter(
            f"unknown quantization {quantize!r}: int8", param_hint="--quantize"
        )
    loaded = load_model(run, None if run else task, "cpu", None, quiet)
    manifest = api.export(loaded, output, fmt, quantize, tolerance)
    if not quiet:
        for graph in manifest["graphs"].values():
            line = (
                f"{output / graph['file']}: {graph['bytes'] / 1e6:.2f} MB, "
                f"max |torch - onnx| {graph['max_abs_diff']:.2g}"
            )
            if "max_abs_diff_int8" in graph:
                line += f" (int8: {graph['max_abs_diff_int8']:.2g})"
            print(line, file=sys.stderr)
    sys.stdout.write(f"{output}\n")
