"""The recipe `rnn forecast CSV` fits when no model is given, scored on held-out data.

For each dataset: `api.default_forecast_recipe` on the CSV (what `rnn forecast` uses),
with `data.test_size` set so the last steps are held out (tourism: 8 quarters of 304
series; airline: 1960), trained at one thread per seed, then `api.evaluate` on the same
CSV, which backtests the model beside naive, seasonal naive, AutoETS and AutoTheta (the
last two need `pip install 'rnncli[classical]'`).

    python benchmarks/forecast_default.py                       # the default as shipped
    python benchmarks/forecast_default.py model.loss=mse        # with an override (YAML value)
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import torch
import yaml

from rnncli import api

ROOT = Path(__file__).resolve().parent.parent
DATASETS = [
    # (csv, columns, horizon, test_size, metric, seeds)
    (
        "tourism_long.csv",
        {"id_column": "id", "time_column": "date", "target": "value"},
        8,
        8,
        "mase",
        [1234, 1, 2],
    ),
    ("airline-passengers.csv", {}, 12, 12, "mape", [1234]),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("overrides", nargs="*", help="dotted.key=value, as rnn train --set")
    args = parser.parse_args()
    torch.set_num_threads(1)
    for name, columns, horizon, test_size, metric, seeds in DATASETS:
        csv = ROOT / "sample_data" / name
        scores, classical = [], {}
        for seed in seeds:
            recipe = api.default_forecast_recipe(csv, horizon, **columns)
            recipe["data"]["test_size"] = test_size
            recipe["training"]["rng_seed"] = seed
            with tempfile.TemporaryDirectory() as tmp:
                recipe["output"] = str(Path(tmp) / "run")
                path = Path(tmp) / "recipe.yaml"
                path.write_text(yaml.safe_dump(recipe), encoding="utf-8")
                metrics = api.evaluate(api.load(api.train(path, args.overrides, threads=1)), csv)
            scores.append(metrics["model"][metric])
            classical = {
                k: metrics[k][metric] for k in ("seasonal_naive", "ets", "theta") if k in metrics
            }
        mean = sum(scores) / len(scores)
        shown = ", ".join(f"{s:.4f}" for s in scores)
        others = "  ".join(f"{k} {v:.4f}" for k, v in classical.items())
        print(f"{name}: {metric} {shown} (mean {mean:.4f}; seeds {seeds})   {others}", flush=True)


if __name__ == "__main__":
    main()
