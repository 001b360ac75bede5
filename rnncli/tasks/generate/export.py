"""Export of a language model: one graph that reads tokens with the recurrent state in
and out. With one token per row it is the generation step (O(1) per token, the state
carried by the caller); with many it reads a priming text or scores a stream."""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from rnncli.errors import RnnCliError
from rnncli.exporting.graph import ExportPlan, Graph, OnnxModule, Session
from rnncli.models.language_model import LanguageModel
from rnncli.models.masked import exportable
from rnncli.models.recurrent import State
from rnncli.tasks import Loaded
from rnncli.tasks.classify.export import tokenizer_assets


class LanguageModelGraph(nn.Module):
    """(tokens (B, T), h (L, B, H)[, c]) -> (logits (B, T, V), h, [c])."""

    def __init__(self, model: LanguageModel, convert: bool = True) -> None:
        super().__init__()
        self.model = exportable(model) if convert else model  # Elman layers as GRUs
        self.lstm = model.rnn.cell == "lstm"

    def forward(self, tokens: Tensor, h: Tensor, c: Tensor | None = None) -> tuple[Tensor, ...]:
        state: State = (h, c) if c is not None else h
        logits, new = self.model(tokens, state)
        if isinstance(new, tuple):
            return logits, new[0], new[1]
        return logits, new


def _state_names(lstm: bool) -> tuple[list[str], list[str]]:
    return (["h", "c"], ["h_out", "c_out"]) if lstm else (["h"], ["h_out"])


def export_plan(loaded: Loaded) -> ExportPlan:
    from rnncli.tasks.generate.task import Codec

    model: LanguageModel = loaded.model  # type: ignore[assignment]
    codec = Codec(loaded.state)
    graph = LanguageModelGraph(model).eval()
    ins, outs = _state_names(graph.lstm)
    vocab = len(codec.vocab)
    g = torch.Generator().manual_seed(0)

    def state(batch: int, scale: float) -> list[Tensor]:
        init = model.initial_state(batch)
        parts = list(init) if isinstance(init, tuple) else [init]
        return [p.detach() + scale * torch.randn(p.shape, generator=g) for p in parts]

    checks: list[tuple[Tensor, ...]] = [
        (torch.randint(1, vocab, (b, t), generator=g), *state(b, s))
        for b, t, s in ((1, 1, 0.0), (4, 1, 0.5), (3, 17, 0.5), (2, 40, 0.0))
    ]
    path = loaded.recipe.data.valid or loaded.recipe.data.train
    if path and Path(path).is_file():
        with contextlib.suppress(RnnCliError, OSError, UnicodeDecodeError):
            text = Path(path).read_text(encoding=loaded.recipe.data.encoding)[:2000]
            ids = torch.from_numpy(codec.encoder.encode(text).astype("int64"))[None]
            checks.append((ids, *state(1, 0.0)))
    init = model.initial_state(1)
    tokenizer, files = tokenizer_assets(loaded.state.tokenizer.to_json())
    assets = {
        "vocab": list(codec.vocab.tokens),
        "unk_id": 0,
        "tokenizer": tokenizer,
        "initial_state": {
            name: part[:, 0].tolist()
            for name, part in zip(ins, init if isinstance(init, tuple) else (init,), strict=True)
        },
    }
    state_doc = (
        " and c (layers, batch, hidden) float32" if graph.lstm else " (layers, batch, hidden)"
    )
    usage = [
        "Encode the priming text into ids with `vocab` (char models: one id per code point; "
        "word models: the `pattern` matches); unknown -> 0.",
        f"language_model.onnx: tokens int64 (batch, time), h{state_doc} -> logits "
        "(batch, time, vocab) and the new state; start from `initial_state` repeated over "
        "the batch.",
        "Generate: run the priming ids once, then feed one token (batch, 1) per step with "
        "the state it returned; pick from the last logits (argmax for greedy; softmax "
        "of logits / temperature to sample). rnncli never emits id 0 (<unk>).",
        "Text: join the vocab strings of the ids (char models: concatenate).",
    ]
    dynamic: dict[str, dict[int, str]] = {"tokens": {0: "batch", 1: "time"}}
    dynamic["logits"] = {0: "batch", 1: "time"}
    for name in ins + outs:
        dynamic[name] = {1: "batch"}
    example = (torch.randint(1, vocab, (2, 5), generator=g), *state(2, 0.0))
    return ExportPlan(
        graphs=[
            Graph(
                "language_model",
                graph,
                ["tokens", *ins],
                ["logits", *outs],
                example,
                dynamic,
                checks,
                "language model: tokens and state -> next-token logits and state",
                reference=LanguageModelGraph(model, convert=False),
            )
        ],
        assets=assets,
        usage=usage,
        files=files,
    )


class _StateAsIs:
    """What `generate` calls `model.rnn`: the state stays in torch's layout."""

    @staticmethod
    def split_state(state: Any) -> Any:
        return state


class OnnxLanguageModel(OnnxModule):
    """`LanguageModel`'s forward, initial state and step, computed by language_model.onnx."""

    def __init__(self, sessions: dict[str, Session], initial: dict[str, Any]) -> None:
        super().__init__(sessions)
        self.initial = [torch.tensor(initial[k], dtype=torch.float32) for k in sorted(initial)]
        self.rnn = _StateAsIs()

    def initial_state(self, batch: int) -> State:
        parts = [p[:, None].expand(-1, batch, -1).contiguous() for p in self.initial]
        # sorted names: ["c", "h"] for an LSTM
        return (parts[1], parts[0]) if len(parts) == 2 else parts[0]

    def forward(self, tokens: Tensor, state: State | None = None) -> tuple[Tensor, State]:
        if state is None:
            state = self.initial_state(tokens.shape[0])
        parts = state if isinstance(state, tuple) else (state,)
        out = self.sessions["language_model"](tokens, *parts)
        return out[0], (out[1], out[2]) if len(out) == 3 else out[1]

    def stepper(self, banned: int | None = None) -> Callable[[Tensor, Any], tuple[Tensor, Any]]:
        def step(tokens: Tensor, state: Any) -> tuple[Tensor, Any]:
            logits, state = self(tokens[:, None], state)
            logits = logits[:, 0]
            if banned is not None:
                logits[:, banned] = -math.inf
            return logits, state

        return step


def onnx_model(
    sessions: dict[str, Session], recipe: Any, state: Any, assets: dict[str, Any]
) -> nn.Module:
    return OnnxLanguageModel(sessions, assets["initial_state"])
