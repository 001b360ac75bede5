"""Checkpoints survive a faulty world: edits, crafted headers, full disks, interrupts.

Format 3 checksums the whole file; a header whose checksum holds is still validated
(recipe like a recipe file, task_data by the task's schema) before any Codec reads it.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import re
import shutil
import struct
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch

from rnncli import api
from rnncli.config import validate_recipe
from rnncli.errors import CheckpointError
from rnncli.tasks.registry import get_task
from rnncli.tasks.task_data import check_checkpoint
from rnncli.training import checkpoint as ck

from .conftest import ROOT, rnn

PRETRAINED = ROOT / "rnncli" / "pretrained"
V1_FIXTURE = Path(__file__).parent / "fixtures" / "generate-v1.safetensors"
REVIEW = "What a wonderful, moving film\n"


def _one_error_line(proc: Any) -> str:
    assert proc.returncode == 1, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    assert "Traceback" not in proc.stderr and "internal error" not in proc.stderr
    assert proc.stdout == ""
    return lines[0]


def _header_size(data: bytes | bytearray) -> int:
    return int(struct.unpack("<Q", data[:8])[0])


def _small_checkpoint() -> bytearray:
    """A real (tiny) classifier checkpoint: recipe, task data and weights that fit."""
    recipe = validate_recipe(
        {
            "task": "classify",
            "data": {"train": "t.tsv"},
            "model": {"embedding_dim": 4, "hidden_size": 4, "bidirectional": False},
        }
    )
    task_data = {
        "vocab": ["<unk>", "good", "bad", "film"],
        "tokenizer": {"kind": "word", "lowercase": True},
        "labels": ["negative", "positive"],
        "max_length": None,
        "multi_label": False,
        "label_separator": "|",
        "train_rows": 10,
    }
    task = get_task("classify")
    model = task.build_model(recipe.model, task.TaskData.from_json(task_data))  # type: ignore[attr-defined]
    meta = {"task": "classify", "recipe": recipe.model_dump(mode="json"), "task_data": task_data}
    return ck.encode(ck.Checkpoint(meta=meta, model=model.state_dict()))


def _crafted(
    tmp_path: Path, mutate: Callable[[dict[str, Any]], None], src: Path | None = None
) -> Path:
    """A checkpoint whose metadata was changed and whose checksum was then made valid."""
    source = src or tmp_path / "good.safetensors"
    if src is None:
        source.write_bytes(_small_checkpoint())
    ckpt = ck.load_checkpoint(source, with_train=True)
    mutate(ckpt.meta)
    path = tmp_path / "crafted.safetensors"
    path.write_bytes(ck.encode(ckpt))
    return path


# ------------------------------------------------------------------- whole-file checksum
def test_a_one_byte_edit_anywhere_is_refused(tmp_path: Path) -> None:
    good = _small_checkpoint()
    size = _header_size(good)
    path = tmp_path / "c.safetensors"
    path.write_bytes(good)
    ck.load_checkpoint(path)  # the unedited file loads
    text = bytes(good[8 : 8 + size])
    meta_at = text.index(b'"rnncli":"')  # the JSON document (labels, vocabulary, recipe)
    labels_at = text.index(b"negative")
    layout_at = text.index(b'"dtype"')  # the tensor table
    regions = {
        "length prefix": range(0, 8),
        "metadata JSON": range(8 + meta_at, 8 + meta_at + 400),
        "labels": range(8 + labels_at, 8 + labels_at + 8),
        "tensor layout": range(8 + layout_at - 40, 8 + layout_at + 60),
        "header end": range(8 + size - 16, 8 + size),
        "tensor bytes": range(8 + size, len(good), max(1, (len(good) - 8 - size) // 200)),
    }
    for region, positions in regions.items():
        for i in positions:
            for flip in (0x01, 0x20):
                bad = bytearray(good)
                bad[i] ^= flip
                path.write_bytes(bad)
                with pytest.raises(CheckpointError) as info:
                    ck.load_checkpoint(path)
                assert "\n" not in str(info.value), (region, i)


def test_reversed_labels_of_the_builtin_classifier_are_refused_by_the_cli(tmp_path: Path) -> None:
    data = bytearray((PRETRAINED / "classify.safetensors").read_bytes())
    old = b'[\\"negative\\", \\"positive\\"]'
    new = b'[\\"positive\\", \\"negative\\"]'  # same length: no offset moves
    assert data.count(old) == 1
    at = data.index(old)
    data[at : at + len(old)] = new
    path = tmp_path / "classify.safetensors"
    path.write_bytes(data)
    line = _one_error_line(rnn("classify", "--model", str(path), stdin=REVIEW))
    assert line == f"error: checkpoint is corrupt or was modified ({path}): checksum mismatch"


def test_the_builtin_models_are_format_3_and_predict_as_before() -> None:
    for name in ("generate", "classify", "translate", "tag"):
        raw = (PRETRAINED / f"{name}.safetensors").read_bytes()
        header = json.loads(raw[8 : 8 + _header_size(raw)])
        meta = json.loads(header["__metadata__"]["rnncli"])
        assert meta["format_version"] == ck.FORMAT_VERSION == 3
        assert header["__metadata__"][ck.DIGEST_KEY] != "0" * 64
    out = rnn("classify", stdin=REVIEW, check=True).stdout
    assert out.startswith("positive\t1.0000\t")


def test_truncated_files_are_refused(tmp_path: Path) -> None:
    good = _small_checkpoint()
    size = _header_size(good)
    path = tmp_path / "c.safetensors"
    for cut in (0, 5, 8, 9, 8 + size // 2, 8 + size, 8 + size + 3, len(good) - 1):
        path.write_bytes(good[:cut])
        with pytest.raises(CheckpointError, match=r"truncated|corrupt|checksum"):
            ck.load_checkpoint(path)


def test_a_newer_format_is_refused_before_its_checksum(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ck, "FORMAT_VERSION", 4)
    newer = _small_checkpoint()
    monkeypatch.undo()
    path = tmp_path / "newer.safetensors"
    path.write_bytes(newer)
    with pytest.raises(CheckpointError, match=r"format 4 is newer .*\(3\).*upgrade rnncli"):
        ck.load_checkpoint(path)


def test_legacy_v1_fixture_loads_with_a_one_time_warning(
    caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    copy = tmp_path / "generate-v1.safetensors"
    shutil.copy(V1_FIXTURE, copy)
    with caplog.at_level(logging.WARNING, logger="rnncli"):
        loaded = api.load(copy, "generate")
        api.load(copy, "generate")
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "format-1 checkpoint" in warnings[0], warnings
    assert "weights only" in warnings[0]
    assert loaded.meta["format_version"] == ck.FORMAT_VERSION
    assert len(api.generate_text(loaded, "A", length=5, rng_seed=0)[0]) == 5
    # its tensor-only checksum still catches damaged weights
    data = bytearray(copy.read_bytes())
    data[-3] ^= 0xFF
    copy.write_bytes(data)
    with pytest.raises(CheckpointError, match="checksum mismatch"):
        ck.load_checkpoint(copy)


def test_old_readers_see_a_valid_tensor_digest(tmp_path: Path) -> None:
    """Format 1-2 readers check `sha256` (tensor bytes), then refuse a newer version."""
    import hashlib

    good = _small_checkpoint()
    header, body = ck._split_header(bytes(good), tmp_path)
    meta = json.loads(header["__metadata__"][ck.META_KEY])
    assert meta["sha256"] == hashlib.sha256(body).hexdigest()


# ------------------------------------------------------------- header validation
def test_a_crafted_header_with_a_valid_checksum_loads_when_sound(tmp_path: Path) -> None:
    path = _crafted(tmp_path, lambda meta: None)
    loaded = api.load(path, "classify")
    assert [label for label, _ in next(api.classify(loaded, ["good film"]))[1].items()] == [
        "negative",
        "positive",
    ]


def _set(*keys: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def mutate(meta: dict[str, Any]) -> None:
        target = meta
        for key in keys[:-1]:
            target = target[key]
        target[keys[-1]] = value

    return mutate


CRAFTED = {
    "bogus tokenizer kind": (
        _set("task_data", "tokenizer", "kind", value="bogus"),
        r"task_data\.tokenizer\.kind: Input should be 'char', 'word' or 'subword' \(got 'bogus'\)",
    ),
    "vocab not a list": (_set("task_data", "vocab", value="<unk>abc"), r"task_data\.vocab: "),
    "vocab of numbers": (_set("task_data", "vocab", value=["<unk>", 1, 2]), r"task_data\.vocab\.1"),
    "duplicate vocab": (
        _set("task_data", "vocab", value=["<unk>", "good", "good", "film"]),
        r"task_data\.vocab: 'good' is listed twice",
    ),
    "duplicate labels": (
        _set("task_data", "labels", value=["negative", "negative"]),
        r"task_data\.labels: 'negative' is listed twice",
    ),
    "labels that do not fit the weights": (
        _set("task_data", "labels", value=["a", "b", "c"]),
        r"task_data\.labels: 3 entries, weight head\.weight is 2x4",
    ),
    "capturing token_pattern": (
        _set("task_data", "tokenizer", "pattern", value=r"(\w+)"),
        r"task_data\.tokenizer\.pattern: use \(\?:\.\.\.\) instead of capturing groups",
    ),
    "broken token_pattern": (
        _set("task_data", "tokenizer", "pattern", value="[a-"),
        r"task_data\.tokenizer\.pattern: not a valid regular expression",
    ),
    "unknown task_data key": (_set("task_data", "extra", value=1), r"task_data\.extra: unknown"),
    "max_length not a number": (
        _set("task_data", "max_length", value="12"),
        r"task_data\.max_length: Input should be a valid integer",
    ),
    "invalid stored recipe": (
        _set("recipe", "model", "cell", value="transformer"),
        r"in the stored recipe: model\.cell: Input should be 'rnn', 'lstm' or 'gru'",
    ),
    "recipe of another task": (
        _set("recipe", value={"task": "generate", "data": {"train": "t.txt"}}),
        r"recipe\.task: 'generate' in a 'classify' checkpoint",
    ),
    "training record of the wrong type": (
        _set("training", value={"steps": "many"}),
        r"training\.steps: Input should be a valid integer",
    ),
    "unknown top-level key": (_set("surprise", value=1), r"surprise: unknown key"),
}


@pytest.mark.parametrize("case", list(CRAFTED))
def test_a_crafted_header_with_a_valid_checksum_is_refused(tmp_path: Path, case: str) -> None:
    mutate, message = CRAFTED[case]
    path = _crafted(tmp_path, mutate)
    with pytest.raises(CheckpointError) as info:
        api.load(path)
    text = str(info.value)
    assert text.startswith(f"checkpoint metadata is invalid ({path}): "), text
    assert "\n" not in text and len(text) < 400, text
    assert re.search(message, text), text
    with pytest.raises(CheckpointError):  # rnn info reads the same header
        api.info(path)


def test_a_bogus_tokenizer_kind_is_one_error_line_in_the_cli(tmp_path: Path) -> None:
    path = _crafted(tmp_path, _set("task_data", "tokenizer", "kind", value="bogus"))
    line = _one_error_line(rnn("classify", "--model", str(path), stdin=REVIEW))
    assert line.startswith(f"error: checkpoint metadata is invalid ({path}): task_data.tokenizer")


def test_a_huge_bad_vocabulary_gives_a_short_message(tmp_path: Path) -> None:
    path = _crafted(tmp_path, _set("task_data", "vocab", value=["<unk>", *range(10_000)]))
    with pytest.raises(CheckpointError, match=r"and 9997 more") as info:
        check_checkpoint(ck.load_checkpoint(path))
    assert len(str(info.value)) < 400


def _forecast_checkpoint(tmp_path: Path) -> tuple[Path, ck.Checkpoint]:
    """A real forecaster's task data (prepare fits the scalers; nothing is trained)."""
    spec = validate_recipe(
        {
            "task": "forecast",
            "data": {"train": str(ROOT / "sample_data" / "airline-passengers.csv"), "horizon": 6},
            "model": {"hidden_size": 4},
        }
    )
    plan = get_task("forecast").prepare(spec, tmp_path, None)
    meta = {"task": "forecast", "recipe": spec.model_dump(mode="json"), "task_data": plan.meta}
    path = tmp_path / "forecast.safetensors"
    ck.save_checkpoint(path, ck.Checkpoint(meta=meta, model=plan.model.state_dict()))
    return path, ck.load_checkpoint(path)


