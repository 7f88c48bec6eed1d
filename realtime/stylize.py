"""Style transfer: a BGR frame in, the painted frame (BGR uint8, same size) out."""
from __future__ import annotations

import cv2
import numpy as np

from realtime.inference import Session

CPU_STYLE_PIXELS = 320 * 180  # auto scale on a CPU: the fast net paints about this many pixels (~19 ms, 2 cores)


def auto_scale(frame_w: int, frame_h: int, on_cpu: bool) -> float:
    """The default --style-scale: full resolution on a GPU, about 320x180 worth of pixels on a CPU."""
    return min(1.0, (CPU_STYLE_PIXELS / (frame_w * frame_h)) ** 0.5) if on_cpu else 1.0


def style_size(frame_w: int, frame_h: int, scale: float) -> tuple[int, int]:
    """Internal style resolution: ``scale`` times the frame, rounded to multiples of 4."""
    return max(16, round(frame_w * scale / 4) * 4), max(16, round(frame_h * scale / 4) * 4)


class Stylizer:
    """Runs a style network at ``scale`` times the frame size (None: ``auto_scale``) and scales the result up."""

    def __init__(self, session: Session, scale: float | None = None) -> None:
        self.session = session
        self.scale = scale

    def scale_for(self, w: int, h: int) -> float:
        return self.scale or auto_scale(w, h, self.session.provider == "CPUExecutionProvider")

    def __call__(self, frame: np.ndarray) -> np.ndarray:
        h, w = frame.shape[:2]
        sw, sh = style_size(w, h, self.scale_for(w, h))
        blob = cv2.dnn.blobFromImage(frame, 1.0 / 255, (sw, sh), swapRB=True)
        out = self.session.run(blob)[0]
        # CHW RGB float 0..1 -> HWC BGR uint8 (merge reorders the planes, convertScaleAbs saturates)
        styled = cv2.convertScaleAbs(cv2.merge((out[2], out[1], out[0])), alpha=255.0)
        return styled if (sw, sh) == (w, h) else cv2.resize(styled, (w, h), interpolation=cv2.INTER_LINEAR)
