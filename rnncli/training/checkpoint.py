"""Checkpoints: safetensors weights plus JSON metadata; atomic writes; nothing unpickled.

A file holds tensors named `model.*` (what prediction needs) and, for the resumable
`last` checkpoint, `train.*` (optimizer moments, RNG state, carried hidden state, the
weight average under ema_decay).
The safetensors header metadata holds one JSON document under the key `rnncli`:
format version, task, resolved recipe, task data (vocabulary...), package versions,
metrics and trainer state. Its neighbour `rnncli.sha256` is a SHA-256 of the whole
file (header and tensors) with those 64 characters read as zeros, so an edit anywhere
is refused. Format 1 and 2 files carry a digest of the tensor bytes only (`sha256` in
the JSON document); they still load, with a warning that their metadata is unchecked.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import platform
import re
import stat
import struct
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save

from rnncli import __version__
from rnncli.errors import CheckpointError, excerpt

log = logging.getLogger("rnncli")
FORMAT = "rnncli-checkpoint"
# 2: tied weights stored once (`aliases` in the metadata)
# 3: the checksum covers the whole file (`rnncli.sha256` beside the JSON document)
FORMAT_VERSION = 3
META_KEY = "rnncli"
DIGEST_KEY = "rnncli.sha256"
MAX_HEADER = 100 << 20
HEADER_HINT = "set data.max_size (e.g. 50000) or raise data.min_freq"
_ZEROS = "0" * 64
_HEX64 = re.compile(r"[0-9a-f]{64}")
# Where the digests sit in an encoded header (found once, then overwritten in place).
# The file digest is the value of a top-level key: a bare quote cannot occur inside
# a string. The tensor digest is the last key of the JSON document, which the header
# stores as an escaped string: `\"sha256\": \"<64 zeros>\"}"` ends that string.
_FILE_DIGEST_AT = re.compile(rb'"rnncli\.sha256"\s*:\s*"(0{64})"')
_TENSOR_DIGEST_AT = re.compile(rb'\\"sha256\\": \\"(0{64})\\"}"')

# Upgrade path: UPGRADES[v] turns a version-v metadata dict into version v+1.
UPGRADES: dict[int, Any] = {
    1: lambda meta: meta,  # version 1 had no aliases
    2: lambda meta: meta,  # version 2 had a tensor-only checksum (checked when read)
}
_legacy_warned: set[str] = set()


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


# ------------------------------------------------------------------------- writing
def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_FILE_MODE = 0o666 & ~_umask()  # what open() would give a new file (mkstemp gives 0600)


def atomic_write(path: Path, data: bytes | bytearray) -> None:
    """Write `path` so that it is either the old file or the new one, never half of one.

    A private temp file in the same directory (created exclusively with an unpredictable
    name, so a planted file or symlink is never followed), fsync, rename, fsync the
    directory. Any failure or interrupt (disk full, KeyboardInterrupt...) removes the
    temp file and leaves the old file intact; an OSError names `path`.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        try:
            handle = open(fd, "wb")  # noqa: SIM115 (closed by the `with` below)
        except BaseException:
            os.close(fd)
            raise
        with handle:
            os.fchmod(handle.fileno(), _FILE_MODE)
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(name, path)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(name)
        if isinstance(exc, OSError) and not exc.filename:
            raise OSError(exc.errno, exc.strerror or str(exc), str(path)) from None
        raise
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


def check_header_room(data: Any, where: str | Path, hint: str = HEADER_HINT) -> None:
    """Refuse metadata (e.g. a task's vocabularies) too big for a checkpoint header.

    Call it as soon as the task data exists, so a run fails before training, not at its
    first save: the header (JSON, stored as an escaped string) is refused past MAX_HEADER
    on load. 4 MB are kept for the recipe, metrics, trainer state and tensor table.
    """
    stored = len(json.dumps(json.dumps(data)))
    if stored > MAX_HEADER - (4 << 20):
        raise _too_big(stored, MAX_HEADER - (4 << 20), where, hint)


def _too_big(size: int, limit: int, where: str | Path, hint: str) -> CheckpointError:
    return CheckpointError(
        f"the checkpoint header would take {size:,} bytes, more than the limit of "
        f"{limit:,} ({where}): {hint}"
    )


def _place(pattern: re.Pattern[bytes], data: bytearray, size: int) -> int:
    found = [m.start(1) for m in pattern.finditer(data, 8, 8 + size)]
    if len(found) != 1:  # our own encoding, so never: a bug, not a user error
        raise ValueError(f"checkpoint header: {len(found)} places for a checksum, not 1")
    return found[0]


