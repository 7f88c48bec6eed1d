"""Where filtered frames go: a virtual camera (pyvirtualcam), a preview window, video and image files,
each file written atomically."""
from __future__ import annotations

import contextlib
import errno
import os
import secrets
import shutil
import sys
from pathlib import Path

import cv2
import numpy as np

from realtime import encode
from realtime.errors import EXIT_NO_DEVICE, RealtimeError

LINUX_FIX = ('sudo modprobe v4l2loopback devices=1 exclusive_caps=1 video_nr=10 '
             'card_label="Realtime Style"')
YUV_FORMATS = {"I420", "NV12", "YUYV", "UYVY"}


def vcam_fix_hint() -> str:
    """How to get a virtual camera device on this OS."""
    if sys.platform.startswith("linux"):
        return f"load v4l2loopback: {LINUX_FIX}"
    if sys.platform == "darwin":
        return "install OBS Studio and start its virtual camera once"
    return "install OBS Studio (its virtual camera) or Unity Capture"


def to_vcam_format(frame: np.ndarray, fmt: str) -> np.ndarray:
    """Convert a BGR frame to the pixel layout pyvirtualcam expects for ``fmt`` (OpenCV conversions)."""
    if fmt == "BGR":
        return frame
    if fmt == "RGB":
        return cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
    if fmt == "I420":
        return cv2.cvtColor(frame, cv2.COLOR_BGR2YUV_I420)
    if fmt == "NV12":
        h, w = frame.shape[:2]
        i420 = cv2.cvtColor(frame, cv2.COLOR_BGR2YUV_I420).reshape(-1)
        out = np.empty_like(i420)
        q = w * h // 4
        out[: w * h] = i420[: w * h]
        out[w * h::2] = i420[w * h: w * h + q]  # U
        out[w * h + 1::2] = i420[w * h + q:]  # V
        return out
    if fmt == "YUYV":
        return cv2.cvtColor(frame, cv2.COLOR_BGR2YUV_YUYV)
    if fmt == "UYVY":
        return cv2.cvtColor(frame, cv2.COLOR_BGR2YUV_UYVY)
    raise RealtimeError(f"unknown virtual camera format {fmt!r}")


class VirtualCameraSink:
    """Sends frames to a virtual camera that Zoom/Meet/Teams/OBS can pick."""

    def __init__(self, width: int, height: int, fps: float, fmt: str = "BGR", device: str | None = None,
                 backend: str | None = None) -> None:
        import pyvirtualcam

        if fmt in YUV_FORMATS and (width % 2 or height % 2):
            raise RealtimeError(f"{fmt} needs an even frame size, got {width}x{height} "
                                "(use --vcam-format BGR or an even --width/--height)")
        self.fmt = fmt
        if backend is not None:  # names as registered, whatever case they are given in
            known = {b.lower(): b for b in pyvirtualcam.camera.BACKENDS}
            if backend.lower() not in known:
                raise RealtimeError(f"unknown virtual camera backend {backend!r} (available: "
                                    f"{', '.join(known.values()) or 'none on this system'})", EXIT_NO_DEVICE)
            backend = known[backend.lower()]
        try:
            self.cam = pyvirtualcam.Camera(width, height, fps, fmt=pyvirtualcam.PixelFormat[fmt], device=device,
                                           backend=backend)
        except RuntimeError as exc:
            raise RealtimeError(_vcam_error(str(exc), device), EXIT_NO_DEVICE) from None
        except ValueError as exc:
            raise RealtimeError(f"virtual camera refused {width}x{height} {fmt}: {exc}", EXIT_NO_DEVICE) from None

    @property
    def device(self) -> str:
        return f"{self.cam.device} ({self.cam.backend} backend, {self.cam.width}x{self.cam.height} {self.fmt})"

    def send(self, frame: np.ndarray) -> None:
        self.cam.send(to_vcam_format(frame, self.fmt))

    def close(self) -> None:
        self.cam.close()


def _vcam_error(text: str, device: str | None) -> str:
    low = text.lower()
    if "busy" in low or "in use" in low or "resource" in low:
        return f"virtual camera {device or ''} is busy (another program is writing to it); close it or pick " \
               "another with --vcam-device".replace("  ", " ")
    if device and ("not" in low or "no " in low):
        return f"virtual camera device {device} not found or not a loopback device; {vcam_fix_hint()}; " \
               "see `realtime doctor`"
    return f"no virtual camera device found; {vcam_fix_hint()}, then try again (details: `realtime doctor`)"


def os_reason(exc: OSError) -> str:
    """The OS's reason a write failed, in words ("disk full" for no space or no quota left)."""
    return "disk full" if exc.errno in (errno.ENOSPC, errno.EDQUOT) else exc.strerror or str(exc)


