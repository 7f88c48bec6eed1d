"""Export a PyTorch network to ONNX with dynamic H/W, metadata, a parity check and an fp16 twin."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import torch

OPSET = 17


def export(
    model: torch.nn.Module,
    path: Path,
    input_name: str,
    output_name: str,
    sample: torch.Tensor,
    metadata: dict[str, object],
    parity_inputs: list[np.ndarray] | None = None,
    tolerance: float = 1e-4,
) -> float:
    """Write ``model`` to ``path`` (opset 17, dynamic N/H/W) and return the worst torch-vs-ORT difference.

    Raises ``AssertionError`` when ONNX Runtime disagrees with PyTorch by more than ``tolerance``
    on ``sample`` or any of ``parity_inputs``.
    """
    model = model.eval().cpu()
    path.parent.mkdir(parents=True, exist_ok=True)
    axes = {0: "batch", 2: "height", 3: "width"}
    torch.onnx.export(
        model, (sample,), str(path), input_names=[input_name], output_names=[output_name],
        dynamic_axes={input_name: axes, output_name: axes}, opset_version=OPSET, dynamo=False,
    )
    proto = onnx.load(str(path))
    with torch.no_grad():  # shape inference cannot always see the channel count through Resize: state it
        out_shape = model(sample).shape
    for i, dim in enumerate(proto.graph.output[0].type.tensor_type.shape.dim):
        if i not in axes:
            dim.dim_value = out_shape[i]
    set_metadata(proto, metadata)
    onnx.checker.check_model(proto)
    onnx.save(proto, str(path))
    worst = parity(model, path, [sample.numpy()] + list(parity_inputs or []))
    if worst > tolerance:
        raise AssertionError(f"{path.name}: ONNX Runtime differs from PyTorch by {worst:.2e} > {tolerance:.0e}")
    return worst


def set_metadata(proto: onnx.ModelProto, metadata: dict[str, object]) -> None:
    """Store ``metadata`` as ONNX metadata_props (non-strings as JSON)."""
    del proto.metadata_props[:]
    for key, value in metadata.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value if isinstance(value, str) else json.dumps(value)


def parity(model: torch.nn.Module, path: Path, inputs: list[np.ndarray]) -> float:
    """Largest absolute difference between PyTorch and ONNX Runtime (CPU) over ``inputs``."""
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    name = sess.get_inputs()[0].name
    worst = 0.0
    with torch.no_grad():
        for x in inputs:
            ref = model(torch.from_numpy(x)).numpy()
            out = sess.run(None, {name: x})[0]
            worst = max(worst, float(np.abs(ref - out).max()))
    return worst


def to_fp16(src: Path, dst: Path) -> None:
    """Write an fp16 copy of ``src`` for GPUs (float32 inputs and outputs kept)."""
    from onnxconverter_common import float16

    proto = onnx.load(str(src))
    half = float16.convert_float_to_float16(proto, keep_io_types=True)
    meta = {p.key: p.value for p in proto.metadata_props}
    meta["precision"] = "fp16"
    set_metadata(half, meta)
    onnx.save(half, str(dst))
