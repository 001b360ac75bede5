"""`rnn forecast [--model RUN] CSV|-`: the next values of every series, as CSV on stdout.

Without --model, a small model is fitted on the given series with the built-in recipe
(progress on stderr), then it forecasts: the default for a user who has only a CSV.
"""

from __future__ import annotations

import json
import math
import signal
import sys
import tempfile
from pathlib import Path
from typing import Any

import typer

from rnncli.cli.common import (
    DeviceOpt,
    ModelOpt,
    Progress,
    QuietOpt,
    ThreadsOpt,
    check_format,
    examples,
    load_model,
    note,
    setup_logging,
)

EXAMPLES = examples(  # the end of --help
    "rnn forecast sample_data/airline-passengers.csv --horizon 12",
    "rnn forecast --model runs/tourism sample_data/tourism_long.csv --format json",
    "rnn forecast sales.csv --target units --plot sales.png",
)


def forecast(
    file: Path | None = typer.Argument(None, help="CSV (or TSV) of the series; - or none: stdin."),
    model: Path | None = ModelOpt,
    horizon: int | None = typer.Option(
        None,
        "--horizon",
        "-H",
        min=1,
        help="Steps to forecast (default: the model's, or a season).",
    ),
    target: str | None = typer.Option(None, "--target", help="Column to forecast."),
    time_column: str | None = typer.Option(None, "--time-column", help="Column of timestamps."),
    id_column: str | None = typer.Option(
        None, "--id-column", help="Long format: the column naming each series."
    ),
    fmt: str = typer.Option("csv", "--format", "-f", help="csv or json (a list of records)."),
    plot: Path | None = typer.Option(
        None, "--plot", help="Draw history, forecast and interval to this PNG (needs matplotlib)."
    ),
    save_model: Path | None = typer.Option(
        None, "--save-model", help="Without --model: keep the fitted run in this directory."
    ),
    device: str = DeviceOpt,
    threads: int | None = ThreadsOpt,
    quiet: bool = QuietOpt,
) -> None:
    """Forecast the next values of every series in a CSV; CSV (or JSON) on stdout."""
    from rnncli import api
    from rnncli.errors import RunInterrupted

    check_format(fmt, ("csv", "json"))
    if plot is not None:
        _need_matplotlib()
    columns: dict[str, Any] = {
        "target": target,
        "time_column": time_column,
        "id_column": id_column,
    }
    if model is not None:
        loaded = load_model(model, "forecast", device, threads, quiet)
        results = api.forecast(loaded, file, horizon, **columns)
    else:
        setup_logging(quiet)
        source = None if file is None or str(file) == "-" else file
        with tempfile.TemporaryDirectory(prefix="rnn-forecast-") as tmp:
            note("no --model given: fitting the built-in forecast recipe to this data", quiet)
            progress = Progress(quiet, unit="windows", every=50)
            try:
                run_dir = api.fit_forecaster(
                    source,
                    horizon,
                    save_model or Path(tmp) / "run",
                    callbacks=[progress],
                    threads=threads,
                    **columns,
                )
            except RunInterrupted as exc:
                if save_model is not None:
                    raise  # a kept run: its message says how to resume it
                raise RunInterrupted(
                    f"interrupted by {signal.Signals(exc.signum).name} while fitting a "
                    "forecast model (a temporary one, already removed: nothing to resume): "
                    "run it again; --save-model DIR keeps a fit that can be resumed",
                    exc.signum,
                ) from None
            finally:
                progress.close()
            loaded = api.load(run_dir, "forecast", device=device, threads=threads)
            data = source if source is not None else run_dir / "input.csv"
            results = api.forecast(loaded, data, horizon, **columns)
            if save_model is not None:
                note(f"fitted model saved in {run_dir} (use --model {run_dir})", quiet)
    targets, quantiles = loaded.state.targets, loaded.state.quantiles or []
    rows = list(_rows(results, targets, quantiles, bool(loaded.state.id_column)))
    out = sys.stdout
    if fmt == "json":
        out.write(json.dumps(rows) + "\n")
    elif rows:
        import csv

        writer = csv.DictWriter(out, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    if plot is not None:
        _plot(results, targets, quantiles, plot)
        note(f"plot written to {plot}", quiet)


def _stamp(value: Any) -> str:
    text = value.isoformat(sep=" ")
    return text[:10] if text.endswith("00:00:00") else text


def _rows(results: list[Any], targets: list[str], quantiles: list[float], with_id: bool) -> Any:
    for res in results:
        for h, stamp in enumerate(res.times):
            for j, name in enumerate(targets):
                row: dict[str, Any] = {"time": _stamp(stamp)}
                if with_id:
                    row["id"] = res.id
                if len(targets) > 1:
                    row["target"] = name
                row["forecast"] = _num(res.values[h, j, res.point])
                for k, q in enumerate(quantiles):
                    row[f"q{q:g}"] = _num(res.values[h, j, k])
                yield row


def _num(x: float) -> float:
    x = float(x)
    return x if not math.isfinite(x) else float(f"{x:.6g}")


def _need_matplotlib() -> None:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        from rnncli.errors import UsageError

        raise UsageError("--plot needs matplotlib: pip install 'rnncli[plot]'") from None


def _plot(results: list[Any], targets: list[str], quantiles: list[float], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shown = results[:6]
    fig, axes = plt.subplots(len(shown), 1, figsize=(9, 2.6 * len(shown)), squeeze=False)
    for ax, res in zip(axes[:, 0], shown, strict=False):
        keep = max(4 * len(res.times), 48)
        for j, name in enumerate(targets):
            ax.plot(res.history_times[-keep:], res.history[-keep:, j], label=f"{name} (history)")
            ax.plot(res.times, res.values[:, j, res.point], label=f"{name} (forecast)")
            if len(quantiles) >= 2:
                ax.fill_between(
                    res.times,
                    res.values[:, j, 0],
                    res.values[:, j, -1],
                    alpha=0.25,
                    label=f"{quantiles[0]:g}-{quantiles[-1]:g} interval",
                )
        ax.set_title(res.id or ", ".join(targets))
        ax.legend(loc="upper left", fontsize="small")
    fig.tight_layout()
    import io

    from rnncli.training.checkpoint import atomic_write

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    plt.close(fig)
    atomic_write(path, buffer.getvalue())
