"""`rnn translate`: one output line per input line, in order, streamed in batches."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Any

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
SHOWN = 5  # lines named in a warning before "..."


EXAMPLES = examples(  # the end of --help
    'echo "Where is the station?" | rnn translate',
    "rnn translate --model runs/eng-fra --beam 5 --n-best 3 english.txt",
    'echo "I am cold." | rnn translate --plot-attention attention.png',
)


def translate(
    file: Path | None = typer.Argument(
        None, help="Text file, one sentence per line; - or none: stdin."
    ),
    model: Path | None = ModelOpt,
    beam: int = typer.Option(5, "--beam", "-b", min=1, help="Beam size; 1 is greedy search."),
    n_best: int = typer.Option(
        1, "--n-best", "-n", min=1, help="Candidates per line (text: LINE<TAB>SCORE<TAB>TEXT)."
    ),
    length_penalty: float = typer.Option(
        1.0, "--length-penalty", help="Beam score = log-prob / length**this (0: raw log-prob)."
    ),
    max_length: int | None = typer.Option(
        None, "--max-length", min=1, help="Most output tokens (default: 2 x data.max_length)."
    ),
    max_ratio: float | None = typer.Option(
        None, "--max-ratio", help="Output tokens per source token (default: from training)."
    ),
    fmt: str = typer.Option(
        "text", "--format", "-f", help="text, or jsonl (candidates with scores and tokens)."
    ),
    attention: bool = typer.Option(
        False, "--attention", help="jsonl: add each candidate's attention matrix."
    ),
    plot_attention: Path | None = typer.Option(
        None, "--plot-attention", help="Draw the first line's alignment heat map to this PNG."
    ),
    batch_size: int = typer.Option(64, "--batch-size", min=1, help="Sentences per model call."),
    device: str = DeviceOpt,
    threads: int | None = ThreadsOpt,
    quiet: bool = QuietOpt,
) -> None:
    """Translate each input line; output keeps the input order, one line per line.

    A blank line gives an empty line. A line over the model's length limit is cut to
    it (with a warning); unknown source tokens are read as <unk> (with a warning).
    """
    from rnncli import api
    from rnncli.errors import UsageError

    check_format(fmt, ("text", "jsonl"))
    if n_best > beam:
        raise UsageError(f"--n-best ({n_best}) cannot exceed --beam ({beam})")
    if attention and fmt != "jsonl":
        raise UsageError("--attention adds matrices to --format jsonl output")
    loaded = load_model(model, "translate", device, threads, quiet)
    wants_attention = attention or plot_attention is not None
    if wants_attention and loaded.recipe.model.attention == "none":
        raise UsageError("this model has no attention (model.attention: none) to show")
    lines = api.read_lines(file)
    results = api.translate(
        loaded,
        lines,
        beam,
        n_best,
        length_penalty,
        max_ratio,
        max_length,
        batch_size,
        wants_attention,
    )
    out = sys.stdout
    truncated: list[str] = []
    unknown: dict[str, int] = {}
    plotted = False
    for number, result in enumerate(results, start=1):
        if result.truncated:
            truncated.append(f"{number} (-{result.truncated})")
        for tok in result.unknown:
            unknown[tok] = unknown.get(tok, 0) + 1
        if plot_attention is not None and not plotted and result.candidates:
            _plot(result, plot_attention)
            plotted = True
        if fmt == "jsonl":
            out.write(json.dumps(_record(result, attention), ensure_ascii=False) + "\n")
        elif n_best == 1:
            out.write(result.text + "\n")
        else:
            for cand in result.candidates:
                out.write(f"{number}\t{cand.score:.4f}\t{cand.text}\n")
    if truncated:
        limit = loaded.state.max_length
        log.warning(
            "%d line(s) over the model's %d source tokens were cut (line %s)",
            len(truncated),
            limit,
            ", ".join(truncated[:SHOWN]) + (", ..." if len(truncated) > SHOWN else ""),
        )
    if unknown:
        common = sorted(unknown, key=lambda t: -unknown[t])[:SHOWN]
        log.warning(
            "%d unknown source token(s) read as <unk>: %s",
            sum(unknown.values()),
            ", ".join(repr(t) for t in common) + (", ..." if len(unknown) > SHOWN else ""),
        )


def _record(result: Any, attention: bool) -> dict[str, Any]:
    cands = []
    for cand in result.candidates:
        item: dict[str, Any] = {
            "text": cand.text,
            "score": round(cand.score, 6),
            "log_prob": round(cand.log_prob, 6),
            "tokens": cand.tokens,
        }
        if attention and cand.attention is not None:
            item["attention"] = [[round(float(x), 4) for x in row] for row in cand.attention]
        cands.append(item)
    record: dict[str, Any] = {
        "source": result.source,
        "translation": result.text if result.candidates else None,
        "candidates": cands,
    }
    if attention:
        record["source_tokens"] = result.source_tokens
    return record


def _plot(result: Any, path: Path) -> None:
    """Heat map of the best candidate's attention: output tokens down, source across."""
    from rnncli.errors import UsageError

    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise UsageError(
            "--plot-attention needs the optional package matplotlib: pip install 'rnncli[plot]'"
        ) from None
    cand = result.candidates[0]
    weights = cand.attention
    rows = [*cand.tokens, "<eos>"][: weights.shape[0]]
    cols = result.source_tokens
    fig, ax = plt.subplots(figsize=(1.0 + 0.5 * len(cols), 1.0 + 0.4 * len(rows)))
    ax.imshow(weights, cmap="Greys", vmin=0.0, vmax=1.0, aspect="auto")
    ax.set_xticks(range(len(cols)), [c.replace("\u2581", "_") for c in cols], rotation=60)
    ax.set_yticks(range(len(rows)), [r.replace("\u2581", "_") for r in rows])
    ax.set_xlabel("source")
    ax.set_ylabel("output")
    ax.set_title(result.source[:60], fontsize=9)
    fig.tight_layout()
    try:
        fig.savefig(path, dpi=120)
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror or exc}") from None
    finally:
        plt.close(fig)
    log.info("attention of line 1 drawn to %s", path)
