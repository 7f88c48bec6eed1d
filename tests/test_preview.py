"""The preview window under Xvfb: it shows filtered frames and quits on a key."""
import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import REPO, synthetic_frames, write_video

from realtime.window import SOME_SCREEN, _screen, _x_server, window_size

TOOLS = ("Xvfb", "openbox", "xdotool", "xwd")
needs_x = pytest.mark.skipif(not all(shutil.which(t) for t in TOOLS),
                             reason="needs Xvfb, openbox, xdotool and xwd "
                                    "(apt-get install xvfb openbox xdotool x11-apps)")


@contextlib.contextmanager
def xvfb():
    """A virtual X server on a display it finds free (``-displayfd``: it writes the number once it is ready), with a
    window manager, as on a user's desktop. Without one, Qt sometimes never paints its window on a loaded machine
    (a missed first Expose: the window mapped and black for the whole run; 5 of 38 starts of a bare highgui window
    beside three busy processes, none of 38 with openbox), which failed these tests now and then."""
    r, w = os.pipe()
    server = subprocess.Popen(["Xvfb", "-displayfd", str(w), "-screen", "0", "1024x768x24", "-nolisten", "tcp"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, pass_fds=(w,))
    os.close(w)
    wm = None
    try:
        with os.fdopen(r) as ready:
            number = ready.readline().strip()
        assert number, f"Xvfb did not start (exit code {server.poll()})"
        display = f":{number}"
        with tempfile.TemporaryDirectory() as tmp:
            started = Path(tmp, "started")  # openbox runs its --startup command once it manages the screen
            wm = subprocess.Popen(["openbox", "--sm-disable", "--startup", f"touch {started}"],
                                  env={**os.environ, "DISPLAY": display}, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL)
            deadline = time.time() + 20
            while not started.exists():
                assert wm.poll() is None, f"openbox ended at start (exit code {wm.returncode})"
                assert time.time() < deadline, "openbox did not start in 20 s"
                time.sleep(0.05)
        yield display
    finally:
        for proc in (wm, server):
            if proc is not None:
                proc.terminate()
                try:
                    proc.wait(5)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()


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


def wait_for_window(display: str, preview: subprocess.Popen, timeout: float = 30) -> str:
    """The preview's window id, once it shows; a failure says why (the preview ended, and what it said)."""
    env = {**os.environ, "DISPLAY": display}
    deadline = time.time() + timeout
    while time.time() < deadline:
        r = subprocess.run(["xdotool", "search", "--onlyvisible", "--name", "realtime"], capture_output=True,
                           text=True, env=env)
        if r.stdout.strip():
            return r.stdout.split()[0]
        if preview.poll() is not None:
            raise AssertionError(f"the preview ended (exit code {preview.returncode}) before its window showed: "
                                 f"{preview.stderr.read()}")
        time.sleep(0.3)
    raise AssertionError(f"the preview window never appeared in {timeout} s (the preview still running)")


def wait_for_picture(env: dict, window: str, timeout: float = 20) -> bool:
    """Whether the window shows a picture (not a flat or black window) within ``timeout`` s: the first frame comes
    after both networks load and warm up, which on a loaded machine (a fresh venv compiling its imports) takes a
    while. The window's own pixels, not the screen's, so the window manager's frame around it does not count."""
    deadline = time.time() + timeout
    while True:
        time.sleep(1.0)
        dump = subprocess.run(["xwd", "-id", window, "-silent"], capture_output=True, env=env)
        assert dump.returncode == 0, f"xwd could not read the window: {dump.stderr.decode(errors='replace')}"
        img = read_xwd(dump.stdout)
        if img.reshape(-1, 3).std(axis=0).mean() > 10:
            return True
        if time.time() > deadline:
            return False


@contextlib.contextmanager
def preview_showing(tmp_path):
    """`realtime preview` under Xvfb, once its window shows a picture: (process, window id, environment)."""
    # 30 s of video: the preview must still be running when the test acts, even on a loaded machine
    clip = write_video(tmp_path / "clip.mp4", synthetic_frames(750, 320, 180), 25)
    with xvfb() as display:
        env = {**os.environ, "DISPLAY": display}
        p = subprocess.Popen([sys.executable, "-m", "realtime", "preview", "--source", str(clip)], cwd=REPO,
                             env=env, stderr=subprocess.PIPE, text=True)
        try:
            win = wait_for_window(display, p)
            if not wait_for_picture(env, win):
                running = p.poll() is None
                p.kill()
                state = "still running" if running else f"ended, exit code {p.returncode}"
                raise AssertionError(f"the window shows no picture (the preview {state}): {p.stderr.read()}")
            yield p, win, env
        finally:
            if p.poll() is None:
                p.kill()


@needs_x
def test_preview_shows_frames_and_quits_on_q(tmp_path):
    with preview_showing(tmp_path) as (p, win, env):
        # the window opens at the picture's size (320x180 fits the screen), not highgui's own 400x300
        geometry = subprocess.run(["xdotool", "getwindowgeometry", win], capture_output=True, text=True, env=env)
        assert "Geometry: 320x180" in geometry.stdout, geometry.stdout
        subprocess.run(["xdotool", "windowactivate", "--sync", win], env=env, capture_output=True)
        subprocess.run(["xdotool", "key", "--window", win, "f", "m", "i", "plus", "n"], env=env)
        time.sleep(0.5)
        assert p.poll() is None, "hotkeys must not end the preview"
        subprocess.run(["xdotool", "key", "--window", win, "q"], env=env)
        rc = p.wait(timeout=10)
    err = p.stderr.read()
    assert rc == 0, err
    assert "Traceback" not in err

def send_wm_delete(display: str, window: str) -> None:
    """What a window manager's close button does: a WM_DELETE_WINDOW client message to the window (libX11)."""
    import ctypes

    x11 = ctypes.CDLL("libX11.so.6")
    x11.XOpenDisplay.restype = ctypes.c_void_p
    x11.XOpenDisplay.argtypes = [ctypes.c_char_p]
    x11.XInternAtom.restype = ctypes.c_ulong
    x11.XInternAtom.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int]
    x11.XSendEvent.argtypes = [ctypes.c_void_p, ctypes.c_ulong, ctypes.c_int, ctypes.c_long, ctypes.c_void_p]
    x11.XCloseDisplay.argtypes = [ctypes.c_void_p]

    class ClientMessage(ctypes.Structure):
        _fields_ = [("type", ctypes.c_int), ("serial", ctypes.c_ulong), ("send_event", ctypes.c_int),
                    ("display", ctypes.c_void_p), ("window", ctypes.c_ulong), ("message_type", ctypes.c_ulong),
                    ("format", ctypes.c_int), ("data", ctypes.c_long * 5), ("pad", ctypes.c_long * 24)]

    d = x11.XOpenDisplay(display.encode())
    assert d, f"cannot open display {display}"
    ev = ClientMessage(type=33, window=int(window), format=32)  # 33: ClientMessage
    ev.message_type = x11.XInternAtom(d, b"WM_PROTOCOLS", 0)
    ev.data[0] = x11.XInternAtom(d, b"WM_DELETE_WINDOW", 0)
    assert x11.XSendEvent(d, int(window), 0, 0, ctypes.byref(ev))
    x11.XCloseDisplay(d)  # flushes


