"""Bad input: each case exits non-zero with one line on stderr and no traceback (real subprocesses)."""
import os

import cv2
import numpy as np
import pytest
from conftest import onnx_model, run_cli


def one_line_error(r, code=1, *needles):
    assert r.returncode == code, (r.returncode, r.stderr)
    lines = [ln for ln in r.stderr.strip().splitlines() if ln.strip()]
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith("error: ") and "Traceback" not in r.stderr
    for n in needles:
        assert n in lines[0], lines[0]


def test_unknown_style_lists_available(clip, tmp_path):
    r = run_cli("render", str(clip), "-o", str(tmp_path / "o.mp4"), "--style", "mona_lisa")
    one_line_error(r, 1, "unknown style 'mona_lisa'", "udnie", "starry_night")


def test_corrupt_onnx(clip, tmp_path):
    bad = tmp_path / "corrupt.onnx"
    bad.write_bytes(os.urandom(4096))
    one_line_error(run_cli("render", str(clip), "-o", str(tmp_path / "o.mp4"), "--style", str(bad)), 1,
                   "not a valid ONNX model")


def test_onnx_with_wrong_inputs(clip, tmp_path):
    wrong = onnx_model(tmp_path / "wrong.onnx", "pixels", "out", 3)
    one_line_error(run_cli("render", str(clip), "-o", str(tmp_path / "o.mp4"), "--style", str(wrong)), 1,
                   "is not a style-transfer model")


def test_missing_source(tmp_path):
    one_line_error(run_cli("render", str(tmp_path / "nope.mp4"), "-o", str(tmp_path / "o.mp4")), 1,
                   "source not found")
    one_line_error(run_cli("preview", "--source", str(tmp_path / "nope.mp4")), 1, "source not found")


def test_unreadable_image_and_video(tmp_path):
    img = tmp_path / "broken.png"
    img.write_bytes(b"not a png")
    one_line_error(run_cli("render", str(img), "-o", str(tmp_path / "o.png")), 1, "cannot read image")
    vid = tmp_path / "broken.mp4"
    vid.write_bytes(os.urandom(2048))
    one_line_error(run_cli("render", str(vid), "-o", str(tmp_path / "o.mp4")), 1, "cannot")


def test_camera_index_that_does_not_exist():
    one_line_error(run_cli("camera", "--source", "7"), 3, "camera 7 not found", "realtime doctor")


def test_odd_width_yuv(tmp_path):
    odd = tmp_path / "odd.png"
    cv2.imwrite(str(odd), np.full((90, 161, 3), 90, np.uint8))
    r = run_cli("camera", "--source", str(odd), "--vcam-format", "I420")
    one_line_error(r, 1, "I420 needs an even frame size")


def test_unwritable_output(clip, tmp_path):
    one_line_error(run_cli("render", str(clip), "-o", str(tmp_path / "no" / "such" / "dir.mp4")), 1,
                   "does not exist")
    (tmp_path / "a file").write_text("keep")  # a file where the output's folder should be
    one_line_error(run_cli("render", str(clip), "-o", str(tmp_path / "a file" / "o.mp4")), 1,
                   "a file is not a folder")
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    if os.access(ro, os.W_OK):  # root ignores permissions
        pytest.skip("running as root: permission bits are not enforced")
    one_line_error(run_cli("render", str(clip), "-o", str(ro / "o.mp4")), 1, "permission denied")


def test_unwritable_output_as_root_is_still_one_line(clip, tmp_path):
    target = tmp_path / "out.mp4"
    target.mkdir()  # a folder where the file should go
    one_line_error(run_cli("render", str(clip), "-o", str(target)), 1, "is a folder")


def test_invalid_config_file(clip, tmp_path):
    cfg = tmp_path / "bad.toml"
    cfg.write_text("style = \n")
    one_line_error(run_cli("render", str(clip), "-o", str(tmp_path / "o.mp4"), "--config", str(cfg)), 1,
                   "invalid config file")


def test_strength_out_of_range(clip, tmp_path):
    one_line_error(run_cli("render", str(clip), "-o", str(tmp_path / "o.mp4"), "--strength", "1.5"), 1,
                   "--strength must be between 0 and 1")


def test_resolution_the_camera_refuses():
    from realtime.errors import RealtimeError
    from realtime.source import _configure_camera

    class Camera:  # a device that only does 640x480 (OpenCV's VideoCapture API)
        def set(self, prop, value):
            return True

        def get(self, prop):
            return {cv2.CAP_PROP_FRAME_WIDTH: 640, cv2.CAP_PROP_FRAME_HEIGHT: 480}.get(prop, 0)

        def release(self):
            pass

    with pytest.raises(RealtimeError, match="camera 0 refused 1920x1080; it gives 640x480"):
        _configure_camera(Camera(), "0", 1920, 1080, 30)


