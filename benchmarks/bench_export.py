"""Exported models against torch: speed, size and the quality cost of int8, in one run.

    python benchmarks/bench_export.py [--threads 2] [--out /tmp/bench-export]

Models: the built-in classifier (SST-2), language model (tiny-shakespeare) and
translator (Tatoeba eng->fra), and an airline forecaster trained here with
recipes/airline.yaml. Each is exported twice (`rnn export`, float32 and --quantize
int8) and run through the same rnncli code with --model pointing at the run (torch),
the float32 export and the int8 export (onnxruntime), so only the model differs.

Speed: classify lines/s (`api.classify` on the 1,821 SST-2 test sentences x 5,
tokenising included), generation tokens/s at batch 1 (greedy, 400 tokens after
"He ate"), translation sentences/s (greedy, 500 Tatoeba test sentences, batch 64).
Quality: SST-2 test accuracy, Tatoeba BLEU on the recipe's 2,000 held-out test pairs
(greedy, sacrebleu), airline 1960 MAPE. Sizes: the checkpoint and the graph files.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from rnncli import api
from rnncli.config import load_recipe
from rnncli.tasks.translate import task as translate_task
from rnncli.training.checkpoint import resolve_model_path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "sample_data"


def timed(fn: Callable[[], Any], repeat: int = 3) -> float:
    """Best wall time of `repeat` calls (after one warm-up call)."""
    fn()
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def size_mb(paths: list[Path]) -> float:
    return sum(p.stat().st_size for p in paths) / 1e6


def variants(run: Path | None, task: str, out: Path, threads: int) -> dict[str, Any]:
    """{torch, onnx float32, onnx int8}: loaded models of the same weights."""
    torch_model = api.load(run, task, device="cpu", threads=threads)
    models = {"torch": torch_model}
    for name, quantize in (("onnx-f32", None), ("onnx-int8", "int8")):
        target = out / f"{task}-{name}"
        shutil.rmtree(target, ignore_errors=True)
        api.export(torch_model, target, quantize=quantize)
        models[name] = api.load(target, task, threads=threads)
    return models


def sizes(run: Path | None, task: str, out: Path) -> dict[str, float]:
    source = api.builtin_path(task) if run is None else resolve_model_path(run)
    return {
        "torch": size_mb([source]),
        "onnx-f32": size_mb(sorted((out / f"{task}-onnx-f32").glob("*.onnx"))),
        "onnx-int8": size_mb(sorted((out / f"{task}-onnx-int8").glob("*.onnx"))),
    }


def row(name: str, values: dict[str, float], fmt: str) -> str:
    cells = [format(values[k], fmt) for k in ("torch", "onnx-f32", "onnx-int8")]
    ratio = (
        f"{values['onnx-f32'] / values['torch']:.2f} / {values['onnx-int8'] / values['torch']:.2f}"
    )
    return f"| {name} | " + " | ".join(cells) + f" | {ratio} |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=Path(tempfile.gettempdir()) / "bench-export")
    parser.add_argument("--test-pairs", type=int, default=2000)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    speed: list[str] = []
    quality: list[str] = []
    size_rows: list[str] = []

    # ---- classify
    models = variants(None, "classify", out, args.threads)
    base = [line.split("\t")[0] for line in (DATA / "sst2_test.tsv").read_text().splitlines()[1:]]
    lines = base * 5
    rate = {
        k: len(lines) / timed(lambda m=m: list(api.classify(m, lines)), 2)
        for k, m in models.items()
    }
    speed.append(row("classify, lines/s (SST-2 test x 5)", rate, ".0f"))
    acc = {k: api.evaluate(m, DATA / "sst2_test.tsv")["accuracy"] for k, m in models.items()}
    quality.append(row("SST-2 test accuracy", acc, ".4f"))
    size_rows.append(row("classifier, MB", sizes(None, "classify", out), ".2f"))

    # ---- generate
    models = variants(None, "generate", out, args.threads)
    n = 400
    rate = {
        k: n / timed(lambda m=m: api.generate_text(m, "He ate", length=n, temperature=0.0))
        for k, m in models.items()
    }
    speed.append(row("generation at batch 1, tokens/s", rate, ".0f"))
    loss = {
        k: api.evaluate(m, DATA / "tinyshakespeare.txt")["test_loss"] for k, m in models.items()
    }
    quality.append(row("tiny-shakespeare loss, nats/char (whole file)", loss, ".4f"))
    size_rows.append(row("language model, MB", sizes(None, "generate", out), ".2f"))

    # ---- translate
    models = variants(None, "translate", out, args.threads)
    recipe = load_recipe(ROOT / "recipes" / "eng-fra.yaml")
    _, _, test = translate_task.splits(recipe.data, recipe.training.rng_seed)  # type: ignore[attr-defined]
    test = test[: args.test_pairs]
    sources = [s for s, _ in test[:500]]
    rate = {
        k: len(sources) / timed(lambda m=m: list(api.translate(m, sources, beam=1)), 1)
        for k, m in models.items()
    }
    speed.append(row("translation, sentences/s (greedy, batch 64)", rate, ".1f"))
    pairs = out / "tatoeba-test.tsv"
    pairs.write_text("".join(f"{s}\t{t}\n" for s, t in test), encoding="utf-8")
    bleu = {k: api.evaluate(m, pairs, beam=1)["bleu"] for k, m in models.items()}
    quality.append(row(f"Tatoeba BLEU, {len(test):,} test pairs, greedy", bleu, ".2f"))
    size_rows.append(row("translator (encoder + step), MB", sizes(None, "translate", out), ".2f"))

    # ---- forecast
    run = out / "airline-run"
    shutil.rmtree(run, ignore_errors=True)
    run = api.train(ROOT / "recipes" / "airline.yaml", output=run)
    models = variants(run, "forecast", out, args.threads)
    mape = {
        k: api.evaluate(m, DATA / "airline-passengers.csv")["model"]["mape"]
        for k, m in models.items()
    }
    quality.append(row("airline 1960 MAPE, %", mape, ".2f"))
    size_rows.append(row("airline forecaster, MB", sizes(run, "forecast", out), ".3f"))

    head = "| | torch | onnxruntime float32 | onnxruntime int8 | ratio to torch (f32 / int8) |"
    rule = "|---|---:|---:|---:|---:|"
    print(f"threads: {args.threads}, torch {torch.__version__}")
    for title, rows in (("speed", speed), ("quality", quality), ("size", size_rows)):
        print(f"\n{title}\n{head}\n{rule}")
        print("\n".join(rows))


if __name__ == "__main__":
    main()
