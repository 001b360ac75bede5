"""Data-parallel training on torch's own launcher (torchrun) and DistributedDataParallel.

torchrun (or `rnn train --nproc N`, which runs torchrun's launcher: training/launch.py)
starts one process per GPU or per group of cores and tells each its RANK, WORLD_SIZE,
LOCAL_RANK and where to meet (MASTER_ADDR/PORT). `start` joins the process group from
that environment: gloo on CPU, NCCL on CUDA with one GPU per local rank. Nothing here
manages processes or moves bytes itself: torchrun's elastic agent watches the workers
(and stops the others when one dies) and torch.distributed carries every message.

How a step is shared: every rank builds the same batch (the order is a pure function of
(rng_seed, epoch)) and keeps its own contiguous block of rows (`shard`), so a language
model's row r always lands on the same rank and its carried state stays right. Ranks
weight their loss by their share of the batch's units (tokens, lines, windows), so the
averaged gradient is the gradient of the whole batch's mean loss: 2 ranks x b rows give
the weights 1 rank x 2b rows gives (within float rounding).
"""

from __future__ import annotations

import json
import math
import os
import re
import signal
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch import Tensor

from rnncli.errors import TrainingError, UsageError


@dataclass(frozen=True)
class World:
    """This process's place among the training processes (one process: rank 0 of 1)."""

    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @property
    def distributed(self) -> bool:
        return self.size > 1

    @property
    def main(self) -> bool:
        """Rank 0: the one process that writes files and reports progress."""
        return self.rank == 0


SINGLE = World()
_comm_device = torch.device("cpu")  # where collectives' tensors live (CUDA for NCCL)


def from_env() -> World:
    """The world torchrun describes in the environment (one process without it)."""
    try:
        size = int(os.environ.get("WORLD_SIZE", "1"))
        rank = int(os.environ.get("RANK", "0"))
        local = int(os.environ.get("LOCAL_RANK", "0"))
    except ValueError:
        raise UsageError(
            "WORLD_SIZE, RANK and LOCAL_RANK must be integers: start training with torchrun "
            "or rnn train --nproc N"
        ) from None
    if size < 1 or not 0 <= rank < size:
        raise UsageError(f"RANK {rank} does not fit WORLD_SIZE {size}: start with torchrun")
    return World(rank, size, local)


def launched() -> bool:
    """Whether this process was started by torchrun (whatever its world size)."""
    return "TORCHELASTIC_RUN_ID" in os.environ or "LOCAL_RANK" in os.environ


def device_for(world: World, name: str) -> torch.device | None:
    """The device of this rank (None: one process, the Trainer's usual choice)."""
    if not world.distributed:
        return None
    if name in ("auto", "cuda") and torch.cuda.is_available():
        count = torch.cuda.device_count()
        if world.local_rank >= count:
            raise UsageError(
                f"local rank {world.local_rank} has no GPU (this machine has {count}): start "
                f"at most {count} processes per machine (--nproc / --nproc-per-node)"
            )
        return torch.device("cuda", world.local_rank)
    if name == "cuda":
        raise UsageError("training.device is cuda but torch sees no CUDA GPU: use auto or cpu")
    if name == "mps":
        raise UsageError("training.device mps trains in one process only: use cpu or cuda")
    return torch.device("cpu")


def start(device_name: str, timeout_s: float) -> tuple[World, torch.device | None]:
    """Join the process group torchrun set up (nothing to do for one process)."""
    global _comm_device
    world = from_env()
    device = device_for(world, device_name)
    if device is None or dist.is_initialized():
        return world, device
    timeout = timedelta(seconds=timeout_s)
    if device.type == "cuda":
        torch.cuda.set_device(device)
        dist.init_process_group("nccl", timeout=timeout, device_id=device)
    else:
        dist.init_process_group("gloo", timeout=timeout)
    _comm_device = device
    return world, device


def seed_rank(world: World, seed: int) -> None:
    """Give each rank its own random stream (dropout); rank 0 keeps one process's stream.

    Called once the model exists (built from the same seed everywhere).
    """
    if world.rank:
        torch.manual_seed(int(np.random.SeedSequence([seed, world.rank]).generate_state(1)[0]))


def stop() -> None:
    """Leave the process group (at the end of a run, whatever its outcome)."""
    if dist.is_initialized():
        dist.destroy_process_group()


def peer_failure(exc: BaseException, run_dir: Path, world: World) -> TrainingError | None:
    """A failed collective (another process died or hung) as one line; None otherwise."""
    if not dist.is_initialized():
        return None
    kinds = tuple(
        k for k in (getattr(dist, "DistError", None), getattr(torch, "DistError", None)) if k
    )
    text = str(exc)
    if not (
        isinstance(exc, kinds)
        or "Connection closed by peer" in text
        or "Connection reset by peer" in text
        or "Timed out" in text
        or "NCCL" in text
    ):
        return None
    first = text.strip().splitlines()[0] if text.strip() else type(exc).__name__
    first = re.sub(r"^\[[^\]]*\] ", "", first).split(". ")[0]  # gloo's source location
    return TrainingError(
        f"another training process stopped or stopped answering ({first[:120]}): {run_dir} "
        f"keeps its last checkpoint; resume with rnn train --resume {run_dir} --nproc {world.size}"
    )


@contextmanager
def shared_path(locked: AbstractContextManager[Path], world: World) -> Iterator[Path]:
    """Rank 0: enter `locked` (its run directory) and tell the other ranks its path."""
    with locked as path:
        broadcast_json(str(path), world)
        yield path


