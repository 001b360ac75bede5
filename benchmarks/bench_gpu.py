"""Training speed on a CUDA GPU against hand-written PyTorch, fp32 and mixed precision.

    python benchmarks/bench_gpu.py [--steps 300] [--rounds 3]

For the language model (recipes/shakespeare.yaml) and the translator
(recipes/eng-fra.yaml): rnncli's Trainer with `training.device=cuda`, then with
`training.mixed_precision=true` (bf16 autocast where the GPU has it), each against the
hand-written loops of bench_lm.py and bench_translate.py on the same GPU (fp32, then
under bf16 autocast). Interleaved paired rounds; tokens/s and the median ratio.
Then decoding on the GPU: `api.translate` greedy and beam 5 over the built-in model.
Needs a CUDA GPU; on a machine without one it says so and exits 2.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_lm
import bench_translate

from rnncli import api
from rnncli.config import load_recipe
from rnncli.data.pairs import read_pairs
from rnncli.tasks.translate import task as tr


def paired(name: str, ours_fn, hand_fn, rounds: int) -> None:  # type: ignore[no-untyped-def]
    ours, hand = [], []
    for i in range(rounds):
        ours.append(ours_fn(i))
        hand.append(hand_fn())
    ratios = [a / b for a, b in zip(ours, hand, strict=True)]
    print(
        f"{name:<22} rnncli {statistics.median(ours):10,.0f} tok/s   hand-written"
        f" {statistics.median(hand):10,.0f} tok/s   ratio {statistics.median(ratios):.3f}"
        f"   (per-round {', '.join(f'{r:.2f}' for r in ratios)})",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--sentences", type=int, default=2000)
    args = parser.parse_args()
    if not torch.cuda.is_available():
        print("bench_gpu: torch sees no CUDA GPU", file=sys.stderr)
        raise SystemExit(2)
    bf16 = torch.cuda.is_bf16_supported()
    print(
        f"torch {torch.__version__}, {torch.cuda.get_device_name()}, bf16 {bf16},"
        f" {args.steps} steps a round, {args.rounds} rounds",
        flush=True,
    )
    with tempfile.TemporaryDirectory() as tmp:
        for amp in (False, True):
            tag = "bf16 autocast" if amp else "fp32"
            paired(
                f"LM train {tag}",
                lambda i, amp=amp: bench_lm.rnncli_training(
                    args.steps, Path(tmp) / f"lm{amp}{i}", "cuda", amp
                ),
                lambda amp=amp: bench_lm.hand_training(args.steps, "cuda", amp),
                args.rounds,
            )
        recipe = load_recipe(bench_translate.RECIPE, bench_translate.OVERRIDES)
        plan = tr.prepare(recipe, Path(tmp) / "tr", None)  # type: ignore[arg-type]
        first = list(plan.batches(0, 0))[: args.steps]
        prebuilt = [b[:4] for b in first]
        vocab = len(plan.meta["source"]["vocab"])
        for amp in (False, True):
            tag = "bf16 autocast" if amp else "fp32"
            recipe.training.device = "cuda"
            recipe.training.mixed_precision = amp
            paired(
                f"translate train {tag}",
                lambda i, amp=amp: bench_translate.rnncli_training(
                    plan, recipe, args.steps, Path(tmp) / f"tr{amp}{i}"
                ),
                lambda amp=amp: bench_translate.hand_training(
                    prebuilt, recipe, vocab, args.steps, "cuda", amp
                ),
                args.rounds,
            )
    loaded = api.load(None, "translate", device="cuda")
    pairs = read_pairs(str(bench_translate.ROOT / "sample_data" / "eng-fra.tsv.gz"))[-20000:]
    sources = [s for s, _ in pairs[: args.sentences]]
    for beam in (1, 5):
        list(api.translate(loaded, sources[:64], beam=beam))  # warm-up
        torch.cuda.synchronize()
        start = time.perf_counter()
        n = sum(1 for _ in api.translate(loaded, sources, beam=beam))
        torch.cuda.synchronize()
        rate = n / (time.perf_counter() - start)
        print(f"translate decode beam {beam}: {rate:,.0f} sentences/s on the GPU", flush=True)


if __name__ == "__main__":
    main()
