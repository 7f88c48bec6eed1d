"""One frame through the filter: segment -> refine the mask -> (plate) -> stylize -> composite, with per-stage
timings. The pipeline owns everything a stream remembers between frames (``StreamState``) and resets it as one."""
from __future__ import annotations

import ctypes
import dataclasses
import functools
import logging
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from realtime import composite, modes, providers, segment
from realtime.config import Settings
from realtime.errors import RealtimeError
from realtime.inference import Session, open_session
from realtime.models import person_model, read_info, resolve_style
from realtime.plate import BackgroundPlate, Painter, PainterStats, blurred, fill, plate_size
from realtime.segment import DEFAULT_SIZE, MATTE, RUN, MaskReuse, PersonSegmenter, model_size, native_long_side
from realtime.stylize import PaintingSmoother, Stylizer, style_size

logger = logging.getLogger(__name__)

MAX_SIDE = 7680
STYLE_WARMUP = (1, 3, 180, 320)
# Live on a CPU, where nothing painted is there to show yet (the first frame, a new mode or size), the plate's network
# paints it at this scale in step (a quarter of the pixels, about a quarter of the time: benchmarks/RESULTS.md) while
# its worker paints the whole size, which fades in: the stream does not wait for a whole painting.
FIRST_PAINT_SCALE = 0.5
FRAME_BUFFERS_KEPT = 32 << 20  # freed buffers up to this size (a 1080p float32 frame) stay in the process


