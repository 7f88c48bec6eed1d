"""One frame through the filter: segment -> stylize -> composite, with per-stage timings."""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from realtime import composite
from realtime.config import MODES, Settings
from realtime.errors import RealtimeError
from realtime.inference import Session, open_session
from realtime.models import person_model, resolve_style
from realtime.segment import DEFAULT_SIZE, PersonSegmenter
from realtime.stylize import Stylizer, style_size

NEEDS_MASK = {"style-background", "style-person", "blur", "replace", "mask"}
NEEDS_STYLE = {"style-background", "style-person", "style-all"}
MAX_SIDE = 7680


@dataclass
class Timings:
    """Milliseconds spent per stage on the last frame."""

    stages: dict[str, float] = field(default_factory=dict)

    def add(self, name: str, start: float) -> float:
        now = time.perf_counter()
        self.stages[name] = self.stages.get(name, 0.0) + (now - start) * 1000
        return now


def as_bgr(frame: object) -> np.ndarray:
    """Validate and convert any image-like array to contiguous uint8 BGR; ValueError when impossible.

    Accepts gray (HxW or HxWx1), BGR, BGRA, uint8/uint16 and float (0..1) arrays; NaN becomes 0.
    """
    if not isinstance(frame, np.ndarray):
        raise ValueError(f"frame must be a numpy array, got {type(frame).__name__}")
    if frame.ndim == 3 and frame.shape[2] == 1:
        frame = frame[:, :, 0]
    if frame.ndim not in (2, 3) or (frame.ndim == 3 and frame.shape[2] not in (3, 4)):
        raise ValueError(f"frame must be HxW, HxWx3 or HxWx4, got shape {frame.shape}")
    h, w = frame.shape[:2]
    if h < 2 or w < 2 or h > MAX_SIDE or w > MAX_SIDE:
        raise ValueError(f"frame size {w}x{h} is outside 2x2 .. {MAX_SIDE}x{MAX_SIDE}")
    if frame.dtype == np.uint16:
        frame = (frame >> 8).astype(np.uint8)
    elif frame.dtype.kind == "f":
        frame = np.nan_to_num(frame.astype(np.float32), nan=0.0, posinf=1.0, neginf=0.0)
        frame = cv2.convertScaleAbs(np.clip(frame, 0.0, 1.0), alpha=255.0)
    elif frame.dtype != np.uint8:
        raise ValueError(f"frame dtype must be uint8, uint16 or float, got {frame.dtype}")
    if frame.ndim == 2:
        return cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR)
    if frame.shape[2] == 4:
        return cv2.cvtColor(frame, cv2.COLOR_BGRA2BGR)
    return np.ascontiguousarray(frame)


