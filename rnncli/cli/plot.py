"""`rnn plot RUN...`: training loss and the main metric of runs, on one figure."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import typer

from rnncli.cli.common import examples

EXAMPLES = examples(  # the end of --help
    "rnn plot runs/shakespeare -o curves.png",
    "rnn plot runs/sentiment runs/sentiment-1 -o compare.png --x minutes",
    "rnn plot runs/eng-fra --metric valid_accuracy -o accuracy.png --force",
)
FORMATS = ("png", "svg", "pdf")
NAMES = {
    "train_loss": "training loss",
    "valid_loss": "validation loss",
    "valid_accuracy": "validation accuracy",
    "valid_macro_f1": "validation macro F1",
    "valid_bpc": "validation bits per character",
    "valid_ppl": "validation perplexity",
    "valid_bleu": "validation BLEU",
    "valid_mase": "validation MASE",
}


def plot(
    runs: list[Path] = typer.Argument(
        ..., metavar="RUN", help="Run directories (made by rnn train).", show_default=False
    ),
    output: Path = typer.Option(
        Path("curves.png"), "--output", "-o", help="Image to write: .png, .svg or .pdf."
    ),
    metric: str | None = typer.Option(
        None,
        "--metric",
        help="Logged metric to draw beside the training loss (default: the task's main one).",
    ),
    x: str = typer.Option("steps", "--x", help="Horizontal axis: steps or minutes."),
    force: bool = typer.Option(False, "--force", help="Overwrite an existing output file."),
) -> None:
    """Draw the training loss and the main metric (accuracy, BLEU, bits per character,
    perplexity or loss) of one or more runs against steps or minutes; print the file."""
    from rnncli.errors import DataError, UsageError

    if x not in ("steps", "minutes"):
        raise UsageError(f"--x must be steps or minutes, not {x!r}")
    kind = output.suffix.lower().lstrip(".")
    if kind not in FORMATS:
        raise UsageError(f"-o must end in .png, .svg or .pdf, not {output.name!r}")
    if not force and (output.exists() or output.is_symlink()):
        raise UsageError(f"{output} exists: it is not overwritten; give another -o or --force")
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise UsageError("rnn plot needs matplotlib: pip install 'rnncli[plot]'") from None
    from rnncli.runs import curves, labels

    drawn = [curves(run, label) for run, label in zip(runs, labels(runs), strict=True)]
    for c in drawn:
        for problem in c.problems:
            print(f"warning: {c.run}: {problem}", file=sys.stderr)
    logged = list(dict.fromkeys(m for c in drawn for m in c.values))
    if metric is not None:
        if metric not in logged:
            raise DataError(
                f"no run logged metric {metric!r}; logged: {', '.join(logged) or 'none'}"
            )
        for c in drawn:
            if metric not in c.values:
                print(f"warning: {c.run} did not log {metric}", file=sys.stderr)
        mains = [metric]
    else:
        mains = list(dict.fromkeys(c.main for c in drawn if c.main))
    panels = [m for m in dict.fromkeys(["train_loss", *mains]) if m in logged]
    image = _draw(drawn, panels, x, kind)
    _write(output, image, force)
    print(output)


def _draw(drawn: list[Any], panels: list[str], x: str, kind: str) -> bytes:
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    from matplotlib.ticker import MaxNLocator

    cols = min(2, len(panels))
    rows = -(-len(panels) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(6.4 * cols, 4.4 * rows), squeeze=False)
    for ax in axes.flat[len(panels) :]:
        ax.set_visible(False)
    for ax, name in zip(axes.flat, panels, strict=False):
        for i, c in enumerate(drawn):
            xs = c.steps if x == "steps" else c.minutes
            points = [
                (a, b) for a, b in zip(xs, c.values.get(name, []), strict=False) if b is not None
            ]
            if not points:
                continue
            ax.plot(
                [a for a, _ in points],
                [b for _, b in points],
                label=c.label,
                color=colors[i % len(colors)],
                marker="o" if len(points) <= 30 else None,
                markersize=3,
            )
        ax.set_title(NAMES.get(name, name.replace("valid_", "validation ").replace("_", " ")))
        ax.set_xlabel("step" if x == "steps" else "minutes")
        if x == "steps":
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel(name)
        ax.grid(True, alpha=0.3)
        if ax.lines:
            ax.legend(fontsize="small", loc="best")
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format=kind, dpi=100)
    plt.close(fig)
    return buffer.getvalue()


def _write(path: Path, data: bytes, force: bool) -> None:
    from rnncli.errors import UsageError
    from rnncli.training.checkpoint import atomic_write

    if force:
        atomic_write(path, data)
        return
    try:
        with open(path, "xb") as handle:  # never replaces a file made meanwhile
            handle.write(data)
    except FileExistsError:
        raise UsageError(
            f"{path} exists: it is not overwritten; give another -o or --force"
        ) from None
