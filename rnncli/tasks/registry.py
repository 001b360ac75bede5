"""The one list of tasks. Everything else (recipe validation and schema, the built-in
models, the CLI's task choices, loading a checkpoint) derives from it.

A task is registered by name with the package that holds it; its modules are imported
on first use (`forecast` pulls in pandas, which `rnn generate` never needs, and
`schema` alone imports no torch). Adding a task is one `register(...)` line.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

if TYPE_CHECKING:
    from rnncli.config import Section
    from rnncli.tasks import Task


@dataclass(frozen=True)
class Entry:
    name: str
    package: str  # holds `schema` (the recipe, no torch) and `task` (the rest)
    builtin: str | None = None  # file name of its built-in model in rnncli/pretrained/

    def recipe(self) -> type[Section]:
        return cast("type[Section]", importlib.import_module(f"{self.package}.schema").Recipe)

    def task(self) -> Task:
        return cast("Task", importlib.import_module(f"{self.package}.task"))


REGISTRY: dict[str, Entry] = {}


def register(name: str, package: str, builtin: str | None = None) -> Entry:
    """Add a task (a package with `schema` and `task` modules) under `name`."""
    REGISTRY[name] = Entry(name, package, builtin)
    return REGISTRY[name]


register("generate", "rnncli.tasks.generate", builtin="generate.safetensors")
register("classify", "rnncli.tasks.classify", builtin="classify.safetensors")
register("forecast", "rnncli.tasks.forecast")
register("translate", "rnncli.tasks.translate", builtin="translate.safetensors")
register("tag", "rnncli.tasks.tag", builtin="tag.safetensors")


def names() -> list[str]:
    return list(REGISTRY)


def known(name: Any) -> bool:
    return isinstance(name, str) and name in REGISTRY


def get_task(name: str) -> Task:
    """The task module of `name` (a checkpoint's or recipe's task, already checked)."""
    if not known(name):
        from rnncli.errors import CheckpointError

        raise CheckpointError(f"unknown task {name!r}: this rnncli knows {', '.join(REGISTRY)}")
    return REGISTRY[name].task()


def recipe_class(name: str) -> type[Section]:
    return REGISTRY[name].recipe()


def builtin_file(name: str) -> str | None:
    entry = REGISTRY.get(name)
    return entry.builtin if entry else None


def recipe_schema() -> dict[str, Any]:
    """JSON Schema of every task's recipe (one of them, by `task`), for editors."""
    from typing import Annotated, Union

    from pydantic import Field, TypeAdapter

    classes = tuple(recipe_class(name) for name in REGISTRY)
    union = Annotated[Union[classes], Field(discriminator="task")]  # type: ignore[valid-type]
    return TypeAdapter(union).json_schema()