def usage_error(r, *needles):
    """What the command-line parser rejects: exit 2, at most two lines, no box."""
    assert r.returncode == 2, (r.returncode, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert 1 <= len(lines) <= 2 and lines[0].startswith("error: "), r.stderr
    assert "╭" not in r.stderr and "Traceback" not in r.stderr
    for n in needles:
        assert n in lines[0], lines[0]


@pytest.mark.parametrize("args, needle", [
    (["render", "x.mp4", "-o", "y.mp4", "--bogus"], "No such option: --bogus"),
    (["render", "x.mp4"], "Missing option '-o'"),
    (["render", "x.mp4", "-o", "y.mp4", "--strength", "high"], "'--strength'"),
    (["render", "x.mp4", "-o", "y.mp4", "--device", "tpu"], "'tpu' is not one of"),
    (["preview", "--mode", "nosuch"], "Invalid value for '--mode': 'nosuch' is not one of 'style-background'"),
    (["no-such-command"], "No such command"),
])
def test_usage_errors_exit_2_in_two_lines(args, needle):
    """Issue #25 item 10: usage errors are exit 2 in at most two lines (they were a 5-line box)."""
    usage_error(run_cli(*args), needle)


def test_exit_code_table(clip, tmp_path):
    """Issue #25 item 10, the README's table row by row (130/143/129: tests/test_signals.py)."""
    assert run_cli("styles").returncode == 0  # 0: done
    one_line_error(run_cli("render", str(tmp_path / "nope.png"), "-o", str(tmp_path / "o.png")), 1)  # 1: bad input
    one_line_error(run_cli("render", str(clip), "-o", str(tmp_path / "o.mp4"), "--strength", "2"), 1)  # out of range
    usage_error(run_cli("render", str(clip)))  # 2: usage
    one_line_error(run_cli("camera", "--source", "7"), 3, "camera 7 not found")  # 3: no device
    assert run_cli("--help").returncode == 0 and run_cli().returncode == 0  # help, also for a bare `realtime`


@pytest.mark.parametrize("link", ["same", "symlink", "hardlink"])
def test_render_onto_its_input_is_refused(clip, tmp_path, link):
    """Issue #25 item 1: the output is the input (by name, or after resolving links): exit 1, input untouched."""
    src = tmp_path / "same.mp4"
    src.write_bytes(clip.read_bytes())
    dst = src
    if link == "symlink":
        dst = tmp_path / "link.mp4"
        dst.symlink_to(src)
    elif link == "hardlink":
        dst = tmp_path / "hard.mp4"
        os.link(src, dst)
    one_line_error(run_cli("render", str(src), "-o", str(dst), "-q"), 1, "is the input")
    assert src.read_bytes() == clip.read_bytes()


def test_image_and_folder_onto_themselves_are_refused(tmp_path):
    img = tmp_path / "in.png"
    cv2.imwrite(str(img), np.full((40, 60, 3), 90, np.uint8))
    before = img.read_bytes()
    one_line_error(run_cli("render", str(img), "-o", str(img)), 1, "is the input")
    one_line_error(run_cli("render", str(tmp_path), "-o", f"{tmp_path}/./"), 1, "is the input")
    assert img.read_bytes() == before and sorted(p.name for p in tmp_path.iterdir()) == ["in.png"]


@pytest.mark.parametrize("value", ["300", "-1", "0", "100000"])
def test_threads_out_of_range(clip, tmp_path, value):
    """Issue #25 item 5: --threads is bounded (1 .. 4 per CPU core) before any thread is started."""
    one_line_error(run_cli("render", str(clip), "-o", str(tmp_path / "o.mp4"), "--threads", value), 1,
                   "--threads must be between 1 and")


@pytest.mark.parametrize("value", ["-5", "100001"])
def test_blur_strength_out_of_range(clip, tmp_path, value):
    """Issue #25 item 6: blur-strength from a config is checked (-5 was an OpenCV error, 100001 minutes of work)."""
    cfg = tmp_path / "c.toml"
    cfg.write_text(f"mode = 'blur'\nblur-strength = {value}\n")
    one_line_error(run_cli("render", str(clip), "-o", str(tmp_path / "o.mp4"), "--config", str(cfg)), 1,
                   "blur-strength must be between 1 and 99")


def test_choices_are_case_insensitive(tmp_path):
    """Issue #25 item 9: --device CPU was refused while --vcam-format was case-insensitive."""
    img = tmp_path / "in.png"
    cv2.imwrite(str(img), np.full((40, 60, 3), 90, np.uint8))
    r = run_cli("render", str(img), "-o", str(tmp_path / "o.png"), "--device", "CPU", "--mode", "Style-All")
    assert r.returncode == 0, r.stderr


def test_tiny_image_names_its_size(tmp_path):
    """Issue #25 item 11: a 1x1 image was "unexpected ValueError ... set REALTIME_DEBUG=1"."""
    img = tmp_path / "tiny.png"
    cv2.imwrite(str(img), np.zeros((1, 1, 3), np.uint8))
    one_line_error(run_cli("render", str(img), "-o", str(tmp_path / "o.png")), 1, "tiny.png", "1x1")


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="needs Linux's /proc")
def test_output_under_proc_gives_the_os_reason(clip, tmp_path):
    """Issue #25 item 11: not "unsupported extension?" but what the OS said."""
    img = tmp_path / "in.png"
    cv2.imwrite(str(img), np.full((40, 60, 3), 90, np.uint8))
    for src, dst in ((img, "/proc/x.png"), (clip, "/proc/x.mp4")):
        r = run_cli("render", str(src), "-o", dst, "-q")
        one_line_error(r, 1, f"cannot write {dst}: ")
        assert "extension" not in r.stderr


