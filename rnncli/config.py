"""Recipe loading (pydantic v2) and the sections every task shares. Imports no torch.

A recipe is YAML with a `task:` key that picks the schema (each task's own, in
rnncli/tasks/<name>/schema.py, found through the registry). Dotted overrides
(`training.lr=1.0e-3`) are merged before validation; unknown keys are refused with a
did-you-mean; every error of a recipe is reported at once, with its path.
"""

from __future__ import annotations

import copy
import difflib
import re
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    model_validator,
)

from rnncli.errors import RecipeError, excerpt

# Units of one layer (and embedding sizes): an LSTM layer of 16,384 units already holds
# 2.1 billion weights (8.6 GB); a larger value is a typo, not a model.
MAX_UNITS = 16384


def token_pattern(value: str | None) -> str | None:
    """A word regex as recipes and checkpoints take it: it compiles, no capturing groups."""
    if value is not None:
        try:
            compiled = re.compile(value)
        except re.error as exc:
            raise ValueError(f"not a valid regular expression: {exc}") from None
        if compiled.groups:
            raise ValueError("use (?:...) instead of capturing groups")
    return value


# Fields several tasks' data sections share: one definition each (bounds, description).
def encoding_field() -> Any:
    return Field("utf-8", description="Text encoding of the data files.")


def min_freq_field() -> Any:
    return Field(1, ge=1, description="Tokens seen fewer times become `<unk>`.")


def max_size_field(at_least: int = 2) -> Any:
    return Field(None, ge=at_least, description="Keep only the most frequent tokens.")


class Section(BaseModel):
    """Base of every recipe section: unknown keys are errors, defaults are validated."""

    model_config = ConfigDict(extra="forbid", validate_default=True, allow_inf_nan=False)


class RecurrentSection(Section):
    """What every recurrent model takes: the cell and the shape of the stack."""

    cell: Literal["rnn", "lstm", "gru"] = Field("lstm", description="Recurrent cell.")
    nonlinearity: Literal["tanh", "relu"] = Field("tanh", description="For `cell: rnn` only.")
    hidden_size: int = Field(256, ge=1, le=MAX_UNITS, description="Units per recurrent layer.")
    num_layers: int = Field(2, ge=1, le=16, description="Stacked recurrent layers.")
    dropout: float = Field(0.0, ge=0.0, lt=1.0, description="Dropout on inputs and outputs.")
    bidirectional: bool = Field(False, description="Bidirectional layers (encoders only).")
    learn_initial_state: bool = Field(False, description="Learn the initial hidden state.")


class ModelSection(RecurrentSection):
    embedding_dim: int = Field(64, ge=1, le=MAX_UNITS, description="Size of the token embeddings.")
    tie_embeddings: bool = Field(False, description="Share input and output embeddings.")


_BOOLEAN = TypeAdapter(bool)


def _true_false_or_auto(value: Any) -> bool | str:
    """auto, or a boolean as pydantic reads one (true, no, 1, off...): one clear message."""
    if value == "auto":
        return "auto"
    try:
        return _BOOLEAN.validate_python(value)
    except ValidationError:
        raise ValueError("must be true, false or auto") from None


TrueFalseAuto = Annotated[bool | Literal["auto"], BeforeValidator(_true_false_or_auto)]


