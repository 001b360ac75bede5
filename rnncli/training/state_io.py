"""Turn the resumable training state into tensors + JSON (and back), with no pickle.

Optimizer moments, the carried hidden state and RNG states are tensors (stored in the
`last` checkpoint under `train.*`); everything else is plain JSON.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from rnncli.training.checkpoint import atomic_write


def dump_optimizer(opt: torch.optim.Optimizer) -> tuple[dict[str, Any], dict[str, Tensor]]:
    sd = opt.state_dict()
    tensors: dict[str, Tensor] = {}
    scalars: dict[str, dict[str, Any]] = {}
    for pid, entry in sd["state"].items():
        scalars[str(pid)] = {}
        for key, value in entry.items():
            if isinstance(value, Tensor):
                tensors[f"optim.{pid}.{key}"] = value
            else:
                scalars[str(pid)][key] = value
    return {"param_groups": sd["param_groups"], "scalars": scalars}, tensors


def load_optimizer(
    opt: torch.optim.Optimizer, meta: dict[str, Any], tensors: dict[str, Tensor], device: Any
) -> None:
    state: dict[int, dict[str, Any]] = {int(pid): dict(v) for pid, v in meta["scalars"].items()}
    for name, value in tensors.items():
        if name.startswith("optim."):
            _, pid, key = name.split(".", 2)
            # Adam keeps `step` on the CPU; moments live with the parameters.
            state[int(pid)][key] = value if key == "step" else value.to(device)
    opt.load_state_dict({"state": state, "param_groups": meta["param_groups"]})


def dump_carry(carry: Any) -> tuple[str, dict[str, Tensor]]:
    if carry is None:
        return "none", {}
    if isinstance(carry, Tensor):
        return "tensor", {"carry.0": carry.detach()}
    return "pair", {"carry.0": carry[0].detach(), "carry.1": carry[1].detach()}


def load_carry(kind: str, tensors: dict[str, Tensor], device: Any) -> Any:
    if kind == "none":
        return None
    if kind == "tensor":
        return tensors["carry.0"].to(device)
    return (tensors["carry.0"].to(device), tensors["carry.1"].to(device))


def get_rng() -> dict[str, Tensor]:
    out = {"rng.cpu": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        for i, st in enumerate(torch.cuda.get_rng_state_all()):
            out[f"rng.cuda.{i}"] = st
    return out


def set_rng(tensors: dict[str, Tensor]) -> None:
    if "rng.cpu" in tensors:
        torch.set_rng_state(tensors["rng.cpu"])
    cuda = [tensors[k] for k in sorted(tensors) if k.startswith("rng.cuda.")]
    if cuda and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(cuda)


def append_metrics(path: Path, metrics: dict[str, Any]) -> None:
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(json.dumps(metrics) + "\n")
        handle.flush()
        os.fsync(handle.fileno())


def _rows(path: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue  # a line cut by a kill
        if isinstance(row, dict):
            yield line, row


def truncate_metrics(path: Path, step: int) -> None:
    """Keep the evaluations up to the checkpoint a run resumes from; the rest is redone.

    The test line goes too: a resumed run scores the test set again at its end, so a
    run has one test line, its final model's. The file is replaced atomically: a kill
    at this moment leaves the old history, never a truncated one.
    """
    if not path.exists():
        return
    kept = [
        line
        for line, row in _rows(path)
        if row.get("step", 0) <= step and row.get("split") != "test"
    ]
    atomic_write(path, "".join(k + "\n" for k in kept).encode("utf-8"))


def has_test_line(path: Path, step: int) -> bool:
    """Whether the test set was scored for the model of `step`."""
    if not path.exists():
        return False
    return any(row.get("split") == "test" and row.get("step") == step for _, row in _rows(path))