def test_forecast_scalers_must_be_finite_and_fit_the_columns(tmp_path: Path) -> None:
    path, ckpt = _forecast_checkpoint(tmp_path)
    api.load(path, "forecast")  # the real task data passes
    (sid,) = ckpt.meta["task_data"]["scalers"]
    cases = {
        "NaN offset": (
            lambda m: m["task_data"]["scalers"][sid][0].update(offset=[float("nan")]),
            rf"task_data\.scalers\.{sid}\.0\.offset\.0: Input should be a finite number",
        ),
        "zero scale": (
            lambda m: m["task_data"]["scalers"][sid][0].update(scale=[0.0]),
            r"task_data\.scalers\..*scale\.0: Input should be greater than 0",
        ),
        "too many columns": (
            lambda m: m["task_data"]["scalers"][sid][0].update(offset=[1.0, 2.0], scale=[1.0, 1.0]),
            r"a scaler of 2 columns, not 1",
        ),
        "bogus scaling kind": (
            _set("task_data", "scaling", value="zscore"),
            r"task_data\.scaling: Input should be",
        ),
        "bogus frequency": (
            _set("task_data", "freq", value="fortnightly"),
            r"task_data\.freq: not a pandas frequency",
        ),
        "quantiles out of order": (
            _set("task_data", "quantiles", value=[0.9, 0.1]),
            r"task_data\.quantiles: list quantiles once each, in increasing order",
        ),
    }
    for case, (mutate, message) in cases.items():
        where = tmp_path / case.replace(" ", "_")
        where.mkdir()
        crafted = _crafted(where, mutate, src=path)
        with pytest.raises(CheckpointError, match=message):
            api.load(crafted)


