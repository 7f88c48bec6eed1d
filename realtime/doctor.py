"""`realtime doctor`: what this machine offers the filter, and how to fix what is missing."""
from __future__ import annotations

import contextlib
import logging
import os
import platform
import shutil
import subprocess

import cv2

from realtime.errors import RealtimeError

PROBE_SIZES = ((640, 480), (1280, 720), (1920, 1080))


def cameras(max_index: int = 6) -> list[tuple[int, list[str]]]:
    """(index, accepted resolutions) of each camera OpenCV can open."""
    os.environ.setdefault("OPENCV_LOG_LEVEL", "OFF")
    found = []
    for i in range(max_index):
        cap = cv2.VideoCapture(i)
        if not cap.isOpened():
            continue
        sizes = []
        for w, h in PROBE_SIZES:
            cap.set(cv2.CAP_PROP_FRAME_WIDTH, w)
            cap.set(cv2.CAP_PROP_FRAME_HEIGHT, h)
            got = (int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)))
            if f"{got[0]}x{got[1]}" not in sizes:
                sizes.append(f"{got[0]}x{got[1]}")
        cap.release()
        found.append((i, sizes))
    return found


def gpu_name() -> str:
    """The NVIDIA GPU's name from nvidia-smi, or why there is none."""
    exe = shutil.which("nvidia-smi")
    if not exe:
        return "none found (no nvidia-smi)"
    try:
        out = subprocess.run([exe, "--query-gpu=name,driver_version", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=10)
        return out.stdout.strip() or "none found"
    except (OSError, subprocess.SubprocessError) as exc:
        return f"nvidia-smi failed: {exc}"


def vcam_status() -> str:
    """Whether pyvirtualcam can open a device, with the fix when it cannot."""
    from realtime.sinks import VirtualCameraSink

    try:
        sink = VirtualCameraSink(640, 360, 30)
    except RealtimeError as exc:
        return f"NOT AVAILABLE: {exc}"
    dev = sink.device
    sink.close()
    return f"ok: {dev}"


def live_person_net() -> str:
    """Which person net a live pipeline on this CPU runs with the default settings, and why (``segment.full_net_fit``,
    timed here; a config's ``mask-size``, ``mask-every`` or ``threads`` changes the choice)."""
    from realtime.inference import open_session
    from realtime.models import person_model
    from realtime.segment import full_net_budget_ms, full_net_fit

    try:
        small, full = person_model(), person_model(best=True)
        if full == small:
            return f"{small.stem} (no full person net installed)"
        size, times = full_net_fit(open_session(full, "person-segmentation", "cpu", 1))
    except RealtimeError as exc:
        return f"cannot tell: {exc}"
    tried = ", ".join(f"{ms:.1f} ms at {s}" for s, ms in times.items())
    budget = f"{full_net_budget_ms():.1f}"
    if size:
        return f"on a CPU {full.stem} fed {size}, on every other frame (one call {tried}; at most {budget})"
    return (f"on a CPU {small.stem} (one call of {full.stem}: {tried}; over {budget}; mask-size = 384 runs it "
            f"anyway, on every frame, and with mask-every = 2 on every other)")


class _ReportLines(logging.Handler):
    """Log records as lines of the report."""

    def __init__(self, out, indent: str) -> None:
        super().__init__()
        self.out, self.indent = out, indent

    def emit(self, record: logging.LogRecord) -> None:
        self.out(f"{self.indent}{record.levelname.lower()}: {record.getMessage()}")


@contextlib.contextmanager
def _into_report(out, indent: str):
    """Why the session runs where it runs belongs in the report (stdout), not in the log on stderr beside it."""
    inference = logging.getLogger("realtime.inference")
    handler, propagate = _ReportLines(out, indent), inference.propagate
    handler.setLevel(logging.WARNING)  # the fallback notes, not -v's detail
    inference.addHandler(handler)
    inference.propagate = False
    try:
        yield
    finally:
        inference.removeHandler(handler)
        inference.propagate = propagate


def run_doctor(out=print) -> None:
    import onnxruntime as ort

    from realtime.inference import open_session
    from realtime.models import checksum_status, list_styles, person_model, read_info
    from realtime.nvidia import cuda_status, driver_present

    out(f"system:        {platform.system()} {platform.machine()}, Python {platform.python_version()}, "
        f"{os.cpu_count()} CPUs, OpenCV {cv2.__version__}")
    cams = cameras()
    out("cameras:       " + ("; ".join(f"{i}: {', '.join(s)}" for i, s in cams) if cams else
                              "none found (plug one in, or use --source VIDEO_FILE)"))
    out(f"onnxruntime:   {ort.__version__}, providers built in: {', '.join(ort.get_available_providers())}")
    out(f"gpu:           {gpu_name()}; NVIDIA driver {'loads' if driver_present() else 'not found'}")
    out(f"cuda:          {cuda_status()}")
    try:
        with _into_report(out, " " * 15):
            sess = open_session(person_model(), "person-segmentation", "auto")
        out(f"session got:   {sess.device} (person model, --device auto)")
    except RealtimeError as exc:
        out(f"session got:   FAILED: {exc}")
    out(f"person live:   {live_person_net()}")
    out(f"virtual cam:   {vcam_status()}")
    out("models:")
    try:
        infos = [read_info(p) for p in dict.fromkeys((person_model(), person_model(best=True)))] + list_styles()
    except RealtimeError as exc:
        out(f"  {exc}")
        infos = list_styles()
    width = max((len(info.name) for info in infos), default=0)  # the columns line up whatever the names
    for info in infos:
        out(f"  {info.name:{width}s} {info.size_mb:6.2f} MB  checksum {checksum_status(info)}  {info.path}")
