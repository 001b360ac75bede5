"""Enforce the layers of docs/ARCHITECTURE.md: which packages may import which."""

from __future__ import annotations

import ast
from pathlib import Path

PKG = Path(__file__).resolve().parents[1] / "rnncli"

# layer -> layers it must never import
FORBIDDEN = {
    "config": {"api", "cli", "tasks", "models", "data", "training", "decoding", "torch"},
    "errors": {"api", "cli", "tasks", "models", "data", "training", "decoding", "config"},
    "data": {"api", "cli", "tasks", "models", "training", "decoding"},
    "models": {"api", "cli", "tasks", "data", "training", "decoding"},
    "decoding": {"api", "cli", "tasks", "models", "data", "training"},
    "training": {"api", "cli", "tasks", "models", "data", "decoding"},
    "tasks": {"api", "cli"},
    "api": {"cli"},
}
UI = {"typer", "rich", "click"}


def _layer(path: Path) -> str:
    rel = path.relative_to(PKG)
    return rel.parts[0].removesuffix(".py")


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return found


def test_import_arrows() -> None:
    problems = []
    for path in PKG.rglob("*.py"):
        layer = _layer(path)
        for mod in _imports(path):
            top = mod.split(".")
            target = top[1] if top[0] == "rnncli" and len(top) > 1 else top[0]
            if target in FORBIDDEN.get(layer, set()):
                problems.append(f"{path.relative_to(PKG)} imports {mod}")
            if top[0] in UI and layer != "cli":
                problems.append(f"{path.relative_to(PKG)} imports {mod} (only cli/ may)")
            if top[0] == "click":
                problems.append(f"{path.relative_to(PKG)} imports click (use typer)")
    assert not problems, problems


def test_cli_imports_torch_only_inside_commands() -> None:
    for path in (PKG / "cli").glob("*.py"):
        tree = ast.parse(path.read_text())
        for node in tree.body:  # module level only
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                names = (
                    [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module]
                )
                for name in names:
                    assert not (name or "").startswith(("torch", "rnncli.api", "rnncli.tasks")), (
                        f"{path.name} imports {name} at module level"
                    )
