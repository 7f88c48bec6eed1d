"""`realtime render`: an image, a video or a folder of images through the filter, same kind out."""
from __future__ import annotations

import collections
import contextlib
import logging
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from realtime import logs, modes
from realtime.encode import VIDEO_EXTS, Quality, container_for
from realtime.errors import RealtimeError
from realtime.pipeline import Pipeline
from realtime.sinks import VideoFileSink, check_writable, write_image
from realtime.source import IMAGE_EXTS, iter_video, list_images, open_capture, read_images, source_kind

logger = logging.getLogger(__name__)


def _progress(quiet: bool) -> Progress:
    """The bar on stderr with the log lines, which rich then prints above it; none where stderr is not a terminal
    (a log file or a pipe gets the lines, not a bar's last frame)."""
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                    console=logs.console, disable=quiet or not logs.console.is_terminal, transient=False)


@dataclass(frozen=True)
class Extras:
    """What the same pass writes besides the output, as RobustVideoMatting's converter does: ``matte``, the person
    matte (a grey video for a video, a one-channel image for an image, a folder of one-channel PNGs for a folder);
    ``rgba``, a folder of RGBA PNGs, the person as filmed with the matte as alpha, for editors."""

    matte: Path | None = None
    rgba: Path | None = None

    def paths(self) -> list[tuple[str, Path]]:
        return [(flag, p) for flag, p in (("--matte", self.matte), ("--rgba", self.rgba)) if p is not None]


def check_paths(src: str, dst: Path, quality: Quality | None = None, extras: Extras | None = None,
                mode: str | None = None) -> str:
    """The input's kind ('image', 'video' or 'folder') once ``src``, ``dst`` and the other outputs make sense
    together; RealtimeError otherwise. Cheap, so it runs before the models load, and before anything is opened for
    writing."""
    kind = source_kind(src)
    if kind == "camera" or kind == "url":
        raise RealtimeError("render takes an image, a video file or a folder of images (use `camera` for live)")
    if not Path(src).exists():
        raise RealtimeError(f"source not found: {src}")
    _check_output(src, kind, dst, "output")
    extras = extras or Extras()
    for flag, path in extras.paths():
        _check_output(src, "folder" if flag == "--rgba" else kind, path, flag)
    _check_distinct(dst, extras)
    if extras.paths() and mode is not None and not modes.get(mode).mask:
        with_person = ", ".join(m.name for m in modes.MODES.values() if m.mask)
        flags = [f for f, _ in extras.paths()]
        need = "needs" if len(flags) == 1 else "need"
        raise RealtimeError(f"{' and '.join(flags)} {need} the person, which --mode {mode} does not look for "
                            f"(use one of: {with_person})")
    _check_quality(quality, kind, src, [dst] + ([extras.matte] if extras.matte else []))
    return kind


def _check_output(src: str, kind: str, dst: Path, what: str) -> None:
    """``dst`` can be written for an input of ``kind`` (a folder for a folder, ...) and is not the input."""
    if Path(src).resolve() == dst.resolve() or (dst.exists() and os.path.samefile(src, dst)):
        raise RealtimeError(f"{what} {dst} is the input {src}; writing it would destroy the input, choose another")
    suffix = dst.suffix.lower()
    if kind == "folder":
        if suffix in IMAGE_EXTS or suffix in VIDEO_EXTS:
            raise RealtimeError(f"{what} {dst} must be a folder, not a {suffix} file")
        if dst.exists() and not dst.is_dir():
            raise RealtimeError(f"{what} {dst} exists and is not a folder")
        return
    if kind == "image" and suffix not in IMAGE_EXTS:
        raise RealtimeError(f"{what} {dst} must be an image file (.png, .jpg, ...) for an image input")
    if kind == "video":
        if suffix in IMAGE_EXTS or not suffix:
            exts = ", ".join(sorted(VIDEO_EXTS))
            raise RealtimeError(f"{what} {dst} must be a video file ({exts}) for a video input")
        container_for(dst)
    check_writable(dst)


