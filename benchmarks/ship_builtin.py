"""Turn a run's best checkpoint into a built-in model: weights stored as float16.

    python benchmarks/ship_builtin.py runs/sentiment-final rnncli/pretrained/classify.safetensors
    python benchmarks/ship_builtin.py --upgrade rnncli/pretrained/*.safetensors

Halving the bytes keeps a word-level model with a 15k vocabulary near 4 MB; loading
casts the weights back to float32 (load_state_dict copies across dtypes). The tool
prints the size and checks the shipped file loads and predicts like the original
(largest probability difference on the run's validation texts is printed).

`--upgrade` rewrites shipped files in place in the current checkpoint format (after a
format change): the metadata is carried over, and the tensor bytes are checked to be
byte-identical before a file is replaced.
"""

from __future__ import annotations

import argparse
import json
import struct
from pathlib import Path

from rnncli import api
from rnncli.training.checkpoint import (
    FORMAT_VERSION,
    Checkpoint,
    atomic_write,
    encode,
    load_checkpoint,
    resolve_model_path,
    save_checkpoint,
)


def tensor_bytes(data: bytes | bytearray) -> bytes:
    """The bytes after a safetensors header (the tensors)."""
    (size,) = struct.unpack("<Q", data[:8])
    return bytes(data[8 + size :])


def upgrade(path: Path) -> None:
    old = path.read_bytes()
    (size,) = struct.unpack("<Q", old[:8])
    was = json.loads(json.loads(old[8 : 8 + size])["__metadata__"]["rnncli"])["format_version"]
    ckpt = load_checkpoint(path)
    new = encode(ckpt, path)
    if tensor_bytes(new) != tensor_bytes(old):
        raise SystemExit(f"{path}: the tensor bytes would change; not rewritten")
    atomic_write(path, new)
    again = load_checkpoint(path)
    assert again.meta["format_version"] == FORMAT_VERSION
    print(f"{path}: format {was} -> {FORMAT_VERSION}, tensor bytes identical")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", type=Path, nargs="+", help="RUN DEST, or files to --upgrade")
    parser.add_argument("--upgrade", action="store_true", help="re-encode shipped files")
    args = parser.parse_args()
    if args.upgrade:
        for path in args.paths:
            upgrade(path)
        return
    if len(args.paths) != 2:
        parser.error("give a run and the destination file")
    args.run, args.dest = args.paths
    source = resolve_model_path(args.run)
    ckpt = load_checkpoint(source)
    halves: dict[int, object] = {}  # tied weights stay one tensor (stored once)

    def half(v):  # type: ignore[no-untyped-def]
        if not v.is_floating_point():
            return v
        return halves.setdefault(v.data_ptr(), v.half())

    # Through the model, so tied weights are one tensor again (stored once) even when the
    # run's checkpoint was written with separate copies.
    state = api.load(source, device="cpu").model.state_dict()
    weights = {k: half(v) for k, v in state.items()}
    meta = {**ckpt.meta, "shipped": {"from": str(source), "weights": "float16"}}
    save_checkpoint(args.dest, Checkpoint(meta=meta, model=weights, train={}))
    print(f"{args.dest}: {args.dest.stat().st_size / 1e6:.2f} MB")
    if ckpt.task == "classify":
        lines = ["he ate the pie happily", "he ate the pie angrily", "a dull , tedious film"]
        a = [p for _, p in api.classify(api.load(source), lines)]
        b = [p for _, p in api.classify(api.load(args.dest), lines)]
        diff = max(abs(x[k] - y[k]) for x, y in zip(a, b, strict=True) for k in x)
        print(f"largest probability difference after float16: {diff:.2e}")
    if ckpt.task == "tag" and api.load(source).recipe.data.test:
        test = api.load(source).recipe.data.test
        for name, path in (("float32", source), ("float16", args.dest)):
            print(f"{name}: {test} entity F1 {api.evaluate(api.load(path), test)['f1']:.4f}")
    if ckpt.task == "translate":
        lines = ["I am cold.", "He ate the pie happily.", "Where is the station?"]
        a = [r.text for r in api.translate(api.load(source), lines)]
        b = [r.text for r in api.translate(api.load(args.dest), lines)]
        for x, y in zip(a, b, strict=True):
            print(f"float32: {x}\nfloat16: {y}")


if __name__ == "__main__":
    main()
