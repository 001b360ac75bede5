"""Export of a translation model: the encoder, and one decoder step with attention.

Beam search and greedy decoding stay outside the graphs (they are loops with data-
dependent ends): the caller encodes the source once, then calls the step with the
state it got back. rnncli drives the exported graphs with its own search code, so an
exported model translates exactly as the run it came from.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from rnncli.data.batching import pad_batch
from rnncli.errors import RnnCliError
from rnncli.exporting.graph import ExportPlan, Graph, OnnxModule, Session
from rnncli.models.masked import MaskedStack
from rnncli.models.recurrent import join_state, split_state
from rnncli.models.seq2seq import DecoderState, Seq2Seq
from rnncli.tasks import Loaded
from rnncli.tasks.classify.export import tokenizer_assets


def _stacked(layers: list[Any]) -> list[Tensor]:
    """Per-layer state -> the graphs' state inputs/outputs: [h (L, B, H)] or [h, c]."""
    state = join_state(layers)
    return list(state) if isinstance(state, tuple) else [state]


def _layers(parts: list[Tensor]) -> list[Any]:
    """The graphs' [h] or [h, c] -> per-layer state."""
    return split_state((parts[0], parts[1]) if len(parts) == 2 else parts[0])


class EncoderGraph(nn.Module):
    """(source (B, S) padded with 1, lengths (B,)) -> memory, keys, mask, h[, c]."""

    def __init__(self, model: Seq2Seq) -> None:
        super().__init__()
        self.model = model
        self.masked = MaskedStack(model.encoder)

    def forward(self, source: Tensor, lengths: Tensor) -> tuple[Tensor, ...]:
        m = self.model
        memory, final = self.masked(m.source_embedding(source), lengths)
        mask = torch.arange(source.shape[1])[None, :] < lengths[:, None]
        keys = m.attention.keys(memory) if m.attention is not None else memory
        return (memory, keys, mask, *_stacked(m._bridge(final)))


class EncoderReference(nn.Module):
    """The model's own `encode` (packed sequences), with the encoder graph's outputs."""

    def __init__(self, model: Seq2Seq) -> None:
        super().__init__()
        self.model = model

    def forward(self, source: Tensor, lengths: Tensor) -> tuple[Tensor, ...]:
        state = self.model.encode(source, lengths)
        return (state.memory, state.keys, state.mask, *_stacked(state.layers))


class StepGraph(nn.Module):
    """One decoder step: (tokens (B,), h[, c][, feed], memory, keys, mask) ->
    (logits (B, V), h[, c][, feed][, attention (B, S)])."""

    def __init__(self, model: Seq2Seq) -> None:
        super().__init__()
        self.model = model
        self.lstm = model.decoder.cell == "lstm"

    def forward(
        self,
        tokens: Tensor,
        a1: Tensor,
        a2: Tensor | None = None,
        a3: Tensor | None = None,
        a4: Tensor | None = None,
        a5: Tensor | None = None,
        a6: Tensor | None = None,
    ) -> tuple[Tensor, ...]:
        """Positional inputs in the order of `_names` (torch.export takes no *args)."""
        m = self.model
        args = [a for a in (a1, a2, a3, a4, a5, a6) if a is not None]
        n = 2 if self.lstm else 1
        parts, rest = list(args[:n]), list(args[n:])
        feed = rest.pop(0) if m.input_feeding else None
        memory, keys, mask = rest if m.attention is not None else (parts[0][0][:, None],) * 3
        state = DecoderState(_layers(parts), feed, memory, keys, mask)
        logits, new = m.stepper()(tokens, state)
        out = [logits, *_stacked(new.layers)]
        if new.feed is not None:
            out.append(new.feed)
        if new.attention is not None:
            out.append(new.attention)
        return tuple(out)


