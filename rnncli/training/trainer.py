"""The one task-agnostic Trainer.

A task hands over a `TrainPlan`: the model, a batch source that can restart at any
(epoch, batch) position, a loss function that may carry a recurrent state across
batches (truncated BPTT), and an evaluation function. The Trainer owns everything
else: optimizer, schedule, clipping, stopping, checkpoints and exact resumption.
"""

from __future__ import annotations

import logging
import math
import signal
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

import torch
from torch import Tensor, nn
from torch.nn.parallel import DistributedDataParallel

from rnncli.config import TrainingSection
from rnncli.errors import RunInterrupted, Stopped, TrainingError, UsageError
from rnncli.training import distributed, state_io
from rnncli.training.board import Board
from rnncli.training.checkpoint import Checkpoint, package_versions, save_checkpoint
from rnncli.training.distributed import SINGLE, World
from rnncli.training.rundir import writing
from rnncli.training.schedules import Plateau, lr_at

log = logging.getLogger("rnncli")
LOG_EVERY = 10


@dataclass
class TrainPlan:
    model: nn.Module
    batches: Callable[[int, int], Iterable[Any]]  # (epoch, first batch) -> batches
    num_batches: Callable[[int], int]  # epoch -> batches in it
    loss: Callable[[nn.Module, Any, Any], tuple[Tensor, int, Any]]  # -> mean loss, units, carry
    evaluate: Callable[[nn.Module], dict[str, float]]
    meta: dict[str, Any]  # task data stored in every checkpoint (vocabulary...)
    monitor: str = "valid_loss"
    higher_is_better: bool = False
    unit: str = "tok"


@dataclass
class TrainerState:
    step: int = 0
    epoch: int = 0
    batch: int = 0  # next batch index within `epoch`
    seconds: float = 0.0
    units: int = 0
    best: float | None = None
    best_step: int | None = None
    bad_evals: int = 0
    done: bool = False
    stop_reason: str | None = None
    train_loss_sum: float = 0.0  # summed batch losses since the last evaluation
    last_eval_step: int = 0
    metrics: dict[str, float] = field(default_factory=dict)
    plateau: dict[str, Any] = field(default_factory=dict)
    horizon: int | None = None  # the cosine's last step, fitted to the budget (horizon: budget)


class Callback(Protocol):
    def on_start(self, state: TrainerState, total_steps: int) -> None: ...
    def on_log(self, state: TrainerState, loss: float, lr: float, rate: float) -> None: ...
    def on_eval(self, state: TrainerState, metrics: dict[str, float]) -> None: ...
    def on_end(self, state: TrainerState) -> None: ...


