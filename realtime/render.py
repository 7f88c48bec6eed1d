"""`realtime render`: an image, a video or a folder of images through the filter, same kind out."""
from __future__ import annotations

import threading
from pathlib import Path

import cv2
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from realtime.errors import RealtimeError
from realtime.pipeline import Pipeline
from realtime.sinks import VideoFileSink, check_writable, write_image
from realtime.source import IMAGE_EXTS, iter_video, list_images, open_capture, read_images, source_kind


def _progress(quiet: bool) -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                    disable=quiet, transient=False)


def render(pipeline: Pipeline, src: str, dst: Path, stop: threading.Event | None = None,
           quiet: bool = False) -> int:
    """Filter ``src`` into ``dst``; returns the number of frames written. Stops cleanly (file finalised)
    when ``stop`` is set."""
    stop = stop or threading.Event()
    kind = source_kind(src)
    if kind == "camera" or kind == "url":
        raise RealtimeError("render takes an image, a video file or a folder of images (use `camera` for live)")
    if kind == "image":
        if dst.suffix.lower() not in IMAGE_EXTS:
            raise RealtimeError(f"output {dst} must be an image file (.png, .jpg, ...) for an image input")
        check_writable(dst)
        out = _one(pipeline, read_images(src)[0])
        write_image(dst, out)
        return 1
    if kind == "folder":
        return _folder(pipeline, Path(src), dst, stop, quiet)
    return _video(pipeline, src, dst, stop, quiet)


def _one(pipeline: Pipeline, image):
    """One still, unrelated to the one before it: nothing the pipeline remembers is carried over."""
    pipeline.reset()
    return pipeline.process(_oriented(pipeline, image))


def _oriented(pipeline: Pipeline, image):
    """The frame as the source gives it (``--mirror`` is the source's, as for a camera)."""
    return cv2.flip(image, 1) if pipeline.settings.mirror else image


def _folder(pipeline: Pipeline, src: Path, dst: Path, stop: threading.Event, quiet: bool) -> int:
    paths = list_images(src)
    if not paths:
        raise RealtimeError(f"no images found in {src}")
    if dst.suffix.lower() in IMAGE_EXTS:
        raise RealtimeError(f"output {dst} must be a folder for a folder input")
    dst.mkdir(parents=True, exist_ok=True)
    done = 0
    with _progress(quiet) as bar:
        task = bar.add_task(f"rendering {src.name}", total=len(paths))
        for p in paths:
            if stop.is_set():
                break
            write_image(dst / p.name, _one(pipeline, read_images(str(p))[0]))
            done += 1
            bar.advance(task)
    return done


def _video(pipeline: Pipeline, src: str, dst: Path, stop: threading.Event, quiet: bool) -> int:
    from realtime.source import video_info

    if dst.suffix.lower() in IMAGE_EXTS or not dst.suffix:
        raise RealtimeError(f"output {dst} must be a video file (.mp4, .avi, .mkv) for a video input")
    check_writable(dst)
    cap = open_capture(src)
    w, h, fps, count = video_info(cap)
    ok, first = cap.read()
    if not ok:
        cap.release()
        raise RealtimeError(f"cannot read frames from {src} (empty or corrupt video)")
    sink = VideoFileSink(dst, w, h, fps, color=pipeline.mode.channels == 3)
    pipeline.reset()
    done = 0
    try:
        with _progress(quiet) as bar:
            task = bar.add_task(f"rendering {Path(src).name}", total=count if count > 0 else None)
            for img in _chain(first, iter_video(cap)):
                if stop.is_set():
                    break
                if img.shape[:2] != (h, w):
                    img = cv2.resize(img, (w, h))
                sink.send(pipeline.process(_oriented(pipeline, img), done / fps))
                done += 1
                bar.advance(task)
    finally:
        sink.close()  # finalised and playable even when stopped early
        cap.release()
    return done


def _chain(first, rest):
    yield first
    yield from rest
