"""The Python API: train, load, generate, evaluate, info. Returns values, never prints.

from rnncli import api
run = api.train("recipes/shakespeare.yaml", overrides=["training.max_minutes=2"])
model = api.load(run)              # api.load() is the built-in model
print(api.generate_text(model, "He ate", length=200)[0])
"""

from __future__ import annotations

import importlib.resources
import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from rnncli.config import (
    Section,
    apply_overrides,
    dump_recipe,
    load_recipe,
    validate_recipe,
)
from rnncli.data.text import read_lines
from rnncli.errors import CheckpointError, RecipeError, UsageError
from rnncli.tasks import classify as cls
from rnncli.tasks import generate as lm
from rnncli.tasks import get_task
from rnncli.training.checkpoint import (
    Checkpoint,
    atomic_write,
    load_checkpoint,
    resolve_model_path,
)
from rnncli.training.state_io import append_metrics
from rnncli.training.trainer import Callback, Trainer, pick_device

log = logging.getLogger("rnncli")
PRETRAINED = {"generate": "generate.safetensors"}


def set_threads(threads: int | None) -> None:
    if threads:
        torch.set_num_threads(threads)


# --------------------------------------------------------------------------- train
def unique_run_dir(path: Path) -> Path:
    """`path` if free (missing or empty), else `path-1`, `path-2`...: never reuse a run."""
    candidate, n = path, 0
    while candidate.exists() and (not candidate.is_dir() or any(candidate.iterdir())):
        n += 1
        candidate = path.with_name(f"{path.name}-{n}")
    return candidate


def train(
    recipe: str | Path | None = None,
    overrides: Iterable[str] = (),
    resume: str | Path | None = None,
    output: str | Path | None = None,
    callbacks: Iterable[Callback] = (),
    threads: int | None = None,
) -> Path:
    """Train from a recipe (or resume a run) and return the run directory."""
    overrides = list(overrides)
    if resume is not None:
        return _resume(Path(resume), overrides, callbacks, threads)
    if recipe is None:
        raise UsageError("give a recipe to train, or --resume RUN")
    spec = load_recipe(recipe, overrides)
    run_dir = unique_run_dir(Path(output) if output else Path(spec.output))  # type: ignore[attr-defined]
    run_dir.mkdir(parents=True, exist_ok=True)
    atomic_write(run_dir / "recipe.yaml", dump_recipe(spec).encode("utf-8"))
    return _fit(spec, run_dir, None, callbacks, threads)


def _resume(
    run_dir: Path, overrides: list[str], callbacks: Iterable[Callback], threads: int | None
) -> Path:
    bad = [o for o in overrides if not o.startswith("training.")]
    if bad:
        raise RecipeError(f"only training.* can change when resuming, not {bad[0]!r}")
    ckpt = load_checkpoint(run_dir / "last.safetensors", with_train=True)
    data = apply_overrides(dict(ckpt.meta["recipe"]), overrides)
    spec = validate_recipe(data, str(run_dir / "recipe.yaml"))
    if overrides:
        atomic_write(run_dir / "recipe.yaml", dump_recipe(spec).encode("utf-8"))
    return _fit(spec, run_dir, ckpt, callbacks, threads)


def _fit(
    spec: Section,
    run_dir: Path,
    ckpt: Checkpoint | None,
    callbacks: Iterable[Callback],
    threads: int | None,
) -> Path:
    cfg = spec.training  # type: ignore[attr-defined]
    set_threads(threads or cfg.threads)
    task = get_task(spec.task)  # type: ignore[attr-defined]
    torch.manual_seed(cfg.rng_seed)
    plan = task.prepare(spec, run_dir, ckpt.meta["task_data"] if ckpt else None)
    meta = {"task": task.name, "recipe": spec.model_dump(mode="json")}
    trainer = Trainer(plan, cfg, run_dir, meta, callbacks)
    if ckpt is not None:
        trainer.restore(ckpt)
    state = trainer.fit()
    test = getattr(spec.data, "test", None)  # type: ignore[attr-defined]
    if test:
        metrics = evaluate(load(run_dir, task.name, device=cfg.device), test)
        append_metrics(run_dir / "metrics.jsonl", {"step": state.step, "split": "test", **metrics})
        scalars = {k: v for k, v in metrics.items() if isinstance(v, float)}
        log.info("test set %s: %s", test, ", ".join(f"{k} {v:.4f}" for k, v in scalars.items()))
    return run_dir