@functools.cache
def keep_freed_buffers() -> bool:
    """Have glibc keep freed frame-sized buffers for the next frame (process-wide, once; False where there is no
    glibc or it refuses): by default it hands a frame's freed temporaries back to the system, and the next frame
    faults their pages in anew (benchmarks/RESULTS.md). Up to twice ``FRAME_BUFFERS_KEPT`` of free heap is kept,
    glibc's own ratio."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    m_trim_threshold, m_mmap_threshold = -1, -3  # <malloc.h>
    kept = mallopt(m_mmap_threshold, FRAME_BUFFERS_KEPT) and mallopt(m_trim_threshold, 2 * FRAME_BUFFERS_KEPT)
    return bool(kept)


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


@dataclass
class StreamState:
    """What a stream remembers between frames: the mask's and the painting's temporal smoothing, the frame the person
    net last saw, and the background plate. Held by the pipeline and reset as one (a new image, size or mode; a new
    style resets the painting's smoothing and repaints the plate), so no caller has to know its parts."""

    mask: composite.MaskSmoother
    reuse: MaskReuse
    painting: PaintingSmoother
    plate: BackgroundPlate

    def reset(self) -> None:
        self.mask.reset()
        self.reuse.reset()
        self.painting.reset()
        self.plate.reset()


class Pipeline:
    """The filter. ``process(frame)`` returns the output frame (one channel in mask mode); ``timings`` holds
    its per-stage ms. Change it through ``set_mode``, ``set_style``, ``set_strength``; ``reset`` between
    unrelated inputs; ``close`` when done (stops the painter's thread).

    ``live``: frames come from a camera, so on a CPU the plate is painted on its own thread and per-frame
    painting runs at the CPU's budget; otherwise (``render``) everything is painted synchronously at full
    resolution, so a file renders the same picture every time.
    """

    def __init__(self, settings: Settings, live: bool = True) -> None:
        self.settings = dataclasses.replace(settings)
        self.live = live
        self.mode = modes.get(settings.mode)
        self.segmenter: PersonSegmenter | None = None
        self.stylizer: Stylizer | None = None  # paints frames (style-person, style-all, no plate)
        self.plate_stylizer: Stylizer | None = None  # paints the plate, at its full size
        self.painter: Painter | None = None
        self.picture: np.ndarray | None = None
        self._picture_fit: np.ndarray | None = None
        self.state = StreamState(composite.MaskSmoother(settings.mask_smoothing),
                                 MaskReuse(settings.mask_reuse, settings.mask_every or 1),
                                 PaintingSmoother(settings.style_smoothing), BackgroundPlate(settings.plate_margin))
        self.timings = Timings()
        self.matte: np.ndarray | None = None  # the last frame's person weight as composited (uint8, 255 = person)
        self._frames = 0
        self._size: tuple[int, int] | None = None
        # live on a CPU that took the full person file at start: its calls' CPU time, and the small file's session
        # (opened at start, so a file that cannot run says so then), which takes over if they stay too long at the
        # smallest size (``_fall_back``)
        self._watch: segment.CallWatch | None = None
        self._fallback: Session | None = None
        self._opencv_threads: int | None = None  # OpenCV's thread count before a live CPU pipeline took it to one

    @classmethod
    def from_settings(cls, settings: Settings, live: bool = True) -> Pipeline:
        """Load what the settings' mode needs and warm it up."""
        p = cls(settings, live=live)
        p._load(p.mode)
        if p.live_cpu:
            # live on a CPU a frame's cost is CPU time, not wall time (the camera paces it): OpenCV's pool, splitting
            # each sub-millisecond call across the cores the networks need too, costs more CPU than it saves wall
            # time (benchmarks/RESULTS.md). Process-wide, as OpenCV's thread count is; ``close`` gives it back.
            p._opencv_threads = cv2.getNumThreads()
            cv2.setNumThreads(1)
            keep_freed_buffers()
        return p

    # --- what a mode needs ------------------------------------------------------------------------------
    def _uses_plate(self, mode: modes.Mode) -> bool:
        return self.settings.plate and mode.background in ("paint", "blur")

    def _load(self, mode: modes.Mode) -> None:
        s = self.settings
        if mode.mask and self.segmenter is None:
            self.segmenter = self._open_person()
        paint_plate = self._uses_plate(mode) and mode.background == "paint"
        if (mode.paint_frame or (mode.background == "paint" and not paint_plate)) and self.stylizer is None:
            scale = s.style_scale if self.live or s.style_scale else 1.0
            self.stylizer = Stylizer(self._open_style(s.style, s.threads, STYLE_WARMUP, self._frame_best()), scale)
        if paint_plate and self.plate_stylizer is None:
            self.plate_stylizer = Stylizer(self._open_plate_style(s.style), 1.0)
        if mode.background == "picture" and self.picture is None:
            if not s.background:
                raise RealtimeError(f"--mode {mode.name} needs --background IMAGE")
            self.picture = read_image(Path(s.background))
        if self._uses_plate(mode):
            paint, first = self._plate_paint(mode)
            if self.painter is None:
                threaded = self.live_cpu
                # live on a CPU the full network repaints only as often as keeps plate_duty of a core busy; on a
                # CPU, live or in render, at most twice a second (in render, of the video's time): a small change
                # waits a moment and is painted with what follows it, rather than each costing a painting
                self.painter = Painter(paint, threaded, s.plate_repaint, interval=0.0 if self.accelerated else 0.5,
                                       duty=s.plate_duty if threaded else 1.0, first=first)
            else:
                self.painter.set_paint(paint, first)

    def _open_person(self) -> PersonSegmenter:
        """The person net, warmed up: in render and on a GPU the full file; live on a CPU the full file, fed the
        largest input this CPU runs within ``segment.FULL_NET_CORE`` at ``mask_every`` (by default every other frame;
        ``segment.full_net_fit``), else the small one. A ``mask-size`` set takes the file made for the nearest size
        (each file's metadata read once; a tie: the default for where it runs)."""
        s, long_side = self.settings, None
        threads = s.threads or 1  # one thread unless asked: the person net runs no faster on two, at half again the CPU
        small, full = person_model(), person_model(best=True)
        made_for = ({p: native_long_side(read_info(p)) for p in (small, full)}
                    if s.mask_size is not None and full != small else None)

        def chosen(default: Path) -> Path:
            if made_for is None:
                return default
            return min((default, small if default == full else full), key=lambda p: abs(made_for[p] - s.mask_size))

        session = open_session(chosen(full if self._frame_best() else small), "person-segmentation", s.device, threads)
        if self.live and not session.accelerated:  # live on a CPU, a GPU that did not start included

            opened = {session.path: session}

            def on_cpu(path: Path) -> Session:
                if path not in opened:
                    opened[path] = open_session(path, "person-segmentation", "cpu", threads)
                return opened[path]

            if made_for is not None or full == small or threads > 1:  # on more threads a call's time is not its CPU
                session = on_cpu(chosen(small))
            else:
                session, every = on_cpu(full), s.mask_every or segment.FULL_NET_EVERY
                long_side, _ = segment.full_net_fit(session, every, s.mask_flip)
                if long_side:
                    self._watch, self._fallback = segment.CallWatch(every), on_cpu(small)
                else:
                    session = on_cpu(small)
        segmenter = PersonSegmenter(session, s.mask_size or long_side, s.mask_flip)
        session.warm_up(segmenter.input_shape(*DEFAULT_SIZE))  # the shape it will run for a 16:9 frame
        self.state.reuse.every = self.mask_every
        return segmenter

    def _fall_back(self) -> None:
        """The full person file no longer keeps to its budget live on this CPU (``segment.CallWatch``): from the next
        frame on it is fed the next smaller of ``segment.FULL_NET_SIZES``, watched in turn (a CPU that slowed a little
        keeps the finer net); below the smallest the small file runs, at the stride set (by default on every frame that
        moves), for the rest of the pipeline's life."""
        watch, seg, s = self._watch, self.segmenter, self.settings
        smaller = max((size for size in segment.FULL_NET_SIZES if size < seg.long_side), default=None)
        if smaller:  # the same session, which has run: the next frame's call is the first at the new size
            self.segmenter = PersonSegmenter(seg.session, smaller, s.mask_flip)
            self._watch, now = segment.CallWatch(self.mask_every), f"fed {smaller}"
        else:  # the small file, opened at start but never run: a file that cannot run says so in one line
            small, self._watch, self._fallback = self._fallback, None, None
            self.segmenter, now = PersonSegmenter(small, s.mask_size, s.mask_flip), small.path.name
            self.segmenter.session.warm_up(self.segmenter.input_shape(*self._size))  # this frame's size
        self.state.reuse.every = self.mask_every
        logger.warning("%s fed %d took %.2f ms a call over its last %d on this CPU (at most %.2f): %s from now on",
                       seg.session.path.name, seg.long_side, watch.mean_ms, len(watch.times), watch.limit_ms, now)

    @property
    def mask_every(self) -> int:
        """The person net runs on at most every this many frames: ``mask_every`` as set, else every other frame where
        the start-up timing chose the full file live on a CPU (and it is still watched), every frame otherwise."""
        return self.settings.mask_every or (segment.FULL_NET_EVERY if self._watch is not None else 1)

    def _open_style(self, spec: str, threads: int | None, warmup, best: bool, int8: bool = False) -> Session:
        return open_session(resolve_style(spec, best, int8), "style-transfer", self.settings.device, threads, warmup,
                            lean=int8)  # the plate's network live on a CPU

    def _open_plate_style(self, spec: str) -> Session:
        """The style's full network; live on a CPU its int8 twin, on one thread (the live path keeps the rest)."""
        cpu = self.live_cpu
        return self._open_style(spec, 1 if cpu else self.settings.threads, None, best=True, int8=cpu)

    def _frame_best(self) -> bool:
        """Frames are painted by the style's full network in ``render`` and on a GPU; live on a CPU by the
        network named (the fast one), which keeps up with the camera. The person net likewise, unless this CPU
        affords the full one on every other frame (``_open_person``)."""
        return not self.live or self.accelerated

    @property
    def accelerated(self) -> bool:
        """Its networks run on a GPU (or another accelerator): as the loaded sessions say, or, before any is
        loaded (mode none), as the device's best provider would."""
        loaded = [x.session for x in (self.segmenter, self.stylizer, self.plate_stylizer) if x]
        if loaded:
            return any(s.accelerated for s in loaded)
        return providers.provider_chain(self.settings.device)[0].accelerator

    @property
    def live_cpu(self) -> bool:
        """Frames come from a camera and the networks run on a CPU: paint the plate on a worker, sparingly."""
        return self.live and not self.accelerated

    def _plate_paint(self, mode: modes.Mode):
        """The painter's functions for ``mode``: (paint, first) (``Painter``; first: None where the whole painting is
        quick (a blur) or made in step anyway)."""
        if mode.background == "blur":
            strength = self.settings.blur_strength
            return (lambda image, seen: blurred(image, seen, strength)), None
        stylizer = self.plate_stylizer

        def first(image: np.ndarray, seen: np.ndarray) -> np.ndarray:  # the painter enlarges it to the output
            h, w = seen.shape
            return stylizer(composite.shrink(fill(image, seen), style_size(w, h, FIRST_PAINT_SCALE)))

        return (lambda image, seen: stylizer(fill(image, seen))), first if self.live_cpu else None

    # --- control ----------------------------------------------------------------------------------------
    def set_mode(self, name: str) -> None:
        mode = modes.get(name)
        self._load(mode)
        self.mode = mode
        self.settings.mode = name
        self.reset()

    def set_style(self, spec: str) -> None:
        """Paint with another style from now on (the plate's painting cross-fades to it)."""
        if self.stylizer is not None:
            self.stylizer.session = self._open_style(spec, self.settings.threads, STYLE_WARMUP, self._frame_best())
        if self.plate_stylizer is not None:
            self.plate_stylizer.session = self._open_plate_style(spec)
        self.settings.style = spec
        self.state.painting.reset()
        if self.painter is not None and self._uses_plate(self.mode):
            self.painter.set_paint(*self._plate_paint(self.mode))

    def set_strength(self, strength: float) -> None:
        self.settings.strength = min(1.0, max(0.0, round(strength, 2)))

    def set_mask(self, **tuning) -> None:
        """Tune the mask live: ``feather``, ``mask_smoothing``, ``mask_threshold`` (None: soft); checked like a
        config file's values."""
        tuned = dataclasses.replace(self.settings, **tuning).validate()
        self.settings = tuned
        self.state.mask.smoothing = tuned.mask_smoothing
        self.state.reuse.reuse, self.state.reuse.every = tuned.mask_reuse, self.mask_every
        if self._watch is not None:  # the budget of the stride now set
            self._watch = segment.CallWatch(self.mask_every)
        self.state.reuse.reset()  # the next frame's matte is made anew, with the new tuning

    def reset(self) -> None:
        """Forget the stream: the next frame is treated as the first of an unrelated input."""
        self.state.reset()
        if self.painter is not None:
            self.painter.reset()
        self._frames = 0

    def close(self) -> None:
        if self.painter is not None:
            self.painter.close()
        if self._opencv_threads is not None:
            cv2.setNumThreads(self._opencv_threads)
            self._opencv_threads = None

    @property
    def providers(self) -> dict[str, str]:
        out = {}
        if self.segmenter:
            out["segment"] = self.segmenter.session.provider
        if self.stylizer:
            out["stylize"] = self.stylizer.session.provider
        if self.plate_stylizer:
            out["paint"] = self.plate_stylizer.session.provider
        return out

    @property
    def lookahead(self) -> int:
        """How many of the frames that follow one ``process`` can use (``coming``): a scene cut, which the plate
        confirms over its first frames, is then taken at its first (``render``: the new room's painting from the cut
        on, not the old one's for a few frames)."""
        return self.state.plate.cut_frames - 1 if self._uses_plate(self.mode) else 0

    @property
    def painter_stats(self) -> PainterStats | None:
        return self.painter.stats if self.painter is not None and self._uses_plate(self.mode) else None

    # --- per frame --------------------------------------------------------------------------------------
    def process(self, frame: np.ndarray, t: float | None = None, coming: Sequence[np.ndarray] = ()) -> np.ndarray:
        """Filter one frame (any image-like array; see ``as_bgr``) into a uint8 frame of the same size: BGR, or
        one channel in mask mode. ``t``: the frame's time in seconds (default: frame count / 30). ``coming``: the
        next ``lookahead`` frames, where they are known (a file), as uint8 BGR of the frame's size."""
        t0 = time.perf_counter()
        self.timings = tim = Timings()
        frame = as_bgr(frame)
        h, w = frame.shape[:2]
        if (w, h) != self._size:  # another size is another stream
            self.reset()
            self._size = (w, h)
        t = self._frames / 30.0 if t is None else t
        self._frames += 1
        t0 = tim.add("preprocess", t0)
        mode, s = self.mode, self.settings
        person = painted = background = None
        reuse = self._reuse(frame) if mode.mask else RUN
        still = reuse == MATTE
        if mode.mask:
            if reuse == RUN and self._net_due():
                self.state.mask(self.segmenter(frame))
                if self._watch is not None and self._watch.add(self.segmenter.last_ms):
                    self._fall_back()
            t0 = tim.add("segment", t0)  # every frame, so its mean is the step's cost a frame
            if still:  # nothing moved: the last frame's matte, the plate's corrections included (a copy where it
                person = self.matte.copy() if mode.channels == 1 else self.matte  # is the output, the caller's)
            else:  # between the person net's runs its last answer is reused; the edges still follow this frame
                soft = composite.soften(self.state.mask.state, w, s.feather, s.mask_threshold)
                person = composite.guided_upsample(soft, frame, edge=mode.edge if s.feather_inside else (0.0, 1.0))
            t0 = tim.add("mask", t0)
        if self._uses_plate(mode):
            if still:  # the plate's upkeep waits for a frame that moved; its painting still arrives and fades in
                self.state.plate.hold(self._plate_frame(frame))
                background = self.painter.update(self.state.plate, (w, h), t)
            else:
                background, person = self._plate_layer(frame, person, t, coming)
            t0 = tim.add("plate", t0)
        elif mode.background == "picture":
            if self._picture_fit is None or self._picture_fit.shape[:2] != (h, w):
                self._picture_fit = composite.fit_background(self.picture, (w, h))
            background = self._picture_fit
        elif mode.background == "blur":
            background = composite.blur_background(frame, s.blur_strength)
        if mode.paint_frame or (mode.background == "paint" and background is None):
            painted = self.stylizer(frame, self.state.painting)
            t0 = tim.add("stylize", t0)
            background = painted if background is None else background
        self.matte = person
        out = mode.compose(modes.Layers(frame, person, painted, background, s.strength))
        tim.add("composite", t0)
        return out

    def _reuse(self, frame: np.ndarray) -> str:
        """Live on a CPU, what of the last frame serves this one (``segment.MaskReuse``; ``mask_reuse``,
        ``mask_every``): ``MATTE`` where the picture held still (the net, the edges and the plate's upkeep
        are skipped), ``NET`` where it barely moved (the net is skipped), else ``RUN``."""
        if not self.live_cpu:
            return RUN
        if self.state.mask.state is None or self.matte is None or self.matte.shape != frame.shape[:2]:
            self.state.reuse.saw(frame)  # nothing to reuse: made anew, and the next frame compared with this one
            return RUN
        return self.state.reuse.judge(frame, self.state.mask.state)

    def _net_due(self) -> bool:
        """Whether the person net runs on a frame that moved: every ``mask_every``th frame, and after a reset (live
        on a CPU ``MaskReuse`` keeps to the stride, counting from the net's last frame)."""
        return self.live_cpu or (self._frames - 1) % self.mask_every == 0 or self.state.mask.state is None

    def _plate_layer(self, frame: np.ndarray, person: np.ndarray, t: float,
                     coming: Sequence[np.ndarray] = ()) -> tuple[np.ndarray, np.ndarray]:
        """The background layer, and the person weight with what the plate shows the network missed, less what the
        plate shows to be room (``plate_trim``). ``person`` (this frame's, from the edge step) is changed in place."""
        h, w = frame.shape[:2]
        size = self._plate_size(w, h)
        small, small_person = self._plate_frame(frame), person
        if size != (w, h):
            small_person = cv2.resize(person, size, interpolation=cv2.INTER_LINEAR)
        plate = self.state.plate
        more = plate.update(small, small_person, coming)
        if more is not small_person:  # what the network missed, added: enlarged only around it
            added = cv2.bitwise_and(more, cv2.compare(more, small_person, cv2.CMP_GT))
            reach = cv2.boundingRect(added)
            if reach[2]:
                (rows, cols), part = composite.enlarged_part(added, reach, (w, h))
                person[rows, cols] = cv2.max(person[rows, cols], part)
        if self.settings.plate_trim:
            room = plate.room_shown(small, more)
            reach = (0, 0, 0, 0) if room is None else cv2.boundingRect(room)
            if reach[2]:  # it changes the person's weight only where it shows room (its box, at plate size)
                (rows, cols), part = composite.enlarged_part(room, reach, (w, h))
                person[rows, cols] = cv2.multiply(person[rows, cols], cv2.bitwise_not(part), scale=1 / 255)
        return self.painter.update(plate, (w, h), t), person

    def _plate_frame(self, frame: np.ndarray) -> np.ndarray:
        """The frame at the plate's size."""
        size = self._plate_size(frame.shape[1], frame.shape[0])
        return frame if size == frame.shape[1::-1] else composite.shrink(frame, size)

    def _plate_size(self, w: int, h: int) -> tuple[int, int]:
        """Full size in render and on a GPU; live on a CPU, up to ``plate_size`` (the painter's time grows with it)."""
        return plate_size(w, h, self.settings.plate_size if self.live_cpu else max(w, h))

    def describe(self, frame_size: tuple[int, int]) -> str:
        """One line: what runs where, at which resolution."""
        w, h = frame_size
        parts = [f"{w}x{h} {self.mode.name}"]
        if self.segmenter:
            seg, (mw, mh) = self.segmenter, model_size(w, h, self.segmenter.long_side)
            every = {1: "", 2: ", every other frame", 3: ", every 3rd frame"}.get(self.mask_every,
                                                                                 f", every {self.mask_every}th frame")
            parts.append(f"person model {seg.session.path.stem} at {mw}x{mh} on {seg.session.device}{every}")
        if self.stylizer:
            sw, sh = style_size(w, h, self.stylizer.scale_for(w, h))
            parts.append(f"style {self.stylizer.session.path.stem} at {sw}x{sh} on {self.stylizer.session.device}")
        if self._uses_plate(self.mode):
            pw, ph = self._plate_size(w, h)
            sess = self.plate_stylizer.session if self.plate_stylizer else None
            what = f"painted by {sess.path.stem} on {sess.device}" if self.mode.background == "paint" else "blurred"
            how = "on its own thread" if self.painter.threaded else "in step"
            parts.append(f"background plate at {pw}x{ph}, {what}, {how}")
        return ", ".join(parts)


def read_image(path: Path) -> np.ndarray:
    """Read an image file as BGR uint8; RealtimeError when missing or unreadable."""
    if not path.is_file():
        raise RealtimeError(f"image not found: {path}")
    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if img is None:
        raise RealtimeError(f"cannot read image {path} (not an image file or unsupported format)")
    return img