def test_folder_output_must_be_a_folder(tmp_path):
    """Issue #25 item 11: a folder to `x.mp4` made a directory named x.mp4; onto a file: unexpected FileExistsError."""
    src = tmp_path / "in"
    src.mkdir()
    cv2.imwrite(str(src / "a.png"), np.full((40, 60, 3), 90, np.uint8))
    one_line_error(run_cli("render", str(src), "-o", str(tmp_path / "x.mp4")), 1, "must be a folder")
    assert not (tmp_path / "x.mp4").exists()
    (tmp_path / "file").write_text("keep")
    one_line_error(run_cli("render", str(src), "-o", str(tmp_path / "file")), 1, "exists and is not a folder")
    assert (tmp_path / "file").read_text() == "keep"


@pytest.mark.parametrize("args, needle", [
    (["--sizes", "100000x100000"], "--sizes takes WxH"), (["--frames", "-1"], "--frames must be between"),
    (["--style-scale", "abc"], "--style-scale takes numbers"), (["--style-scale", ","], "got ','"),
    (["--style-scale", "0.5,5"], "--style-scale takes numbers from 0.1 to 1")])
def test_bench_sizes_and_frames_are_bounded(args, needle):
    """Issue #25 item 6: every number gets a range; 100000x100000 frames would have filled the memory."""
    one_line_error(run_cli("bench", *args), 1, needle)


def test_train_style_names_what_is_missing(tmp_path):
    """Without the train extra (here torch cannot be imported), or with a painting that is not a picture: one line."""
    painting = tmp_path / "painting.jpg"
    cv2.imwrite(str(painting), np.full((64, 64, 3), 128, np.uint8))
    no_torch = tmp_path / "site" / "torch"
    no_torch.mkdir(parents=True)
    (no_torch / "__init__.py").write_text("raise ImportError('no torch here')\n")
    path = os.pathsep.join(p for p in (str(tmp_path / "site"), os.environ.get("PYTHONPATH")) if p)
    one_line_error(run_cli("train-style", str(painting), env={"PYTHONPATH": path}), 1, "train extra",
                   "pip install -e '.[train]'")
    (tmp_path / "notes.jpg").write_text("not a picture")
    one_line_error(run_cli("train-style", str(tmp_path / "notes.jpg")), 1, "cannot read the painting")
    styles = tmp_path / "styles"
    r = run_cli("train-style", str(painting), "--name", "../evil", env={"REALTIME_STYLES": str(styles)})
    one_line_error(r, 1, "--name: a style's name takes letters, digits, _ and -")
    assert not styles.exists() and not (tmp_path / "evil.onnx").exists()
    # a shipped style's name: --style would go on choosing the shipped one, so it is refused before any training
    r = run_cli("train-style", str(painting), "--name", "udnie", "--arch", "full", env={"REALTIME_STYLES": str(styles)},
                cwd=tmp_path)
    one_line_error(r, 1, "--name: realtime ships a network called 'udnie'", "--name my_udnie")
    assert not styles.exists() and not (tmp_path / "runs").exists()
