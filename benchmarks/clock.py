"""Shared by the benchmarks: a Trainer callback that measures units per second."""

from __future__ import annotations

import time


class StepClock:
    """Trainer callback: units (tokens, windows...) per second between the first and the
    last progress report, so start-up and the final checkpoint are not counted."""

    def __init__(self) -> None:
        self.marks: list[tuple[float, int]] = []

    def on_start(self, state, total) -> None: ...
    def on_eval(self, state, metrics) -> None: ...
    def on_end(self, state) -> None: ...

    def on_log(self, state, loss, lr, rate) -> None:
        self.marks.append((time.perf_counter(), state.units))

    def rate(self) -> float:
        (t0, u0), (t1, u1) = self.marks[0], self.marks[-1]
        return (u1 - u0) / (t1 - t0)
