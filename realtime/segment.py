"""Person segmentation: a BGR frame in, a low-resolution person probability map out."""
from __future__ import annotations

import collections
import json
import logging
import math
import sys
import time

import cv2
import numpy as np

from realtime.composite import solid, worst_channel
from realtime.inference import Session
from realtime.models import ModelInfo

logger = logging.getLogger(__name__)

DEFAULT_SIZE = (256, 144)  # width, height person.onnx sees for a 16:9 frame (person-full.onnx: its metadata says 384)
# The frame is compared with the last one the net saw, both shrunk to this size on the longer side (bilinear: a tenth
# of the cost of averaging whole areas); it held still while at most STILL_SHARE of the pixels moved by STILL_LEVEL
# or more in any channel (a camera's noise stays below; a hand over a wall of its own brightness differs in colour).
STILL_SIZE = 160
STILL_LEVEL = 24
STILL_SHARE = 0.002
# Where more moved, but at most NET_SHARE, and off the person as the net last saw them no more than a still picture
# may move (STILL_SHARE: noise), as a talking head or a hand moving in front of the chest does, the net's last answer
# still serves and only the edges (which follow this frame) and the plate's upkeep are made anew; movement at or beyond
# the person's outline (a hand raised, one coming in) runs it.
NET_SHARE = 0.01
# A hole in the person up to HOLE_SHARE of the net's picture whose mean colour is nearer the person's just around it
# than the room's within HOLE_REACH net pixels (or, with no room that near, within HOLE_LEVEL grey levels in every
# channel) is a patch the net missed (a shirt under moving hands), not room seen through a loop of arm (the wall's).
HOLE_SHARE = 0.01
HOLE_REACH = 12
HOLE_LEVEL = 24 / 255  # of the net's input, 0..1
# Live on a CPU the full person file (finer edges, less of the room beside a person taken for them) runs, on every
# other frame, fed the largest of FULL_NET_SIZES at which it takes at most FULL_NET_CORE of one core at 30 fps (one
# call within 16.7 ms of CPU time on one thread, timed as live calls are: a camera frame apart); on a CPU too slow for
# any, the small file, fed 256, on the frames that move (models/README.md, "The full person net live").
FULL_NET_SIZES = (384, 352, 320)
FULL_NET_CORE = 0.25
FULL_NET_EVERY = 2
CAMERA_FPS = 30
# Then, while it runs, the mean CPU time of its last FULL_NET_WATCH calls (two seconds) may exceed that budget by
# FULL_NET_SLACK (noise between one call and the next) before it is fed the next smaller size, and below the smallest
# the small file takes over for good: the CPU slowed down (a laptop's power saving, heat; the calls' CPU time is
# watched, so not another app's share of the cores).
FULL_NET_WATCH = 30
FULL_NET_SLACK = 1.25


def model_size(frame_w: int, frame_h: int, long_side: int = DEFAULT_SIZE[0]) -> tuple[int, int]:
    """Network input size for a frame: as many pixels as a 16:9 frame ``long_side`` wide (a 4:3 frame 224x160 for
    256: the net costs as much whatever the camera's shape, and does as well on portraits: models/README.md), at most
    ``long_side`` on the longer side, aspect kept, multiples of 16."""
    s = min(long_side / max(frame_w, frame_h), long_side * math.sqrt(9 / 16 / (frame_w * frame_h)))
    return max(16, round(frame_w * s / 16) * 16), max(16, round(frame_h * s / 16) * 16)


def native_long_side(model: Session | ModelInfo) -> int:
    """The 16:9 input width the person network was made for: its metadata's ``input_size`` (``person.onnx`` 256,
    ``person-full.onnx`` 384), 256 for a file that does not say (or says something else than [W, H])."""
    raw = model.metadata.get("input_size")
    if raw is None:
        return DEFAULT_SIZE[0]
    try:
        width = int(json.loads(raw)[0])
        check_long_side(width)
        return width
    except (ValueError, TypeError, IndexError, KeyError):
        logger.warning("%s: input_size %r in its metadata is not [W, H]; feeding it %d px wide", model.path.name,
                       raw, DEFAULT_SIZE[0])
        return DEFAULT_SIZE[0]


def full_net_fit(session: Session, every: int = FULL_NET_EVERY, flip: bool = False) -> tuple[int | None, dict]:
    """The largest of ``FULL_NET_SIZES`` at which ``session`` (the full person file, on a CPU) serves live on every
    ``every``th frame within ``FULL_NET_CORE`` of a core (None: none), and each size's call time tried (``call_ms``;
    finest first, stopping at the first that fits)."""
    budget, times = full_net_budget_ms(every), {}
    for size in FULL_NET_SIZES:
        times[size] = call_ms(session, PersonSegmenter(session, size, flip).input_shape(*DEFAULT_SIZE))
        if times[size] <= budget:
            return size, times
    return None, times


def full_net_budget_ms(every: int = FULL_NET_EVERY) -> float:
    """The most one call of the full person file may take to run live on every ``every``th frame on a CPU."""
    return 1000 * FULL_NET_CORE * every / CAMERA_FPS


