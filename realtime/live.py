"""The live loop behind `realtime preview` and `realtime camera`: newest frame -> pipeline -> sinks."""
from __future__ import annotations

import logging
import re
import threading
import time
from collections import deque
from pathlib import Path

import cv2
import numpy as np

from realtime import modes
from realtime.errors import RealtimeError
from realtime.hud import draw_hud, lost_card
from realtime.models import FULL, list_styles
from realtime.paths import snapshots_dir
from realtime.pipeline import Pipeline
from realtime.sinks import write_image
from realtime.source import LiveSource
from realtime.window import PreviewWindow

WINDOW = "realtime"
LOST_AFTER_S = 0.5  # no frame for this long: show the camera-lost card
HUD_REFRESH_S = 0.25  # the overlay's figures are made anew four times a second (``LiveLoop._hud_now``)
DROPS_S = 5.0  # the overlay counts the stale frames dropped over this many seconds (``LiveLoop.recent_drops``)
KEYS_HELP = "n/p style  m mode  i invert  +/- strength  f overlay  s snapshot  q quit"
MASK_KEYS = "[ ] feather  , . smoothing  t threshold  w save"
THRESHOLDS = (None, 0.3, 0.5, 0.7)  # the `t` key's steps: soft, then ever harder cuts

logger = logging.getLogger(__name__)


def save_mask_settings(settings) -> Path:
    """Write the live-tuned mask keys into the default config file: each one's line replaced where the file has it,
    else added at its end, and a soft threshold (None) takes the threshold's line out; the rest of the file, comments
    and order included, stays as it was."""
    import tomllib

    from realtime.config import toml_line
    from realtime.paths import config_file
    from realtime.sinks import write_file

    path = config_file()
    try:
        raw = path.read_bytes().decode("utf-8") if path.is_file() else ""
        kept = tomllib.loads(raw)
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise RealtimeError(f"cannot update {path}: {exc}") from None
    tuned = {"feather": settings.feather, "mask-smoothing": settings.mask_smoothing,
             "mask-threshold": settings.mask_threshold}
    newline = "\r\n" if "\r\n" in raw else "\n"  # a file written on Windows keeps its line ends
    lines = raw.splitlines()
    for key, value in tuned.items():
        # the key bare or quoted, mask-smoothing or mask_smoothing (not feather-inside); a comment after it is kept
        own = re.compile(rf"""\s*(["']?){key.replace('-', '[-_]')}\1\s*=\s*[^#\s]*(\s*#.*)?$""")
        at = [(i, m) for i, m in ((i, own.match(line)) for i, line in enumerate(lines)) if m]
        for i, _ in reversed(at[1:]):
            del lines[i]
        if at and value is None:
            del lines[at[0][0]]
        elif at:
            lines[at[0][0]] = toml_line(key, value) + (at[0][1][2] or "")
        elif value is not None:
            lines.append(toml_line(key, value))
    saved = newline.join(lines) + newline
    try:
        read_back = {k.replace("_", "-"): v for k, v in tomllib.loads(saved).items()}
    except tomllib.TOMLDecodeError:
        read_back = None
    expected = {k.replace("_", "-"): v for k, v in kept.items() if k.replace("_", "-") not in tuned}
    expected.update({k: v for k, v in tuned.items() if v is not None})
    if read_back != expected:  # a layout the lines above do not edit rightly: the values, rewritten without comments
        logger.warning("%s: rewritten with its settings only (its comments could not be kept)", path)
        saved = "\n".join(toml_line(k, v) for k, v in expected.items()) + "\n"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise RealtimeError(f"cannot create {path.parent}: {exc.strerror}") from None
    write_file(path, saved.encode())
    return path


