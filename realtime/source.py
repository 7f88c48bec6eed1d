"""Frame sources: webcams, video files, stream URLs, images and folders of images.

Live sources read on their own thread and keep only the newest frame (stale frames are dropped and
counted), so latency stays at about one frame plus inference. A camera that stops delivering is
reopened with backoff while the caller keeps its output fed.
"""
from __future__ import annotations

import logging
import os
import stat
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from realtime.errors import EXIT_NO_DEVICE, RealtimeError
from realtime.models import first_line

logger = logging.getLogger(__name__)

IMAGE_EXTS = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp"}
MJPG_FROM_PIXELS = 1280 * 720  # YUYV caps most webcams at 5-10 fps from 720p up


@dataclass
class Frame:
    """A captured frame, when it was captured (``time.perf_counter``) and its sequence number."""

    image: np.ndarray
    t_capture: float
    index: int


def source_kind(spec: str) -> str:
    """'camera', 'url', 'image', 'folder' or 'video' for a --source value."""
    if spec.isdigit() or is_device_path(spec):
        return "camera"
    if "://" in spec:
        return "url"
    p = Path(spec)
    if p.is_dir():
        return "folder"
    if p.suffix.lower() in IMAGE_EXTS:
        return "image"
    return "video"


def is_device_path(spec: str) -> bool:
    """A camera named by its device file (``/dev/video0``, the name Linux guides use), there or not."""
    if spec.startswith("/dev/video"):
        return True
    try:
        return stat.S_ISCHR(os.stat(spec).st_mode)
    except (OSError, ValueError):
        return False


def open_capture(spec: str, width: int | None = None, height: int | None = None,
                 fps: float | None = None) -> cv2.VideoCapture:
    """Open a camera index, video file or URL; RealtimeError with a clear reason when it cannot be used."""
    kind = source_kind(spec)
    os.environ.setdefault("OPENCV_LOG_LEVEL", "OFF")
    if kind == "camera":  # a device file through V4L2, the backend that opens one by name
        cap = cv2.VideoCapture(int(spec)) if spec.isdigit() else cv2.VideoCapture(spec, cv2.CAP_V4L2)
        if not cap.isOpened():
            raise RealtimeError(f"camera {spec} not found (run `realtime doctor` to list cameras)", EXIT_NO_DEVICE)
        _configure_camera(cap, spec, width, height, fps)
        return cap
    if kind == "video" and not Path(spec).is_file():
        raise RealtimeError(f"source not found: {spec}")
    cap = cv2.VideoCapture(spec)
    if not cap.isOpened():
        raise RealtimeError(f"cannot open {spec} as a video (unreadable file or unsupported format)")
    return cap


def _configure_camera(cap: cv2.VideoCapture, spec: str, width: int | None, height: int | None,
                      fps: float | None) -> None:
    if width and height and width * height >= MJPG_FROM_PIXELS:
        cap.set(cv2.CAP_PROP_FOURCC, cv2.VideoWriter_fourcc(*"MJPG"))
    if width:
        cap.set(cv2.CAP_PROP_FRAME_WIDTH, width)
    if height:
        cap.set(cv2.CAP_PROP_FRAME_HEIGHT, height)
    if fps:
        cap.set(cv2.CAP_PROP_FPS, fps)
    cap.set(cv2.CAP_PROP_BUFFERSIZE, 1)
    got_w, got_h = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
    if (width and got_w != width) or (height and got_h != height):
        cap.release()
        raise RealtimeError(f"camera {spec} refused {width or got_w}x{height or got_h}; it gives {got_w}x{got_h} "
                            f"(try --width {got_w} --height {got_h})")


def video_info(cap: cv2.VideoCapture) -> tuple[int, int, float, int]:
    """(width, height, fps, frame count) as the capture reports them (fps 30 and count -1 when unknown)."""
    fps = cap.get(cv2.CAP_PROP_FPS)
    count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
    return (int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)),
            fps if 0 < fps < 1000 else 30.0, count if count > 0 else -1)


def list_images(folder: Path) -> list[Path]:
    """Image files in ``folder``, sorted by name; hidden ones (macOS's ``._*``, a killed render's partial files)
    are not pictures of the folder."""
    return sorted(p for p in folder.iterdir()
                  if p.suffix.lower() in IMAGE_EXTS and p.is_file() and not p.name.startswith("."))