@needs_x
@pytest.mark.parametrize("how", ["close-button", "destroyed", "connection-killed"])
def test_preview_window_gone_ends_cleanly(tmp_path, how):
    """Issue #25 item 7: the window manager's close button (WM_DELETE_WINDOW), a window destroyed by another client
    and a killed X connection all end the preview with exit 0 and its normal summary."""
    with preview_showing(tmp_path) as (p, win, env):
        if how == "close-button":
            send_wm_delete(env["DISPLAY"], win)
        else:  # windowclose: XDestroyWindow; windowkill: XKillClient, which closes the client's connection
            subprocess.run(["xdotool", "windowclose" if how == "destroyed" else "windowkill", win], env=env)
        rc = p.wait(timeout=10)
    err = p.stderr.read()
    assert rc == 0, err
    assert "Traceback" not in err and "error:" not in err and "guiReceiver" not in err, err
    assert " reconnects" in err.strip().splitlines()[-1], err  # the summary line
    # (a killed connection leaves Qt's own line before it: "The X11 connection broke (error 1). ...")


def test_preview_without_display_is_one_line_no_device(clip):
    """Issue #25 item 8: no display is the "no device" exit with one line, not Qt's abort (134)."""
    env = {k: v for k, v in os.environ.items() if k != "DISPLAY"}
    r = subprocess.run([sys.executable, "-m", "realtime", "preview", "--source", str(clip)], cwd=REPO, env=env,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 3, r.stderr
    assert r.stderr.strip().splitlines() == [
        "error: no display for the preview window: DISPLAY is not set (use `realtime camera` or `realtime render` "
        "without one)"]


def test_window_opens_at_the_picture_size_within_the_screen():
    assert window_size((320, 180), (1024, 768)) == (320, 180)
    assert window_size((1280, 720), (1024, 768)) == (870, 490)  # 85% of the screen's width, the aspect kept
    assert window_size((1920, 1080), (1366, 768)) == (1161, 653)  # the height limits
    if sys.platform != "win32":  # no X server to ask (highgui on macOS): a small laptop's screen is assumed
        assert _screen(None) == SOME_SCREEN


@needs_x
def test_screen_size_read_from_the_x_server(monkeypatch):
    with xvfb() as display:
        monkeypatch.setenv("DISPLAY", display)
        x = _x_server()
        try:
            assert x.screen == (1024, 768)  # the tests' Xvfb screen
            assert _screen(x) == (1024, 768)
        finally:
            x.close()
