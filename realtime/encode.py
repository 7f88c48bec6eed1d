"""Video files through PyAV (the FFmpeg in its wheels): H.264 in MP4, MOV and MKV, MJPEG in AVI, and the source's
audio carried over, copied where the container holds its codec as players expect it, re-encoded where not.

``sinks.VideoFileSink`` wraps this with the atomic write; this module only knows what goes into the file. PyAV is
imported on first use, so the live commands never load it.
"""
from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np

from realtime.errors import EXIT_USAGE, RealtimeError

CRF_RANGE = (0.0, 51.0)  # x264's, 8-bit
BITRATE_RANGE = (10_000, 1_000_000_000)  # bits/s: below, no picture survives; above, no player keeps up
MJPEG_QUALITY = 3  # the JPEG quantiser, 2 (best) .. 31; OpenCV's MJPG writer was about as good
QP2LAMBDA = 118  # FFmpeg's FF_QP2LAMBDA: global_quality is a quantiser in these units


@dataclass(frozen=True)
class Container:
    """How a file extension is written: FFmpeg's muxer, the video encoder, the audio encoder used when the source's
    audio cannot be copied, the audio codecs copied as they are (None: whatever the muxer takes), muxer options."""

    format: str
    video: str
    audio: str
    copy_audio: frozenset[str] | None
    options: dict[str, str] = field(default_factory=dict)

    @property
    def takes_crf(self) -> bool:
        return self.video == "libx264"


# MP4/MOV: what browsers and phones play there; anything else (PCM, Vorbis, FLAC, Opus...) becomes AAC.
# +faststart moves the index to the front, so a browser starts playing before the whole file is in.
_MP4_AUDIO = frozenset({"aac", "mp3", "ac3", "eac3", "alac"})
_MP4 = Container("mp4", "libx264", "aac", _MP4_AUDIO, {"movflags": "+faststart"})
CONTAINERS: dict[str, Container] = {
    ".mp4": _MP4,
    ".m4v": _MP4,
    ".mov": Container("mov", "libx264", "aac", _MP4_AUDIO, {"movflags": "+faststart"}),
    ".mkv": Container("matroska", "libx264", "aac", None),
    # AVI is for old editors and players: intra-only MJPEG (every frame a JPEG, cut anywhere) and MP3 sound
    ".avi": Container("avi", "mjpeg", "libmp3lame", frozenset({"mp3", "mp2", "ac3", "pcm_s16le", "pcm_u8"})),
}
VIDEO_EXTS = frozenset(CONTAINERS)


def container_for(path: Path) -> Container:
    try:
        return CONTAINERS[path.suffix.lower()]
    except KeyError:
        raise RealtimeError(f"cannot write video {path}: no video writer for {path.suffix or 'no extension'} "
                            f"(use {', '.join(sorted(VIDEO_EXTS))})") from None


@dataclass(frozen=True)
class Quality:
    """``--crf`` (x264's constant quality: lower is better and bigger; 23 by default) or ``--bitrate`` (bits/s)."""

    crf: float | None = None
    bitrate: int | None = None

    @classmethod
    def parse(cls, crf: float | None = None, bitrate: str | int | None = None) -> Quality:
        """Checked values; RealtimeError with one line for each way they can be wrong."""
        if crf is not None and bitrate is not None:
            raise RealtimeError("--crf and --bitrate cannot be used together (constant quality or a fixed rate: "
                                "pick one)", EXIT_USAGE)
        if crf is not None and not CRF_RANGE[0] <= crf <= CRF_RANGE[1]:
            raise RealtimeError(f"--crf must be {CRF_RANGE[0]:g}..{CRF_RANGE[1]:g} (lower: better and bigger; "
                                f"default 23), got {crf:g}")
        return cls(crf, None if bitrate is None else parse_bitrate(bitrate))

    def check(self, path: Path) -> None:
        """RealtimeError when ``path``'s format has no use for this quality setting."""
        if self.crf is not None and not container_for(path).takes_crf:
            raise RealtimeError(f"--crf sets H.264's quality (.mp4, .mkv, .mov); {path.suffix} is written as MJPEG, "
                                "which takes --bitrate")

    @property
    def given(self) -> bool:
        return self.crf is not None or self.bitrate is not None


