"""The Python API (`realtime.Filter`) and `realtime --version`."""
import re

import cv2
import numpy as np
from conftest import REPO, run_cli, synthetic_frames

from realtime import Filter, __version__


def test_the_readme_example_runs(tmp_path, monkeypatch):
    block = re.search(r"## Use it from Python\n\n```python\n(.*?)```", (REPO / "README.md").read_text(), re.S)
    frame = synthetic_frames(1, 240, 160)[0]
    cv2.imwrite(str(tmp_path / "me.jpg"), frame)
    monkeypatch.chdir(tmp_path)
    exec(compile(block.group(1), "README.md", "exec"), {})
    out = cv2.imread(str(tmp_path / "me-udnie.png"))
    assert out.shape == frame.shape and np.abs(out.astype(int) - frame).mean() > 5  # something was painted


def test_a_filter_is_one_stream_and_reset_forgets_it():
    a, b = synthetic_frames(12, 160, 96)[::11]
    with Filter(mode="style-all") as f:
        first = f(a)
        f(b)
        carried = f(a)  # the painting's smoothing remembers b
        f.reset()
        again = f(a)
    assert np.array_equal(first, again) and not np.array_equal(first, carried)


def test_a_filter_given_the_frames_ahead_shows_a_cuts_new_room_from_its_first_frame():
    """As ``render`` does: with each frame's next ``lookahead`` frames, the background is the new room's from a
    scene cut's first frame; without them, the old room's for the frames a camera needs to confirm the cut."""
    frames = synthetic_frames(12)
    cut = [np.ascontiguousarray(f[::-1, ::-1]) for f in synthetic_frames(12)]  # the camera turned round
    video = frames + cut
    with Filter(mode="blur") as f:
        n = f.lookahead
        ahead = [f(frame, i / 30, video[i + 1:i + 1 + n]) for i, frame in enumerate(video)]
        f.reset()
        blind = [f(frame, i / 30) for i, frame in enumerate(video)]
        f.reset()
        want = [f(frame, i / 30) for i, frame in enumerate(cut)]  # the new room alone
    assert n == 3
    off = [np.abs(got.astype(int) - new).mean() for got, new in zip(ahead[12:15], want[:3], strict=True)]
    late = [np.abs(got.astype(int) - new).mean() for got, new in zip(blind[12:15], want[:3], strict=True)]
    assert max(off) < 12 and min(late) > 2 * max(off), (off, late)


def test_version():
    r = run_cli("--version")
    assert r.returncode == 0 and r.stdout.strip() == f"realtime {__version__}"


def test_shell_completion_offers_the_modes_and_devices():
    from realtime import modes, providers

    def complete(words: str) -> list[str]:
        r = run_cli(env={"_REALTIME_COMPLETE": "complete_bash", "COMP_WORDS": words,
                         "COMP_CWORD": str(len(words.split()) - (0 if words.endswith(" ") else 1))})
        assert r.returncode == 0, r.stderr
        return r.stdout.split()

    assert complete("realtime preview --mode ") == list(modes.NAMES)
    assert set(complete("realtime camera --device ")) == set(providers.devices())
    assert "--install-completion" in run_cli("--help").stdout


def test_the_matte_of_the_last_frame_is_there_for_the_caller():
    """What `render --matte` writes, for library users: the person weight the output was composited with."""
    frame = synthetic_frames(1, 160, 96)[0]
    with Filter(mode="mask") as f:
        assert f.matte is None
        out = f(frame)
        assert f.matte is out and f.matte.shape == (96, 160)
    with Filter(mode="style-all") as f:
        f(frame)
        assert f.matte is None  # this mode does not look for the person


def test_a_live_filter_on_the_cpu_runs_opencv_on_one_thread_and_render_keeps_its_pool():
    """Live, a frame's cost is CPU time (the camera paces it), and OpenCV's pool costs more CPU than it saves."""
    before = cv2.getNumThreads()
    try:
        cv2.setNumThreads(2)
        with Filter(mode="blur", device="cpu", live=False):
            assert cv2.getNumThreads() == 2
        with Filter(mode="blur", device="cpu", live=True):
            assert cv2.getNumThreads() == 1
        assert cv2.getNumThreads() == 2  # given back on close
    finally:
        cv2.setNumThreads(before)


FAULTS = """
import resource, sys
import numpy as np
from realtime.composite import blend
from realtime.pipeline import keep_freed_buffers
if sys.argv[1] == "keep" and not keep_freed_buffers():
    sys.exit(3)
frame, weight = np.full((720, 1280, 3), 7, np.uint8), np.full((720, 1280), 99, np.uint8)
blend(frame, frame, weight)
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(30):
    blend(frame, frame, weight)
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def test_freed_frame_sized_buffers_are_kept_for_the_next_frame():
    """By default glibc gives a 720p blend's temporaries back to the system and faults them in again each frame
    (a fresh process: the thresholds glibc adapts depend on what the process freed before)."""
    import os
    import resource
    import subprocess
    import sys

    import pytest

    # glibc's defaults, whatever this machine's environment sets (its malloc tunables, a preloaded allocator)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MALLOC_", "GLIBC_TUNABLES", "LD_PRELOAD"))}

    def faults(how: str) -> int:
        r = subprocess.run([sys.executable, "-c", FAULTS, how], capture_output=True, text=True, cwd=REPO, env=env)
        if r.returncode == 3:
            pytest.skip(f"no glibc mallopt on {sys.platform}")
        assert r.returncode == 0, r.stderr
        return int(r.stdout)

    frame_pages = 1280 * 720 * 3 // resource.getpagesize()
    kept, default = faults("keep"), faults("default")
    assert kept < frame_pages < default  # 30 blends: under one frame's pages kept, each blend's five faulted anew
