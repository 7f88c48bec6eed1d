"""The preview window under Xvfb: it shows filtered frames and quits on a key."""
import contextlib
import os
import shutil
import subprocess
import sys
import time

import numpy as np
import pytest
from conftest import REPO, synthetic_frames, write_video

pytestmark = pytest.mark.skipif(not (shutil.which("Xvfb") and shutil.which("xdotool") and shutil.which("xwd")),
                                reason="needs Xvfb, xdotool and xwd (apt-get install xvfb xdotool x11-apps)")


@contextlib.contextmanager
def xvfb():
    display = f":{90 + os.getpid() % 500}"
    proc = subprocess.Popen(["Xvfb", display, "-screen", "0", "1024x768x24", "-nolisten", "tcp"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(1.0)
    try:
        yield display
    finally:
        proc.terminate()
        proc.wait(5)


def read_xwd(data: bytes) -> np.ndarray:
    """Decode an X window dump (24- or 32-bit ZPixmap, as Xvfb writes at depth 24) to an RGB array."""
    hdr = np.frombuffer(data[:100], ">u4")
    header_size, width, height, bpp, bpl, ncolors = hdr[0], hdr[4], hdr[5], hdr[11], hdr[12], hdr[19]
    assert bpp in (24, 32), bpp
    n = int(bpp) // 8
    start = int(header_size + ncolors * 12)
    px = np.frombuffer(data[start:start + bpl * height], np.uint8).reshape(height, bpl)[:, : width * n]
    px = px.reshape(height, width, n)
    lsb_first = hdr[7] == 0
    return px[:, :, 2::-1] if lsb_first else px[:, :, n - 3:]


def wait_for_window(display: str, timeout: float = 30) -> str:
    env = {**os.environ, "DISPLAY": display}
    deadline = time.time() + timeout
    while time.time() < deadline:
        r = subprocess.run(["xdotool", "search", "--onlyvisible", "--name", "realtime"], capture_output=True,
                           text=True, env=env)
        if r.stdout.strip():
            return r.stdout.split()[0]
        time.sleep(0.3)
    raise AssertionError("the preview window never appeared")


def wait_for_picture(env: dict, timeout: float = 20) -> bool:
    """Whether the screen shows a picture (not a flat window) within ``timeout`` s: the first frame comes after
    both networks load and warm up, which on a loaded machine (a fresh venv compiling its imports) takes a while."""
    deadline = time.time() + timeout
    while True:
        time.sleep(1.0)
        img = read_xwd(subprocess.run(["xwd", "-root", "-silent"], capture_output=True, env=env).stdout)
        if img.reshape(-1, 3).std(axis=0).mean() > 10:
            return True
        if time.time() > deadline:
            return False


def test_preview_shows_frames_and_quits_on_q(tmp_path):
    # 30 s of video: the preview must still be running when the keys arrive, even on a loaded machine
    clip = write_video(tmp_path / "clip.mp4", synthetic_frames(750, 320, 180), 25)
    with xvfb() as display:
        env = {**os.environ, "DISPLAY": display}
        p = subprocess.Popen([sys.executable, "-m", "realtime", "preview", "--source", str(clip)], cwd=REPO,
                             env=env, stderr=subprocess.PIPE, text=True)
        try:
            win = wait_for_window(display)
            assert wait_for_picture(env), "the window shows no picture"
            subprocess.run(["xdotool", "windowactivate", "--sync", win], env=env, capture_output=True)
            subprocess.run(["xdotool", "key", "--window", win, "f", "m", "i", "plus", "n"], env=env)
            time.sleep(0.5)
            assert p.poll() is None, "hotkeys must not end the preview"
            subprocess.run(["xdotool", "key", "--window", win, "q"], env=env)
            rc = p.wait(timeout=10)
        finally:
            if p.poll() is None:
                p.kill()
        err = p.stderr.read()
        assert rc == 0, err
        assert "Traceback" not in err
