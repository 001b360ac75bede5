"""Learning-rate schedules as pure functions of the step (plus a plateau scale).

Keeping the schedule stateless (or with a tiny JSON state) makes resuming exact.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any


def lr_at(
    step: int,
    base_lr: float,
    schedule: str,
    total_steps: int,
    warmup_steps: int = 0,
    min_lr_ratio: float = 0.0,
    plateau_scale: float = 1.0,
) -> float:
    """Learning rate for update number `step` (0-based)."""
    if warmup_steps and step < warmup_steps:
        return base_lr * (step + 1) / warmup_steps * plateau_scale
    if schedule == "cosine":
        span = max(1, total_steps - warmup_steps)
        progress = min(1.0, (step - warmup_steps) / span)
        ratio = min_lr_ratio + (1 - min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress))
        return base_lr * ratio
    return base_lr * plateau_scale


@dataclass
class Plateau:
    """Reduce-on-plateau: cut the scale by `factor` after `patience` evals without gain."""

    factor: float
    patience: int
    best: float | None = None
    bad: int = 0
    scale: float = 1.0

    def update(self, value: float, lower_is_better: bool = True) -> None:
        better = (
            self.best is None
            or (lower_is_better and value < self.best)
            or (not lower_is_better and value > self.best)
        )
        if better:
            self.best, self.bad = value, 0
            return
        self.bad += 1
        if self.bad > self.patience:
            self.scale *= self.factor
            self.bad = 0

    def to_json(self) -> dict[str, Any]:
        return asdict(self)
