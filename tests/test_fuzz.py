"""Property-based fuzzing of the recipe loader, every reader, every tokenizer and the
checkpoint loader (targets in tests/fuzzing.py): any input either reads or is refused
with one RnnCliError line; well-formed inputs read back as written.

Bounded for CI (derandomized, a few hundred inputs per target); `python
benchmarks/fuzz.py --examples 2000` runs the same targets longer and counts.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings

from .fuzzing import TARGETS

EXAMPLES = 150


@pytest.mark.parametrize("name", list(TARGETS))
def test_fuzz(name: str) -> None:
    strategy, target = TARGETS[name]

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(strategy())
    def run(value: object) -> None:
        target(value)

    run()