# ---------------------------------------------------------------------------- load
@dataclass
class Loaded:
    """A trained model ready to predict, with what it needs (codec, recipe)."""

    task: str
    model: nn.Module
    meta: dict[str, Any]
    path: Path
    builtin: bool = False


def builtin_path(task: str) -> Path:
    name = PRETRAINED.get(task)
    resource = importlib.resources.files("rnncli") / "pretrained" / (name or "")
    path = Path(str(resource))
    if not name or not path.is_file():
        raise CheckpointError(f"no built-in {task} model in this installation: pass --model RUN")
    return path


def load(
    model: str | Path | None = None,
    task: str | None = None,
    device: str = "auto",
    threads: int | None = None,
) -> Loaded:
    """Load a run directory or checkpoint file; None loads the task's built-in model.

    `task` (optional with a model) makes a checkpoint of another task an error.
    """
    set_threads(threads)
    builtin = model is None
    path = builtin_path(task or "generate") if model is None else resolve_model_path(Path(model))
    ckpt = load_checkpoint(path, task=task)
    task = ckpt.task
    recipe = validate_recipe(dict(ckpt.meta["recipe"]), str(path))
    net = get_task(task).build_model(recipe.model, ckpt.meta["task_data"])  # type: ignore[attr-defined]
    try:
        net.load_state_dict(ckpt.model)
    except RuntimeError as exc:
        first = str(exc).splitlines()[0]
        raise CheckpointError(
            f"checkpoint weights do not fit its model ({path}): {first}"
        ) from None
    net.to(pick_device(device)).eval()
    return Loaded(task=task, model=net, meta=ckpt.meta, path=path, builtin=builtin)


# ------------------------------------------------------------------------ generate
def generate(
    loaded: Loaded,
    seed: str,
    length: int = 200,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    num_samples: int = 1,
    stop: str | None = None,
    rng_seed: int | None = None,
    allow_unknown: bool = False,
) -> Iterator[list[str]]:
    """Stream the text each sample gains, one token at a time."""
    if temperature < 0:
        raise UsageError("--temperature must be >= 0 (0 is greedy)")
    if top_p is not None and not 0 < top_p <= 1:
        raise UsageError("--top-p must be in (0, 1]")
    if top_k is not None and top_k < 1:
        raise UsageError("--top-k must be >= 1")
    generator = torch.Generator(device=next(loaded.model.parameters()).device)
    generator.manual_seed(rng_seed if rng_seed is not None else torch.seed())
    codec = lm.Codec(loaded.meta["task_data"])
    return lm.generate(
        loaded.model,  # type: ignore[arg-type]
        codec,
        seed,
        length,
        temperature,
        top_k,
        top_p,
        num_samples,
        stop,
        generator,
        allow_unknown,
    )


def generate_text(loaded: Loaded, seed: str, **kwargs: Any) -> list[str]:
    """The continuations of `seed`, one string per sample."""
    parts: list[list[str]] = []
    for pieces in generate(loaded, seed, **kwargs):
        parts.append(pieces)
    n = kwargs.get("num_samples", 1)
    return ["".join(p[i] for p in parts) for i in range(n)]


# ------------------------------------------------------------------------ classify
def classify(
    loaded: Loaded, lines: Iterable[str], batch_size: int = 256
) -> Iterator[tuple[str, dict[str, float]]]:
    """(text, {label: probability}) per line, in input order, streamed in batches.

    A blank line gets an empty dict: nothing to classify, but its place is kept.
    """
    if batch_size < 1:
        raise UsageError("--batch-size must be >= 1")
    codec = cls.Codec(loaded.meta["task_data"])
    for text, probs in cls.classify_lines(loaded.model, codec, lines, batch_size):
        yield text, {} if probs is None else dict(zip(codec.labels, probs.tolist(), strict=True))