class TrainingSection(Section):
    epochs: int = Field(10, ge=1, description="Passes over the training data.")
    max_steps: int | None = Field(None, ge=1, description="Stop after this many updates.")
    max_minutes: float | None = Field(None, gt=0, description="Wall-clock training budget.")
    batch_size: int = Field(
        64,
        ge=1,
        le=1 << 20,
        description="Sequences per update (over all processes, or per process: batch_scope).",
    )
    batch_scope: Literal["global", "rank"] = Field(
        "global",
        description="With several processes (--nproc, torchrun): global = batch_size is the "
        "whole update, split between the processes, so a run trains the same at any process "
        "count (the default; resumable on the same count); rank = each process takes "
        "batch_size, the update grows with the process count (lr_scaling applies).",
    )
    lr_scaling: Literal["none", "linear", "sqrt"] = Field(
        "none",
        description="batch_scope rank only: lr is tuned for batch_size; the update averages "
        "batch_size x processes, and lr is multiplied by processes (linear; add "
        "warmup_steps), its square root (sqrt), or kept (none).",
    )
    collective_timeout: float = Field(
        1800.0,
        gt=0,
        description="Seconds a process waits for the others (e.g. while process 0 "
        "evaluates) before it stops with an error; a dead process is noticed at once.",
    )
    seq_length: int = Field(
        128, ge=1, le=1 << 20, description="Truncated BPTT length (language models)."
    )
    optimizer: Literal["sgd", "adam", "adamw"] = Field("adam", description="Optimizer.")
    lr: float = Field(2.0e-3, gt=0, description="Peak learning rate.")
    momentum: float = Field(0.9, ge=0, lt=1, description="SGD momentum.")
    weight_decay: float = Field(0.0, ge=0, description="Weight decay (decoupled for adamw).")
    schedule: Literal["constant", "cosine", "plateau"] = Field(
        "constant", description="Learning-rate schedule."
    )
    warmup_steps: int = Field(0, ge=0, description="Linear warm-up steps (cosine, constant).")
    min_lr_ratio: float = Field(0.0, ge=0, le=1, description="Cosine floor, as a ratio of lr.")
    horizon: Literal["steps", "budget"] = Field(
        "steps",
        description="Where the cosine ends: steps = at the epochs/max_steps limit; budget = "
        "where max_minutes ends the run, if sooner: at the first evaluation the run measures "
        "its pace (training and evaluation), fixes the cosine's last step from it (kept with "
        "the run, so resuming is exact) and stops there.",
    )
    ema_decay: float | None = Field(
        None,
        gt=0,
        lt=1,
        description="Keep an exponential moving average of the weights (the decay per "
        "update, e.g. 0.999; early on min(decay, (1+step)/(10+step))): evaluation, "
        "best.safetensors and so the model the commands use are the average, training goes "
        "on from the raw weights (kept with the run, so resuming is exact). null = off.",
    )
    plateau_factor: float = Field(0.5, gt=0, lt=1, description="LR factor on a plateau.")
    plateau_patience: int = Field(1, ge=0, description="Evaluations without gain before cutting.")
    clip_grad_norm: float | None = Field(5.0, gt=0, description="Clip the gradient norm; null=off.")
    eval_every: int | None = Field(None, ge=1, description="Validate every N steps; null=epoch.")
    eval_max_batches: int | None = Field(None, ge=1, description="Cap validation batches.")
    patience: int | None = Field(None, ge=1, description="Early stop after N evals w/o gain.")
    checkpoint_every: int = Field(200, ge=1, description="Save the resumable state every N steps.")
    rng_seed: int = Field(1234, description="Seed of every random choice in training.")
    device: Literal["auto", "cpu", "cuda", "mps"] = Field(
        "auto", description="auto: CUDA if any (several processes: one GPU each, LOCAL_RANK)."
    )
    mixed_precision: TrueFalseAuto = Field(
        False,
        description="Autocast: bf16 (else fp16) on CUDA; bf16 on a CPU with bf16 units "
        "(AMX or AVX512-BF16). true warns where it cannot help (other CPUs, where bf16 is "
        "slower than fp32; MPS) and trains in fp32; auto does the same quietly.",
    )
    threads: int | None = Field(None, ge=1, description="torch CPU threads; null=torch default.")
    tensorboard: bool = Field(
        False,
        description="Write the curves to RUN/tensorboard/ (pip install 'rnncli[tensorboard]').",
    )

    @model_validator(mode="after")
    def _budget_horizon(self) -> TrainingSection:
        if self.horizon == "budget" and (self.schedule != "cosine" or not self.max_minutes):
            raise ValueError("horizon: budget needs schedule: cosine and max_minutes")
        return self


MAX_RECIPE_BYTES = 1 << 20  # a recipe is a page of YAML; a bigger file is the wrong file
MAX_DEPTH = 32  # sections nest three levels deep; 32 leaves room and protects the stack
MAX_NODES = 100_000  # values after expanding YAML aliases (a "billion laughs" file)


class _RecipeLoader(yaml.SafeLoader):
    """PyYAML's safe loader with bounded nesting."""

    depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        self.depth += 1
        try:
            if self.depth > MAX_DEPTH:
                raise yaml.composer.ComposerError(
                    None,
                    None,
                    f"nested deeper than {MAX_DEPTH} levels",
                    self.peek_event().start_mark,
                )
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1


def _expanded_size(value: Any, memo: dict[int, int]) -> int:
    """Values in `value` once aliases are expanded (a cycle counts as too many)."""
    key = id(value)
    if key in memo:
        return memo[key]
    if not isinstance(value, (dict, list)):
        return 1
    memo[key] = MAX_NODES + 1  # seen again before it is done: an alias cycle
    children = value.values() if isinstance(value, dict) else value
    total = 1
    for child in children:
        total += _expanded_size(child, memo)
        if total > MAX_NODES:
            break
    memo[key] = total
    return total


def safe_yaml(text: str, where: str, what: str = "recipe") -> Any:
    """Parse YAML with bounded nesting and alias expansion; RecipeError names the line."""
    try:
        data = yaml.load(text, Loader=_RecipeLoader)  # a SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f"{where}, line {mark.line + 1}" if mark else where
        problem = getattr(exc, "problem", None) or "malformed YAML"
        raise RecipeError(f"{what} is not valid YAML ({at}): {problem}") from None
    except RecursionError:
        raise RecipeError(f"{what} is not valid YAML ({where}): nested too deeply") from None
    if _expanded_size(data, {}) > MAX_NODES:
        raise RecipeError(
            f"{what} is too large once its YAML aliases are expanded ({where}): "
            f"more than {MAX_NODES:,} values, or an alias that contains itself"
        )
    return data


def parse_override(text: str) -> tuple[list[str], Any]:
    """`a.b=value` -> (["a", "b"], value parsed as YAML)."""
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise RecipeError(
            f"override {excerpt(text)} is not KEY=VALUE: write e.g. training.lr=1.0e-3"
        )
    try:
        value = safe_yaml(raw, f"--set {key.strip()}", "override") if raw.strip() else ""
    except RecipeError as exc:
        if "too large" in str(exc) or "nested" in str(exc):  # refused, not just plain text
            raise
        value = raw
    return [part.strip() for part in key.split(".")], value