class CallWatch:
    """Whether the full person file, chosen live on a CPU at start, still keeps to its budget (``FULL_NET_WATCH``,
    ``FULL_NET_SLACK``). ``add`` each call's CPU time in ms; it says True once the recent calls are over. The first
    call it is given is not counted: a watch starts with a size, and the first call at a shape (the camera's, or after
    a step down) runs cold, as ``call_ms``'s warm-up does."""

    def __init__(self, every: int = FULL_NET_EVERY) -> None:
        self.limit_ms = FULL_NET_SLACK * full_net_budget_ms(every)
        self.times: collections.deque[float] = collections.deque(maxlen=FULL_NET_WATCH)
        self._cold = True

    @property
    def mean_ms(self) -> float:
        return sum(self.times) / max(1, len(self.times))

    def add(self, ms: float) -> bool:
        if self._cold:
            self._cold = False
            return False
        self.times.append(ms)
        return len(self.times) == FULL_NET_WATCH and self.mean_ms > self.limit_ms


def call_clock() -> float:
    """Seconds, for timing a network call on one thread: the thread's CPU time (what the call costs the CPU, whatever
    else runs beside it), but wall time on Windows, whose thread CPU time moves in scheduler ticks of about 15.6 ms."""
    return time.perf_counter() if sys.platform == "win32" else time.thread_time()


def call_ms(session: Session, shape: tuple[int, int, int, int]) -> float:
    """One call of ``session`` (on one thread) on ``shape`` as a live pipeline makes it, in ms of this thread's CPU
    time (``call_clock``), as ``CallWatch`` sees it: the median of five calls a camera frame apart, after a warm-up.
    (Back to back a call costs less than between a camera's frames, where caches go cold and the clock drops:
    benchmarks/RESULTS.md.)"""
    session.warm_up(shape)  # a file that cannot run says so in one line
    zeros, times = np.zeros(shape, np.float32), []
    for _ in range(5):
        time.sleep(1 / CAMERA_FPS)
        t0 = call_clock()
        session.run(zeros)
        times.append(call_clock() - t0)
    return 1000 * float(np.median(times))


def check_long_side(width: int) -> int:
    """``width`` if the person net can be fed that wide (a multiple of 16 from 64 to 1024), else ValueError."""
    if width % 16 or not 64 <= width <= 1024:
        raise ValueError(f"must be a multiple of 16 from 64 to 1024, got {width}")
    return width


class PersonSegmenter:
    """Runs the person U-Net; ``__call__`` returns float32 HxW probabilities at network resolution.

    ``long_side``: the network's input size on the longer side of a 16:9 frame (multiple of 16; ``model_size``).
    ``None``: the size the network was made for (``native_long_side``). ``flip`` averages the network's answer for
    the frame and for its mirror image (one batch of two): better on the labelled photos for twice the network time,
    but its softer edge takes more of the room beside a person for them, so it is off unless asked for
    (models/README.md)."""

    def __init__(self, session: Session, long_side: int | None = None, flip: bool = False) -> None:
        self.session = session
        self.long_side = long_side or native_long_side(session)
        self.flip = flip
        self.last_ms = 0.0  # the network's last call, CPU time of this thread (ONNX Runtime on one thread runs here)

    def input_shape(self, frame_w: int, frame_h: int) -> tuple[int, int, int, int]:
        """The NCHW shape the network runs for a frame of this size."""
        w, h = model_size(frame_w, frame_h, self.long_side)
        return 2 if self.flip else 1, 3, h, w

    def __call__(self, frame: np.ndarray) -> np.ndarray:
        w, h = model_size(frame.shape[1], frame.shape[0], self.long_side)
        blob = cv2.dnn.blobFromImage(frame, 1.0 / 255, (w, h), swapRB=True)  # resize + RGB + NCHW in one call
        batch = np.concatenate([blob, blob[..., ::-1]]) if self.flip else blob
        c0 = call_clock()
        out = self.session.run(batch)
        self.last_ms = 1000 * (call_clock() - c0)
        prob = 0.5 * (out[0, 0] + out[1, 0, :, ::-1]) if self.flip else out[0, 0]
        return filled_holes(prob, blob[0].transpose(1, 2, 0))


