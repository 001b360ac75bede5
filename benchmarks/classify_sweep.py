"""Seed-repeated variants of the SST-2 recipe: is 0.80 test accuracy robust?

    python benchmarks/classify_sweep.py --seeds 1 2 3 --out runs/cls-sweep

Each variant is recipes/sentiment-sentences.yaml (or --recipe) plus overrides, trained once
per seed (the checkpoint is chosen on dev), then scored on test. One JSON line per run on stdout,
then a Markdown table of mean / min / max test accuracy and macro-F1 per variant.
Run nothing else meanwhile if you read the training seconds.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

from rnncli import api

VARIANTS = {
    "recipe": [],
    "adamw-wd0.05-drop0.6": [
        "training.optimizer=adamw",
        "training.weight_decay=0.05",
        "model.dropout=0.6",
    ],
    "emb64-h64": ["model.embedding_dim=64", "model.hidden_size=64"],
    "monitor-loss": ["training.monitor=valid_loss"],
    "minfreq2-adamw": [
        "data.min_freq=2",
        "training.optimizer=adamw",
        "training.weight_decay=0.05",
        "model.dropout=0.6",
    ],
    "gru": ["model.cell=gru"],
    "bpe4000": ["data.tokenizer=subword", "data.subword_vocab_size=4000"],
    "attention": ["model.pooling=attention"],
}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--recipe", default="recipes/sentiment-sentences.yaml")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--only", nargs="*", default=list(VARIANTS))
    parser.add_argument("--out", default="runs/cls-sweep")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--set", action="append", default=[], dest="overrides")
    args = parser.parse_args()
    results: dict[str, list[dict[str, float]]] = {}
    for name in args.only:
        for seed in args.seeds:
            overrides = [
                *VARIANTS[name],
                f"training.rng_seed={seed}",
                f"training.threads={args.threads}",
                *args.overrides,
            ]
            start = time.perf_counter()
            run = api.train(args.recipe, overrides, output=Path(args.out) / f"{name}-s{seed}")
            seconds = time.perf_counter() - start
            loaded = api.load(run, task="classify")
            test = api.evaluate(loaded, loaded.meta["recipe"]["data"]["test"])
            row = {
                "variant": name,
                "seed": seed,
                "dev_accuracy": round(loaded.meta["metrics"].get("valid_accuracy", 0.0), 4),
                "test_accuracy": round(test["accuracy"], 4),
                "test_macro_f1": round(test["macro_f1"], 4),
                "seconds": round(seconds, 1),
            }
            results.setdefault(name, []).append(row)
            print(json.dumps(row), flush=True)
    print("\n| variant | test acc mean | min | max | macro-F1 mean | dev mean | s/run |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, rows in results.items():
        acc = [r["test_accuracy"] for r in rows]
        f1 = [r["test_macro_f1"] for r in rows]
        dev = [r["dev_accuracy"] for r in rows]
        secs = [r["seconds"] for r in rows]
        print(
            f"| {name} | {statistics.mean(acc):.4f} | {min(acc):.4f} | {max(acc):.4f} "
            f"| {statistics.mean(f1):.4f} | {statistics.mean(dev):.4f} "
            f"| {statistics.mean(secs):.0f} |"
        )
    sys.stdout.flush()


if __name__ == "__main__":
    main()
