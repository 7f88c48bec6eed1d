"""Soak test: the live pipeline for N minutes at 640x360; fps over time and RSS, so leaks and slow-downs show.

    python benchmarks/soak.py --minutes 30 --json benchmarks/soak.json

Target: RSS growth < 20 MB and fps decay < 5% (last minute vs first minute after warm-up).

On a shared machine two one-minute windows are noisy (run-to-run spread here is ~20%), so the report also
gives the least-squares fps trend over the whole run and, as a control, the fps of a fresh process started
right after the soak (`--control-minutes`): a soaked pipeline that is as fast as a fresh one has not decayed.
"""
from __future__ import annotations

import argparse
import json
import logging
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pyvirtualcam

from realtime.bench import CAMERA_FPS, NullBackend, PoolCapture, current_rss_mb, synthetic_frames
from realtime.config import Settings
from realtime.live import LiveLoop
from realtime.pipeline import Pipeline
from realtime.sinks import VirtualCameraSink
from realtime.source import LiveSource


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=30)
    ap.add_argument("--size", default="640x360")
    ap.add_argument("--style", default="udnie")
    ap.add_argument("--interval", type=float, default=30, help="seconds per sample")
    ap.add_argument("--control-minutes", type=float, default=0,
                    help="after the soak, run a fresh process this long and report its fps")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    w, h = (int(v) for v in args.size.split("x"))
    pyvirtualcam.register_backend("soak-null", NullBackend)
    logging.basicConfig(level=logging.INFO, format="%(message)s")  # the pipeline's notes (a fallen-back GPU, ...)
    pipe = Pipeline.from_settings(Settings(style=args.style))
    sink = VirtualCameraSink(w, h, 30, "BGR", backend="soak-null")
    src = LiveSource(lambda: PoolCapture(synthetic_frames(w, h), 10**12), reconnect=False,
                     pace_fps=CAMERA_FPS).start()
    stop = threading.Event()
    loop = LiveLoop(pipe, src, sink, stop=stop)
    t = threading.Thread(target=loop.run, daemon=True)
    t0 = time.perf_counter()
    t.start()
    samples, last_n, last_t = [], 0, t0
    while time.perf_counter() - t0 < args.minutes * 60:
        time.sleep(args.interval)
        now, n = time.perf_counter(), loop.frames_out
        samples.append({"t_s": round(now - t0), "fps": round((n - last_n) / (now - last_t), 2),
                        "rss_mb": round(current_rss_mb(), 1), "dropped": src.dropped})
        print(samples[-1], flush=True)
        last_n, last_t = n, now
    stop.set()
    t.join(2)
    src.close()
    sink.close()
    warm = after_warmup(samples)
    per_min = max(1, int(60 / args.interval))
    first, last = mean_fps(warm[:per_min]), mean_fps(warm[-per_min:])
    result = {"minutes": args.minutes, "size": args.size, "frames": loop.frames_out,
              "rss_growth_mb": round(warm[-1]["rss_mb"] - warm[0]["rss_mb"], 1),
              "fps_first_minute": round(first, 2), "fps_last_minute": round(last, 2),
              "fps_decay_percent": round(100 * (first - last) / first, 2), "samples": samples}
    result["fps_trend_percent"] = round(trend_percent(warm), 2)
    if args.control_minutes > 0:
        result["fresh_process_fps"] = control_fps(args)
        result["decay_vs_fresh_percent"] = round(100 * (result["fresh_process_fps"] - last)
                                                 / result["fresh_process_fps"], 2)
    print({k: v for k, v in result.items() if k != "samples"})
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))


def trend_percent(samples: list[dict]) -> float:
    """Least-squares fps change over the run, in percent of the fitted start (negative = slower)."""
    if len(samples) < 2:
        return 0.0
    ts = [s["t_s"] for s in samples]
    slope, intercept = statistics.linear_regression(ts, [s["fps"] for s in samples])
    return 100 * slope * (ts[-1] - ts[0]) / (intercept + slope * ts[0])


def control_fps(args: argparse.Namespace) -> float:
    """Mean fps (after warm-up) of a fresh soak process run for --control-minutes."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "control.json"
        subprocess.run([sys.executable, __file__, "--minutes", str(args.control_minutes), "--size", args.size,
                        "--style", args.style, "--interval", str(min(args.interval, 15.0)), "--json", str(out)],
                       check=True, capture_output=True)
        warm = after_warmup(json.loads(out.read_text())["samples"])
    return round(mean_fps(warm), 2)


def mean_fps(samples: list[dict]) -> float:
    return statistics.fmean(s["fps"] for s in samples)


def after_warmup(samples: list[dict]) -> list[dict]:
    """The samples without the first (model warm-up), when there are enough to spare one."""
    return samples[1:] if len(samples) > 2 else samples


if __name__ == "__main__":
    main()
