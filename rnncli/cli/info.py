"""`rnn info RUN`: what a run is, how big, on what data, how long, how good."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import typer

from rnncli.cli.common import check_format, examples

EXAMPLES = examples(  # the end of --help
    "rnn info runs/shakespeare",
    "rnn info --task translate",
    "rnn info runs/sentiment --format json",
)


def info(
    run: Path | None = typer.Argument(
        None, help="Run directory or checkpoint (default: built-in)."
    ),
    fmt: str = typer.Option("text", "--format", "-f", help="text or json."),
    task: str = typer.Option("generate", "--task", help="Built-in model to describe without RUN."),
) -> None:
    """Print task, architecture, parameter count, vocabulary, data, training time and metrics."""
    from rnncli import api

    check_format(fmt, ("text", "json"))
    data = api.info(run, task)
    if fmt == "json":
        sys.stdout.write(json.dumps(data, indent=2) + "\n")
        return
    m, t = data["model"], data["training"]
    arch = f"{m['num_layers']} x {m['cell'].upper()} {m['hidden_size']}"
    if "embedding_dim" in m:
        arch += f", embedding {m['embedding_dim']}"
    if m.get("attention"):
        arch += f", {m['attention']} attention"
    if m.get("bidirectional"):
        arch += ", bidirectional"
    if m.get("tie_embeddings"):
        arch += ", tied embeddings"
    tok = data["tokenizer"] or {}
    vocab = data["vocab_size"]
    if isinstance(vocab, dict):
        vocab = f"{vocab['source']:,} source / {vocab['target']:,} target"
    else:
        vocab = f"{vocab:,}"
    lines = [
        ("checkpoint", data["path"]),
        ("task", data["task"]),
        ("architecture", arch),
        ("parameters", f"{data['parameters']:,}"),
        ("vocabulary", f"{vocab} ({tok.get('kind', '?')} tokens)"),
        ("data", _data_line(data)),
        (
            "training",
            f"{t.get('steps', 0):,} steps, {t.get('seconds', 0) / 60:.1f} min"
            + (f", stopped by {t['stop_reason']}" if t.get("stop_reason") else ""),
        ),
    ]
    if "export" in data:
        graphs = data["export"]["graphs"]
        sizes = ", ".join(f"{name} {(size or 0) / 1e6:.2f} MB" for name, size in graphs.items())
        lines.insert(1, ("export", f"ONNX {data['export']['precision']}: {sizes}"))
    for key, value in (data["metrics"] or {}).items():
        if key not in ("step", "epoch", "seconds"):
            lines.append((key, f"{value:.4f}" if isinstance(value, float) else str(value)))
    width = max(len(k) for k, _ in lines)
    for key, value in lines:
        sys.stdout.write(f"{key:<{width}}  {value}\n")


def _data_line(data: dict) -> str:
    train = data["data"].get("train")
    if isinstance(train, dict):  # translation from two files
        train = f"{train.get('source')} + {train.get('target')}"
    if isinstance(train, list):  # a tagger's several files, some repeated
        train = " + ".join(
            f if isinstance(f, str) else f"{f.get('file')} x{f.get('repeat', 1)}" for f in train
        )
    if data.get("train_pairs") is not None:
        return f"{train} ({data['train_pairs']:,} training pairs)"
    return f"{train} ({data['train_tokens'] or 0:,} training tokens)"
