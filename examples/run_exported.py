"""Run a model exported by `rnn export` with onnxruntime and numpy only (no torch, no rnncli).

    python examples/run_exported.py classify exported/sentiment < reviews.txt
    python examples/run_exported.py generate exported/shakespeare --seed "He ate" -n 200

classify prints `label<TAB>probability<TAB>line` per input line; generate continues the
seed greedily (the likeliest next token every step), carrying the recurrent state
itself, as rnncli does. The directory's model.json and assets.json say everything used here.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

import numpy as np
import onnxruntime as ort


def load(directory: Path) -> tuple[dict, dict]:
    manifest = json.loads((directory / "model.json").read_text(encoding="utf-8"))
    assets = json.loads((directory / "assets.json").read_text(encoding="utf-8"))
    return manifest, assets


def tokenize(text: str, tokenizer: dict, directory: Path) -> list[str]:
    if tokenizer.get("lowercase"):
        text = text.lower()
    if tokenizer["kind"] == "char":
        return list(text)
    if tokenizer["kind"] == "word":
        return re.findall(tokenizer["pattern"], text)
    from tokenizers import Tokenizer  # subword models ship tokenizer.json

    return Tokenizer.from_file(str(directory / tokenizer["file"])).encode(text).tokens


def classify(directory: Path, lines: list[str]) -> None:
    manifest, assets = load(directory)
    session = ort.InferenceSession(str(directory / manifest["graphs"]["classifier"]["file"]))
    index = {token: i for i, token in enumerate(assets["vocab"])}
    limit = assets["max_length"]
    for line in lines:
        if not line.strip():
            print()
            continue
        ids = [index.get(t, 0) for t in tokenize(line, assets["tokenizer"], directory)] or [0]
        ids = ids[:limit] if limit else ids
        tokens = np.array([ids], dtype=np.int64)
        lengths = np.array([len(ids)], dtype=np.int64)
        _, probs = session.run(None, {"tokens": tokens, "lengths": lengths})
        best = int(probs[0].argmax())
        print(f"{assets['labels'][best]}\t{probs[0, best]:.4f}\t{line}")


def generate(directory: Path, seed: str, length: int) -> str:
    manifest, assets = load(directory)
    session = ort.InferenceSession(str(directory / manifest["graphs"]["language_model"]["file"]))
    vocab = assets["vocab"]
    index = {token: i for i, token in enumerate(vocab)}
    ids = [index.get(t, 0) for t in tokenize(seed, assets["tokenizer"], directory)]
    state = {
        name: np.array(value, dtype=np.float32)[:, None, :]  # (layers, batch 1, hidden)
        for name, value in assets["initial_state"].items()
    }
    tokens = np.array([ids or [index.get("\n", 0)]], dtype=np.int64)
    out = []
    for _ in range(length):
        logits, *new = session.run(None, {"tokens": tokens, **state})
        state = dict(zip(state, new, strict=True))  # h_out -> h, c_out -> c, in input order
        scores = logits[0, -1]
        scores[0] = -np.inf  # never write <unk>
        token = int(scores.argmax())
        out.append(vocab[token])
        tokens = np.array([[token]], dtype=np.int64)
    sep = "" if assets["tokenizer"]["kind"] == "char" else " "
    return seed + sep.join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("job", choices=["classify", "generate"])
    parser.add_argument("directory", type=Path)
    parser.add_argument("--seed", default="")
    parser.add_argument("-n", "--length", type=int, default=200)
    args = parser.parse_args()
    if args.job == "classify":
        classify(args.directory, sys.stdin.read().splitlines())
    else:
        print(generate(args.directory, args.seed, args.length))


if __name__ == "__main__":
    main()
