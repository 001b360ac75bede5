"""Training speed on CPU with `training.mixed_precision` (bf16 autocast) against fp32.

    python benchmarks/bench_cpu_bf16.py [--threads 2] [--rounds 2] [--only lm,translate,tag]

Each model is a shipped recipe's model trained by rnncli's Trainer (`rnncli.api.train`)
for a fixed number of steps, fp32 and bf16 alternating for --rounds rounds; units per
second (characters, target tokens, tokens) are measured between the first and the last
progress report, so data preparation, start-up and saving are not counted:

* lm: recipes/shakespeare.yaml (2-layer LSTM 512, batch 32 x 64);
* translate: recipes/eng-fra.yaml (bi-GRU 2 x 128 encoder, GRU 256 input-feeding decoder
  with general attention, batch 64; about 25 s of BPE training before each run);
* tag: recipes/wnut17.yaml (three BiLSTM-CRF taggers with char CNNs, batch 16).

rnncli turns bf16 on only where the CPU multiplies bf16 natively (AMX or AVX512-BF16);
elsewhere oneDNN emulates it and it is slower than fp32. On such a CPU this script forces
it anyway, to show that. Run it alone on the machine.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

import torch

import rnncli.training.trainer as trainer_module
from rnncli import api

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
from clock import StepClock  # noqa: E402

MODELS: dict[str, tuple[str, int, list[str]]] = {
    "lm": ("shakespeare.yaml", 120, []),
    "translate": ("eng-fra.yaml", 60, []),
    "tag": ("wnut17.yaml", 150, []),
}


def rate(name: str, amp: bool, threads: int, tmp: Path) -> float:
    recipe, steps, extra = MODELS[name]
    overrides = [
        f"training.max_steps={steps}",
        "training.max_minutes=null",
        "training.patience=null",
        "training.eval_every=1000000",
        "training.checkpoint_every=1000000",
        "training.eval_max_batches=1",
        "training.device=cpu",
        f"training.mixed_precision={str(amp).lower()}",
        f"training.threads={threads}",
        *extra,
    ]
    if name == "translate":
        overrides += ["data.test_size=0", "training.eval_bleu_sentences=0"]
    clock = StepClock()
    out = tmp / f"{name}-{'bf16' if amp else 'fp32'}"
    api.train(ROOT / "recipes" / recipe, overrides, output=out, callbacks=[clock], threads=threads)
    return clock.rate()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--only", default=",".join(MODELS))
    args = parser.parse_args()
    native = trainer_module.cpu_has_bf16()
    print(f"torch {torch.__version__}, {args.threads} thread(s), CPU bf16 units: {native}")
    if not native:
        print("(no bf16 units: forcing bf16 to measure the emulated path)")
        trainer_module.cpu_has_bf16 = lambda: True  # type: ignore[assignment]
    print(f"{'model':<10} {'fp32 units/s':>13} {'bf16 units/s':>13} {'ratio':>6}  per round")
    for name in args.only.split(","):
        fp32: list[float] = []
        bf16: list[float] = []
        with tempfile.TemporaryDirectory() as tmp:
            for r in range(args.rounds):
                for amp in (False, True) if r % 2 == 0 else (True, False):
                    (bf16 if amp else fp32).append(rate(name, amp, args.threads, Path(tmp)))
        ratios = " ".join(f"{b / f:.2f}" for b, f in zip(bf16, fp32, strict=True))
        a, b = statistics.median(fp32), statistics.median(bf16)
        print(f"{name:<10} {a:>13,.0f} {b:>13,.0f} {b / a:>6.2f}  {ratios}", flush=True)


if __name__ == "__main__":
    main()