class AtomicFile:
    """A file that appears at ``path`` only once it is complete: written to a temporary file beside it (same
    folder, so the move is atomic; same extension, so OpenCV picks the same format) and moved over ``path`` by
    ``commit``. ``discard``, an error, Ctrl-C or a kill before ``commit`` leave whatever was at ``path``
    as it was (a kill leaves the hidden ``.NAME.partial-*`` file behind).
    """

    def __init__(self, path: Path) -> None:
        check_writable(path)
        self.path = path
        self.target = Path(os.path.realpath(path))  # through a symlink, not over it
        self.tmp = self.target.with_name(f".{path.stem}.partial-{secrets.token_hex(4)}{path.suffix}")
        with self._reasons(discard=False):  # created here, so that a refusal is the OS's own reason
            self.tmp.open("xb").close()

    @contextlib.contextmanager
    def _reasons(self, discard: bool = True):
        """OSError -> RealtimeError with the OS's reason (the temporary file removed)."""
        try:
            yield
        except OSError as exc:
            if discard:
                self.discard()
            raise RealtimeError(f"cannot write {self.path}: {os_reason(exc)}") from None

    def write_bytes(self, data: bytes) -> None:
        with self._reasons(), self.tmp.open("wb") as f:
            f.write(data)

    def commit(self) -> None:
        with self._reasons():
            os.replace(self.tmp, self.target)

    def discard(self) -> None:
        self.tmp.unlink(missing_ok=True)


def write_problem(folder: Path) -> str | None:
    """Why files cannot be written in ``folder`` now (a probe write: "disk full", the OS's reason), or None."""
    probe = folder / f".realtime-probe-{secrets.token_hex(4)}"
    try:
        with probe.open("xb") as f:
            f.write(bytes(65536))
            f.flush()
            os.fsync(f.fileno())
        return None
    except OSError as exc:
        return os_reason(exc)
    finally:
        probe.unlink(missing_ok=True)


class VideoFileSink:
    """Writes frames (BGR, or one channel for a matte) to a video file at a fixed size and fps, with the audio of
    ``audio_from`` when it has any: H.264 in .mp4/.mov/.mkv, MJPEG in .avi (``realtime.encode``, through PyAV).

    The file appears at ``path`` on ``close`` only if it holds every frame sent (read back to check); with no frame
    sent, nothing is written. As a context manager, an exception discards the file instead. ``end_of_input`` before
    ``close`` when the source was read to its end: the rest of its audio goes in too; without it (a stopped render)
    the audio ends with the last frame."""

    def __init__(self, path: Path, width: int, height: int, fps: float, quality: encode.Quality | None = None,
                 audio_from: str | None = None) -> None:
        container = encode.container_for(path)
        self.path = path
        self.file = AtomicFile(path)
        self.frames = 0
        self.writer = None
        self.writer = self._guard(lambda: encode.VideoWriter(self.file.tmp, container, width, height, fps, quality,
                                                             audio_from))

    def _guard(self, step):
        """Run a write step; an error (the disk full, an encoder's refusal) discards the file, in one line."""
        import av

        try:
            return step()
        except (OSError, av.FFmpegError) as exc:
            self.discard()
            why = os_reason(exc) if isinstance(exc, OSError) and exc.errno else str(exc)
            raise RealtimeError(f"cannot write {self.path}: {why}; nothing was written") from None
        except BaseException:
            self.discard()
            raise

    def send(self, frame: np.ndarray) -> None:
        if shutil.disk_usage(self.file.tmp.parent).free == 0:  # stop at once, not after the whole render
            self.discard()
            raise RealtimeError(f"cannot write {self.path}: disk full; nothing was written")
        self._guard(lambda: self.writer.write(frame))
        self.frames += 1

    def end_of_input(self) -> None:
        self._guard(self.writer.end_of_input)

    def close(self) -> None:
        writer, self.writer = self.writer, None
        self._guard(writer.close)
        if not self.frames:
            self.file.discard()
            return
        got = encode.count_frames(self.file.tmp)
        if got != self.frames:
            why = write_problem(self.path.parent) or f"the file holds {max(got, 0)} of {self.frames} frames"
            self.file.discard()
            raise RealtimeError(f"cannot write {self.path}: {why}; nothing was written")
        self.file.commit()

    def discard(self) -> None:
        if self.writer is not None:
            writer, self.writer = self.writer, None
            with contextlib.suppress(Exception):  # already failing: the first error is the one to report
                writer.close()
        self.file.discard()

    def __enter__(self) -> VideoFileSink:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.discard()


def check_writable(path: Path) -> None:
    """RealtimeError unless ``path`` can be created (its folder exists and is writable)."""
    folder = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        raise RealtimeError(f"output {path} is a folder; give a file name")
    if not folder.is_dir():
        why = "is not a folder" if folder.exists() else "does not exist"
        raise RealtimeError(f"cannot write {path}: {folder} {why}")
    if not os.access(folder, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise RealtimeError(f"cannot write {path}: permission denied")


def write_image(path: Path, image: np.ndarray) -> None:
    """Write an image file atomically (see ``AtomicFile``); RealtimeError with the reason when it cannot be."""
    try:  # encoded in memory, so that a failed write is the OS's error, not a codec's message on stderr
        ok, data = cv2.imencode(path.suffix, image)
    except cv2.error:
        ok = False
    if not ok:
        raise RealtimeError(f"cannot write image {path}: no image encoder for {path.suffix or 'no extension'} "
                            "(use .png or .jpg)")
    write_file(path, data.tobytes())


def write_file(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (see ``AtomicFile``); RealtimeError with the OS's reason."""
    f = AtomicFile(path)
    f.write_bytes(data)
    f.commit()
