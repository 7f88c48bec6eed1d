"""Style transfer: a BGR frame in, the painted frame (BGR uint8, same size) out."""
from __future__ import annotations

import cv2
import numpy as np

from realtime.inference import Session

CPU_STYLE_PIXELS = 320 * 180  # auto scale on a CPU: the fast net paints about this many pixels (~19 ms, 2 cores)
# Mirrored margin (network pixels) painted around the frame and cut off again: the nets' zero padding
# otherwise draws a bright or dark line along the frame's edges. The styles trained with the still-scene term
# reach 12-16 px in (outer 3 px against a 48 px margin, udnie: 49 grey levels off at 8 px, 6 at 16).
EDGE_PAD = 16


def with_margin(image: np.ndarray) -> np.ndarray:
    """``image`` with the reflected margin of ``EDGE_PAD`` px a style network paints it with (its edges are then
    painted like its inside; the margin is cut off again)."""
    return cv2.copyMakeBorder(image, EDGE_PAD, EDGE_PAD, EDGE_PAD, EDGE_PAD, cv2.BORDER_REFLECT_101)


def auto_scale(frame_w: int, frame_h: int, accelerated: bool) -> float:
    """The default --style-scale: full resolution on a GPU, about 320x180 worth of pixels on a CPU."""
    return 1.0 if accelerated else min(1.0, (CPU_STYLE_PIXELS / (frame_w * frame_h)) ** 0.5)


def style_size(frame_w: int, frame_h: int, scale: float) -> tuple[int, int]:
    """Internal style resolution: ``scale`` times the frame, rounded to multiples of 4."""
    return max(16, round(frame_w * scale / 4) * 4), max(16, round(frame_h * scale / 4) * 4)


class Stylizer:
    """Runs a style network at ``scale`` times the frame size (None: ``auto_scale``) and scales the result up
    (bicubic). Holds no state of its own: the stream's ``PaintingSmoother`` is passed in."""

    def __init__(self, session: Session, scale: float | None = None) -> None:
        self.session = session
        self.scale = scale

    def scale_for(self, w: int, h: int) -> float:
        return self.scale or auto_scale(w, h, self.session.accelerated)

    def __call__(self, frame: np.ndarray, smoother: PaintingSmoother | None = None) -> np.ndarray:
        h, w = frame.shape[:2]
        sw, sh = style_size(w, h, self.scale_for(w, h))
        scaled = (sw, sh) != (w, h)
        if scaled:  # painted smaller for speed: the margin comes out of the same pixel budget
            sw, sh = max(16, sw - 2 * EDGE_PAD), max(16, sh - 2 * EDGE_PAD)
        small = cv2.resize(frame, (sw, sh), interpolation=cv2.INTER_LINEAR) if scaled else frame
        out = self.session.run(cv2.dnn.blobFromImage(with_margin(small), 1.0 / 255, swapRB=True))[0]
        out = out[:, EDGE_PAD:EDGE_PAD + sh, EDGE_PAD:EDGE_PAD + sw]
        painted = cv2.merge((out[2], out[1], out[0]))  # CHW RGB -> HWC BGR, 0..1
        if smoother is not None:
            painted = smoother(painted, small)
        styled = cv2.convertScaleAbs(painted, alpha=255.0)  # saturates to uint8
        # bicubic keeps 15-25% more of the strokes than bilinear (models/README.md) for ~0.2 ms at 640x360
        return cv2.resize(styled, (w, h), interpolation=cv2.INTER_CUBIC) if scaled else styled


class PaintingSmoother:
    """Motion-adaptive temporal EMA of the painted frame, driven by how much the *input* changed.

    A feed-forward style net turns sensor noise into shimmering strokes. Per pixel, the previous painting
    keeps the weight ``smoothing * exp(-motion_gain * |change of the blurred input luma, 0..255|)``:
    where the camera sees only noise the strokes hold still, where something moves the new painting wins
    at once (no ghost trails). The input is compared with its own running average, so slow drifts are
    followed too. Reset with the stream (a new style starts clean). Runs at the network's resolution (~0.5 ms)."""

    def __init__(self, smoothing: float = 0.8, motion_gain: float = 0.15) -> None:
        self.smoothing = smoothing
        self.motion_gain = motion_gain
        self.painted: np.ndarray | None = None
        self.source: np.ndarray | None = None

    def reset(self) -> None:
        self.painted = self.source = None

    def __call__(self, painted: np.ndarray, frame: np.ndarray) -> np.ndarray:
        """``painted``: float32 HxWx3; ``frame``: the uint8 input at the same size. Returns the steadied painting."""
        if self.smoothing <= 0:
            return painted
        source = cv2.GaussianBlur(cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY), (5, 5), 0).astype(np.float32)
        if self.painted is None or self.painted.shape != painted.shape:
            self.painted, self.source = painted.copy(), source
            return painted
        keep = cv2.exp(cv2.absdiff(source, self.source) * -self.motion_gain) * self.smoothing
        new = 1.0 - keep
        self.painted = cv2.blendLinear(self.painted, painted, keep, new)
        self.source = cv2.blendLinear(self.source, source, keep, new)
        return self.painted
