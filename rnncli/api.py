"""The Python API: train, load, generate, evaluate, info. Returns values, never prints.

from rnncli import api
run = api.train("recipes/shakespeare.yaml", overrides=["training.max_minutes=2"])
model = api.load(run)              # api.load() is the built-in model
print(api.generate_text(model, "He ate", length=200)[0])
"""

from __future__ import annotations

import importlib.resources
import logging
import math
import sys
import tempfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path
from typing import IO, Any

import torch
import yaml

from rnncli.config import (
    Section,
    apply_overrides,
    dump_recipe,
    load_recipe,
    validate_recipe,
)
from rnncli.data.text import read_lines
from rnncli.errors import CheckpointError, RecipeError, UsageError
from rnncli.exporting import is_export
from rnncli.tasks import Loaded, Report
from rnncli.tasks.registry import builtin_file, get_task
from rnncli.tasks.task_data import checked
from rnncli.training import board, distributed, rundir
from rnncli.training.checkpoint import (
    Checkpoint,
    atomic_write,
    load_checkpoint,
    resolve_model_path,
)
from rnncli.training.state_io import append_metrics, has_test_line
from rnncli.training.trainer import Callback, Trainer, pick_device

log = logging.getLogger("rnncli")


def set_threads(threads: int | None) -> None:
    if threads:
        torch.set_num_threads(threads)


# --------------------------------------------------------------------------- train
def train(
    recipe: str | Path | None = None,
    overrides: Iterable[str] = (),
    resume: str | Path | None = None,
    output: str | Path | None = None,
    callbacks: Iterable[Callback] = (),
    threads: int | None = None,
) -> Path:
    """Train from a recipe (or resume a run) and return the run directory.

    A new run gets a directory of its own (`output`, else `output-1`...), locked until
    the run ends: see training/rundir.py. A stop signal raises `RunInterrupted`.
    Started by torchrun, each process trains its share (training/distributed.py); process
    0 alone makes the directory and writes in it, and every process returns its path.
    """
    overrides = list(overrides)
    try:
        if resume is not None:
            return _resume(Path(resume), overrides, callbacks, threads)
        if recipe is None:
            raise UsageError("give a recipe to train, or --resume RUN")
        spec = load_recipe(recipe, overrides)
        world = _join(spec)
        wanted = Path(output) if output else Path(spec.output)  # type: ignore[attr-defined]
        with _run_dir(lambda: rundir.new_run(wanted), world) as run_dir:
            if world.main:
                _write(run_dir / "recipe.yaml", dump_recipe(spec).encode("utf-8"), run_dir)
            return _fit(spec, run_dir, None, callbacks, threads, world)
    finally:
        distributed.stop()


def launch_train(worker_args: list[str], nproc: int, quiet: bool = False) -> None:
    """`rnn train WORKER_ARGS` in `nproc` processes, started by torch's launcher."""
    from rnncli.training.launch import launch

    launch(worker_args, nproc, quiet)


def main_process() -> bool:
    """False in the processes torchrun started besides rank 0 (they print nothing)."""
    return distributed.from_env().main


def _join(spec: Section) -> distributed.World:
    """Join the other training processes, if torchrun started several."""
    cfg = spec.training  # type: ignore[attr-defined]
    return distributed.start(cfg.device, cfg.collective_timeout)[0]


def _run_dir(
    locked: Callable[[], AbstractContextManager[Path]], world: distributed.World
) -> AbstractContextManager[Path]:
    """Rank 0 makes and holds the run directory; the others learn its path from rank 0."""
    if world.main:
        return distributed.shared_path(locked(), world)
    return nullcontext(Path(distributed.broadcast_json(None, world)))


def _write(path: Path, data: bytes, run_dir: Path) -> None:
    with rundir.writing(path, run_dir):
        atomic_write(path, data)