def _names(model: Seq2Seq) -> tuple[list[str], list[str], list[str]]:
    """Encoder outputs, step inputs, step outputs."""
    state = ["h", "c"] if model.decoder.cell == "lstm" else ["h"]
    feed = ["feed"] if model.input_feeding else []
    memory = ["memory", "keys", "mask"] if model.attention is not None else []
    attention = ["attention"] if model.attention is not None else []
    step_in = ["tokens", *state, *feed, *memory]
    step_out = ["logits", *(f"{s}_out" for s in state + feed), *attention]
    return ["memory", "keys", "mask", *state], step_in, step_out


def export_plan(loaded: Loaded) -> ExportPlan:
    from rnncli.tasks.translate.task import PAD_ID, SPECIALS, Codec, _read

    model: Seq2Seq = loaded.model  # type: ignore[assignment]
    codec = Codec(loaded.state)
    encoder, step = EncoderGraph(model).eval(), StepGraph(model).eval()
    enc_out, step_in, step_out = _names(model)
    g = torch.Generator().manual_seed(0)
    n_src, n_tgt = len(codec.source.vocab), len(codec.target.vocab)
    sources: list[tuple[Tensor, Tensor]] = []
    for batch in (1, 3, 8):
        lengths = torch.randint(1, 20, (batch,), generator=g)
        sources.append(
            pad_batch(
                [torch.randint(4, n_src, (int(k),), generator=g).tolist() for k in lengths], PAD_ID
            )
        )
    data = loaded.recipe.data
    if isinstance(data.train, str) and Path(data.train).is_file():
        with contextlib.suppress(RnnCliError, OSError):
            texts = [s for s, _ in _read(data.train, data)[:32]]
            ids = [ids[: codec.max_length] or [4] for ids, _ in codec.source.encode_many(texts)]
            sources.append(pad_batch(ids, PAD_ID))
    step_checks = []
    with torch.no_grad():
        for source, lengths in sources:
            enc = encoder(source, lengths)
            memory, keys, mask, parts = enc[0], enc[1], enc[2], list(enc[3:])
            b = source.shape[0]
            feed = (
                [0.3 * torch.randn(b, model.hidden_size, generator=g)]
                if model.input_feeding
                else []
            )
            attn = [memory, keys, mask] if model.attention is not None else []
            tokens = torch.randint(3, n_tgt, (b,), generator=g)
            step_checks.append((tokens, *parts, *feed, *attn))
    dyn_b, dyn_bs = {0: "batch"}, {0: "batch", 1: "source"}
    enc_dyn: dict[str, dict[int, str]] = {"source": dyn_bs, "lengths": dyn_b}
    enc_dyn.update(
        {"memory": dyn_bs, "keys": dyn_bs, "mask": dyn_bs, "h": {1: "batch"}, "c": {1: "batch"}}
    )
    step_dyn: dict[str, dict[int, str]] = {"tokens": dyn_b, "logits": dyn_b, "feed": dyn_b}
    step_dyn.update({"memory": dyn_bs, "keys": dyn_bs, "mask": dyn_bs, "attention": dyn_bs})
    for name in ("h", "c", "h_out", "c_out"):
        step_dyn[name] = {1: "batch"}
    step_dyn["feed_out"] = dyn_b
    src_tok, tgt_tok = (
        tokenizer_assets(s.tokenizer.to_json())
        for s in (loaded.state.source, loaded.state.target or loaded.state.source)
    )
    files = {}
    if src_tok[1]:
        src_tok[0]["file"] = "source_tokenizer.json"
        files["source_tokenizer.json"] = src_tok[1]["tokenizer.json"]
    if tgt_tok[1]:
        tgt_tok[0]["file"] = "target_tokenizer.json"
        files["target_tokenizer.json"] = tgt_tok[1]["tokenizer.json"]
    assets = {
        "source": {"vocab": list(codec.source.vocab.tokens), "tokenizer": src_tok[0]},
        "target": {"vocab": list(codec.target.vocab.tokens), "tokenizer": tgt_tok[0]},
        "specials": dict(zip(SPECIALS, range(len(SPECIALS)), strict=True)),
        "max_length": codec.max_length,
        "length_ratio": codec.length_ratio,
        "input_feeding": model.input_feeding,
        "attention": model.attention is not None,
        "hidden_size": model.hidden_size,
    }
    usage = [
        "Tokenize the source with its tokenizer, map tokens to source ids (unknown -> "
        "<unk>; the ids of <unk>, <pad>, <bos>, <eos> are in `specials`), keep at most "
        "`max_length` ids; pad a batch with <pad>.",
        "encoder.onnx: source int64 (batch, source), lengths int64 (batch,) -> "
        f"{', '.join(enc_out)}.",
        f"decoder_step.onnx: {', '.join(step_in)} -> {', '.join(step_out)}. Start with "
        "tokens = <bos>, the encoder's state"
        + (", feed = zeros (batch, hidden_size)" if model.input_feeding else "")
        + "; pass each step's new state to the next.",
        "Greedy: take the argmax of the logits until <eos> or about length_ratio x source "
        "length + 5 tokens. Beam search: keep the best log-softmax sums, reordering the "
        "state rows (batch axis) as beams are chosen.",
        "Text: the target vocab strings of the ids, joined by the target tokenizer.",
    ]
    return ExportPlan(
        graphs=[
            Graph(
                "encoder",
                encoder,
                ["source", "lengths"],
                enc_out,
                sources[1],
                enc_dyn,
                sources,
                "source ids -> attention memory and the decoder's initial state",
                # an LSTM encoder's padding column (MaskedStack) would swamp int8 scales
                float_ops=("LSTM",) if model.encoder.cell == "lstm" else (),
                reference=EncoderReference(model).eval(),
            ),
            Graph(
                "decoder_step",
                step,
                step_in,
                step_out,
                step_checks[1],
                step_dyn,
                step_checks,
                "one target token and the state -> next-token logits and the new state",
            ),
        ],
        assets=assets,
        usage=usage,
        files=files,
    )