class Pipeline:
    """The filter. ``process(frame)`` returns the output frame; ``timings`` holds its per-stage ms.

    Modes: style-background (default), style-person, style-all, blur, replace, mask, none.
    """

    def __init__(self, settings: Settings, segmenter: PersonSegmenter | None, stylizer: Stylizer | None,
                 background: np.ndarray | None = None) -> None:
        self.settings = settings
        self.segmenter = segmenter
        self.stylizer = stylizer
        self.smoother = composite.MaskSmoother(settings.mask_smoothing)
        self.background = background
        self._bg_fit: np.ndarray | None = None
        self.timings = Timings()

    # --- construction ---------------------------------------------------------------------------
    @classmethod
    def from_settings(cls, settings: Settings, log=print, all_models: bool = False) -> Pipeline:
        """Load the person model and the style (each only when the mode needs it, or both with
        ``all_models`` so that a live session can switch modes) and warm them up."""
        seg = sty = None
        if all_models or settings.mode in NEEDS_MASK:
            seg_session = open_session(person_model(), "person-segmentation", settings.device, settings.threads,
                                       log=log)
            seg = PersonSegmenter(seg_session, settings.mask_size, settings.mask_flip)
            seg_session.warm_up(seg.input_shape(*DEFAULT_SIZE))  # the shape it will run for a 16:9 frame, once
        if all_models or settings.mode in NEEDS_STYLE:
            sty = Stylizer(load_style(settings, log), settings.style_scale, settings.style_smoothing)
        bg = read_image(Path(settings.background)) if settings.background else None
        return cls(settings, seg, sty, bg)

    def set_style(self, session: Session) -> None:
        """Swap the style network (hotkeys n/p)."""
        if self.stylizer is None:
            self.stylizer = Stylizer(session, self.settings.style_scale, self.settings.style_smoothing)
        else:
            self.stylizer.session = session

    @property
    def providers(self) -> dict[str, str]:
        out = {}
        if self.segmenter:
            out["segment"] = self.segmenter.session.provider
        if self.stylizer:
            out["stylize"] = self.stylizer.session.provider
        return out

    # --- per frame ------------------------------------------------------------------------------
    def process(self, frame: np.ndarray) -> np.ndarray:
        """Filter one frame (any image-like array; see ``as_bgr``) into a BGR uint8 frame of the same size."""
        t = time.perf_counter()
        self.timings = tim = Timings()
        frame = as_bgr(frame)
        if self.settings.mirror:
            frame = cv2.flip(frame, 1)
        t = tim.add("preprocess", t)
        mode = self.settings.mode
        if mode == "none":
            return frame
        h, w = frame.shape[:2]
        person = None
        if mode in NEEDS_MASK:
            if self.segmenter is None:
                raise RealtimeError(f"mode {mode} needs the person model")
            raw = self.segmenter(frame)
            t = tim.add("segment", t)
            smooth = self.smoother(raw)
            person = composite.refine_mask(smooth, w, self.settings.feather, self.settings.mask_threshold)
        if mode == "mask":
            out = cv2.cvtColor(composite.mask_to_gray(composite.upscale(person, (w, h))), cv2.COLOR_GRAY2BGR)
            tim.add("composite", t)
            return out
        styled = None
        if mode in NEEDS_STYLE:
            if self.stylizer is None:
                raise RealtimeError(f"mode {mode} needs a style")
            styled = self.stylizer(frame)
            t = tim.add("stylize", t)
        out = self._compose(mode, frame, styled, person)
        tim.add("composite", t)
        return out

    def _compose(self, mode: str, frame: np.ndarray, styled: np.ndarray | None, person: np.ndarray | None):
        """Blend the mode's top layer over the frame; weights are formed at mask resolution, upscaled once."""
        s = self.settings.strength
        h, w = frame.shape[:2]
        if mode == "style-all":
            return composite.blend(styled, frame, s)
        if mode not in ("style-background", "style-person", "blur", "replace"):
            raise RealtimeError(f"unknown mode {mode!r}; choose one of: {', '.join(MODES)}")
        weight = composite.upscale(person * s if mode == "style-person" else (1.0 - person) * s, (w, h))
        if mode == "blur":
            top = composite.blur_background(frame, self.settings.blur_strength)
        elif mode == "replace":
            if self._bg_fit is None or self._bg_fit.shape[:2] != (h, w):
                self._bg_fit = composite.fit_background(self.background, (w, h))
            top = self._bg_fit
        else:
            top = styled
        return composite.blend(top, frame, weight)

    def describe(self, frame_size: tuple[int, int]) -> str:
        """One line: what runs where, at which resolution."""
        w, h = frame_size
        parts = [f"{w}x{h} {self.settings.mode}"]
        if self.segmenter:
            parts.append(f"person model on {self.segmenter.session.provider.replace('ExecutionProvider', '')}")
        if self.stylizer:
            sw, sh = style_size(w, h, self.stylizer.scale_for(w, h))
            parts.append(f"style {self.stylizer.session.path.stem} at {sw}x{sh} on "
                         f"{self.stylizer.session.provider.replace('ExecutionProvider', '')}")
        return ", ".join(parts)


def load_style(settings: Settings, log=print, spec: str | None = None) -> Session:
    """Open the style model named by ``spec`` (default: ``settings.style``)."""
    path = resolve_style(spec or settings.style)
    session = open_session(path, "style-transfer", settings.device, settings.threads, (1, 3, 180, 320), log)
    return session


def read_image(path: Path) -> np.ndarray:
    """Read an image file as BGR uint8; RealtimeError when missing or unreadable."""
    if not path.is_file():
        raise RealtimeError(f"image not found: {path}")
    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if img is None:
        raise RealtimeError(f"cannot read image {path} (not an image file or unsupported format)")
    return img