def batch_spec(spec: Any, world: World) -> Any:
    """The recipe a task builds its batches from: with batch_scope rank, each of the
    world's batches holds batch_size rows per rank (they are split again by `shard`)."""
    t = spec.training
    if not world.distributed or t.batch_scope != "rank":
        return spec
    training = t.model_copy(update={"batch_size": t.batch_size * world.size})
    return spec.model_copy(update={"training": training})


# ----------------------------------------------------------------------- batches
def _rows(batch: Any) -> int | None:
    """Rows of a batch: the first dimension of its first tensor (batches are batch-first)."""
    if isinstance(batch, Tensor):
        return int(batch.shape[0]) if batch.dim() else None
    items = batch.values() if isinstance(batch, dict) else batch
    if isinstance(batch, (tuple, list, dict)):
        for item in items:
            rows = _rows(item)
            if rows is not None:
                return rows
    return None


def _take(batch: Any, rows: slice, n: int) -> Any:
    if isinstance(batch, Tensor):
        return batch[rows] if batch.dim() and batch.shape[0] == n else batch
    if isinstance(batch, (tuple, list)):
        return type(batch)(_take(b, rows, n) for b in batch)
    if isinstance(batch, dict):
        return {k: _take(v, rows, n) for k, v in batch.items()}
    return batch  # a step number, a flag...


def shard(batch: Any, world: World) -> tuple[Any, bool]:
    """This rank's contiguous block of the batch's rows, and whether the block is empty.

    Every tensor whose first dimension is the batch's row count is cut; anything else
    (step numbers) is passed whole. A batch with fewer rows than ranks leaves some ranks
    without a row: they get row 0 and a weight of 0, so they still join the gradient
    averaging (DDP needs every rank in every step) without counting.
    """
    n = _rows(batch)
    if not world.distributed or n is None:
        return batch, False
    lo, hi = world.rank * n // world.size, (world.rank + 1) * n // world.size
    if hi == lo:
        return _take(batch, slice(0, 1), n), True
    return _take(batch, slice(lo, hi), n), False


def weigh(
    loss: Tensor, units: int, votes: tuple[int, bool], world: World
) -> tuple[Tensor, int, tuple[int, bool]]:
    """This rank's loss weighted by its share of the batch, the batch's units, the votes.

    DDP averages gradients over ranks, so a rank whose rows hold units_r of the batch's
    U units backpropagates loss_r x units_r x ranks / U: the average is the gradient of
    the whole batch's mean loss, whatever the split (translation's blocks hold different
    token counts). The same all-reduce carries each rank's stop votes (the signal it saw,
    whether its time budget is spent), so every rank stops at the same step: SIGTERM
    wins over SIGINT.
    """
    signum, out_of_time = votes
    counts = [units, signum == signal.SIGINT, signum == signal.SIGTERM, out_of_time]
    total = all_sum(torch.tensor(counts, dtype=torch.float64))
    agreed = signal.SIGTERM if total[2] else signal.SIGINT if total[1] else 0
    share = units / float(total[0]) if total[0] else 0.0
    return loss * (share * world.size), int(total[0]), (int(agreed), bool(total[3]))


def lr_factor(scope: str, scaling: str, world: World) -> float:
    """How much the peak lr grows when each of `world.size` ranks takes batch_size rows."""
    if scope != "rank" or scaling == "none":
        return 1.0
    return float(world.size) if scaling == "linear" else math.sqrt(world.size)


def rank_part(train: dict[str, Tensor], rank: int) -> dict[str, Tensor]:
    """A rank's own tensors in a `last` checkpoint (carried state, RNG), under plain names."""
    if rank == 0:
        return train
    prefix = f"rank{rank}."
    return {k[len(prefix) :]: v for k, v in train.items() if k.startswith(prefix)}


# ------------------------------------------------------------------- collectives
def all_sum(value: Tensor) -> Tensor:
    """Sum a tensor over the ranks (in place; it is returned)."""
    moved = value.to(_comm_device)
    dist.all_reduce(moved)
    if moved is not value:
        value.copy_(moved)
    return value


def broadcast_json(obj: Any, world: World) -> Any:
    """Rank 0's JSON-able value on every rank (JSON bytes, never pickle)."""
    if not world.distributed:
        return obj
    data = json.dumps(obj).encode("utf-8") if world.main else b""
    size = torch.tensor([len(data)], dtype=torch.int64, device=_comm_device)
    dist.broadcast(size, 0)
    buf = torch.zeros(int(size), dtype=torch.uint8, device=_comm_device)
    if world.main:
        buf.copy_(torch.frombuffer(bytearray(data), dtype=torch.uint8))
    dist.broadcast(buf, 0)
    return json.loads(bytes(buf.cpu().numpy()).decode("utf-8"))


def gather_tensors(tensors: dict[str, Tensor], world: World) -> list[dict[str, Tensor]]:
    """Every rank's `tensors` (the same names everywhere; shapes may differ), on the CPU."""
    if not world.distributed:
        return [{k: v.detach().cpu() for k, v in tensors.items()}]
    out: list[dict[str, Tensor]] = [{} for _ in range(world.size)]
    for name in sorted(tensors):
        value = tensors[name].detach().to(_comm_device)
        shape = torch.tensor(value.shape, dtype=torch.int64, device=_comm_device)
        shapes = [torch.empty_like(shape) for _ in range(world.size)]
        dist.all_gather(shapes, shape)
        sizes = [int(s.prod()) for s in shapes]
        flat = torch.zeros(max(sizes), dtype=value.dtype, device=_comm_device)
        flat[: value.numel()] = value.reshape(-1)
        flats = [torch.empty_like(flat) for _ in range(world.size)]
        dist.all_gather(flats, flat)
        for r in range(world.size):
            out[r][name] = flats[r][: sizes[r]].reshape(shapes[r].tolist()).cpu()
    return out
