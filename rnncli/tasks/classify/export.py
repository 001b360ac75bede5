"""Export of a classifier: one graph, tokens and lengths in, logits and probabilities out.

The recurrence runs over the padded batch with `MaskedStack` (ONNX has no packed
sequences), which gives the same outputs as the packed path, so padding never changes
an exported classifier's answer either.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from rnncli.data.batching import pad_batch
from rnncli.data.vocab import WORD_PATTERN
from rnncli.errors import RnnCliError
from rnncli.exporting.graph import ExportPlan, Graph, OnnxModule, Session
from rnncli.models.classifier import Classifier
from rnncli.models.masked import MaskedStack
from rnncli.tasks import Loaded


class ClassifierGraph(nn.Module):
    def __init__(self, model: Classifier, multi_label: bool) -> None:
        super().__init__()
        self.model = model
        self.masked = MaskedStack(model.rnn, cell_state=False)  # pooling reads outputs
        self.multi_label = multi_label

    def forward(self, tokens: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor]:
        """tokens (batch, time) padded with 0, lengths (batch,) -> logits, probabilities."""
        m = self.model
        out, state = self.masked(m.embedding(tokens), lengths)
        logits = m.head(m._pool(out, state, lengths))
        probs = logits.sigmoid() if self.multi_label else logits.softmax(-1)
        return logits, probs


class ClassifierReference(nn.Module):
    """The classifier's own (packed) path, with the graph's outputs."""

    def __init__(self, model: Classifier, multi_label: bool) -> None:
        super().__init__()
        self.model, self.multi_label = model, multi_label

    def forward(self, tokens: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor]:
        logits = self.model(tokens, lengths)
        return logits, logits.sigmoid() if self.multi_label else logits.softmax(-1)


def tokenizer_assets(tokenizer: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """The tokenizer as assets.json describes it, and tokenizer.json for subword models."""
    info = {k: v for k, v in tokenizer.items() if k != "subword"}
    if info.get("kind") == "word":
        info.setdefault("pattern", WORD_PATTERN)
    files = {}
    if "subword" in tokenizer:
        info["file"] = "tokenizer.json"
        files["tokenizer.json"] = str(tokenizer["subword"])
    return info, files


def random_batches(vocab: int, seed: int = 0) -> list[tuple[Tensor, Tensor]]:
    """Batches of mixed lengths (1 to 23), padded with 0, for parity checks."""
    g = torch.Generator().manual_seed(seed)
    out = []
    for batch in (1, 3, 8):
        lengths = torch.randint(1, 24, (batch,), generator=g)
        seqs = [torch.randint(1, vocab, (int(n),), generator=g).tolist() for n in lengths]
        out.append(pad_batch(seqs))
    return out


def export_plan(loaded: Loaded) -> ExportPlan:
    from rnncli.tasks.classify.task import Codec, read_rows

    state, recipe = loaded.state, loaded.recipe
    codec = Codec(state)
    graph = ClassifierGraph(loaded.model, codec.multi_label).eval()  # type: ignore[arg-type]
    checks = random_batches(len(codec.vocab))
    data = recipe.data
    for path in (data.test, data.valid, data.train):
        if path and Path(path).is_file():
            with contextlib.suppress(RnnCliError, OSError):
                texts = [text for text, _ in read_rows(path, data)[:64]]
                checks.append(pad_batch(codec.encode_many(texts)))
            break
    tokenizer, files = tokenizer_assets(state.tokenizer.to_json())
    assets = {
        "vocab": list(state.vocab),
        "unk_id": 0,
        "pad_id": 0,
        "max_length": state.max_length,
        "tokenizer": tokenizer,
        "labels": list(state.labels),
        "multi_label": state.multi_label,
        "label_separator": state.label_separator,
        "threshold": recipe.model.threshold,
    }
    usage = [
        "Split each line into tokens as `tokenizer` says (word: lowercase first if "
        "`lowercase`, then all matches of the regular expression `pattern`; char: code "
        "points; subword: tokenizer.json with the `tokenizers` library).",
        "Map tokens to ids with `vocab` (unknown tokens -> unk_id 0); keep at most "
        "`max_length` ids when set; an empty line is [0].",
        "classifier.onnx: tokens int64 (batch, time) padded with 0, lengths int64 (batch,) "
        "-> logits and probabilities (batch, labels), in the order of `labels`.",
        "Multi-label models: probabilities are per-label sigmoids; a label is on at "
        "probability >= `threshold`.",
    ]
    example = random_batches(len(codec.vocab), seed=1)[1]
    return ExportPlan(
        graphs=[
            Graph(
                "classifier",
                graph,
                ["tokens", "lengths"],
                ["logits", "probabilities"],
                example,
                {
                    "tokens": {0: "batch", 1: "time"},
                    "lengths": {0: "batch"},
                    "logits": {0: "batch"},
                    "probabilities": {0: "batch"},
                },
                checks,
                "text classifier: token ids -> label logits and probabilities",
                reference=ClassifierReference(loaded.model, codec.multi_label),  # type: ignore[arg-type]
            )
        ],
        assets=assets,
        usage=usage,
        files=files,
    )


class OnnxClassifier(OnnxModule):
    """`Classifier`'s forward, computed by classifier.onnx."""

    def forward(self, tokens: Tensor, lengths: Tensor) -> Tensor:
        return self.sessions["classifier"](tokens, lengths)[0]


def onnx_model(
    sessions: dict[str, Session], recipe: Any, state: Any, assets: dict[str, Any]
) -> nn.Module:
    return OnnxClassifier(sessions)