def test_check_meta_types_the_document(tmp_path: Path) -> None:
    base = {"format": ck.FORMAT, "format_version": 3, "task": "generate"}
    ck.check_meta(dict(base), tmp_path)
    for bad, field in (
        ({"aliases": {"head.weight": ["embedding.weight"]}}, "aliases.head.weight"),
        ({"versions": {"torch": 2}}, "versions.torch"),
        ({"training": {"seconds": float("inf")}}, "training.seconds"),
        ({"task": None}, "task"),
    ):
        with pytest.raises(CheckpointError, match=rf"invalid \({tmp_path}\): {field}: "):
            ck.check_meta({**base, **bad}, tmp_path)


@pytest.mark.parametrize(
    "header",
    [b'{"__metadata__": [1]}', b"[" * 100_000 + b"]" * 100_000, b'{"a": 1' + b"0" * 5000 + b"}"],
)
def test_malformed_headers_are_refused(tmp_path: Path, header: bytes) -> None:
    path = tmp_path / "h.safetensors"
    path.write_bytes(struct.pack("<Q", len(header)) + header)
    with pytest.raises(CheckpointError, match=r"not an rnncli checkpoint|corrupt header"):
        ck.load_checkpoint(path)


# ------------------------------------------------------------------- header size
def _vocab_checkpoint(n: int) -> ck.Checkpoint:
    meta = {"task": "generate", "task_data": {"vocab": ["<unk>", *(f"w{i}" for i in range(n))]}}
    return ck.Checkpoint(meta=meta, model={"w": torch.zeros(2)})