def _resume(
    run_dir: Path, overrides: list[str], callbacks: Iterable[Callback], threads: int | None
) -> Path:
    bad = [o for o in overrides if not o.startswith("training.")]
    if bad:
        raise RecipeError(f"only training.* can change when resuming, not {bad[0]!r}")
    if not (run_dir / "last.safetensors").is_file():  # before locking: no .lock elsewhere
        raise CheckpointError(
            f"nothing to resume in {run_dir}: it has no last.safetensors (not a run "
            "directory, or a run stopped before its first save): start the run again"
        )
    world = distributed.from_env()
    with rundir.existing_run(run_dir) if world.main else nullcontext(run_dir):
        ckpt = load_checkpoint(run_dir / "last.safetensors", with_train=True)
        _, state = checked(ckpt)
        data = apply_overrides(dict(ckpt.meta["recipe"]), overrides)
        spec = validate_recipe(data, str(run_dir / "recipe.yaml"), stored=True)
        if not overrides and _complete(spec, ckpt, state, run_dir):
            log.info(
                "%s is already complete (step %s): nothing to resume; "
                "--set training.max_steps=N (or epochs) trains it further",
                run_dir,
                ckpt.meta["training"]["steps"],
            )
            return run_dir
        world = _join(spec)
        if overrides and world.main:
            _write(run_dir / "recipe.yaml", dump_recipe(spec).encode("utf-8"), run_dir)
        return _fit(spec, run_dir, (ckpt, state), callbacks, threads, world)


def _complete(spec: Section, ckpt: Checkpoint, state: Any, run_dir: Path) -> bool:
    """Training done and, if there is a test set, its score written."""
    training = ckpt.meta.get("training") or {}
    if not training.get("done"):
        return False
    test = get_task(ckpt.task).test_source(spec, state, run_dir)
    return not test or has_test_line(run_dir / "metrics.jsonl", training["steps"])


def _fit(
    spec: Section,
    run_dir: Path,
    resumed: tuple[Checkpoint, Any] | None,
    callbacks: Iterable[Callback],
    threads: int | None,
    world: distributed.World = distributed.SINGLE,
) -> Path:
    """Train (or go on training) a run; then score its test data, if it has any.

    Processes other than rank 0 prepare their data (caches, held-out files) in a private
    temporary directory, so only rank 0 writes in the run directory.
    """
    cfg = spec.training  # type: ignore[attr-defined]
    if cfg.tensorboard:
        board.check_available()  # before data preparation, not after it
    set_threads(threads or cfg.threads)
    task = get_task(spec.task)  # type: ignore[attr-defined]
    torch.manual_seed(cfg.rng_seed)
    with _scratch(run_dir, world) as prep_dir:
        stored = resumed[1] if resumed else None
        plan = task.prepare(distributed.batch_spec(spec, world), prep_dir, stored)
        meta = {"task": task.name, "recipe": spec.model_dump(mode="json")}
        device = distributed.device_for(world, cfg.device)
        trainer = Trainer(plan, cfg, run_dir, meta, callbacks, world, device)
        if resumed is not None:
            trainer.restore(resumed[0])
        state = trainer.fit()
    test = task.test_source(spec, task.TaskData.from_json(plan.meta), run_dir)
    if not world.main:
        return run_dir
    if test:
        loaded = load(run_dir, task.name, device=cfg.device)
        metrics = evaluate(loaded, test)
        with rundir.writing(run_dir / "metrics.jsonl", run_dir):
            row = {"step": state.step, "split": "test", **metrics}
            append_metrics(run_dir / "metrics.jsonl", row)
        log.info("test %s: %s", test, summary(metrics))
    return run_dir


@contextmanager
def _scratch(run_dir: Path, world: distributed.World) -> Iterator[Path]:
    if world.main:
        yield run_dir
        return
    with tempfile.TemporaryDirectory(prefix=f"rnncli-rank{world.rank}-") as scratch:
        yield Path(scratch)


def summary(metrics: dict[str, Any]) -> str:
    """One line of a metrics dict: its numbers, and those of nested dicts (baselines)."""
    parts = []
    for key, value in metrics.items():
        if isinstance(value, float):
            parts.append(f"{key} {value:.4f}")
        elif isinstance(value, dict) and all(isinstance(v, float) for v in value.values()):
            parts.append(f"{key}: " + " ".join(f"{k} {v:.4f}" for k, v in value.items()))
    return ", ".join(parts)