def filled_holes(prob: np.ndarray, image: np.ndarray) -> np.ndarray:
    """``prob`` (the net's person probabilities) with the holes in the person that are the person's colour set to 1
    (``HOLE_SHARE``, ``HOLE_LEVEL``): in the picture such a patch would show the background through the person.
    ``image``: what the net saw, HxWx3 at ``prob``'s size, 0..1."""
    inside = cv2.compare(prob, 0.5, cv2.CMP_GT)
    contours, hierarchy = cv2.findContours(inside, cv2.RETR_CCOMP, cv2.CHAIN_APPROX_SIMPLE)
    if hierarchy is None:
        return prob
    holes = [c for c, (*_, parent) in zip(contours, hierarchy[0], strict=True)
             if parent >= 0 and cv2.contourArea(c) <= HOLE_SHARE * prob.size]
    if not holes:
        return prob
    h, w = prob.shape
    image = np.ascontiguousarray(image)
    outside = cv2.bitwise_not(solid(inside))  # the room
    out = prob.copy()
    r = HOLE_REACH
    for c in holes:
        x, y, cw, ch = cv2.boundingRect(c)
        x0, y0, x1, y1 = max(0, x - r), max(0, y - r), min(w, x + cw + r), min(h, y + ch + r)
        outline = np.zeros((y1 - y0, x1 - x0), np.uint8)
        cv2.drawContours(outline, [c], -1, 255, cv2.FILLED, offset=(-x0, -y0))
        person = inside[y0:y1, x0:x1]
        hole = cv2.bitwise_and(outline, cv2.bitwise_not(person))
        around = cv2.bitwise_and(cv2.dilate(hole, np.ones((5, 5), np.uint8)), person)
        room = outside[y0:y1, x0:x1]
        if not cv2.countNonZero(hole) or not cv2.countNonZero(around):
            continue
        patch = image[y0:y1, x0:x1]
        colour = np.array(cv2.mean(patch, hole)[:3])
        to_person = np.abs(colour - cv2.mean(patch, around)[:3]).max()
        to_room = np.abs(colour - cv2.mean(patch, room)[:3]).max() if cv2.countNonZero(room) else HOLE_LEVEL
        if to_person < to_room:
            out[y0:y1, x0:x1][hole > 0] = 1.0
    return out


RUN, NET, MATTE = "run", "net", "matte"  # what of the last frame serves this one: nothing, the net's answer, the matte


class MaskReuse:
    """Whether the person net must see this frame, or the picture has barely changed since it last did: live on a
    CPU the net is most of a frame's cost. Where the picture held still (``STILL_SHARE``) its answer, and the edges
    and the plate's corrections made from it, would barely change: the pipeline takes the last frame's matte whole
    (``MATTE``); where a little more moved, on the person (``NET_SHARE``), it reuses the net's answer with edges made
    anew (``NET``).
    ``reuse``: the most frames in a row the net's answer serves beyond its own where the picture held still or
    barely moved (0: never). ``every``: the net sees at most every ``every``th frame whatever moved; between, its last
    answer serves with edges made anew (``NET``). Part of a stream's state: ``reset`` with it."""

    def __init__(self, reuse: int = 1, every: int = 1) -> None:
        self.reuse = reuse
        self.every = every
        self.reset()

    def reset(self) -> None:
        self.seen: np.ndarray | None = None  # the last frame the net saw, shrunk to STILL_SIZE
        self.reused = 0  # frames in a row since then
        self.edges_anew = False  # one of them was NET: the last matte is not the net's frame's, so none serves whole

    def judge(self, frame: np.ndarray, person: np.ndarray | None = None) -> str:
        """What serves ``frame`` (BGR): ``RUN`` (the net must see it: the first frame, one that moved, ``reuse``
        reached, or ``every`` frames since the net's last; the frame is then remembered as the net's last), ``NET`` or
        ``MATTE``. ``person``: the net's last answer (probabilities, any size); without it a frame that moved more
        than ``STILL_SHARE`` runs the net."""
        if self.reuse <= 0 and self.every <= 1:
            return RUN
        small = _shrunk(frame)
        if self.seen is not None and self.seen.shape == small.shape:
            if self.reused < self.reuse:
                moved = cv2.compare(worst_channel(cv2.absdiff(small, self.seen)), STILL_LEVEL, cv2.CMP_GE)
                count, area = cv2.countNonZero(moved), small.shape[0] * small.shape[1]
                if count <= STILL_SHARE * area and not self.edges_anew:
                    self.reused += 1
                    return MATTE
                if person is not None and count <= NET_SHARE * area:
                    on = cv2.compare(cv2.resize(person, small.shape[1::-1], interpolation=cv2.INTER_LINEAR), 0.5,
                                     cv2.CMP_GT)
                    if cv2.countNonZero(cv2.bitwise_and(moved, cv2.bitwise_not(on))) <= STILL_SHARE * area:
                        self.reused, self.edges_anew = self.reused + 1, True
                        return NET
            if self.reused + 1 < self.every:  # the net saw a frame too lately to see this one
                self.reused, self.edges_anew = self.reused + 1, True
                return NET
        self.seen, self.reused, self.edges_anew = small, 0, False
        return RUN

    def saw(self, frame: np.ndarray) -> None:
        """The net runs on ``frame`` whatever ``judge`` would say (nothing to reuse): remember it as the net's last."""
        self.seen, self.reused, self.edges_anew = _shrunk(frame), 0, False


def _shrunk(frame: np.ndarray) -> np.ndarray:
    h, w = frame.shape[:2]
    s = min(1.0, STILL_SIZE / max(w, h))
    return cv2.resize(frame, (max(1, round(w * s)), max(1, round(h * s))), interpolation=cv2.INTER_LINEAR)