def pick_device(name: str) -> torch.device:
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        mps = getattr(torch.backends, "mps", None)
        return torch.device("mps" if mps is not None and mps.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise UsageError("training.device is cuda but torch sees no CUDA GPU: use auto or cpu")
    if name == "mps" and not torch.backends.mps.is_available():
        raise UsageError("training.device is mps but MPS is not available: use auto or cpu")
    return torch.device(name)


def cpu_has_bf16() -> bool:
    """True where the CPU multiplies bf16 natively (AMX tiles or AVX512-BF16).

    Elsewhere oneDNN emulates bf16 and autocast runs about twice as slow as fp32.
    """
    probes = ("_is_amx_tile_supported", "_is_avx512_bf16_supported")
    return any(bool(getattr(torch.cpu, name, lambda: False)()) for name in probes)


def to_device(obj: Any, device: torch.device) -> Any:
    """Move a batch; to a GPU through pinned memory, so the copy runs asynchronously."""
    if isinstance(obj, Tensor):
        if device.type == "cuda" and obj.device.type == "cpu":
            obj = obj.pin_memory()
        return obj.to(device, non_blocking=True)
    if isinstance(obj, (tuple, list)):
        return type(obj)(to_device(o, device) for o in obj)
    if isinstance(obj, dict):
        return {k: to_device(v, device) for k, v in obj.items()}
    return obj


@contextmanager
def _stop_on_signals() -> Iterator[dict[str, int]]:
    """Turn SIGINT/SIGTERM into a flag checked between steps, so a stop saves cleanly.

    `flag["signum"]` is the signal (0: none). A second signal does not wait for the
    step: it raises `Stopped` at once (checkpoint writes are atomic, so that is safe).
    """
    flag = {"signum": 0}

    def handler(signum: int, frame: object) -> None:
        if flag["signum"]:
            raise Stopped(signum)
        flag["signum"] = signum

    try:
        old = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    except ValueError:  # not the main thread
        yield flag
        return
    try:
        yield flag
    finally:
        for sig, h in old.items():
            signal.signal(sig, h)


class Trainer:
    def __init__(
        self,
        plan: TrainPlan,
        cfg: TrainingSection,
        run_dir: Path,
        meta: dict[str, Any],
        callbacks: Iterable[Callback] = (),
        world: World = SINGLE,
        device: torch.device | None = None,
    ) -> None:
        self.plan, self.cfg, self.run_dir, self.world = plan, cfg, run_dir, world
        self.meta = meta  # task name and resolved recipe, for every checkpoint
        self.callbacks = list(callbacks) if world.main else []  # rank 0 reports
        self.device = device or pick_device(cfg.device)
        self.model = plan.model.to(self.device)  # what evaluation and checkpoints see
        self.params = [p for p in self.model.parameters() if p.requires_grad]
        self.forward: nn.Module = self.model  # what the loss runs: DDP averages gradients
        if world.distributed:
            ids = [self.device.index] if self.device.type == "cuda" else None
            # A learned initial state (h0/c0) sits out every step that carries the state
            # (language models): then DDP must look for unused parameters (ARCHITECTURE.md).
            # That search costs a graph traversal per step, so only then.
            sits_out = any(n.endswith((".h0", ".c0")) for n, _ in self.model.named_parameters())
            self.forward = DistributedDataParallel(
                self.model, device_ids=ids, find_unused_parameters=sits_out
            )
            distributed.seed_rank(world, cfg.rng_seed)
        self.lr_factor = distributed.lr_factor(cfg.batch_scope, cfg.lr_scaling, world)
        self.votes: tuple[int, bool] = (0, False)  # stop votes of the last step: signal, time
        self.optimizer = self._optimizer()
        self.state = TrainerState()
        self.plateau = Plateau(cfg.plateau_factor, cfg.plateau_patience)
        self.carry: Any = None
        self.train_sum = torch.zeros((), device=self.device)
        self.amp_dtype, self.scaler = self._precision()
        epoch_batches = max(1, plan.num_batches(0))
        caps = [cfg.epochs * epoch_batches] + ([cfg.max_steps] if cfg.max_steps else [])
        self.total_steps = min(caps)
        self.board: Board | None = None
        self.started = time.monotonic()  # reset by fit (less the seconds a resumed run had)
        self.grad_norm_sum = torch.zeros((), device=self.device)
        # ema_decay: the weights' moving average, one tensor per trained parameter, and
        # views of the parameters' storage for the in-place updates (built once: hot path)
        self.weights = [p.detach() for p in self.params]
        self.ema = [w.clone() for w in self.weights] if cfg.ema_decay else None

    def _optimizer(self) -> torch.optim.Optimizer:
        c = self.cfg
        if c.optimizer == "sgd":
            return torch.optim.SGD(
                self.params, lr=c.lr, momentum=c.momentum, weight_decay=c.weight_decay
            )
        cls = torch.optim.AdamW if c.optimizer == "adamw" else torch.optim.Adam
        return cls(self.params, lr=c.lr, weight_decay=c.weight_decay)

    def _precision(self) -> tuple[torch.dtype | None, torch.amp.GradScaler | None]:
        wanted = self.cfg.mixed_precision
        if wanted is False:
            return None, None
        if self.device.type == "cuda":
            if torch.cuda.is_bf16_supported():
                return torch.bfloat16, None
            return torch.float16, torch.amp.GradScaler("cuda")
        if self.device.type == "cpu" and cpu_has_bf16():
            return torch.bfloat16, None
        if wanted is True:
            why = (
                "this CPU has no bf16 units (AMX or AVX512-BF16), where bf16 is slower than fp32"
                if self.device.type == "cpu"
                else f"it does not work on {self.device.type}"
            )
            log.warning("training.mixed_precision: %s; training in fp32", why)
        return None, None

    def _autocast(self) -> AbstractContextManager[Any]:
        if self.amp_dtype is None:
            return nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=self.amp_dtype)

    # ----------------------------------------------------------------- resume
    def restore(self, ckpt: Checkpoint) -> None:
        """Continue exactly where `ckpt` (a `last` checkpoint) stopped."""
        trainer = ckpt.meta.get("trainer")
        if not trainer:
            raise TrainingError(f"checkpoint has no training state ({ckpt.path}): cannot resume")
        saved_world = int(trainer.get("world_size", 1))
        if saved_world != self.world.size:
            raise TrainingError(
                f"{self.run_dir} was trained by {saved_world} process(es), not "
                f"{self.world.size}, and each keeps its own rows' state: resume it with rnn "
                f"train --resume {self.run_dir} --nproc {saved_world} (or torchrun with "
                f"{saved_world} processes in all)"
            )
        own = distributed.rank_part(ckpt.train, self.world.rank)
        self.model.load_state_dict(ckpt.model)
        state_io.load_optimizer(self.optimizer, trainer["optimizer"], ckpt.train, self.device)
        self.carry = state_io.load_carry(trainer["carry"], own, self.device)
        if self.ema is not None:
            saved = [ckpt.train.get(f"ema.{i}") for i in range(len(self.ema))]
            if any(t is None for t in saved):
                raise TrainingError(
                    f"{ckpt.path} holds no weight average, but the recipe sets "
                    "training.ema_decay: it cannot resume exactly"
                )
            self.ema = [t.to(self.device) for t in saved if t is not None]
        state_io.set_rng(own)
        self.state = TrainerState(**trainer["state"])
        self.state.done, self.state.stop_reason = False, None
        if self.world.main:
            with writing(self.run_dir / "metrics.jsonl", self.run_dir):
                state_io.truncate_metrics(self.run_dir / "metrics.jsonl", self.state.step)
        self.plateau = Plateau(**self.state.plateau) if self.state.plateau else self.plateau
        carried = self.state.train_loss_sum if self.world.main else 0.0  # saved summed over ranks
        self.train_sum = torch.tensor(carried, device=self.device)

    # ------------------------------------------------------------------- loop
    def fit(self) -> TrainerState:
        """Train to the recipe's limits (or a stop signal); returns the final state."""
        if self.cfg.tensorboard and self.world.main:
            self.board = Board(self.run_dir / "tensorboard", self.state.step)
        try:
            return self._fit()
        except RuntimeError as exc:  # a collective failed: another process died or hung
            failure = distributed.peer_failure(exc, self.run_dir, self.world)
            if failure is None:
                raise
            raise failure from None
        finally:
            if self.board is not None:
                self.board.close()
                self.board = None

    def _fit(self) -> TrainerState:
        s, cfg = self.state, self.cfg
        for cb in self.callbacks:
            cb.on_start(s, self.total_steps)
        started = self.started = time.monotonic() - s.seconds
        window_start, window_units = time.monotonic(), 0
        loss_sum, loss_n = torch.zeros((), device=self.device), 0
        self.model.train()
        s.stop_reason = self._limit_reached(False, self._out_of_time(s.seconds))
        with _stop_on_signals() as flag:
            while s.stop_reason is None:
                if s.epoch >= cfg.epochs:
                    s.stop_reason = "epochs"
                    break
                for batch in self.plan.batches(s.epoch, s.batch):
                    lr = self._set_lr()
                    part, empty = distributed.shard(batch, self.world)
                    votes = (flag["signum"], s.seconds)
                    loss, units = self._update(to_device(part, self.device), empty, votes)
                    loss_sum += loss
                    loss_n += 1
                    self.train_sum += loss
                    s.step += 1
                    s.batch += 1
                    s.units += units
                    window_units += units
                    s.seconds = time.monotonic() - started
                    if s.step % LOG_EVERY == 0:
                        avg = float(self._sum(loss_sum)) / loss_n
                        self._check_finite(avg)
                        now = time.monotonic()
                        rate = window_units / max(now - window_start, 1e-9)
                        for cb in self.callbacks:
                            cb.on_log(s, avg, lr, rate)
                        if self.board is not None:
                            norm = float(self.grad_norm_sum) / loss_n
                            self.board.train(s.step, avg, lr, norm, rate, self.plan.unit)
                            self.grad_norm_sum.zero_()
                        window_start, window_units = now, 0
                        loss_sum, loss_n = torch.zeros((), device=self.device), 0
                    if not self.world.distributed:  # else voted by all ranks in _share
                        self.votes = (flag["signum"], self._out_of_time(s.seconds))
                    s.stop_reason = self._limit_reached(bool(self.votes[0]), self.votes[1])
                    if cfg.eval_every and s.step % cfg.eval_every == 0:
                        self._evaluate_and_save()
                    elif s.step % cfg.checkpoint_every == 0 or s.stop_reason:
                        self._check_finite(float(self._sum(loss_sum.clone())) / max(loss_n, 1))
                        self._save_last()
                    if s.stop_reason:
                        break
                else:
                    s.epoch, s.batch, self.carry = s.epoch + 1, 0, None
                    if not cfg.eval_every:
                        self._evaluate_and_save()
        if s.stop_reason == "interrupted":
            signum = self.votes[0]
            name = signal.Signals(signum).name
            how = f" --nproc {self.world.size}" if self.world.distributed else ""
            raise RunInterrupted(
                f"training interrupted by {name} at step {s.step} (saved in {self.run_dir}): "
                f"resume with rnn train --resume {self.run_dir}{how}",
                signum,
            )
        if s.metrics.get("step") != s.step:
            self._evaluate_and_save()
        s.done = True
        self._save_last()
        for cb in self.callbacks:
            cb.on_end(s)
        return s

    def _update(self, batch: Any, empty: bool, votes: tuple[int, float]) -> tuple[Tensor, int]:
        """One optimizer step; returns the batch's mean loss (all ranks) and its units."""
        with self._autocast():
            loss, units, self.carry = self.plan.loss(self.forward, batch, self.carry)
        loss, units = self._share(loss, 0 if empty else units, votes)
        self.optimizer.zero_grad(set_to_none=True)
        if self.scaler is not None:
            self.scaler.scale(loss).backward()
            self.scaler.unscale_(self.optimizer)
        else:
            loss.backward()
        if self.cfg.clip_grad_norm:
            norm = nn.utils.clip_grad_norm_(self.params, self.cfg.clip_grad_norm)
        elif self.board is not None:
            norm = nn.utils.get_total_norm([p.grad for p in self.params if p.grad is not None])
        if self.board is not None:
            self.grad_norm_sum += norm.detach().float()
        if self.scaler is not None:
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            self.optimizer.step()
        if self.ema is not None:
            decay = min(self.cfg.ema_decay or 0.0, (1 + self.state.step) / (10 + self.state.step))
            with torch.no_grad():
                torch._foreach_lerp_(self.ema, self.weights, 1 - decay)
        return loss.detach().float() / self.world.size, units

    @contextmanager
    def _averaged(self) -> Iterator[None]:
        """The model holds the weight average (ema_decay) inside, the raw weights after."""
        if self.ema is None:
            yield
            return
        with torch.no_grad():
            raw = [w.clone() for w in self.weights]
            torch._foreach_copy_(self.weights, self.ema)
        try:
            yield
        finally:
            with torch.no_grad():
                torch._foreach_copy_(self.weights, raw)

    def _share(self, loss: Tensor, units: int, votes: tuple[int, float]) -> tuple[Tensor, int]:
        """Weight this rank's loss by its share of the batch (distributed.weigh) and agree
        on the stop votes; one process: nothing to share."""
        if not self.world.distributed:
            return loss, units
        signum, seconds = votes
        loss, units, self.votes = distributed.weigh(
            loss, units, (signum, self._out_of_time(seconds)), self.world
        )
        return loss, units

    def _sum(self, value: Tensor) -> Tensor:
        """A per-rank sum of weighted losses summed over the ranks: the batches' mean."""
        return distributed.all_sum(value) if self.world.distributed else value

    def _set_lr(self) -> float:
        c = self.cfg
        lr = lr_at(
            self.state.step,
            c.lr * self.lr_factor,
            c.schedule,
            self.state.horizon or self.total_steps,
            c.warmup_steps,
            c.min_lr_ratio,
            self.plateau.scale,
        )
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        return lr

    def _limit_reached(self, interrupted: bool, out_of_time: bool) -> str | None:
        """Why to stop now, if at all; the same answer on every rank (votes are shared)."""
        c, s = self.cfg, self.state
        if interrupted:
            return "interrupted"
        if c.max_steps and s.step >= c.max_steps:
            return "max_steps"
        if out_of_time or (s.horizon is not None and s.step >= s.horizon < self.total_steps):
            return "max_minutes"  # the clock, or the cosine fitted to it (horizon: budget)
        if c.patience and s.bad_evals >= c.patience:  # a resumed run that had stopped early
            return "early_stopping"
        return None

    def _out_of_time(self, seconds: float) -> bool:
        return bool(self.cfg.max_minutes and seconds >= self.cfg.max_minutes * 60)

    def _check_finite(self, value: float) -> None:
        if not math.isfinite(value):
            raise TrainingError(
                f"loss became {value} at step {self.state.step}; the last good checkpoint is kept "
                f"in {self.run_dir}: lower training.lr or set training.clip_grad_norm"
            )

    # ------------------------------------------------------ evaluation, saving
    def _evaluate_and_save(self) -> None:
        """Rank 0 evaluates (the others wait for its numbers, so all decide alike)."""
        s = self.state
        metrics: dict[str, float] = {}
        if self.world.main:
            self.model.eval()
            with self._averaged(), torch.inference_mode(), self._autocast():
                metrics = self.plan.evaluate(self.model)
            self.model.train()
        metrics = distributed.broadcast_json(metrics, self.world)
        self._fit_horizon()
        value = metrics.get(self.plan.monitor)
        if value is not None:
            self._check_finite(value)
        steps = s.step - s.last_eval_step
        train_loss = float(self._sum(self.train_sum)) / steps if steps else None
        self.train_sum.zero_()
        s.last_eval_step = s.step
        metrics = {
            "step": s.step,
            "epoch": s.epoch,
            "seconds": round(s.seconds, 2),
            **({"train_loss": train_loss} if train_loss is not None else {}),
            **metrics,
        }
        metrics["lr"] = self.optimizer.param_groups[0]["lr"]
        s.metrics = metrics
        if value is not None:
            better = s.best is None or (
                value > s.best if self.plan.higher_is_better else value < s.best
            )
            if better:
                s.best, s.best_step, s.bad_evals = value, s.step, 0
                self._save_best()
            else:
                s.bad_evals += 1
                if self.cfg.patience and s.bad_evals >= self.cfg.patience and not s.stop_reason:
                    s.stop_reason = "early_stopping"
            if self.cfg.schedule == "plateau":
                self.plateau.update(value, not self.plan.higher_is_better)
        else:  # nothing held out to choose by: the latest evaluation is the one to use
            s.best_step = s.step
            self._save_best()
        if self.world.main:
            with writing(self.run_dir / "metrics.jsonl", self.run_dir):
                state_io.append_metrics(self.run_dir / "metrics.jsonl", metrics)
        for cb in self.callbacks:
            cb.on_eval(s, metrics)
        if self.board is not None:
            self.board.evaluation(s.step, metrics)
        self._save_last()

    def _fit_horizon(self) -> None:
        """horizon: budget: at the first evaluation, end the cosine where the pace so far
        (training and this evaluation) says max_minutes will end the run; rank 0's figure
        on every rank, kept in the state so a resumed run anneals alike."""
        c, s = self.cfg, self.state
        if c.horizon != "budget" or s.horizon is not None or not c.max_minutes or not s.step:
            return
        elapsed = max(time.monotonic() - self.started, 1e-9)
        fitted = int(c.max_minutes * 60 * s.step / elapsed)
        s.horizon = int(distributed.broadcast_json(max(s.step + 1, fitted), self.world))
        s.horizon = min(s.horizon, self.total_steps)
        epochs = s.horizon / max(1, self.plan.num_batches(0))
        log.info(
            "the cosine schedule ends at step %d (about %.1f epochs), where the %g-minute "
            "budget ends at this pace",
            s.horizon,
            epochs,
            c.max_minutes,
        )

    def _save_last(self) -> None:
        self._save("last.safetensors", with_train=True)

    def _save_best(self) -> None:
        with self._averaged():  # what was evaluated is what the commands will use
            self._save("best.safetensors", with_train=False)

    def _save(self, name: str, with_train: bool) -> None:
        s = self.state
        s.plateau = self.plateau.to_json()
        if with_train:  # every rank holds its own part of the sum: the file gets their total
            s.train_loss_sum = float(self._sum(self.train_sum.clone()))
        meta: dict[str, Any] = {
            **self.meta,
            "task_data": self.plan.meta,
            "versions": package_versions(),
            "metrics": s.metrics,
            "training": {
                "steps": s.step,
                "epochs": s.epoch,
                "seconds": round(s.seconds, 2),
                "units": s.units,
                "unit": self.plan.unit,
                "best_step": s.best_step,
                "stop_reason": s.stop_reason,
                "done": s.done,
            },
        }
        train: dict[str, Tensor] = {}
        if with_train:  # every rank's carried state and RNG: gathered from all of them
            carry_kind, carry_tensors = state_io.dump_carry(self.carry)
            ranks = distributed.gather_tensors({**carry_tensors, **state_io.get_rng()}, self.world)
            optim_meta, optim_tensors = state_io.dump_optimizer(self.optimizer)
            train = {**optim_tensors, **ranks[0]}
            if self.ema is not None:  # the same on every rank: rank 0's
                train.update({f"ema.{i}": t for i, t in enumerate(self.ema)})
            for r, part in enumerate(ranks[1:], start=1):
                train.update({f"rank{r}.{k}": v for k, v in part.items()})
            meta["trainer"] = {"state": asdict(s), "optimizer": optim_meta, "carry": carry_kind}
            if self.world.distributed:
                meta["trainer"]["world_size"] = self.world.size
        if not self.world.main:
            return
        model_state = self.model.state_dict()
        with writing(self.run_dir / name, self.run_dir):
            save_checkpoint(
                self.run_dir / name, Checkpoint(meta=meta, model=model_state, train=train)
            )
