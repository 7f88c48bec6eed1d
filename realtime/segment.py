"""Person segmentation: a BGR frame in, a low-resolution person probability map out."""
from __future__ import annotations

import cv2
import numpy as np

from realtime.inference import Session

DEFAULT_SIZE = (256, 144)  # width, height the U-Net sees for a 16:9 frame (on a GPU too: models/README.md)


def model_size(frame_w: int, frame_h: int, long_side: int = DEFAULT_SIZE[0]) -> tuple[int, int]:
    """Network input size for a frame: ``long_side`` on the longer side, aspect kept, multiples of 16."""
    s = long_side / max(frame_w, frame_h)
    return max(16, round(frame_w * s / 16) * 16), max(16, round(frame_h * s / 16) * 16)


class PersonSegmenter:
    """Runs the person U-Net; ``__call__`` returns float32 HxW probabilities at network resolution.

    ``long_side``: the network's input size on the frame's longer side (multiple of 16). ``flip`` averages the
    network's answer for the frame and for its mirror image (one batch of two): a cleaner mask for twice the
    network time. ``None``: 256, and flip where the network runs on a GPU (time to spare there; not on the CPU, whose
    budget is 8 ms)."""

    def __init__(self, session: Session, long_side: int | None = None, flip: bool | None = None) -> None:
        self.session = session
        self.long_side = long_side or DEFAULT_SIZE[0]
        self.flip = session.accelerated if flip is None else flip

    def input_shape(self, frame_w: int, frame_h: int) -> tuple[int, int, int, int]:
        """The NCHW shape the network runs for a frame of this size."""
        w, h = model_size(frame_w, frame_h, self.long_side)
        return 2 if self.flip else 1, 3, h, w

    def __call__(self, frame: np.ndarray) -> np.ndarray:
        w, h = model_size(frame.shape[1], frame.shape[0], self.long_side)
        blob = cv2.dnn.blobFromImage(frame, 1.0 / 255, (w, h), swapRB=True)  # resize + RGB + NCHW in one call
        if not self.flip:
            return self.session.run(blob)[0, 0]
        out = self.session.run(np.concatenate([blob, blob[..., ::-1]]))
        return 0.5 * (out[0, 0] + out[1, 0, :, ::-1])
