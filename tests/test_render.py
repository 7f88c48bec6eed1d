"""`realtime render` end to end as a real subprocess: video, image, folder, mask mode, webcam clips."""
import cv2
import numpy as np
import pytest
from conftest import WEBCAM_CLIPS, needs_shared, read_video, run_cli, synthetic_frames


def test_render_video_same_size_fps_and_count(clip, tmp_path):
    out = tmp_path / "out.mp4"
    r = run_cli("render", str(clip), "-o", str(out), "--style", "udnie", "-q")
    assert r.returncode == 0, r.stderr
    assert "wrote" in r.stderr and "(30 frames)" in r.stderr
    frames, fps = read_video(out)
    src, src_fps = read_video(clip)
    assert len(frames) == len(src) == 30
    assert frames[0].shape == src[0].shape
    assert fps == pytest.approx(src_fps, abs=0.01)
    assert np.abs(frames[10].astype(int) - src[10]).mean() > 5  # something was painted


def test_render_mask_mode_writes_a_matte(clip, tmp_path):
    out = tmp_path / "mask.mp4"
    assert run_cli("render", str(clip), "-o", str(out), "--mode", "mask", "-q").returncode == 0
    frames, _ = read_video(out)
    f = frames[5]
    assert np.abs(f[..., 0].astype(int) - f[..., 2]).max() <= 8  # grey


def test_render_image_and_mask_image(tmp_path):
    img = tmp_path / "in.png"
    cv2.imwrite(str(img), synthetic_frames(1, 200, 120)[0])
    assert run_cli("render", str(img), "-o", str(tmp_path / "out.jpg"), "--style", "great_wave").returncode == 0
    out = cv2.imread(str(tmp_path / "out.jpg"))
    assert out.shape == (120, 200, 3)
    assert run_cli("render", str(img), "-o", str(tmp_path / "m.png"), "--mode", "mask").returncode == 0
    m = cv2.imread(str(tmp_path / "m.png"), cv2.IMREAD_UNCHANGED)
    assert m.shape == (120, 200) and m.dtype == np.uint8


def test_render_folder(tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    for i, f in enumerate(synthetic_frames(3, 96, 64)):
        cv2.imwrite(str(src / f"{i}.png"), f)
    r = run_cli("render", str(src), "-o", str(tmp_path / "out"), "--mode", "style-all", "-q")
    assert r.returncode == 0, r.stderr
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["0.png", "1.png", "2.png"]


@needs_shared("video/webcam_clips")
@pytest.mark.parametrize("name", ["milk.mkv", "thanks.mkv"])
def test_webcam_clip_background_painted_person_natural(name, tmp_path):
    """Render a real webcam clip; the person (per our own matte) stays close to the input, the rest does not."""
    src = WEBCAM_CLIPS / name
    out, matte = tmp_path / "out.mp4", tmp_path / "matte.mp4"
    assert run_cli("render", str(src), "-o", str(out), "--style", "udnie", "-q", timeout=300).returncode == 0
    assert run_cli("render", str(src), "-o", str(matte), "--mode", "mask", "-q", timeout=300).returncode == 0
    a, _ = read_video(src)
    b, _ = read_video(out)
    m, _ = read_video(matte)
    assert len(a) == len(b) == len(m)
    person_diff, bg_diff, coverage = [], [], []
    for fa, fb, fm in list(zip(a, b, m, strict=True))[::10]:
        d = np.abs(fa.astype(np.int16) - fb).mean(axis=2)
        p = fm[..., 0] > 200
        bgm = fm[..., 0] < 50
        coverage.append(p.mean())
        person_diff.append(d[p].mean())
        bg_diff.append(d[bgm].mean())
    assert 0.05 < np.mean(coverage) < 0.8, "the matte should find a person, not the whole frame"
    assert np.mean(bg_diff) > 25, "background should be clearly painted"
    assert np.mean(person_diff) < 12, "person should be left natural"
    assert np.mean(bg_diff) > 3 * np.mean(person_diff)


@pytest.mark.parametrize("mode", ["style-background", "style-all"])
def test_a_folder_renders_the_same_pictures_in_any_order(tmp_path, mode):
    """Nothing the pipeline remembers (mask and painting smoothing, the plate) carries from one image to the next."""
    images = synthetic_frames(12, 160, 96)[::4]  # three different pictures
    outs = {}
    for order, names in (("forward", "abc"), ("backward", "cba")):
        src = tmp_path / order
        src.mkdir()
        for name, img in zip(names, images, strict=True):
            cv2.imwrite(str(src / f"{name}.png"), img)
        r = run_cli("render", str(src), "-o", str(tmp_path / f"{order}-out"), "--mode", mode, "-q")
        assert r.returncode == 0, r.stderr
        outs[order] = {n: cv2.imread(str(tmp_path / f"{order}-out" / f"{n}.png")) for n in names}
    for forward, backward in zip("abc", "cba", strict=True):  # the same picture, rendered first or last
        assert np.array_equal(outs["forward"][forward], outs["backward"][backward]), (mode, forward)


def test_a_video_renders_the_same_every_time(clip, tmp_path):
    """The plate is painted in step with the frames in a file (no race with a painter thread)."""
    runs = []
    for i in range(2):
        out = tmp_path / f"out{i}.mkv"
        assert run_cli("render", str(clip), "-o", str(out), "-q").returncode == 0
        runs.append(read_video(out)[0])
    assert len(runs[0]) == len(runs[1]) == 30
    assert all(np.array_equal(a, b) for a, b in zip(*runs, strict=True))
