"""`realtime render` end to end as a real subprocess: video, image, folder, mask mode, webcam clips."""
import os

import cv2
import numpy as np
import pytest
from conftest import WEBCAM_CLIPS, needs_shared, read_video, run_cli, synthetic_frames, write_video


def test_render_video_same_size_fps_and_count(clip, tmp_path):
    out = tmp_path / "out.mp4"
    r = run_cli("render", str(clip), "-o", str(out), "--style", "udnie")
    assert r.returncode == 0, r.stderr
    assert r.stderr.splitlines() == [f"wrote {out} (30 frames)"], r.stderr  # no progress bar in a pipe
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


@pytest.fixture
def small_disk(tmp_path):
    """A 200 KB tmpfs (root only; skips with the reason elsewhere)."""
    import subprocess

    mnt = tmp_path / "small"
    mnt.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=200k", "tmpfs", str(mnt)], capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({r.stderr.strip() or 'mount failed'}); "
                    "test_failed_writes_leave_no_file covers the same logic")
    yield mnt
    subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


@pytest.mark.parametrize("name", ["o.mp4", "o.avi", "o.png"])
def test_full_disk_is_an_error_and_leaves_no_file(tmp_path, small_disk, name):
    """Issue #25 item 2: a full disk was "wrote 87 frames" (exit 0) and an mp4 no player opens."""
    frames = [cv2.resize(f, (640, 360)) + np.random.default_rng(i).integers(0, 40, (360, 640, 3), dtype=np.uint8)
              for i, f in enumerate(synthetic_frames(60, 320, 180))]  # noise: more than 200 KB however encoded
    if name.endswith(".png"):
        src = tmp_path / "in.png"
        cv2.imwrite(str(src), cv2.resize(frames[0], (1280, 720)))
    else:
        src = write_video(tmp_path / "in.mkv", frames)
    r = run_cli("render", str(src), "-o", str(small_disk / name), "-q", "--mode", "style-all")
    assert r.returncode == 1, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "disk full" in lines[0] and "Traceback" not in r.stderr, r.stderr
    assert list(small_disk.iterdir()) == []  # no file that claims to be complete, no temporary either


def test_failed_writes_leave_no_file(tmp_path, monkeypatch, clip):
    """Issue #25 item 2 without a small disk: a writer whose writes are lost (what OpenCV's did on a full disk; the
    file is still read back after writing) and a file system that refuses the bytes (ENOSPC) both raise and leave
    the earlier file as it was."""
    import errno
    from pathlib import Path

    from realtime import encode, sinks
    from realtime.errors import RealtimeError

    target = tmp_path / "o.mp4"
    target.write_bytes(b"earlier render")

    class LosingWriter(encode.VideoWriter):  # every frame lost on the way to the file, without a word
        def write(self, frame):
            self.frames += 1

    monkeypatch.setattr(encode, "VideoWriter", LosingWriter)
    sink = sinks.VideoFileSink(target, 320, 180, 25)
    sink.send(np.zeros((180, 320, 3), np.uint8))
    with pytest.raises(RealtimeError, match="the file holds 0 of 1 frames; nothing was written"):
        sink.close()
    monkeypatch.undo()

    class FullDisk:  # a file on a full disk
        def __init__(self, *a, **k):
            pass

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def write(self, data):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    png = tmp_path / "o.png"
    png.write_bytes(b"earlier picture")
    real_open = Path.open
    monkeypatch.setattr(Path, "open", lambda self, mode="r", *a, **k: FullDisk() if mode == "wb"
                        else real_open(self, mode, *a, **k))
    with pytest.raises(RealtimeError, match=r"cannot write .*o.png: disk full"):
        sinks.write_image(png, np.zeros((8, 8, 3), np.uint8))
    monkeypatch.undo()
    assert target.read_bytes() == b"earlier render" and png.read_bytes() == b"earlier picture"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["o.mp4", "o.png"]


