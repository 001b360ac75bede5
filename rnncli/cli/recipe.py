"""`rnn recipe validate|show|schema`: recipes without training (and without torch)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import typer

app = typer.Typer(help="Validate, resolve and describe recipes.", no_args_is_help=True)


@app.command("validate")
def validate(
    files: list[Path] = typer.Argument(..., help="Recipe files."),
    overrides: list[str] = typer.Option([], "--set", "-s", help="Override a key (repeatable)."),
) -> None:
    """Check recipes; print `ok FILE` per valid recipe, one error line per invalid one."""
    from rnncli.config import load_recipe
    from rnncli.errors import RecipeError

    failed = 0
    for path in files:
        try:
            load_recipe(path, overrides)
        except RecipeError as exc:
            print(f"error: {exc}", file=sys.stderr)
            failed += 1
        else:
            print(f"ok {path}")
    if failed:
        raise typer.Exit(1)


@app.command("show")
def show(
    file: Path = typer.Argument(..., help="Recipe file."),
    overrides: list[str] = typer.Option([], "--set", "-s", help="Override a key (repeatable)."),
) -> None:
    """Print the resolved recipe, every default filled in, as YAML."""
    from rnncli.config import dump_recipe, load_recipe

    sys.stdout.write(dump_recipe(load_recipe(file, overrides)))


@app.command("schema")
def schema() -> None:
    """Print the JSON Schema of recipes (for editor completion)."""
    from rnncli.tasks.registry import recipe_schema

    sys.stdout.write(json.dumps(recipe_schema(), indent=2) + "\n")
