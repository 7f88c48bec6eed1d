"""`realtime render`: an image, a video or a folder of images through the filter, same kind out."""
from __future__ import annotations

import os
import sys
import threading
from pathlib import Path

import cv2
import numpy as np
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from realtime.errors import RealtimeError
from realtime.pipeline import Pipeline
from realtime.sinks import VideoFileSink, check_writable, write_image
from realtime.source import IMAGE_EXTS, iter_video, list_images, open_capture, read_images, source_kind


def _progress(quiet: bool) -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                    disable=quiet, transient=False)


def _stderr(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def check_paths(src: str, dst: Path) -> str:
    """The input's kind ('image', 'video' or 'folder') once ``src`` and ``dst`` make sense together; RealtimeError
    otherwise. Cheap, so it runs before the models load, and before anything is opened for writing."""
    kind = source_kind(src)
    if kind == "camera" or kind == "url":
        raise RealtimeError("render takes an image, a video file or a folder of images (use `camera` for live)")
    if not Path(src).exists():
        raise RealtimeError(f"source not found: {src}")
    if Path(src).resolve() == dst.resolve() or (dst.exists() and os.path.samefile(src, dst)):
        raise RealtimeError(f"output {dst} is the input {src}; writing it would destroy the input, choose another")
    suffix = dst.suffix.lower()
    if kind == "folder":
        if suffix in IMAGE_EXTS or suffix in VideoFileSink.CODECS:
            raise RealtimeError(f"output {dst} must be a folder for a folder input, not a {suffix} file")
        if dst.exists() and not dst.is_dir():
            raise RealtimeError(f"output {dst} exists and is not a folder (a folder input renders into a folder)")
        return kind
    if kind == "image" and suffix not in IMAGE_EXTS:
        raise RealtimeError(f"output {dst} must be an image file (.png, .jpg, ...) for an image input")
    if kind == "video" and (suffix in IMAGE_EXTS or not suffix):
        raise RealtimeError(f"output {dst} must be a video file (.mp4, .avi, .mkv) for a video input")
    check_writable(dst)
    return kind


def render(pipeline: Pipeline, src: str, dst: Path, stop: threading.Event | None = None,
           quiet: bool = False, log=_stderr) -> int:
    """Filter ``src`` into ``dst``; returns the number of frames written. Every file appears complete or not at
    all (``sinks.AtomicFile``); when ``stop`` is set, the frames done so far are finalised and kept."""
    stop = stop or threading.Event()
    kind = check_paths(src, dst)
    if kind == "image":
        out = _one(pipeline, Path(src), stop)
        if out is None:
            return 0
        write_image(dst, out)
        return 1
    if kind == "folder":
        return _folder(pipeline, Path(src), dst, stop, quiet, log)
    return _video(pipeline, src, dst, stop, quiet)


def _filter(pipeline: Pipeline, image: np.ndarray, name: str, stop: threading.Event,
            t: float = 0.0) -> np.ndarray | None:
    """``pipeline.process`` of the frame at ``t`` s as the source gives it (``--mirror`` is the source's, as for a
    camera); None when a stop ended it (a running network is ended by ``inference.stop_runs``)."""
    if pipeline.settings.mirror:
        image = cv2.flip(image, 1)
    try:
        return pipeline.process(image, t)
    except Exception as exc:
        if stop.is_set():
            return None
        if isinstance(exc, ValueError):  # the pipeline's word for a frame it cannot take (1x1, ...)
            raise RealtimeError(f"cannot filter {name}: {exc}") from None
        raise


def _one(pipeline: Pipeline, path: Path, stop: threading.Event) -> np.ndarray | None:
    """One still, unrelated to the one before it: nothing the pipeline remembers is carried over."""
    image = read_images(str(path))[0]
    pipeline.reset()
    return _filter(pipeline, image, str(path), stop)


def _folder(pipeline: Pipeline, src: Path, dst: Path, stop: threading.Event, quiet: bool, log) -> int:
    paths = list_images(src)
    if not paths:
        raise RealtimeError(f"no images found in {src}")
    try:
        dst.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise RealtimeError(f"cannot create folder {dst}: {exc.strerror}") from None
    done, skipped = 0, []
    with _progress(quiet) as bar:
        task = bar.add_task(f"rendering {src.name}", total=len(paths))
        for p in paths:
            if stop.is_set():
                break
            try:
                out = _one(pipeline, p, stop)
            except RealtimeError as exc:  # as batch tools do: say so, do the rest, fail at the end
                log(f"warning: skipped {p.name}: {exc}")
                skipped.append(p.name)
                continue
            if out is None:
                break
            write_image(dst / p.name, out)
            done += 1
            bar.advance(task)
    if skipped:
        raise RealtimeError(f"skipped {len(skipped)} of {len(paths)} images in {src} that could not be read or "
                            f"filtered: {', '.join(skipped)} (the other {done} are in {dst})")
    return done


def _video(pipeline: Pipeline, src: str, dst: Path, stop: threading.Event, quiet: bool) -> int:
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
        with VideoFileSink(dst, w, h, fps, color=pipeline.mode.channels == 3) as sink, _progress(quiet) as bar:
            task = bar.add_task(f"rendering {Path(src).name}", total=count if count > 0 else None)
            for img in _chain(first, iter_video(cap)):
                if stop.is_set():
                    break
                if img.shape[:2] != (h, w):
                    img = cv2.resize(img, (w, h))
                out = _filter(pipeline, img, src, stop, done / fps)
                if out is None:
                    break
                sink.send(out)
                done += 1
                bar.advance(task)
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
