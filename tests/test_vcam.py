"""The real pyvirtualcam path with an in-process backend, and the real missing-device error."""
import re
import sys

import cv2
import numpy as np
import pytest
import pyvirtualcam
from conftest import run_cli
from typer.testing import CliRunner

from realtime.cli import app
from realtime.sinks import LINUX_FIX, VirtualCameraSink, to_vcam_format


class CaptureBackend:
    """A pyvirtualcam backend that keeps what it is sent (registered under 'test-capture')."""

    frames: list = []
    opened: list = []

    def __init__(self, *, width, height, fps, fourcc, device, **kw):
        CaptureBackend.opened.append((width, height, fps, fourcc, device))
        self._device = device or "test-capture0"

    def close(self):
        pass

    def send(self, frame):
        CaptureBackend.frames.append(frame.copy())

    def device(self):
        return self._device

    def native_fourcc(self):
        return None


@pytest.fixture
def backend():
    CaptureBackend.frames.clear()
    CaptureBackend.opened.clear()
    pyvirtualcam.register_backend("test-capture", CaptureBackend)
    return CaptureBackend


def test_camera_command_feeds_the_virtual_camera(backend, clip):
    r = CliRunner().invoke(app, ["camera", "--source", str(clip), "--vcam-backend", "test-capture",
                                 "--style", "udnie"])
    assert r.exit_code == 0, r.output
    assert "virtual camera: test-capture0 (test-capture backend, 320x180 BGR)" in r.output
    w, h, fps, fourcc, device = backend.opened[0]
    assert (w, h) == (320, 180)
    # a 30-frame clip played at its own speed: a slow host drops stale frames (fewer or more with its speed, so no
    # speed is asserted here), but every frame the pipeline put out reached the virtual camera
    sent, dropped = map(int, re.search(r"(\d+) frames, (\d+) stale frames dropped", r.output).groups())
    assert len(backend.frames) == sent >= 5 and sent + dropped <= 30
    f = backend.frames[-1].reshape(180, 320, 3)
    src = cv2.VideoCapture(str(clip))
    ok, first = src.read()
    assert f.std() > 5 and np.abs(f.astype(int) - first).mean() > 3  # real, filtered content


def test_vcam_yuv_formats(backend):
    frame = np.zeros((180, 320, 3), np.uint8)
    frame[:, :, 2] = 255  # pure red
    for fmt, size in [("I420", 320 * 180 * 3 // 2), ("NV12", 320 * 180 * 3 // 2), ("YUYV", 320 * 180 * 2),
                      ("RGB", 320 * 180 * 3)]:
        sink = VirtualCameraSink(320, 180, 30, fmt, backend="test-capture")
        sink.send(frame)
        sink.close()
        assert backend.frames[-1].size == size
    i420 = to_vcam_format(frame, "I420").reshape(-1)
    nv12 = to_vcam_format(frame, "NV12").reshape(-1)
    y = 320 * 180
    assert np.array_equal(i420[:y], nv12[:y])
    assert nv12[y] == i420[y] and nv12[y + 1] == i420[y + y // 4]  # U, V interleaved
    assert abs(int(i420[0]) - 81) <= 2  # BT.601 luma of pure red


def test_odd_width_for_yuv_is_rejected(backend):
    from realtime.errors import RealtimeError

    with pytest.raises(RealtimeError, match="I420 needs an even frame size, got 321x180"):
        VirtualCameraSink(321, 180, 30, "I420", backend="test-capture")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the v4l2loopback error is Linux's")
def test_missing_device_error_is_real(clip):
    import glob

    if glob.glob("/dev/video*"):
        pytest.skip("this machine has video devices")
    r = run_cli("camera", "--source", str(clip))
    assert r.returncode == 3
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in r.stderr
    assert LINUX_FIX in lines[0] and "realtime doctor" in lines[0]
