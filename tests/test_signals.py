"""Ctrl-C / SIGTERM: a real subprocess stops within 1 s, releases what it holds, and finalises its output."""
import os
import signal
import subprocess
import sys
import time

import pytest
from conftest import REPO, read_video, synthetic_frames, write_video


@pytest.fixture(scope="module")
def long_clip(tmp_path_factory):
    return write_video(tmp_path_factory.mktemp("long") / "long.mp4", synthetic_frames(600, 320, 180) , 30)


@pytest.mark.parametrize("sig, code", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_render_stops_and_output_is_playable(long_clip, tmp_path, sig, code):
    out = tmp_path / "partial.mp4"
    p = subprocess.Popen([sys.executable, "-m", "realtime", "render", str(long_clip), "-o", str(out), "-q",
                          "--style-scale", "0.25"], cwd=REPO, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 60
    while time.time() < deadline and (not out.exists() or out.stat().st_size < 20000):
        time.sleep(0.05)
    assert p.poll() is None, "render finished before it could be interrupted"
    t0 = time.time()
    p.send_signal(sig)
    rc = p.wait(timeout=10)
    assert time.time() - t0 < 1.0
    assert rc == code
    assert "Traceback" not in p.stderr.read()
    frames, _ = read_video(out)
    assert 0 < len(frames) < 600  # finalised and playable, partial


def test_preview_stops_on_sigterm_within_a_second(long_clip):
    import shutil

    if not shutil.which("Xvfb"):
        pytest.skip("Xvfb not installed")
    from test_preview import xvfb

    with xvfb() as display:
        p = subprocess.Popen([sys.executable, "-m", "realtime", "preview", "--source", str(long_clip)],
                             cwd=REPO, env={**os.environ, "DISPLAY": display}, stderr=subprocess.PIPE, text=True)
        time.sleep(4)
        assert p.poll() is None, p.stderr.read()
        t0 = time.time()
        p.send_signal(signal.SIGTERM)
        assert p.wait(timeout=10) == 143
        assert time.time() - t0 < 1.0