def encode(ckpt: Checkpoint, where: str | Path = "<memory>") -> bytearray:
    """The bytes of a checkpoint file, both checksums in place.

    The digests are written as zeros, the file is hashed, and the digests are put in
    place (same length, so no offset moves): first `sha256` of the tensor bytes (what
    format 1-2 readers check, so they reach their version check and say "upgrade"),
    then `rnncli.sha256` of the whole file. A header over MAX_HEADER is refused here,
    before anything is written.
    """
    tensors, aliases = _tensors(ckpt)
    drop = ("format", "format_version", "aliases", "sha256")
    meta = {k: v for k, v in ckpt.meta.items() if k not in drop}
    meta.update(format=FORMAT, format_version=FORMAT_VERSION)
    if aliases:
        meta["aliases"] = aliases
    meta["sha256"] = _ZEROS  # the last key: _TENSOR_DIGEST_AT relies on it
    text = json.dumps(meta)
    stored = len(json.dumps(text))  # a lower bound: refused before building the file
    if stored > MAX_HEADER:
        raise _too_big(stored, MAX_HEADER, where, HEADER_HINT)
    data = bytearray(st_save(tensors, metadata={META_KEY: text, DIGEST_KEY: _ZEROS}))
    (size,) = struct.unpack("<Q", data[:8])
    if size > MAX_HEADER:
        raise _too_big(size, MAX_HEADER, where, HEADER_HINT)
    at = _place(_TENSOR_DIGEST_AT, data, size)
    data[at : at + 64] = hashlib.sha256(memoryview(data)[8 + size :]).hexdigest().encode()
    at = _place(_FILE_DIGEST_AT, data, size)
    data[at : at + 64] = hashlib.sha256(data).hexdigest().encode()
    return data


def save_checkpoint(path: Path, ckpt: Checkpoint) -> None:
    atomic_write(path, encode(ckpt, path))


