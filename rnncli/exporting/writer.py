"""Write an export directory: ONNX graphs, JSON assets, model.json; checked before it exists.

Everything is written into a private temp directory beside the target, checked (each
graph against the torch model on the task's check inputs), then renamed into place:
an export that fails leaves nothing, and an existing directory is never touched.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import shutil
import tempfile
import warnings
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from rnncli import __version__
from rnncli.errors import CheckpointError, RnnCliError, UsageError
from rnncli.exporting import MANIFEST, is_export, sha256_file
from rnncli.exporting.graph import ExportPlan, Graph, Session, require
from rnncli.tasks import Loaded
from rnncli.tasks.registry import get_task
from rnncli.training.checkpoint import _umask

log = logging.getLogger("rnncli")
FORMAT = "rnncli-onnx"
FORMAT_VERSION = 1
FORMATS = ("onnx",)
QUANTIZATIONS = ("int8",)


class ExportError(RnnCliError):
    """The exported graphs do not compute what the torch model computes."""


def export_run(
    loaded: Loaded,
    out: Path,
    fmt: str = "onnx",
    quantize: str | None = None,
    tolerance: float = 1e-4,
) -> dict[str, Any]:
    """Export `loaded` to the new directory `out`; returns its manifest (model.json)."""
    if fmt not in FORMATS:
        raise UsageError(f"unknown export format {fmt!r}: choose one of {', '.join(FORMATS)}")
    if quantize is not None and quantize not in QUANTIZATIONS:
        raise UsageError(f"unknown quantization {quantize!r}: choose one of {QUANTIZATIONS}")
    if out.exists() or out.is_symlink():
        raise UsageError(f"{out} already exists: give a new directory (exports never overwrite)")
    if is_export(loaded.path):
        raise UsageError(f"{loaded.path} is already an export: export the run it came from")
    task = get_task(loaded.task)
    if not hasattr(task, "export_plan"):
        raise ExportError(
            f"{loaded.task} models have no ONNX export yet: run them with rnncli "
            f"(`rnn {loaded.task} --model {loaded.path}`)"
        )
    require("onnx"), require("onnxruntime"), require("onnxscript")
    try:
        plan: ExportPlan = task.export_plan(loaded)
    except ValueError as exc:  # a model the exporter cannot write (e.g. a relu Elman RNN)
        raise ExportError(f"cannot export {loaded.path}: {exc}") from None
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))
    try:
        manifest = _write(loaded, plan, tmp, quantize, tolerance)
        if out.exists():
            raise UsageError(f"{out} appeared while exporting: nothing was overwritten")
        tmp.rename(out)
        os.chmod(out, 0o777 & ~_umask())
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return manifest


def _write(
    loaded: Loaded, plan: ExportPlan, tmp: Path, quantize: str | None, tolerance: float
) -> dict[str, Any]:
    graphs: dict[str, Any] = {}
    for graph in plan.graphs:
        path = tmp / f"{graph.name}.onnx"
        _export(graph, path)
        diff = check(graph, path, tolerance)
        entry: dict[str, Any] = {"file": path.name, "doc": graph.doc, "max_abs_diff": diff}
        if quantize == "int8":
            _quantize(path, graph.float_ops)
            entry["max_abs_diff_int8"] = check(graph, path, float("inf"))
        entry.update(_signature(path))
        graphs[graph.name] = entry
    _dump(tmp / "meta.json", loaded.meta)
    _dump(tmp / "assets.json", plan.assets)
    for name, text in plan.files.items():
        (tmp / name).write_text(text, encoding="utf-8")
    files = sorted(p.name for p in tmp.iterdir())
    manifest = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "task": loaded.task,
        "precision": quantize or "float32",
        "tolerance": tolerance,
        "exported_by": f"rnncli {__version__}, torch {torch.__version__}",
        "source": str(loaded.path),
        "graphs": graphs,
        "usage": plan.usage,
        "sha256": {name: sha256_file(tmp / name) for name in files},
    }
    _dump(tmp / MANIFEST, manifest)
    return manifest


def _dump(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


def _forget_rnn_dispatch() -> None:
    """Clear the dispatch caches of torch's fused recurrent ops.

    After a first export in a process these caches hold the Python decomposition of
    aten.lstm & co. (a loop over time steps); the next export would then trace that
    loop and fix the time axis to the example's length (measured: the second export of
    a classifier in one process failed its check on any other length). Cleared, the
    ops stay whole and become ONNX LSTM/GRU/RNN nodes with a dynamic time axis.
    """
    for name in ("lstm", "gru", "rnn_tanh", "rnn_relu"):
        packet = getattr(torch.ops.aten, name)
        for overload in packet.overloads():
            cache = getattr(getattr(packet, overload), "_dispatch_cache", None)
            if cache is not None:
                cache.clear()


def _export(graph: Graph, path: Path) -> None:
    """torch.onnx (the dynamo exporter), with its chatter kept off stdout."""
    from torch.export import Dim

    _forget_rnn_dispatch()

    dims: dict[str, Any] = {}
    shapes = tuple(
        {a: dims.setdefault(d, Dim(d, min=1)) for a, d in graph.dynamic.get(name, {}).items()}
        or None
        for name in graph.inputs
    )
    graph.module.eval()
    chatter = io.StringIO()
    quiet = logging.getLogger("torch.onnx")
    level = quiet.level
    quiet.setLevel(logging.ERROR)
    try:
        with (
            contextlib.redirect_stdout(chatter),
            warnings.catch_warnings(),
            torch.no_grad(),
        ):
            warnings.simplefilter("ignore")
            torch.onnx.export(
                graph.module,
                graph.example,
                str(path),
                input_names=graph.inputs,
                output_names=graph.outputs,
                dynamic_shapes=shapes,
                dynamo=True,
                external_data=False,
                verbose=False,
            )
    except Exception as exc:  # the exporter's own errors are long; keep the first line
        lines = [x for x in str(exc).strip().splitlines() if x.strip()] or [type(exc).__name__]
        marks = [i for i, x in enumerate(lines) if "Exception summary" in x]
        first = lines[marks[0] + 1] if marks and marks[0] + 1 < len(lines) else lines[0]
        raise ExportError(f"torch could not export the {graph.name} graph: {first}") from None
    finally:
        quiet.setLevel(level)
    _name_output_axes(path, graph)


def _name_output_axes(path: Path, graph: Graph) -> None:
    """Fold constants without the exporter's size limits (it leaves the recurrent
    weights being sliced and re-ordered on every call, which also hides them from int8
    quantisation), and give the outputs the dimension names the plan declares (the
    exporter sometimes writes the traced size of an axis that is dynamic)."""
    onnx = require("onnx")
    ir, optimizer = require("onnx_ir"), require("onnxscript.optimizer")
    folded = ir.load(str(path))
    optimizer.optimize(folded, input_size_limit=1 << 40, output_size_limit=1 << 40)
    ir.save(folded, str(path))
    model = onnx.load(str(path))
    for out in list(model.graph.output) + list(model.graph.input):
        for axis, dim_name in graph.dynamic.get(out.name, {}).items():
            dim = out.type.tensor_type.shape.dim[axis]
            dim.Clear()
            dim.dim_param = dim_name
    del model.graph.value_info[:]  # intermediate shapes may carry traced sizes too
    onnx.save(model, str(path))


def _quantize(path: Path, float_ops: tuple[str, ...]) -> None:
    """onnxruntime's dynamic int8 quantisation of the weights of every op type it
    handles, except `float_ops`."""
    quant = require("onnxruntime.quantization")
    onnx = require("onnx")
    kinds = {node.op_type for node in onnx.load(str(path)).graph.node}
    ops = sorted(kinds & {"MatMul", "Gemm", "Gather", "LSTM", "GRU", "Attention"} - set(float_ops))
    src = path.with_suffix(".float.onnx")
    path.rename(src)
    logging.disable(logging.WARNING)  # its advice goes to the root logger
    try:
        with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            quant.quantize_dynamic(
                str(src), str(path), op_types_to_quantize=ops, weight_type=quant.QuantType.QInt8
            )
    finally:
        logging.disable(logging.NOTSET)
    src.unlink()


def check(graph: Graph, path: Path, tolerance: float | None) -> float:
    """Largest |torch - onnxruntime| over the check inputs (raises past `tolerance`)."""
    session = Session(path)
    worst = 0.0
    reference = graph.reference or graph.module
    for n, inputs in enumerate(graph.checks or [graph.example]):
        with torch.no_grad():
            want = reference(*inputs)
        want = list(want) if isinstance(want, (tuple, list)) else [want]
        got = session(*inputs)
        for name, a, b in zip(graph.outputs, want, got, strict=True):
            diff = _diff(a, b)
            if tolerance is not None and not diff <= tolerance:
                raise ExportError(
                    f"the exported {graph.name} graph's output {name} differs from the torch "
                    f"model by {diff:.3g} (> {tolerance:g}) on check input {n + 1}: "
                    "not exported (raise --tolerance only if that is acceptable)"
                )
            worst = max(worst, diff)
    return worst


def _diff(a: Tensor, b: Tensor) -> float:
    if tuple(a.shape) != tuple(b.shape):
        return float("inf")
    if not a.is_floating_point():
        return 0.0 if torch.equal(a.to(b.dtype), b) else float("inf")
    if a.numel() == 0:
        return 0.0
    a, b = a.float(), b.float()
    both_inf = torch.isinf(a) & torch.isinf(b) & (torch.sign(a) == torch.sign(b))
    d = (a - b).abs().masked_fill(both_inf, 0.0)
    return float(d.max())


def _signature(path: Path) -> dict[str, Any]:
    """Inputs and outputs of a graph file: names, element types, shapes (named axes)."""
    onnx = require("onnx")
    model = onnx.load(str(path), load_external_data=False)

    def describe(values: Any) -> list[dict[str, Any]]:
        out = []
        for v in values:
            t = v.type.tensor_type
            shape = [d.dim_param or d.dim_value for d in t.shape.dim]
            dtype = onnx.helper.tensor_dtype_to_np_dtype(t.elem_type).name
            out.append({"name": v.name, "dtype": dtype, "shape": shape})
        return out

    return {
        "inputs": describe(model.graph.input),
        "outputs": describe(model.graph.output),
        "bytes": path.stat().st_size,
    }


def manifest_error(path: Path, what: str) -> CheckpointError:
    return CheckpointError(f"not a usable rnncli export ({path}): {what}")
