"""The filter as a library, for programs that embed it (as rembg's ``remove()`` is).

    from realtime import Filter

    with Filter(style="udnie") as f:
        out = f(frame)  # a BGR uint8 frame in, the filtered frame out (one channel in mask mode)

Its messages (a GPU that could not start, ...) go to the ``realtime`` logger, which has only a NullHandler: they
show where the program's logging configuration sends them, and ``logging.getLogger("realtime")`` silences them.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from realtime import modes
from realtime.config import Settings
from realtime.pipeline import Pipeline


class Filter:
    """One stream's filter: ``Filter(style="udnie")(frame)`` returns the frame filtered.

    A Filter remembers its stream between calls (the mask's and the painting's smoothing over time, the background
    plate), so consecutive video frames come out steady and the room is painted once, not per frame. Call
    ``reset()`` before a picture unrelated to the last one (another video, another photo); a frame of another size
    starts over by itself. ``close()`` when done, or use it in a ``with`` block.

    ``live=False`` (the default) paints in step with the frames at full resolution with the full networks (the person
    net's too: ``person-full.onnx``), so the same frames always give the same pictures, as ``render`` does;
    ``live=True`` is the camera path: on a CPU the background is painted on a thread of its own (pass each frame's
    capture time as ``t``), the person net is the full one on every other frame where the CPU runs it within a
    quarter of a core, else the small one (``person.onnx``; the start-up line says which), a frame in which nothing
    moved takes the last frame's matte and one in which a little moved on the person the person net's last answer
    (``mask_reuse``), and, process-wide, OpenCV runs on one thread until ``close()`` and glibc keeps freed
    frame-sized buffers for reuse (all three cut CPU time, not wall time). Other keyword arguments are the config
    keys (``strength=0.8``, ``mask_smoothing=0.6``, ...); the modes are ``realtime.modes.NAMES``.
    """

    def __init__(self, style: str = "udnie", mode: str = modes.DEFAULT, device: str = "auto", live: bool = False,
                 **options) -> None:
        settings = Settings(style=style, mode=mode, device=device, **options).validate()
        self.pipeline = Pipeline.from_settings(settings, live=live)

    def __call__(self, frame: np.ndarray, t: float | None = None, coming: Sequence[np.ndarray] = ()) -> np.ndarray:
        """``coming``: the next ``lookahead`` frames, where they are known (a file), as ``render`` passes them: a scene
        cut then shows the new room's background from its first frame, not a few frames into it."""
        return self.pipeline.process(frame, t, coming)

    @property
    def lookahead(self) -> int:
        """How many of the frames that follow one call it can use (``coming``; 0: none, as in modes without the
        background plate)."""
        return self.pipeline.lookahead

    @property
    def matte(self) -> np.ndarray | None:
        """The person matte of the last frame, as the output was composited with it: uint8 HxW, 255 = person
        (None before the first frame, and in modes that do not look for the person: style-all, none). The filter's
        own array, which a still frame may compose with again: copy it before changing it."""
        return self.pipeline.matte

    def reset(self) -> None:
        self.pipeline.reset()

    def close(self) -> None:
        self.pipeline.close()

    def __enter__(self) -> Filter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