class OnnxSeq2Seq(OnnxModule):
    """`Seq2Seq`'s encode, step and teacher-forced forward, computed by the two graphs."""

    def __init__(self, sessions: dict[str, Session], assets: dict[str, Any]) -> None:
        super().__init__(sessions)
        self.input_feeding = bool(assets["input_feeding"])
        self.hidden_size = int(assets["hidden_size"])
        self.attention = True if assets["attention"] else None

    def encode(self, source: Tensor, lengths: Tensor) -> DecoderState:
        out = self.sessions["encoder"](source, lengths)
        memory, keys, mask, parts = out[0], out[1], out[2], out[3:]
        feed = memory.new_zeros(source.shape[0], self.hidden_size) if self.input_feeding else None
        return DecoderState(_layers(parts), feed, memory, keys, mask)

    def stepper(self) -> Callable[[Tensor, DecoderState], tuple[Tensor, DecoderState]]:
        run = self.sessions["decoder_step"]

        def step(tokens: Tensor, state: DecoderState) -> tuple[Tensor, DecoderState]:
            args = [tokens, *_stacked(state.layers)]
            if state.feed is not None:
                args.append(state.feed)
            if self.attention is not None:
                args += [state.memory, state.keys, state.mask]
            out = run(*args)
            n = 2 if isinstance(state.layers[0], tuple) else 1
            layers = _layers(out[1 : 1 + n])
            rest = out[1 + n :]
            feed = rest.pop(0) if self.input_feeding else None
            attention = rest.pop(0) if self.attention is not None else None
            new = DecoderState(layers, feed, state.memory, state.keys, state.mask, attention)
            return out[0], new

        return step

    def forward(self, source: Tensor, lengths: Tensor, target_in: Tensor, *_: Any) -> Tensor:
        """Teacher-forced logits (B, T, V), one step at a time."""
        state, step = self.encode(source, lengths), self.stepper()
        logits = []
        for t in range(target_in.shape[1]):
            out, state = step(target_in[:, t], state)
            logits.append(out)
        return torch.stack(logits, dim=1)


def onnx_model(
    sessions: dict[str, Session], recipe: Any, state: Any, assets: dict[str, Any]
) -> nn.Module:
    return OnnxSeq2Seq(sessions, assets)