class LiveSource:
    """Reads a capture on a background thread; ``read()`` returns only the newest frame.

    ``opener`` makes a fresh capture (anything with ``read()``, ``release()``). When a live capture
    fails it is reopened with exponential backoff (0.1 s doubling to 0.5 s) until it delivers again.
    ``pace_fps`` plays a file at its own speed instead of as fast as it decodes; ``reconnect=False``
    (files) ends the stream at the first failed read. ``mirror`` flips every frame horizontally (a selfie view).
    """

    def __init__(self, opener: Callable[[], object], reconnect: bool = True, pace_fps: float | None = None,
                 loop: bool = False, mirror: bool = False) -> None:
        self._opener = opener
        self._mirror = mirror
        self._reconnect = reconnect
        self._pace = 1.0 / pace_fps if pace_fps else 0.0
        self._loop = loop
        self._cond = threading.Condition()
        self._latest: Frame | None = None
        self._stop = threading.Event()
        self.ended = False
        self.connected = True
        self.frames = 0
        self.dropped = 0
        self.reconnects = 0
        self._cap = opener()
        self._thread = threading.Thread(target=self._run, name="capture", daemon=True)

    def start(self) -> LiveSource:
        self._thread.start()
        return self

    def _run(self) -> None:
        next_t = time.perf_counter()
        backoff = 0.1
        while not self._stop.is_set():
            ok, img = self._cap.read() if self._cap is not None else (False, None)
            if not ok or img is None:
                if self._loop and not self._reconnect and self.frames:
                    self._reopen()
                    continue
                if not self._reconnect:
                    break
                with self._cond:
                    self.connected = False
                    self._cond.notify_all()
                self._stop.wait(backoff)
                backoff = min(backoff * 2, 0.5)
                self._reopen()
                continue
            backoff = 0.1
            if self._mirror:
                img = cv2.flip(img, 1)
            if self._pace:
                next_t += self._pace
                delay = next_t - time.perf_counter()
                if delay > 0:
                    self._stop.wait(delay)
                else:
                    next_t = time.perf_counter()
            with self._cond:
                if self._latest is not None:
                    self.dropped += 1
                self.connected = True
                self._latest = Frame(img, time.perf_counter(), self.frames)
                self.frames += 1
                self._cond.notify_all()
        with self._cond:
            self.ended = True
            self._cond.notify_all()

    def _reopen(self) -> None:
        try:
            if self._cap is not None:
                self._cap.release()
        except Exception:  # noqa: BLE001 - a dead device may fail to release
            pass
        try:
            self._cap = self._opener()
            self.reconnects += 1
        except Exception:  # noqa: BLE001 - keep retrying; read() reports the camera as lost
            self._cap = None

    def read(self, timeout: float = 0.5) -> Frame | None:
        """The newest frame not yet returned, waiting up to ``timeout`` s; None on timeout or at the end."""
        with self._cond:
            if self._latest is None and not self.ended:
                self._cond.wait_for(lambda: self._latest is not None or self.ended, timeout)
            frame, self._latest = self._latest, None
            return frame

    def close(self) -> None:
        """Stop the thread and release the device (within about one read)."""
        self._stop.set()
        self._thread.join(timeout=1.0)
        if self._cap is not None:
            try:
                self._cap.release()
            except Exception:  # noqa: BLE001
                pass
            self._cap = None


def open_live(spec: str, width: int | None = None, height: int | None = None, fps: float | None = None,
              loop: bool = False, mirror: bool = False) -> LiveSource:
    """A started LiveSource for preview/camera: cameras and URLs reconnect, files play at their fps."""
    kind = source_kind(spec)
    if kind in ("image", "folder"):
        images = read_images(spec)
        return LiveSource(lambda: _StillCapture(images), reconnect=False, pace_fps=fps or 30, loop=True,
                          mirror=mirror).start()
    cap = open_capture(spec, width, height, fps)  # fail fast with a clear error
    first = [cap]

    def opener() -> cv2.VideoCapture:
        return first.pop() if first else open_capture(spec, width, height, fps)

    if kind == "video":
        return LiveSource(opener, reconnect=False, pace_fps=video_info(cap)[2], loop=loop, mirror=mirror).start()
    return LiveSource(opener, reconnect=True, mirror=mirror).start()


class _StillCapture:
    """A capture-like object that repeats a list of images."""

    def __init__(self, images: list[np.ndarray]) -> None:
        self.images, self.i = images, 0

    def read(self) -> tuple[bool, np.ndarray]:
        img = self.images[self.i % len(self.images)]
        self.i += 1
        return True, img

    def release(self) -> None:
        pass


def read_images(spec: str) -> list[np.ndarray]:
    """An image file or a folder of images as BGR arrays; RealtimeError if none is readable."""
    p = Path(spec)
    paths = list_images(p) if p.is_dir() else [p]
    if not paths:
        raise RealtimeError(f"no images found in {spec}")
    out = []
    for path in paths:
        if not path.is_file():
            raise RealtimeError(f"source not found: {path}")
        img = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if img is None:
            raise RealtimeError(f"cannot read image {path} (not an image file or unsupported format)")
        out.append(img)
    return out


def iter_video(cap: cv2.VideoCapture, queue_size: int = 4) -> Iterator[np.ndarray]:
    """Every frame of a video, decoded one step ahead on a thread (nothing dropped)."""
    import queue

    q: queue.Queue = queue.Queue(queue_size)
    stop = threading.Event()

    def put(item: np.ndarray | None) -> None:
        while not stop.is_set():
            try:
                q.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    def reader() -> None:
        try:
            while not stop.is_set():
                ok, img = cap.read()
                if not ok:
                    break
                put(img)
        except cv2.error as exc:  # a frame the decoder cannot take: the video ends there (its caller counts frames)
            logger.warning("decoding stopped: %s", first_line(exc))
        finally:  # the end, however it came: the consumer is never left waiting
            put(None)

    t = threading.Thread(target=reader, name="decode", daemon=True)
    t.start()
    try:
        while (img := q.get()) is not None:
            yield img
    finally:
        stop.set()
        t.join(timeout=1.0)
