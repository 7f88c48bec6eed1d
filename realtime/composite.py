"""Blending the painted frame, the camera frame and the person mask (all OpenCV, uint8 in and out)."""
from __future__ import annotations

import cv2
import numpy as np


class MaskSmoother:
    """Temporal EMA of the mask that follows motion quickly and holds still areas steady.

    Per pixel, the weight of the previous mask is ``smoothing * exp(-motion_gain * |new - old|)``:
    where the person moves the new mask wins at once, where nothing moves the flicker is averaged out.
    """

    def __init__(self, smoothing: float = 0.6, motion_gain: float = 6.0) -> None:
        self.smoothing = smoothing
        self.motion_gain = motion_gain
        self.state: np.ndarray | None = None

    def reset(self) -> None:
        self.state = None

    def __call__(self, mask: np.ndarray) -> np.ndarray:
        if self.smoothing <= 0 or self.state is None or self.state.shape != mask.shape:
            self.state = mask.astype(np.float32, copy=True)
            return self.state
        keep = cv2.absdiff(mask, self.state)
        cv2.exp(keep * -self.motion_gain, keep)
        keep *= self.smoothing
        self.state = cv2.add(cv2.multiply(self.state, keep), cv2.multiply(mask, 1.0 - keep))
        return self.state


def refine_mask(mask: np.ndarray, out_width: int, feather: float = 3, threshold: float | None = None,
                gain: float = 2.0) -> np.ndarray:
    """Low-res probabilities -> float32 person weight in 0..1, still at the mask's resolution.

    A soft sigmoid in the logit domain (``gain`` > 1 sharpens), or a hard ``threshold``, then feathered
    edges: a Gaussian of ``feather`` pixels of an output ``out_width`` pixels wide, applied at low resolution.
    Everything stays small; ``upscale`` brings the final weight to the frame once.
    """
    m = np.clip(mask, 1e-4, 1 - 1e-4).astype(np.float32)
    if threshold is not None:
        m = (m >= threshold).astype(np.float32)
    elif gain != 1.0:
        logit = cv2.log(m / (1 - m))
        m = 1.0 / (1.0 + cv2.exp(-gain * logit))
    if feather > 0:
        sigma = feather * m.shape[1] / out_width
        m = cv2.GaussianBlur(m, (0, 0), max(sigma, 0.3))
    return m


def upscale(weight: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """A low-resolution weight map to ``size`` (w, h), bilinear."""
    return cv2.resize(weight, size, interpolation=cv2.INTER_LINEAR)


def blend(top: np.ndarray, base: np.ndarray, weight: np.ndarray | float) -> np.ndarray:
    """``top * weight + base * (1 - weight)`` for uint8 BGR images; ``weight`` HxW float32 or a scalar."""
    if np.isscalar(weight):
        w = float(weight)
        return top if w >= 1 else base.copy() if w <= 0 else cv2.addWeighted(top, w, base, 1 - w, 0)
    return cv2.blendLinear(top, base, weight, 1.0 - weight)


def blur_background(frame: np.ndarray, ksize: int = 21) -> np.ndarray:
    """Strong background blur: downscale 4x, Gaussian blur, upscale."""
    h, w = frame.shape[:2]
    small = cv2.resize(frame, (max(1, w // 4), max(1, h // 4)), interpolation=cv2.INTER_LINEAR)
    k = ksize | 1
    small = cv2.GaussianBlur(small, (k, k), 0)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)


def fit_background(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Scale and centre-crop a replacement background to cover ``size`` (w, h)."""
    w, h = size
    ih, iw = image.shape[:2]
    s = max(w / iw, h / ih)
    scaled = cv2.resize(image, (max(w, round(iw * s)), max(h, round(ih * s))), interpolation=cv2.INTER_AREA)
    y, x = (scaled.shape[0] - h) // 2, (scaled.shape[1] - w) // 2
    return np.ascontiguousarray(scaled[y:y + h, x:x + w])


def mask_to_gray(person: np.ndarray) -> np.ndarray:
    """Person weight 0..1 -> uint8 matte (0 background, 255 person)."""
    return cv2.convertScaleAbs(person, alpha=255.0)