def apply_overrides(data: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    for text in overrides:
        path, value = parse_override(text)
        node = data
        for part in path[:-1]:
            child = node.get(part)
            if child is None:
                child = node[part] = {}
            if not isinstance(child, dict):
                raise RecipeError(f"override {excerpt(text)}: {part!r} is not a section")
            node = child
        node[path[-1]] = value
    return data


def read_yaml(path: Path) -> dict[str, Any]:
    try:
        with open(path, "rb") as handle:
            raw = handle.read(MAX_RECIPE_BYTES + 1)
    except FileNotFoundError:
        raise RecipeError(f"recipe not found ({path}): check the path") from None
    except IsADirectoryError:
        raise RecipeError(f"recipe is a directory ({path}): give a YAML file") from None
    except PermissionError:
        raise RecipeError(f"recipe cannot be read ({path}): permission denied") from None
    except OSError as exc:
        raise RecipeError(f"recipe cannot be read ({path}): {exc.strerror or exc}") from None
    if len(raw) > MAX_RECIPE_BYTES:
        raise RecipeError(
            f"recipe is larger than {MAX_RECIPE_BYTES >> 20} MB ({path}): is it the right file?"
        )
    if b"\0" in raw:
        at = raw.index(b"\0")
        raise RecipeError(f"recipe is a binary file ({path}, byte {at}): give a YAML file")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise RecipeError(f"recipe is not UTF-8 ({path}, byte {exc.start})") from None
    data = safe_yaml(text, str(path))
    if data is None:
        raise RecipeError(f"recipe is empty ({path}): start from recipes/shakespeare.yaml")
    if not isinstance(data, dict):
        raise RecipeError(f"recipe must be a mapping of sections ({path})")
    return data


def load_recipe(path: str | Path, overrides: list[str] | None = None) -> Section:
    """Read, override and validate a recipe; raises RecipeError listing every problem."""
    path = Path(path)
    data = apply_overrides(read_yaml(path), list(overrides or []))
    return validate_recipe(data, str(path))


def _with_stored_defaults(data: dict[str, Any], defaults: dict[str, Any]) -> dict[str, Any]:
    data = copy.deepcopy(data)
    for dotted, value in defaults.items():
        *parents, last = dotted.split(".")
        node: Any = data
        for part in parents:
            node = node.get(part) if isinstance(node, dict) else None
        if isinstance(node, dict) and last not in node:
            node[last] = value
    return data


def validate_recipe(data: dict[str, Any], where: str = "recipe", stored: bool = False) -> Section:
    """The recipe as the validated object of its task's schema (tasks/<name>/schema.py).

    `stored`: the recipe of an existing run; keys added since it was written take the
    value that run used (the schema's `STORED_DEFAULTS`), not today's default.
    """
    # the task list (a task's schema imports this module, so not at the top)
    from rnncli.tasks.registry import known, names, recipe_class

    task = data.get("task")
    if not known(task):
        listed = names()
        hint = _did_you_mean(task, listed) if isinstance(task, str) else ""
        raise RecipeError(
            f"task: unknown task {excerpt(task)} ({where}): choose one of {', '.join(listed)}{hint}"
        )
    cls = recipe_class(str(task))
    if stored:
        data = _with_stored_defaults(data, getattr(cls, "STORED_DEFAULTS", {}))
    try:
        return cls.model_validate(data)
    except ValidationError as exc:
        problems = [_describe(cls, err) for err in exc.errors()]
        raise RecipeError(
            f"{len(problems)} problem(s) in {where}: " + "; ".join(problems)
        ) from None


def _describe(cls: type[BaseModel], err: Any) -> str:
    loc = [str(part) for part in err["loc"]]
    path = ".".join(loc) or "(top)"
    if err["type"] == "extra_forbidden":
        fields = _fields_at(cls, loc[:-1])
        return f"{path}: unknown key{_did_you_mean(loc[-1], fields)}"
    if err["type"] == "missing":
        return f"{path}: required"
    msg = err["msg"]
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, ") :]
    value = err.get("input")
    shown = "" if isinstance(value, dict) else f" (got {excerpt(value)})"
    return f"{path}: {msg}{shown}"


def _fields_at(cls: type[BaseModel], loc: list[str]) -> list[str]:
    model: Any = cls
    for part in loc:
        field = model.model_fields.get(part) if hasattr(model, "model_fields") else None
        if field is None:
            return []
        model = field.annotation
    return list(model.model_fields) if hasattr(model, "model_fields") else []


def _did_you_mean(word: str, choices: list[str]) -> str:
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def recipe_to_dict(recipe: Section) -> dict[str, Any]:
    """The resolved recipe, every default filled in, as plain data."""
    return recipe.model_dump(mode="json")


def dump_recipe(recipe: Section) -> str:
    return yaml.safe_dump(recipe_to_dict(recipe), sort_keys=False)
