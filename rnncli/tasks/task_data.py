"""What a checkpoint's metadata may hold, checked before any Codec reads it.

A checkpoint's checksum proves the file is the one rnncli wrote, not that what it says
makes sense: a crafted or damaged header with a valid checksum must still be refused
in one line, never reach a Codec as a wrong type. So its recipe is validated like a
recipe file, and its `task_data` by the task's own schema: each task module defines
`TaskData` (a `StoredData`) beside its Codec, from the pieces below.
`check_checkpoint` is the one call in the load path (api.load, api.info, resuming).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated, Any, Literal, Self

from pydantic import AfterValidator, BaseModel, ConfigDict, ValidationError, model_validator

from rnncli.config import Section, token_pattern, validate_recipe
from rnncli.data.vocab import UNK
from rnncli.errors import RecipeError, excerpt
from rnncli.tasks.registry import get_task, known, names
from rnncli.training.checkpoint import invalid, problems

if TYPE_CHECKING:
    from rnncli.training.checkpoint import Checkpoint


class StoredData(BaseModel):
    """Base of a task's `task_data` schema: exact types, no unknown keys, finite floats."""

    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Self:
        """The typed state from its stored JSON (or a dict a task just made; numbers may
        be numpy scalars there, hence lax). A checkpoint's is checked strictly first."""
        return cls.model_validate(data, strict=False)

    def to_json(self) -> dict[str, Any]:
        """The stored JSON: the keys it was made from (no defaults added)."""
        return self.model_dump(mode="json", exclude_unset=True)

    def weight_rows(self) -> dict[str, tuple[str, int]]:
        """{weight name: (field, rows it must have)}: sizes the stored weights must match."""
        return {}


def _unique(values: list[Any]) -> list[Any]:
    seen: set[Any] = set()
    for value in values:
        if value in seen:
            raise ValueError(f"{excerpt(value)} is listed twice")
        seen.add(value)
    return values


def _starts_with_unk(tokens: list[str]) -> list[str]:
    if not tokens or tokens[0] != UNK:
        raise ValueError(f"a vocabulary starts with {UNK}")
    return tokens


Unique = Annotated[list[str], AfterValidator(_unique)]
Vocabulary = Annotated[list[str], AfterValidator(_unique), AfterValidator(_starts_with_unk)]
# The recipe's own check of data.token_pattern (compiles, no capturing groups).
TokenPattern = Annotated[str, AfterValidator(token_pattern)]


class TokenizerData(StoredData):
    """`Tokenizer.to_json()`: kind, lowercase, a word pattern, a trained subword model."""

    kind: Literal["char", "word", "subword"]
    lowercase: bool = False
    pattern: TokenPattern | None = None
    subword: str | None = None

    @model_validator(mode="after")
    def _parts(self) -> TokenizerData:
        if self.pattern is not None and self.kind != "word":
            raise ValueError(f"pattern: only a word tokenizer has one, not {self.kind!r}")
        if (self.subword is not None) != (self.kind == "subword"):
            raise ValueError("subword: a subword tokenizer has its trained model, others none")
        if self.subword is not None:
            _subword_model(self.subword)
        return self


def _subword_model(text: str) -> None:
    """The shape of a `tokenizers` model as Tokenizer.train stores it (its parser, native
    code, reads it later)."""
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        raise ValueError("subword: not a JSON document") from None
    model = data.get("model") if isinstance(data, dict) else None
    if not isinstance(model, dict) or model.get("type") not in ("BPE", "Unigram"):
        raise ValueError("subword: not a BPE or unigram model")


def check_checkpoint(ckpt: Checkpoint) -> Section:
    """Validate a loaded checkpoint's recipe and task data; return the recipe."""
    return checked(ckpt)[0]


def checked(ckpt: Checkpoint) -> tuple[Section, StoredData]:
    """Validate a loaded checkpoint's recipe and task data; return both, typed.

    Raises CheckpointError naming the checkpoint and the field. Also checks that the
    vocabulary and label counts match the stored weights (`StoredData.weight_rows`).
    """
    meta, path = ckpt.meta, ckpt.path
    task = meta.get("task")
    if not known(task):
        listed = ", ".join(names())
        raise invalid(path, f"task: unknown task {excerpt(task)} (this rnncli knows {listed})")
    recipe = meta.get("recipe")
    if not isinstance(recipe, dict):
        raise invalid(path, "recipe: required")
    try:
        spec = validate_recipe(dict(recipe), "the stored recipe", stored=True)
    except RecipeError as exc:
        raise invalid(path, str(exc)) from None
    if spec.task != task:  # type: ignore[attr-defined]
        raise invalid(path, f"recipe.task: {spec.task!r} in a {task!r} checkpoint")  # type: ignore[attr-defined]
    schema: type[StoredData] = get_task(str(task)).TaskData
    try:
        data = schema.model_validate(meta.get("task_data"))
    except ValidationError as exc:
        raise invalid(path, problems(exc, "task_data")) from None
    for name, (where, rows) in data.weight_rows().items():
        weight = ckpt.model.get(name)
        if weight is not None and (weight.dim() == 0 or weight.shape[0] != rows):
            shape = "x".join(map(str, weight.shape)) or "scalar"
            raise invalid(path, f"task_data.{where}: {rows:,} entries, weight {name} is {shape}")
    return spec, data
