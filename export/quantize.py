"""Static int8 quantisation of a style network (QDQ, per-channel weights, uint8 activations calibrated on frames),
as ONNX Runtime's quantisation tool does it; the metadata is kept and marked. Check the pictures before shipping
(`python -m export.evaluate_style --card ... --styles FILE.onnx`).

    python -m export.quantize runs/style/udnie-full/udnie-full.onnx /tmp/udnie-full.int8.onnx
"""
from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import cv2
import numpy as np
import onnx

from export.catalog import DATA_ROOT
from export.onnx_export import set_metadata
from realtime.models import QUANTIZED_FROM, file_sha256, network_name


def calibration_frames(data: Path, count: int = 24, size: tuple[int, int] = (640, 360)) -> list[np.ndarray]:
    """Training-side frames (never the held-out rooms or the webcam clips): rooms and backgrounds at ``size``."""
    from export.style_data import content_paths, frame_crop

    rng = np.random.default_rng(0)
    files = [f for fs, _ in content_paths(data) for f in fs]
    out = []
    while len(out) < count and files:
        img = cv2.imread(str(files[rng.integers(len(files))]))
        if img is not None:
            out.append(frame_crop(img, rng, size))
    return out


class Frames:
    """ONNX Runtime's calibration reader over uint8 BGR frames."""

    def __init__(self, frames: list[np.ndarray], name: str) -> None:
        self.items = iter([{name: (f[..., ::-1].transpose(2, 0, 1)[None] / 255).astype(np.float32)} for f in frames])

    def get_next(self) -> dict | None:
        return next(self.items, None)


def image_mixing_convs(graph: onnx.GraphProto, image: str) -> list[str]:
    """The convs that take the image joined with something else (the full net's noise field): they stay float, as
    one uint8 scale for the image's 0..1 and the field's several sigmas would keep the image at about 36 levels."""
    joined = {o for n in graph.node if n.op_type == "Concat" and image in n.input for o in n.output}
    return [n.name for n in graph.node if n.op_type == "Conv" and joined & set(n.input)]


def quantize(src: Path, dst: Path, frames: list[np.ndarray]) -> None:
    """Write ``src`` as static int8 QDQ to ``dst``, calibrated on ``frames``."""
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quant_pre_process, quantize_static

    with tempfile.TemporaryDirectory() as tmp:
        prepared = Path(tmp) / "prepared.onnx"
        quant_pre_process(str(src), str(prepared), skip_symbolic_shape=True)
        graph = onnx.load(str(prepared)).graph
        name = graph.input[0].name
        quantize_static(str(prepared), str(dst), Frames(frames, name), quant_format=QuantFormat.QDQ,
                        per_channel=True, activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                        calibrate_method=CalibrationMethod.Percentile, op_types_to_quantize=["Conv"],
                        nodes_to_exclude=image_mixing_convs(graph, name), extra_options={"CalibPercentile": 99.99})
    meta = {p.key: p.value for p in onnx.load(str(src)).metadata_props}
    model = onnx.load(str(dst))
    set_metadata(model, meta | {"name": network_name(dst), "precision": "int8 (static QDQ, per-channel)",
                                QUANTIZED_FROM: file_sha256(src)})
    onnx.save(model, str(dst))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("src", type=Path)
    ap.add_argument("dst", type=Path)
    ap.add_argument("--data", type=Path, default=DATA_ROOT)
    ap.add_argument("--frames", type=int, default=24)
    args = ap.parse_args()
    quantize(args.src, args.dst, calibration_frames(args.data, args.frames))
    print(f"wrote {args.dst} ({args.dst.stat().st_size / 1e6:.2f} MB)")


if __name__ == "__main__":
    main()