# ---------------------------------------------------------------------------- load
def builtin_path(task: str) -> Path:
    name = builtin_file(task)
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
    if model is not None and is_export(model):
        from rnncli.exporting.reader import load_export

        return load_export(Path(model), task, threads)
    builtin = model is None
    path = builtin_path(task or "generate") if model is None else resolve_model_path(Path(model))
    ckpt = load_checkpoint(path, task=task)
    task = ckpt.task
    recipe, state = checked(ckpt)
    net = get_task(task).build_model(recipe.model, state)  # type: ignore[attr-defined]
    try:
        net.load_state_dict(ckpt.model)
    except RuntimeError as exc:
        first = str(exc).splitlines()[0]
        raise CheckpointError(
            f"checkpoint weights do not fit its model ({path}): {first}"
        ) from None
    net.to(pick_device(device)).eval()
    return Loaded(task, net, ckpt.meta, path, recipe=recipe, state=state, builtin=builtin)


def export(
    loaded: Loaded,
    out: str | Path,
    fmt: str = "onnx",
    quantize: str | None = None,
    tolerance: float = 1e-4,
) -> dict[str, Any]:
    """Write `loaded` as ONNX graphs plus JSON into the new directory `out`, checked
    against the torch model before it appears; returns its manifest (model.json)."""
    from rnncli.exporting.writer import export_run

    return export_run(loaded, Path(out), fmt, quantize, tolerance)