def _check_distinct(dst: Path, extras: Extras) -> None:
    seen = {dst.resolve(): "the output"}
    for flag, path in extras.paths():
        if path.resolve() in seen:
            raise RealtimeError(f"{flag} {path} is {seen[path.resolve()]}; give each output its own name")
        seen[path.resolve()] = flag


def _check_quality(quality: Quality | None, kind: str, src: str, videos: list[Path]) -> None:
    if quality is None or not quality.given:
        return
    if kind != "video":
        what = "an image" if kind == "image" else "a folder"
        raise RealtimeError(f"--crf and --bitrate are for video output; {src} is {what}")
    for path in videos:
        quality.check(path)


def render(pipeline: Pipeline, src: str, dst: Path, stop: threading.Event | None = None,
           quiet: bool = False, quality: Quality | None = None, extras: Extras | None = None) -> int:
    """Filter ``src`` into ``dst`` (and ``extras``, in the same pass); returns the number of frames written. Every file
    appears complete or not at all (``sinks.AtomicFile``); when ``stop`` is set, the frames done so far are finalised
    and kept. A video keeps its audio; ``quality`` sets the video's ``--crf`` or ``--bitrate``."""
    stop = stop or threading.Event()
    extras = extras or Extras()
    kind = check_paths(src, dst, quality, extras, pipeline.mode.name)
    if extras.rgba is not None:
        _make_folder(extras.rgba)
    if kind == "image":
        result = _one(pipeline, Path(src), stop)
        if result is None:
            return 0
        write_image(dst, result.out)
        _write_extras(result, extras, extras.matte, Path(src).stem)
        return 1
    if kind == "folder":
        return _folder(pipeline, Path(src), dst, stop, quiet, extras)
    return _video(pipeline, src, dst, stop, quiet, quality or Quality(), extras)


@dataclass
class Filtered:
    """One frame through the pipeline: the output, the input as it was filtered (mirrored with ``--mirror``) and
    the person matte the output was composited with (None in modes without one)."""

    out: np.ndarray
    frame: np.ndarray
    matte: np.ndarray | None


def _write_extras(result: Filtered, extras: Extras, matte: Path | None, name: str) -> None:
    """A still's matte to ``matte`` and the person with alpha to ``extras.rgba``/``name``.png."""
    if matte is not None:
        write_image(matte, result.matte)
    if extras.rgba is not None:
        write_image(extras.rgba / f"{name}.png", np.dstack((result.frame, result.matte)))  # BGRA: a PNG with alpha


def _make_folder(path: Path) -> None:
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise RealtimeError(f"cannot create folder {path}: {exc.strerror}") from None


def _filter(pipeline: Pipeline, image: np.ndarray, name: str, stop: threading.Event, t: float = 0.0,
            coming: tuple[np.ndarray, ...] = ()) -> Filtered | None:
    """``pipeline.process`` of the frame at ``t`` s (``_as_read``), ``coming`` the frames that follow it; None when a
    stop ended it (a running network is ended by ``inference.stop_runs``)."""
    try:
        return Filtered(pipeline.process(image, t, coming), image, pipeline.matte)
    except Exception as exc:
        if stop.is_set():
            return None
        if isinstance(exc, ValueError):  # the pipeline's word for a frame it cannot take (1x1, ...)
            raise RealtimeError(f"cannot filter {name}: {exc}") from None
        raise


def _one(pipeline: Pipeline, path: Path, stop: threading.Event) -> Filtered | None:
    """One still, unrelated to the one before it: nothing the pipeline remembers is carried over."""
    image = _as_read(pipeline, read_images(str(path))[0])
    pipeline.reset()
    return _filter(pipeline, image, str(path), stop)


def _as_read(pipeline: Pipeline, image: np.ndarray, size: tuple[int, int] | None = None) -> np.ndarray:
    """A frame as the source gives it: ``--mirror`` is the source's, as for a camera; a video's frames at its size."""
    if size is not None and image.shape[1::-1] != size:
        image = cv2.resize(image, size)
    return cv2.flip(image, 1) if pipeline.settings.mirror else image