class LiveLoop:
    """Runs until the source ends, the user quits, or ``stop`` is set.

    ``vcam`` gets every output frame (and the camera-lost card while the camera is away);
    ``window`` shows the same with the overlay and handles the hotkeys.
    """

    def __init__(self, pipeline: Pipeline, source: LiveSource, vcam=None, window: bool = False,
                 snapshot_dir: Path | None = None, stop: threading.Event | None = None) -> None:
        self.pipeline, self.source, self.vcam, self.window = pipeline, source, vcam, window
        self.snapshot_dir = snapshot_dir or snapshots_dir()
        self.stop = stop or threading.Event()
        self.show_hud = True
        # n/p cycle through the styles made for where the networks run (the full nets are for GPUs)
        on_gpu = pipeline.accelerated
        self.styles = [s.name for s in list_styles() if on_gpu or not s.name.endswith(FULL)]
        self.repaint_times: deque[float] = deque(maxlen=30)
        self._repaints_seen = 0
        self.latencies: deque[float] = deque(maxlen=300)
        self.frame_times: deque[float] = deque(maxlen=60)
        # the overlay shows each stage's mean over the last 30 frames: a reused matte makes `segment` alternate
        self.stage_times: deque[dict[str, float]] = deque(maxlen=30)
        self.frames_out = 0
        self.last_out: np.ndarray | None = None
        self.size: tuple[int, int] | None = None
        self.quit_by_user = False
        self._win: PreviewWindow | None = None
        self._drops: deque[tuple[float, int]] = deque()  # (time, the source's dropped count), over DROPS_S
        self._hud: list[str] | None = None  # the overlay's lines, and when they were made (``_hud_now``)
        self._hud_t = 0.0

    def run(self) -> None:
        last_frame_t = time.perf_counter()
        if self.window:
            self._win = PreviewWindow(WINDOW)
        try:
            while not self.stop.is_set():
                frame = self.source.read(timeout=0.1)
                now = time.perf_counter()
                if frame is None:
                    if self.source.ended:
                        break
                    if now - last_frame_t > LOST_AFTER_S and self.size:
                        self._emit(lost_card(self.last_out, self.size), hud=False)
                    if self.window:
                        self._keys()
                    continue
                last_frame_t = now
                out = self.pipeline.process(frame.image, frame.t_capture)
                if out.ndim == 2:  # the matte: windows and virtual cameras take colour frames
                    out = cv2.cvtColor(out, cv2.COLOR_GRAY2BGR)
                self.size = (out.shape[1], out.shape[0])
                self.last_out = out
                self.stage_times.append(dict(self.pipeline.timings.stages))
                self._emit(out, hud=True)
                self.latencies.append((time.perf_counter() - frame.t_capture) * 1000)
                self.frame_times.append(time.perf_counter())
                self.frames_out += 1
                if self.window:
                    self._keys()
        finally:
            if self._win is not None:
                self._win.close()

    @property
    def fps(self) -> float:
        t = self.frame_times
        return (len(t) - 1) / (t[-1] - t[0]) if len(t) > 1 and t[-1] > t[0] else 0.0

    def _emit(self, out: np.ndarray, hud: bool) -> None:
        if self.vcam is not None:
            self.vcam.send(out)
        if self.window:
            shown = draw_hud(out, self._hud_now()) if hud and self.show_hud else out
            self._win.show(shown)

    def _hud_now(self) -> list[str]:
        """The overlay's lines, made anew every ``HUD_REFRESH_S`` (figures changing 30 times a second cannot be read,
        and drawing them costs the live thread) and at once after a key."""
        now = time.perf_counter()
        if self._hud is None or now - self._hud_t >= HUD_REFRESH_S:
            self._hud, self._hud_t = self._hud_lines(), now
        return self._hud

    def _hud_lines(self) -> list[str]:
        s = self.pipeline.settings
        stages = "  ".join(f"{k} {v:.1f}" for k, v in self.stage_means().items())
        lat = sorted(self.latencies)[len(self.latencies) // 2] if self.latencies else 0.0
        lines = [f"{self.fps:.1f} fps  latency {lat:.0f} ms  dropped {self.recent_drops()} in {DROPS_S:.0f} s",
                 f"ms: {stages}"]
        if (plate := self.plate_line()) is not None:
            lines.append(plate)
        cut = "soft" if s.mask_threshold is None else f"{s.mask_threshold:.1f}"
        return lines + [f"{s.mode}  style {Path(s.style).stem}  strength {s.strength:.1f}",
                        f"mask: threshold {cut}  feather {s.feather}  smoothing {s.mask_smoothing:.1f}   {MASK_KEYS}",
                        KEYS_HELP]

    def recent_drops(self) -> int:
        """Stale frames the source dropped over the last ``DROPS_S`` seconds (as far back as this was first asked): what
        a user can act on, unlike the count since start, which holds the frames the camera sent while the networks
        loaded and the window opened (the summary at the end gives that)."""
        now, drops = time.perf_counter(), self._drops
        drops.append((now, self.source.dropped))
        while now - drops[0][0] > DROPS_S:
            drops.popleft()
        return self.source.dropped - drops[0][1]

    def stage_means(self) -> dict[str, float]:
        """Each stage's mean milliseconds over the recent frames (a stage a frame skipped counts as 0 there)."""
        frames = self.stage_times
        names = dict.fromkeys(k for f in frames for k in f)
        return {k: sum(f.get(k, 0.0) for f in frames) / len(frames) for k in names}

    def plate_line(self) -> str | None:
        """The plate's age and repaint rate, when the mode paints a plate."""
        stats = self.pipeline.painter_stats
        if stats is None:
            return None
        now = time.perf_counter()
        if stats.repaints != self._repaints_seen:
            self.repaint_times.extend([now] * (stats.repaints - self._repaints_seen))
            self._repaints_seen = stats.repaints
        rate = sum(1 for x in self.repaint_times if now - x <= 5.0) / 5.0
        age = now - stats.last_done if stats.last_done is not None else 0.0
        return f"plate: age {age:.1f} s  {rate:.1f} repaints/s  {stats.ms_per_repaint:.0f} ms each"

    def _keys(self) -> None:
        key = self._win.key()
        if self._win.gone:  # closed by the user or the window manager, or destroyed
            self.quit_by_user = True
            self.stop.set()
            return
        if key == 255:
            return
        self.handle_key(chr(key) if key != 27 else "esc")

    def handle_key(self, key: str) -> None:
        """Apply one hotkey (also used by tests). A mode or style that cannot load is one line, and the call goes
        on as it was."""
        try:
            self._apply_key(key)
        except RealtimeError as exc:
            logger.error("%s", exc)
        self._hud = None  # what the key changed shows at once

    def _apply_key(self, key: str) -> None:
        p = self.pipeline
        if key in ("q", "esc"):
            self.quit_by_user = True
            self.stop.set()
        elif key == "f":
            self.show_hud = not self.show_hud
        elif key in ("n", "p") and self.styles:
            cur = Path(p.settings.style).stem
            i = self.styles.index(cur) if cur in self.styles else -1
            p.set_style(self.styles[(i + (1 if key == "n" else -1)) % len(self.styles)])
        elif key == "m":
            p.set_mode(modes.cycle(p.mode.name, has_picture=bool(p.settings.background)))
            self.stage_times.clear()  # the new mode's stages only
        elif key == "i" and p.mode.inverse:
            p.set_mode(p.mode.inverse)
            self.stage_times.clear()
        elif key in ("+", "="):
            p.set_strength(p.settings.strength + 0.1)
        elif key in ("-", "_"):
            p.set_strength(p.settings.strength - 0.1)
        elif key in ("[", "]"):
            p.set_mask(feather=min(20, max(0, p.settings.feather + (1 if key == "]" else -1))))
        elif key in (",", "."):
            p.set_mask(mask_smoothing=min(0.9, max(0.0, round(p.settings.mask_smoothing + (0.1 if key == "." else -0.1),
                                                                1))))
        elif key == "t":
            cur = p.settings.mask_threshold
            p.set_mask(mask_threshold=THRESHOLDS[(THRESHOLDS.index(cur) + 1) % len(THRESHOLDS)
                                                 if cur in THRESHOLDS else 0])
        elif key == "w":
            logger.info("saved the mask settings to %s", save_mask_settings(p.settings))
        elif key == "s" and self.last_out is not None:
            path = self.snapshot_dir / time.strftime("realtime-%Y%m%d-%H%M%S.png")
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise RealtimeError(f"cannot save a snapshot in {path.parent}: {exc.strerror}") from None
            write_image(path, self.last_out)
            logger.info("saved %s", path)
