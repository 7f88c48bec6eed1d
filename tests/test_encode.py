"""Video files through PyAV (issue #26 item 1): H.264 that browsers play, the source's sound kept, --crf/--bitrate."""
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from conftest import read_video, run_cli, synthetic_frames

av = pytest.importorskip("av", reason="PyAV is a dependency: pip install -e .")

FPS = 25


def write_clip(path: Path, frames: list[np.ndarray], audio: str | None = "pcm_s16le", rate: int = 44100,
               seconds: float | None = None) -> Path:
    """A clip as a camera or phone would give it: MPEG-4 video and, unless ``audio`` is None, a 440 Hz tone in that
    codec (``seconds`` long; as long as the picture by default)."""
    h, w = frames[0].shape[:2]
    with av.open(str(path), "w") as out:
        video = out.add_stream("mpeg4", rate=FPS)
        video.width, video.height, video.pix_fmt = w, h, "yuv420p"
        sound = out.add_stream(audio, rate=rate) if audio else None
        if sound is not None:
            sound.codec_context.layout = "stereo"
        for i, f in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(f, format="bgr24")
            frame.pts = i
            out.mux(video.encode(frame))
        out.mux(video.encode(None))
        if sound is None:
            return path
        n = round(rate * (len(frames) / FPS if seconds is None else seconds))
        tone = (0.3 * 32767 * np.sin(2 * np.pi * 440 * np.arange(n) / rate)).astype(np.int16)
        for start in range(0, n, 1024):
            chunk = np.repeat(tone[None, start:start + 1024], 2, axis=0).T.reshape(1, -1)  # interleaved stereo
            frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(chunk), format="s16", layout="stereo")
            frame.sample_rate, frame.pts = rate, start
            out.mux(sound.encode(frame))
        out.mux(sound.encode(None))
    return path


def probe(path: Path) -> dict:
    """Codec names, pixel format, frame count and the decoded audio's length in seconds and loudness (RMS)."""
    with av.open(str(path)) as f:
        v = f.streams.video[0]
        info = {"video": v.codec_context.name, "pix_fmt": v.codec_context.pix_fmt, "size": (v.width, v.height),
                "frames": sum(1 for p in f.demux(v) if p.size), "audio": None}
    with av.open(str(path)) as f:
        if f.streams.audio:
            a = f.streams.audio[0]
            samples = [frame.to_ndarray().astype(np.float64) for frame in f.decode(a)]
            pcm = np.concatenate([s.reshape(-1) for s in samples])
            scale = 32768.0 if samples[0].max() > 1.5 else 1.0  # s16 or float samples
            info.update(audio=a.codec_context.name, seconds=sum(s.shape[-1] for s in samples) / a.rate
                        / (1 if a.codec_context.format.is_planar else a.channels),
                        rms=float(np.sqrt(np.mean((pcm / scale) ** 2))))
    return info


@pytest.fixture(scope="module")
def talk(tmp_path_factory) -> Path:
    """40 frames with 1.6 s of PCM sound, in MKV (PCM is not what MP4 players take: re-encoded as AAC there)."""
    return write_clip(tmp_path_factory.mktemp("talk") / "talk.mkv", synthetic_frames(40))


def test_mp4_is_h264_with_the_sound_kept(talk, tmp_path):
    out = tmp_path / "out.mp4"
    r = run_cli("render", str(talk), "-o", str(out), "-q")
    assert r.returncode == 0, r.stderr
    src, got = probe(talk), probe(out)
    assert (got["video"], got["pix_fmt"], got["frames"]) == ("h264", "yuv420p", 40)
    assert got["audio"] == "aac" and src["audio"] == "pcm_s16le"  # MP4 players take AAC, not PCM
    assert abs(got["seconds"] - src["seconds"]) < 1 / FPS, (got, src)  # within one frame
    assert got["rms"] == pytest.approx(src["rms"], rel=0.1)  # the tone, not silence
    data = out.read_bytes()
    assert data.index(b"moov") < data.index(b"mdat")  # +faststart: a browser plays it before it is all loaded
    assert len(read_video(out)[0]) == 40  # and OpenCV reads it as before


def test_mkv_copies_the_sound_as_it_is(tmp_path):
    """Audio a container takes as it is, is copied packet for packet (no generation loss); the picture is H.264."""
    src = write_clip(tmp_path / "in.mp4", synthetic_frames(25), audio="aac")
    out = tmp_path / "out.mkv"
    r = run_cli("render", str(src), "-o", str(out), "-q", "--mode", "blur")
    assert r.returncode == 0, r.stderr

    def packets(path):
        with av.open(str(path)) as f:
            return [bytes(p) for p in f.demux(f.streams.audio[0]) if p.size]

    assert probe(out)["video"] == "h264" and probe(out)["audio"] == "aac"
    assert packets(out) == packets(src)


def test_avi_is_mjpeg_with_its_sound(talk, tmp_path):
    out = tmp_path / "out.avi"
    r = run_cli("render", str(talk), "-o", str(out), "-q", "--mode", "none", "--bitrate", "3M")
    assert r.returncode == 0, r.stderr
    got = probe(out)
    assert (got["video"], got["frames"], got["audio"]) == ("mjpeg", 40, "pcm_s16le")
    assert abs(got["seconds"] - probe(talk)["seconds"]) < 1 / FPS


