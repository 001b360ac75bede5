"""Checkpoints: safetensors weights plus JSON metadata; atomic writes; nothing unpickled.

A file holds tensors named `model.*` (what prediction needs) and, for the resumable
`last` checkpoint, `train.*` (optimizer moments, RNG state, carried hidden state).
The safetensors header metadata holds one JSON document under the key `rnncli`:
format version, task, resolved recipe, task data (vocabulary...), package versions,
metrics, trainer state, and a SHA-256 of the tensor bytes so tampering is detected.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save

from rnncli import __version__
from rnncli.errors import CheckpointError

FORMAT = "rnncli-checkpoint"
FORMAT_VERSION = 2  # 2: tied weights stored once (`aliases` in the metadata)
META_KEY = "rnncli"
MAX_HEADER = 100 << 20

# Upgrade path: UPGRADES[v] turns a version-v metadata dict into version v+1.
UPGRADES: dict[int, Any] = {1: lambda meta: meta}  # version 1 had no aliases


@dataclass
class Checkpoint:
    meta: dict[str, Any]
    model: dict[str, torch.Tensor]
    train: dict[str, torch.Tensor] = field(default_factory=dict)
    path: Path | None = None

    @property
    def task(self) -> str:
        return str(self.meta["task"])


def package_versions() -> dict[str, str]:
    return {"rnncli": __version__, "torch": torch.__version__, "python": platform.python_version()}


def atomic_write(path: Path, data: bytes) -> None:
    """Temp file in the same directory, fsync, rename, fsync the directory."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def _tensors(ckpt: Checkpoint) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """Tensors to store, and aliases: a tied weight (same storage) is stored once."""
    out: dict[str, torch.Tensor] = {}
    aliases: dict[str, str] = {}
    first: dict[tuple[int, tuple[int, ...], tuple[int, ...]], str] = {}
    stored: set[int] = set()  # storage of the tensors kept so far
    for prefix, group in (("model.", ckpt.model), ("train.", ckpt.train)):
        for name, tensor in group.items():
            key = (tensor.data_ptr(), tuple(tensor.shape), tuple(tensor.stride()))
            if prefix == "model." and tensor.numel() and key in first:
                aliases[name] = first[key]  # e.g. tied embeddings and output layer
                continue
            if prefix == "model.":
                first[key] = name
            t = tensor.detach().to("cpu").contiguous()
            if t.data_ptr() in stored:
                t = t.clone()  # safetensors refuses shared storage
            stored.add(t.data_ptr())
            out[prefix + name] = t
    return out, aliases


def _split_header(data: bytes, path: Path) -> tuple[dict[str, Any], bytes]:
    if len(data) < 8:
        raise CheckpointError(f"not a checkpoint ({path}): file is truncated or empty")
    (size,) = struct.unpack("<Q", data[:8])
    if size > MAX_HEADER or 8 + size > len(data):
        raise CheckpointError(f"not a safetensors checkpoint ({path}): corrupt or foreign file")
    try:
        header = json.loads(data[8 : 8 + size].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise CheckpointError(f"not a safetensors checkpoint ({path}): corrupt header") from None
    if not isinstance(header, dict):
        raise CheckpointError(f"not a safetensors checkpoint ({path}): corrupt header")
    return header, data[8 + size :]


def encode(ckpt: Checkpoint) -> bytes:
    tensors, aliases = _tensors(ckpt)
    meta = dict(ckpt.meta, format=FORMAT, format_version=FORMAT_VERSION)
    meta.pop("sha256", None)
    meta.pop("aliases", None)
    if aliases:
        meta["aliases"] = aliases
    draft = st_save(tensors, metadata={META_KEY: json.dumps(meta)})
    _, body = _split_header(draft, Path("<memory>"))
    meta["sha256"] = hashlib.sha256(body).hexdigest()
    return st_save(tensors, metadata={META_KEY: json.dumps(meta)})


def save_checkpoint(path: Path, ckpt: Checkpoint) -> None:
    atomic_write(path, encode(ckpt))


def load_checkpoint(path: Path, task: str | None = None, with_train: bool = False) -> Checkpoint:
    """Read and verify a checkpoint; refuse foreign, tampered, newer or wrong-task files."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise CheckpointError(f"checkpoint not found ({path})") from None
    except IsADirectoryError:
        raise CheckpointError(f"expected a checkpoint file, got a directory ({path})") from None
    header, body = _split_header(data, path)
    raw_meta = (header.get("__metadata__") or {}).get(META_KEY)
    try:
        meta = json.loads(raw_meta) if isinstance(raw_meta, str) else None
    except json.JSONDecodeError:
        meta = None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise CheckpointError(f"not an rnncli checkpoint ({path}): no rnncli metadata")
    if meta.get("sha256") != hashlib.sha256(body).hexdigest():
        raise CheckpointError(f"checkpoint is corrupt or was modified ({path}): checksum mismatch")
    meta = upgrade(meta, path)
    if task is not None and meta.get("task") != task:
        raise CheckpointError(
            f"checkpoint is for task {meta.get('task')!r}, not {task!r} ({path}): "
            f"use it with `rnn {meta.get('task')}`"
        )
    try:
        tensors = st_load(data)
    except Exception as exc:  # safetensors raises its own error type for bad layouts
        raise CheckpointError(f"corrupt checkpoint ({path}): {exc}") from None
    model = {k[6:]: v for k, v in tensors.items() if k.startswith("model.")}
    aliases = meta.get("aliases") or {}
    if not isinstance(aliases, dict) or any(v not in model for v in aliases.values()):
        raise CheckpointError(f"corrupt checkpoint ({path}): bad tied-weight aliases")
    for name, target in aliases.items():
        model[name] = model[target]
    train = {k[6:]: v for k, v in tensors.items() if k.startswith("train.")} if with_train else {}
    return Checkpoint(meta=meta, model=model, train=train, path=path)


def upgrade(meta: dict[str, Any], path: Path) -> dict[str, Any]:
    version = meta.get("format_version")
    if not isinstance(version, int) or version < 1:
        raise CheckpointError(f"checkpoint has no valid format version ({path})")
    if version > FORMAT_VERSION:
        raise CheckpointError(
            f"checkpoint format {version} is newer than this rnncli reads ({FORMAT_VERSION}) "
            f"({path}): upgrade rnncli"
        )
    while version < FORMAT_VERSION:
        meta = UPGRADES[version](meta)
        version = meta["format_version"] = version + 1
    return meta


def resolve_model_path(path: Path) -> Path:
    """A run directory -> its best (else last) checkpoint; a file -> itself."""
    if path.is_dir():
        for name in ("best.safetensors", "last.safetensors"):
            if (path / name).is_file():
                return path / name
        raise CheckpointError(f"no checkpoint in run directory ({path}): has training started?")
    if not path.exists():
        raise CheckpointError(f"model not found ({path}): give a run directory or checkpoint")
    return path
