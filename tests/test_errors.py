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
    one_line_error(run_cli("camera", "--source", "7"), 2, "camera 7 not found", "realtime doctor")


def test_odd_width_yuv(tmp_path):
    odd = tmp_path / "odd.png"
    cv2.imwrite(str(odd), np.full((90, 161, 3), 90, np.uint8))
    r = run_cli("camera", "--source", str(odd), "--vcam-format", "I420")
    one_line_error(r, 1, "I420 needs an even frame size")


def test_unwritable_output(clip, tmp_path):
    one_line_error(run_cli("render", str(clip), "-o", str(tmp_path / "no" / "such" / "dir.mp4")), 1,
                   "does not exist")
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