def _with_coming(frames: Iterator[np.ndarray], n: int) -> Iterator[tuple[np.ndarray, tuple[np.ndarray, ...]]]:
    """Each frame with the (up to) ``n`` frames that follow it."""
    window: collections.deque[np.ndarray] = collections.deque()
    for frame in frames:
        window.append(frame)
        if len(window) > n:
            yield window.popleft(), tuple(window)
    while window:
        yield window.popleft(), tuple(window)


def _folder(pipeline: Pipeline, src: Path, dst: Path, stop: threading.Event, quiet: bool, extras: Extras) -> int:
    paths = list_images(src)
    if not paths:
        raise RealtimeError(f"no images found in {src}")
    if extras.paths():
        _check_png_names(src, paths)
    for folder in [dst] + ([extras.matte] if extras.matte else []):
        _make_folder(folder)
    done, skipped = 0, []
    with _progress(quiet) as bar:
        task = bar.add_task(f"rendering {src.name}", total=len(paths))
        for p in paths:
            if stop.is_set():
                break
            try:
                result = _one(pipeline, p, stop)
            except RealtimeError as exc:  # as batch tools do: say so, do the rest, fail at the end
                logger.warning("skipped %s: %s", p.name, exc)
                skipped.append(p.name)
                continue
            if result is None:
                break
            write_image(dst / p.name, result.out)
            _write_extras(result, extras, extras.matte / f"{p.stem}.png" if extras.matte else None, p.stem)
            done += 1
            bar.advance(task)
    if skipped:
        raise RealtimeError(f"skipped {len(skipped)} of {len(paths)} images in {src} that could not be read or "
                            f"filtered: {', '.join(skipped)} (the other {done} are in {dst})")
    return done


def _check_png_names(src: Path, paths: list[Path]) -> None:
    """A folder's mattes and RGBA pictures are PNGs named after the pictures: two of one name would collide."""
    seen: dict[str, str] = {}
    for p in paths:
        if p.stem in seen:
            raise RealtimeError(f"{seen[p.stem]} and {p.name} in {src} would both have their matte written as "
                                f"{p.stem}.png; rename one")
        seen[p.stem] = p.name


def _video(pipeline: Pipeline, src: str, dst: Path, stop: threading.Event, quiet: bool, quality: Quality,
           extras: Extras) -> int:
    from realtime.source import video_info

    cap = open_capture(src)
    w, h, fps, count = video_info(cap)
    ok, first = cap.read()
    if not ok:
        cap.release()
        raise RealtimeError(f"cannot read frames from {src} (empty or corrupt video)")
    done = 0
    try:
        pipeline.reset()
        with contextlib.ExitStack() as files:
            # the matte first: closed last, so a composite that fails to close takes it along
            matte = files.enter_context(VideoFileSink(extras.matte, w, h, fps, quality)) if extras.matte else None
            sink = files.enter_context(VideoFileSink(dst, w, h, fps, quality, audio_from=src))
            bar = files.enter_context(_progress(quiet))
            task = bar.add_task(f"rendering {Path(src).name}", total=count if count > 0 else None)
            # the frames that follow each are read ahead: a scene cut is then painted from its first frame on
            decoded = iter_video(cap)
            files.callback(decoded.close)  # its reader thread ends before the video is released, however this ends
            frames = (_as_read(pipeline, img, (w, h)) for img in _chain(first, decoded))
            for img, coming in _with_coming(frames, pipeline.lookahead):
                if stop.is_set():
                    break
                result = _filter(pipeline, img, src, stop, done / fps, coming)
                if result is None:
                    break
                sink.send(result.out)
                if matte is not None:
                    matte.send(result.matte)
                if extras.rgba is not None:
                    write_image(extras.rgba / f"{done:06d}.png", np.dstack((result.frame, result.matte)))
                done += 1
                bar.advance(task)
            if not stop.is_set():  # read to its end: all of the audio; stopped, it ends with the last frame
                sink.end_of_input()
    finally:
        cap.release()
    # containers that estimate their frame count (mkv: duration x fps) are off by one or two
    if not stop.is_set() and count > 0 and count - done > max(2, count // 50):
        raise RealtimeError(f"{src} ended after {done} of the {count} frames its container announces (truncated "
                            f"or damaged?); {dst} has those {done}")
    return done


def _chain(first, rest):
    yield first
    yield from rest
