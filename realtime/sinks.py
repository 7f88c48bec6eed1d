"""Where filtered frames go: a virtual camera (pyvirtualcam), a preview window, video and image files."""
from __future__ import annotations

import os
import sys
from pathlib import Path

import cv2
import numpy as np

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
        if backend is not None and backend not in pyvirtualcam.camera.BACKENDS:
            known = ", ".join(pyvirtualcam.camera.BACKENDS) or "none on this system"
            raise RealtimeError(f"unknown virtual camera backend {backend!r} (available: {known})", EXIT_NO_DEVICE)
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


class VideoFileSink:
    """Writes frames to a video file (mp4/avi/mkv) at a fixed size and fps; finalised on close."""

    CODECS = {".mp4": "mp4v", ".m4v": "mp4v", ".mov": "mp4v", ".avi": "MJPG", ".mkv": "mp4v"}

    def __init__(self, path: Path, width: int, height: int, fps: float, color: bool = True) -> None:
        check_writable(path)
        fourcc = cv2.VideoWriter_fourcc(*self.CODECS.get(path.suffix.lower(), "mp4v"))
        self.path = path
        self.writer = cv2.VideoWriter(str(path), fourcc, fps, (width, height), color)
        if not self.writer.isOpened():
            raise RealtimeError(f"cannot write video {path} (unsupported extension? use .mp4, .avi or .mkv)")

    def send(self, frame: np.ndarray) -> None:
        self.writer.write(frame)

    def close(self) -> None:
        self.writer.release()


def check_writable(path: Path) -> None:
    """RealtimeError unless ``path`` can be created (its folder exists and is writable)."""
    folder = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        raise RealtimeError(f"output {path} is a folder; give a file name")
    if not folder.is_dir():
        raise RealtimeError(f"cannot write {path}: folder {folder} does not exist")
    if not os.access(folder, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise RealtimeError(f"cannot write {path}: permission denied")


def write_image(path: Path, image: np.ndarray) -> None:
    """Write an image file; RealtimeError when it cannot be written."""
    check_writable(path)
    try:
        ok = cv2.imwrite(str(path), image)
    except cv2.error:
        ok = False
    if not ok:
        raise RealtimeError(f"cannot write image {path} (unsupported extension? use .png or .jpg)")
