"""Run the fuzz targets of tests/fuzzing.py far longer than CI does, and count.

    python benchmarks/fuzz.py --examples 2000          # per target
    python benchmarks/fuzz.py --examples 500 --seed 7 --only "series csv"

Prints, per target, the inputs tried and the unhandled exceptions (anything but an
RnnCliError, or a broken read-back property), then the totals; exits 1 if any failed.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, seed, settings

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.fuzzing import TARGETS


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=2000, help="inputs per target")
    parser.add_argument("--seed", type=int, default=0, help="hypothesis seed")
    parser.add_argument("--only", action="append", help="run only these targets")
    args = parser.parse_args()
    tried: Counter[str] = Counter()
    failures: list[tuple[str, str, str]] = []
    started = time.monotonic()

    def counting(name: str, target: Callable[[Any], None]) -> Callable[[Any], None]:
        def counted(value: Any) -> None:  # no defaults: hypothesis refuses them
            tried[name] += 1
            try:
                target(value)
            except Exception as exc:  # counted, not raised: fuzzing goes on
                failures.append(
                    (name, f"{type(exc).__name__}: {str(exc)[:160]}", repr(value)[:160])
                )

        return counted

    for name, (strategy, target) in TARGETS.items():
        if args.only and name not in args.only:
            continue

        counted = counting(name, target)

        t0 = time.monotonic()
        settings(
            max_examples=args.examples,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )(seed(args.seed)(given(strategy())(counted)))()
        bad = sum(1 for f in failures if f[0] == name)
        print(
            f"{name:24s} inputs {tried[name]:7,d}  unhandled {bad:4d}  "
            f"{time.monotonic() - t0:6.1f} s"
        )
    total = sum(tried.values())
    print(
        f"total inputs {total:,}  unhandled exceptions {len(failures)}  "
        f"({time.monotonic() - started:.0f} s, seed {args.seed})"
    )
    for name, error, value in failures[:20]:
        print(f"  {name}: {error}\n    input {value}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