def parse_bitrate(value: str | int) -> int:
    """``4M``, ``2500k``, ``800000`` -> bits/s; RealtimeError when it is none of these or out of range."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kKmM]?)(?:bps|b/s)?\s*", str(value))
    if not m:
        raise RealtimeError(f"--bitrate must be a bit rate like 4M, 2500k or 800000 (bits per second), got {value!r}")
    bits = round(float(m.group(1)) * {"": 1, "k": 1e3, "m": 1e6}[m.group(2).lower()])
    if not BITRATE_RANGE[0] <= bits <= BITRATE_RANGE[1]:
        raise RealtimeError(f"--bitrate must be 10k..1000M, got {value}")
    return bits


def even(frame: np.ndarray) -> np.ndarray:
    """4:2:0 video needs an even width and height: an odd one gets its last column or row repeated."""
    h, w = frame.shape[:2]
    if not (h % 2 or w % 2):
        return frame
    return cv2.copyMakeBorder(frame, 0, h % 2, 0, w % 2, cv2.BORDER_REPLICATE)


class VideoWriter:
    """Frames (BGR, or one channel for a matte) at a fixed size and rate into ``path``, and the audio of ``audio_from``
    when it has any. ``write`` each frame; ``end_of_input`` when the source's video was read to its end (the rest of
    its audio follows); ``close`` finalises (a stopped render: the audio ends with the last frame)."""

    def __init__(self, path: Path, container: Container, width: int, height: int, fps: float,
                 quality: Quality | None = None, audio_from: str | None = None) -> None:
        import av

        self.fps = Fraction(fps).limit_denominator(1001)  # 29.97 is 30000/1001, as cameras write it
        self.out = av.open(str(path), "w", format=container.format, options=container.options)
        try:
            self.video = self._video_stream(container, width + width % 2, height + height % 2, quality or Quality())
            self.audio = AudioCarry.open(audio_from, self.out, container) if audio_from else None
        except BaseException:
            with contextlib.suppress(Exception):  # the error that got us here is the one to report
                self.out.close()
            raise
        self.cc = self.video.codec_context
        self.frames = 0

    def _video_stream(self, container: Container, width: int, height: int, quality: Quality):
        stream = self.out.add_stream(container.video, rate=self.fps)
        cc = stream.codec_context
        cc.width, cc.height = width, height
        # tagged as what swscale converts with (BT.601, limited range), so players do not guess by frame size
        cc.colorspace, cc.color_range = 6, 1  # AVCOL_SPC_SMPTE170M, AVCOL_RANGE_MPEG
        if container.video == "libx264":
            cc.pix_fmt = "yuv420p"  # the one every player decodes (High 4:4:4 is not)
            if quality.bitrate:
                cc.bit_rate = quality.bitrate
            else:
                cc.options = {"crf": f"{23 if quality.crf is None else quality.crf:g}"}
        else:  # mjpeg: full-range 4:2:0 JPEGs at a fixed quantiser unless a rate is asked for
            cc.pix_fmt, cc.color_range = "yuv420p", 2  # AVCOL_RANGE_JPEG
            if quality.bitrate:
                cc.bit_rate = quality.bitrate
            else:
                cc.options = {"flags": "+qscale", "global_quality": str(MJPEG_QUALITY * QP2LAMBDA)}
        return stream

    def write(self, frame: np.ndarray) -> None:
        import av

        image = av.VideoFrame.from_ndarray(even(frame), format="gray" if frame.ndim == 2 else "bgr24")
        # converted here, not by the encoder, which would not be told the range its stream is tagged with
        image = image.reformat(format="yuv420p", dst_colorspace=self.cc.colorspace,
                               dst_color_range=self.cc.color_range)
        image.pts, image.time_base = self.frames, 1 / self.fps
        self.out.mux(self.video.encode(image))
        self.frames += 1
        if self.audio is not None:  # the sound kept level with the picture, so a stop ends both together
            self.audio.until(self.frames / self.fps)

    def end_of_input(self) -> None:
        if self.audio is not None:
            self.audio.until(None)

    def close(self) -> None:
        try:
            self.out.mux(self.video.encode(None))  # the frames the encoder still holds (x264's look-ahead)
            if self.audio is not None:
                self.audio.flush()
        finally:
            if self.audio is not None:
                self.audio.source.close()
            self.out.close()


class AudioCarry:
    """The first audio track of a source file, carried into an output container as the picture is written: packets
    copied as they are where the container takes the codec, else decoded and re-encoded. Its own demuxer, so the
    picture can be decoded by anything; timestamps made relative to the source's first video frame, which is the
    output's first frame."""

    def __init__(self, source, stream, out, copy: bool, encoder: str) -> None:
        self.source, self.copy, self.out = source, copy, out
        self.start = _video_start(source)
        if copy:
            self.stream = out.add_stream_from_template(stream)
        else:
            self.stream = out.add_stream(encoder, rate=_rate(encoder, stream.rate))
            # by the channel count: a source's layout may be unnamed ("1 channels"), which encoders refuse
            channels = min(stream.layout.nb_channels, _MAX_CHANNELS[encoder])
            self.stream.codec_context.layout = _LAYOUTS[channels]
        self.packets = source.demux(stream)
        self.pending = None  # the packet read ahead that belongs after the picture written so far

    @classmethod
    def open(cls, path: str, out, container: Container) -> AudioCarry | None:
        """None when ``path`` has no audio (or none that can be decoded)."""
        import av

        try:
            source = av.open(path)
        except av.FFmpegError:
            return None
        stream = next((s for s in source.streams.audio if s.codec_context.name), None)
        if stream is None:
            source.close()
            return None
        name = stream.codec_context.name
        takes = container.copy_audio if container.copy_audio is not None else out.supported_codecs
        return cls(source, stream, out, name in takes, container.audio)

    def until(self, t: float | Fraction | None) -> None:
        """Write the source's audio up to ``t`` seconds into the output (None: all of it)."""
        while (packet := self._next()) is not None:
            if t is not None and packet.pts is not None and (packet.pts * packet.time_base) - self.start >= t:
                self.pending = packet
                return
            self._write(packet)

    def _next(self):
        import av

        if self.pending is not None:
            packet, self.pending = self.pending, None
            return packet
        try:
            for packet in self.packets:
                if packet.size:  # demux ends each stream with an empty packet
                    return packet
        except av.FFmpegError:  # a damaged source: its audio ends here, as its picture does
            pass
        return None

    def _write(self, packet) -> None:
        import av

        offset = round(self.start / packet.time_base) if packet.time_base else 0
        if self.copy:
            packet.pts = None if packet.pts is None else packet.pts - offset
            packet.dts = None if packet.dts is None else packet.dts - offset
            packet.stream = self.stream
            self.out.mux(packet)
            return
        try:
            frames = packet.decode()
        except av.FFmpegError:  # a damaged packet of the source: skipped, as FFmpeg's own tools do
            return
        for frame in frames:
            if frame.pts is not None:
                frame.pts -= offset
            self.out.mux(self.stream.encode(frame))

    def flush(self) -> None:
        if not self.copy:
            self.out.mux(self.stream.encode(None))


_MAX_CHANNELS = {"aac": 8, "libmp3lame": 2}
_LAYOUTS = {1: "mono", 2: "stereo", 3: "3.0", 4: "quad", 5: "5.0", 6: "5.1", 7: "6.1", 8: "7.1"}


def _rate(encoder: str, rate: int) -> int:
    """The source's sample rate where the encoder takes it, else the nearest it does (MP3 stops at 48 kHz)."""
    import av

    rates = av.Codec(encoder, "w").audio_rates
    return rate if not rates or rate in rates else min(rates, key=lambda r: abs(r - rate))


def _video_start(source) -> Fraction:
    """When the source's first video frame is shown, in seconds (0 without video or a start time)."""
    for s in source.streams.video:
        if s.start_time is not None and s.time_base:
            return s.start_time * s.time_base
    return Fraction(0)


def count_frames(path: Path) -> int:
    """The video frames a finished file holds, as its index says (MP4, AVI) or counted from its packets without
    decoding (MKV has no count); -1 when it cannot be opened."""
    import av

    try:
        with av.open(str(path)) as f:
            stream = f.streams.video[0]
            return stream.frames or sum(1 for p in f.demux(stream) if p.size)
    except (av.FFmpegError, IndexError, OSError):
        return -1