def test_folder_with_a_corrupt_image_does_the_rest(tmp_path):
    """Issue #25 item 4: a corrupt image stopped the folder; now it is skipped with a warning, the rest are done,
    and the exit is 1 naming it."""
    src = tmp_path / "in"
    src.mkdir()
    for i, f in enumerate(synthetic_frames(4, 96, 64)):
        cv2.imwrite(str(src / f"{i}.png"), f)
    (src / "1.png").write_bytes(b"not a png")
    cv2.imwrite(str(src / "2.png"), np.zeros((1, 1, 3), np.uint8))  # readable, too small to filter
    (src / "._0.png").write_bytes(b"macOS metadata")  # hidden: not one of the folder's pictures
    r = run_cli("render", str(src), "-o", str(tmp_path / "out"), "--mode", "style-all", "-q")
    assert r.returncode == 1, r.stderr
    lines = r.stderr.strip().splitlines()
    assert lines[0].startswith("warning: skipped 1.png") and lines[1].startswith("warning: skipped 2.png"), lines
    assert lines[-1].startswith("error: skipped 2 of 4 images") and "1.png, 2.png" in lines[-1], lines
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["0.png", "3.png"]


def test_truncated_video_says_how_many_frames_it_had(tmp_path):
    """Issue #25 item 4: a truncated video rendered 22 of 88 frames without a word."""
    full = write_video(tmp_path / "full.mkv", synthetic_frames(88, 160, 96))
    cut = tmp_path / "cut.mkv"
    cut.write_bytes(full.read_bytes()[: full.stat().st_size // 4])
    r = run_cli("render", str(cut), "-o", str(tmp_path / "o.mp4"), "-q", "--mode", "blur")
    assert r.returncode == 1, r.stderr
    n = len(read_video(tmp_path / "o.mp4")[0])
    assert 0 < n < 88
    assert r.stderr.strip().splitlines() == [
        f"error: {cut} ended after {n} of the 88 frames its container announces (truncated or damaged?); "
        f"{tmp_path / 'o.mp4'} has those {n}"]


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


def test_a_scene_cut_in_a_video_shows_the_new_room_from_its_first_frame(tmp_path):
    """A file's frames are read ahead, so the plate starts over at a cut's first frame: the background is the new
    room's from there on, never the old room's for the frames a live camera needs to confirm a cut."""
    frames = synthetic_frames(24)
    cut = [np.ascontiguousarray(f[::-1, ::-1]) for f in synthetic_frames(12)]  # the camera turned round
    src = write_video(tmp_path / "cut.mp4", frames[:12] + cut)
    out = tmp_path / "out.mkv"
    assert run_cli("render", str(src), "-o", str(out), "-q", "--mode", "blur").returncode == 0
    got, _ = read_video(out)
    ref = tmp_path / "ref.mkv"  # the new room alone, from its first frame
    assert run_cli("render", str(write_video(tmp_path / "new.mp4", cut)), "-o", str(ref), "-q",
                   "--mode", "blur").returncode == 0
    want, _ = read_video(ref)
    for i in range(3):
        assert np.abs(got[12 + i].astype(int) - want[i]).mean() < 12, i  # the old room's blur is ~38 off


@pytest.mark.parametrize("kind", ["image", "video"])
def test_mirror_flips_what_is_rendered_once(kind, tmp_path):
    """``--mirror`` is the source's, as for a camera: a still and a video's frames come out as the mirrored input
    renders (mask mode: the same person, flipped once)."""
    frames = synthetic_frames(6)
    if kind == "image":
        src, flipped = tmp_path / "in.png", tmp_path / "flipped.png"
        cv2.imwrite(str(src), frames[0])
        cv2.imwrite(str(flipped), frames[0][:, ::-1])
        ext = ".png"
    else:
        src = write_video(tmp_path / "in.mp4", frames)
        flipped = write_video(tmp_path / "flipped.mp4", [np.ascontiguousarray(f[:, ::-1]) for f in frames])
        ext = ".mkv"
    outs = {}
    for name, path, extra in (("mirror", src, ["--mirror"]), ("flipped", flipped, [])):
        out = tmp_path / f"out-{name}{ext}"
        assert run_cli("render", str(path), "-o", str(out), "-q", "--mode", "mask", *extra).returncode == 0
        outs[name] = [cv2.imread(str(out))] if kind == "image" else read_video(out)[0]
    assert len(outs["mirror"]) == len(outs["flipped"])
    for a, b in zip(outs["mirror"], outs["flipped"], strict=True):
        assert np.abs(a.astype(int) - b).mean() < 1


def test_one_pass_writes_the_matte_and_the_person_with_alpha_for_a_video(clip, tmp_path):
    """Issue #26 item 2, as RobustVideoMatting's converter: the composite, a grey matte video and an RGBA PNG
    sequence (the person as filmed, the matte as alpha) from one pass."""
    out, matte, rgba = tmp_path / "out.mp4", tmp_path / "matte.mkv", tmp_path / "rgba"
    r = run_cli("render", str(clip), "-o", str(out), "--matte", str(matte), "--rgba", str(rgba))
    assert r.returncode == 0, r.stderr
    assert f"wrote {out}, {matte}, {rgba} (30 frames)" in r.stderr
    src, _ = read_video(clip)
    mattes, fps = read_video(matte)
    assert len(read_video(out)[0]) == len(mattes) == 30 and fps == pytest.approx(25)
    names = sorted(p.name for p in rgba.iterdir())
    assert names == [f"{i:06d}.png" for i in range(30)]
    for i in (0, 15, 29):
        m = mattes[i]
        assert np.abs(m[..., 0].astype(int) - m[..., 2]).max() <= 8  # grey
        png = cv2.imread(str(rgba / names[i]), cv2.IMREAD_UNCHANGED)
        assert png.shape == (180, 320, 4)
        assert np.array_equal(png[..., :3], src[i])  # the person as filmed
        assert np.abs(png[..., 3].astype(int) - m[..., 0]).mean() < 3  # the same matte (the video's is lossy)
    assert 0.05 < (mattes[15][..., 0] > 128).mean() < 0.8  # a person, not the whole frame


def test_one_pass_writes_the_matte_and_the_person_with_alpha_for_an_image(tmp_path):
    img = tmp_path / "me.png"
    frame = synthetic_frames(1, 200, 120)[0]
    cv2.imwrite(str(img), frame)
    matte, rgba = tmp_path / "me-matte.png", tmp_path / "rgba"
    r = run_cli("render", str(img), "-o", str(tmp_path / "out.jpg"), "--matte", str(matte), "--rgba", str(rgba),
                "--mode", "blur")
    assert r.returncode == 0, r.stderr
    m = cv2.imread(str(matte), cv2.IMREAD_UNCHANGED)
    png = cv2.imread(str(rgba / "me.png"), cv2.IMREAD_UNCHANGED)
    assert m.shape == (120, 200) and m.dtype == np.uint8  # one channel
    assert png.shape == (120, 200, 4) and np.array_equal(png[..., 3], m) and np.array_equal(png[..., :3], frame)
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temporary left


def test_a_folder_gets_a_folder_of_one_channel_mattes(tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    for i, f in enumerate(synthetic_frames(2, 96, 64)):
        cv2.imwrite(str(src / f"{i}.jpg"), f)
    r = run_cli("render", str(src), "-o", str(tmp_path / "out"), "--matte", str(tmp_path / "mattes"), "-q")
    assert r.returncode == 0, r.stderr
    assert sorted(p.name for p in (tmp_path / "mattes").iterdir()) == ["0.png", "1.png"]  # lossless, whatever in
    assert cv2.imread(str(tmp_path / "mattes" / "1.png"), cv2.IMREAD_UNCHANGED).shape == (64, 96)


@pytest.mark.parametrize("args, message", [
    (["--matte", "m.mp4", "--mode", "style-all"], "--matte needs the person, which --mode style-all does not look for"),
    (["--matte", "m.png"], "--matte m.png must be a video file"),
    (["--matte", "o.mp4"], "--matte o.mp4 is the output; give each output its own name"),
    (["--rgba", "seq.png"], "--rgba seq.png must be a folder, not a .png file"),
    (["--rgba", "clip.mp4"], "is the input"),
])
def test_bad_extra_outputs_are_one_line_before_anything_runs(clip, tmp_path, args, message):
    import shutil

    src = shutil.copy(clip, tmp_path / "clip.mp4")
    r = run_cli("render", str(src), "-o", "o.mp4", *args, cwd=tmp_path)
    assert r.returncode == 1 and len(r.stderr.splitlines()) == 1 and message in r.stderr, r.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.mp4"]