def decide(
    loaded: Loaded,
    probs: dict[str, float],
    top_k: int | None = None,
    threshold: float | None = None,
) -> list[tuple[str, float]]:
    """The predicted labels of one line, most probable first.

    Single-label: the `top_k` (default 1) most probable. Multi-label: every label at or
    above `threshold` (default: the recipe's `model.threshold`), at most `top_k`.
    """
    ranked = sorted(probs.items(), key=lambda kv: -kv[1])
    if not loaded.meta["task_data"].get("multi_label"):
        if threshold is not None:
            raise UsageError("--threshold applies to multi-label models; this one is not")
        return ranked[: top_k or 1]
    if threshold is None:
        threshold = float(loaded.meta["recipe"]["model"].get("threshold", 0.5))
    if not 0 < threshold < 1:
        raise UsageError("--threshold must be between 0 and 1")
    return [(label, p) for label, p in ranked if p >= threshold][:top_k]


def trace(loaded: Loaded, text: str) -> list[tuple[str, dict[str, float]]]:
    """The class probabilities after each token of `text`: the model's opinion as it reads."""
    codec = cls.Codec(loaded.meta["task_data"])
    tokens = codec.tokenizer.split(text)[: codec.max_length or None] or [""]
    ids = codec.encode(text)
    prefixes = [ids[: i + 1] for i in range(len(ids))]
    probs = cls.predict_ids(loaded.model, prefixes, 256, codec.multi_label)
    return [
        (tok, dict(zip(codec.labels, p.tolist(), strict=True)))
        for tok, p in zip(tokens, probs, strict=True)
    ]


# ------------------------------------------------------------------------ evaluate
def evaluate(loaded: Loaded, path: str | Path, encoding: str = "utf-8") -> dict[str, Any]:
    """Metrics of the model on a held-out file."""
    if loaded.task == "generate":
        codec = lm.Codec(loaded.meta["task_data"])
        return lm.evaluate_file(loaded.model, codec, Path(path), encoding)  # type: ignore[arg-type]
    if loaded.task == "classify":
        recipe = loaded.meta["recipe"]
        labelled = cls.Codec(loaded.meta["task_data"])
        threshold = float(recipe["model"].get("threshold", 0.5))
        return cls.evaluate_file(loaded.model, labelled, Path(path), recipe["data"], threshold)
    raise UsageError(f"evaluate does not support task {loaded.task!r} yet")


# ---------------------------------------------------------------------------- info
def info(model: str | Path | None, task: str | None = None) -> dict[str, Any]:
    """What a run is: task, architecture, size, data, training time and metrics."""
    path = builtin_path(task or "generate") if model is None else resolve_model_path(Path(model))
    ckpt = load_checkpoint(path)
    meta = ckpt.meta
    recipe = meta["recipe"]
    task_data = meta["task_data"]
    return {
        "path": str(path),
        "task": meta["task"],
        "model": recipe["model"],
        "parameters": sum(t.numel() for name, t in ckpt.model.items() if name not in _tied(recipe)),
        "vocab_size": len(task_data.get("vocab", [])),
        "tokenizer": task_data.get("tokenizer"),
        "data": recipe["data"],
        "train_tokens": task_data.get("train_tokens"),
        "training": meta.get("training", {}),
        "metrics": meta.get("metrics", {}),
        "versions": meta.get("versions", {}),
    }


def _tied(recipe: dict[str, Any]) -> set[str]:
    return {"head.weight"} if recipe["model"].get("tie_embeddings") else set()


__all__ = [
    "Loaded",
    "classify",
    "decide",
    "evaluate",
    "generate",
    "generate_text",
    "info",
    "load",
    "read_lines",
    "trace",
    "train",
]
