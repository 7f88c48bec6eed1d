"""The background plate: the scene as it would look without the person, and its painting.

A webcam's background barely changes during a call, so it is painted once, well, and repainted only when it
changes: the person never enters the painting, and quality no longer competes with the frame budget.

``BackgroundPlate`` keeps the plate at the painter's resolution. Per frame it takes the pixels that the person
mask (grown by a margin) says are background and that have held still for a few frames (what moves is not the
room: a waving hand the person network missed would otherwise be painted into it; the very first frame, and the
first after a scene cut, are taken whole, so the plate is usable at once): a pixel seen for the first
time is taken as it is, one seen before follows the camera with a short exponential average (noise averages out,
a real change is followed within about a second). Near the person, pixels that differ clearly from the background
already seen there are the person too (what the person network missed: a bag, a hand), so they stay out of the
plate and in the picture (``update`` returns them with the person), unless they have held still for a second and
a half: then they are the room (a chair moved, or room the plate had wrong: an arm the network missed that has
since moved away), and the plate follows. Pixels near the person's edge that the network called person but
that show just the room seen there are room (``room_shown``: a towel beside the person), and the picture shows
them as room. Room about to be seen for the first time that is like the person beside it rather than the room
around it (a forearm the network let go of) waits as what the network missed does, and so does such room that still
shows the colour it showed when the person last covered it (the arm let go of a few pixels at a time). Pixels the
person has always covered are filled from their surroundings by push-pull (never from the person's colours). When
most of the visible background changes at once for a few frames (the camera moved, the exposure jumped) the plate
starts over.

``Painter`` turns the plate into the background layer (a style network's painting, or a blur), repainting
when enough of the plate has changed to be seen and cross-fading so a repaint is never a jump. Live on a CPU it
paints on its own thread, so the live path never waits for it; on a GPU and in ``render`` it paints in step
(``render``: a file renders the same picture every time).
"""
from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from realtime.composite import shrink, solid, worst_channel
from realtime.errors import RealtimeError
from realtime.models import first_line
from realtime.segment import HOLE_LEVEL

CHECK_WIDTH = 160  # scene-cut and change checks run on a plate this wide
CHANGED_LEVEL = 12  # a check pixel has changed when its luma moved this much (sensor noise stays below)
CUT_LEVEL = 25  # ... and is evidence of a scene cut when it moved this much
# Room seen for the first time (beside the person, who stepped aside) replaces a guess: it asks for a repaint at this
# share of the plate's repaint threshold (a sliver is worth painting; a screen playing on the wall is not)
NEW_SHARE = 0.1
# Stillness is judged on the luma smoothed and halved (cv2.pyrDown: sensor noise falls to a quarter). A pixel holds
# still while it moves less than STILL_LEVEL from frame to frame, and so does everything within STILL_GROW half-size
# pixels of it (a motion-blurred fringe).
STILL_LEVEL = 6
STILL_GROW = 1
STILL_TAKE = 3  # frames in a row a pixel must have held still before the plate takes it
# The longer wait is counted leniently (a dim camera's noise moves a pixel past STILL_LEVEL now and then): a frame
# that moves a little takes STILL_LEAK frames off the count, one that moves 3x STILL_LEVEL starts it over.
STILL_LEAK = 4
STILL_ROOM = 45  # frames (1.5 s) after which what holds still beside the person is room, though unlike the plate
# Room seen for the first time beside the person (``BackgroundPlate._like_person``): a patch of at least LIKE_AREA
# plate pixels, LIKE_CORE wide somewhere (a sliver uncovered beside a swaying person is narrower), most of whose pixels
# are nearer in colour to the nearest person pixel within LIKE_BESIDE pixels than to the nearest room seen within
# LIKE_REACH, is more likely a part of the person the network let go of while it held still (a forearm in front of
# the body) than room: it waits for STILL_ROOM frames of stillness, as what the network missed beside the person does.
LIKE_AREA = 16
LIKE_CORE = 5
LIKE_BESIDE = 8
LIKE_REACH = 32
# Room seen for the first time that still shows (every channel within WORN_LEVEL) the colour it showed when the person
# last covered it, WORN_INSIDE plate pixels inside their outline (an edge pixel blends both), and is nearer in colour to
# the nearest person pixel than to the nearest room seen, is the person the network let go of while they held still,
# not room they uncovered (another colour): it waits as ``_like_person``'s patches do. This catches what the network
# lets go of a few pixels at a time (too thin for ``_like_person``, and each piece taken would be the room the next is
# compared with); the colour kept, pixel by pixel, tells it apart from room of the same colour beside a swaying person.
WORN_LEVEL = 16
WORN_INSIDE = 2
ROOM_LEVELS = (6.0, 12.0)  # a frame pixel this close to the seen plate shows the room there (sensor noise stays below)
# per grey level of difference: 255 up to the first level, fading to 0 at the second (a lookup table, built once)
_LO, _HI = ROOM_LEVELS
ROOM_RAMP = (np.clip((_HI - np.arange(256)) / (_HI - _LO), 0, 1) * 255).astype(np.uint8)


