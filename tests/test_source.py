"""Capture: latest frame wins, stale frames counted; a camera that fails mid-stream is reconnected."""
import os
import threading
import time

import cv2
import numpy as np
import pytest

from realtime.errors import RealtimeError
from realtime.live import LiveLoop
from realtime.source import LiveSource, iter_video, open_capture, open_live


class FlakyCamera:
    """Delivers frames, then fails every read for ``outage`` s (as an unplugged camera does), then recovers.

    All instances share one clock, like one physical device that is reopened."""

    def __init__(self, state):
        self.state = state

    def read(self):
        s = self.state
        now = time.monotonic()
        s["reads"] += 1
        if s["fail_from"] <= now < s["fail_from"] + s["outage"]:
            return False, None
        time.sleep(1 / 100)
        return True, np.full((36, 64, 3), s.get("value", 200), np.uint8)

    def release(self):
        self.state["released"] += 1


def test_latest_frame_wins_and_drops_are_counted():
    state = {"reads": 0, "fail_from": 1e18, "outage": 0, "released": 0}
    src = LiveSource(lambda: FlakyCamera(state)).start()
    try:
        f1 = src.read(1.0)
        time.sleep(0.3)  # a slow consumer: ~30 frames arrive meanwhile
        f2 = src.read(1.0)
        assert f2.index - f1.index > 10
        assert src.dropped >= 10
        assert time.perf_counter() - f2.t_capture < 0.05  # the newest, not a stale one
    finally:
        src.close()
    assert state["released"] >= 1


def test_camera_lost_then_back_resumes_within_2s_and_keeps_the_sink_fed():
    state = {"reads": 0, "fail_from": time.monotonic() + 0.5, "outage": 1.5, "released": 0}
    src = LiveSource(lambda: FlakyCamera(state)).start()

    class Sink:
        frames: list = []

        def send(self, f):
            self.frames.append((time.monotonic(), f.copy()))

    class Identity:
        settings = type("S", (), {"mode": "none", "style": "x", "strength": 1.0})()
        timings = type("T", (), {"stages": {}})()
        accelerated = False
        painter_stats = None

        def process(self, img, t=None):
            return img

    sink = Sink()
    stop = threading.Event()
    loop = LiveLoop(Identity(), src, sink, window=False, stop=stop)
    t = threading.Thread(target=loop.run)
    t.start()
    time.sleep(4.0)
    stop.set()
    t.join(2)
    src.close()
    back = state["fail_from"] + state["outage"]
    during = [f for ts, f in sink.frames if state["fail_from"] + 0.6 < ts < back]
    assert during, "the virtual camera must be fed while the camera is lost"
    assert all(50 < f.mean() < 120 for f in during)  # the dimmed camera-lost card (last frame was 200)
    after = [ts for ts, f in sink.frames if ts > back and f.mean() == 200]
    assert after and after[0] - back < 2.0, "must resume within 2 s of the camera coming back"
    assert src.reconnects >= 1


def test_file_source_ends():
    frames = [np.zeros((8, 8, 3), np.uint8)] * 3

    class Cap:
        def __init__(self):
            self.i = 0

        def read(self):
            self.i += 1
            return (self.i <= 3), (frames[0] if self.i <= 3 else None)

        def release(self):
            pass

    src = LiveSource(Cap, reconnect=False).start()
    got = 0
    while src.read(1.0) is not None:
        got += 1
    assert src.ended and got >= 1
    src.close()


def test_live_video_file_plays_at_its_fps(clip):
    src = open_live(str(clip))
    t0 = time.perf_counter()
    n = 0
    while src.read(1.0) is not None:
        n += 1
    elapsed = time.perf_counter() - t0
    src.close()
    assert n >= 25 and elapsed > 30 / 25 * 0.8  # 30 frames at 25 fps take about 1.2 s


def test_errors():
    with pytest.raises(RealtimeError, match="source not found"):
        open_capture("/no/such/file.mp4")
    with pytest.raises(RealtimeError, match="camera 9 not found") as e:
        open_capture("9")
    assert e.value.exit_code == 3


def test_camera_device_node_is_opened_as_a_camera(tmp_path):
    """Issue #25 item 9: `--source /dev/video0` was "source not found", even for an existing device node; a device
    file is opened as a camera and fails as a camera index does (exit 3)."""
    import stat

    from realtime.source import source_kind

    node = tmp_path / "video0"
    try:
        os.mknod(node, 0o600 | stat.S_IFCHR, os.makedev(81, 0))  # video4linux's major number, no driver behind it
    except OSError as exc:
        pytest.skip(f"cannot make a device node here ({exc.strerror}); "
                    "test_missing_video_device_is_a_camera_error covers the same path")
    assert source_kind(str(node)) == "camera"
    with pytest.raises(RealtimeError, match=f"camera {node} not found") as e:
        open_capture(str(node))
    assert e.value.exit_code == 3


def test_missing_video_device_is_a_camera_error():
    """The same for a /dev/video path that is not there (the stand-in where no node can be made)."""
    from conftest import run_cli

    if os.path.exists("/dev/video9"):
        pytest.skip("this machine has a /dev/video9")
    r = run_cli("camera", "--source", "/dev/video9")
    assert r.returncode == 3, r.stderr
    assert r.stderr.strip().splitlines() == [
        "error: camera /dev/video9 not found (run `realtime doctor` to list cameras)"]


class Decoder:
    """A capture whose decoder gives ``good`` frames and then fails (a damaged frame), as OpenCV says it."""

    def __init__(self, good: int) -> None:
        self.good, self.reads = good, 0

    def read(self):
        self.reads += 1
        if self.reads > self.good:
            raise cv2.error("decoder: invalid data found when processing input")
        return True, np.zeros((4, 4, 3), np.uint8)


def test_a_video_whose_decoder_fails_ends_there_and_its_reader_stops(caplog):
    """The frames before the failure, then the end (the caller counts frames against the container's), one warning;
    never a wait for a frame that cannot come, nor a reader thread left behind."""
    frames = list(iter_video(Decoder(3)))
    assert len(frames) == 3
    assert "decoding stopped: decoder: invalid data" in caplog.text
    assert not [t for t in threading.enumerate() if t.name == "decode"]


def test_a_video_left_early_stops_its_reader():
    decoded = iter_video(Decoder(100))
    next(decoded)
    decoded.close()
    assert not [t for t in threading.enumerate() if t.name == "decode"]
