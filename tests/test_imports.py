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
    "models": {"api", "cli", "tasks", "data", "training", "decoding", "exporting"},
    "decoding": {"api", "cli", "tasks", "models", "data", "training"},
    "training": {"api", "cli", "tasks", "models", "data", "decoding", "exporting"},
    "exporting": {"api", "cli"},
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


# The one way from recipes to tasks: the registry (torch-free; it imports task schemas).
ALLOWED = {"config": {"rnncli.tasks.registry"}}


def test_import_arrows() -> None:
    problems = []
    for path in PKG.rglob("*.py"):
        layer = _layer(path)
        for mod in _imports(path):
            top = mod.split(".")
            target = top[1] if top[0] == "rnncli" and len(top) > 1 else top[0]
            if mod in ALLOWED.get(layer, set()):
                continue
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


def test_api_and_cli_name_no_task_module() -> None:
    """They reach a task through the registry only: no import of a task's package."""
    from rnncli.tasks.registry import REGISTRY

    packages = tuple(entry.package for entry in REGISTRY.values())
    problems = []
    for path in [PKG / "api.py", *(PKG / "cli").glob("*.py")]:
        for mod in _imports(path):
            if mod.startswith(packages):
                problems.append(f"{path.relative_to(PKG)} imports {mod}")
    assert not problems, problems


def test_task_schemas_and_the_registry_import_no_torch() -> None:
    """`rnn recipe` and `rnn --help` stay fast: validating a recipe never loads torch."""
    import subprocess
    import sys

    code = (
        "import sys; from rnncli.config import validate_recipe; "
        "from rnncli.tasks.registry import names, recipe_schema; "
        "[validate_recipe({'task': n, 'data': {'train': 'x'}}) for n in names() "
        "if n != 'translate']; recipe_schema(); "
        "print('torch' in sys.modules, 'pandas' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


def test_every_registered_task_has_the_whole_protocol() -> None:
    from rnncli.tasks import Task
    from rnncli.tasks.registry import REGISTRY

    members = [m for m in Task.__dict__ if not m.startswith("_")] + list(Task.__annotations__)
    optional = {"export_plan", "onnx_model"}  # `rnn export` refuses a task without them
    for entry in REGISTRY.values():
        module = entry.task()
        missing = [m for m in members if not hasattr(module, m) and m not in optional]
        assert not missing, f"{entry.name}: {missing}"
        assert hasattr(module, "export_plan") == hasattr(module, "onnx_model"), entry.name
        assert module.name == entry.name
