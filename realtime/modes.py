"""The modes: what each needs and how it composes its output. One table; config validation, the CLI's
choices, the live loop's `m` and `i` keys and the pipeline all read it. Adding a mode is one entry here plus
its compositing function."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from realtime import composite


@dataclass
class Layers:
    """What a mode composes from, all at the output size."""

    frame: np.ndarray  # uint8 BGR, the camera frame
    person: np.ndarray | None  # uint8 HxW, 255 = person
    painted: np.ndarray | None  # the frame painted by the style network (per-frame modes)
    background: np.ndarray | None  # the background layer: painted or blurred plate, or a replacement picture
    strength: float


def _over_background(x: Layers) -> np.ndarray:
    if x.strength >= 1:  # the same blend, the layers swapped: the person's weight needs no inverting
        return composite.blend(x.frame, x.background, x.person)
    return composite.blend(x.background, x.frame, composite.scaled(x.person, x.strength, invert=True))


def _style_person(x: Layers) -> np.ndarray:
    return composite.blend(x.painted, x.frame, composite.scaled(x.person, x.strength))


def _style_all(x: Layers) -> np.ndarray:
    return composite.blend(x.painted, x.frame, x.strength)


def _matte(x: Layers) -> np.ndarray:
    return x.person


def _none(x: Layers) -> np.ndarray:
    return x.frame


@dataclass(frozen=True)
class Mode:
    name: str
    help: str
    compose: Callable[[Layers], np.ndarray]
    mask: bool = False  # needs the person network
    paint_frame: bool = False  # the style network paints every frame
    background: str | None = None  # "paint" or "blur": the background plate, so treated; "picture": --background
    inverse: str | None = None  # the `i` key's partner
    channels: int = 3  # of the output: 3 (BGR) or 1 (a matte)
    # where the soft edge of the person lies (the mask's 0..1 remapped from lo..hi, see composite.guided_upsample):
    # a painted room differs from the person's own colours, so its edge sits inside the outline (no fringe);
    # a blurred room is close to the real one, so the edge can keep more of the person
    edge: tuple[float, float] = (0.3, 0.7)

    @property
    def needs_style(self) -> bool:
        return self.paint_frame or self.background == "paint"


MODES: dict[str, Mode] = {m.name: m for m in (
    Mode("style-background", "the room painted, you as you are", _over_background, mask=True, background="paint",
         inverse="style-person"),
    Mode("style-person", "you painted, the room as it is", _style_person, mask=True, paint_frame=True,
         inverse="style-background"),
    Mode("style-all", "the whole frame painted", _style_all, paint_frame=True),
    Mode("blur", "the room blurred", _over_background, mask=True, background="blur", edge=(0.4, 0.8)),
    Mode("replace", "the room replaced by --background IMAGE", _over_background, mask=True, background="picture"),
    Mode("mask", "the person matte (one channel, 255 = person)", _matte, mask=True, channels=1),
    Mode("none", "the camera frame unchanged", _none),
)}
NAMES = tuple(MODES)
DEFAULT = NAMES[0]


def get(name: str) -> Mode:
    from realtime.errors import RealtimeError

    try:
        return MODES[name]
    except KeyError:
        raise RealtimeError(f"unknown mode {name!r}; choose one of: {', '.join(NAMES)}") from None


def cycle(name: str, has_picture: bool) -> str:
    """The mode after ``name`` (the `m` key), skipping those that need a picture there is none of."""
    i = NAMES.index(name)
    for step in range(1, len(NAMES) + 1):
        m = MODES[NAMES[(i + step) % len(NAMES)]]
        if m.background != "picture" or has_picture:
            return m.name
    return name


def help_text() -> str:
    return "; ".join(f"{m.name}: {m.help}" for m in MODES.values())
