from __future__ import annotations

import json
import pickle
import struct
from pathlib import Path

import pytest
import torch

from rnncli import api
from rnncli.errors import CheckpointError
from rnncli.training import checkpoint as ck


@pytest.mark.threads
def test_round_trip_gives_identical_predictions(trained_run: Path, tmp_path: Path) -> None:
    a = api.load(trained_run, "generate")
    copy = tmp_path / "copy.safetensors"
    copy.write_bytes((trained_run / "best.safetensors").read_bytes())
    b = api.load(copy, "generate")
    tokens = torch.randint(0, 10, (2, 12))
    with torch.no_grad():
        assert torch.equal(a.model(tokens)[0], b.model(tokens)[0])
    kwargs = dict(length=40, rng_seed=3)
    assert api.generate_text(a, "All:", **kwargs) == api.generate_text(b, "All:", **kwargs)


class _Evil:
    def __reduce__(self):
        return (Path.write_text, (Path(_Evil.target), "pwned"))


def test_malicious_pickle_is_refused_and_never_runs(trained_run: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    _Evil.target = str(tmp_path / "pwned.txt")
    (run / "best.safetensors").write_bytes(pickle.dumps(_Evil()))
    with pytest.raises(CheckpointError, match=r"not a safetensors checkpoint|not a checkpoint"):
        api.load(run, "generate")
    assert not (tmp_path / "pwned.txt").exists()


def test_tampered_weights_are_detected(trained_run: Path, tmp_path: Path) -> None:
    data = bytearray((trained_run / "best.safetensors").read_bytes())
    data[-5] ^= 0xFF
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="checksum"):
        api.load(bad, "generate")


def test_truncated_and_foreign_files(tmp_path: Path) -> None:
    from safetensors.torch import save_file

    empty = tmp_path / "empty.safetensors"
    empty.write_bytes(b"")
    with pytest.raises(CheckpointError, match="truncated"):
        ck.load_checkpoint(empty)
    foreign = tmp_path / "foreign.safetensors"
    save_file({"w": torch.zeros(2)}, str(foreign))
    with pytest.raises(CheckpointError, match="not an rnncli checkpoint"):
        ck.load_checkpoint(foreign)


def _rewrite_meta(src: Path, dst: Path, **changes: object) -> None:
    """A copy of `src` with metadata changed: signed anew, unless the format version is
    changed (a newer format is refused before its checksum is looked at)."""
    c = ck.load_checkpoint(src, with_train=True)
    c.meta.update(changes)
    if "format_version" not in changes:
        ck.save_checkpoint(dst, c)
        return
    tensors, _ = ck._tensors(c)
    from safetensors.torch import save

    draft = save(tensors, metadata={ck.META_KEY: json.dumps(c.meta)})
    _, body = ck._split_header(draft, dst)
    import hashlib

    c.meta["sha256"] = hashlib.sha256(body).hexdigest()
    dst.write_bytes(save(tensors, metadata={ck.META_KEY: json.dumps(c.meta)}))


def test_newer_format_and_wrong_task_are_refused(trained_run: Path, tmp_path: Path) -> None:
    newer = tmp_path / "newer.safetensors"
    _rewrite_meta(trained_run / "best.safetensors", newer, format_version=ck.FORMAT_VERSION + 1)
    with pytest.raises(CheckpointError, match="newer"):
        ck.load_checkpoint(newer)
    with pytest.raises(CheckpointError, match="for task 'generate', not 'classify'"):
        ck.load_checkpoint(trained_run / "best.safetensors", task="classify")


def test_committed_v1_fixture_still_loads() -> None:
    fixture = Path(__file__).parent / "fixtures" / "generate-v1.safetensors"
    loaded = api.load(fixture, "generate")
    assert loaded.meta["format_version"] == ck.FORMAT_VERSION  # upgraded as read
    assert len(api.generate_text(loaded, "A", length=5, rng_seed=0)[0]) == 5


def test_tied_weights_are_stored_once(tmp_path: Path) -> None:
    emb = torch.nn.Embedding(50, 8)
    head = torch.nn.Linear(8, 50)
    head.weight = emb.weight
    model = {"emb.weight": emb.weight, "head.weight": head.weight, "head.bias": head.bias}
    path = tmp_path / "tied.safetensors"
    ck.save_checkpoint(path, ck.Checkpoint(meta={"task": "generate"}, model=model))
    loaded = ck.load_checkpoint(path)
    assert loaded.meta["aliases"] == {"head.weight": "emb.weight"}
    assert torch.equal(loaded.model["head.weight"], emb.weight.detach())
    assert path.stat().st_size < 50 * 8 * 4 * 1.5  # one copy of the matrix, not two


def test_atomic_write_leaves_no_temp_files(tmp_path: Path) -> None:
    target = tmp_path / "f.bin"
    ck.atomic_write(target, b"abc")
    ck.atomic_write(target, b"def")
    assert target.read_bytes() == b"def"
    assert [p.name for p in tmp_path.iterdir()] == ["f.bin"]


def test_header_size_is_checked(tmp_path: Path) -> None:
    bad = tmp_path / "huge.safetensors"
    bad.write_bytes(struct.pack("<Q", 1 << 40) + b"{}")
    with pytest.raises(CheckpointError, match="corrupt"):
        ck.load_checkpoint(bad)