def _impl(loaded: Loaded, task: str) -> Any:
    """The module of `task`, for a model of that task (else one clear error)."""
    if loaded.task != task:
        raise UsageError(f"{loaded.path} is a {loaded.task} model, not a {task} model")
    return get_task(task)


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
    if not 0 <= temperature < math.inf:
        raise UsageError("--temperature must be a finite number >= 0 (0 is greedy)")
    if top_p is not None and not 0 < top_p <= 1:
        raise UsageError("--top-p must be in (0, 1]")
    if top_k is not None and top_k < 1:
        raise UsageError("--top-k must be >= 1")
    generator = torch.Generator(device=next(loaded.model.parameters()).device)
    generator.manual_seed(rng_seed if rng_seed is not None else torch.seed())
    lm = _impl(loaded, "generate")
    codec = lm.Codec(loaded.state)
    return lm.generate(  # type: ignore[no-any-return]
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
    cls = _impl(loaded, "classify")
    codec = cls.Codec(loaded.state)
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
    _impl(loaded, "classify")
    ranked = sorted(probs.items(), key=lambda kv: -kv[1])
    if not loaded.state.multi_label:
        if threshold is not None:
            raise UsageError("--threshold applies to multi-label models; this one is not")
        return ranked[: top_k or 1]
    if threshold is None:
        threshold = loaded.recipe.model.threshold
    if not 0 < threshold < 1:
        raise UsageError("--threshold must be between 0 and 1")
    return [(label, p) for label, p in ranked if p >= threshold][:top_k]


def trace(loaded: Loaded, text: str) -> list[tuple[str, dict[str, float]]]:
    """The class probabilities after each token of `text`: the model's opinion as it reads."""
    cls = _impl(loaded, "classify")
    codec = cls.Codec(loaded.state)
    tokens = codec.tokenizer.split(text)[: codec.max_length or None] or [""]
    ids = codec.encode(text)
    prefixes = [ids[: i + 1] for i in range(len(ids))]
    probs = cls.predict_ids(loaded.model, prefixes, 256, codec.multi_label)
    return [
        (tok, dict(zip(codec.labels, p.tolist(), strict=True)))
        for tok, p in zip(tokens, probs, strict=True)
    ]


# ------------------------------------------------------------------------ forecast
def read_series(
    loaded: Loaded,
    source: str | Path | IO[str] | None,
    target: str | None = None,
    time_column: str | None = None,
    id_column: str | None = None,
) -> Any:
    """A CSV (path, '-'/None for stdin, or a stream) read the way the model was trained."""
    return _impl(loaded, "forecast").read_series(loaded, source, target, time_column, id_column)


def forecast(
    loaded: Loaded,
    source: str | Path | IO[str] | None,
    horizon: int | None = None,
    target: str | None = None,
    time_column: str | None = None,
    id_column: str | None = None,
) -> list[Any]:
    """Forecast `horizon` steps (default: the trained horizon) after every series' end:
    one SeriesForecast per series."""
    impl = _impl(loaded, "forecast")
    return impl.forecast_model(loaded, source, horizon, target, time_column, id_column)


def default_forecast_recipe(
    train: str | Path,
    horizon: int | None,
    target: str | None = None,
    time_column: str | None = None,
    id_column: str | None = None,
    max_minutes: float = 0.75,
) -> dict[str, Any]:
    """The built-in forecasting recipe for a CSV (sizes from its inferred frequency)."""
    impl = get_task("forecast")
    return impl.default_recipe(train, horizon, target, time_column, id_column, max_minutes)  # type: ignore[attr-defined]


def fit_forecaster(
    source: str | Path | None,
    horizon: int | None,
    run_dir: Path,
    target: str | None = None,
    time_column: str | None = None,
    id_column: str | None = None,
    callbacks: Iterable[Callback] = (),
    threads: int | None = None,
    max_minutes: float = 0.75,
) -> Path:
    """Train the built-in forecasting recipe on one CSV (or stdin); return the run dir.

    The run goes to a new directory, `run_dir` or else `run_dir-1`... (as `train`).
    """
    if horizon is not None and horizon < 1:
        raise UsageError("--horizon must be >= 1")
    with rundir.new_run(run_dir) as run_dir:
        if source is None or str(source) == "-":
            csv_path = run_dir / "input.csv"
            _write(csv_path, sys.stdin.buffer.read(), run_dir)
            source = csv_path
        recipe = default_forecast_recipe(
            source, horizon, target, time_column, id_column, max_minutes
        )
        path = run_dir / "recipe.yaml"
        _write(path, yaml.safe_dump(recipe, sort_keys=False).encode("utf-8"), run_dir)
        spec = load_recipe(path)
        return _fit(spec, run_dir, None, callbacks, threads)


# ----------------------------------------------------------------------- translate
def translate(
    loaded: Loaded,
    lines: Iterable[str],
    beam: int = 5,
    n_best: int = 1,
    length_penalty: float = 1.0,
    max_ratio: float | None = None,
    max_length: int | None = None,
    batch_size: int = 64,
    attention: bool = False,
) -> Iterator[Any]:
    """One Translation per input line, in input order, streamed in batches.

    beam 1 is greedy search; `n_best` candidates per line, best first, each with its
    length-normalised score (and its attention matrix when `attention`). A blank line
    gets no candidate (empty text); source over the model's data.max_length tokens is
    cut (`Translation.truncated` says by how many).
    """
    tr = _impl(loaded, "translate")
    codec = tr.Codec(loaded.state)
    search = tr.Search(beam, n_best, length_penalty, max_ratio, max_length, batch_size, attention)
    return tr.translate_lines(loaded.model, codec, lines, search.check())  # type: ignore[no-any-return]


def translate_text(loaded: Loaded, text: str, **kwargs: Any) -> str:
    """The best translation of one sentence."""
    return next(translate(loaded, [text], **kwargs)).text


# ------------------------------------------------------------------------------ tag
def tag(
    loaded: Loaded,
    lines: Iterable[str],
    batch_size: int = 64,
    input_format: str = "text",
    confidence: bool = False,
    where: str = "the input",
) -> Iterator[Any]:
    """One `Tagged` (tokens, tags, entities) per input, in input order, streamed in batches.

    `input_format` text: each line is raw text, tokenised by the model's tokenizer with
    character offsets (a blank line gets no tokens); conll: `lines` are CoNLL rows, token
    first, a blank line between sentences. `confidence` adds each token's tag probability
    (CRF marginals or softmax) and each entity's mean of them.
    """
    if batch_size < 1:
        raise UsageError("--batch-size must be >= 1")
    if input_format not in ("text", "conll"):
        raise UsageError(f"--input must be text or conll, not {input_format!r}")
    impl = _impl(loaded, "tag")
    codec = impl.Codec(loaded.state)
    if input_format == "text":
        return impl.tag_lines(loaded.model, codec, lines, batch_size, confidence)  # type: ignore[no-any-return]
    from rnncli.data.tagging import iter_conll

    sentences = (s.tokens for s in iter_conll(lines, where, tag_column=None))
    return impl.tag_sentences(loaded.model, codec, sentences, batch_size, confidence)  # type: ignore[no-any-return]


# ------------------------------------------------------------------------ evaluate
def evaluate(
    loaded: Loaded,
    path: str | Path | dict[str, str],
    encoding: str = "utf-8",
    beam: int = 5,
    length_penalty: float = 1.0,
    references: str | Path | None = None,
) -> dict[str, Any]:
    """Metrics of the model on held-out data (each task says which: `rnn evaluate -h`).

    translate: a TSV of pairs, {source:, target:} files, or a source file and its
    `references`; BLEU and chrF of beam search (`beam`), token accuracy, perplexity.
    """
    task = get_task(loaded.task)
    takes = task.evaluate_options
    if references is not None and "references" not in takes:
        raise UsageError(f"--references is not an option of {loaded.task} models")
    if isinstance(path, dict) and "references" not in takes:
        raise UsageError(f"a {loaded.task} model evaluates one file, not a pair of files")
    given = {"encoding": encoding, "beam": beam, "length_penalty": length_penalty}
    options = {k: v for k, v in given.items() if k in takes}
    if references is not None:
        options["references"] = references
    return task.evaluate(loaded, path, **options)


def report(loaded: Loaded, metrics: dict[str, Any], source: Any) -> list[Report]:
    """The tables `rnn evaluate` shows for metrics of this model."""
    return get_task(loaded.task).report(metrics, source)


# ---------------------------------------------------------------------------- info
def info(model: str | Path | None, task: str | None = None) -> dict[str, Any]:
    """What a run (or an export of one) is: task, architecture, size, data, training time
    and metrics."""
    extra: dict[str, Any] = {}
    if model is not None and is_export(model):
        from rnncli.exporting.reader import load_export, read_manifest

        path = Path(model)
        loaded = load_export(path)
        meta, state = loaded.meta, loaded.state
        net = get_task(loaded.task).build_model(loaded.recipe.model, state)  # type: ignore[attr-defined]
        parameters = sum(p.numel() for p in net.parameters())  # shared ones once
        manifest = read_manifest(path)
        graphs = {name: g.get("bytes") for name, g in manifest["graphs"].items()}
        extra["export"] = {"precision": manifest["precision"], "graphs": graphs}
    else:
        path = (
            builtin_path(task or "generate") if model is None else resolve_model_path(Path(model))
        )
        ckpt = load_checkpoint(path)
        _, state = checked(ckpt)
        meta = ckpt.meta
        parameters = sum(
            t.numel()
            for name, t in ckpt.model.items()
            if name not in _tied(meta["recipe"]) and name not in meta.get("aliases", {})
        )
    recipe = meta["recipe"]  # as stored: `rnn info --format json` shows what the file holds
    described = get_task(meta["task"]).describe(state)
    return {
        "path": str(path),
        "task": meta["task"],
        "model": recipe["model"],
        "parameters": parameters,
        "vocab_size": described.get("vocab_size", 0),
        "tokenizer": described.get("tokenizer"),
        "data": recipe["data"],
        "train_tokens": described.get("train_tokens"),
        "train_pairs": described.get("train_pairs"),
        "training": meta.get("training", {}),
        "metrics": meta.get("metrics", {}),
        "versions": meta.get("versions", {}),
        **extra,
    }


def _tied(recipe: dict[str, Any]) -> set[str]:
    """Names of tied copies in checkpoints written before tied weights were stored once."""
    model = recipe["model"]
    tied = {"head.weight"} if model.get("tie_embeddings") else set()
    return tied | ({"target_embedding.weight"} if model.get("share_embeddings") else set())


__all__ = [
    "Loaded",
    "classify",
    "decide",
    "evaluate",
    "fit_forecaster",
    "forecast",
    "generate",
    "generate_text",
    "info",
    "load",
    "read_lines",
    "tag",
    "trace",
    "train",
    "translate",
    "translate_text",
]