# ------------------------------------------------------------------------- reading
def _read_header(data: bytes, path: Path) -> tuple[dict[str, Any], int]:
    """The parsed safetensors header and its size in bytes (after the 8-byte length)."""
    if len(data) < 8:
        raise CheckpointError(f"not a checkpoint ({path}): file is truncated or empty")
    (size,) = struct.unpack("<Q", data[:8])
    if size > MAX_HEADER or 8 + size > len(data):
        raise CheckpointError(f"not a safetensors checkpoint ({path}): corrupt or foreign file")
    try:
        header = json.loads(data[8 : 8 + size].decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise CheckpointError(f"not a safetensors checkpoint ({path}): corrupt header") from None
    if not isinstance(header, dict):
        raise CheckpointError(f"not a safetensors checkpoint ({path}): corrupt header")
    return header, size


def _split_header(data: bytes, path: Path) -> tuple[dict[str, Any], bytes]:
    """The parsed header and the tensor bytes after it."""
    header, size = _read_header(data, path)
    return header, data[8 + size :]


def _mismatch(path: Path) -> CheckpointError:
    return CheckpointError(f"checkpoint is corrupt or was modified ({path}): checksum mismatch")


def _verify(
    data: bytes, size: int, metadata: dict[str, Any], meta: dict[str, Any], path: Path
) -> None:
    """Check the whole-file digest (format 3), or the tensor-only one of older files."""
    digest = metadata.get(DIGEST_KEY)
    view = memoryview(data)
    if digest is None and meta["format_version"] < 3:
        if meta.get("sha256") != hashlib.sha256(view[8 + size :]).hexdigest():
            raise _mismatch(path)
        if str(path) not in _legacy_warned:
            _legacy_warned.add(str(path))
            log.warning(
                "%s is a format-%d checkpoint: its checksum covers the weights only, so an "
                "edit of its metadata (labels, vocabulary, recipe) would go unnoticed; "
                "checkpoints this rnncli writes are checked whole",
                path,
                meta["format_version"],
            )
        return
    if not isinstance(digest, str) or not _HEX64.fullmatch(digest):
        raise _mismatch(path)
    needle = digest.encode("ascii")
    at = data.find(needle, 8, 8 + size)
    if at < 0 or data.find(needle, at + 1, 8 + size) >= 0:
        raise _mismatch(path)
    h = hashlib.sha256(view[:at])
    h.update(_ZEROS.encode("ascii"))
    h.update(view[at + 64 :])
    if h.hexdigest() != digest:
        raise _mismatch(path)


def load_checkpoint(path: Path, task: str | None = None, with_train: bool = False) -> Checkpoint:
    """Read and verify a checkpoint; refuse foreign, tampered, newer or wrong-task files.

    The checksum is checked before anything else of the metadata is used, and then the
    metadata's shape (check_meta); tasks check their own `task_data` (tasks/task_data.py).
    """
    data = _read_file(path)
    meta = _checked_meta(data, path)
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
    if any(v not in model for v in aliases.values()):
        raise CheckpointError(f"corrupt checkpoint ({path}): bad tied-weight aliases")
    for name, target in aliases.items():
        model[name] = model[target]
    train = {k[6:]: v for k, v in tensors.items() if k.startswith("train.")} if with_train else {}
    return Checkpoint(meta=meta, model=model, train=train, path=path)


def read_meta(path: Path) -> dict[str, Any]:
    """A checkpoint's JSON document, verified like `load_checkpoint` (format, version,
    checksum, shape) but without making any tensor: for listing runs quickly."""
    return _checked_meta(_read_file(path), path)


def _read_file(path: Path) -> bytes:
    try:
        mode = os.stat(path).st_mode
        if stat.S_ISDIR(mode):
            raise IsADirectoryError
        if not stat.S_ISREG(mode):  # a FIFO would block the read forever
            raise CheckpointError(f"not a regular file ({path}): give a checkpoint file")
        return path.read_bytes()
    except FileNotFoundError:
        raise CheckpointError(f"checkpoint not found ({path})") from None
    except IsADirectoryError:
        raise CheckpointError(f"expected a checkpoint file, got a directory ({path})") from None
    except PermissionError:
        raise CheckpointError(f"cannot read {path}: permission denied") from None
    except OSError as exc:  # a symlink loop, a name too long, an I/O error...
        raise CheckpointError(f"cannot open {path}: {exc.strerror or exc}") from None


def _checked_meta(data: bytes, path: Path) -> dict[str, Any]:
    """The metadata of a checkpoint's bytes: format, version, checksum, then shape."""
    header, size = _read_header(data, path)
    metadata = header.get("__metadata__")
    metadata = metadata if isinstance(metadata, dict) else {}
    raw_meta = metadata.get(META_KEY)
    try:
        meta = json.loads(raw_meta) if isinstance(raw_meta, str) else None
    except (ValueError, RecursionError):
        meta = None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise CheckpointError(f"not an rnncli checkpoint ({path}): no rnncli metadata")
    check_version(meta, path)
    _verify(data, size, metadata, meta, path)
    meta = upgrade(meta, path)
    check_meta(meta, path)
    return meta


def check_version(meta: dict[str, Any], path: Path) -> int:
    """The format version; a newer one is refused before its checksum (it may differ)."""
    version = meta.get("format_version")
    if type(version) is not int or version < 1:
        raise CheckpointError(f"checkpoint has no valid format version ({path})")
    if version > FORMAT_VERSION:
        raise CheckpointError(
            f"checkpoint format {version} is newer than this rnncli reads ({FORMAT_VERSION}) "
            f"({path}): upgrade rnncli"
        )
    return version


def upgrade(meta: dict[str, Any], path: Path) -> dict[str, Any]:
    version = check_version(meta, path)
    while version < FORMAT_VERSION:
        meta = UPGRADES[version](meta)
        version = meta["format_version"] = version + 1
    return meta


# ---------------------------------------------------------------------- validation
class _Stored(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)


class TrainingRecord(_Stored):
    """`training` of a checkpoint: how far the run got (rnn info shows it)."""

    model_config = ConfigDict(extra="allow")  # the trainer's to extend
    steps: int = Field(0, ge=0)
    epochs: int = Field(0, ge=0)
    seconds: float = Field(0.0, ge=0)
    units: int | float = Field(0, ge=0)
    unit: str = "tok"
    best_step: int | None = Field(None, ge=0)
    stop_reason: str | None = None
    done: bool = False


class Meta(_Stored):
    """The JSON document of a checkpoint. A new key is a format change: add it here."""

    format: Literal["rnncli-checkpoint"]
    format_version: int
    task: str
    recipe: dict[str, Any] | None = None  # checked by the task layer (config.validate_recipe)
    task_data: dict[str, Any] | None = None  # checked by the task's TaskData schema
    versions: dict[str, str] = Field(default_factory=dict)
    metrics: dict[str, Any] = Field(default_factory=dict)
    training: TrainingRecord | None = None
    trainer: dict[str, Any] | None = None  # resumable state: read by state_io on resume
    aliases: dict[str, str] = Field(default_factory=dict)
    sha256: str | None = None
    shipped: dict[str, str] | None = None  # built-in models: where they came from


def problems(exc: ValidationError, prefix: str = "", limit: int = 3) -> str:
    """A pydantic error list as one short line: `path: message (got value); ...`."""
    parts = []
    errors = exc.errors()
    for err in errors[:limit]:
        where = ".".join([prefix, *map(str, err["loc"])] if prefix else map(str, err["loc"]))
        msg = str(err["msg"]).removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = "unknown key"
        elif err["type"] == "missing":
            msg = "required"
        elif not isinstance(err.get("input"), dict):
            msg += f" (got {excerpt(err.get('input'))})"
        parts.append(f"{where or '(top)'}: {msg}")
    more = f"; and {len(errors) - limit} more" if len(errors) > limit else ""
    return "; ".join(parts) + more


def invalid(path: Path | None, what: str) -> CheckpointError:
    """The error of a checkpoint whose checksum holds but whose metadata is wrong."""
    return CheckpointError(
        f"checkpoint metadata is invalid ({path}): {what}: "
        "use the file as rnncli wrote it, or train the model again"
    )


def check_meta(meta: dict[str, Any], path: Path) -> None:
    """The document's keys and types (recipe and task data: see tasks/task_data.py)."""
    try:
        Meta.model_validate(meta)
    except ValidationError as exc:
        raise invalid(path, problems(exc)) from None


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