def plate_size(w: int, h: int, cap: int) -> tuple[int, int]:
    """The plate's (and painting's) size for a w x h output: the output itself, up to ``cap`` on the longer side."""
    s = min(1.0, cap / max(w, h))
    return max(16, round(w * s)), max(16, round(h * s))


FILL_STEP = 4  # the fill is smooth: it is computed at 1/4 of the plate's size


def push_pull_fill(image: np.ndarray, known: np.ndarray) -> np.ndarray:
    """Fill where ``known`` (float32 0..1) is 0 with a smooth guess from the known pixels around (push-pull).

    The known pixels are averaged down an image pyramid, weighted by ``known``; coming back up, each level keeps
    what it knows and takes the coarser level's guess where it knows nothing."""
    h, w = known.shape
    size = (max(1, w // FILL_STEP), max(1, h // FILL_STEP))
    levels = [(cv2.resize(image * known[..., None], size, interpolation=cv2.INTER_AREA),
               cv2.resize(known, size, interpolation=cv2.INTER_AREA))]
    while min(levels[-1][1].shape[:2]) > 4:
        c, k = levels[-1]
        levels.append((cv2.pyrDown(c), cv2.pyrDown(k)))
    c, k = levels[-1]
    mean = c.reshape(-1, 3).sum(0) / max(float(k.sum()), 1e-6)
    fill = np.where(k[..., None] > 1e-6, c / np.maximum(k, 1e-6)[..., None], mean).astype(np.float32)
    for c, k in reversed(levels[:-1]):
        up = cv2.pyrUp(fill, dstsize=(k.shape[1], k.shape[0]))
        have = np.minimum(k * 4.0, 1.0)  # a pixel a quarter known is known enough at this level
        fill = (c / np.maximum(k, 1e-6)[..., None]) * have[..., None] + up * (1.0 - have)[..., None]
    fill = cv2.resize(fill, (w, h), interpolation=cv2.INTER_LINEAR)
    return np.where(known[..., None] >= 1.0, image, fill)


class BackgroundPlate:
    """The scene without the person, at plate resolution (see the module's docstring)."""

    def __init__(self, margin: int = 3, follow: float = 0.1, cut_share: float = 0.35, cut_frames: int = 4) -> None:
        self.margin = margin  # pixels the person mask is grown by before a pixel counts as background
        self.follow = follow  # per-frame weight of the camera in a seen pixel
        self.cut_share = cut_share  # share of the visible background that must change for a scene cut
        self.cut_frames = cut_frames  # ... in this many frames running
        self.reset()

    def reset(self) -> None:
        self.image: np.ndarray | None = None  # float32 HxWx3 BGR
        self.seen: np.ndarray | None = None  # uint8 HxW, 255 where background has been observed
        self.luma: np.ndarray | None = None  # float32, the plate's luma at CHECK_WIDTH, kept alongside
        self.seen_small: np.ndarray | None = None  # uint8, ``seen`` at CHECK_WIDTH
        self.gray: np.ndarray | None = None  # uint8, the last frame's luma at half the plate's size (what moved since)
        self.still: np.ndarray | None = None  # uint8, frames in a row each pixel of it has held still (up to 255)
        self.calm: np.ndarray | None = None  # uint8, the same counted leniently (STILL_LEAK)
        self.restarts = 0
        self._cut_run = 0
        self._held = 0  # frames held still since the last update (``hold``)
        self.worn: np.ndarray | None = None  # uint8 BGR, each pixel's colour when the person last covered it
        self.worn_at: np.ndarray | None = None  # uint8, 255 where the person has covered the pixel (``worn`` holds it)

    def background(self, person: np.ndarray) -> np.ndarray:
        """uint8 mask of the pixels that are background with confidence: the person (a uint8 weight) grown by the
        margin, inverted."""
        return cv2.compare(self._grown_by_margin(cv2.compare(person, 5, cv2.CMP_GT)), 0, cv2.CMP_EQ)

    def _grown_by_margin(self, mask: np.ndarray) -> np.ndarray:
        """``mask`` (uint8 0/255) grown by the margin (a disc)."""
        if self.margin <= 0:
            return mask
        k = 2 * self.margin + 1
        return cv2.dilate(mask, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k)))

    def _missed(self, gray: np.ndarray, person: np.ndarray, near: int = 32, level: float = 30) -> np.ndarray | None:
        """What the person network missed: pixels within ``near`` pixels of the person that differ clearly from the
        background seen there (a bag, a hand, a sleeve) and have not held still for ``STILL_ROOM`` frames."""
        if self.image is None or self.image.shape[:2] != gray.shape:
            return None
        around = cv2.bitwise_and(_grown(cv2.compare(person, 127, cv2.CMP_GT), near), self.seen)
        out = np.zeros_like(gray)
        box = _box(around, 3)  # what can be missed is around the person: the rest of the frame is not looked at
        if box is None:
            return out
        diff = cv2.absdiff(gray[box].astype(np.float32), cv2.cvtColor(self.image[box], cv2.COLOR_BGR2GRAY))
        missed = cv2.bitwise_and(cv2.compare(diff, level, cv2.CMP_GT), around[box])
        missed = cv2.morphologyEx(missed, cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))  # not single noisy pixels
        still = self._still_for(self.calm, STILL_ROOM, gray.shape)[box]
        out[box] = cv2.bitwise_and(missed, cv2.bitwise_not(still))
        return out

    def _like_person(self, frame: np.ndarray, on: np.ndarray, new: np.ndarray) -> np.ndarray | None:
        """uint8 mask of the patches of ``new`` (background about to be seen for the first time) that look like the
        person (``on``, uint8 0/255) beside them rather than like the room seen around them (``LIKE_AREA``,
        ``LIKE_CORE``, ``LIKE_BESIDE``, ``LIKE_REACH``); None where there are none. Room a person uncovers continues
        the room next to it; a forearm the network let go of continues the arm. Each pixel is compared with the
        nearest pixel of each (a mean would mix a shirt with the arm, and books with the shelf); without seen room
        near, a pixel is the person's within ``HOLE_LEVEL`` of them (``segment.filled_holes`` decides holes in the
        person alike)."""
        box = _box(new, LIKE_REACH)
        if box is None:
            return None
        count, labels, stats, _ = cv2.connectedComponentsWithStats(new[box], connectivity=8)
        big = [i for i in range(1, count) if stats[i, cv2.CC_STAT_AREA] >= LIKE_AREA]
        if not big:
            return None
        image, plate = frame[box], self.image[box]
        inside, room = self._person_and_room(on, box)
        beside_k = np.ones((2 * LIKE_BESIDE + 1,) * 2, np.uint8)
        reach_k = np.ones((2 * LIKE_REACH + 1,) * 2, np.uint8)
        core_k = np.ones((LIKE_CORE, LIKE_CORE), np.uint8)
        out = np.zeros_like(new)
        rows, cols = labels.shape
        for i in big:
            x, y, w, h = stats[i, :4]
            sub = (slice(max(0, y - LIKE_REACH), min(rows, y + h + LIKE_REACH)),
                   slice(max(0, x - LIKE_REACH), min(cols, x + w + LIKE_REACH)))
            patch = cv2.compare(labels[sub], i, cv2.CMP_EQ)
            if not cv2.countNonZero(cv2.erode(patch, core_k)):
                continue
            beside = cv2.bitwise_and(cv2.dilate(patch, beside_k), inside[sub])
            if not cv2.countNonZero(beside):
                continue
            pix = patch > 0
            around = cv2.bitwise_and(cv2.dilate(patch, reach_k), room[sub])
            nearer = _nearer_person(image[sub], plate[sub], pix, beside, around)
            if np.count_nonzero(nearer) > 0.5 * len(nearer):
                out[box][sub][pix] = 255
        return out if cv2.countNonZero(out) else None

    def _worn_again(self, frame: np.ndarray, on: np.ndarray, new: np.ndarray) -> np.ndarray | None:
        """uint8 mask of the pixels of ``new`` (background about to be seen for the first time) that show the colour
        the person showed there (``WORN_LEVEL``) and are nearer in colour to the nearest person pixel (``on``) than
        to the nearest room seen (within the box LIKE_REACH around them), and the new pixels within ``WORN_INSIDE`` of
        those whose colour was not kept (the outline's); None where there are none."""
        candidates = cv2.bitwise_and(new, self.worn_at)
        box = _box(candidates, LIKE_REACH)
        if box is None:
            return None
        same = cv2.compare(worst_channel(cv2.absdiff(frame[box], self.worn[box])), WORN_LEVEL, cv2.CMP_LE)
        same = cv2.bitwise_and(same, candidates[box])
        if not cv2.countNonZero(same):
            return None
        inside, room = self._person_and_room(on, box)
        if not cv2.countNonZero(inside):
            return None
        pix = same > 0
        held = np.zeros_like(same)
        held[pix] = _nearer_person(frame[box], self.image[box], pix, inside, room).astype(np.uint8) * 255
        if not cv2.countNonZero(held):
            return None
        # and the new pixels within WORN_INSIDE of them, which the person's outline covered (their colour not kept)
        k = np.ones((2 * WORN_INSIDE + 1,) * 2, np.uint8)
        out = np.zeros_like(new)
        unkept = cv2.bitwise_and(new[box], cv2.bitwise_not(self.worn_at[box]))
        out[box] = cv2.bitwise_or(held, cv2.bitwise_and(cv2.dilate(held, k), unkept))
        return out

    def _person_and_room(self, on: np.ndarray, box: tuple[slice, slice]) -> tuple[np.ndarray, np.ndarray]:
        """In ``box``: the person (``on``) and the room seen outside them, uint8 masks."""
        inside = on[box]
        return inside, cv2.bitwise_and(self.seen[box], cv2.bitwise_not(inside))

    def _remember(self, frame: np.ndarray, on: np.ndarray) -> None:
        """Keep the colours of the pixels the person (``on``) covers, ``WORN_INSIDE`` inside their outline."""
        box = _box(on, WORN_INSIDE)  # the erosion sees the room beyond the outline (a frame's edge is none)
        if box is None:
            return
        inside = cv2.erode(on[box], np.ones((2 * WORN_INSIDE + 1,) * 2, np.uint8))
        cv2.copyTo(frame[box], inside, self.worn[box])
        cv2.bitwise_or(self.worn_at[box], inside, dst=self.worn_at[box])

    def room_shown(self, frame: np.ndarray, person: np.ndarray, near: int = 24) -> np.ndarray | None:
        """uint8 weight, 255 where the frame shows the very room the plate has seen there (every channel within
        ``ROOM_LEVELS[0]`` grey levels, fading out by ``ROOM_LEVELS[1]``), within ``near`` pixels of the person's
        edge: room beside the person that the person network took for them (a towel, a strip of bookcase), which
        the picture can then show as room. Deeper inside the person nothing is taken, so a shirt the colour of the
        wall behind it stays the person, and nothing is taken beside a hole in the person's mask either (the plate
        may have taken the shirt there as room while the network missed it); single pixels that match by chance are
        left out."""
        if self.image is None or self.image.shape[:2] != frame.shape[:2]:
            return None
        out = np.zeros(frame.shape[:2], np.uint8)
        # It is used where the person is (and a few pixels beyond, where the enlargement reaches): looked for in
        # their box and 8 px beyond it, so that the opening (4 px) sees there what it would in the whole frame; the
        # core's erosion does anyway, the pixels beside the person being 0. Further out it is 0.
        box = _box(person, 8)
        if box is None:
            return out
        diff = worst_channel(cv2.absdiff(frame[box], cv2.convertScaleAbs(self.image[box])))
        shown = cv2.bitwise_and(cv2.LUT(diff, ROOM_RAMP), self.seen[box])
        shown = cv2.morphologyEx(shown, cv2.MORPH_OPEN, np.ones((5, 5), np.uint8))
        k = 2 * near + 1  # a square: two cheap passes
        core = cv2.erode(solid(cv2.compare(person[box], 127, cv2.CMP_GT)), np.ones((k, k), np.uint8))
        out[box] = cv2.bitwise_and(shown, cv2.bitwise_not(core))
        return out

    def update(self, frame: np.ndarray, person: np.ndarray, coming: Sequence[np.ndarray] = ()) -> np.ndarray:
        """Take one frame (uint8 BGR at plate size) and its person weight from the network (uint8, same size);
        returns the person weight with what the network missed added (the frame's person as the plate sees it).
        ``coming``: the frames that follow it (uint8 BGR, any size; ``render`` knows them): a scene cut that this
        frame begins and they confirm is taken at this frame, not ``cut_frames`` frames into the new scene."""
        gray = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
        self._observe(gray)
        held, self._held = self._held, 0
        missed = self._missed(gray, person)
        if missed is not None and cv2.countNonZero(missed):
            person = cv2.max(person, missed)
        bg = self.background(person)
        small = _check_size(frame.shape[1], frame.shape[0])
        luma = shrink(gray, small)
        bg_small = cv2.resize(bg, small, interpolation=cv2.INTER_NEAREST)
        fresh = self.image is None or self.image.shape[:2] != frame.shape[:2]
        cut = not fresh and self._scene_cut(luma, bg_small, coming)
        if fresh or cut:
            self.restarts += cut
            self.image, self.seen = frame.astype(np.float32), bg
            self.luma, self.seen_small = luma.astype(np.float32), bg_small
            self.worn, self.worn_at = np.zeros_like(frame), np.zeros_like(bg)
            self._remember(frame, cv2.compare(person, 127, cv2.CMP_GT))
            return person
        if self._cut_run:  # a cut is suspected: hold the plate until it is confirmed or gone
            return person
        bg = cv2.bitwise_and(bg, self._still_for(self.still, STILL_TAKE, gray.shape))
        new = cv2.bitwise_and(bg, cv2.bitwise_not(self.seen))
        on = cv2.compare(person, 127, cv2.CMP_GT)  # the person, what the network missed included
        like, worn = self._like_person(frame, on, new), self._worn_again(frame, on, new)
        doubt = like if worn is None else worn if like is None else cv2.bitwise_or(like, worn)
        self._remember(frame, on)
        if doubt is not None:  # kept out of the plate, and shown as the person (with the margin between them)
            doubt = cv2.bitwise_and(doubt, cv2.bitwise_not(self._still_for(self.calm, STILL_ROOM, gray.shape)))
            bg = cv2.bitwise_and(bg, cv2.bitwise_not(doubt))
            person = cv2.max(person, cv2.bitwise_and(self._grown_by_margin(doubt), cv2.bitwise_not(self.seen)))
        rate = 1.0 - (1.0 - self.follow) ** (1 + held)  # the frames held still since count as this one
        _follow(self.image, frame, bg, self.seen, rate)
        _follow(self.luma, luma, cv2.resize(bg, small, interpolation=cv2.INTER_NEAREST), self.seen_small, rate)
        return person

    def hold(self, frame: np.ndarray) -> None:
        """A frame in which the picture held still, whose upkeep the pipeline skipped (``mask_reuse``): its stillness
        is counted as any frame's, and the next ``update`` follows the camera for it too, so the plate's times (the
        frames a pixel must hold still, how soon it follows a change) stay those of the camera's frames."""
        if self.image is not None and self.image.shape[:2] == frame.shape[:2]:
            self._observe(cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY))
            self._held += 1

    def _observe(self, gray: np.ndarray) -> None:
        """Count the frames each pixel has held still, on the luma smoothed and halved: in a row (``still``), and
        leniently (``calm``)."""
        small = cv2.pyrDown(gray)
        last, self.gray = self.gray, small
        if last is None or last.shape != small.shape:
            self.still, self.calm = np.zeros_like(small), np.zeros_like(small)
            return
        k = np.ones((2 * STILL_GROW + 1,) * 2, np.uint8)
        diff = cv2.absdiff(small, last)
        still = cv2.erode(cv2.compare(diff, STILL_LEVEL, cv2.CMP_LT), k)
        moved = cv2.dilate(cv2.compare(diff, 3 * STILL_LEVEL, cv2.CMP_GE), k)
        self.still = cv2.bitwise_and(cv2.add(self.still, 1), still)  # saturates at 255
        calm = cv2.subtract(self.calm, STILL_LEAK)
        cv2.add(self.calm, 1, dst=calm, mask=still)  # where it held still: a masked add, not a np.where
        self.calm = cv2.bitwise_and(calm, cv2.bitwise_not(moved))

    @staticmethod
    def _still_for(count: np.ndarray, frames: int, shape: tuple[int, int]) -> np.ndarray:
        """uint8 mask of ``shape``: 255 where ``count`` (``still`` or ``calm``) has reached ``frames``."""
        return cv2.resize(cv2.compare(count, frames, cv2.CMP_GE), shape[::-1], interpolation=cv2.INTER_NEAREST)

    def _scene_cut(self, luma: np.ndarray, bg_small: np.ndarray, coming: Sequence[np.ndarray] = ()) -> bool:
        """Whether the scene changed: most of the visible background moved (``cut_share``, ``CUT_LEVEL``) in
        ``cut_frames`` frames running, counted from this one (seen in ``coming``) or up to it."""
        both = cv2.bitwise_and(bg_small, self.seen_small)
        moved = self._moved(luma, both)
        if moved and not self._cut_run and len(coming) >= self.cut_frames - 1:  # the frames to come can confirm it
            size = luma.shape[::-1]
            if all(self._moved(shrink(cv2.cvtColor(f, cv2.COLOR_BGR2GRAY), size), both)
                   for f in coming[:self.cut_frames - 1]):
                return True
        self._cut_run = self._cut_run + 1 if moved else 0
        if self._cut_run >= self.cut_frames:
            self._cut_run = 0
            return True
        return False

    def _moved(self, luma: np.ndarray, visible: np.ndarray) -> bool:
        """Whether most of the ``visible`` background (``cut_share``) moved past ``CUT_LEVEL`` in ``luma``."""
        count = cv2.countNonZero(visible)
        diff = cv2.absdiff(luma.astype(np.float32), self.luma)
        moved = cv2.countNonZero(cv2.bitwise_and(cv2.compare(diff, CUT_LEVEL, cv2.CMP_GT), visible))
        return count > 0 and moved > self.cut_share * count

    def snapshot(self) -> tuple[np.ndarray, np.ndarray]:
        """Copies of (plate, seen) for a painter to fill and paint while the live path goes on."""
        return self.image.copy(), self.seen.copy()

    def filled(self) -> np.ndarray:
        """The plate as uint8 BGR with never-seen pixels filled from their surroundings."""
        return fill(*self.snapshot())


