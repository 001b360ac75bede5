"""Load an export directory back as a model every rnncli command can use.

The graphs run in onnxruntime behind the task's ONNX-backed module, which answers the
calls the task's own prediction and evaluation code makes: `rnn evaluate --model DIR`
measures an export with the same code as the run it came from. Every file is checked
against the SHA-256 that model.json lists, so an edited or swapped graph is refused.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rnncli.errors import CheckpointError, UsageError
from rnncli.exporting import MANIFEST, sha256_file
from rnncli.exporting.graph import Session
from rnncli.exporting.writer import FORMAT, FORMAT_VERSION, manifest_error
from rnncli.tasks import Loaded
from rnncli.tasks.registry import get_task, known
from rnncli.tasks.task_data import checked
from rnncli.training.checkpoint import Checkpoint, check_meta

MAX_JSON = 200 << 20


def _json(path: Path, root: Path) -> Any:
    try:
        if path.stat().st_size > MAX_JSON:
            raise manifest_error(root, f"{path.name} is larger than {MAX_JSON >> 20} MiB")
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise manifest_error(root, f"{path.name} is missing") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise manifest_error(root, f"{path.name} is not valid JSON ({exc})") from None
    except OSError as exc:
        raise manifest_error(root, f"cannot read {path.name} ({exc.strerror})") from None


def read_manifest(root: Path) -> dict[str, Any]:
    """model.json, checked: format, version, task, graphs, and every file's digest."""
    manifest = _json(root / MANIFEST, root)
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise manifest_error(root, f"{MANIFEST} does not say format {FORMAT!r}")
    version = manifest.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise manifest_error(
            root, f"format version {version!r}: this rnncli reads up to {FORMAT_VERSION}"
        )
    if not known(manifest.get("task")):
        raise manifest_error(root, f"unknown task {manifest.get('task')!r}")
    digests = manifest.get("sha256")
    graphs = manifest.get("graphs")
    if not isinstance(digests, dict) or not isinstance(graphs, dict) or not graphs:
        raise manifest_error(root, f"{MANIFEST} lists no graphs or no digests")
    needed = {"meta.json", "assets.json"} | {
        str(g.get("file")) for g in graphs.values() if isinstance(g, dict)
    }
    for name in sorted(needed | set(digests)):
        if name not in digests or Path(name).name != name:
            raise manifest_error(root, f"{MANIFEST} has no digest for {name!r}")
        path = root / name
        if not path.is_file():
            raise manifest_error(root, f"{name} is missing")
        if sha256_file(path) != digests[name]:
            raise CheckpointError(
                f"{root / name} does not match its SHA-256 in {MANIFEST}: the export was "
                "modified or damaged; export the run again"
            )
    return manifest


def load_export(root: Path, task: str | None = None, threads: int | None = None) -> Loaded:
    manifest = read_manifest(root)
    name = str(manifest["task"])
    if task is not None and name != task:
        raise UsageError(f"{root} is an exported {name} model, not a {task} model")
    meta = _json(root / "meta.json", root)
    if not isinstance(meta, dict) or meta.get("task") != name:
        raise manifest_error(root, "meta.json is not the metadata of a model of its task")
    check_meta(meta, root / "meta.json")
    recipe, state = checked(Checkpoint(meta=meta, model={}, path=root / "meta.json"))
    assets = _json(root / "assets.json", root)
    sessions = {
        graph: Session(root / str(entry["file"]), threads)
        for graph, entry in manifest["graphs"].items()
    }
    model = get_task(name).onnx_model(sessions, recipe, state, assets)  # type: ignore[attr-defined]
    model.eval()
    return Loaded(name, model, meta, root, recipe=recipe, state=state)
