"""Kill `rnn train` at random moments and check that nothing is ever lost.

    python benchmarks/kill_trials.py [--trials 60] [--signals alternate|kill|term|random]
                                     [--window run|training] [--seed 1] [--keep DIR]

Each trial starts a tiny training of sample_data/tinyshakespeare.txt as a real `rnn`
process (data preparation, ~150 steps with a checkpoint every 5, evaluations, a final
test score), sends SIGKILL or SIGTERM at a moment drawn uniformly over the length of an
undisturbed run (interpreter start-up included; with `--window training`, from its first
checkpoint to its end, so that most kills need a resume), then checks:

* every checkpoint left in the run directory loads (`last` with its training state);
* SIGTERM: exit status 143 (or killed by it before the CLI started) with one `error:`
  line, and no temporary file left;
* `rnn train --resume` completes (or, when no checkpoint was written yet, a new
  `rnn train` does), and its final checkpoint loads, has every step, and holds the
  same weights as the undisturbed run (bit for bit: one thread everywhere).

Prints `trials N, kills N, unloadable checkpoints K, failed resumes K, runs lost K`
(then the details) and exits 1 if anything was lost. Run it alone on a quiet machine
only if you care about its timing; its verdict does not depend on load.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
import yaml

from rnncli.errors import RnnCliError
from rnncli.training.checkpoint import load_checkpoint

ROOT = Path(__file__).resolve().parents[1]
TEXT = ROOT / "sample_data" / "tinyshakespeare.txt"
MAX_STEPS = 150


def recipe(work: Path) -> Path:
    test = work / "test.txt"
    test.write_bytes(TEXT.read_bytes()[:20_000])
    path = work / "recipe.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "task": "generate",
                "data": {
                    "train": str(TEXT),
                    "valid_fraction": 0.02,
                    "test": str(test),
                    "tokenizer": "char",
                },
                "model": {"cell": "lstm", "embedding_dim": 16, "hidden_size": 32},
                "training": {
                    "max_steps": MAX_STEPS,
                    "batch_size": 8,
                    "seq_length": 32,
                    "eval_every": 50,
                    "checkpoint_every": 5,
                    "device": "cpu",
                    "threads": 1,
                },
                "output": str(work / "run"),
            }
        )
    )
    return path


def rnn(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "rnncli", *args, "-q"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "RNNCLI_DEBUG": "", "OMP_NUM_THREADS": "1"},
    )


@dataclass
class Tally:
    trials: int = 0
    kills: int = 0
    unloadable: int = 0
    failed_resumes: int = 0
    lost: int = 0
    restarted: int = 0  # killed before the first checkpoint: trained again from scratch
    resumed: int = 0
    bad_exits: int = 0  # SIGTERM without exit 143 and one error line
    temp_left: int = 0
    notes: list[str] = field(default_factory=list)

    def line(self) -> str:
        return (
            f"trials {self.trials}, kills {self.kills}, unloadable checkpoints "
            f"{self.unloadable}, failed resumes {self.failed_resumes}, runs lost {self.lost}"
        )

    def details(self) -> str:
        return (
            f"resumed {self.resumed}, restarted from scratch (no checkpoint yet) "
            f"{self.restarted}, SIGTERM exits not 143 + one error line {self.bad_exits}, "
            f"runs with temporary files left after SIGTERM {self.temp_left}"
        )

    def failed(self) -> bool:
        return bool(
            self.unloadable + self.failed_resumes + self.lost + self.bad_exits + self.temp_left
        )


def finish(run: Path, reference: dict[str, torch.Tensor]) -> str | None:
    """None if the run's final checkpoint is complete and equals the reference."""
    try:
        final = load_checkpoint(run / "last.safetensors")
    except RnnCliError as exc:
        return f"final checkpoint does not load: {exc}"
    training = final.meta["training"]
    if not training.get("done") or training.get("steps") != MAX_STEPS:
        return f"final checkpoint incomplete: {training}"
    if final.model.keys() != reference.keys():
        return "final checkpoint has other tensors"
    if not all(torch.equal(final.model[k], reference[k]) for k in reference):
        return "final weights differ from the undisturbed run"
    return None