def test_a_stopped_render_ends_its_sound_with_the_picture(talk, tmp_path):
    """A stop keeps the frames so far; the sound after them would be a black screen talking: it is left out."""
    from realtime.sinks import VideoFileSink

    out = tmp_path / "part.mp4"
    with VideoFileSink(out, 320, 180, FPS, audio_from=str(talk)) as sink:
        for f in synthetic_frames(10):
            sink.send(f)
    got = probe(out)
    assert got["frames"] == 10 and abs(got["seconds"] - 10 / FPS) < 1 / FPS, got


def test_no_audio_in_no_audio_out_and_odd_sizes_play(tmp_path):
    """4:2:0 video needs an even size: 161x97 frames get a repeated last column and row."""
    from realtime.sinks import VideoFileSink

    frames = [f[:97, :161] for f in synthetic_frames(5)]
    src = write_clip(tmp_path / "in.mkv", frames, audio=None)
    out = tmp_path / "out.mp4"
    with VideoFileSink(out, 161, 97, FPS, audio_from=str(src)) as sink:
        for f in frames:
            sink.send(f)
    got = probe(out)
    assert got["audio"] is None and got["frames"] == 5 and got["size"] == (162, 98)
    back = read_video(out)[0][2]
    assert np.abs(back[:97, :161].astype(int) - frames[2]).mean() < 4


def test_crf_and_bitrate_set_the_size(tmp_path):
    from realtime.encode import CONTAINERS, Quality, VideoWriter

    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 255, (96, 160, 3), dtype=np.uint8) for _ in range(10)]

    def size(quality: Quality) -> int:
        path = tmp_path / f"{quality.crf}-{quality.bitrate}.mp4"
        writer = VideoWriter(path, CONTAINERS[".mp4"], 160, 96, FPS, quality)
        for f in frames:
            writer.write(f)
        writer.close()
        return path.stat().st_size

    assert size(Quality(crf=10)) > size(Quality()) > size(Quality(crf=40))
    small, big = size(Quality(bitrate=100_000)), size(Quality(bitrate=2_000_000))
    assert big > 4 * small
    assert small < 100_000 / 8 * len(frames) / FPS * 2  # about the rate asked for (x264 overshoots at the start)


@pytest.mark.parametrize("value, bits", [("4M", 4_000_000), ("2500k", 2_500_000), ("800000", 800_000),
                                         ("1.5m", 1_500_000), ("6Mbps", 6_000_000)])
def test_bitrate_spellings(value, bits):
    from realtime.encode import Quality

    assert Quality.parse(bitrate=value).bitrate == bits


@pytest.mark.parametrize("args, code, message", [
    (["--crf", "60"], 1, "error: --crf must be 0..51"),
    (["--crf", "-1"], 1, "error: --crf must be 0..51"),
    (["--bitrate", "fast"], 1, "error: --bitrate must be a bit rate like 4M"),
    (["--bitrate", "0"], 1, "error: --bitrate must be 10k..1000M"),
    (["--crf", "20", "--bitrate", "4M"], 2, "error: --crf and --bitrate cannot be used together"),
])
def test_bad_crf_or_bitrate_is_one_line(talk, tmp_path, args, code, message):
    r = run_cli("render", str(talk), "-o", str(tmp_path / "o.mp4"), *args)
    assert r.returncode == code and r.stderr.splitlines() == [r.stderr.strip()] and r.stderr.startswith(message), \
        r.stderr
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("out, args, message", [
    ("o.avi", ["--crf", "20"], "--crf sets H.264's quality (.mp4, .mkv, .mov); .avi is written as MJPEG"),
    ("o.webm", [], "no video writer for .webm (use .avi, .m4v, .mkv, .mov, .mp4)"),
])
def test_what_a_container_cannot_take_is_said_before_rendering(talk, tmp_path, out, args, message):
    r = run_cli("render", str(talk), "-o", str(tmp_path / out), *args)
    assert r.returncode == 1 and message in r.stderr and len(r.stderr.splitlines()) == 1, r.stderr


def test_crf_is_for_videos(tmp_path):
    import cv2

    img = tmp_path / "in.png"
    cv2.imwrite(str(img), synthetic_frames(1)[0])
    r = run_cli("render", str(img), "-o", str(tmp_path / "o.png"), "--crf", "20")
    assert r.returncode == 1 and "--crf and --bitrate are for video output" in r.stderr, r.stderr


def test_ntsc_rates_are_kept_exactly(tmp_path):
    """OpenCV reports 29.97 fps as a float; written as 30000/1001, as cameras do, not 2997/100."""
    from realtime.encode import CONTAINERS, VideoWriter

    path = tmp_path / "ntsc.mp4"
    writer = VideoWriter(path, CONTAINERS[".mp4"], 160, 96, 30000 / 1001)
    for f in synthetic_frames(5, 160, 96):
        writer.write(f)
    writer.close()
    with av.open(str(path)) as f:
        assert f.streams.video[0].average_rate == Fraction(30000, 1001)
