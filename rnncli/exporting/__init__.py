"""Export: a trained model as ONNX graphs plus JSON, runnable without torch or rnncli.

`graph.py` holds what a task hands over (`ExportPlan`: its graphs as torch modules with
example and check inputs, its assets as JSON) and the onnxruntime session wrapper that
the tasks' ONNX-backed models call. `writer.py` writes, quantises and checks an export
directory; `reader.py` loads one back as a `Loaded` model, so every command (and
`rnn evaluate`) runs on it through the task's own code.

Only these modules import `onnx` and `onnxruntime`, inside functions: they are an
optional extra (`pip install 'rnncli[export]'`).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

MANIFEST = "model.json"  # the file that makes a directory an export


def is_export(path: str | Path) -> bool:
    """Whether `path` is an export directory (cheap: no onnx, no torch)."""
    return Path(path).is_dir() and (Path(path) / MANIFEST).is_file()


def sha256_file(path: Path) -> str:
    """The digest model.json lists for each file of an export."""
    return hashlib.sha256(path.read_bytes()).hexdigest()