def _running(pid: int) -> bool:
    """The process exists and is not a zombie (Linux: /proc/PID/stat)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def trial(
    n: int, sig: int, delay: float, recipe_path: Path, work: Path, ref: dict, tally: Tally
) -> None:
    run = work / f"trial{n}"
    proc = rnn("train", str(recipe_path), "-o", str(run))
    time.sleep(delay)
    # A process that has already exited but is not yet reaped (a zombie) still takes a
    # signal without effect: it finished first, so it counts as no kill.
    alive = proc.poll() is None and _running(proc.pid)
    if alive:
        proc.send_signal(sig)
        tally.kills += 1
    _, err = proc.communicate()
    code = proc.returncode
    name = signal.Signals(sig).name
    if alive and sig == signal.SIGTERM and code != -signal.SIGTERM:
        lines = err.strip().splitlines()
        if code != 143 or len(lines) != 1 or not lines[0].startswith("error: "):
            tally.bad_exits += 1
            tally.notes.append(f"trial {n}: SIGTERM gave exit {code}: {err.strip()[-300:]}")
        if run.exists() and list(run.rglob("*.tmp")):
            tally.temp_left += 1
            tally.notes.append(f"trial {n}: temporary files left: {list(run.rglob('*.tmp'))}")
    for path in sorted(run.glob("*.safetensors")) if run.is_dir() else ():
        try:
            load_checkpoint(path, with_train=True)
        except RnnCliError as exc:
            tally.unloadable += 1
            tally.notes.append(f"trial {n} ({name} at {delay:.2f}s): {exc}")
    resumable = (run / "last.safetensors").is_file()
    if resumable:
        again = rnn("train", "--resume", str(run))
        tally.resumed += 1
    else:
        again = rnn("train", str(recipe_path), "-o", str(run))
        tally.restarted += 1
    out, err = again.communicate()
    if again.returncode != 0:
        tally.failed_resumes += resumable
        tally.lost += 1
        tally.notes.append(f"trial {n} ({name} at {delay:.2f}s): rerun failed: {err.strip()}")
        return
    problem = finish(Path(out.strip()), ref)
    if problem:
        tally.lost += 1
        tally.notes.append(f"trial {n} ({name} at {delay:.2f}s): {problem}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=60)
    parser.add_argument(
        "--signals", choices=("alternate", "kill", "term", "random"), default="alternate"
    )
    parser.add_argument(
        "--window", choices=("run", "training"), default="run", help="where kills land"
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--keep", type=Path, help="work in this directory and keep it")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    work = args.keep or Path(tempfile.mkdtemp(prefix="rnn-kill-trials-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        recipe_path = recipe(work)
        started, first = time.monotonic(), None
        proc = rnn("train", str(recipe_path), "-o", str(work / "reference"))
        while proc.poll() is None:
            if first is None and (work / "reference" / "last.safetensors").exists():
                first = time.monotonic() - started
            time.sleep(0.005)
        out, err = proc.communicate()
        duration = time.monotonic() - started
        low = first if args.window == "training" and first is not None else 0.0
        if proc.returncode != 0:
            print(f"the undisturbed run failed: {err}", file=sys.stderr)
            return 2
        reference = load_checkpoint(Path(out.strip()) / "last.safetensors").model
        print(f"undisturbed run: {duration:.2f}s, first checkpoint at {first}s", file=sys.stderr)
        tally = Tally()
        for n in range(args.trials):
            kinds = {"kill": signal.SIGKILL, "term": signal.SIGTERM}
            if args.signals in kinds:
                sig = kinds[args.signals]
            elif args.signals == "random":
                sig = rng.choice([signal.SIGKILL, signal.SIGTERM])
            else:
                sig = signal.SIGKILL if n % 2 == 0 else signal.SIGTERM
            delay = rng.uniform(low, duration)
            trial(n, sig, delay, recipe_path, work, reference, tally)
            tally.trials += 1
            print(f"trial {n + 1}/{args.trials}: {tally.line()}", file=sys.stderr)
            if not args.keep:
                for path in work.glob(f"trial{n}*"):
                    shutil.rmtree(path, ignore_errors=True)
        print(tally.line())
        print(tally.details())
        for note in tally.notes:
            print(note)
        return 1 if tally.failed() else 0
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
