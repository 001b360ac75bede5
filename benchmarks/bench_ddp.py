"""Data-parallel training throughput: 1 process x T threads against N processes.

    python benchmarks/bench_ddp.py                      # CPU: 1 x 2 threads vs 2 x 1 thread
    python benchmarks/bench_ddp.py --nproc 4 --device cuda --scope rank   # 1 GPU vs 4 GPUs

Each workload is a shipped recipe (language model: recipes/shakespeare.yaml; translation:
recipes/eng-fra.yaml), trained for --steps updates by the real command, `rnn train`,
once in one process and once with `--nproc N` (torch's launcher, gloo on CPU, NCCL on
CUDA). Throughput is the run's own record, units (tokens) over training seconds, taken
from its last checkpoint: start-up and data preparation are not counted, the training
loop (every all-reduce included) is. With --scope global (default) both runs make the
same updates on the same batches, so the ratio is pure speed; with --scope rank each
process takes batch_size rows (weak scaling, the usual choice for GPUs).
Results go to stdout as a table; the commands' own messages to stderr.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from rnncli.training.checkpoint import read_meta  # noqa: E402

COMMON = [
    "training.epochs=1000",
    "training.max_minutes=null",
    "training.patience=null",
    "training.eval_every=100000",
    "training.checkpoint_every=100000",
    "training.eval_max_batches=1",
]
WORKLOADS = {
    "language model": ("recipes/shakespeare.yaml", []),
    "translation": (
        "recipes/eng-fra.yaml",
        ["training.eval_bleu_sentences=0", "data.valid_size=64", "data.test_size=0"],
    ),
}


def train(recipe: str, extra: list[str], args: argparse.Namespace, nproc: int, out: Path) -> float:
    """Units per training second of one run of `recipe`."""
    sets = [*COMMON, *extra, f"training.max_steps={args.steps}", f"training.device={args.device}"]
    sets.append(f"training.batch_scope={args.scope}")
    threads = args.threads if nproc == 1 else max(1, args.threads // nproc)
    cmd = [sys.executable, "-m", "rnncli", "train", recipe, "-o", str(out), "-q"]
    cmd += [a for s in sets for a in ("--set", s)] + ["--threads", str(threads)]
    cmd += ["--nproc", str(nproc)] if nproc > 1 else []
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    print(f"running: {' '.join(cmd[1:])}", file=sys.stderr, flush=True)
    done = subprocess.run(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"error: the run failed (exit {done.returncode}): {' '.join(cmd)}")
    record = read_meta(Path(done.stdout.strip()) / "last.safetensors").get("training") or {}
    return float(record["units"]) / float(record["seconds"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nproc", type=int, default=2, help="processes of the parallel run")
    parser.add_argument("--threads", type=int, default=2, help="CPU threads in all (CPU runs)")
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda", "auto"])
    parser.add_argument("--scope", default="global", choices=["global", "rank"])
    parser.add_argument("--steps", type=int, default=60, help="updates per run")
    parser.add_argument("--rounds", type=int, default=2, help="interleaved pairs; medians")
    parser.add_argument("--only", choices=list(WORKLOADS), help="one workload")
    args = parser.parse_args()
    rows = []
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="bench-ddp-") as tmp:
        for name, (recipe, extra) in WORKLOADS.items():
            if args.only and name != args.only:
                continue
            ones, manys = [], []
            for r in range(args.rounds):  # interleaved, so a busy spell hits both sides
                ones.append(train(recipe, extra, args, 1, Path(tmp) / f"{name}-{r}-one"))
                many = train(recipe, extra, args, args.nproc, Path(tmp) / f"{name}-{r}-many")
                manys.append(many)
            rows.append((name, statistics.median(ones), statistics.median(manys)))
    cpu = args.device == "cpu"
    left = f"1 x {args.threads} threads" if cpu else "1 process"
    right = (
        f"{args.nproc} x {max(1, args.threads // args.nproc)} thread(s)"
        if cpu
        else (f"{args.nproc} processes")
    )
    print(
        f"training throughput, {args.steps} steps, device {args.device}, scope {args.scope}, "
        f"median of {args.rounds} round(s); load average {load:.2f} -> {os.getloadavg()[0]:.2f}"
    )
    print(f"{'workload':<16} {left + ' tok/s':>22} {right + ' tok/s':>24} {'ratio':>7}")
    for name, one, many in rows:
        print(f"{name:<16} {one:>22,.0f} {many:>24,.0f} {many / one:>7.2f}")


if __name__ == "__main__":
    main()
