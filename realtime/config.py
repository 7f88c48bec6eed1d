"""Options shared by preview/camera/render/bench, and where they come from.

Precedence, lowest first: built-in defaults < the default config file (``realtime config`` prints its path) <
``--config FILE`` < environment variables ``REALTIME_OPT_<KEY>`` (``REALTIME_OPT_STYLE=starry_night``,
``REALTIME_OPT_MASK_SMOOTHING=0.7``) < command-line flags.
"""
from __future__ import annotations

import dataclasses
import json
import os
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from realtime import modes, providers
from realtime.errors import RealtimeError

VCAM_FORMATS = ("BGR", "RGB", "I420", "NV12", "YUYV", "UYVY")
# ONNX Runtime threads per network: more than a few per core only adds contention (and 100000 exhausts the OS)
MAX_THREADS = 4 * (os.cpu_count() or 1)


@dataclass
class Settings:
    """Everything that shapes the pipeline and its source; one field per command-line option."""

    source: str = "0"
    style: str = "udnie"
    mode: str = modes.DEFAULT
    background: str | None = None
    strength: float = 1.0
    width: int | None = None
    height: int | None = None
    fps: float | None = None
    style_scale: float | None = None  # None: auto (about 320x180 on a CPU, full resolution on a GPU)
    device: str = "auto"
    mirror: bool = False
    threads: int | None = None
    mask_smoothing: float = 0.6  # EMA weight of the previous mask where nothing moves (0 = none)
    style_smoothing: float = 0.8  # the same for the painting, against shimmering strokes (0 = none)
    mask_threshold: float | None = None
    mask_flip: bool = False  # average with the mirror image's mask (models/README.md, "The full person net")
    # person net input, 16:9 width; None: the net's own (256; person-full 384; live on a CPU person-full at the
    # largest of segment.FULL_NET_SIZES it affords); set, it also picks the file made for the nearest size
    mask_size: int | None = None
    # run the person net on at most every Nth frame (the edges follow every frame regardless); None: every other
    # frame where the start-up timing chose the full person file live on a CPU (segment.full_net_fit), else every
    # frame
    mask_every: int | None = None
    mask_reuse: int = 1  # live on a CPU, the person net's last answer serves up to this many frames in a row where
    # the picture held still (the last matte whole: the net, the edges and the plate's upkeep skipped) or barely moved
    # on the person (the net skipped; segment.MaskReuse) (0, render, GPU: never)
    feather: int = 3  # mask blur radius in pixels at output size
    feather_inside: bool = True  # the soft edge lies inside the person's outline, none of it on the background
    plate: bool = True  # style-background and blur work on a background plate (the room without the person)
    plate_size: int = 640  # live on a CPU the plate is painted at the output size up to this many pixels on the
    # longer side (render and a GPU: always the output size)
    plate_repaint: float = 0.01  # repaint the plate when this share of it changed (a tenth: seen for the first time)
    plate_duty: float = 0.2  # live on a CPU the plate's painter keeps at most this share of one core busy
    plate_margin: int = 3  # plate pixels the person mask is grown by before a pixel counts as background
    plate_trim: bool = True  # near the person's edge, where the frame shows the room the plate has seen, show it
    # as room (what the person network took for the person: a towel, a strip of bookcase)
    blur_strength: int = 21  # blur mode kernel size at 1/4 resolution
    vcam_device: str | None = None
    vcam_format: str = "BGR"
    extra: dict[str, Any] = field(default_factory=dict, repr=False)

    def validate(self) -> Settings:
        """Raise RealtimeError for any out-of-range value; return self."""
        self.mode = _choice("mode", self.mode, modes.NAMES)
        mode = modes.get(self.mode)
        self.device = _choice("device", self.device, providers.devices())
        self.vcam_format = _choice("--vcam-format", self.vcam_format, VCAM_FORMATS)
        if not 0.0 <= self.strength <= 1.0:
            raise RealtimeError(f"--strength must be between 0 and 1, got {self.strength}")
        if self.style_scale is not None and not 0.1 <= self.style_scale <= 1.0:
            raise RealtimeError(f"--style-scale must be between 0.1 and 1, got {self.style_scale}")
        for name in ("mask_smoothing", "style_smoothing"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise RealtimeError(f"{name} must be in [0, 1), got {getattr(self, name)}")
        if self.mask_threshold is not None and not 0.0 < self.mask_threshold < 1.0:
            raise RealtimeError(f"mask_threshold must be between 0 and 1, got {self.mask_threshold}")
        for name in ("width", "height"):
            v = getattr(self, name)
            if v is not None and not 16 <= v <= 7680:
                raise RealtimeError(f"--{name} must be between 16 and 7680, got {v}")
        if self.fps is not None and not 0 < self.fps <= 240:
            raise RealtimeError(f"--fps must be between 0 and 240, got {self.fps}")
        if mode.background == "picture" and not self.background:
            raise RealtimeError(f"--mode {mode.name} needs --background IMAGE")
        if self.mask_size is not None:
            from realtime.segment import check_long_side

            try:
                check_long_side(self.mask_size)
            except ValueError as e:
                raise RealtimeError(f"mask_size {e}") from None
        if self.feather < 0 or self.feather > 100:
            raise RealtimeError(f"feather must be between 0 and 100, got {self.feather}")
        if self.mask_every is not None and not 1 <= self.mask_every <= 4:
            raise RealtimeError(f"mask_every must be between 1 and 4, got {self.mask_every}")
        if not 0 <= self.mask_reuse <= 4:
            raise RealtimeError(f"mask_reuse must be between 0 and 4, got {self.mask_reuse}")
        if not 640 <= self.plate_size <= 7680:
            raise RealtimeError(f"plate_size must be between 640 and 7680, got {self.plate_size}")
        if not 0.0 <= self.plate_repaint <= 1.0:
            raise RealtimeError(f"plate_repaint must be between 0 and 1, got {self.plate_repaint}")
        if not 0.05 <= self.plate_duty <= 1.0:
            raise RealtimeError(f"plate_duty must be between 0.05 and 1, got {self.plate_duty}")
        if not 0 <= self.plate_margin <= 32:
            raise RealtimeError(f"plate_margin must be between 0 and 32, got {self.plate_margin}")
        if not 1 <= self.blur_strength <= 99:  # a kernel size; 100001 took minutes for one image
            raise RealtimeError(f"blur-strength must be between 1 and 99, got {self.blur_strength}")
        if self.threads is not None and not 1 <= self.threads <= MAX_THREADS:
            raise RealtimeError(f"--threads must be between 1 and {MAX_THREADS} (4 per CPU core), got {self.threads}")
        return self


def _choice(name: str, value: str, choices: tuple[str, ...]) -> str:
    """``value`` as spelt in ``choices``, whatever its case; RealtimeError when it is none of them."""
    found = next((c for c in choices if c.lower() == str(value).lower()), None)
    if found is None:
        raise RealtimeError(f"unknown {name} {value!r}; choose one of: {', '.join(choices)}")
    return found


def _names() -> dict[str, dataclasses.Field]:
    return {f.name: f for f in fields(Settings) if f.name != "extra"}


def load_config(path: Path) -> dict[str, Any]:
    """Read a TOML config; keys are option names (``style-scale`` or ``style_scale``)."""
    try:
        raw = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RealtimeError(f"config file not found: {path}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise RealtimeError(f"invalid config file {path}: {exc}") from None
    except OSError as exc:
        raise RealtimeError(f"cannot read config file {path}: {exc.strerror}") from None
    known = _names()
    out: dict[str, Any] = {}
    for key, value in raw.items():
        name = key.replace("-", "_")
        if name not in known:
            raise RealtimeError(f"invalid config file {path}: unknown key {key!r}")
        out[name] = _coerce(path, key, value, known[name])
    return out


def _base_type(f: dataclasses.Field) -> str:
    """"bool", "float", "int" or "str": what a key's value is, optional or not."""
    return next((k for k in ("bool", "float", "int", "str") if str(f.type).startswith(k)), "str")


def toml_line(key: str, value: Any) -> str:
    """``key = value`` as a config file holds it (``mask_smoothing`` is written ``mask-smoothing``)."""
    shown = str(value).lower() if isinstance(value, bool) else value if isinstance(value, int | float) \
        else json.dumps(str(value))
    return f"{key.replace('_', '-')} = {shown}"


def _coerce(path: Path, key: str, value: Any, f: dataclasses.Field) -> Any:
    ok = {
        "str": isinstance(value, (str, int)) and not isinstance(value, bool),
        "float": isinstance(value, (int, float)) and not isinstance(value, bool),
        "int": isinstance(value, int) and not isinstance(value, bool),
        "bool": isinstance(value, bool),
    }
    base = _base_type(f)
    if not ok[base]:
        raise RealtimeError(f"invalid config file {path}: {key} should be {base}, got {value!r}")
    return str(value) if base == "str" else float(value) if base == "float" else value


ENV_PREFIX = "REALTIME_OPT_"  # not REALTIME_<KEY>: REALTIME_STYLES (the user styles folder) is another thing
_TRUE, _FALSE = {"1", "true", "yes", "on"}, {"0", "false", "no", "off"}


def env_options(environ: dict[str, str]) -> dict[str, Any]:
    """The options set as ``REALTIME_OPT_<KEY>`` environment variables, typed; RealtimeError for a bad one."""
    out: dict[str, Any] = {}
    known = _names()
    for var, raw in environ.items():
        if not var.startswith(ENV_PREFIX):
            continue
        name = var[len(ENV_PREFIX):].lower()
        if name not in known:
            raise RealtimeError(f"unknown option in environment variable {var}; the keys are those of a config file")
        base = _base_type(known[name])
        try:
            if base == "bool":
                if raw.lower() not in _TRUE | _FALSE:
                    raise ValueError
                out[name] = raw.lower() in _TRUE
            else:
                out[name] = {"float": float, "int": int, "str": str}[base](raw)
        except ValueError:
            raise RealtimeError(f"environment variable {var} should be {base}, got {raw!r}") from None
    return out


def build_settings(config: Path | None, cli: dict[str, Any], environ: dict[str, str] | None = None) -> Settings:
    """Defaults < the default config file < ``config`` < ``REALTIME_OPT_*`` variables < the flags given (not None)."""
    from realtime.paths import config_file

    values: dict[str, Any] = {}
    default = config_file()
    if default.is_file():
        values.update(load_config(default))
    if config:
        values.update(load_config(config))
    values.update(env_options(os.environ if environ is None else environ))
    values.update({k: v for k, v in cli.items() if v is not None})
    return Settings(**values).validate()
