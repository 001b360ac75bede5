"""What a task hands over to export, and the runtime side of an exported graph."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from rnncli.errors import UsageError

EXTRA_HINT = "pip install 'rnncli[export]'"


@dataclass
class Graph:
    """One ONNX graph: a torch module in eval mode and how to trace and check it."""

    name: str  # the file is `<name>.onnx`
    module: nn.Module
    inputs: list[str]
    outputs: list[str]
    example: tuple[Tensor, ...]  # traced (its sizes above 1 on the dynamic axes)
    dynamic: dict[str, dict[int, str]]  # input and output name -> {axis: dimension name}
    checks: Sequence[tuple[Tensor, ...]] = field(default_factory=list)  # parity inputs
    doc: str = ""  # what it computes, for model.json
    float_ops: tuple[str, ...] = ()  # ONNX op types that int8 quantisation leaves alone
    # what the graph is checked against: the model's own path (packed sequences, Elman
    # layers...), when `module` computes it another way for ONNX's sake
    reference: nn.Module | None = None


@dataclass
class ExportPlan:
    graphs: list[Graph]
    assets: dict[str, Any]  # vocabulary, tokenizer, labels, scalers... (assets.json)
    usage: list[str]  # how a program drives the graphs, for model.json
    files: dict[str, str] = field(default_factory=dict)  # extra text files: name -> text


def require(module: str) -> Any:
    """Import an optional export dependency, or one clear line naming the extra."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise UsageError(f"export needs the package {module!r}: {EXTRA_HINT}") from None


class Session:
    """An onnxruntime session called with and returning torch tensors (CPU)."""

    def __init__(self, path: Path, threads: int | None = None) -> None:
        ort = require("onnxruntime")
        options = ort.SessionOptions()
        options.log_severity_level = 3  # shape-annotation warnings are not the user's concern
        if threads:
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.inputs = [i.name for i in self.session.get_inputs()]
        self.outputs = [o.name for o in self.session.get_outputs()]

    def __call__(self, *args: Tensor) -> list[Tensor]:
        feed = {name: _numpy(a) for name, a in zip(self.inputs, args, strict=True)}
        return [torch.from_numpy(np.ascontiguousarray(x)) for x in self.session.run(None, feed)]


def _numpy(x: Tensor) -> np.ndarray:
    return x.detach().cpu().contiguous().numpy()


class OnnxModule(nn.Module):
    """Base of the tasks' ONNX-backed models: holds the sessions and an empty parameter,
    so code that asks `next(model.parameters()).device` gets the CPU."""

    def __init__(self, sessions: dict[str, Session]) -> None:
        super().__init__()
        self.sessions = sessions
        self.anchor = nn.Parameter(torch.zeros(0), requires_grad=False)