def fill(image: np.ndarray, seen: np.ndarray) -> np.ndarray:
    """The plate as uint8 BGR, the never-seen pixels (``seen`` 0) guessed from their surroundings."""
    if cv2.countNonZero(seen) == seen.size:
        return cv2.convertScaleAbs(image)
    return cv2.convertScaleAbs(push_pull_fill(image, seen.astype(np.float32) * (1 / 255)))


def blurred(image: np.ndarray, seen: np.ndarray, ksize: int = 21) -> np.ndarray:
    """The blur mode's background: the plate with its never-seen pixels guessed from the seen room around them
    (push-pull, never the person's colours), strongly blurred, at 1/4 size. (A blur of the seen pixels alone,
    normalised, leans on one side of the person and was further from the empty room's blur: docs/plate_eval.json.)"""
    h, w = seen.shape
    size = (max(1, w // 4), max(1, h // 4))
    known = cv2.resize(seen, size, interpolation=cv2.INTER_AREA).astype(np.float32) * (1 / 255)
    small = cv2.resize(image, size, interpolation=cv2.INTER_AREA).astype(np.float32)
    out = cv2.GaussianBlur(push_pull_fill(small, known), (ksize | 1, ksize | 1), 0)
    return cv2.convertScaleAbs(cv2.resize(out, (w, h), interpolation=cv2.INTER_LINEAR))


def _follow(plate: np.ndarray, frame: np.ndarray, bg: np.ndarray, seen: np.ndarray, rate: float) -> None:
    """In place: seen background pixels follow the frame by ``rate``; background seen for the first time is taken
    as it is (and marked seen)."""
    cv2.accumulateWeighted(frame, plate, rate, mask=cv2.bitwise_and(bg, seen))
    new = cv2.bitwise_and(bg, cv2.bitwise_not(seen))
    box = _box(new, 0)  # usually a sliver beside the person: only its box is converted
    if box is not None:
        cv2.copyTo(frame[box].astype(np.float32), new[box], plate[box])
        cv2.bitwise_or(seen, bg, dst=seen)


def _nearer_person(image: np.ndarray, plate: np.ndarray, pix: np.ndarray, person: np.ndarray,
                   room: np.ndarray) -> np.ndarray:
    """For the pixels ``pix`` (bool) of ``image``: whether each is nearer in colour (its worst channel) to the nearest
    pixel of the person (where ``person``) than to the nearest room seen (``plate`` where ``room``); without room
    seen, whether it is within ``HOLE_LEVEL`` of the person."""
    colour = image[pix].astype(np.int16)
    to_person = np.abs(colour - _nearest_colours(image, person)[pix]).max(1)
    to_room = (np.abs(colour - _nearest_colours(cv2.convertScaleAbs(plate), room)[pix]).max(1)
               if cv2.countNonZero(room) else round(255 * HOLE_LEVEL))
    return to_person < to_room


def _nearest_colours(image: np.ndarray, where: np.ndarray) -> np.ndarray:
    """For every pixel, the colour (int16) of the nearest pixel of ``image`` where ``where`` is non-zero."""
    _, labels = cv2.distanceTransformWithLabels(cv2.bitwise_not(where), cv2.DIST_L2, 3,
                                                labelType=cv2.DIST_LABEL_PIXEL)
    return image[where > 0].astype(np.int16)[labels - 1]  # labels count the source pixels in row order, from 1


def _box(mask: np.ndarray, margin: int) -> tuple[slice, slice] | None:
    """Row and column slices of the box around ``mask``'s non-zero pixels, ``margin`` pixels more on each side
    (within the image); None where it has none."""
    x, y, w, h = cv2.boundingRect(mask)
    if not w:
        return None
    rows, cols = mask.shape[:2]
    return (slice(max(0, y - margin), min(rows, y + h + margin)),
            slice(max(0, x - margin), min(cols, x + w + margin)))


def _grown(mask: np.ndarray, near: int) -> np.ndarray:
    """``mask`` (uint8 0/255) grown by about ``near`` pixels: a square, at a quarter of the size (a 4-pixel step
    is fine for a neighbourhood this wide, and costs a tenth)."""
    h, w = mask.shape
    small = shrink(mask, (max(1, w // 4), max(1, h // 4)))
    k = 2 * -(-near // 4) + 1
    grown = cv2.dilate(cv2.compare(small, 0, cv2.CMP_GT), np.ones((k, k), np.uint8))
    return cv2.resize(grown, (w, h), interpolation=cv2.INTER_NEAREST)


def _check_size(w: int, h: int) -> tuple[int, int]:
    s = min(1.0, CHECK_WIDTH / w)
    return max(8, round(w * s)), max(8, round(h * s))


@dataclass
class PainterStats:
    repaints: int = 0
    paint_ms: float = 0.0  # total painting time
    last_done: float | None = None  # time (the caller's clock) the newest painting was published

    @property
    def ms_per_repaint(self) -> float:
        return self.paint_ms / self.repaints if self.repaints else 0.0


class Painter:
    """Turns the plate into the background layer with ``paint`` ((float32 plate, uint8 seen) -> uint8 BGR layer of
    the same size; ``fill`` gives it a plate with the never-seen pixels guessed).

    ``threaded``: paint on a worker thread (a CPU), else synchronously in ``update`` (a GPU; ``render``).
    A repaint is asked for when ``repaint`` of the plate's area has changed since the last painting, or a tenth of
    that was seen for the first time (the room uncovered beside the person replaces a guess), at most every
    ``interval`` seconds (a new style or stream repaints at once, and so does a plate that started over, unless it
    did so once within that wait too: a camera carried about is not painted at every cut; a painting of the room
    before, still on its way, is dropped),
    and on a worker no more often than keeps it busy ``duty`` of the time (a slow network then repaints less often
    rather than taking a whole core); a new painting replaces the old one over ``fade`` frames.

    ``first`` (on a worker): a quicker painting (the same network at a smaller size), made in step while there is
    nothing to show yet (the first frame, and the first after ``reset``: a new mode or size), shown until the worker's
    painting of the same plate fades in; without it, that first painting is made in step, and the stream waits for it.
    Where the camera moved (the plate started over) the new room's first painting replaces the old room's at once, not
    by a cross-fade (the camera's picture jumped too); on a worker it is the quicker one, and the whole one follows.
    """

    def __init__(self, paint: Callable[[np.ndarray, np.ndarray], np.ndarray], threaded: bool, repaint: float = 0.01,
                 interval: float = 0.5, fade: int = 8, nice: int = 5, duty: float = 1.0,
                 first: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None) -> None:
        self.paint, self.threaded, self.first = paint, threaded, first
        self.repaint, self.interval, self.fade, self.nice, self.duty = repaint, interval, fade, nice, duty
        self._last_s = 0.0  # how long the newest painting took
        self._cond = threading.Condition()
        self._job: tuple[np.ndarray, np.ndarray, int, bool] | None = None  # plate, seen, epoch, camera moved
        self._result: tuple[np.ndarray, int, bool] | None = None  # painting, epoch, shown at once
        self._busy = False
        self._closed = False
        self._failure: Exception | None = None
        self._thread: threading.Thread | None = None
        self.reset()

    # --- state --------------------------------------------------------------------------------------
    def reset(self) -> None:
        """Forget the painting (a new stream or scene); the counts in ``stats`` go on."""
        with self._cond:
            self._job = self._result = None
            self._epoch = getattr(self, "_epoch", 0) + 1
        self.shown: np.ndarray | None = None  # the layer now composed, at output size
        self._old: np.ndarray | None = None  # the layer fading out
        self._new: np.ndarray | None = None  # the layer fading in
        self._faded = 0
        self._ref: np.ndarray | None = None  # the plate (small luma) the newest painting was made from
        self._ref_seen: np.ndarray | None = None
        self._asked_t: float | None = None
        self._restarts = 0  # the plate's restarts (scene cuts) seen
        self._forced_t: float | None = None  # when a restart last asked for a repaint at once
        self._moved = False  # the plate started over since the newest painting shown: the next shows another room
        if not hasattr(self, "stats"):
            self.stats = PainterStats()

    def set_paint(self, paint: Callable[[np.ndarray, np.ndarray], np.ndarray],
                  first: Callable[[np.ndarray, np.ndarray], np.ndarray] | None) -> None:
        """A new style: paint with it (and ``first``) from now on, and repaint at once (a painting in the old style
        still on its way is dropped)."""
        with self._cond:
            self.paint, self.first = paint, first
            self._epoch += 1
            self._result = None
        self._ref = None

    # --- per frame ----------------------------------------------------------------------------------
    def update(self, plate: BackgroundPlate, size: tuple[int, int], t: float) -> np.ndarray:
        """The background layer for this frame (uint8 BGR at ``size``); asks for a repaint when the plate changed.

        ``t``: the frame's time in seconds (the capture clock live, the frame index / fps in a file)."""
        if plate.restarts != self._restarts:  # the camera moved: what is painted, or on its way, is another room
            self._restarts, self._moved = plate.restarts, True
            with self._cond:
                self._epoch += 1
                self._result = None
            if self._forced_t is None or t - self._forced_t >= self._wait():
                self._ref, self._forced_t = None, t
        if self._needs_repaint(plate, t):
            self._asked_t = t
            image, seen = plate.snapshot()
            if self.threaded and (self.shown is not None or self.first is not None):
                if self.shown is None:  # the quicker painting: usable from the first frame
                    self._publish(self.first(image, seen), size, t, instant=True)
                self._submit(image, seen, self._moved)  # until the new room is shown, every job paints it so
            else:  # synchronous, and the very first painting: usable from the first frame
                self._publish(self._paint(image, seen), size, t, instant=self.shown is None or self._moved)
        if self.threaded:
            with self._cond:
                result, self._result, failure = self._result, None, self._failure
            if failure is not None:  # said on the live path, once, as any failure of a step is
                self._failure = None
                raise RealtimeError(f"painting the background failed: {first_line(failure)}") from None
            if result is not None and result[1] == self._epoch:
                self._publish(result[0], size, t, instant=result[2])
        return self._step(size)

    def _wait(self) -> float:
        """Seconds (the caller's clock) from one ask for a repaint to the next."""
        return max(self.interval, self._last_s / self.duty) if self.threaded else self.interval

    def _needs_repaint(self, plate: BackgroundPlate, t: float) -> bool:
        luma, seen = plate.luma, plate.seen_small
        if self._ref is not None and self._ref.shape == luma.shape:
            if self._asked_t is not None and t - self._asked_t < self._wait():
                return False
            if self.threaded and self._busy:
                return False
            new = cv2.bitwise_and(seen, cv2.bitwise_not(self._ref_seen))
            changed = cv2.bitwise_or(cv2.compare(cv2.absdiff(luma, self._ref), CHANGED_LEVEL, cv2.CMP_GT), new)
            if (cv2.countNonZero(new) <= NEW_SHARE * self.repaint * seen.size
                    and cv2.countNonZero(changed) <= self.repaint * seen.size):
                return False
        self._ref, self._ref_seen = luma.copy(), seen.copy()
        return True

    def _paint(self, image: np.ndarray, seen: np.ndarray) -> np.ndarray:
        t0 = time.perf_counter()
        out = self.paint(image, seen)
        self._last_s = time.perf_counter() - t0
        self.stats.paint_ms += self._last_s * 1000
        self.stats.repaints += 1
        return out

    def _publish(self, painted: np.ndarray, size: tuple[int, int], t: float, instant: bool) -> None:
        if painted.shape[1::-1] != size:
            painted = cv2.resize(painted, size, interpolation=cv2.INTER_CUBIC)
        self.stats.last_done, self._moved = t, False  # what is shown now is the room the plate holds
        if instant or self.fade <= 1 or self.shown is None:
            self.shown, self._old, self._new = painted, None, None
            return
        self._old, self._new, self._faded = self.shown, painted, 0

    def _step(self, size: tuple[int, int]) -> np.ndarray:
        if self._new is not None:
            self._faded += 1
            a = self._faded / self.fade
            if a >= 1:
                self.shown, self._old, self._new = self._new, None, None
            else:
                self.shown = cv2.addWeighted(self._new, a, self._old, 1.0 - a, 0)
        return self.shown

    # --- the worker ---------------------------------------------------------------------------------
    def _submit(self, image: np.ndarray, seen: np.ndarray, moved: bool = False) -> None:
        """Paint on the worker; ``moved``: the camera moved (the plate started over), so the old room shows until the
        new one is painted: the quicker painting (``first``, where there is one) comes first, and the new room's first
        painting replaces the old room's at once (the camera's picture jumped too: a cross-fade would show both)."""
        with self._cond:
            self._job = (image, seen, self._epoch, moved)
            self._busy = True
            self._cond.notify_all()
        if self._thread is None:
            self._thread = threading.Thread(target=self._work, name="painter", daemon=True)
            self._thread.start()

    def _work(self) -> None:
        if self.nice and hasattr(os, "setpriority"):  # on Linux a thread's nice value is its own
            try:
                os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), self.nice)
            except OSError:
                pass
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._job is not None or self._closed)
                if self._closed:
                    return
                (image, seen, epoch, moved), self._job = self._job, None
                first = self.first  # as set with this job (``set_paint`` changes it under the lock)
            try:
                if moved and first is not None:
                    painted = first(image, seen)  # not in ``stats``: they count whole paintings, as at the start
                    with self._cond:
                        self._result = (painted, epoch, True)
                        if self._job is not None or self._closed or epoch != self._epoch:  # a newer plate came, the
                            self._busy = self._job is not None  # room changed again, or a stop: not this one whole
                            continue
                    moved = False  # the whole painting then fades in over the quicker one, as at the start
                painted = self._paint(image, seen)
            except Exception as exc:  # noqa: BLE001 - e.g. the network ended by a stop (inference.stop_runs)
                with self._cond:
                    self._failure, self._busy, self._thread = exc, False, None  # the next job starts a new thread
                return
            with self._cond:  # a quicker painting shown at once, still unread, passes that on to the whole one
                unread = self._result is not None and self._result[1:] == (epoch, True)
                self._result = (painted, epoch, moved or unread)
                self._busy = self._job is not None

    def close(self) -> None:
        """Stop the worker (it finishes the painting it is on: one network run)."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=1.0)
            self._thread = None
