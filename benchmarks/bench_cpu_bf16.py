"""Training speed on CPU with `training.mixed_precision` (bf16 autocast) against fp32.

    python benchmarks/bench_cpu_bf16.py [--threads 2] [--rounds 2] [--only lm,translate,tag]
                                        [--bare]

Each model is a shipped recipe's model trained by rnncli's Trainer (`rnncli.api.train`)
for a fixed number of steps, fp32 and bf16 alternating for --rounds rounds; units per
second (characters, target tokens, tokens) are measured between the first and the last
progress report, so data preparation, start-up and saving are not counted:

* lm: recipes/shakespeare.yaml (2-layer LSTM 512, batch 32 x 64);
* translate: recipes/eng-fra.yaml (bi-GRU 2 x 128 encoder, GRU 256 input-feeding decoder
  with general attention, batch 64; about 25 s of BPE training before each run);
* tag: recipes/wnut17.yaml (three BiLSTM-CRF taggers with char CNNs, batch 16).

With --bare, first a hand-written loop (Embedding, 2-layer LSTM of 256, 384 and 512 units,
Linear, Adam; batch 32 x 64 characters): milliseconds per training step, fp32 and bf16.

rnncli turns bf16 on only where the CPU multiplies bf16 natively (AMX or AVX512-BF16);
elsewhere oneDNN emulates it and it is slower than fp32. On such a CPU this script forces
it anyway, to show that. Run it alone on the machine.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

import rnncli.training.trainer as trainer_module
from rnncli import api

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
from clock import StepClock  # noqa: E402

MODELS: dict[str, tuple[str, int]] = {  # recipe, steps timed
    "lm": ("shakespeare.yaml", 120),
    "translate": ("eng-fra.yaml", 60),
    "tag": ("wnut17.yaml", 150),
}


def rate(name: str, amp: bool, threads: int, tmp: Path) -> float:
    recipe, steps = MODELS[name]
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
    ]
    if name == "translate":
        overrides += ["data.test_size=0", "training.eval_bleu_sentences=0"]
    clock = StepClock()
    out = tmp / f"{name}-{'bf16' if amp else 'fp32'}"
    api.train(ROOT / "recipes" / recipe, overrides, output=out, callbacks=[clock], threads=threads)
    return clock.rate()


def bare_step_ms(hidden: int, amp: bool, steps: int = 30) -> float:
    """A hand-written character-LM training step, bf16 autocast or fp32."""
    torch.manual_seed(0)
    embed = torch.nn.Embedding(65, 64)
    lstm = torch.nn.LSTM(64, hidden, 2, batch_first=True, dropout=0.25)
    out = torch.nn.Linear(hidden, 65)
    params = [*embed.parameters(), *lstm.parameters(), *out.parameters()]
    opt = torch.optim.Adam(params, 2e-3)
    x, y = torch.randint(0, 65, (32, 64)), torch.randint(0, 65, (32, 64))

    def step() -> None:
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=amp):
            h, _ = lstm(embed(x))
            loss = torch.nn.functional.cross_entropy(out(h).reshape(-1, 65), y.reshape(-1))
        opt.zero_grad()
        loss.backward()
        opt.step()

    for _ in range(5):
        step()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    return (time.perf_counter() - start) / steps * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--only", default=",".join(MODELS))
    parser.add_argument("--bare", action="store_true", help="Also time a hand-written loop.")
    args = parser.parse_args()
    native = trainer_module.cpu_has_bf16()
    print(f"torch {torch.__version__}, {args.threads} thread(s), CPU bf16 units: {native}")
    if not native:
        print("(no bf16 units: forcing bf16 to measure the emulated path)")
        trainer_module.cpu_has_bf16 = lambda: True  # type: ignore[assignment]
    if args.bare:
        torch.set_num_threads(args.threads)
        print("hand-written LM step (batch 32 x 64), ms: hidden  fp32  bf16  ratio")
        for hidden in (256, 384, 512):
            fp32, bf16 = bare_step_ms(hidden, False), bare_step_ms(hidden, True)
            print(f"{hidden:>47} {fp32:5.0f} {bf16:5.0f} {fp32 / bf16:6.2f}", flush=True)
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