def test_an_oversize_header_is_refused_at_save_with_nothing_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ck, "MAX_HEADER", 20_000)
    path = tmp_path / "run" / "best.safetensors"
    with pytest.raises(CheckpointError, match=r"more than the limit of 20,000 .*data\.max_size"):
        ck.save_checkpoint(path, _vocab_checkpoint(5000))
    assert not path.exists()
    assert not path.parent.exists() or list(path.parent.iterdir()) == []
    ck.save_checkpoint(path, _vocab_checkpoint(10))  # a small one is written
    assert ck.load_checkpoint(path).meta["task_data"]["vocab"][1] == "w0"


def test_the_header_size_is_checked_when_the_task_data_is_made(
    tmp_path: Path, text_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before any training: a word vocabulary too big for the header fails prepare."""
    monkeypatch.setattr(ck, "MAX_HEADER", (4 << 20) + 200)
    spec = validate_recipe(
        {"task": "generate", "data": {"train": str(text_file), "tokenizer": "word"}}
    )
    with pytest.raises(CheckpointError, match=r"header would take .*data\.max_size") as info:
        get_task("generate").prepare(spec, tmp_path, None)
    assert str(tmp_path) in str(info.value)


# ------------------------------------------------------------------- atomic writes
class _FailingFile:
    """A file whose write stores half the data, then raises `error`."""

    def __init__(self, handle: Any, error: BaseException) -> None:
        self.handle, self.error = handle, error

    def __enter__(self) -> _FailingFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.handle.close()

    def fileno(self) -> int:
        return int(self.handle.fileno())

    def write(self, data: bytes) -> int:
        self.handle.write(data[: len(data) // 2])
        raise self.error

    def flush(self) -> None:
        self.handle.flush()


def _failing_open(monkeypatch: pytest.MonkeyPatch, error: BaseException) -> None:
    real = open
    monkeypatch.setattr(
        ck, "open", lambda *a, **k: _FailingFile(real(*a, **k), error), raising=False
    )


def test_a_full_disk_leaves_the_old_checkpoint_intact(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "last.safetensors"
    ck.save_checkpoint(path, _vocab_checkpoint(3))
    before = path.read_bytes()
    _failing_open(monkeypatch, OSError(errno.ENOSPC, os.strerror(errno.ENOSPC)))
    with pytest.raises(OSError) as info:
        ck.save_checkpoint(path, _vocab_checkpoint(300))
    assert info.value.errno == errno.ENOSPC and info.value.filename == str(path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["last.safetensors"]
    monkeypatch.undo()
    assert len(ck.load_checkpoint(path).meta["task_data"]["vocab"]) == 4


@pytest.mark.parametrize("error", [KeyboardInterrupt(), SystemExit(143)])
def test_an_interrupted_write_leaves_no_temp_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, error: BaseException
) -> None:
    path = tmp_path / "f.bin"
    ck.atomic_write(path, b"old")
    _failing_open(monkeypatch, error)
    with pytest.raises(type(error)):
        ck.atomic_write(path, b"new" * 1000)
    assert path.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["f.bin"]


def test_atomic_write_never_follows_a_planted_symlink(tmp_path: Path) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    run = tmp_path / "run"
    run.mkdir()
    # the temp name the old code used (predictable: pid), planted as a symlink
    (run / f".f.bin.{os.getpid()}.tmp").symlink_to(victim)
    ck.atomic_write(run / "f.bin", b"data")
    assert victim.read_text() == "precious"
    assert (run / "f.bin").read_bytes() == b"data" and not (run / "f.bin").is_symlink()


def test_atomic_write_gives_the_usual_file_mode(tmp_path: Path) -> None:
    path = tmp_path / "f.bin"
    ck.atomic_write(path, b"x")
    mask = os.umask(0)
    os.umask(mask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~mask
