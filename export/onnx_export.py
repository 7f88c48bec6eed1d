"""Export a PyTorch network to ONNX with dynamic H/W, metadata, and a parity check."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import torch

from realtime.inference import cpu_session

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
    fold_pads(proto)
    set_metadata(proto, metadata)
    onnx.checker.check_model(proto)
    onnx.save(proto, str(path))
    worst = parity(model, path, [sample.numpy()] + list(parity_inputs or []))
    if worst > tolerance:
        raise AssertionError(f"{path.name}: ONNX Runtime differs from PyTorch by {worst:.2e} > {tolerance:.0e}")
    return worst


def fold_pads(proto: onnx.ModelProto) -> int:
    """Fold zero ``Pad`` nodes with constant pads into the ``pads`` of the ``Conv`` they feed; returns how many.

    PyTorch exports an explicit pad (TensorFlow's asymmetric "same" padding, ``models/mobilenet.py``) as a Pad
    whose pads are computed by a chain of shape ops, which ONNX Runtime's own pad fusion does not see through:
    each such Pad then copies a whole feature map (10% of the person net's CPU time)."""
    from onnx.reference import ReferenceEvaluator

    graph = proto.graph
    producer = {o: n for n in graph.node for o in n.output}
    consumers: dict[str, list] = {}
    for n in graph.node:
        for i in n.input:
            consumers.setdefault(i, []).append(n)
    folded = []
    for pad in [n for n in graph.node if n.op_type == "Pad"]:
        mode = next((a.s for a in pad.attribute if a.name == "mode"), b"constant")
        users = consumers.get(pad.output[0], [])
        if mode != b"constant" or (len(pad.input) > 2 and pad.input[2]) or len(users) != 1 \
                or users[0].op_type != "Conv" or any(a.name == "auto_pad" and a.s not in (b"", b"NOTSET")
                                                     for a in users[0].attribute):
            continue
        chain, todo = [], [pad.input[1]]
        while todo:  # the nodes that compute the pads: all must be constant
            n = producer.get(todo.pop())
            if n is None:
                break
            chain.append(n)
            todo += [i for i in n.input if i]
        else:
            sub = onnx.helper.make_graph(list(reversed(chain)), "pads", [], [onnx.helper.make_tensor_value_info(
                pad.input[1], onnx.TensorProto.INT64, None)])
            model = onnx.helper.make_model(sub, opset_imports=proto.opset_import)
            pads = [int(v) for v in ReferenceEvaluator(model).run(None, {})[0]]
            rank = len(pads) // 2
            if any(pads[:2] + pads[rank:rank + 2]) or min(pads) < 0:
                continue
            conv = users[0]
            attr = next(a for a in conv.attribute if a.name == "pads")
            spatial = pads[2:rank] + pads[rank + 2:]
            attr.ints[:] = [a + b for a, b in zip(attr.ints, spatial, strict=True)]
            conv.input[0] = pad.input[0]
            folded.append(pad)
    if not folded:
        return 0
    for pad in folded:
        graph.node.remove(pad)
    needed = {o.name for o in graph.output}
    for n in reversed(list(graph.node)):  # drop the constant chains nothing reads any more
        if any(o in needed for o in n.output):
            needed.update(n.input)
        else:
            graph.node.remove(n)
    return len(folded)


def initializers(proto: onnx.ModelProto) -> dict[str, torch.Tensor]:
    """A model file's weights by name, as tensors (to rebuild or fine-tune the network it was exported from)."""
    return {i.name: torch.from_numpy(onnx.numpy_helper.to_array(i).copy()) for i in proto.graph.initializer}


def set_metadata(proto: onnx.ModelProto, metadata: dict[str, object]) -> None:
    """Store ``metadata`` as ONNX metadata_props (non-strings as JSON)."""
    del proto.metadata_props[:]
    for key, value in metadata.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value if isinstance(value, str) else json.dumps(value)


def parity(model: torch.nn.Module, path: Path, inputs: list[np.ndarray]) -> float:
    """Largest absolute difference between PyTorch and ONNX Runtime (CPU) over ``inputs``."""
    sess = cpu_session(path)
    name = sess.get_inputs()[0].name
    worst = 0.0
    with torch.no_grad():
        for x in inputs:
            ref = model(torch.from_numpy(x)).numpy()
            out = sess.run(None, {name: x})[0]
            worst = max(worst, float(np.abs(ref - out).max()))
    return worst
