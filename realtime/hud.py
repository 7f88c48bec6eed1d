"""The preview window's overlay: fps, per-stage milliseconds, mode and style; and the camera-lost card."""
from __future__ import annotations

import functools

import cv2
import numpy as np

FONT = cv2.FONT_HERSHEY_SIMPLEX


@functools.lru_cache(maxsize=4)
def text_layer(lines: tuple[str, ...], width: int) -> np.ndarray:
    """The overlay's text for a frame ``width`` wide: white (anti-aliased) on black, its box's size. Drawn once per
    text: the text changes a few times a second, the frames come 30 times."""
    scale = max(0.4, min(width / 1280, 1.0) * 0.6)
    lh = int(26 * scale / 0.6)
    w = max(cv2.getTextSize(t, FONT, scale, 1)[0][0] for t in lines) + 16
    layer = np.zeros((lh * len(lines) + 10, w, 3), np.uint8)
    for i, text in enumerate(lines):
        cv2.putText(layer, text, (8, lh * (i + 1)), FONT, scale, (255, 255, 255), 1, cv2.LINE_AA)
    return layer


def draw_hud(frame: np.ndarray, lines: list[str]) -> np.ndarray:
    """A copy of ``frame`` with ``lines`` on a translucent box in the top-left corner."""
    out = frame.copy()
    layer = text_layer(tuple(lines), frame.shape[1])
    roi = out[:layer.shape[0], :layer.shape[1]]
    layer = layer[:roi.shape[0], :roi.shape[1]]
    box = cv2.convertScaleAbs(roi, alpha=0.4)  # the box darkens what is behind it
    # white text over it as drawing it there would: each pixel moves toward white by the text's coverage
    roi[...] = cv2.add(box, cv2.multiply(cv2.bitwise_not(box), layer, scale=1 / 255))
    return out


def lost_card(last: np.ndarray | None, size: tuple[int, int],
              message: str = "camera lost - reconnecting") -> np.ndarray:
    """A frame to keep the call fed while the camera is away: the last output dimmed, with a message."""
    w, h = size
    base = np.zeros((h, w, 3), np.uint8) if last is None or last.shape[:2] != (h, w) else last
    card = cv2.addWeighted(base, 0.35, np.zeros_like(base), 0.65, 0)
    scale = max(0.5, w / 900)
    (tw, th), _ = cv2.getTextSize(message, FONT, scale, 2)
    cv2.putText(card, message, ((w - tw) // 2, (h + th) // 2), FONT, scale, (255, 255, 255), 2, cv2.LINE_AA)
    return card
